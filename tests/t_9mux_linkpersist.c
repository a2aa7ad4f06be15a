/*
 * -P over a named link: a server 9mux with -P serves a -r client over a
 * TLS link named by the laptop's key; the laptop 9mux is killed and
 * started again, links again under the same name, and the client's
 * open file goes on reading where it was, its fid restored over the
 * new link, while its requests meanwhile waited.
 */
#include <sys/stat.h>

#include "tap.h"
#include "p9conv.h"

enum {
	T	= 20000,
	SIZE	= 300000,
	PIECE	= 50000,
};

static const char *dir;
static pid_t ram = -1, ramL = -1, mux = -1, laptop = -1;
static char data[SIZE];

static pid_t
startlaptop(const char *port)
{
	char up[64];
	const char *av[] = { pc_prog("9mux"), "-v", "-S", pc_path(dir, "psk"), "-k", "1", "-a", pc_unixaddr(dir, "server.sock"),
		"-e", pc_unixaddr(dir, "ramL"), up, NULL };

	snprintf(up, sizeof up, "tls!127.0.0.1!%s", port);
	return pc_spawn(av, pc_path(dir, "laptop.log"));
}

/* Read count bytes at off through fid 2 of c into buf: the bytes read, or -1. */
static long
readat(Pconn *c, uint64_t off, char *buf, uint32_t count)
{
	Fcall t;

	pc_mkread(&t, 9, 2, off, count);
	if(pc_rpc(c, &t, T) != Rread)
		return -1;
	memcpy(buf, c->r.data, c->r.count);
	return c->r.count;
}

int
main(int argc, char **argv)
{
	static char got[PIECE];
	char line[256], port[16], key[80];
	Pconn *c, *w;
	Fcall t;
	FILE *f;
	long n, off;
	int i, good;

	(void)argc;
	tap_start(90);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &laptop, &ram, &ramL, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	f = fopen(pc_path(dir, "psk"), "w");
	for(i = 0; i < 32; i++)
		snprintf(key + 2 * i, sizeof key - 2 * i, "%02x", (unsigned)(i * 37 + 11) & 0xFF);
	if(f){
		fprintf(f, "laptop %s\n", key);
		fclose(f);
	}
	chmod(pc_path(dir, "psk"), 0600);
	{
		const char *a[] = { pc_prog("9ramfs"), "-a", pc_unixaddr(dir, "ram"), NULL };
		const char *b[] = { pc_prog("9ramfs"), "-a", pc_unixaddr(dir, "ramL"), NULL };

		ram = pc_spawn(a, pc_path(dir, "ram.err"));
		ramL = pc_spawn(b, pc_path(dir, "ramL.err"));
	}
	ok(pc_waitsock(pc_path(dir, "ram"), T) == 0 && pc_waitsock(pc_path(dir, "ramL"), T) == 0, "two 9ramfs");
	/* the laptop's file */
	for(i = 0; i < SIZE; i++)
		data[i] = (char)('a' + (i * 7 + i / 1000) % 26);
	w = pc_open(pc_path(dir, "ramL"), P9_2000);
	good = w && pc_version(w, 65536, "9P2000") == Rversion && pc_attach(w, 1, 1, "me") == Rattach &&
		pc_walk(w, 2, 1, 2, "") == Rwalk;
	memset(&t, 0, sizeof t);
	t.type = Tcreate;
	t.tag = 3;
	t.fid = 2;
	t.name = p9str("data");
	t.perm = 0644;
	t.mode = P9_OWRITE;
	good = good && pc_rpc(w, &t, T) == Rcreate;
	for(off = 0; good && off < SIZE; off += PIECE){
		memset(&t, 0, sizeof t);
		t.type = Twrite;
		t.tag = 4;
		t.fid = 2;
		t.offset = (uint64_t)off;
		t.count = PIECE;
		t.data = (const uint8_t *)data + off;
		good = pc_rpc(w, &t, T) == Rwrite && w->r.count == PIECE;
	}
	ok(good, "the laptop's 9ramfs holds /data, %d bytes", SIZE);
	pc_close(w);

	{
		char rev[400];
		const char *a[] = { pc_prog("9mux"), "-v", "-S", pc_path(dir, "psk"), "-P", "6", "-k", "1",
			"-l", "tls!127.0.0.1!0", "-r", rev, pc_unixaddr(dir, "ram"), NULL };

		snprintf(rev, sizeof rev, "laptop=%s", pc_unixaddr(dir, "rev.sock"));
		mux = pc_spawn(a, pc_path(dir, "mux.log"));
	}
	port[0] = '\0';
	if(pc_waitcount(pc_path(dir, "mux.log"), "for links", 1, T) >= 1 &&
	   pc_line(pc_path(dir, "mux.log"), "for links", 0, line, sizeof line) == 0 && strstr(line, "(port "))
		snprintf(port, sizeof port, "%d", atoi(strstr(line, "(port ") + 6));
	ok(port[0] != '\0', "a server 9mux -P 6 with a TLS link listener on port %s", port);
	laptop = startlaptop(port);
	ok(pc_waitcount(pc_path(dir, "mux.log"), "link laptop", 1, T) >= 1 &&
		pc_waitcount(pc_path(dir, "mux.log"), "ready: 9P2000.L", 1, T) >= 1, "the laptop links, named by its key");

	/* a client over the link, its file open */
	c = pc_open(pc_path(dir, "rev.sock"), P9_2000L);
	good = c && pc_version(c, 65536, "9P2000.L") == Rversion && pc_attach(c, 1, 1, "me") == Rattach &&
		pc_walk(c, 2, 1, 2, "data") == Rwalk;
	memset(&t, 0, sizeof t);
	t.type = Tlopen;
	t.tag = 3;
	t.fid = 2;
	t.flags = 0;
	good = good && pc_rpc(c, &t, T) == Rlopen;
	ok(good, "a -r client opens /data on the laptop");
	n = readat(c, 0, got, PIECE);
	ok(n == PIECE && memcmp(got, data, PIECE) == 0, "and reads its first %d bytes", PIECE);

	/* the laptop goes, and comes back */
	kill(laptop, SIGKILL);
	waitpid(laptop, NULL, 0);
	ok(pc_waitcount(pc_path(dir, "mux.log"), "lost", 1, T) >= 1, "laptop killed: the server loses the link");
	laptop = startlaptop(port);
	good = 1;
	for(off = PIECE; good && off < SIZE; off += PIECE){
		n = readat(c, (uint64_t)off, got, PIECE);
		good = n == PIECE && memcmp(got, data + off, PIECE) == 0;
	}
	ok(good, "laptop back: the client's fid reads on, the rest of the file right (at %ld)", off);
	ok(pc_waitcount(pc_path(dir, "mux.log"), "restored", 1, T) >= 1, "the server logs the restore: %s",
		pc_line(pc_path(dir, "mux.log"), "restored", 0, line, sizeof line) == 0 ? line : "nothing");

	/* the laptop goes for good: past -P the client's request fails, as without -P */
	kill(laptop, SIGKILL);
	waitpid(laptop, NULL, 0);
	laptop = -1;
	ok(pc_waitcount(pc_path(dir, "mux.log"), "lost", 2, T) >= 2, "laptop killed again");
	pc_mkread(&t, 9, 2, 0, 100);
	good = pc_rpc(c, &t, T) == Rlerror;
	ok(good && c->r.errnum == 5, "with no laptop within -P, the waiting read gets EIO (%u)", c->r.errnum);
	ok(pc_waitcount(pc_path(dir, "mux.log"), "not back within -P", 1, T) >= 1, "the server logs the give-up");
	pc_mkread(&t, 10, 2, 0, 100);
	good = pc_rpc(c, &t, T) == Rlerror;
	ok(good, "and the session is dead after it (%u)", c->r.errnum);
	pc_close(c);

	laptop = startlaptop(port);
	ok(pc_waitcount(pc_path(dir, "mux.log"), "linked on", 3, T) >= 3 &&
		pc_waitcount(pc_path(dir, "mux.log"), "ready: 9P2000.L", 3, T) >= 3, "the laptop links once more");
	c = pc_open(pc_path(dir, "rev.sock"), P9_2000L);
	good = c && pc_version(c, 65536, "9P2000.L") == Rversion && pc_attach(c, 1, 1, "me") == Rattach &&
		pc_walk(c, 2, 1, 2, "data") == Rwalk;
	ok(good, "and a new client reaches its export");
	pc_close(c);

	is_int(pc_killwait(laptop, SIGTERM, 15000), 0, "the laptop 9mux exits 0");
	is_int(pc_killwait(mux, SIGTERM, 15000), 0, "the server 9mux exits 0");
	laptop = mux = -1;
	pc_kill(ram, SIGTERM);
	pc_kill(ramL, SIGTERM);
	pc_rmdir(dir);
	return done_testing();
}
