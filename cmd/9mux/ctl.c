/*
 * The control tree (-x): 9mux's own state as a 9P file tree, served by
 * libsynfs on the same loop as the sessions (connections: ctlconn.c).
 *
 *	version  stats  metrics  ctl
 *	clients/N/	addr uid pid uname fids inflight bytes requests replies since
 *	upstream/	addr state since rtt tags fids queued waiting (export/ with -e)
 *	links/NAME/	the same, for each link (unnamed ones by their connection's number)
 *
 * Nothing here runs per message: the engine and the daemon keep plain
 * counters where they already are, and a file's text is made when it
 * is opened, all at once, so that it is consistent within itself and
 * every read of that fid sees the same text (synfs(3)).
 */
#define _GNU_SOURCE	/* struct ucred */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "9p.h"
#include "log.h"
#include "synfs.h"
#include "9mux.h"

#ifndef VERSION
#define VERSION "unknown"
#endif
#ifndef BUILDID
#define BUILDID "unknown"
#endif

enum {
	MAXNAME		= 256,		/* a file name in the tree (synfs's limit is 255) */
	MAXUNAMES	= 64,		/* unames listed for one client */
	SNAPMAX		= 16 * 1024 * 1024,	/* largest file or listing: clients/ of many clients */
};

static struct {
	Synfs		*fs;
	long long	startms;	/* monotonic */
	long long	startwall;	/* ms since 1970 */
	uint64_t	clients;	/* accepted */
	uint64_t	refused;	/* for -c */
	int		verbose;	/* -v or "verbose on": the level "debug off" goes back to */
	char		err[192];
} ctl;

/*
 * Counters: one table gives the keys of stats and the metric families
 * of metrics, so the two files always say the same.
 */
enum {
	SSTARTED, SCLIENTS, SCLIENTSNOW, SREQUESTS, SREPLIES, SERRORS, SLOCALERR,
	SBYTESIN, SBYTESOUT, SINFLIGHT, SMEMORY, SUPREQ, SUPREPLIES, SSTRAY,
	SFLUSHES, SCLUNKS, SREFCLIENTS, SREFFIDS, SREFMEM, SMEMWAITS,
	SRECONNECTS, SLOSSES, SRESTORES, SFIDSRESTORED, SFIDSDEAD, SREPLAYED, SUNKNOWN, SRESTOREMSGS,
	SUPUP, SRTT, SLINKSUP, NSTAT,
	COUNTER = 1, GAUGE,
};

typedef struct Stat Stat;
struct Stat {
	const char	*key;		/* in stats */
	const char	*family;	/* in metrics, after ninemux_ */
	const char	*label;		/* the sample's label, or NULL */
	int		type;
	int		usec;		/* the value is in microseconds, the metric in seconds */
	const char	*help;
};

static const Stat stattab[NSTAT] = {
	[SSTARTED] = { "started", "start_time_seconds", NULL, GAUGE, 0, "When 9mux started, in seconds since 1970." },
	[SCLIENTS] = { "clients", "clients_total", NULL, COUNTER, 0, "Clients accepted." },
	[SCLIENTSNOW] = { "clients_now", "clients", NULL, GAUGE, 0, "Clients connected now." },
	[SREQUESTS] = { "requests", "requests_total", NULL, COUNTER, 0,
		"T-messages received from clients and from peers over links, Tversion and Tflush included." },
	[SREPLIES] = { "replies", "replies_total", NULL, COUNTER, 0, "R-messages written to clients and peers." },
	[SERRORS] = { "errors", "errors_total", NULL, COUNTER, 0, "Of those replies, errors, from 9mux or from the server." },
	[SLOCALERR] = { "local_errors", "local_errors_total", NULL, COUNTER, 0, "Errors 9mux answered itself." },
	[SBYTESIN] = { "bytes_in", "received_bytes_total", NULL, COUNTER, 0, "Bytes of the T-messages received." },
	[SBYTESOUT] = { "bytes_out", "sent_bytes_total", NULL, COUNTER, 0, "Bytes of the R-messages written." },
	[SINFLIGHT] = { "inflight", "inflight_requests", NULL, GAUGE, 0, "Requests waiting for their reply." },
	[SMEMORY] = { "memory", "memory_bytes", NULL, GAUGE, 0, "Bytes held for clients, as counted against -B." },
	[SUPREQ] = { "upstream_requests", "upstream_requests_total", NULL, COUNTER, 0,
		"T-messages written upstream and to peers, 9mux's own flushes, clunks and pings included." },
	[SUPREPLIES] = { "upstream_replies", "upstream_replies_total", NULL, COUNTER, 0, "R-messages read from upstream and from peers." },
	[SSTRAY] = { "stray_replies", "stray_replies_total", NULL, COUNTER, 0, "Replies to no request in flight, dropped." },
	[SFLUSHES] = { "flushes", "flushes_total", NULL, COUNTER, 0, "Tflush sent upstream, for clients and for 9mux itself." },
	[SCLUNKS] = { "clunks", "clunks_total", NULL, COUNTER, 0, "Tclunk 9mux sent itself, for fids clients left behind." },
	[SREFCLIENTS] = { "refused_clients", "refused_total", "limit=\"clients\"", COUNTER, 0,
		"Refused for a limit: connections past -c clients, fids past -f, requests that can never fit -B." },
	[SREFFIDS] = { "refused_fids", "refused_total", "limit=\"fids\"", COUNTER, 0, NULL },
	[SREFMEM] = { "refused_memory", "refused_total", "limit=\"memory\"", COUNTER, 0, NULL },
	[SMEMWAITS] = { "memory_waits", "memory_waits_total", NULL, COUNTER, 0, "Times a client waited for room in -B." },
	[SRECONNECTS] = { "reconnects", "reconnects_total", NULL, COUNTER, 0, "Times the upstream came up again after its first time." },
	[SLOSSES] = { "losses", "persisted_losses_total", NULL, COUNTER, 0,
		"Upstream connections lost while sessions persisted (-P)." },
	[SRESTORES] = { "restores", "restores_total", NULL, COUNTER, 0, "Restores of the sessions' fids finished (-P)." },
	[SFIDSRESTORED] = { "fids_restored", "restored_fids_total", NULL, COUNTER, 0, "Fids re-created on a new connection." },
	[SFIDSDEAD] = { "fids_dead", "dead_fids_total", NULL, COUNTER, 0,
		"Fids that could not be restored; each later use gets an error." },
	[SREPLAYED] = { "requests_replayed", "replayed_requests_total", NULL, COUNTER, 0,
		"Requests in flight at a loss, safe to repeat, sent again." },
	[SUNKNOWN] = { "requests_unknown", "unknown_requests_total", NULL, COUNTER, 0,
		"Requests in flight at a loss answered: outcome unknown." },
	[SRESTOREMSGS] = { "restore_messages", "restore_messages_total", NULL, COUNTER, 0, "Messages restores sent." },
	[SUPUP] = { "upstream_up", "upstream_up", NULL, GAUGE, 0, "1 while the upstream is ready, else 0." },
	[SRTT] = { "ping_rtt_us", "ping_rtt_seconds", NULL, GAUGE, 1, "Round trip of the upstream's last ping answered, 0 before any." },
	[SLINKSUP] = { "links_up", "links_up", NULL, GAUGE, 0, "Links from peers connected now." },
};

static const char *clientfiles[] = {
	"addr", "uid", "pid", "uname", "fids", "inflight", "bytes", "requests", "replies", "since", NULL,
};
static const char *chanfiles[] = {
	"addr", "state", "since", "rtt", "tags", "fids", "queued", "waiting", NULL,
};

/* Seconds since 1970 of t, ms on the monotonic clock. */
static long long
wall(long long t)
{
	return (ctl.startwall + (t - ctl.startms)) / 1000;
}

void
ctlinit(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ctl.startwall = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ctl.startms = now();
	ctl.verbose = loglevel() >= LOG_CONN;
}

void
ctlclient(Conn *c, Lis *l, int fd)
{
	struct ucred cr;
	socklen_t len;

	ctl.clients++;
	c->lis = l;
	c->born = now();
	c->uid = c->pid = -1;
	len = sizeof cr;
	if(l->isunix && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0){
		c->uid = (long)cr.uid;
		c->pid = (long)cr.pid;
	}
}

void
ctlrefused(void)
{
	ctl.refused++;
}

/*
 * Finding things by name.
 */

/* A qid path for the file at dir/name: the same name, the same qid, as long as 9mux runs (FNV-1a). */
static uint64_t
qidof(const char *dir, const char *name)
{
	uint64_t h;
	const char *p;

	h = 14695981039346656037ULL;
	for(p = dir; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	if(name != NULL){
		if(p == dir || p[-1] != '/')
			h = (h ^ '/') * 1099511628211ULL;
		for(p = name; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	}
	return h;
}

/* Split an absolute path into at most 3 names: how many, or -1. */
static int
split(const char *path, char name[3][MAXNAME])
{
	const char *p, *e;
	int n;

	n = 0;
	for(p = path; *p == '/'; p++)
		;
	while(*p){
		e = strchr(p, '/');
		if(e == NULL)
			e = p + strlen(p);
		if(n == 3 || (size_t)(e - p) >= MAXNAME)
			return -1;
		memcpy(name[n], p, (size_t)(e - p));
		name[n++][e - p] = '\0';
		for(p = e; *p == '/'; p++)
			;
	}
	return n;
}

/* The number s spells, written the one way it is written in the tree: 0, or -1. */
static int
number(const char *s, unsigned long *v)
{
	char *e;

	if(*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	errno = 0;
	*v = strtoul(s, &e, 10);
	return errno || *e != '\0' ? -1 : 0;
}

static Conn *
clientnamed(const char *s)
{
	unsigned long id;
	Conn *c;

	if(number(s, &id) < 0)
		return NULL;
	for(c = g.conns; c != NULL; c = c->next)
		if(c->role == CCLIENT && !c->dead && c->s != NULL && c->id == id)
			return c;
	return NULL;
}

/* A link's name in links/: its own, or its connection's number. */
static const char *
linkdir(Link *l, char *buf, size_t len)
{
	if(l->name)
		return l->name;
	snprintf(buf, len, "%u", l->conn ? l->conn->id : 0);
	return buf;
}

static Link *
linknamed2(const char *s)
{
	char buf[32];
	Link *l;

	for(l = g.links; l != NULL; l = l->next)
		if(strcmp(linkdir(l, buf, sizeof buf), s) == 0)
			return l;
	return NULL;
}

static Dialer *
dialernamed(const char *s)
{
	if(strcmp(s, "upstream") == 0)
		return &g.up;
	if(strcmp(s, "export") == 0 && g.ex.addr != NULL)
		return &g.ex;
	return NULL;
}

/*
 * The tree.
 */

static void
add(Synlist *l, const char *dir, const char *name, uint32_t mode)
{
	synadd(l, name, qidof(dir, name), mode);
}

static void
files(Synlist *l, const char *dir, const char **names)
{
	int i;

	for(i = 0; names[i] != NULL; i++)
		add(l, dir, names[i], 0444);
}

static int
treelist(void *aux, const char *path, const char *want, Synlist *l)
{
	char n[3][MAXNAME], buf[32];
	Link *k;
	Conn *c;
	int depth;

	(void)aux;
	depth = split(path, n);
	if(depth == 0){
		add(l, path, "version", 0444);
		add(l, path, "stats", 0444);
		add(l, path, "metrics", 0444);
		add(l, path, "ctl", 0200);
		add(l, path, "clients", P9_DMDIR | 0555);
		add(l, path, "upstream", P9_DMDIR | 0555);
		if(g.ex.addr)
			add(l, path, "export", P9_DMDIR | 0555);
		add(l, path, "links", P9_DMDIR | 0555);
		return 0;
	}
	if(depth == 1 && strcmp(n[0], "clients") == 0){
		/* a walk asks for one: found without listing thousands */
		if(want != NULL){
			if(clientnamed(want) != NULL)
				add(l, path, want, P9_DMDIR | 0555);
			return 0;
		}
		for(c = g.conns; c != NULL; c = c->next)
			if(c->role == CCLIENT && !c->dead && c->s != NULL){
				snprintf(buf, sizeof buf, "%u", c->id);
				add(l, path, buf, P9_DMDIR | 0555);
			}
		return 0;
	}
	if(depth == 1 && strcmp(n[0], "links") == 0){
		for(k = g.links; k != NULL; k = k->next)
			add(l, path, linkdir(k, buf, sizeof buf), P9_DMDIR | 0555);
		return 0;
	}
	if(depth == 1 && dialernamed(n[0]) != NULL){
		files(l, path, chanfiles);
		return 0;
	}
	if(depth == 2 && strcmp(n[0], "clients") == 0 && clientnamed(n[1]) != NULL){
		files(l, path, clientfiles);
		return 0;
	}
	if(depth == 2 && strcmp(n[0], "links") == 0 && linknamed2(n[1]) != NULL){
		files(l, path, chanfiles);
		return 0;
	}
	return -1;
}

static void
counters(uint64_t *v)
{
	const Nmstats *st;
	Link *l;
	Conn *c;

	st = nmstats(g.m);
	memset(v, 0, NSTAT * sizeof v[0]);
	v[SSTARTED] = (uint64_t)(ctl.startwall / 1000);
	v[SCLIENTS] = ctl.clients;
	v[SCLIENTSNOW] = (uint64_t)g.nclients;
	v[SREQUESTS] = st->tmsgs;
	v[SREPLIES] = st->rmsgs;
	v[SERRORS] = st->rerrors;
	v[SLOCALERR] = st->localerr;
	v[SBYTESIN] = st->bytesin;
	v[SBYTESOUT] = st->bytesout;
	v[SINFLIGHT] = nminflight(g.m);
	v[SMEMORY] = nmbytes(g.m) + g.bigbytes;
	v[SUPREQ] = st->upsent;
	v[SUPREPLIES] = st->upreplies;
	v[SSTRAY] = st->stray;
	v[SFLUSHES] = st->flushes;
	v[SCLUNKS] = st->clunks;
	v[SREFCLIENTS] = ctl.refused;
	v[SREFFIDS] = st->toomanyfids;
	v[SREFMEM] = st->overbudget;
	v[SMEMWAITS] = st->memwaits;
	v[SRECONNECTS] = g.up.ups > 0 ? g.up.ups - 1 : 0;
	v[SLOSSES] = st->losses;
	v[SRESTORES] = st->restores;
	v[SFIDSRESTORED] = st->fidsrestored;
	v[SFIDSDEAD] = st->fidsdead;
	v[SREPLAYED] = st->replayed;
	v[SUNKNOWN] = st->unknown;
	v[SRESTOREMSGS] = st->restoremsgs;
	c = g.up.conn;
	v[SUPUP] = c != NULL && c->c != NULL && nmchanstate(c->c) == NM_CREADY;
	v[SRTT] = c != NULL ? (uint64_t)c->rttus : 0;
	for(l = g.links; l != NULL; l = l->next)
		v[SLINKSUP] += l->conn != NULL;
}

static void
stats(Synbuf *b)
{
	uint64_t v[NSTAT];
	int i;

	counters(v);
	for(i = 0; i < NSTAT; i++)
		synprint(b, "%s %llu\n", stattab[i].key, (unsigned long long)v[i]);
}

/* The Prometheus text exposition format, version 0.0.4. */
static void
metrics(Synbuf *b)
{
	uint64_t v[NSTAT];
	const Stat *s;
	const char *fam;
	int i;

	counters(v);
	fam = "";
	for(i = 0; i < NSTAT; i++){
		s = &stattab[i];
		if(strcmp(s->family, fam) != 0){
			fam = s->family;
			synprint(b, "# HELP ninemux_%s %s\n# TYPE ninemux_%s %s\n", fam, s->help, fam,
				s->type == COUNTER ? "counter" : "gauge");
		}
		synprint(b, "ninemux_%s%s%s%s ", fam, s->label ? "{" : "", s->label ? s->label : "", s->label ? "}" : "");
		if(s->usec)
			synprint(b, "%llu.%06llu\n", (unsigned long long)(v[i] / 1000000), (unsigned long long)(v[i] % 1000000));
		else
			synprint(b, "%llu\n", (unsigned long long)v[i]);
	}
	synprint(b, "# HELP ninemux_build_info The version and build of 9mux.\n# TYPE ninemux_build_info gauge\n");
	synprint(b, "ninemux_build_info{version=\"%s\",build=\"%s\"} 1\n", VERSION, BUILDID);
}

static void
version(Synbuf *b)
{
	Conn *c;

	synprint(b, "version %s\nbuild %s\n", VERSION, BUILDID);
	c = g.up.conn;
	if(c != NULL && c->c != NULL && nmchanstate(c->c) == NM_CREADY)
		synprint(b, "dialect %s\nmsize %u\n", p9dialectname(nmchandialect(c->c)), nmchanmsize(c->c));
	else	/* what will be asked: the server's answer may lower it */
		synprint(b, "dialect %s\nmsize %u\n", p9dialectname(g.conf.dialect), g.conf.msize);
}

static const char *
clientfile(Synbuf *b, Conn *c, const char *f)
{
	const Nmsessstats *st;
	const char *names[MAXUNAMES];
	int i, n;

	st = nmsessstats(c->s);
	if(strcmp(f, "addr") == 0)
		synprint(b, "%s\n", c->lis && c->lis->isunix ? c->lis->addr : c->who);
	else if(strcmp(f, "uid") == 0 || strcmp(f, "pid") == 0){
		if(c->uid < 0)
			synprint(b, "-\n");
		else
			synprint(b, "%ld\n", f[0] == 'u' ? c->uid : c->pid);
	}else if(strcmp(f, "uname") == 0){
		n = nmsessunames(c->s, names, MAXUNAMES);
		for(i = 0; i < n; i++)
			synprint(b, "%s\n", names[i]);
	}else if(strcmp(f, "fids") == 0)
		synprint(b, "%d\n", nmsessfids(c->s));
	else if(strcmp(f, "inflight") == 0)
		synprint(b, "%d\n", nmsessinflight(c->s));
	else if(strcmp(f, "bytes") == 0)
		synprint(b, "in %llu\nout %llu\n", (unsigned long long)st->bytesin, (unsigned long long)st->bytesout);
	else if(strcmp(f, "requests") == 0)
		synprint(b, "%llu\n", (unsigned long long)st->tmsgs);
	else if(strcmp(f, "replies") == 0)
		synprint(b, "%llu\n", (unsigned long long)st->rmsgs);
	else if(strcmp(f, "since") == 0)
		synprint(b, "%lld\n", wall(c->born));
	else
		return "file does not exist";
	return NULL;
}

/* The files of upstream/ and links/NAME/: c is the connection, NULL while there is none. */
static const char *
chanfile(Synbuf *b, const char *f, Conn *c, const char *addr, int dialing, long long since)
{
	Nmchaninfo ci;

	memset(&ci, 0, sizeof ci);
	if(c != NULL && c->c != NULL)
		nmchaninfo(c->c, &ci);
	if(strcmp(f, "addr") == 0)
		synprint(b, "%s\n", addr);
	else if(strcmp(f, "state") == 0){
		if(c != NULL && c->c != NULL && nmchanstate(c->c) == NM_CREADY)
			synprint(b, "up\n");
		else
			synprint(b, "%s\n", c != NULL || dialing ? "dialing" : "down");
	}else if(strcmp(f, "since") == 0)
		synprint(b, "%lld\n", wall(since));
	else if(strcmp(f, "rtt") == 0){
		if(c != NULL && c->rttus > 0)
			synprint(b, "%lld\n", c->rttus);
		else
			synprint(b, "-\n");
	}else if(strcmp(f, "tags") == 0)
		synprint(b, "%d\n", ci.tags);
	else if(strcmp(f, "fids") == 0)
		synprint(b, "%u\n", ci.fids);
	else if(strcmp(f, "queued") == 0)
		synprint(b, "%zu\n", ci.queued);
	else if(strcmp(f, "waiting") == 0)
		synprint(b, "%d\n", ci.waiting);
	else
		return "file does not exist";
	return NULL;
}

static const char *
treeread(void *aux, const char *path, uint64_t qid, Synbuf *b)
{
	char n[3][MAXNAME];
	Dialer *d;
	Link *l;
	Conn *c;
	int depth;

	(void)aux;
	(void)qid;
	depth = split(path, n);
	if(depth == 1 && strcmp(n[0], "stats") == 0)
		stats(b);
	else if(depth == 1 && strcmp(n[0], "metrics") == 0)
		metrics(b);
	else if(depth == 1 && strcmp(n[0], "version") == 0)
		version(b);
	else if(depth == 2 && (d = dialernamed(n[0])) != NULL)
		return chanfile(b, n[1], d->conn, d->addr, d->dialing, d->since);
	else if(depth == 3 && strcmp(n[0], "clients") == 0){
		if((c = clientnamed(n[1])) == NULL)
			return "client gone";
		return clientfile(b, c, n[2]);
	}else if(depth == 3 && strcmp(n[0], "links") == 0){
		if((l = linknamed2(n[1])) == NULL)
			return "link gone";
		return chanfile(b, n[2], l->conn, l->conn ? l->conn->who : "-", 0, l->since);
	}else
		return "file does not exist";
	return NULL;
}

/*
 * The control file.
 */

static void
setverbose(int on)
{
	ctl.verbose = on;
	if(on && loglevel() < LOG_CONN)
		logsetlevel(LOG_CONN);
	else if(!on && loglevel() == LOG_CONN)
		logsetlevel(LOG_QUIET);
}

static void
setdebug(int on)
{
	logsetlevel(on ? LOG_TRACE : ctl.verbose ? LOG_CONN : LOG_QUIET);
	nmtrace(g.m, on ? trace : NULL, NULL);
}

static const char *
redial(void)
{
	Dialer *d;

	d = &g.up;
	if(strcmp(d->addr, "-") == 0)
		return "the upstream is standard input: it cannot be redialed";
	if(g.stopping)
		return "9mux is stopping";
	if(d->conn != NULL)
		closeconn(d->conn, "redial asked on the control file");
	/* now, not after the backoff losing it set */
	timerdel(&d->retry);
	d->backoff = MINBACKOFF;
	dialstart(d);
	return NULL;
}

/* One command: NULL, or what is wrong with it. */
static const char *
command(char *line)
{
	char *arg[3], *p, *sp;
	unsigned long id;
	Conn *c;
	int n;

	n = 0;
	for(p = strtok_r(line, " \t\r", &sp); p != NULL && n < 3; p = strtok_r(NULL, " \t\r", &sp))
		arg[n++] = p;
	if(n == 0)
		return NULL;
	if(strcmp(arg[0], "kill") == 0){
		if(n != 2 || number(arg[1], &id) < 0)
			return "usage: kill N (a client's number in clients/)";
		if((c = clientnamed(arg[1])) == NULL)
			return "no such client";
		logmsg(LOG_QUIET, "control file: kill %s (%s %s)", arg[1], c->name, c->who);
		/* its session ends as on hang-up: what it has upstream is flushed, its fids clunked */
		closeconn(c, "killed on the control file");
		return NULL;
	}
	if((strcmp(arg[0], "debug") == 0 || strcmp(arg[0], "verbose") == 0) && n == 2
	&& (strcmp(arg[1], "on") == 0 || strcmp(arg[1], "off") == 0)){
		logmsg(LOG_QUIET, "control file: %s %s", arg[0], arg[1]);
		if(arg[0][0] == 'd')
			setdebug(arg[1][1] == 'n');
		else
			setverbose(arg[1][1] == 'n');
		return NULL;
	}
	if(strcmp(arg[0], "debug") == 0 || strcmp(arg[0], "verbose") == 0)
		return arg[0][0] == 'd' ? "usage: debug on|off" : "usage: verbose on|off";
	if(strcmp(arg[0], "redial") == 0 && n == 1){
		logmsg(LOG_QUIET, "control file: redial");
		return redial();
	}
	snprintf(ctl.err, sizeof ctl.err, "unknown command %.64s: want kill N, debug on|off, verbose on|off, redial", arg[0]);
	return ctl.err;
}

static const char *
treewrite(void *aux, const char *path, uint64_t qid, const char *text, size_t n)
{
	char line[256];
	const char *e, *nl;
	size_t k;

	(void)aux;
	(void)qid;
	if(strcmp(path, "/ctl") != 0)
		return "permission denied";
	/* a command a line: "echo kill 3 | 9pc write ctl" writes one with its newline */
	while(n > 0){
		nl = memchr(text, '\n', n);
		k = nl ? (size_t)(nl - text) : n;
		if(k >= sizeof line)
			return "command too long";
		memcpy(line, text, k);
		line[k] = '\0';
		if((e = command(line)) != NULL)
			return e;
		k += nl != NULL;
		text += k;
		n -= k;
	}
	return NULL;
}

/*
 * The server.
 */

Synfs *
ctlfs(void)
{
	Synconf conf;

	if(ctl.fs != NULL)
		return ctl.fs;
	memset(&conf, 0, sizeof conf);
	conf.list = treelist;
	conf.read = treeread;
	conf.write = treewrite;
	conf.rootqid = qidof("/", NULL);
	conf.uid = "9mux";
	conf.nuid = (uint32_t)getuid();
	conf.mtime = (uint32_t)(ctl.startwall / 1000);
	conf.maxsnap = SNAPMAX;
	conf.wake = ctlwake;
	ctl.fs = synnew(&conf);
	return ctl.fs;
}

void
ctlfsfree(void)
{
	if(ctl.fs != NULL)
		synfree(ctl.fs);
	ctl.fs = NULL;
}
