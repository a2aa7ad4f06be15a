/*
 * fuzz/engine: random client byte streams and well-formed requests
 * from up to four clients against the session engine, with a simulated
 * upstream server that answers in any order, flushes, drops, and goes
 * away.  It keeps the rules of flush(5), as the engine relies on them:
 * a flushed request is answered before its Rflush or never.  With
 * reconnect on (nmuppersist), the server that goes away comes back,
 * keeping its files or losing them: the qid it gives a file is made of
 * the file's path from the root and of its life, which changes when it
 * loses them, so the engine's restore finds the same file or another.
 * Checked on every frame the engine sends upstream:
 *
 *	no frame larger than the channel's msize, and every frame valid;
 *	no tag NOTAG, nor one the server has not answered yet;
 *	every fid used or destroyed is alive at the server, every fid
 *	created is not, and none is NOFID;
 *
 * and towards each client: no reply larger than its msize, and never
 * more replies than requests (so none twice, restore or not).  When
 * every client has left and the server has answered everything, it
 * holds no fid.  ASan/UBSan and leak checking do the rest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "9p.h"
#include "ninemux.h"

enum {
	NCLIENT	= 4,
	NPEND	= 4096,
	/*
	 * Upstream fids the server can tell apart.  The engine numbers
	 * fids from 1 and reuses a number once its clunk is answered, so
	 * the numbers held at once bound them: a session holds at most
	 * 16 fids and 8 requests in flight (its clunks among them), kept
	 * after it goes until the server answers, and an input starts at
	 * most one session a step, 2000 steps: fewer than 49,000.
	 */
	NFIDTAB	= 1 << 16,
	/*
	 * Two things a server may do, which the engine once mishandled:
	 *
	 * SKIPFLUSH: flush(5) says an Rflush answers the earlier flushes
	 * of the same request too, so a server may answer only the last.
	 *
	 * DROPFLUSHES: a server dropping a flush of a flush may drop that
	 * inner flush with it; the engine flushes the inner one again to
	 * learn its fate.
	 */
	SKIPFLUSH	= 1,
	DROPFLUSHES	= 1,
	NCTAG		= 8,	/* client tags the well-formed requests use, whose replies are checked */
};

typedef struct Pend Pend;
struct Pend {
	uint8_t		type;
	uint16_t	tag;
	uint16_t	oldtag;
	uint16_t	nwname;
	int		nref;
	P9fidref	refs[P9_MAXFIDS];
	uint32_t	fids[P9_MAXFIDS];
	uint32_t	count;
	uint32_t	seq;		/* order of arrival */
	uint8_t		wname[P9_MAXWELEM];	/* Twalk: its names, as NAME* */
	uint8_t		name;		/* Tcreate, Tlcreate: the same */
};

/*
 * A file is its path from the root: up to 32 names of 2 bits each
 * ("a", "b", and any other), ".." going up.  The server's qid of it is
 * a hash of that and of its life (S.life), which a restart that loses
 * the files changes.
 */
enum {
	NAMEA = 1,
	NAMEB,
	NAMEX,
	NAMEUP,
	MAXDEPTH = 32,
};

/* What the server knows of one upstream fid. */
typedef struct Fidst Fidst;
struct Fidst {
	uint8_t		touched;	/* listed in S.touched, to be cleared */
	uint8_t		live;
	uint16_t	ncreate;	/* pending requests that create it */
	uint16_t	ndel;		/* pending requests that clunk or remove it */
	uint8_t		depth;		/* the file it names */
	uint64_t	path;
};

typedef struct Client Client;
/* A client tag below NCTAG: requests under it in flight, and the first one's type. */
typedef struct Ctag Ctag;
struct Ctag {
	int		n;
	uint8_t		type;
	int		unsure;		/* reused in flight, or cut short by a Tversion: not checked */
	int		gen;		/* Tversions taken before it */
};

struct Client {
	Nmsess		*s;
	uint8_t		buf[8192];
	size_t		len;
	uint64_t	nreq;		/* frames the engine consumed */
	uint64_t	nrep;
	uint32_t	msize;
	Ctag		tags[NCTAG];
	int		vgen;		/* Tversions taken */
	int		vpend;		/* and not yet answered Rversion */
};

/* One input's state, cleared for each. */
static struct {
	const uint8_t	*p;
	const uint8_t	*e;
	Nmux		*m;
	Nmchan		*c;
	int		dialect;
	uint32_t	msize;
	int		vpending;	/* the channel's Rversion is not sent yet */
	uint8_t		before[8192];	/* a client's buffer before nmsessflushes */
} F;

/*
 * The clients and the simulated server.  Clearing all of this for every
 * input would cost more than most inputs do: the tables are kept clean
 * instead, each entry cleared as its request or fid goes (serverreset).
 */
static Client cl[NCLIENT];
static struct {
	uint8_t		buf[1 << 16];	/* bytes read from the channel, not yet a whole frame */
	size_t		len;
	Pend		pend[NPEND];
	int		npend;
	uint32_t	seq;
	uint16_t	ix[0x10000];	/* tag -> its index in pend + 1; 0: not in flight */
	Fidst		fid[NFIDTAB];
	uint32_t	touched[NFIDTAB];
	int		ntouched;
	int		nlive;
	uint64_t	life;		/* of the files: a restart that loses them changes it */
} S;

static uint8_t
byte(void)
{
	return F.p < F.e ? *F.p++ : 0;
}

static uint16_t
u16(void)
{
	return (uint16_t)(byte() | byte() << 8);
}

static void
wake(void *aux, int what)
{
	(void)aux;
	(void)what;
}

/* The engine's notes are sentences: read each through. */
static void
note(void *aux, int what, const char *msg)
{
	(void)aux;
	(void)what;
	if(msg != NULL && strlen(msg) > 4096)
		abort();
}

static Fidst *
fidst(uint32_t fid)
{
	Fidst *e;

	if(fid >= NFIDTAB)
		abort();	/* more fids than the engine can hold at once: it lost numbers */
	e = &S.fid[fid];
	if(!e->touched){
		e->touched = 1;
		S.touched[S.ntouched++] = fid;
	}
	return e;
}

static int
islive(uint32_t fid)
{
	return fid < NFIDTAB && S.fid[fid].live;
}

static void
setlive(uint32_t fid, int on)
{
	Fidst *e;

	e = fidst(fid);
	if(e->live != on){
		e->live = (uint8_t)on;
		S.nlive += on ? 1 : -1;
	}
}

/* A fid some pending request is about to create. */
static int
iscreating(uint32_t fid)
{
	return fid < NFIDTAB && S.fid[fid].ncreate > 0;
}

/* A fid some pending request is clunking or removing: nothing may use it now. */
static int
isdeleting(uint32_t fid)
{
	return fid < NFIDTAB && S.fid[fid].ndel > 0;
}

/*
 * Whether q's j-th fid is one it creates.  A walk in place creates
 * nothing: its fid is alive already, and if a clunk of it is answered
 * first, it stays gone (and the engine may use its number again).
 */
static int
creates(Pend *q, int j)
{
	return (q->refs[j].role & 0xF) == P9_FIDNEW && !(q->type == Twalk && j > 0 && q->fids[j] == q->fids[0]);
}

/* Count q's fids as being created or destroyed (d 1), or no longer (d -1). */
static void
pendfids(Pend *q, int d)
{
	Fidst *e;
	int j;

	for(j = 0; j < q->nref; j++)
		switch(q->refs[j].role & 0xF){
		case P9_FIDNEW:
			if(!creates(q, j))
				break;
			e = fidst(q->fids[j]);
			e->ncreate = (uint16_t)(e->ncreate + d);
			break;
		case P9_FIDDEL:
			e = fidst(q->fids[j]);
			e->ndel = (uint16_t)(e->ndel + d);
			break;
		}
}

/* The request in flight under tag, or NULL. */
static Pend *
pendof(uint16_t tag)
{
	return S.ix[tag] ? &S.pend[S.ix[tag] - 1] : NULL;
}

/* The server forgets everything: a new connection, or a new input. */
static void
serverreset(void)
{
	int i;

	for(i = 0; i < S.npend; i++)
		S.ix[S.pend[i].tag] = 0;
	for(i = 0; i < S.ntouched; i++)
		memset(&S.fid[S.touched[i]], 0, sizeof S.fid[0]);
	S.npend = 0;
	S.seq = 0;
	S.ntouched = 0;
	S.nlive = 0;
	S.len = 0;
}

/* The code of the counted name at p (NAME*). */
static uint8_t
namecode(const uint8_t *p)
{
	uint16_t n;

	n = p9get16(p);
	if(n == 1 && p[2] == 'a')
		return NAMEA;
	if(n == 1 && p[2] == 'b')
		return NAMEB;
	if(n == 2 && p[2] == '.' && p[3] == '.')
		return NAMEUP;
	return NAMEX;
}

/* Walk the file (depth, path) one name: down, or up. */
static void
step(uint8_t *depth, uint64_t *path, uint8_t name)
{
	if(name == NAMEUP){
		if(*depth > 0){
			(*depth)--;
			*path &= ~(3ull << (2 * *depth));
		}
	}else if(*depth < MAXDEPTH){
		*path |= (uint64_t)name << (2 * *depth);
		(*depth)++;
	}
}

/* The qid of the file (depth, path): a directory when it ends in "a", exclusive-use when in "b". */
static void
qidof(Qid *q, uint8_t depth, uint64_t path)
{
	uint64_t h;
	int last;

	h = (path ^ (uint64_t)depth << 58) * 0x9E3779B97F4A7C15ull ^ S.life * 0xC2B2AE3D27D4EB4Full;
	last = depth > 0 ? (int)(path >> (2 * (depth - 1)) & 3) : NAMEA;
	q->type = last == NAMEA ? P9_QTDIR : last == NAMEB ? P9_QTEXCL : 0;
	q->vers = 0;
	q->path = h ^ h >> 29;
}

/* The server receives one whole frame: check it. */
static void
receive(uint8_t *f, size_t n)
{
	Pend q;
	uint16_t tag;
	int i;

	if(n > F.msize)
		abort();
	tag = p9get16(f + P9_TAGOFF);
	if(f[4] == Tversion)
		abort();	/* only the channel's first frame, handled apart */
	if(tag == P9_NOTAG || S.ix[tag])
		abort();
	memset(&q, 0, sizeof q);
	if(f[4] == Tflush){
		if(n != 9)
			abort();
	}else if((q.nref = p9fidmap(f, n, F.dialect, q.refs)) < 0)
		abort();
	if(S.npend == NPEND)
		return;		/* never answered: it stays in flight */
	q.type = f[4];
	q.tag = tag;
	if(f[4] == Tflush)
		q.oldtag = p9get16(f + 7);
	for(i = 0; i < q.nref; i++){
		q.fids[i] = p9get32(f + q.refs[i].off);
		switch(q.refs[i].role & 0xF){
		case P9_FIDUSE:
			if(q.fids[i] == P9_NOFID && (q.refs[i].role & P9_FIDOPT))
				break;
			if(!islive(q.fids[i]) || isdeleting(q.fids[i]))
				abort();
			break;
		case P9_FIDDEL:
			if(!islive(q.fids[i]) || isdeleting(q.fids[i]))
				abort();
			break;
		case P9_FIDNEW:
			if(q.fids[i] == P9_NOFID)
				abort();
			if(!creates(&q, i))
				break;	/* walk in place */
			if(islive(q.fids[i]) || iscreating(q.fids[i]))
				abort();
			break;
		}
	}
	if(f[4] == Twalk){
		size_t off;

		q.nwname = p9get16(f + 15);
		off = 17;
		for(i = 0; i < q.nwname && i < P9_MAXWELEM && off + 2 <= n; i++){
			q.wname[i] = namecode(f + off);
			off += 2 + p9get16(f + off);
		}
	}
	if(f[4] == Tcreate || f[4] == Tlcreate)
		q.name = namecode(f + 11);
	if(f[4] == Tread || f[4] == Treaddir)
		q.count = p9get32(f + P9_RWCOUNTOFF);
	q.seq = S.seq++;
	pendfids(&q, 1);
	S.pend[S.npend++] = q;
	S.ix[tag] = (uint16_t)S.npend;
}

/* Write k bytes of the channel's queue to the server. */
static void
serverread(size_t k)
{
	struct iovec iov[16];
	Nmq *q;
	size_t done, m;
	long n;
	int i, niov;

	if(F.c == NULL)
		return;
	q = nmchanq(F.c);
	done = 0;
	while(done < k && !nmqempty(q)){
		niov = nmqiov(q, iov, 16);
		m = 0;
		for(i = 0; i < niov && done + m < k; i++){
			size_t t = iov[i].iov_len;

			if(t > k - done - m)
				t = k - done - m;
			if(t > sizeof S.buf - S.len)
				t = sizeof S.buf - S.len;
			memcpy(S.buf + S.len, iov[i].iov_base, t);
			S.len += t;
			m += t;
			if(t < iov[i].iov_len)
				break;
		}
		if(m == 0)
			break;
		nmqadvance(q, m);
		done += m;
		for(;;){
			n = p9frame(S.buf, S.len, F.msize);
			if(n < 0)
				abort();
			if(n == 0)
				break;
			receive(S.buf, (size_t)n);
			memmove(S.buf, S.buf + n, S.len - (size_t)n);
			S.len -= (size_t)n;
		}
	}
}

static void
feedchan(const uint8_t *b, size_t n)
{
	char err[128];

	/* a broken stream, or a refused Tversion: the channel goes down either way */
	if(F.c && (nmchanin(F.c, (uint8_t*)(uintptr_t)b, n, err, sizeof err) < 0 || nmchanstate(F.c) == NM_CREFUSED)){
		nmchandown(F.c);
		F.c = NULL;
	}
}

static void
sendreply(Fcall *r)
{
	uint8_t b[4096];
	size_t n;

	n = p9encode(b, sizeof b, r, F.dialect);
	if(n == 0)
		abort();
	feedchan(b, n);
}

/* The request under tag leaves the server's table: answered, or dropped as if it never came. */
static void
unpend(uint16_t tag)
{
	int i;

	i = S.ix[tag] - 1;
	pendfids(&S.pend[i], -1);
	S.ix[tag] = 0;
	if(i != --S.npend){
		S.pend[i] = S.pend[S.npend];
		S.ix[S.pend[i].tag] = (uint16_t)(i + 1);
	}
}

/* The server answers the request under tag: success or error, creating and destroying fids as it says. */
static void
answer(uint16_t tag, int succeed, int nwqid)
{
	Pend q;
	Fcall r;
	Fidst *e;
	uint8_t depth;
	uint64_t path;
	int j;
	static const uint8_t data[64];

	q = *pendof(tag);
	unpend(tag);
	memset(&r, 0, sizeof r);
	r.tag = q.tag;
	r.type = (uint8_t)(q.type + 1);
	if(q.type == Twalk && succeed){
		r.nwqid = (uint16_t)(nwqid % (q.nwname + 1));
		if(r.nwqid == 0 && q.nwname > 0)
			succeed = 0;	/* the first element failing is an error */
	}
	if(q.type == Tflush)
		succeed = 1;
	switch(q.type){
	case Tstat: case Tgetattr: case Tstatfs: case Treadlink: case Tgetlock: case Tlock:
		succeed = 0;		/* not worth encoding bodies for */
	}
	if(!succeed){
		if(F.dialect == P9_2000L){
			r.type = Rlerror;
			r.errnum = 2;
		}else{
			r.type = Rerror;
			r.ename = p9str("no");
			r.errnum = 2;
		}
	}else{
		/* the file each reply tells of, and its qid */
		e = q.nref > 0 && q.fids[0] < NFIDTAB ? &S.fid[q.fids[0]] : NULL;
		depth = e && q.type != Tattach && q.type != Tauth ? e->depth : 0;
		path = e && q.type != Tattach && q.type != Tauth ? e->path : 0;
		if(q.type == Twalk)
			for(j = 0; j < r.nwqid; j++){
				step(&depth, &path, q.wname[j]);
				qidof(&r.wqid[j], depth, path);
			}
		if(q.type == Tcreate || q.type == Tlcreate)
			step(&depth, &path, q.name);
		qidof(&r.qid, depth, path);
		if(q.type == Tauth)
			r.qid.type = P9_QTAUTH;
		if((q.type == Twalk || q.type == Tattach || q.type == Txattrwalk || q.type == Tcreate ||
		q.type == Tlcreate) && q.nref > 0){
			/* the fid it makes, or walks, or creates on, names that file */
			j = q.type == Twalk || q.type == Txattrwalk ? q.nref - 1 : 0;
			if(q.type == Twalk && r.nwqid != q.nwname)
				j = -1;
			if(j >= 0 && q.fids[j] < NFIDTAB){
				e = fidst(q.fids[j]);
				e->depth = depth;
				e->path = path;
			}
		}
		r.iounit = 0;
		r.count = q.count > sizeof data ? sizeof data : q.count;
		r.data = data;
		if(q.type == Treaddir)
			r.count = 0;
		if(q.type == Twrite)
			r.count = 1;
	}
	/* the server's own fid table follows its answer */
	for(j = 0; j < q.nref; j++){
		switch(q.refs[j].role & 0xF){
		case P9_FIDNEW:
			if(succeed && creates(&q, j) && !(q.type == Twalk && r.nwqid != q.nwname))
				setlive(q.fids[j], 1);
			break;
		case P9_FIDDEL:
			setlive(q.fids[j], 0);
			break;
		}
	}
	sendreply(&r);
}

static void answerfirst(uint16_t);

/*
 * The server drops the request under tag: it never answers it.  A
 * dropped Tflush leaves its own target alone, or drops it too (as
 * 9testsrv does; a Tflush only if DROPFLUSHES), or answers it first.
 */
static void
drop(uint16_t tag)
{
	Pend *q, *t;
	uint16_t old;
	int how;

	q = pendof(tag);
	old = q->oldtag;
	if(q->type == Tflush && old != tag && (t = pendof(old)) != NULL){
		how = byte();
		if((how & 1) && (DROPFLUSHES || t->type != Tflush))
			drop(old);
		else if(how & 2)
			answerfirst(old);
	}
	unpend(tag);
}

/* The first Tflush of old in flight that came before seq, or NULL. */
static Pend *
earlierflush(uint16_t old, uint32_t seq)
{
	Pend *q, *e;
	int i;

	e = NULL;
	for(i = 0; i < S.npend; i++){
		q = &S.pend[i];
		if(q->type == Tflush && q->oldtag == old && q->seq < seq && (e == NULL || q->seq < e->seq))
			e = q;
	}
	return e;
}

/*
 * The server answers the Tflush under tag.  Its target, if still in
 * flight, must be settled first (flush(5)): answered, the original
 * reply before the Rflush, or dropped, never to be answered.  A target
 * that is itself a Tflush is answered the same way, after its own
 * target: so a flush of a flush of a flush comes out in order.
 * Flushes of one request are answered in the order they came, and an
 * Rflush answers the earlier ones too: each earlier one still in
 * flight is answered first, or (SKIPFLUSH) left unanswered.
 */
static void
answerflush(uint16_t tag, int originalfirst)
{
	Pend *e;
	uint16_t old;

	old = pendof(tag)->oldtag;
	while((e = earlierflush(old, pendof(tag)->seq)) != NULL){
		if(!SKIPFLUSH || (byte() & 1))
			answerflush(e->tag, byte() & 1);
		else
			unpend(e->tag);
	}
	if(old != tag && pendof(old) != NULL){
		if(originalfirst)
			answerfirst(old);
		else
			drop(old);
	}
	answer(tag, 1, 0);
}

/* The target of a Tflush is answered before the Rflush. */
static void
answerfirst(uint16_t tag)
{
	if(pendof(tag)->type == Tflush)
		answerflush(tag, byte() & 1);
	else
		answer(tag, byte() & 1, byte());
}

/* The server answers the request under tag, as the input says. */
static void
serve(uint16_t tag)
{
	if(pendof(tag)->type == Tflush)
		answerflush(tag, byte() & 1);
	else
		answer(tag, byte() % 4 != 0, byte());
}

static void
rversion(void)
{
	Fcall r;

	if(!F.vpending || F.c == NULL)
		return;
	F.vpending = 0;
	memset(&r, 0, sizeof r);
	r.type = Rversion;
	r.tag = P9_NOTAG;
	r.msize = F.msize;
	r.version = p9str(p9dialectname(F.dialect));
	sendreply(&r);
}

static void
newchan(void)
{
	serverreset();
	F.c = nmchannew(F.m, &F);
	if(F.c == NULL)
		return;
	/* consume the Tversion */
	{
		Nmq *q = nmchanq(F.c);
		struct iovec iov[4];
		size_t n = 0;
		int k = nmqiov(q, iov, 4), i;

		for(i = 0; i < k; i++)
			n += iov[i].iov_len;
		nmqadvance(q, n);
	}
	F.vpending = 1;
	if(byte() & 1)
		rversion();	/* else later: clients' Tversions wait for it */
}

static void replied(Client *c, const uint8_t *f);
static void taken(Client *c, const uint8_t *f);

static void
drainclient(Client *c)
{
	struct iovec iov[16];
	Nmq *q;
	size_t n;
	int k, i;
	uint8_t *f;

	if(c->s == NULL)
		return;
	q = nmsessq(c->s);
	while(!nmqempty(q)){
		k = nmqiov(q, iov, 16);
		n = 0;
		for(i = 0; i < k; i++){
			/* the engine queues whole frames */
			f = iov[i].iov_base;
			if(iov[i].iov_len < 7 || p9get32(f) != iov[i].iov_len)
				abort();
			if(c->msize && iov[i].iov_len > c->msize)
				abort();
			if(f[4] == Rversion && iov[i].iov_len >= 11)
				c->msize = p9get32(f + 7);
			replied(c, f);
			c->nrep++;
			n += iov[i].iov_len;
		}
		nmqadvance(q, n);
	}
	if(c->nrep > c->nreq)
		abort();
}

/* The engine took the request f from c. */
static void
taken(Client *c, const uint8_t *f)
{
	uint16_t tag;
	Ctag *t;
	int i;

	if(f[4] == Tversion){
		/* what was in flight may now never be answered */
		for(i = 0; i < NCTAG; i++)
			c->tags[i].unsure = 1;
		c->vgen++;
		c->vpend++;
	}
	if((tag = p9get16(f + 5)) >= NCTAG)
		return;
	t = &c->tags[tag];
	if(t->n++ > 0){
		/* taken after the latest Tversion too: its Rversion must not forget the tag */
		t->unsure = 1;
		t->gen = c->vgen;
	}else{
		/* a malformed Tflush may be refused with an error: only a whole one is checked */
		t->type = f[4] == Tflush && p9get32(f) != 9 ? 0 : f[4];
		t->unsure = 0;
		t->gen = c->vgen;
	}
}

/* Whether the reply f is the engine's "tag already in use". */
static int
inuse(const uint8_t *f)
{
	static const char e[] = "tag already in use";

	return f[4] == Rerror && p9get32(f) >= 9 + sizeof e - 1 && p9get16(f + 7) == sizeof e - 1 &&
		memcmp(f + 9, e, sizeof e - 1) == 0;
}

/* c got the reply f: flush(5) says a Tflush is answered Rflush, never Rerror. */
static void
replied(Client *c, const uint8_t *f)
{
	uint16_t tag;
	Ctag *t;
	int i;

	tag = p9get16(f + 5);
	t = tag < NCTAG ? &c->tags[tag] : NULL;
	/*
	 * A tag the engine still has in flight is refused for a flush
	 * too: the client broke the rules first, in a way this count of
	 * replies cannot always see (a Tversion between them).
	 */
	if(t != NULL && t->n > 0){
		if(!t->unsure && t->type == Tflush && f[4] != Rflush && !inuse(f)){
			fprintf(stderr, "Tflush tag %u answered type %u: %.*s\n", tag, f[4],
				f[4] == Rerror ? (int)p9get16(f + 7) : 0, f[4] == Rerror ? (const char *)f + 9 : "");
			abort();
		}
		if(--t->n == 0)
			t->unsure = 0;
	}
	if(f[4] == Rversion){
		/*
		 * The one Tversion outstanding is answered: what came before
		 * it was drained.  With more (some answered Rerror), nothing
		 * is known, and nothing is forgotten: only checks are lost.
		 */
		if(c->vpend-- == 1)
			for(i = 0; i < NCTAG; i++)
				if(c->tags[i].gen < c->vgen)
					memset(&c->tags[i], 0, sizeof c->tags[i]);
		if(c->vpend < 0)
			c->vpend = 0;
	}
}

/* Whole frames at the start of buf. */
static size_t
nframes(const uint8_t *buf, size_t len)
{
	size_t off, n;
	long k;

	n = 0;
	for(off = 0; (k = p9frame(buf + off, len - off, 0xFFFFFFFF)) > 0; off += (size_t)k)
		n++;
	return n;
}

/*
 * nmsessflushes took frames out of c's buffer, which held before bytes
 * (kept in F.before): what is left is what was, less those; each
 * Tflush among them was taken.
 */
static void
outofturn(Client *c, size_t before)
{
	size_t i, j, n;
	long k;

	/* whole frames only: what follows them may be anything */
	for(i = j = 0; (k = p9frame(F.before + i, before - i, 0xFFFFFFFF)) > 0; i += n){
		n = (size_t)k;
		if(c->len - j >= n && memcmp(c->buf + j, F.before + i, n) == 0)
			j += n;
		else if(F.before[i + 4] == Tflush)
			taken(c, F.before + i);
	}
}

static void
clientsend(Client *c, const uint8_t *b, size_t n)
{
	char err[128];
	long k;
	size_t off, before;
	int i;

	if(c->s == NULL){
		c->s = nmsessnew(F.m, c);
		c->len = 0;
		c->nreq = c->nrep = 0;
		memset(c->tags, 0, sizeof c->tags);
		c->vgen = c->vpend = 0;
		c->msize = 0;
		if(c->s == NULL)
			return;
		if(n > 0 && (b[0] & 0x40))
			nmsesspin(c->s, "pinned", 77);
	}
	if(n > sizeof c->buf - c->len)
		n = sizeof c->buf - c->len;
	memcpy(c->buf + c->len, b, n);
	c->len += n;
	k = nmsessin(c->s, c->buf, c->len, err, sizeof err);
	if(k < 0){
		/*
		 * The frames before the bad one were taken, unrecorded: a
		 * reply to one of them (its tag in use, say) would be taken
		 * for the answer to what its tag held before.  The session
		 * ends here, so its last replies go unchecked.
		 */
		for(off = 0; (k = p9frame(c->buf + off, c->len - off, 0xFFFFFFFF)) > 0; off += (size_t)k)
			c->nreq++;
		for(i = 0; i < NCTAG; i++)
			c->tags[i].unsure = 1;
		drainclient(c);
		nmsessclose(c->s);
		c->s = NULL;
		return;
	}
	for(off = 0; off < (size_t)k; off += p9get32(c->buf + off)){
		taken(c, c->buf + off);
		c->nreq++;
	}
	memmove(c->buf, c->buf + k, c->len - (size_t)k);
	c->len -= (size_t)k;
	if(nframes(c->buf, c->len) > 0){
		/* the session waits: the Tflushes behind are handled anyway, and taken out */
		k = (long)nframes(c->buf, c->len);
		memcpy(F.before, c->buf, c->len);
		before = c->len;
		c->len = nmsessflushes(c->s, c->buf, c->len);
		c->nreq += (uint64_t)(k - (long)nframes(c->buf, c->len));
		outofturn(c, before);
	}
	if(c->len == sizeof c->buf)
		c->len = 0;	/* a stuck client; start over */
	drainclient(c);
}

/* A well-formed request built from the input. */
static void
clientmsg(Client *c)
{
	static const uint8_t types[] = {
		Tversion, Tauth, Tattach, Tflush, Twalk, Topen, Tcreate, Tread, Twrite,
		Tclunk, Tremove, Tstat, Tlopen, Tlcreate, Txattrwalk, Treaddir, Tmkdir,
		Trenameat, Tunlinkat, Tfsync, Tgetattr,
	};
	static const char *vers[] = { "9P2000", "9P2000.u", "9P2000.L", "9P2001.x", "bogus" };
	static const char *names[] = { "a", "b", "..", "." };
	uint8_t b[1024];
	Fcall t;
	size_t n;
	int i, d;

	memset(&t, 0, sizeof t);
	t.type = types[byte() % sizeof types];
	t.tag = byte() & 7;
	t.fid = byte() & 7;
	t.newfid = byte() & 7;
	t.afid = byte() & 8 ? P9_NOFID : (uint32_t)(byte() & 7);
	t.dfid = byte() & 7;
	t.newdfid = byte() & 7;
	t.oldtag = byte() & 7;
	t.msize = (uint32_t)u16() + 200;
	t.version = p9str(vers[byte() % 5]);
	t.uname = p9str("u");
	t.aname = p9str("");
	t.name = p9str("n");
	t.newname = p9str("m");
	t.count = u16();
	t.offset = byte();
	t.nwname = byte() % 4;
	for(i = 0; i < t.nwname; i++)
		t.wname[i] = p9str(names[byte() & 3]);
	t.data = b;
	if(t.type == Twrite)
		t.count = byte();
	d = F.dialect;
	if(t.type == Tversion)
		d = P9_2000;
	n = p9encode(b + 256, sizeof b - 256, &t, d);
	if(n == 0)
		return;
	clientsend(c, b + 256, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ENGINE_TRACE=1 in the environment: every frame the engine passes, to stderr, for reading a crash. */
static void
trace(void *arg, unsigned sessid, int where, const uint8_t *frame, size_t len, int dialect)
{
	static const char *dir[] = { "?", "cin", "tup", "rup", "rcout" };
	char buf[512];
	Fcall f;

	(void)arg;
	if(p9decode(frame, len, 1u << 30, dialect, &f) < 0)
		snprintf(buf, sizeof buf, "(bad frame, type %d)", len > 4 ? frame[4] : -1);
	else
		p9fmt(buf, sizeof buf, &f, dialect);
	fprintf(stderr, "%u %s %s\n", sessid, where >= 1 && where <= 4 ? dir[where] : "?", buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Nmconf conf;
	Client *c;
	uint8_t op, raw[256];
	size_t n;
	int i, steps;

	memset(&F, 0, sizeof F);
	for(i = 0; i < NCLIENT; i++)
		cl[i].s = NULL;
	F.p = data;
	F.e = data + size;
	F.dialect = byte() % 3;
	F.msize = 256 + (uint32_t)(byte() << 4);
	memset(&conf, 0, sizeof conf);
	conf.msize = F.msize;
	conf.dialect = F.dialect;
	op = byte();
	conf.maxfids = 1 + (op & 15);
	conf.maxreqs = 1 + (byte() & 7);
	op = byte();
	conf.maxtags = op & 0x80 ? 1 + (op & 15) : 0;	/* few tags: requests wait for one */
	/* a short upstream queue: sessions take turns while the server reads slowly */
	conf.upqbytes = op & 0x40 ? 1 + (size_t)(op & 15) * 64 : 0;
	conf.iounit = op & 0x20 ? 128 + (uint32_t)(op & 15) * 16 : 0;
	conf.wake = wake;
	conf.note = note;
	if(getenv("ENGINE_TRACE") != NULL)
		conf.trace = trace;
	F.m = nmnew(&conf);
	if(F.m == NULL)
		return 0;
	/* reconnect: the maxfids byte's fifth bit */
	if(op & 0x10)
		nmuppersist(nmdefup(F.m), 1);
	S.life = 0;
	newchan();
	for(steps = 0; F.p < F.e && steps < 2000; steps++){
		op = byte();
		c = &cl[(op >> 4) & (NCLIENT - 1)];
		switch(op & 15){
		case 0: case 1: case 2: case 3:
			clientmsg(c);
			break;
		case 4:
			n = byte() % sizeof raw;
			for(i = 0; i < (int)n; i++)
				raw[i] = byte();
			clientsend(c, raw, n);
			break;
		case 5: case 6: case 7:
			serverread(1 + (size_t)byte() * 4);
			break;
		case 8: case 9: case 10:
			if(S.npend > 0)
				serve(S.pend[byte() % S.npend].tag);
			break;
		case 11:
			if(c->s){
				drainclient(c);
				nmsessclose(c->s);
				c->s = NULL;
			}
			break;
		case 12:
			/* a reply nobody asked for */
			raw[0] = 7;
			raw[1] = raw[2] = raw[3] = 0;
			raw[4] = Rclunk;
			for(i = 0; i < 2; i++)
				raw[5 + i] = byte();
			if(pendof(p9get16(raw + 5)) == NULL)
				feedchan(raw, 7);
			break;
		case 13:
			op = byte();
			if(op == 0xFF && F.c){
				/* garbage from the server: the channel must go */
				raw[0] = 3;
				raw[1] = raw[2] = raw[3] = 0;
				feedchan(raw, 7);
				if(F.c == NULL)
					newchan();
			}else if(op < 16 && F.c){
				/* the server goes, and comes back (reconnect), its files kept (op even) or lost */
				nmchandown(F.c);
				F.c = NULL;
				if(op & 1)
					S.life++;
				for(i = 0; i < NCLIENT; i++)
					drainclient(&cl[i]);
				newchan();
			}else if(op < 20){
				/* waiting for the restore is over (9mux -P's time) */
				nmupgiveup(nmdefup(F.m));
			}
			break;
		case 14:
			if(F.vpending){
				rversion();
				break;
			}
			/* fall through */
		default:
			/* feed whatever a client still holds, as the daemon does on wake */
			clientsend(c, raw, 0);
			break;
		}
		for(i = 0; i < NCLIENT; i++)
			drainclient(&cl[i]);
	}
	for(i = 0; i < NCLIENT; i++)
		if(cl[i].s){
			drainclient(&cl[i]);
			nmsessclose(cl[i].s);
			cl[i].s = NULL;
		}
	/*
	 * Everyone has left: once the server has answered everything,
	 * including flushes and 9mux's clunks, it must hold no fid.
	 */
	if(F.c != NULL && !F.vpending){
		for(steps = 0; steps < 100000; steps++){
			serverread(1 << 16);
			if(S.npend == 0)
				break;
			serve(S.pend[S.npend - 1].tag);
			if(F.c == NULL)
				break;
		}
		if(F.c != NULL && S.npend == 0 && S.nlive != 0)
			abort();
	}
	nmfree(F.m);
	return 0;
}
