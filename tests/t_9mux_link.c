/*
 * A link seen frame by frame: the test plays a peer 9mux on a -l
 * socket.  Its requests are served by the server's upstream as a
 * client's are; 9mux's own Tversion to it is retried on the same
 * connection when refused, the other direction undisturbed; a -r client
 * is carried to the latest link; a reply to nothing, or a bad frame,
 * ends that link and no other (a real laptop 9mux linked beside it
 * keeps working).
 */
#include "tap.h"
#include "p9conv.h"

enum {
	T	= 5000,
};

static const char *dir;
static pid_t ram = -1, ramL = -1, mux = -1, laptop = -1;

/* A peer on the link socket: a connection read in 9P2000.L. */
static Pconn *
peer(void)
{
	return pc_open(pc_path(dir, "link.sock"), P9_2000L);
}

/* The next frame from 9mux, whatever its direction: its type, or < 0. */
static int
next(Pconn *p, int ms)
{
	long n;

	n = pc_next(p, ms);
	return n < 0 ? (int)n : p->r.type;
}

/* Answer 9mux's Tversion (in p->r) with an Rversion of v. */
static void
rversion(Pconn *p, const char *v)
{
	Fcall r;

	memset(&r, 0, sizeof r);
	r.type = Rversion;
	r.tag = P9_NOTAG;
	r.msize = 8192;
	r.version = p9str(v);
	pc_send(p->fd, &r, P9_2000);
}

/* A request from the peer, and its reply, skipping 9mux's own Tversions: the reply's type. */
static int
ask(Pconn *p, Fcall *t, int *tversions)
{
	int type;

	if(pc_send(p->fd, t, P9_2000L) < 0)
		return -1;
	while((type = next(p, T)) == Tversion)
		(*tversions)++;
	return type;
}

static int
stillgood(void)
{
	Pconn *c;
	int good;

	/* the laptop's clients reach the server's 9ramfs over the other link */
	c = pc_open(pc_path(dir, "server.sock"), P9_2000L);
	good = c && pc_version(c, 8192, "9P2000.L") == Rversion && pc_attach(c, 1, 1, "me") == Rattach &&
		pc_walk(c, 2, 1, 2, "") == Rwalk;
	if(!good && c)
		diag("the laptop's client got %s (errno %u)", p9typename(c->r.type) ? p9typename(c->r.type) : "nothing",
			c->r.errnum);
	pc_close(c);
	return good;
}

int
main(int argc, char **argv)
{
	Pconn *p, *q;
	Fcall t, r;
	char line[512];
	int tv, type, i;

	(void)argc;
	tap_start(60);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &laptop, &ram, &ramL, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	{
		const char *a[] = { pc_prog("9ramfs"), "-a", pc_unixaddr(dir, "ram"), NULL };
		const char *b[] = { pc_prog("9ramfs"), "-a", pc_unixaddr(dir, "ramL"), NULL };

		ram = pc_spawn(a, pc_path(dir, "ram.err"));
		ramL = pc_spawn(b, pc_path(dir, "ramL.err"));
	}
	ok(pc_waitsock(pc_path(dir, "ram"), T) == 0 && pc_waitsock(pc_path(dir, "ramL"), T) == 0, "two 9ramfs");
	{
		/* both 9P2000.L, as 9ramfs speaks it: a link carries one dialect each way */
		const char *a[] = { pc_prog("9mux"), "-v", "-V", "9P2000.L", "-k", "0", "-l", pc_unixaddr(dir, "link.sock"),
			"-r", pc_unixaddr(dir, "rev.sock"), pc_unixaddr(dir, "ram"), NULL };
		const char *b[] = { pc_prog("9mux"), "-V", "9P2000.L", "-k", "0", "-a", pc_unixaddr(dir, "server.sock"),
			"-e", pc_unixaddr(dir, "ramL"), pc_unixaddr(dir, "link.sock"), NULL };

		mux = pc_spawn(a, pc_path(dir, "mux.log"));
		ok(pc_waitsock(pc_path(dir, "link.sock"), T) == 0, "9mux -l listens");
		laptop = pc_spawn(b, pc_path(dir, "laptop.log"));
		/* its upstream ready, then the link */
		ok(pc_waitcount(pc_path(dir, "mux.log"), "ready: 9P2000.L", 2, T) >= 2 &&
			pc_waitsock(pc_path(dir, "server.sock"), T) == 0, "a laptop 9mux links to it");
	}
	ok(stillgood(), "the laptop's clients are served");

	/* the test as a peer */
	p = peer();
	ok(p && next(p, T) == Tversion && p->r.tag == P9_NOTAG && p9streq(p->r.version, "9P2000.L"),
		"9mux sends its Tversion on the link at once, offering 9P2000.L");
	pc_mkversion(&t, 8192, "9P2000.L");
	tv = 0;
	ok(ask(p, &t, &tv) == Rversion && p9streq(p->r.version, "9P2000.L"), "its Tversion to 9mux: answered 9P2000.L");
	pc_mkattach(&t, 1, 1, "peer");
	ok(ask(p, &t, &tv) == Rattach, "the peer's attach is served by 9mux's upstream");
	/* refuse 9mux's Tversion: it tries again, later, on the same connection */
	memset(&r, 0, sizeof r);
	r.type = Rlerror;
	r.tag = P9_NOTAG;
	r.errnum = 71;
	pc_send(p->fd, &r, P9_2000L);
	ok(pc_waitcount(pc_path(dir, "mux.log"), "Tversion again in 1 s", 1, T) >= 1, "a refused Tversion: 9mux says it tries again");
	pc_mkwalk(&t, 2, 1, 2, "");
	ok(ask(p, &t, &tv) == Rwalk, "the other direction is undisturbed: the peer's walk is answered");
	for(i = 0; i < 30 && (type = next(p, 200)) != Tversion; i++)
		;
	ok(type == Tversion && p9streq(p->r.version, "9P2000.L"), "9mux's Tversion again, on the same connection");
	rversion(p, "9P2000.L");
	ok(pc_waitcount(pc_path(dir, "mux.log"), "ready: 9P2000.L", 3, T) >= 3, "answered: the link is ready both ways");

	/* -r without a name goes to the latest link: this peer */
	q = pc_open(pc_path(dir, "rev.sock"), P9_2000L);
	ok(q && pc_version(q, 8192, "9P2000.L") == Rversion, "a -r client: Tversion answered");
	pc_mkattach(&t, 5, 9, "revclient");
	pc_send(q->fd, &t, P9_2000L);
	ok(next(p, T) == Tattach && p9streq(p->r.uname, "revclient"), "its attach reaches the latest link's peer");
	memset(&r, 0, sizeof r);
	r.type = Rattach;
	r.tag = p->r.tag;
	r.qid.type = P9_QTDIR;
	pc_send(p->fd, &r, P9_2000L);
	ok(pc_next(q, T) > 0 && q->r.type == Rattach && q->r.tag == 5, "and the peer's Rattach reaches the client");

	/* a reply to nothing ends this link, and only it */
	memset(&r, 0, sizeof r);
	r.type = Rclunk;
	r.tag = 77;
	pc_send(p->fd, &r, P9_2000L);
	ok(pc_hungup(p->fd, T), "a reply with a tag 9mux never sent: the link is closed");
	ok(pc_waitcount(pc_path(dir, "mux.log"), "a reply (Rclunk) with tag 77, which is in flight for nothing", 1, T) >= 1,
		"with a log line that says why");
	ok(pc_fidop(q, Tclunk, 6, 9) > 0 && q->r.type == Rlerror, "the -r client over that link gets an error for its next request");
	pc_close(q);
	pc_close(p);
	ok(stillgood(), "the laptop's link is undisturbed");

	/* frames that break the rules */
	p = peer();
	next(p, T);
	pc_write(p->fd, "\x03\x00\x00\x00\x64", 5);
	ok(pc_hungup(p->fd, T), "a frame of 3 bytes: the link is closed");
	ok(pc_line(pc_path(dir, "mux.log"), "bad frame: size 3", -1, line, sizeof line) == 0, "logged: %s", line);
	pc_close(p);
	p = peer();
	next(p, T);
	pc_write(p->fd, "\x00\x40\x00\x00\x64\xff\xff", 7);
	ok(pc_hungup(p->fd, T), "a Tversion of 16 KiB before any version: the link is closed");
	pc_close(p);
	ok(stillgood(), "the laptop's link is still undisturbed");

	is_int(pc_killwait(laptop, SIGTERM, 15000), 0, "the laptop 9mux exits 0");
	is_int(pc_killwait(mux, SIGTERM, 15000), 0, "the server 9mux exits 0, having survived all that");
	laptop = mux = -1;
	pc_kill(ram, SIGTERM);
	pc_kill(ramL, SIGTERM);
	pc_rmdir(dir);
	return done_testing();
}
