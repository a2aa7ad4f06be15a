/*
 * Admission when the upstream's socket does not take more (-w).  The
 * test is the upstream server: once both clients have attached it
 * stops reading.  One client then sends many 32 KiB Twrites, which fill
 * the socket and then wait inside 9mux; the other sends a Tstat.  When
 * the server reads again, the Tstat must come after the writes that
 * were already on the wire and at most a couple more, not after all of
 * them: the clients took turns by bytes.
 */
#include <sys/un.h>

#include "tap.h"
#include "p9conv.h"

enum {
	T	= 20000,
	NW	= 60,		/* Twrites of the writing client */
	WLEN	= 32768,
	MSIZE	= 65536 + 24,
};

static const char *dir;
static pid_t mux = -1;

static int
listenat(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if(fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

/* As the server: read one request into *f and answer it (Rerror for a Tstat): its type, or -1. */
static int
serve(int fd, uint8_t *buf, Fcall *f)
{
	Fcall r;
	int type;

	if(pc_recv(fd, buf, PC_MAXMSG, T, P9_2000, f) <= 0)
		return -1;
	type = f->type;
	memset(&r, 0, sizeof r);
	r.tag = f->tag;
	switch(type) {
	case Tversion:
		r.type = Rversion;
		r.msize = f->msize < MSIZE ? f->msize : MSIZE;
		r.version = p9str("9P2000");
		break;
	case Tattach:
		r.type = Rattach;
		r.qid.type = P9_QTDIR;
		break;
	case Twrite:
		r.type = Rwrite;
		r.count = f->count;
		break;
	case Tclunk:
		r.type = Rclunk;
		break;
	case Tflush:
		r.type = Rflush;
		break;
	default:
		r.type = Rerror;
		r.ename = p9str("not here");
		break;
	}
	if(pc_send(fd, &r, P9_2000) < 0)
		return -1;
	return type;
}

int
main(int argc, char **argv)
{
	static char a[420], u[420];
	static uint8_t data[WLEN];
	uint8_t *buf;
	Pconn *w, *s;
	Fcall t, f;
	int lfd, up, i, type, before, after, stats, good;

	(void)argc;
	tap_start(120);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, NULL);
	buf = malloc(PC_MAXMSG);
	if(!ok(dir != NULL && buf != NULL, "temporary directory"))
		return done_testing();
	lfd = listenat(pc_path(dir, "up.sock"));
	if(!ok(lfd >= 0, "the test listens as the upstream"))
		goto out;
	{
		const char *av[] = { pc_prog("9mux"), "-w", "1", "-b", "4m", "-a", a, u, NULL };

		snprintf(a, sizeof a, "unix!%s", pc_path(dir, "mux.sock"));
		snprintf(u, sizeof u, "unix!%s", pc_path(dir, "up.sock"));
		mux = pc_spawn(av, pc_path(dir, "mux.err"));
	}
	up = accept(lfd, NULL, NULL);
	if(!ok(up >= 0 && serve(up, buf, &f) == Tversion, "9mux -w 1 dials and says Tversion"))
		goto out;
	if(!ok(pc_waitsock(pc_path(dir, "mux.sock"), 5000) == 0, "9mux listens"))
		goto out;

	w = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	s = pc_open(pc_path(dir, "mux.sock"), P9_2000);
	good = w != NULL && s != NULL && pc_version(w, MSIZE, "9P2000") == Rversion
		&& pc_version(s, 8192, "9P2000") == Rversion;
	for(i = 0; good && i < 2; i++) {
		pc_mkattach(&t, 1, 1, "tester");
		good = pc_send((i ? s : w)->fd, &t, P9_2000) == 0 && serve(up, buf, &f) == Tattach
			&& pc_next(i ? s : w, T) > 0 && (i ? s : w)->r.type == Rattach;
	}
	if(!ok(good, "two clients attach"))
		goto out;

	/* the server stops reading; one client sends NW writes, the other a stat */
	memset(data, 'x', sizeof data);
	for(i = 0; i < NW; i++) {
		memset(&t, 0, sizeof t);
		t.type = Twrite;
		t.tag = (uint16_t)(100 + i);
		t.fid = 1;
		t.offset = (uint64_t)i * WLEN;
		t.count = WLEN;
		t.data = data;
		if(pc_send(w->fd, &t, P9_2000) < 0)
			break;
	}
	ok(i == NW, "the writer sent %d Twrites of %d bytes", NW, WLEN);
	pc_sleep(300);
	pc_mkfid(&t, Tstat, 7, 1);
	ok(pc_send(s->fd, &t, P9_2000) == 0, "the other client sends a Tstat");
	pc_sleep(300);

	/* the server reads again: where is the Tstat? */
	before = after = stats = 0;
	for(i = 0; i < NW + 1; i++) {
		type = serve(up, buf, &f);
		if(type == Tstat)
			stats++;
		else if(type == Twrite && stats == 0)
			before++;
		else if(type == Twrite)
			after++;
		else
			break;
	}
	ok(stats == 1 && before + after == NW, "the server got the %d Twrites and the Tstat (%d, %d, %d)", NW,
		before, stats, after);
	ok(after >= NW / 2, "the Tstat came after %d Twrites, %d after it: it did not wait for all of them",
		before, after);
	good = 0;
	for(i = 0; i < NW; i++)
		if(pc_next(w, T) > 0 && w->r.type == Rwrite && w->r.count == WLEN)
			good++;
	is_int(good, NW, "every Twrite answered");
	ok(pc_next(s, T) > 0 && s->r.type == Rerror, "and the Tstat");
	pc_close(w);
	pc_close(s);
	/* their fids are clunked upstream as they leave */
	for(i = 0; i < 2; i++)
		if(serve(up, buf, &f) != Tclunk)
			break;
	is_int(i, 2, "both clients' fids clunked when they left");
	ok(pc_killwait(mux, SIGTERM, 10000) == 0, "9mux exits 0 on SIGTERM");
	mux = -1;
	close(up);
out:
	if(mux > 0)
		pc_killwait(mux, SIGKILL, 5000);
	pc_rmdir(dir);
	free(buf);
	return done_testing();
}
