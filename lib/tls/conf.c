/*
 * Configurations: the flags' files read into two SSL_CTXs (dialing and
 * listening), the key table and the pins, and the callbacks that use
 * them during a handshake.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "impl.h"

/*
 * The hash of every external PSK here: RFC 8446 makes SHA-256 the
 * default, and OpenSSL's s_client, GnuTLS and stunnel assume it.
 */
static const unsigned char pskcipher[2] = { 0x13, 0x01 };	/* TLS_AES_128_GCM_SHA256 */

/*
 * The SHA-256 suites first: a pre-shared key is only usable with a suite
 * of its hash, and the listener picks (SSL_OP_CIPHER_SERVER_PREFERENCE).
 */
static const char suites[] = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384";

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

/* The most telling reason in OpenSSL's error queue, which is then cleared. */
static const char *
sslreason(char *buf, size_t len)
{
	unsigned long e, last;
	const char *r;

	last = 0;
	while((e = ERR_get_error()) != 0)
		if(last == 0 || ERR_GET_LIB(e) != ERR_LIB_SYS)
			last = e;
	if(last == 0)
		return "unknown error";
	r = ERR_reason_error_string(last);
	if(r == NULL){
		snprintf(buf, len, "error %08lx", last);
		return buf;
	}
	snprintf(buf, len, "%s", r);
	return buf;
}

/* Whether path can be opened for reading, else a message. */
static int
readable(const char *what, const char *path, char *err, size_t errlen)
{
	int fd;

	fd = open(path, O_RDONLY|O_CLOEXEC);
	if(fd < 0)
		return fail(err, errlen, "%s %s: %s", what, path, strerror(errno));
	close(fd);
	return 0;
}

/*
 * Read a key file after making sure nobody but its owner can read or
 * change it: the keys, or -1 and err.
 */
static int
readkeys(const char *path, Key **keys, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t r;
	size_t n;
	int fd, nk;

	fd = open(path, O_RDONLY|O_CLOEXEC);
	if(fd < 0)
		return fail(err, errlen, "key file %s: %s", path, strerror(errno));
	if(fstat(fd, &st) < 0){
		fail(err, errlen, "key file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if(!S_ISREG(st.st_mode)){
		close(fd);
		return fail(err, errlen, "key file %s: not a regular file", path);
	}
	if(st.st_mode & (S_IRGRP|S_IWGRP|S_IROTH|S_IWOTH)){
		close(fd);
		return fail(err, errlen, "key file %s: readable or writable by group or others (mode %04o); chmod 600 it",
			path, (unsigned)(st.st_mode & 07777));
	}
	if(st.st_size > MAXKEYFILE){
		close(fd);
		return fail(err, errlen, "key file %s: larger than %d bytes", path, MAXKEYFILE);
	}
	buf = malloc((size_t)st.st_size + 1);
	if(buf == NULL){
		close(fd);
		return fail(err, errlen, "key file %s: out of memory", path);
	}
	n = 0;
	while(n < (size_t)st.st_size){
		r = read(fd, buf + n, (size_t)st.st_size - n);
		if(r < 0 && errno == EINTR)
			continue;
		if(r < 0){
			fail(err, errlen, "key file %s: %s", path, strerror(errno));
			OPENSSL_cleanse(buf, n);
			free(buf);
			close(fd);
			return -1;
		}
		if(r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	nk = tlsparsekeys(path, buf, n, keys, err, errlen);
	OPENSSL_cleanse(buf, n);
	free(buf);
	return nk;
}

void
tlsctxunref(Tlsctx *tc)
{
	if(tc == NULL || atomic_fetch_sub(&tc->ref, 1) != 1)
		return;
	SSL_CTX_free(tc->dial);
	SSL_CTX_free(tc->listen);
	tlsfreekeys(tc->keys, tc->nkeys);
	OPENSSL_cleanse(tc->pins, sizeof tc->pins);
	free(tc);
}

/*
 * Callbacks.  The SSL's app data is its Tls; see conn.c.
 */

static SSL_SESSION *
pskession(SSL *ssl, const Key *k)
{
	const SSL_CIPHER *c;
	SSL_SESSION *s;

	c = SSL_CIPHER_find(ssl, pskcipher);
	if(c == NULL || (s = SSL_SESSION_new()) == NULL)
		return NULL;
	if(!SSL_SESSION_set1_master_key(s, k->key, k->keylen)
	|| !SSL_SESSION_set_cipher(s, c)
	|| !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)){
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

/* Dialing: offer the first key.  A second call (after a HelloRetryRequest) names the hash. */
static int
pskuse(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen, SSL_SESSION **sess)
{
	Tls *t = SSL_get_app_data(ssl);
	const Key *k;

	*sess = NULL;
	*id = NULL;
	*idlen = 0;
	if(t == NULL || t->ctx->nkeys == 0)
		return 1;
	if(md != NULL && EVP_MD_get_type(md) != NID_sha256)
		return 1;
	k = &t->ctx->keys[0];
	if((*sess = pskession(ssl, k)) == NULL)
		return 0;
	*id = (const unsigned char*)k->id;
	*idlen = k->idlen;
	return 1;
}

/* Listening: the key of a client's identity, or none (NULL, and a note for the message). */
static int
pskfind(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	Tls *t = SSL_get_app_data(ssl);
	Tlsctx *tc;
	size_t i, n;
	int k;

	*sess = NULL;
	if(t == NULL)
		return 1;
	tc = t->ctx;
	t->pskseen = 1;
	for(k = 0; k < tc->nkeys; k++)
		if(tc->keys[k].idlen == idlen && memcmp(tc->keys[k].id, id, idlen) == 0)
			break;
	if(k == tc->nkeys){
		n = idlen < sizeof t->unknownid - 1 ? idlen : sizeof t->unknownid - 1;
		for(i = 0; i < n; i++)
			t->unknownid[i] = id[i] >= 0x21 && id[i] <= 0x7e ? (char)id[i] : '?';
		t->unknownid[n] = '\0';
		return 1;
	}
	if((*sess = pskession(ssl, &tc->keys[k])) == NULL)
		return 0;
	t->psk = k;
	return 1;
}

/*
 * Pad every record's inner plaintext (len: content and type byte) to a
 * multiple of -z; the content cap (conn.c) keeps it within fragmax.
 */
static size_t
padding(SSL *ssl, int type, size_t len, void *arg)
{
	Tlsctx *tc = arg;
	size_t n;

	(void)ssl;
	(void)type;
	n = (size_t)tc->pad;
	return (n - len % n) % n;
}

/* The SHA-256 of x's SubjectPublicKeyInfo: 0, or -1. */
int
tlsspki(X509 *x, uint8_t out[32])
{
	unsigned char *der;
	unsigned int n;
	int len, r;

	der = NULL;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if(len <= 0)
		return -1;
	r = EVP_Digest(der, (size_t)len, out, &n, EVP_sha256(), NULL) && n == 32 ? 0 : -1;
	OPENSSL_free(der);
	return r;
}

void
tlspinstr(const uint8_t h[32], char *s)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	memcpy(s, "sha256:", 7);
	for(i = 0; i < 32; i++){
		s[7 + 2*i] = hex[h[i] >> 4];
		s[7 + 2*i + 1] = hex[h[i] & 15];
	}
	s[TLS_PINLEN] = '\0';
}

/* x's common name (or its whole subject) with control characters made '?'. */
void
tlscertname(X509 *x, char *buf, size_t len)
{
	X509_NAME *nm;
	X509_NAME_ENTRY *e;
	unsigned char *u;
	size_t i;
	int idx, n;

	buf[0] = '\0';
	if(x == NULL || len == 0)
		return;
	nm = X509_get_subject_name(x);
	idx = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
	if(idx >= 0 && (e = X509_NAME_get_entry(nm, idx)) != NULL
	&& (n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e))) >= 0){
		snprintf(buf, len, "%.*s", n, (char*)u);
		OPENSSL_free(u);
	}else
		X509_NAME_oneline(nm, buf, (int)(len > 0x7fffffff ? 0x7fffffff : len));
	for(i = 0; buf[i] != '\0'; i++)
		if((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
}

static void
asn1time(const ASN1_TIME *tm, char *buf, size_t len)
{
	BIO *b;
	int n;

	buf[0] = '\0';
	if(tm == NULL || (b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if(ASN1_TIME_print(b, tm) && (n = BIO_read(b, buf, (int)len - 1)) > 0)
		buf[n] = '\0';
	BIO_free(b);
}

/* Why X509_verify_cert said no, in t->why. */
static void
chainwhy(Tls *t, X509_STORE_CTX *x, X509 *leaf)
{
	char name[128], lname[128], when[64];
	const char *trust;
	X509 *c;
	int e;

	e = X509_STORE_CTX_get_error(x);
	c = X509_STORE_CTX_get_current_cert(x);
	if(c == NULL)
		c = leaf;
	tlscertname(c, name, sizeof name);
	tlscertname(leaf, lname, sizeof lname);
	trust = t->ctx->hasca ? t->ctx->cafile : "the system's trust store";
	switch(e){
	case X509_V_ERR_CERT_HAS_EXPIRED:
		asn1time(X509_get0_notAfter(c), when, sizeof when);
		snprintf(t->why, sizeof t->why, "the certificate of %s has expired (%s)", name, when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		asn1time(X509_get0_notBefore(c), when, sizeof when);
		snprintf(t->why, sizeof t->why, "the certificate of %s is not valid until %s", name, when);
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		snprintf(t->why, sizeof t->why, "the certificate of %s is not for host %s", lname, t->host);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		snprintf(t->why, sizeof t->why, "the certificate of %s is not from a CA in %s: %s",
			lname, trust, X509_verify_cert_error_string(e));
		break;
	default:
		snprintf(t->why, sizeof t->why, "the certificate of %s was refused: %s", name,
			X509_verify_cert_error_string(e));
	}
}

/*
 * Every peer certificate comes here instead of OpenSSL's own check, so
 * that -H alone can stand for the whole chain check and a dialer with
 * -S alone takes no certificate at all.
 */
static int
certverify(X509_STORE_CTX *x, void *arg)
{
	SSL *ssl;
	Tls *t;
	Tlsctx *tc;
	X509 *leaf;
	uint8_t h[32];
	char name[128];
	int i, chain;

	(void)arg;
	ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	t = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	leaf = X509_STORE_CTX_get0_cert(x);
	if(t == NULL || leaf == NULL){
		X509_STORE_CTX_set_error(x, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	tc = t->ctx;
	tlscertname(leaf, name, sizeof name);
	if(tlsspki(leaf, h) < 0){
		snprintf(t->why, sizeof t->why, "cannot read the public key of the certificate of %s", name);
		X509_STORE_CTX_set_error(x, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	tlspinstr(h, t->pin);
	if(t->side == TLS_DIAL && tc->nkeys > 0 && !tc->hasca && tc->npins == 0){
		snprintf(t->why, sizeof t->why,
			"the server did not take our pre-shared key (identity %s) and showed a certificate (%s) instead",
			tc->keys[0].id, name);
		X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	chain = tc->hasca || (t->side == TLS_DIAL && tc->npins == 0);
	if(chain && X509_verify_cert(x) <= 0){
		chainwhy(t, x, leaf);
		return 0;
	}
	if(tc->npins > 0){
		for(i = 0; i < tc->npins; i++)
			if(CRYPTO_memcmp(tc->pins[i], h, 32) == 0)
				break;
		if(i == tc->npins){
			snprintf(t->why, sizeof t->why, "the public key of %s, %s, matches no -H pin", name, t->pin);
			X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
			return 0;
		}
	}
	t->verified = 1;
	return 1;
}

/*
 * Dialing, the server has asked for a certificate.  TLS 1.3 finishes the
 * client's handshake before the server judges it, so a refusal may come
 * as a hang-up; this is what lets the message say why.
 */
static int
certasked(SSL *ssl, void *arg)
{
	Tls *t = SSL_get_app_data(ssl);

	(void)arg;
	if(t != NULL)
		t->certasked = 1;
	return 1;
}

/*
 * Contexts.
 */

static SSL_CTX *
newctx(Tlsctx *tc, const Tlsopts *o, int side, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;
	char r[256];
	const char *what;

	what = side == TLS_DIAL ? "dialing" : "listening";
	ctx = SSL_CTX_new(side == TLS_DIAL ? TLS_client_method() : TLS_server_method());
	if(ctx == NULL){
		fail(err, errlen, "TLS context for %s: %s", what, sslreason(r, sizeof r));
		return NULL;
	}
	if(!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)
	|| !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)
	|| !SSL_CTX_set_ciphersuites(ctx, suites)
	|| !SSL_CTX_set_num_tickets(ctx, 0)
	|| (side == TLS_LISTEN && !SSL_CTX_set_session_id_context(ctx, (const unsigned char*)"9mux", 4))){
		fail(err, errlen, "TLS context for %s: %s", what, sslreason(r, sizeof r));
		goto bad;
	}
	/*
	 * No tickets, no cache: a pre-shared key or a certificate every time.
	 * An unexpected EOF ends the stream like close_notify: 9P frames carry
	 * their lengths, so a cut one is seen by the 9P side.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE
		| SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* fewer reads; what this buffers is what tlspending reports */
	SSL_CTX_set_read_ahead(ctx, 1);
	if(tc->pad > 0){
		SSL_CTX_set_record_padding_callback(ctx, padding);
		SSL_CTX_set_record_padding_callback_arg(ctx, tc);
		if(!SSL_CTX_set_max_send_fragment(ctx, (long)tc->fragmax)){
			fail(err, errlen, "-z %d: %s", tc->pad, sslreason(r, sizeof r));
			goto bad;
		}
	}
	if(tc->nkeys > 0){
		if(side == TLS_DIAL)
			SSL_CTX_set_psk_use_session_callback(ctx, pskuse);
		else
			SSL_CTX_set_psk_find_session_callback(ctx, pskfind);
	}
	if(o->certfile != NULL){
		if(readable("certificate file", o->certfile, err, errlen) < 0
		|| readable("key file", o->keyfile, err, errlen) < 0)
			goto bad;
		if(SSL_CTX_use_certificate_chain_file(ctx, o->certfile) != 1){
			fail(err, errlen, "certificate file %s: %s", o->certfile, sslreason(r, sizeof r));
			goto bad;
		}
		if(SSL_CTX_use_PrivateKey_file(ctx, o->keyfile, SSL_FILETYPE_PEM) != 1){
			if(ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
				fail(err, errlen, "key file %s does not go with certificate file %s", o->keyfile, o->certfile);
			else
				fail(err, errlen, "key file %s: %s", o->keyfile, sslreason(r, sizeof r));
			goto bad;
		}
		if(SSL_CTX_check_private_key(ctx) != 1){
			fail(err, errlen, "key file %s does not go with certificate file %s: %s",
				o->keyfile, o->certfile, sslreason(r, sizeof r));
			goto bad;
		}
	}
	if(o->cafile != NULL){
		if(readable("CA file", o->cafile, err, errlen) < 0)
			goto bad;
		if(SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1){
			fail(err, errlen, "CA file %s: %s", o->cafile, sslreason(r, sizeof r));
			goto bad;
		}
		if(side == TLS_LISTEN){
			/* tells clients which certificate to show */
			names = SSL_load_client_CA_file(o->cafile);
			if(names != NULL)
				SSL_CTX_set_client_CA_list(ctx, names);
			ERR_clear_error();
		}
	}else if(side == TLS_DIAL && o->npins == 0 && tc->nkeys == 0){
		if(SSL_CTX_set_default_verify_paths(ctx) != 1){
			fail(err, errlen, "the system's trust store: %s", sslreason(r, sizeof r));
			goto bad;
		}
	}
	if(side == TLS_DIAL){
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_cert_cb(ctx, certasked, NULL);
	}
	else if(o->cafile != NULL || o->npins > 0)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, certverify, tc);
	return ctx;
bad:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

static Tlsctx *
newtlsctx(const Tlsopts *o, int roles, char *err, size_t errlen)
{
	Tlsctx *tc;
	int i;

	if((roles & (TLS_DIAL|TLS_LISTEN)) == 0 || (roles & ~(TLS_DIAL|TLS_LISTEN)) != 0){
		fail(err, errlen, "TLS roles %d: want dialing, listening or both", roles);
		return NULL;
	}
	if((o->certfile == NULL) != (o->keyfile == NULL)){
		fail(err, errlen, o->certfile ? "-C needs -K, the certificate's private key" : "-K needs -C, the certificate");
		return NULL;
	}
	if(o->pad < 0 || o->pad > TLS_MAXPAD){
		fail(err, errlen, "bad -z %d: want 0 (off) to %d", o->pad, TLS_MAXPAD);
		return NULL;
	}
	if(roles & TLS_LISTEN){
		if(o->pskfile == NULL && o->certfile == NULL){
			fail(err, errlen, "a TLS listener needs -S, or -C and -K");
			return NULL;
		}
		if((o->cafile != NULL || o->npins > 0) && o->certfile == NULL){
			fail(err, errlen, "a TLS listener with -R or -H asks for client certificates and needs one of its own: -C and -K");
			return NULL;
		}
	}
	tc = calloc(1, sizeof *tc);
	if(tc == NULL){
		fail(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&tc->ref, 1);
	tc->pad = o->pad;
	tc->fragmax = o->pad > 0 ? (size_t)(TLS_RECMAX / o->pad * o->pad) : TLS_RECMAX;
	tc->hasca = o->cafile != NULL;
	tc->hascert = o->certfile != NULL;
	if(o->cafile != NULL)
		snprintf(tc->cafile, sizeof tc->cafile, "%s", o->cafile);
	for(i = 0; i < o->npins; i++)
		if(tlsparsepin(o->pins[i], tc->pins[i]) < 0){
			fail(err, errlen, "bad -H %s: want sha256: and 64 hex digits", o->pins[i]);
			goto bad;
		}
	tc->npins = o->npins;
	if(o->pskfile != NULL && (tc->nkeys = readkeys(o->pskfile, &tc->keys, err, errlen)) < 0){
		tc->nkeys = 0;
		goto bad;
	}
	if((roles & TLS_DIAL) && (tc->dial = newctx(tc, o, TLS_DIAL, err, errlen)) == NULL)
		goto bad;
	if((roles & TLS_LISTEN) && (tc->listen = newctx(tc, o, TLS_LISTEN, err, errlen)) == NULL)
		goto bad;
	return tc;
bad:
	tlsctxunref(tc);
	return NULL;
}

static char *
dup1(const char *s, int *nomem)
{
	char *p;

	if(s == NULL)
		return NULL;
	if((p = strdup(s)) == NULL)
		*nomem = 1;
	return p;
}

static void
freeopts(Tlsopts *o)
{
	int i;

	free((char*)o->pskfile);
	free((char*)o->certfile);
	free((char*)o->keyfile);
	free((char*)o->cafile);
	for(i = 0; i < o->npins; i++)
		free((char*)o->pins[i]);
}

Tlsconf *
tlsconfnew(const Tlsopts *o, int roles, char *err, size_t errlen)
{
	Tlsconf *c;
	int i, nomem;

	if(o->npins < 0 || o->npins > TLS_MAXPINS){
		fail(err, errlen, "%d -H pins: at most %d", o->npins, TLS_MAXPINS);
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if(c == NULL){
		fail(err, errlen, "out of memory");
		return NULL;
	}
	nomem = 0;
	c->roles = roles;
	c->o.pskfile = dup1(o->pskfile, &nomem);
	c->o.certfile = dup1(o->certfile, &nomem);
	c->o.keyfile = dup1(o->keyfile, &nomem);
	c->o.cafile = dup1(o->cafile, &nomem);
	for(i = 0; i < o->npins; i++)
		c->o.pins[i] = dup1(o->pins[i], &nomem);
	c->o.npins = o->npins;
	c->o.pad = o->pad;
	if(nomem){
		fail(err, errlen, "out of memory");
		goto bad;
	}
	if((c->cur = newtlsctx(&c->o, roles, err, errlen)) == NULL)
		goto bad;
	return c;
bad:
	freeopts(&c->o);
	free(c);
	return NULL;
}

int
tlsconfreload(Tlsconf *c, char *err, size_t errlen)
{
	Tlsctx *tc;

	if((tc = newtlsctx(&c->o, c->roles, err, errlen)) == NULL)
		return -1;
	tlsctxunref(c->cur);
	c->cur = tc;
	return 0;
}

void
tlsconffree(Tlsconf *c)
{
	if(c == NULL)
		return;
	tlsctxunref(c->cur);
	freeopts(&c->o);
	free(c);
}

int
tlspinfile(const char *certfile, char *pin, size_t len, char *err, size_t errlen)
{
	char r[256];
	uint8_t h[32];
	X509 *x;
	FILE *f;

	if(len <= TLS_PINLEN)
		return fail(err, errlen, "pin buffer too small");
	f = fopen(certfile, "re");
	if(f == NULL)
		return fail(err, errlen, "certificate file %s: %s", certfile, strerror(errno));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if(x == NULL)
		return fail(err, errlen, "certificate file %s: %s", certfile, sslreason(r, sizeof r));
	if(tlsspki(x, h) < 0){
		X509_free(x);
		return fail(err, errlen, "certificate file %s: cannot encode its public key", certfile);
	}
	X509_free(x);
	tlspinstr(h, pin);
	return 0;
}
