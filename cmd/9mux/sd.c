/*
 * systemd: the listening sockets it passes (socket activation) and
 * what it is told (readiness), by the documented protocols of
 * sd_listen_fds(3) and sd_notify(3) rather than libsystemd, which
 * would be a dependency for some forty lines.
 *
 * LISTEN_PID names the process the sockets are for, LISTEN_FDS how
 * many there are from descriptor 3 on, LISTEN_FDNAMES their names
 * (FileDescriptorName= of each socket unit) separated by ':'.  A name
 * gives the socket's role: client (as -a), link (-l), reverse (-r;
 * reverse=NAME as -r NAME=), ctl (-x); none, or one unknown, serves
 * clients.  NOTIFY_SOCKET is a datagram socket, a path or '@' and a
 * name in the abstract namespace, told READY=1 and STOPPING=1.  Each
 * variable is unset once read, so that exec! upstreams do not take the
 * sockets or the notifications for theirs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "dial.h"
#include "log.h"
#include "9mux.h"

static struct sockaddr_un notifyaddr;
static socklen_t notifylen;

static const char *rolenames[] = {
	[LCLIENT] = "clients", [LLINK] = "links", [LREVERSE] = "clients over a link", [LCTL] = "the control tree",
};

/* A whole decimal number from 0 to max: 0, or -1. */
static int
decimal(const char *s, long max, long *v)
{
	char *e;

	if(*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtol(s, &e, 10);
	return errno || *e != '\0' || *v > max ? -1 : 0;
}

int
sdrole(const char *name, size_t len, char *link, size_t linklen)
{
	link[0] = '\0';
	if(len == 6 && memcmp(name, "client", 6) == 0)
		return LCLIENT;
	if(len == 4 && memcmp(name, "link", 4) == 0)
		return LLINK;
	if(len == 3 && memcmp(name, "ctl", 3) == 0)
		return LCTL;
	if(len == 7 && memcmp(name, "reverse", 7) == 0)
		return LREVERSE;
	if(len > 8 && memcmp(name, "reverse=", 8) == 0 && len - 8 < linklen){
		memcpy(link, name + 8, len - 8);
		link[len - 8] = '\0';
		return LREVERSE;
	}
	return 0;
}

/* The i-th name in names (LISTEN_FDNAMES, or NULL): where it starts, and its length in *len (0: none). */
static const char *
nth(const char *names, long i, size_t *len)
{
	const char *p;

	*len = 0;
	if(names == NULL)
		return "";
	for(p = names; i > 0; i--){
		if((p = strchr(p, ':')) == NULL)
			return "";
		p++;
	}
	*len = strcspn(p, ":");
	return p;
}

/* What a socket is bound to, as an address: unix!/path, unix!@name, tcp!host!port. */
static void
sockaddrname(int fd, char *buf, size_t len, int *isunix, int *port)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *un;
	char host[INET6_ADDRSTRLEN];
	socklen_t sl;
	size_t n;

	*isunix = 0;
	*port = 0;
	sl = sizeof ss;
	memset(&ss, 0, sizeof ss);
	if(getsockname(fd, (struct sockaddr*)&ss, &sl) < 0){
		snprintf(buf, len, "fd %d", fd);
		return;
	}
	switch(ss.ss_family){
	case AF_UNIX:
		*isunix = 1;
		un = (struct sockaddr_un*)&ss;
		n = sl > offsetof(struct sockaddr_un, sun_path) ? sl - offsetof(struct sockaddr_un, sun_path) : 0;
		if(n > 0 && un->sun_path[0] == '\0')
			snprintf(buf, len, "unix!@%.*s", (int)(n - 1), un->sun_path + 1);
		else
			snprintf(buf, len, "unix!%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
		break;
	case AF_INET:
		inet_ntop(AF_INET, &((struct sockaddr_in*)&ss)->sin_addr, host, sizeof host);
		*port = ntohs(((struct sockaddr_in*)&ss)->sin_port);
		snprintf(buf, len, "tcp!%s!%d", host, *port);
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &((struct sockaddr_in6*)&ss)->sin6_addr, host, sizeof host);
		*port = ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
		snprintf(buf, len, "tcp![%s]!%d", host, *port);
		break;
	default:
		snprintf(buf, len, "fd %d", fd);
	}
}

/* Serve on fd, passed by systemd under name, in role (for -r, linkname); exits if it cannot. */
static void
take(int fd, const char *name, int role, const char *linkname)
{
	char addr[300];
	socklen_t len;
	int type, acc;
	Lis *l;

	if(g.nlis == MAXLISTEN)
		fatal("more than %d listening sockets", MAXLISTEN);
	len = sizeof type;
	if(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		fatal("socket %d from systemd (%s): %s", fd, name, strerror(errno));
	if(type != SOCK_STREAM)
		fatal("socket %d from systemd (%s) is not a stream socket: 9mux takes ListenStream= sockets", fd, name);
	len = sizeof acc;
	if(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0 || !acc)
		fatal("socket %d from systemd (%s) is not listening: 9mux takes sockets of Accept=no units "
			"(Accept=yes would start one 9mux for each client)", fd, name);
	if(fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fdnonblock(fd, 1) < 0)
		fatal("socket %d from systemd: %s", fd, strerror(errno));
	l = &g.lis[g.nlis++];
	l->ev.kind = KLISTEN;
	l->fd = fd;
	l->events = EPOLLIN;
	l->role = role;
	sockaddrname(fd, addr, sizeof addr, &l->isunix, &l->port);
	l->addr = strdup(addr);
	l->linkname = linkname && *linkname ? strdup(linkname) : NULL;
	/* the socket unit owns the file: it stays when 9mux stops, and clients queue on it */
	l->path = NULL;
	if(l->addr == NULL || (linkname && *linkname && l->linkname == NULL))
		fatal("out of memory");
	if(l->linkname)
		linknamed(l->linkname);
	if(addev(fd, &l->ev, EPOLLIN) < 0)
		fatal("epoll: %s", strerror(errno));
	logmsg(LOG_CONN, "socket %d from systemd, named %s: %s for %s", fd, *name ? name : "(none)", addr, rolenames[role]);
}

static void
notifyinit(const char *s)
{
	size_t n;

	if(s == NULL || *s == '\0')
		return;
	n = strlen(s);
	if((s[0] != '/' && s[0] != '@') || n >= sizeof notifyaddr.sun_path){
		logerror("NOTIFY_SOCKET=%s: want a /path or an @name; not notifying", s);
		return;
	}
	memset(&notifyaddr, 0, sizeof notifyaddr);
	notifyaddr.sun_family = AF_UNIX;
	memcpy(notifyaddr.sun_path, s, n);
	/* an abstract name is the bytes after a NUL, and its length says where it ends */
	if(s[0] == '@')
		notifyaddr.sun_path[0] = '\0';
	notifylen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

void
sdnotify(const char *state)
{
	int fd;

	if(notifylen == 0)
		return;
	/* never blocks the loop: a manager not reading misses a message, nothing else */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if(fd < 0){
		logerror("NOTIFY_SOCKET: %s", strerror(errno));
		return;
	}
	if(sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr*)&notifyaddr, notifylen) < 0)
		logerror("NOTIFY_SOCKET: telling %s: %s", state, strerror(errno));
	close(fd);
}

int
sdlisten(void)
{
	char *spid, *sfds, *names, link[256];
	const char *name;
	char label[64];
	size_t len;
	long pid, n, i;
	int role;

	notifyinit(getenv("NOTIFY_SOCKET"));
	unsetenv("NOTIFY_SOCKET");
	spid = getenv("LISTEN_PID");
	sfds = getenv("LISTEN_FDS");
	names = getenv("LISTEN_FDNAMES");
	spid = spid ? strdup(spid) : NULL;
	sfds = sfds ? strdup(sfds) : NULL;
	names = names ? strdup(names) : NULL;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	n = 0;
	if(spid == NULL || sfds == NULL)
		goto out;
	if(decimal(spid, INT_MAX, &pid) < 0 || pid != (long)getpid()){
		logmsg(LOG_CONN, "LISTEN_PID=%s is not this process (%d): its sockets are not taken", spid, (int)getpid());
		goto out;
	}
	if(decimal(sfds, MAXLISTEN, &n) < 0)
		fatal("LISTEN_FDS=%s: want a number of sockets from 0 to %d", sfds, MAXLISTEN);
	for(i = 0; i < n; i++){
		name = nth(names, i, &len);
		snprintf(label, sizeof label, "%.*s", (int)(len < 48 ? len : 48), name);
		if((role = sdrole(name, len, link, sizeof link)) == 0){
			if(len > 0)
				logerror("socket %ld from systemd is named %s, no role of 9mux's (client, link, reverse, ctl): it serves clients",
					3 + i, label);
			role = LCLIENT;
		}
		take((int)(3 + i), label, role, link);
	}
out:
	free(spid);
	free(sfds);
	free(names);
	return (int)n;
}
