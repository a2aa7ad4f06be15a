/*
 * change.c - the handlers that change the tree's shape, names, modes or
 * owners, and so hold fs.tree for writing: create, remove, wstat, and
 * 9P2000.L's lcreate, mkdir, symlink, setattr, rename, renameat and
 * unlinkat.
 */
#include <stdio.h>
#include <string.h>

#include "9p.h"
#include "ramfs.h"

enum {
	/* Linux values, as 9P2000.L carries them */
	LAT_REMOVEDIR = 0x200,

	/* Tsetattr valid bits */
	SA_MODE = 0x1,
	SA_UID = 0x2,
	SA_GID = 0x4,
	SA_SIZE = 0x8,
	SA_ATIME = 0x10,
	SA_MTIME = 0x20,
	SA_CTIME = 0x40,
	SA_ATIMESET = 0x80,
	SA_MTIMESET = 0x100,
};

/* ---- helpers ---- */

/* Whether anc is dir or above it. */
static int
isabove(const File *anc, const File *dir)
{
	for(;;){
		if(dir == anc)
			return 1;
		if(dir == fs.root)
			return 0;
		dir = dir->parent;
	}
}

/* ---- 9P2000 and shared messages ---- */

/* Make name in fid's directory and move fid to it (Tcreate, Tlcreate); fs.tree written. */
static int
createin(Fid *fid, P9str name, uint32_t mode, File **fp)
{
	File *dir;
	int e;

	if(fid->omode != -1)
		return Eopen;
	dir = fid->file;
	if(!(dir->mode & P9_DMDIR))
		return Enotdir;
	if(!hasperm(dir, fid->user, Pwrite))
		return Eperm;
	e = filecreate(dir, name.s, name.n, mode, fid->user, fp);
	if(e != Eok)
		return e;
	setcursor(fid, NULL);
	fid->file = *fp;	/* filecreate's reference */
	filedecref(dir);
	return Eok;
}

int
rcreate(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *dir, *f;
	uint32_t perm, keep;
	int acc, e;

	if((fid = fidhold(q, t->fid, Lwr)) == NULL)
		return Ebadfid;
	treelock(q, Lwr);
	dir = fid->file;
	perm = t->perm;
	acc = t->mode & 3;
	keep = P9_DMDIR | P9_DMAPPEND | P9_DMEXCL | P9_DMTMP | 0777;
	if(q->c->dialect == P9_2000U){
		/* DMDEVICE, DMNAMEDPIPE, DMSOCKET */
		if(perm & (0x00800000u | 0x00200000u | 0x00100000u))
			return Enosys;
		keep |= P9_DMSYMLINK;
	}
	perm &= keep;
	if(perm & P9_DMDIR){
		if(acc == P9_OWRITE || acc == P9_ORDWR || (t->mode & (P9_OTRUNC | P9_ORCLOSE)) || (perm & P9_DMSYMLINK))
			return Eisdir;
		perm &= ~0777u | (dir->mode & 0777);
	}else
		perm &= ~0666u | (dir->mode & 0666);
	if((perm & P9_DMSYMLINK) && (acc == P9_OWRITE || acc == P9_ORDWR || (t->mode & P9_OTRUNC)))
		return Eperm;
	e = createin(fid, t->name, perm, &f);
	if(e != Eok)
		return e;
	if((perm & P9_DMSYMLINK) && (e = filewrite(f, 0, (const uint8_t*)t->extension.s, t->extension.n)) != Eok){
		/* a failed create leaves the fid on the directory; the link holds dir */
		fileincref(dir);
		fid->file = dir;
		fileunlink(f);
		filedecref(f);
		return e;
	}
	openfid(fid, acc, 0, (t->mode & P9_ORCLOSE) != 0, 0);
	r->qid = qidof(f);
	r->iounit = iounit(q->c);
	return Eok;
}

int
rremove(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	int e;

	(void)r;
	if((fid = fidhold(q, t->fid, Lwr)) == NULL)
		return Ebadfid;
	treelock(q, Lwr);
	e = removable(fid->file, fid->user);
	if(e == Eok)
		e = fileunlink(fid->file);
	fid->rclose = 0;
	fidclunk(q->c, fid);
	return e;
}

int
rwstat(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	P9dir d;
	Str *u, *ngid;
	int rename, e;
	uint32_t keep;

	(void)r;
	if((fid = fidhold(q, t->fid, Lrd)) == NULL)
		return Ebadfid;
	if(p9dirdecode(t->stat, t->nstat, q->c->dialect, &d) < 0)
		return Ebadmsg;
	treelock(q, Lwr);
	f = fid->file;
	u = fid->user;
	/* check everything before changing anything */
	rename = d.name.n > 0 && !(d.name.n == f->namelen && memcmp(d.name.s, f->name, f->namelen) == 0);
	if(rename){
		if(f == fs.root)
			return Eroot;
		if(!f->linked)
			return Enoent;
		if(!hasperm(f->parent, u, Pwrite))
			return Eperm;
		if(!validname(d.name.s, d.name.n))
			return Ename;
		if(filelookup(f->parent, d.name.s, d.name.n) != NULL)
			return Eexist;
	}
	if(d.length != ~(uint64_t)0 && d.length != f->length){
		if(f->mode & (P9_DMDIR | P9_DMSYMLINK))
			return Ewstat;
		if(!hasperm(f, u, Pwrite))
			return Eperm;
	}
	if(d.mode != ~(uint32_t)0){
		if(!isleader(f, u))
			return Eowner;
		if((d.mode ^ f->mode) & P9_DMDIR)
			return Ewstat;
	}
	if(d.mtime != ~(uint32_t)0 && !isleader(f, u))
		return Eowner;
	if(d.uid.n > 0 && !(d.uid.n == f->uid->n && memcmp(d.uid.s, f->uid->s, d.uid.n) == 0))
		return Ewstat;
	ngid = NULL;
	if(d.gid.n > 0 && !(d.gid.n == f->gid->n && memcmp(d.gid.s, f->gid->s, d.gid.n) == 0)){
		/* to a group the leader or owner belongs to: here, the one of their name */
		if(!isleader(f, u) || !(d.gid.n == u->n && memcmp(d.gid.s, u->s, u->n) == 0))
			return Eowner;
		ngid = u;
	}
	if(d.length != ~(uint64_t)0 && d.length != f->length && (e = filesetlen(f, d.length)) != Eok)
		return e;
	if(rename && (e = filerename(f, f->parent, d.name.s, d.name.n)) != Eok)
		return e;
	if(d.mode != ~(uint32_t)0){
		keep = P9_DMAPPEND | P9_DMEXCL | P9_DMTMP | 0777;
		f->mode = (f->mode & ~keep) | (d.mode & keep);
	}
	if(d.mtime != ~(uint32_t)0){
		f->mtime.tv_sec = d.mtime;
		f->mtime.tv_nsec = 0;
	}
	if(ngid != NULL){
		strdecref(f->gid);
		f->gid = strincref(ngid);
	}
	filetouch(f, Tctime | Tvers);
	return Eok;
}

/* ---- 9P2000.L ---- */

int
rlcreate(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	int acc, e;

	if((fid = fidhold(q, t->fid, Lwr)) == NULL)
		return Ebadfid;
	acc = t->flags & LO_ACCMODE;
	if(acc == 3)
		return Emode;
	treelock(q, Lwr);
	e = createin(fid, t->name, t->mode & 0777, &f);
	if(e != Eok)
		return e;
	openfid(fid, acc, 0, 0, 0);
	fid->append = (t->flags & LO_APPEND) != 0;
	r->qid = qidof(f);
	r->iounit = iounit(q->c);
	return Eok;
}

/* Make a file that no fid moves to (Tmkdir, Tsymlink). */
static int
makein(Req *q, uint32_t dfid, P9str name, uint32_t mode, P9str target, Qid *qid)
{
	Fid *fid;
	File *dir, *f;
	int e;

	if((fid = fidhold(q, dfid, Lrd)) == NULL)
		return Ebadfid;
	treelock(q, Lwr);
	dir = fid->file;
	if(!(dir->mode & P9_DMDIR))
		return Enotdir;
	if(!hasperm(dir, fid->user, Pwrite))
		return Eperm;
	e = filecreate(dir, name.s, name.n, mode, fid->user, &f);
	if(e != Eok)
		return e;
	if((mode & P9_DMSYMLINK) && (e = filewrite(f, 0, (const uint8_t*)target.s, target.n)) != Eok)
		fileunlink(f);
	else
		*qid = qidof(f);
	filedecref(f);
	return e;
}

int
rmkdir(Req *q, const Fcall *t, Fcall *r)
{
	return makein(q, t->dfid, t->name, P9_DMDIR | (t->mode & 0777), p9str(NULL), &r->qid);
}

int
rsymlink(Req *q, const Fcall *t, Fcall *r)
{
	if(t->target.n == 0)
		return Enoent;
	return makein(q, t->fid, t->name, P9_DMSYMLINK | 0777, t->target, &r->qid);
}

int
rsetattr(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	const P9setattr *s;
	Str *u;
	uint32_t v;
	char num[16];
	int n, e;

	(void)r;
	if((fid = fidhold(q, t->fid, Lrd)) == NULL)
		return Ebadfid;
	treelock(q, Lwr);
	f = fid->file;
	u = fid->user;
	s = &t->sattr;
	v = s->valid;
	if((v & SA_MODE) && !isleader(f, u))
		return Eowner;
	if((v & SA_UID) && s->uid != strid(f->uid))
		return Eowner;
	if((v & SA_GID) && s->gid != strid(f->gid) && (!isleader(f, u) || s->gid != strid(u)))
		return Eowner;
	if((v & SA_SIZE) && s->size != f->length){
		if(f->mode & P9_DMDIR)
			return Eisdir;
		if(f->mode & P9_DMSYMLINK)
			return Einval;
		if(!hasperm(f, u, Pwrite) && fid->omode != P9_OWRITE && fid->omode != P9_ORDWR)
			return Eperm;
	}
	if((v & (SA_ATIME | SA_MTIME)) && !isleader(f, u) && !hasperm(f, u, Pwrite))
		return Eperm;
	if((v & SA_SIZE) && s->size != f->length){
		if((e = filesetlen(f, s->size)) != Eok)
			return e;
		filetouch(f, Tmtime);
		setmuid(f, u);
	}
	if(v & SA_MODE)
		f->mode = (f->mode & ~0777u) | (s->mode & 0777);
	if((v & SA_GID) && s->gid != strid(f->gid)){
		n = snprintf(num, sizeof num, "%u", s->gid);
		strdecref(f->gid);
		f->gid = u == fs.owner ? strincref(u) : strintern(num, (size_t)n);
		if(f->gid == NULL)
			f->gid = strincref(u);
	}
	if(v & SA_ATIME){
		if(v & SA_ATIMESET)
			filesetatime(f, s->atime_sec, s->atime_nsec);
		else
			filetouch(f, Tatime);
	}
	if(v & SA_MTIME){
		if(v & SA_MTIMESET){
			f->mtime.tv_sec = (time_t)s->mtime_sec;
			f->mtime.tv_nsec = (long)(s->mtime_nsec % 1000000000u);
		}else
			nowts(&f->mtime);
	}
	filetouch(f, Tctime | Tvers);
	return Eok;
}

/* Move src to name in newdir, replacing a compatible file there (renameat(2)); fs.tree written. */
static int
moveto(File *src, File *newdir, P9str name, const Str *u)
{
	File *x;
	int e;

	if(src == fs.root)
		return Eroot;
	if(!(newdir->mode & P9_DMDIR))
		return Enotdir;
	if(!hasperm(src->parent, u, Pwrite) || !hasperm(newdir, u, Pwrite))
		return Eperm;
	if(!validname(name.s, name.n))
		return Ename;
	if((src->mode & P9_DMDIR) && isabove(src, newdir))
		return Eloop;
	x = filelookup(newdir, name.s, name.n);
	if(x == src)
		return Eok;
	if(x != NULL){
		if(src->mode & P9_DMDIR){
			if(!(x->mode & P9_DMDIR))
				return Enotdir;
			if(x->nchild > 0)
				return Enotempty;
		}else if(x->mode & P9_DMDIR)
			return Eisdir;
		if((e = fileunlink(x)) != Eok)
			return e;
	}
	return filerename(src, newdir, name.s, name.n);
}

static int
renamein(File *od, File *nd, const Fcall *t, const Str *u)
{
	File *src;

	if(!(od->mode & P9_DMDIR))
		return Enotdir;
	if(!hasperm(od, u, Pexec))
		return Eperm;
	if(!validname(t->name.s, t->name.n))
		return Ename;
	if((src = filelookup(od, t->name.s, t->name.n)) == NULL)
		return Enoent;
	return moveto(src, nd, t->newname, u);
}

int
rrenameat(Req *q, const Fcall *t, Fcall *r)
{
	File *od, *nd;
	Str *u;
	int e;

	(void)r;
	if(fidsnap(q, t->dfid, &od, &u) != Eok)
		return Ebadfid;
	if(fidsnap(q, t->newdfid, &nd, NULL) != Eok){
		filedecref(od);
		strdecref(u);
		return Ebadfid;
	}
	treelock(q, Lwr);
	e = renamein(od, nd, t, u);
	filedecref(od);
	filedecref(nd);
	strdecref(u);
	return e;
}

int
rrename(Req *q, const Fcall *t, Fcall *r)
{
	File *f, *nd;
	Str *u;
	int e;

	(void)r;
	if(fidsnap(q, t->fid, &f, &u) != Eok)
		return Ebadfid;
	if(fidsnap(q, t->dfid, &nd, NULL) != Eok){
		filedecref(f);
		strdecref(u);
		return Ebadfid;
	}
	treelock(q, Lwr);
	e = f->linked ? moveto(f, nd, t->name, u) : Enoent;
	filedecref(f);
	filedecref(nd);
	strdecref(u);
	return e;
}

int
runlinkat(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *x;

	(void)r;
	if((fid = fidhold(q, t->dfid, Lrd)) == NULL)
		return Ebadfid;
	treelock(q, Lwr);
	if(!(fid->file->mode & P9_DMDIR))
		return Enotdir;
	if((x = filelookup(fid->file, t->name.s, t->name.n)) == NULL)
		return Enoent;
	if(!hasperm(fid->file, fid->user, Pwrite))
		return Eperm;
	if((t->flags & LAT_REMOVEDIR) && !(x->mode & P9_DMDIR))
		return Enotdir;
	if(!(t->flags & LAT_REMOVEDIR) && (x->mode & P9_DMDIR))
		return Eisdir;
	return fileunlink(x);
}
