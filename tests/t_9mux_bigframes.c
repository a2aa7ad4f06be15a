/*
 * Large frames against the total memory budget (-B).  Many clients
 * each start a 1 MB Twrite and send most of it: 9mux must buffer a
 * whole frame before it can pass it on, so each such buffer counts
 * against -B, and a client whose frame does not fit is not read until
 * memory frees.  9mux's resident size stays near the budget instead of
 * growing with the number of clients, a small client is served as
 * usual meanwhile, and in the end every write completes, correct.
 */
#include "tap.h"
#include "p9conv.h"

enum {
	T	= 30000,
	K	= 12,			/* clients with a large frame */
	N	= 1000000,		/* bytes each writes */
	MSIZE	= 1024 * 1024 + 24,
	BUDGET	= 4,			/* -B, MiB */
	PREFIX	= 900000,		/* bytes of the frame sent before looking */
	FLEN	= 23 + N,		/* the Twrite frame */
};

static const char *dir;
static pid_t srv = -1, mux = -1;

static uint8_t
pat(int k, size_t i)
{
	return (uint8_t)('a' + (i * 7 + (size_t)k) % 26);
}

/*
 * Send frames[k][sent[k]..upto) of every client without blocking, round
 * robin, until all are sent or ms pass without progress: the clients
 * done.
 */
static int
pump(Pconn **c, uint8_t **frames, size_t *sent, size_t upto, int ms)
{
	long idle;
	ssize_t w;
	int k, done, moved;

	idle = pc_now() + ms;
	for(;;) {
		done = moved = 0;
		for(k = 0; k < K; k++) {
			if(sent[k] >= upto) {
				done++;
				continue;
			}
			w = send(c[k]->fd, frames[k] + sent[k], upto - sent[k], MSG_DONTWAIT | MSG_NOSIGNAL);
			if(w > 0) {
				sent[k] += (size_t)w;
				moved = 1;
			}
		}
		if(done == K)
			return K;
		if(moved)
			idle = pc_now() + ms;
		else if(pc_now() >= idle)
			return done;
		else
			pc_sleep(5);
	}
}

int
main(int argc, char **argv)
{
	static char a[420], u[420], b[32], name[32];
	uint8_t *frames[K];
	size_t sent[K], len;
	Pconn *c[K], *small;
	Fcall t;
	long base, peak, now;
	int k, i, good, done;

	(void)argc;
	tap_start(120);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &srv, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	/* AddressSanitizer keeps freed memory in quarantine: RSS would say nothing of 9mux's */
	pc_noquarantine();
	{
		const char *av[] = { pc_prog("9ramfs"), "-a", u, NULL };

		snprintf(u, sizeof u, "unix!%s", pc_path(dir, "srv.sock"));
		srv = pc_spawn(av, pc_path(dir, "srv.err"));
		if(!ok(pc_waitsock(pc_path(dir, "srv.sock"), 5000) == 0, "9ramfs listens"))
			goto out;
	}
	snprintf(b, sizeof b, "%dm", BUDGET);
	{
		const char *av[] = { pc_prog("9mux"), "-v", "-B", b, "-m", "1048600", "-a", a, u, NULL };

		snprintf(a, sizeof a, "unix!%s", pc_path(dir, "mux.sock"));
		mux = pc_spawn(av, pc_path(dir, "mux.err"));
		if(!ok(pc_waitsock(pc_path(dir, "mux.sock"), 5000) == 0, "9mux -B %s -m 1048600 listens", b))
			goto out;
	}

	good = 0;
	for(k = 0; k < K; k++) {
		c[k] = pc_open(pc_path(dir, "mux.sock"), P9_2000);
		snprintf(name, sizeof name, "f%d", k);
		memset(&t, 0, sizeof t);
		t.type = Tcreate;
		t.tag = 3;
		t.fid = 2;
		t.name = p9str(name);
		t.perm = 0666;
		t.mode = P9_ORDWR;
		if(c[k] != NULL && pc_version(c[k], MSIZE, "9P2000") == Rversion && c[k]->msize == MSIZE
		&& pc_attach(c[k], 1, 1, "tester") == Rattach && pc_walk(c[k], 2, 1, 2, "") == Rwalk
		&& pc_rpc(c[k], &t, T) == Rcreate)
			good++;
	}
	if(!ok(good == K, "%d clients with msize %d create a file each (%d)", K, MSIZE, good))
		goto out;
	small = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	if(!ok(small != NULL && pc_version(small, 8192, "9P2000") == Rversion
	&& pc_attach(small, 1, 1, "tester") == Rattach, "and a small client attaches"))
		goto out;
	pc_sleep(200);
	base = pc_rss(mux);

	/* each client: a Twrite of N bytes, of which PREFIX go out now */
	for(k = 0; k < K; k++) {
		memset(&t, 0, sizeof t);
		t.type = Twrite;
		t.tag = 10;
		t.fid = 2;
		t.offset = 0;
		t.count = N;
		frames[k] = malloc(FLEN);
		for(i = 0; i < N; i++)
			frames[k][23 + (size_t)i] = pat(k, (size_t)i);
		t.data = frames[k] + 23;
		len = p9encode(frames[k], FLEN, &t, P9_2000);
		if(len != FLEN)
			diag("Twrite encodes to %zu bytes, not %d", len, FLEN);
		sent[k] = 0;
	}
	done = pump(c, frames, sent, 23 + PREFIX, 500);
	ok(done < K, "not every client's frame gets in: %d of %d sent their first %d bytes", done, K, PREFIX);
	pc_sleep(300);
	peak = pc_rss(mux);

	/* the small client is served meanwhile */
	good = 0;
	for(i = 0; i < 50; i++) {
		if(pc_walk(small, 2, 1, 2, "f0") == Rwalk)
			good++;
		pc_mkfid(&t, Tstat, 3, 2);
		if(pc_rpc(small, &t, T) == Rstat)
			good++;
		if(pc_fidop(small, Tclunk, 4, 2) == Rclunk)
			good++;
	}
	is_int(good, 150, "a small client: 150 requests answered while the large frames wait");
	if((now = pc_rss(mux)) > peak)
		peak = now;
	ok(peak > 0 && peak - base < (BUDGET + 3) * 1024L, "9mux grew by %ld KiB (budget %d MiB; %d partial frames would be ~%d KiB)",
		peak - base, BUDGET, K, K * PREFIX / 1024);
	ok(pc_count(pc_path(dir, "mux.err"), "waits for memory (-B)") > 0, "9mux -v logs a frame waiting for memory");

	/* the rest of every frame: all complete, in turn */
	done = pump(c, frames, sent, FLEN, 20000);
	is_int(done, K, "every client sends its whole frame");
	good = 0;
	for(k = 0; k < K; k++)
		if(pc_next(c[k], T) > 0 && c[k]->r.type == Rwrite && c[k]->r.count == N)
			good++;
	is_int(good, K, "and gets Rwrite %d", N);
	good = 0;
	for(k = 0; k < K; k++) {
		snprintf(name, sizeof name, "f%d", k);
		if(pc_walk(small, 2, 1, 5, name) != Rwalk || pc_open1(small, 3, 5, P9_OREAD) != Ropen)
			continue;
		pc_mkread(&t, 4, 5, 123457, 1000);
		if(pc_rpc(small, &t, T) == Rread && small->r.count == 1000) {
			for(i = 0; i < 1000; i++)
				if(((uint8_t *)small->r.data)[i] != pat(k, 123457 + (size_t)i))
					break;
			good += i == 1000;
		}
		pc_fidop(small, Tclunk, 6, 5);
	}
	is_int(good, K, "each file holds its client's bytes");
	for(k = 0; k < K; k++) {
		pc_close(c[k]);
		free(frames[k]);
	}
	pc_close(small);
	ok(pc_killwait(mux, SIGTERM, 15000) == 0, "9mux exits 0 on SIGTERM");
	mux = -1;
out:
	if(mux > 0)
		pc_killwait(mux, SIGKILL, 5000);
	if(srv > 0)
		pc_killwait(srv, SIGTERM, 5000);
	pc_rmdir(dir);
	return done_testing();
}
