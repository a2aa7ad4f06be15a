/*
 * The protocol rules of the brief, proved through the real 9mux in front
 * of 9testsrv: clients speak raw 9P to 9mux, and 9testsrv's log shows
 * what reached the server (one line per message, fid fields by role
 * after the tab: "@c1 tag=3 use=7 new=8") and any breach of the tag and
 * fid rules ("VIOLATION ...").  Each fixture ends by closing its clients
 * and checking that the server holds no fid and no tag afterwards and
 * saw no violation.
 */
#include <pwd.h>
#include <sys/stat.h>

#include "tap.h"
#include "p9conv.h"
#include "dial.h"

enum { T = 3000 };	/* ms to wait for anything that should happen */

static const char *dir;
static char srvsock[400], muxsock[400], srvlog[400], srverr[400], muxerr[400];
static char srvaddr[420], muxaddr[420];
static pid_t srv = -1, mux = -1;
static int nfix;
static const char *fixname;
static Pconn *clients[64];
static int nclients;
static int lastver;
static int nup;
static int noclunks;

static void
onalarm(int sig)
{
	(void)sig;
	if(mux > 0)
		kill(mux, SIGKILL);
	if(srv > 0)
		kill(srv, SIGKILL);
	printf("# timed out in fixture %s\n", fixname ? fixname : "?");
	pc_rmdir(dir);
	_exit(1);
}

/* is_int that says whether it passed. */
static int __attribute__((format(printf, 3, 4)))
eq(long long got, long long want, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if(ok(got == want, "%s", buf))
		return 1;
	diag("  got %lld, want %lld", got, want);
	return 0;
}

static int
split(char *s, const char **av, int max)
{
	int n;
	char *p;

	n = 0;
	for(p = strtok(s, " "); p && n < max; p = strtok(NULL, " "))
		av[n++] = p;
	return n;
}

static pid_t
startsrv(const char *flags)
{
	const char *av[32];
	char fl[256];
	int n;

	snprintf(fl, sizeof fl, "%s", flags);
	n = 0;
	av[n++] = pc_prog("9testsrv");
	av[n++] = "-l";
	av[n++] = srvlog;
	av[n++] = "-a";
	av[n++] = srvaddr;
	n += split(fl, av + n, 20);
	av[n] = NULL;
	srv = pc_spawn(av, srverr);
	if(pc_waitsock(srvsock, 5000) < 0) {
		diag("9testsrv did not start: %s", pc_slurp(srverr));
		return -1;
	}
	return srv;
}

/* Start 9testsrv with srvflags and 9mux with muxflags in front of it. */
static int
up(const char *name, const char *srvflags, const char *muxflags)
{
	const char *av[32];
	char fl[256];
	int n;

	fixname = name;
	nfix++;
	snprintf(srvsock, sizeof srvsock, "%s/srv%d.sock", dir, nfix);
	snprintf(muxsock, sizeof muxsock, "%s/mux%d.sock", dir, nfix);
	snprintf(srvlog, sizeof srvlog, "%s/srv%d.log", dir, nfix);
	snprintf(srverr, sizeof srverr, "%s/srv%d.err", dir, nfix);
	snprintf(muxerr, sizeof muxerr, "%s/mux%d.err", dir, nfix);
	snprintf(srvaddr, sizeof srvaddr, "unix!%s", srvsock);
	snprintf(muxaddr, sizeof muxaddr, "unix!%s", muxsock);
	diag("fixture %s: 9testsrv %.60s; 9mux %s", name, srvflags, muxflags);
	if(startsrv(srvflags) < 0)
		return -1;
	snprintf(fl, sizeof fl, "%s", muxflags);
	n = 0;
	av[n++] = pc_prog("9mux");
	n += split(fl, av + n, 20);
	av[n++] = "-a";
	av[n++] = muxaddr;
	av[n++] = srvaddr;
	av[n] = NULL;
	mux = pc_spawn(av, muxerr);
	if(!ok(pc_waitsock(muxsock, 5000) == 0, "%s: 9mux listens", name)) {
		diag("  9mux: %s", pc_slurp(muxerr));
		return -1;
	}
	return 0;
}

static Pconn *
cl(const char *version, uint32_t msize)
{
	Pconn *c;
	int d;

	d = p9dialect(version, strlen(version));
	c = pc_open(muxsock, d < 0 ? P9_2000 : d);
	if(c == NULL)
		return NULL;
	if(nclients < 64)
		clients[nclients++] = c;
	lastver = pc_version(c, msize, version);
	return c;
}

static void
hangup(Pconn *c)
{
	int i;

	for(i = 0; i < nclients; i++)
		if(clients[i] == c)
			clients[i] = clients[--nclients];
	pc_close(c);
}

static int
violations(void)
{
	return pc_count(srvlog, "VIOLATION");
}

static void
showviolations(void)
{
	char line[512];
	int i;

	for(i = 0; i < 8 && pc_line(srvlog, "VIOLATION", i, line, sizeof line) == 0; i++)
		diag("  %s", line);
}

/* Close every client; the server must be left with nothing; 9mux exits 0 on SIGTERM. */
static void
down(void)
{
	long fids, tags, end;
	int st;

	while(nclients > 0)
		hangup(clients[0]);
	fids = tags = -1;
	end = pc_now() + 5000;
	do {
		if(pc_srvstate(srv, srvlog, &fids, &tags) < 0)
			break;
		if(fids == 0 && tags == 0)
			break;
		pc_sleep(100);
	} while(pc_now() < end);
	is_int(fids, 0, "%s: server holds no fid after the clients left", fixname);
	is_int(tags, 0, "%s: server has no tag in flight after the clients left", fixname);
	if(!ok(violations() == 0, "%s: server saw no tag or fid violation", fixname))
		showviolations();
	ok(pc_alive(mux, NULL), "%s: 9mux still running", fixname);
	/* 9mux may take a while to answer what is still in flight. */
	st = pc_killwait(mux, SIGTERM, 15000);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: 9mux exits 0 on SIGTERM", fixname);
	mux = -1;
	st = pc_kill(srv, SIGTERM);
	srv = -1;
	if(!ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: 9testsrv exits 0", fixname))
		diag("  %s", pc_slurp(srverr));
}

/* ---- reading the server's log ---- */

/* Messages the server has received so far. */
static void
mark_unused(int x)
{
	(void)x;
}

static int
upmark(void)
{
	/* A client hung up by 9mux has its fids clunked: not what is counted. */
	return pc_count(srvlog, "\t@c") - (noclunks ? pc_count(srvlog, "Tclunk") : 0);
}

/*
 * Copy the nth (from 0; negative from the end) log line that starts with
 * prefix and contains word (followed by a non-digit), or return -1.
 */
static int
upline(const char *prefix, const char *word, int nth, char *out, size_t len)
{
	char *s, *p, *e, *w;
	int n, k, want, idx, hit;
	int match[4096];

	s = pc_slurp(srvlog);
	n = 0;
	idx = 0;
	for(p = s; *p; p = *e ? e + 1 : e, idx++) {
		e = strchr(p, '\n');
		if(e == NULL)
			e = p + strlen(p);
		if(strncmp(p, prefix, strlen(prefix)) != 0)
			continue;
		hit = word == NULL;
		for(w = p; !hit && (w = strstr(w, word)) != NULL && w < e; w++) {
			k = (int)strlen(word);
			if(w[k] < '0' || w[k] > '9')
				hit = 1;
		}
		if(hit && n < 4096)
			match[n++] = idx;
	}
	want = nth < 0 ? n + nth : nth;
	if(want < 0 || want >= n) {
		free(s);
		return -1;
	}
	idx = 0;
	for(p = s; *p; p = *e ? e + 1 : e, idx++) {
		e = strchr(p, '\n');
		if(e == NULL)
			e = p + strlen(p);
		if(idx == match[want]) {
			if(out)
				snprintf(out, len, "%.*s", (int)(e - p), p);
			break;
		}
	}
	free(s);
	return match[want];
}

/* The fids of a log line, in message order: their number. */
static int
linefids(const char *line, long long out[P9_MAXFIDS])
{
	const char *p;
	int n;

	n = 0;
	p = strchr(line, '\t');
	if(p == NULL)
		return 0;
	while(n < P9_MAXFIDS && (p = strchr(p + 1, ' ')) != NULL) {
		if(strncmp(p, " use=", 5) == 0 || strncmp(p, " new=", 5) == 0
		|| strncmp(p, " del=", 5) == 0)
			out[n++] = strtoll(p + 5, NULL, 10);
	}
	return n;
}

/* A number after " key " in the p9fmt part of a line, or -1. */
static long long
fmtnum(const char *line, const char *key)
{
	char pat[64];
	const char *p, *tab;

	snprintf(pat, sizeof pat, " %s ", key);
	tab = strchr(line, '\t');
	p = strstr(line, pat);
	if(p == NULL || (tab && p > tab))
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

/* The upstream fid (first fid field) of the last line starting with prefix. */
static long long
lastfid(const char *prefix, int which)
{
	char line[1024];
	long long f[P9_MAXFIDS];

	if(upline(prefix, NULL, -1, line, sizeof line) < 0)
		return -1;
	if(linefids(line, f) <= which)
		return -1;
	return f[which];
}

/* Lines of the log starting with prefix. */
static int
upcount(const char *prefix)
{
	char *s, *p, *e;
	int n;

	s = pc_slurp(srvlog);
	n = 0;
	for(p = s; *p; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if(e == NULL)
			e = p + strlen(p);
		if(strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
	}
	free(s);
	return n;
}

/* Wait until at least n lines start with prefix. */
static int
upwaitn(const char *prefix, int n)
{
	long end;

	end = pc_now() + T;
	while(upcount(prefix) < n) {
		if(pc_now() > end)
			return 0;
		pc_sleep(20);
	}
	return 1;
}

/* Wait until a line starting with prefix and holding word is logged. */
static int
upwait(const char *prefix, const char *word)
{
	long end;

	end = pc_now() + T;
	while(upline(prefix, word, 0, NULL, 0) < 0) {
		if(pc_now() > end)
			return 0;
		pc_sleep(20);
	}
	return 1;
}

/* ---- client helpers ---- */

/* An error, or a hang-up, within ms. */
static int
refused(Pconn *c, int ms)
{
	long r;

	r = pc_next(c, ms);
	if(r == PC_EOF)
		return 1;
	return r > 0 && pc_iserr(c);
}

/* A request that must be answered and reach the server: Tstat or Tgetattr. */
static int
sentinel(Pconn *c, uint16_t tag, uint32_t fid)
{
	int want;

	want = c->dialect == P9_2000L ? Rgetattr : Rstat;
	if(pc_fidop(c, c->dialect == P9_2000L ? Tgetattr : Tstat, tag, fid) == want && c->r.tag == tag)
		return 1;
	diag("  sentinel tag %u: got tag %u type %u %s", tag, c->r.tag, c->r.type,
		pc_iserr(c) && c->r.ename.n ? c->r.ename.s : "");
	return 0;
}

/* After a refused request: only the sentinel reached the server. */
static void
nothingup(Pconn *c, int mark, uint32_t fid, const char *what)
{
	int ok1;

	ok1 = sentinel(c, 999, fid);
	if(!eq(upmark() - mark - ok1, 0, "%s: %s never went upstream", fixname, what))
		diag("  sentinel answered: %d", ok1);
}

static int
sendraw(Pconn *c, const void *p, size_t n)
{
	return pc_write(c->fd, p, n);
}

/* Send t without waiting. */
static void
post(Pconn *c, Fcall *t)
{
	pc_send(c->fd, t, c->dialect);
}

/* Receive frames for up to ms until one with tag and type arrives; others are counted in *other. */
static int
expect(Pconn *c, uint16_t tag, int type, int ms, int *other)
{
	long end, r;

	end = pc_now() + ms;
	while(pc_now() < end) {
		r = pc_next(c, (int)(end - pc_now()));
		if(r <= 0)
			return 0;
		if(c->r.tag == tag && c->r.type == type)
			return 1;
		if(other)
			(*other)++;
		diag("  (tag %u type %u %s while waiting for tag %u %s)", c->r.tag, c->r.type,
			p9typename(c->r.type) ? p9typename(c->r.type) : "?", tag,
			p9typename(type) ? p9typename(type) : "?");
	}
	return 0;
}

static Fcall
mk(int type, uint16_t tag)
{
	Fcall t;

	memset(&t, 0, sizeof t);
	t.type = (uint8_t)type;
	t.tag = tag;
	return t;
}

static Fcall
mkflush(uint16_t tag, uint16_t oldtag)
{
	Fcall t;

	t = mk(Tflush, tag);
	t.oldtag = oldtag;
	return t;
}

static Pconn *
attached(const char *version, uint32_t msize, uint32_t fid)
{
	Pconn *c;

	c = cl(version, msize);
	if(c == NULL || c->r.type != Rversion)
		return c;
	pc_attach(c, 1, fid, "tester");
	return c;
}

/* ---- the rules ---- */

static void
framing(void)
{
	Pconn *a, *b;
	uint8_t raw[64], *big;
	Fcall t;
	int mark;

	if(up("framing", "", "") < 0)
		return;
	noclunks = 1;
	a = attached("9P2000", 8192, 1);
	ok(a && a->r.type == Rattach, "framing: client a attached through 9mux");
	if(a == NULL)
		goto out;

	/* size below 7 */
	b = attached("9P2000", 8192, 1);
	mark = upmark();
	memset(raw, 0, sizeof raw);
	p9put32(raw, 5);
	raw[4] = Tstat;
	sendraw(b, raw, 5);
	ok(refused(b, T), "framing: size 5: error or hang-up");
	nothingup(a, mark, 1, "a 5-byte message");

	/* size above the session's msize */
	b = attached("9P2000", 8192, 1);
	mark = upmark();
	big = calloc(1, 9000);
	p9put32(big, 9000);
	big[4] = Twrite;
	p9put16(big + 5, 2);
	p9put32(big + 7, 1);
	p9put32(big + 19, 9000 - 23);
	sendraw(b, big, 9000);
	free(big);
	ok(refused(b, T), "framing: size above msize: error or hang-up");
	nothingup(a, mark, 1, "a message above msize");
	is_int(pc_count(srvlog, "above msize"), 0, "framing: server never saw a frame above msize");

	/* fields running past the size: Twalk claiming 3 names, carrying none */
	b = attached("9P2000", 8192, 1);
	mark = upmark();
	p9put32(raw, 17);
	raw[4] = Twalk;
	p9put16(raw + 5, 3);
	p9put32(raw + 7, 1);
	p9put32(raw + 11, 2);
	p9put16(raw + 15, 3);
	sendraw(b, raw, 17);
	ok(refused(b, T), "framing: fields past the size: error or hang-up");
	nothingup(a, mark, 1, "a truncated Twalk");

	/* a string holding a NUL, and a count beyond the data */
	b = attached("9P2000", 8192, 1);
	mark = upmark();
	p9put32(raw, 7 + 4 + 4 + 2 + 2 + 3);
	raw[4] = Twalk;
	p9put16(raw + 5, 4);
	p9put32(raw + 7, 1);
	p9put32(raw + 11, 2);
	p9put16(raw + 15, 1);
	p9put16(raw + 17, 3);
	memcpy(raw + 19, "a\0b", 3);
	sendraw(b, raw, 22);
	ok(refused(b, T), "framing: NUL in a name: error or hang-up");
	nothingup(a, mark, 1, "a name with a NUL");

	/* more than 16 names in a Twalk */
	b = attached("9P2000", 8192, 1);
	mark = upmark();
	{
		uint8_t w[128];
		size_t k, off;

		off = 17;
		p9put16(w + 15, 17);
		for(k = 0; k < 17; k++) {
			p9put16(w + off, 1);
			w[off + 2] = 'a';
			off += 3;
		}
		p9put32(w, (uint32_t)off);
		w[4] = Twalk;
		p9put16(w + 5, 5);
		p9put32(w + 7, 1);
		p9put32(w + 11, 2);
		sendraw(b, w, off);
	}
	ok(refused(b, T), "framing: Twalk of 17 names: error or hang-up");
	nothingup(a, mark, 1, "a Twalk of 17 names");

	/* a size field of 4 GB */
	b = attached("9P2000", 8192, 1);
	mark = upmark();
	p9put32(raw, 0xFFFFFFFFu);
	raw[4] = Tread;
	sendraw(b, raw, 7);
	ok(refused(b, T), "framing: size 0xFFFFFFFF: error or hang-up");
	nothingup(a, mark, 1, "a message claiming 4 GB");

	/* a frame that arrives one byte at a time is one message */
	b = attached("9P2000", 8192, 1);
	{
		Fcall w;
		uint8_t buf[64];
		size_t k, len;

		pc_mkwalk(&w, 6, 1, 2, "hello");
		len = p9encode(buf, sizeof buf, &w, P9_2000);
		for(k = 0; k < len; k++) {
			sendraw(b, buf + k, 1);
			pc_sleep(5);
		}
		ok(pc_next(b, T) > 0 && b->r.type == Rwalk && b->r.tag == 6 && b->r.nwqid == 1,
			"framing: a Twalk sent a byte at a time is served");
	}

	/* a is undisturbed, and a frame of exactly msize passes */
	ok(pc_walk(a, 2, 1, 2, "big") == Rwalk && pc_open1(a, 3, 2, P9_ORDWR) == Ropen,
		"framing: client a still served");
	t = mk(Twrite, 4);
	t.fid = 2;
	t.count = a->msize - P9_IOHDRSZ + 1;	/* Twrite header is 23 bytes */
	big = calloc(1, t.count);
	memset(big, 'x', t.count);
	t.data = big;
	is_int(p9size(&t, P9_2000), a->msize, "framing: (the Twrite is exactly msize)");
	ok(pc_rpc(a, &t, T) == Rwrite && a->r.count == t.count, "framing: a Twrite of exactly msize is served");
	free(big);
	ok(pc_alive(mux, NULL), "framing: 9mux survived the bad input");
out:
	noclunks = 0;
	down();
}

static void
version(void)
{
	Pconn *c;
	Fcall t;
	char word[64];
	long long uf1, uf2, ut;
	int other;

	if(up("version", "-m 8192 -x Tread", "") < 0)
		return;
	c = cl("9P2000", 4096);
	ok(c && c->r.type == Rversion && c->r.tag == P9_NOTAG, "version: Rversion with NOTAG");
	is_int(c ? c->msize : 0, 4096, "version: msize is the client's when smaller");
	ok(c && p9streq(c->r.version, "9P2000"), "version: upstream dialect 9P2000");
	c = cl("9P2000", 1 << 20);
	ok(c && c->msize <= 8192 && c->msize >= P9_MINMSIZE, "version: msize capped by upstream's (got %u)", c ? c->msize : 0);
	c = cl("9P1999", 8192);
	ok(c && c->r.type == Rversion && p9streq(c->r.version, "unknown"), "version: unknown version answered \"unknown\"");
	c = cl("9P2000.L", 8192);
	ok(c && c->r.type == Rversion && !p9streq(c->r.version, "9P2000.L"), "version: 9P2000.L not claimed over a 9P2000 upstream");
	is_int(pc_count(srvlog, "Tversion"), 1, "version: Tversion went upstream once, not per client");

	/* A Tversion mid-session resets that session. */
	c = attached("9P2000", 8192, 1);
	pc_walk(c, 2, 1, 2, "hello");
	pc_open1(c, 3, 2, P9_OREAD);
	uf1 = lastfid("Tattach", 0);
	uf2 = lastfid("Twalk", 1);
	pc_mkread(&t, 4, 2, 0, 100);
	nup = upcount("Tread");
	post(c, &t);
	ok(upwaitn("Tread", nup + 1), "version: Tread reached the server");
	{
		char line[512];

		upline("Tread", NULL, -1, line, sizeof line);
		ut = fmtnum(line, "tag");
	}
	pc_mkversion(&t, 8192, "9P2000");
	post(c, &t);
	other = 0;
	ok(expect(c, P9_NOTAG, Rversion, T, &other), "version: mid-session Tversion answered");
	snprintf(word, sizeof word, "oldtag %lld", ut);
	ok(upwait("Tflush", word), "version: its in-flight Tread was flushed upstream");
	snprintf(word, sizeof word, "del=%lld", uf1);
	ok(upwait("Tclunk", word), "version: its attach fid was clunked upstream");
	snprintf(word, sizeof word, "del=%lld", uf2);
	ok(upwait("Tclunk", word), "version: its walked fid was clunked upstream");
	is_int(pc_attach(c, 5, 1, "tester"), Rattach, "version: fid 1 is free again after the reset");
	ok(pc_next(c, 300) == PC_TIMEOUT, "version: no stray reply to the old session");
	down();
}

/* A Tversion while a Twalk is in flight whose reply comes late anyway. */
static void
versionlate(void)
{
	Pconn *c;
	Fcall t;
	long fids, tags, end;

	if(up("version-late", "-o -d Twalk:500", "") < 0)
		return;
	c = attached("9P2000", 8192, 1);
	if(!ok(c && c->r.type == Rattach, "version-late: attached"))
		goto out;
	nup = upcount("Twalk");
	pc_mkwalk(&t, 2, 1, 2, "hello");
	post(c, &t);
	upwaitn("Twalk", nup + 1);
	pc_mkversion(&t, 8192, "9P2000");
	post(c, &t);
	ok(expect(c, P9_NOTAG, Rversion, T, NULL), "version-late: Rversion");
	fids = tags = -1;
	end = pc_now() + T;
	while(pc_now() < end && pc_srvstate(srv, srvlog, &fids, &tags) == 0 && (fids != 0 || tags != 0))
		pc_sleep(50);
	is_int(fids, 0, "version-late: the old session's fids, the late walk's newfid too, are clunked upstream");
	is_int(tags, 0, "version-late: nothing of it in flight");
	is_int(pc_attach(c, 3, 2, "tester"), Rattach, "version-late: the new session starts clean");
out:
	down();
}

/* 9P2000.u: 9mux's own errors carry an errno. */
static void
dotu(void)
{
	Pconn *c;
	Fcall t;
	int mark;

	if(up("dotu", "", "-V 9P2000.u") < 0)
		return;
	c = cl("9P2000.u", 8192);
	ok(c && c->r.type == Rversion && p9streq(c->r.version, "9P2000.u"), "dotu: 9P2000.u session");
	if(c == NULL)
		goto out;
	pc_mkattach(&t, 1, 1, "tester");
	t.nuname = 1234;
	is_int(pc_rpc(c, &t, T), Rattach, "dotu: Tattach with n_uname");
	ok(upline("Tattach", "1234", -1, NULL, 0) >= 0, "dotu: n_uname passed upstream");
	is_int(pc_fidop(c, Tstat, 2, 1), Rstat, "dotu: Tstat (a .u stat entry)");
	mark = upmark();
	pc_fidop(c, Tstat, 3, 77);
	ok(c->r.type == Rerror && c->r.errnum != 0 && c->r.ename.n > 0,
		"dotu: unknown fid: Rerror with an errno (%u)", c->r.errnum);
	nothingup(c, mark, 1, "a .u request on an unknown fid");
out:
	down();
}

static void
tags(void)
{
	Pconn *a, *b;
	Fcall t;
	char l1[512], l2[512];
	int got, n, ntstat, i;
	long r;

	if(up("tags", "-d Tread:300", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	b = attached("9P2000", 8192, 1);
	ok(a && b && a->r.type == Rattach && b->r.type == Rattach, "tags: two clients attach with the same fid and tag");
	if(!a || !b)
		goto out;
	pc_walk(a, 2, 1, 2, "hello");
	pc_walk(b, 2, 1, 2, "sub/file");
	pc_open1(a, 3, 2, P9_OREAD);
	pc_open1(b, 3, 2, P9_OREAD);
	pc_mkread(&t, 4, 2, 0, 100);
	post(a, &t);
	post(b, &t);
	ok(pc_next(a, T) > 0 && a->r.type == Rread && a->r.tag == 4 && a->r.count == 13
		&& memcmp(a->r.data, "hello, world\n", 13) == 0, "tags: a's Rread tag 4 has a's file");
	ok(pc_next(b, T) > 0 && b->r.type == Rread && b->r.tag == 4 && b->r.count == 9
		&& memcmp(b->r.data, "sub file\n", 9) == 0, "tags: b's Rread tag 4 has b's file");
	upline("Tread", NULL, -2, l1, sizeof l1);
	upline("Tread", NULL, -1, l2, sizeof l2);
	ok(fmtnum(l1, "tag") != fmtnum(l2, "tag"), "tags: upstream tags differ (%lld, %lld)", fmtnum(l1, "tag"), fmtnum(l2, "tag"));
	ok(pc_field(l1, "use") != pc_field(l2, "use"), "tags: upstream fids differ");
	is_int(pc_count(srvlog, " tag=65535"), 1, "tags: only Tversion used NOTAG upstream");

	/* A tag in flight reused: the new request gets an error, the old one its reply. */
	ntstat = pc_count(srvlog, "Tstat");
	pc_mkread(&t, 5, 2, 0, 100);
	post(a, &t);
	t = mk(Tstat, 5);
	t.fid = 2;
	post(a, &t);
	got = 0;
	for(n = 0; n < 2; n++) {
		if(pc_next(a, T) <= 0)
			break;
		if(a->r.tag == 5 && pc_iserr(a))
			got |= 1;
		else if(a->r.tag == 5 && a->r.type == Rread && a->r.count == 13)
			got |= 2;
		else
			diag("  unexpected tag %u type %u", a->r.tag, a->r.type);
	}
	ok(got & 1, "tags: duplicate in-flight tag: the new request gets an error");
	ok(got & 2, "tags: duplicate in-flight tag: the old request still gets its Rread");
	is_int(pc_count(srvlog, "Tstat"), ntstat, "tags: the duplicate never went upstream");

	/* Many requests in flight from both at once with identical tags. */
	for(i = 0; i < 20; i++) {
		pc_mkread(&t, (uint16_t)(100 + i), 2, (uint64_t)(i % 9), 1);
		post(a, &t);
		post(b, &t);
	}
	got = 0;
	for(i = 0; i < 40; i++) {
		Pconn *c = i % 2 ? b : a;
		const char *want = i % 2 ? "sub file\n" : "hello, world\n";

		r = pc_next(c, T);
		if(r > 0 && c->r.type == Rread && c->r.tag >= 100 && c->r.tag < 120
		&& c->r.count == 1 && c->r.data[0] == want[(c->r.tag - 100) % 9])
			got++;
	}
	is_int(got, 40, "tags: 20 pipelined reads each from two clients, all answered right");
out:
	down();
}

/* A client that never reads its replies must not hold up another. */
static void
slow(void)
{
	Pconn *a, *b;
	Fcall t;
	int i, good;
	uint8_t *buf;
	size_t n, len;

	if(up("slow-reader", "", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	b = attached("9P2000", 8192, 1);
	if(!ok(a && b && a->r.type == Rattach && b->r.type == Rattach, "slow-reader: two clients"))
		goto out;
	pc_walk(a, 2, 1, 2, "big");
	pc_open1(a, 3, 2, P9_OREAD);
	pc_walk(b, 2, 1, 2, "hello");
	pc_open1(b, 3, 2, P9_OREAD);
	/* 2000 reads of 8 KB from a, pipelined, never read: 16 MB of replies */
	fdnonblock(a->fd, 1);
	buf = malloc(2000 * 32);
	len = 0;
	for(i = 0; i < 2000; i++) {
		pc_mkread(&t, (uint16_t)(10 + i), 2, 0, 8192 - 11);
		n = p9encode(buf + len, 64, &t, P9_2000);
		len += n;
	}
	{
		size_t off = 0;
		long end = pc_now() + 2000;
		ssize_t w;

		while(off < len && pc_now() < end) {
			w = send(a->fd, buf + off, len - off, MSG_NOSIGNAL);
			if(w > 0)
				off += (size_t)w;
			else
				pc_sleep(10);
		}
		diag("slow-reader: a sent %zu of %zu bytes of Treads", off, len);
	}
	free(buf);
	good = 0;
	for(i = 0; i < 20; i++) {
		pc_mkread(&t, (uint16_t)(100 + i), 2, 0, 100);
		if(pc_rpc(b, &t, T) == Rread && b->r.count == 13)
			good++;
	}
	is_int(good, 20, "slow-reader: the other client is served while a's replies pile up");
	ok(pc_alive(mux, NULL), "slow-reader: 9mux still running");
	{
		/* Now a reads everything: every read answered in full. */
		int got, bad;
		long r;

		fdnonblock(a->fd, 0);
		got = bad = 0;
		while(got + bad < 2000 && (r = pc_next(a, 5000)) > 0) {
			if(a->r.type == Rread && a->r.count == 8192 - 11)
				got++;
			else
				bad++;
		}
		ok(got + bad == 2000, "slow-reader: a's replies all arrive once it reads (%d, %d errors)", got, bad);
	}
out:
	down();
}

static void
fids(void)
{
	Pconn *a;
	Fcall t;
	int mark, got, n;
	char line[512];
	long long x;

	if(up("fids", "-d Tclunk:300 -d Tremove:300 -e Tremove -A", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	ok(a && a->r.type == Rattach, "fids: attached");
	if(a == NULL)
		goto out;

	mark = upmark();
	ok(pc_fidop(a, Tstat, 2, 99) == Rerror, "fids: unknown fid: Rerror");
	nothingup(a, mark, 1, "a request on an unknown fid");
	mark = upmark();
	ok(pc_fidop(a, Tclunk, 2, 98) == Rerror, "fids: Tclunk of an unknown fid: Rerror");
	nothingup(a, mark, 1, "a Tclunk of an unknown fid");

	is_int(pc_walk(a, 3, 1, 2, "hello"), Rwalk, "fids: walk to a new fid");
	mark = upmark();
	ok(pc_walk(a, 3, 1, 2, "sub") == Rerror, "fids: walk to a fid in use: Rerror");
	nothingup(a, mark, 1, "a walk creating a fid in use");
	mark = upmark();
	ok(pc_attach(a, 3, 2, "tester") == Rerror, "fids: attach to a fid in use: Rerror");
	nothingup(a, mark, 1, "an attach creating a fid in use");
	is_int(pc_walk(a, 3, 2, 2, ""), Rwalk, "fids: walk of a fid to itself is allowed");

	/* A walk of a fid to itself that fails leaves it where it was. */
	pc_walk(a, 4, 1, 8, "");
	ok(pc_walk(a, 4, 8, 8, "sub/nothere") == Rwalk && a->r.nwqid == 1, "fids: short walk of a fid to itself");
	ok(pc_walk(a, 4, 8, 8, "nothere") == Rerror, "fids: failed walk of a fid to itself");
	{
		P9dir d;

		ok(pc_fidop(a, Tstat, 4, 8) == Rstat && p9dirdecode(a->r.stat, a->r.nstat, P9_2000, &d) > 0
			&& p9streq(d.name, "/"), "fids: the fid is still the root");
	}
	is_int(pc_walk(a, 4, 8, 8, "sub"), Rwalk, "fids: a walk of a fid to itself that succeeds");
	{
		P9dir d;

		ok(pc_fidop(a, Tstat, 4, 8) == Rstat && p9dirdecode(a->r.stat, a->r.nstat, P9_2000, &d) > 0
			&& p9streq(d.name, "sub"), "fids: moves it");
	}
	pc_fidop(a, Tclunk, 4, 8);
	ok(pc_walk(a, 4, 1, 3, "sub/nothere") == Rwalk && a->r.nwqid == 1, "fids: short walk: Rwalk with 1 qid");
	mark = upmark();
	ok(pc_fidop(a, Tstat, 4, 3) == Rerror, "fids: the newfid of a short walk does not exist");
	nothingup(a, mark, 1, "a request on the newfid of a short walk");
	ok(pc_walk(a, 4, 1, 3, "nothere") == Rerror, "fids: failed walk: Rerror");
	mark = upmark();
	ok(pc_fidop(a, Tstat, 4, 3) == Rerror, "fids: the newfid of a failed walk does not exist");
	nothingup(a, mark, 1, "a request on the newfid of a failed walk");
	is_int(pc_walk(a, 4, 1, 3, "sub"), Rwalk, "fids: the fid number is still free");

	pc_walk(a, 5, 1, 4, "hello");
	ok(pc_fidop(a, Tremove, 5, 4) == Rerror, "fids: Tremove failing upstream: Rerror");
	mark = upmark();
	ok(pc_fidop(a, Tstat, 5, 4) == Rerror, "fids: failed Tremove still destroyed the fid");
	nothingup(a, mark, 1, "a request on a fid destroyed by a failed Tremove");
	is_int(pc_walk(a, 5, 1, 4, "hello"), Rwalk, "fids: its number is free again");

	/* Reuse of a fid number before its Rclunk (Tclunk is delayed 300 ms upstream). */
	pc_walk(a, 6, 1, 5, "hello");
	t = mk(Tclunk, 10);
	t.fid = 5;
	post(a, &t);
	pc_mkwalk(&t, 11, 1, 5, "sub");
	post(a, &t);
	got = 0;
	for(n = 0; n < 2 && pc_next(a, T) > 0; n++) {
		if(a->r.tag == 10 && a->r.type == Rclunk)
			got |= 1;
		if(a->r.tag == 11 && a->r.type == Rwalk && a->r.nwqid == 1)
			got |= 2;
	}
	ok(got & 2, "fids: fid reused right after Tclunk (before Rclunk): Rwalk");
	ok(got & 1, "fids: and the Rclunk arrives");
	ok(pc_fidop(a, Tstat, 12, 5) == Rstat && a->r.nstat > 0, "fids: the reused fid is the new file");
	{
		P9dir d;

		ok(p9dirdecode(a->r.stat, a->r.nstat, P9_2000, &d) > 0 && p9streq(d.name, "sub"),
			"fids: named sub");
	}
	if(!eq(violations(), 0, "fids: upstream fid not reused before its Rclunk"))
		showviolations();

	/* The same after a Tremove (which fails upstream, 300 ms late). */
	pc_walk(a, 6, 1, 7, "hello");
	t = mk(Tremove, 20);
	t.fid = 7;
	post(a, &t);
	pc_mkwalk(&t, 21, 1, 7, "sub");
	post(a, &t);
	got = 0;
	for(n = 0; n < 2 && pc_next(a, T) > 0; n++) {
		if(a->r.tag == 20 && a->r.type == Rerror)
			got |= 1;
		if(a->r.tag == 21 && a->r.type == Rwalk && a->r.nwqid == 1)
			got |= 2;
	}
	ok(got & 2, "fids: fid reused right after Tremove (before its reply): Rwalk");
	ok(got & 1, "fids: and the Tremove's Rerror arrives");
	if(!eq(violations(), 0, "fids: upstream fid not reused before its Tremove's reply"))
		showviolations();

	/* Auth: afid translated like any fid. */
	t = mk(Tauth, 13);
	t.afid = 20;
	t.uname = p9str("tester");
	t.aname = p9str("");
	t.nuname = P9_NOFID;
	is_int(pc_rpc(a, &t, T), Rauth, "fids: Tauth");
	x = lastfid("Tauth", 0);
	t = mk(Tattach, 14);
	t.fid = 21;
	t.afid = 20;
	t.uname = p9str("tester");
	t.aname = p9str("");
	t.nuname = P9_NOFID;
	is_int(pc_rpc(a, &t, T), Rattach, "fids: Tattach with the afid");
	upline("Tattach", NULL, -1, line, sizeof line);
	{
		long long f[2];

		ok(linefids(line, f) == 2 && f[1] == x && f[0] != x && x >= 0,
			"fids: upstream Tattach names the upstream afid of Tauth (%lld)", x);
	}
	{
		/* I/O on the afid names the same upstream fid. */
		long long f[2];

		t = mk(Twrite, 15);
		t.fid = 20;
		t.count = 3;
		t.data = (const uint8_t *)"abc";
		is_int(pc_rpc(a, &t, T), Rwrite, "fids: Twrite on the afid");
		upline("Twrite", NULL, -1, line, sizeof line);
		ok(linefids(line, f) == 1 && f[0] == x, "fids: upstream Twrite names the upstream afid");
		t = mk(Tattach, 14);
		t.uname = p9str("tester");
		t.aname = p9str("");
		t.nuname = P9_NOFID;
	}
	mark = upmark();
	t.fid = 22;
	t.afid = 77;
	ok(pc_rpc(a, &t, T) == Rerror, "fids: Tattach with an unknown afid: Rerror");
	nothingup(a, mark, 1, "a Tattach with an unknown afid");

	/* Messages not in the session's dialect, and unknown types. */
	mark = upmark();
	pc_mkfid(&t, Tgetattr, 15, 1);
	eq(pc_rpcin(a, &t, P9_2000L, T), Rerror, "fids: 9P2000.L Tgetattr on a 9P2000 session: Rerror");
	nothingup(a, mark, 1, "a .L message on a 9P2000 session");
	{
		uint8_t raw[16];

		mark = upmark();
		p9put32(raw, 11);
		raw[4] = 200;
		p9put16(raw + 5, 16);
		p9put32(raw + 7, 1);
		sendraw(a, raw, 11);
		ok(pc_next(a, T) > 0 && a->r.type == Rerror && a->r.tag == 16, "fids: type 200: Rerror");
		nothingup(a, mark, 1, "a message of type 200");
		mark = upmark();
		p9put32(raw, 7);
		raw[4] = Rread;
		p9put16(raw + 5, 17);
		sendraw(a, raw, 7);
		ok(refused(a, T), "fids: an R-message from a client: error or hang-up");
		if(a->r.type == Rerror)
			nothingup(a, mark, 1, "an R-message from a client");
	}
out:
	down();
}

static void
flush(void)
{
	Pconn *a;
	Fcall t;
	char line[512], word[64];
	long long ut;
	int other, mark;

	if(up("flush", "-x Tread -d Twalk:800 -d Tflush:300", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	if(!ok(a && a->r.type == Rattach, "flush: attached"))
		goto out;
	pc_walk(a, 2, 1, 2, "hello");
	pc_open1(a, 3, 2, P9_OREAD);

	t = mkflush(8, 77);
	ok(pc_rpc(a, &t, T) == Rflush && a->r.tag == 8, "flush: Tflush of a tag not in flight: Rflush");

	pc_mkread(&t, 4, 2, 0, 100);
	nup = upcount("Tread");
	post(a, &t);
	ok(upwaitn("Tread", nup + 1), "flush: Tread reached the server");
	upline("Tread", NULL, -1, line, sizeof line);
	ut = fmtnum(line, "tag");
	t = mkflush(5, 4);
	post(a, &t);
	other = 0;
	ok(expect(a, 5, Rflush, T, &other) && other == 0, "flush: in-flight Tread: Rflush alone");
	snprintf(word, sizeof word, "oldtag %lld", ut);
	ok(upline("Tflush", word, -1, NULL, 0) >= 0, "flush: upstream Tflush names the translated tag %lld", ut);

	/* A flushed Twalk creates nothing. */
	pc_mkwalk(&t, 6, 1, 6, "sub");
	nup = upcount("Twalk");
	post(a, &t);
	ok(upwaitn("Twalk", nup + 1), "flush: Twalk reached the server");
	t = mkflush(7, 6);
	post(a, &t);
	other = 0;
	ok(expect(a, 7, Rflush, T, &other), "flush: Twalk flushed");
	if(other == 0) {
		mark = upmark();
		ok(pc_fidop(a, Tstat, 8, 6) == Rerror, "flush: the flushed Twalk's newfid does not exist");
		nothingup(a, mark, 1, "a request on a flushed walk's newfid");
	}
	is_int(pc_walk(a, 9, 1, 6, "sub"), Rwalk, "flush: the fid number is free");

	/*
	 * Several flushes of one request (flush(5): each names the request,
	 * and an Rflush answers all earlier ones).  Tflush is delayed 300 ms
	 * upstream, so the first is still in flight when the second comes.
	 */
	nup = upcount("Tread");
	pc_mkread(&t, 9, 2, 0, 100);
	post(a, &t);
	upwaitn("Tread", nup + 1);
	t = mkflush(10, 9);
	post(a, &t);
	t = mkflush(11, 9);
	post(a, &t);
	other = 0;
	ok(expect(a, 11, Rflush, T, &other), "flush: two flushes of one request: Rflush for the last");
	ok(sentinel(a, 10, 1), "flush: then the first flush's tag is free and nothing stray follows");
	ok(sentinel(a, 9, 1), "flush: and the read's tag is free");
	ok(sentinel(a, 11, 1), "flush: and the last flush's tag");

	/* A flush of a flush: the inner flush's tag is free after the outer's Rflush. */
	nup = upcount("Tread");
	pc_mkread(&t, 12, 2, 0, 100);
	post(a, &t);
	upwaitn("Tread", nup + 1);
	t = mkflush(13, 12);
	post(a, &t);
	t = mkflush(14, 13);
	post(a, &t);
	other = 0;
	ok(expect(a, 14, Rflush, T, &other), "flush: flush of a flush: Rflush");
	ok(sentinel(a, 13, 1), "flush: then the flushed flush's tag is free and nothing stray follows");
	t = mkflush(15, 12);
	post(a, &t);
	ok(expect(a, 15, Rflush, T, NULL), "flush: the read can still be flushed");
	ok(sentinel(a, 12, 1), "flush: and then its tag is free");
out:
	down();

	/* An upstream Rerror to Tflush counts as Rflush. */
	if(up("flush-error", "-x Tread -e Tflush", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	pc_walk(a, 2, 1, 2, "hello");
	pc_open1(a, 3, 2, P9_OREAD);
	pc_mkread(&t, 4, 2, 0, 100);
	nup = upcount("Tread");
	post(a, &t);
	upwaitn("Tread", nup + 1);
	t = mkflush(5, 4);
	post(a, &t);
	ok(expect(a, 5, Rflush, T, NULL), "flush-error: upstream Rerror to Tflush: client gets Rflush");
	down();

	/* The original reply, when the server sends it, comes before Rflush. */
	if(up("flush-orig", "-o -x Tread", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	pc_walk(a, 2, 1, 2, "hello");
	pc_open1(a, 3, 2, P9_OREAD);
	pc_mkread(&t, 4, 2, 0, 100);
	nup = upcount("Tread");
	post(a, &t);
	upwaitn("Tread", nup + 1);
	t = mkflush(5, 4);
	post(a, &t);
	ok(pc_next(a, T) > 0 && a->r.type == Rread && a->r.tag == 4, "flush-orig: the original Rread first");
	ok(pc_next(a, T) > 0 && a->r.type == Rflush && a->r.tag == 5, "flush-orig: then Rflush");
	down();
}

static void
hang(void)
{
	Pconn *a;
	Fcall t;
	int nflush, nclunk;
	long long ut, uf2;
	char line[512], word[64];
	int iflush, iclunk, nwalk;

	if(up("hangup", "-o -d Tread:600 -d Twalk:400", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	if(!ok(a && a->r.type == Rattach, "hangup: attached"))
		goto out;
	pc_walk(a, 2, 1, 2, "hello");
	pc_walk(a, 3, 1, 3, "sub");
	pc_open1(a, 4, 2, P9_OREAD);
	uf2 = -1;
	if(upline("Twalk", NULL, -2, line, sizeof line) >= 0)
		uf2 = pc_field(line, "new");
	nflush = pc_count(srvlog, "Tflush");
	nclunk = pc_count(srvlog, "Tclunk");
	nup = upcount("Tread");
	nwalk = upcount("Twalk");
	pc_mkread(&t, 5, 2, 0, 100);
	post(a, &t);
	pc_mkwalk(&t, 6, 1, 4, "hello");
	post(a, &t);
	ok(upwaitn("Tread", nup + 1) && upwaitn("Twalk", nwalk + 1), "hangup: Tread and Twalk in flight");
	upline("Tread", NULL, -1, line, sizeof line);
	ut = fmtnum(line, "tag");
	hangup(a);
	ok(pc_waitcount(srvlog, "Tflush", nflush + 2, T) >= nflush + 2, "hangup: both requests in flight flushed upstream");
	ok(pc_waitcount(srvlog, "Tclunk", nclunk + 4, T) >= nclunk + 4,
		"hangup: four fids clunked (three held, one created by a late Rwalk)");
	snprintf(word, sizeof word, "oldtag %lld", ut);
	iflush = upline("Tflush", word, 0, NULL, 0);
	snprintf(word, sizeof word, "del=%lld", uf2);
	iclunk = upline("Tclunk", word, 0, NULL, 0);
	ok(iflush >= 0 && iclunk > iflush, "hangup: the read's fid clunked after its Tflush (lines %d, %d)", iflush, iclunk);
out:
	down();
}

/* Wait until the server holds want fids and no tag: the fid count then. */
static long
fidsettle(long want)
{
	long fids, tags, end;

	fids = tags = -1;
	end = pc_now() + T;
	while(pc_srvstate(srv, srvlog, &fids, &tags) == 0 && (fids != want || tags != 0) && pc_now() < end)
		pc_sleep(50);
	return fids;
}

/* Flushes that race with the replies that create and destroy fids. */
static void
flushfids(void)
{
	Pconn *a;
	Fcall t;
	int other;

	/* A Tclunk flushed upstream before the server clunked: the fid is still there. */
	if(up("flush-clunk", "-d Tclunk:500", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	pc_walk(a, 2, 1, 2, "hello");
	nup = upcount("Tclunk");
	pc_mkfid(&t, Tclunk, 5, 2);
	post(a, &t);
	upwaitn("Tclunk", nup + 1);
	t = mkflush(6, 5);
	post(a, &t);
	other = 0;
	ok(expect(a, 6, Rflush, T, &other), "flush-clunk: Rflush");
	mark_unused(other);
	ok(pc_fidop(a, Tstat, 7, 2) == Rerror, "flush-clunk: the client's fid is gone anyway");
	is_int(fidsettle(1), 1, "flush-clunk: 9mux clunks the upstream fid the flushed Tclunk left behind");
	down();

	/* The same, but the client leaves before the Rflush comes. */
	if(up("flush-clunk-leave", "-d Tclunk:500 -d Tflush:300", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	pc_walk(a, 2, 1, 2, "hello");
	nup = upcount("Tclunk");
	pc_mkfid(&t, Tclunk, 5, 2);
	post(a, &t);
	upwaitn("Tclunk", nup + 1);
	nup = upcount("Tflush");
	t = mkflush(6, 5);
	post(a, &t);
	upwaitn("Tflush", nup + 1);
	hangup(a);
	is_int(fidsettle(0), 0, "flush-clunk-leave: nothing left on the server");
	down();

	/* A Tversion the mux answers "unknown" ends the session too: its fids are clunked. */
	if(up("version-unknown", "", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	pc_walk(a, 2, 1, 2, "hello");
	is_int(pc_version(a, 8192, "bogus"), Rversion, "version-unknown: Tversion bogus answered");
	ok(p9streq(a->r.version, "unknown"), "version-unknown: with unknown");
	is_int(fidsettle(0), 0, "version-unknown: the old session's fids are clunked upstream");
	is_int(pc_version(a, 8192, "9P2000"), Rversion, "version-unknown: a new Tversion");
	is_int(pc_attach(a, 3, 1, "tester"), Rattach, "version-unknown: fid 1 is free again");
	pc_walk(a, 4, 1, 2, "hello");
	{
		int r = pc_version(a, 100, "9P2000");

		ok(r == Rversion || r == Rerror || r == PC_EOF, "version-unknown: Tversion with msize 100 answered or refused (%d)", r);
	}
	is_int(fidsettle(0), 0, "version-unknown: after a Tversion with msize 100 nothing is left either");
	down();

	/* Clunks that are refused (tag in use, NOTAG) must not lose the upstream fid. */
	if(up("odd-clunks", "-x Tread", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	pc_walk(a, 2, 1, 2, "hello");
	pc_walk(a, 2, 1, 3, "hello");
	pc_walk(a, 2, 1, 4, "hello");
	pc_walk(a, 2, 1, 6, "hello");
	pc_open1(a, 2, 2, P9_OREAD);
	pc_mkread(&t, 5, 2, 0, 10);
	post(a, &t);
	ok(pc_fidop(a, Tclunk, 5, 3) > 0 && pc_iserr(a) && a->r.tag == 5, "odd-clunks: Tclunk with a tag in flight: error");
	ok(pc_fidop(a, Tremove, 5, 6) > 0 && pc_iserr(a) && a->r.tag == 5, "odd-clunks: Tremove with a tag in flight: error");
	{
		int r = pc_fidop(a, Tclunk, P9_NOTAG, 4);

		ok(r > 0, "odd-clunks: Tclunk with NOTAG answered (%s)", p9typename(r) ? p9typename(r) : "?");
	}
	t = mkflush(7, 5);
	post(a, &t);
	ok(expect(a, 7, Rflush, T, NULL), "odd-clunks: the read flushed");
	hangup(a);
	is_int(fidsettle(0), 0, "odd-clunks: after the hang-up nothing is left on the server");
	down();

	/* A Tattach flushed after the server answered it (-o): the client holds the fid. */
	if(up("flush-attach", "-o -d Tattach:300", "") < 0)
		return;
	a = cl("9P2000", 8192);
	pc_mkattach(&t, 1, 1, "tester");
	nup = upcount("Tattach");
	post(a, &t);
	upwaitn("Tattach", nup + 1);
	t = mkflush(2, 1);
	post(a, &t);
	ok(pc_next(a, T) > 0 && a->r.type == Rattach && a->r.tag == 1, "flush-attach: the Rattach first");
	ok(pc_next(a, T) > 0 && a->r.type == Rflush && a->r.tag == 2, "flush-attach: then Rflush");
	ok(sentinel(a, 3, 1), "flush-attach: the fid it made is the client's");
	hangup(a);
	is_int(fidsettle(0), 0, "flush-attach: and is clunked when the client leaves");
	down();

	/* A client that leaves with a Tattach in flight, answered late or flushed. */
	if(up("hangup-attach", "-d Tattach:300", "") < 0)
		return;
	a = cl("9P2000", 8192);
	pc_mkattach(&t, 1, 1, "tester");
	nup = upcount("Tattach");
	post(a, &t);
	upwaitn("Tattach", nup + 1);
	hangup(a);
	is_int(fidsettle(0), 0, "hangup-attach: nothing left on the server (flushed attach)");
	down();
	if(up("hangup-attach-o", "-o -d Tattach:300", "") < 0)
		return;
	a = cl("9P2000", 8192);
	nup = upcount("Tattach");
	post(a, &t);
	upwaitn("Tattach", nup + 1);
	hangup(a);
	is_int(fidsettle(0), 0, "hangup-attach-o: the attach answered after the hang-up is clunked");
	down();

	/* A client that leaves right after an attach that is answered at once. */
	if(up("hangup-fast", "", "") < 0)
		return;
	{
		int i;

		for(i = 0; i < 20; i++) {
			a = cl("9P2000", 8192);
			t.fid = (uint32_t)i;
			post(a, &t);
			if(i % 2)
				pc_sleep(1);
			hangup(a);
		}
	}
	is_int(fidsettle(0), 0, "hangup-fast: 20 clients leaving with an attach just sent leave nothing");
	down();
}

static void
sizes(void)
{
	Pconn *c;
	Fcall t;
	char line[512];
	int r;

	if(up("sizes", "-m 65536 -i 1000000", "") < 0)
		return;
	c = attached("9P2000", 4096, 1);
	if(!ok(c && c->r.type == Rattach && c->msize == 4096, "sizes: msize 4096 session"))
		goto out;
	pc_walk(c, 2, 1, 2, "big");
	r = pc_open1(c, 3, 2, P9_OREAD);
	ok(r == Ropen && c->r.iounit <= 4096 - 24,
		"sizes: Ropen iounit clamped to msize-24 (got %u)", c->r.iounit);
	pc_mkread(&t, 4, 2, 0, 1u << 30);
	r = pc_rpc(c, &t, T);
	ok(r == Rread && c->r.count > 0 && c->r.count <= 4096 - 11,
		"sizes: Tread with a huge count: Rread fits (count %u)", c->r.count);
	upline("Tread", NULL, -1, line, sizeof line);
	ok(fmtnum(line, "count") > 0 && fmtnum(line, "count") <= 4096 - 11,
		"sizes: upstream Tread count clamped to msize-11 (%lld)", fmtnum(line, "count"));
	pc_walk(c, 5, 1, 3, "");
	t = mk(Tcreate, 6);
	t.fid = 3;
	t.name = p9str("newfile");
	t.perm = 0644;
	t.mode = P9_ORDWR;
	r = pc_rpc(c, &t, T);
	ok(r == Rcreate && c->r.iounit <= 4096 - 24,
		"sizes: Rcreate iounit clamped (got %u)", c->r.iounit);
	pc_walk(c, 7, 1, 4, "");
	pc_open1(c, 8, 4, P9_OREAD);
	pc_mkread(&t, 9, 4, 0, 1u << 30);
	ok(pc_rpc(c, &t, T) == Rread && c->r.count <= 4096 - 11, "sizes: directory read fits");
out:
	down();
}

/* Replies a small-msize client gets must fit its msize, whatever upstream sends. */
static void
fits(void)
{
	Pconn *big, *c;
	Fcall t;
	char name[201], flags[700];
	long n;
	int i;

	memset(name, 'n', 200);
	name[200] = 0;
	snprintf(flags, sizeof flags, "-e Tclunk -E ");
	for(i = 0; i < 600; i++)
		strcat(flags, "E");
	if(up("fits", flags, "") < 0)
		return;
	big = attached("9P2000", 8192, 1);
	c = cl("9P2000", 256);
	if(!ok(big && c && c->r.type == Rversion, "fits: a client with msize 256 (got %u)", c ? c->msize : 0))
		goto out;
	pc_attach(c, 1, 1, "tester");
	pc_walk(big, 2, 1, 2, "");
	t = mk(Tcreate, 3);
	t.fid = 2;
	t.name = p9str(name);
	t.perm = 0644;
	t.mode = P9_OREAD;
	is_int(pc_rpc(big, &t, T), Rcreate, "fits: a file with a 200-byte name");
	pc_mkfid(&t, Tclunk, 4, 1);
	pc_walk(c, 2, 1, 2, "hello");
	t.fid = 2;
	pc_send(c->fd, &t, P9_2000);
	n = pc_next(c, T);
	ok(n > 0 && pc_iserr(c) && (uint32_t)n <= c->msize,
		"fits: a 600-byte upstream error reaches the client within its msize (%ld bytes)", n);
	pc_walk(c, 5, 1, 3, name);
	pc_mkfid(&t, Tstat, 6, 3);
	pc_send(c->fd, &t, P9_2000);
	n = pc_next(c, T);
	ok(n > 0 && c->r.tag == 6 && (uint32_t)n <= c->msize,
		"fits: an Rstat too big for msize 256 is not sent as is (%ld bytes, type %u)", n, c->r.type);
	ok(pc_alive(mux, NULL), "fits: 9mux still running");
out:
	down();
}

/* Send t on c and check the upstream line of its type names want[] upstream fids. */
static void
lcheck(Pconn *c, Fcall *t, int nwant, const long long *want)
{
	char line[1024];
	long long got[P9_MAXFIDS];
	const char *name;
	int r, n, i, good;

	name = p9typename(t->type);
	r = pc_rpc(c, t, T);
	ok(r > 0 && c->r.tag == t->tag && (r == t->type + 1 || r == Rlerror),
		"dotl: %s answered (%s)", name, r > 0 && p9typename(r) ? p9typename(r) : "nothing");
	if(upline(name, NULL, -1, line, sizeof line) < 0) {
		ok(0, "dotl: %s reached the server", name);
		return;
	}
	n = linefids(line, got);
	good = n == nwant;
	for(i = 0; good && i < n; i++)
		good = got[i] == want[i] && want[i] >= 0;
	if(!ok(good, "dotl: every fid of %s translated", name))
		diag("  %s; want %lld %lld", line, want[0], nwant > 1 ? want[1] : -1);
}

static void
dotl(void)
{
	Pconn *a, *b;
	Fcall t;
	long long m100, m101, m102, m103, m105, x, w[2];
	int mark;
	char line[512];
	uint8_t raw[16];

	if(up("dotl", "-m 65536 -i 1000000", "-V 9P2000.L") < 0)
		return;
	a = cl("9P2000.L", 4096);
	ok(a && a->r.type == Rversion && p9streq(a->r.version, "9P2000.L"), "dotl: 9P2000.L session");
	b = cl("9P2000.L", 4096);
	if(a == NULL || b == NULL)
		goto out;
	pc_attach(a, 1, 100, "tester");
	pc_attach(b, 1, 100, "tester");
	ok(b->r.type == Rattach, "dotl: Tattach");
	upline("Tattach", NULL, -2, line, sizeof line);
	x = pc_field(line, "new");
	m100 = lastfid("Tattach", 0);
	ok(x != m100, "dotl: same client fid, different upstream fids (%lld, %lld)", x, m100);
	pc_walk(b, 2, 100, 101, "");
	m101 = lastfid("Twalk", 1);
	pc_walk(b, 2, 100, 102, "");
	m102 = lastfid("Twalk", 1);
	pc_walk(b, 2, 100, 103, "hello");
	m103 = lastfid("Twalk", 1);
	ok(lastfid("Twalk", 0) == m100, "dotl: Twalk fid translated");

	t = mk(Tgetattr, 3); t.fid = 103; t.mask = 0x7ff;
	lcheck(b, &t, 1, &m103);
	t = mk(Tsetattr, 3); t.fid = 103;
	lcheck(b, &t, 1, &m103);
	t = mk(Tstatfs, 3); t.fid = 100;
	lcheck(b, &t, 1, &m100);
	t = mk(Tfsync, 3); t.fid = 103;
	lcheck(b, &t, 1, &m103);
	t = mk(Tlock, 3); t.fid = 103; t.lock.type = 1; t.lock.clientid = p9str("me");
	lcheck(b, &t, 1, &m103);
	t = mk(Tgetlock, 3); t.fid = 103; t.lock.type = 1; t.lock.clientid = p9str("me");
	lcheck(b, &t, 1, &m103);
	t = mk(Treadlink, 3); t.fid = 103;
	lcheck(b, &t, 1, &m103);
	t = mk(Txattrwalk, 3); t.fid = 103; t.newfid = 104; t.name = p9str("user.x");
	is_int(pc_rpc(b, &t, T), Rxattrwalk, "dotl: Txattrwalk");
	upline("Txattrwalk", NULL, -1, line, sizeof line);
	{
		long long f[2];

		ok(linefids(line, f) == 2 && f[0] == m103 && f[1] >= 0 && f[1] != m103,
			"dotl: Txattrwalk fid and newfid translated");
		w[0] = f[1];
	}
	t = mk(Txattrcreate, 3); t.fid = 104; t.name = p9str("user.y"); t.xsize = 0;
	lcheck(b, &t, 1, w);
	t = mk(Tclunk, 3); t.fid = 104;
	lcheck(b, &t, 1, w);
	t = mk(Tmkdir, 3); t.dfid = 101; t.name = p9str("d1"); t.mode = 0755;
	lcheck(b, &t, 1, &m101);
	t = mk(Tmknod, 3); t.dfid = 101; t.name = p9str("n1"); t.mode = 0644;
	lcheck(b, &t, 1, &m101);
	t = mk(Tsymlink, 3); t.fid = 101; t.name = p9str("s1"); t.target = p9str("hello");
	lcheck(b, &t, 1, &m101);
	t = mk(Trename, 3); t.fid = 103; t.dfid = 101; t.name = p9str("hello2");
	w[0] = m103; w[1] = m101;
	lcheck(b, &t, 2, w);
	t = mk(Trenameat, 3); t.dfid = 101; t.name = p9str("d1"); t.newdfid = 100; t.newname = p9str("d2");
	w[0] = m101; w[1] = m100;
	lcheck(b, &t, 2, w);
	t = mk(Tlink, 3); t.dfid = 101; t.fid = 103; t.name = p9str("l1");
	w[0] = m101; w[1] = m103;
	lcheck(b, &t, 2, w);
	t = mk(Tunlinkat, 3); t.dfid = 100; t.name = p9str("d2");
	lcheck(b, &t, 1, &m100);
	t = mk(Tlcreate, 3); t.fid = 102; t.name = p9str("c1"); t.flags = 02; t.mode = 0644;
	lcheck(b, &t, 1, &m102);
	ok(b->r.type == Rlcreate && b->r.iounit <= 4096 - 24, "dotl: Rlcreate iounit clamped (got %u)", b->r.iounit);
	pc_walk(b, 4, 100, 105, "");
	m105 = lastfid("Twalk", 1);
	t = mk(Tlopen, 3); t.fid = 105; t.flags = 0;
	lcheck(b, &t, 1, &m105);
	ok(b->r.type == Rlopen && b->r.iounit <= 4096 - 24, "dotl: Rlopen iounit clamped (got %u)", b->r.iounit);
	t = mk(Treaddir, 3); t.fid = 105; t.count = 1u << 30;
	lcheck(b, &t, 1, &m105);
	ok(b->r.type == Rreaddir && b->r.count <= 4096 - 11, "dotl: Rreaddir fits (count %u)", b->r.count);
	upline("Treaddir", NULL, -1, line, sizeof line);
	ok(fmtnum(line, "count") > 0 && fmtnum(line, "count") <= 4096 - 11, "dotl: upstream Treaddir count clamped (%lld)", fmtnum(line, "count"));

	/* Errors 9mux makes itself are Rlerror here. */
	mark = upmark();
	ok(pc_fidop(b, Tgetattr, 5, 999) == Rlerror && b->r.errnum != 0, "dotl: unknown fid: Rlerror with an errno");
	nothingup(b, mark, 100, "a .L request on an unknown fid");
	mark = upmark();
	pc_mkfid(&t, Tstat, 5, 100);
	eq(pc_rpcin(b, &t, P9_2000, T), Rlerror, "dotl: 9P2000 Tstat on a .L session: Rlerror");
	nothingup(b, mark, 100, "a Tstat on a .L session");
	mark = upmark();
	p9put32(raw, 11);
	raw[4] = 200;
	p9put16(raw + 5, 6);
	p9put32(raw + 7, 100);
	sendraw(b, raw, 11);
	ok(pc_next(b, T) > 0 && b->r.type == Rlerror && b->r.tag == 6, "dotl: type 200: Rlerror");
	nothingup(b, mark, 100, "a message of type 200");
	mark = upmark();
	p9put32(raw, 11);
	raw[4] = Tlerror;
	p9put16(raw + 5, 7);
	sendraw(b, raw, 11);
	ok(refused(b, T), "dotl: Tlerror (illegal): error or hang-up");
	if(b->r.type == Rlerror)
		nothingup(b, mark, 100, "a Tlerror");
out:
	down();
}

static void
loss(void)
{
	Pconn *a, *c;
	Fcall t;
	long end;
	int good;

	if(up("loss", "-x Tread", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	if(!ok(a && a->r.type == Rattach, "loss: attached"))
		goto out;
	pc_walk(a, 2, 1, 2, "hello");
	pc_open1(a, 3, 2, P9_OREAD);
	pc_mkread(&t, 4, 2, 0, 100);
	nup = upcount("Tread");
	post(a, &t);
	ok(upwaitn("Tread", nup + 1), "loss: Tread in flight");
	pc_kill(srv, SIGKILL);
	srv = -1;
	ok(pc_next(a, T) > 0 && a->r.tag == 4 && pc_iserr(a), "loss: the request in flight gets an error");
	pc_sleep(200);
	ok(pc_alive(mux, NULL), "loss: 9mux stays up");
	c = cl("9P2000", 8192);
	ok(c == NULL || lastver == Rversion || lastver == Rerror || lastver == PC_EOF,
		"loss: a client arriving while upstream is down is answered or refused (%d)", lastver);
	if(startsrv("") < 0)
		goto out;
	end = pc_now() + 15000;
	good = 0;
	while(!good && pc_now() < end) {
		c = attached("9P2000", 8192, 1);
		if(c && c->r.type == Rattach && pc_walk(c, 2, 1, 2, "hello") == Rwalk
		&& pc_open1(c, 3, 2, P9_OREAD) == Ropen) {
			pc_mkread(&t, 4, 2, 0, 100);
			good = pc_rpc(c, &t, T) == Rread && c->r.count == 13;
		}
		if(!good) {
			if(c)
				hangup(c);
			pc_sleep(250);
		}
	}
	ok(good, "loss: after the server is back, new sessions are served");
out:
	down();
}

/* A server that sends replies nobody asked for, or garbage. */
static void
badupstream(void)
{
	Pconn *a, *b, *c;
	Fcall t;
	long end;
	int good;

	if(up("junk-upstream", "-j Tstat", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	b = attached("9P2000", 8192, 1);
	if(!ok(a && b, "junk-upstream: two clients"))
		goto out1;
	ok(sentinel(a, 2, 1), "junk-upstream: Tstat answered");
	ok(pc_waitcount(srvlog, "JUNK", 1, T) >= 1, "junk-upstream: (the server sent an Rclunk for a tag not in flight)");
	ok(pc_next(a, 300) == PC_TIMEOUT && pc_next(b, 10) == PC_TIMEOUT, "junk-upstream: no client got it");
	ok(sentinel(b, 2, 1) && pc_walk(b, 3, 1, 2, "hello") == Rwalk, "junk-upstream: sessions go on");
out1:
	down();

	if(up("garbage-upstream", "-g Tstat", "") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	if(!ok(a && a->r.type == Rattach, "garbage-upstream: attached"))
		goto out2;
	pc_mkfid(&t, Tstat, 2, 1);
	post(a, &t);
	ok(refused(a, T), "garbage-upstream: the request whose reply was garbage gets an error (or hang-up)");
	ok(pc_alive(mux, NULL), "garbage-upstream: 9mux stays up");
	end = pc_now() + 15000;
	good = 0;
	while(!good && pc_now() < end) {
		c = attached("9P2000", 8192, 1);
		good = c && c->r.type == Rattach && pc_walk(c, 2, 1, 2, "hello") == Rwalk;
		if(!good) {
			if(c)
				hangup(c);
			pc_sleep(250);
		}
	}
	ok(good, "garbage-upstream: a new upstream connection serves new sessions");
out2:
	down();
}

static void
pinning(void)
{
	Pconn *a;
	struct passwd *pw;
	char want[300], line[512];

	if(up("pin", "", "-u") < 0)
		return;
	pw = getpwuid(getuid());
	a = cl("9P2000", 8192);
	if(!ok(a && pw, "pin: connected"))
		goto out;
	is_int(pc_attach(a, 1, 1, "somebody-else"), Rattach, "pin: Tattach");
	upline("Tattach", NULL, -1, line, sizeof line);
	snprintf(want, sizeof want, " uname=%s", pw->pw_name);
	ok(strstr(line, want) != NULL, "pin: -u replaced uname by the login name %s", pw->pw_name);
	if(strstr(line, want) == NULL)
		diag("  %s", line);
out:
	down();

	/* 9P2000.L: n_uname is pinned too, in Tauth and Tattach. */
	if(up("pin-dotl", "-A", "-u -V 9P2000.L") < 0)
		return;
	a = cl("9P2000.L", 8192);
	if(!ok(a && pw && a->r.type == Rversion, "pin-dotl: connected"))
		goto out2;
	{
		Fcall t;
		char nu[64];

		t = mk(Tauth, 1);
		t.afid = 5;
		t.uname = p9str("mallory");
		t.aname = p9str("");
		t.nuname = 4242;
		is_int(pc_rpc(a, &t, T), Rauth, "pin-dotl: Tauth");
		upline("Tauth", NULL, -1, line, sizeof line);
		snprintf(want, sizeof want, " uname=%s", pw->pw_name);
		snprintf(nu, sizeof nu, "n_uname %u", (unsigned)getuid());
		ok(strstr(line, want) && strstr(line, nu), "pin-dotl: Tauth uname and n_uname pinned (%s)", line);
		t = mk(Tattach, 2);
		t.fid = 1;
		t.afid = 5;
		t.uname = p9str("mallory");
		t.aname = p9str("");
		t.nuname = 4242;
		is_int(pc_rpc(a, &t, T), Rattach, "pin-dotl: Tattach");
		upline("Tattach", NULL, -1, line, sizeof line);
		ok(strstr(line, want) && strstr(line, nu), "pin-dotl: Tattach uname and n_uname pinned (%s)", line);
	}
out2:
	down();

	/* The pin is the connecting user's, not 9mux's: a client that is nobody. */
	if(getuid() == 0 && (pw = getpwnam("nobody")) != NULL) {
		pid_t kid;
		int st;
		uid_t nuid = pw->pw_uid;
		char nname[64];

		snprintf(nname, sizeof nname, "%s", pw->pw_name);
		if(up("pin-other", "", "-u -M 0666") < 0)
			return;
		chmod(dir, 0755);
		fflush(stdout);
		kid = fork();
		if(kid == 0) {
			Pconn *k;

			if(setgid(pw->pw_gid) < 0 || setuid(nuid) < 0)
				_exit(2);
			k = pc_open(muxsock, P9_2000);
			if(k == NULL || pc_version(k, 8192, "9P2000") != Rversion
			|| pc_attach(k, 1, 1, "root") != Rattach)
				_exit(3);
			_exit(0);
		}
		st = pc_waitexit(kid, 10000);
		ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "pin-other: a client running as %s attached", nname);
		upline("Tattach", NULL, -1, line, sizeof line);
		snprintf(want, sizeof want, " uname=%s", nname);
		ok(strstr(line, want) != NULL, "pin-other: its uname is pinned to %s, not root (%s)", nname, line);
		chmod(dir, 0700);
		down();
	} else
		diag("pin-other: not root or no user nobody; the other-user case is not run");

	if(up("nopin", "", "") < 0)
		return;
	a = cl("9P2000", 8192);
	pc_attach(a, 1, 1, "somebody-else");
	ok(upline("Tattach", "uname=somebody-else", -1, NULL, 0) >= 0, "nopin: without -u the uname passes");
	down();
}

static void
limits(void)
{
	Pconn *a, *b, *c;
	Fcall t;
	int mark, r, good, queued;
	long end;

	if(up("maxclients", "", "-c 2") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	b = attached("9P2000", 8192, 1);
	ok(a && b && a->r.type == Rattach && b->r.type == Rattach, "maxclients: two clients");
	c = cl("9P2000", 8192);
	ok(c == NULL || c->r.type != Rversion || pc_attach(c, 1, 1, "x") != Rattach,
		"maxclients: a third is refused");
	if(c)
		hangup(c);
	ok(sentinel(a, 2, 1), "maxclients: the first still served");
	hangup(b);
	end = pc_now() + 5000;
	good = 0;
	while(!good && pc_now() < end) {
		c = attached("9P2000", 8192, 1);
		good = c && c->r.type == Rattach;
		if(!good) {
			if(c)
				hangup(c);
			pc_sleep(100);
		}
	}
	ok(good, "maxclients: after one leaves, a new one is served");
	down();

	if(up("maxfids", "", "-f 3") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	pc_walk(a, 2, 1, 2, "");
	ok(pc_walk(a, 2, 1, 3, "") == Rwalk, "maxfids: three fids");
	mark = upmark();
	ok(pc_walk(a, 2, 1, 4, "") == Rerror, "maxfids: a fourth refused");
	nothingup(a, mark, 1, "a walk beyond -f");
	pc_fidop(a, Tclunk, 3, 3);
	ok(pc_walk(a, 2, 1, 4, "") == Rwalk, "maxfids: after a clunk, it is served");
	down();

	if(up("maxtags", "-x Tread -d Tclunk:300", "-t 2") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	pc_walk(a, 2, 1, 2, "hello");
	pc_walk(a, 2, 1, 3, "sub");
	pc_open1(a, 3, 2, P9_OREAD);
	pc_mkread(&t, 4, 2, 0, 10);
	post(a, &t);
	pc_mkread(&t, 5, 2, 0, 10);
	post(a, &t);
	ok(pc_waitcount(srvlog, "Tread", 2, T) == 2, "maxtags: two reads in flight");
	pc_mkread(&t, 6, 2, 0, 10);
	post(a, &t);
	r = (int)pc_next(a, 1000);
	queued = r == PC_TIMEOUT;
	ok(queued || (r > 0 && a->r.tag == 6 && pc_iserr(a)), "maxtags: the third is queued or refused");
	if(queued) {
		t = mkflush(7, 6);
		post(a, &t);
		ok(expect(a, 7, Rflush, T, NULL), "maxtags: Tflush of the queued request: Rflush");
		is_int(pc_count(srvlog, "Tread"), 2, "maxtags: the queued request never went upstream");
	}
	if(queued) {
		/*
		 * A request waiting for room, then a Tclunk of its fid: the
		 * clunk must not overtake it upstream (the request would name
		 * a fid being clunked, or one reused by then).
		 */
		int got, n;

		pc_mkfid(&t, Tstat, 11, 3);
		post(a, &t);
		pc_mkfid(&t, Tclunk, 12, 3);
		post(a, &t);
		pc_sleep(100);
		t = mkflush(8, 4);
		post(a, &t);
		got = 0;
		for(n = 0; n < 3 && pc_next(a, T) > 0; n++) {
			if(a->r.tag == 8 && a->r.type == Rflush)
				got |= 1;
			if(a->r.tag == 11 && (a->r.type == Rstat || pc_iserr(a)))
				got |= 2;
			if(a->r.tag == 12 && a->r.type == Rclunk)
				got |= 4;
		}
		is_int(got, 7, "maxtags: a queued Tstat and the Tclunk of its fid both answered");
		if(!eq(violations(), 0, "maxtags: the Tclunk did not overtake the queued request on its fid"))
			showviolations();
	} else {
		t = mkflush(8, 4);
		post(a, &t);
		ok(expect(a, 8, Rflush, T, NULL), "maxtags: flush of a read at the limit answered");
	}
	t = mkflush(9, 5);
	post(a, &t);
	ok(expect(a, 9, Rflush, T, NULL), "maxtags: and the other");
	ok(sentinel(a, 10, 1), "maxtags: served again");
	down();

	/*
	 * Requests that never end upstream fill -t and the held queue, and
	 * one more waits unread in 9mux: the Tflushes sent after it are
	 * still handled, so the client can get out.
	 */
	if(up("flushwait", "-x Tread", "-t 2") < 0)
		return;
	a = attached("9P2000", 8192, 1);
	pc_walk(a, 2, 1, 2, "hello");
	pc_open1(a, 3, 2, P9_OREAD);
	for(r = 0; r < 5; r++) {
		pc_mkread(&t, (uint16_t)(20 + r), 2, 0, 10);
		post(a, &t);
	}
	ok(pc_waitcount(srvlog, "Tread", 2, T) == 2, "flushwait: two reads upstream, never answered");
	pc_sleep(100);
	for(r = 4; r >= 0; r--) {
		t = mkflush((uint16_t)(30 + r), (uint16_t)(20 + r));
		post(a, &t);
	}
	good = 0;
	for(r = 0; r < 5 && pc_next(a, T) > 0; r++)
		if(a->r.type == Rflush && a->r.tag >= 30 && a->r.tag < 35)
			good |= 1 << (a->r.tag - 30);
	is_int(good, 31, "flushwait: all five Tflushes answered (the waiting read's, the held ones', the sent ones')");
	is_int(pc_count(srvlog, "Tread"), 2, "flushwait: no other read went upstream");
	is_int(pc_count(srvlog, "Tflush"), 2, "flushwait: a Tflush upstream for each sent read only");
	ok(sentinel(a, 10, 1), "flushwait: served again");
	if(!eq(violations(), 0, "flushwait: no protocol violation"))
		showviolations();
	down();
}

static void
cmdline(void)
{
	char errf[420], addr[420], bad[420];
	int st;
	pid_t p;

	snprintf(errf, sizeof errf, "%s/cmd.err", dir);
	{
		const char *av[] = { pc_prog("9mux"), "-Q", "-a", "unix!/tmp/x", "unix!/tmp/y", NULL };

		p = pc_spawn(av, errf);
		st = pc_waitexit(p, 5000);
		ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "cmdline: bad flag: exit 1");
		is_int(pc_count(errf, NULL), 1, "cmdline: bad flag: one line on stderr");
		if(st == -1)
			pc_kill(p, SIGKILL);
	}
	snprintf(addr, sizeof addr, "unix!%s/never.sock", dir);
	snprintf(bad, sizeof bad, "unix!%s/nobody.sock", dir);
	{
		const char *av[] = { pc_prog("9mux"), "-F", "-a", addr, bad, NULL };

		p = pc_spawn(av, errf);
		st = pc_waitexit(p, 10000);
		ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "cmdline: -F, unreachable upstream: exit 1");
		is_int(pc_count(errf, NULL), 1, "cmdline: -F, unreachable upstream: one line on stderr");
		if(st == -1)
			pc_kill(p, SIGKILL);
	}
	{
		const char *av[] = { pc_prog("9mux"), NULL };

		p = pc_spawn(av, errf);
		st = pc_waitexit(p, 5000);
		ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "cmdline: no arguments: exit 1");
		if(st == -1)
			pc_kill(p, SIGKILL);
	}
}

int
main(int argc, char **argv)
{
	(void)argc;
	tap_start(300);
	signal(SIGALRM, onalarm);
	pc_setbin(argv[0]);
	if(access(pc_prog("9mux"), X_OK) != 0 || access(pc_prog("9testsrv"), X_OK) != 0) {
		ok(0, "9mux and 9testsrv are built in %s", pc_bindir);
		return done_testing();
	}
	dir = pc_tmpdir();
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	cmdline();
	framing();
	version();
	versionlate();
	dotu();
	tags();
	slow();
	fids();
	flush();
	hang();
	flushfids();
	sizes();
	fits();
	dotl();
	badupstream();
	pinning();
	limits();
	loss();
	pc_rmdir(dir);
	return done_testing();
}
