/*
 * 9pclient.h - a 9P2000 and 9P2000.L client on libmux and the codec.
 * See 9pclient(3) in man/man3/9pclient.3.
 *
 * A CFsys is one connection; any number of threads may use it and its
 * fids at once.  A CFid is one fid on the server.  Functions that fail
 * return -1 or NULL and leave a message for fserrstr(); the library never
 * prints.  A request that times out (fssettimeout) is flushed with Tflush;
 * its tag, and any fid it named or was creating, are reused only once the
 * flush is answered.
 */
#ifndef NINEPCLIENT_H
#define NINEPCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "9p.h"

typedef struct CFsys CFsys;
typedef struct CFid CFid;
typedef struct Fsdir Fsdir;

/*
 * A directory entry in owned, NUL-terminated strings.  mode holds Plan 9
 * bits (P9_DMDIR, P9_DMSYMLINK, ...) and the permissions in both
 * dialects; umode is the whole Unix mode in 9P2000.L (0 otherwise).
 * In 9P2000.L uid and gid are decimal numbers and muid is empty.
 */
struct Fsdir {
	uint16_t	type;
	uint32_t	dev;
	Qid		qid;
	uint32_t	mode;
	uint32_t	umode;
	uint32_t	atime;
	uint32_t	mtime;
	uint64_t	length;
	uint64_t	nlink;
	char		*name;
	char		*uid;
	char		*gid;
	char		*muid;
};

/*
 * The caller's half of an authentication protocol: talk to the server
 * through afid with fsread and fswrite, return 0 on success or -1
 * (fswerrstr sets the message).
 */
typedef int (*Fsauthfn)(CFid *afid, void *arg);

/* Connect to addr (unix!path, tcp!host!port, tcp!host) and do fsversion. */
CFsys *fsdial(const char *addr, int dialect, uint32_t msize);

/*
 * Take over the connected descriptor fd (closed on failure too) and
 * negotiate dialect (P9_2000 or P9_2000L) and msize with Tversion.
 */
CFsys *fsinit(int fd, int dialect, uint32_t msize);

/* Hang up and free fs; every CFid of it must have been closed first. */
void fsunmount(CFsys *fs);

/* The negotiated dialect and msize. */
int fsdialect(CFsys *fs);
uint32_t fsmsize(CFsys *fs);

/* Give up on a reply after ms milliseconds (<= 0: wait for ever, the default). */
void fssettimeout(CFsys *fs, long ms);

/* The calling thread's last error message. */
const char *fserrstr(void);

/* Set the calling thread's error message. */
void fswerrstr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Tauth: an afid ready for fsread and fswrite, or NULL (often "no auth needed"). */
CFid *fsauth(CFsys *fs, const char *uname, const char *aname);

/* Tattach with afid (NULL: none): the root fid, or NULL. */
CFid *fsattach(CFsys *fs, CFid *afid, const char *uname, const char *aname);

/*
 * Attach, first running auth over a fresh afid when auth is not NULL:
 * the root fid, or NULL.  The afid is closed before returning.
 */
CFid *fsmount(CFsys *fs, const char *uname, const char *aname, Fsauthfn auth, void *arg);

/*
 * Walk from fid along the slash-separated path (NULL or "" clones fid):
 * a new fid, or NULL if any element is missing.  Paths longer than 16
 * elements take several Twalks.
 */
CFid *fswalk(CFid *fid, const char *path);

/* Open fid itself with a Plan 9 mode (P9_OREAD ... | P9_OTRUNC): 0 or -1. */
int fsfopen(CFid *fid, int mode);

/* Create name in the directory fid, which becomes the new open file: 0 or -1. */
int fsfcreate(CFid *fid, const char *name, int mode, uint32_t perm);

/* Walk from root to path and open it: the open fid, or NULL. */
CFid *fsopen(CFid *root, const char *path, int mode);

/*
 * Create path under root with perm (P9_DMDIR for a directory) and open it
 * with mode: the open fid, or NULL.  A directory is opened for reading.
 */
CFid *fscreate(CFid *root, const char *path, int mode, uint32_t perm);

/* Clunk fid and free it; NULL is ignored.  0, or -1 if the server said no. */
int fsclose(CFid *fid);

/* Remove the file of fid; fid is freed whatever the answer.  0 or -1. */
int fsfremove(CFid *fid);

/* Walk from root to path and remove it: 0 or -1. */
int fsremove(CFid *root, const char *path);

/*
 * Read up to n bytes at offset off, in as many Treads as iounit and msize
 * need, stopping early at a short read: bytes read (0 at end), or -1.
 */
long fspread(CFid *fid, void *buf, long n, uint64_t off);

/* Write n bytes at off in pieces of at most iounit or msize: bytes written, or -1. */
long fspwrite(CFid *fid, const void *buf, long n, uint64_t off);

/* fspread and fspwrite at the fid's offset, which they advance. */
long fsread(CFid *fid, void *buf, long n);
long fswrite(CFid *fid, const void *buf, long n);

/* Read exactly n bytes unless the file ends first: bytes read, or -1. */
long fsreadn(CFid *fid, void *buf, long n);

/* Set the fid's offset for fsread, fswrite and fsdirread. */
void fsseek(CFid *fid, uint64_t off);

/*
 * The next entries of the open directory fid (9P2000 Tread, 9P2000.L
 * Treaddir; .L entries hold only qid, name and mode's type bits):
 * their number with *d allocated, 0 at the end, or -1.
 */
long fsdirread(CFid *fid, Fsdir **d);

/* All remaining entries of the directory, as fsdirread. */
long fsdirreadall(CFid *fid, Fsdir **d);

/* Free an array of n entries from fsdirread, fsdirstat or fsdirfstat. */
void fsdirfree(Fsdir *d, long n);

/* The entry of fid (Tstat, or Tgetattr in 9P2000.L), or NULL. */
Fsdir *fsdirfstat(CFid *fid);

/* The entry of path under root, or NULL. */
Fsdir *fsdirstat(CFid *root, const char *path);

/* Set every field of d to "don't touch" for fsdirfwstat. */
void fsnulldir(Fsdir *d);

/* Twstat (9P2000 only) with the fields of d that fsnulldir left unchanged: 0 or -1. */
int fsdirfwstat(CFid *fid, const Fsdir *d);

/* Tgetattr (9P2000.L) for the fields in mask (FS_GETATTR_*): 0 or -1. */
int fsgetattr(CFid *fid, uint64_t mask, P9attr *a);

/* Tsetattr (9P2000.L): 0 or -1. */
int fssetattr(CFid *fid, const P9setattr *sa);

/* The qid, iounit and open mode (-1 if not open) of fid. */
Qid fsqid(CFid *fid);
uint32_t fsiounit(CFid *fid);
int fsmode(CFid *fid);
CFsys *fsfsys(CFid *fid);

/* 9P2000.L Tgetattr request mask bits. */
enum {
	FS_GETATTR_MODE		= 0x1,
	FS_GETATTR_NLINK	= 0x2,
	FS_GETATTR_UID		= 0x4,
	FS_GETATTR_GID		= 0x8,
	FS_GETATTR_RDEV		= 0x10,
	FS_GETATTR_ATIME	= 0x20,
	FS_GETATTR_MTIME	= 0x40,
	FS_GETATTR_CTIME	= 0x80,
	FS_GETATTR_INO		= 0x100,
	FS_GETATTR_SIZE		= 0x200,
	FS_GETATTR_BLOCKS	= 0x400,
	FS_GETATTR_BASIC	= 0x7ff,
	FS_GETATTR_ALL		= 0x3fff,
};

/* 9P2000.L Tsetattr valid bits. */
enum {
	FS_SETATTR_MODE		= 0x1,
	FS_SETATTR_UID		= 0x2,
	FS_SETATTR_GID		= 0x4,
	FS_SETATTR_SIZE		= 0x8,
	FS_SETATTR_ATIME	= 0x10,
	FS_SETATTR_MTIME	= 0x20,
	FS_SETATTR_CTIME	= 0x40,
	FS_SETATTR_ATIME_SET	= 0x80,
	FS_SETATTR_MTIME_SET	= 0x100,
};

#endif
