/*
 * 9pc - a command-line 9P client: ls, read, write, create, mkdir, rm, stat.
 *
 *	9pc [-a addr] [-V 9P2000|9P2000.L] [-m msize] [-u user] [-A aname] cmd args
 *
 * Without -a each path is name/path, name a service posted in the
 * namespace directory as unix!$NAMESPACE/name.
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dial.h"
#include "9pclient.h"

static const char *argv0 = "9pc";
static const char *addr;
static const char *uname;
static const char *aname = "";
static int dialect = P9_2000;
static uint32_t msize = 65536;

/* The connection of the current path's service. */
static char *curaddr;
static CFsys *curfs;
static CFid *curroot;
/* read's and write's buffer: fatal frees it too */
static char *iobuf;

static void
usage(void)
{
	fprintf(stderr,
		"usage: %s [-a addr] [-V 9P2000|9P2000.L] [-m msize] [-u user] [-A aname] cmd args\n"
		"  ls [-l] path...\n"
		"  read path\n"
		"  write path	(from standard input)\n"
		"  create path...\n"
		"  mkdir path...\n"
		"  rm path...\n"
		"  stat path...\n"
		"without -a, path is name/path for the service unix!$NAMESPACE/name\n", argv0);
	exit(2);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", argv0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if(curroot != NULL)
		fsclose(curroot);
	fsunmount(curfs);
	free(iobuf);
	exit(1);
}

static void
hangup(void)
{
	if(curroot != NULL)
		fsclose(curroot);
	curroot = NULL;
	fsunmount(curfs);
	curfs = NULL;
	free(curaddr);
	curaddr = NULL;
}

/*
 * The root of the service path lives on and the rest of path in *rest.
 * Connections are kept while consecutive paths name the same service.
 */
static CFid *
resolve(const char *path, const char **rest)
{
	char ns[512], a[1024];
	const char *slash;

	if(addr != NULL){
		snprintf(a, sizeof a, "%s", addr);
		*rest = path;
	}else{
		while(*path == '/')
			path++;
		slash = strchr(path, '/');
		if(slash == path || *path == '\0')
			fatal("%s: no service name (use name/path or -a addr)", path);
		if(nsdir(ns, sizeof ns) < 0)
			fatal("namespace directory name too long");
		if(slash == NULL){
			snprintf(a, sizeof a, "unix!%s/%s", ns, path);
			*rest = "";
		}else{
			snprintf(a, sizeof a, "unix!%s/%.*s", ns, (int)(slash - path), path);
			*rest = slash + 1;
		}
	}
	if(curaddr != NULL && strcmp(curaddr, a) == 0)
		return curroot;
	hangup();
	if((curfs = fsdial(a, dialect, msize)) == NULL)
		fatal("%s", fserrstr());
	if((curroot = fsattach(curfs, NULL, uname, aname)) == NULL)
		fatal("%s", fserrstr());
	if((curaddr = strdup(a)) == NULL)
		fatal("out of memory");
	return curroot;
}

/* Plan 9's ls -l mode string: "d-rwxr-xr-x". */
static void
modestr(char *s, uint32_t mode)
{
	static const char rwx[] = "rwx";
	int i;

	if(mode & P9_DMDIR)
		*s++ = 'd';
	else if(mode & P9_DMAPPEND)
		*s++ = 'a';
	else if(mode & P9_DMEXCL)
		*s++ = 'l';
	else if(mode & P9_DMSYMLINK)
		*s++ = 'L';
	else
		*s++ = '-';
	*s++ = mode & P9_DMTMP ? 't' : '-';
	for(i = 8; i >= 0; i--)
		*s++ = mode & (1u << i) ? rwx[(8 - i) % 3] : '-';
	*s = '\0';
}

static void
lsline(const Fsdir *d, const char *name)
{
	char m[16], date[32];
	time_t t, now;
	struct tm tm;

	modestr(m, d->mode);
	t = (time_t)d->mtime;
	now = time(NULL);
	localtime_r(&t, &tm);
	if(now - t < 180L * 24 * 60 * 60 && t <= now + 60L * 60)
		strftime(date, sizeof date, "%b %e %H:%M", &tm);
	else
		strftime(date, sizeof date, "%b %e  %Y", &tm);
	printf("%s %s %s %" PRIu64 " %s %s\n", m, d->uid, d->gid, d->length, date, name);
}

static int
bynames(const void *a, const void *b)
{
	return strcmp(((const Fsdir*)a)->name, ((const Fsdir*)b)->name);
}

static int
cmdls(int argc, char **argv)
{
	int lflag, i, rv;
	long n, j;
	CFid *root, *dir, *f;
	Fsdir *d, *e, *full;
	const char *path;
	static char empty[] = "";
	char *one[] = { empty, NULL };

	lflag = 0;
	while(argc > 0 && argv[0][0] == '-' && argv[0][1] != '\0'){
		if(strcmp(argv[0], "-l") != 0)
			usage();
		lflag = 1;
		argc--;
		argv++;
	}
	if(argc == 0){
		if(addr == NULL)
			usage();
		argc = 1;
		argv = one;
	}
	rv = 0;
	for(i = 0; i < argc; i++){
		root = resolve(argv[i], &path);
		if((dir = fswalk(root, path)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, fserrstr());
			rv = 1;
			continue;
		}
		if((d = fsdirfstat(dir)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, fserrstr());
			fsclose(dir);
			rv = 1;
			continue;
		}
		if(!(d->mode & P9_DMDIR)){
			if(lflag)
				lsline(d, argv[i]);
			else
				printf("%s\n", argv[i]);
			fsdirfree(d, 1);
			fsclose(dir);
			continue;
		}
		fsdirfree(d, 1);
		if((f = fsopen(dir, "", P9_OREAD)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, fserrstr());
			fsclose(dir);
			rv = 1;
			continue;
		}
		n = fsdirreadall(f, &d);
		fsclose(f);
		if(n < 0){
			fprintf(stderr, "%s: %s\n", argv0, fserrstr());
			fsclose(dir);
			rv = 1;
			continue;
		}
		if(n > 0)
			qsort(d, (size_t)n, sizeof *d, bynames);
		for(j = 0; j < n; j++){
			e = &d[j];
			if(strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
				continue;
			if(!lflag){
				printf("%s%s\n", e->name, e->mode & P9_DMDIR ? "/" : "");
				continue;
			}
			/* 9P2000.L readdir gives names only: fetch the rest */
			full = NULL;
			if(fsdialect(curfs) == P9_2000L && (full = fsdirstat(dir, e->name)) == NULL){
				fprintf(stderr, "%s: %s: %s\n", argv0, e->name, fserrstr());
				rv = 1;
				continue;
			}
			lsline(full != NULL ? full : e, e->name);
			fsdirfree(full, 1);
		}
		fsdirfree(d, n);
		fsclose(dir);
	}
	return rv;
}

static int
cmdread(int argc, char **argv)
{
	CFid *root, *f;
	const char *path;
	long n;
	size_t len;

	if(argc != 1)
		usage();
	root = resolve(argv[0], &path);
	if((f = fsopen(root, path, P9_OREAD)) == NULL)
		fatal("%s", fserrstr());
	len = fsmsize(curfs);
	if((iobuf = malloc(len)) == NULL)
		fatal("out of memory");
	while((n = fsread(f, iobuf, (long)len)) > 0)
		if(fwrite(iobuf, 1, (size_t)n, stdout) != (size_t)n)
			fatal("write standard output: %s", strerror(errno));
	if(n < 0)
		fatal("%s", fserrstr());
	free(iobuf);
	iobuf = NULL;
	fsclose(f);
	if(fflush(stdout) != 0)
		fatal("write standard output: %s", strerror(errno));
	return 0;
}

static int
cmdwrite(int argc, char **argv)
{
	CFid *root, *f;
	const char *path;
	size_t len, n;
	long w;

	if(argc != 1)
		usage();
	root = resolve(argv[0], &path);
	if((f = fsopen(root, path, P9_OWRITE|P9_OTRUNC)) == NULL)
		fatal("%s", fserrstr());
	len = fsmsize(curfs);
	if((iobuf = malloc(len)) == NULL)
		fatal("out of memory");
	while((n = fread(iobuf, 1, len, stdin)) > 0){
		w = fswrite(f, iobuf, (long)n);
		if(w < 0)
			fatal("%s", fserrstr());
		if(w != (long)n)
			fatal("short write");
	}
	if(ferror(stdin))
		fatal("read standard input: %s", strerror(errno));
	free(iobuf);
	iobuf = NULL;
	if(fsclose(f) < 0)
		fatal("%s", fserrstr());
	return 0;
}

static int
cmdcreate(int argc, char **argv, uint32_t perm)
{
	CFid *root, *f;
	const char *path;
	int i, rv;

	if(argc < 1)
		usage();
	rv = 0;
	for(i = 0; i < argc; i++){
		root = resolve(argv[i], &path);
		if((f = fscreate(root, path, P9_OREAD, perm)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, fserrstr());
			rv = 1;
			continue;
		}
		fsclose(f);
	}
	return rv;
}

static int
cmdrm(int argc, char **argv)
{
	CFid *root;
	const char *path;
	int i, rv;

	if(argc < 1)
		usage();
	rv = 0;
	for(i = 0; i < argc; i++){
		root = resolve(argv[i], &path);
		if(fsremove(root, path) < 0){
			fprintf(stderr, "%s: %s\n", argv0, fserrstr());
			rv = 1;
		}
	}
	return rv;
}

static int
cmdstat(int argc, char **argv)
{
	CFid *root;
	const char *path;
	Fsdir *d;
	char m[16];
	int i, rv;

	if(argc < 1)
		usage();
	rv = 0;
	for(i = 0; i < argc; i++){
		root = resolve(argv[i], &path);
		if((d = fsdirstat(root, path)) == NULL){
			fprintf(stderr, "%s: %s\n", argv0, fserrstr());
			rv = 1;
			continue;
		}
		modestr(m, d->mode);
		printf("name %s\n", d->name);
		printf("qid.path 0x%" PRIx64 "\n", d->qid.path);
		printf("qid.vers %" PRIu32 "\n", d->qid.vers);
		printf("qid.type 0x%02x\n", d->qid.type);
		printf("mode 0%" PRIo32 " %s\n", d->mode, m);
		if(fsdialect(curfs) == P9_2000L){
			printf("umode 0%" PRIo32 "\n", d->umode);
			printf("nlink %" PRIu64 "\n", d->nlink);
		}else{
			printf("type %u\n", d->type);
			printf("dev %" PRIu32 "\n", d->dev);
		}
		printf("length %" PRIu64 "\n", d->length);
		printf("uid %s\n", d->uid);
		printf("gid %s\n", d->gid);
		if(fsdialect(curfs) != P9_2000L)
			printf("muid %s\n", d->muid);
		printf("atime %" PRIu32 "\n", d->atime);
		printf("mtime %" PRIu32 "\n", d->mtime);
		fsdirfree(d, 1);
	}
	return rv;
}

/* The next argument of an option, from the rest of this word or the next. */
static char *
optarg1(int *argc, char ***argv, char *p)
{
	if(p[1] != '\0')
		return p + 1;
	if(*argc < 2)
		usage();
	(*argc)--;
	(*argv)++;
	return (*argv)[0];
}

int
main(int argc, char **argv)
{
	char *p, *v, *end;
	const char *cmd;
	struct passwd *pw;
	unsigned long m;
	int rv;

	argc--;
	argv++;
	while(argc > 0 && argv[0][0] == '-' && argv[0][1] != '\0'){
		if(strcmp(argv[0], "--") == 0){
			argc--;
			argv++;
			break;
		}
		for(p = argv[0] + 1; *p != '\0'; p++){
			switch(*p){
			case 'a':
				addr = optarg1(&argc, &argv, p);
				break;
			case 'A':
				aname = optarg1(&argc, &argv, p);
				break;
			case 'u':
				uname = optarg1(&argc, &argv, p);
				break;
			case 'm':
				v = optarg1(&argc, &argv, p);
				errno = 0;
				m = strtoul(v, &end, 0);
				if(errno != 0 || *end != '\0' || m < P9_MINMSIZE || m > 0xFFFFFFFFul)
					fatal("bad msize %s", v);
				msize = (uint32_t)m;
				break;
			case 'V':
				v = optarg1(&argc, &argv, p);
				dialect = p9dialect(v, strlen(v));
				if(dialect != P9_2000 && dialect != P9_2000L)
					fatal("unsupported version %s", v);
				break;
			default:
				usage();
			}
			if(*p == 'a' || *p == 'A' || *p == 'u' || *p == 'm' || *p == 'V')
				break;
		}
		argc--;
		argv++;
	}
	if(argc < 1)
		usage();
	if(uname == NULL){
		uname = getenv("USER");
		if(uname == NULL && (pw = getpwuid(getuid())) != NULL)
			uname = pw->pw_name;
		if(uname == NULL)
			uname = "none";
	}
	cmd = argv[0];
	argc--;
	argv++;
	if(strcmp(cmd, "ls") == 0)
		rv = cmdls(argc, argv);
	else if(strcmp(cmd, "read") == 0)
		rv = cmdread(argc, argv);
	else if(strcmp(cmd, "write") == 0)
		rv = cmdwrite(argc, argv);
	else if(strcmp(cmd, "create") == 0)
		rv = cmdcreate(argc, argv, 0666);
	else if(strcmp(cmd, "mkdir") == 0)
		rv = cmdcreate(argc, argv, P9_DMDIR|0777);
	else if(strcmp(cmd, "rm") == 0)
		rv = cmdrm(argc, argv);
	else if(strcmp(cmd, "stat") == 0)
		rv = cmdstat(argc, argv);
	else
		usage();
	if(fflush(stdout) != 0){
		fprintf(stderr, "%s: write standard output: %s\n", argv0, strerror(errno));
		rv = 1;
	}
	hangup();
	return rv;
}
