/*
 * srv.c - 9P2000, 9P2000.u and 9P2000.L over one connection.
 *
 * A connection's thread reads as many bytes as come, answers every whole
 * message in them in order (so a flushed request has always been
 * answered already), and writes the replies in one go.  A frame whose
 * size is below 7 or above msize cannot be skipped safely, so it ends
 * that connection; any other bad message gets an error reply.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "9p.h"
#include "log.h"
#include "ramfs.h"

uint32_t maxmsize = 8 * 1024 * 1024 + P9_IOHDRSZ;

enum {
	Inbuf = 64 * 1024,
	Flushat = 64 * 1024,	/* write replies out once this many are waiting */
	Replied = -1,		/* a handler put its reply in the buffer itself */
	Maxfids = 1 << 20,	/* per connection: a bound on what one client can make us keep */

	/* Linux open(2) flags and the like, as 9P2000.L carries them */
	LO_ACCMODE = 3,
	LO_TRUNC = 01000,
	LO_APPEND = 02000,
	LAT_REMOVEDIR = 0x200,
	LS_IFDIR = 0040000,
	LS_IFREG = 0100000,
	LS_IFLNK = 0120000,
	LDT_DIR = 4,
	LDT_REG = 8,
	LDT_LNK = 10,
	LF_UNLCK = 2,

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

	GA_BASIC = 0x7ff,
	NONUNAME = -1,
};

/* Linux errno values: the wire carries these whatever the host's are. */
static const struct {
	const char	*s;
	uint32_t	lerr;
} errtab[Nerr] = {
	[Eok]		= { "no error", 0 },
	[Enoent]	= { "file does not exist", 2 },
	[Eperm]		= { "permission denied", 13 },
	[Eexist]	= { "file already exists", 17 },
	[Enotdir]	= { "not a directory", 20 },
	[Eisdir]	= { "is a directory", 21 },
	[Enotempty]	= { "directory not empty", 39 },
	[Einuse]	= { "file in use", 16 },
	[Enospc]	= { "no space", 28 },
	[Enofiles]	= { "no space: too many files", 28 },
	[Enomem]	= { "out of memory", 12 },
	[Ebadfid]	= { "unknown fid", 9 },
	[Efidinuse]	= { "fid in use", 9 },
	[Eopen]		= { "fid already open", 9 },
	[Enotopen]	= { "fid not open for this", 9 },
	[Ebadoff]	= { "bad offset in directory read", 22 },
	[Ename]		= { "bad file name", 22 },
	[Eowner]	= { "not owner", 1 },
	[Ewstat]	= { "wstat cannot change that", 1 },
	/* ENOENT: what diod answers, and what its client library takes for "none needed" */
	[Eauth]		= { "authentication not required", 2 },
	[Enotsup]	= { "operation not supported", 95 },
	[Enosys]	= { "cannot make that kind of file", 1 },
	[Enotlink]	= { "not a symbolic link", 22 },
	[Eroot]		= { "cannot remove or rename the root", 16 },
	[Etype]		= { "bad message type", 38 },
	[Efbig]		= { "file too large", 27 },
	[Ecount]	= { "count too small for an entry", 22 },
	[Emsize]	= { "msize too small", 22 },
	[Enoversion]	= { "no version negotiated", 71 },
	[Einval]	= { "invalid argument", 22 },
	[Eloop]		= { "cannot move a directory into itself", 22 },
	[Emode]		= { "bad open mode", 22 },
	[Ebadmsg]	= { "malformed message", 74 },
	[Efids]		= { "too many fids", 24 },
	[Etoobig]	= { "reply would exceed msize", 90 },
};

typedef struct Fid Fid;
struct Fid {
	Fid		*next;
	uint32_t	num;
	File		*file;
	Str		*user;
	int		omode;		/* -1 when not open */
	int		rclose;
	int		excl;		/* holds one of file->nexcl */
	int		append;		/* 9P2000.L O_APPEND */
	File		*dcur;		/* directory cursor: last entry given */
	uint64_t	dcookie;	/* its seq, or 0 */
	uint64_t	doff;		/* 9P2000: the offset a next read must ask */
};

struct Conn {
	int		rfd, wfd;
	char		name[64];
	int		dialect;
	int		versioned;
	int		dead;
	uint32_t	msize;
	uint8_t		*in;
	size_t		inlen, incap;
	uint8_t		*out;
	size_t		outlen, outcap;
	Fid		**fids;
	size_t		fsize, nfids;
	Fid		*freefids;
};

Conn *
connnew(int rfd, int wfd, const char *name)
{
	Conn *c;

	c = calloc(1, sizeof *c);
	if(c == NULL)
		return NULL;
	c->rfd = rfd;
	c->wfd = wfd;
	snprintf(c->name, sizeof c->name, "%s", name);
	c->msize = maxmsize;
	c->dialect = P9_2000;
	c->incap = Inbuf;
	c->in = malloc(c->incap);
	c->fsize = 64;
	c->fids = calloc(c->fsize, sizeof c->fids[0]);
	if(c->in == NULL || c->fids == NULL){
		free(c->in);
		free(c->fids);
		free(c);
		return NULL;
	}
	return c;
}

/* ---- fids ---- */

static size_t
fidhash(const Conn *c, uint32_t num)
{
	return (num * 2654435761u) & (c->fsize - 1);
}

static Fid *
fidget(Conn *c, uint32_t num)
{
	Fid *f;

	for(f = c->fids[fidhash(c, num)]; f != NULL; f = f->next)
		if(f->num == num)
			return f;
	return NULL;
}

/* A new fid num on file for user, taking references to both; NULL if out of memory or fids. */
static Fid *
fidnew(Conn *c, uint32_t num, File *file, Str *user)
{
	Fid *f, **nt, *x, *xnext;
	size_t i, h, nsize;

	if(c->nfids >= Maxfids)
		return NULL;
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
	}else if((f = malloc(sizeof *f)) == NULL)
		return NULL;
	memset(f, 0, sizeof *f);
	f->num = num;
	f->file = file;
	fileincref(file);
	f->user = strincref(user);
	f->omode = -1;
	h = fidhash(c, num);
	f->next = c->fids[h];
	c->fids[h] = f;
	c->nfids++;
	return f;
}

static void
setcursor(Fid *f, File *x)
{
	if(x != NULL)
		fileincref(x);
	if(f->dcur != NULL)
		filedecref(f->dcur);
	f->dcur = x;
}

static int
removable(const File *f, const Str *user)
{
	if(f == fs.root)
		return Eroot;
	if(!hasperm(f->parent, user, Pwrite))
		return Eperm;
	return Eok;
}

/* Clunk f: release an exclusive open, honour ORCLOSE, free it. */
static void
fidclunk(Conn *c, Fid *f)
{
	Fid **l;

	for(l = &c->fids[fidhash(c, f->num)]; *l != NULL; l = &(*l)->next)
		if(*l == f){
			*l = f->next;
			break;
		}
	c->nfids--;
	if(f->excl)
		f->file->nexcl--;
	if(f->rclose && f->file->linked && removable(f->file, f->user) == Eok)
		fileunlink(f->file);
	setcursor(f, NULL);
	filedecref(f->file);
	strdecref(f->user);
	f->next = c->freefids;
	c->freefids = f;
}

static void
clunkall(Conn *c)
{
	size_t i;

	for(i = 0; i < c->fsize; i++)
		while(c->fids[i] != NULL)
			fidclunk(c, c->fids[i]);
}

/* ---- replies ---- */

static int
ensureout(Conn *c, size_t n)
{
	size_t ncap;
	uint8_t *p;

	if(c->outcap - c->outlen >= n)
		return 0;
	ncap = c->outcap ? c->outcap : Inbuf;
	while(ncap - c->outlen < n)
		ncap *= 2;
	p = realloc(c->out, ncap);
	if(p == NULL){
		c->dead = 1;
		return -1;
	}
	c->out = p;
	c->outcap = ncap;
	return 0;
}

static void
put(Conn *c, const Fcall *r)
{
	size_t n;

	n = p9size(r, c->dialect);
	if(n == 0){
		logerror("%s: cannot encode %s", c->name, p9typename(r->type));
		c->dead = 1;
		return;
	}
	if(ensureout(c, n) < 0)
		return;
	c->outlen += p9encode(c->out + c->outlen, c->outcap - c->outlen, r, c->dialect);
}

static void
rerror(Conn *c, uint16_t tag, const char *s, uint32_t lerr)
{
	Fcall r;

	memset(&r, 0, sizeof r);
	r.tag = tag;
	if(c->dialect == P9_2000L){
		r.type = Rlerror;
		r.errnum = lerr;
	}else{
		r.type = Rerror;
		r.ename = p9str(s);
		r.errnum = lerr;
	}
	put(c, &r);
}

static int
flushout(Conn *c)
{
	size_t off;
	ssize_t n;

	for(off = 0; off < c->outlen; off += (size_t)n){
		n = write(c->wfd, c->out + off, c->outlen - off);
		if(n < 0 && errno == EINTR){
			n = 0;
			continue;
		}
		if(n <= 0){
			c->outlen = 0;
			return -1;
		}
	}
	c->outlen = 0;
	return 0;
}

/* ---- helpers ---- */

static Qid
qidof(const File *f)
{
	Qid q;

	q.type = (uint8_t)(f->mode >> 24);
	q.vers = f->vers;
	q.path = f->path;
	return q;
}

static P9str
strview(const Str *s)
{
	P9str v;

	v.s = s->s;
	v.n = s->n;
	return v;
}

static void
dirof(const File *f, P9dir *d, int dialect)
{
	memset(d, 0, sizeof *d);
	d->qid = qidof(f);
	d->mode = f->mode;
	if(dialect != P9_2000U)
		d->mode &= ~P9_DMSYMLINK;
	d->atime = (uint32_t)f->atime.tv_sec;
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

static void
setmuid(File *f, Str *user)
{
	if(f->muid != user){
		strdecref(f->muid);
		f->muid = strincref(user);
	}
}

/* Open fid's file: acc is OREAD..OEXEC; check says whether permission matters. */
static int
openfid(Conn *c, Fid *fid, int acc, int trunc, int rclose, int check)
{
	File *f;
	int p, e;

	(void)c;
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

static uint32_t
iounit(const Conn *c)
{
	return c->msize - P9_IOHDRSZ;
}

/* The user an attach names: .L prefers the number, the others the name. */
static Str *
attachuser(const Conn *c, const Fcall *t)
{
	char num[16];
	int n;

	if(c->dialect == P9_2000L && t->nuname != (uint32_t)NONUNAME){
		n = snprintf(num, sizeof num, "%u", t->nuname);
		return strintern(num, (size_t)n);
	}
	if(t->uname.n > 0)
		return strintern(t->uname.s, t->uname.n);
	if(c->dialect != P9_2000 && t->nuname != (uint32_t)NONUNAME){
		n = snprintf(num, sizeof num, "%u", t->nuname);
		return strintern(num, (size_t)n);
	}
	return strintern("none", 4);
}

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

/* ---- 9P2000 and shared messages ---- */

static int
rversion(Conn *c, const Fcall *t, Fcall *r)
{
	int d;

	clunkall(c);
	c->versioned = 0;
	if(t->msize < P9_MINMSIZE){
		c->dialect = P9_2000;
		return Emsize;
	}
	d = p9dialect(t->version.s, t->version.n);
	if(d < 0 && t->version.n >= 6 && memcmp(t->version.s, "9P2000", 6) == 0 &&
	   (t->version.n == 6 || t->version.s[6] == '.'))
		d = P9_2000;
	c->msize = t->msize < maxmsize ? t->msize : maxmsize;
	r->msize = c->msize;
	if(d < 0){
		c->dialect = P9_2000;
		r->version = p9str("unknown");
		return Eok;
	}
	c->dialect = d;
	c->versioned = 1;
	r->version = p9str(p9dialectname(d));
	logmsg(LOG_CONN, "%s: %s, msize %u", c->name, p9dialectname(d), c->msize);
	return Eok;
}

static int
rattach(Conn *c, const Fcall *t, Fcall *r)
{
	Str *u;

	if(t->fid == P9_NOFID)
		return Ebadfid;
	if(fidget(c, t->fid) != NULL)
		return Efidinuse;
	if(t->afid != P9_NOFID)
		return Eauth;
	/* there is one tree: any aname is its root (diodload asks for "ctl") */
	u = attachuser(c, t);
	if(u == NULL)
		return Enomem;
	if(fidnew(c, t->fid, fs.root, u) == NULL){
		strdecref(u);
		return c->nfids >= Maxfids ? Efids : Enomem;
	}
	strdecref(u);
	r->qid = qidof(fs.root);
	return Eok;
}

static int
rwalk(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f, *nf;
	int i, e;

	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	/* walk(5) forbids walking an open fid; 9P2000.L clients (diodls -l) walk
	 * from open directories to new fids, which harms nothing */
	if(fid->omode != -1 && (c->dialect != P9_2000L || t->newfid == t->fid))
		return Eopen;
	if(t->newfid == P9_NOFID)
		return Ebadfid;
	if(t->newfid != t->fid && fidget(c, t->newfid) != NULL)
		return Efidinuse;
	f = fid->file;
	e = Eok;
	for(i = 0; i < t->nwname; i++){
		if(!(f->mode & P9_DMDIR)){
			e = Enotdir;
			break;
		}
		if(!hasperm(f, fid->user, Pexec)){
			e = Eperm;
			break;
		}
		if(p9streq(t->wname[i], ".."))
			nf = f->parent;
		else if(p9streq(t->wname[i], "."))
			nf = f;	/* no file has that name; diodls -l walks it */
		else if((nf = filelookup(f, t->wname[i].s, t->wname[i].n)) == NULL){
			e = Enoent;
			break;
		}
		r->wqid[i] = qidof(nf);
		f = nf;
	}
	r->nwqid = (uint16_t)i;
	if(i < t->nwname)
		return i == 0 ? e : Eok;
	if(t->newfid == t->fid){
		fileincref(f);
		setcursor(fid, NULL);
		filedecref(fid->file);
		fid->file = f;
	}else if(fidnew(c, t->newfid, f, fid->user) == NULL)
		return c->nfids >= Maxfids ? Efids : Enomem;
	return Eok;
}

static int
ropen(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	int e;

	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(fid->omode != -1)
		return Eopen;
	e = openfid(c, fid, t->mode & 3, (t->mode & P9_OTRUNC) != 0, (t->mode & P9_ORCLOSE) != 0, 1);
	if(e != Eok)
		return e;
	r->qid = qidof(fid->file);
	r->iounit = iounit(c);
	return Eok;
}

/* Make name in fid's directory and move fid to it (Tcreate, Tlcreate). */
static int
createin(Conn *c, Fid *fid, P9str name, uint32_t mode, File **fp)
{
	File *dir;
	int e;

	(void)c;
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

static int
rcreate(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *dir, *f;
	uint32_t perm, keep;
	int acc, e;

	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	dir = fid->file;
	perm = t->perm;
	acc = t->mode & 3;
	keep = P9_DMDIR | P9_DMAPPEND | P9_DMEXCL | P9_DMTMP | 0777;
	if(c->dialect == P9_2000U){
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
	e = createin(c, fid, t->name, perm, &f);
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
	openfid(c, fid, acc, 0, (t->mode & P9_ORCLOSE) != 0, 0);
	r->qid = qidof(f);
	r->iounit = iounit(c);
	return Eok;
}

/* 9P2000 directory read: whole stat entries, resuming only where the last read ended. */
static int
dirread(Conn *c, Fid *fid, const Fcall *t, uint32_t count)
{
	File *dir, *x, *last;
	P9dir d;
	uint8_t *p;
	size_t sz, used;

	dir = fid->file;
	if(t->offset == 0)
		x = dir->child;
	else if(t->offset == fid->doff)
		x = resume(fid, dir, fid->dcookie);
	else
		return Ebadoff;
	if(ensureout(c, (size_t)P9_READHDRSZ + count) < 0)
		return Enomem;
	p = c->out + c->outlen + P9_READHDRSZ;
	used = 0;
	last = NULL;
	for(; x != NULL; x = x->next){
		dirof(x, &d, c->dialect);
		sz = p9dirsize(&d, c->dialect);
		if(sz == 0 || sz > count - used)
			break;
		p9direncode(p + used, count - used, &d, c->dialect);
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
	p = c->out + c->outlen;
	p9put32(p, (uint32_t)(P9_READHDRSZ + used));
	p[4] = Rread;
	p9put16(p + 5, t->tag);
	p9put32(p + 7, (uint32_t)used);
	c->outlen += P9_READHDRSZ + used;
	return Replied;
}

static int
rread(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	uint32_t count;
	uint64_t n;

	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(fid->omode == -1 || fid->omode == P9_OWRITE)
		return Enotopen;
	count = t->count;
	if(count > iounit(c))
		count = iounit(c);
	f = fid->file;
	if(f->mode & P9_DMDIR){
		if(c->dialect == P9_2000L)
			return Eisdir;
		return dirread(c, fid, t, count);
	}
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

static int
rwrite(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	uint64_t off;
	int e;

	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(fid->omode != P9_OWRITE && fid->omode != P9_ORDWR)
		return Enotopen;
	f = fid->file;
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

static int
rclunk(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;

	(void)r;
	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	fidclunk(c, fid);
	return Eok;
}

static int
rremove(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	int e;

	(void)r;
	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	e = removable(fid->file, fid->user);
	if(e == Eok)
		e = fileunlink(fid->file);
	fid->rclose = 0;
	fidclunk(c, fid);
	return e;
}

static int
rstat(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	P9dir d;
	size_t n;
	uint8_t *p;

	(void)r;
	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	dirof(fid->file, &d, c->dialect);
	n = p9dirsize(&d, c->dialect);
	if(n == 0 || n > 0xFFFF)
		return Einval;
	/* size[4] Rstat tag[2] nstat[2] stat[n] */
	if(ensureout(c, 9 + n) < 0)
		return Enomem;
	p = c->out + c->outlen;
	p9put32(p, (uint32_t)(9 + n));
	p[4] = Rstat;
	p9put16(p + 5, t->tag);
	p9put16(p + 7, (uint16_t)n);
	p9direncode(p + 9, n, &d, c->dialect);
	c->outlen += 9 + n;
	return Replied;
}

static int
rwstat(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	P9dir d;
	Str *u, *ngid;
	int rename, e;
	uint32_t keep;

	(void)r;
	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(p9dirdecode(t->stat, t->nstat, c->dialect, &d) < 0)
		return Ebadmsg;
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

static int
rlopen(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	int acc, e;

	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(fid->omode != -1)
		return Eopen;
	acc = t->flags & LO_ACCMODE;
	if(acc == 3)
		return Emode;
	e = openfid(c, fid, acc, (t->flags & LO_TRUNC) != 0, 0, 1);
	if(e != Eok)
		return e;
	fid->append = (t->flags & LO_APPEND) != 0;
	r->qid = qidof(fid->file);
	r->iounit = iounit(c);
	return Eok;
}

static int
rlcreate(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	int acc, e;

	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	acc = t->flags & LO_ACCMODE;
	if(acc == 3)
		return Emode;
	e = createin(c, fid, t->name, t->mode & 0777, &f);
	if(e != Eok)
		return e;
	openfid(c, fid, acc, 0, 0, 0);
	fid->append = (t->flags & LO_APPEND) != 0;
	r->qid = qidof(f);
	r->iounit = iounit(c);
	return Eok;
}

/* Make a file that no fid moves to (Tmkdir, Tsymlink). */
static int
makein(Conn *c, uint32_t dfid, P9str name, uint32_t mode, P9str target, Qid *q)
{
	Fid *fid;
	File *dir, *f;
	int e;

	if((fid = fidget(c, dfid)) == NULL)
		return Ebadfid;
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
		*q = qidof(f);
	filedecref(f);
	return e;
}

static int
rmkdir(Conn *c, const Fcall *t, Fcall *r)
{
	return makein(c, t->dfid, t->name, P9_DMDIR | (t->mode & 0777), p9str(NULL), &r->qid);
}

static int
rsymlink(Conn *c, const Fcall *t, Fcall *r)
{
	if(t->target.n == 0)
		return Enoent;
	return makein(c, t->fid, t->name, P9_DMSYMLINK | 0777, t->target, &r->qid);
}

static int
rreadlink(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;

	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	f = fid->file;
	if(!(f->mode & P9_DMSYMLINK))
		return Enotlink;
	r->target.s = (const char*)f->data;
	r->target.n = (uint16_t)f->length;
	return Eok;
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

static int
rgetattr(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	P9attr *a;

	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	f = fid->file;
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
	a->atime_sec = (uint64_t)f->atime.tv_sec;
	a->atime_nsec = (uint64_t)f->atime.tv_nsec;
	a->mtime_sec = (uint64_t)f->mtime.tv_sec;
	a->mtime_nsec = (uint64_t)f->mtime.tv_nsec;
	a->ctime_sec = (uint64_t)f->ctime.tv_sec;
	a->ctime_nsec = (uint64_t)f->ctime.tv_nsec;
	a->data_version = f->vers;
	return Eok;
}

static int
rsetattr(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *f;
	const P9setattr *s;
	Str *u;
	uint32_t v;
	char num[16];
	int n, e;

	(void)r;
	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
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
		if(v & SA_ATIMESET){
			f->atime.tv_sec = (time_t)s->atime_sec;
			f->atime.tv_nsec = (long)(s->atime_nsec % 1000000000u);
		}else
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

static int
rreaddir(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *dir, *x, *last;
	P9dirent e;
	uint32_t count;
	uint64_t cookie;
	uint8_t *p;
	size_t sz, used;
	int dots;

	(void)r;
	if((fid = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	dir = fid->file;
	if(!(dir->mode & P9_DMDIR))
		return Enotdir;
	if(fid->omode == -1)
		return Enotopen;
	count = t->count;
	if(count > iounit(c))
		count = iounit(c);
	if(ensureout(c, (size_t)P9_READHDRSZ + count) < 0)
		return Enomem;
	p = c->out + c->outlen + P9_READHDRSZ;
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
	p = c->out + c->outlen;
	p9put32(p, (uint32_t)(P9_READHDRSZ + used));
	p[4] = Rreaddir;
	p9put16(p + 5, t->tag);
	p9put32(p + 7, (uint32_t)used);
	c->outlen += P9_READHDRSZ + used;
	return Replied;
}

/* Move src to name in newdir, replacing a compatible file there (renameat(2)). */
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
rrenameat(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *od, *nd;
	File *src;

	(void)r;
	if((od = fidget(c, t->dfid)) == NULL || (nd = fidget(c, t->newdfid)) == NULL)
		return Ebadfid;
	if(!(od->file->mode & P9_DMDIR))
		return Enotdir;
	if(!hasperm(od->file, od->user, Pexec))
		return Eperm;
	if(!validname(t->name.s, t->name.n))
		return Ename;
	if((src = filelookup(od->file, t->name.s, t->name.n)) == NULL)
		return Enoent;
	return moveto(src, nd->file, t->newname, od->user);
}

static int
rrename(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid, *nd;

	(void)r;
	if((fid = fidget(c, t->fid)) == NULL || (nd = fidget(c, t->dfid)) == NULL)
		return Ebadfid;
	if(!fid->file->linked)
		return Enoent;
	return moveto(fid->file, nd->file, t->name, fid->user);
}

static int
runlinkat(Conn *c, const Fcall *t, Fcall *r)
{
	Fid *fid;
	File *x;

	(void)r;
	if((fid = fidget(c, t->dfid)) == NULL)
		return Ebadfid;
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

static int
rstatfs(Conn *c, const Fcall *t, Fcall *r)
{
	P9statfs *s;

	if(fidget(c, t->fid) == NULL)
		return Ebadfid;
	s = &r->statfs;
	s->type = 0x01021997;	/* V9FS_MAGIC */
	s->bsize = 4096;
	s->blocks = fs.maxbytes / 4096;
	s->bfree = (fs.maxbytes - fs.bytes) / 4096;
	s->bavail = s->bfree;
	s->files = fs.maxfiles;
	s->ffree = fs.maxfiles - fs.nfiles;
	s->fsid = 0x9ead;
	s->namelen = 255;
	return Eok;
}

static int
rfidonly(Conn *c, const Fcall *t, Fcall *r)
{
	(void)r;
	if(fidget(c, t->fid) == NULL)
		return Ebadfid;
	return Eok;
}

static int
rlock(Conn *c, const Fcall *t, Fcall *r)
{
	if(fidget(c, t->fid) == NULL)
		return Ebadfid;
	r->status = 0;	/* P9_LOCK_SUCCESS: locks are the clients' own business */
	return Eok;
}

static int
rgetlock(Conn *c, const Fcall *t, Fcall *r)
{
	if(fidget(c, t->fid) == NULL)
		return Ebadfid;
	r->lock = t->lock;
	r->lock.type = LF_UNLCK;
	return Eok;
}

/* ---- dispatch ---- */

static int
dispatch(Conn *c, const Fcall *t, Fcall *r)
{
	if(t->type == Tversion)
		return rversion(c, t, r);
	if(!c->versioned)
		return Enoversion;
	switch(t->type){
	case Tauth:	return Eauth;
	case Tattach:	return rattach(c, t, r);
	case Tflush:	return Eok;
	case Twalk:	return rwalk(c, t, r);
	case Tread:	return rread(c, t, r);
	case Twrite:	return rwrite(c, t, r);
	case Tclunk:	return rclunk(c, t, r);
	case Tremove:	return rremove(c, t, r);
	}
	if(c->dialect == P9_2000L){
		switch(t->type){
		case Tlopen:	return rlopen(c, t, r);
		case Tlcreate:	return rlcreate(c, t, r);
		case Tgetattr:	return rgetattr(c, t, r);
		case Tsetattr:	return rsetattr(c, t, r);
		case Treaddir:	return rreaddir(c, t, r);
		case Tmkdir:	return rmkdir(c, t, r);
		case Tsymlink:	return rsymlink(c, t, r);
		case Treadlink:	return rreadlink(c, t, r);
		case Tunlinkat:	return runlinkat(c, t, r);
		case Trenameat:	return rrenameat(c, t, r);
		case Trename:	return rrename(c, t, r);
		case Tstatfs:	return rstatfs(c, t, r);
		case Tfsync:	return rfidonly(c, t, r);
		case Tlock:	return rlock(c, t, r);
		case Tgetlock:	return rgetlock(c, t, r);
		case Tmknod:	return Enosys;
		case Tlink:	return Enosys;
		case Txattrwalk:
		case Txattrcreate:
				return Enotsup;
		}
		return Etype;
	}
	switch(t->type){
	case Topen:	return ropen(c, t, r);
	case Tcreate:	return rcreate(c, t, r);
	case Tstat:	return rstat(c, t, r);
	case Twstat:	return rwstat(c, t, r);
	}
	return Etype;
}

static void
trace(Conn *c, const uint8_t *buf, size_t n, const Fcall *f, int dir)
{
	char line[512];
	Fcall d;

	if(f == NULL){
		if(p9decode(buf, n, c->msize > n ? c->msize : (uint32_t)n, c->dialect, &d) < 0){
			logmsg(LOG_TRACE, "%s %c undecodable reply of %zu bytes", c->name, dir, n);
			return;
		}
		f = &d;
	}
	p9fmt(line, sizeof line, f, c->dialect);
	logmsg(LOG_TRACE, "%s %c %s", c->name, dir, line);
}

/* Answer the one whole frame buf of n bytes. */
static void
handle(Conn *c, const uint8_t *buf, size_t n)
{
	Fcall t, r;
	long m;
	int e, tracing;
	size_t start;

	tracing = loglevel() >= LOG_TRACE;
	start = c->outlen;
	m = p9decode(buf, n, c->msize, c->dialect, &t);
	if(m < 0){
		if(tracing)
			logmsg(LOG_TRACE, "%s <- bad %s (type %d, %zu bytes): %s", c->name,
				p9typename(buf[4]) ? p9typename(buf[4]) : "message", buf[4], n, p9strerror((int)m));
		rerror(c, p9get16(buf + P9_TAGOFF), p9strerror((int)m), errtab[Ebadmsg].lerr);
		goto out;
	}
	if(tracing)
		trace(c, buf, n, &t, '<');
	/* all but the walk arrays, which Rwalk fills up to nwqid: a third of the cost */
	memset(&r, 0, offsetof(Fcall, wname));
	memset(&r.offset, 0, sizeof r - offsetof(Fcall, offset));
	r.nwqid = 0;
	r.type = (uint8_t)(t.type + 1);
	r.tag = t.tag;
	pthread_mutex_lock(&fs.lk);
	if(t.type & 1)
		e = Etype;	/* an R-message, or Terror */
	else
		e = dispatch(c, &t, &r);
	if(e == Eok)
		put(c, &r);
	else if(e != Replied)
		rerror(c, t.tag, errtab[e].s, errtab[e].lerr);
	if(c->outlen - start > c->msize){
		/* a stat or link target with long names, at a small msize */
		c->outlen = start;
		rerror(c, t.tag, errtab[Etoobig].s, errtab[Etoobig].lerr);
	}
	pthread_mutex_unlock(&fs.lk);
out:
	if(tracing && c->outlen > start)
		trace(c, c->out + start, c->outlen - start, NULL, '>');
}

static int
growin(Conn *c, size_t want)
{
	uint8_t *p;

	if(want <= c->incap)
		return 0;
	if(want < c->incap * 2)
		want = c->incap * 2;
	if(want > (size_t)maxmsize + Inbuf)
		want = (size_t)maxmsize + Inbuf;
	p = realloc(c->in, want);
	if(p == NULL)
		return -1;
	c->in = p;
	c->incap = want;
	return 0;
}

void
connserve(Conn *c)
{
	size_t off;
	ssize_t n;
	long m;
	uint32_t sz;

	logmsg(LOG_CONN, "%s: connected", c->name);
	for(;;){
		off = 0;
		while((m = p9frame(c->in + off, c->inlen - off, c->msize)) > 0){
			handle(c, c->in + off, (size_t)m);
			off += (size_t)m;
			if(c->dead || (c->outlen >= Flushat && flushout(c) < 0))
				goto out;
		}
		if(m < 0){
			logmsg(LOG_CONN, "%s: %s; hanging up", c->name, p9strerror((int)m));
			flushout(c);
			goto out;
		}
		if(c->outlen > 0 && flushout(c) < 0)
			goto out;
		if(off > 0){
			memmove(c->in, c->in + off, c->inlen - off);
			c->inlen -= off;
		}
		if(c->inlen >= 4){
			sz = p9get32(c->in);
			if(sz > c->incap && growin(c, sz) < 0){
				logerror("%s: out of memory for a %u-byte message", c->name, sz);
				goto out;
			}
		}
		n = read(c->rfd, c->in + c->inlen, c->incap - c->inlen);
		if(n < 0 && errno == EINTR)
			continue;
		if(n <= 0)
			break;
		c->inlen += (size_t)n;
	}
out:
	logmsg(LOG_CONN, "%s: gone", c->name);
	connfree(c);
}

void
connfree(Conn *c)
{
	Fid *f;

	pthread_mutex_lock(&fs.lk);
	clunkall(c);
	pthread_mutex_unlock(&fs.lk);
	close(c->rfd);
	if(c->wfd != c->rfd)
		close(c->wfd);
	while((f = c->freefids) != NULL){
		c->freefids = f->next;
		free(f);
	}
	free(c->fids);
	free(c->in);
	free(c->out);
	free(c);
}
