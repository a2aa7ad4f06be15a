/*
 * t_9mux_persist_load: 9mux -P 30 in front of diod, through 9pload's
 * relay, while the upstream goes three times: diod killed and started
 * again, the relay killed and started again (a cut with the server
 * still up), diod again.  16 clients work all along, each on its own
 * open file and open directory: every write lands once where it was
 * meant to (one whose reply was lost gets "outcome unknown" and is
 * written again by the client), every read reads what was written,
 * every listing lists, no reply comes twice (each reply's tag is the
 * one request's in flight), and at the end no file of the export is
 * open on the server.  Then the "done when" of reconnect: a long copy
 * (9pc read of 8 MiB) survives three restarts with identical output.
 */
#include <dirent.h>
#include <sys/stat.h>

#include "tap.h"
#include "p9conv.h"

enum {
	T	= 30000,	/* ms any one reply may take: a bound, never a pace */
	NCLI	= 16,
	STEPS	= 40,
	BLK	= 4096,
	NENT	= 10,
	LONG	= 8 << 20,
	LRDWR	= 2,
	LDIRECTORY = 0200000,
};

static const char *dir;
static char *exp_;
static pid_t diod = -1, relay = -1, mux = -1, pc9 = -1;
static pid_t kids[NCLI];

static int
startdiod(void)
{
	const char *av[] = { "/bin/sh", "-c", "trap '' PIPE; exec /usr/sbin/diod -f -n -N -c /dev/null -l \"$0\" -e \"$1\"",
		pc_path(dir, "diod.sock"), exp_, NULL };

	unlink(pc_path(dir, "diod.sock"));
	diod = pc_spawn(av, pc_path(dir, "diod.log"));
	return pc_waitsock(pc_path(dir, "diod.sock"), 10000);
}

static int
startrelay(void)
{
	const char *av[] = { pc_prog("9pload"), "relay", pc_unixaddr(dir, "relay.sock"), pc_unixaddr(dir, "diod.sock"), NULL };

	relay = pc_spawn(av, pc_path(dir, "relay.log"));
	return pc_waitsock(pc_path(dir, "relay.sock"), 10000);
}

/*
 * The upstream goes and comes back: diod killed (k even) or the relay
 * (k odd), then started again.  Stopped first for a moment, so that
 * requests pile up unanswered and are in flight when it goes (which
 * the test is right without, but would test less).
 */
static int
restart(int k, int pause)
{
	pid_t p;

	p = k % 2 == 0 ? diod : relay;
	if(pause){
		kill(p, SIGSTOP);
		pc_sleep(200);
	}
	pc_kill(p, SIGKILL);
	if(k % 2 == 0)
		return startdiod();
	unlink(pc_path(dir, "relay.sock"));
	return startrelay();
}

static const char *
what(int k)
{
	return k % 2 == 0 ? "diod killed and started again" : "the relay killed and started again";
}

static void
pattern(uint8_t *b, int cli, int step)
{
	int i;

	for(i = 0; i < BLK; i++)
		b[i] = (uint8_t)(cli * 31 + step * 7 + i / 13);
}

/* Files of the export the server holds open. */
static int
openfiles(pid_t pid)
{
	char p[300], l[1024];
	struct dirent *e;
	DIR *d;
	ssize_t n;
	int k;

	snprintf(p, sizeof p, "/proc/%d/fd", (int)pid);
	if((d = opendir(p)) == NULL)
		return -1;
	k = 0;
	while((e = readdir(d)) != NULL){
		snprintf(p, sizeof p, "/proc/%d/fd/%s", (int)pid, e->d_name);
		n = readlink(p, l, sizeof l - 1);
		if(n > 0){
			l[n] = '\0';
			k += strncmp(l, exp_, strlen(exp_)) == 0;
		}
	}
	closedir(d);
	return k;
}

/*
 * One client, in a child: its file and directory open, STEPS steps of
 * a write, a read back and (every 5) a listing, one request in flight
 * with a new tag each.  It tells the parent each step done, and waits
 * for its word at steps 10, 20 and 30, so that the restarts (at steps
 * 5, 15 and 25) come while it works.  Exit 0 if all was right; what went wrong in err.
 */
static int
client(int id, int up, int down, FILE *err)
{
	uint8_t want[BLK], got[BLK], one;
	Pconn *c;
	Fcall t;
	char name[64];
	uint16_t tag;
	int s, k, r, retries;

	c = pc_open(pc_path(dir, "mux.sock"), P9_2000L);
	pc_mkattachme(&t, 1, 1);
	t.aname = p9str(exp_);
	if(c == NULL || pc_version(c, 65536 + 24, "9P2000.L") != Rversion || pc_rpc(c, &t, T) != Rattach){
		fprintf(err, "client %d: no session\n", id);
		return 1;
	}
	snprintf(name, sizeof name, "c%d.dat", id);
	if(pc_walk(c, 2, 1, 2, name) != Rwalk || pc_open1(c, 3, 2, LRDWR) != Rlopen){
		fprintf(err, "client %d: cannot open %s\n", id, name);
		return 1;
	}
	snprintf(name, sizeof name, "d%d", id);
	if(pc_walk(c, 4, 1, 3, name) != Rwalk || pc_open1(c, 5, 3, LDIRECTORY) != Rlopen){
		fprintf(err, "client %d: cannot open %s\n", id, name);
		return 1;
	}
	tag = 10;
	retries = 0;
	for(s = 0; s < STEPS; s++){
		if(s == 10 || s == 20 || s == 30){
			if(read(down, &one, 1) != 1)
				return 1;
		}
		pattern(want, id, s);
		for(k = 0; k < 10; k++){
			pc_mkfid(&t, Twrite, tag, 2);
			t.offset = (uint64_t)s * BLK;
			t.count = BLK;
			t.data = want;
			r = pc_rpc(c, &t, T);
			if(c->r.tag != tag){
				fprintf(err, "client %d step %d: a reply with tag %u to the write with tag %u\n", id, s, c->r.tag, tag);
				return 1;
			}
			tag = (uint16_t)(tag % 60000 + 1);
			if(r == Rwrite && c->r.count == BLK)
				break;
			/* its outcome unknown: the same bytes at the same place again */
			if(r != Rlerror || c->r.errnum != 5){
				fprintf(err, "client %d step %d: write: type %d errno %u\n", id, s, r, c->r.errnum);
				return 1;
			}
			retries++;
		}
		pc_mkread(&t, tag, 2, (uint64_t)s * BLK, BLK);
		r = pc_rpc(c, &t, T);
		if(c->r.tag != tag || r != Rread || c->r.count != BLK){
			fprintf(err, "client %d step %d: read: type %d tag %u (sent %u) count %u errno %u\n", id, s, r,
				c->r.tag, tag, c->r.count, c->r.errnum);
			return 1;
		}
		memcpy(got, c->r.data, BLK);
		tag = (uint16_t)(tag % 60000 + 1);
		if(memcmp(got, want, BLK) != 0){
			fprintf(err, "client %d step %d: read back other bytes\n", id, s);
			return 1;
		}
		if(s % 5 == 4){
			pc_mkfid(&t, Treaddir, tag, 3);
			t.offset = 0;
			t.count = 8192;
			r = pc_rpc(c, &t, T);
			if(c->r.tag != tag || r != Rreaddir){
				fprintf(err, "client %d step %d: readdir: type %d errno %u\n", id, s, r, c->r.errnum);
				return 1;
			}
			for(k = 0; k < NENT; k++){
				snprintf(name, sizeof name, "e%d", k);
				if(!pc_has((const char *)c->r.data, c->r.count, name))
					break;
			}
			tag = (uint16_t)(tag % 60000 + 1);
			if(k < NENT){
				fprintf(err, "client %d step %d: the listing lacks e%d\n", id, s, k);
				return 1;
			}
		}
		if(write(up, &one, 1) != 1)
			return 1;
	}
	/* nothing more may come: a reply to something answered already would be read here */
	if(pc_fidop(c, Tclunk, tag, 2) != Rclunk || c->r.tag != tag){
		fprintf(err, "client %d: the last clunk got type %d tag %u\n", id, c->r.type, c->r.tag);
		return 1;
	}
	fprintf(err, "client %d: %d writes written again after an unknown outcome\n", id, retries);
	pc_close(c);
	return 0;
}

/* Wait until every client has done step n (each tells a byte a step on up). */
static int
progress(int up, int *done, int n)
{
	uint8_t b[64];
	ssize_t k;

	while(*done < n * NCLI){
		if((k = read(up, b, sizeof b)) <= 0)
			return -1;
		*done += (int)k;
	}
	return 0;
}

static void
clients(void)
{
	int up[2], down[2], i, k, st, good, done;
	uint8_t want[BLK], *got;
	char name[64];
	FILE *f, *err;
	size_t n;

	if(pipe(up) < 0 || pipe(down) < 0)
		return;
	for(i = 0; i < NCLI; i++){
		snprintf(name, sizeof name, "c%d.dat", i);
		f = fopen(pc_path(exp_, name), "w");
		if(f)
			fclose(f);
		snprintf(name, sizeof name, "d%d", i);
		mkdir(pc_path(exp_, name), 0755);
		for(k = 0; k < NENT; k++){
			snprintf(name, sizeof name, "d%d/e%d", i, k);
			if((f = fopen(pc_path(exp_, name), "w")) != NULL)
				fclose(f);
		}
	}
	for(i = 0; i < NCLI; i++){
		fflush(stdout);
		if((kids[i] = fork()) == 0){
			alarm(0);
			close(up[0]);
			close(down[1]);
			snprintf(name, sizeof name, "client%d.err", i);
			err = fopen(pc_path(dir, name), "w");
			if(err)
				setvbuf(err, NULL, _IONBF, 0);
			_exit(client(i, up[1], down[0], err ? err : stderr));
		}
	}
	close(up[1]);
	close(down[0]);
	done = 0;
	for(k = 0; k < 3; k++){
		/* all past step 10k + 5; they wait at 10k + 10 for the word, given once the server is back */
		if(progress(up[0], &done, 10 * k + 5) < 0)
			break;
		ok(restart(k, 1) == 0, "16 clients at work: %s", what(k));
		for(i = 0; i < NCLI; i++)
			if(write(down[1], "g", 1) != 1)
				break;
	}
	good = 0;
	for(i = 0; i < NCLI; i++){
		st = -1;
		waitpid(kids[i], &st, 0);
		kids[i] = -1;
		good += WIFEXITED(st) && WEXITSTATUS(st) == 0;
		snprintf(name, sizeof name, "client%d.err", i);
		if(!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			diag("%s", pc_slurp(pc_path(dir, name)));
	}
	close(up[0]);
	close(down[1]);
	ok(good == NCLI, "all 16 clients: every write once where meant, every read right, listings, no reply twice (%d)",
		good);
	got = malloc(STEPS * BLK);
	good = 0;
	for(i = 0; i < NCLI; i++){
		snprintf(name, sizeof name, "c%d.dat", i);
		n = 0;
		if((f = fopen(pc_path(exp_, name), "r")) != NULL){
			n = fread(got, 1, STEPS * BLK, f);
			fclose(f);
		}
		for(k = 0; k < STEPS && n == STEPS * BLK; k++){
			pattern(want, i, k);
			if(memcmp(got + (size_t)k * BLK, want, BLK) != 0)
				break;
		}
		good += k == STEPS;
	}
	free(got);
	ok(good == NCLI, "the export holds exactly what each client wrote (%d files)", good);
	for(i = 0; i < 100 && openfiles(diod) != 0; i++)
		pc_sleep(50);
	ok(openfiles(diod) == 0, "the clients gone, diod holds no file of the export open");
	ok(pc_count(pc_path(dir, "mux.log"), "restored:") >= 3, "9mux -v logged each restore");
}

/* The long copy: 9pc read of 8 MiB, three restarts while it runs, the output identical. */
static void
longcopy(void)
{
	const char *av[] = { pc_prog("9pc"), "-V", "9P2000.L", "-a", pc_unixaddr(dir, "mux.sock"), "-A", exp_,
		"read", "/long", NULL };
	static uint8_t src[LONG], out[LONG];
	int p[2], k, st;
	size_t got, at;
	ssize_t r;
	FILE *f;

	srandom(7);
	for(at = 0; at < LONG; at++)
		src[at] = (uint8_t)random();
	if((f = fopen(pc_path(exp_, "long"), "w")) == NULL || fwrite(src, 1, LONG, f) != LONG)
		return;
	fclose(f);
	if(pipe(p) < 0)
		return;
	fflush(stdout);
	if((pc9 = fork()) == 0){
		alarm(0);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(av[0], (char *const *)(uintptr_t)av);
		_exit(127);
	}
	close(p[1]);
	got = 0;
	for(k = 0; k <= 3; k++){
		/* read up to the next quarter; 9pc waits on the full pipe meanwhile, its file open */
		at = (size_t)LONG / 4 * (size_t)(k + 1) - (k < 3 ? 65536 : 0);
		while(got < at && (r = read(p[0], out + got, at - got)) > 0)
			got += (size_t)r;
		if(k < 3)
			ok(restart(k, 0) == 0, "long copy at %zu bytes: %s", got, what(k));
	}
	while(got < LONG && (r = read(p[0], out + got, LONG - got)) > 0)
		got += (size_t)r;
	close(p[0]);
	waitpid(pc9, &st, 0);
	pc9 = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "9pc read exits 0");
	ok(got == LONG && memcmp(out, src, LONG) == 0, "9pc read of 8 MiB through three restarts: identical output (%zu bytes)",
		got);
}

int
main(int argc, char **argv)
{
	const char *mv[] = { NULL, "-v", "-P", "30", "-V", "9P2000.L", "-a", NULL, NULL, NULL };

	tap_start(140);
	pc_setbin(argv[0]);
	(void)argc;
	if(access("/usr/sbin/diod", X_OK) != 0){
		printf("1..0 # SKIP diod is not installed\n");
		return 0;
	}
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &diod, &relay, &pc9, NULL);
	exp_ = strdup(pc_path(dir, "export"));
	mkdir(exp_, 0755);
	if(!ok(startdiod() == 0 && startrelay() == 0, "diod, and 9pload's relay in front of it"))
		goto out;
	mv[0] = pc_prog("9mux");
	mv[7] = pc_unixaddr(dir, "mux.sock");
	mv[8] = pc_unixaddr(dir, "relay.sock");
	mux = pc_spawn(mv, pc_path(dir, "mux.log"));
	if(!ok(pc_waitsock(pc_path(dir, "mux.sock"), 10000) == 0, "9mux -P 30 in front of the relay"))
		goto out;
	clients();
	longcopy();
	is_int(pc_killwait(mux, SIGTERM, 15000), 0, "9mux exits 0 at SIGTERM");
	mux = -1;
out:
	if(tap_failed){
		char cmd[1024];

		snprintf(cmd, sizeof cmd, "sed 's/^/# /' %s/mux.log | tail -40", dir);
		if(system(cmd) != 0)
			diag("no log");
	}
	if(mux > 0)
		pc_kill(mux, SIGKILL);
	if(relay > 0)
		pc_kill(relay, SIGTERM);
	if(diod > 0)
		pc_kill(diod, SIGKILL);
	pc_rmdir(dir);
	return done_testing();
}
