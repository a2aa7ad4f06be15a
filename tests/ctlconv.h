/*
 * ctlconv.h - read and write 9mux's control tree from a C test, over
 * raw 9P2000 with p9conv.h: a whole file, a directory's names, one
 * write, and the value of a "key value" line.  Header-only, after
 * tap.h and p9conv.h.
 */
#ifndef CTLCONV_H
#define CTLCONV_H

static char ctl_errbuf[256];

/* The error c->r carries, or a word for what went wrong instead. */
static inline const char *
ctl_why(Pconn *c, int r)
{
	if(r >= 0 && c->r.type == Rerror)
		snprintf(ctl_errbuf, sizeof ctl_errbuf, "%.*s", (int)c->r.ename.n, c->r.ename.s);
	else if(r == Rwalk)
		snprintf(ctl_errbuf, sizeof ctl_errbuf, "file does not exist");
	else
		snprintf(ctl_errbuf, sizeof ctl_errbuf, "no reply (%d)", r);
	return ctl_errbuf;
}

/* A session on the tree at sock with path walked to fid 1 and opened with mode; NULL (err in ctl_errbuf) on failure. */
static inline Pconn *
ctl_open(const char *sock, const char *path, int mode)
{
	Pconn *c;
	Fcall t;
	int r, n;

	if((c = pc_open(sock, P9_2000)) == NULL){
		snprintf(ctl_errbuf, sizeof ctl_errbuf, "cannot dial %s", sock);
		return NULL;
	}
	if((r = pc_version(c, 65536, "9P2000")) != Rversion || (r = pc_attach(c, 1, 0, "ctltest")) != Rattach){
		ctl_why(c, r);
		pc_close(c);
		return NULL;
	}
	pc_mkwalk(&t, 2, 0, 1, path);
	n = t.nwname;
	if((r = pc_rpc(c, &t, 5000)) != Rwalk || c->r.nwqid != n || (r = pc_open1(c, 3, 1, (uint32_t)mode)) != Ropen){
		ctl_why(c, r);
		pc_close(c);
		return NULL;
	}
	return c;
}

/* The whole of the file at path (malloc'd, NUL-terminated), or NULL with the error in ctl_errbuf. */
static inline char *
ctl_read(const char *sock, const char *path)
{
	Pconn *c;
	Fcall t;
	char *text, *p;
	size_t len;
	uint64_t off;
	int r;

	if((c = ctl_open(sock, path, P9_OREAD)) == NULL)
		return NULL;
	text = NULL;
	len = 0;
	for(off = 0;; off += c->r.count){
		pc_mkread(&t, 4, 1, off, 8192);
		if((r = pc_rpc(c, &t, 5000)) != Rread){
			ctl_why(c, r);
			free(text);
			pc_close(c);
			return NULL;
		}
		if(c->r.count == 0)
			break;
		p = realloc(text, len + c->r.count + 1);
		if(p == NULL)
			abort();
		text = p;
		memcpy(text + len, c->r.data, c->r.count);
		len += c->r.count;
	}
	pc_close(c);
	if(text == NULL)
		text = calloc(1, 1);
	else
		text[len] = '\0';
	return text;
}

/* The names in the directory at path, one a line in the server's order (malloc'd), or NULL. */
static inline char *
ctl_ls(const char *sock, const char *path)
{
	Pconn *c;
	Fcall t;
	P9dir d;
	char *names, *p;
	size_t len, k;
	uint64_t off;
	long n;
	int r;

	if((c = ctl_open(sock, path, P9_OREAD)) == NULL)
		return NULL;
	names = calloc(1, 1);
	len = 0;
	for(off = 0;; off += c->r.count){
		pc_mkread(&t, 4, 1, off, 8192);
		if((r = pc_rpc(c, &t, 5000)) != Rread){
			ctl_why(c, r);
			free(names);
			pc_close(c);
			return NULL;
		}
		if(c->r.count == 0)
			break;
		for(k = 0; k < c->r.count; k += (size_t)n){
			n = p9dirdecode(c->r.data + k, c->r.count - k, P9_2000, &d);
			if(n <= 0)
				break;
			if((p = realloc(names, len + d.name.n + 2)) == NULL)
				abort();
			names = p;
			memcpy(names + len, d.name.s, d.name.n);
			len += d.name.n;
			names[len++] = '\n';
			names[len] = '\0';
		}
	}
	pc_close(c);
	return names;
}

/* Write text to the file at path in one Twrite: NULL, or the error. */
static inline const char *
ctl_write(const char *sock, const char *path, const char *text)
{
	Pconn *c;
	Fcall t;
	int r;

	if((c = ctl_open(sock, path, P9_OWRITE)) == NULL)
		return ctl_errbuf;
	memset(&t, 0, sizeof t);
	t.type = Twrite;
	t.tag = 4;
	t.fid = 1;
	t.count = (uint32_t)strlen(text);
	t.data = (const uint8_t *)text;
	r = pc_rpc(c, &t, 10000);
	if(r != Rwrite){
		ctl_why(c, r);
		pc_close(c);
		return ctl_errbuf;
	}
	pc_close(c);
	return NULL;
}

/* The number of the line "key value" in text, or -1. */
static inline long long
ctl_get(const char *text, const char *key)
{
	const char *p;
	size_t n;

	if(text == NULL)
		return -1;
	n = strlen(key);
	for(p = text; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
		if(strncmp(p, key, n) == 0 && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

/* The number in the file at path (its first line), or -1. */
static inline long long
ctl_num(const char *sock, const char *path)
{
	char *s;
	long long v;

	if((s = ctl_read(sock, path)) == NULL || *s < '0' || *s > '9'){
		free(s);
		return -1;
	}
	v = strtoll(s, NULL, 10);
	free(s);
	return v;
}

/* Whether the name is a line of names. */
static inline int
ctl_has(const char *names, const char *name)
{
	const char *p;
	size_t n;

	n = strlen(name);
	for(p = names; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
		if(strncmp(p, name, n) == 0 && p[n] == '\n')
			return 1;
	return 0;
}

#endif
