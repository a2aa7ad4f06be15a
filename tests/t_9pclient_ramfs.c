/*
 * lib9pclient against a real server, 9ramfs, in both dialects with a
 * small msize: directories read in several pieces, stat, wstat (9P2000),
 * getattr and setattr (9P2000.L), large reads and writes, remove.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tap.h"
#include "9p.h"
#include "9pclient.h"

enum { Nfile = 40, Big = 100000 };

static pid_t srvpid = -1;
static char dir[] = "/tmp/t9pclientramfs.XXXXXX";
static char sock[256];

static void
stopserver(void)
{
	int st;

	int i;

	if(srvpid > 0){
		/* TERM, and KILL if it has not gone in 5 s */
		kill(srvpid, SIGTERM);
		for(i = 0; i < 100 && waitpid(srvpid, &st, WNOHANG) == 0; i++)
			usleep(50000);
		if(i == 100){
			kill(srvpid, SIGKILL);
			waitpid(srvpid, &st, 0);
		}
		srvpid = -1;
	}
	unlink(sock);
	rmdir(dir);
}

static int
startserver(const char *bin, const char *addr)
{
	struct stat sb;
	int i;

	srvpid = fork();
	if(srvpid < 0)
		return -1;
	if(srvpid == 0){
		execl(bin, "9ramfs", "-u", "tester", "-a", addr, (char*)NULL);
		_exit(127);
	}
	for(i = 0; i < 100; i++){
		if(stat(sock, &sb) == 0 && S_ISSOCK(sb.st_mode))
			return 0;
		usleep(50000);
	}
	return -1;
}

/* Whether name is one of the files the test made, and which. */
static int
whichfile(const char *name)
{
	char *end;
	long i;

	if(strncmp(name, "file", 4) != 0)
		return -1;
	i = strtol(name + 4, &end, 10);
	if(*end != '\0' || i < 0 || i >= Nfile)
		return -1;
	return (int)i;
}

static void
run(const char *addr, int dialect)
{
	const char *dn = dialect == P9_2000L ? "9P2000.L" : "9P2000";
	char name[64], buf[64];
	int seen[Nfile], i, nbatch, dup, bad;
	CFsys *fs;
	CFid *root, *f, *d;
	Fsdir *ent, *st, nd;
	P9attr a;
	P9setattr sa;
	long n, total;
	uint8_t *big, *back;

	fs = fsdial(addr, dialect, 600);
	if(!ok(fs != NULL, "%s: fsdial", dn)){
		diag("%s", fserrstr());
		return;
	}
	is_int(fsdialect(fs), dialect, "%s: dialect", dn);
	ok(fsmsize(fs) <= 600, "%s: msize %u", dn, fsmsize(fs));
	root = fsattach(fs, NULL, "tester", "");
	if(!ok(root != NULL, "%s: attach", dn)){
		diag("%s", fserrstr());
		fsunmount(fs);
		return;
	}

	snprintf(name, sizeof name, "dir%s", dn);
	d = fscreate(root, name, P9_OREAD, P9_DMDIR | 0755);
	ok(d != NULL && (fsqid(d).type & P9_QTDIR), "%s: create a directory: %s", dn, d ? "" : fserrstr());
	fsclose(d);
	bad = 0;
	for(i = 0; i < Nfile; i++){
		snprintf(name, sizeof name, "dir%s/file%02d", dn, i);
		if((f = fscreate(root, name, P9_OWRITE, 0644)) == NULL){
			bad++;
			diag("create %s: %s", name, fserrstr());
			continue;
		}
		if(fswrite(f, name + strlen(dn) + 4, 6) != 6)
			bad++;
		fsclose(f);
	}
	is_int(bad, 0, "%s: create and write %d files", dn, Nfile);
	snprintf(name, sizeof name, "dir%s/file00", dn);
	ok(fscreate(root, name, P9_OWRITE, 0644) == NULL, "%s: creating an existing file fails: %s", dn, fserrstr());

	/* the listing takes several reads at this msize */
	snprintf(name, sizeof name, "dir%s", dn);
	d = fsopen(root, name, P9_OREAD);
	ok(d != NULL, "%s: open the directory", dn);
	memset(seen, 0, sizeof seen);
	nbatch = 0;
	total = 0;
	dup = 0;
	while(d != NULL && (n = fsdirread(d, &ent)) > 0){
		nbatch++;
		for(long j = 0; j < n; j++){
			if((i = whichfile(ent[j].name)) >= 0){
				dup += seen[i];
				seen[i] = 1;
				total++;
			}else if(strcmp(ent[j].name, ".") != 0 && strcmp(ent[j].name, "..") != 0)
				diag("unexpected entry %s", ent[j].name);
		}
		fsdirfree(ent, n);
	}
	is_int(total, Nfile, "%s: every file listed", dn);
	is_int(dup, 0, "%s: none twice", dn);
	ok(nbatch > 1, "%s: in %d reads", dn, nbatch);
	fsclose(d);

	/* stat */
	snprintf(name, sizeof name, "dir%s/file07", dn);
	st = fsdirstat(root, name);
	ok(st != NULL && strcmp(st->name, "file07") == 0, "%s: stat name", dn);
	ok(st != NULL && st->length == 6, "%s: stat length", dn);
	ok(st != NULL && (st->mode & 0777) == 0644 && !(st->mode & P9_DMDIR), "%s: stat mode %o", dn, st ? st->mode : 0);
	ok(st != NULL && !(st->qid.type & P9_QTDIR), "%s: stat qid of a file", dn);
	fsdirfree(st, st != NULL);
	snprintf(name, sizeof name, "dir%s", dn);
	st = fsdirstat(root, name);
	ok(st != NULL && (st->mode & P9_DMDIR) && (st->qid.type & P9_QTDIR), "%s: stat of the directory", dn);
	fsdirfree(st, st != NULL);

	snprintf(name, sizeof name, "dir%s/file07", dn);
	f = fswalk(root, name);
	if(dialect == P9_2000){
		static char newname[] = "renamed";

		fsnulldir(&nd);
		nd.name = newname;
		ok(fsdirfwstat(f, &nd) == 0, "wstat: rename");
		fsnulldir(&nd);
		nd.length = 2;
		ok(fsdirfwstat(f, &nd) == 0, "wstat: truncate");
		fsnulldir(&nd);
		nd.mode = 0600;
		ok(fsdirfwstat(f, &nd) == 0, "wstat: mode");
		st = fsdirstat(root, "dir9P2000/renamed");
		ok(st != NULL && st->length == 2 && (st->mode & 0777) == 0600, "wstat took effect: length 2, mode 600");
		fsdirfree(st, st != NULL);
		ok(fsdirstat(root, "dir9P2000/file07") == NULL, "the old name is gone");
		ok(fsgetattr(f, FS_GETATTR_BASIC, &a) < 0, "no getattr in 9P2000: %s", fserrstr());
	}else{
		ok(fsgetattr(f, FS_GETATTR_BASIC, &a) == 0, "getattr");
		ok(a.size == 6 && (a.mode & 0170000) == 0100000 && (a.mode & 0777) == 0644,
			"getattr: size %llu mode %o", (unsigned long long)a.size, a.mode);
		memset(&sa, 0, sizeof sa);
		sa.valid = FS_SETATTR_SIZE | FS_SETATTR_MODE;
		sa.size = 2;
		sa.mode = 0600;
		ok(fssetattr(f, &sa) == 0, "setattr size and mode");
		ok(fsgetattr(f, FS_GETATTR_BASIC, &a) == 0 && a.size == 2 && (a.mode & 0777) == 0600,
			"setattr took effect");
		fsnulldir(&nd);
		nd.length = 0;
		ok(fsdirfwstat(f, &nd) < 0, "no wstat in 9P2000.L: %s", fserrstr());
	}
	fsclose(f);

	/* large transfers, each split many times */
	big = malloc(Big);
	back = malloc(Big);
	for(i = 0; i < Big; i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	snprintf(name, sizeof name, "dir%s/big", dn);
	f = fscreate(root, name, P9_ORDWR, 0644);
	ok(f != NULL, "%s: create big", dn);
	is_int(fswrite(f, big, Big), Big, "%s: write %d bytes", dn, Big);
	fsseek(f, 0);
	memset(back, 0, Big);
	is_int(fsreadn(f, back, Big), Big, "%s: read them back", dn);
	ok(memcmp(big, back, Big) == 0, "%s: the same bytes", dn);
	is_int(fspread(f, back, 10, Big - 5), 5, "%s: short read at the end", dn);
	is_int(fsread(f, back, 10), 0, "%s: end of file", dn);
	fsclose(f);
	f = fsopen(root, name, P9_OWRITE | P9_OTRUNC);
	ok(f != NULL, "%s: open with truncation", dn);
	fsclose(f);
	st = fsdirstat(root, name);
	ok(st != NULL && st->length == 0, "%s: truncated", dn);
	fsdirfree(st, st != NULL);
	free(big);
	free(back);

	/* remove everything */
	bad = 0;
	snprintf(name, sizeof name, "dir%s", dn);
	d = fsopen(root, name, P9_OREAD);
	n = d != NULL ? fsdirreadall(d, &ent) : -1;
	fsclose(d);
	for(long j = 0; j < n; j++){
		if(strcmp(ent[j].name, ".") == 0 || strcmp(ent[j].name, "..") == 0)
			continue;
		snprintf(buf, sizeof buf, "dir%s/%s", dn, ent[j].name);
		if((f = fswalk(root, buf)) == NULL || fsfremove(f) < 0)
			bad++;
	}
	fsdirfree(ent, n);
	is_int(bad, 0, "%s: fsfremove every file", dn);
	ok(fsremove(root, name) == 0, "%s: remove the directory", dn);
	ok(fswalk(root, name) == NULL, "%s: it is gone: %s", dn, fserrstr());
	ok(fsremove(root, name) < 0, "%s: removing it again fails", dn);

	ok(fsclose(root) == 0, "%s: clunk the root", dn);
	fsunmount(fs);
}

int
main(void)
{
	const char *b;
	char bin[512], addr[300];

	tap_start(120);
	b = getenv("NINEMUX_BUILD");
	snprintf(bin, sizeof bin, "%s/bin/9ramfs", b != NULL ? b : "build");
	if(access(bin, X_OK) != 0){
		printf("1..0 # SKIP %s not built\n", bin);
		return 0;
	}
	if(mkdtemp(dir) == NULL){
		ok(0, "mkdtemp");
		return done_testing();
	}
	snprintf(sock, sizeof sock, "%s/sock", dir);
	snprintf(addr, sizeof addr, "unix!%s", sock);
	if(!ok(startserver(bin, addr) == 0, "9ramfs serving %s", addr)){
		stopserver();
		return done_testing();
	}
	run(addr, P9_2000);
	run(addr, P9_2000L);
	ok(kill(srvpid, 0) == 0, "9ramfs still running");
	stopserver();
	return done_testing();
}
