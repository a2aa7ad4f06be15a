/*
 * t_9mux_smoke: raw 9P through a real 9mux to a real 9ramfs over unix
 * sockets: versions, per-client fid spaces, fid rules, walks, clamping,
 * bad input, pipelined requests from several clients, reset and SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "9p.h"
#include "tap.h"

static char dir[PATH_MAX], bindir[PATH_MAX];
static pid_t ramfs = -1, mux = -1;

static void
cleanup(void)
{
	char p[PATH_MAX + 32];

	if(mux > 0)
		kill(mux, SIGKILL);
	if(ramfs > 0)
		kill(ramfs, SIGKILL);
	snprintf(p, sizeof p, "%s/ram.sock", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/mux.sock", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/mux.log", dir);
	if(tap_failed){
		/* show what 9mux said */
		snprintf(p, sizeof p, "sed 's/^/# /' %s/mux.log", dir);
		if(system(p) != 0)
			diag("no log");
		snprintf(p, sizeof p, "%s/mux.log", dir);
	}
	unlink(p);
	rmdir(dir);
}

static pid_t
spawn(char *const argv[], const char *logfile)
{
	pid_t p;
	int fd;

	p = fork();
	if(p == 0){
		if(logfile && (fd = open(logfile, O_WRONLY|O_CREAT|O_TRUNC, 0600)) >= 0)
			dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return p;
}

static int
dialunix(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if(connect(fd, (struct sockaddr*)&sa, sizeof sa) < 0){
		close(fd);
		return -1;
	}
	return fd;
}

static int
waitsock(const char *path)
{
	int i, fd;

	for(i = 0; i < 200; i++){
		if((fd = dialunix(path)) >= 0){
			close(fd);
			return 0;
		}
		usleep(20000);
	}
	return -1;
}

static int
sendall(int fd, const uint8_t *b, size_t n)
{
	ssize_t w;

	while(n > 0){
		w = write(fd, b, n);
		if(w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
sendf(int fd, Fcall *f, int dialect)
{
	static uint8_t b[1 << 16];
	size_t n;

	n = p9encode(b, sizeof b, f, dialect);
	if(n == 0)
		return -1;
	return sendall(fd, b, n);
}

static int
readn(int fd, uint8_t *b, size_t n)
{
	struct pollfd pf;
	ssize_t r;

	while(n > 0){
		pf.fd = fd;
		pf.events = POLLIN;
		if(poll(&pf, 1, 5000) <= 0)
			return -1;
		r = read(fd, b, n);
		if(r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One reply into buf; decoded into *f.  0, or -1 on EOF/timeout/garbage. */
static uint8_t rbuf[1 << 20];
static int
recvf(int fd, Fcall *f, int dialect)
{
	uint32_t size;

	if(readn(fd, rbuf, 4) < 0)
		return -1;
	size = p9get32(rbuf);
	if(size < 7 || size > sizeof rbuf)
		return -1;
	if(readn(fd, rbuf + 4, size - 4) < 0)
		return -1;
	return p9decode(rbuf, size, sizeof rbuf, dialect, f) > 0 ? 0 : -1;
}

static int
rpc(int fd, Fcall *t, Fcall *r, int dialect)
{
	if(sendf(fd, t, dialect) < 0)
		return -1;
	return recvf(fd, r, dialect);
}

static int
connectmux(uint32_t msize, const char *v, Fcall *r)
{
	char p[PATH_MAX + 32];
	Fcall t;
	int fd;

	snprintf(p, sizeof p, "%s/mux.sock", dir);
	if((fd = dialunix(p)) < 0)
		return -1;
	memset(&t, 0, sizeof t);
	t.type = Tversion;
	t.tag = P9_NOTAG;
	t.msize = msize;
	t.version = p9str(v);
	if(rpc(fd, &t, r, P9_2000) < 0){
		close(fd);
		return -1;
	}
	return fd;
}

static int
attach(int fd, uint32_t fid, uint16_t tag)
{
	Fcall t, r;

	memset(&t, 0, sizeof t);
	t.type = Tattach;
	t.tag = tag;
	t.fid = fid;
	t.afid = P9_NOFID;
	t.uname = p9str("glenda");
	t.aname = p9str("");
	if(rpc(fd, &t, &r, P9_2000) < 0)
		return -1;
	return r.type == Rattach ? 0 : -1;
}

static int
walk(int fd, uint32_t fid, uint32_t newfid, int n, const char **names, Fcall *r)
{
	Fcall t;
	int i;

	memset(&t, 0, sizeof t);
	t.type = Twalk;
	t.tag = 9;
	t.fid = fid;
	t.newfid = newfid;
	t.nwname = (uint16_t)n;
	for(i = 0; i < n; i++)
		t.wname[i] = p9str(names[i]);
	return rpc(fd, &t, r, P9_2000);
}

static int
simple(int fd, uint8_t type, uint32_t fid, Fcall *r)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = type;
	t.tag = 3;
	t.fid = fid;
	return rpc(fd, &t, r, P9_2000);
}

static int
errmatch(Fcall *r, const char *want)
{
	return r->type == Rerror && r->ename.n == strlen(want) && memcmp(r->ename.s, want, r->ename.n) == 0;
}

int
main(int argc, char **argv)
{
	char ram[PATH_MAX + 32], msock[PATH_MAX + 32], ramaddr[PATH_MAX + 40], muxaddr[PATH_MAX + 40];
	char logf[PATH_MAX + 32], muxbin[PATH_MAX + 16], rambin[PATH_MAX + 16], data[10000];
	const char *names[2], *b;
	Fcall t, r;
	int a, c, fd, st, i, k, bad, fds[8], seen[8][16];
	uint8_t raw[64];
	char dasha[] = "-a", dashv[] = "-v";

	tap_start(60);
	if((b = getenv("NINEMUX_BUILD")) != NULL)
		snprintf(bindir, sizeof bindir, "%s/bin", b);
	else{
		snprintf(bindir, sizeof bindir, "%s", argv[0]);
		if(strrchr(bindir, '/'))
			*strrchr(bindir, '/') = '\0';
		else
			strcpy(bindir, ".");
		strcat(bindir, "/../bin");
	}
	(void)argc;
	snprintf(dir, sizeof dir, "/tmp/t9muxXXXXXX");
	if(mkdtemp(dir) == NULL){
		ok(0, "mkdtemp");
		return done_testing();
	}
	atexit(cleanup);
	snprintf(ram, sizeof ram, "%s/ram.sock", dir);
	snprintf(msock, sizeof msock, "%s/mux.sock", dir);
	snprintf(ramaddr, sizeof ramaddr, "unix!%s", ram);
	snprintf(muxaddr, sizeof muxaddr, "unix!%s", msock);
	snprintf(logf, sizeof logf, "%s/mux.log", dir);
	snprintf(rambin, sizeof rambin, "%s/9ramfs", bindir);
	snprintf(muxbin, sizeof muxbin, "%s/9mux", bindir);

	ramfs = spawn((char *[]){ rambin, dasha, ramaddr, NULL }, NULL);
	ok(waitsock(ram) == 0, "9ramfs is up");
	mux = spawn((char *[]){ muxbin, dashv, dasha, muxaddr, ramaddr, NULL }, logf);
	ok(waitsock(msock) == 0, "9mux is up");

	/* versions */
	a = connectmux(8192, "9P2000", &r);
	ok(a >= 0 && r.type == Rversion && r.msize == 8192 && p9streq(r.version, "9P2000"),
		"Tversion 9P2000 msize 8192 answered locally");
	fd = connectmux(1 << 30, "9P2000.u", &r);
	ok(fd >= 0 && r.msize == 8 * 1024 * 1024 + 24 && p9streq(r.version, "9P2000"),
		"9P2000.u client gets 9P2000 and the upstream msize");
	close(fd);
	fd = connectmux(8192, "9P2000.L", &r);
	ok(fd >= 0 && p9streq(r.version, "9P2000"), "9P2000.L client gets 9P2000 from a 9P2000 upstream");
	close(fd);
	fd = connectmux(8192, "frob", &r);
	ok(fd >= 0 && p9streq(r.version, "unknown"), "unknown version string gets unknown");
	close(fd);
	c = connectmux(65536, "9P2000", &r);
	ok(c >= 0, "second client");

	/* both clients use fid 0: separate fid spaces */
	ok(attach(a, 0, 1) == 0, "client A attaches fid 0");
	ok(attach(c, 0, 1) == 0, "client C attaches fid 0 too");
	ok(attach(a, 0, 2) < 0, "attach on a fid A holds is refused");

	/* A creates and writes a file */
	names[0] = NULL;
	ok(walk(a, 0, 1, 0, names, &r) == 0 && r.type == Rwalk, "A clones fid 0 to 1");
	memset(&t, 0, sizeof t);
	t.type = Tcreate;
	t.tag = 4;
	t.fid = 1;
	t.name = p9str("big");
	t.perm = 0666;
	t.mode = P9_ORDWR;
	k = rpc(a, &t, &r, P9_2000);
	ok(k == 0 && r.type == Rcreate && r.iounit > 0 && r.iounit <= 8192 - 24,
		"Rcreate iounit clamped to msize-24 (%u)", r.iounit);
	memset(data, 'x', sizeof data);
	for(i = 0; i < 10000; i += k){
		k = 10000 - i > 8000 ? 8000 : 10000 - i;
		memset(&t, 0, sizeof t);
		t.type = Twrite;
		t.tag = 5;
		t.fid = 1;
		t.offset = (uint64_t)i;
		t.count = (uint32_t)k;
		t.data = (const uint8_t*)data;
		if(rpc(a, &t, &r, P9_2000) < 0 || r.type != Rwrite)
			break;
	}
	ok(i == 10000, "A writes 10000 bytes in pieces");
	memset(&t, 0, sizeof t);
	t.type = Tread;
	t.tag = 6;
	t.fid = 1;
	t.offset = 0;
	t.count = 1000000;
	k = rpc(a, &t, &r, P9_2000);
	ok(k == 0 && r.type == Rread && r.count == 8192 - 11,
		"Tread count clamped to msize-11 (%u)", r.count);
	ok(simple(a, Tclunk, 1, &r) == 0 && r.type == Rclunk, "A clunks fid 1");
	ok(simple(a, Tclunk, 1, &r) == 0 && errmatch(&r, "unknown fid"), "second clunk: unknown fid from 9mux");

	/* C sees it */
	names[0] = "big";
	ok(walk(c, 0, 7, 1, names, &r) == 0 && r.type == Rwalk && r.nwqid == 1, "C walks to big");
	memset(&t, 0, sizeof t);
	t.type = Topen;
	t.tag = 4;
	t.fid = 7;
	t.mode = P9_OREAD;
	k = rpc(c, &t, &r, P9_2000);
	ok(k == 0 && r.type == Ropen && r.iounit == 65536 - 24, "C opens it, iounit %u", r.iounit);
	memset(&t, 0, sizeof t);
	t.type = Tread;
	t.tag = 6;
	t.fid = 7;
	t.offset = 9990;
	t.count = 100;
	ok(rpc(c, &t, &r, P9_2000) == 0 && r.type == Rread && r.count == 10 && r.data[0] == 'x', "C reads the tail");

	/* fid rules */
	names[0] = "big";
	names[1] = "deeper";
	ok(walk(a, 0, 5, 2, names, &r) == 0 && r.type == Rwalk && r.nwqid == 1, "short walk through a file");
	ok(simple(a, Tstat, 5, &r) == 0 && errmatch(&r, "unknown fid"), "a short walk created no newfid");
	names[0] = "nonexistent";
	ok(walk(a, 0, 5, 1, names, &r) == 0 && r.type == Rerror, "failed walk");
	ok(simple(a, Tstat, 5, &r) == 0 && errmatch(&r, "unknown fid"), "failed walk created nothing");
	ok(walk(a, 0, 0, 0, names, &r) == 0 && r.type == Rwalk, "walk in place (newfid == fid)");
	ok(simple(a, Tstat, 0, &r) == 0 && r.type == Rstat, "fid 0 still usable after walk in place");
	ok(walk(a, 0, P9_NOFID, 0, names, &r) == 0 && r.type == Rerror, "NOFID as newfid refused");
	ok(simple(a, Tstat, 42, &r) == 0 && errmatch(&r, "unknown fid"), "unknown fid refused");

	/* bad input that keeps the stream */
	p9put32(raw, 7);
	raw[4] = 200;
	p9put16(raw + 5, 11);
	ok(sendall(a, raw, 7) == 0 && recvf(a, &r, P9_2000) == 0 && r.tag == 11 && errmatch(&r, "unknown message type"),
		"unknown type refused");
	raw[4] = Rread;
	ok(sendall(a, raw, 7) == 0 && recvf(a, &r, P9_2000) == 0 && r.type == Rerror, "an R-message from a client refused");
	raw[4] = Tgetattr;
	ok(sendall(a, raw, 7) == 0 && recvf(a, &r, P9_2000) == 0 && errmatch(&r, "unknown message type"),
		"a 9P2000.L message in a 9P2000 session refused");
	/* Twalk claiming two names but carrying one */
	p9put32(raw, 17 + 2 + 1);
	raw[4] = Twalk;
	p9put16(raw + 5, 12);
	p9put32(raw + 7, 0);
	p9put32(raw + 11, 20);
	p9put16(raw + 15, 2);
	p9put16(raw + 17, 1);
	raw[19] = 'a';
	ok(sendall(a, raw, 20) == 0 && recvf(a, &r, P9_2000) == 0 && r.tag == 12 && errmatch(&r, "malformed message"),
		"field past the end refused");

	/* pipelined requests from several clients at once */
	bad = 0;
	for(k = 0; k < 8; k++){
		fds[k] = connectmux(8192, "9P2000", &r);
		if(fds[k] < 0 || attach(fds[k], 3, 0) < 0)
			bad++;
		names[0] = "big";
		if(walk(fds[k], 3, 4, 1, names, &r) < 0 || r.type != Rwalk)
			bad++;
		memset(&t, 0, sizeof t);
		t.type = Topen;
		t.tag = 1;
		t.fid = 4;
		if(rpc(fds[k], &t, &r, P9_2000) < 0 || r.type != Ropen)
			bad++;
	}
	ok(bad == 0, "8 more clients attach, walk and open (all with the same fid numbers)");
	for(k = 0; k < 8; k++)
		for(i = 0; i < 16; i++){
			memset(&t, 0, sizeof t);
			t.type = Tread;
			t.tag = (uint16_t)(100 + i);
			t.fid = 4;
			t.offset = (uint64_t)(i * 100);
			t.count = (uint32_t)(k + 1);
			if(sendf(fds[k], &t, P9_2000) < 0)
				bad++;
			seen[k][i] = 0;
		}
	for(i = 0; i < 16; i++)
		for(k = 0; k < 8; k++){
			if(recvf(fds[k], &r, P9_2000) < 0 || r.type != Rread || r.tag < 100 || r.tag >= 116
			   || r.count != (uint32_t)(k + 1)){
				bad++;
				continue;
			}
			seen[k][r.tag - 100]++;
		}
	for(k = 0; k < 8; k++)
		for(i = 0; i < 16; i++)
			if(seen[k][i] != 1)
				bad++;
	ok(bad == 0, "128 pipelined reads over 8 clients each answered once, on the right client and tag");

	/* a bad size field disconnects that client only */
	p9put32(raw, 3);
	raw[4] = Tclunk;
	ok(sendall(fds[0], raw, 7) == 0 && recvf(fds[0], &r, P9_2000) < 0, "size field below 7: client disconnected");
	ok(simple(fds[1], Tstat, 4, &r) == 0 && r.type == Rstat, "another client is undisturbed");
	for(k = 0; k < 8; k++)
		close(fds[k]);

	/* mid-session Tversion resets the session */
	memset(&t, 0, sizeof t);
	t.type = Tversion;
	t.tag = P9_NOTAG;
	t.msize = 4096;
	t.version = p9str("9P2000");
	ok(rpc(c, &t, &r, P9_2000) == 0 && r.type == Rversion && r.msize == 4096, "Tversion mid-session answered");
	ok(simple(c, Tstat, 0, &r) == 0 && errmatch(&r, "unknown fid"), "after the reset the old fids are gone");
	ok(attach(c, 0, 1) == 0, "and fid 0 can be attached again");

	/* remove destroys the fid even when it fails */
	names[0] = NULL;
	ok(walk(a, 0, 8, 0, names, &r) == 0 && r.type == Rwalk, "clone the root");
	ok(simple(a, Tremove, 8, &r) == 0 && r.type == Rerror, "removing the root fails");
	ok(simple(a, Tstat, 8, &r) == 0 && errmatch(&r, "unknown fid"), "but its fid is gone");

	/* SIGTERM: exit 0 */
	close(a);
	close(c);
	kill(mux, SIGTERM);
	st = -1;
	waitpid(mux, &st, 0);
	mux = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: 9mux exits 0");
	ok(access(msock, F_OK) < 0, "and removes its socket");
	errno = 0;
	(void)fd;
	return done_testing();
}
