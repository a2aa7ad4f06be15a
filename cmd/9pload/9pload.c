/*
 * 9pload - a 9P load generator speaking raw 9P, and the baselines the
 * benchmarks compare 9mux against.
 *
 *	9pload [options] small		walk + stat + clunk, round trips timed
 *	9pload [options] read		sequential reads of a file
 *	9pload [options] write		sequential writes, one file per client
 *	9pload [options] prep		create the file and fill it with -s bytes
 *	9pload [options] idle		hold -c attached sessions open
 *	9pload [options] open		-c sessions of -n open fids each, read
 *					again through every one after a line of input
 *	9pload relay LISTEN UPSTREAM	an ideal one-hop byte relay
 *	9pload [-a addr] stdio cmd...	run cmd with its stdin and stdout on addr
 *
 * Every client has its own connection and one request in flight, so a
 * client's round trips measure the path it goes through and nothing of
 * its own.  Each run prints one line of key=value pairs.  A run lasts -d
 * seconds, or with -N until each client has made that many round trips
 * (a fixed amount of work, for counting instructions, system calls or
 * allocations per operation rather than timing them).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "9p.h"
#include "dial.h"

enum {
	Rootfid	= 0,
	Workfid	= 1,
	Iofid	= 2,
	Stack	= 256 * 1024,
	Relaybuf = 64 * 1024,

	/* latency histogram: exact below Hexact ns, then Hsub buckets per octave */
	Hexact	= 64,
	Hsub	= 32,
	Hshift	= 5,		/* log2(Hsub) */
	Hoct	= 40,
	Hbuckets = Hexact + Hoct * Hsub,
};

/* Linux open flags as 9P2000.L spells them, whatever this host uses. */
enum {
	L_RDONLY = 0,
	L_WRONLY = 01,
	L_CREAT	= 0100,
	L_TRUNC	= 01000,
	L_GETATTR_BASIC = 0x7ff,
};

typedef struct Hist Hist;
typedef struct Client Client;

struct Hist {
	uint64_t	n[Hbuckets];
	uint64_t	count;
	uint64_t	max;
};

struct Client {
	int		id;
	int		fd;
	uint32_t	msize;
	uint8_t		*wbuf;
	uint8_t		*rbuf;
	size_t		rstart, rend, rcap;
	uint8_t		*data;
	uint16_t	tag;
	Hist		hist;
	uint64_t	ops;
	uint64_t	bytes;
	char		err[256];
	pthread_t	thread;
};

static const char *addr = "unix!/tmp/9ramfs";
static int dialect = P9_2000;
static int nclients = 1;
static double seconds = -1;	/* -d; runs last 3 s when it is not given */
static uint32_t msize = 128 * 1024 + P9_IOHDRSZ;
static const char *uname = "bench";
static const char *aname = "";
static const char *path = "/9pload";
static uint64_t fsize = 8 * 1024 * 1024;
static uint32_t blocksize = 0;		/* 0: as much as the msize allows */
static int quiet;
static int nfids = 100;			/* -n: fids each client of open holds */
static uint64_t nops;			/* -N: round trips each client makes; 0: -d decides */

static pthread_barrier_t startline;
static _Atomic uint64_t deadline;	/* ns on the monotonic clock */
static atomic_int failed;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: 9pload [-q] [-a addr] [-V dialect] [-c clients] [-d seconds] [-m msize]\n"
	    "              [-u uname] [-A aname] [-f path] [-s size] [-b blocksize] [-n fids]\n"
	    "              [-N round-trips]\n"
	    "              small | read | write | prep | idle | open\n"
	    "       9pload relay LISTEN UPSTREAM\n"
	    "       9pload [-a addr] stdio cmd [args...]\n");
	exit(2);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "9pload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* A count with an optional k, m or g suffix (powers of 1024), or -1. */
static int
parsesize(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long n;
	uint64_t mul;

	if(*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 0);
	if(errno != 0)
		return -1;
	mul = 1;
	switch(*end){
	case 'k': case 'K': mul = 1024; end++; break;
	case 'm': case 'M': mul = 1024 * 1024; end++; break;
	case 'g': case 'G': mul = 1024 * 1024 * 1024; end++; break;
	}
	if(*end != '\0' || (n != 0 && mul > UINT64_MAX / n))
		return -1;
	*v = (uint64_t)n * mul;
	return 0;
}

static uint64_t
nsnow(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
pastdeadline(void)
{
	return nsnow() >= atomic_load_explicit(&deadline, memory_order_relaxed);
}

/* Whether client c is done: past the deadline, or its -N round trips made. */
static int
cdone(const Client *c)
{
	return (nops != 0 && c->ops >= nops) || pastdeadline();
}

/* ---- latency histogram ---------------------------------------------- */

static int
hbucket(uint64_t v)
{
	int e;

	if(v < Hexact)
		return (int)v;
	e = 63 - __builtin_clzll(v);		/* v >= 64, so e >= 6 */
	if(e - 6 >= Hoct)
		return Hbuckets - 1;
	return Hexact + (e - 6) * Hsub + (int)((v >> (e - Hshift)) & (Hsub - 1));
}

/* The smallest value that falls in bucket i. */
static uint64_t
hvalue(int i)
{
	int e;

	if(i < Hexact)
		return (uint64_t)i;
	e = (i - Hexact) / Hsub + 6;
	return ((uint64_t)Hsub + (uint64_t)((i - Hexact) % Hsub)) << (e - Hshift);
}

static void
hadd(Hist *h, uint64_t v)
{
	h->n[hbucket(v)]++;
	h->count++;
	if(v > h->max)
		h->max = v;
}

static void
hmerge(Hist *to, const Hist *from)
{
	int i;

	for(i = 0; i < Hbuckets; i++)
		to->n[i] += from->n[i];
	to->count += from->count;
	if(from->max > to->max)
		to->max = from->max;
}

/* The q-quantile in ns: the middle of the bucket that holds it. */
static double
hquantile(const Hist *h, double q)
{
	uint64_t want, seen;
	double v;
	int i;

	if(h->count == 0)
		return 0;
	want = (uint64_t)(q * (double)h->count);
	if((double)want < q * (double)h->count)
		want++;
	if(want < 1)
		want = 1;
	seen = 0;
	for(i = 0; i < Hbuckets; i++){
		seen += h->n[i];
		if(seen >= want){
			v = (double)hvalue(i);
			if(i + 1 < Hbuckets)
				v = (v + (double)hvalue(i + 1)) / 2;
			return v < (double)h->max ? v : (double)h->max;
		}
	}
	return (double)h->max;
}

/* ---- one connection speaking 9P ------------------------------------- */

static int __attribute__((format(printf, 2, 3)))
cerr(Client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return -1;
}

static int
writeall(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while(n > 0){
		w = write(fd, p, n);
		if(w < 0){
			if(errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
cinit(Client *c, int id)
{
	memset(c, 0, sizeof *c);
	c->id = id;
	c->fd = -1;
	c->msize = msize;
	c->rcap = (size_t)msize + 4096;
	c->wbuf = malloc(msize);
	c->rbuf = malloc(c->rcap);
	if(c->wbuf == NULL || c->rbuf == NULL)
		return cerr(c, "out of memory");
	return 0;
}

static void
cfree(Client *c)
{
	if(c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->wbuf);
	free(c->rbuf);
	free(c->data);
	c->wbuf = c->rbuf = c->data = NULL;
}

static int
csend(Client *c, Fcall *t)
{
	size_t n;

	if(t->type != Tversion){
		t->tag = c->tag;
		c->tag = (uint16_t)((c->tag + 1) % 0xFFFF);
	}
	n = p9encode(c->wbuf, c->msize, t, dialect);
	if(n == 0)
		return cerr(c, "cannot encode %s", p9typename(t->type));
	if(writeall(c->fd, c->wbuf, n) < 0)
		return cerr(c, "write: %s", strerror(errno));
	return 0;
}

/* Receive one reply into r (its views point into c->rbuf until the next call). */
static int
crecv(Client *c, Fcall *r)
{
	ssize_t n;
	long m;
	size_t have;
	uint32_t size;

	/* the previous frame is consumed; slide what follows it down */
	if(c->rstart > 0){
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
	for(;;){
		have = c->rend;
		if(have >= 4){
			size = p9get32(c->rbuf);
			if(size < P9_HDRSZ || size > c->msize)
				return cerr(c, "bad reply size %u", size);
			if(have >= size)
				break;
		}
		n = read(c->fd, c->rbuf + c->rend, c->rcap - c->rend);
		if(n < 0){
			if(errno == EINTR)
				continue;
			return cerr(c, "read: %s", strerror(errno));
		}
		if(n == 0)
			return cerr(c, "server hung up");
		c->rend += (size_t)n;
	}
	m = p9decode(c->rbuf, c->rend, c->msize, dialect, r);
	if(m <= 0)
		return cerr(c, "undecodable reply: %s", p9strerror((int)m));
	c->rstart = (size_t)m;
	return 0;
}

/* One round trip: t out, its reply in r, checked to be of type want. */
static int
crpc(Client *c, Fcall *t, Fcall *r, int want)
{
	if(csend(c, t) < 0 || crecv(c, r) < 0)
		return -1;
	if(r->tag != t->tag)
		return cerr(c, "reply tag %u for request tag %u", r->tag, t->tag);
	if(r->type == Rerror)
		return cerr(c, "%s: %.*s", p9typename(t->type), r->ename.n, r->ename.s);
	if(r->type == Rlerror)
		return cerr(c, "%s: %s", p9typename(t->type), strerror((int)r->errnum));
	if(r->type != want)
		return cerr(c, "%s answered by %s", p9typename(t->type),
		    p9typename(r->type) ? p9typename(r->type) : "?");
	return 0;
}

static int
cversion(Client *c)
{
	Fcall t, r;

	memset(&t, 0, sizeof t);
	t.type = Tversion;
	t.tag = P9_NOTAG;
	t.msize = msize;
	t.version = p9str(p9dialectname(dialect));
	if(crpc(c, &t, &r, Rversion) < 0)
		return -1;
	if(!p9streq(r.version, p9dialectname(dialect)))
		return cerr(c, "server speaks %.*s, not %s", r.version.n, r.version.s,
		    p9dialectname(dialect));
	if(r.msize < P9_MINMSIZE || r.msize > c->msize)
		return cerr(c, "bad msize %u in Rversion", r.msize);
	c->msize = r.msize;
	return 0;
}

static int
cattach(Client *c)
{
	Fcall t, r;

	memset(&t, 0, sizeof t);
	t.type = Tattach;
	t.fid = Rootfid;
	t.afid = P9_NOFID;
	t.uname = p9str(uname);
	t.aname = p9str(aname);
	t.nuname = P9_NOFID;
	return crpc(c, &t, &r, Rattach);
}

static int
cconnect(Client *c)
{
	char err[256];

	c->fd = dial(addr, err, sizeof err);
	if(c->fd < 0)
		return cerr(c, "%s", err);
	if(cversion(c) < 0 || cattach(c) < 0)
		return -1;
	return 0;
}

/* Split p into path elements in t->wname: 0, or -1 if there are too many. */
static int
setwalk(Fcall *t, const char *p)
{
	const char *q;

	t->nwname = 0;
	for(;;){
		while(*p == '/')
			p++;
		if(*p == '\0')
			return 0;
		if(t->nwname >= P9_MAXWELEM)
			return -1;
		q = strchr(p, '/');
		if(q == NULL)
			q = p + strlen(p);
		t->wname[t->nwname].s = p;
		t->wname[t->nwname].n = (uint16_t)(q - p);
		t->nwname++;
		p = q;
	}
}

/* Walk the root fid to the whole of p as newfid. */
static int
cwalk(Client *c, const char *p, uint32_t newfid)
{
	Fcall t, r;

	memset(&t, 0, sizeof t);
	t.type = Twalk;
	t.fid = Rootfid;
	t.newfid = newfid;
	if(setwalk(&t, p) < 0)
		return cerr(c, "%s: too many path elements", p);
	if(crpc(c, &t, &r, Rwalk) < 0)
		return -1;
	if(r.nwqid != t.nwname){
		/* a short walk made no fid */
		return cerr(c, "%s: not found", p);
	}
	return 0;
}

static int
cclunk(Client *c, uint32_t fid)
{
	Fcall t, r;

	memset(&t, 0, sizeof t);
	t.type = Tclunk;
	t.fid = fid;
	return crpc(c, &t, &r, Rclunk);
}

static int
cstat(Client *c, uint32_t fid)
{
	Fcall t, r;

	memset(&t, 0, sizeof t);
	t.fid = fid;
	if(dialect == P9_2000L){
		t.type = Tgetattr;
		t.mask = L_GETATTR_BASIC;
		return crpc(c, &t, &r, Rgetattr);
	}
	t.type = Tstat;
	return crpc(c, &t, &r, Rstat);
}

/* Open fid for reading (write == 0) or writing with truncation; *iounit set. */
static int
copen(Client *c, uint32_t fid, int write, uint32_t *iounit)
{
	Fcall t, r;

	memset(&t, 0, sizeof t);
	t.fid = fid;
	if(dialect == P9_2000L){
		t.type = Tlopen;
		t.flags = write ? L_WRONLY | L_TRUNC : L_RDONLY;
		if(crpc(c, &t, &r, Rlopen) < 0)
			return -1;
	}else{
		t.type = Topen;
		t.mode = write ? P9_OWRITE | P9_OTRUNC : P9_OREAD;
		if(crpc(c, &t, &r, Ropen) < 0)
			return -1;
	}
	*iounit = r.iounit;
	return 0;
}

/* Create the file p (its parent must exist) open for writing as fid. */
static int
ccreate(Client *c, const char *p, uint32_t fid)
{
	Fcall t, r;
	const char *slash;
	char parent[1024];

	slash = strrchr(p, '/');
	if(slash == NULL || (size_t)(slash - p) >= sizeof parent)
		return cerr(c, "%s: want an absolute path", p);
	memcpy(parent, p, (size_t)(slash - p));
	parent[slash - p] = '\0';
	if(cwalk(c, parent, fid) < 0)
		return -1;
	memset(&t, 0, sizeof t);
	t.fid = fid;
	t.name = p9str(slash + 1);
	if(dialect == P9_2000L){
		t.type = Tlcreate;
		t.flags = L_WRONLY | L_CREAT | L_TRUNC;
		t.mode = 0644;
		t.gid = (uint32_t)getgid();
		return crpc(c, &t, &r, Rlcreate);
	}
	t.type = Tcreate;
	t.perm = 0644;
	t.mode = P9_OWRITE | P9_OTRUNC;
	return crpc(c, &t, &r, Rcreate);
}

/* Room for data in one Tread reply or Twrite, within the msize, iounit and -b. */
static uint32_t
iosize(const Client *c, uint32_t iounit, int write)
{
	uint32_t n;

	n = c->msize - (write ? P9_IOHDRSZ : P9_READHDRSZ);
	if(iounit != 0 && iounit < n)
		n = iounit;
	if(blocksize != 0 && blocksize < n)
		n = blocksize;
	return n;
}

/* ---- the workloads ---------------------------------------------------- */

/* Open p for writing as fid, truncated, creating it if it is not there. */
static int
openw(Client *c, const char *p, uint32_t fid, uint32_t *iounit)
{
	*iounit = 0;
	if(cwalk(c, p, fid) == 0)
		return copen(c, fid, 1, iounit);
	c->err[0] = '\0';	/* not there is no error here */
	return ccreate(c, p, fid);
}

/* Fill the file p with size bytes, creating it or truncating it first. */
static int
prepare(Client *c, const char *p, uint64_t size)
{
	Fcall t, r;
	uint64_t off;
	uint32_t iounit, n;

	if(cconnect(c) < 0)
		return -1;
	if(openw(c, p, Iofid, &iounit) < 0)
		return -1;
	n = iosize(c, iounit, 1);
	c->data = malloc(n);
	if(c->data == NULL)
		return cerr(c, "out of memory");
	memset(c->data, 'x', n);
	for(off = 0; off < size; off += r.count){
		memset(&t, 0, sizeof t);
		t.type = Twrite;
		t.fid = Iofid;
		t.offset = off;
		t.count = size - off < n ? (uint32_t)(size - off) : n;
		t.data = c->data;
		if(crpc(c, &t, &r, Rwrite) < 0)
			return -1;
		if(r.count == 0)
			return cerr(c, "%s: wrote nothing at offset %llu", p, (unsigned long long)off);
	}
	return cclunk(c, Iofid);
}

/* Whether the file p exists: 1, 0, or -1 if the server cannot be reached. */
static int
exists(const char *p)
{
	Client c;
	int r;

	if(cinit(&c, 0) < 0)
		fatal("%s", c.err);
	if(cconnect(&c) < 0)
		fatal("%s: %s", addr, c.err);
	r = cwalk(&c, p, Workfid) == 0;
	cfree(&c);
	return r;
}

static int
smallloop(Client *c)
{
	uint64_t t0, t1, t2, t3;

	while(!cdone(c)){
		t0 = nsnow();
		if(cwalk(c, path, Workfid) < 0)
			return -1;
		t1 = nsnow();
		if(cstat(c, Workfid) < 0)
			return -1;
		t2 = nsnow();
		if(cclunk(c, Workfid) < 0)
			return -1;
		t3 = nsnow();
		hadd(&c->hist, t1 - t0);
		hadd(&c->hist, t2 - t1);
		hadd(&c->hist, t3 - t2);
		c->ops += 3;
	}
	return 0;
}

static int
readloop(Client *c)
{
	Fcall t, r;
	uint64_t off, t0;
	uint32_t iounit, n;

	if(cwalk(c, path, Iofid) < 0 || copen(c, Iofid, 0, &iounit) < 0)
		return -1;
	n = iosize(c, iounit, 0);
	off = 0;
	while(!cdone(c)){
		memset(&t, 0, sizeof t);
		t.type = Tread;
		t.fid = Iofid;
		t.offset = off;
		t.count = n;
		t0 = nsnow();
		if(crpc(c, &t, &r, Rread) < 0)
			return -1;
		hadd(&c->hist, nsnow() - t0);
		c->ops++;
		c->bytes += r.count;
		off += r.count;
		if(r.count == 0 || off >= fsize){
			if(off == 0)
				return cerr(c, "%s is empty", path);
			off = 0;
		}
	}
	return cclunk(c, Iofid);
}

static int
writeloop(Client *c)
{
	Fcall t, r;
	char name[1100];
	uint64_t off, t0;
	uint32_t iounit, n;

	snprintf(name, sizeof name, "%s.%d", path, c->id);
	if(openw(c, name, Iofid, &iounit) < 0)
		return -1;
	n = iosize(c, iounit, 1);
	c->data = malloc(n);
	if(c->data == NULL)
		return cerr(c, "out of memory");
	memset(c->data, 'w', n);
	off = 0;
	while(!cdone(c)){
		memset(&t, 0, sizeof t);
		t.type = Twrite;
		t.fid = Iofid;
		t.offset = off;
		t.count = n;
		t.data = c->data;
		t0 = nsnow();
		if(crpc(c, &t, &r, Rwrite) < 0)
			return -1;
		hadd(&c->hist, nsnow() - t0);
		if(r.count == 0)
			return cerr(c, "%s: wrote nothing", name);
		c->ops++;
		c->bytes += r.count;
		off += r.count;
		/* stay within -s so the server's memory is bounded */
		if(off + n > fsize)
			off = 0;
	}
	return cclunk(c, Iofid);
}

typedef int Loop(Client *);
static Loop *loop;

static void *
clientthread(void *v)
{
	Client *c;
	int r;

	c = v;
	r = cconnect(c);
	pthread_barrier_wait(&startline);
	if(r == 0 && !atomic_load(&failed))
		r = loop(c);
	if(r < 0){
		atomic_store(&failed, 1);
		/* end the others now: their numbers would mean nothing */
		atomic_store(&deadline, 0);
	}
	return NULL;
}

static const char *
opname(void)
{
	if(loop == smallloop)
		return "small";
	if(loop == readloop)
		return "read";
	return "write";
}

static int
runclients(void)
{
	Client *cl;
	pthread_attr_t attr;
	Hist *all;
	uint64_t ops, bytes, t0, t1;
	double el;
	int i, err;

	cl = calloc((size_t)nclients, sizeof *cl);
	all = calloc(1, sizeof *all);
	if(cl == NULL || all == NULL)
		fatal("out of memory");
	if(pthread_barrier_init(&startline, NULL, (unsigned)nclients + 1) != 0)
		fatal("cannot make a barrier");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, Stack);
	/* far in the future until every client is attached */
	atomic_store(&deadline, UINT64_MAX);
	for(i = 0; i < nclients; i++){
		if(cinit(&cl[i], i) < 0)
			fatal("%s", cl[i].err);
		if((err = pthread_create(&cl[i].thread, &attr, clientthread, &cl[i])) != 0)
			fatal("cannot start a thread: %s", strerror(err));
	}
	pthread_barrier_wait(&startline);
	t0 = nsnow();
	{
		uint64_t never = UINT64_MAX;

		/* unless a client has failed already and set it to 0 */
		atomic_compare_exchange_strong(&deadline, &never, t0 + (uint64_t)(seconds * 1e9));
	}
	for(i = 0; i < nclients; i++)
		pthread_join(cl[i].thread, NULL);
	t1 = nsnow();
	ops = bytes = 0;
	for(i = 0; i < nclients; i++){
		if(cl[i].err[0] != '\0')
			fprintf(stderr, "9pload: client %d: %s\n", i, cl[i].err);
		hmerge(all, &cl[i].hist);
		ops += cl[i].ops;
		bytes += cl[i].bytes;
	}
	el = (double)(t1 - t0) / 1e9;
	if(el <= 0)
		el = 1e-9;
	printf("op=%s clients=%d secs=%.2f msize=%u ops=%llu ops_per_s=%.0f "
	    "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f MBps=%.1f\n",
	    opname(), nclients, el, cl[0].msize, (unsigned long long)ops, (double)ops / el,
	    hquantile(all, 0.50) / 1e3, hquantile(all, 0.90) / 1e3,
	    hquantile(all, 0.99) / 1e3, hquantile(all, 0.999) / 1e3,
	    (double)all->max / 1e3, (double)bytes / el / 1e6);
	fflush(stdout);
	for(i = 0; i < nclients; i++)
		cfree(&cl[i]);
	free(cl);
	free(all);
	return atomic_load(&failed) ? 1 : 0;
}

static int
runprep(void)
{
	Client c;
	int r;

	if(cinit(&c, 0) < 0)
		fatal("%s", c.err);
	r = prepare(&c, path, fsize);
	if(r < 0)
		fprintf(stderr, "9pload: prep %s: %s\n", path, c.err);
	else if(!quiet)
		printf("op=prep path=%s bytes=%llu\n", path, (unsigned long long)fsize);
	cfree(&c);
	return r < 0;
}

/* ---- idle sessions ----------------------------------------------------- */

static void
raisefdlimit(rlim_t want)
{
	struct rlimit rl;

	if(getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if(rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* Send one small request on fd without waiting. */
static int
sendraw(int fd, Fcall *t, uint8_t *buf, size_t len)
{
	size_t n;

	n = p9encode(buf, len, t, dialect);
	if(n == 0)
		return -1;
	return writeall(fd, buf, n);
}

/* Read exactly one reply on fd into buf and decode it. */
static int
recvraw(int fd, uint8_t *buf, size_t len, Fcall *r)
{
	size_t have;
	ssize_t n;
	uint32_t size;

	have = 0;
	size = 4;
	while(have < size){
		n = read(fd, buf + have, size - have);
		if(n < 0 && errno == EINTR)
			continue;
		if(n <= 0)
			return -1;
		have += (size_t)n;
		if(have == 4 && size == 4){
			size = p9get32(buf);
			if(size < P9_HDRSZ || size > len)
				return -1;
		}
	}
	return p9decode(buf, size, (uint32_t)len, dialect, r) > 0 ? 0 : -1;
}

/*
 * Open nclients sessions in batches (each batch's Tversions, then their
 * Tattachs, all sent before any reply is read) and hold them.
 */
static int
runidle(void)
{
	enum { Batch = 256 };
	int *fds, i, j, n;
	uint8_t buf[8192];
	Fcall t, r;
	char err[256];
	uint64_t t0;
	double el;

	raisefdlimit((rlim_t)nclients + 64);
	fds = calloc((size_t)nclients, sizeof *fds);
	if(fds == NULL)
		fatal("out of memory");
	t0 = nsnow();
	for(i = 0; i < nclients; i += n){
		n = nclients - i < Batch ? nclients - i : Batch;
		for(j = i; j < i + n; j++){
			fds[j] = dial(addr, err, sizeof err);
			if(fds[j] < 0)
				fatal("session %d: %s", j, err);
			memset(&t, 0, sizeof t);
			t.type = Tversion;
			t.tag = P9_NOTAG;
			t.msize = 8192;
			t.version = p9str(p9dialectname(dialect));
			if(sendraw(fds[j], &t, buf, sizeof buf) < 0)
				fatal("session %d: cannot send Tversion", j);
		}
		for(j = i; j < i + n; j++){
			if(recvraw(fds[j], buf, sizeof buf, &r) < 0 || r.type != Rversion)
				fatal("session %d: no Rversion", j);
			memset(&t, 0, sizeof t);
			t.type = Tattach;
			t.tag = 1;
			t.fid = Rootfid;
			t.afid = P9_NOFID;
			t.uname = p9str(uname);
			t.aname = p9str(aname);
			t.nuname = P9_NOFID;
			if(sendraw(fds[j], &t, buf, sizeof buf) < 0)
				fatal("session %d: cannot send Tattach", j);
		}
		for(j = i; j < i + n; j++){
			memset(&r, 0, sizeof r);
			if(recvraw(fds[j], buf, sizeof buf, &r) < 0 || r.type != Rattach)
				fatal("session %d: no Rattach (%s)", j,
				    r.type == Rerror ? "Rerror" : "hung up or bad reply");
		}
	}
	el = (double)(nsnow() - t0) / 1e9;
	printf("ready sessions=%d secs=%.2f sessions_per_s=%.0f\n", nclients, el,
	    el > 0 ? nclients / el : 0);
	fflush(stdout);
	/* hold them: until killed, or for -d seconds when that is given */
	if(seconds >= 0){
		struct timespec ts;

		ts.tv_sec = (time_t)seconds;
		ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
		while(nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}else
		for(;;)
			pause();
	for(i = 0; i < nclients; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

/* ---- fids held open, for reconnect ------------------------------------ */

/*
 * Send Twalk (or Topen, or Tread of a byte) for fids 10.. of c, all of
 * them before any reply is read (9mux holds what it cannot send yet):
 * the replies that are not of type want.
 */
static int
pipelined(Client *c, int type, int n, int want)
{
	Fcall t, r;
	int i, bad;

	for(i = 0; i < n; i++){
		memset(&t, 0, sizeof t);
		t.type = (uint8_t)type;
		t.newfid = 10 + (uint32_t)i;
		t.fid = type == Twalk ? Rootfid : t.newfid;
		if(type == Twalk && setwalk(&t, path) < 0)
			return -1;
		t.mode = P9_OREAD;
		t.flags = L_RDONLY;
		t.count = 1;
		if(csend(c, &t) < 0)
			return -1;
	}
	bad = 0;
	for(i = 0; i < n; i++){
		if(crecv(c, &r) < 0)
			return -1;
		bad += r.type != want;
	}
	return bad;
}

/*
 * -c sessions, each with -n fids walked to -f path and open: then a
 * line (or the end) of standard input, and a byte read through each.
 * What reconnect (9mux -P) restores, and how long until every fid
 * reads again after a cut made before that line.
 */
static int
runopen(void)
{
	Client *cl;
	char line[256];
	uint64_t t0;
	int i, bad, ol;

	raisefdlimit((rlim_t)nclients + 64);
	if(!exists(path) && (quiet = 1, runprep()) != 0)
		return 1;
	cl = calloc((size_t)nclients, sizeof *cl);
	if(cl == NULL)
		fatal("out of memory");
	ol = dialect == P9_2000L ? Rlopen : Ropen;
	t0 = nsnow();
	for(i = 0; i < nclients; i++){
		if(cinit(&cl[i], i) < 0 || cconnect(&cl[i]) < 0)
			fatal("session %d: %s", i, cl[i].err);
		if(pipelined(&cl[i], Twalk, nfids, Rwalk) != 0 ||
		pipelined(&cl[i], dialect == P9_2000L ? Tlopen : Topen, nfids, ol) != 0)
			fatal("session %d: cannot open %d fids of %s%s%s", i, nfids, path,
			    cl[i].err[0] ? ": " : "", cl[i].err);
	}
	printf("op=open clients=%d fids=%d secs=%.2f\n", nclients, nclients * nfids, (double)(nsnow() - t0) / 1e9);
	fflush(stdout);
	if(fgets(line, sizeof line, stdin) == NULL){
		/* the end of the input is as good as a line */
	}
	t0 = nsnow();
	bad = 0;
	for(i = 0; i < nclients; i++){
		if((ol = pipelined(&cl[i], Tread, nfids, Rread)) < 0)
			fatal("session %d: %s", i, cl[i].err);
		bad += ol;
	}
	printf("op=reread clients=%d fids=%d secs=%.3f errors=%d\n", nclients, nclients * nfids,
	    (double)(nsnow() - t0) / 1e9, bad);
	for(i = 0; i < nclients; i++)
		cfree(&cl[i]);
	free(cl);
	return bad != 0;
}

/* ---- the relay ---------------------------------------------------------- */

typedef struct Pair Pair;
struct Pair {
	int		a, b;
	atomic_int	ref;
};

typedef struct Half Half;
struct Half {
	Pair	*p;
	int	from, to;
};

static void
unref(Pair *p)
{
	if(atomic_fetch_sub(&p->ref, 1) == 1){
		close(p->a);
		close(p->b);
		free(p);
	}
}

static void *
copythread(void *v)
{
	Half *h;
	uint8_t *buf;
	ssize_t n;

	h = v;
	buf = malloc(Relaybuf);
	if(buf != NULL)
		for(;;){
			n = read(h->from, buf, Relaybuf);
			if(n < 0 && errno == EINTR)
				continue;
			if(n <= 0 || writeall(h->to, buf, (size_t)n) < 0)
				break;
		}
	free(buf);
	/* pass the end on: the other direction keeps going until it ends too */
	shutdown(h->to, SHUT_WR);
	shutdown(h->from, SHUT_RD);
	unref(h->p);
	free(h);
	return NULL;
}

static const char *relaypath;

static void
relaystop(int sig)
{
	if(relaypath != NULL)
		unlink(relaypath);
	_exit(128 + sig);
}

static int
runrelay(const char *listen, const char *upstream)
{
	pthread_attr_t attr;
	pthread_t t;
	Pair *p;
	Half *h[2];
	char err[256];
	int lfd, fd, up, i;

	signal(SIGPIPE, SIG_IGN);
	raisefdlimit(65536);
	lfd = announce(listen, 0, err, sizeof err);
	if(lfd < 0)
		fatal("%s", err);
	relaypath = addrpath(listen);
	signal(SIGTERM, relaystop);
	signal(SIGINT, relaystop);
	signal(SIGHUP, relaystop);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for(;;){
		fd = accept(lfd, NULL, NULL);
		if(fd < 0){
			if(errno != EINTR && errno != ECONNABORTED)
				usleep(10000);
			continue;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		up = dial(upstream, err, sizeof err);
		if(up < 0){
			fprintf(stderr, "9pload: relay: %s\n", err);
			close(fd);
			continue;
		}
		p = malloc(sizeof *p);
		h[0] = malloc(sizeof *h[0]);
		h[1] = malloc(sizeof *h[1]);
		if(p == NULL || h[0] == NULL || h[1] == NULL)
			fatal("out of memory");
		p->a = fd;
		p->b = up;
		atomic_init(&p->ref, 2);
		*h[0] = (Half){p, fd, up};
		*h[1] = (Half){p, up, fd};
		for(i = 0; i < 2; i++)
			if(pthread_create(&t, &attr, copythread, h[i]) != 0)
				fatal("cannot start a relay thread");
	}
}

/* ---- stdio: a program whose standard input and output are a connection -- */

static int
runstdio(char **argv)
{
	char err[256];
	int fd;

	fd = dial(addr, err, sizeof err);
	if(fd < 0)
		fatal("%s", err);
	if(dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		fatal("dup2: %s", strerror(errno));
	if(fd > 1)
		close(fd);
	execvp(argv[0], argv);
	fatal("exec %s: %s", argv[0], strerror(errno));
}

int
main(int argc, char **argv)
{
	uint64_t v;
	char *end;
	const char *op;
	int ch;

	while((ch = getopt(argc, argv, "+a:V:c:d:m:u:A:f:s:b:n:N:q")) != -1){
		switch(ch){
		case 'a':
			if(addrkind(optarg) < 0)
				fatal("bad address %s", optarg);
			addr = optarg;
			break;
		case 'V':
			dialect = p9dialect(optarg, strlen(optarg));
			if(dialect < 0)
				fatal("unknown dialect %s: want 9P2000, 9P2000.u or 9P2000.L", optarg);
			break;
		case 'c':
			nclients = (int)strtol(optarg, &end, 10);
			if(*end != '\0' || nclients < 1 || nclients > 1000000)
				fatal("bad client count %s", optarg);
			break;
		case 'd':
			seconds = strtod(optarg, &end);
			if(*end != '\0' || !(seconds >= 0) || seconds > 1e6)
				fatal("bad duration %s", optarg);
			break;
		case 'm':
			if(parsesize(optarg, &v) < 0 || v < P9_MINMSIZE || v > 0x7FFFFFFF)
				fatal("bad msize %s", optarg);
			msize = (uint32_t)v;
			break;
		case 'u':
			uname = optarg;
			break;
		case 'A':
			aname = optarg;
			break;
		case 'f':
			if(optarg[0] != '/')
				fatal("want an absolute path, not %s", optarg);
			path = optarg;
			break;
		case 's':
			if(parsesize(optarg, &fsize) < 0 || fsize == 0)
				fatal("bad size %s", optarg);
			break;
		case 'b':
			if(parsesize(optarg, &v) < 0 || v == 0 || v > 0x7FFFFFFF)
				fatal("bad block size %s", optarg);
			blocksize = (uint32_t)v;
			break;
		case 'n':
			nfids = (int)strtol(optarg, &end, 10);
			if(*end != '\0' || nfids < 1 || nfids > 60000)
				fatal("bad fid count %s", optarg);
			break;
		case 'N':
			if(parsesize(optarg, &nops) < 0 || nops == 0)
				fatal("bad round-trip count %s", optarg);
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if(argc < 1)
		usage();
	op = argv[0];
	signal(SIGPIPE, SIG_IGN);
	if(strcmp(op, "relay") == 0){
		if(argc != 3)
			usage();
		return runrelay(argv[1], argv[2]);
	}
	if(strcmp(op, "stdio") == 0){
		if(argc < 2)
			usage();
		return runstdio(argv + 1);
	}
	if(argc != 1)
		usage();
	if(seconds < 0 && strcmp(op, "idle") != 0)
		seconds = nops != 0 ? 1e6 : 3;	/* -N alone: as long as it takes */
	if(strcmp(op, "small") == 0 || strcmp(op, "read") == 0){
		/* a fresh server: make the file they use */
		if(!exists(path) && (quiet = 1, runprep()) != 0)
			return 1;
		loop = op[0] == 's' ? smallloop : readloop;
		return runclients();
	}
	if(strcmp(op, "write") == 0){
		loop = writeloop;
		return runclients();
	}
	if(strcmp(op, "prep") == 0)
		return runprep();
	if(strcmp(op, "idle") == 0)
		return runidle();
	if(strcmp(op, "open") == 0)
		return runopen();
	usage();
	return 2;
}
