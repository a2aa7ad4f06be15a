/*
 * req.c - a connection's requests: the buffers their messages are read
 * into and share, a Req from its message to its reply written, the
 * list of those not yet answered (for Tflush and Tversion), the making
 * of a reply, and the output, written with writev.
 *
 * All of it is under Conn.lk but trace and the making of a reply
 * (ensureout, put, rerror), which are the handling thread's own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "9p.h"
#include "log.h"
#include "ramfs.h"

enum {
	Keepspare = 4 * 1024 * 1024,	/* reply buffers above Keepout a connection keeps, beyond one */
	Nfreebuf = 4,		/* idle Inbuf buffers kept by a connection */
	Niov = 64,
};

/* ---- buffers and requests: under Conn.lk ---- */

/* A buffer of cap bytes or, for a large frame, at least cap. */
Buf *
bufnew(Conn *c, size_t cap)
{
	Buf *b;

	if(cap == Inbuf && (b = c->freebufs) != NULL){
		c->freebufs = b->next;
		c->nfreebufs--;
	}else if(cap > Inbuf && (b = c->bigbuf) != NULL && b->cap >= cap)
		c->bigbuf = NULL;
	else if((b = malloc(sizeof *b + cap)) == NULL)
		return NULL;
	else
		b->cap = cap;
	b->ref = 1;
	return b;
}

void
bufput(Conn *c, Buf *b)
{
	if(b == NULL || --b->ref > 0)
		return;
	if(b->cap == Inbuf && c->nfreebufs < Nfreebuf){
		b->next = c->freebufs;
		c->freebufs = b;
		c->nfreebufs++;
	}else if(b->cap > Inbuf){
		/* a stream of large writes would otherwise fault in each one's pages anew */
		if(c->bigbuf == NULL || c->bigbuf->cap < b->cap){
			free(c->bigbuf);
			c->bigbuf = b;
		}else
			free(b);
	}else
		free(b);
}

Req *
reqnew(Conn *c, const uint8_t *msg, uint32_t len, uint64_t cost)
{
	Req *q;
	uint8_t *out;
	size_t cap;

	if((q = c->freereqs) != NULL)
		c->freereqs = q->next;
	else if((q = calloc(1, sizeof *q)) == NULL)
		return NULL;
	out = q->out;
	cap = q->outcap;
	memset(q, 0, sizeof *q);
	q->out = out;
	q->outcap = cap;
	q->c = c;
	q->buf = c->ib;
	c->ib->ref++;
	q->msg = msg;
	q->len = len;
	q->type = msg[4];
	q->tag = p9get16(msg + P9_TAGOFF);
	q->cost = cost;
	q->want = cost > len ? cost - len : 0;
	c->nreq++;
	c->nbytes += cost;
	return q;
}

static void
reqfree(Conn *c, Req *q)
{
	Spare *sp;

	bufput(c, q->buf);
	q->buf = NULL;
	c->nreq--;
	c->nbytes -= q->cost;
	if(q->outcap > Keepout){
		/* a stream of large reads would otherwise have the pages of each reply faulted in anew */
		if(c->spares == NULL || (c->sparebytes <= Keepspare && q->outcap <= Keepspare - c->sparebytes)){
			sp = (Spare*)q->out;
			sp->cap = q->outcap;
			sp->next = c->spares;
			c->spares = sp;
			c->sparebytes += q->outcap;
		}else
			free(q->out);
		q->out = NULL;
		q->outcap = 0;
	}
	q->next = c->freereqs;
	c->freereqs = q;
	if(c->readerwaits)
		pthread_cond_signal(&c->room);
}

void
pendin(Conn *c, Req *q)
{
	q->pprev = NULL;
	q->pnext = c->pending;
	if(c->pending != NULL)
		c->pending->pprev = q;
	c->pending = q;
}

static void
pendout(Conn *c, Req *q)
{
	if(q->pprev != NULL)
		q->pprev->pnext = q->pnext;
	else
		c->pending = q->pnext;
	if(q->pnext != NULL)
		q->pnext->pprev = q->pprev;
	q->pprev = q->pnext = NULL;
}

void
trace(Conn *c, const uint8_t *buf, size_t n, const Fcall *f, int dir)
{
	char line[512];
	Fcall d;

	if(f == NULL){
		if(p9decode(buf, n, c->msize > n ? c->msize : (uint32_t)n, c->dialect, &d) < 0){
			logmsg(LOG_TRACE, "%s %c undecodable reply of %zu bytes", c->name, dir, n);
			return;
		}
		f = &d;
	}
	p9fmt(line, sizeof line, f, c->dialect);
	logmsg(LOG_TRACE, "%s %c %s", c->name, dir, line);
}

/* Put q's reply on the output, and after it the Rflushes waiting for it. */
void
emit(Conn *c, Req *q)
{
	Req *f, *fnext;

	pendout(c, q);
	bufput(c, q->buf);
	q->buf = NULL;
	q->next = NULL;
	if(c->otail != NULL)
		c->otail->next = q;
	else
		c->ohead = q;
	c->otail = q;
	c->obytes += q->outlen;
	for(f = q->flushes; f != NULL; f = fnext){
		fnext = f->fnext;
		if(loglevel() >= LOG_TRACE)
			trace(c, f->out, f->outlen, NULL, '>');
		emit(c, f);
	}
	q->flushes = q->lastflush = NULL;
}

/* Forget q without a reply, and the Tflushes waiting for it. */
void
drop(Conn *c, Req *q)
{
	Req *f, *fnext;

	pendout(c, q);
	for(f = q->flushes; f != NULL; f = fnext){
		fnext = f->fnext;
		drop(c, f);
	}
	q->flushes = q->lastflush = NULL;
	reqfree(c, q);
}

/* Write the Reqs from q on to fd, whole: 0, or -1 if the connection broke. */
static int
writereqs(int fd, Req *q)
{
	struct iovec iov[Niov];
	size_t skip, n;
	ssize_t w;
	Req *x;
	int k;

	skip = 0;
	while(q != NULL){
		k = 0;
		for(x = q; x != NULL && k < Niov; x = x->next){
			iov[k].iov_base = x->out + (k == 0 ? skip : 0);
			iov[k].iov_len = x->outlen - (k == 0 ? skip : 0);
			k++;
		}
		w = writev(fd, iov, k);
		if(w < 0 && errno == EINTR)
			continue;
		if(w <= 0)
			return -1;
		n = (size_t)w;
		while(q != NULL && n >= q->outlen - skip){
			n -= q->outlen - skip;
			skip = 0;
			q = q->next;
		}
		skip += n;
	}
	return 0;
}

/*
 * Write the output, unless another thread is at it (it writes what
 * comes meanwhile before it stops).  Conn.lk is let go while writing.
 */
void
flushout(Conn *c)
{
	Req *list, *q, *next;
	int dead, failed;

	if(c->writing || c->ohead == NULL)
		return;
	c->writing = 1;
	while((list = c->ohead) != NULL){
		c->ohead = c->otail = NULL;
		c->obytes = 0;
		dead = c->dead;
		pthread_mutex_unlock(&c->lk);
		failed = !dead && writereqs(c->wfd, list) < 0;
		pthread_mutex_lock(&c->lk);
		if(failed && !c->dead){
			c->dead = 1;
			/* wake the reader: there is nobody to answer */
			shutdown(c->rfd, SHUT_RD);
		}
		for(q = list; q != NULL; q = next){
			next = q->next;
			reqfree(c, q);
		}
	}
	c->writing = 0;
}

/* ---- replies ---- */

/* Room for n more bytes of q's reply: 0, or -1 (and q is broken) when out of memory. */
int
ensureout(Req *q, size_t n)
{
	size_t ncap;
	uint8_t *p;

	if(q->outcap - q->outlen >= n)
		return 0;
	if(n > SIZE_MAX / 2 - q->outlen){
		q->broken = 1;
		return -1;
	}
	/* a reply is mostly made at once: room for it, not for a power of two */
	ncap = q->outlen + n;
	if(ncap < q->outcap * 2)
		ncap = q->outcap * 2;
	if(ncap < 256)
		ncap = 256;
	p = realloc(q->out, ncap);
	if(p == NULL){
		q->broken = 1;
		return -1;
	}
	q->out = p;
	q->outcap = ncap;
	return 0;
}

void
put(Req *q, const Fcall *r)
{
	size_t n;

	n = p9size(r, q->c->dialect);
	if(n == 0){
		logerror("%s: cannot encode %s", q->c->name, p9typename(r->type));
		q->broken = 1;
		return;
	}
	if(ensureout(q, n) < 0)
		return;
	q->outlen += p9encode(q->out + q->outlen, q->outcap - q->outlen, r, q->c->dialect);
}

void
rerror(Req *q, uint16_t tag, const char *s, uint32_t lerr)
{
	Fcall r;

	memset(&r, 0, sizeof r);
	r.tag = tag;
	if(q->c->dialect == P9_2000L){
		r.type = Rlerror;
		r.errnum = lerr;
	}else{
		r.type = Rerror;
		r.ename = p9str(s);
		r.errnum = lerr;
	}
	put(q, &r);
}
