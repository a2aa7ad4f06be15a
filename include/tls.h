/*
 * tls.h - TLS 1.3 under 9P, on OpenSSL 3: external pre-shared keys with
 * (EC)DHE, certificates, public-key pins and record padding.  Made for a
 * one-thread epoll loop over non-blocking sockets: nothing here blocks
 * but tlsrelay.  Nothing prints or exits: errors come back as one-line
 * strings for the caller to log.
 *
 * The command-line flags (9mux(1), 9pc(1)) and what they mean:
 *
 *	-S keyfile	pre-shared keys, a line "identity hexkey" each, keys of
 *			32 to 256 bytes, # to the end of a line a comment; the
 *			file must be neither readable nor writable by group or
 *			others.  Dialing uses the first line; listening accepts
 *			any identity in the file.
 *	-C cert -K key	this side's certificate chain and private key (PEM).
 *	-R cafile	whom to trust.  Dialing: the server's certificate must
 *			chain to these CAs and match the host of the dial
 *			string.  Listening: clients must present a certificate
 *			chaining to them.
 *	-H sha256:HEX	the SHA-256 of the peer's SubjectPublicKeyInfo must be
 *			one of these (repeatable).  Alone it replaces the CA
 *			check, as an SSH host key does; with -R both must hold.
 *	-z N		pad every encrypted record to a multiple of N (below).
 *
 * Who is accepted.  A dialer with -S alone takes only a server that
 * knows its key (no certificate can stand in for it); with -R or -H too,
 * either; with none of -S, -R, -H, a certificate that chains to the
 * system's trust store and matches the host.  A listener with any of -S,
 * -R, -H takes only a client with a known identity or a certificate that
 * passes -R and -H; with none of them it asks nothing of clients (the
 * server is still authenticated by -C and -K).  Only TLS 1.3; no session
 * tickets are sent and none are used; with a pre-shared key the exchange
 * is always psk_dhe_ke, so a stolen key does not open recorded traffic.
 *
 * Padding (-z N, 1 <= N <= 16384).  A TLS 1.3 record on the wire is
 *
 *	header (5: type 23, version 0x0303, length[2])
 *	inner plaintext (content, 1 byte of real content type, zero padding)
 *	AEAD tag (16)
 *
 * so the header's length field is inner + 16 and the whole record
 * inner + 21 bytes.  With -z N every inner plaintext is padded to a
 * multiple of N, and the content of one record is capped at M - 1 bytes,
 * M = floor(16384 / N) * N, so that a full record's inner plaintext is
 * exactly M: every encrypted record is then 21 bytes more than a multiple
 * of N (-z 1024: a 1-byte ping and a 1000-byte reply are both 1045 bytes
 * on the wire, a full record 16405).  Without -z the inner plaintext is
 * the content plus one byte, up to 16384 + 1.  Not covered: the cleartext
 * ClientHello and ServerHello (and the compatibility ChangeCipherSpec),
 * and an encrypted handshake message longer than M - 1 bytes (a
 * certificate chain of more than about 16 KiB), whose records are not
 * padded by OpenSSL.
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct Tlsopts Tlsopts;
typedef struct Tlsconf Tlsconf;
typedef struct Tls Tls;

enum {
	TLS_MAXPINS	= 16,		/* -H flags at most */
	TLS_PINLEN	= 7 + 64,	/* "sha256:" and 64 hex digits */
	TLS_MAXPAD	= 16384,	/* largest -z */
	TLS_RECHDR	= 5,		/* record header on the wire */
	TLS_RECTAG	= 16,		/* AEAD tag of every TLS 1.3 suite used */
	TLS_RECMAX	= 16384,	/* largest content of one record */
};

/* The side of a connection, and the roles a configuration is built for. */
enum {
	TLS_DIAL	= 1,
	TLS_LISTEN	= 2,
};

/* What the connection calls return besides success. */
enum {
	TLS_WANTREAD	= -1,	/* call again when the fd is readable */
	TLS_WANTWRITE	= -2,	/* call again when the fd is writable */
	TLS_ERROR	= -3,	/* the connection is dead; tlserr says why */
};

/* How the peer proved who it is. */
enum {
	TLS_AUTHNONE	= 0,	/* it did not: a listener without -S, -R, -H */
	TLS_AUTHPSK,		/* a pre-shared key */
	TLS_AUTHCERT,		/* a certificate that passed -R and -H */
};

/* The flags, as given.  Start from all zeroes; tlsflag fills it in. */
struct Tlsopts {
	const char	*pskfile;		/* -S */
	const char	*certfile;		/* -C */
	const char	*keyfile;		/* -K */
	const char	*cafile;		/* -R */
	const char	*pins[TLS_MAXPINS];	/* -H */
	int		npins;
	int		pad;			/* -z; 0 is off */
};

/*
 * Take flag c (S, C, K, R, H or z) and its argument into o: 1, or 0 if c
 * is none of them, or -1 and err if arg is bad.  Strings are not copied.
 */
int tlsflag(Tlsopts *o, int c, const char *arg, char *err, size_t errlen);

/* Whether o has any flag but -z set. */
int tlsflagged(const Tlsopts *o);

/*
 * Read the files of o and make the contexts for roles (TLS_DIAL,
 * TLS_LISTEN or both): the configuration, or NULL and err naming the file
 * (and line) at fault.  o and its strings are copied.
 */
Tlsconf *tlsconfnew(const Tlsopts *o, int roles, char *err, size_t errlen);

/*
 * Read the same files again (SIGHUP): 0, or -1 and err with the old
 * configuration still in force.  Connections already made keep theirs.
 */
int tlsconfreload(Tlsconf *c, char *err, size_t errlen);

/* Let go of c; what its connections use stays until they are freed.  NULL is ignored. */
void tlsconffree(Tlsconf *c);

/*
 * Check the text of a key file (len bytes, name for the messages) as
 * tlsconfnew does, all but the file's permissions: the number of keys,
 * or -1 and err.  Keys never appear in a message.
 */
int tlskeycheck(const char *name, const char *text, size_t len, char *err, size_t errlen);

/*
 * The -H pin of the first certificate in a PEM file, "sha256:" and 64
 * lowercase hex digits, into pin (len > TLS_PINLEN): 0, or -1 and err.
 */
int tlspinfile(const char *certfile, char *pin, size_t len, char *err, size_t errlen);

/*
 * Start TLS on fd, a connected socket the caller has made non-blocking
 * and still owns (tlsfree does not close it).  side is one of c's roles;
 * host, dialing, is the name or address of the dial string, which the
 * server's certificate must match when a CA check is made (NULL is
 * refused then).  The connection, or NULL and err.
 */
Tls *tlsnew(Tlsconf *c, int fd, int side, const char *host, char *err, size_t errlen);

/*
 * One step of the handshake: 0 once it is done and the peer has proved
 * who it is, else TLS_WANTREAD, TLS_WANTWRITE or TLS_ERROR.  Reading and
 * writing start after 0; the caller times out a peer that stalls.
 */
int tlshandshake(Tls *t);

/*
 * Decrypt into buf as much as has arrived, up to len: the number of
 * bytes, 0 at the end of the stream (close_notify, or the connection
 * closed: 9P frames carry their own lengths), TLS_WANTREAD,
 * TLS_WANTWRITE or TLS_ERROR.
 */
ssize_t tlsread(Tls *t, void *buf, size_t len);

/*
 * Whether tlsread may give bytes without the fd becoming readable: data
 * OpenSSL has read from the socket and not yet returned, which epoll
 * cannot see.  A caller that stops reading before TLS_WANTREAD must come
 * back while this is true.
 */
int tlspending(Tls *t);

/*
 * Take bytes from the front of iov[0..iovcnt) and send them, a record of
 * at most 16 KiB at a time, several frames to a record: the number of
 * bytes taken, all, some or none (the caller drops them from its queue;
 * they are the connection's now), or TLS_ERROR.  *want is 0 when all that
 * was taken is on the socket, else TLS_WANTWRITE (or TLS_WANTREAD): call
 * again when the fd is ready, with iovcnt 0 if nothing more is queued.
 * At most one record's worth is ever held inside.
 */
ssize_t tlswritev(Tls *t, const struct iovec *iov, int iovcnt, int *want);

/*
 * Send close_notify after anything tlswritev still holds: 0 when it is on
 * the socket, TLS_WANTWRITE or TLS_WANTREAD to call again, TLS_ERROR.
 * The peer's close_notify is not waited for.
 */
int tlsshutdown(Tls *t);

/* Free t (not its fd).  NULL is ignored. */
void tlsfree(Tls *t);

/* The reason of the last TLS_ERROR: one line; "" if none. */
const char *tlserr(Tls *t);

/*
 * After the handshake: the peer's name, its pre-shared key identity or
 * its certificate's common name (control characters as '?'; "" if it
 * proved nothing); how it proved it (TLS_AUTH*); its pin ("" for a
 * pre-shared key); the protocol and cipher suite, for logs.
 */
const char *tlspeer(Tls *t);
int tlsauth(Tls *t);
const char *tlspeerpin(Tls *t);
const char *tlscipher(Tls *t);

/* Bytes read from and written to the fd so far: TLS records, all of it. */
void tlswire(Tls *t, uint64_t *in, uint64_t *out);

/*
 * Copy between fd (plain bytes; made non-blocking here) and t, whose
 * handshake is done, until either ends: for a thread of a program that
 * wants a plain descriptor, as 9pc gives lib9pclient one end of a
 * socketpair.  When fd ends, t gets close_notify.  0 at a clean end, or
 * -1 and err; then the caller, having kept err, shuts fd down, so that
 * whoever reads the other end finds the reason waiting.
 */
int tlsrelay(Tls *t, int fd, char *err, size_t errlen);

#endif
