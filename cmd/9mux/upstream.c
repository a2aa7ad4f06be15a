/*
 * Dialers: UPSTREAM, and the EXPORT of -e, kept dialed.
 *
 * Dialing happens in a thread of its own, so that a TCP connect that
 * takes minutes to fail stops nobody: it writes its Dialres to a pipe
 * the loop watches.  A dial that fails, or a connection lost, is
 * tried again after a backoff of 1 s, doubling to 30 s, with jitter
 * so that many 9mux restarted together do not redial in step.
 *
 * With -P the engine keeps the sessions of a lost upstream and restores
 * their fids on the next connection; a timer started at the loss ends
 * the wait after -P seconds, unless the restore has finished by then.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "9p.h"
#include "dial.h"
#include "log.h"
#include "9mux.h"

typedef struct Dialres Dialres;
struct Dialres {
	Dialer	*d;
	int	fd;
	pid_t	pid;
	char	err[240];
};

static void
retry(Timer *t)
{
	dialstart(t->arg);
}

/* Clients stop waiting for d: they are answered as while it is unreachable. */
static void
unhold(Dialer *d)
{
	timerdel(&d->hold);
	nmupwait(d->u, 0);
}

static void
holdover(Timer *t)
{
	unhold(t->arg);
}

void
persistend(Dialer *d)
{
	Conn *c;

	timerdel(&d->persist);
	if(!nmuplost(d->u))
		return;
	nmupgiveup(d->u);
	/* a restore under way was abandoned: its channel serves from now */
	if((c = d->conn) != NULL && c->c != NULL && nmchanstate(c->c) == NM_CREADY){
		chanready(c);
		markdirty(c);
	}
}

void
persiststop(void)
{
	Dialer *d[2];
	int i;

	d[0] = &g.up;
	d[1] = &g.ex;
	for(i = 0; i < 2; i++)
		if(d[i]->u != NULL){
			nmuppersist(d[i]->u, 0);
			persistend(d[i]);
		}
}

static void
persistover(Timer *t)
{
	Dialer *d;

	d = t->arg;
	logerror("%s %s: not restored within -P %d s", d->what, d->addr, g.persist);
	persistend(d);
}

void
dialerinit(Dialer *d, const char *addr, const char *what, Nmup *u, Nmup *serves)
{
	d->addr = addr;
	d->what = what;
	d->u = u;
	d->serves = serves;
	d->backoff = MINBACKOFF;
	d->pid = -1;
	d->since = now();
	d->retry.slot = -1;
	d->retry.fn = retry;
	d->retry.arg = d;
	d->hold.slot = -1;
	d->hold.fn = holdover;
	d->hold.arg = d;
	d->istls = addrkind(addr) == DIAL_TLS;
	d->persist.slot = -1;
	d->persist.fn = persistover;
	d->persist.arg = d;
	if(g.persist > 0)
		nmuppersist(u, 1);
}

/* The next try in backoff ms, give or take a fifth; the backoff doubles. */
static void
later(Dialer *d)
{
	long long ms;

	ms = d->backoff * 4 / 5 + random() % (d->backoff * 2 / 5 + 1);
	timerset(&d->retry, now() + ms);
	d->backoff = d->backoff * 2 > MAXBACKOFF ? MAXBACKOFF : d->backoff * 2;
}

static void
failed(Dialer *d, const char *err)
{
	unhold(d);
	d->since = now();
	if(d->failing++ == 0)
		logerror("%s %s unreachable: %s; redialing, every 1 s backing off to 30 s", d->what, d->addr, err);
	else
		logmsg(LOG_CONN, "redial %s %s: %s", d->what, d->addr, err);
	later(d);
}

/* The connected descriptors are d's connection; its Tversion goes at once. */
static int
attach(Dialer *d, int rfd, int wfd, pid_t pid, char *err, size_t errlen)
{
	Conn *c;

	if(fdnonblock(rfd, 1) < 0 || fdnonblock(wfd, 1) < 0){
		snprintf(err, errlen, "non-blocking: %s", strerror(errno));
		if(wfd != rfd)
			close(wfd);
		close(rfd);
		return -1;
	}
	if((c = connnew(rfd, CUP)) == NULL){
		snprintf(err, errlen, "out of memory");
		if(wfd != rfd)
			close(wfd);
		return -1;
	}
	c->wfd = wfd;
	if(wfd != rfd && addev(wfd, &c->wev, 0) < 0){
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		closeconn(c, err);
		return -1;
	}
	c->dialer = d;
	c->id = ++g.nextid;
	snprintf(c->name, sizeof c->name, "%s", d->what);
	snprintf(c->who, sizeof c->who, "%s", d->addr);
	d->conn = c;
	d->pid = pid;
	c->c = nmchannewup(d->u, c);
	if(c->c == NULL){
		snprintf(err, errlen, "out of memory");
		closeconn(c, err);
		return -1;
	}
	keepstart(c);
	coverstart(c);
	markdirty(c);
	logmsg(LOG_CONN, "%s %s connected", d->what, d->addr);
	/* its Tversion waits in the queue until the handshake is done; a failure closes c, and d redials */
	if(d->istls)
		tlsstart(c, TLS_DIAL, d->addr);
	return 0;
}

static void *
dialthread(void *arg)
{
	Dialres r;

	memset(&r, 0, sizeof r);
	r.d = arg;
	r.pid = -1;
	/* a tls! address: the TCP under it; the loop runs the handshake */
	if(r.d->istls)
		r.fd = dialraw(r.d->addr, r.err, sizeof r.err);
	else
		r.fd = dialpid(r.d->addr, &r.pid, r.err, sizeof r.err);
	/* smaller than PIPE_BUF: one atomic write */
	if(write(g.dialpipe[1], &r, sizeof r) != (ssize_t)sizeof r && r.fd >= 0)
		close(r.fd);
	return NULL;
}

/* d's first dial is over, whatever came of it: the dialer waiting for it goes. */
static void
next(Dialer *d)
{
	Dialer *t;

	if((t = d->then) != NULL){
		d->then = NULL;
		dialstart(t);
	}
}

void
dialstart(Dialer *d)
{
	char err[256];
	pthread_attr_t a;
	pthread_t t;
	int e;

	if(d->dialing || d->conn || g.stopping)
		return;
	/* a client that comes while the dial is under way waits for it, a while */
	nmupwait(d->u, 1);
	timerset(&d->hold, now() + DIALHOLD);
	if(strcmp(d->addr, "-") == 0){
		if(attach(d, 0, 1, -1, err, sizeof err) < 0)
			fatal("upstream -: %s", err);
		next(d);
		return;
	}
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &a, dialthread, d);
	pthread_attr_destroy(&a);
	if(e != 0){
		failed(d, strerror(e));
		return;
	}
	d->dialing = 1;
	d->since = now();
}

void
dialed(void)
{
	char err[256];
	Dialres r;
	Dialer *d;

	if(read(g.dialpipe[0], &r, sizeof r) != (ssize_t)sizeof r)
		return;
	d = r.d;
	d->dialing = 0;
	if(r.fd < 0)
		failed(d, r.err);
	else if(g.stopping || d->conn != NULL){
		close(r.fd);
		if(r.pid > 0)
			kill(r.pid, SIGTERM);
	}else if(attach(d, r.fd, r.fd, r.pid, err, sizeof err) < 0){
		if(r.pid > 0)
			kill(r.pid, SIGTERM);
		failed(d, err);
	}
	next(d);
}

void
dialerlost(Dialer *d, const char *why)
{
	Conn *c;

	c = d->conn;
	d->conn = NULL;
	if(c && c->c){
		nmchandown(c->c);
		c->c = NULL;
	}
	if(d->pid > 0)
		kill(d->pid, SIGTERM);	/* reaped on SIGCHLD */
	d->pid = -1;
	d->since = now();
	unhold(d);
	if(g.stopping){
		persistend(d);
		return;
	}
	/* -P counts from the loss, not from a loss during the restore */
	if(nmuplost(d->u) && d->persist.slot < 0)
		timerset(&d->persist, now() + (long long)g.persist * 1000);
	if(!d->everup && g.failfast)
		fatal("%s %s: %s", d->what, d->addr, why);
	if(d->everup)
		logerror("%s %s lost: %s", d->what, d->addr, why);
	if(strcmp(d->addr, "-") == 0){
		logerror("%s was standard input: not redialing", d->what);
		return;
	}
	if(!d->everup)
		failed(d, why);
	else{
		d->failing = 1;	/* so that its coming back is logged too */
		later(d);
	}
}

void
dialfirst(Dialer *d)
{
	char err[256];
	struct pollfd pf[2];
	long long deadline;
	pid_t pid;
	Conn *c;
	int fd, n, t;

	if(strcmp(d->addr, "-") == 0){
		if(attach(d, 0, 1, -1, err, sizeof err) < 0)
			fatal("%s -: %s", d->what, err);
	}else{
		pid = -1;
		fd = d->istls ? dialraw(d->addr, err, sizeof err) : dialpid(d->addr, &pid, err, sizeof err);
		if(fd < 0)
			fatal("%s %s: %s", d->what, d->addr, err);
		if(attach(d, fd, fd, pid, err, sizeof err) < 0)
			fatal("%s %s: %s", d->what, d->addr, err);
	}
	deadline = now() + VERSIONWAIT;
	while((c = d->conn) != NULL && (c->hs || c->c == NULL || nmchanstate(c->c) != NM_CREADY)){
		/* as the loop would: write what is queued, read what TLS holds, then wait for what c waits for */
		connout(c);
		if(d->conn == NULL)
			break;
		if(c->rmore){
			c->rmore = 0;
			connin(c);
			continue;
		}
		pf[0].fd = c->fd;
		pf[0].events = (c->events & EPOLLIN ? POLLIN : 0) | (c->events & EPOLLOUT ? POLLOUT : 0);
		pf[1].fd = c->wfd;
		pf[1].events = POLLOUT;
		t = (int)(deadline - now());
		if(t <= 0)
			fatal("%s %s: no answer to Tversion", d->what, d->addr);
		n = poll(pf, c->wfd != c->fd && c->wevents ? 2 : 1, t);
		if(n < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		if(n > 0 && (pf[0].revents & (POLLIN | POLLOUT | POLLHUP | POLLERR)))
			connin(c);
	}
	if(d->conn == NULL)
		fatal("%s %s: lost during Tversion", d->what, d->addr);
}

void
chanready(Conn *c)
{
	Dialer *d;

	logmsg(LOG_CONN, "%s %s ready: %s, msize %u", c->name, c->who,
		p9dialectname(nmchandialect(c->c)), nmchanmsize(c->c));
	c->verbackoff = 0;
	if(c->link){
		c->link->since = now();
		if(!nmuplost(c->link->u))
			timerdel(&c->link->persist);
	}
	if((d = c->dialer) == NULL)
		return;
	d->since = now();
	d->ups++;
	unhold(d);
	if(!nmuplost(d->u))
		timerdel(&d->persist);
	if(d->failing && d->everup)
		logerror("%s %s is back", d->what, d->addr);
	else if(d->failing)
		logerror("%s %s reached", d->what, d->addr);
	d->failing = 0;
	d->everup = 1;
	d->backoff = MINBACKOFF;
	if(d == &g.up && nmchandialect(c->c) != g.conf.dialect)
		logerror("%s %s answered %s to %s: clients get %s", d->what, d->addr,
			p9dialectname(nmchandialect(c->c)), p9dialectname(g.conf.dialect),
			p9dialectname(nmchandialect(c->c)));
}

void
reap(void)
{
	pid_t p;
	int st;

	while((p = waitpid(-1, &st, WNOHANG)) > 0)
		logmsg(LOG_CONN, "upstream process %d ended (status 0x%x)", (int)p, st);
}
