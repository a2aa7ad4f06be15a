/*
 * t_ninemux: the session engine in-process, with the test playing both
 * the clients and the upstream server, so every protocol rule can be
 * watched frame by frame: tag and fid translation, flush in each case,
 * clunk and fid reuse, hang-up, version reset, upstream loss, dialect
 * errors, pinning, limits.
 */
#include <stdint.h>

#include "9p.h"
#include "ninemux.h"
#include "tap.h"

enum { MAXF = 64 };

typedef struct Frames Frames;
struct Frames {
	int	n;
	int	dropped;
	uint8_t	buf[MAXF][512];
	Fcall	f[MAXF];
};

static Nmux *m;
static Nmchan *ch;
static int updialect = P9_2000;
static size_t upq;	/* Nmconf.upqbytes of the next setup */
static int uptags;	/* Nmconf.maxtags of the next setup */

static void
wake(void *aux, int what)
{
	(void)aux;
	(void)what;
}

static int tupflushes;	/* Tflush frames traced as sent upstream */
static int notes, pongs;
static char lastnote[256];

static void
note(void *aux, int what, const char *msg)
{
	(void)aux;
	if(what == NM_NPONG){
		pongs++;
		return;
	}
	notes++;
	snprintf(lastnote, sizeof lastnote, "%s", msg ? msg : "");
}

static void
trace(void *arg, unsigned id, int where, const uint8_t *f, size_t n, int dialect)
{
	(void)arg;
	(void)id;
	(void)dialect;
	if(where == NM_TUP && n > 4 && f[4] == Tflush)
		tupflushes++;
}

/* Everything queued in q, decoded in dialect d. */
static void
take(Nmq *q, Frames *fr, int d)
{
	struct iovec iov[MAXF];
	int k, i;
	size_t n;

	fr->n = 0;
	fr->dropped = 0;
	while(!nmqempty(q)){
		k = nmqiov(q, iov, MAXF);
		n = 0;
		for(i = 0; i < k; i++){
			n += iov[i].iov_len;
			if(fr->n == MAXF){
				fr->dropped++;	/* counted, not kept */
				continue;
			}
			memcpy(fr->buf[fr->n], iov[i].iov_base, iov[i].iov_len < 512 ? iov[i].iov_len : 512);
			if(p9decode(fr->buf[fr->n], iov[i].iov_len, 1 << 20, d, &fr->f[fr->n]) <= 0)
				fr->f[fr->n].type = 0;
			fr->n++;
		}
		nmqadvance(q, n);
	}
}

static Frames up, cl;

static void
uptake(void)
{
	take(nmchanq(ch), &up, updialect);
}

/* Write only the first frame of the upstream queue: its type, tag in *tag (0 if empty). */
static int
upone(uint16_t *tag)
{
	struct iovec iov[1];
	uint8_t b[64];
	Fcall f;

	if(nmqempty(nmchanq(ch)) || nmqiov(nmchanq(ch), iov, 1) != 1)
		return 0;
	memcpy(b, iov[0].iov_base, iov[0].iov_len < sizeof b ? iov[0].iov_len : sizeof b);
	if(p9decode(b, iov[0].iov_len, sizeof b, updialect, &f) <= 0)
		return -1;
	*tag = f.tag;
	nmqadvance(nmchanq(ch), iov[0].iov_len);
	return f.type;
}

static void
cltake(Nmsess *s, int d)
{
	take(nmsessq(s), &cl, d);
}

static long
csend(Nmsess *s, Fcall *f, int d)
{
	uint8_t b[1024];
	size_t n;

	n = p9encode(b, sizeof b, f, d);
	return nmsessin(s, b, n, NULL, 0);
}

static void
ureply(Fcall *f)
{
	uint8_t b[1024];
	size_t n;

	n = p9encode(b, sizeof b, f, updialect);
	if(nmchanin(ch, b, n, NULL, 0) < 0)
		diag("nmchanin refused a reply");
}

static void
setup(int dialect, int maxfids, int maxreqs)
{
	Nmconf c;
	Fcall r;

	memset(&c, 0, sizeof c);
	c.msize = 8192;
	c.dialect = dialect;
	c.maxfids = maxfids;
	c.maxreqs = maxreqs;
	c.upqbytes = upq;
	c.maxtags = uptags;
	c.wake = wake;
	c.trace = trace;
	c.note = note;
	updialect = dialect;
	m = nmnew(&c);
	ch = nmchannew(m, NULL);
	take(nmchanq(ch), &up, P9_2000);
	memset(&r, 0, sizeof r);
	r.type = Rversion;
	r.tag = P9_NOTAG;
	r.msize = 8192;
	r.version = p9str(p9dialectname(dialect));
	ureply(&r);
}

static Nmsess *
client(const char *v, uint32_t msize)
{
	Nmsess *s;
	Fcall t;

	s = nmsessnew(m, &notes);	/* any aux: closed sessions have none, and are told nothing */
	memset(&t, 0, sizeof t);
	t.type = Tversion;
	t.tag = P9_NOTAG;
	t.msize = msize;
	t.version = p9str(v);
	csend(s, &t, P9_2000);
	cltake(s, P9_2000);
	return s;
}

static Fcall T;

static Fcall *
tmsg(uint8_t type, uint16_t tag, uint32_t fid)
{
	memset(&T, 0, sizeof T);
	T.type = type;
	T.tag = tag;
	T.fid = fid;
	T.afid = P9_NOFID;
	T.uname = p9str("me");
	T.aname = p9str("");
	return &T;
}

static void
rmsg(Fcall *r, uint8_t type, uint16_t tag)
{
	memset(r, 0, sizeof *r);
	r->type = type;
	r->tag = tag;
}

/* Attach fid on s and answer it upstream: the upstream fid. */
static uint32_t
attach(Nmsess *s, uint32_t fid, int d)
{
	Fcall r;
	uint32_t ufid;

	csend(s, tmsg(Tattach, 1, fid), d);
	uptake();
	ufid = up.f[0].fid;
	rmsg(&r, Rattach, up.f[0].tag);
	ureply(&r);
	cltake(s, d);
	return ufid;
}

static int
iserr(Frames *f, int i, const char *s)
{
	return i < f->n && f->f[i].type == Rerror && p9streq(f->f[i].ename, s);
}

/* Answer the channel's Tversion with version v and msize 8192. */
static void
upversion(Nmchan *c, const char *v)
{
	Fcall r;

	ch = c;
	take(nmchanq(c), &up, P9_2000);
	rmsg(&r, Rversion, P9_NOTAG);
	r.msize = 8192;
	r.version = p9str(v);
	ureply(&r);
}

/*
 * A channel's tag tables start small and grow with the requests in
 * flight: hundreds at once get distinct tags, each reply reaches its
 * request, and past -T the waiting requests take the freed tags in the
 * order they were freed, across the tables' growth.
 */
enum { NT = 300, TT = 200 };

static Fcall *
rdmsg(uint16_t tag)
{
	Fcall *t;

	t = tmsg(Tread, tag, 0);
	t->count = 10;
	return t;
}

static void
tagtables(void)
{
	static uint16_t utag[NT], seen[65536];
	Nmsess *a;
	Fcall r;
	int i, good, distinct, waited;

	uptags = TT;
	setup(P9_2000, 100, 1000);
	a = client("9P2000", 8192);
	attach(a, 0, P9_2000);
	memset(seen, 0, sizeof seen);
	distinct = 1;
	waited = 0;
	for(i = 0; i < NT; i++){
		csend(a, rdmsg((uint16_t)(100 + i)), P9_2000);
		uptake();
		if(i < TT){
			utag[i] = up.n == 1 ? up.f[0].tag : P9_NOTAG;
			if(up.n != 1 || utag[i] >= TT || seen[utag[i]]++)
				distinct = 0;
		}else if(up.n == 0)
			waited++;
	}
	ok(distinct, "%d requests in flight get %d distinct upstream tags below -T %d", TT, TT, TT);
	ok(waited == NT - TT, "the other %d wait for a tag (%d did)", NT - TT, waited);
	/* free the first TT tags backwards: the waiting requests go out on them in that order */
	good = 1;
	for(i = TT - 1; i >= 0; i--){
		rmsg(&r, Rread, utag[i]);
		ureply(&r);
		cltake(a, P9_2000);
		good = good && cl.n == 1 && cl.f[0].type == Rread && cl.f[0].tag == (uint16_t)(100 + i);
		uptake();
		if(TT - 1 - i < NT - TT)
			good = good && up.n == 1 && up.f[0].tag == utag[i] && up.f[0].type == Tread;
		else
			good = good && up.n == 0;
	}
	ok(good, "each reply reached its request's tag, and each freed tag went at once to the next waiting request");
	nmfree(m);
	m = NULL;
	uptags = 0;

	/* no -T: the tables grow past their first size */
	setup(P9_2000, 100, 1000);
	a = client("9P2000", 8192);
	attach(a, 0, P9_2000);
	memset(seen, 0, sizeof seen);
	good = 1;
	for(i = 0; i < NT; i++){
		csend(a, rdmsg((uint16_t)(100 + i)), P9_2000);
		uptake();
		utag[i] = up.n == 1 ? up.f[0].tag : P9_NOTAG;
		good = good && up.n == 1 && utag[i] != P9_NOTAG && seen[utag[i]]++ == 0;
	}
	ok(good, "without -T, %d requests in flight at once, each with its own tag", NT);
	good = 1;
	for(i = 0; i < NT; i += 2){
		rmsg(&r, Rread, utag[i]);
		ureply(&r);
		cltake(a, P9_2000);
		good = good && cl.n == 1 && cl.f[0].tag == (uint16_t)(100 + i);
	}
	csend(a, rdmsg(99), P9_2000);
	uptake();
	good = good && up.n == 1 && !seen[up.f[0].tag];
	ok(good, "half answered out of order, each to its own; a new request takes a tag never used (%u)", up.n ? up.f[0].tag : 0);
	nmfree(m);
	m = NULL;
}

/*
 * Upstreams of their own: pings, a link's session kept through loss,
 * dialects told, any dialect taken, replies from before a new Tversion.
 */
static void
upkeep(void)
{
	Nmsess *a, *k;
	Nmup *u;
	Fcall r, *t;
	uint16_t ptag;
	int n;

	setup(P9_2000, 100, 16);
	a = client("9P2000", 8192);
	attach(a, 0, P9_2000);
	t = tmsg(Tread, 3, 0);
	t->count = 10;
	csend(a, t, P9_2000);
	pongs = 0;
	ok(nmchanping(ch) == 0, "ping");
	ok(nmchanping(ch) < 0, "one ping at a time");
	uptake();
	ok(up.n == 2 && up.f[0].type == Tread && up.f[1].type == Tflush && up.f[1].tag != up.f[1].oldtag &&
		up.f[1].tag != up.f[0].tag && up.f[1].oldtag != up.f[0].tag && up.f[1].oldtag != P9_NOTAG,
		"a ping is a Tflush of an unused tag, under another unused one (%u of %u)", up.f[1].tag, up.f[1].oldtag);
	ptag = up.f[1].tag;
	rmsg(&r, Rflush, ptag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(pongs == 1 && cl.n == 0, "its Rflush is told as a pong, and no client sees it");
	rmsg(&r, Rread, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rread && cl.f[0].tag == 3, "the read in flight is undisturbed");
	ok(nmchanping(ch) == 0, "another ping once it is answered");
	uptake();
	rmsg(&r, Rerror, up.f[0].tag);
	r.ename = p9str("no");
	ureply(&r);
	ok(pongs == 2, "an Rerror to a ping is a pong too");

	/* a kept session: fids die with the channel, the session stays */
	k = client("9P2000", 8192);
	nmsesskeep(k);
	attach(k, 0, P9_2000);
	nmchandown(ch);
	ch = NULL;
	csend(k, tmsg(Tstat, 1, 0), P9_2000);
	cltake(k, P9_2000);
	ok(iserr(&cl, 0, "upstream not reachable yet"), "kept session, channel down: requests get an error");
	ch = nmchannew(m, NULL);
	upversion(ch, "9P2000");
	csend(k, tmsg(Tstat, 1, 0), P9_2000);
	cltake(k, P9_2000);
	uptake();
	ok(iserr(&cl, 0, "unknown fid") && up.n == 0, "back up: its old fid is gone");
	attach(k, 0, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rattach, "and it attaches again without Tversion");
	csend(a, tmsg(Tstat, 1, 0), P9_2000);
	cltake(a, P9_2000);
	ok(iserr(&cl, 0, "upstream connection lost"), "a session not kept stays dead until Tversion");
	nmsessclose(a);
	nmsessclose(k);

	/* dialects told */
	notes = 0;
	a = client("9P2000.L", 8192);
	ok(cl.f[0].type == Rversion && p9streq(cl.f[0].version, "9P2000") && notes == 1 &&
		strstr(lastnote, "asked for version 9P2000.L; the upstream speaks 9P2000, so it gets 9P2000"),
		"a .L client of a 9P2000 upstream gets 9P2000, and is told: %s", lastnote);
	nmsessclose(a);
	nmfree(m);
	setup(P9_2000L, 100, 16);
	notes = 0;
	a = client("9P2000", 8192);
	ok(cl.f[0].type == Rversion && p9streq(cl.f[0].version, "unknown") && notes == 1 &&
		strstr(lastnote, "gets unknown (9mux -V sets the dialect asked of the upstream)"),
		"a 9P2000 client of a .L upstream gets unknown, and is told: %s", lastnote);
	nmsessclose(a);

	/* an upstream of its own, taking any dialect; replies from before its Tversion */
	u = nmupnew(m, 8192, P9_2000L, NM_UPANY);
	a = nmsessnewup(m, u, &notes);
	ch = nmchannewup(u, NULL);
	take(nmchanq(ch), &up, P9_2000);
	ok(up.n == 1 && up.f[0].type == Tversion && p9streq(up.f[0].version, "9P2000.L"), "it asks 9P2000.L");
	rmsg(&r, Rattach, 7);
	ureply(&r);
	ok(nmchanstate(ch) == NM_CVERSION, "a reply from before its Tversion is dropped");
	upversion(ch, "9P2000");
	ok(nmchanstate(ch) == NM_CREADY && nmchandialect(ch) == P9_2000, "it takes 9P2000");
	n = (int)nmstats(m)->sessions;
	nmupfree(u);
	csend(a, tmsg(Tattach, 1, 0), P9_2000);
	t = tmsg(Tversion, P9_NOTAG, 0);
	t->msize = 8192;
	t->version = p9str("9P2000");
	csend(a, t, P9_2000);
	cltake(a, P9_2000);
	ok(iserr(&cl, 1, "9mux: nothing is served here"), "its upstream freed: a session's Tversion gets an error");
	nmsessclose(a);
	nmfree(m);
	(void)n;
}

int
main(void)
{
	Nmsess *a, *b, *b2, *c2;
	Fcall r, *t;
	uint16_t wtag, ftag;
	uint32_t u0, u1, u2;
	long k;
	int i, got0, got1;

	tap_start(30);

	/* translation */
	setup(P9_2000, 100, 16);
	a = client("9P2000", 4096);
	ok(cl.n == 1 && cl.f[0].type == Rversion && cl.f[0].msize == 4096 && p9streq(cl.f[0].version, "9P2000"),
		"Tversion answered locally");
	uptake();
	ok(up.n == 0, "nothing went upstream for it");
	b = client("9P2000", 65536);
	ok(cl.f[0].msize == 8192, "msize is min(client, upstream)");
	csend(a, tmsg(Tattach, 5, 0), P9_2000);
	csend(b, tmsg(Tattach, 5, 0), P9_2000);
	uptake();
	ok(up.n == 2 && up.f[0].tag != up.f[1].tag && up.f[0].tag != P9_NOTAG && up.f[1].tag != P9_NOTAG,
		"same client tag, two distinct upstream tags");
	ok(up.f[0].fid != up.f[1].fid && up.f[0].fid != P9_NOFID, "same client fid, two distinct upstream fids");
	u0 = up.f[0].fid;
	rmsg(&r, Rattach, up.f[1].tag);
	ureply(&r);
	cltake(b, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rattach && cl.f[0].tag == 5, "reply goes to its client with its tag");
	rmsg(&r, Rattach, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 1 && cl.f[0].tag == 5, "and the other's to the other");

	/* duplicate tag */
	t = tmsg(Twalk, 7, 0);
	t->newfid = 1;
	t->nwname = 0;
	csend(a, t, P9_2000);
	uptake();
	wtag = up.f[0].tag;
	csend(a, tmsg(Tstat, 7, 0), P9_2000);
	cltake(a, P9_2000);
	uptake();
	ok(iserr(&cl, 0, "tag already in use") && cl.f[0].tag == 7 && up.n == 0,
		"a tag in flight reused: error at once, nothing upstream");
	rmsg(&r, Rwalk, wtag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rwalk && cl.f[0].tag == 7, "the original is undisturbed");

	/* flush: not in flight */
	t = tmsg(Tflush, 8, 0);
	t->oldtag = 99;
	csend(a, t, P9_2000);
	cltake(a, P9_2000);
	uptake();
	ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 8 && up.n == 0, "Tflush of nothing: Rflush at once");

	/* flush: still inside 9mux */
	t = tmsg(Twalk, 9, 0);
	t->newfid = 2;
	csend(a, t, P9_2000);
	t = tmsg(Tflush, 10, 0);
	t->oldtag = 9;
	csend(a, t, P9_2000);
	cltake(a, P9_2000);
	uptake();
	ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 10 && up.n == 0,
		"Tflush of a queued request: dropped, Rflush, nothing upstream");
	csend(a, tmsg(Tstat, 11, 2), P9_2000);
	cltake(a, P9_2000);
	ok(iserr(&cl, 0, "unknown fid"), "its newfid was never made");

	/* flush: sent, Rflush without the reply */
	t = tmsg(Twalk, 12, 0);
	t->newfid = 2;
	csend(a, t, P9_2000);
	uptake();
	wtag = up.f[0].tag;
	u2 = up.f[0].newfid;
	t = tmsg(Tflush, 13, 0);
	t->oldtag = 12;
	csend(a, t, P9_2000);
	uptake();
	ok(up.n == 1 && up.f[0].type == Tflush && up.f[0].oldtag == wtag && up.f[0].tag != wtag,
		"Tflush of a sent request goes upstream with the translated oldtag");
	ftag = up.f[0].tag;
	rmsg(&r, Rflush, ftag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 13, "client gets Rflush");
	csend(a, tmsg(Tstat, 14, 2), P9_2000);
	cltake(a, P9_2000);
	uptake();
	ok(iserr(&cl, 0, "unknown fid") && up.n == 0, "a flushed Twalk created no newfid");

	/* flush: the reply comes first */
	t = tmsg(Twalk, 15, 0);
	t->newfid = 3;
	csend(a, t, P9_2000);
	uptake();
	wtag = up.f[0].tag;
	t = tmsg(Tflush, 16, 0);
	t->oldtag = 15;
	csend(a, t, P9_2000);
	uptake();
	ftag = up.f[0].tag;
	rmsg(&r, Rwalk, wtag);
	ureply(&r);
	rmsg(&r, Rerror, ftag);
	r.ename = p9str("flush failed");
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 2 && cl.f[0].type == Rwalk && cl.f[0].tag == 15 && cl.f[1].type == Rflush && cl.f[1].tag == 16,
		"original reply, then Rflush (an upstream Rerror to Tflush taken as Rflush)");
	csend(a, tmsg(Tstat, 17, 3), P9_2000);
	uptake();
	ok(up.n == 1 && up.f[0].type == Tstat, "a Twalk answered before its Rflush did create its newfid");
	rmsg(&r, Rerror, up.f[0].tag);
	r.ename = p9str("x");
	ureply(&r);
	cltake(a, P9_2000);

	/* flush: the reply comes while the Tflush is still queued, unwritten */
	t = tmsg(Twalk, 18, 0);
	t->newfid = 4;
	csend(a, t, P9_2000);
	uptake();
	wtag = up.f[0].tag;
	k = (long)nmstats(m)->upsent;
	i = tupflushes;
	t = tmsg(Tflush, 19, 0);
	t->oldtag = 18;
	csend(a, t, P9_2000);
	rmsg(&r, Rwalk, wtag);
	ureply(&r);
	cltake(a, P9_2000);
	uptake();
	ok(cl.n == 2 && cl.f[0].type == Rwalk && cl.f[0].tag == 18 && cl.f[1].type == Rflush && cl.f[1].tag == 19 &&
		up.n == 0, "a Tflush withdrawn before it was written: reply, Rflush, nothing upstream");
	ok((long)nmstats(m)->upsent == k && tupflushes == i,
		"and it is neither traced as sent nor counted (%ld frames, %d traced)", (long)nmstats(m)->upsent - k,
		tupflushes - i);
	csend(a, tmsg(Tclunk, 20, 4), P9_2000);
	uptake();
	rmsg(&r, Rclunk, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);

	/* flush of a flush */
	csend(a, tmsg(Tread, 20, 3), P9_2000);
	uptake();
	wtag = up.f[0].tag;
	t = tmsg(Tflush, 21, 0);
	t->oldtag = 20;
	csend(a, t, P9_2000);
	uptake();
	ftag = up.f[0].tag;
	t = tmsg(Tflush, 22, 0);
	t->oldtag = 21;
	csend(a, t, P9_2000);
	uptake();
	ok(up.n == 1 && up.f[0].type == Tflush && up.f[0].oldtag == ftag, "a flush of a flush names the first flush's upstream tag");
	rmsg(&r, Rflush, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 22, "Rflush for the second flush");
	rmsg(&r, Rread, wtag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rread && cl.f[0].tag == 20, "the read is still answered");

	/* flush of a flush, answered alone: the original is flushed again, then gets an error */
	csend(a, tmsg(Tread, 23, 3), P9_2000);
	uptake();
	wtag = up.f[0].tag;
	t = tmsg(Tflush, 24, 0);
	t->oldtag = 23;
	csend(a, t, P9_2000);
	uptake();
	ftag = up.f[0].tag;
	t = tmsg(Tflush, 25, 0);
	t->oldtag = 24;
	csend(a, t, P9_2000);
	uptake();
	rmsg(&r, Rflush, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);
	uptake();
	ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 25 && up.n == 1 && up.f[0].type == Tflush
		&& up.f[0].oldtag == wtag, "only the flush of the flush answered: the read is flushed again upstream");
	rmsg(&r, Rflush, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(iserr(&cl, 0, "interrupted") && cl.f[0].tag == 23, "and its client gets an error for it, not silence");
	(void)ftag;

	/* a flush of a flush of a flush, only the last answered: the client's flush is never answered Rerror */
	csend(a, tmsg(Tread, 40, 3), P9_2000);
	uptake();
	for(i = 41; i <= 43; i++){
		t = tmsg(Tflush, (uint16_t)i, 0);
		t->oldtag = (uint16_t)(i - 1);
		csend(a, t, P9_2000);
		uptake();
		ftag = up.f[0].tag;
	}
	rmsg(&r, Rflush, ftag);
	ureply(&r);
	cltake(a, P9_2000);
	uptake();
	ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 43 && up.n == 1 && up.f[0].type == Tflush,
		"3 flushes in a chain, the last answered alone: its Rflush, and 9mux flushes the first flush again");
	rmsg(&r, Rflush, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);
	uptake();
	ok(cl.n == 0 && up.n == 1 && up.f[0].type == Tflush,
		"that answered: the client's flush waits for its read, which 9mux flushes in turn");
	rmsg(&r, Rflush, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 41,
		"the read never happened: the client gets Rflush for its flush, no Rerror for either");

	/* several flushes of one request, the server answering only the last (flush(5)) */
	csend(a, tmsg(Tread, 50, 3), P9_2000);
	uptake();
	k = 0;
	for(i = 51; i <= 53; i++){
		t = tmsg(Tflush, (uint16_t)i, 0);
		t->oldtag = 50;
		csend(a, t, P9_2000);
		uptake();
		k += up.n == 1 && up.f[0].type == Tflush;
		ftag = up.f[0].tag;
	}
	ok(k == 3, "three flushes of one read go upstream");
	rmsg(&r, Rflush, ftag);
	ureply(&r);
	cltake(a, P9_2000);
	uptake();
	ok(cl.n == 3 && cl.f[0].tag == 51 && cl.f[1].tag == 52 && cl.f[2].tag == 53 && cl.f[0].type == Rflush &&
		cl.f[1].type == Rflush && cl.f[2].type == Rflush && up.n == 0,
		"only the last answered: it answers the earlier ones, in order, and nothing more goes up");
	csend(a, tmsg(Tread, 51, 3), P9_2000);
	uptake();
	ok(up.n == 1 && up.f[0].type == Tread, "their tags are free again");
	rmsg(&r, Rread, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);

	/* a hang-up while 9mux's own flush of a dropped flush is still queued: it still goes, and the fids are clunked */
	b2 = client("9P2000", 8192);
	attach(b2, 0, P9_2000);
	csend(b2, tmsg(Tread, 60, 0), P9_2000);
	uptake();
	for(i = 61; i <= 63; i++){
		t = tmsg(Tflush, (uint16_t)i, 0);
		t->oldtag = (uint16_t)(i - 1);
		csend(b2, t, P9_2000);
		uptake();
		ftag = up.f[0].tag;
	}
	/* only the last answered: 9mux queues a flush of flush 61, and the client goes before it is written */
	rmsg(&r, Rflush, ftag);
	ureply(&r);
	nmsessclose(b2);
	uptake();
	k = 0;
	for(i = 0; i < 10 && up.n > 0; i++){
		for(got0 = 0; got0 < up.n; got0++){
			if(up.f[got0].type == Tclunk)
				k++;
			rmsg(&r, up.f[got0].type == Tflush ? Rflush : up.f[got0].type == Tclunk ? Rclunk : Rread,
				up.f[got0].tag);
			ureply(&r);
		}
		uptake();
	}
	ok(k == 1, "a client that hung up with its flushes dropped upstream: its fid is clunked all the same");

	/* clunk: the client's number is free at once, the upstream fid is not */
	csend(a, tmsg(Tclunk, 30, 3), P9_2000);
	uptake();
	u1 = up.f[0].fid;
	wtag = up.f[0].tag;
	t = tmsg(Twalk, 31, 0);
	t->newfid = 3;
	csend(a, t, P9_2000);
	uptake();
	ok(up.n == 1 && up.f[0].type == Twalk && up.f[0].newfid != u1,
		"fid number reused before Rclunk: accepted, with another upstream fid");
	rmsg(&r, Rwalk, up.f[0].tag);
	ureply(&r);
	rmsg(&r, Rclunk, wtag);
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 2, "both answered");

	/* fid errors */
	t = tmsg(Twalk, 32, 0);
	t->newfid = 3;
	csend(a, t, P9_2000);
	cltake(a, P9_2000);
	uptake();
	ok(iserr(&cl, 0, "fid already in use") && up.n == 0, "creating a held fid: error, nothing upstream");
	csend(a, tmsg(Topen, 33, 77), P9_2000);
	cltake(a, P9_2000);
	uptake();
	ok(iserr(&cl, 0, "unknown fid") && up.n == 0, "naming an unknown fid: error, nothing upstream");

	/* iounit and read clamping */
	csend(a, tmsg(Topen, 34, 3), P9_2000);
	uptake();
	rmsg(&r, Ropen, up.f[0].tag);
	r.iounit = 0;
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.f[0].iounit == 4096 - 24, "iounit 0 becomes client msize-24");
	t = tmsg(Tread, 35, 3);
	t->count = 100000;
	csend(a, t, P9_2000);
	uptake();
	ok(up.f[0].count == 4096 - 11, "Tread count clamped to client msize-11");
	rmsg(&r, Rread, up.f[0].tag);
	ureply(&r);
	cltake(a, P9_2000);

	/* unknown reply tags are ignored */
	rmsg(&r, Rclunk, 4000);
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 0 && nmstats(m)->stray == 1, "a reply to no request is dropped");

	/* hang-up: flush what is in flight, then clunk every fid, including one made late */
	csend(b, tmsg(Tread, 40, 0), P9_2000);
	t = tmsg(Twalk, 41, 0);
	t->newfid = 9;
	csend(b, t, P9_2000);
	uptake();
	wtag = up.f[1].tag;
	u2 = up.f[1].newfid;
	nmsessclose(b);
	uptake();
	ok(up.n == 2 && up.f[0].type == Tflush && up.f[1].type == Tflush, "hang-up: each request in flight flushed");
	ok(nminflight(m) == 0, "nobody waits for them any more");
	rmsg(&r, Rwalk, wtag);
	ureply(&r);		/* the walk succeeds before its flush */
	for(i = 0; i < 2; i++){
		rmsg(&r, Rflush, up.f[i].tag);
		ureply(&r);
	}
	rmsg(&r, Rread, up.f[0].oldtag);
	ureply(&r);		/* too late: ignored */
	uptake();
	got0 = got1 = 0;
	for(i = 0; i < up.n; i++){
		if(up.f[i].type == Tclunk && up.f[i].fid == u2)
			got1++;
		if(up.f[i].type == Tclunk)
			got0++;
	}
	ok(got0 == 2 && got1 == 1, "then both fids clunked, the late-made one too (%d clunks)", got0);
	for(i = 0; i < up.n; i++){
		rmsg(&r, Rclunk, up.f[i].tag);
		ureply(&r);
	}

	/* version reset */
	csend(a, tmsg(Tread, 50, 3), P9_2000);
	uptake();
	wtag = up.f[0].tag;
	t = tmsg(Tversion, P9_NOTAG, 0);
	t->msize = 2048;
	t->version = p9str("9P2000");
	csend(a, t, P9_2000);
	cltake(a, P9_2000);
	uptake();
	ok(cl.n == 0 && up.n == 1 && up.f[0].type == Tflush && up.f[0].oldtag == wtag, "Tversion mid-session: flush first");
	rmsg(&r, Rflush, up.f[0].tag);
	ureply(&r);
	uptake();
	cltake(a, P9_2000);
	got0 = 0;
	for(i = 0; i < up.n; i++)
		got0 += up.f[i].type == Tclunk;
	ok(got0 == 3 && cl.n == 1 && cl.f[0].type == Rversion && cl.f[0].msize == 2048,
		"then its %d fids clunked, then Rversion", got0);
	for(i = 0; i < up.n; i++){
		rmsg(&r, Rclunk, up.f[i].tag);
		ureply(&r);
	}

	/* limits */
	nmsessclose(a);
	nmfree(m);
	setup(P9_2000, 2, 2);
	a = client("9P2000", 8192);
	attach(a, 0, P9_2000);
	attach(a, 1, P9_2000);
	csend(a, tmsg(Tattach, 3, 2), P9_2000);
	cltake(a, P9_2000);
	ok(iserr(&cl, 0, "too many fids"), "-f: fid limit per client");
	csend(a, tmsg(Tstat, 1, 0), P9_2000);
	csend(a, tmsg(Tstat, 2, 0), P9_2000);
	k = csend(a, tmsg(Tstat, 3, 0), P9_2000);
	uptake();
	ok(k > 0 && up.n == 2, "-t 2: a third request is taken but held inside 9mux");
	t = tmsg(Tflush, 4, 0);
	t->oldtag = 3;
	csend(a, t, P9_2000);
	cltake(a, P9_2000);
	uptake();
	ok(cl.n == 1 && cl.f[0].type == Rflush && up.n == 0, "a Tflush of a held request: Rflush at once, nothing upstream");
	csend(a, tmsg(Tstat, 5, 0), P9_2000);
	csend(a, tmsg(Tstat, 6, 0), P9_2000);
	k = csend(a, tmsg(Tstat, 7, 0), P9_2000);
	ok(k == 0 && nmsessinflight(a) == 4, "with as many held, the next waits in the client's buffer");
	rmsg(&r, Rerror, up.f[0].tag);
	r.ename = p9str("x");
	ureply(&r);
	uptake();
	ok(up.n == 1 && up.f[0].type == Tstat, "a reply lets the oldest held request go upstream");
	k = csend(a, tmsg(Tstat, 7, 0), P9_2000);
	ok(k > 0, "and the client's next request is taken");
	cltake(a, P9_2000);
	rmsg(&r, Rerror, up.f[0].tag);
	r.ename = p9str("x");
	ureply(&r);
	cltake(a, P9_2000);
	ok(cl.n == 1 && cl.f[0].tag == 5, "held requests answered in turn");

	/* upstream loss */
	nmchandown(ch);
	ch = NULL;
	cltake(a, P9_2000);
	ok(cl.n == 3 && iserr(&cl, 0, "upstream connection lost") && iserr(&cl, 1, "upstream connection lost")
		&& iserr(&cl, 2, "upstream connection lost"),
		"upstream lost: each request in flight or held answered with an error");
	csend(a, tmsg(Tstat, 4, 0), P9_2000);
	cltake(a, P9_2000);
	ok(iserr(&cl, 0, "upstream connection lost"), "later requests of the old session too");
	b = client("9P2000", 4096);
	ok(cl.n == 1 && cl.f[0].type == Rversion && cl.f[0].msize == 4096 && p9streq(cl.f[0].version, "9P2000"),
		"a new session while it is down: Tversion answered from the configuration");
	csend(b, tmsg(Tattach, 1, 0), P9_2000);
	cltake(b, P9_2000);
	ok(iserr(&cl, 0, "upstream not reachable yet"), "its attach: upstream not reachable yet");
	nmupwhy(nmdefup(m), "no link is up");
	csend(b, tmsg(Tattach, 1, 0), P9_2000);
	cltake(b, P9_2000);
	ok(iserr(&cl, 0, "no link is up"), "in the words nmupwhy gives");
	t = tmsg(Tflush, 2, 0);
	t->oldtag = 1;
	csend(b, t, P9_2000);
	cltake(b, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rflush, "its flush: Rflush at once");
	c2 = client("9P2000", 65536);
	ok(cl.f[0].msize == 8192, "another asks msize 65536: gets 8192, the configuration's");
	notes = 0;
	ch = nmchannew(m, NULL);
	take(nmchanq(ch), &up, P9_2000);
	rmsg(&r, Rversion, P9_NOTAG);
	r.msize = 6000;
	r.version = p9str("9P2000");
	ureply(&r);
	u0 = attach(b, 0, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rattach, "back up, msize 6000: the waiting session attaches, no new Tversion");
	csend(c2, tmsg(Tattach, 1, 0), P9_2000);
	cltake(c2, P9_2000);
	uptake();
	ok(iserr(&cl, 0, "9mux: session reset: the upstream's msize or dialect changed; send Tversion again") && up.n == 0,
		"the one with msize 8192 is reset: an error, nothing upstream");
	ok(notes == 1 && strstr(lastnote, "msize 8192") && strstr(lastnote, "msize 6000"), "and told: %s", lastnote);
	nmsessclose(c2);
	c2 = client("9P2000", 8192);
	ok(cl.f[0].type == Rversion && cl.f[0].msize == 6000, "after Tversion it is served, msize 6000");
	nmsessclose(c2);
	b2 = client("9P2000", 8192);
	ok(cl.f[0].type == Rversion, "back up: new sessions served");
	attach(b2, 0, P9_2000);
	ok(cl.f[0].type == Rattach, "and attach works");
	nmsessclose(a);
	nmsessclose(b);
	nmsessclose(b2);
	nmfree(m);

	/* many fids: the table grows; a long walk path is kept */
	setup(P9_2000, 1000, 64);
	a = client("9P2000", 8192);
	attach(a, 0, P9_2000);
	got0 = 0;
	for(i = 1; i <= 600; i++){
		t = tmsg(Twalk, 2, 0);
		t->newfid = (uint32_t)i * 7919u;
		t->nwname = 16;
		for(k = 0; k < 16; k++)
			t->wname[k] = p9str("a-rather-long-directory-name");
		csend(a, t, P9_2000);
		uptake();
		if(up.n != 1 || up.f[0].type != Twalk)
			break;
		rmsg(&r, Rwalk, up.f[0].tag);
		r.nwqid = 16;
		ureply(&r);
		cltake(a, P9_2000);
		got0 += cl.n == 1 && cl.f[0].type == Rwalk;
	}
	ok(got0 == 600, "600 fids made");
	got1 = 0;
	for(i = 1; i <= 600; i++){
		csend(a, tmsg(Tstat, 3, (uint32_t)i * 7919u), P9_2000);
		uptake();
		if(up.n == 1 && up.f[0].type == Tstat){
			got1++;
			rmsg(&r, Rerror, up.f[0].tag);
			r.ename = p9str("x");
			ureply(&r);
		}
		cltake(a, P9_2000);
	}
	ok(got1 == 600, "and each one found again");
	nmsessclose(a);
	uptake();
	got0 = 0;
	for(i = 0; i < up.n; i++)
		got0 += up.f[i].type == Tclunk;
	ok(got0 == MAXF && got0 + up.dropped == 601, "hang-up clunks all 601 fids");
	nmfree(m);

	/* dialect errors and pinning */
	setup(P9_2000L, 10, 10);
	a = client("9P2000.L", 8192);
	ok(p9streq(cl.f[0].version, "9P2000.L"), ".L client of a .L upstream gets 9P2000.L");
	b = client("9P2000", 8192);
	ok(p9streq(cl.f[0].version, "unknown"), "a 9P2000 client of a .L upstream gets unknown");
	nmsessclose(b);
	csend(a, tmsg(Tgetattr, 1, 5), P9_2000L);
	cltake(a, P9_2000L);
	ok(cl.n == 1 && cl.f[0].type == Rlerror && cl.f[0].errnum == 9, ".L session: Rlerror EBADF for an unknown fid");
	csend(a, tmsg(Topen, 2, 5), P9_2000);	/* the bytes are the same; the codec won't say it in .L */
	cltake(a, P9_2000L);
	ok(cl.n == 1 && cl.f[0].type == Rlerror && cl.f[0].errnum == 95, "a 9P2000-only message in .L: Rlerror EOPNOTSUPP");
	nmsesspin(a, "alice", 1234);
	csend(a, tmsg(Tattach, 3, 0), P9_2000L);
	uptake();
	ok(up.n == 1 && p9streq(up.f[0].uname, "alice") && up.f[0].nuname == 1234, "pinned uname and n_uname");
	nmsessclose(a);
	nmfree(m);

	/*
	 * An upstream that does not keep up (its queue full: upqbytes 1
	 * holds one frame): sessions take turns by bytes, so the other
	 * client's Tstat goes after one more of the first client's large
	 * Treads, not after all of them.
	 */
	upq = 1;
	setup(P9_2000, 10, 64);
	upq = 0;
	a = client("9P2000", 8192);
	b = client("9P2000", 8192);
	attach(a, 0, P9_2000);
	attach(b, 0, P9_2000);
	for(i = 0; i < 8; i++){
		t = tmsg(Tread, (uint16_t)(100 + i), 0);
		t->count = 8000;
		csend(a, t, P9_2000);
	}
	csend(b, tmsg(Tstat, 1, 0), P9_2000);
	t = tmsg(Tflush, 99, 0);
	t->oldtag = 107;
	csend(a, t, P9_2000);
	cltake(a, P9_2000);
	ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 99,
		"a Tflush of a request waiting its turn: Rflush at once");
	got0 = got1 = 0;
	k = -1;
	for(i = 0; i < 16; i++){
		switch(upone(&wtag)){
		case Tread:
			got0++;
			break;
		case Tstat:
			k = got0;
			got1++;
			break;
		case 0:
			i = 16;
			break;
		default:
			got1 += 100;
		}
	}
	ok(k == 2, "the other session's Tstat went upstream after 2 of the 8 Treads (after %ld)", k);
	ok(got0 == 7 && got1 == 1, "then the rest, without the flushed one (%d Treads)", got0);
	nmsessclose(a);
	nmsessclose(b);
	nmfree(m);

	/*
	 * A session waiting with a request it cannot take (-t 1: one
	 * upstream, one held) still handles the Tflushes behind it.
	 */
	setup(P9_2000, 10, 1);
	a = client("9P2000", 8192);
	attach(a, 0, P9_2000);
	{
		uint8_t fb[256];
		size_t fl, rest;

		fl = 0;
		for(i = 1; i <= 3; i++)
			fl += p9encode(fb + fl, sizeof fb - fl, tmsg(Tstat, (uint16_t)i, 0), P9_2000);
		for(i = 3; i >= 1; i--){
			t = tmsg(Tflush, (uint16_t)(7 - i), 0);	/* tags 4, 5, 6 flush 3, 2, 1 */
			t->oldtag = (uint16_t)i;
			fl += p9encode(fb + fl, sizeof fb - fl, t, P9_2000);
		}
		k = nmsessin(a, fb, fl, NULL, 0);
		uptake();
		ok(k == 22 && up.n == 1 && up.f[0].type == Tstat,
			"-t 1: the first Tstat goes up, the second is held, the third waits (%ld bytes taken)", k);
		wtag = up.f[0].tag;
		rest = fl - (size_t)k;
		memmove(fb, fb + k, rest);
		rest = nmsessflushes(a, fb, rest);
		ok(rest == 0, "every frame behind it handled (%zu bytes left)", rest);
		cltake(a, P9_2000);
		ok(cl.n == 2 && cl.f[0].type == Rflush && cl.f[0].tag == 4 && cl.f[1].type == Rflush && cl.f[1].tag == 5,
			"the waiting Tstat and the held one: Rflush at once, in order");
		uptake();
		ok(up.n == 1 && up.f[0].type == Tflush && up.f[0].oldtag == wtag,
			"the one upstream: Tflush with its upstream tag, and nothing else went up");
		rmsg(&r, Rflush, up.f[0].tag);
		ureply(&r);
		cltake(a, P9_2000);
		ok(cl.n == 1 && cl.f[0].type == Rflush && cl.f[0].tag == 6, "its Rflush");
	}
	nmsessclose(a);
	nmfree(m);

	setup(P9_2000U, 10, 10);
	a = client("9P2000.u", 8192);
	csend(a, tmsg(Tstat, 1, 5), P9_2000U);
	cltake(a, P9_2000U);
	ok(cl.n == 1 && cl.f[0].type == Rerror && cl.f[0].errnum == 9 && p9streq(cl.f[0].ename, "unknown fid"),
		".u session: Rerror with errno");
	nmsessclose(a);
	nmfree(m);

	upkeep();
	tagtables();
	(void)u0;
	return done_testing();
}
