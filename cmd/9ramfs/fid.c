/*
 * fid.c - a connection's fids, and the locks a handler takes: its fid,
 * fs.tree and a file's contents, in that order (ramfs.h), all let go by
 * release once its reply is made.  Opening a fid is here too, for the
 * handlers of both dialects.
 */
#include <stdlib.h>

#include "9p.h"
#include "ramfs.h"

enum {
	Maxfids = 1 << 20,	/* per connection: a bound on what one client can make us keep */
};

/* ---- fids ---- */

static size_t
fidhash(const Conn *c, uint32_t num)
{
	return (num * 2654435761u) & (c->fsize - 1);
}

/* Under Conn.flk. */
static Fid *
fidfind(Conn *c, uint32_t num)
{
	Fid *f;

	for(f = c->fids[fidhash(c, num)]; f != NULL; f = f->next)
		if(f->num == num)
			return f;
	return NULL;
}

/* Whether fid num is in the table just now. */
int
fidexists(Conn *c, uint32_t num)
{
	int r;

	pthread_mutex_lock(&c->flk);
	r = fidfind(c, num) != NULL;
	pthread_mutex_unlock(&c->flk);
	return r;
}

void
setcursor(Fid *f, File *x)
{
	if(x != NULL)
		fileincref(x);
	if(f->dcur != NULL)
		filedecref(f->dcur);
	f->dcur = x;
}

/* Drop a reference to f; the last one lets go of its file and recycles it. */
static void
fidput(Conn *c, Fid *f)
{
	int last;

	pthread_mutex_lock(&c->flk);
	last = --f->ref == 0;
	pthread_mutex_unlock(&c->flk);
	if(!last)
		return;
	setcursor(f, NULL);
	filedecref(f->file);
	strdecref(f->user);
	f->file = NULL;
	f->user = NULL;
	pthread_mutex_lock(&c->flk);
	f->next = c->freefids;
	c->freefids = f;
	pthread_mutex_unlock(&c->flk);
}

/* A new fid num on file for user, taking references to both: Eok, or why not. */
int
fidnew(Conn *c, uint32_t num, File *file, Str *user)
{
	Fid *f, **nt, *x, *xnext;
	size_t i, h, nsize;

	pthread_mutex_lock(&c->flk);
	/* another request of the connection may have made it meanwhile */
	if(fidfind(c, num) != NULL){
		pthread_mutex_unlock(&c->flk);
		return Efidinuse;
	}
	if(c->nfids >= Maxfids){
		pthread_mutex_unlock(&c->flk);
		return Efids;
	}
	if(c->nfids >= c->fsize * 2){
		nsize = c->fsize * 4;
		nt = calloc(nsize, sizeof nt[0]);
		if(nt != NULL){
			for(i = 0; i < c->fsize; i++)
				for(x = c->fids[i]; x != NULL; x = xnext){
					xnext = x->next;
					h = (x->num * 2654435761u) & (nsize - 1);
					x->next = nt[h];
					nt[h] = x;
				}
			free(c->fids);
			c->fids = nt;
			c->fsize = nsize;
		}
	}
	if(c->freefids != NULL){
		f = c->freefids;
		c->freefids = f->next;
	}else if((f = malloc(sizeof *f)) == NULL || pthread_rwlock_init(&f->lk, NULL) != 0){
		pthread_mutex_unlock(&c->flk);
		free(f);
		return Enomem;
	}
	f->num = num;
	f->ref = 1;	/* the table's */
	f->gone = 0;
	f->file = file;
	fileincref(file);
	f->user = strincref(user);
	f->omode = -1;
	f->rclose = 0;
	f->excl = 0;
	f->append = 0;
	f->dcur = NULL;
	f->dcookie = 0;
	f->doff = 0;
	h = fidhash(c, num);
	f->next = c->fids[h];
	c->fids[h] = f;
	c->nfids++;
	pthread_mutex_unlock(&c->flk);
	return Eok;
}

int
removable(const File *f, const Str *user)
{
	if(f == fs.root)
		return Eroot;
	if(!hasperm(f->parent, user, Pwrite))
		return Eperm;
	return Eok;
}

/*
 * Clunk f, held for writing: take it out of the table, release an
 * exclusive open, honour ORCLOSE.  The caller holds fs.tree, for
 * writing if f->rclose, else f->file for writing if f->excl.  Its file
 * goes with its last reference.
 */
void
fidclunk(Conn *c, Fid *f)
{
	Fid **l;

	pthread_mutex_lock(&c->flk);
	for(l = &c->fids[fidhash(c, f->num)]; *l != NULL; l = &(*l)->next)
		if(*l == f){
			*l = f->next;
			break;
		}
	c->nfids--;
	f->gone = 1;
	f->ref--;	/* the table's; whoever clunks holds another */
	pthread_mutex_unlock(&c->flk);
	if(f->excl){
		f->file->nexcl--;
		f->excl = 0;
	}
	if(f->rclose && f->file->linked && removable(f->file, f->user) == Eok)
		fileunlink(f->file);
	f->rclose = 0;
}

/* Clunk every fid: nothing else of c runs, and the caller writes fs.tree. */
void
clunkall(Conn *c)
{
	Fid *f;
	size_t i;

	for(i = 0; i < c->fsize; i++)
		while((f = c->fids[i]) != NULL){
			pthread_mutex_lock(&c->flk);
			f->ref++;
			pthread_mutex_unlock(&c->flk);
			fidclunk(c, f);
			fidput(c, f);
		}
}

/* ---- locks a handler takes, let go by release once the reply is made ---- */

/* Hold fid num for q, locked as lk says: NULL if there is no such fid. */
Fid *
fidhold(Req *q, uint32_t num, int lk)
{
	Conn *c;
	Fid *f;

	c = q->c;
	pthread_mutex_lock(&c->flk);
	f = fidfind(c, num);
	if(f != NULL)
		f->ref++;
	pthread_mutex_unlock(&c->flk);
	if(f == NULL)
		return NULL;
	if(lk == Lwr)
		pthread_rwlock_wrlock(&f->lk);
	else
		pthread_rwlock_rdlock(&f->lk);
	if(f->gone){
		/* clunked while we waited */
		pthread_rwlock_unlock(&f->lk);
		fidput(c, f);
		return NULL;
	}
	q->fid = f;
	return f;
}

void
treelock(Req *q, int lk)
{
	if(lk == Lwr)
		pthread_rwlock_wrlock(&fs.tree);
	else
		pthread_rwlock_rdlock(&fs.tree);
	q->treelk = (uint8_t)lk;
}

/* Lock f's contents; q holds fs.tree for reading. */
void
filelock(Req *q, File *f, int lk)
{
	if(lk == Lwr)
		pthread_rwlock_wrlock(&f->lk);
	else
		pthread_rwlock_rdlock(&f->lk);
	q->file = f;
	q->filelk = (uint8_t)lk;
}

/* Let go of all that q holds, in the reverse order. */
void
release(Req *q)
{
	if(q->filelk != Lnone){
		pthread_rwlock_unlock(&q->file->lk);
		q->filelk = Lnone;
		q->file = NULL;
	}
	if(q->treelk != Lnone){
		pthread_rwlock_unlock(&fs.tree);
		q->treelk = Lnone;
	}
	if(q->fid != NULL){
		pthread_rwlock_unlock(&q->fid->lk);
		fidput(q->c, q->fid);
		q->fid = NULL;
	}
}

/*
 * References to the file and user of fid num, taken with the fid held
 * for reading and let go at once: for a request that names two fids,
 * so that no thread holds two fid locks (whose order could not be kept).
 */
int
fidsnap(Req *q, uint32_t num, File **fp, Str **up)
{
	Fid *f;

	if((f = fidhold(q, num, Lrd)) == NULL)
		return Ebadfid;
	fileincref(f->file);
	*fp = f->file;
	if(up != NULL)
		*up = strincref(f->user);
	release(q);
	return Eok;
}

/* ---- opening ---- */

void
setmuid(File *f, Str *user)
{
	if(f->muid != user){
		strdecref(f->muid);
		f->muid = strincref(user);
	}
}

/*
 * Open fid's file: acc is OREAD..OEXEC; check says whether permission
 * matters.  fid is held for writing, and fs.tree for writing or the
 * file's contents are.
 */
int
openfid(Fid *fid, int acc, int trunc, int rclose, int check)
{
	File *f;
	int p, e;

	f = fid->file;
	switch(acc){
	case P9_OREAD:	p = Pread; break;
	case P9_OWRITE:	p = Pwrite; break;
	case P9_ORDWR:	p = Pread | Pwrite; break;
	default:	p = Pexec; break;
	}
	if(trunc)
		p |= Pwrite;
	/* open(5): a directory is never written, truncated or removed on close */
	if((f->mode & P9_DMDIR) && ((p & Pwrite) || rclose))
		return Eisdir;
	if((f->mode & P9_DMSYMLINK) && (p & Pwrite))
		return Eperm;
	if(check && !hasperm(f, fid->user, p))
		return Eperm;
	if(check && rclose && (e = removable(f, fid->user)) != Eok)
		return e;
	if((f->mode & P9_DMEXCL) && f->nexcl > 0)
		return Einuse;
	/* open(5): an append-only file opens with OTRUNC but is not truncated */
	if(trunc && !(f->mode & P9_DMAPPEND)){
		filesetlen(f, 0);
		filetouch(f, Tmtime | Tvers);
		setmuid(f, fid->user);
	}
	if(f->mode & P9_DMEXCL){
		f->nexcl++;
		fid->excl = 1;
	}
	fid->omode = acc;
	fid->rclose = rclose;
	setcursor(fid, NULL);
	fid->dcookie = 0;
	fid->doff = 0;
	return Eok;
}
