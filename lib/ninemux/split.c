/*
 * Large reads and writes sent as pieces, their replies joined.
 *
 * A client's Tread or Twrite of a plain file with a count above the
 * iounit (Nmconf.iounit, 9mux -i) goes upstream as pieces of at most
 * the iounit (a quarter of it if other clients are at work when it is
 * split), each with its own upstream tag and admitted as an ordinary
 * request of its session, at most Nmconf.pieces of them upstream at
 * once, one while other clients are at work: the client
 * makes one round trip where it would have made one a piece, and the
 * other sessions' requests still go between the pieces.  The client gets
 * one reply: for a read, the pieces' data in order up to the first
 * piece shorter than asked (its bytes the last: a short piece is the
 * end of the file as far as this read goes) or failed; for a write, the
 * count written in order up to the first piece short or failed.  Only
 * the first piece's failure is the client's error; a later one's only
 * ends the data before it.  Pieces past the first short or failed one
 * are of no use: those still inside 9mux are dropped, those upstream
 * flushed.
 *
 * For a client a split write is therefore one that may stop short:
 * the count says which bytes from its offset are written; bytes past
 * them may or may not be (a later piece may have been written before
 * an earlier one failed), as after a short write of a file anyone
 * writes them again from offset + count.
 *
 * What is split: only a file that is open, not a directory (its reads
 * go by offsets the server hands out, and Treaddir's offsets are
 * cookies), not an auth file, and for a write not append-only
 * (QTAPPEND, or O_APPEND in 9P2000.L: the pieces would append in the
 * order they are served).  A file whose reads do not go by offset (a
 * stream a server fills as data comes) could lose data between the
 * pieces: -i as large as the msize sends every read whole.
 *
 * The split request (its parent) is the client's: under its tag, in
 * its session's list before its pieces, counted against the budgets
 * with the largest reply it can cause, as any read; its pieces are
 * requests of the same session that no client waits for, each
 * admitted by its share.  The parent ends when every piece has ended.
 *
 * A piece's frame is cut from the client's: a write's data is copied
 * once, into its piece; a read's pieces' data is copied once, into the
 * joined Rread, which is what is queued for the client.
 */
#include "impl.h"

/* What became of a piece. */
enum {
	PWAIT = 0,	/* not answered */
	PFULL,		/* answered with all it asked */
	PSHORT,		/* answered with less */
	PFAIL,		/* answered with an error, or by 9mux */
	PGONE,		/* ended unanswered: dropped, or flushed */
};

typedef struct Nmpiece Nmpiece;
struct Nmpiece {
	Nmreq		*r;		/* NULL once ended */
	uint32_t	got;		/* count answered */
	uint8_t		how;
	uint8_t		up;		/* admitted, counted in Nmsplit.up */
};

struct Nmsplit {
	int		n;		/* pieces */
	int		left;		/* not ended */
	int		up;		/* admitted and not ended: at most Nmconf.pieces */
	int		cut;		/* the first piece short, failed or gone; n while none is */
	int		busy;		/* stopping pieces: end the parent afterwards */
	int		ecode;		/* 9mux's own error for the first piece, or -1 */
	int		shared;		/* other clients came while it was under way */
	uint32_t	size;		/* each piece's count, but the last's */
	uint32_t	count;		/* the client's */
	Nmmsg		*join;		/* the Rread being filled, room for count */
	Nmmsg		*err;		/* the first piece's failure, for the client */
	Nmreq		*flushes;	/* the client's Tflushes of it, oldest first */
	Nmpiece		p[];
};

static void finish(Nmreq *pr);
static int othersbusy(Nmsess *s);

int
nm_splits(Nmsess *s, Nmfid *f, uint8_t type, uint32_t count)
{
	if(s->m->conf.iounit == 0 || count <= s->m->conf.iounit || f == NULL || f->omode < 0)
		return 0;
	if(type != Tread && type != Twrite)
		return 0;
	if(f->qtype & (P9_QTDIR | P9_QTAUTH))
		return 0;
	if(type == Twrite && ((f->qtype & P9_QTAPPEND) || (s->dialect == P9_2000L && (f->omode & LOAPPEND))))
		return 0;
	return 1;
}

uint32_t
nm_iounitfor(Nmsess *s, const Nmreq *r, uint8_t qtype)
{
	uint32_t max;
	int split;

	max = s->msize - P9_IOHDRSZ;
	/* what cannot be split is cut to -i, or written whole: tell the client so */
	split = !(qtype & (P9_QTDIR | P9_QTAUTH | P9_QTAPPEND)) &&
		!(s->dialect == P9_2000L && r->omode >= 0 && (r->omode & LOAPPEND));
	if(!split && s->m->conf.iounit && max > s->m->conf.iounit)
		max = s->m->conf.iounit;
	return max;
}

static void
freesplit(Nmux *m, Nmsplit *sp)
{
	if(sp == NULL)
		return;
	nm_msgfree(m, sp->join);
	nm_msgfree(m, sp->err);
	free(sp);
}

void
nm_splitfree(Nmreq *r)
{
	freesplit(r->m, r->split);
	r->split = NULL;
}

/*
 * The pieces of pr (the client's frame f, its fids translated
 * and its count cut to the client's msize) are made and held for
 * admission: 0, or -1 if out of memory (nothing is made).
 */
int
nm_split(Nmsess *s, Nmreq *pr, const uint8_t *f)
{
	Nmsplit *sp;
	Nmreq *r;
	uint32_t count, size, k;
	uint64_t off;
	size_t len;
	int i, np, sh;

	count = p9get32(f + P9_RWCOUNTOFF);
	size = s->m->conf.iounit;
	sh = othersbusy(s);
	/* beside others, what waits ahead of their requests is smaller still */
	if(sh && (size /= SHAREDCUT) < MINPIECE)
		size = s->m->conf.iounit < MINPIECE ? s->m->conf.iounit : MINPIECE;
	np = (int)((count - 1) / size + 1);
	sp = calloc(1, sizeof *sp + (size_t)np * sizeof sp->p[0]);
	if(sp == NULL)
		return -1;
	sp->shared = sh;
	sp->n = np;
	sp->left = np;
	sp->cut = np;
	sp->ecode = -1;
	sp->size = size;
	sp->count = count;
	off = p9get64(f + 11);
	for(i = 0; i < np; i++){
		k = count - (uint32_t)i * size < size ? count - (uint32_t)i * size : size;
		len = pr->type == Twrite ? P9_IOHDRSZ - 1 + (size_t)k : P9_IOHDRSZ - 1;
		if((r = nm_reqnew(s, s->chan, pr->type, pr->ctag)) == NULL)
			goto nomem;
		sp->p[i].r = r;
		r->orphan = 1;	/* its client waits for the parent */
		r->parent = pr;
		r->pidx = i;
		r->fid = pr->fid;
		r->fid->ref++;
		if((r->msg = nm_msgalloc(s->m, len)) == NULL)
			goto nomem;
		/* size[4] type[1] tag[2] fid[4] offset[8] count[4] data[count] */
		memcpy(r->msg->data, f, P9_IOHDRSZ - 1);
		p9put32(r->msg->data, (uint32_t)len);
		p9put64(r->msg->data + 11, off + (uint64_t)i * size);
		p9put32(r->msg->data + P9_RWCOUNTOFF, k);
		if(pr->type == Twrite)
			memcpy(r->msg->data + P9_IOHDRSZ - 1, f + P9_IOHDRSZ - 1 + (size_t)i * size, k);
		/* a read is safe to send again after a loss; a write is not (lose.c) */
		r->replay = pr->type == Tread && s->up != NULL && s->up->persist;
		r->weight = len + (pr->type == Tread ? P9_READHDRSZ + (size_t)k : REPLYEST);
	}
	pr->split = sp;
	pr->state = RSPLIT;
	for(i = 0; i < np; i++)
		nm_enqueue(s, sp->p[i].r);
	return 0;

nomem:
	for(i = 0; i < np && (r = sp->p[i].r) != NULL; i++){
		nm_sessunlink(r);
		nm_reqfree(r);
	}
	free(sp);
	return -1;
}

/*
 * Whether another session has a request inside 9mux, or sent one since
 * s last looked.
 */
static int
othersbusy(Nmsess *s)
{
	uint64_t others;

	others = s->m->st.tmsgs - s->st.tmsgs;
	if(others != s->othmsgs || s->m->reqbytes > s->reqbytes){
		s->othmsgs = others;
		return 1;
	}
	return 0;
}

/*
 * Whether sp, a split of s, shares 9mux with other clients.  Once
 * shared, a split stays so: a client between two round trips has none
 * inside, and the next would find two pieces ahead of it.
 */
static int
shared(Nmsess *s, Nmsplit *sp)
{
	if(othersbusy(s))
		sp->shared = 1;
	return sp->shared;
}

/*
 * Whether r, at the head of its session's held queue, may go upstream
 * now.  A split shared with other clients sends one piece at a time:
 * what waits ahead of their requests at the server and on the wire
 * back is one piece; alone it sends Nmconf.pieces at once.
 */
int
nm_pieceroom(Nmreq *r)
{
	Nmsplit *sp;

	if(r->parent == NULL)
		return 1;
	sp = r->parent->split;
	if(sp->up >= r->m->conf.pieces)
		return 0;
	return sp->up == 0 || r->sess == NULL || !shared(r->sess, sp);
}

void
nm_pieceadmit(Nmreq *r)
{
	Nmsplit *sp;

	if(r->parent == NULL || r->type == Tflush)
		return;
	sp = r->parent->split;
	if(!sp->p[r->pidx].up){
		sp->p[r->pidx].up = 1;
		sp->up++;
	}
}

/*
 * The pieces of pr from the place from on are of no use: those inside
 * 9mux are dropped, those upstream flushed.  Latest first, so that
 * dropping one never lets a later one be admitted.
 */
static void
stop(Nmreq *pr, int from)
{
	Nmsplit *sp;
	Nmreq *r;
	int i;

	sp = pr->split;
	sp->busy++;
	for(i = sp->n - 1; i >= from; i--){
		if((r = sp->p[i].r) == NULL || r->flushers != NULL)
			continue;
		if(nm_unsend(r))
			nm_undo(r);
		else if(r->chan != NULL)
			nm_flushup(r->sess, r);	/* without memory for the flush, its reply still ends it */
	}
	sp->busy--;
	if(sp->left == 0 && sp->busy == 0 && !(pr->sess && pr->sess->indrain))
		finish(pr);
}

/* The place of the first piece not answered whole (n if none), and the bytes before and in it. */
static int
outcome(Nmsplit *sp, uint32_t *total)
{
	int k;

	*total = 0;
	for(k = 0; k < sp->n && sp->p[k].how == PFULL; k++)
		*total += sp->p[k].got;
	if(k < sp->n && sp->p[k].how == PSHORT)
		*total += sp->p[k].got;
	return k;
}

/* Whether the reply is known: every piece up to the first short or failed one answered. */
static int
settled(Nmsplit *sp)
{
	uint32_t total;
	int k;

	k = outcome(sp, &total);
	return k == sp->n || sp->p[k].how == PSHORT || sp->p[k].how == PFAIL;
}

void
nm_piecereply(Nmreq *r, const uint8_t *f, size_t n)
{
	Nmreq *pr;
	Nmsplit *sp;
	Nmpiece *p;
	Nmsess *s;
	uint32_t asked, cnt, at;
	int ok, e;

	pr = r->parent;
	sp = pr->split;
	s = pr->sess;
	p = &sp->p[r->pidx];
	at = (uint32_t)r->pidx * sp->size;
	asked = sp->count - at < sp->size ? sp->count - at : sp->size;
	cnt = n >= P9_READHDRSZ ? p9get32(f + 7) : 0;
	ok = f[4] == r->type + 1 && n >= P9_READHDRSZ && cnt <= asked &&
		(r->type == Tread ? cnt == n - P9_READHDRSZ : n == P9_READHDRSZ);
	/* the client's error as the server said it; 9mux's for a reply that makes no sense */
	e = ok ? -1 : f[4] != Rerror && f[4] != Rlerror ? EBADMSG : s != NULL && n > s->msize ? EBIGREPLY : -1;
	/* the data of a piece past one short or failed is of no use: it is not kept */
	if(ok && r->type == Tread && cnt > 0 && r->pidx <= sp->cut){
		if(sp->join == NULL)
			sp->join = nm_msgalloc(r->m, P9_READHDRSZ + (size_t)sp->count);
		if(sp->join != NULL)
			memcpy(sp->join->data + P9_READHDRSZ + at, f + P9_READHDRSZ, cnt);
		else{
			ok = 0;
			e = ENOMEM_;
		}
	}
	if(ok){
		p->got = cnt;
		p->how = cnt == asked ? PFULL : PSHORT;
	}else{
		p->how = PFAIL;
		if(r->pidx == 0 && e < 0 && (sp->err = nm_msgnew(r->m, f, n)) == NULL)
			e = ENOMEM_;
		if(r->pidx == 0)
			sp->ecode = e;
	}
	if(p->how != PFULL){
		if(r->pidx < sp->cut)
			sp->cut = r->pidx;
		stop(pr, r->pidx + 1);
	}
}

/*
 * Only the piece is marked: every piece of pr waiting for the restore
 * fails the same way, and the caller walks their list.
 */
void
nm_piecefail(Nmreq *r, int e)
{
	Nmsplit *sp;

	if(r->parent == NULL || r->type == Tflush)
		return;
	sp = r->parent->split;
	sp->p[r->pidx].how = PFAIL;
	if(r->pidx < sp->cut)
		sp->cut = r->pidx;
	if(r->pidx == 0 && sp->ecode < 0 && sp->err == NULL)
		sp->ecode = e;
}

void
nm_pieceend(Nmreq *r)
{
	Nmreq *pr;
	Nmsplit *sp;
	Nmpiece *p;

	if((pr = r->parent) == NULL || r->type == Tflush)
		return;
	r->parent = NULL;
	sp = pr->split;
	p = &sp->p[r->pidx];
	p->r = NULL;
	if(p->how == PWAIT){
		p->how = PGONE;
		if(r->pidx < sp->cut)
			sp->cut = r->pidx;
	}
	if(p->up){
		p->up = 0;
		sp->up--;
	}
	sp->left--;
	if(sp->left == 0 && sp->busy == 0 && !(pr->sess && pr->sess->indrain))
		finish(pr);
}

/* The frame g, built by 9mux, goes to s as it is. */
static void
put(Nmsess *s, Nmmsg *g)
{
	if(s->closing){
		nm_msgfree(s->m, g);
		return;
	}
	nm_trace(s->m, s->id, NM_RCOUT, g->data, g->len, s->dialect);
	if(nm_qput(&s->out, g) && s->aux && s->m->conf.wake)
		s->m->conf.wake(s->aux, NM_WOUT);
}

/* The joined Rread of total bytes for pr's client. */
static void
rread(Nmsess *s, Nmreq *pr, uint32_t total)
{
	Nmsplit *sp;
	Nmmsg *g;
	size_t len;

	sp = pr->split;
	len = P9_READHDRSZ + (size_t)total;
	g = sp->join;
	sp->join = NULL;
	if(g == NULL){
		/* no data came */
		total = 0;
		len = P9_READHDRSZ;
	}
	if(g == NULL || len <= SMALLMSG){
		/* no data came, or little: a small frame, so that a large one is never kept as a spare */
		if(g == NULL)
			g = nm_msgalloc(s->m, len);
		else{
			Nmmsg *big;

			big = g;
			g = nm_msgnew(s->m, big->data, len);
			nm_msgfree(s->m, big);
		}
		if(g == NULL){
			nm_rerror(s, pr->ctag, ENOMEM_);
			return;
		}
	}
	g->len = (uint32_t)len;
	p9put32(g->data, (uint32_t)len);
	g->data[4] = Rread;
	p9put16(g->data + P9_TAGOFF, pr->ctag);
	p9put32(g->data + 7, total);
	put(s, g);
}

/*
 * Tell pr's client what its pieces make: the joined reply if it is
 * known, or for a write what was written in order before a piece whose
 * fate is not known (a short write).  Whether anything was told.
 */
static int
tell(Nmsess *s, Nmreq *pr)
{
	Nmsplit *sp;
	uint32_t total;
	uint8_t b[P9_READHDRSZ];
	int k;

	sp = pr->split;
	k = outcome(sp, &total);
	if(settled(sp) && k == 0 && sp->p[0].how == PFAIL){
		if(sp->err != NULL){
			p9put16(sp->err->data + P9_TAGOFF, pr->ctag);
			put(s, sp->err);
			sp->err = NULL;
		}else
			nm_rerror(s, pr->ctag, sp->ecode >= 0 ? sp->ecode : EBADMSG);
		return 1;
	}
	if(pr->type == Tread && settled(sp)){
		rread(s, pr, total);
		return 1;
	}
	if(pr->type == Twrite && (settled(sp) || total > 0)){
		p9put32(b, sizeof b);
		b[4] = Rwrite;
		p9put16(b + P9_TAGOFF, pr->ctag);
		p9put32(b + 7, total);
		nm_sessput(s, b, sizeof b);
		return 1;
	}
	return 0;
}

/*
 * Every piece of pr has ended: its client gets what they make (tell),
 * then the Rflush of each Tflush it sent of pr.  Nothing told means the
 * request did not happen, which the Rflush says; but a client whose
 * Tflush of pr was itself flushed still waits for pr, which fails.
 */
static void
finish(Nmreq *pr)
{
	Nmsplit *sp;
	Nmsess *s;
	Nmreq *fl;

	sp = pr->split;
	s = pr->sess;
	if(s != NULL && pr->hashed && !pr->orphan && !s->closing && !tell(s, pr) && sp->flushes == NULL)
		nm_rerror(s, pr->ctag, EINTR_);
	while((fl = sp->flushes) != NULL){
		sp->flushes = fl->pnext;
		fl->pnext = NULL;
		fl->parent = NULL;
		if(s != NULL && fl->hashed && !fl->orphan)
			nm_rflush(s, fl->ctag);
		nm_reqdone(fl);
	}
	nm_reqdone(pr);
}

/*
 * The client flushes pr under tag: every piece is dropped or flushed,
 * and once all have ended the client gets pr's reply if it is known,
 * then Rflush.
 */
void
nm_splitflush(Nmsess *s, Nmreq *pr, uint16_t tag)
{
	Nmsplit *sp;
	Nmreq *fl, **pp;

	sp = pr->split;
	fl = nm_reqnew(s, s->chan, Tflush, tag);
	if(fl == NULL){
		nm_rerror(s, tag, ENOMEM_);
		return;
	}
	nm_taginsert(s, fl);
	fl->cflush = 1;
	s->nflush++;
	fl->state = RSPLIT;
	fl->parent = pr;
	for(pp = &sp->flushes; *pp != NULL; pp = &(*pp)->pnext)
		;
	*pp = fl;
	stop(pr, 0);
}

/*
 * The client flushes fl, its Tflush waiting for a split request: it
 * never left 9mux, so it is dropped, and its Rflush goes at once.
 */
void
nm_splitunflush(Nmsess *s, Nmreq *fl, uint16_t tag)
{
	Nmreq **pp;

	if(fl->parent != NULL)
		for(pp = &fl->parent->split->flushes; *pp != NULL; pp = &(*pp)->pnext)
			if(*pp == fl){
				*pp = fl->pnext;
				break;
			}
	fl->pnext = NULL;
	fl->parent = NULL;
	fl->orphan = 1;
	nm_reqdone(fl);
	nm_rflush(s, tag);
}

void
nm_splitsweep(Nmsess *s)
{
	Nmreq *r;

again:
	for(r = s->rhead; r != NULL; r = r->snext)
		if(r->split != NULL && r->split->left == 0 && r->split->busy == 0){
			finish(r);
			goto again;
		}
}

/*
 * The channel of s is lost and its upstream persists: called by
 * nm_losesess before it does anything else.  A split request whose
 * reply is known, or that its client flushed, ends now with its reply
 * and Rflush; a write with a piece the server may have written ends
 * with one error, its outcome unknown (a piece is never written twice),
 * unless its reply is known.  The others wait for the restore, their
 * pieces upstream to be sent again (a read's: its pieces' frames are
 * kept once written).  The pieces of no more use are marked flushed,
 * and the requests that ended made orphans: nm_losesess frees them.
 */
void
nm_splitlose(Nmsess *s, Nmup *u)
{
	Nmreq *pr, *r, *fl;
	Nmsplit *sp;
	int i, ends, unknown;

	for(pr = s->rhead; pr != NULL; pr = pr->snext){
		if((sp = pr->split) == NULL)
			continue;
		unknown = 0;
		if(!settled(sp))
			for(i = 0; i < sp->n; i++)
				if((r = sp->p[i].r) != NULL && r->flushers == NULL && r->state == RSENT && r->msg == NULL &&
				r->keep == NULL)
					unknown = 1;
		ends = settled(sp) || sp->flushes != NULL || unknown;
		for(i = 0; i < sp->n; i++){
			sp->p[i].up = 0;
			if((r = sp->p[i].r) == NULL || !(ends || r->flushers != NULL))
				continue;
			r->flushed = 1;
			sp->p[i].r = NULL;
			if(sp->p[i].how == PWAIT){
				sp->p[i].how = PGONE;
				if(i < sp->cut)
					sp->cut = i;
			}
			sp->left--;
		}
		sp->up = 0;
		if(!ends)
			continue;
		if(pr->hashed && !pr->orphan && !s->closing){
			if(unknown){
				nm_rerror(s, pr->ctag, EUNKNOWN);
				u->cnt.unknown++;
				s->m->st.unknown++;
			}else{
				tell(s, pr);
				u->cnt.answered++;
			}
		}
		/* its client's flushes are answered after it, and go with it */
		for(fl = sp->flushes; fl != NULL; fl = fl->pnext){
			if(fl->hashed && !fl->orphan)
				nm_rflush(s, fl->ctag);
			fl->orphan = 1;
			nm_tagremove(s, fl);
		}
		pr->orphan = 1;
		nm_tagremove(s, pr);
	}
}
