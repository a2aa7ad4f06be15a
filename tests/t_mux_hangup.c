/*
 * The peer goes away mid-flight: every caller, those waiting for a reply,
 * those waiting for a tag and those that come later, gets nil, and
 * nothing hangs (tap_start's alarm would kill a hung test).
 */
#include <pthread.h>
#include <stdio.h>

#include "tap.h"
#include "mux_prog/echo.h"

enum {
	Nthread	= 32,
};

typedef struct Arg Arg;
struct Arg
{
	Conn	*c;
	int	id;
	int	async;
	int	nilreply;
	int	answered;
};

static void*
worker(void *a)
{
	Arg *g = a;
	unsigned char *req, *rep;
	Muxrpc *r;

	/* the server never answers: only the hang-up can end this */
	req = mkmsg(Tping, (uint64_t)g->id, Never, 0, 0, 16);
	if(g->async){
		r = muxrpcstart(&g->c->mux, req);
		rep = r != NULL ? muxrpcfinish(r) : NULL;
	}else
		rep = muxrpc(&g->c->mux, req);
	if(rep == NULL)
		g->nilreply = 1;
	else
		g->answered = 1;
	free(req);
	free(rep);
	return NULL;
}

static void
hangup(int procs, uint ntag, long closeafter)
{
	Srvopt o = {0, closeafter};
	Conn *c;
	pid_t pid;
	pthread_t t[Nthread];
	Arg a[Nthread];
	unsigned char *req, *rep;
	Muxrpc *r;
	int i, nils, answered;

	c = echoconn(o, 10, 10 + ntag, &pid);
	muxsetfree(&c->mux, echo_free);
	muxsetcancel(&c->mux, echo_mkcancel);
	if(procs)
		muxprocs(&c->mux);
	for(i = 0; i < Nthread; i++){
		memset(&a[i], 0, sizeof a[i]);
		a[i].c = c;
		a[i].id = i;
		a[i].async = i % 3 == 0;
		if(pthread_create(&t[i], NULL, worker, &a[i]) != 0)
			abort();
	}
	nils = answered = 0;
	for(i = 0; i < Nthread; i++){
		pthread_join(t[i], NULL);
		nils += a[i].nilreply;
		answered += a[i].answered;
	}
	is_int(nils, Nthread, "%s, %u tags, peer gone after %ld requests: all %d callers got nil",
		procs ? "muxprocs" : "no procs", ntag, closeafter, Nthread);
	is_int(answered, 0, "  none got a reply");
	is_int(muxhungup(&c->mux), 1, "  muxhungup says so");
	req = mkmsg(Tping, 99, 0, 0, 0, 0);
	rep = muxrpc(&c->mux, req);
	ok(rep == NULL, "  a later muxrpc returns nil at once");
	free(rep);
	r = muxrpcstart(&c->mux, req);
	ok(r == NULL, "  so does muxrpcstart");
	free(req);
	if(procs && ntag == 64){
		void *v = (void*)1;

		ok(muxrpcwait(r, -1) == 1 && muxrpcfinish(r) == NULL && muxrpcflush(r) == NULL
		&& muxrpccanfinish(r, &v) == 1 && v == NULL,
			"  and the nil handle works as a failed RPC everywhere");
		muxrpccancel(r);
	}
	echoclose(c, pid);
}

/* Hung up with cancelled and unfinished RPCs about: muxfree frees them all. */
static void
abandoned(int procs)
{
	Srvopt o = {0, 6};
	Conn *c;
	pid_t pid;
	unsigned char *req[5], *rep;
	Muxrpc *r[5];
	int i, nils;

	c = echoconn(o, 0, 100, &pid);
	muxsetfree(&c->mux, echo_free);
	muxsetcancel(&c->mux, echo_mkcancel);
	if(procs)
		muxprocs(&c->mux);
	for(i = 0; i < 5; i++){
		req[i] = mkmsg(Tping, (uint64_t)i, Never, 0, 0, 4);
		r[i] = muxrpcstart(&c->mux, req[i]);
		free(req[i]);
	}
	ok(r[0] && r[1] && r[2] && r[3] && r[4], "%s: five RPCs started", procs ? "muxprocs" : "no procs");
	muxrpccancel(r[0]);	/* the sixth request: the server goes */
	nils = 0;
	for(i = 1; i < 3; i++){
		rep = muxrpcfinish(r[i]);
		nils += rep == NULL;
		free(rep);
	}
	is_int(nils, 2, "  after the hang-up, finishing gives nil");
	ok(muxrpcwait(r[3], -1) == 1, "  muxrpcwait reports a hung-up RPC as finished");
	/* r[3] and r[4] are left for muxfree, which frees them */
	echoclose(c, pid);
}

int
main(void)
{
	tap_start(60);
	hangup(0, 64, 20);
	hangup(1, 64, 20);
	hangup(0, 8, 5);
	hangup(1, 8, 5);
	hangup(0, 2, 1);
	hangup(1, 2, 1);
	abandoned(0);
	abandoned(1);
	return done_testing();
}
