/*
 * echo.h - a small tagged protocol for the libmux tests, header-only.
 *
 * Frame: len[4] tag[4] type[4] id[8] delay[4] arg[4] arg2[4] payload,
 * little-endian.  The server runs in a child process on one end of a
 * socketpair: it holds each request for a random time (or for delay
 * microseconds, or for ever if delay is Never) and answers whatever is
 * due in random order, so replies come back out of order.
 */
#ifndef ECHO_H
#define ECHO_H

#include <errno.h>
#include <sys/select.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "mux.h"

/* not every test uses every helper */
#pragma GCC diagnostic ignored "-Wunused-function"

enum {
	Hdr	= 32,
	Tping	= 1,	/* echo, after delay */
	Rping,
	Tcancel,	/* arg: tag to cancel; arg2: 1 = answer the original first */
	Rcancel,
	Textra,		/* answer, and first send strays: tags -1, 1000000, and one unused in [arg, arg2) */
	Rextra,
	Never	= 0xFFFFFFFF,
	Dfltdelay = 0xFFFFFFFE,	/* the server's random delay */
	Flagdup	= 1u<<31,	/* in a reply's arg2: a request came with a tag in flight */
};

static void
put4(unsigned char *p, uint32_t v)
{
	p[0] = v; p[1] = v>>8; p[2] = v>>16; p[3] = v>>24;
}

static uint32_t
get4(const unsigned char *p)
{
	return p[0] | p[1]<<8 | p[2]<<16 | (uint32_t)p[3]<<24;
}

static void
put8(unsigned char *p, uint64_t v)
{
	put4(p, (uint32_t)v);
	put4(p+4, (uint32_t)(v>>32));
}

static uint64_t
get8(const unsigned char *p)
{
	return get4(p) | (uint64_t)get4(p+4)<<32;
}

#define MLEN(m)		get4((unsigned char*)(m))
#define MTAG(m)		get4((unsigned char*)(m)+4)
#define MTYPE(m)	get4((unsigned char*)(m)+8)
#define MID(m)		get8((unsigned char*)(m)+12)
#define MDELAY(m)	get4((unsigned char*)(m)+20)
#define MARG(m)		get4((unsigned char*)(m)+24)
#define MARG2(m)	get4((unsigned char*)(m)+28)

static unsigned char*
mkmsg(uint32_t type, uint64_t id, uint32_t delay, uint32_t arg, uint32_t arg2, size_t npay)
{
	unsigned char *m;
	size_t i;

	m = malloc(Hdr + npay);
	if(m == NULL)
		abort();
	put4(m, (uint32_t)(Hdr + npay));
	put4(m+4, 0xDEADBEEF);
	put4(m+8, type);
	put8(m+12, id);
	put4(m+20, delay);
	put4(m+24, arg);
	put4(m+28, arg2);
	for(i = 0; i < npay; i++)
		m[Hdr+i] = (unsigned char)(id + i);
	return m;
}

/* Whether m carries the payload mkmsg put there for id. */
static int
paycheck(const unsigned char *m, uint64_t id)
{
	size_t i, n = MLEN(m) - Hdr;

	for(i = 0; i < n; i++)
		if(m[Hdr+i] != (unsigned char)(id + i))
			return 0;
	return 1;
}

static int
writen(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;
	ssize_t w;

	while(n > 0){
		w = write(fd, b, n);
		if(w < 0 && errno == EINTR)
			continue;
		if(w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A buffered frame reader. */
typedef struct Rd Rd;
struct Rd
{
	int	fd;
	unsigned char	buf[65536];
	size_t	off;
	size_t	n;
};

/* Fill from fd (one read); 0 at EOF or error. */
static int
rdfill(Rd *r)
{
	ssize_t k;

	if(r->off > 0){
		memmove(r->buf, r->buf + r->off, r->n - r->off);
		r->n -= r->off;
		r->off = 0;
	}
	do
		k = read(r->fd, r->buf + r->n, sizeof r->buf - r->n);
	while(k < 0 && errno == EINTR);
	if(k <= 0)
		return 0;
	r->n += (size_t)k;
	return 1;
}

/* The next whole frame already in the buffer, malloc'd, or NULL. */
static unsigned char*
rdframe(Rd *r)
{
	uint32_t len;
	unsigned char *m;

	if(r->n - r->off < 4)
		return NULL;
	len = get4(r->buf + r->off);
	if(len < Hdr || len > sizeof r->buf)
		abort();
	if(r->n - r->off < len)
		return NULL;
	m = malloc(len);
	if(m == NULL)
		abort();
	memcpy(m, r->buf + r->off, len);
	r->off += len;
	return m;
}

/* ---- the server (child process) ---- */

typedef struct Srvopt Srvopt;
struct Srvopt
{
	uint32_t	maxdelay;	/* µs, for Dfltdelay */
	long	closeafter;	/* close after reading this many requests (0: never) */
};

typedef struct Pend Pend;
struct Pend
{
	unsigned char	*m;
	int64_t	due;		/* ns; -1 never */
};

static uint64_t srvrand = 88172645463325252ULL;

static uint64_t
xrand(void)
{
	srvrand ^= srvrand << 13;
	srvrand ^= srvrand >> 7;
	srvrand ^= srvrand << 17;
	return srvrand;
}

static int64_t
nowns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Replies are gathered and written together. */
static unsigned char outbuf[1<<16];
static size_t nout;

static void
srvflush(int fd)
{
	if(nout > 0 && writen(fd, outbuf, nout) < 0)
		_exit(0);
	nout = 0;
}

static void
srvreply(int fd, unsigned char *m, uint32_t pending)
{
	put4(m+8, MTYPE(m) + 1);
	put4(m+28, (MARG2(m) & Flagdup) | pending);
	if(sizeof outbuf - nout < MLEN(m))
		srvflush(fd);
	if(MLEN(m) > sizeof outbuf){
		if(writen(fd, m, MLEN(m)) < 0)
			_exit(0);
		return;
	}
	memcpy(outbuf + nout, m, MLEN(m));
	nout += MLEN(m);
}

static void
srvstray(int fd, uint32_t tag)
{
	unsigned char *m;

	m = mkmsg(Tping, 0, 0, 0, 0, 3);
	put4(m+4, tag);
	srvreply(fd, m, 0);
	free(m);
}

static void
serve(int fd, Srvopt o)
{
	static Rd rd;
	Pend *p;
	size_t np, cap, i, j, nseen;
	unsigned char *m;
	int64_t now, next;
	int k;
	fd_set rf;
	struct timespec ts;
	uint32_t tag, lo, hi, t;

	srvrand ^= (uint64_t)getpid() * 2654435761u;
	rd.fd = fd;
	cap = 1024;
	np = 0;
	nseen = 0;
	p = malloc(cap * sizeof p[0]);
	if(p == NULL)
		_exit(1);
	for(;;){
		/* answer what is due, in random order */
		now = nowns();
		for(;;){
			k = 0;
			for(i = 0; i < np; i++)
				if(p[i].due >= 0 && p[i].due <= now)
					k++;
			if(k == 0)
				break;
			k = (int)(xrand() % (uint64_t)k);
			for(i = 0; i < np; i++)
				if(p[i].due >= 0 && p[i].due <= now && k-- == 0)
					break;
			m = p[i].m;
			p[i] = p[--np];
			if(MTYPE(m) == Tcancel){
				/* the original, if still here, goes first or never */
				for(j = 0; j < np; j++)
					if(MTAG(p[j].m) == MARG(m) && MTYPE(p[j].m) != Tcancel)
						break;
				if(j < np){
					if(MARG2(m) & 1)
						srvreply(fd, p[j].m, (uint32_t)np);
					free(p[j].m);
					p[j] = p[--np];
				}
			}
			srvreply(fd, m, (uint32_t)np);
			free(m);
		}
		next = -1;
		for(i = 0; i < np; i++)
			if(p[i].due >= 0 && (next < 0 || p[i].due < next))
				next = p[i].due;
		srvflush(fd);
		if(rd.n - rd.off < Hdr || rd.n - rd.off < MLEN(rd.buf + rd.off)){
			FD_ZERO(&rf);
			FD_SET(fd, &rf);
			if(next >= 0){
				next = next > now ? next - now : 0;
				ts.tv_sec = next / 1000000000;
				ts.tv_nsec = next % 1000000000;
			}
			if(pselect(fd+1, &rf, NULL, NULL, next >= 0 ? &ts : NULL, NULL) <= 0)
				continue;
			if(!rdfill(&rd))
				_exit(0);
		}
		while((m = rdframe(&rd)) != NULL){
			nseen++;
			if(o.closeafter > 0 && nseen >= (size_t)o.closeafter)
				_exit(0);
			if(np == cap){
				cap *= 2;
				p = realloc(p, cap * sizeof p[0]);
				if(p == NULL)
					_exit(1);
			}
			tag = MTAG(m);
			for(i = 0; i < np; i++)
				if(MTAG(p[i].m) == tag)
					put4(m+28, MARG2(m) | Flagdup);
			p[np].m = m;
			if(MDELAY(m) == Never)
				p[np].due = -1;
			else if(MDELAY(m) == Dfltdelay)
				p[np].due = nowns() + (int64_t)(o.maxdelay ? xrand() % o.maxdelay : 0) * 1000;
			else
				p[np].due = nowns() + (int64_t)MDELAY(m) * 1000;
			if(MTYPE(m) == Tcancel){
				/* hold the original until the cancel is answered */
				for(i = 0; i < np; i++)
					if(MTAG(p[i].m) == MARG(m) && MTYPE(p[i].m) != Tcancel)
						p[i].due = -1;
			}
			if(MTYPE(m) == Textra){
				srvstray(fd, 0xFFFFFFFF);
				srvstray(fd, 1000000);
				lo = MARG(m);
				hi = MARG2(m) & ~Flagdup;
				for(t = lo; t < hi; t++){
					if(t == tag)
						continue;
					for(i = 0; i < np; i++)
						if(MTAG(p[i].m) == t)
							break;
					if(i == np){
						srvstray(fd, t);
						break;
					}
				}
			}
			np++;
		}
	}
}

/* Fork a server on a socketpair: the client's end in *fd, the child's pid. */
static pid_t
startserver(Srvopt o, int *fd)
{
	int sv[2];
	pid_t pid;

	if(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	pid = fork();
	if(pid < 0)
		abort();
	if(pid == 0){
		close(sv[0]);
		serve(sv[1], o);
		_exit(0);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

static void
stopserver(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* ---- the client's hooks ---- */

typedef struct Conn Conn;
struct Conn
{
	Mux	mux;
	Rd	rd;
	atomic_int	inrecv;		/* recv calls running now */
	atomic_int	insend;
	atomic_int	overlap;	/* times two ran at once */
	atomic_int	badtag;		/* tags outside [mintag, maxtag) */
	atomic_int	freed;		/* messages given to the free hook */
};

static int
echo_settag(Mux *mux, void *msg, uint tag)
{
	Conn *c = mux->aux;

	if(tag < mux->mintag || tag >= mux->maxtag)
		atomic_fetch_add(&c->badtag, 1);
	put4(msg, MLEN(msg));
	put4((unsigned char*)msg + 4, tag);
	return 0;
}

static int
echo_gettag(Mux *mux, void *msg)
{
	(void)mux;
	return (int)MTAG(msg);
}

static int
echo_send(Mux *mux, void *msg)
{
	Conn *c = mux->aux;
	int rv;

	if(atomic_fetch_add(&c->insend, 1) != 0)
		atomic_fetch_add(&c->overlap, 1);
	rv = writen(c->rd.fd, msg, MLEN(msg));
	atomic_fetch_sub(&c->insend, 1);
	return rv;
}

static void*
echo_recv(Mux *mux)
{
	Conn *c = mux->aux;
	unsigned char *m;

	if(atomic_fetch_add(&c->inrecv, 1) != 0)
		atomic_fetch_add(&c->overlap, 1);
	while((m = rdframe(&c->rd)) == NULL)
		if(!rdfill(&c->rd))
			break;
	atomic_fetch_sub(&c->inrecv, 1);
	return m;
}

static void
echo_free(Mux *mux, void *msg)
{
	Conn *c = mux->aux;

	atomic_fetch_add(&c->freed, 1);
	free(msg);
}

static void*
echo_mkcancel(Mux *mux, uint oldtag)
{
	(void)mux;
	return mkmsg(Tcancel, 0, 0, oldtag, 0, 0);
}

/* A Conn on a new server, muxinit done. */
static Conn*
echoconn(Srvopt o, uint mintag, uint maxtag, pid_t *pid)
{
	Conn *c;

	c = calloc(1, sizeof *c);
	if(c == NULL)
		abort();
	*pid = startserver(o, &c->rd.fd);
	c->mux.mintag = mintag;
	c->mux.maxtag = maxtag;
	c->mux.settag = echo_settag;
	c->mux.gettag = echo_gettag;
	c->mux.send = echo_send;
	c->mux.recv = echo_recv;
	c->mux.aux = c;
	muxinit(&c->mux);
	return c;
}

static void
echoclose(Conn *c, pid_t pid)
{
	shutdown(c->rd.fd, SHUT_RDWR);
	muxfree(&c->mux);
	close(c->rd.fd);
	stopserver(pid);
	free(c);
}

/* A scale for loop counts: $MUX_TEST_SCALE, else 1 (ThreadSanitizer: dflt). */
static double
testscale(double dflt)
{
	const char *s = getenv("MUX_TEST_SCALE");
	double v;

	if(s != NULL && (v = atof(s)) > 0)
		return v;
	return dflt;
}

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

#endif
