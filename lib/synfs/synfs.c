/*
 * synfs: a 9P2000 and 9P2000.L server for a synthetic tree that the
 * caller describes by path, without I/O.
 *
 * The library keeps no tree.  A fid remembers its path and the entry
 * (qid, mode) it had when walked to; every walk asks the caller again,
 * so a directory that changes (clients come and go) is seen as it is
 * now, and a name that went away is an error.  Opening a file takes a
 * snapshot of its contents, opening a directory a snapshot of its
 * entries: reads are consistent within one open.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "9p.h"
#include "synfs.h"

enum {
	DEFMSIZE	= 64 * 1024,
	DEFMAXFIDS	= 64,
	DEFMAXQUEUE	= 256 * 1024,
	DEFMAXSNAP	= 1024 * 1024,
	MAXNAME		= 255,
	MAXPATH		= 1024,
	MAXUID		= 64,
	MAXENAME	= 200,		/* an Rerror fits the smallest msize */
	NHASH		= 64,		/* fid buckets, a power of two */
};

/* 9P2000.L values, as Linux has them. */
enum {
	LO_ACCMODE	= 03,
	LO_TRUNC	= 01000,
	LS_IFDIR	= 0040000,
	LS_IFREG	= 0100000,
	LDT_DIR		= 4,
	LDT_REG		= 8,
	LGETATTR_BASIC	= 0x7ff,
	LSETATTR_MODE	= 0x1,
	LSETATTR_UID	= 0x2,
	LSETATTR_GID	= 0x4,
	LSETATTR_SIZE	= 0x8,
	V9FS_MAGIC	= 0x01021997,
	LBLKSIZE	= 4096,
};

/* Errors, with the Linux errno 9P2000.L carries. */
enum {
	Eok, Ebadfid, Enofid, Efidinuse, Enoent, Enotdir, Eisdir, Eperm,
	Eopen, Enotread, Enotwrite, Ebadoff, Ecount, Efids, Enoauth,
	Enoversion, Emsize, Etype, Enomem, Efbig, Elong, Etoobig, Enotsup,
	Emode, Ecaller,
};

static const struct {
	const char	*s;
	uint32_t	errnum;
} errtab[] = {
	[Eok]		= { "no error", 0 },
	[Ebadfid]	= { "unknown fid", 9 },				/* EBADF */
	[Enofid]	= { "invalid fid number", 9 },
	[Efidinuse]	= { "fid already in use", 22 },			/* EINVAL */
	[Enoent]	= { "file does not exist", 2 },			/* ENOENT */
	[Enotdir]	= { "not a directory", 20 },			/* ENOTDIR */
	[Eisdir]	= { "is a directory", 21 },			/* EISDIR */
	[Eperm]		= { "permission denied", 13 },			/* EACCES */
	[Eopen]		= { "fid already open", 9 },
	[Enotread]	= { "fid not open for reading", 9 },
	[Enotwrite]	= { "fid not open for writing", 9 },
	[Ebadoff]	= { "bad offset in directory read", 22 },
	[Ecount]	= { "count too small for a directory entry", 22 },
	[Efids]		= { "too many fids", 24 },			/* EMFILE */
	/* ENOENT: what diod's client library takes for "none needed" */
	[Enoauth]	= { "authentication not required", 2 },
	[Enoversion]	= { "version not negotiated", 71 },		/* EPROTO */
	[Emsize]	= { "msize too small", 22 },
	[Etype]		= { "unknown message type", 95 },		/* EOPNOTSUPP */
	[Enomem]	= { "out of memory", 12 },			/* ENOMEM */
	[Efbig]		= { "file larger than the snapshot limit", 27 },	/* EFBIG */
	[Elong]		= { "file name too long", 36 },			/* ENAMETOOLONG */
	[Etoobig]	= { "reply larger than msize", 90 },		/* EMSGSIZE */
	[Enotsup]	= { "operation not supported", 95 },
	[Emode]		= { "bad open mode", 22 },
	[Ecaller]	= { "", 0 },
};

typedef struct Ent Ent;
typedef struct Fid Fid;

/* A directory entry in a listing; its name is at name in the list's names. */
struct Ent {
	uint64_t	qid;
	uint32_t	mode;
	uint32_t	name;
	uint16_t	namelen;
};

struct Synlist {
	Ent		*e;
	size_t		n;
	size_t		cap;
	char		*names;		/* NUL-terminated, one after another */
	size_t		nlen;
	size_t		ncap;
	size_t		max;		/* bytes of e and names together */
	int		err;		/* Enomem or Efbig once synadd failed so */
	const char	*want;		/* a lookup: only this name is kept */
};

struct Synbuf {
	char		*p;
	size_t		len;
	size_t		cap;
	size_t		max;
	int		err;
};

struct Fid {
	Fid		*next;		/* hash chain */
	uint32_t	num;
	char		*path;
	uint64_t	qid;
	uint32_t	mode;
	int		omode;		/* -1 until opened; then P9_OREAD, P9_OWRITE or P9_ORDWR */
	char		*data;		/* an open file's snapshot */
	size_t		len;
	Synlist		*dir;		/* an open directory's snapshot */
	size_t		diri;		/* 9P2000 directory reads: the next entry */
	uint64_t	diroff;		/* and the offset it starts at */
};

struct Synconn {
	Synfs		*fs;
	Synconn		*next;
	Synconn		*prev;
	void		*aux;
	uint32_t	msize;
	int		dialect;
	int		versioned;
	int		nfids;
	Fid		*fids[NHASH];
	Synq		q;
	/* the error of the current request when it is Ecaller */
	const char	*ename;
	uint32_t	errnum;
	char		ebuf[MAXENAME + 1];
};

struct Synfs {
	Synconf		conf;
	char		uid[MAXUID + 1];
	Synstats	st;
	Synconn		*conns;
	Synlist		look;		/* walks: reused */
	uint8_t		*tmp;		/* msize + 1: directory reads, stat entries, write text */
};

/*
 * Listings and snapshots.
 */

static void
listreset(Synlist *l, size_t max, const char *want)
{
	l->n = 0;
	l->nlen = 0;
	l->err = Eok;
	l->max = max;
	l->want = want;
}

static void
listfree(Synlist *l)
{
	if(l == NULL)
		return;
	free(l->e);
	free(l->names);
	l->e = NULL;
	l->names = NULL;
	l->cap = l->ncap = 0;
}

static const char *
entname(const Synlist *l, const Ent *e)
{
	return l->names + e->name;
}

static int
validname(const char *name, size_t n)
{
	if(n == 0 || n > MAXNAME || memchr(name, '/', n) != NULL)
		return 0;
	if((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	return 1;
}

int
synadd(Synlist *l, const char *name, uint64_t qid, uint32_t mode)
{
	size_t n, cap, used;
	Ent *e;
	char *s;

	if(l == NULL || name == NULL || l->err != Eok)
		return -1;
	n = strlen(name);
	if(!validname(name, n))
		return -1;
	/* a caller that lists everything for a walk costs no memory */
	if(l->want != NULL && strcmp(name, l->want) != 0)
		return 0;
	used = l->n * sizeof(Ent) + l->nlen;
	if(l->max - used < sizeof(Ent) + n + 1){
		l->err = Efbig;
		return -1;
	}
	if(l->n == l->cap){
		cap = l->cap ? 2 * l->cap : 16;
		if((e = realloc(l->e, cap * sizeof *e)) == NULL){
			l->err = Enomem;
			return -1;
		}
		l->e = e;
		l->cap = cap;
	}
	if(l->ncap - l->nlen < n + 1){
		cap = l->ncap ? 2 * l->ncap : 256;
		while(cap - l->nlen < n + 1)
			cap *= 2;
		if((s = realloc(l->names, cap)) == NULL){
			l->err = Enomem;
			return -1;
		}
		l->names = s;
		l->ncap = cap;
	}
	e = &l->e[l->n++];
	e->qid = qid;
	e->mode = mode;
	e->name = (uint32_t)l->nlen;
	e->namelen = (uint16_t)n;
	memcpy(l->names + l->nlen, name, n + 1);
	l->nlen += n + 1;
	return 0;
}

/* Room for n more bytes in b: 0, or -1 with b->err set. */
static int
bufroom(Synbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if(b->err != Eok)
		return -1;
	if(b->max - b->len < n){
		b->err = Efbig;
		return -1;
	}
	if(b->cap - b->len > n)
		return 0;
	cap = b->cap ? b->cap : 256;
	while(cap - b->len <= n)
		cap *= 2;
	if(cap > b->max + 1)
		cap = b->max + 1;
	if((p = realloc(b->p, cap)) == NULL){
		b->err = Enomem;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int
synput(Synbuf *b, const void *p, size_t n)
{
	if(b == NULL || bufroom(b, n) < 0)
		return -1;
	if(n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int
synprint(Synbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if(b == NULL)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if(n < 0 || bufroom(b, (size_t)n) < 0)
		return -1;
	/* bufroom left room for the NUL vsnprintf writes */
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/*
 * Output queues.
 */

static int
qput(Synconn *c, const Fcall *r)
{
	Synfs *fs;
	Synmsg *g;
	size_t n;
	int wasempty;

	fs = c->fs;
	n = p9size(r, c->dialect);
	if(n == 0 || (g = malloc(sizeof *g + n)) == NULL)
		return -1;
	g->next = NULL;
	g->len = (uint32_t)p9encode(g->data, n, r, c->dialect);
	g->off = 0;
	wasempty = c->q.head == NULL;
	if(c->q.tail)
		c->q.tail->next = g;
	else
		c->q.head = g;
	c->q.tail = g;
	c->q.bytes += n;
	c->q.n++;
	fs->st.bytesout += n;
	if(fs->conf.trace)
		fs->conf.trace(c->aux, SYN_ROUT, g->data, n, c->dialect);
	if(wasempty && fs->conf.wake)
		fs->conf.wake(c->aux, SYN_WOUT);
	return 0;
}

int
synqiov(Synq *q, struct iovec *iov, int max)
{
	Synmsg *g;
	int n;

	n = 0;
	for(g = q->head; g != NULL && n < max; g = g->next){
		iov[n].iov_base = g->data + g->off;
		iov[n].iov_len = g->len - g->off;
		n++;
	}
	return n;
}

void
synqadvance(Synq *q, size_t n)
{
	Synconn *c;
	Synmsg *g;
	size_t k;
	int full;

	c = q->conn;
	full = synconnblocked(c);
	while(n > 0 && (g = q->head) != NULL){
		k = g->len - g->off;
		if(n < k){
			g->off += (uint32_t)n;
			q->bytes -= n;
			break;
		}
		n -= k;
		q->bytes -= k;
		q->n--;
		q->head = g->next;
		if(q->head == NULL)
			q->tail = NULL;
		free(g);
	}
	/* a client that reads its replies may send more */
	if(full && !synconnblocked(c) && c->fs->conf.wake)
		c->fs->conf.wake(c->aux, SYN_WIN);
}

int
synqempty(Synq *q)
{
	return q->head == NULL;
}

static void
qfree(Synq *q)
{
	Synmsg *g;

	while((g = q->head) != NULL){
		q->head = g->next;
		free(g);
	}
	q->tail = NULL;
	q->bytes = 0;
	q->n = 0;
}

/*
 * Fids.
 */

static Fid *
fidget(Synconn *c, uint32_t num)
{
	Fid *f;

	for(f = c->fids[num & (NHASH - 1)]; f != NULL; f = f->next)
		if(f->num == num)
			return f;
	return NULL;
}

/* A new fid num at path (taken over: freed here on failure), not open. */
static Fid *
fidnew(Synconn *c, uint32_t num, char *path, uint64_t qid, uint32_t mode)
{
	Fid *f;

	if((f = calloc(1, sizeof *f)) == NULL){
		free(path);
		return NULL;
	}
	f->num = num;
	f->path = path;
	f->qid = qid;
	f->mode = mode;
	f->omode = -1;
	f->next = c->fids[num & (NHASH - 1)];
	c->fids[num & (NHASH - 1)] = f;
	c->nfids++;
	return f;
}

static void
fidclose(Fid *f)
{
	free(f->data);
	f->data = NULL;
	f->len = 0;
	if(f->dir != NULL){
		listfree(f->dir);
		free(f->dir);
		f->dir = NULL;
	}
	f->omode = -1;
}

static void
fiddel(Synconn *c, Fid *f)
{
	Fid **pp;

	for(pp = &c->fids[f->num & (NHASH - 1)]; *pp != f; pp = &(*pp)->next)
		;
	*pp = f->next;
	c->nfids--;
	fidclose(f);
	free(f->path);
	free(f);
}

static void
fidsclear(Synconn *c)
{
	int i;

	for(i = 0; i < NHASH; i++)
		while(c->fids[i] != NULL)
			fiddel(c, c->fids[i]);
}

/*
 * The tree, through the caller.
 */

static Qid
mkqid(uint64_t path, uint32_t mode)
{
	Qid q;

	q.type = (mode & P9_DMDIR) ? P9_QTDIR : P9_QTFILE;
	q.vers = 0;
	q.path = path;
	return q;
}

/* The entry name of dir, if it still has one: Eok with *qid and *mode set. */
static int
lookup(Synfs *fs, const char *dir, P9str name, uint64_t *qid, uint32_t *mode)
{
	char want[MAXNAME + 1];
	Synlist *l;
	int e;

	if(!validname(name.s, name.n))
		return Enoent;
	memcpy(want, name.s, name.n);
	want[name.n] = 0;
	l = &fs->look;
	listreset(l, fs->conf.maxsnap, want);
	e = fs->conf.list(fs->conf.aux, dir, want, l);
	l->want = NULL;
	if(e < 0)
		return Enoent;
	if(l->err != Eok)
		return l->err;
	if(l->n == 0)
		return Enoent;
	/* the first of that name, should the caller repeat one */
	*qid = l->e[0].qid;
	*mode = l->e[0].mode;
	return Eok;
}

/* The length of the parent's path of path ("/a/b" -> 2, "/a" -> 1). */
static size_t
parentlen(const char *path, size_t len)
{
	while(len > 1 && path[len - 1] != '/')
		len--;
	return len > 1 ? len - 1 : 1;
}

/* The last element of path, or "/". */
static P9str
basename9(const char *path)
{
	const char *s;
	P9str r;

	s = strrchr(path, '/');
	r.s = s != NULL && s[1] ? s + 1 : path;
	r.n = (uint16_t)strlen(r.s);
	return r;
}

static void
dirof(Synfs *fs, P9str name, uint64_t qid, uint32_t mode, P9dir *d)
{
	memset(d, 0, sizeof *d);
	d->qid = mkqid(qid, mode);
	d->mode = mode;
	d->atime = fs->conf.mtime;
	d->mtime = fs->conf.mtime;
	d->name = name;
	d->uid = p9str(fs->uid);
	d->gid = d->uid;
	d->muid = d->uid;
}

/*
 * Messages.  Each handler fills the reply r and returns Eok, or returns
 * an error and leaves the connection as it was.
 */

static int
callerr(Synconn *c, const char *s, uint32_t errnum)
{
	size_t n;

	n = strlen(s);
	if(n > MAXENAME)
		n = MAXENAME;
	memcpy(c->ebuf, s, n);
	c->ebuf[n] = 0;
	c->ename = c->ebuf;
	c->errnum = errnum;
	return Ecaller;
}

/* 9P2000 and, for what follows a period, its extensions; 9P2000.L exactly. */
static int
versionof(P9str v)
{
	if(p9dialect(v.s, v.n) == P9_2000L)
		return P9_2000L;
	if(v.n >= 6 && memcmp(v.s, "9P2000", 6) == 0 && (v.n == 6 || v.s[6] == '.'))
		return P9_2000;
	return -1;
}

static int
rversion(Synconn *c, const Fcall *t, Fcall *r)
{
	uint32_t msize;
	int d;

	/* a Tversion ends the session: whatever it had is gone, even if it fails */
	fidsclear(c);
	c->versioned = 0;
	c->dialect = P9_2000;
	c->msize = c->fs->conf.msize;
	if(t->msize < P9_MINMSIZE)
		return Emsize;
	msize = t->msize < c->fs->conf.msize ? t->msize : c->fs->conf.msize;
	r->msize = msize;
	d = versionof(t->version);
	if(d < 0){
		r->version = p9str("unknown");
		return Eok;
	}
	r->version = p9str(p9dialectname(d));
	c->msize = msize;
	c->dialect = d;
	c->versioned = 1;
	return Eok;
}

static int
rattach(Synconn *c, const Fcall *t, Fcall *r)
{
	Synfs *fs;
	char *root;

	fs = c->fs;
	if(t->fid == P9_NOFID)
		return Enofid;
	if(fidget(c, t->fid) != NULL)
		return Efidinuse;
	if(t->afid != P9_NOFID)
		return Enoauth;
	if(c->nfids >= fs->conf.maxfids)
		return Efids;
	/* one tree: every aname is its root (diodload asks for "ctl") */
	if((root = strdup("/")) == NULL || fidnew(c, t->fid, root, fs->conf.rootqid, fs->conf.rootmode) == NULL)
		return Enomem;
	r->qid = mkqid(fs->conf.rootqid, fs->conf.rootmode);
	return Eok;
}

/* Cut path (*len bytes) to its parent: Eok with the parent's entry in *qid and *mode. */
static int
walkup(Synfs *fs, char *path, size_t *len, uint64_t *qid, uint32_t *mode)
{
	char dir[MAXPATH + 1];
	size_t plen, glen, start;
	P9str nm;
	int e;

	if(*len == 1)
		return Eok;	/* the root's parent is the root */
	plen = parentlen(path, *len);
	if(plen == 1){
		*qid = fs->conf.rootqid;
		*mode = fs->conf.rootmode;
	}else{
		/* the parent is an entry of the grandparent, which may have lost it */
		glen = parentlen(path, plen);
		start = glen == 1 ? 1 : glen + 1;
		memcpy(dir, path, glen);
		dir[glen] = 0;
		nm.s = path + start;
		nm.n = (uint16_t)(plen - start);
		if((e = lookup(fs, dir, nm, qid, mode)) != Eok)
			return e;
	}
	path[plen] = 0;
	*len = plen;
	return Eok;
}

static int
rwalk(Synconn *c, const Fcall *t, Fcall *r)
{
	Synfs *fs;
	Fid *f;
	char path[MAXPATH + 1], *p;
	size_t len;
	uint64_t qid;
	uint32_t mode;
	int i, e;
	P9str nm;

	fs = c->fs;
	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	/*
	 * walk(5) forbids walking an open fid; 9P2000.L clients (diodls -l)
	 * walk from open directories to new fids, which harms nothing here.
	 */
	if(f->omode != -1 && (c->dialect != P9_2000L || t->newfid == t->fid))
		return Eopen;
	if(t->newfid == P9_NOFID)
		return Enofid;
	if(t->newfid != t->fid){
		if(fidget(c, t->newfid) != NULL)
			return Efidinuse;
		if(c->nfids >= fs->conf.maxfids)
			return Efids;
	}
	len = strlen(f->path);
	memcpy(path, f->path, len + 1);
	qid = f->qid;
	mode = f->mode;
	e = Eok;
	for(i = 0; i < t->nwname; i++){
		nm = t->wname[i];
		if(!(mode & P9_DMDIR)){
			e = Enotdir;
			break;
		}
		if(p9streq(nm, "..")){
			if((e = walkup(fs, path, &len, &qid, &mode)) != Eok)
				break;
		}else if(!p9streq(nm, ".")){
			/* "." is no entry's name: diodls -l walks it, and stays */
			if((len > 1) + (size_t)nm.n > MAXPATH - len){
				e = Elong;
				break;
			}
			if((e = lookup(fs, path, nm, &qid, &mode)) != Eok)
				break;
			if(len > 1)
				path[len++] = '/';
			memcpy(path + len, nm.s, nm.n);
			len += nm.n;
			path[len] = 0;
		}
		r->wqid[i] = mkqid(qid, mode);
	}
	r->nwqid = (uint16_t)i;
	if(i < t->nwname)
		return i == 0 ? e : Eok;	/* a short walk creates nothing */
	if((p = strdup(path)) == NULL)
		return Enomem;
	if(t->newfid == t->fid){
		free(f->path);
		f->path = p;
		f->qid = qid;
		f->mode = mode;
	}else if(fidnew(c, t->newfid, p, qid, mode) == NULL)
		return Enomem;
	return Eok;
}

/*
 * Open f for acc (P9_OREAD, P9_OWRITE, P9_ORDWR or P9_OEXEC), taking
 * its snapshot: the entries of a directory, the contents of a file
 * opened for reading.
 */
static int
openfid(Synconn *c, Fid *f, int acc, int trunc, int rclose)
{
	Synfs *fs;
	Synlist *l;
	Synbuf b;
	const char *err;
	int e;

	fs = c->fs;
	if(f->omode != -1)
		return Eopen;
	if(rclose || acc == P9_OEXEC)
		return Eperm;	/* nothing can be removed, nor run */
	if(f->mode & P9_DMDIR){
		if(acc != P9_OREAD || trunc)
			return Eisdir;
		if(!(f->mode & 0444))
			return Eperm;
		if((l = calloc(1, sizeof *l)) == NULL)
			return Enomem;
		listreset(l, fs->conf.maxsnap, NULL);
		e = fs->conf.list(fs->conf.aux, f->path, NULL, l) < 0 ? Enoent : l->err;
		if(e != Eok){
			listfree(l);
			free(l);
			return e;
		}
		f->dir = l;
		f->diri = 0;
		f->diroff = 0;
		f->omode = acc;
		return Eok;
	}
	if(acc != P9_OWRITE && !(f->mode & 0444))
		return Eperm;
	if((acc != P9_OREAD || trunc) && (!(f->mode & 0222) || fs->conf.write == NULL))
		return Eperm;
	if(acc != P9_OWRITE && fs->conf.read != NULL){
		memset(&b, 0, sizeof b);
		b.max = fs->conf.maxsnap;
		err = fs->conf.read(fs->conf.aux, f->path, f->qid, &b);
		if(err != NULL || b.err != Eok){
			free(b.p);
			return err != NULL ? callerr(c, err, 5) : b.err;	/* EIO */
		}
		f->data = b.p;
		f->len = b.len;
	}
	f->omode = acc;
	return Eok;
}

static int
ropen(Synconn *c, const Fcall *t, Fcall *r)
{
	Fid *f;
	int e;

	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	e = openfid(c, f, t->mode & 3, (t->mode & P9_OTRUNC) != 0, (t->mode & P9_ORCLOSE) != 0);
	if(e != Eok)
		return e;
	r->qid = mkqid(f->qid, f->mode);
	r->iounit = c->msize - P9_IOHDRSZ;
	return Eok;
}

static P9str
entstr(const Synlist *l, const Ent *e)
{
	P9str s;

	s.s = entname(l, e);
	s.n = e->namelen;
	return s;
}

/*
 * 9P2000 directory reads: whole stat entries, from offset 0 or from
 * where the previous read ended (read(5)).
 */
static int
dirread(Synconn *c, Fid *f, uint64_t offset, uint32_t count, Fcall *r)
{
	Synfs *fs;
	Synlist *l;
	P9dir d;
	size_t i, used, sz;

	fs = c->fs;
	l = f->dir;
	if(offset == 0)
		i = 0;
	else if(offset == f->diroff)
		i = f->diri;
	else
		return Ebadoff;
	used = 0;
	for(; i < l->n; i++){
		dirof(fs, entstr(l, &l->e[i]), l->e[i].qid, l->e[i].mode, &d);
		sz = p9dirsize(&d, P9_2000);
		if(sz > count - used)
			break;
		p9direncode(fs->tmp + used, count - used, &d, P9_2000);
		used += sz;
	}
	if(used == 0 && i < l->n)
		return Ecount;
	f->diri = i;
	f->diroff = offset + used;
	r->count = (uint32_t)used;
	r->data = fs->tmp;
	return Eok;
}

static int
rread(Synconn *c, const Fcall *t, Fcall *r)
{
	Fid *f;
	uint32_t count;

	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(f->omode == -1 || f->omode == P9_OWRITE)
		return Enotread;
	count = t->count;
	if(count > c->msize - P9_READHDRSZ)
		count = c->msize - P9_READHDRSZ;
	if(f->dir != NULL)
		return c->dialect == P9_2000L ? Eisdir : dirread(c, f, t->offset, count, r);
	if(t->offset >= f->len)
		return Eok;
	if(count > f->len - t->offset)
		count = (uint32_t)(f->len - t->offset);
	r->count = count;
	r->data = (const uint8_t *)f->data + t->offset;
	return Eok;
}

static int
rwrite(Synconn *c, const Fcall *t, Fcall *r)
{
	Synfs *fs;
	Fid *f;
	const char *err;

	fs = c->fs;
	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(f->omode != P9_OWRITE && f->omode != P9_ORDWR)
		return Enotwrite;
	/* the caller gets text it can parse with string functions */
	memcpy(fs->tmp, t->data, t->count);
	fs->tmp[t->count] = 0;
	err = fs->conf.write(fs->conf.aux, f->path, f->qid, (const char *)fs->tmp, t->count);
	if(err != NULL)
		return callerr(c, err, 22);	/* EINVAL */
	r->count = t->count;
	return Eok;
}

static int
rclunk(Synconn *c, const Fcall *t)
{
	Fid *f;

	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	fiddel(c, f);
	return Eok;
}

static int
rremove(Synconn *c, const Fcall *t)
{
	Fid *f;

	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	/* remove(5): the fid is clunked even when the remove fails */
	fiddel(c, f);
	return Eperm;
}

static int
rstat(Synconn *c, const Fcall *t, Fcall *r)
{
	Synfs *fs;
	Fid *f;
	P9dir d;
	size_t n;

	fs = c->fs;
	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	dirof(fs, basename9(f->path), f->qid, f->mode, &d);
	n = p9dirsize(&d, P9_2000);
	if(n == 0 || n > c->msize - P9_HDRSZ - 2)
		return Etoobig;
	p9direncode(fs->tmp, n, &d, P9_2000);
	r->nstat = (uint16_t)n;
	r->stat = fs->tmp;
	return Eok;
}

/* A request that would change the tree: refused, once its fids are known. */
static int
rrefuse(Synconn *c, const Fcall *t, int e)
{
	uint32_t a, b;

	switch(t->type){
	case Tmknod:
	case Tmkdir:
	case Tunlinkat:
		a = b = t->dfid;
		break;
	case Trename:
	case Tlink:
		a = t->fid;
		b = t->dfid;
		break;
	case Trenameat:
		a = t->dfid;
		b = t->newdfid;
		break;
	default:
		a = b = t->fid;
		break;
	}
	if(fidget(c, a) == NULL || fidget(c, b) == NULL)
		return Ebadfid;
	return e;
}

/*
 * 9P2000.L.
 */

static int
rlopen(Synconn *c, const Fcall *t, Fcall *r)
{
	Fid *f;
	int acc, e;

	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	acc = (int)(t->flags & LO_ACCMODE);
	if(acc == 3)
		return Emode;
	if((e = openfid(c, f, acc, (t->flags & LO_TRUNC) != 0, 0)) != Eok)
		return e;
	r->qid = mkqid(f->qid, f->mode);
	r->iounit = c->msize - P9_IOHDRSZ;
	return Eok;
}

static int
rgetattr(Synconn *c, const Fcall *t, Fcall *r)
{
	Synfs *fs;
	Fid *f;
	int dir;

	fs = c->fs;
	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	dir = (f->mode & P9_DMDIR) != 0;
	r->attr.valid = LGETATTR_BASIC;
	r->attr.qid = mkqid(f->qid, f->mode);
	r->attr.mode = (dir ? LS_IFDIR : LS_IFREG) | (f->mode & 0777);
	r->attr.uid = fs->conf.nuid;
	r->attr.gid = fs->conf.nuid;
	r->attr.nlink = dir ? 2 : 1;
	r->attr.blksize = LBLKSIZE;
	r->attr.atime_sec = fs->conf.mtime;
	r->attr.mtime_sec = fs->conf.mtime;
	r->attr.ctime_sec = fs->conf.mtime;
	return Eok;
}

static int
rsetattr(Synconn *c, const Fcall *t)
{
	Fid *f;

	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(t->sattr.valid & (LSETATTR_MODE | LSETATTR_UID | LSETATTR_GID))
		return Eperm;
	/*
	 * Linux truncates a file opened with O_TRUNC by Tsetattr of size 0
	 * (echo cmd > ctl): on a writable file that is nothing to do.
	 */
	if((f->mode & P9_DMDIR) || !(f->mode & 0222) || c->fs->conf.write == NULL)
		return Eperm;
	return Eok;
}

static int
rreaddir(Synconn *c, const Fcall *t, Fcall *r)
{
	Synfs *fs;
	Synlist *l;
	Fid *f;
	P9dirent d;
	uint32_t count;
	size_t i, used, sz;

	fs = c->fs;
	if((f = fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(!(f->mode & P9_DMDIR))
		return Enotdir;
	if((l = f->dir) == NULL)
		return Enotread;
	count = t->count;
	if(count > c->msize - P9_READHDRSZ)
		count = c->msize - P9_READHDRSZ;
	/* an entry's offset is the cookie of the next: its index plus one */
	used = 0;
	for(i = t->offset < l->n ? (size_t)t->offset : l->n; i < l->n; i++){
		d.qid = mkqid(l->e[i].qid, l->e[i].mode);
		d.offset = i + 1;
		d.type = (l->e[i].mode & P9_DMDIR) ? LDT_DIR : LDT_REG;
		d.name = entstr(l, &l->e[i]);
		sz = p9direntsize(&d);
		if(sz > count - used)
			break;
		p9direntencode(fs->tmp + used, count - used, &d);
		used += sz;
	}
	if(used == 0 && i < l->n)
		return Ecount;
	r->count = (uint32_t)used;
	r->data = fs->tmp;
	return Eok;
}

static int
rstatfs(Synconn *c, const Fcall *t, Fcall *r)
{
	if(fidget(c, t->fid) == NULL)
		return Ebadfid;
	r->statfs.type = V9FS_MAGIC;
	r->statfs.bsize = LBLKSIZE;
	r->statfs.namelen = MAXNAME;
	return Eok;
}

/*
 * Requests.
 */

static int
dispatch(Synconn *c, const Fcall *t, Fcall *r)
{
	if(t->type == Tversion)
		return rversion(c, t, r);
	if(!c->versioned)
		return Enoversion;
	switch(t->type){
	case Tauth:	return Enoauth;
	case Tattach:	return rattach(c, t, r);
	case Tflush:	return Eok;	/* every request was answered at once */
	case Twalk:	return rwalk(c, t, r);
	case Tread:	return rread(c, t, r);
	case Twrite:	return rwrite(c, t, r);
	case Tclunk:	return rclunk(c, t);
	case Tremove:	return rremove(c, t);
	}
	if(c->dialect == P9_2000L){
		switch(t->type){
		case Tlopen:	return rlopen(c, t, r);
		case Tgetattr:	return rgetattr(c, t, r);
		case Tsetattr:	return rsetattr(c, t);
		case Treaddir:	return rreaddir(c, t, r);
		case Tstatfs:	return rstatfs(c, t, r);
		case Tfsync:	return rrefuse(c, t, Eok);
		case Tlcreate:
		case Tsymlink:
		case Tmknod:
		case Trename:
		case Trenameat:
		case Tunlinkat:
		case Tmkdir:
		case Tlink:	return rrefuse(c, t, Eperm);
		case Txattrwalk:
		case Txattrcreate:
		case Treadlink:
		case Tlock:
		case Tgetlock:	return rrefuse(c, t, Enotsup);
		}
		return Etype;
	}
	switch(t->type){
	case Topen:	return ropen(c, t, r);
	case Tstat:	return rstat(c, t, r);
	case Tcreate:
	case Twstat:	return rrefuse(c, t, Eperm);
	}
	return Etype;
}

/* Answer the whole frame buf of n bytes: 0, or -1 if memory ran out for the reply. */
static int
request(Synconn *c, const uint8_t *buf, size_t n)
{
	Synfs *fs;
	Fcall t, r;
	const char *what;
	long m;
	int e;

	fs = c->fs;
	fs->st.requests++;
	fs->st.bytesin += n;
	if(fs->conf.trace)
		fs->conf.trace(c->aux, SYN_TIN, buf, n, c->dialect);
	memset(&r, 0, sizeof r);
	r.tag = p9get16(buf + P9_TAGOFF);
	m = p9decode(buf, n, c->msize, c->dialect, &t);
	what = p9typename(buf[4]);
	if(m == P9_ETYPE)
		e = Etype;
	else if(m < 0){
		snprintf(c->ebuf, sizeof c->ebuf, "malformed %s: %s", what ? what : "message", p9strerror((int)m));
		e = callerr(c, c->ebuf, 71);	/* EPROTO */
	}else if(t.type & 1){
		snprintf(c->ebuf, sizeof c->ebuf, "%s is not a request", what);
		e = callerr(c, c->ebuf, 95);	/* EOPNOTSUPP */
	}else{
		r.type = (uint8_t)(t.type + 1);
		e = dispatch(c, &t, &r);
		if(e == Eok && p9size(&r, c->dialect) > c->msize)
			e = Etoobig;	/* a guard: replies are cut to fit */
	}
	if(e != Eok){
		fs->st.errors++;
		memset(&r, 0, sizeof r);
		r.tag = p9get16(buf + P9_TAGOFF);
		if(c->dialect == P9_2000L){
			r.type = Rlerror;
			r.errnum = e == Ecaller ? c->errnum : errtab[e].errnum;
		}else{
			r.type = Rerror;
			r.ename = p9str(e == Ecaller ? c->ename : errtab[e].s);
		}
	}
	return qput(c, &r);
}

static void __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if(err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

long
synconnin(Synconn *c, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t off;
	long n;

	off = 0;
	while(off < len){
		/* a client that does not read its replies waits in its socket */
		if(synconnblocked(c))
			break;
		n = p9frame(buf + off, len - off, c->msize);
		if(n == P9_EINCOMPLETE)
			break;
		if(n < 0){
			c->fs->st.badconns++;
			if(n == P9_EBIG)
				fail(err, errlen, "bad frame: size %u above msize %u", p9get32(buf + off), c->msize);
			else
				fail(err, errlen, "bad frame: size %u below 7", p9get32(buf + off));
			return -1;
		}
		if(request(c, buf + off, (size_t)n) < 0){
			fail(err, errlen, "out of memory for a reply");
			return -1;
		}
		off += (size_t)n;
	}
	return (long)off;
}

int
synconnblocked(Synconn *c)
{
	return c->q.bytes >= c->fs->conf.maxqueue;
}

uint32_t
synconnmsize(Synconn *c)
{
	return c->msize;
}

Synq *
synconnq(Synconn *c)
{
	return &c->q;
}

/*
 * Servers and connections.
 */

Synfs *
synnew(const Synconf *conf)
{
	Synfs *fs;
	Synconf *k;

	if(conf == NULL || conf->list == NULL)
		return NULL;
	if((fs = calloc(1, sizeof *fs)) == NULL)
		return NULL;
	fs->conf = *conf;
	k = &fs->conf;
	if(k->msize == 0)
		k->msize = DEFMSIZE;
	if(k->msize < P9_MINMSIZE)
		k->msize = P9_MINMSIZE;
	if(k->maxfids <= 0)
		k->maxfids = DEFMAXFIDS;
	if(k->maxqueue == 0)
		k->maxqueue = DEFMAXQUEUE;
	if(k->maxsnap == 0)
		k->maxsnap = DEFMAXSNAP;
	k->rootmode = (k->rootmode ? k->rootmode & 0777 : 0555) | P9_DMDIR;
	snprintf(fs->uid, sizeof fs->uid, "%s", k->uid ? k->uid : "none");
	k->uid = fs->uid;
	if((fs->tmp = malloc((size_t)k->msize + 1)) == NULL){
		free(fs);
		return NULL;
	}
	return fs;
}

void
synfree(Synfs *fs)
{
	if(fs == NULL)
		return;
	while(fs->conns != NULL)
		synconnclose(fs->conns);
	listfree(&fs->look);
	free(fs->tmp);
	free(fs);
}

const Synstats *
synstats(Synfs *fs)
{
	return &fs->st;
}

Synconn *
synconnnew(Synfs *fs, void *aux)
{
	Synconn *c;

	if((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->fs = fs;
	c->aux = aux;
	c->msize = fs->conf.msize;
	c->dialect = P9_2000;
	c->q.conn = c;
	c->next = fs->conns;
	if(fs->conns)
		fs->conns->prev = c;
	fs->conns = c;
	fs->st.conns++;
	return c;
}

void
synconnclose(Synconn *c)
{
	if(c == NULL)
		return;
	fidsclear(c);
	qfree(&c->q);
	if(c->prev)
		c->prev->next = c->next;
	else
		c->fs->conns = c->next;
	if(c->next)
		c->next->prev = c->prev;
	free(c);
}
