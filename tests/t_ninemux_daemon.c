/*
 * t_ninemux_daemon: the 9mux command's own features, with real
 * processes over unix sockets: start-up errors, exec! upstreams,
 * 9P2000.L, -n, -M, -u, -c, -D, and losing and redialing the upstream.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "9p.h"
#include "tap.h"

static char dir[PATH_MAX], bindir[PATH_MAX], muxbin[PATH_MAX + 16], rambin[PATH_MAX + 16];
static pid_t pids[8];
static int npids;

static void
cleanup(void)
{
	char cmd[PATH_MAX + 64];
	int i;

	for(i = 0; i < npids; i++)
		if(pids[i] > 0)
			kill(pids[i], SIGKILL);
	for(i = 0; i < npids; i++)
		if(pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	/* only our own mkdtemp directory */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if(dir[0] && system(cmd) != 0)
		diag("cannot remove %s", dir);
}

static pid_t
spawn(char *const argv[], const char *logfile, char *const env[])
{
	pid_t p;
	int fd;

	p = fork();
	if(p == 0){
		if(logfile && (fd = open(logfile, O_WRONLY|O_CREAT|O_TRUNC, 0600)) >= 0)
			dup2(fd, 2);
		if(env)
			execve(argv[0], argv, env);
		else
			execv(argv[0], argv);
		_exit(127);
	}
	if(npids < 8)
		pids[npids++] = p;
	return p;
}

static void
reap(pid_t p, int *st)
{
	int i;

	waitpid(p, st, 0);
	for(i = 0; i < npids; i++)
		if(pids[i] == p)
			pids[i] = -1;
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

	for(i = 0; i < 250; i++){
		if((fd = dialunix(path)) >= 0){
			close(fd);
			return 0;
		}
		usleep(20000);
	}
	return -1;
}

static uint8_t rbuf[1 << 16];

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

static int
rpc(int fd, Fcall *t, Fcall *r, int d)
{
	uint8_t b[4096];
	size_t n;
	uint32_t size;

	n = p9encode(b, sizeof b, t, d);
	if(n == 0 || write(fd, b, n) != (ssize_t)n)
		return -1;
	if(readn(fd, rbuf, 4) < 0)
		return -1;
	size = p9get32(rbuf);
	if(size < 7 || size > sizeof rbuf || readn(fd, rbuf + 4, size - 4) < 0)
		return -1;
	return p9decode(rbuf, size, sizeof rbuf, d, r) > 0 ? 0 : -1;
}

static Fcall T;

static Fcall *
tmsg(uint8_t type, uint16_t tag, uint32_t fid)
{
	memset(&T, 0, sizeof T);
	T.type = type;
	T.tag = tag;
	T.fid = fid;
	T.afid = P9_NOFID;
	T.uname = p9str("nobody-in-particular");
	T.aname = p9str("");
	T.nuname = 4242;
	return &T;
}

/* Connect and Tversion: the descriptor, r holding the Rversion (or -1). */
static int
session(const char *path, const char *v, Fcall *r)
{
	Fcall *t;
	int fd;

	if((fd = dialunix(path)) < 0)
		return -1;
	t = tmsg(Tversion, P9_NOTAG, 0);
	t->msize = 8192;
	t->version = p9str(v);
	if(rpc(fd, t, r, P9_2000) < 0){
		close(fd);
		return -1;
	}
	return fd;
}

static int
isok(int fd, Fcall *t, uint8_t want, Fcall *r, int d)
{
	return rpc(fd, t, r, d) == 0 && r->type == want;
}

static int
grep(const char *file, const char *s)
{
	char line[1024];
	FILE *f;
	int found;

	if((f = fopen(file, "r")) == NULL)
		return 0;
	found = 0;
	while(fgets(line, sizeof line, f))
		if(strstr(line, s))
			found = 1;
	fclose(f);
	return found;
}

/* Run 9mux with args to completion: exit status, first stderr line in line. */
static int
runfail(char *const argv[], char *line, size_t len)
{
	char logf[PATH_MAX + 16];
	FILE *f;
	pid_t p;
	int st, n;

	snprintf(logf, sizeof logf, "%s/fail.log", dir);
	p = spawn(argv, logf, NULL);
	reap(p, &st);
	line[0] = '\0';
	n = 0;
	if((f = fopen(logf, "r")) != NULL){
		if(fgets(line, (int)len, f) != NULL){
			n = 1;
			line[strcspn(line, "\n")] = '\0';
		}
		while(fgets(logf, sizeof logf, f) != NULL)
			n++;
		fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) * 10 + (n == 1) : -1;
}

int
main(int argc, char **argv)
{
	char ram[PATH_MAX + 32], ramaddr[PATH_MAX + 40], msock[PATH_MAX + 32], muxaddr[PATH_MAX + 40];
	char logf[PATH_MAX + 32], nsenv[PATH_MAX + 32], nspath[PATH_MAX + 32], exec[PATH_MAX + 64], line[PATH_MAX + 64];
	char a[] = "-a", v[] = "-v", D[] = "-D", V[] = "-V", dotl[] = "9P2000.L", n[] = "-n", name[] = "svc";
	char F[] = "-F", u[] = "-u", M[] = "-M", mode[] = "0660", c[] = "-c", one[] = "1", bogus[] = "-Q", fi[] = "-i", f100[] = "100", fw[] = "-w", f0[] = "0", nowhere[PATH_MAX + 40];
	const char *b;
	struct passwd *pw;
	struct stat st;
	Fcall r, *t;
	pid_t ramfs, mux;
	int fd, fd2, s, i, up;

	tap_start(90);
	(void)argc;
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
	snprintf(dir, sizeof dir, "/tmp/t9muxdXXXXXX");
	if(mkdtemp(dir) == NULL){
		dir[0] = '\0';
		ok(0, "mkdtemp");
		return done_testing();
	}
	atexit(cleanup);
	snprintf(muxbin, sizeof muxbin, "%s/9mux", bindir);
	snprintf(rambin, sizeof rambin, "%s/9ramfs", bindir);
	snprintf(ram, sizeof ram, "%s/ram.sock", dir);
	snprintf(ramaddr, sizeof ramaddr, "unix!%s", ram);
	snprintf(msock, sizeof msock, "%s/mux.sock", dir);
	snprintf(muxaddr, sizeof muxaddr, "unix!%s", msock);
	snprintf(logf, sizeof logf, "%s/mux.log", dir);
	snprintf(nowhere, sizeof nowhere, "unix!%s/nothing.sock", dir);

	/* start-up errors: one line, status 1 */
	s = runfail((char *[]){ muxbin, bogus, a, muxaddr, ramaddr, NULL }, line, sizeof line);
	ok(s == 11, "bad flag: exit 1 with one line (%s)", line);
	s = runfail((char *[]){ muxbin, F, a, muxaddr, nowhere, NULL }, line, sizeof line);
	ok(s == 11 && strstr(line, "nothing.sock") != NULL, "-F, unreachable upstream: exit 1 with one line (%s)", line);

	s = runfail((char *[]){ muxbin, V, bogus, a, muxaddr, ramaddr, NULL }, line, sizeof line);
	ok(s == 11, "bad -V: exit 1 with one line");
	s = runfail((char *[]){ muxbin, fi, f100, a, muxaddr, ramaddr, NULL }, line, sizeof line);
	ok(s == 11 && strstr(line, "-i") != NULL, "-i below 512: exit 1 with one line (%s)", line);
	s = runfail((char *[]){ muxbin, fw, f0, a, muxaddr, ramaddr, NULL }, line, sizeof line);
	ok(s == 11 && strstr(line, "-w") != NULL, "-w 0: exit 1 with one line (%s)", line);

	/* exec! upstream, -D, -M */
	snprintf(exec, sizeof exec, "exec!%s", rambin);
	mux = spawn((char *[]){ muxbin, D, M, mode, a, muxaddr, exec, NULL }, logf, NULL);
	ok(waitsock(msock) == 0, "9mux in front of exec!9ramfs");
	i = stat(msock, &st);
	ok(i == 0 && (st.st_mode & 0777) == 0660, "-M 0660 gives the socket mode %o", st.st_mode & 0777);
	fd = session(msock, "9P2000", &r);
	ok(fd >= 0 && r.type == Rversion, "version through it");
	ok(isok(fd, tmsg(Tattach, 1, 0), Rattach, &r, P9_2000), "attach through exec!");
	close(fd);
	kill(mux, SIGTERM);
	reap(mux, &s);
	ok(WIFEXITED(s) && WEXITSTATUS(s) == 0, "SIGTERM: exit 0");
	ok(grep(logf, "-> Tattach tag 1 fid 0 afid NOFID uname 'nobody-in-particular'") && grep(logf, "=> Tattach"),
		"-D traces the client's message and the translated one");

	/* 9P2000.L, -n, -u */
	ramfs = spawn((char *[]){ rambin, a, ramaddr, NULL }, NULL, NULL);
	ok(waitsock(ram) == 0, "9ramfs up");
	snprintf(nsenv, sizeof nsenv, "NAMESPACE=%s/ns", dir);
	snprintf(nspath, sizeof nspath, "%s/ns/svc", dir);
	mux = spawn((char *[]){ muxbin, v, u, V, dotl, n, name, a, muxaddr, ramaddr, NULL }, logf,
		(char *[]){ nsenv, NULL });
	ok(waitsock(nspath) == 0, "-n posts $NAMESPACE/svc");
	ok(stat(nspath, &st) == 0 && (st.st_mode & 0777) == 0600, "posted socket is mode 0600");
	snprintf(line, sizeof line, "%s/ns", dir);
	ok(stat(line, &st) == 0 && (st.st_mode & 0777) == 0700, "namespace directory made 0700");
	fd = session(nspath, "9P2000.L", &r);
	ok(fd >= 0 && p9streq(r.version, "9P2000.L"), ".L client through -V 9P2000.L");
	ok(isok(fd, tmsg(Tattach, 1, 0), Rattach, &r, P9_2000L), "Tattach .L");
	t = tmsg(Twalk, 2, 0);
	t->newfid = 1;
	ok(isok(fd, t, Rwalk, &r, P9_2000L), "Twalk .L");
	t = tmsg(Tlcreate, 3, 1);
	t->name = p9str("mine");
	t->flags = 2;
	t->mode = 0644;
	i = isok(fd, t, Rlcreate, &r, P9_2000L);
	ok(i && r.iounit > 0 && r.iounit <= 8192 - 24, "Tlcreate, iounit %u", r.iounit);
	t = tmsg(Tgetattr, 4, 1);
	t->mask = 0x7FF;
	ok(isok(fd, t, Rgetattr, &r, P9_2000L), "Tgetattr");
	pw = getpwuid(getuid());
	ok(r.attr.uid == (uint32_t)getuid(), "-u: the file belongs to our uid %u (%s), not the n_uname 4242 we sent (got %u)",
		(unsigned)getuid(), pw ? pw->pw_name : "?", r.attr.uid);
	t = tmsg(Treaddir, 5, 0);
	t->count = 100000;
	/* the root is not open: any answer but a hang will do; what matters is the clamp upstream */
	ok(rpc(fd, t, &r, P9_2000L) == 0, "Treaddir with a huge count answered");
	ok(isok(fd, tmsg(Tclunk, 6, 1), Rclunk, &r, P9_2000L), "Tclunk .L");
	t = tmsg(Tgetattr, 7, 1);
	ok(rpc(fd, t, &r, P9_2000L) == 0 && r.type == Rlerror && r.errnum == 9, "clunked fid: Rlerror EBADF from 9mux");

	/* -c 1 is not set here; losing the upstream */
	kill(ramfs, SIGKILL);
	reap(ramfs, &s);
	t = tmsg(Tgetattr, 8, 0);
	t->mask = 1;
	i = rpc(fd, t, &r, P9_2000L);
	ok(i == 0 && r.type == Rlerror && (r.errnum == 5 || r.errnum == 107), "upstream gone: requests get Rlerror (errno %u)", r.errnum);
	ramfs = spawn((char *[]){ rambin, a, ramaddr, NULL }, NULL, NULL);
	ok(waitsock(ram) == 0, "9ramfs back");
	/* Tversion is answered meanwhile; an attach works once 9mux has redialed (1 s, give or take) */
	up = 0;
	for(i = 0; i < 100 && !up; i++){
		fd2 = session(nspath, "9P2000.L", &r);
		if(fd2 >= 0 && r.type == Rversion && isok(fd2, tmsg(Tattach, 1, 0), Rattach, &r, P9_2000L))
			up = 1;
		else
			usleep(100000);
		if(fd2 >= 0)
			close(fd2);
	}
	ok(up, "9mux redialed: new sessions served (after %d tries)", i);
	t = tmsg(Tversion, P9_NOTAG, 0);
	t->msize = 8192;
	t->version = p9str("9P2000.L");
	ok(isok(fd, t, Rversion, &r, P9_2000), "the old session starts over with Tversion");
	ok(isok(fd, tmsg(Tattach, 1, 0), Rattach, &r, P9_2000L), "and attaches again");
	close(fd);
	ok(grep(logf, "lost") && grep(logf, "is back"), "loss and redial logged");
	kill(mux, SIGINT);
	reap(mux, &s);
	ok(WIFEXITED(s) && WEXITSTATUS(s) == 0, "SIGINT: exit 0");
	ok(access(nspath, F_OK) < 0, "posted socket removed at exit");

	/* -c 1 */
	mux = spawn((char *[]){ muxbin, c, one, a, muxaddr, ramaddr, NULL }, logf, NULL);
	ok(waitsock(msock) == 0, "9mux -c 1");
	usleep(100000);		/* waitsock's probe must be gone */
	fd = session(msock, "9P2000", &r);
	ok(fd >= 0, "first client served");
	fd2 = session(msock, "9P2000", &r);
	ok(fd2 < 0, "second client refused");
	close(fd);
	kill(mux, SIGTERM);
	reap(mux, &s);
	kill(ramfs, SIGTERM);
	reap(ramfs, &s);
	return done_testing();
}
