/*
 * mux.h - a generic protocol multiplexor, the API of plan9port's mux(3)
 * on POSIX threads.  See mux(3) in man/man3/mux.3.
 */
#ifndef MUX_H
#define MUX_H

#include <pthread.h>
#include <sys/types.h>

#if !defined(__USE_MISC) && !defined(MUX_HAVE_UINT) && !defined(uint)
typedef unsigned int uint;
#endif

#ifndef nil
#define nil ((void*)0)
#endif

typedef struct Mux Mux;
typedef struct Muxrpc Muxrpc;
typedef struct Muxstate Muxstate;

struct Mux
{
	uint	mintag;
	uint	maxtag;
	int	(*settag)(Mux *mux, void *msg, uint tag);
	int	(*gettag)(Mux *mux, void *msg);
	int	(*send)(Mux *mux, void *msg);
	void	*(*recv)(Mux *mux);
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
 * Extensions.  Set hooks after muxinit.
 */

/* Where messages go that no RPC will take (unknown tags, replies to cancelled RPCs). */
void muxsetfree(Mux *mux, void (*freemsg)(Mux *mux, void *msg));

/*
 * The protocol's way to abandon an RPC: mkcancel returns a request that
 * cancels the one with oldtag (9P: a Tflush), or nil.  The old tag is not
 * reused until the cancelling request is answered.
 */
void muxsetcancel(Mux *mux, void *(*mkcancel)(Mux *mux, uint oldtag));

/* Send request and return at once: a handle for muxrpcfinish, or nil on error. */
Muxrpc *muxrpcstart(Mux *mux, void *request);

/* Wait up to ms milliseconds (-1: for ever) for the reply: 1 if it is there or the connection failed, 0 on timeout. */
int muxrpcwait(Muxrpc *r, long ms);

/* Wait for the reply and free r: the reply, or nil on error. */
void *muxrpcfinish(Muxrpc *r);

/* Abandon r and free it; its reply, if one comes, goes to the free hook. */
void muxrpccancel(Muxrpc *r);

/* Free everything muxinit and later calls allocated; no call may be in progress. */
void muxfree(Mux *mux);

#endif
