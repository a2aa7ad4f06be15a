/*
 * Admission when the upstream is the bottleneck.  9mux runs with one
 * upstream tag (-T 1) in front of a 9testsrv that answers every Tread
 * late, so requests queue inside 9mux.  One client pipelines large
 * Treads; another then attaches and stats.  With sessions taking turns
 * by bytes (deficit round robin) each of the second client's requests
 * goes upstream after at most two of the reads, not after all of them
 * as first come, first served would have it.  A Tflush of a read still
 * waiting for admission is answered by 9mux and never reaches the server.
 * Then 9mux -i: a larger read of a file goes to the server in pieces
 * of that size and comes back whole, opens report the client's msize,
 * and a client that reads until end of file gets every byte.
 */
#include "tap.h"
#include "p9conv.h"

enum {
	T	= 20000,
	NREAD	= 12,		/* Treads the streaming client pipelines */
	COUNT	= 16384,	/* each; 9testsrv's "big" has 20000 bytes */
	DELAY	= 250,		/* ms 9testsrv takes for a Tread: long enough for the other client to come in under load */
};

static const char *dir;
static pid_t srv = -1, mux = -1;

/*
 * In 9testsrv's log: the Treads before the first line holding both a
 * and b, and those between it and the next line holding c.
 */
static void
order(const char *log, const char *a, const char *b, const char *c, int *before, int *between)
{
	char *s, *p, *e;
	int state;

	*before = *between = -1;
	s = pc_slurp(log);
	state = 0;
	for(p = s; *p; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if(e == NULL)
			e = p + strlen(p);
		if(state == 0 && pc_has(p, (size_t)(e - p), a) && pc_has(p, (size_t)(e - p), b)) {
			state = 1;
			*between = 0;
			continue;
		}
		if(state == 1 && pc_has(p, (size_t)(e - p), c)) {
			state = 2;
			break;
		}
		if(strncmp(p, "Tread", 5) == 0) {
			if(state == 0)
				*before = *before < 0 ? 1 : *before + 1;
			else
				(*between)++;
		}
	}
	if(state == 0)
		*before = -1;
	else if(*before < 0)
		*before = 0;
	if(state != 2)
		*between = -1;
	free(s);
}

int
main(int argc, char **argv)
{
	static char a[420], u[420], d[32], line[512];
	uint8_t frames[NREAD * 64], *p;
	Pconn *stream, *other;
	Fcall t;
	size_t len, n;
	long fids, tags;
	int i, j, before, between, good, flushed;

	(void)argc;
	tap_start(120);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &srv, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	snprintf(d, sizeof d, "Tread:%d", DELAY);
	{
		const char *av[] = { pc_prog("9testsrv"), "-l", pc_path(dir, "srv.log"), "-d", d, "-a", u, NULL };

		snprintf(u, sizeof u, "unix!%s", pc_path(dir, "srv.sock"));
		srv = pc_spawn(av, pc_path(dir, "srv.err"));
		if(!ok(pc_waitsock(pc_path(dir, "srv.sock"), 5000) == 0, "9testsrv -d %s listens", d))
			goto out;
	}
	{
		const char *av[] = { pc_prog("9mux"), "-T", "1", "-a", a, u, NULL };

		snprintf(a, sizeof a, "unix!%s", pc_path(dir, "mux.sock"));
		mux = pc_spawn(av, pc_path(dir, "mux.err"));
		if(!ok(pc_waitsock(pc_path(dir, "mux.sock"), 5000) == 0, "9mux -T 1 listens")) {
			diag("%s", pc_slurp(pc_path(dir, "mux.err")));
			goto out;
		}
	}

	stream = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	other = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	if(!ok(other != NULL && pc_openfile(stream, 65536, "streamer", "big") == 0
	&& pc_version(other, 8192, "9P2000") == Rversion, "the streaming client opens big; the other says Tversion"))
		goto out;

	/* NREAD large Treads at once; 9mux has one upstream tag, so all but one wait in it */
	len = 0;
	for(i = 0; i < NREAD; i++) {
		pc_mkread(&t, (uint16_t)(100 + i), 2, (uint64_t)i, COUNT);
		len += p9encode(frames + len, sizeof frames - len, &t, P9_2000);
	}
	ok(pc_write(stream->fd, frames, len) == 0, "stream: %d Treads of %d bytes sent at once", NREAD, COUNT);
	ok(pc_waitcount(pc_path(dir, "srv.log"), "Tread", 1, 5000) >= 1, "the first reached the server");

	/* the other client's requests take their turn among the reads */
	ok(pc_attach(other, 1, 1, "bob") == Rattach, "other: Tattach answered");
	pc_mkfid(&t, Tstat, 2, 1);
	ok(pc_rpc(other, &t, T) == Rstat, "other: Tstat answered");
	order(pc_path(dir, "srv.log"), "Tattach", "bob", "Tstat", &before, &between);
	ok(before >= 1 && before <= 2, "its Tattach reached the server after %d Treads (not %d)", before, NREAD);
	ok(between >= 0 && between <= 2, "its Tstat after %d more (not all the rest)", between);

	/* a Tflush of the last read, still waiting for admission: answered here */
	t.type = Tflush;
	t.tag = 99;
	t.oldtag = 100 + NREAD - 1;
	ok(pc_send(stream->fd, &t, P9_2000) == 0, "stream: Tflush of its last Tread");

	good = flushed = 0;
	for(i = 0; i < NREAD; i++) {
		if(pc_next(stream, T) < 0)
			break;
		if(stream->r.type == Rflush && stream->r.tag == 99) {
			flushed = i + 1;
			continue;
		}
		j = stream->r.tag - 100;
		if(stream->r.type != Rread || j < 0 || j >= NREAD - 1 || stream->r.count != COUNT) {
			diag("reply %d: type %d tag %u", i, stream->r.type, stream->r.tag);
			continue;
		}
		p = (uint8_t *)stream->r.data;
		for(n = 0; n < COUNT; n++)
			if(p[n] != 'a' + ((size_t)j + n) % 26)
				break;
		if(n == COUNT)
			good++;
	}
	ok(flushed > 0 && flushed < NREAD, "Rflush came back before the last reads were answered (reply %d of %d)",
		flushed, NREAD);
	is_int(good, NREAD - 1, "every other Tread answered, with the right bytes");
	is_int(pc_count(pc_path(dir, "srv.log"), "Tflush"), 0, "no Tflush reached the server");
	is_int(pc_count(pc_path(dir, "srv.log"), "Tread"), NREAD - 1, "nor the flushed Tread");

	pc_close(stream);
	pc_close(other);
	stream = other = NULL;
	pc_sleep(200);
	ok(pc_srvstate(srv, pc_path(dir, "srv.log"), &fids, &tags) == 0 && fids == 0 && tags == 0,
		"9testsrv: FIDS 0 TAGS 0 after both left");
	is_int(pc_count(pc_path(dir, "srv.log"), "VIOLATION"), 0, "no protocol violation");
	ok(pc_killwait(mux, SIGTERM, 10000) == 0, "9mux exits 0 on SIGTERM");
	mux = -1;

	/* -i: the largest read that goes through */
	{
		const char *av[] = { pc_prog("9mux"), "-i", "1k", "-a", a, u, NULL };

		unlink(pc_path(dir, "mux.sock"));
		mux = pc_spawn(av, pc_path(dir, "mux.err"));
		if(!ok(pc_waitsock(pc_path(dir, "mux.sock"), 5000) == 0, "9mux -i 1k listens"))
			goto out;
	}
	stream = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	if(!ok(pc_openfile(stream, 65536, "reader", "big") == 0, "a session opens big with msize 65536"))
		goto out;
	is_int(stream->r.iounit, 65536 - 24, "Ropen reports the client's msize-24, not -i");
	before = pc_count(pc_path(dir, "srv.log"), "Tread");
	pc_mkread(&t, 4, 2, 5, COUNT);
	i = pc_rpc(stream, &t, T);
	ok(i == Rread && stream->r.count == COUNT, "a Tread of %d gets %d bytes (%u)", COUNT, COUNT, stream->r.count);
	p = (uint8_t *)stream->r.data;
	for(n = 0; i == Rread && n < stream->r.count; n++)
		if(p[n] != 'a' + (5 + n) % 26)
			break;
	ok(i == Rread && n == COUNT, "the right bytes, in order");
	is_int(pc_count(pc_path(dir, "srv.log"), "Tread") - before, COUNT / 1024, "the server was asked in pieces of 1024");
	ok(pc_line(pc_path(dir, "srv.log"), "Tread", -1, line, sizeof line) == 0 && strstr(line, "count 1024") != NULL,
		"each of 1024: %s", line);
	good = 1;
	len = 0;
	for(i = 0; i < 100; i++) {
		pc_mkread(&t, 5, 2, len, COUNT);
		if(pc_rpc(stream, &t, T) != Rread) {
			good = 0;
			break;
		}
		if(stream->r.count == 0)
			break;
		p = (uint8_t *)stream->r.data;
		for(n = 0; n < stream->r.count; n++)
			if(p[n] != 'a' + (len + n) % 26)
				good = 0;
		len += stream->r.count;
	}
	ok(good && len == 20000, "reading until a 0-byte Rread gets the whole file, right (%zu bytes)", len);
	pc_close(stream);
	stream = NULL;
	ok(pc_killwait(mux, SIGTERM, 10000) == 0, "9mux -i exits 0 on SIGTERM");
	mux = -1;
out:
	if(mux > 0)
		pc_killwait(mux, SIGKILL, 5000);
	if(srv > 0)
		pc_killwait(srv, SIGTERM, 5000);
	pc_rmdir(dir);
	return done_testing();
}
