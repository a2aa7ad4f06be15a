/*
 * libmux: many RPCs over one connection, demultiplexed by tag.
 *
 * Without muxprocs there is no thread of our own: a caller that must wait
 * for something from the connection (its reply, or a free tag) and finds
 * nobody reading becomes the reader until what it waits for has come, then
 * hands the reading to another waiter.  After muxprocs a sender thread
 * drains a queue and a receiver thread reads.
 *
 * Cancelling must never deadlock on tags: with a cancel hook one tag is
 * kept for cancel requests, a cancel request that finds no tag is queued
 * (never blocking its caller) and gets the next tag released before any
 * ordinary caller, and it is dropped unsent if the reply it was to stop
 * comes first.
 *
 * Everything below is under Muxstate.lk except the calls of send and recv.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mux.h"

enum {
	Firsttags = 64,		/* tag table entries allocated at first */
};

#define Tagtop	((uint)INT_MAX + 1)	/* tags in use stay below */

/* Where a request is on its way out. */
enum {
	Sunsent,
	Squeued,		/* in the sender thread's queue */
	Ssending,		/* the sender thread is in send */
	Ssent,			/* sent, or will never be */
};

typedef struct Sleeper Sleeper;
typedef struct Tagwait Tagwait;

struct Muxrpc
{
	Mux	*mux;
	void	*req;
	void	*reply;
	uint	tag;
	int	hastag;		/* tag is ours: in the table */
	int	done;		/* reply came, or the RPC failed */
	int	sstate;
	int	cancelled;	/* abandoned by its owner: libmux frees it */
	int	wantorig;	/* muxrpcflush waits: keep the original reply */
	int	freereq;	/* req is ours: to the free hook once sent */
	int	iscancel;	/* a cancel request: libmux's own */
	int	replied;	/* cancelled, and its own reply has come */
	int	waitsent;	/* the owner waits for the send, not the reply */
	int	sendrv;		/* what send returned, in the sender thread */
	Muxrpc	*canceller;	/* the cancel request in flight for us */
	Muxrpc	*cancels;	/* we are a cancel request for this one */
	pthread_cond_t	cond;
	Muxrpc	*qnext;		/* sender queue */
	Muxrpc	*anext;		/* Muxstate.all */
	Muxrpc	*aprev;
};

/* A thread blocked in libmux: a candidate for becoming the reader. */
struct Sleeper
{
	pthread_cond_t	*cond;
	Sleeper	*next;
	Sleeper	*prev;
};

/* A thread waiting for a tag; release hands tags out in arrival order. */
struct Tagwait
{
	pthread_cond_t	cond;
	int	state;		/* 0 waiting, 1 got idx, -1 hung up */
	uint	idx;
	Tagwait	*next;
};

struct Muxstate
{
	pthread_mutex_t	lk;
	pthread_condattr_t	cattr;
	uint	ntag;		/* maxtag - mintag */
	uint	nalloc;		/* tag table entries allocated */
	Muxrpc	**slot;		/* tag - mintag -> RPC using it */
	uint	*freeq;		/* ring of free indices, nalloc long */
	uint	fhead;
	uint	fcount;
	Tagwait	*twhead;
	Tagwait	*twtail;
	Sleeper	sleep;		/* list head */
	Muxrpc	*all;		/* every malloc'd Muxrpc */
	int	reading;	/* a recv is in progress */
	int	hung;
	int	sending;	/* a thread is draining the send queue */

	int	procs;
	int	quit;
	pthread_t	sendthr;
	pthread_t	recvthr;
	pthread_cond_t	sendcond;
	pthread_cond_t	rdcond;
	Muxrpc	*sqhead;		/* to send: by the sender thread, or by flushq */
	Muxrpc	*sqtail;
	Muxrpc	*cqhead;		/* cancel requests waiting for a tag */
	Muxrpc	*cqtail;

	void	(*freemsg)(Mux*, void*);
	void	*(*mkcancel)(Mux*, uint);
};

static void
dfltfree(Mux *mux, void *msg)
{
	(void)mux;
	free(msg);
}

static void
dropmsg(Muxstate *s, Mux *mux, void *msg)
{
	if(msg != nil)
		s->freemsg(mux, msg);
}

void
muxinit(Mux *mux)
{
	Muxstate *s;
	uint top;

	mux->state = nil;
	s = calloc(1, sizeof *s);
	if(s == nil)
		return;		/* every RPC will fail */
	pthread_mutex_init(&s->lk, nil);
	pthread_condattr_init(&s->cattr);
	pthread_condattr_setclock(&s->cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->sendcond, nil);
	pthread_cond_init(&s->rdcond, nil);
	s->sleep.next = s->sleep.prev = &s->sleep;
	/* gettag returns an int: tags above INT_MAX could never be read back */
	top = mux->maxtag < Tagtop ? mux->maxtag : Tagtop;
	s->ntag = top > mux->mintag ? top - mux->mintag : 0;
	s->freemsg = dfltfree;
	mux->state = s;
}

void
muxsetfree(Mux *mux, void (*freemsg)(Mux*, void*))
{
	Muxstate *s = mux->state;

	if(s == nil)
		return;
	pthread_mutex_lock(&s->lk);
	s->freemsg = freemsg != nil ? freemsg : dfltfree;
	pthread_mutex_unlock(&s->lk);
}

void
muxsetcancel(Mux *mux, void *(*mkcancel)(Mux*, uint))
{
	Muxstate *s = mux->state;

	if(s == nil)
		return;
	pthread_mutex_lock(&s->lk);
	s->mkcancel = mkcancel;
	pthread_mutex_unlock(&s->lk);
}

int
muxhungup(Mux *mux)
{
	Muxstate *s = mux->state;
	int h;

	if(s == nil)
		return 1;
	pthread_mutex_lock(&s->lk);
	h = s->hung;
	pthread_mutex_unlock(&s->lk);
	return h;
}

/* ---- RPC records ---- */

static void
rpcinit(Mux *mux, Muxrpc *r)
{
	memset(r, 0, sizeof *r);
	r->mux = mux;
	pthread_cond_init(&r->cond, &mux->state->cattr);
}

static Muxrpc*
rpcalloc(Mux *mux)
{
	Muxstate *s = mux->state;
	Muxrpc *r;

	r = malloc(sizeof *r);
	if(r == nil)
		return nil;
	rpcinit(mux, r);
	r->anext = s->all;
	if(s->all != nil)
		s->all->aprev = r;
	s->all = r;
	return r;
}

/* Free a malloc'd r and whatever messages it still holds. */
static void
rpcfree(Muxstate *s, Muxrpc *r)
{
	Mux *mux = r->mux;

	dropmsg(s, mux, r->reply);
	if(r->freereq)
		dropmsg(s, mux, r->req);
	if(r->aprev != nil)
		r->aprev->anext = r->anext;
	else
		s->all = r->anext;
	if(r->anext != nil)
		r->anext->aprev = r->aprev;
	pthread_cond_destroy(&r->cond);
	free(r);
}

/* A cancel request nobody owns goes once it is answered and sent. */
static void
cancelreap(Muxstate *s, Muxrpc *c)
{
	if(c->done && c->sstate == Ssent && !c->hastag)
		rpcfree(s, c);
}

/* ---- tags ---- */

/* Make more of [mintag, maxtag) usable; 0 if there is no more. */
static int
growtags(Muxstate *s)
{
	uint n, i;
	Muxrpc **slot;
	uint *freeq;

	if(s->nalloc >= s->ntag)
		return 0;
	n = s->nalloc == 0 ? Firsttags : s->nalloc * 2;
	if(n > s->ntag || n < s->nalloc)
		n = s->ntag;
	slot = realloc(s->slot, n * sizeof slot[0]);
	if(slot == nil)
		return 0;
	s->slot = slot;
	freeq = realloc(s->freeq, n * sizeof freeq[0]);
	if(freeq == nil)
		return 0;
	s->freeq = freeq;
	/* only called with the ring empty, so it can start again at 0 */
	s->fhead = 0;
	for(i = s->nalloc; i < n; i++){
		slot[i] = nil;
		freeq[s->fcount++] = i;
	}
	s->nalloc = n;
	return 1;
}

/* Tags ordinary callers must leave free: one for cancel requests. */
static uint
reserve(Muxstate *s, int forcancel)
{
	return !forcancel && s->mkcancel != nil && s->ntag >= 2;
}

/* Take a free index if one may be had now: 1, or 0. */
static int
taketag(Muxstate *s, int forcancel, uint *idx)
{
	if(s->fcount + (s->ntag - s->nalloc) <= reserve(s, forcancel))
		return 0;
	if(s->fcount == 0 && !growtags(s))
		return 0;
	*idx = s->freeq[s->fhead];
	s->fhead = (s->fhead + 1) % s->nalloc;
	s->fcount--;
	return 1;
}

static void
bindtag(Mux *mux, Muxrpc *r, uint idx)
{
	mux->state->slot[idx] = r;
	r->tag = mux->mintag + idx;
	r->hastag = 1;
}

static void
ringput(Muxstate *s, uint idx)
{
	s->slot[idx] = nil;
	s->freeq[(s->fhead + s->fcount) % s->nalloc] = idx;
	s->fcount++;
}

/* Queue r's request for the sender thread, or for flushq. */
static void
enqueue(Muxstate *s, Muxrpc *r)
{
	r->sstate = Squeued;
	r->qnext = nil;
	if(s->sqtail != nil)
		s->sqtail->qnext = r;
	else
		s->sqhead = r;
	s->sqtail = r;
	if(s->procs)
		pthread_cond_signal(&s->sendcond);
}

static void cancelgone(Mux*, Muxrpc*);
static void flushq(Mux*);

/* The cancel request c has tag index idx: tag it and queue it. */
static void
launch(Mux *mux, Muxrpc *c, uint idx)
{
	Muxstate *s = mux->state;
	Muxrpc *o;

	bindtag(mux, c, idx);
	if(mux->settag(mux, c->req, c->tag) < 0){
		c->hastag = 0;
		ringput(s, idx);
		o = c->cancels;
		c->cancels = nil;
		rpcfree(s, c);
		cancelgone(mux, o);
		return;
	}
	enqueue(s, c);
}

/* Hand free tags to queued cancel requests first, then to waiting callers. */
static void
handout(Mux *mux)
{
	Muxstate *s = mux->state;
	Muxrpc *c;
	Tagwait *w;
	uint idx;

	while((c = s->cqhead) != nil && taketag(s, 1, &idx)){
		s->cqhead = c->qnext;
		if(s->cqhead == nil)
			s->cqtail = nil;
		c->qnext = nil;
		launch(mux, c, idx);
	}
	while((w = s->twhead) != nil && taketag(s, 0, &idx)){
		s->twhead = w->next;
		if(s->twhead == nil)
			s->twtail = nil;
		w->state = 1;
		w->idx = idx;
		pthread_cond_signal(&w->cond);
	}
}

static void
untag(Mux *mux, Muxrpc *r)
{
	if(r->hastag){
		r->hastag = 0;
		ringput(mux->state, r->tag - mux->mintag);
		handout(mux);
	}
}

static int awaitrpc(Mux*, Muxrpc*, int, const struct timespec*);
static int tagready(void*);
static int await(Mux*, pthread_cond_t*, int (*)(void*), void*, const struct timespec*);

/* Give r a free tag, waiting for one if need be: 0, or -1 when there never will be. */
static int
gettag(Mux *mux, Muxrpc *r)
{
	Muxstate *s = mux->state;
	Tagwait w;
	uint idx;

	if(s->hung || s->ntag == 0)
		return -1;
	if(s->twhead != nil || !taketag(s, 0, &idx)){
		memset(&w, 0, sizeof w);
		pthread_cond_init(&w.cond, &s->cattr);
		if(s->twtail != nil)
			s->twtail->next = &w;
		else
			s->twhead = &w;
		s->twtail = &w;
		await(mux, &w.cond, tagready, &w, nil);
		pthread_cond_destroy(&w.cond);
		if(w.state < 0)
			return -1;
		idx = w.idx;
	}
	bindtag(mux, r, idx);
	return 0;
}

static int
tagready(void *a)
{
	return ((Tagwait*)a)->state != 0;
}

/* ---- receiving ---- */

/* recv returned nil: fail everything, now and later. */
static void
hangup(Mux *mux)
{
	Muxstate *s = mux->state;
	Muxrpc *r;
	Tagwait *w;
	Sleeper *sl;
	uint i;

	s->hung = 1;
	/* cancel requests still waiting for a tag: their RPCs are in the table */
	while((r = s->cqhead) != nil){
		s->cqhead = r->qnext;
		if(r->cancels != nil)
			r->cancels->canceller = nil;
		r->cancels = nil;
		rpcfree(s, r);
	}
	s->cqtail = nil;
	for(i = 0; i < s->nalloc; i++){
		if((r = s->slot[i]) == nil)
			continue;
		s->slot[i] = nil;
		r->hastag = 0;
		r->done = 1;
		if(r->cancels != nil){
			r->cancels = nil;
			cancelreap(s, r);
		}else if(r->cancelled){
			r->canceller = nil;
			if(r->wantorig)
				pthread_cond_signal(&r->cond);
			else
				rpcfree(s, r);
		}else
			pthread_cond_signal(&r->cond);
	}
	while((w = s->twhead) != nil){
		s->twhead = w->next;
		w->state = -1;
		pthread_cond_signal(&w->cond);
	}
	s->twtail = nil;
	/* what the sender has not started on is never sent */
	while((r = s->sqhead) != nil){
		s->sqhead = r->qnext;
		r->sstate = Ssent;
		if(r->freereq){
			dropmsg(s, mux, r->req);
			r->req = nil;
			r->freereq = 0;
		}
		if(r->iscancel)
			cancelreap(s, r);
		else
			pthread_cond_signal(&r->cond);
	}
	s->sqtail = nil;
	for(sl = s->sleep.next; sl != &s->sleep; sl = sl->next)
		pthread_cond_signal(sl->cond);
	pthread_cond_broadcast(&s->sendcond);
}

static void
cqremove(Muxstate *s, Muxrpc *c)
{
	Muxrpc **l, *prev;

	prev = nil;
	for(l = &s->cqhead; *l != nil; l = &(*l)->qnext){
		if(*l == c){
			*l = c->qnext;
			if(s->cqtail == c)
				s->cqtail = prev;
			c->qnext = nil;
			return;
		}
		prev = *l;
	}
}

/* A message has come: give it to whoever waits for its tag. */
static void
dispatch(Mux *mux, void *m)
{
	Muxstate *s = mux->state;
	Muxrpc *r, *o, *c;
	int t;

	t = mux->gettag(mux, m);
	if(t < 0 || (uint)t < mux->mintag || (uint)t - mux->mintag >= s->nalloc
	|| (r = s->slot[(uint)t - mux->mintag]) == nil){
		dropmsg(s, mux, m);
		return;
	}
	if(r->cancels != nil){
		/* the answer to a cancel request: both tags are free again */
		o = r->cancels;
		r->cancels = nil;
		dropmsg(s, mux, m);
		r->done = 1;
		untag(mux, r);
		o->canceller = nil;
		untag(mux, o);
		if(o->wantorig){
			o->done = 1;
			pthread_cond_signal(&o->cond);
		}else
			rpcfree(s, o);
		cancelreap(s, r);
		return;
	}
	if(r->cancelled){
		r->replied = 1;
		if(r->wantorig && r->reply == nil)
			r->reply = m;
		else
			dropmsg(s, mux, m);
		if((c = r->canceller) != nil){
			if(c->hastag)
				return;	/* the tag stays reserved until the cancel is answered */
			/* the cancel is still waiting for a tag: it need not go at all */
			cqremove(s, c);
			r->canceller = nil;
			c->cancels = nil;
			rpcfree(s, c);
		}
		untag(mux, r);
		if(r->wantorig){
			r->done = 1;
			pthread_cond_signal(&r->cond);
		}else
			rpcfree(s, r);
		return;
	}
	untag(mux, r);
	r->reply = m;
	r->done = 1;
	pthread_cond_signal(&r->cond);
}

/* Read one message with the lock released, and dispatch it; me: the reader's cond. */
static void
readone(Mux *mux, pthread_cond_t *me)
{
	Sleeper *sl;

	Muxstate *s = mux->state;
	void *m;

	s->reading = 1;
	pthread_mutex_unlock(&s->lk);
	m = mux->recv(mux);
	pthread_mutex_lock(&s->lk);
	s->reading = 0;
	if(m == nil)
		hangup(mux);
	else
		dispatch(mux, m);
	if(s->procs)
		pthread_cond_broadcast(&s->rdcond);
	else if(s->sqhead != nil && !s->sending){
		/*
		 * Send the cancel requests given the tags just freed.  A send
		 * may block until the peer's replies are read: let another
		 * waiter read meanwhile.
		 */
		for(sl = s->sleep.next; sl != &s->sleep; sl = sl->next)
			if(sl->cond != me){
				pthread_cond_signal(sl->cond);
				break;
			}
		flushq(mux);
	}
}

/*
 * Wait on cond until ready(arg) or, if deadline is not nil, the deadline
 * passes (then 0).  Become the reader when nobody else is.  Lock held.
 */
static int
await(Mux *mux, pthread_cond_t *cond, int (*ready)(void*), void *arg, const struct timespec *deadline)
{
	Muxstate *s = mux->state;
	Sleeper me;
	int rv, e;

	rv = 1;
	me.cond = cond;
	me.next = &s->sleep;
	me.prev = s->sleep.prev;
	me.prev->next = &me;
	s->sleep.prev = &me;
	while(!ready(arg)){
		if(!s->reading && !s->procs && !s->hung){
			readone(mux, cond);
			continue;
		}
		if(deadline != nil){
			e = pthread_cond_timedwait(cond, &s->lk, deadline);
			if(e == ETIMEDOUT && !ready(arg)){
				rv = 0;
				break;
			}
		}else
			pthread_cond_wait(cond, &s->lk);
	}
	me.prev->next = me.next;
	me.next->prev = me.prev;
	/* someone else must read now */
	if(!s->reading && !s->procs && !s->hung && s->sleep.next != &s->sleep)
		pthread_cond_signal(s->sleep.next->cond);
	return rv;
}

static int
rpcready(void *a)
{
	Muxrpc *r = a;

	return r->done && r->sstate == Ssent;
}

static int
sentready(void *a)
{
	return ((Muxrpc*)a)->sstate == Ssent;
}

static int
awaitrpc(Mux *mux, Muxrpc *r, int justsent, const struct timespec *deadline)
{
	return await(mux, &r->cond, justsent ? sentready : rpcready, r, deadline);
}

/* ---- sending ---- */

/*
 * The cancel request for o is not going out.  If o's reply has come its
 * tag is free now; if not, that reply will free it.
 */
static void
cancelgone(Mux *mux, Muxrpc *o)
{
	Muxstate *s = mux->state;

	o->canceller = nil;
	if(!o->replied)
		return;
	untag(mux, o);
	if(o->wantorig){
		o->done = 1;
		pthread_cond_signal(&o->cond);
	}else
		rpcfree(s, o);
}

/* r's send failed: it fails, unless a reply beat the error back. */
static void
sendfailed(Mux *mux, Muxrpc *r)
{
	Muxrpc *o;

	if(r->done)
		return;
	untag(mux, r);
	r->done = 1;
	if((o = r->cancels) != nil){
		r->cancels = nil;
		cancelgone(mux, o);
	}
}

/*
 * Send r's request (tag set): by flushq without muxprocs, else by the
 * sender thread; the caller waits for it to be sent unless nowait.
 * Lock held on entry and exit.
 */
static void
sendrpc(Mux *mux, Muxrpc *r, int nowait)
{
	enqueue(mux->state, r);
	flushq(mux);
	if(!nowait){
		r->waitsent = 1;
		awaitrpc(mux, r, 1, nil);
		r->waitsent = 0;
	}
}

/*
 * Send everything queued now, with the lock released: one round of the
 * lock for the lot.  The caller has set s->sending, so this is the only
 * send running; while Ssending nobody else touches r->req or r->qnext.
 */
static void sentq(Mux*, Muxrpc*, void*, int);

static void
sendbatch(Mux *mux)
{
	Muxstate *s = mux->state;
	Muxrpc *r, *batch;

	batch = s->sqhead;
	s->sqhead = s->sqtail = nil;
	for(r = batch; r != nil; r = r->qnext)
		r->sstate = Ssending;
	pthread_mutex_unlock(&s->lk);
	for(r = batch; r != nil; r = r->qnext)
		r->sendrv = mux->send(mux, r->req);
	pthread_mutex_lock(&s->lk);
	while((r = batch) != nil){
		batch = r->qnext;
		r->qnext = nil;
		sentq(mux, r, r->req, r->sendrv);
	}
}

/* Sent r's queued request: the sender thread's or flushq's epilogue. */
static void
sentq(Mux *mux, Muxrpc *r, void *req, int n)
{
	Muxstate *s = mux->state;

	r->sstate = Ssent;
	if(n < 0)
		sendfailed(mux, r);
	if(r->freereq){
		r->freereq = 0;
		r->req = nil;
		dropmsg(s, mux, req);
	}
	if(r->iscancel)
		cancelreap(s, r);
	else if(r->done || r->waitsent)
		pthread_cond_signal(&r->cond);	/* else the reply wakes it */
}

/*
 * Without muxprocs, whoever queues a request (or frees a tag a queued
 * cancel request takes) sends what is queued, unless another thread is
 * at it already: then that one sends ours too.  Callers never wait for
 * each other's sends, so they are free to read meanwhile.  Lock held.
 */
static void
flushq(Mux *mux)
{
	Muxstate *s = mux->state;

	if(s->procs || s->sending)
		return;
	s->sending = 1;
	while(!s->procs && s->sqhead != nil)
		sendbatch(mux);
	s->sending = 0;
	if(s->procs)
		pthread_cond_signal(&s->sendcond);
}

/* Leave a public function: send what others left queued, then unlock. */
static void
unlock(Mux *mux)
{
	flushq(mux);
	pthread_mutex_unlock(&mux->state->lk);
}

static void*
sendproc(void *a)
{
	Mux *mux = a;
	Muxstate *s = mux->state;

	pthread_mutex_lock(&s->lk);
	for(;;){
		while((s->sqhead == nil || s->sending) && !s->quit)
			pthread_cond_wait(&s->sendcond, &s->lk);
		if(s->sqhead == nil || s->sending)
			break;
		s->sending = 1;
		sendbatch(mux);
		s->sending = 0;
	}
	pthread_mutex_unlock(&s->lk);
	return nil;
}

static void*
recvproc(void *a)
{
	Mux *mux = a;
	Muxstate *s = mux->state;
	void *m;

	pthread_mutex_lock(&s->lk);
	while(s->reading)
		pthread_cond_wait(&s->rdcond, &s->lk);
	while(!s->hung && !s->quit){
		s->reading = 1;
		pthread_mutex_unlock(&s->lk);
		m = mux->recv(mux);
		pthread_mutex_lock(&s->lk);
		s->reading = 0;
		if(m == nil)
			hangup(mux);
		else
			dispatch(mux, m);
	}
	pthread_mutex_unlock(&s->lk);
	return nil;
}

void
muxprocs(Mux *mux)
{
	Muxstate *s = mux->state;

	if(s == nil)
		return;
	pthread_mutex_lock(&s->lk);
	if(s->procs || s->quit){
		pthread_mutex_unlock(&s->lk);
		return;
	}
	if(pthread_create(&s->sendthr, nil, sendproc, mux) != 0){
		pthread_mutex_unlock(&s->lk);
		return;		/* carry on without */
	}
	if(pthread_create(&s->recvthr, nil, recvproc, mux) != 0){
		s->quit = 1;
		pthread_cond_broadcast(&s->sendcond);
		pthread_mutex_unlock(&s->lk);
		pthread_join(s->sendthr, nil);
		pthread_mutex_lock(&s->lk);
		s->quit = 0;
		pthread_mutex_unlock(&s->lk);
		return;
	}
	s->procs = 1;
	/* a caller reading now finds it should stop after this message */
	pthread_mutex_unlock(&s->lk);
}

void
muxthreads(Mux *mux)
{
	muxprocs(mux);
}

/* ---- RPCs ---- */

/* Tag and send r's request.  0, or -1 if it failed and r is done with. */
static int
start(Mux *mux, Muxrpc *r, int nowait)
{
	if(gettag(mux, r) < 0)
		return -1;
	/* settag is cheap: calling it here saves a round of the lock */
	if(mux->settag(mux, r->req, r->tag) < 0){
		untag(mux, r);
		return -1;
	}
	sendrpc(mux, r, nowait);
	return 0;
}

void*
muxrpc(Mux *mux, void *request)
{
	Muxstate *s = mux->state;
	Muxrpc r;
	void *reply;

	if(s == nil)
		return nil;
	pthread_mutex_lock(&s->lk);
	rpcinit(mux, &r);
	r.req = request;
	reply = nil;
	/* the wait for the reply covers the wait for the send */
	if(start(mux, &r, 1) == 0){
		awaitrpc(mux, &r, 0, nil);
		reply = r.reply;
	}
	unlock(mux);
	pthread_cond_destroy(&r.cond);
	return reply;
}

Muxrpc*
muxrpcstart(Mux *mux, void *request)
{
	Muxstate *s = mux->state;
	Muxrpc *r;

	if(s == nil)
		return nil;
	pthread_mutex_lock(&s->lk);
	r = rpcalloc(mux);
	if(r != nil){
		r->req = request;
		if(start(mux, r, 0) < 0){
			rpcfree(s, r);
			r = nil;
		}else
			r->req = nil;	/* sent: the caller's again */
	}
	unlock(mux);
	return r;
}

uint
muxrpctag(Muxrpc *r)
{
	return r != nil ? r->tag : 0;
}

int
muxrpcwait(Muxrpc *r, long ms)
{
	Muxstate *s;
	struct timespec ts;
	int rv;

	if(r == nil)
		return 1;	/* a failed muxrpcstart: finished */
	s = r->mux->state;
	if(ms >= 0){
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000L;
		if(ts.tv_nsec >= 1000000000L){
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&s->lk);
	rv = awaitrpc(r->mux, r, 0, ms >= 0 ? &ts : nil);
	unlock(r->mux);
	return rv;
}

void*
muxrpcfinish(Muxrpc *r)
{
	Mux *mux;
	void *reply;

	if(r == nil)
		return nil;
	mux = r->mux;
	pthread_mutex_lock(&mux->state->lk);
	awaitrpc(mux, r, 0, nil);
	reply = r->reply;
	r->reply = nil;
	rpcfree(mux->state, r);
	unlock(mux);
	return reply;
}

int
muxrpccanfinish(Muxrpc *r, void **reply)
{
	Mux *mux;

	if(r == nil){
		*reply = nil;
		return 1;
	}
	mux = r->mux;
	pthread_mutex_lock(&mux->state->lk);
	if(!rpcready(r)){
		unlock(mux);
		return 0;
	}
	*reply = r->reply;
	r->reply = nil;
	rpcfree(mux->state, r);
	unlock(mux);
	return 1;
}

/*
 * Give r to libmux and start the cancel request if the protocol has one:
 * it goes out now if a tag is free, else when one is.  Lock held.
 * 0 if r is libmux's now (and may be gone), 1 if it was finished already.
 */
static int
cancel(Mux *mux, Muxrpc *r)
{
	Muxstate *s = mux->state;
	Muxrpc *c;
	void *m;
	uint idx;

	if(r->done)
		return 1;
	r->cancelled = 1;
	if(s->mkcancel == nil)
		return 0;
	if((c = rpcalloc(mux)) == nil)
		return 0;
	if((m = s->mkcancel(mux, r->tag)) == nil){
		rpcfree(s, c);
		return 0;
	}
	c->req = m;
	c->freereq = 1;
	c->iscancel = 1;
	c->cancels = r;
	r->canceller = c;
	if(s->cqhead == nil && taketag(s, 1, &idx))
		launch(mux, c, idx);
	else{
		if(s->cqtail != nil)
			s->cqtail->qnext = c;
		else
			s->cqhead = c;
		s->cqtail = c;
	}
	return 0;
}

void
muxrpccancel(Muxrpc *r)
{
	Mux *mux;

	if(r == nil)
		return;
	mux = r->mux;
	pthread_mutex_lock(&mux->state->lk);
	/* if cancel gave r to libmux, r may be gone already */
	if(cancel(mux, r))
		rpcfree(mux->state, r);
	unlock(mux);
}

void*
muxrpcflush(Muxrpc *r)
{
	Mux *mux;
	void *reply;

	if(r == nil)
		return nil;
	mux = r->mux;
	pthread_mutex_lock(&mux->state->lk);
	r->wantorig = 1;
	cancel(mux, r);
	flushq(mux);
	awaitrpc(mux, r, 0, nil);
	reply = r->reply;
	r->reply = nil;
	rpcfree(mux->state, r);
	unlock(mux);
	return reply;
}

void
muxfree(Mux *mux)
{
	Muxstate *s = mux->state;
	Muxrpc *r;

	if(s == nil)
		return;
	pthread_mutex_lock(&s->lk);
	if(s->procs){
		s->quit = 1;
		pthread_cond_broadcast(&s->sendcond);
		pthread_mutex_unlock(&s->lk);
		pthread_join(s->sendthr, nil);
		pthread_join(s->recvthr, nil);
		pthread_mutex_lock(&s->lk);
	}
	while((r = s->all) != nil)
		rpcfree(s, r);
	pthread_mutex_unlock(&s->lk);
	free(s->slot);
	free(s->freeq);
	pthread_cond_destroy(&s->sendcond);
	pthread_cond_destroy(&s->rdcond);
	pthread_condattr_destroy(&s->cattr);
	pthread_mutex_destroy(&s->lk);
	free(s);
	mux->state = nil;
}
