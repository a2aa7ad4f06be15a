/*
 * t_9mux_persist: 9mux -P in front of real servers, losing the upstream
 * at exact points of the protocol through a proxy the test controls
 * (pxproxy.h): a 1 MiB stream of reads in flight is sent again and
 * reads right; a write the server did but whose reply was lost gets one
 * error and is not written twice; a file replaced at its path makes
 * its fid dead; a directory is listed again from offset 0; losses
 * during the restore converge; the server holds exactly the clients'
 * fids after each restore (9testsrv counts them); 9ramfs, which loses
 * everything, gives dead fids and no hang; and past -P everything
 * fails as without it.
 */
#include <sys/stat.h>

#include "tap.h"
#include "p9conv.h"
#include "pxproxy.h"

enum {
	T	= 20000,	/* ms any one reply may take: a bound, never a pace */
	BIG	= 1 << 20,
	NFIDS	= 200,
	LRDONLY	= 0,
	LWRONLY	= 1,
	LDIRECTORY = 0200000,
};

static const char *dir;
static char *exp_;
static pid_t diod = -1, mux = -1, srv = -1;
static Px *px;
static uint8_t big[BIG];

static int
startmux(const char *log, const char *up, const char *persist, const char *dialect)
{
	const char *av[] = { pc_prog("9mux"), "-v", "-P", persist, "-V", dialect, "-x", pc_unixaddr(dir, "ctl.sock"),
		"-a", pc_unixaddr(dir, "mux.sock"), up, NULL };

	unlink(pc_path(dir, "mux.sock"));
	unlink(pc_path(dir, "ctl.sock"));
	mux = pc_spawn(av, pc_path(dir, log));
	return pc_waitsock(pc_path(dir, "mux.sock"), 10000);
}

static void
stopmux(const char *what)
{
	is_int(pc_killwait(mux, SIGTERM, 15000), 0, "%s: 9mux exits 0 at SIGTERM", what);
	mux = -1;
}

/*
 * diod, which dies of SIGPIPE when it answers a connection that went
 * (as the tests' cuts make it do), with SIGPIPE ignored as systemd
 * starts it.
 */
static int
startdiod(void)
{
	const char *av[] = { "/bin/sh", "-c", "trap '' PIPE; exec /usr/sbin/diod -f -n -N -c /dev/null -l \"$0\" -e \"$1\"",
		pc_path(dir, "diod.sock"), exp_, NULL };

	unlink(pc_path(dir, "diod.sock"));
	diod = pc_spawn(av, pc_path(dir, "diod.log"));
	return pc_waitsock(pc_path(dir, "diod.sock"), 10000);
}

/* A session of dialect d with fid 1 attached (to aname): NULL on failure. */
static Pconn *
session(int d, const char *aname)
{
	Pconn *c;
	Fcall t;

	if((c = pc_open(pc_path(dir, "mux.sock"), d)) == NULL)
		return NULL;
	pc_mkattachme(&t, 1, 1);
	t.aname = p9str(aname);
	if(pc_version(c, BIG + 24, p9dialectname(d)) != Rversion || pc_rpc(c, &t, T) != Rattach){
		pc_close(c);
		return NULL;
	}
	return c;
}

/* Walk fid 1 to fid at path, and open it with mode: 0, or -1. */
static int
fopenat(Pconn *c, uint32_t fid, const char *path, uint32_t mode)
{
	if(pc_walk(c, 2, 1, fid, path) != Rwalk)
		return -1;
	return pc_open1(c, 3, fid, mode) == (c->dialect == P9_2000L ? Rlopen : Ropen) ? 0 : -1;
}

static int
iserrno(Pconn *c, uint32_t e)
{
	return c->r.type == Rlerror && c->r.errnum == e;
}

static int
rreadn(Px *p)
{
	return p->held[Rread] >= 8 || p->held[Rlerror] > 0;
}

static int
rwriten(Px *p)
{
	return p->held[Rwrite] >= 1 || p->held[Rlerror] > 0;
}

static int nconnwant;

/* Write n bytes to the file at path in the export. */
static int
putfile(const char *name, const void *b, size_t n)
{
	FILE *f;
	int r;

	if((f = fopen(pc_path(exp_, name), "w")) == NULL)
		return -1;
	r = fwrite(b, 1, n, f) == n ? 0 : -1;
	return fclose(f) == 0 ? r : -1;
}

/*
 * Reads in flight when the upstream goes (the server answered them,
 * the answers never came): sent again on the new connection, each
 * answered once, the data right.
 */
static void
readstream(Pconn *c)
{
	Fcall t;
	uint32_t count;
	int i, n, good;

	if(!ok(fopenat(c, 2, "big", LRDONLY) == 0, "read stream: big opened"))
		return;
	count = c->r.iounit ? c->r.iounit : 65536;
	n = BIG / (int)count;
	if(n > 32)
		n = 32;
	px_lock(px);
	px->hold = 1;
	px_unlock(px);
	for(i = 0; i < n; i++){
		pc_mkread(&t, (uint16_t)(100 + i), 2, (uint64_t)i * count, count);
		pc_send(c->fd, &t, c->dialect);
	}
	ok(px_wait(px, rreadn, T), "read stream: %d reads of %u bytes (%u in all) answered by diod, the answers held back",
		n, count, n * count);
	nconnwant = px->nconn + 1;
	px_cut(px, 0);
	good = 0;
	for(i = 0; i < n; i++){
		if(pc_next(c, T) < 0 || c->r.type != Rread)
			break;
		good += c->r.tag >= 100 && c->r.tag < 100 + n && c->r.count == count &&
			memcmp(c->r.data, big + (size_t)(c->r.tag - 100) * count, count) == 0;
	}
	ok(good == n, "read stream: cut; after the restore every read is answered with the right data (%d of %d)", good, n);
	px_lock(px);
	i = px->sent[Tread];
	px_unlock(px);
	ok(px->nconn == nconnwant && i == n, "read stream: each sent once on the new connection (%d Treads)", i);
	pc_mkread(&t, 7, 2, (uint64_t)n * count, count);
	ok(pc_rpc(c, &t, T) == Rread && c->r.tag == 7 && memcmp(c->r.data, big + (size_t)n * count, c->r.count) == 0,
		"read stream: the next read, where it was: no reply twice, the right data");
}

/* A write the server did, its reply lost: one error, never sent again. */
static void
writeonce(Pconn *c)
{
	struct stat st;
	Fcall t;
	char buf[16];
	FILE *f;
	size_t n;
	int k;

	putfile("w", "", 0);
	if(!ok(fopenat(c, 3, "w", LWRONLY) == 0, "write: w opened for writing"))
		return;
	px_lock(px);
	px->hold = 1;
	px_unlock(px);
	pc_mkfid(&t, Twrite, 20, 3);
	t.offset = 0;
	t.count = 4;
	t.data = (const uint8_t *)"ABCD";
	pc_send(c->fd, &t, c->dialect);
	ok(px_wait(px, rwriten, T), "write: diod did the write, its Rwrite held back");
	nconnwant = px->nconn + 1;
	px_cut(px, 0);
	ok(pc_next(c, T) > 0 && c->r.tag == 20 && iserrno(c, 5), "write: cut: one error (EIO), its outcome unknown");
	t.tag = 21;
	t.offset = 4;
	t.data = (const uint8_t *)"EFGH";
	ok(pc_rpc(c, &t, T) == Rwrite && c->r.tag == 21 && c->r.count == 4, "write: the fid was restored, the next write done");
	px_lock(px);
	k = px->sent[Twrite];
	px_unlock(px);
	ok(px->nconn == nconnwant && k == 1, "write: the lost write was not sent again (%d Twrites on the new connection)", k);
	n = 0;
	if((f = fopen(pc_path(exp_, "w"), "r")) != NULL){
		n = fread(buf, 1, sizeof buf, f);
		fclose(f);
	}
	ok(n == 8 && memcmp(buf, "ABCDEFGH", 8) == 0 && stat(pc_path(exp_, "w"), &st) == 0,
		"write: the file holds each write once: %.*s", (int)n, buf);
}

/* A file replaced at its path while the upstream is away: its fid dies, the new one opens. */
static void
replaced(Pconn *c)
{
	Fcall t;

	putfile("f1", "old\n", 4);
	if(!ok(fopenat(c, 4, "f1", LRDONLY) == 0, "replaced: f1 opened"))
		return;
	pc_mkread(&t, 30, 4, 0, 100);
	ok(pc_rpc(c, &t, T) == Rread && c->r.count == 4 && memcmp(c->r.data, "old\n", 4) == 0, "replaced: reads old");
	/* a new file renamed over it: another inode, so another qid path */
	putfile("f1.new", "new\n", 4);
	ok(rename(pc_path(exp_, "f1.new"), pc_path(exp_, "f1")) == 0, "replaced: another file at its path");
	px_cut(px, 0);
	ok(pc_rpc(c, &t, T) == Rlerror && iserrno(c, 116), "replaced: cut and restored: its fid is dead (ESTALE)");
	ok(pc_fidop(c, Tclunk, 31, 4) == Rclunk, "replaced: its Tclunk succeeds");
	ok(fopenat(c, 4, "f1", LRDONLY) == 0 && pc_rpc(c, &t, T) == Rread && c->r.count == 4 &&
		memcmp(c->r.data, "new\n", 4) == 0, "replaced: opened again, it reads the new file");
}

/* The names in an Rreaddir (c->r), joined; the offset of the last in *last. */
static void
names(Pconn *c, char *out, size_t len, uint64_t *last)
{
	P9dirent e;
	size_t off;
	long k;

	out[0] = '\0';
	for(off = 0; off < c->r.count; off += (size_t)k){
		if((k = p9direntdecode(c->r.data + off, c->r.count - off, &e)) <= 0)
			break;
		if(!(e.name.n == 1 && e.name.s[0] == '.') && !(e.name.n == 2 && memcmp(e.name.s, "..", 2) == 0))
			snprintf(out + strlen(out), len - strlen(out), "%.*s ", e.name.n, e.name.s);
		*last = e.offset;
	}
}

/* A directory listed again after a restore: from offset 0 only. */
static void
listing(Pconn *c)
{
	char a[512], b[512], want[512];
	uint64_t last;
	Fcall t;
	int i;

	mkdir(pc_path(exp_, "dir"), 0755);
	want[0] = '\0';
	for(i = 0; i < 5; i++){
		snprintf(a, sizeof a, "dir/e%d", i);
		putfile(a, "x", 1);
	}
	if(!ok(fopenat(c, 5, "dir", LRDONLY | LDIRECTORY) == 0, "listing: dir opened"))
		return;
	pc_mkfid(&t, Treaddir, 40, 5);
	t.offset = 0;
	t.count = 8192;
	last = 0;
	ok(pc_rpc(c, &t, T) == Rreaddir, "listing: read");
	names(c, a, sizeof a, &last);
	ok(strstr(a, "e0") && strstr(a, "e4"), "listing: %s", a);
	px_cut(px, 0);
	t.offset = last;
	ok(pc_rpc(c, &t, T) == Rlerror && iserrno(c, 116), "listing: cut and restored: a read at the old cookie: ESTALE");
	t.offset = 0;
	ok(pc_rpc(c, &t, T) == Rreaddir, "listing: from cookie 0 again");
	names(c, b, sizeof b, &last);
	ok(strcmp(a, b) == 0, "listing: the same names: %s", b);
	(void)want;
}

/* Losses during the restore (at its 50th Twalk, twice): the third connection restores everything. */
static void
converge(void)
{
	Pconn *c;
	Fcall t;
	int i, good, n0, n1;

	c = session(P9_2000L, exp_);
	for(i = 0; c != NULL && i < NFIDS; i++)
		if(fopenat(c, 100 + (uint32_t)i, "big", LRDONLY) < 0)
			break;
	if(!ok(c != NULL && i == NFIDS, "converge: %d files open in one session", NFIDS))
		return;
	n0 = pc_count(pc_path(dir, "mux.log"), "lost while restoring");
	n1 = pc_count(pc_path(dir, "mux.log"), "restored:");
	px_lock(px);
	px->cutwalks = 50;
	px->cuts = 2;
	px_unlock(px);
	nconnwant = px->nconn + 3;
	px_cut(px, 0);
	good = 0;
	for(i = 0; i < NFIDS; i++){
		pc_mkread(&t, 9, 100 + (uint32_t)i, (uint64_t)i * 1000, 1000);
		good += pc_rpc(c, &t, T) == Rread && memcmp(c->r.data, big + i * 1000, 1000) == 0;
	}
	ok(good == NFIDS, "converge: then every fid reads right (%d)", good);
	ok(px->nconn == nconnwant, "converge: on the third connection (%d)", px->nconn);
	ok(pc_count(pc_path(dir, "mux.log"), "lost while restoring") == n0 + 2,
		"converge: 9mux -v logs the two losses during the restore");
	ok(pc_waitcount(pc_path(dir, "mux.log"), "restored:", n1 + 1, T) == n1 + 1,
		"converge: and one restore that finished");
	pc_close(c);
}

static int
fidcount(void)
{
	long fids, tags;

	if(pc_srvstate(srv, pc_path(dir, "srv.log"), &fids, &tags) < 0)
		return -1;
	return (int)fids;
}

/* The server's fid count once it is n (a connection cut is let go by the server in its own time), or what it is. */
static int
fidsettle(int n)
{
	int i, k;

	for(i = 0; i < 200 && (k = fidcount()) != n; i++)
		pc_sleep(50);
	return k;
}

/* The value of key in 9mux's control tree's stats, or -1. */
static long
stat9mux(const char *key)
{
	char want[64], text[4096], *p;
	Pconn *c;
	Fcall t;
	long v;

	v = -1;
	c = pc_open(pc_path(dir, "ctl.sock"), P9_2000);
	if(pc_openfile(c, 65536, "me", "stats") == 0){
		pc_mkread(&t, 4, 2, 0, sizeof text - 2);
		if(pc_rpc(c, &t, T) == Rread){
			text[0] = '\n';
			memcpy(text + 1, c->r.data, c->r.count);
			text[c->r.count + 1] = '\0';
			snprintf(want, sizeof want, "\n%s ", key);
			if((p = strstr(text, want)) != NULL)
				v = strtol(p + strlen(want), NULL, 10);
		}
	}
	pc_close(c);
	return v;
}

/* 9testsrv counts its fids: after each restore, exactly the clients'; none after they leave. */
static void
leaks(void)
{
	Pconn *c[3];
	int i, k, n;

	unlink(pc_path(dir, "srv.sock"));
	{
		const char *av[] = { pc_prog("9testsrv"), "-l", pc_path(dir, "srv.log"), "-a",
			pc_unixaddr(dir, "srv.sock"), NULL };

		srv = pc_spawn(av, pc_path(dir, "srv.err"));
		pc_waitsock(pc_path(dir, "srv.sock"), 10000);
	}
	unlink(pc_path(dir, "up.sock"));
	px = px_new(pc_path(dir, "up.sock"), pc_path(dir, "srv.sock"));
	if(!ok(px != NULL && startmux("mux2.log", pc_unixaddr(dir, "up.sock"), "30", "9P2000") == 0,
		"leaks: 9testsrv, the proxy and 9mux -P 30"))
		return;
	n = 0;
	for(i = 0; i < 3; i++){
		c[i] = session(P9_2000, "");
		if(c[i] && fopenat(c[i], 2, "hello", P9_OREAD) == 0 && pc_walk(c[i], 4, 1, 3, "sub/file") == Rwalk)
			n++;
	}
	ok(n == 3 && fidsettle(9) == 9, "leaks: three sessions, nine fids on the server");
	for(k = 0; k < 2; k++){
		px_lock(px);
		px->cutwalks = 4;
		px->cuts = k;
		px_unlock(px);
		px_cut(px, 0);
		n = 0;
		for(i = 0; i < 3; i++)
			n += pc_fidop(c[i], Tstat, 5, 3) == Rstat && pc_fidop(c[i], Tstat, 5, 2) == Rstat;
		ok(n == 3 && fidsettle(9) == 9, "leaks: cut%s: after the restore the server holds the nine fids (%d)",
			k ? " twice, once mid-restore" : "", fidcount());
	}
	ok(stat9mux("restores") == 2 && stat9mux("fids_restored") >= 18 && stat9mux("fids_dead") == 0 &&
		stat9mux("losses") >= 2, "leaks: the control tree counts them: %ld restores, %ld fids restored, %ld dead, %ld losses",
		stat9mux("restores"), stat9mux("fids_restored"), stat9mux("fids_dead"), stat9mux("losses"));
	for(i = 0; i < 3; i++)
		pc_close(c[i]);
	ok(fidsettle(0) == 0, "leaks: the clients gone, the server holds none");
	ok(pc_count(pc_path(dir, "srv.log"), "VIOLATION") == 0, "leaks: 9testsrv saw no breach of the protocol");
	stopmux("leaks");
	px_free(px);
	px = NULL;
	pc_kill(srv, SIGTERM);
	srv = -1;
}

/* 9ramfs loses everything at a restart: fids die cleanly, the root comes back, no hang. */
static void
ramfs(void)
{
	const char *av[] = { pc_prog("9ramfs"), "-a", pc_unixaddr(dir, "ram.sock"), NULL };
	Pconn *c;
	Fcall t;
	int st;

	unlink(pc_path(dir, "ram.sock"));
	srv = pc_spawn(av, pc_path(dir, "ram.err"));
	if(!ok(pc_waitsock(pc_path(dir, "ram.sock"), 10000) == 0 &&
		startmux("mux3.log", pc_unixaddr(dir, "ram.sock"), "30", "9P2000") == 0, "9ramfs: 9ramfs and 9mux -P 30"))
		return;
	c = session(P9_2000, "");
	pc_mkfid(&t, Tcreate, 2, 1);
	ok(c != NULL && pc_walk(c, 2, 1, 2, "") == Rwalk, "9ramfs: a session");
	t.fid = 2;
	t.name = p9str("x");
	t.perm = 0644;
	t.mode = P9_ORDWR;
	ok(pc_rpc(c, &t, T) == Rcreate, "9ramfs: x created and open");
	pc_mkfid(&t, Twrite, 3, 2);
	t.count = 4;
	t.data = (const uint8_t *)"data";
	ok(pc_rpc(c, &t, T) == Rwrite, "9ramfs: written");
	pc_kill(srv, SIGKILL);
	unlink(pc_path(dir, "ram.sock"));
	srv = pc_spawn(av, pc_path(dir, "ram.err"));
	pc_waitsock(pc_path(dir, "ram.sock"), 10000);
	pc_mkread(&t, 4, 2, 0, 100);
	st = pc_rpc(c, &t, T);
	ok(st == Rerror && pc_has(c->r.ename.s, c->r.ename.n, "could not be restored"),
		"9ramfs: restarted, empty: the open file's fid is dead: %.*s", c->r.ename.n, c->r.ename.s);
	ok(pc_fidop(c, Tstat, 5, 1) == Rstat, "9ramfs: the root came back");
	ok(pc_fidop(c, Tclunk, 6, 2) == Rclunk, "9ramfs: the dead fid's Tclunk succeeds");
	ok(pc_walk(c, 7, 1, 2, "x") == Rerror, "9ramfs: x is gone, as the server says");
	pc_close(c);
	stopmux("9ramfs");
	pc_kill(srv, SIGTERM);
	srv = -1;
}

/* Past -P: what waited fails as without it; the session is dead, new ones are served. */
static void
giveup(void)
{
	Pconn *c, *d;
	long t0;
	int st;

	unlink(pc_path(dir, "up.sock"));
	px = px_new(pc_path(dir, "up.sock"), pc_path(dir, "diod.sock"));
	if(!ok(px != NULL && startmux("mux4.log", pc_unixaddr(dir, "up.sock"), "2", "9P2000.L") == 0,
		"give up: 9mux -P 2"))
		return;
	c = session(P9_2000L, exp_);
	ok(c != NULL, "give up: a session");
	px_lock(px);
	px->down = 1;
	px_unlock(px);
	px_cut(px, 0);
	t0 = pc_now();
	st = pc_fidop(c, Tgetattr, 2, 1);
	ok(st == Rlerror && iserrno(c, 5), "give up: the upstream stays away: the request waits, then fails (EIO) after %ld ms",
		pc_now() - t0);
	ok(pc_count(pc_path(dir, "mux4.log"), "not restored within -P 2 s") == 1, "give up: 9mux logs why");
	px_lock(px);
	px->down = 0;
	px_unlock(px);
	/* the next redial is some seconds away: a bound, not a pace */
	t0 = pc_now();
	while((d = session(P9_2000L, exp_)) == NULL && pc_now() - t0 < 60000)
		pc_sleep(100);
	ok(d != NULL, "give up: back: a new session attaches");
	ok(pc_fidop(c, Tgetattr, 3, 1) == Rlerror, "give up: the old one is dead, as without -P");
	pc_close(c);
	pc_close(d);
	stopmux("give up");
	px_free(px);
	px = NULL;
}

int
main(int argc, char **argv)
{
	Pconn *c;
	size_t i;

	tap_start(140);
	pc_setbin(argv[0]);
	(void)argc;
	if(access("/usr/sbin/diod", X_OK) != 0){
		printf("1..0 # SKIP diod is not installed\n");
		return 0;
	}
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &diod, &srv, NULL);
	exp_ = strdup(pc_path(dir, "export"));
	mkdir(exp_, 0755);
	srandom(1);
	for(i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)random();
	putfile("big", big, sizeof big);
	if(!ok(startdiod() == 0, "diod serves the export"))
		goto out;
	px = px_new(pc_path(dir, "up.sock"), pc_path(dir, "diod.sock"));
	if(!ok(px != NULL && startmux("mux.log", pc_unixaddr(dir, "up.sock"), "30", "9P2000.L") == 0,
		"9mux -P 30 -V 9P2000.L, through the proxy"))
		goto out;
	c = session(P9_2000L, exp_);
	if(!ok(c != NULL, "a session attached"))
		goto out;
	readstream(c);
	writeonce(c);
	replaced(c);
	listing(c);
	converge();
	ok(pc_count(pc_path(dir, "mux.log"), " dead") >= 1, "9mux -v logs each restore with its counts");
	pc_close(c);
	stopmux("diod");
	px_free(px);
	px = NULL;
	leaks();
	ramfs();
	giveup();
out:
	if(tap_failed){
		char cmd[1024];

		snprintf(cmd, sizeof cmd, "cat %s/mux*.log | sed 's/^/# /' | tail -60", dir);
		if(system(cmd) != 0)
			diag("no log");
	}
	if(mux > 0)
		pc_kill(mux, SIGKILL);
	if(srv > 0)
		pc_kill(srv, SIGKILL);
	if(diod > 0)
		pc_kill(diod, SIGTERM);
	if(px)
		px_free(px);
	pc_rmdir(dir);
	return done_testing();
}
