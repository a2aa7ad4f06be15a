/*
 * fuzz/synfs: random byte streams and well-formed requests of both
 * dialects against a libsynfs connection, over a tree whose clients/
 * directory changes between requests, with an output queue drained
 * slowly so that the connection fills and waits.  Checked on every
 * reply, as the library queues it (the trace callback):
 *
 *	exactly one reply per request, at once, with its tag;
 *	no reply larger than the connection's msize, and every reply
 *	decodes in the connection's dialect as an R-message;
 *	a request naming a fid the client does not hold gets an error,
 *	Tclunk of one it holds succeeds, a short walk creates nothing;
 *
 * and that bytes are consumed in whole frames only.  ASan, UBSan and
 * leak checking do the rest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "9p.h"
#include "synfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	NFIDS	= 16,
	INBUF	= 1 << 17,
};

static struct {
	const uint8_t	*p;
	const uint8_t	*e;
	Synfs		*fs;
	Synconn		*c;
	uint8_t		in[INBUF];	/* fed but not yet consumed */
	size_t		inlen;
	unsigned	present;	/* clients/N for bit N */
	int		badtree;	/* the list callback misbehaves */
	/* the request being answered, from the trace */
	int		pending;
	uint8_t		ttype;
	uint16_t	ttag;
	uint32_t	tfid, tnewfid;
	uint16_t	tnwname;
	uint64_t	toff;
	/* fids the client holds */
	uint32_t	live[NFIDS];
	int		nlive;
	int		live_unknown;	/* too many to track: fid checks are off */
	uint64_t	lastoff;	/* where the last directory read ended */
} F;

static uint8_t
byte(void)
{
	return F.p < F.e ? *F.p++ : 0;
}

static uint16_t
u16(void)
{
	return (uint16_t)(byte() | byte() << 8);
}

static uint32_t
u32(void)
{
	return (uint32_t)u16() | (uint32_t)u16() << 16;
}

static uint64_t
u64(void)
{
	return (uint64_t)u32() | (uint64_t)u32() << 32;
}

/* ---- the tree ---- */

/* 200 bytes: its stat does not fit the smallest msize */
static const char longname[] =
	"llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
	"llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll";

static int
list(void *aux, const char *path, const char *want, Synlist *l)
{
	char name[16];
	int i;

	(void)aux;
	(void)want;
	if(F.badtree){
		/* names that cannot be, and a duplicate: the library must cope */
		synadd(l, "", 50, 0444);
		synadd(l, "..", 51, 0444);
		synadd(l, "a/b", 52, 0444);
		synadd(l, "version", 53, 0444);
	}
	if(strcmp(path, "/") == 0){
		synadd(l, "version", 2, 0444);
		synadd(l, "ctl", 3, 0220);
		synadd(l, "echo", 4, 0644);
		synadd(l, "clients", 5, P9_DMDIR | 0555);
		synadd(l, "failing", 6, 0444);
		synadd(l, "big", 7, 0444);
		synadd(l, "none", 8, 0);
		synadd(l, "closed", 9, P9_DMDIR);
		synadd(l, longname, 10, 0444);
		return 0;
	}
	if(strcmp(path, "/clients") == 0){
		for(i = 0; i < 8; i++)
			if(F.present & 1u << i){
				snprintf(name, sizeof name, "%d", i);
				synadd(l, name, 100 + 10 * (uint64_t)i, P9_DMDIR | 0555);
			}
		return 0;
	}
	if(strncmp(path, "/clients/", 9) == 0 && path[9] >= '0' && path[9] <= '7' && path[10] == 0
	&& (F.present & 1u << (path[9] - '0'))){
		synadd(l, "addr", 101 + 10 * (uint64_t)(path[9] - '0'), 0444);
		return 0;
	}
	return -1;
}

static const char *
readf(void *aux, const char *path, uint64_t qid, Synbuf *b)
{
	int i;

	(void)aux;
	if(qid == 6)
		return "read failed";
	if(qid == 7){
		for(i = 0; i < 3000; i++)
			if(synprint(b, "%09d\n", i) < 0)
				break;
		return NULL;
	}
	synprint(b, "%s %llu\n", path, (unsigned long long)qid);
	return NULL;
}

static const char *
writef(void *aux, const char *path, uint64_t qid, const char *text, size_t n)
{
	(void)aux;
	(void)path;
	if(text[n] != 0)
		abort();
	if(qid != 3)
		return NULL;
	if(n >= 5 && !memcmp(text, "add ", 4))
		F.present |= 1u << (text[4] & 7);
	else if(n >= 5 && !memcmp(text, "del ", 4))
		F.present &= ~(1u << (text[4] & 7));
	else
		return "bad command";
	return NULL;
}

/* ---- the model of the client's fids ---- */

static int
islive(uint32_t fid)
{
	int i;

	for(i = 0; i < F.nlive; i++)
		if(F.live[i] == fid)
			return 1;
	return 0;
}

static void
setlive(uint32_t fid, int on)
{
	int i;

	for(i = 0; i < F.nlive; i++)
		if(F.live[i] == fid){
			if(!on)
				F.live[i] = F.live[--F.nlive];
			return;
		}
	if(!on)
		return;
	if(F.nlive == NFIDS)
		F.live_unknown = 1;
	else
		F.live[F.nlive++] = fid;
}

/* The fid of a request that must name one the client holds, or -1. */
static int
usesfid(uint8_t type)
{
	switch(type){
	case Twalk: case Topen: case Tread: case Twrite: case Tclunk:
	case Tremove: case Tstat: case Tcreate: case Twstat: case Tlopen:
	case Tgetattr: case Tsetattr: case Treaddir: case Tstatfs: case Tfsync:
	case Tlcreate: case Txattrwalk:
		return 1;
	}
	return 0;
}

static void
wake(void *aux, int what)
{
	(void)aux;
	if(what == SYN_WOUT && synqempty(synconnq(F.c)))
		abort();
	if(what == SYN_WIN && synconnblocked(F.c))
		abort();
	if(what != SYN_WOUT && what != SYN_WIN)
		abort();
}

static void
trace(void *aux, int where, const uint8_t *frame, size_t len, int dialect)
{
	Fcall t, r;
	int err;

	(void)aux;
	if(where == SYN_TIN){
		if(F.pending)
			abort();	/* the previous request got no reply */
		F.pending = 1;
		F.ttype = frame[4];
		F.ttag = p9get16(frame + P9_TAGOFF);
		F.tnwname = 0;
		if(p9decode(frame, len, UINT32_MAX, dialect, &t) == (long)len){
			F.tfid = t.fid;
			F.tnewfid = t.newfid;
			F.tnwname = t.nwname;
			F.toff = t.offset;
		}else
			F.ttype = 0;	/* malformed: only an error may answer it */
		return;
	}
	if(!F.pending)
		abort();	/* a reply to nothing */
	F.pending = 0;
	if(len > synconnmsize(F.c))
		abort();
	if(p9decode(frame, len, (uint32_t)len, dialect, &r) != (long)len)
		abort();
	if(!(r.type & 1) || r.tag != F.ttag)
		abort();
	err = r.type == Rerror || r.type == Rlerror;
	if(!err && r.type != F.ttype + 1)
		abort();
	if(F.ttype == 0 && !err)
		abort();
	if(F.ttype == Tversion){
		F.nlive = 0;
		F.live_unknown = 0;
		return;
	}
	if(F.live_unknown)
		return;
	if(usesfid(F.ttype) && !islive(F.tfid) && !err)
		abort();	/* a fid the client does not hold worked */
	if(F.ttype == Tclunk && islive(F.tfid) && err)
		abort();
	switch(r.type){
	case Rattach:
		setlive(F.tfid, 1);
		break;
	case Rwalk:
		if(r.nwqid > F.tnwname)
			abort();
		if(r.nwqid == F.tnwname)
			setlive(F.tnewfid, 1);
		break;
	case Rclunk:
		setlive(F.tfid, 0);
		break;
	case Rread:
		F.lastoff = F.toff + r.count;
		break;
	}
	if(F.ttype == Tremove)
		setlive(F.tfid, 0);	/* whatever the reply */
}

/* ---- requests ---- */

static const char *const names[] = {
	"version", "ctl", "echo", "clients", "failing", "big", "none",
	"0", "1", "2", "7", "addr", "..", ".", "nothere", "", "a/b",
	"closed", longname,
};

static P9str
name(void)
{
	return p9str(names[byte() % (sizeof names / sizeof names[0])]);
}

static uint32_t
fid(void)
{
	uint8_t b;

	b = byte();
	if(b < 240)
		return b % 8;
	if(b < 248)
		return P9_NOFID;
	return u32();
}

static const uint8_t types[] = {
	Tversion, Tauth, Tattach, Tflush, Twalk, Topen, Tcreate, Tread, Twrite,
	Tclunk, Tremove, Tstat, Twstat, Tlopen, Tgetattr, Tsetattr, Treaddir,
	Tstatfs, Tfsync, Tmkdir, Tunlinkat, Trenameat, Txattrwalk, Tlcreate,
	Tlock, Rread, Twalk, Tread, Tread, Twalk, Topen, Tlopen, Tclunk,
	Tmknod, Trename, Tlink, Tsymlink, Tgetlock, Treadlink, Txattrcreate,
};

/* A well-formed request from the input, encoded at out: its size, or 0. */
static size_t
request(uint8_t *out, size_t max, int dialect)
{
	static const char *const versions[] = { "9P2000", "9P2000.L", "9P2000.u", "9P2000x", "", "9P" };
	static const uint32_t msizes[] = { 0, 100, 256, 300, 1024, 8192, 65536, 1 << 20 };
	static const char *const cmds[] = { "add 1", "del 1", "add 3", "del 3", "add 7", "x" };
	uint8_t st[256];
	P9dir d;
	Fcall t;
	uint8_t k;
	int i;

	memset(&t, 0, sizeof t);
	t.type = types[byte() % sizeof types];
	t.tag = byte();
	if(t.tag == 0xff)
		t.tag = P9_NOTAG;
	t.fid = fid();
	switch(t.type){
	case Tversion:
		t.msize = msizes[byte() % 8];
		t.version = p9str(versions[byte() % 6]);
		break;
	case Tauth:
	case Tattach:
		t.afid = byte() < 200 ? P9_NOFID : fid();
		t.uname = p9str("u");
		t.aname = p9str(byte() & 1 ? "" : "ctl");
		t.nuname = P9_NOFID;
		break;
	case Tflush:
		t.oldtag = byte();
		break;
	case Twalk:
		t.newfid = fid();
		t.nwname = byte() % (P9_MAXWELEM + 1);
		for(i = 0; i < t.nwname; i++)
			t.wname[i] = name();
		break;
	case Topen:
	case Tlopen:
		t.mode = byte();
		t.flags = byte() & 0x80 ? u32() : (uint32_t)byte() & 3;
		if(byte() & 1)
			t.flags |= 01000;
		break;
	case Tread:
	case Treaddir:
	case Rread:
		k = byte();
		t.offset = k < 128 ? 0 : k < 200 ? F.lastoff : k < 250 ? k : u64();
		t.count = byte() & 1 ? u16() : u32();
		if(t.type == Rread){
			t.count = 0;
			t.data = (const uint8_t *)"";
		}
		break;
	case Twrite:
		t.offset = byte();
		k = byte();
		if(k < 200){
			t.data = (const uint8_t *)cmds[k % 6];
			t.count = (uint32_t)strlen(cmds[k % 6]);
		}else{
			t.count = (uint32_t)(F.e - F.p < 64 ? F.e - F.p : 64);
			t.data = F.p;
			F.p += t.count;
		}
		break;
	case Tcreate:
	case Tlcreate:
	case Tmkdir:
	case Tunlinkat:
	case Trenameat:
	case Txattrwalk:
	case Txattrcreate:
	case Tmknod:
	case Trename:
	case Tlink:
	case Tsymlink:
		t.dfid = fid();
		t.newdfid = fid();
		t.newfid = fid();
		t.name = name();
		t.newname = name();
		t.perm = u32();
		t.mode = byte();
		t.target = p9str("t");
		break;
	case Twstat:
		memset(&d, 0, sizeof d);
		d.name = name();
		d.mode = u32();
		t.nstat = (uint16_t)p9direncode(st, sizeof st, &d, P9_2000);
		t.stat = st;
		break;
	case Tsetattr:
		t.sattr.valid = byte();
		break;
	case Tlock:
	case Tgetlock:
		t.lock.clientid = p9str("c");
		break;
	}
	/* now and then in the other dialect, which the session may not know */
	if(byte() < 16)
		dialect = dialect == P9_2000L ? P9_2000 : P9_2000L;
	return p9encode(out, max, &t, dialect);
}

/* Feed what is buffered; on a refused stream, a new connection. */
static void
pump(void)
{
	char err[128];
	long n, m, k;

	n = synconnin(F.c, F.in, F.inlen, err, sizeof err);
	if(F.pending)
		abort();
	if(n < 0){
		if(err[0] == 0)
			abort();
		synconnclose(F.c);
		F.c = synconnnew(F.fs, NULL);
		F.inlen = 0;
		F.nlive = 0;
		F.live_unknown = 0;
		return;
	}
	if((size_t)n > F.inlen)
		abort();
	/* whole frames only */
	for(k = 0; k < n; k += m){
		if(n - k < P9_HDRSZ)
			abort();
		m = (long)p9get32(F.in + k);
		if(m < P9_HDRSZ || m > n - k)
			abort();
	}
	memmove(F.in, F.in + n, F.inlen - (size_t)n);
	F.inlen -= (size_t)n;
}

static void
drain(size_t max)
{
	struct iovec iov[8];
	Synq *q;
	size_t tot;
	int i, n;

	q = synconnq(F.c);
	while(max > 0 && (n = synqiov(q, iov, 8)) > 0){
		tot = 0;
		for(i = 0; i < n; i++)
			tot += iov[i].iov_len;
		if(tot > max)
			tot = max;
		synqadvance(q, tot);
		max -= tot;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t msizes[] = { 256, 600, 8192, 65536 };
	Synconf conf;
	uint8_t cfg, op, frame[1 << 16];
	size_t n, k;

	memset(&F, 0, sizeof F);
	F.p = data;
	F.e = data + size;
	cfg = byte();
	memset(&conf, 0, sizeof conf);
	conf.list = list;
	conf.read = readf;
	conf.write = writef;
	conf.trace = trace;
	conf.wake = wake;
	conf.rootqid = 1;
	conf.msize = msizes[cfg & 3];
	conf.maxqueue = cfg & 4 ? 512 : 0;
	conf.maxfids = cfg & 8 ? 4 : 0;
	conf.maxsnap = cfg & 16 ? 200 : 0;
	F.badtree = (cfg & 32) != 0;
	F.present = 0x0b;
	if((F.fs = synnew(&conf)) == NULL || (F.c = synconnnew(F.fs, NULL)) == NULL)
		abort();
	while(F.p < F.e){
		op = byte();
		switch(op % 8){
		case 0:		/* raw bytes */
			n = byte();
			if(n > (size_t)(F.e - F.p))
				n = (size_t)(F.e - F.p);
			if(n > INBUF - F.inlen)
				n = INBUF - F.inlen;
			memcpy(F.in + F.inlen, F.p, n);
			F.p += n;
			F.inlen += n;
			break;
		case 1: case 2: case 3: case 4:
			n = request(frame, sizeof frame, op & 0x80 ? P9_2000L : P9_2000);
			if(n == 0 || n > INBUF - F.inlen)
				break;
			if(op % 8 == 4 && n > 0){
				/* one byte changed */
				k = byte() % n;
				frame[k] = byte();
			}
			memcpy(F.in + F.inlen, frame, n);
			F.inlen += n;
			break;
		case 5:
			drain(u16());
			break;
		case 6:
			drain(SIZE_MAX);
			break;
		case 7:
			F.present ^= 1u << (byte() & 7);
			break;
		}
		pump();
	}
	/* what is still buffered is answered as the queue drains */
	do{
		n = F.inlen;
		drain(SIZE_MAX);
		pump();
	}while(F.inlen < n);
	synfree(F.fs);
	return 0;
}
