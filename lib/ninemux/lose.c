/*
 * Reconnect, the loss: what a lost channel's sessions keep.
 *
 * When the channel of an upstream that persists (nmuppersist) is lost,
 * the sessions it served stay, unbound.  Of their requests, those the
 * server never saw whole go back to the held queue; those it may have
 * seen are sent again if they are safe to repeat (their frame was kept
 * when it was written), and are otherwise answered at once with one
 * error, their outcome unknown.  Flushes of what was lost are answered
 * at once.  New requests are held meanwhile, within the usual limits.
 * How the next channel gets the fids back is restore.c; when the wait
 * is given up (nmupgiveup), what the sessions held fails here.
 */
#include "impl.h"

/*
 * Requests.
 */

int
nm_replayable(Nmreq *r, const uint8_t *f, size_t n, int d)
{
	(void)d;
	switch(r->type){
	case Twalk:
	case Tstat:
	case Tgetattr:
	case Tread:
	case Treaddir:
	case Tstatfs:
	case Treadlink:
	case Txattrwalk:
		return 1;
	case Topen:
		return n >= 12 && (f[11] & P9_OTRUNC) == 0;
	case Tlopen:
		return n >= 15 && (p9get32(f + 11) & LOTRUNC) == 0;
	case Tattach:
		/* a new attach is as good as the lost one, unless its client authenticated it */
		return n >= 15 && p9get32(f + 11) == P9_NOFID;
	}
	return 0;
}

/* Whether the outcome of r, once lost, needs no telling: it changed nothing. */
static int
harmless(Nmreq *r)
{
	return r->replay || r->type == Tclunk;
}

int
nm_sesswaits(Nmsess *s, Nmup *u)
{
	return s->up == u && s->state == SREADY && !s->closing && s->chan == NULL;
}

/* r goes at the end of the list *head..*tail, held again. */
static void
requeue(Nmreq *r, Nmreq **head, Nmreq **tail)
{
	r->state = RHELD;
	r->hnextq = NULL;
	if(*tail)
		(*tail)->hnextq = r;
	else
		*head = r;
	*tail = r;
}

/*
 * Free r, held or lost: a fid it would have made was never made; its
 * fid number is free.  A client's flush r settled (see nm_reqdone) is
 * answered now, after whatever r was answered.
 */
void
nm_lostfree(Nmreq *r, Nmup *u)
{
	Nmfid *f;

	if(r->owes && r->sess != NULL && !r->sess->closing)
		nm_rflush(r->sess, r->owetag);
	r->owes = 0;

	if((f = r->newfid) != NULL){
		r->newfid = NULL;
		if(f->state == FPEND){
			nm_ufidfree(u, f->ufid);
			f->ufid = P9_NOFID;
			nm_fidunlink(f);
		}
		nm_fidput(f);
	}
	if((f = r->delfid) != NULL){
		r->delfid = NULL;
		/* a restore's job on it, if any, frees its number */
		if(!(f->flags & FFMARK)){
			nm_ufidfree(u, f->ufid);
			f->ufid = P9_NOFID;
		}
		nm_fidput(f);
	}
	nm_sessunlink(r);
	nm_reqfree(r);
}

/* A Tclunk frame of r's delfid, for r to send: 0, or -1 if out of memory. */
static int
clunkframe(Nmreq *r)
{
	Nmmsg *g;

	if((g = nm_msgalloc(r->m, 11)) == NULL)
		return -1;
	p9put32(g->data, 11);
	g->data[4] = Tclunk;
	p9put16(g->data + 5, P9_NOTAG);
	p9put32(g->data + 7, r->delfid->ufid);
	nm_msgfree(r->m, r->msg);
	nm_msgfree(r->m, r->keep);
	r->keep = NULL;
	r->msg = g;
	r->type = Tclunk;
	return 0;
}

/*
 * r, lost, destroyed a fid other requests kept before it still use:
 * those are sent again on restored fids, so the fid must come back
 * and be clunked after them, by r made an orphan Tclunk.  Else r ends.
 */
static void
lostend(Nmreq *r, Nmup *u, Nmreq **head, Nmreq **tail)
{
	if(r->delfid != NULL && r->delfid->ref > 1 && clunkframe(r) == 0){
		r->orphan = 1;
		nm_tagremove(r->sess, r);
		requeue(r, head, tail);
		return;
	}
	nm_lostfree(r, u);
}

void
nm_losesess(Nmsess *s, Nmchan *c)
{
	Nmreq *r, *next, *head, *tail;
	Nmup *u;
	Nmfid *f;
	uint32_t i;
	int n;

	u = c->up;
	u->cnt.sessions++;
	n = 0;
	/* split requests first, while their pieces' flushes still name them */
	nm_splitlose(s, u);
	/* a client's flush in flight: whatever the server did, its target was flushed */
	for(r = s->rhead; r != NULL; r = r->snext)
		if(r->type == Tflush && r->cflush && r->target != NULL && !r->target->zombie)
			r->target->flushed = 1;
	/* nothing of it names the channel now; each flush is answered here, so its link to its target ends */
	for(r = s->rhead; r != NULL; r = r->snext){
		r->target = r->flushers = r->nextflusher = NULL;
		r->chan = NULL;
		if(r->fid)
			r->fid->chan = NULL;
		if(r->fid2)
			r->fid2->chan = NULL;
		if(r->delfid)
			r->delfid->chan = NULL;
		if(r->newfid)
			r->newfid->chan = NULL;
		if(r->admitted){
			r->admitted = 0;
			s->nadm--;
		}
	}
	head = tail = NULL;
	for(r = s->rhead; r != NULL; r = next){
		next = r->snext;
		if(r->parent != NULL && r->type != Tflush){
			/* a piece: of no more use (nm_splitlose), or kept for the restore, a read sent again */
			if(r->flushed){
				if(r->state == RHELD)
					nm_unhold(s, r);
				r->state = 0;
				nm_lostfree(r, u);
			}else if(r->state != RHELD){
				if(r->msg == NULL){
					r->msg = r->keep;
					r->keep = NULL;
				}
				r->msg->off = 0;
				requeue(r, &head, &tail);
				u->cnt.replay++;
				s->m->st.replayed++;
			}
			continue;
		}
		/* one that ended is an orphan now, freed below like any; the others wait for their pieces */
		if(r->split != NULL && !r->orphan)
			continue;
		if(r->state == RHELD)
			continue;
		if(r->type == Tflush){
			if(r->hashed && !r->orphan){
				nm_rflush(s, r->ctag);
				u->cnt.answered++;
			}
			nm_lostfree(r, u);
			continue;
		}
		if(r->msg != NULL){
			/* never whole on the wire, so never done: as if still held */
			r->msg->off = 0;
			nm_msgfree(r->m, r->keep);
			r->keep = NULL;
			requeue(r, &head, &tail);
			u->cnt.unsent++;
			s->m->st.replayed++;
			continue;
		}
		if(r->orphan || r->flushed){
			/* nobody waits for it, or its client flushed it: it ends, told only if it may have done something */
			if(!r->orphan && !harmless(r)){
				nm_rerror(s, r->ctag, EUNKNOWN);
				u->cnt.unknown++;
				s->m->st.unknown++;
			}
			lostend(r, u, &head, &tail);
			continue;
		}
		if(r->type == Tclunk){
			/* the loss clunked it; it is made again to be clunked only if requests before it use it */
			if(r->delfid != NULL && r->delfid->ref > 1 && clunkframe(r) == 0){
				requeue(r, &head, &tail);
				u->cnt.replay++;
				continue;
			}
			nm_rempty(s, r->ctag, Rclunk);
			u->cnt.answered++;
			nm_lostfree(r, u);
			continue;
		}
		if(r->keep != NULL){
			r->msg = r->keep;
			r->keep = NULL;
			r->msg->off = 0;
			requeue(r, &head, &tail);
			u->cnt.replay++;
			s->m->st.replayed++;
			continue;
		}
		nm_rerror(s, r->ctag, EUNKNOWN);
		u->cnt.unknown++;
		s->m->st.unknown++;
		/* a Tremove's fid is gone for its client either way */
		lostend(r, u, &head, &tail);
	}
	/* what goes again goes first, in the order it came */
	if(head != NULL){
		for(r = head; r != NULL; r = r->hnextq)
			n++;
		tail->hnextq = s->hqhead;
		s->hqhead = head;
		if(s->hqtail == NULL)
			s->hqtail = tail;
		s->nheld += n;
	}
	for(i = 0; i < s->nfidb; i++)
		for(f = s->fidtab[i]; f != NULL; f = f->hnext){
			f->chan = NULL;
			if(f->state == FLIVE && !(f->flags & FFDEAD))
				u->cnt.fids++;
		}
	s->waslost = 1;
}

/*
 * Notes.
 */

void
nm_note(Nmux *m, void *aux, int what, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if(m->conf.note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	m->conf.note(aux, what, msg);
}

void
nm_lostnote(Nmup *u, Nmchan *c, int was)
{
	Nmcount *k;

	k = &u->cnt;
	if(was == NM_CRESTORE){
		nm_note(u->m, c->aux, NM_NLOST, "lost while restoring (%d fids restored, %d dead so far): "
			"the restore starts again on the next connection", k->restored, k->dead);
		return;
	}
	nm_note(u->m, c->aux, NM_NLOST, "lost: %d sessions wait with %d fids to restore; of the requests in flight "
		"%d wait to be sent again and %d were never written, %d failed (outcome unknown), "
		"%d flushes and clunks were answered", k->sessions, k->fids, k->replay, k->unsent, k->unknown, k->answered);
}

/*
 * A held Tclunk of a fid nothing else uses needs no restore of it: the
 * loss clunked it.  Answered now, it leaves the held queue.
 */
void
nm_heldclunks(Nmsess *s, Nmup *u)
{
	Nmreq *r, *next;
	Nmfid *f;

	for(r = s->hqhead; r != NULL; r = next){
		next = r->hnextq;
		if(r->type != Tclunk || (f = r->delfid) == NULL || f->ref > 1 || f->chan != NULL)
			continue;
		nm_unhold(s, r);
		r->state = 0;
		if(r->hashed && !r->orphan)
			nm_rempty(s, r->ctag, Rclunk);
		u->cnt.answered++;
		nm_lostfree(r, u);
	}
}

/*
 * Giving up.
 */

void
nm_failsess(Nmsess *s, Nmchan *c, int e)
{
	Nmreq *r;
	Nmfid *f;
	uint32_t i;

	(void)c;
	nm_answerall(s, e);
	/* everything it holds is held, and goes */
	while((r = s->rhead) != NULL){
		if(r->state == RHELD)
			nm_unhold(s, r);
		r->state = 0;
		if((f = r->delfid) != NULL && f->chan != NULL){
			/* made again by a restore under way: clunked there */
			r->delfid = NULL;
			nm_clunkfid(f->chan, f);
		}
		nm_lostfree(r, s->up);
	}
	s->waslost = 0;
	for(i = 0; i < s->nfidb; i++)
		while((f = s->fidtab[i]) != NULL){
			f->ref++;
			nm_fidunlink(f);
			if(f->chan != NULL)
				nm_clunkfid(f->chan, f);
			else{
				/* a restore's job on it, if any, frees its number */
				if(!(f->flags & FFMARK)){
					nm_ufidfree(s->up, f->ufid);
					f->ufid = P9_NOFID;
				}
				nm_fidput(f);
			}
		}
}

void
nmuppersist(Nmup *u, int on)
{
	u->persist = on != 0;
}

int
nmuplost(Nmup *u)
{
	return u->lost;
}

void
nmupgiveup(Nmup *u)
{
	Nmchan *c;
	Nmsess *s;
	int n;

	if(!u->lost)
		return;
	u->lost = 0;
	c = u->cur;
	n = 0;
	for(s = u->m->sessions; s != NULL; s = s->mnext){
		if(!nm_sesswaits(s, u))
			continue;
		n += s->waslost;
		/* as if it had not persisted: a session the loss kept is dead (a link's stays, without fids) */
		if(s->waslost && !s->keep){
			nm_failsess(s, c, EGIVEUP);
			s->state = SDEAD;
			s->deaderr = EGIVEUP;
		}else
			nm_failsess(s, c, EGIVEUP);
	}
	if(c != NULL && c->state == NM_CRESTORE){
		nm_restoreabandon(c);
		for(s = u->m->sessions; s != NULL; s = s->mnext)
			if(nm_sesswaits(s, u)){
				if(nm_sessfits(s, c))
					nm_sessbind(s, c);
				else{
					s->state = SDEAD;
					s->deaderr = ERESET;
				}
			}
	}
	nm_note(u->m, c ? c->aux : NULL, NM_NGIVEUP, "gave up waiting: %d sessions failed, as without persist", n);
	for(s = u->m->sessions; s != NULL; s = s->mnext)
		nm_unblock(s);
}
