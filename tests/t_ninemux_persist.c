/*
 * t_ninemux_persist: reconnect in the engine (nmuppersist), with the
 * test as clients and as the server that goes away and comes back,
 * frame by frame: what a loss answers at once and what it keeps, the
 * restore (one attach per root, walks of 16 names, opens without
 * OTRUNC, the qid checked), dead fids, replays sent once, directory
 * offsets, flushes, a smaller msize, a loss during the restore, giving
 * up, hang-ups, and that nothing of the server's fids leaks.
 */
#include <stdint.h>

#include "9p.h"
#include "ninemux.h"
#include "tap.h"

enum {
	MAXF	= 64,
	FRAME	= 8192,
	NSFID	= 1 << 16,
	LOTRUNC	= 01000,
};

typedef struct Frames Frames;
struct Frames {
	int	n;
	uint8_t	buf[MAXF][FRAME];
	Fcall	f[MAXF];
};

static Nmux *m;
static Nmup *U;
static Nmchan *ch;
static int D = P9_2000;		/* the dialect of everything */
static Frames up, cl;

/* notes */
static int nnote[16];
static char lastnote[16][512];

static void
wake(void *aux, int what)
{
	(void)aux;
	(void)what;
}

static void
note(void *aux, int what, const char *msg)
{
	(void)aux;
	if(what < 0 || what >= 16)
		return;
	nnote[what]++;
	snprintf(lastnote[what], sizeof lastnote[what], "%s", msg ? msg : "");
}

/* Everything queued in q, decoded. */
static void
take(Nmq *q, Frames *fr)
{
	struct iovec iov[1];
	size_t n;

	fr->n = 0;
	while(!nmqempty(q)){
		if(nmqiov(q, iov, 1) != 1)
			break;
		n = iov[0].iov_len;
		if(fr->n < MAXF){
			memcpy(fr->buf[fr->n], iov[0].iov_base, n < FRAME ? n : FRAME);
			if(n > FRAME || p9decode(fr->buf[fr->n], n, FRAME, D, &fr->f[fr->n]) <= 0)
				fr->f[fr->n].type = 0;
			fr->n++;
		}
		nmqadvance(q, n);
	}
}

static void
uptake(void)
{
	take(nmchanq(ch), &up);
}

static void
cltake(Nmsess *s)
{
	take(nmsessq(s), &cl);
}

static long
csend(Nmsess *s, Fcall *f)
{
	uint8_t b[FRAME];
	size_t n;

	n = p9encode(b, sizeof b, f, D);
	return nmsessin(s, b, n, NULL, 0);
}

static void
ureply(Fcall *f)
{
	uint8_t b[FRAME];
	size_t n;

	n = p9encode(b, sizeof b, f, D);
	if(n == 0 || nmchanin(ch, b, n, NULL, 0) != (long)n)
		diag("nmchanin refused a reply of type %d", f->type);
}

static void
rmsg(Fcall *r, uint8_t type, uint16_t tag)
{
	memset(r, 0, sizeof *r);
	r->type = type;
	r->tag = tag;
}

static Fcall T;

static Fcall *
tmsg(uint8_t type, uint16_t tag, uint32_t fid)
{
	memset(&T, 0, sizeof T);
	T.type = type;
	T.tag = tag;
	T.fid = fid;
	T.afid = P9_NOFID;
	T.uname = p9str("me");
	T.aname = p9str("");
	T.nuname = 1000;
	return &T;
}

static Fcall *
twalk(uint16_t tag, uint32_t fid, uint32_t newfid, const char *path)
{
	const char *p, *e;

	tmsg(Twalk, tag, fid);
	T.newfid = newfid;
	for(p = path; *p && T.nwname < P9_MAXWELEM; p = *e ? e + 1 : e){
		e = strchr(p, '/');
		if(e == NULL)
			e = p + strlen(p);
		T.wname[T.nwname].s = p;
		T.wname[T.nwname].n = (uint16_t)(e - p);
		T.nwname++;
	}
	return &T;
}

static Fcall *
topen(uint16_t tag, uint32_t fid, uint32_t mode)
{
	tmsg(D == P9_2000L ? Tlopen : Topen, tag, fid);
	T.mode = mode;
	T.flags = mode;
	return &T;
}

static Fcall *
tread(uint16_t tag, uint32_t fid, uint64_t off, uint32_t count)
{
	tmsg(Tread, tag, fid);
	T.offset = off;
	T.count = count;
	return &T;
}

/* Whether client frame i is an error saying s (in .L: errno e). */
static int
iserr(int i, const char *s, uint32_t e)
{
	if(i >= cl.n)
		return 0;
	if(D == P9_2000L)
		return cl.f[i].type == Rlerror && cl.f[i].errnum == e;
	return cl.f[i].type == Rerror && p9streq(cl.f[i].ename, s);
}

static const char *ELOST = "upstream connection lost";
static const char *EDEAD = "9mux: fid lost when the upstream restarted: it could not be restored";
static const char *EUNK = "9mux: upstream lost with the request in flight: its outcome is unknown";
static const char *EDIR = "9mux: directory offset from before the upstream restarted: read from offset 0 again";
static const char *EGIVE = "9mux: upstream lost, and not back in time (-P)";

/*
 * The server: files by path with their qids, and the fids of the
 * connection.  A restart forgets the fids; files may change between.
 */
typedef struct File File;
struct File {
	char		path[256];
	uint64_t	qpath;
	uint8_t		qtype;
	int		gone;
};

static File files[64];
static int nfiles;
static int sfid[NSFID];		/* file + 1 of each server fid, 0 if none */
static int sopen[NSFID];	/* open mode + 1 */
static int nsfid;		/* fids the server holds */
static int seen[256];		/* requests of each type the server answered */
static int holdtype;		/* requests of this type are not answered by serve */
static Frames held;		/* ... but kept here */

static int
file(const char *path, uint64_t qpath, uint8_t qtype)
{
	File *f;

	f = &files[nfiles++];
	snprintf(f->path, sizeof f->path, "%s", path);
	f->qpath = qpath;
	f->qtype = qtype;
	f->gone = 0;
	return nfiles - 1;
}

static int
lookup(const char *path)
{
	int i;

	for(i = nfiles - 1; i >= 0; i--)
		if(!files[i].gone && strcmp(files[i].path, path) == 0)
			return i;
	return -1;
}

static void
fsinit(void)
{
	nfiles = 0;
	file("", 1, P9_QTDIR);
	file("/a", 2, P9_QTDIR);
	file("/a/b", 3, 0);
	file("/a/c", 4, 0);
	file("/d", 5, P9_QTDIR);
	file("/x", 6, P9_QTEXCL);
}

static void
srvrestart(void)
{
	memset(sfid, 0, sizeof sfid);
	memset(sopen, 0, sizeof sopen);
	nsfid = 0;
}

static void
qidof(Qid *q, int i)
{
	q->type = files[i].qtype;
	q->vers = 0;
	q->path = files[i].qpath;
}

static void
setfid(uint32_t fid, int file)
{
	if(fid >= NSFID)
		return;
	if(sfid[fid] == 0 && file >= 0)
		nsfid++;
	else if(sfid[fid] != 0 && file < 0)
		nsfid--;
	sfid[fid] = file + 1;
	sopen[fid] = 0;
}

/* The server's answer to request t. */
static void
answer(Fcall *t)
{
	static uint8_t data[8192], st[256];
	char path[512];
	Fcall r;
	P9dir d;
	int i, k, f;

	seen[t->type]++;
	rmsg(&r, t->type + 1, t->tag);
	f = t->fid < NSFID ? sfid[t->fid] - 1 : -1;
	switch(t->type){
	case Tauth:
		setfid(t->afid, 0);
		r.qid.type = P9_QTAUTH;
		r.qid.path = 777;
		break;
	case Tattach:
		setfid(t->fid, 0);
		qidof(&r.qid, 0);
		break;
	case Twalk:
		if(f < 0)
			goto bad;
		snprintf(path, sizeof path, "%s", files[f].path);
		k = f;
		for(i = 0; i < t->nwname; i++){
			if(p9streq(t->wname[i], ".."))
				*strrchr(path, '/') = '\0';
			else
				snprintf(path + strlen(path), sizeof path - strlen(path), "/%.*s", t->wname[i].n, t->wname[i].s);
			if((k = lookup(path)) < 0)
				break;
			qidof(&r.wqid[i], k);
		}
		if(i == 0 && t->nwname > 0)
			goto bad;
		r.nwqid = (uint16_t)i;
		if(i == t->nwname)
			setfid(t->newfid, k);
		break;
	case Topen:
	case Tlopen:
		if(f < 0)
			goto bad;
		qidof(&r.qid, f);
		sopen[t->fid] = (int)(t->type == Topen ? t->mode : t->flags) + 1;
		break;
	case Tclunk:
	case Tremove:
		if(f < 0)
			goto bad;
		setfid(t->fid, -1);
		break;
	case Tread:
	case Treaddir:
		if(f < 0)
			goto bad;
		r.count = t->count < sizeof data ? t->count : sizeof data;
		memset(data, 'a' + (int)(t->offset % 26), r.count);
		r.data = data;
		break;
	case Twrite:
		if(f < 0)
			goto bad;
		r.count = t->count;
		break;
	case Tstat:
		if(f < 0)
			goto bad;
		memset(&d, 0, sizeof d);
		d.name = p9str("f");
		d.uid = d.gid = d.muid = p9str("me");
		qidof(&d.qid, f);
		r.nstat = (uint16_t)p9direncode(st, sizeof st, &d, D);
		r.stat = st;
		break;
	case Tgetattr:
		if(f < 0)
			goto bad;
		qidof(&r.attr.qid, f);
		break;
	case Tflush:
		break;
	default:
	bad:
		if(D == P9_2000L){
			rmsg(&r, Rlerror, t->tag);
			r.errnum = 2;
		}else{
			rmsg(&r, Rerror, t->tag);
			r.ename = p9str("no");
		}
		break;
	}
	ureply(&r);
}

/*
 * Answer everything the channel sends, and what that makes it send,
 * until it is quiet (requests of type holdtype are kept in held): the
 * frames answered.
 */
static int
serve(void)
{
	struct iovec iov[1];
	uint8_t b[FRAME];
	Fcall t;
	size_t n;
	int k;

	k = 0;
	while(ch != NULL && !nmqempty(nmchanq(ch))){
		if(nmqiov(nmchanq(ch), iov, 1) != 1)
			break;
		n = iov[0].iov_len;
		memcpy(b, iov[0].iov_base, n < sizeof b ? n : sizeof b);
		nmqadvance(nmchanq(ch), n);
		if(n > sizeof b || p9decode(b, n, sizeof b, D, &t) <= 0){
			diag("serve: a frame it cannot decode");
			continue;
		}
		k++;
		if(t.type == holdtype && held.n < MAXF){
			memcpy(held.buf[held.n], b, n);
			p9decode(held.buf[held.n], n, FRAME, D, &held.f[held.n]);
			held.n++;
			continue;
		}
		answer(&t);
	}
	return k;
}

/* A new channel of U, versioned with msize and the dialect (not served further). */
static void
newchan(uint32_t msize)
{
	Fcall r;

	ch = nmchannewup(U, NULL);
	take(nmchanq(ch), &up);
	rmsg(&r, Rversion, P9_NOTAG);
	r.msize = msize;
	r.version = p9str(p9dialectname(D));
	ureply(&r);
}

/* The server goes away: the channel is lost, the server forgets its fids. */
static void
lose(void)
{
	nmchandown(ch);
	ch = NULL;
	srvrestart();
}

static void
setup(int dialect, int persist)
{
	Nmconf c;

	memset(&c, 0, sizeof c);
	c.msize = 8192;
	c.dialect = dialect;
	c.maxfids = 1000;
	c.maxreqs = 16;
	c.wake = wake;
	c.note = note;
	D = dialect;
	m = nmnew(&c);
	U = nmdefup(m);
	nmuppersist(U, persist);
	memset(nnote, 0, sizeof nnote);
	memset(seen, 0, sizeof seen);
	holdtype = 0;
	held.n = 0;
	fsinit();
	srvrestart();
	newchan(8192);
}

static void
teardown(void)
{
	nmfree(m);
	m = NULL;
	ch = NULL;
}

static Nmsess *
client(uint32_t msize)
{
	Nmsess *s;
	Fcall t;

	s = nmsessnew(m, &nnote);
	memset(&t, 0, sizeof t);
	t.type = Tversion;
	t.tag = P9_NOTAG;
	t.msize = msize;
	t.version = p9str(p9dialectname(D));
	csend(s, &t);
	cltake(s);
	return s;
}

/* One request of s answered by the server: the client's reply type (cl holds it). */
static int
rpc(Nmsess *s, Fcall *t)
{
	csend(s, t);
	serve();
	cltake(s);
	return cl.n == 1 ? cl.f[0].type : -1;
}

/* Types of the frames in up, as a string of their names' first letters after T ("AWO" for attach, walk, open). */
static int
count(Frames *f, int type)
{
	int i, n;

	for(i = n = 0; i < f->n; i++)
		n += f->f[i].type == type;
	return n;
}

/*
 * The basic case: an attach, a walked and opened file, a read in
 * flight (replayed), a write in flight (one error), a request made
 * while the server is away (held), and the restore frame by frame.
 */
static void
basic(void)
{
	Nmsess *a;
	Fcall *t;
	uint32_t uroot, ufile;
	uint16_t rtag, wtag;
	int i, nw, nopen;

	setup(P9_2000, 1);
	a = client(8192);
	ok(rpc(a, tmsg(Tattach, 1, 0)) == Rattach, "attach");
	ok(rpc(a, twalk(1, 0, 1, "a/b")) == Rwalk, "walk to a/b");
	ok(rpc(a, topen(1, 1, P9_ORDWR | P9_OTRUNC)) == Ropen, "open it ORDWR|OTRUNC");
	/* a read and a write go upstream and are not answered */
	csend(a, tread(2, 1, 100, 10));
	t = tmsg(Twrite, 3, 1);
	t->count = 5;
	t->data = (const uint8_t *)"hello";
	csend(a, t);
	uptake();
	ok(up.n == 2 && up.f[0].type == Tread && up.f[1].type == Twrite, "a read and a write upstream");
	ufile = up.f[0].fid;
	rtag = up.f[0].tag;
	wtag = up.f[1].tag;
	(void)rtag;
	(void)wtag;

	nnote[NM_NLOST] = 0;
	lose();
	cltake(a);
	ok(cl.n == 1 && cl.f[0].tag == 3 && iserr(0, EUNK, 5),
		"lost: the write gets one error at once, its outcome unknown; the read nothing yet");
	ok(nmuplost(U), "the upstream is lost, sessions waiting");
	ok(nnote[NM_NLOST] == 1 && strstr(lastnote[NM_NLOST], "1 sessions wait with 2 fids") &&
		strstr(lastnote[NM_NLOST], "1 wait to be sent again") && strstr(lastnote[NM_NLOST], "1 failed (outcome unknown)"),
		"and told: %s", lastnote[NM_NLOST]);
	csend(a, tmsg(Tstat, 4, 0));
	cltake(a);
	ok(cl.n == 0, "a request while it is away waits, unanswered");
	t = tmsg(Tflush, 5, 0);
	t->oldtag = 9;
	csend(a, t);
	cltake(a);
	ok(cl.n == 1 && cl.f[0].type == Rflush, "a flush of nothing is still answered at once");

	/* the server is back */
	newchan(8192);
	ok(nmchanstate(ch) == NM_CRESTORE, "versioned: the channel restores before it is ready");
	ok(nnote[NM_NRESTORE] == 1 && strstr(lastnote[NM_NRESTORE], "restoring 2 fids from 1 attaches"),
		"told: %s", lastnote[NM_NRESTORE]);
	uptake();
	ok(up.n == 1 && up.f[0].type == Tattach && p9streq(up.f[0].uname, "me") && p9streq(up.f[0].aname, "") &&
		up.f[0].afid == P9_NOFID, "first one Tattach, as the client attached, with no afid");
	uroot = up.f[0].fid;
	ok(uroot != ufile, "to a fid of its own");
	answer(&up.f[0]);
	uptake();
	nw = 0;
	for(i = 0; i < up.n; i++){
		if(up.f[i].type != Twalk || up.f[i].fid != uroot)
			continue;
		nw++;
		if(up.f[i].nwname == 2)
			ok(up.f[i].newfid == ufile && p9streq(up.f[i].wname[0], "a") && p9streq(up.f[i].wname[1], "b"),
				"the open file walked from it along a/b to its own upstream fid");
		else
			ok(up.f[i].nwname == 0, "the attached fid cloned from it");
	}
	ok(nw == 2 && up.n == 2, "then a Twalk for each fid, from the new root");
	for(i = 0; i < up.n; i++)
		answer(&up.f[i]);
	uptake();
	nopen = 0;
	for(i = 0; i < up.n; i++)
		if(up.f[i].type == Topen){
			nopen++;
			ok(up.f[i].fid == ufile && up.f[i].mode == P9_ORDWR, "reopened ORDWR, without OTRUNC (mode %u)",
				up.f[i].mode);
		}
	ok(nopen == 1 && up.n == 1, "then one Topen");
	cltake(a);
	ok(cl.n == 0 && nmchanstate(ch) == NM_CRESTORE, "nothing for the client until the restore is done");
	answer(&up.f[0]);
	ok(nmchanstate(ch) == NM_CREADY && !nmuplost(U), "opened: the channel is ready");
	ok(nnote[NM_NRESTORED] == 1 && strstr(lastnote[NM_NRESTORED], "2 fids restored, 0 dead") &&
		strstr(lastnote[NM_NRESTORED], "1 requests sent again"), "told: %s", lastnote[NM_NRESTORED]);
	uptake();
	ok(up.n == 3 && up.f[0].type == Tclunk && up.f[0].fid == uroot, "the root's own fid is clunked");
	ok(up.f[1].type == Tread && up.f[1].fid == ufile && up.f[1].offset == 100 && up.f[1].count == 10,
		"the lost read is sent again, as it was");
	ok(up.f[2].type == Tstat && up.f[2].fid != ufile && up.f[2].fid != uroot, "then the request that waited");
	for(i = 0; i < up.n; i++)
		answer(&up.f[i]);
	cltake(a);
	ok(cl.n == 2 && cl.f[0].type == Rread && cl.f[0].tag == 2 && cl.f[0].count == 10 && cl.f[1].type == Rstat &&
		cl.f[1].tag == 4, "the client gets exactly one reply to each");
	ok(rpc(a, tread(6, 1, 0, 5)) == Rread, "the open file reads on");
	ok(nsfid == 2, "the server holds the two fids the client has, no more (%d)", nsfid);
	nmsessclose(a);
	serve();
	ok(nsfid == 0, "the client gone, the server holds none (%d)", nsfid);
	teardown();
}

/* What cannot be restored: each is dead, its later requests get an error, its clunk succeeds. */
static void
deadfids(void)
{
	Nmsess *a;
	Fcall *t;
	int i, k;

	setup(P9_2000, 1);
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(a, twalk(1, 0, 1, "a/b"));		/* fid 1: changed at restore */
	rpc(a, twalk(1, 0, 2, "a/c"));		/* fid 2: gone at restore */
	rpc(a, twalk(1, 0, 3, "a/b"));
	rpc(a, topen(1, 3, P9_OREAD | P9_ORCLOSE));	/* fid 3: ORCLOSE */
	rpc(a, twalk(1, 0, 4, "x"));
	rpc(a, topen(1, 4, P9_OREAD));		/* fid 4: exclusive-use */
	t = tmsg(Tauth, 1, 0);
	t->afid = 5;
	ok(rpc(a, t) == Rauth, "an auth fid");		/* fid 5: auth */
	t = tmsg(Tattach, 1, 6);
	t->afid = 5;
	ok(rpc(a, t) == Rattach, "an attach with it");	/* fid 6: attached with an afid */
	rpc(a, twalk(1, 6, 7, "d"));		/* fid 7: from that attach */
	rpc(a, twalk(1, 0, 8, "d"));		/* fid 8: fine */
	k = nsfid;
	lose();
	/* the server comes back with another a/b, and without a/c */
	/* a/b is still there, as after a remove the server refused, which clunks the fid all the same */
	file("/a/b", 99, 0);
	files[lookup("/a/c")].gone = 1;
	newchan(8192);
	serve();
	ok(nmchanstate(ch) == NM_CREADY, "restored");
	ok(strstr(lastnote[NM_NRESTORED], "2 fids restored, 7 dead") != NULL, "2 restored, 7 dead: %s",
		lastnote[NM_NRESTORED]);
	ok(nsfid == 2, "the server holds only the 2 restored fids (%d; %d before)", nsfid, k);
	for(i = 1; i <= 8; i++){
		rpc(a, tmsg(Tstat, 2, (uint32_t)i));
		if(i == 8)
			ok(cl.f[0].type == Rstat, "fid %d, fine: served", i);
		else
			ok(iserr(0, EDEAD, 116), "fid %d (%s): dead, its request gets an error saying so", i,
				i == 1 ? "another file at its path" : i == 2 ? "its file gone" : i == 3 ? "ORCLOSE" :
				i == 4 ? "DMEXCL" : i == 5 ? "auth" : i == 6 ? "attached with an afid" : "walked from that attach");
	}
	ok(rpc(a, tmsg(Tstat, 2, 0)) == Rstat, "the attach without an afid is restored");
	i = seen[Tclunk];
	ok(rpc(a, tmsg(Tclunk, 3, 1)) == Rclunk && seen[Tclunk] == i, "a dead fid's Tclunk succeeds, nothing upstream");
	ok(rpc(a, tmsg(Tremove, 3, 2)) == Rerror && iserr(0, EDEAD, 116) && seen[Tremove] == 0,
		"its Tremove gets the error, nothing upstream");
	ok(rpc(a, tmsg(Tstat, 3, 2)) == Rerror && iserr(0, "unknown fid", 9), "and the fid is gone after either");
	ok(rpc(a, twalk(4, 0, 1, "d")) == Rwalk, "the number of a clunked dead fid is free again");
	t = twalk(4, 3, 9, "");
	ok(rpc(a, t) == Rerror && iserr(0, EDEAD, 116), "a walk from a dead fid: the error");
	nmsessclose(a);
	serve();
	ok(nsfid == 0, "hang-up: the server holds none (%d)", nsfid);
	teardown();
}

/* A path of 20 names is walked in two Twalks, 16 then 4, the second in place. */
static void
longpath(void)
{
	Nmsess *a;
	char path[256];
	Fcall *t;
	int i, nw;
	uint32_t uf;

	setup(P9_2000, 1);
	path[0] = '\0';
	for(i = 0; i < 20; i++){
		snprintf(path + strlen(path), sizeof path - strlen(path), "/%c", 'k' + i);
		file(path, 1000 + (uint64_t)i, i < 19 ? P9_QTDIR : 0);
	}
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(a, twalk(1, 0, 1, "k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z"));
	t = twalk(1, 1, 1, "{/|/}/~");
	ok(rpc(a, t) == Rwalk, "a fid walked 20 names deep, in two walks, the second in place");
	lose();
	newchan(8192);
	uptake();
	answer(&up.f[0]);
	uptake();
	nw = 0;
	uf = 0;
	for(i = 0; i < up.n; i++)
		if(up.f[i].type == Twalk && up.f[i].nwname == 16){
			nw++;
			uf = up.f[i].newfid;
			ok(p9streq(up.f[i].wname[0], "k") && p9streq(up.f[i].wname[15], "z"), "first 16 names");
			answer(&up.f[i]);
		}else
			answer(&up.f[i]);
	uptake();
	ok(nw == 1 && up.n == 1 && up.f[0].type == Twalk && up.f[0].fid == uf && up.f[0].newfid == uf &&
		up.f[0].nwname == 4 && p9streq(up.f[0].wname[3], "~"), "then the last 4, walking the fid in place");
	answer(&up.f[0]);
	serve();
	ok(nmchanstate(ch) == NM_CREADY && rpc(a, tmsg(Tstat, 2, 1)) == Rstat, "restored, and served");
	nmsessclose(a);
	serve();
	ok(nsfid == 0, "nothing left on the server");
	teardown();
}

/* Attaches: one per distinct (uname, aname, n_uname), shared by sessions. */
static void
roots(void)
{
	Nmsess *a, *b, *c;
	Fcall *t;

	setup(P9_2000U, 1);
	a = client(8192);
	b = client(8192);
	c = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(b, tmsg(Tattach, 1, 0));
	rpc(b, twalk(1, 0, 1, "a"));
	t = tmsg(Tattach, 1, 0);
	t->uname = p9str("other");
	rpc(c, t);
	t = tmsg(Tattach, 1, 1);
	t->nuname = 1001;
	rpc(c, t);
	lose();
	seen[Tattach] = 0;
	newchan(8192);
	uptake();
	ok(up.n == 3 && count(&up, Tattach) == 3, "three attaches for three keys (uname, aname, n_uname): %d frames",
		up.n);
	for(int i = 0; i < up.n; i++)
		answer(&up.f[i]);
	serve();
	ok(nmchanstate(ch) == NM_CREADY && strstr(lastnote[NM_NRESTORED], "5 fids restored"), "5 fids restored of 3 sessions");
	ok(rpc(a, tmsg(Tstat, 1, 0)) == Rstat && rpc(b, tmsg(Tstat, 1, 1)) == Rstat && rpc(c, tmsg(Tstat, 1, 1)) == Rstat,
		"each session served");
	nmsessclose(a);
	nmsessclose(b);
	nmsessclose(c);
	serve();
	ok(nsfid == 0, "nothing left on the server (%d)", nsfid);
	teardown();
}

/* Flushes: of a lost request, answered at once; of one that waits, at once; of a lost write, error then Rflush. */
static void
flushes(void)
{
	Nmsess *a;
	Fcall *t;
	int n;

	setup(P9_2000, 1);
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(a, twalk(1, 0, 1, "a/b"));
	rpc(a, topen(1, 1, P9_ORDWR));
	n = 0;
	csend(a, tread(10, 1, 0, 10));
	uptake();
	n += up.n;
	t = tmsg(Tflush, 11, 0);
	t->oldtag = 10;
	csend(a, t);
	t = tmsg(Twrite, 12, 1);
	t->count = 1;
	t->data = (const uint8_t *)"x";
	csend(a, t);
	uptake();
	n += up.n;
	t = tmsg(Tflush, 13, 0);
	t->oldtag = 12;
	csend(a, t);
	uptake();
	n += up.n;
	ok(n == 4, "a read, a write and a flush of each upstream");
	lose();
	cltake(a);
	ok(cl.n == 3 && cl.f[0].type == Rflush && cl.f[0].tag == 11 && iserr(1, EUNK, 5) && cl.f[1].tag == 12 &&
		cl.f[2].type == Rflush && cl.f[2].tag == 13,
		"lost: the flushed read is not answered, its flush is; the write gets its error before its flush's Rflush");
	csend(a, tread(14, 1, 0, 10));
	t = tmsg(Tflush, 15, 0);
	t->oldtag = 14;
	csend(a, t);
	cltake(a);
	ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 15, "a flush of a request waiting: Rflush at once");
	n = seen[Tread];
	newchan(8192);
	serve();
	cltake(a);
	ok(nmchanstate(ch) == NM_CREADY && cl.n == 0 && seen[Tread] == n && seen[Twrite] == 0,
		"restored: nothing flushed is sent again, nothing more answered");
	nmsessclose(a);
	serve();
	teardown();
}

/* Requests never written whole are sent after the restore, whatever they are. */
static void
unsent(void)
{
	Nmsess *a;
	Fcall *t;
	struct iovec iov[4];

	setup(P9_2000, 1);
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(a, twalk(1, 0, 1, "a/b"));
	rpc(a, topen(1, 1, P9_OWRITE));
	t = tmsg(Twrite, 2, 1);
	t->count = 3;
	t->data = (const uint8_t *)"abc";
	csend(a, t);
	csend(a, tmsg(Tremove, 3, 0));
	/* the write is half written when the connection goes; the remove not at all */
	ok(nmqiov(nmchanq(ch), iov, 4) == 2, "two frames queued");
	nmqadvance(nmchanq(ch), 5);
	lose();
	cltake(a);
	ok(cl.n == 0, "lost: neither answered, the server never saw either whole");
	newchan(8192);
	serve();
	cltake(a);
	ok(seen[Twrite] == 1 && seen[Tremove] == 1 && cl.n == 2 && cl.f[0].type == Rwrite && cl.f[0].count == 3 &&
		cl.f[1].type == Rremove, "restored: both sent once, and answered once");
	nmsessclose(a);
	serve();
	ok(nsfid == 0, "nothing left (%d)", nsfid);
	teardown();
}

/* Clunks: in flight, answered at once; made while away, answered at once, the fid not restored. */
static void
clunks(void)
{
	Nmsess *a;
	int n;

	setup(P9_2000, 1);
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(a, twalk(1, 0, 1, "a/b"));
	rpc(a, twalk(1, 0, 2, "a/c"));
	csend(a, tmsg(Tclunk, 2, 1));
	uptake();
	lose();
	cltake(a);
	ok(cl.n == 1 && cl.f[0].type == Rclunk && cl.f[0].tag == 2, "a clunk in flight: Rclunk at once (the loss clunked it)");
	csend(a, tmsg(Tclunk, 3, 2));
	cltake(a);
	ok(cl.n == 0, "a clunk while away waits");
	n = seen[Twalk];
	newchan(8192);
	cltake(a);
	ok(cl.n == 1 && cl.f[0].type == Rclunk && cl.f[0].tag == 3, "answered when the restore starts, its fid not restored");
	serve();
	ok(seen[Twalk] == n + 1 && seen[Tclunk] == 1, "one fid walked (the root's clone), one clunk (the restore's root)");
	ok(nsfid == 1, "the server holds the one fid left (%d)", nsfid);
	nmsessclose(a);
	serve();
	teardown();
}

/* A directory read of dialect d (Tread, or Treaddir in .L) of fid at off. */
static Fcall *
tdirread(int d, uint16_t tag, uint32_t fid, uint64_t off)
{
	tread(tag, fid, off, 100);
	if(d == P9_2000L)
		T.type = Treaddir;
	return &T;
}

/* Directory reads after a restore: only from offset 0, then on. */
static void
dirs(int d)
{
	Nmsess *a;
	int rt;

	setup(d, 1);
	rt = d == P9_2000L ? Rreaddir : Rread;
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(a, twalk(1, 0, 1, "d"));
	rpc(a, topen(1, 1, P9_OREAD));
	ok(rpc(a, tdirread(d, 2, 1, 0)) == rt, "%s: a directory opened and read", p9dialectname(d));
	csend(a, tdirread(d, 3, 1, 100));
	uptake();
	lose();
	newchan(8192);
	serve();
	cltake(a);
	ok(cl.n == 1 && cl.f[0].tag == 3 && iserr(0, EDIR, 116),
		"a directory read in flight at offset 100: the error, not sent again");
	ok(rpc(a, tdirread(d, 4, 1, 200)) != rt && iserr(0, EDIR, 116), "at an offset from before: the error");
	ok(rpc(a, tdirread(d, 5, 1, 0)) == rt, "from offset 0: served");
	ok(rpc(a, tdirread(d, 6, 1, 100)) == rt, "and on from there");
	nmsessclose(a);
	serve();
	teardown();
}

/* 9P2000.L: Tlopen without O_TRUNC; a lock held and an xattr fid are dead; Tgetattr sent again. */
static void
dotl(void)
{
	Nmsess *a;
	Fcall *t;
	int i, k;

	setup(P9_2000L, 1);
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(a, twalk(1, 0, 1, "a/b"));
	ok(rpc(a, topen(1, 1, 2 | LOTRUNC)) == Rlopen, "Tlopen O_RDWR|O_TRUNC");
	rpc(a, twalk(1, 0, 2, "a/c"));
	rpc(a, topen(1, 2, 2));
	t = tmsg(Tlock, 1, 2);
	t->lock.type = 1;
	t->lock.clientid = p9str("c");
	csend(a, t);
	uptake();
	{
		Fcall r;

		rmsg(&r, Rlock, up.f[0].tag);
		r.status = 0;
		ureply(&r);
	}
	cltake(a);
	ok(cl.n == 1 && cl.f[0].type == Rlock, "a write lock on a/c");
	t = tmsg(Txattrwalk, 1, 0);
	t->newfid = 3;
	t->name = p9str("user.x");
	csend(a, t);
	uptake();
	{
		Fcall r;

		rmsg(&r, Rxattrwalk, up.f[0].tag);
		ureply(&r);
	}
	cltake(a);
	ok(cl.f[0].type == Rxattrwalk, "an xattr fid");
	csend(a, tmsg(Tgetattr, 4, 1));
	lose();
	newchan(8192);
	uptake();
	answer(&up.f[0]);
	uptake();
	for(i = 0; i < up.n; i++)
		answer(&up.f[i]);
	uptake();
	k = 0;
	for(i = 0; i < up.n; i++)
		if(up.f[i].type == Tlopen){
			k++;
			ok(up.f[i].flags == 2, "reopened with flags 2: without O_TRUNC (%o)", up.f[i].flags);
		}
	ok(k == 1, "one reopen: the locked file's fid is dead");
	for(i = 0; i < up.n; i++)
		answer(&up.f[i]);
	serve();
	cltake(a);
	ok(cl.n == 1 && cl.f[0].type == Rgetattr && cl.f[0].tag == 4, "the Tgetattr in flight sent again, answered once");
	ok(strstr(lastnote[NM_NRESTORED], "2 fids restored, 2 dead") != NULL, "2 restored, 2 dead: %s",
		lastnote[NM_NRESTORED]);
	rpc(a, tmsg(Tgetattr, 5, 2));
	ok(iserr(0, NULL, 116), "the locked file's fid: ESTALE");
	rpc(a, tmsg(Tgetattr, 5, 3));
	ok(iserr(0, NULL, 116), "the xattr fid: ESTALE");
	nmsessclose(a);
	serve();
	ok(nsfid == 0, "nothing left (%d)", nsfid);
	teardown();
}

/* The server comes back with a smaller msize: the sessions that no longer fit end with an error. */
static void
smaller(void)
{
	Nmsess *a, *b;

	setup(P9_2000, 1);
	a = client(8192);
	b = client(4096);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(b, tmsg(Tattach, 1, 0));
	lose();
	csend(a, tmsg(Tstat, 2, 0));
	newchan(4096);
	serve();
	cltake(a);
	ok(cl.n == 1 && cl.f[0].type == Rerror && p9streq(cl.f[0].ename,
		"9mux: session reset: the upstream's msize or dialect changed; send Tversion again"),
		"msize 4096 now: the 8192 session's waiting request gets the reset error");
	ok(rpc(a, tmsg(Tstat, 3, 0)) == Rerror, "and so does the next");
	ok(rpc(b, tmsg(Tstat, 3, 0)) == Rstat, "the 4096 session is restored and served");
	ok(nsfid == 1, "the server holds only its fid (%d)", nsfid);
	nmsessclose(a);
	nmsessclose(b);
	serve();
	teardown();
}

/* A loss during the restore: the next channel restores from the start, and converges. */
static void
again(void)
{
	Nmsess *a;
	int i, k;

	setup(P9_2000, 1);
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	for(i = 1; i <= 20; i++){
		rpc(a, twalk(1, 0, (uint32_t)i, i % 2 ? "a/b" : "d"));
		rpc(a, topen(1, (uint32_t)i, P9_OREAD));
	}
	csend(a, tread(2, 5, 0, 10));
	uptake();
	lose();
	for(k = 0; k < 3; k++){
		newchan(8192);
		uptake();
		answer(&up.f[0]);	/* the attach */
		uptake();
		for(i = 0; i < up.n / 2; i++)
			answer(&up.f[i]);	/* half the walks */
		ok(nmchanstate(ch) == NM_CRESTORE, "restore %d under way", k + 1);
		lose();
		cltake(a);
		ok(cl.n == 0 && nmuplost(U), "lost again mid-restore: the client waits, nothing answered");
		ok(strstr(lastnote[NM_NLOST], "lost while restoring") != NULL, "told: %s", lastnote[NM_NLOST]);
	}
	newchan(8192);
	serve();
	cltake(a);
	ok(nmchanstate(ch) == NM_CREADY && strstr(lastnote[NM_NRESTORED], "21 fids restored, 0 dead"),
		"the fourth restore finishes: %s", lastnote[NM_NRESTORED]);
	ok(cl.n == 1 && cl.f[0].type == Rread && cl.f[0].tag == 2, "the read lost at the first loss answered once");
	ok(nsfid == 21, "the server holds exactly the client's 21 fids (%d)", nsfid);
	for(i = 1; i <= 20; i++)
		if(rpc(a, tread(3, (uint32_t)i, 0, 1)) != Rread)
			break;
	ok(i == 21, "each open fid reads");
	nmsessclose(a);
	serve();
	ok(nsfid == 0, "nothing left (%d)", nsfid);
	teardown();
}

/* Giving up: what waited fails as without persist; a restore under way is abandoned without leaks. */
static void
giveup(void)
{
	Nmsess *a, *b;
	int i;

	setup(P9_2000, 1);
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(a, twalk(1, 0, 1, "a/b"));
	lose();
	csend(a, tmsg(Tstat, 2, 1));
	nmupgiveup(U);
	cltake(a);
	ok(cl.n == 1 && iserr(0, EGIVE, 5), "given up while away: the waiting request gets the error");
	ok(!nmuplost(U) && nnote[NM_NGIVEUP] == 1, "told: %s", lastnote[NM_NGIVEUP]);
	ok(rpc(a, tmsg(Tstat, 3, 1)) == Rerror && iserr(0, EGIVE, 5), "the session is dead, as without persist");
	b = client(8192);
	csend(b, tmsg(Tattach, 1, 0));
	cltake(b);
	ok(iserr(0, "upstream not reachable yet", 107), "a new session's attach is refused while nothing is up");
	newchan(8192);
	ok(nmchanstate(ch) == NM_CREADY, "the next channel is ready at once, nothing to restore");
	ok(rpc(b, tmsg(Tattach, 1, 0)) == Rattach, "and serves");
	nmsessclose(a);
	nmsessclose(b);
	serve();
	teardown();

	/* during a restore */
	setup(P9_2000, 1);
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	for(i = 1; i <= 10; i++)
		rpc(a, twalk(1, 0, (uint32_t)i, "a/b"));
	lose();
	csend(a, tmsg(Tstat, 2, 1));
	newchan(8192);
	uptake();
	answer(&up.f[0]);
	uptake();
	for(i = 0; i < 5; i++)
		answer(&up.f[i]);
	nmupgiveup(U);
	cltake(a);
	ok(cl.n == 1 && iserr(0, EGIVE, 5) && nmchanstate(ch) == NM_CREADY,
		"given up mid-restore: the error, and the channel is ready");
	for(i = 5; i < up.n; i++)
		answer(&up.f[i]);
	serve();
	ok(nsfid == 0, "what the restore made is clunked: the server holds nothing (%d)", nsfid);
	b = client(8192);
	ok(rpc(b, tmsg(Tattach, 1, 0)) == Rattach, "a new session is served");
	nmsessclose(a);
	nmsessclose(b);
	serve();
	ok(nsfid == 0, "nothing left (%d)", nsfid);
	teardown();
}

/* Hang-ups: while away, nothing goes upstream; during the restore, what it made is clunked. */
static void
hangups(void)
{
	Nmsess *a, *b;
	int i;

	setup(P9_2000, 1);
	a = client(8192);
	b = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	rpc(b, tmsg(Tattach, 1, 0));
	for(i = 1; i <= 10; i++){
		rpc(a, twalk(1, 0, (uint32_t)i, "a/b"));
		rpc(b, twalk(1, 0, (uint32_t)i, "a/c"));
	}
	lose();
	csend(a, tmsg(Tstat, 2, 1));
	nmsessclose(a);
	newchan(8192);
	uptake();
	answer(&up.f[0]);
	uptake();
	for(i = 0; i < 5; i++)
		answer(&up.f[i]);
	nmsessclose(b);
	for(i = 5; i < up.n; i++)
		answer(&up.f[i]);
	serve();
	ok(nmchanstate(ch) == NM_CREADY, "restored");
	ok(nsfid == 0, "one client left while away, the other mid-restore: the server holds nothing (%d)", nsfid);
	ok(strstr(lastnote[NM_NRESTORE], "restoring 11 fids") != NULL, "only the one still there was restored: %s",
		lastnote[NM_NRESTORE]);
	teardown();
}

/* Without persist nothing changes: a loss fails everything at once. */
static void
nopersist(void)
{
	Nmsess *a;

	setup(P9_2000, 0);
	a = client(8192);
	rpc(a, tmsg(Tattach, 1, 0));
	csend(a, tmsg(Tstat, 2, 0));
	lose();
	cltake(a);
	ok(cl.n == 1 && iserr(0, ELOST, 5) && !nmuplost(U), "without persist: the error at once, nothing waits");
	newchan(8192);
	ok(nmchanstate(ch) == NM_CREADY && rpc(a, tmsg(Tstat, 3, 0)) == Rerror, "and the session stays dead");
	nmsessclose(a);
	teardown();
}

/*
 * Many fids: 3,000 open fids of 30 sessions restored with one attach,
 * at most a window of requests in flight; each session's fids served.
 */
static void
many(void)
{
	enum { QN = 4096, QF = 256 };
	static uint8_t q[QN][QF];
	Nmsess *s[30];
	int i, j, most, head, n;
	struct iovec iov[1];
	Fcall t;
	size_t len;

	setup(P9_2000, 1);
	for(i = 0; i < 30; i++){
		s[i] = client(8192);
		rpc(s[i], tmsg(Tattach, 1, 0));
		for(j = 1; j <= 100; j++){
			rpc(s[i], twalk(1, 0, (uint32_t)j, j % 2 ? "a/b" : "a/c"));
			rpc(s[i], topen(1, (uint32_t)j, P9_OREAD));
		}
	}
	lose();
	newchan(8192);
	memset(seen, 0, sizeof seen);
	/* the server takes what is sent, and answers the oldest first, one at a time */
	most = head = n = 0;
	for(;;){
		while(!nmqempty(nmchanq(ch)) && n < QN){
			nmqiov(nmchanq(ch), iov, 1);
			len = iov[0].iov_len;
			memcpy(q[(head + n) % QN], iov[0].iov_base, len < QF ? len : QF);
			nmqadvance(nmchanq(ch), len);
			n++;
		}
		if(n > most)
			most = n;
		if(n == 0)
			break;
		if(p9decode(q[head], p9get32(q[head]), QF, D, &t) <= 0)
			break;
		head = (head + 1) % QN;
		n--;
		answer(&t);
	}
	ok(nmchanstate(ch) == NM_CREADY, "3,030 fids of 30 sessions restored");
	ok(seen[Tattach] == 1 && seen[Twalk] == 3030 && seen[Topen] == 3000 && seen[Tclunk] == 1,
		"one Tattach, a Twalk each, a Topen for each open one, one Tclunk: %d %d %d %d",
		seen[Tattach], seen[Twalk], seen[Topen], seen[Tclunk]);
	ok(most <= 1024, "at most 1024 in flight at once (%d)", most);
	ok(nsfid == 3030, "the server holds exactly the clients' fids (%d)", nsfid);
	for(i = 0; i < 30; i++)
		if(rpc(s[i], tread(2, 100, 0, 1)) != Rread)
			break;
	ok(i == 30, "every session reads its last fid");
	for(i = 0; i < 30; i++)
		nmsessclose(s[i]);
	serve();
	ok(nsfid == 0, "nothing left (%d)", nsfid);
	teardown();
}

/*
 * A read in flight when its fid's Tremove is answered: the fid's
 * upstream number is free then and may name another fid.  Lost and
 * restored, the read fails; it is never sent again under that number.
 */
static void
removed(void)
{
	Nmsess *a;
	uint32_t ufile;
	int i, n, reads;

	setup(P9_2000, 1);
	a = client(8192);
	ok(rpc(a, tmsg(Tattach, 1, 0)) == Rattach, "removed: attach");
	ok(rpc(a, twalk(1, 0, 1, "a/b")) == Rwalk && rpc(a, topen(1, 1, P9_OREAD)) == Ropen, "a/b walked and opened");
	csend(a, tread(2, 1, 0, 10));
	csend(a, tmsg(Tremove, 3, 1));
	uptake();
	ok(up.n == 2 && up.f[0].type == Tread && up.f[1].type == Tremove, "a read, then a remove of its fid, upstream");
	ufile = up.f[0].fid;
	answer(&up.f[1]);
	cltake(a);
	ok(cl.n == 1 && cl.f[0].type == Rremove, "the remove answered first");
	/* a/b is still there, as after a remove the server refused, which clunks the fid all the same */
	csend(a, twalk(4, 0, 2, "a/c"));
	uptake();
	ok(up.n == 1 && up.f[0].type == Twalk && up.f[0].newfid == ufile,
		"a new fid takes the number the remove freed (%u, was %u)", up.n ? up.f[0].newfid : 0, ufile);
	answer(&up.f[0]);
	cltake(a);
	ok(cl.n == 1 && cl.f[0].type == Rwalk, "to a/c");
	lose();
	newchan(8192);
	/* the restore, then what waited for it, each frame answered until none comes */
	reads = 0;
	for(n = 0; n < 20; n++){
		uptake();
		if(up.n == 0)
			break;
		for(i = 0; i < up.n; i++){
			reads += up.f[i].type == Tread;
			answer(&up.f[i]);
		}
	}
	ok(nmchanstate(ch) == NM_CREADY, "restored");
	is_int(reads, 0, "the read is not sent again: its fid's number is a/c's now");
	cltake(a);
	ok(cl.n == 1 && cl.f[0].tag == 2 && iserr(0, EDEAD, 5), "the read fails, its fid gone");
	ok(rpc(a, topen(5, 2, P9_OREAD)) == Ropen && rpc(a, tread(6, 2, 0, 5)) == Rread, "a/c, restored, reads on");
	nmsessclose(a);
	serve();
	ok(nsfid == 0, "the client gone, the server holds none (%d)", nsfid);
	teardown();
}

int
main(void)
{
	tap_start(60);
	basic();
	deadfids();
	longpath();
	roots();
	flushes();
	unsent();
	clunks();
	removed();
	dirs(P9_2000);
	dirs(P9_2000L);
	dotl();
	smaller();
	again();
	giveup();
	hangups();
	nopersist();
	many();
	return done_testing();
}
