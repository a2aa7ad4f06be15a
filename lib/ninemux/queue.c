/*
 * Output queues, spare frames, and the replies 9mux makes itself.
 */
#include "impl.h"

const Nmerr nm_errtab[] = {
	[EUNKFID]	= { "unknown fid", 9 },			/* EBADF */
	[EFIDINUSE]	= { "fid already in use", 22 },		/* EINVAL */
	[EBADFID]	= { "invalid fid number", 9 },
	[ETAGINUSE]	= { "tag already in use", 22 },
	[ETYPE]		= { "unknown message type", 95 },	/* EOPNOTSUPP */
	[EBADMSG]	= { "malformed message", 71 },		/* EPROTO */
	[ENOVERS]	= { "version not negotiated", 71 },
	[EUPLOST]	= { "upstream connection lost", 5 },	/* EIO */
	[EUPNONE]	= { "upstream unavailable", 107 },	/* ENOTCONN */
	[ETOOMANYFIDS]	= { "too many fids", 24 },		/* EMFILE */
	[EBIGREPLY]	= { "reply larger than msize", 5 },
	[ENOMEM_]	= { "out of memory in 9mux", 12 },	/* ENOMEM */
	[EPIN]		= { "pinned uname does not fit", 22 },
	[EINTR_]	= { "interrupted", 4 },			/* EINTR */
	[EBUDGET]	= { "9mux: out of memory budget", 12 },	/* ENOMEM */
	[EUPWAIT]	= { "upstream not reachable yet", 107 },	/* ENOTCONN */
	[ERESET]	= { "9mux: session reset: the upstream's msize or dialect changed; send Tversion again", 71 },
	[ENOSERV]	= { "9mux: nothing is served here", 107 },
	[EFIDDEAD]	= { "9mux: fid lost when the upstream restarted: it could not be restored", 116 },	/* ESTALE */
	[EUNKNOWN]	= { "9mux: upstream lost with the request in flight: its outcome is unknown", 5 },
	[EDIROFF]	= { "9mux: directory offset from before the upstream restarted: read from offset 0 again", 116 },
	[EGIVEUP]	= { "9mux: upstream lost, and not back in time (-P)", 5 },
};

void __attribute__((format(printf, 3, 4)))
nm_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if(err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Output queues.
 */

Nmmsg *
nm_msgalloc(Nmux *m, size_t len)
{
	Nmmsg *g;

	if(len <= SMALLMSG && (g = m->sparemsg) != NULL){
		ASAN_UNPOISON_MEMORY_REGION(g, sizeof *g + SMALLMSG);
		m->sparemsg = g->next;
		m->nsparemsg--;
	}else if((g = malloc(sizeof *g + (len <= SMALLMSG ? SMALLMSG : len))) == NULL)
		return NULL;
	memset(g, 0, sizeof *g);
	g->len = (uint32_t)len;
	return g;
}

Nmmsg *
nm_msgnew(Nmux *m, const uint8_t *data, size_t len)
{
	Nmmsg *g;

	if((g = nm_msgalloc(m, len)) != NULL)
		memcpy(g->data, data, len);
	return g;
}

void
nm_msgfree(Nmux *m, Nmmsg *g)
{
	if(g == NULL)
		return;
	if(m == NULL || g->len > SMALLMSG || m->nsparemsg >= MAXSPARE){
		free(g);
		return;
	}
	g->next = m->sparemsg;
	m->sparemsg = g;
	m->nsparemsg++;
	/* a spare is nobody's: under AddressSanitizer, touching one is caught as a use after free */
	ASAN_POISON_MEMORY_REGION(g, sizeof *g + SMALLMSG);
}

static Nmux *
qowner(Nmq *q)
{
	return q->sess ? q->sess->m : q->chan ? q->chan->m : NULL;
}

int
nm_qput(Nmq *q, Nmmsg *g)
{
	int wasempty;

	wasempty = q->head == NULL;
	g->next = NULL;
	g->prev = q->tail;
	if(q->tail)
		q->tail->next = g;
	else
		q->head = g;
	q->tail = g;
	q->bytes += g->len - g->off;
	q->n++;
	if(q->sess)
		q->sess->m->outbytes += g->len - g->off;
	return wasempty;
}

void
nm_qunlink(Nmq *q, Nmmsg *g)
{
	if(g->prev)
		g->prev->next = g->next;
	else
		q->head = g->next;
	if(g->next)
		g->next->prev = g->prev;
	else
		q->tail = g->prev;
	q->bytes -= g->len - g->off;
	q->n--;
	if(q->sess)
		q->sess->m->outbytes -= g->len - g->off;
	g->next = g->prev = NULL;
}

void
nm_qfree(Nmq *q)
{
	Nmmsg *g;

	while((g = q->head) != NULL){
		nm_qunlink(q, g);
		if(g->req)
			g->req->msg = NULL;
		/* an Ropenfd never written: its descriptor never went, its file is done */
		if(g->fd)
			nmfdclose(g->fd);
		nm_msgfree(qowner(q), g);
	}
}

int
nmqiov(Nmq *q, struct iovec *iov, int max)
{
	Nmmsg *g;
	int n;

	n = 0;
	for(g = q->head; g != NULL && n < max; g = g->next){
		iov[n].iov_base = g->data + g->off;
		iov[n].iov_len = g->len - g->off;
		n++;
	}
	return n;
}


static void
upsent(Nmchan *c, Nmmsg *g)
{
	c->m->st.upsent++;
	nm_trace(c->m, g->req->sess ? g->req->sess->id : 0, NM_TUP, g->data, g->len, c->dialect);
}

/* A whole reply was written to s. */
static void
repliedto(Nmsess *s, const Nmmsg *g)
{
	int err;

	err = g->data[4] == Rerror || g->data[4] == Rlerror;
	s->st.rmsgs++;
	s->st.rerrors += err;
	s->m->st.rmsgs++;
	s->m->st.rerrors += err;
}

void
nmqadvance(Nmq *q, size_t n)
{
	Nmmsg *g;
	size_t k;

	if(q->sess){
		q->sess->st.bytesout += n;
		q->sess->m->st.bytesout += n;
	}
	while(n > 0 && (g = q->head) != NULL){
		/* a request is sent (traced, counted) when it starts on the wire: until then it may be taken back */
		if(g->off == 0 && g->req && q->chan)
			upsent(q->chan, g);
		k = g->len - g->off;
		if(n < k){
			g->off += (uint32_t)n;
			q->bytes -= n;
			if(q->sess)
				q->sess->m->outbytes -= n;
			/* part of it is on the wire: it can no longer be taken back */
			if(g->req)
				g->req->state = RSENT;
			break;
		}
		n -= k;
		if(q->sess)
			repliedto(q->sess, g);
		nm_qunlink(q, g);
		if(g->req){
			g->req->state = RSENT;
			g->req->msg = NULL;
			if(g->req->replay){
				/* a loss before its reply sends it again (lose.c) */
				g->req->keep = g;
				continue;
			}
		}
		nm_msgfree(qowner(q), g);
	}
	/* a client that reads makes room in its budget, and in the total */
	if(q->sess){
		nm_unblock(q->sess);
		if(q->sess->m->mwhead)
			nm_memwake(q->sess->m);
	}
	/* an upstream that reads makes room for the requests waiting their turn */
	if(q->chan && q->chan->turns)
		nm_chanpump(q->chan);
}

int
nmqempty(Nmq *q)
{
	return q->head == NULL;
}

/*
 * Tracing and replies to clients.
 */

void
nm_trace(Nmux *m, unsigned id, int where, const uint8_t *f, size_t n, int dialect)
{
	if(m->conf.trace)
		m->conf.trace(m->conf.tracearg, id, where, f, n, dialect);
}

Nmmsg *
nm_sessputmsg(Nmsess *s, const uint8_t *f, size_t n)
{
	Nmmsg *g;

	if(s->closing)
		return NULL;
	nm_trace(s->m, s->id, NM_RCOUT, f, n, s->state == SNEW ? P9_2000 : s->dialect);
	g = nm_msgnew(s->m, f, n);
	if(g == NULL)
		return NULL;		/* the client waits; nothing better to do without memory */
	if(nm_qput(&s->out, g) && s->aux && s->m->conf.wake)
		s->m->conf.wake(s->aux, NM_WOUT);
	return g;
}

void
nm_sessput(Nmsess *s, const uint8_t *f, size_t n)
{
	nm_sessputmsg(s, f, n);
}

void
nm_rerrorstr(Nmsess *s, uint16_t tag, const char *msg, uint32_t errnum)
{
	uint8_t f[256];
	size_t n, len;
	int d;

	s->m->st.localerr++;
	d = s->state == SNEW ? P9_2000 : s->dialect;
	if(d == P9_2000L){
		p9put32(f, 11);
		f[4] = Rlerror;
		p9put16(f + 5, tag);
		p9put32(f + 7, errnum);
		nm_sessput(s, f, 11);
		return;
	}
	len = strlen(msg);
	if(len > sizeof f - 13)
		len = sizeof f - 13;
	n = 9 + len;
	f[4] = Rerror;
	p9put16(f + 5, tag);
	p9put16(f + 7, (uint16_t)len);
	memcpy(f + 9, msg, len);
	if(d == P9_2000U){
		p9put32(f + n, errnum);
		n += 4;
	}
	p9put32(f, (uint32_t)n);
	nm_sessput(s, f, n);
}

void
nm_rerror(Nmsess *s, uint16_t tag, int e)
{
	nm_rerrorstr(s, tag, nm_errtab[e].s, nm_errtab[e].errnum);
}

void
nm_rflush(Nmsess *s, uint16_t tag)
{
	uint8_t f[7];

	p9put32(f, 7);
	f[4] = Rflush;
	p9put16(f + 5, tag);
	nm_sessput(s, f, 7);
}

void
nm_rempty(Nmsess *s, uint16_t tag, uint8_t type)
{
	uint8_t f[7];

	p9put32(f, 7);
	f[4] = type;
	p9put16(f + 5, tag);
	nm_sessput(s, f, 7);
}

void
nm_rversion(Nmsess *s, uint16_t tag, uint32_t msize, const char *v)
{
	uint8_t f[64];
	size_t len;

	len = strlen(v);
	p9put32(f, (uint32_t)(13 + len));
	f[4] = Rversion;
	p9put16(f + 5, tag);
	p9put32(f + 7, msize);
	p9put16(f + 11, (uint16_t)len);
	memcpy(f + 13, v, len);
	nm_sessput(s, f, 13 + len);
}

void
nm_unblock(Nmsess *s)
{
	if(s->blocked && !s->closing){
		s->blocked = 0;
		if(s->aux && s->m->conf.wake)
			s->m->conf.wake(s->aux, NM_WIN);
	}
}
