/*
 * msg.c - a request handled: decoded, given to its handler, and its
 * reply or error made while the handler's locks are held; the handlers
 * of version, attach, walk, open and clunk, and of the 9P2000.L
 * messages that only look at a fid.  Those that read and write are in
 * io.c, those that change the tree in change.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "9p.h"
#include "log.h"
#include "ramfs.h"

enum {
	/* Linux values, as 9P2000.L carries them */
	LF_UNLCK = 2,

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

/* ---- helpers ---- */

/* f's qid: fs.tree held (vers alone may change under less). */
Qid
qidof(const File *f)
{
	Qid q;

	q.type = (uint8_t)(f->mode >> 24);
	q.vers = atomic_load_explicit(&f->vers, memory_order_relaxed);
	q.path = f->path;
	return q;
}

uint32_t
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

/* ---- 9P2000 and shared messages ---- */

/* Only while nothing else of the connection runs. */
static int
rversion(Req *q, const Fcall *t, Fcall *r)
{
	Conn *c;
	int d;

	c = q->c;
	treelock(q, Lwr);
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
rattach(Req *q, const Fcall *t, Fcall *r)
{
	Conn *c;
	Str *u;
	int e;

	c = q->c;
	if(t->fid == P9_NOFID)
		return Ebadfid;
	if(fidexists(c, t->fid))
		return Efidinuse;
	if(t->afid != P9_NOFID)
		return Eauth;
	/* there is one tree: any aname is its root (diodload asks for "ctl") */
	u = attachuser(c, t);
	if(u == NULL)
		return Enomem;
	treelock(q, Lrd);
	e = fidnew(c, t->fid, fs.root, u);
	strdecref(u);
	if(e != Eok)
		return e;
	r->qid = qidof(fs.root);
	return Eok;
}

static int
rwalk(Req *q, const Fcall *t, Fcall *r)
{
	Conn *c;
	Fid *fid;
	File *f, *nf;
	int i, e;

	c = q->c;
	/* walking in place changes the fid; to a new one only reads it */
	if((fid = fidhold(q, t->fid, t->newfid == t->fid ? Lwr : Lrd)) == NULL)
		return Ebadfid;
	/* walk(5) forbids walking an open fid; 9P2000.L clients (diodls -l) walk
	 * from open directories to new fids, which harms nothing */
	if(fid->omode != -1 && (c->dialect != P9_2000L || t->newfid == t->fid))
		return Eopen;
	if(t->newfid == P9_NOFID)
		return Ebadfid;
	if(t->newfid != t->fid && fidexists(c, t->newfid))
		return Efidinuse;
	treelock(q, Lrd);
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
		return Eok;
	}
	return fidnew(c, t->newfid, f, fid->user);
}

static int
ropen(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	int e;

	if((fid = fidhold(q, t->fid, Lwr)) == NULL)
		return Ebadfid;
	if(fid->omode != -1)
		return Eopen;
	treelock(q, Lrd);
	filelock(q, fid->file, Lwr);
	e = openfid(fid, t->mode & 3, (t->mode & P9_OTRUNC) != 0, (t->mode & P9_ORCLOSE) != 0, 1);
	if(e != Eok)
		return e;
	r->qid = qidof(fid->file);
	r->iounit = iounit(q->c);
	return Eok;
}

static int
rclunk(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;

	(void)r;
	if((fid = fidhold(q, t->fid, Lwr)) == NULL)
		return Ebadfid;
	if(fid->rclose)
		treelock(q, Lwr);
	else if(fid->excl){
		treelock(q, Lrd);
		filelock(q, fid->file, Lwr);
	}
	fidclunk(q->c, fid);
	return Eok;
}

/* ---- 9P2000.L ---- */

static int
rlopen(Req *q, const Fcall *t, Fcall *r)
{
	Fid *fid;
	int acc, e;

	if((fid = fidhold(q, t->fid, Lwr)) == NULL)
		return Ebadfid;
	if(fid->omode != -1)
		return Eopen;
	acc = t->flags & LO_ACCMODE;
	if(acc == 3)
		return Emode;
	treelock(q, Lrd);
	filelock(q, fid->file, Lwr);
	e = openfid(fid, acc, (t->flags & LO_TRUNC) != 0, 0, 1);
	if(e != Eok)
		return e;
	fid->append = (t->flags & LO_APPEND) != 0;
	r->qid = qidof(fid->file);
	r->iounit = iounit(q->c);
	return Eok;
}

static int
rstatfs(Req *q, const Fcall *t, Fcall *r)
{
	P9statfs *s;
	uint64_t bytes, nfiles;

	if(!fidexists(q->c, t->fid))
		return Ebadfid;
	bytes = atomic_load_explicit(&fs.bytes, memory_order_relaxed);
	nfiles = atomic_load_explicit(&fs.nfiles, memory_order_relaxed);
	s = &r->statfs;
	s->type = 0x01021997;	/* V9FS_MAGIC */
	s->bsize = 4096;
	s->blocks = fs.maxbytes / 4096;
	s->bfree = (fs.maxbytes - bytes) / 4096;
	s->bavail = s->bfree;
	s->files = fs.maxfiles;
	s->ffree = fs.maxfiles - nfiles;
	s->fsid = 0x9ead;
	s->namelen = 255;
	return Eok;
}

static int
rfidonly(Req *q, const Fcall *t, Fcall *r)
{
	(void)r;
	if(!fidexists(q->c, t->fid))
		return Ebadfid;
	return Eok;
}

static int
rlock(Req *q, const Fcall *t, Fcall *r)
{
	if(!fidexists(q->c, t->fid))
		return Ebadfid;
	r->status = 0;	/* P9_LOCK_SUCCESS: locks are the clients' own business */
	return Eok;
}

static int
rgetlock(Req *q, const Fcall *t, Fcall *r)
{
	if(!fidexists(q->c, t->fid))
		return Ebadfid;
	r->lock = t->lock;
	r->lock.type = LF_UNLCK;
	return Eok;
}

/* ---- dispatch ---- */

static int
dispatch(Req *q, const Fcall *t, Fcall *r)
{
	Conn *c;

	c = q->c;
	if(t->type == Tversion)
		return rversion(q, t, r);
	if(!c->versioned)
		return Enoversion;
	switch(t->type){
	case Tauth:	return Eauth;
	case Tattach:	return rattach(q, t, r);
	case Tflush:	return Eok;	/* one the reader could not take: malformed */
	case Twalk:	return rwalk(q, t, r);
	case Tread:	return rread(q, t, r);
	case Twrite:	return rwrite(q, t, r);
	case Tclunk:	return rclunk(q, t, r);
	case Tremove:	return rremove(q, t, r);
	}
	if(c->dialect == P9_2000L){
		switch(t->type){
		case Tlopen:	return rlopen(q, t, r);
		case Tlcreate:	return rlcreate(q, t, r);
		case Tgetattr:	return rgetattr(q, t, r);
		case Tsetattr:	return rsetattr(q, t, r);
		case Treaddir:	return rreaddir(q, t, r);
		case Tmkdir:	return rmkdir(q, t, r);
		case Tsymlink:	return rsymlink(q, t, r);
		case Treadlink:	return rreadlink(q, t, r);
		case Tunlinkat:	return runlinkat(q, t, r);
		case Trenameat:	return rrenameat(q, t, r);
		case Trename:	return rrename(q, t, r);
		case Tstatfs:	return rstatfs(q, t, r);
		case Tfsync:	return rfidonly(q, t, r);
		case Tlock:	return rlock(q, t, r);
		case Tgetlock:	return rgetlock(q, t, r);
		case Tmknod:	return Enosys;
		case Tlink:	return Enosys;
		case Txattrwalk:
		case Txattrcreate:
				return Enotsup;
		}
		return Etype;
	}
	switch(t->type){
	case Topen:	return ropen(q, t, r);
	case Tcreate:	return rcreate(q, t, r);
	case Tstat:	return rstat(q, t, r);
	case Twstat:	return rwstat(q, t, r);
	}
	return Etype;
}

/* Make q's reply, in q->out. */
void
handle(Req *q)
{
	Conn *c;
	Fcall t, r;
	long m;
	int e, tracing;

	c = q->c;
	tracing = loglevel() >= LOG_TRACE;
	q->outlen = 0;
	m = p9decode(q->msg, q->len, c->msize, c->dialect, &t);
	if(m < 0){
		if(tracing)
			logmsg(LOG_TRACE, "%s <- bad %s (type %d, %u bytes): %s", c->name,
				p9typename(q->type) ? p9typename(q->type) : "message", q->type, q->len, p9strerror((int)m));
		rerror(q, q->tag, p9strerror((int)m), errtab[Ebadmsg].lerr);
		goto out;
	}
	if(tracing)
		trace(c, q->msg, q->len, &t, '<');
	/* all but the walk arrays, which Rwalk fills up to nwqid: a third of the cost */
	memset(&r, 0, offsetof(Fcall, wname));
	memset(&r.offset, 0, sizeof r - offsetof(Fcall, offset));
	r.nwqid = 0;
	r.type = (uint8_t)(t.type + 1);
	r.tag = t.tag;
	if(t.type & 1)
		e = Etype;	/* an R-message, or Terror */
	else
		e = dispatch(q, &t, &r);
	/* the reply may point into the tree: made before the locks go */
	if(e == Eok)
		put(q, &r);
	else if(e != Replied)
		rerror(q, t.tag, errtab[e].s, errtab[e].lerr);
	release(q);
	if(q->outlen > c->msize){
		/* a stat or link target with long names, at a small msize */
		q->outlen = 0;
		q->broken = 0;
		rerror(q, t.tag, errtab[Etoobig].s, errtab[Etoobig].lerr);
	}
out:
	if(tracing && q->outlen > 0 && !q->broken)
		trace(c, q->out, q->outlen, NULL, '>');
}
