/*
 * t_9ramfs_stress - many connections send 9ramfs random but well-formed
 * requests of every type (and some random frames) in every dialect, with
 * requests pipelined; every request must get exactly one reply with its
 * tag (in any order: 9ramfs -j 4 handles them at once, and -q 8 makes it
 * stop reading halfway through each batch), a Tflush of a request of the
 * same batch its Rflush only after that request's reply, and the server
 * must stay up and exit cleanly.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"
#include "9p.h"
#include "dial.h"

enum {
	Nconn = 12,
	Nmsg = 20000,
	Batch = 16,		/* requests in flight at once */
	Msize = 256 * 1024,
	Tmo = 20000,
};

static char tmpdir[256], prog[512], addr[300];
static pid_t srv;

static const uint8_t ttypes[] = {
	Tversion, Tauth, Tattach, Tflush, Twalk, Topen, Tcreate, Tread, Twrite, Tclunk,
	Tremove, Tstat, Twstat, Tstatfs, Tlopen, Tlcreate, Tsymlink, Tmknod, Trename,
	Treadlink, Tgetattr, Tsetattr, Txattrwalk, Txattrcreate, Treaddir, Tfsync,
	Tlock, Tgetlock, Tlink, Tmkdir, Trenameat, Tunlinkat,
};
static const char *names[] = { "a", "b", "c", "..", "dir", "x y", "long-name-here", "." };

static void
cleanup(void)
{
	char cmd[300];

	if(srv > 0){
		kill(srv, SIGKILL);
		waitpid(srv, NULL, 0);
		srv = 0;
	}
	if(tmpdir[0]){
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if(system(cmd) != 0)
			diag("could not remove %s", tmpdir);
	}
}

static void
onalarm(int sig)
{
	(void)sig;
	printf("not ok - timed out\n");
	cleanup();
	_exit(1);
}

static uint32_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 16);
}

static P9str
rname(uint64_t *s)
{
	return p9str(names[rnd(s) % (sizeof names / sizeof names[0])]);
}

static uint32_t
rfid(uint64_t *s)
{
	return rnd(s) % 16 == 0 ? P9_NOFID : rnd(s) % 8;
}

/* A random request in dialect d; data is room for Twrite and stat bytes. */
static void
mkreq(Fcall *t, uint64_t *s, int d, uint8_t *data, uint8_t *st)
{
	P9dir dir;
	int i;

	memset(t, 0, sizeof *t);
	t->type = ttypes[rnd(s) % sizeof ttypes];
	if(t->type == Tversion)
		t->type = Tstat;	/* versions are changed on purpose elsewhere */
	t->fid = rfid(s);
	t->newfid = rfid(s);
	t->afid = rnd(s) % 4 ? P9_NOFID : rfid(s);
	t->dfid = rfid(s);
	t->newdfid = rfid(s);
	t->oldtag = (uint16_t)rnd(s);
	t->uname = p9str(rnd(s) % 2 ? "glenda" : "bob");
	t->aname = p9str(rnd(s) % 8 ? "" : "/");
	t->nuname = rnd(s) % 2 ? 1000 : ~0u;
	t->perm = rnd(s) % 3 == 0 ? (P9_DMDIR | 0777) : (rnd(s) & 0777) | (rnd(s) % 5 == 0 ? P9_DMEXCL : 0) |
		(rnd(s) % 5 == 0 ? P9_DMAPPEND : 0);
	t->mode = rnd(s) % 0x100;
	if(t->type == Tlcreate || t->type == Tmkdir)
		t->mode = rnd(s) & 0777;
	t->flags = rnd(s) % 4 == 0 ? rnd(s) : (rnd(s) & 3) | (rnd(s) % 4 == 0 ? 01000 : 0) | (rnd(s) % 4 == 0 ? 02000 : 0);
	t->name = rname(s);
	t->newname = rname(s);
	t->target = rname(s);
	t->extension = p9str("");
	t->nwname = (uint16_t)(rnd(s) % 4);
	for(i = 0; i < t->nwname; i++)
		t->wname[i] = rname(s);
	t->offset = rnd(s) % 8 == 0 ? (uint64_t)rnd(s) << 20 : rnd(s) % 100000;
	t->count = rnd(s) % 8 == 0 ? 0xFFFFFFFFu : rnd(s) % 70000;
	if(t->type == Twrite){
		t->count %= 30000;
		t->data = data;
	}
	if(t->type == Twstat){
		memset(&dir, 0xFF, sizeof dir);
		dir.name = rnd(s) % 3 ? p9str("") : rname(s);
		dir.uid = dir.gid = dir.muid = dir.extension = p9str("");
		if(rnd(s) % 3 == 0)
			dir.length = rnd(s) % 50000;
		if(rnd(s) % 3 == 0)
			dir.mode = rnd(s);
		if(rnd(s) % 5 == 0)
			dir.gid = p9str("glenda");
		t->nstat = (uint16_t)p9direncode(st, 512, &dir, d);
		t->stat = st;
	}
	t->sattr.valid = rnd(s) & 0x1ff;
	t->sattr.mode = rnd(s);
	t->sattr.uid = rnd(s) % 2 ? 1000 : rnd(s);
	t->sattr.gid = rnd(s) % 2 ? 1000 : rnd(s);
	t->sattr.size = rnd(s) % 100000;
	t->mask = 0x3fff;
	t->lock.type = (uint8_t)(rnd(s) % 3);
	t->lock.clientid = p9str("stress");
	t->xsize = rnd(s) % 100;
	t->datasync = rnd(s) % 2;
}

static int
writeall(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while(n > 0){
		w = write(fd, p, n);
		if(w < 0 && errno == EINTR)
			continue;
		if(w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
readfull(int fd, uint8_t *p, size_t n)
{
	struct pollfd pfd;
	ssize_t r;

	while(n > 0){
		pfd.fd = fd;
		pfd.events = POLLIN;
		if(poll(&pfd, 1, Tmo) <= 0)
			return -1;
		r = read(fd, p, n);
		if(r < 0 && errno == EINTR)
			continue;
		if(r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One reply into buf, decoded into r: 0, or -1. */
static int
recvmsg9(int fd, uint8_t *buf, int d, Fcall *r)
{
	uint32_t sz;

	if(readfull(fd, buf, 4) < 0)
		return -1;
	sz = p9get32(buf);
	if(sz < 7 || sz > Msize)
		return -1;
	if(readfull(fd, buf + 4, sz - 4) < 0)
		return -1;
	return p9decode(buf, sz, Msize, d, r) == (long)sz ? 0 : -1;
}

typedef struct Job Job;
struct Job {
	int	id;
	int	replies;
	int	good;	/* replies that were not errors */
	int	flushes;	/* Rflushes of requests in the same batch */
	int	bad;
	char	why[200];
};

static void *
worker(void *v)
{
	static const char *vers[] = { "9P2000", "9P2000.u", "9P2000.L" };
	Job *j;
	Fcall t, r;
	uint8_t *out, *in, *data, st[512];
	uint64_t s;
	uint16_t tags[Batch];
	int target[Batch];	/* a Tflush's request in the batch, or -1 */
	char answered[Batch];
	size_t n, len;
	char err[128];
	int fd, d, i, k, m, nb;

	j = v;
	s = 0x9E3779B97F4A7C15ull * (uint64_t)(j->id + 1);
	out = malloc(Msize * Batch);
	in = malloc(Msize);
	data = malloc(30000);
	memset(data, 'd', 30000);
	fd = dial(addr, err, sizeof err);
	if(fd < 0 || out == NULL || in == NULL){
		snprintf(j->why, sizeof j->why, "dial: %s", err);
		j->bad++;
		goto done;
	}
	d = P9_2000;
	for(i = 0; i < Nmsg; ){
		if(i % 500 == 0){
			/* a new dialect and a fresh attach */
			memset(&t, 0, sizeof t);
			t.type = Tversion;
			t.tag = P9_NOTAG;
			t.msize = Msize;
			t.version = p9str(vers[rnd(&s) % 3]);
			n = p9encode(out, Msize, &t, d);
			if(writeall(fd, out, n) < 0 || recvmsg9(fd, in, d, &r) < 0 || r.type != Rversion){
				snprintf(j->why, sizeof j->why, "Tversion failed");
				j->bad++;
				goto done;
			}
			d = p9dialect(r.version.s, r.version.n);
			memset(&t, 0, sizeof t);
			t.type = Tattach;
			t.tag = 1;
			t.fid = 0;
			t.afid = P9_NOFID;
			t.uname = p9str(j->id % 2 ? "glenda" : "bob");
			t.nuname = ~0u;
			n = p9encode(out, Msize, &t, d);
			if(writeall(fd, out, n) < 0 || recvmsg9(fd, in, d, &r) < 0 || r.type != Rattach){
				snprintf(j->why, sizeof j->why, "Tattach failed");
				j->bad++;
				goto done;
			}
		}
		/* a batch of requests in one write, then their replies in any order */
		len = 0;
		nb = 0;
		for(k = 0; k < Batch && i < Nmsg; k++, i++){
			if(rnd(&s) % 50 == 0){
				/* a random frame of a plausible size */
				uint32_t sz = 7 + rnd(&s) % 40;
				uint32_t b;
				p9put32(out + len, sz);
				for(b = 4; b < sz; b++)
					out[len + b] = (uint8_t)rnd(&s);
				out[len + 4] &= 0xFE;	/* a T-message type, so it is not an R */
				if(out[len + 4] == Tversion)
					out[len + 4] = Tstat;	/* which would change the dialect */
				target[nb] = -1;
				tags[nb++] = p9get16(out + len + 5);
				len += sz;
				continue;
			}
			mkreq(&t, &s, d, data, st);
			t.tag = (uint16_t)(i % 60000);
			target[nb] = -1;
			if(t.type == Tflush && nb > 0 && rnd(&s) % 2){
				/* one of this batch's, likely still in flight */
				target[nb] = (int)(rnd(&s) % (uint32_t)nb);
				t.oldtag = tags[target[nb]];
				for(m = 0; m < nb; m++)
					if(m != target[nb] && tags[m] == t.oldtag)
						target[nb] = -1;	/* ambiguous: a random frame's tag */
			}
			n = p9encode(out + len, Msize * Batch - len, &t, d);
			if(n == 0)
				continue;	/* not sayable in this dialect */
			tags[nb++] = t.tag;
			len += n;
		}
		if(writeall(fd, out, len) < 0){
			snprintf(j->why, sizeof j->why, "write failed at message %d", i);
			j->bad++;
			goto done;
		}
		memset(answered, 0, sizeof answered);
		for(k = 0; k < nb; k++){
			if(recvmsg9(fd, in, d, &r) < 0){
				snprintf(j->why, sizeof j->why, "no reply or a bad one near message %d", i);
				j->bad++;
				goto done;
			}
			j->replies++;
			if(r.type != Rerror && r.type != Rlerror)
				j->good++;
			/* the first request of this tag still without a reply */
			for(m = 0; m < nb && (answered[m] || tags[m] != r.tag); m++)
				;
			if(m == nb || !(r.type & 1)){
				snprintf(j->why, sizeof j->why, "reply %s tag %d: no request of that tag is waiting",
					p9typename(r.type) ? p9typename(r.type) : "?", r.tag);
				j->bad++;
				goto done;
			}
			answered[m] = 1;
			if(r.type == Rflush && target[m] >= 0){
				j->flushes++;
				if(!answered[target[m]]){
					snprintf(j->why, sizeof j->why, "Rflush tag %d before the reply to tag %d",
						r.tag, tags[target[m]]);
					j->bad++;
					goto done;
				}
			}
		}
	}
done:
	if(fd >= 0)
		close(fd);
	free(out);
	free(in);
	free(data);
	return NULL;
}

int
main(void)
{
	pthread_t th[Nconn];
	Job jobs[Nconn];
	const char *b;
	char err[128];
	int i, fd, st, bad, replies, good, flushes;

	tap_start(300);
	signal(SIGALRM, onalarm);
	b = getenv("NINEMUX_BUILD");
	snprintf(prog, sizeof prog, "%s/bin/9ramfs", b && *b ? b : "build");
	if(access(prog, X_OK) < 0){
		printf("1..0 # SKIP no %s\n", prog);
		return 0;
	}
	snprintf(tmpdir, sizeof tmpdir, "/tmp/t_9ramfs_stress.XXXXXX");
	if(mkdtemp(tmpdir) == NULL){
		tmpdir[0] = '\0';
		ok(0, "mkdtemp");
		return done_testing();
	}
	snprintf(addr, sizeof addr, "unix!%s/ramfs", tmpdir);
	fflush(stdout);
	srv = fork();
	if(srv == 0){
		alarm(0);
		execl(prog, prog, "-a", addr, "-u", "glenda", "-S", "1m", "-F", "50", "-j", "4", "-q", "8", (char*)NULL);
		_exit(127);
	}
	for(i = 0; i < 500; i++){
		if((fd = dial(addr, err, sizeof err)) >= 0){
			close(fd);
			break;
		}
		usleep(10000);
	}
	ok(i < 500, "9ramfs -S 1m -F 50 -j 4 -q 8 answers");
	for(i = 0; i < Nconn; i++){
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].id = i;
		pthread_create(&th[i], NULL, worker, &jobs[i]);
	}
	bad = replies = good = flushes = 0;
	for(i = 0; i < Nconn; i++){
		pthread_join(th[i], NULL);
		bad += jobs[i].bad;
		replies += jobs[i].replies;
		good += jobs[i].good;
		flushes += jobs[i].flushes;
		if(jobs[i].bad)
			diag("connection %d: %s", i, jobs[i].why);
	}
	diag("%d of %d replies were not errors; %d Rflushes of a request of the same batch", good, replies, flushes);
	ok(bad == 0, "%d connections, %d random requests each: one reply per request, Rflush after its request's reply (%d replies)",
		Nconn, Nmsg, replies);
	ok(waitpid(srv, &st, WNOHANG) == 0, "the server is still running");
	fd = dial(addr, err, sizeof err);
	if(fd >= 0){
		uint8_t buf[256];
		Fcall t, r;
		size_t n;

		memset(&t, 0, sizeof t);
		t.type = Tversion;
		t.tag = P9_NOTAG;
		t.msize = 8192;
		t.version = p9str("9P2000");
		n = p9encode(buf, sizeof buf, &t, P9_2000);
		ok(writeall(fd, buf, n) == 0 && readfull(fd, buf, 4) == 0 && p9get32(buf) < sizeof buf &&
			readfull(fd, buf + 4, p9get32(buf) - 4) == 0 &&
			p9decode(buf, p9get32(buf), 8192, P9_2000, &r) > 0 && r.type == Rversion,
			"a new connection is answered");
		close(fd);
	}else
		ok(0, "a new connection: %s", err);
	kill(srv, SIGTERM);
	for(i = 0; i < 500 && waitpid(srv, &st, WNOHANG) != srv; i++)
		usleep(10000);
	ok(i < 500 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: exit 0 (under ASan: no leak, no error)");
	srv = 0;
	cleanup();
	return done_testing();
}
