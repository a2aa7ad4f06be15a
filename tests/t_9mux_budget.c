/*
 * 9mux's per-client memory budget (-b): a client that pipelines many
 * large Treads and never reads its socket makes 9mux hold its replies
 * only up to its budget, while another client is served as usual;
 * when the slow client reads at last it gets every reply, correct.
 */
#include "tap.h"
#include "p9conv.h"

enum {
	T	= 5000,
	NSLOW	= 1000,		/* Treads the slow client pipelines */
	COUNT	= 16384,	/* each; 9testsrv's "big" has 20000 bytes */
	BIGLEN	= 20000,
	BUDGET	= 256 * 1024,	/* -b */
	NFAST	= 200,		/* rounds of small ops of the other client */
};

static const char *dir;
static pid_t srv = -1, mux = -1;

/* The offset slow request i reads at. */
static uint64_t
offat(int i)
{
	return (uint64_t)(i * 7) % (BIGLEN - COUNT);
}

int
main(int argc, char **argv)
{
	char budget[32];
	uint8_t *frames, *p;
	Pconn *slow, *fast;
	Fcall t;
	size_t n, len;
	long base, peak, now, k;
	int i, j, good, bad, okdata, *seen;

	(void)argc;
	tap_start(120);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &srv, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	{
		const char *av[] = { pc_prog("9testsrv"), "-l", pc_path(dir, "srv.log"), "-a", "", NULL };
		static char a[420];

		snprintf(a, sizeof a, "unix!%s", pc_path(dir, "srv.sock"));
		av[4] = a;
		srv = pc_spawn(av, pc_path(dir, "srv.err"));
		if(!ok(pc_waitsock(pc_path(dir, "srv.sock"), 5000) == 0, "9testsrv listens"))
			goto out;
	}
	snprintf(budget, sizeof budget, "%d", BUDGET);
	/* AddressSanitizer keeps freed memory in quarantine: RSS would say nothing of 9mux's */
	pc_noquarantine();
	{
		static char a[420], u[420];
		const char *av[] = { pc_prog("9mux"), "-b", budget, "-a", a, u, NULL };

		snprintf(a, sizeof a, "unix!%s", pc_path(dir, "mux.sock"));
		snprintf(u, sizeof u, "unix!%s", pc_path(dir, "srv.sock"));
		mux = pc_spawn(av, pc_path(dir, "mux.err"));
		if(!ok(pc_waitsock(pc_path(dir, "mux.sock"), 5000) == 0, "9mux listens")) {
			diag("%s", pc_slurp(pc_path(dir, "mux.err")));
			goto out;
		}
	}

	slow = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	fast = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	if(!ok(pc_openfile(slow, 65536, "tester", "big") == 0 && pc_openfile(fast, 8192, "tester", "big") == 0,
		"two sessions open big"))
		goto out;
	base = pc_rss(mux);
	ok(base > 0, "9mux's VmRSS: %ld KiB", base);

	/* the slow client: NSLOW Treads at once, all in its socket, and it reads nothing */
	len = 0;
	frames = malloc((size_t)NSLOW * 64);
	for(i = 0; i < NSLOW; i++) {
		pc_mkread(&t, (uint16_t)(100 + i), 2, offat(i), COUNT);
		n = p9encode(frames + len, 64, &t, P9_2000);
		len += n;
	}
	ok(pc_write(slow->fd, frames, len) == 0, "slow: %d Treads of %d bytes sent (%zu bytes)", NSLOW, COUNT, len);
	free(frames);

	/* the other client is served as usual meanwhile */
	good = 0;
	peak = 0;
	for(i = 0; i < NFAST; i++) {
		if(pc_walk(fast, 4, 1, 5, "hello") == Rwalk)
			good++;
		pc_mkfid(&t, Tstat, 5, 5);
		if(pc_rpc(fast, &t, T) == Rstat)
			good++;
		if(pc_fidop(fast, Tclunk, 6, 5) == Rclunk)
			good++;
		pc_mkread(&t, 7, 2, 0, 100);
		if(pc_rpc(fast, &t, T) == Rread && fast->r.count == 100)
			good++;
		if(i % 20 == 0 && (now = pc_rss(mux)) > peak)
			peak = now;
	}
	is_int(good, 4 * NFAST, "fast: %d small ops while the slow client reads nothing", 4 * NFAST);
	/* let whatever 9mux will still take in arrive, then look again */
	pc_sleep(500);
	if((now = pc_rss(mux)) > peak)
		peak = now;
	/*
	 * Without a budget 9mux would hold every reply, NSLOW * COUNT
	 * (16 MB); with one, the slow session's budget, its read buffer
	 * (a frame of its msize) and allocator slack.
	 */
	k = base + 4 * (BUDGET / 1024) + 2048;
	ok(peak > 0 && peak < k, "9mux's VmRSS stays below %ld KiB: %ld KiB (before: %ld KiB; unbounded would be ~%d KiB more)",
		k, peak, base, NSLOW * COUNT / 1024);

	/* now the slow client reads everything, and every reply is right */
	seen = calloc(NSLOW, sizeof *seen);
	good = bad = 0;
	okdata = 1;
	for(i = 0; i < NSLOW; i++) {
		if(pc_next(slow, T) < 0) {
			bad++;
			break;
		}
		j = slow->r.tag - 100;
		if(slow->r.type != Rread || j < 0 || j >= NSLOW || seen[j] || slow->r.count != COUNT) {
			if(bad++ < 3)
				diag("slow reply %d: type %d tag %u count %u", i, slow->r.type, slow->r.tag, slow->r.count);
			continue;
		}
		seen[j] = 1;
		p = (uint8_t *)slow->r.data;
		for(n = 0; n < COUNT; n++)
			if(p[n] != 'a' + (offat(j) + n) % 26) {
				okdata = 0;
				break;
			}
		good++;
	}
	is_int(good, NSLOW, "slow: all %d replies arrive, each once", NSLOW);
	is_int(bad, 0, "slow: no wrong reply");
	ok(okdata, "slow: every reply's data is the file's");
	free(seen);
	pc_mkread(&t, 8, 2, 0, 100);
	ok(pc_rpc(fast, &t, T) == Rread, "fast: still served after");
	pc_close(slow);
	pc_close(fast);
out:
	if(mux > 0)
		ok(pc_killwait(mux, SIGTERM, 15000) == 0, "9mux exits 0 at SIGTERM");
	if(srv > 0)
		pc_kill(srv, SIGTERM);
	pc_rmdir(dir);
	return done_testing();
}
