/*
 * dial.h - Plan 9 style network addresses on POSIX sockets.
 *
 *	unix!/path		a unix-domain stream socket
 *	tcp!host!port		TCP; host may be a name, an IPv4 or IPv6 address,
 *				or * (every address) when announcing
 *	tcp!host		TCP port 564, the 9P port
 *	tls!host!port		TLS over TCP (tls!host: port 564): dial and
 *				announce refuse it, so that nothing speaks
 *				plaintext to a TLS port by mistake; dialraw and
 *				announceraw give the TCP under it, for the caller
 *				to run TLS over (lib/tls, tls.h)
 *	exec!command args	(dial only) run command by /bin/sh with its
 *				standard input and output as the connection
 *
 * Functions return -1 and a message in err (errlen bytes, always
 * NUL-terminated) on failure; they never print.
 */
#ifndef DIAL_H
#define DIAL_H

#include <stddef.h>
#include <sys/types.h>

enum {
	DIAL_UNIX = 1,
	DIAL_TCP,
	DIAL_EXEC,
	DIAL_TLS,
};

/* Connect to addr: a connected, blocking, close-on-exec descriptor. */
int dial(const char *addr, char *err, size_t errlen);

/*
 * Like dial, and for exec! also report the child's pid in *pid
 * (-1 for other kinds) so the caller can reap it.
 */
int dialpid(const char *addr, pid_t *pid, char *err, size_t errlen);

/*
 * Listen on addr: a listening, close-on-exec descriptor.  A unix socket
 * is created with permissions mode (0600 if mode is 0) before it accepts
 * anyone; a stale socket file nobody answers on is replaced.
 */
int announce(const char *addr, int mode, char *err, size_t errlen);

/*
 * Like dial and announce, and for tls! the TCP connection or listener
 * under it, which the caller must wrap in TLS.
 */
int dialraw(const char *addr, char *err, size_t errlen);
int announceraw(const char *addr, int mode, char *err, size_t errlen);

/* The kind of addr (DIAL_UNIX, DIAL_TCP, DIAL_EXEC, DIAL_TLS), or -1 if it is not an address. */
int addrkind(const char *addr);

/*
 * The host of a tcp! or tls! address into host (len bytes), for a TLS
 * dialer to check the server's certificate against: 0, or -1.
 */
int addrhost(const char *addr, char *host, size_t len);

/* The path of a unix! address, or NULL. */
const char *addrpath(const char *addr);

/*
 * plan9port's namespace directory: $NAMESPACE, else /tmp/ns.LOGIN.$DISPLAY,
 * LOGIN being the login name of the real user id (":0" when DISPLAY is
 * unset) with any ".0" screen suffix removed.
 * Writes it to buf; returns 0, or -1 if it does not fit.
 */
int nsdir(char *buf, size_t len);

/* Make fd non-blocking (on != 0) or blocking: 0, or -1 and errno. */
int fdnonblock(int fd, int on);
/*
 * Ask for a send buffer of bytes (0: leave it) on fd if it is a unix
 * stream socket, whose sender's buffer bounds what waits unread in it:
 * the size the kernel gave (net.core.wmem_max caps it), 0 if fd is not
 * such a socket (TCP sizes its own), or -1 and errno.
 */
int fdsndbuf(int fd, int bytes);

#endif
