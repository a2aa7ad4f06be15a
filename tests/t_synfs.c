/*
 * t_synfs: libsynfs driven directly, frames in and frames out, over a
 * small synthetic tree whose clients/ directory changes under the
 * client: every message of 9P2000 and of 9P2000.L, the rules of walk,
 * open, read and write, limits, and bad input.
 */
#include "tap.h"
#include "p9conv.h"
#include "synfs.h"

enum {
	RQID	= 1,
	QVERSION = 2, QSTATS, QCTL, QECHO, QBIG, QCLIENTS, QSECRET, QHUGE, QFAIL, QDEEP, QLONG, QCLOSED,
	QCLIENT	= 100,	/* client N: 100 + 10N, its addr +1 */
	BIGLEN	= 100000,
	MAXSNAP	= 256 * 1024,
};

/* The tree: what the callbacks serve and saw. */
static struct {
	int	present[10];	/* clients/N exists */
	char	echo[256];
	char	last[512];	/* the last write's text */
	size_t	lastn;
	int	lastnul;	/* it came NUL-terminated */
	int	opens;		/* read callbacks of stats */
	int	lists;
	char	lastwant[300];
	int	wout, win;	/* wake calls */
	int	tin, rout;	/* trace calls */
} S;

static char longname[256];

static int
tlist(void *aux, const char *path, const char *want, Synlist *l)
{
	char name[16];
	int i, n;

	(void)aux;
	S.lists++;
	snprintf(S.lastwant, sizeof S.lastwant, "%s", want ? want : "(all)");
	if(strcmp(path, "/") == 0){
		synadd(l, "version", QVERSION, 0444);
		synadd(l, "stats", QSTATS, 0444);
		synadd(l, "ctl", QCTL, 0220);
		synadd(l, "echo", QECHO, 0644);
		synadd(l, "big", QBIG, 0444);
		synadd(l, "clients", QCLIENTS, P9_DMDIR | 0555);
		synadd(l, "secret", QSECRET, 0);
		synadd(l, "huge", QHUGE, 0444);
		synadd(l, "failing", QFAIL, 0444);
		synadd(l, "deep", QDEEP, P9_DMDIR | 0555);
		synadd(l, longname, QLONG, 0444);
		synadd(l, "closed", QCLOSED, P9_DMDIR);
		return 0;
	}
	if(strcmp(path, "/clients") == 0){
		for(i = 0; i < 10; i++)
			if(S.present[i]){
				snprintf(name, sizeof name, "%d", i);
				synadd(l, name, QCLIENT + 10 * (uint64_t)i, P9_DMDIR | 0555);
			}
		return 0;
	}
	if(strncmp(path, "/clients/", 9) == 0){
		n = atoi(path + 9);
		if(n < 0 || n >= 10 || !S.present[n] || strchr(path + 9, '/') != NULL)
			return -1;
		synadd(l, "addr", QCLIENT + 10 * (uint64_t)n + 1, 0444);
		return 0;
	}
	/* deep/d/d/d/...: as deep as anyone walks */
	if(strncmp(path, "/deep", 5) == 0 && (path[5] == 0 || path[5] == '/')){
		synadd(l, "d", QDEEP, P9_DMDIR | 0555);
		return 0;
	}
	return -1;
}

static const char *
tread(void *aux, const char *path, uint64_t qid, Synbuf *b)
{
	char blk[4096];
	int i;

	(void)aux;
	switch(qid){
	case QVERSION:
		synprint(b, "synfs test\n");
		return NULL;
	case QSTATS:
		synprint(b, "opens %d\n", ++S.opens);
		return NULL;
	case QECHO:
		synput(b, S.echo, strlen(S.echo));
		return NULL;
	case QBIG:
		for(i = 0; i < BIGLEN / 10; i++)
			synprint(b, "%09d\n", i);
		return NULL;
	case QHUGE:
		memset(blk, 'h', sizeof blk);
		while(synput(b, blk, sizeof blk) == 0)
			;
		return NULL;
	case QFAIL:
		return "it broke";
	}
	synprint(b, "unix!/tmp/%s\n", path);
	return NULL;
}

static const char *
twrite(void *aux, const char *path, uint64_t qid, const char *text, size_t n)
{
	static char err[600];
	int k;

	(void)aux;
	(void)path;
	if(n >= sizeof S.last)
		return "too long";
	memcpy(S.last, text, n);
	S.last[n] = 0;
	S.lastn = n;
	S.lastnul = text[n] == 0;
	if(qid == QECHO){
		snprintf(S.echo, sizeof S.echo, "%s", text);
		return NULL;
	}
	if(sscanf(text, "add %d", &k) == 1 && k >= 0 && k < 10){
		S.present[k] = 1;
		return NULL;
	}
	if(sscanf(text, "del %d", &k) == 1 && k >= 0 && k < 10){
		S.present[k] = 0;
		return NULL;
	}
	snprintf(err, sizeof err, "bad command: %s", text);
	return err;
}

static void
twake(void *aux, int what)
{
	(void)aux;
	if(what == SYN_WOUT)
		S.wout++;
	if(what == SYN_WIN)
		S.win++;
}

static void
ttrace(void *aux, int where, const uint8_t *f, size_t n, int d)
{
	(void)aux;
	(void)f;
	(void)n;
	(void)d;
	if(where == SYN_TIN)
		S.tin++;
	else
		S.rout++;
}

/* ---- the connection under test ---- */

static Synfs *fs;
static Synconn *cn;
static int dial = P9_2000;
static uint8_t acc[1 << 21];
static size_t nacc;
static uint8_t rframe[1 << 20];
static Fcall R;
static char errbuf[256];
static int oversize;	/* replies larger than the connection's msize */

static void
drain(void)
{
	struct iovec iov[16];
	Synq *q;
	size_t tot;
	int i, n;

	q = synconnq(cn);
	while((n = synqiov(q, iov, 16)) > 0){
		tot = 0;
		for(i = 0; i < n; i++){
			memcpy(acc + nacc, iov[i].iov_base, iov[i].iov_len);
			nacc += iov[i].iov_len;
			tot += iov[i].iov_len;
		}
		synqadvance(q, tot);
	}
}

/* The next reply into R: its type, or -1 when there is none or it does not decode. */
static int
next(void)
{
	uint32_t size;

	drain();
	memset(&R, 0, sizeof R);
	if(nacc < 4)
		return -1;
	size = p9get32(acc);
	if(size > nacc || size < P9_HDRSZ)
		return -1;
	if(size > synconnmsize(cn))
		oversize++;
	memcpy(rframe, acc, size);
	memmove(acc, acc + size, nacc - size);
	nacc -= size;
	if(p9decode(rframe, size, UINT32_MAX, dial, &R) != (long)size)
		return -1;
	return R.type;
}

static long
feed(const void *p, size_t n)
{
	errbuf[0] = 0;
	return synconnin(cn, p, n, errbuf, sizeof errbuf);
}

/* Send t encoded in dialect d and take its one reply: the reply's type, or < 0. */
static int
rpcd(const Fcall *t, int d)
{
	static uint8_t buf[1 << 17];
	size_t n;

	n = p9encode(buf, sizeof buf, t, d);
	if(n == 0 || feed(buf, n) != (long)n)
		return -2;
	return next();
}

static int
rpc(const Fcall *t)
{
	return rpcd(t, dial);
}

static int
version(uint32_t msize, const char *v)
{
	Fcall t;

	pc_mkversion(&t, msize, v);
	return rpc(&t);
}

static int
attach(uint32_t fid)
{
	Fcall t;

	pc_mkattach(&t, 1, fid, "glenda");
	return rpc(&t);
}

static int
walk(uint32_t fid, uint32_t newfid, const char *path)
{
	Fcall t;

	pc_mkwalk(&t, 2, fid, newfid, path);
	return rpc(&t);
}

static int
fidop(int type, uint32_t fid)
{
	Fcall t;

	pc_mkfid(&t, type, 3, fid);
	return rpc(&t);
}

static int
openf(uint32_t fid, uint32_t mode)
{
	Fcall t;

	pc_mkfid(&t, dial == P9_2000L ? Tlopen : Topen, 4, fid);
	t.mode = mode;
	t.flags = mode;
	return rpc(&t);
}

static int
readf(uint32_t fid, uint64_t off, uint32_t count)
{
	Fcall t;

	pc_mkread(&t, 5, fid, off, count);
	return rpc(&t);
}

static int
writef(uint32_t fid, const char *s)
{
	Fcall t;

	pc_mkfid(&t, Twrite, 6, fid);
	t.data = (const uint8_t *)s;
	t.count = (uint32_t)strlen(s);
	return rpc(&t);
}

static int
rerr(int type, const char *want, const char *what)
{
	int good;

	good = type == Rerror && p9streq(R.ename, want);
	if(!ok(good, "%s: \"%s\"", what, want)){
		if(type == Rerror)
			diag("  got Rerror \"%.*s\"", R.ename.n, R.ename.s);
		else
			diag("  got type %d", type);
	}
	return good;
}

static int
lerr(int type, uint32_t want, const char *what)
{
	int good;

	good = type == Rlerror && R.errnum == want;
	if(!ok(good, "%s: Rlerror %u", what, want))
		diag("  got type %d errnum %u", type, type == Rlerror ? R.errnum : 0);
	return good;
}

/* The whole file open on fid, read count bytes at a time, into out: its length, or -1. */
static long
readall(uint32_t fid, uint32_t count, char *out, size_t max)
{
	uint64_t off;

	off = 0;
	for(;;){
		if(readf(fid, off, count) != Rread)
			return -1;
		if(R.count == 0)
			return (long)off;
		if(R.count > max - off)
			return -1;
		memcpy(out + off, R.data, R.count);
		off += R.count;
	}
}

/* Names of the packed 9P2000 stat entries in R's data appended to out, space-separated: their number, or -1. */
static int
statnames(char *out, size_t max)
{
	P9dir d;
	size_t off;
	long n;
	int k;

	k = 0;
	for(off = 0; off < R.count; off += (size_t)n){
		n = p9dirdecode(R.data + off, R.count - off, P9_2000, &d);
		if(n <= 0)
			return -1;
		snprintf(out + strlen(out), max - strlen(out), "%s%.*s", *out ? " " : "", d.name.n, d.name.s);
		k++;
	}
	return k;
}

static void
startconn(Synconf *conf)
{
	Synconf c;

	if(conf == NULL){
		memset(&c, 0, sizeof c);
		conf = &c;
	}
	conf->list = tlist;
	conf->read = tread;
	conf->write = twrite;
	conf->rootqid = RQID;
	conf->wake = twake;
	conf->trace = ttrace;
	if(conf->maxsnap == 0)
		conf->maxsnap = MAXSNAP;
	fs = synnew(conf);
	cn = synconnnew(fs, NULL);
	dial = P9_2000;
	nacc = 0;
}

static void
stopconn(void)
{
	synfree(fs);
	fs = NULL;
	cn = NULL;
}

/* ---- 9P2000 ---- */

static void
t_version(void)
{
	Fcall t;
	int r;

	startconn(NULL);
	rerr(attach(1), "version not negotiated", "Tattach before Tversion");
	rerr(version(100, "9P2000"), "msize too small", "Tversion msize 100");
	r = version(1 << 20, "9P2000");
	ok(r == Rversion && p9streq(R.version, "9P2000") && R.msize == 65536,
		"Tversion 9P2000 msize 1 MiB: Rversion 9P2000, msize 65536 (the server's)");
	is_int(synconnmsize(cn), 65536, "the connection's msize is 65536");
	r = version(8192, "9P2000.u");
	ok(r == Rversion && p9streq(R.version, "9P2000") && R.msize == 8192, "9P2000.u: 9P2000, msize 8192 (the client's)");
	r = version(8192, "9P2000.foo");
	ok(r == Rversion && p9streq(R.version, "9P2000"), "9P2000.foo: 9P2000");
	r = version(8192, "9P1999");
	ok(r == Rversion && p9streq(R.version, "unknown"), "9P1999: unknown");
	rerr(attach(1), "version not negotiated", "no session after unknown");
	r = version(8192, "9P2000x");
	ok(r == Rversion && p9streq(R.version, "unknown"), "9P2000x (another version, not an extension): unknown");
	r = version(8192, "");
	ok(r == Rversion && p9streq(R.version, "unknown"), "empty version: unknown");
	r = version(8192, "9P2000.L");
	ok(r == Rversion && p9streq(R.version, "9P2000.L"), "9P2000.L: 9P2000.L");
	dial = P9_2000L;
	r = version(8192, "9P2000");
	dial = P9_2000;
	ok(r == Rversion && p9streq(R.version, "9P2000"), "back to 9P2000");
	/* a Tversion ends the session: its fids are gone */
	is_int(attach(1), Rattach, "Tattach fid 1");
	is_int(walk(1, 2, "version"), Rwalk, "Twalk 1 2 version");
	is_int(openf(2, P9_OREAD), Ropen, "Topen 2");
	version(8192, "9P2000");
	rerr(fidop(Tclunk, 1), "unknown fid", "fid 1 gone after Tversion");
	rerr(fidop(Tclunk, 2), "unknown fid", "fid 2 (open) gone after Tversion");
	/* the tag of Tversion need not be NOTAG; replies carry the request's tag */
	pc_mkversion(&t, 8192, "9P2000");
	t.tag = 77;
	r = rpc(&t);
	ok(r == Rversion && R.tag == 77, "Tversion tag 77: Rversion tag 77");
	stopconn();
}

static void
t_attach(void)
{
	Fcall t;
	int r;

	startconn(NULL);
	version(8192, "9P2000");
	pc_mkattach(&t, 1, 5, "glenda");
	t.type = Tauth;
	t.afid = 5;
	rerr(rpc(&t), "authentication not required", "Tauth");
	r = attach(1);
	ok(r == Rattach && R.qid.type == P9_QTDIR && R.qid.path == RQID, "Tattach: the root's qid (dir, path %d)", RQID);
	rerr(attach(1), "fid already in use", "Tattach to a fid in use");
	rerr(attach(P9_NOFID), "invalid fid number", "Tattach fid NOFID");
	pc_mkattach(&t, 1, 2, "glenda");
	t.afid = 9;
	rerr(rpc(&t), "authentication not required", "Tattach with an afid");
	pc_mkattach(&t, 1, 3, "");
	t.aname = p9str("ctl");
	is_int(rpc(&t), Rattach, "Tattach aname ctl: the root too");
	pc_mkfid(&t, Tflush, 9, 0);
	t.oldtag = 4;
	r = rpc(&t);
	ok(r == Rflush && R.tag == 9, "Tflush: Rflush at once, tag 9");
	stopconn();
}

static void
t_walk(void)
{
	int r, i;
	char path[200];

	startconn(NULL);
	memset(S.present, 0, sizeof S.present);
	S.present[3] = 1;
	version(8192, "9P2000");
	attach(1);
	r = walk(1, 2, "");
	ok(r == Rwalk && R.nwqid == 0, "Twalk of no names clones");
	is_int(fidop(Tclunk, 2), Rclunk, "the clone is a fid");
	r = walk(1, 2, "version");
	ok(r == Rwalk && R.nwqid == 1 && R.wqid[0].path == QVERSION && R.wqid[0].type == P9_QTFILE, "Twalk version: its qid");
	ok(!strcmp(S.lastwant, "version"), "the list callback was asked for that name only");
	r = walk(1, 3, "clients/3/addr");
	ok(r == Rwalk && R.nwqid == 3 && R.wqid[0].path == QCLIENTS && R.wqid[0].type == P9_QTDIR
		&& R.wqid[1].path == QCLIENT + 30 && R.wqid[2].path == QCLIENT + 31,
		"Twalk clients/3/addr: three qids");
	rerr(walk(1, 4, "nothere"), "file does not exist", "Twalk to a missing name");
	rerr(walk(1, 3, "version"), "fid already in use", "Twalk to a newfid in use");
	r = walk(1, 4, "clients/9/addr");
	ok(r == Rwalk && R.nwqid == 1 && R.wqid[0].path == QCLIENTS, "short walk clients/9/addr: Rwalk of one qid");
	rerr(fidop(Tclunk, 4), "unknown fid", "a short walk creates no newfid");
	rerr(walk(2, 4, "x"), "not a directory", "Twalk from a file");
	r = walk(1, 4, "clients/3/addr/x");
	ok(r == Rwalk && R.nwqid == 3, "Twalk through a file: short, three qids");
	rerr(walk(9, 4, "version"), "unknown fid", "Twalk from an unknown fid");
	rerr(walk(1, P9_NOFID, "version"), "invalid fid number", "Twalk to newfid NOFID");
	/* newfid == fid moves the fid, on success only */
	walk(1, 5, "clients");
	r = walk(5, 5, "3/nothere");
	ok(r == Rwalk && R.nwqid == 1, "Twalk 5 5 3/nothere: short");
	r = walk(5, 6, "3");
	ok(r == Rwalk && R.nwqid == 1 && R.wqid[0].path == QCLIENT + 30, "fid 5 is still clients after a short walk in place");
	r = walk(5, 5, "3");
	ok(r == Rwalk && R.nwqid == 1, "Twalk 5 5 3: moved");
	r = walk(5, 7, "addr");
	ok(r == Rwalk && R.wqid[0].path == QCLIENT + 31, "fid 5 is now clients/3");
	/* dot-dot */
	r = walk(5, 8, "..");
	ok(r == Rwalk && R.nwqid == 1 && R.wqid[0].path == QCLIENTS, "Twalk .. from clients/3: clients");
	r = walk(8, 9, "../..");
	ok(r == Rwalk && R.nwqid == 2 && R.wqid[0].path == RQID && R.wqid[1].path == RQID, "Twalk ../.. from clients: the root twice");
	r = walk(1, 10, "clients/../version");
	ok(r == Rwalk && R.nwqid == 3 && R.wqid[2].path == QVERSION, "Twalk clients/../version");
	for(i = 0; i < 3 && fidop(Tclunk, (uint32_t)(6 + i)) == Rclunk; i++)
		;
	fidop(Tclunk, 10);
	/* 16 names at most */
	snprintf(path, sizeof path, "deep");
	for(i = 1; i < 16; i++)
		strcat(path, "/d");
	r = walk(1, 11, path);
	ok(r == Rwalk && R.nwqid == 16, "Twalk of 16 names");
	{
		/* 17 names: the encoder will not, so by hand */
		uint8_t f[256];
		size_t n;

		p9put32(f, 0);
		f[4] = Twalk;
		p9put16(f + 5, 12);
		p9put32(f + 7, 1);
		p9put32(f + 11, 12);
		p9put16(f + 15, 17);
		n = 17;
		for(i = 0; i < 17; i++){
			p9put16(f + n, 1);
			f[n + 2] = 'd';
			n += 3;
		}
		p9put32(f, (uint32_t)n);
		is_int(feed(f, n), (long)n, "Twalk of 17 names: consumed");
		r = next();
		rerr(r, "malformed Twalk: more than 16 walk elements", "Twalk of 17 names");
		rerr(fidop(Tclunk, 12), "unknown fid", "it made no fid");
	}
	/* a path longer than the library keeps */
	for(i = 0; i < 600; i++)
		if((r = walk(11, 11, "d")) != Rwalk)
			break;
	rerr(r, "file name too long", "walking deep/d/d/... past 1024 bytes");
	r = walk(11, 12, "..");
	ok(r == Rwalk && R.nwqid == 1 && R.wqid[0].path == QDEEP, "and back up from there");
	/* a fid that is open cannot walk */
	walk(1, 13, "version");
	openf(13, P9_OREAD);
	rerr(walk(13, 14, ""), "fid already open", "Twalk from an open fid");
	/* vanished entries */
	r = walk(1, 20, "clients/3");
	ok(r == Rwalk && R.nwqid == 2, "fid 20 at clients/3");
	S.present[3] = 0;
	rerr(walk(20, 21, "addr"), "file does not exist", "Twalk from clients/3 after it went away");
	r = walk(1, 21, "clients/3");
	ok(r == Rwalk && R.nwqid == 1, "Twalk to clients/3 after it went away: short, at clients");
	rerr(openf(20, P9_OREAD), "file does not exist", "Topen of the vanished directory");
	r = walk(20, 21, "..");
	ok(r == Rwalk && R.nwqid == 1 && R.wqid[0].path == QCLIENTS, "Twalk .. from the vanished clients/3: clients, still there");
	stopconn();
}

static void
t_open(void)
{
	int r;

	startconn(NULL);
	version(8192, "9P2000");
	attach(1);
	walk(1, 2, "version");
	r = openf(2, P9_OREAD);
	ok(r == Ropen && R.qid.path == QVERSION && R.iounit == 8192 - 24, "Topen version OREAD: its qid, iounit msize-24");
	rerr(openf(2, P9_OREAD), "fid already open", "Topen twice");
	walk(1, 3, "version");
	rerr(openf(3, P9_OWRITE), "permission denied", "Topen of a read-only file for writing");
	rerr(openf(3, P9_ORDWR), "permission denied", "... for reading and writing");
	rerr(openf(3, P9_OREAD | P9_OTRUNC), "permission denied", "... OREAD|OTRUNC");
	rerr(openf(3, P9_OEXEC), "permission denied", "... OEXEC");
	rerr(openf(3, P9_OREAD | P9_ORCLOSE), "permission denied", "... ORCLOSE (nothing can be removed)");
	is_int(openf(3, P9_OREAD), Ropen, "the failed opens left it closed: Topen OREAD works");
	walk(1, 4, "ctl");
	rerr(openf(4, P9_OREAD), "permission denied", "Topen of write-only ctl for reading");
	rerr(openf(4, P9_ORDWR), "permission denied", "... for reading and writing");
	is_int(openf(4, P9_OWRITE | P9_OTRUNC), Ropen, "Topen ctl OWRITE|OTRUNC");
	walk(1, 5, "echo");
	is_int(openf(5, P9_ORDWR | P9_OTRUNC), Ropen, "Topen of read-write echo ORDWR|OTRUNC");
	walk(1, 6, "");
	rerr(openf(6, P9_OWRITE), "is a directory", "Topen of a directory for writing");
	rerr(openf(6, P9_OREAD | P9_OTRUNC), "is a directory", "... OREAD|OTRUNC");
	r = openf(6, P9_OREAD);
	ok(r == Ropen && R.qid.type == P9_QTDIR, "Topen of a directory OREAD");
	walk(1, 7, "secret");
	rerr(openf(7, P9_OREAD), "permission denied", "Topen of a mode 0 file");
	walk(1, 8, "failing");
	rerr(openf(8, P9_OREAD), "it broke", "Topen of a file whose read callback fails: its error");
	walk(1, 9, "huge");
	rerr(openf(9, P9_OREAD), "file larger than the snapshot limit", "Topen of a file over the snapshot limit");
	walk(1, 10, "closed");
	rerr(openf(10, P9_OREAD), "permission denied", "Topen of a mode 0 directory");
	rerr(openf(99, P9_OREAD), "unknown fid", "Topen of an unknown fid");
	stopconn();
}

static void
t_read(void)
{
	static char big[BIGLEN + 10], want[BIGLEN + 10];
	long n;
	int i, r, ok1;

	startconn(NULL);
	version(8192, "9P2000");
	attach(1);
	walk(1, 2, "version");
	rerr(readf(2, 0, 100), "fid not open for reading", "Tread of a fid not open");
	openf(2, P9_OREAD);
	r = readf(2, 0, 100);
	ok(r == Rread && R.count == 11 && !memcmp(R.data, "synfs test\n", 11), "Tread version: the text");
	r = readf(2, 6, 3);
	ok(r == Rread && R.count == 3 && !memcmp(R.data, "tes", 3), "Tread offset 6 count 3: tes");
	r = readf(2, 11, 100);
	ok(r == Rread && R.count == 0, "Tread at the end: 0 bytes");
	r = readf(2, 1000, 100);
	ok(r == Rread && R.count == 0, "Tread past the end: 0 bytes");
	r = readf(2, UINT64_MAX, 100);
	ok(r == Rread && R.count == 0, "Tread at offset 2^64-1: 0 bytes");
	r = readf(2, 3, 0);
	ok(r == Rread && R.count == 0, "Tread count 0: 0 bytes");
	/* big: counts cut to msize */
	walk(1, 3, "big");
	openf(3, P9_OREAD);
	r = readf(3, 0, 1 << 20);
	ok(r == Rread && R.count == 8192 - 11, "Tread count 1 MiB at msize 8192: %u bytes", 8192 - 11);
	for(i = 0; i < BIGLEN / 10; i++)
		snprintf(want + 10 * i, 11, "%09d\n", i);
	n = readall(3, 1000, big, sizeof big);
	ok(n == BIGLEN && !memcmp(big, want, BIGLEN), "big read 1000 bytes at a time: %ld bytes, all right", n);
	r = readf(3, 54321, 9);
	ok(r == Rread && R.count == 9 && !memcmp(R.data, want + 54321, 9), "Tread at any offset");
	/* a snapshot is taken at open */
	walk(1, 4, "stats");
	walk(1, 5, "stats");
	openf(4, P9_OREAD);
	readf(4, 0, 100);
	ok1 = R.count > 0 && pc_has((const char *)R.data, R.count, "opens 1");
	openf(5, P9_OREAD);
	readf(5, 0, 100);
	ok(ok1 && pc_has((const char *)R.data, R.count, "opens 2"), "each open of stats takes a new snapshot");
	readf(4, 0, 100);
	ok(pc_has((const char *)R.data, R.count, "opens 1"), "the first open still reads its own");
	is_int(S.opens, 2, "the read callback ran once per open");
	/* a file open for writing only has no snapshot to read */
	walk(1, 6, "ctl");
	openf(6, P9_OWRITE);
	rerr(readf(6, 0, 10), "fid not open for reading", "Tread of ctl open OWRITE");
	rerr(readf(77, 0, 10), "unknown fid", "Tread of an unknown fid");
	stopconn();
}

static void
t_dirread(void)
{
	char names[4096];
	uint64_t off;
	int r, k, total;

	startconn(NULL);
	memset(S.present, 0, sizeof S.present);
	S.present[1] = S.present[4] = 1;
	version(8192, "9P2000");
	attach(1);
	walk(1, 2, "");
	rerr(readf(2, 0, 8192), "fid not open for reading", "Tread of a directory not open");
	openf(2, P9_OREAD);
	r = readf(2, 0, 8192);
	names[0] = 0;
	k = statnames(names, sizeof names);
	ok(r == Rread && k == 12, "Tread of / at 0: 12 whole stat entries");
	ok(pc_has(names, strlen(names), "version stats ctl echo big clients secret huge failing deep"),
		"  names in the caller's order: %.60s...", names);
	off = R.count;
	r = readf(2, off, 8192);
	ok(r == Rread && R.count == 0, "Tread where the last ended: 0 bytes, the end");
	r = readf(2, 0, 8192);
	ok(r == Rread && R.count == off, "Tread at 0 again: from the start");
	rerr(readf(2, 1, 8192), "bad offset in directory read", "Tread at offset 1");
	rerr(readf(2, off + 5, 8192), "bad offset in directory read", "Tread past where the last ended");
	rerr(readf(2, 0, 20), "count too small for a directory entry", "Tread count 20");
	/* entry by entry: offsets follow */
	readf(2, 0, 80);
	k = statnames((names[0] = 0, names), sizeof names);
	ok(k == 1 && !strcmp(names, "version"), "Tread count 80: one entry, version");
	off = R.count;
	total = 1;
	names[0] = 0;
	while((r = readf(2, off, 330)) == Rread && R.count > 0){
		off += R.count;
		total += statnames(names, sizeof names);
	}
	ok(r == Rread && total == 12, "330 bytes at a time, each from where the last ended: 12 entries in all");
	/* a listing is a snapshot taken at open */
	walk(1, 3, "clients");
	openf(3, P9_OREAD);
	S.present[7] = 1;
	S.present[1] = 0;
	readf(3, 0, 8192);
	names[0] = 0;
	k = statnames(names, sizeof names);
	ok(k == 2 && !strcmp(names, "1 4"), "clients read after a change: the entries at open (%s)", names);
	walk(1, 4, "clients");
	openf(4, P9_OREAD);
	readf(4, 0, 8192);
	names[0] = 0;
	statnames(names, sizeof names);
	ok(!strcmp(names, "4 7"), "opened again: the entries now (%s)", names);
	stopconn();
}

static void
t_write(void)
{
	int r;

	startconn(NULL);
	memset(S.present, 0, sizeof S.present);
	version(8192, "9P2000");
	attach(1);
	walk(1, 2, "ctl");
	rerr(writef(2, "add 5"), "fid not open for writing", "Twrite of a fid not open");
	openf(2, P9_OWRITE);
	r = writef(2, "add 5");
	ok(r == Rwrite && R.count == 5, "Twrite ctl add 5: Rwrite 5");
	ok(S.lastn == 5 && !strcmp(S.last, "add 5") && S.lastnul, "the callback got the text, NUL-terminated");
	ok(S.present[5], "and did it");
	r = walk(1, 3, "clients/5/addr");
	ok(r == Rwalk && R.nwqid == 3, "clients/5/addr is there now");
	rerr(writef(2, "frobnicate"), "bad command: frobnicate", "Twrite of a bad command: the callback's error");
	r = writef(2, "del 5\n");
	ok(r == Rwrite && R.count == 6 && !S.present[5], "Twrite del 5 (with a newline)");
	walk(1, 4, "version");
	openf(4, P9_OREAD);
	rerr(writef(4, "x"), "fid not open for writing", "Twrite to a fid open OREAD");
	walk(1, 5, "echo");
	openf(5, P9_ORDWR);
	is_int(writef(5, "hello"), Rwrite, "Twrite echo hello");
	readf(5, 0, 100);
	ok(R.count == 0, "the snapshot of echo taken at open is still empty");
	walk(1, 6, "echo");
	openf(6, P9_OREAD);
	readf(6, 0, 100);
	ok(R.count == 5 && !memcmp(R.data, "hello", 5), "a new open reads hello");
	rerr(writef(66, "x"), "unknown fid", "Twrite to an unknown fid");
	{
		char cmd[301];

		memset(cmd, 'x', 300);
		cmd[300] = 0;
		r = writef(2, cmd);
		ok(r == Rerror && R.ename.n == 200 && !memcmp(R.ename.s, "bad command: xxx", 16),
			"a callback's error of 313 bytes is cut to 200");
	}
	stopconn();
}

static void
t_misc(void)
{
	Fcall t;
	P9dir d;
	int r;

	startconn(NULL);
	version(8192, "9P2000");
	attach(1);
	r = fidop(Tstat, 1);
	ok(r == Rstat && p9dirdecode(R.stat, R.nstat, P9_2000, &d) == R.nstat && p9streq(d.name, "/")
		&& d.mode == (P9_DMDIR | 0555) && d.qid.path == RQID && p9streq(d.uid, "none"),
		"Tstat /: name /, mode DMDIR|0555, uid none");
	walk(1, 2, "ctl");
	r = fidop(Tstat, 2);
	ok(r == Rstat && p9dirdecode(R.stat, R.nstat, P9_2000, &d) == R.nstat && p9streq(d.name, "ctl")
		&& d.mode == 0220 && d.qid.path == QCTL && d.qid.type == P9_QTFILE && d.length == 0,
		"Tstat ctl: name ctl, mode 0220, length 0");
	walk(1, 3, "deep/d/d");
	r = fidop(Tstat, 3);
	ok(r == Rstat && p9dirdecode(R.stat, R.nstat, P9_2000, &d) == R.nstat && p9streq(d.name, "d"), "Tstat deep/d/d: name d");
	rerr(fidop(Tstat, 50), "unknown fid", "Tstat of an unknown fid");
	/* what would change the tree */
	pc_mkfid(&t, Tcreate, 7, 1);
	t.name = p9str("new");
	t.perm = 0644;
	rerr(rpc(&t), "permission denied", "Tcreate");
	t.fid = 50;
	rerr(rpc(&t), "unknown fid", "Tcreate on an unknown fid");
	pc_mkfid(&t, Twstat, 7, 2);
	memset(&d, 0xff, sizeof d);
	d.name = p9str("");
	d.uid = d.gid = d.muid = p9str("");
	d.extension = p9str("");
	{
		uint8_t st[128];

		t.nstat = (uint16_t)p9direncode(st, sizeof st, &d, P9_2000);
		t.stat = st;
		rerr(rpc(&t), "permission denied", "Twstat");
	}
	walk(1, 4, "version");
	rerr(fidop(Tremove, 4), "permission denied", "Tremove");
	rerr(fidop(Tclunk, 4), "unknown fid", "Tremove clunked the fid all the same");
	rerr(fidop(Tremove, 4), "unknown fid", "Tremove of an unknown fid");
	is_int(fidop(Tclunk, 2), Rclunk, "Tclunk");
	rerr(fidop(Tclunk, 2), "unknown fid", "Tclunk again");
	stopconn();
}

/* Bad input: the stream is refused when its framing is, otherwise an error and nothing else. */
static void
t_bad(void)
{
	uint8_t f[64];
	Fcall t;
	uint8_t raw[128];
	size_t n;
	long m;
	int r;

	startconn(NULL);
	version(8192, "9P2000");
	attach(1);
	/* truncated: a frame not all there is not consumed */
	pc_mkfid(&t, Tstat, 1, 1);
	n = p9encode(raw, sizeof raw, &t, P9_2000);
	is_int(feed(raw, 3), 0, "3 bytes: nothing consumed");
	is_int(feed(raw, n - 1), 0, "a frame less its last byte: nothing consumed");
	ok(synqempty(synconnq(cn)), "and nothing answered");
	is_int(feed(raw, n), (long)n, "the whole frame: consumed");
	is_int(next(), Rstat, "and answered");
	/* fields running past the size */
	memcpy(f, raw, n);
	p9put32(f, (uint32_t)n - 2);	/* Tstat without the last two bytes of its fid */
	is_int(feed(f, n - 2), (long)n - 2, "Tstat of 9 bytes: consumed");
	rerr(next(), "malformed Tstat: field runs past the end of the message", "Tstat of 9 bytes");
	pc_mkwalk(&t, 8, 1, 2, "version/x");
	n = p9encode(raw, sizeof raw, &t, P9_2000);
	p9put32(raw, (uint32_t)n - 3);
	is_int(feed(raw, n - 3), (long)n - 3, "Twalk whose second name runs past its size: consumed");
	rerr(next(), "malformed Twalk: field runs past the end of the message", "Twalk cut short");
	rerr(fidop(Tclunk, 2), "unknown fid", "it made no fid");
	pc_mkfid(&t, Tclunk, 1, 1);
	n = p9encode(raw, sizeof raw, &t, P9_2000);
	raw[n] = 0;
	p9put32(raw, (uint32_t)n + 1);
	feed(raw, n + 1);
	rerr(next(), "malformed Tclunk: bytes left over after the last field", "Tclunk with a byte too many");
	is_int(fidop(Tstat, 1), Rstat, "fid 1 is still there");
	/* strings with NUL, counts that disagree */
	pc_mkwalk(&t, 8, 1, 2, "vers");
	n = p9encode(raw, sizeof raw, &t, P9_2000);
	raw[n - 2] = 0;
	feed(raw, n);
	rerr(next(), "malformed Twalk: string holds a NUL byte", "Twalk of a name with a NUL");
	walk(1, 3, "echo");
	openf(3, P9_OWRITE);
	pc_mkfid(&t, Twrite, 8, 3);
	t.data = (const uint8_t *)"abcdef";
	t.count = 6;
	n = p9encode(raw, sizeof raw, &t, P9_2000);
	p9put32(raw + 19, 7);
	feed(raw, n);
	rerr(next(), "malformed Twrite: count disagrees with the bytes present", "Twrite whose count runs past its size");
	p9put32(raw + 19, 5);
	feed(raw, n);
	rerr(next(), "malformed Twrite: count disagrees with the bytes present", "Twrite whose count is short of its data");
	/* unknown types, replies, and messages of the other dialect */
	p9put32(f, 7);
	f[4] = 200;
	p9put16(f + 5, 44);
	feed(f, 7);
	r = next();
	ok(r == Rerror && R.tag == 44 && p9streq(R.ename, "unknown message type"), "type 200: unknown message type, tag 44");
	f[4] = Terror;
	feed(f, 7);
	rerr(next(), "unknown message type", "Terror");
	pc_mkfid(&t, Tgetattr, 9, 1);
	rerr(rpcd(&t, P9_2000L), "unknown message type", "Tgetattr in a 9P2000 session");
	pc_mkread(&t, 9, 1, 0, 0);
	t.type = Rread;
	t.data = (const uint8_t *)"";
	rerr(rpc(&t), "Rread is not a request", "Rread sent to the server");
	/* framing: the stream is refused */
	p9put32(f, 6);
	f[4] = Tstat;
	m = feed(f, 7);
	ok(m == -1 && !strcmp(errbuf, "bad frame: size 6 below 7"), "size 6: -1, \"%s\"", errbuf);
	p9put32(f, 8193);
	m = feed(f, 7);
	ok(m == -1 && !strcmp(errbuf, "bad frame: size 8193 above msize 8192"), "size 8193 at msize 8192: -1, \"%s\"", errbuf);
	p9put32(f, 0xffffffff);
	m = feed(f, 4);
	ok(m == -1, "size 2^32-1 in the first 4 bytes: -1 at once");
	/* several frames in one buffer, the last incomplete */
	pc_mkfid(&t, Tstat, 1, 1);
	n = p9encode(raw, sizeof raw, &t, P9_2000);
	memcpy(raw + n, raw, n);
	memcpy(raw + 2 * n, raw, n);
	is_int(feed(raw, 3 * n - 4), (long)(2 * n), "two and a bit frames: two consumed");
	ok(next() == Rstat && next() == Rstat && next() == -1, "two replies");
	is_int(synstats(fs)->badconns, 3, "three refused streams counted");
	stopconn();
}

/* The list callback of t_limits: 1000 entries, whatever it is asked for. */
static int
biglist(void *aux, const char *path, const char *want, Synlist *l)
{
	char name[16];
	int i;

	(void)aux;
	(void)want;
	if(strcmp(path, "/") != 0)
		return -1;
	for(i = 0; i < 1000; i++){
		snprintf(name, sizeof name, "f%d", i);
		synadd(l, name, 10 + (uint64_t)i, 0444);
	}
	return 0;
}

static void
t_limits(void)
{
	Synconf conf;
	Fcall t;
	uint8_t buf[64 * 100];
	size_t n, one;
	long m;
	int i, r;

	memset(&conf, 0, sizeof conf);
	conf.maxfids = 4;
	startconn(&conf);
	version(8192, "9P2000");
	attach(1);
	walk(1, 2, "");
	walk(1, 3, "");
	walk(1, 4, "");
	rerr(walk(1, 5, ""), "too many fids", "a fifth fid at -f 4 (Twalk)");
	rerr(attach(5), "too many fids", "a fifth fid at -f 4 (Tattach)");
	r = walk(1, 1, "clients");
	ok(r == Rwalk, "Twalk fid to itself needs no new fid");
	fidop(Tclunk, 4);
	is_int(walk(1, 5, ""), Rwalk, "after a clunk there is room");
	stopconn();

	/* a walk keeps only the name it wants: a long listing does not count against maxsnap */
	memset(&conf, 0, sizeof conf);
	conf.list = biglist;
	conf.maxsnap = 4096;
	fs = synnew(&conf);
	cn = synconnnew(fs, NULL);
	version(8192, "9P2000");
	attach(1);
	r = walk(1, 2, "f999");
	ok(r == Rwalk && R.nwqid == 1 && R.wqid[0].path == 1009, "Twalk f999 in a listing of 1000 over a 4 KiB limit");
	rerr(openf(1, P9_OREAD), "file larger than the snapshot limit", "but opening / for a listing of it fails");
	stopconn();

	/* the output queue: past maxqueue the connection takes no more */
	memset(&conf, 0, sizeof conf);
	conf.maxqueue = 1000;
	startconn(&conf);
	S.wout = S.win = 0;
	version(8192, "9P2000");
	is_int(S.wout, 1, "wake SYN_WOUT once for the Rversion");
	attach(1);
	pc_mkfid(&t, Tstat, 1, 1);
	one = p9encode(buf, sizeof buf, &t, P9_2000);
	for(n = one, i = 1; i < 100; i++, n += one)
		memcpy(buf + n, buf, one);
	m = feed(buf, n);
	ok(m > 0 && m < (long)n && m % (long)one == 0, "100 Tstats unread: %ld of %zu bytes taken", m, n);
	ok(synconnblocked(cn), "synconnblocked");
	ok(synconnq(cn)->bytes >= 1000 && synconnq(cn)->bytes < 1000 + 8192, "queued %zu bytes: at least maxqueue, under maxqueue + msize",
		synconnq(cn)->bytes);
	is_int(feed(buf, one), 0, "fed again without draining: nothing taken");
	is_int(S.win, 0, "no SYN_WIN yet");
	drain();
	is_int(S.win, 1, "draining the queue: wake SYN_WIN");
	ok(!synconnblocked(cn), "not blocked");
	nacc = 0;
	stopconn();

	/* replies that cannot fit a small msize */
	startconn(NULL);
	version(300, "9P2000");
	attach(1);
	r = walk(1, 2, longname);
	ok(r == Rwalk && R.nwqid == 1, "Twalk to a 255-byte name at msize 300");
	rerr(fidop(Tstat, 2), "reply larger than msize", "its Tstat (325 bytes) at msize 300");
	walk(1, 3, "");
	openf(3, P9_OREAD);
	n = 0;
	for(i = 0; i < 20 && (r = readf(3, n, 4096)) == Rread && R.count > 0; i++)
		n += R.count;
	rerr(r, "count too small for a directory entry", "reading / at msize 300: stuck at the 255-byte name");
	ok(!oversize, "no reply was ever larger than the connection's msize");
	stopconn();
}

/* ---- 9P2000.L ---- */

static void
t_dotl(void)
{
	Fcall t;
	P9dirent e;
	char names[1024];
	size_t off;
	uint64_t cookie;
	long k;
	int r, n, total;

	startconn(NULL);
	memset(S.present, 0, sizeof S.present);
	S.present[2] = 1;
	version(8192, "9P2000.L");
	dial = P9_2000L;
	pc_mkattach(&t, 1, 1, "root");
	t.nuname = 0;
	r = rpc(&t);
	ok(r == Rattach && R.qid.path == RQID, "Tattach (.L, n_uname 0)");
	t.type = Tauth;
	t.afid = 9;
	lerr(rpc(&t), 2, "Tauth: ENOENT (none needed)");
	r = walk(1, 2, "version");
	ok(r == Rwalk && R.nwqid == 1, "Twalk version");
	r = fidop(Tgetattr, 2);
	ok(r == Rgetattr && R.attr.mode == (0100000 | 0444) && R.attr.qid.path == QVERSION && R.attr.nlink == 1,
		"Tgetattr version: S_IFREG|0444");
	r = fidop(Tgetattr, 1);
	ok(r == Rgetattr && R.attr.mode == (0040000 | 0555), "Tgetattr /: S_IFDIR|0555");
	lerr(readf(2, 0, 100), 9, "Tread before Tlopen: EBADF");
	r = openf(2, 0);
	ok(r == Rlopen && R.qid.path == QVERSION && R.iounit == 8192 - 24, "Tlopen O_RDONLY");
	r = readf(2, 0, 100);
	ok(r == Rread && R.count == 11, "Tread");
	lerr(openf(2, 0), 9, "Tlopen twice: EBADF");
	walk(1, 3, "ctl");
	lerr(openf(3, 0), 13, "Tlopen ctl O_RDONLY: EACCES");
	lerr(openf(3, 3), 22, "Tlopen with access mode 3: EINVAL");
	pc_mkfid(&t, Tsetattr, 7, 3);
	t.sattr.valid = 0x8 | 0x20 | 0x40;
	is_int(rpc(&t), Rsetattr, "Tsetattr size 0 and times on ctl (what O_TRUNC does)");
	t.sattr.valid = 0x1;
	lerr(rpc(&t), 13, "Tsetattr mode: EACCES");
	t.fid = 2;
	t.sattr.valid = 0x8;
	lerr(rpc(&t), 13, "Tsetattr size of a read-only file: EACCES");
	r = openf(3, 01 | 01000 | 0100000);
	ok(r == Rlopen, "Tlopen ctl O_WRONLY|O_TRUNC|O_LARGEFILE");
	r = writef(3, "add 6");
	ok(r == Rwrite && R.count == 5 && S.present[6], "Twrite add 6");
	lerr(writef(3, "nonsense"), 22, "a bad command: EINVAL");
	walk(1, 4, "");
	lerr(openf(4, 1), 21, "Tlopen / O_WRONLY: EISDIR");
	pc_mkfid(&t, Treaddir, 8, 4);
	t.count = 4096;
	lerr(rpc(&t), 9, "Treaddir before Tlopen: EBADF");
	r = openf(4, 0200000);
	ok(r == Rlopen, "Tlopen / O_RDONLY|O_DIRECTORY");
	lerr(readf(4, 0, 4096), 21, "Tread of a directory in 9P2000.L: EISDIR");
	r = rpc(&t);
	n = 0;
	names[0] = 0;
	for(off = 0; r == Rreaddir && off < R.count; off += (size_t)k){
		k = p9direntdecode(R.data + off, R.count - off, &e);
		if(k <= 0)
			break;
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s%.*s", n ? " " : "", e.name.n, e.name.s);
		n++;
	}
	ok(r == Rreaddir && n == 12 && pc_has(names, strlen(names), "version stats ctl"), "Treaddir /: 12 entries (%.40s...)", names);
	/* by cookies, a few at a time */
	cookie = 0;
	total = 0;
	for(;;){
		t.offset = cookie;
		t.count = 300;
		if((r = rpc(&t)) != Rreaddir || R.count == 0)
			break;
		for(off = 0; off < R.count; off += (size_t)k){
			if((k = p9direntdecode(R.data + off, R.count - off, &e)) <= 0)
				break;
			cookie = e.offset;
			total++;
		}
	}
	ok(r == Rreaddir && total == 12, "Treaddir 300 bytes at a time, by cookies: 12 entries");
	t.offset = 1000;
	r = rpc(&t);
	ok(r == Rreaddir && R.count == 0, "Treaddir past the end: empty");
	t.offset = 0;
	t.count = 10;
	lerr(rpc(&t), 22, "Treaddir count 10: EINVAL");
	walk(1, 5, "clients/6");
	pc_mkfid(&t, Treaddir, 8, 5);
	t.count = 4096;
	lerr(rpc(&t), 9, "Treaddir of clients/6 not open: EBADF");
	pc_mkfid(&t, Treaddir, 8, 2);
	lerr(rpc(&t), 20, "Treaddir of a file: ENOTDIR");
	r = fidop(Tstatfs, 1);
	ok(r == Rstatfs && R.statfs.type == 0x01021997 && R.statfs.namelen == 255, "Tstatfs: V9FS_MAGIC");
	is_int(fidop(Tfsync, 2), Rfsync, "Tfsync");
	/* 9P2000.L clients walk from an open directory (diodls -l), but not in place */
	r = walk(4, 6, "version");
	ok(r == Rwalk && R.nwqid == 1, "Twalk from an open directory to a new fid");
	lerr(walk(4, 4, "version"), 9, "Twalk of an open fid in place: EBADF");
	/* what would change the tree */
	pc_mkfid(&t, Tmkdir, 9, 0);
	t.dfid = 1;
	t.name = p9str("x");
	lerr(rpc(&t), 13, "Tmkdir: EACCES");
	t.dfid = 77;
	lerr(rpc(&t), 9, "Tmkdir in an unknown fid: EBADF");
	pc_mkfid(&t, Tlcreate, 9, 5);
	t.name = p9str("x");
	lerr(rpc(&t), 13, "Tlcreate: EACCES");
	pc_mkfid(&t, Tunlinkat, 9, 0);
	t.dfid = 1;
	t.name = p9str("version");
	lerr(rpc(&t), 13, "Tunlinkat: EACCES");
	pc_mkfid(&t, Trenameat, 9, 0);
	t.dfid = 1;
	t.newdfid = 1;
	t.name = p9str("version");
	t.newname = p9str("v2");
	lerr(rpc(&t), 13, "Trenameat: EACCES");
	pc_mkfid(&t, Txattrwalk, 9, 1);
	t.newfid = 20;
	t.name = p9str("security.selinux");
	lerr(rpc(&t), 95, "Txattrwalk: EOPNOTSUPP");
	lerr(fidop(Tclunk, 20), 9, "and it made no fid");
	pc_mkfid(&t, Topen, 9, 2);
	lerr(rpcd(&t, P9_2000), 95, "Topen (9P2000) in a 9P2000.L session: EOPNOTSUPP");
	lerr(fidop(Tremove, 6), 13, "Tremove: EACCES");
	lerr(fidop(Tclunk, 6), 9, "and the fid is gone");
	{
		uint8_t f[16];

		p9put32(f, 9);
		f[4] = Tstatfs;
		p9put16(f + 5, 3);
		p9put32(f + 7, 1);
		feed(f, 9);
		lerr(next(), 71, "Tstatfs cut short: EPROTO");
	}
	dial = P9_2000;
	stopconn();
}

static void
t_stats(void)
{
	const Synstats *st;
	Synconn *c2;
	int i, before;

	startconn(NULL);
	S.tin = S.rout = 0;
	version(8192, "9P2000");
	attach(1);
	for(i = 0; i < 10; i++)
		fidop(Tstat, 1);
	rerr(fidop(Tstat, 2), "unknown fid", "one error");
	st = synstats(fs);
	is_int(st->requests, 13, "stats: 13 requests");
	is_int(st->errors, 1, "stats: 1 error");
	is_int(st->conns, 1, "stats: 1 connection");
	ok(st->bytesin == 19 + 25 + 11 * 11 && st->bytesout > 0, "stats: bytes in %llu, out %llu",
		(unsigned long long)st->bytesin, (unsigned long long)st->bytesout);
	ok(S.tin == 13 && S.rout == 13, "trace: 13 frames in, 13 out");
	/* a second connection has its own fids and session */
	c2 = synconnnew(fs, NULL);
	ok(c2 != NULL && synconnmsize(c2) == 65536, "a second connection, msize 65536 until its Tversion");
	is_int(synstats(fs)->conns, 2, "stats: 2 connections");
	/* leave open fids and unread output behind: synfree frees them (LeakSanitizer checks) */
	walk(1, 2, "big");
	openf(2, P9_OREAD);
	walk(1, 3, "");
	openf(3, P9_OREAD);
	before = S.rout;
	{
		uint8_t f[16];
		Fcall t;
		size_t n;

		pc_mkfid(&t, Tstat, 1, 1);
		n = p9encode(f, sizeof f, &t, P9_2000);
		feed(f, n);
	}
	ok(S.rout == before + 1 && !synqempty(synconnq(cn)), "a reply left unread");
	synconnclose(c2);
	stopconn();
}

int
main(void)
{
	tap_start(60);
	memset(longname, 'n', 255);
	t_version();
	t_attach();
	t_walk();
	t_open();
	t_read();
	t_dirread();
	t_write();
	t_misc();
	t_bad();
	t_limits();
	t_dotl();
	t_stats();
	return done_testing();
}
