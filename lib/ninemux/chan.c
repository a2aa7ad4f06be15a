/*
 * Channels: Tversion upstream, replies, flushes settled, and upstream loss.
 */
#include "impl.h"


/*
 * The upstream side: replies.
 */

/*
 * A session answered Tversion while its upstream had no channel is
 * served by c now, if its msize and dialect fit c; else it is reset:
 * its requests get an error until it sends Tversion again.
 */
int
nm_sessfits(Nmsess *s, Nmchan *c)
{
	char why[256];

	if(s->msize <= c->msize && nm_dialectfor(s->vers, s->nvers, c->dialect) == s->dialect)
		return 1;
	snprintf(why, sizeof why, "reset: it has msize %u and %s, the upstream answered msize %u and %s",
		s->msize, p9dialectname(s->dialect), c->msize, p9dialectname(c->dialect));
	if(s->aux && s->m->conf.note)
		s->m->conf.note(s->aux, NM_NRESET, why);
	return 0;
}

/* The Rversion f: c is ready, or refused (err says why). */
/*
 * flush(5): an Rflush for one of several flushes of a request answers
 * the earlier ones too, so a server may answer only the last.  The
 * flushes of r's target sent before r (after it in the target's list,
 * which is newest first) are answered now, oldest first.
 */
static void
earlier(Nmreq *r)
{
	Nmreq *f, *old;

	for(;;){
		old = NULL;
		for(f = r->nextflusher; f != NULL; f = f->nextflusher)
			if(f->state == RSENT && f->msg == NULL)
				old = f;
		if(old == NULL)
			return;
		if(old->sess && !old->orphan)
			nm_rflush(old->sess, old->ctag);
		nm_reqdone(old);
	}
}

static void
chanversion(Nmchan *c, const uint8_t *f, size_t n, char *err, size_t errlen)
{
	Nmsess *s;
	uint32_t msize;
	size_t len;
	int d;

	nm_trace(c->m, 0, NM_RUP, f, n, P9_2000);
	if(f[4] != Rversion || n < 13 || (len = p9get16(f + 11)) != n - 13){
		if(f[4] == Rerror && n >= 9 && (len = p9get16(f + 7)) <= n - 9)
			nm_fail(err, errlen, "upstream refused Tversion: %.*s", (int)len, (const char *)f + 9);
		else
			nm_fail(err, errlen, "upstream answered Tversion with a bad message");
		c->state = NM_CREFUSED;
		return;
	}
	d = p9dialect((const char *)f + 13, len);
	if(d < 0 || (d != c->up->dialect && d != P9_2000 && !c->up->any)){
		nm_fail(err, errlen, "upstream answered version %.*s to %s", (int)len, (const char *)f + 13,
			p9dialectname(c->up->dialect));
		c->state = NM_CREFUSED;
		return;
	}
	msize = p9get32(f + 7);
	if(msize > c->up->msize)
		msize = c->up->msize;
	if(msize < P9_MINMSIZE){
		nm_fail(err, errlen, "upstream msize %u is too small", msize);
		c->state = NM_CREFUSED;
		return;
	}
	c->msize = msize;
	/* few turns even for a request as large as the msize */
	c->quantum = msize / 64 > MINQUANTUM ? msize / 64 : MINQUANTUM;
	c->dialect = d;
	if(c->up->lost){
		/* the sessions a loss kept wait for their fids: they are bound when the restore is done */
		nm_restorestart(c);
		return;
	}
	c->state = NM_CREADY;
	for(s = c->m->sessions; s != NULL; s = s->mnext){
		if(s->up == c->up && s->state == SREADY && s->chan == NULL && !s->closing){
			if(nm_sessfits(s, c))
				nm_sessbind(s, c);
			else{
				s->state = SDEAD;
				s->deaderr = ERESET;
			}
		}
		nm_unblock(s);
	}
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
	f = nm_reqnew(t->sess, t->chan, Tflush, P9_NOTAG);
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
	if((f->msg = nm_msgnew(f->m, b, sizeof b)) == NULL){
		t->flushers = NULL;
		f->target = NULL;
		nm_sessunlink(f);
		nm_reqfree(f);
		return;
	}
	t->chan->m->st.flushes++;
	nm_chansend(t->chan, f);
}

/*
 * What a successful reply f to r tells of the files its fids name, for
 * a restore: the qid each reached, and what no restore can bring back.
 */
static void
qids(Nmreq *r, const uint8_t *f, size_t n, int d)
{
	Nmfid *fp;
	const uint8_t *q;
	uint16_t nq;

	q = NULL;
	switch(r->type){
	case Tattach:
		fp = r->newfid;
		if(n >= 7 + P9_QIDSZ)
			q = f + 7;
		break;
	case Twalk:
		fp = r->inplace ? r->fid : r->newfid;
		nq = p9get16(f + 7);
		if(nq == 0 && fp != NULL && fp != r->fid){
			/* a clone names the same file */
			fp->qpath = r->fid->qpath;
			fp->qtype = r->fid->qtype;
		}else if(nq > 0 && (n - 9) / P9_QIDSZ >= nq)
			q = f + 9 + P9_QIDSZ * (nq - 1);
		break;
	case Topen:
	case Tcreate:
	case Tlopen:
	case Tlcreate:
		fp = r->fid;
		if(n >= 7 + P9_QIDSZ)
			q = f + 7;
		if(fp == NULL || q == NULL)
			break;
		if((q[0] & P9_QTEXCL) != 0)
			fp->flags |= FFEXCL;
		if(d != P9_2000L && r->omode >= 0 && (r->omode & P9_ORCLOSE) != 0)
			fp->flags |= FFRCLOSE;
		break;
	case Txattrwalk:
		fp = r->newfid;
		if(fp != NULL)
			fp->flags |= FFXATTR;
		return;
	case Txattrcreate:
		if(r->fid != NULL)
			r->fid->flags |= FFXATTR;
		return;
	case Tlock:
		/* status 0 is success; type 2 is F_UNLCK */
		if(r->fid == NULL || n < 8 || f[7] != 0)
			return;
		if((r->omode & 0xFF) != 2)
			r->fid->flags |= FFLOCK;
		else if(r->omode & LOCKALL)
			r->fid->flags &= ~FFLOCK;
		return;
	default:
		return;
	}
	if(fp != NULL && q != NULL){
		fp->qtype = q[0];
		fp->qpath = p9get64(q + 5);
	}
}

/* A reply from upstream: 0, or -1 if its tag is not one in flight (counted as stray). */
static int
reply(Nmchan *c, uint8_t *f, size_t n)
{
	Nmreq *r, *t, *tt;
	Nmsess *s;
	Nmfid *fp;
	uint16_t utag;
	uint32_t io, max;
	int ok;

	utag = p9get16(f + P9_TAGOFF);
	r = utag < c->ntags ? c->tags[utag] : NULL;
	nm_trace(c->m, r && r->sess ? r->sess->id : 0, NM_RUP, f, n, c->dialect);
	c->m->st.upreplies++;
	/* a reply before its request was wholly written is as wrong as an unknown tag */
	if(r == NULL || r->state != RSENT || r->msg != NULL || r->zombie || (f[4] & 1) == 0){
		c->m->st.stray++;
		return -1;
	}
	s = r->sess;
	if(r->fdio){
		nm_fdreply(r, f, n);
		nm_reqdone(r);
		return 0;
	}
	if(r->rs != NULL){
		nm_restorereply(c, r, f, n);
		nm_reqdone(r);
		return 0;
	}
	if(r->parent != NULL){
		nm_piecereply(r, f, n);
		nm_reqdone(r);
		return 0;
	}
	if(r->ping){
		c->pinging = 0;
		if(c->m->conf.note)
			c->m->conf.note(c->aux, NM_NPONG, NULL);
		nm_reqdone(r);
		return 0;
	}
	if(r->type == Tflush){
		/* Rflush, or an Rerror taken as one: if the target had no reply, it never happened */
		t = r->target;
		earlier(r);
		if(t != NULL && !t->zombie){
			tt = t->type == Tflush && t->target && !t->target->zombie ? t->target : NULL;
			if(r->resolve && t->hashed && !t->orphan && t->sess){
				if(t->type == Tflush && tt){
					/* a client's flush is never answered Rerror: its Rflush waits for its own target */
					tt->owes = 1;
					tt->owetag = t->ctag;
				}else if(t->type == Tflush)
					nm_rflush(t->sess, t->ctag);
				else if(!t->owes)
					nm_rerror(t->sess, t->ctag, EINTR_);
			}
			t->orphan = 1;
			nm_undo(t);
			if(tt)
				resolve(tt);
		}
		if(s && !r->orphan)
			nm_rflush(s, r->ctag);
		nm_reqdone(r);
		return 0;
	}
	ok = success(r, f, n);
	if(ok)
		qids(r, f, n, c->dialect);
	if((fp = r->newfid) != NULL){
		r->newfid = NULL;
		if(fp->state == FPEND){
			if(ok)
				fp->state = FLIVE;
			else{
				nm_ufidfree(c->up, fp->ufid);
				nm_fidunlink(fp);
			}
		}
		nm_fidput(fp);
	}
	if((fp = r->delfid) != NULL){
		r->delfid = NULL;
		nm_ufidfree(c->up, fp->ufid);
		/*
		 * Its number may serve another fid now: a request sent
		 * before this one and still holding it must never be sent
		 * again under that number after a loss (restore.c fails it).
		 */
		fp->ufid = P9_NOFID;
		fp->flags |= FFDEAD;
		nm_fidput(fp);
	}
	if(ok && r->fid){
		if(r->newpath || r->type == Tcreate || r->type == Tlcreate || r->inplace){
			free(r->fid->path);
			r->fid->path = r->newpath;
			r->newpath = NULL;
		}
		if(r->omode >= 0 && r->type != Tlock)
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
			 * upstream's: say the client's own limit instead, which for
			 * a file whose reads and writes go in pieces is its msize's.
			 */
			if(n >= P9_IOUNITOFF + 4){
				io = p9get32(f + P9_IOUNITOFF);
				max = nm_iounitfor(s, r, f[7]);
				if(io == 0 || io > max)
					p9put32(f + P9_IOUNITOFF, max);
			}
			break;
		}
		if(n > s->msize)
			nm_rerror(s, r->ctag, EBIGREPLY);
		else if(r->openfd && ok)
			nm_openfdreply(s, r, f, n);
		else{
			p9put16(f + P9_TAGOFF, r->ctag);
			nm_sessput(s, f, n);
		}
	}
	nm_reqdone(r);
	return 0;
}

long
nmchanin(Nmchan *c, uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t off;
	long n;

	off = 0;
	while(off < len && c->state != NM_CREFUSED){
		n = p9frame(buf + off, len - off, c->state == NM_CVERSION ? c->up->msize : c->msize);
		if(n == P9_EINCOMPLETE)
			break;
		if(n < 0){
			nm_fail(err, errlen, "bad frame from upstream: %s", p9strerror((int)n));
			return -1;
		}
		if(c->state == NM_CVERSION && p9get16(buf + off + P9_TAGOFF) != P9_NOTAG)
			c->m->st.stray++;	/* a reply from before a new Tversion on the same connection */
		else if(c->state == NM_CVERSION)
			chanversion(c, buf + off, (size_t)n, err, errlen);
		else if(reply(c, buf + off, (size_t)n) < 0 && c->up->strict){
			nm_fail(err, errlen, "a reply (%s) with tag %u, which is in flight for nothing",
				p9typename(buf[off + 4]) ? p9typename(buf[off + 4]) : "unknown type", p9get16(buf + off + P9_TAGOFF));
			return -1;
		}
		off += (size_t)n;
	}
	return (long)off;
}

void
nm_sessdrop(Nmsess *s)
{
	Nmreq *r;
	Nmfid *f, *next;
	uint32_t i;

	if(s->chan)
		nm_ringdel(s->chan, s);
	while((r = s->rhead) != NULL){
		s->rhead = r->snext;
		nm_tagremove(s, r);
		s->reqbytes -= r->cost;
		s->m->reqbytes -= r->cost;
		r->sess = NULL;
		nm_reqfree(r);
	}
	s->rtail = NULL;
	s->ninflight = 0;
	s->hqhead = s->hqtail = NULL;
	s->nheld = s->nadm = s->nflush = 0;
	for(i = 0; i < s->nfidb; i++){
		for(f = s->fidtab[i]; f != NULL; f = next){
			next = f->hnext;
			f->state = FGONE;
			nm_fidput(f);
		}
		s->fidtab[i] = NULL;
	}
	s->nfids = 0;
}

void
nmchandown(Nmchan *c)
{
	Nmux *m;
	Nmup *u;
	Nmsess *s, *snext;
	Nmreq *r, *rn;
	Nmmsg *g, *gn;
	uint32_t i;
	int was;

	m = c->m;
	u = c->up;
	was = c->state;
	c->state = NM_CDOWN;
	if(u->cur == c)
		u->cur = NULL;
	nm_fdchandown(c);
	if(c->rs != NULL)
		nm_restoreabort(c);
	/*
	 * An upstream that persists keeps the sessions this channel served
	 * (a loss during a restore keeps them still): their frames not yet
	 * written are taken back first, to be sent on the next channel.
	 */
	if(u->persist && (was == NM_CREADY || was == NM_CRESTORE || u->lost)){
		if(!u->lost){
			u->lost = 1;
			memset(&u->cnt, 0, sizeof u->cnt);
		}
		for(s = c->sessions; s != NULL; s = s->cnext)
			s->persisting = s->state == SREADY && !s->closing;
		for(g = c->out.head; g != NULL; g = gn){
			gn = g->next;
			if((r = g->req) != NULL && r->sess != NULL && r->sess->persisting){
				nm_qunlink(&c->out, g);
				g->off = 0;
				g->req = NULL;
			}
		}
	}
	/* answer every client waiting, oldest first, so a reply precedes the Rflush of it */
	for(s = c->sessions; s != NULL; s = s->cnext)
		if(!s->persisting)
			nm_answerall(s, EUPLOST);
	/*
	 * Free every frame first (those waiting for a tag, then the queue,
	 * which clears each request's msg), then 9mux's own requests and
	 * zombies, which belong to no session, then the sessions' requests.
	 * What a kept session waits for stays, out of the channel's lists.
	 */
	for(r = c->whead; r != NULL; r = rn){
		rn = r->wnext;
		r->wnext = NULL;
		if(r->sess != NULL && r->sess->persisting)
			continue;
		nm_msgfree(m, r->msg);
		r->msg = NULL;
		if(r->sess == NULL)
			nm_reqfree(r);
	}
	c->whead = c->wtail = NULL;
	nm_qfree(&c->out);
	for(i = 0; i < c->nexttag; i++)
		if((r = c->tags[i]) != NULL && r->sess != NULL && r->sess->persisting)
			c->tags[i] = NULL;	/* the tag is the channel's, gone with it */
	for(s = c->sessions; s != NULL; s = s->cnext)
		if(s->persisting)
			nm_losesess(s, c);
	for(i = 0; i < c->nexttag; i++)
		if((r = c->tags[i]) != NULL && r->sess == NULL){
			/* the connection took its fid with it: the number is free on the next one */
			if(r->delfid && u->persist){
				nm_ufidfree(u, r->delfid->ufid);
				r->delfid->ufid = P9_NOFID;
			}
			nm_reqfree(r);
		}
	for(s = c->sessions; s != NULL; s = snext){
		snext = s->cnext;
		s->chan = NULL;
		s->cnext = s->cprev = NULL;
		nm_ringdel(c, s);
		if(s->persisting){
			s->persisting = 0;
			continue;
		}
		nm_sessdrop(s);
		if(s->closing){
			nm_sessfree(s);
			continue;
		}
		if(s->state == SDRAIN)
			nm_versionanswer(s);
		else if(!s->keep || s->state != SREADY){
			s->state = SDEAD;
			s->deaderr = EUPLOST;
		}
	}
	c->sessions = NULL;
	if(!u->persist){
		/* nothing of u lives on: its fid numbers start again */
		u->nextfid = 1;
		u->nfreefids = 0;
	}
	if(u->lost && (was == NM_CREADY || was == NM_CRESTORE)){
		m->st.losses++;
		nm_lostnote(u, c, was);
	}
	for(s = m->sessions; s != NULL; s = s->mnext)
		nm_unblock(s);
	if(m->mwhead)
		nm_memwake(m);
	free(c->tags);
	free(c->ring);
	free(c);
}
