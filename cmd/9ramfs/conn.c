/*
 * conn.c - one connection: its reader thread, its workers, admission,
 * Tflush and Tversion.
 *
 * A connection's reader thread frames what it reads and queues each
 * message as a Req, while the connection's bounds (maxreqs requests and
 * maxreqbytes bytes not yet answered and written) allow; when they do
 * not, it stops reading.  The reader and up to nthreads - 1 workers of
 * the connection (started when a batch needs them, gone after Idlesecs
 * with nothing to do) take requests from the queue and handle them at
 * once, so replies go out in any order.  A reply is made whole in its
 * Req and written by whichever thread finds nobody writing, many at a
 * time with writev.  A thread with more to do writes only once the
 * replies waiting reach Flushat, so a batch of small requests is
 * answered with one write.
 *
 * Tflush and Tversion are the reader's own.  A Tflush of a request not
 * yet answered waits for that reply and goes out right after it (no
 * request is cancelled, so the original always has its reply first); a
 * Tversion drops what is queued, waits for the requests being handled,
 * whose replies it drops too, and clunks every fid before its Rversion.
 *
 * A frame whose size is below 7 or above msize cannot be skipped safely,
 * so it ends that connection once what came before it is answered; any
 * other bad message gets an error reply.
 *
 * A request's buffers, its reply and the writing of the output are
 * req.c's; what a request does, msg.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "9p.h"
#include "log.h"
#include "ramfs.h"

uint32_t maxmsize = 8 * 1024 * 1024 + P9_IOHDRSZ;
int nthreads = 2;
uint32_t maxreqs = 64;
uint64_t maxreqbytes = 16 * 1024 * 1024;

enum {
	Flushat = 64 * 1024,	/* write replies out once this many bytes are waiting */
	Smallreply = 512,	/* what admission counts for a reply other than a read's */
	Wstack = 1024 * 1024,	/* a Fcall or two and a trace line; room for sanitizers */
	Idlesecs = 5,		/* a worker with nothing to do this long exits */
};

static pthread_attr_t wattr;
static pthread_once_t wonce = PTHREAD_ONCE_INIT;

static void
initwattr(void)
{
	pthread_attr_init(&wattr);
	pthread_attr_setstacksize(&wattr, Wstack);
	pthread_attr_setdetachstate(&wattr, PTHREAD_CREATE_DETACHED);
}

/* ---- the queue and the workers ---- */

/* Handle q, which is off the queue; Conn.lk is held, and let go meanwhile. */
static void
run(Conn *c, Req *q)
{
	Spare *sp;

	if(q->want > Keepout && q->want > q->outcap && (sp = c->spares) != NULL){
		c->spares = sp->next;
		c->sparebytes -= sp->cap;
		free(q->out);
		q->outcap = sp->cap;
		q->out = (uint8_t*)sp;
	}
	pthread_mutex_unlock(&c->lk);
	handle(q);
	pthread_mutex_lock(&c->lk);
	if(q->broken && !c->dead){
		/* a client waiting for a reply we cannot make would wait for ever */
		logerror("%s: out of memory for a reply; hanging up", c->name);
		c->dead = 1;
		shutdown(c->rfd, SHUT_RD);
	}
	if(q->aborted || q->broken)
		drop(c, q);
	else
		emit(c, q);
}

static Req *
dequeue(Conn *c)
{
	Req *q;

	q = c->qhead;
	if(q != NULL){
		c->qhead = q->next;
		if(c->qhead == NULL)
			c->qtail = NULL;
		c->nqueued--;
	}
	return q;
}

/* A worker: handle what is queued, write what is answered; exit when idle, or told to. */
static void *
worker(void *v)
{
	struct timespec ts;
	Conn *c;
	Req *q;
	int r;

	c = v;
	pthread_mutex_lock(&c->lk);
	for(;;){
		if((q = dequeue(c)) != NULL){
			run(c, q);
			if(c->obytes >= Flushat)
				flushout(c);
			continue;
		}
		/* nothing to do: first let the replies go (the last one idle writes them) */
		flushout(c);
		if(c->qhead != NULL)
			continue;
		if(c->stopping)
			break;
		c->nidle++;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += Idlesecs;
		r = pthread_cond_timedwait(&c->work, &c->lk, &ts);
		c->nidle--;
		if(c->nwake > 0)
			c->nwake--;
		/* a connection that has stopped pipelining keeps no threads; kick starts new ones */
		if(r == ETIMEDOUT && c->qhead == NULL)
			break;
	}
	if(--c->nworkers == 0)
		pthread_cond_signal(&c->gone);
	pthread_mutex_unlock(&c->lk);
	return NULL;
}

/*
 * Get workers going on what is queued, all but one request (the
 * reader takes that): wake idle ones, start more up to nthreads - 1.
 */
static void
kick(Conn *c)
{
	pthread_t t;
	int want, idle, r;

	want = (int)c->nqueued - 1;
	idle = c->nidle - c->nwake;
	for(; want > 0 && idle > 0; want--, idle--){
		c->nwake++;
		pthread_cond_signal(&c->work);
	}
	for(; want > 0 && c->nworkers < nthreads - 1; want--){
		pthread_once(&wonce, initwattr);
		r = pthread_create(&t, &wattr, worker, c);
		if(r != 0){
			logerror("%s: cannot start a thread: %s", c->name, strerror(r));
			break;
		}
		c->nworkers++;
	}
}

static void
enqueue(Conn *c, Req *q)
{
	q->next = NULL;
	if(c->qtail != NULL)
		c->qtail->next = q;
	else
		c->qhead = q;
	c->qtail = q;
	c->nqueued++;
	pendin(c, q);
}

/* ---- admission, Tflush and Tversion: the reader's ---- */

/* What admission counts for the frame p of n bytes: itself and the largest reply it can cause. */
static uint64_t
reqcost(const Conn *c, const uint8_t *p, uint32_t n)
{
	uint64_t r;

	r = Smallreply;
	if((p[4] == Tread || p[4] == Treaddir) && n >= P9_RWCOUNTOFF + 4){
		r = p9get32(p + P9_RWCOUNTOFF);
		if(r > iounit(c))
			r = iounit(c);
		r += P9_READHDRSZ;
	}
	return n + r;
}

/* Whether a request that costs cost must wait for others to go. */
static int
full(const Conn *c, uint64_t cost)
{
	if(c->nreq == 0)
		return 0;	/* one alone always goes, whatever its size */
	return c->nreq >= maxreqs || c->nbytes > maxreqbytes || cost > maxreqbytes - c->nbytes;
}

/*
 * The reader's step towards fewer requests in flight: run one that is
 * queued, or write what is answered, or sleep until a Req is freed.
 * Conn.lk held.
 */
static void
help(Conn *c)
{
	Req *q;
	uint32_t n;

	if((q = dequeue(c)) != NULL){
		kick(c);
		run(c, q);
		return;
	}
	n = c->nreq;
	flushout(c);
	if(c->nreq < n)
		return;
	c->readerwaits = 1;
	pthread_cond_wait(&c->room, &c->lk);
	c->readerwaits = 0;
}

/* Until nothing of c is in flight. */
static void
quiesce(Conn *c)
{
	while(c->nreq > 0)
		help(c);
}

/* Tflush q (for oldtag): answered now if nothing pending has that tag, else after it.  Conn.lk held. */
static void
flushreq(Conn *c, Req *q, uint16_t oldtag)
{
	Fcall r;
	Req *t;

	for(t = c->pending; t != NULL; t = t->pnext)
		if(t->tag == oldtag)
			break;
	pendin(c, q);
	memset(&r, 0, sizeof r);
	r.type = Rflush;
	r.tag = q->tag;
	q->outlen = 0;
	put(q, &r);
	if(q->broken){
		drop(c, q);
		c->dead = 1;
		shutdown(c->rfd, SHUT_RD);
		return;
	}
	if(t == NULL){
		if(loglevel() >= LOG_TRACE)
			trace(c, q->out, q->outlen, NULL, '>');
		emit(c, q);
		return;
	}
	q->fnext = NULL;
	if(t->lastflush != NULL)
		t->lastflush->fnext = q;
	else
		t->flushes = q;
	t->lastflush = q;
}

/*
 * Tversion: drop what is queued, let what runs finish unanswered, then
 * answer it alone.  Conn.lk held; the reader's.
 */
static void
reset(Conn *c, const uint8_t *p, uint32_t n)
{
	Req *q;

	for(q = c->pending; q != NULL; q = q->pnext)
		q->aborted = 1;
	while((q = dequeue(c)) != NULL)
		drop(c, q);
	quiesce(c);
	if((q = reqnew(c, p, n, 0)) == NULL){
		c->dead = 1;
		return;
	}
	pendin(c, q);
	run(c, q);
	flushout(c);
}

/* ---- the reader ---- */

/* Make room in c->ib for the rest of the frame begun at c->ioff, and more: 0, or -1. */
static int
refill(Conn *c)
{
	size_t left, want;
	uint32_t sz;
	Buf *b;

	left = c->ilen - c->ioff;
	want = Inbuf;
	/* a large frame gets a buffer of its own, read no further */
	if(left >= 4 && (sz = p9get32(c->ib->data + c->ioff)) > want)
		want = sz;
	c->iend = want;
	pthread_mutex_lock(&c->lk);
	if(c->ib->ref == 1 && c->ib->cap >= want && (want > Inbuf || c->ib->cap == Inbuf))
		memmove(c->ib->data, c->ib->data + c->ioff, left);
	else if((b = bufnew(c, want)) != NULL){
		/* requests still use the old one, or it is the wrong size */
		memcpy(b->data, c->ib->data + c->ioff, left);
		bufput(c, c->ib);
		c->ib = b;
	}else{
		pthread_mutex_unlock(&c->lk);
		logerror("%s: out of memory for a %zu-byte message", c->name, want);
		return -1;
	}
	pthread_mutex_unlock(&c->lk);
	c->ioff = 0;
	c->ilen = left;
	return 0;
}

Conn *
connnew(int rfd, int wfd, const char *name)
{
	pthread_condattr_t ca;
	Conn *c;

	c = calloc(1, sizeof *c);
	if(c == NULL)
		return NULL;
	c->rfd = rfd;
	c->wfd = wfd;
	snprintf(c->name, sizeof c->name, "%s", name);
	c->msize = maxmsize;
	c->dialect = P9_2000;
	c->fsize = 64;
	c->fids = calloc(c->fsize, sizeof c->fids[0]);
	c->ib = bufnew(c, Inbuf);
	if(c->fids == NULL || c->ib == NULL){
		free(c->fids);
		free(c->ib);
		free(c);
		return NULL;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&c->lk, NULL);
	pthread_cond_init(&c->work, &ca);
	pthread_cond_init(&c->gone, NULL);
	pthread_cond_init(&c->room, NULL);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->flk, NULL);
	return c;
}

/* Whether the frame p of n bytes is a Tflush the reader can take, and for which tag. */
static int
isflush(Conn *c, const uint8_t *p, uint32_t n, uint16_t *oldtag)
{
	Fcall t;

	if(p[4] != Tflush || !c->versioned || p9decode(p, n, c->msize, c->dialect, &t) != (long)n)
		return 0;
	if(loglevel() >= LOG_TRACE)
		trace(c, p, n, &t, '<');
	*oldtag = t.oldtag;
	return 1;
}

void
connserve(Conn *c)
{
	const uint8_t *p;
	uint64_t cost;
	uint16_t oldtag;
	ssize_t n;
	long m;
	Req *q;
	int dead;

	logmsg(LOG_CONN, "%s: connected", c->name);
	for(;;){
		m = 0;
		pthread_mutex_lock(&c->lk);
		while(!c->dead && (m = p9frame(c->ib->data + c->ioff, c->ilen - c->ioff, c->msize)) > 0){
			p = c->ib->data + c->ioff;
			c->ioff += (size_t)m;
			if(p[4] == Tversion){
				reset(c, p, (uint32_t)m);
				continue;
			}
			cost = reqcost(c, p, (uint32_t)m);
			while(full(c, cost))
				help(c);
			if((q = reqnew(c, p, (uint32_t)m, cost)) == NULL){
				logerror("%s: out of memory for a request", c->name);
				c->dead = 1;
				break;
			}
			if(isflush(c, p, (uint32_t)m, &oldtag))
				flushreq(c, q, oldtag);
			else
				enqueue(c, q);
		}
		/* the batch: workers take all but one, and the reader the rest */
		kick(c);
		while((q = dequeue(c)) != NULL)
			run(c, q);
		flushout(c);
		dead = c->dead;
		pthread_mutex_unlock(&c->lk);
		if(dead)
			break;
		if(m < 0){
			logmsg(LOG_CONN, "%s: %s; hanging up", c->name, p9strerror((int)m));
			break;
		}
		if(refill(c) < 0)
			break;
		n = read(c->rfd, c->ib->data + c->ilen, c->iend - c->ilen);
		if(n < 0 && errno == EINTR)
			continue;
		if(n <= 0)
			break;
		c->ilen += (size_t)n;
	}
	logmsg(LOG_CONN, "%s: gone", c->name);
	connfree(c);
}

void
connfree(Conn *c)
{
	Fid *f;
	Req *q;
	Buf *b;
	Spare *sp;

	/* what was read is answered, as far as the connection lets us */
	pthread_mutex_lock(&c->lk);
	while((q = dequeue(c)) != NULL)
		run(c, q);
	quiesce(c);
	c->stopping = 1;
	pthread_cond_broadcast(&c->work);
	while(c->nworkers > 0)
		pthread_cond_wait(&c->gone, &c->lk);
	pthread_mutex_unlock(&c->lk);
	pthread_rwlock_wrlock(&fs.tree);
	clunkall(c);
	pthread_rwlock_unlock(&fs.tree);
	close(c->rfd);
	if(c->wfd != c->rfd)
		close(c->wfd);
	while((f = c->freefids) != NULL){
		c->freefids = f->next;
		pthread_rwlock_destroy(&f->lk);
		free(f);
	}
	while((q = c->freereqs) != NULL){
		c->freereqs = q->next;
		free(q->out);
		free(q);
	}
	free(c->ib);
	free(c->bigbuf);
	while((b = c->freebufs) != NULL){
		c->freebufs = b->next;
		free(b);
	}
	while((sp = c->spares) != NULL){
		c->spares = sp->next;
		free(sp);
	}
	pthread_mutex_destroy(&c->lk);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->gone);
	pthread_cond_destroy(&c->room);
	pthread_mutex_destroy(&c->flk);
	free(c->fids);
	free(c);
}
