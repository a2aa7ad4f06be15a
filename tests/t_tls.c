/*
 * t_tls: lib/tls with both ends ours, in one thread over socketpairs
 * joined by a relay that reads every TLS record header on the wire: the
 * flags, the key file's permission and format checks, pre-shared keys,
 * certificates, pins and each refusal's one-line message, padding
 * (-z) record by record, tlswritev's partial writes and coalescing,
 * tlspending, reload, and tlsrelay.  Keys and certificates are made
 * with the openssl command in a temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "tap.h"
#include "p9conv.h"
#include "tlsconv.h"

/* ---- two of our ends and a relay between them ---- */

typedef struct Pair Pair;
struct Pair {
	int	a[2];		/* a[0] the client's socket, a[1] the relay's */
	int	b[2];		/* b[0] the server's socket, b[1] the relay's */
	Tls	*c, *s;
	int	crc, src;	/* handshakes: 1 going, 0 done, TLS_ERROR */
	Tcrecs	up, down;	/* records client to server, server to client */
	uint8_t	ubuf[65536], dbuf[65536];
	size_t	ulen, uoff, dlen, doff;
	int	hold;		/* the relay moves nothing */
};

static void
nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static Pair *
pairnew(Tlsconf *cc, Tlsconf *sc, const char *host, char *err, size_t errlen)
{
	Pair *p;

	p = calloc(1, sizeof *p);
	if(socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, p->a) < 0
	|| socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, p->b) < 0)
		abort();
	nonblock(p->a[0]);
	nonblock(p->a[1]);
	nonblock(p->b[0]);
	nonblock(p->b[1]);
	p->crc = p->src = 1;
	p->c = tlsnew(cc, p->a[0], TLS_DIAL, host, err, errlen);
	p->s = tlsnew(sc, p->b[0], TLS_LISTEN, NULL, err, errlen);
	if(p->c == NULL || p->s == NULL){
		tlsfree(p->c);
		tlsfree(p->s);
		close(p->a[0]);
		close(p->a[1]);
		close(p->b[0]);
		close(p->b[1]);
		free(p);
		return NULL;
	}
	return p;
}

static void
pairfree(Pair *p)
{
	if(p == NULL)
		return;
	tlsfree(p->c);
	tlsfree(p->s);
	close(p->a[0]);
	close(p->a[1]);
	close(p->b[0]);
	close(p->b[1]);
	free(p);
}

/* Move what one direction has: whether anything moved. */
static int
move1(int from, int to, uint8_t *buf, size_t *len, size_t *off, Tcrecs *r)
{
	ssize_t n;
	int moved;

	moved = 0;
	if(*off == *len){
		*len = *off = 0;
		n = read(from, buf, 65536);
		if(n > 0){
			tc_records(r, buf, (size_t)n);
			*len = (size_t)n;
			moved = 1;
		}else if(n == 0 && to >= 0){
			shutdown(to, SHUT_WR);
		}
	}
	if(*off < *len){
		n = write(to, buf + *off, *len - *off);
		if(n > 0){
			*off += (size_t)n;
			moved = 1;
		}
	}
	return moved;
}

static int
relay(Pair *p)
{
	int m;

	if(p->hold)
		return 0;
	m = move1(p->a[1], p->b[1], p->ubuf, &p->ulen, &p->uoff, &p->up);
	m |= move1(p->b[1], p->a[1], p->dbuf, &p->dlen, &p->doff, &p->down);
	return m;
}

static void
idle(void)
{
	poll(NULL, 0, 1);
}

/*
 * Both handshakes to their end; then, as a TLS 1.3 client is done before
 * the server has judged its certificate, the client reads for a moment
 * to hear a refusal.  0 if both ends are up.
 */
static int
pairshake(Pair *p, int ms)
{
	long end;
	char b[16];
	ssize_t n;
	int r;

	end = pc_now() + ms;
	while((p->crc == 1 || p->src == 1) && pc_now() < end){
		if(p->crc == 1 && ((r = tlshandshake(p->c)) == 0 || r == TLS_ERROR))
			p->crc = r;
		if(p->src == 1 && ((r = tlshandshake(p->s)) == 0 || r == TLS_ERROR))
			p->src = r;
		if(!relay(p))
			idle();
	}
	if(p->crc == 0 && p->src != 0){
		end = pc_now() + 500;
		while(pc_now() < end){
			n = tlsread(p->c, b, sizeof b);
			if(n == TLS_ERROR || n == 0){
				p->crc = TLS_ERROR;
				break;
			}
			if(!relay(p))
				idle();
		}
	}
	return p->crc == 0 && p->src == 0 ? 0 : -1;
}

/*
 * Send n bytes of data from one end (the client when up) in writes of
 * at most chunk bytes, given to tlswritev as iovecs of at most iovlen,
 * while the other end reads them into got.  0 if all arrived.
 */
static int
pairsend(Pair *p, int up, const uint8_t *data, size_t n, size_t chunk, size_t iovlen, uint8_t *got, int ms)
{
	struct iovec iov[64];
	Tls *from, *to;
	size_t sent, recvd, k, left;
	ssize_t w, r;
	long end;
	int want, niov, moved;

	from = up ? p->c : p->s;
	to = up ? p->s : p->c;
	sent = recvd = 0;
	want = 0;
	end = pc_now() + ms;
	while((recvd < n || want != 0) && pc_now() < end){
		moved = 0;
		if(sent < n || want != 0){
			left = n - sent < chunk ? n - sent : chunk;
			niov = 0;
			for(k = 0; k < left && niov < 64; k += iovlen){
				iov[niov].iov_base = (void*)(uintptr_t)(data + sent + k);
				iov[niov].iov_len = left - k < iovlen ? left - k : iovlen;
				niov++;
			}
			w = tlswritev(from, iov, niov, &want);
			if(w < 0){
				diag("tlswritev: %s", tlserr(from));
				return -1;
			}
			sent += (size_t)w;
			moved |= w > 0;
		}
		r = tlsread(to, got + recvd, n - recvd);
		if(r == TLS_ERROR || r == 0){
			diag("tlsread: %zd %s", r, tlserr(to));
			return -1;
		}
		if(r > 0){
			recvd += (size_t)r;
			moved = 1;
		}
		moved |= relay(p);
		if(!moved)
			idle();
	}
	return recvd == n && want == 0 ? 0 : -1;
}

/* A pair of these configurations that should meet: ok and peer names checked by the caller. */
static Pair *
meet(const char *cflags, const char *sflags, const char *host)
{
	char err[512];
	Tlsconf *cc, *sc;
	Pair *p;

	cc = tc_conf(TLS_DIAL, err, sizeof err, cflags);
	if(cc == NULL){
		diag("client %s: %s", cflags, err);
		return NULL;
	}
	sc = tc_conf(TLS_LISTEN, err, sizeof err, sflags);
	if(sc == NULL){
		diag("server %s: %s", sflags, err);
		tlsconffree(cc);
		return NULL;
	}
	p = pairnew(cc, sc, host, err, sizeof err);
	if(p == NULL)
		diag("pairnew: %s", err);
	tlsconffree(cc);
	tlsconffree(sc);
	if(p != NULL)
		pairshake(p, 5000);
	return p;
}

/* Meet, and say whether both came up; names and auth in the diagnostics. */
static int
meetok(const char *cflags, const char *sflags, const char *host, const char *cpeer, const char *speer)
{
	Pair *p;
	int good;

	p = meet(cflags, sflags, host);
	if(p == NULL)
		return 0;
	good = p->crc == 0 && p->src == 0;
	if(!good)
		diag("client: %s | server: %s", tlserr(p->c), tlserr(p->s));
	if(good && cpeer != NULL && strcmp(tlspeer(p->c), cpeer) != 0){
		diag("client sees peer \"%s\", want \"%s\"", tlspeer(p->c), cpeer);
		good = 0;
	}
	if(good && speer != NULL && strcmp(tlspeer(p->s), speer) != 0){
		diag("server sees peer \"%s\", want \"%s\"", tlspeer(p->s), speer);
		good = 0;
	}
	pairfree(p);
	return good;
}

/*
 * Meet, expecting a refusal: whether the side that must refuse (client
 * when cside) did, with a one-line message containing sub.
 */
static int
refused(const char *cflags, const char *sflags, const char *host, int cside, const char *sub)
{
	const char *m;
	Pair *p;
	int good;

	p = meet(cflags, sflags, host);
	if(p == NULL)
		return 0;
	m = tlserr(cside ? p->c : p->s);
	good = (cside ? p->crc : p->src) == TLS_ERROR && tc_says(m, sub);
	diag("  %s: \"%s\"", cside ? "client" : "server", m);
	if(!good)
		diag("  want \"%s\"; other side: \"%s\"", sub, tlserr(cside ? p->s : p->c));
	pairfree(p);
	return good;
}

/* ---- the tests ---- */

static void
flags(void)
{
	char err[256];
	Tlsopts o;
	int i, r;

	memset(&o, 0, sizeof o);
	ok(!tlsflagged(&o), "no flags: not flagged");
	is_int(tlsflag(&o, 'S', "keys", err, sizeof err), 1, "-S is a TLS flag");
	is_int(tlsflag(&o, 'a', "x", err, sizeof err), 0, "-a is not");
	ok(tlsflagged(&o) && strcmp(o.pskfile, "keys") == 0, "-S recorded");
	is_int(tlsflag(&o, 'z', "1024", err, sizeof err), 1, "-z 1024");
	is_int(o.pad, 1024, "... pad 1024");
	r = tlsflag(&o, 'z', "16385", err, sizeof err);
	ok(r == -1 && tc_says(err, "-z 16385"), "-z 16385 refused: %s", err);
	r = tlsflag(&o, 'z', "12x", err, sizeof err);
	ok(r == -1 && tc_says(err, "-z 12x"), "-z 12x refused: %s", err);
	r = tlsflag(&o, 'z', "1\n2", err, sizeof err);
	ok(r == -1 && tc_says(err, "-z 1?2"), "a newline in an argument stays out of the message: %s", err);
	r = tlsflag(&o, 'H', "sha256:abc", err, sizeof err);
	ok(r == -1 && tc_says(err, "sha256:abc"), "a short pin is refused: %s", err);
	r = tlsflag(&o, 'H', "md5:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", err, sizeof err);
	ok(r == -1, "a pin of another hash is refused: %s", err);
	r = tlsflag(&o, 'H', "sha256:0011223344556677889900aabbccddeeff00112233445566778899aabbccddxx", err, sizeof err);
	ok(r == -1, "a pin that is not hex is refused: %s", err);
	for(i = 0; i < TLS_MAXPINS; i++)
		if(tlsflag(&o, 'H', "sha256:00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff", err, sizeof err) != 1)
			break;
	is_int(i, TLS_MAXPINS, "%d pins taken (upper-case hex too)", TLS_MAXPINS);
	r = tlsflag(&o, 'H', "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", err, sizeof err);
	ok(r == -1 && tc_says(err, "more than"), "one more is refused: %s", err);
}

static void
keytext(void)
{
	char good[1024], text[1024], err[512];
	int n;

	snprintf(good, sizeof good,
		"# the shared keys\n"
		"\n"
		"laptop %s   # the first\n"
		"  server\t%s\r\n"
		"long %s%s\n",
		tc_k1, tc_k2, tc_k1, tc_k2);
	n = tlskeycheck("keys", good, strlen(good), err, sizeof err);
	is_int(n, 3, "a key file with comments, blank lines, tabs and CRLF: 3 keys (%s)", n < 0 ? err : "");
	is_int(tlskeycheck("keys", good, 0, err, sizeof err), -1, "an empty text has no keys");
	ok(tc_says(err, "keys: no keys"), "... says so: %s", err);
	snprintf(text, sizeof text, "# nothing\n\n");
	is_int(tlskeycheck("keys", text, strlen(text), err, sizeof err), -1, "only comments: refused");

	snprintf(text, sizeof text, "laptop %.62s\n", tc_k1);
	n = tlskeycheck("keys", text, strlen(text), err, sizeof err);
	ok(n == -1 && tc_says(err, "key file keys, line 1: key of laptop is 31 bytes, at least 32"), "a 31-byte key: %s", err);
	ok(strstr(err, tc_k1 + 10) == NULL, "... and the key is not in the message");
	snprintf(text, sizeof text, "# c\nlaptop %.63sg\n", tc_k1);
	n = tlskeycheck("keys", text, strlen(text), err, sizeof err);
	ok(n == -1 && tc_says(err, "line 2: key of laptop is not hex"), "a key with a g: %s", err);
	snprintf(text, sizeof text, "laptop %s0\n", tc_k1);
	n = tlskeycheck("keys", text, strlen(text), err, sizeof err);
	ok(n == -1 && tc_says(err, "odd number of hex digits"), "65 hex digits: %s", err);
	snprintf(text, sizeof text, "laptop\n");
	n = tlskeycheck("keys", text, strlen(text), err, sizeof err);
	ok(n == -1 && tc_says(err, "want \"identity hexkey\""), "an identity alone: %s", err);
	snprintf(text, sizeof text, "laptop %s extra\n", tc_k1);
	n = tlskeycheck("keys", text, strlen(text), err, sizeof err);
	ok(n == -1 && tc_says(err, "want \"identity hexkey\""), "three fields: %s", err);
	snprintf(text, sizeof text, "a %s\nb %s\na %s\n", tc_k1, tc_k2, tc_k2);
	n = tlskeycheck("keys", text, strlen(text), err, sizeof err);
	ok(n == -1 && tc_says(err, "line 3: identity a given twice"), "an identity twice: %s", err);
	snprintf(text, sizeof text, "l\001p %s\n", tc_k1);
	n = tlskeycheck("keys", text, strlen(text), err, sizeof err);
	ok(n == -1 && tc_says(err, "not printable"), "a control character in an identity: %s", err);
	memset(text, 'a', 600);
	text[0] = 'x';
	text[1] = ' ';
	text[600] = '\n';
	text[601] = '\0';
	n = tlskeycheck("keys", text, strlen(text), err, sizeof err);
	ok(n == -1 && tc_says(err, "at most 256"), "a 299-byte key: %s", err);
	snprintf(text, sizeof text, "#laptop %s\n", tc_k1);
	is_int(tlskeycheck("keys", text, strlen(text), err, sizeof err), -1, "a commented-out key is no key");
}

static void
keyfile(void)
{
	static const int modes[] = { 0640, 0620, 0604, 0602, 0660 };
	char text[256], err[512], want[1024];
	Tlsconf *c;
	Tlsopts o;
	size_t i;

	snprintf(text, sizeof text, "laptop %s\n", tc_k1);
	tc_write("k600", 0600, text);
	c = tc_conf(TLS_DIAL|TLS_LISTEN, err, sizeof err, "-S k600");
	ok(c != NULL, "a key file of mode 0600 is taken (%s)", c ? "" : err);
	tlsconffree(c);
	tc_write("k400", 0400, text);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-S k400");
	ok(c != NULL, "... and of mode 0400 (%s)", c ? "" : err);
	tlsconffree(c);
	for(i = 0; i < sizeof modes / sizeof modes[0]; i++){
		tc_write("kbad", modes[i], text);
		c = tc_conf(TLS_DIAL, err, sizeof err, "-S kbad");
		snprintf(want, sizeof want, "key file %s: readable or writable by group or others (mode %04o)",
			tc_path("kbad"), modes[i]);
		ok(c == NULL && tc_says(err, want), "mode %04o is refused: %s", modes[i], err);
		tlsconffree(c);
	}
	snprintf(text, sizeof text, "laptop %.60s\n", tc_k1);
	tc_write("kshort", 0600, text);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-S kshort");
	snprintf(want, sizeof want, "key file %s, line 1: key of laptop is 30 bytes", tc_path("kshort"));
	ok(c == NULL && tc_says(err, want), "a short key in the file: %s", err);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-S nosuchfile");
	ok(c == NULL && tc_says(err, "nosuchfile: No such file or directory"), "a missing key file: %s", err);
	memset(&o, 0, sizeof o);
	o.pskfile = tc_dir;
	c = tlsconfnew(&o, TLS_DIAL, err, sizeof err);
	ok(c == NULL && tc_says(err, "not a regular file"), "a directory as key file: %s", err);
}

static void
confs(void)
{
	char err[512];
	Tlsconf *c;
	Tlsopts o;

	c = tc_conf(TLS_LISTEN, err, sizeof err, "-R ca1.pem");
	ok(c == NULL && tc_says(err, "a TLS listener needs -S, or -C and -K"), "a listener with nothing to show: %s", err);
	c = tc_conf(TLS_LISTEN, err, sizeof err, "-S keys -R ca1.pem");
	ok(c == NULL && tc_says(err, "needs one of its own"), "a listener with -R and no certificate: %s", err);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-C cli.pem");
	ok(c == NULL && tc_says(err, "-C needs -K"), "-C without -K: %s", err);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-C cli.pem -K srv.key");
	ok(c == NULL && tc_says(err, "does not go with certificate file"), "a key of another certificate: %s", err);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-C nosuch.pem -K cli.key");
	ok(c == NULL && tc_says(err, "nosuch.pem: No such file"), "a missing certificate: %s", err);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-C keys -K cli.key");
	ok(c == NULL && tc_says(err, "certificate file"), "a key file given as certificate: %s", err);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-R cli.key");
	ok(c == NULL && tc_says(err, "CA file"), "a CA file with no certificate: %s", err);
	memset(&o, 0, sizeof o);
	o.pad = 20000;
	c = tlsconfnew(&o, TLS_DIAL, err, sizeof err);
	ok(c == NULL && tc_says(err, "-z 20000"), "-z 20000 through Tlsopts: %s", err);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-S keys");
	ok(c != NULL, "a dialer with -S alone");
	if(c != NULL){
		Tls *t;
		int sv[2];

		if(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			abort();
		t = tlsnew(c, sv[0], TLS_LISTEN, NULL, err, sizeof err);
		ok(t == NULL && tc_says(err, "not made for listening"), "... cannot listen: %s", err);
		tlsfree(t);
		close(sv[0]);
		close(sv[1]);
	}
	tlsconffree(c);
	c = tc_conf(TLS_DIAL, err, sizeof err, "-R ca1.pem");
	if(c != NULL){
		Tls *t;
		int sv[2];

		if(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			abort();
		t = tlsnew(c, sv[0], TLS_DIAL, NULL, err, sizeof err);
		ok(t == NULL && tc_says(err, "no host name"), "a CA check needs a host: %s", err);
		tlsfree(t);
		close(sv[0]);
		close(sv[1]);
	}
	tlsconffree(c);
}

static void
pins(void)
{
	char pin[128], err[256], want[128];
	FILE *f;

	ok(tlspinfile(tc_path("self.pem"), pin, sizeof pin, err, sizeof err) == 0, "tlspinfile (%s)", pin);
	tc_sh("openssl x509 -in self.pem -pubkey -noout | openssl pkey -pubin -outform der"
		" | openssl dgst -sha256 -hex | sed 's/.*= */sha256:/' > self.pin");
	want[0] = '\0';
	f = fopen(tc_path("self.pin"), "r");
	if(f != NULL){
		if(fgets(want, sizeof want, f) == NULL)
			want[0] = '\0';
		fclose(f);
	}
	want[strcspn(want, "\n")] = '\0';
	is_int(strcmp(pin, want), 0, "... is what openssl x509 -pubkey | pkey -outform der | dgst -sha256 gives (%s)", want);
	ok(tlspinfile(tc_path("nosuch.pem"), pin, sizeof pin, err, sizeof err) < 0 && tc_says(err, "No such file"),
		"tlspinfile of a missing file: %s", err);
}

static void
meetings(void)
{
	char f1[512], f2[600], sp[128], sp2[128], cp[128], err[256];

	if(tlspinfile(tc_path("self.pem"), sp, sizeof sp, err, sizeof err) < 0
	|| tlspinfile(tc_path("self2.pem"), sp2, sizeof sp2, err, sizeof err) < 0
	|| tlspinfile(tc_path("cli.pem"), cp, sizeof cp, err, sizeof err) < 0)
		diag("pins: %s", err);

	ok(meetok("-S keys", "-S keys", NULL, "laptop", "laptop"), "pre-shared key: both up, each names the identity");
	ok(meetok("-S keys2", "-S keys", NULL, "server", "server"), "a listener takes any identity of its file");
	ok(meetok("-R ca1.pem", "-C srv.pem -K srv.key", "localhost", "localhost", ""), "server certificate, CA and host checked");
	ok(meetok("-R ca1.pem", "-C srv.pem -K srv.key", "127.0.0.1", "localhost", ""), "... host an IP address in the subjectAltName");
	ok(meetok("-R ca1.pem -C cli.pem -K cli.key", "-C srv.pem -K srv.key -R ca1.pem", "localhost", "localhost", "laptop"),
		"both certificates: the server names the client by its common name");
	snprintf(f1, sizeof f1, "-H %s", sp);
	ok(meetok(f1, "-C self.pem -K self.key", "anything", "selfhost", NULL), "a self-signed server with -H alone, whatever the host");
	snprintf(f1, sizeof f1, "-H %s -H %s", sp2, sp);
	ok(meetok(f1, "-C self.pem -K self.key", "anything", "selfhost", NULL), "... the second of two pins");
	snprintf(f1, sizeof f1, "-R ca1.pem -H %s", cp);
	snprintf(f2, sizeof f2, "-C srv.pem -K srv.key %s", f1);
	ok(meetok("-R ca1.pem -C cli.pem -K cli.key", f2, "localhost", NULL, "laptop"), "a listener with -R and -H: a client that passes both");
	ok(meetok("-S keys", "-S keys -C srv.pem -K srv.key -R ca1.pem", NULL, "laptop", "laptop"), "a listener with -S and -R: a client with the key");
	ok(meetok("-R ca1.pem -C cli.pem -K cli.key", "-S keys -C srv.pem -K srv.key -R ca1.pem", "localhost", NULL, "laptop"),
		"... and a client with a certificate");
	ok(meetok("-S keys -R ca1.pem", "-C srv.pem -K srv.key", "localhost", "localhost", NULL),
		"a dialer with -S and -R takes a server that only has a certificate");
	ok(meetok("-R ca1.pem", "-C srv.pem -K srv.key", "localhost", NULL, ""), "a listener without -S, -R, -H asks nothing of clients");

	/* refusals, each with its one line */
	ok(refused("-S keysbad", "-S keys", NULL, 0, "wrong pre-shared key for identity laptop"), "wrong key: the listener says so");
	ok(refused("-S keysbad", "-S keys", NULL, 1, "the peer refused our pre-shared key, identity laptop"), "... the dialer too");
	ok(refused("-S keys3", "-S keys", NULL, 0, "unknown pre-shared key identity stranger"), "unknown identity: the listener says so");
	ok(refused("-S keys3", "-S keys", NULL, 1, "the peer refused our pre-shared key, identity stranger"), "... the dialer too");
	ok(refused("-S keys3", "-S keys -C srv.pem -K srv.key -R ca1.pem", NULL, 1,
		"the server did not take our pre-shared key (identity stranger) and showed a certificate (localhost) instead"),
		"a dialer with -S alone takes no certificate in place of its key");
	ok(refused("-R ca2.pem", "-C srv.pem -K srv.key", "localhost", 1,
		"the certificate of localhost is not from a CA in"), "a server certificate of another CA");
	ok(refused("-R ca1.pem", "-C srvexp.pem -K srvexp.key", "localhost", 1, "the certificate of localhost has expired"),
		"an expired server certificate");
	ok(refused("-R ca1.pem", "-C other.pem -K other.key", "localhost", 1, "the certificate of other.example is not for host localhost"),
		"a certificate for another host");
	ok(refused("", "-C srv.pem -K srv.key", "localhost", 1, "is not from a CA in the system's trust store"),
		"no flags: the system's trust store does not know our CA");
	snprintf(f1, sizeof f1, "-H %s", sp2);
	ok(refused(f1, "-C self.pem -K self.key", "localhost", 1, "the public key of selfhost, sha256:"), "a pin that does not match");
	ok(refused(f1, "-C self.pem -K self.key", "localhost", 1, "matches no -H pin"), "... says so");
	snprintf(f1, sizeof f1, "-R ca1.pem -H %s", sp);
	ok(refused(f1, "-C srv.pem -K srv.key", "localhost", 1, "matches no -H pin"), "-R and -H: the CA alone is not enough");
	snprintf(f1, sizeof f1, "-R ca1.pem -H %s", sp);
	ok(refused(f1, "-C self.pem -K self.key", "selfhost", 1, "is not from a CA in"), "... nor the pin alone");
	ok(refused("-R ca1.pem", "-C srv.pem -K srv.key -R ca1.pem", "localhost", 0, "the peer sent no certificate"),
		"a listener with -R: a client without a certificate");
	ok(refused("-R ca1.pem", "-C srv.pem -K srv.key -R ca1.pem", "localhost", 1, "the peer wants a certificate"),
		"... the client hears why");
	ok(refused("-R ca1.pem -C cli2.pem -K cli2.key", "-C srv.pem -K srv.key -R ca1.pem", "localhost", 0,
		"the certificate of intruder is not from a CA in"), "a client certificate of another CA");
	ok(refused("-R ca1.pem -C cli2.pem -K cli2.key", "-C srv.pem -K srv.key -R ca1.pem", "localhost", 1,
		"the peer refused our certificate"), "... the client hears it");
	ok(refused("-R ca1.pem -C cliexp.pem -K cliexp.key", "-C srv.pem -K srv.key -R ca1.pem", "localhost", 0,
		"the certificate of oldlaptop has expired"), "an expired client certificate");
	snprintf(f2, sizeof f2, "-C srv.pem -K srv.key -H %s", sp);
	ok(refused("-R ca1.pem -C cli.pem -K cli.key", f2, "localhost", 0, "matches no -H pin"), "a listener's pin");
	ok(refused("-R ca1.pem -C cli.pem -K cli.key", "-S keys", "localhost", 0, "the peer offered no pre-shared key"),
		"a listener with -S alone: a client with only a certificate");
}

/* Plaintext to a TLS listener, and a plaintext server to a TLS dialer. */
static void
plaintext(void)
{
	static const uint8_t tversion[] = { 19, 0, 0, 0, 100, 0xff, 0xff, 0, 32, 0, 0, 6, 0, '9', 'P', '2', '0', '0', '0' };
	static const uint8_t rerror[] = { 20, 0, 0, 0, 107, 0xff, 0xff, 11, 0, 'n', 'o', 't', ' ', 'a', ' ', 'v', 'e', 'r', 's', 'n' };
	char err[512], b[512];
	Tlsconf *c;
	Tls *t;
	long end;
	int sv[2], r;

	c = tc_conf(TLS_DIAL|TLS_LISTEN, err, sizeof err, "-S keys");
	if(c == NULL){
		diag("%s", err);
		return;
	}
	if(socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	nonblock(sv[0]);
	t = tlsnew(c, sv[0], TLS_LISTEN, NULL, err, sizeof err);
	if(write(sv[1], tversion, sizeof tversion) != sizeof tversion)
		abort();
	end = pc_now() + 3000;
	r = tc_shake(t, sv[0], end);
	ok(r == TLS_ERROR && tc_says(tlserr(t), "not TLS: the peer sent plaintext (13 00 00 00 64 ff ff 00)"),
		"a 9P Tversion to a TLS listener: %s", tlserr(t));
	tlsfree(t);
	close(sv[0]);
	close(sv[1]);

	if(socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	nonblock(sv[0]);
	t = tlsnew(c, sv[0], TLS_DIAL, NULL, err, sizeof err);
	r = tlshandshake(t);
	ok(r == TLS_WANTREAD, "a dialer sent its ClientHello and waits");
	r = (int)read(sv[1], b, sizeof b);
	ok(r > 5 && b[0] == 0x16, "... which is a TLS handshake record");
	if(write(sv[1], rerror, sizeof rerror) != sizeof rerror)
		abort();
	r = tc_shake(t, sv[0], end);
	ok(r == TLS_ERROR && tc_says(tlserr(t), "not TLS: the peer sent plaintext (14 00 00 00 6b"),
		"a 9P server's Rerror to a TLS dialer: %s", tlserr(t));
	tlsfree(t);
	close(sv[0]);
	close(sv[1]);

	if(socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	nonblock(sv[0]);
	t = tlsnew(c, sv[0], TLS_DIAL, NULL, err, sizeof err);
	tlshandshake(t);
	close(sv[1]);
	r = tc_shake(t, sv[0], end);
	ok(r == TLS_ERROR && tc_says(tlserr(t), "the peer closed the connection during the TLS handshake"),
		"a peer that hangs up: %s", tlserr(t));
	tlsfree(t);
	close(sv[0]);
	tlsconffree(c);
}

/*
 * Padding, read off the wire by the relay: every record of type 23 in
 * both directions, the handshake's encrypted ones too, has an inner
 * plaintext (length - 16) that is a multiple of N, full records too.
 */
static void
padding(void)
{
	static const size_t sizes[] = { 1, 2, 100, 1000, 1022, 1023, 1024, 1025, 5000, 16382, 16383, 16384, 16385, 40000 };
	static const int pads[] = { 1024, 1000, 4096, 16384, 0 };
	char fl[64];
	uint8_t *data, *got;
	size_t i, big, pi;
	int pad, napp, nfull, napp2, nfull2, bad, good, full;
	Pair *p;

	big = 1 << 20;
	data = malloc(big);
	got = malloc(big);
	for(i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	for(pi = 0; pi < sizeof pads / sizeof pads[0]; pi++){
		pad = pads[pi];
		snprintf(fl, sizeof fl, "-S keys -z %d", pad);
		p = meet(fl, fl, NULL);
		if(p == NULL || p->crc != 0 || p->src != 0){
			ok(0, "-z %d: handshake", pad);
			pairfree(p);
			continue;
		}
		good = 1;
		for(i = 0; i < sizeof sizes / sizeof sizes[0]; i++){
			good &= pairsend(p, 1, data, sizes[i], sizes[i], sizes[i], got, 5000) == 0 && memcmp(got, data, sizes[i]) == 0;
			good &= pairsend(p, 0, data, sizes[i], sizes[i], sizes[i], got, 5000) == 0 && memcmp(got, data, sizes[i]) == 0;
		}
		/* a large transfer in 9P-sized writes, frames as several iovecs */
		good &= pairsend(p, 1, data, big, 128 * 1024 + 24, 8192, got, 20000) == 0 && memcmp(got, data, big) == 0;
		good &= pairsend(p, 0, data, big, 128 * 1024 + 24, 8192, got, 20000) == 0 && memcmp(got, data, big) == 0;
		ok(good, "-z %d: single writes of 1 to 40000 bytes and 1 MiB both ways arrive intact", pad);
		full = pad > 0 ? TLS_RECMAX / pad * pad : TLS_RECMAX + 1;
		if(pad > 0){
			bad = tc_padcheck(&p->up, pad, &napp, &nfull, full, 1);
			bad += tc_padcheck(&p->down, pad, &napp2, &nfull2, full, 1);
			ok(bad == 0 && !p->up.bad && !p->down.bad && p->up.n < TC_MAXREC && p->down.n < TC_MAXREC,
				"-z %d: all %d + %d encrypted records are 21 bytes more than a multiple of %d on the wire",
				pad, napp, napp2, pad);
			ok(nfull > 60 && nfull2 > 60, "-z %d: full records (%d, %d) have an inner plaintext of exactly %d (%d on the wire)",
				pad, nfull, nfull2, full, full + TLS_RECTAG + TLS_RECHDR);
		}else{
			bad = tc_padcheck(&p->up, 1024, &napp, &nfull, full, 0);
			ok(bad > 0, "no -z: %d of %d records are not padded to 1024", bad, napp);
			ok(nfull > 60, "no -z: %d full records of inner %d (content 16384 + type byte): unpadded", nfull, full);
		}
		pairfree(p);
	}
	/* the exact arithmetic of one record */
	p = meet("-S keys -z 1024", "-S keys -z 1024", NULL);
	if(p != NULL && p->crc == 0 && p->src == 0){
		int n0;

		n0 = p->up.n;
		pairsend(p, 1, data, 1, 1, 1, got, 3000);
		ok(p->up.n == n0 + 1 && p->up.type[n0] == 23 && p->up.len[n0] == 1024 + 16,
			"-z 1024: a 1-byte write is one record, length field 1040 (1 + 1 type byte + 1022 padding + 16 tag), 1045 on the wire");
		n0 = p->up.n;
		pairsend(p, 1, data, 16384, 16384, 16384, got, 3000);
		ok(p->up.n == n0 + 2 && p->up.len[n0] == 16384 + 16 && p->up.len[n0 + 1] == 1024 + 16,
			"-z 1024: 16384 bytes are a full record of 16383 (+ type byte = 16384) and one of 1");
	}else
		ok(0, "-z 1024 handshake");
	pairfree(p);
	free(data);
	free(got);
}

/* tlswritev: frames coalesced into records, partial takes when the socket is full, tlspending. */
static void
writes(void)
{
	struct iovec iov[100];
	uint8_t frames[100][7], small[700], *data, *got, b[16];
	size_t i, taken, n;
	ssize_t w;
	int want, n0, sz;
	Pair *p;

	p = meet("-S keys", "-S keys", NULL);
	if(p == NULL || p->crc != 0 || p->src != 0){
		ok(0, "writes: handshake");
		pairfree(p);
		return;
	}
	for(i = 0; i < 100; i++){
		memset(frames[i], (int)i, sizeof frames[i]);
		iov[i].iov_base = frames[i];
		iov[i].iov_len = sizeof frames[i];
	}
	n0 = p->up.n;
	w = tlswritev(p->c, iov, 100, &want);
	ok(w == 700 && want == 0, "100 iovecs of 7 bytes: all 700 taken and sent (%zd, want %d)", w, want);
	while(relay(p))
		;
	ok(p->up.n == n0 + 1 && p->up.len[n0] == 700 + 1 + 16, "... as one record of 700 + 1 + 16 (%d records)", p->up.n - n0);
	n = 0;
	while(n < 700 && (w = tlsread(p->s, small + n, sizeof small - n)) > 0)
		n += (size_t)w;
	ok(n == 700 && small[699] == 99, "... and read as 700 bytes");

	/* stop the relay and fill the socket: the taking stops, one record held */
	sz = 4096;
	setsockopt(p->a[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	p->hold = 1;
	data = malloc(1 << 20);
	got = malloc(1 << 20);
	for(i = 0; i < (1 << 20); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	taken = 0;
	for(;;){
		iov[0].iov_base = data + taken;
		iov[0].iov_len = (1 << 20) - taken;
		w = tlswritev(p->c, iov, 1, &want);
		if(w < 0)
			break;
		taken += (size_t)w;
		if(want != 0 && w == 0)
			break;
	}
	ok(want == TLS_WANTWRITE && taken < (1 << 20), "with nobody reading: %zu bytes taken, then TLS_WANTWRITE", taken);
	w = tlswritev(p->c, iov, 1, &want);
	ok(w == 0 && want == TLS_WANTWRITE, "... and again: nothing more taken while the held record waits");
	w = tlswritev(p->c, NULL, 0, &want);
	ok(w == 0 && want == TLS_WANTWRITE, "... iovcnt 0 just flushes: still waiting");
	p->hold = 0;
	/* the rest, with the relay going; what was taken is not given again */
	{
		size_t recvd;
		long end;
		ssize_t r;

		recvd = 0;
		end = pc_now() + 20000;
		while((recvd < (1 << 20) || want != 0) && pc_now() < end){
			if(taken < (1 << 20) || want != 0){
				iov[0].iov_base = data + taken;
				iov[0].iov_len = (1 << 20) - taken;
				w = tlswritev(p->c, iov, taken < (1 << 20), &want);
				if(w < 0)
					break;
				taken += (size_t)w;
			}
			r = tlsread(p->s, got + recvd, (1 << 20) - recvd);
			if(r > 0)
				recvd += (size_t)r;
			else if(r == 0 || r == TLS_ERROR)
				break;
			if(!relay(p))
				idle();
		}
		ok(recvd == (1 << 20) && memcmp(got, data, recvd) == 0, "... 1 MiB through a 4 KiB socket buffer, intact (%zu)", recvd);
	}

	/* three records at once: OpenSSL reads them all from the socket, epoll would see nothing */
	for(i = 0; i < 3; i++){
		iov[0].iov_base = data;
		iov[0].iov_len = 100;
		tlswritev(p->s, iov, 1, &want);
	}
	while(relay(p))
		;
	w = tlsread(p->c, b, 10);
	{
		struct pollfd pf;

		pf.fd = p->a[0];
		pf.events = POLLIN;
		ok(w == 10 && tlspending(p->c) && poll(&pf, 1, 0) == 0,
			"after reading 10 of 300 bytes: tlspending, while the socket is not readable");
	}
	n = 10;
	while((w = tlsread(p->c, got, 1000)) > 0)
		n += (size_t)w;
	ok(n == 300 && w == TLS_WANTREAD && !tlspending(p->c), "... the other 290 come without waiting, then TLS_WANTREAD");

	/* clean end: close_notify */
	ok(tlsshutdown(p->c) == 0, "tlsshutdown");
	while(relay(p))
		;
	w = tlsread(p->s, got, 100);
	ok(w == 0, "... the other end reads the end of the stream");
	w = tlswritev(p->s, iov, 1, &want);
	ok(w == TLS_ERROR, "... and writing after it is an error: %s", tlserr(p->s));
	pairfree(p);
	free(data);
	free(got);
}

static void
reload(void)
{
	char text[256], err[512];
	Tlsconf *cc, *sc, *cc2;
	uint8_t got[16];
	Pair *p, *q;
	int r;

	snprintf(text, sizeof text, "laptop %s\n", tc_k1);
	tc_write("rkeys", 0600, text);
	sc = tc_conf(TLS_LISTEN, err, sizeof err, "-S rkeys");
	cc = tc_conf(TLS_DIAL, err, sizeof err, "-S keys");
	snprintf(text, sizeof text, "laptop %s\n", tc_k2);
	tc_write("rkeys2", 0600, text);
	cc2 = tc_conf(TLS_DIAL, err, sizeof err, "-S rkeys2");
	if(sc == NULL || cc == NULL || cc2 == NULL){
		ok(0, "reload: configurations: %s", err);
		return;
	}
	p = pairnew(cc, sc, NULL, err, sizeof err);
	ok(p != NULL && pairshake(p, 5000) == 0, "before reload: the first key works");
	tc_write("rkeys", 0600, text);
	r = tlsconfreload(sc, err, sizeof err);
	ok(r == 0, "reload with a new key");
	ok(p != NULL && pairsend(p, 1, (const uint8_t*)"still here", 10, 10, 10, got, 3000) == 0,
		"a connection made before the reload goes on");
	q = pairnew(cc, sc, NULL, err, sizeof err);
	ok(q != NULL && pairshake(q, 5000) < 0 && tc_says(tlserr(q->s), "wrong pre-shared key"),
		"after reload the old key is refused: %s", q ? tlserr(q->s) : err);
	pairfree(q);
	q = pairnew(cc2, sc, NULL, err, sizeof err);
	ok(q != NULL && pairshake(q, 5000) == 0, "... and the new one taken");
	pairfree(q);
	chmod(tc_path("rkeys"), 0644);
	r = tlsconfreload(sc, err, sizeof err);
	ok(r == -1 && tc_says(err, "readable or writable by group or others"), "a reload that fails: %s", err);
	q = pairnew(cc2, sc, NULL, err, sizeof err);
	ok(q != NULL && pairshake(q, 5000) == 0, "... leaves the last good configuration in force");
	pairfree(q);
	pairfree(p);
	tlsconffree(cc);
	tlsconffree(cc2);
	tlsconffree(sc);
}

typedef struct Relayarg Relayarg;
struct Relayarg {
	Tls	*t;
	int	fd;
	int	rc;
	char	err[256];
};

static void *
relaythread(void *v)
{
	Relayarg *a = v;

	a->rc = tlsrelay(a->t, a->fd, a->err, sizeof a->err);
	return NULL;
}

/* tlsrelay in a thread, between a plain socketpair and a TLS connection to an echo server of ours. */
static void
relays(void)
{
	char err[512], line[64];
	Tlsconf *cc, *sc;
	Relayarg ra;
	pthread_t th;
	pid_t pid;
	Tcres r;
	Tls *t;
	int lfd, port, fd, sv[2], st;
	ssize_t n;
	size_t got;

	cc = tc_conf(TLS_DIAL, err, sizeof err, "-S keys -z 512");
	sc = tc_conf(TLS_LISTEN, err, sizeof err, "-S keys");
	lfd = tc_listen(&port);
	if(cc == NULL || sc == NULL || lfd < 0){
		ok(0, "relay: set-up: %s", err);
		return;
	}
	fflush(stdout);
	pid = fork();
	if(pid == 0){
		alarm(20);
		tc_serve(sc, lfd, 0, 15000, &r);
		_exit(r.rc == 0 && r.echoed == 300000 ? 0 : 1);
	}
	close(lfd);
	fd = tc_connect(port);
	t = tlsnew(cc, fd, TLS_DIAL, NULL, err, sizeof err);
	ok(t != NULL && tc_shake(t, fd, pc_now() + 5000) == 0, "relay: handshake");
	if(socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	ra.t = t;
	ra.fd = sv[1];
	ra.rc = -2;
	pthread_create(&th, NULL, relaythread, &ra);
	{
		uint8_t *data, *back;
		size_t i, sent;

		data = malloc(300000);
		back = malloc(300000);
		for(i = 0; i < 300000; i++)
			data[i] = (uint8_t)(i % 253);
		sent = got = 0;
		nonblock(sv[0]);
		{
			long end = pc_now() + 15000;
			struct pollfd pf;

			while(got < 300000 && pc_now() < end){
				if(sent < 300000 && (n = write(sv[0], data + sent, 300000 - sent)) > 0)
					sent += (size_t)n;
				if((n = read(sv[0], back + got, 300000 - got)) > 0)
					got += (size_t)n;
				pf.fd = sv[0];
				pf.events = POLLIN | (sent < 300000 ? POLLOUT : 0);
				poll(&pf, 1, 100);
			}
		}
		ok(got == 300000 && memcmp(data, back, got) == 0, "300000 bytes through tlsrelay to an echo server and back");
		free(data);
		free(back);
	}
	shutdown(sv[0], SHUT_WR);
	pthread_join(th, NULL);
	ok(ra.rc == 0, "tlsrelay ends cleanly when its plain side does (%s)", ra.rc == 0 ? "" : ra.err);
	(void)line;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the echo server saw close_notify after all 300000 bytes");
	tlsfree(t);
	close(fd);
	close(sv[0]);
	close(sv[1]);
	tlsconffree(cc);
	tlsconffree(sc);
}

int
main(void)
{
	tap_start(240);
	signal(SIGPIPE, SIG_IGN);
	tc_dir = pc_tmpdir();
	if(tc_dir == NULL){
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	pc_onalarm(tc_dir, NULL);
	if(!tc_have("openssl")){
		pc_rmdir(tc_dir);
		printf("1..0 # SKIP no openssl command to make certificates\n");
		return 0;
	}
	if(tc_mkfiles() < 0){
		ok(0, "keys and certificates made with openssl (see %s/sh.log)", tc_dir);
		tc_sh("sed 's/^/# /' sh.log | tail -20 >&3");
		return done_testing();
	}
	flags();
	keytext();
	keyfile();
	confs();
	pins();
	meetings();
	plaintext();
	padding();
	writes();
	reload();
	relays();
	if(tap_failed)
		diag("files in %s", tc_dir);
	else
		pc_rmdir(tc_dir);
	return done_testing();
}
