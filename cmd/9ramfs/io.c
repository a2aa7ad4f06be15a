/*
 * io.c - the handlers that read and write: a file's contents, a
 * directory's entries (9P2000 stat entries, 9P2000.L's readdir), stat
 * and getattr, a symbolic link's target.
 */
#include <string.h>

#include "9p.h"
#include "ramfs.h"

enum {
	/* Linux values, as 9P2000.L carries them */
	LS_IFDIR = 0040000,
	LS_IFREG = 0100000,
	LS_IFLNK = 0120000,
	LDT_DIR = 4,
	LDT_REG = 8,
	LDT_LNK = 10,

	GA_BASIC = 0x7ff,
};

/* ---- helpers ---- */

static P9str
strview(const Str *s)
{
	P9str v;

	v.s = s->s;
	v.n = s->n;
	return v;
}

/* f's stat entry: fs.tree held, and f's contents locked for reading. */
static void
dirof(const File *f, P9dir *d, int dialect)
{
	struct timespec at;

	memset(d, 0, sizeof *d);
	d->qid = qidof(f);
	d->mode = f->mode;
	if(dialect != P9_2000U)
		d->mode &= ~P9_DMSYMLINK;
	fileatime(f, &at);
	d->atime = (uint32_t)at.tv_sec;
	d->mtime = (uint32_t)f->mtime.tv_sec;
	d->length = (f->mode & P9_DMDIR) ? 0 : f->length;
	if(f == fs.root)
		d->name = p9str("/");
	else{
		d->name.s = f->name;
		d->name.n = f->namelen;
	}
	d->uid = strview(f->uid);
	d->gid = strview(f->gid);
	d->muid = strview(f->muid);
	if(dialect == P9_2000U){
		if(f->mode & P9_DMSYMLINK){
			d->extension.s = (const char*)f->data;
			d->extension.n = (uint16_t)f->length;
		}
		d->nuid = strid(f->uid);
		d->ngid = strid(f->gid);
		d->nmuid = strid(f->muid);
	}
}

/* The start of a directory read resuming after the cursor (cookie after). */
static File *
resume(Fid *fid, File *dir, uint64_t after)
{
	File *x;

	x = fid->dcur;
	if(x != NULL && fid->dcookie == after && x->linked && x->parent == dir)
		return x->next;
	return filefirst(dir, after);
}

static uint32_t
lmode(const File *f)
{
	if(f->mode & P9_DMDIR)
		return LS_IFDIR | (f->mode & 0777);
	if(f->mode & P9_DMSYMLINK)
		return LS_IFLNK | (f->mode & 0777);
	return LS_IFREG | (f->mode & 0777);
}

/* ---- 9P2000 and shared messages ---- */

/*
 * 9P2000 directory read: whole stat entries, resuming only where the
 * last read ended.  fid is held for writing (its cursor moves), fs.tree
 * for reading; each entry's contents are locked while it is packed.
 */
static int
dirread(Req *q, Fid *fid, const Fcall *t, uint32_t count)
{
	Conn *c;
	File *dir, *x, *last;
	P9dir d;
	uint8_t *p;
	size_t sz, used;

	c = q->c;
	dir = fid->file;
	if(t->offset == 0)
		x = dir->child;
	else if(t->offset == fid->doff)
		x = resume(fid, dir, fid->dcookie);
	else
		return Ebadoff;
	if(ensureout(q, (size_t)P9_READHDRSZ + count) < 0)
		return Enomem;
	p = q->out + q->outlen + P9_READHDRSZ;
	used = 0;
	last = NULL;
	for(; x != NULL; x = x->next){
		pthread_rwlock_rdlock(&x->lk);
		dirof(x, &d, c->dialect);
		sz = p9dirsize(&d, c->dialect);
		if(sz != 0 && sz <= count - used)
			p9direncode(p + used, count - used, &d, c->dialect);
		pthread_rwlock_unlock(&x->lk);
		if(sz == 0 || sz > count - used)
			break;
		used += sz;
		last = x;
	}
	if(used == 0 && x != NULL)
		return Ecount;
	if(last != NULL){
		setcursor(fid, last);
		fid->dcookie = last->seq;
	}else if(t->offset == 0){
		setcursor(fid, NULL);
		fid->dcookie = 0;
	}
	fid->doff = t->offset + used;
	filetouch(dir, Tatime);
	p = q->out + q->outlen;
	p9put32(p, (uint32_t)(P9_READHDRSZ + used));
	p[4] = Rread;
	p9put16(p + 5, t->tag);
	p9put32(p + 7, (uint32_t)used);
	q->outlen += P9_READHDRSZ + used;
	return Replied;
}

int
rread(Req *q, const Fcall *t, Fcall *r)
{
	Conn *c;
	Fid *fid;
	File *f;
	uint32_t count;
	uint64_t n;
	int lk;

	c = q->c;
	/* reads of a file share the fid; a directory's move its cursor */
	lk = Lrd;
again:
	if((fid = fidhold(q, t->fid, lk)) == NULL)
		return Ebadfid;
	if(fid->omode == -1 || fid->omode == P9_OWRITE)
		return Enotopen;
	count = t->count;
	if(count > iounit(c))
		count = iounit(c);
	treelock(q, Lrd);
	f = fid->file;
	if(f->mode & P9_DMDIR){
		if(c->dialect == P9_2000L)
			return Eisdir;
		if(lk == Lrd){
			release(q);
			lk = Lwr;
			goto again;
		}
		return dirread(q, fid, t, count);
	}
	filelock(q, f, Lrd);
	n = 0;
	if(t->offset < f->length){
		n = f->length - t->offset;
		if(n > count)
			n = count;
	}
	r->count = (uint32_t)n;
	r->data = n ? f->data + t->offset : NULL;
	filetouch(f, Tatime);
	return Eok;
}

int
rwrite(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	uint64_t off;
	int e;

	if((fid = fidhold(q, t->fid, Lrd)) == NULL)
		return Ebadfid;
	if(fid->omode != P9_OWRITE && fid->omode != P9_ORDWR)
		return Enotopen;
	f = fid->file;
	treelock(q, Lrd);
	filelock(q, f, Lwr);
	off = t->offset;
	if((f->mode & P9_DMAPPEND) || fid->append)
		off = f->length;
	e = filewrite(f, off, t->data, t->count);
	if(e != Eok)
		return e;
	filetouch(f, Tmtime | Tvers);
	setmuid(f, fid->user);
	r->count = t->count;
	return Eok;
}

int
rstat(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	P9dir d;
	size_t n;
	uint8_t *p;

	(void)r;
	if((fid = fidhold(q, t->fid, Lrd)) == NULL)
		return Ebadfid;
	treelock(q, Lrd);
	filelock(q, fid->file, Lrd);
	dirof(fid->file, &d, q->c->dialect);
	n = p9dirsize(&d, q->c->dialect);
	if(n == 0 || n > 0xFFFF)
		return Einval;
	/* size[4] Rstat tag[2] nstat[2] stat[n] */
	if(ensureout(q, 9 + n) < 0)
		return Enomem;
	p = q->out + q->outlen;
	p9put32(p, (uint32_t)(9 + n));
	p[4] = Rstat;
	p9put16(p + 5, t->tag);
	p9put16(p + 7, (uint16_t)n);
	p9direncode(p + 9, n, &d, q->c->dialect);
	q->outlen += 9 + n;
	return Replied;
}

/* ---- 9P2000.L ---- */

int
rreadlink(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;

	if((fid = fidhold(q, t->fid, Lrd)) == NULL)
		return Ebadfid;
	treelock(q, Lrd);
	f = fid->file;
	if(!(f->mode & P9_DMSYMLINK))
		return Enotlink;
	filelock(q, f, Lrd);
	r->target.s = (const char*)f->data;
	r->target.n = (uint16_t)f->length;
	return Eok;
}

int
rgetattr(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	P9attr *a;
	struct timespec at;

	if((fid = fidhold(q, t->fid, Lrd)) == NULL)
		return Ebadfid;
	treelock(q, Lrd);
	f = fid->file;
	filelock(q, f, Lrd);
	a = &r->attr;
	a->valid = GA_BASIC;
	a->qid = qidof(f);
	a->mode = lmode(f);
	a->uid = strid(f->uid);
	a->gid = strid(f->gid);
	a->nlink = (f->mode & P9_DMDIR) ? 2 + f->nsubdir : 1;
	if(!f->linked)
		a->nlink = 0;
	a->rdev = 0;
	a->size = (f->mode & P9_DMDIR) ? 0 : f->length;
	a->blksize = 4096;
	a->blocks = (a->size + 511) / 512;
	fileatime(f, &at);
	a->atime_sec = (uint64_t)at.tv_sec;
	a->atime_nsec = (uint64_t)at.tv_nsec;
	a->mtime_sec = (uint64_t)f->mtime.tv_sec;
	a->mtime_nsec = (uint64_t)f->mtime.tv_nsec;
	a->ctime_sec = (uint64_t)f->ctime.tv_sec;
	a->ctime_nsec = (uint64_t)f->ctime.tv_nsec;
	a->data_version = atomic_load_explicit(&f->vers, memory_order_relaxed);
	return Eok;
}

int
rreaddir(Req *q, const Fcall *t, Fcall *r)
{
	Conn *c;
	Fid *fid;
	File *dir, *x, *last;
	P9dirent e;
	uint32_t count;
	uint64_t cookie;
	uint8_t *p;
	size_t sz, used;
	int dots;

	(void)r;
	c = q->c;
	if((fid = fidhold(q, t->fid, Lwr)) == NULL)
		return Ebadfid;
	treelock(q, Lrd);
	dir = fid->file;
	if(!(dir->mode & P9_DMDIR))
		return Enotdir;
	if(fid->omode == -1)
		return Enotopen;
	count = t->count;
	if(count > iounit(c))
		count = iounit(c);
	if(ensureout(q, (size_t)P9_READHDRSZ + count) < 0)
		return Enomem;
	p = q->out + q->outlen + P9_READHDRSZ;
	used = 0;
	cookie = t->offset;
	/* "." and ".." have cookies 1 and 2, files 3 and up */
	for(dots = cookie < 2 ? (int)cookie : 2; dots < 2; dots++){
		x = dots == 0 ? dir : dir->parent;
		e.qid = qidof(x);
		e.offset = (uint64_t)dots + 1;
		e.type = LDT_DIR;
		e.name = p9str(dots == 0 ? "." : "..");
		sz = p9direntsize(&e);
		if(sz > count - used)
			break;
		p9direntencode(p + used, count - used, &e);
		used += sz;
	}
	x = NULL;
	last = NULL;
	if(dots >= 2){
		for(x = resume(fid, dir, cookie); x != NULL; x = x->next){
			e.qid = qidof(x);
			e.offset = x->seq;
			e.type = (x->mode & P9_DMDIR) ? LDT_DIR : (x->mode & P9_DMSYMLINK) ? LDT_LNK : LDT_REG;
			e.name.s = x->name;
			e.name.n = x->namelen;
			sz = p9direntsize(&e);
			if(sz > count - used)
				break;
			p9direntencode(p + used, count - used, &e);
			used += sz;
			last = x;
		}
	}
	if(used == 0 && (x != NULL || dots < 2))
		return Ecount;
	if(last != NULL){
		setcursor(fid, last);
		fid->dcookie = last->seq;
	}
	filetouch(dir, Tatime);
	p = q->out + q->outlen;
	p9put32(p, (uint32_t)(P9_READHDRSZ + used));
	p[4] = Rreaddir;
	p9put16(p + 5, t->tag);
	p9put32(p + 7, (uint32_t)used);
	q->outlen += P9_READHDRSZ + used;
	return Replied;
}
