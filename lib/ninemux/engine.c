/*
 * The 9mux session engine: tag and fid translation between client
 * sessions and an upstream channel, without I/O.
 *
 * Ordinary messages are forwarded by rewriting their tag and fid fields
 * in place (p9fidmap says where the fids are); only what the engine must
 * know is decoded.  Every request accepted from a client is an Nmreq
 * that lives until its final reply: in the session's tag table, in the
 * channel's tag array once it has an upstream tag.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <stdarg.h>
#include <sanitizer/asan_interface.h>

#include "9p.h"
#include "ninemux.h"

enum {
	NTAGS		= 0xFFFF,	/* upstream tags 0..0xFFFE; 0xFFFF is NOTAG */
	MAXPATH		= 16384,	/* a longer walk path is forgotten (reconnect cannot redo it) */
	MAXPIN		= 256,
	PREVERSION	= 8192,		/* largest frame before Tversion is answered */
	REPLYEST	= 256,		/* the reply counted for a request whose reply size is unknown */
	MINBUDGET	= 1024 * 1024,	/* least default budget of a session */
	DEFMAXBYTES	= 256 * 1024 * 1024,
	DEFUPQ		= 64 * 1024,	/* upstream queue past which requests wait their turn */
	SMALLMSG	= 512,		/* frames this size or smaller are recycled, not freed */
	MAXSPARE	= 1024,		/* recycled frames and requests kept at most */
	MINQUANTUM	= 8192,		/* bytes a session may send per turn, at least */
};

/* Session states. */
enum {
	SNEW = 1,	/* no version yet, or "unknown" answered */
	SREADY,
	SDRAIN,		/* hang-up or Tversion: waiting for its requests to end */
	SDEAD,		/* its channel was lost: errors until a new Tversion */
};

/* Request states. */
enum {
	RHELD = 1,	/* accepted, waiting in its session's queue for admission */
	RWAIT,		/* 9mux's own or a flush, waiting for an upstream tag */
	RQUEUED,	/* tagged and in the channel's queue, not written yet */
	RSENT,		/* written (at least partly): only a reply or Rflush ends it */
};

/* Fid states. */
enum {
	FPEND = 1,	/* its creating request is in flight */
	FLIVE,
	FGONE,		/* out of the session's table */
};

/* Errors 9mux answers itself, with the Linux errno for .u and .L. */
enum {
	EUNKFID, EFIDINUSE, EBADFID, ETAGINUSE, ETYPE, EBADMSG, ENOVERS,
	EUPLOST, EUPNONE, ETOOMANYFIDS, EBIGREPLY, ENOMEM_, EPIN, EINTR_, EBUDGET,
};

static const struct {
	const char	*s;
	uint32_t	errnum;
} errtab[] = {
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
};

/* An attach, shared by every fid walked from it: what reconnect redoes first. */
typedef struct Nmroot Nmroot;
struct Nmroot {
	int		ref;
	char		*uname;
	char		*aname;
};

struct Nmfid {
	Nmux		*m;
	Nmfid		*hnext;		/* session's fid table */
	Nmsess		*sess;
	Nmchan		*chan;
	uint32_t	cfid;
	uint32_t	ufid;
	int		state;
	int		ref;
	int		omode;		/* -1 until opened: for reconnect */
	Nmroot		*root;		/* the attach it descends from */
	char		*path;		/* walked from the attach, "/"-separated; NULL if unknown */
};

struct Nmreq {
	Nmux		*m;
	Nmsess		*sess;		/* NULL: 9mux's own (clunks), or a zombie */
	Nmchan		*chan;
	uint8_t		type;
	uint16_t	ctag;
	uint16_t	utag;
	int		state;
	int		hashed;		/* in the session's tag table: a client waits for it */
	int		orphan;		/* the client will get no reply */
	int		zombie;		/* finished, tag kept while flushes of it are in flight */
	int		admitted;	/* counted in its session's nadm */
	int		cflush;		/* a client's Tflush, counted in nflush */
	int		resolve;	/* 9mux's Tflush settling a request whose flush was flushed */
	size_t		cost;		/* bytes counted against its session's budget */
	Nmreq		*hnextq;	/* session's held queue */
	Nmmsg		*msg;		/* the frame while not written */
	Nmfid		*newfid;	/* created on success */
	Nmfid		*fid;		/* the fid it acts on, for bookkeeping */
	Nmfid		*delfid;	/* destroyed whatever the reply */
	uint16_t	nwname;
	int		inplace;	/* Twalk with newfid == fid */
	char		*newpath;	/* fid's path on success (walk in place, create) */
	int		omode;
	Nmreq		*target;	/* Tflush: what it flushes */
	Nmreq		*flushers;	/* Tflushes of this request in flight */
	Nmreq		*nextflusher;
	Nmreq		*hnext;		/* session's tag table */
	Nmreq		*snext;		/* session's list, oldest first */
	Nmreq		*sprev;
	Nmreq		*wnext;		/* channel's list waiting for a tag */
};

struct Nmchan {
	Nmux		*m;
	void		*aux;
	int		state;
	int		dialect;
	uint32_t	msize;
	Nmq		out;
	Nmsess		*sessions;	/* bound to this channel */
	Nmreq		*whead;		/* waiting for a tag */
	Nmreq		*wtail;
	Nmsess		*turns;		/* sessions with requests to admit, taking turns */
	int		pumping;
	uint32_t	quantum;
	uint32_t	nexttag;	/* tags from here up were never used */
	uint32_t	rhead;		/* freed tags, oldest first, so a tag rests before reuse */
	uint32_t	rcount;
	uint32_t	*freefids;
	size_t		nfreefids;
	size_t		capfreefids;
	uint32_t	nextfid;
	Nmreq		*tags[NTAGS];
	uint16_t	ring[NTAGS];
};

struct Nmsess {
	Nmux		*m;
	Nmchan		*chan;
	Nmsess		*cnext;		/* channel's list */
	Nmsess		*cprev;
	Nmsess		*mnext;		/* engine's list */
	Nmsess		*mprev;
	void		*aux;
	unsigned	id;
	int		state;
	int		closing;
	int		blocked;
	int		indrain;	/* drainstart is walking the list: draincheck waits */
	int		dialect;
	uint32_t	msize;
	Nmq		out;
	Nmreq		**tagtab;
	uint32_t	ntagb;
	int		ninflight;	/* requests in its list */
	Nmreq		*hqhead;	/* accepted but not admitted upstream, oldest first */
	Nmreq		*hqtail;
	int		nheld;
	Nmsess		*rnext;		/* its channel's ring */
	Nmsess		*rprev;
	int		inring;
	int		turn;		/* this turn's quantum is in deficit */
	size_t		deficit;	/* bytes it may still send before its turn ends */
	int		nadm;		/* admitted requests (not flushes) */
	int		nflush;		/* client Tflushes in flight */
	size_t		reqbytes;	/* cost of its accepted requests */
	Nmfid		**fidtab;
	uint32_t	nfidb;
	int		nfids;
	Nmreq		*rhead;
	Nmreq		*rtail;
	/* the Tversion a reset answers once drained */
	uint16_t	vtag;
	uint32_t	vmsize;
	char		vers[64];
	size_t		nvers;
	int		pinned;
	char		pin[MAXPIN];
	uint32_t	pinuid;
	/* waiting for room in the total budget (Nmconf.maxbytes) */
	int		memwaiting;
	int		memgo;		/* woken: its next request goes ahead of those waiting */
	size_t		memcost;
	Nmsess		*mwnext;
};

struct Nmux {
	Nmconf		conf;
	Nmchan		*cur;
	Nmsess		*sessions;
	unsigned	nextid;
	size_t		inflight;
	size_t		reqbytes;	/* over all sessions: cost of accepted requests */
	size_t		outbytes;	/* and replies not yet written */
	Nmsess		*mwhead;	/* sessions waiting for room in the budget, oldest first */
	Nmsess		*mwtail;
	Nmstats		st;
	/* spares, so that small requests and replies allocate nothing once warm */
	Nmmsg		*sparemsg;
	int		nsparemsg;
	Nmreq		*sparereq;
	int		nsparereq;
	Nmfid		*sparefid;
	int		nsparefid;
	char		pathbuf[MAXPATH + 1];
};

static void reqdone(Nmreq *r);
static void undo(Nmreq *r);
static void draincheck(Nmsess *s);
static void chansend(Nmchan *c, Nmreq *r);
static void versionanswer(Nmsess *s);
static void chanpump(Nmchan *c);
static void ringdel(Nmchan *c, Nmsess *s);
static void tagremove(Nmsess *s, Nmreq *r);

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

/*
 * Output queues.
 */

/* A frame holding a copy of data: a small one from the spares if there is one. */
static Nmmsg *
msgnew(Nmux *m, const uint8_t *data, size_t len)
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
	memcpy(g->data, data, len);
	return g;
}

/* Small frames (allocated SMALLMSG long) go back to the spares. */
static void
msgfree(Nmux *m, Nmmsg *g)
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

static int
qput(Nmq *q, Nmmsg *g)
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

static void
qunlink(Nmq *q, Nmmsg *g)
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

static void
qfree(Nmq *q)
{
	Nmmsg *g;

	while((g = q->head) != NULL){
		qunlink(q, g);
		if(g->req)
			g->req->msg = NULL;
		msgfree(qowner(q), g);
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

static void unblock(Nmsess *s);
static void memwake(Nmux *m);
static void trace(Nmux *m, unsigned id, int where, const uint8_t *f, size_t n, int dialect);

static void
upsent(Nmchan *c, Nmmsg *g)
{
	c->m->st.upsent++;
	trace(c->m, g->req->sess ? g->req->sess->id : 0, NM_TUP, g->data, g->len, c->dialect);
}

void
nmqadvance(Nmq *q, size_t n)
{
	Nmmsg *g;
	size_t k;

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
		qunlink(q, g);
		if(g->req){
			g->req->state = RSENT;
			g->req->msg = NULL;
		}
		msgfree(qowner(q), g);
	}
	/* a client that reads makes room in its budget, and in the total */
	if(q->sess){
		unblock(q->sess);
		if(q->sess->m->mwhead)
			memwake(q->sess->m);
	}
	/* an upstream that reads makes room for the requests waiting their turn */
	if(q->chan && q->chan->turns)
		chanpump(q->chan);
}

int
nmqempty(Nmq *q)
{
	return q->head == NULL;
}

/*
 * Tracing and replies to clients.
 */

static void
trace(Nmux *m, unsigned id, int where, const uint8_t *f, size_t n, int dialect)
{
	if(m->conf.trace)
		m->conf.trace(m->conf.tracearg, id, where, f, n, dialect);
}

static void
sessput(Nmsess *s, const uint8_t *f, size_t n)
{
	Nmmsg *g;

	if(s->closing)
		return;
	trace(s->m, s->id, NM_RCOUT, f, n, s->state == SNEW ? P9_2000 : s->dialect);
	g = msgnew(s->m, f, n);
	if(g == NULL)
		return;		/* the client waits; nothing better to do without memory */
	if(qput(&s->out, g) && s->aux && s->m->conf.wake)
		s->m->conf.wake(s->aux, NM_WOUT);
}

/* An error of 9mux's own, in the session's dialect: msg, or errnum alone in 9P2000.L. */
static void
rerrorstr(Nmsess *s, uint16_t tag, const char *msg, uint32_t errnum)
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
		sessput(s, f, 11);
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
	sessput(s, f, n);
}

static void
rerror(Nmsess *s, uint16_t tag, int e)
{
	rerrorstr(s, tag, errtab[e].s, errtab[e].errnum);
}

static void
rflush(Nmsess *s, uint16_t tag)
{
	uint8_t f[7];

	p9put32(f, 7);
	f[4] = Rflush;
	p9put16(f + 5, tag);
	sessput(s, f, 7);
}

static void
rversion(Nmsess *s, uint16_t tag, uint32_t msize, const char *v)
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
	sessput(s, f, 13 + len);
}

static void
unblock(Nmsess *s)
{
	if(s->blocked && !s->closing){
		s->blocked = 0;
		if(s->aux && s->m->conf.wake)
			s->m->conf.wake(s->aux, NM_WIN);
	}
}

/*
 * Upstream tags and fids.
 */

static int
tagalloc(Nmchan *c)
{
	uint16_t t;

	if(c->nexttag < (uint32_t)c->m->conf.maxtags)
		return (int)c->nexttag++;
	if(c->rcount == 0)
		return -1;
	t = c->ring[c->rhead];
	c->rhead = (c->rhead + 1) % NTAGS;
	c->rcount--;
	return t;
}

/* The tag's final reply is in (or it never left): free it, and let a waiting request have it. */
static void
tagfree(Nmchan *c, uint16_t t)
{
	Nmreq *r;

	c->tags[t] = NULL;
	c->ring[(c->rhead + c->rcount) % NTAGS] = t;
	c->rcount++;
	if((r = c->whead) != NULL){
		c->whead = r->wnext;
		if(c->whead == NULL)
			c->wtail = NULL;
		r->wnext = NULL;
		chansend(c, r);
	}else
		chanpump(c);
}

static int
ufidalloc(Nmchan *c, uint32_t *fid)
{
	if(c->nfreefids > 0){
		*fid = c->freefids[--c->nfreefids];
		return 0;
	}
	if(c->nextfid == P9_NOFID)
		return -1;
	*fid = c->nextfid++;
	return 0;
}

static void
ufidfree(Nmchan *c, uint32_t fid)
{
	uint32_t *p;
	size_t n;

	if(c == NULL || c->state == NM_CDOWN)
		return;
	if(c->nfreefids == c->capfreefids){
		n = c->capfreefids ? 2 * c->capfreefids : 256;
		p = realloc(c->freefids, n * sizeof *p);
		if(p == NULL)
			return;		/* the number is lost, not reused: harmless */
		c->freefids = p;
		c->capfreefids = n;
	}
	c->freefids[c->nfreefids++] = fid;
}

/* Put r on the wire: with a tag into the queue, else at the end of the wait list. */
static void
chansend(Nmchan *c, Nmreq *r)
{
	int t;

	if((t = tagalloc(c)) < 0){
		r->state = RWAIT;
		r->wnext = NULL;
		if(c->wtail)
			c->wtail->wnext = r;
		else
			c->whead = r;
		c->wtail = r;
		return;
	}
	r->utag = (uint16_t)t;
	c->tags[t] = r;
	r->state = RQUEUED;
	p9put16(r->msg->data + P9_TAGOFF, r->utag);
	r->msg->req = r;
	if(qput(&c->out, r->msg) && c->aux && c->m->conf.wake)
		c->m->conf.wake(c->aux, NM_WOUT);
}

/* Take r out of its session's held queue. */
static void
unhold(Nmsess *s, Nmreq *r)
{
	Nmreq *prev, *q;

	prev = NULL;
	for(q = s->hqhead; q != NULL && q != r; q = q->hnextq)
		prev = q;
	if(q == r){
		if(prev)
			prev->hnextq = r->hnextq;
		else
			s->hqhead = r->hnextq;
		if(s->hqtail == r)
			s->hqtail = prev;
		s->nheld--;
	}
	r->hnextq = NULL;
}

/* Whether none of r has reached the wire yet. */
static int
canunsend(Nmreq *r)
{
	return r->state == RHELD || r->state == RWAIT ||
		(r->state == RQUEUED && r->msg != NULL && r->msg->off == 0);
}

/*
 * A Tclunk or Tremove not yet sent is flushed, or its client left: the
 * client has given the fid up either way, so it is still clunked, in
 * its place (requests before it may use the fid), as a Tclunk (a
 * flushed Tremove must not remove) whose reply nobody waits for.
 */
static void
keepclunk(Nmreq *r)
{
	r->orphan = 1;
	if(r->sess)
		tagremove(r->sess, r);
	if(r->type == Tremove){
		r->type = Tclunk;
		if(r->msg)
			r->msg->data[4] = Tclunk;
	}
}

/* Take r back if none of it was written: 1 if it was. */
static int
unsend(Nmreq *r)
{
	Nmchan *c;
	Nmreq **pp;

	c = r->chan;
	if(r->state == RHELD)
		unhold(r->sess, r);
	else if(r->state == RWAIT){
		for(pp = &c->whead; *pp != NULL; pp = &(*pp)->wnext)
			if(*pp == r){
				*pp = r->wnext;
				break;
			}
		c->wtail = NULL;
		for(pp = &c->whead; *pp != NULL; pp = &(*pp)->wnext)
			c->wtail = *pp;
		r->wnext = NULL;
	}else if(r->state == RQUEUED && r->msg && r->msg->off == 0){
		qunlink(&c->out, r->msg);
		r->msg->req = NULL;
		/* never on the wire: the tag is free at once, for whoever waits for one */
		r->state = 0;
		tagfree(c, r->utag);
	}else
		return 0;
	msgfree(r->m, r->msg);
	r->msg = NULL;
	r->state = 0;
	return 1;
}

/*
 * Fids.
 */

static void
fidput(Nmfid *f)
{
	Nmux *m;

	if(f == NULL || --f->ref > 0)
		return;
	if(f->root && --f->root->ref == 0){
		free(f->root->uname);
		free(f->root->aname);
		free(f->root);
	}
	free(f->path);
	m = f->m;
	if(m->nsparefid >= MAXSPARE){
		free(f);
		return;
	}
	f->hnext = m->sparefid;
	m->sparefid = f;
	m->nsparefid++;
	ASAN_POISON_MEMORY_REGION(f, sizeof *f);
}

static Nmfid *
fidfind(Nmsess *s, uint32_t cfid)
{
	Nmfid *f;

	for(f = s->fidtab[cfid & (s->nfidb - 1)]; f != NULL; f = f->hnext)
		if(f->cfid == cfid)
			return f;
	return NULL;
}

static void
fidgrow(Nmsess *s)
{
	Nmfid **t, *f, *next;
	uint32_t n, i;

	n = s->nfidb * 2;
	t = calloc(n, sizeof *t);
	if(t == NULL)
		return;		/* longer chains, still correct */
	for(i = 0; i < s->nfidb; i++)
		for(f = s->fidtab[i]; f != NULL; f = next){
			next = f->hnext;
			f->hnext = t[f->cfid & (n - 1)];
			t[f->cfid & (n - 1)] = f;
		}
	free(s->fidtab);
	s->fidtab = t;
	s->nfidb = n;
}

/* A pending fid in s's table with a fresh upstream fid; NULL when out of fids or memory. */
static Nmfid *
fidnew(Nmsess *s, uint32_t cfid)
{
	Nmfid *f;
	Nmux *m;

	m = s->m;
	if((f = m->sparefid) != NULL){
		ASAN_UNPOISON_MEMORY_REGION(f, sizeof *f);
		m->sparefid = f->hnext;
		m->nsparefid--;
		memset(f, 0, sizeof *f);
	}else if((f = calloc(1, sizeof *f)) == NULL)
		return NULL;
	f->m = m;
	if(ufidalloc(s->chan, &f->ufid) < 0){
		f->ref = 1;
		fidput(f);	/* back to the spares */
		return NULL;
	}
	if((uint32_t)s->nfids >= s->nfidb * 2)
		fidgrow(s);
	f->sess = s;
	f->chan = s->chan;
	f->cfid = cfid;
	f->state = FPEND;
	f->ref = 1;
	f->omode = -1;
	f->hnext = s->fidtab[cfid & (s->nfidb - 1)];
	s->fidtab[cfid & (s->nfidb - 1)] = f;
	s->nfids++;
	return f;
}

/* Take f out of its session's table (the client's number is free again); drops the table's reference. */
static void
fidunlink(Nmfid *f)
{
	Nmsess *s;
	Nmfid **pp;

	s = f->sess;
	if(f->state == FGONE)
		return;
	for(pp = &s->fidtab[f->cfid & (s->nfidb - 1)]; *pp != NULL; pp = &(*pp)->hnext)
		if(*pp == f){
			*pp = f->hnext;
			break;
		}
	f->hnext = NULL;
	f->state = FGONE;
	s->nfids--;
	fidput(f);
}

static char *
xstrndup(const char *s, size_t n)
{
	char *p;

	p = malloc(n + 1);
	if(p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * The path a walk of names (nwname counted strings at p, end e) from
 * base arrives at: "" is the attach root, ".." pops an element.
 * NULL if it is unknown, too long or out of memory.  Built in the
 * engine's scratch buffer, then copied once at its length.
 */
static char *
pathwalk(Nmux *m, const char *base, const uint8_t *p, const uint8_t *e, int nwname)
{
	char *path, *q;
	size_t len, n;
	int i;

	if(base == NULL)
		return NULL;
	len = strlen(base);
	if(len > MAXPATH)
		return NULL;
	path = m->pathbuf;
	memcpy(path, base, len + 1);
	for(i = 0; i < nwname; i++){
		if(e - p < 2)
			return NULL;
		n = p9get16(p);
		p += 2;
		if((size_t)(e - p) < n)
			return NULL;
		if(n == 2 && memcmp(p, "..", 2) == 0){
			q = strrchr(path, '/');
			len = q ? (size_t)(q - path) : 0;
			path[len] = '\0';
		}else{
			if(MAXPATH - len < n + 1)
				return NULL;
			path[len++] = '/';
			memcpy(path + len, p, n);
			len += n;
			path[len] = '\0';
		}
		p += n;
	}
	if((q = malloc(len + 1)) != NULL)
		memcpy(q, path, len + 1);
	return q;
}

/*
 * Sessions' tag tables.
 */

static Nmreq *
tagfind(Nmsess *s, uint16_t tag)
{
	Nmreq *r;

	for(r = s->tagtab[tag & (s->ntagb - 1)]; r != NULL; r = r->hnext)
		if(r->ctag == tag)
			return r;
	return NULL;
}

static void
taginsert(Nmsess *s, Nmreq *r)
{
	r->hnext = s->tagtab[r->ctag & (s->ntagb - 1)];
	s->tagtab[r->ctag & (s->ntagb - 1)] = r;
	r->hashed = 1;
	s->m->inflight++;
}

static void
tagremove(Nmsess *s, Nmreq *r)
{
	Nmreq **pp;

	if(!r->hashed)
		return;
	for(pp = &s->tagtab[r->ctag & (s->ntagb - 1)]; *pp != NULL; pp = &(*pp)->hnext)
		if(*pp == r){
			*pp = r->hnext;
			break;
		}
	r->hashed = 0;
	r->hnext = NULL;
	s->m->inflight--;
}

/*
 * Memory budgets.  In 9P the requester sets the size of the reply, so
 * a request is counted when it is accepted, with the largest reply it
 * can cause; the reply, once queued, counts until it is written.
 */

/* The largest count a read of s may ask: its msize's, or the iounit 9mux lets through. */
static uint32_t
readmax(Nmsess *s)
{
	uint32_t max;

	max = nmsessmsize(s) - P9_READHDRSZ;
	if(s->m->conf.iounit && max > s->m->conf.iounit)
		max = s->m->conf.iounit;
	return max;
}

/* What the request frame f may hold in 9mux: itself and its largest reply. */
static size_t
reqcost(Nmsess *s, const uint8_t *f, size_t n)
{
	uint32_t cnt, max;

	switch(f[4]){
	case Tread:
	case Treaddir:
		if(n < P9_RWCOUNTOFF + 4)
			break;
		cnt = p9get32(f + P9_RWCOUNTOFF);
		max = readmax(s);
		return n + (cnt < max ? cnt : max) + P9_READHDRSZ;
	case Twalk:
		if(n < 17)
			break;
		return n + 9 + 13 * (size_t)p9get16(f + 15);
	}
	return n + REPLYEST;
}

/* Whether a request of this type holds memory: all but those that free it, and Tversion. */
static int
holdsmem(uint8_t type)
{
	return type != Tclunk && type != Tremove && type != Tflush && type != Tversion;
}

static int
overtotal(Nmux *m, size_t cost)
{
	size_t used;

	used = m->reqbytes + m->outbytes;
	return used > m->conf.maxbytes || m->conf.maxbytes - used < cost;
}

/* s waits for room in the total budget: in line, woken by memwake. */
static void
memblock(Nmsess *s, size_t cost)
{
	Nmux *m;

	m = s->m;
	s->blocked = 1;
	s->memcost = cost;
	s->memgo = 0;
	if(s->memwaiting)
		return;
	s->memwaiting = 1;
	s->mwnext = NULL;
	if(m->mwtail)
		m->mwtail->mwnext = s;
	else
		m->mwhead = s;
	m->mwtail = s;
	m->st.memwaits++;
}

static void
memunlink(Nmsess *s)
{
	Nmux *m;
	Nmsess **pp;

	if(!s->memwaiting)
		return;
	m = s->m;
	m->mwtail = NULL;
	for(pp = &m->mwhead; *pp != NULL; pp = &(*pp)->mwnext){
		if(*pp == s)
			*pp = s->mwnext;
		if(*pp == NULL)
			break;
		m->mwtail = *pp;
	}
	s->mwnext = NULL;
	s->memwaiting = 0;
}

/*
 * Memory was freed: wake the sessions waiting for it, first come first,
 * as many as fit together (one that then does not fit waits again).
 */
static void
memwake(Nmux *m)
{
	Nmsess *s;
	size_t want;

	want = 0;
	while((s = m->mwhead) != NULL && !overtotal(m, want + s->memcost)){
		want += s->memcost;
		m->mwhead = s->mwnext;
		if(m->mwhead == NULL)
			m->mwtail = NULL;
		s->mwnext = NULL;
		s->memwaiting = 0;
		s->memgo = 1;	/* its turn: not behind those still waiting */
		unblock(s);
	}
}

static size_t
sessbudget(Nmsess *s)
{
	size_t b;

	if(s->m->conf.sessbytes)
		return s->m->conf.sessbytes;
	b = 4 * (size_t)nmsessmsize(s);
	return b < MINBUDGET ? MINBUDGET : b;
}

/*
 * Whether s may take in a request costing cost: when it fits the
 * budget, or when nothing of s is held at all (a request bigger than
 * the budget must still go through, alone).
 */
static int
sessroom(Nmsess *s, size_t cost)
{
	size_t used, b;

	used = s->reqbytes + s->out.bytes;
	b = sessbudget(s);
	return used == 0 || (used <= b && b - used >= cost);
}

/*
 * Requests.
 */

static Nmreq *
reqnew(Nmsess *s, Nmchan *c, uint8_t type, uint16_t ctag)
{
	Nmux *m;
	Nmreq *r;

	m = s ? s->m : c->m;
	if((r = m->sparereq) != NULL){
		ASAN_UNPOISON_MEMORY_REGION(r, sizeof *r);
		m->sparereq = r->hnext;
		m->nsparereq--;
		memset(r, 0, sizeof *r);
	}else if((r = calloc(1, sizeof *r)) == NULL)
		return NULL;
	r->m = m;
	r->sess = s;
	r->chan = c;
	r->type = type;
	r->ctag = ctag;
	r->omode = -1;
	if(s != NULL){
		r->sprev = s->rtail;
		if(s->rtail)
			s->rtail->snext = r;
		else
			s->rhead = r;
		s->rtail = r;
		s->ninflight++;
	}
	return r;
}

/* Free r's own memory and references; it is in no list any more. */
static void
reqfree(Nmreq *r)
{
	Nmux *m;

	m = r->m;
	msgfree(m, r->msg);
	fidput(r->newfid);
	fidput(r->fid);
	fidput(r->delfid);
	free(r->newpath);
	if(m->nsparereq >= MAXSPARE){
		free(r);
		return;
	}
	r->hnext = m->sparereq;
	m->sparereq = r;
	m->nsparereq++;
	ASAN_POISON_MEMORY_REGION(r, sizeof *r);
}

static void
sessunlink(Nmreq *r)
{
	Nmsess *s;

	if((s = r->sess) == NULL)
		return;
	tagremove(s, r);
	if(r->sprev)
		r->sprev->snext = r->snext;
	else
		s->rhead = r->snext;
	if(r->snext)
		r->snext->sprev = r->sprev;
	else
		s->rtail = r->sprev;
	r->snext = r->sprev = NULL;
	r->sess = NULL;
	s->ninflight--;
	s->reqbytes -= r->cost;
	s->m->reqbytes -= r->cost;
	r->cost = 0;
	if(r->admitted){
		r->admitted = 0;
		s->nadm--;
	}
	if(r->cflush){
		r->cflush = 0;
		s->nflush--;
	}
}

/*
 * Admission.  At most maxreqs requests of a session are upstream at
 * once; the rest wait in its held queue, where a Tflush can still take
 * them back.  Requests go on the wire while the upstream keeps up: a
 * tag is free and the channel's queue holds less than upqbytes.  When
 * it does not, the sessions with requests waiting take turns by deficit
 * round robin, each turn worth a quantum of bytes counted as in
 * reqcost (request and largest reply), so a stat is never queued
 * behind another client's megabytes.
 */

/* r leaves its session's held queue for the wire. */
static void
admitreq(Nmsess *s, Nmreq *r)
{
	unhold(s, r);
	r->admitted = 1;
	s->nadm++;
	chansend(s->chan, r);
}

static void
ringadd(Nmchan *c, Nmsess *s)
{
	if(s->inring)
		return;
	s->inring = 1;
	if(c->turns == NULL){
		s->rnext = s->rprev = s;
		c->turns = s;
		return;
	}
	/* last in line: just before the session whose turn it is */
	s->rnext = c->turns;
	s->rprev = c->turns->rprev;
	s->rprev->rnext = s;
	c->turns->rprev = s;
}

static void
ringdel(Nmchan *c, Nmsess *s)
{
	if(!s->inring)
		return;
	s->inring = 0;
	s->turn = 0;
	s->deficit = 0;
	if(s->rnext == s)
		c->turns = NULL;
	else{
		s->rprev->rnext = s->rnext;
		s->rnext->rprev = s->rprev;
		if(c->turns == s)
			c->turns = s->rnext;
	}
	s->rnext = s->rprev = NULL;
}

/* Whether the upstream takes a client's request now. */
static int
chanopen(Nmchan *c)
{
	return c->state == NM_CREADY && c->whead == NULL &&
		(c->nexttag < (uint32_t)c->m->conf.maxtags || c->rcount > 0) &&
		c->out.bytes < c->m->conf.upqbytes;
}

/* Whether s has a request it may send. */
static int
admissible(Nmsess *s)
{
	return s->state == SREADY && s->hqhead != NULL && s->nadm < s->m->conf.maxreqs;
}

/* Send what the sessions in the ring hold, in their turns, while the upstream takes it. */
static void
chanpump(Nmchan *c)
{
	Nmsess *s;
	Nmreq *r;

	if(c->pumping)
		return;
	c->pumping = 1;
	while((s = c->turns) != NULL && chanopen(c)){
		if(!admissible(s)){
			ringdel(c, s);
			continue;
		}
		r = s->hqhead;
		if(s->rnext == s){
			/* alone: nobody to be fair to */
			if(s->deficit < r->cost)
				s->deficit = r->cost;
		}else if(!s->turn){
			s->turn = 1;
			s->deficit += c->quantum;
		}
		if(r->cost > s->deficit){
			s->turn = 0;
			c->turns = s->rnext;
			continue;
		}
		s->deficit -= r->cost;
		admitreq(s, r);
		if(!admissible(s))
			ringdel(c, s);
		unblock(s);
	}
	c->pumping = 0;
}

/* s may have a request to send: into the ring, and send what the upstream takes. */
static void
admit(Nmsess *s)
{
	if(s->chan == NULL || !admissible(s))
		return;
	ringadd(s->chan, s);
	chanpump(s->chan);
}

static void
enqueue(Nmsess *s, Nmreq *r)
{
	r->state = RHELD;
	r->hnextq = NULL;
	if(s->hqtail)
		s->hqtail->hnextq = r;
	else
		s->hqhead = r;
	s->hqtail = r;
	s->nheld++;
	admit(s);
}

/* An internal Tclunk of f's upstream fid: it is freed when the reply comes. */
static void
clunkfid(Nmchan *c, Nmfid *f)
{
	uint8_t b[11];
	Nmreq *r;

	if(c == NULL || c->state == NM_CDOWN){
		fidput(f);
		return;
	}
	r = reqnew(NULL, c, Tclunk, P9_NOTAG);
	if(r == NULL){
		fidput(f);	/* the upstream fid stays open on the server; nothing more to do */
		return;
	}
	r->orphan = 1;
	r->delfid = f;
	p9put32(b, 11);
	b[4] = Tclunk;
	p9put16(b + 5, P9_NOTAG);
	p9put32(b + 7, f->ufid);
	r->msg = msgnew(c->m, b, sizeof b);
	if(r->msg == NULL){
		reqfree(r);
		return;
	}
	c->m->st.clunks++;
	chansend(c, r);
}

/*
 * r has ended: out of its session, its upstream tag freed and r freed,
 * unless Tflushes naming its tag are still in flight: then the tag is
 * kept (a new request under it could be flushed by mistake) and r
 * lingers as a zombie until the last of them ends.
 */
static void
reqdone(Nmreq *r)
{
	Nmsess *s;
	Nmreq **pp, *f, *fnext;
	Nmchan *c;
	Nmux *m;

	/*
	 * A flush of r that never left 9mux has nothing left to do (and
	 * must not keep r's tag, which it may be waiting for): it ends now,
	 * while r still keeps its session from finishing.
	 */
	for(f = r->flushers; f != NULL; f = fnext){
		fnext = f->nextflusher;
		if(unsend(f)){
			if(f->sess && !f->orphan)
				rflush(f->sess, f->ctag);
			reqdone(f);
		}
	}
	s = r->sess;
	c = r->chan;
	m = r->m;
	sessunlink(r);
	/* a flush that ends stops keeping its target's tag */
	if(r->target){
		for(pp = &r->target->flushers; *pp != NULL; pp = &(*pp)->nextflusher)
			if(*pp == r){
				*pp = r->nextflusher;
				break;
			}
		if(r->target->zombie && r->target->flushers == NULL)
			reqdone(r->target);
		r->target = NULL;
	}
	if(r->flushers)
		r->zombie = 1;
	else{
		if(r->state == RSENT || r->state == RQUEUED)
			tagfree(c, r->utag);
		reqfree(r);
	}
	if(s){
		admit(s);
		unblock(s);
		draincheck(s);
	}
	if(m->mwhead)
		memwake(m);
}

/*
 * r ends without its reply: as far as anyone knows it never happened.
 * A fid it would have created was never made upstream; a fid it would
 * have destroyed may still be alive there, so it is clunked.
 */
static void
undo(Nmreq *r)
{
	Nmfid *f;

	if((f = r->newfid) != NULL){
		r->newfid = NULL;
		if(f->state == FPEND){
			ufidfree(f->chan, f->ufid);
			fidunlink(f);
		}
		fidput(f);
	}
	if((f = r->delfid) != NULL){
		r->delfid = NULL;
		clunkfid(r->chan, f);
	}
	reqdone(r);
}

/*
 * The client side: requests.
 */

/* Which dialect a client asking for v gets from an upstream speaking ud, or -1. */
static int
dialectfor(const char *v, size_t n, int ud)
{
	size_t i, k;
	unsigned long num;

	if(p9dialect(v, n) == ud)
		return ud;
	if(ud != P9_2000)
		return -1;
	/*
	 * version(5): the part before the first '.' names the protocol,
	 * and a server may answer 9Pnnnn with nnnn at most the client's.
	 * So "9P2000.u" and "9P2000.L" may be answered "9P2000"; Linux
	 * v9fs then speaks plain 9P2000.
	 */
	for(k = 0; k < n && v[k] != '.'; k++)
		;
	if(k < 3 || v[0] != '9' || v[1] != 'P')
		return -1;
	num = 0;
	for(i = 2; i < k; i++){
		if(v[i] < '0' || v[i] > '9' || num > 100000)
			return -1;
		num = num * 10 + (unsigned long)(v[i] - '0');
	}
	return num >= 2000 ? P9_2000 : -1;
}

static void
sessbind(Nmsess *s, Nmchan *c)
{
	if(s->chan == c)
		return;
	if(s->chan){
		ringdel(s->chan, s);
		if(s->cprev)
			s->cprev->cnext = s->cnext;
		else
			s->chan->sessions = s->cnext;
		if(s->cnext)
			s->cnext->cprev = s->cprev;
	}
	s->cnext = s->cprev = NULL;
	s->chan = c;
	if(c){
		s->cnext = c->sessions;
		if(c->sessions)
			c->sessions->cprev = s;
		c->sessions = s;
	}
}

/* Answer the Tversion saved in s, binding it to the current channel. */
static void
versionanswer(Nmsess *s)
{
	Nmchan *c;
	uint32_t msize;
	int d;

	c = s->m->cur;
	s->state = SNEW;
	if(c == NULL || c->state != NM_CREADY){
		sessbind(s, NULL);
		rerror(s, s->vtag, EUPNONE);
		return;
	}
	sessbind(s, c);
	msize = s->vmsize < c->msize ? s->vmsize : c->msize;
	if(msize < P9_MINMSIZE){
		rerror(s, s->vtag, EBADMSG);
		return;
	}
	s->msize = msize;
	d = dialectfor(s->vers, s->nvers, c->dialect);
	if(d < 0){
		rversion(s, s->vtag, msize, "unknown");
		return;
	}
	s->dialect = d;
	s->state = SREADY;
	rversion(s, s->vtag, msize, p9dialectname(d));
}

/*
 * Start ending everything s has in flight: what is still inside 9mux
 * is dropped, what went upstream is flushed.  Clunks are not flushed
 * (the fid must go anyway), nor are flushes.  draincheck finishes.
 */
static void
drainstart(Nmsess *s)
{
	Nmreq *r, *next, *last, *f;
	uint8_t b[9];

	s->state = SDRAIN;
	s->indrain = 1;
	if(s->chan)
		ringdel(s->chan, s);
	last = s->rtail;
	for(r = s->rhead; r != NULL; r = next){
		next = r == last ? NULL : r->snext;
		/* nobody waits for it now: out of the tag table and the in-flight count */
		r->orphan = 1;
		tagremove(s, r);
		if(r->zombie)
			continue;
		if(canunsend(r) && r->delfid){
			/* a clunk must still happen, after what was sent before it */
			keepclunk(r);
			if(r->state == RHELD){
				admitreq(s, r);
			}
			continue;
		}
		if(unsend(r)){
			undo(r);
			continue;
		}
		if(r->type == Tflush || r->delfid != NULL || s->chan == NULL)
			continue;
		f = reqnew(s, s->chan, Tflush, P9_NOTAG);
		if(f == NULL)
			continue;	/* its reply will still end it */
		f->orphan = 1;
		f->target = r;
		f->nextflusher = r->flushers;
		r->flushers = f;
		p9put32(b, 9);
		b[4] = Tflush;
		p9put16(b + 5, P9_NOTAG);
		p9put16(b + 7, r->utag);
		f->msg = msgnew(s->m, b, sizeof b);
		if(f->msg == NULL){
			r->flushers = f->nextflusher;
			f->target = NULL;
			sessunlink(f);
			reqfree(f);
			continue;
		}
		s->m->st.flushes++;
		chansend(s->chan, f);
	}
	s->indrain = 0;
	draincheck(s);
}

static void sessfree(Nmsess *s);

/* Once a draining session has nothing in flight: clunk its fids, then close it or answer its Tversion. */
static void
draincheck(Nmsess *s)
{
	Nmfid *f, *next;
	uint32_t i;

	if(s->state != SDRAIN || s->indrain || s->rhead != NULL)
		return;
	for(i = 0; i < s->nfidb; i++)
		for(f = s->fidtab[i]; f != NULL; f = next){
			next = f->hnext;
			f->ref++;
			fidunlink(f);
			clunkfid(f->chan, f);
		}
	if(s->closing){
		sessfree(s);
		return;
	}
	versionanswer(s);
	unblock(s);
}

static void
version(Nmsess *s, uint8_t *f, size_t n)
{
	size_t len;

	s->vtag = p9get16(f + P9_TAGOFF);
	if(n < 13 || (len = p9get16(f + 11)) != n - 13 || len >= sizeof s->vers){
		rerror(s, s->vtag, EBADMSG);
		return;
	}
	s->vmsize = p9get32(f + 7);
	memcpy(s->vers, f + 13, len);
	s->vers[len] = '\0';
	s->nvers = len;
	if(s->state == SREADY){
		/* version(5): a Tversion aborts all I/O and clunks every fid of the session */
		drainstart(s);
		return;
	}
	versionanswer(s);
}

static void
flush(Nmsess *s, uint8_t *f, size_t n)
{
	uint16_t tag, oldtag;
	Nmreq *t, *r;

	tag = p9get16(f + P9_TAGOFF);
	if(n != 9){
		rerror(s, tag, EBADMSG);
		return;
	}
	oldtag = p9get16(f + 7);
	t = tagfind(s, oldtag);
	if(t == NULL){
		rflush(s, tag);
		return;
	}
	if(canunsend(t)){
		if(t->delfid)
			keepclunk(t);
		else{
			/* still inside 9mux: it never happens */
			unsend(t);
			t->orphan = 1;
			undo(t);
		}
		rflush(s, tag);
		return;
	}
	r = reqnew(s, s->chan, Tflush, tag);
	if(r == NULL){
		rerror(s, tag, ENOMEM_);
		return;
	}
	taginsert(s, r);
	r->cflush = 1;
	s->nflush++;
	r->target = t;
	r->nextflusher = t->flushers;
	t->flushers = r;
	p9put16(f + 7, t->utag);
	r->msg = msgnew(s->m, f, n);
	if(r->msg == NULL){
		t->flushers = r->nextflusher;
		r->target = NULL;
		sessunlink(r);
		reqfree(r);
		rerror(s, tag, ENOMEM_);
		return;
	}
	s->m->st.flushes++;
	chansend(s->chan, r);
}

/* Where the counted string at off ends, or 0 if it runs past n. */
static size_t
strend(const uint8_t *f, size_t n, size_t off)
{
	if(n < 2 || n - 2 < off)
		return 0;
	if(n - off - 2 < p9get16(f + off))
		return 0;
	return off + 2 + p9get16(f + off);
}

/*
 * Tauth or Tattach: note uname and aname in the new fid, and rebuild
 * the frame with the pinned uname if the session has one.  The frame
 * to send (f or *out, malloc'd) and its length; 0 on error e.
 */
static size_t
attach(Nmsess *s, Nmreq *r, uint8_t *f, size_t n, uint8_t **out, int *e)
{
	size_t uoff, uend, aend, k, pl;
	uint8_t *b;

	*out = NULL;
	uoff = f[4] == Tattach ? 15 : 11;
	if((uend = strend(f, n, uoff)) == 0 || (aend = strend(f, n, uend)) == 0){
		*e = EBADMSG;
		return 0;
	}
	if(r->newfid && (r->newfid->root = calloc(1, sizeof(Nmroot))) != NULL){
		r->newfid->root->ref = 1;
		if(s->pinned)
			r->newfid->root->uname = xstrndup(s->pin, strlen(s->pin));
		else
			r->newfid->root->uname = xstrndup((const char *)f + uoff + 2, uend - uoff - 2);
		r->newfid->root->aname = xstrndup((const char *)f + uend + 2, aend - uend - 2);
		r->newfid->path = xstrndup("", 0);
	}
	if(!s->pinned)
		return n;
	pl = strlen(s->pin);
	k = uoff + 2 + pl + (aend - uend);
	if(s->dialect != P9_2000)
		k += 4;
	if(k > s->chan->msize){
		*e = EPIN;
		return 0;
	}
	b = malloc(k);
	if(b == NULL){
		*e = ENOMEM_;
		return 0;
	}
	memcpy(b, f, uoff);
	p9put32(b, (uint32_t)k);
	p9put16(b + uoff, (uint16_t)pl);
	memcpy(b + uoff + 2, s->pin, pl);
	memcpy(b + uoff + 2 + pl, f + uend, aend - uend);
	if(s->dialect != P9_2000)
		p9put32(b + k - 4, s->pinuid);
	*out = b;
	return k;
}

/* One whole T-message frame from a client. */
static void
request(Nmsess *s, uint8_t *f, size_t n)
{
	P9fidref refs[P9_MAXFIDS];
	Nmfid *use[P9_MAXFIDS], *del;
	Nmreq *r;
	uint8_t type, *b;
	uint16_t tag;
	uint32_t v, ufid, cnt, max;
	size_t k;
	int i, nref, newi, e, inplace;
	char ebuf[128];

	type = f[4];
	tag = p9get16(f + P9_TAGOFF);
	trace(s->m, s->id, NM_TCIN, f, n, s->state == SNEW ? P9_2000 : s->dialect);
	if(type == Tversion){
		version(s, f, n);
		return;
	}
	if(s->state == SNEW){
		rerror(s, tag, ENOVERS);
		return;
	}
	if(s->state == SDEAD || s->chan == NULL || s->chan->state != NM_CREADY){
		if(type == Tflush && n == 9)
			rflush(s, tag);		/* nothing of a dead session is in flight */
		else
			rerror(s, tag, EUPLOST);
		return;
	}
	if(tagfind(s, tag) != NULL){
		/* the old request is undisturbed; the client sees this error under the same tag first */
		rerror(s, tag, ETAGINUSE);
		return;
	}
	if(type == Tflush){
		flush(s, f, n);
		return;
	}
	if(type == Terror || type == Tlerror || !p9known(type, s->dialect)){
		rerror(s, tag, ETYPE);
		return;
	}
	nref = p9fidmap(f, n, s->dialect, refs);
	if(nref < 0){
		rerror(s, tag, nref == P9_ETYPE ? ETYPE : EBADMSG);
		return;
	}
	/* what waits for room in the total budget (nmsessin) must be able to fit at all */
	if(holdsmem(type) && (k = reqcost(s, f, n)) > s->m->conf.maxbytes){
		s->m->st.overbudget++;
		snprintf(ebuf, sizeof ebuf, "9mux: request needs %zu bytes, more than the memory limit -B %zu",
			k, s->m->conf.maxbytes);
		rerrorstr(s, tag, ebuf, errtab[EBUDGET].errnum);
		return;
	}

	/* check everything before changing anything */
	newi = -1;
	del = NULL;
	inplace = 0;
	for(i = 0; i < nref; i++){
		use[i] = NULL;
		v = p9get32(f + refs[i].off);
		switch(refs[i].role & 0xF){
		case P9_FIDUSE:
			if(v == P9_NOFID && (refs[i].role & P9_FIDOPT))
				break;
			if((use[i] = fidfind(s, v)) == NULL || use[i]->state != FLIVE){
				rerror(s, tag, EUNKFID);
				return;
			}
			break;
		case P9_FIDNEW:
			newi = i;
			if(type == Twalk && nref == 2 && v == p9get32(f + refs[1 - i].off)){
				inplace = 1;
				break;
			}
			if(v == P9_NOFID){
				rerror(s, tag, EBADFID);
				return;
			}
			if(fidfind(s, v) != NULL){
				rerror(s, tag, EFIDINUSE);
				return;
			}
			if(s->nfids >= s->m->conf.maxfids){
				rerror(s, tag, ETOOMANYFIDS);
				return;
			}
			break;
		case P9_FIDDEL:
			if((del = fidfind(s, v)) == NULL || del->state != FLIVE){
				rerror(s, tag, EUNKFID);
				return;
			}
			break;
		}
	}

	r = reqnew(s, s->chan, type, tag);
	if(r == NULL){
		rerror(s, tag, ENOMEM_);
		return;
	}
	taginsert(s, r);
	s->m->st.treqs++;
	if(newi >= 0 && !inplace){
		r->newfid = fidnew(s, p9get32(f + refs[newi].off));
		if(r->newfid == NULL){
			sessunlink(r);
			reqfree(r);
			rerror(s, tag, ENOMEM_);
			return;
		}
		r->newfid->ref++;	/* the request's reference; the table has one */
	}
	for(i = 0; i < nref; i++){
		v = p9get32(f + refs[i].off);
		switch(refs[i].role & 0xF){
		case P9_FIDUSE:
			ufid = use[i] ? use[i]->ufid : P9_NOFID;
			if(use[i] && r->fid == NULL){
				r->fid = use[i];
				r->fid->ref++;
			}
			break;
		case P9_FIDNEW:
			ufid = inplace ? use[1 - i]->ufid : r->newfid->ufid;
			break;
		default:
			ufid = del->ufid;
			break;
		}
		p9put32(f + refs[i].off, ufid);
	}
	if(del){
		/* the client's number is free now; the upstream fid waits for the reply */
		del->ref++;
		fidunlink(del);
		r->delfid = del;
	}

	b = NULL;
	switch(type){
	case Tread:
	case Treaddir:
		/* the reply must fit the client's msize, and the iounit 9mux lets through */
		cnt = p9get32(f + P9_RWCOUNTOFF);
		max = readmax(s);
		if(cnt > max)
			p9put32(f + P9_RWCOUNTOFF, max);
		break;
	case Twalk:
		r->nwname = p9get16(f + 15);
		if(!inplace && (r->newfid->root = r->fid->root) != NULL)
			r->newfid->root->ref++;
		if(inplace){
			r->inplace = 1;
			r->newpath = pathwalk(s->m, r->fid->path, f + 17, f + n, r->nwname);
		}else
			r->newfid->path = pathwalk(s->m, r->fid->path, f + 17, f + n, r->nwname);
		break;
	case Txattrwalk:
		if((r->newfid->root = r->fid->root) != NULL)
			r->newfid->root->ref++;
		if(r->fid->path)
			r->newfid->path = xstrndup(r->fid->path, strlen(r->fid->path));
		break;
	case Topen:
		r->omode = f[11];
		break;
	case Tlopen:
		r->omode = (int)p9get32(f + 11);
		break;
	case Tcreate:
	case Tlcreate:
		r->newpath = pathwalk(s->m, r->fid->path, f + 11, f + n, 1);
		k = strend(f, n, 11);
		if(k != 0 && type == Tcreate && n - k >= 5)
			r->omode = f[k + 4];
		else if(k != 0 && type == Tlcreate && n - k >= 4)
			r->omode = (int)p9get32(f + k);
		break;
	case Tauth:
	case Tattach:
		e = 0;
		k = attach(s, r, f, n, &b, &e);
		if(k == 0){
			undo(r);	/* nothing was sent: the new fid goes */
			rerror(s, tag, e);
			return;
		}
		if(b){
			f = b;
			n = k;
		}
		break;
	}
	r->msg = msgnew(s->m, f, n);
	free(b);
	if(r->msg == NULL){
		/* a fid it would destroy is gone for the client: clunk it upstream */
		r->orphan = 1;
		undo(r);
		rerror(s, tag, ENOMEM_);
		return;
	}
	r->cost = reqcost(s, r->msg->data, r->msg->len);
	s->reqbytes += r->cost;
	s->m->reqbytes += r->cost;
	enqueue(s, r);
}

/*
 * Whether a client's Tflush may come in now.  It is not held, so it
 * may come in past the held queue's bound and make room; only its own
 * count in flight and a client not reading its replies stop it.
 */
static int
flushroom(Nmsess *s)
{
	return s->nflush < s->m->conf.maxreqs && s->out.bytes < sessbudget(s);
}

long
nmsessin(Nmsess *s, uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t off, cost;
	long n;
	Nmchan *c;

	off = 0;
	while(off < len){
		c = s->m->cur;
		if(s->closing || s->state == SDRAIN){
			s->blocked = 1;
			break;
		}
		n = p9frame(buf + off, len - off, nmsessmsize(s));
		if(n == P9_EINCOMPLETE)
			break;
		if(n < 0){
			fail(err, errlen, "bad frame: %s", p9strerror((int)n));
			return -1;
		}
		/*
		 * The held queue is bounded, and so is what the session holds
		 * in 9mux: past either the client waits in its socket.
		 */
		cost = reqcost(s, buf + off, (size_t)n);
		if(buf[off + 4] == Tflush ? !flushroom(s)
		: s->nheld >= s->m->conf.maxreqs || !sessroom(s, cost)){
			s->blocked = 1;
			break;
		}
		/*
		 * Past the total budget the client waits, in line behind those
		 * already waiting, unless it could never fit (request refuses it).
		 */
		if(holdsmem(buf[off + 4]) && cost <= s->m->conf.maxbytes){
			if(overtotal(s->m, cost) || (s->m->mwhead != NULL && !s->memgo)){
				memblock(s, cost);
				break;
			}
			s->memgo = 0;
		}
		/* a Tversion waits for the upstream's own */
		if(buf[off + 4] == Tversion && c != NULL && c->state == NM_CVERSION){
			s->blocked = 1;
			break;
		}
		request(s, buf + off, (size_t)n);
		off += (size_t)n;
	}
	return (long)off;
}

/*
 * A session waiting (nmsessin stopped before a whole frame) would not
 * read a Tflush sent after the request it waits with: a client whose
 * requests upstream never end could never flush them.  So the Tflushes
 * among the frames still in its buffer are handled now, out of turn,
 * which is what the client would see anyway if 9mux had read them.
 */
size_t
nmsessflushes(Nmsess *s, uint8_t *buf, size_t len)
{
	size_t off, k, at, n;
	uint16_t tag, oldtag;
	long m;
	int found;

	if(s->closing || s->state != SREADY || s->chan == NULL || s->chan->state != NM_CREADY)
		return len;
	off = 0;
	while(off < len){
		m = p9frame(buf + off, len - off, nmsessmsize(s));
		if(m <= 0)
			break;		/* incomplete, or bad: nmsessin says so in its turn */
		n = (size_t)m;
		if(buf[off + 4] == Tversion)
			break;		/* what follows belongs to the session it begins */
		if(buf[off + 4] != Tflush || n != 9){
			off += n;
			continue;
		}
		if(!flushroom(s))
			break;
		tag = p9get16(buf + off + P9_TAGOFF);
		oldtag = p9get16(buf + off + 7);
		/* the last request before it under oldtag, if still unread by the engine */
		found = 0;
		at = 0;
		for(k = 0; k < off; k += p9get32(buf + k)){
			if(p9get16(buf + k + P9_TAGOFF) == tag)
				found = -1;	/* its own tag comes before it: keep the order */
			else if(found >= 0 && p9get16(buf + k + P9_TAGOFF) == oldtag){
				found = 1;
				at = k;
			}
		}
		if(found < 0 || (found && (buf[at + 4] == Tclunk || buf[at + 4] == Tremove || buf[at + 4] == Tflush))){
			/* those keep their order: a clunk still happens */
			off += n;
			continue;
		}
		trace(s->m, s->id, NM_TCIN, buf + off, n, s->dialect);
		if(found){
			/* neither it nor the flush reaches the engine: the request never happened */
			k = p9get32(buf + at);
			memmove(buf + at, buf + at + k, len - at - k);
			len -= k;
			off -= k;
			rflush(s, tag);
		}else if(tagfind(s, tag) != NULL)
			rerror(s, tag, ETAGINUSE);
		else
			flush(s, buf + off, n);
		memmove(buf + off, buf + off + n, len - off - n);
		len -= n;
	}
	return len;
}

/*
 * The upstream side: replies.
 */

static void
chanversion(Nmchan *c, const uint8_t *f, size_t n, char *err, size_t errlen, int *bad)
{
	Nmsess *s;
	uint32_t msize;
	size_t len;
	int d;

	trace(c->m, 0, NM_RUP, f, n, P9_2000);
	if(f[4] != Rversion || n < 13 || (len = p9get16(f + 11)) != n - 13){
		if(f[4] == Rerror && n >= 9 && (len = p9get16(f + 7)) <= n - 9)
			fail(err, errlen, "upstream refused Tversion: %.*s", (int)len, (const char *)f + 9);
		else
			fail(err, errlen, "upstream answered Tversion with a bad message");
		*bad = 1;
		return;
	}
	d = p9dialect((const char *)f + 13, len);
	if(d != c->m->conf.dialect && d != P9_2000){
		fail(err, errlen, "upstream answered version %.*s to %s", (int)len, (const char *)f + 13,
			p9dialectname(c->m->conf.dialect));
		*bad = 1;
		return;
	}
	msize = p9get32(f + 7);
	if(msize > c->m->conf.msize)
		msize = c->m->conf.msize;
	if(msize < P9_MINMSIZE){
		fail(err, errlen, "upstream msize %u is too small", msize);
		*bad = 1;
		return;
	}
	c->msize = msize;
	/* few turns even for a request as large as the msize */
	c->quantum = msize / 64 > MINQUANTUM ? msize / 64 : MINQUANTUM;
	c->dialect = d;
	c->state = NM_CREADY;
	for(s = c->m->sessions; s != NULL; s = s->mnext)
		unblock(s);
}

/* Whether reply f (type rtype) of r is a success, and a complete one for Twalk. */
static int
success(Nmreq *r, const uint8_t *f, size_t n)
{
	if(f[4] != r->type + 1)
		return 0;
	if(r->type == Twalk)
		return n >= 9 && p9get16(f + 7) == r->nwname;
	return 1;
}

/*
 * A flush of t was itself flushed: whether the server dropped t with
 * it is unknown, so unless another flush of t is on its way, flush t
 * again.  Its Rflush settles t: a reply to t that comes first is
 * passed on as usual, else t gets an error (its client still waits
 * for it, having flushed only the flush).
 */
static void
resolve(Nmreq *t)
{
	uint8_t b[9];
	Nmreq *f;

	if(t->flushers != NULL || t->state != RSENT || t->msg != NULL || t->sess == NULL)
		return;
	f = reqnew(t->sess, t->chan, Tflush, P9_NOTAG);
	if(f == NULL)
		return;
	f->orphan = 1;
	f->resolve = 1;
	f->target = t;
	t->flushers = f;
	p9put32(b, 9);
	b[4] = Tflush;
	p9put16(b + 5, P9_NOTAG);
	p9put16(b + 7, t->utag);
	if((f->msg = msgnew(f->m, b, sizeof b)) == NULL){
		t->flushers = NULL;
		f->target = NULL;
		sessunlink(f);
		reqfree(f);
		return;
	}
	t->chan->m->st.flushes++;
	chansend(t->chan, f);
}

static void
reply(Nmchan *c, uint8_t *f, size_t n)
{
	Nmreq *r, *t, *tt;
	Nmsess *s;
	Nmfid *fp;
	uint16_t utag;
	uint32_t io, max;
	int ok;

	utag = p9get16(f + P9_TAGOFF);
	r = utag < NTAGS ? c->tags[utag] : NULL;
	trace(c->m, r && r->sess ? r->sess->id : 0, NM_RUP, f, n, c->dialect);
	c->m->st.upreplies++;
	/* a reply before its request was wholly written is as wrong as an unknown tag */
	if(r == NULL || r->state != RSENT || r->msg != NULL || r->zombie || (f[4] & 1) == 0){
		c->m->st.stray++;
		return;
	}
	s = r->sess;
	if(r->type == Tflush){
		/* Rflush, or an Rerror taken as one: if the target had no reply, it never happened */
		t = r->target;
		if(t != NULL && !t->zombie){
			tt = t->type == Tflush && t->target && !t->target->zombie ? t->target : NULL;
			if(r->resolve && t->hashed && !t->orphan && t->sess)
				rerror(t->sess, t->ctag, EINTR_);
			t->orphan = 1;
			undo(t);
			if(tt)
				resolve(tt);
		}
		if(s && !r->orphan)
			rflush(s, r->ctag);
		reqdone(r);
		return;
	}
	ok = success(r, f, n);
	if((fp = r->newfid) != NULL){
		r->newfid = NULL;
		if(fp->state == FPEND){
			if(ok)
				fp->state = FLIVE;
			else{
				ufidfree(c, fp->ufid);
				fidunlink(fp);
			}
		}
		fidput(fp);
	}
	if((fp = r->delfid) != NULL){
		r->delfid = NULL;
		ufidfree(c, fp->ufid);
		fidput(fp);
	}
	if(ok && r->fid){
		if(r->newpath || r->type == Tcreate || r->type == Tlcreate || r->inplace){
			free(r->fid->path);
			r->fid->path = r->newpath;
			r->newpath = NULL;
		}
		if(r->omode >= 0)
			r->fid->omode = r->omode;
	}
	if(s && !r->orphan){
		switch(f[4]){
		case Ropen:
		case Rcreate:
		case Rlopen:
		case Rlcreate:
			/*
			 * iounit 0 means "msize-24 of the connection", which is the
			 * upstream's: say the client's own limit instead.
			 */
			if(n >= P9_IOUNITOFF + 4){
				io = p9get32(f + P9_IOUNITOFF);
				max = s->msize - P9_IOHDRSZ;
				if(s->m->conf.iounit && max > s->m->conf.iounit)
					max = s->m->conf.iounit;
				if(io == 0 || io > max)
					p9put32(f + P9_IOUNITOFF, max);
			}
			break;
		}
		if(n > s->msize)
			rerror(s, r->ctag, EBIGREPLY);
		else{
			p9put16(f + P9_TAGOFF, r->ctag);
			sessput(s, f, n);
		}
	}
	reqdone(r);
}

long
nmchanin(Nmchan *c, uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t off;
	long n;
	int bad;

	off = 0;
	bad = 0;
	while(off < len){
		n = p9frame(buf + off, len - off, c->state == NM_CVERSION ? c->m->conf.msize : c->msize);
		if(n == P9_EINCOMPLETE)
			break;
		if(n < 0){
			fail(err, errlen, "bad frame from upstream: %s", p9strerror((int)n));
			return -1;
		}
		if(c->state == NM_CVERSION)
			chanversion(c, buf + off, (size_t)n, err, errlen, &bad);
		else
			reply(c, buf + off, (size_t)n);
		if(bad)
			return -1;
		off += (size_t)n;
	}
	return (long)off;
}

/*
 * Engine, channels and sessions.
 */

Nmux *
nmnew(const Nmconf *conf)
{
	Nmux *m;

	m = calloc(1, sizeof *m);
	if(m == NULL)
		return NULL;
	if(conf)
		m->conf = *conf;
	if(m->conf.msize == 0)
		m->conf.msize = 8 * 1024 * 1024 + P9_IOHDRSZ;
	if(m->conf.msize < P9_MINMSIZE)
		m->conf.msize = P9_MINMSIZE;
	if(m->conf.maxfids <= 0)
		m->conf.maxfids = 4096;
	if(m->conf.maxreqs <= 0)
		m->conf.maxreqs = 64;
	if(m->conf.maxtags <= 0 || m->conf.maxtags > NTAGS)
		m->conf.maxtags = NTAGS;
	if(m->conf.maxbytes == 0)
		m->conf.maxbytes = DEFMAXBYTES;
	if(m->conf.upqbytes == 0)
		m->conf.upqbytes = DEFUPQ;
	if(m->conf.dialect < P9_2000 || m->conf.dialect > P9_2000L)
		m->conf.dialect = P9_2000;
	m->nextid = 1;
	return m;
}

const Nmstats *
nmstats(Nmux *m)
{
	return &m->st;
}

size_t
nminflight(Nmux *m)
{
	return m->inflight;
}

size_t
nmbytes(Nmux *m)
{
	return m->reqbytes + m->outbytes;
}

Nmchan *
nmchannew(Nmux *m, void *aux)
{
	Nmchan *c;
	Nmmsg *g;
	uint8_t b[64];
	const char *v;
	size_t len;
	c = calloc(1, sizeof *c);
	if(c == NULL)
		return NULL;
	c->m = m;
	c->aux = aux;
	c->state = NM_CVERSION;
	c->dialect = m->conf.dialect;
	c->msize = m->conf.msize;
	c->quantum = MINQUANTUM;
	c->out.chan = c;
	c->nextfid = 1;
	v = p9dialectname(m->conf.dialect);
	len = strlen(v);
	p9put32(b, (uint32_t)(13 + len));
	b[4] = Tversion;
	p9put16(b + 5, P9_NOTAG);
	p9put32(b + 7, m->conf.msize);
	p9put16(b + 11, (uint16_t)len);
	memcpy(b + 13, v, len);
	g = msgnew(m, b, 13 + len);
	if(g == NULL){
		free(c);
		return NULL;
	}
	trace(m, 0, NM_TUP, b, 13 + len, P9_2000);
	qput(&c->out, g);
	if(m->cur && m->cur != c)
		nmchandown(m->cur);
	m->cur = c;
	return c;
}

int
nmchanstate(Nmchan *c)
{
	return c->state;
}

uint32_t
nmchanmsize(Nmchan *c)
{
	return c->msize;
}

int
nmchandialect(Nmchan *c)
{
	return c->dialect;
}

Nmq *
nmchanq(Nmchan *c)
{
	return &c->out;
}

/* Free every request of s without touching the wire, and its fids. */
static void
sessdrop(Nmsess *s)
{
	Nmreq *r;
	Nmfid *f, *next;
	uint32_t i;

	if(s->chan)
		ringdel(s->chan, s);
	while((r = s->rhead) != NULL){
		s->rhead = r->snext;
		tagremove(s, r);
		s->reqbytes -= r->cost;
		s->m->reqbytes -= r->cost;
		r->sess = NULL;
		reqfree(r);
	}
	s->rtail = NULL;
	s->ninflight = 0;
	s->hqhead = s->hqtail = NULL;
	s->nheld = s->nadm = s->nflush = 0;
	for(i = 0; i < s->nfidb; i++){
		for(f = s->fidtab[i]; f != NULL; f = next){
			next = f->hnext;
			f->state = FGONE;
			fidput(f);
		}
		s->fidtab[i] = NULL;
	}
	s->nfids = 0;
}

void
nmchandown(Nmchan *c)
{
	Nmux *m;
	Nmsess *s, *snext;
	Nmreq *r, *rn;
	uint32_t i;

	m = c->m;
	c->state = NM_CDOWN;
	if(m->cur == c)
		m->cur = NULL;
	/* answer every client waiting, oldest first, so a reply precedes the Rflush of it */
	for(s = c->sessions; s != NULL; s = s->cnext)
		for(r = s->rhead; r != NULL; r = r->snext){
			if(!r->hashed || r->orphan)
				continue;
			if(r->type == Tflush)
				rflush(s, r->ctag);
			else
				rerror(s, r->ctag, EUPLOST);
		}
	/*
	 * Free every frame first (those waiting for a tag, then the queue,
	 * which clears each request's msg), then 9mux's own requests and
	 * zombies, which belong to no session, then the sessions' requests.
	 */
	for(r = c->whead; r != NULL; r = rn){
		rn = r->wnext;
		msgfree(m, r->msg);
		r->msg = NULL;
		if(r->sess == NULL)
			reqfree(r);
	}
	c->whead = c->wtail = NULL;
	qfree(&c->out);
	for(i = 0; i < c->nexttag; i++)
		if((r = c->tags[i]) != NULL && r->sess == NULL)
			reqfree(r);
	for(s = c->sessions; s != NULL; s = snext){
		snext = s->cnext;
		sessdrop(s);
		s->chan = NULL;
		s->cnext = s->cprev = NULL;
		if(s->closing){
			sessfree(s);
			continue;
		}
		if(s->state == SDRAIN){
			s->state = SDEAD;
			versionanswer(s);
		}else
			s->state = SDEAD;
	}
	c->sessions = NULL;
	for(s = m->sessions; s != NULL; s = s->mnext)
		unblock(s);
	free(c->freefids);
	free(c);
}

Nmsess *
nmsessnew(Nmux *m, void *aux)
{
	Nmsess *s;

	s = calloc(1, sizeof *s);
	if(s == NULL)
		return NULL;
	s->ntagb = 16;
	while(s->ntagb < 4096 && s->ntagb < (uint32_t)m->conf.maxreqs)
		s->ntagb *= 2;
	s->nfidb = 64;
	s->tagtab = calloc(s->ntagb, sizeof *s->tagtab);
	s->fidtab = calloc(s->nfidb, sizeof *s->fidtab);
	if(s->tagtab == NULL || s->fidtab == NULL){
		free(s->tagtab);
		free(s->fidtab);
		free(s);
		return NULL;
	}
	s->m = m;
	s->aux = aux;
	s->out.sess = s;
	s->id = m->nextid++;
	if(m->nextid == 0)
		m->nextid = 1;
	s->state = SNEW;
	s->dialect = P9_2000;
	s->mnext = m->sessions;
	if(m->sessions)
		m->sessions->mprev = s;
	m->sessions = s;
	m->st.sessions++;
	return s;
}

unsigned
nmsessid(Nmsess *s)
{
	return s->id;
}

int
nmsesspin(Nmsess *s, const char *uname, uint32_t uid)
{
	size_t n;

	n = strlen(uname);
	if(n >= sizeof s->pin)
		return -1;
	memcpy(s->pin, uname, n + 1);
	s->pinuid = uid;
	s->pinned = 1;
	return 0;
}

uint32_t
nmsessmsize(Nmsess *s)
{
	uint32_t up;

	if(s->state != SNEW && s->msize != 0)
		return s->msize;
	/*
	 * Before its version a client can only send Tversion, which is
	 * small: a bigger frame only makes the daemon buffer megabytes.
	 */
	up = s->m->cur ? s->m->cur->msize : s->m->conf.msize;
	return up < PREVERSION ? up : PREVERSION;
}

int
nmsessmemwait(Nmsess *s)
{
	return s->memwaiting;
}

int
nmsessinflight(Nmsess *s)
{
	return s->ninflight;
}

size_t
nmsessbytes(Nmsess *s)
{
	return s->reqbytes + s->out.bytes;
}

Nmq *
nmsessq(Nmsess *s)
{
	return &s->out;
}

static void
sessfree(Nmsess *s)
{
	Nmux *m;

	m = s->m;
	memunlink(s);
	sessdrop(s);
	sessbind(s, NULL);
	if(s->mprev)
		s->mprev->mnext = s->mnext;
	else
		m->sessions = s->mnext;
	if(s->mnext)
		s->mnext->mprev = s->mprev;
	qfree(&s->out);
	free(s->tagtab);
	free(s->fidtab);
	free(s);
}

void
nmsessclose(Nmsess *s)
{
	s->closing = 1;
	s->aux = NULL;
	memunlink(s);
	qfree(&s->out);
	if(s->m->mwhead)
		memwake(s->m);
	if(s->state == SDRAIN)
		return;		/* the reset under way ends in sessfree now */
	if(s->state != SREADY || s->chan == NULL){
		sessfree(s);
		return;
	}
	drainstart(s);
}

void
nmfree(Nmux *m)
{
	Nmsess *s;
	Nmmsg *g;
	Nmreq *r;
	Nmfid *f;

	if(m == NULL)
		return;
	if(m->cur)
		nmchandown(m->cur);
	while((s = m->sessions) != NULL){
		s->closing = 1;
		sessfree(s);
	}
	while((g = m->sparemsg) != NULL){
		ASAN_UNPOISON_MEMORY_REGION(g, sizeof *g + SMALLMSG);
		m->sparemsg = g->next;
		free(g);
	}
	while((r = m->sparereq) != NULL){
		ASAN_UNPOISON_MEMORY_REGION(r, sizeof *r);
		m->sparereq = r->hnext;
		free(r);
	}
	while((f = m->sparefid) != NULL){
		ASAN_UNPOISON_MEMORY_REGION(f, sizeof *f);
		m->sparefid = f->hnext;
		free(f);
	}
	free(m);
}
