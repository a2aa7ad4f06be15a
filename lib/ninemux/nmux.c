/*
 * The multiplexor, its upstreams and their channels as the caller
 * holds them: made, looked at, freed.  What a channel does with
 * replies and losses is chan.c's.
 */
#include "impl.h"

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
	if(m->conf.pieces <= 0)
		m->conf.pieces = PIECEWIN;
	if(m->conf.dialect < P9_2000 || m->conf.dialect > P9_2000L)
		m->conf.dialect = P9_2000;
	m->nextid = 1;
	if((m->defup = nmupnew(m, m->conf.msize, m->conf.dialect, 0)) == NULL){
		free(m);
		return NULL;
	}
	return m;
}

Nmup *
nmupnew(Nmux *m, uint32_t msize, int dialect, int flags)
{
	Nmup *u;

	u = calloc(1, sizeof *u);
	if(u == NULL)
		return NULL;
	u->m = m;
	u->msize = msize < P9_MINMSIZE ? P9_MINMSIZE : msize;
	u->dialect = dialect < P9_2000 || dialect > P9_2000L ? P9_2000 : dialect;
	u->any = (flags & NM_UPANY) != 0;
	u->strict = (flags & NM_UPSTRICT) != 0;
	u->nextfid = 1;
	snprintf(u->why, sizeof u->why, "%s", nm_errtab[EUPWAIT].s);
	u->next = m->ups;
	m->ups = u;
	return u;
}

Nmup *
nmdefup(Nmux *m)
{
	return m->defup;
}

void
nmupwhy(Nmup *u, const char *why)
{
	snprintf(u->why, sizeof u->why, "%s", why);
}

void
nmupwait(Nmup *u, int on)
{
	Nmsess *s;

	if(u->pending == on)
		return;
	u->pending = on;
	if(on)
		return;
	for(s = u->m->sessions; s != NULL; s = s->mnext)
		if(s->up == u)
			nm_unblock(s);
}

Nmchan *
nmupchan(Nmup *u)
{
	return u->cur;
}

void
nmupfree(Nmup *u)
{
	Nmup **pp;
	Nmsess *s;

	/* nothing will serve its sessions again: what waits for a restore fails now */
	u->persist = 0;
	if(u->cur)
		nmchandown(u->cur);
	nmupgiveup(u);
	for(s = u->m->sessions; s != NULL; s = s->mnext)
		if(s->up == u)
			s->up = NULL;
	for(pp = &u->m->ups; *pp != NULL; pp = &(*pp)->next)
		if(*pp == u){
			*pp = u->next;
			break;
		}
	if(u->m->defup == u)
		u->m->defup = NULL;
	free(u->freefids);
	free(u);
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

void
nmtrace(Nmux *m, void (*trace)(void *, unsigned, int, const uint8_t *, size_t, int), void *arg)
{
	m->conf.trace = trace;
	m->conf.tracearg = arg;
}

void
nmchaninfo(Nmchan *c, Nmchaninfo *i)
{
	Nmreq *r;
	Nmsess *s;

	/* tags never used are past nexttag; of those used, rcount rest in the free ring */
	i->tags = (int)(c->nexttag - c->rcount);
	/* fid numbers (the upstream's) from 1 up to nextfid were handed out; nfreefids came back */
	i->fids = c->up->nextfid - 1 - (uint32_t)c->up->nfreefids;
	i->queued = c->out.bytes;
	i->waiting = 0;
	for(r = c->whead; r != NULL; r = r->wnext)
		i->waiting++;
	if((s = c->turns) != NULL)
		do{
			i->waiting += s->nheld;
			s = s->rnext;
		}while(s != c->turns);
}

Nmchan *
nmchannewup(Nmup *u, void *aux)
{
	Nmchan *c;
	Nmmsg *g;
	Nmux *m;
	uint8_t b[64];
	const char *v;
	size_t len;

	m = u->m;
	c = calloc(1, sizeof *c);
	if(c == NULL)
		return NULL;
	c->m = m;
	c->up = u;
	c->aux = aux;
	c->state = NM_CVERSION;
	c->dialect = u->dialect;
	c->msize = u->msize;
	c->quantum = MINQUANTUM;
	c->out.chan = c;
	if(nm_taggrow(c, (uint32_t)m->conf.maxtags < NTAGS0 ? (uint32_t)m->conf.maxtags : NTAGS0) < 0){
		free(c);
		return NULL;
	}
	v = p9dialectname(u->dialect);
	len = strlen(v);
	p9put32(b, (uint32_t)(13 + len));
	b[4] = Tversion;
	p9put16(b + 5, P9_NOTAG);
	p9put32(b + 7, u->msize);
	p9put16(b + 11, (uint16_t)len);
	memcpy(b + 13, v, len);
	g = nm_msgnew(m, b, 13 + len);
	if(g == NULL){
		free(c->tags);
		free(c->ring);
		free(c);
		return NULL;
	}
	nm_trace(m, 0, NM_TUP, b, 13 + len, P9_2000);
	nm_qput(&c->out, g);
	if(u->cur && u->cur != c)
		nmchandown(u->cur);
	u->cur = c;
	return c;
}

Nmchan *
nmchannew(Nmux *m, void *aux)
{
	return nmchannewup(m->defup, aux);
}

Nmup *
nmchanup(Nmchan *c)
{
	return c->up;
}

int
nmchanping(Nmchan *c)
{
	uint8_t b[9];
	Nmreq *r;

	if(c->state != NM_CREADY || c->pinging)
		return -1;
	r = nm_reqnew(NULL, c, Tflush, P9_NOTAG);
	if(r == NULL)
		return -1;
	r->orphan = 1;
	r->ping = 1;
	p9put32(b, 9);
	b[4] = Tflush;
	p9put16(b + 5, P9_NOTAG);
	p9put16(b + 7, P9_NOTAG);	/* oldtag: chosen with the tag, in chansend */
	if((r->msg = nm_msgnew(c->m, b, sizeof b)) == NULL){
		nm_reqfree(r);
		return -1;
	}
	c->pinging = 1;
	nm_chansend(c, r);
	return 0;
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

void
nmfree(Nmux *m)
{
	Nmfd *fd;
	Nmsess *s;
	Nmmsg *g;
	Nmreq *r;
	Nmfid *f;

	if(m == NULL)
		return;
	while(m->ups != NULL)
		nmupfree(m->ups);
	/* descriptors whose channel went down and whose daemon never let go */
	while((fd = m->fds) != NULL){
		m->fds = fd->next;
		nm_fidput(fd->fid);
		free(fd);
	}
	while((s = m->sessions) != NULL){
		s->closing = 1;
		nm_sessfree(s);
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
