/*
 * t_9mux_activate: systemd's protocols, played by the test itself so
 * that every case can be built: sockets passed as descriptors 3 and up
 * with LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, each serving in the
 * role its name gives (client, ctl, reverse=NAME; none or unknown:
 * client), garbage in every variable refused cleanly, descriptors that
 * are no listening stream socket refused, the variables kept from an
 * exec! upstream; and READY=1, RELOADING=1, STOPPING=1 sent to
 * NOTIFY_SOCKET, a path or a name in the abstract namespace.
 * (tests/9mux_sd.sh does it with systemd-socket-activate.)
 */
#include <sys/un.h>

#include "tap.h"
#include "p9conv.h"
#include "ctlconv.h"
#include "dial.h"

enum {
	PIDOURS = 1,	/* LISTEN_PID is the child's */
	PIDOTHER,	/* LISTEN_PID is another process's */
	PIDASIS,	/* as the env list says, if at all */
};

static const char *dir;
static pid_t srv = -1, mux = -1;
static char *srvaddr;

/*
 * Start 9mux with argv, fds[i] as descriptor 3 + i and the environment
 * settings of env ("NAME=VALUE", NULL-terminated), standard error to errfile.
 */
static pid_t
activate(const char *const argv[], const int *fds, int nfd, const char *const *env, int pidmode, const char *errfile)
{
	char pid[32];
	pid_t p;
	int i, fd, hi[8];

	fflush(stdout);
	if((p = fork()) != 0)
		return p;
	if((fd = open("/dev/null", O_RDWR)) >= 0){
		dup2(fd, 0);
		dup2(fd, 1);
	}
	if((fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0)
		dup2(fd, 2);
	/* out of the way first: a descriptor may sit where another must go */
	for(i = 0; i < nfd; i++)
		hi[i] = fcntl(fds[i], F_DUPFD, 100);
	for(fd = 3; fd < 100; fd++)
		close(fd);
	for(i = 0; i < nfd; i++){
		dup2(hi[i], 3 + i);
		close(hi[i]);
	}
	for(i = 0; env && env[i]; i++)
		putenv((char *)(uintptr_t)env[i]);
	if(pidmode != PIDASIS){
		snprintf(pid, sizeof pid, "%d", pidmode == PIDOURS ? (int)getpid() : 1);
		setenv("LISTEN_PID", pid, 1);
	}
	signal(SIGPIPE, SIG_DFL);
	alarm(0);
	execv(argv[0], (char *const *)(uintptr_t)argv);
	_exit(127);
}

/* A listening unix socket at dir/name. */
static int
lis(const char *name)
{
	char err[256];
	int fd;

	unlink(pc_path(dir, name));
	if((fd = announce(pc_unixaddr(dir, name), 0600, err, sizeof err)) < 0)
		diag("announce %s: %s", name, err);
	return fd;
}

/* Whether a 9P session works on the socket dir/name: Tversion, Tattach, Tstat. */
static int
serves(const char *name)
{
	Pconn *c;
	int r;

	c = pc_open(pc_path(dir, name), P9_2000);
	r = c && pc_version(c, 8192, "9P2000") == Rversion && pc_attach(c, 1, 0, "u") == Rattach
		&& pc_fidop(c, Tstat, 2, 0) == Rstat;
	pc_close(c);
	return r;
}

/* SIGTERM: whether 9mux exits 0. */
static int
stop0(void)
{
	int st;

	st = pc_killwait(mux, SIGTERM, 20000);
	mux = -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* 9mux with names for two sockets a and b: started. */
static void
two(const char *names, const char *a, const char *b, const char *errfile)
{
	const char *argv[] = { pc_prog("9mux"), "-v", "-k", "0", srvaddr, NULL };
	char envnames[6000];
	const char *env[] = { "LISTEN_FDS=2", envnames, NULL };
	int fds[2];

	fds[0] = lis(a);
	fds[1] = lis(b);
	snprintf(envnames, sizeof envnames, "LISTEN_FDNAMES=%s", names);
	if(names == NULL)
		env[1] = NULL;
	mux = activate(argv, fds, 2, env, PIDOURS, errfile);
	close(fds[0]);
	close(fds[1]);
}

static void
roles(void)
{
	char *s, want[300], *log, longname[5100];
	int i;

	log = strdup(pc_path(dir, "m1.err"));
	two("client:ctl", "m1.sock", "m1.ctl", log);
	ok(serves("m1.sock"), "client:ctl: the socket named client serves clients");
	s = ctl_read(pc_path(dir, "m1.ctl"), "stats");
	ok(s && ctl_get(s, "clients") == 1, "and the one named ctl the control tree, which counted that client");
	free(s);
	ok(pc_count(log, "socket 3 from systemd, named client") == 1 && pc_count(log, "socket 4 from systemd, named ctl") == 1,
		"each is logged with its name");
	ok(stop0(), "SIGTERM: exit 0");
	ok(access(pc_path(dir, "m1.sock"), F_OK) == 0 && access(pc_path(dir, "m1.ctl"), F_OK) == 0,
		"the socket files stay: they belong to the socket units");
	free(log);

	log = strdup(pc_path(dir, "m2.err"));
	two("ctl:client", "m2.ctl", "m2.sock", log);
	{
		Pconn *c;
		char *ids, file[64];

		c = pc_open(pc_path(dir, "m2.sock"), P9_2000);
		ok(c && pc_version(c, 8192, "9P2000") == Rversion, "ctl:client: the second serves clients");
		ids = ctl_ls(pc_path(dir, "m2.ctl"), "clients");
		snprintf(file, sizeof file, "clients/%.*s/addr", ids ? (int)strcspn(ids, "\n") : 0, ids ? ids : "");
		s = ctl_read(pc_path(dir, "m2.ctl"), file);
		snprintf(want, sizeof want, "unix!%s\n", pc_path(dir, "m2.sock"));
		ok(s && strcmp(s, want) == 0, "the first is the control tree, where the client's addr is the passed socket's");
		free(s);
		free(ids);
		pc_close(c);
	}
	ok(stop0(), "exit 0");
	free(log);

	log = strdup(pc_path(dir, "m3.err"));
	two(NULL, "m3.a", "m3.b", log);
	ok(serves("m3.a") && serves("m3.b"), "no LISTEN_FDNAMES: both serve clients");
	ok(stop0(), "exit 0");
	free(log);

	log = strdup(pc_path(dir, "m4.err"));
	two("frob:", "m4.a", "m4.b", log);
	ok(serves("m4.a") && serves("m4.b"), "frob and an empty name: both serve clients");
	ok(pc_count(log, "named frob, no role") == 1, "the unknown name is logged");
	ok(stop0(), "exit 0");
	free(log);

	memset(longname, 'x', 5000);
	longname[5000] = '\0';
	memcpy(longname + 4990, ":ctl", 5);
	log = strdup(pc_path(dir, "m5.err"));
	two(longname, "m5.a", "m5.b", log);
	ok(serves("m5.a"), "a name of 4990 bytes: a client's");
	s = ctl_read(pc_path(dir, "m5.b"), "version");
	ok(s != NULL, "and the name after it still counts (ctl)");
	free(s);
	ok(stop0(), "exit 0");
	free(log);

	log = strdup(pc_path(dir, "m6.err"));
	two("reverse=lk:ctl:link:client:more", "m6.a", "m6.b", log);
	s = ctl_ls(pc_path(dir, "m6.b"), "links");
	ok(s && ctl_has(s, "lk"), "reverse=lk: links/lk is there, for clients over a link named lk");
	free(s);
	s = ctl_read(pc_path(dir, "m6.b"), "links/lk/state");
	ok(s && strcmp(s, "down\n") == 0, "links/lk/state: down");
	free(s);
	ok(pc_count(log, "named reverse=lk: ") == 1 && pc_count(log, "named link") == 0,
		"logged in that role; names past LISTEN_FDS are not looked at");
	ok(stop0(), "exit 0");
	free(log);

	for(i = 0; i < 3; i++){
		static const char *odd[] = { "::::::", ":", "reverse=" };

		log = strdup(pc_path(dir, "m7.err"));
		two(odd[i], "m7.a", "m7.b", log);
		ok(serves("m7.a") && serves("m7.b"), "LISTEN_FDNAMES=%s: both serve clients", odd[i]);
		ok(stop0(), "exit 0");
		free(log);
	}
}

/* 9mux must refuse: its exit status is 1, and its standard error says why. */
static void
refuses(const char *what, const int *fds, int nfd, const char *const *env, int pidmode, const char *why)
{
	const char *argv[] = { pc_prog("9mux"), srvaddr, NULL };
	char *log;
	int st;

	log = strdup(pc_path(dir, "r.err"));
	mux = activate(argv, fds, nfd, env, pidmode, log);
	st = pc_waitexit(mux, 20000);
	if(st == -1)
		st = pc_killwait(mux, SIGKILL, 1000);
	mux = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 1 && pc_count(log, why) >= 1, "%s: exit 1, \"%s\"", what, why);
	if(!WIFEXITED(st) || WEXITSTATUS(st) != 1 || pc_count(log, why) < 1){
		char *s = pc_slurp(log);

		diag("status 0x%x: %s", st, s);
		free(s);
	}
	free(log);
}

static void
garbage(void)
{
	static const char *bad[] = { "LISTEN_FDS=2x", "LISTEN_FDS=-1", "LISTEN_FDS=", "LISTEN_FDS=99999999999999999999",
		"LISTEN_FDS=33", "LISTEN_FDS= 1" };
	const char *env[3];
	const char *argv[] = { pc_prog("9mux"), "-v", "-a", pc_unixaddr(dir, "g.sock"), srvaddr, NULL };
	char *log;
	int fds[2], i, p[2], sp[2];

	fds[0] = lis("g.pass");
	env[1] = NULL;
	for(i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++){
		env[0] = bad[i];
		refuses(bad[i], fds, 1, env, PIDOURS, "LISTEN_FDS=");
	}
	env[0] = "LISTEN_FDS=1";
	env[1] = "LISTEN_PID=12x";
	refuses("LISTEN_PID=12x, no -a", fds, 1, env, PIDASIS, "usage");
	env[1] = NULL;
	refuses("LISTEN_PID of another process, no -a", fds, 1, env, PIDOTHER, "usage");

	/* not ours, with -a: the -a socket is served, the passed one left alone */
	log = strdup(pc_path(dir, "g.err"));
	mux = activate(argv, fds, 1, env, PIDOTHER, log);
	ok(pc_waitsock(pc_path(dir, "g.sock"), 10000) == 0 && serves("g.sock"), "LISTEN_PID of another process: -a is served");
	ok(pc_count(log, "is not this process") == 1, "and the passed sockets are not taken, as logged");
	ok(stop0(), "exit 0");
	free(log);
	close(fds[0]);

	if(pipe(p) < 0)
		abort();
	refuses("a pipe passed", p, 1, env, PIDOURS, "from systemd");
	close(p[0]);
	close(p[1]);
	if(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		abort();
	refuses("a connected socket passed (Accept=yes)", sp, 1, env, PIDOURS, "Accept=yes");
	close(sp[0]);
	close(sp[1]);
	if((sp[0] = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0)
		abort();
	refuses("a datagram socket passed", sp, 1, env, PIDOURS, "not a stream socket");
	close(sp[0]);
	env[0] = "LISTEN_FDS=2";
	fds[0] = lis("g.pass");
	refuses("LISTEN_FDS=2 and one descriptor", fds, 1, env, PIDOURS, "from systemd");
	close(fds[0]);
}

/* A datagram socket to be told things on; its address for NOTIFY_SOCKET in env. */
static int
notifier(int abstract, char *env, size_t len)
{
	struct sockaddr_un sa;
	socklen_t sl;
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if(abstract){
		snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "ninemux-notify-%d", (int)getpid());
		sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1));
		snprintf(env, len, "NOTIFY_SOCKET=@%s", sa.sun_path + 1);
	}else{
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", pc_path(dir, "notify"));
		sl = sizeof sa;
		snprintf(env, len, "NOTIFY_SOCKET=%s", sa.sun_path);
	}
	if(bind(fd, (struct sockaddr *)&sa, sl) < 0)
		diag("bind notify: %s", strerror(errno));
	return fd;
}

/* The next datagram within ms, NUL-terminated in buf, or "". */
static char *
told(int fd, char *buf, size_t len, int ms)
{
	struct pollfd pf;
	ssize_t n;

	buf[0] = '\0';
	pf.fd = fd;
	pf.events = POLLIN;
	if(poll(&pf, 1, ms) == 1 && (n = recv(fd, buf, len - 1, 0)) >= 0)
		buf[n] = '\0';
	return buf;
}

static void
notify(void)
{
	char ns[160], envfile[300], up[600], buf[256], *s;
	const char *env[6];
	int nfd, fds[1], cfd;

	/* a path; an exec! upstream that writes down its environment */
	nfd = notifier(0, ns, sizeof ns);
	snprintf(envfile, sizeof envfile, "%s", pc_path(dir, "upstream.env"));
	snprintf(up, sizeof up, "exec!env >'%s'; exec '%s'", envfile, pc_prog("9ramfs"));
	{
		const char *argv[] = { pc_prog("9mux"), "-k", "0", up, NULL };

		fds[0] = lis("n.sock");
		env[0] = ns;
		env[1] = "LISTEN_FDS=1";
		env[2] = "LISTEN_FDNAMES=client";
		env[3] = NULL;
		mux = activate(argv, fds, 1, env, PIDOURS, pc_path(dir, "n.err"));
		close(fds[0]);
	}
	ok(strcmp(told(nfd, buf, sizeof buf, 10000), "READY=1") == 0, "NOTIFY_SOCKET (a path) is told READY=1");
	cfd = pc_dial(pc_path(dir, "n.sock"));
	ok(cfd >= 0, "and the listeners are up by then");
	close(cfd);
	ok(serves("n.sock"), "a client is served through the exec! upstream");
	s = pc_slurp(envfile);
	ok(strstr(s, "PATH=") != NULL && strstr(s, "NOTIFY_SOCKET") == NULL && strstr(s, "LISTEN_") == NULL,
		"which inherited neither NOTIFY_SOCKET nor LISTEN_*");
	free(s);
	kill(mux, SIGHUP);
	ok(strncmp(told(nfd, buf, sizeof buf, 10000), "RELOADING=1\nMONOTONIC_USEC=", 27) == 0, "SIGHUP: RELOADING=1 with MONOTONIC_USEC");
	ok(strcmp(told(nfd, buf, sizeof buf, 10000), "READY=1") == 0, "then READY=1");
	kill(mux, SIGTERM);
	ok(strcmp(told(nfd, buf, sizeof buf, 10000), "STOPPING=1") == 0, "SIGTERM: STOPPING=1");
	ok(stop0(), "exit 0");
	close(nfd);

	/* the abstract namespace, and an upstream that is not there yet */
	nfd = notifier(1, ns, sizeof ns);
	{
		const char *argv[] = { pc_prog("9mux"), "-a", pc_unixaddr(dir, "n2.sock"), pc_unixaddr(dir, "nothing"), NULL };

		env[0] = ns;
		env[1] = NULL;
		mux = activate(argv, NULL, 0, env, PIDASIS, pc_path(dir, "n2.err"));
	}
	ok(strcmp(told(nfd, buf, sizeof buf, 10000), "READY=1") == 0, "NOTIFY_SOCKET=@name (abstract) is told READY=1, the upstream not there");
	ok(stop0(), "exit 0");
	close(nfd);

	{
		const char *argv[] = { pc_prog("9mux"), "-a", pc_unixaddr(dir, "n3.sock"), srvaddr, NULL };

		env[0] = "NOTIFY_SOCKET=relative/path";
		env[1] = NULL;
		mux = activate(argv, NULL, 0, env, PIDASIS, pc_path(dir, "n3.err"));
	}
	ok(pc_waitsock(pc_path(dir, "n3.sock"), 10000) == 0 && serves("n3.sock"), "NOTIFY_SOCKET=relative/path: 9mux runs all the same");
	ok(pc_count(pc_path(dir, "n3.err"), "NOTIFY_SOCKET=relative/path") == 1, "saying it does not notify");
	ok(stop0(), "exit 0");
}

int
main(int argc, char **argv)
{
	tap_start(120);
	(void)argc;
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &srv, &mux, NULL);
	srvaddr = strdup(pc_unixaddr(dir, "srv"));
	{
		const char *a[] = { pc_prog("9testsrv"), "-l", pc_path(dir, "srv.log"), "-a", srvaddr, NULL };

		srv = pc_spawn(a, pc_path(dir, "srv.err"));
	}
	if(pc_waitsock(pc_path(dir, "srv"), 10000) < 0){
		ok(0, "9testsrv starts");
		pc_killwait(srv, SIGTERM, 5000);
		return done_testing();
	}
	roles();
	garbage();
	notify();
	is_int(pc_count(pc_path(dir, "srv.log"), "VIOLATION"), 0, "9testsrv saw no violation of the protocol");
	pc_killwait(srv, SIGTERM, 5000);
	srv = -1;
	pc_rmdir(dir);
	return done_testing();
}
