/*
 * Sessions: version answers, resets and hang-ups drained.
 */
#include "impl.h"


/*
 * The client side: requests.
 */

int
nm_dialectfor(const char *v, size_t n, int ud)
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

void
nm_sessbind(Nmsess *s, Nmchan *c)
{
	if(s->chan == c)
		return;
	if(s->chan){
		nm_ringdel(s->chan, s);
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

/*
 * The Tversion saved in s is answered from its upstream's channel,
 * to which s is bound, or while there is none ready from what the
 * upstream will ask (the flags): chan.c's Rversion (or restore.c's end)
 * binds s later.
 */
void
nm_versionanswer(Nmsess *s)
{
	Nmchan *c;
	Nmup *u;
	uint32_t msize, umsize;
	int d, ud;
	char why[256];

	s->state = SNEW;
	if((u = s->up) == NULL){
		nm_sessbind(s, NULL);
		nm_rerror(s, s->vtag, ENOSERV);
		return;
	}
	c = u->cur;
	if(c != NULL && c->state == NM_CREADY){
		umsize = c->msize;
		ud = c->dialect;
	}else{
		/* an upstream that takes any dialect may come with the client's: give it that */
		c = NULL;
		umsize = u->msize;
		ud = u->any && p9dialect(s->vers, s->nvers) >= 0 ? p9dialect(s->vers, s->nvers) : u->dialect;
	}
	nm_sessbind(s, c);
	msize = s->vmsize < umsize ? s->vmsize : umsize;
	if(msize < P9_MINMSIZE){
		nm_rerror(s, s->vtag, EBADMSG);
		return;
	}
	s->msize = msize;
	d = nm_dialectfor(s->vers, s->nvers, ud);
	if(d != p9dialect(s->vers, s->nvers) && s->aux && s->m->conf.note){
		snprintf(why, sizeof why, "asked for version %s; the upstream speaks %s, so it gets %s%s",
			s->vers, p9dialectname(ud), d < 0 ? "unknown" : p9dialectname(d),
			d < 0 ? " (9mux -V sets the dialect asked of the upstream)" : "");
		s->m->conf.note(s->aux, NM_NDIALECT, why);
	}
	if(d < 0){
		nm_rversion(s, s->vtag, msize, "unknown");
		return;
	}
	s->dialect = d;
	s->state = SREADY;
	nm_rversion(s, s->vtag, msize, p9dialectname(d));
}

void
nm_drainstart(Nmsess *s)
{
	Nmreq *r, *next, *last;

	s->state = SDRAIN;
	s->indrain = 1;
	s->waslost = 0;		/* what a loss kept of it goes now */
	if(s->chan)
		nm_ringdel(s->chan, s);
	last = s->rtail;
	for(r = s->rhead; r != NULL; r = next){
		next = r == last ? NULL : r->snext;
		/* nobody waits for it now: out of the tag table and the in-flight count */
		r->orphan = 1;
		nm_tagremove(s, r);
		if(r->zombie)
			continue;
		/* 9mux's own flush settling a request the server may have dropped must reach it */
		if(r->resolve)
			continue;
		/* a request sent as pieces, and a flush waiting for them, end with the pieces (split.c) */
		if(r->split != NULL || (r->parent != NULL && r->type == Tflush))
			continue;
		if(nm_canunsend(r) && r->delfid && s->chan != NULL){
			/* a clunk must still happen, after what was sent before it */
			nm_keepclunk(r);
			if(r->state == RHELD){
				nm_admitreq(s, r);
			}
			continue;
		}
		if(nm_unsend(r)){
			nm_undo(r);
			continue;
		}
		if(r->type == Tflush || r->delfid != NULL || s->chan == NULL)
			continue;
		/* a piece of no use is being flushed already */
		if(r->parent != NULL && r->flushers != NULL)
			continue;
		nm_flushup(s, r);	/* without memory for it, its reply will still end it */
	}
	/* the split requests whose pieces all ended meanwhile end now that nothing walks the list */
	nm_splitsweep(s);
	s->indrain = 0;
	nm_draincheck(s);
}


void
nm_draincheck(Nmsess *s)
{
	Nmfid *f, *next;
	uint32_t i;

	if(s->state != SDRAIN || s->indrain || s->rhead != NULL)
		return;
	for(i = 0; i < s->nfidb; i++)
		for(f = s->fidtab[i]; f != NULL; f = next){
			next = f->hnext;
			f->ref++;
			nm_fidunlink(f);
			nm_clunkfid(f->chan, f);
		}
	if(s->closing){
		nm_sessfree(s);
		return;
	}
	nm_versionanswer(s);
	nm_unblock(s);
}

Nmsess *
nmsessnew(Nmux *m, void *aux)
{
	return nmsessnewup(m, m->defup, aux);
}

void
nmsesskeep(Nmsess *s)
{
	s->keep = 1;
}

Nmsess *
nmsessnewup(Nmux *m, Nmup *u, void *aux)
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
	s->up = u;
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
	up = s->up == NULL ? s->m->conf.msize : s->up->cur ? s->up->cur->msize : s->up->msize;
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

const Nmsessstats *
nmsessstats(Nmsess *s)
{
	return &s->st;
}

int
nmsessfids(Nmsess *s)
{
	return s->nfids;
}

int
nmsessunames(Nmsess *s, const char **names, int max)
{
	Nmfid *f;
	uint32_t i;
	int n, k;

	n = 0;
	for(i = 0; i < s->nfidb; i++)
		for(f = s->fidtab[i]; f != NULL; f = f->hnext){
			if(f->state != FLIVE || f->root == NULL || f->root->uname == NULL)
				continue;
			for(k = 0; k < n; k++)
				if(strcmp(names[k], f->root->uname) == 0)
					break;
			if(k == n && n < max)
				names[n++] = f->root->uname;
		}
	return n;
}

Nmq *
nmsessq(Nmsess *s)
{
	return &s->out;
}

void
nm_sessfree(Nmsess *s)
{
	Nmux *m;

	m = s->m;
	nm_memunlink(s);
	nm_sessdrop(s);
	nm_sessbind(s, NULL);
	if(s->mprev)
		s->mprev->mnext = s->mnext;
	else
		m->sessions = s->mnext;
	if(s->mnext)
		s->mnext->mprev = s->mprev;
	nm_qfree(&s->out);
	free(s->tagtab);
	free(s->fidtab);
	free(s);
}

void
nmsessclose(Nmsess *s)
{
	s->closing = 1;
	s->aux = NULL;
	nm_memunlink(s);
	nm_qfree(&s->out);
	if(s->m->mwhead)
		nm_memwake(s->m);
	if(s->state == SDRAIN)
		return;		/* the reset under way ends in sessfree now */
	/*
	 * One waiting for a restore drains too: its held requests go, and
	 * its fids a restore under way has made again are clunked.
	 */
	if(s->state != SREADY || (s->chan == NULL && !(s->up && s->up->lost))){
		nm_sessfree(s);
		return;
	}
	nm_drainstart(s);
}

void
nm_answerall(Nmsess *s, int e)
{
	Nmreq *r;

	for(r = s->rhead; r != NULL; r = r->snext){
		if(!r->hashed || r->orphan)
			continue;
		if(r->type == Tflush)
			nm_rflush(s, r->ctag);
		else
			nm_rerror(s, r->ctag, e);
	}
}
