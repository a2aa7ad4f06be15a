#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "dial.h"

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if(errlen > 0){
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int
addrkind(const char *addr)
{
	if(strncmp(addr, "unix!", 5) == 0 && addr[5] != '\0')
		return DIAL_UNIX;
	if((strncmp(addr, "tcp!", 4) == 0 || strncmp(addr, "net!", 4) == 0) && addr[4] != '\0')
		return DIAL_TCP;
	if(strncmp(addr, "exec!", 5) == 0 && addr[5] != '\0')
		return DIAL_EXEC;
	if(strncmp(addr, "tls!", 4) == 0 && addr[4] != '\0')
		return DIAL_TLS;
	return -1;
}

const char *
addrpath(const char *addr)
{
	if(addrkind(addr) != DIAL_UNIX)
		return NULL;
	return addr + 5;
}

static int
unixaddr(const char *path, struct sockaddr_un *sa, char *err, size_t errlen)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if(strlen(path) >= sizeof sa->sun_path)
		return fail(err, errlen, "unix socket path too long: %s", path);
	strcpy(sa->sun_path, path);
	return 0;
}

/* Split tcp!host!port (or tls!, net!) into host and port; port defaults to 564. */
static int
tcpsplit(const char *addr, char *host, size_t hostlen, char *port, size_t portlen, char *err, size_t errlen)
{
	const char *h = addr + 4, *bang;
	size_t n;

	bang = strchr(h, '!');
	n = bang ? (size_t)(bang - h) : strlen(h);
	if(n == 0 || n >= hostlen)
		return fail(err, errlen, "bad host in address %s", addr);
	memcpy(host, h, n);
	host[n] = '\0';
	if(bang == NULL)
		snprintf(port, portlen, "564");
	else{
		if(bang[1] == '\0' || strlen(bang + 1) >= portlen || strchr(bang + 1, '!'))
			return fail(err, errlen, "bad port in address %s", addr);
		snprintf(port, portlen, "%s", bang + 1);
	}
	return 0;
}

/* getaddrinfo's failure r, naming the part of addr that is wrong where it can tell. */
static int
gaifail(char *err, size_t errlen, const char *what, const char *addr, const char *host, const char *port, int r)
{
	if(r == EAI_SERVICE)
		return fail(err, errlen, "%s %s: bad port \"%s\": not a number or a service in /etc/services",
			what, addr, port);
	if(r == EAI_NONAME)
		return fail(err, errlen, "%s %s: unknown host \"%s\"", what, addr, host);
	return fail(err, errlen, "%s %s: host \"%s\": %s", what, addr, host, gai_strerror(r));
}

static int
dialunix(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd;

	if(unixaddr(addr + 5, &sa, err, errlen) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0);
	if(fd < 0)
		return fail(err, errlen, "socket: %s", strerror(errno));
	if(connect(fd, (struct sockaddr*)&sa, sizeof sa) < 0){
		fail(err, errlen, "dial %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
dialtcp(const char *addr, char *err, size_t errlen)
{
	char host[256], port[32];
	struct addrinfo hints, *res, *ai;
	int fd, r, one, saved;

	if(tcpsplit(addr, host, sizeof host, port, sizeof port, err, errlen) < 0)
		return -1;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(host, port, &hints, &res);
	if(r != 0)
		return gaifail(err, errlen, "dial", addr, host, port, r);
	fd = -1;
	saved = 0;
	for(ai = res; ai != NULL; ai = ai->ai_next){
		fd = socket(ai->ai_family, ai->ai_socktype|SOCK_CLOEXEC, ai->ai_protocol);
		if(fd < 0){
			saved = errno;
			continue;
		}
		if(connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if(fd < 0)
		return fail(err, errlen, "dial %s: %s", addr, strerror(saved));
	/* 9P is request-response: never hold a small message back */
	one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int
dialexec(const char *addr, pid_t *pid, char *err, size_t errlen)
{
	int sv[2];
	pid_t p;

	if(socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, sv) < 0)
		return fail(err, errlen, "socketpair: %s", strerror(errno));
	p = fork();
	if(p < 0){
		close(sv[0]);
		close(sv[1]);
		return fail(err, errlen, "fork: %s", strerror(errno));
	}
	if(p == 0){
		sigset_t all;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		if(dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", addr + 5, (char*)NULL);
		_exit(127);
	}
	close(sv[1]);
	if(pid)
		*pid = p;
	return sv[0];
}

int
addrhost(const char *addr, char *host, size_t len)
{
	char port[32];

	if(addrkind(addr) != DIAL_TCP && addrkind(addr) != DIAL_TLS)
		return -1;
	return tcpsplit(addr, host, len, port, sizeof port, NULL, 0);
}

static int
dial1(const char *addr, pid_t *pid, int raw, char *err, size_t errlen)
{
	if(pid)
		*pid = -1;
	switch(addrkind(addr)){
	case DIAL_UNIX:
		return dialunix(addr, err, errlen);
	case DIAL_TCP:
		return dialtcp(addr, err, errlen);
	case DIAL_EXEC:
		return dialexec(addr, pid, err, errlen);
	case DIAL_TLS:
		if(raw)
			return dialtcp(addr, err, errlen);
		return fail(err, errlen, "dial %s: a tls! address needs TLS, which this caller does not do", addr);
	}
	return fail(err, errlen, "bad address %s: want unix!path, tcp!host!port, tls!host!port or exec!command", addr);
}

int
dialpid(const char *addr, pid_t *pid, char *err, size_t errlen)
{
	return dial1(addr, pid, 0, err, errlen);
}

int
dial(const char *addr, char *err, size_t errlen)
{
	return dial1(addr, NULL, 0, err, errlen);
}

int
dialraw(const char *addr, char *err, size_t errlen)
{
	return dial1(addr, NULL, 1, err, errlen);
}

static int
announceunix(const char *addr, int mode, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, probe;

	if(unixaddr(addr + 5, &sa, err, errlen) < 0)
		return -1;
	/* replace a socket left by a dead server, never a live one or a file */
	if(lstat(sa.sun_path, &st) == 0){
		if(!S_ISSOCK(st.st_mode))
			return fail(err, errlen, "announce %s: exists and is not a socket", addr);
		probe = dialunix(addr, NULL, 0);
		if(probe >= 0){
			close(probe);
			return fail(err, errlen, "announce %s: address in use", addr);
		}
		unlink(sa.sun_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0);
	if(fd < 0)
		return fail(err, errlen, "socket: %s", strerror(errno));
	if(bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0){
		fail(err, errlen, "announce %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	/* nobody can connect before listen, so this chmod has no window */
	if(chmod(sa.sun_path, (mode_t)(mode ? mode : 0600)) < 0 || listen(fd, 512) < 0){
		fail(err, errlen, "announce %s: %s", addr, strerror(errno));
		unlink(sa.sun_path);
		close(fd);
		return -1;
	}
	return fd;
}

static int
announcetcp(const char *addr, char *err, size_t errlen)
{
	char host[256], port[32];
	struct addrinfo hints, *res, *ai;
	int fd, r, one, saved;

	if(tcpsplit(addr, host, sizeof host, port, sizeof port, err, errlen) < 0)
		return -1;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	r = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints, &res);
	if(r != 0)
		return gaifail(err, errlen, "announce", addr, host, port, r);
	fd = -1;
	saved = 0;
	for(ai = res; ai != NULL; ai = ai->ai_next){
		fd = socket(ai->ai_family, ai->ai_socktype|SOCK_CLOEXEC, ai->ai_protocol);
		if(fd < 0){
			saved = errno;
			continue;
		}
		one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if(bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 512) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if(fd < 0)
		return fail(err, errlen, "announce %s: %s", addr, strerror(saved));
	return fd;
}

static int
announce1(const char *addr, int mode, int raw, char *err, size_t errlen)
{
	switch(addrkind(addr)){
	case DIAL_UNIX:
		return announceunix(addr, mode, err, errlen);
	case DIAL_TCP:
		return announcetcp(addr, err, errlen);
	case DIAL_TLS:
		if(raw)
			return announcetcp(addr, err, errlen);
		return fail(err, errlen, "announce %s: a tls! address needs TLS, which this caller does not do", addr);
	}
	return fail(err, errlen, "bad address %s: want unix!path, tcp!host!port or tls!host!port", addr);
}

int
announce(const char *addr, int mode, char *err, size_t errlen)
{
	return announce1(addr, mode, 0, err, errlen);
}

int
announceraw(const char *addr, int mode, char *err, size_t errlen)
{
	return announce1(addr, mode, 1, err, errlen);
}

int
nsdir(char *buf, size_t len)
{
	const char *ns, *user, *disp;
	struct passwd pwbuf, *pw;
	char d[256], pwstr[1024];
	size_t n;
	int r;

	ns = getenv("NAMESPACE");
	if(ns != NULL && ns[0] != '\0'){
		r = snprintf(buf, len, "%s", ns);
		return r < 0 || (size_t)r >= len ? -1 : 0;
	}
	/* the login name, as plan9port's getns takes it: $USER is often unset or stale */
	pw = NULL;
	if(getpwuid_r(getuid(), &pwbuf, pwstr, sizeof pwstr, &pw) != 0)
		pw = NULL;
	user = pw != NULL ? pw->pw_name : getenv("USER");
	if(user == NULL || user[0] == '\0')
		user = "none";
	disp = getenv("DISPLAY");
	if(disp == NULL || disp[0] == '\0')
		disp = ":0";
	snprintf(d, sizeof d, "%s", disp);
	n = strlen(d);
	/* plan9port drops a trailing screen number: :0.0 names the same display as :0 */
	if(n > 2 && strcmp(d + n - 2, ".0") == 0)
		d[n - 2] = '\0';
	r = snprintf(buf, len, "/tmp/ns.%s.%s", user, d);
	return r < 0 || (size_t)r >= len ? -1 : 0;
}

int
fdnonblock(int fd, int on)
{
	int fl;

	fl = fcntl(fd, F_GETFL);
	if(fl < 0)
		return -1;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl);
}

int
fdsndbuf(int fd, int bytes)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int v, type;

	len = sizeof ss;
	if(getsockname(fd, (struct sockaddr*)&ss, &len) < 0)
		return errno == ENOTSOCK ? 0 : -1;
	len = sizeof type;
	if(ss.ss_family != AF_UNIX || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return 0;
	if(bytes > 0){
		v = bytes / 2;	/* the kernel doubles what it is asked, for its bookkeeping */
		if(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) < 0)
			return -1;
	}
	len = sizeof v;
	if(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len) < 0)
		return -1;
	return v;
}
