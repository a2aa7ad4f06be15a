/*
 * libmux against an echo server that answers out of order after random
 * delays: one caller, then 64 threads x 10,000 RPCs, and smaller storms
 * with muxprocs and with 16 tags for 64 threads.  Every reply must be the
 * answer to its own request.
 *
 * MUX_TEST_SCALE scales the RPC counts (under ThreadSanitizer the
 * default is 0.3: 64 x 3,000).
 */
#include <pthread.h>
#include <stdio.h>

#include "tap.h"
#include "mux_prog/echo.h"

enum {
	Nthread	= 64,
};

typedef struct Arg Arg;
struct Arg
{
	Conn	*c;
	int	id;
	long	n;
	long	good;
	long	bad;
	long	nilreply;
	long	dup;
};

static void*
worker(void *a)
{
	Arg *g = a;
	unsigned char *req, *rep;
	uint64_t id;
	long i;

	for(i = 0; i < g->n; i++){
		id = (uint64_t)g->id << 32 | (uint64_t)i;
		req = mkmsg(Tping, id, Dfltdelay, 0, 0, (size_t)(id % 61));
		rep = muxrpc(&g->c->mux, req);
		if(rep == NULL)
			g->nilreply++;
		else if(MTYPE(rep) == Rping && MID(rep) == id && MLEN(rep) == MLEN(req)
		&& MTAG(rep) == MTAG(req) && paycheck(rep, id))
			g->good++;
		else
			g->bad++;
		if(rep != NULL && (MARG2(rep) & Flagdup))
			g->dup++;
		free(req);
		free(rep);
	}
	return NULL;
}

static void
storm(int procs, uint mintag, uint maxtag, long n, uint32_t maxdelay)
{
	Srvopt o = {maxdelay, 0};
	Conn *c;
	pid_t pid;
	pthread_t t[Nthread];
	Arg a[Nthread];
	long good, bad, nils, dup;
	int64_t t0;
	int i;

	c = echoconn(o, mintag, maxtag, &pid);
	muxsetfree(&c->mux, echo_free);
	if(procs == 1)
		muxprocs(&c->mux);
	t0 = nowns();
	for(i = 0; i < Nthread; i++){
		memset(&a[i], 0, sizeof a[i]);
		a[i].c = c;
		a[i].id = i;
		a[i].n = n;
		if(pthread_create(&t[i], NULL, worker, &a[i]) != 0)
			abort();
	}
	if(procs == 2){
		/* switch to muxprocs while a caller is reading */
		struct timespec ts = {0, 30 * 1000000};
		nanosleep(&ts, NULL);
		muxprocs(&c->mux);
	}
	good = bad = nils = dup = 0;
	for(i = 0; i < Nthread; i++){
		pthread_join(t[i], NULL);
		good += a[i].good;
		bad += a[i].bad;
		nils += a[i].nilreply;
		dup += a[i].dup;
	}
	diag("%.0f RPCs/s", (double)Nthread * (double)n / ((double)(nowns() - t0) / 1e9));
	is_int(good, (long)Nthread * n, "%s, tags [%u,%u): %d threads x %ld RPCs, every reply matches its request",
		procs == 2 ? "muxprocs mid-flight" : procs ? "muxprocs" : "no procs", mintag, maxtag, Nthread, n);
	is_int(bad, 0, "  no reply went to the wrong caller");
	is_int(nils, 0, "  no RPC failed");
	is_int(dup, 0, "  the server never saw a tag reused while in flight");
	is_int(atomic_load(&c->badtag), 0, "  every tag in [mintag, maxtag)");
	is_int(atomic_load(&c->overlap), 0, "  never two recv (or two send) at once");
	is_int(atomic_load(&c->freed), 0, "  nothing went to the free hook");
	echoclose(c, pid);
}

/*
 * Requests and replies far bigger than the socket buffers, from many
 * threads: sends block until the server's replies are read, so some
 * caller must read while another is stuck in send.
 */
typedef struct Big Big;
struct Big
{
	Conn	*c;
	int	id;
	int	good;
};

static void*
bigworker(void *a)
{
	Big *g = a;
	unsigned char *req, *rep;
	uint64_t id;
	int i;

	for(i = 0; i < 20; i++){
		id = (uint64_t)g->id << 32 | (uint64_t)i;
		req = mkmsg(Tping, id, 0, 0, 0, 60000);
		rep = muxrpc(&g->c->mux, req);
		if(rep != NULL && MID(rep) == id && MLEN(rep) == MLEN(req) && paycheck(rep, id))
			g->good++;
		free(req);
		free(rep);
	}
	return NULL;
}

static void
big(int procs)
{
	Srvopt o = {0, 0};
	Conn *c;
	pid_t pid;
	pthread_t t[32];
	Big a[32];
	int i, good;

	c = echoconn(o, 0, 0xFFFF, &pid);
	if(procs)
		muxprocs(&c->mux);
	for(i = 0; i < 32; i++){
		a[i].c = c;
		a[i].id = i;
		a[i].good = 0;
		if(pthread_create(&t[i], NULL, bigworker, &a[i]) != 0)
			abort();
	}
	good = 0;
	for(i = 0; i < 32; i++){
		pthread_join(t[i], NULL);
		good += a[i].good;
	}
	is_int(good, 32 * 20, "%s: 32 threads x 20 RPCs of 60 kB each way, beyond the socket buffers",
		procs ? "muxprocs" : "no procs");
	echoclose(c, pid);
}

static void
single(void)
{
	Srvopt o = {200, 0};
	Conn *c;
	pid_t pid;
	unsigned char *req, *rep;
	int i, good;

	c = echoconn(o, 0, 0x10000, &pid);
	good = 0;
	for(i = 0; i < 100; i++){
		req = mkmsg(Tping, (uint64_t)i, Dfltdelay, 0, 0, 1000);
		rep = muxrpc(&c->mux, req);
		if(rep != NULL && MID(rep) == (uint64_t)i && MTYPE(rep) == Rping && paycheck(rep, (uint64_t)i))
			good++;
		free(req);
		free(rep);
	}
	is_int(good, 100, "one caller, no extra thread: 100 RPCs answered");
	is_int(muxhungup(&c->mux), 0, "not hung up");
	muxthreads(&c->mux);
	req = mkmsg(Tping, 7, 0, 0, 0, 10);
	rep = muxrpc(&c->mux, req);
	ok(rep != NULL && MID(rep) == 7, "after muxthreads (the manual's other name) RPCs still work");
	free(req);
	free(rep);
	echoclose(c, pid);
}

int
main(void)
{
	double sc;
	long n;

	tap_start(300);	/* generous: a loaded machine is slow, and this is no timing test */
	sc = testscale(UNDER_TSAN ? 0.3 : 1);
	n = (long)(10000 * sc);
	if(n < 1)
		n = 1;
	if(sc != 1)
		diag("RPC counts scaled by %g (MUX_TEST_SCALE, or the ThreadSanitizer default)", sc);
	single();
	big(0);
	big(1);
	/* the full count once; the other shapes with fewer, to stay quick */
	storm(0, 0, 0xFFFF, n, 100);
	storm(1, 0, 0xFFFF, n / 10 + 1, 100);
	storm(0, 1000, 1016, n / 40 + 1, 50);
	storm(1, 1000, 1016, n / 40 + 1, 50);
	storm(2, 0, 0xFFFF, n / 20 + 1, 100);
	return done_testing();
}
