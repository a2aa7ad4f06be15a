/*
 * TLS under 9P (lib/tls), and cover traffic.
 *
 * A tls! connection reads and writes through its Tls; until the
 * handshake is done it carries no 9P: the handshake is stepped by the
 * loop like any other I/O, so a slow peer stops nobody, and a peer that
 * has not finished in HSWAIT is dropped.  A link accepted over TLS is
 * named by the peer's identity (a pre-shared key's, or a certificate's
 * common name), which -r NAME= chooses.
 *
 * Cover traffic (-Z): on connections we send requests on, at random
 * times (exponentially distributed, averaging -Z ms) a ping goes if
 * nothing else went since the last time, so an observer cannot tell
 * idle from a trickle of requests.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "dial.h"
#include "log.h"
#include "tls.h"
#include "9mux.h"

/* Make the TLS configuration for the roles the addresses need: exits on failure. */
void
tlssetup(int dialing, int listening)
{
	char err[512];
	int roles;

	roles = (dialing ? TLS_DIAL : 0) | (listening ? TLS_LISTEN : 0);
	if(roles == 0){
		if(tlsflagged(&g.tlsopts) || g.tlsopts.pad)
			fatal("TLS flags (-S, -C, -K, -R, -H, -z) given, and no tls! address to use them");
		return;
	}
	if((g.tls = tlsconfnew(&g.tlsopts, roles, err, sizeof err)) == NULL)
		fatal("%s", err);
}

/* Read the keys and certificates again; the old ones stay if that fails. */
void
tlsreloadall(void)
{
	char err[512];

	if(g.tls == NULL)
		return;
	if(tlsconfreload(g.tls, err, sizeof err) < 0)
		logerror("TLS keys and certificates not reloaded: %s", err);
	else
		logmsg(LOG_CONN, "TLS keys and certificates reloaded");
}

static void
hstimeout(Timer *t)
{
	closeconn(t->arg, "TLS handshake not finished in 10 s");
}

int
tlsstart(Conn *c, int side, const char *addr)
{
	char err[512], host[256];

	host[0] = '\0';
	if(side == TLS_DIAL && addrhost(addr, host, sizeof host) < 0)
		snprintf(host, sizeof host, "%s", addr);
	c->tls = tlsnew(g.tls, c->fd, side, side == TLS_DIAL ? host : NULL, err, sizeof err);
	if(c->tls == NULL){
		closeconn(c, err);
		return -1;
	}
	c->hs = 1;
	c->hst.fn = hstimeout;
	c->hst.arg = c;
	timerset(&c->hst, now() + HSWAIT);
	tlsstep(c);
	return 0;
}

void
tlsstep(Conn *c)
{
	int r;

	r = tlshandshake(c->tls);
	switch(r){
	case 0:
		break;
	case TLS_WANTREAD:
		setev(c->fd, &c->ev, &c->events, EPOLLIN);
		return;
	case TLS_WANTWRITE:
		setev(c->fd, &c->ev, &c->events, EPOLLOUT);
		return;
	default:
		closeconn(c, tlserr(c->tls));
		return;
	}
	c->hs = 0;
	c->lastin = now();
	timerdel(&c->hst);
	logmsg(LOG_CONN, "%s %s: TLS %s, peer %s%s", c->name, c->who, tlscipher(c->tls),
		*tlspeer(c->tls) ? tlspeer(c->tls) : "without a name",
		tlsauth(c->tls) == TLS_AUTHPSK ? " (pre-shared key)" : tlsauth(c->tls) == TLS_AUTHCERT ? " (certificate)" : "");
	if(c->role == CLINK && linkaccept(c, tlspeer(c->tls)) < 0){
		closeconn(c, "out of memory");
		return;
	}
	/* the peer's first frames may have come with its last handshake message: epoll will not tell */
	c->rmore = 1;
	setev(c->fd, &c->ev, &c->events, EPOLLIN);
	markdirty(c);
}

ssize_t
connread(Conn *c, uint8_t *p, size_t n, const char **why)
{
	ssize_t r;

	if(c->tls == NULL){
		for(;;){
			if((r = read(c->fd, p, n)) >= 0)
				return r;
			if(errno == EINTR)
				continue;
			if(errno == EAGAIN || errno == EWOULDBLOCK)
				return RBLOCK;
			*why = strerror(errno);
			return RERR;
		}
	}
	r = tlsread(c->tls, p, n);
	if(r >= 0)
		return r;
	if(r == TLS_WANTREAD)
		return RBLOCK;
	if(r == TLS_WANTWRITE){
		/* the TLS layer must write before it can read: connout will, when the socket takes it */
		c->tlswant = TLS_WANTWRITE;
		markdirty(c);
		return RBLOCK;
	}
	*why = tlserr(c->tls);
	return RERR;
}

ssize_t
connwritev(Conn *c, const struct iovec *iov, int n)
{
	ssize_t w;
	int want;

	if(n > 0)
		c->lastout = now();
	if(c->tls == NULL){
		for(;;){
			if((w = writev(c->wfd, iov, n)) >= 0)
				return w;
			if(errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
	}
	w = tlswritev(c->tls, iov, n, &want);
	if(w < 0){
		errno = EPROTO;
		return -1;
	}
	c->tlswant = want;
	/* what it took is its own now: what it holds goes when the socket takes it */
	return w;
}

int
connflushtls(Conn *c)
{
	ssize_t w;
	int want;

	if(c->tls == NULL || c->tlswant == 0)
		return 0;
	w = tlswritev(c->tls, NULL, 0, &want);
	if(w < 0)
		return -1;
	c->tlswant = want;
	return 0;
}

const char *
connerr(Conn *c)
{
	return c->tls && *tlserr(c->tls) ? tlserr(c->tls) : strerror(errno);
}

void
tlsend(Conn *c)
{
	c->hs = 0;
	timerdel(&c->hst);
	timerdel(&c->cover);
	if(c->tls == NULL)
		return;
	if(!c->hs)
		tlsshutdown(c->tls);	/* close_notify if the socket takes it now; no waiting */
	tlsfree(c->tls);
	c->tls = NULL;
}

/*
 * Cover traffic.
 */

/* An interval of the exponential distribution with mean -Z ms. */
static long long
interval(void)
{
	double u;

	u = (random() + 1.0) / ((double)RAND_MAX + 2.0);
	return (long long)(-log(u) * g.cover) + 1;
}

static void
coverfire(Timer *t)
{
	Conn *c;

	c = t->arg;
	if(c->c && nmchanstate(c->c) == NM_CREADY && c->lastout <= c->covertick && nmchanping(c->c) == 0)
		markdirty(c);
	c->covertick = now();
	timerset(t, c->covertick + interval());
}

void
coverstart(Conn *c)
{
	if(g.cover <= 0)
		return;
	c->cover.fn = coverfire;
	c->cover.arg = c;
	c->covertick = now();
	timerset(&c->cover, c->covertick + interval());
}
