/*
 * ramfs.h - 9ramfs: the file tree (fs.c), the 9P server (srv.c) and the
 * program around them (main.c).
 *
 * One mutex, fs.lk, guards the whole tree and every reference count:
 * a connection's thread takes it around the handling of one message.
 * The fids of a connection are touched only by its own thread.
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

typedef struct Str Str;
typedef struct File File;
typedef struct Fs Fs;

/* An interned user name: equal names are the same pointer. */
struct Str {
	Str		*next;
	uint32_t	ref;
	uint32_t	hash;
	uint16_t	n;
	char		s[];	/* NUL-terminated */
};

struct File {
	File		*parent;	/* counted reference; root's is itself, uncounted */
	File		*child, *lastchild;	/* in order of seq */
	File		*prev, *next;	/* siblings */
	File		*hnext;		/* name hash chain */
	char		*name;
	uint16_t	namelen;
	Str		*uid, *gid, *muid;
	uint32_t	mode;		/* Plan 9 mode bits */
	uint64_t	path;
	uint32_t	vers;
	uint64_t	seq;		/* readdir cookie within the parent */
	uint64_t	nextseq;	/* directories: the next cookie to give */
	struct timespec	atime, mtime, ctime;
	uint8_t		*data;		/* contents, or a symbolic link's target */
	uint64_t	length;
	uint64_t	cap;
	uint32_t	ref;		/* tree link, fids, cursors, children */
	uint32_t	nchild;
	uint32_t	nsubdir;
	uint32_t	nexcl;		/* opens of a DMEXCL file */
	int		linked;
};

struct Fs {
	pthread_mutex_t	lk;
	File		*root;
	uint64_t	nextpath;
	uint64_t	bytes, maxbytes;
	uint64_t	nfiles, maxfiles;
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

/* fs.c */

/* Make the root, owned by owner (ownerid in 9P2000.L), and set the limits: 0, or -1. */
int	fsinit(const char *owner, uint32_t ownerid, uint64_t maxbytes, uint64_t maxfiles);

/* The interned name s[0..n) with a reference for the caller, or NULL when out of memory. */
Str	*strintern(const char *s, size_t n);
Str	*strincref(Str *s);
void	strdecref(Str *s);

/* The number 9P2000.L shows for a user: a decimal name's value, the owner's uid, else 65534. */
uint32_t	strid(const Str *s);

/* Take and drop a reference; the last drop frees the file and drops its parent. */
void	fileincref(File *f);
void	filedecref(File *f);

/* The child name[0..n) of dir, or NULL. */
File	*filelookup(File *dir, const char *name, size_t n);

/* Make name in dir owned by user; *fp gets a reference for the caller.  Eok or an error. */
int	filecreate(File *dir, const char *name, size_t n, uint32_t mode, Str *user, File **fp);

/* Take f, not the root nor a non-empty directory, out of the tree.  Eok or an error. */
int	fileunlink(File *f);

/* Move f to name in newdir, which must not hold that name.  Eok or an error. */
int	filerename(File *f, File *newdir, const char *name, size_t n);

/* Set the length, zero-filling, within the byte limit.  Eok or an error. */
int	filesetlen(File *f, uint64_t len);

/* Write n bytes at off, extending the file.  Eok or an error. */
int	filewrite(File *f, uint64_t off, const uint8_t *p, uint32_t n);

/* Whether user has all of the permission bits p (Pread...) on f. */
int	hasperm(const File *f, const Str *user, int p);

/* Whether user owns f or leads its group. */
int	isleader(const File *f, const Str *user);

/* Whether name[0..n) may name a file: 1 to 255 bytes, not "." or "..", no slash. */
int	validname(const char *name, size_t n);

/* The first child of dir with a readdir cookie above after, or NULL. */
File	*filefirst(File *dir, uint64_t after);

/* Update f's times and version as what (Tatime...) says. */
void	filetouch(File *f, int what);

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

/* A connection reading rfd and writing wfd (the same for a socket); name is for logs. */
Conn	*connnew(int rfd, int wfd, const char *name);

/* Serve c until it hangs up or breaks the framing, then release its fids and free it. */
void	connserve(Conn *c);

/* Close c's descriptors and free it, with whatever fids it holds. */
void	connfree(Conn *c);
