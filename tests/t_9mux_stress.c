/*
 * Many clients at once through 9mux, each pipelining random batches of
 * walks, opens, reads, stats, clunks and flushes (9testsrv delays every
 * kind of reply a little so that they overlap and cross the flushes),
 * and some hanging up with requests in flight.  Every reply is checked
 * against what the client asked: right tag, right type, right content,
 * nothing after its Rflush, no stray tag.  Afterwards the server must
 * hold no fid and no tag and have seen no tag or fid violation.
 */
#include <pthread.h>

#include "tap.h"
#include "p9conv.h"
#include "dial.h"

enum {
	NCLIENT	= 24,
	NBATCH	= 100,
	NF	= 24,	/* client fids 1..NF-1; 1 is the attach */
	MAXOPS	= 10,
	NNOISE	= 3,
};

static const char *dir;
static char srvsock[400], muxsock[400], srvlog[400];
static pid_t srv = -1, mux = -1, back = -1;
static int chaos;	/* the upstream is killed and restarted during the round */
static int dialect = P9_2000;	/* of the well-behaved clients */

static int
iserr(const Fcall *r)
{
	return r->type == Rerror || r->type == Rlerror;
}

static const char *paths[] = { "hello", "sub/file", "sub", "nothere" };
static const char *content[] = { "hello, world\n", "sub file\n", NULL, NULL };

typedef struct Op Op;
struct Op {
	Fcall	t;
	int	path;
	int	flushedby;	/* index of the Tflush naming it, or -1 */
	int	replied;
	int	resolved;
};

typedef struct Client Client;
struct Client {
	int		id;
	unsigned	seed;
	int		errors;
	int		replies;
	int		flushes;
	int		hungup;
	int		resets;
	int		errreplies;
	int		redials;
	char		why[256];
};

typedef struct Fidst Fidst;
struct Fidst {
	int	held;
	int	open;
	int	path;	/* -1: the root */
	int	busy;
};

static int
rnd(Client *cl, int n)
{
	return (int)(rand_r(&cl->seed) % (unsigned)n);
}

static void __attribute__((format(printf, 2, 3)))
fail(Client *cl, const char *fmt, ...)
{
	va_list ap;

	if(cl->errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(cl->why, sizeof cl->why, fmt, ap);
		va_end(ap);
	}
}

static int
pickfid(Client *cl, Fidst *f, int wantheld, int wantopen, int wantfile)
{
	int i, k;

	for(k = 0; k < 3 * NF; k++) {
		i = 2 + rnd(cl, NF - 2);
		if(f[i].busy || f[i].held != wantheld)
			continue;
		if(wantheld && wantopen >= 0 && f[i].open != wantopen)
			continue;
		if(wantfile && (f[i].path < 0 || content[f[i].path] == NULL))
			continue;
		return i;
	}
	return -1;
}

/* Check one reply against its op and apply it to the fid table. */
static void
apply(Client *cl, Pconn *c, Op *op, Fidst *f)
{
	Fcall *t, *r;
	const char *want;
	size_t n;

	t = &op->t;
	r = &c->r;
	if(t->type == Tflush) {
		if(r->type != Rflush)
			fail(cl, "Tflush tag %u answered by type %u", t->tag, r->type);
		return;
	}
	if(r->type != t->type + 1 && !iserr(r)) {
		fail(cl, "%s tag %u answered by type %u", p9typename(t->type), t->tag, r->type);
		return;
	}
	if(chaos && iserr(r)) {
		cl->errreplies++;
		return;	/* the upstream may be gone: errors are the rule then */
	}
	switch(t->type) {
	case Twalk:
		if(op->path == 3) {
			if(!iserr(r))
				fail(cl, "walk to nothere tag %u: type %u", t->tag, r->type);
			break;
		}
		if(r->type != Rwalk || r->nwqid != t->nwname) {
			fail(cl, "walk to %s tag %u failed", paths[op->path], t->tag);
			break;
		}
		f[t->newfid].held = 1;
		f[t->newfid].open = 0;
		f[t->newfid].path = op->path;
		break;
	case Topen:
	case Tlopen:
		if(r->type != t->type + 1)
			fail(cl, "open tag %u fid %u: %.*s", t->tag, t->fid, r->ename.n, r->ename.s);
		else
			f[t->fid].open = 1;
		break;
	case Tread:
		want = content[op->path];
		n = strlen(want);
		n = t->offset >= n ? 0 : n - t->offset;
		if(n > t->count)
			n = t->count;
		if(r->type != Rread || r->count != n || (n && memcmp(r->data, want + t->offset, n) != 0))
			fail(cl, "read tag %u of %s at %llu count %u: wrong reply (type %u count %u)",
				t->tag, paths[op->path], (unsigned long long)t->offset, t->count, r->type, r->count);
		break;
	case Tstat:
	case Tgetattr:
		if(r->type != t->type + 1)
			fail(cl, "stat tag %u fid %u failed", t->tag, t->fid);
		break;
	case Tclunk:
		if(r->type != Rclunk)
			fail(cl, "clunk tag %u fid %u failed", t->tag, t->fid);
		break;
	}
}

/* Dial 9mux, Tversion and attach fid 1 (retrying for a while in chaos rounds). */
static Pconn *
connect1(Client *cl)
{
	Pconn *c;
	long end;

	end = pc_now() + (chaos ? 15000 : 0);
	do {
		c = pc_open(muxsock, dialect);
		if(c != NULL && pc_version(c, cl->id % 3 == 0 ? 4096 : 8192, p9dialectname(dialect)) == Rversion
		&& pc_attach(c, 1, 1, "stress") == Rattach && c->r.tag == 1)
			return c;
		pc_close(c);
		if(chaos)
			pc_sleep(100);
	} while(pc_now() < end);
	fail(cl, "cannot dial, version and attach");
	return NULL;
}

/* The fids of a session just attached: fid 1 at the root, no other. */
static void
freshfids(Fidst *f)
{
	memset(f, 0, NF * sizeof *f);
	f[1].held = 1;
	f[1].path = -1;
}

/* c is lost: a new session in its place, with fresh fids; NULL if none. */
static Pconn *
redial(Client *cl, Pconn *c, Fidst *f)
{
	pc_close(c);
	if((c = connect1(cl)) == NULL)
		return NULL;
	freshfids(f);
	cl->redials++;
	return c;
}

static void *
client(void *a)
{
	Client *cl;
	Pconn *c;
	Fidst f[NF];
	Op ops[MAXOPS];
	uint16_t tag;
	int b, i, k, nops, left, hang, reset;
	long r;

	cl = a;
	if((c = connect1(cl)) == NULL)
		return NULL;
	freshfids(f);
	tag = 10;
	for(b = 0; b < NBATCH; b++) {
		hang = b == NBATCH - 1 && cl->id % 2 == 0;
		for(i = 0; i < NF; i++)
			f[i].busy = 0;
		nops = 0;
		for(k = 0; k < MAXOPS; k++) {
			Op *op = &ops[nops];
			int kind = rnd(cl, 10), fid;

			memset(op, 0, sizeof *op);
			op->flushedby = -1;
			op->path = -1;
			tag = (uint16_t)(tag + 1 < 60000 ? tag + 1 : 10);
			switch(kind) {
			case 0: case 1: case 2:
				if((fid = pickfid(cl, f, 0, -1, 0)) < 0)
					continue;
				op->path = rnd(cl, 4);
				pc_mkwalk(&op->t, tag, 1, (uint32_t)fid, paths[op->path]);
				break;
			case 3: case 4:
				if((fid = pickfid(cl, f, 1, 1, 1)) < 0)
					continue;
				op->path = f[fid].path;
				pc_mkread(&op->t, tag, (uint32_t)fid, (uint64_t)rnd(cl, 12), (uint32_t)(1 + rnd(cl, 20)));
				break;
			case 5:
				if((fid = pickfid(cl, f, 1, -1, 0)) < 0)
					continue;
				pc_mkfid(&op->t, dialect == P9_2000L ? Tgetattr : Tstat, tag, (uint32_t)fid);
				break;
			case 6:
				if((fid = pickfid(cl, f, 1, 0, 0)) < 0)
					continue;
				pc_mkfid(&op->t, dialect == P9_2000L ? Tlopen : Topen, tag, (uint32_t)fid);
				op->t.mode = P9_OREAD;
				break;
			case 7:
				if((fid = pickfid(cl, f, 1, -1, 0)) < 0)
					continue;
				pc_mkfid(&op->t, Tclunk, tag, (uint32_t)fid);
				break;
			default:
				/* Flush an earlier request of this batch (not a flush). */
				for(i = 0; i < nops; i++)
					if(ops[i].t.type != Tflush && ops[i].flushedby < 0 && rnd(cl, 2))
						break;
				if(i == nops)
					continue;
				memset(&op->t, 0, sizeof op->t);
				op->t.type = Tflush;
				op->t.tag = tag;
				op->t.oldtag = ops[i].t.tag;
				ops[i].flushedby = nops;
				cl->flushes++;
				fid = -1;
				break;
			}
			if(fid >= 0)
				f[fid].busy = 1;
			if(op->t.type == Tclunk)
				f[fid].held = 0;	/* free the moment it is sent */
			if(pc_send(c->fd, &op->t, dialect) < 0) {
				fail(cl, "send failed");
				goto out;
			}
			nops++;
		}
		if(hang) {
			cl->hungup = 1;
			goto out;
		}
		/* Now and then a Tversion right behind the batch resets the session. */
		reset = rnd(cl, 25) == 0;
		if(reset) {
			Fcall v;

			pc_mkversion(&v, 8192, p9dialectname(dialect));
			pc_send(c->fd, &v, dialect);
			cl->resets++;
		}
		left = nops;
		while(left > 0 || reset) {
			r = pc_next(c, 5000);
			if(r == PC_EOF && chaos) {
				/* 9mux may drop sessions whose upstream went away. */
				if((c = redial(cl, c, f)) == NULL)
					return NULL;
				break;
			}
			if(r <= 0) {
				fail(cl, "batch %d: no reply (%ld) with %d requests unresolved", b, r, left);
				goto out;
			}
			cl->replies++;
			if(reset && chaos && c->r.tag == P9_NOTAG && iserr(&c->r)) {
				/* Tversion refused while the upstream is away: start over. */
				if((c = redial(cl, c, f)) == NULL)
					return NULL;
				break;
			}
			if(reset && c->r.type == Rversion) {
				/* Nothing of the old session may follow; it had nothing left. */
				reset = 0;
				freshfids(f);
				if(pc_attach(c, 1, 1, "stress") > 0 && iserr(&c->r) && c->r.tag == 1 && chaos) {
					/* No upstream to attach to yet. */
					if((c = redial(cl, c, f)) == NULL)
						return NULL;
					break;
				}
				if(c->r.type != Rattach || c->r.tag != 1) {
					fail(cl, "batch %d: after Tversion, attach got tag %u type %u", b, c->r.tag, c->r.type);
					goto out;
				}
				break;
			}
			for(i = 0; i < nops; i++)
				if(ops[i].t.tag == c->r.tag && !ops[i].resolved)
					break;
			if(i == nops) {
				fail(cl, "stray reply tag %u type %u", c->r.tag, c->r.type);
				continue;
			}
			if(ops[i].replied) {
				fail(cl, "second reply to tag %u", c->r.tag);
				continue;
			}
			ops[i].replied = 1;
			ops[i].resolved = 1;
			left--;
			apply(cl, c, &ops[i], f);
			if(ops[i].t.type == Tflush) {
				/* Its request is over, answered or not. */
				for(k = 0; k < nops; k++)
					if(ops[k].flushedby == i && !ops[k].resolved) {
						ops[k].resolved = 1;
						left--;
					}
			}
		}
	}
out:
	pc_close(c);
	return NULL;
}

/*
 * A client that sends noise: random requests of every 9P2000 type with
 * small random fids and tags, one in four with a byte flipped, reading
 * whatever comes back, and reconnecting now and then.  It must disturb
 * no one else and put nothing wrong on the upstream.
 */
static void *
noise(void *a)
{
	static const uint8_t types[] = { Tversion, Tauth, Tattach, Tflush, Twalk, Topen, Tcreate,
		Tread, Twrite, Tclunk, Tremove, Tstat, Twstat, Tgetattr, 200 };
	static const char *names[] = { "hello", "sub", "file", "..", "x", "" };
	static const uint8_t data[64] = "noise noise noise";
	Client *cl;
	Fcall t;
	uint8_t buf[512], junk[4096];
	size_t n;
	int i, k, fd;

	cl = a;
	fd = -1;
	for(i = 0; i < 3000; i++) {
		if(fd < 0 || i % 300 == 0) {
			if(fd >= 0)
				close(fd);
			if((fd = pc_dial(muxsock)) < 0) {
				fail(cl, "noise: cannot dial");
				return NULL;
			}
			fdnonblock(fd, 1);
			pc_mkversion(&t, 8192, "9P2000");
			n = p9encode(buf, sizeof buf, &t, P9_2000);
			pc_write(fd, buf, n);
		}
		memset(&t, 0, sizeof t);
		t.type = types[rnd(cl, sizeof types)];
		if(t.type == Tversion && rnd(cl, 10) != 0)
			t.type = Tstat;
		t.tag = rnd(cl, 30) == 0 ? P9_NOTAG : (uint16_t)rnd(cl, 20);
		t.fid = rnd(cl, 15) == 0 ? P9_NOFID : (uint32_t)rnd(cl, 8);
		t.newfid = (uint32_t)rnd(cl, 8);
		t.afid = rnd(cl, 2) ? P9_NOFID : (uint32_t)rnd(cl, 8);
		t.oldtag = (uint16_t)rnd(cl, 20);
		t.msize = (uint32_t)(rnd(cl, 2) ? 8192 : rnd(cl, 100000));
		t.version = p9str(rnd(cl, 2) ? "9P2000" : "9P2000.L");
		t.uname = p9str("noise");
		t.aname = p9str("noise");	/* 9testsrv: a tree of its own */
		t.nwname = (uint16_t)rnd(cl, 4);
		for(k = 0; k < t.nwname; k++)
			t.wname[k] = p9str(names[rnd(cl, 6)]);
		t.name = p9str(names[rnd(cl, 5)]);
		t.offset = (uint64_t)rnd(cl, 40);
		t.count = rnd(cl, 3) ? (uint32_t)rnd(cl, 64) : (uint32_t)rnd(cl, 1 << 20);
		if(t.type == Twrite) {
			t.count %= sizeof data;
			t.data = data;
		}
		if(t.type == Twstat) {
			t.stat = data;
			t.nstat = (uint16_t)rnd(cl, 40);
		}
		t.mode = (uint32_t)rnd(cl, 4);
		t.perm = 0644;
		if(t.type == 200 || (n = p9encode(buf, sizeof buf, &t, P9_2000)) == 0) {
			n = 7 + (size_t)rnd(cl, 40);
			for(k = 0; k < (int)n; k++)
				buf[k] = (uint8_t)rnd(cl, 256);
			p9put32(buf, (uint32_t)n);
			buf[4] = t.type;
		}
		if(rnd(cl, 40) == 0 && n > 7) {
			k = 4 + rnd(cl, (int)n - 4);
			buf[k] ^= (uint8_t)(1 + rnd(cl, 255));
		}
		if(pc_write(fd, buf, n) < 0) {
			close(fd);
			fd = -1;
			cl->redials++;
		}
		if(fd >= 0) {
			ssize_t got;

			if(i % 10 == 9) {
				struct pollfd pfd = { .fd = fd, .events = POLLIN };

				poll(&pfd, 1, 5);
			}
			while((got = read(fd, junk, sizeof junk)) > 0)
				cl->replies += (int)got;
		}
	}
	if(fd >= 0)
		close(fd);
	return NULL;
}

/*
 * One round: 9testsrv with the delays, 9mux, the clients.  mode 1 adds
 * -o to 9testsrv; mode 2 kills 9testsrv in the middle and starts a new
 * one at the same address.
 */
static void
round1(int mode, unsigned seed)
{
	char oldlog[400];
	int orig = mode;
	char sa[460], ma[420], serr[420], merr[420];
	pthread_t th[NCLIENT], nth[NNOISE];
	Client cl[NCLIENT], nz[NNOISE];
	long fids, tags, end;
	int i, errors, replies, flushes, st, resets, redials, errreplies;
	const char *name;

	name = mode == 0 ? "plain" : mode == 1 ? "-o" : mode == 2 ? "upstream restarted"
		: mode == 3 ? "9mux behind 9mux" : mode == 4 ? "9P2000.L" : "9mux -t 2 -T 3 -w 1 -i 512";
	chaos = mode == 2;
	dialect = mode == 4 ? P9_2000L : P9_2000;
	snprintf(srvsock, sizeof srvsock, "%s/srv%d.sock", dir, orig);
	snprintf(muxsock, sizeof muxsock, "%s/mux%d.sock", dir, orig);
	snprintf(srvlog, sizeof srvlog, "%s/srv%d.log", dir, orig);
	snprintf(serr, sizeof serr, "%s/srv%d.err", dir, orig);
	snprintf(merr, sizeof merr, "%s/mux%d.err", dir, orig);
	snprintf(sa, sizeof sa, "unix!%s", srvsock);
	snprintf(ma, sizeof ma, "unix!%s", muxsock);
	{
		const char *av[] = { pc_prog("9testsrv"), "-l", srvlog, "-a", sa,
			"-d", "Tread:7", "-d", "Twalk:5", "-d", "Tclunk:6", "-d", "Tflush:3",
			"-d", "Topen:2", mode == 1 ? "-o" : NULL, NULL };

		srv = pc_spawn(av, serr);
	}
	if(!ok(pc_waitsock(srvsock, 5000) == 0, "%s: 9testsrv listens", name))
		goto out;
	if(mode == 3) {
		/* 9mux in front of 9mux: the front one's upstream is the back one. */
		char bs[420], ba[440], berr[420];

		snprintf(bs, sizeof bs, "%s/back%d.sock", dir, mode);
		snprintf(ba, sizeof ba, "unix!%s", bs);
		snprintf(berr, sizeof berr, "%s/back%d.err", dir, mode);
		{
			const char *av[] = { pc_prog("9mux"), "-a", ba, sa, NULL };

			back = pc_spawn(av, berr);
		}
		if(!ok(pc_waitsock(bs, 5000) == 0, "%s: the back 9mux listens", name))
			goto out;
		snprintf(sa, sizeof sa, "%s", ba);
	}
	{
		/*
		 * STRESS_T: a -t for the front 9mux, to tell limits from the
		 * rest.  Mode 5 keeps everything tight, so that requests wait
		 * in 9mux, sessions take turns and Tflushes pass waiting ones.
		 */
		const char *tl = getenv("STRESS_T");
		const char *av[16];
		int n = 0;

		av[n++] = pc_prog("9mux");
		av[n++] = "-V";
		av[n++] = p9dialectname(dialect);
		if(tl || mode == 5) {
			av[n++] = "-t";
			av[n++] = tl ? tl : "2";
		}
		if(mode == 5) {
			av[n++] = "-T";
			av[n++] = "3";
			av[n++] = "-w";
			av[n++] = "1";
			av[n++] = "-i";
			av[n++] = "512";
		}
		av[n++] = "-a";
		av[n++] = ma;
		av[n++] = sa;
		av[n] = NULL;
		mux = pc_spawn(av, merr);
	}
	if(!ok(pc_waitsock(muxsock, 5000) == 0, "%s: 9mux listens", name)) {
		diag("%s", pc_slurp(merr));
		goto out;
	}
	for(i = 0; i < NCLIENT; i++) {
		memset(&cl[i], 0, sizeof cl[i]);
		cl[i].id = i;
		cl[i].seed = seed + (unsigned)i * 7919;
		pthread_create(&th[i], NULL, client, &cl[i]);
	}
	if(!chaos && dialect == P9_2000)
		for(i = 0; i < NNOISE; i++) {
			memset(&nz[i], 0, sizeof nz[i]);
			nz[i].id = 1000 + i;
			nz[i].seed = seed * 31 + (unsigned)i;
			pthread_create(&nth[i], NULL, noise, &nz[i]);
		}
	oldlog[0] = 0;
	if(chaos) {
		pc_sleep(300);
		pc_kill(srv, SIGKILL);
		snprintf(oldlog, sizeof oldlog, "%s", srvlog);
		snprintf(srvlog, sizeof srvlog, "%s/srv%d.new.log", dir, orig);
		{
			const char *av[] = { pc_prog("9testsrv"), "-l", srvlog, "-a", sa,
				"-d", "Tread:7", "-d", "Twalk:5", "-d", "Tclunk:6", "-d", "Tflush:3",
				"-d", "Topen:2", NULL };

			srv = pc_spawn(av, serr);
		}
		ok(pc_waitsock(srvsock, 5000) == 0, "%s: a new 9testsrv listens", name);
	}
	errors = replies = flushes = 0;
	resets = redials = errreplies = 0;
	for(i = 0; i < NCLIENT; i++) {
		pthread_join(th[i], NULL);
		resets += cl[i].resets;
		errreplies += cl[i].errreplies;
		redials += cl[i].redials;
		errors += cl[i].errors;
		replies += cl[i].replies;
		flushes += cl[i].flushes;
		if(cl[i].errors)
			diag("client %d: %d errors, first: %s", i, cl[i].errors, cl[i].why);
	}
	if(!chaos && dialect == P9_2000) {
		int nrep = 0, nre = 0;

		for(i = 0; i < NNOISE; i++) {
			pthread_join(nth[i], NULL);
			nrep += nz[i].replies;
			nre += nz[i].redials;
			if(nz[i].errors)
				diag("noise %d: %s", i, nz[i].why);
		}
		diag("%s: %d noise clients sent 3000 messages each (%d bytes of replies read, dropped %d times)", name, NNOISE, nrep, nre);
	}
	diag("%s: %d replies checked, %d flushes, %d Tversion resets, %d redials, %d error replies",
		name, replies, flushes, resets, redials, errreplies);
	if(chaos)
		ok(errreplies > 0, "%s: the loss was felt (error replies)", name);
	is_int(errors, 0, "%s: %d clients, %d batches each: every reply right", name, NCLIENT, NBATCH);
	ok(replies > NCLIENT * NBATCH, "%s: they did real work", name);

	fids = tags = -1;
	end = pc_now() + 10000;
	while(pc_now() < end) {
		if(pc_srvstate(srv, srvlog, &fids, &tags) < 0)
			break;
		if(fids == 0 && tags == 0)
			break;
		pc_sleep(100);
	}
	is_int(fids, 0, "%s: server holds no fid after every client left", name);
	is_int(tags, 0, "%s: server has no tag in flight", name);
	i = pc_count(srvlog, "VIOLATION") + (oldlog[0] ? pc_count(oldlog, "VIOLATION") : 0);
	is_int(i, 0, "%s: server saw no violation", name);
	if(i > 0) {
		char line[512];

		for(i = 0; i < 5 && pc_line(srvlog, "VIOLATION", i, line, sizeof line) == 0; i++)
			diag("  %s", line);
	}
	ok(pc_alive(mux, NULL), "%s: 9mux still running", name);
	st = pc_killwait(mux, SIGTERM, 15000);
	mux = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: 9mux exits 0 on SIGTERM", name);
	if(back > 0) {
		ok(pc_alive(back, NULL), "%s: the back 9mux still running", name);
		st = pc_killwait(back, SIGTERM, 15000);
		back = -1;
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the back 9mux exits 0 on SIGTERM", name);
	}
out:
	if(mux > 0)
		pc_kill(mux, SIGKILL);
	if(back > 0)
		pc_kill(back, SIGKILL);
	if(srv > 0)
		pc_kill(srv, SIGTERM);
	mux = srv = back = -1;
}

int
main(int argc, char **argv)
{
	unsigned seed;

	(void)argc;
	tap_start(240);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &back, &mux, &srv, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	seed = (unsigned)time(NULL);
	if(getenv("STRESS_SEED"))
		seed = (unsigned)strtoul(getenv("STRESS_SEED"), NULL, 0);
	diag("seed %u (STRESS_SEED to repeat)", seed);
	round1(0, seed);
	round1(1, seed);
	round1(2, seed);
	round1(3, seed);
	round1(4, seed);
	round1(5, seed);
	pc_rmdir(dir);
	return done_testing();
}
