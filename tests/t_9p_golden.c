/*
 * t_9p_golden - the codec against frames written out by hand.
 *
 * Every byte below was written field by field from the protocol
 * descriptions, never produced by the codec: intro(5) and the other
 * section 5 pages of Plan 9 for 9P2000, the 9P2000.u draft for its
 * n_uname, errno, extension and stat fields, and for 9P2000.L diod's
 * protocol.md checked against the format strings of Linux
 * net/9p/client.c and protocol.c ("dsddg", "dsdddg", "dd" for Tfsync,
 * "qQdugqqqqqqqqqqqqqqq" for Rgetattr, "ddugqqqqq" for Tsetattr,
 * "ddqqqqqqd" for Rstatfs, "Qqbs" for a dirent).  The size fields were
 * added up by hand; the first test of each case checks that sum against
 * the length of the array, so a slip in this file shows up as such.
 *
 * For each frame: p9decode takes all of it and yields the fields,
 * p9size and p9encode give back exactly those bytes, a frame one byte
 * short or long is refused, and p9fidmap finds the fid fields where
 * the layout puts them.  Each frame is also offered to the dialects
 * that do not have it.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "9p.h"
#include "tap.h"

#define MSIZE	8192

/* Little-endian byte lists for array initialisers. */
#define L16(v)	((v) & 0xff), (((v) >> 8) & 0xff)
#define L32(v)	L16((v) & 0xffff), L16(((v) >> 16) & 0xffff)
#define L64(v)	L32((unsigned long long)(v) & 0xffffffffULL), L32(((unsigned long long)(v) >> 32) & 0xffffffffULL)
#define QID(t, v, p)	(t), L32(v), L64(p)
#define HDR(size, type, tag)	L32(size), (type), L16(tag)

#define S_(lit)	{ .s = (lit), .n = sizeof(lit) - 1 }
#define B(a)	(a), sizeof(a)

enum {
	D0 = 1 << P9_2000,
	DU = 1 << P9_2000U,
	DL = 1 << P9_2000L,
	DALL = D0|DU|DL,
};

/* Which Fcall fields a case compares; type and tag always are. */
#define F_FID		(1ULL << 0)
#define F_NEWFID	(1ULL << 1)
#define F_AFID		(1ULL << 2)
#define F_DFID		(1ULL << 3)
#define F_NEWDFID	(1ULL << 4)
#define F_MSIZE		(1ULL << 5)
#define F_VERSION	(1ULL << 6)
#define F_OLDTAG	(1ULL << 7)
#define F_ENAME		(1ULL << 8)
#define F_ERRNUM	(1ULL << 9)
#define F_QID		(1ULL << 10)
#define F_IOUNIT	(1ULL << 11)
#define F_UNAME		(1ULL << 12)
#define F_ANAME		(1ULL << 13)
#define F_NUNAME	(1ULL << 14)
#define F_PERM		(1ULL << 15)
#define F_MODE		(1ULL << 16)
#define F_FLAGS		(1ULL << 17)
#define F_GID		(1ULL << 18)
#define F_MAJMIN	(1ULL << 19)
#define F_NAME		(1ULL << 20)
#define F_NEWNAME	(1ULL << 21)
#define F_EXT		(1ULL << 22)
#define F_TARGET	(1ULL << 23)
#define F_WNAME		(1ULL << 24)
#define F_WQID		(1ULL << 25)
#define F_OFFSET	(1ULL << 26)
#define F_COUNT		(1ULL << 27)
#define F_DATA		(1ULL << 28)	/* count and the bytes */
#define F_STAT		(1ULL << 29)	/* nstat and the bytes */
#define F_MASK		(1ULL << 30)
#define F_ATTR		(1ULL << 31)
#define F_SATTR		(1ULL << 32)
#define F_STATFS	(1ULL << 33)
#define F_LK		(1ULL << 34)	/* type start length procid clientid */
#define F_LKFLAGS	(1ULL << 35)
#define F_STATUS	(1ULL << 36)
#define F_XSIZE		(1ULL << 37)
#define F_DATASYNC	(1ULL << 38)

#define RU	P9_FIDUSE
#define RN	P9_FIDNEW
#define RD	P9_FIDDEL
#define RO	(P9_FIDUSE|P9_FIDOPT)

/* ---- shared byte runs ------------------------------------------------ */

/*
 * A 9P2000 stat entry, stat(5): size[2] type[2] dev[4] qid[13] mode[4]
 * atime[4] mtime[4] length[8] name[s] uid[s] gid[s] muid[s].
 * 2+2+4+13+4+4+4+8 = 41 fixed, strings 5+5+5+8 = 23: 64 bytes, size 62.
 */
#define STAT9 \
	L16(62),			/* size: bytes after this field */ \
	L16(0x1234),			/* type */ \
	L32(0x56789abc),		/* dev */ \
	QID(0x80, 5, 0x2a),		/* qid: QTDIR, vers 5, path 0x2a */ \
	L32(0x800001ED),		/* mode: DMDIR|0755 */ \
	L32(1000000000),		/* atime */ \
	L32(1000000001),		/* mtime */ \
	L64(4096),			/* length */ \
	L16(3), 'u', 's', 'r',		/* name */ \
	L16(3), 's', 'y', 's',		/* uid */ \
	L16(3), 's', 'y', 's',		/* gid */ \
	L16(6), 'g', 'l', 'e', 'n', 'd', 'a'	/* muid */

/*
 * A wstat entry that changes only the name: every number ~0 and the
 * other strings empty, stat(5).  41 + 5 + 2 + 2 + 2 = 52, size 50.
 */
#define STAT9W \
	L16(50), \
	L16(0xFFFF), \
	L32(0xFFFFFFFF), \
	QID(0xFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFFULL), \
	L32(0xFFFFFFFF), \
	L32(0xFFFFFFFF), \
	L32(0xFFFFFFFF), \
	L64(0xFFFFFFFFFFFFFFFFULL), \
	L16(3), 'n', 'e', 'w', \
	L16(0), \
	L16(0), \
	L16(0)

/*
 * A 9P2000.u stat entry: the 9P2000 fields, then extension[s] n_uid[4]
 * n_gid[4] n_muid[4].  41 + (3+8+7+8) + 5 + 12 = 84, size 82.
 */
#define STAT9U \
	L16(82), \
	L16(0), \
	L32(0), \
	QID(0x02, 0, 0x77),		/* QTSYMLINK */ \
	L32(0x020001FF),		/* DMSYMLINK|0777 */ \
	L32(1), \
	L32(2), \
	L64(3), \
	L16(1), 'l', \
	L16(6), 'g', 'l', 'e', 'n', 'd', 'a', \
	L16(5), 'u', 's', 'e', 'r', 's', \
	L16(6), 'g', 'l', 'e', 'n', 'd', 'a', \
	L16(3), 't', 'g', 't',		/* extension: the link target */ \
	L32(1000),			/* n_uid */ \
	L32(100),			/* n_gid */ \
	L32(1000)			/* n_muid */

/*
 * Three 9P2000.L directory entries: qid[13] offset[8] type[1] name[s].
 * 25 + 26 + 25 = 76 bytes.
 */
#define DIRENT1	QID(0x80, 0, 0x46), L64(1), 4, L16(1), '.'
#define DIRENT2	QID(0x80, 0, 0x01), L64(2), 4, L16(2), '.', '.'
#define DIRENT3	QID(0x00, 0, 0x43), L64(0x7fffffffffffffffULL), 8, L16(1), 'f'
#define DIRENTS	DIRENT1, DIRENT2, DIRENT3

static const uint8_t stat9[] = { STAT9 };
static const uint8_t stat9w[] = { STAT9W };
static const uint8_t stat9u[] = { STAT9U };
static const uint8_t dirents[] = { DIRENTS };
static const uint8_t dirent1[] = { DIRENT1 };
static const uint8_t dirent2[] = { DIRENT2 };
static const uint8_t dirent3[] = { DIRENT3 };

/* ---- 9P2000 frames --------------------------------------------------- */

/* Tversion tag[2] msize[4] version[s]: 7+4+2+8 = 21 */
static const uint8_t tversion[] = { HDR(21, 100, 0xFFFF), L32(8192), L16(8), '9', 'P', '2', '0', '0', '0', '.', 'L' };
/* Rversion: 7+4+2+6 = 19 */
static const uint8_t rversion[] = { HDR(19, 101, 0xFFFF), L32(8192), L16(6), '9', 'P', '2', '0', '0', '0' };
/* Tauth afid[4] uname[s] aname[s]: 7+4+8+2 = 21 */
static const uint8_t tauth9[] = { HDR(21, 102, 1), L32(5), L16(6), 'g', 'l', 'e', 'n', 'd', 'a', L16(0) };
/* Rauth aqid[13]: 20 */
static const uint8_t rauth[] = { HDR(20, 103, 1), QID(0x08, 0, 0x11) };
/* Tattach fid[4] afid[4] uname[s] aname[s]: 7+4+4+8+3 = 26 */
static const uint8_t tattach9[] = { HDR(26, 104, 2), L32(1), L32(0xFFFFFFFF), L16(6), 'g', 'l', 'e', 'n', 'd', 'a', L16(1), '/' };
/* Rattach qid[13]: 20 */
static const uint8_t rattach[] = { HDR(20, 105, 2), QID(0x80, 3, 0x0102030405060708ULL) };
/* Rerror ename[s]: 7+6 = 13 */
static const uint8_t rerror9[] = { HDR(13, 107, 3), L16(4), 'g', 'o', 'n', 'e' };
/* Tflush oldtag[2]: 9 */
static const uint8_t tflush[] = { HDR(9, 108, 4), L16(3) };
static const uint8_t rflush[] = { HDR(7, 109, 4) };
/* Twalk fid[4] newfid[4] nwname[2] nwname*(wname[s]): 7+10+5+8 = 30 */
static const uint8_t twalk[] = { HDR(30, 110, 5), L32(1), L32(2), L16(2), L16(3), 'u', 's', 'r', L16(6), 'g', 'l', 'e', 'n', 'd', 'a' };
/* Rwalk nwqid[2] nwqid*(qid[13]): 7+2+26 = 35 */
static const uint8_t rwalk[] = { HDR(35, 111, 5), L16(2), QID(0x80, 1, 0x10), QID(0x80, 2, 0x20) };
/* Twalk clone, nwname 0: 17 */
static const uint8_t twalk0[] = { HDR(17, 110, 6), L32(1), L32(3), L16(0) };
/* Rwalk, nwqid 0: 9 */
static const uint8_t rwalk0[] = { HDR(9, 111, 6), L16(0) };
/* Topen fid[4] mode[1]: 12 */
static const uint8_t topen[] = { HDR(12, 112, 7), L32(2), 0x12 };
/* Ropen qid[13] iounit[4]: 24 */
static const uint8_t ropen[] = { HDR(24, 113, 7), QID(0x00, 7, 0x99), L32(8168) };
/* Tcreate fid[4] name[s] perm[4] mode[1]: 7+4+5+4+1 = 21 */
static const uint8_t tcreate9[] = { HDR(21, 114, 8), L32(2), L16(3), 'n', 'e', 'w', L32(0x1A4), 1 };
static const uint8_t rcreate[] = { HDR(24, 115, 8), QID(0x00, 0, 0x100), L32(0) };
/* Tread fid[4] offset[8] count[4]: 23 */
static const uint8_t tread[] = { HDR(23, 116, 3), L32(7), L64(0x123456789AULL), L32(8192) };
/* Rread count[4] data[count]: 7+4+5 = 16 */
static const uint8_t rread[] = { HDR(16, 117, 3), L32(5), 'h', 'e', 'l', 'l', 'o' };
/* Twrite fid[4] offset[8] count[4] data[count]: 7+4+8+4+3 = 26 */
static const uint8_t twrite[] = { HDR(26, 118, 9), L32(7), L64(10), L32(3), 'a', 'b', 'c' };
static const uint8_t rwrite[] = { HDR(11, 119, 9), L32(3) };
static const uint8_t tclunk[] = { HDR(11, 120, 10), L32(7) };
static const uint8_t rclunk[] = { HDR(7, 121, 10) };
static const uint8_t tremove[] = { HDR(11, 122, 11), L32(3) };
static const uint8_t rremove[] = { HDR(7, 123, 11) };
static const uint8_t tstat[] = { HDR(11, 124, 12), L32(1) };
/* Rstat n[2] stat[n]: 7+2+64 = 73 */
static const uint8_t rstat9[] = { HDR(73, 125, 12), L16(64), STAT9 };
/* Twstat fid[4] n[2] stat[n]: 7+4+2+52 = 65 */
static const uint8_t twstat9[] = { HDR(65, 126, 13), L32(1), L16(52), STAT9W };
static const uint8_t rwstat[] = { HDR(7, 127, 13) };

static const uint8_t rreaddata[] = { 'h', 'e', 'l', 'l', 'o' };
static const uint8_t twritedata[] = { 'a', 'b', 'c' };

/* ---- 9P2000.u frames ------------------------------------------------- */

/* Tauth afid uname aname n_uname[4]: 21+4 = 25 (also 9P2000.L) */
static const uint8_t tauthu[] = { HDR(25, 102, 1), L32(5), L16(6), 'g', 'l', 'e', 'n', 'd', 'a', L16(0), L32(1000) };
/* Tattach fid afid uname aname n_uname[4]: 7+4+4+2+3+4 = 24 */
static const uint8_t tattachu[] = { HDR(24, 104, 2), L32(1), L32(5), L16(0), L16(1), '/', L32(1000) };
/* Rerror ename[s] errno[4]: 13+4 = 17 */
static const uint8_t rerroru[] = { HDR(17, 107, 3), L16(4), 'g', 'o', 'n', 'e', L32(2) };
/* Tcreate fid name perm mode extension[s]: 7+4+5+4+1+6 = 27 */
static const uint8_t tcreateu[] = { HDR(27, 114, 8), L32(2), L16(3), 'l', 'n', 'k', L32(0x020001FF), 0, L16(4), '/', 't', 'm', 'p' };
/* Rstat with a .u entry: 7+2+84 = 93 */
static const uint8_t rstatu[] = { HDR(93, 125, 12), L16(84), STAT9U };

/* Twstat with a .u entry: 7+4+2+84 = 97 */
static const uint8_t twstatu[] = { HDR(97, 126, 13), L32(1), L16(84), STAT9U };

/* ---- 9P2000.L frames ------------------------------------------------- */

/* Rlerror ecode[4]: 11 */
static const uint8_t rlerror[] = { HDR(11, 7, 3), L32(2) };
static const uint8_t tstatfs[] = { HDR(11, 8, 20), L32(1) };
/* Rstatfs type[4] bsize[4] blocks[8] bfree[8] bavail[8] files[8] ffree[8] fsid[8] namelen[4]: 7+8+48+4 = 67 */
static const uint8_t rstatfs[] = { HDR(67, 9, 20), L32(0x01021994), L32(4096), L64(1000), L64(500), L64(400),
	L64(100), L64(50), L64(0x1122334455667788ULL), L32(255) };
/* Tlopen fid[4] flags[4]: 15 */
static const uint8_t tlopen[] = { HDR(15, 12, 21), L32(2), L32(0x8002) };
/* Rlopen qid[13] iounit[4]: 24 */
static const uint8_t rlopen[] = { HDR(24, 13, 21), QID(0x00, 1, 0x42), L32(8168) };
/* Tlcreate fid[4] name[s] flags[4] mode[4] gid[4]: 7+4+3+12 = 26 */
static const uint8_t tlcreate[] = { HDR(26, 14, 22), L32(2), L16(1), 'f', L32(0x41), L32(0x1A4), L32(100) };
static const uint8_t rlcreate[] = { HDR(24, 15, 22), QID(0x00, 0, 0x43), L32(0) };
/* Tsymlink fid[4] name[s] symtgt[s] gid[4]: 7+4+3+4+4 = 22 */
static const uint8_t tsymlink[] = { HDR(22, 16, 23), L32(2), L16(1), 'l', L16(2), '/', 'x', L32(100) };
static const uint8_t rsymlink[] = { HDR(20, 17, 23), QID(0x02, 0, 0x44) };
/* Tmknod dfid[4] name[s] mode[4] major[4] minor[4] gid[4]: 7+4+3+16 = 30 */
static const uint8_t tmknod[] = { HDR(30, 18, 24), L32(2), L16(1), 'd', L32(0x21B6), L32(1), L32(3), L32(100) };
static const uint8_t rmknod[] = { HDR(20, 19, 24), QID(0x00, 0, 0x45) };
/* Trename fid[4] dfid[4] name[s]: 7+8+3 = 18 */
static const uint8_t trename[] = { HDR(18, 20, 25), L32(3), L32(2), L16(1), 'n' };
static const uint8_t rrename[] = { HDR(7, 21, 25) };
static const uint8_t treadlink[] = { HDR(11, 22, 26), L32(4) };
/* Rreadlink target[s]: 7+4 = 11 */
static const uint8_t rreadlink[] = { HDR(11, 23, 26), L16(2), '/', 'x' };
/* Tgetattr fid[4] request_mask[8]: 19 */
static const uint8_t tgetattr[] = { HDR(19, 24, 27), L32(1), L64(0x3FFF) };
/*
 * Rgetattr valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8] rdev[8]
 * size[8] blksize[8] blocks[8] atime_sec[8] atime_nsec[8] mtime_sec[8]
 * mtime_nsec[8] ctime_sec[8] ctime_nsec[8] btime_sec[8] btime_nsec[8]
 * gen[8] data_version[8]: 7+8+13+12+15*8 = 160
 */
static const uint8_t rgetattr[] = { HDR(160, 25, 27), L64(0x7FF), QID(0x80, 0, 0x46),
	L32(0x41ED), L32(1000), L32(100),
	L64(2), L64(0x0103), L64(4096), L64(8192), L64(8),
	L64(11), L64(12), L64(13), L64(14), L64(15), L64(16), L64(17), L64(18),
	L64(19), L64(20) };
/*
 * Tsetattr fid[4] valid[4] mode[4] uid[4] gid[4] size[8] atime_sec[8]
 * atime_nsec[8] mtime_sec[8] mtime_nsec[8]: 7+4+16+40 = 67
 */
static const uint8_t tsetattr[] = { HDR(67, 26, 28), L32(1), L32(0x3F), L32(0x1A4), L32(1000), L32(100),
	L64(12345), L64(21), L64(22), L64(23), L64(24) };
static const uint8_t rsetattr[] = { HDR(7, 27, 28) };
/* Txattrwalk fid[4] newfid[4] name[s]: 7+8+8 = 23 */
static const uint8_t txattrwalk[] = { HDR(23, 30, 29), L32(1), L32(5), L16(6), 'u', 's', 'e', 'r', '.', 'a' };
/* Rxattrwalk size[8]: 15 */
static const uint8_t rxattrwalk[] = { HDR(15, 31, 29), L64(10) };
/* Txattrcreate fid[4] name[s] attr_size[8] flags[4]: 7+4+8+8+4 = 31 */
static const uint8_t txattrcreate[] = { HDR(31, 32, 30), L32(5), L16(6), 'u', 's', 'e', 'r', '.', 'a', L64(10), L32(1) };
static const uint8_t rxattrcreate[] = { HDR(7, 33, 30) };
/* Treaddir fid[4] offset[8] count[4]: 23 */
static const uint8_t treaddir[] = { HDR(23, 40, 31), L32(2), L64(0), L32(4096) };
/* Rreaddir count[4] data[count]: 7+4+76 = 87 */
static const uint8_t rreaddir[] = { HDR(87, 41, 31), L32(76), DIRENTS };
/* Tfsync fid[4] datasync[4]: 15 */
static const uint8_t tfsync[] = { HDR(15, 50, 32), L32(2), L32(1) };
static const uint8_t rfsync[] = { HDR(7, 51, 32) };
/* Tlock fid[4] type[1] flags[4] start[8] length[8] proc_id[4] client_id[s]: 7+4+1+4+8+8+4+6 = 42 */
static const uint8_t tlock[] = { HDR(42, 52, 33), L32(2), 1, L32(1), L64(5), L64(100), L32(4242), L16(4), 'h', 'o', 's', 't' };
/* Rlock status[1]: 8 */
static const uint8_t rlock[] = { HDR(8, 53, 33), 1 };
/* Tgetlock fid[4] type[1] start[8] length[8] proc_id[4] client_id[s]: 7+4+1+8+8+4+6 = 38 */
static const uint8_t tgetlock[] = { HDR(38, 54, 34), L32(2), 0, L64(10), L64(20), L32(4242), L16(4), 'h', 'o', 's', 't' };
/* Rgetlock type[1] start[8] length[8] proc_id[4] client_id[s]: 7+1+8+8+4+6 = 34 */
static const uint8_t rgetlock[] = { HDR(34, 55, 34), 2, L64(10), L64(20), L32(77), L16(4), 'h', 'o', 's', 't' };
/* Tlink dfid[4] fid[4] name[s]: 7+8+3 = 18 */
static const uint8_t tlink[] = { HDR(18, 70, 35), L32(2), L32(3), L16(1), 'h' };
static const uint8_t rlink[] = { HDR(7, 71, 35) };
/* Tmkdir dfid[4] name[s] mode[4] gid[4]: 7+4+3+8 = 22 */
static const uint8_t tmkdir[] = { HDR(22, 72, 36), L32(2), L16(1), 'd', L32(0x1ED), L32(100) };
static const uint8_t rmkdir[] = { HDR(20, 73, 36), QID(0x80, 0, 0x47) };
/* Trenameat olddirfid[4] oldname[s] newdirfid[4] newname[s]: 7+4+3+4+4 = 22 */
static const uint8_t trenameat[] = { HDR(22, 74, 37), L32(2), L16(1), 'a', L32(3), L16(2), 'b', 'c' };
static const uint8_t rrenameat[] = { HDR(7, 75, 37) };
/* Tunlinkat dirfid[4] name[s] flags[4]: 7+4+3+4 = 18 */
static const uint8_t tunlinkat[] = { HDR(18, 76, 38), L32(2), L16(1), 'a', L32(0x200) };
static const uint8_t runlinkat[] = { HDR(7, 77, 38) };

/* ---- the cases ------------------------------------------------------- */

typedef struct Case Case;
struct Case {
	const char	*name;		/* the type name, then a note */
	const uint8_t	*b;
	size_t		n;
	unsigned	okd;		/* dialects that must decode it */
	unsigned	badd;		/* dialects that must refuse it */
	uint64_t	fields;
	Fcall		f;
	int		nref;		/* -1: an R-message */
	P9fidref	ref[P9_MAXFIDS];
};

#define QV(t, v, p)	{ .type = (t), .vers = (v), .path = (p) }

static const Case cases[] = {
	/* 9P2000 */
	{ "Tversion", B(tversion), DALL, 0, F_MSIZE|F_VERSION,
	  { .type = Tversion, .tag = P9_NOTAG, .msize = 8192, .version = S_("9P2000.L") }, 0, {{0, 0}} },
	{ "Rversion", B(rversion), DALL, 0, F_MSIZE|F_VERSION,
	  { .type = Rversion, .tag = P9_NOTAG, .msize = 8192, .version = S_("9P2000") }, -1, {{0, 0}} },
	{ "Tauth 9P2000", B(tauth9), D0, DU|DL, F_AFID|F_UNAME|F_ANAME,
	  { .type = Tauth, .tag = 1, .afid = 5, .uname = S_("glenda"), .aname = S_("") }, 1, {{7, RN}} },
	{ "Rauth", B(rauth), DALL, 0, F_QID,
	  { .type = Rauth, .tag = 1, .qid = QV(0x08, 0, 0x11) }, -1, {{0, 0}} },
	{ "Tattach 9P2000", B(tattach9), D0, DU|DL, F_FID|F_AFID|F_UNAME|F_ANAME,
	  { .type = Tattach, .tag = 2, .fid = 1, .afid = P9_NOFID, .uname = S_("glenda"), .aname = S_("/") },
	  2, {{7, RN}, {11, RO}} },
	{ "Rattach", B(rattach), DALL, 0, F_QID,
	  { .type = Rattach, .tag = 2, .qid = QV(0x80, 3, 0x0102030405060708ULL) }, -1, {{0, 0}} },
	{ "Rerror 9P2000", B(rerror9), D0, DU, F_ENAME,
	  { .type = Rerror, .tag = 3, .ename = S_("gone") }, -1, {{0, 0}} },
	{ "Tflush", B(tflush), DALL, 0, F_OLDTAG,
	  { .type = Tflush, .tag = 4, .oldtag = 3 }, 0, {{0, 0}} },
	{ "Rflush", B(rflush), DALL, 0, 0,
	  { .type = Rflush, .tag = 4 }, -1, {{0, 0}} },
	{ "Twalk", B(twalk), DALL, 0, F_FID|F_NEWFID|F_WNAME,
	  { .type = Twalk, .tag = 5, .fid = 1, .newfid = 2, .nwname = 2, .wname = { S_("usr"), S_("glenda") } },
	  2, {{7, RU}, {11, RN}} },
	{ "Rwalk", B(rwalk), DALL, 0, F_WQID,
	  { .type = Rwalk, .tag = 5, .nwqid = 2, .wqid = { QV(0x80, 1, 0x10), QV(0x80, 2, 0x20) } }, -1, {{0, 0}} },
	{ "Twalk clone", B(twalk0), DALL, 0, F_FID|F_NEWFID|F_WNAME,
	  { .type = Twalk, .tag = 6, .fid = 1, .newfid = 3, .nwname = 0 }, 2, {{7, RU}, {11, RN}} },
	{ "Rwalk empty", B(rwalk0), DALL, 0, F_WQID,
	  { .type = Rwalk, .tag = 6, .nwqid = 0 }, -1, {{0, 0}} },
	{ "Topen", B(topen), D0|DU, DL, F_FID|F_MODE,
	  { .type = Topen, .tag = 7, .fid = 2, .mode = P9_ORDWR|P9_OTRUNC }, 1, {{7, RU}} },
	{ "Ropen", B(ropen), D0|DU, DL, F_QID|F_IOUNIT,
	  { .type = Ropen, .tag = 7, .qid = QV(0, 7, 0x99), .iounit = 8168 }, -1, {{0, 0}} },
	{ "Tcreate 9P2000", B(tcreate9), D0, DU|DL, F_FID|F_NAME|F_PERM|F_MODE,
	  { .type = Tcreate, .tag = 8, .fid = 2, .name = S_("new"), .perm = 0644, .mode = P9_OWRITE }, 1, {{7, RU}} },
	{ "Rcreate", B(rcreate), D0|DU, DL, F_QID|F_IOUNIT,
	  { .type = Rcreate, .tag = 8, .qid = QV(0, 0, 0x100), .iounit = 0 }, -1, {{0, 0}} },
	{ "Tread", B(tread), DALL, 0, F_FID|F_OFFSET|F_COUNT,
	  { .type = Tread, .tag = 3, .fid = 7, .offset = 0x123456789AULL, .count = 8192 }, 1, {{7, RU}} },
	{ "Rread", B(rread), DALL, 0, F_DATA,
	  { .type = Rread, .tag = 3, .count = 5, .data = rreaddata }, -1, {{0, 0}} },
	{ "Twrite", B(twrite), DALL, 0, F_FID|F_OFFSET|F_DATA,
	  { .type = Twrite, .tag = 9, .fid = 7, .offset = 10, .count = 3, .data = twritedata }, 1, {{7, RU}} },
	{ "Rwrite", B(rwrite), DALL, 0, F_COUNT,
	  { .type = Rwrite, .tag = 9, .count = 3 }, -1, {{0, 0}} },
	{ "Tclunk", B(tclunk), DALL, 0, F_FID,
	  { .type = Tclunk, .tag = 10, .fid = 7 }, 1, {{7, RD}} },
	{ "Rclunk", B(rclunk), DALL, 0, 0,
	  { .type = Rclunk, .tag = 10 }, -1, {{0, 0}} },
	{ "Tremove", B(tremove), DALL, 0, F_FID,
	  { .type = Tremove, .tag = 11, .fid = 3 }, 1, {{7, RD}} },
	{ "Rremove", B(rremove), DALL, 0, 0,
	  { .type = Rremove, .tag = 11 }, -1, {{0, 0}} },
	{ "Tstat", B(tstat), D0|DU, DL, F_FID,
	  { .type = Tstat, .tag = 12, .fid = 1 }, 1, {{7, RU}} },
	{ "Rstat 9P2000", B(rstat9), D0, DL, F_STAT,
	  { .type = Rstat, .tag = 12, .nstat = 64, .stat = stat9 }, -1, {{0, 0}} },
	{ "Twstat 9P2000", B(twstat9), D0, DL, F_FID|F_STAT,
	  { .type = Twstat, .tag = 13, .fid = 1, .nstat = 52, .stat = stat9w }, 1, {{7, RU}} },
	{ "Rwstat", B(rwstat), D0|DU, DL, 0,
	  { .type = Rwstat, .tag = 13 }, -1, {{0, 0}} },

	/* 9P2000.u; Tauth and Tattach are the same in 9P2000.L */
	{ "Tauth .u/.L", B(tauthu), DU|DL, D0, F_AFID|F_UNAME|F_ANAME|F_NUNAME,
	  { .type = Tauth, .tag = 1, .afid = 5, .uname = S_("glenda"), .aname = S_(""), .nuname = 1000 }, 1, {{7, RN}} },
	{ "Tattach .u/.L", B(tattachu), DU|DL, D0, F_FID|F_AFID|F_UNAME|F_ANAME|F_NUNAME,
	  { .type = Tattach, .tag = 2, .fid = 1, .afid = 5, .uname = S_(""), .aname = S_("/"), .nuname = 1000 },
	  2, {{7, RN}, {11, RO}} },
	{ "Rerror .u", B(rerroru), DU, D0, F_ENAME|F_ERRNUM,
	  { .type = Rerror, .tag = 3, .ename = S_("gone"), .errnum = 2 }, -1, {{0, 0}} },
	{ "Tcreate .u", B(tcreateu), DU, D0|DL, F_FID|F_NAME|F_PERM|F_MODE|F_EXT,
	  { .type = Tcreate, .tag = 8, .fid = 2, .name = S_("lnk"), .perm = P9_DMSYMLINK|0777, .mode = P9_OREAD,
	    .extension = S_("/tmp") }, 1, {{7, RU}} },
	{ "Rstat .u", B(rstatu), DU, DL, F_STAT,
	  { .type = Rstat, .tag = 12, .nstat = 84, .stat = stat9u }, -1, {{0, 0}} },
	{ "Twstat .u", B(twstatu), DU, DL, F_FID|F_STAT,
	  { .type = Twstat, .tag = 13, .fid = 1, .nstat = 84, .stat = stat9u }, 1, {{7, RU}} },

	/* 9P2000.L */
	{ "Rlerror", B(rlerror), DL, D0|DU, F_ERRNUM,
	  { .type = Rlerror, .tag = 3, .errnum = 2 }, -1, {{0, 0}} },
	{ "Tstatfs", B(tstatfs), DL, D0|DU, F_FID,
	  { .type = Tstatfs, .tag = 20, .fid = 1 }, 1, {{7, RU}} },
	{ "Rstatfs", B(rstatfs), DL, D0|DU, F_STATFS,
	  { .type = Rstatfs, .tag = 20, .statfs = { .type = 0x01021994, .bsize = 4096, .blocks = 1000, .bfree = 500,
	    .bavail = 400, .files = 100, .ffree = 50, .fsid = 0x1122334455667788ULL, .namelen = 255 } }, -1, {{0, 0}} },
	{ "Tlopen", B(tlopen), DL, D0|DU, F_FID|F_FLAGS,
	  { .type = Tlopen, .tag = 21, .fid = 2, .flags = 0x8002 }, 1, {{7, RU}} },
	{ "Rlopen", B(rlopen), DL, D0|DU, F_QID|F_IOUNIT,
	  { .type = Rlopen, .tag = 21, .qid = QV(0, 1, 0x42), .iounit = 8168 }, -1, {{0, 0}} },
	{ "Tlcreate", B(tlcreate), DL, D0|DU, F_FID|F_NAME|F_FLAGS|F_MODE|F_GID,
	  { .type = Tlcreate, .tag = 22, .fid = 2, .name = S_("f"), .flags = 0x41, .mode = 0644, .gid = 100 },
	  1, {{7, RU}} },
	{ "Rlcreate", B(rlcreate), DL, D0|DU, F_QID|F_IOUNIT,
	  { .type = Rlcreate, .tag = 22, .qid = QV(0, 0, 0x43), .iounit = 0 }, -1, {{0, 0}} },
	{ "Tsymlink", B(tsymlink), DL, D0|DU, F_FID|F_NAME|F_TARGET|F_GID,
	  { .type = Tsymlink, .tag = 23, .fid = 2, .name = S_("l"), .target = S_("/x"), .gid = 100 }, 1, {{7, RU}} },
	{ "Rsymlink", B(rsymlink), DL, D0|DU, F_QID,
	  { .type = Rsymlink, .tag = 23, .qid = QV(0x02, 0, 0x44) }, -1, {{0, 0}} },
	{ "Tmknod", B(tmknod), DL, D0|DU, F_DFID|F_NAME|F_MODE|F_MAJMIN|F_GID,
	  { .type = Tmknod, .tag = 24, .dfid = 2, .name = S_("d"), .mode = 0x21B6, .major = 1, .minor = 3, .gid = 100 },
	  1, {{7, RU}} },
	{ "Rmknod", B(rmknod), DL, D0|DU, F_QID,
	  { .type = Rmknod, .tag = 24, .qid = QV(0, 0, 0x45) }, -1, {{0, 0}} },
	{ "Trename", B(trename), DL, D0|DU, F_FID|F_DFID|F_NAME,
	  { .type = Trename, .tag = 25, .fid = 3, .dfid = 2, .name = S_("n") }, 2, {{7, RU}, {11, RU}} },
	{ "Rrename", B(rrename), DL, D0|DU, 0,
	  { .type = Rrename, .tag = 25 }, -1, {{0, 0}} },
	{ "Treadlink", B(treadlink), DL, D0|DU, F_FID,
	  { .type = Treadlink, .tag = 26, .fid = 4 }, 1, {{7, RU}} },
	{ "Rreadlink", B(rreadlink), DL, D0|DU, F_TARGET,
	  { .type = Rreadlink, .tag = 26, .target = S_("/x") }, -1, {{0, 0}} },
	{ "Tgetattr", B(tgetattr), DL, D0|DU, F_FID|F_MASK,
	  { .type = Tgetattr, .tag = 27, .fid = 1, .mask = 0x3FFF }, 1, {{7, RU}} },
	{ "Rgetattr", B(rgetattr), DL, D0|DU, F_ATTR,
	  { .type = Rgetattr, .tag = 27, .attr = { .valid = 0x7FF, .qid = QV(0x80, 0, 0x46), .mode = 0x41ED,
	    .uid = 1000, .gid = 100, .nlink = 2, .rdev = 0x0103, .size = 4096, .blksize = 8192, .blocks = 8,
	    .atime_sec = 11, .atime_nsec = 12, .mtime_sec = 13, .mtime_nsec = 14,
	    .ctime_sec = 15, .ctime_nsec = 16, .btime_sec = 17, .btime_nsec = 18,
	    .gen = 19, .data_version = 20 } }, -1, {{0, 0}} },
	{ "Tsetattr", B(tsetattr), DL, D0|DU, F_FID|F_SATTR,
	  { .type = Tsetattr, .tag = 28, .fid = 1, .sattr = { .valid = 0x3F, .mode = 0644, .uid = 1000, .gid = 100,
	    .size = 12345, .atime_sec = 21, .atime_nsec = 22, .mtime_sec = 23, .mtime_nsec = 24 } },
	  1, {{7, RU}} },
	{ "Rsetattr", B(rsetattr), DL, D0|DU, 0,
	  { .type = Rsetattr, .tag = 28 }, -1, {{0, 0}} },
	{ "Txattrwalk", B(txattrwalk), DL, D0|DU, F_FID|F_NEWFID|F_NAME,
	  { .type = Txattrwalk, .tag = 29, .fid = 1, .newfid = 5, .name = S_("user.a") }, 2, {{7, RU}, {11, RN}} },
	{ "Rxattrwalk", B(rxattrwalk), DL, D0|DU, F_XSIZE,
	  { .type = Rxattrwalk, .tag = 29, .xsize = 10 }, -1, {{0, 0}} },
	{ "Txattrcreate", B(txattrcreate), DL, D0|DU, F_FID|F_NAME|F_XSIZE|F_FLAGS,
	  { .type = Txattrcreate, .tag = 30, .fid = 5, .name = S_("user.a"), .xsize = 10, .flags = 1 },
	  1, {{7, RU}} },
	{ "Rxattrcreate", B(rxattrcreate), DL, D0|DU, 0,
	  { .type = Rxattrcreate, .tag = 30 }, -1, {{0, 0}} },
	{ "Treaddir", B(treaddir), DL, D0|DU, F_FID|F_OFFSET|F_COUNT,
	  { .type = Treaddir, .tag = 31, .fid = 2, .offset = 0, .count = 4096 }, 1, {{7, RU}} },
	{ "Rreaddir", B(rreaddir), DL, D0|DU, F_DATA,
	  { .type = Rreaddir, .tag = 31, .count = 76, .data = dirents }, -1, {{0, 0}} },
	{ "Tfsync", B(tfsync), DL, D0|DU, F_FID|F_DATASYNC,
	  { .type = Tfsync, .tag = 32, .fid = 2, .datasync = 1 }, 1, {{7, RU}} },
	{ "Rfsync", B(rfsync), DL, D0|DU, 0,
	  { .type = Rfsync, .tag = 32 }, -1, {{0, 0}} },
	{ "Tlock", B(tlock), DL, D0|DU, F_FID|F_LK|F_LKFLAGS,
	  { .type = Tlock, .tag = 33, .fid = 2, .lock = { .type = 1, .flags = 1, .start = 5, .length = 100,
	    .procid = 4242, .clientid = S_("host") } }, 1, {{7, RU}} },
	{ "Rlock", B(rlock), DL, D0|DU, F_STATUS,
	  { .type = Rlock, .tag = 33, .status = 1 }, -1, {{0, 0}} },
	{ "Tgetlock", B(tgetlock), DL, D0|DU, F_FID|F_LK,
	  { .type = Tgetlock, .tag = 34, .fid = 2, .lock = { .type = 0, .start = 10, .length = 20,
	    .procid = 4242, .clientid = S_("host") } }, 1, {{7, RU}} },
	{ "Rgetlock", B(rgetlock), DL, D0|DU, F_LK,
	  { .type = Rgetlock, .tag = 34, .lock = { .type = 2, .start = 10, .length = 20,
	    .procid = 77, .clientid = S_("host") } }, -1, {{0, 0}} },
	{ "Tlink", B(tlink), DL, D0|DU, F_DFID|F_FID|F_NAME,
	  { .type = Tlink, .tag = 35, .dfid = 2, .fid = 3, .name = S_("h") }, 2, {{7, RU}, {11, RU}} },
	{ "Rlink", B(rlink), DL, D0|DU, 0,
	  { .type = Rlink, .tag = 35 }, -1, {{0, 0}} },
	{ "Tmkdir", B(tmkdir), DL, D0|DU, F_DFID|F_NAME|F_MODE|F_GID,
	  { .type = Tmkdir, .tag = 36, .dfid = 2, .name = S_("d"), .mode = 0755, .gid = 100 }, 1, {{7, RU}} },
	{ "Rmkdir", B(rmkdir), DL, D0|DU, F_QID,
	  { .type = Rmkdir, .tag = 36, .qid = QV(0x80, 0, 0x47) }, -1, {{0, 0}} },
	{ "Trenameat", B(trenameat), DL, D0|DU, F_DFID|F_NAME|F_NEWDFID|F_NEWNAME,
	  { .type = Trenameat, .tag = 37, .dfid = 2, .name = S_("a"), .newdfid = 3, .newname = S_("bc") },
	  2, {{7, RU}, {14, RU}} },
	{ "Rrenameat", B(rrenameat), DL, D0|DU, 0,
	  { .type = Rrenameat, .tag = 37 }, -1, {{0, 0}} },
	{ "Tunlinkat", B(tunlinkat), DL, D0|DU, F_DFID|F_NAME|F_FLAGS,
	  { .type = Tunlinkat, .tag = 38, .dfid = 2, .name = S_("a"), .flags = 0x200 }, 1, {{7, RU}} },
	{ "Runlinkat", B(runlinkat), DL, D0|DU, 0,
	  { .type = Runlinkat, .tag = 38 }, -1, {{0, 0}} },
};
enum { NCASES = sizeof cases / sizeof cases[0] };

static const char *dname[] = { "9P2000", "9P2000.u", "9P2000.L" };

/*
 * Whether the specifications put type in dialect: 1, 0, or -1 where
 * they leave it open (Tlerror, Terror, Rerror in .L).  9P2000.L keeps
 * version, auth, attach, flush, walk, read, write, clunk and remove of
 * 9P2000 (diod protocol.md, "9P2000 Operations (.L subset)").
 */
static int
specknown(int t, int d)
{
	if(t == Tlerror || t == Terror)
		return -1;
	if(t >= Tversion && t <= Rwstat){
		if(d != P9_2000L)
			return 1;
		switch(t){
		case Rerror:
			return -1;
		case Topen: case Ropen: case Tcreate: case Rcreate:
		case Tstat: case Rstat: case Twstat: case Rwstat:
			return 0;
		}
		return 1;
	}
	switch(t){
	case Rlerror:
	case Tstatfs: case Rstatfs: case Tlopen: case Rlopen:
	case Tlcreate: case Rlcreate: case Tsymlink: case Rsymlink:
	case Tmknod: case Rmknod: case Trename: case Rrename:
	case Treadlink: case Rreadlink: case Tgetattr: case Rgetattr:
	case Tsetattr: case Rsetattr: case Txattrwalk: case Rxattrwalk:
	case Txattrcreate: case Rxattrcreate: case Treaddir: case Rreaddir:
	case Tfsync: case Rfsync: case Tlock: case Rlock:
	case Tgetlock: case Rgetlock: case Tlink: case Rlink:
	case Tmkdir: case Rmkdir: case Trenameat: case Rrenameat:
	case Tunlinkat: case Runlinkat:
		return d == P9_2000L;
	}
	return 0;
}

/* ---- helpers --------------------------------------------------------- */

/* is_int that says whether it passed. */
static int __attribute__((format(printf, 3, 4)))
isnum(long long got, long long want, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if(!ok(got == want, "%s", msg)){
		diag("  got %lld, want %lld", got, want);
		return 0;
	}
	return 1;
}

static int
inframe(const void *p, size_t n, const uint8_t *fr, size_t len)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)fr;

	return a >= lo && a - lo <= len && len - (a - lo) >= n;
}

static void
hexdiff(const uint8_t *got, size_t ng, const uint8_t *want, size_t nw)
{
	char line[3 * 32 + 1];
	size_t i, k, first;

	for(first = 0; first < ng && first < nw && got[first] == want[first]; first++)
		;
	diag("  first difference at byte %zu (got %zu bytes, want %zu)", first, ng, nw);
	for(k = 0; k < 2; k++){
		const uint8_t *p = k ? want : got;
		size_t n = k ? nw : ng, o = 0;

		for(i = 0; i < n && i < 96; i++){
			snprintf(line + o, sizeof line - o, "%02x ", p[i]);
			o += 3;
			if(o == 3 * 32 || i + 1 == n || i + 1 == 96){
				diag("  %s %s", k ? "want" : "got ", line);
				o = 0;
			}
		}
	}
}

static void
streq(const char *cn, const char *what, P9str got, P9str want, const uint8_t *fr, size_t len)
{
	int good;

	good = got.n == want.n && (want.n == 0 || (got.s != NULL && memcmp(got.s, want.s, want.n) == 0));
	if(!ok(good, "%s: %s is \"%.*s\"", cn, what, (int)want.n, want.n ? want.s : ""))
		diag("  got \"%.*s\" (%u bytes)", got.s ? (int)got.n : 0, got.s ? got.s : "", got.n);
	if(good && got.n > 0)
		ok(inframe(got.s, got.n, fr, len), "%s: %s is a view into the frame", cn, what);
}

static void
byteseq(const char *cn, const char *what, const uint8_t *got, const uint8_t *want, size_t n,
	const uint8_t *fr, size_t len)
{
	int good = n == 0 || (got != NULL && memcmp(got, want, n) == 0);

	ok(good, "%s: %s bytes", cn, what);
	if(good && n > 0)
		ok(inframe(got, n, fr, len), "%s: %s is a view into the frame", cn, what);
}

static void
qideq(const char *cn, const char *what, Qid got, Qid want)
{
	int good = got.type == want.type && got.vers == want.vers && got.path == want.path;

	if(!ok(good, "%s: %s", cn, what))
		diag("  got (%#x %u %#llx), want (%#x %u %#llx)", got.type, got.vers,
			(unsigned long long)got.path, want.type, want.vers, (unsigned long long)want.path);
}

#define FEQ(fld)	isnum(got->fld, want->fld, "%s: " #fld, cn)

static void
fcalleq(const char *cn, const Fcall *got, const Fcall *want, uint64_t m, const uint8_t *fr, size_t len)
{
	int i;
	char what[32];

	FEQ(type);
	FEQ(tag);
	if(m & F_FID) FEQ(fid);
	if(m & F_NEWFID) FEQ(newfid);
	if(m & F_AFID) FEQ(afid);
	if(m & F_DFID) FEQ(dfid);
	if(m & F_NEWDFID) FEQ(newdfid);
	if(m & F_MSIZE) FEQ(msize);
	if(m & F_VERSION) streq(cn, "version", got->version, want->version, fr, len);
	if(m & F_OLDTAG) FEQ(oldtag);
	if(m & F_ENAME) streq(cn, "ename", got->ename, want->ename, fr, len);
	if(m & F_ERRNUM) FEQ(errnum);
	if(m & F_QID) qideq(cn, "qid", got->qid, want->qid);
	if(m & F_IOUNIT) FEQ(iounit);
	if(m & F_UNAME) streq(cn, "uname", got->uname, want->uname, fr, len);
	if(m & F_ANAME) streq(cn, "aname", got->aname, want->aname, fr, len);
	if(m & F_NUNAME) FEQ(nuname);
	if(m & F_PERM) FEQ(perm);
	if(m & F_MODE) FEQ(mode);
	if(m & F_FLAGS) FEQ(flags);
	if(m & F_GID) FEQ(gid);
	if(m & F_MAJMIN){
		FEQ(major);
		FEQ(minor);
	}
	if(m & F_NAME) streq(cn, "name", got->name, want->name, fr, len);
	if(m & F_NEWNAME) streq(cn, "newname", got->newname, want->newname, fr, len);
	if(m & F_EXT) streq(cn, "extension", got->extension, want->extension, fr, len);
	if(m & F_TARGET) streq(cn, "target", got->target, want->target, fr, len);
	if(m & F_WNAME){
		FEQ(nwname);
		for(i = 0; i < want->nwname && i < got->nwname; i++){
			snprintf(what, sizeof what, "wname[%d]", i);
			streq(cn, what, got->wname[i], want->wname[i], fr, len);
		}
	}
	if(m & F_WQID){
		FEQ(nwqid);
		for(i = 0; i < want->nwqid && i < got->nwqid; i++){
			snprintf(what, sizeof what, "wqid[%d]", i);
			qideq(cn, what, got->wqid[i], want->wqid[i]);
		}
	}
	if(m & F_OFFSET) FEQ(offset);
	if(m & F_COUNT) FEQ(count);
	if(m & F_DATA){
		FEQ(count);
		if(got->count == want->count)
			byteseq(cn, "data", got->data, want->data, want->count, fr, len);
	}
	if(m & F_STAT){
		FEQ(nstat);
		if(got->nstat == want->nstat)
			byteseq(cn, "stat", got->stat, want->stat, want->nstat, fr, len);
	}
	if(m & F_MASK) FEQ(mask);
	if(m & F_ATTR){
		FEQ(attr.valid);
		qideq(cn, "attr.qid", got->attr.qid, want->attr.qid);
		FEQ(attr.mode); FEQ(attr.uid); FEQ(attr.gid); FEQ(attr.nlink);
		FEQ(attr.rdev); FEQ(attr.size); FEQ(attr.blksize); FEQ(attr.blocks);
		FEQ(attr.atime_sec); FEQ(attr.atime_nsec); FEQ(attr.mtime_sec); FEQ(attr.mtime_nsec);
		FEQ(attr.ctime_sec); FEQ(attr.ctime_nsec); FEQ(attr.btime_sec); FEQ(attr.btime_nsec);
		FEQ(attr.gen); FEQ(attr.data_version);
	}
	if(m & F_SATTR){
		FEQ(sattr.valid); FEQ(sattr.mode); FEQ(sattr.uid); FEQ(sattr.gid); FEQ(sattr.size);
		FEQ(sattr.atime_sec); FEQ(sattr.atime_nsec); FEQ(sattr.mtime_sec); FEQ(sattr.mtime_nsec);
	}
	if(m & F_STATFS){
		FEQ(statfs.type); FEQ(statfs.bsize); FEQ(statfs.blocks); FEQ(statfs.bfree);
		FEQ(statfs.bavail); FEQ(statfs.files); FEQ(statfs.ffree); FEQ(statfs.fsid);
		FEQ(statfs.namelen);
	}
	if(m & F_LK){
		FEQ(lock.type); FEQ(lock.start); FEQ(lock.length); FEQ(lock.procid);
		streq(cn, "lock.clientid", got->lock.clientid, want->lock.clientid, fr, len);
	}
	if(m & F_LKFLAGS) FEQ(lock.flags);
	if(m & F_STATUS) FEQ(status);
	if(m & F_XSIZE) FEQ(xsize);
	if(m & F_DATASYNC) FEQ(datasync);
}

/* Decode a copy of the first n bytes of b that ends at an unreadable page. */
static long
guarddecode(const uint8_t *b, size_t n, uint32_t msize, int d, Fcall *f)
{
	void *base;
	size_t ml;
	uint8_t *g;
	long r;

	g = guardcopy(b, n, &base, &ml);
	r = p9decode(g, n, msize, d, f);
	guardfree(base, ml);
	return r;
}

/* b with its size field changed to n, n bytes long (zero-padded). */
static uint8_t *
resized(const uint8_t *b, size_t blen, size_t n)
{
	uint8_t *p = calloc(1, n + 1);

	if(p == NULL)
		abort();
	memcpy(p, b, blen < n ? blen : n);
	p9put32(p, (uint32_t)n);
	return p;
}

/* Whether line holds "key N" as whole words. */
static int
hasnum(const char *line, const char *key, unsigned long n)
{
	char pat[64];
	const char *p;
	size_t k;

	k = (size_t)snprintf(pat, sizeof pat, "%s %lu", key, n);
	for(p = line; (p = strstr(p, pat)) != NULL; p++){
		if(p != line && p[-1] != ' ')
			continue;
		if(p[k] >= '0' && p[k] <= '9')
			continue;
		return 1;
	}
	return 0;
}

static void
fidmapcheck(const Case *c, const char *cn, int d)
{
	P9fidref refs[P9_MAXFIDS];
	int r, i, j, found;
	uint8_t *p;

	memset(refs, 0xA5, sizeof refs);
	r = p9fidmap(c->b, c->n, d, refs);
	if(!isnum(r, c->nref, "%s: p9fidmap finds %d fid fields", cn, c->nref))
		return;
	for(i = 0; i < c->nref; i++){
		found = 0;
		for(j = 0; j < r; j++)
			if(refs[j].off == c->ref[i].off && refs[j].role == c->ref[i].role)
				found = 1;
		if(!ok(found, "%s: fid field at %u, role %#x", cn, c->ref[i].off, c->ref[i].role))
			for(j = 0; j < r; j++)
				diag("  got off %u role %#x", refs[j].off, refs[j].role);
	}
	if(c->nref > 0){
		/* Cut the frame inside its last fid field. */
		uint32_t last = 0;

		for(i = 0; i < c->nref; i++)
			if(c->ref[i].off > last)
				last = c->ref[i].off;
		p = resized(c->b, c->n, last + 3);
		r = p9fidmap(p, last + 3, d, refs);
		ok(r < 0, "%s: p9fidmap refuses the frame cut inside a fid field (%d)", cn, r);
		free(p);
	}
}

static void
fmtcheck(const Case *c, const char *cn, const Fcall *f, int d)
{
	char line[512], tname[32], small[8];
	size_t k;
	int r, r2;

	k = strcspn(c->name, " ");
	snprintf(tname, sizeof tname, "%.*s", (int)k, c->name);
	ok(p9typename(f->type) != NULL && strcmp(p9typename(f->type), tname) == 0,
		"%s: p9typename is %s", cn, tname);
	r = p9fmt(line, sizeof line, f, d);
	if(!ok(r > 0 && (size_t)r == strlen(line) && strncmp(line, tname, k) == 0 && (line[k] == ' ' || line[k] == 0),
	    "%s: p9fmt line begins with %s", cn, tname))
		diag("  got \"%s\" (%d)", line, r);
	if(f->tag != P9_NOTAG && !ok(hasnum(line, "tag", f->tag), "%s: p9fmt shows tag %u", cn, f->tag))
		diag("  got \"%s\"", line);
	if((c->fields & F_FID) && !ok(hasnum(line, "fid", f->fid), "%s: p9fmt shows fid %u", cn, f->fid))
		diag("  got \"%s\"", line);
	memset(small, 'x', sizeof small);
	r2 = p9fmt(small, sizeof small, f, d);
	ok(r2 == r && small[sizeof small - 1] == 0 && strncmp(small, line, sizeof small - 1) == 0,
		"%s: p9fmt truncates to its buffer and counts the whole line", cn);
}

static void
runok(const Case *c, int d)
{
	char cn[96];
	Fcall got, saved;
	uint8_t out[512], *p, *g;
	void *base, *gbase;
	size_t ml, gml, k;
	long r;

	snprintf(cn, sizeof cn, "%s in %s", c->name, dname[d]);

	memset(&got, 0xA5, sizeof got);
	/* got's views point into g: keep it mapped while got is used. */
	g = guardcopy(c->b, c->n, &gbase, &gml);
	r = p9decode(g, c->n, MSIZE, d, &got);
	if(isnum(r, (long)c->n, "%s: p9decode takes all %zu bytes", cn, c->n))
		fcalleq(cn, &got, &c->f, c->fields, g, c->n);

	isnum(p9size(&c->f, d), c->n, "%s: p9size of the hand-filled Fcall", cn);
	memset(out, 0xEE, sizeof out);
	k = p9encode(out, sizeof out, &c->f, d);
	if(!ok(k == c->n && memcmp(out, c->b, c->n) == 0, "%s: p9encode gives the golden bytes", cn))
		hexdiff(out, k, c->b, c->n);
	if(r == (long)c->n){
		isnum(p9size(&got, d), c->n, "%s: p9size of the decoded Fcall", cn);
		memset(out, 0xEE, sizeof out);
		k = p9encode(out, sizeof out, &got, d);
		if(!ok(k == c->n && memcmp(out, c->b, c->n) == 0, "%s: decoded Fcall encodes back to the same bytes", cn))
			hexdiff(out, k, c->b, c->n);
		fmtcheck(c, cn, &got, d);
	}
	guardfree(gbase, gml);

	/* An encoder given one byte too few writes nothing past it. */
	p = guardcopy(out, c->n - 1, &base, &ml);
	isnum(p9encode(p, c->n - 1, &c->f, d), 0, "%s: p9encode into %zu bytes fails", cn, c->n - 1);
	guardfree(base, ml);

	isnum(guarddecode(c->b, c->n - 1, MSIZE, d, &got), P9_EINCOMPLETE,
		"%s: p9decode of the first %zu bytes wants more", cn, c->n - 1);
	isnum(guarddecode(c->b, c->n, (uint32_t)c->n - 1, d, &got), P9_EBIG,
		"%s: p9decode with msize %zu is P9_EBIG", cn, c->n - 1);
	isnum(p9frame(c->b, c->n, MSIZE), (long)c->n, "%s: p9frame", cn);

	/* The same bytes under a size one more (a stray trailing byte) and one less. */
	memset(&got, 0x5A, sizeof got);
	saved = got;
	p = resized(c->b, c->n, c->n + 1);
	r = guarddecode(p, c->n + 1, MSIZE, d, &got);
	ok(r < 0 && memcmp(&got, &saved, sizeof got) == 0,
		"%s: a trailing byte is refused (%ld), Fcall untouched", cn, r);
	free(p);
	p = resized(c->b, c->n, c->n - 1);
	r = guarddecode(p, c->n - 1, MSIZE, d, &got);
	ok(r < 0 && memcmp(&got, &saved, sizeof got) == 0,
		"%s: a frame one byte short is refused (%ld), Fcall untouched", cn, r);
	free(p);

	if(c->nref >= 0)
		fidmapcheck(c, cn, d);
}

static void
runbad(const Case *c, int d)
{
	char cn[96];
	Fcall got, saved;
	P9fidref refs[P9_MAXFIDS];
	int known, r2;
	long r;

	snprintf(cn, sizeof cn, "%s in %s", c->name, dname[d]);
	known = specknown(c->f.type, d);
	memset(&got, 0x5A, sizeof got);
	saved = got;
	r = guarddecode(c->b, c->n, MSIZE, d, &got);
	if(known == 0)
		isnum(r, P9_ETYPE, "%s: p9decode refuses the type", cn);
	else
		ok(r < 0, "%s: p9decode refuses the frame (%ld %s)", cn, r, r < 0 ? p9strerror((int)r) : "");
	ok(memcmp(&got, &saved, sizeof got) == 0, "%s: refused decode leaves the Fcall untouched", cn);
	if(known == 0){
		isnum(p9size(&c->f, d), 0, "%s: p9size refuses the type", cn);
		{
			uint8_t out[512];

			isnum(p9encode(out, sizeof out, &c->f, d), 0, "%s: p9encode refuses the type", cn);
		}
		if(c->nref >= 0){
			r2 = p9fidmap(c->b, c->n, d, refs);
			ok(r2 < 0, "%s: p9fidmap refuses the type (%d)", cn, r2);
		}
	}
}

/* ---- stat entries and dirents ---------------------------------------- */

static void
direq(const char *cn, const P9dir *got, const P9dir *want, int dotu, const uint8_t *fr, size_t len)
{
	FEQ(type); FEQ(dev);
	qideq(cn, "qid", got->qid, want->qid);
	FEQ(mode); FEQ(atime); FEQ(mtime); FEQ(length);
	streq(cn, "name", got->name, want->name, fr, len);
	streq(cn, "uid", got->uid, want->uid, fr, len);
	streq(cn, "gid", got->gid, want->gid, fr, len);
	streq(cn, "muid", got->muid, want->muid, fr, len);
	if(dotu){
		streq(cn, "extension", got->extension, want->extension, fr, len);
		FEQ(nuid); FEQ(ngid); FEQ(nmuid);
	}
}

static void
dircase(const char *cn, const uint8_t *b, size_t n, int d, const P9dir *want)
{
	P9dir got;
	uint8_t out[256], *g;
	void *base;
	size_t ml, k;
	long r;

	isnum(p9get16(b) + 2, n, "%s: hand-counted size field matches the array", cn);
	g = guardcopy(b, n, &base, &ml);
	memset(&got, 0xA5, sizeof got);
	r = p9dirdecode(g, n, d, &got);
	if(isnum(r, (long)n, "%s: p9dirdecode takes all %zu bytes", cn, n))
		direq(cn, &got, want, d == P9_2000U, g, n);
	guardfree(base, ml);
	g = guardcopy(b, n - 1, &base, &ml);
	r = p9dirdecode(g, n - 1, d, &got);
	ok(r < 0, "%s: p9dirdecode of %zu bytes is refused (%ld)", cn, n - 1, r);
	guardfree(base, ml);
	isnum(p9dirsize(want, d), n, "%s: p9dirsize", cn);
	memset(out, 0xEE, sizeof out);
	k = p9direncode(out, sizeof out, want, d);
	if(!ok(k == n && memcmp(out, b, n) == 0, "%s: p9direncode gives the golden bytes", cn))
		hexdiff(out, k, b, n);
	g = guardcopy(out, n - 1, &base, &ml);
	isnum(p9direncode(g, n - 1, want, d), 0, "%s: p9direncode into %zu bytes fails", cn, n - 1);
	guardfree(base, ml);
}

static void
dirtests(void)
{
	static const P9dir d9 = {
		.type = 0x1234, .dev = 0x56789abc, .qid = QV(0x80, 5, 0x2a), .mode = P9_DMDIR|0755,
		.atime = 1000000000, .mtime = 1000000001, .length = 4096,
		.name = S_("usr"), .uid = S_("sys"), .gid = S_("sys"), .muid = S_("glenda"),
	};
	static const P9dir d9w = {
		.type = 0xFFFF, .dev = 0xFFFFFFFF, .qid = QV(0xFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFFULL),
		.mode = 0xFFFFFFFF, .atime = 0xFFFFFFFF, .mtime = 0xFFFFFFFF, .length = 0xFFFFFFFFFFFFFFFFULL,
		.name = S_("new"), .uid = S_(""), .gid = S_(""), .muid = S_(""),
	};
	static const P9dir d9u = {
		.type = 0, .dev = 0, .qid = QV(0x02, 0, 0x77), .mode = P9_DMSYMLINK|0777,
		.atime = 1, .mtime = 2, .length = 3,
		.name = S_("l"), .uid = S_("glenda"), .gid = S_("users"), .muid = S_("glenda"),
		.extension = S_("tgt"), .nuid = 1000, .ngid = 100, .nmuid = 1000,
	};
	/* d9u packed as plain 9P2000: the first 67 bytes of STAT9U, size 65. */
	uint8_t plain[67], out[128];
	P9dir got;
	long r;
	size_t k;

	dircase("stat 9P2000", B(stat9), P9_2000, &d9);
	dircase("wstat 9P2000 (all ~0)", B(stat9w), P9_2000, &d9w);
	dircase("stat .u", B(stat9u), P9_2000U, &d9u);

	memset(&got, 0, sizeof got);
	r = p9dirdecode(stat9, sizeof stat9, P9_2000U, &got);
	ok(r < 0, "stat 9P2000 in 9P2000.u: p9dirdecode refuses it, the .u fields are missing (%ld)", r);
	r = p9dirdecode(stat9u, sizeof stat9u, P9_2000, &got);
	ok(r < 0, "stat .u in 9P2000: p9dirdecode refuses the 17 bytes left over (%ld)", r);

	memcpy(plain, stat9u, sizeof plain);
	plain[0] = 65;
	plain[1] = 0;
	isnum(p9dirsize(&d9u, P9_2000), sizeof plain, "stat .u in 9P2000: p9dirsize leaves out the .u fields");
	k = p9direncode(out, sizeof out, &d9u, P9_2000);
	if(!ok(k == sizeof plain && memcmp(out, plain, sizeof plain) == 0,
	    "stat .u in 9P2000: p9direncode leaves out the .u fields"))
		hexdiff(out, k, plain, sizeof plain);
}

static void
direntcase(const char *cn, const uint8_t *b, size_t n, const P9dirent *want)
{
	P9dirent got;
	uint8_t out[64], *g;
	void *base;
	size_t ml, k;
	long r;

	g = guardcopy(b, n, &base, &ml);
	memset(&got, 0xA5, sizeof got);
	r = p9direntdecode(g, n, &got);
	if(isnum(r, (long)n, "%s: p9direntdecode takes all %zu bytes", cn, n)){
		qideq(cn, "qid", got.qid, want->qid);
		isnum(got.offset, want->offset, "%s: offset", cn);
		isnum(got.type, want->type, "%s: type", cn);
		streq(cn, "name", got.name, want->name, g, n);
	}
	guardfree(base, ml);
	g = guardcopy(b, n - 1, &base, &ml);
	r = p9direntdecode(g, n - 1, &got);
	ok(r < 0, "%s: p9direntdecode of %zu bytes is refused (%ld)", cn, n - 1, r);
	guardfree(base, ml);
	isnum(p9direntsize(want), n, "%s: p9direntsize", cn);
	memset(out, 0xEE, sizeof out);
	k = p9direntencode(out, sizeof out, want);
	if(!ok(k == n && memcmp(out, b, n) == 0, "%s: p9direntencode gives the golden bytes", cn))
		hexdiff(out, k, b, n);
	g = guardcopy(out, n - 1, &base, &ml);
	isnum(p9direntencode(g, n - 1, want), 0, "%s: p9direntencode into %zu bytes fails", cn, n - 1);
	guardfree(base, ml);
}

static void
direnttests(void)
{
	static const P9dirent e[3] = {
		{ .qid = QV(0x80, 0, 0x46), .offset = 1, .type = 4, .name = S_(".") },
		{ .qid = QV(0x80, 0, 0x01), .offset = 2, .type = 4, .name = S_("..") },
		{ .qid = QV(0x00, 0, 0x43), .offset = 0x7fffffffffffffffULL, .type = 8, .name = S_("f") },
	};
	uint8_t out[128];
	size_t off, k;
	P9dirent got;
	long r;
	int i, good;

	isnum(sizeof dirent1, 25, "dirent \".\" is 13+8+1+2+1 bytes");
	isnum(sizeof dirent2, 26, "dirent \"..\" is 26 bytes");
	isnum(sizeof dirents, 76, "three dirents are 76 bytes");
	direntcase("dirent .", B(dirent1), &e[0]);
	direntcase("dirent ..", B(dirent2), &e[1]);
	direntcase("dirent f", B(dirent3), &e[2]);

	/* Walk the Rreaddir data entry by entry, and pack it back. */
	good = 1;
	off = 0;
	for(i = 0; i < 3; i++){
		r = p9direntdecode(dirents + off, sizeof dirents - off, &got);
		if(r <= 0 || got.offset != e[i].offset || !p9streq(got.name, i == 0 ? "." : i == 1 ? ".." : "f")){
			good = 0;
			break;
		}
		off += (size_t)r;
	}
	ok(good && off == sizeof dirents, "Rreaddir data: three entries in sequence, nothing left");
	off = 0;
	for(i = 0; i < 3; i++){
		k = p9direntencode(out + off, sizeof out - off, &e[i]);
		if(k == 0)
			break;
		off += k;
	}
	if(!ok(off == sizeof dirents && memcmp(out, dirents, off) == 0, "Rreaddir data: three entries pack to the golden bytes"))
		hexdiff(out, off, dirents, sizeof dirents);
}

/* ---- dialect gating, named ------------------------------------------- */

static void
gating(void)
{
	Fcall f;
	P9fidref refs[P9_MAXFIDS];
	uint8_t hdr[7];
	int t, d, bad, badmap, s;
	long r;

	isnum(p9decode(topen, sizeof topen, MSIZE, P9_2000L, &f), P9_ETYPE, "Topen in 9P2000.L is P9_ETYPE");
	isnum(p9decode(tcreate9, sizeof tcreate9, MSIZE, P9_2000L, &f), P9_ETYPE, "Tcreate in 9P2000.L is P9_ETYPE");
	isnum(p9decode(tstat, sizeof tstat, MSIZE, P9_2000L, &f), P9_ETYPE, "Tstat in 9P2000.L is P9_ETYPE");
	isnum(p9decode(twstat9, sizeof twstat9, MSIZE, P9_2000L, &f), P9_ETYPE, "Twstat in 9P2000.L is P9_ETYPE");
	isnum(p9decode(tlopen, sizeof tlopen, MSIZE, P9_2000, &f), P9_ETYPE, "Tlopen in 9P2000 is P9_ETYPE");
	isnum(p9decode(tlopen, sizeof tlopen, MSIZE, P9_2000U, &f), P9_ETYPE, "Tlopen in 9P2000.u is P9_ETYPE");
	isnum(p9decode(rlerror, sizeof rlerror, MSIZE, P9_2000U, &f), P9_ETYPE, "Rlerror in 9P2000.u is P9_ETYPE");
	isnum(p9decode(rerror9, sizeof rerror9, MSIZE, P9_2000U, &f), P9_EFIELD,
		"Rerror without errno in 9P2000.u is P9_EFIELD");
	isnum(p9decode(rerroru, sizeof rerroru, MSIZE, P9_2000, &f), P9_ETRAIL,
		"Rerror with errno in 9P2000 is P9_ETRAIL");
	isnum(p9decode(tauth9, sizeof tauth9, MSIZE, P9_2000U, &f), P9_EFIELD,
		"Tauth without n_uname in 9P2000.u is P9_EFIELD");
	isnum(p9decode(tattach9, sizeof tattach9, MSIZE, P9_2000L, &f), P9_EFIELD,
		"Tattach without n_uname in 9P2000.L is P9_EFIELD");
	isnum(p9decode(tauthu, sizeof tauthu, MSIZE, P9_2000, &f), P9_ETRAIL,
		"Tauth with n_uname in 9P2000 is P9_ETRAIL");
	isnum(p9decode(tcreate9, sizeof tcreate9, MSIZE, P9_2000U, &f), P9_EFIELD,
		"Tcreate without extension in 9P2000.u is P9_EFIELD");
	isnum(p9decode(tcreateu, sizeof tcreateu, MSIZE, P9_2000, &f), P9_ETRAIL,
		"Tcreate with extension in 9P2000 is P9_ETRAIL");

	/*
	 * Every type number against the specifications: p9known, and a
	 * bare header of a type no dialect has is P9_ETYPE.
	 */
	for(d = P9_2000; d <= P9_2000L; d++){
		bad = badmap = 0;
		for(t = 0; t < 256; t++){
			s = specknown(t, d);
			if(s < 0)
				continue;
			if(!!p9known(t, d) != s){
				diag("  %s type %d: p9known %d, spec %d", dname[d], t, p9known(t, d), s);
				bad++;
			}
			if(s == 0){
				p9put32(hdr, 7);
				hdr[4] = (uint8_t)t;
				p9put16(hdr + 5, 1);
				r = p9decode(hdr, sizeof hdr, MSIZE, d, &f);
				if(r != P9_ETYPE){
					diag("  %s type %d: 7-byte frame gives %ld", dname[d], t, r);
					bad++;
				}
				if(t % 2 == 0 && p9fidmap(hdr, sizeof hdr, d, refs) >= 0){
					diag("  %s type %d: p9fidmap accepts it", dname[d], t);
					badmap++;
				}
			}
		}
		ok(bad == 0, "%s: p9known and p9decode agree with the specifications on all 256 types", dname[d]);
		ok(badmap == 0, "%s: p9fidmap refuses every unknown T type", dname[d]);
	}
	for(d = P9_2000; d <= P9_2000L; d++){
		p9put32(hdr, 7);
		hdr[4] = Terror;
		p9put16(hdr + 5, 1);
		ok(p9decode(hdr, sizeof hdr, MSIZE, d, &f) < 0, "Terror in %s is refused", dname[d]);
	}
}

/* ---- framing and odd fields ------------------------------------------ */

static void
oddities(void)
{
	/* Twalk with a NUL inside its one name: 7+10+5 = 22 */
	static const uint8_t nulname[] = { HDR(22, 110, 5), L32(1), L32(2), L16(1), L16(3), 'a', 0, 'b' };
	/* Rread whose count says 6 where 5 bytes follow */
	static const uint8_t badcount[] = { HDR(16, 117, 3), L32(6), 'h', 'e', 'l', 'l', 'o' };
	/* Rreaddir whose count says 2 where 1 byte follows */
	static const uint8_t badrdcount[] = { HDR(12, 41, 3), L32(2), 0 };
	/* Rstat whose n says 63 where 64 bytes of stat follow */
	static const uint8_t badnstat[] = { HDR(73, 125, 12), L16(63), STAT9 };
	/* Twalk, 17 names of one letter: 7+10+17*3 = 68 */
	uint8_t walk17[68], rwalk17[7 + 2 + 17 * 13];
	uint8_t small[7] = { HDR(6, 100, 0) };
	Fcall f;
	long r;
	int i;

	isnum(p9decode(nulname, sizeof nulname, MSIZE, P9_2000, &f), P9_ENUL, "a wname holding NUL is P9_ENUL");
	r = p9decode(badcount, sizeof badcount, MSIZE, P9_2000, &f);
	ok(r == P9_ECOUNT || r == P9_EFIELD, "Rread count past the frame is refused (%ld)", r);
	r = p9decode(badrdcount, sizeof badrdcount, MSIZE, P9_2000L, &f);
	ok(r == P9_ECOUNT || r == P9_EFIELD, "Rreaddir count past the frame is refused (%ld)", r);
	r = p9decode(badnstat, sizeof badnstat, MSIZE, P9_2000, &f);
	ok(r < 0, "Rstat whose n disagrees with the frame is refused (%ld)", r);

	p9put32(walk17, sizeof walk17);
	walk17[4] = Twalk;
	p9put16(walk17 + 5, 5);
	p9put32(walk17 + 7, 1);
	p9put32(walk17 + 11, 2);
	p9put16(walk17 + 15, 17);
	for(i = 0; i < 17; i++){
		p9put16(walk17 + 17 + 3 * i, 1);
		walk17[17 + 3 * i + 2] = 'a';
	}
	isnum(p9decode(walk17, sizeof walk17, MSIZE, P9_2000, &f), P9_ENWNAME, "Twalk with 17 names is P9_ENWNAME");
	memset(rwalk17, 0, sizeof rwalk17);
	p9put32(rwalk17, sizeof rwalk17);
	rwalk17[4] = Rwalk;
	p9put16(rwalk17 + 5, 5);
	p9put16(rwalk17 + 7, 17);
	isnum(p9decode(rwalk17, sizeof rwalk17, MSIZE, P9_2000, &f), P9_ENWNAME, "Rwalk with 17 qids is P9_ENWNAME");

	isnum(p9frame(small, sizeof small, MSIZE), P9_ESHORT, "p9frame: size 6 is P9_ESHORT");
	isnum(p9decode(small, sizeof small, MSIZE, P9_2000, &f), P9_ESHORT, "p9decode: size 6 is P9_ESHORT");
	isnum(p9frame(tversion, 4, MSIZE), P9_EINCOMPLETE, "p9frame: 4 bytes of a header want more");
	isnum(p9frame(tversion, 3, MSIZE), P9_EINCOMPLETE, "p9frame: 3 bytes want more");
	isnum(p9frame(tversion, sizeof tversion, 20), P9_EBIG, "p9frame: size 21 over msize 20 is P9_EBIG");
	/* Two frames back to back: the first is reported alone. */
	{
		uint8_t two[sizeof tclunk + sizeof rclunk];

		memcpy(two, tclunk, sizeof tclunk);
		memcpy(two + sizeof tclunk, rclunk, sizeof rclunk);
		isnum(p9frame(two, sizeof two, MSIZE), sizeof tclunk, "p9frame: first of two frames");
		isnum(p9decode(two, sizeof two, MSIZE, P9_2000, &f), sizeof tclunk, "p9decode: first of two frames");
	}
}

/* Fcalls the wire cannot carry: every encoder refuses them. */
static void
unsayable(void)
{
	Fcall f;
	uint8_t out[512];
	int d;

	for(d = P9_2000; d <= P9_2000U; d++){
		memset(&f, 0, sizeof f);
		f.type = Topen;
		f.fid = 1;
		f.mode = 0x100;
		ok(p9size(&f, d) == 0 && p9encode(out, sizeof out, &f, d) == 0,
			"%s: Topen mode 0x100 does not fit mode[1]: refused", dname[d]);
		f.type = Tcreate;
		f.name = p9str("x");
		ok(p9size(&f, d) == 0 && p9encode(out, sizeof out, &f, d) == 0,
			"%s: Tcreate mode 0x100 does not fit mode[1]: refused", dname[d]);
	}
	for(d = P9_2000; d <= P9_2000L; d++){
		memset(&f, 0, sizeof f);
		f.type = Twalk;
		f.nwname = P9_MAXWELEM + 1;
		ok(p9size(&f, d) == 0 && p9encode(out, sizeof out, &f, d) == 0, "%s: Twalk of 17 names refused", dname[d]);
		memset(&f, 0, sizeof f);
		f.type = Rwalk;
		f.nwqid = P9_MAXWELEM + 1;
		ok(p9size(&f, d) == 0 && p9encode(out, sizeof out, &f, d) == 0, "%s: Rwalk of 17 qids refused", dname[d]);
		memset(&f, 0, sizeof f);
		f.type = Twrite;
		f.count = 3;
		ok(p9size(&f, d) == 0 && p9encode(out, sizeof out, &f, d) == 0, "%s: Twrite of 3 bytes at NULL refused", dname[d]);
		memset(&f, 0, sizeof f);
		f.type = Tversion;
		f.version.n = 6;
		ok(p9size(&f, d) == 0 && p9encode(out, sizeof out, &f, d) == 0, "%s: a 6-byte string at NULL refused", dname[d]);
		memset(&f, 0, sizeof f);
		f.type = Twalk;
		f.nwname = 1;
		f.wname[0].s = "a\0b";
		f.wname[0].n = 3;
		ok(p9size(&f, d) == 0 && p9encode(out, sizeof out, &f, d) == 0, "%s: a wname holding NUL refused", dname[d]);
	}
}

static void
names(void)
{
	ok(p9dialect("9P2000", 6) == P9_2000, "p9dialect 9P2000");
	ok(p9dialect("9P2000.u", 8) == P9_2000U, "p9dialect 9P2000.u");
	ok(p9dialect("9P2000.L", 8) == P9_2000L, "p9dialect 9P2000.L");
	ok(p9dialect("9P2000.x", 8) == -1, "p9dialect 9P2000.x is -1");
	ok(p9dialect("9P2000.u", 6) == P9_2000, "p9dialect looks at n bytes only");
	ok(strcmp(p9dialectname(P9_2000U), "9P2000.u") == 0, "p9dialectname .u");
	ok(strcmp(p9dialectname(P9_2000L), "9P2000.L") == 0, "p9dialectname .L");
	ok(p9typename(0) == NULL && p9typename(99) == NULL && p9typename(128) == NULL && p9typename(255) == NULL,
		"p9typename of types no dialect has is NULL");
	ok(p9streq(p9str("abc"), "abc") && !p9streq(p9str("abc"), "ab") && p9streq(p9str(NULL), ""),
		"p9str and p9streq");
}

int
main(void)
{
	int i, d, sane;

	tap_start(60);

	/* First, this file's own arithmetic. */
	for(i = 0; i < NCASES; i++){
		const Case *c = &cases[i];

		sane = c->n >= 7 && p9get32(c->b) == c->n && c->b[4] == c->f.type && p9get16(c->b + 5) == c->f.tag;
		for(d = 0; d < c->nref; d++)
			if(c->ref[d].off + 4 > c->n)
				sane = 0;
		if(!ok(sane, "golden %s: size field %zu equals the array, type and tag as filled in", c->name, c->n))
			diag("  size field %u, array %zu", p9get32(c->b), c->n);
	}
	isnum(sizeof stat9, 64, "stat 9P2000 is 64 bytes");
	isnum(sizeof stat9w, 52, "wstat entry is 52 bytes");
	isnum(sizeof stat9u, 84, "stat .u is 84 bytes");
	isnum(sizeof rgetattr, 160, "Rgetattr is 160 bytes");

	for(i = 0; i < NCASES; i++)
		for(d = P9_2000; d <= P9_2000L; d++){
			if(cases[i].okd & (1u << d))
				runok(&cases[i], d);
			else if(cases[i].badd & (1u << d))
				runbad(&cases[i], d);
		}

	dirtests();
	direnttests();
	gating();
	oddities();
	unsayable();
	names();
	return done_testing();
}
