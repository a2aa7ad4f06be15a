/*
 * Reconnect, the restore: how the next channel gets a loss's fids back
 * (what the loss keeps is lose.c).
 *
 * Fids keep their upstream numbers.  When the next channel is
 * versioned, every live fid is made again under its number: one
 * Tattach for each distinct (uname, aname, n_uname), every fid walked
 * from it along its recorded path (16 names a Twalk), opened again with
 * its mode less OTRUNC, and the qid reached checked against the one it
 * had.  Whatever does not come back the same is dead.  Only then is the
 * channel ready: what was held is checked against the dead fids and
 * goes out, the sessions bound.  A loss during the restore starts it
 * over on the next channel; nmupgiveup ends the wait.
 *
 * Nothing here is on the way of an ordinary request: a restore lives
 * in arrays of its own, made when it starts and freed when it ends.
 */
#include "impl.h"

/* A job: one fid being made again. */
enum {
	JWAIT = 0,	/* for its root's attach */
	JWALKED,	/* a walk of it succeeded: walk on, check, or open */
	JOPENED,
	JFAILED,	/* an attach, walk or open of it failed */
	JSENT,		/* a request of it is in flight */
	JDONE,
};

/* A root: one attach that jobs walk from. */
enum {
	RTWAIT = 0,
	RTSENT,
	RTUP,
	RTFAILED,
};

typedef struct Rroot Rroot;
typedef struct Rjob Rjob;

struct Rroot {
	Nmroot		*root;		/* the first attach met with its key */
	Nmfid		*fid;		/* a fid of no session, holding its upstream fid */
	unsigned	hash;
	int		state;
	uint64_t	qpath;
	int		first;		/* its jobs, linked by Rjob.next */
	int		left;		/* of them, not done */
};

struct Rjob {
	Nmfid		*f;		/* referenced until the restore ends */
	int		root;		/* -1: dead without a try */
	int		next;
	int		state;
	int		made;		/* its upstream fid exists on the channel */
	int		restored;
	uint16_t	walked;		/* names of its path walked */
	uint16_t	nnames;
	uint64_t	qpath;		/* the last qid a walk of it reached */
};

struct Nmrestore {
	Nmchan		*c;
	Rroot		*roots;
	int		nroots;
	int		nextroot;	/* the first root whose attach is not sent */
	Rjob		*jobs;
	int		njobs;
	int		*ready;		/* a ring of jobs with a step to take */
	int		rhead;
	int		rcount;
	int		inflight;
	int		left;		/* jobs not done */
	int		abandoned;	/* nmupgiveup: make nothing more, clunk what was made */
};

static void rstep(Nmrestore *rs, int j);
static void rfinish(Nmrestore *rs);

/*
 * Restore.
 */

/* The key of a root: uname, aname and n_uname, hashed (FNV-1a). */
static unsigned
roothash(Nmroot *t)
{
	const char *p;
	unsigned h;
	int i;

	h = 2166136261u;
	for(p = t->uname; p && *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ 0xFF) * 16777619u;
	for(p = t->aname; p && *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for(i = 0; i < 4; i++)
		h = (h ^ ((t->nuname >> (8 * i)) & 0xFF)) * 16777619u;
	return h;
}

static int
samekey(Nmroot *a, Nmroot *b)
{
	return a == b || (a->nuname == b->nuname && a->uname && b->uname && a->aname && b->aname &&
		strcmp(a->uname, b->uname) == 0 && strcmp(a->aname, b->aname) == 0);
}

/* The names in path ("/a/b": 2). */
static int
countnames(const char *p)
{
	int n;

	for(n = 0; *p; p++)
		n += *p == '/';
	return n;
}

/* Send r, of the restore, on its channel. */
static void
rsend(Nmrestore *rs, Nmreq *r)
{
	Nmup *u;

	u = rs->c->up;
	rs->inflight++;
	u->cnt.msgs++;
	rs->c->m->st.restoremsgs++;
	nm_chansend(rs->c, r);
}

/* A request of the restore, its frame len bytes to fill in; NULL if out of memory. */
static Nmreq *
rreq(Nmrestore *rs, uint8_t type, size_t len, int job)
{
	Nmreq *r;

	if((r = nm_reqnew(NULL, rs->c, type, P9_NOTAG)) == NULL)
		return NULL;
	if((r->msg = nm_msgalloc(rs->c->m, len)) == NULL){
		nm_reqfree(r);
		return NULL;
	}
	r->orphan = 1;
	r->rs = rs;
	r->rjob = job;
	p9put32(r->msg->data, (uint32_t)len);
	r->msg->data[4] = type;
	p9put16(r->msg->data + 5, P9_NOTAG);
	return r;
}

static size_t
putstr(uint8_t *p, const char *s)
{
	size_t n;

	n = s ? strlen(s) : 0;
	p9put16(p, (uint16_t)n);
	memcpy(p + 2, s, n);
	return 2 + n;
}

/* The Tattach of root k: 0, or -1 if it cannot be sent. */
static int
rattach(Nmrestore *rs, int k)
{
	Rroot *rt;
	Nmreq *r;
	size_t len, ul, al;
	uint8_t *p;
	int d;

	rt = &rs->roots[k];
	d = rs->c->dialect;
	ul = strlen(rt->root->uname);
	al = strlen(rt->root->aname);
	if(ul > 0xFFFF || al > 0xFFFF)
		return -1;
	len = 15 + 2 + ul + 2 + al + (d != P9_2000 ? 4 : 0);
	if(len > rs->c->msize || (r = rreq(rs, Tattach, len, -1 - k)) == NULL)
		return -1;
	p = r->msg->data + 7;
	p9put32(p, rt->fid->ufid);
	p9put32(p + 4, P9_NOFID);
	p += 8;
	p += putstr(p, rt->root->uname);
	p += putstr(p, rt->root->aname);
	if(d != P9_2000)
		p9put32(p, rt->root->nuname);
	rt->state = RTSENT;
	rsend(rs, r);
	return 0;
}

/*
 * The next Twalk of job j: up to 16 names of its path from where it is,
 * from its root's fid to its own for the first.  0, or -1 if it cannot
 * be sent.
 */
static int
rwalk(Nmrestore *rs, int j)
{
	Rjob *J;
	Nmreq *r;
	const char *p, *e, *s;
	size_t len;
	uint8_t *q;
	int i, nw;

	J = &rs->jobs[j];
	p = J->f->path;
	for(i = 0; i < J->walked; i++)
		p = strchr(p + 1, '/');
	nw = J->nnames - J->walked;
	if(nw > P9_MAXWELEM)
		nw = P9_MAXWELEM;
	len = 17;
	for(i = 0, s = p; i < nw; i++, s = e){
		e = strchr(s + 1, '/');
		if(e == NULL)
			e = s + strlen(s);
		len += 2 + (size_t)(e - s - 1);
	}
	if(len > rs->c->msize || (r = rreq(rs, Twalk, len, j)) == NULL)
		return -1;
	q = r->msg->data + 7;
	p9put32(q, J->made ? J->f->ufid : rs->roots[J->root].fid->ufid);
	p9put32(q + 4, J->f->ufid);
	p9put16(q + 8, (uint16_t)nw);
	q += 10;
	for(i = 0, s = p; i < nw; i++, s = e){
		e = strchr(s + 1, '/');
		if(e == NULL)
			e = s + strlen(s);
		p9put16(q, (uint16_t)(e - s - 1));
		memcpy(q + 2, s + 1, (size_t)(e - s - 1));
		q += 2 + (e - s - 1);
	}
	r->nwname = (uint16_t)nw;
	J->state = JSENT;
	rsend(rs, r);
	return 0;
}

/*
 * The open of job j, in the mode it had less what must not happen
 * twice (OTRUNC; ORCLOSE and O_CREAT, O_EXCL, which made it, with it).
 */
static int
ropen(Nmrestore *rs, int j)
{
	Nmreq *r;
	Nmfid *f;

	f = rs->jobs[j].f;
	if(rs->c->dialect == P9_2000L){
		if((r = rreq(rs, Tlopen, 15, j)) == NULL)
			return -1;
		p9put32(r->msg->data + 11, (uint32_t)f->omode & ~(uint32_t)(LOTRUNC | LOCREAT | LOEXCL));
	}else{
		if((r = rreq(rs, Topen, 12, j)) == NULL)
			return -1;
		r->msg->data[11] = (uint8_t)(f->omode & ~(P9_OTRUNC | P9_ORCLOSE));
	}
	p9put32(r->msg->data + 7, f->ufid);
	rs->jobs[j].state = JSENT;
	rsend(rs, r);
	return 0;
}

/* f, made on c by the restore and of no use now, is clunked there (its number free on the reply). */
static void
rclunk(Nmchan *c, Nmfid *f)
{
	c->up->cnt.msgs++;
	c->m->st.restoremsgs++;
	nm_clunkfid(c, f);
}

/* The same of upstream fid ufid, which no fid holds. */
static void
clunkufid(Nmchan *c, uint32_t ufid)
{
	Nmfid *f;

	if((f = nm_fidbare(c->m, ufid)) == NULL)
		return;		/* left open on the server: nothing more to do without memory */
	rclunk(c, f);
}

enum {
	DRESTORED = 1,
	DDEAD,
	DUNWANTED,	/* nobody holds the fid any more */
};

/* Job j is done. */
static void
rdone(Nmrestore *rs, int j, int how)
{
	Rjob *J;
	Rroot *rt;
	Nmfid *f;
	Nmup *u;
	Nmux *m;

	J = &rs->jobs[j];
	f = J->f;
	u = rs->c->up;
	m = rs->c->m;
	J->state = JDONE;
	rs->left--;
	f->flags &= ~FFMARK;
	if(how == DRESTORED){
		J->restored = 1;
		f->chan = rs->c;
		/* its server-side offsets began again with the open */
		if(f->omode >= 0 && (f->qtype & P9_QTDIR))
			f->flags |= FFDIRRESET;
		u->cnt.restored++;
		m->st.fidsrestored++;
	}else{
		if(how == DDEAD){
			f->flags |= FFDEAD;
			u->cnt.dead++;
			m->st.fidsdead++;
		}
		/* no request can name its number now: free it, clunking what was made of it */
		if(J->made)
			clunkufid(rs->c, f->ufid);
		else
			nm_ufidfree(u, f->ufid);
		f->ufid = P9_NOFID;
		f->chan = NULL;
	}
	if(J->root < 0)
		return;
	rt = &rs->roots[J->root];
	if(--rt->left > 0 || rt->fid == NULL)
		return;
	/* the last of the root's jobs: its fid goes */
	if(rt->state == RTUP)
		rclunk(rs->c, rt->fid);
	else{
		nm_ufidfree(u, rt->fid->ufid);
		nm_fidput(rt->fid);
	}
	rt->fid = NULL;
}

/* Job j has a step to take: it waits its turn in the ring. */
static void
rready(Nmrestore *rs, int j)
{
	rs->ready[(rs->rhead + rs->rcount) % rs->njobs] = j;
	rs->rcount++;
}

/* Take the next step of job j: send its next request, or finish it. */
static void
rstep(Nmrestore *rs, int j)
{
	Rjob *J;
	Rroot *rt;
	uint64_t q;

	J = &rs->jobs[j];
	rt = J->root >= 0 ? &rs->roots[J->root] : NULL;
	/* only the restore holds it: its session went (or gave up) meanwhile */
	if(J->f->ref == 1 || rs->abandoned){
		rdone(rs, j, DUNWANTED);
		return;
	}
	switch(J->state){
	case JWAIT:
		if(rt == NULL || rt->state != RTUP || rwalk(rs, j) < 0)
			rdone(rs, j, DDEAD);
		return;
	case JWALKED:
		if(J->walked < J->nnames){
			if(rwalk(rs, j) < 0)
				rdone(rs, j, DDEAD);
			return;
		}
		/* the same file, or none: a different one at its path is not its file */
		q = J->nnames == 0 && rt != NULL ? rt->qpath : J->qpath;
		if(q != J->f->qpath){
			rdone(rs, j, DDEAD);
			return;
		}
		if(J->f->omode < 0)
			rdone(rs, j, DRESTORED);
		else if(ropen(rs, j) < 0)
			rdone(rs, j, DDEAD);
		return;
	case JOPENED:
		rdone(rs, j, DRESTORED);
		return;
	default:
		rdone(rs, j, DDEAD);
		return;
	}
}

/* Send what the window allows: attaches first, then the jobs' steps. */
static void
rpump(Nmrestore *rs)
{
	Rroot *rt;
	int j;

	while(rs->inflight < RWINDOW){
		if(rs->nextroot < rs->nroots){
			rt = &rs->roots[rs->nextroot++];
			if(rs->abandoned || rattach(rs, rs->nextroot - 1) < 0){
				rt->state = RTFAILED;
				for(j = rt->first; j >= 0; j = rs->jobs[j].next)
					rready(rs, j);
			}
			continue;
		}
		if(rs->rcount == 0)
			break;
		j = rs->ready[rs->rhead];
		rs->rhead = (rs->rhead + 1) % rs->njobs;
		rs->rcount--;
		rstep(rs, j);
	}
	if(rs->left == 0 && rs->inflight == 0)
		rfinish(rs);
}

void
nm_restorereply(Nmchan *c, Nmreq *r, const uint8_t *f, size_t n)
{
	Nmrestore *rs;
	Rroot *rt;
	Rjob *J;
	uint16_t nq;
	int j, ok;

	rs = r->rs;
	r->rs = NULL;
	rs->inflight--;
	ok = f[4] == r->type + 1;
	if(r->rjob < 0){
		rt = &rs->roots[-1 - r->rjob];
		if(ok && n >= 7 + P9_QIDSZ){
			rt->state = RTUP;
			rt->qpath = p9get64(f + 12);
		}else
			rt->state = RTFAILED;
		for(j = rt->first; j >= 0; j = rs->jobs[j].next)
			rready(rs, j);
	}else{
		J = &rs->jobs[r->rjob];
		J->state = JFAILED;
		switch(r->type){
		case Twalk:
			nq = n >= 9 ? p9get16(f + 7) : 0;
			if(ok && n >= 9 && nq == r->nwname && (n - 9) / P9_QIDSZ >= nq){
				/* all of it walked: the fid is made (a short walk makes nothing, but leaves one walked in place) */
				J->made = 1;
				J->walked += nq;
				if(nq > 0)
					J->qpath = p9get64(f + 9 + P9_QIDSZ * (nq - 1) + 5);
				J->state = JWALKED;
			}
			break;
		case Topen:
		case Tlopen:
			if(ok)
				J->state = JOPENED;
			break;
		}
		rready(rs, r->rjob);
	}
	(void)c;
	rpump(rs);
}

/* Free rs: the references of its jobs and roots. */
static void
rfree(Nmrestore *rs)
{
	int i;

	for(i = 0; i < rs->njobs; i++){
		rs->jobs[i].f->flags &= ~FFMARK;
		nm_fidput(rs->jobs[i].f);
	}
	for(i = 0; i < rs->nroots; i++){
		if(rs->roots[i].fid != NULL){
			nm_ufidfree(rs->c->up, rs->roots[i].fid->ufid);
			nm_fidput(rs->roots[i].fid);
		}
		if(--rs->roots[i].root->ref == 0){
			free(rs->roots[i].root->uname);
			free(rs->roots[i].root->aname);
			free(rs->roots[i].root);
		}
	}
	free(rs->roots);
	free(rs->jobs);
	free(rs->ready);
	free(rs);
}

void
nm_restoreabort(Nmchan *c)
{
	Nmrestore *rs;
	int i;

	rs = c->rs;
	c->rs = NULL;
	/* what was made again is lost again: it waits for the next restore, under the same number */
	for(i = 0; i < rs->njobs; i++)
		if(rs->jobs[i].restored && rs->jobs[i].f->chan == c)
			rs->jobs[i].f->chan = NULL;
	rfree(rs);
}

/* Whether fid f of a waiting session should be made again by this restore. */
static int
wanted(Nmfid *f)
{
	return f != NULL && (f->state == FLIVE || f->state == FGONE) && f->chan == NULL &&
		!(f->flags & (FFDEAD | FFMARK)) && f->ufid != P9_NOFID;
}

/* Add f to the jobs: 0, or -1 if out of memory. */
static int
gather(Nmrestore *rs, int *cap, Nmfid *f)
{
	Rjob *p;
	int n;

	if(!wanted(f))
		return 0;
	if(rs->njobs == *cap){
		n = *cap ? 2 * *cap : 64;
		if((p = realloc(rs->jobs, (size_t)n * sizeof *p)) == NULL)
			return -1;
		rs->jobs = p;
		*cap = n;
	}
	memset(&rs->jobs[rs->njobs], 0, sizeof rs->jobs[0]);
	rs->jobs[rs->njobs].f = f;
	rs->jobs[rs->njobs].root = -1;
	rs->jobs[rs->njobs].next = -1;
	rs->njobs++;
	f->ref++;
	f->flags |= FFMARK;
	return 0;
}

/* The roots of the jobs, one for each key; jobs that cannot be restored are done at once. */
static int
rootsof(Nmrestore *rs)
{
	int *tab, i, k, size;
	unsigned h;
	Rroot *rt;
	Rjob *J;
	Nmfid *f;

	size = 16;
	while(size < 2 * rs->njobs)
		size *= 2;
	if((tab = malloc((size_t)size * sizeof *tab)) == NULL)
		return -1;
	for(i = 0; i < size; i++)
		tab[i] = -1;
	if((rs->roots = calloc((size_t)rs->njobs + 1, sizeof *rs->roots)) == NULL){
		free(tab);
		return -1;
	}
	for(i = 0; i < rs->njobs; i++){
		J = &rs->jobs[i];
		f = J->f;
		if(f->root == NULL || f->root->uname == NULL || f->root->aname == NULL || f->path == NULL ||
		(f->flags & FFNORESTORE))
			continue;	/* done dead, below */
		h = roothash(f->root);
		for(k = (int)(h & (unsigned)(size - 1)); tab[k] >= 0; k = (k + 1) & (size - 1))
			if(rs->roots[tab[k]].hash == h && samekey(rs->roots[tab[k]].root, f->root))
				break;
		if(tab[k] < 0){
			tab[k] = rs->nroots;
			rt = &rs->roots[rs->nroots++];
			rt->root = f->root;
			rt->root->ref++;
			rt->hash = h;
			rt->first = -1;
		}
		rt = &rs->roots[tab[k]];
		J->root = tab[k];
		J->next = rt->first;
		rt->first = i;
		rt->left++;
		J->nnames = (uint16_t)countnames(f->path);
	}
	free(tab);
	return 0;
}

void
nm_restorestart(Nmchan *c)
{
	Nmrestore *rs;
	Nmsess *s;
	Nmreq *r;
	Nmup *u;
	Nmux *m;
	uint32_t i, ufid;
	int cap, k;
	Nmfid *f;

	u = c->up;
	m = c->m;
	c->state = NM_CRESTORE;
	u->cnt.restored = u->cnt.msgs = u->cnt.failed = 0;
	if((rs = calloc(1, sizeof *rs)) == NULL)
		goto nomem;
	rs->c = c;
	c->rs = rs;
	cap = 0;
	for(s = m->sessions; s != NULL; s = s->mnext){
		if(!nm_sesswaits(s, u))
			continue;
		if(!nm_sessfits(s, c)){
			nm_failsess(s, NULL, ERESET);
			s->state = SDEAD;
			s->deaderr = ERESET;
			continue;
		}
		nm_heldclunks(s, u);
		for(i = 0; i < s->nfidb; i++)
			for(f = s->fidtab[i]; f != NULL; f = f->hnext)
				if(f->state == FLIVE && gather(rs, &cap, f) < 0)
					goto nomem;
		/* and the fids held requests use, which their clients may have clunked since */
		for(r = s->hqhead; r != NULL; r = r->hnextq)
			if(gather(rs, &cap, r->fid) < 0 || gather(rs, &cap, r->fid2) < 0 || gather(rs, &cap, r->delfid) < 0)
				goto nomem;
	}
	if(rs->njobs > 0 && (rs->ready = malloc((size_t)rs->njobs * sizeof *rs->ready)) == NULL)
		goto nomem;
	if(rootsof(rs) < 0)
		goto nomem;
	rs->left = rs->njobs;
	for(k = 0; k < rs->nroots; k++){
		if(nm_ufidalloc(u, &ufid) < 0 || (rs->roots[k].fid = nm_fidbare(m, ufid)) == NULL)
			goto nomem;
	}
	nm_note(m, c->aux, NM_NRESTORE, "restoring %d fids from %d attaches", rs->njobs, rs->nroots);
	for(k = 0; k < rs->njobs; k++)
		if(rs->jobs[k].root < 0)
			rdone(rs, k, DDEAD);
	rpump(rs);
	return;

nomem:
	/* without the memory to restore, nothing waits any longer */
	if(c->rs != NULL){
		rfree(c->rs);
		c->rs = NULL;
	}
	nmupgiveup(u);
}

/*
 * Requests.
 */

/* The held requests of s that name a dead fid, or an offset of a directory opened again, fail now. */
static void
sweep(Nmsess *s, Nmchan *c)
{
	Nmreq *r, *next;
	Nmfid *f;
	int e, clunk;

	for(r = s->hqhead; r != NULL; r = next){
		next = r->hnextq;
		r->chan = c;
		if(r->newfid != NULL && r->newfid->chan == NULL)
			r->newfid->chan = c;
		e = 0;
		clunk = 0;
		if((f = r->delfid) != NULL && (f->flags & FFDEAD)){
			clunk = r->type == Tclunk;
			e = EFIDDEAD;
		}else if((r->fid && (r->fid->flags & FFDEAD)) || (r->fid2 && (r->fid2->flags & FFDEAD)))
			e = EFIDDEAD;
		else if((r->type == Tread || r->type == Treaddir) && r->fid && (r->fid->flags & FFDIRRESET) &&
		r->msg != NULL && r->msg->len >= 19){
			if(p9get64(r->msg->data + 11) != 0)
				e = EDIROFF;
			else
				r->fid->flags &= ~FFDIRRESET;
		}
		if(e == 0)
			continue;
		if(r->hashed && !r->orphan){
			if(clunk)
				nm_rempty(s, r->ctag, Rclunk);
			else
				nm_rerror(s, r->ctag, e);
		}
		nm_piecefail(r, e);
		if(!clunk)
			c->up->cnt.failed++;
		nm_unhold(s, r);
		r->state = 0;
		if((f = r->delfid) != NULL && (f->flags & FFDEAD)){
			/* nothing of it upstream to clunk */
			r->delfid = NULL;
			nm_fidput(f);
		}
		nm_undo(r);
	}
}

/* The restore is over: what waited goes, the channel is ready. */
static void
rfinish(Nmrestore *rs)
{
	Nmchan *c;
	Nmsess *s;
	Nmup *u;
	Nmcount *k;
	int abandoned;

	c = rs->c;
	u = c->up;
	c->rs = NULL;
	abandoned = rs->abandoned;
	rfree(rs);
	if(abandoned || c->state != NM_CRESTORE)
		return;
	u->lost = 0;
	c->state = NM_CREADY;
	c->m->st.restores++;
	for(s = c->m->sessions; s != NULL; s = s->mnext){
		if(!nm_sesswaits(s, u))
			continue;
		if(!nm_sessfits(s, c)){
			/* a session that came while the upstream was away, with more than it offers now */
			nm_failsess(s, NULL, ERESET);
			s->state = SDEAD;
			s->deaderr = ERESET;
			continue;
		}
		s->waslost = 0;
		sweep(s, c);
		nm_sessbind(s, c);
	}
	k = &u->cnt;
	nm_note(c->m, c->aux, NM_NRESTORED, "restored: %d fids restored, %d dead; %d requests sent again, "
		"%d failed on dead fids or directory offsets; %d messages", k->restored, k->dead, k->replay + k->unsent,
		k->failed, k->msgs);
	for(s = c->m->sessions; s != NULL; s = s->mnext){
		if(s->chan == c)
			nm_admit(s);
		nm_unblock(s);
	}
}

void
nm_restoreabandon(Nmchan *c)
{
	/* what the restore made goes; the channel serves what comes now */
	c->state = NM_CREADY;
	if(c->rs != NULL){
		c->rs->abandoned = 1;
		rpump(c->rs);
	}
}
