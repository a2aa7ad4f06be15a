/*
 * The engine's hot path allocates nothing once warm: after a warm-up,
 * thousands of Tstat and Tread round trips (request in, translated frame
 * out, reply in, reply out) make no call to malloc, calloc or realloc,
 * with reconnect (-P) on or off, and a walk that makes a fid allocates
 * only its path.  The test counts calls by standing in front of the C
 * library's allocator, which the sanitizers also do: under them it
 * skips.
 */
#include <stdint.h>

#include "9p.h"
#include "ninemux.h"
#include "tap.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

enum { N = 5000 };

static long nalloc;

static long
nalloc_now(void)
{
	return nalloc;
}

#ifndef SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
void *malloc(size_t);
void *calloc(size_t, size_t);
void *realloc(void *, size_t);
void free(void *);

void *
malloc(size_t n)
{
	nalloc++;
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t m)
{
	nalloc++;
	return __libc_calloc(n, m);
}

void *
realloc(void *p, size_t n)
{
	nalloc++;
	return __libc_realloc(p, n);
}

void
free(void *p)
{
	__libc_free(p);
}
#endif

static Nmux *m;
static Nmchan *ch;
static uint8_t upbuf[1 << 16], clbuf[1 << 16];

static void
wake(void *aux, int what)
{
	(void)aux;
	(void)what;
}

/* Write out everything queued in q into buf (as the daemon would with writev): its length. */
static size_t
drain(Nmq *q, uint8_t *buf)
{
	struct iovec iov[16];
	size_t len, n;
	int k, i;

	len = 0;
	while(!nmqempty(q)){
		k = nmqiov(q, iov, 16);
		n = 0;
		for(i = 0; i < k; i++){
			if(len <= sizeof upbuf && sizeof upbuf - len >= iov[i].iov_len)
				memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
			len += iov[i].iov_len;
			n += iov[i].iov_len;
		}
		nmqadvance(q, n);
	}
	return len;
}

/* One round trip of t through the engine, the test answering r for the server: the reply's type. */
static int
rpc(Nmsess *s, Fcall *t, Fcall *r)
{
	uint8_t b[256];
	Fcall up, cl;
	size_t n;

	n = p9encode(b, sizeof b, t, P9_2000);
	if(nmsessin(s, b, n, NULL, 0) != (long)n)
		return -1;
	n = drain(nmchanq(ch), upbuf);
	if(p9decode(upbuf, n, sizeof upbuf, P9_2000, &up) <= 0)
		return -1;
	r->tag = up.tag;
	n = p9encode(b, sizeof b, r, P9_2000);
	if(nmchanin(ch, b, n, NULL, 0) != (long)n)
		return -1;
	n = drain(nmsessq(s), clbuf);
	if(p9decode(clbuf, n, sizeof clbuf, P9_2000, &cl) <= 0 || cl.tag != t->tag)
		return -1;
	return cl.type;
}

/*
 * 2N Tstat and Tread round trips on fid 0 of s, the server answering
 * with the stat st (nst bytes) and 100 bytes of data: all are answered,
 * and the last N allocate nothing.
 */
static void
warmcount(Nmsess *s, uint8_t *st, size_t nst, const char *label)
{
	static uint8_t data[100];
	Fcall t, r;
	long before;
	int i, good;

	before = 0;
	good = 0;
	for(i = 0; i < 2 * N; i++){
		if(i == N)
			before = nalloc_now();
		memset(&t, 0, sizeof t);
		memset(&r, 0, sizeof r);
		t.tag = (uint16_t)(10 + i % 7);
		t.fid = 0;
		if(i & 1){
			t.type = Tread;
			t.count = sizeof data;
			r.type = Rread;
			r.count = sizeof data;
			r.data = data;
		}else{
			t.type = Tstat;
			r.type = Rstat;
			r.stat = st;
			r.nstat = (uint16_t)nst;
		}
		good += rpc(s, &t, &r) == r.type;
	}
	is_int(good, 2 * N, "%s%d Tstat and Tread round trips answered", label, 2 * N);
	is_int(nalloc_now() - before, 0, "%sthe last %d allocated nothing", label, N);
}

int
main(void)
{
	static uint8_t data[100], st[128];
	P9dir d;
	size_t nst;
	Nmconf c;
	Nmsess *s;
	Fcall t, r;
	long before;
	int i, good;

	before = 0;
	memset(&d, 0, sizeof d);
	d.name = p9str("file");
	d.uid = d.gid = d.muid = p9str("me");
	d.mode = 0644;
	d.length = sizeof data;
	nst = p9direncode(st, sizeof st, &d, P9_2000);

	tap_start(30);
#ifdef SANITIZED
	printf("1..0 # SKIP the sanitizers own the allocator\n");
	return 0;
#endif
	memset(&c, 0, sizeof c);
	c.msize = 8192;
	c.wake = wake;
	m = nmnew(&c);
	ch = nmchannew(m, NULL);
	drain(nmchanq(ch), upbuf);
	memset(&r, 0, sizeof r);
	r.type = Rversion;
	r.tag = P9_NOTAG;
	r.msize = 8192;
	r.version = p9str("9P2000");
	{
		uint8_t b[64];
		size_t n;

		n = p9encode(b, sizeof b, &r, P9_2000);
		nmchanin(ch, b, n, NULL, 0);
	}
	s = nmsessnew(m, NULL);
	memset(&t, 0, sizeof t);
	t.type = Tversion;
	t.tag = P9_NOTAG;
	t.msize = 8192;
	t.version = p9str("9P2000");
	{
		uint8_t b[64];
		size_t n;

		n = p9encode(b, sizeof b, &t, P9_2000);
		nmsessin(s, b, n, NULL, 0);
		drain(nmsessq(s), clbuf);
	}
	memset(&t, 0, sizeof t);
	t.type = Tattach;
	t.tag = 1;
	t.fid = 0;
	t.afid = P9_NOFID;
	t.uname = p9str("me");
	t.aname = p9str("");
	memset(&r, 0, sizeof r);
	r.type = Rattach;
	ok(rpc(s, &t, &r) == Rattach, "a session attached through the engine");

	/* warm up, then count */
	warmcount(s, st, nst, "");

	/*
	 * With reconnect on (-P) each written frame of a request safe to
	 * repeat is kept until its reply: the same spares, still nothing.
	 */
	nmuppersist(nmdefup(m), 1);
	warmcount(s, st, nst, "persisting: ");

	/* a walk makes a fid: its path is the only allocation (the fid is a spare) */
	before = nalloc_now();
	good = 0;
	for(i = 0; i < N; i++){
		memset(&t, 0, sizeof t);
		memset(&r, 0, sizeof r);
		t.type = Twalk;
		t.tag = 3;
		t.fid = 0;
		t.newfid = 1;
		t.nwname = 1;
		t.wname[0] = p9str("file");
		r.type = Rwalk;
		r.nwqid = 1;
		good += rpc(s, &t, &r) == Rwalk;
		memset(&t, 0, sizeof t);
		memset(&r, 0, sizeof r);
		t.type = Tclunk;
		t.tag = 4;
		t.fid = 1;
		r.type = Rclunk;
		good += rpc(s, &t, &r) == Rclunk;
	}
	is_int(good, 2 * N, "%d Twalk and Tclunk round trips answered", N);
	ok(nalloc_now() - before <= N + 8, "they allocated %ld times: the walked paths, at most one each",
		nalloc_now() - before);
	nmsessclose(s);
	drain(nmchanq(ch), upbuf);
	nmfree(m);
	return done_testing();
}
