/*
 * The graceful stop (SIGTERM, SIGINT).
 *
 * First nothing new comes in: the listeners close, clients and peers
 * are no longer read, and the requests in flight have -g seconds to
 * be answered and their replies written.  Then every session still
 * there ends as on hang-up: the engine flushes what it has upstream
 * and, once that is over, clunks every fid, so that nothing of 9mux's
 * stays on the server.  The channels stay open for that, and 9mux
 * exits when none has a request of its own left, or when the server
 * has not answered them in -g seconds more (at least 1).
 */
#include <stdio.h>

#include "log.h"
#include "9mux.h"

void
stopstart(int sig)
{
	Conn *c;

	if(g.stopping)
		return;
	sdnotify("STOPPING=1");
	logmsg(LOG_CONN, "signal %d: answering %zu requests in flight for up to %d s, then exiting",
		sig, nminflight(g.m), g.grace);
	g.stopping = 1;
	g.stopdeadline = now() + g.grace * 1000LL;
	timerdel(&g.up.retry);
	timerdel(&g.ex.retry);
	timerdel(&g.up.hold);
	timerdel(&g.ex.hold);
	persiststop();
	linkpersiststop();
	unlinkall();
	for(c = g.conns; c != NULL; c = c->next)
		markdirty(c);
}

/* Whether c's channel, if it has one, has nothing of 9mux's upstream. */
static int
idle(Conn *c)
{
	Nmchaninfo i;

	/* a channel never ready holds no fid, and its Tversion needs no answer */
	if(c->c == NULL || nmchanstate(c->c) != NM_CREADY)
		return 1;
	nmchaninfo(c->c, &i);
	return i.tags == 0 && i.waiting == 0 && nmqempty(nmchanq(c->c));
}

/* Every session ends as on hang-up; the connections that carry channels stay. */
static void
endsessions(void)
{
	Conn *c, *next;

	for(c = g.conns; c != NULL; c = next){
		next = c->next;
		if(c->role == CCLIENT)
			closeconn(c, "9mux stopping");
		else if(c->s != NULL){
			/* a peer's requests to us: its fids here are clunked on our upstream */
			nmsessclose(c->s);
			c->s = NULL;
		}
	}
}

int
stopped(void)
{
	Conn *c;
	int busy;

	if(g.stopping == 1){
		if(!quiet() && now() < g.stopdeadline)
			return 0;
		if(!quiet())
			logmsg(LOG_CONN, "%zu requests still in flight after %d s: flushing them", nminflight(g.m), g.grace);
		g.stopping = 2;
		g.stopdeadline = now() + (g.grace > 0 ? g.grace : 1) * 1000LL;
		endsessions();
	}
	busy = 0;
	for(c = g.conns; c != NULL; c = c->next)
		if(!c->dead && !idle(c))
			busy++;
	if(busy == 0)
		return 1;
	if(now() >= g.stopdeadline){
		logerror("exiting with flushes or clunks unanswered on %d connections", busy);
		return 1;
	}
	return 0;
}
