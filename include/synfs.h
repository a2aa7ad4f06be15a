/*
 * synfs.h - a 9P file server for small synthetic trees, without I/O.
 *
 * The caller describes its tree by path ("/", "/stats",
 * "/clients/3/addr") through three callbacks: the entries of a
 * directory, the contents of a file (a snapshot taken when it is
 * opened) and what a write to a file does.  The library speaks 9P2000
 * and 9P2000.L to each connection: the caller feeds it the bytes it
 * reads from a client and drains the connection's output queue with
 * writev, as with the Nmq of ninemux.h.  Every request is answered at
 * once, while it is fed.  The callbacks run inside synconnin: they must
 * not close a connection or free the server.
 *
 * Nothing here blocks, prints or exits.  A Synfs and its connections
 * belong to one thread (an event loop).
 */
#ifndef SYNFS_H
#define SYNFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct Synfs Synfs;
typedef struct Synconf Synconf;
typedef struct Synconn Synconn;
typedef struct Synlist Synlist;
typedef struct Synbuf Synbuf;
typedef struct Synmsg Synmsg;
typedef struct Synq Synq;
typedef struct Synstats Synstats;

/* What a wake callback reports about a connection. */
enum {
	SYN_WOUT	= 1,	/* its output queue is no longer empty */
	SYN_WIN		= 2,	/* it takes input again (call synconnin) */
};

/* Where a traced frame is going. */
enum {
	SYN_TIN		= 1,	/* client -> server */
	SYN_ROUT,		/* server -> client */
};

struct Synconf {
	void		*aux;		/* passed to list, read and write */
	/*
	 * Add the entries of the directory at path to l with synadd, and
	 * return 0; or return -1 when path is not (or no longer) a
	 * directory.  When want is not NULL a walk looks for that name:
	 * adding just its entry is enough, and the others cost nothing.
	 */
	int		(*list)(void *aux, const char *path, const char *want, Synlist *l);
	/*
	 * Write the contents of the file at path into b (synprint,
	 * synput) when a client opens it for reading: NULL, or an error
	 * for the client.  NULL read: every file is empty.
	 */
	const char	*(*read)(void *aux, const char *path, uint64_t qid, Synbuf *b);
	/*
	 * The n bytes of one Twrite to the file at path (text[n] is a NUL
	 * the library adds): NULL, or an error for the client.  NULL
	 * write: nothing is writable.
	 */
	const char	*(*write)(void *aux, const char *path, uint64_t qid, const char *text, size_t n);
	uint64_t	rootqid;	/* qid path of "/"; others are the caller's */
	uint32_t	rootmode;	/* its permission bits; 0: 0555 */
	const char	*uid;		/* owner, group and muid in 9P2000 stat (copied); NULL: "none" */
	uint32_t	nuid;		/* owner and group in 9P2000.L getattr */
	uint32_t	mtime;		/* every file's times, seconds since 1970 */
	/* Limits; 0 gives the default. */
	uint32_t	msize;		/* largest message; 64 KiB, at least 256 */
	int		maxfids;	/* fids per connection; 64 */
	/*
	 * Output queued past which a connection takes no more requests
	 * until it drains (checked before each request, so the queue
	 * holds at most this plus one msize); 256 KiB.
	 */
	size_t		maxqueue;
	/* Largest snapshot of a file, or listing of a directory; 1 MiB. */
	size_t		maxsnap;
	/* When set: called with the connection's aux when its queue fills or it may take input again. */
	void		(*wake)(void *connaux, int what);
	/* When set: called for every frame in and out. */
	void		(*trace)(void *connaux, int where, const uint8_t *frame, size_t len, int dialect);
};

/* Counters over all connections. */
struct Synstats {
	uint64_t	conns;		/* connections ever made */
	uint64_t	requests;	/* requests answered */
	uint64_t	errors;		/* of them, with Rerror or Rlerror */
	uint64_t	bytesin;	/* bytes of the requests */
	uint64_t	bytesout;	/* bytes of the replies */
	uint64_t	badconns;	/* connections whose stream was refused */
};

/* One reply, or the unsent rest of one, in an output queue. */
struct Synmsg {
	Synmsg		*next;
	uint32_t	len;
	uint32_t	off;		/* bytes already written */
	uint8_t		data[];
};

struct Synq {
	Synmsg		*head;
	Synmsg		*tail;
	size_t		bytes;		/* unsent bytes */
	size_t		n;
	Synconn		*conn;
};

/* A new server with conf copied; NULL if out of memory or conf->list is NULL. */
Synfs *synnew(const Synconf *conf);

/* Free the server and every connection it still has. */
void synfree(Synfs *fs);

/* The server's counters. */
const Synstats *synstats(Synfs *fs);

/*
 * From a list callback: add an entry of the directory.  mode holds the
 * permission bits, and P9_DMDIR for a directory; qid is the caller's,
 * the same for the same file as long as the Synfs lives.  0, or -1 for
 * a name that cannot be one ("", ".", "..", a '/', over 255 bytes: the
 * entry is left out) or a listing over the snapshot limit or out of
 * memory (the open or walk fails).
 */
int synadd(Synlist *l, const char *name, uint64_t qid, uint32_t mode);

/*
 * From a read callback: append to the snapshot.  0, or -1 when it would
 * pass the snapshot limit or memory runs out: the snapshot is then
 * unchanged and the open fails.
 */
int synprint(Synbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int synput(Synbuf *b, const void *p, size_t n);

/* A new connection; aux is passed to wake and trace.  NULL if out of memory. */
Synconn *synconnnew(Synfs *fs, void *aux);

/*
 * Feed len bytes read from the client: the bytes consumed, whole frames
 * only (keep the rest and feed it again with more).  Fewer than the
 * whole frames given when the output queue is full (synconnblocked;
 * wake(SYN_WIN) says when to go on).  -1 when the stream cannot be
 * trusted (a size below 7 or above msize) or memory ran out for a
 * reply: err gets the reason; close the connection.  A frame that is
 * well delimited but malformed, or of an unknown type, is answered
 * with an error.
 */
long synconnin(Synconn *c, const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Whether the connection takes no input until its queue drains. */
int synconnblocked(Synconn *c);

/* Largest frame the connection accepts now: its msize. */
uint32_t synconnmsize(Synconn *c);

/* The connection's output queue: frames to write to the client. */
Synq *synconnq(Synconn *c);

/* The client is gone: free the connection, its fids and its queue. */
void synconnclose(Synconn *c);

/* Fill at most max iovecs with the queue's unsent bytes: the count filled. */
int synqiov(Synq *q, struct iovec *iov, int max);

/* n bytes of the queue were written: drop them. */
void synqadvance(Synq *q, size_t n);

/* Whether the queue has nothing to write. */
int synqempty(Synq *q);

#endif
