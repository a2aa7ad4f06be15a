/*
 * fs.c - the in-memory tree.  The locks are described in ramfs.h.
 *
 * A File lives while anything refers to it: its link in the tree, each
 * fid on it, each directory cursor resting on it, and each of its
 * children (so a removed file's parent pointer stays valid).  Data and
 * the file count are charged from creation until the File is freed.
 */
#define _GNU_SOURCE	/* pthread_rwlockattr_setkind_np */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "9p.h"
#include "ramfs.h"

Fs fs = { .slk = PTHREAD_MUTEX_INITIALIZER };

enum {
	Firstseq = 3,	/* readdir cookies 1 and 2 are "." and ".." */
	Nameseed = 2166136261u,
};

static const uint64_t Nsec = 1000000000;

static uint32_t
strhash(const char *s, size_t n, uint32_t h)
{
	size_t i;

	for(i = 0; i < n; i++){
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

static size_t
namehash(const File *dir, const char *name, size_t n)
{
	uint64_t p;

	p = (uint64_t)(uintptr_t)dir * 0x9E3779B97F4A7C15ull;
	return strhash(name, n, (uint32_t)(p >> 32) ^ Nameseed);
}

void
nowts(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static uint64_t
tsns(const struct timespec *ts)
{
	if(ts->tv_sec < 0)
		return 0;
	return (uint64_t)ts->tv_sec * Nsec + (uint64_t)ts->tv_nsec;
}

/* Double the name table: 0, or -1 when out of memory. */
static int
growfiles(void)
{
	File **nt, *f, *fnext;
	size_t i, nsize, h;

	nsize = fs.hsize ? fs.hsize * 2 : 256;
	nt = calloc(nsize, sizeof nt[0]);
	if(nt == NULL)
		return -1;
	for(i = 0; i < fs.hsize; i++)
		for(f = fs.htab[i]; f != NULL; f = fnext){
			fnext = f->hnext;
			h = namehash(f->parent, f->name, f->namelen) & (nsize - 1);
			f->hnext = nt[h];
			nt[h] = f;
		}
	free(fs.htab);
	fs.htab = nt;
	fs.hsize = nsize;
	return 0;
}

static int
growstrs(void)
{
	Str **nt, *s, *snext;
	size_t i, nsize, h;

	nsize = fs.ssize ? fs.ssize * 2 : 64;
	nt = calloc(nsize, sizeof nt[0]);
	if(nt == NULL)
		return -1;
	for(i = 0; i < fs.ssize; i++)
		for(s = fs.stab[i]; s != NULL; s = snext){
			snext = s->next;
			h = s->hash & (nsize - 1);
			s->next = nt[h];
			nt[h] = s;
		}
	free(fs.stab);
	fs.stab = nt;
	fs.ssize = nsize;
	return 0;
}

Str *
strintern(const char *p, size_t n)
{
	Str *s;
	uint32_t h;

	if(n > 0xFFFF)
		return NULL;
	h = strhash(p, n, Nameseed);
	pthread_mutex_lock(&fs.slk);
	if(fs.ssize)
		for(s = fs.stab[h & (fs.ssize - 1)]; s != NULL; s = s->next)
			if(s->n == n && memcmp(s->s, p, n) == 0){
				atomic_fetch_add_explicit(&s->ref, 1, memory_order_relaxed);
				pthread_mutex_unlock(&fs.slk);
				return s;
			}
	s = NULL;
	if(fs.scount < fs.ssize || growstrs() == 0)
		s = malloc(sizeof *s + n + 1);
	if(s != NULL){
		atomic_init(&s->ref, 1);
		s->hash = h;
		s->n = (uint16_t)n;
		memcpy(s->s, p, n);
		s->s[n] = '\0';
		s->next = fs.stab[h & (fs.ssize - 1)];
		fs.stab[h & (fs.ssize - 1)] = s;
		fs.scount++;
	}
	pthread_mutex_unlock(&fs.slk);
	return s;
}

Str *
strincref(Str *s)
{
	atomic_fetch_add_explicit(&s->ref, 1, memory_order_relaxed);
	return s;
}

void
strdecref(Str *s)
{
	Str **l;
	uint32_t r;

	if(s == NULL)
		return;
	/* above one, nobody can be about to free it */
	r = atomic_load_explicit(&s->ref, memory_order_relaxed);
	while(r > 1)
		if(atomic_compare_exchange_weak_explicit(&s->ref, &r, r - 1, memory_order_release, memory_order_relaxed))
			return;
	/* the last one, unless strintern gives out another first */
	pthread_mutex_lock(&fs.slk);
	if(atomic_fetch_sub_explicit(&s->ref, 1, memory_order_acq_rel) == 1){
		for(l = &fs.stab[s->hash & (fs.ssize - 1)]; *l != NULL; l = &(*l)->next)
			if(*l == s){
				*l = s->next;
				break;
			}
		fs.scount--;
		free(s);
	}
	pthread_mutex_unlock(&fs.slk);
}

/* The number 9P2000.L shows for a user: decimal names are their value. */
uint32_t
strid(const Str *s)
{
	uint64_t v;
	size_t i;

	if(s == fs.owner)
		return fs.owneruid;
	if(s->n == 0 || s->n > 10)
		return 65534;
	v = 0;
	for(i = 0; i < s->n; i++){
		if(s->s[i] < '0' || s->s[i] > '9')
			return 65534;
		v = v * 10 + (uint64_t)(s->s[i] - '0');
	}
	return v >= 0xFFFFFFFFu ? 65534 : (uint32_t)v;
}

static File *
filealloc(const char *name, size_t n, uint32_t mode)
{
	File *f;

	f = calloc(1, sizeof *f);
	if(f == NULL)
		return NULL;
	f->name = malloc(n + 1);
	if(f->name == NULL || pthread_rwlock_init(&f->lk, NULL) != 0){
		free(f->name);
		free(f);
		return NULL;
	}
	memcpy(f->name, name, n);
	f->name[n] = '\0';
	f->namelen = (uint16_t)n;
	f->mode = mode;
	f->path = fs.nextpath++;
	f->nextseq = Firstseq;
	nowts(&f->mtime);
	f->ctime = f->mtime;
	atomic_init(&f->atime, tsns(&f->mtime));
	return f;
}

int
fsmake(const char *owner, uint32_t ownerid, uint64_t maxbytes, uint64_t maxfiles)
{
	pthread_rwlockattr_t a;
	File *r;

	/* a stream of readers must not keep a create out for ever */
	if(pthread_rwlockattr_init(&a) != 0)
		return -1;
#ifdef __GLIBC__
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	if(pthread_rwlock_init(&fs.tree, &a) != 0)
		return -1;
	pthread_rwlockattr_destroy(&a);
	fs.maxbytes = maxbytes;
	fs.maxfiles = maxfiles;
	fs.nextpath = 1;	/* Linux makes inode numbers of qid paths, and 0 is none */
	fs.owner = strintern(owner, strlen(owner));
	if(fs.owner == NULL)
		return -1;
	fs.owneruid = ownerid;
	r = filealloc("/", 1, P9_DMDIR | 0777);
	if(r == NULL)
		return -1;
	r->parent = r;
	r->uid = strincref(fs.owner);
	r->gid = strincref(fs.owner);
	r->muid = strincref(fs.owner);
	atomic_init(&r->ref, 1);
	r->linked = 1;
	fs.root = r;
	return 0;
}

void
fileincref(File *f)
{
	atomic_fetch_add_explicit(&f->ref, 1, memory_order_relaxed);
}

void
filedecref(File *f)
{
	File *p;

	while(f != NULL && atomic_fetch_sub_explicit(&f->ref, 1, memory_order_acq_rel) == 1){
		p = f->parent;
		atomic_fetch_sub_explicit(&fs.bytes, f->length, memory_order_relaxed);
		atomic_fetch_sub_explicit(&fs.nfiles, 1, memory_order_relaxed);
		strdecref(f->uid);
		strdecref(f->gid);
		strdecref(f->muid);
		pthread_rwlock_destroy(&f->lk);
		free(f->data);
		free(f->name);
		free(f);
		f = p;
	}
}

File *
filelookup(File *dir, const char *name, size_t n)
{
	File *f;

	if(fs.hsize == 0)
		return NULL;
	for(f = fs.htab[namehash(dir, name, n) & (fs.hsize - 1)]; f != NULL; f = f->hnext)
		if(f->parent == dir && f->namelen == n && memcmp(f->name, name, n) == 0)
			return f;
	return NULL;
}

static void
hashin(File *f)
{
	size_t h;

	h = namehash(f->parent, f->name, f->namelen) & (fs.hsize - 1);
	f->hnext = fs.htab[h];
	fs.htab[h] = f;
	fs.hcount++;
}

static void
hashout(File *f)
{
	File **l;

	for(l = &fs.htab[namehash(f->parent, f->name, f->namelen) & (fs.hsize - 1)]; *l != NULL; l = &(*l)->hnext)
		if(*l == f){
			*l = f->hnext;
			fs.hcount--;
			return;
		}
}

/* Put f, whose parent and name are set, at the end of its parent's list. */
static void
linkin(File *f)
{
	File *d;

	d = f->parent;
	f->seq = d->nextseq++;
	f->next = NULL;
	f->prev = d->lastchild;
	if(d->lastchild != NULL)
		d->lastchild->next = f;
	else
		d->child = f;
	d->lastchild = f;
	d->nchild++;
	if(f->mode & P9_DMDIR)
		d->nsubdir++;
	f->linked = 1;
	hashin(f);
}

static void
linkout(File *f)
{
	File *d;

	d = f->parent;
	hashout(f);
	if(f->prev != NULL)
		f->prev->next = f->next;
	else
		d->child = f->next;
	if(f->next != NULL)
		f->next->prev = f->prev;
	else
		d->lastchild = f->prev;
	f->prev = f->next = NULL;
	d->nchild--;
	if(f->mode & P9_DMDIR)
		d->nsubdir--;
	f->linked = 0;
}

int
validname(const char *name, size_t n)
{
	if(n == 0 || n > 255)
		return 0;
	if((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	return memchr(name, '/', n) == NULL;
}

void
filetouch(File *f, int what)
{
	struct timespec now;

	nowts(&now);
	if(what & Tatime)
		atomic_store_explicit(&f->atime, tsns(&now), memory_order_relaxed);
	if(what & Tmtime)
		f->mtime = f->ctime = now;
	if(what & Tctime)
		f->ctime = now;
	if(what & Tvers)
		atomic_fetch_add_explicit(&f->vers, 1, memory_order_relaxed);
}

void
fileatime(const File *f, struct timespec *ts)
{
	uint64_t ns;

	ns = atomic_load_explicit(&f->atime, memory_order_relaxed);
	ts->tv_sec = (time_t)(ns / Nsec);
	ts->tv_nsec = (long)(ns % Nsec);
}

void
filesetatime(File *f, uint64_t sec, uint64_t nsec)
{
	uint64_t ns;

	nsec %= Nsec;
	ns = sec < UINT64_MAX / Nsec ? sec * Nsec + nsec : UINT64_MAX;
	atomic_store_explicit(&f->atime, ns, memory_order_relaxed);
}

/*
 * Make the file name in dir, owned by user: on success *fp is the new
 * file with one reference for the caller besides the tree's.
 */
int
filecreate(File *dir, const char *name, size_t n, uint32_t mode, Str *user, File **fp)
{
	File *f;

	if(!(dir->mode & P9_DMDIR))
		return Enotdir;
	if(!dir->linked)
		return Enoent;
	if(!validname(name, n))
		return Ename;
	if(filelookup(dir, name, n) != NULL)
		return Eexist;
	/* only creators, who write fs.tree, raise the count */
	if(atomic_load_explicit(&fs.nfiles, memory_order_relaxed) >= fs.maxfiles)
		return Enofiles;
	if(fs.hcount >= fs.hsize && growfiles() < 0)
		return Enomem;
	f = filealloc(name, n, mode);
	if(f == NULL)
		return Enomem;
	atomic_fetch_add_explicit(&fs.nfiles, 1, memory_order_relaxed);
	f->uid = strincref(user);
	f->gid = strincref(dir->gid);
	f->muid = strincref(user);
	f->parent = dir;
	fileincref(dir);
	atomic_init(&f->ref, 2);
	linkin(f);
	filetouch(dir, Tmtime | Tvers);
	*fp = f;
	return Eok;
}

/* Take f out of the tree; the caller checked permission and emptiness. */
int
fileunlink(File *f)
{
	File *d;

	if(f == fs.root)
		return Eroot;
	if(!f->linked)
		return Enoent;
	if((f->mode & P9_DMDIR) && f->nchild > 0)
		return Enotempty;
	d = f->parent;
	linkout(f);
	filetouch(d, Tmtime | Tvers);
	filedecref(f);
	return Eok;
}

/*
 * Move f to name in newdir.  An existing target is the caller's to
 * have removed; here it is an error.
 */
int
filerename(File *f, File *newdir, const char *name, size_t n)
{
	File *d, *x;
	char *nn;

	if(f == fs.root)
		return Eroot;
	if(!f->linked || !newdir->linked)
		return Enoent;
	if(!validname(name, n))
		return Ename;
	x = filelookup(newdir, name, n);
	if(x == f)
		return Eok;
	if(x != NULL)
		return Eexist;
	/* a directory cannot move under itself */
	for(d = newdir; ; d = d->parent){
		if(d == f)
			return Eloop;
		if(d == fs.root)
			break;
	}
	nn = malloc(n + 1);
	if(nn == NULL)
		return Enomem;
	memcpy(nn, name, n);
	nn[n] = '\0';
	d = f->parent;
	if(newdir == d){
		/* same directory: keep its place, so readdir cursors stay valid */
		hashout(f);
		free(f->name);
		f->name = nn;
		f->namelen = (uint16_t)n;
		hashin(f);
	}else{
		linkout(f);
		free(f->name);
		f->name = nn;
		f->namelen = (uint16_t)n;
		f->parent = newdir;
		fileincref(newdir);
		linkin(f);
		filetouch(newdir, Tmtime | Tvers);
		filedecref(d);	/* still linked, so it lives */
	}
	filetouch(d, Tmtime | Tvers);
	filetouch(f, Tctime);
	return Eok;
}

/* Charge n bytes of data, within the limit: 0, or -1. */
static int
charge(uint64_t n)
{
	uint64_t b;

	b = atomic_load_explicit(&fs.bytes, memory_order_relaxed);
	do{
		if(n > fs.maxbytes - b)
			return -1;
	}while(!atomic_compare_exchange_weak_explicit(&fs.bytes, &b, b + n, memory_order_relaxed, memory_order_relaxed));
	return 0;
}

/*
 * Set the length of f's data, charging or refunding the space; new
 * bytes below zeroend are zeroed (the rest the caller overwrites).
 */
static int
setlen(File *f, uint64_t len, uint64_t zeroend)
{
	uint64_t ncap, more;
	uint8_t *p;

	if(len > f->length){
		more = len - f->length;
		if(charge(more) < 0)
			return Enospc;
		if(len > f->cap){
			ncap = f->cap * 2;
			if(ncap < len)
				ncap = len;
			if(ncap < 64)
				ncap = 64;
			/* do not reserve more than the limit allows */
			if(ncap - len > fs.maxbytes - atomic_load_explicit(&fs.bytes, memory_order_relaxed))
				ncap = len;
			p = NULL;
			if(ncap <= SIZE_MAX)
				p = realloc(f->data, (size_t)ncap);
			if(p == NULL){
				atomic_fetch_sub_explicit(&fs.bytes, more, memory_order_relaxed);
				return Enomem;
			}
			f->data = p;
			f->cap = ncap;
		}
		if(zeroend > len)
			zeroend = len;
		if(zeroend > f->length)
			memset(f->data + f->length, 0, (size_t)(zeroend - f->length));
	}else{
		atomic_fetch_sub_explicit(&fs.bytes, f->length - len, memory_order_relaxed);
		if(len == 0){
			free(f->data);
			f->data = NULL;
			f->cap = 0;
		}else if(f->cap > 65536 && len < f->cap / 4){
			p = realloc(f->data, (size_t)len);
			if(p != NULL){
				f->data = p;
				f->cap = len;
			}
		}
	}
	f->length = len;
	return Eok;
}

int
filesetlen(File *f, uint64_t len)
{
	return setlen(f, len, len);
}

int
filewrite(File *f, uint64_t off, const uint8_t *p, uint32_t n)
{
	int e;

	if(n > UINT64_MAX - off)
		return Efbig;
	if(off + n > f->length){
		e = setlen(f, off + n, off);
		if(e != Eok)
			return e;
	}
	if(n > 0)
		memcpy(f->data + off, p, n);
	return Eok;
}

int
hasperm(const File *f, const Str *user, int p)
{
	uint32_t m, want;

	want = (uint32_t)p;
	m = f->mode & 7;
	if((want & m) == want)
		return 1;
	if(user == f->uid)
		m |= (f->mode >> 6) & 7;
	if(user == f->gid)
		m |= (f->mode >> 3) & 7;
	return (want & m) == want;
}

/* The owner, or the leader of the file's group (whose name it is). */
int
isleader(const File *f, const Str *user)
{
	return user == f->uid || user == f->gid;
}

/* The first child of dir whose cookie is above after. */
File *
filefirst(File *dir, uint64_t after)
{
	File *f;

	for(f = dir->child; f != NULL; f = f->next)
		if(f->seq > after)
			return f;
	return NULL;
}
