/*
 * Links: peers that dialed us (-l), the -r clients carried back over
 * them, and what keeps every connection we send requests on alive.
 *
 * A link is plain 9P both ways on one socket: the peer's requests are
 * a session served by UPSTREAM, ours a channel to the peer, which
 * offers 9P2000.L and takes whatever the peer answers.  A direction
 * whose Tversion was refused is tried again on the same socket, the
 * other undisturbed.  Keep-alive (-k) is a 9P ping when nothing has
 * come for an interval; three intervals of silence mean the
 * connection is dead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "9p.h"
#include "log.h"
#include "9mux.h"

/* The peer did not link again within -P: its clients' sessions fail, as without -P. */
static void
linkgiveup(Link *l)
{
	timerdel(&l->persist);
	if(nmuplost(l->u))
		nmupgiveup(l->u);
}

static void
linkpersistover(Timer *t)
{
	Link *l;

	l = t->arg;
	logerror("link %s: not back within -P %d s", l->name, g.persist);
	linkgiveup(l);
}

void
linkpersiststop(void)
{
	Link *l;

	for(l = g.links; l != NULL; l = l->next)
		if(l->name){
			nmuppersist(l->u, 0);
			linkgiveup(l);
		}
}

static Link *
linknew(const char *name)
{
	char why[160];
	Link *l;

	l = calloc(1, sizeof *l);
	if(l == NULL)
		return NULL;
	/* a reply no request of ours waits for breaks the link: the peer is a 9mux, it knows better */
	l->u = nmupnew(g.m, g.conf.msize, P9_2000L, NM_UPANY | NM_UPSTRICT);
	if(l->u == NULL || (name && (l->name = strdup(name)) == NULL)){
		if(l->u)
			nmupfree(l->u);
		free(l);
		return NULL;
	}
	l->persist.slot = -1;
	l->persist.fn = linkpersistover;
	l->persist.arg = l;
	if(name){
		snprintf(why, sizeof why, "9mux: link %s is not up", name);
		nmupwhy(l->u, why);
		/* a named peer that links again is the same peer: its clients' fids are restored over the new link */
		if(g.persist > 0)
			nmuppersist(l->u, 1);
	}
	l->since = now();
	l->next = g.links;
	g.links = l;
	return l;
}

Link *
linknamed(const char *name)
{
	Link *l;

	for(l = g.links; l != NULL; l = l->next)
		if(l->name && strcmp(l->name, name) == 0)
			return l;
	if((l = linknew(name)) == NULL)
		fatal("out of memory");
	return l;
}

int
linkaccept(Conn *c, const char *name)
{
	Link *l;

	if(name && *name){
		/* the same peer again: the new connection takes over, the old one may be dead and not know it yet */
		l = linknamed(name);
		if(l->conn)
			closeconn(l->conn, "replaced by a new link from the same peer");
		snprintf(c->name, sizeof c->name, "link %s", name);
	}else if((l = linknew(NULL)) == NULL)
		return -1;
	l->conn = c;
	l->upat = l->since = now();
	c->link = l;
	/* the peer's requests are served by UPSTREAM, as a client's; the session outlives UPSTREAM's loss */
	if((c->s = nmsessnewup(g.m, g.up.u, c)) == NULL || (c->c = nmchannewup(l->u, c)) == NULL)
		return -1;
	nmsesskeep(c->s);
	keepstart(c);
	coverstart(c);
	markdirty(c);
	return 0;
}

void
linkgone(Conn *c)
{
	Link *l, **pp;

	l = c->link;
	c->link = NULL;
	if(c->c){
		nmchandown(c->c);
		c->c = NULL;
	}
	if(l == NULL)
		return;
	l->conn = NULL;
	l->since = now();
	if(l->name){
		if(nmuplost(l->u) && l->persist.slot < 0 && !g.stopping)
			timerset(&l->persist, now() + (long long)g.persist * 1000);
		return;
	}
	/* a link with no name cannot come back: whoever it served must go elsewhere */
	for(pp = &g.links; *pp != NULL; pp = &(*pp)->next)
		if(*pp == l){
			*pp = l->next;
			break;
		}
	nmupfree(l->u);
	free(l);
}

Nmup *
linkroute(Lis *lis)
{
	Link *l, *best;

	if(lis->linkname)
		return linknamed(lis->linkname)->u;
	best = NULL;
	for(l = g.links; l != NULL; l = l->next)
		if(l->conn && (best == NULL || l->upat > best->upat))
			best = l;
	return best ? best->u : g.nolink;
}

/*
 * Keep-alive.
 */

static long long
nowus(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
keepfire(Timer *t)
{
	Conn *c;
	long long k, idle;
	char why[96];

	c = t->arg;
	k = (long long)g.keepalive * 1000;
	idle = now() - c->lastin;
	if(idle >= 3 * k){
		snprintf(why, sizeof why, "nothing received for %lld s (3 x -k %d): the connection is dead",
			idle / 1000, g.keepalive);
		closeconn(c, why);
		return;
	}
	if(idle >= k && c->c && c->pingat == 0 && nmchanping(c->c) == 0){
		c->pingat = nowus();
		markdirty(c);
	}
	timerset(t, c->lastin + (idle < k ? k : 3 * k));
}

void
keepstart(Conn *c)
{
	if(g.keepalive <= 0)
		return;
	c->ka.fn = keepfire;
	c->ka.arg = c;
	timerset(&c->ka, now() + (long long)g.keepalive * 1000);
}

static void
reverfire(Timer *t)
{
	Conn *c;
	Nmup *u;

	c = t->arg;
	u = c->dialer ? c->dialer->u : c->link->u;
	if((c->c = nmchannewup(u, c)) == NULL){
		closeconn(c, "out of memory");
		return;
	}
	logmsg(LOG_CONN, "%s %s: Tversion again", c->name, c->who);
	markdirty(c);
}

void
reversion(Conn *c, const char *err)
{
	if(c->dialer && !c->dialer->everup && g.failfast)
		fatal("%s %s: %s", c->name, c->who, err);
	c->verbackoff = c->verbackoff ? c->verbackoff * 2 : MINBACKOFF;
	if(c->verbackoff > MAXBACKOFF)
		c->verbackoff = MAXBACKOFF;
	logerror("%s %s: %s; Tversion again in %d s", c->name, c->who, err, c->verbackoff / 1000);
	if(c->dialer)
		nmupwait(c->dialer->u, 0);
	nmchandown(c->c);
	c->c = NULL;
	c->pingat = 0;
	c->rever.fn = reverfire;
	c->rever.arg = c;
	timerset(&c->rever, now() + c->verbackoff);
}

void
note(void *aux, int what, const char *msg)
{
	Conn *c;

	c = aux;
	if(c == NULL){
		logerror("%s", msg ? msg : "");
		return;
	}
	switch(what){
	case NM_NRESTORE:
		c->restoreat = nowus();
		logmsg(LOG_CONN, "%s %s: %s", c->name, c->who, msg);
		break;
	case NM_NRESTORED:
		logerror("%s %s: %s; in %.1f ms", c->name, c->who, msg, (double)(nowus() - c->restoreat) / 1000);
		break;
	case NM_NPONG:
		if(c->pingat){
			c->rttus = nowus() - c->pingat;
			logmsg(LOG_CONN, "%s %s: ping answered in %lld us", c->name, c->who, c->rttus);
		}
		c->pingat = 0;
		break;
	default:
		logerror("%s %s: %s", c->name, c->who, msg);
		break;
	}
}
