/*
 * 9mux's limits: the total memory budget (-B) makes clients wait and
 * refuses only what could never fit, upstream tags (-T), clients (-c), and more
 * clients than the default descriptor limit of 1024 all served at once.
 */
#define _GNU_SOURCE	/* prlimit */
#include <dirent.h>
#include <sys/resource.h>

#include "tap.h"
#include "p9conv.h"

enum {
	T	= 5000,
	COUNT	= 16384,
	NSLOW	= 200,
	NMANY	= 1200,		/* above 1024: 9mux must raise its own descriptor limit */
};

static const char *dir;
static pid_t srv = -1, mux = -1;
static char srvlog[400];

/* 9testsrv on sock (logging to log) and 9mux with flags in front of it: 0, or -1. */
static int
start(const char *tag, const char **flags)
{
	const char *av[32];
	char sock[64], msock[64];
	int n;

	snprintf(srvlog, sizeof srvlog, "%s", pc_path(dir, tag));
	snprintf(sock, sizeof sock, "%s.srv", tag);
	snprintf(msock, sizeof msock, "%s.mux", tag);
	{
		const char *sv[] = { pc_prog("9testsrv"), "-l", srvlog, "-a", pc_unixaddr(dir, sock), NULL };

		srv = pc_spawn(sv, pc_path(dir, "srv.err"));
		if(pc_waitsock(pc_path(dir, sock), 5000) < 0)
			return -1;
	}
	n = 0;
	av[n++] = pc_prog("9mux");
	while(*flags && n < 28)
		av[n++] = *flags++;
	av[n++] = "-a";
	av[n++] = pc_unixaddr(dir, msock);
	av[n++] = pc_unixaddr(dir, sock);
	av[n] = NULL;
	mux = pc_spawn(av, pc_path(dir, "mux.err"));
	if(pc_waitsock(pc_path(dir, msock), 5000) < 0) {
		diag("9mux: %s", pc_slurp(pc_path(dir, "mux.err")));
		return -1;
	}
	return 0;
}

static void
stop(const char *what)
{
	if(mux > 0)
		is_int(pc_killwait(mux, SIGTERM, 15000), 0, "%s: 9mux exits 0 at SIGTERM", what);
	if(srv > 0)
		pc_kill(srv, SIGTERM);
	mux = srv = -1;
}

/*
 * -B: a client that does not read fills the total budget; then its
 * requests and others' wait inside 9mux (clunks and flushes still go),
 * and once it reads everyone is served, nothing refused.  A request
 * that could never fit is refused with an error naming the limit.
 */
static void
total(void)
{
	const char *flags[] = { "-v", "-b", "64m", "-B", "512k", NULL };
	const char *tiny[] = { "-B", "32k", NULL };
	uint8_t frames[NSLOW * 32];
	Pconn *slow, *fast, *idle;
	Fcall t;
	size_t len;
	int i, rread, other, waiting;

	if(!ok(start("total", flags) == 0, "total: 9testsrv and 9mux -B 512k start"))
		return;
	slow = pc_open(pc_path(dir, "total.mux"), P9_2000);
	fast = pc_open(pc_path(dir, "total.mux"), P9_2000);
	idle = pc_open(pc_path(dir, "total.mux"), P9_2000);
	if(!ok(pc_openfile(slow, 65536, "tester", "big") == 0 && pc_openfile(fast, 65536, "tester", "big") == 0 &&
		pc_openfile(idle, 65536, "tester", "big") == 0, "total: three sessions"))
		goto out;
	len = 0;
	for(i = 0; i < NSLOW; i++) {
		pc_mkread(&t, (uint16_t)(100 + i), 2, 0, COUNT);
		len += p9encode(frames + len, 32, &t, P9_2000);
	}
	ok(pc_write(slow->fd, frames, len) == 0, "total: the slow client sends %d Treads of %d bytes", NSLOW, COUNT);
	/* its replies fill the budget: then its next request waits, and 9mux -v says so */
	ok(pc_waitcount(pc_path(dir, "mux.err"), "waits for room in the memory budget (-B)", 1, 10000) >= 1,
		"total: the slow client's requests wait for the budget");
	/*
	 * The kernel takes some of its replies into the socket before the
	 * budget stays full: until then another client's reads are served.
	 */
	waiting = 0;
	for(i = 0; i < 400 && !waiting; i++) {
		pc_mkread(&t, 4, 2, 0, COUNT);
		pc_send(fast->fd, &t, P9_2000);
		waiting = pc_next(fast, 1000) < 0;
	}
	ok(waiting, "total: another client's Tread waits too, unanswered (after %d served)", i - 1);
	t.type = Tflush;
	t.tag = 5;
	t.oldtag = 4;
	pc_send(fast->fd, &t, P9_2000);
	/* flush(5): the Tread may still be answered first */
	while(pc_next(fast, T) > 0 && fast->r.type == Rread && fast->r.tag == 4)
		;
	ok(fast->r.type == Rflush && fast->r.tag == 5, "total: a Tflush of the waiting Tread is answered Rflush");
	pc_mkread(&t, 6, 2, 0, COUNT);
	pc_send(fast->fd, &t, P9_2000);
	ok(pc_fidop(idle, Tclunk, 7, 2) == Rclunk, "total: a clunk still goes through");
	ok(pc_count(pc_path(dir, "mux.err"), "waits for room in the memory budget (-B)") >= 2,
		"total: 9mux -v logs the other client waiting");
	rread = other = 0;
	for(i = 0; i < NSLOW; i++) {
		if(pc_next(slow, T) < 0)
			break;
		if(slow->r.type == Rread && slow->r.tag == 100 + i && slow->r.count == COUNT)
			rread++;
		else
			other++;
	}
	is_int(rread, NSLOW, "total: once it reads, the slow client gets all %d replies, in order, none refused (%d other)",
		NSLOW, other);
	ok(pc_next(fast, T) > 0 && fast->r.type == Rread && fast->r.tag == 6 && fast->r.count == COUNT,
		"total: the other client's waiting Tread is answered");
	pc_mkread(&t, 9, 2, 0, COUNT);
	ok(pc_rpc(fast, &t, T) == Rread && fast->r.count == COUNT, "total: served again: a big read");
	pc_mkread(&t, 10, 2, 0, COUNT);
	ok(pc_rpc(slow, &t, T) == Rread && slow->r.count == COUNT, "total: the slow client is served again");
out:
	pc_close(slow);
	pc_close(fast);
	pc_close(idle);
	stop("total");
	ok(pc_count(pc_path(dir, "mux.err"), "0 refused for the memory budget") == 1,
		"total: 9mux refused nothing for the budget (logged at exit)");

	/* a request that could never fit: refused, with the limit named */
	if(!ok(start("tiny", tiny) == 0, "tiny: 9testsrv and 9mux -B 32k start"))
		return;
	fast = pc_open(pc_path(dir, "tiny.mux"), P9_2000);
	if(ok(pc_openfile(fast, 65536, "tester", "big") == 0, "tiny: a session")) {
		pc_mkread(&t, 4, 2, 0, 60000);
		ok(pc_rpc(fast, &t, T) == Rerror, "tiny: a Tread of 60000 bytes is refused");
		ok(pc_has(fast->r.ename.s, fast->r.ename.n, "more than the memory limit -B 32768"),
			"tiny: the error names the limit: %.*s", (int)fast->r.ename.n, fast->r.ename.s);
		pc_mkread(&t, 5, 2, 0, 1000);
		ok(pc_rpc(fast, &t, T) == Rread && fast->r.count == 1000, "tiny: a Tread that fits is served");
	}
	pc_close(fast);
	stop("tiny");
}

/* -T 1: one upstream tag for everyone; many pipelined requests all complete. */
static void
tags(void)
{
	const char *flags[] = { "-T", "1", NULL };
	enum { NC = 8, NR = 20 };
	Pconn *c[NC];
	Fcall t;
	char line[256];
	int i, j, good, tagged, zero;

	if(!ok(start("tags", flags) == 0, "tags: 9testsrv and 9mux -T 1 start"))
		return;
	for(i = 0; i < NC; i++) {
		c[i] = pc_open(pc_path(dir, "tags.mux"), P9_2000);
		if(pc_openfile(c[i], 8192, "tester", "big") < 0)
			break;
	}
	if(!ok(i == NC, "tags: %d sessions", NC))
		goto out;
	for(i = 0; i < NC; i++)
		for(j = 0; j < NR; j++) {
			pc_mkread(&t, (uint16_t)(10 + j), 2, (uint64_t)j, 10);
			pc_send(c[i]->fd, &t, P9_2000);
		}
	good = 0;
	for(i = 0; i < NC; i++)
		for(j = 0; j < NR; j++)
			if(pc_next(c[i], T) > 0 && c[i]->r.type == Rread && c[i]->r.count == 10
			&& ((const char *)c[i]->r.data)[0] == 'a' + (c[i]->r.tag - 10) % 26)
				good++;
	is_int(good, NC * NR, "tags: %d pipelined reads all answered right", NC * NR);
	tagged = pc_count(srvlog, " tag=");
	zero = 0;
	for(i = 0; pc_line(srvlog, " tag=", i, line, sizeof line) == 0; i++)
		if(pc_field(line, "tag") == 0 || pc_field(line, "tag") == P9_NOTAG)
			zero++;
	ok(tagged > NC * NR && zero == tagged, "tags: the server saw only tag 0 (%d of %d requests)", zero, tagged);
out:
	for(j = 0; j < i && j < NC; j++)
		pc_close(c[j]);
	stop("tags");
}

/* -c 2: a third client is hung up on and the refusal logged; after one leaves, another comes in. */
static void
clients(void)
{
	const char *flags[] = { "-c", "2", "-v", NULL };
	Pconn *a, *b, *c;

	if(!ok(start("clients", flags) == 0, "clients: 9testsrv and 9mux -c 2 start"))
		return;
	/* start's probe of the socket was a client too: wait until 9mux saw it go */
	ok(pc_waitcount(pc_path(dir, "mux.err"), "hung up", 1, T) == 1, "clients: the probe came and went");
	a = pc_open(pc_path(dir, "clients.mux"), P9_2000);
	b = pc_open(pc_path(dir, "clients.mux"), P9_2000);
	ok(pc_openfile(a, 8192, "tester", "big") == 0 && pc_openfile(b, 8192, "tester", "big") == 0,
		"clients: two sessions");
	c = pc_open(pc_path(dir, "clients.mux"), P9_2000);
	ok(c != NULL && pc_hungup(c->fd, T), "clients: a third is hung up on");
	ok(pc_waitcount(pc_path(dir, "mux.err"), "refused a client", 1, T) >= 1, "clients: and 9mux says why");
	pc_close(c);
	pc_close(a);
	ok(pc_waitcount(pc_path(dir, "mux.err"), "hung up", 2, T) == 2, "clients: 9mux saw one go");
	c = pc_open(pc_path(dir, "clients.mux"), P9_2000);
	ok(pc_openfile(c, 8192, "tester", "big") == 0, "clients: after one left, another is served");
	pc_close(b);
	pc_close(c);
	stop("clients");
}

/* More clients at once than a default descriptor limit allows, all served. */
static void
many(void)
{
	static int fds[NMANY];
	const char *flags[] = { "-c", "5000", NULL };
	struct rlimit rl, old;
	uint8_t buf[8192];
	Fcall t, r;
	int i, n, good;

	if(getrlimit(RLIMIT_NOFILE, &old) < 0 || old.rlim_max < NMANY + 64) {
		ok(1, "# SKIP many: the hard descriptor limit is below %d", NMANY + 64);
		return;
	}
	/* 9mux starts with a soft limit of 1024, as most logins give, and must raise it itself */
	rl = old;
	rl.rlim_cur = 1024;
	setrlimit(RLIMIT_NOFILE, &rl);
	n = start("many", flags);
	rl.rlim_cur = old.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if(!ok(n == 0, "many: 9testsrv and 9mux start with a soft limit of 1024 descriptors"))
		return;
	for(n = 0; n < NMANY; n++) {
		if((fds[n] = pc_dial(pc_path(dir, "many.mux"))) < 0)
			break;
		pc_mkversion(&t, 8192, "9P2000");
		pc_send(fds[n], &t, P9_2000);
	}
	is_int(n, NMANY, "many: %d connections", NMANY);
	good = 0;
	for(i = 0; i < n; i++) {
		if(pc_recv(fds[i], buf, sizeof buf, T, P9_2000, &r) <= 0 || r.type != Rversion)
			continue;
		pc_mkattach(&t, 1, 1, "many");
		if(pc_send(fds[i], &t, P9_2000) == 0)
			good++;
	}
	is_int(good, NMANY, "many: every one versioned");
	good = 0;
	for(i = 0; i < n; i++) {
		if(pc_recv(fds[i], buf, sizeof buf, T, P9_2000, &r) <= 0 || r.type != Rattach)
			continue;
		pc_mkwalk(&t, 2, 1, 2, "hello");
		pc_send(fds[i], &t, P9_2000);
	}
	for(i = 0; i < n; i++) {
		if(pc_recv(fds[i], buf, sizeof buf, T, P9_2000, &r) <= 0 || r.type != Rwalk)
			continue;
		pc_mkfid(&t, Topen, 3, 2);
		t.mode = P9_OREAD;
		pc_send(fds[i], &t, P9_2000);
	}
	for(i = 0; i < n; i++) {
		if(pc_recv(fds[i], buf, sizeof buf, T, P9_2000, &r) <= 0 || r.type != Ropen)
			continue;
		pc_mkread(&t, 4, 2, 0, 100);
		pc_send(fds[i], &t, P9_2000);
	}
	for(i = 0; i < n; i++)
		if(pc_recv(fds[i], buf, sizeof buf, T, P9_2000, &r) > 0 && r.type == Rread
		&& r.count == 13 && memcmp(r.data, "hello, world\n", 13) == 0)
			good++;
	is_int(good, NMANY, "many: all %d attached, walked, opened and read hello", NMANY);
	for(i = 0; i < n; i++)
		close(fds[i]);
	stop("many");
}

/* Descriptors pid has open, or -1. */
static int
nfds(pid_t pid)
{
	char p[64];
	struct dirent *e;
	DIR *d;
	int n;

	snprintf(p, sizeof p, "/proc/%d/fd", (int)pid);
	if((d = opendir(p)) == NULL)
		return -1;
	n = 0;
	while((e = readdir(d)) != NULL)
		if(e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * 9mux out of descriptors: it says so once, does not spin on its
 * listener, and takes the waiting clients in when others leave.
 */
static void
nofds(void)
{
	enum { NSERVED = 3, NWAIT = 3 };
	const char *flags[] = { NULL };
	struct rlimit rl;
	Pconn *c[NSERVED + NWAIT];
	int i, n, got;

	if(!ok(start("nofds", flags) == 0, "nofds: 9testsrv and 9mux start"))
		return;
	/* start's probe of the socket is gone once 9mux holds its base set */
	pc_sleep(200);
	n = nfds(mux);
	rl.rlim_cur = rl.rlim_max = (rlim_t)(n + NSERVED);
	if(!ok(n > 0 && prlimit(mux, RLIMIT_NOFILE, &rl, NULL) == 0, "nofds: 9mux limited to %d descriptors", n + NSERVED)) {
		stop("nofds");
		return;
	}
	got = 0;
	for(i = 0; i < NSERVED; i++) {
		c[i] = pc_open(pc_path(dir, "nofds.mux"), P9_2000);
		if(pc_openfile(c[i], 8192, "tester", "big") == 0)
			got++;
	}
	is_int(got, NSERVED, "nofds: %d clients served", NSERVED);
	for(i = NSERVED; i < NSERVED + NWAIT; i++) {
		c[i] = pc_open(pc_path(dir, "nofds.mux"), P9_2000);
		if(c[i] != NULL) {
			Fcall t;

			pc_mkversion(&t, 8192, "9P2000");
			pc_send(c[i]->fd, &t, P9_2000);
		}
	}
	pc_waitcount(pc_path(dir, "mux.err"), "accepting again", 1, T);
	pc_sleep(300);
	n = pc_count(pc_path(dir, "mux.err"), "accepting again");
	ok(n >= 1 && n <= NWAIT, "nofds: 9mux says it is out of descriptors, and does not spin (%d lines)", n);
	for(i = 0; i < NSERVED; i++)
		pc_close(c[i]);
	got = 0;
	for(i = NSERVED; i < NSERVED + NWAIT; i++)
		if(c[i] != NULL && pc_next(c[i], T) > 0 && c[i]->r.type == Rversion)
			got++;
	is_int(got, NWAIT, "nofds: the %d waiting clients are served once the others left", NWAIT);
	for(i = NSERVED; i < NSERVED + NWAIT; i++)
		pc_close(c[i]);
	stop("nofds");
}

int
main(int argc, char **argv)
{
	(void)argc;
	tap_start(180);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &srv, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	total();
	tags();
	clients();
	many();
	nofds();
	pc_rmdir(dir);
	return done_testing();
}
