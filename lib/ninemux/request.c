/*
 * A client's requests: checked, translated, and queued; flush, version and attach.
 */
#include "impl.h"


void
nm_version(Nmsess *s, uint8_t *f, size_t n)
{
	size_t len;

	s->vtag = p9get16(f + P9_TAGOFF);
	if(n < 13 || (len = p9get16(f + 11)) != n - 13 || len >= sizeof s->vers){
		nm_rerror(s, s->vtag, EBADMSG);
		return;
	}
	s->vmsize = p9get32(f + 7);
	memcpy(s->vers, f + 13, len);
	s->vers[len] = '\0';
	s->nvers = len;
	if(s->state == SREADY){
		/* version(5): a Tversion aborts all I/O and clunks every fid of the session */
		nm_drainstart(s);
		return;
	}
	nm_versionanswer(s);
}

static void
flush(Nmsess *s, uint8_t *f, size_t n)
{
	uint16_t tag, oldtag;
	Nmreq *t, *r;

	tag = p9get16(f + P9_TAGOFF);
	if(n != 9){
		nm_rerror(s, tag, EBADMSG);
		return;
	}
	oldtag = p9get16(f + 7);
	t = nm_tagfind(s, oldtag);
	if(t == NULL){
		nm_rflush(s, tag);
		return;
	}
	/* a request sent as pieces, or a flush waiting for them: neither is on the wire itself (split.c) */
	if(t->split != NULL){
		nm_splitflush(s, t, tag);
		return;
	}
	if(t->parent != NULL){
		nm_splitunflush(s, t, tag);
		return;
	}
	if(nm_canunsend(t)){
		if(t->delfid)
			nm_keepclunk(t);
		else{
			/* still inside 9mux: it never happens */
			nm_unsend(t);
			t->orphan = 1;
			nm_undo(t);
		}
		nm_rflush(s, tag);
		return;
	}
	if(s->chan == NULL){
		/* waiting for a restore, everything is held: nothing was sent (lose.c) */
		nm_rflush(s, tag);
		return;
	}
	r = nm_reqnew(s, s->chan, Tflush, tag);
	if(r == NULL){
		nm_rerror(s, tag, ENOMEM_);
		return;
	}
	nm_taginsert(s, r);
	r->cflush = 1;
	s->nflush++;
	r->target = t;
	r->nextflusher = t->flushers;
	t->flushers = r;
	p9put16(f + 7, t->utag);
	r->msg = nm_msgnew(s->m, f, n);
	if(r->msg == NULL){
		t->flushers = r->nextflusher;
		r->target = NULL;
		nm_sessunlink(r);
		nm_reqfree(r);
		nm_rerror(s, tag, ENOMEM_);
		return;
	}
	s->m->st.flushes++;
	nm_chansend(s->chan, r);
}

/* Where the counted string at off ends, or 0 if it runs past n. */
static size_t
strend(const uint8_t *f, size_t n, size_t off)
{
	if(n < 2 || n - 2 < off)
		return 0;
	if(n - off - 2 < p9get16(f + off))
		return 0;
	return off + 2 + p9get16(f + off);
}

/*
 * Tauth or Tattach: note uname and aname in the new fid, and rebuild
 * the frame with the pinned uname if the session has one.  The frame
 * to send (f or *out, malloc'd) and its length; 0 on error e.
 */
static size_t
attach(Nmsess *s, Nmreq *r, uint8_t *f, size_t n, uint8_t **out, int *e)
{
	size_t uoff, uend, aend, k, pl;
	uint8_t *b;

	*out = NULL;
	uoff = f[4] == Tattach ? 15 : 11;
	if((uend = strend(f, n, uoff)) == 0 || (aend = strend(f, n, uend)) == 0){
		*e = EBADMSG;
		return 0;
	}
	if(f[4] == Tauth && r->newfid)
		r->newfid->flags |= FFAUTH;
	else if(f[4] == Tattach && r->newfid && p9get32(f + 11) != P9_NOFID)
		r->newfid->flags |= FFAUTH;	/* nobody can authenticate it again for its client */
	if(r->newfid && (r->newfid->root = calloc(1, sizeof(Nmroot))) != NULL){
		r->newfid->root->ref = 1;
		r->newfid->root->nuname = P9_NOFID;
		if(s->pinned && s->dialect != P9_2000)
			r->newfid->root->nuname = s->pinuid;
		else if(s->dialect != P9_2000 && n - aend >= 4)
			r->newfid->root->nuname = p9get32(f + aend);
		if(s->pinned)
			r->newfid->root->uname = nm_xstrndup(s->pin, strlen(s->pin));
		else
			r->newfid->root->uname = nm_xstrndup((const char *)f + uoff + 2, uend - uoff - 2);
		r->newfid->root->aname = nm_xstrndup((const char *)f + uend + 2, aend - uend - 2);
		r->newfid->path = nm_xstrndup("", 0);
	}
	if(!s->pinned)
		return n;
	pl = strlen(s->pin);
	k = uoff + 2 + pl + (aend - uend);
	if(s->dialect != P9_2000)
		k += 4;
	if(k > (s->chan ? s->chan->msize : s->msize)){
		*e = EPIN;
		return 0;
	}
	b = malloc(k);
	if(b == NULL){
		*e = ENOMEM_;
		return 0;
	}
	memcpy(b, f, uoff);
	p9put32(b, (uint32_t)k);
	p9put16(b + uoff, (uint16_t)pl);
	memcpy(b + uoff + 2, s->pin, pl);
	memcpy(b + uoff + 2 + pl, f + uend, aend - uend);
	if(s->dialect != P9_2000)
		p9put32(b + k - 4, s->pinuid);
	*out = b;
	return k;
}

/* One whole T-message frame from a client. */
static void
request(Nmsess *s, uint8_t *f, size_t n)
{
	P9fidref refs[P9_MAXFIDS];
	Nmfid *use[P9_MAXFIDS], *del;
	Nmreq *r;
	uint8_t type, *b;
	uint16_t tag;
	uint32_t v, ufid, cnt, max;
	size_t k;
	int i, nref, newi, e, inplace, openfd, split;
	char ebuf[128];

	type = f[4];
	tag = p9get16(f + P9_TAGOFF);
	nm_countin(s, n);
	nm_trace(s->m, s->id, NM_TCIN, f, n, s->state == SNEW ? P9_2000 : s->dialect);
	if(type == Tversion){
		nm_version(s, f, n);
		return;
	}
	if(s->state == SNEW){
		/* flush(5): a Tflush is never answered Rerror; nothing of this session is in flight */
		if(type == Tflush && n == 9)
			nm_rflush(s, tag);
		else
			nm_rerror(s, tag, ENOVERS);
		return;
	}
	if(s->state == SDEAD || (s->chan == NULL ? !(s->up && s->up->lost) : s->chan->state != NM_CREADY)){
		/* nothing of a dead or waiting session is in flight; one waiting for a restore holds its requests */
		if(type == Tflush && n == 9)
			nm_rflush(s, tag);
		else if(s->state == SDEAD)
			nm_rerror(s, tag, s->deaderr ? s->deaderr : EUPLOST);
		else if(s->chan == NULL && s->up != NULL)
			nm_rerrorstr(s, tag, s->up->why, nm_errtab[EUPWAIT].errnum);
		else
			nm_rerror(s, tag, EUPLOST);
		return;
	}
	if(nm_tagfind(s, tag) != NULL){
		/* the old request is undisturbed; the client sees this error under the same tag first */
		nm_rerror(s, tag, ETAGINUSE);
		return;
	}
	if(type == Tflush){
		flush(s, f, n);
		return;
	}
	/* plan9port's Topenfd: a Topen now, its reply told apart */
	openfd = nm_isopenfd(s, f, n);
	type = f[4];
	if(type == Terror || type == Tlerror || !p9known(type, s->dialect)){
		nm_rerror(s, tag, ETYPE);
		return;
	}
	nref = p9fidmap(f, n, s->dialect, refs);
	if(nref < 0){
		nm_rerror(s, tag, nref == P9_ETYPE ? ETYPE : EBADMSG);
		return;
	}
	/* what waits for room in the total budget (nmsessin) must be able to fit at all */
	if(nm_holdsmem(type) && (k = nm_reqcost(s, f, n)) > s->m->conf.maxbytes){
		s->m->st.overbudget++;
		snprintf(ebuf, sizeof ebuf, "9mux: request needs %zu bytes, more than the memory limit -B %zu",
			k, s->m->conf.maxbytes);
		nm_rerrorstr(s, tag, ebuf, nm_errtab[EBUDGET].errnum);
		return;
	}

	/* check everything before changing anything */
	newi = -1;
	del = NULL;
	inplace = 0;
	for(i = 0; i < nref; i++){
		use[i] = NULL;
		v = p9get32(f + refs[i].off);
		switch(refs[i].role & 0xF){
		case P9_FIDUSE:
			if(v == P9_NOFID && (refs[i].role & P9_FIDOPT))
				break;
			if((use[i] = nm_fidfind(s, v)) == NULL || use[i]->state != FLIVE){
				nm_rerror(s, tag, EUNKFID);
				return;
			}
			if(use[i]->flags & FFDEAD){
				nm_rerror(s, tag, EFIDDEAD);
				return;
			}
			break;
		case P9_FIDNEW:
			newi = i;
			if(type == Twalk && nref == 2 && v == p9get32(f + refs[1 - i].off)){
				inplace = 1;
				break;
			}
			if(v == P9_NOFID){
				nm_rerror(s, tag, EBADFID);
				return;
			}
			if(nm_fidfind(s, v) != NULL){
				nm_rerror(s, tag, EFIDINUSE);
				return;
			}
			if(s->nfids >= s->m->conf.maxfids){
				s->m->st.toomanyfids++;
				nm_rerror(s, tag, ETOOMANYFIDS);
				return;
			}
			break;
		case P9_FIDDEL:
			if((del = nm_fidfind(s, v)) == NULL || del->state != FLIVE){
				nm_rerror(s, tag, EUNKFID);
				return;
			}
			if(del->flags & FFDEAD){
				/* nothing of it is upstream: the clunk succeeds, a remove cannot */
				nm_fidunlink(del);
				if(type == Tclunk)
					nm_rempty(s, tag, Rclunk);
				else
					nm_rerror(s, tag, EFIDDEAD);
				return;
			}
			break;
		}
	}
	/* a directory opened again by a restore has no offsets from before it */
	if((type == Tread || type == Treaddir) && use[0] != NULL && (use[0]->flags & FFDIRRESET)){
		if(p9get64(f + 11) != 0){
			nm_rerror(s, tag, EDIROFF);
			return;
		}
		use[0]->flags &= ~FFDIRRESET;
	}

	r = nm_reqnew(s, s->chan, type, tag);
	if(r == NULL){
		nm_rerror(s, tag, ENOMEM_);
		return;
	}
	r->openfd = openfd;
	nm_taginsert(s, r);
	s->m->st.treqs++;
	if(newi >= 0 && !inplace){
		r->newfid = nm_fidnew(s, p9get32(f + refs[newi].off));
		if(r->newfid == NULL){
			nm_sessunlink(r);
			nm_reqfree(r);
			nm_rerror(s, tag, ENOMEM_);
			return;
		}
		r->newfid->ref++;	/* the request's reference; the table has one */
	}
	for(i = 0; i < nref; i++){
		v = p9get32(f + refs[i].off);
		switch(refs[i].role & 0xF){
		case P9_FIDUSE:
			ufid = use[i] ? use[i]->ufid : P9_NOFID;
			if(use[i] && r->fid == NULL){
				r->fid = use[i];
				r->fid->ref++;
			}else if(use[i]){
				/* a restore must know of both */
				r->fid2 = use[i];
				r->fid2->ref++;
			}
			break;
		case P9_FIDNEW:
			ufid = inplace ? use[1 - i]->ufid : r->newfid->ufid;
			break;
		default:
			ufid = del->ufid;
			break;
		}
		p9put32(f + refs[i].off, ufid);
	}
	if(del){
		/* the client's number is free now; the upstream fid waits for the reply */
		del->ref++;
		nm_fidunlink(del);
		r->delfid = del;
	}

	b = NULL;
	split = 0;
	switch(type){
	case Tread:
	case Treaddir:
		/*
		 * The reply must fit the client's msize; a read that goes in
		 * pieces may be as large, others are cut to the iounit 9mux
		 * lets through.
		 */
		cnt = p9get32(f + P9_RWCOUNTOFF);
		max = nmsessmsize(s) - P9_READHDRSZ;
		if(cnt > max)
			cnt = max;
		split = type == Tread && nm_splits(s, r->fid, type, cnt);
		max = split ? max : nm_readmax(s);
		if(cnt > max)
			cnt = max;
		p9put32(f + P9_RWCOUNTOFF, cnt);
		break;
	case Twrite:
		split = nm_splits(s, r->fid, type, p9get32(f + P9_RWCOUNTOFF));
		break;
	case Twalk:
		r->nwname = p9get16(f + 15);
		if(!inplace)
			r->newfid->flags |= r->fid->flags & FFINHERIT;
		if(!inplace && (r->newfid->root = r->fid->root) != NULL)
			r->newfid->root->ref++;
		if(inplace){
			r->inplace = 1;
			r->newpath = nm_pathwalk(s->m, r->fid->path, f + 17, f + n, r->nwname);
		}else
			r->newfid->path = nm_pathwalk(s->m, r->fid->path, f + 17, f + n, r->nwname);
		break;
	case Txattrwalk:
		r->newfid->flags |= r->fid->flags & FFINHERIT;
		if((r->newfid->root = r->fid->root) != NULL)
			r->newfid->root->ref++;
		if(r->fid->path)
			r->newfid->path = nm_xstrndup(r->fid->path, strlen(r->fid->path));
		break;
	case Topen:
		r->omode = f[11];
		break;
	case Tlopen:
		r->omode = (int)p9get32(f + 11);
		break;
	case Tlock:
		/* type[1] flags[4] start[8] length[8]: whether a successful one leaves a lock held */
		r->omode = f[11];
		if(n >= 32 && p9get64(f + 16) == 0 && p9get64(f + 24) == 0)
			r->omode |= LOCKALL;
		break;
	case Tcreate:
	case Tlcreate:
		r->newpath = nm_pathwalk(s->m, r->fid->path, f + 11, f + n, 1);
		k = strend(f, n, 11);
		if(k != 0 && type == Tcreate && n - k >= 5)
			r->omode = f[k + 4];
		else if(k != 0 && type == Tlcreate && n - k >= 4)
			r->omode = (int)p9get32(f + k);
		break;
	case Tauth:
	case Tattach:
		e = 0;
		k = attach(s, r, f, n, &b, &e);
		if(k == 0){
			nm_undo(r);	/* nothing was sent: the new fid goes */
			nm_rerror(s, tag, e);
			return;
		}
		if(b){
			f = b;
			n = k;
		}
		break;
	}
	if(split){
		/* counted as any read: itself and its largest reply, the joined one */
		r->cost = nm_reqcost(s, f, n);
		s->reqbytes += r->cost;
		s->m->reqbytes += r->cost;
		if(nm_split(s, r, f) < 0){
			r->orphan = 1;
			nm_undo(r);
			nm_rerror(s, tag, ENOMEM_);
		}
		return;
	}
	r->msg = nm_msgnew(s->m, f, n);
	free(b);
	if(r->msg == NULL){
		/* a fid it would destroy is gone for the client: clunk it upstream */
		r->orphan = 1;
		nm_undo(r);
		nm_rerror(s, tag, ENOMEM_);
		return;
	}
	if(s->up != NULL && s->up->persist)
		r->replay = nm_replayable(r, r->msg->data, r->msg->len, s->dialect);
	r->cost = nm_reqcost(s, r->msg->data, r->msg->len);
	r->weight = r->cost;
	s->reqbytes += r->cost;
	s->m->reqbytes += r->cost;
	nm_enqueue(s, r);
}

/*
 * Whether a client's Tflush may come in now.  It is not held, so it
 * may come in past the held queue's bound and make room; only its own
 * count in flight and a client not reading its replies stop it.
 */
static int
flushroom(Nmsess *s)
{
	return s->nflush < s->m->conf.maxreqs && s->out.bytes < nm_sessbudget(s);
}

long
nmsessin(Nmsess *s, uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t off, cost;
	long n;
	Nmchan *c;

	off = 0;
	while(off < len){
		c = s->up ? s->up->cur : NULL;
		if(s->closing || s->state == SDRAIN){
			s->blocked = 1;
			break;
		}
		n = p9frame(buf + off, len - off, nmsessmsize(s));
		if(n == P9_EINCOMPLETE)
			break;
		if(n < 0){
			nm_fail(err, errlen, "bad frame: %s", p9strerror((int)n));
			return -1;
		}
		/*
		 * The held queue is bounded, and so is what the session holds
		 * in 9mux: past either the client waits in its socket.
		 */
		cost = nm_reqcost(s, buf + off, (size_t)n);
		if(buf[off + 4] == Tflush ? !flushroom(s)
		: s->nheld >= s->m->conf.maxreqs || !nm_sessroom(s, cost)){
			s->blocked = 1;
			break;
		}
		/*
		 * Past the total budget the client waits, in line behind those
		 * already waiting, unless it could never fit (request refuses it).
		 */
		if(nm_holdsmem(buf[off + 4]) && cost <= s->m->conf.maxbytes){
			if(nm_overtotal(s->m, cost) || (s->m->mwhead != NULL && !s->memgo)){
				nm_memblock(s, cost);
				break;
			}
			s->memgo = 0;
		}
		/*
		 * A Tversion waits for the upstream's own; while the upstream
		 * is being reached (nmupwait), so does everything a session
		 * without a channel would be refused.
		 */
		if(buf[off + 4] == Tversion ? (c != NULL && c->state == NM_CVERSION) || (c == NULL && s->up && s->up->pending)
		: s->state == SREADY && s->chan == NULL && s->up && s->up->pending && !s->up->lost){
			s->blocked = 1;
			break;
		}
		request(s, buf + off, (size_t)n);
		off += (size_t)n;
	}
	return (long)off;
}

/*
 * A session waiting (nmsessin stopped before a whole frame) would not
 * read a Tflush sent after the request it waits with: a client whose
 * requests upstream never end could never flush them.  So the Tflushes
 * among the frames still in its buffer are handled now, out of turn,
 * which is what the client would see anyway if 9mux had read them.
 */
size_t
nmsessflushes(Nmsess *s, uint8_t *buf, size_t len)
{
	size_t off, k, at, n;
	uint16_t tag, oldtag;
	long m;
	int found;

	if(s->closing || s->state != SREADY ||
	(s->chan == NULL ? !(s->up && s->up->lost) : s->chan->state != NM_CREADY))
		return len;
	off = 0;
	while(off < len){
		m = p9frame(buf + off, len - off, nmsessmsize(s));
		if(m <= 0)
			break;		/* incomplete, or bad: nmsessin says so in its turn */
		n = (size_t)m;
		if(buf[off + 4] == Tversion)
			break;		/* what follows belongs to the session it begins */
		if(buf[off + 4] != Tflush || n != 9){
			off += n;
			continue;
		}
		if(!flushroom(s))
			break;
		tag = p9get16(buf + off + P9_TAGOFF);
		oldtag = p9get16(buf + off + 7);
		/* the last request before it under oldtag, if still unread by the engine */
		found = 0;
		at = 0;
		for(k = 0; k < off; k += p9get32(buf + k)){
			if(p9get16(buf + k + P9_TAGOFF) == tag)
				found = -1;	/* its own tag comes before it: keep the order */
			else if(found >= 0 && p9get16(buf + k + P9_TAGOFF) == oldtag){
				found = 1;
				at = k;
			}
		}
		if(found < 0 || (found && (buf[at + 4] == Tclunk || buf[at + 4] == Tremove || buf[at + 4] == Tflush))){
			/* those keep their order: a clunk still happens */
			off += n;
			continue;
		}
		nm_countin(s, n);
		nm_trace(s->m, s->id, NM_TCIN, buf + off, n, s->dialect);
		if(found){
			/* neither it nor the flush reaches the engine: the request never happened */
			k = p9get32(buf + at);
			nm_countin(s, k);
			memmove(buf + at, buf + at + k, len - at - k);
			len -= k;
			off -= k;
			nm_rflush(s, tag);
		}else if(nm_tagfind(s, tag) != NULL)
			nm_rerror(s, tag, ETAGINUSE);
		else
			flush(s, buf + off, n);
		memmove(buf + off, buf + off + n, len - off - n);
		len -= n;
	}
	return len;
}
