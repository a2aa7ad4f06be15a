/*
 * The 9P codec.  Every message is described once, as a list of fields
 * in a table; one interpreter walks that list to decode, to size, to
 * encode, to locate fids and to format.  Keeping a single description
 * is what keeps the five in agreement.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "9p.h"

enum {	/* field kinds */
	K1 = 1,		/* integers: wire width equals the C width */
	K2,
	K4,
	K8,
	K1W,		/* one byte on the wire, a uint32_t in the struct */
	KFID,		/* a 4-byte fid; role says what it does */
	KS,		/* string: n[2] bytes[n] */
	KQ,		/* qid[13] */
	KWNAME,		/* nwname[2] wname[s]*: Fcall only */
	KWQID,		/* nwqid[2] qid*: Fcall only */
	KDATA,		/* count[4] data[count]: Fcall only */
	KSTAT,		/* n[2] stat[n]: Fcall only */
};

enum {	/* dialect masks */
	D0 = 1 << P9_2000,
	DU = 1 << P9_2000U,
	DL = 1 << P9_2000L,
	DAL = D0 | DU | DL,
	D0U = D0 | DU,
	DUL = DU | DL,
};

enum {	/* how the formatter shows an integer */
	FDEC = 0,
	FOCT,
	FHEX,
};

typedef struct Field Field;
typedef struct Msg Msg;

struct Field {
	uint8_t		kind;
	uint8_t		dial;	/* dialects whose wire carries it */
	uint8_t		aux;	/* KFID: role; integers: print style */
	uint16_t	off;	/* offset in Fcall, P9dir or P9dirent */
	const char	*name;	/* as the formatter shows it */
};

struct Msg {
	const char	*name;
	uint8_t		dial;	/* dialects that know the message */
	uint8_t		n;
	const Field	*f;
};

#define FC(m)		((uint16_t)offsetof(Fcall, m))
#define I(k, m, nm)	{ k, DAL, FDEC, FC(m), nm }
#define IO(k, m, nm)	{ k, DAL, FOCT, FC(m), nm }
#define IX(k, m, nm)	{ k, DAL, FHEX, FC(m), nm }
#define ID(k, d, m, nm)	{ k, d, FDEC, FC(m), nm }
#define S(m, nm)	{ KS, DAL, 0, FC(m), nm }
#define SD(d, m, nm)	{ KS, d, 0, FC(m), nm }
#define Q(m, nm)	{ KQ, DAL, 0, FC(m), nm }
#define FID(m, role, nm) { KFID, DAL, role, FC(m), nm }
#define WNAME		{ KWNAME, DAL, 0, 0, "nwname" }
#define WQID		{ KWQID, DAL, 0, 0, "nwqid" }
#define DATA		{ KDATA, DAL, 0, 0, "count" }
#define STAT		{ KSTAT, DAL, 0, 0, "stat" }

#define M(nm, d, ...)	{ nm, d, sizeof((const Field[]){ __VA_ARGS__ }) / sizeof(Field), \
			  (const Field[]){ __VA_ARGS__ } }
#define M0(nm, d)	{ nm, d, 0, (const Field[]){ { 0, 0, 0, 0, NULL } } }

#define LOCKT	I(K1, lock.type, "type")
#define LOCKS	I(K8, lock.start, "start"), I(K8, lock.length, "length"), \
		I(K4, lock.procid, "proc_id"), S(lock.clientid, "client_id")

static const Msg msgtab[256] = {
	[Tversion] = M("Tversion", DAL, I(K4, msize, "msize"), S(version, "version")),
	[Rversion] = M("Rversion", DAL, I(K4, msize, "msize"), S(version, "version")),
	[Tauth] = M("Tauth", DAL, FID(afid, P9_FIDNEW, "afid"), S(uname, "uname"),
		S(aname, "aname"), ID(K4, DUL, nuname, "n_uname")),
	[Rauth] = M("Rauth", DAL, Q(qid, "aqid")),
	[Tattach] = M("Tattach", DAL, FID(fid, P9_FIDNEW, "fid"),
		FID(afid, P9_FIDUSE | P9_FIDOPT, "afid"), S(uname, "uname"),
		S(aname, "aname"), ID(K4, DUL, nuname, "n_uname")),
	[Rattach] = M("Rattach", DAL, Q(qid, "qid")),
	[Rerror] = M("Rerror", D0U, S(ename, "ename"), ID(K4, DU, errnum, "errno")),
	[Tflush] = M("Tflush", DAL, I(K2, oldtag, "oldtag")),
	[Rflush] = M0("Rflush", DAL),
	[Twalk] = M("Twalk", DAL, FID(fid, P9_FIDUSE, "fid"),
		FID(newfid, P9_FIDNEW, "newfid"), WNAME),
	[Rwalk] = M("Rwalk", DAL, WQID),
	[Topen] = M("Topen", D0U, FID(fid, P9_FIDUSE, "fid"), I(K1W, mode, "mode")),
	[Ropen] = M("Ropen", D0U, Q(qid, "qid"), I(K4, iounit, "iounit")),
	[Tcreate] = M("Tcreate", D0U, FID(fid, P9_FIDUSE, "fid"), S(name, "name"),
		IO(K4, perm, "perm"), I(K1W, mode, "mode"), SD(DU, extension, "extension")),
	[Rcreate] = M("Rcreate", D0U, Q(qid, "qid"), I(K4, iounit, "iounit")),
	[Tread] = M("Tread", DAL, FID(fid, P9_FIDUSE, "fid"), I(K8, offset, "offset"),
		I(K4, count, "count")),
	[Rread] = M("Rread", DAL, DATA),
	[Twrite] = M("Twrite", DAL, FID(fid, P9_FIDUSE, "fid"), I(K8, offset, "offset"), DATA),
	[Rwrite] = M("Rwrite", DAL, I(K4, count, "count")),
	[Tclunk] = M("Tclunk", DAL, FID(fid, P9_FIDDEL, "fid")),
	[Rclunk] = M0("Rclunk", DAL),
	[Tremove] = M("Tremove", DAL, FID(fid, P9_FIDDEL, "fid")),
	[Rremove] = M0("Rremove", DAL),
	[Tstat] = M("Tstat", D0U, FID(fid, P9_FIDUSE, "fid")),
	[Rstat] = M("Rstat", D0U, STAT),
	[Twstat] = M("Twstat", D0U, FID(fid, P9_FIDUSE, "fid"), STAT),
	[Rwstat] = M0("Rwstat", D0U),

	[Rlerror] = M("Rlerror", DL, I(K4, errnum, "ecode")),
	[Tstatfs] = M("Tstatfs", DL, FID(fid, P9_FIDUSE, "fid")),
	[Rstatfs] = M("Rstatfs", DL, I(K4, statfs.type, "type"), I(K4, statfs.bsize, "bsize"),
		I(K8, statfs.blocks, "blocks"), I(K8, statfs.bfree, "bfree"),
		I(K8, statfs.bavail, "bavail"), I(K8, statfs.files, "files"),
		I(K8, statfs.ffree, "ffree"), IX(K8, statfs.fsid, "fsid"),
		I(K4, statfs.namelen, "namelen")),
	[Tlopen] = M("Tlopen", DL, FID(fid, P9_FIDUSE, "fid"), IX(K4, flags, "flags")),
	[Rlopen] = M("Rlopen", DL, Q(qid, "qid"), I(K4, iounit, "iounit")),
	[Tlcreate] = M("Tlcreate", DL, FID(fid, P9_FIDUSE, "fid"), S(name, "name"),
		IX(K4, flags, "flags"), IO(K4, mode, "mode"), I(K4, gid, "gid")),
	[Rlcreate] = M("Rlcreate", DL, Q(qid, "qid"), I(K4, iounit, "iounit")),
	[Tsymlink] = M("Tsymlink", DL, FID(fid, P9_FIDUSE, "fid"), S(name, "name"),
		S(target, "symtgt"), I(K4, gid, "gid")),
	[Rsymlink] = M("Rsymlink", DL, Q(qid, "qid")),
	[Tmknod] = M("Tmknod", DL, FID(dfid, P9_FIDUSE, "dfid"), S(name, "name"),
		IO(K4, mode, "mode"), I(K4, major, "major"), I(K4, minor, "minor"),
		I(K4, gid, "gid")),
	[Rmknod] = M("Rmknod", DL, Q(qid, "qid")),
	[Trename] = M("Trename", DL, FID(fid, P9_FIDUSE, "fid"), FID(dfid, P9_FIDUSE, "dfid"),
		S(name, "name")),
	[Rrename] = M0("Rrename", DL),
	[Treadlink] = M("Treadlink", DL, FID(fid, P9_FIDUSE, "fid")),
	[Rreadlink] = M("Rreadlink", DL, S(target, "target")),
	[Tgetattr] = M("Tgetattr", DL, FID(fid, P9_FIDUSE, "fid"), IX(K8, mask, "request_mask")),
	[Rgetattr] = M("Rgetattr", DL, IX(K8, attr.valid, "valid"), Q(attr.qid, "qid"),
		IO(K4, attr.mode, "mode"), I(K4, attr.uid, "uid"), I(K4, attr.gid, "gid"),
		I(K8, attr.nlink, "nlink"), I(K8, attr.rdev, "rdev"), I(K8, attr.size, "size"),
		I(K8, attr.blksize, "blksize"), I(K8, attr.blocks, "blocks"),
		I(K8, attr.atime_sec, "atime_sec"), I(K8, attr.atime_nsec, "atime_nsec"),
		I(K8, attr.mtime_sec, "mtime_sec"), I(K8, attr.mtime_nsec, "mtime_nsec"),
		I(K8, attr.ctime_sec, "ctime_sec"), I(K8, attr.ctime_nsec, "ctime_nsec"),
		I(K8, attr.btime_sec, "btime_sec"), I(K8, attr.btime_nsec, "btime_nsec"),
		I(K8, attr.gen, "gen"), I(K8, attr.data_version, "data_version")),
	[Tsetattr] = M("Tsetattr", DL, FID(fid, P9_FIDUSE, "fid"), IX(K4, sattr.valid, "valid"),
		IO(K4, sattr.mode, "mode"), I(K4, sattr.uid, "uid"), I(K4, sattr.gid, "gid"),
		I(K8, sattr.size, "size"), I(K8, sattr.atime_sec, "atime_sec"),
		I(K8, sattr.atime_nsec, "atime_nsec"), I(K8, sattr.mtime_sec, "mtime_sec"),
		I(K8, sattr.mtime_nsec, "mtime_nsec")),
	[Rsetattr] = M0("Rsetattr", DL),
	[Txattrwalk] = M("Txattrwalk", DL, FID(fid, P9_FIDUSE, "fid"),
		FID(newfid, P9_FIDNEW, "newfid"), S(name, "name")),
	[Rxattrwalk] = M("Rxattrwalk", DL, I(K8, xsize, "size")),
	[Txattrcreate] = M("Txattrcreate", DL, FID(fid, P9_FIDUSE, "fid"), S(name, "name"),
		I(K8, xsize, "attr_size"), IX(K4, flags, "flags")),
	[Rxattrcreate] = M0("Rxattrcreate", DL),
	[Treaddir] = M("Treaddir", DL, FID(fid, P9_FIDUSE, "fid"), I(K8, offset, "offset"),
		I(K4, count, "count")),
	[Rreaddir] = M("Rreaddir", DL, DATA),
	[Tfsync] = M("Tfsync", DL, FID(fid, P9_FIDUSE, "fid"), I(K4, datasync, "datasync")),
	[Rfsync] = M0("Rfsync", DL),
	[Tlock] = M("Tlock", DL, FID(fid, P9_FIDUSE, "fid"), LOCKT,
		IX(K4, lock.flags, "flags"), LOCKS),
	[Rlock] = M("Rlock", DL, I(K1, status, "status")),
	[Tgetlock] = M("Tgetlock", DL, FID(fid, P9_FIDUSE, "fid"), LOCKT, LOCKS),
	[Rgetlock] = M("Rgetlock", DL, LOCKT, LOCKS),
	[Tlink] = M("Tlink", DL, FID(dfid, P9_FIDUSE, "dfid"), FID(fid, P9_FIDUSE, "fid"),
		S(name, "name")),
	[Rlink] = M0("Rlink", DL),
	[Tmkdir] = M("Tmkdir", DL, FID(dfid, P9_FIDUSE, "dfid"), S(name, "name"),
		IO(K4, mode, "mode"), I(K4, gid, "gid")),
	[Rmkdir] = M("Rmkdir", DL, Q(qid, "qid")),
	[Trenameat] = M("Trenameat", DL, FID(dfid, P9_FIDUSE, "olddirfid"), S(name, "oldname"),
		FID(newdfid, P9_FIDUSE, "newdirfid"), S(newname, "newname")),
	[Rrenameat] = M0("Rrenameat", DL),
	[Tunlinkat] = M("Tunlinkat", DL, FID(dfid, P9_FIDUSE, "dirfd"), S(name, "name"),
		IX(K4, flags, "flags")),
	[Runlinkat] = M0("Runlinkat", DL),
};

/* The body of a stat entry, after its size[2]. */
#define DR(m)		((uint16_t)offsetof(P9dir, m))
static const Field dirfields[] = {
	{ K2, DAL, FDEC, DR(type), "type" },
	{ K4, DAL, FDEC, DR(dev), "dev" },
	{ KQ, DAL, 0, DR(qid), "qid" },
	{ K4, DAL, FOCT, DR(mode), "mode" },
	{ K4, DAL, FDEC, DR(atime), "atime" },
	{ K4, DAL, FDEC, DR(mtime), "mtime" },
	{ K8, DAL, FDEC, DR(length), "length" },
	{ KS, DAL, 0, DR(name), "name" },
	{ KS, DAL, 0, DR(uid), "uid" },
	{ KS, DAL, 0, DR(gid), "gid" },
	{ KS, DAL, 0, DR(muid), "muid" },
	{ KS, DU, 0, DR(extension), "extension" },
	{ K4, DU, FDEC, DR(nuid), "n_uid" },
	{ K4, DU, FDEC, DR(ngid), "n_gid" },
	{ K4, DU, FDEC, DR(nmuid), "n_muid" },
};

#define DE(m)		((uint16_t)offsetof(P9dirent, m))
static const Field direntfields[] = {
	{ KQ, DAL, 0, DE(qid), "qid" },
	{ K8, DAL, FDEC, DE(offset), "offset" },
	{ K1, DAL, FDEC, DE(type), "type" },
	{ KS, DAL, 0, DE(name), "name" },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
present(const Field *f, int dialect)
{
	return f->dial >> dialect & 1;
}

static const Msg *
lookup(int type, int dialect)
{
	const Msg *m;

	if(type < 0 || type > 255 || dialect < P9_2000 || dialect > P9_2000L)
		return NULL;
	m = &msgtab[type];
	if(m->name == NULL || !(m->dial >> dialect & 1))
		return NULL;
	return m;
}

/*
 * Decoding.  p[0..len) is the whole message (or stat entry); off is
 * where the fields start.  Bounds are checked by subtraction: off never
 * exceeds len, so len - off is what is left.
 */

static long
getstr(const uint8_t *p, size_t len, size_t *off, P9str *s, int check)
{
	size_t n;

	if(len - *off < 2)
		return P9_EFIELD;
	n = p9get16(p + *off);
	*off += 2;
	if(len - *off < n)
		return P9_EFIELD;
	if(check && n > 0 && memchr(p + *off, 0, n) != NULL)
		return P9_ENUL;
	s->s = (const char *)p + *off;
	s->n = (uint16_t)n;
	*off += n;
	return 0;
}

static void
getqid(const uint8_t *p, Qid *q)
{
	q->type = p[0];
	q->vers = p9get32(p + 1);
	q->path = p9get64(p + 5);
}

static long unpack(const uint8_t *, size_t, size_t, const Field *, int, int, void *,
	P9fidref *, int *, int);

static long
dirunpack(const uint8_t *p, size_t len, int dialect, P9dir *d)
{
	size_t n;
	long r;

	if(dialect != P9_2000U)
		dialect = P9_2000;
	if(len < 2)
		return P9_EFIELD;
	n = p9get16(p);
	if(len - 2 < n)
		return P9_EFIELD;
	r = unpack(p, n + 2, 2, dirfields, NELEM(dirfields), dialect, d, NULL, NULL, 1);
	if(r < 0)
		return r;
	if((size_t)r != n + 2)
		return P9_ETRAIL;
	return r;
}

/*
 * Decode the fields fl into base.  With check zero the bytes are known
 * good (a first pass accepted them): the NUL and stat checks are skipped.
 */
static long
unpack(const uint8_t *p, size_t len, size_t off, const Field *fl, int nf, int dialect,
	void *base, P9fidref *refs, int *nref, int check)
{
	const Field *f;
	char *b;
	Fcall *fc;
	P9dir d;
	size_t n, i;
	long r;

	b = base;
	fc = base;
	for(f = fl; f < fl + nf; f++){
		if(!present(f, dialect))
			continue;
		switch(f->kind){
		case K1:
			if(len - off < 1)
				return P9_EFIELD;
			*(uint8_t *)(b + f->off) = p[off];
			off += 1;
			break;
		case K1W:
			if(len - off < 1)
				return P9_EFIELD;
			*(uint32_t *)(b + f->off) = p[off];
			off += 1;
			break;
		case K2:
			if(len - off < 2)
				return P9_EFIELD;
			*(uint16_t *)(b + f->off) = p9get16(p + off);
			off += 2;
			break;
		case KFID:
			if(refs != NULL && len - off >= 4){
				refs[*nref].off = (uint32_t)off;
				refs[*nref].role = f->aux;
				(*nref)++;
			}
			/* fall through */
		case K4:
			if(len - off < 4)
				return P9_EFIELD;
			*(uint32_t *)(b + f->off) = p9get32(p + off);
			off += 4;
			break;
		case K8:
			if(len - off < 8)
				return P9_EFIELD;
			*(uint64_t *)(b + f->off) = p9get64(p + off);
			off += 8;
			break;
		case KS:
			if((r = getstr(p, len, &off, (P9str *)(b + f->off), check)) < 0)
				return r;
			break;
		case KQ:
			if(len - off < P9_QIDSZ)
				return P9_EFIELD;
			getqid(p + off, (Qid *)(b + f->off));
			off += P9_QIDSZ;
			break;
		case KWNAME:
			if(len - off < 2)
				return P9_EFIELD;
			n = p9get16(p + off);
			off += 2;
			if(n > P9_MAXWELEM)
				return P9_ENWNAME;
			fc->nwname = (uint16_t)n;
			for(i = 0; i < n; i++)
				if((r = getstr(p, len, &off, &fc->wname[i], check)) < 0)
					return r;
			break;
		case KWQID:
			if(len - off < 2)
				return P9_EFIELD;
			n = p9get16(p + off);
			off += 2;
			if(n > P9_MAXWELEM)
				return P9_ENWNAME;
			fc->nwqid = (uint16_t)n;
			for(i = 0; i < n; i++){
				if(len - off < P9_QIDSZ)
					return P9_EFIELD;
				getqid(p + off, &fc->wqid[i]);
				off += P9_QIDSZ;
			}
			break;
		case KDATA:
			/* the data is the last field: count must be exactly what is left */
			if(len - off < 4)
				return P9_EFIELD;
			n = p9get32(p + off);
			off += 4;
			if(len - off != n)
				return P9_ECOUNT;
			fc->count = (uint32_t)n;
			fc->data = p + off;
			off += n;
			break;
		case KSTAT:
			/* n[2] must cover exactly one stat entry, whose size[2] is n-2 */
			if(len - off < 2)
				return P9_EFIELD;
			n = p9get16(p + off);
			off += 2;
			if(len - off != n || n < 2 || p9get16(p + off) != n - 2)
				return P9_ECOUNT;
			if(check && (r = dirunpack(p + off, n, dialect, &d)) < 0)
				return r;
			fc->nstat = (uint16_t)n;
			fc->stat = p + off;
			off += n;
			break;
		}
	}
	return (long)off;
}

long
p9frame(const uint8_t *buf, size_t len, uint32_t msize)
{
	uint32_t size;

	if(len < 4)
		return P9_EINCOMPLETE;
	size = p9get32(buf);
	if(size < P9_HDRSZ)
		return P9_ESHORT;
	if(size > msize)
		return P9_EBIG;
	if(len < size)
		return P9_EINCOMPLETE;
	return (long)size;
}

/*
 * Decode a whole frame into *f, and if refs note its fids.  Only the
 * fields of the message are written: unless f was cleared, the rest
 * are left as they were.
 */
static long
decode1(const uint8_t *buf, size_t len, uint32_t msize, int dialect, Fcall *f,
	P9fidref *refs, int *nref, int check)
{
	const Msg *m;
	long size, r;

	size = p9frame(buf, len, msize);
	if(size <= 0)
		return size;
	if((m = lookup(buf[4], dialect)) == NULL)
		return P9_ETYPE;
	f->type = buf[4];
	f->tag = p9get16(buf + 5);
	r = unpack(buf, (size_t)size, P9_HDRSZ, m->f, m->n, dialect, f, refs, nref, check);
	if(r < 0)
		return r;
	if(r != size)
		return P9_ETRAIL;
	return size;
}

/*
 * gcc turns a memset of constant size into rep stosq, which costs more
 * here than all the rest of decoding a small message; calling libc's
 * vector memset through a pointer the compiler cannot see through
 * makes clearing an Fcall about three times cheaper.
 */
static void *(*volatile zero)(void *, int, size_t) = memset;

static void
clear(Fcall *f)
{
	zero(f, 0, sizeof *f);
}

/*
 * Two passes keep *f untouched on failure without copying a whole
 * Fcall: the first checks everything, writing into scratch; the second,
 * which cannot fail, writes the fields into *f.
 */
long
p9decode(const uint8_t *buf, size_t len, uint32_t msize, int dialect, Fcall *f)
{
	Fcall scratch;
	long r;

	r = decode1(buf, len, msize, dialect, &scratch, NULL, NULL, 1);
	if(r <= 0)
		return r;
	clear(f);
	decode1(buf, len, msize, dialect, f, NULL, NULL, 0);
	return r;
}

int
p9fidmap(const uint8_t *buf, size_t len, int dialect, P9fidref refs[P9_MAXFIDS])
{
	P9fidref r[P9_MAXFIDS];
	Fcall scratch;
	int n;
	long size;

	if(len >= 5 && (buf[4] & 1))
		return P9_ETYPE;
	n = 0;
	size = decode1(buf, len, UINT32_MAX, dialect, &scratch, r, &n, 1);
	if(size == P9_EINCOMPLETE)
		return len < 4 ? P9_ESHORT : P9_EFIELD;	/* the frame claims more than len */
	if(size < 0)
		return (int)size;
	if((size_t)size != len)
		return P9_ETRAIL;
	memcpy(refs, r, (size_t)n * sizeof r[0]);
	return n;
}

long
p9dirdecode(const uint8_t *buf, size_t len, int dialect, P9dir *d)
{
	P9dir t;
	long r;

	memset(&t, 0, sizeof t);
	r = dirunpack(buf, len, dialect, &t);
	if(r > 0)
		*d = t;
	return r;
}

long
p9direntdecode(const uint8_t *buf, size_t len, P9dirent *e)
{
	P9dirent t;
	long r;

	memset(&t, 0, sizeof t);
	r = unpack(buf, len, 0, direntfields, NELEM(direntfields), P9_2000, &t, NULL, NULL, 1);
	if(r > 0)
		*e = t;
	return r;
}

/*
 * Sizing and encoding.  measure() also decides whether the fields can be
 * said at all; pack() then writes without further checks.
 */

static int
strok(P9str s)
{
	if(s.n == 0)
		return 1;
	return s.s != NULL && memchr(s.s, 0, s.n) == NULL;
}

static size_t measure(const Field *, int, int, const void *);

static size_t
dirmeasure(const P9dir *d, int dialect)
{
	size_t n;

	if(dialect != P9_2000U)
		dialect = P9_2000;
	n = measure(dirfields, NELEM(dirfields), dialect, d);
	if(n == SIZE_MAX || n > 0xFFFF)
		return SIZE_MAX;
	return n + 2;
}

/* Bytes of the fields, or SIZE_MAX if they cannot be encoded. */
static size_t
measure(const Field *fl, int nf, int dialect, const void *base)
{
	const Field *f;
	const char *b;
	const Fcall *fc;
	P9dir d;
	size_t n, i;

	b = base;
	fc = base;
	n = 0;
	for(f = fl; f < fl + nf; f++){
		if(!present(f, dialect))
			continue;
		switch(f->kind){
		case K1:
			n += 1;
			break;
		case K1W:
			if(*(const uint32_t *)(b + f->off) > 0xFF)
				return SIZE_MAX;
			n += 1;
			break;
		case K2:
			n += 2;
			break;
		case K4:
		case KFID:
			n += 4;
			break;
		case K8:
			n += 8;
			break;
		case KS:
			if(!strok(*(const P9str *)(b + f->off)))
				return SIZE_MAX;
			n += 2 + ((const P9str *)(b + f->off))->n;
			break;
		case KQ:
			n += P9_QIDSZ;
			break;
		case KWNAME:
			if(fc->nwname > P9_MAXWELEM)
				return SIZE_MAX;
			n += 2;
			for(i = 0; i < fc->nwname; i++){
				if(!strok(fc->wname[i]))
					return SIZE_MAX;
				n += 2 + fc->wname[i].n;
			}
			break;
		case KWQID:
			if(fc->nwqid > P9_MAXWELEM)
				return SIZE_MAX;
			n += 2 + (size_t)fc->nwqid * P9_QIDSZ;
			break;
		case KDATA:
			if(fc->count > 0 && fc->data == NULL)
				return SIZE_MAX;
			n += 4 + (size_t)fc->count;
			break;
		case KSTAT:
			/* only what the decoder would accept back */
			if(fc->stat == NULL || fc->nstat < 2 || p9get16(fc->stat) != fc->nstat - 2)
				return SIZE_MAX;
			if(dirunpack(fc->stat, fc->nstat, dialect, &d) != fc->nstat)
				return SIZE_MAX;
			n += 2 + (size_t)fc->nstat;
			break;
		}
	}
	return n;
}

static size_t
putstr(uint8_t *p, P9str s)
{
	p9put16(p, s.n);
	if(s.n > 0)
		memcpy(p + 2, s.s, s.n);
	return 2 + (size_t)s.n;
}

static void
putqid(uint8_t *p, const Qid *q)
{
	p[0] = q->type;
	p9put32(p + 1, q->vers);
	p9put64(p + 5, q->path);
}

/* Write the fields at p, already measured: the bytes written. */
static size_t
pack(uint8_t *p, const Field *fl, int nf, int dialect, const void *base)
{
	const Field *f;
	const char *b;
	const Fcall *fc;
	size_t off, i;

	b = base;
	fc = base;
	off = 0;
	for(f = fl; f < fl + nf; f++){
		if(!present(f, dialect))
			continue;
		switch(f->kind){
		case K1:
			p[off++] = *(const uint8_t *)(b + f->off);
			break;
		case K1W:
			p[off++] = (uint8_t)*(const uint32_t *)(b + f->off);
			break;
		case K2:
			p9put16(p + off, *(const uint16_t *)(b + f->off));
			off += 2;
			break;
		case K4:
		case KFID:
			p9put32(p + off, *(const uint32_t *)(b + f->off));
			off += 4;
			break;
		case K8:
			p9put64(p + off, *(const uint64_t *)(b + f->off));
			off += 8;
			break;
		case KS:
			off += putstr(p + off, *(const P9str *)(b + f->off));
			break;
		case KQ:
			putqid(p + off, (const Qid *)(b + f->off));
			off += P9_QIDSZ;
			break;
		case KWNAME:
			p9put16(p + off, fc->nwname);
			off += 2;
			for(i = 0; i < fc->nwname; i++)
				off += putstr(p + off, fc->wname[i]);
			break;
		case KWQID:
			p9put16(p + off, fc->nwqid);
			off += 2;
			for(i = 0; i < fc->nwqid; i++){
				putqid(p + off, &fc->wqid[i]);
				off += P9_QIDSZ;
			}
			break;
		case KDATA:
			p9put32(p + off, fc->count);
			off += 4;
			if(fc->count > 0)
				memcpy(p + off, fc->data, fc->count);
			off += fc->count;
			break;
		case KSTAT:
			p9put16(p + off, fc->nstat);
			off += 2;
			memcpy(p + off, fc->stat, fc->nstat);
			off += fc->nstat;
			break;
		}
	}
	return off;
}

size_t
p9size(const Fcall *f, int dialect)
{
	const Msg *m;
	size_t n;

	if((m = lookup(f->type, dialect)) == NULL)
		return 0;
	n = measure(m->f, m->n, dialect, f);
	if(n == SIZE_MAX || n > UINT32_MAX - P9_HDRSZ)
		return 0;
	return n + P9_HDRSZ;
}

size_t
p9encode(uint8_t *buf, size_t len, const Fcall *f, int dialect)
{
	const Msg *m;
	size_t n;

	n = p9size(f, dialect);
	if(n == 0 || len < n)
		return 0;
	m = &msgtab[f->type];
	p9put32(buf, (uint32_t)n);
	buf[4] = f->type;
	p9put16(buf + 5, f->tag);
	pack(buf + P9_HDRSZ, m->f, m->n, dialect, f);
	return n;
}

size_t
p9dirsize(const P9dir *d, int dialect)
{
	size_t n;

	n = dirmeasure(d, dialect);
	return n == SIZE_MAX ? 0 : n;
}

size_t
p9direncode(uint8_t *buf, size_t len, const P9dir *d, int dialect)
{
	size_t n;

	n = p9dirsize(d, dialect);
	if(n == 0 || len < n)
		return 0;
	if(dialect != P9_2000U)
		dialect = P9_2000;
	p9put16(buf, (uint16_t)(n - 2));
	pack(buf + 2, dirfields, NELEM(dirfields), dialect, d);
	return n;
}

size_t
p9direntsize(const P9dirent *e)
{
	return P9_QIDSZ + 8 + 1 + 2 + (size_t)e->name.n;
}

size_t
p9direntencode(uint8_t *buf, size_t len, const P9dirent *e)
{
	size_t n;

	if(!strok(e->name))
		return 0;
	n = p9direntsize(e);
	if(len < n)
		return 0;
	pack(buf, direntfields, NELEM(direntfields), P9_2000, e);
	return n;
}

/*
 * Names and small helpers.
 */

static const char *dialects[] = {
	[P9_2000] = "9P2000",
	[P9_2000U] = "9P2000.u",
	[P9_2000L] = "9P2000.L",
};

int
p9dialect(const char *s, size_t n)
{
	size_t i;

	if(s == NULL)
		return -1;
	for(i = 0; i < NELEM(dialects); i++)
		if(strlen(dialects[i]) == n && memcmp(dialects[i], s, n) == 0)
			return (int)i;
	return -1;
}

const char *
p9dialectname(int dialect)
{
	if(dialect < P9_2000 || dialect > P9_2000L)
		return NULL;
	return dialects[dialect];
}

const char *
p9typename(int type)
{
	if(type < 0 || type > 255)
		return NULL;
	return msgtab[type].name;
}

int
p9known(int type, int dialect)
{
	return lookup(type, dialect) != NULL;
}

const char *
p9strerror(int err)
{
	switch(err){
	case P9_EINCOMPLETE:	return "incomplete message";
	case P9_ESHORT:		return "message size below 7";
	case P9_EBIG:		return "message larger than msize";
	case P9_ETYPE:		return "message type unknown in this dialect";
	case P9_EFIELD:		return "field runs past the end of the message";
	case P9_ETRAIL:		return "bytes left over after the last field";
	case P9_ENWNAME:	return "more than 16 walk elements";
	case P9_ENUL:		return "string holds a NUL byte";
	case P9_ECOUNT:		return "count disagrees with the bytes present";
	case P9_EINVAL:		return "message cannot be encoded";
	}
	return "unknown 9P codec error";
}

P9str
p9str(const char *s)
{
	P9str r;
	size_t n;

	if(s == NULL)
		s = "";
	n = strlen(s);
	r.s = s;
	r.n = n > 0xFFFF ? 0xFFFF : (uint16_t)n;
	return r;
}

int
p9streq(P9str a, const char *s)
{
	size_t n;

	if(s == NULL)
		s = "";
	n = strlen(s);
	if(n != a.n)
		return 0;
	return n == 0 || memcmp(a.s, s, n) == 0;
}

/*
 * Formatting.
 */

typedef struct Out Out;
struct Out {
	char	*buf;
	size_t	len;
	size_t	n;	/* what the whole line needs, as snprintf counts */
};

static void __attribute__((format(printf, 2, 3)))
out(Out *o, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	if(o->n < o->len)
		r = vsnprintf(o->buf + o->n, o->len - o->n, fmt, ap);
	else
		r = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if(r > 0)
		o->n += (size_t)r;
}

static void
outstr(Out *o, P9str s)
{
	char esc[8];
	size_t i, run;
	unsigned c;

	out(o, " '");
	if(s.s == NULL)
		s.n = 0;
	for(i = 0; i < s.n; i += run){
		/* copy runs of plain characters in one call */
		for(run = 0; i + run < s.n; run++){
			c = (unsigned char)s.s[i + run];
			if(c < 0x20 || c >= 0x7F || c == '\'' || c == '\\')
				break;
		}
		if(run > 0){
			out(o, "%.*s", (int)run, s.s + i);
			continue;
		}
		c = (unsigned char)s.s[i];
		switch(c){
		case '\'':	snprintf(esc, sizeof esc, "\\'"); break;
		case '\\':	snprintf(esc, sizeof esc, "\\\\"); break;
		case '\n':	snprintf(esc, sizeof esc, "\\n"); break;
		case '\t':	snprintf(esc, sizeof esc, "\\t"); break;
		default:	snprintf(esc, sizeof esc, "\\x%02x", c); break;
		}
		out(o, "%s", esc);
		run = 1;
	}
	out(o, "'");
}

static void
outqid(Out *o, const Qid *q)
{
	static const struct { uint8_t bit; char c; } bits[] = {
		{ P9_QTDIR, 'd' }, { P9_QTAPPEND, 'a' }, { P9_QTEXCL, 'l' },
		{ P9_QTMOUNT, 'm' }, { P9_QTAUTH, 'A' }, { P9_QTTMP, 't' },
		{ P9_QTSYMLINK, 'L' },
	};
	char t[16];
	size_t i, n;

	n = 0;
	for(i = 0; i < NELEM(bits); i++)
		if(q->type & bits[i].bit)
			t[n++] = bits[i].c;
	t[n] = 0;
	out(o, " (%016llx %lu %s)", (unsigned long long)q->path, (unsigned long)q->vers, t);
}

static void
outint(Out *o, const Field *f, unsigned long long v)
{
	switch(f->aux){
	case FOCT:	out(o, " %s 0%llo", f->name, v); break;
	case FHEX:	out(o, " %s 0x%llx", f->name, v); break;
	default:	out(o, " %s %llu", f->name, v); break;
	}
}

static void
outfields(Out *o, const Field *fl, int nf, int dialect, const void *base)
{
	const Field *f;
	const char *b;
	const Fcall *fc;
	P9dir d;
	size_t i;

	b = base;
	fc = base;
	for(f = fl; f < fl + nf; f++){
		if(!present(f, dialect))
			continue;
		switch(f->kind){
		case K1:
			outint(o, f, *(const uint8_t *)(b + f->off));
			break;
		case K2:
			outint(o, f, *(const uint16_t *)(b + f->off));
			break;
		case K1W:
		case K4:
			outint(o, f, *(const uint32_t *)(b + f->off));
			break;
		case KFID:
			if(*(const uint32_t *)(b + f->off) == P9_NOFID)
				out(o, " %s NOFID", f->name);
			else
				out(o, " %s %lu", f->name,
					(unsigned long)*(const uint32_t *)(b + f->off));
			break;
		case K8:
			outint(o, f, *(const uint64_t *)(b + f->off));
			break;
		case KS:
			out(o, " %s", f->name);
			outstr(o, *(const P9str *)(b + f->off));
			break;
		case KQ:
			out(o, " %s", f->name);
			outqid(o, (const Qid *)(b + f->off));
			break;
		case KWNAME:
			out(o, " nwname %u", fc->nwname);
			for(i = 0; i < fc->nwname && i < P9_MAXWELEM; i++)
				outstr(o, fc->wname[i]);
			break;
		case KWQID:
			out(o, " nwqid %u", fc->nwqid);
			for(i = 0; i < fc->nwqid && i < P9_MAXWELEM; i++)
				outqid(o, &fc->wqid[i]);
			break;
		case KDATA:
			out(o, " count %lu", (unsigned long)fc->count);
			break;
		case KSTAT:
			out(o, " nstat %u", fc->nstat);
			if(fc->stat != NULL && dirunpack(fc->stat, fc->nstat, dialect, &d) > 0){
				out(o, " stat {");
				outfields(o, dirfields, NELEM(dirfields),
					dialect == P9_2000U ? P9_2000U : P9_2000, &d);
				out(o, " }");
			}
			break;
		}
	}
}

int
p9fmt(char *buf, size_t len, const Fcall *f, int dialect)
{
	const Msg *m;
	Out o;

	o.buf = buf;
	o.len = len;
	o.n = 0;
	if(len > 0)
		buf[0] = 0;
	m = lookup(f->type, dialect);
	if(m == NULL){
		if(p9typename(f->type) != NULL)
			out(&o, "%s tag %u (not in %s)", p9typename(f->type), f->tag,
				p9dialectname(dialect) ? p9dialectname(dialect) : "this dialect");
		else
			out(&o, "type %u tag %u (unknown)", f->type, f->tag);
	}else{
		out(&o, "%s tag %u", m->name, f->tag);
		outfields(&o, m->f, m->n, dialect, f);
	}
	return o.n > INT32_MAX ? INT32_MAX : (int)o.n;
}
