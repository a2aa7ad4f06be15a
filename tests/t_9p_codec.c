/*
 * t_9p_codec - the 9P codec: round trips of every message of every
 * dialect, truncation, every decoder error, untouched outputs, the
 * encoder's limits, stat and dirent entries, names and formatting.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "9p.h"
#include "tap.h"

static const int dialects[] = { P9_2000, P9_2000U, P9_2000L };

/* What each dialect knows, written out from the manuals. */
static const int known0[] = {
	Tversion, Rversion, Tauth, Rauth, Tattach, Rattach, Rerror, Tflush, Rflush,
	Twalk, Rwalk, Topen, Ropen, Tcreate, Rcreate, Tread, Rread, Twrite, Rwrite,
	Tclunk, Rclunk, Tremove, Rremove, Tstat, Rstat, Twstat, Rwstat, -1,
};
static const int knownL[] = {
	Tversion, Rversion, Tauth, Rauth, Tattach, Rattach, Tflush, Rflush,
	Twalk, Rwalk, Tread, Rread, Twrite, Rwrite, Tclunk, Rclunk, Tremove, Rremove,
	Rlerror, Tstatfs, Rstatfs, Tlopen, Rlopen, Tlcreate, Rlcreate, Tsymlink, Rsymlink,
	Tmknod, Rmknod, Trename, Rrename, Treadlink, Rreadlink, Tgetattr, Rgetattr,
	Tsetattr, Rsetattr, Txattrwalk, Rxattrwalk, Txattrcreate, Rxattrcreate,
	Treaddir, Rreaddir, Tfsync, Rfsync, Tlock, Rlock, Tgetlock, Rgetlock,
	Tlink, Rlink, Tmkdir, Rmkdir, Trenameat, Rrenameat, Tunlinkat, Runlinkat, -1,
};

static int
inlist(const int *l, int t)
{
	for(; *l >= 0; l++)
		if(*l == t)
			return 1;
	return 0;
}

static int
expectknown(int t, int d)
{
	return inlist(d == P9_2000L ? knownL : known0, t);
}

static uint8_t databuf[9000];
static uint8_t statbuf[2][512];
static size_t statlen[2];
static const char *names16[] = {
	"a", "bb", "", "dddd", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "last",
};

static Qid
mkqid(unsigned v)
{
	Qid q;

	q.type = (uint8_t)(v * 7);
	q.vers = 0x01020304u + v;
	q.path = 0x1122334455667788ull + v;
	return q;
}

static P9dir
mkdir9(int d)
{
	P9dir x;

	memset(&x, 0, sizeof x);
	x.type = 0x1234;
	x.dev = 0x56789abc;
	x.qid = mkqid(3);
	x.mode = P9_DMDIR | 0755;
	x.atime = 1000;
	x.mtime = 2000;
	x.length = 0x0102030405060708ull;
	x.name = p9str("glenda");
	x.uid = p9str("sys");
	x.gid = p9str("");
	x.muid = p9str("bootes");
	if(d == P9_2000U){
		x.extension = p9str("ext");
		x.nuid = 1001;
		x.ngid = 1002;
		x.nmuid = 1003;
	}
	return x;
}

/*
 * Fill f with distinct values for every field type has in dialect d.
 * variant 1 uses the extremes (16 walk elements, empty strings, no data).
 */
static int
sample(Fcall *f, int type, int d, int variant)
{
	int u, i, n;

	memset(f, 0, sizeof *f);
	f->type = (uint8_t)type;
	f->tag = (uint16_t)(variant ? P9_NOTAG : 0x1234 + type);
	u = d != P9_2000;	/* .u and .L carry n_uname */
	switch(type){
	case Tversion: case Rversion:
		f->msize = 8192 + 24;
		f->version = p9str(variant ? "" : "9P2000.L");
		break;
	case Tauth:
		f->afid = 7;
		f->uname = p9str("glenda");
		f->aname = p9str(variant ? "" : "/usr/glenda");
		if(u)
			f->nuname = 1000;
		break;
	case Rauth: case Rattach: case Rsymlink: case Rmknod: case Rmkdir:
		f->qid = mkqid(1);
		break;
	case Tattach:
		f->fid = 1;
		f->afid = variant ? P9_NOFID : 7;
		f->uname = p9str("glenda");
		f->aname = p9str("");
		if(u)
			f->nuname = variant ? P9_NOFID : 1000;
		break;
	case Rerror:
		f->ename = p9str(variant ? "" : "file not found");
		if(d == P9_2000U)
			f->errnum = 2;
		break;
	case Rlerror:
		f->errnum = 13;
		break;
	case Tflush:
		f->oldtag = 0xBEEF;
		break;
	case Twalk:
		f->fid = 3;
		f->newfid = variant ? 3 : 4;
		n = variant ? P9_MAXWELEM : 2;
		f->nwname = (uint16_t)n;
		for(i = 0; i < n; i++)
			f->wname[i] = p9str(variant ? names16[i] : i ? "glenda" : "usr");
		break;
	case Rwalk:
		n = variant ? P9_MAXWELEM : 0;
		f->nwqid = (uint16_t)n;
		for(i = 0; i < n; i++)
			f->wqid[i] = mkqid((unsigned)i + 10);
		break;
	case Topen:
		f->fid = 5;
		f->mode = P9_ORDWR | P9_OTRUNC;
		break;
	case Ropen: case Rcreate: case Rlopen: case Rlcreate:
		f->qid = mkqid(2);
		f->iounit = 8168;
		break;
	case Tcreate:
		f->fid = 5;
		f->name = p9str("newfile");
		f->perm = P9_DMDIR | 0775;
		f->mode = P9_OREAD;
		if(d == P9_2000U)
			f->extension = p9str(variant ? "" : "b 1 2");
		break;
	case Tread: case Treaddir:
		f->fid = 6;
		f->offset = 0x0102030405060708ull;
		f->count = 8192;
		break;
	case Rread: case Rreaddir:
		f->count = variant ? 0 : 8192;
		f->data = variant ? NULL : databuf;
		break;
	case Twrite:
		f->fid = 6;
		f->offset = 77;
		f->count = variant ? 0 : 8192;
		f->data = variant ? NULL : databuf;
		break;
	case Rwrite:
		f->count = 8192;
		break;
	case Tclunk: case Tremove: case Tstat: case Tstatfs: case Treadlink:
		f->fid = 9;
		break;
	case Rflush: case Rclunk: case Rremove: case Rwstat: case Rrename:
	case Rsetattr: case Rxattrcreate: case Rfsync: case Rlink: case Rrenameat:
	case Runlinkat:
		break;
	case Rstat: case Twstat:
		if(type == Twstat)
			f->fid = 9;
		n = d == P9_2000U;
		f->nstat = (uint16_t)statlen[n];
		f->stat = statbuf[n];
		break;
	case Rstatfs:
		f->statfs.type = 0x01021997;
		f->statfs.bsize = 4096;
		f->statfs.blocks = 1ull << 40;
		f->statfs.bfree = 2;
		f->statfs.bavail = 3;
		f->statfs.files = 4;
		f->statfs.ffree = 5;
		f->statfs.fsid = 0xFEDCBA9876543210ull;
		f->statfs.namelen = 255;
		break;
	case Tlopen:
		f->fid = 10;
		f->flags = 0x8002;
		break;
	case Tlcreate:
		f->fid = 10;
		f->name = p9str("x.c");
		f->flags = 0x41;
		f->mode = 0644;
		f->gid = 100;
		break;
	case Tsymlink:
		f->fid = 11;
		f->name = p9str("link");
		f->target = p9str("../target");
		f->gid = 101;
		break;
	case Tmknod:
		f->dfid = 12;
		f->name = p9str("null");
		f->mode = 020666;
		f->major = 1;
		f->minor = 3;
		f->gid = 102;
		break;
	case Trename:
		f->fid = 13;
		f->dfid = 14;
		f->name = p9str("renamed");
		break;
	case Rreadlink:
		f->target = p9str(variant ? "" : "/etc/target");
		break;
	case Tgetattr:
		f->fid = 15;
		f->mask = 0x3FFF;
		break;
	case Rgetattr:
		f->attr.valid = 0x3FFF;
		f->attr.qid = mkqid(4);
		f->attr.mode = 0100644;
		f->attr.uid = 1000;
		f->attr.gid = 1001;
		f->attr.nlink = 2;
		f->attr.rdev = 3;
		f->attr.size = 4;
		f->attr.blksize = 5;
		f->attr.blocks = 6;
		f->attr.atime_sec = 7;
		f->attr.atime_nsec = 8;
		f->attr.mtime_sec = 9;
		f->attr.mtime_nsec = 10;
		f->attr.ctime_sec = 11;
		f->attr.ctime_nsec = 12;
		f->attr.btime_sec = 13;
		f->attr.btime_nsec = 14;
		f->attr.gen = 15;
		f->attr.data_version = 16;
		break;
	case Tsetattr:
		f->fid = 16;
		f->sattr.valid = 0x7F;
		f->sattr.mode = 0600;
		f->sattr.uid = 1;
		f->sattr.gid = 2;
		f->sattr.size = 3;
		f->sattr.atime_sec = 4;
		f->sattr.atime_nsec = 5;
		f->sattr.mtime_sec = 6;
		f->sattr.mtime_nsec = 7;
		break;
	case Txattrwalk:
		f->fid = 17;
		f->newfid = 18;
		f->name = p9str(variant ? "" : "user.mime");
		break;
	case Rxattrwalk:
		f->xsize = 1234567890123ull;
		break;
	case Txattrcreate:
		f->fid = 19;
		f->name = p9str("user.x");
		f->xsize = 99;
		f->flags = 1;
		break;
	case Tfsync:
		f->fid = 20;
		f->datasync = 1;
		break;
	case Tlock: case Tgetlock: case Rgetlock:
		if(type != Rgetlock)
			f->fid = 21;
		f->lock.type = 1;
		if(type == Tlock)
			f->lock.flags = 2;
		f->lock.start = 3;
		f->lock.length = 4;
		f->lock.procid = 5;
		f->lock.clientid = p9str(variant ? "" : "host");
		break;
	case Rlock:
		f->status = 2;
		break;
	case Tlink:
		f->dfid = 22;
		f->fid = 23;
		f->name = p9str("hard");
		break;
	case Tmkdir:
		f->dfid = 24;
		f->name = p9str("dir");
		f->mode = 0755;
		f->gid = 103;
		break;
	case Trenameat:
		f->dfid = 25;
		f->name = p9str("old");
		f->newdfid = 26;
		f->newname = p9str("new");
		break;
	case Tunlinkat:
		f->dfid = 27;
		f->name = p9str("gone");
		f->flags = 0x200;
		break;
	default:
		return 0;
	}
	return 1;
}

static int
streq(P9str a, P9str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.s, b.s, a.n) == 0);
}

static int
qideq(Qid a, Qid b)
{
	return a.type == b.type && a.vers == b.vers && a.path == b.path;
}

/* The first field in which a and b differ, or NULL. */
static const char *
fcalldiff(const Fcall *a, const Fcall *b)
{
	int i;

#define NUM(x)	if(a->x != b->x) return #x
#define STR(x)	if(!streq(a->x, b->x)) return #x
#define QID(x)	if(!qideq(a->x, b->x)) return #x
	NUM(type); NUM(tag); NUM(fid); NUM(newfid); NUM(afid); NUM(dfid); NUM(newdfid);
	NUM(msize); STR(version); NUM(oldtag); STR(ename); NUM(errnum); QID(qid);
	NUM(iounit); STR(uname); STR(aname); NUM(nuname); NUM(perm); NUM(mode);
	NUM(flags); NUM(gid); NUM(major); NUM(minor); STR(name); STR(newname);
	STR(extension); STR(target); NUM(nwname);
	for(i = 0; i < a->nwname && i < P9_MAXWELEM; i++)
		STR(wname[i]);
	NUM(nwqid);
	for(i = 0; i < a->nwqid && i < P9_MAXWELEM; i++)
		QID(wqid[i]);
	NUM(offset); NUM(count);
	if(a->type == Rread || a->type == Twrite || a->type == Rreaddir)
		if(a->count && memcmp(a->data, b->data, a->count) != 0)
			return "data";
	NUM(nstat);
	if(a->nstat && memcmp(a->stat, b->stat, a->nstat) != 0)
		return "stat";
	NUM(mask);
	NUM(attr.valid); QID(attr.qid); NUM(attr.mode); NUM(attr.uid); NUM(attr.gid);
	NUM(attr.nlink); NUM(attr.rdev); NUM(attr.size); NUM(attr.blksize);
	NUM(attr.blocks); NUM(attr.atime_sec); NUM(attr.atime_nsec); NUM(attr.mtime_sec);
	NUM(attr.mtime_nsec); NUM(attr.ctime_sec); NUM(attr.ctime_nsec);
	NUM(attr.btime_sec); NUM(attr.btime_nsec); NUM(attr.gen); NUM(attr.data_version);
	NUM(sattr.valid); NUM(sattr.mode); NUM(sattr.uid); NUM(sattr.gid); NUM(sattr.size);
	NUM(sattr.atime_sec); NUM(sattr.atime_nsec); NUM(sattr.mtime_sec);
	NUM(sattr.mtime_nsec);
	NUM(statfs.type); NUM(statfs.bsize); NUM(statfs.blocks); NUM(statfs.bfree);
	NUM(statfs.bavail); NUM(statfs.files); NUM(statfs.ffree); NUM(statfs.fsid);
	NUM(statfs.namelen);
	NUM(lock.type); NUM(lock.flags); NUM(lock.start); NUM(lock.length);
	NUM(lock.procid); STR(lock.clientid);
	NUM(status); NUM(xsize); NUM(datasync);
#undef NUM
#undef STR
#undef QID
	return NULL;
}

static const char *
dirdiff(const P9dir *a, const P9dir *b)
{
#define NUM(x)	if(a->x != b->x) return #x
#define STR(x)	if(!streq(a->x, b->x)) return #x
	NUM(type); NUM(dev);
	if(!qideq(a->qid, b->qid))
		return "qid";
	NUM(mode); NUM(atime); NUM(mtime); NUM(length);
	STR(name); STR(uid); STR(gid); STR(muid); STR(extension);
	NUM(nuid); NUM(ngid); NUM(nmuid);
#undef NUM
#undef STR
	return NULL;
}

/* Decode a copy of buf[0..n) that ends at an unreadable page. */
static long
gdecode(const uint8_t *buf, size_t n, uint32_t msize, int d, Fcall *f)
{
	void *base;
	size_t maplen;
	uint8_t *g;
	long r;

	g = guardcopy(buf, n, &base, &maplen);
	r = p9decode(g, n, msize, d, f);
	guardfree(base, maplen);
	return r;
}

/* Decoding fails with want and leaves the output as it was. */
static void
fails(const uint8_t *buf, size_t n, uint32_t msize, int d, long want, const char *what)
{
	Fcall f, g;
	long r;

	memset(&f, 0xA5, sizeof f);
	memcpy(&g, &f, sizeof g);
	r = gdecode(buf, n, msize, d, &f);
	if(!ok(r == want, "%s: %s", what, p9strerror((int)want)))
		diag("  got %ld (%s), want %ld", r, p9strerror((int)r), want);
	ok(memcmp(&f, &g, sizeof f) == 0, "%s: output untouched", what);
}

static int nmsg;

static void
roundtrip(int type, int d, int variant)
{
	static uint8_t buf[9200], buf2[9200], small[9200], pre[9200];
	const char *dn, *tn, *diff;
	Fcall f, g, h;
	size_t n, n2, k, i;
	long r;
	int prefixok, claimok, smallok;

	dn = p9dialectname(d);
	tn = p9typename(type);
	if(!ok(sample(&f, type, d, variant), "%s %s: have a sample", dn, tn))
		return;
	nmsg++;
	n = p9size(&f, d);
	memset(buf, 0xEE, sizeof buf);
	n2 = p9encode(buf, sizeof buf, &f, d);
	if(!ok(n > 0 && n == n2, "%s %s/%d: p9size %zu == p9encode %zu", dn, tn, variant, n, n2))
		return;
	ok(p9get32(buf) == n && buf[4] == type && p9get16(buf + 5) == f.tag,
		"%s %s/%d: header size[4] type[1] tag[2]", dn, tn, variant);
	ok(buf[n] == 0xEE, "%s %s/%d: nothing written past the message", dn, tn, variant);

	r = gdecode(buf, n, (uint32_t)n, d, &g);
	is_int(r, n, "%s %s/%d: decodes whole at a guard page, msize == size", dn, tn, variant);
	memset(&g, 0xA5, sizeof g);	/* what the message lacks must come out zero */
	p9decode(buf, n, (uint32_t)n, d, &g);	/* the guard copy is gone: views into buf */
	diff = fcalldiff(&f, &g);
	if(!ok(diff == NULL, "%s %s/%d: decoded fields equal, the rest zero", dn, tn, variant))
		diag("  field %s differs", diff);
	n2 = p9encode(buf2, sizeof buf2, &g, d);
	ok(n2 == n && memcmp(buf, buf2, n) == 0, "%s %s/%d: re-encodes byte for byte", dn, tn, variant);

	/* with bytes of a next message behind it, only its own are consumed */
	memcpy(buf2, buf, n);
	memcpy(buf2 + n, buf, 7);
	is_int(p9decode(buf2, n + 7, UINT32_MAX, d, &h), n, "%s %s/%d: stops at its size", dn, tn, variant);
	is_int(p9decode(buf, n, (uint32_t)n - 1, d, &h), P9_EBIG, "%s %s/%d: msize one short", dn, tn, variant);

	/* every prefix is incomplete; a frame claiming the prefix is an error */
	prefixok = claimok = 1;
	for(k = 0; k < n; k++){
		memset(&h, 0x5A, sizeof h);
		memcpy(&g, &h, sizeof g);
		r = gdecode(buf, k, UINT32_MAX, d, &h);
		if(r != P9_EINCOMPLETE || memcmp(&g, &h, sizeof h) != 0){
			if(prefixok)
				diag("  prefix %zu: %ld", k, r);
			prefixok = 0;
		}
		if(k < 4)
			continue;
		memcpy(pre, buf, k);
		p9put32(pre, (uint32_t)k);
		r = gdecode(pre, k, UINT32_MAX, d, &h);
		if(r >= 0 || (k < 7 && r != P9_ESHORT) || memcmp(&g, &h, sizeof h) != 0){
			if(claimok)
				diag("  claimed size %zu: %ld", k, r);
			claimok = 0;
		}
	}
	ok(prefixok, "%s %s/%d: all %zu prefixes incomplete, output untouched", dn, tn, variant, n);
	ok(claimok, "%s %s/%d: frames claiming a shorter size fail", dn, tn, variant);

	/* a trailing byte inside the frame */
	memcpy(pre, buf, n);
	pre[n] = 0;
	p9put32(pre, (uint32_t)n + 1);
	r = gdecode(pre, n + 1, UINT32_MAX, d, &h);
	ok(r == P9_ETRAIL || r == P9_ECOUNT, "%s %s/%d: one byte too many is an error (%ld)", dn, tn, variant, r);

	/* encoder into a buffer one byte short writes nothing */
	smallok = 1;
	for(i = n > 8 ? n - 8 : 0; i < n; i++){
		memset(small, 0xEE, n + 16);
		if(p9encode(small, i, &f, d) != 0)
			smallok = 0;
		for(k = 0; k < n + 16; k++)
			if(small[k] != 0xEE)
				smallok = 0;
	}
	ok(smallok, "%s %s/%d: p9encode into a buffer too small returns 0, writes nothing", dn, tn, variant);

	/* fmt names it */
	{
		char line[512];
		int len;

		len = p9fmt(line, sizeof line, &f, d);
		ok((len > 0 && strncmp(line, tn, strlen(tn)) == 0 && strlen(line) == (size_t)len)
			|| (size_t)len >= sizeof line, "%s %s/%d: p9fmt: %s", dn, tn, variant, line);
	}
}

static void
testnames(void)
{
	int t, d, bad, i;

	is_int(p9dialect("9P2000", 6), P9_2000, "p9dialect 9P2000");
	is_int(p9dialect("9P2000.u", 8), P9_2000U, "p9dialect 9P2000.u");
	is_int(p9dialect("9P2000.L", 8), P9_2000L, "p9dialect 9P2000.L");
	is_int(p9dialect("9P2000.L", 6), P9_2000, "p9dialect counts bytes, not NULs");
	is_int(p9dialect("9P2000.U", 8), -1, "p9dialect is exact about case");
	is_int(p9dialect("9P2000.x", 8), -1, "p9dialect 9P2000.x");
	is_int(p9dialect("9P", 2), -1, "p9dialect 9P");
	is_int(p9dialect("", 0), -1, "p9dialect empty");
	is_int(p9dialect("unknown", 7), -1, "p9dialect unknown");
	for(i = 0; i < 3; i++){
		d = dialects[i];
		ok(p9dialectname(d) != NULL && p9dialect(p9dialectname(d), strlen(p9dialectname(d))) == d,
			"p9dialectname(%d) = %s names it back", d, p9dialectname(d));
	}
	ok(p9dialectname(3) == NULL && p9dialectname(-1) == NULL, "p9dialectname of no dialect is NULL");

	ok(strcmp(p9typename(Twalk), "Twalk") == 0, "p9typename Twalk");
	ok(strcmp(p9typename(Rlerror), "Rlerror") == 0, "p9typename Rlerror");
	ok(strcmp(p9typename(Runlinkat), "Runlinkat") == 0, "p9typename Runlinkat");
	ok(p9typename(Terror) == NULL && p9typename(Tlerror) == NULL, "Terror and Tlerror have no name");
	ok(p9typename(0) == NULL && p9typename(255) == NULL && p9typename(-1) == NULL
		&& p9typename(256) == NULL, "p9typename of nothing is NULL");

	for(i = 0; i < 3; i++){
		d = dialects[i];
		bad = 0;
		for(t = -1; t <= 256; t++){
			if(p9known(t, d) != expectknown(t, d)){
				diag("  type %d: p9known %d", t, p9known(t, d));
				bad++;
			}
			if(p9known(t, d) && p9typename(t) == NULL)
				bad++;
		}
		ok(bad == 0, "%s: p9known agrees with the manual for all types", p9dialectname(d));
	}
	ok(!p9known(Twalk, 3) && !p9known(Twalk, -1), "p9known of no dialect is 0");
	for(t = P9_ECOUNT; t <= 0; t++)
		ok(p9strerror(t) != NULL && *p9strerror(t) != 0, "p9strerror(%d): %s", t, p9strerror(t));
	ok(p9strerror(P9_EINVAL) != NULL, "p9strerror(P9_EINVAL)");

	ok(p9streq(p9str("abc"), "abc") && !p9streq(p9str("abc"), "ab")
		&& p9streq(p9str(NULL), "") && p9str(NULL).n == 0, "p9str and p9streq");
}

/* Build a frame: header, then body bytes. */
static size_t
frame(uint8_t *buf, int type, const uint8_t *body, size_t n)
{
	p9put32(buf, (uint32_t)(n + 7));
	buf[4] = (uint8_t)type;
	p9put16(buf + 5, 1);
	memcpy(buf + 7, body, n);
	return n + 7;
}

static void
testerrors(void)
{
	uint8_t b[600], body[600], st[128];
	Fcall f;
	P9dir dir;
	size_t n, sn;
	int i;

	/* size */
	memset(b, 0, sizeof b);
	p9put32(b, 6);
	b[4] = Tclunk;
	fails(b, 11, UINT32_MAX, P9_2000, P9_ESHORT, "size 6");
	p9put32(b, 0);
	fails(b, 4, UINT32_MAX, P9_2000, P9_ESHORT, "size 0, 4 bytes");
	is_int(p9frame(b, 4, UINT32_MAX), P9_ESHORT, "p9frame size 0");
	is_int(p9frame(b, 3, UINT32_MAX), P9_EINCOMPLETE, "p9frame 3 bytes");
	n = frame(b, Tclunk, (const uint8_t *)"\1\0\0\0", 4);
	fails(b, n, 10, P9_2000, P9_EBIG, "size 11 above msize 10");
	fails(b, n, 0, P9_2000, P9_EBIG, "msize 0 is no message at all");
	fails(b, 5, 10, P9_2000, P9_EBIG, "size above msize known from 4 bytes");
	is_int(p9frame(b, n, 11), 11, "p9frame size == msize");
	is_int(p9frame(b, n - 1, 11), P9_EINCOMPLETE, "p9frame incomplete");

	/* type */
	n = frame(b, Topen, (const uint8_t *)"\1\0\0\0\0", 5);
	fails(b, n, UINT32_MAX, P9_2000L, P9_ETYPE, "Topen in 9P2000.L");
	n = frame(b, Tstat, (const uint8_t *)"\1\0\0\0", 4);
	fails(b, n, UINT32_MAX, P9_2000L, P9_ETYPE, "Tstat in 9P2000.L");
	n = frame(b, Rerror, (const uint8_t *)"\1\0x", 3);
	fails(b, n, UINT32_MAX, P9_2000L, P9_ETYPE, "Rerror in 9P2000.L");
	n = frame(b, Rlerror, (const uint8_t *)"\1\0\0\0", 4);
	fails(b, n, UINT32_MAX, P9_2000, P9_ETYPE, "Rlerror in 9P2000");
	fails(b, n, UINT32_MAX, P9_2000U, P9_ETYPE, "Rlerror in 9P2000.u");
	n = frame(b, Tlopen, (const uint8_t *)"\1\0\0\0\0\0\0\0", 8);
	fails(b, n, UINT32_MAX, P9_2000U, P9_ETYPE, "Tlopen in 9P2000.u");
	for(i = 0; i < 3; i++){
		n = frame(b, Terror, (const uint8_t *)"", 0);
		fails(b, n, UINT32_MAX, dialects[i], P9_ETYPE, "Terror");
		n = frame(b, 0, (const uint8_t *)"", 0);
		fails(b, n, UINT32_MAX, dialects[i], P9_ETYPE, "type 0");
		n = frame(b, 255, (const uint8_t *)"", 0);
		fails(b, n, UINT32_MAX, dialects[i], P9_ETYPE, "type 255");
	}
	n = frame(b, Tclunk, (const uint8_t *)"\1\0\0\0", 4);
	fails(b, n, UINT32_MAX, 3, P9_ETYPE, "dialect 3 knows nothing");

	/* fields */
	n = frame(b, Tclunk, (const uint8_t *)"\1\0\0", 3);
	fails(b, n, UINT32_MAX, P9_2000, P9_EFIELD, "Tclunk fid cut short");
	n = frame(b, Tversion, (const uint8_t *)"\0\40\0\0\10\0" "9P2000", 12);
	fails(b, n, UINT32_MAX, P9_2000, P9_EFIELD, "Tversion string runs past the end");
	n = frame(b, Tclunk, (const uint8_t *)"\1\0\0\0\0", 5);
	fails(b, n, UINT32_MAX, P9_2000, P9_ETRAIL, "Tclunk with a trailing byte");
	n = frame(b, Rflush, (const uint8_t *)"\0", 1);
	fails(b, n, UINT32_MAX, P9_2000L, P9_ETRAIL, "Rflush with a trailing byte");

	/* NUL */
	n = frame(b, Tversion, (const uint8_t *)"\0\40\0\0\6\0" "9P\0" "000", 12);
	fails(b, n, UINT32_MAX, P9_2000, P9_ENUL, "Tversion string with a NUL");
	n = frame(b, Twalk, (const uint8_t *)"\1\0\0\0\2\0\0\0\2\0" "\1\0a" "\2\0b\0", 17);
	fails(b, n, UINT32_MAX, P9_2000, P9_ENUL, "Twalk name with a NUL");
	n = frame(b, Rerror, (const uint8_t *)"\1\0\0", 3);
	fails(b, n, UINT32_MAX, P9_2000, P9_ENUL, "Rerror ename NUL");

	/* nwname / nwqid */
	memset(body, 0, sizeof body);
	body[0] = 1;
	p9put16(body + 8, 17);
	for(i = 0; i < 17; i++){
		p9put16(body + 10 + 3 * i, 1);
		body[12 + 3 * i] = 'x';
	}
	n = frame(b, Twalk, body, 10 + 3 * 17);
	fails(b, n, UINT32_MAX, P9_2000, P9_ENWNAME, "Twalk nwname 17");
	p9put16(body + 8, 16);
	n = frame(b, Twalk, body, 10 + 3 * 17);
	fails(b, n, UINT32_MAX, P9_2000L, P9_ETRAIL, "Twalk nwname 16 with a 17th name");
	n = frame(b, Twalk, body, 10 + 3 * 16);
	is_int(p9decode(b, n, UINT32_MAX, P9_2000L, &f), n, "Twalk nwname 16 decodes");
	ok(f.nwname == 16 && p9streq(f.wname[15], "x"), "Twalk 16 names");
	memset(body, 0, sizeof body);
	p9put16(body, 17);
	n = frame(b, Rwalk, body, 2 + 13 * 17);
	fails(b, n, UINT32_MAX, P9_2000U, P9_ENWNAME, "Rwalk nwqid 17");
	p9put16(body, 2);
	n = frame(b, Rwalk, body, 2 + 13);
	fails(b, n, UINT32_MAX, P9_2000U, P9_EFIELD, "Rwalk nwqid 2 with one qid");

	/* counts */
	memset(body, 'd', sizeof body);
	p9put32(body, 11);
	n = frame(b, Rread, body, 4 + 10);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "Rread count past the end");
	p9put32(body, 9);
	n = frame(b, Rread, body, 4 + 10);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "Rread count short of the end");
	p9put32(body, 0xFFFFFFFFu);
	n = frame(b, Rread, body, 4 + 10);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "Rread count 2^32-1");
	p9put32(body, 10);
	n = frame(b, Rread, body, 4 + 10);
	is_int(p9decode(b, n, UINT32_MAX, P9_2000, &f), n, "Rread count 10 of 10 decodes");
	memset(body, 0, 12);
	p9put32(body + 12, 5);
	n = frame(b, Twrite, body, 16 + 4);
	fails(b, n, UINT32_MAX, P9_2000L, P9_ECOUNT, "Twrite count past the end");
	p9put32(body, 5);
	n = frame(b, Rreaddir, body, 4 + 3);
	fails(b, n, UINT32_MAX, P9_2000L, P9_ECOUNT, "Rreaddir count past the end");

	/* stat */
	dir = mkdir9(P9_2000);
	sn = p9direncode(st, sizeof st, &dir, P9_2000);
	ok(sn > 0, "stat encodes (%zu bytes)", sn);
	p9put16(body, (uint16_t)sn);
	memcpy(body + 2, st, sn);
	n = frame(b, Rstat, body, 2 + sn);
	is_int(p9decode(b, n, UINT32_MAX, P9_2000, &f), n, "Rstat decodes");
	fails(b, n, UINT32_MAX, P9_2000U, P9_EFIELD, "a 9P2000 stat in a 9P2000.u Rstat");
	p9put16(body, (uint16_t)sn + 1);
	n = frame(b, Rstat, body, 2 + sn);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "Rstat n past the end");
	p9put16(body, (uint16_t)sn - 1);
	n = frame(b, Rstat, body, 2 + sn);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "Rstat n short of the end");
	p9put16(body, (uint16_t)sn);
	p9put16(body + 2, (uint16_t)sn - 1);
	n = frame(b, Rstat, body, 2 + sn);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "stat size[2] above n-2");
	p9put16(body + 2, (uint16_t)sn - 3);
	n = frame(b, Rstat, body, 2 + sn);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "stat size[2] below n-2");
	p9put16(body + 2, (uint16_t)sn - 2);
	body[2 + 2 + 39 + 2] = 0;	/* the first byte of name */
	n = frame(b, Rstat, body, 2 + sn);
	fails(b, n, UINT32_MAX, P9_2000, P9_ENUL, "stat name with a NUL");
	body[2 + 2 + 39 + 2] = 'g';
	p9put16(body + 2 + 2 + 39, 200);	/* name length past the stat */
	n = frame(b, Rstat, body, 2 + sn);
	fails(b, n, UINT32_MAX, P9_2000, P9_EFIELD, "stat name past the end of the stat");
	p9put16(body + 2 + 2 + 39, 6);
	memset(body, 0, 4);
	p9put32(body, 3);
	p9put16(body + 4, (uint16_t)sn);
	memcpy(body + 6, st, sn);
	n = frame(b, Twstat, body, 6 + sn);
	is_int(p9decode(b, n, UINT32_MAX, P9_2000, &f), n, "Twstat decodes");
	p9put16(body + 6, (uint16_t)sn);
	n = frame(b, Twstat, body, 6 + sn);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "Twstat stat size[2] == n");
	p9put16(body + 4, 1);
	n = frame(b, Twstat, body, 6 + 1);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "Twstat n 1");
	p9put16(body + 4, 0);
	n = frame(b, Twstat, body, 6);
	fails(b, n, UINT32_MAX, P9_2000, P9_ECOUNT, "Twstat n 0");
	/* a stat with a byte more than its fields */
	memcpy(body + 2, st, sn);
	body[2 + sn] = 0;
	p9put16(body + 2, (uint16_t)sn - 1);
	p9put16(body, (uint16_t)sn + 1);
	n = frame(b, Rstat, body, 2 + sn + 1);
	fails(b, n, UINT32_MAX, P9_2000, P9_ETRAIL, "stat with a byte after muid");

	/* encoder refuses what it cannot say */
	sample(&f, Topen, P9_2000, 0);
	f.mode = 256;
	ok(p9size(&f, P9_2000) == 0 && p9encode(b, sizeof b, &f, P9_2000) == 0, "Topen mode 256 cannot be encoded");
	sample(&f, Twalk, P9_2000, 0);
	f.nwname = 17;
	ok(p9size(&f, P9_2000) == 0, "nwname 17 cannot be encoded");
	sample(&f, Rwalk, P9_2000, 0);
	f.nwqid = 17;
	ok(p9size(&f, P9_2000) == 0, "nwqid 17 cannot be encoded");
	sample(&f, Rerror, P9_2000, 0);
	f.ename.s = "a\0b";
	f.ename.n = 3;
	ok(p9size(&f, P9_2000) == 0, "a string with a NUL cannot be encoded");
	f.ename.s = NULL;
	f.ename.n = 3;
	ok(p9size(&f, P9_2000) == 0, "a NULL string of length 3 cannot be encoded");
	f.ename.n = 0;
	ok(p9size(&f, P9_2000) == 9, "a NULL empty string can");
	sample(&f, Rread, P9_2000, 0);
	f.data = NULL;
	ok(p9size(&f, P9_2000) == 0, "Rread with count and no data cannot be encoded");
	sample(&f, Rstat, P9_2000, 0);
	f.nstat = 1;
	ok(p9size(&f, P9_2000) == 0, "Rstat nstat 1 cannot be encoded");
	sample(&f, Rstat, P9_2000, 0);
	ok(p9size(&f, P9_2000U) == 0, "a 9P2000 stat cannot go in a 9P2000.u Rstat");
	sample(&f, Tlopen, P9_2000L, 0);
	ok(p9size(&f, P9_2000) == 0 && p9encode(b, sizeof b, &f, P9_2000U) == 0, "Tlopen cannot be encoded in 9P2000");
	f.type = Terror;
	ok(p9size(&f, P9_2000) == 0, "Terror cannot be encoded");
}

static void
testdir(void)
{
	uint8_t b[300], c[300];
	P9dir d, e, g;
	P9dirent de, df, dg;
	size_t n, k;
	long r;
	int i, dd, allok, sizeok;

	for(i = 0; i < 3; i++){
		dd = dialects[i];
		d = mkdir9(dd);
		n = p9dirsize(&d, dd);
		ok(n == p9direncode(b, sizeof b, &d, dd) && n > 0, "%s: p9dirsize == p9direncode (%zu)",
			p9dialectname(dd), n);
		ok(n == (dd == P9_2000U ? 2 + 39 + 8 + 5 + 2 + 8 + 5 + 12 : 2 + 39 + 8 + 5 + 2 + 8),
			"%s: stat length is as the manual says", p9dialectname(dd));
		ok(p9get16(b) == n - 2, "stat size[2] is n-2");
		memset(&e, 0, sizeof e);
		r = p9dirdecode(b, n, dd, &e);
		is_int(r, n, "%s: stat decodes", p9dialectname(dd));
		ok(dirdiff(&d, &e) == NULL, "%s: stat fields equal (%s)", p9dialectname(dd),
			dirdiff(&d, &e) ? dirdiff(&d, &e) : "");
		ok(p9direncode(c, sizeof c, &e, dd) == n && memcmp(b, c, n) == 0, "stat re-encodes byte for byte");
		is_int(p9dirdecode(b, n + 5, dd, &e), n, "stat decoding stops at its size");
		allok = 1;
		for(k = 0; k < n; k++){
			void *base;
			size_t ml;
			uint8_t *gc;

			memset(&g, 0x77, sizeof g);
			memcpy(&e, &g, sizeof e);
			gc = guardcopy(b, k, &base, &ml);
			r = p9dirdecode(gc, k, dd, &e);
			guardfree(base, ml);
			if(r >= 0 || memcmp(&e, &g, sizeof e) != 0)
				allok = 0;
		}
		ok(allok, "%s: every prefix of a stat fails, output untouched", p9dialectname(dd));
		sizeok = 1;
		for(k = 2; k < n; k++){
			memcpy(c, b, k);
			p9put16(c, (uint16_t)(k - 2));
			if(p9dirdecode(c, k, dd, &e) >= 0)
				sizeok = 0;
		}
		ok(sizeok, "%s: a stat whose size claims fewer bytes fails", p9dialectname(dd));
		sizeok = 1;
		for(k = 0; k < n; k++){
			memset(c, 0xEE, sizeof c);
			if(p9direncode(c, k, &d, dd) != 0)
				sizeok = 0;
			for(size_t j = 0; j < sizeof c; j++)
				if(c[j] != 0xEE)
					sizeok = 0;
		}
		ok(sizeok, "%s: p9direncode into a small buffer returns 0 and writes nothing", p9dialectname(dd));
	}
	d = mkdir9(P9_2000);
	d.name.s = "a\0b";
	d.name.n = 3;
	ok(p9dirsize(&d, P9_2000) == 0, "a stat name with a NUL cannot be encoded");

	de.qid = mkqid(9);
	de.offset = 0x0A0B0C0D0E0F0001ull;
	de.type = 4;
	de.name = p9str("entry");
	n = p9direntsize(&de);
	is_int(n, 13 + 8 + 1 + 2 + 5, "p9direntsize");
	is_int(p9direntencode(b, sizeof b, &de), n, "p9direntencode");
	ok(b[0] == de.qid.type && p9get64(b + 13) == de.offset && b[21] == 4 && p9get16(b + 22) == 5
		&& memcmp(b + 24, "entry", 5) == 0, "dirent layout qid offset[8] type[1] name[s]");
	memset(&df, 0, sizeof df);
	is_int(p9direntdecode(b, n, &df), n, "p9direntdecode");
	ok(qideq(df.qid, de.qid) && df.offset == de.offset && df.type == de.type && streq(df.name, de.name),
		"dirent fields equal");
	/* two entries back to back, as in Rreaddir */
	memcpy(b + n, b, n);
	is_int(p9direntdecode(b + n, n, &df), n, "second dirent decodes");
	is_int(p9direntdecode(b, 2 * n, &df), n, "dirent decoding stops at its end");
	allok = 1;
	for(k = 0; k < n; k++){
		void *base;
		size_t ml;
		uint8_t *gc;

		memset(&dg, 0x33, sizeof dg);
		memcpy(&df, &dg, sizeof df);
		gc = guardcopy(b, k, &base, &ml);
		r = p9direntdecode(gc, k, &df);
		guardfree(base, ml);
		if(r != P9_EFIELD || memcmp(&df, &dg, sizeof df) != 0)
			allok = 0;
	}
	ok(allok, "every prefix of a dirent is P9_EFIELD, output untouched");
	b[24] = 0;
	ok(p9direntdecode(b, n, &df) == P9_ENUL, "dirent name with a NUL");
	memset(c, 0xEE, sizeof c);
	ok(p9direntencode(c, n - 1, &de) == 0 && c[0] == 0xEE, "p9direntencode into a small buffer returns 0");
}

static void
testfmt(void)
{
	char line[256];
	Fcall f;
	int n;

	memset(&f, 0, sizeof f);
	f.type = Tread;
	f.tag = 3;
	f.fid = 7;
	f.count = 8192;
	n = p9fmt(line, sizeof line, &f, P9_2000);
	ok(strcmp(line, "Tread tag 3 fid 7 offset 0 count 8192") == 0, "fmt Tread: %s", line);
	is_int(n, strlen(line), "fmt returns the length");

	memset(&f, 0, sizeof f);
	f.type = Twalk;
	f.tag = 1;
	f.newfid = 1;
	f.nwname = 2;
	f.wname[0] = p9str("usr");
	f.wname[1] = p9str("glenda");
	p9fmt(line, sizeof line, &f, P9_2000L);
	ok(strcmp(line, "Twalk tag 1 fid 0 newfid 1 nwname 2 'usr' 'glenda'") == 0, "fmt Twalk: %s", line);

	memset(&f, 0, sizeof f);
	f.type = Rerror;
	f.tag = 2;
	f.ename = p9str("file not found");
	p9fmt(line, sizeof line, &f, P9_2000);
	ok(strcmp(line, "Rerror tag 2 ename 'file not found'") == 0, "fmt Rerror: %s", line);
	f.errnum = 2;
	p9fmt(line, sizeof line, &f, P9_2000U);
	ok(strcmp(line, "Rerror tag 2 ename 'file not found' errno 2") == 0, "fmt Rerror .u: %s", line);

	f.ename.s = "a\nb'\\\x01\xff";
	f.ename.n = 7;
	p9fmt(line, sizeof line, &f, P9_2000);
	ok(strcmp(line, "Rerror tag 2 ename 'a\\nb\\'\\\\\\x01\\xff'") == 0, "fmt escapes: %s", line);

	f.ename.s = NULL;
	f.ename.n = 5;
	p9fmt(line, sizeof line, &f, P9_2000);
	ok(strcmp(line, "Rerror tag 2 ename ''") == 0, "fmt a NULL string as empty: %s", line);

	memset(&f, 0, sizeof f);
	f.type = Rread;
	f.tag = 4;
	f.count = 5;
	f.data = (const uint8_t *)"hello";
	p9fmt(line, sizeof line, &f, P9_2000);
	ok(strcmp(line, "Rread tag 4 count 5") == 0, "fmt data as a count: %s", line);

	memset(&f, 0, sizeof f);
	f.type = Tattach;
	f.afid = P9_NOFID;
	f.uname = p9str("glenda");
	p9fmt(line, sizeof line, &f, P9_2000);
	ok(strstr(line, "afid NOFID") != NULL, "fmt NOFID: %s", line);

	memset(&f, 0, sizeof f);
	f.type = Tread;
	f.tag = 3;
	f.fid = 7;
	f.count = 8192;
	memset(line, 'X', sizeof line);
	n = p9fmt(line, 10, &f, P9_2000);
	ok(n == 37 && strcmp(line, "Tread tag") == 0 && line[10] == 'X', "fmt truncates, NUL-terminated, counts all");
	line[0] = 'X';
	n = p9fmt(line, 0, &f, P9_2000);
	ok(n == 37 && line[0] == 'X', "fmt with len 0 writes nothing");
	n = p9fmt(NULL, 0, &f, P9_2000);
	is_int(n, 37, "fmt into NULL counts");
	f.type = Tlopen;
	p9fmt(line, sizeof line, &f, P9_2000);
	ok(strstr(line, "Tlopen") != NULL, "fmt a type the dialect lacks: %s", line);
	f.type = 3;
	p9fmt(line, sizeof line, &f, P9_2000);
	ok(strstr(line, "3") != NULL, "fmt an unknown type: %s", line);
}

int
main(void)
{
	P9dir d;
	int i, t, v;

	tap_start(120);
	for(i = 0; i < 256; i++)
		databuf[i] = (uint8_t)i;
	for(i = 256; i < (int)sizeof databuf; i++)
		databuf[i] = (uint8_t)(i * 31);
	d = mkdir9(P9_2000);
	statlen[0] = p9direncode(statbuf[0], sizeof statbuf[0], &d, P9_2000);
	d = mkdir9(P9_2000U);
	statlen[1] = p9direncode(statbuf[1], sizeof statbuf[1], &d, P9_2000U);

	testnames();
	for(i = 0; i < 3; i++)
		for(t = 0; t < 256; t++)
			if(expectknown(t, dialects[i]))
				for(v = 0; v < 2; v++)
					roundtrip(t, dialects[i], v);
	diag("%d messages round-tripped", nmsg);
	testerrors();
	testdir();
	testfmt();
	return done_testing();
}
