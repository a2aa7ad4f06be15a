/*
 * tree.c - the caller's tree as the library sees it: listings and
 * snapshots, which the callbacks fill; fids; and what asks the list
 * and read callbacks: looking a name up, walking up, opening a fid.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impl.h"

/*
 * Listings and snapshots.
 */

static void
listreset(Synlist *l, size_t max, const char *want)
{
	l->n = 0;
	l->nlen = 0;
	l->err = Eok;
	l->max = max;
	l->want = want;
}

void
syn_listfree(Synlist *l)
{
	if(l == NULL)
		return;
	free(l->e);
	free(l->names);
	l->e = NULL;
	l->names = NULL;
	l->cap = l->ncap = 0;
}

static int
validname(const char *name, size_t n)
{
	if(n == 0 || n > MAXNAME || memchr(name, '/', n) != NULL)
		return 0;
	if((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	return 1;
}

int
synadd(Synlist *l, const char *name, uint64_t qid, uint32_t mode)
{
	size_t n, cap, used;
	Ent *e;
	char *s;

	if(l == NULL || name == NULL || l->err != Eok)
		return -1;
	n = strlen(name);
	if(!validname(name, n))
		return -1;
	/* a caller that lists everything for a walk costs no memory */
	if(l->want != NULL && strcmp(name, l->want) != 0)
		return 0;
	used = l->n * sizeof(Ent) + l->nlen;
	if(l->max - used < sizeof(Ent) + n + 1){
		l->err = Efbig;
		return -1;
	}
	if(l->n == l->cap){
		cap = l->cap ? 2 * l->cap : 16;
		if((e = realloc(l->e, cap * sizeof *e)) == NULL){
			l->err = Enomem;
			return -1;
		}
		l->e = e;
		l->cap = cap;
	}
	if(l->ncap - l->nlen < n + 1){
		cap = l->ncap ? 2 * l->ncap : 256;
		while(cap - l->nlen < n + 1)
			cap *= 2;
		if((s = realloc(l->names, cap)) == NULL){
			l->err = Enomem;
			return -1;
		}
		l->names = s;
		l->ncap = cap;
	}
	e = &l->e[l->n++];
	e->qid = qid;
	e->mode = mode;
	e->name = (uint32_t)l->nlen;
	e->namelen = (uint16_t)n;
	memcpy(l->names + l->nlen, name, n + 1);
	l->nlen += n + 1;
	return 0;
}

/* Room for n more bytes in b: 0, or -1 with b->err set. */
static int
bufroom(Synbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if(b->err != Eok)
		return -1;
	if(b->max - b->len < n){
		b->err = Efbig;
		return -1;
	}
	if(b->cap - b->len > n)
		return 0;
	cap = b->cap ? b->cap : 256;
	while(cap - b->len <= n)
		cap *= 2;
	if(cap > b->max + 1)
		cap = b->max + 1;
	if((p = realloc(b->p, cap)) == NULL){
		b->err = Enomem;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int
synput(Synbuf *b, const void *p, size_t n)
{
	if(b == NULL || bufroom(b, n) < 0)
		return -1;
	if(n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int
synprint(Synbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if(b == NULL)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if(n < 0 || bufroom(b, (size_t)n) < 0)
		return -1;
	/* bufroom left room for the NUL vsnprintf writes */
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/*
 * Fids.
 */

Fid *
syn_fidget(Synconn *c, uint32_t num)
{
	Fid *f;

	for(f = c->fids[num & (NHASH - 1)]; f != NULL; f = f->next)
		if(f->num == num)
			return f;
	return NULL;
}

/* A new fid num at path (taken over: freed here on failure), not open. */
Fid *
syn_fidnew(Synconn *c, uint32_t num, char *path, uint64_t qid, uint32_t mode)
{
	Fid *f;

	if((f = calloc(1, sizeof *f)) == NULL){
		free(path);
		return NULL;
	}
	f->num = num;
	f->path = path;
	f->qid = qid;
	f->mode = mode;
	f->omode = -1;
	f->next = c->fids[num & (NHASH - 1)];
	c->fids[num & (NHASH - 1)] = f;
	c->nfids++;
	return f;
}

static void
fidclose(Fid *f)
{
	free(f->data);
	f->data = NULL;
	f->len = 0;
	if(f->dir != NULL){
		syn_listfree(f->dir);
		free(f->dir);
		f->dir = NULL;
	}
	f->omode = -1;
}

void
syn_fiddel(Synconn *c, Fid *f)
{
	Fid **pp;

	for(pp = &c->fids[f->num & (NHASH - 1)]; *pp != f; pp = &(*pp)->next)
		;
	*pp = f->next;
	c->nfids--;
	fidclose(f);
	free(f->path);
	free(f);
}

void
syn_fidsclear(Synconn *c)
{
	int i;

	for(i = 0; i < NHASH; i++)
		while(c->fids[i] != NULL)
			syn_fiddel(c, c->fids[i]);
}

/*
 * The tree, through the caller.
 */

/* The entry name of dir, if it still has one: Eok with *qid and *mode set. */
int
syn_lookup(Synfs *fs, const char *dir, P9str name, uint64_t *qid, uint32_t *mode)
{
	char want[MAXNAME + 1];
	Synlist *l;
	int e;

	if(!validname(name.s, name.n))
		return Enoent;
	memcpy(want, name.s, name.n);
	want[name.n] = 0;
	l = &fs->look;
	listreset(l, fs->conf.maxsnap, want);
	e = fs->conf.list(fs->conf.aux, dir, want, l);
	l->want = NULL;
	if(e < 0)
		return Enoent;
	if(l->err != Eok)
		return l->err;
	if(l->n == 0)
		return Enoent;
	/* the first of that name, should the caller repeat one */
	*qid = l->e[0].qid;
	*mode = l->e[0].mode;
	return Eok;
}

/* The length of the parent's path of path ("/a/b" -> 2, "/a" -> 1). */
static size_t
parentlen(const char *path, size_t len)
{
	while(len > 1 && path[len - 1] != '/')
		len--;
	return len > 1 ? len - 1 : 1;
}

/* Cut path (*len bytes) to its parent: Eok with the parent's entry in *qid and *mode. */
int
syn_walkup(Synfs *fs, char *path, size_t *len, uint64_t *qid, uint32_t *mode)
{
	char dir[MAXPATH + 1];
	size_t plen, glen, start;
	P9str nm;
	int e;

	if(*len == 1)
		return Eok;	/* the root's parent is the root */
	plen = parentlen(path, *len);
	if(plen == 1){
		*qid = fs->conf.rootqid;
		*mode = fs->conf.rootmode;
	}else{
		/* the parent is an entry of the grandparent, which may have lost it */
		glen = parentlen(path, plen);
		start = glen == 1 ? 1 : glen + 1;
		memcpy(dir, path, glen);
		dir[glen] = 0;
		nm.s = path + start;
		nm.n = (uint16_t)(plen - start);
		if((e = syn_lookup(fs, dir, nm, qid, mode)) != Eok)
			return e;
	}
	path[plen] = 0;
	*len = plen;
	return Eok;
}

/*
 * Open f for acc (P9_OREAD, P9_OWRITE, P9_ORDWR or P9_OEXEC), taking
 * its snapshot: the entries of a directory, the contents of a file
 * opened for reading.
 */
int
syn_openfid(Synconn *c, Fid *f, int acc, int trunc, int rclose)
{
	Synfs *fs;
	Synlist *l;
	Synbuf b;
	const char *err;
	int e;

	fs = c->fs;
	if(f->omode != -1)
		return Eopen;
	if(rclose || acc == P9_OEXEC)
		return Eperm;	/* nothing can be removed, nor run */
	if(f->mode & P9_DMDIR){
		if(acc != P9_OREAD || trunc)
			return Eisdir;
		if(!(f->mode & 0444))
			return Eperm;
		if((l = calloc(1, sizeof *l)) == NULL)
			return Enomem;
		listreset(l, fs->conf.maxsnap, NULL);
		e = fs->conf.list(fs->conf.aux, f->path, NULL, l) < 0 ? Enoent : l->err;
		if(e != Eok){
			syn_listfree(l);
			free(l);
			return e;
		}
		f->dir = l;
		f->diri = 0;
		f->diroff = 0;
		f->omode = acc;
		return Eok;
	}
	if(acc != P9_OWRITE && !(f->mode & 0444))
		return Eperm;
	if((acc != P9_OREAD || trunc) && (!(f->mode & 0222) || fs->conf.write == NULL))
		return Eperm;
	if(acc != P9_OWRITE && fs->conf.read != NULL){
		memset(&b, 0, sizeof b);
		b.max = fs->conf.maxsnap;
		err = fs->conf.read(fs->conf.aux, f->path, f->qid, &b);
		if(err != NULL || b.err != Eok){
			free(b.p);
			return err != NULL ? syn_callerr(c, err, 5) : b.err;	/* EIO */
		}
		f->data = b.p;
		f->len = b.len;
	}
	f->omode = acc;
	return Eok;
}
