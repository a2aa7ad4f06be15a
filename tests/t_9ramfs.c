/*
 * t_9ramfs - 9ramfs spoken to in raw 9P2000, 9P2000.u and 9P2000.L over
 * real unix sockets (and a socketpair for the stdin/stdout mode).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "tap.h"
#include "9p.h"
#include "dial.h"

enum {
	Bufsz = 2 * 1024 * 1024,
	Msize = 1024 * 1024,
	Nthreads = 50,
	Tmo = 10000,	/* ms to wait for a reply */
};

typedef struct Cl Cl;
struct Cl {
	int	fd;
	int	dialect;
	uint32_t msize;
	uint16_t tag;
	uint8_t	*buf;
	Fcall	r;	/* the last reply; its views point into buf */
	char	err[256];	/* the last error reply */
	uint8_t	*obuf;
};

static char tmpdir[256];
static char prog[512];
static pid_t servers[16];
static int nservers;
static const char *srverr;	/* startsrv: the server's standard error, if not ours */

/* ---- the server under test ---- */

static void
cleanup(void)
{
	char p[600];
	int i;

	for(i = 0; i < nservers; i++)
		if(servers[i] > 0){
			kill(servers[i], SIGKILL);
			waitpid(servers[i], NULL, 0);
		}
	if(tmpdir[0]){
		snprintf(p, sizeof p, "rm -rf '%s'", tmpdir);
		if(system(p) != 0)
			diag("could not remove %s", tmpdir);
	}
}

static void
onalarm(int sig)
{
	(void)sig;
	printf("not ok - timed out\n");
	cleanup();
	_exit(1);
}

/* Start 9ramfs on unix!tmpdir/name with extra flags (NULL-terminated); its pid. */
static pid_t
startsrv(const char *name, char *addr, size_t addrlen, ...)
{
	const char *argv[20];
	va_list ap;
	char err[256];
	pid_t pid;
	int n, fd, i;

	snprintf(addr, addrlen, "unix!%s/%s", tmpdir, name);
	n = 0;
	argv[n++] = prog;
	argv[n++] = "-a";
	argv[n++] = addr;
	va_start(ap, addrlen);
	while(n < 18 && (argv[n] = va_arg(ap, const char*)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	fflush(stdout);
	pid = fork();
	if(pid == 0){
		alarm(0);
		if(srverr != NULL && (fd = open(srverr, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0)
			dup2(fd, 2);
		execv(prog, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	if(pid < 0)
		return -1;
	servers[nservers++] = pid;
	for(i = 0; i < 500; i++){
		fd = dial(addr, err, sizeof err);
		if(fd >= 0){
			close(fd);
			return pid;
		}
		usleep(10000);
	}
	diag("server on %s never answered: %s", addr, err);
	return pid;
}

/* Wait for pid to exit within ms: its wait status, or -1. */
static int
waitexit(pid_t pid, int ms)
{
	int st, i;

	for(i = 0; i < ms / 10; i++){
		if(waitpid(pid, &st, WNOHANG) == pid){
			for(int j = 0; j < nservers; j++)
				if(servers[j] == pid)
					servers[j] = 0;
			return st;
		}
		usleep(10000);
	}
	return -1;
}

/* ---- a raw client ---- */

static Cl *
clnew(int fd)
{
	Cl *c;

	c = calloc(1, sizeof *c);
	c->fd = fd;
	c->msize = Bufsz;
	c->buf = malloc(Bufsz);
	c->obuf = malloc(Bufsz);
	return c;
}

static Cl *
cldial(const char *addr)
{
	char err[256];
	int fd;

	fd = dial(addr, err, sizeof err);
	if(fd < 0){
		diag("dial %s: %s", addr, err);
		return NULL;
	}
	return clnew(fd);
}

static void
clfree(Cl *c)
{
	if(c == NULL)
		return;
	close(c->fd);
	free(c->buf);
	free(c->obuf);
	free(c);
}

static int
writeall(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while(n > 0){
		w = write(fd, p, n);
		if(w < 0 && errno == EINTR)
			continue;
		if(w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes within the deadline: 0, or -1 on EOF, error or timeout. */
static int
readfull(int fd, uint8_t *p, size_t n)
{
	struct pollfd pfd;
	ssize_t r;

	while(n > 0){
		pfd.fd = fd;
		pfd.events = POLLIN;
		if(poll(&pfd, 1, Tmo) <= 0)
			return -1;
		r = read(fd, p, n);
		if(r < 0 && errno == EINTR)
			continue;
		if(r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Receive one reply into c->r: 0, or -1 if the connection ended or broke. */
static int
clrecv(Cl *c)
{
	uint32_t sz;

	if(readfull(c->fd, c->buf, 4) < 0)
		return -1;
	sz = p9get32(c->buf);
	if(sz < 7 || sz > Bufsz)
		return -1;
	if(readfull(c->fd, c->buf + 4, sz - 4) < 0)
		return -1;
	if(p9decode(c->buf, sz, Bufsz, c->dialect, &c->r) != (long)sz){
		diag("undecodable reply type %d", c->buf[4]);
		return -1;
	}
	return 0;
}

static int
clsend(Cl *c, Fcall *t)
{
	size_t n;

	if(t->type != Tversion)
		t->tag = c->tag++ % 1000;
	n = p9encode(c->obuf, Bufsz, t, c->dialect);
	if(n == 0){
		diag("cannot encode %s", p9typename(t->type));
		return -1;
	}
	return writeall(c->fd, c->obuf, n);
}

/* A request and its reply: the reply's type, or -1. */
static int
rpc(Cl *c, Fcall *t)
{
	if(clsend(c, t) < 0 || clrecv(c) < 0)
		return -1;
	if(c->r.tag != t->tag){
		diag("reply tag %d for request tag %d", c->r.tag, t->tag);
		return -1;
	}
	if(c->r.type == Rerror)
		snprintf(c->err, sizeof c->err, "%.*s", c->r.ename.n, c->r.ename.s);
	else if(c->r.type == Rlerror)
		snprintf(c->err, sizeof c->err, "errno %u", c->r.errnum);
	return c->r.type;
}

/* The text of the last error reply, for diagnostics and matching. */
static const char *
errstr(const Cl *c)
{
	return c->err;
}

static int
version(Cl *c, uint32_t msize, const char *v)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Tversion;
	t.tag = P9_NOTAG;
	t.msize = msize;
	t.version = p9str(v);
	if(rpc(c, &t) != Rversion)
		return -1;
	if(p9streq(c->r.version, "9P2000.L"))
		c->dialect = P9_2000L;
	else if(p9streq(c->r.version, "9P2000.u"))
		c->dialect = P9_2000U;
	else
		c->dialect = P9_2000;
	c->msize = c->r.msize;
	return 0;
}

static int
attach(Cl *c, uint32_t fid, const char *uname, uint32_t nuname)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Tattach;
	t.fid = fid;
	t.afid = P9_NOFID;
	t.uname = p9str(uname);
	t.aname = p9str("");
	t.nuname = nuname;
	return rpc(c, &t) == Rattach ? 0 : -1;
}

static Cl *
session(const char *addr, const char *v, const char *uname)
{
	Cl *c;

	c = cldial(addr);
	if(c == NULL)
		return NULL;
	if(version(c, Msize, v) < 0 || attach(c, 0, uname, 1000) < 0){
		diag("session %s as %s: %s", v, uname, errstr(c));
		clfree(c);
		return NULL;
	}
	return c;
}

/* Walk fid to newfid along a slash-separated path: the reply type. */
static int
walk(Cl *c, uint32_t fid, uint32_t newfid, const char *path)
{
	Fcall t;
	char buf[512], *p, *s;

	memset(&t, 0, sizeof t);
	t.type = Twalk;
	t.fid = fid;
	t.newfid = newfid;
	snprintf(buf, sizeof buf, "%s", path);
	for(p = strtok_r(buf, "/", &s); p != NULL && t.nwname < P9_MAXWELEM; p = strtok_r(NULL, "/", &s))
		t.wname[t.nwname++] = p9str(p);
	if(rpc(c, &t) != Rwalk)
		return -1;
	return c->r.nwqid == t.nwname ? 0 : -1;
}

static int
fidop(Cl *c, int type, uint32_t fid)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = (uint8_t)type;
	t.fid = fid;
	return rpc(c, &t);
}

static int
topen(Cl *c, uint32_t fid, uint32_t mode)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Topen;
	t.fid = fid;
	t.mode = mode;
	return rpc(c, &t) == Ropen ? 0 : -1;
}

static int
tcreate(Cl *c, uint32_t fid, const char *name, uint32_t perm, uint32_t mode)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Tcreate;
	t.fid = fid;
	t.name = p9str(name);
	t.perm = perm;
	t.mode = mode;
	return rpc(c, &t) == Rcreate ? 0 : -1;
}

static long
twrite(Cl *c, uint32_t fid, uint64_t off, const void *p, uint32_t n)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Twrite;
	t.fid = fid;
	t.offset = off;
	t.count = n;
	t.data = p;
	if(rpc(c, &t) != Rwrite)
		return -1;
	return c->r.count;
}

/* Read into p: the count, or -1; c->r.data views the bytes. */
static long
tread(Cl *c, uint32_t fid, uint64_t off, uint32_t n)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = c->dialect == P9_2000L && n & 0x80000000u ? Treaddir : Tread;
	t.fid = fid;
	t.offset = off;
	t.count = n & 0x7FFFFFFFu;
	if(rpc(c, &t) != t.type + 1)
		return -1;
	return c->r.count;
}

static int
tstat(Cl *c, uint32_t fid, P9dir *d)
{
	if(fidop(c, Tstat, fid) != Rstat)
		return -1;
	return p9dirdecode(c->r.stat, c->r.nstat, c->dialect, d) > 0 ? 0 : -1;
}

/* A stat entry with every field "don't touch". */
static void
nulldir(P9dir *d)
{
	memset(d, 0xFF, sizeof *d);
	d->name = d->uid = d->gid = d->muid = d->extension = p9str("");
}

static int
twstat(Cl *c, uint32_t fid, const P9dir *d)
{
	uint8_t st[1024];
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Twstat;
	t.fid = fid;
	t.nstat = (uint16_t)p9direncode(st, sizeof st, d, c->dialect);
	t.stat = st;
	return rpc(c, &t) == Rwstat ? 0 : -1;
}

/* Create path's last element in its directory as fid, open with mode. */
static int
mkfile(Cl *c, uint32_t fid, const char *dir, const char *name, uint32_t perm, uint32_t mode)
{
	if(walk(c, 0, fid, dir) < 0)
		return -1;
	if(tcreate(c, fid, name, perm, mode) < 0){
		fidop(c, Tclunk, fid);
		return -1;
	}
	return 0;
}

/* ---- the tests ---- */

static void
testversion(const char *addr)
{
	Cl *c;
	Fcall t;

	c = cldial(addr);
	if(c == NULL){
		ok(0, "dial");
		return;
	}
	memset(&t, 0, sizeof t);
	t.type = Tattach;
	t.fid = 1;
	t.afid = P9_NOFID;
	t.uname = p9str("glenda");
	ok(rpc(c, &t) == Rerror, "attach before Tversion is refused: %s", errstr(c));
	ok(version(c, 100, "9P2000") < 0 && c->r.type == Rerror, "msize 100 is refused: %s", errstr(c));
	ok(version(c, 8192, "9P2000") == 0 && p9streq(c->r.version, "9P2000") && c->r.msize == 8192,
		"9P2000 at msize 8192");
	ok(version(c, 0x7FFFFFFF, "9P2000") == 0 && c->r.msize == 8 * 1024 * 1024 + 24,
		"a huge msize comes down to 8 MiB+24 (%u)", c->r.msize);
	ok(version(c, 8192, "9P2000.u") == 0 && p9streq(c->r.version, "9P2000.u"), "9P2000.u");
	ok(version(c, 8192, "9P2000.L") == 0 && p9streq(c->r.version, "9P2000.L"), "9P2000.L");
	ok(version(c, 8192, "9P2000.x") == 0 && p9streq(c->r.version, "9P2000"), "9P2000.x gets 9P2000");
	ok(version(c, 8192, "9P1999") == 0 && p9streq(c->r.version, "unknown"), "9P1999 gets unknown");
	ok(attach(c, 1, "glenda", 0) < 0, "no attach after an unknown version");
	ok(version(c, 8192, "9P2000") == 0 && attach(c, 1, "glenda", 0) == 0, "attach after 9P2000");
	{
		char longname[201];
		P9dir d;

		memset(longname, 'u', sizeof longname - 1);
		longname[sizeof longname - 1] = '\0';
		ok(version(c, 256, "9P2000") == 0 && c->msize == 256 && attach(c, 1, longname, 0) == 0,
			"msize 256, attached with a 200-byte uname");
		ok(walk(c, 1, 2, "") == 0 && tcreate(c, 2, "longowner", 0644, P9_OREAD) == 0 && fidop(c, Tstat, 2) == Rerror,
			"a stat that would not fit in msize is an error: %s", errstr(c));
		ok(version(c, 8192, "9P2000") == 0 && attach(c, 1, "glenda", 0) == 0 && walk(c, 1, 2, "longowner") == 0 &&
			tstat(c, 2, &d) == 0 && d.uid.n == 200 && fidop(c, Tremove, 2) == Rremove, "at msize 8192 it fits");
	}
	ok(walk(c, 1, 2, "") == 0, "clone fid 1 to 2");
	ok(version(c, 8192, "9P2000") == 0, "Tversion again");
	ok(fidop(c, Tclunk, 2) == Rerror, "Tversion clunked the old fids: %s", errstr(c));
	ok(attach(c, 1, "glenda", 0) == 0, "fid 1 can be attached again");

	memset(&t, 0, sizeof t);
	t.type = Tauth;
	t.afid = 5;
	t.uname = p9str("glenda");
	ok(rpc(c, &t) == Rerror && strstr(errstr(c), "authentication not required"), "Tauth: %s", errstr(c));
	memset(&t, 0, sizeof t);
	t.type = Tattach;
	t.fid = 6;
	t.afid = P9_NOFID;
	t.uname = p9str("glenda");
	t.aname = p9str("elsewhere");
	ok(rpc(c, &t) == Rattach && (c->r.qid.type & P9_QTDIR) && walk(c, 6, 7, "") == 0,
		"an attach to aname elsewhere gets the root");
	clfree(c);
}

static void
testbasic(const char *addr)
{
	Cl *c;
	P9dir d;
	char big[100000];
	uint32_t v0;
	long n;
	int i;

	c = session(addr, "9P2000", "glenda");
	if(!ok(c != NULL, "9P2000 session as glenda"))
		return;
	ok(mkfile(c, 1, "", "hello", 0644, P9_ORDWR) == 0, "create /hello");
	ok(twrite(c, 1, 0, "hello, world\n", 13) == 13, "write 13 bytes");
	n = tread(c, 1, 0, 100);
	ok(n == 13 && memcmp(c->r.data, "hello, world\n", 13) == 0, "read them back");
	ok(tread(c, 1, 13, 100) == 0, "read at the end gives 0 bytes");
	ok(tread(c, 1, 7, 5) == 5 && memcmp(c->r.data, "world", 5) == 0, "read in the middle");
	ok(tstat(c, 1, &d) == 0, "stat");
	ok(p9streq(d.name, "hello") && d.length == 13 && p9streq(d.uid, "glenda") && p9streq(d.muid, "glenda") &&
		(d.mode & 0777) == 0644 && d.qid.type == P9_QTFILE, "stat fields: name, length, uid, mode");
	v0 = d.qid.vers;
	ok(twrite(c, 1, 20, "x", 1) == 1 && tstat(c, 1, &d) == 0 && d.length == 21 && d.qid.vers == v0 + 1,
		"a write past the end extends and bumps qid.vers");
	ok(tread(c, 1, 13, 100) == 8 && memcmp(c->r.data, "\0\0\0\0\0\0\0x", 8) == 0, "the gap reads as zeros");
	ok(fidop(c, Tclunk, 1) == Rclunk, "clunk");
	ok(fidop(c, Tclunk, 1) == Rerror, "clunk again: %s", errstr(c));

	/* large transfers */
	for(i = 0; i < (int)sizeof big; i++)
		big[i] = (char)(i * 7 + i / 251);
	ok(mkfile(c, 1, "", "big", 0644, P9_ORDWR) == 0, "create /big");
	ok(twrite(c, 1, 0, big, sizeof big) == sizeof big, "write 100000 bytes in one message");
	ok(tread(c, 1, 0, sizeof big) == sizeof big && memcmp(c->r.data, big, sizeof big) == 0, "read them in one");
	fidop(c, Tclunk, 1);

	/* walks */
	ok(walk(c, 0, 1, "hello") == 0 && fidop(c, Tclunk, 1) == Rclunk, "walk to hello");
	ok(walk(c, 0, 1, "nothere") < 0 && c->r.type == Rerror, "a first element not there is an error: %s", errstr(c));
	ok(fidop(c, Tclunk, 1) == Rerror, "and created no fid");
	ok(walk(c, 0, 0, "") == 0 && attach(c, 0, "glenda", 0) < 0, "attach to a fid in use fails: %s", errstr(c));
	ok(attach(c, P9_NOFID, "glenda", 0) < 0 && walk(c, 0, P9_NOFID, "") < 0, "NOFID cannot be made a fid: %s", errstr(c));
	ok(walk(c, 0, 1, "hello/x") < 0 && c->r.type == Rwalk && c->r.nwqid == 1,
		"a walk through a file stops short: Rwalk with 1 qid");
	ok(fidop(c, Tclunk, 1) == Rerror, "a short walk creates no fid");
	ok(walk(c, 0, 1, "") == 0 && walk(c, 1, 1, "hello") == 0, "walk with newfid == fid");
	ok(tstat(c, 1, &d) == 0 && p9streq(d.name, "hello"), "fid moved to hello");
	ok(walk(c, 1, 1, "..") < 0, "walking .. from a file fails");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "..") == 0 && tstat(c, 1, &d) == 0 && (d.qid.type & P9_QTDIR), ".. of the root is the root");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "") == 0 && topen(c, 1, P9_OREAD) == 0, "open the root");
	ok(walk(c, 1, 2, "hello") < 0 && c->r.type == Rerror, "an open fid cannot walk: %s", errstr(c));
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 0, "hello") == 0 && walk(c, 0, 0, "..") < 0, "newfid==fid, and then walks from a file fail");
	fidop(c, Tclunk, 0);
	clfree(c);
}

/* Names in a 9P2000 directory, read in reads of count bytes. */
static int
readdir9(Cl *c, uint32_t fid, uint32_t count, char names[][32], int max)
{
	uint64_t off;
	long n, k;
	P9dir d;
	int nn;

	off = 0;
	nn = 0;
	for(;;){
		n = tread(c, fid, off, count);
		if(n < 0)
			return -1;
		if(n == 0)
			return nn;
		for(k = 0; k < n; ){
			long m = p9dirdecode(c->r.data + k, (size_t)(n - k), c->dialect, &d);
			if(m <= 0)
				return -1;
			if(nn < max)
				snprintf(names[nn], 32, "%.*s", d.name.n, d.name.s);
			nn++;
			k += m;
		}
		off += (uint64_t)n;
	}
}

static int
hasname(char names[][32], int n, const char *s)
{
	int i;

	for(i = 0; i < n; i++)
		if(strcmp(names[i], s) == 0)
			return 1;
	return 0;
}

static void
testdirs(const char *addr)
{
	Cl *c;
	char names[200][32], nm[32];
	P9dir d;
	int i, n, all;

	c = session(addr, "9P2000", "glenda");
	if(!ok(c != NULL, "session for directories"))
		return;
	ok(mkfile(c, 1, "", "dir", P9_DMDIR | 0775, P9_OREAD) == 0, "create directory /dir");
	ok(tstat(c, 1, &d) == 0 && (d.mode & P9_DMDIR) && (d.qid.type & P9_QTDIR) && (d.mode & 0777) == 0775,
		"it is a directory, mode 0775");
	fidop(c, Tclunk, 1);
	ok(mkfile(c, 1, "", "d2", P9_DMDIR | 0775, P9_OWRITE) < 0, "a directory cannot be created for writing: %s", errstr(c));
	all = 1;
	for(i = 0; i < 100; i++){
		snprintf(nm, sizeof nm, "file%03d", i);
		if(mkfile(c, 1, "dir", nm, 0644, P9_OWRITE) < 0 || fidop(c, Tclunk, 1) != Rclunk)
			all = 0;
	}
	ok(all, "create 100 files in /dir");
	ok(mkfile(c, 1, "dir", "file000", 0644, P9_OWRITE) < 0, "creating an existing name fails: %s", errstr(c));
	ok(mkfile(c, 1, "dir", "..", 0644, P9_OWRITE) < 0, "creating .. fails: %s", errstr(c));
	ok(walk(c, 0, 1, "dir") == 0 && topen(c, 1, P9_OREAD) == 0, "open /dir");
	n = readdir9(c, 1, 8192, names, 200);
	all = n == 100;
	for(i = 0; i < 100 && all; i++){
		snprintf(nm, sizeof nm, "file%03d", i);
		all = hasname(names, n, nm);
	}
	ok(all, "one big read lists all 100 (%d)", n);
	n = readdir9(c, 1, 100, names, 200);
	all = n == 100;
	for(i = 0; i < 100 && all; i++){
		snprintf(nm, sizeof nm, "file%03d", i);
		all = hasname(names, n, nm);
	}
	ok(all, "reads of 100 bytes (about one entry) list all 100 (%d)", n);
	ok(tread(c, 1, 0, 200) > 0 && tread(c, 1, 7, 200) < 0, "a directory read at a made-up offset fails: %s", errstr(c));
	ok(tread(c, 1, 0, 10) < 0, "a count too small for one entry fails: %s", errstr(c));
	ok(twrite(c, 1, 0, "x", 1) < 0, "a directory opened OREAD cannot be written");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "dir") == 0 && topen(c, 1, P9_OWRITE) < 0, "a directory cannot be opened for writing: %s", errstr(c));
	fidop(c, Tclunk, 1);

	/* remove */
	ok(walk(c, 0, 1, "dir") == 0 && fidop(c, Tremove, 1) == Rerror, "a non-empty directory cannot be removed: %s", errstr(c));
	ok(fidop(c, Tclunk, 1) == Rerror, "the failed remove clunked the fid anyway");
	all = 1;
	for(i = 0; i < 100; i++){
		snprintf(nm, sizeof nm, "dir/file%03d", i);
		if(walk(c, 0, 1, nm) < 0 || fidop(c, Tremove, 1) != Rremove)
			all = 0;
	}
	ok(all, "remove the 100 files");
	ok(walk(c, 0, 1, "dir") == 0 && topen(c, 1, P9_OREAD) == 0 && tread(c, 1, 0, 8192) == 0, "the directory reads empty");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "dir") == 0 && fidop(c, Tremove, 1) == Rremove, "now it can be removed");
	ok(walk(c, 0, 1, "dir") < 0, "and is gone");
	ok(fidop(c, Tremove, 0) == Rerror, "the root cannot be removed: %s", errstr(c));
	attach(c, 0, "glenda", 0);

	/* a removed file stays readable through an open fid */
	ok(mkfile(c, 1, "", "ghost", 0644, P9_ORDWR) == 0 && twrite(c, 1, 0, "boo", 3) == 3, "create /ghost");
	ok(walk(c, 0, 2, "ghost") == 0 && fidop(c, Tremove, 2) == Rremove, "remove it through another fid");
	ok(tread(c, 1, 0, 10) == 3 && memcmp(c->r.data, "boo", 3) == 0, "the open fid still reads it");
	fidop(c, Tclunk, 1);
	clfree(c);
}

static void
testmodes(const char *addr)
{
	Cl *c;
	P9dir d;
	uint32_t v;

	c = session(addr, "9P2000", "glenda");
	if(!ok(c != NULL, "session for open modes"))
		return;
	/* OTRUNC */
	ok(mkfile(c, 1, "", "t", 0644, P9_OWRITE) == 0 && twrite(c, 1, 0, "0123456789", 10) == 10, "create /t, 10 bytes");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "t") == 0 && tstat(c, 1, &d) == 0 && d.length == 10, "length 10");
	v = d.qid.vers;
	ok(topen(c, 1, P9_OWRITE | P9_OTRUNC) == 0 && tstat(c, 1, &d) == 0 && d.length == 0 && d.qid.vers > v,
		"OTRUNC empties it and bumps qid.vers");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "t") == 0 && topen(c, 1, P9_OREAD) == 0 && twrite(c, 1, 0, "x", 1) < 0,
		"a fid open OREAD cannot write: %s", errstr(c));
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "t") == 0 && topen(c, 1, P9_OWRITE) == 0 && tread(c, 1, 0, 10) < 0,
		"a fid open OWRITE cannot read: %s", errstr(c));
	ok(topen(c, 1, P9_OREAD) < 0, "an open fid cannot be opened again: %s", errstr(c));
	fidop(c, Tclunk, 1);

	/* ORCLOSE */
	ok(mkfile(c, 1, "", "rc", 0644, P9_ORDWR | P9_ORCLOSE) == 0, "create /rc with ORCLOSE");
	ok(walk(c, 0, 2, "rc") == 0, "it is there while open");
	fidop(c, Tclunk, 2);
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 2, "rc") < 0, "gone after the clunk");
	ok(mkfile(c, 1, "", "rc2", 0644, P9_OWRITE) == 0, "create /rc2");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "rc2") == 0 && topen(c, 1, P9_OREAD | P9_ORCLOSE) == 0, "open it ORCLOSE");
	ok(fidop(c, Tclunk, 1) == Rclunk && walk(c, 0, 1, "rc2") < 0, "gone after the clunk");

	ok(mkfile(c, 1, "", "rc3", 0644, P9_OWRITE | P9_ORCLOSE) == 0 && version(c, Msize, "9P2000") == 0 &&
		attach(c, 0, "glenda", 0) == 0 && walk(c, 0, 1, "rc3") < 0, "a Tversion clunks an ORCLOSE fid, removing its file");
	ok(mkfile(c, 1, "", "prog", 0644, P9_OREAD) == 0, "create /prog 0644");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "prog") == 0 && topen(c, 1, P9_OEXEC) < 0, "OEXEC of a 0644 file: %s", errstr(c));
	nulldir(&d);
	d.mode = 0755;
	ok(twstat(c, 1, &d) == 0 && topen(c, 1, P9_OEXEC) == 0 && tread(c, 1, 0, 10) == 0, "after chmod 0755 OEXEC opens, and reads");
	fidop(c, Tclunk, 1);

	/* DMEXCL */
	ok(mkfile(c, 1, "", "excl", P9_DMEXCL | 0666, P9_ORDWR) == 0, "create /excl with DMEXCL");
	ok(tstat(c, 1, &d) == 0 && (d.mode & P9_DMEXCL) && (d.qid.type & P9_QTEXCL), "mode and qid say exclusive");
	ok(walk(c, 0, 2, "excl") == 0 && topen(c, 2, P9_OREAD) < 0 && strstr(errstr(c), "in use"),
		"a second open fails: %s", errstr(c));
	fidop(c, Tclunk, 1);
	ok(topen(c, 2, P9_OREAD) == 0, "after the clunk it opens");
	fidop(c, Tclunk, 2);

	/* DMAPPEND */
	ok(mkfile(c, 1, "", "log", P9_DMAPPEND | 0666, P9_ORDWR) == 0, "create /log with DMAPPEND");
	ok(twrite(c, 1, 0, "abc", 3) == 3 && twrite(c, 1, 0, "def", 3) == 3 && twrite(c, 1, 1, "gh", 2) == 2,
		"three writes at offsets 0, 0, 1");
	ok(tread(c, 1, 0, 100) == 8 && memcmp(c->r.data, "abcdefgh", 8) == 0, "all went to the end");
	ok(tstat(c, 1, &d) == 0 && (d.qid.type & P9_QTAPPEND), "qid says append-only");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "log") == 0 && topen(c, 1, P9_OWRITE | P9_OTRUNC) == 0 && tstat(c, 1, &d) == 0 && d.length == 8,
		"OTRUNC of an append-only file opens it but does not truncate");
	fidop(c, Tclunk, 1);
	ok(mkfile(c, 1, "", "tmpdir", P9_DMDIR | 0777, P9_OREAD | P9_ORCLOSE) < 0, "a directory cannot be created ORCLOSE: %s", errstr(c));
	ok(walk(c, 0, 1, "tmpdir") < 0, "and was not made");
	ok(walk(c, 0, 1, "") == 0 && topen(c, 1, P9_OREAD | P9_ORCLOSE) < 0, "the root cannot be opened ORCLOSE: %s", errstr(c));
	fidop(c, Tclunk, 1);
	clfree(c);
}

static void
testwstat(const char *addr)
{
	Cl *c, *b;
	P9dir d, s;
	uint32_t v;

	c = session(addr, "9P2000", "glenda");
	b = session(addr, "9P2000", "bob");
	if(!ok(c != NULL && b != NULL, "sessions for wstat: glenda and bob")){
		clfree(c);
		clfree(b);
		return;
	}
	ok(mkfile(c, 1, "", "w", 0664, P9_ORDWR) == 0 && twrite(c, 1, 0, "0123456789", 10) == 10, "create /w");
	ok(tstat(c, 1, &s) == 0, "stat it");
	v = s.qid.vers;
	nulldir(&d);
	ok(twstat(c, 1, &d) == 0, "a wstat of nothing succeeds");
	nulldir(&d);
	d.name = p9str("w2");
	ok(twstat(c, 1, &d) == 0, "rename to w2");
	ok(walk(c, 0, 2, "w2") == 0 && walk(c, 0, 3, "w") < 0, "w2 is there, w is not");
	fidop(c, Tclunk, 2);
	ok(tstat(c, 1, &s) == 0 && p9streq(s.name, "w2") && s.qid.vers > v, "stat shows w2 and a new qid.vers");
	nulldir(&d);
	d.length = 4;
	ok(twstat(c, 1, &d) == 0 && tstat(c, 1, &s) == 0 && s.length == 4, "truncate to 4");
	ok(tread(c, 1, 0, 100) == 4 && memcmp(c->r.data, "0123", 4) == 0, "4 bytes are left");
	nulldir(&d);
	d.length = 8;
	ok(twstat(c, 1, &d) == 0 && tread(c, 1, 0, 100) == 8 && memcmp(c->r.data, "0123\0\0\0\0", 8) == 0,
		"extend to 8 with zeros");
	nulldir(&d);
	d.mode = 0600;
	ok(twstat(c, 1, &d) == 0 && tstat(c, 1, &s) == 0 && (s.mode & 0777) == 0600, "mode 0600");
	nulldir(&d);
	d.mode = P9_DMDIR | 0600;
	ok(twstat(c, 1, &d) < 0, "the directory bit cannot be set: %s", errstr(c));
	nulldir(&d);
	d.mtime = 12345;
	ok(twstat(c, 1, &d) == 0 && tstat(c, 1, &s) == 0 && s.mtime == 12345, "mtime set");
	nulldir(&d);
	d.uid = p9str("bob");
	ok(twstat(c, 1, &d) < 0, "the owner cannot be changed: %s", errstr(c));
	ok(mkfile(c, 2, "", "taken", 0644, P9_OREAD) == 0, "create /taken");
	fidop(c, Tclunk, 2);
	nulldir(&d);
	d.name = p9str("taken");
	ok(twstat(c, 1, &d) < 0, "renaming onto an existing name fails: %s", errstr(c));
	nulldir(&d);
	d.name = p9str("a/b");
	ok(twstat(c, 1, &d) < 0, "a name with a slash is refused: %s", errstr(c));
	nulldir(&d);
	d.name = p9str("w3");
	d.length = 0;
	d.mode = P9_DMDIR;
	ok(twstat(c, 1, &d) < 0 && tstat(c, 1, &s) == 0 && p9streq(s.name, "w2") && s.length == 8,
		"a wstat that fails changes nothing");
	fidop(c, Tclunk, 1);

	/* permissions by uname */
	ok(walk(b, 0, 1, "w2") == 0, "bob walks to /w2 (mode 0600, glenda's)");
	ok(topen(b, 1, P9_OREAD) < 0 && strstr(errstr(b), "permission"), "bob cannot read it: %s", errstr(b));
	ok(topen(b, 1, P9_OWRITE) < 0, "nor write it");
	nulldir(&d);
	d.mode = 0666;
	ok(twstat(b, 1, &d) < 0, "nor change its mode: %s", errstr(b));
	nulldir(&d);
	d.length = 0;
	ok(twstat(b, 1, &d) < 0, "nor truncate it by wstat");
	fidop(b, Tclunk, 1);
	ok(mkfile(c, 1, "", "priv", P9_DMDIR | 0755, P9_OREAD) == 0, "glenda makes /priv 0755");
	fidop(c, Tclunk, 1);
	ok(mkfile(b, 1, "priv", "x", 0644, P9_OWRITE) < 0, "bob cannot create in it: %s", errstr(b));
	ok(mkfile(c, 1, "priv", "f", 0666, P9_OWRITE) == 0, "glenda can");
	ok(tstat(c, 1, &s) == 0 && (s.mode & 0777) == 0644, "perm 0666 in a 0755 directory gives 0644");
	nulldir(&d);
	d.mode = 0666;
	ok(twstat(c, 1, &d) == 0, "the owner sets mode 0666");
	fidop(c, Tclunk, 1);
	ok(walk(b, 0, 1, "priv/f") == 0 && fidop(b, Tremove, 1) == Rerror, "bob cannot remove priv/f: %s", errstr(b));
	ok(walk(b, 0, 1, "priv/f") == 0 && topen(b, 1, P9_ORDWR) == 0, "but can open it read-write (0666)");
	fidop(b, Tclunk, 1);
	ok(walk(b, 0, 1, "priv/f") == 0 && topen(b, 1, P9_OREAD | P9_ORCLOSE) < 0,
		"and cannot open it ORCLOSE: %s", errstr(b));
	fidop(b, Tclunk, 1);
	ok(mkfile(c, 1, "", "noexec", P9_DMDIR | 0700, P9_OREAD) == 0, "glenda makes /noexec 0700");
	fidop(c, Tclunk, 1);
	ok(mkfile(c, 1, "noexec", "f", 0644, P9_OREAD) == 0, "with a file in it");
	fidop(c, Tclunk, 1);
	ok(walk(b, 0, 1, "noexec/f") < 0, "bob cannot walk into it");
	ok(mkfile(b, 1, "", "bobs", 0666, P9_OWRITE) == 0, "bob creates /bobs with perm 0666 (root is 0777)");
	ok(tstat(b, 1, &s) == 0 && p9streq(s.uid, "bob") && (s.mode & 0777) == 0666, "owned by bob");
	fidop(b, Tclunk, 1);
	ok(mkfile(c, 1, "priv", "masked", 0777, P9_OREAD) == 0 && tstat(c, 1, &s) == 0 && (s.mode & 0777) == 0755,
		"perm is masked by the directory's: 0777 in a 0755 directory gives 0755 (%o)", s.mode & 0777);
	ok(p9streq(s.gid, "glenda"), "group is the directory's");
	fidop(c, Tclunk, 1);
	clfree(b);
	clfree(c);
}

static void
testflush(const char *addr)
{
	Cl *c;
	Fcall t;
	uint8_t out[256];
	size_t n, k;
	int okk;

	c = session(addr, "9P2000", "glenda");
	if(!ok(c != NULL, "session for flush"))
		return;
	memset(&t, 0, sizeof t);
	t.type = Tflush;
	t.oldtag = 77;
	ok(rpc(c, &t) == Rflush, "Tflush of a tag not in flight: Rflush");
	/* a request and its flush sent together: the reply comes first, then Rflush */
	memset(&t, 0, sizeof t);
	t.type = Tstat;
	t.tag = 5;
	t.fid = 0;
	n = p9encode(out, sizeof out, &t, c->dialect);
	memset(&t, 0, sizeof t);
	t.type = Tflush;
	t.tag = 6;
	t.oldtag = 5;
	k = p9encode(out + n, sizeof out - n, &t, c->dialect);
	writeall(c->fd, out, n + k);
	okk = clrecv(c) == 0 && c->r.type == Rstat && c->r.tag == 5;
	okk = okk && clrecv(c) == 0 && c->r.type == Rflush && c->r.tag == 6;
	ok(okk, "Tstat then Tflush for it: Rstat, then Rflush");
	clfree(c);
}

/* A raw frame: size, type, tag and body bytes. */
static int
sendraw(int fd, uint32_t size, uint8_t type, uint16_t tag, const uint8_t *body, size_t n)
{
	uint8_t b[64];

	p9put32(b, size);
	b[4] = type;
	p9put16(b + 5, tag);
	if(n > sizeof b - 7)
		n = sizeof b - 7;
	memcpy(b + 7, body, n);
	return writeall(fd, b, 7 + n);
}

static int
hungup(int fd)
{
	uint8_t b[4096];
	struct pollfd p;
	ssize_t n;

	for(;;){
		p.fd = fd;
		p.events = POLLIN;
		if(poll(&p, 1, Tmo) <= 0)
			return 0;
		n = read(fd, b, sizeof b);
		if(n <= 0)
			return 1;
	}
}

static void
testmalformed(const char *addr)
{
	Cl *c, *other;
	uint8_t junk[16];

	other = session(addr, "9P2000", "glenda");
	c = session(addr, "9P2000", "glenda");
	if(!ok(c != NULL && other != NULL, "sessions for malformed input")){
		clfree(c);
		clfree(other);
		return;
	}
	memset(junk, 0xAB, sizeof junk);
	sendraw(c->fd, 7 + 16, 0xEE, 3, junk, 16);
	ok(clrecv(c) == 0 && c->r.type == Rerror && c->r.tag == 3, "a frame of unknown type: Rerror (%s)", errstr(c));
	sendraw(c->fd, 7 + 16, Twalk, 4, junk, 16);
	ok(clrecv(c) == 0 && c->r.type == Rerror && c->r.tag == 4, "a Twalk with a bad nwname: Rerror (%s)", errstr(c));
	sendraw(c->fd, 7 + 2, Tclunk, 5, junk, 2);
	ok(clrecv(c) == 0 && c->r.type == Rerror, "a Tclunk too short for its fid: Rerror (%s)", errstr(c));
	sendraw(c->fd, 7 + 4, Rclunk, 6, junk, 4);
	ok(clrecv(c) == 0 && c->r.type == Rerror, "an R-message from a client: Rerror (%s)", errstr(c));
	sendraw(c->fd, 7, Terror, 6, junk, 0);
	ok(clrecv(c) == 0 && c->r.type == Rerror, "a Terror: Rerror (%s)", errstr(c));
	ok(fidop(c, Tstat, 0) == Rstat, "the connection still works");
	sendraw(c->fd, 5, Tstat, 7, junk, 0);
	ok(hungup(c->fd), "a size below 7: the connection is closed");
	clfree(c);
	c = session(addr, "9P2000", "glenda");
	if(c != NULL){
		sendraw(c->fd, 0x7FFFFFF0, Twrite, 8, junk, 16);
		ok(hungup(c->fd), "a size above msize: the connection is closed");
		clfree(c);
	}
	c = session(addr, "9P2000.L", "glenda");
	if(c != NULL){
		sendraw(c->fd, 7 + 16, Topen, 9, junk, 16);
		ok(clrecv(c) == 0 && c->r.type == Rlerror, "Topen in 9P2000.L: Rlerror %u", c->r.errnum);
		clfree(c);
	}
	ok(fidop(other, Tstat, 0) == Rstat, "another connection was not disturbed");
	clfree(other);
}

static void
testdotu(const char *addr)
{
	Cl *c;
	P9dir d;
	Fcall t;

	c = session(addr, "9P2000.u", "ken");
	if(!ok(c != NULL, "9P2000.u session"))
		return;
	ok(mkfile(c, 1, "", "ufile", 0644, P9_ORDWR) == 0 && twrite(c, 1, 0, "u", 1) == 1, "create and write");
	ok(tstat(c, 1, &d) == 0 && p9streq(d.uid, "ken") && d.length == 1, "stat in .u form");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "nothere") < 0 && c->r.type == Rerror && c->r.errnum == 2, "errors carry errno (%u)", c->r.errnum);
	ok(walk(c, 0, 1, "") == 0, "clone root");
	memset(&t, 0, sizeof t);
	t.type = Tcreate;
	t.fid = 1;
	t.name = p9str("sl");
	t.perm = P9_DMSYMLINK | 0777;
	t.mode = P9_OREAD;
	t.extension = p9str("ufile");
	ok(rpc(c, &t) == Rcreate, "create a symbolic link");
	ok(tstat(c, 1, &d) == 0 && (d.mode & P9_DMSYMLINK) && p9streq(d.extension, "ufile"), "its stat names the target");
	fidop(c, Tclunk, 1);
	clfree(c);
}

/* 9P2000.L helpers */

static int
lopen(Cl *c, uint32_t fid, uint32_t flags)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Tlopen;
	t.fid = fid;
	t.flags = flags;
	return rpc(c, &t) == Rlopen ? 0 : -1;
}

static int
lmkdir(Cl *c, uint32_t dfid, const char *name, uint32_t mode)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Tmkdir;
	t.dfid = dfid;
	t.name = p9str(name);
	t.mode = mode;
	return rpc(c, &t) == Rmkdir ? 0 : -1;
}

static int
lcreate(Cl *c, uint32_t fid, const char *name, uint32_t flags, uint32_t mode)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Tlcreate;
	t.fid = fid;
	t.name = p9str(name);
	t.flags = flags;
	t.mode = mode;
	return rpc(c, &t) == Rlcreate ? 0 : -1;
}

static int
getattr(Cl *c, uint32_t fid, P9attr *a)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = Tgetattr;
	t.fid = fid;
	t.mask = 0x7ff;
	if(rpc(c, &t) != Rgetattr)
		return -1;
	*a = c->r.attr;
	return 0;
}

/* Names of a 9P2000.L directory, read in counts of count bytes, resuming by entry offsets. */
static int
readdirl(Cl *c, uint32_t fid, uint32_t count, char names[][32], int max)
{
	P9dirent e;
	uint64_t off;
	long n, k, m;
	int nn;

	off = 0;
	nn = 0;
	for(;;){
		n = tread(c, fid, off, count | 0x80000000u);
		if(n < 0)
			return -1;
		if(n == 0)
			return nn;
		for(k = 0; k < n; k += m){
			m = p9direntdecode(c->r.data + k, (size_t)(n - k), &e);
			if(m <= 0)
				return -1;
			if(nn < max)
				snprintf(names[nn], 32, "%.*s", e.name.n, e.name.s);
			nn++;
			off = e.offset;
		}
	}
}

static void
testdotl(const char *addr)
{
	Cl *c, *o;
	Fcall t;
	P9attr a;
	char names[100][32], nm[32];
	int i, n, all;

	c = session(addr, "9P2000.L", "");
	if(!ok(c != NULL, "9P2000.L session, n_uname 1000"))
		return;
	ok(getattr(c, 0, &a) == 0 && (a.mode & 0170000) == 0040000 && (a.qid.type & P9_QTDIR), "getattr of the root: a directory");
	ok(lmkdir(c, 0, "ldir", 0755) == 0, "mkdir /ldir");
	ok(lmkdir(c, 0, "ldir", 0755) < 0 && c->r.errnum == 17, "mkdir again: EEXIST (%u)", c->r.errnum);
	ok(walk(c, 0, 1, "ldir") == 0 && lcreate(c, 1, "f", 2, 0640) == 0, "lcreate /ldir/f O_RDWR");
	ok(twrite(c, 1, 0, "dot L", 5) == 5 && tread(c, 1, 0, 100) == 5 && memcmp(c->r.data, "dot L", 5) == 0,
		"write and read back");
	ok(getattr(c, 1, &a) == 0 && a.size == 5 && (a.mode & 0777) == 0640 && (a.mode & 0170000) == 0100000 &&
		a.uid == 1000, "getattr: size 5, mode 0100640, uid 1000 (%u)", a.uid);
	memset(&t, 0, sizeof t);
	t.type = Tsetattr;
	t.fid = 1;
	t.sattr.valid = 0x8 | 0x1;
	t.sattr.size = 2;
	t.sattr.mode = 0600;
	ok(rpc(c, &t) == Rsetattr && getattr(c, 1, &a) == 0 && a.size == 2 && (a.mode & 0777) == 0600,
		"setattr size 2, mode 0600");
	memset(&t, 0, sizeof t);
	t.type = Tfsync;
	t.fid = 1;
	ok(rpc(c, &t) == Rfsync, "fsync");
	memset(&t, 0, sizeof t);
	t.type = Tlock;
	t.fid = 1;
	t.lock.type = 1;
	t.lock.clientid = p9str("me");
	ok(rpc(c, &t) == Rlock && c->r.status == 0, "lock is granted");
	memset(&t, 0, sizeof t);
	t.type = Tgetlock;
	t.fid = 1;
	t.lock.type = 1;
	t.lock.clientid = p9str("me");
	ok(rpc(c, &t) == Rgetlock && c->r.lock.type == 2, "getlock says unlocked");
	memset(&t, 0, sizeof t);
	t.type = Txattrwalk;
	t.fid = 1;
	t.newfid = 9;
	t.name = p9str("user.x");
	ok(rpc(c, &t) == Rlerror && c->r.errnum == 95, "xattrwalk: EOPNOTSUPP");
	fidop(c, Tclunk, 1);
	all = 1;
	for(i = 0; i < 40; i++){
		snprintf(nm, sizeof nm, "entry%02d", i);
		if(walk(c, 0, 1, "ldir") < 0 || lcreate(c, 1, nm, 0, 0644) < 0 || fidop(c, Tclunk, 1) != Rclunk)
			all = 0;
	}
	ok(all, "40 more files in /ldir");
	ok(walk(c, 0, 1, "ldir") == 0 && lopen(c, 1, 0) == 0, "lopen /ldir");
	n = readdirl(c, 1, 8192, names, 100);
	ok(n == 43 && hasname(names, n, ".") && hasname(names, n, "..") && hasname(names, n, "f") &&
		hasname(names, n, "entry39"), "readdir in one: . .. f and 40 entries (%d)", n);
	n = readdirl(c, 1, 40, names, 100);
	all = n == 43;
	for(i = 0; i < 40 && all; i++){
		snprintf(nm, sizeof nm, "entry%02d", i);
		all = hasname(names, n, nm);
	}
	ok(all, "readdir of 40 bytes at a time, resuming at entry offsets (%d)", n);
	fidop(c, Tclunk, 1);

	memset(&t, 0, sizeof t);
	ok(walk(c, 0, 1, "ldir") == 0, "walk to /ldir");
	t.type = Trenameat;
	t.dfid = 1;
	t.name = p9str("f");
	t.newdfid = 0;
	t.newname = p9str("moved");
	ok(rpc(c, &t) == Rrenameat && walk(c, 0, 2, "moved") == 0 && walk(c, 0, 3, "ldir/f") < 0,
		"renameat /ldir/f to /moved");
	memset(&t, 0, sizeof t);
	t.type = Trename;
	t.fid = 2;
	t.dfid = 1;
	t.name = p9str("back");
	ok(rpc(c, &t) == Rrename && walk(c, 0, 3, "ldir/back") == 0, "rename it to /ldir/back");
	fidop(c, Tclunk, 3);
	fidop(c, Tclunk, 2);
	memset(&t, 0, sizeof t);
	t.type = Trenameat;
	t.dfid = 0;
	t.name = p9str("ldir");
	t.newdfid = 1;
	t.newname = p9str("sub");
	ok(rpc(c, &t) == Rlerror && c->r.errnum == 22, "a directory cannot move into itself: EINVAL (%u)", c->r.errnum);
	memset(&t, 0, sizeof t);
	t.type = Tsymlink;
	t.fid = 1;
	t.name = p9str("link");
	t.target = p9str("back");
	ok(rpc(c, &t) == Rsymlink && (c->r.qid.type & P9_QTSYMLINK), "symlink /ldir/link -> back");
	ok(walk(c, 1, 2, "link") == 0 && fidop(c, Treadlink, 2) == Rreadlink && p9streq(c->r.target, "back"),
		"readlink gives back");
	ok(getattr(c, 2, &a) == 0 && (a.mode & 0170000) == 0120000, "getattr says symlink");
	fidop(c, Tclunk, 2);
	memset(&t, 0, sizeof t);
	t.type = Tmknod;
	t.dfid = 1;
	t.name = p9str("fifo");
	t.mode = 010644;
	ok(rpc(c, &t) == Rlerror, "mknod is refused: errno %u", c->r.errnum);
	memset(&t, 0, sizeof t);
	t.type = Tunlinkat;
	t.dfid = 1;
	t.name = p9str("back");
	t.flags = 0x200;
	ok(rpc(c, &t) == Rlerror && c->r.errnum == 20, "unlinkat AT_REMOVEDIR of a file: ENOTDIR");
	t.flags = 0;
	ok(rpc(c, &t) == Runlinkat && walk(c, 1, 2, "back") < 0, "unlinkat of the file");
	memset(&t, 0, sizeof t);
	t.type = Tunlinkat;
	t.dfid = 0;
	t.name = p9str("ldir");
	t.flags = 0x200;
	ok(rpc(c, &t) == Rlerror && c->r.errnum == 39, "unlinkat of a non-empty directory: ENOTEMPTY (%u)", c->r.errnum);
	memset(&t, 0, sizeof t);
	t.type = Tstatfs;
	t.fid = 0;
	ok(rpc(c, &t) == Rstatfs && c->r.statfs.bsize > 0 && c->r.statfs.files > 0, "statfs");
	ok(fidop(c, Tremove, 1) == Rlerror && c->r.errnum == 39, "Tremove of the non-empty /ldir: ENOTEMPTY");
	ok(walk(c, 0, 1, "nothere") < 0 && c->r.type == Rlerror && c->r.errnum == 2, "walk to nothing: ENOENT");
	ok(walk(c, 0, 1, "") == 0 && lcreate(c, 1, "app", 1 | 02000, 0666) == 0 && twrite(c, 1, 0, "ab", 2) == 2 &&
		twrite(c, 1, 0, "cd", 2) == 2, "lcreate O_WRONLY|O_APPEND, two writes at offset 0");
	fidop(c, Tclunk, 1);
	ok(walk(c, 0, 1, "app") == 0 && lopen(c, 1, 0) == 0 && tread(c, 1, 0, 10) == 4 && memcmp(c->r.data, "abcd", 4) == 0,
		"both went to the end");
	fidop(c, Tclunk, 1);
	o = session(addr, "9P2000.L", "");
	if(o != NULL){
		fidop(o, Tclunk, 0);
		ok(attach(o, 0, "", 2000) == 0 && walk(o, 0, 1, "app") == 0, "another user (n_uname 2000) walks to it");
		memset(&t, 0, sizeof t);
		t.type = Tsetattr;
		t.fid = 1;
		t.sattr.valid = 0x1;
		t.sattr.mode = 0777;
		ok(rpc(o, &t) == Rlerror && o->r.errnum == 1, "and cannot chmod it: EPERM (%u)", o->r.errnum);
		t.sattr.valid = 0x8;
		t.sattr.size = 0;
		ok(rpc(o, &t) == Rsetattr, "but can truncate it: its mode is 0666");
		ok(lmkdir(o, 0, "private", 0700) == 0 && walk(c, 0, 2, "private") == 0 && lcreate(c, 2, "x", 1, 0644) < 0 &&
			c->r.errnum == 13, "user 1000 cannot create in user 2000's 0700 directory: EACCES");
		fidop(c, Tclunk, 2);
		clfree(o);
	}
	ok(walk(c, 0, 1, "") == 0 && lopen(c, 1, 1) < 0 && c->r.errnum == 21, "lopen of a directory for writing: EISDIR");
	ok(lopen(c, 1, 0) == 0 && walk(c, 1, 2, "ldir") == 0, "in 9P2000.L an open directory can be walked to a new fid");
	ok(walk(c, 1, 1, "ldir") < 0, "but not moved itself");
	ok(walk(c, 1, 3, ".") == 0 && getattr(c, 3, &a) == 0 && (a.mode & 0170000) == 0040000 &&
		fidop(c, Tclunk, 3) == Rclunk, "walking . stays in the directory");
	fidop(c, Tclunk, 2);
	fidop(c, Tclunk, 1);
	clfree(c);
}

static void
testlimits(void)
{
	char addr[300], nm[32], target[200];
	Cl *c, *u;
	char buf[3000];
	Fcall t;
	P9dir d;
	int i, made;

	memset(buf, 'z', sizeof buf);
	startsrv("small", addr, sizeof addr, "-S", "4096", "-F", "5", (char*)NULL);
	c = session(addr, "9P2000", "glenda");
	if(!ok(c != NULL, "server with -S 4096 -F 5"))
		return;
	ok(mkfile(c, 1, "", "a", 0644, P9_ORDWR) == 0 && twrite(c, 1, 0, buf, 3000) == 3000, "3000 bytes fit");
	ok(mkfile(c, 2, "", "b", 0644, P9_ORDWR) == 0 && twrite(c, 2, 0, buf, 3000) < 0 && strstr(errstr(c), "no space"),
		"3000 more do not: %s", errstr(c));
	ok(twrite(c, 2, 0, buf, 1000) == 1000, "1000 do");
	ok(twrite(c, 1, 1ull << 62, buf, 10) < 0, "a write far out is refused cleanly: %s", errstr(c));
	ok(fidop(c, Tremove, 1) == Rremove && twrite(c, 2, 1000, buf, 3000) == 3000, "after removing /a, 3000 more fit");
	nulldir(&d);
	d.length = 0;
	ok(twstat(c, 2, &d) == 0 && twrite(c, 2, 0, buf, 3000) == 3000 && twrite(c, 2, 3000, buf, 1096) == 1096 &&
		twrite(c, 2, 4096, buf, 1) < 0, "truncating returns the space: 4096 bytes fit again, and not one more");
	ok(walk(c, 0, 1, "b") == 0 && topen(c, 1, P9_OWRITE | P9_OTRUNC) == 0 && fidop(c, Tclunk, 1) == Rclunk &&
		twrite(c, 2, 0, buf, 3000) == 3000 && twrite(c, 2, 3000, buf, 1000) == 1000, "so does OTRUNC");
	fidop(c, Tclunk, 2);
	u = session(addr, "9P2000.u", "glenda");
	if(u != NULL){
		memset(&t, 0, sizeof t);
		memset(target, 't', sizeof target);
		t.type = Tcreate;
		t.fid = 1;
		t.name = p9str("link");
		t.perm = P9_DMSYMLINK | 0777;
		t.extension.s = target;
		t.extension.n = sizeof target;
		ok(walk(u, 0, 1, "") == 0 && rpc(u, &t) == Rerror && u->r.errnum == 28,
			"9P2000.u: a symbolic link whose target does not fit: ENOSPC");
		ok(tstat(u, 1, &d) == 0 && p9streq(d.name, "/") && walk(u, 0, 2, "link") < 0,
			"the fid stays on the directory and no link is left");
		clfree(u);
	}
	made = 1;
	for(i = 0; i < 10; i++){
		snprintf(nm, sizeof nm, "f%d", i);
		if(mkfile(c, 1, "", nm, 0644, P9_OREAD) < 0)
			break;
		fidop(c, Tclunk, 1);
		made++;
	}
	ok(made == 5, "only 5 files can exist (%d)", made);
	ok(mkfile(c, 1, "", "more", 0644, P9_OREAD) < 0 && strstr(errstr(c), "too many files"), "the next: %s", errstr(c));
	ok(walk(c, 0, 1, "f0") == 0 && fidop(c, Tremove, 1) == Rremove && mkfile(c, 1, "", "more", 0644, P9_OREAD) == 0,
		"after a remove one more can be made");
	fidop(c, Tclunk, 1);
	clfree(c);
	c = session(addr, "9P2000.L", "");
	if(c != NULL){
		ok(lmkdir(c, 0, "x", 0755) < 0 && c->r.errnum == 28, "in 9P2000.L: ENOSPC (%u)", c->r.errnum);
		clfree(c);
	}
}

typedef struct Job Job;
struct Job {
	const char	*addr;
	int		id;
	int		ok;
};

static void *
worker(void *v)
{
	Job *j;
	Cl *c;
	char name[32];
	uint8_t *buf;
	int i, k, good;

	j = v;
	buf = malloc(65536);
	c = session(j->addr, j->id % 2 ? "9P2000.L" : "9P2000", "worker");
	good = c != NULL && buf != NULL;
	snprintf(name, sizeof name, "conc%d", j->id);
	for(i = 0; i < 65536 && buf != NULL; i++)
		buf[i] = (uint8_t)(i * 31 + j->id);
	if(good && c->dialect == P9_2000L)
		good = walk(c, 0, 1, "") == 0 && lcreate(c, 1, name, 2, 0644) == 0;
	else if(good)
		good = mkfile(c, 1, "", name, 0644, P9_ORDWR) == 0;
	for(k = 0; good && k < 20; k++){
		good = twrite(c, 1, (uint64_t)k * 65536, buf, 65536) == 65536;
		good = good && tread(c, 1, (uint64_t)k * 65536, 65536) == 65536 && memcmp(c->r.data, buf, 65536) == 0;
	}
	good = good && fidop(c, Tremove, 1) == Rremove;
	j->ok = good;
	if(!good)
		diag("worker %d failed: %s", j->id, c ? errstr(c) : "no session");
	clfree(c);
	free(buf);
	return NULL;
}

static void
testconcurrent(const char *addr)
{
	pthread_t th[Nthreads];
	Job jobs[Nthreads];
	int i, good;

	for(i = 0; i < Nthreads; i++){
		jobs[i].addr = addr;
		jobs[i].id = i;
		jobs[i].ok = 0;
		pthread_create(&th[i], NULL, worker, &jobs[i]);
	}
	good = 0;
	for(i = 0; i < Nthreads; i++){
		pthread_join(th[i], NULL);
		good += jobs[i].ok;
	}
	is_int(good, Nthreads, "%d connections at once each wrote and read back 1.25 MiB of its own", Nthreads);
}

static void
teststdio(void)
{
	int sv[2], st;
	pid_t pid;
	Cl *c;

	if(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0){
		ok(0, "socketpair");
		return;
	}
	fflush(stdout);
	pid = fork();
	if(pid == 0){
		alarm(0);
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		close(sv[0]);
		close(sv[1]);
		execl(prog, prog, (char*)NULL);
		_exit(127);
	}
	servers[nservers++] = pid;
	close(sv[1]);
	c = clnew(sv[0]);
	ok(version(c, Msize, "9P2000") == 0 && attach(c, 0, "glenda", 0) == 0, "stdin/stdout mode: version and attach");
	ok(mkfile(c, 1, "", "s", 0644, P9_ORDWR) == 0 && twrite(c, 1, 0, "stdio", 5) == 5 &&
		tread(c, 1, 0, 10) == 5 && memcmp(c->r.data, "stdio", 5) == 0, "create, write and read");
	clfree(c);
	st = waitexit(pid, 5000);
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exits 0 at end of input");
}

static int
filehas(const char *path, const char *s)
{
	char buf[65536];
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if(f == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

/* The number of newlines in a file. */
static int
nlines(const char *path)
{
	FILE *f;
	int ch, n;

	f = fopen(path, "r");
	if(f == NULL)
		return -1;
	n = 0;
	while((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static void
testprocess(const char *addr, pid_t pid)
{
	char path[300];
	const char *p;
	pid_t p2;
	int st;

	/* a second server on the same address */
	fflush(stdout);
	p2 = fork();
	if(p2 == 0){
		int fd = open("/dev/null", O_WRONLY);
		alarm(0);
		dup2(fd, 2);
		execl(prog, prog, "-a", addr, (char*)NULL);
		_exit(127);
	}
	servers[nservers++] = p2;
	st = waitexit(p2, 5000);
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "a second server on the same address exits 1");
	p2 = fork();
	if(p2 == 0){
		int fd = open("/dev/null", O_WRONLY);
		alarm(0);
		dup2(fd, 2);
		execl(prog, prog, "-m", "12", "-a", addr, (char*)NULL);
		_exit(127);
	}
	servers[nservers++] = p2;
	st = waitexit(p2, 5000);
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "a bad -m exits 1");
	snprintf(path, sizeof path, "%s/usage.err", tmpdir);
	p2 = fork();
	if(p2 == 0){
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		alarm(0);
		dup2(fd, 2);
		execl(prog, prog, "-x", (char*)NULL);
		_exit(127);
	}
	servers[nservers++] = p2;
	st = waitexit(p2, 5000);
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1 && filehas(path, "unknown option -x; usage: 9ramfs") &&
		nlines(path) == 1, "an unknown option: one line and exit 1");

	p = addrpath(addr);
	snprintf(path, sizeof path, "%s", p ? p : "");
	kill(pid, SIGTERM);
	st = waitexit(pid, 5000);
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: exit 0");
	ok(access(path, F_OK) < 0, "and the socket is removed");
}

/* A TCP port nobody listens on just now. */
static int
freeport(void)
{
	struct sockaddr_in sa;
	socklen_t len;
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	len = sizeof sa;
	if(fd < 0 || bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0 || getsockname(fd, (struct sockaddr*)&sa, &len) < 0)
		port = -1;
	else
		port = ntohs(sa.sin_port);
	if(fd >= 0)
		close(fd);
	return port;
}

/* -D and -v, a TCP address and a unix one at once. */
static void
testaddrs(void)
{
	char ua[300], ta[64], log[300], err[256];
	pid_t pid;
	Cl *c, *u;
	int port, st, i, fd;

	port = freeport();
	if(!ok(port > 0, "a free TCP port"))
		return;
	snprintf(ta, sizeof ta, "tcp!127.0.0.1!%d", port);
	snprintf(log, sizeof log, "%s/trace.log", tmpdir);
	srverr = log;
	pid = startsrv("multi", ua, sizeof ua, "-D", "-v", "-a", ta, (char*)NULL);
	srverr = NULL;
	/* startsrv waited for the unix socket; the TCP one is announced after it */
	for(i = 0; i < 500 && (fd = dial(ta, err, sizeof err)) < 0; i++)
		usleep(10000);
	if(fd >= 0)
		close(fd);
	c = session(ta, "9P2000", "glenda");
	u = session(ua, "9P2000.L", "");
	ok(c != NULL && u != NULL, "sessions on %s and on the unix socket of the same server", ta);
	if(c != NULL && u != NULL){
		ok(mkfile(c, 1, "", "overtcp", 0644, P9_OWRITE) == 0 && walk(u, 0, 1, "overtcp") == 0,
			"a file made over TCP is seen over the unix socket");
	}
	clfree(c);
	clfree(u);
	kill(pid, SIGTERM);
	st = waitexit(pid, 5000);
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: exit 0");
	ok(filehas(log, "< Tversion tag 65535 msize") && filehas(log, "> Rversion tag 65535") &&
		filehas(log, "< Tcreate") && filehas(log, "> Rcreate"), "-D traces each message and its reply");
	ok(filehas(log, "connected") && filehas(log, ": 9P2000.L, msize") && filehas(log, "gone"),
		"-v logs connections and their versions");
}

int
main(int argc, char **argv)
{
	const char *b;
	char addr[300];
	pid_t pid;

	(void)argc;
	(void)argv;
	tap_start(120);
	signal(SIGALRM, onalarm);
	b = getenv("NINEMUX_BUILD");
	snprintf(prog, sizeof prog, "%s/bin/9ramfs", b && *b ? b : "build");
	if(access(prog, X_OK) < 0){
		printf("1..0 # SKIP no %s\n", prog);
		return 0;
	}
	snprintf(tmpdir, sizeof tmpdir, "/tmp/t_9ramfs.XXXXXX");
	if(mkdtemp(tmpdir) == NULL){
		tmpdir[0] = '\0';
		ok(0, "mkdtemp");
		return done_testing();
	}
	pid = startsrv("ramfs", addr, sizeof addr, "-u", "glenda", (char*)NULL);
	testversion(addr);
	testbasic(addr);
	testdirs(addr);
	testmodes(addr);
	testwstat(addr);
	testflush(addr);
	testmalformed(addr);
	testdotu(addr);
	testdotl(addr);
	testconcurrent(addr);
	testlimits();
	teststdio();
	testaddrs();
	testprocess(addr, pid);
	cleanup();
	return done_testing();
}
