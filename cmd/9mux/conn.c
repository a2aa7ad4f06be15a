/*
 * Connections: reading, framing, feeding the engine, writing.
 *
 * A client's bytes go to its session.  On an upstream or a link the
 * stream carries both directions: an odd type is a reply to our
 * channel, fed at once (replies are always read), an even type a
 * request from the peer, which waits in tb while its session cannot
 * take it, so that a busy direction never stops the other's replies.
 * Writing takes whole frames from the session's queue (replies to the
 * peer) and the channel's (our requests) in turn, so a bulk transfer
 * one way does not starve small requests the other way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "9p.h"
#include "log.h"
#include "9mux.h"

Conn *
connnew(int fd, int role)
{
	Conn *c;

	c = calloc(1, sizeof *c);
	if(c == NULL){
		close(fd);
		return NULL;
	}
	c->ev.kind = KCONN;
	c->wev.kind = KCONNW;
	c->fd = fd;
	c->wfd = fd;
	c->role = role;
	c->ka.slot = c->rever.slot = c->hst.slot = c->cover.slot = -1;
	c->lastin = now();
	if(addev(fd, &c->ev, EPOLLIN) < 0){
		close(fd);
		free(c);
		return NULL;
	}
	c->events = EPOLLIN;
	c->next = g.conns;
	if(g.conns)
		g.conns->prev = c;
	g.conns = c;
	return c;
}

void
markdirty(Conn *c)
{
	if(c->dirty || c->dead)
		return;
	c->dirty = 1;
	c->dnext = g.dirty;
	g.dirty = c;
}

void
wake(void *aux, int what)
{
	Conn *c;

	c = aux;
	if(what == NM_WIN)
		c->wantin = 1;
	markdirty(c);
}

/*
 * Output.
 */

/*
 * Write what one queue holds: 0, or -1 on an error of the connection.
 * A frame with a descriptor to send after it (Ropenfd) ends a write,
 * for the descriptor rides on its own byte right after it.
 */
static int
drain(Conn *c, Nmq *q)
{
	struct iovec iov[NIOV];
	Nmmsg *m, *fdm;
	size_t upto;
	ssize_t w;
	int n;

	for(;;){
		if(c->fdnext && !fdsend(c))
			return 0;
		if(nmqempty(q) || c->tlswant != 0)
			return 0;
		n = 0;
		upto = 0;
		fdm = NULL;
		for(m = q->head; m != NULL && n < NIOV && fdm == NULL; m = m->next){
			iov[n].iov_base = m->data + m->off;
			iov[n].iov_len = m->len - m->off;
			upto += iov[n++].iov_len;
			if(m->fd)
				fdm = m;
		}
		if((w = connwritev(c, iov, n)) < 0)
			return -1;
		if(w == 0)
			return 0;
		if(fdm && (size_t)w == upto){
			/* the descriptor is ours now, not the queue's */
			c->fdnext = fdm->fd;
			fdm->fd = NULL;
		}
		nmqadvance(q, (size_t)w);
	}
}

/*
 * Write two queues on one stream, a whole frame of each in turn: the
 * frame a short write left unfinished goes first, for frames cannot
 * interleave on the wire.  0, or -1 on an error of the descriptor.
 */
static int
drain2(Conn *c, Nmq *q0, Nmq *q1, int *last)
{
	struct iovec iov[NIOV];
	Nmmsg *m[2];
	int from[NIOV], n, i, k;
	size_t done[2], len;
	ssize_t w;

	while((!nmqempty(q0) || !nmqempty(q1)) && c->tlswant == 0){
		m[0] = q0->head;
		m[1] = q1->head;
		if(m[0] && m[0]->off > 0)
			k = 0;
		else if(m[1] && m[1]->off > 0)
			k = 1;
		else
			k = !*last;
		for(n = 0; n < NIOV && (m[0] || m[1]); n++){
			if(m[k] == NULL)
				k = !k;
			iov[n].iov_base = m[k]->data + m[k]->off;
			iov[n].iov_len = m[k]->len - m[k]->off;
			from[n] = k;
			m[k] = m[k]->next;
			k = !k;
		}
		if((w = connwritev(c, iov, n)) < 0)
			return -1;
		if(w == 0)
			return 0;
		done[0] = done[1] = 0;
		for(i = 0; i < n && w > 0; i++){
			len = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
			done[from[i]] += len;
			w -= (ssize_t)len;
			*last = from[i];
		}
		/* advancing one queue may add to the other (a tag freed, a request pumped) */
		nmqadvance(q0, done[0]);
		nmqadvance(q1, done[1]);
	}
	return 0;
}

static size_t
backlog(Conn *c)
{
	size_t n;

	n = c->s ? nmsessmsize(c->s) + (size_t)BUFSZ : 0;
	return n > LINKBACKLOG ? n : LINKBACKLOG;
}

void
connout(Conn *c)
{
	Nmq *sq, *cq;
	int r;

	if(c->dead || c->hs)
		return;
	if(c->inbatch)
		return;
	if(c->s && !nmqempty(nmsessq(c->s)) && batchable(c)){
		batchadd(c);
		return;
	}
	sq = c->s ? nmsessq(c->s) : NULL;
	cq = c->c ? nmchanq(c->c) : NULL;
	r = connflushtls(c);
	if(r == 0 && sq && cq)
		r = drain2(c, sq, cq, &c->lastq);
	else if(r == 0)
		r = sq ? drain(c, sq) : cq ? drain(c, cq) : 0;
	if(r < 0){
		closeconn(c, connerr(c));
		return;
	}
	connwant(c);
}

void
connwant(Conn *c)
{
	Nmq *sq, *cq;
	uint32_t want;

	sq = c->s ? nmsessq(c->s) : NULL;
	cq = c->c ? nmchanq(c->c) : NULL;
	want = 0;
	if(c->peek)
		want |= EPOLLET | EPOLLRDHUP;
	if(c->role == CCLIENT){
		if(!g.stopping && !c->memwait && (!c->stalled || c->in.len < c->in.cap))
			want |= EPOLLIN;
	}else if(c->tb.len < backlog(c))
		want |= EPOLLIN;
	if(c->tlswant == TLS_WANTREAD)
		want |= EPOLLIN;
	if((sq && !nmqempty(sq)) || (cq && !nmqempty(cq)) || c->tlswant == TLS_WANTWRITE || c->fdnext){
		if(c->wfd == c->fd)
			want |= EPOLLOUT;
		else
			setev(c->wfd, &c->wev, &c->wevents, EPOLLOUT);
	}else if(c->wfd != c->fd)
		setev(c->wfd, &c->wev, &c->wevents, 0);
	setev(c->fd, &c->ev, &c->events, want);
}

/*
 * Feeding the engine.
 */

/* Feed b's frames to c's session; 0, or -1 if c must go. */
static int
feed(Conn *c, Buf *b)
{
	char err[256];
	uint8_t *p;
	size_t k;
	long n;

	c->wantin = 0;
	for(;;){
		if(b->len == 0){
			c->stalled = 0;
			break;
		}
		n = nmsessin(c->s, b->p, b->len, err, sizeof err);
		if(n < 0){
			closeconn(c, err);
			return -1;
		}
		if(n > 0){
			memmove(b->p, b->p + n, b->len - (size_t)n);
			b->len -= (size_t)n;
		}
		if(nmsessmemwait(c->s) && !c->budgetwait)
			logmsg(LOG_CONN, "%s %s: waits for room in the memory budget (-B)", c->name, c->who);
		c->budgetwait = nmsessmemwait(c->s);
		/*
		 * A whole frame left means the engine is holding back: read
		 * only into the room left until it wakes us, so that a Tflush
		 * sent since can still be seen and handled.  Handling one may
		 * take out the frame it waits with: then try again.
		 */
		c->stalled = c->memwait || p9frame(b->p, b->len, nmsessmsize(c->s)) != P9_EINCOMPLETE;
		if(!c->stalled || c->memwait)
			break;
		k = b->len;
		b->len = nmsessflushes(c->s, b->p, b->len);
		if(b->len == k)
			break;
	}
	if(b->len == 0){
		if(c->role == CCLIENT)
			g.bigbytes -= bufextra(b->cap);
		buffree(b);
	}else if(b->cap > BUFSZ && b->len <= BUFSZ / 2 && (p = realloc(b->p, BUFSZ)) != NULL){
		/* the large frame is gone: so is its room */
		if(c->role == CCLIENT)
			g.bigbytes -= bufextra(b->cap);
		b->p = p;
		b->cap = BUFSZ;
	}
	return 0;
}

int
connfeed(Conn *c)
{
	if(c->s == NULL)
		return 0;
	if(feed(c, c->role == CCLIENT ? &c->in : &c->tb) < 0)
		return -1;
	/* room was made: what TLS holds may come in now */
	c->rmore = c->tls != NULL && tlspending(c->tls);
	return 0;
}

/*
 * Whether c's buffer may grow to cap bytes: a frame larger than BUFSZ
 * counts against -B with everything the engine holds, unless no other
 * client has a large buffer (so one always goes on).
 */
static int
fits(Conn *c, size_t cap)
{
	size_t more, used;

	if(bufextra(cap) <= bufextra(c->in.cap))
		return 1;
	more = bufextra(cap) - bufextra(c->in.cap);
	used = g.bigbytes + nmbytes(g.m);
	return g.bigbytes == bufextra(c->in.cap) || (used <= g.maxbytes && g.maxbytes - used >= more);
}

/* As fits; if not, c stops being read until memwake finds room for it. */
static int
mayhold(Conn *c, size_t cap)
{
	if(fits(c, cap))
		return 1;
	if(!c->memwait){
		c->memwait = 1;
		c->mwnext = g.memwaiters;
		g.memwaiters = c;
		logmsg(LOG_CONN, "%s %s: a %zu-byte frame waits for memory (-B)", c->name, c->who, cap);
	}
	c->memcap = cap;
	c->stalled = 1;
	markdirty(c);
	return 0;
}

static void
memunwait(Conn *c)
{
	Conn **pp;

	for(pp = &g.memwaiters; *pp != NULL; pp = &(*pp)->mwnext)
		if(*pp == c){
			*pp = c->mwnext;
			break;
		}
	c->mwnext = NULL;
	c->memwait = 0;
}

void
memwake(void)
{
	Conn *c, *next;

	for(c = g.memwaiters; c != NULL; c = next){
		next = c->mwnext;
		if(fits(c, c->memcap)){
			memunwait(c);
			c->stalled = 0;
			markdirty(c);
		}
	}
}

/*
 * TLS may hold bytes it has read and not given: epoll will not say so,
 * so the loop reads again while it does and reading got anywhere.
 */
static void
readmore(Conn *c, size_t got)
{
	c->rmore = got > 0 && c->tls != NULL && !c->dead && tlspending(c->tls);
}

/* A client's bytes: read while the engine takes them. */
static void
clientin(Conn *c)
{
	const char *why;
	ssize_t r;
	size_t room, need, cap, old, got;
	int i, again;

	got = 0;
	again = 0;
	for(i = 0; i < 8 && !c->memwait; i++){
		if(c->stalled){
			if(c->in.cap == c->in.len)
				break;
		}else{
			/* the frame's rest, or a buffer's worth while its size is unknown */
			need = bufrest(&c->in, nmsessmsize(c->s));
			cap = bufcap(c->in.cap, c->in.len, need > 0 ? need : BUFSZ / 2);
			if(!mayhold(c, cap))
				return;
			old = c->in.cap;
			if(bufgrow(&c->in, cap) < 0){
				closeconn(c, "out of memory");
				return;
			}
			g.bigbytes += bufextra(c->in.cap) - bufextra(old);
		}
		room = c->in.cap - c->in.len;
		r = clientread(c, c->in.p + c->in.len, &room, &why);
		if(r == 0){
			closeconn(c, "hung up");
			return;
		}
		if(r == RBLOCK)
			break;
		if(r < 0){
			closeconn(c, why);
			return;
		}
		c->in.len += (size_t)r;
		got += (size_t)r;
		if(feed(c, &c->in) < 0)
			return;
		/*
		 * A short read emptied the socket: epoll says when there is
		 * more, level-triggered, or edge-triggered (peeking clients)
		 * at the next bytes; but not the end after a hang-up, which
		 * is read next turn, once this turn's replies are written.
		 */
		if((size_t)r < room){
			again = c->hangup;
			break;
		}
	}
	/* edge-triggered, with more to read than this turn's share: the next turn reads it */
	if(c->peek && (i == 8 || again) && !c->rready){
		c->rready = 1;
		c->rnext = g.ready;
		g.ready = c;
	}
	readmore(c, got);
	markdirty(c);
}

/* The largest frame of type t c takes from its peer. */
static uint32_t
limit(Conn *c, int t)
{
	if(t & 1)
		return c->c ? nmchanmsize(c->c) : g.conf.msize;
	return c->s ? nmsessmsize(c->s) : 8192;
}

/* A reply from the peer to our channel: 0, or -1 if c is closed. */
static int
replyin(Conn *c, uint8_t *f, uint32_t n)
{
	char err[256];
	long k;
	int was;

	if(c->c == NULL)
		return 0;	/* from a channel taken down before a new Tversion */
	was = nmchanstate(c->c);
	k = nmchanin(c->c, f, n, err, sizeof err);
	if(k < 0){
		closeconn(c, err);
		return -1;
	}
	if(nmchanstate(c->c) == NM_CREFUSED)
		reversion(c, err);
	else if(was != NM_CREADY && nmchanstate(c->c) == NM_CREADY)
		chanready(c);
	return 0;
}

/* A request from the peer: to its session, or behind what waits. */
static int
requestin(Conn *c, uint8_t *f, uint32_t n)
{
	char err[256];
	long k;

	/* stopping, a peer is not read either: the link's end answers what it sends now */
	if(g.stopping)
		return 0;
	if(c->s == NULL){
		/* the side that dialed serves the peer's requests by its export, if any */
		c->s = nmsessnewup(g.m, c->dialer ? c->dialer->serves : NULL, c);
		if(c->s == NULL){
			closeconn(c, "out of memory");
			return -1;
		}
		nmsesskeep(c->s);
	}
	if(c->dialer && c->dialer->serves == NULL && !c->unserved){
		c->unserved = 1;
		logerror("%s %s sends requests, and nothing is exported to it (9mux -e)", c->name, c->who);
	}
	if(c->tb.len == 0){
		k = nmsessin(c->s, f, n, err, sizeof err);
		if(k < 0){
			closeconn(c, err);
			return -1;
		}
		if(k == (long)n)
			return 0;
	}
	if(bufadd(&c->tb, f, n) < 0){
		closeconn(c, "out of memory");
		return -1;
	}
	return 0;
}

/* Split what an upstream or a link sent by direction; 0, or -1 if c is closed. */
static int
demux(Conn *c)
{
	char why[128];
	uint8_t *p;
	uint32_t size, lim;
	size_t off;
	int r;

	off = 0;
	r = 0;
	while(c->in.len - off >= 5){
		p = c->in.p + off;
		size = p9get32(p);
		lim = limit(c, p[4]);
		if(size < P9_HDRSZ || size > lim){
			snprintf(why, sizeof why, "bad frame: size %u, type %u (limit %u)", size, p[4], lim);
			closeconn(c, why);
			return -1;
		}
		if(c->in.len - off < size)
			break;
		r = p[4] & 1 ? replyin(c, p, size) : requestin(c, p, size);
		if(r < 0)
			return -1;
		off += size;
	}
	memmove(c->in.p, c->in.p + off, c->in.len - off);
	c->in.len -= off;
	/* a buffer grown for large replies stays for the next (the spares are the clients') */
	if(c->in.len == 0 && (c->in.cap <= BUFSZ || c->in.cap > PEERKEEP))
		buffree(&c->in);
	return 0;
}

/*
 * The room a peer's next read wants: its frame whole and some past it,
 * once its type says its limit, or all the room there is.  One read
 * then takes a large reply whole, and comes back short (the socket
 * empty) without a second read to learn it.
 */
static size_t
linkwant(Conn *c)
{
	size_t n;

	if(c->in.len >= 5 && (n = bufrest(&c->in, limit(c, c->in.p[4]))) > 0)
		return n + BUFSZ / 2;
	n = c->in.cap - c->in.len;
	return n > BUFSZ / 2 ? n : BUFSZ / 2;
}

/* An upstream's or a link's bytes: replies always, requests while they fit the backlog. */
static void
peerin(Conn *c)
{
	const char *why;
	ssize_t r;
	size_t room, got;
	int i;

	got = 0;
	for(i = 0; i < 8 && c->tb.len < backlog(c); i++){
		if(bufgrow(&c->in, bufcap(c->in.cap, c->in.len, linkwant(c))) < 0){
			closeconn(c, "out of memory");
			return;
		}
		room = c->in.cap - c->in.len;
		r = connread(c, c->in.p + c->in.len, room, &why);
		if(r == 0){
			closeconn(c, "hung up");
			return;
		}
		if(r == RBLOCK)
			break;
		if(r < 0){
			closeconn(c, why);
			return;
		}
		c->lastin = now();
		c->in.len += (size_t)r;
		got += (size_t)r;
		if(demux(c) < 0)
			return;
		if((size_t)r < room)
			break;
	}
	readmore(c, got);
	markdirty(c);
}

Conn *
readytake(void)
{
	Conn *list, *c;

	list = g.ready;
	g.ready = NULL;
	for(c = list; c != NULL; c = c->rnext)
		c->rready = 2;
	return list;
}

void
readyin(Conn *list)
{
	Conn *c;

	while((c = list) != NULL){
		list = c->rnext;
		c->rready = 0;
		if(!c->dead && !g.stopping)
			connin(c);
	}
}

void
connin(Conn *c)
{
	if(c->dead)
		return;
	if(c->hs)
		tlsstep(c);
	else if(c->role == CCLIENT)
		clientin(c);
	else
		peerin(c);
}

/*
 * The end of a connection.
 */

void
closeconn(Conn *c, const char *reason)
{
	char why[512];
	Conn **pp;

	if(c->dead)
		return;
	/* the reason may be TLS's own words, which go with it */
	snprintf(why, sizeof why, "%s", reason);
	logmsg(LOG_CONN, "%s %s: %s", c->name, c->who, why);
	c->dead = 1;
	tlsend(c);
	timerdel(&c->ka);
	timerdel(&c->rever);
	if(c->role == CCLIENT){
		g.bigbytes -= bufextra(c->in.cap);
		c->in.cap = 0;	/* no longer counted; the buffer is freed with c */
		if(c->memwait)
			memunwait(c);
		peekunlink(c);
		c->peeked = 0;
		/* on this turn's list (2), it is skipped, dead; on the next turn's (1), it goes */
		if(c->rready == 1){
			for(pp = &g.ready; *pp != c; pp = &(*pp)->rnext)
				;
			*pp = c->rnext;
			c->rready = 0;
		}
		g.nclients--;
		if(g.lispaused && !g.stopping)
			lispause(0);
	}
	epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
	if(c->wfd != c->fd)
		epoll_ctl(g.ep, EPOLL_CTL_DEL, c->wfd, NULL);
	/* the engine may wake other connections now, never this one */
	if(c->s){
		nmsessclose(c->s);
		c->s = NULL;
	}
	if(c->fdnext){
		nmfdclose(c->fdnext);
		c->fdnext = NULL;
	}
	if(c->role == CUP)
		dialerlost(c->dialer, why);
	else if(c->role == CLINK)
		linkgone(c);
	else if(c->c){
		nmchandown(c->c);
		c->c = NULL;
	}
	close(c->fd);
	if(c->wfd != c->fd)
		close(c->wfd);
	c->fd = c->wfd = -1;
	if(c->prev)
		c->prev->next = c->next;
	else
		g.conns = c->next;
	if(c->next)
		c->next->prev = c->prev;
	/* freed after the loop: the dirty list or an event may still name it */
	c->next = g.graveyard;
	g.graveyard = c;
}

void
reapconns(void)
{
	Conn *c;

	while((c = g.graveyard) != NULL){
		g.graveyard = c->next;
		free(c->in.p);
		free(c->tb.p);
		free(c);
	}
}

int
quiet(void)
{
	Conn *c;

	if(nminflight(g.m) != 0)
		return 0;
	for(c = g.conns; c != NULL; c = c->next)
		if(c->s && !nmqempty(nmsessq(c->s)))
			return 0;
	return 1;
}
