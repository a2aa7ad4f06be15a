/*
 * ninemux.h - the 9mux session engine.
 *
 * The engine does no I/O.  The daemon feeds it the bytes it reads from
 * a client or from an upstream connection; the engine translates tags
 * and fids and appends whole frames to output queues (one per session,
 * one per upstream channel) that the daemon drains with writev.
 *
 * An upstream (Nmup) is what sessions are served by: a server, or a
 * peer over a link, reached through a channel that may come and go.
 * A channel (Nmchan) is one connection requests are sent on: it owns
 * the upstream tag and fid spaces, the dialect and the msize.  A
 * session (Nmsess) is one client, or a peer's requests over a link:
 * its own tag and fid spaces, each of its fids bound to a channel.
 * Any session can be served by any upstream.
 *
 * Nothing here blocks or prints; all memory is the engine's own.
 */
#ifndef NINEMUX_H
#define NINEMUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct Nmux Nmux;
typedef struct Nmup Nmup;
typedef struct Nmconf Nmconf;
typedef struct Nmchan Nmchan;
typedef struct Nmsess Nmsess;
typedef struct Nmreq Nmreq;
typedef struct Nmfid Nmfid;
typedef struct Nmmsg Nmmsg;
typedef struct Nmq Nmq;
typedef struct Nmstats Nmstats;
typedef struct Nmfd Nmfd;
typedef struct Nmsessstats Nmsessstats;
typedef struct Nmchaninfo Nmchaninfo;

/* What a wake callback reports about a session or channel. */
enum {
	NM_WOUT	= 1,	/* its output queue is no longer empty */
	NM_WIN	= 2,	/* it may take input again (call the input function) */
};

/* Where a traced frame is going. */
enum {
	NM_TCIN	= 1,	/* client -> 9mux, as the client sent it */
	NM_TUP,		/* 9mux -> upstream, translated */
	NM_RUP,		/* upstream -> 9mux, as the server sent it */
	NM_RCOUT,	/* 9mux -> client, translated */
};

/* Flags of nmupnew. */
enum {
	NM_UPANY = 1,	/* take whichever dialect the server answers */
	NM_UPSTRICT = 2,	/* a reply to no request in flight ends the stream (nmchanin fails) */
};

/* Events told through Nmconf.note, each worth a log line. */
enum {
	NM_NPONG = 1,	/* a channel's ping was answered (aux: the channel's) */
	NM_NRESET,	/* a session was reset; msg says why (aux: the session's) */
	NM_NDIALECT,	/* a session did not get the dialect it asked; msg says why (aux: the session's) */
	/*
	 * Reconnect (nmuppersist), each with its counts in msg.  aux is the
	 * channel's concerned, or NULL for NM_NGIVEUP while there is none.
	 */
	NM_NLOST,	/* a persisting upstream's channel was lost: what waits, what failed */
	NM_NRESTORE,	/* its new channel is versioned: restore starts */
	NM_NRESTORED,	/* restore finished: fids restored and dead, requests replayed and failed */
	NM_NGIVEUP,	/* nmupgiveup: what waited failed, as without persist */
};

/* What Nmconf.fdevent tells of a descriptor of Topenfd. */
enum {
	NM_FDDATA = 1,	/* nmfdread's bytes; none at the end of the file */
	NM_FDWROTE,	/* nmfdwrite's bytes were written: n of them */
	NM_FDERROR,	/* the file failed, or the upstream is gone: close it */
};

/* Channel states. */
enum {
	NM_CVERSION = 1,	/* Tversion sent, waiting for Rversion */
	NM_CREADY,
	NM_CDOWN,		/* lost; kept only while sessions name it */
	NM_CREFUSED,		/* its Tversion was refused: take it down, and try a new one */
	NM_CRESTORE,		/* versioned, re-creating the fids of a lost channel: clients wait */
};

struct Nmconf {
	uint32_t	msize;		/* msize asked of the upstream */
	int		dialect;	/* P9_2000, P9_2000U or P9_2000L asked of the upstream */
	int		maxfids;	/* per session */
	int		maxreqs;	/* requests in flight per session */
	int		maxtags;	/* upstream tags in flight (1..65535, default 65535); more requests wait */
	/*
	 * Bytes one session may hold in 9mux: its accepted requests, each
	 * counted with the largest reply it can cause, and its replies not
	 * yet written.  Past it the session's input waits.  0: four times
	 * its msize, at least 1 MiB.
	 */
	size_t		sessbytes;
	/*
	 * The same over all sessions: past it a session's input waits until
	 * memory frees; only a request that could never fit is refused.
	 * 0: 256 MiB.
	 */
	size_t		maxbytes;
	/*
	 * Unsent bytes in the upstream queue past which client requests
	 * wait in 9mux, the sessions taking turns by deficit round robin.
	 * 0: 64 KiB.
	 */
	size_t		upqbytes;
	/*
	 * Largest piece of a transfer upstream, so that one client's large
	 * transfers interleave with others' requests: a Tread or Twrite of
	 * an open plain file asking more goes upstream as pieces of this
	 * size (a quarter of it, 8 KiB at least, if other sessions are at
	 * work when it comes), their replies joined into one for the
	 * client (opens report the client's msize as iounit); other reads
	 * (directories, Treaddir) are cut to it, and report it.  0: nothing
	 * is cut or split, the msize is the only limit.
	 */
	uint32_t	iounit;
	/*
	 * Pieces of one split transfer upstream at once: more keeps a
	 * server busier, fewer keeps other clients' requests nearer the
	 * front of its queue.  0: 2.  Only while the transfer is alone:
	 * beside other sessions' requests its pieces go one at a time.
	 */
	int		pieces;
	/* Called when a queue fills or a blocked session can go on; aux is the session's or channel's. */
	void		(*wake)(void *aux, int what);
	/* When set, called for every frame: sessid 0 is an internal request of 9mux. */
	void		(*trace)(void *arg, unsigned sessid, int where, const uint8_t *frame, size_t len, int dialect);
	void		*tracearg;
	/* Topenfd: told what became of a descriptor's request (NM_FD*), with nmfdsetaux's aux. */
	void		(*fdevent)(void *aux, int what, const uint8_t *data, size_t n);
	/* When set, told of events (NM_N*): aux is the session's or channel's, msg a sentence or NULL. */
	void		(*note)(void *aux, int what, const char *msg);
};

/*
 * Counters, for logs and 9mux's control tree: plain additions where the
 * engine already is, never a lock or a format; read them as they are.
 */
struct Nmstats {
	uint64_t	treqs;		/* client requests accepted */
	uint64_t	localerr;	/* requests 9mux refused itself */
	uint64_t	upsent;		/* frames sent upstream */
	uint64_t	upreplies;	/* replies from upstream */
	uint64_t	stray;		/* upstream replies with a tag not in flight */
	uint64_t	flushes;	/* Tflush sent upstream */
	uint64_t	clunks;		/* Tclunk 9mux sent for fids left behind */
	uint64_t	sessions;	/* sessions ever made */
	uint64_t	overbudget;	/* requests refused: larger than the total memory budget */
	uint64_t	memwaits;	/* times a session waited for room in the total budget */
	uint64_t	tmsgs;		/* T-messages sessions sent: every whole frame taken, Tversion and Tflush included, refused or not */
	uint64_t	bytesin;	/* their bytes */
	uint64_t	rmsgs;		/* replies written to sessions: whole frames, counted by nmqadvance */
	uint64_t	rerrors;	/* of them, Rerror or Rlerror, from 9mux or from upstream */
	uint64_t	bytesout;	/* bytes written to sessions, counted by nmqadvance */
	uint64_t	toomanyfids;	/* requests refused: their session held Nmconf.maxfids fids */
	/* reconnect (nmuppersist) */
	uint64_t	losses;		/* channels lost while sessions persisted */
	uint64_t	restores;	/* restores finished */
	uint64_t	fidsrestored;	/* fids re-created on a new channel */
	uint64_t	fidsdead;	/* fids that could not be: each later use gets an error */
	uint64_t	replayed;	/* requests in flight at a loss, sent again */
	uint64_t	unknown;	/* requests in flight at a loss answered "outcome unknown" */
	uint64_t	restoremsgs;	/* frames restores sent */
};

/* A session's share of the Nmstats counters of the same names. */
struct Nmsessstats {
	uint64_t	tmsgs;
	uint64_t	bytesin;
	uint64_t	rmsgs;
	uint64_t	rerrors;
	uint64_t	bytesout;
};

/* What a channel holds upstream now (nmchaninfo). */
struct Nmchaninfo {
	int		tags;		/* upstream tags in use: requests queued or sent, 9mux's own included */
	int		waiting;	/* requests waiting for a tag or for their session's turn */
	uint32_t	fids;		/* upstream fids in use, including those whose clunk is not answered */
	size_t		queued;		/* bytes queued for the connection, not yet written */
};

/* One frame, or the unsent rest of one, in an output queue. */
struct Nmmsg {
	Nmmsg		*next;
	Nmmsg		*prev;
	Nmreq		*req;		/* upstream queue: the request it carries */
	Nmfd		*fd;		/* a client's Ropenfd: the descriptor to send after it (see nmsessopenfd) */
	uint32_t	len;
	uint32_t	off;		/* bytes already written */
	uint8_t		data[];
};

struct Nmq {
	Nmmsg		*head;
	Nmmsg		*tail;
	size_t		bytes;		/* unsent bytes */
	size_t		n;
	Nmsess		*sess;		/* a session's queue: its bytes count against its budget */
	Nmchan		*chan;		/* a channel's queue: as it drains, waiting requests go */
};

/* A new engine with conf copied (NULL gives the defaults); NULL if out of memory. */
Nmux *nmnew(const Nmconf *conf);

/* Free the engine, its channels and sessions. */
void nmfree(Nmux *m);

/* The engine's counters. */
const Nmstats *nmstats(Nmux *m);

/* Requests of clients still waiting for their reply, over all sessions. */
size_t nminflight(Nmux *m);

/* Bytes counted against the memory budget, over all sessions (see Nmconf.maxbytes). */
size_t nmbytes(Nmux *m);

/*
 * Set the trace callback of Nmconf (NULL: none) at run time, so that
 * tracing costs nothing until it is asked for.
 */
void nmtrace(Nmux *m, void (*trace)(void *arg, unsigned sessid, int where, const uint8_t *frame, size_t len, int dialect), void *arg);

/*
 * A new upstream, whose channels ask msize and dialect in their
 * Tversion (with NM_UPANY in flags, taking any dialect answered).
 * Until it has a ready channel, sessions it serves are answered
 * Tversion from these, and their attaches get an error (nmupwhy).
 * NULL if out of memory.  nmnew makes one from its configuration.
 */
Nmup *nmupnew(Nmux *m, uint32_t msize, int dialect, int flags);

/* The upstream nmnew made, which nmchannew and nmsessnew use. */
Nmup *nmdefup(Nmux *m);

/* Free u and take down its channel; the sessions it served are served by nothing. */
void nmupfree(Nmup *u);

/* What an attach is told while u has no ready channel (at most 127 bytes are kept). */
void nmupwhy(Nmup *u, const char *why);

/*
 * While on, u is being reached (a dial or its Tversion under way): the
 * sessions it serves that have no channel wait, Tversion included,
 * instead of being answered from the flags or refused.  Off, they go on.
 */
void nmupwait(Nmup *u, int on);

/* u's channel, or NULL. */
Nmchan *nmupchan(Nmup *u);

/*
 * Reconnect.  With on, when u's ready channel is lost its sessions
 * stay: their fids wait to be restored, the requests in flight that
 * are safe to repeat wait to be sent again (the others get one error,
 * their outcome unknown), and new requests wait (within the usual
 * limits).  The next channel of u, once versioned, re-attaches,
 * re-walks and re-opens every fid (NM_CRESTORE) before it is ready;
 * a fid that cannot be restored is dead.  Off (the default), a loss
 * fails everything at once.
 */
void nmuppersist(Nmup *u, int on);

/* Whether u's sessions wait for a restore: from a loss until a restore finishes or nmupgiveup. */
int nmuplost(Nmup *u);

/*
 * Stop waiting: what waits for u's restore fails as if u did not
 * persist (a restore under way is abandoned, its channel made ready).
 */
void nmupgiveup(Nmup *u);

/*
 * A new channel of u, which takes the place of u's old one (taken
 * down): its Tversion is queued at once.  aux is passed to the wake
 * and note callbacks.  NULL if out of memory.
 */
Nmchan *nmchannewup(Nmup *u, void *aux);

/* nmchannewup of the default upstream. */
Nmchan *nmchannew(Nmux *m, void *aux);

/*
 * Send a ping on c: a Tflush whose tag and oldtag are both unused,
 * which any correct server answers at once; the answer is told as
 * NM_NPONG.  0, or -1 if c is not ready or a ping is in flight.
 */
int nmchanping(Nmchan *c);

/* The upstream c belongs to. */
Nmup *nmchanup(Nmchan *c);

/*
 * Feed len bytes read from the channel's connection: the bytes consumed
 * (whole frames; keep the rest and feed it again with more), or -1 when
 * the stream can no longer be trusted: then call nmchandown.  When the
 * server refuses its Tversion, the channel is NM_CREFUSED, takes no more
 * and err says why: take it down, and a new channel may try again on
 * the same connection.  err gets the reason.
 */
long nmchanin(Nmchan *c, uint8_t *buf, size_t len, char *err, size_t errlen);

/* The channel's state (NM_CVERSION, NM_CRESTORE, NM_CREADY, NM_CDOWN, NM_CREFUSED). */
int nmchanstate(Nmchan *c);

/* The channel's negotiated msize and dialect (valid once ready). */
uint32_t nmchanmsize(Nmchan *c);
int nmchandialect(Nmchan *c);

/*
 * The connection is gone: every request in flight on it is answered
 * with an error, its sessions' fids are dropped, and those sessions get
 * errors until they send Tversion again; unless its upstream persists
 * (nmuppersist), when they wait for the next channel instead.  The
 * channel is freed; do not use c afterwards.
 */
void nmchandown(Nmchan *c);

/* The channel's output queue: frames to write upstream. */
Nmq *nmchanq(Nmchan *c);

/*
 * Fill *i with what c holds upstream now.  O(requests waiting): for a
 * snapshot, or to know when a channel is idle (tags and waiting 0),
 * not for every message.
 */
void nmchaninfo(Nmchan *c, Nmchaninfo *i);

/*
 * A new session served by u (NULL: by nothing, so its Tversion gets an
 * error); aux is passed to the wake and note callbacks.  NULL if out
 * of memory.
 */
Nmsess *nmsessnewup(Nmux *m, Nmup *u, void *aux);

/* nmsessnewup with the default upstream. */
Nmsess *nmsessnew(Nmux *m, void *aux);

/*
 * Keep s through the loss of its upstream's channel: its requests get
 * errors and its fids die, but the session stays, and serves attaches
 * again once a channel is back, without a new Tversion (a link's).
 */
void nmsesskeep(Nmsess *s);

/* The session's id, as in traces. */
unsigned nmsessid(Nmsess *s);

/*
 * Pin the uname (and, in .u and .L, n_uname) of every Tauth and
 * Tattach of the session.  0, or -1 if the name is too long.
 */
int nmsesspin(Nmsess *s, const char *uname, uint32_t uid);

/*
 * Feed len bytes read from the client: bytes consumed, which may be
 * fewer than the whole frames given when the session must wait (too
 * many requests in flight, its memory budget full, a version reset
 * draining, the upstream still negotiating): the engine calls wake(NM_WIN) when it can go on.
 * -1 when the stream can no longer be trusted: call nmsessclose.
 */
long nmsessin(Nmsess *s, uint8_t *buf, size_t len, char *err, size_t errlen);

/*
 * After nmsessin stopped short of len: handle the Tflushes among the
 * whole frames left in buf (a flushed request still there is taken out
 * too and answered Rflush), so a waiting client can still flush.  The
 * frames handled leave buf; its new length is returned.
 */
size_t nmsessflushes(Nmsess *s, uint8_t *buf, size_t len);

/* Largest frame the session accepts now: its msize, or at most 8192 before its Tversion is answered. */
uint32_t nmsessmsize(Nmsess *s);

/* Whether the session waits for room in the total memory budget (Nmconf.maxbytes). */
int nmsessmemwait(Nmsess *s);

/* Requests of the session in flight. */
int nmsessinflight(Nmsess *s);

/* Bytes of the session counted against its budget (see Nmconf.sessbytes). */
size_t nmsessbytes(Nmsess *s);

/* The session's counters. */
const Nmsessstats *nmsessstats(Nmsess *s);

/* Fids the session holds, those its pending requests would create included. */
int nmsessfids(Nmsess *s);

/*
 * Put in names (at most max) each distinct uname of the attaches the
 * session's live fids descend from (the pinned name when pinned): the
 * count.  The strings are the engine's, valid until it is next called.
 * O(fids x max): for a snapshot, not for every message.
 */
int nmsessunames(Nmsess *s, const char **names, int max);

/*
 * The client hung up: its requests in flight are flushed upstream,
 * then its fids clunked.  The engine frees the session when that is
 * done; do not use s afterwards and expect no wake for it.
 */
void nmsessclose(Nmsess *s);

/* The session's output queue: frames to write to the client. */
Nmq *nmsessq(Nmsess *s);

/*
 * Topenfd, plan9port's 9pserve extension, for a client on a unix
 * socket: its Topenfd (9P2000) goes upstream as Topen, and on success
 * the client gets Ropenfd in a frame whose msg->fd is set: the daemon
 * sends a descriptor after that frame (SCM_RIGHTS), one end of a
 * socket pair whose other end it keeps, and moves the file's bytes
 * between it and nmfdread and nmfdwrite.
 */
void nmsessopenfd(Nmsess *s);

/* The mode the file was opened with: P9_OREAD, P9_OWRITE or P9_ORDWR. */
int nmfdmode(Nmfd *fd);

/* The most one nmfdread or nmfdwrite moves. */
uint32_t nmfdiounit(Nmfd *fd);

/* aux for Nmconf.fdevent; nothing is told of fd until it is set. */
void nmfdsetaux(Nmfd *fd, void *aux);

/* Read the file's next count bytes (told NM_FDDATA): 0, or -1 if a read is in flight or cannot be. */
int nmfdread(Nmfd *fd, uint32_t count);

/* Write n bytes (at most nmfdiounit) at the file's next offset (told NM_FDWROTE): 0, or -1. */
int nmfdwrite(Nmfd *fd, const uint8_t *p, size_t n);

/* The descriptor is done: the fid is clunked upstream once its requests end; do not use fd after. */
void nmfdclose(Nmfd *fd);

/* Fill at most max iovecs with the queue's unsent bytes: the count filled. */
int nmqiov(Nmq *q, struct iovec *iov, int max);

/* n bytes of the queue were written: drop them. */
void nmqadvance(Nmq *q, size_t n);

/* Whether the queue has nothing to write. */
int nmqempty(Nmq *q);

#endif
