/*
 * 9pc - a command-line 9P client: ls, read, write, create, mkdir, rm, stat.
 *
 *	9pc [-a addr] [-V 9P2000|9P2000.L] [-m msize] [-u user] [-A aname]
 *	    [-S keyfile] [-C cert -K key] [-R cafile] [-H sha256:HEX] cmd args
 *
 * Without -a each path is name/path, name a service posted in the
 * namespace directory as unix!$NAMESPACE/name.  A tls! address is
 * dialed with TLS; lib9pclient, whose I/O is blocking and threaded, gets
 * one end of a socketpair and a thread relays it to the TLS connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "dial.h"
#include "tls.h"
#include "9pclient.h"

static const char *argv0 = "9pc";
static const char *addr;
static const char *uname;
static const char *aname = "";
static int dialect = P9_2000;
static uint32_t msize = 65536;

/* The connection of the current path's service. */
static char *curaddr;
static CFsys *curfs;
static CFid *curroot;
/* read's and write's buffer: fatal frees it too */
static char *iobuf;

enum {
	HANDSHAKEMS	= 30 * 1000,
};

/* TLS: the flags, and the connection under curfs with its relay thread. */
static Tlsopts tlsopts;
static Tlsconf *tlsconf;
static struct {
	Tls		*t;
	int		fd;		/* TCP, under t */
	int		plain;		/* the relay's end of the socketpair */
	pthread_t	thread;
	int		up;
	pthread_mutex_t	lk;
	char		err[512];	/* why it ended, if it failed */
} relay = { .fd = -1, .plain = -1, .lk = PTHREAD_MUTEX_INITIALIZER };

static void
usage(void)
{
	fprintf(stderr,
		"usage: %s [-a addr] [-V 9P2000|9P2000.L] [-m msize] [-u user] [-A aname]\n"
		"	[-S keyfile] [-C cert -K key] [-R cafile] [-H sha256:HEX] cmd args\n"
		"  ls [-l] path...\n"
		"  read path\n"
		"  write path	(from standard input)\n"
		"  create path...\n"
		"  mkdir path...\n"
		"  rm path...\n"
		"  stat path...\n"
		"without -a, path is name/path for the service unix!$NAMESPACE/name\n"
		"-S, -C, -K, -R, -H: TLS for -a tls!host!port\n", argv0);
	exit(2);
}

static void hangup(void);

static void __attribute__((noreturn, format(printf, 1, 2)))
fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", argv0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	hangup();
	free(iobuf);
	exit(1);
}

/*
 * The last error: when the TLS connection under the client failed, that
 * is why (lib9pclient only saw its end), else lib9pclient's.
 */
static const char *
errstr(void)
{
	static char buf[sizeof relay.err + 256];

	pthread_mutex_lock(&relay.lk);
	if(relay.err[0] != '\0')
		snprintf(buf, sizeof buf, "%s: %s", curaddr != NULL ? curaddr : "TLS", relay.err);
	else
		snprintf(buf, sizeof buf, "%s", fserrstr());
	pthread_mutex_unlock(&relay.lk);
	return buf;
}

static void *
relaythread(void *v)
{
	char err[sizeof relay.err];

	(void)v;
	if(tlsrelay(relay.t, relay.plain, err, sizeof err) < 0){
		pthread_mutex_lock(&relay.lk);
		snprintf(relay.err, sizeof relay.err, "%s", err);
		pthread_mutex_unlock(&relay.lk);
	}
	/* only now may lib9pclient see the end: the reason is in place */
	shutdown(relay.plain, SHUT_RDWR);
	return NULL;
}

static void
hangup(void)
{
	if(curroot != NULL)
		fsclose(curroot);
	curroot = NULL;
	/* closes lib9pclient's end: the relay sends close_notify and returns */
	fsunmount(curfs);
	curfs = NULL;
	if(relay.up)
		pthread_join(relay.thread, NULL);
	relay.up = 0;
	if(relay.plain >= 0)
		close(relay.plain);
	relay.plain = -1;
	tlsfree(relay.t);
	relay.t = NULL;
	if(relay.fd >= 0)
		close(relay.fd);
	relay.fd = -1;
	free(curaddr);
	curaddr = NULL;
}

/*
 * Dial a tls! address: the handshake here, then lib9pclient on one end
 * of a socketpair and tlsrelay between the other and the connection.
 */
static CFsys *
tlsdial(const char *a)
{
	char host[256], err[512];
	struct pollfd pfd;
	long left;
	time_t end;
	int r, sv[2];

	if(tlsconf == NULL && (tlsconf = tlsconfnew(&tlsopts, TLS_DIAL, err, sizeof err)) == NULL)
		fatal("%s", err);
	if(addrhost(a, host, sizeof host) < 0)
		fatal("bad address %s", a);
	if((relay.fd = dialraw(a, err, sizeof err)) < 0)
		fatal("%s", err);
	if(fdnonblock(relay.fd, 1) < 0)
		fatal("%s: %s", a, strerror(errno));
	if((relay.t = tlsnew(tlsconf, relay.fd, TLS_DIAL, host, err, sizeof err)) == NULL)
		fatal("%s: %s", a, err);
	end = time(NULL) + HANDSHAKEMS / 1000;
	while((r = tlshandshake(relay.t)) != 0){
		if(r == TLS_ERROR)
			fatal("%s: %s", a, tlserr(relay.t));
		left = (long)(end - time(NULL)) * 1000;
		pfd.fd = relay.fd;
		pfd.events = r == TLS_WANTREAD ? POLLIN : POLLOUT;
		if(left <= 0 || (poll(&pfd, 1, (int)left) == 0 && time(NULL) >= end))
			fatal("%s: no TLS handshake in %d s", a, HANDSHAKEMS / 1000);
	}
	if(socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, sv) < 0)
		fatal("socketpair: %s", strerror(errno));
	relay.plain = sv[1];
	if(pthread_create(&relay.thread, NULL, relaythread, NULL) != 0)
		fatal("cannot start a thread");
	relay.up = 1;
	return fsinit(sv[0], dialect, msize);
}

/*
 * The root of the service path lives on and the rest of path in *rest.
 * Connections are kept while consecutive paths name the same service.
 */
static CFid *
resolve(const char *path, const char **rest)
{
	char ns[512], a[1024];
	const char *slash;

	if(addr != NULL){
		snprintf(a, sizeof a, "%s", addr);
		*rest = path;
	}else{
		while(*path == '/')
			path++;
		slash = strchr(path, '/');
		if(slash == path || *path == '\0')
			fatal("%s: no service name (use name/path or -a addr)", path);
		if(nsdir(ns, sizeof ns) < 0)
			fatal("namespace directory name too long");
		if(slash == NULL){
			snprintf(a, sizeof a, "unix!%s/%s", ns, path);
			*rest = "";
		}else{
			snprintf(a, sizeof a, "unix!%s/%.*s", ns, (int)(slash - path), path);
			*rest = slash + 1;
		}
	}
	if(curaddr != NULL && strcmp(curaddr, a) == 0)
		return curroot;
	hangup();
	if(addrkind(a) != DIAL_TLS && tlsflagged(&tlsopts))
		fatal("-S, -C, -K, -R and -H are for tls! addresses, not %s", a);
	if((curaddr = strdup(a)) == NULL)
		fatal("out of memory");
	if(addrkind(a) == DIAL_TLS)
		curfs = tlsdial(a);
	else
		curfs = fsdial(a, dialect, msize);
	if(curfs == NULL)
		fatal("%s", errstr());
	if((curroot = fsattach(curfs, NULL, uname, aname)) == NULL)
		fatal("%s", errstr());
	return curroot;
}

/* Plan 9's ls -l mode string: "d-rwxr-xr-x". */
static void
modestr(char *s, uint32_t mode)
{
	static const char rwx[] = "rwx";
	int i;

	if(mode & P9_DMDIR)
		*s++ = 'd';
	else if(mode & P9_DMAPPEND)
		*s++ = 'a';
	else if(mode & P9_DMEXCL)
		*s++ = 'l';
	else if(mode & P9_DMSYMLINK)
		*s++ = 'L';
	else
		*s++ = '-';
	*s++ = mode & P9_DMTMP ? 't' : '-';
	for(i = 8; i >= 0; i--)
		*s++ = mode & (1u << i) ? rwx[(8 - i) % 3] : '-';
	*s = '\0';
}

static void
lsline(const Fsdir *d, const char *name)
{
	char m[16], date[32];
	time_t t, now;
	struct tm tm;

	modestr(m, d->mode);
	t = (time_t)d->mtime;
	now = time(NULL);
	localtime_r(&t, &tm);
	if(now - t < 180L * 24 * 60 * 60 && t <= now + 60L * 60)
		strftime(date, sizeof date, "%b %e %H:%M", &tm);
	else
		strftime(date, sizeof date, "%b %e  %Y", &tm);
	printf("%s %s %s %" PRIu64 " %s %s\n", m, d->uid, d->gid, d->length, date, name);
}

static int
bynames(const void *a, const void *b)
{
	return strcmp(((const Fsdir*)a)->name, ((const Fsdir*)b)->name);
}

static int
cmdls(int argc, char **argv)
{
	int lflag, i, rv;
	long n, j;
	CFid *root, *dir, *f;
	Fsdir *d, *e, *full;
	const char *path;
	static char empty[] = "";
	char *one[] = { empty, NULL };

	lflag = 0;
	while(argc > 0 && argv[0][0] == '-' && argv[0][1] != '\0'){
		if(strcmp(argv[0], "-l") != 0)
			usage();
		lflag = 1;
		argc--;
		argv++;
	}
	if(argc == 0){
		if(addr == NULL)
			usage();
		argc = 1;
		argv = one;
	}
	rv = 0;
	for(i = 0; i < argc; i++){
		root = resolve(argv[i], &path);
		if((dir = fswalk(root, path)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, errstr());
			rv = 1;
			continue;
		}
		if((d = fsdirfstat(dir)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, errstr());
			fsclose(dir);
			rv = 1;
			continue;
		}
		if(!(d->mode & P9_DMDIR)){
			if(lflag)
				lsline(d, argv[i]);
			else
				printf("%s\n", argv[i]);
			fsdirfree(d, 1);
			fsclose(dir);
			continue;
		}
		fsdirfree(d, 1);
		if((f = fsopen(dir, "", P9_OREAD)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, errstr());
			fsclose(dir);
			rv = 1;
			continue;
		}
		n = fsdirreadall(f, &d);
		fsclose(f);
		if(n < 0){
			fprintf(stderr, "%s: %s\n", argv0, errstr());
			fsclose(dir);
			rv = 1;
			continue;
		}
		if(n > 0)
			qsort(d, (size_t)n, sizeof *d, bynames);
		for(j = 0; j < n; j++){
			e = &d[j];
			if(strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
				continue;
			if(!lflag){
				printf("%s%s\n", e->name, e->mode & P9_DMDIR ? "/" : "");
				continue;
			}
			/* 9P2000.L readdir gives names only: fetch the rest */
			full = NULL;
			if(fsdialect(curfs) == P9_2000L && (full = fsdirstat(dir, e->name)) == NULL){
				fprintf(stderr, "%s: %s: %s\n", argv0, e->name, errstr());
				rv = 1;
				continue;
			}
			lsline(full != NULL ? full : e, e->name);
			fsdirfree(full, 1);
		}
		fsdirfree(d, n);
		fsclose(dir);
	}
	return rv;
}

static int
cmdread(int argc, char **argv)
{
	CFid *root, *f;
	const char *path;
	long n;
	size_t len;

	if(argc != 1)
		usage();
	root = resolve(argv[0], &path);
	if((f = fsopen(root, path, P9_OREAD)) == NULL)
		fatal("%s", errstr());
	len = fsmsize(curfs);
	if((iobuf = malloc(len)) == NULL)
		fatal("out of memory");
	while((n = fsread(f, iobuf, (long)len)) > 0)
		if(fwrite(iobuf, 1, (size_t)n, stdout) != (size_t)n)
			fatal("write standard output: %s", strerror(errno));
	if(n < 0)
		fatal("%s", errstr());
	free(iobuf);
	iobuf = NULL;
	fsclose(f);
	if(fflush(stdout) != 0)
		fatal("write standard output: %s", strerror(errno));
	return 0;
}

static int
cmdwrite(int argc, char **argv)
{
	CFid *root, *f;
	const char *path;
	size_t len, n;
	long w;

	if(argc != 1)
		usage();
	root = resolve(argv[0], &path);
	if((f = fsopen(root, path, P9_OWRITE|P9_OTRUNC)) == NULL)
		fatal("%s", errstr());
	len = fsmsize(curfs);
	if((iobuf = malloc(len)) == NULL)
		fatal("out of memory");
	while((n = fread(iobuf, 1, len, stdin)) > 0){
		w = fswrite(f, iobuf, (long)n);
		if(w < 0)
			fatal("%s", errstr());
		if(w != (long)n)
			fatal("short write");
	}
	if(ferror(stdin))
		fatal("read standard input: %s", strerror(errno));
	free(iobuf);
	iobuf = NULL;
	if(fsclose(f) < 0)
		fatal("%s", errstr());
	return 0;
}

static int
cmdcreate(int argc, char **argv, uint32_t perm)
{
	CFid *root, *f;
	const char *path;
	int i, rv;

	if(argc < 1)
		usage();
	rv = 0;
	for(i = 0; i < argc; i++){
		root = resolve(argv[i], &path);
		if((f = fscreate(root, path, P9_OREAD, perm)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, errstr());
			rv = 1;
			continue;
		}
		fsclose(f);
	}
	return rv;
}

static int
cmdrm(int argc, char **argv)
{
	CFid *root;
	const char *path;
	int i, rv;

	if(argc < 1)
		usage();
	rv = 0;
	for(i = 0; i < argc; i++){
		root = resolve(argv[i], &path);
		if(fsremove(root, path) < 0){
			fprintf(stderr, "%s: %s\n", argv0, errstr());
			rv = 1;
		}
	}
	return rv;
}

static int
cmdstat(int argc, char **argv)
{
	CFid *root;
	const char *path;
	Fsdir *d;
	char m[16];
	int i, rv;

	if(argc < 1)
		usage();
	rv = 0;
	for(i = 0; i < argc; i++){
		root = resolve(argv[i], &path);
		if((d = fsdirstat(root, path)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, errstr());
			rv = 1;
			continue;
		}
		modestr(m, d->mode);
		printf("name %s\n", d->name);
		printf("qid.path 0x%" PRIx64 "\n", d->qid.path);
		printf("qid.vers %" PRIu32 "\n", d->qid.vers);
		printf("qid.type 0x%02x\n", d->qid.type);
		printf("mode 0%" PRIo32 " %s\n", d->mode, m);
		if(fsdialect(curfs) == P9_2000L){
			printf("umode 0%" PRIo32 "\n", d->umode);
			printf("nlink %" PRIu64 "\n", d->nlink);
		}else{
			printf("type %u\n", d->type);
			printf("dev %" PRIu32 "\n", d->dev);
		}
		printf("length %" PRIu64 "\n", d->length);
		printf("uid %s\n", d->uid);
		printf("gid %s\n", d->gid);
		if(fsdialect(curfs) != P9_2000L)
			printf("muid %s\n", d->muid);
		printf("atime %" PRIu32 "\n", d->atime);
		printf("mtime %" PRIu32 "\n", d->mtime);
		fsdirfree(d, 1);
	}
	return rv;
}

/* The next argument of an option, from the rest of this word or the next. */
static char *
optarg1(int *argc, char ***argv, char *p)
{
	if(p[1] != '\0')
		return p + 1;
	if(*argc < 2)
		usage();
	(*argc)--;
	(*argv)++;
	return (*argv)[0];
}

int
main(int argc, char **argv)
{
	char *p, *v, *end, err[256];
	const char *cmd;
	struct passwd *pw;
	unsigned long m;
	int rv;

	argc--;
	argv++;
	while(argc > 0 && argv[0][0] == '-' && argv[0][1] != '\0'){
		if(strcmp(argv[0], "--") == 0){
			argc--;
			argv++;
			break;
		}
		for(p = argv[0] + 1; *p != '\0'; p++){
			switch(*p){
			case 'a':
				addr = optarg1(&argc, &argv, p);
				break;
			case 'A':
				aname = optarg1(&argc, &argv, p);
				break;
			case 'u':
				uname = optarg1(&argc, &argv, p);
				break;
			case 'm':
				v = optarg1(&argc, &argv, p);
				errno = 0;
				m = strtoul(v, &end, 0);
				if(errno != 0 || *end != '\0' || m < P9_MINMSIZE || m > 0xFFFFFFFFul)
					fatal("bad msize %s", v);
				msize = (uint32_t)m;
				break;
			case 'V':
				v = optarg1(&argc, &argv, p);
				dialect = p9dialect(v, strlen(v));
				if(dialect != P9_2000 && dialect != P9_2000L)
					fatal("unsupported version %s", v);
				break;
			case 'S': case 'C': case 'K': case 'R': case 'H':
				if(tlsflag(&tlsopts, *p, optarg1(&argc, &argv, p), err, sizeof err) < 0)
					fatal("%s", err);
				break;
			default:
				usage();
			}
			if(strchr("aAumVSCKRH", *p) != NULL)
				break;
		}
		argc--;
		argv++;
	}
	if(argc < 1)
		usage();
	if(uname == NULL){
		uname = getenv("USER");
		if(uname == NULL && (pw = getpwuid(getuid())) != NULL)
			uname = pw->pw_name;
		if(uname == NULL)
			uname = "none";
	}
	cmd = argv[0];
	argc--;
	argv++;
	if(strcmp(cmd, "ls") == 0)
		rv = cmdls(argc, argv);
	else if(strcmp(cmd, "read") == 0)
		rv = cmdread(argc, argv);
	else if(strcmp(cmd, "write") == 0)
		rv = cmdwrite(argc, argv);
	else if(strcmp(cmd, "create") == 0)
		rv = cmdcreate(argc, argv, 0666);
	else if(strcmp(cmd, "mkdir") == 0)
		rv = cmdcreate(argc, argv, P9_DMDIR|0777);
	else if(strcmp(cmd, "rm") == 0)
		rv = cmdrm(argc, argv);
	else if(strcmp(cmd, "stat") == 0)
		rv = cmdstat(argc, argv);
	else
		usage();
	if(fflush(stdout) != 0){
		fprintf(stderr, "%s: write standard output: %s\n", argv0, strerror(errno));
		rv = 1;
	}
	hangup();
	tlsconffree(tlsconf);
	return rv;
}
