/*
 * t_ninemux_stats: the engine's counters for 9mux's control tree, in
 * process, the test playing client and server: every T-message taken
 * and its bytes, replies and errors counted when written, refusals
 * for the fid limit, a session's own share, what a channel holds
 * (tags, fids, waiting, queued), the unames of a session's attaches,
 * and the trace callback switched at run time.
 */
#include <stdint.h>

#include "9p.h"
#include "ninemux.h"
#include "tap.h"

static Nmux *m;
static Nmchan *ch;
static int ntraced;

static void
wake(void *aux, int what)
{
	(void)aux;
	(void)what;
}

static void
trace(void *arg, unsigned id, int where, const uint8_t *f, size_t n, int dialect)
{
	(void)arg;
	(void)id;
	(void)where;
	(void)f;
	(void)n;
	(void)dialect;
	ntraced++;
}

/* Write all of q: the frames' count; their types in types (up to 16), their tags in tags. */
static int
drain(Nmq *q, uint8_t *types, uint16_t *tags)
{
	struct iovec iov[16];
	size_t n;
	int k, i, total;

	total = 0;
	while(!nmqempty(q)){
		k = nmqiov(q, iov, 16);
		n = 0;
		for(i = 0; i < k; i++){
			if(total < 16){
				types[total] = ((uint8_t*)iov[i].iov_base)[4];
				tags[total] = p9get16((uint8_t*)iov[i].iov_base + 5);
			}
			total++;
			n += iov[i].iov_len;
		}
		nmqadvance(q, n);
	}
	return total;
}

/* Feed a T-message to s: its size. */
static size_t
csend(Nmsess *s, Fcall *f)
{
	uint8_t b[512];
	size_t n;

	n = p9encode(b, sizeof b, f, P9_2000);
	if(nmsessin(s, b, n, NULL, 0) != (long)n)
		diag("nmsessin did not take a frame of %zu bytes", n);
	return n;
}

static void
ureply(Fcall *f)
{
	uint8_t b[512];
	size_t n;

	n = p9encode(b, sizeof b, f, P9_2000);
	if(nmchanin(ch, b, n, NULL, 0) != (long)n)
		diag("nmchanin did not take a reply");
}

/* The bytes of an encoded reply, to add up what a client is written. */
static size_t
rsize(Fcall *f)
{
	return p9size(f, P9_2000);
}

static void
setup(void)
{
	Nmconf conf;
	uint8_t ty[16];
	uint16_t tg[16];
	Fcall f;

	memset(&conf, 0, sizeof conf);
	conf.msize = 8192;
	conf.dialect = P9_2000;
	conf.maxfids = 2;
	conf.maxreqs = 8;
	conf.maxtags = 1;
	conf.wake = wake;
	m = nmnew(&conf);
	ch = nmchannew(m, NULL);
	drain(nmchanq(ch), ty, tg);
	memset(&f, 0, sizeof f);
	f.type = Rversion;
	f.tag = P9_NOTAG;
	f.msize = 8192;
	f.version = p9str("9P2000");
	ureply(&f);
}

int
main(void)
{
	const Nmstats *st;
	const Nmsessstats *ss;
	const char *names[4];
	Nmchaninfo ci;
	Nmsess *s, *s2;
	uint8_t ty[16];
	uint16_t tg[16], t1, t2;
	size_t in, out;
	Fcall f, r;
	int n;

	tap_start(30);
	setup();
	st = nmstats(m);
	s = nmsessnew(m, NULL);
	ss = nmsessstats(s);

	memset(&f, 0, sizeof f);
	f.type = Tversion;
	f.tag = P9_NOTAG;
	f.msize = 8192;
	f.version = p9str("9P2000");
	in = csend(s, &f);
	is_int(st->tmsgs, 1, "a Tversion is a T-message taken, though 9mux answers it");
	is_int(st->bytesin, in, "its bytes are counted");
	is_int(st->rmsgs, 0, "its Rversion is not counted while queued");
	n = drain(nmsessq(s), ty, tg);
	memset(&r, 0, sizeof r);
	r.type = Rversion;
	r.tag = P9_NOTAG;
	r.msize = 8192;
	r.version = p9str("9P2000");
	out = rsize(&r);
	ok(n == 1 && st->rmsgs == 1 && st->bytesout == out, "once written it is: 1 reply, %zu bytes", out);

	/* an attach: one tag and one fid upstream until it is answered */
	memset(&f, 0, sizeof f);
	f.type = Tattach;
	f.tag = 1;
	f.fid = 0;
	f.afid = P9_NOFID;
	f.uname = p9str("alice");
	f.aname = p9str("");
	in += csend(s, &f);
	nmchaninfo(ch, &ci);
	ok(ci.tags == 1 && ci.fids == 1 && ci.waiting == 0 && ci.queued > 0,
		"an attach sent: tags %d, fids %u, waiting %d, %zu bytes queued", ci.tags, ci.fids, ci.waiting, ci.queued);
	drain(nmchanq(ch), ty, tg);
	nmchaninfo(ch, &ci);
	is_int(ci.queued, 0, "written upstream: nothing queued");
	memset(&r, 0, sizeof r);
	r.type = Rattach;
	r.tag = tg[0];
	ureply(&r);
	nmchaninfo(ch, &ci);
	ok(ci.tags == 0 && ci.fids == 1, "answered: no tag in use, the fid lives (%d, %u)", ci.tags, ci.fids);
	drain(nmsessq(s), ty, tg);
	r.tag = 1;
	out += rsize(&r);
	n = nmsessunames(s, names, 4);
	ok(n == 1 && strcmp(names[0], "alice") == 0, "the session's unames: alice");

	/* -T 1: a second request waits for the tag the first holds */
	memset(&f, 0, sizeof f);
	f.type = Tstat;
	f.tag = 2;
	f.fid = 0;
	in += csend(s, &f);
	f.tag = 3;
	in += csend(s, &f);
	nmchaninfo(ch, &ci);
	ok(ci.tags == 1 && ci.waiting == 1, "two Tstats, one tag: 1 in use, 1 waiting (%d, %d)", ci.tags, ci.waiting);
	is_int(nmsessinflight(s), 2, "both are in flight for the client");
	drain(nmchanq(ch), ty, tg);
	t1 = tg[0];
	memset(&r, 0, sizeof r);
	r.type = Rerror;
	r.tag = t1;
	r.ename = p9str("no stat today");
	ureply(&r);
	drain(nmchanq(ch), ty, tg);
	t2 = tg[0];
	r.tag = 2;
	out += rsize(&r);
	r.tag = t2;
	ureply(&r);
	r.tag = 3;
	out += rsize(&r);
	drain(nmsessq(s), ty, tg);
	is_int(st->rerrors, 2, "the server's two Rerrors are errors written to the client");

	/* the fid limit (2): a walk to a second fid goes, a third is refused */
	memset(&f, 0, sizeof f);
	f.type = Twalk;
	f.tag = 4;
	f.fid = 0;
	f.newfid = 1;
	f.nwname = 0;
	in += csend(s, &f);
	drain(nmchanq(ch), ty, tg);
	memset(&r, 0, sizeof r);
	r.type = Rwalk;
	r.tag = tg[0];
	ureply(&r);
	r.tag = 4;
	out += rsize(&r);
	f.tag = 5;
	f.newfid = 2;
	in += csend(s, &f);
	is_int(st->toomanyfids, 1, "a third fid past -f 2 is refused, and counted");
	is_int(nmsessfids(s), 2, "the session holds 2 fids");
	memset(&r, 0, sizeof r);
	r.type = Rerror;
	r.tag = 5;
	r.ename = p9str("too many fids");
	out += rsize(&r);
	drain(nmsessq(s), ty, tg);
	is_int(st->rerrors, 3, "and its error is counted with the others");
	ok(st->localerr >= 1, "as one 9mux answered itself (%llu)", (unsigned long long)st->localerr);

	is_int(st->tmsgs, 6, "6 T-messages in all");
	is_int(st->bytesin, in, "their bytes, exactly");
	is_int(st->rmsgs, 6, "6 replies written");
	is_int(st->bytesout, out, "their bytes, exactly");
	ok(ss->tmsgs == st->tmsgs && ss->bytesin == st->bytesin && ss->rmsgs == st->rmsgs
		&& ss->rerrors == st->rerrors && ss->bytesout == st->bytesout,
		"the only session's counters are the totals");

	/* a second session: its share, and the totals go on */
	s2 = nmsessnew(m, NULL);
	memset(&f, 0, sizeof f);
	f.type = Tversion;
	f.tag = P9_NOTAG;
	f.msize = 8192;
	f.version = p9str("9P2000");
	csend(s2, &f);
	drain(nmsessq(s2), ty, tg);
	ok(nmsessstats(s2)->tmsgs == 1 && nmsessstats(s2)->rmsgs == 1 && st->tmsgs == 7 && st->rmsgs == 7,
		"a second session counts its own, and the totals");

	/* the trace callback, off by default, on and off at run time */
	ntraced = 0;
	nmtrace(m, trace, NULL);
	f.tag = 6;
	f.type = Tversion;
	csend(s2, &f);
	drain(nmsessq(s2), ty, tg);
	ok(ntraced == 2, "nmtrace on: the Tversion and its Rversion are traced (%d)", ntraced);
	nmtrace(m, NULL, NULL);
	csend(s2, &f);
	drain(nmsessq(s2), ty, tg);
	ok(ntraced == 2, "nmtrace off: nothing more");

	/* a clunk: the upstream fid is in use until its Rclunk */
	memset(&f, 0, sizeof f);
	f.type = Tclunk;
	f.tag = 7;
	f.fid = 1;
	csend(s, &f);
	drain(nmchanq(ch), ty, tg);
	nmchaninfo(ch, &ci);
	is_int(ci.fids, 2, "a clunk sent: its fid is in use upstream until answered");
	memset(&r, 0, sizeof r);
	r.type = Rclunk;
	r.tag = tg[0];
	ureply(&r);
	nmchaninfo(ch, &ci);
	is_int(ci.fids, 1, "answered: one fid left upstream");

	nmsessclose(s);
	nmsessclose(s2);
	nmfree(m);
	return done_testing();
}
