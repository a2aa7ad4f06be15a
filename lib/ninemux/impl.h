/*
 * impl.h - the 9mux session engine's own declarations, shared by its
 * files and by nobody else (include/ninemux.h is the interface):
 *
 *	queue.c		output queues, spare frames, replies 9mux makes itself
 *	tags.c		upstream tags, the wire, sessions' tag tables
 *	fid.c		fids and their walk paths
 *	admit.c		requests, memory budgets, admission by deficit round robin
 *	request.c	a client's requests: translation, flush, version, attach
 *	sess.c		sessions: version answers, reset and hang-up drains
 *	nmux.c		the engine, upstreams and channels: made, looked at, freed
 *	chan.c		channels: Tversion, replies, flushes settled, upstream loss
 *	lose.c		reconnect: what a lost channel's sessions keep, requests to replay,
 *			giving up
 *	restore.c	reconnect: fids restored on the next channel, what was held sent
 *	split.c		large reads and writes sent as pieces, their replies joined
 *
 * Ordinary messages are forwarded by rewriting their tag and fid fields
 * in place (p9fidmap says where the fids are); only what the engine must
 * know is decoded.  Every request accepted from a client is an Nmreq
 * that lives until its final reply: in the session's tag table, in the
 * channel's tag array once it has an upstream tag.  Functions shared
 * between the files are named nm_*.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <stdarg.h>
#include <sanitizer/asan_interface.h>

#include "9p.h"
#include "ninemux.h"

enum {
	NTAGS		= 0xFFFF,	/* upstream tags 0..0xFFFE; 0xFFFF is NOTAG */
	NTAGS0		= 64,		/* a channel's tag tables at first */
	MAXPATH		= 16384,	/* a longer walk path is forgotten (reconnect cannot redo it) */
	MAXPIN		= 256,
	PREVERSION	= 8192,		/* largest frame before Tversion is answered */
	REPLYEST	= 256,		/* the reply counted for a request whose reply size is unknown */
	MINBUDGET	= 1024 * 1024,	/* least default budget of a session */
	DEFMAXBYTES	= 256 * 1024 * 1024,
	DEFUPQ		= 64 * 1024,	/* upstream queue past which requests wait their turn */
	SMALLMSG	= 512,		/* frames this size or smaller are recycled, not freed */
	MAXSPARE	= 1024,		/* recycled frames and requests kept at most */
	MINQUANTUM	= 8192,		/* bytes a session may send per turn, at least */
	LOCKALL		= 0x100,	/* Nmreq.omode of a Tlock of the whole file */
	RWINDOW		= 1024,		/* restore requests in flight at most */
	PIECEWIN	= 2,		/* default Nmconf.pieces */
	SHAREDCUT	= 4,		/* a split made beside other clients cuts pieces this much smaller */
	MINPIECE	= 8192,		/* but not below this */
	LOCREAT		= 0100,		/* 9P2000.L open flags, as Linux spells them */
	LOEXCL		= 0200,
	LOTRUNC		= 01000,
	LOAPPEND	= 02000,
};

/* Session states. */
enum {
	SNEW = 1,	/* no version yet, or "unknown" answered */
	SREADY,
	SDRAIN,		/* hang-up or Tversion: waiting for its requests to end */
	SDEAD,		/* its channel was lost: errors until a new Tversion */
};

/* Request states. */
enum {
	RHELD = 1,	/* accepted, waiting in its session's queue for admission */
	RWAIT,		/* 9mux's own or a flush, waiting for an upstream tag */
	RQUEUED,	/* tagged and in the channel's queue, not written yet */
	RSENT,		/* written (at least partly): only a reply or Rflush ends it */
	RSPLIT,		/* sent as pieces, which end it (split.c); or a client's Tflush waiting for them */
};

/* Fid states. */
enum {
	FPEND = 1,	/* its creating request is in flight */
	FLIVE,
	FGONE,		/* out of the session's table */
};

/* Fid flags, for reconnect. */
enum {
	FFDEAD		= 0x01,	/* could not be restored: every use is an error */
	FFAUTH		= 0x02,	/* an auth fid, or walked from an attach that used one */
	FFXATTR		= 0x04,	/* made by Txattrwalk or Txattrcreate */
	FFRCLOSE	= 0x08,	/* opened ORCLOSE: the server removed the file at the loss */
	FFEXCL		= 0x10,	/* open on an exclusive-use (DMEXCL) file */
	FFLOCK		= 0x20,	/* holds a 9P2000.L lock, which the loss released */
	FFDIRRESET	= 0x40,	/* a directory opened again by a restore: read from 0 first */
	FFMARK		= 0x80,	/* gathered by the restore under way */
	/* what no restore can bring back */
	FFNORESTORE	= FFAUTH | FFXATTR | FFRCLOSE | FFEXCL | FFLOCK,
	/* what a walk passes on to its newfid */
	FFINHERIT	= FFAUTH,
};

/* Errors 9mux answers itself, with the Linux errno for .u and .L. */
enum {
	EUNKFID, EFIDINUSE, EBADFID, ETAGINUSE, ETYPE, EBADMSG, ENOVERS,
	EUPLOST, EUPNONE, ETOOMANYFIDS, EBIGREPLY, ENOMEM_, EPIN, EINTR_, EBUDGET,
	EUPWAIT, ERESET, ENOSERV, EFIDDEAD, EUNKNOWN, EDIROFF, EGIVEUP,
};

typedef struct Nmerr Nmerr;
typedef struct Nmrestore Nmrestore;
typedef struct Nmcount Nmcount;
typedef struct Nmsplit Nmsplit;

/* What a loss and its restore did, for the notes. */
struct Nmcount {
	int		sessions;	/* kept */
	int		fids;		/* waiting to be restored */
	int		replay;		/* requests in flight kept to be sent again */
	int		unsent;		/* requests not yet written, kept to be sent */
	int		unknown;	/* answered "outcome unknown" */
	int		answered;	/* flushes and clunks answered at once */
	int		restored;	/* fids */
	int		dead;		/* fids */
	int		failed;		/* requests that waited, failed at the end (dead fid, directory offset) */
	int		msgs;		/* restore frames sent */
};
struct Nmerr {
	const char	*s;
	uint32_t	errnum;
};

/* The text of each error 9mux answers itself, and its Linux errno for .u and .L. */
extern const Nmerr nm_errtab[];

/* An attach, shared by every fid walked from it: what reconnect redoes first. */
typedef struct Nmroot Nmroot;
struct Nmroot {
	int		ref;
	uint32_t	nuname;		/* n_uname of .u and .L, else P9_NOFID */
	char		*uname;
	char		*aname;
};

struct Nmfid {
	Nmux		*m;
	Nmfid		*hnext;		/* session's fid table */
	Nmsess		*sess;
	Nmchan		*chan;
	uint32_t	cfid;
	uint32_t	ufid;
	int		state;
	int		ref;
	int		omode;		/* -1 until opened: for reconnect */
	uint8_t		qtype;		/* of the file it names, from the replies that give it */
	uint8_t		flags;		/* FF* */
	Nmroot		*root;		/* the attach it descends from */
	char		*path;		/* walked from the attach, "/"-separated; NULL if unknown */
	uint64_t	qpath;		/* what a restore checks it reached */
};

struct Nmreq {
	Nmux		*m;
	Nmsess		*sess;		/* NULL: 9mux's own (clunks), or a zombie */
	Nmchan		*chan;
	uint8_t		type;
	uint16_t	ctag;
	uint16_t	utag;
	int		state;
	int		hashed;		/* in the session's tag table: a client waits for it */
	int		orphan;		/* the client will get no reply */
	int		zombie;		/* finished, tag kept while flushes of it are in flight */
	int		admitted;	/* counted in its session's nadm */
	int		cflush;		/* a client's Tflush, counted in nflush */
	int		resolve;	/* 9mux's Tflush settling a request whose flush was flushed */
	int		ping;		/* 9mux's keep-alive Tflush */
	int		owes;		/* once settled, its client gets Rflush owetag (the flush of it 9mux settled) */
	uint16_t	owetag;
	int		openfd;		/* a client's Topenfd, sent as Topen */
	Nmfd		*fdio;		/* a read or write of a Topenfd descriptor */
	size_t		cost;		/* bytes counted against its session's budget */
	Nmreq		*hnextq;	/* session's held queue */
	Nmmsg		*msg;		/* the frame while not written */
	Nmfid		*newfid;	/* created on success */
	Nmfid		*fid;		/* the fid it acts on, for bookkeeping */
	Nmfid		*fid2;		/* the second fid it uses (Trename, Tlink, Trenameat) */
	Nmfid		*delfid;	/* destroyed whatever the reply */
	uint16_t	nwname;
	int		inplace;	/* Twalk with newfid == fid */
	char		*newpath;	/* fid's path on success (walk in place, create) */
	int		omode;		/* Topen, Tcreate...: the mode; Tlock: its type, | LOCKALL for the whole file */
	uint8_t		replay;		/* safe to send again after a loss: its frame is kept once written */
	uint8_t		flushed;	/* a loss found a client's Tflush of it in flight */
	Nmmsg		*keep;		/* the frame written, kept for a replay */
	Nmrestore	*rs;		/* a restore's own request */
	int		rjob;		/* of rs: its job, or -1 - the root it attaches */
	Nmreq		*target;	/* Tflush: what it flushes */
	Nmreq		*flushers;	/* Tflushes of this request in flight */
	Nmreq		*nextflusher;
	Nmreq		*hnext;		/* session's tag table */
	Nmreq		*snext;		/* session's list, oldest first */
	Nmreq		*sprev;
	Nmreq		*wnext;		/* channel's list waiting for a tag */
	size_t		weight;		/* what admitting it takes from its session's turn: its cost, or a piece's share */
	/* split.c */
	Nmsplit		*split;		/* a client's Tread or Twrite sent as pieces */
	Nmreq		*parent;	/* a piece, or a client's Tflush waiting for the pieces: the split request */
	Nmreq		*pnext;		/* of such a Tflush: the next of the same split request */
	int		pidx;		/* of a piece: its place */
};

/* plan9port's 9pserve extension (openfd.c) */
enum {
	Topenfd = 98,
	Ropenfd,
};

/* A descriptor of Topenfd: the file of an upstream fid, read and written for the daemon. */
struct Nmfd {
	Nmux		*m;
	Nmfd		*next;		/* engine's list */
	Nmchan		*chan;
	Nmfid		*fid;
	void		*aux;
	int		mode;
	uint32_t	iounit;
	uint64_t	roff;		/* where the next read and write go */
	uint64_t	woff;
	Nmreq		*rreq;		/* in flight */
	Nmreq		*wreq;
	int		closing;	/* nmfdclose was called */
	int		telling;	/* inside fdevent */
	int		dead;		/* its channel went down */
};

struct Nmup {
	Nmux		*m;
	Nmup		*next;		/* engine's list */
	uint32_t	msize;		/* asked in its channels' Tversion */
	int		dialect;
	int		any;		/* NM_UPANY */
	int		strict;		/* NM_UPSTRICT */
	int		pending;	/* being reached: sessions without a channel wait (nmupwait) */
	Nmchan		*cur;		/* its channel, if any */
	char		why[128];	/* what an attach is told while it has no ready channel */
	/* upstream fid numbers, kept from one channel to the next */
	uint32_t	nextfid;
	uint32_t	*freefids;
	size_t		nfreefids;
	size_t		capfreefids;
	/* reconnect */
	int		persist;	/* nmuppersist */
	int		lost;		/* sessions wait for a restore */
	Nmcount		cnt;		/* since the loss */
};

struct Nmchan {
	Nmux		*m;
	Nmup		*up;
	void		*aux;
	int		pinging;	/* a ping is in flight */
	int		state;
	int		dialect;
	uint32_t	msize;
	Nmq		out;
	Nmsess		*sessions;	/* bound to this channel */
	Nmreq		*whead;		/* waiting for a tag */
	Nmreq		*wtail;
	Nmsess		*turns;		/* sessions with requests to admit, taking turns */
	int		pumping;
	uint32_t	quantum;
	uint32_t	nexttag;	/* tags from here up were never used */
	uint32_t	rhead;		/* freed tags, oldest first, so a tag rests before reuse */
	uint32_t	rcount;
	Nmrestore	*rs;		/* NM_CRESTORE: the restore under way (or abandoned, finishing) */
	Nmreq		**tags;		/* by upstream tag, below ntags */
	uint16_t	*ring;		/* ntags long */
	uint32_t	ntags;		/* grown as nexttag needs, up to -T: most channels use few */
};

struct Nmsess {
	Nmux		*m;
	Nmup		*up;		/* what serves it, NULL for nothing */
	Nmchan		*chan;		/* its upstream's channel it is bound to; NULL while it has none */
	Nmsess		*cnext;		/* channel's list */
	Nmsess		*cprev;
	Nmsess		*mnext;		/* engine's list */
	Nmsess		*mprev;
	void		*aux;
	unsigned	id;
	int		state;
	int		closing;
	int		blocked;
	int		indrain;	/* drainstart is walking the list: draincheck waits */
	int		keep;		/* nmsesskeep */
	int		openfd;		/* nmsessopenfd */
	Nmsessstats	st;
	int		persisting;	/* nmchandown is keeping it */
	int		waslost;	/* kept by a loss, waiting for the restore */
	int		deaderr;	/* SDEAD: the error its requests get */
	int		dialect;
	uint32_t	msize;
	Nmq		out;
	Nmreq		**tagtab;
	uint32_t	ntagb;
	int		ninflight;	/* requests in its list */
	Nmreq		*hqhead;	/* accepted but not admitted upstream, oldest first */
	Nmreq		*hqtail;
	int		nheld;
	Nmsess		*rnext;		/* its channel's ring */
	Nmsess		*rprev;
	int		inring;
	uint64_t	othmsgs;	/* others' T-messages when a split of it last looked (split.c) */
	int		turn;		/* this turn's quantum is in deficit */
	size_t		deficit;	/* bytes it may still send before its turn ends */
	int		nadm;		/* admitted requests (not flushes) */
	int		nflush;		/* client Tflushes in flight */
	size_t		reqbytes;	/* cost of its accepted requests */
	Nmfid		**fidtab;
	uint32_t	nfidb;
	int		nfids;
	Nmreq		*rhead;
	Nmreq		*rtail;
	/* the Tversion a reset answers once drained */
	uint16_t	vtag;
	uint32_t	vmsize;
	char		vers[64];
	size_t		nvers;
	int		pinned;
	char		pin[MAXPIN];
	uint32_t	pinuid;
	/* waiting for room in the total budget (Nmconf.maxbytes) */
	int		memwaiting;
	int		memgo;		/* woken: its next request goes ahead of those waiting */
	size_t		memcost;
	Nmsess		*mwnext;
};

struct Nmux {
	Nmconf		conf;
	Nmup		*ups;
	Nmup		*defup;
	Nmsess		*sessions;
	unsigned	nextid;
	size_t		inflight;
	size_t		reqbytes;	/* over all sessions: cost of accepted requests */
	size_t		outbytes;	/* and replies not yet written */
	Nmfd		*fds;		/* descriptors of Topenfd */
	Nmsess		*mwhead;	/* sessions waiting for room in the budget, oldest first */
	Nmsess		*mwtail;
	Nmstats		st;
	/* spares, so that small requests and replies allocate nothing once warm */
	Nmmsg		*sparemsg;
	int		nsparemsg;
	Nmreq		*sparereq;
	int		nsparereq;
	Nmfid		*sparefid;
	int		nsparefid;
	char		pathbuf[MAXPATH + 1];
};

/* queue.c */
void nm_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A frame holding a copy of data: a small one from the spares if there is one. */
Nmmsg *nm_msgnew(Nmux *m, const uint8_t *data, size_t len);
/* Small frames (allocated SMALLMSG long) go back to the spares. */
void nm_msgfree(Nmux *m, Nmmsg *g);
int nm_qput(Nmq *q, Nmmsg *g);
void nm_qunlink(Nmq *q, Nmmsg *g);
void nm_qfree(Nmq *q);
void nm_trace(Nmux *m, unsigned id, int where, const uint8_t *f, size_t n, int dialect);
void nm_sessput(Nmsess *s, const uint8_t *f, size_t n);
/* As nm_sessput: the frame queued, or NULL. */
Nmmsg *nm_sessputmsg(Nmsess *s, const uint8_t *f, size_t n);
/* An error of 9mux's own, in the session's dialect: msg, or errnum alone in 9P2000.L. */
void nm_rerrorstr(Nmsess *s, uint16_t tag, const char *msg, uint32_t errnum);
void nm_rerror(Nmsess *s, uint16_t tag, int e);
void nm_rflush(Nmsess *s, uint16_t tag);
void nm_rversion(Nmsess *s, uint16_t tag, uint32_t msize, const char *v);
/* A reply with no body (Rclunk), made by 9mux. */
void nm_rempty(Nmsess *s, uint16_t tag, uint8_t type);
/* A frame of len bytes to fill in: a small one from the spares if there is one. */
Nmmsg *nm_msgalloc(Nmux *m, size_t len);
void nm_unblock(Nmsess *s);
/* A T-message of n bytes was taken from s: counted for it and in total. */
static inline void
nm_countin(Nmsess *s, size_t n)
{
	s->st.tmsgs++;
	s->st.bytesin += n;
	s->m->st.tmsgs++;
	s->m->st.bytesin += n;
}

/* tags.c */
/* Room for n tags (at most NTAGS) in c's tables: 0, or -1 with them as they were. */
int nm_taggrow(Nmchan *c, uint32_t n);
/* The tag's final reply is in (or it never left): free it, and let a waiting request have it. */
void nm_tagfree(Nmchan *c, uint16_t t);
int nm_ufidalloc(Nmup *u, uint32_t *fid);
/* The number is free again (P9_NOFID is ignored). */
void nm_ufidfree(Nmup *u, uint32_t fid);
/* Put r on the wire: with a tag into the queue, else at the end of the wait list. */
void nm_chansend(Nmchan *c, Nmreq *r);
/* Take r out of its session's held queue. */
void nm_unhold(Nmsess *s, Nmreq *r);
/* Whether none of r has reached the wire yet. */
int nm_canunsend(Nmreq *r);
/*
 * A Tclunk or Tremove not yet sent is flushed, or its client left: the
 * client has given the fid up either way, so it is still clunked, in
 * its place (requests before it may use the fid), as a Tclunk (a
 * flushed Tremove must not remove) whose reply nobody waits for.
 */
void nm_keepclunk(Nmreq *r);
/* Take r back if none of it was written: 1 if it was. */
int nm_unsend(Nmreq *r);
Nmreq *nm_tagfind(Nmsess *s, uint16_t tag);
void nm_taginsert(Nmsess *s, Nmreq *r);
void nm_tagremove(Nmsess *s, Nmreq *r);

/* fid.c */
void nm_fidput(Nmfid *f);
Nmfid *nm_fidfind(Nmsess *s, uint32_t cfid);
/* A fid in no table holding upstream fid ufid (state FGONE, one reference); NULL if out of memory. */
Nmfid *nm_fidbare(Nmux *m, uint32_t ufid);
/* A pending fid in s's table with a fresh upstream fid; NULL when out of fids or memory. */
Nmfid *nm_fidnew(Nmsess *s, uint32_t cfid);
/* Take f out of its session's table (the client's number is free again); drops the table's reference. */
void nm_fidunlink(Nmfid *f);
char *nm_xstrndup(const char *s, size_t n);
/*
 * The path a walk of names (nwname counted strings at p, end e) from
 * base arrives at: "" is the attach root, ".." pops an element.
 * NULL if it is unknown, too long or out of memory.  Built in the
 * engine's scratch buffer, then copied once at its length.
 */
char *nm_pathwalk(Nmux *m, const char *base, const uint8_t *p, const uint8_t *e, int nwname);

/* admit.c */
/* The largest count a read of s may ask: its msize's, or the iounit 9mux lets through. */
uint32_t nm_readmax(Nmsess *s);
/* What the request frame f may hold in 9mux: itself and its largest reply. */
size_t nm_reqcost(Nmsess *s, const uint8_t *f, size_t n);
/* Whether a request of this type holds memory: all but those that free it, and Tversion. */
int nm_holdsmem(uint8_t type);
int nm_overtotal(Nmux *m, size_t cost);
/* s waits for room in the total budget: in line, woken by memwake. */
void nm_memblock(Nmsess *s, size_t cost);
void nm_memunlink(Nmsess *s);
/*
 * Memory was freed: wake the sessions waiting for it, first come first,
 * as many as fit together (one that then does not fit waits again).
 */
void nm_memwake(Nmux *m);
size_t nm_sessbudget(Nmsess *s);
/*
 * Whether s may take in a request costing cost: when it fits the
 * budget, or when nothing of s is held at all (a request bigger than
 * the budget must still go through, alone).
 */
int nm_sessroom(Nmsess *s, size_t cost);
Nmreq *nm_reqnew(Nmsess *s, Nmchan *c, uint8_t type, uint16_t ctag);
/* Free r's own memory and references; it is in no list any more. */
void nm_reqfree(Nmreq *r);
void nm_sessunlink(Nmreq *r);
/* r leaves its session's held queue for the wire. */
void nm_admitreq(Nmsess *s, Nmreq *r);
void nm_ringdel(Nmchan *c, Nmsess *s);
/* Send what the sessions in the ring hold, in their turns, while the upstream takes it. */
void nm_chanpump(Nmchan *c);
void nm_enqueue(Nmsess *s, Nmreq *r);
/* s may have a request to send: into its channel's ring, and send what the upstream takes. */
void nm_admit(Nmsess *s);
/* An internal Tclunk of f's upstream fid: it is freed when the reply comes. */
void nm_clunkfid(Nmchan *c, Nmfid *f);
/* Flush r upstream for nobody's sake (a hang-up, a piece of no use): 0, or -1 if out of memory. */
int nm_flushup(Nmsess *s, Nmreq *r);
/*
 * r has ended: out of its session, its upstream tag freed and r freed,
 * unless Tflushes naming its tag are still in flight: then the tag is
 * kept (a new request under it could be flushed by mistake) and r
 * lingers as a zombie until the last of them ends.
 */
void nm_reqdone(Nmreq *r);
/*
 * r ends without its reply: as far as anyone knows it never happened.
 * A fid it would have created was never made upstream; a fid it would
 * have destroyed may still be alive there, so it is clunked.
 */
void nm_undo(Nmreq *r);

/* request.c */
void nm_version(Nmsess *s, uint8_t *f, size_t n);

/* sess.c */
/* Which dialect a client asking for v (n bytes) gets from an upstream speaking ud, or -1. */
int nm_dialectfor(const char *v, size_t n, int ud);
/* s is served by channel c (NULL: by none) from now on. */
void nm_sessbind(Nmsess *s, Nmchan *c);
/* Answer the Tversion saved in s, binding it to the current channel. */
void nm_versionanswer(Nmsess *s);
/*
 * Start ending everything s has in flight: what is still inside 9mux
 * is dropped, what went upstream is flushed.  Clunks are not flushed
 * (the fid must go anyway), nor are flushes.  draincheck finishes.
 */
void nm_drainstart(Nmsess *s);
/* Once a draining session has nothing in flight: clunk its fids, then close it or answer its Tversion. */
void nm_draincheck(Nmsess *s);
void nm_sessfree(Nmsess *s);
/* Every request of s a client waits on is answered: a Tflush with Rflush, the rest with 9mux's error e. */
void nm_answerall(Nmsess *s, int e);

/* chan.c */
/* Free every request of s without touching the wire, and its fids. */
void nm_sessdrop(Nmsess *s);
/* Whether c can serve s, answered Tversion from another channel or none (its msize and dialect); told if not. */
int nm_sessfits(Nmsess *s, Nmchan *c);

/* openfd.c */
/* Whether f (n bytes) is a Topenfd s may send; if so it is a Topen now. */
int nm_isopenfd(Nmsess *s, uint8_t *f, size_t n);
/* r, a Topenfd, was answered Ropen f: the client gets Ropenfd and a descriptor. */
void nm_openfdreply(Nmsess *s, Nmreq *r, uint8_t *f, size_t n);
/* The reply to a descriptor's read or write. */
void nm_fdreply(Nmreq *r, const uint8_t *f, size_t n);
/* c is down: its descriptors fail. */
void nm_fdchandown(Nmchan *c);

/* lose.c */
/* Whether the request r (type, frame f of n bytes in dialect d) may be sent again after a loss. */
int nm_replayable(Nmreq *r, const uint8_t *f, size_t n, int d);
/* c is lost and its upstream persists: keep s, bound to it, for the next channel. */
void nm_losesess(Nmsess *s, Nmchan *c);
/* Tell what the loss of c (which was in state was) kept and failed. */
void nm_lostnote(Nmup *u, Nmchan *c, int was);
/* Whether s waits for a restore on an upstream u (ready, unbound, not closing). */
int nm_sesswaits(Nmsess *s, Nmup *u);
/* Free r, held or lost: a fid it would have made was never made; a flush it settled is answered. */
void nm_lostfree(Nmreq *r, Nmup *u);
/* Give the note (Nmconf.note) what of m's channel or session aux, formatted. */
void nm_note(Nmux *m, void *aux, int what, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The held Tclunks of s for fids nothing else uses are answered now: the loss clunked them. */
void nm_heldclunks(Nmsess *s, Nmup *u);
/* s waited for a restore that will not come: what it held fails with e, its fids go. */
void nm_failsess(Nmsess *s, Nmchan *c, int e);

/* restore.c */
/* c, being taken down, was restoring: that restore ends, to start again on the next channel. */
void nm_restoreabort(Nmchan *c);
/* c is versioned and its upstream lost sessions: restore them (c is NM_CRESTORE until done). */
void nm_restorestart(Nmchan *c);
/* The reply f to r, one of a restore's own requests. */
void nm_restorereply(Nmchan *c, Nmreq *r, const uint8_t *f, size_t n);
/* Nobody waits for c's restore any more (nmupgiveup): c is ready, what the restore made is clunked. */
void nm_restoreabandon(Nmchan *c);

/* split.c */
/* Whether a Tread or Twrite of count on fid f goes as pieces. */
int nm_splits(Nmsess *s, Nmfid *f, uint8_t type, uint32_t count);
/* The iounit an open (r) of a file of qid type qtype tells s: what it can read and write at once. */
uint32_t nm_iounitfor(Nmsess *s, const Nmreq *r, uint8_t qtype);
/* Make and hold the pieces of pr from the client's frame f: 0, or -1 if out of memory. */
int nm_split(Nmsess *s, Nmreq *pr, const uint8_t *f);
void nm_splitfree(Nmreq *r);
/* Whether r, at the head of its session's held queue, may be admitted. */
int nm_pieceroom(Nmreq *r);
/* r is admitted. */
void nm_pieceadmit(Nmreq *r);
/* The reply f to the piece r. */
void nm_piecereply(Nmreq *r, const uint8_t *f, size_t n);
/* The piece r fails with 9mux's error e (a restore found its fid dead). */
void nm_piecefail(Nmreq *r, int e);
/* r ends (nm_reqdone): if a piece, its parent may end with it. */
void nm_pieceend(Nmreq *r);
/* The client flushes the split request pr under tag. */
void nm_splitflush(Nmsess *s, Nmreq *pr, uint16_t tag);
/* The client flushes fl, a Tflush of a split request, under tag. */
void nm_splitunflush(Nmsess *s, Nmreq *fl, uint16_t tag);
/* End the split requests of s whose pieces all ended while it was draining. */
void nm_splitsweep(Nmsess *s);
/* The loss of s's channel, for its split requests (see nm_losesess). */
void nm_splitlose(Nmsess *s, Nmup *u);
