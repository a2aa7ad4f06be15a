/*
 * 9testsrv - a scriptable 9P2000 / 9P2000.L server for testing 9P clients
 * and multiplexers.  It keeps a small in-memory tree, logs every message it
 * receives, and checks that its peer respects the protocol's tag and fid
 * rules: each breach is logged on a line beginning "VIOLATION".
 *
 * One reader thread per connection handles requests in order; replies that
 * are delayed (-d) or dropped (-x) wait in the connection's pending list,
 * and a timer thread sends the delayed ones when they fall due, so a slow
 * reply never holds up the requests behind it.  One lock guards all state:
 * this is a test tool, simplicity beats throughput.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "9p.h"
#include "dial.h"

enum {
	MAXMSIZE	= 1 << 20,	/* largest frame read before Tversion */
	MAXFRAME	= 16 << 20,	/* larger than this: drop the connection */
	NTYPES		= 256,
};

/* Linux errno values 9P2000.L carries, independent of the host. */
enum {
	LEPERM = 1, LENOENT = 2, LEIO = 5, LEBADF = 9, LEEXIST = 17,
	LENOTDIR = 20, LEISDIR = 21, LEINVAL = 22, LENOTEMPTY = 39,
	LEPROTO = 71, LEOPNOTSUPP = 95,
};

enum { FNEW = 1, FLIVE, FDYING };	/* fid states */

typedef struct Node Node;
typedef struct Fid Fid;
typedef struct Req Req;
typedef struct Conn Conn;

struct Node {
	char		*name;
	Node		*parent;
	Node		*child;
	Node		*next;
	Node		*allnext;	/* every node ever made, for freeing */
	int		isdir;
	int		isauth;
	uint64_t	path;
	uint32_t	vers;
	uint32_t	mtime;
	uint8_t		*data;
	size_t		len;
};

struct Fid {
	uint32_t	num;
	int		state;
	Node		*node;
	int		open;
	int		xattr;
};

struct Req {
	uint16_t	tag;
	uint8_t		type;
	uint8_t		*reply;
	size_t		rlen;
	int		ok;		/* the reply is a success */
	uint32_t	newfid;		/* created on success, else P9_NOFID */
	uint32_t	delfid;		/* destroyed when answered, else P9_NOFID */
	int		dropped;	/* answered only through Tflush */
	int		zombie;		/* flushed, its tag held until the Rflush goes */
	int		flushes;	/* a Tflush whose oldtag is held by a zombie */
	uint16_t	oldtag;
	struct timespec	due;
};

struct Conn {
	int		id;
	int		fd;
	int		dialect;
	int		versioned;
	uint32_t	msize;
	Fid		*fids;
	size_t		nfid, afid;
	Req		*reqs;
	size_t		nreq, areq;
	Conn		*next;
};

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t timercond;
static Conn *conns;
static int nconnid;
static int logfd = 2;
static Node *root, *allnodes;
static uint64_t npath;

/* Script, by message type. */
static int delayms[NTYPES];
static int dropit[NTYPES];
static int errit[NTYPES];
static int junkit[NTYPES];	/* -j: an unsolicited reply first */
static int garbit[NTYPES];	/* -g: garbage instead of the reply */
static const char *injected = "injected error";	/* -E */
static int flushorig;		/* -o */
static uint32_t maxmsize = 65536;
static uint32_t iounit;
static int authok;		/* -A */
static int maxdialect = P9_2000L;

static void __attribute__((format(printf, 1, 2)))
lprint(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if(n < 0)
		return;
	if((size_t)n > sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	if(write(logfd, buf, (size_t)n) < 0) {
		/* nowhere left to complain */
	}
}

static void *
emalloc(size_t n)
{
	void *p;

	p = calloc(1, n ? n : 1);
	if(p == NULL) {
		fprintf(stderr, "9testsrv: out of memory\n");
		exit(1);
	}
	return p;
}

static char *
estrndup(const char *s, size_t n)
{
	char *p;

	p = emalloc(n + 1);
	memcpy(p, s, n);
	return p;
}

/* ---- the tree ---- */

static Node *
mknode(Node *parent, const char *name, size_t n, int isdir)
{
	Node *nd;

	nd = emalloc(sizeof *nd);
	nd->name = estrndup(name, n);
	nd->isdir = isdir;
	nd->path = ++npath;
	nd->mtime = (uint32_t)time(NULL);
	nd->allnext = allnodes;
	allnodes = nd;
	nd->parent = parent ? parent : nd;
	if(parent) {
		nd->next = parent->child;
		parent->child = nd;
		parent->vers++;
	}
	return nd;
}

static void
setdata(Node *nd, const void *p, size_t n)
{
	free(nd->data);
	nd->data = emalloc(n);
	memcpy(nd->data, p, n);
	nd->len = n;
}

static Node *
lookup(Node *dir, const char *name, size_t n)
{
	Node *c;

	if(n == 2 && memcmp(name, "..", 2) == 0)
		return dir->parent;
	if(n == 1 && name[0] == '.')
		return dir;
	for(c = dir->child; c; c = c->next)
		if(strlen(c->name) == n && memcmp(c->name, name, n) == 0)
			return c;
	return NULL;
}

static void
unlink1(Node *nd)
{
	Node **l;

	for(l = &nd->parent->child; *l; l = &(*l)->next)
		if(*l == nd) {
			*l = nd->next;
			break;
		}
	nd->parent->vers++;
	nd->next = NULL;
}

static void
relink(Node *nd, Node *dir, const char *name, size_t n)
{
	unlink1(nd);
	free(nd->name);
	nd->name = estrndup(name, n);
	nd->parent = dir;
	nd->next = dir->child;
	dir->child = nd;
	dir->vers++;
}

static int
resize(Node *nd, uint64_t n)
{
	uint8_t *p;

	if(n > MAXFRAME)
		return -1;
	p = realloc(nd->data, n ? n : 1);
	if(p == NULL)
		return -1;
	if(n > nd->len)
		memset(p + nd->len, 0, n - nd->len);
	nd->data = p;
	nd->len = n;
	nd->vers++;
	return 0;
}

/* A fresh tree: its root. */
static Node *
mktree(void)
{
	static const char hello[] = "hello, world\n";
	uint8_t big[20000];
	Node *top, *sub;
	size_t i;

	top = mknode(NULL, "/", 1, 1);
	setdata(mknode(top, "hello", 5, 0), hello, sizeof hello - 1);
	for(i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)('a' + i % 26);
	setdata(mknode(top, "big", 3, 0), big, sizeof big);
	sub = mknode(top, "sub", 3, 1);
	setdata(mknode(sub, "file", 4, 0), "sub file\n", 9);
	return top;
}

/*
 * The tree an attach names: the shared one for the empty aname, else
 * one of its own per aname, made on first use (so that tests that
 * scribble can keep away from those that read).
 */
static Node *
treeof(P9str aname)
{
	static struct { char *name; Node *root; } trees[64];
	static int ntrees;
	int i;

	if(aname.n == 0)
		return root;
	for(i = 0; i < ntrees; i++)
		if(p9streq(aname, trees[i].name))
			return trees[i].root;
	if(ntrees == 64)
		return root;
	trees[ntrees].name = estrndup(aname.s, aname.n);
	trees[ntrees].root = mktree();
	return trees[ntrees++].root;
}

static int
isroot(Node *nd)
{
	return nd->parent == nd;
}

static Qid
qidof(Node *nd)
{
	Qid q;

	q.type = nd->isdir ? P9_QTDIR : nd->isauth ? P9_QTAUTH : P9_QTFILE;
	q.vers = nd->vers;
	q.path = nd->path;
	return q;
}

static P9dir
dirof(Node *nd)
{
	P9dir d;

	memset(&d, 0, sizeof d);
	d.qid = qidof(nd);
	d.mode = nd->isdir ? P9_DMDIR | 0755 : 0644;
	d.atime = d.mtime = nd->mtime;
	d.length = nd->isdir ? 0 : nd->len;
	d.name = p9str(nd->name);
	d.uid = d.gid = d.muid = p9str("none");
	return d;
}

/* ---- connections: fids and pending requests ---- */

static Fid *
getfid(Conn *c, uint32_t num)
{
	size_t i;

	for(i = 0; i < c->nfid; i++)
		if(c->fids[i].num == num)
			return &c->fids[i];
	return NULL;
}

static Fid *
addfid(Conn *c, uint32_t num, Node *nd)
{
	Fid *f;

	if(c->nfid == c->afid) {
		c->afid = c->afid ? 2 * c->afid : 16;
		c->fids = realloc(c->fids, c->afid * sizeof c->fids[0]);
		if(c->fids == NULL) {
			fprintf(stderr, "9testsrv: out of memory\n");
			exit(1);
		}
	}
	f = &c->fids[c->nfid++];
	memset(f, 0, sizeof *f);
	f->num = num;
	f->state = FNEW;
	f->node = nd;
	return f;
}

static void
delfid(Conn *c, uint32_t num)
{
	Fid *f;

	f = getfid(c, num);
	if(f)
		*f = c->fids[--c->nfid];
}

static Req *
getreq(Conn *c, uint16_t tag)
{
	size_t i;

	for(i = 0; i < c->nreq; i++)
		if(c->reqs[i].tag == tag)
			return &c->reqs[i];
	return NULL;
}

static void
delreq(Conn *c, Req *r)
{
	free(r->reply);
	*r = c->reqs[--c->nreq];
}

static void
sendall(Conn *c, const uint8_t *p, size_t n)
{
	ssize_t w;

	while(n > 0) {
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if(w < 0 && errno == EINTR)
			continue;
		if(w <= 0)
			return;	/* the reader will see the hang-up */
		p += w;
		n -= (size_t)w;
	}
}

/* The reply goes out: make its fid effects real. */
static void
answered(Conn *c, Req *r)
{
	Fid *f;
	uint8_t junk[7];
	uint16_t tag;

	if(junkit[r->type]) {
		/* An Rclunk for a tag nobody has in flight here. */
		for(tag = (uint16_t)(r->tag + 1000); tag == P9_NOTAG || tag == r->tag
		|| getreq(c, tag) != NULL; tag++)
			;
		p9put32(junk, 7);
		junk[4] = Rclunk;
		p9put16(junk + 5, tag);
		sendall(c, junk, 7);
		lprint("JUNK c%d Rclunk tag %u", c->id, tag);
	}
	if(garbit[r->type]) {
		p9put32(junk, 5);
		junk[4] = Rread;
		sendall(c, junk, 5);
		lprint("GARBAGE c%d instead of the reply to tag %u", c->id, r->tag);
		return;
	}
	sendall(c, r->reply, r->rlen);
	if(r->newfid != P9_NOFID) {
		if(r->ok && (f = getfid(c, r->newfid)) != NULL)
			f->state = FLIVE;
		else
			delfid(c, r->newfid);
	}
	if(r->delfid != P9_NOFID)
		delfid(c, r->delfid);
}

/* The request was flushed without its reply: it never happened. */
static void
unhappen(Conn *c, Req *r)
{
	Fid *f;

	if(r->newfid != P9_NOFID)
		delfid(c, r->newfid);
	if(r->delfid != P9_NOFID && (f = getfid(c, r->delfid)) != NULL)
		f->state = FLIVE;
}

/*
 * Retire r: its reply goes out (send) or it never happened.  A Tflush
 * retired releases the tag of the request it flushed, which the peer
 * may reuse only now.
 */
static void
finish(Conn *c, Req *r, int send)
{
	Req *z;
	int flushes;
	uint16_t oldtag;

	if(send)
		answered(c, r);
	else
		unhappen(c, r);
	flushes = r->flushes;
	oldtag = r->oldtag;
	delreq(c, r);
	if(flushes) {
		for(z = c->reqs; z < c->reqs + c->nreq; z++)
			if(z->zombie && z->tag == oldtag) {
				delreq(c, z);
				break;
			}
	}
}

static void
report(void)
{
	Conn *c;
	size_t nf, nt, i;

	nf = nt = 0;
	for(c = conns; c; c = c->next) {
		nf += c->nfid;
		nt += c->nreq;
	}
	/* Name them when there are few: what a leak is made of. */
	if(nf + nt <= 32)
		for(c = conns; c; c = c->next) {
			for(i = 0; i < c->nfid; i++)
				lprint("FID c%d %u %s%s", c->id, c->fids[i].num, c->fids[i].node->name,
					c->fids[i].state == FNEW ? " (being created)" :
					c->fids[i].state == FDYING ? " (being clunked)" : "");
			for(i = 0; i < c->nreq; i++)
				lprint("TAG c%d %u %s%s", c->id, c->reqs[i].tag, p9typename(c->reqs[i].type),
					c->reqs[i].zombie ? " (flushed, Rflush pending)" : "");
		}
	lprint("FIDS %zu", nf);
	lprint("TAGS %zu", nt);
}

/* ---- building replies ---- */

typedef struct Ctx Ctx;
struct Ctx {
	Conn		*c;
	Fcall		*t;
	Fcall		r;
	int		ok;
	uint32_t	newfid;
	uint32_t	delfid;
	uint8_t		*buf;		/* scratch for Rread, Rstat, Rreaddir */
};

static void
rerror(Ctx *x, int errnum, const char *msg)
{
	x->ok = 0;
	if(x->c->dialect == P9_2000L) {
		x->r.type = Rlerror;
		x->r.errnum = (uint32_t)errnum;
	} else {
		x->r.type = Rerror;
		x->r.ename = p9str(msg);
		x->r.errnum = (uint32_t)errnum;
	}
}

static Fid *
usefid(Ctx *x, uint32_t num)
{
	Fid *f;

	f = getfid(x->c, num);
	if(f == NULL)
		rerror(x, LEBADF, "unknown fid");
	return f;
}

static Node *
usedir(Ctx *x, uint32_t num)
{
	Fid *f;

	if((f = usefid(x, num)) == NULL)
		return NULL;
	if(!f->node->isdir) {
		rerror(x, LENOTDIR, "not a directory");
		return NULL;
	}
	return f->node;
}

static int
badname(Ctx *x, P9str n)
{
	if(n.n == 0 || memchr(n.s, '/', n.n) || (n.n == 1 && n.s[0] == '.')
	|| (n.n == 2 && memcmp(n.s, "..", 2) == 0)) {
		rerror(x, LEINVAL, "bad file name");
		return 1;
	}
	return 0;
}

static Node *
create1(Ctx *x, Node *dir, P9str name, int isdir)
{
	if(badname(x, name))
		return NULL;
	if(lookup(dir, name.s, name.n)) {
		rerror(x, LEEXIST, "file exists");
		return NULL;
	}
	return mknode(dir, name.s, name.n, isdir);
}

static int
remove1(Ctx *x, Node *nd)
{
	if(isroot(nd)) {
		rerror(x, LEPERM, "cannot remove root");
		return -1;
	}
	if(nd->isdir && nd->child) {
		rerror(x, LENOTEMPTY, "directory not empty");
		return -1;
	}
	unlink1(nd);
	return 0;
}

static uint32_t
clampcount(Ctx *x, uint32_t n)
{
	if(n > x->c->msize - P9_READHDRSZ)
		n = x->c->msize - P9_READHDRSZ;
	return n;
}

static void
doread(Ctx *x, Fid *f)
{
	uint32_t n;
	size_t off, len, sz;
	Node *ch;
	P9dir d;

	n = clampcount(x, x->t->count);
	x->buf = emalloc(n);
	if(!f->node->isdir) {
		if(x->t->offset < f->node->len) {
			len = f->node->len - (size_t)x->t->offset;
			if(len > n)
				len = n;
			memcpy(x->buf, f->node->data + x->t->offset, len);
			x->r.count = (uint32_t)len;
		}
	} else {
		/* Whole stat entries, from the entry at byte offset on. */
		off = 0;
		len = 0;
		for(ch = f->node->child; ch; ch = ch->next) {
			d = dirof(ch);
			sz = p9dirsize(&d, x->c->dialect);
			if(off >= x->t->offset) {
				if(n - len < sz)
					break;
				p9direncode(x->buf + len, n - len, &d, x->c->dialect);
				len += sz;
			}
			off += sz;
		}
		x->r.count = (uint32_t)len;
	}
	x->r.data = x->buf;
}

static void
doreaddir(Ctx *x, Fid *f)
{
	uint32_t n;
	uint64_t i;
	size_t len, sz;
	Node *ch;
	P9dirent e;

	n = clampcount(x, x->t->count);
	x->buf = emalloc(n);
	len = 0;
	i = 0;
	for(ch = f->node->child; ch; ch = ch->next, i++) {
		if(i < x->t->offset)
			continue;
		e.qid = qidof(ch);
		e.offset = i + 1;
		e.type = e.qid.type;
		e.name = p9str(ch->name);
		sz = p9direntsize(&e);
		if(n - len < sz)
			break;
		p9direntencode(x->buf + len, n - len, &e);
		len += sz;
	}
	x->r.count = (uint32_t)len;
	x->r.data = x->buf;
}

static void
dowalk(Ctx *x, Fid *f)
{
	Fcall *t;
	Node *nd, *next;
	int i;

	t = x->t;
	nd = f->node;
	if(t->nwname > 0 && f->open) {
		rerror(x, LEBADF, "walk of open fid");
		return;
	}
	for(i = 0; i < t->nwname; i++) {
		if(!nd->isdir) {
			next = NULL;
		} else
			next = lookup(nd, t->wname[i].s, t->wname[i].n);
		if(next == NULL)
			break;
		nd = next;
		x->r.wqid[i] = qidof(nd);
	}
	if(i == 0 && t->nwname > 0) {
		rerror(x, LENOENT, "file not found");
		return;
	}
	x->r.nwqid = (uint16_t)i;
	if(i < t->nwname) {
		x->ok = 0;	/* a short walk creates nothing */
		return;
	}
	if(t->newfid == t->fid)
		f->node = nd;
	else if((f = getfid(x->c, t->newfid)) != NULL)
		f->node = nd;
}

static void
attrof(Node *nd, P9attr *a)
{
	memset(a, 0, sizeof *a);
	a->valid = 0x7ff;
	a->qid = qidof(nd);
	a->mode = nd->isdir ? 0040755 : 0100644;
	a->nlink = 1;
	a->size = nd->isdir ? 0 : nd->len;
	a->blksize = 4096;
	a->blocks = (a->size + 511) / 512;
	a->atime_sec = a->mtime_sec = a->ctime_sec = nd->mtime;
}

/* Compute the reply to t and its effects on the tree and the fids. */
static void
handle(Ctx *x)
{
	Fcall *t;
	Fid *f;
	Node *nd, *dir, *d2;
	P9dir st;
	size_t sz;

	t = x->t;
	x->ok = 1;
	x->r.type = (uint8_t)(t->type + 1);
	x->r.tag = t->tag;
	if(errit[t->type]) {
		rerror(x, LEIO, injected);
		return;
	}
	switch(t->type) {
	case Tauth:
		if(!authok) {
			rerror(x, LEOPNOTSUPP, "authentication not required");
			return;
		}
		nd = mknode(NULL, "#a", 2, 0);
		nd->isauth = 1;
		addfid(x->c, t->afid, nd);
		x->r.qid = qidof(nd);
		return;
	case Tattach:
		if(t->afid != P9_NOFID) {
			f = getfid(x->c, t->afid);
			if(f == NULL || !f->node->isauth) {
				rerror(x, LEPERM, "bad afid");
				return;
			}
		}
		nd = treeof(t->aname);
		addfid(x->c, t->fid, nd);
		x->r.qid = qidof(nd);
		return;
	case Twalk:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		if(t->newfid != t->fid) {
			addfid(x->c, t->newfid, f->node);
			/* addfid may move the table */
			if((f = getfid(x->c, t->fid)) == NULL)
				return;
		}
		dowalk(x, f);
		return;
	case Topen:
	case Tlopen:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		if(f->node->isdir && t->type == Topen && (t->mode & 3) != P9_OREAD) {
			rerror(x, LEISDIR, "is a directory");
			return;
		}
		if(!f->node->isdir && (t->type == Topen ? (t->mode & P9_OTRUNC) : (t->flags & 01000)))
			resize(f->node, 0);
		f->open = 1;
		x->r.qid = qidof(f->node);
		x->r.iounit = iounit;
		return;
	case Tcreate:
	case Tlcreate:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		if(!f->node->isdir) {
			rerror(x, LENOTDIR, "not a directory");
			return;
		}
		nd = create1(x, f->node, t->name, t->type == Tcreate && (t->perm & P9_DMDIR));
		if(nd == NULL)
			return;
		f->node = nd;
		f->open = 1;
		x->r.qid = qidof(nd);
		x->r.iounit = iounit;
		return;
	case Tread:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		if(!f->open && !f->xattr && !f->node->isauth) {
			rerror(x, LEBADF, "fid not open");
			return;
		}
		if(f->xattr || f->node->isauth) {
			x->r.count = 0;
			return;
		}
		doread(x, f);
		return;
	case Twrite:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		if(f->node->isauth || f->xattr) {
			x->r.count = t->count;
			return;
		}
		if(!f->open || f->node->isdir) {
			rerror(x, LEBADF, "fid not open for writing");
			return;
		}
		if(t->offset > MAXFRAME || (t->offset + t->count > f->node->len
		&& resize(f->node, t->offset + t->count) < 0)) {
			rerror(x, LEIO, "file too big");
			return;
		}
		memcpy(f->node->data + t->offset, t->data, t->count);
		f->node->vers++;
		x->r.count = t->count;
		return;
	case Tclunk:
		return;
	case Tremove:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		remove1(x, f->node);
		return;
	case Tstat:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		st = dirof(f->node);
		sz = p9dirsize(&st, x->c->dialect);
		x->buf = emalloc(sz);
		p9direncode(x->buf, sz, &st, x->c->dialect);
		x->r.stat = x->buf;
		x->r.nstat = (uint16_t)sz;
		return;
	case Twstat:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		if(p9dirdecode(t->stat, t->nstat, x->c->dialect, &st) < 0) {
			rerror(x, LEINVAL, "bad stat");
			return;
		}
		if(st.length != ~(uint64_t)0 && !f->node->isdir)
			resize(f->node, st.length);
		if(st.name.n > 0 && !isroot(f->node) && !p9streq(st.name, f->node->name)) {
			if(badname(x, st.name))
				return;
			if(lookup(f->node->parent, st.name.s, st.name.n)) {
				rerror(x, LEEXIST, "file exists");
				return;
			}
			relink(f->node, f->node->parent, st.name.s, st.name.n);
		}
		return;
	case Tgetattr:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		attrof(f->node, &x->r.attr);
		return;
	case Tsetattr:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		if((t->sattr.valid & 0x8) && !f->node->isdir)
			resize(f->node, t->sattr.size);
		return;
	case Treaddir:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		if(!f->node->isdir) {
			rerror(x, LENOTDIR, "not a directory");
			return;
		}
		doreaddir(x, f);
		return;
	case Tmkdir:
	case Tmknod:
	case Tsymlink:
		if((dir = usedir(x, t->type == Tsymlink ? t->fid : t->dfid)) == NULL)
			return;
		if((nd = create1(x, dir, t->name, t->type == Tmkdir)) == NULL)
			return;
		if(t->type == Tsymlink)
			setdata(nd, t->target.s, t->target.n);
		x->r.qid = qidof(nd);
		return;
	case Tunlinkat:
		if((dir = usedir(x, t->dfid)) == NULL)
			return;
		if((nd = lookup(dir, t->name.s, t->name.n)) == NULL || badname(x, t->name)) {
			if(x->ok)
				rerror(x, LENOENT, "file not found");
			return;
		}
		remove1(x, nd);
		return;
	case Trenameat:
		if((dir = usedir(x, t->dfid)) == NULL || (d2 = usedir(x, t->newdfid)) == NULL)
			return;
		if((nd = lookup(dir, t->name.s, t->name.n)) == NULL || badname(x, t->name)) {
			if(x->ok)
				rerror(x, LENOENT, "file not found");
			return;
		}
		if(badname(x, t->newname))
			return;
		if(lookup(d2, t->newname.s, t->newname.n)) {
			rerror(x, LEEXIST, "file exists");
			return;
		}
		relink(nd, d2, t->newname.s, t->newname.n);
		return;
	case Trename:
		if((f = usefid(x, t->fid)) == NULL || (dir = usedir(x, t->dfid)) == NULL)
			return;
		if(badname(x, t->name))
			return;
		if(isroot(f->node) || lookup(dir, t->name.s, t->name.n)) {
			rerror(x, LEEXIST, "file exists");
			return;
		}
		relink(f->node, dir, t->name.s, t->name.n);
		return;
	case Tlink:
		if(usedir(x, t->dfid) == NULL || usefid(x, t->fid) == NULL)
			return;
		rerror(x, LEPERM, "links not supported");
		return;
	case Treadlink:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		x->r.target.s = (const char *)f->node->data;
		x->r.target.n = (uint16_t)(f->node->len > 1024 ? 1024 : f->node->len);
		return;
	case Txattrwalk:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		addfid(x->c, t->newfid, f->node)->xattr = 1;
		x->r.xsize = 0;
		return;
	case Txattrcreate:
		if((f = usefid(x, t->fid)) == NULL)
			return;
		f->xattr = 1;
		return;
	case Tfsync:
		if(usefid(x, t->fid) == NULL)
			return;
		return;
	case Tstatfs:
		if(usefid(x, t->fid) == NULL)
			return;
		x->r.statfs.type = 0x01021997;
		x->r.statfs.bsize = 4096;
		x->r.statfs.blocks = 1024;
		x->r.statfs.bfree = x->r.statfs.bavail = 512;
		x->r.statfs.files = npath;
		x->r.statfs.namelen = 255;
		return;
	case Tlock:
		if(usefid(x, t->fid) == NULL)
			return;
		x->r.status = 0;
		return;
	case Tgetlock:
		if(usefid(x, t->fid) == NULL)
			return;
		x->r.lock = t->lock;
		x->r.lock.type = 2;	/* F_UNLCK: nobody holds it */
		return;
	default:
		rerror(x, LEOPNOTSUPP, "message not supported");
		return;
	}
}

/* ---- requests in ---- */

static const char *
rolename(int role)
{
	switch(role & 0xf) {
	case P9_FIDUSE:	return "use";
	case P9_FIDNEW:	return "new";
	case P9_FIDDEL:	return "del";
	}
	return "?";
}

static void
queue(Conn *c, Ctx *x, uint8_t *reply, size_t rlen)
{
	Req *r;
	int ms;

	if(c->nreq == c->areq) {
		c->areq = c->areq ? 2 * c->areq : 16;
		c->reqs = realloc(c->reqs, c->areq * sizeof c->reqs[0]);
		if(c->reqs == NULL) {
			fprintf(stderr, "9testsrv: out of memory\n");
			exit(1);
		}
	}
	r = &c->reqs[c->nreq++];
	memset(r, 0, sizeof *r);
	r->tag = x->t->tag;
	r->type = x->t->type;
	r->reply = reply;
	r->rlen = rlen;
	r->ok = x->ok;
	r->newfid = x->newfid;
	r->delfid = x->delfid;
	r->dropped = dropit[x->t->type];
	ms = delayms[x->t->type];
	clock_gettime(CLOCK_MONOTONIC, &r->due);
	r->due.tv_sec += ms / 1000;
	r->due.tv_nsec += (long)(ms % 1000) * 1000000;
	if(r->due.tv_nsec >= 1000000000) {
		r->due.tv_sec++;
		r->due.tv_nsec -= 1000000000;
	}
}

static uint8_t *
encode(Conn *c, Fcall *r, size_t *np)
{
	uint8_t *p;
	size_t n;

	n = p9size(r, c->dialect);
	if(n == 0 || n > c->msize) {
		lprint("INTERNAL c%d cannot encode reply type %d", c->id, r->type);
		r->type = c->dialect == P9_2000L ? Rlerror : Rerror;
		r->ename = p9str("reply does not fit");
		r->errnum = LEIO;
		n = p9size(r, c->dialect);
	}
	p = emalloc(n);
	*np = p9encode(p, n, r, c->dialect);
	return p;
}

static void
doversion(Conn *c, Fcall *t)
{
	Fcall r;
	uint8_t *p;
	size_t n;
	int d;

	/* A new session: everything of the old one is gone. */
	c->nfid = 0;
	while(c->nreq > 0)
		delreq(c, &c->reqs[0]);
	c->versioned = 1;
	c->msize = t->msize < maxmsize ? t->msize : maxmsize;
	memset(&r, 0, sizeof r);
	r.type = Rversion;
	r.tag = t->tag;
	r.msize = c->msize;
	d = p9dialect(t->version.s, t->version.n);
	if(d == P9_2000L && maxdialect >= P9_2000L)
		c->dialect = P9_2000L;
	else if(d == P9_2000U && maxdialect >= P9_2000U)
		c->dialect = P9_2000U;
	else if(t->version.n >= 6 && memcmp(t->version.s, "9P2000", 6) == 0)
		c->dialect = P9_2000;
	else
		d = -2;
	r.version = p9str(d == -2 ? "unknown" : p9dialectname(c->dialect));
	if(d == -2)
		c->versioned = 0;
	n = p9size(&r, c->dialect);
	p = emalloc(n);
	n = p9encode(p, n, &r, c->dialect);
	sendall(c, p, n);
	free(p);
}

static void
doflush(Conn *c, Fcall *t, Ctx *x)
{
	Req *o, *z;
	Fcall r;
	uint8_t *p;
	size_t n;
	int held;

	o = getreq(c, t->oldtag);
	held = 0;
	if(o != NULL && !o->zombie) {
		if(flushorig)
			finish(c, o, 1);
		else if(delayms[Tflush] || dropit[Tflush]) {
			/* Its tag stays in flight until our Rflush goes. */
			unhappen(c, o);
			o->zombie = 1;
			o->dropped = 1;
			o->newfid = o->delfid = P9_NOFID;
			held = 1;
			if(o->flushes) {
				/* A flushed flush lets go of what it held. */
				o->flushes = 0;
				for(z = c->reqs; z < c->reqs + c->nreq; z++)
					if(z->zombie && z->tag == o->oldtag && z != o) {
						delreq(c, z);
						break;
					}
			}
		} else
			finish(c, o, 0);
	}
	memset(&r, 0, sizeof r);
	r.type = Rflush;
	r.tag = t->tag;
	x->ok = 1;
	if(errit[Tflush]) {
		/* A server may answer Tflush with an error: the flush still happened. */
		r.type = c->dialect == P9_2000L ? Rlerror : Rerror;
		r.ename = p9str("injected error");
		r.errnum = LEIO;
	}
	p = encode(c, &r, &n);
	if(delayms[Tflush] || dropit[Tflush]) {
		queue(c, x, p, n);
		c->reqs[c->nreq - 1].flushes = held;
		c->reqs[c->nreq - 1].oldtag = t->oldtag;
		pthread_cond_signal(&timercond);
	} else {
		sendall(c, p, n);
		free(p);
	}
}

/* Check t's tag and fids, log it, and answer or queue the reply. */
static void
request(Conn *c, const uint8_t *buf, size_t len, Fcall *t)
{
	char line[768], ids[160];
	P9fidref refs[P9_MAXFIDS];
	int i, nref, bad, role, k;
	uint32_t num;
	Fid *f;
	Ctx x;
	uint8_t *p;
	size_t n;

	p9fmt(line, sizeof line, t, c->dialect);
	nref = p9fidmap(buf, len, c->dialect, refs);
	k = snprintf(ids, sizeof ids, "@c%d tag=%u", c->id, t->tag);
	for(i = 0; i < nref && k > 0 && (size_t)k < sizeof ids; i++)
		k += snprintf(ids + k, sizeof ids - (size_t)k, " %s=%u",
			rolename(refs[i].role), p9get32(buf + refs[i].off));
	if((t->type == Tattach || t->type == Tauth) && k > 0 && (size_t)k < sizeof ids)
		snprintf(ids + k, sizeof ids - (size_t)k, " uname=%.*s", (int)t->uname.n,
			t->uname.s ? t->uname.s : "");
	lprint("%s\t%s", line, ids);

	if(t->type == Tversion) {
		if(t->tag != P9_NOTAG)
			lprint("VIOLATION c%d Tversion tag %u is not NOTAG", c->id, t->tag);
		doversion(c, t);
		return;
	}
	if(!c->versioned)
		lprint("VIOLATION c%d %s before Tversion", c->id, p9typename(t->type));
	if(t->tag == P9_NOTAG)
		lprint("VIOLATION c%d %s with NOTAG", c->id, p9typename(t->type));
	if(getreq(c, t->tag) != NULL)
		lprint("VIOLATION c%d tag %u reused while in flight", c->id, t->tag);

	memset(&x, 0, sizeof x);
	x.c = c;
	x.t = t;
	x.newfid = x.delfid = P9_NOFID;

	bad = 0;
	for(i = 0; i < nref; i++) {
		num = p9get32(buf + refs[i].off);
		role = refs[i].role & 0xf;
		if(num == P9_NOFID) {
			if(!(refs[i].role & P9_FIDOPT)) {
				lprint("VIOLATION c%d %s tag %u: NOFID as a fid", c->id, p9typename(t->type), t->tag);
				bad = 1;
			}
			continue;
		}
		f = getfid(c, num);
		if(role == P9_FIDNEW) {
			if(t->type == Twalk && t->newfid == t->fid)
				continue;
			if(f != NULL) {
				lprint("VIOLATION c%d %s tag %u: new fid %u is in use", c->id, p9typename(t->type), t->tag, num);
				bad = 1;
			}
			continue;
		}
		if(f == NULL)
			lprint("VIOLATION c%d %s tag %u: fid %u unknown", c->id, p9typename(t->type), t->tag, num);
		else if(f->state == FNEW)
			lprint("VIOLATION c%d %s tag %u: fid %u not yet created", c->id, p9typename(t->type), t->tag, num);
		else if(f->state == FDYING)
			lprint("VIOLATION c%d %s tag %u: fid %u used while being clunked", c->id, p9typename(t->type), t->tag, num);
		else
			continue;
		bad = 1;
	}

	if(t->type == Tflush) {
		doflush(c, t, &x);
		return;
	}
	memset(&x.r, 0, sizeof x.r);
	if(bad) {
		x.ok = 1;
		x.r.tag = t->tag;
		rerror(&x, LEBADF, "fid rules broken");
		/* Tclunk and Tremove of a fid that exists still destroy it. */
		if(t->type == Tclunk || t->type == Tremove)
			if((f = getfid(c, t->fid)) != NULL && f->state == FLIVE)
				x.delfid = t->fid;
	} else {
		if(t->type == Tauth)
			x.newfid = t->afid;
		else if(t->type == Tattach || t->type == Txattrwalk
		|| (t->type == Twalk && t->newfid != t->fid))
			x.newfid = t->type == Tattach ? t->fid : t->newfid;
		if(t->type == Tclunk || t->type == Tremove)
			x.delfid = t->fid;
		handle(&x);
		if(x.newfid != P9_NOFID && getfid(c, x.newfid) == NULL)
			x.newfid = P9_NOFID;	/* failed before making it */
		if(x.delfid != P9_NOFID && (f = getfid(c, x.delfid)) != NULL)
			f->state = FDYING;
	}
	p = encode(c, &x.r, &n);
	free(x.buf);
	if(delayms[t->type] || dropit[t->type]) {
		queue(c, &x, p, n);
		pthread_cond_signal(&timercond);
		return;
	}
	{
		Req r;

		memset(&r, 0, sizeof r);
		r.type = t->type;
		r.tag = t->tag;
		r.reply = p;
		r.rlen = n;
		r.ok = x.ok;
		r.newfid = x.newfid;
		r.delfid = x.delfid;
		answered(c, &r);
		free(p);
	}
}

static int
readn(int fd, uint8_t *p, size_t n)
{
	ssize_t r;

	while(n > 0) {
		r = read(fd, p, n);
		if(r < 0 && errno == EINTR)
			continue;
		if(r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void *
connproc(void *a)
{
	Conn *c, **l;
	uint8_t hdr[4], *buf;
	uint32_t size, lim;
	long rv;
	Fcall t;
	Fcall r;
	size_t n;
	uint8_t *p;

	c = a;
	buf = NULL;
	for(;;) {
		if(readn(c->fd, hdr, 4) < 0)
			break;
		size = p9get32(hdr);
		pthread_mutex_lock(&lk);
		lim = c->versioned ? c->msize : MAXMSIZE;
		if(size < P9_HDRSZ)
			lprint("VIOLATION c%d message size %u below 7", c->id, size);
		else if(size > lim)
			lprint("VIOLATION c%d message size %u above msize %u", c->id, size, lim);
		pthread_mutex_unlock(&lk);
		if(size < P9_HDRSZ || size > MAXFRAME)
			break;
		free(buf);
		buf = emalloc(size);
		memcpy(buf, hdr, 4);
		if(readn(c->fd, buf + 4, size - 4) < 0)
			break;
		pthread_mutex_lock(&lk);
		rv = p9decode(buf, size, size, c->dialect, &t);
		if(rv != (long)size) {
			if(!p9known(buf[4], c->dialect))
				lprint("UNKNOWN c%d type %u tag %u", c->id, buf[4], p9get16(buf + 5));
			lprint("VIOLATION c%d undecodable type %u tag %u: %s", c->id, buf[4],
				p9get16(buf + 5), rv < 0 ? p9strerror((int)rv) : "short");
			memset(&r, 0, sizeof r);
			r.tag = p9get16(buf + 5);
			r.type = c->dialect == P9_2000L ? Rlerror : Rerror;
			r.ename = p9str("bad message");
			r.errnum = LEPROTO;
			p = encode(c, &r, &n);
			sendall(c, p, n);
			free(p);
		} else
			request(c, buf, size, &t);
		pthread_mutex_unlock(&lk);
	}
	free(buf);
	pthread_mutex_lock(&lk);
	lprint("HANGUP c%d fids %zu tags %zu", c->id, c->nfid, c->nreq);
	for(l = &conns; *l; l = &(*l)->next)
		if(*l == c) {
			*l = c->next;
			break;
		}
	while(c->nreq > 0)
		delreq(c, &c->reqs[0]);
	pthread_mutex_unlock(&lk);
	close(c->fd);
	free(c->fids);
	free(c->reqs);
	free(c);
	return NULL;
}

static int
before(struct timespec *a, struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Send delayed replies as they fall due. */
static void *
timerproc(void *a)
{
	struct timespec now, next;
	Conn *c;
	Req *r;
	size_t i;
	int any;

	(void)a;
	pthread_mutex_lock(&lk);
	for(;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		any = 0;
		for(c = conns; c; c = c->next) {
			for(i = 0; i < c->nreq; ) {
				r = &c->reqs[i];
				if(r->dropped) {
					i++;
					continue;
				}
				if(!before(&now, &r->due)) {
					finish(c, r, 1);
					i = 0;	/* finish may have moved others */
					continue;
				}
				if(!any || before(&r->due, &next))
					next = r->due;
				any = 1;
				i++;
			}
		}
		if(any)
			pthread_cond_timedwait(&timercond, &lk, &next);
		else
			pthread_cond_wait(&timercond, &lk);
	}
	return NULL;
}

static void *
sigproc(void *a)
{
	sigset_t *set;
	int sig;
	Node *nd;

	set = a;
	for(;;) {
		if(sigwait(set, &sig) != 0)
			continue;
		pthread_mutex_lock(&lk);
		report();
		if(sig == SIGUSR1) {
			pthread_mutex_unlock(&lk);
			continue;
		}
		lprint("EXIT");
		while(allnodes) {
			nd = allnodes;
			allnodes = nd->allnext;
			free(nd->name);
			free(nd->data);
			free(nd);
		}
		exit(0);
	}
	return NULL;
}

static int
typenum(const char *s, size_t n)
{
	const char *name;
	int i;

	for(i = 0; i < NTYPES; i++)
		if((name = p9typename(i)) != NULL && strlen(name) == n && memcmp(name, s, n) == 0)
			return i;
	return -1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: 9testsrv [-Ao] [-l log] [-m msize] [-i iounit] [-V dialect] "
		"[-d Ttype:ms] [-x Ttype] [-e Ttype] [-E ename] [-j Ttype] [-g Ttype] -a addr\n");
	exit(1);
}

static int
typearg(const char *s)
{
	int t;

	t = typenum(s, strlen(s));
	if(t < 0 || (t & 1)) {
		fprintf(stderr, "9testsrv: unknown T-message type %s\n", s);
		exit(1);
	}
	return t;
}

int
main(int argc, char **argv)
{
	static sigset_t set;
	char err[256], *colon;
	const char *addr;
	pthread_condattr_t ca;
	pthread_t th;
	Conn *c;
	int opt, lfd, fd, t;

	addr = NULL;
	while((opt = getopt(argc, argv, "a:l:m:i:V:d:x:e:E:j:g:oA")) != -1) {
		switch(opt) {
		case 'a':
			addr = optarg;
			break;
		case 'l':
			logfd = open(optarg, O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, 0644);
			if(logfd < 0) {
				fprintf(stderr, "9testsrv: %s: %s\n", optarg, strerror(errno));
				exit(1);
			}
			break;
		case 'm':
			maxmsize = (uint32_t)strtoul(optarg, NULL, 0);
			if(maxmsize < P9_MINMSIZE)
				usage();
			break;
		case 'i':
			iounit = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'V':
			maxdialect = p9dialect(optarg, strlen(optarg));
			if(maxdialect < 0)
				usage();
			break;
		case 'd':
			colon = strchr(optarg, ':');
			if(colon == NULL)
				usage();
			*colon = 0;
			t = typearg(optarg);
			delayms[t] = atoi(colon + 1);
			break;
		case 'x':
			dropit[typearg(optarg)] = 1;
			break;
		case 'E':
			injected = optarg;
			break;
		case 'j':
			junkit[typearg(optarg)] = 1;
			break;
		case 'g':
			garbit[typearg(optarg)] = 1;
			break;
		case 'e':
			errit[typearg(optarg)] = 1;
			break;
		case 'o':
			flushorig = 1;
			break;
		case 'A':
			authok = 1;
			break;
		default:
			usage();
		}
	}
	if(addr == NULL || optind != argc)
		usage();

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	root = mktree();
	lfd = announce(addr, 0600, err, sizeof err);
	if(lfd < 0) {
		fprintf(stderr, "9testsrv: %s\n", err);
		exit(1);
	}
	/* The timer waits on CLOCK_MONOTONIC deadlines. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&timercond, &ca);
	if(pthread_create(&th, NULL, sigproc, &set) != 0
	|| pthread_create(&th, NULL, timerproc, NULL) != 0) {
		fprintf(stderr, "9testsrv: cannot start threads\n");
		exit(1);
	}
	for(;;) {
		fd = accept(lfd, NULL, NULL);
		if(fd < 0) {
			if(errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "9testsrv: accept: %s\n", strerror(errno));
			exit(1);
		}
		c = emalloc(sizeof *c);
		c->fd = fd;
		c->msize = maxmsize;
		pthread_mutex_lock(&lk);
		c->id = ++nconnid;
		c->next = conns;
		conns = c;
		pthread_mutex_unlock(&lk);
		if(pthread_create(&th, NULL, connproc, c) != 0) {
			fprintf(stderr, "9testsrv: cannot start a thread\n");
			exit(1);
		}
		pthread_detach(th);
	}
}
