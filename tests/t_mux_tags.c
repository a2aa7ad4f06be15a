/*
 * Tags: a non-zero mintag, narrow ranges such as [100, 102) with 32
 * threads competing for two tags, a one-tag range starting at 0, and
 * empty ranges.  The server reports how many requests it held at each
 * reply, so a range of n tags must never see more than n in flight.
 */
#include <pthread.h>
#include <stdio.h>

#include "tap.h"
#include "mux_prog/echo.h"

typedef struct Arg Arg;
struct Arg
{
	Conn	*c;
	int	id;
	long	n;
	long	good;
	long	bad;
	long	maxpend;
	uint	mintagseen;
	uint	maxtagseen;
};

static void*
worker(void *a)
{
	Arg *g = a;
	unsigned char *req, *rep;
	uint64_t id;
	long i, pend;

	g->mintagseen = ~0u;
	for(i = 0; i < g->n; i++){
		id = (uint64_t)g->id << 32 | (uint64_t)i;
		req = mkmsg(Tping, id, Dfltdelay, 0, 0, 8);
		rep = muxrpc(&g->c->mux, req);
		if(rep != NULL && MID(rep) == id && !(MARG2(rep) & Flagdup) && paycheck(rep, id)){
			g->good++;
			/* held by the server besides this one */
			pend = (long)(MARG2(rep) & ~Flagdup) + 1;
			if(pend > g->maxpend)
				g->maxpend = pend;
			if(MTAG(rep) < g->mintagseen)
				g->mintagseen = MTAG(rep);
			if(MTAG(rep) > g->maxtagseen)
				g->maxtagseen = MTAG(rep);
		}else
			g->bad++;
		free(req);
		free(rep);
	}
	return NULL;
}

static void*
mkcancel(Mux *mux, uint oldtag)
{
	(void)mux;
	return mkmsg(Tcancel, 0, 0, oldtag, 0, 0);
}

/* hook: set a cancel hook, which keeps one tag for cancel requests */
static void
range(int procs, uint mintag, uint maxtag, int nthread, long n, int hook)
{
	Srvopt o = {300, 0};
	Conn *c;
	pid_t pid;
	pthread_t t[64];
	Arg a[64];
	long good, bad, maxpend;
	uint lo, hi;
	int i;

	c = echoconn(o, mintag, maxtag, &pid);
	muxsetfree(&c->mux, echo_free);
	if(hook)
		muxsetcancel(&c->mux, mkcancel);
	if(procs)
		muxprocs(&c->mux);
	for(i = 0; i < nthread; i++){
		memset(&a[i], 0, sizeof a[i]);
		a[i].c = c;
		a[i].id = i;
		a[i].n = n;
		if(pthread_create(&t[i], NULL, worker, &a[i]) != 0)
			abort();
	}
	good = bad = maxpend = 0;
	lo = ~0u;
	hi = 0;
	for(i = 0; i < nthread; i++){
		pthread_join(t[i], NULL);
		good += a[i].good;
		bad += a[i].bad;
		if(a[i].maxpend > maxpend)
			maxpend = a[i].maxpend;
		if(a[i].mintagseen < lo)
			lo = a[i].mintagseen;
		if(a[i].maxtagseen > hi)
			hi = a[i].maxtagseen;
	}
	is_int(good, (long)nthread * n, "%s%s, tags [%u,%u), %d threads x %ld RPCs: all answered correctly",
		procs ? "muxprocs" : "no procs", hook ? ", cancel hook" : "", mintag, maxtag, nthread, n);
	is_int(bad, 0, "  none failed, none mismatched, no tag reused in flight");
	is_int(atomic_load(&c->badtag), 0, "  settag never saw a tag outside the range");
	ok(lo >= mintag && hi < maxtag, "  replies' tags in [%u,%u] within the range", lo, hi);
	if(maxtag > 0x80000000u)
		maxtag = 0x80000000u;	/* libmux uses no tag above INT_MAX */
	if(maxtag - mintag < 64)
		ok(maxpend <= (long)(maxtag - mintag - (hook != 0)), "  at most %u in flight at once (saw %ld)",
			maxtag - mintag - (hook != 0), maxpend);
	if(maxtag - mintag <= 2 && !hook)
		ok(lo == mintag && hi == maxtag - 1, "  both ends of the range used");
	is_int(atomic_load(&c->overlap), 0, "  never two recv or two send at once");
	echoclose(c, pid);
}

static void
empty(uint mintag, uint maxtag)
{
	Srvopt o = {0, 0};
	Conn *c;
	pid_t pid;
	unsigned char *req, *rep;
	Muxrpc *r;

	c = echoconn(o, mintag, maxtag, &pid);
	req = mkmsg(Tping, 1, 0, 0, 0, 0);
	rep = muxrpc(&c->mux, req);
	ok(rep == NULL, "tags [%#x,%#x): no usable tags, so muxrpc fails at once", mintag, maxtag);
	free(rep);
	r = muxrpcstart(&c->mux, req);
	ok(r == NULL, "  and so does muxrpcstart");
	free(req);
	echoclose(c, pid);
}

int
main(void)
{
	double sc;

	tap_start(UNDER_TSAN ? 200 : 100);
	sc = testscale(UNDER_TSAN ? 0.25 : 1);
	range(0, 100, 102, 32, (long)(200 * sc) + 1, 0);
	range(1, 100, 102, 32, (long)(200 * sc) + 1, 0);
	range(0, 0, 1, 8, (long)(200 * sc) + 1, 0);
	range(1, 0, 1, 8, (long)(200 * sc) + 1, 0);
	range(0, 60000, 60005, 16, (long)(300 * sc) + 1, 0);
	range(0, 0x7FFFFFF0, 0x7FFFFFFF, 32, (long)(300 * sc) + 1, 0);
	range(1, 1, 0x10000, 64, (long)(500 * sc) + 1, 0);
	range(0, 100, 103, 32, (long)(200 * sc) + 1, 1);
	range(1, 100, 103, 32, (long)(200 * sc) + 1, 1);
	range(1, 0x7FFFFFFD, 0xFFFFFFFF, 8, (long)(100 * sc) + 1, 0);
	empty(5, 5);
	empty(0x80000000u, 0x80000010u);
	empty(7, 3);
	return done_testing();
}
