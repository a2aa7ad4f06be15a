/*
 * Directories and attributes: stat, wstat, getattr, setattr, dirread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impl.h"

/* Fill the strings of d from four views, in one block that d->name points to. */
static int
setstrs(Fsdir *d, P9str name, P9str uid, P9str gid, P9str muid)
{
	char *p;

	p = malloc((size_t)name.n + uid.n + gid.n + muid.n + 4);
	if(p == NULL){
		fswerrstr("out of memory");
		return -1;
	}
	d->name = p;
	memcpy(p, name.s != NULL ? name.s : "", name.n);
	p += name.n;
	*p++ = '\0';
	d->uid = p;
	memcpy(p, uid.s != NULL ? uid.s : "", uid.n);
	p += uid.n;
	*p++ = '\0';
	d->gid = p;
	memcpy(p, gid.s != NULL ? gid.s : "", gid.n);
	p += gid.n;
	*p++ = '\0';
	d->muid = p;
	memcpy(p, muid.s != NULL ? muid.s : "", muid.n);
	p[muid.n] = '\0';
	return 0;
}

static int
fromdir(Fsdir *d, const P9dir *p)
{
	memset(d, 0, sizeof *d);
	d->type = p->type;
	d->dev = p->dev;
	d->qid = p->qid;
	d->mode = p->mode;
	d->atime = p->atime;
	d->mtime = p->mtime;
	d->length = p->length;
	d->nlink = 1;
	return setstrs(d, p->name, p->uid, p->gid, p->muid);
}

static int
fromattr(Fsdir *d, const P9attr *a, const char *name)
{
	char uid[16], gid[16];

	memset(d, 0, sizeof *d);
	d->qid = a->qid;
	d->umode = a->mode;
	d->mode = fsumode(a->mode);
	d->atime = (uint32_t)a->atime_sec;
	d->mtime = (uint32_t)a->mtime_sec;
	d->length = a->size;
	d->nlink = a->nlink;
	snprintf(uid, sizeof uid, "%" PRIu32, a->uid);
	snprintf(gid, sizeof gid, "%" PRIu32, a->gid);
	return setstrs(d, p9str(name), p9str(uid), p9str(gid), p9str(""));
}

void
fsdirfree(Fsdir *d, long n)
{
	long i;

	if(d == NULL)
		return;
	for(i = 0; i < n; i++)
		free(d[i].name);
	free(d);
}

int
fsgetattr(CFid *fid, uint64_t mask, P9attr *a)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;

	if(fs->dialect != P9_2000L){
		fswerrstr("getattr needs 9P2000.L");
		return -1;
	}
	memset(&tx, 0, sizeof tx);
	tx.type = Tgetattr;
	tx.fid = fid->fid;
	tx.mask = mask;
	if(fsrpc(fs, &tx, &rx, &rm) < 0){
		msgfree(rm);
		return -1;
	}
	*a = rx.attr;
	msgfree(rm);
	return 0;
}

int
fssetattr(CFid *fid, const P9setattr *sa)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;

	if(fs->dialect != P9_2000L){
		fswerrstr("setattr needs 9P2000.L");
		return -1;
	}
	memset(&tx, 0, sizeof tx);
	tx.type = Tsetattr;
	tx.fid = fid->fid;
	tx.sattr = *sa;
	if(fsrpc(fs, &tx, &rx, &rm) < 0){
		msgfree(rm);
		return -1;
	}
	msgfree(rm);
	return 0;
}

/* The 9P2000.L entry of fid, named name. */
static Fsdir *
lgetstat(CFid *fid, const char *name)
{
	P9attr a;
	Fsdir *d;

	if(fsgetattr(fid, FS_GETATTR_BASIC, &a) < 0)
		return NULL;
	d = malloc(sizeof *d);
	if(d == NULL){
		fswerrstr("out of memory");
		return NULL;
	}
	if(fromattr(d, &a, name) < 0){
		free(d);
		return NULL;
	}
	return d;
}

Fsdir *
fsdirfstat(CFid *fid)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;
	P9dir pd;
	Fsdir *d;

	if(fs->dialect == P9_2000L)
		return lgetstat(fid, "");
	memset(&tx, 0, sizeof tx);
	tx.type = Tstat;
	tx.fid = fid->fid;
	if(fsrpc(fs, &tx, &rx, &rm) < 0){
		msgfree(rm);
		return NULL;
	}
	if(p9dirdecode(rx.stat, rx.nstat, fs->dialect, &pd) != (long)rx.nstat){
		fswerrstr("bad stat entry");
		msgfree(rm);
		return NULL;
	}
	d = malloc(sizeof *d);
	if(d == NULL || fromdir(d, &pd) < 0){
		free(d);
		msgfree(rm);
		fswerrstr("out of memory");
		return NULL;
	}
	msgfree(rm);
	return d;
}

Fsdir *
fsdirstat(CFid *root, const char *path)
{
	CFid *f;
	Fsdir *d;
	const char *name;
	size_t n;

	if((f = fswalk(root, path)) == NULL)
		return NULL;
	if(f->fs->dialect == P9_2000L){
		/* getattr has no name: take the last element of the path */
		n = strlen(path);
		while(n > 0 && path[n - 1] == '/')
			n--;
		name = path + n;
		while(name > path && name[-1] != '/')
			name--;
		{
			char buf[256];

			snprintf(buf, sizeof buf, "%.*s", (int)(path + n - name), name);
			d = lgetstat(f, n == 0 ? "/" : buf);
		}
	}else
		d = fsdirfstat(f);
	if(d == NULL){
		char save[256];

		strncpy(save, fserrstr(), sizeof save - 1);
		save[sizeof save - 1] = '\0';
		fsclose(f);
		fswerrstr("%s", save);
		return NULL;
	}
	fsclose(f);
	return d;
}

void
fsnulldir(Fsdir *d)
{
	memset(d, 0xFF, sizeof *d);
	d->name = d->uid = d->gid = d->muid = NULL;
}

int
fsdirfwstat(CFid *fid, const Fsdir *d)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;
	P9dir pd;
	uint8_t *buf;
	size_t n;

	if(fs->dialect == P9_2000L){
		fswerrstr("wstat needs 9P2000");
		return -1;
	}
	memset(&pd, 0, sizeof pd);
	pd.type = d->type;
	pd.dev = d->dev;
	pd.qid = d->qid;
	pd.mode = d->mode;
	pd.atime = d->atime;
	pd.mtime = d->mtime;
	pd.length = d->length;
	pd.name = p9str(d->name);
	pd.uid = p9str(d->uid);
	pd.gid = p9str(d->gid);
	pd.muid = p9str(d->muid);
	n = p9dirsize(&pd, fs->dialect);
	if(n == 0 || n > fs->msize || (buf = malloc(n)) == NULL){
		fswerrstr("cannot pack stat entry");
		return -1;
	}
	if(p9direncode(buf, n, &pd, fs->dialect) != n){
		free(buf);
		fswerrstr("cannot pack stat entry");
		return -1;
	}
	memset(&tx, 0, sizeof tx);
	tx.type = Twstat;
	tx.fid = fid->fid;
	tx.nstat = (uint16_t)n;
	tx.stat = buf;
	if(fsrpc(fs, &tx, &rx, &rm) < 0){
		free(buf);
		msgfree(rm);
		return -1;
	}
	free(buf);
	msgfree(rm);
	return 0;
}

/* Append one entry to a growing array. */
static Fsdir *
grow(Fsdir **d, long *n, long *a)
{
	Fsdir *p;
	long na;

	if(*n == *a){
		na = *a ? 2 * *a : 16;
		p = realloc(*d, (size_t)na * sizeof *p);
		if(p == NULL){
			fswerrstr("out of memory");
			return NULL;
		}
		*d = p;
		*a = na;
	}
	return &(*d)[(*n)++];
}

/* One Tread of a 9P2000 directory: entries appended, 0 at the end, or -1. */
static long
dirread9p(CFid *fid, Fsdir **d, long *n, long *a)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;
	P9dir pd;
	Fsdir *e;
	long m, k;
	uint32_t off;

	memset(&tx, 0, sizeof tx);
	tx.type = Tread;
	tx.fid = fid->fid;
	pthread_mutex_lock(&fid->lk);
	tx.offset = fid->offset;
	pthread_mutex_unlock(&fid->lk);
	tx.count = fidiomax(fid, 0);
	if(fsrpc(fs, &tx, &rx, &rm) < 0){
		msgfree(rm);
		return -1;
	}
	k = 0;
	for(off = 0; off < rx.count; off += (uint32_t)m){
		m = p9dirdecode(rx.data + off, rx.count - off, fs->dialect, &pd);
		if(m <= 0){
			fswerrstr("bad directory entry: %s", p9strerror((int)m));
			msgfree(rm);
			return -1;
		}
		if((e = grow(d, n, a)) == NULL || fromdir(e, &pd) < 0){
			if(e != NULL)
				(*n)--;
			msgfree(rm);
			return -1;
		}
		k++;
	}
	pthread_mutex_lock(&fid->lk);
	fid->offset += rx.count;
	pthread_mutex_unlock(&fid->lk);
	msgfree(rm);
	return rx.count == 0 ? 0 : k;
}

/* One Treaddir of a 9P2000.L directory. */
static long
dirreadl(CFid *fid, Fsdir **d, long *n, long *a)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;
	P9dirent de;
	Fsdir *e;
	long m, k;
	uint32_t off;
	uint64_t next;

	memset(&tx, 0, sizeof tx);
	tx.type = Treaddir;
	tx.fid = fid->fid;
	pthread_mutex_lock(&fid->lk);
	tx.offset = fid->offset;
	pthread_mutex_unlock(&fid->lk);
	next = tx.offset;
	tx.count = fidiomax(fid, 0);
	if(fsrpc(fs, &tx, &rx, &rm) < 0){
		msgfree(rm);
		return -1;
	}
	k = 0;
	for(off = 0; off < rx.count; off += (uint32_t)m){
		m = p9direntdecode(rx.data + off, rx.count - off, &de);
		if(m <= 0){
			fswerrstr("bad directory entry: %s", p9strerror((int)m));
			msgfree(rm);
			return -1;
		}
		if((e = grow(d, n, a)) == NULL){
			msgfree(rm);
			return -1;
		}
		memset(e, 0, sizeof *e);
		e->qid = de.qid;
		e->mode = de.qid.type & P9_QTDIR ? P9_DMDIR : 0;
		if(de.qid.type & P9_QTSYMLINK)
			e->mode |= P9_DMSYMLINK;
		if(setstrs(e, de.name, p9str(""), p9str(""), p9str("")) < 0){
			(*n)--;
			msgfree(rm);
			return -1;
		}
		next = de.offset;
		k++;
	}
	pthread_mutex_lock(&fid->lk);
	fid->offset = next;
	pthread_mutex_unlock(&fid->lk);
	msgfree(rm);
	return rx.count == 0 ? 0 : k;
}

static long
dirread(CFid *fid, Fsdir **d, int all)
{
	long n, a, r;

	*d = NULL;
	n = a = 0;
	do{
		if(fid->fs->dialect == P9_2000L)
			r = dirreadl(fid, d, &n, &a);
		else
			r = dirread9p(fid, d, &n, &a);
		if(r < 0){
			fsdirfree(*d, n);
			*d = NULL;
			return -1;
		}
	}while(r > 0 && (all || n == 0));
	if(n == 0){
		free(*d);
		*d = NULL;
	}
	return n;
}

long
fsdirread(CFid *fid, Fsdir **d)
{
	return dirread(fid, d, 0);
}

long
fsdirreadall(CFid *fid, Fsdir **d)
{
	return dirread(fid, d, 1);
}
