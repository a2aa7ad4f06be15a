/*
 * conn.c - servers and connections: the input cut into frames, each
 * answered at once (msg.c), and the output queue, whose fill stops the
 * input until the client reads.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "impl.h"

enum {
	DEFMSIZE	= 64 * 1024,
	DEFMAXFIDS	= 64,
	DEFMAXQUEUE	= 256 * 1024,
	DEFMAXSNAP	= 1024 * 1024,
};

/*
 * Output queues.
 */

int
syn_qput(Synconn *c, const Fcall *r)
{
	Synfs *fs;
	Synmsg *g;
	size_t n;
	int wasempty;

	fs = c->fs;
	n = p9size(r, c->dialect);
	if(n == 0 || (g = malloc(sizeof *g + n)) == NULL)
		return -1;
	g->next = NULL;
	g->len = (uint32_t)p9encode(g->data, n, r, c->dialect);
	g->off = 0;
	wasempty = c->q.head == NULL;
	if(c->q.tail)
		c->q.tail->next = g;
	else
		c->q.head = g;
	c->q.tail = g;
	c->q.bytes += n;
	c->q.n++;
	fs->st.bytesout += n;
	if(fs->conf.trace)
		fs->conf.trace(c->aux, SYN_ROUT, g->data, n, c->dialect);
	if(wasempty && fs->conf.wake)
		fs->conf.wake(c->aux, SYN_WOUT);
	return 0;
}

int
synqiov(Synq *q, struct iovec *iov, int max)
{
	Synmsg *g;
	int n;

	n = 0;
	for(g = q->head; g != NULL && n < max; g = g->next){
		iov[n].iov_base = g->data + g->off;
		iov[n].iov_len = g->len - g->off;
		n++;
	}
	return n;
}

void
synqadvance(Synq *q, size_t n)
{
	Synconn *c;
	Synmsg *g;
	size_t k;
	int full;

	c = q->conn;
	full = synconnblocked(c);
	while(n > 0 && (g = q->head) != NULL){
		k = g->len - g->off;
		if(n < k){
			g->off += (uint32_t)n;
			q->bytes -= n;
			break;
		}
		n -= k;
		q->bytes -= k;
		q->n--;
		q->head = g->next;
		if(q->head == NULL)
			q->tail = NULL;
		free(g);
	}
	/* a client that reads its replies may send more */
	if(full && !synconnblocked(c) && c->fs->conf.wake)
		c->fs->conf.wake(c->aux, SYN_WIN);
}

int
synqempty(Synq *q)
{
	return q->head == NULL;
}

static void
qfree(Synq *q)
{
	Synmsg *g;

	while((g = q->head) != NULL){
		q->head = g->next;
		free(g);
	}
	q->tail = NULL;
	q->bytes = 0;
	q->n = 0;
}

/*
 * Input.
 */

static void __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if(err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

long
synconnin(Synconn *c, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t off;
	long n;

	off = 0;
	while(off < len){
		/* a client that does not read its replies waits in its socket */
		if(synconnblocked(c))
			break;
		n = p9frame(buf + off, len - off, c->msize);
		if(n == P9_EINCOMPLETE)
			break;
		if(n < 0){
			c->fs->st.badconns++;
			if(n == P9_EBIG)
				fail(err, errlen, "bad frame: size %u above msize %u", p9get32(buf + off), c->msize);
			else
				fail(err, errlen, "bad frame: size %u below 7", p9get32(buf + off));
			return -1;
		}
		if(syn_request(c, buf + off, (size_t)n) < 0){
			fail(err, errlen, "out of memory for a reply");
			return -1;
		}
		off += (size_t)n;
	}
	return (long)off;
}

int
synconnblocked(Synconn *c)
{
	return c->q.bytes >= c->fs->conf.maxqueue;
}

uint32_t
synconnmsize(Synconn *c)
{
	return c->msize;
}

Synq *
synconnq(Synconn *c)
{
	return &c->q;
}

/*
 * Servers and connections.
 */

Synfs *
synnew(const Synconf *conf)
{
	Synfs *fs;
	Synconf *k;

	if(conf == NULL || conf->list == NULL)
		return NULL;
	if((fs = calloc(1, sizeof *fs)) == NULL)
		return NULL;
	fs->conf = *conf;
	k = &fs->conf;
	if(k->msize == 0)
		k->msize = DEFMSIZE;
	if(k->msize < P9_MINMSIZE)
		k->msize = P9_MINMSIZE;
	if(k->maxfids <= 0)
		k->maxfids = DEFMAXFIDS;
	if(k->maxqueue == 0)
		k->maxqueue = DEFMAXQUEUE;
	if(k->maxsnap == 0)
		k->maxsnap = DEFMAXSNAP;
	k->rootmode = (k->rootmode ? k->rootmode & 0777 : 0555) | P9_DMDIR;
	snprintf(fs->uid, sizeof fs->uid, "%s", k->uid ? k->uid : "none");
	k->uid = fs->uid;
	if((fs->tmp = malloc((size_t)k->msize + 1)) == NULL){
		free(fs);
		return NULL;
	}
	return fs;
}

void
synfree(Synfs *fs)
{
	if(fs == NULL)
		return;
	while(fs->conns != NULL)
		synconnclose(fs->conns);
	syn_listfree(&fs->look);
	free(fs->tmp);
	free(fs);
}

const Synstats *
synstats(Synfs *fs)
{
	return &fs->st;
}

Synconn *
synconnnew(Synfs *fs, void *aux)
{
	Synconn *c;

	if((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->fs = fs;
	c->aux = aux;
	c->msize = fs->conf.msize;
	c->dialect = P9_2000;
	c->q.conn = c;
	c->next = fs->conns;
	if(fs->conns)
		fs->conns->prev = c;
	fs->conns = c;
	fs->st.conns++;
	return c;
}

void
synconnclose(Synconn *c)
{
	if(c == NULL)
		return;
	syn_fidsclear(c);
	qfree(&c->q);
	if(c->prev)
		c->prev->next = c->next;
	else
		c->fs->conns = c->next;
	if(c->next)
		c->next->prev = c->prev;
	free(c);
}
