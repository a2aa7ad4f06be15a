/*
 * Listeners: accepting clients (-a, -n), peer links (-l) and clients
 * carried back over a link (-r), and telling who a peer is.
 */
#define _GNU_SOURCE	/* struct ucred, accept4 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "dial.h"
#include "log.h"
#include "9mux.h"

/* The TCP port fd listens on: the one the kernel chose for port 0. */
static int
localport(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len;

	len = sizeof ss;
	if(getsockname(fd, (struct sockaddr*)&ss, &len) < 0)
		return 0;
	if(ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in*)&ss)->sin_port);
	if(ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
	return 0;
}

void
listen1(const char *addr, int mode, int role, const char *linkname)
{
	char err[256];
	Lis *l;
	int fd;

	if(g.nlis == MAXLISTEN)
		fatal("too many listen addresses");
	if(addrkind(addr) != DIAL_UNIX && addrkind(addr) != DIAL_TCP && addrkind(addr) != DIAL_TLS)
		fatal("bad listen address %s: want unix!path, tcp!host!port or tls!host!port", addr);
	fd = announceraw(addr, mode, err, sizeof err);
	if(fd < 0){
		unlinkall();
		fatal("%s", err);
	}
	if(fdnonblock(fd, 1) < 0){
		unlinkall();
		fatal("%s: %s", addr, strerror(errno));
	}
	l = &g.lis[g.nlis++];
	l->ev.kind = KLISTEN;
	l->fd = fd;
	l->events = EPOLLIN;
	l->role = role;
	l->addr = strdup(addr);
	l->linkname = linkname ? strdup(linkname) : NULL;
	l->isunix = addrkind(addr) == DIAL_UNIX;
	l->istls = addrkind(addr) == DIAL_TLS;
	l->path = l->isunix ? strdup(addrpath(addr)) : NULL;
	l->port = l->isunix ? 0 : localport(fd);
	if(addev(fd, &l->ev, EPOLLIN) < 0){
		unlinkall();
		fatal("epoll: %s", strerror(errno));
	}
}

void
lispause(int pause)
{
	int i;

	g.lispaused = pause;
	for(i = 0; i < g.nlis; i++)
		if(g.lis[i].fd >= 0)
			setev(g.lis[i].fd, &g.lis[i].ev, &g.lis[i].events, pause ? 0 : EPOLLIN);
}

void
unlinkall(void)
{
	int i;

	for(i = 0; i < g.nlis; i++){
		if(g.lis[i].fd >= 0){
			epoll_ctl(g.ep, EPOLL_CTL_DEL, g.lis[i].fd, NULL);
			close(g.lis[i].fd);
			g.lis[i].fd = -1;
		}
		if(g.lis[i].path){
			unlink(g.lis[i].path);
			free(g.lis[i].path);
			g.lis[i].path = NULL;
		}
	}
}

/* Pin the session's uname to the login name of the peer on a unix socket: 0, or -1. */
static int
pin(Conn *c, int fd)
{
	struct ucred cr;
	socklen_t len;
	struct passwd pw, *res;
	char buf[4096];

	len = sizeof cr;
	if(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0){
		logerror("%s: SO_PEERCRED: %s", c->name, strerror(errno));
		return -1;
	}
	if(getpwuid_r(cr.uid, &pw, buf, sizeof buf, &res) != 0 || res == NULL){
		logerror("%s: no login name for uid %u", c->name, (unsigned)cr.uid);
		return -1;
	}
	if(nmsesspin(c->s, pw.pw_name, (uint32_t)cr.uid) < 0){
		logerror("%s: login name too long", c->name);
		return -1;
	}
	snprintf(c->who, sizeof c->who, "unix uid %u (%s)", (unsigned)cr.uid, pw.pw_name);
	return 0;
}

static void
peername(Conn *c, int fd, int isunix)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[INET6_ADDRSTRLEN];
	struct ucred cr;

	if(isunix){
		len = sizeof cr;
		if(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
			snprintf(c->who, sizeof c->who, "unix uid %u pid %d", (unsigned)cr.uid, (int)cr.pid);
		else
			snprintf(c->who, sizeof c->who, "unix");
		return;
	}
	len = sizeof ss;
	if(getpeername(fd, (struct sockaddr*)&ss, &len) < 0){
		snprintf(c->who, sizeof c->who, "tcp");
		return;
	}
	if(ss.ss_family == AF_INET){
		inet_ntop(AF_INET, &((struct sockaddr_in*)&ss)->sin_addr, host, sizeof host);
		snprintf(c->who, sizeof c->who, "tcp!%s!%u", host, ntohs(((struct sockaddr_in*)&ss)->sin_port));
	}else if(ss.ss_family == AF_INET6){
		inet_ntop(AF_INET6, &((struct sockaddr_in6*)&ss)->sin6_addr, host, sizeof host);
		snprintf(c->who, sizeof c->who, "tcp![%s]!%u", host, ntohs(((struct sockaddr_in6*)&ss)->sin6_port));
	}else
		snprintf(c->who, sizeof c->who, "tcp");
}

/* A client on l (-a, -n, -r): a session served by the upstream, or by a link for -r. */
static int
client(Lis *l, int fd)
{
	Conn *c;

	c = connnew(fd, CCLIENT);
	if(c == NULL)
		return -1;
	c->s = nmsessnewup(g.m, l->role == LREVERSE ? linkroute(l) : g.up.u, c);
	if(c->s == NULL){
		closeconn(c, "out of memory");
		return -1;
	}
	c->id = nmsessid(c->s);
	snprintf(c->name, sizeof c->name, "c%u", c->id);
	/* a descriptor can go over a unix socket only */
	if(l->isunix)
		nmsessopenfd(c->s);
	peername(c, fd, l->isunix);
	/* a client on a unix socket is read without waking it (batch.c) */
	if(l->isunix && !l->istls){
		peekstart(c);
		connwant(c);
	}
	g.nclients++;
	if(g.pinuser && l->isunix && pin(c, fd) < 0){
		closeconn(c, "cannot pin its uname");
		return -1;
	}
	ctlclient(c, l, fd);
	logmsg(LOG_CONN, "%s connected on %s from %s", c->name, l->addr, c->who);
	if(l->istls)
		tlsstart(c, TLS_LISTEN, NULL);
	return 0;
}

/* A peer linking to us on l (-l). */
static int
peer(Lis *l, int fd)
{
	Conn *c;

	c = connnew(fd, CLINK);
	if(c == NULL)
		return -1;
	c->id = ++g.nextid;
	snprintf(c->name, sizeof c->name, "link%u", c->id);
	peername(c, fd, l->isunix);
	logmsg(LOG_CONN, "%s linked on %s from %s", c->name, l->addr, c->who);
	/* over TLS its name is known once the handshake is done: tlsstep takes it from there */
	if(l->istls){
		tlsstart(c, TLS_LISTEN, NULL);	/* it closes c if it cannot */
		return 0;
	}
	if(linkaccept(c, NULL) < 0){
		closeconn(c, "out of memory");
		return -1;
	}
	return 0;
}

void
acceptall(Lis *l)
{
	int fd, one;

	for(;;){
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if(fd < 0){
			if(errno == EINTR || errno == ECONNABORTED)
				continue;
			if(errno == EMFILE || errno == ENFILE){
				/* the listener stays readable: without a pause the loop would spin */
				logerror("accept on %s: %s: %d clients; accepting again when one leaves",
					l->addr, strerror(errno), g.nclients);
				lispause(1);
				return;
			}
			if(errno != EAGAIN && errno != EWOULDBLOCK)
				logerror("accept on %s: %s", l->addr, strerror(errno));
			return;
		}
		if(l->role == LCTL){
			ctlaccept(l, fd);
			continue;
		}
		if(l->role != LLINK && g.nclients >= g.maxclients){
			ctlrefused();
			logmsg(LOG_CONN, "refused a client on %s: %d clients already", l->addr, g.nclients);
			close(fd);
			continue;
		}
		if(!l->isunix){
			one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		}
		if((l->role == LLINK ? peer(l, fd) : client(l, fd)) < 0)
			logerror("accept on %s: out of memory", l->addr);
	}
}
