/*
 * Connections to the control tree (-x): each a Synconn of ctl.c's
 * server, read and written on the loop as synfsd does in the tests of
 * libsynfs: whole requests fed, replies written at once, and a client
 * that does not read its replies is not read either until it does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "log.h"
#include "synfs.h"
#include "9mux.h"

enum {
	MAXCTL		= 64,		/* control connections at once */
	NIOVCTL		= 16,
};

typedef struct Ctl Ctl;
struct Ctl {
	Ev		ev;
	int		fd;
	unsigned	id;		/* in log lines: ctl3 */
	uint32_t	events;
	Synconn		*sc;
	uint8_t		*buf;
	size_t		len;
	size_t		cap;
	int		again;		/* its queue drained below the limit: serve what is buffered */
	Ctl		*next;
	Ctl		*prev;
};

static struct {
	Ctl		*conns;
	int		nconns;
	unsigned	nextid;
} ctl;

void
ctlwake(void *aux, int what)
{
	Ctl *k;

	k = aux;
	if(what == SYN_WIN)
		k->again = 1;
}

static void
ctlclose(Ctl *k, const char *why)
{
	logmsg(LOG_CONN, "ctl%u: %s", k->id, why);
	epoll_ctl(g.ep, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	synconnclose(k->sc);
	if(k->prev)
		k->prev->next = k->next;
	else
		ctl.conns = k->next;
	if(k->next)
		k->next->prev = k->prev;
	ctl.nconns--;
	free(k->buf);
	free(k);
}

void
ctlaccept(Lis *l, int fd)
{
	Ctl *k;

	if(ctlfs() == NULL){
		logerror("control connection on %s: out of memory", l->addr);
		close(fd);
		return;
	}
	if(ctl.nconns >= MAXCTL){
		logmsg(LOG_CONN, "refused a control connection on %s: %d already", l->addr, ctl.nconns);
		close(fd);
		return;
	}
	if((k = calloc(1, sizeof *k)) == NULL || (k->sc = synconnnew(ctlfs(), k)) == NULL){
		logerror("control connection on %s: out of memory", l->addr);
		free(k);
		close(fd);
		return;
	}
	k->ev.kind = KCTL;
	k->fd = fd;
	k->id = ++ctl.nextid;
	if(addev(fd, &k->ev, EPOLLIN) < 0){
		logerror("control connection on %s: epoll: %s", l->addr, strerror(errno));
		synconnclose(k->sc);
		free(k);
		close(fd);
		return;
	}
	k->events = EPOLLIN;
	k->next = ctl.conns;
	if(ctl.conns)
		ctl.conns->prev = k;
	ctl.conns = k;
	ctl.nconns++;
	logmsg(LOG_CONN, "ctl%u connected on %s", k->id, l->addr);
}

/* Write what k's queue holds: 0, or -1 if k is gone. */
static int
ctlflush(Ctl *k)
{
	struct iovec iov[NIOVCTL];
	Synq *q;
	ssize_t w;
	int n;

	q = synconnq(k->sc);
	while((n = synqiov(q, iov, NIOVCTL)) > 0){
		w = writev(k->fd, iov, n);
		if(w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		synqadvance(q, (size_t)w);
	}
	return 0;
}

/* Answer the whole requests buffered, writing as it goes: 0, or -1 (why says why) if k must go. */
static int
ctlserve(Ctl *k, char *why, size_t len)
{
	long n;

	do{
		k->again = 0;
		if(k->len == 0 || synconnblocked(k->sc))
			n = 0;
		else if((n = synconnin(k->sc, k->buf, k->len, why, len)) < 0)
			return -1;
		memmove(k->buf, k->buf + n, k->len - (size_t)n);
		k->len -= (size_t)n;
		if(ctlflush(k) < 0){
			snprintf(why, len, "%s", strerror(errno));
			return -1;
		}
	}while(k->again);
	return 0;
}

/* Read what k sent: 0, or -1 (why says why) if k is gone. */
static int
ctlread(Ctl *k, char *why, size_t len)
{
	uint8_t *p;
	size_t want;
	ssize_t r;

	want = synconnmsize(k->sc);
	if(k->cap < want){
		if((p = realloc(k->buf, want)) == NULL){
			snprintf(why, len, "out of memory");
			return -1;
		}
		k->buf = p;
		k->cap = want;
	}
	if(k->len == k->cap)
		return 0;
	r = read(k->fd, k->buf + k->len, k->cap - k->len);
	if(r == 0){
		snprintf(why, len, "hung up");
		return -1;
	}
	if(r < 0){
		if(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		snprintf(why, len, "%s", strerror(errno));
		return -1;
	}
	k->len += (size_t)r;
	return 0;
}

void
ctlevent(Ev *ev, uint32_t events)
{
	char why[256];
	uint32_t want;
	Ctl *k;

	k = (Ctl*)ev;
	if((events & EPOLLOUT) && ctlflush(k) < 0){
		ctlclose(k, strerror(errno));
		return;
	}
	/* one that does not read its replies is not read either */
	if((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !synconnblocked(k->sc) && ctlread(k, why, sizeof why) < 0){
		ctlclose(k, why);
		return;
	}
	if(ctlserve(k, why, sizeof why) < 0){
		ctlclose(k, why);
		return;
	}
	want = synconnblocked(k->sc) ? 0 : EPOLLIN;
	if(!synqempty(synconnq(k->sc)))
		want |= EPOLLOUT;
	setev(k->fd, &k->ev, &k->events, want);
}

void
ctlfree(void)
{
	while(ctl.conns != NULL)
		ctlclose(ctl.conns, "9mux exiting");
	ctlfsfree();
}
