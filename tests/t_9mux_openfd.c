/*
 * Topenfd, plan9port's 9pserve extension, through 9mux: the client
 * (on a unix socket, in 9P2000) gets Ropenfd and, right after it, a
 * descriptor (SCM_RIGHTS) from which it reads the file, or into which
 * it writes it; its fid is given up, and 9mux clunks it upstream when
 * the descriptor is done: 9testsrv ends with no fid held.  Over TCP,
 * or in 9P2000.L, Topenfd is refused as any unknown message is.
 */
#include <sys/socket.h>

#include "dial.h"
#include "tap.h"
#include "p9conv.h"

enum {
	T	= 5000,
	Topenfd	= 98,
	Ropenfd,
};

static const char *dir;
static pid_t srv = -1, mux = -1;

/* Send Topenfd of fid with mode; the descriptor after its Ropenfd, or -1.  The reply's type in *type. */
static int
openfd(Pconn *c, uint16_t tag, uint32_t fid, uint8_t mode, int *type)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte;
	uint8_t f[12];
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	uint8_t r[64];
	uint32_t size;
	int fd;

	p9put32(f, sizeof f);
	f[4] = Topenfd;
	p9put16(f + 5, tag);
	p9put32(f + 7, fid);
	f[11] = mode;
	*type = -1;
	if(pc_write(c->fd, f, sizeof f) < 0 || pc_readfull(c->fd, r, 4, pc_now() + T) < 0)
		return -1;
	size = p9get32(r);
	if(size < 7 || size > sizeof r || pc_readfull(c->fd, r + 4, size - 4, pc_now() + T) < 0)
		return -1;
	*type = r[4];
	if(r[4] != Ropenfd || size != 28 || p9get16(r + 5) != tag)
		return -1;
	memset(&msg, 0, sizeof msg);
	iov.iov_base = &byte;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof cbuf;
	if(recvmsg(c->fd, &msg, 0) != 1 || (cm = CMSG_FIRSTHDR(&msg)) == NULL || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	return fd;
}

/* All of fd until its end, into buf (cap bytes): the count, or -1. */
static long
readall(int fd, char *buf, size_t cap)
{
	size_t n;
	ssize_t r;

	n = 0;
	while(n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	return r < 0 ? -1 : (long)n;
}

int
main(int argc, char **argv)
{
	static char want[200000], got[sizeof want + 1];
	Pconn *c;
	Fcall t;
	long fids = -1, tags = -1, n;
	char line[256], addr[64];
	const char *port;
	size_t i;
	int fd, type;

	(void)argc;
	tap_start(60);
	pc_setbin(argv[0]);
	dir = pc_tmpdir();
	pc_onalarm(dir, &mux, &srv, NULL);
	if(!ok(dir != NULL, "temporary directory"))
		return done_testing();
	{
		const char *a[] = { pc_prog("9testsrv"), "-l", pc_path(dir, "srv.log"), "-a", pc_unixaddr(dir, "srv"), NULL };
		const char *b[] = { pc_prog("9mux"), "-v", "-a", pc_unixaddr(dir, "mux"), "-a", "tcp!127.0.0.1!0",
			pc_unixaddr(dir, "srv"), NULL };

		srv = pc_spawn(a, pc_path(dir, "srv.err"));
		ok(pc_waitsock(pc_path(dir, "srv"), T) == 0, "9testsrv");
		mux = pc_spawn(b, pc_path(dir, "mux.log"));
		ok(pc_waitsock(pc_path(dir, "mux"), T) == 0, "9mux in front of it, on a unix socket and TCP");
	}
	c = pc_open(pc_path(dir, "mux"), P9_2000);
	ok(c && pc_version(c, 8192, "9P2000") == Rversion && pc_attach(c, 1, 0, "tester") == Rattach, "a session");

	/* reading: the 20000 bytes of big */
	ok(pc_walk(c, 2, 0, 1, "big") == Rwalk, "walk to big");
	fd = openfd(c, 3, 1, P9_OREAD, &type);
	ok(fd >= 0, "Topenfd OREAD: Ropenfd, then a descriptor (reply type %d)", type);
	n = fd >= 0 ? readall(fd, got, sizeof got) : -1;
	for(i = 0; i < 20000; i++)
		want[i] = (char)('a' + i % 26);
	ok(n == 20000 && memcmp(got, want, 20000) == 0, "the descriptor reads the file whole, to its end (%ld bytes)", n);
	if(fd >= 0)
		close(fd);
	ok(pc_fidop(c, Tstat, 4, 1) > 0 && pc_iserr(c) && c->r.tag == 4, "the fid is the descriptor's now: Tstat of it is an error");
	ok(pc_walk(c, 5, 0, 1, "hello") == Rwalk, "and its number is free again: walked anew");

	/* writing: a new file, through the descriptor, read back with Tread */
	pc_mkwalk(&t, 6, 0, 2, "");
	pc_rpc(c, &t, T);
	memset(&t, 0, sizeof t);
	t.type = Tcreate;
	t.tag = 7;
	t.fid = 2;
	t.name = p9str("written");
	t.perm = 0644;
	t.mode = P9_OWRITE;
	ok(pc_rpc(c, &t, T) == Rcreate && pc_fidop(c, Tclunk, 8, 2) == Rclunk, "create /written");
	ok(pc_walk(c, 9, 0, 2, "written") == Rwalk, "walk to it");
	fd = openfd(c, 10, 2, P9_OWRITE, &type);
	ok(fd >= 0, "Topenfd OWRITE: a descriptor (reply type %d)", type);
	for(i = 0; i < sizeof want; i++)
		want[i] = (char)('A' + i * 7 % 23);
	ok(fd >= 0 && pc_write(fd, want, sizeof want) == 0, "%zu bytes written into it", sizeof want);
	if(fd >= 0)
		close(fd);
	/* the descriptor's writes go one at a time: the file is whole once 9mux has clunked its fid */
	ok(pc_waitcount(pc_path(dir, "srv.log"), "Tclunk", 3, T) >= 3, "9mux clunks the fid when the descriptor closes");
	ok(pc_walk(c, 11, 0, 3, "written") == Rwalk && pc_open1(c, 12, 3, P9_OREAD) == Ropen, "open /written to read");
	n = 0;
	for(i = 0; i < 100; i++){
		pc_mkread(&t, 13, 3, (uint64_t)n, 7000);
		if(pc_rpc(c, &t, T) != Rread || c->r.count == 0)
			break;
		memcpy(got + n, c->r.data, c->r.count);
		n += c->r.count;
	}
	ok(n == (long)sizeof want && memcmp(got, want, sizeof want) == 0, "it holds what went into the descriptor (%ld bytes)", n);
	pc_close(c);

	/* no descriptor over TCP */
	port = NULL;
	if(pc_line(pc_path(dir, "mux.log"), "listening on tcp!127.0.0.1!0 (port ", 0, line, sizeof line) == 0)
		port = strstr(line, "(port ") + 6;
	snprintf(addr, sizeof addr, "tcp!127.0.0.1!%d", port ? atoi(port) : 0);
	c = calloc(1, sizeof *c);
	c->fd = dial(addr, line, sizeof line);
	c->buf = malloc(PC_MAXMSG);
	c->dialect = P9_2000;
	ok(c->fd >= 0 && pc_version(c, 8192, "9P2000") == Rversion && pc_attach(c, 1, 0, "tester") == Rattach &&
		pc_walk(c, 2, 0, 1, "big") == Rwalk, "a session over TCP (%s)", addr);
	fd = openfd(c, 3, 1, P9_OREAD, &type);
	ok(fd < 0 && type == Rerror, "Topenfd over TCP: Rerror, no descriptor can go there");
	pc_close(c);

	is_int(pc_killwait(mux, SIGTERM, 15000), 0, "9mux exits 0");
	mux = -1;
	i = pc_srvstate(srv, pc_path(dir, "srv.log"), &fids, &tags) == 0;
	ok(i && fids == 0 && tags == 0, "9testsrv holds no fid and no tag (%ld, %ld)", fids, tags);
	ok(pc_count(pc_path(dir, "srv.log"), "VIOLATION") == 0, "and saw no violation of the protocol");
	pc_kill(srv, SIGTERM);
	srv = -1;
	pc_rmdir(dir);
	return done_testing();
}
