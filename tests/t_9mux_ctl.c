/*
 * t_9mux_ctl: 9mux's control tree (-x) against a known workload.  N
 * clients each sending M Tstat move the counters of stats exactly, and
 * clients/N/ says who each is and what it holds; metrics says the same
 * in the Prometheus format; every limit that refuses is counted; ctl
 * kills exactly one client, whose request in flight is flushed and
 * whose fids are clunked on the server (9testsrv counts them), and
 * switches the log level and redials at run time.
 */
#include "tap.h"
#include "p9conv.h"
#include "ctlconv.h"

enum {
	N = 5,		/* clients */
	M = 20,		/* Tstat each */
	MAXFIDS = 4,	/* -f */
	MAXCLI = N + 2,	/* -c */
};

static const char *dir;
static char *srvsock, *muxsock, *ctlsock, *srvlog, *muxlog;
static pid_t srv = -1, mux = -1, peer = -1;

typedef struct Cl Cl;
struct Cl {
	Pconn	*c;
	size_t	in;	/* bytes sent */
	size_t	out;	/* bytes received */
	char	id[16];	/* its name in clients/ */
};

static Cl cl[N];

/* Send t on k and take its reply, counting both ways: the reply's type. */
static int
rpc(Cl *k, Fcall *t)
{
	long n;

	k->in += p9size(t, P9_2000);
	if(pc_send(k->c->fd, t, P9_2000) < 0)
		return -1;
	n = pc_next(k->c, 5000);
	if(n > 0)
		k->out += (size_t)n;
	return n < 0 ? (int)n : k->c->r.type;
}

static int
session(Cl *k, const char *uname)
{
	Fcall t;

	if((k->c = pc_open(muxsock, P9_2000)) == NULL)
		return -1;
	pc_mkversion(&t, 8192, "9P2000");
	if(rpc(k, &t) != Rversion)
		return -1;
	pc_mkattach(&t, 1, 0, uname);
	return rpc(k, &t) == Rattach ? 0 : -1;
}

static int
stat1(Pconn *c, uint16_t tag)
{
	return pc_fidop(c, Tstat, tag, 0);
}

/* The stats file's line for key, read now. */
static long long
sval(const char *key)
{
	char *s;
	long long v;

	s = ctl_read(ctlsock, "stats");
	v = ctl_get(s, key);
	free(s);
	return v;
}

/* The lines of path containing sub. */
static int
lines(const char *path, const char *sub)
{
	return pc_count(path, sub);
}

/* Wait until 9testsrv holds fids fids: the count it last said. */
static long
waitfids(long want)
{
	long fids, tags, end;

	fids = tags = -1;
	end = pc_now() + 10000;
	do{
		if(pc_srvstate(srv, srvlog, &fids, &tags) < 0)
			return -1;
		if(fids == want && tags == 0)
			return fids;
		pc_sleep(50);
	}while(pc_now() < end);
	return fids;
}

/* Check metrics: every family has its HELP and TYPE first, counters end in _total. */
static void
checkmetrics(const char *text, const char *stats)
{
	char fam[128], help[160], type[160], line[512];
	const char *p, *e;
	int bad, nsamples;
	long long v;

	bad = nsamples = 0;
	fam[0] = '\0';
	for(p = text; *p; p = *e ? e + 1 : e){
		e = strchr(p, '\n');
		if(e == NULL)
			e = p + strlen(p);
		snprintf(line, sizeof line, "%.*s", (int)(e - p), p);
		if(line[0] == '#')
			continue;
		nsamples++;
		snprintf(fam, sizeof fam, "%.*s", (int)strcspn(line, "{ "), line);
		snprintf(help, sizeof help, "# HELP %s ", fam);
		snprintf(type, sizeof type, "# TYPE %s ", fam);
		if(strstr(text, help) == NULL || strstr(text, type) == NULL || strstr(text, help) > p || strstr(text, type) > p){
			diag("no HELP and TYPE before %s", line);
			bad++;
		}
		if(strstr(strstr(text, type) ? strstr(text, type) : "", "counter") == strstr(text, type) + strlen(type)
		&& (strlen(fam) < 6 || strcmp(fam + strlen(fam) - 6, "_total") != 0)){
			diag("counter %s does not end in _total", fam);
			bad++;
		}
	}
	ok(bad == 0 && nsamples >= 20, "metrics: %d samples, each family with # HELP and # TYPE first, counters named _total", nsamples);
	v = -1;
	if((p = strstr(text, "\nninemux_requests_total ")) != NULL)
		v = strtoll(p + 24, NULL, 10);
	is_int(v, ctl_get(stats, "requests"), "metrics: ninemux_requests_total is stats' requests");
	v = -1;
	if((p = strstr(text, "\nninemux_clients ")) != NULL)
		v = strtoll(p + 17, NULL, 10);
	is_int(v, ctl_get(stats, "clients_now"), "metrics: the gauge ninemux_clients is stats' clients_now");
	ok(strstr(text, "\nninemux_refused_total{limit=\"clients\"} ") && strstr(text, "\nninemux_refused_total{limit=\"fids\"} ")
		&& strstr(text, "\nninemux_refused_total{limit=\"memory\"} ") && strstr(text, "# TYPE ninemux_refused_total counter\n"),
		"metrics: one counter family refused_total, by limit: clients, fids, memory");
	ok(strstr(text, "\nninemux_build_info{version=\"") != NULL, "metrics: ninemux_build_info");
}

static void
workload(void)
{
	char *s0, *s1, *names, path[64], *t, want[64];
	size_t in, out;
	long long t0, t1, since;
	int i, j, okst, nid;
	const char *p;

	s0 = ctl_read(ctlsock, "stats");
	ok(s0 != NULL, "read stats (%s)", s0 ? "ok" : ctl_errbuf);
	t0 = (long long)time(NULL);
	okst = 1;
	for(i = 0; i < N; i++){
		snprintf(path, sizeof path, "user%d", i);
		okst &= session(&cl[i], path) == 0;
	}
	for(j = 0; j < M; j++)
		for(i = 0; i < N; i++){
			Fcall tt;

			pc_mkfid(&tt, Tstat, (uint16_t)(10 + j), 0);
			okst &= rpc(&cl[i], &tt) == Rstat;
		}
	t1 = (long long)time(NULL);
	ok(okst, "%d clients each attached and sent %d Tstat, all answered", N, M);
	s1 = ctl_read(ctlsock, "stats");
	in = out = 0;
	for(i = 0; i < N; i++){
		in += cl[i].in;
		out += cl[i].out;
	}
	is_int(ctl_get(s1, "clients") - ctl_get(s0, "clients"), N, "stats: clients went up by exactly N");
	is_int(ctl_get(s1, "clients_now"), N, "stats: clients_now is N");
	is_int(ctl_get(s1, "requests") - ctl_get(s0, "requests"), N * (M + 2), "stats: requests went up by N x (M + Tversion + Tattach)");
	is_int(ctl_get(s1, "replies") - ctl_get(s0, "replies"), N * (M + 2), "stats: replies, the same");
	is_int(ctl_get(s1, "bytes_in") - ctl_get(s0, "bytes_in"), in, "stats: bytes_in, to the byte");
	is_int(ctl_get(s1, "bytes_out") - ctl_get(s0, "bytes_out"), out, "stats: bytes_out, to the byte");
	is_int(ctl_get(s1, "upstream_requests") - ctl_get(s0, "upstream_requests"), N * (M + 1), "stats: upstream_requests, all but the Tversions");
	is_int(ctl_get(s1, "errors") - ctl_get(s0, "errors"), 0, "stats: no errors");
	is_int(ctl_get(s1, "inflight"), 0, "stats: nothing in flight");
	is_int(ctl_get(s1, "upstream_up"), 1, "stats: upstream_up 1");

	names = ctl_ls(ctlsock, "clients");
	nid = 0;
	for(p = names; p && *p; p = strchr(p, '\n') + 1)
		nid++;
	is_int(nid, N, "clients/ lists N clients");
	for(p = names; p && *p; p = strchr(p, '\n') + 1){
		snprintf(path, sizeof path, "clients/%.*s/uname", (int)strcspn(p, "\n"), p);
		t = ctl_read(ctlsock, path);
		for(i = 0; i < N; i++){
			snprintf(want, sizeof want, "user%d\n", i);
			if(t && strcmp(t, want) == 0)
				snprintf(cl[i].id, sizeof cl[i].id, "%.*s", (int)strcspn(p, "\n"), p);
		}
		free(t);
	}
	okst = 1;
	for(i = 0; i < N; i++){
		char file[96], *b;

		if(cl[i].id[0] == '\0'){
			okst = 0;
			continue;
		}
		snprintf(file, sizeof file, "clients/%s/requests", cl[i].id);
		okst &= ctl_num(ctlsock, file) == M + 2;
		snprintf(file, sizeof file, "clients/%s/replies", cl[i].id);
		okst &= ctl_num(ctlsock, file) == M + 2;
		snprintf(file, sizeof file, "clients/%s/fids", cl[i].id);
		okst &= ctl_num(ctlsock, file) == 1;
		snprintf(file, sizeof file, "clients/%s/inflight", cl[i].id);
		okst &= ctl_num(ctlsock, file) == 0;
		snprintf(file, sizeof file, "clients/%s/bytes", cl[i].id);
		b = ctl_read(ctlsock, file);
		okst &= ctl_get(b, "in") == (long long)cl[i].in && ctl_get(b, "out") == (long long)cl[i].out;
		free(b);
	}
	ok(okst, "clients/ID/: uname user0..user%d, M+2 requests and replies, 1 fid, 0 in flight, bytes in and out exact", N - 1);
	{
		char file[96], *a;

		snprintf(file, sizeof file, "clients/%s/uid", cl[0].id);
		is_int(ctl_num(ctlsock, file), getuid(), "clients/ID/uid: the peer's uid");
		snprintf(file, sizeof file, "clients/%s/pid", cl[0].id);
		is_int(ctl_num(ctlsock, file), getpid(), "clients/ID/pid: the peer's pid");
		snprintf(file, sizeof file, "clients/%s/addr", cl[0].id);
		a = ctl_read(ctlsock, file);
		snprintf(want, sizeof want, "unix!%s\n", muxsock);
		ok(a && strcmp(a, want) == 0, "clients/ID/addr: the socket it came on (%.*s)", (int)strcspn(a ? a : ctl_errbuf, "\n"), a ? a : ctl_errbuf);
		free(a);
		snprintf(file, sizeof file, "clients/%s/since", cl[0].id);
		since = ctl_num(ctlsock, file);
		ok(since >= t0 - 1 && since <= t1 + 1, "clients/ID/since: when it came, in seconds since 1970");
	}
	ok(ctl_read(ctlsock, "clients/999999/fids") == NULL && strstr(ctl_errbuf, "not exist"),
		"clients/999999: no such client (%s)", ctl_errbuf);
	free(names);
	free(s0);
	free(s1);
}

static void
limits(void)
{
	Pconn *extra[3];
	Fcall t;
	long long r0;
	int i, r;

	/* fids: the attach holds one, -f 4 allows three more */
	r0 = sval("refused_fids");
	for(i = 1; i < MAXFIDS; i++)
		if(pc_walk(cl[0].c, 50, 0, (uint32_t)i, "") != Rwalk)
			break;
	r = pc_walk(cl[0].c, 50, 0, MAXFIDS, "");
	ok(i == MAXFIDS && r == Rerror && p9streq(cl[0].c->r.ename, "too many fids"), "-f %d: a fifth fid is refused", MAXFIDS);
	is_int(sval("refused_fids") - r0, 1, "stats: refused_fids went up by 1");
	/* clients: -c N+2 */
	r0 = sval("refused_clients");
	for(i = 0; i < 3; i++){
		extra[i] = pc_open(muxsock, P9_2000);
		if(extra[i] && i < 2)
			pc_version(extra[i], 8192, "9P2000");
	}
	ok(extra[2] != NULL && pc_hungup(extra[2]->fd, 5000), "-c %d: the client past it is hung up on", MAXCLI);
	is_int(sval("refused_clients") - r0, 1, "stats: refused_clients went up by 1");
	for(i = 0; i < 3; i++)
		pc_close(extra[i]);
	/* memory: -B 4k, a read of 8000 bytes can never fit */
	r0 = sval("refused_memory");
	pc_mkread(&t, 51, 0, 0, 8000);
	r = pc_rpc(cl[1].c, &t, 5000);
	ok(r == Rerror && pc_has(cl[1].c->r.ename.s, cl[1].c->r.ename.n, "-B"), "-B 4k: a read of 8000 bytes is refused");
	is_int(sval("refused_memory") - r0, 1, "stats: refused_memory went up by 1");
}

static void
kill1(void)
{
	char *before, *after, id[16], file[96], *p;
	long fids, tags;
	Pconn *v;
	Fcall t;
	int i, nfids;
	const char *e;

	fids = tags = -1;
	before = ctl_ls(ctlsock, "clients");
	v = pc_open(muxsock, P9_2000);
	ok(v && pc_version(v, 8192, "9P2000") == Rversion && pc_attach(v, 1, 0, "victim") == Rattach
		&& pc_walk(v, 2, 0, 1, "hello") == Rwalk && pc_open1(v, 3, 1, P9_OREAD) == Ropen,
		"a victim attaches and opens hello");
	pc_mkread(&t, 4, 1, 0, 100);
	pc_send(v->fd, &t, P9_2000);
	ok(pc_waitcount(srvlog, "Tread", 1, 10000) == 1, "its Tread is at the server, which never answers it (-x Tread)");
	after = ctl_ls(ctlsock, "clients");
	id[0] = '\0';
	for(p = after; p && *p; p = strchr(p, '\n') + 1){
		snprintf(file, sizeof file, "%.*s", (int)strcspn(p, "\n"), p);
		if(!ctl_has(before, file))
			snprintf(id, sizeof id, "%.*s", (int)strcspn(p, "\n"), p);
	}
	snprintf(file, sizeof file, "clients/%s/inflight", id);
	is_int(ctl_num(ctlsock, file), 1, "clients/%s/inflight: 1", id);
	snprintf(file, sizeof file, "clients/%s/fids", id);
	is_int(ctl_num(ctlsock, file), 2, "clients/%s/fids: 2", id);
	is_int(ctl_num(ctlsock, "upstream/tags"), 1, "upstream/tags: the one Tread");
	nfids = N + MAXFIDS - 1 + 2;
	is_int(ctl_num(ctlsock, "upstream/fids"), nfids, "upstream/fids: every fid of every client, %d", nfids);
	ok(pc_srvstate(srv, srvlog, &fids, &tags) == 0 && fids == nfids && tags == 1,
		"9testsrv holds %ld fids and %ld tags", fids, tags);

	snprintf(file, sizeof file, "kill %s\n", id);
	e = ctl_write(ctlsock, "ctl", file);
	ok(e == NULL, "write ctl: kill %s (%s)", id, e ? e : "ok");
	ok(pc_hungup(v->fd, 5000), "the victim is hung up on");
	is_int(waitfids(nfids - 2), nfids - 2, "9testsrv: its two fids are clunked, nobody else's, and no tag is left");
	ok(lines(srvlog, "Tflush") >= 1, "its Tread was flushed upstream");
	is_int(lines(srvlog, "VIOLATION"), 0, "9testsrv saw no violation of the protocol");
	snprintf(file, sizeof file, "clients/%s/fids", id);
	ok(ctl_read(ctlsock, file) == NULL, "clients/%s is gone", id);
	is_int(sval("clients_now"), N, "stats: clients_now is N again");
	for(i = 0; i < N; i++)
		if(stat1(cl[i].c, 60) != Rstat)
			break;
	is_int(i, N, "every other client is served as before");
	pc_close(v);
	free(before);
	free(after);

	e = ctl_write(ctlsock, "ctl", "kill 999999\n");
	ok(e && strstr(e, "no such client"), "kill 999999: %s", e ? e : "accepted");
	e = ctl_write(ctlsock, "ctl", "kill three\n");
	ok(e && strstr(e, "usage"), "kill three: %s", e ? e : "accepted");
	e = ctl_write(ctlsock, "ctl", "frobnicate\n");
	ok(e && strstr(e, "unknown command"), "frobnicate: %s", e ? e : "accepted");
	e = ctl_write(ctlsock, "ctl", "debug maybe\n");
	ok(e && strstr(e, "usage: debug on|off"), "debug maybe: %s", e ? e : "accepted");
	e = ctl_write(ctlsock, "stats", "x");
	ok(e && strstr(e, "permission"), "stats is not writable: %s", e ? e : "accepted");
	ok(ctl_read(ctlsock, "ctl") == NULL && strstr(ctl_errbuf, "permission"), "ctl is not readable: %s", ctl_errbuf);
}

static void
levels(void)
{
	Pconn *c;
	int n0, n1;

	n0 = lines(muxlog, "Tstat");
	stat1(cl[0].c, 70);
	is_int(lines(muxlog, "Tstat"), n0, "without -D nothing is traced");
	ok(ctl_write(ctlsock, "ctl", "debug on\n") == NULL, "write ctl: debug on");
	stat1(cl[0].c, 71);
	n1 = lines(muxlog, "Tstat");
	is_int(n1 - n0, 2, "a Tstat is traced as it came and as it went upstream");
	ok(ctl_write(ctlsock, "ctl", "debug off\n") == NULL, "write ctl: debug off");
	stat1(cl[0].c, 72);
	is_int(lines(muxlog, "Tstat"), n1, "and no longer");

	n0 = lines(muxlog, " from unix uid ");
	c = pc_open(muxsock, P9_2000);
	pc_version(c, 8192, "9P2000");
	pc_close(c);
	is_int(lines(muxlog, " from unix uid "), n0, "without -v, clients coming are not logged");
	ok(ctl_write(ctlsock, "ctl", "verbose on\n") == NULL, "write ctl: verbose on");
	c = pc_open(muxsock, P9_2000);
	pc_version(c, 8192, "9P2000");
	pc_close(c);
	is_int(lines(muxlog, " from unix uid "), n0 + 1, "now they are");
	ok(ctl_write(ctlsock, "ctl", "verbose off\n") == NULL, "write ctl: verbose off");
	c = pc_open(muxsock, P9_2000);
	pc_version(c, 8192, "9P2000");
	pc_close(c);
	is_int(lines(muxlog, " from unix uid "), n0 + 1, "and no longer");
}

/* A peer linking to 9mux (-l): links/N/ while it is there, and its own upstream/ and export/. */
static void
links(void)
{
	char *ids, file[96], *st, *peerctl, *p;
	long end;
	int n;

	peerctl = strdup(pc_path(dir, "peer.ctl"));
	{
		const char *a[] = { pc_prog("9mux"), "-k", "0", "-x", pc_unixaddr(dir, "peer.ctl"), "-e", pc_unixaddr(dir, "srv"),
			"-a", pc_unixaddr(dir, "peer"), pc_unixaddr(dir, "link"), NULL };

		peer = pc_spawn(a, pc_path(dir, "peer.log"));
	}
	pc_waitsock(peerctl, 10000);
	end = pc_now() + 10000;
	st = NULL;
	ids = NULL;
	do{
		free(ids);
		free(st);
		ids = ctl_ls(ctlsock, "links");
		snprintf(file, sizeof file, "links/%.*s/state", ids ? (int)strcspn(ids, "\n") : 0, ids ? ids : "");
		st = ctl_read(ctlsock, file);
		if(st && strcmp(st, "up\n") == 0)
			break;
		pc_sleep(50);
	}while(pc_now() < end);
	n = 0;
	for(p = ids; p && *p; p = strchr(p, '\n') + 1)
		n++;
	ok(n == 1 && st && strcmp(st, "up\n") == 0, "a peer links: links/ holds its connection's number, and its state is up");
	is_int(sval("links_up"), 1, "stats: links_up 1");
	free(st);
	st = ctl_read(peerctl, "upstream/state");
	ok(st && strcmp(st, "up\n") == 0, "the peer's upstream/ is the link, up");
	free(st);
	st = ctl_read(peerctl, "export/addr");
	snprintf(file, sizeof file, "unix!%s\n", srvsock);
	ok(st && strcmp(st, file) == 0, "its export/ the server it exports");
	free(st);
	ok(WIFEXITED(pc_killwait(peer, SIGTERM, 20000)), "the peer stops");
	peer = -1;
	end = pc_now() + 10000;
	while(sval("links_up") != 0 && pc_now() < end)
		pc_sleep(50);
	free(ids);
	ids = ctl_ls(ctlsock, "links");
	ok(ids && *ids == '\0', "its link is gone from links/");
	free(ids);
	free(peerctl);
}

static void
redial(void)
{
	char *s;
	long end;
	int nv;

	nv = lines(srvlog, "Tversion");
	ok(ctl_write(ctlsock, "ctl", "redial\n") == NULL, "write ctl: redial");
	end = pc_now() + 10000;
	for(;;){
		s = ctl_read(ctlsock, "upstream/state");
		if((s && strcmp(s, "up\n") == 0 && lines(srvlog, "Tversion") > nv) || pc_now() > end)
			break;
		free(s);
		pc_sleep(50);
	}
	ok(s && strcmp(s, "up\n") == 0, "upstream/state is up again");
	free(s);
	is_int(lines(srvlog, "Tversion"), nv + 1, "over a new connection: the server saw one more Tversion");
	is_int(sval("reconnects"), 1, "stats: reconnects 1");
}

int
main(int argc, char **argv)
{
	char *s, want[96], *names;
	int st, i;

	tap_start(120);
	pc_setbin(argv[0]);
	(void)argc;
	dir = pc_tmpdir();
	pc_onalarm(dir, &srv, &mux, &peer, NULL);
	srvsock = strdup(pc_path(dir, "srv"));
	muxsock = strdup(pc_path(dir, "mux"));
	ctlsock = strdup(pc_path(dir, "ctl"));
	srvlog = strdup(pc_path(dir, "srv.log"));
	muxlog = strdup(pc_path(dir, "mux.log"));
	{
		const char *sargv[] = { pc_prog("9testsrv"), "-x", "Tread", "-l", srvlog, "-a", pc_unixaddr(dir, "srv"), NULL };
		srv = pc_spawn(sargv, pc_path(dir, "srv.err"));
	}
	if(pc_waitsock(srvsock, 10000) < 0){
		ok(0, "9testsrv starts");
		pc_killwait(srv, SIGTERM, 5000);
		return done_testing();
	}
	{
		char c[16], f[16];
		const char *margv[] = { pc_prog("9mux"), "-k", "0", "-f", f, "-c", c, "-B", "4k",
			"-x", pc_unixaddr(dir, "ctl"), "-l", pc_unixaddr(dir, "link"), "-a", pc_unixaddr(dir, "mux"),
			pc_unixaddr(dir, "srv"), NULL };

		snprintf(c, sizeof c, "%d", MAXCLI);
		snprintf(f, sizeof f, "%d", MAXFIDS);
		mux = pc_spawn(margv, muxlog);
	}
	ok(pc_waitsock(muxsock, 10000) == 0 && pc_waitsock(ctlsock, 10000) == 0, "9mux -x serves its tree");

	names = ctl_ls(ctlsock, "");
	is_int(names ? (long long)strlen(names) : -1, strlen("clients\nctl\nlinks\nmetrics\nstats\nupstream\nversion\n"),
		"the root holds version, stats, metrics, ctl, clients/, upstream/, links/");
	ok(names && ctl_has(names, "stats") && ctl_has(names, "metrics") && ctl_has(names, "ctl") && ctl_has(names, "clients")
		&& ctl_has(names, "upstream") && ctl_has(names, "links") && ctl_has(names, "version"), "by name");
	free(names);
	s = ctl_read(ctlsock, "version");
	ok(s && ctl_get(s, "msize") == 65536 && strstr(s, "dialect 9P2000\n") && strstr(s, "version ") == s && strstr(s, "\nbuild "),
		"version: version, build, dialect 9P2000 and msize 65536 upstream");
	free(s);
	s = ctl_read(ctlsock, "upstream/addr");
	snprintf(want, sizeof want, "unix!%s\n", srvsock);
	ok(s && strcmp(s, want) == 0, "upstream/addr: %.*s", (int)strcspn(s ? s : ctl_errbuf, "\n"), s ? s : ctl_errbuf);
	free(s);
	s = ctl_read(ctlsock, "upstream/state");
	ok(s && strcmp(s, "up\n") == 0, "upstream/state: up");
	free(s);
	is_int(ctl_num(ctlsock, "upstream/tags"), 0, "upstream/tags: 0");
	is_int(ctl_num(ctlsock, "upstream/queued"), 0, "upstream/queued: 0");

	workload();
	{
		char *m, *s1;

		m = ctl_read(ctlsock, "metrics");
		s1 = ctl_read(ctlsock, "stats");
		ok(m != NULL, "read metrics");
		if(m)
			checkmetrics(m, s1);
		free(m);
		free(s1);
	}
	limits();
	kill1();
	levels();
	links();
	redial();

	st = pc_killwait(mux, SIGTERM, 20000);
	mux = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "9mux exits 0 on SIGTERM");
	for(i = 0; i < N; i++)
		pc_close(cl[i].c);
	pc_killwait(srv, SIGTERM, 5000);
	srv = -1;
	if(tap_failed){
		diag("9mux's log:");
		s = pc_slurp(muxlog);
		diag("%s", s);
		free(s);
	}
	pc_rmdir(dir);
	return done_testing();
}
