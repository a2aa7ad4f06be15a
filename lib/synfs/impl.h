/*
 * impl.h - synfs's own declarations, shared by its files and by nobody
 * else (include/synfs.h is the interface):
 *
 *	conn.c		servers and connections: input framing, the output queue
 *	tree.c		listings, snapshots, fids; lookups, walks and opens
 *			through the caller's callbacks
 *	msg.c		the messages: decoding, the handlers, error replies
 *
 * The library keeps no tree.  A fid remembers its path and the entry
 * (qid, mode) it had when walked to; every walk asks the caller again,
 * so a directory that changes (clients come and go) is seen as it is
 * now, and a name that went away is an error.  Opening a file takes a
 * snapshot of its contents, opening a directory a snapshot of its
 * entries: reads are consistent within one open.
 *
 * Functions shared between the files are named syn_*.
 */
#include <stddef.h>
#include <stdint.h>

#include "9p.h"
#include "synfs.h"

enum {
	MAXNAME		= 255,
	MAXPATH		= 1024,
	MAXUID		= 64,
	MAXENAME	= 200,		/* an Rerror fits the smallest msize */
	NHASH		= 64,		/* fid buckets, a power of two */
};

/* Errors, with the Linux errno 9P2000.L carries (errtab, msg.c). */
enum {
	Eok, Ebadfid, Enofid, Efidinuse, Enoent, Enotdir, Eisdir, Eperm,
	Eopen, Enotread, Enotwrite, Ebadoff, Ecount, Efids, Enoauth,
	Enoversion, Emsize, Etype, Enomem, Efbig, Elong, Etoobig, Enotsup,
	Emode, Ecaller,
};

typedef struct Ent Ent;
typedef struct Fid Fid;

/* A directory entry in a listing; its name is at name in the list's names. */
struct Ent {
	uint64_t	qid;
	uint32_t	mode;
	uint32_t	name;
	uint16_t	namelen;
};

struct Synlist {
	Ent		*e;
	size_t		n;
	size_t		cap;
	char		*names;		/* NUL-terminated, one after another */
	size_t		nlen;
	size_t		ncap;
	size_t		max;		/* bytes of e and names together */
	int		err;		/* Enomem or Efbig once synadd failed so */
	const char	*want;		/* a lookup: only this name is kept */
};

struct Synbuf {
	char		*p;
	size_t		len;
	size_t		cap;
	size_t		max;
	int		err;
};

struct Fid {
	Fid		*next;		/* hash chain */
	uint32_t	num;
	char		*path;
	uint64_t	qid;
	uint32_t	mode;
	int		omode;		/* -1 until opened; then P9_OREAD, P9_OWRITE or P9_ORDWR */
	char		*data;		/* an open file's snapshot */
	size_t		len;
	Synlist		*dir;		/* an open directory's snapshot */
	size_t		diri;		/* 9P2000 directory reads: the next entry */
	uint64_t	diroff;		/* and the offset it starts at */
};

struct Synconn {
	Synfs		*fs;
	Synconn		*next;
	Synconn		*prev;
	void		*aux;
	uint32_t	msize;
	int		dialect;
	int		versioned;
	int		nfids;
	Fid		*fids[NHASH];
	Synq		q;
	/* the error of the current request when it is Ecaller */
	const char	*ename;
	uint32_t	errnum;
	char		ebuf[MAXENAME + 1];
};

struct Synfs {
	Synconf		conf;
	char		uid[MAXUID + 1];
	Synstats	st;
	Synconn		*conns;
	Synlist		look;		/* walks: reused */
	uint8_t		*tmp;		/* msize + 1: directory reads, stat entries, write text */
};

/* conn.c */
/* Queue the reply r to c's client, counted and traced: 0, or -1 if out of memory. */
int syn_qput(Synconn *c, const Fcall *r);

/* tree.c */
/* Free l's entries and names (l NULL: nothing); l itself stays, empty. */
void syn_listfree(Synlist *l);
/* c's fid num, or NULL. */
Fid *syn_fidget(Synconn *c, uint32_t num);
/* A new fid num at path (taken over: freed here on failure), not open; NULL if out of memory. */
Fid *syn_fidnew(Synconn *c, uint32_t num, char *path, uint64_t qid, uint32_t mode);
/* Clunk f: out of c's table, freed with its snapshot. */
void syn_fiddel(Synconn *c, Fid *f);
/* Clunk every fid of c. */
void syn_fidsclear(Synconn *c);
/* The entry name of dir, if it still has one: Eok with *qid and *mode set, or why not. */
int syn_lookup(Synfs *fs, const char *dir, P9str name, uint64_t *qid, uint32_t *mode);
/* Cut path (*len bytes) to its parent: Eok with the parent's entry in *qid and *mode. */
int syn_walkup(Synfs *fs, char *path, size_t *len, uint64_t *qid, uint32_t *mode);
/* Open f for acc (P9_OREAD...P9_OEXEC), taking its snapshot: Eok, or why not (Ecaller: the read callback's). */
int syn_openfid(Synconn *c, Fid *f, int acc, int trunc, int rclose);

/* msg.c */
/* The current request fails with the caller's error s (cut to MAXENAME): returns Ecaller. */
int syn_callerr(Synconn *c, const char *s, uint32_t errnum);
/* Answer the whole frame buf of n bytes: 0, or -1 if memory ran out for the reply. */
int syn_request(Synconn *c, const uint8_t *buf, size_t n);
