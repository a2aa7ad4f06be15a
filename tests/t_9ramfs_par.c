/*
 * t_9ramfs_par - 9ramfs handling the requests of one connection on
 * several threads (-j): pipelined requests answered in any order, each
 * with the right contents; readers and writers of one file and of
 * different files at once, no read or write ever torn; Tflush of
 * requests being handled; Tversion and hang-up with requests in flight;
 * a request naming a fid that another in flight makes or clunks; the
 * bounds -q and -b; -j 1 answering in order; standard input and output;
 * the send buffer of -W, by what waits unread in the client's socket.
 *
 * Nothing here depends on timing: what the threads do at once differs
 * from run to run, so every check holds for any order 9P allows.
 */
#include <pthread.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "tap.h"
#include "p9conv.h"

enum {
	Msize = 256 * 1024 + P9_IOHDRSZ,
	T = 20000,		/* ms to wait for a reply */
	Nfiles = 8,
	Flen = 256 * 1024,
	Nreads = 400,
	Rec = 4096,		/* records of the shared file */
	Nrec = 64,
	Nwriters = 3,
	Nreaders = 3,
	Nappenders = 3,
	Appsz = 64,
	Nops = 1500,		/* per thread of the readers-and-writers test */
	Batch = 16,
};

static const char *dir;
static pid_t srv = -1;
static char sock[420];

static uint8_t
pat(int file, uint64_t off)
{
	return (uint8_t)(file * 37 + off * 11 + (off >> 9));
}

static uint32_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 16);
}

/* Start 9ramfs on a fresh socket with the flags given (NULL-terminated): 0, or -1. */
static int
start(const char *name, ...)
{
	const char *av[24];
	char addr[440];
	va_list ap;
	int n;

	snprintf(sock, sizeof sock, "%s", pc_path(dir, name));
	snprintf(addr, sizeof addr, "unix!%s", sock);
	n = 0;
	av[n++] = pc_prog("9ramfs");
	av[n++] = "-a";
	av[n++] = addr;
	av[n++] = "-u";
	av[n++] = "glenda";
	va_start(ap, name);
	while(n < 22 && (av[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	av[n] = NULL;
	srv = pc_spawn(av, pc_path(dir, "srv.err"));
	return srv > 0 && pc_waitsock(sock, 5000) == 0 ? 0 : -1;
}

/* Stop the server: whether it exited 0 on SIGTERM. */
static int
stop(void)
{
	int st;

	st = pc_killwait(srv, SIGTERM, 15000);
	srv = -1;
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A 9P2000 session with fid 0 on the root: NULL if it cannot be had. */
static Pconn *
sess(void)
{
	Pconn *c;

	c = pc_open(sock, P9_2000);
	if(c == NULL)
		return NULL;
	if(pc_version(c, Msize, "9P2000") != Rversion || pc_attach(c, 1, 0, "glenda") != Rattach){
		pc_close(c);
		return NULL;
	}
	return c;
}

/* Requests encoded one after another, to go in one write. */
typedef struct Batchbuf Batchbuf;
struct Batchbuf {
	uint8_t	*p;
	size_t	n, cap;
};

static void
badd(Batchbuf *b, const Fcall *t)
{
	size_t n;

	n = p9size(t, P9_2000);
	if(b->cap - b->n < n){
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	b->n += p9encode(b->p + b->n, b->cap - b->n, t, P9_2000);
}

static int
bsend(Pconn *c, Batchbuf *b)
{
	int r;

	r = pc_write(c->fd, b->p, b->n);
	b->n = 0;
	return r;
}

/*
 * Send what the connection takes without waiting, for a client about
 * to hang up: 9ramfs stops reading when its bounds are reached, and
 * blocks writing replies nobody reads.  The bytes sent.
 */
static size_t
bsendsome(Pconn *c, Batchbuf *b)
{
	size_t off;
	ssize_t n;

	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	for(off = 0; off < b->n; off += (size_t)n)
		if((n = send(c->fd, b->p + off, b->n - off, MSG_NOSIGNAL)) <= 0)
			break;
	b->n = 0;
	return off;
}

/* Make name in the root on fid, open with mode: 0, or -1. */
static int
create(Pconn *c, uint32_t fid, const char *name, uint32_t perm, int mode)
{
	Fcall t;

	if(pc_walk(c, 2, 0, fid, "") != Rwalk)
		return -1;
	memset(&t, 0, sizeof t);
	t.type = Tcreate;
	t.tag = 3;
	t.fid = fid;
	t.name = p9str(name);
	t.perm = perm;
	t.mode = (uint32_t)mode;
	return pc_rpc(c, &t, T) == Rcreate ? 0 : -1;
}

static int
openfid(Pconn *c, uint32_t fid, const char *path, int mode)
{
	if(pc_walk(c, 2, 0, fid, path) != Rwalk)
		return -1;
	return pc_open1(c, 3, fid, (uint32_t)mode) == Ropen ? 0 : -1;
}

static void
mkwrite(Fcall *t, uint16_t tag, uint32_t fid, uint64_t off, const uint8_t *p, uint32_t n)
{
	pc_mkfid(t, Twrite, tag, fid);
	t->offset = off;
	t->count = n;
	t->data = p;
}

static int
writeall(Pconn *c, uint32_t fid, uint64_t off, const uint8_t *p, size_t n)
{
	Fcall t;
	uint32_t k;

	while(n > 0){
		k = n > 65536 ? 65536 : (uint32_t)n;
		mkwrite(&t, 4, fid, off, p, k);
		if(pc_rpc(c, &t, T) != Rwrite || c->r.count != k)
			return -1;
		p += k;
		off += k;
		n -= k;
	}
	return 0;
}

/* Whether the reply in c->r has the contents of file at off, count bytes. */
static int
readok(Pconn *c, int file, uint64_t off, uint32_t count)
{
	uint32_t want, i;

	want = off >= Flen ? 0 : Flen - off < count ? (uint32_t)(Flen - off) : count;
	if(c->r.type != Rread || c->r.count != want)
		return 0;
	for(i = 0; i < want; i++)
		if(c->r.data[i] != pat(file, off + i))
			return 0;
	return 1;
}

/* ---- pipelined reads of several files on one connection ---- */

static void
testpipeline(Pconn *c)
{
	static uint64_t offs[Nreads + 1];
	static int files[Nreads + 1], seen[Nreads + 1];
	static uint32_t counts[Nreads + 1];
	Batchbuf b;
	Fcall t;
	uint64_t s;
	int i, k, bad, late, got, prev;

	memset(&b, 0, sizeof b);
	s = 42;
	for(i = 1; i <= Nreads; i++){
		files[i] = (int)(rnd(&s) % Nfiles);
		offs[i] = rnd(&s) % 8 == 0 ? Flen - rnd(&s) % 100 : rnd(&s) % Flen;
		counts[i] = 1 + rnd(&s) % 16384;
		pc_mkread(&t, (uint16_t)i, 10 + (uint32_t)files[i], offs[i], counts[i]);
		badd(&b, &t);
	}
	ok(bsend(c, &b) == 0, "%d Treads of %d files sent in one write", Nreads, Nfiles);
	memset(seen, 0, sizeof seen);
	bad = late = got = 0;
	prev = 0;
	for(k = 0; k < Nreads; k++){
		if(pc_next(c, T) < 0)
			break;
		i = c->r.tag;
		if(i < 1 || i > Nreads || seen[i]++ || !readok(c, files[i], offs[i], counts[i]))
			bad++;
		else
			got++;
		late += i < prev;
		prev = i;
	}
	diag("%d of %d replies came after the reply to a later request", late, Nreads);
	ok(got == Nreads && bad == 0, "each Tread answered once, with its file's bytes (%d good, %d bad)", got, bad);
	free(b.p);
}

/* ---- readers and writers of the same and of different files at once ---- */

typedef struct Job Job;
struct Job {
	int	id;
	int	kind;		/* 'w', 'r' or 'a' */
	int	ops;
	int	torn;		/* records seen with two values */
	int	bad;		/* anything else wrong */
	char	why[160];
};

static int
uniform(const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for(i = 1; i < n; i++)
		if(p[i] != p[0])
			return 0;
	return 1;
}

static void
fail(Job *j, const char *why)
{
	if(j->bad++ == 0)
		snprintf(j->why, sizeof j->why, "%s", why);
}

static void *
rwjob(void *v)
{
	Job *j;
	Pconn *c;
	Batchbuf b;
	Fcall t;
	uint8_t *recs, *mine, app[Appsz];
	uint16_t tags[Batch];
	uint64_t s;
	char name[32];
	int i, k, n, m, seq, rec, v0;

	j = v;
	memset(&b, 0, sizeof b);
	recs = malloc(Batch * Rec);
	mine = malloc(Rec);
	s = 0x9E3779B97F4A7C15ull * (uint64_t)(j->id + 1);
	c = sess();
	if(c == NULL || openfid(c, 10, "shared", P9_ORDWR) < 0){
		fail(j, "cannot open shared");
		goto out;
	}
	if(j->kind == 'a' && openfid(c, 11, "log", P9_OWRITE) < 0){
		fail(j, "cannot open log");
		goto out;
	}
	if(j->kind == 'w'){
		snprintf(name, sizeof name, "own%d", j->id);
		if(create(c, 12, name, 0666, P9_ORDWR) < 0){
			fail(j, "cannot create its own file");
			goto out;
		}
	}
	v0 = 1;
	seq = 0;
	for(i = 0; i < Nops; i += n){
		n = 0;
		for(k = 0; k < Batch && i + n < Nops; k++){
			tags[n] = (uint16_t)(100 + n);
			rec = (int)(rnd(&s) % Nrec);
			switch(j->kind){
			case 'w':
				if(k % 4 == 3){
					/* its own file: a record written, to be read back below */
					memset(mine, j->id * 16 + (v0 & 15), Rec);
					mkwrite(&t, tags[n], 12, (uint64_t)rec * Rec, mine, Rec);
				}else{
					/* a whole record of the shared file, all one new value */
					memset(recs + (size_t)n * Rec, (rec * 13 + v0 * 29) & 0xff, Rec);
					mkwrite(&t, tags[n], 10, (uint64_t)rec * Rec, recs + (size_t)n * Rec, Rec);
				}
				v0++;
				break;
			case 'r':
				pc_mkread(&t, tags[n], 10, (uint64_t)rec * Rec, Rec);
				break;
			default:
				/* an append of one whole record naming its writer and number */
				memset(app, '.', sizeof app);
				snprintf((char *)app, sizeof app, "a%d s%d", j->id, seq++);
				app[Appsz - 1] = '\n';
				mkwrite(&t, tags[n], 11, 0, app, Appsz);
				break;
			}
			badd(&b, &t);
			n++;
		}
		if(bsend(c, &b) < 0){
			fail(j, "write failed");
			goto out;
		}
		for(k = 0; k < n; k++){
			if(pc_next(c, T) < 0){
				fail(j, "no reply");
				goto out;
			}
			m = c->r.tag - 100;
			if(m < 0 || m >= n || tags[m] == 0){
				fail(j, "a reply of an unknown tag");
				goto out;
			}
			tags[m] = 0;
			if(j->kind == 'r'){
				if(c->r.type != Rread || c->r.count != Rec)
					fail(j, "a read of a record failed");
				else if(!uniform(c->r.data, Rec))
					j->torn++;
			}else if(c->r.type != Rwrite || (j->kind != 'a' && c->r.count != Rec) ||
				(j->kind == 'a' && c->r.count != Appsz))
				fail(j, "a write failed");
			j->ops++;
		}
		if(j->kind == 'w'){
			/* what went to its own file is there: nobody else writes it */
			pc_mkread(&t, 5, 12, 0, Nrec * Rec);
			if(pc_rpc(c, &t, T) != Rread)
				fail(j, "cannot read its own file");
			else
				for(k = 0; k + Rec <= (int)c->r.count; k += Rec)
					if(!uniform(c->r.data + k, Rec))
						j->torn++;
		}
	}
out:
	pc_close(c);
	free(recs);
	free(mine);
	free(b.p);
	return NULL;
}

static void
testreadwrite(void)
{
	pthread_t th[Nwriters + Nreaders + Nappenders];
	Job jobs[Nwriters + Nreaders + Nappenders];
	static uint8_t buf[Nrec * Rec];
	static int seen[Nappenders][Nops];
	Pconn *c;
	Fcall t;
	uint64_t off, len;
	int i, n, torn, bad, a, sq, dup;

	c = sess();
	for(i = 0; i < Nrec; i++)
		memset(buf + (size_t)i * Rec, (i * 13) & 0xff, Rec);
	if(!ok(c != NULL && create(c, 1, "shared", 0666, P9_ORDWR) == 0 && writeall(c, 1, 0, buf, sizeof buf) == 0 &&
		create(c, 2, "log", P9_DMAPPEND | 0666, P9_ORDWR) == 0, "the shared file and an append-only log")){
		pc_close(c);
		return;
	}
	n = Nwriters + Nreaders + Nappenders;
	for(i = 0; i < n; i++){
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].id = i < Nwriters ? i : i < Nwriters + Nreaders ? i - Nwriters : i - Nwriters - Nreaders;
		jobs[i].kind = i < Nwriters ? 'w' : i < Nwriters + Nreaders ? 'r' : 'a';
		pthread_create(&th[i], NULL, rwjob, &jobs[i]);
	}
	torn = bad = 0;
	for(i = 0; i < n; i++){
		pthread_join(th[i], NULL);
		torn += jobs[i].torn;
		bad += jobs[i].bad;
		if(jobs[i].bad)
			diag("%c%d: %s", jobs[i].kind, jobs[i].id, jobs[i].why);
	}
	ok(bad == 0, "%d writers, %d readers of the same records (and the writers of their own files), "
		"%d appenders, %d requests each, %d at a time: every request answered", Nwriters, Nreaders,
		Nappenders, Nops, Batch);
	is_int(torn, 0, "no record read half old and half new, in the shared file or a writer's own");
	/* the shared file after: every record whole */
	for(off = 0, torn = 0; off < sizeof buf; off += Rec){
		pc_mkread(&t, 5, 1, off, Rec);
		if(pc_rpc(c, &t, T) != Rread || c->r.count != Rec || !uniform(c->r.data, Rec))
			torn++;
	}
	is_int(torn, 0, "afterwards each record of the shared file is one value");
	/* the log: every append whole, each once */
	memset(seen, 0, sizeof seen);
	bad = dup = 0;
	len = 0;
	for(off = 0; ; off += c->r.count){
		pc_mkread(&t, 5, 2, off, 65536);
		if(pc_rpc(c, &t, T) != Rread || c->r.count == 0)
			break;
		len += c->r.count;
		for(i = 0; i + Appsz <= (int)c->r.count; i += Appsz){
			if(sscanf((const char *)c->r.data + i, "a%d s%d", &a, &sq) != 2 || a < 0 || a >= Nappenders ||
				sq < 0 || sq >= Nops || c->r.data[i + Appsz - 1] != '\n'){
				bad++;
				continue;
			}
			dup += seen[a][sq]++ > 0;
		}
	}
	ok(len == (uint64_t)Nappenders * Nops * Appsz && bad == 0 && dup == 0,
		"the append-only log holds each of the %d appends once, whole (%llu bytes, %d bad, %d twice)",
		Nappenders * Nops, (unsigned long long)len, bad, dup);
	pc_close(c);
}

/* ---- Tflush of requests being handled ---- */

static void
testflush(Pconn *c, const char *what)
{
	enum { N = 60 };
	static int reply[3 * N + 1], order[3 * N + 1];
	Batchbuf b;
	Fcall t;
	int i, k, tag, bad, before, walks, fidsok, answered, pos, nflush, flushed;

	memset(&b, 0, sizeof b);
	/* tag i: a request; N + i: its Tflush; 2N + i: a Tflush of that Tflush, for some */
	for(i = 1; i <= N; i++){
		if(i % 3 == 0)
			pc_mkwalk(&t, (uint16_t)i, 0, 1000 + (uint32_t)i, "f1");
		else
			pc_mkread(&t, (uint16_t)i, 10 + (uint32_t)(i % Nfiles), (uint64_t)i * 100, 65536);
		badd(&b, &t);
		memset(&t, 0, sizeof t);
		t.type = Tflush;
		t.tag = (uint16_t)(N + i);
		t.oldtag = (uint16_t)i;
		badd(&b, &t);
		if(i % 4 == 0){
			t.tag = (uint16_t)(2 * N + i);
			t.oldtag = (uint16_t)(N + i);
			badd(&b, &t);
		}
	}
	bsend(c, &b);
	memset(reply, 0, sizeof reply);
	bad = before = 0;
	/* once every Rflush is in, nothing more can come: an original goes before its Rflush */
	nflush = N + N / 4;
	flushed = 0;
	for(pos = 1; flushed < nflush; pos++){
		if(pc_next(c, T) < 0){
			bad++;
			break;
		}
		tag = c->r.tag;
		if(tag < 1 || tag > 3 * N || reply[tag]){
			bad++;
			continue;
		}
		reply[tag] = c->r.type;
		order[tag] = pos;
		if(tag > N){
			flushed++;
			if(c->r.type != Rflush)
				bad++;
		}
		if(tag > 2 * N && reply[tag - N] == 0)
			before++;	/* the Rflush of a Tflush's Tflush before that Tflush's */
	}
	/* every Tflush answered; an original, if answered, before its Rflush */
	answered = 0;
	for(i = 1; i <= N; i++){
		if(reply[N + i] != Rflush)
			bad++;
		if(i % 4 == 0 && reply[2 * N + i] != Rflush)
			bad++;
		if(reply[i]){
			answered++;
			if(order[i] > order[N + i])
				before++;
		}
	}
	ok(bad == 0, "%s: every Tflush answered with Rflush, once", what);
	is_int(before, 0, "%s: no Rflush before the reply to what it flushes", what);
	diag("%s: %d of %d flushed requests were answered before their Rflush", what, answered, N);
	/* a flushed Twalk made its fid if, and only if, it was answered */
	walks = fidsok = 0;
	for(i = 3; i <= N; i += 3){
		walks++;
		k = pc_fidop(c, Tclunk, 7, 1000 + (uint32_t)i);
		fidsok += reply[i] == Rwalk ? k == Rclunk : k == Rerror;
	}
	is_int(fidsok, walks, "%s: a flushed Twalk's newfid exists exactly when its Rwalk came", what);
	free(b.p);
}

/* ---- fids made or clunked by a request still in flight ---- */

static void
testfidrace(Pconn *c)
{
	Batchbuf b;
	Fcall t;
	int i, k, bad, clunked, stats, reads, readsok, gone, rw, rc;

	memset(&b, 0, sizeof b);
	bad = clunked = stats = 0;
	for(i = 0; i < 200; i++){
		/* walk to 50, stat 50 and clunk 50 in one write */
		pc_mkwalk(&t, 1, 0, 50, "f2");
		badd(&b, &t);
		pc_mkfid(&t, Tstat, 2, 50);
		badd(&b, &t);
		pc_mkfid(&t, Tclunk, 3, 50);
		badd(&b, &t);
		bsend(c, &b);
		rw = rc = 0;
		for(k = 0; k < 3; k++){
			if(pc_next(c, T) < 0){
				bad++;
				break;
			}
			if(c->r.tag == 1)
				rw = c->r.type;
			else if(c->r.tag == 2)
				stats += c->r.type == Rstat;
			else if(c->r.tag == 3)
				rc = c->r.type;
		}
		if(rw != Rwalk)
			bad++;
		clunked += rc == Rclunk;
		/* if its clunk came first, 50 is left: clunking it now must work */
		if(rc != Rclunk && pc_fidop(c, Tclunk, 4, 50) != Rclunk)
			bad++;
	}
	diag("of 200 walk, stat, clunk of one new fid sent together: %d stats and %d clunks found it", stats, clunked);
	is_int(bad, 0, "a fid used and clunked while the walk making it is in flight: never two, never lost");

	/* reads racing a clunk of their fid */
	bad = reads = readsok = gone = 0;
	for(i = 0; i < 50; i++){
		if(openfid(c, 60, "f3", P9_OREAD) < 0){
			bad++;
			break;
		}
		for(k = 0; k < 10; k++){
			pc_mkread(&t, (uint16_t)(10 + k), 60, (uint64_t)k * 1000, 1000);
			badd(&b, &t);
			if(k == 4){
				pc_mkfid(&t, Tclunk, 9, 60);
				badd(&b, &t);
			}
		}
		bsend(c, &b);
		for(k = 0; k < 11; k++){
			if(pc_next(c, T) < 0){
				bad++;
				break;
			}
			if(c->r.tag == 9){
				bad += c->r.type != Rclunk;
				continue;
			}
			reads++;
			if(c->r.type == Rread)
				readsok += readok(c, 3, (uint64_t)(c->r.tag - 10) * 1000, 1000);
			else if(c->r.type == Rerror && pc_has(c->r.ename.s, c->r.ename.n, "unknown fid"))
				gone++;
			else
				bad++;
		}
		if(pc_fidop(c, Tclunk, 8, 60) != Rerror)
			bad++;
	}
	diag("reads racing a clunk: %d read the file, %d found the fid gone", readsok, gone);
	ok(bad == 0 && readsok + gone == reads, "reads racing a clunk of their fid: the right bytes or \"unknown fid\"");
	free(b.p);
}

/* ---- workers gone idle, and started again ---- */

/* The threads of process pid. */
static int
nthreads(pid_t pid)
{
	char p[64];
	FILE *f;
	char line[256];
	int n;

	snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
	if((f = fopen(p, "r")) == NULL)
		return -1;
	n = -1;
	while(fgets(line, sizeof line, f) != NULL)
		if(strncmp(line, "Threads:", 8) == 0)
			n = atoi(line + 8);
	fclose(f);
	return n;
}

static void
testidle(Pconn *c)
{
	int before;

	/* 9ramfs lets a connection's workers go after 5 s with nothing to do */
	before = nthreads(srv);
	pc_sleep(6000);
	diag("the server's threads: %d, and %d after 6 s without a request", before, nthreads(srv));
	testpipeline(c);
}

/* ---- Tversion with requests in flight ---- */

static void
testversion(void)
{
	static int seen[400];
	Batchbuf b;
	Pconn *c;
	Fcall t;
	int round, i, k, bad, before, stale, rv;

	memset(&b, 0, sizeof b);
	bad = stale = before = 0;
	for(round = 0; round < 10; round++){
		c = sess();
		if(c == NULL || openfid(c, 10, "f4", P9_OREAD) < 0 || create(c, 5, "vtmp", 0666, P9_ORDWR | P9_ORCLOSE) < 0){
			bad++;
			pc_close(c);
			continue;
		}
		for(i = 1; i < 300; i++){
			if(i % 3 == 0)
				pc_mkwalk(&t, (uint16_t)i, 0, 100 + (uint32_t)i, "f4");
			else if(i % 3 == 1)
				pc_mkread(&t, (uint16_t)i, 10, (uint64_t)i * 512, 8192);
			else
				pc_mkfid(&t, Tstat, (uint16_t)i, 10);
			badd(&b, &t);
		}
		pc_mkversion(&t, Msize, "9P2000");
		badd(&b, &t);
		bsend(c, &b);
		memset(seen, 0, sizeof seen);
		rv = 0;
		for(k = 0; k < 300; k++){
			if(pc_next(c, T) < 0){
				bad++;
				break;
			}
			if(c->r.type == Rversion){
				rv = 1;
				break;
			}
			if(c->r.tag < 1 || c->r.tag >= 300 || seen[c->r.tag]++)
				bad++;
			else if(c->r.type == Rread && !readok(c, 4, (uint64_t)c->r.tag * 512, 8192))
				bad++;
			before++;
		}
		if(!rv){
			bad++;
			pc_close(c);
			continue;
		}
		/* the next reply is to what follows; the fids are gone, and vtmp with them */
		pc_mkfid(&t, Tclunk, 7, 10);
		if(pc_rpc(c, &t, T) != Rerror || c->r.tag != 7)
			stale++;
		if(pc_attach(c, 1, 0, "glenda") != Rattach)
			bad++;
		if(pc_walk(c, 2, 0, 1, "vtmp") != Rerror)
			bad++;
		if(pc_fidop(c, Tclunk, 8, 103) != Rerror)
			bad++;
		pc_close(c);
	}
	diag("over 10 rounds, %d of 2990 requests before a Tversion were answered before its Rversion", before);
	is_int(bad, 0, "Tversion after 299 pipelined requests: replies to those only, once each, then Rversion; "
		"every fid clunked (an ORCLOSE file removed)");
	is_int(stale, 0, "nothing from before the Tversion comes after its Rversion");
	free(b.p);
}

/* ---- hang-up with requests in flight ---- */

static void
testhangup(void)
{
	Batchbuf b;
	Pconn *c, *w;
	Fcall t;
	char name[32];
	static uint8_t data[65536];
	int round, i, bad, left, r;
	size_t sent;
	long end;

	memset(&b, 0, sizeof b);
	memset(data, 'h', sizeof data);
	bad = 0;
	for(round = 0; round < 20; round++){
		c = sess();
		snprintf(name, sizeof name, "hup%d", round);
		if(c == NULL || openfid(c, 10, "f5", P9_OREAD) < 0 || create(c, 5, name, 0666, P9_ORDWR | P9_ORCLOSE) < 0){
			bad++;
			pc_close(c);
			continue;
		}
		for(i = 1; i < 200; i++){
			if(i % 4 == 0)
				pc_mkwalk(&t, (uint16_t)i, 0, 100 + (uint32_t)i, "f5");
			else if(i % 4 == 1)
				mkwrite(&t, (uint16_t)i, 5, (uint64_t)i * 1024, data, sizeof data);
			else
				pc_mkread(&t, (uint16_t)i, round % 2 ? 5 : 10, (uint64_t)i * 100, 65536);
			badd(&b, &t);
		}
		sent = bsendsome(c, &b);
		if(sent < 1024)
			bad++;
		/* gone without reading a reply; every other round, in the middle of them */
		if(round % 2)
			pc_next(c, T);
		pc_close(c);
	}
	/* the server clunks each connection's fids when it has seen it go: the ORCLOSE files vanish */
	w = sess();
	left = 0;
	end = pc_now() + 60000;
	for(round = 0; round < 20 && w != NULL; round++){
		snprintf(name, sizeof name, "hup%d", round);
		while((r = pc_walk(w, 2, 0, 1, name)) == Rwalk && pc_now() < end){
			pc_fidop(w, Tclunk, 3, 1);
			pc_sleep(20);
		}
		left += r != Rerror;
	}
	ok(w != NULL && bad == 0 && left == 0, "20 connections gone with up to 200 requests in flight: "
		"each one's fids clunked (its ORCLOSE file removed)");
	/* one that asks for far more than the socket holds and never reads: the server's writes fail */
	c = sess();
	if(c != NULL && openfid(c, 10, "f6", P9_OREAD) == 0){
		for(i = 1; i < 1000; i++){
			pc_mkread(&t, (uint16_t)i, 10, 0, Msize);
			badd(&b, &t);
		}
		bsendsome(c, &b);
	}
	pc_close(c);
	ok(w != NULL && pc_alive(srv, NULL) && pc_walk(w, 2, 0, 1, "f6") == Rwalk &&
		pc_fidop(w, Tclunk, 3, 1) == Rclunk, "the server is up and answers others");
	pc_close(w);
	free(b.p);
}

/* ---- bounds and -j 1 ---- */

static int
files(Pconn *c)
{
	static uint8_t buf[Flen];
	char name[16];
	int i, n;

	for(i = 0; i < Nfiles; i++){
		for(n = 0; n < Flen; n++)
			buf[n] = pat(i, (uint64_t)n);
		snprintf(name, sizeof name, "f%d", i);
		if(create(c, 1, name, 0666, P9_OWRITE) < 0 || writeall(c, 1, 0, buf, Flen) < 0 ||
			pc_fidop(c, Tclunk, 2, 1) != Rclunk || openfid(c, 10 + (uint32_t)i, name, P9_OREAD) < 0)
			return -1;
	}
	return 0;
}

/* A server with flags (what says them): its files, the pipelined reads and flushes, and whether it answers in order. */
static void
testserver(const char *what, const char *name, int inorder, ...)
{
	const char *av[8];
	va_list ap;
	Pconn *c;
	Batchbuf b;
	Fcall t;
	int n, i, order, good;

	n = 0;
	va_start(ap, inorder);
	while(n < 7 && (av[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	av[n] = NULL;
	if(!ok(start(name, av[0], av[1], av[2], av[3], av[4], av[5], av[6], NULL) == 0, "9ramfs %s starts", what))
		return;
	c = sess();
	if(!ok(c != NULL && files(c) == 0, "%s: %d files of %d bytes", what, Nfiles, Flen)){
		pc_close(c);
		stop();
		return;
	}
	testpipeline(c);
	testflush(c, what);
	if(inorder){
		memset(&b, 0, sizeof b);
		for(i = 1; i <= 100; i++){
			if(i % 2)
				pc_mkread(&t, (uint16_t)i, 10 + (uint32_t)(i % Nfiles), (uint64_t)i, 100);
			else
				pc_mkfid(&t, Tstat, (uint16_t)i, 10);
			badd(&b, &t);
		}
		bsend(c, &b);
		order = good = 0;
		for(i = 1; i <= 100 && pc_next(c, T) > 0; i++){
			order += c->r.tag == i;
			good += c->r.tag == i && (c->r.type == Rstat || readok(c, i % Nfiles, (uint64_t)i, 100));
		}
		ok(order == 100 && good == 100, "%s: 100 pipelined requests answered in order", what);
		free(b.p);
	}
	pc_close(c);
	ok(stop(), "%s: exit 0 on SIGTERM", what);
}

/* Standard input and output (as 9mux's exec! runs it), with requests pipelined. */
static void
teststdio(void)
{
	const char *av[] = { pc_prog("9ramfs"), "-j", "4", "-u", "glenda", NULL };
	Pconn *c;
	pid_t p;
	int sv[2], st;

	/* the server must not hold our end too, or it never sees the end of its input */
	if(!ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "a socketpair"))
		return;
	p = pc_spawnio(av, sv[1], pc_path(dir, "stdio.err"));
	close(sv[1]);
	c = calloc(1, sizeof *c);
	c->fd = sv[0];
	c->dialect = P9_2000;
	c->buf = malloc(PC_MAXMSG);
	if(ok(pc_version(c, Msize, "9P2000") == Rversion && pc_attach(c, 1, 0, "glenda") == Rattach &&
		files(c) == 0, "9ramfs -j 4 on standard input and output: %d files", Nfiles)){
		testpipeline(c);
		testflush(c, "stdio");
	}
	pc_close(c);
	st = pc_waitexit(p, 10000);
	if(st == -1)
		pc_killwait(p, SIGKILL, 1000);
	ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "stdio: exit 0 at the end of its input");
}

/* ---- the send buffer, -W ---- */

/* Bytes waiting unread in fd's socket, once they reach want or ms pass; -1 if it cannot tell. */
static int
waitinq(int fd, int want, int ms)
{
	long t0;
	int n;

	t0 = pc_now();
	for(;;){
		if(ioctl(fd, SIOCINQ, &n) < 0)
			return -1;
		if(n >= want || pc_now() - t0 >= ms)
			return n;
		pc_sleep(10);
	}
}

/* What a socket asking for bytes gets here (0: what a new one has), or -1. */
static int
kernelgives(int bytes)
{
	socklen_t len;
	int sv[2], v;

	if(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	v = bytes / 2;
	if(bytes > 0)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
	len = sizeof v;
	if(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len) < 0)
		v = -1;
	close(sv[0]);
	close(sv[1]);
	return v;
}

/*
 * 9ramfs with -W flag (NULL: none), which should give asked bytes
 * (0: the kernel's default): -v logs what the connection got; Nbig reads
 * of Big bytes sent at once and no reply read, what waits in our socket
 * fills that buffer and stays within it; then every reply is right.
 */
static void
testsndbuf(const char *flag, int asked)
{
	enum { Nbig = 40, Big = 128 * 1024 };
	char line[512], what[64];
	const char *p;
	Batchbuf b;
	Fcall t;
	Pconn *c;
	int i, got, want, inq, good;

	snprintf(what, sizeof what, "-W %s", flag ? flag : "(default 4m)");
	c = NULL;
	if(!ok((flag ? start("w.sock", "-v", "-W", flag, NULL) : start("w.sock", "-v", NULL)) == 0 &&
		(c = sess()) != NULL && files(c) == 0, "9ramfs %s -v starts, %d files", what, Nfiles)){
		pc_close(c);
		stop();
		return;
	}
	got = -1;
	if(pc_line(pc_path(dir, "srv.err"), "send buffer ", 0, line, sizeof line) == 0 &&
		(p = strstr(line, "send buffer ")) != NULL)
		got = atoi(p + strlen("send buffer "));
	want = kernelgives(asked);
	if(!ok(got > 0 && got == want, "%s: -v logs the send buffer the kernel gave (%d; a socket asking the same gets %d)",
		what, got, want))
		diag("  %s", line);
	memset(&b, 0, sizeof b);
	for(i = 0; i < Nbig; i++){
		pc_mkread(&t, (uint16_t)(100 + i), 10 + (uint32_t)(i % Nfiles), (uint64_t)(i / Nfiles % 2) * Big, Big);
		badd(&b, &t);
	}
	ok(bsend(c, &b) == 0, "%s: %d reads of %d bytes, no reply read", what, Nbig, Big);
	/* the kernel counts buffers with their overhead: full is above half, never above one and a half */
	waitinq(c->fd, got / 2, 5000);
	pc_sleep(200);
	inq = waitinq(c->fd, 0, 0);
	ok(got > 0 && inq >= got / 2 && inq <= got + got / 2, "%s: the replies waiting in the socket fill it and stay within it",
		what);
	diag("%s: %d bytes of replies waiting in a socket of %d", what, inq, got);
	good = 0;
	for(i = 0; i < Nbig && pc_next(c, T) > 0; i++)
		good += c->r.tag >= 100 && c->r.tag < 100 + Nbig && readok(c, (c->r.tag - 100) % Nfiles,
			(uint64_t)((c->r.tag - 100) / Nfiles % 2) * Big, Big);
	is_int(good, Nbig, "%s: then every reply, each with the right bytes", what);
	free(b.p);
	pc_close(c);
	ok(stop(), "%s: exit 0 on SIGTERM", what);
}

static void
testflags(void)
{
	static const char *bad[][2] = { { "-j", "0" }, { "-j", "257" }, { "-q", "0" }, { "-b", "0" }, { "-j", "x" },
		{ "-W", "2g" }, { "-W", "x" } };
	const char *av[5];
	pid_t p;
	int i, st, n;

	n = 0;
	for(i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++){
		av[0] = pc_prog("9ramfs");
		av[1] = bad[i][0];
		av[2] = bad[i][1];
		av[3] = NULL;
		p = pc_spawn(av, pc_path(dir, "flags.err"));
		st = pc_waitexit(p, 5000);
		if(st == -1)
			pc_killwait(p, SIGKILL, 1000);
		n += st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1 && pc_count(pc_path(dir, "flags.err"), NULL) == 1;
	}
	is_int(n, (int)(sizeof bad / sizeof bad[0]), "-j 0, -j 257, -q 0, -b 0, -j x, -W 2g, -W x: one line and exit 1");
}

int
main(int argc, char **argv)
{
	Pconn *c;

	(void)argc;
	tap_start(300);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &srv, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	if(access(pc_prog("9ramfs"), X_OK) < 0){
		printf("1..0 # SKIP no %s\n", pc_prog("9ramfs"));
		pc_rmdir(dir);
		return 0;
	}
	testflags();

	if(ok(start("par.sock", "-j", "4", NULL) == 0, "9ramfs -j 4 starts")){
		c = sess();
		if(ok(c != NULL && files(c) == 0, "%d files of %d bytes", Nfiles, Flen)){
			testpipeline(c);
			testflush(c, "-j 4");
			testfidrace(c);
			testidle(c);
		}
		pc_close(c);
		testreadwrite();
		testversion();
		testhangup();
		ok(stop(), "9ramfs -j 4: exit 0 on SIGTERM (under ASan: no leak)");
	}
	/* the bounds at their smallest: one request at a time, then one byte */
	testserver("-j 4 -q 1", "q1.sock", 0, "-j", "4", "-q", "1", NULL);
	testserver("-j 3 -b 1", "b1.sock", 0, "-j", "3", "-b", "1", NULL);
	testserver("-j 1", "j1.sock", 1, "-j", "1", NULL);
	teststdio();
	testsndbuf("64k", 64 * 1024);
	testsndbuf(NULL, 4 * 1024 * 1024);
	testsndbuf("0", 0);
	pc_rmdir(dir);
	return done_testing();
}
