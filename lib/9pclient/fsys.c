/*
 * The connection: version negotiation, libmux hooks, RPCs, flushing
 * abandoned requests, the fid number allocator and error strings.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "dial.h"
#include "impl.h"

static _Thread_local char errbuf[256];

const char *
fserrstr(void)
{
	return errbuf;
}

void
fswerrstr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
}

static void
syserr(const char *what, int e)
{
	char s[128];

	if(strerror_r(e, s, sizeof s) != 0)
		snprintf(s, sizeof s, "error %d", e);
	fswerrstr("%s: %s", what, s);
}

char *
fsstrdup(P9str s)
{
	char *p;

	p = malloc((size_t)s.n + 1);
	if(p == NULL)
		return NULL;
	if(s.n > 0)
		memcpy(p, s.s, s.n);
	p[s.n] = '\0';
	return p;
}

void
msgfree(Msg *m)
{
	if(m == NULL)
		return;
	free(m->buf);
	free(m);
}

/* Encode f (its tag is set later by libmux) into a new Msg. */
static Msg *
msgpack(CFsys *fs, const Fcall *f)
{
	Msg *m;
	size_t n;

	n = p9size(f, fs->dialect);
	if(n == 0){
		fswerrstr("cannot encode %s", p9typename(f->type) ? p9typename(f->type) : "message");
		return NULL;
	}
	if(n > fs->msize){
		fswerrstr("%s of %zu bytes exceeds msize %u", p9typename(f->type), n, fs->msize);
		return NULL;
	}
	m = calloc(1, sizeof *m);
	if(m == NULL || (m->buf = malloc(n)) == NULL){
		free(m);
		fswerrstr("out of memory");
		return NULL;
	}
	if(p9encode(m->buf, n, f, fs->dialect) != n){
		msgfree(m);
		fswerrstr("cannot encode %s", p9typename(f->type));
		return NULL;
	}
	m->len = (uint32_t)n;
	m->tag = f->tag;
	return m;
}

static int
writen(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while(n > 0){
		w = send(fd, p, n, MSG_NOSIGNAL);
		if(w < 0 && errno == ENOTSOCK)
			w = write(fd, p, n);
		if(w < 0){
			if(errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
readn(int fd, uint8_t *p, size_t n)
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

/* Read one frame: size[4] then the rest; NULL if the connection broke or the size is impossible. */
static Msg *
readmsg(int fd, uint32_t msize)
{
	uint8_t hdr[4];
	uint32_t n;
	Msg *m;

	if(readn(fd, hdr, 4) < 0)
		return NULL;
	n = p9get32(hdr);
	if(n < P9_HDRSZ || n > msize)
		return NULL;
	m = calloc(1, sizeof *m);
	if(m == NULL || (m->buf = malloc(n)) == NULL){
		free(m);
		return NULL;
	}
	memcpy(m->buf, hdr, 4);
	if(readn(fd, m->buf + 4, n - 4) < 0){
		msgfree(m);
		return NULL;
	}
	m->len = n;
	m->tag = p9get16(m->buf + P9_TAGOFF);
	return m;
}

/*
 * libmux hooks.
 */

static int
muxsettag(Mux *mux, void *v, uint tag)
{
	CFsys *fs = mux->aux;
	Msg *m = v;

	m->tag = (uint16_t)tag;
	p9put16(m->buf + P9_TAGOFF, (uint16_t)tag);
	if(m->ab != NULL){
		pthread_mutex_lock(&fs->lk);
		m->ab->flushtag = (int)tag;
		pthread_mutex_unlock(&fs->lk);
	}
	return 0;
}

static int
muxgettag(Mux *mux, void *v)
{
	Msg *m = v;

	(void)mux;
	return p9get16(m->buf + P9_TAGOFF);
}

static int
muxsend(Mux *mux, void *v)
{
	CFsys *fs = mux->aux;
	Msg *m = v;
	int r;

	pthread_mutex_lock(&fs->wlk);
	r = writen(fs->fd, m->buf, m->len);
	pthread_mutex_unlock(&fs->wlk);
	return r;
}

static void *
muxrecv(Mux *mux)
{
	CFsys *fs = mux->aux;

	return readmsg(fs->fd, fs->msize);
}

static int
zombieheld(CFsys *fs, uint32_t fid)
{
	Abandon *a;

	for(a = fs->abandoned; a != NULL; a = a->next)
		if(a->fid == fid || a->own == fid)
			return 1;
	return 0;
}

/* Put a fid number back on the free list; fs->lk is held. */
static void
putfidlocked(CFsys *fs, uint32_t fid)
{
	uint32_t *p;
	uint32_t n;

	if(zombieheld(fs, fid)){
		if(fs->nzombie == fs->azombie){
			n = fs->azombie ? 2 * fs->azombie : 16;
			p = realloc(fs->zombies, n * sizeof *p);
			if(p == NULL)
				return;	/* the number is lost, never reused: safe */
			fs->zombies = p;
			fs->azombie = n;
		}
		fs->zombies[fs->nzombie++] = fid;
		return;
	}
	if(fs->nfree == fs->afree){
		n = fs->afree ? 2 * fs->afree : 16;
		p = realloc(fs->freefids, n * sizeof *p);
		if(p == NULL)
			return;
		fs->freefids = p;
		fs->afree = n;
	}
	fs->freefids[fs->nfree++] = fid;
}

/* Zombie numbers no Abandon holds any more go back to the free list; fs->lk is held. */
static void
reapzombies(CFsys *fs)
{
	uint32_t i, fid;

	for(i = 0; i < fs->nzombie; ){
		fid = fs->zombies[i];
		if(zombieheld(fs, fid)){
			i++;
			continue;
		}
		fs->zombies[i] = fs->zombies[--fs->nzombie];
		putfidlocked(fs, fid);
	}
}

static void
addjob(CFsys *fs, uint32_t fid)
{
	Job *j;

	j = calloc(1, sizeof *j);
	if(j == NULL)
		return;	/* the fid stays on the server and its number is never reused */
	j->fid = fid;
	*fs->jobtail = j;
	fs->jobtail = &j->next;
	pthread_cond_signal(&fs->jobcond);
}

/*
 * The Tflush for a is answered: its tag is free again, and so is the
 * fid number it owns, unless the server holds that fid without our
 * knowing (a creating request that succeeded after all, a clunk that
 * never happened): then the janitor clunks it first.  fs->lk is held.
 */
static void
finishabandon(CFsys *fs, Abandon *a)
{
	Abandon **l;
	int held;

	for(l = &fs->abandoned; *l != NULL; l = &(*l)->next)
		if(*l == a){
			*l = a->next;
			break;
		}
	if(a->own != P9_NOFID){
		if(a->type == Tclunk || a->type == Tremove)
			held = !a->gotreply;
		else
			held = a->gotreply && a->replyok;
		if(held && !fs->closing)
			addjob(fs, a->own);
		else if(!held)
			putfidlocked(fs, a->own);
	}
	free(a);
	reapzombies(fs);
}

/* libmux hands us every message no RPC waits for: replies to abandoned requests among them. */
static void
muxfreemsg(Mux *mux, void *v)
{
	CFsys *fs = mux->aux;
	Msg *m = v;
	Abandon *a;
	uint8_t type;
	uint16_t tag;

	if(m == NULL)
		return;
	if(m->isflush){
		/*
		 * Our own Tflush, which libmux is done with.  If it never got
		 * a tag, it was dropped unsent because the reply came first:
		 * the request is over.
		 */
		pthread_mutex_lock(&fs->lk);
		for(a = fs->abandoned; a != NULL; a = a->next)
			if(a == m->ab && a->flushtag == -2){
				finishabandon(fs, a);
				break;
			}
		pthread_mutex_unlock(&fs->lk);
		msgfree(m);
		return;
	}
	if(m->len < P9_HDRSZ){
		msgfree(m);
		return;
	}
	type = m->buf[4];
	tag = p9get16(m->buf + P9_TAGOFF);
	if(type % 2 == 1){
		pthread_mutex_lock(&fs->lk);
		for(a = fs->abandoned; a != NULL; a = a->next){
			if(a->flushtag == (int)tag && (type == Rflush || type == Rerror || type == Rlerror)){
				finishabandon(fs, a);
				break;
			}
			if(a->oldtag == tag && !a->gotreply){
				a->gotreply = 1;
				a->replyok = type == a->type + 1;
				if(a->replyok && a->type == Twalk && m->len >= P9_HDRSZ + 2)
					a->replyok = p9get16(m->buf + P9_HDRSZ) == a->nwname;
				break;
			}
		}
		pthread_mutex_unlock(&fs->lk);
	}
	msgfree(m);
}

static void *
muxmkcancel(Mux *mux, uint oldtag)
{
	CFsys *fs = mux->aux;
	Fcall f;
	Msg *m;
	Abandon *a;

	memset(&f, 0, sizeof f);
	f.type = Tflush;
	f.tag = 0;
	f.oldtag = (uint16_t)oldtag;
	m = msgpack(fs, &f);
	if(m == NULL)
		return NULL;
	pthread_mutex_lock(&fs->lk);
	for(a = fs->abandoned; a != NULL; a = a->next)
		if(a->oldtag == oldtag && a->flushtag == -1)
			break;
	if(a != NULL)
		a->flushtag = -2;	/* a Tflush is on its way; settag gives the tag */
	m->ab = a;
	m->isflush = 1;
	pthread_mutex_unlock(&fs->lk);
	return m;
}

static void *
janitor(void *v)
{
	CFsys *fs = v;
	Job *j;
	Fcall tx, rx;
	Msg *rm;

	pthread_mutex_lock(&fs->lk);
	for(;;){
		while(fs->jobs == NULL && !fs->closing)
			pthread_cond_wait(&fs->jobcond, &fs->lk);
		if(fs->jobs == NULL)
			break;
		j = fs->jobs;
		fs->jobs = j->next;
		if(fs->jobs == NULL)
			fs->jobtail = &fs->jobs;
		pthread_mutex_unlock(&fs->lk);

		memset(&tx, 0, sizeof tx);
		tx.type = Tclunk;
		tx.fid = j->fid;
		rm = NULL;
		if(fsrpc(fs, &tx, &rx, &rm) == 0 || rm != NULL){
			/* answered (Rclunk or an error): the fid is gone */
			msgfree(rm);
			pthread_mutex_lock(&fs->lk);
			putfidlocked(fs, j->fid);
		}else
			pthread_mutex_lock(&fs->lk);
		free(j);
	}
	pthread_mutex_unlock(&fs->lk);
	return NULL;
}

/*
 * RPCs.
 */

/* The fid an abandoned request was creating, if any. */
static uint32_t
creating(const Fcall *f)
{
	switch(f->type){
	case Tattach:
		return f->fid;
	case Tauth:
		return f->afid;
	case Twalk:
		return f->newfid != f->fid ? f->newfid : P9_NOFID;
	case Txattrwalk:
		return f->newfid;
	}
	return P9_NOFID;
}

static uint32_t
using(const Fcall *f)
{
	switch(f->type){
	case Tversion: case Tauth: case Tattach: case Tflush:
		return P9_NOFID;
	}
	return f->fid;
}

static void
abandon(CFsys *fs, Muxrpc *r, Msg *m, const Fcall *tx)
{
	Abandon *a, *p;

	a = calloc(1, sizeof *a);
	if(a == NULL){
		/* without a record the fid numbers are simply never reused */
		muxrpccancel(r);
		return;
	}
	a->type = tx->type;
	a->oldtag = m->tag;
	a->flushtag = -1;
	a->fid = using(tx);
	a->own = creating(tx);
	if(tx->type == Tclunk || tx->type == Tremove)
		a->own = tx->fid;
	a->nwname = tx->type == Twalk ? tx->nwname : 0;
	pthread_mutex_lock(&fs->lk);
	a->next = fs->abandoned;
	fs->abandoned = a;
	pthread_mutex_unlock(&fs->lk);

	muxrpccancel(r);

	/*
	 * No Tflush went out when the reply beat us to it: the request is
	 * over, and its reply went to muxfreemsg.
	 */
	pthread_mutex_lock(&fs->lk);
	for(p = fs->abandoned; p != NULL; p = p->next)
		if(p == a && a->flushtag == -1){
			finishabandon(fs, a);
			break;
		}
	pthread_mutex_unlock(&fs->lk);
}

static void
servererror(const Fcall *rx)
{
	if(rx->type == Rerror)
		fswerrstr("%.*s", (int)rx->ename.n, rx->ename.s ? rx->ename.s : "");
	else{
		char s[128];

		if(strerror_r((int)rx->errnum, s, sizeof s) != 0)
			snprintf(s, sizeof s, "error %u", rx->errnum);
		fswerrstr("%s", s);
	}
}

int
fsrpc(CFsys *fs, Fcall *tx, Fcall *rx, Msg **rmsg)
{
	Msg *m, *rm;
	Muxrpc *r;
	long n;

	*rmsg = NULL;
	m = msgpack(fs, tx);
	if(m == NULL)
		return -1;
	r = muxrpcstart(&fs->mux, m);
	if(r == NULL){
		msgfree(m);
		fswerrstr("connection closed");
		return -1;
	}
	if(fs->timeout > 0 && muxrpcwait(r, fs->timeout) == 0){
		abandon(fs, r, m, tx);
		msgfree(m);
		fswerrstr("%s timed out", p9typename(tx->type));
		return FSABANDONED;
	}
	rm = muxrpcfinish(r);
	msgfree(m);
	if(rm == NULL){
		fswerrstr("connection closed");
		return -1;
	}
	n = p9decode(rm->buf, rm->len, fs->msize, fs->dialect, rx);
	if(n <= 0){
		fswerrstr("bad reply: %s", p9strerror((int)n));
		msgfree(rm);
		return -1;
	}
	*rmsg = rm;
	if(rx->type == Rerror || rx->type == Rlerror){
		servererror(rx);
		return -1;
	}
	if(rx->type != tx->type + 1){
		fswerrstr("%s answered with %s", p9typename(tx->type),
			p9typename(rx->type) ? p9typename(rx->type) : "unknown type");
		return -1;
	}
	return 0;
}

/*
 * Connections.
 */

static int
version(CFsys *fs, int dialect, uint32_t msize)
{
	Fcall tx, rx;
	Msg *m, *rm;
	int d;

	memset(&tx, 0, sizeof tx);
	tx.type = Tversion;
	tx.tag = P9_NOTAG;
	tx.msize = msize;
	tx.version = p9str(p9dialectname(dialect));
	fs->msize = msize;
	fs->dialect = dialect;
	m = msgpack(fs, &tx);
	if(m == NULL)
		return -1;
	if(writen(fs->fd, m->buf, m->len) < 0){
		syserr("write Tversion", errno);
		msgfree(m);
		return -1;
	}
	msgfree(m);
	rm = readmsg(fs->fd, msize);
	if(rm == NULL){
		fswerrstr("connection closed during version");
		return -1;
	}
	if(p9decode(rm->buf, rm->len, msize, dialect, &rx) <= 0 || rx.tag != P9_NOTAG){
		if(rm->len >= P9_HDRSZ && (rm->buf[4] == Rerror || rm->buf[4] == Rlerror)
		&& p9decode(rm->buf, rm->len, msize, rm->buf[4] == Rerror ? P9_2000 : P9_2000L, &rx) > 0)
			servererror(&rx);
		else
			fswerrstr("bad Rversion");
		msgfree(rm);
		return -1;
	}
	if(rx.type != Rversion){
		if(rx.type == Rerror || rx.type == Rlerror)
			servererror(&rx);
		else
			fswerrstr("bad Rversion");
		msgfree(rm);
		return -1;
	}
	d = p9dialect(rx.version.s, rx.version.n);
	if(d != dialect){
		fswerrstr("server speaks %.*s, not %s", (int)rx.version.n,
			rx.version.s ? rx.version.s : "", p9dialectname(dialect));
		msgfree(rm);
		return -1;
	}
	if(rx.msize < P9_MINMSIZE || rx.msize > msize){
		fswerrstr("server chose msize %u", rx.msize);
		msgfree(rm);
		return -1;
	}
	fs->msize = rx.msize;
	msgfree(rm);
	return 0;
}

CFsys *
fsinit(int fd, int dialect, uint32_t msize)
{
	CFsys *fs;

	if(dialect != P9_2000 && dialect != P9_2000L){
		fswerrstr("unsupported dialect");
		close(fd);
		return NULL;
	}
	if(msize < P9_MINMSIZE){
		fswerrstr("msize %u below %d", msize, P9_MINMSIZE);
		close(fd);
		return NULL;
	}
	fs = calloc(1, sizeof *fs);
	if(fs == NULL){
		fswerrstr("out of memory");
		close(fd);
		return NULL;
	}
	fs->fd = fd;
	fs->nextfid = 1;
	fs->jobtail = &fs->jobs;
	pthread_mutex_init(&fs->lk, NULL);
	pthread_mutex_init(&fs->wlk, NULL);
	pthread_cond_init(&fs->jobcond, NULL);
	if(version(fs, dialect, msize) < 0){
		fsunmount(fs);
		return NULL;
	}
	fs->mux.mintag = 0;
	fs->mux.maxtag = P9_NOTAG;	/* NOTAG itself is never used */
	fs->mux.settag = muxsettag;
	fs->mux.gettag = muxgettag;
	fs->mux.send = muxsend;
	fs->mux.recv = muxrecv;
	fs->mux.aux = fs;
	muxinit(&fs->mux);
	muxsetfree(&fs->mux, muxfreemsg);
	muxsetcancel(&fs->mux, muxmkcancel);
	muxprocs(&fs->mux);
	fs->muxup = 1;
	if(pthread_create(&fs->janitor, NULL, janitor, fs) != 0){
		fswerrstr("cannot start a thread");
		fsunmount(fs);
		return NULL;
	}
	fs->janitorup = 1;
	return fs;
}

CFsys *
fsdial(const char *addr, int dialect, uint32_t msize)
{
	char err[256];
	int fd;

	fd = dial(addr, err, sizeof err);
	if(fd < 0){
		fswerrstr("%s", err);
		return NULL;
	}
	return fsinit(fd, dialect, msize);
}

void
fsunmount(CFsys *fs)
{
	Abandon *a;
	Job *j;

	if(fs == NULL)
		return;
	pthread_mutex_lock(&fs->lk);
	fs->closing = 1;
	pthread_cond_broadcast(&fs->jobcond);
	pthread_mutex_unlock(&fs->lk);
	/* wakes the reader: every waiting RPC fails */
	shutdown(fs->fd, SHUT_RDWR);
	if(fs->janitorup)
		pthread_join(fs->janitor, NULL);
	if(fs->muxup)
		muxfree(&fs->mux);
	close(fs->fd);
	while((a = fs->abandoned) != NULL){
		fs->abandoned = a->next;
		free(a);
	}
	while((j = fs->jobs) != NULL){
		fs->jobs = j->next;
		free(j);
	}
	free(fs->freefids);
	free(fs->zombies);
	pthread_cond_destroy(&fs->jobcond);
	pthread_mutex_destroy(&fs->wlk);
	pthread_mutex_destroy(&fs->lk);
	free(fs);
}

int
fsdialect(CFsys *fs)
{
	return fs->dialect;
}

uint32_t
fsmsize(CFsys *fs)
{
	return fs->msize;
}

void
fssettimeout(CFsys *fs, long ms)
{
	fs->timeout = ms > 0 ? ms : 0;
}

/*
 * Fid numbers.
 */

CFid *
fidalloc(CFsys *fs)
{
	CFid *f;

	f = calloc(1, sizeof *f);
	if(f == NULL){
		fswerrstr("out of memory");
		return NULL;
	}
	pthread_mutex_lock(&fs->lk);
	if(fs->nfree > 0)
		f->fid = fs->freefids[--fs->nfree];
	else if(fs->nextfid == P9_NOFID){
		pthread_mutex_unlock(&fs->lk);
		free(f);
		fswerrstr("out of fids");
		return NULL;
	}else
		f->fid = fs->nextfid++;
	pthread_mutex_unlock(&fs->lk);
	f->fs = fs;
	f->mode = -1;
	pthread_mutex_init(&f->lk, NULL);
	return f;
}

void
fidfreehandle(CFid *f)
{
	pthread_mutex_destroy(&f->lk);
	free(f);
}

void
fidfree(CFid *f)
{
	CFsys *fs;

	if(f == NULL)
		return;
	fs = f->fs;
	pthread_mutex_lock(&fs->lk);
	putfidlocked(fs, f->fid);
	pthread_mutex_unlock(&fs->lk);
	pthread_mutex_destroy(&f->lk);
	free(f);
}

uint32_t
fidiomax(CFid *f, int writing)
{
	uint32_t m;

	/* reads too: servers such as diod refuse counts above msize-IOHDRSZ */
	(void)writing;
	m = f->fs->msize - P9_IOHDRSZ;
	if(f->iounit > 0 && f->iounit < m)
		m = f->iounit;
	return m;
}
