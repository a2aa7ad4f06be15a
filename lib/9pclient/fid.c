/*
 * Fids: auth, attach, walk, open, create, read, write, remove, clunk.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "impl.h"

/* Linux open flags of 9P2000.L Tlopen and Tlcreate. */
enum {
	L_RDONLY	= 00,
	L_WRONLY	= 01,
	L_RDWR		= 02,
	L_CREAT		= 0100,
	L_EXCL		= 0200,
	L_TRUNC		= 01000,
	L_DIRECTORY	= 0200000,
};

/* Unix file types, as 9P2000.L modes carry them. */
enum {
	L_IFMT	= 0170000,
	L_IFDIR	= 0040000,
	L_IFLNK	= 0120000,
};

static uint32_t
lflags(int mode)
{
	uint32_t f;

	switch(mode & 3){
	case P9_OWRITE:
		f = L_WRONLY;
		break;
	case P9_ORDWR:
		f = L_RDWR;
		break;
	default:
		f = L_RDONLY;
		break;
	}
	if(mode & P9_OTRUNC)
		f |= L_TRUNC;
	return f;
}

static uint32_t
nuname(void)
{
	return (uint32_t)getuid();
}

CFsys *
fsfsys(CFid *fid)
{
	return fid->fs;
}

Qid
fsqid(CFid *fid)
{
	return fid->qid;
}

uint32_t
fsiounit(CFid *fid)
{
	return fid->iounit;
}

int
fsmode(CFid *fid)
{
	return fid->mode;
}

void
fsseek(CFid *fid, uint64_t off)
{
	pthread_mutex_lock(&fid->lk);
	fid->offset = off;
	pthread_mutex_unlock(&fid->lk);
}

/* After a creating request failed: the number goes back, or to the flush that owns it now. */
static void
dropnew(CFid *f, int r)
{
	if(r == FSABANDONED)
		fidfreehandle(f);
	else
		fidfree(f);
}

CFid *
fsauth(CFsys *fs, const char *uname, const char *aname)
{
	Fcall tx, rx;
	Msg *rm;
	CFid *f;
	int r;

	if((f = fidalloc(fs)) == NULL)
		return NULL;
	memset(&tx, 0, sizeof tx);
	tx.type = Tauth;
	tx.afid = f->fid;
	tx.uname = p9str(uname);
	tx.aname = p9str(aname);
	tx.nuname = fs->dialect == P9_2000 ? P9_NOFID : nuname();
	if((r = fsrpc(fs, &tx, &rx, &rm)) < 0){
		msgfree(rm);
		dropnew(f, r);
		return NULL;
	}
	f->qid = rx.qid;
	f->mode = P9_ORDWR;
	msgfree(rm);
	return f;
}

CFid *
fsattach(CFsys *fs, CFid *afid, const char *uname, const char *aname)
{
	Fcall tx, rx;
	Msg *rm;
	CFid *f;
	int r;

	if((f = fidalloc(fs)) == NULL)
		return NULL;
	memset(&tx, 0, sizeof tx);
	tx.type = Tattach;
	tx.fid = f->fid;
	tx.afid = afid != NULL ? afid->fid : P9_NOFID;
	tx.uname = p9str(uname);
	tx.aname = p9str(aname);
	tx.nuname = fs->dialect == P9_2000 ? P9_NOFID : nuname();
	if((r = fsrpc(fs, &tx, &rx, &rm)) < 0){
		msgfree(rm);
		dropnew(f, r);
		return NULL;
	}
	f->qid = rx.qid;
	msgfree(rm);
	return f;
}

CFid *
fsmount(CFsys *fs, const char *uname, const char *aname, Fsauthfn auth, void *arg)
{
	CFid *afid, *root;

	afid = NULL;
	if(auth != NULL){
		if((afid = fsauth(fs, uname, aname)) == NULL)
			return NULL;
		if(auth(afid, arg) < 0){
			char save[256];

			strncpy(save, fserrstr(), sizeof save - 1);
			save[sizeof save - 1] = '\0';
			fsclose(afid);
			fswerrstr("%s", save);
			return NULL;
		}
	}
	root = fsattach(fs, afid, uname, aname);
	if(afid != NULL){
		char save[256];

		/* keep attach's error, not clunk's */
		strncpy(save, fserrstr(), sizeof save - 1);
		save[sizeof save - 1] = '\0';
		fsclose(afid);
		if(root == NULL)
			fswerrstr("%s", save);
	}
	return root;
}

/*
 * One Twalk of up to 16 elements from fid to newfid: 0 with *q the qid
 * reached, 1 if the walk fell short (error set), or -1 / FSABANDONED.
 */
static int
walk1(CFsys *fs, uint32_t fid, uint32_t newfid, char **el, int n, Qid *q)
{
	Fcall tx, rx;
	Msg *rm;
	int i, r;

	memset(&tx, 0, sizeof tx);
	tx.type = Twalk;
	tx.fid = fid;
	tx.newfid = newfid;
	tx.nwname = (uint16_t)n;
	for(i = 0; i < n; i++)
		tx.wname[i] = p9str(el[i]);
	if((r = fsrpc(fs, &tx, &rx, &rm)) < 0){
		msgfree(rm);
		return r;
	}
	if(rx.nwqid != n){
		fswerrstr("%s: file does not exist", el[rx.nwqid < n ? rx.nwqid : 0]);
		msgfree(rm);
		return 1;
	}
	if(n > 0)
		*q = rx.wqid[n - 1];
	msgfree(rm);
	return 0;
}

CFid *
fswalk(CFid *fid, const char *path)
{
	CFsys *fs = fid->fs;
	CFid *f;
	char *buf, *p, *el[P9_MAXWELEM];
	int n, r, first;
	Qid q;

	buf = strdup(path != NULL ? path : "");
	if(buf == NULL){
		fswerrstr("out of memory");
		return NULL;
	}
	if((f = fidalloc(fs)) == NULL){
		free(buf);
		return NULL;
	}
	q = fid->qid;
	first = 1;
	p = buf;
	for(;;){
		n = 0;
		while(n < P9_MAXWELEM){
			while(*p == '/')
				p++;
			if(*p == '\0')
				break;
			el[n] = p;
			p += strcspn(p, "/");
			if(*p != '\0')
				*p++ = '\0';
			if(strcmp(el[n], ".") != 0)
				n++;
		}
		while(*p == '/')
			p++;
		if(n == 0 && !first)
			break;
		r = walk1(fs, first ? fid->fid : f->fid, f->fid, el, n, &q);
		if(r != 0){
			free(buf);
			if(first)
				dropnew(f, r < 0 ? r : -1);
			else
				fsclose(f);
			return NULL;
		}
		first = 0;
		if(*p == '\0')
			break;
	}
	free(buf);
	f->qid = q;
	return f;
}

int
fsfopen(CFid *fid, int mode)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;

	memset(&tx, 0, sizeof tx);
	tx.fid = fid->fid;
	if(fs->dialect == P9_2000L){
		tx.type = Tlopen;
		tx.flags = lflags(mode);
	}else{
		tx.type = Topen;
		tx.mode = (uint32_t)mode & 0xFF;
	}
	if(fsrpc(fs, &tx, &rx, &rm) < 0){
		msgfree(rm);
		return -1;
	}
	fid->qid = rx.qid;
	fid->iounit = rx.iounit;
	fid->mode = mode;
	fsseek(fid, 0);
	msgfree(rm);
	return 0;
}

int
fsfcreate(CFid *fid, const char *name, int mode, uint32_t perm)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;
	char *el[1];
	Qid q;
	int r;

	memset(&tx, 0, sizeof tx);
	tx.fid = fid->fid;
	tx.name = p9str(name);
	if(fs->dialect != P9_2000L){
		tx.type = Tcreate;
		tx.perm = perm;
		tx.mode = (uint32_t)mode & 0xFF;
	}else if(perm & P9_DMDIR){
		/* Tmkdir makes it; then the directory fid moves into it and opens */
		tx.type = Tmkdir;
		tx.dfid = fid->fid;
		tx.mode = perm & 0777;
		tx.gid = (uint32_t)getegid();
		if(fsrpc(fs, &tx, &rx, &rm) < 0){
			msgfree(rm);
			return -1;
		}
		msgfree(rm);
		el[0] = (char*)name;
		r = walk1(fs, fid->fid, fid->fid, el, 1, &q);
		if(r != 0)
			return -1;
		fid->qid = q;
		return fsfopen(fid, P9_OREAD);
	}else{
		tx.type = Tlcreate;
		tx.flags = lflags(mode) | L_CREAT | L_EXCL;
		tx.mode = perm & 0777;
		tx.gid = (uint32_t)getegid();
	}
	if(fsrpc(fs, &tx, &rx, &rm) < 0){
		msgfree(rm);
		return -1;
	}
	fid->qid = rx.qid;
	fid->iounit = rx.iounit;
	fid->mode = mode;
	fsseek(fid, 0);
	msgfree(rm);
	return 0;
}

CFid *
fsopen(CFid *root, const char *path, int mode)
{
	CFid *f;

	if((f = fswalk(root, path)) == NULL)
		return NULL;
	if(fsfopen(f, mode) < 0){
		char save[256];

		strncpy(save, fserrstr(), sizeof save - 1);
		save[sizeof save - 1] = '\0';
		fsclose(f);
		fswerrstr("%s", save);
		return NULL;
	}
	return f;
}

CFid *
fscreate(CFid *root, const char *path, int mode, uint32_t perm)
{
	char *buf, *name, *s;
	const char *dir;
	CFid *f;

	buf = strdup(path != NULL ? path : "");
	if(buf == NULL){
		fswerrstr("out of memory");
		return NULL;
	}
	/* the last element is the name to create, the rest the directory */
	for(s = buf + strlen(buf); s > buf && s[-1] == '/'; )
		*--s = '\0';
	if((s = strrchr(buf, '/')) != NULL){
		*s = '\0';
		dir = buf;
		name = s + 1;
	}else{
		dir = "";
		name = buf;
	}
	if(*name == '\0'){
		fswerrstr("create: empty name");
		free(buf);
		return NULL;
	}
	f = fswalk(root, dir);
	if(f != NULL && fsfcreate(f, name, mode, perm) < 0){
		char save[256];

		strncpy(save, fserrstr(), sizeof save - 1);
		save[sizeof save - 1] = '\0';
		fsclose(f);
		fswerrstr("%s", save);
		f = NULL;
	}
	free(buf);
	return f;
}

int
fsclose(CFid *fid)
{
	CFsys *fs;
	Fcall tx, rx;
	Msg *rm;
	int r;

	if(fid == NULL)
		return 0;
	fs = fid->fs;
	memset(&tx, 0, sizeof tx);
	tx.type = Tclunk;
	tx.fid = fid->fid;
	r = fsrpc(fs, &tx, &rx, &rm);
	msgfree(rm);
	if(r == FSABANDONED){
		/* the flush owns the number now */
		fidfreehandle(fid);
		return -1;
	}
	fidfree(fid);
	return r < 0 ? -1 : 0;
}

int
fsfremove(CFid *fid)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;
	int r;

	memset(&tx, 0, sizeof tx);
	tx.type = Tremove;
	tx.fid = fid->fid;
	r = fsrpc(fs, &tx, &rx, &rm);
	msgfree(rm);
	if(r == FSABANDONED){
		fidfreehandle(fid);
		return -1;
	}
	fidfree(fid);
	return r < 0 ? -1 : 0;
}

int
fsremove(CFid *root, const char *path)
{
	CFid *f;

	if((f = fswalk(root, path)) == NULL)
		return -1;
	return fsfremove(f);
}

/* One Tread: bytes read, or -1. */
static long
read1(CFid *fid, uint8_t *buf, uint32_t n, uint64_t off)
{
	CFsys *fs = fid->fs;
	Fcall tx, rx;
	Msg *rm;

	memset(&tx, 0, sizeof tx);
	tx.type = Tread;
	tx.fid = fid->fid;
	tx.offset = off;
	tx.count = n;
	if(fsrpc(fs, &tx, &rx, &rm) < 0){
		msgfree(rm);
		return -1;
	}
	if(rx.count > n){
		fswerrstr("server returned %u bytes for a read of %u", rx.count, n);
		msgfree(rm);
		return -1;
	}
	if(rx.count > 0)
		memcpy(buf, rx.data, rx.count);
	msgfree(rm);
	return (long)rx.count;
}

long
fspread(CFid *fid, void *v, long n, uint64_t off)
{
	uint8_t *buf = v;
	uint32_t max, want;
	long done, got;

	if(n < 0){
		fswerrstr("negative count");
		return -1;
	}
	max = fidiomax(fid, 0);
	done = 0;
	while(done < n){
		want = n - done < (long)max ? (uint32_t)(n - done) : max;
		got = read1(fid, buf + done, want, off + (uint64_t)done);
		if(got < 0)
			return done > 0 ? done : -1;
		done += got;
		if((uint32_t)got < want)
			break;
	}
	return done;
}

long
fspwrite(CFid *fid, const void *v, long n, uint64_t off)
{
	CFsys *fs = fid->fs;
	const uint8_t *buf = v;
	Fcall tx, rx;
	Msg *rm;
	uint32_t max, want;
	long done;

	if(n < 0){
		fswerrstr("negative count");
		return -1;
	}
	max = fidiomax(fid, 1);
	done = 0;
	do{
		want = n - done < (long)max ? (uint32_t)(n - done) : max;
		memset(&tx, 0, sizeof tx);
		tx.type = Twrite;
		tx.fid = fid->fid;
		tx.offset = off + (uint64_t)done;
		tx.count = want;
		tx.data = buf + done;
		if(fsrpc(fs, &tx, &rx, &rm) < 0){
			msgfree(rm);
			return done > 0 ? done : -1;
		}
		msgfree(rm);
		if(rx.count > want){
			fswerrstr("server wrote %u bytes of %u", rx.count, want);
			return -1;
		}
		done += rx.count;
		if(rx.count < want){
			if(done == 0 || rx.count == 0){
				fswerrstr("short write");
				return done > 0 ? done : -1;
			}
			break;
		}
	}while(done < n);
	return done;
}

long
fsread(CFid *fid, void *buf, long n)
{
	uint64_t off;
	long r;

	pthread_mutex_lock(&fid->lk);
	off = fid->offset;
	pthread_mutex_unlock(&fid->lk);
	r = fspread(fid, buf, n, off);
	if(r > 0){
		pthread_mutex_lock(&fid->lk);
		fid->offset = off + (uint64_t)r;
		pthread_mutex_unlock(&fid->lk);
	}
	return r;
}

long
fswrite(CFid *fid, const void *buf, long n)
{
	uint64_t off;
	long r;

	pthread_mutex_lock(&fid->lk);
	off = fid->offset;
	pthread_mutex_unlock(&fid->lk);
	r = fspwrite(fid, buf, n, off);
	if(r > 0){
		pthread_mutex_lock(&fid->lk);
		fid->offset = off + (uint64_t)r;
		pthread_mutex_unlock(&fid->lk);
	}
	return r;
}

long
fsreadn(CFid *fid, void *v, long n)
{
	uint8_t *buf = v;
	long done, r;

	done = 0;
	while(done < n){
		r = fsread(fid, buf + done, n - done);
		if(r < 0)
			return done > 0 ? done : -1;
		if(r == 0)
			break;
		done += r;
	}
	return done;
}

uint32_t
fsumode(uint32_t umode)
{
	uint32_t m;

	m = umode & 0777;
	if((umode & L_IFMT) == L_IFDIR)
		m |= P9_DMDIR;
	if((umode & L_IFMT) == L_IFLNK)
		m |= P9_DMSYMLINK;
	return m;
}
