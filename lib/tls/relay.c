/*
 * tlsrelay: a plain descriptor on one side, a TLS connection on the
 * other, for programs whose I/O is blocking and threaded (9pc over
 * lib9pclient) rather than an event loop of their own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "impl.h"

enum {
	RELAYBUF	= 64 * 1024,
};

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if(errlen > 0){
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		tlsoneline(err);
	}
	return -1;
}

static ssize_t
get(int fd, void *p, size_t n)
{
	ssize_t r;

	do{
		r = recv(fd, p, n, 0);
		if(r < 0 && errno == ENOTSOCK)
			r = read(fd, p, n);
	}while(r < 0 && errno == EINTR);
	return r;
}

static ssize_t
put(int fd, const void *p, size_t n)
{
	ssize_t r;

	do{
		r = send(fd, p, n, MSG_NOSIGNAL);
		if(r < 0 && errno == ENOTSOCK)
			r = write(fd, p, n);
	}while(r < 0 && errno == EINTR);
	return r;
}

int
tlsrelay(Tls *t, int fd, char *err, size_t errlen)
{
	struct pollfd pfd[2];
	struct iovec iov;
	uint8_t *in, *out;
	size_t ilen, ioff, olen, ooff;
	ssize_t n;
	int fl, rc, progress, fdeof, tlseof, closing, wwant, rwant;

	fl = fcntl(fd, F_GETFL);
	if(fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return fail(err, errlen, "relay: %s", strerror(errno));
	in = malloc(RELAYBUF);
	out = malloc(RELAYBUF);
	if(in == NULL || out == NULL){
		free(in);
		free(out);
		return fail(err, errlen, "relay: out of memory");
	}
	ilen = ioff = olen = ooff = 0;
	fdeof = tlseof = closing = 0;
	wwant = rwant = 0;
	rc = -1;
	for(;;){
		do{
			progress = 0;
			/* plain side to TLS */
			if(!fdeof && ioff == ilen){
				ilen = ioff = 0;
				n = get(fd, in, RELAYBUF);
				if(n > 0){
					ilen = (size_t)n;
					progress = 1;
				}else if(n == 0){
					fdeof = 1;
					progress = 1;
				}else if(errno != EAGAIN && errno != EWOULDBLOCK){
					fail(err, errlen, "relay: read: %s", strerror(errno));
					goto out;
				}
			}
			if(ioff < ilen || wwant != 0){
				iov.iov_base = in + ioff;
				iov.iov_len = ilen - ioff;
				n = tlswritev(t, &iov, ioff < ilen, &wwant);
				if(n < 0){
					fail(err, errlen, "%s", tlserr(t));
					goto out;
				}
				if(n > 0)
					progress = 1;
				ioff += (size_t)n;
			}
			if(fdeof && ioff == ilen && wwant == 0){
				n = tlsshutdown(t);
				if(n == 0){
					rc = 0;
					goto out;
				}
				if(n == TLS_ERROR){
					fail(err, errlen, "%s", tlserr(t));
					goto out;
				}
				closing = (int)n;
			}
			/* TLS to the plain side */
			if(!tlseof && ooff == olen){
				olen = ooff = 0;
				n = tlsread(t, out, RELAYBUF);
				rwant = 0;
				if(n > 0){
					olen = (size_t)n;
					progress = 1;
				}else if(n == 0){
					tlseof = 1;
					progress = 1;
				}else if(n == TLS_WANTREAD || n == TLS_WANTWRITE)
					rwant = (int)n;
				else{
					fail(err, errlen, "%s", tlserr(t));
					goto out;
				}
			}
			if(ooff < olen){
				n = put(fd, out + ooff, olen - ooff);
				if(n > 0){
					ooff += (size_t)n;
					progress = 1;
				}else if(n < 0 && errno != EAGAIN && errno != EWOULDBLOCK){
					fail(err, errlen, "relay: write: %s", strerror(errno));
					goto out;
				}
			}
			if(tlseof && ooff == olen){
				rc = 0;
				goto out;
			}
		}while(progress);

		/* a descriptor nothing waits on is left out, or its hang-up would spin us */
		pfd[0].fd = fd;
		pfd[0].events = (!fdeof && ioff == ilen ? POLLIN : 0) | (ooff < olen ? POLLOUT : 0);
		pfd[1].fd = t->fd;
		pfd[1].events = 0;
		if(rwant == TLS_WANTREAD || wwant == TLS_WANTREAD || closing == TLS_WANTREAD)
			pfd[1].events |= POLLIN;
		if(rwant == TLS_WANTWRITE || wwant == TLS_WANTWRITE || closing == TLS_WANTWRITE)
			pfd[1].events |= POLLOUT;
		if(pfd[0].events == 0)
			pfd[0].fd = -1;
		if(pfd[1].events == 0)
			pfd[1].fd = -1;
		if(poll(pfd, 2, -1) < 0 && errno != EINTR){
			fail(err, errlen, "relay: poll: %s", strerror(errno));
			goto out;
		}
	}
out:
	free(in);
	free(out);
	return rc;
}
