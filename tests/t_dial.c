/*
 * dial(3) and announce over real sockets: unix with its permissions and
 * stale-socket rule, tcp on loopback, exec!, and the namespace directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include "dial.h"
#include "tap.h"

static int
echo1(int lfd)
{
	char buf[16];
	int c;
	ssize_t n;

	c = accept(lfd, NULL, NULL);
	if(c < 0)
		return -1;
	n = read(c, buf, sizeof buf);
	if(n > 0)
		n = write(c, buf, (size_t)n);
	close(c);
	return n > 0 ? 0 : -1;
}

/* Connect to lfd's address with dial (dialraw when raw), serve one echo in a child, check it. */
static int
roundtrip1(const char *addr, int lfd, int raw)
{
	char err[256], buf[8];
	pid_t p;
	int fd, st, good;

	p = fork();
	if(p == 0)
		_exit(echo1(lfd) == 0 ? 0 : 1);
	fd = raw ? dialraw(addr, err, sizeof err) : dial(addr, err, sizeof err);
	if(fd < 0){
		diag("dial %s: %s", addr, err);
		kill(p, SIGKILL);
		waitpid(p, &st, 0);
		return 0;
	}
	good = write(fd, "ping", 4) == 4 && read(fd, buf, sizeof buf) == 4 && memcmp(buf, "ping", 4) == 0;
	close(fd);
	waitpid(p, &st, 0);
	return good && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int
roundtrip(const char *addr, int lfd)
{
	return roundtrip1(addr, lfd, 0);
}

int
main(void)
{
	char dir[] = "/tmp/t_dial.XXXXXX", addr[256], err[256], buf[64], want[300];
	struct passwd *pw;
	struct sockaddr_in sin;
	socklen_t sl;
	struct stat st;
	int lfd, l2, fd;
	pid_t pid;

	tap_start(30);
	if(mkdtemp(dir) == NULL)
		return 1;

	is_int(addrkind("unix!/x"), DIAL_UNIX, "unix! is a unix address");
	is_int(addrkind("tcp!h!1"), DIAL_TCP, "tcp! is a tcp address");
	is_int(addrkind("exec!cat"), DIAL_EXEC, "exec! is an exec address");
	is_int(addrkind("/tmp/x"), -1, "a bare path is not an address");
	is_int(addrkind("unix!"), -1, "unix! without a path is not an address");
	is_int(addrkind("tls!h!1"), DIAL_TLS, "tls! is a TLS address");
	is_int(addrkind("tls!"), -1, "tls! without a host is not an address");
	ok(addrhost("tls!example.org!564", buf, sizeof buf) == 0 && strcmp(buf, "example.org") == 0, "addrhost of tls!: %s", buf);
	ok(addrhost("tcp!10.0.0.1", buf, sizeof buf) == 0 && strcmp(buf, "10.0.0.1") == 0, "addrhost of tcp! without a port: %s", buf);
	ok(addrhost("unix!/x", buf, sizeof buf) < 0, "addrhost of unix! fails");
	ok(addrhost("tls!a-very-long-host-name!1", buf, 8) < 0, "addrhost with a short buffer fails");
	ok(dial("bogus", err, sizeof err) < 0 && strstr(err, "bad address") != NULL, "dial of a bad address explains: %s", err);
	ok(dial("tcp!127.0.0.1!x!y", err, sizeof err) < 0, "tcp with two ports is refused: %s", err);
	ok(dial("tcp!127.0.0.1!notaport", err, sizeof err) < 0 && strstr(err, "bad port \"notaport\"") != NULL,
		"a port that is no number nor service is named: %s", err);
	ok(announce("tcp!*!notaport", 0, err, sizeof err) < 0 && strstr(err, "bad port \"notaport\"") != NULL,
		"and so when announcing: %s", err);
	ok(dial("tcp!no-such-host.invalid!564", err, sizeof err) < 0 &&
		strstr(err, "host \"no-such-host.invalid\"") != NULL, "an unknown host is named: %s", err);

	/* unix: default mode 0600, then an explicit mode */
	snprintf(addr, sizeof addr, "unix!%s/s", dir);
	lfd = announce(addr, 0, err, sizeof err);
	ok(lfd >= 0, "announce %s", addr);
	memset(&st, 0, sizeof st);
	stat(addr + 5, &st);
	ok((st.st_mode & 0777) == 0600, "unix socket created 0600 (%o)", st.st_mode & 0777);
	ok(roundtrip(addr, lfd), "unix round trip");
	l2 = announce(addr, 0, err, sizeof err);
	ok(l2 < 0 && strstr(err, "in use") != NULL, "a live socket is not replaced: %s", err);
	close(lfd);
	l2 = announce(addr, 0666, err, sizeof err);
	ok(l2 >= 0, "a stale socket is replaced");
	memset(&st, 0, sizeof st);
	stat(addr + 5, &st);
	ok((st.st_mode & 0777) == 0666, "-M mode honoured (%o)", st.st_mode & 0777);
	close(l2);
	unlink(addr + 5);
	snprintf(addr, sizeof addr, "unix!%s/file", dir);
	fd = creat(addr + 5, 0600);
	close(fd);
	ok(announce(addr, 0, err, sizeof err) < 0 && strstr(err, "not a socket") != NULL, "a plain file is never replaced");
	unlink(addr + 5);
	snprintf(addr, sizeof addr, "unix!%s/none", dir);
	ok(dial(addr, err, sizeof err) < 0 && strstr(err, addr) != NULL, "dial of a missing socket names it: %s", err);

	/* tcp on loopback, port chosen by the kernel */
	lfd = announce("tcp!127.0.0.1!0", 0, err, sizeof err);
	ok(lfd >= 0, "announce tcp!127.0.0.1!0");
	sl = sizeof sin;
	getsockname(lfd, (struct sockaddr*)&sin, &sl);
	snprintf(addr, sizeof addr, "tcp!127.0.0.1!%d", ntohs(sin.sin_port));
	ok(roundtrip(addr, lfd), "tcp round trip to %s", addr);
	close(lfd);
	ok(dial(addr, err, sizeof err) < 0, "dial of a closed port fails: %s", err);

	/* tls!: TCP underneath, for the caller's TLS; dial and announce refuse it */
	ok(announce("tls!127.0.0.1!0", 0, err, sizeof err) < 0 && strstr(err, "needs TLS") != NULL,
		"announce refuses tls!: %s", err);
	lfd = announceraw("tls!127.0.0.1!0", 0, err, sizeof err);
	ok(lfd >= 0, "announceraw tls!127.0.0.1!0 listens on TCP");
	sl = sizeof sin;
	getsockname(lfd, (struct sockaddr*)&sin, &sl);
	snprintf(addr, sizeof addr, "tls!127.0.0.1!%d", ntohs(sin.sin_port));
	ok(dial(addr, err, sizeof err) < 0 && strstr(err, "a tls! address needs TLS") != NULL,
		"dial refuses %s, so nothing speaks plaintext to it: %s", addr, err);
	ok(roundtrip1(addr, lfd, 1), "dialraw %s: the TCP connection under it", addr);
	close(lfd);
	ok(dialraw("unix!/nonexistent/x", err, sizeof err) < 0 && strstr(err, "unix!/nonexistent/x") != NULL,
		"dialraw of other kinds is dial: %s", err);

	/* exec!: the command's stdin and stdout are the connection */
	fd = dialpid("exec!tr a-z A-Z", &pid, err, sizeof err);
	ok(fd >= 0 && pid > 0, "exec! starts a child");
	if(fd >= 0){
		ssize_t n;
		int ws;

		n = write(fd, "hello", 5);
		shutdown(fd, SHUT_WR);
		n = read(fd, buf, sizeof buf);
		ok(n == 5 && memcmp(buf, "HELLO", 5) == 0, "exec! child answers on the connection");
		close(fd);
		waitpid(pid, &ws, 0);
	}

	setenv("NAMESPACE", "/tmp/ns.test", 1);
	ok(nsdir(buf, sizeof buf) == 0 && strcmp(buf, "/tmp/ns.test") == 0, "$NAMESPACE wins");
	unsetenv("NAMESPACE");
	setenv("USER", "glenda", 1);	/* stale: the login name must win */
	setenv("DISPLAY", ":0.0", 1);
	pw = getpwuid(getuid());
	snprintf(want, sizeof want, "/tmp/ns.%s.:0", pw ? pw->pw_name : "none");
	ok(nsdir(buf, sizeof buf) == 0 && strcmp(buf, want) == 0, "default namespace %s, by login name", buf);
	ok(nsdir(buf, 4) < 0, "a short buffer is refused");

	rmdir(dir);
	return done_testing();
}
