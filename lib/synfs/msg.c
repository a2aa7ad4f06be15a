/*
 * msg.c - the messages: each request decoded, handled and answered,
 * with the error table; the handlers of 9P2000 and of 9P2000.L.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impl.h"

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

/*
 * Qids, names and stat entries, for replies.
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

static const char *
entname(const Synlist *l, const Ent *e)
{
	return l->names + e->name;
}

static P9str
entstr(const Synlist *l, const Ent *e)
{
	P9str s;

	s.s = entname(l, e);
	s.n = e->namelen;
	return s;
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

int
syn_callerr(Synconn *c, const char *s, uint32_t errnum)
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
	syn_fidsclear(c);
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
	if(syn_fidget(c, t->fid) != NULL)
		return Efidinuse;
	if(t->afid != P9_NOFID)
		return Enoauth;
	if(c->nfids >= fs->conf.maxfids)
		return Efids;
	/* one tree: every aname is its root (diodload asks for "ctl") */
	if((root = strdup("/")) == NULL || syn_fidnew(c, t->fid, root, fs->conf.rootqid, fs->conf.rootmode) == NULL)
		return Enomem;
	r->qid = mkqid(fs->conf.rootqid, fs->conf.rootmode);
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
	if((f = syn_fidget(c, t->fid)) == NULL)
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
		if(syn_fidget(c, t->newfid) != NULL)
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
			if((e = syn_walkup(fs, path, &len, &qid, &mode)) != Eok)
				break;
		}else if(!p9streq(nm, ".")){
			/* "." is no entry's name: diodls -l walks it, and stays */
			if((len > 1) + (size_t)nm.n > MAXPATH - len){
				e = Elong;
				break;
			}
			if((e = syn_lookup(fs, path, nm, &qid, &mode)) != Eok)
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
	}else if(syn_fidnew(c, t->newfid, p, qid, mode) == NULL)
		return Enomem;
	return Eok;
}

static int
ropen(Synconn *c, const Fcall *t, Fcall *r)
{
	Fid *f;
	int e;

	if((f = syn_fidget(c, t->fid)) == NULL)
		return Ebadfid;
	e = syn_openfid(c, f, t->mode & 3, (t->mode & P9_OTRUNC) != 0, (t->mode & P9_ORCLOSE) != 0);
	if(e != Eok)
		return e;
	r->qid = mkqid(f->qid, f->mode);
	r->iounit = c->msize - P9_IOHDRSZ;
	return Eok;
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

	if((f = syn_fidget(c, t->fid)) == NULL)
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
	if((f = syn_fidget(c, t->fid)) == NULL)
		return Ebadfid;
	if(f->omode != P9_OWRITE && f->omode != P9_ORDWR)
		return Enotwrite;
	/* the caller gets text it can parse with string functions */
	memcpy(fs->tmp, t->data, t->count);
	fs->tmp[t->count] = 0;
	err = fs->conf.write(fs->conf.aux, f->path, f->qid, (const char *)fs->tmp, t->count);
	if(err != NULL)
		return syn_callerr(c, err, 22);	/* EINVAL */
	r->count = t->count;
	return Eok;
}

static int
rclunk(Synconn *c, const Fcall *t)
{
	Fid *f;

	if((f = syn_fidget(c, t->fid)) == NULL)
		return Ebadfid;
	syn_fiddel(c, f);
	return Eok;
}

static int
rremove(Synconn *c, const Fcall *t)
{
	Fid *f;

	if((f = syn_fidget(c, t->fid)) == NULL)
		return Ebadfid;
	/* remove(5): the fid is clunked even when the remove fails */
	syn_fiddel(c, f);
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
	if((f = syn_fidget(c, t->fid)) == NULL)
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
	if(syn_fidget(c, a) == NULL || syn_fidget(c, b) == NULL)
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

	if((f = syn_fidget(c, t->fid)) == NULL)
		return Ebadfid;
	acc = (int)(t->flags & LO_ACCMODE);
	if(acc == 3)
		return Emode;
	if((e = syn_openfid(c, f, acc, (t->flags & LO_TRUNC) != 0, 0)) != Eok)
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
	if((f = syn_fidget(c, t->fid)) == NULL)
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

	if((f = syn_fidget(c, t->fid)) == NULL)
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
	if((f = syn_fidget(c, t->fid)) == NULL)
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
	if(syn_fidget(c, t->fid) == NULL)
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
int
syn_request(Synconn *c, const uint8_t *buf, size_t n)
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
		e = syn_callerr(c, c->ebuf, 71);	/* EPROTO */
	}else if(t.type & 1){
		snprintf(c->ebuf, sizeof c->ebuf, "%s is not a request", what);
		e = syn_callerr(c, c->ebuf, 95);	/* EOPNOTSUPP */
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
	return syn_qput(c, &r);
}
