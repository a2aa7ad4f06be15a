/*
 * t_ninemux_bulk: large reads and writes sent upstream as pieces and
 * joined into one reply (lib/ninemux/split.c), in the engine frame by
 * frame, the test playing the clients and a server whose replies it
 * orders itself: a 1 MiB read in 8 pieces answered out of order, the
 * window of pieces upstream, short and failed pieces, a flush in each
 * state and a flush of the flush, hang-up and Tversion with pieces in
 * flight, another session's requests between the pieces, writes, what
 * is not split (directories, Treaddir, append-only files), 9P2000.L,
 * the budgets and -t, and reconnect with pieces in flight.
 */
#include <stdint.h>

#include "9p.h"
#include "ninemux.h"
#include "tap.h"

enum {
	KiB	= 1024,
	MiB	= 1024 * 1024,
	IOUNIT	= 128 * KiB,
	CMSIZE	= MiB + 24,		/* the client's: 1 MiB of data in a frame */
	UMSIZE	= 4 * MiB,
	MAXFR	= 1024,
	FILESZ	= 8 * MiB,
	NFID	= 4096,
	/* the server's files, by node */
	NROOT	= 0,
	NFILE,				/* "f" */
	NDIR,				/* "d" */
	NAPP,				/* "a", append-only */
	NNODE,
};

/* A frame the server received, or a client got. */
typedef struct Fr Fr;
struct Fr {
	uint8_t		type;
	uint16_t	tag;
	uint32_t	fid;
	uint64_t	off;
	uint32_t	count;
	uint16_t	oldtag;
	uint8_t		*raw;		/* the whole frame */
	uint32_t	len;
	int		done;		/* the server answered it */
};

static Nmux *m;
static Nmup *U;
static Nmchan *ch;
static int D = P9_2000;

static Fr up[MAXFR];
static int nup;			/* frames the server received since upclear */
static Fr cl[MAXFR];
static int ncl;

static uint8_t *file;		/* node NFILE's bytes */
static uint64_t flen;
static int fidnode[NFID];	/* upstream fid -> node, -1 if none */
static uint8_t buf[4 * MiB];

static void
wake(void *aux, int what)
{
	(void)aux;
	(void)what;
}

static uint8_t
pat(uint64_t o)
{
	return (uint8_t)(o * 7 + (o >> 9) + (o >> 17));
}

static void
frclear(Fr *f, int *n)
{
	int i;

	for(i = 0; i < *n; i++)
		free(f[i].raw);
	*n = 0;
}

/* Take every whole frame in q into f (count *n). */
static void
take(Nmq *q, Fr *f, int *n)
{
	struct iovec iov[1];
	uint8_t *p;
	size_t len;
	Fr *x;

	while(!nmqempty(q)){
		if(nmqiov(q, iov, 1) != 1)
			break;
		len = iov[0].iov_len;
		p = iov[0].iov_base;
		if(*n < MAXFR && len >= 7){
			x = &f[(*n)++];
			memset(x, 0, sizeof *x);
			x->raw = malloc(len);
			memcpy(x->raw, p, len);
			x->len = (uint32_t)len;
			x->type = p[4];
			x->tag = p9get16(p + 5);
			if(len >= 11)
				x->fid = p9get32(p + 7);
			if(x->type == Tflush && len >= 9)
				x->oldtag = p9get16(p + 7);
			if((x->type == Tread || x->type == Twrite || x->type == Treaddir) && len >= 23){
				x->off = p9get64(p + 11);
				x->count = p9get32(p + 19);
			}
			if((x->type == Rread || x->type == Rwrite || x->type == Rreaddir) && len >= 11)
				x->count = p9get32(p + 7);
		}
		nmqadvance(q, len);
	}
}

static void
uptake(void)
{
	take(nmchanq(ch), up, &nup);
}

static void
cltake(Nmsess *s)
{
	frclear(cl, &ncl);
	take(nmsessq(s), cl, &ncl);
}

/* The first frame the server got of type (from index from on) not yet answered, or -1. */
static int
upfind(uint8_t type, int from)
{
	int i;

	for(i = from; i < nup; i++)
		if(up[i].type == type && !up[i].done)
			return i;
	return -1;
}

static int
upcount(uint8_t type)
{
	int i, n;

	for(i = n = 0; i < nup; i++)
		n += up[i].type == type;
	return n;
}

static void
feed(Fcall *r)
{
	size_t n;

	n = p9encode(buf, sizeof buf, r, D);
	if(n == 0 || nmchanin(ch, buf, n, NULL, 0) != (long)n)
		diag("nmchanin refused a reply of type %d", r->type);
}

static void
rmsg(Fcall *r, uint8_t type, uint16_t tag)
{
	memset(r, 0, sizeof *r);
	r->type = type;
	r->tag = tag;
}

static Qid
qidof(int node)
{
	Qid q;

	memset(&q, 0, sizeof q);
	q.path = 100 + (uint64_t)node;
	q.type = node == NROOT || node == NDIR ? P9_QTDIR : node == NAPP ? P9_QTAPPEND : 0;
	return q;
}

/* Answer frame i with an error. */
static void
rerr(int i, const char *msg)
{
	Fcall r;

	up[i].done = 1;
	rmsg(&r, D == P9_2000L ? Rlerror : Rerror, up[i].tag);
	r.ename = p9str(msg);
	r.errnum = 5;
	feed(&r);
}

/* Answer the Tread i with at most count bytes of the file. */
static void
rreadn(int i, uint32_t count)
{
	Fcall r;

	up[i].done = 1;
	rmsg(&r, Rread, up[i].tag);
	if(up[i].off >= flen)
		count = 0;
	else if(count > flen - up[i].off)
		count = (uint32_t)(flen - up[i].off);
	r.count = count;
	r.data = file + up[i].off;
	feed(&r);
}

static void
rwriten(int i, uint32_t count)
{
	Fcall r;
	uint32_t k;

	up[i].done = 1;
	k = count < up[i].count ? count : up[i].count;
	if(up[i].off + k <= FILESZ){
		memcpy(file + up[i].off, up[i].raw + 23, k);
		if(up[i].off + k > flen)
			flen = up[i].off + k;
	}
	rmsg(&r, Rwrite, up[i].tag);
	r.count = count;
	feed(&r);
}

/* Answer frame i as the server would: success. */
static void
serve(int i)
{
	Fcall t, r;
	int node, k;

	if(up[i].done)
		return;
	if(up[i].type == Tread){
		rreadn(i, up[i].count);
		return;
	}
	if(up[i].type == Twrite){
		rwriten(i, up[i].count);
		return;
	}
	up[i].done = 1;
	if(p9decode(up[i].raw, up[i].len, up[i].len, D, &t) <= 0){
		diag("undecodable frame type %d", up[i].type);
		return;
	}
	rmsg(&r, (uint8_t)(t.type + 1), t.tag);
	switch(t.type){
	case Tattach:
		if(t.fid < NFID)
			fidnode[t.fid] = NROOT;
		r.qid = qidof(NROOT);
		break;
	case Twalk:
		node = t.fid < NFID ? fidnode[t.fid] : -1;
		for(k = 0; k < t.nwname; k++){
			if(p9streq(t.wname[k], "f"))
				node = NFILE;
			else if(p9streq(t.wname[k], "d"))
				node = NDIR;
			else if(p9streq(t.wname[k], "a"))
				node = NAPP;
			r.wqid[k] = qidof(node);
		}
		r.nwqid = t.nwname;
		if(t.newfid < NFID)
			fidnode[t.newfid] = node;
		break;
	case Topen:
	case Tlopen:
		r.qid = qidof(t.fid < NFID ? fidnode[t.fid] : 0);
		r.iounit = 0;
		break;
	case Tclunk:
		if(t.fid < NFID)
			fidnode[t.fid] = -1;
		break;
	case Treaddir:
		r.count = 0;
		break;
	case Tflush:
		break;
	default:
		up[i].done = 0;
		rerr(i, "not here");
		return;
	}
	feed(&r);
}

/* Answer everything pending, oldest first, until nothing is. */
static void
serveall(void)
{
	int i, again;

	do{
		uptake();
		again = 0;
		for(i = 0; i < nup; i++)
			if(!up[i].done && up[i].type != Tversion){
				serve(i);
				again = 1;
			}
	}while(again);
}

/* A new engine; a channel ready with msize UMSIZE. */
static void
setup(int dialect, int pieces, int maxreqs, int persist)
{
	Nmconf c;
	Fcall r;
	int i;

	frclear(up, &nup);
	frclear(cl, &ncl);
	for(i = 0; i < NFID; i++)
		fidnode[i] = -1;
	memset(&c, 0, sizeof c);
	c.msize = UMSIZE;
	c.dialect = dialect;
	c.maxreqs = maxreqs;
	c.iounit = IOUNIT;
	c.pieces = pieces;
	c.wake = wake;
	D = dialect;
	m = nmnew(&c);
	U = nmdefup(m);
	if(persist)
		nmuppersist(U, 1);
	ch = nmchannew(m, NULL);
	uptake();
	up[0].done = 1;
	rmsg(&r, Rversion, P9_NOTAG);
	r.msize = UMSIZE;
	r.version = p9str(p9dialectname(dialect));
	feed(&r);
	frclear(up, &nup);
}

static void
teardown(void)
{
	nmfree(m);
	m = NULL;
	frclear(up, &nup);
	frclear(cl, &ncl);
}

static long
csend(Nmsess *s, Fcall *f)
{
	size_t n;

	n = p9encode(buf, sizeof buf, f, f->type == Tversion ? P9_2000 : D);
	if(n == 0){
		diag("cannot encode type %d", f->type);
		return -1;
	}
	return nmsessin(s, buf, n, NULL, 0);
}

static Fcall T;

static Fcall *
tmsg(uint8_t type, uint16_t tag, uint32_t fid)
{
	memset(&T, 0, sizeof T);
	T.type = type;
	T.tag = tag;
	T.fid = fid;
	T.afid = P9_NOFID;
	T.uname = p9str("me");
	T.aname = p9str("");
	T.nuname = 1000;
	return &T;
}

static Fcall *
tread(uint16_t tag, uint32_t fid, uint64_t off, uint32_t count)
{
	tmsg(Tread, tag, fid);
	T.offset = off;
	T.count = count;
	return &T;
}

static Fcall *
twrite(uint16_t tag, uint32_t fid, uint64_t off, uint32_t count, const uint8_t *data)
{
	tmsg(Twrite, tag, fid);
	T.offset = off;
	T.count = count;
	T.data = data;
	return &T;
}

static Fcall *
tflush(uint16_t tag, uint16_t oldtag)
{
	tmsg(Tflush, tag, 0);
	T.oldtag = oldtag;
	return &T;
}

/* One request of s answered by the server as it likes: the client's reply type. */
static int
rpc(Nmsess *s, Fcall *t)
{
	csend(s, t);
	serveall();
	cltake(s);
	return ncl > 0 ? cl[ncl - 1].type : -1;
}

/*
 * A session with msize, fid 0 the root and fid 1 the file name opened
 * with mode (Topen, or Tlopen flags in 9P2000.L): NULL on failure.
 */
static Nmsess *
opened(uint32_t msize, const char *name, uint32_t mode)
{
	Nmsess *s;
	Fcall *t;

	s = nmsessnew(m, NULL);
	memset(&T, 0, sizeof T);
	T.type = Tversion;
	T.tag = P9_NOTAG;
	T.msize = msize;
	T.version = p9str(p9dialectname(D));
	if(rpc(s, &T) != Rversion)
		return NULL;
	if(rpc(s, tmsg(Tattach, 1, 0)) != Rattach)
		return NULL;
	t = tmsg(Twalk, 2, 0);
	t->newfid = 1;
	t->nwname = 1;
	t->wname[0] = p9str(name);
	if(rpc(s, t) != Rwalk)
		return NULL;
	t = tmsg(D == P9_2000L ? Tlopen : Topen, 3, 1);
	t->mode = mode;
	t->flags = mode;
	if(rpc(s, t) != (D == P9_2000L ? Rlopen : Ropen))
		return NULL;
	frclear(up, &nup);
	return s;
}

/* The iounit of the last open's reply to the client. */
static uint32_t
lastiounit(void)
{
	Fcall r;

	if(ncl < 1 || p9decode(cl[ncl - 1].raw, cl[ncl - 1].len, cl[ncl - 1].len, D, &r) <= 0)
		return 0;
	return r.iounit;
}

/* Whether Rread frame f holds the file's bytes from off. */
static int
readright(const Fr *f, uint64_t off)
{
	uint32_t i;

	if(f->type != Rread || f->len != 11 + f->count)
		return 0;
	for(i = 0; i < f->count; i++)
		if(f->raw[11 + i] != pat(off + i))
			return 0;
	return 1;
}

/* Whether frame f holds the string sub. */
static int
has(const Fr *f, const char *sub)
{
	size_t k, i;

	k = strlen(sub);
	for(i = 0; k <= f->len && i <= f->len - k; i++)
		if(memcmp(f->raw + i, sub, k) == 0)
			return 1;
	return 0;
}

/* Upstream tags and fids in use. */
static void
chanidle(const char *what)
{
	Nmchaninfo ci;

	nmchaninfo(ch, &ci);
	ok(ci.tags == 0 && ci.waiting == 0, "%s: no upstream tag in use (%d, %d waiting)", what, ci.tags, ci.waiting);
}

static void
fillfile(void)
{
	uint64_t i;

	for(i = 0; i < FILESZ; i++)
		file[i] = pat(i);
	flen = 4 * MiB;
}

/* How many frames of type from index from on are the pieces of total bytes at off, in order. */
static int
piecesright(uint8_t type, uint64_t off, uint32_t total, int from)
{
	int i, k;
	uint32_t want;

	if(from < 0)
		return 0;
	for(i = from, k = 0; i < nup; i++){
		if(up[i].type != type)
			continue;
		want = total - (uint32_t)k * IOUNIT < IOUNIT ? total - (uint32_t)k * IOUNIT : IOUNIT;
		if(up[i].off != off + (uint64_t)k * IOUNIT || up[i].count != want || up[i].fid != up[from].fid)
			return 0;
		k++;
	}
	return k;
}

static void
t_open(void)
{
	Nmsess *s;

	setup(P9_2000, 0, 0, 0);
	s = opened(CMSIZE, "f", P9_OREAD);
	ok(s != NULL, "open: a client with msize 1 MiB + 24 opens a file");
	is_int(lastiounit(), CMSIZE - 24, "open: a plain file's iounit is the client's msize-24, not -i");
	s = opened(CMSIZE, "d", P9_OREAD);
	is_int(lastiounit(), IOUNIT, "open: a directory's is -i, what its reads are cut to");
	s = opened(CMSIZE, "a", P9_ORDWR);
	is_int(lastiounit(), IOUNIT, "open: an append-only file's is -i, its writes going whole");
	teardown();
}

static void
t_outoforder(void)
{
	static const int order[8] = { 7, 3, 0, 5, 1, 6, 2, 4 };
	Nmsess *s;
	int i, k, first, distinct;

	setup(P9_2000, 8, 0, 0);
	s = opened(CMSIZE, "f", P9_OREAD);
	csend(s, tread(10, 1, 0, MiB));
	uptake();
	is_int(upcount(Tread), 8, "8 pieces: a 1 MiB read goes as 8 Treads at once");
	is_int(piecesright(Tread, 0, MiB, upfind(Tread, 0)), 8, "each of 128 KiB, at its offset, on the same fid");
	first = upfind(Tread, 0);
	distinct = 1;
	for(i = 0; i < 8; i++)
		for(k = i + 1; k < 8; k++)
			if(up[first + i].tag == up[first + k].tag)
				distinct = 0;
	ok(distinct, "each with its own tag");
	is_int(nmsessbytes(s), 23 + MiB + 11, "the session's budget counts the read and its 1 MiB reply");
	first = upfind(Tread, 0);
	for(i = 0; i < 8; i++){
		rreadn(first + order[i], IOUNIT);
		cltake(s);
		if(i < 7 && ncl != 0)
			break;
	}
	ok(i == 8, "no reply before the last piece's");
	ok(ncl == 1 && cl[0].tag == 10 && cl[0].count == MiB && readright(&cl[0], 0),
		"out of order: one Rread of 1 MiB, the pieces' data in order");
	chanidle("8 pieces");
	is_int(nmsessbytes(s), 0, "the budget is free once the reply is written");
	/* at an offset not a multiple of the piece, and the last piece smaller */
	csend(s, tread(11, 1, 1000, MiB - 5000));
	uptake();
	is_int(piecesright(Tread, 1000, MiB - 5000, upfind(Tread, 0)), 8, "1 MiB - 5000 at 1000: 8 pieces, the last short of 5000");
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].count == MiB - 5000 && readright(&cl[0], 1000), "joined right");
	/* at the end of the file: a short piece is the end */
	csend(s, tread(12, 1, flen - 300 * KiB, MiB));
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].count == 300 * KiB && readright(&cl[0], flen - 300 * KiB),
		"at the end of the file: the 300 KiB left (%u)", ncl ? cl[0].count : 0);
	csend(s, tread(13, 1, flen, MiB));
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rread && cl[0].count == 0, "past the end: an empty Rread");
	/* not larger than the iounit: one Tread as it is */
	frclear(up, &nup);
	csend(s, tread(14, 1, 0, IOUNIT));
	uptake();
	ok(nup == 1 && up[0].count == IOUNIT, "a read of the iounit goes whole");
	serveall();
	cltake(s);
	teardown();
}

/* The Treads upstream and unanswered now. */
static int
readsup(void)
{
	int i, n;

	uptake();
	for(i = n = 0; i < nup; i++)
		n += up[i].type == Tread && !up[i].done;
	return n;
}

/* Serve the pieces of a read, oldest first, one at a time: the most upstream at once. */
static int
servepieces(void)
{
	int i, n, most;

	most = 0;
	while((n = readsup()) > 0){
		if(n > most)
			most = n;
		i = upfind(Tread, 0);
		rreadn(i, up[i].count);
	}
	return most;
}

static void
t_window(void)
{
	Nmsess *s, *o;
	int i, inflight, most, later, stat, before, first, base;

	setup(P9_2000, 0, 0, 0);
	s = opened(CMSIZE, "f", P9_OREAD);
	o = opened(8192, "f", P9_OREAD);
	/* o came since s last looked: its read is shared, one piece at a time, of a quarter of -i */
	csend(s, tread(10, 1, 0, MiB));
	is_int(readsup(), 1, "window: another session came before: 1 piece upstream at first");
	ok(nup == 1 && up[0].count == IOUNIT / 4, "of a quarter of -i (%u)", nup ? up[0].count : 0);
	is_int(servepieces(), 1, "and never more than 1 at once");
	is_int(upcount(Tread), MiB / (IOUNIT / 4), "the read in pieces of a quarter of -i");
	cltake(s);
	ok(ncl == 1 && cl[0].count == MiB && readright(&cl[0], 0), "the read joined right");

	/* o quiet since: s's next read is alone, Nmconf.pieces (0: 2) at once, of -i */
	first = nup;
	base = upcount(Tread);
	csend(s, tread(11, 1, 0, MiB));
	is_int(readsup(), 2, "window: alone, 2 pieces upstream at first (Nmconf.pieces 0)");
	ok(up[first].count == IOUNIT && up[first + 1].count == IOUNIT, "of -i each");
	/* the other session's small requests go between the pieces */
	csend(o, tmsg(Tstat, 20, 1));
	uptake();
	stat = upfind(Tstat, first);
	ok(stat == first + 2, "another session's Tstat goes upstream right after them, not after the 8 (at %d)", stat - first);
	rerr(stat, "no stat here");
	most = later = 0;
	for(;;){
		inflight = readsup();
		if(inflight > most)
			most = inflight;
		if(upcount(Tread) > base + 2 && inflight > later)
			later = inflight;
		if((i = upfind(Tread, 0)) < 0)
			break;
		rreadn(i, up[i].count);
		if(upcount(Tread) == base + 4){
			csend(o, tmsg(Tstat, 21, 1));
			uptake();
			before = upcount(Tread) - base;
			stat = upfind(Tstat, 0);
			ok(stat >= 0 && before <= 5, "a Tstat sent meanwhile is upstream before the sixth piece (after %d)", before);
			rerr(stat, "no stat here");
		}
	}
	is_int(most, 2, "never more than 2 pieces upstream at once");
	is_int(later, 1, "once o sent, 1 piece at a time to the end of the read");
	cltake(s);
	ok(ncl == 1 && cl[0].count == MiB && readright(&cl[0], 0), "the read joined right");
	cltake(o);
	ok(ncl == 2 && cl[0].type == Rerror && cl[1].type == Rerror, "the other session got its replies");

	/* o sent nothing since s looked last: alone again */
	csend(s, tread(12, 1, 0, MiB));
	is_int(readsup(), 2, "window: o quiet again, 2 pieces upstream at first");
	/* o sends meanwhile: the rest of this read goes shared; served whole here */
	csend(o, tmsg(Tstat, 22, 1));
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].count == MiB && readright(&cl[0], 0), "the read joined right");
	/* o has a request inside 9mux: shared although s has seen its message */
	csend(o, tmsg(Tstat, 23, 1));
	uptake();
	stat = upfind(Tstat, 0);
	csend(s, tread(13, 1, 0, MiB));
	is_int(readsup(), 1, "window: o's Tstat upstream, unanswered: 1 piece at first");
	rerr(stat, "no stat here");
	is_int(servepieces(), 1, "and 1 at a time to the end of that read");
	cltake(s);
	ok(ncl == 1 && cl[0].count == MiB && readright(&cl[0], 0), "the read joined right");
	chanidle("window");
	teardown();

	/* -t bounds pieces too */
	setup(P9_2000, 8, 3, 0);
	s = opened(CMSIZE, "f", P9_OREAD);
	csend(s, tread(10, 1, 0, MiB));
	uptake();
	is_int(upcount(Tread), 3, "-t 3: at most 3 pieces upstream, -t counting each");
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].count == MiB && readright(&cl[0], 0), "-t 3: the read joined right");
	teardown();
}

/* Answer every pending Tflush upstream, each target answered first (orig) or dropped. */
static void
flushall(int orig)
{
	Fcall r;
	int i, k;

	uptake();
	for(i = 0; i < nup; i++){
		if(up[i].type != Tflush || up[i].done)
			continue;
		for(k = 0; k < nup; k++)
			if(k != i && !up[k].done && up[k].tag == up[i].oldtag){
				if(orig)
					serve(k);
				else
					up[k].done = 1;
			}
		up[i].done = 1;
		rmsg(&r, Rflush, up[i].tag);
		feed(&r);
	}
}

static void
t_short(void)
{
	Nmsess *s;
	int f0, flushes;

	/* a short piece ends the data; those after it answered before or flushed */
	setup(P9_2000, 8, 0, 0);
	s = opened(CMSIZE, "f", P9_OREAD);
	csend(s, tread(10, 1, 0, MiB));
	uptake();
	f0 = upfind(Tread, 0);
	rreadn(f0 + 5, IOUNIT);
	rreadn(f0 + 0, IOUNIT);
	rreadn(f0 + 1, IOUNIT);
	rreadn(f0 + 2, 1000);
	uptake();
	flushes = upcount(Tflush);
	is_int(flushes, 4, "short piece 2: the pieces after it still upstream (3, 4, 6, 7) are flushed");
	cltake(s);
	is_int(ncl, 0, "no reply while they are in flight");
	rreadn(f0 + 3, IOUNIT);	/* the reply before its Rflush */
	flushall(0);
	cltake(s);
	ok(ncl == 1 && cl[0].count == 2 * IOUNIT + 1000 && readright(&cl[0], 0),
		"the client gets pieces 0 and 1 and piece 2's 1000 bytes (%u)", ncl ? cl[0].count : 0);
	chanidle("short");

	/* a failed first piece: its error */
	frclear(up, &nup);
	csend(s, tread(11, 1, 0, MiB));
	uptake();
	f0 = upfind(Tread, 0);
	rreadn(f0 + 1, IOUNIT);
	rerr(f0, "piece zero failed");
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rerror && cl[0].tag == 11 && cl[0].len > 9 &&
		memcmp(cl[0].raw + 9, "piece zero failed", 17) == 0, "a failed first piece: the client gets its error");
	chanidle("failed first");

	/* a failed later piece: the data before it */
	frclear(up, &nup);
	csend(s, tread(12, 1, 0, MiB));
	uptake();
	f0 = upfind(Tread, 0);
	rerr(f0 + 3, "piece three failed");
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rread && cl[0].count == 3 * IOUNIT && readright(&cl[0], 0),
		"a failed fourth piece: the client gets the three before it");
	chanidle("failed later");

	/* a reply that makes no sense: more than asked */
	frclear(up, &nup);
	csend(s, tread(13, 1, 0, MiB));
	uptake();
	f0 = upfind(Tread, 0);
	{
		Fcall r;

		up[f0].done = 1;
		rmsg(&r, Rread, up[f0].tag);
		r.count = IOUNIT + 1;
		r.data = file;
		feed(&r);
	}
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rerror, "a first piece answered with more than it asked: an error");
	chanidle("too long");
	teardown();
}

static void
t_flush(void)
{
	Nmsess *s;
	int f0, i, nr;

	setup(P9_2000, 8, 0, 0);
	s = opened(CMSIZE, "f", P9_OREAD);

	/* nothing on the wire yet: dropped, Rflush at once */
	csend(s, tread(10, 1, 0, MiB));
	csend(s, tflush(11, 10));
	uptake();
	cltake(s);
	ok(nup == 0 && ncl == 1 && cl[0].type == Rflush && cl[0].tag == 11,
		"flush before any piece is written: nothing upstream, Rflush");
	chanidle("flush unsent");

	/* all upstream, none answered; the server drops them: Rflush only */
	csend(s, tread(12, 1, 0, MiB));
	uptake();
	csend(s, tflush(13, 12));
	uptake();
	is_int(upcount(Tflush), 8, "flush in flight: each of the 8 pieces flushed upstream");
	cltake(s);
	is_int(ncl, 0, "no Rflush before the pieces' flushes end");
	flushall(0);
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rflush && cl[0].tag == 13, "every piece flushed: Rflush only, no Rread");
	chanidle("flush in flight");

	/* every piece answered before its Rflush: the reply, then Rflush */
	frclear(up, &nup);
	csend(s, tread(14, 1, 0, MiB));
	uptake();
	f0 = upfind(Tread, 0);
	for(i = 0; i < 5; i++)
		rreadn(f0 + i, IOUNIT);
	csend(s, tflush(15, 14));
	uptake();
	is_int(upcount(Tflush), 3, "flush with 5 of 8 answered: the 3 left flushed");
	flushall(1);
	cltake(s);
	ok(ncl == 2 && cl[0].type == Rread && cl[0].count == MiB && readright(&cl[0], 0) &&
		cl[1].type == Rflush && cl[1].tag == 15, "all answered after all: Rread first, then Rflush");
	chanidle("flush answered");

	/* the reply known (a short piece answered, the rest flushed): the reply, then Rflush */
	frclear(up, &nup);
	csend(s, tread(16, 1, 0, MiB));
	uptake();
	f0 = upfind(Tread, 0);
	rreadn(f0, IOUNIT);
	rreadn(f0 + 1, 10);
	csend(s, tflush(17, 16));
	flushall(0);
	cltake(s);
	ok(ncl == 2 && cl[0].type == Rread && cl[0].count == IOUNIT + 10 && readright(&cl[0], 0) &&
		cl[1].type == Rflush, "known before the flush: Rread of what it was, then Rflush");
	chanidle("flush known");

	/* a piece before the first short one flushed unanswered: Rflush only */
	frclear(up, &nup);
	csend(s, tread(18, 1, 0, MiB));
	uptake();
	f0 = upfind(Tread, 0);
	rreadn(f0 + 2, 10);
	csend(s, tflush(19, 18));
	flushall(0);
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rflush && cl[0].tag == 19, "pieces before the short one flushed: Rflush only");
	chanidle("flush unknown");

	/* two flushes of it: both answered, in order, after it */
	frclear(up, &nup);
	csend(s, tread(20, 1, 0, MiB));
	uptake();
	csend(s, tflush(21, 20));
	csend(s, tflush(22, 20));
	uptake();
	is_int(upcount(Tflush), 8, "two flushes: each piece flushed once");
	flushall(1);
	cltake(s);
	ok(ncl == 3 && cl[0].type == Rread && cl[1].type == Rflush && cl[1].tag == 21 && cl[2].type == Rflush &&
		cl[2].tag == 22, "two flushes: Rread, Rflush 21, Rflush 22");
	chanidle("two flushes");

	/* the flush flushed: dropped at once; the read, its pieces flushed, fails */
	frclear(up, &nup);
	csend(s, tread(23, 1, 0, MiB));
	uptake();
	csend(s, tflush(24, 23));
	csend(s, tflush(25, 24));
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rflush && cl[0].tag == 25, "a flush of the flush: Rflush at once");
	flushall(0);
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rerror && cl[0].tag == 23, "the read, whose client flushed only the flush, fails");
	chanidle("flush flushed");

	/* the tags are the client's again */
	nr = rpc(s, tread(23, 1, 0, 100));
	ok(nr == Rread && cl[0].count == 100, "the tag serves again");
	teardown();
}

static void
t_hangup(void)
{
	Nmsess *s;
	Nmchaninfo ci;
	int f0;

	setup(P9_2000, 0, 0, 0);
	s = opened(CMSIZE, "f", P9_OREAD);
	csend(s, tread(10, 1, 0, MiB));
	uptake();
	f0 = upfind(Tread, 0);
	rreadn(f0, IOUNIT);
	uptake();
	nmsessclose(s);
	uptake();
	is_int(upcount(Tflush), 2, "hang-up: the 2 pieces upstream are flushed (the others never go)");
	is_int(upcount(Tread), 3, "and no more pieces go");
	is_int(upcount(Tclunk), 0, "no clunk while they are in flight");
	rreadn(upfind(Tread, 0), IOUNIT);	/* one answered before its Rflush */
	flushall(0);
	uptake();
	is_int(upcount(Tclunk), 2, "then both fids are clunked");
	serveall();
	nmchaninfo(ch, &ci);
	ok(ci.tags == 0 && ci.fids == 0, "no tag and no fid left upstream (%d tags, %u fids)", ci.tags, ci.fids);
	is_int(nminflight(m), 0, "nothing in flight");
	teardown();

	/* Tversion with pieces in flight: the same, then Rversion */
	setup(P9_2000, 8, 0, 0);
	s = opened(CMSIZE, "f", P9_OREAD);
	csend(s, tread(10, 1, 0, MiB));
	uptake();
	memset(&T, 0, sizeof T);
	T.type = Tversion;
	T.tag = P9_NOTAG;
	T.msize = CMSIZE;
	T.version = p9str("9P2000");
	csend(s, &T);
	uptake();
	is_int(upcount(Tflush), 8, "Tversion: each piece flushed");
	cltake(s);
	is_int(ncl, 0, "no Rversion yet");
	flushall(1);
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rversion, "Rversion once the pieces end, and no Rread");
	is_int(upcount(Tclunk), 2, "the fids clunked");
	nmchaninfo(ch, &ci);
	ok(ci.tags == 0 && ci.fids == 0, "no tag and no fid left upstream");
	teardown();
}

static void
t_write(void)
{
	static uint8_t data[MiB];
	Nmsess *s;
	uint32_t i;
	int f0, k, good;

	for(i = 0; i < MiB; i++)
		data[i] = pat(i + 12345);
	setup(P9_2000, 8, 0, 0);
	s = opened(CMSIZE, "f", P9_ORDWR);
	csend(s, twrite(10, 1, 4096, MiB, data));
	uptake();
	f0 = upfind(Twrite, 0);
	is_int(piecesright(Twrite, 4096, MiB, f0), 8, "a 1 MiB write goes as 8 Twrites of 128 KiB");
	good = 1;
	for(k = 0; k < 8; k++)
		if(memcmp(up[f0 + k].raw + 23, data + (size_t)k * IOUNIT, IOUNIT) != 0)
			good = 0;
	ok(good, "each with its part of the data");
	for(k = 7; k >= 0; k--)
		rwriten(f0 + k, IOUNIT);
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rwrite && cl[0].count == MiB && cl[0].tag == 10, "one Rwrite of 1 MiB");
	ok(memcmp(file + 4096, data, MiB) == 0, "the file holds it");
	chanidle("write");

	/* short: the count written in order up to the short piece */
	frclear(up, &nup);
	csend(s, twrite(11, 1, 0, MiB, data));
	uptake();
	f0 = upfind(Twrite, 0);
	rwriten(f0 + 6, IOUNIT);
	rwriten(f0, IOUNIT);
	rwriten(f0 + 1, 100);
	flushall(1);
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rwrite && cl[0].count == IOUNIT + 100, "a short second piece: Rwrite of 128 KiB + 100 (%u)",
		ncl ? cl[0].count : 0);
	chanidle("short write");

	/* a failed later piece: what was written before it */
	frclear(up, &nup);
	csend(s, twrite(12, 1, 0, MiB, data));
	uptake();
	f0 = upfind(Twrite, 0);
	rerr(f0 + 2, "disk full");
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rwrite && cl[0].count == 2 * IOUNIT, "a failed third piece: Rwrite of the two before");

	/* a failed first: its error */
	frclear(up, &nup);
	csend(s, twrite(13, 1, 0, MiB, data));
	uptake();
	rerr(upfind(Twrite, 0), "disk full");
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rerror, "a failed first piece: the error");

	/* flushed after the first piece was written: that much is told, then Rflush */
	frclear(up, &nup);
	csend(s, twrite(14, 1, 0, MiB, data));
	uptake();
	f0 = upfind(Twrite, 0);
	rwriten(f0, IOUNIT);
	csend(s, tflush(15, 14));
	flushall(0);
	cltake(s);
	ok(ncl == 2 && cl[0].type == Rwrite && cl[0].count == IOUNIT && cl[1].type == Rflush,
		"a write flushed with its first piece written: Rwrite of it, then Rflush");
	chanidle("write flushed");
	teardown();
}

static void
t_notsplit(void)
{
	static uint8_t data[MiB];
	Nmsess *s;

	/* a directory: cut to the iounit, as before */
	setup(P9_2000, 0, 0, 0);
	s = opened(CMSIZE, "d", P9_OREAD);
	csend(s, tread(10, 1, 0, MiB));
	uptake();
	ok(nup == 1 && up[0].type == Tread && up[0].count == IOUNIT, "a directory's Tread is cut to -i, not split");
	serveall();
	cltake(s);
	/* an append-only file: written whole, read in pieces */
	s = opened(CMSIZE, "a", P9_ORDWR);
	csend(s, twrite(11, 1, 0, MiB, data));
	uptake();
	ok(nup == 1 && up[0].type == Twrite && up[0].count == MiB, "an append-only file's Twrite goes whole");
	serveall();
	frclear(up, &nup);
	csend(s, tread(12, 1, 0, MiB));
	uptake();
	/* the first session's messages came since this one looked: 1 piece at first, of a quarter of -i */
	ok(upcount(Tread) == 1 && up[0].count == IOUNIT / 4, "its Tread goes in pieces");
	serveall();
	cltake(s);
	ok(ncl == 2 && cl[0].type == Rwrite && cl[1].type == Rread && cl[1].count == MiB, "Rwrite, then one Rread of 1 MiB (%d replies)", ncl);
	/* a fid not open: the server's error, as before */
	frclear(up, &nup);
	csend(s, tread(13, 0, 0, MiB));
	uptake();
	ok(nup == 1 && up[0].count == IOUNIT, "a fid not opened: cut, not split");
	serveall();
	teardown();

	/* 9P2000.L: Treaddir cut, Tread and Twrite split, O_APPEND written whole */
	fillfile();
	setup(P9_2000L, 0, 0, 0);
	s = opened(CMSIZE, "d", 0);
	ok(s != NULL, ".L: a directory opened");
	is_int(lastiounit(), IOUNIT, ".L: its iounit is -i");
	tmsg(Treaddir, 10, 1);
	T.count = MiB;
	csend(s, &T);
	uptake();
	ok(nup == 1 && up[0].type == Treaddir && up[0].count == IOUNIT, ".L: Treaddir is cut to -i, never split");
	serveall();
	s = opened(CMSIZE, "f", 2);
	is_int(lastiounit(), CMSIZE - 24, ".L: a file's iounit is the msize's");
	frclear(up, &nup);
	csend(s, tread(11, 1, 0, MiB));
	serveall();
	cltake(s);
	/* the directory's session came since: pieces of a quarter of -i */
	ok(ncl == 1 && cl[0].type == Rread && cl[0].count == MiB && readright(&cl[0], 0) && upcount(Tread) == 32,
		".L: a 1 MiB Tread in 32 pieces, joined");
	frclear(up, &nup);
	csend(s, twrite(12, 1, 0, MiB, file));
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rwrite && cl[0].count == MiB && upcount(Twrite) == 8, ".L: a 1 MiB Twrite in 8");
	frclear(up, &nup);
	csend(s, tread(13, 1, 0, MiB));
	uptake();
	rerr(upfind(Tread, 0), "x");
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rlerror, ".L: a failed first piece is Rlerror");
	s = opened(CMSIZE, "f", 2 | 02000);
	is_int(lastiounit(), IOUNIT, ".L: opened O_APPEND, the iounit is -i");
	frclear(up, &nup);
	csend(s, twrite(14, 1, 0, MiB, file));
	uptake();
	ok(nup == 1 && up[0].count == MiB, ".L: a Twrite of a fid opened O_APPEND goes whole");
	serveall();
	teardown();
}

/* Another session's requests between a large write's pieces: deficit round robin, by bytes. */
static void
t_fairwrite(void)
{
	static uint8_t data[MiB];
	Nmsess *s, *o;
	int i, stat, pieces;

	setup(P9_2000, 8, 0, 0);
	s = opened(CMSIZE, "f", P9_ORDWR);
	o = opened(8192, "f", P9_OREAD);
	csend(s, twrite(10, 1, 0, MiB, data));
	csend(o, tmsg(Tstat, 20, 1));
	uptake();
	stat = upfind(Tstat, 0);
	pieces = 0;
	for(i = 0; i < stat; i++)
		pieces += up[i].type == Twrite;
	ok(stat >= 0 && pieces <= 2, "a Tstat sent after a 1 MiB write goes upstream after %d of its 8 pieces", pieces);
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].count == MiB, "the write is whole");
	teardown();
}

/* Reconnect: the server goes and comes back, keeping its files. */
static void
restore(void)
{
	Fcall r;

	ch = nmchannew(m, NULL);
	uptake();
	up[nup - 1].done = 1;
	rmsg(&r, Rversion, P9_NOTAG);
	r.msize = UMSIZE;
	r.version = p9str(p9dialectname(D));
	feed(&r);
}

static void
t_persist(void)
{
	static uint8_t data[MiB];
	Nmsess *s;
	int f0, i;

	/* a read with pieces in flight: those answered kept, the others sent again */
	setup(P9_2000, 0, 0, 1);
	fillfile();
	s = opened(CMSIZE, "f", P9_OREAD);
	csend(s, tread(10, 1, 0, MiB));
	uptake();
	f0 = upfind(Tread, 0);
	rreadn(f0, IOUNIT);
	uptake();
	nmchandown(ch);
	cltake(s);
	is_int(ncl, 0, "loss: the split read waits");
	frclear(up, &nup);
	restore();
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rread && cl[0].count == MiB && readright(&cl[0], 0),
		"after the restore the read is answered whole and right");
	is_int(upcount(Tread), 7, "with the 7 pieces not answered before the loss");
	teardown();

	/* a write with a piece written: one error, nothing sent again */
	setup(P9_2000, 0, 0, 1);
	s = opened(CMSIZE, "f", P9_ORDWR);
	csend(s, twrite(10, 1, 0, MiB, data));
	uptake();
	f0 = upfind(Twrite, 0);
	rwriten(f0, IOUNIT);
	uptake();
	nmchandown(ch);
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rerror && cl[0].tag == 10 && has(&cl[0], "unknown"),
		"loss with a write piece upstream: one error, outcome unknown");
	frclear(up, &nup);
	restore();
	serveall();
	is_int(upcount(Twrite), 0, "no piece of it is written again");
	ok(rpc(s, tmsg(Tclunk, 11, 1)) == Rclunk, "the session goes on");
	teardown();

	/* a write none of whose pieces was written: sent whole after the restore */
	setup(P9_2000, 0, 0, 1);
	s = opened(CMSIZE, "f", P9_ORDWR);
	for(i = 0; i < MiB; i++)
		data[i] = pat((uint64_t)i);
	csend(s, twrite(10, 1, 0, MiB, data));
	nmchandown(ch);
	cltake(s);
	is_int(ncl, 0, "loss before any piece was written: the write waits");
	frclear(up, &nup);
	restore();
	serveall();
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rwrite && cl[0].count == MiB, "and is written after the restore");
	is_int(upcount(Twrite), 8, "in its 8 pieces, once");
	teardown();

	/* a flushed read at the loss: Rflush */
	setup(P9_2000, 0, 0, 1);
	s = opened(CMSIZE, "f", P9_OREAD);
	csend(s, tread(10, 1, 0, MiB));
	uptake();
	csend(s, tflush(11, 10));
	uptake();
	nmchandown(ch);
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rflush && cl[0].tag == 11, "a read flushed at the loss: Rflush");
	frclear(up, &nup);
	restore();
	serveall();
	is_int(upcount(Tread), 0, "and none of it is sent again");
	teardown();

	/* without persist: an error at once */
	setup(P9_2000, 0, 0, 0);
	s = opened(CMSIZE, "f", P9_OREAD);
	csend(s, tread(10, 1, 0, MiB));
	uptake();
	nmchandown(ch);
	cltake(s);
	ok(ncl == 1 && cl[0].type == Rerror && cl[0].tag == 10, "without -P: the read gets one error at the loss");
	teardown();
}

int
main(void)
{
	tap_start(120);
	file = calloc(1, FILESZ);
	fillfile();
	t_open();
	fillfile();
	t_outoforder();
	t_window();
	t_short();
	t_flush();
	t_hangup();
	t_write();
	fillfile();
	t_notsplit();
	fillfile();
	t_fairwrite();
	t_persist();
	free(file);
	return done_testing();
}
