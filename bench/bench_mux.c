/*
 * bench_mux - RPCs per second through libmux over one connection, with
 * 1, 8 and 64 threads, against one connection per thread used in
 * lock-step (write a request, read its reply), measured in the same run
 * against the same server: one process answering at once on every
 * connection it has.
 *
 *	bench_mux [-s seconds-per-point] [-o outdir]
 *
 * Prints a table; writes outdir/mux.dat and outdir/mux.gp, and
 * outdir/mux.png when gnuplot is there (outdir: $NINEMUX_BUILD/bench,
 * build/bench without it).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "mux.h"

enum {
	Msize	= 16,		/* tag[4] seq[4] pad[8] */
	Maxconn	= 64,
	Trials	= 3,
};

static const int nthreads[] = {1, 8, 64};

static int
writen(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;
	ssize_t w;

	while(n > 0){
		w = write(fd, b, n);
		if(w < 0 && errno == EINTR)
			continue;
		if(w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
readn(int fd, void *p, size_t n)
{
	unsigned char *b = p;
	ssize_t r;

	while(n > 0){
		r = read(fd, b, n);
		if(r < 0 && errno == EINTR)
			continue;
		if(r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- the server: answer every whole message at once, on every fd ---- */

static void
serve(int *fds, int n)
{
	struct pollfd pf[Maxconn];
	static unsigned char buf[Maxconn][65536];
	size_t have[Maxconn];
	ssize_t k;
	size_t whole;
	int i, live;

	for(i = 0; i < n; i++){
		pf[i].fd = fds[i];
		pf[i].events = POLLIN;
		have[i] = 0;
	}
	live = n;
	while(live > 0){
		if(poll(pf, (nfds_t)n, -1) < 0)
			continue;
		for(i = 0; i < n; i++){
			if(pf[i].fd < 0 || !(pf[i].revents & (POLLIN|POLLHUP|POLLERR)))
				continue;
			k = read(pf[i].fd, buf[i] + have[i], sizeof buf[i] - have[i]);
			if(k <= 0){
				close(pf[i].fd);
				pf[i].fd = -1;
				live--;
				continue;
			}
			have[i] += (size_t)k;
			whole = have[i] - have[i] % Msize;
			/* the reply is the request: the same tag and sequence */
			if(whole > 0 && writen(pf[i].fd, buf[i], whole) < 0)
				_exit(1);
			memmove(buf[i], buf[i] + whole, have[i] - whole);
			have[i] -= whole;
		}
	}
	_exit(0);
}

/* n connections to a new server process; the client ends in fds. */
static pid_t
startserver(int *fds, int n)
{
	int sv[Maxconn][2], srv[Maxconn], i;
	pid_t pid;

	for(i = 0; i < n; i++)
		if(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) < 0){
			perror("socketpair");
			exit(1);
		}
	pid = fork();
	if(pid < 0){
		perror("fork");
		exit(1);
	}
	if(pid == 0){
		for(i = 0; i < n; i++){
			close(sv[i][0]);
			srv[i] = sv[i][1];
		}
		serve(srv, n);
	}
	for(i = 0; i < n; i++){
		close(sv[i][1]);
		fds[i] = sv[i][0];
	}
	return pid;
}

static void
stopserver(pid_t pid, int *fds, int n)
{
	int i, st;

	for(i = 0; i < n; i++)
		close(fds[i]);
	waitpid(pid, &st, 0);
}

/* ---- libmux hooks ---- */

typedef struct Conn Conn;
struct Conn
{
	int	fd;
	unsigned char	buf[65536];
	size_t	off;
	size_t	n;
};

static int
bsettag(Mux *mux, void *msg, uint tag)
{
	(void)mux;
	memcpy(msg, &tag, 4);
	return 0;
}

static int
bgettag(Mux *mux, void *msg)
{
	uint t;

	(void)mux;
	memcpy(&t, msg, 4);
	return (int)t;
}

static int
bsend(Mux *mux, void *msg)
{
	return writen(((Conn*)mux->aux)->fd, msg, Msize);
}

static void*
brecv(Mux *mux)
{
	Conn *c = mux->aux;
	unsigned char *m;
	ssize_t k;

	while(c->n - c->off < Msize){
		memmove(c->buf, c->buf + c->off, c->n - c->off);
		c->n -= c->off;
		c->off = 0;
		k = read(c->fd, c->buf + c->n, sizeof c->buf - c->n);
		if(k < 0 && errno == EINTR)
			continue;
		if(k <= 0)
			return nil;
		c->n += (size_t)k;
	}
	m = malloc(Msize);
	if(m == nil)
		return nil;
	memcpy(m, c->buf + c->off, Msize);
	c->off += Msize;
	return m;
}

/* ---- the runs ---- */

static atomic_int stop;

typedef struct Arg Arg;
struct Arg
{
	Mux	*mux;
	int	fd;
	long	n;
	long	bad;
};

static void*
muxworker(void *a)
{
	Arg *g = a;
	unsigned char req[Msize], *rep;
	uint32_t seq;

	memset(req, 0, sizeof req);
	for(seq = 0; !atomic_load_explicit(&stop, memory_order_relaxed); seq++){
		memcpy(req + 4, &seq, 4);
		rep = muxrpc(g->mux, req);
		if(rep == nil || memcmp(rep + 4, &seq, 4) != 0)
			g->bad++;
		free(rep);
		g->n++;
	}
	return nil;
}

static void*
lockstep(void *a)
{
	Arg *g = a;
	unsigned char req[Msize], rep[Msize];
	uint32_t seq;

	memset(req, 0, sizeof req);
	for(seq = 0; !atomic_load_explicit(&stop, memory_order_relaxed); seq++){
		memcpy(req + 4, &seq, 4);
		if(writen(g->fd, req, Msize) < 0 || readn(g->fd, rep, Msize) < 0
		|| memcmp(rep + 4, &seq, 4) != 0)
			g->bad++;
		g->n++;
	}
	return nil;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* kind: 0 libmux, 1 libmux after muxprocs, 2 lock-step connections */
static double
run(int kind, int nthr, double secs)
{
	int fds[Maxconn] = {0}, nconn, i;
	pid_t pid;
	pthread_t t[Maxconn];
	Arg a[Maxconn];
	Conn *c;
	Mux mux;
	struct timespec ts;
	double t0, t1;
	long total, bad;

	nconn = kind == 2 ? nthr : 1;
	pid = startserver(fds, nconn);
	c = calloc(1, sizeof *c);
	if(c == nil)
		exit(1);
	c->fd = fds[0];
	memset(&mux, 0, sizeof mux);
	mux.mintag = 0;
	mux.maxtag = 0xFFFF;
	mux.settag = bsettag;
	mux.gettag = bgettag;
	mux.send = bsend;
	mux.recv = brecv;
	mux.aux = c;
	muxinit(&mux);
	if(kind == 1)
		muxprocs(&mux);
	atomic_store(&stop, 0);
	t0 = now();
	for(i = 0; i < nthr; i++){
		memset(&a[i], 0, sizeof a[i]);
		a[i].mux = &mux;
		a[i].fd = fds[kind == 2 ? i : 0];
		if(pthread_create(&t[i], nil, kind == 2 ? lockstep : muxworker, &a[i]) != 0){
			perror("pthread_create");
			exit(1);
		}
	}
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, nil);
	atomic_store(&stop, 1);
	total = bad = 0;
	for(i = 0; i < nthr; i++){
		pthread_join(t[i], nil);
		total += a[i].n;
		bad += a[i].bad;
	}
	t1 = now();
	if(bad > 0)
		fprintf(stderr, "bench_mux: %ld bad replies\n", bad);
	shutdown(fds[0], SHUT_RDWR);
	muxfree(&mux);
	free(c);
	stopserver(pid, fds, nconn);
	return (double)total / (t1 - t0);
}

int
main(int argc, char **argv)
{
	const char *bdir, *outdir;
	char dflt[512];
	double secs = 1.5, r[3][3], v;
	char path[1024];
	FILE *f;
	int i, k, t, opt;
	size_t nt = sizeof nthreads / sizeof nthreads[0];

	signal(SIGPIPE, SIG_IGN);
	/* make bench sets NINEMUX_BUILD to its build directory */
	if((bdir = getenv("NINEMUX_BUILD")) == nil || *bdir == 0)
		bdir = "build";
	snprintf(dflt, sizeof dflt, "%s/bench", bdir);
	outdir = dflt;
	while((opt = getopt(argc, argv, "s:o:")) != -1){
		switch(opt){
		case 's':
			secs = atof(optarg);
			break;
		case 'o':
			outdir = optarg;
			break;
		default:
			fprintf(stderr, "usage: bench_mux [-s seconds-per-point] [-o outdir]\n");
			return 2;
		}
	}
	if(secs <= 0)
		secs = 1.5;
	printf("bench_mux: 16-byte echo RPCs per second, best of %d runs of %.2fs per point, one server process\n",
		Trials, secs / Trials);
	printf("%8s %14s %14s %14s %10s %10s\n", "threads", "mux 1 conn", "mux+procs", "lockstep N conn", "mux/lock", "procs/lock");
	for(i = 0; i < (int)nt; i++){
		/* interleaved trials, best kept: other load on the machine only slows */
		for(k = 0; k < 3; k++)
			r[i][k] = 0;
		for(t = 0; t < Trials; t++)
			for(k = 0; k < 3; k++)
				if((v = run(k, nthreads[i], secs / Trials)) > r[i][k])
					r[i][k] = v;
		printf("%8d %14.0f %14.0f %14.0f %10.2f %10.2f\n", nthreads[i], r[i][0], r[i][1], r[i][2],
			r[i][0] / r[i][2], r[i][1] / r[i][2]);
	}
	printf("reproduce: make O=%s %s/bench/bench_mux && NINEMUX_BUILD=%s %s/bench/bench_mux -s %g\n",
		bdir, bdir, bdir, bdir, secs);
	printf("(mux: one connection shared by all threads through libmux; lockstep: one connection per thread,\n"
		" each thread writing a request and reading its reply; the same server answers both)\n");

	mkdir(outdir, 0777);
	snprintf(path, sizeof path, "%s/mux.dat", outdir);
	if((f = fopen(path, "w")) == nil)
		return 0;
	fprintf(f, "# threads mux mux+procs lockstep\n");
	for(i = 0; i < (int)nt; i++)
		fprintf(f, "%d %.0f %.0f %.0f\n", nthreads[i], r[i][0], r[i][1], r[i][2]);
	fclose(f);
	snprintf(path, sizeof path, "%s/mux.gp", outdir);
	if((f = fopen(path, "w")) == nil)
		return 0;
	fprintf(f, "set terminal png size 800,500\n"
		"set output '%s/mux.png'\n"
		"set title 'libmux: RPCs/s, one shared connection vs one connection per thread'\n"
		"set xlabel 'threads'\nset ylabel 'RPCs per second'\n"
		"set logscale x 2\nset key top left\nset yrange [0:*]\n"
		"plot '%s/mux.dat' using 1:2 with linespoints title 'libmux, 1 connection', \\\n"
		"     '' using 1:3 with linespoints title 'libmux + muxprocs', \\\n"
		"     '' using 1:4 with linespoints title 'lock-step, 1 connection per thread'\n",
		outdir, outdir);
	fclose(f);
	if(system("command -v gnuplot >/dev/null 2>&1") == 0){
		snprintf(path, sizeof path, "gnuplot '%s/mux.gp'", outdir);
		if(system(path) == 0)
			printf("plot: %s/mux.png\n", outdir);
	}
	return 0;
}
