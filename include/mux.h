/*
 * mux.h - a generic protocol multiplexor, the API of plan9port's mux(3)
 * on POSIX threads.  See mux(3) in man/man3/mux.3.
 *
 * Messages are opaque to libmux: it sets and reads their tags through the
 * hooks below and hands them to send, or back to the caller from recv.
 * The hooks are called by libmux, some with its lock held: a hook must
 * not call libmux functions on the same Mux.
 */
#ifndef MUX_H
#define MUX_H

#include <pthread.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * uint: C11 and C++ allow a typedef to be repeated, so declare it there
 * always; older C only when the system headers did not (glibc: __USE_MISC).
 * Define MUX_HAVE_UINT to skip it.
 */
#ifndef MUX_HAVE_UINT
#if defined(__cplusplus) || (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L)
typedef unsigned int uint;
#elif !defined(__USE_MISC) && !defined(uint)
typedef unsigned int uint;
#endif
#endif

#ifndef nil
#define nil ((void*)0)
#endif

typedef struct Mux Mux;
typedef struct Muxrpc Muxrpc;
typedef struct Muxstate Muxstate;

struct Mux
{
	uint	mintag;		/* tags are chosen in [mintag, maxtag) */
	uint	maxtag;
	int	(*settag)(Mux *mux, void *msg, uint tag);	/* <0: error */
	int	(*gettag)(Mux *mux, void *msg);		/* <0: no valid tag */
	int	(*send)(Mux *mux, void *msg);		/* <0: error */
	void	*(*recv)(Mux *mux);			/* nil: connection closed */
	void	*aux;

	/* private fields follow; muxinit sets them */
	Muxstate	*state;
};

/* Initialise the private part of mux; the public fields must be set first. */
void muxinit(Mux *mux);

/* Send request with a free tag and wait for its reply: the reply, or nil on error. */
void *muxrpc(Mux *mux, void *request);

/* Run send and recv in threads of their own from now on. */
void muxprocs(Mux *mux);

/* The same as muxprocs, under the other name of the manual page. */
void muxthreads(Mux *mux);

/*
 * Extensions.  Set hooks after muxinit, before the first RPC.  The calls
 * taking a Muxrpc accept nil (a failed muxrpcstart) as a failed RPC.
 */

/*
 * Where messages go that no RPC will take (unknown tags, replies to
 * cancelled RPCs, cancel requests once sent and their replies).
 * The default is free(3); nil restores it.
 */
void muxsetfree(Mux *mux, void (*freemsg)(Mux *mux, void *msg));

/*
 * The protocol's way to abandon an RPC: mkcancel returns a request that
 * cancels the one with oldtag (9P: a Tflush), or nil.  The old tag is not
 * reused until the cancelling request is answered.  With a cancel hook
 * (and at least two tags) one tag is kept for cancel requests.
 */
void muxsetcancel(Mux *mux, void *(*mkcancel)(Mux *mux, uint oldtag));

/*
 * Send request (waiting for a tag if need be) without waiting for the
 * reply: a handle for muxrpcfinish, or nil on error.  Once it returns
 * libmux no longer uses request.
 */
Muxrpc *muxrpcstart(Mux *mux, void *request);

/*
 * Wait up to ms milliseconds (-1: for ever) for the reply: 1 if it is there
 * or the connection failed, 0 on timeout.  Without muxprocs a waiting
 * thread may become the reader and is then late by as long as recv blocks.
 */
int muxrpcwait(Muxrpc *r, long ms);

/* Wait for the reply and free r: the reply, or nil on error. */
void *muxrpcfinish(Muxrpc *r);

/*
 * plan9port's poll: if r is finished, free it, set *reply (nil on error)
 * and return 1; else return 0 at once.  It never reads: someone else must
 * (muxprocs, or another waiting caller).
 */
int muxrpccanfinish(Muxrpc *r, void **reply);

/*
 * Abandon r and free it; its reply, if one comes, goes to the free hook.
 * Never waits for a tag or a reply: with a cancel hook the cancel request
 * is sent, or queued until a tag is free (and dropped if r's reply comes
 * first).
 */
void muxrpccancel(Muxrpc *r);

/*
 * Cancel r, wait until the cancel request is answered (or, without a
 * cancel hook, until r's reply comes) and free r: r's reply if it arrived
 * first (the request took effect), else nil.
 */
void *muxrpcflush(Muxrpc *r);

/* The tag r was sent with. */
uint muxrpctag(Muxrpc *r);

/* 1 once recv has returned nil: every RPC fails from then on. */
int muxhungup(Mux *mux);

/*
 * Free everything muxinit and later calls allocated, unfinished handles
 * included; no call may be in progress.  After muxprocs, close the
 * connection first: this waits for recv to return.
 */
void muxfree(Mux *mux);

#ifdef __cplusplus
}
#endif

#endif
