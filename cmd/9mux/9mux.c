/*
 * 9mux - many 9P sessions over one upstream connection.
 *
 * One thread, one epoll loop over non-blocking descriptors.  All 9P
 * logic is in libninemux; this file moves bytes, accepts, signals,
 * and redials the upstream when it goes away.
 */
#define _GNU_SOURCE	/* struct ucred, accept4 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "9p.h"
#include "dial.h"
#include "log.h"
#include "ninemux.h"

enum {
	KLISTEN = 1,
	KCLIENT,
	KUPR,		/* upstream, the descriptor we read */
	KUPW,		/* upstream, the one we write, when it is another (standard output) */
	KSIG,
	KDIAL,		/* a redial thread's result */
	BUFSZ		= 64 * 1024,
	NSPARE		= 16,		/* idle client buffers kept for the next busy one */
	NIOV		= 64,
	MAXLISTEN	= 32,
	MINBACKOFF	= 100,		/* ms */
	MAXBACKOFF	= 5000,
	STOPWAIT	= 10000,	/* ms to answer what is in flight at SIGTERM */
	VERSIONWAIT	= 30000,	/* ms for the upstream's Rversion at start */
};

typedef struct Ev Ev;
typedef struct Conn Conn;
typedef struct Lis Lis;
typedef struct Up Up;

/* The head of everything epoll reports on. */
struct Ev {
	int		kind;
};

struct Lis {
	Ev		ev;
	int		fd;
	uint32_t	events;
	int		isunix;
	char		*addr;
	char		*path;		/* unix socket to remove at exit */
};

struct Conn {
	Ev		ev;
	int		fd;
	Nmsess		*s;
	unsigned	id;
	uint8_t		*buf;
	size_t		len;
	size_t		cap;
	uint32_t	events;
	int		dirty;
	int		wantin;		/* the engine can take the buffered input again */
	int		stalled;	/* the engine would not take a whole frame */
	int		memwait;	/* its frame would not fit the memory budget (-B) */
	int		budgetwait;	/* the engine holds its next request for the budget (logged once) */
	size_t		memcap;		/* the buffer it waits for */
	Conn		*mwnext;	/* clients waiting for memory */
	int		dead;
	Conn		*dnext;		/* dirty list */
	Conn		*next;		/* all clients */
	Conn		*prev;
	char		who[96];
};

struct Up {
	Ev		ev;
	Ev		wev;
	int		rfd;
	int		wfd;
	pid_t		pid;
	Nmchan		*c;
	uint8_t		*buf;
	size_t		len;
	size_t		cap;
	uint32_t	revents;
	uint32_t	wevents;
	int		dirty;
	int		wasready;
};

static struct {
	Nmux		*m;
	int		ep;
	Lis		lis[MAXLISTEN];
	int		nlis;
	Conn		*clients;
	int		nclients;
	Conn		*dirty;
	Conn		*graveyard;
	Up		up;
	const char	*upaddr;
	int		maxclients;
	size_t		maxbytes;	/* -B */
	size_t		bigbytes;	/* client buffers beyond BUFSZ, counted against -B */
	Conn		*memwaiters;
	uint8_t		*spare[NSPARE];
	int		nspare;
	int		lispaused;	/* out of descriptors: not accepting until a client leaves */
	int		pinuser;
	int		stopping;
	long long	stopdeadline;
	long long	redialat;	/* 0: not waiting to redial */
	int		backoff;
	int		sigfd;
	Ev		sigev;
	int		dialpipe[2];
	Ev		dialev;
	int		dialing;	/* a redial thread is running */
	int		everready;
} g;

static long long
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
usage(void)
{
	fprintf(stderr, "usage: 9mux [-Dsuv] [-V dialect] [-m msize] [-n name] [-M mode] "
		"[-c clients] [-f fids] [-t tags] [-T tags] [-b bytes] [-B bytes] [-w bytes] [-i iounit] -a LISTEN [-a LISTEN ...] UPSTREAM\n");
	exit(1);
}

static void
badflag(int c)
{
	fprintf(stderr, "9mux: bad flag -%c or missing value; usage: 9mux [-Dsuv] [-V dialect] [-m msize] "
		"[-n name] [-M mode] [-c clients] [-f fids] [-t tags] [-T tags] [-b bytes] [-B bytes] "
		"[-w bytes] [-i iounit] -a LISTEN [-a LISTEN ...] UPSTREAM\n", c);
	exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fatal(const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	logerror("%s", line);
	exit(1);
}

static void
setev(int fd, Ev *ev, uint32_t *cur, uint32_t want)
{
	struct epoll_event e;

	if(*cur == want)
		return;
	memset(&e, 0, sizeof e);
	e.events = want;
	e.data.ptr = ev;
	if(epoll_ctl(g.ep, EPOLL_CTL_MOD, fd, &e) < 0)
		logerror("epoll_ctl: %s", strerror(errno));
	*cur = want;
}

static int
addev(int fd, Ev *ev, uint32_t events)
{
	struct epoll_event e;

	memset(&e, 0, sizeof e);
	e.events = events;
	e.data.ptr = ev;
	return epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &e);
}

/*
 * Tracing.
 */

static void
trace(void *arg, unsigned id, int where, const uint8_t *f, size_t n, int dialect)
{
	static const char *dir[] = {
		[NM_TCIN] = "->", [NM_TUP] = "=>", [NM_RUP] = "<=", [NM_RCOUT] = "<-",
	};
	char who[32], line[512];
	Fcall fc;
	long r;

	(void)arg;
	if(loglevel() < LOG_TRACE)
		return;
	if((where == NM_TUP || where == NM_RUP) && id == 0)
		snprintf(who, sizeof who, "up 9mux");
	else if(where == NM_TUP || where == NM_RUP)
		snprintf(who, sizeof who, "up c%u", id);
	else
		snprintf(who, sizeof who, "c%u", id);
	r = p9decode(f, n, UINT32_MAX, dialect, &fc);
	if(r > 0)
		p9fmt(line, sizeof line, &fc, dialect);
	else
		snprintf(line, sizeof line, "type %u tag %u size %zu (%s)", f[4], p9get16(f + 5), n,
			p9strerror((int)r));
	logmsg(LOG_TRACE, "%s %s %s", who, dir[where], line);
}

/*
 * Output.
 */

static void
markdirty(Conn *c)
{
	if(c->dirty || c->dead)
		return;
	c->dirty = 1;
	c->dnext = g.dirty;
	g.dirty = c;
}

static void
wake(void *aux, int what)
{
	Ev *ev;
	Conn *c;

	ev = aux;
	if(ev->kind == KUPR){
		g.up.dirty = 1;
		return;
	}
	c = (Conn*)ev;
	if(what == NM_WIN)
		c->wantin = 1;
	markdirty(c);
}

static void closeconn(Conn *c, const char *why);
static void updown(const char *why);

/* Stop or go on accepting on every listener. */
static void
lispause(int pause)
{
	int i;

	g.lispaused = pause;
	for(i = 0; i < g.nlis; i++)
		if(g.lis[i].fd >= 0)
			setev(g.lis[i].fd, &g.lis[i].ev, &g.lis[i].events, pause ? 0 : EPOLLIN);
}

/* Write what the queue holds: 0, or -1 on an error of the descriptor. */
static int
drain(int fd, Nmq *q)
{
	struct iovec iov[NIOV];
	ssize_t w;
	int n;

	while(!nmqempty(q)){
		n = nmqiov(q, iov, NIOV);
		w = writev(fd, iov, n);
		if(w < 0){
			if(errno == EINTR)
				continue;
			if(errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		nmqadvance(q, (size_t)w);
	}
	return 0;
}

static void
connout(Conn *c)
{
	Nmq *q;
	uint32_t want;

	q = nmsessq(c->s);
	if(drain(c->fd, q) < 0){
		closeconn(c, strerror(errno));
		return;
	}
	want = 0;
	if(!g.stopping && !c->memwait && (!c->stalled || c->len < c->cap))
		want |= EPOLLIN;
	if(!nmqempty(q))
		want |= EPOLLOUT;
	setev(c->fd, &c->ev, &c->events, want);
}

static void
upout(void)
{
	Nmq *q;

	g.up.dirty = 0;
	if(g.up.c == NULL)
		return;
	q = nmchanq(g.up.c);
	if(drain(g.up.wfd, q) < 0){
		updown(strerror(errno));
		return;
	}
	if(g.up.wfd == g.up.rfd)
		setev(g.up.rfd, &g.up.ev, &g.up.revents, EPOLLIN | (nmqempty(q) ? 0 : EPOLLOUT));
	else
		setev(g.up.wfd, &g.up.wev, &g.up.wevents, nmqempty(q) ? 0 : EPOLLOUT);
}

/*
 * Input.
 */

/* The capacity that gives need more bytes after len: BUFSZ, doubled, or just enough past BUFSZ. */
static size_t
newcap(size_t cap, size_t len, size_t need)
{
	size_t n;

	if(cap - len >= need)
		return cap;
	n = cap ? cap : BUFSZ;
	while(n - len < need)
		n *= 2;
	if(n > BUFSZ && n - len > need)
		n = len + need > BUFSZ ? len + need : BUFSZ;
	return n;
}

/* What a buffer of cap bytes counts against the memory budget. */
static size_t
extra(size_t cap)
{
	return cap > BUFSZ ? cap - BUFSZ : 0;
}

/* Make the buffer n bytes long (n from newcap: never shorter than it is). */
static int
grow(uint8_t **buf, size_t *cap, size_t n)
{
	uint8_t *p;

	if(n == *cap)
		return 0;
	p = realloc(*buf, n);
	if(p == NULL)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

/* Room the next read wants: a whole frame if its size is known, else a buffer's worth. */
static size_t
want(const uint8_t *buf, size_t len, uint32_t limit)
{
	uint32_t size;

	if(len >= 4){
		size = p9get32(buf);
		if(size > len && size <= limit)
			return size - len;
	}
	return BUFSZ / 2;
}

/* Feed the buffered bytes to the session; 0, or -1 if the client must go. */
static int
feed(Conn *c)
{
	char err[256];
	uint8_t *p;
	size_t k;
	long n;

	c->wantin = 0;
	for(;;){
		if(c->len == 0){
			c->stalled = 0;
			break;
		}
		n = nmsessin(c->s, c->buf, c->len, err, sizeof err);
		if(n < 0){
			closeconn(c, err);
			return -1;
		}
		if(n > 0){
			memmove(c->buf, c->buf + n, c->len - (size_t)n);
			c->len -= (size_t)n;
		}
		/*
		 * A whole frame left means the engine is holding back: read
		 * only into the room left until it wakes us, so that a Tflush
		 * sent since can still be seen and handled.  Handling one may
		 * take out the frame it waits with: then try again.
		 */
		if(nmsessmemwait(c->s) && !c->budgetwait)
			logmsg(LOG_CONN, "c%u %s: waits for room in the memory budget (-B)", c->id, c->who);
		c->budgetwait = nmsessmemwait(c->s);
		c->stalled = c->memwait || p9frame(c->buf, c->len, nmsessmsize(c->s)) != P9_EINCOMPLETE;
		if(!c->stalled || c->memwait)
			break;
		k = c->len;
		c->len = nmsessflushes(c->s, c->buf, c->len);
		if(c->len == k)
			break;
	}
	if(c->len == 0){
		/*
		 * An idle client should cost its session, not a 64 KiB buffer;
		 * a few are kept so that clients in lock-step allocate nothing.
		 */
		g.bigbytes -= extra(c->cap);
		if(c->cap == BUFSZ && g.nspare < NSPARE)
			g.spare[g.nspare++] = c->buf;
		else
			free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}else if(c->cap > BUFSZ && c->len <= BUFSZ / 2 && (p = realloc(c->buf, BUFSZ)) != NULL){
		/* the large frame is gone: so is its room */
		g.bigbytes -= extra(c->cap);
		c->buf = p;
		c->cap = BUFSZ;
	}
	return 0;
}

/*
 * Whether c's buffer may grow to cap bytes: a frame larger than BUFSZ
 * counts against -B with everything the engine holds, unless no other
 * client has a large buffer (so one always goes on).
 */
static int
fits(Conn *c, size_t cap)
{
	size_t more, used;

	if(extra(cap) <= extra(c->cap))
		return 1;
	more = extra(cap) - extra(c->cap);
	used = g.bigbytes + nmbytes(g.m);
	return g.bigbytes == extra(c->cap) || (used <= g.maxbytes && g.maxbytes - used >= more);
}

/* As fits; if not, c stops being read until memwake finds room for it. */
static int
mayhold(Conn *c, size_t cap)
{
	if(fits(c, cap))
		return 1;
	if(!c->memwait){
		c->memwait = 1;
		c->mwnext = g.memwaiters;
		g.memwaiters = c;
		logmsg(LOG_CONN, "c%u %s: a %zu-byte frame waits for memory (-B)", c->id, c->who, cap);
	}
	c->memcap = cap;
	c->stalled = 1;
	markdirty(c);
	return 0;
}

static void
memunwait(Conn *c)
{
	Conn **pp;

	for(pp = &g.memwaiters; *pp != NULL; pp = &(*pp)->mwnext)
		if(*pp == c){
			*pp = c->mwnext;
			break;
		}
	c->mwnext = NULL;
	c->memwait = 0;
}

/* Clients waiting for memory that now fit are read again. */
static void
memwake(void)
{
	Conn *c, *next;

	for(c = g.memwaiters; c != NULL; c = next){
		next = c->mwnext;
		if(fits(c, c->memcap)){
			memunwait(c);
			c->stalled = 0;
			markdirty(c);
		}
	}
}

static void
connin(Conn *c)
{
	ssize_t r;
	size_t room, need, cap, old;
	int i;

	for(i = 0; i < 8 && !c->memwait; i++){
		if(c->stalled){
			if(c->cap == c->len)
				break;
		}else{
			need = want(c->buf, c->len, nmsessmsize(c->s));
			cap = newcap(c->cap, c->len, need);
			if(!mayhold(c, cap))
				return;
			old = c->cap;
			if(c->buf == NULL && cap == BUFSZ && g.nspare > 0){
				c->buf = g.spare[--g.nspare];
				c->cap = BUFSZ;
			}
			if(grow(&c->buf, &c->cap, cap) < 0){
				closeconn(c, "out of memory");
				return;
			}
			g.bigbytes += extra(c->cap) - extra(old);
		}
		room = c->cap - c->len;
		r = read(c->fd, c->buf + c->len, room);
		if(r == 0){
			closeconn(c, "hung up");
			return;
		}
		if(r < 0){
			if(errno == EINTR)
				continue;
			if(errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			closeconn(c, strerror(errno));
			return;
		}
		c->len += (size_t)r;
		if(feed(c) < 0)
			return;
		/* a short read emptied the socket: epoll is level-triggered and says when there is more */
		if((size_t)r < room)
			break;
	}
	markdirty(c);
}

static void
upin(void)
{
	char err[256];
	ssize_t r;
	long n;
	int i;
	uint32_t lim;
	size_t room;

	for(i = 0; i < 8 && g.up.c != NULL; i++){
		lim = nmchanmsize(g.up.c);
		if(grow(&g.up.buf, &g.up.cap, newcap(g.up.cap, g.up.len, want(g.up.buf, g.up.len, lim))) < 0){
			updown("out of memory");
			return;
		}
		room = g.up.cap - g.up.len;
		r = read(g.up.rfd, g.up.buf + g.up.len, room);
		if(r == 0){
			updown("upstream hung up");
			return;
		}
		if(r < 0){
			if(errno == EINTR)
				continue;
			if(errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			updown(strerror(errno));
			return;
		}
		g.up.len += (size_t)r;
		n = nmchanin(g.up.c, g.up.buf, g.up.len, err, sizeof err);
		if(n < 0){
			updown(err);
			return;
		}
		memmove(g.up.buf, g.up.buf + n, g.up.len - (size_t)n);
		g.up.len -= (size_t)n;
		if(!g.up.wasready && nmchanstate(g.up.c) == NM_CREADY){
			g.up.wasready = 1;
			g.everready = 1;
			g.backoff = MINBACKOFF;
			logmsg(LOG_CONN, "upstream %s ready: %s, msize %u", g.upaddr,
				p9dialectname(nmchandialect(g.up.c)), nmchanmsize(g.up.c));
		}
		if((size_t)r < room)
			break;
	}
	g.up.dirty = 1;
}

/*
 * Clients.
 */

static void
closeconn(Conn *c, const char *why)
{
	if(c->dead)
		return;
	logmsg(LOG_CONN, "c%u %s: %s", c->id, c->who, why);
	c->dead = 1;
	g.bigbytes -= extra(c->cap);
	c->cap = 0;	/* no longer counted; the buffer is freed with c */
	if(c->memwait)
		memunwait(c);
	epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	nmsessclose(c->s);
	c->s = NULL;
	if(c->prev)
		c->prev->next = c->next;
	else
		g.clients = c->next;
	if(c->next)
		c->next->prev = c->prev;
	g.nclients--;
	if(g.lispaused && !g.stopping)
		lispause(0);
	/* freed after the loop: the dirty list or an event may still name it */
	c->next = g.graveyard;
	g.graveyard = c;
}

static int
pin(Conn *c, int fd)
{
	struct ucred cr;
	socklen_t len;
	struct passwd pw, *res;
	char buf[4096];

	len = sizeof cr;
	if(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0){
		logerror("c%u: SO_PEERCRED: %s", c->id, strerror(errno));
		return -1;
	}
	if(getpwuid_r(cr.uid, &pw, buf, sizeof buf, &res) != 0 || res == NULL){
		logerror("c%u: no login name for uid %u", c->id, (unsigned)cr.uid);
		return -1;
	}
	if(nmsesspin(c->s, pw.pw_name, (uint32_t)cr.uid) < 0){
		logerror("c%u: login name too long", c->id);
		return -1;
	}
	snprintf(c->who, sizeof c->who, "unix uid %u (%s)", (unsigned)cr.uid, pw.pw_name);
	return 0;
}

static void
peername(Conn *c, int fd, int isunix)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[INET6_ADDRSTRLEN];
	struct ucred cr;

	if(isunix){
		len = sizeof cr;
		if(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
			snprintf(c->who, sizeof c->who, "unix uid %u pid %d", (unsigned)cr.uid, (int)cr.pid);
		else
			snprintf(c->who, sizeof c->who, "unix");
		return;
	}
	len = sizeof ss;
	if(getpeername(fd, (struct sockaddr*)&ss, &len) < 0){
		snprintf(c->who, sizeof c->who, "tcp");
		return;
	}
	if(ss.ss_family == AF_INET){
		inet_ntop(AF_INET, &((struct sockaddr_in*)&ss)->sin_addr, host, sizeof host);
		snprintf(c->who, sizeof c->who, "tcp!%s!%u", host, ntohs(((struct sockaddr_in*)&ss)->sin_port));
	}else if(ss.ss_family == AF_INET6){
		inet_ntop(AF_INET6, &((struct sockaddr_in6*)&ss)->sin6_addr, host, sizeof host);
		snprintf(c->who, sizeof c->who, "tcp![%s]!%u", host, ntohs(((struct sockaddr_in6*)&ss)->sin6_port));
	}else
		snprintf(c->who, sizeof c->who, "tcp");
}

static void
acceptall(Lis *l)
{
	Conn *c;
	int fd, one;

	for(;;){
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if(fd < 0){
			if(errno == EINTR || errno == ECONNABORTED)
				continue;
			if(errno == EMFILE || errno == ENFILE){
				/* the listener stays readable: without a pause the loop would spin */
				logerror("accept on %s: %s: %d clients; accepting again when one leaves",
					l->addr, strerror(errno), g.nclients);
				lispause(1);
				return;
			}
			if(errno != EAGAIN && errno != EWOULDBLOCK)
				logerror("accept on %s: %s", l->addr, strerror(errno));
			return;
		}
		if(g.nclients >= g.maxclients){
			logmsg(LOG_CONN, "refused a client on %s: %d clients already", l->addr, g.nclients);
			close(fd);
			continue;
		}
		if(!l->isunix){
			one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		}
		c = calloc(1, sizeof *c);
		if(c == NULL){
			close(fd);
			continue;
		}
		c->ev.kind = KCLIENT;
		c->fd = fd;
		c->s = nmsessnew(g.m, c);
		if(c->s == NULL){
			close(fd);
			free(c);
			continue;
		}
		c->id = nmsessid(c->s);
		peername(c, fd, l->isunix);
		if(g.pinuser && l->isunix && pin(c, fd) < 0){
			nmsessclose(c->s);
			close(fd);
			free(c);
			continue;
		}
		if(addev(fd, &c->ev, EPOLLIN) < 0){
			nmsessclose(c->s);
			close(fd);
			free(c);
			continue;
		}
		c->events = EPOLLIN;
		c->next = g.clients;
		if(g.clients)
			g.clients->prev = c;
		g.clients = c;
		g.nclients++;
		logmsg(LOG_CONN, "c%u connected on %s from %s", c->id, l->addr, c->who);
	}
}

/*
 * The upstream.
 */

static void
upclose(void)
{
	if(g.up.rfd >= 0){
		epoll_ctl(g.ep, EPOLL_CTL_DEL, g.up.rfd, NULL);
		if(g.up.wfd != g.up.rfd)
			epoll_ctl(g.ep, EPOLL_CTL_DEL, g.up.wfd, NULL);
		close(g.up.rfd);
		if(g.up.wfd != g.up.rfd)
			close(g.up.wfd);
	}
	g.up.rfd = g.up.wfd = -1;
	if(g.up.pid > 0)
		kill(g.up.pid, SIGTERM);	/* reaped on SIGCHLD */
	g.up.pid = -1;
	g.up.len = 0;
}

static void
updown(const char *why)
{
	if(g.up.c == NULL)
		return;
	if(!g.everready)
		fatal("upstream %s: %s", g.upaddr, why);
	logerror("upstream %s lost: %s", g.upaddr, why);
	nmchandown(g.up.c);
	g.up.c = NULL;
	upclose();
	if(strcmp(g.upaddr, "-") == 0){
		logerror("upstream was standard input: not redialing");
		return;
	}
	g.redialat = now() + g.backoff;
}

/* Take the connected descriptors as the upstream and queue its Tversion: 0, or -1 with err. */
static int
upsetup(int rfd, int wfd, pid_t pid, char *err, size_t errlen)
{
	g.up.rfd = rfd;
	g.up.wfd = wfd;
	g.up.pid = pid;
	if(fdnonblock(g.up.rfd, 1) < 0 || fdnonblock(g.up.wfd, 1) < 0){
		snprintf(err, errlen, "non-blocking upstream: %s", strerror(errno));
		upclose();
		return -1;
	}
	g.up.ev.kind = KUPR;
	g.up.wev.kind = KUPW;
	g.up.revents = EPOLLIN;
	g.up.wevents = 0;
	if(addev(g.up.rfd, &g.up.ev, EPOLLIN) < 0 ||
	   (g.up.wfd != g.up.rfd && addev(g.up.wfd, &g.up.wev, 0) < 0)){
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		upclose();
		return -1;
	}
	g.up.c = nmchannew(g.m, &g.up.ev);
	if(g.up.c == NULL){
		snprintf(err, errlen, "out of memory");
		upclose();
		return -1;
	}
	g.up.wasready = 0;
	g.up.dirty = 1;
	return 0;
}

/* Connect to the upstream, blocking, and set it up: 0, or -1 with err. */
static int
upconnect(char *err, size_t errlen)
{
	pid_t pid;
	int fd;

	if(strcmp(g.upaddr, "-") == 0)
		return upsetup(0, 1, -1, err, errlen);
	fd = dialpid(g.upaddr, &pid, err, errlen);
	if(fd < 0)
		return -1;
	return upsetup(fd, fd, pid, err, errlen);
}

/*
 * Redialing happens in a thread of its own, so that a TCP connect
 * that takes minutes to fail stops nobody: it writes its Dialres to
 * a pipe the loop watches.
 */
typedef struct Dialres Dialres;
struct Dialres {
	int	fd;
	pid_t	pid;
	char	err[256];
};

static void *
dialthread(void *arg)
{
	Dialres r;

	(void)arg;
	memset(&r, 0, sizeof r);
	r.fd = dialpid(g.upaddr, &r.pid, r.err, sizeof r.err);
	/* smaller than PIPE_BUF: one atomic write */
	if(write(g.dialpipe[1], &r, sizeof r) != (ssize_t)sizeof r && r.fd >= 0)
		close(r.fd);
	return NULL;
}

static void
redialfailed(const char *err)
{
	logmsg(LOG_CONN, "redial %s: %s", g.upaddr, err);
	g.backoff = g.backoff * 2 > MAXBACKOFF ? MAXBACKOFF : g.backoff * 2;
	g.redialat = now() + g.backoff;
}

static void
redial(void)
{
	pthread_attr_t a;
	pthread_t t;
	int e;

	g.redialat = 0;
	if(g.dialing)
		return;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &a, dialthread, NULL);
	pthread_attr_destroy(&a);
	if(e != 0){
		redialfailed(strerror(e));
		return;
	}
	g.dialing = 1;
}

static void
dialed(void)
{
	Dialres r;
	char err[256];

	if(read(g.dialpipe[0], &r, sizeof r) != (ssize_t)sizeof r)
		return;
	g.dialing = 0;
	if(r.fd < 0){
		redialfailed(r.err);
		return;
	}
	if(g.stopping || g.up.c != NULL){
		close(r.fd);
		if(r.pid > 0)
			kill(r.pid, SIGTERM);
		return;
	}
	if(upsetup(r.fd, r.fd, r.pid, err, sizeof err) < 0){
		redialfailed(err);
		return;
	}
	logmsg(LOG_CONN, "redialed %s", g.upaddr);
}

/*
 * Signals and the end.
 */

static void
reap(void)
{
	pid_t p;
	int st;

	while((p = waitpid(-1, &st, WNOHANG)) > 0)
		logmsg(LOG_CONN, "upstream process %d ended (status 0x%x)", (int)p, st);
}

static void
unlinkall(void)
{
	int i;

	for(i = 0; i < g.nlis; i++){
		if(g.lis[i].fd >= 0){
			epoll_ctl(g.ep, EPOLL_CTL_DEL, g.lis[i].fd, NULL);
			close(g.lis[i].fd);
			g.lis[i].fd = -1;
		}
		if(g.lis[i].path){
			unlink(g.lis[i].path);
			free(g.lis[i].path);
			g.lis[i].path = NULL;
		}
	}
}

static void
stop(int sig)
{
	Conn *c;

	if(g.stopping)
		return;
	logmsg(LOG_CONN, "signal %d: answering %zu requests in flight, then exiting", sig, nminflight(g.m));
	g.stopping = 1;
	g.stopdeadline = now() + STOPWAIT;
	unlinkall();
	for(c = g.clients; c != NULL; c = c->next)
		markdirty(c);
}

static void
onsignal(void)
{
	struct signalfd_siginfo si;

	while(read(g.sigfd, &si, sizeof si) == (ssize_t)sizeof si){
		switch(si.ssi_signo){
		case SIGCHLD:
			reap();
			break;
		case SIGTERM:
		case SIGINT:
		case SIGHUP:
			stop((int)si.ssi_signo);
			break;
		}
	}
}

/* Free everything, so leak checkers see only real leaks. */
static void
finish(void)
{
	Conn *c;
	int i;

	while((c = g.clients) != NULL)
		closeconn(c, "9mux exiting");
	while((c = g.graveyard) != NULL){
		g.graveyard = c->next;
		free(c->buf);
		free(c);
	}
	if(g.up.c)
		nmchandown(g.up.c);
	g.up.c = NULL;
	upclose();
	free(g.up.buf);
	nmfree(g.m);
	while(g.nspare > 0)
		free(g.spare[--g.nspare]);
	for(i = 0; i < g.nlis; i++)
		free(g.lis[i].addr);
}

static int
quiet(void)
{
	Conn *c;

	if(nminflight(g.m) != 0)
		return 0;
	for(c = g.clients; c != NULL; c = c->next)
		if(!nmqempty(nmsessq(c->s)))
			return 0;
	return 1;
}

/*
 * Setup.
 */

static long
number(const char *s, const char *flag, long min, long max)
{
	char *e;
	long v;

	errno = 0;
	v = strtol(s, &e, 0);
	if(errno || e == s || *e != '\0' || v < min || v > max)
		fatal("bad %s value %s: want a number from %ld to %ld", flag, s, min, max);
	return v;
}

/* A size in bytes, with an optional k, m or g (powers of 1024). */
static size_t
bytes(const char *s, const char *flag)
{
	unsigned long long v, mul;
	char *e;

	errno = 0;
	v = strtoull(s, &e, 0);
	mul = 1;
	switch(*e){
	case 'k': case 'K': mul = 1ULL << 10; e++; break;
	case 'm': case 'M': mul = 1ULL << 20; e++; break;
	case 'g': case 'G': mul = 1ULL << 30; e++; break;
	}
	if(errno || e == s || *e != '\0' || *s == '-' || v == 0 || v > (1ULL << 48) / mul)
		fatal("bad %s value %s: want a size in bytes (k, m, g for KiB, MiB, GiB), 1 to 2^48", flag, s);
	return (size_t)(v * mul);
}

/*
 * Every client is a descriptor: raise the soft limit on them to the
 * hard one, so -c and not a default of 1024 decides how many may come.
 */
static void
fdlimit(void)
{
	struct rlimit rl;

	if(getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if(setrlimit(RLIMIT_NOFILE, &rl) < 0){
		/* an unlimited hard limit is more than the kernel allows */
		rl.rlim_cur = 1024 * 1024;
		if(setrlimit(RLIMIT_NOFILE, &rl) < 0)
			logerror("raising the descriptor limit: %s", strerror(errno));
	}
}

static int
octal(const char *s)
{
	char *e;
	long v;

	v = strtol(s, &e, 8);
	if(e == s || *e != '\0' || v <= 0 || v > 0777)
		fatal("bad -M mode %s: want octal permissions like 0660", s);
	return (int)v;
}

static void
listen1(const char *addr, int mode)
{
	char err[256];
	Lis *l;
	int fd;

	if(g.nlis == MAXLISTEN)
		fatal("too many listen addresses");
	if(addrkind(addr) != DIAL_UNIX && addrkind(addr) != DIAL_TCP)
		fatal("bad listen address %s: want unix!path or tcp!host!port", addr);
	fd = announce(addr, mode, err, sizeof err);
	if(fd < 0){
		unlinkall();
		fatal("%s", err);
	}
	if(fdnonblock(fd, 1) < 0){
		unlinkall();
		fatal("%s: %s", addr, strerror(errno));
	}
	l = &g.lis[g.nlis++];
	l->ev.kind = KLISTEN;
	l->fd = fd;
	l->events = EPOLLIN;
	l->addr = strdup(addr);
	l->isunix = addrkind(addr) == DIAL_UNIX;
	l->path = l->isunix ? strdup(addrpath(addr)) : NULL;
	if(addev(fd, &l->ev, EPOLLIN) < 0){
		unlinkall();
		fatal("epoll: %s", strerror(errno));
	}
}

/* Wait for the upstream's Rversion before serving anyone: exit 1 if it never comes. */
static void
firstversion(void)
{
	struct pollfd pf[2];
	long long deadline;
	int n, t;

	deadline = now() + VERSIONWAIT;
	while(g.up.c != NULL && nmchanstate(g.up.c) != NM_CREADY){
		upout();
		if(g.up.c == NULL)
			break;
		pf[0].fd = g.up.rfd;
		pf[0].events = POLLIN;
		pf[1].fd = g.up.wfd;
		pf[1].events = nmqempty(nmchanq(g.up.c)) ? 0 : POLLOUT;
		t = (int)(deadline - now());
		if(t <= 0)
			fatal("upstream %s: no answer to Tversion", g.upaddr);
		n = poll(pf, g.up.wfd == g.up.rfd ? 1 : 2, t);
		if(n < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		if(n > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			upin();
	}
	if(g.up.c == NULL)
		fatal("upstream %s: lost during Tversion", g.upaddr);
}

int
main(int argc, char **argv)
{
	char *lisaddr[MAXLISTEN], err[256], dir[256], path[512];
	const char *name, *vers;
	const Nmstats *st;
	struct epoll_event evs[128];
	Nmconf conf;
	sigset_t ss;
	Conn *c;
	Ev *ev;
	size_t sz;
	int o, i, n, nlisaddr, mode, usesyslog, level, t;

	memset(&conf, 0, sizeof conf);
	conf.msize = 8 * 1024 * 1024 + P9_IOHDRSZ;
	conf.dialect = P9_2000;
	/* 9pfuse keeps a fid for every file the kernel has looked up */
	conf.maxfids = 65536;
	conf.maxreqs = 64;
	conf.iounit = 128 * 1024;
	conf.maxbytes = 256 * 1024 * 1024;
	g.maxclients = 1024;
	nlisaddr = 0;
	mode = 0600;
	usesyslog = 0;
	level = LOG_QUIET;
	name = NULL;
	vers = NULL;
	loginit("9mux", 0, LOG_QUIET);
	opterr = 0;	/* one line of our own instead of getopt's */
	while((o = getopt(argc, argv, "a:n:V:m:M:c:f:t:T:b:B:w:i:svDu")) != -1){
		switch(o){
		case 'a':
			if(nlisaddr == MAXLISTEN)
				fatal("too many -a addresses");
			lisaddr[nlisaddr++] = optarg;
			break;
		case 'n':
			name = optarg;
			if(*name == '\0' || strchr(name, '/'))
				fatal("bad -n name %s", name);
			break;
		case 'V':
			vers = optarg;
			break;
		case 'm':
			conf.msize = (uint32_t)number(optarg, "-m", P9_MINMSIZE, 0x7FFFFFFF);
			break;
		case 'M':
			mode = octal(optarg);
			break;
		case 'c':
			g.maxclients = (int)number(optarg, "-c", 1, 1000000);
			break;
		case 'f':
			conf.maxfids = (int)number(optarg, "-f", 1, 100000000);
			break;
		case 't':
			conf.maxreqs = (int)number(optarg, "-t", 1, 65535);
			break;
		case 'T':
			conf.maxtags = (int)number(optarg, "-T", 1, 65535);
			break;
		case 'b':
			conf.sessbytes = bytes(optarg, "-b");
			break;
		case 'B':
			conf.maxbytes = bytes(optarg, "-B");
			break;
		case 'w':
			conf.upqbytes = bytes(optarg, "-w");
			break;
		case 'i':
			sz = bytes(optarg, "-i");
			if(sz < 512 || sz > 0x7FFFFFFF)
				fatal("bad -i value %s: want a size from 512 bytes to 2g-1", optarg);
			conf.iounit = (uint32_t)sz;
			break;
		case 's':
			usesyslog = 1;
			break;
		case 'v':
			if(level < LOG_CONN)
				level = LOG_CONN;
			break;
		case 'D':
			level = LOG_TRACE;
			break;
		case 'u':
			g.pinuser = 1;
			break;
		default:
			badflag(optopt);
		}
	}
	if(argc - optind != 1 || (nlisaddr == 0 && name == NULL))
		usage();
	g.upaddr = argv[optind];
	if(vers && (conf.dialect = p9dialect(vers, strlen(vers))) < 0)
		fatal("bad -V dialect %s: want 9P2000, 9P2000.u or 9P2000.L", vers);
	if(strcmp(g.upaddr, "-") != 0 && addrkind(g.upaddr) < 0)
		fatal("bad upstream address %s: want unix!path, tcp!host!port, exec!command or -", g.upaddr);
	loginit("9mux", usesyslog, level);
	if(level >= LOG_TRACE){
		conf.trace = trace;
	}
	conf.wake = wake;

	signal(SIGPIPE, SIG_IGN);
	fdlimit();
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	g.sigfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if(g.sigfd < 0 || g.ep < 0)
		fatal("signalfd/epoll: %s", strerror(errno));
	g.sigev.kind = KSIG;
	addev(g.sigfd, &g.sigev, EPOLLIN);
	if(pipe2(g.dialpipe, O_CLOEXEC) < 0)
		fatal("pipe: %s", strerror(errno));
	g.dialev.kind = KDIAL;
	addev(g.dialpipe[0], &g.dialev, EPOLLIN);
	g.maxbytes = conf.maxbytes;
	g.m = nmnew(&conf);
	if(g.m == NULL)
		fatal("out of memory");
	g.up.rfd = g.up.wfd = -1;
	g.up.pid = -1;
	g.backoff = MINBACKOFF;

	if(upconnect(err, sizeof err) < 0)
		fatal("upstream %s: %s", g.upaddr, err);
	firstversion();
	g.everready = 1;
	g.up.wasready = 1;
	logmsg(LOG_CONN, "upstream %s: %s, msize %u", g.upaddr,
		p9dialectname(nmchandialect(g.up.c)), nmchanmsize(g.up.c));
	if(nmchandialect(g.up.c) != conf.dialect)
		logerror("upstream %s answered %s to %s: clients get %s", g.upaddr,
			p9dialectname(nmchandialect(g.up.c)), p9dialectname(conf.dialect),
			p9dialectname(nmchandialect(g.up.c)));

	for(i = 0; i < nlisaddr; i++)
		listen1(lisaddr[i], mode);
	if(name){
		if(nsdir(dir, sizeof dir) < 0)
			fatal("namespace directory name too long");
		if(mkdir(dir, 0700) < 0 && errno != EEXIST)
			fatal("mkdir %s: %s", dir, strerror(errno));
		snprintf(path, sizeof path, "unix!%s/%s", dir, name);
		listen1(path, mode);
	}
	for(i = 0; i < nlisaddr; i++)
		logmsg(LOG_CONN, "listening on %s", lisaddr[i]);

	for(;;){
		t = -1;
		if(g.redialat)
			t = (int)(g.redialat - now() < 0 ? 0 : g.redialat - now());
		if(g.stopping){
			long long s = g.stopdeadline - now();

			t = t < 0 || s < t ? (int)(s < 0 ? 0 : s) : t;
		}
		n = epoll_wait(g.ep, evs, (int)(sizeof evs / sizeof evs[0]), t);
		if(n < 0 && errno != EINTR)
			fatal("epoll_wait: %s", strerror(errno));
		for(i = 0; i < n; i++){
			ev = evs[i].data.ptr;
			switch(ev->kind){
			case KSIG:
				onsignal();
				break;
			case KDIAL:
				dialed();
				break;
			case KLISTEN:
				if(!g.stopping)
					acceptall((Lis*)ev);
				break;
			case KCLIENT:
				c = (Conn*)ev;
				if(c->dead)
					break;
				if(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					connin(c);
				if(!c->dead && (evs[i].events & EPOLLOUT))
					markdirty(c);
				break;
			case KUPR:
				if(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					upin();
				if(evs[i].events & EPOLLOUT)
					g.up.dirty = 1;
				break;
			case KUPW:
				if(evs[i].events & (EPOLLHUP | EPOLLERR))
					updown("standard output closed");
				else
					g.up.dirty = 1;
				break;
			}
		}
		memwake();
		/* output, and input the engine can take again, until nothing changes */
		while(g.dirty != NULL || g.up.dirty){
			while((c = g.dirty) != NULL){
				g.dirty = c->dnext;
				c->dirty = 0;
				if(c->dead)
					continue;
				if(c->wantin && !g.stopping && feed(c) < 0)
					continue;
				connout(c);
			}
			if(g.up.dirty)
				upout();
		}
		while((c = g.graveyard) != NULL){
			g.graveyard = c->next;
			free(c->buf);
			free(c);
		}
		if(g.redialat && now() >= g.redialat && !g.stopping)
			redial();
		if(g.stopping && (quiet() || now() >= g.stopdeadline)){
			st = nmstats(g.m);
			logmsg(LOG_CONN, "exiting: %llu sessions, %llu requests (%llu refused by 9mux), "
			    "%llu frames sent upstream, %llu replies, %llu flushes and %llu clunks of its own, %llu stray replies, "
			    "%llu refused for the memory budget, %llu waits for it",
			    (unsigned long long)st->sessions, (unsigned long long)st->treqs,
			    (unsigned long long)st->localerr, (unsigned long long)st->upsent,
			    (unsigned long long)st->upreplies, (unsigned long long)st->flushes,
			    (unsigned long long)st->clunks, (unsigned long long)st->stray,
			    (unsigned long long)st->overbudget, (unsigned long long)st->memwaits);
			unlinkall();
			finish();
			exit(0);
		}
	}
}
