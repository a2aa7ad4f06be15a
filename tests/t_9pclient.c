/*
 * lib9pclient against a scripted 9P2000 server in this process, reached
 * over a real unix socket: reads and writes split by msize and iounit,
 * many threads on one connection, directory reading, and a timeout that
 * must flush the request and keep its tag and fid out of use until the
 * Rflush comes.  The server checks every request it gets.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "tap.h"
#include "9p.h"
#include "9pclient.h"
#include "dial.h"

enum {
	Qroot, Qfile, Qslow, Qslowwalk, Qrelease, Qslowclunk, Qauth,
	Nfid = 4096,
	Maxpark = 16,
	Filemax = 1 << 20,
};

static const char *names[] = { "", "file", "slow", "slowwalk", "release", "slowclunk", "" };

typedef struct Pending Pending;
struct Pending {
	int	used;
	uint8_t	type;		/* of the parked request */
	uint16_t tag;
	uint32_t fid;
	uint32_t newfid;
	int	flushed;	/* a Tflush came: the answer to it is held back */
	uint16_t flushtag;
};

/* What the server saw, read by the test under lk. */
static struct {
	pthread_mutex_t	lk;
	pthread_cond_t	cond;
	int	fd;
	uint32_t msize;
	uint32_t iounit;		/* what Topen answers */
	uint8_t	filedata[Filemax];
	uint32_t filelen;
	int	fids[Nfid];		/* 0 free, else qid path + 1 */
	Pending	park[Maxpark];
	long	nreq, nread, nwrite, nflush, nclunk;
	uint32_t maxread, maxwrite;
	int	tagreuse;		/* a request came with a tag still in flight */
	int	fidreuse;		/* a new fid that was live or held by a flush */
	int	badfid;			/* a request named a fid that is not live */
	int	flushok;		/* Tflush oldtag matched a parked request */
	uint16_t lastflushold;
	uint32_t lastheldfid;		/* fid of the last flushed request */
	int	heldreused;		/* ... seen again as a new fid after the Rflush */
	int	released;
	int	clunkparked;		/* the first Tclunk of slowclunk was parked */
	int	needauth;		/* Tattach wants an afid that said "secret" */
	uint8_t	authed[Nfid];		/* per afid */
	long	clunks[Nfid];		/* Tclunks and Tremoves seen per fid */
	int	done;
} S;

static int
readfull(int fd, uint8_t *p, size_t n)
{
	ssize_t r;

	while(n > 0){
		r = read(fd, p, n);
		if(r < 0 && errno == EINTR)
			continue;
		if(r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void
reply(Fcall *r)
{
	uint8_t buf[70000];
	size_t n;

	n = p9encode(buf, sizeof buf, r, P9_2000);
	if(n == 0){
		diag("server: cannot encode type %d", r->type);
		return;
	}
	if(write(S.fd, buf, n) != (ssize_t)n)
		diag("server: write failed");
}

static void
rerror(uint16_t tag, const char *e)
{
	Fcall r;

	memset(&r, 0, sizeof r);
	r.type = Rerror;
	r.tag = tag;
	r.ename = p9str(e);
	reply(&r);
}

static Qid
mkqid(int path)
{
	Qid q;

	q.type = path == Qroot ? P9_QTDIR : path == Qauth ? P9_QTAUTH : 0;
	q.vers = 0;
	q.path = (uint64_t)path;
	return q;
}

static size_t
packdir(uint8_t *buf, size_t len, int path)
{
	P9dir d;

	memset(&d, 0, sizeof d);
	d.qid = mkqid(path);
	d.mode = path == Qroot ? P9_DMDIR | 0755 : 0644;
	d.length = path == Qfile ? S.filelen : 0;
	d.name = p9str(path == Qroot ? "/" : names[path]);
	d.uid = d.gid = d.muid = p9str("test");
	return p9direncode(buf, len, &d, P9_2000);
}

/* Whether tag belongs to a request the server has not finished with. */
static int
tagbusy(uint16_t tag)
{
	int i;

	for(i = 0; i < Maxpark; i++)
		if(S.park[i].used && (S.park[i].tag == tag || (S.park[i].flushed && S.park[i].flushtag == tag)))
			return 1;
	return 0;
}

static int
fidheld(uint32_t fid)
{
	int i;

	for(i = 0; i < Maxpark; i++)
		if(S.park[i].used && S.park[i].flushed && (S.park[i].fid == fid || S.park[i].newfid == fid))
			return 1;
	return 0;
}

static Pending *
park(Fcall *f)
{
	int i;

	for(i = 0; i < Maxpark; i++)
		if(!S.park[i].used){
			memset(&S.park[i], 0, sizeof S.park[i]);
			S.park[i].used = 1;
			S.park[i].type = f->type;
			S.park[i].tag = f->tag;
			S.park[i].fid = f->fid;
			S.park[i].newfid = f->type == Twalk ? f->newfid : P9_NOFID;
			return &S.park[i];
		}
	return NULL;
}

/* Answer the Tflushes held back, as the "release" walk asks. */
static void
release(void)
{
	Fcall r;
	int i;

	for(i = 0; i < Maxpark; i++)
		if(S.park[i].used && S.park[i].flushed){
			memset(&r, 0, sizeof r);
			r.type = Rflush;
			r.tag = S.park[i].flushtag;
			S.park[i].used = 0;
			S.released++;
			reply(&r);
		}
}

static int
livefid(uint32_t fid)
{
	return fid < Nfid && S.fids[fid] != 0;
}

static void
newfid(uint32_t fid, int path)
{
	if(fid >= Nfid)
		return;
	if(S.fids[fid] != 0 || fidheld(fid))
		S.fidreuse++;
	if(fid == S.lastheldfid && !fidheld(fid))
		S.heldreused = 1;
	S.fids[fid] = path + 1;
}

static void
serve1(Fcall *f)
{
	Fcall r;
	uint8_t sbuf[512];
	uint8_t dbuf[2048];
	Pending *p;
	int path, i;
	size_t n, off;

	memset(&r, 0, sizeof r);
	r.type = f->type + 1;
	r.tag = f->tag;
	S.nreq++;
	if(f->type != Tversion && tagbusy(f->tag))
		S.tagreuse++;
	switch(f->type){
	case Tversion:
		r.msize = f->msize < S.msize ? f->msize : S.msize;
		S.msize = r.msize;
		r.version = p9str("9P2000");
		break;
	case Tauth:
		newfid(f->afid, Qauth);
		if(f->afid < Nfid)
			S.authed[f->afid] = 0;
		r.qid = mkqid(Qauth);
		break;
	case Tattach:
		if(f->afid != P9_NOFID && (!livefid(f->afid) || S.fids[f->afid] - 1 != Qauth || !S.authed[f->afid])){
			rerror(f->tag, "authentication failed");
			return;
		}
		if(f->afid == P9_NOFID && S.needauth){
			rerror(f->tag, "authentication required");
			return;
		}
		newfid(f->fid, Qroot);
		r.qid = mkqid(Qroot);
		break;
	case Tflush:
		S.nflush++;
		S.lastflushold = f->oldtag;
		for(i = 0; i < Maxpark; i++){
			p = &S.park[i];
			if(p->used && !p->flushed && p->tag == f->oldtag){
				if(p->type == Twalk){
					/* the walk succeeds after all, before the Rflush */
					Fcall w;

					memset(&w, 0, sizeof w);
					w.type = Rwalk;
					w.tag = p->tag;
					w.nwqid = 1;
					w.wqid[0] = mkqid(Qslowwalk);
					newfid(p->newfid, Qslowwalk);
					reply(&w);
				}
				p->flushed = 1;
				p->flushtag = f->tag;
				S.lastheldfid = p->newfid != P9_NOFID ? p->newfid : p->fid;
				S.flushok++;
				return;	/* the Rflush waits for "release" */
			}
		}
		break;
	case Twalk:
		if(!livefid(f->fid)){
			S.badfid++;
			rerror(f->tag, "unknown fid");
			return;
		}
		path = S.fids[f->fid] - 1;
		if(f->nwname > 1 || (f->nwname == 1 && path != Qroot)){
			rerror(f->tag, "walk too deep");
			return;
		}
		if(f->nwname == 1){
			for(path = Qfile; path <= Qslowclunk; path++)
				if(p9streq(f->wname[0], names[path]))
					break;
			if(path > Qslowclunk){
				rerror(f->tag, "file does not exist");
				return;
			}
			r.nwqid = 1;
			r.wqid[0] = mkqid(path);
		}
		if(path == Qslowwalk){
			park(f);
			return;
		}
		if(path == Qrelease)
			release();
		if(f->newfid != f->fid)
			newfid(f->newfid, path);
		else
			S.fids[f->fid] = path + 1;
		break;
	case Topen:
		if(!livefid(f->fid)){
			S.badfid++;
			rerror(f->tag, "unknown fid");
			return;
		}
		r.qid = mkqid(S.fids[f->fid] - 1);
		r.iounit = S.iounit;
		if((f->mode & P9_OTRUNC) && S.fids[f->fid] - 1 == Qfile)
			S.filelen = 0;
		break;
	case Tread:
		if(!livefid(f->fid)){
			S.badfid++;
			rerror(f->tag, "unknown fid");
			return;
		}
		S.nread++;
		if(f->count > S.maxread)
			S.maxread = f->count;
		path = S.fids[f->fid] - 1;
		if(path == Qslow){
			park(f);
			return;
		}
		if(path == Qauth){
			r.data = (const uint8_t*)(S.authed[f->fid] ? "ok" : "no");
			r.count = f->count < 2 ? f->count : 2;
			break;
		}
		if(path == Qroot){
			/* whole entries only, from the byte offset asked for */
			off = 0;
			n = 0;
			for(i = Qfile; i <= Qrelease; i++){
				size_t k = packdir(sbuf, sizeof sbuf, i);
				if(off >= f->offset && n + k <= f->count && n + k <= sizeof dbuf){
					memcpy(dbuf + n, sbuf, k);
					n += k;
				}else if(off >= f->offset)
					break;
				off += k;
			}
			r.count = (uint32_t)n;
			r.data = dbuf;
			break;
		}
		if(f->offset >= S.filelen)
			r.count = 0;
		else{
			r.count = S.filelen - (uint32_t)f->offset;
			if(r.count > f->count)
				r.count = f->count;
		}
		r.data = S.filedata + (f->offset < S.filelen ? f->offset : 0);
		break;
	case Twrite:
		if(!livefid(f->fid)){
			S.badfid++;
			rerror(f->tag, "unknown fid");
			return;
		}
		S.nwrite++;
		if(f->count > S.maxwrite)
			S.maxwrite = f->count;
		if(S.fids[f->fid] - 1 == Qauth){
			S.authed[f->fid] = f->count == 6 && memcmp(f->data, "secret", 6) == 0;
			r.count = f->count;
			break;
		}
		if(f->offset > Filemax || Filemax - f->offset < f->count){
			rerror(f->tag, "file too big");
			return;
		}
		memcpy(S.filedata + f->offset, f->data, f->count);
		if(f->offset + f->count > S.filelen)
			S.filelen = (uint32_t)(f->offset + f->count);
		r.count = f->count;
		break;
	case Tclunk:
	case Tremove:
		if(!livefid(f->fid)){
			S.badfid++;
			rerror(f->tag, "unknown fid");
			return;
		}
		if(f->type == Tclunk && S.fids[f->fid] - 1 == Qslowclunk && !S.clunkparked){
			/* flushed, this clunk will never have happened */
			S.clunkparked = 1;
			park(f);
			return;
		}
		S.fids[f->fid] = 0;
		S.nclunk++;
		S.clunks[f->fid]++;
		if(f->type == Tremove){
			rerror(f->tag, "permission denied");
			return;
		}
		break;
	case Tstat:
		if(!livefid(f->fid)){
			S.badfid++;
			rerror(f->tag, "unknown fid");
			return;
		}
		n = packdir(sbuf, sizeof sbuf, S.fids[f->fid] - 1);
		r.stat = sbuf;
		r.nstat = (uint16_t)n;
		break;
	default:
		rerror(f->tag, "not supported");
		return;
	}
	reply(&r);
}

static void *
server(void *v)
{
	int lfd = *(int*)v;
	uint8_t *buf;
	uint32_t n;
	Fcall f;
	long k;

	buf = malloc(70000);
	S.fd = accept(lfd, NULL, NULL);
	close(lfd);
	for(;;){
		if(S.fd < 0 || readfull(S.fd, buf, 4) < 0)
			break;
		n = p9get32(buf);
		if(n < 7 || n > 70000 || readfull(S.fd, buf + 4, n - 4) < 0)
			break;
		k = p9decode(buf, n, 70000, P9_2000, &f);
		pthread_mutex_lock(&S.lk);
		if(k <= 0)
			diag("server: bad message: %s", p9strerror((int)k));
		else
			serve1(&f);
		pthread_cond_broadcast(&S.cond);
		pthread_mutex_unlock(&S.lk);
	}
	pthread_mutex_lock(&S.lk);
	S.done = 1;
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.lk);
	free(buf);
	return NULL;
}

/* Wait up to 10 s for the server to have seen n Tflushes it could match. */
static int
waitflush(int n)
{
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&S.lk);
	while(S.flushok < n && pthread_cond_timedwait(&S.cond, &S.lk, &ts) != ETIMEDOUT)
		;
	r = S.flushok;
	pthread_mutex_unlock(&S.lk);
	return r;
}

/* How often the server has seen fid clunked. */
static long
clunks(uint32_t fid)
{
	long n;

	pthread_mutex_lock(&S.lk);
	n = fid < Nfid ? S.clunks[fid] : 0;
	pthread_mutex_unlock(&S.lk);
	return n;
}

/* Wait up to 10 s for the server to have clunked fid more than before times. */
static int
waitclunk(uint32_t fid, long before)
{
	struct timespec ts;
	int found;

	if(fid >= Nfid)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&S.lk);
	while(!(found = S.clunks[fid] > before) && pthread_cond_timedwait(&S.cond, &S.lk, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&S.lk);
	return found;
}

typedef struct Worker Worker;
struct Worker {
	CFid	*root;
	int	id;
	int	bad;
};

static void *
worker(void *v)
{
	Worker *w = v;
	CFid *f;
	uint8_t buf[3000];
	long n;
	int i;
	uint64_t off;

	for(i = 0; i < 40; i++){
		if((f = fsopen(w->root, "file", P9_OREAD)) == NULL){
			w->bad++;
			continue;
		}
		off = (uint64_t)((w->id * 7919 + i * 104729) % 7000);
		n = fspread(f, buf, sizeof buf, off);
		if(n != (long)sizeof buf)
			w->bad++;
		else
			for(long j = 0; j < n; j++)
				if(buf[j] != (uint8_t)((off + (uint64_t)j) * 31 % 251)){
					w->bad++;
					break;
				}
		if(fsclose(f) < 0)
			w->bad++;
	}
	return NULL;
}

/* The client's half of the test's auth protocol: say the secret, hear "ok". */
static int
authfn(CFid *afid, void *arg)
{
	const char *secret = arg;
	char buf[8];
	long n;

	if(fswrite(afid, secret, (long)strlen(secret)) != (long)strlen(secret))
		return -1;
	n = fsread(afid, buf, sizeof buf);
	if(n != 2 || memcmp(buf, "ok", 2) != 0){
		fswerrstr("auth refused");
		return -1;
	}
	return 0;
}

/* Open slow, have the read time out, clunk: all at once in many threads. */
static void *
slowreader(void *v)
{
	Worker *w = v;
	CFid *f;
	char buf[16];

	if((f = fsopen(w->root, "slow", P9_OREAD)) == NULL){
		w->bad++;
		return NULL;
	}
	if(fspread(f, buf, sizeof buf, 0) != -1 || strstr(fserrstr(), "timed out") == NULL)
		w->bad++;
	if(fsclose(f) < 0)
		w->bad++;
	return NULL;
}

int
main(void)
{
	char dir[] = "/tmp/t9pclient.XXXXXX", addr[256], err[256];
	pthread_t srv, thr[8];
	Worker wk[8];
	CFsys *fs;
	CFid *root, *f, *slow, *g, *keep[6];
	uint8_t *data, *back;
	Fsdir *d;
	long n, i, nwrite0, nread0;
	int lfd, bad, found, k;
	uint32_t heldfid, walkfid;
	long nclunk0;

	tap_start(60);
	pthread_mutex_init(&S.lk, NULL);
	pthread_cond_init(&S.cond, NULL);
	S.msize = 8192;
	if(mkdtemp(dir) == NULL){
		ok(0, "mkdtemp");
		return done_testing();
	}
	snprintf(addr, sizeof addr, "unix!%s/sock", dir);
	lfd = announce(addr, 0600, err, sizeof err);
	if(!ok(lfd >= 0, "announce %s", addr)){
		diag("%s", err);
		return done_testing();
	}
	pthread_create(&srv, NULL, server, &lfd);

	/* a small msize so every transfer is split */
	fs = fsdial(addr, P9_2000, 512);
	if(!ok(fs != NULL, "fsdial %s", addr)){
		diag("%s", fserrstr());
		return done_testing();
	}
	is_int(fsmsize(fs), 512, "msize 512 negotiated");
	is_int(fsdialect(fs), P9_2000, "dialect 9P2000");
	root = fsattach(fs, NULL, "test", "");
	ok(root != NULL, "attach");

	/* writes and reads split by msize */
	data = malloc(10000);
	back = malloc(10000);
	for(i = 0; i < 10000; i++)
		data[i] = (uint8_t)(i * 31 % 251);
	f = fsopen(root, "file", P9_ORDWR|P9_OTRUNC);
	ok(f != NULL, "open file");
	is_int(fsiounit(f), 0, "iounit 0");
	nwrite0 = S.nwrite;
	is_int(fspwrite(f, data, 10000, 0), 10000, "write 10000 bytes");
	ok(S.maxwrite <= 512 - P9_IOHDRSZ, "each Twrite fits msize (max %u)", S.maxwrite);
	is_int(S.nwrite - nwrite0, (10000 + 487) / 488, "Twrites of msize-24 bytes");
	is_int(S.filelen, 10000, "server holds 10000 bytes");
	nread0 = S.nread;
	memset(back, 0, 10000);
	is_int(fspread(f, back, 10000, 0), 10000, "read 10000 bytes");
	ok(memcmp(data, back, 10000) == 0, "read back what was written");
	ok(S.maxread <= 512 - P9_IOHDRSZ, "each Tread fits msize (max %u)", S.maxread);
	ok(S.nread - nread0 >= (10000 + 487) / 488, "Treads: %ld", S.nread - nread0);
	is_int(fspread(f, back, 100, 9950), 50, "short read at the end");
	is_int(fspread(f, back, 100, 20000), 0, "read past the end");
	fsseek(f, 5000);
	is_int(fsread(f, back, 10), 10, "fsread at the offset");
	ok(memcmp(back, data + 5000, 10) == 0, "fsread data");
	is_int(fsread(f, back, 10), 10, "fsread advances");
	ok(memcmp(back, data + 5010, 10) == 0, "fsread data after the first");
	ok(fsclose(f) == 0, "clunk");

	/* split by a smaller iounit */
	S.iounit = 100;
	f = fsopen(root, "file", P9_ORDWR);
	is_int(fsiounit(f), 100, "iounit 100");
	S.maxwrite = S.maxread = 0;
	nwrite0 = S.nwrite;
	nread0 = S.nread;
	is_int(fspwrite(f, data + 1, 1000, 1), 1000, "write with iounit");
	is_int(S.maxwrite, 100, "Twrite counts at most iounit");
	is_int(S.nwrite - nwrite0, 10, "ten Twrites of 100");
	is_int(fspread(f, back, 1000, 1), 1000, "read with iounit");
	is_int(S.maxread, 100, "Tread counts at most iounit");
	is_int(S.nread - nread0, 10, "ten Treads of 100");
	ok(memcmp(back, data + 1, 1000) == 0, "data through iounit");
	fsclose(f);
	S.iounit = 0;

	/* stat and directory reading (entries split across small reads) */
	d = fsdirstat(root, "file");
	ok(d != NULL && strcmp(d->name, "file") == 0 && d->length == 10000, "stat file");
	fsdirfree(d, d != NULL);
	ok(fswalk(root, "nothere") == NULL && strstr(fserrstr(), "does not exist") != NULL,
		"walk to a missing file fails with the server's error: %s", fserrstr());
	ok(fsremove(root, "file") < 0 && strcmp(fserrstr(), "permission denied") == 0,
		"remove: server error text");
	f = fsopen(root, "", P9_OREAD);
	n = f != NULL ? fsdirreadall(f, &d) : -1;
	is_int(n, 4, "four directory entries");
	found = 0;
	for(i = 0; i < n; i++)
		if(strcmp(d[i].name, names[i + 1]) == 0)
			found++;
	is_int(found, 4, "entries named in order");
	fsdirfree(d, n);
	fsclose(f);

	/* many threads share the connection */
	for(i = 0; i < 8; i++){
		wk[i].root = root;
		wk[i].id = (int)i;
		wk[i].bad = 0;
		pthread_create(&thr[i], NULL, worker, &wk[i]);
	}
	bad = 0;
	for(i = 0; i < 8; i++){
		pthread_join(thr[i], NULL);
		bad += wk[i].bad;
	}
	is_int(bad, 0, "8 threads x 40 open/read/compare/clunk");
	pthread_mutex_lock(&S.lk);
	is_int(S.tagreuse, 0, "no tag reused while in flight");
	is_int(S.fidreuse, 0, "no fid reused while live");
	is_int(S.badfid, 0, "no request on a dead fid");
	pthread_mutex_unlock(&S.lk);

	/* a timeout flushes the read; tag and fid stay unused until Rflush */
	fssettimeout(fs, 300);
	slow = fsopen(root, "slow", P9_OREAD);
	ok(slow != NULL, "open slow");
	n = fspread(slow, back, 10, 0);
	ok(n == -1 && strstr(fserrstr(), "timed out") != NULL, "slow read times out: %s", fserrstr());
	is_int(waitflush(1), 1, "server got Tflush for the parked Tread's tag");
	pthread_mutex_lock(&S.lk);
	heldfid = S.lastheldfid;
	pthread_mutex_unlock(&S.lk);
	ok(fsclose(slow) == 0, "clunk the fid of the flushed read");
	fssettimeout(fs, 0);
	for(k = 0; k < 30; k++){
		g = fsopen(root, "file", P9_OREAD);
		if(g == NULL || fspread(g, back, 10, 0) != 10)
			bad++;
		fsclose(g);
	}
	is_int(bad, 0, "30 more RPCs while the Rflush is held back");
	pthread_mutex_lock(&S.lk);
	is_int(S.tagreuse, 0, "the flushed tag was not reused before Rflush");
	is_int(S.fidreuse, 0, "the flushed fid was not reused before Rflush");
	is_int(S.heldreused, 0, "fid %u not seen again yet", heldfid);
	pthread_mutex_unlock(&S.lk);
	g = fswalk(root, "release");
	ok(g != NULL, "walk to release: the Rflush goes out");
	fsclose(g);
	for(k = 0; k < 6; k++)
		keep[k] = fswalk(root, "file");
	pthread_mutex_lock(&S.lk);
	is_int(S.released, 1, "one Rflush sent");
	is_int(S.heldreused, 1, "fid %u reused after the Rflush", heldfid);
	is_int(S.fidreuse, 0, "still no fid reused while live");
	pthread_mutex_unlock(&S.lk);
	for(k = 0; k < 6; k++)
		fsclose(keep[k]);

	/* a flushed walk that succeeded after all: its newfid is clunked */
	fssettimeout(fs, 300);
	g = fswalk(root, "slowwalk");
	ok(g == NULL && strstr(fserrstr(), "timed out") != NULL, "slow walk times out");
	fssettimeout(fs, 0);
	is_int(waitflush(2), 2, "server got Tflush for the walk");
	pthread_mutex_lock(&S.lk);
	walkfid = S.lastheldfid;
	pthread_mutex_unlock(&S.lk);
	nclunk0 = clunks(walkfid);
	for(k = 0; k < 10; k++){
		g = fswalk(root, "file");
		if(g == NULL)
			bad++;
		fsclose(g);
	}
	pthread_mutex_lock(&S.lk);
	is_int(S.fidreuse, 0, "the walk's newfid was not reused before Rflush");
	is_int(S.tagreuse, 0, "nor its tag");
	pthread_mutex_unlock(&S.lk);
	g = fswalk(root, "release");
	fsclose(g);
	ok(waitclunk(walkfid, nclunk0), "newfid %u of the late Rwalk clunked by the client", walkfid);
	pthread_mutex_lock(&S.lk);
	is_int(S.badfid, 0, "no request on a dead fid");
	is_int(S.tagreuse, 0, "no tag reuse at all");
	pthread_mutex_unlock(&S.lk);

	/* a flushed clunk never happened: the client clunks the fid again */
	g = fswalk(root, "slowclunk");
	ok(g != NULL, "walk to slowclunk");
	fssettimeout(fs, 300);
	ok(fsclose(g) < 0 && strstr(fserrstr(), "timed out") != NULL, "its clunk times out");
	fssettimeout(fs, 0);
	is_int(waitflush(3), 3, "server got Tflush for the clunk");
	pthread_mutex_lock(&S.lk);
	heldfid = S.lastheldfid;
	pthread_mutex_unlock(&S.lk);
	nclunk0 = clunks(heldfid);
	for(k = 0; k < 6; k++)
		keep[k] = fswalk(root, "file");
	for(k = 0; k < 6; k++)
		fsclose(keep[k]);
	pthread_mutex_lock(&S.lk);
	is_int(S.fidreuse, 0, "the clunked fid was not reused before the Rflush");
	pthread_mutex_unlock(&S.lk);
	is_int(clunks(heldfid), nclunk0, "fid %u not clunked before the Rflush", heldfid);
	g = fswalk(root, "release");
	fsclose(g);
	ok(waitclunk(heldfid, nclunk0), "fid %u clunked again after the Rflush", heldfid);
	pthread_mutex_lock(&S.lk);
	is_int(S.badfid, 0, "no request on a dead fid");
	is_int(S.released, 3, "three Rflushes sent");
	pthread_mutex_unlock(&S.lk);

	/* eight reads time out at once; their fids wait for all the Rflushes */
	fssettimeout(fs, 300);
	for(i = 0; i < 8; i++){
		wk[i].root = root;
		wk[i].bad = 0;
		pthread_create(&thr[i], NULL, slowreader, &wk[i]);
	}
	bad = 0;
	for(i = 0; i < 8; i++){
		pthread_join(thr[i], NULL);
		bad += wk[i].bad;
	}
	fssettimeout(fs, 0);
	is_int(bad, 0, "8 threads: open, read times out, clunk");
	is_int(waitflush(11), 11, "eight more Tflushes, each for a parked read");
	for(k = 0; k < 6; k++)
		keep[k] = fswalk(root, "file");
	for(k = 0; k < 6; k++)
		fsclose(keep[k]);
	pthread_mutex_lock(&S.lk);
	is_int(S.fidreuse, 0, "no held fid reused before its Rflush");
	is_int(S.tagreuse, 0, "no held tag reused before its Rflush");
	pthread_mutex_unlock(&S.lk);
	g = fswalk(root, "release");
	fsclose(g);
	pthread_mutex_lock(&S.lk);
	is_int(S.released, 11, "all Rflushes sent");
	pthread_mutex_unlock(&S.lk);
	for(k = 0; k < 12; k++)
		if((g = fsopen(root, "file", P9_OREAD)) == NULL || fspread(g, back, 10, 0) != 10)
			bad++;
		else
			fsclose(g);
	is_int(bad, 0, "the connection works on after the flushes");
	pthread_mutex_lock(&S.lk);
	is_int(S.fidreuse + S.tagreuse + S.badfid, 0, "and nothing was misused");
	pthread_mutex_unlock(&S.lk);

	/* authentication through the caller's function */
	S.needauth = 1;
	ok(fsattach(fs, NULL, "test", "") == NULL && strcmp(fserrstr(), "authentication required") == 0,
		"attach without auth refused: %s", fserrstr());
	nclunk0 = S.nclunk;
	g = fsmount(fs, "test", "", authfn, (void*)"secret");
	ok(g != NULL, "fsmount with the right secret: %s", g ? "" : fserrstr());
	ok(g != NULL && fsqid(g).type == P9_QTDIR, "root qid is a directory");
	is_int(S.nclunk - nclunk0, 1, "the afid was clunked");
	fsclose(g);
	g = fsmount(fs, "test", "", authfn, (void*)"wrong!");
	ok(g == NULL && strcmp(fserrstr(), "auth refused") == 0, "fsmount with a wrong secret fails: %s", fserrstr());
	f = fsauth(fs, "test", "");
	ok(f != NULL && (fsqid(f).type & P9_QTAUTH), "fsauth gives an auth fid");
	ok(fsattach(fs, f, "test", "") == NULL && strcmp(fserrstr(), "authentication failed") == 0,
		"attach with an afid that did not authenticate fails");
	fsclose(f);
	S.needauth = 0;
	pthread_mutex_lock(&S.lk);
	is_int(S.fidreuse + S.tagreuse + S.badfid, 0, "nothing misused during auth");
	pthread_mutex_unlock(&S.lk);

	/* hang-up: a waiting RPC fails, nothing hangs */
	slow = fsopen(root, "slow", P9_OREAD);
	pthread_mutex_lock(&S.lk);
	shutdown(S.fd, SHUT_RDWR);
	pthread_mutex_unlock(&S.lk);
	n = fspread(slow, back, 10, 0);
	ok(n == -1, "read fails when the server hangs up: %s", fserrstr());
	ok(fsopen(root, "file", P9_OREAD) == NULL, "later RPCs fail too");
	fsclose(slow);
	fsclose(root);
	fsunmount(fs);
	pthread_join(srv, NULL);
	close(S.fd);
	free(data);
	free(back);
	snprintf(addr, sizeof addr, "%s/sock", dir);
	unlink(addr);
	rmdir(dir);
	return done_testing();
}
