/*
 * Large reads and writes through 9mux, sent upstream in pieces of the
 * iounit (-i, 128 KiB) and joined into one reply (lib/ninemux/split.c).
 *
 * 9mux in front of 9testsrv, which logs every message: a client with
 * a 1 MiB msize creates a file, writes 4 MiB with 1 MiB Twrites and
 * reads it back with 1 MiB Treads, four round trips each way, and gets
 * the same bytes, while the server sees only 128 KiB Twrites and
 * Treads.  Then with 9testsrv dropping every Tread (-x), a 1 MiB read's
 * pieces stay upstream, two at a time, the rest waiting in 9mux, and
 * another client's Tstat is answered meanwhile; the read is flushed,
 * and nothing of either client stays on the server.  Last, through
 * 9ramfs, four clients write and read 4 MiB files of their own at
 * once in 1 MiB requests, and each gets its own bytes back.
 */
#include "tap.h"
#include "p9conv.h"

enum {
	T	= 30000,
	KiB	= 1024,
	MiB	= 1024 * 1024,
	MSIZE	= MiB + 24,
	FSIZE	= 4 * MiB,
	NCL	= 4,
	RBUF	= 2 * MiB,
};

static const char *dir;
static pid_t srv = -1, mux = -1;
static uint8_t *rbuf;

static uint8_t
pat(int k, uint64_t o)
{
	return (uint8_t)(o * 13 + (o >> 10) + (uint64_t)k * 101);
}

/* The next frame from c, which may be larger than p9conv's buffer: its type, or < 0. */
static int
bignext(Pconn *c, Fcall *f)
{
	long n;

	memset(f, 0, sizeof *f);
	n = pc_recv(c->fd, rbuf, RBUF, T, c->dialect, f);
	return n < 0 ? (int)n : f->type;
}

/* Lines of the log at path that hold both a and b. */
static int
lines(const char *path, const char *a, const char *b)
{
	char *s, *p, *e;
	int n;

	s = pc_slurp(path);
	n = 0;
	for(p = s; p != NULL && *p; p = *e ? e + 1 : e){
		e = strchr(p, '\n');
		if(e == NULL)
			e = p + strlen(p);
		if(pc_has(p, (size_t)(e - p), a) && pc_has(p, (size_t)(e - p), b))
			n++;
	}
	free(s);
	return n;
}

static Fcall *
mkio(Fcall *t, int type, uint16_t tag, uint32_t fid, uint64_t off, uint32_t count, const uint8_t *data)
{
	pc_mkfid(t, type, tag, fid);
	t->offset = off;
	t->count = count;
	t->data = data;
	return t;
}

static Fcall *
mkcreate(Fcall *t, uint16_t tag, uint32_t fid, const char *name)
{
	memset(t, 0, sizeof *t);
	t->type = Tcreate;
	t->tag = tag;
	t->fid = fid;
	t->name = p9str(name);
	t->perm = 0666;
	t->mode = P9_ORDWR;
	return t;
}

/* 9mux at a in front of u, with -I pieces unless NULL. */
static pid_t
startmux(const char *a, const char *u, const char *pieces)
{
	const char *av[] = { pc_prog("9mux"), "-a", a, u, NULL, NULL, NULL };
	pid_t p;

	if(pieces != NULL){
		av[3] = "-I";
		av[4] = pieces;
		av[5] = u;
	}

	unlink(pc_path(dir, "mux.sock"));
	p = pc_spawn(av, pc_path(dir, "mux.err"));
	if(pc_waitsock(pc_path(dir, "mux.sock"), 5000) < 0)
		diag("%s", pc_slurp(pc_path(dir, "mux.err")));
	return p;
}

static pid_t
startsrv(const char *const *av, const char *sock)
{
	pid_t p;

	unlink(pc_path(dir, sock));
	p = pc_spawn(av, pc_path(dir, "srv.err"));
	if(pc_waitsock(pc_path(dir, sock), 5000) < 0)
		diag("%s", pc_slurp(pc_path(dir, "srv.err")));
	return p;
}

static void
stopboth(void)
{
	if(mux > 0)
		ok(pc_killwait(mux, SIGTERM, 15000) == 0, "9mux exits 0 on SIGTERM");
	mux = -1;
	if(srv > 0)
		pc_killwait(srv, SIGTERM, 5000);
	srv = -1;
}

/* 9testsrv: 4 MiB written and read back in 1 MiB requests, 128 KiB pieces upstream. */
static void
roundtrips(const char *a, const char *u)
{
	static char log[420];
	uint8_t *data;
	Pconn *c;
	Fcall t, r;
	long fids, tags;
	uint64_t i;
	int k, good, same;

	snprintf(log, sizeof log, "%s", pc_path(dir, "srv.log"));
	{
		const char *av[] = { pc_prog("9testsrv"), "-m", "4194328", "-l", log, "-a", u, NULL };

		srv = startsrv(av, "srv.sock");
	}
	mux = startmux(a, u, NULL);
	c = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	if(!ok(c != NULL && pc_version(c, MSIZE, "9P2000") == Rversion && c->msize == MSIZE &&
	pc_attach(c, 1, 1, "big") == Rattach && pc_walk(c, 2, 1, 2, "") == Rwalk &&
	pc_rpc(c, mkcreate(&t, 3, 2, "four"), T) == Rcreate, "a client with msize %d creates a file", MSIZE))
		return;
	is_int(c->r.iounit, MiB, "Rcreate's iounit is the client's msize-24 (1 MiB), not -i");

	data = malloc(FSIZE);
	for(i = 0; i < FSIZE; i++)
		data[i] = pat(0, i);
	good = 0;
	for(k = 0; k < 4; k++)
		if(pc_send(c->fd, mkio(&t, Twrite, 10, 2, (uint64_t)k * MiB, MiB, data + (size_t)k * MiB), P9_2000) == 0 &&
		bignext(c, &r) == Rwrite && r.count == MiB)
			good++;
	is_int(good, 4, "4 Twrites of 1 MiB: 4 Rwrites of 1 MiB");
	is_int(lines(log, "Twrite", "@c"), 32, "9testsrv got 32 Twrites");
	is_int(lines(log, "Twrite", "count 131072"), 32, "each of 128 KiB");

	if(!ok(pc_walk(c, 4, 1, 3, "four") == Rwalk && pc_open1(c, 5, 3, P9_OREAD) == Ropen, "the file opened to read"))
		goto out;
	good = same = 0;
	for(k = 0; k < 4; k++){
		if(pc_send(c->fd, mkio(&t, Tread, 11, 3, (uint64_t)k * MiB, MiB, NULL), P9_2000) < 0 ||
		bignext(c, &r) != Rread || r.count != MiB)
			continue;
		good++;
		same += memcmp(r.data, data + (size_t)k * MiB, MiB) == 0;
	}
	is_int(good, 4, "4 Treads of 1 MiB: 4 Rreads of 1 MiB");
	is_int(same, 4, "each holding the bytes written");
	is_int(lines(log, "Tread", "@c"), 32, "9testsrv got 32 Treads");
	is_int(lines(log, "Tread", "count 131072"), 32, "each of 128 KiB");
	ok(pc_send(c->fd, mkio(&t, Tread, 12, 3, FSIZE, MiB, NULL), P9_2000) == 0 && bignext(c, &r) == Rread &&
		r.count == 0, "a read at the end: an empty Rread");
out:
	free(data);
	pc_close(c);
	pc_sleep(200);
	ok(pc_srvstate(srv, log, &fids, &tags) == 0 && fids == 0 && tags == 0,
		"9testsrv: FIDS 0 TAGS 0 after the client left");
	is_int(pc_count(log, "VIOLATION"), 0, "no protocol violation");
	stopboth();
}

/*
 * 9testsrv -x Tread: a large read's pieces stay upstream, np at once
 * (9mux -I pieces, default 2), and another client is served.
 */
static void
fair(const char *a, const char *u, const char *pieces, int np)
{
	static char log[420];
	Pconn *c, *o;
	Fcall t;
	long fids, tags;
	int type;

	snprintf(log, sizeof log, "%s.%d", pc_path(dir, "srvx.log"), np);
	{
		const char *av[] = { pc_prog("9testsrv"), "-x", "Tread", "-m", "4194328", "-l", log, "-a", u, NULL };

		srv = startsrv(av, "srv.sock");
	}
	mux = startmux(a, u, pieces);
	c = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	o = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	if(!ok(o != NULL && pc_openfile(c, MSIZE, "reader", "big") == 0, "a client opens big"))
		return;
	pc_mkread(&t, 10, 2, 0, MiB);
	ok(pc_send(c->fd, &t, P9_2000) == 0, "and asks 1 MiB of it");
	ok(pc_waitcount(log, "Tread", np, T) == np, "%d pieces of it reach the server, which never answers them", np);
	ok(pc_version(o, 8192, "9P2000") == Rversion && pc_attach(o, 1, 1, "other") == Rattach &&
		pc_walk(o, 2, 1, 2, "big") == Rwalk, "another client attaches and walks meanwhile");
	pc_mkfid(&t, Tstat, 3, 2);
	ok(pc_rpc(o, &t, T) == Rstat, "and its Tstat is answered while the read is in progress");
	is_int(pc_count(log, "Tread"), np, "the read's other pieces wait in 9mux");
	t.type = Tflush;
	t.tag = 11;
	t.oldtag = 10;
	ok(pc_send(c->fd, &t, P9_2000) == 0, "the reader flushes its read");
	type = pc_next(c, T) > 0 ? c->r.type : -1;
	ok(type == Rflush && c->r.tag == 11, "and gets Rflush, no Rread (%d)", type);
	is_int(pc_count(log, "Tflush"), np, "9mux flushed the %d pieces upstream", np);
	is_int(pc_count(log, "Tread"), np, "and sent no more");
	pc_close(c);
	pc_close(o);
	pc_sleep(200);
	ok(pc_srvstate(srv, log, &fids, &tags) == 0 && fids == 0 && tags == 0,
		"9testsrv: FIDS 0 TAGS 0 after both left");
	is_int(pc_count(log, "VIOLATION"), 0, "no protocol violation");
	stopboth();
}

/* 9ramfs: clients at once, each its own file, in 1 MiB requests. */
static void
ramfs(const char *a, const char *u)
{
	static char name[32];
	uint8_t *data[NCL];
	Pconn *c[NCL];
	Fcall t, r;
	uint64_t i;
	int k, n, good, same, ready;

	{
		const char *av[] = { pc_prog("9ramfs"), "-a", u, NULL };

		srv = startsrv(av, "srv.sock");
	}
	mux = startmux(a, u, NULL);
	ready = 0;
	for(k = 0; k < NCL; k++){
		data[k] = malloc(FSIZE);
		for(i = 0; i < FSIZE; i++)
			data[k][i] = pat(k + 1, i);
		snprintf(name, sizeof name, "f%d", k);
		c[k] = pc_open(pc_path(dir, "mux.sock"), P9_2000);
		if(c[k] != NULL && pc_version(c[k], MSIZE, "9P2000") == Rversion && pc_attach(c[k], 1, 1, "w") == Rattach &&
		pc_walk(c[k], 2, 1, 2, "") == Rwalk && pc_rpc(c[k], mkcreate(&t, 3, 2, name), T) == Rcreate)
			ready++;
	}
	if(!ok(ready == NCL, "9ramfs: %d clients create a file each", NCL))
		goto out;
	good = 0;
	for(n = 0; n < 4; n++){
		for(k = 0; k < NCL; k++)
			pc_send(c[k]->fd, mkio(&t, Twrite, 10, 2, (uint64_t)n * MiB, MiB, data[k] + (size_t)n * MiB), P9_2000);
		for(k = 0; k < NCL; k++)
			good += bignext(c[k], &r) == Rwrite && r.count == MiB;
	}
	is_int(good, 4 * NCL, "each writes 4 MiB in 1 MiB Twrites, all at once");
	good = same = 0;
	for(n = 0; n < 4; n++){
		for(k = 0; k < NCL; k++)
			pc_send(c[k]->fd, mkio(&t, Tread, 11, 2, (uint64_t)n * MiB, MiB, NULL), P9_2000);
		for(k = 0; k < NCL; k++)
			if(bignext(c[k], &r) == Rread && r.count == MiB){
				good++;
				same += memcmp(r.data, data[k] + (size_t)n * MiB, MiB) == 0;
			}
	}
	is_int(good, 4 * NCL, "and reads it back in 1 MiB Treads, all at once");
	is_int(same, 4 * NCL, "each getting its own bytes");
out:
	for(k = 0; k < NCL; k++){
		pc_close(c[k]);
		free(data[k]);
	}
	stopboth();
}

int
main(int argc, char **argv)
{
	static char a[420], u[420];

	(void)argc;
	tap_start(120);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &srv, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	rbuf = malloc(RBUF);
	snprintf(a, sizeof a, "unix!%s", pc_path(dir, "mux.sock"));
	snprintf(u, sizeof u, "unix!%s", pc_path(dir, "srv.sock"));
	roundtrips(a, u);
	stopboth();
	fair(a, u, NULL, 2);
	fair(a, u, "3", 3);
	stopboth();
	ramfs(a, u);
	stopboth();
	free(rbuf);
	pc_rmdir(dir);
	return done_testing();
}
