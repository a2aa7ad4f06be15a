/*
 * 9mux's command line, beyond the protocol rules: socket permissions
 * (-M), a posted service name (-n), TCP and several listeners, the
 * upstream as tcp!, exec! and standard input/output (-), the msize cap
 * (-m), the dialect asked upstream (-V), logging flags, SIGINT, and a
 * session that outlived its upstream.
 */
#include <sys/stat.h>
#include <netinet/in.h>

#include "tap.h"
#include "p9conv.h"
#include "dial.h"

enum { T = 3000 };

static const char *dir;
static pid_t srv = -1, mux = -1, ram = -1;
static char srvlog[400];

/* Start 9testsrv at addr (logging to srvlog); for unix! wait for its socket. */
static int
startsrv(const char *addr, const char *sockpath)
{
	const char *av[] = { pc_prog("9testsrv"), "-l", srvlog, "-a", addr, NULL };

	srv = pc_spawn(av, pc_path(dir, "srv.err"));
	if(sockpath)
		return pc_waitsock(sockpath, 5000);
	pc_sleep(300);
	return 0;
}

/* Start 9mux with argv (after the program name), waiting for sockpath. */
static int
startmux(const char **args, const char *sockpath)
{
	const char *av[32];
	int n;

	n = 0;
	av[n++] = pc_prog("9mux");
	while(*args && n < 31)
		av[n++] = *args++;
	av[n] = NULL;
	mux = pc_spawn(av, pc_path(dir, "mux.err"));
	if(pc_waitsock(sockpath, 5000) < 0) {
		diag("9mux: %s", pc_slurp(pc_path(dir, "mux.err")));
		return -1;
	}
	return 0;
}

static void
stopall(void)
{
	if(mux > 0)
		pc_killwait(mux, SIGTERM, 15000);
	if(srv > 0)
		pc_kill(srv, SIGTERM);
	if(ram > 0)
		pc_kill(ram, SIGTERM);
	mux = srv = ram = -1;
}

/* A session on fd: version, attach, walk to hello, open, read it. */
static int
readhello(Pconn *c, const char *want)
{
	Fcall t;

	if(c == NULL || pc_version(c, 8192, "9P2000") != Rversion
	|| pc_attach(c, 1, 1, "tester") != Rattach
	|| pc_walk(c, 2, 1, 2, "hello") != Rwalk
	|| pc_open1(c, 3, 2, P9_OREAD) != Ropen)
		return 0;
	pc_mkread(&t, 4, 2, 0, 100);
	return pc_rpc(c, &t, T) == Rread && c->r.count == strlen(want)
		&& memcmp(c->r.data, want, c->r.count) == 0;
}

static Pconn *
conn(int fd)
{
	Pconn *c;

	if(fd < 0)
		return NULL;
	c = calloc(1, sizeof *c);
	c->buf = malloc(PC_MAXMSG);
	c->fd = fd;
	c->dialect = P9_2000;
	return c;
}

static int
freeport(void)
{
	struct sockaddr_in sa;
	socklen_t n;
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n = sizeof sa;
	if(fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0
	|| getsockname(fd, (struct sockaddr *)&sa, &n) < 0)
		port = -1;
	else
		port = ntohs(sa.sin_port);
	if(fd >= 0)
		close(fd);
	return port;
}

static const char hello[] = "hello, world\n";

static void
modes(void)
{
	struct stat st;
	Pconn *c;

	snprintf(srvlog, sizeof srvlog, "%s", pc_path(dir, "modes.log"));
	if(startsrv(pc_unixaddr(dir, "srv.sock"), pc_path(dir, "srv.sock")) < 0) {
		ok(0, "9testsrv starts");
		return;
	}
	{
		const char *a[] = { "-a", pc_unixaddr(dir, "m1.sock"), pc_unixaddr(dir, "srv.sock"), NULL };

		if(!ok(startmux(a, pc_path(dir, "m1.sock")) == 0, "9mux listens"))
			goto out;
	}
	memset(&st, 0, sizeof st);
	stat(pc_path(dir, "m1.sock"), &st);
	ok((st.st_mode & 0777) == 0600,
		"unix socket mode 0600 by default (%o)", (unsigned)(st.st_mode & 0777));
	pc_killwait(mux, SIGTERM, 15000);
	mux = -1;
	ok(access(pc_path(dir, "m1.sock"), F_OK) != 0, "the socket is removed at exit");
	{
		const char *a[] = { "-M", "0660", "-a", pc_unixaddr(dir, "m2.sock"), pc_unixaddr(dir, "srv.sock"), NULL };

		if(!ok(startmux(a, pc_path(dir, "m2.sock")) == 0, "9mux -M 0660 listens"))
			goto out;
	}
	memset(&st, 0, sizeof st);
	stat(pc_path(dir, "m2.sock"), &st);
	ok((st.st_mode & 0777) == 0660,
		"-M 0660: socket mode 0660 (%o)", (unsigned)(st.st_mode & 0777));
	c = pc_open(pc_path(dir, "m2.sock"), P9_2000);
	ok(readhello(c, hello), "served");
	pc_close(c);
	st.st_mode = 0;
	pc_killwait(mux, SIGINT, 15000);
	mux = -1;
out:
	stopall();
}

static void
listeners(void)
{
	char tcp[64], err[256], ns[400];
	Pconn *a, *b, *t, *n;
	int port, st, fd;

	snprintf(srvlog, sizeof srvlog, "%s", pc_path(dir, "lis.log"));
	if(startsrv(pc_unixaddr(dir, "srv2.sock"), pc_path(dir, "srv2.sock")) < 0) {
		ok(0, "9testsrv starts");
		return;
	}
	port = freeport();
	snprintf(tcp, sizeof tcp, "tcp!127.0.0.1!%d", port);
	snprintf(ns, sizeof ns, "NAMESPACE=%s", dir);
	putenv(ns);
	{
		const char *args[] = { "-v", "-n", "svc", "-a", pc_unixaddr(dir, "l1.sock"), "-a", pc_unixaddr(dir, "l2.sock"),
			"-a", tcp, pc_unixaddr(dir, "srv2.sock"), NULL };

		if(!ok(startmux(args, pc_path(dir, "l1.sock")) == 0, "9mux with two unix listeners, a tcp one and -n svc"))
			goto out;
	}
	a = pc_open(pc_path(dir, "l1.sock"), P9_2000);
	ok(readhello(a, hello), "first unix listener served");
	b = pc_open(pc_path(dir, "l2.sock"), P9_2000);
	ok(readhello(b, hello), "second unix listener served");
	fd = -1;
	for(st = 0; st < 50 && fd < 0; st++) {
		fd = dial(tcp, err, sizeof err);
		if(fd < 0)
			pc_sleep(100);
	}
	t = conn(fd);
	ok(readhello(t, hello), "tcp listener %s served", tcp);
	ok(pc_waitsock(pc_path(dir, "svc"), 3000) == 0, "-n svc posted $NAMESPACE/svc");
	n = pc_open(pc_path(dir, "svc"), P9_2000);
	ok(readhello(n, hello), "and served there");
	is_int(pc_count(srvlog, "Tversion"), 1, "four clients, one upstream session (one Tversion upstream)");
	{
		char line[512], id[32], *p, *e;

		id[0] = 0;
		if(pc_line(srvlog, "Tversion", 0, line, sizeof line) == 0 && (p = strstr(line, "\t@c")) != NULL) {
			e = strchr(p, ' ');
			snprintf(id, sizeof id, "%.*s ", e ? (int)(e - p) : 0, p);
		}
		ok(id[0] && pc_count(srvlog, id) == pc_count(srvlog, "\t@c"),
			"and one upstream connection (every message on %s)", id);
	}
	pc_close(a);
	pc_close(b);
	pc_close(t);
	pc_close(n);
	ok(pc_waitcount(pc_path(dir, "mux.err"), "", 1, 2000) >= 1, "-v logs connections on stderr");
	st = pc_killwait(mux, SIGINT, 15000);
	mux = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGINT: exit 0");
	ok(access(pc_path(dir, "svc"), F_OK) != 0, "the posted socket is removed at exit");
	unsetenv("NAMESPACE");
out:
	stopall();
}

static void
upstreams(void)
{
	char tcp[64];
	Pconn *c;
	int port, sv[2];
	char execaddr[600];

	/* tcp! upstream */
	port = freeport();
	snprintf(tcp, sizeof tcp, "tcp!127.0.0.1!%d", port);
	snprintf(srvlog, sizeof srvlog, "%s", pc_path(dir, "tcp.log"));
	startsrv(tcp, NULL);
	{
		const char *a[] = { "-a", pc_unixaddr(dir, "u1.sock"), tcp, NULL };

		if(ok(startmux(a, pc_path(dir, "u1.sock")) == 0, "9mux to a tcp! upstream")) {
			c = pc_open(pc_path(dir, "u1.sock"), P9_2000);
			ok(readhello(c, hello), "served over tcp upstream");
			pc_close(c);
		}
	}
	stopall();

	/* exec! upstream: 9ramfs on its standard input and output */
	snprintf(execaddr, sizeof execaddr, "exec!%s", pc_prog("9ramfs"));
	{
		const char *a[] = { "-V", "9P2000.L", "-a", pc_unixaddr(dir, "u2.sock"), execaddr, NULL };

		if(ok(startmux(a, pc_path(dir, "u2.sock")) == 0, "9mux to exec!9ramfs")) {
			c = pc_open(pc_path(dir, "u2.sock"), P9_2000L);
			ok(c && pc_version(c, 8192, "9P2000.L") == Rversion && p9streq(c->r.version, "9P2000.L")
				&& pc_attach(c, 1, 1, "tester") == Rattach
				&& pc_fidop(c, Tgetattr, 2, 1) == Rgetattr, "a 9P2000.L session over exec!");
			pc_close(c);
		}
	}
	stopall();

	/* - : 9mux's own standard input and output, joined to 9ramfs's */
	if(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
		const char *r[] = { pc_prog("9ramfs"), NULL };
		const char *m[] = { pc_prog("9mux"), "-a", pc_unixaddr(dir, "u3.sock"), "-", NULL };

		ram = pc_spawnio(r, sv[0], pc_path(dir, "ram.err"));
		mux = pc_spawnio(m, sv[1], pc_path(dir, "mux.err"));
		close(sv[0]);
		close(sv[1]);
		if(ok(pc_waitsock(pc_path(dir, "u3.sock"), 5000) == 0, "9mux with - as upstream")) {
			c = pc_open(pc_path(dir, "u3.sock"), P9_2000);
			ok(c && pc_version(c, 8192, "9P2000") == Rversion
				&& pc_attach(c, 1, 1, "tester") == Rattach
				&& pc_fidop(c, Tstat, 2, 1) == Rstat, "a session over standard input and output");
			pc_close(c);
		} else
			diag("%s", pc_slurp(pc_path(dir, "mux.err")));
	}
	stopall();
}

static void
msizes(void)
{
	Pconn *c;
	char line[512];

	snprintf(srvlog, sizeof srvlog, "%s", pc_path(dir, "msize.log"));
	if(startsrv(pc_unixaddr(dir, "srv3.sock"), pc_path(dir, "srv3.sock")) < 0) {
		ok(0, "9testsrv starts");
		return;
	}
	{
		const char *a[] = { "-m", "4096", "-a", pc_unixaddr(dir, "ms.sock"), pc_unixaddr(dir, "srv3.sock"), NULL };

		if(!ok(startmux(a, pc_path(dir, "ms.sock")) == 0, "9mux -m 4096"))
			goto out;
	}
	c = pc_open(pc_path(dir, "ms.sock"), P9_2000);
	if(c)
		pc_version(c, 65536, "9P2000");
	ok(c && c->r.type == Rversion && c->msize <= 4096, "-m 4096 caps the client's msize (%u)", c ? c->msize : 0);
	ok(pc_line(srvlog, "Tversion", 0, line, sizeof line) == 0 && strstr(line, "msize 4096") != NULL,
		"and the msize asked upstream");
	pc_close(c);
	stopall();

	if(startsrv(pc_unixaddr(dir, "srv4.sock"), pc_path(dir, "srv4.sock")) < 0) {
		ok(0, "9testsrv starts");
		return;
	}
	{
		const char *a[] = { "-V", "9P2000.L", "-a", pc_unixaddr(dir, "vl.sock"), pc_unixaddr(dir, "srv4.sock"), NULL };

		if(!ok(startmux(a, pc_path(dir, "vl.sock")) == 0, "9mux -V 9P2000.L"))
			goto out;
	}
	/* 9mux listens before its upstream answers: wait for the Tversion to reach it */
	pc_waitcount(srvlog, "9P2000.L", 1, 5000);
	ok(pc_line(srvlog, "Tversion", -1, line, sizeof line) == 0 && strstr(line, "9P2000.L") != NULL,
		"-V 9P2000.L is asked upstream");
	c = pc_open(pc_path(dir, "vl.sock"), P9_2000);
	ok(c && pc_version(c, 8192, "9P2000") == Rversion && p9streq(c->r.version, "unknown"),
		"a 9P2000-only client of a 9P2000.L upstream is answered unknown");
	pc_close(c);
out:
	stopall();
}

/* Sessions that outlived their upstream must not leak stale fids into the new one. */
static void
stale(void)
{
	Pconn *a, *b;
	Fcall t;
	long end;
	int r, good;

	snprintf(srvlog, sizeof srvlog, "%s", pc_path(dir, "stale.log"));
	if(startsrv(pc_unixaddr(dir, "srv5.sock"), pc_path(dir, "srv5.sock")) < 0) {
		ok(0, "9testsrv starts");
		return;
	}
	{
		const char *a2[] = { "-a", pc_unixaddr(dir, "st.sock"), pc_unixaddr(dir, "srv5.sock"), NULL };

		if(!ok(startmux(a2, pc_path(dir, "st.sock")) == 0, "9mux listens"))
			goto out;
	}
	a = pc_open(pc_path(dir, "st.sock"), P9_2000);
	ok(readhello(a, hello), "a session before the upstream goes");
	pc_kill(srv, SIGKILL);
	srv = -1;
	pc_sleep(100);
	startsrv(pc_unixaddr(dir, "srv5.sock"), pc_path(dir, "srv5.sock"));
	end = pc_now() + 15000;
	good = 0;
	b = NULL;
	while(!good && pc_now() < end) {
		b = pc_open(pc_path(dir, "st.sock"), P9_2000);
		good = readhello(b, hello);
		if(!good) {
			pc_close(b);
			b = NULL;
			pc_sleep(250);
		}
	}
	ok(good, "a new session after the upstream came back");
	pc_mkread(&t, 9, 2, 0, 100);
	r = pc_rpc(a, &t, T);
	ok(r == PC_EOF || r == Rerror || (r == Rread && a->r.count == 13),
		"the old session's fid: an error, a hang-up, or (re-established) the right data (%d)", r);
	pc_close(a);
	pc_close(b);
	pc_sleep(200);
	is_int(pc_count(srvlog, "VIOLATION"), 0, "the new upstream never saw a stale fid or tag");
	ok(pc_alive(mux, NULL), "9mux still up");
out:
	stopall();
}

/* -D traces messages on standard error; -s (syslog) still serves. */
static void
logging(void)
{
	Pconn *c;
	int st;

	snprintf(srvlog, sizeof srvlog, "%s", pc_path(dir, "log.log"));
	if(startsrv(pc_unixaddr(dir, "srv7.sock"), pc_path(dir, "srv7.sock")) < 0) {
		ok(0, "9testsrv starts");
		return;
	}
	{
		const char *a[] = { "-D", "-a", pc_unixaddr(dir, "d.sock"), pc_unixaddr(dir, "srv7.sock"), NULL };

		if(!ok(startmux(a, pc_path(dir, "d.sock")) == 0, "9mux -D listens"))
			goto out;
	}
	c = pc_open(pc_path(dir, "d.sock"), P9_2000);
	ok(readhello(c, hello), "-D: served");
	pc_close(c);
	ok(pc_waitcount(pc_path(dir, "mux.err"), "Tattach", 1, 3000) >= 1 && pc_count(pc_path(dir, "mux.err"), "Rread") >= 1,
		"-D: the trace on stderr names Tattach and Rread");
	st = pc_killwait(mux, SIGTERM, 15000);
	mux = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "-D: exit 0");
	{
		const char *a[] = { "-s", "-v", "-a", pc_unixaddr(dir, "s.sock"), pc_unixaddr(dir, "srv7.sock"), NULL };

		if(!ok(startmux(a, pc_path(dir, "s.sock")) == 0, "9mux -s listens"))
			goto out;
	}
	c = pc_open(pc_path(dir, "s.sock"), P9_2000);
	ok(readhello(c, hello), "-s: served");
	pc_close(c);
	st = pc_killwait(mux, SIGTERM, 15000);
	mux = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "-s: exit 0");
out:
	stopall();
}

/* Hundreds of sessions open at once, each with a fid. */
static void
crowd(void)
{
	enum { N = 300 };
	static int fds[N];
	uint8_t buf[8192];
	Fcall t, r;
	int i, good, nfd;
	long fids = -1, tags = -1, end;

	snprintf(srvlog, sizeof srvlog, "%s", pc_path(dir, "crowd.log"));
	if(startsrv(pc_unixaddr(dir, "srv6.sock"), pc_path(dir, "srv6.sock")) < 0) {
		ok(0, "9testsrv starts");
		return;
	}
	{
		const char *a[] = { "-a", pc_unixaddr(dir, "cr.sock"), pc_unixaddr(dir, "srv6.sock"), NULL };

		if(!ok(startmux(a, pc_path(dir, "cr.sock")) == 0, "crowd: 9mux listens"))
			goto out;
	}
	nfd = 0;
	for(i = 0; i < N; i++) {
		fds[i] = pc_dial(pc_path(dir, "cr.sock"));
		if(fds[i] < 0)
			break;
		nfd++;
		pc_mkversion(&t, 8192, "9P2000");
		pc_send(fds[i], &t, P9_2000);
	}
	is_int(nfd, N, "crowd: %d connections accepted", N);
	good = 0;
	for(i = 0; i < nfd; i++) {
		if(pc_recv(fds[i], buf, sizeof buf, T, P9_2000, &r) <= 0 || r.type != Rversion)
			continue;
		pc_mkattach(&t, 1, 1, "crowd");
		pc_send(fds[i], &t, P9_2000);
	}
	for(i = 0; i < nfd; i++) {
		if(pc_recv(fds[i], buf, sizeof buf, T, P9_2000, &r) <= 0 || r.type != Rattach)
			continue;
		pc_mkfid(&t, Tstat, 2, 1);
		pc_send(fds[i], &t, P9_2000);
		if(pc_recv(fds[i], buf, sizeof buf, T, P9_2000, &r) > 0 && r.type == Rstat)
			good++;
	}
	is_int(good, N, "crowd: every one attached and served");
	if(pc_srvstate(srv, srvlog, &fids, &tags) == 0)
		is_int(fids, N, "crowd: the server holds one fid per session");
	for(i = 0; i < nfd; i++)
		close(fds[i]);
	end = pc_now() + 5000;
	while(pc_srvstate(srv, srvlog, &fids, &tags) == 0 && fids != 0 && pc_now() < end)
		pc_sleep(50);
	is_int(fids, 0, "crowd: all clunked when they leave");
	ok(pc_alive(mux, NULL), "crowd: 9mux still up");
out:
	stopall();
}

int
main(int argc, char **argv)
{
	(void)argc;
	tap_start(180);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &srv, &ram, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	modes();
	listeners();
	upstreams();
	msizes();
	stale();
	crowd();
	logging();
	pc_rmdir(dir);
	return done_testing();
}
