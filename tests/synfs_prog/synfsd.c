/*
 * synfsd - a test-only server of a small synthetic tree with libsynfs,
 * one poll(2) loop over non-blocking sockets, the way 9mux is to serve
 * its control tree:
 *
 *	version		"synfsd 1"
 *	stats		the library's counters and clients_now, "key value" lines
 *	echo		what the last "echo" command said
 *	ctl		write-only: echo TEXT, kill N (drop client N), fail
 *	clients/N/	one per connected client: id, fd
 *	big		100000 bytes, for reads of many frames
 *
 *	synfsd [-D] [-m msize] [-q maxqueue] [-f maxfids] unix!/path
 *
 * Every ctl command is logged on standard error ("ctl: kill 3"), and -D
 * logs every frame.  SIGTERM stops it: exit 0.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "9p.h"
#include "dial.h"
#include "synfs.h"

enum {
	MAXCLIENTS	= 64,
	BIGLEN		= 100000,
	QROOT		= 1,
	QVERSION, QSTATS, QECHO, QCTL, QCLIENTS, QBIG,
	QCLIENT		= 1000,	/* client N: 1000 + 10N, its files +1 and +2 */
};

typedef struct Client Client;
struct Client {
	int		fd;
	int		id;
	Synconn		*c;
	uint8_t		*buf;
	size_t		len;
	size_t		cap;
	int		dead;
	int		again;		/* its queue drained: serve what is buffered */
};

static Client *clients[MAXCLIENTS];
static int nextid = 1;
static char echo[256];
static Synfs *fs;
static volatile sig_atomic_t stop;
static int debug;

static Client *
byid(int id)
{
	int i;

	for(i = 0; i < MAXCLIENTS; i++)
		if(clients[i] != NULL && !clients[i]->dead && clients[i]->id == id)
			return clients[i];
	return NULL;
}

static int
list(void *aux, const char *path, const char *want, Synlist *l)
{
	char name[16];
	Client *k;
	int i;

	(void)aux;
	(void)want;
	if(strcmp(path, "/") == 0){
		synadd(l, "version", QVERSION, 0444);
		synadd(l, "stats", QSTATS, 0444);
		synadd(l, "echo", QECHO, 0444);
		synadd(l, "ctl", QCTL, 0220);
		synadd(l, "clients", QCLIENTS, P9_DMDIR | 0555);
		synadd(l, "big", QBIG, 0444);
		return 0;
	}
	if(strcmp(path, "/clients") == 0){
		for(i = 0; i < MAXCLIENTS; i++)
			if((k = clients[i]) != NULL && !k->dead){
				snprintf(name, sizeof name, "%d", k->id);
				synadd(l, name, QCLIENT + 10 * (uint64_t)k->id, P9_DMDIR | 0555);
			}
		return 0;
	}
	if(strncmp(path, "/clients/", 9) == 0 && (k = byid(atoi(path + 9))) != NULL && strchr(path + 9, '/') == NULL){
		synadd(l, "id", QCLIENT + 10 * (uint64_t)k->id + 1, 0444);
		synadd(l, "fd", QCLIENT + 10 * (uint64_t)k->id + 2, 0444);
		return 0;
	}
	return -1;
}

static const char *
readfile(void *aux, const char *path, uint64_t qid, Synbuf *b)
{
	const Synstats *st;
	Client *k;
	int i, n;

	(void)aux;
	switch(qid){
	case QVERSION:
		synprint(b, "synfsd 1\n");
		return NULL;
	case QSTATS:
		st = synstats(fs);
		for(n = i = 0; i < MAXCLIENTS; i++)
			n += clients[i] != NULL && !clients[i]->dead;
		synprint(b, "conns %llu\nclients_now %d\nrequests %llu\nerrors %llu\nbytes_in %llu\nbytes_out %llu\n",
			(unsigned long long)st->conns, n, (unsigned long long)st->requests,
			(unsigned long long)st->errors, (unsigned long long)st->bytesin,
			(unsigned long long)st->bytesout);
		return NULL;
	case QECHO:
		synprint(b, "%s", echo);
		return NULL;
	case QBIG:
		for(i = 0; i < BIGLEN / 10; i++)
			synprint(b, "%09d\n", i);
		return NULL;
	}
	/* clients/N/id and clients/N/fd */
	if((k = byid(atoi(path + 9))) == NULL)
		return "client gone";
	synprint(b, "%d\n", (qid - QCLIENT) % 10 == 1 ? k->id : k->fd);
	return NULL;
}

static const char *
writefile(void *aux, const char *path, uint64_t qid, const char *text, size_t n)
{
	static char err[300];
	char cmd[256];
	Client *k;
	size_t m;

	(void)aux;
	(void)path;
	(void)qid;
	m = n < sizeof cmd - 1 ? n : sizeof cmd - 1;
	memcpy(cmd, text, m);
	cmd[m] = 0;
	cmd[strcspn(cmd, "\n")] = 0;
	fprintf(stderr, "ctl: %s\n", cmd);
	if(strncmp(cmd, "echo ", 5) == 0){
		snprintf(echo, sizeof echo, "%s\n", cmd + 5);
		return NULL;
	}
	if(strncmp(cmd, "kill ", 5) == 0){
		if((k = byid(atoi(cmd + 5))) == NULL)
			return "no such client";
		k->dead = 1;	/* closed after this round, not under the library's feet */
		return NULL;
	}
	snprintf(err, sizeof err, "unknown command: %s", cmd);
	return err;
}

static void
trace(void *connaux, int where, const uint8_t *frame, size_t len, int dialect)
{
	Client *k;
	Fcall f;
	char line[256];

	k = connaux;
	if(p9decode(frame, len, UINT32_MAX, dialect, &f) < 0){
		fprintf(stderr, "%d %s bad frame of %zu bytes\n", k->id, where == SYN_TIN ? "<-" : "->", len);
		return;
	}
	p9fmt(line, sizeof line, &f, dialect);
	fprintf(stderr, "%d %s %s\n", k->id, where == SYN_TIN ? "<-" : "->", line);
}

static void
wake(void *connaux, int what)
{
	Client *k;

	k = connaux;
	if(what == SYN_WIN)
		k->again = 1;
}

static void
onterm(int sig)
{
	(void)sig;
	stop = 1;
}

static void
drop(int i)
{
	Client *k;

	k = clients[i];
	synconnclose(k->c);
	close(k->fd);
	free(k->buf);
	free(k);
	clients[i] = NULL;
}

static void
accept1(int lfd)
{
	Client *k;
	int fd, i;

	if((fd = accept(lfd, NULL, NULL)) < 0)
		return;
	for(i = 0; i < MAXCLIENTS && clients[i] != NULL; i++)
		;
	if(i == MAXCLIENTS || fdnonblock(fd, 1) < 0 || (k = calloc(1, sizeof *k)) == NULL){
		close(fd);
		return;
	}
	k->fd = fd;
	k->id = nextid++;
	if((k->c = synconnnew(fs, k)) == NULL){
		close(fd);
		free(k);
		return;
	}
	clients[i] = k;
}

/* Write what the client's queue holds: 0, or -1 if the client is gone. */
static int
flush(Client *k)
{
	struct iovec iov[64];
	Synq *q;
	ssize_t w;
	int n;

	q = synconnq(k->c);
	while((n = synqiov(q, iov, 64)) > 0){
		w = writev(k->fd, iov, n);
		if(w < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		synqadvance(q, (size_t)w);
	}
	return 0;
}

/* Serve the whole frames buffered: 0, or -1 if the stream is bad or the client gone. */
static int
serve(Client *k)
{
	char err[256];
	long n;

	/* writing the replies may let it take more of what is buffered (wake) */
	do{
		k->again = 0;
		n = synconnin(k->c, k->buf, k->len, err, sizeof err);
		if(n < 0){
			fprintf(stderr, "client %d: %s\n", k->id, err);
			return -1;
		}
		memmove(k->buf, k->buf + n, k->len - (size_t)n);
		k->len -= (size_t)n;
		if(flush(k) < 0)
			return -1;
	}while(k->again);
	return 0;
}

/* Read and serve: 0, or -1 if the client is gone or its stream is bad. */
static int
input(Client *k)
{
	uint8_t *p;
	size_t want;
	ssize_t r;

	want = synconnmsize(k->c);
	if(k->cap < want){
		if((p = realloc(k->buf, want)) == NULL)
			return -1;
		k->buf = p;
		k->cap = want;
	}
	if(k->len < k->cap){
		r = read(k->fd, k->buf + k->len, k->cap - k->len);
		if(r == 0)
			return -1;
		if(r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		k->len += (size_t)r;
	}
	return serve(k);
}

static void
usage(void)
{
	fprintf(stderr, "usage: synfsd [-D] [-m msize] [-q maxqueue] [-f maxfids] unix!/path\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct pollfd pfd[MAXCLIENTS + 1];
	int who[MAXCLIENTS + 1];
	struct sigaction sa;
	Synconf conf;
	char err[256];
	Client *k;
	int lfd, c, i, n;

	memset(&conf, 0, sizeof conf);
	while((c = getopt(argc, argv, "Dm:q:f:")) != -1){
		switch(c){
		case 'D':
			debug = 1;
			break;
		case 'm':
			conf.msize = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'q':
			conf.maxqueue = strtoul(optarg, NULL, 0);
			break;
		case 'f':
			conf.maxfids = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if(argc - optind != 1)
		usage();
	conf.list = list;
	conf.read = readfile;
	conf.write = writefile;
	conf.rootqid = QROOT;
	conf.uid = "synfsd";
	conf.nuid = (uint32_t)getuid();
	conf.mtime = 1700000000;
	conf.wake = wake;
	if(debug)
		conf.trace = trace;
	if((fs = synnew(&conf)) == NULL){
		fprintf(stderr, "synfsd: out of memory\n");
		return 1;
	}
	if((lfd = announce(argv[optind], 0, err, sizeof err)) < 0){
		fprintf(stderr, "synfsd: %s\n", err);
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onterm;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "synfsd: serving %s\n", argv[optind]);
	while(!stop){
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		n = 1;
		for(i = 0; i < MAXCLIENTS; i++){
			if((k = clients[i]) == NULL)
				continue;
			pfd[n].fd = k->fd;
			/* a client that does not read its replies is not read either */
			pfd[n].events = synconnblocked(k->c) ? 0 : POLLIN;
			if(!synqempty(synconnq(k->c)))
				pfd[n].events |= POLLOUT;
			who[n++] = i;
		}
		if(poll(pfd, (nfds_t)n, -1) < 0){
			if(errno == EINTR)
				continue;
			break;
		}
		for(i = 1; i < n; i++){
			k = clients[who[i]];
			if(pfd[i].revents & POLLOUT && flush(k) < 0)
				k->dead = 1;
			if(!k->dead && k->again){
				k->again = 0;
				if(serve(k) < 0)
					k->dead = 1;
			}
			if(!k->dead && pfd[i].revents & (POLLIN | POLLHUP | POLLERR) && input(k) < 0)
				k->dead = 1;
		}
		/* after everyone's round: ctl kill may have named any client */
		for(i = 0; i < MAXCLIENTS; i++)
			if(clients[i] != NULL && clients[i]->dead)
				drop(i);
		if(pfd[0].revents & POLLIN)
			accept1(lfd);
	}
	for(i = 0; i < MAXCLIENTS; i++)
		if(clients[i] != NULL)
			drop(i);
	synfree(fs);
	close(lfd);
	unlink(argv[optind] + 5);
	fprintf(stderr, "synfsd: stopped\n");
	return 0;
}
