/*
 * tlsconv.h - what the TLS tests share: keys and certificates made with
 * the openssl command in the test's directory, configurations from a
 * line of flags, our connections driven with deadlines, loopback
 * sockets, and a reader of TLS record headers for the padding checks.
 * Header-only, after tap.h and p9conv.h.
 */
#ifndef TLSCONV_H
#define TLSCONV_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>

#include "tls.h"

static const char *tc_dir;
static char tc_k1[65], tc_k2[65];	/* the keys of laptop and server in hex */

/* Where every test file lives: dir/name (rotating buffers, as pc_path). */
static inline char *
tc_path(const char *name)
{
	return pc_path(tc_dir, name);
}

/* Run a shell command in the test directory, its output to sh.log: its exit status. */
static inline int __attribute__((format(printf, 1, 2)))
tc_sh(const char *fmt, ...)
{
	char cmd[4096], full[4600];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	snprintf(full, sizeof full, "cd '%s' && { %s ; } >>sh.log 2>&1", tc_dir, cmd);
	fflush(stdout);
	r = system(full);
	return r != -1 && WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* Whether a program is on PATH. */
static inline int
tc_have(const char *prog)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/*
 * A key and a certificate signed by ca (NULL: self-signed) for cn, valid
 * for days (-1: expired yesterday), with the subjectAltName san (NULL:
 * none), as name.key and name.pem: 0, or -1.
 */
static inline int
tc_cert(const char *name, const char *cn, const char *ca, int days, const char *san)
{
	if(tc_sh("printf 'basicConstraints=CA:FALSE\\n%s%s\\n' > %s.ext", san ? "subjectAltName=" : "", san ? san : "", name) != 0)
		return -1;
	if(ca == NULL)
		return tc_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key"
			" -out %s.pem -subj '/CN=%s' -days %d -addext basicConstraints=CA:FALSE%s%s",
			name, name, cn, days, san ? " -addext subjectAltName=" : "", san ? san : "") == 0 ? 0 : -1;
	if(tc_sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key -out %s.csr -subj '/CN=%s'",
		name, name, cn) != 0)
		return -1;
	return tc_sh("openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -days %d -extfile %s.ext -out %s.pem",
		name, ca, ca, days, name, name) == 0 ? 0 : -1;
}

/* A CA: name.key and name.pem. */
static inline int
tc_ca(const char *name, const char *cn)
{
	return tc_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key -out %s.pem"
		" -subj '/CN=%s' -days 30", name, name, cn) == 0 ? 0 : -1;
}

/* 32 random bytes in hex (65 bytes with the NUL). */
static inline void
tc_randhex(char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char b[32];
	FILE *f;
	size_t i;

	f = fopen("/dev/urandom", "r");
	if(f == NULL || fread(b, 1, sizeof b, f) != sizeof b)
		abort();
	fclose(f);
	for(i = 0; i < 32; i++){
		hex[2*i] = digits[b[i] >> 4];
		hex[2*i + 1] = digits[b[i] & 15];
	}
	hex[64] = '\0';
}

/* Write text to name in the test directory with mode: 0, or -1. */
static inline int
tc_write(const char *name, int mode, const char *text)
{
	FILE *f;
	char *p;

	p = tc_path(name);
	unlink(p);
	f = fopen(p, "w");
	if(f == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	return chmod(p, (mode_t)mode);
}

/*
 * A configuration for roles from a line of flags, "-S keys -R ca.pem
 * -H sha256:... -z 1024"; a file name without a / is in the test
 * directory.  NULL and err on failure.
 */
static inline Tlsconf *
tc_conf(int roles, char *err, size_t errlen, const char *flags)
{
	char buf[2048], *words[40], *p, *arg;
	static char files[16][420];
	Tlsopts o;
	int n, i, nf;

	memset(&o, 0, sizeof o);
	snprintf(buf, sizeof buf, "%s", flags);
	n = 0;
	for(p = strtok(buf, " "); p != NULL && n < 40; p = strtok(NULL, " "))
		words[n++] = p;
	nf = 0;
	for(i = 0; i + 1 < n; i += 2){
		arg = words[i + 1];
		if(words[i][0] != '-' || strlen(words[i]) != 2){
			snprintf(err, errlen, "test: bad flags %s", flags);
			return NULL;
		}
		if(strchr("SCKR", words[i][1]) != NULL && strchr(arg, '/') == NULL && nf < 16){
			snprintf(files[nf], sizeof files[nf], "%s/%s", tc_dir, arg);
			arg = files[nf++];
		}
		if(tlsflag(&o, words[i][1], arg, err, errlen) != 1)
			return NULL;
	}
	return tlsconfnew(&o, roles, err, errlen);
}

/*
 * The keys and certificates every TLS test uses, in the test directory:
 * keys (laptop and server), keys2 (server), keysbad (laptop, a wrong
 * key), keys3 (stranger, unknown); CAs ca1 and ca2; srv (localhost and
 * 127.0.0.1 by ca1), srvexp (expired), other (other.example), srv2
 * (localhost by ca2), cli (laptop by ca1), cli2 (intruder by ca2),
 * cliexp (oldlaptop, expired), self and self2 (selfhost, self-signed).
 */
static inline int
tc_mkfiles(void)
{
	char text[512], bad[65];

	tc_randhex(tc_k1);
	tc_randhex(tc_k2);
	snprintf(bad, sizeof bad, "%s", tc_k1);
	bad[0] = bad[0] == '0' ? '1' : '0';
	snprintf(text, sizeof text, "laptop %s\nserver %s\n", tc_k1, tc_k2);
	if(tc_write("keys", 0600, text) < 0)
		return -1;
	snprintf(text, sizeof text, "server %s\n", tc_k2);
	tc_write("keys2", 0600, text);
	snprintf(text, sizeof text, "laptop %s\n", bad);
	tc_write("keysbad", 0600, text);
	snprintf(text, sizeof text, "stranger %s\n", tc_k1);
	tc_write("keys3", 0600, text);
	if(tc_ca("ca1", "9mux test CA") < 0 || tc_ca("ca2", "another CA") < 0
	|| tc_cert("srv", "localhost", "ca1", 30, "DNS:localhost,IP:127.0.0.1") < 0
	|| tc_cert("srvexp", "localhost", "ca1", -1, "DNS:localhost,IP:127.0.0.1") < 0
	|| tc_cert("other", "other.example", "ca1", 30, "DNS:other.example") < 0
	|| tc_cert("srv2", "localhost", "ca2", 30, "DNS:localhost,IP:127.0.0.1") < 0
	|| tc_cert("cli", "laptop", "ca1", 30, NULL) < 0
	|| tc_cert("cli2", "intruder", "ca2", 30, NULL) < 0
	|| tc_cert("cliexp", "oldlaptop", "ca1", -1, NULL) < 0
	|| tc_cert("self", "selfhost", NULL, 30, "DNS:selfhost") < 0
	|| tc_cert("self2", "selfhost", NULL, 30, "DNS:selfhost") < 0)
		return -1;
	return 0;
}

/* ---- sockets ---- */

/* A TCP listener on 127.0.0.1 and a free port: its fd, the port in *port. */
static inline int
tc_listen(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl;
	int fd, one;

	fd = socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0);
	if(fd < 0)
		return -1;
	one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sl = sizeof sin;
	if(bind(fd, (struct sockaddr*)&sin, sizeof sin) < 0 || listen(fd, 16) < 0
	|| getsockname(fd, (struct sockaddr*)&sin, &sl) < 0){
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A port nobody listens on now (bound and closed): for servers that take a port number. */
static inline int
tc_freeport(void)
{
	int fd, port;

	fd = tc_listen(&port);
	if(fd < 0)
		return -1;
	close(fd);
	return port;
}

/* A non-blocking connection to 127.0.0.1:port, or -1. */
static inline int
tc_connect(int port)
{
	struct sockaddr_in sin;
	int fd, one;

	fd = socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0);
	if(fd < 0)
		return -1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if(connect(fd, (struct sockaddr*)&sin, sizeof sin) < 0){
		close(fd);
		return -1;
	}
	one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Accept one connection within ms, non-blocking: its fd, or -1. */
static inline int
tc_accept(int lfd, int ms)
{
	struct pollfd p;
	int fd;

	p.fd = lfd;
	p.events = POLLIN;
	if(poll(&p, 1, ms) != 1)
		return -1;
	fd = accept(lfd, NULL, NULL);
	if(fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Wait until fd is ready as want (TLS_WANTREAD or TLS_WANTWRITE) or end: 1, or 0 at the deadline. */
static inline int
tc_wait(int fd, int want, long end)
{
	struct pollfd p;
	long left;

	for(;;){
		left = end - pc_now();
		if(left <= 0)
			return 0;
		p.fd = fd;
		p.events = want == TLS_WANTWRITE ? POLLOUT : POLLIN;
		if(poll(&p, 1, (int)left) > 0)
			return 1;
	}
}

/* ---- our connections, with deadlines ---- */

/* The handshake: 0, TLS_ERROR, or PC_TIMEOUT. */
static inline int
tc_shake(Tls *t, int fd, long end)
{
	int r;

	for(;;){
		r = tlshandshake(t);
		if(r == 0 || r == TLS_ERROR)
			return r;
		if(!tc_wait(fd, r, end))
			return PC_TIMEOUT;
	}
}

/* Send all n bytes: 0, TLS_ERROR, or PC_TIMEOUT. */
static inline int
tc_put(Tls *t, int fd, const void *p, size_t n, long end)
{
	struct iovec v;
	ssize_t w;
	int want;

	want = 0;
	while(n > 0 || want != 0){
		v.iov_base = (void*)(uintptr_t)p;
		v.iov_len = n;
		w = tlswritev(t, &v, n > 0, &want);
		if(w < 0)
			return TLS_ERROR;
		p = (const char*)p + w;
		n -= (size_t)w;
		if(want != 0 && !tc_wait(fd, want, end))
			return PC_TIMEOUT;
	}
	return 0;
}

/*
 * Read until n bytes, a newline when line is set, the end of the
 * stream, or the deadline: the bytes read, or TLS_ERROR if nothing came
 * before an error.
 */
static inline ssize_t
tc_get(Tls *t, int fd, void *buf, size_t n, int line, long end)
{
	size_t got;
	ssize_t r;

	got = 0;
	while(got < n){
		r = tlsread(t, (char*)buf + got, n - got);
		if(r > 0){
			if(line && memchr((char*)buf + got, '\n', (size_t)r) != NULL){
				got += (size_t)r;
				break;
			}
			got += (size_t)r;
			continue;
		}
		if(r == 0)
			break;
		if(r == TLS_ERROR)
			return got > 0 ? (ssize_t)got : TLS_ERROR;
		if(!tc_wait(fd, (int)r, end))
			break;
	}
	return (ssize_t)got;
}

/* The outcome of one connection of ours. */
typedef struct Tcres Tcres;
struct Tcres {
	int	rc;		/* 0: handshake and exchange done */
	char	err[512];
	char	peer[256];
	char	pin[80];
	char	cipher[64];
	int	auth;
	char	got[256];	/* what came back (dialing) */
	size_t	echoed;		/* bytes echoed (listening) */
};

static inline void
tc_result(Tcres *r, Tls *t, int rc)
{
	r->rc = rc;
	snprintf(r->err, sizeof r->err, "%s", rc == PC_TIMEOUT ? "timed out" : tlserr(t));
	snprintf(r->peer, sizeof r->peer, "%s", tlspeer(t));
	snprintf(r->pin, sizeof r->pin, "%s", tlspeerpin(t));
	snprintf(r->cipher, sizeof r->cipher, "%s", tlscipher(t));
	r->auth = tlsauth(t);
}

/*
 * Dial 127.0.0.1:port as host with c, send msg and read one line back
 * (none when msg is NULL), then close.
 */
static inline void
tc_dial(Tlsconf *c, int port, const char *host, const char *msg, Tcres *r)
{
	char err[256];
	ssize_t n;
	long end;
	Tls *t;
	int fd, rc;

	memset(r, 0, sizeof *r);
	r->rc = TLS_ERROR;
	end = pc_now() + 5000;
	fd = tc_connect(port);
	if(fd < 0){
		snprintf(r->err, sizeof r->err, "test: connect: %s", strerror(errno));
		return;
	}
	t = tlsnew(c, fd, TLS_DIAL, host, err, sizeof err);
	if(t == NULL){
		snprintf(r->err, sizeof r->err, "%s", err);
		close(fd);
		return;
	}
	rc = tc_shake(t, fd, end);
	if(rc == 0 && msg != NULL){
		rc = tc_put(t, fd, msg, strlen(msg), end);
		if(rc == 0){
			/* a refusal of our certificate in TLS 1.3 comes after the client's handshake: here */
			n = tc_get(t, fd, r->got, sizeof r->got - 1, 1, end);
			if(n < 0)
				rc = TLS_ERROR;
			else
				r->got[n] = '\0';
			if(n == 0 && tlserr(t)[0] != '\0')
				rc = TLS_ERROR;
		}
	}
	tc_result(r, t, rc);
	if(rc == 0)
		tlsshutdown(t);
	tlsfree(t);
	close(fd);
}

/*
 * Accept one connection on lfd with c within ms, echo what comes until
 * quota bytes are echoed (then close) or the peer closes.
 */
static inline void
tc_serve(Tlsconf *c, int lfd, size_t quota, int ms, Tcres *r)
{
	char err[256], buf[4096];
	ssize_t n;
	long end;
	Tls *t;
	int fd, rc;

	memset(r, 0, sizeof *r);
	r->rc = PC_TIMEOUT;
	end = pc_now() + ms;
	fd = tc_accept(lfd, ms);
	if(fd < 0){
		snprintf(r->err, sizeof r->err, "test: nobody connected");
		return;
	}
	t = tlsnew(c, fd, TLS_LISTEN, NULL, err, sizeof err);
	if(t == NULL){
		r->rc = TLS_ERROR;
		snprintf(r->err, sizeof r->err, "%s", err);
		close(fd);
		return;
	}
	rc = tc_shake(t, fd, end);
	while(rc == 0 && (quota == 0 || r->echoed < quota)){
		n = tlsread(t, buf, sizeof buf);
		if(n == 0)
			break;
		if(n == TLS_ERROR){
			rc = TLS_ERROR;
			break;
		}
		if(n < 0){
			if(!tc_wait(fd, (int)n, end)){
				rc = PC_TIMEOUT;
				break;
			}
			continue;
		}
		rc = tc_put(t, fd, buf, (size_t)n, end);
		r->echoed += (size_t)n;
	}
	tc_result(r, t, rc);
	if(rc == 0){
		tlsshutdown(t);
		/* let the peer read the echo and our close_notify before the socket goes */
		shutdown(fd, SHUT_WR);
		pc_hungup(fd, 1000);
	}
	tlsfree(t);
	close(fd);
}

/* ---- programs of other TLS stacks ---- */

/*
 * Start a program (argv, NULL-terminated; argv[0] is looked up in
 * PATH) in the test directory with standard input from infd (-1:
 * /dev/null) and standard output and error to the file out: its pid.
 */
static inline pid_t
tc_runv(int infd, const char *out, const char *const argv[])
{
	pid_t pid;
	int fd;

	/* a waiter on the file must not see what the last program wrote */
	unlink(out);
	fflush(stdout);
	pid = fork();
	if(pid != 0)
		return pid;
	if(chdir(tc_dir) < 0)
		_exit(127);
	fd = infd >= 0 ? infd : open("/dev/null", O_RDONLY);
	if(fd >= 0 && fd != 0){
		dup2(fd, 0);
		close(fd);
	}
	fd = open(out, O_WRONLY|O_CREAT|O_TRUNC, 0644);
	if(fd >= 0){
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	signal(SIGPIPE, SIG_DFL);
	alarm(0);
	execvp(argv[0], (char *const *)(uintptr_t)argv);
	_exit(127);
}

/* tc_runv with the words as arguments, NULL last. */
static inline pid_t
tc_run(int infd, const char *out, ...)
{
	const char *argv[40];
	va_list ap;
	int n;

	va_start(ap, out);
	for(n = 0; n < 39 && (argv[n] = va_arg(ap, const char*)) != NULL; n++)
		;
	va_end(ap);
	argv[n] = NULL;
	return tc_runv(infd, out, argv);
}

/*
 * Wait up to ms for a whole line (its newline written) of file
 * containing sub: a copy of the line (static), or NULL.  A line still
 * being written could end in the middle of a port number.
 */
static inline const char *
tc_waitline(const char *file, const char *sub, int ms)
{
	static char line[512];
	long end;
	char *s, *p, *e;

	end = pc_now() + ms;
	do{
		s = pc_slurp(file);
		if((p = strstr(s, sub)) != NULL && (e = strchr(p, '\n')) != NULL){
			while(p > s && p[-1] != '\n')
				p--;
			snprintf(line, sizeof line, "%.*s", (int)(e - p), p);
			free(s);
			return line;
		}
		free(s);
		pc_sleep(20);
	}while(pc_now() < end);
	return NULL;
}

/* Whether the file holds sub. */
static inline int
tc_has(const char *file, const char *sub)
{
	char *s;
	int r;

	s = pc_slurp(file);
	r = strstr(s, sub) != NULL;
	free(s);
	return r;
}

/* ---- TLS records on the wire ---- */

enum { TC_MAXREC = 4096 };

/* Record headers found in one direction of a byte stream. */
typedef struct Tcrecs Tcrecs;
struct Tcrecs {
	uint8_t		hdr[5];
	int		nhdr;
	size_t		left;		/* body bytes still to skip */
	int		n;
	uint8_t		type[TC_MAXREC];
	uint16_t	len[TC_MAXREC];	/* the header's length field */
	int		bad;		/* not a TLS record stream */
};

/* Feed bytes seen on the wire. */
static inline void
tc_records(Tcrecs *r, const uint8_t *p, size_t n)
{
	size_t k;

	while(n > 0){
		if(r->left > 0){
			k = n < r->left ? n : r->left;
			r->left -= k;
			p += k;
			n -= k;
			continue;
		}
		r->hdr[r->nhdr++] = *p++;
		n--;
		if(r->nhdr < 5)
			continue;
		r->nhdr = 0;
		if(r->hdr[1] != 3 || r->hdr[0] < 20 || r->hdr[0] > 24)
			r->bad = 1;
		r->left = (size_t)r->hdr[3] << 8 | r->hdr[4];
		if(r->n < TC_MAXREC){
			r->type[r->n] = r->hdr[0];
			r->len[r->n] = (uint16_t)r->left;
			r->n++;
		}
	}
}

/*
 * Check every encrypted record (type 23): with pad, (length - 16) is a
 * multiple of pad; counts those, and the full ones (inner plaintext
 * full, full is its size).  Returns the number that break the rule,
 * the first few told when loud.
 */
static inline int
tc_padcheck(const Tcrecs *r, int pad, int *napp, int *nfull, int full, int loud)
{
	int i, bad;

	bad = 0;
	*napp = *nfull = 0;
	for(i = 0; i < r->n; i++){
		if(r->type[i] != 23)
			continue;
		(*napp)++;
		if(r->len[i] - TLS_RECTAG == full)
			(*nfull)++;
		if(pad > 0 && (r->len[i] < TLS_RECTAG || (r->len[i] - TLS_RECTAG) % pad != 0)){
			if(bad++ < 3 && loud)
				diag("  record %d: type 23, length %d: inner %d is not a multiple of %d",
					i, r->len[i], r->len[i] - TLS_RECTAG, pad);
		}
	}
	return bad;
}

/* A one-line message that contains sub. */
static inline int
tc_says(const char *msg, const char *sub)
{
	return strstr(msg, sub) != NULL && strchr(msg, '\n') == NULL;
}

#endif
