/*
 * srv.c - 9P2000, 9P2000.u and 9P2000.L over one connection.
 *
 * A connection's reader thread frames what it reads and queues each
 * message as a Req, while the connection's bounds (maxreqs requests and
 * maxreqbytes bytes not yet answered and written) allow; when they do
 * not, it stops reading.  The reader and up to nthreads - 1 workers of
 * the connection (started when a batch needs them, gone after Idlesecs
 * with nothing to do) take requests from the queue and handle them at
 * once, so replies go out in any order.  A reply is made whole in its
 * Req and written by whichever thread finds nobody writing, many at a
 * time with writev.  A thread with more to do writes only once the
 * replies waiting reach Flushat, so a batch of small requests is
 * answered with one write.
 *
 * Tflush and Tversion are the reader's own.  A Tflush of a request not
 * yet answered waits for that reply and goes out right after it (no
 * request is cancelled, so the original always has its reply first); a
 * Tversion drops what is queued, waits for the requests being handled,
 * whose replies it drops too, and clunks every fid before its Rversion.
 *
 * A frame whose size is below 7 or above msize cannot be skipped safely,
 * so it ends that connection once what came before it is answered; any
 * other bad message gets an error reply.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "9p.h"
#include "log.h"
#include "ramfs.h"

uint32_t maxmsize = 8 * 1024 * 1024 + P9_IOHDRSZ;
int nthreads = 2;
uint32_t maxreqs = 64;
uint64_t maxreqbytes = 16 * 1024 * 1024;

enum {
	Inbuf = 64 * 1024,
	Flushat = 64 * 1024,	/* write replies out once this many bytes are waiting */
	Keepout = 64 * 1024,	/* a free Req keeps a reply buffer up to this size */
	Keepspare = 4 * 1024 * 1024,	/* larger ones a connection keeps, beyond one */
	Nfreebuf = 4,		/* idle Inbuf buffers kept by a connection */
	Niov = 64,
	Smallreply = 512,	/* what admission counts for a reply other than a read's */
	Wstack = 1024 * 1024,	/* a Fcall or two and a trace line; room for sanitizers */
	Idlesecs = 5,		/* a worker with nothing to do this long exits */
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

/* How a handler holds a lock. */
enum {
	Lnone,
	Lrd,
	Lwr,
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
typedef struct Req Req;
typedef struct Buf Buf;
typedef struct Spare Spare;

/*
 * A fid lives while its number is in the table or a request holds it
 * (ref, under Conn.flk).  A request holds its lock for reading to use
 * it, for writing to change it; a clunk takes it out of the table and
 * marks it gone, for requests that were waiting for it.
 */
struct Fid {
	Fid		*next;
	uint32_t	num;
	uint32_t	ref;
	int		gone;
	pthread_rwlock_t	lk;	/* all below but num and user, which never change */
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

/* Bytes read from a connection, which its messages' Reqs share (ref, under Conn.lk). */
struct Buf {
	Buf		*next;
	uint32_t	ref;
	size_t		cap;
	uint8_t		data[];
};

/* A large reply buffer kept for the next large reply, its first bytes. */
struct Spare {
	Spare		*next;
	size_t		cap;
};

/* One message read and its reply. */
struct Req {
	Req		*next;		/* on the queue, the output or the free list */
	Req		*pprev, *pnext;	/* on Conn.pending while not answered */
	Req		*flushes, *lastflush;	/* Tflushes waiting for this reply */
	Req		*fnext;		/* on its target's flushes */
	Conn		*c;
	Buf		*buf;		/* holds msg until the reply is made */
	const uint8_t	*msg;
	uint32_t	len;
	uint16_t	tag;
	uint8_t		type;
	uint8_t		aborted;	/* by a Tversion: no reply */
	uint8_t		broken;		/* no memory for its reply */
	uint64_t	cost;		/* counted against maxreqbytes */
	uint64_t	want;		/* the largest reply it can have */
	uint8_t		*out;		/* the reply */
	size_t		outlen, outcap;
	/* what the handler holds until the reply is made */
	Fid		*fid;
	uint8_t		treelk;
	uint8_t		filelk;
	File		*file;
};

struct Conn {
	int		rfd, wfd;
	char		name[64];

	/* the reader's; changed only while no request is in flight */
	int		dialect;
	int		versioned;
	uint32_t	msize;
	Buf		*ib;		/* what is being read; holds one of its refs */
	size_t		ioff, ilen;	/* its bytes not yet framed */
	size_t		iend;		/* read no further: the end of a large frame */

	pthread_mutex_t	lk;		/* all below, up to the fids */
	pthread_cond_t	work;		/* workers wait for the queue */
	pthread_cond_t	gone;		/* the last worker has exited */
	pthread_cond_t	room;		/* the reader waits for Reqs to go */
	Req		*qhead, *qtail;	/* not started */
	uint32_t	nqueued;
	Req		*pending;	/* not yet answered, for Tflush and Tversion */
	Req		*ohead, *otail;	/* answered, not yet written */
	size_t		obytes;
	int		writing;	/* a thread is writing the output it took */
	uint32_t	nreq;		/* Reqs not yet freed */
	uint64_t	nbytes;		/* and their cost */
	int		readerwaits;
	int		dead;		/* cannot be written: read no more */
	int		stopping;	/* the workers are to exit */
	int		nworkers, nidle, nwake;
	Req		*freereqs;
	Buf		*freebufs;
	int		nfreebufs;
	Buf		*bigbuf;	/* the last buffer of a large frame, for the next */
	Spare		*spares;	/* reply buffers above Keepout */
	size_t		sparebytes;

	pthread_mutex_t	flk;		/* the fid table and each fid's ref */
	Fid		**fids;
	size_t		fsize, nfids;
	Fid		*freefids;
};

static pthread_attr_t wattr;
static pthread_once_t wonce = PTHREAD_ONCE_INIT;

static void
initwattr(void)
{
	pthread_attr_init(&wattr);
	pthread_attr_setstacksize(&wattr, Wstack);
	pthread_attr_setdetachstate(&wattr, PTHREAD_CREATE_DETACHED);
}

/* ---- buffers and requests: under Conn.lk ---- */

/* A buffer of cap bytes or, for a large frame, at least cap. */
static Buf *
bufnew(Conn *c, size_t cap)
{
	Buf *b;

	if(cap == Inbuf && (b = c->freebufs) != NULL){
		c->freebufs = b->next;
		c->nfreebufs--;
	}else if(cap > Inbuf && (b = c->bigbuf) != NULL && b->cap >= cap)
		c->bigbuf = NULL;
	else if((b = malloc(sizeof *b + cap)) == NULL)
		return NULL;
	else
		b->cap = cap;
	b->ref = 1;
	return b;
}

static void
bufput(Conn *c, Buf *b)
{
	if(b == NULL || --b->ref > 0)
		return;
	if(b->cap == Inbuf && c->nfreebufs < Nfreebuf){
		b->next = c->freebufs;
		c->freebufs = b;
		c->nfreebufs++;
	}else if(b->cap > Inbuf){
		/* a stream of large writes would otherwise fault in each one's pages anew */
		if(c->bigbuf == NULL || c->bigbuf->cap < b->cap){
			free(c->bigbuf);
			c->bigbuf = b;
		}else
			free(b);
	}else
		free(b);
}

static Req *
reqnew(Conn *c, const uint8_t *msg, uint32_t len, uint64_t cost)
{
	Req *q;
	uint8_t *out;
	size_t cap;

	if((q = c->freereqs) != NULL)
		c->freereqs = q->next;
	else if((q = calloc(1, sizeof *q)) == NULL)
		return NULL;
	out = q->out;
	cap = q->outcap;
	memset(q, 0, sizeof *q);
	q->out = out;
	q->outcap = cap;
	q->c = c;
	q->buf = c->ib;
	c->ib->ref++;
	q->msg = msg;
	q->len = len;
	q->type = msg[4];
	q->tag = p9get16(msg + P9_TAGOFF);
	q->cost = cost;
	q->want = cost > len ? cost - len : 0;
	c->nreq++;
	c->nbytes += cost;
	return q;
}

static void
reqfree(Conn *c, Req *q)
{
	Spare *sp;

	bufput(c, q->buf);
	q->buf = NULL;
	c->nreq--;
	c->nbytes -= q->cost;
	if(q->outcap > Keepout){
		/* a stream of large reads would otherwise have the pages of each reply faulted in anew */
		if(c->spares == NULL || (c->sparebytes <= Keepspare && q->outcap <= Keepspare - c->sparebytes)){
			sp = (Spare*)q->out;
			sp->cap = q->outcap;
			sp->next = c->spares;
			c->spares = sp;
			c->sparebytes += q->outcap;
		}else
			free(q->out);
		q->out = NULL;
		q->outcap = 0;
	}
	q->next = c->freereqs;
	c->freereqs = q;
	if(c->readerwaits)
		pthread_cond_signal(&c->room);
}

static void
pendin(Conn *c, Req *q)
{
	q->pprev = NULL;
	q->pnext = c->pending;
	if(c->pending != NULL)
		c->pending->pprev = q;
	c->pending = q;
}

static void
pendout(Conn *c, Req *q)
{
	if(q->pprev != NULL)
		q->pprev->pnext = q->pnext;
	else
		c->pending = q->pnext;
	if(q->pnext != NULL)
		q->pnext->pprev = q->pprev;
	q->pprev = q->pnext = NULL;
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

/* Put q's reply on the output, and after it the Rflushes waiting for it. */
static void
emit(Conn *c, Req *q)
{
	Req *f, *fnext;

	pendout(c, q);
	bufput(c, q->buf);
	q->buf = NULL;
	q->next = NULL;
	if(c->otail != NULL)
		c->otail->next = q;
	else
		c->ohead = q;
	c->otail = q;
	c->obytes += q->outlen;
	for(f = q->flushes; f != NULL; f = fnext){
		fnext = f->fnext;
		if(loglevel() >= LOG_TRACE)
			trace(c, f->out, f->outlen, NULL, '>');
		emit(c, f);
	}
	q->flushes = q->lastflush = NULL;
}

/* Forget q without a reply, and the Tflushes waiting for it. */
static void
drop(Conn *c, Req *q)
{
	Req *f, *fnext;

	pendout(c, q);
	for(f = q->flushes; f != NULL; f = fnext){
		fnext = f->fnext;
		drop(c, f);
	}
	q->flushes = q->lastflush = NULL;
	reqfree(c, q);
}

/* Write the Reqs from q on to fd, whole: 0, or -1 if the connection broke. */
static int
writereqs(int fd, Req *q)
{
	struct iovec iov[Niov];
	size_t skip, n;
	ssize_t w;
	Req *x;
	int k;

	skip = 0;
	while(q != NULL){
		k = 0;
		for(x = q; x != NULL && k < Niov; x = x->next){
			iov[k].iov_base = x->out + (k == 0 ? skip : 0);
			iov[k].iov_len = x->outlen - (k == 0 ? skip : 0);
			k++;
		}
		w = writev(fd, iov, k);
		if(w < 0 && errno == EINTR)
			continue;
		if(w <= 0)
			return -1;
		n = (size_t)w;
		while(q != NULL && n >= q->outlen - skip){
			n -= q->outlen - skip;
			skip = 0;
			q = q->next;
		}
		skip += n;
	}
	return 0;
}

/*
 * Write the output, unless another thread is at it (it writes what
 * comes meanwhile before it stops).  Conn.lk is let go while writing.
 */
static void
flushout(Conn *c)
{
	Req *list, *q, *next;
	int dead, failed;

	if(c->writing || c->ohead == NULL)
		return;
	c->writing = 1;
	while((list = c->ohead) != NULL){
		c->ohead = c->otail = NULL;
		c->obytes = 0;
		dead = c->dead;
		pthread_mutex_unlock(&c->lk);
		failed = !dead && writereqs(c->wfd, list) < 0;
		pthread_mutex_lock(&c->lk);
		if(failed && !c->dead){
			c->dead = 1;
			/* wake the reader: there is nobody to answer */
			shutdown(c->rfd, SHUT_RD);
		}
		for(q = list; q != NULL; q = next){
			next = q->next;
			reqfree(c, q);
		}
	}
	c->writing = 0;
}

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
static int
fidexists(Conn *c, uint32_t num)
{
	int r;

	pthread_mutex_lock(&c->flk);
	r = fidfind(c, num) != NULL;
	pthread_mutex_unlock(&c->flk);
	return r;
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
static int
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

static int
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
static void
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
static void
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
static Fid *
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

static void
treelock(Req *q, int lk)
{
	if(lk == Lwr)
		pthread_rwlock_wrlock(&fs.tree);
	else
		pthread_rwlock_rdlock(&fs.tree);
	q->treelk = (uint8_t)lk;
}

/* Lock f's contents; q holds fs.tree for reading. */
static void
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
static void
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
static int
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

/* ---- replies ---- */

/* Room for n more bytes of q's reply: 0, or -1 (and q is broken) when out of memory. */
static int
ensureout(Req *q, size_t n)
{
	size_t ncap;
	uint8_t *p;

	if(q->outcap - q->outlen >= n)
		return 0;
	if(n > SIZE_MAX / 2 - q->outlen){
		q->broken = 1;
		return -1;
	}
	/* a reply is mostly made at once: room for it, not for a power of two */
	ncap = q->outlen + n;
	if(ncap < q->outcap * 2)
		ncap = q->outcap * 2;
	if(ncap < 256)
		ncap = 256;
	p = realloc(q->out, ncap);
	if(p == NULL){
		q->broken = 1;
		return -1;
	}
	q->out = p;
	q->outcap = ncap;
	return 0;
}

static void
put(Req *q, const Fcall *r)
{
	size_t n;

	n = p9size(r, q->c->dialect);
	if(n == 0){
		logerror("%s: cannot encode %s", q->c->name, p9typename(r->type));
		q->broken = 1;
		return;
	}
	if(ensureout(q, n) < 0)
		return;
	q->outlen += p9encode(q->out + q->outlen, q->outcap - q->outlen, r, q->c->dialect);
}

static void
rerror(Req *q, uint16_t tag, const char *s, uint32_t lerr)
{
	Fcall r;

	memset(&r, 0, sizeof r);
	r.tag = tag;
	if(q->c->dialect == P9_2000L){
		r.type = Rlerror;
		r.errnum = lerr;
	}else{
		r.type = Rerror;
		r.ename = p9str(s);
		r.errnum = lerr;
	}
	put(q, &r);
}

/* ---- helpers ---- */

/* f's qid: fs.tree held (vers alone may change under less). */
static Qid
qidof(const File *f)
{
	Qid q;

	q.type = (uint8_t)(f->mode >> 24);
	q.vers = atomic_load_explicit(&f->vers, memory_order_relaxed);
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

static void
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
static int
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

static int
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

static int
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

static int
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

static int
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

static int
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

static int
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

static int
rmkdir(Req *q, const Fcall *t, Fcall *r)
{
	return makein(q, t->dfid, t->name, P9_DMDIR | (t->mode & 0777), p9str(NULL), &r->qid);
}

static int
rsymlink(Req *q, const Fcall *t, Fcall *r)
{
	if(t->target.n == 0)
		return Enoent;
	return makein(q, t->fid, t->name, P9_DMSYMLINK | 0777, t->target, &r->qid);
}

static int
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

static int
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

static int
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

static int
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

static int
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

static int
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
static void
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

/* Handle q, which is off the queue; Conn.lk is held, and let go meanwhile. */
static void
run(Conn *c, Req *q)
{
	Spare *sp;

	if(q->want > Keepout && q->want > q->outcap && (sp = c->spares) != NULL){
		c->spares = sp->next;
		c->sparebytes -= sp->cap;
		free(q->out);
		q->outcap = sp->cap;
		q->out = (uint8_t*)sp;
	}
	pthread_mutex_unlock(&c->lk);
	handle(q);
	pthread_mutex_lock(&c->lk);
	if(q->broken && !c->dead){
		/* a client waiting for a reply we cannot make would wait for ever */
		logerror("%s: out of memory for a reply; hanging up", c->name);
		c->dead = 1;
		shutdown(c->rfd, SHUT_RD);
	}
	if(q->aborted || q->broken)
		drop(c, q);
	else
		emit(c, q);
}

static Req *
dequeue(Conn *c)
{
	Req *q;

	q = c->qhead;
	if(q != NULL){
		c->qhead = q->next;
		if(c->qhead == NULL)
			c->qtail = NULL;
		c->nqueued--;
	}
	return q;
}

/* A worker: handle what is queued, write what is answered; exit when idle, or told to. */
static void *
worker(void *v)
{
	struct timespec ts;
	Conn *c;
	Req *q;
	int r;

	c = v;
	pthread_mutex_lock(&c->lk);
	for(;;){
		if((q = dequeue(c)) != NULL){
			run(c, q);
			if(c->obytes >= Flushat)
				flushout(c);
			continue;
		}
		/* nothing to do: first let the replies go (the last one idle writes them) */
		flushout(c);
		if(c->qhead != NULL)
			continue;
		if(c->stopping)
			break;
		c->nidle++;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += Idlesecs;
		r = pthread_cond_timedwait(&c->work, &c->lk, &ts);
		c->nidle--;
		if(c->nwake > 0)
			c->nwake--;
		/* a connection that has stopped pipelining keeps no threads; kick starts new ones */
		if(r == ETIMEDOUT && c->qhead == NULL)
			break;
	}
	if(--c->nworkers == 0)
		pthread_cond_signal(&c->gone);
	pthread_mutex_unlock(&c->lk);
	return NULL;
}

/*
 * Get workers going on what is queued, all but one request (the
 * reader takes that): wake idle ones, start more up to nthreads - 1.
 */
static void
kick(Conn *c)
{
	pthread_t t;
	int want, idle, r;

	want = (int)c->nqueued - 1;
	idle = c->nidle - c->nwake;
	for(; want > 0 && idle > 0; want--, idle--){
		c->nwake++;
		pthread_cond_signal(&c->work);
	}
	for(; want > 0 && c->nworkers < nthreads - 1; want--){
		pthread_once(&wonce, initwattr);
		r = pthread_create(&t, &wattr, worker, c);
		if(r != 0){
			logerror("%s: cannot start a thread: %s", c->name, strerror(r));
			break;
		}
		c->nworkers++;
	}
}

static void
enqueue(Conn *c, Req *q)
{
	q->next = NULL;
	if(c->qtail != NULL)
		c->qtail->next = q;
	else
		c->qhead = q;
	c->qtail = q;
	c->nqueued++;
	pendin(c, q);
}

/* What admission counts for the frame p of n bytes: itself and the largest reply it can cause. */
static uint64_t
reqcost(const Conn *c, const uint8_t *p, uint32_t n)
{
	uint64_t r;

	r = Smallreply;
	if((p[4] == Tread || p[4] == Treaddir) && n >= P9_RWCOUNTOFF + 4){
		r = p9get32(p + P9_RWCOUNTOFF);
		if(r > iounit(c))
			r = iounit(c);
		r += P9_READHDRSZ;
	}
	return n + r;
}

/* Whether a request that costs cost must wait for others to go. */
static int
full(const Conn *c, uint64_t cost)
{
	if(c->nreq == 0)
		return 0;	/* one alone always goes, whatever its size */
	return c->nreq >= maxreqs || c->nbytes > maxreqbytes || cost > maxreqbytes - c->nbytes;
}

/*
 * The reader's step towards fewer requests in flight: run one that is
 * queued, or write what is answered, or sleep until a Req is freed.
 * Conn.lk held.
 */
static void
help(Conn *c)
{
	Req *q;
	uint32_t n;

	if((q = dequeue(c)) != NULL){
		kick(c);
		run(c, q);
		return;
	}
	n = c->nreq;
	flushout(c);
	if(c->nreq < n)
		return;
	c->readerwaits = 1;
	pthread_cond_wait(&c->room, &c->lk);
	c->readerwaits = 0;
}

/* Until nothing of c is in flight. */
static void
quiesce(Conn *c)
{
	while(c->nreq > 0)
		help(c);
}

/* Tflush q (for oldtag): answered now if nothing pending has that tag, else after it.  Conn.lk held. */
static void
flushreq(Conn *c, Req *q, uint16_t oldtag)
{
	Fcall r;
	Req *t;

	for(t = c->pending; t != NULL; t = t->pnext)
		if(t->tag == oldtag)
			break;
	pendin(c, q);
	memset(&r, 0, sizeof r);
	r.type = Rflush;
	r.tag = q->tag;
	q->outlen = 0;
	put(q, &r);
	if(q->broken){
		drop(c, q);
		c->dead = 1;
		shutdown(c->rfd, SHUT_RD);
		return;
	}
	if(t == NULL){
		if(loglevel() >= LOG_TRACE)
			trace(c, q->out, q->outlen, NULL, '>');
		emit(c, q);
		return;
	}
	q->fnext = NULL;
	if(t->lastflush != NULL)
		t->lastflush->fnext = q;
	else
		t->flushes = q;
	t->lastflush = q;
}

/*
 * Tversion: drop what is queued, let what runs finish unanswered, then
 * answer it alone.  Conn.lk held; the reader's.
 */
static void
reset(Conn *c, const uint8_t *p, uint32_t n)
{
	Req *q;

	for(q = c->pending; q != NULL; q = q->pnext)
		q->aborted = 1;
	while((q = dequeue(c)) != NULL)
		drop(c, q);
	quiesce(c);
	if((q = reqnew(c, p, n, 0)) == NULL){
		c->dead = 1;
		return;
	}
	pendin(c, q);
	run(c, q);
	flushout(c);
}

/* Make room in c->ib for the rest of the frame begun at c->ioff, and more: 0, or -1. */
static int
refill(Conn *c)
{
	size_t left, want;
	uint32_t sz;
	Buf *b;

	left = c->ilen - c->ioff;
	want = Inbuf;
	/* a large frame gets a buffer of its own, read no further */
	if(left >= 4 && (sz = p9get32(c->ib->data + c->ioff)) > want)
		want = sz;
	c->iend = want;
	pthread_mutex_lock(&c->lk);
	if(c->ib->ref == 1 && c->ib->cap >= want && (want > Inbuf || c->ib->cap == Inbuf))
		memmove(c->ib->data, c->ib->data + c->ioff, left);
	else if((b = bufnew(c, want)) != NULL){
		/* requests still use the old one, or it is the wrong size */
		memcpy(b->data, c->ib->data + c->ioff, left);
		bufput(c, c->ib);
		c->ib = b;
	}else{
		pthread_mutex_unlock(&c->lk);
		logerror("%s: out of memory for a %zu-byte message", c->name, want);
		return -1;
	}
	pthread_mutex_unlock(&c->lk);
	c->ioff = 0;
	c->ilen = left;
	return 0;
}

Conn *
connnew(int rfd, int wfd, const char *name)
{
	pthread_condattr_t ca;
	Conn *c;

	c = calloc(1, sizeof *c);
	if(c == NULL)
		return NULL;
	c->rfd = rfd;
	c->wfd = wfd;
	snprintf(c->name, sizeof c->name, "%s", name);
	c->msize = maxmsize;
	c->dialect = P9_2000;
	c->fsize = 64;
	c->fids = calloc(c->fsize, sizeof c->fids[0]);
	c->ib = bufnew(c, Inbuf);
	if(c->fids == NULL || c->ib == NULL){
		free(c->fids);
		free(c->ib);
		free(c);
		return NULL;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&c->lk, NULL);
	pthread_cond_init(&c->work, &ca);
	pthread_cond_init(&c->gone, NULL);
	pthread_cond_init(&c->room, NULL);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->flk, NULL);
	return c;
}

/* Whether the frame p of n bytes is a Tflush the reader can take, and for which tag. */
static int
isflush(Conn *c, const uint8_t *p, uint32_t n, uint16_t *oldtag)
{
	Fcall t;

	if(p[4] != Tflush || !c->versioned || p9decode(p, n, c->msize, c->dialect, &t) != (long)n)
		return 0;
	if(loglevel() >= LOG_TRACE)
		trace(c, p, n, &t, '<');
	*oldtag = t.oldtag;
	return 1;
}

void
connserve(Conn *c)
{
	const uint8_t *p;
	uint64_t cost;
	uint16_t oldtag;
	ssize_t n;
	long m;
	Req *q;
	int dead;

	logmsg(LOG_CONN, "%s: connected", c->name);
	for(;;){
		m = 0;
		pthread_mutex_lock(&c->lk);
		while(!c->dead && (m = p9frame(c->ib->data + c->ioff, c->ilen - c->ioff, c->msize)) > 0){
			p = c->ib->data + c->ioff;
			c->ioff += (size_t)m;
			if(p[4] == Tversion){
				reset(c, p, (uint32_t)m);
				continue;
			}
			cost = reqcost(c, p, (uint32_t)m);
			while(full(c, cost))
				help(c);
			if((q = reqnew(c, p, (uint32_t)m, cost)) == NULL){
				logerror("%s: out of memory for a request", c->name);
				c->dead = 1;
				break;
			}
			if(isflush(c, p, (uint32_t)m, &oldtag))
				flushreq(c, q, oldtag);
			else
				enqueue(c, q);
		}
		/* the batch: workers take all but one, and the reader the rest */
		kick(c);
		while((q = dequeue(c)) != NULL)
			run(c, q);
		flushout(c);
		dead = c->dead;
		pthread_mutex_unlock(&c->lk);
		if(dead)
			break;
		if(m < 0){
			logmsg(LOG_CONN, "%s: %s; hanging up", c->name, p9strerror((int)m));
			break;
		}
		if(refill(c) < 0)
			break;
		n = read(c->rfd, c->ib->data + c->ilen, c->iend - c->ilen);
		if(n < 0 && errno == EINTR)
			continue;
		if(n <= 0)
			break;
		c->ilen += (size_t)n;
	}
	logmsg(LOG_CONN, "%s: gone", c->name);
	connfree(c);
}

void
connfree(Conn *c)
{
	Fid *f;
	Req *q;
	Buf *b;
	Spare *sp;

	/* what was read is answered, as far as the connection lets us */
	pthread_mutex_lock(&c->lk);
	while((q = dequeue(c)) != NULL)
		run(c, q);
	quiesce(c);
	c->stopping = 1;
	pthread_cond_broadcast(&c->work);
	while(c->nworkers > 0)
		pthread_cond_wait(&c->gone, &c->lk);
	pthread_mutex_unlock(&c->lk);
	pthread_rwlock_wrlock(&fs.tree);
	clunkall(c);
	pthread_rwlock_unlock(&fs.tree);
	close(c->rfd);
	if(c->wfd != c->rfd)
		close(c->wfd);
	while((f = c->freefids) != NULL){
		c->freefids = f->next;
		pthread_rwlock_destroy(&f->lk);
		free(f);
	}
	while((q = c->freereqs) != NULL){
		c->freereqs = q->next;
		free(q->out);
		free(q);
	}
	free(c->ib);
	free(c->bigbuf);
	while((b = c->freebufs) != NULL){
		c->freebufs = b->next;
		free(b);
	}
	while((sp = c->spares) != NULL){
		c->spares = sp->next;
		free(sp);
	}
	pthread_mutex_destroy(&c->lk);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->gone);
	pthread_cond_destroy(&c->room);
	pthread_mutex_destroy(&c->flk);
	free(c->fids);
	free(c);
}
