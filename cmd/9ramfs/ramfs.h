/*
 * ramfs.h - 9ramfs: the file tree (fs.c), the 9P server and the program
 * around them (main.c).  The server is
 *
 *	conn.c		a connection: its reader thread, workers, admission,
 *			Tflush and Tversion
 *	req.c		requests: input buffers, the making of replies, the
 *			output and its writing
 *	fid.c		fids, and the locks a handler takes
 *	msg.c		a request handled: decoding, dispatch, errors; version,
 *			attach, walk, open, clunk
 *	io.c		the handlers that read and write: read, write, stat,
 *			readdir, getattr, readlink
 *	change.c	the handlers that change the tree: create, remove,
 *			wstat, setattr, mkdir, symlink, rename, unlinkat
 *
 * Several threads handle the requests of one connection at once (conn.c
 * says how), so a request takes these locks, in this order, and holds
 * them until its reply is made, since the reply may point into the tree:
 *
 *	one fid of its connection (Fid.lk): read to use the fid, write to
 *	  change it (walk in place, open, create, clunk, remove, a
 *	  directory read that moves its cursor).  Never two: rename and
 *	  renameat take references to their fids' files and let go;
 *	fs.tree, a read-write lock: read to look at the tree (walk, read,
 *	  write, stat, readdir, open), write to change its shape, names,
 *	  modes or owners (create, remove, rename, wstat, setattr, a clunk
 *	  with ORCLOSE, and a connection's clunk of all its fids);
 *	File.lk, a read-write lock on one file's contents: data, length,
 *	  cap, mtime, ctime, muid and nexcl; read to look at them, write to
 *	  change them, with fs.tree held for reading.  Holding fs.tree for
 *	  writing is enough for any field of any file.
 *
 * fs.slk (interned names) and a connection's Conn.flk (its fid table
 * and the fids' counts) are leaves, taken for a moment under any of
 * these; Conn.lk (the queues) is never held while a request is handled.
 *
 * Everything else in a File that changes (mode, uid, gid, name, parent,
 * children, linked) changes only under fs.tree for writing.  The
 * fields that change under less than that are atomic: ref, vers and
 * atime (readers of one file touch its atime together), and fs.bytes
 * and fs.nfiles, which writers to different files share.  A File is
 * freed when its last reference goes, under any of these locks or none:
 * nobody else can reach it then, since the tree, fids, cursors and
 * children all hold references.  An interned name's count falls to
 * zero only under fs.slk, where strintern takes new references, so a
 * name being freed is never found.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "9p.h"

typedef struct Str Str;
typedef struct File File;
typedef struct Fs Fs;

/* An interned user name: equal names are the same pointer. */
struct Str {
	Str		*next;
	_Atomic uint32_t	ref;
	uint32_t	hash;
	uint16_t	n;
	char		s[];	/* NUL-terminated */
};

struct File {
	pthread_rwlock_t	lk;	/* the contents, as above */
	File		*parent;	/* counted reference; root's is itself, uncounted */
	File		*child, *lastchild;	/* in order of seq */
	File		*prev, *next;	/* siblings */
	File		*hnext;		/* name hash chain */
	char		*name;
	uint16_t	namelen;
	Str		*uid, *gid, *muid;
	uint32_t	mode;		/* Plan 9 mode bits */
	uint64_t	path;
	_Atomic uint32_t	vers;
	uint64_t	seq;		/* readdir cookie within the parent */
	uint64_t	nextseq;	/* directories: the next cookie to give */
	_Atomic uint64_t	atime;	/* ns since the epoch */
	struct timespec	mtime, ctime;
	uint8_t		*data;		/* contents, or a symbolic link's target */
	uint64_t	length;
	uint64_t	cap;
	_Atomic uint32_t	ref;	/* tree link, fids, cursors, children */
	uint32_t	nchild;
	uint32_t	nsubdir;
	uint32_t	nexcl;		/* opens of a DMEXCL file */
	int		linked;
};

struct Fs {
	pthread_rwlock_t	tree;
	pthread_mutex_t	slk;		/* stab, and names' counts reaching zero */
	File		*root;
	uint64_t	nextpath;
	_Atomic uint64_t	bytes;
	uint64_t	maxbytes;
	_Atomic uint64_t	nfiles;
	uint64_t	maxfiles;
	File		**htab;		/* (parent, name) -> File */
	size_t		hsize, hcount;
	Str		**stab;		/* interned names */
	size_t		ssize, scount;
	Str		*owner;		/* owner of the root */
	uint32_t	owneruid;	/* its number for 9P2000.L */
};

extern Fs fs;

/* Errors: an index into errtab (msg.c), 0 is success. */
enum {
	Eok = 0,
	Enoent,
	Eperm,
	Eexist,
	Enotdir,
	Eisdir,
	Enotempty,
	Einuse,
	Enospc,
	Enofiles,
	Enomem,
	Ebadfid,
	Efidinuse,
	Eopen,
	Enotopen,
	Ebadoff,
	Ename,
	Eowner,
	Ewstat,
	Eauth,
	Enotsup,
	Enosys,
	Enotlink,
	Eroot,
	Etype,
	Efbig,
	Ecount,
	Emsize,
	Enoversion,
	Einval,
	Eloop,
	Emode,
	Ebadmsg,
	Efids,
	Etoobig,
	Nerr,
};

/* Permission bits asked of hasperm. */
enum {
	Pexec = 1,
	Pwrite = 2,
	Pread = 4,
};

/* fs.c: each function says which locks its caller holds */

/* Make the root, owned by owner (ownerid in 9P2000.L), and set the limits: 0, or -1. */
int	fsmake(const char *owner, uint32_t ownerid, uint64_t maxbytes, uint64_t maxfiles);

/* The interned name s[0..n) with a reference for the caller, or NULL when out of memory. */
Str	*strintern(const char *s, size_t n);
Str	*strincref(Str *s);
void	strdecref(Str *s);

/* The number 9P2000.L shows for a user: a decimal name's value, the owner's uid, else 65534. */
uint32_t	strid(const Str *s);

/* Take and drop a reference; the last drop frees the file and drops its parent.  Any locks. */
void	fileincref(File *f);
void	filedecref(File *f);

/* The child name[0..n) of dir, or NULL.  fs.tree held. */
File	*filelookup(File *dir, const char *name, size_t n);

/* Make name in dir owned by user; *fp gets a reference for the caller.  Eok or an error.  fs.tree written. */
int	filecreate(File *dir, const char *name, size_t n, uint32_t mode, Str *user, File **fp);

/* Take f, not the root nor a non-empty directory, out of the tree.  Eok or an error.  fs.tree written. */
int	fileunlink(File *f);

/* Move f to name in newdir, which must not hold that name.  Eok or an error.  fs.tree written. */
int	filerename(File *f, File *newdir, const char *name, size_t n);

/* Set the length, zero-filling, within the byte limit.  Eok or an error.  f written. */
int	filesetlen(File *f, uint64_t len);

/* Write n bytes at off, extending the file.  Eok or an error.  f written. */
int	filewrite(File *f, uint64_t off, const uint8_t *p, uint32_t n);

/* Whether user has all of the permission bits p (Pread...) on f. */
int	hasperm(const File *f, const Str *user, int p);

/* Whether user owns f or leads its group. */
int	isleader(const File *f, const Str *user);

/* Whether name[0..n) may name a file: 1 to 255 bytes, not "." or "..", no slash. */
int	validname(const char *name, size_t n);

/* The first child of dir with a readdir cookie above after, or NULL. */
File	*filefirst(File *dir, uint64_t after);

/* Update f's times and version as what (Tatime...) says: Tmtime and Tctime with f written. */
void	filetouch(File *f, int what);

/* f's atime; set it to sec and nsec (clamped to what the clock can say). */
void	fileatime(const File *f, struct timespec *ts);
void	filesetatime(File *f, uint64_t sec, uint64_t nsec);

/* The time now. */
void	nowts(struct timespec *ts);

/* What filetouch updates. */
enum {
	Tatime = 1,
	Tmtime = 2,	/* and ctime */
	Tctime = 4,
	Tvers = 8,
};

/* ---- the 9P server ---- */

typedef struct Conn Conn;
typedef struct Fid Fid;
typedef struct Req Req;
typedef struct Buf Buf;
typedef struct Spare Spare;

enum {
	Inbuf = 64 * 1024,	/* what a connection reads into at once */
	Keepout = 64 * 1024,	/* a free Req keeps a reply buffer up to this size */
	Replied = -1,		/* a handler put its reply in the buffer itself */

	/* Linux open(2) flags, as 9P2000.L carries them */
	LO_ACCMODE = 3,
	LO_TRUNC = 01000,
	LO_APPEND = 02000,
};

/* How a handler holds a lock. */
enum {
	Lnone,
	Lrd,
	Lwr,
};

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

/* conn.c */
extern uint32_t maxmsize;	/* the largest msize offered */
extern int nthreads;		/* threads handling one connection's requests, the reader's included */
extern uint32_t maxreqs;	/* requests of one connection read and not yet answered */
extern uint64_t maxreqbytes;	/* their bytes, with the largest replies they can cause */

/* A connection reading rfd and writing wfd (the same for a socket); name is for logs. */
Conn	*connnew(int rfd, int wfd, const char *name);

/* Serve c until it hangs up or breaks the framing, then release its fids and free it. */
void	connserve(Conn *c);

/* Close c's descriptors and free it, with whatever fids it holds. */
void	connfree(Conn *c);

/* req.c: under Conn.lk, but for trace and the making of a reply */

/* A buffer of cap bytes or, for a large frame, at least cap; NULL when out of memory. */
Buf	*bufnew(Conn *c, size_t cap);

/* Drop a reference to b (NULL is none); the last keeps b for a next bufnew, or frees it. */
void	bufput(Conn *c, Buf *b);

/* A Req for the frame msg of len bytes in c->ib, cost counted against the bounds; NULL if out of memory. */
Req	*reqnew(Conn *c, const uint8_t *msg, uint32_t len, uint64_t cost);

/* Put q on c->pending, where Tflush and Tversion look for the requests not yet answered. */
void	pendin(Conn *c, Req *q);

/* Log the frame buf of n bytes going dir ('<' in, '>' out), as f says or, when f is NULL, decoded. */
void	trace(Conn *c, const uint8_t *buf, size_t n, const Fcall *f, int dir);

/* Put q's reply on the output, and after it the Rflushes waiting for it. */
void	emit(Conn *c, Req *q);

/* Forget q without a reply, and the Tflushes waiting for it. */
void	drop(Conn *c, Req *q);

/* Write the output and free its Reqs, unless another thread is at it.  Conn.lk is let go meanwhile. */
void	flushout(Conn *c);

/* Room for n more bytes of q's reply: 0, or -1 (and q is broken) when out of memory. */
int	ensureout(Req *q, size_t n);

/* Append the reply r to q's, encoded in the connection's dialect; q is broken if it cannot be. */
void	put(Req *q, const Fcall *r);

/* Append an error reply of tag to q's: Rlerror lerr in 9P2000.L, else Rerror s. */
void	rerror(Req *q, uint16_t tag, const char *s, uint32_t lerr);

/* fid.c: a handler's fid, tree and file locks are let go by release */

/* Whether fid num is in c's table just now. */
int	fidexists(Conn *c, uint32_t num);

/* Rest f's directory cursor on x (NULL: none): a reference to x is taken, the old one's dropped. */
void	setcursor(Fid *f, File *x);

/* A new fid num on file for user, taking references to both: Eok, or why not. */
int	fidnew(Conn *c, uint32_t num, File *file, Str *user);

/* Whether user may remove f: Eok, Eroot or Eperm.  fs.tree held. */
int	removable(const File *f, const Str *user);

/* Clunk f, held for writing, with fs.tree written if f->rclose, else held and f->file written if f->excl. */
void	fidclunk(Conn *c, Fid *f);

/* Clunk every fid: nothing else of c runs, and the caller writes fs.tree. */
void	clunkall(Conn *c);

/* Hold fid num for q, locked as lk (Lrd, Lwr) says until release: NULL if there is no such fid. */
Fid	*fidhold(Req *q, uint32_t num, int lk);

/* Lock fs.tree for q as lk says, until release. */
void	treelock(Req *q, int lk);

/* Lock f's contents for q as lk says, until release; q holds fs.tree for reading. */
void	filelock(Req *q, File *f, int lk);

/* Let go of all that q holds, in the reverse order. */
void	release(Req *q);

/* References to the file and (up not NULL) the user of fid num, held a moment: Eok or Ebadfid. */
int	fidsnap(Req *q, uint32_t num, File **fp, Str **up);

/* Make user the last to change f.  f written, or fs.tree. */
void	setmuid(File *f, Str *user);

/* Open fid for acc (OREAD..OEXEC), permission checked if check: Eok or why not.  fid, and fs.tree or its file, written. */
int	openfid(Fid *fid, int acc, int trunc, int rclose, int check);

/* msg.c */

/* f's qid: fs.tree held (vers alone may change under less). */
Qid	qidof(const File *f);

/* The most a read or write on c carries: its msize less the header. */
uint32_t	iounit(const Conn *c);

/* Make q's reply in q->out: decoded, handled, answered before the handler's locks go. */
void	handle(Req *q);

/*
 * The handlers msg.c's dispatch calls: each fills r and returns Eok,
 * or returns Replied with its reply made in q->out, or an error.  What
 * it holds (fidhold, treelock, filelock) goes once the reply is made.
 */

/* io.c */

/* Tread: a file's bytes, or a 9P2000 directory's stat entries from where the last read ended. */
int	rread(Req *q, const Fcall *t, Fcall *r);

/* Twrite: at the offset, or at the end of an append-only file or an O_APPEND fid. */
int	rwrite(Req *q, const Fcall *t, Fcall *r);

/* Tstat: the fid's stat entry. */
int	rstat(Req *q, const Fcall *t, Fcall *r);

/* Treadlink: a symbolic link's target. */
int	rreadlink(Req *q, const Fcall *t, Fcall *r);

/* Tgetattr: a file's attributes, as Linux has them. */
int	rgetattr(Req *q, const Fcall *t, Fcall *r);

/* Treaddir: a directory's entries after the cookie t->offset, "." and ".." first. */
int	rreaddir(Req *q, const Fcall *t, Fcall *r);

/* change.c */

/* Tcreate: make a file in the fid's directory, open it, and move the fid to it. */
int	rcreate(Req *q, const Fcall *t, Fcall *r);

/* Tremove: remove the fid's file, and clunk the fid whether or not it could. */
int	rremove(Req *q, const Fcall *t, Fcall *r);

/* Twstat: the name, length, mode, mtime or group, each checked before any changes. */
int	rwstat(Req *q, const Fcall *t, Fcall *r);

/* Tlcreate: as Tcreate, with Linux's flags and mode. */
int	rlcreate(Req *q, const Fcall *t, Fcall *r);

/* Tmkdir: a directory in the fid's, which no fid moves to. */
int	rmkdir(Req *q, const Fcall *t, Fcall *r);

/* Tsymlink: a symbolic link in the fid's directory, which no fid moves to. */
int	rsymlink(Req *q, const Fcall *t, Fcall *r);

/* Tsetattr: the mode, group, size and times that t->sattr.valid names. */
int	rsetattr(Req *q, const Fcall *t, Fcall *r);

/* Trenameat: a name in one directory moves to a name in another, replacing a file of its kind. */
int	rrenameat(Req *q, const Fcall *t, Fcall *r);

/* Trename: the fid's file moves to a name in the directory of t->dfid. */
int	rrename(Req *q, const Fcall *t, Fcall *r);

/* Tunlinkat: remove a name of the fid's directory (a directory only with AT_REMOVEDIR). */
int	runlinkat(Req *q, const Fcall *t, Fcall *r);
