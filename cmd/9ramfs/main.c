/*
 * 9ramfs - an in-memory 9P2000, 9P2000.u and 9P2000.L file server.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "9p.h"
#include "dial.h"
#include "log.h"
#include "ramfs.h"

enum {
	Maxaddr = 32,
	Maxthreads = 256,
	Defthreads = 16,	/* at most, by default: beyond, threads only wait for the locks */
	Stack = 1024 * 1024,	/* a Fcall or two and a trace line; room for sanitizers */
	Defsndbuf = 4 * 1024 * 1024,	/* a unix connection's send buffer: room for a multiplexer's many readers */
};

typedef struct Listener Listener;
struct Listener {
	const char	*addr;
	int		fd;
	unsigned long	nconn;
};

static Listener listeners[Maxaddr];
static int nlisteners;
static pthread_attr_t tattr;
static int sndbuf = Defsndbuf;	/* -W */

/* One line: what was wrong (why, and the option letter c if not 0), and the usage. */
static void
usage(const char *why, int c)
{
	if(c != 0)
		fprintf(stderr, "9ramfs: %s -%c; ", why, c);
	else
		fprintf(stderr, "9ramfs: %s; ", why);
	fprintf(stderr, "usage: 9ramfs [-a addr]... [-m msize] [-S maxbytes] [-F maxfiles] [-j threads] [-q requests] [-b bytes] [-W bytes] [-u owner] [-D] [-v]\n");
	exit(1);
}

/* A count with an optional k, m or g suffix (powers of 1024): 0, or -1 if it is not one. */
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

static void *
connthread(void *v)
{
	connserve(v);
	return NULL;
}

static void *
stdiothread(void *v)
{
	connserve(v);
	exit(0);
}

/*
 * Give connection fd the send buffer -W asks for, if it is a unix
 * socket: replies wait there while the client is busy, and one
 * connection through a multiplexer carries what many would.
 */
static void
sizebuf(int fd, const char *name)
{
	int got;

	if((got = fdsndbuf(fd, sndbuf)) < 0)
		logerror("%s: send buffer: %s", name, strerror(errno));
	else if(got > 0)
		logmsg(LOG_CONN, "%s: send buffer %d bytes%s", name, got,
			got < sndbuf ? " (net.core.wmem_max caps it)" : "");
}

static void
startconn(Conn *c, int stdio)
{
	pthread_t t;
	int r;

	r = pthread_create(&t, &tattr, stdio ? stdiothread : connthread, c);
	if(r != 0){
		logerror("cannot start a thread: %s", strerror(r));
		if(stdio)
			exit(1);
		connfree(c);
	}
}

static void *
listenthread(void *v)
{
	Listener *l;
	Conn *c;
	char name[64];
	int fd, one;

	l = v;
	for(;;){
		fd = accept(l->fd, NULL, NULL);
		if(fd < 0){
			if(errno == EINTR || errno == ECONNABORTED)
				continue;
			logerror("accept on %s: %s", l->addr, strerror(errno));
			/* out of descriptors or memory: let some connections end */
			usleep(100 * 1000);
			continue;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		snprintf(name, sizeof name, "%s#%lu", l->addr, ++l->nconn);
		sizebuf(fd, name);
		c = connnew(fd, fd, name);
		if(c == NULL){
			logerror("%s: out of memory", name);
			close(fd);
			continue;
		}
		startconn(c, 0);
	}
	return NULL;
}

static void
unlinksockets(void)
{
	const char *p;
	int i;

	for(i = 0; i < nlisteners; i++)
		if(addrkind(listeners[i].addr) == DIAL_UNIX && (p = addrpath(listeners[i].addr)) != NULL)
			unlink(p);
}

static uint32_t
ownerid(const char *name)
{
	struct passwd *pw;
	char *end;
	unsigned long v;

	v = strtoul(name, &end, 10);
	if(*name != '\0' && *end == '\0' && v < 0xFFFFFFFFul)
		return (uint32_t)v;
	pw = getpwnam(name);
	return pw != NULL ? (uint32_t)pw->pw_uid : (uint32_t)getuid();
}

int
main(int argc, char **argv)
{
	const char *addrs[Maxaddr], *owner;
	struct passwd *pw;
	uint64_t maxbytes, maxfiles, v;
	long ncpu;
	sigset_t sigs;
	pthread_t t;
	char err[256];
	Conn *c;
	int ch, naddr, level, i, sig;

	naddr = 0;
	level = LOG_QUIET;
	maxbytes = 256ull * 1024 * 1024;
	maxfiles = 100000;
	owner = NULL;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	nthreads = ncpu < 2 ? 2 : ncpu > Defthreads ? Defthreads : (int)ncpu;
	opterr = 0;
	while((ch = getopt(argc, argv, ":a:m:S:F:j:q:b:W:u:Dv")) != -1){
		switch(ch){
		case 'a':
			if(naddr >= Maxaddr){
				fprintf(stderr, "9ramfs: at most %d addresses\n", Maxaddr);
				exit(1);
			}
			if(addrkind(optarg) != DIAL_UNIX && addrkind(optarg) != DIAL_TCP){
				fprintf(stderr, "9ramfs: bad address %s: want unix!path or tcp!host!port\n", optarg);
				exit(1);
			}
			addrs[naddr++] = optarg;
			break;
		case 'm':
			if(parsesize(optarg, &v) < 0 || v < P9_MINMSIZE || v > 0x7FFFFFFF){
				fprintf(stderr, "9ramfs: bad msize %s: want %d to 2147483647\n", optarg, P9_MINMSIZE);
				exit(1);
			}
			maxmsize = (uint32_t)v;
			break;
		case 'S':
			if(parsesize(optarg, &maxbytes) < 0){
				fprintf(stderr, "9ramfs: bad byte limit %s\n", optarg);
				exit(1);
			}
			break;
		case 'F':
			if(parsesize(optarg, &maxfiles) < 0){
				fprintf(stderr, "9ramfs: bad file limit %s\n", optarg);
				exit(1);
			}
			break;
		case 'j':
			if(parsesize(optarg, &v) < 0 || v < 1 || v > Maxthreads){
				fprintf(stderr, "9ramfs: bad thread count %s: want 1 to %d\n", optarg, Maxthreads);
				exit(1);
			}
			nthreads = (int)v;
			break;
		case 'q':
			if(parsesize(optarg, &v) < 0 || v < 1 || v > 65536){
				fprintf(stderr, "9ramfs: bad request limit %s: want 1 to 65536\n", optarg);
				exit(1);
			}
			maxreqs = (uint32_t)v;
			break;
		case 'b':
			if(parsesize(optarg, &v) < 0 || v < 1){
				fprintf(stderr, "9ramfs: bad byte limit %s\n", optarg);
				exit(1);
			}
			maxreqbytes = v;
			break;
		case 'W':
			if(parsesize(optarg, &v) < 0 || v > 1024 * 1024 * 1024){
				fprintf(stderr, "9ramfs: bad send buffer %s: want 0 (the kernel's) to 1g\n", optarg);
				exit(1);
			}
			sndbuf = (int)v;
			break;
		case 'u':
			if(optarg[0] == '\0' || strlen(optarg) > 255){
				fprintf(stderr, "9ramfs: bad owner name\n");
				exit(1);
			}
			owner = optarg;
			break;
		case 'D':
			level = LOG_TRACE;
			break;
		case 'v':
			if(level < LOG_CONN)
				level = LOG_CONN;
			break;
		case ':':
			usage("a value is needed after", optopt);
			break;
		default:
			usage("unknown option", optopt);
		}
	}
	if(optind != argc)
		usage("unexpected argument", 0);
	loginit("9ramfs", 0, level);
	if(owner == NULL){
		pw = getpwuid(getuid());
		owner = pw != NULL ? pw->pw_name : getenv("USER");
		if(owner == NULL || owner[0] == '\0')
			owner = "none";
	}
	if(fsmake(owner, ownerid(owner), maxbytes, maxfiles) < 0){
		fprintf(stderr, "9ramfs: out of memory\n");
		exit(1);
	}

	/* signals are taken by sigwait below, in this thread only */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	pthread_attr_init(&tattr);
	pthread_attr_setstacksize(&tattr, Stack);
	pthread_attr_setdetachstate(&tattr, PTHREAD_CREATE_DETACHED);

	for(i = 0; i < naddr; i++){
		listeners[i].addr = addrs[i];
		listeners[i].fd = announce(addrs[i], 0, err, sizeof err);
		if(listeners[i].fd < 0){
			fprintf(stderr, "9ramfs: %s\n", err);
			unlinksockets();
			exit(1);
		}
		nlisteners = i + 1;
		logmsg(LOG_CONN, "serving %s", addrs[i]);
	}
	for(i = 0; i < nlisteners; i++)
		if((errno = pthread_create(&t, &tattr, listenthread, &listeners[i])) != 0){
			fprintf(stderr, "9ramfs: cannot start a thread: %s\n", strerror(errno));
			unlinksockets();
			exit(1);
		}
	if(naddr == 0){
		sizebuf(1, "stdio");
		c = connnew(0, 1, "stdio");
		if(c == NULL){
			fprintf(stderr, "9ramfs: out of memory\n");
			exit(1);
		}
		startconn(c, 1);
	}
	for(;;){
		if(sigwait(&sigs, &sig) != 0)
			continue;
		logmsg(LOG_CONN, "signal %d: exiting", sig);
		unlinksockets();
		exit(0);
	}
}
