/*
 * Requests, memory budgets, and admission upstream by deficit round robin.
 */
#include "impl.h"


/*
 * Memory budgets.  In 9P the requester sets the size of the reply, so
 * a request is counted when it is accepted, with the largest reply it
 * can cause; the reply, once queued, counts until it is written.
 */

uint32_t
nm_readmax(Nmsess *s)
{
	uint32_t max;

	max = nmsessmsize(s) - P9_READHDRSZ;
	if(s->m->conf.iounit && max > s->m->conf.iounit)
		max = s->m->conf.iounit;
	return max;
}

size_t
nm_reqcost(Nmsess *s, const uint8_t *f, size_t n)
{
	uint32_t cnt, max;

	switch(f[4]){
	case Tread:
	case Treaddir:
		if(n < P9_RWCOUNTOFF + 4)
			break;
		/* a read of a plain file is not cut to the iounit (split.c): its reply is as large as the msize allows */
		cnt = p9get32(f + P9_RWCOUNTOFF);
		max = f[4] == Tread && s->m->conf.iounit ? nmsessmsize(s) - P9_READHDRSZ : nm_readmax(s);
		return n + (cnt < max ? cnt : max) + P9_READHDRSZ;
	case Twalk:
		if(n < 17)
			break;
		return n + 9 + 13 * (size_t)p9get16(f + 15);
	}
	return n + REPLYEST;
}

int
nm_holdsmem(uint8_t type)
{
	return type != Tclunk && type != Tremove && type != Tflush && type != Tversion;
}

int
nm_overtotal(Nmux *m, size_t cost)
{
	size_t used;

	used = m->reqbytes + m->outbytes;
	return used > m->conf.maxbytes || m->conf.maxbytes - used < cost;
}

void
nm_memblock(Nmsess *s, size_t cost)
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

void
nm_memunlink(Nmsess *s)
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

void
nm_memwake(Nmux *m)
{
	Nmsess *s;
	size_t want;

	want = 0;
	while((s = m->mwhead) != NULL && !nm_overtotal(m, want + s->memcost)){
		want += s->memcost;
		m->mwhead = s->mwnext;
		if(m->mwhead == NULL)
			m->mwtail = NULL;
		s->mwnext = NULL;
		s->memwaiting = 0;
		s->memgo = 1;	/* its turn: not behind those still waiting */
		nm_unblock(s);
	}
}

size_t
nm_sessbudget(Nmsess *s)
{
	size_t b;

	if(s->m->conf.sessbytes)
		return s->m->conf.sessbytes;
	b = 4 * (size_t)nmsessmsize(s);
	return b < MINBUDGET ? MINBUDGET : b;
}

int
nm_sessroom(Nmsess *s, size_t cost)
{
	size_t used, b;

	used = s->reqbytes + s->out.bytes;
	b = nm_sessbudget(s);
	return used == 0 || (used <= b && b - used >= cost);
}

/*
 * Requests.
 */

Nmreq *
nm_reqnew(Nmsess *s, Nmchan *c, uint8_t type, uint16_t ctag)
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

void
nm_reqfree(Nmreq *r)
{
	Nmux *m;

	m = r->m;
	nm_msgfree(m, r->msg);
	nm_msgfree(m, r->keep);
	nm_fidput(r->newfid);
	nm_fidput(r->fid);
	nm_fidput(r->fid2);
	nm_fidput(r->delfid);
	free(r->newpath);
	nm_splitfree(r);
	if(m->nsparereq >= MAXSPARE){
		free(r);
		return;
	}
	r->hnext = m->sparereq;
	m->sparereq = r;
	m->nsparereq++;
	ASAN_POISON_MEMORY_REGION(r, sizeof *r);
}

void
nm_sessunlink(Nmreq *r)
{
	Nmsess *s;

	if((s = r->sess) == NULL)
		return;
	nm_tagremove(s, r);
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
 * nm_reqcost (request and largest reply), so a stat is never queued
 * behind another client's megabytes.  The pieces of a split request
 * (split.c) are requests here like any other, each paying for its own
 * bytes, and at most Nmconf.pieces of them are upstream at once: what is
 * ahead of another session's request at the server is a piece or two,
 * never the whole of a large read.
 */

void
nm_admitreq(Nmsess *s, Nmreq *r)
{
	nm_unhold(s, r);
	r->admitted = 1;
	s->nadm++;
	nm_pieceadmit(r);
	r->chan = s->chan;	/* held through a loss, it names none */
	nm_chansend(s->chan, r);
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

void
nm_ringdel(Nmchan *c, Nmsess *s)
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
	return s->state == SREADY && s->hqhead != NULL && s->nadm < s->m->conf.maxreqs && nm_pieceroom(s->hqhead);
}

void
nm_chanpump(Nmchan *c)
{
	Nmsess *s;
	Nmreq *r;

	if(c->pumping)
		return;
	c->pumping = 1;
	while((s = c->turns) != NULL && chanopen(c)){
		if(!admissible(s)){
			nm_ringdel(c, s);
			continue;
		}
		r = s->hqhead;
		if(s->rnext == s){
			/* alone: nobody to be fair to */
			if(s->deficit < r->weight)
				s->deficit = r->weight;
		}else if(!s->turn){
			s->turn = 1;
			s->deficit += c->quantum;
		}
		if(r->weight > s->deficit){
			s->turn = 0;
			c->turns = s->rnext;
			continue;
		}
		s->deficit -= r->weight;
		nm_admitreq(s, r);
		if(!admissible(s))
			nm_ringdel(c, s);
		nm_unblock(s);
	}
	c->pumping = 0;
}

void
nm_admit(Nmsess *s)
{
	if(s->chan == NULL || !admissible(s))
		return;
	ringadd(s->chan, s);
	nm_chanpump(s->chan);
}

void
nm_enqueue(Nmsess *s, Nmreq *r)
{
	r->state = RHELD;
	r->hnextq = NULL;
	if(s->hqtail)
		s->hqtail->hnextq = r;
	else
		s->hqhead = r;
	s->hqtail = r;
	s->nheld++;
	nm_admit(s);
}

void
nm_clunkfid(Nmchan *c, Nmfid *f)
{
	uint8_t b[11];
	Nmreq *r;

	/* no channel, or a fid never made on it (dead, or waiting to be restored): nothing to clunk */
	if(c == NULL || c->state == NM_CDOWN || f->ufid == P9_NOFID){
		/* one waiting for a restore has its number still: free (unless a restore under way frees it) */
		if(c == NULL && f->ufid != P9_NOFID && f->sess != NULL && !(f->flags & FFMARK)){
			nm_ufidfree(f->sess->up, f->ufid);
			f->ufid = P9_NOFID;
		}
		nm_fidput(f);
		return;
	}
	r = nm_reqnew(NULL, c, Tclunk, P9_NOTAG);
	if(r == NULL){
		nm_fidput(f);	/* the upstream fid stays open on the server; nothing more to do */
		return;
	}
	r->orphan = 1;
	r->delfid = f;
	p9put32(b, 11);
	b[4] = Tclunk;
	p9put16(b + 5, P9_NOTAG);
	p9put32(b + 7, f->ufid);
	r->msg = nm_msgnew(c->m, b, sizeof b);
	if(r->msg == NULL){
		nm_reqfree(r);
		return;
	}
	c->m->st.clunks++;
	nm_chansend(c, r);
}

/* A Tflush of r upstream, of s, whose reply nobody waits for: 0, or -1 if out of memory. */
int
nm_flushup(Nmsess *s, Nmreq *r)
{
	uint8_t b[9];
	Nmreq *f;

	f = nm_reqnew(s, r->chan, Tflush, P9_NOTAG);
	if(f == NULL)
		return -1;
	f->orphan = 1;
	f->target = r;
	f->nextflusher = r->flushers;
	r->flushers = f;
	p9put32(b, 9);
	b[4] = Tflush;
	p9put16(b + 5, P9_NOTAG);
	p9put16(b + 7, r->utag);
	f->msg = nm_msgnew(r->m, b, sizeof b);
	if(f->msg == NULL){
		r->flushers = f->nextflusher;
		f->target = NULL;
		nm_sessunlink(f);
		nm_reqfree(f);
		return -1;
	}
	r->m->st.flushes++;
	nm_chansend(r->chan, f);
	return 0;
}

void
nm_reqdone(Nmreq *r)
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
		if(nm_unsend(f)){
			if(f->sess && !f->orphan)
				nm_rflush(f->sess, f->ctag);
			nm_reqdone(f);
		}
	}
	/* a piece's parent may end with it, while the piece still keeps its session from finishing */
	nm_pieceend(r);
	s = r->sess;
	c = r->chan;
	m = r->m;
	/* the client's flush that covered r, answered once r is settled */
	if(r->owes && s != NULL && !s->closing)
		nm_rflush(s, r->owetag);
	r->owes = 0;
	nm_sessunlink(r);
	/* a flush that ends stops keeping its target's tag */
	if(r->target){
		for(pp = &r->target->flushers; *pp != NULL; pp = &(*pp)->nextflusher)
			if(*pp == r){
				*pp = r->nextflusher;
				break;
			}
		if(r->target->zombie && r->target->flushers == NULL)
			nm_reqdone(r->target);
		r->target = NULL;
	}
	if(r->flushers)
		r->zombie = 1;
	else{
		if(r->state == RSENT || r->state == RQUEUED)
			nm_tagfree(c, r->utag);
		nm_reqfree(r);
	}
	if(s){
		nm_admit(s);
		nm_unblock(s);
		nm_draincheck(s);
	}
	if(m->mwhead)
		nm_memwake(m);
}

void
nm_undo(Nmreq *r)
{
	Nmfid *f;

	if((f = r->newfid) != NULL){
		r->newfid = NULL;
		if(f->state == FPEND){
			nm_ufidfree(f->sess->up, f->ufid);
			nm_fidunlink(f);
		}
		nm_fidput(f);
	}
	if((f = r->delfid) != NULL){
		r->delfid = NULL;
		nm_clunkfid(f->chan, f);	/* where it lives: none while it waits for a restore */
	}
	nm_reqdone(r);
}
