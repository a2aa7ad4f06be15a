/*
 * t_tls_interop: lib/tls against TLS stacks no one here wrote, on
 * loopback: openssl s_server and s_client (pre-shared keys and
 * certificates), GnuTLS's gnutls-cli and gnutls-serv (pre-shared keys,
 * certificates, and a client that offers a key without (EC)DHE), and
 * Python's ssl module with certificates.  Each refusal must come with
 * its one line.  No session ticket from our listener (s_client would
 * print it; a control run shows that it does for s_server); and padding
 * read record by record through a relay while s_client talks to a -z
 * listener of ours, full-size records included.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "tap.h"
#include "p9conv.h"
#include "tlsconv.h"

static pid_t child = -1;	/* the one outside program running */
static char sp[128], cp[128], sp2[128];	/* pins of self, cli, self2 */

static void
reap(int ms)
{
	if(child > 0 && pc_waitexit(child, ms) == -1)
		pc_killwait(child, SIGTERM, 2000);
	child = -1;
}

static Tlsconf *
conf(int roles, const char *flags)
{
	char err[512];
	Tlsconf *c;

	c = tc_conf(roles, err, sizeof err, flags);
	if(c == NULL)
		diag("configuration %s: %s", flags, err);
	return c;
}

/* ---- openssl s_server, our client ---- */

/* Start s_server -rev with extra words: its port, or -1. */
static int
sserver(const char *out, const char *const extra[])
{
	const char *argv[40], *l;
	int n, i;

	n = 0;
	argv[n++] = "openssl";
	argv[n++] = "s_server";
	argv[n++] = "-accept";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "-naccept";
	argv[n++] = "1";
	argv[n++] = "-rev";
	for(i = 0; extra[i] != NULL && n < 39; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	child = tc_runv(-1, tc_path(out), argv);
	l = tc_waitline(tc_path(out), "ACCEPT", 10000);
	if(l == NULL || strrchr(l, ':') == NULL){
		diag("s_server did not start: %s", pc_slurp(tc_path(out)));
		reap(0);
		return -1;
	}
	return atoi(strrchr(l, ':') + 1);
}

/*
 * Our client against s_server with extra words: ok when want is NULL
 * (and the line comes back reversed, the peer named peer), else refused
 * with want in the message.
 */
static void
tosserver(const char *desc, const char *cflags, const char *host, const char *const extra[], const char *peer, const char *want)
{
	Tlsconf *c;
	Tcres r;
	int port;

	c = conf(TLS_DIAL, cflags);
	port = sserver("sserver.out", extra);
	if(c == NULL || port < 0){
		ok(0, "%s: set-up", desc);
		tlsconffree(c);
		reap(0);
		return;
	}
	tc_dial(c, port, host, "9mux\n", &r);
	if(want == NULL){
		r.got[strcspn(r.got, "\n")] = '\0';
		ok(r.rc == 0 && strcmp(r.got, "xum9") == 0 && (peer == NULL || strcmp(r.peer, peer) == 0),
			"%s: up, line reversed (%s), peer %s, %s", desc, r.rc == 0 ? r.got : r.err, r.peer, r.cipher);
	}else
		ok(r.rc == TLS_ERROR && tc_says(r.err, want), "%s: %s", desc, r.err);
	reap(3000);
	tlsconffree(c);
}

static void
sservers(void)
{
	const char *psk[] = { "-tls1_3", "-nocert", "-psk", tc_k1, "-psk_identity", "laptop", NULL };
	const char *pskother[] = { "-tls1_3", "-nocert", "-psk", tc_k1, "-psk_identity", "someoneelse", NULL };
	const char *srv[] = { "-tls1_3", "-cert", "srv.pem", "-key", "srv.key", NULL };
	const char *srv2[] = { "-tls1_3", "-cert", "srv2.pem", "-key", "srv2.key", NULL };
	const char *srvexp[] = { "-tls1_3", "-cert", "srvexp.pem", "-key", "srvexp.key", NULL };
	const char *self[] = { "-tls1_3", "-cert", "self.pem", "-key", "self.key", NULL };
	const char *verify[] = { "-tls1_3", "-cert", "srv.pem", "-key", "srv.key", "-Verify", "2", "-CAfile", "ca1.pem",
		"-verify_return_error", NULL };
	char f[256];

	tosserver("s_server -psk", "-S keys", NULL, psk, "laptop", NULL);
	tosserver("s_server -psk, our -z 1024", "-S keys -z 1024", NULL, psk, "laptop", NULL);
	tosserver("s_server -psk with another key", "-S keysbad", NULL, psk, NULL, "the peer refused our pre-shared key, identity laptop");
	tosserver("s_server -psk_identity someoneelse", "-S keys", NULL, pskother, NULL,
		"the peer refused our pre-shared key, identity laptop: unknown to it?");
	tosserver("s_server -cert, our -R", "-R ca1.pem", "localhost", srv, "localhost", NULL);
	tosserver("... host as an address", "-R ca1.pem", "127.0.0.1", srv, "localhost", NULL);
	tosserver("s_server with a certificate of another CA", "-R ca1.pem", "localhost", srv2, NULL, "is not from a CA in");
	tosserver("s_server with an expired certificate", "-R ca1.pem", "localhost", srvexp, NULL, "the certificate of localhost has expired");
	tosserver("s_server: host mismatch", "-R ca1.pem", "other.example", srv, NULL, "the certificate of localhost is not for host other.example");
	snprintf(f, sizeof f, "-H %s", sp);
	tosserver("s_server self-signed, our -H", f, "127.0.0.1", self, "selfhost", NULL);
	snprintf(f, sizeof f, "-H %s", sp2);
	tosserver("s_server self-signed, a wrong -H", f, "127.0.0.1", self, NULL, "matches no -H pin");
	snprintf(f, sizeof f, "-R ca1.pem -H %s", sp);
	tosserver("s_server: -R passes, -H does not", f, "localhost", srv, NULL, "matches no -H pin");
	tosserver("s_server with -cert only, our -S alone", "-S keys", NULL, srv, NULL, "the server did not take our pre-shared key");
	tosserver("s_server -Verify, our client certificate", "-R ca1.pem -C cli.pem -K cli.key", "localhost", verify, "localhost", NULL);
	tosserver("s_server -Verify, no client certificate", "-R ca1.pem", "localhost", verify, NULL, "the peer wants a certificate");
	tosserver("s_server -Verify, a client certificate of another CA", "-R ca1.pem -C cli2.pem -K cli2.key", "localhost", verify, NULL,
		"the peer refused our certificate");
}

/* ---- openssl s_client, our listener ---- */

/*
 * s_client with extra words sends the file in to our listener, which
 * echoes quota bytes and closes: our result in r, s_client's output in
 * sclient.out.
 */
static void
fromsclient(Tlsconf *c, const char *in, size_t quota, const char *const extra[], Tcres *r)
{
	const char *argv[40];
	char port[16];
	int lfd, pn, n, i, fd;

	memset(r, 0, sizeof *r);
	r->rc = -1;
	lfd = tc_listen(&pn);
	snprintf(port, sizeof port, "127.0.0.1:%d", pn);
	fd = open(tc_path(in), O_RDONLY);
	if(lfd < 0 || fd < 0){
		snprintf(r->err, sizeof r->err, "test: set-up");
		if(lfd >= 0)
			close(lfd);
		if(fd >= 0)
			close(fd);
		return;
	}
	n = 0;
	argv[n++] = "openssl";
	argv[n++] = "s_client";
	argv[n++] = "-connect";
	argv[n++] = port;
	argv[n++] = "-ign_eof";
	argv[n++] = "-nocommands";
	for(i = 0; extra[i] != NULL && n < 39; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	child = tc_runv(fd, tc_path("sclient.out"), argv);
	close(fd);
	tc_serve(c, lfd, quota, 10000, r);
	reap(5000);
	close(lfd);
}

static void
sclients(void)
{
	const char *psk[] = { "-tls1_3", "-psk", tc_k1, "-psk_identity", "laptop", NULL };
	const char *pskbad[] = { "-tls1_3", "-psk", tc_k2, "-psk_identity", "laptop", NULL };
	const char *pskunknown[] = { "-tls1_3", "-psk", tc_k1, "-psk_identity", "nobody", NULL };
	const char *cert[] = { "-tls1_3", "-CAfile", "ca1.pem", "-verify_return_error", "-cert", "cli.pem", "-key", "cli.key", NULL };
	const char *cert2[] = { "-tls1_3", "-CAfile", "ca1.pem", "-cert", "cli2.pem", "-key", "cli2.key", NULL };
	const char *certexp[] = { "-tls1_3", "-CAfile", "ca1.pem", "-cert", "cliexp.pem", "-key", "cliexp.key", NULL };
	const char *nocert[] = { "-tls1_3", "-CAfile", "ca1.pem", NULL };
	const char *tls12[] = { "-no_tls1_3", "-CAfile", "ca1.pem", NULL };
	const char *plain[] = { "-tls1_3", "-CAfile", "ca1.pem", "-verify_return_error", NULL };
	const char *sargv[] = { "openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-tls1_3", "-rev",
		"-cert", "srv.pem", "-key", "srv.key", NULL };
	const char *l;
	char port[32];
	Tlsconf *c;
	Tcres r;
	int fd;

	tc_write("line.in", 0644, "hello from s_client\n");
	c = conf(TLS_LISTEN, "-S keys");
	fromsclient(c, "line.in", 20, psk, &r);
	ok(r.rc == 0 && r.echoed == 20 && r.auth == TLS_AUTHPSK && strcmp(r.peer, "laptop") == 0,
		"s_client -psk: up, peer laptop by its key, %s (%s)", r.cipher, r.err);
	ok(tc_has(tc_path("sclient.out"), "hello from s_client"), "... s_client got the echo");
	ok(tc_has(tc_path("sclient.out"), "Server Temp Key: X25519"), "... over (EC)DHE: psk_dhe_ke (s_client saw a key share)");
	ok(!tc_has(tc_path("sclient.out"), "New Session Ticket"), "... and no session ticket came");
	fromsclient(c, "line.in", 20, pskbad, &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "wrong pre-shared key for identity laptop"), "s_client with a wrong key: %s", r.err);
	fromsclient(c, "line.in", 20, pskunknown, &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "unknown pre-shared key identity nobody"), "s_client with an unknown identity: %s", r.err);
	fromsclient(c, "line.in", 20, nocert, &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "the peer offered no pre-shared key we can use"),
		"s_client without a key to a listener with -S alone: %s", r.err);
	tlsconffree(c);

	/* the control: OpenSSL's own server sends tickets, and s_client says so */
	child = tc_runv(-1, tc_path("sserver.out"), sargv);
	l = tc_waitline(tc_path("sserver.out"), "ACCEPT", 10000);
	if(l != NULL && strrchr(l, ':') != NULL){
		snprintf(port, sizeof port, "127.0.0.1:%s", strrchr(l, ':') + 1);
		/* s_server -rev ends the connection at CLOSE: s_client reads all it was sent first */
		tc_write("close.in", 0644, "hello\nCLOSE\n");
		fd = open(tc_path("close.in"), O_RDONLY);
		{
			pid_t sc;

			sc = tc_run(fd, tc_path("control.out"), "openssl", "s_client", "-connect", port, "-CAfile", "ca1.pem",
				"-ign_eof", NULL);
			close(fd);
			if(pc_waitexit(sc, 10000) == -1)
				pc_killwait(sc, SIGTERM, 2000);
		}
		ok(tc_has(tc_path("control.out"), "New Session Ticket"), "control: s_client reports the tickets of openssl s_server");
	}else
		ok(0, "control: s_server did not start");
	reap(3000);

	c = conf(TLS_LISTEN, "-C srv.pem -K srv.key -R ca1.pem");
	fromsclient(c, "line.in", 20, cert, &r);
	ok(r.rc == 0 && r.echoed == 20 && r.auth == TLS_AUTHCERT && strcmp(r.peer, "laptop") == 0,
		"s_client with a certificate: up, peer laptop by its common name (%s)", r.err);
	ok(tc_has(tc_path("sclient.out"), "Verification: OK") && tc_has(tc_path("sclient.out"), "hello from s_client"),
		"... s_client verified us and got the echo");
	ok(!tc_has(tc_path("sclient.out"), "New Session Ticket"), "... no session ticket");
	fromsclient(c, "line.in", 20, cert2, &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "the certificate of intruder is not from a CA in"), "s_client with a certificate of another CA: %s", r.err);
	fromsclient(c, "line.in", 20, certexp, &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "the certificate of oldlaptop has expired"), "s_client with an expired certificate: %s", r.err);
	fromsclient(c, "line.in", 20, nocert, &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "the peer sent no certificate"), "s_client without a certificate: %s", r.err);
	fromsclient(c, "line.in", 20, tls12, &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "the peer does not speak TLS 1.3"), "s_client with TLS 1.2 at most: %s", r.err);
	tlsconffree(c);

	c = conf(TLS_LISTEN, "-C srv.pem -K srv.key");
	fromsclient(c, "line.in", 20, plain, &r);
	ok(r.rc == 0 && r.auth == TLS_AUTHNONE && r.peer[0] == '\0', "a listener without -S, -R, -H: s_client without a certificate is up, named by nothing");
	tlsconffree(c);
}

/* ---- GnuTLS ---- */

/* gnutls-cli with extra words to our listener: sends a line, which comes back, and we close. */
static void
fromgnutls(Tlsconf *c, const char *const extra[], Tcres *r)
{
	const char *argv[40];
	char port[16];
	int lfd, pn, n, i, pfd[2];

	memset(r, 0, sizeof *r);
	r->rc = -1;
	lfd = tc_listen(&pn);
	if(lfd < 0 || pipe(pfd) < 0){
		snprintf(r->err, sizeof r->err, "test: set-up");
		return;
	}
	snprintf(port, sizeof port, "%d", pn);
	n = 0;
	argv[n++] = "gnutls-cli";
	argv[n++] = "-p";
	argv[n++] = port;
	for(i = 0; extra[i] != NULL && n < 38; i++)
		argv[n++] = extra[i];
	argv[n++] = "127.0.0.1";
	argv[n] = NULL;
	child = tc_runv(pfd[0], tc_path("gnutls.out"), argv);
	close(pfd[0]);
	/* the line waits in the pipe; gnutls-cli sends it once connected */
	if(write(pfd[1], "hello from gnutls\n", 18) != 18)
		diag("write to gnutls-cli: %s", strerror(errno));
	tc_serve(c, lfd, 18, 10000, r);
	close(pfd[1]);
	reap(5000);
	close(lfd);
}

static void
gnutls(void)
{
	const char *psk[] = { "--pskusername", "laptop", "--pskkey", tc_k1,
		"--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK", NULL };
	const char *pskbad[] = { "--pskusername", "laptop", "--pskkey", tc_k2,
		"--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK", NULL };
	const char *psknodhe[] = { "--pskusername", "laptop", "--pskkey", tc_k1,
		"--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+PSK", NULL };
	const char *cert[] = { "--x509cafile", "ca1.pem", "--verify-hostname", "localhost",
		"--x509certfile", "cli.pem", "--x509keyfile", "cli.key", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL };
	char pskfile[256], port[16];
	Tlsconf *c;
	Tcres r;
	int pn;

	if(!tc_have("gnutls-cli")){
		ok(1, "# SKIP no gnutls-cli (Debian gnutls-bin)");
		return;
	}
	c = conf(TLS_LISTEN, "-S keys -z 1024");
	fromgnutls(c, psk, &r);
	ok(r.rc == 0 && r.echoed == 18 && strcmp(r.peer, "laptop") == 0, "gnutls-cli --pskusername to a -z 1024 listener: up, peer laptop (%s)", r.err);
	ok(tc_has(tc_path("gnutls.out"), "hello from gnutls") && tc_has(tc_path("gnutls.out"), "PSK authentication"),
		"... gnutls-cli got the echo of padded records");
	fromgnutls(c, pskbad, &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "wrong pre-shared key for identity laptop"), "gnutls-cli with a wrong key: %s", r.err);
	fromgnutls(c, psknodhe, &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "the peer offered no pre-shared key we can use"),
		"gnutls-cli offering the key without (EC)DHE (psk_ke) is refused: %s", r.err);
	tlsconffree(c);
	c = conf(TLS_LISTEN, "-C srv.pem -K srv.key -R ca1.pem");
	fromgnutls(c, cert, &r);
	ok(r.rc == 0 && r.auth == TLS_AUTHCERT && strcmp(r.peer, "laptop") == 0, "gnutls-cli with certificates: up, peer laptop (%s)", r.err);
	tlsconffree(c);

	/* gnutls-serv, our client */
	if(!tc_have("gnutls-serv"))
		return;
	snprintf(pskfile, sizeof pskfile, "laptop:%s\n", tc_k1);
	tc_write("gnutls.psk", 0600, pskfile);
	pn = tc_freeport();
	snprintf(port, sizeof port, "%d", pn);
	child = tc_run(-1, tc_path("gserv.out"), "gnutls-serv", "--echo", "-p", port, "--pskpasswd", "gnutls.psk",
		"--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3:+ECDHE-PSK:+DHE-PSK", NULL);
	if(tc_waitline(tc_path("gserv.out"), "listening on IPv4", 10000) == NULL){
		ok(0, "gnutls-serv did not start");
		reap(0);
		return;
	}
	c = conf(TLS_DIAL, "-S keys -z 512");
	tc_dial(c, pn, NULL, "echo me\n", &r);
	ok(r.rc == 0 && strcmp(r.got, "echo me\n") == 0 && strcmp(r.peer, "laptop") == 0,
		"gnutls-serv --pskpasswd, our client with -z 512: the line echoed (%s)", r.rc == 0 ? r.cipher : r.err);
	tlsconffree(c);
	c = conf(TLS_DIAL, "-S keysbad");
	tc_dial(c, pn, NULL, "echo me\n", &r);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "the peer refused our pre-shared key"), "gnutls-serv, a wrong key: %s", r.err);
	tlsconffree(c);
	reap(0);
}

/* ---- Python's ssl ---- */

static const char pyclient[] =
	"import socket, ssl, sys\n"
	"port, ca, cert, key = sys.argv[1:5]\n"
	"ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
	"ctx.minimum_version = ssl.TLSVersion.TLSv1_3\n"
	"ctx.load_verify_locations(ca)\n"
	"ctx.load_cert_chain(cert, key)\n"
	"try:\n"
	"    with socket.create_connection(('127.0.0.1', int(port)), timeout=10) as s:\n"
	"        with ctx.wrap_socket(s, server_hostname='localhost') as t:\n"
	"            print('version', t.version(), t.cipher()[0], flush=True)\n"
	"            t.sendall(b'hello from python\\n')\n"
	"            data = b''\n"
	"            while not data.endswith(b'\\n'):\n"
	"                d = t.recv(100)\n"
	"                if not d:\n"
	"                    break\n"
	"                data += d\n"
	"            print('got', data.decode().strip(), flush=True)\n"
	"except Exception as e:\n"
	"    print('error', e, flush=True)\n"
	"    sys.exit(1)\n";

static const char pyserver[] =
	"import socket, ssl, sys\n"
	"cert, key, ca = sys.argv[1:4]\n"
	"ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
	"ctx.minimum_version = ssl.TLSVersion.TLSv1_3\n"
	"ctx.load_cert_chain(cert, key)\n"
	"ctx.load_verify_locations(ca)\n"
	"ctx.verify_mode = ssl.CERT_REQUIRED\n"
	"ls = socket.socket()\n"
	"ls.bind(('127.0.0.1', 0))\n"
	"ls.listen(1)\n"
	"ls.settimeout(10)\n"
	"print('listening', ls.getsockname()[1], flush=True)\n"
	"c, _ = ls.accept()\n"
	"try:\n"
	"    t = ctx.wrap_socket(c, server_side=True)\n"
	"    subj = dict(x[0] for x in t.getpeercert()['subject'])\n"
	"    print('peer', subj['commonName'], t.version(), flush=True)\n"
	"    line = t.recv(100)\n"
	"    t.sendall(line)\n"
	"    t.unwrap()\n"
	"except Exception as e:\n"
	"    print('error', e, flush=True)\n";

static void
python(void)
{
	char port[16], *s;
	const char *l;
	Tlsconf *c;
	Tcres r;
	int lfd, pn;

	if(!tc_have("python3")){
		ok(1, "# SKIP no python3");
		return;
	}
	tc_write("client.py", 0644, pyclient);
	tc_write("server.py", 0644, pyserver);

	c = conf(TLS_LISTEN, "-C srv.pem -K srv.key -R ca1.pem");
	lfd = tc_listen(&pn);
	snprintf(port, sizeof port, "%d", pn);
	child = tc_run(-1, tc_path("py.out"), "python3", "client.py", port, "ca1.pem", "cli.pem", "cli.key", NULL);
	tc_serve(c, lfd, 18, 15000, &r);
	reap(10000);
	ok(r.rc == 0 && strcmp(r.peer, "laptop") == 0, "a Python ssl client with a certificate: up, peer laptop (%s)", r.err);
	ok(tc_has(tc_path("py.out"), "version TLSv1.3") && tc_has(tc_path("py.out"), "got hello from python"),
		"... Python verified us (host localhost) and got its line back");
	child = tc_run(-1, tc_path("py.out"), "python3", "client.py", port, "ca1.pem", "cli2.pem", "cli2.key", NULL);
	tc_serve(c, lfd, 18, 15000, &r);
	reap(10000);
	ok(r.rc == TLS_ERROR && tc_says(r.err, "the certificate of intruder is not from a CA in"),
		"a Python client with a certificate of another CA: %s", r.err);
	ok(tc_has(tc_path("py.out"), "error"), "... Python hears the refusal");
	close(lfd);
	tlsconffree(c);

	child = tc_run(-1, tc_path("pys.out"), "python3", "server.py", "srv.pem", "srv.key", "ca1.pem", NULL);
	l = tc_waitline(tc_path("pys.out"), "listening", 15000);
	if(l == NULL){
		ok(0, "the Python server did not start: %s", pc_slurp(tc_path("pys.out")));
		reap(0);
		return;
	}
	pn = atoi(l + 10);
	c = conf(TLS_DIAL, "-R ca1.pem -C cli.pem -K cli.key");
	tc_dial(c, pn, "localhost", "hello python\n", &r);
	reap(10000);
	ok(r.rc == 0 && strcmp(r.got, "hello python\n") == 0 && strcmp(r.peer, "localhost") == 0,
		"a Python ssl server, our client with a certificate: the line echoed (%s)", r.rc == 0 ? r.cipher : r.err);
	if(!ok(tc_has(tc_path("pys.out"), "peer laptop TLSv1.3"), "... Python named us laptop")){
		/* to standard error, for CI's log: this check failed once there, and why is not known */
		s = pc_slurp(tc_path("pys.out"));
		fprintf(stderr, "# the Python server said: %s\n", s);
		free(s);
	}
	tlsconffree(c);

	child = tc_run(-1, tc_path("pys.out"), "python3", "server.py", "srv.pem", "srv.key", "ca1.pem", NULL);
	l = tc_waitline(tc_path("pys.out"), "listening", 15000);
	if(l != NULL){
		pn = atoi(l + 10);
		c = conf(TLS_DIAL, "-R ca2.pem -C cli.pem -K cli.key");
		tc_dial(c, pn, "localhost", "hello python\n", &r);
		ok(r.rc == TLS_ERROR && tc_says(r.err, "is not from a CA in"), "a Python server our -R does not trust: %s", r.err);
		tlsconffree(c);
	}
	reap(10000);
}

/* ---- padding, seen on the wire while s_client talks to us ---- */

static void
movebytes(int from, int to, Tcrecs *r, int *eof)
{
	uint8_t buf[65536];
	ssize_t n, w, off;
	struct pollfd p;

	n = read(from, buf, sizeof buf);
	if(n == 0)
		*eof = 1;
	if(n <= 0)
		return;
	tc_records(r, buf, (size_t)n);
	for(off = 0; off < n; off += w){
		w = write(to, buf + off, (size_t)(n - off));
		if(w < 0){
			if(errno != EAGAIN)
				return;
			p.fd = to;
			p.events = POLLOUT;
			poll(&p, 1, 100);
			w = 0;
		}
	}
}

static void
padwire(int pad)
{
	const char *argv[] = { "openssl", "s_client", "-connect", NULL, "-tls1_3", "-psk", tc_k1,
		"-psk_identity", "laptop", "-ign_eof", "-nocommands", NULL };
	char port[32], flags[64], err[256];
	uint8_t buf[65536], *pend;
	size_t npend, quota, echoed, i;
	struct iovec iov;
	Tcrecs up, down;
	Tlsconf *c;
	Tls *t;
	long end;
	ssize_t n;
	int lfd, pn, fd, cfd, sv[2], want, eofc, eofs, rc, napp, nfull, napp2, nfull2, bad;
	FILE *f;

	memset(&up, 0, sizeof up);
	memset(&down, 0, sizeof down);
	/* 100000 digits, no newline until the end: s_client sends them in large reads */
	f = fopen(tc_path("big.in"), "w");
	for(i = 0; i < 99999; i++)
		fputc('0' + (int)(i % 10), f);
	fputc('\n', f);
	fclose(f);
	quota = 100000;
	snprintf(flags, sizeof flags, "-S keys -z %d", pad);
	c = conf(TLS_LISTEN, flags);
	lfd = tc_listen(&pn);
	snprintf(port, sizeof port, "127.0.0.1:%d", pn);
	argv[3] = port;
	fd = open(tc_path("big.in"), O_RDONLY);
	child = tc_runv(fd, tc_path("padwire.out"), argv);
	close(fd);
	cfd = tc_accept(lfd, 10000);
	close(lfd);
	if(c == NULL || cfd < 0 || socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, sv) < 0){
		ok(0, "padding through a relay: set-up");
		reap(0);
		tlsconffree(c);
		return;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	t = tlsnew(c, sv[0], TLS_LISTEN, NULL, err, sizeof err);
	pend = malloc(quota + sizeof buf);
	npend = 0;
	echoed = 0;
	want = 0;
	eofc = eofs = 0;
	rc = 1;
	end = pc_now() + 20000;
	while(pc_now() < end){
		movebytes(cfd, sv[1], &up, &eofc);
		movebytes(sv[1], cfd, &down, &eofs);
		if(rc == 1 && (rc = tlshandshake(t)) < 0 && rc != TLS_ERROR)
			rc = 1;
		if(rc == TLS_ERROR)
			break;
		if(rc == 0 && echoed < quota){
			/* echo in big writes, so that records are full */
			while((n = tlsread(t, buf, sizeof buf)) > 0){
				memcpy(pend + npend, buf, (size_t)n);
				npend += (size_t)n;
			}
			if(npend > 0 || want != 0){
				iov.iov_base = pend;
				iov.iov_len = npend;
				n = tlswritev(t, &iov, npend > 0, &want);
				if(n < 0)
					break;
				memmove(pend, pend + n, npend - (size_t)n);
				npend -= (size_t)n;
				echoed += (size_t)n;
			}
		}
		if(rc == 0 && echoed >= quota && want == 0 && tlsshutdown(t) == 0){
			/* what is left in the socketpair, then goodbye */
			pc_sleep(50);
			movebytes(sv[1], cfd, &down, &eofs);
			break;
		}
		if(eofc)
			break;
		pc_sleep(1);
	}
	shutdown(cfd, SHUT_WR);
	pc_hungup(cfd, 2000);
	reap(5000);
	ok(rc == 0 && echoed == quota, "s_client sent 100000 bytes to our -z %d listener and we echoed them (%s)",
		pad, rc == 0 ? "" : tlserr(t));
	ok(tc_has(tc_path("padwire.out"), "9012345678\nclosed"), "... s_client read the padded echo to the end");
	bad = tc_padcheck(&down, pad, &napp, &nfull, TLS_RECMAX / pad * pad, 1);
	ok(bad == 0 && !down.bad && napp > 6, "-z %d: all %d encrypted records we sent are 21 bytes more than a multiple of %d",
		pad, napp, pad);
	ok(nfull >= 5, "... %d of them full: inner plaintext %d, %d on the wire", nfull,
		TLS_RECMAX / pad * pad, TLS_RECMAX / pad * pad + TLS_RECHDR + TLS_RECTAG);
	bad = tc_padcheck(&up, pad, &napp2, &nfull2, TLS_RECMAX + 1, 0);
	ok(bad > 0, "... while %d of the %d records s_client sent (without padding) are not", bad, napp2);
	free(pend);
	tlsfree(t);
	close(sv[0]);
	close(sv[1]);
	close(cfd);
	tlsconffree(c);
}

int
main(void)
{
	char err[256];

	tap_start(300);
	signal(SIGPIPE, SIG_IGN);
	tc_dir = pc_tmpdir();
	if(tc_dir == NULL){
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	pc_onalarm(tc_dir, &child, NULL);
	if(!tc_have("openssl")){
		pc_rmdir(tc_dir);
		printf("1..0 # SKIP no openssl command\n");
		return 0;
	}
	if(tc_mkfiles() < 0){
		ok(0, "keys and certificates made with openssl (see %s/sh.log)", tc_dir);
		return done_testing();
	}
	if(tlspinfile(tc_path("self.pem"), sp, sizeof sp, err, sizeof err) < 0
	|| tlspinfile(tc_path("self2.pem"), sp2, sizeof sp2, err, sizeof err) < 0
	|| tlspinfile(tc_path("cli.pem"), cp, sizeof cp, err, sizeof err) < 0)
		diag("pins: %s", err);
	sservers();
	sclients();
	gnutls();
	python();
	padwire(1024);
	padwire(1000);
	if(tap_failed)
		diag("files in %s", tc_dir);
	else
		pc_rmdir(tc_dir);
	return done_testing();
}
