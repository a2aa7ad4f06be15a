/*
 * Private to lib/tls.  Its functions start with tls too, so that a
 * program linking libtls.a never meets them under a name of its own.
 */
#include <stdatomic.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "tls.h"

enum {
	MAXID		= 255,		/* identity bytes */
	MINKEY		= 32,
	MAXKEY		= 256,		/* what every OpenSSL 3 takes as a TLS 1.3 PSK */
	MAXKEYFILE	= 1 << 20,
	ERRLEN		= 512,
};

typedef struct Key Key;
typedef struct Tlsctx Tlsctx;

struct Key {
	char		id[MAXID + 1];
	size_t		idlen;
	uint8_t		key[MAXKEY];
	size_t		keylen;
};

/*
 * What one reading of the files made.  A connection holds a reference,
 * so that a reload never pulls keys or pins from under a handshake.
 */
struct Tlsctx {
	atomic_int	ref;
	SSL_CTX		*dial;
	SSL_CTX		*listen;
	Key		*keys;
	int		nkeys;
	uint8_t		pins[TLS_MAXPINS][32];
	int		npins;
	int		hasca;		/* -R */
	int		hascert;	/* -C and -K */
	int		pad;		/* -z */
	size_t		fragmax;	/* content + type byte + padding of a record */
	char		cafile[256];	/* for messages */
};

struct Tlsconf {
	Tlsctx		*cur;
	int		roles;
	Tlsopts		o;		/* its strings are ours */
};

enum {
	HANDSHAKE,
	OPEN,
	ENDED,		/* the peer's close_notify or EOF came */
	DEAD,
};

struct Tls {
	SSL		*ssl;
	Tlsctx		*ctx;
	int		fd;
	int		side;
	int		state;
	int		auth;
	char		err[ERRLEN];
	char		why[ERRLEN];	/* a callback's account of a refusal */
	char		peer[MAXID + 1];
	char		pin[TLS_PINLEN + 1];
	char		cipher[64];
	char		host[256];
	int		psk;		/* index of the key a client used, -1 */
	int		pskseen;	/* a client offered some identity */
	char		unknownid[64];	/* one we do not know, printable */
	int		verified;	/* the certificate callback said yes */
	int		certasked;	/* dialing: the server asked for our certificate */
	int		gotdata;	/* tlsread has returned bytes */

	/* the wire, as the BIO sees it */
	uint8_t		first[8];	/* the peer's first bytes */
	int		nfirst;
	int		notls;
	int		eof;
	int		syserr;
	uint64_t	rbytes;
	uint64_t	wbytes;

	/* tlswritev's one record */
	uint8_t		*stage;
	size_t		nstage;
	size_t		recmax;
};

/* Parse a key file's text into a new array: the number of keys, or -1 and err. */
int tlsparsekeys(const char *name, const char *text, size_t len, Key **keys, char *err, size_t errlen);

/* Make a message one line: control characters (a newline in a file name) become '?'. */
void tlsoneline(char *s);

/* Free keys after wiping them. */
void tlsfreekeys(Key *keys, int n);

/* "sha256:HEX" to 32 bytes: 0, or -1. */
int tlsparsepin(const char *s, uint8_t out[32]);

/* Drop a reference to tc, freeing it with the last. */
void tlsctxunref(Tlsctx *tc);

/* The SHA-256 of x's SubjectPublicKeyInfo: 0, or -1. */
int tlsspki(X509 *x, uint8_t out[32]);

/* "sha256:" and the hash in lowercase hex into s (TLS_PINLEN + 1 bytes). */
void tlspinstr(const uint8_t h[32], char *s);

/* x's common name (else its subject) with control characters made '?'. */
void tlscertname(X509 *x, char *buf, size_t len);
