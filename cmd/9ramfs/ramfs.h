/*
 * ramfs.h - 9ramfs: the file tree (fs.c), the 9P server (srv.c) and the
 * program around them (main.c).
 *
 * Several threads handle the requests of one connection at once (srv.c
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
#include <stdint.h>
#include <time.h>

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

/* Errors: an index into errtab (srv.c), 0 is success. */
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
int	fsinit(const char *owner, uint32_t ownerid, uint64_t maxbytes, uint64_t maxfiles);

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

/* srv.c */
typedef struct Conn Conn;

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
