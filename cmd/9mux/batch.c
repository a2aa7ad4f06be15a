/*
 * Clients' I/O at less cost a request: every client's replies written
 * in one system call a loop turn (io_uring), and a client's requests
 * read without waking it for nothing.
 *
 * The second needs saying.  A client blocked in read(2) on a unix
 * stream socket sleeps on the same wait queue that is woken when the
 * bytes it sent are taken off the socket (unix_write_space), and that
 * wait does not look at why it was woken: so taking a request off the
 * socket while its client sleeps wakes it to find nothing and sleep
 * again, two context switches of its own and a wake-up paid by 9mux,
 * for every request.  Measured at 64 clients, that wake-up was over a
 * quarter of 9mux's time.  So a client on a unix socket is read by
 * peeking (SO_PEEK_OFF: each peek gives the bytes after the last), and
 * the bytes are taken off later, in the same system call as the write
 * of a reply to that client, which wakes it anyway: the wait queue is
 * empty by then.  Not with every reply, though: a take was a tenth of
 * 9mux's time at 64 clients when each reply had one, so a reply takes
 * the bytes only once TAKEMIN have gathered, and a few bytes wait for a
 * later reply.  Each peek walks past the frames left in the socket,
 * which keeps TAKEMIN small.  Bytes are taken at once when a frame is
 * incomplete (its sender may be waiting for room) and are never held
 * longer than PEEKAGE or beyond PEEKMAX, so a client's send buffer
 * always has room for a Tflush.  Such a client is watched
 * edge-triggered, since the bytes left in its socket would keep it
 * readable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <liburing.h>

#include "log.h"
#include "9mux.h"

enum {
	RINGSZ	= 256,		/* submission entries: a write and a take for each of RINGSZ/2 clients a call */
	BIOV	= 16,		/* frames one client's write takes at most */
};

static struct io_uring ring;
static int ringok;
static uint8_t scratch[PEEKMAX];

/* The slots of one system call. */
static struct {
	Conn		*c;
	struct msghdr	msg;
	struct iovec	iov[BIOV];
	size_t		upto;
	Nmmsg		*fdm;
	int		wres;
	int		tres;
	int		w;		/* a write went */
	int		t;		/* a take went */
} slot[RINGSZ / 2];

void
batchinit(int ring_on, int peek_on)
{
	g.peekon = peek_on;
	if(!ring_on)
		return;
	if(io_uring_queue_init(RINGSZ, &ring, 0) < 0){
		logerror("io_uring: %s: clients are written one call each", strerror(errno));
		return;
	}
	ringok = 1;
}

void
batchend(void)
{
	if(ringok)
		io_uring_queue_exit(&ring);
	ringok = 0;
}

/*
 * Peeking.
 */

void
peekstart(Conn *c)
{
	int zero;

	zero = 0;
	if(!g.peekon || setsockopt(c->fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) < 0)
		return;
	c->peek = 1;
}

static void
peeklink(Conn *c)
{
	c->peekat = now();
	c->pknext = NULL;
	c->pkprev = g.pktail;
	if(g.pktail)
		g.pktail->pknext = c;
	else
		g.pkhead = c;
	g.pktail = c;
}

void
peekunlink(Conn *c)
{
	if(c->peeked == 0)
		return;
	if(c->pkprev)
		c->pkprev->pknext = c->pknext;
	else
		g.pkhead = c->pknext;
	if(c->pknext)
		c->pknext->pkprev = c->pkprev;
	else
		g.pktail = c->pkprev;
	c->pknext = c->pkprev = NULL;
}

/* n of the peeked bytes were taken off the socket. */
static void
taken(Conn *c, size_t n)
{
	if(n >= c->peeked){
		peekunlink(c);
		c->peeked = 0;
	}else
		c->peeked -= n;
}

/* Take the peeked bytes off the socket now: 0, or -1 with *why. */
static int
take(Conn *c, const char **why)
{
	ssize_t r;

	while(c->peeked > 0){
		r = read(c->fd, scratch, c->peeked < sizeof scratch ? c->peeked : sizeof scratch);
		if(r < 0 && errno == EINTR)
			continue;
		if(r <= 0){
			*why = r == 0 ? "hung up" : strerror(errno);
			return -1;
		}
		taken(c, (size_t)r);
	}
	return 0;
}

ssize_t
clientread(Conn *c, uint8_t *p, size_t *np, const char **why)
{
	ssize_t r;
	size_t n;

	n = *np;
	if(!c->peek)
		return connread(c, p, n, why);
	/* a plain read starts where the socket does, at the bytes peeked */
	if(c->peeked > 0 && (c->in.len > 0 || c->peeked >= PEEKMAX) && take(c, why) < 0)
		return RERR;
	/* in a frame's middle (a large one, or the rest of one): plain reads */
	if(c->in.len > 0)
		return connread(c, p, n, why);
	if(n > PEEKMAX - c->peeked)
		n = *np = PEEKMAX - c->peeked;
	for(;;){
		r = recv(c->fd, p, n, MSG_PEEK | MSG_DONTWAIT);
		if(r >= 0)
			break;
		if(errno == EINTR)
			continue;
		if(errno == EAGAIN || errno == EWOULDBLOCK)
			return RBLOCK;
		*why = strerror(errno);
		return RERR;
	}
	if(r > 0){
		if(c->peeked == 0)
			peeklink(c);
		c->peeked += (size_t)r;
	}
	return r;
}

int
peekdue(void)
{
	const char *why;
	long long t;
	Conn *c;

	while((c = g.pkhead) != NULL){
		t = c->peekat + PEEKAGE - now();
		if(t > 0)
			return (int)t;
		if(take(c, &why) < 0)
			closeconn(c, why);
	}
	return -1;
}

/*
 * Batched writes.
 */

int
batchable(Conn *c)
{
	return ringok && c->role == CCLIENT && c->tls == NULL && c->fdnext == NULL && !c->hs;
}

void
batchadd(Conn *c)
{
	if(c->inbatch)
		return;
	c->inbatch = 1;
	c->bnext = g.batch;
	g.batch = c;
}

/* Fill slot k's write from c's queue: whether there is one. */
static int
fill(int k, Conn *c)
{
	Nmmsg *m;
	Nmq *q;
	int n;

	q = nmsessq(c->s);
	n = 0;
	slot[k].upto = 0;
	slot[k].fdm = NULL;
	for(m = q->head; m != NULL && n < BIOV && slot[k].fdm == NULL; m = m->next){
		slot[k].iov[n].iov_base = m->data + m->off;
		slot[k].iov[n].iov_len = m->len - m->off;
		slot[k].upto += slot[k].iov[n++].iov_len;
		if(m->fd)
			slot[k].fdm = m;
	}
	memset(&slot[k].msg, 0, sizeof slot[k].msg);
	slot[k].msg.msg_iov = slot[k].iov;
	slot[k].msg.msg_iovlen = (size_t)n;
	return n > 0;
}

/* What one system call did for slot k's connection. */
static void
done(int k)
{
	Conn *c;
	Nmq *q;

	c = slot[k].c;
	c->inbatch = 0;
	if(c->dead)
		return;
	if(slot[k].t){
		if(slot[k].tres > 0)
			taken(c, (size_t)slot[k].tres);
		else if(slot[k].tres < 0 && slot[k].tres != -EAGAIN){
			closeconn(c, strerror(-slot[k].tres));
			return;
		}
	}
	if(slot[k].w){
		if(slot[k].wres < 0 && slot[k].wres != -EAGAIN){
			errno = -slot[k].wres;
			closeconn(c, strerror(errno));
			return;
		}
		if(slot[k].wres > 0){
			c->lastout = now();
			q = nmsessq(c->s);
			if(slot[k].fdm && (size_t)slot[k].wres == slot[k].upto){
				c->fdnext = slot[k].fdm->fd;
				slot[k].fdm->fd = NULL;
			}
			nmqadvance(q, (size_t)slot[k].wres);
			/* all it took: more may go at once (connout sends a descriptor first) */
			if((size_t)slot[k].wres == slot[k].upto && (!nmqempty(q) || c->fdnext)){
				markdirty(c);
				return;
			}
		}
	}
	connwant(c);
}

/* The ring holds two entries a slot: one is always free. */
static struct io_uring_sqe *
getsqe(void)
{
	struct io_uring_sqe *sqe;

	if((sqe = io_uring_get_sqe(&ring)) == NULL)
		fatal("io_uring: no free submission entry");
	return sqe;
}

/* Write what every client in the batch has queued, and take its peeked bytes, in one call a RINGSZ/2 clients. */
void
batchflush(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	unsigned head, seen, got;
	int n, k, nsqe, r;
	Conn *c;

	while(g.batch != NULL){
		n = 0;
		nsqe = 0;
		while(n < RINGSZ / 2 && (c = g.batch) != NULL){
			g.batch = c->bnext;
			slot[n].c = c;
			slot[n].w = slot[n].t = 0;
			slot[n].wres = slot[n].tres = 0;
			if(c->dead || !batchable(c)){
				n++;
				continue;
			}
			if(fill(n, c)){
				sqe = getsqe();
				io_uring_prep_sendmsg(sqe, c->fd, &slot[n].msg, MSG_DONTWAIT | MSG_NOSIGNAL);
				io_uring_sqe_set_data64(sqe, (uint64_t)n << 1);
				slot[n].w = 1;
				nsqe++;
			}
			/* after the write, which woke the client: nobody left to wake */
			if(c->peeked >= TAKEMIN && slot[n].w){
				sqe = getsqe();
				io_uring_prep_recv(sqe, c->fd, scratch, c->peeked, MSG_DONTWAIT);
				io_uring_sqe_set_data64(sqe, (uint64_t)n << 1 | 1);
				slot[n].t = 1;
				nsqe++;
			}
			n++;
		}
		if(nsqe > 0){
			do
				r = io_uring_submit_and_wait(&ring, (unsigned)nsqe);
			while(r == -EINTR);
			if(r < 0)
				fatal("io_uring_submit_and_wait: %s", strerror(-r));
			seen = 0;
			while(seen < (unsigned)nsqe){
				if((r = io_uring_wait_cqe(&ring, &cqe)) < 0){
					if(r == -EINTR)
						continue;
					fatal("io_uring_wait_cqe: %s", strerror(-r));
				}
				got = 0;
				io_uring_for_each_cqe(&ring, head, cqe){
					k = (int)(cqe->user_data >> 1);
					if(cqe->user_data & 1)
						slot[k].tres = cqe->res;
					else
						slot[k].wres = cqe->res;
					got++;
				}
				io_uring_cq_advance(&ring, got);
				seen += got;
			}
		}
		for(k = 0; k < n; k++){
			if(slot[k].w || slot[k].t)
				done(k);
			else{
				slot[k].c->inbatch = 0;
				if(!slot[k].c->dead)
					connout(slot[k].c);
			}
		}
	}
}
