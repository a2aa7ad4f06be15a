/*
 * Private to lib/9pclient.
 */
#include <pthread.h>
#include <stdint.h>

#include "9p.h"
#include "mux.h"
#include "9pclient.h"

typedef struct Msg Msg;
typedef struct Abandon Abandon;
typedef struct Job Job;

/* One frame on the wire, request or reply, in a heap buffer. */
struct Msg {
	uint8_t		*buf;
	uint32_t	len;
	uint16_t	tag;
	int		isflush;	/* our Tflush, made for libmux */
	Abandon		*ab;		/* the request it gives up on */
};

/*
 * A request given up on: its tag and fids stay out of use until the
 * Tflush sent for it is answered.
 */
struct Abandon {
	uint8_t		type;		/* of the request */
	uint16_t	oldtag;
	int		flushtag;	/* -1 until the Tflush has its tag */
	uint32_t	fid;		/* a fid it used, or P9_NOFID */
	uint32_t	own;		/* fid number handed over to it, or P9_NOFID */
	uint16_t	nwname;		/* Twalk: elements asked for */
	int		gotreply;	/* the original reply came */
	int		replyok;	/* ... and was a success */
	Abandon		*next;
};

/* Work the reader thread must not do itself: clunk a fid, then free its number. */
struct Job {
	uint32_t	fid;
	Job		*next;
};

struct CFsys {
	int		fd;
	int		dialect;
	uint32_t	msize;
	long		timeout;
	Mux		mux;
	int		muxup;
	pthread_mutex_t	wlk;		/* one send at a time */

	pthread_mutex_t	lk;		/* guards what follows */
	uint32_t	nextfid;
	uint32_t	*freefids;
	uint32_t	nfree, afree;
	uint32_t	*zombies;	/* freed by their user, held by an Abandon */
	uint32_t	nzombie, azombie;
	Abandon		*abandoned;
	Job		*jobs, **jobtail;
	pthread_cond_t	jobcond;
	int		closing;
	int		janitorup;
	pthread_t	janitor;
};

struct CFid {
	CFsys		*fs;
	uint32_t	fid;
	Qid		qid;
	int		mode;		/* Plan 9 open mode, -1 if not open */
	uint32_t	iounit;
	pthread_mutex_t	lk;		/* guards offset */
	uint64_t	offset;
};

/*
 * Send tx and wait: 0 with *rx decoded from *rmsg (free it with msgfree),
 * or -1, or FSABANDONED when it timed out: then the number of a fid the
 * request was creating, clunking or removing belongs to the flush, and
 * the caller frees only the handle (fidfreehandle).
 */
int fsrpc(CFsys *fs, Fcall *tx, Fcall *rx, Msg **rmsg);

/* Free a frame. */
void msgfree(Msg *m);

/* A fid number and its handle, or NULL. */
CFid *fidalloc(CFsys *fs);

/* Give back the number and free the handle. */
void fidfree(CFid *fid);

/* Free the handle only. */
void fidfreehandle(CFid *fid);

enum { FSABANDONED = -2 };

/* The largest payload of one Tread/Rread or Twrite for fid. */
uint32_t fidiomax(CFid *fid, int writing);

/* Copy a view into a new NUL-terminated string, or NULL. */
char *fsstrdup(P9str s);

/* Plan 9 mode bits (type and permissions) of a Unix mode. */
uint32_t fsumode(uint32_t umode);
