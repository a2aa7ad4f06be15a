/*
 * t_9mux_clientio: how 9mux reads and writes its clients (cmd/9mux/batch.c):
 * a client on a unix socket is read by peeking and watched edge-triggered,
 * the bytes taken off its socket later, with a reply or when due; every
 * client's replies go in one io_uring call a loop turn.  Each case runs
 * in every mode: peeking and the ring, each alone, and neither.
 *
 *	flood	thousands of frames in one write: all read, all answered
 *		(more than a loop turn's share of reads, edge-triggered)
 *	split	frames cut anywhere across writes, with pauses
 *	halfclose  a request, then shutdown(SHUT_WR): the reply comes, then the end
 *	held	a request whose reply the server holds: its bytes are still
 *		taken off the client's socket within PEEKAGE, long before it
 *	fill	a client with the smallest send buffer pipelines requests
 *		the server holds: its writes all go in, and a Tflush too
 *	many	clients in lock-step, each op a round trip, as the benchmark
 *	rest	a small request's bytes stay in the socket after its reply,
 *		until TAKEMIN have gathered and a reply takes them all, or
 *		PEEKAGE passes
 */
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "tap.h"
#include "p9conv.h"

enum {
	T	= 3000,
	PEEKAGE	= 20,	/* cmd/9mux/9mux.h */
	TAKEMIN	= 128,
};

static const char *dir;
static pid_t srv = -1, mux = -1;
static char muxsock[400], srvaddr[420], muxerr[400], srverr[400];
static int nfix;

static const struct {
	const char	*name;
	const char	*ring;
	const char	*peek;
} modes[] = {
	{ "peek+ring", "1", "1" },
	{ "peek", "0", "1" },
	{ "ring", "1", "0" },
	{ "plain", "0", "0" },
};
static int mode;

/* 9testsrv with flags (space-separated), 9mux in front of it in the current mode. */
static int
up(const char *srvflags)
{
	const char *av[32];
	char fl[256], srvsock[400], muxaddr[420], *p;
	int n;

	nfix++;
	snprintf(srvsock, sizeof srvsock, "%s/srv%d.sock", dir, nfix);
	snprintf(srvaddr, sizeof srvaddr, "unix!%s", srvsock);
	snprintf(srverr, sizeof srverr, "%s/srv%d.err", dir, nfix);
	snprintf(muxsock, sizeof muxsock, "%s/mux%d.sock", dir, nfix);
	snprintf(muxaddr, sizeof muxaddr, "unix!%s", muxsock);
	snprintf(muxerr, sizeof muxerr, "%s/mux%d.err", dir, nfix);
	snprintf(fl, sizeof fl, "%s", srvflags);
	n = 0;
	av[n++] = pc_prog("9testsrv");
	av[n++] = "-l";
	av[n++] = pc_path(dir, "srv.log");
	av[n++] = "-a";
	av[n++] = srvaddr;
	for(p = strtok(fl, " "); p != NULL && n < 28; p = strtok(NULL, " "))
		av[n++] = p;
	av[n] = NULL;
	srv = pc_spawn(av, srverr);
	if(pc_waitsock(srvsock, 5000) < 0){
		diag("9testsrv did not start: %s", pc_slurp(srverr));
		return -1;
	}
	setenv("NINEMUX_RING", modes[mode].ring, 1);
	setenv("NINEMUX_PEEK", modes[mode].peek, 1);
	n = 0;
	av[n++] = pc_prog("9mux");
	av[n++] = "-a";
	av[n++] = muxaddr;
	av[n++] = srvaddr;
	av[n] = NULL;
	mux = pc_spawn(av, muxerr);
	if(pc_waitsock(muxsock, 5000) < 0){
		diag("9mux did not start: %s", pc_slurp(muxerr));
		return -1;
	}
	return 0;
}

static void
down(const char *what)
{
	int st;

	ok(pc_alive(mux, NULL), "%s %s: 9mux still running", modes[mode].name, what);
	st = pc_killwait(mux, SIGTERM, 15000);
	if(!ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s: 9mux exits 0 on SIGTERM", modes[mode].name, what))
		diag("  %s", pc_slurp(muxerr));
	mux = -1;
	pc_kill(srv, SIGTERM);
	srv = -1;
}

/* Encode f into p (room n): its size, or 0. */
static size_t
enc(uint8_t *p, size_t n, const Fcall *f)
{
	return p9encode(p, n, f, P9_2000);
}

/* A client with its version done (msize 8192) and fid 1 attached to the root. */
static Pconn *
client(void)
{
	Pconn *c;

	if((c = pc_open(muxsock, P9_2000)) == NULL)
		return NULL;
	if(pc_version(c, 8192, "9P2000") != Rversion || pc_attach(c, 1, 1, "glenda") != Rattach){
		pc_close(c);
		return NULL;
	}
	return c;
}

/* Bytes the client sent that 9mux has not taken off its socket yet (their kernel size). */
static int
outq(int fd)
{
	int n;

	if(ioctl(fd, SIOCOUTQ, &n) < 0)
		return -1;
	return n;
}

static void
flood(void)
{
	enum { N = 3000 };
	uint8_t *buf;
	size_t len, k;
	Fcall f;
	Pconn *c;
	int i, bad;

	if(up("") < 0 || (c = client()) == NULL){
		ok(0, "%s flood: set up", modes[mode].name);
		return;
	}
	buf = malloc(N * 32);
	len = 0;
	/* clunks of fids it does not hold: 9mux answers each itself, in order */
	for(i = 0; i < N; i++){
		pc_mkfid(&f, Tclunk, (uint16_t)(10 + i), (uint32_t)(1000 + i));
		k = enc(buf + len, N * 32 - len, &f);
		len += k;
	}
	ok(pc_write(c->fd, buf, len) == 0, "%s flood: %d frames (%zu bytes) in one write", modes[mode].name, N, len);
	bad = 0;
	for(i = 0; i < N; i++)
		if(pc_next(c, T) < 0 || c->r.type != Rerror || c->r.tag != 10 + i){
			bad = 1;
			break;
		}
	if(!ok(!bad, "%s flood: each answered, in order", modes[mode].name))
		diag("  reply %d: type %d tag %d", i, c->r.type, c->r.tag);
	ok(pc_fidop(c, Tstat, 2, 1) == Rstat, "%s flood: the session goes on", modes[mode].name);
	free(buf);
	pc_close(c);
	down("flood");
}

static void
split(void)
{
	uint8_t buf[256];
	size_t a, b, cut;
	Fcall f;
	Pconn *c;
	int good;

	if(up("") < 0 || (c = client()) == NULL){
		ok(0, "%s split: set up", modes[mode].name);
		return;
	}
	/* a Tstat and a Twalk back to back, cut at every byte, the halves 20 ms apart for a few */
	pc_mkfid(&f, Tstat, 5, 1);
	a = enc(buf, sizeof buf, &f);
	pc_mkwalk(&f, 6, 1, 2, "");
	b = enc(buf + a, sizeof buf - a, &f);
	good = 1;
	for(cut = 1; cut < a + b && good; cut++){
		pc_write(c->fd, buf, cut);
		if(cut < 4 || cut == a - 1 || cut == a + 1 || cut == a + b - 1)
			pc_sleep(20);
		pc_write(c->fd, buf + cut, a + b - cut);
		good = pc_next(c, T) > 0 && c->r.type == Rstat && c->r.tag == 5 &&
			pc_next(c, T) > 0 && c->r.type == Rwalk && c->r.tag == 6 &&
			pc_fidop(c, Tclunk, 7, 2) == Rclunk;
	}
	if(!ok(good, "%s split: two frames cut at every byte, each cut answered", modes[mode].name))
		diag("  cut at %zu of %zu: reply type %d tag %d", cut - 1, a + b, c->r.type, c->r.tag);
	pc_close(c);
	down("split");
}

static void
halfclose(void)
{
	Fcall f;
	Pconn *c;

	if(up("") < 0 || (c = client()) == NULL){
		ok(0, "%s halfclose: set up", modes[mode].name);
		return;
	}
	pc_mkfid(&f, Tclunk, 3, 99);	/* answered by 9mux itself, at once */
	pc_send(c->fd, &f, P9_2000);
	shutdown(c->fd, SHUT_WR);
	ok(pc_next(c, T) > 0 && c->r.type == Rerror && c->r.tag == 3,
		"%s halfclose: the reply to what came before the end", modes[mode].name);
	ok(pc_hungup(c->fd, T), "%s halfclose: then 9mux hangs up", modes[mode].name);
	pc_close(c);
	down("halfclose");
}

static void
held(void)
{
	Fcall f;
	Pconn *c;
	long t0;
	int q;

	if(up("-d Tstat:1500") < 0 || (c = client()) == NULL){
		ok(0, "%s held: set up", modes[mode].name);
		return;
	}
	t0 = pc_now();
	pc_mkfid(&f, Tstat, 4, 1);
	pc_send(c->fd, &f, P9_2000);
	do {
		pc_sleep(10);
		q = outq(c->fd);
	} while(q != 0 && pc_now() - t0 < 1000);
	if(!ok(q == 0, "%s held: the request is taken off the socket before its reply", modes[mode].name))
		diag("  %d bytes still there after %ld ms", q, pc_now() - t0);
	else
		diag("  taken after %ld ms", pc_now() - t0);
	ok(pc_next(c, T) > 0 && c->r.type == Rstat && c->r.tag == 4, "%s held: the reply comes", modes[mode].name);
	ok(pc_now() - t0 >= 1400, "%s held: when the server sent it", modes[mode].name);
	pc_close(c);
	down("held");
}

static void
fill(void)
{
	enum { N = 60 };
	uint8_t one[64];
	Fcall f;
	Pconn *c;
	long t0;
	int sb, i, stats, flushed;
	size_t n;

	if(up("-d Tstat:3000") < 0 || (c = client()) == NULL){
		ok(0, "%s fill: set up", modes[mode].name);
		return;
	}
	sb = 1;	/* the kernel's least: a few small frames fill it */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
	t0 = pc_now();
	/* N requests the server holds for 3 s, each its own write, then a Tflush of the first */
	for(i = 0; i < N; i++){
		pc_mkfid(&f, Tstat, (uint16_t)(100 + i), 1);
		n = enc(one, sizeof one, &f);
		if(pc_write(c->fd, one, n) < 0)
			break;
	}
	memset(&f, 0, sizeof f);
	f.type = Tflush;
	f.tag = 1;
	f.oldtag = 100;
	pc_send(c->fd, &f, P9_2000);
	ok(i == N && pc_now() - t0 < 1500, "%s fill: %d requests and a Tflush written with the least send buffer, in %ld ms",
		modes[mode].name, i, pc_now() - t0);
	/* the flushed request may or may not be answered before the Rflush; the others are */
	stats = flushed = 0;
	while((stats < N - 1 || !flushed) && pc_next(c, 8000) > 0){
		if(c->r.type == Rflush && c->r.tag == 1)
			flushed = 1;
		else if(c->r.type == Rstat && c->r.tag != 100)
			stats++;
	}
	ok(stats == N - 1 && flushed, "%s fill: every reply, and the Rflush (%d of %d)", modes[mode].name, stats, N - 1);
	pc_close(c);
	down("fill");
}

/* Round trips of Tstat until at least n bytes went, the last reply read: the ms they took, or -1. */
static long
stats(Pconn *c, size_t n)
{
	long t0;
	size_t sent;

	t0 = pc_now();
	for(sent = 0; sent < n; sent += 4 + 1 + 2 + 4)	/* size[4] type[1] tag[2] fid[4] */
		if(pc_fidop(c, Tstat, 5, 1) != Rstat)
			return -1;
	return pc_now() - t0;
}

/* Poll the client's unsent bytes until none are left or ms pass: what is left. */
static int
drained(Pconn *c, long ms)
{
	long t0;
	int q;

	t0 = pc_now();
	while((q = outq(c->fd)) != 0 && pc_now() - t0 < ms)
		pc_sleep(1);
	return q;
}

static void
rest(void)
{
	Pconn *c;
	long t0, took, el;
	int q, peek;

	if(up("") < 0 || (c = client()) == NULL){
		ok(0, "%s rest: set up", modes[mode].name);
		return;
	}
	peek = strcmp(modes[mode].peek, "1") == 0;
	/* the attach's bytes may wait too: start from an empty socket */
	ok(drained(c, 1000) == 0, "%s rest: the set-up's bytes are taken within PEEKAGE", modes[mode].name);
	/* the timer could take them only PEEKAGE after the peek, so only a slower round trip tells nothing */
	t0 = pc_now();
	took = stats(c, 1);
	q = outq(c->fd);
	el = pc_now() - t0;
	if(peek){
		if(!ok(took >= 0 && (q > 0 || el >= PEEKAGE - 1), "%s rest: one Tstat's bytes stay after its reply", modes[mode].name))
			diag("  %d bytes in the socket %ld ms after the request", q, el);
	}else
		ok(took >= 0 && q == 0, "%s rest: one Tstat's bytes are read with it (%d left)", modes[mode].name, q);
	ok(drained(c, 1000) == 0, "%s rest: and are gone within PEEKAGE", modes[mode].name);
	/* TAKEMIN bytes in quick round trips: the last reply takes them, well before PEEKAGE */
	took = stats(c, TAKEMIN);
	q = outq(c->fd);
	if(!peek)
		ok(took >= 0 && q == 0, "%s rest: %d bytes of Tstat, each read with it (%d left)",
			modes[mode].name, TAKEMIN, q);
	else if(strcmp(modes[mode].ring, "1") != 0)
		ok(took >= 0, "%s rest: %d bytes of Tstat (no ring: the timer takes them)", modes[mode].name, TAKEMIN);
	else if(took < 0 || took >= PEEKAGE / 4)
		ok(took >= 0, "%s rest: %d bytes of Tstat (too slow to tell when they were taken: %ld ms)",
			modes[mode].name, TAKEMIN, took);
	else if(!ok((q = drained(c, PEEKAGE / 2)) == 0, "%s rest: %d bytes of Tstat are taken with the reply that completes them",
		modes[mode].name, TAKEMIN))
		diag("  %d bytes left %d ms after round trips of %ld ms", q, PEEKAGE / 2, took);
	ok(drained(c, 1000) == 0, "%s rest: none are left", modes[mode].name);
	pc_close(c);
	down("rest");
}

/* Clients in lock-step through the loop, as 9pload small: every reply to the right client. */
static void
many(void)
{
	enum { NC = 32, OPS = 300 };
	Pconn *c[NC];
	Fcall f;
	int i, k, good;

	if(up("") < 0){
		ok(0, "%s many: set up", modes[mode].name);
		return;
	}
	for(i = 0; i < NC; i++)
		c[i] = client();
	good = 1;
	for(k = 0; k < OPS && good; k++){
		for(i = 0; i < NC; i++){
			pc_mkwalk(&f, (uint16_t)(k & 0xFF), 1, 2, "");
			if(c[i] == NULL || pc_send(c[i]->fd, &f, P9_2000) < 0)
				good = 0;
		}
		for(i = 0; i < NC && good; i++)
			good = pc_next(c[i], T) > 0 && c[i]->r.type == Rwalk && c[i]->r.tag == (k & 0xFF) &&
				pc_fidop(c[i], Tclunk, 1000, 2) == Rclunk;
	}
	ok(good, "%s many: %d clients, %d rounds of walk and clunk each", modes[mode].name, NC, OPS);
	for(i = 0; i < NC; i++)
		pc_close(c[i]);
	down("many");
}

int
main(int argc, char **argv)
{
	(void)argc;
	tap_start(240);
	pc_setbin(argv[0]);
	if(access(pc_prog("9mux"), X_OK) != 0 || access(pc_prog("9testsrv"), X_OK) != 0){
		ok(0, "9mux and 9testsrv are built in %s", pc_bindir);
		return done_testing();
	}
	dir = pc_tmpdir();
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	pc_onalarm(dir, &mux, &srv, NULL);
	for(mode = 0; mode < (int)(sizeof modes / sizeof modes[0]); mode++){
		flood();
		split();
		halfclose();
		held();
		fill();
		many();
		rest();
	}
	pc_rmdir(dir);
	return done_testing();
}
