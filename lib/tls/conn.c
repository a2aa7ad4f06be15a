/*
 * Connections: a non-blocking socket under an SSL, through a BIO of our
 * own that sends with MSG_NOSIGNAL, counts the bytes and looks at the
 * peer's first bytes (plaintext on a TLS port is told as such, not as
 * OpenSSL's "wrong version number").
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "impl.h"

static BIO_METHOD *biometh;
static pthread_once_t bioonce = PTHREAD_ONCE_INIT;

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

/* Record the peer's first bytes; a TLS peer starts with a handshake or alert record of version 3.x. */
static void
sniff(Tls *t, const uint8_t *p, size_t n)
{
	size_t i;

	for(i = 0; i < n && t->nfirst < (int)sizeof t->first; i++)
		t->first[t->nfirst++] = p[i];
	if(t->first[0] != 0x16 && t->first[0] != 0x15)
		t->notls = 1;
	else if(t->nfirst >= 2 && t->first[1] != 0x03)
		t->notls = 1;
}

static int
bread(BIO *b, char *buf, int n)
{
	Tls *t = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	do{
		r = recv(t->fd, buf, (size_t)n, 0);
		if(r < 0 && errno == ENOTSOCK)
			r = read(t->fd, buf, (size_t)n);
	}while(r < 0 && errno == EINTR);
	if(r < 0){
		if(errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		else
			t->syserr = errno;
		return -1;
	}
	if(r == 0){
		t->eof = 1;
		return 0;
	}
	t->rbytes += (uint64_t)r;
	if(t->state == HANDSHAKE && t->nfirst < (int)sizeof t->first)
		sniff(t, (uint8_t*)buf, (size_t)r);
	return (int)r;
}

static int
bwrite(BIO *b, const char *buf, int n)
{
	Tls *t = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	do{
		r = send(t->fd, buf, (size_t)n, MSG_NOSIGNAL);
		if(r < 0 && errno == ENOTSOCK)
			r = write(t->fd, buf, (size_t)n);
	}while(r < 0 && errno == EINTR);
	if(r < 0){
		if(errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		else
			t->syserr = errno;
		return -1;
	}
	t->wbytes += (uint64_t)r;
	return (int)r;
}

static long
bctrl(BIO *b, int cmd, long num, void *ptr)
{
	Tls *t = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch(cmd){
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return t != NULL && t->eof;
	}
	return 0;
}

static int
bcreate(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void
mkbiometh(void)
{
	BIO_METHOD *m;

	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "9mux socket");
	if(m == NULL)
		return;
	if(!BIO_meth_set_read(m, bread) || !BIO_meth_set_write(m, bwrite)
	|| !BIO_meth_set_ctrl(m, bctrl) || !BIO_meth_set_create(m, bcreate)){
		BIO_meth_free(m);
		return;
	}
	biometh = m;
}

static int
isaddr(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

Tls *
tlsnew(Tlsconf *c, int fd, int side, const char *host, char *err, size_t errlen)
{
	Tlsctx *tc;
	SSL_CTX *sctx;
	Tls *t;
	BIO *b;
	int check;

	tc = c->cur;
	sctx = side == TLS_DIAL ? tc->dial : side == TLS_LISTEN ? tc->listen : NULL;
	if(sctx == NULL){
		fail(err, errlen, "this TLS configuration was not made for %s", side == TLS_DIAL ? "dialing" : "listening");
		return NULL;
	}
	check = side == TLS_DIAL && (tc->hasca || (tc->npins == 0 && tc->nkeys == 0));
	if(check && (host == NULL || *host == '\0')){
		fail(err, errlen, "no host name to check the server's certificate against");
		return NULL;
	}
	if(pthread_once(&bioonce, mkbiometh) != 0 || biometh == NULL){
		fail(err, errlen, "cannot make a BIO method");
		return NULL;
	}
	t = calloc(1, sizeof *t);
	if(t == NULL){
		fail(err, errlen, "out of memory");
		return NULL;
	}
	t->fd = fd;
	t->side = side;
	t->psk = -1;
	t->state = HANDSHAKE;
	t->recmax = tc->fragmax - (tc->pad > 0);
	if(host != NULL)
		snprintf(t->host, sizeof t->host, "%s", host);
	ERR_clear_error();
	if((t->ssl = SSL_new(sctx)) == NULL || (b = BIO_new(biometh)) == NULL){
		fail(err, errlen, "cannot make a TLS connection: out of memory");
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	BIO_set_data(b, t);
	SSL_set_bio(t->ssl, b, b);
	SSL_set_app_data(t->ssl, t);
	atomic_fetch_add(&tc->ref, 1);
	t->ctx = tc;
	if(side == TLS_DIAL){
		SSL_set_connect_state(t->ssl);
		if(host != NULL && *host != '\0' && !isaddr(host))
			SSL_set_tlsext_host_name(t->ssl, host);
		if(check){
			SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if(isaddr(host) ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host)
			: !SSL_set1_host(t->ssl, host)){
				fail(err, errlen, "cannot check certificates against host %s", host);
				tlsfree(t);
				ERR_clear_error();
				return NULL;
			}
		}
	}else
		SSL_set_accept_state(t->ssl);
	return t;
}

void
tlsfree(Tls *t)
{
	if(t == NULL)
		return;
	SSL_free(t->ssl);
	tlsctxunref(t->ctx);
	if(t->stage != NULL){
		OPENSSL_cleanse(t->stage, t->recmax);
		free(t->stage);
	}
	free(t);
}

static int
isalert(int reason, int alert)
{
	return reason == SSL_AD_REASON_OFFSET + alert;
}

/* The first error of OpenSSL's queue from libssl, else the first. */
static unsigned long
firsterr(void)
{
	unsigned long e, first, ssl;
	const char *file, *fn, *data;
	int line, flags;

	first = ssl = 0;
	while((e = ERR_get_error_all(&file, &line, &fn, &data, &flags)) != 0){
		if(first == 0)
			first = e;
		if(ssl == 0 && ERR_GET_LIB(e) == ERR_LIB_SSL)
			ssl = e;
	}
	return ssl ? ssl : first;
}

/* Say why the connection died, in t->err; the connection is DEAD after. */
static int
died(Tls *t, int sslerr)
{
	char why[300];
	const char *rs, *id;
	unsigned long e;
	int reason, peerpsk, hs;
	size_t i;

	hs = t->state == HANDSHAKE;
	t->state = DEAD;
	e = sslerr == SSL_ERROR_SSL ? firsterr() : 0;
	ERR_clear_error();
	reason = e ? ERR_GET_REASON(e) : 0;
	rs = e ? ERR_reason_error_string(e) : NULL;
	if(rs == NULL)
		rs = e ? "unknown error" : "";
	id = t->ctx->nkeys > 0 ? t->ctx->keys[0].id : "";
	/* we dialed with a key, and no certificate was looked at */
	peerpsk = t->side == TLS_DIAL && t->ctx->nkeys > 0 && t->pin[0] == '\0';

	if(t->notls){
		why[0] = '\0';
		for(i = 0; i < (size_t)t->nfirst; i++)
			snprintf(why + strlen(why), sizeof why - strlen(why), "%s%02x", i ? " " : "", t->first[i]);
		snprintf(t->err, sizeof t->err, "not TLS: the peer sent plaintext (%s)", why);
	}else if(t->why[0] != '\0')
		snprintf(t->err, sizeof t->err, "%s", t->why);
	else if(sslerr == SSL_ERROR_SYSCALL && hs && (t->syserr == ECONNRESET || t->syserr == EPIPE))
		snprintf(t->err, sizeof t->err, "the peer closed the connection during the TLS handshake (%s)", strerror(t->syserr));
	else if(sslerr == SSL_ERROR_SYSCALL && t->side == TLS_DIAL && !t->gotdata && t->certasked && !t->ctx->hascert
	&& (t->syserr == ECONNRESET || t->syserr == EPIPE))
		snprintf(t->err, sizeof t->err, "the server wants a client certificate (-C and -K) and hung up: %s", strerror(t->syserr));
	else if(sslerr == SSL_ERROR_SYSCALL && t->side == TLS_DIAL && !t->gotdata && t->certasked
	&& (t->syserr == ECONNRESET || t->syserr == EPIPE))
		snprintf(t->err, sizeof t->err, "the server hung up after the handshake: did it refuse our certificate? (%s)", strerror(t->syserr));
	else if(sslerr == SSL_ERROR_SYSCALL && t->syserr != 0)
		snprintf(t->err, sizeof t->err, "TLS%s: %s", hs ? " handshake" : "", strerror(t->syserr));
	else if(sslerr == SSL_ERROR_SYSCALL || sslerr == SSL_ERROR_ZERO_RETURN || (e == 0 && t->eof)){
		if(hs && peerpsk)
			snprintf(t->err, sizeof t->err,
				"the peer closed the connection during the TLS handshake (is it a TLS server? does it know key identity %s?)", id);
		else if(hs && t->side == TLS_DIAL)
			snprintf(t->err, sizeof t->err, "the peer closed the connection during the TLS handshake (is it a TLS server?)");
		else
			snprintf(t->err, sizeof t->err, "the peer closed the connection%s", hs ? " during the TLS handshake" : "");
	}else if(reason == SSL_R_BINDER_DOES_NOT_VERIFY)
		snprintf(t->err, sizeof t->err, "wrong pre-shared key for identity %s: %s",
			t->psk >= 0 ? t->ctx->keys[t->psk].id : "?", rs);
	else if(t->side == TLS_LISTEN && t->unknownid[0] != '\0' && hs)
		snprintf(t->err, sizeof t->err, "unknown pre-shared key identity %s (%s)", t->unknownid, rs);
	else if(reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		snprintf(t->err, sizeof t->err, "the peer sent no certificate%s", t->ctx->nkeys > 0 ? " and no known pre-shared key" : "");
	else if(peerpsk && (isalert(reason, SSL_AD_DECRYPT_ERROR) || isalert(reason, SSL_AD_ILLEGAL_PARAMETER)))
		snprintf(t->err, sizeof t->err, "the peer refused our pre-shared key, identity %s: a different key? (%s)", id, rs);
	else if(peerpsk && (isalert(reason, SSL_AD_HANDSHAKE_FAILURE) || isalert(reason, SSL_AD_UNKNOWN_PSK_IDENTITY)))
		snprintf(t->err, sizeof t->err, "the peer refused our pre-shared key, identity %s: unknown to it? (%s)", id, rs);
	else if(isalert(reason, SSL_AD_BAD_CERTIFICATE) || isalert(reason, SSL_AD_UNKNOWN_CA)
	|| isalert(reason, SSL_AD_CERTIFICATE_EXPIRED) || isalert(reason, SSL_AD_CERTIFICATE_UNKNOWN)
	|| isalert(reason, SSL_AD_UNSUPPORTED_CERTIFICATE) || isalert(reason, SSL_AD_CERTIFICATE_REVOKED)
	|| isalert(reason, SSL_AD_ACCESS_DENIED))
		snprintf(t->err, sizeof t->err, "the peer refused our certificate: %s", rs);
	else if(isalert(reason, TLS13_AD_CERTIFICATE_REQUIRED))
		snprintf(t->err, sizeof t->err, "the peer wants a certificate (-C and -K) or a key it knows (-S): %s", rs);
	else if(reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE
	|| isalert(reason, SSL_AD_PROTOCOL_VERSION))
		snprintf(t->err, sizeof t->err, "the peer does not speak TLS 1.3: %s", rs);
	else if(reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST
	|| reason == SSL_R_HTTPS_PROXY_REQUEST || reason == SSL_R_PACKET_LENGTH_TOO_LONG
	|| reason == SSL_R_UNKNOWN_PROTOCOL)
		snprintf(t->err, sizeof t->err, "not TLS: the peer sent plaintext (%s)", rs);
	else if(t->side == TLS_LISTEN && hs && t->ctx->nkeys > 0 && !t->ctx->hascert && !t->pskseen)
		snprintf(t->err, sizeof t->err, "the peer offered no pre-shared key we can use (%s)", rs);
	else if(e != 0 && reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
		snprintf(t->err, sizeof t->err, "the peer ended the %s: %s", hs ? "TLS handshake" : "TLS connection", rs);
	else if(e != 0)
		snprintf(t->err, sizeof t->err, "TLS%s failed: %s", hs ? " handshake" : "", rs);
	else
		snprintf(t->err, sizeof t->err, "TLS%s failed (SSL error %d)", hs ? " handshake" : "", sslerr);
	tlsoneline(t->err);
	return TLS_ERROR;
}

/* What a failed SSL call means: a wait, or the connection's end. */
static int
failed(Tls *t, int r)
{
	int e;

	e = SSL_get_error(t->ssl, r);
	switch(e){
	case SSL_ERROR_WANT_READ:
		ERR_clear_error();
		return TLS_WANTREAD;
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return TLS_WANTWRITE;
	}
	return died(t, e);
}

/* The handshake is done: did the peer prove what this side asks? */
static int
accepted(Tls *t)
{
	Tlsctx *tc;
	X509 *x;
	uint8_t h[32];
	const char *v;
	int mode;
	size_t m;

	tc = t->ctx;
	v = SSL_get_version(t->ssl);
	snprintf(t->cipher, sizeof t->cipher, "%s %s", v ? v : "?", SSL_get_cipher_name(t->ssl));
	if(SSL_session_reused(t->ssl)){
		if(t->side == TLS_DIAL && tc->nkeys > 0)
			snprintf(t->peer, sizeof t->peer, "%s", tc->keys[0].id);
		else if(t->side == TLS_LISTEN && t->psk >= 0)
			snprintf(t->peer, sizeof t->peer, "%s", tc->keys[t->psk].id);
		else{
			snprintf(t->err, sizeof t->err, "TLS: a session was resumed without a key of ours");
			return -1;
		}
		t->auth = TLS_AUTHPSK;
		t->pin[0] = '\0';
	}else{
		x = SSL_get0_peer_certificate(t->ssl);
		if(t->side == TLS_DIAL || tc->nkeys > 0 || tc->hasca || tc->npins > 0){
			if(x == NULL){
				snprintf(t->err, sizeof t->err, "the peer proved nothing: no certificate%s",
					tc->nkeys > 0 ? " and no known pre-shared key" : "");
				return -1;
			}
			if(!t->verified || SSL_get_verify_result(t->ssl) != X509_V_OK){
				snprintf(t->err, sizeof t->err, "the peer's certificate was not verified");
				return -1;
			}
		}
		if(x != NULL){
			/* an unchecked certificate names nobody; its pin is still worth a log line */
			if(t->verified){
				tlscertname(x, t->peer, sizeof t->peer);
				t->auth = TLS_AUTHCERT;
			}
			if(tlsspki(x, h) == 0)
				tlspinstr(h, t->pin);
		}
	}
	/* a peer's max_fragment_length caps records below our padding's */
	mode = SSL_SESSION_get_max_fragment_length(SSL_get_session(t->ssl));
	if(mode >= TLSEXT_max_fragment_length_512 && mode <= TLSEXT_max_fragment_length_4096){
		m = (size_t)512 << (mode - TLSEXT_max_fragment_length_512);
		if(tc->pad > 0){
			if((size_t)tc->pad > m){
				snprintf(t->err, sizeof t->err, "the peer's records of %zu bytes cannot be padded to -z %d", m, tc->pad);
				return -1;
			}
			m = m / (size_t)tc->pad * (size_t)tc->pad - 1;
		}
		if(m < t->recmax)
			t->recmax = m;
	}
	return 0;
}

int
tlshandshake(Tls *t)
{
	int r;

	if(t->state == DEAD)
		return TLS_ERROR;
	if(t->state != HANDSHAKE)
		return 0;
	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if(r != 1)
		return failed(t, r);
	if(accepted(t) < 0){
		tlsoneline(t->err);
		t->state = DEAD;
		return TLS_ERROR;
	}
	t->state = OPEN;
	return 0;
}

ssize_t
tlsread(Tls *t, void *buf, size_t len)
{
	size_t n, got;
	int r, e;

	if(t->state == ENDED)
		return 0;
	if(t->state == HANDSHAKE)
		snprintf(t->err, sizeof t->err, "TLS: read before the handshake is done");
	if(t->state != OPEN)
		return TLS_ERROR;
	n = 0;
	while(n < len){
		ERR_clear_error();
		r = SSL_read_ex(t->ssl, (char*)buf + n, len - n, &got);
		if(r == 1){
			n += got;
			t->gotdata = 1;
			continue;
		}
		e = SSL_get_error(t->ssl, r);
		if(e == SSL_ERROR_ZERO_RETURN){
			ERR_clear_error();
			t->state = ENDED;
			break;
		}
		if(n > 0 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE){
			/* give what came; the next call reports the end */
			died(t, e);
			break;
		}
		if(n > 0){
			ERR_clear_error();
			break;
		}
		return failed(t, r);
	}
	return (ssize_t)n;
}

int
tlspending(Tls *t)
{
	return t->state == OPEN && SSL_has_pending(t->ssl);
}

/* Send what the stage holds: 0 when it is out, or a TLS_ code. */
static int
flushstage(Tls *t)
{
	size_t w;
	int r;

	while(t->nstage > 0){
		ERR_clear_error();
		r = SSL_write_ex(t->ssl, t->stage, t->nstage, &w);
		if(r != 1)
			return failed(t, r);
		/*
		 * The stage is one record, so w is all of it; were it not, the
		 * rest moves down, which SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows.
		 */
		if(w < t->nstage)
			memmove(t->stage, t->stage + w, t->nstage - w);
		t->nstage -= w;
	}
	return 0;
}

ssize_t
tlswritev(Tls *t, const struct iovec *iov, int iovcnt, int *want)
{
	size_t taken, off, n;
	int i, r;

	*want = 0;
	if(t->state == HANDSHAKE)
		snprintf(t->err, sizeof t->err, "TLS: write before the handshake is done");
	else if(t->state == ENDED)
		snprintf(t->err, sizeof t->err, "TLS: write after the peer closed the connection");
	if(t->state != OPEN)
		return TLS_ERROR;
	if(t->stage == NULL && (t->stage = malloc(t->recmax)) == NULL){
		snprintf(t->err, sizeof t->err, "TLS: out of memory");
		t->state = DEAD;
		return TLS_ERROR;
	}
	taken = 0;
	i = 0;
	off = 0;
	for(;;){
		/*
		 * Until SSL_write_ex says yes, the stage must stay as it is:
		 * OpenSSL may hold a record made of it, to be retried.
		 */
		if((r = flushstage(t)) != 0){
			if(r == TLS_ERROR)
				return TLS_ERROR;
			*want = r;
			return (ssize_t)taken;
		}
		while(i < iovcnt && t->nstage < t->recmax){
			n = iov[i].iov_len - off;
			if(n > t->recmax - t->nstage)
				n = t->recmax - t->nstage;
			if(n > 0)
				memcpy(t->stage + t->nstage, (const char*)iov[i].iov_base + off, n);
			t->nstage += n;
			off += n;
			taken += n;
			if(off == iov[i].iov_len){
				i++;
				off = 0;
			}
		}
		if(t->nstage == 0)
			return (ssize_t)taken;
	}
}

int
tlsshutdown(Tls *t)
{
	int r;

	if(t->state == DEAD)
		return TLS_ERROR;
	if(t->state == HANDSHAKE)
		return 0;
	if(t->stage != NULL && (r = flushstage(t)) != 0)
		return r;
	ERR_clear_error();
	r = SSL_shutdown(t->ssl);
	if(r >= 0)
		return 0;
	return failed(t, r);
}

const char *
tlserr(Tls *t)
{
	return t->err;
}

const char *
tlspeer(Tls *t)
{
	return t->peer;
}

int
tlsauth(Tls *t)
{
	return t->auth;
}

const char *
tlspeerpin(Tls *t)
{
	return t->auth == TLS_AUTHPSK ? "" : t->pin;
}

const char *
tlscipher(Tls *t)
{
	return t->cipher;
}

void
tlswire(Tls *t, uint64_t *in, uint64_t *out)
{
	*in = t->rbytes;
	*out = t->wbytes;
}
