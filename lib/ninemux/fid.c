/*
 * Fids: a session's table, and the walk path each keeps for reconnect.
 */
#include "impl.h"


/*
 * Fids.
 */

void
nm_fidput(Nmfid *f)
{
	Nmux *m;

	if(f == NULL || --f->ref > 0)
		return;
	if(f->root && --f->root->ref == 0){
		free(f->root->uname);
		free(f->root->aname);
		free(f->root);
	}
	free(f->path);
	m = f->m;
	if(m->nsparefid >= MAXSPARE){
		free(f);
		return;
	}
	f->hnext = m->sparefid;
	m->sparefid = f;
	m->nsparefid++;
	ASAN_POISON_MEMORY_REGION(f, sizeof *f);
}

Nmfid *
nm_fidfind(Nmsess *s, uint32_t cfid)
{
	Nmfid *f;

	for(f = s->fidtab[cfid & (s->nfidb - 1)]; f != NULL; f = f->hnext)
		if(f->cfid == cfid)
			return f;
	return NULL;
}

static void
fidgrow(Nmsess *s)
{
	Nmfid **t, *f, *next;
	uint32_t n, i;

	n = s->nfidb * 2;
	t = calloc(n, sizeof *t);
	if(t == NULL)
		return;		/* longer chains, still correct */
	for(i = 0; i < s->nfidb; i++)
		for(f = s->fidtab[i]; f != NULL; f = next){
			next = f->hnext;
			f->hnext = t[f->cfid & (n - 1)];
			t[f->cfid & (n - 1)] = f;
		}
	free(s->fidtab);
	s->fidtab = t;
	s->nfidb = n;
}

Nmfid *
nm_fidbare(Nmux *m, uint32_t ufid)
{
	Nmfid *f;

	if((f = m->sparefid) != NULL){
		ASAN_UNPOISON_MEMORY_REGION(f, sizeof *f);
		m->sparefid = f->hnext;
		m->nsparefid--;
		memset(f, 0, sizeof *f);
	}else if((f = calloc(1, sizeof *f)) == NULL)
		return NULL;
	f->m = m;
	f->ufid = ufid;
	f->state = FGONE;
	f->ref = 1;
	f->omode = -1;
	return f;
}

Nmfid *
nm_fidnew(Nmsess *s, uint32_t cfid)
{
	Nmfid *f;
	uint32_t ufid;

	if(nm_ufidalloc(s->up, &ufid) < 0)
		return NULL;
	if((f = nm_fidbare(s->m, ufid)) == NULL){
		nm_ufidfree(s->up, ufid);
		return NULL;
	}
	if((uint32_t)s->nfids >= s->nfidb * 2)
		fidgrow(s);
	f->sess = s;
	f->chan = s->chan;
	f->cfid = cfid;
	f->state = FPEND;
	f->hnext = s->fidtab[cfid & (s->nfidb - 1)];
	s->fidtab[cfid & (s->nfidb - 1)] = f;
	s->nfids++;
	return f;
}

void
nm_fidunlink(Nmfid *f)
{
	Nmsess *s;
	Nmfid **pp;

	s = f->sess;
	if(f->state == FGONE)
		return;
	for(pp = &s->fidtab[f->cfid & (s->nfidb - 1)]; *pp != NULL; pp = &(*pp)->hnext)
		if(*pp == f){
			*pp = f->hnext;
			break;
		}
	f->hnext = NULL;
	f->state = FGONE;
	s->nfids--;
	nm_fidput(f);
}

char *
nm_xstrndup(const char *s, size_t n)
{
	char *p;

	p = malloc(n + 1);
	if(p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
nm_pathwalk(Nmux *m, const char *base, const uint8_t *p, const uint8_t *e, int nwname)
{
	char *path, *q;
	size_t len, n;
	int i;

	if(base == NULL)
		return NULL;
	len = strlen(base);
	if(len > MAXPATH)
		return NULL;
	path = m->pathbuf;
	memcpy(path, base, len + 1);
	for(i = 0; i < nwname; i++){
		if(e - p < 2)
			return NULL;
		n = p9get16(p);
		p += 2;
		if((size_t)(e - p) < n)
			return NULL;
		if(n == 2 && memcmp(p, "..", 2) == 0){
			q = strrchr(path, '/');
			len = q ? (size_t)(q - path) : 0;
			path[len] = '\0';
		}else{
			if(MAXPATH - len < n + 1)
				return NULL;
			path[len++] = '/';
			memcpy(path + len, p, n);
			len += n;
			path[len] = '\0';
		}
		p += n;
	}
	if((q = malloc(len + 1)) != NULL)
		memcpy(q, path, len + 1);
	return q;
}
