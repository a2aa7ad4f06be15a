/*
 * Upstream tags and fids, putting requests on the wire and taking them back, and sessions' tag tables.
 */
#include "impl.h"


/*
 * Upstream tags and fids.
 */

/*
 * Make room for n tags; the free ring keeps its order.
 * On failure the tables are as they were.
 */
int
nm_taggrow(Nmchan *c, uint32_t n)
{
	Nmreq **tags;
	uint16_t *ring;
	uint32_t i;

	if(n <= c->ntags)
		return 0;
	if(n > NTAGS)
		n = NTAGS;
	ring = malloc(n * sizeof *ring);
	if(ring == NULL)
		return -1;
	tags = realloc(c->tags, n * sizeof *tags);
	if(tags == NULL){
		free(ring);
		return -1;
	}
	memset(tags + c->ntags, 0, (n - c->ntags) * sizeof *tags);
	for(i = 0; i < c->rcount; i++)
		ring[i] = c->ring[(c->rhead + i) % c->ntags];
	free(c->ring);
	c->tags = tags;
	c->ring = ring;
	c->rhead = 0;
	c->ntags = n;
	return 0;
}

/*
 * The oldest freed tag once half the table rests free, so that a
 * freed tag waits behind many others before it comes back, and the
 * tables grow only with the tags in flight; else a fresh tag, growing
 * the tables if need be.  A failure to grow falls back on the freed
 * ones, and with none of those every tag is in flight and one will
 * come back.
 */
static int
tagalloc(Nmchan *c)
{
	uint16_t t;

	if((c->rcount == 0 || c->rcount < c->ntags / 2) && c->nexttag < (uint32_t)c->m->conf.maxtags &&
	   (c->nexttag < c->ntags || nm_taggrow(c, 2 * c->ntags) == 0))
		return (int)c->nexttag++;
	if(c->rcount == 0)
		return -1;
	t = c->ring[c->rhead];
	c->rhead = (c->rhead + 1) % c->ntags;
	c->rcount--;
	return t;
}

void
nm_tagfree(Nmchan *c, uint16_t t)
{
	Nmreq *r;

	c->tags[t] = NULL;
	c->ring[(c->rhead + c->rcount) % c->ntags] = t;
	c->rcount++;
	if((r = c->whead) != NULL){
		c->whead = r->wnext;
		if(c->whead == NULL)
			c->wtail = NULL;
		r->wnext = NULL;
		nm_chansend(c, r);
	}else
		nm_chanpump(c);
}

/*
 * Upstream fid numbers are the upstream's, not one channel's: after a
 * reconnect a fid keeps its number on the new channel, so the requests
 * that waited, their fids already translated, go out as they are.
 */
int
nm_ufidalloc(Nmup *u, uint32_t *fid)
{
	if(u->nfreefids > 0){
		*fid = u->freefids[--u->nfreefids];
		return 0;
	}
	if(u->nextfid == P9_NOFID)
		return -1;
	*fid = u->nextfid++;
	return 0;
}

void
nm_ufidfree(Nmup *u, uint32_t fid)
{
	uint32_t *p;
	size_t n;

	if(u == NULL || fid == P9_NOFID)
		return;
	if(u->nfreefids == u->capfreefids){
		n = u->capfreefids ? 2 * u->capfreefids : 256;
		p = realloc(u->freefids, n * sizeof *p);
		if(p == NULL)
			return;		/* the number is lost, not reused: harmless */
		u->freefids = p;
		u->capfreefids = n;
	}
	u->freefids[u->nfreefids++] = fid;
}

/*
 * A tag neither in flight nor t, for a ping's oldtag: flushing it
 * flushes nothing, so the server answers at once.  Tags past the -T
 * limit are never used; else the first free one after t.
 */
static uint16_t
unusedtag(Nmchan *c, uint16_t t)
{
	uint32_t u;

	if((uint32_t)c->m->conf.maxtags < NTAGS)
		return (uint16_t)c->m->conf.maxtags;
	for(u = (t + 1u) % c->nexttag; u != t; u = (u + 1) % c->nexttag)
		if(c->tags[u] == NULL)
			return (uint16_t)u;
	if(c->nexttag < NTAGS)
		return (uint16_t)c->nexttag;	/* never used yet */
	return P9_NOTAG;	/* every other tag in flight: a flush of no tag */
}

void
nm_chansend(Nmchan *c, Nmreq *r)
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
	if(r->ping)
		p9put16(r->msg->data + 7, unusedtag(c, r->utag));
	r->msg->req = r;
	if(nm_qput(&c->out, r->msg) && c->aux && c->m->conf.wake)
		c->m->conf.wake(c->aux, NM_WOUT);
}

void
nm_unhold(Nmsess *s, Nmreq *r)
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

int
nm_canunsend(Nmreq *r)
{
	return r->state == RHELD || r->state == RWAIT ||
		(r->state == RQUEUED && r->msg != NULL && r->msg->off == 0);
}

void
nm_keepclunk(Nmreq *r)
{
	r->orphan = 1;
	if(r->sess)
		nm_tagremove(r->sess, r);
	if(r->type == Tremove){
		r->type = Tclunk;
		if(r->msg)
			r->msg->data[4] = Tclunk;
	}
}

int
nm_unsend(Nmreq *r)
{
	Nmchan *c;
	Nmreq **pp;

	c = r->chan;
	if(r->state == RHELD)
		nm_unhold(r->sess, r);
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
		nm_qunlink(&c->out, r->msg);
		r->msg->req = NULL;
		/* never on the wire: the tag is free at once, for whoever waits for one */
		r->state = 0;
		nm_tagfree(c, r->utag);
	}else
		return 0;
	nm_msgfree(r->m, r->msg);
	r->msg = NULL;
	r->state = 0;
	return 1;
}

/*
 * Sessions' tag tables.
 */

Nmreq *
nm_tagfind(Nmsess *s, uint16_t tag)
{
	Nmreq *r;

	for(r = s->tagtab[tag & (s->ntagb - 1)]; r != NULL; r = r->hnext)
		if(r->ctag == tag)
			return r;
	return NULL;
}

void
nm_taginsert(Nmsess *s, Nmreq *r)
{
	r->hnext = s->tagtab[r->ctag & (s->ntagb - 1)];
	s->tagtab[r->ctag & (s->ntagb - 1)] = r;
	r->hashed = 1;
	s->m->inflight++;
}

void
nm_tagremove(Nmsess *s, Nmreq *r)
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
