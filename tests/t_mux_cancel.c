/*
 * The extensions: messages with unknown tags reach the free hook (and
 * LeakSanitizer, in the sanitizer build, finds nothing leaked with the
 * default hook either); asynchronous RPCs; timeouts; cancelling through
 * the protocol's hook, with the old tag kept until the cancel is
 * answered; muxrpcflush; muxfree with work outstanding.
 */
#include <pthread.h>
#include <stdio.h>

#include "tap.h"
#include "mux_prog/echo.h"

static const char*
mode(int procs)
{
	return procs ? "muxprocs" : "no procs";
}

static unsigned char*
rpc(Conn *c, uint32_t type, uint64_t id, uint32_t delay, uint32_t arg, uint32_t arg2)
{
	unsigned char *req, *rep;

	req = mkmsg(type, id, delay, arg, arg2, 5);
	rep = muxrpc(&c->mux, req);
	free(req);
	return rep;
}

/* Strays with tags -1, out of range, and in range but unused. */
static void
strays(int procs, int hook)
{
	Srvopt o = {0, 0};
	Conn *c;
	pid_t pid;
	unsigned char *rep;
	int i, good;

	c = echoconn(o, 100, 104, &pid);
	if(hook)
		muxsetfree(&c->mux, echo_free);
	if(procs)
		muxprocs(&c->mux);
	good = 0;
	for(i = 0; i < 20; i++){
		rep = rpc(c, Textra, (uint64_t)i, 1000, 100, 104);
		good += rep != NULL && MTYPE(rep) == Rextra && MID(rep) == (uint64_t)i;
		free(rep);
	}
	is_int(good, 20, "%s, %s free hook: 20 RPCs answered among strays", mode(procs), hook ? "own" : "default");
	if(hook)
		is_int(atomic_load(&c->freed), 60, "  60 stray messages (tags -1, 1000000, unused) reached the free hook");
	echoclose(c, pid);
}

static void
async(int procs)
{
	Srvopt o = {2000, 0};
	Conn *c;
	pid_t pid;
	unsigned char *req, *rep;
	Muxrpc *r[40];
	int i, good;

	c = echoconn(o, 0, 16, &pid);
	muxsetfree(&c->mux, echo_free);
	if(procs)
		muxprocs(&c->mux);
	/* more than the tags: muxrpcstart waits for tags as it must */
	for(i = 0; i < 16; i++){
		req = mkmsg(Tping, (uint64_t)i, Dfltdelay, 0, 0, 7);
		r[i] = muxrpcstart(&c->mux, req);
		free(req);	/* libmux is done with it once started */
	}
	good = 0;
	for(i = 15; i >= 0; i--){
		if(r[i] == NULL)
			continue;
		rep = muxrpcfinish(r[i]);
		good += rep != NULL && MID(rep) == (uint64_t)i && paycheck(rep, (uint64_t)i);
		free(rep);
	}
	is_int(good, 16, "%s: 16 asynchronous RPCs finished in reverse order, each with its reply", mode(procs));
	is_int(atomic_load(&c->freed), 0, "  nothing to the free hook");
	echoclose(c, pid);
}

/* Timeouts need muxprocs: a waiting thread that reads cannot time out. */
static void
timeout(void)
{
	Srvopt o = {0, 0};
	Conn *c;
	pid_t pid;
	unsigned char *req, *rep;
	Muxrpc *r;

	c = echoconn(o, 0, 8, &pid);
	muxsetfree(&c->mux, echo_free);
	muxprocs(&c->mux);
	req = mkmsg(Tping, 1, Never, 0, 0, 0);
	r = muxrpcstart(&c->mux, req);
	free(req);
	ok(r != NULL, "timeouts: an RPC the server never answers started");
	is_int(muxrpcwait(r, 0), 0, "  muxrpcwait(r, 0) returns 0");
	is_int(muxrpcwait(r, 30), 0, "  muxrpcwait(r, 30) returns 0 after the timeout");
	rep = (void*)1;
	is_int(muxrpccanfinish(r, (void**)&rep), 0, "  muxrpccanfinish returns 0 while there is no reply");
	ok(rep == (void*)1, "  and leaves *reply alone");
	muxrpccancel(r);
	req = mkmsg(Tping, 3, 2000, 0, 0, 0);
	r = muxrpcstart(&c->mux, req);
	free(req);
	while(!muxrpccanfinish(r, (void**)&rep)){
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	ok(rep != NULL && MID(rep) == 3, "  polling with muxrpccanfinish ends with the reply");
	free(rep);
	req = mkmsg(Tping, 2, 5000, 0, 0, 0);
	r = muxrpcstart(&c->mux, req);
	free(req);
	is_int(muxrpcwait(r, 20000), 1, "  muxrpcwait returns 1 when the reply comes");
	rep = muxrpcfinish(r);
	ok(rep != NULL && MID(rep) == 2, "  and muxrpcfinish gives it");
	free(rep);
	echoclose(c, pid);
}

/*
 * Cancel through the hook with two tags: the cancelled RPC's tag must
 * stay reserved until the Rcancel, which the server delays; a request
 * reusing it before then would be flagged as a duplicate.
 */
static void
cancelhook(int procs)
{
	Srvopt o = {0, 0};
	Conn *c;
	pid_t pid;
	unsigned char *req, *rep;
	Muxrpc *r;
	int i, good, dups;

	c = echoconn(o, 40, 43, &pid);
	muxsetfree(&c->mux, echo_free);
	muxsetcancel(&c->mux, echo_mkcancel);
	if(procs)
		muxprocs(&c->mux);
	good = dups = 0;
	for(i = 0; i < 10; i++){
		req = mkmsg(Tping, (uint64_t)i, Never, 0, 0, 3);
		r = muxrpcstart(&c->mux, req);
		free(req);
		muxrpccancel(r);
		/* with the cancel in flight, these have 1 tag left */
		rep = rpc(c, Tping, 100 + (uint64_t)i, 100, 0, 0);
		good += rep != NULL && MID(rep) == 100 + (uint64_t)i;
		dups += rep != NULL && (MARG2(rep) & Flagdup);
		free(rep);
		rep = rpc(c, Tping, 200 + (uint64_t)i, 100, 0, 0);
		good += rep != NULL && MID(rep) == 200 + (uint64_t)i;
		dups += rep != NULL && (MARG2(rep) & Flagdup);
		free(rep);
	}
	is_int(good, 20, "%s, cancel hook, 3 tags: RPCs go on while cancels are in flight", mode(procs));
	is_int(dups, 0, "  no tag reused before its cancel was answered");
	echoclose(c, pid);
	ok(1, "  muxfree took whatever cancels were still in flight");
}

/*
 * muxrpcflush: the server answers the original before the Rcancel
 * (arg2 & 1 of the Tcancel, here set through mkcancel2) or not.
 */
static uint32_t origfirst;

static void*
mkcancel2(Mux *mux, uint oldtag)
{
	(void)mux;
	return mkmsg(Tcancel, 0, 20000, oldtag, origfirst, 0);
}

static void
flush(int procs)
{
	Srvopt o = {0, 0};
	Conn *c;
	pid_t pid;
	unsigned char *req, *rep;
	Muxrpc *r;

	c = echoconn(o, 7, 9, &pid);
	muxsetfree(&c->mux, echo_free);
	muxsetcancel(&c->mux, mkcancel2);
	if(procs)
		muxprocs(&c->mux);

	origfirst = 1;
	req = mkmsg(Tping, 31, Never, 0, 0, 3);
	r = muxrpcstart(&c->mux, req);
	free(req);
	rep = muxrpcflush(r);
	ok(rep != NULL && MID(rep) == 31, "%s: muxrpcflush returns the original when it came before the cancel's answer", mode(procs));
	free(rep);

	origfirst = 0;
	req = mkmsg(Tping, 32, Never, 0, 0, 3);
	r = muxrpcstart(&c->mux, req);
	free(req);
	rep = muxrpcflush(r);
	ok(rep == NULL, "  and nil when the cancel was answered alone");
	rep = rpc(c, Tping, 33, 0, 0, 0);
	ok(rep != NULL && MID(rep) == 33 && !(MARG2(rep) & Flagdup), "  both tags free again afterwards");
	free(rep);
	rep = rpc(c, Tping, 34, 0, 0, 0);
	ok(rep != NULL && MID(rep) == 34 && !(MARG2(rep) & Flagdup), "  (twice)");
	free(rep);
	is_int(atomic_load(&c->freed), 4, "  the two Tcancels, once sent, and the two Rcancels went to the free hook");

	/* cancelled and its reply comes anyway: to the free hook */
	origfirst = 1;
	req = mkmsg(Tping, 35, Never, 0, 0, 3);
	r = muxrpcstart(&c->mux, req);
	free(req);
	muxrpccancel(r);
	rep = rpc(c, Tping, 36, 100, 0, 0);
	/* r and its Tcancel hold both tags: this waits for the Rcancel (reading it, without muxprocs) */
	ok(rep != NULL && MID(rep) == 36, "  an RPC waiting for a tag held by a cancel gets it once the cancel is answered");
	free(rep);
	rep = rpc(c, Tping, 37, 0, 0, 0);
	rep != NULL ? free(rep) : (void)0;
	rep = rpc(c, Tping, 38, 0, 0, 0);
	ok(rep != NULL && MID(rep) == 38 && !(MARG2(rep) & Flagdup), "  later RPCs get both tags without clashes");
	free(rep);
	is_int(atomic_load(&c->freed), 7, "  the late original, its Tcancel and Rcancel went to the free hook");
	echoclose(c, pid);
}

/* Without a cancel hook the tag is held until the original reply comes. */
static void
nohook(int procs)
{
	Srvopt o = {0, 0};
	Conn *c;
	pid_t pid;
	unsigned char *req, *rep;
	Muxrpc *r;

	c = echoconn(o, 0, 1, &pid);
	muxsetfree(&c->mux, echo_free);
	if(procs)
		muxprocs(&c->mux);
	req = mkmsg(Tping, 1, 20000, 0, 0, 3);
	r = muxrpcstart(&c->mux, req);
	free(req);
	muxrpccancel(r);
	rep = rpc(c, Tping, 2, 0, 0, 0);
	ok(rep != NULL && MID(rep) == 2 && !(MARG2(rep) & Flagdup), "%s, no cancel hook, one tag: the next RPC waits for the abandoned reply", mode(procs));
	free(rep);
	is_int(atomic_load(&c->freed), 1, "  which went to the free hook");
	echoclose(c, pid);
}

/* muxfree with async handles unfinished and cancels in flight. */
static void
teardown(int procs)
{
	Srvopt o = {0, 0};
	Conn *c;
	pid_t pid;
	unsigned char *req;
	Muxrpc *r;
	int i;

	c = echoconn(o, 0, 100, &pid);
	muxsetcancel(&c->mux, echo_mkcancel);
	if(procs)
		muxprocs(&c->mux);
	for(i = 0; i < 10; i++){
		req = mkmsg(Tping, (uint64_t)i, i % 2 ? Never : 0, 0, 0, 3);
		r = muxrpcstart(&c->mux, req);
		free(req);
		if(i % 3 == 0)
			muxrpccancel(r);
	}
	echoclose(c, pid);
	ok(1, "%s: muxfree with unfinished RPCs and cancels in flight (LeakSanitizer checks)", mode(procs));
}

/* send and settag failing for some requests: those calls fail, the rest go on */
static int
failsend(Mux *mux, void *msg)
{
	if(MID(msg) % 5 == 1)
		return -1;
	return echo_send(mux, msg);
}

static int
failsettag(Mux *mux, void *msg, uint tag)
{
	if(MID(msg) % 5 == 2)
		return -1;
	return echo_settag(mux, msg, tag);
}

static void
failures(int procs)
{
	Srvopt o = {100, 0};
	Conn *c;
	pid_t pid;
	unsigned char *rep;
	int i, good, nils;

	c = echoconn(o, 3, 5, &pid);
	c->mux.send = failsend;
	c->mux.settag = failsettag;
	muxsetfree(&c->mux, echo_free);
	if(procs)
		muxprocs(&c->mux);
	good = nils = 0;
	for(i = 0; i < 100; i++){
		rep = rpc(c, Tping, (uint64_t)i, Dfltdelay, 0, 0);
		if(i % 5 == 1 || i % 5 == 2)
			nils += rep == NULL;
		else
			good += rep != NULL && MID(rep) == (uint64_t)i;
		free(rep);
	}
	is_int(nils, 40, "%s: a failed send or settag fails its call", mode(procs));
	is_int(good, 60, "  and the others, on the same two tags, succeed");
	is_int(atomic_load(&c->freed), 0, "  nothing strays");
	echoclose(c, pid);
}

/*
 * Every ordinary tag held by calls the server never answers, all of them
 * cancelled: the cancels share the reserved tag one after another, the
 * callers never block, and afterwards the tags are all usable again.
 */
static void
cancelqueue(int procs)
{
	Srvopt o = {0, 0};
	Conn *c;
	pid_t pid;
	unsigned char *req, *rep;
	Muxrpc *r[3];
	int i, good;

	c = echoconn(o, 0, 4, &pid);
	muxsetfree(&c->mux, echo_free);
	muxsetcancel(&c->mux, mkcancel2);
	if(procs)
		muxprocs(&c->mux);
	origfirst = 0;
	for(i = 0; i < 3; i++){
		req = mkmsg(Tping, (uint64_t)i, Never, 0, 0, 3);
		r[i] = muxrpcstart(&c->mux, req);
		free(req);
	}
	ok(r[0] && r[1] && r[2], "%s, 4 tags and a cancel hook: 3 unanswerable RPCs hold the ordinary tags", mode(procs));
	for(i = 0; i < 3; i++)
		muxrpccancel(r[i]);
	ok(1, "  cancelling all three returns at once (two cancels queued for a tag)");
	good = 0;
	for(i = 0; i < 6; i++){
		rep = rpc(c, Tping, 10 + (uint64_t)i, 0, 0, 0);
		good += rep != NULL && MID(rep) == 10 + (uint64_t)i && !(MARG2(rep) & Flagdup);
		free(rep);
	}
	is_int(good, 6, "  then RPCs work, with no tag reused before its cancel was answered");
	echoclose(c, pid);
}

/* Many threads starting, finishing, cancelling and flushing at once. */
static atomic_uint flip;

static void*
mkcancel3(Mux *mux, uint oldtag)
{
	(void)mux;
	return mkmsg(Tcancel, 0, Dfltdelay, oldtag, atomic_fetch_add(&flip, 1) & 1, 0);
}

typedef struct Sarg Sarg;
struct Sarg
{
	Conn	*c;
	int	id;
	int	n;
	int	bad;
	int	dup;
	int	answered;
};

static void*
stormer(void *a)
{
	Sarg *g = a;
	unsigned char *req, *rep;
	Muxrpc *r;
	uint64_t id;
	int i;

	for(i = 0; i < g->n; i++){
		id = (uint64_t)g->id << 32 | (uint64_t)i;
		req = mkmsg(Tping, id, Dfltdelay, 0, 0, 2);
		r = muxrpcstart(&g->c->mux, req);
		free(req);
		if(r == NULL){
			g->bad++;
			continue;
		}
		rep = NULL;
		switch(i % 4){
		case 0:
			rep = muxrpcfinish(r);
			if(rep == NULL)
				g->bad++;
			break;
		case 1:
			muxrpccancel(r);
			break;
		case 2:
			rep = muxrpcflush(r);
			break;
		case 3:
			if(muxrpcwait(r, 0) == 0)
				muxrpccancel(r);
			else{
				rep = muxrpcfinish(r);
				if(rep == NULL)
					g->bad++;
			}
			break;
		}
		if(rep != NULL){
			g->answered++;
			if(MID(rep) != id || MTYPE(rep) != Rping || !paycheck(rep, id))
				g->bad++;
			if(MARG2(rep) & Flagdup)
				g->dup++;
		}
		free(rep);
	}
	return NULL;
}

static void
cancelstorm(int procs)
{
	Srvopt o = {300, 0};
	Conn *c;
	pid_t pid;
	pthread_t t[16];
	Sarg a[16];
	int i, bad, dup, answered, n;

	n = (int)(400 * testscale(UNDER_TSAN ? 0.5 : 1)) + 4;
	c = echoconn(o, 20, 28, &pid);
	muxsetfree(&c->mux, echo_free);
	muxsetcancel(&c->mux, mkcancel3);
	if(procs)
		muxprocs(&c->mux);
	for(i = 0; i < 16; i++){
		memset(&a[i], 0, sizeof a[i]);
		a[i].c = c;
		a[i].id = i;
		a[i].n = n;
		if(pthread_create(&t[i], NULL, stormer, &a[i]) != 0)
			abort();
	}
	bad = dup = answered = 0;
	for(i = 0; i < 16; i++){
		pthread_join(t[i], NULL);
		bad += a[i].bad;
		dup += a[i].dup;
		answered += a[i].answered;
	}
	is_int(bad, 0, "%s, 16 threads x %d: start, then finish, cancel, flush or poll; 8 tags: no wrong or missing reply", mode(procs), n);
	is_int(dup, 0, "  no tag reused while in flight or being cancelled");
	ok(answered >= 16 * (n / 4), "  %d replies delivered", answered);
	is_int(atomic_load(&c->overlap), 0, "  never two recv or two send at once");
	echoclose(c, pid);
}

int
main(void)
{
	int p;

	tap_start(60);
	for(p = 0; p < 2; p++){
		strays(p, 1);
		strays(p, 0);
		async(p);
		cancelhook(p);
		flush(p);
		nohook(p);
		teardown(p);
		failures(p);
		cancelqueue(p);
		cancelstorm(p);
	}
	timeout();
	return done_testing();
}
