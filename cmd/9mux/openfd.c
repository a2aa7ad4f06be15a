/*
 * Topenfd (plan9port's 9pserve extension): after a client's Ropenfd
 * goes one byte carrying a descriptor, one end of a socket pair; 9mux
 * keeps the other and moves the file's bytes across it: what it reads
 * of the file (nmfdread) it writes into the pair, what it reads from
 * the pair it writes to the file (nmfdwrite), one request at a time
 * each way, until the file ends, the client closes its end, or either
 * fails.  plan9port's 9p readfd and writefd, and fsopenfd, use this.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "9p.h"
#include "dial.h"
#include "log.h"
#include "9mux.h"

struct Fdc {
	Ev		ev;
	int		fd;
	Nmfd		*nf;
	uint32_t	events;
	int		rd;		/* the file is read into the pair */
	int		wr;		/* the pair is written to the file */
	int		rdone;		/* the file ended, or its reader failed */
	int		wdone;		/* the client closed its end for writing */
	int		reading;	/* an nmfdread in flight */
	int		writing;	/* an nmfdwrite in flight */
	uint8_t		*buf;		/* file bytes not yet in the pair */
	size_t		len;
	size_t		off;
	int		dead;
	Fdc		*next;		/* freed after the loop turn */
};

static Fdc *grave;

/* Send nf's descriptor after c's Ropenfd: 1 if done (sent or given up), 0 to try again when c is writable. */
int
fdsend(Conn *c)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	Nmfd *nf;
	Fdc *f;
	int sv[2];

	nf = c->fdnext;
	if(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0){
		logerror("%s %s: openfd: socketpair: %s", c->name, c->who, strerror(errno));
		sv[0] = sv[1] = -1;
	}
	/* the client waits for the byte whatever happens: without a pair it gets none, and its recvmsg fails */
	memset(&msg, 0, sizeof msg);
	byte = 0;
	iov.iov_base = &byte;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if(sv[1] >= 0){
		memset(cbuf, 0, sizeof cbuf);
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof cbuf;
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &sv[1], sizeof(int));
	}
	if(sendmsg(c->fd, &msg, MSG_NOSIGNAL) < 0){
		if(sv[0] >= 0){
			close(sv[0]);
			close(sv[1]);
		}
		if(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		nmfdclose(nf);
		c->fdnext = NULL;
		return 1;
	}
	c->fdnext = NULL;
	if(sv[1] < 0){
		nmfdclose(nf);
		return 1;
	}
	close(sv[1]);
	fdnonblock(sv[0], 1);
	if((f = calloc(1, sizeof *f)) == NULL){
		close(sv[0]);
		nmfdclose(nf);
		return 1;
	}
	f->ev.kind = KFD;
	f->fd = sv[0];
	f->nf = nf;
	f->rd = nmfdmode(nf) != P9_OWRITE;
	f->wr = nmfdmode(nf) != P9_OREAD;
	f->rdone = !f->rd;
	f->wdone = !f->wr;
	f->events = f->wr ? EPOLLIN : 0;
	if(addev(f->fd, &f->ev, f->events) < 0){
		close(f->fd);
		free(f);
		nmfdclose(nf);
		return 1;
	}
	nmfdsetaux(nf, f);
	logmsg(LOG_CONN, "%s %s: openfd: a descriptor for %s", c->name, c->who,
		f->rd && f->wr ? "reading and writing" : f->rd ? "reading" : "writing");
	if(f->rd && nmfdread(nf, nmfdiounit(nf)) == 0)
		f->reading = 1;
	else if(f->rd)
		f->rdone = 1;
	return 1;
}

/* f is done: its pair closed, its file let go; freed after the loop turn. */
static void
fdcend(Fdc *f)
{
	if(f->dead)
		return;
	f->dead = 1;
	epoll_ctl(g.ep, EPOLL_CTL_DEL, f->fd, NULL);
	close(f->fd);
	f->fd = -1;
	nmfdclose(f->nf);
	f->nf = NULL;
	free(f->buf);
	f->buf = NULL;
	f->next = grave;
	grave = f;
}

/* Both ways done: the end; else what f waits for. */
static void
fdcwant(Fdc *f)
{
	uint32_t want;

	if(f->dead)
		return;
	if(f->rdone && f->wdone && !f->writing){
		fdcend(f);
		return;
	}
	want = 0;
	if(f->wr && !f->wdone && !f->writing)
		want |= EPOLLIN;
	if(f->len > f->off)
		want |= EPOLLOUT;
	setev(f->fd, &f->ev, &f->events, want);
}

/* Put what was read of the file into the pair; once it is all in, read on. */
static void
fdcflush(Fdc *f)
{
	ssize_t w;

	while(f->len > f->off){
		w = write(f->fd, f->buf + f->off, f->len - f->off);
		if(w < 0 && errno == EINTR)
			continue;
		if(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if(w <= 0){
			/* the client closed its end: nobody reads the file any more */
			f->len = f->off = 0;
			f->rdone = 1;
			shutdown(f->fd, SHUT_WR);
			return;
		}
		f->off += (size_t)w;
	}
	f->len = f->off = 0;
	if(!f->rdone && !f->reading){
		if(nmfdread(f->nf, nmfdiounit(f->nf)) == 0)
			f->reading = 1;
		else
			f->rdone = 1;
	}
}

void
fdevent(void *aux, int what, const uint8_t *p, size_t n)
{
	uint8_t *b;
	Fdc *f;

	f = aux;
	if(f->dead)
		return;
	switch(what){
	case NM_FDDATA:
		f->reading = 0;
		if(n == 0){
			/* the end of the file: the client reads the end of its descriptor */
			f->rdone = 1;
			shutdown(f->fd, SHUT_WR);
			break;
		}
		if((b = realloc(f->buf, n)) == NULL){
			fdcend(f);
			return;
		}
		f->buf = b;
		memcpy(f->buf, p, n);
		f->len = n;
		f->off = 0;
		fdcflush(f);
		break;
	case NM_FDWROTE:
		f->writing = 0;
		break;
	default:
		fdcend(f);
		return;
	}
	fdcwant(f);
}

/* An event of f's descriptor. */
void
fdcio(Ev *ev, uint32_t events)
{
	uint8_t buf[BUFSZ];
	uint32_t max;
	ssize_t r;
	Fdc *f;

	f = (Fdc*)ev;
	if(f->dead)
		return;
	if(events & EPOLLOUT)
		fdcflush(f);
	if(f->wr && !f->wdone && !f->writing && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))){
		max = nmfdiounit(f->nf);
		r = read(f->fd, buf, max < sizeof buf ? max : sizeof buf);
		if(r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			f->wdone = 1;
		else if(r > 0){
			if(nmfdwrite(f->nf, buf, (size_t)r) == 0)
				f->writing = 1;
			else{
				fdcend(f);
				return;
			}
		}
	}else if(!f->wr && (events & (EPOLLHUP | EPOLLERR)))
		f->rdone = 1;
	fdcwant(f);
}

void
fdcreap(void)
{
	Fdc *f;

	while((f = grave) != NULL){
		grave = f->next;
		free(f);
	}
}
