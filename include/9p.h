/*
 * 9p.h - the 9P message codec: 9P2000, 9P2000.u and 9P2000.L.
 *
 * Decoding never copies: strings and data in a decoded Fcall are views
 * into the frame, valid only as long as the frame is.  Strings are not
 * NUL-terminated.  Every decoder consumes exactly the bytes it was told
 * the message has, or fails and leaves its output untouched.
 *
 * All integers on the wire are little-endian.
 */
#ifndef NINEP_H
#define NINEP_H

#include <stddef.h>
#include <stdint.h>

enum {
	P9_NOTAG	= 0xFFFF,
	P9_NOFID	= 0xFFFFFFFFu,
	P9_MAXWELEM	= 16,
	P9_HDRSZ	= 7,		/* size[4] type[1] tag[2] */
	P9_IOHDRSZ	= 24,		/* room above the data of Twrite */
	P9_READHDRSZ	= 11,		/* size[4] Rread tag[2] count[4] */
	P9_QIDSZ	= 13,
	P9_MAXFIDS	= 2,		/* most fid fields in one message */
	P9_MINMSIZE	= 256,
};

/* Dialects, in order of the richness of Tauth/Tattach. */
enum {
	P9_2000		= 0,
	P9_2000U	= 1,
	P9_2000L	= 2,
};

/* Message types. */
enum {
	/* 9P2000.L */
	Tlerror = 6,	Rlerror,
	Tstatfs = 8,	Rstatfs,
	Tlopen = 12,	Rlopen,
	Tlcreate = 14,	Rlcreate,
	Tsymlink = 16,	Rsymlink,
	Tmknod = 18,	Rmknod,
	Trename = 20,	Rrename,
	Treadlink = 22,	Rreadlink,
	Tgetattr = 24,	Rgetattr,
	Tsetattr = 26,	Rsetattr,
	Txattrwalk = 30, Rxattrwalk,
	Txattrcreate = 32, Rxattrcreate,
	Treaddir = 40,	Rreaddir,
	Tfsync = 50,	Rfsync,
	Tlock = 52,	Rlock,
	Tgetlock = 54,	Rgetlock,
	Tlink = 70,	Rlink,
	Tmkdir = 72,	Rmkdir,
	Trenameat = 74,	Rrenameat,
	Tunlinkat = 76,	Runlinkat,
	/* 9P2000 and 9P2000.u */
	Tversion = 100,	Rversion,
	Tauth = 102,	Rauth,
	Tattach = 104,	Rattach,
	Terror = 106,	Rerror,		/* Terror is illegal */
	Tflush = 108,	Rflush,
	Twalk = 110,	Rwalk,
	Topen = 112,	Ropen,
	Tcreate = 114,	Rcreate,
	Tread = 116,	Rread,
	Twrite = 118,	Rwrite,
	Tclunk = 120,	Rclunk,
	Tremove = 122,	Rremove,
	Tstat = 124,	Rstat,
	Twstat = 126,	Rwstat,
};

/* Qid types and Plan 9 mode bits. */
enum {
	P9_QTDIR	= 0x80,
	P9_QTAPPEND	= 0x40,
	P9_QTEXCL	= 0x20,
	P9_QTMOUNT	= 0x10,
	P9_QTAUTH	= 0x08,
	P9_QTTMP	= 0x04,
	P9_QTSYMLINK	= 0x02,
	P9_QTFILE	= 0x00,
};
#define P9_DMDIR	0x80000000u
#define P9_DMAPPEND	0x40000000u
#define P9_DMEXCL	0x20000000u
#define P9_DMAUTH	0x08000000u
#define P9_DMTMP	0x04000000u
#define P9_DMSYMLINK	0x02000000u	/* 9P2000.u */
enum {
	P9_OREAD = 0, P9_OWRITE = 1, P9_ORDWR = 2, P9_OEXEC = 3,
	P9_OTRUNC = 0x10, P9_ORCLOSE = 0x40, P9_OEXCL = 0x1000,
};

/* Decoder results other than a byte count: always negative. */
enum {
	P9_EINCOMPLETE	= 0,	/* not an error: more bytes are needed */
	P9_ESHORT	= -1,	/* size field below 7 */
	P9_EBIG		= -2,	/* size field above msize */
	P9_ETYPE	= -3,	/* type unknown in this dialect */
	P9_EFIELD	= -4,	/* a field runs past the end of the message */
	P9_ETRAIL	= -5,	/* bytes left over after the last field */
	P9_ENWNAME	= -6,	/* nwname or nwqid above 16 */
	P9_ENUL		= -7,	/* a string holds a NUL byte */
	P9_ECOUNT	= -8,	/* a count disagrees with the bytes present */
	P9_EINVAL	= -9,	/* an encoder was given something it cannot say */
};

typedef struct P9str P9str;
typedef struct Qid Qid;
typedef struct P9dir P9dir;
typedef struct P9attr P9attr;
typedef struct P9setattr P9setattr;
typedef struct P9statfs P9statfs;
typedef struct P9lock P9lock;
typedef struct P9dirent P9dirent;
typedef struct P9fidref P9fidref;
typedef struct Fcall Fcall;

/* A counted string: a view, not NUL-terminated.  s may be NULL when n is 0. */
struct P9str {
	const char	*s;
	uint16_t	n;
};

struct Qid {
	uint8_t		type;
	uint32_t	vers;
	uint64_t	path;
};

/* A 9P2000 stat entry; the .u fields are used only in that dialect. */
struct P9dir {
	uint16_t	type;
	uint32_t	dev;
	Qid		qid;
	uint32_t	mode;
	uint32_t	atime;
	uint32_t	mtime;
	uint64_t	length;
	P9str		name;
	P9str		uid;
	P9str		gid;
	P9str		muid;
	P9str		extension;	/* .u */
	uint32_t	nuid;		/* .u */
	uint32_t	ngid;		/* .u */
	uint32_t	nmuid;		/* .u */
};

/* 9P2000.L Rgetattr body. */
struct P9attr {
	uint64_t	valid;
	Qid		qid;
	uint32_t	mode;
	uint32_t	uid;
	uint32_t	gid;
	uint64_t	nlink;
	uint64_t	rdev;
	uint64_t	size;
	uint64_t	blksize;
	uint64_t	blocks;
	uint64_t	atime_sec, atime_nsec;
	uint64_t	mtime_sec, mtime_nsec;
	uint64_t	ctime_sec, ctime_nsec;
	uint64_t	btime_sec, btime_nsec;
	uint64_t	gen;
	uint64_t	data_version;
};

/* 9P2000.L Tsetattr body. */
struct P9setattr {
	uint32_t	valid;
	uint32_t	mode;
	uint32_t	uid;
	uint32_t	gid;
	uint64_t	size;
	uint64_t	atime_sec, atime_nsec;
	uint64_t	mtime_sec, mtime_nsec;
};

/* 9P2000.L Rstatfs body. */
struct P9statfs {
	uint32_t	type;
	uint32_t	bsize;
	uint64_t	blocks;
	uint64_t	bfree;
	uint64_t	bavail;
	uint64_t	files;
	uint64_t	ffree;
	uint64_t	fsid;
	uint32_t	namelen;
};

/* 9P2000.L Tlock, Tgetlock and Rgetlock body; flags is Tlock's only. */
struct P9lock {
	uint8_t		type;
	uint32_t	flags;
	uint64_t	start;
	uint64_t	length;
	uint32_t	procid;
	P9str		clientid;
};

/* One 9P2000.L directory entry, as packed in Rreaddir data. */
struct P9dirent {
	Qid		qid;
	uint64_t	offset;
	uint8_t		type;
	P9str		name;
};

/*
 * A decoded message.  Which fields are meaningful depends on type;
 * the comment names the messages that use each field.
 */
struct Fcall {
	uint8_t		type;
	uint16_t	tag;
	uint32_t	fid;		/* every message naming one fid;
					 * Trename, Tlink: the file's fid */
	uint32_t	newfid;		/* Twalk, Txattrwalk */
	uint32_t	afid;		/* Tauth, Tattach */
	uint32_t	dfid;		/* Trename, Tmknod, Tlink, Tmkdir, Tunlinkat;
					 * Trenameat: olddirfid */
	uint32_t	newdfid;	/* Trenameat: newdirfid */
	uint32_t	msize;		/* Tversion, Rversion */
	P9str		version;	/* Tversion, Rversion */
	uint16_t	oldtag;		/* Tflush */
	P9str		ename;		/* Rerror */
	uint32_t	errnum;		/* Rerror (.u), Rlerror */
	Qid		qid;		/* Rauth, Rattach, Ropen, Rcreate, Rlopen,
					 * Rlcreate, Rsymlink, Rmknod, Rmkdir */
	uint32_t	iounit;		/* Ropen, Rcreate, Rlopen, Rlcreate */
	P9str		uname;		/* Tauth, Tattach */
	P9str		aname;		/* Tauth, Tattach */
	uint32_t	nuname;		/* Tauth, Tattach (.u and .L) */
	uint32_t	perm;		/* Tcreate */
	uint32_t	mode;		/* Topen, Tcreate (one byte on the wire);
					 * Tlcreate, Tmknod, Tmkdir */
	uint32_t	flags;		/* Tlopen, Tlcreate, Txattrcreate, Tunlinkat */
	uint32_t	gid;		/* Tlcreate, Tsymlink, Tmknod, Tmkdir */
	uint32_t	major, minor;	/* Tmknod */
	P9str		name;		/* Tcreate, Tlcreate, Tsymlink, Tmknod, Trename,
					 * Txattrwalk, Txattrcreate, Tlink, Tmkdir,
					 * Tunlinkat; Trenameat: oldname */
	P9str		newname;	/* Trenameat */
	P9str		extension;	/* Tcreate (.u) */
	P9str		target;		/* Tsymlink (symtgt), Rreadlink */
	uint16_t	nwname;		/* Twalk */
	P9str		wname[P9_MAXWELEM];
	uint16_t	nwqid;		/* Rwalk */
	Qid		wqid[P9_MAXWELEM];
	uint64_t	offset;		/* Tread, Twrite, Treaddir */
	uint32_t	count;		/* Tread, Twrite, Rread, Rwrite, Treaddir, Rreaddir */
	const uint8_t	*data;		/* Twrite, Rread, Rreaddir: count bytes */
	uint16_t	nstat;		/* Rstat, Twstat: bytes at stat */
	const uint8_t	*stat;		/* Rstat, Twstat: one packed stat entry */
	uint64_t	mask;		/* Tgetattr request_mask */
	P9attr		attr;		/* Rgetattr */
	P9setattr	sattr;		/* Tsetattr */
	P9statfs	statfs;		/* Rstatfs */
	P9lock		lock;		/* Tlock, Tgetlock, Rgetlock */
	uint8_t		status;		/* Rlock */
	uint64_t	xsize;		/* Rxattrwalk size, Txattrcreate attr_size */
	uint32_t	datasync;	/* Tfsync */
};

/* The role a fid field plays in its T-message. */
enum {
	P9_FIDUSE	= 1,	/* names a fid the client holds */
	P9_FIDNEW	= 2,	/* creates this fid if, and only if, the reply succeeds */
	P9_FIDDEL	= 3,	/* destroys this fid whatever the reply */
	P9_FIDOPT	= 0x10,	/* or'd in: P9_NOFID is allowed here (Tattach afid) */
};

/* Where one fid field lies: byte offset from the start of the frame. */
struct P9fidref {
	uint32_t	off;
	uint8_t		role;
};

/* Offsets of fixed fields other tools patch in place. */
enum {
	P9_TAGOFF	= 5,	/* every message */
	P9_OLDTAGOFF	= 7,	/* Tflush */
	P9_RWCOUNTOFF	= 19,	/* Tread, Twrite, Treaddir: count */
	P9_IOUNITOFF	= 20,	/* Ropen, Rcreate, Rlopen, Rlcreate: iounit */
};

/* Little-endian access to a frame.  The caller checks the bounds. */
static inline uint16_t p9get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t p9get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline uint64_t p9get64(const uint8_t *p) { return (uint64_t)p9get32(p) | (uint64_t)p9get32(p + 4) << 32; }
static inline void p9put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void p9put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }
static inline void p9put64(uint8_t *p, uint64_t v) { p9put32(p, (uint32_t)v); p9put32(p + 4, (uint32_t)(v >> 32)); }

/* The dialect a version string names exactly, or -1 ("9P2000.u" -> P9_2000U). */
int p9dialect(const char *s, size_t n);

/* The version string of a dialect: "9P2000", "9P2000.u" or "9P2000.L". */
const char *p9dialectname(int dialect);

/* The type name ("Twalk"), or NULL for a type no dialect knows. */
const char *p9typename(int type);

/* Whether type is a message of dialect (T- and R-messages alike). */
int p9known(int type, int dialect);

/* Text for a negative result of a decoder or frame check. */
const char *p9strerror(int err);

/*
 * Check the frame at the head of buf: its size if all of it is in buf,
 * P9_EINCOMPLETE if more bytes are needed, P9_ESHORT or P9_EBIG if its
 * size field is below 7 or above msize.  Fields are not examined.
 */
long p9frame(const uint8_t *buf, size_t len, uint32_t msize);

/*
 * Decode the one message at the head of buf in dialect: bytes consumed
 * (its size field) on success, P9_EINCOMPLETE if buf holds less than a
 * whole message, or a negative P9_E error.  *f is written only on success.
 */
long p9decode(const uint8_t *buf, size_t len, uint32_t msize, int dialect, Fcall *f);

/* Bytes p9encode will write for f in dialect, or 0 if f cannot be encoded. */
size_t p9size(const Fcall *f, int dialect);

/* Encode f in dialect into buf: bytes written, or 0 if f cannot be encoded or buf is too small. */
size_t p9encode(uint8_t *buf, size_t len, const Fcall *f, int dialect);

/*
 * Decode one stat entry (size[2] and its body) at the head of buf:
 * bytes consumed, or a negative P9_E error.  The .u fields are read
 * only in P9_2000U.  *d is written only on success.
 */
long p9dirdecode(const uint8_t *buf, size_t len, int dialect, P9dir *d);

/* Bytes of the packed stat entry of d, size[2] included; 0 if it cannot be encoded. */
size_t p9dirsize(const P9dir *d, int dialect);

/* Pack d into buf: bytes written, or 0 if buf is too small. */
size_t p9direncode(uint8_t *buf, size_t len, const P9dir *d, int dialect);

/* Decode one 9P2000.L directory entry at the head of buf: bytes consumed or a negative P9_E error. */
long p9direntdecode(const uint8_t *buf, size_t len, P9dirent *e);

/* Bytes of the packed entry of e. */
size_t p9direntsize(const P9dirent *e);

/* Pack e into buf: bytes written, or 0 if buf is too small. */
size_t p9direntencode(uint8_t *buf, size_t len, const P9dirent *e);

/*
 * The fid fields of the whole T-message frame in buf (len bytes, as
 * checked by p9frame) in dialect: their number (0..P9_MAXFIDS) with
 * refs filled in, or a negative P9_E error for an unknown type or a
 * malformed frame.  Offsets are from the start of the frame.
 */
int p9fidmap(const uint8_t *buf, size_t len, int dialect, P9fidref refs[P9_MAXFIDS]);

/*
 * Format f on one line for tracing ("Tread tag 3 fid 7 offset 0 count 8192")
 * into buf, always NUL-terminated when len > 0: the length the whole line
 * would have, as snprintf counts it.
 */
int p9fmt(char *buf, size_t len, const Fcall *f, int dialect);

/* Build a view of a NUL-terminated C string; NULL gives the empty string. */
P9str p9str(const char *s);

/* Whether a view equals a NUL-terminated C string. */
int p9streq(P9str a, const char *s);

#endif
