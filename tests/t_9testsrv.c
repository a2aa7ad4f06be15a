/*
 * 9testsrv itself: it serves its tree in both dialects, records every
 * message, and catches each kind of tag and fid violation it promises
 * to catch (and reports none for a correct session).
 */
#include "tap.h"
#include "p9conv.h"

static const char *dir;
static char sock[400], logp[400], errp[400];
static pid_t srv = -1;

static void
cleanup(void)
{
	if(srv > 0)
		pc_kill(srv, SIGTERM);
	srv = -1;
}

static void
onalarm(int sig)
{
	(void)sig;
	if(srv > 0)
		kill(srv, SIGKILL);
	pc_rmdir(dir);
	_exit(1);
}

/* Start 9testsrv with extra flags (NULL-terminated) as instance name. */
static void
start(const char *name, ...)
{
	const char *argv[32];
	char addr[420];
	va_list ap;
	int n;

	snprintf(sock, sizeof sock, "%s/%s.sock", dir, name);
	snprintf(logp, sizeof logp, "%s/%s.log", dir, name);
	snprintf(errp, sizeof errp, "%s/%s.err", dir, name);
	snprintf(addr, sizeof addr, "unix!%s", sock);
	n = 0;
	argv[n++] = pc_prog("9testsrv");
	argv[n++] = "-l";
	argv[n++] = logp;
	argv[n++] = "-a";
	argv[n++] = addr;
	va_start(ap, name);
	while(n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	srv = pc_spawn(argv, errp);
	if(!ok(pc_waitsock(sock, 5000) == 0, "%s: 9testsrv listens", name))
		diag("  %s", pc_slurp(errp));
}

static Pconn *
session(const char *version, uint32_t msize)
{
	Pconn *c;

	c = pc_open(sock, p9dialect(version, strlen(version)));
	if(c == NULL)
		return NULL;
	pc_version(c, msize, version);
	return c;
}

static int
violations(void)
{
	return pc_count(logp, "VIOLATION");
}

int
main(int argc, char **argv)
{
	Pconn *c;
	Fcall t;
	long fids, tags;
	int v, r, st;
	uint8_t raw[64];

	(void)argc;
	tap_start(60);
	signal(SIGALRM, onalarm);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();

	/* A correct 9P2000 session: served, logged, no violation. */
	start("plain", "-m", "8192", "-i", "100000", NULL);
	c = session("9P2000", 65536);
	ok(c != NULL && c->r.type == Rversion, "Tversion answered");
	is_int(c->msize, 8192, "msize is the smaller one");
	ok(p9streq(c->r.version, "9P2000"), "version 9P2000");
	is_int(pc_attach(c, 1, 1, "glenda"), Rattach, "Tattach");
	is_int(pc_walk(c, 2, 1, 2, "hello"), Rwalk, "Twalk to hello");
	is_int(c->r.nwqid, 1, "one qid");
	is_int(pc_open1(c, 3, 2, P9_OREAD), Ropen, "Topen");
	is_int(c->r.iounit, 100000, "iounit as -i says");
	pc_mkread(&t, 4, 2, 0, 100);
	is_int(pc_rpc(c, &t, 5000), Rread, "Tread");
	ok(c->r.count == 13 && memcmp(c->r.data, "hello, world\n", 13) == 0, "read the file");
	pc_mkread(&t, 4, 2, 0, 1 << 20);
	is_int(pc_rpc(c, &t, 5000), Rread, "Tread with a huge count");
	is_int(pc_walk(c, 5, 1, 3, "sub/nothere"), Rwalk, "short walk");
	is_int(c->r.nwqid, 1, "stops after sub");
	is_int(pc_walk(c, 5, 1, 4, ""), Rwalk, "clone");
	is_int(pc_fidop(c, Tread, 6, 4), Rerror, "read of an unopened fid fails");
	is_int(pc_fidop(c, Tstat, 6, 4), Rstat, "Tstat");
	is_int(pc_fidop(c, Tclunk, 7, 4), Rclunk, "Tclunk");
	is_int(pc_fidop(c, Tclunk, 7, 2), Rclunk, "Tclunk");
	ok(pc_waitcount(logp, "Tattach tag 1", 1, 2000) == 1, "Tattach logged");
	ok(pc_count(logp, "uname=glenda") == 1, "uname logged");
	ok(pc_count(logp, "Twalk tag 2\tn") == 0 && pc_count(logp, "new=2") == 1,
		"fid fields logged by role");
	is_int(violations(), 0, "no violation in a correct session");
	ok(pc_srvstate(srv, logp, &fids, &tags) == 0, "SIGUSR1 reports");
	is_int(fids, 1, "one fid left (the attach)");
	is_int(tags, 0, "no tag in flight");
	/* fid 3 exists? No: the short walk created nothing. */
	v = violations();
	is_int(pc_fidop(c, Tstat, 8, 3), Rerror, "fid of a short walk does not exist");
	is_int(violations(), v + 1, "and using it is a violation");

	/* Each violation is caught. */
	v = violations();
	is_int(pc_fidop(c, Tstat, 9, 99), Rerror, "unknown fid refused");
	is_int(violations(), v + 1, "unknown fid: VIOLATION");
	is_int(pc_walk(c, 10, 1, 1, "hello"), Rwalk, "walk in place is no violation");
	is_int(violations(), v + 1, "still one");
	is_int(pc_walk(c, 11, 1, 5, ""), Rwalk, "clone to 5");
	is_int(pc_walk(c, 12, 1, 5, ""), Rerror, "clone to 5 again refused");
	is_int(violations(), v + 2, "fid in use: VIOLATION");
	is_int(pc_fidop(c, Tclunk, P9_NOTAG, 5), Rclunk, "Tclunk with NOTAG answered");
	is_int(violations(), v + 3, "NOTAG: VIOLATION");
	is_int(pc_fidop(c, Tclunk, 13, 5), Rerror, "clunked fid is gone");
	is_int(violations(), v + 4, "clunked fid: VIOLATION");
	/* size above msize: an Rerror is not promised, the log line is */
	memset(raw, 0, sizeof raw);
	p9put32(raw, 9000);
	raw[4] = Tclunk;
	pc_write(c->fd, raw, 7);
	{
		uint8_t *big = calloc(1, 9000);
		pc_write(c->fd, big, 9000 - 7);
		free(big);
	}
	ok(pc_waitcount(logp, "above msize", 1, 3000) == 1, "size above msize: VIOLATION");
	pc_next(c, 2000);	/* the Rerror to that frame, if any */
	raw[4] = 200;
	p9put32(raw, 7);
	p9put16(raw + 5, 14);
	pc_write(c->fd, raw, 7);
	r = (int)pc_next(c, 3000);
	ok(r > 0 && pc_iserr(c), "unknown type 200 gets an error");
	ok(pc_count(logp, "UNKNOWN") == 1 && pc_count(logp, " type 200 tag 14") == 2,
		"unknown type logged");
	v = pc_count(logp, "HANGUP");
	pc_close(c);
	ok(pc_waitcount(logp, "HANGUP", v + 1, 3000) >= v + 1, "hang-up logged");
	cleanup();
	ok(pc_count(logp, "EXIT") == 1, "SIGTERM: state written at exit");

	/* Delays: a delayed reply does not hold up others; tag reuse; fid reuse. */
	start("delay", "-d", "Tstat:400", "-d", "Tclunk:400", NULL);
	c = session("9P2000", 8192);
	pc_attach(c, 1, 1, "u");
	pc_walk(c, 2, 1, 2, "hello");
	pc_mkfid(&t, Tstat, 3, 2);
	pc_send(c->fd, &t, c->dialect);
	is_int(pc_walk(c, 4, 1, 3, "sub"), Rwalk, "walk answered while Tstat waits");
	ok(pc_next(c, 3000) > 0 && c->r.type == Rstat && c->r.tag == 3, "then the delayed Rstat");
	is_int(violations(), 0, "no violation so far");
	pc_send(c->fd, &t, c->dialect);
	pc_send(c->fd, &t, c->dialect);
	ok(pc_waitcount(logp, "reused while in flight", 1, 3000) == 1, "tag reuse in flight: VIOLATION");
	pc_next(c, 3000);
	pc_next(c, 3000);
	v = violations();
	pc_mkfid(&t, Tclunk, 5, 3);
	pc_send(c->fd, &t, c->dialect);
	is_int(pc_walk(c, 6, 1, 3, ""), Rerror, "fid reused before its Rclunk refused");
	is_int(violations(), v + 1, "fid reused before Rclunk: VIOLATION");
	ok(pc_next(c, 3000) > 0 && c->r.type == Rclunk, "Rclunk arrives late");
	is_int(pc_walk(c, 7, 1, 3, ""), Rwalk, "after Rclunk the fid may be reused");
	is_int(violations(), v + 1, "and that is no violation");
	pc_close(c);
	cleanup();

	/* Drop and flush; -o sends the original first. */
	start("drop", "-x", "Tread", "-e", "Tremove", NULL);
	c = session("9P2000", 8192);
	pc_attach(c, 1, 1, "u");
	pc_walk(c, 2, 1, 2, "hello");
	pc_open1(c, 3, 2, P9_OREAD);
	pc_mkread(&t, 4, 2, 0, 10);
	pc_send(c->fd, &t, c->dialect);
	ok(pc_next(c, 500) == PC_TIMEOUT, "dropped Tread is not answered");
	ok(pc_srvstate(srv, logp, &fids, &tags) == 0 && tags == 1, "one tag in flight");
	memset(&t, 0, sizeof t);
	t.type = Tflush;
	t.tag = 5;
	t.oldtag = 4;
	is_int(pc_rpc(c, &t, 3000), Rflush, "Tflush: Rflush, no Rread");
	ok(pc_srvstate(srv, logp, &fids, &tags) == 0 && tags == 0, "no tag in flight after the flush");
	pc_walk(c, 6, 1, 7, "hello");
	is_int(fids, 2, "two fids");
	is_int(pc_fidop(c, Tremove, 7, 7), Rerror, "-e Tremove: Rerror");
	ok(pc_srvstate(srv, logp, &fids, &tags) == 0 && fids == 2, "failed Tremove destroyed the fid");
	is_int(violations(), 0, "no violation");
	pc_close(c);
	cleanup();

	/* A flushed request's tag stays in flight until the Rflush goes. */
	start("hold", "-x", "Tread", "-d", "Tflush:400", NULL);
	c = session("9P2000", 8192);
	pc_attach(c, 1, 1, "u");
	pc_walk(c, 2, 1, 2, "hello");
	pc_open1(c, 3, 2, P9_OREAD);
	pc_mkread(&t, 4, 2, 0, 10);
	pc_send(c->fd, &t, c->dialect);
	memset(&t, 0, sizeof t);
	t.type = Tflush;
	t.tag = 5;
	t.oldtag = 4;
	pc_send(c->fd, &t, c->dialect);
	pc_mkfid(&t, Tstat, 4, 1);
	is_int(pc_rpc(c, &t, 3000), Rstat, "tag of a flushed request reused before Rflush: answered");
	is_int(violations(), 1, "but a VIOLATION");
	ok(pc_next(c, 3000) > 0 && c->r.type == Rflush && c->r.tag == 5, "then Rflush");
	is_int(pc_rpc(c, &t, 3000), Rstat, "reused after the Rflush");
	is_int(violations(), 1, "no further violation");
	ok(pc_srvstate(srv, logp, &fids, &tags) == 0 && tags == 0, "no tag left in flight");
	pc_close(c);
	cleanup();

	start("orig", "-o", "-x", "Tread", NULL);
	c = session("9P2000", 8192);
	pc_attach(c, 1, 1, "u");
	pc_walk(c, 2, 1, 2, "hello");
	pc_open1(c, 3, 2, P9_OREAD);
	pc_mkread(&t, 4, 2, 0, 10);
	pc_send(c->fd, &t, c->dialect);
	memset(&t, 0, sizeof t);
	t.type = Tflush;
	t.tag = 5;
	t.oldtag = 4;
	is_int(pc_rpc(c, &t, 3000), Rread, "-o: the original reply first");
	ok(pc_next(c, 3000) > 0 && c->r.type == Rflush, "then Rflush");
	pc_close(c);
	cleanup();

	/* 9P2000.L. */
	start("dotl", NULL);
	c = session("9P2000.L", 8192);
	ok(c != NULL && p9streq(c->r.version, "9P2000.L"), "9P2000.L negotiated");
	pc_attach(c, 1, 1, "u");
	is_int(pc_fidop(c, Tgetattr, 2, 1), Rgetattr, "Tgetattr");
	pc_walk(c, 3, 1, 2, "");
	is_int(pc_open1(c, 4, 2, 0), Rlopen, "Tlopen");
	memset(&t, 0, sizeof t);
	t.type = Treaddir;
	t.tag = 5;
	t.fid = 2;
	t.count = 4096;
	is_int(pc_rpc(c, &t, 3000), Rreaddir, "Treaddir");
	ok(c->r.count > 0, "entries");
	memset(&t, 0, sizeof t);
	t.type = Tmkdir;
	t.tag = 6;
	t.dfid = 1;
	t.name = p9str("newdir");
	t.mode = 0755;
	is_int(pc_rpc(c, &t, 3000), Rmkdir, "Tmkdir");
	is_int(pc_rpc(c, &t, 3000), Rlerror, "Tmkdir again: Rlerror");
	memset(&t, 0, sizeof t);
	t.type = Trenameat;
	t.tag = 7;
	t.dfid = 1;
	t.newdfid = 1;
	t.name = p9str("newdir");
	t.newname = p9str("renamed");
	is_int(pc_rpc(c, &t, 3000), Rrenameat, "Trenameat");
	ok(pc_count(logp, "Trenameat") == 1 && pc_count(logp, "use=1 use=1") == 1, "both dir fids logged");
	is_int(pc_walk(c, 8, 1, 3, "renamed"), Rwalk, "renamed dir is there");
	memset(&t, 0, sizeof t);
	t.type = Txattrwalk;
	t.tag = 9;
	t.fid = 1;
	t.newfid = 4;
	t.name = p9str("user.x");
	is_int(pc_rpc(c, &t, 3000), Rxattrwalk, "Txattrwalk");
	is_int(pc_fidop(c, Tclunk, 10, 4), Rclunk, "clunk the xattr fid");
	is_int(violations(), 0, "no violation in the .L session");
	pc_close(c);
	cleanup();

	/* An aname of its own is a tree of its own; a small report names the fids. */
	start("trees", NULL);
	c = session("9P2000", 8192);
	pc_attach(c, 1, 1, "u");
	{
		Fcall a;

		memset(&a, 0, sizeof a);
		a.type = Tattach;
		a.tag = 2;
		a.fid = 2;
		a.afid = P9_NOFID;
		a.uname = p9str("u");
		a.aname = p9str("scratch");
		is_int(pc_rpc(c, &a, 3000), Rattach, "attach aname scratch");
	}
	pc_walk(c, 3, 2, 3, "hello");
	is_int(pc_fidop(c, Tremove, 4, 3), Rremove, "remove hello from scratch");
	is_int(pc_walk(c, 5, 2, 4, "hello"), Rerror, "gone from scratch");
	is_int(pc_walk(c, 6, 1, 4, "hello"), Rwalk, "still in the shared tree");
	ok(pc_srvstate(srv, logp, &fids, &tags) == 0 && fids == 3, "three fids");
	ok(pc_count(logp, "FID c") == 3 && pc_count(logp, " hello") >= 1, "the report names each fid");
	pc_close(c);
	cleanup();

	/* 9P2000.u when asked. */
	start("dotu", NULL);
	c = session("9P2000.u", 8192);
	ok(c != NULL && p9streq(c->r.version, "9P2000.u"), "9P2000.u negotiated");
	pc_attach(c, 1, 1, "u");
	is_int(pc_fidop(c, Tstat, 2, 1), Rstat, "Tstat in .u");
	{
		P9dir d;

		ok(p9dirdecode(c->r.stat, c->r.nstat, P9_2000U, &d) > 0, "a .u stat entry");
	}
	pc_close(c);
	cleanup();

	/* -j: an unsolicited reply first; -g: garbage instead of the reply. */
	start("junk", "-j", "Tstat", "-g", "Tclunk", NULL);
	c = session("9P2000", 8192);
	pc_attach(c, 1, 1, "u");
	is_int(pc_fidop(c, Tstat, 2, 1), Rclunk, "-j Tstat: an Rclunk first");
	ok(c->r.tag != 2, "for another tag (%u)", c->r.tag);
	ok(pc_next(c, 3000) > 0 && c->r.type == Rstat && c->r.tag == 2, "then the Rstat");
	is_int(pc_fidop(c, Tclunk, 3, 1), P9_ESHORT, "-g Tclunk: a 5-byte frame instead of Rclunk");
	pc_close(c);
	cleanup();

	/* The server exits 1 on a bad flag. */
	{
		const char *av[] = { pc_prog("9testsrv"), "-d", "Tbogus:1", "-a", "unix!/nonexistent/x", NULL };
		pid_t p = pc_spawn(av, errp);
		st = pc_waitexit(p, 3000);
		ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "bad flag: exit 1");
	}

	pc_rmdir(dir);
	return done_testing();
}
