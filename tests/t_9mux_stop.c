/*
 * t_9mux_stop: how 9mux stops and reloads.  SIGTERM lets the requests
 * in flight be answered (-g), then flushes what is still outstanding
 * and clunks every fid, so that the server is left holding nothing of
 * 9mux's (9testsrv logs what a connection held when it ended), and
 * exits 0; under load too, with requests the server never answers.
 * SIGHUP opens the log file of -L again and says "reloaded", and 9mux
 * goes on serving.
 */
#include "tap.h"
#include "p9conv.h"

enum {
	KA = 8,		/* clients whose requests finish in the grace time */
	KB = 16,	/* clients under load whose reads never finish */
};

static const char *dir;
static pid_t srv = -1, mux = -1;

static pid_t
start(const char *const *argv, const char *errfile, const char *sock)
{
	pid_t p;

	p = pc_spawn(argv, errfile);
	if(pc_waitsock(sock, 10000) < 0)
		diag("%s never listened on %s", argv[0], sock);
	return p;
}

/* Tversion, Tattach fid 0, and walks to fid 1 and 2: 0, or -1. */
static int
session(Pconn *c, const char *p1, const char *p2)
{
	if(c == NULL || pc_version(c, 65536, "9P2000") != Rversion || pc_attach(c, 1, 0, "u") != Rattach
	|| pc_walk(c, 2, 0, 1, p1) != Rwalk || pc_walk(c, 3, 0, 2, p2) != Rwalk)
		return -1;
	return 0;
}

/* The last line of log with sub in it, or "". */
static const char *
last(const char *log, const char *sub)
{
	static char line[256];

	if(pc_line(log, sub, -1, line, sizeof line) < 0)
		line[0] = '\0';
	return line;
}

/* SIGHUP with -L; then SIGTERM with requests that finish within -g. */
static void
graceful(void)
{
	char *srvlog, *muxlog, *old, *s;
	Pconn *c[KA], *n;
	Fcall t;
	int i, good, st;

	srvlog = strdup(pc_path(dir, "a.srv.log"));
	muxlog = strdup(pc_path(dir, "a.mux.log"));
	old = strdup(pc_path(dir, "a.mux.log.1"));
	{
		const char *a[] = { pc_prog("9testsrv"), "-d", "Tstat:400", "-l", srvlog, "-a", pc_unixaddr(dir, "a.srv"), NULL };
		srv = start(a, pc_path(dir, "a.srv.err"), pc_path(dir, "a.srv"));
	}
	{
		const char *a[] = { pc_prog("9mux"), "-v", "-k", "0", "-g", "30", "-L", muxlog,
			"-a", pc_unixaddr(dir, "a.mux"), pc_unixaddr(dir, "a.srv"), NULL };
		mux = start(a, pc_path(dir, "a.mux.err"), pc_path(dir, "a.mux"));
	}

	/* SIGHUP: the log file is opened again, and 9mux goes on */
	ok(rename(muxlog, old) == 0, "the log file of -L is moved away, as logrotate does");
	kill(mux, SIGHUP);
	ok(pc_waitcount(muxlog, "reloaded", 1, 10000) == 1, "SIGHUP: a new log file, which says reloaded");
	is_int(pc_count(old, "reloaded"), 0, "nothing of it in the old one");
	n = pc_open(pc_path(dir, "a.mux"), P9_2000);
	ok(session(n, "hello", "sub") == 0, "9mux still serves after SIGHUP");
	pc_close(n);

	good = 1;
	for(i = 0; i < KA; i++){
		c[i] = pc_open(pc_path(dir, "a.mux"), P9_2000);
		good &= session(c[i], "hello", "sub") == 0;
	}
	ok(good, "%d clients hold 3 fids each", KA);
	for(i = 0; i < KA; i++){
		pc_mkfid(&t, Tstat, 10, 1);
		pc_send(c[i]->fd, &t, P9_2000);
	}
	ok(pc_waitcount(srvlog, "Tstat", KA, 10000) == KA, "each sent a Tstat, which the server answers 400 ms late");
	kill(mux, SIGTERM);
	good = 0;
	for(i = 0; i < KA; i++)
		good += pc_next(c[i], 20000) > 0 && c[i]->r.type == Rstat && c[i]->r.tag == 10;
	is_int(good, KA, "SIGTERM: every Tstat in flight is answered (-g 30)");
	good = 0;
	for(i = 0; i < KA; i++)
		good += pc_hungup(c[i]->fd, 20000);
	is_int(good, KA, "then every client is hung up on");
	st = pc_waitexit(mux, 20000);
	mux = -1;
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "9mux exits 0");
	is_int(pc_count(srvlog, "Tclunk"), 3 * KA + 3, "every fid was clunked upstream, %d", 3 * KA + 3);
	s = (char *)last(srvlog, "HANGUP");
	ok(strstr(s, " fids 0 tags 0") != NULL, "when 9mux hung up, the server held nothing of it: %s", s);
	is_int(pc_count(srvlog, "VIOLATION"), 0, "no violation of the protocol");
	ok(access(pc_path(dir, "a.mux"), F_OK) < 0, "its socket is gone");
	ok(pc_count(muxlog, "signal 15") == 1, "it logged the signal to the log file");
	for(i = 0; i < KA; i++)
		pc_close(c[i]);
	pc_killwait(srv, SIGTERM, 5000);
	srv = -1;
	free(srvlog);
	free(muxlog);
	free(old);
}

/* SIGTERM under load, with reads the server never answers: flushed after -g 1, every fid clunked. */
static void
underload(void)
{
	char *srvlog, *muxerr, *s;
	Pconn *c[KB];
	Fcall t;
	int i, j, good, st;

	srvlog = strdup(pc_path(dir, "b.srv.log"));
	muxerr = strdup(pc_path(dir, "b.mux.err"));
	{
		const char *a[] = { pc_prog("9testsrv"), "-x", "Tread", "-d", "Tstat:50", "-l", srvlog, "-a", pc_unixaddr(dir, "b.srv"), NULL };
		srv = start(a, pc_path(dir, "b.srv.err"), pc_path(dir, "b.srv"));
	}
	{
		const char *a[] = { pc_prog("9mux"), "-v", "-k", "0", "-g", "1", "-a", pc_unixaddr(dir, "b.mux"), pc_unixaddr(dir, "b.srv"), NULL };
		mux = start(a, muxerr, pc_path(dir, "b.mux"));
	}
	good = 1;
	for(i = 0; i < KB; i++){
		c[i] = pc_open(pc_path(dir, "b.mux"), P9_2000);
		good &= session(c[i], "hello", "big") == 0 && pc_open1(c[i], 4, 1, P9_OREAD) == Ropen
			&& pc_open1(c[i], 5, 2, P9_OREAD) == Ropen;
	}
	ok(good, "%d clients each hold two open files", KB);
	for(i = 0; i < KB; i++){
		pc_mkread(&t, 20, 1, 0, 100);
		pc_send(c[i]->fd, &t, P9_2000);
		pc_mkread(&t, 21, 2, 0, 100);
		pc_send(c[i]->fd, &t, P9_2000);
		for(j = 0; j < 4; j++){
			pc_mkfid(&t, Tstat, (uint16_t)(30 + j), 0);
			pc_send(c[i]->fd, &t, P9_2000);
		}
	}
	ok(pc_waitcount(srvlog, "Tread", 2 * KB, 20000) == 2 * KB, "each has two reads at the server, which never answers them");
	kill(mux, SIGTERM);
	st = pc_waitexit(mux, 30000);
	mux = -1;
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: 9mux exits 0 after -g 1");
	ok(pc_count(muxerr, "flushing them") == 1, "having said it flushes what was still in flight");
	ok(pc_count(srvlog, "Tflush") >= 2 * KB, "every read was flushed upstream (%d Tflush)", pc_count(srvlog, "Tflush"));
	is_int(pc_count(srvlog, "Tclunk"), 3 * KB, "every fid was clunked upstream");
	s = (char *)last(srvlog, "HANGUP");
	ok(strstr(s, " fids 0 tags 0") != NULL, "the server held nothing of 9mux when it hung up: %s", s);
	is_int(pc_count(srvlog, "VIOLATION"), 0, "no violation of the protocol");
	good = 0;
	for(i = 0; i < KB; i++){
		good += pc_hungup(c[i]->fd, 10000);
		pc_close(c[i]);
	}
	is_int(good, KB, "every client was hung up on");
	pc_killwait(srv, SIGTERM, 5000);
	srv = -1;
	free(srvlog);
	free(muxerr);
}

/* Without an upstream: nothing to wait for. */
static void
noupstream(void)
{
	int st;

	{
		const char *a[] = { pc_prog("9mux"), "-a", pc_unixaddr(dir, "c.mux"), pc_unixaddr(dir, "nowhere"), NULL };
		mux = start(a, pc_path(dir, "c.mux.err"), pc_path(dir, "c.mux"));
	}
	kill(mux, SIGINT);
	st = pc_waitexit(mux, 20000);
	mux = -1;
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGINT with the upstream unreachable: 9mux exits 0");
}

int
main(int argc, char **argv)
{
	tap_start(120);
	(void)argc;
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &srv, &mux, NULL);
	graceful();
	underload();
	noupstream();
	pc_rmdir(dir);
	return done_testing();
}
