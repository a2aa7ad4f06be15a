/*
 * 9mux.h - the daemon's parts and what they share.
 *
 * One thread, one epoll loop over non-blocking descriptors; all 9P
 * logic is in libninemux.  Everything the loop watches starts with an
 * Ev saying what it is.  A Conn is one socket: a client (a session
 * only), an upstream we dialed (a channel, and a session if the peer
 * sends requests back: a link seen from the side that dialed), or a
 * link accepted with -l (both).  A Dialer keeps one address dialed
 * (UPSTREAM, or the EXPORT of -e); a Link is a peer that dialed us,
 * and the upstream that -r clients are served by over it.
 *
 *	main.c		flags, start-up, the loop, signals and the end
 *	conn.c		connections: reading, framing, feeding the engine, writing
 *	buf.c		input buffers: grown for a frame, counted against -B, spares
 *	listen.c	listeners, accepting, who a peer is
 *	upstream.c	dialers: dialing in a thread, backoff, losing an upstream
 *	link.c		links: accepted peers, -r routing, keep-alive and pings
 *	secure.c	TLS under any connection, and cover traffic
 *	batch.c		clients: replies written in one call a loop turn (io_uring), reads that wake nobody
 *	openfd.c	Topenfd: a file as a descriptor, for plan9port's tools
 *	timer.c		timers
 *	ctl.c		the control tree (-x): 9mux's state as files, served by libsynfs
 *	ctlconn.c	connections to the control tree
 *	sd.c		systemd: sockets passed (LISTEN_FDS), readiness (NOTIFY_SOCKET)
 *	stop.c		the graceful stop (SIGTERM): drain, flush, clunk, exit
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ninemux.h"
#include "tls.h"

enum {
	/* what an Ev is */
	KLISTEN = 1,
	KCONN,
	KCONNW,		/* the write side of a Conn that has two descriptors (standard output) */
	KSIG,
	KDIAL,
	KFD,		/* the pair of a Topenfd descriptor */
	KCTL,		/* a connection to the control tree */

	/* what a Conn is */
	CCLIENT = 1,
	CUP,		/* dialed by a Dialer */
	CLINK,		/* accepted on a -l listener */

	/* what a listener serves */
	LCLIENT = 1,	/* -a, -n */
	LLINK,		/* -l */
	LREVERSE,	/* -r */
	LCTL,		/* -x */

	BUFSZ		= 64 * 1024,
	NSPARE		= 16,		/* idle client buffers kept for the next busy one */
	PEERKEEP	= 4 * BUFSZ,	/* an upstream's or link's input buffer grown past BUFSZ is kept up to this */
	NIOV		= 64,
	MAXLISTEN	= 32,
	MINBACKOFF	= 1000,		/* ms, first redial */
	MAXBACKOFF	= 30000,
	GRACE		= 5,		/* s to answer what is in flight at SIGTERM (-g) */
	VERSIONWAIT	= 30000,	/* ms for the upstream's Rversion at start with -F */
	DIALHOLD	= 2000,		/* ms clients wait for a dial under way before they are refused */
	HSWAIT		= 10000,	/* ms a TLS handshake may take */

	/* connread's answers besides a count */
	RBLOCK		= -1,		/* nothing now: wait for the descriptor */
	RERR		= -2,		/* the connection failed */
	LINKBACKLOG	= 1024 * 1024,	/* a link's requests the engine has not taken, before we stop reading it */
	MALLOCMMAP	= 16 * 1024 * 1024,	/* buffers up to this come from the heap (main.c) */
	MALLOCKEEP	= 32 * 1024 * 1024,	/* freed heap memory kept for the next large buffers */
	PEEKMAX		= 2048,		/* bytes of a client's requests peeked and left in its socket, at most */
	PEEKAGE		= 20,		/* ms they may stay there */
	TAKEMIN		= 128,		/* bytes peeked before a reply's write takes them too */
};

typedef struct Ev Ev;
typedef struct Buf Buf;
typedef struct Conn Conn;
typedef struct Lis Lis;
typedef struct Dialer Dialer;
typedef struct Link Link;
typedef struct Timer Timer;
typedef struct Fdc Fdc;

struct Ev {
	int		kind;
};

struct Timer {
	long long	when;		/* ms, monotonic */
	int		slot;		/* in the heap, or -1 */
	void		(*fn)(Timer *t);
	void		*arg;
};

struct Buf {
	uint8_t		*p;
	size_t		len;
	size_t		cap;
};

struct Lis {
	Ev		ev;
	int		fd;
	uint32_t	events;
	int		role;		/* LCLIENT, LLINK, LREVERSE */
	int		isunix;
	int		istls;
	int		port;		/* TCP: the port it listens on */
	char		*addr;
	char		*path;		/* unix socket to remove at exit */
	char		*linkname;	/* -r NAME=: only that link */
};

struct Conn {
	Ev		ev;
	Ev		wev;
	int		fd;
	int		wfd;		/* where we write: fd, or standard output for the upstream - */
	int		role;
	unsigned	id;
	char		who[96];
	char		name[32];	/* in log lines: c7, upstream, link3 */
	Nmsess		*s;		/* requests from the peer */
	Nmchan		*c;		/* our requests to the peer */
	Tls		*tls;		/* tls!: what every byte goes through */
	Nmfd		*fdnext;	/* a Topenfd descriptor to send before more is written */
	int		hs;		/* its handshake is under way: no 9P yet */
	Timer		hst;		/* ... for at most HSWAIT */
	int		tlswant;	/* what TLS waits for to write what it holds (TLS_WANT*), or 0 */
	int		rmore;		/* TLS holds bytes it read: read again, epoll cannot tell */
	long long	lastout;	/* ms: the last write */
	Timer		cover;		/* -Z */
	long long	covertick;
	Dialer		*dialer;	/* CUP */
	Link		*link;		/* CLINK */
	Buf		in;		/* bytes read, not yet taken */
	int		peek;		/* a client on a unix socket: read by peeking, the bytes taken later (batch.c) */
	size_t		peeked;		/* bytes peeked, still in the socket */
	long long	peekat;		/* ms: when the first of them was */
	Conn		*pknext;	/* on g.pkhead's list while peeked, oldest first */
	Conn		*pkprev;
	int		hangup;		/* the peer hung up, or half did: read to the end (edge-triggered) */
	int		rready;		/* there may be more to read, and no event will say so: 1 on g.ready, 2 on this turn's list */
	Conn		*rnext;
	int		inbatch;	/* on g.batch: written in the loop turn's one call */
	Conn		*bnext;
	Buf		tb;		/* links: the peer's requests, not yet taken by its session */
	uint32_t	events;
	uint32_t	wevents;
	int		dirty;
	int		wantin;		/* the engine can take the buffered input again */
	int		stalled;	/* the engine would not take a whole frame */
	int		memwait;	/* its frame would not fit the memory budget (-B) */
	int		budgetwait;	/* the engine holds its next request for the budget (logged once) */
	size_t		memcap;		/* the buffer it waits for */
	Conn		*mwnext;	/* clients waiting for memory */
	int		dead;
	int		lastq;		/* links: which queue the last frame written came from */
	int		unserved;	/* the peer sent requests nothing serves (logged once) */
	long long	lastin;		/* ms: the last byte read */
	long long	pingat;		/* us: when the ping in flight was sent, 0 if none */
	long long	rttus;		/* us: the last ping's round trip, 0 if none came back */
	long long	born;		/* ms: accepted or dialed */
	Lis		*lis;		/* clients: the listener it came on */
	long		uid;		/* clients on unix sockets: the peer's uid and pid, else -1 */
	long		pid;
	long long	restoreat;	/* us: when its restore (-P) started */
	Timer		ka;		/* keep-alive */
	Timer		rever;		/* a refused Tversion is tried again */
	int		verbackoff;
	Conn		*dnext;		/* dirty list */
	Conn		*next;		/* all connections */
	Conn		*prev;
};

/* An address kept dialed: UPSTREAM, or the EXPORT of -e. */
struct Dialer {
	const char	*addr;
	const char	*what;		/* "upstream", "export": in log lines */
	Nmup		*u;		/* what its channel serves */
	Nmup		*serves;	/* what serves the requests its peer sends back (the export's), or NULL */
	Conn		*conn;
	Timer		retry;
	Timer		hold;		/* how long clients wait for a dial under way */
	Timer		persist;	/* -P: how long sessions wait for a restore */
	int		backoff;	/* ms */
	int		dialing;	/* a dial thread is running */
	int		failing;	/* dials failed since it was last up (the first failure is logged) */
	int		istls;
	int		everup;
	pid_t		pid;		/* exec! child of the last dial */
	long long	since;		/* ms: when it was last dialed, found up or lost */
	uint64_t	ups;		/* times its channel came up */
	Dialer		*then;		/* dialed once this one's first dial is done (EXPORT before UPSTREAM) */
};

/* A peer that dialed us (-l), by name once links have names; unnamed, one per connection. */
struct Link {
	char		*name;
	Nmup		*u;		/* what -r clients over it are served by */
	Conn		*conn;		/* NULL while it is down */
	long long	upat;		/* ms it came up: -r without a name takes the latest */
	long long	since;		/* ms: when it last came, went up or went down */
	Timer		persist;	/* -P: how long its -r clients wait for the peer to link again */
	Link		*next;
};

/* What the parts share. */
extern struct G {
	Nmux		*m;
	Nmconf		conf;
	int		ep;
	Lis		lis[MAXLISTEN];
	int		nlis;
	Conn		*conns;
	int		nclients;
	Conn		*dirty;
	Conn		*graveyard;
	Conn		*batch;		/* clients to write in one call */
	Conn		*ready;		/* edge-triggered clients with more to read */
	Conn		*pkhead;	/* clients with bytes peeked, oldest first */
	Conn		*pktail;
	int		peekon;
	Dialer		up;		/* UPSTREAM */
	Dialer		ex;		/* EXPORT (-e), when ex.addr */
	Link		*links;
	Tlsopts		tlsopts;	/* -S, -C, -K, -R, -H, -z */
	Tlsconf		*tls;		/* for tls! addresses */
	int		cover;		/* -Z, ms; 0: off */
	Nmup		*nolink;	/* -r clients when no link is up */
	int		maxclients;
	int		keepalive;	/* -k, seconds; 0: off */
	int		failfast;	/* -F */
	int		persist;	/* -P, seconds; 0: off */
	size_t		maxbytes;	/* -B */
	size_t		bigbytes;	/* client buffers beyond BUFSZ, counted against -B */
	Conn		*memwaiters;
	uint8_t		*spare[NSPARE];
	int		nspare;
	int		lispaused;	/* out of descriptors: not accepting until a client leaves */
	int		pinuser;
	int		stopping;	/* 1: answering what is in flight; 2: flushing and clunking */
	long long	stopdeadline;
	int		grace;		/* -g, seconds */
	int		sigfd;
	Ev		sigev;
	int		dialpipe[2];
	Ev		dialev;
	unsigned	nextid;		/* for connections that are no client */
} g;

/* main.c */
/* Milliseconds on the monotonic clock. */
long long now(void);
/* Log and exit 1. */
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Watch fd for events, reported with ev. */
int addev(int fd, Ev *ev, uint32_t events);
/* Change what fd is watched for, if it differs from *cur. */
void setev(int fd, Ev *ev, uint32_t *cur, uint32_t want);
/* The engine's trace callback (-D, and "debug on" in the control file). */
void trace(void *arg, unsigned id, int where, const uint8_t *f, size_t n, int dialect);

/* conn.c */
/* A new connection on fd (non-blocking), on the list and watched for input; NULL (fd closed) if out of memory. */
Conn *connnew(int fd, int role);
/* Read what fd has, and feed it to the engine. */
void connin(Conn *c);
/* Write what c's queues hold and set what it is watched for. */
void connout(Conn *c);
/* c goes on the list of connections with work to do. */
void markdirty(Conn *c);
/* Feed c's buffered input to the engine again, which woke it. */
int connfeed(Conn *c);
/* c is closed; its sessions end, its channel goes down; freed after the loop turn. */
void closeconn(Conn *c, const char *why);
/* The engine's wake callback. */
void wake(void *aux, int what);
/* Clients waiting for memory under -B that now fit are read again. */
void memwake(void);
/* Free what closeconn left for after the loop turn. */
void reapconns(void);
/* Whether nothing is in flight and every reply is written. */
int quiet(void);
/* Set what c is watched for, from what it waits for. */
void connwant(Conn *c);
/* The clients on g.ready, which have more than they were read for, taken off it. */
Conn *readytake(void);
/* Read them: once a turn has gone by, whose replies are written. */
void readyin(Conn *list);

/* buf.c */
/* The capacity that gives need more bytes after len: BUFSZ, doubled, or just enough past BUFSZ. */
size_t bufcap(size_t cap, size_t len, size_t need);
/* What a buffer of cap bytes counts against the memory budget. */
size_t bufextra(size_t cap);
/* Make b n bytes long (n from bufcap: never shorter than it is), a spare if one fits: 0, or -1. */
int bufgrow(Buf *b, size_t n);
/* The bytes still to come of the frame begun in b, if its size is known and within limit; else 0. */
size_t bufrest(const Buf *b, uint32_t limit);
/* Free b's bytes, or keep them as a spare. */
void buffree(Buf *b);
/* Append n bytes to b: 0, or -1 if out of memory. */
int bufadd(Buf *b, const uint8_t *p, size_t n);

/* batch.c */
/* Write clients with io_uring (ring), and read unix clients by peeking (peek). */
void batchinit(int ring, int peek);
void batchend(void);
/* c, a new client: read by peeking if it can be. */
void peekstart(Conn *c);
/* c's peeked bytes are no longer waited for (it is closing). */
void peekunlink(Conn *c);
/* A client's read: as connread, peeking when c does, with *n lowered to what was asked. */
ssize_t clientread(Conn *c, uint8_t *p, size_t *n, const char **why);
/* Take the peeked bytes that are due: the ms until the next are, or -1. */
int peekdue(void);
/* Whether c's replies go in the loop turn's one call. */
int batchable(Conn *c);
/* c's replies go in the loop turn's one call. */
void batchadd(Conn *c);
/* Make that call (or those calls). */
void batchflush(void);

/* listen.c */
/* Listen on addr in role (LCLIENT, LLINK, LREVERSE), for -r with linkname; exits on failure. */
void listen1(const char *addr, int mode, int role, const char *linkname);
/* Accept whoever waits on l. */
void acceptall(Lis *l);
/* Stop or go on accepting on every listener. */
void lispause(int pause);
/* Close every listener and remove its unix socket. */
void unlinkall(void);

/* upstream.c */
/* Set up d to keep addr dialed for u; serves is what serves the peer's requests back. */
void dialerinit(Dialer *d, const char *addr, const char *what, Nmup *u, Nmup *serves);
/* Dial d now, in a thread (blocking with -F). */
void dialstart(Dialer *d);
/* A dial thread's result is in the pipe. */
void dialed(void);
/* d's connection is gone (why): its channel goes down, and d redials. */
void dialerlost(Dialer *d, const char *why);
/* With -F: dial the upstream and wait for its Rversion, blocking; exit 1 if either fails. */
void dialfirst(Dialer *d);
/* c's channel is ready: log it, and reset its dialer's backoff. */
void chanready(Conn *c);
/* Sessions wait for d's restore no longer (-P): they fail now. */
void persistend(Dialer *d);
/* Stopping: what waits for a restore fails now, and a loss from now on is final. */
void persiststop(void);
/* Reap exec! children. */
void reap(void);

/* link.c */
/* c is a link accepted on a -l listener, from a peer named name ("" or NULL: none): its session and channel. */
int linkaccept(Conn *c, const char *name);
/* The link c is gone. */
void linkgone(Conn *c);
/* What a client accepted on -r listener l is served by. */
Nmup *linkroute(Lis *l);
/* The link for -r NAME=, made (down) at start. */
Link *linknamed(const char *name);
/* Links' clients stop waiting for their peers (SIGTERM). */
void linkpersiststop(void);
/* c has a channel: keep it alive (-k) and watch its version. */
void keepstart(Conn *c);
/* c's channel was refused its Tversion (err): try again on the same connection, later. */
void reversion(Conn *c, const char *err);
/* The engine's note callback. */
void note(void *aux, int what, const char *msg);

/* secure.c */
/* The TLS configuration for the roles tls! addresses need; exits if it cannot be made. */
void tlssetup(int dialing, int listening);
/* Read keys and certificates again (SIGHUP); logs the outcome. */
void tlsreloadall(void);
/* Start TLS on c (side TLS_DIAL with the dial string addr, or TLS_LISTEN): 0, or -1 and c is closed. */
int tlsstart(Conn *c, int side, const char *addr);
/* One step of c's handshake, on an event of its descriptor. */
void tlsstep(Conn *c);
/* Read up to n bytes: the count, 0 at the end, RBLOCK, or RERR with *why. */
ssize_t connread(Conn *c, uint8_t *p, size_t n, const char **why);
/* Write the iovecs: bytes taken (0 if the socket takes nothing now), or -1 with errno (see connerr). */
ssize_t connwritev(Conn *c, const struct iovec *iov, int n);
/* Send what TLS still holds: 0, or -1 if the connection failed. */
int connflushtls(Conn *c);
/* Why c's last write failed. */
const char *connerr(Conn *c);
/* c's TLS, if any, ends with it. */
void tlsend(Conn *c);
/* Cover traffic on c, a connection we send requests on (-Z). */
void coverstart(Conn *c);
/* ctl.c */
/* Start counting (the time 9mux started); the tree is served once a -x listener accepts. */
void ctlinit(void);
/* The client c was accepted on l (descriptor fd): counted, and its peer noted. */
void ctlclient(Conn *c, Lis *l, int fd);
/* A client was refused: -c clients were there already. */
void ctlrefused(void);
/* The server of the tree, made at the first call; NULL if out of memory. */
struct Synfs *ctlfs(void);
/* Free it. */
void ctlfsfree(void);

/* ctlconn.c */
/* A connection accepted on the -x listener l. */
void ctlaccept(Lis *l, int fd);
/* Events on a control connection. */
void ctlevent(Ev *ev, uint32_t events);
/* The server's wake callback: a connection may take input again. */
void ctlwake(void *aux, int what);
/* Close the control connections and free the tree. */
void ctlfree(void);

/* sd.c */
/* Take the listeners systemd passed (LISTEN_FDS) into g.lis, and note NOTIFY_SOCKET; how many; the variables are unset. */
int sdlisten(void);
/* Tell the service manager (NOTIFY_SOCKET) state, as "READY=1"; nothing if none listens. */
void sdnotify(const char *state);
/* The role a LISTEN_FDNAMES name of len bytes gives, 0 for none or an unknown one; for "reverse=NAME", NAME in link. */
int sdrole(const char *name, size_t len, char *link, size_t linklen);

/* stop.c */
/* SIGTERM (sig): stop accepting, let what is in flight finish for -g s. */
void stopstart(int sig);
/* While stopping, each loop turn: whether 9mux may exit now (nothing of it left upstream, or out of time). */
int stopped(void);

/* openfd.c */
/* Send c->fdnext's descriptor: 1 if done with it, 0 to try again when c is writable. */
int fdsend(Conn *c);
/* The engine's fdevent callback. */
void fdevent(void *aux, int what, const uint8_t *p, size_t n);
/* An event of a descriptor's pair. */
void fdcio(Ev *ev, uint32_t events);
/* Free the pairs closed this loop turn. */
void fdcreap(void);

/* timer.c */
/* Run t->fn at when (ms); a pending t is moved. */
void timerset(Timer *t, long long when);
/* t will not run. */
void timerdel(Timer *t);
/* Run the timers that are due; the ms until the next, or -1. */
int timerrun(void);
