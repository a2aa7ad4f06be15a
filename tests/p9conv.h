/*
 * p9conv.h - speak raw 9P from a C test: start and stop the programs under
 * test, dial their unix sockets, send Fcalls and receive frames with a
 * timeout, and read the log files 9testsrv writes.  Header-only, after
 * tap.h; link against lib9p.
 */
#ifndef P9CONV_H
#define P9CONV_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "9p.h"

enum {
	PC_MAXMSG	= 1 << 20,
	PC_TIMEOUT	= -100,		/* pc_recv: nothing arrived in time */
	PC_EOF		= -101,		/* pc_recv: the peer hung up */
};

static char pc_bindir[512];

/* Where the programs are: $NINEMUX_BUILD/bin, else ../bin next to argv0. */
static inline void
pc_setbin(const char *argv0)
{
	const char *b, *slash;

	b = getenv("NINEMUX_BUILD");
	if(b != NULL && *b) {
		snprintf(pc_bindir, sizeof pc_bindir, "%s/bin", b);
		return;
	}
	slash = strrchr(argv0, '/');
	if(slash == NULL)
		snprintf(pc_bindir, sizeof pc_bindir, "../bin");
	else
		snprintf(pc_bindir, sizeof pc_bindir, "%.*s/../bin", (int)(slash - argv0), argv0);
}

/* The path of program name in the build, in a static buffer per call slot. */
static inline const char *
pc_prog(const char *name)
{
	static char bufs[8][600];
	static int i;
	char *b;

	b = bufs[i++ % 8];
	snprintf(b, sizeof bufs[0], "%s/%s", pc_bindir, name);
	return b;
}

static inline long
pc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void
pc_sleep(int ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while(nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Start argv[0] with argv; its standard error goes to errfile when
 * errfile is not NULL.  Returns the pid, or -1.
 */
static inline pid_t
pc_spawn(const char *const argv[], const char *errfile)
{
	pid_t pid;
	int fd;

	fflush(stdout);
	pid = fork();
	if(pid != 0)
		return pid;
	fd = open("/dev/null", O_RDWR);
	if(fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
	}
	if(errfile != NULL) {
		fd = open(errfile, O_WRONLY|O_CREAT|O_TRUNC, 0644);
		if(fd >= 0)
			dup2(fd, 2);
	}
	signal(SIGPIPE, SIG_DFL);
	alarm(0);
	execv(argv[0], (char *const *)(uintptr_t)argv);
	_exit(127);
}

/*
 * Like pc_spawn, with fd as the child's standard input and output
 * (fd is closed in the parent by the caller when it is done with it).
 */
static inline pid_t
pc_spawnio(const char *const argv[], int fd, const char *errfile)
{
	pid_t pid;
	int e;

	fflush(stdout);
	pid = fork();
	if(pid != 0)
		return pid;
	dup2(fd, 0);
	dup2(fd, 1);
	if(fd > 1)
		close(fd);
	if(errfile != NULL) {
		e = open(errfile, O_WRONLY|O_CREAT|O_TRUNC, 0644);
		if(e >= 0)
			dup2(e, 2);
	}
	signal(SIGPIPE, SIG_DFL);
	alarm(0);
	execv(argv[0], (char *const *)(uintptr_t)argv);
	_exit(127);
}

/* Connect to the unix socket at path: a descriptor, or -1. */
static inline int
pc_dial(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if(strlen(path) >= sizeof sa.sun_path)
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if(fd < 0)
		return -1;
	if(connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Wait up to ms for a unix socket at path to accept: 0, or -1. */
static inline int
pc_waitsock(const char *path, int ms)
{
	long end;
	int fd;

	end = pc_now() + ms;
	do {
		fd = pc_dial(path);
		if(fd >= 0) {
			close(fd);
			return 0;
		}
		pc_sleep(20);
	} while(pc_now() < end);
	return -1;
}

/* Whether pid is still running (not yet exited; reaps it if it has). */
static inline int
pc_alive(pid_t pid, int *status)
{
	int st;

	if(waitpid(pid, &st, WNOHANG) == pid) {
		if(status)
			*status = st;
		return 0;
	}
	return 1;
}

/* Wait up to ms for pid to exit: its wait status, or -1 if it did not. */
static inline int
pc_waitexit(pid_t pid, int ms)
{
	long end;
	int st;

	end = pc_now() + ms;
	for(;;) {
		if(waitpid(pid, &st, WNOHANG) == pid)
			return st;
		if(pc_now() >= end)
			return -1;
		pc_sleep(10);
	}
}

/* Send sig to pid and reap it (SIGKILL after ms): its wait status. */
static inline int
pc_killwait(pid_t pid, int sig, int ms)
{
	int st;

	if(pid <= 0)
		return -1;
	kill(pid, sig);
	st = pc_waitexit(pid, ms);
	if(st == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	return st;
}

/* Send sig to pid and reap it (SIGKILL after 3 s): its wait status. */
static inline int
pc_kill(pid_t pid, int sig)
{
	int st;

	if(pid <= 0)
		return -1;
	kill(pid, sig);
	st = pc_waitexit(pid, 3000);
	if(st == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	return st;
}

static inline int
pc_write(int fd, const void *p, size_t n)
{
	const uint8_t *b;
	ssize_t w;

	b = p;
	while(n > 0) {
		w = send(fd, b, n, MSG_NOSIGNAL);
		if(w < 0 && errno == EINTR)
			continue;
		if(w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Encode f in dialect and send it: 0, or -1. */
static inline int
pc_send(int fd, const Fcall *f, int dialect)
{
	uint8_t *buf;
	size_t n;
	int r;

	n = p9size(f, dialect);
	if(n == 0)
		return -1;
	buf = malloc(n);
	if(buf == NULL)
		return -1;
	r = p9encode(buf, n, f, dialect) == n ? pc_write(fd, buf, n) : -1;
	free(buf);
	return r;
}

static inline int
pc_readfull(int fd, uint8_t *p, size_t n, long end)
{
	struct pollfd pfd;
	ssize_t r;
	long left;

	while(n > 0) {
		left = end - pc_now();
		if(left < 0)
			left = 0;
		pfd.fd = fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)left);
		if(r < 0 && errno == EINTR)
			continue;
		if(r == 0)
			return PC_TIMEOUT;
		r = read(fd, p, n);
		if(r < 0 && errno == EINTR)
			continue;
		if(r <= 0)
			return PC_EOF;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * Receive one frame within ms into buf (len bytes) and decode it in
 * dialect into *f: the frame's size, PC_TIMEOUT, PC_EOF, or a negative
 * P9_E error from the decoder.
 */
static inline long
pc_recv(int fd, uint8_t *buf, size_t len, int ms, int dialect, Fcall *f)
{
	uint32_t size;
	long end, r;

	end = pc_now() + ms;
	if(len < 4)
		return P9_EINVAL;
	if((r = pc_readfull(fd, buf, 4, end)) < 0)
		return r;
	size = p9get32(buf);
	if(size < P9_HDRSZ)
		return P9_ESHORT;
	if(size > len)
		return P9_EBIG;
	if((r = pc_readfull(fd, buf + 4, size - 4, end)) < 0)
		return r;
	r = p9decode(buf, size, size, dialect, f);
	return r < 0 ? r : (long)size;
}

/* Whether the peer hangs up (or sends nothing but garbage) within ms. */
static inline int
pc_hungup(int fd, int ms)
{
	uint8_t buf[512];
	struct pollfd pfd;
	long end;
	ssize_t r;

	end = pc_now() + ms;
	for(;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)(end - pc_now() > 0 ? end - pc_now() : 0));
		if(r == 0)
			return 0;
		if(r < 0)
			continue;
		r = read(fd, buf, sizeof buf);
		if(r <= 0)
			return 1;
	}
}

/*
 * A connection speaking 9P in one dialect, with a receive buffer so
 * that the decoded views stay valid until the next receive.
 */
typedef struct Pconn Pconn;
struct Pconn {
	int		fd;
	int		dialect;
	uint32_t	msize;
	uint8_t		*buf;
	Fcall		r;
};

static inline Pconn *
pc_open(const char *path, int dialect)
{
	Pconn *c;
	int fd;

	fd = pc_dial(path);
	if(fd < 0)
		return NULL;
	c = calloc(1, sizeof *c);
	c->buf = malloc(PC_MAXMSG);
	c->fd = fd;
	c->dialect = dialect;
	return c;
}

static inline void
pc_close(Pconn *c)
{
	if(c == NULL)
		return;
	if(c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

/* Receive the next reply into c->r: as pc_recv. */
static inline long
pc_next(Pconn *c, int ms)
{
	memset(&c->r, 0, sizeof c->r);
	return pc_recv(c->fd, c->buf, PC_MAXMSG, ms, c->dialect, &c->r);
}

/*
 * Send t encoded in dialect (which may differ from the session's, to
 * offer a message of another dialect) and receive the next reply.
 */
static inline int
pc_rpcin(Pconn *c, const Fcall *t, int dialect, int ms)
{
	long n;

	if(pc_send(c->fd, t, dialect) < 0)
		return P9_EINVAL;
	n = pc_next(c, ms);
	return n < 0 ? (int)n : c->r.type;
}

/* Send t and receive the next reply within ms into c->r: the reply's type, or < 0. */
static inline int
pc_rpc(Pconn *c, const Fcall *t, int ms)
{
	long n;

	if(pc_send(c->fd, t, c->dialect) < 0)
		return PC_EOF;
	n = pc_next(c, ms);
	return n < 0 ? (int)n : c->r.type;
}

/* Whether c->r is an error reply of any dialect. */
static inline int
pc_iserr(const Pconn *c)
{
	return c->r.type == Rerror || c->r.type == Rlerror;
}

static inline void
pc_mkversion(Fcall *t, uint32_t msize, const char *version)
{
	memset(t, 0, sizeof *t);
	t->type = Tversion;
	t->tag = P9_NOTAG;
	t->msize = msize;
	t->version = p9str(version);
}

/* Tattach fid (no afid) as uname, to the root. */
static inline void
pc_mkattach(Fcall *t, uint16_t tag, uint32_t fid, const char *uname)
{
	memset(t, 0, sizeof *t);
	t->type = Tattach;
	t->tag = tag;
	t->fid = fid;
	t->afid = P9_NOFID;
	t->uname = p9str(uname);
	t->aname = p9str("");
	t->nuname = P9_NOFID;
}

/*
 * Tattach fid as the user running the test, its uid as n_uname, as 9pc
 * does: what a diod started by that user (root or not) lets attach.
 */
static inline void
pc_mkattachme(Fcall *t, uint16_t tag, uint32_t fid)
{
	struct passwd *pw;

	pw = getpwuid(getuid());
	pc_mkattach(t, tag, fid, pw != NULL ? pw->pw_name : "root");
	t->nuname = (uint32_t)getuid();
}

/* Tversion: the reply's type, with c->msize set from an Rversion. */
static inline int
pc_version(Pconn *c, uint32_t msize, const char *version)
{
	Fcall t;
	int r;

	pc_mkversion(&t, msize, version);
	r = pc_rpc(c, &t, 5000);
	if(r == Rversion)
		c->msize = c->r.msize;
	return r;
}

/* Tattach fid (no afid) as uname: the reply's type. */
static inline int
pc_attach(Pconn *c, uint16_t tag, uint32_t fid, const char *uname)
{
	Fcall t;

	pc_mkattach(&t, tag, fid, uname);
	return pc_rpc(c, &t, 5000);
}

/* Twalk fid to newfid through up to 16 names in path ("a/b"; "" clones). */
static inline void
pc_mkwalk(Fcall *t, uint16_t tag, uint32_t fid, uint32_t newfid, const char *path)
{
	const char *p, *e;

	memset(t, 0, sizeof *t);
	t->type = Twalk;
	t->tag = tag;
	t->fid = fid;
	t->newfid = newfid;
	for(p = path; *p && t->nwname < P9_MAXWELEM; p = *e ? e + 1 : e) {
		e = strchr(p, '/');
		if(e == NULL)
			e = p + strlen(p);
		t->wname[t->nwname].s = p;
		t->wname[t->nwname].n = (uint16_t)(e - p);
		t->nwname++;
	}
}

static inline int
pc_walk(Pconn *c, uint16_t tag, uint32_t fid, uint32_t newfid, const char *path)
{
	Fcall t;

	pc_mkwalk(&t, tag, fid, newfid, path);
	return pc_rpc(c, &t, 5000);
}

/* A T-message of type naming fid only (Tclunk, Tremove, Tstat, Tgetattr...). */
static inline void
pc_mkfid(Fcall *t, int type, uint16_t tag, uint32_t fid)
{
	memset(t, 0, sizeof *t);
	t->type = (uint8_t)type;
	t->tag = tag;
	t->fid = fid;
	t->mask = 0x7ff;
}

static inline int
pc_fidop(Pconn *c, int type, uint16_t tag, uint32_t fid)
{
	Fcall t;

	pc_mkfid(&t, type, tag, fid);
	return pc_rpc(c, &t, 5000);
}

/* Topen (9P2000) or Tlopen (9P2000.L) fid with mode or flags. */
static inline int
pc_open1(Pconn *c, uint16_t tag, uint32_t fid, uint32_t mode)
{
	Fcall t;

	pc_mkfid(&t, c->dialect == P9_2000L ? Tlopen : Topen, tag, fid);
	t.mode = mode;
	t.flags = mode;
	return pc_rpc(c, &t, 5000);
}

/*
 * A session of c's dialect: Tversion with msize, Tattach fid 1 as
 * uname, Twalk 1 to 2 at path, Topen (or Tlopen) 2 for reading: 0, or
 * -1 if any step fails.
 */
static inline int
pc_openfile(Pconn *c, uint32_t msize, const char *uname, const char *path)
{
	if(c == NULL || pc_version(c, msize, p9dialectname(c->dialect)) != Rversion
	|| pc_attach(c, 1, 1, uname) != Rattach
	|| pc_walk(c, 2, 1, 2, path) != Rwalk
	|| pc_open1(c, 3, 2, P9_OREAD) != Ropen)
		return -1;
	return 0;
}

static inline void
pc_mkread(Fcall *t, uint16_t tag, uint32_t fid, uint64_t off, uint32_t count)
{
	pc_mkfid(t, Tread, tag, fid);
	t->offset = off;
	t->count = count;
}

/* Whether sub occurs in the n bytes at p (memmem is a GNU extension). */
static inline int
pc_has(const char *p, size_t n, const char *sub)
{
	size_t k, i;

	k = strlen(sub);
	for(i = 0; k <= n && i <= n - k; i++)
		if(memcmp(p + i, sub, k) == 0)
			return 1;
	return 0;
}

/* ---- temporary directories and files ---- */

/* A new temporary directory (mkdtemp), in a static buffer. */
static inline const char *
pc_tmpdir(void)
{
	static char dir[256];
	const char *t;

	t = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/9muxt.XXXXXX", t && *t ? t : "/tmp");
	if(mkdtemp(dir) == NULL)
		return NULL;
	return dir;
}

/*
 * dir/name, and unix!dir/name: in one of 8 rotating buffers, so a few
 * may be used in one call's arguments.
 */
static inline char *
pc_path(const char *dir, const char *name)
{
	static char bufs[8][420];
	static int i;
	char *b;

	b = bufs[i++ % 8];
	snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
	return b;
}

static inline char *
pc_unixaddr(const char *dir, const char *name)
{
	static char bufs[8][420];
	static int i;
	char *b;

	b = bufs[i++ % 8];
	snprintf(b, sizeof bufs[0], "unix!%s/%s", dir, name);
	return b;
}

/* Remove dir and the files (not subdirectories) in it. */
static inline void
pc_rmdir(const char *dir)
{
	char cmd[600];

	if(dir == NULL || strncmp(dir, "/", 1) != 0 || strstr(dir, "9muxt.") == NULL)
		return;
	if(getenv("P9CONV_KEEP") != NULL) {
		fprintf(stderr, "# kept %s\n", dir);
		return;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if(system(cmd) != 0) {
		/* leave it; nothing else to do */
	}
}

#if defined(__SANITIZE_ADDRESS__)
#define PC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PC_ASAN 1
#endif
#endif

enum { PC_MAXWATCH = 8 };

static pid_t *pc_watched[PC_MAXWATCH];
static const char *pc_watchdir;

static void
pc_alarmed(int sig)
{
	int i;

	(void)sig;
	for(i = 0; i < PC_MAXWATCH && pc_watched[i] != NULL; i++)
		if(*pc_watched[i] > 0)
			kill(*pc_watched[i], SIGKILL);
	pc_rmdir(pc_watchdir);
	_exit(1);
}

/*
 * When tap_start's alarm fires: kill the processes whose pids the
 * variables given (a NULL-terminated list) hold then, remove dir, exit 1.
 */
static inline void
pc_onalarm(const char *dir, ...)
{
	va_list ap;
	pid_t *p;
	int n;

	pc_watchdir = dir;
	va_start(ap, dir);
	for(n = 0; n < PC_MAXWATCH - 1 && (p = va_arg(ap, pid_t *)) != NULL; n++)
		pc_watched[n] = p;
	va_end(ap);
	signal(SIGALRM, pc_alarmed);
}

/* VmRSS of pid in KiB, or -1. */
static inline long
pc_rss(pid_t pid)
{
	char p[64], line[256];
	FILE *f;
	long kb;

	snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
	if((f = fopen(p, "r")) == NULL)
		return -1;
	kb = -1;
	while(fgets(line, sizeof line, f) != NULL)
		if(strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/*
 * Under AddressSanitizer, programs started from now on keep no freed
 * memory in quarantine, so that their resident size says what they hold.
 */
static inline void
pc_noquarantine(void)
{
#ifdef PC_ASAN
	static char opts[1024];
	const char *e;

	e = getenv("ASAN_OPTIONS");
	snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0", e ? e : "", e && *e ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
#endif
}

/* The whole of file path, NUL-terminated (malloc'd; "" if absent). */
static inline char *
pc_slurp(const char *path)
{
	FILE *f;
	char *s;
	long n;

	f = fopen(path, "r");
	if(f == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	n = (long)fread(s, 1, (size_t)n, f);
	s[n] = 0;
	fclose(f);
	return s;
}

/* Lines of file path containing sub (all lines if sub is NULL). */
static inline int
pc_count(const char *path, const char *sub)
{
	char *s, *p, *e;
	int n;

	s = pc_slurp(path);
	n = 0;
	for(p = s; *p; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if(e == NULL)
			e = p + strlen(p);
		if(sub == NULL || pc_has(p, (size_t)(e - p), sub))
			n++;
	}
	free(s);
	return n;
}

/* Wait up to ms until at least n lines of path contain sub: the count then. */
static inline int
pc_waitcount(const char *path, const char *sub, int n, int ms)
{
	long end;
	int k;

	end = pc_now() + ms;
	for(;;) {
		k = pc_count(path, sub);
		if(k >= n || pc_now() >= end)
			return k;
		pc_sleep(20);
	}
}

/*
 * Copy line number i (from 0) of path that contains sub into out
 * (without the newline): 0, or -1 if there is no such line.
 * i < 0 counts from the last match (-1 is the last).
 */
static inline int
pc_line(const char *path, const char *sub, int i, char *out, size_t len)
{
	char *s, *p, *e;
	int n, k, want;

	n = pc_count(path, sub);
	want = i < 0 ? n + i : i;
	if(want < 0 || want >= n)
		return -1;
	s = pc_slurp(path);
	k = 0;
	for(p = s; *p; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if(e == NULL)
			e = p + strlen(p);
		if(sub == NULL || pc_has(p, (size_t)(e - p), sub)) {
			if(k++ == want) {
				snprintf(out, len, "%.*s", (int)(e - p), p);
				free(s);
				return 0;
			}
		}
	}
	free(s);
	return -1;
}

/*
 * The number after "key=" in one of 9testsrv's log lines (in the part
 * after the tab: "@c1 tag=3 use=7 new=8"), or -1 if absent.
 */
static inline long long
pc_field(const char *line, const char *key)
{
	const char *p;
	char pat[64];
	size_t n;

	p = strchr(line, '\t');
	if(p == NULL)
		return -1;
	n = (size_t)snprintf(pat, sizeof pat, " %s=", key);
	p = strstr(p, pat);
	if(p == NULL)
		return -1;
	return strtoll(p + n, NULL, 10);
}

/* Ask 9testsrv (pid, logging to path) for its counts: FIDS and TAGS, or -1. */
static inline int
pc_srvstate(pid_t pid, const char *path, long *fids, long *tags)
{
	char line[128];
	int n;

	n = pc_count(path, "TAGS ");
	if(kill(pid, SIGUSR1) < 0)
		return -1;
	if(pc_waitcount(path, "TAGS ", n + 1, 5000) < n + 1)
		return -1;
	if(pc_line(path, "FIDS ", -1, line, sizeof line) < 0)
		return -1;
	*fids = strtol(line + 5, NULL, 10);
	if(pc_line(path, "TAGS ", -1, line, sizeof line) < 0)
		return -1;
	*tags = strtol(line + 5, NULL, 10);
	return 0;
}

#endif
