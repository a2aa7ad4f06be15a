/*
 * 9mux - many 9P sessions over one upstream connection, and peer
 * links that carry sessions both ways over one connection.
 *
 * This file: flags, start-up, the loop, signals and the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "9p.h"
#include "dial.h"
#include "log.h"
#include "9mux.h"

struct G g;

static const char usagetext[] =
	"usage: 9mux [-DFhsuv] [-V dialect] [-m msize] [-n name] [-M mode] [-c clients] [-f fids]\n"
	"            [-t tags] [-T tags] [-b bytes] [-B bytes] [-w bytes] [-i iounit] [-I pieces]\n"
	"            [-k secs] [-P secs]\n"
	"            [-S keyfile] [-C cert -K key] [-R cafile] [-H sha256:HEX ...] [-z N] [-Z ms]\n"
	"            [-g secs] [-L logfile] [-x LISTEN] [-e EXPORT]\n"
	"            [-a LISTEN ...] [-l LISTEN ...] [-r [NAME=]LISTEN ...] UPSTREAM\n";

static const char helptext[] =
	"Many 9P sessions over one connection to UPSTREAM; see 9mux(1).\n"
	"  -a LISTEN   accept clients (unix!/path, tcp!host!port, tcp!*!port)\n"
	"  -l LISTEN   accept links from peer 9mux daemons; their sessions are served by UPSTREAM\n"
	"  -r [NAME=]LISTEN  accept clients served over a link from a peer (named NAME, else the latest)\n"
	"  -e EXPORT   UPSTREAM is a peer 9mux: serve its sessions back by the 9P server at EXPORT\n"
	"  -x LISTEN   serve 9mux's control and statistics tree (stats, metrics, clients/, ctl)\n"
	"  -n name     also listen on unix!$NAMESPACE/name, for plan9port's tools\n"
	"  -k secs     keep-alive: ping after secs of silence, dead after 3 x secs (20; 0: off)\n"
	"  -F          exit if the first dial of UPSTREAM fails (else start and keep redialing)\n"
	"  -g secs     at SIGTERM, time for the requests in flight to finish (5)\n"
	"  -P secs     persist: sessions survive the loss of UPSTREAM or of a named link, their fids restored, for up to secs\n"
	"  -V dialect  9P2000, 9P2000.u or 9P2000.L asked of UPSTREAM (9P2000)\n"
	"  -m msize    msize asked of UPSTREAM (8m+24)\n"
	"  -M mode     permissions of unix sockets (0600)\n"
	"  -c clients  clients at once (1024)\n"
	"  -f fids     fids per client (65536)\n"
	"  -t tags     requests in flight per client (64)\n"
	"  -T tags     upstream tags in use at once (65535)\n"
	"  -b bytes    bytes one client may hold in 9mux (4 x msize, at least 1m)\n"
	"  -B bytes    bytes all clients may hold (256m)\n"
	"  -w bytes    upstream queue past which clients take turns (64k)\n"
	"  -i iounit   largest piece of a read or write upstream; larger ones go as pieces, joined (128k;\n"
	"              a quarter of it beside other clients)\n"
	"  -I pieces   pieces of one large read or write upstream at once, while no other client is at work (2)\n"
	"  -u          pin the uname of unix-socket clients to their login name\n"
	"TLS 1.3, for tls!host!port wherever tcp!host!port goes:\n"
	"  -S keyfile  pre-shared keys, a line 'identity hexkey' each (mode 0600)\n"
	"  -C cert -K key  this side's certificate chain and key (PEM)\n"
	"  -R cafile   whom to trust: the server's CA when dialing; clients must chain to it when listening\n"
	"  -H sha256:HEX  the peer's public key must have this digest (repeatable)\n"
	"  -z N        pad every record to a multiple of N bytes\n"
	"  -Z ms       cover traffic: a ping at random times, about every ms, while idle\n"
	"  -s          log to syslog;  -v  log connections;  -D  trace every message\n"
	"  -L logfile  log to logfile, opened again on SIGHUP\n"
	"Started by systemd with sockets (LISTEN_FDS), serves those instead of -a, -l, -r, -x, -n.\n"
	"Quote addresses in an interactive shell ('unix!/tmp/fs.sock'): ! is history expansion there.\n";

static void __attribute__((noreturn))
usage(int c)
{
	if(c == 'h'){
		fputs(usagetext, stdout);
		fputs(helptext, stdout);
		exit(0);
	}
	if(c)
		fprintf(stderr, "9mux: bad flag -%c or missing value; 9mux -h lists the flags\n", c);
	else
		fputs(usagetext, stderr);
	exit(1);
}

long long
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
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

void
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

int
addev(int fd, Ev *ev, uint32_t events)
{
	struct epoll_event e;

	memset(&e, 0, sizeof e);
	e.events = events;
	e.data.ptr = ev;
	return epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &e);
}

void
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
 * Signals and the end.
 */

/*
 * SIGHUP: take up again what may have changed on disk, without a
 * restart: the log file of -L is opened again (after logrotate moved
 * it), and this is where TLS keys and certificates are to be reread.
 */
static void
reload(void)
{
	struct timespec ts;
	char msg[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	sdnotify(msg);
	if(logreopen() < 0)
		logerror("SIGHUP: opening the log file again: %s", strerror(errno));
	tlsreloadall();
	logmsg(LOG_QUIET, "SIGHUP: reloaded");
	sdnotify("READY=1");
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
			stopstart((int)si.ssi_signo);
			break;
		case SIGHUP:
			reload();
			break;
		}
	}
}

/* Free everything, so leak checkers see only real leaks. */
static void
finish(void)
{
	const Nmstats *st;
	Link *l;
	int i;

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
	ctlfree();
	while(g.conns != NULL)
		closeconn(g.conns, "9mux exiting");
	reapconns();
	while((l = g.links) != NULL){
		g.links = l->next;
		free(l->name);
		free(l);
	}
	nmfree(g.m);
	batchend();
	while(g.nspare > 0)
		free(g.spare[--g.nspare]);
	for(i = 0; i < g.nlis; i++){
		free(g.lis[i].addr);
		free(g.lis[i].linkname);
	}
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
checkaddr(const char *addr, const char *what, int dialing)
{
	int k;

	if(dialing && strcmp(addr, "-") == 0)
		return;
	k = addrkind(addr);
	if(dialing ? k < 0 : k != DIAL_UNIX && k != DIAL_TCP && k != DIAL_TLS)
		fatal("bad %s address %s: want %s", what, addr,
			dialing ? "unix!path, tcp!host!port, tls!host!port, exec!command or -" :
			"unix!path, tcp!host!port or tls!host!port");
}

/* In -r NAME=LISTEN, the '=' after the name (before the address's first '!'), or NULL. */
static char *
linkname(char *a)
{
	size_t n;

	n = strcspn(a, "=!");
	return a[n] == '=' && n > 0 ? a + n : NULL;
}

static const char *
portname(int port)
{
	static char buf[32];

	snprintf(buf, sizeof buf, " (port %d)", port);
	return buf;
}

static void
setup(void)
{
	sigset_t ss;

	signal(SIGPIPE, SIG_IGN);
	fdlimit();
	srandom((unsigned)(getpid() ^ now()));
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
}

static void
loop(void)
{
	struct epoll_event evs[128];
	long long s;
	Conn *c, *ready;
	Ev *ev;
	int i, n, t;

	for(;;){
		t = timerrun();
		if((s = peekdue()) >= 0 && (t < 0 || s < t))
			t = (int)s;
		if(g.stopping){
			s = g.stopdeadline - now();
			if(s < 0)
				s = 0;
			if(t < 0 || s < t)
				t = (int)s;
		}
		n = epoll_wait(g.ep, evs, (int)(sizeof evs / sizeof evs[0]), g.dirty || g.ready ? 0 : t);
		if(n < 0 && errno != EINTR)
			fatal("epoll_wait: %s", strerror(errno));
		/* the clients left with more to read last turn; those this turn leaves wait for the next */
		ready = readytake();
		for(i = 0; i < n; i++){
			ev = evs[i].data.ptr;
			switch(ev->kind){
			case KSIG:
				onsignal();
				break;
			case KDIAL:
				dialed();
				break;
			case KFD:
				fdcio(ev, evs[i].events);
				break;
			case KLISTEN:
				if(!g.stopping)
					acceptall((Lis*)ev);
				break;
			case KCTL:
				ctlevent(ev, evs[i].events);
				break;
			case KCONN:
				c = (Conn*)ev;
				if(c->dead)
					break;
				if(evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					c->hangup = 1;
				if(c->hs)
					tlsstep(c);
				else if(!c->dead && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
					connin(c);
				if(!c->dead && !c->hs && (evs[i].events & EPOLLOUT))
					markdirty(c);
				break;
			case KCONNW:
				c = (Conn*)((char*)ev - offsetof(Conn, wev));
				if(c->dead)
					break;
				if(evs[i].events & (EPOLLHUP | EPOLLERR))
					closeconn(c, "standard output closed");
				else
					markdirty(c);
				break;
			}
		}
		readyin(ready);
		memwake();
		/* output, and input the engine can take again, until nothing changes */
		do{
			while((c = g.dirty) != NULL){
				g.dirty = c->dnext;
				c->dirty = 0;
				if(c->dead)
					continue;
				if(c->wantin && !g.stopping && connfeed(c) < 0)
					continue;
				if(c->rmore && !g.stopping){
					c->rmore = 0;
					connin(c);
					if(c->dead)
						continue;
				}
				connout(c);
			}
			/* the clients' replies, all in one call */
			batchflush();
		}while(g.dirty != NULL);
		reapconns();
		fdcreap();
		if(g.stopping && stopped()){
			finish();
			exit(0);
		}
	}
}

int
main(int argc, char **argv)
{
	char *lisaddr[MAXLISTEN], dir[256], path[512], err[512];
	const char *name, *vers, *exaddr, *logpath;
	int lisrole[MAXLISTEN];
	char *eq;
	Nmup *exup, *upup;
	size_t sz;
	int o, i, nlisaddr, mode, usesyslog, level, passed, tls, listentls;

	/*
	 * Every large read or write passes through a buffer of its size.
	 * By default glibc gives such a buffer back to the kernel when it is
	 * freed (brk or munmap) and faults fresh zeroed pages in for the
	 * next: that halved sequential throughput.  Keep up to MALLOCKEEP
	 * of freed memory instead, and take buffers up to the largest msize
	 * from the heap.
	 */
	mallopt(M_MMAP_THRESHOLD, MALLOCMMAP);
	mallopt(M_TRIM_THRESHOLD, MALLOCKEEP);

	memset(&g.conf, 0, sizeof g.conf);
	g.conf.msize = 8 * 1024 * 1024 + P9_IOHDRSZ;
	g.conf.dialect = P9_2000;
	/* 9pfuse keeps a fid for every file the kernel has looked up */
	g.conf.maxfids = 65536;
	g.conf.maxreqs = 64;
	g.conf.iounit = 128 * 1024;
	g.conf.maxbytes = 256 * 1024 * 1024;
	g.maxclients = 1024;
	g.keepalive = 20;
	g.grace = GRACE;
	g.up.retry.slot = g.ex.retry.slot = g.up.hold.slot = g.ex.hold.slot = -1;
	nlisaddr = 0;
	listentls = 0;
	mode = 0600;
	usesyslog = 0;
	level = LOG_QUIET;
	name = NULL;
	vers = NULL;
	exaddr = NULL;
	logpath = NULL;
	loginit("9mux", 0, LOG_QUIET);
	opterr = 0;	/* one line of our own instead of getopt's */
	while((o = getopt(argc, argv, "a:l:r:x:e:k:g:L:n:V:m:M:c:f:t:T:b:B:w:i:I:S:C:K:R:H:z:Z:P:svDuFh")) != -1){
		switch(o){
		case 'S':
		case 'C':
		case 'K':
		case 'R':
		case 'H':
		case 'z':
			if(tlsflag(&g.tlsopts, o, optarg, err, sizeof err) < 0)
				fatal("%s", err);
			break;
		case 'Z':
			g.cover = (int)number(optarg, "-Z", 1, 86400000);
			break;
		case 'a':
		case 'l':
		case 'r':
		case 'x':
			if(nlisaddr == MAXLISTEN)
				fatal("too many listen addresses");
			lisrole[nlisaddr] = o == 'a' ? LCLIENT : o == 'l' ? LLINK : o == 'x' ? LCTL : LREVERSE;
			lisaddr[nlisaddr++] = optarg;
			break;
		case 'e':
			exaddr = optarg;
			break;
		case 'k':
			g.keepalive = (int)number(optarg, "-k", 0, 86400);
			break;
		case 'F':
			g.failfast = 1;
			break;
		case 'g':
			g.grace = (int)number(optarg, "-g", 0, 3600);
			break;
		case 'L':
			logpath = optarg;
			break;
		case 'P':
			g.persist = (int)number(optarg, "-P", 1, 86400);
			break;
		case 'h':
			usage('h');
		case 'n':
			name = optarg;
			if(*name == '\0' || strchr(name, '/'))
				fatal("bad -n name %s", name);
			break;
		case 'V':
			vers = optarg;
			break;
		case 'm':
			g.conf.msize = (uint32_t)number(optarg, "-m", P9_MINMSIZE, 0x7FFFFFFF);
			break;
		case 'M':
			mode = octal(optarg);
			break;
		case 'c':
			g.maxclients = (int)number(optarg, "-c", 1, 1000000);
			break;
		case 'f':
			g.conf.maxfids = (int)number(optarg, "-f", 1, 100000000);
			break;
		case 't':
			g.conf.maxreqs = (int)number(optarg, "-t", 1, 65535);
			break;
		case 'T':
			g.conf.maxtags = (int)number(optarg, "-T", 1, 65535);
			break;
		case 'b':
			g.conf.sessbytes = bytes(optarg, "-b");
			break;
		case 'B':
			g.conf.maxbytes = bytes(optarg, "-B");
			break;
		case 'w':
			g.conf.upqbytes = bytes(optarg, "-w");
			break;
		case 'i':
			sz = bytes(optarg, "-i");
			if(sz < 512 || sz > 0x7FFFFFFF)
				fatal("bad -i value %s: want a size from 512 bytes to 2g-1", optarg);
			g.conf.iounit = (uint32_t)sz;
			break;
		case 'I':
			g.conf.pieces = (int)number(optarg, "-I", 1, 64);
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
			usage(optopt);
		}
	}
	/* sockets passed by systemd may be all there is to listen on */
	if(argc - optind != 1 || (nlisaddr == 0 && name == NULL && getenv("LISTEN_FDS") == NULL))
		usage(0);
	if(vers && (g.conf.dialect = p9dialect(vers, strlen(vers))) < 0)
		fatal("bad -V dialect %s: want 9P2000, 9P2000.u or 9P2000.L", vers);
	checkaddr(argv[optind], "upstream", 1);
	if(exaddr)
		checkaddr(exaddr, "-e export", 1);
	for(i = 0; i < nlisaddr; i++)
		checkaddr(lisrole[i] == LREVERSE && (eq = linkname(lisaddr[i])) != NULL ? eq + 1 : lisaddr[i], "listen", 0);
	tls = addrkind(argv[optind]) == DIAL_TLS || (exaddr && addrkind(exaddr) == DIAL_TLS);
	for(i = 0; i < nlisaddr; i++)
		if(addrkind(lisrole[i] == LREVERSE && (eq = linkname(lisaddr[i])) != NULL ? eq + 1 : lisaddr[i]) == DIAL_TLS)
			listentls = 1;
	tlssetup(tls, listentls);
	if(logpath && usesyslog)
		fatal("-L and -s: log to a file or to syslog, not both");
	loginit("9mux", usesyslog, level);
	if(logpath && logfile(logpath) < 0)
		fatal("-L %s: %s", logpath, strerror(errno));
	ctlinit();
	if(level >= LOG_TRACE)
		g.conf.trace = trace;
	g.conf.wake = wake;
	g.conf.fdevent = fdevent;
	g.conf.note = note;
	g.maxbytes = g.conf.maxbytes;

	setup();
	batchinit(getenv("NINEMUX_RING") == NULL || atoi(getenv("NINEMUX_RING")) != 0,
		getenv("NINEMUX_PEEK") == NULL || atoi(getenv("NINEMUX_PEEK")) != 0);
	if((g.m = nmnew(&g.conf)) == NULL)
		fatal("out of memory");
	/* before anything is dialed: an exec! upstream must not inherit systemd's sockets */
	passed = sdlisten();
	if(passed == 0 && nlisaddr == 0 && name == NULL)
		usage(0);
	g.nolink = nmupnew(g.m, g.conf.msize, P9_2000L, NM_UPANY);
	if(g.nolink == NULL)
		fatal("out of memory");
	nmupwhy(g.nolink, "9mux: no link from a peer is up");
	exup = NULL;
	if(exaddr){
		/* the export is versioned as a link is: 9P2000.L offered, any dialect taken */
		if((exup = nmupnew(g.m, g.conf.msize, P9_2000L, NM_UPANY)) == NULL)
			fatal("out of memory");
		dialerinit(&g.ex, exaddr, "export", exup, NULL);
	}
	/* with -e the upstream is a peer 9mux, held to the rules as a link is */
	upup = exaddr ? nmupnew(g.m, g.conf.msize, g.conf.dialect, NM_UPSTRICT) : nmdefup(g.m);
	if(upup == NULL)
		fatal("out of memory");
	dialerinit(&g.up, argv[optind], "upstream", upup, exup);
	if(g.failfast){
		if(exaddr)
			dialstart(&g.ex);
		dialfirst(&g.up);
	}

	if(passed > 0 && (nlisaddr > 0 || name != NULL)){
		logerror("serving the %d sockets systemd passed; -a, -l, -r, -x and -n are not used", passed);
		nlisaddr = 0;
		name = NULL;
	}
	for(i = 0; i < nlisaddr; i++){
		if(lisrole[i] == LREVERSE && (eq = linkname(lisaddr[i])) != NULL){
			*eq = '\0';
			linknamed(lisaddr[i]);
			listen1(eq + 1, mode, LREVERSE, lisaddr[i]);
		}else
			listen1(lisaddr[i], mode, lisrole[i], NULL);
	}
	if(name){
		if(nsdir(dir, sizeof dir) < 0)
			fatal("namespace directory name too long");
		if(mkdir(dir, 0700) < 0 && errno != EEXIST)
			fatal("mkdir %s: %s", dir, strerror(errno));
		snprintf(path, sizeof path, "unix!%s/%s", dir, name);
		listen1(path, mode, LCLIENT, NULL);
		logmsg(LOG_QUIET, "posted as %s", path);
	}
	for(i = 0; i < g.nlis; i++)
		logmsg(LOG_CONN, "listening on %s%s%s", g.lis[i].addr,
			g.lis[i].port ? portname(g.lis[i].port) : "",
			g.lis[i].role == LLINK ? " for links" : g.lis[i].role == LREVERSE ? " for clients over a link" :
			g.lis[i].role == LCTL ? " for the control tree" : "");
	/* the upstream may come later: clients wait for it, or are told it is not there */
	sdnotify("READY=1");
	if(!g.failfast){
		if(exaddr){
			/* the export first, so that the peer's requests find it */
			g.ex.then = &g.up;
			dialstart(&g.ex);
		}else
			dialstart(&g.up);
	}
	loop();
	return 0;
}
