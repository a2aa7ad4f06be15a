/*
 * The flags, key files and pins: text from the user, checked here
 * before OpenSSL sees any of it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "impl.h"

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if(errlen > 0){
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		tlsoneline(err);
	}
	return -1;
}

void
tlsoneline(char *s)
{
	for(; *s != '\0'; s++)
		if((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int
hexval(int c)
{
	if(c >= '0' && c <= '9')
		return c - '0';
	if(c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if(c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
isblank1(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int
tlsparsepin(const char *s, uint8_t out[32])
{
	int i, hi, lo;

	if(strncmp(s, "sha256:", 7) != 0 || strlen(s) != TLS_PINLEN)
		return -1;
	s += 7;
	for(i = 0; i < 32; i++){
		hi = hexval((unsigned char)s[2*i]);
		lo = hexval((unsigned char)s[2*i + 1]);
		if(hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void
tlsfreekeys(Key *keys, int n)
{
	if(keys == NULL)
		return;
	OPENSSL_cleanse(keys, (size_t)n * sizeof *keys);
	free(keys);
}

/*
 * One line's fields, comment stripped: their number (at most 3 are
 * recorded, so that "too many" can be told).
 */
static int
fields(const char *p, const char *end, const char *f[3], size_t flen[3])
{
	const char *s;
	int n;

	n = 0;
	for(;;){
		while(p < end && isblank1((unsigned char)*p))
			p++;
		if(p == end || *p == '#')
			return n;
		s = p;
		while(p < end && !isblank1((unsigned char)*p) && *p != '#')
			p++;
		if(n < 3){
			f[n] = s;
			flen[n] = (size_t)(p - s);
		}
		n++;
	}
}

int
tlsparsekeys(const char *name, const char *text, size_t len, Key **keysp, char *err, size_t errlen)
{
	const char *p, *end, *eol, *f[3];
	size_t flen[3], i;
	Key *keys, *k, *nk;
	int n, cap, line, nf, j, hi, lo;

	*keysp = NULL;
	keys = NULL;
	n = cap = 0;
	p = text;
	end = text + len;
	for(line = 1; p < end; line++){
		eol = memchr(p, '\n', (size_t)(end - p));
		if(eol == NULL)
			eol = end;
		nf = fields(p, eol, f, flen);
		p = eol < end ? eol + 1 : end;
		if(nf == 0)
			continue;
		if(nf != 2){
			fail(err, errlen, "key file %s, line %d: want \"identity hexkey\"", name, line);
			goto bad;
		}
		if(flen[0] > MAXID){
			fail(err, errlen, "key file %s, line %d: identity longer than %d bytes", name, line, MAXID);
			goto bad;
		}
		for(i = 0; i < flen[0]; i++)
			if((unsigned char)f[0][i] < 0x21 || (unsigned char)f[0][i] > 0x7e){
				fail(err, errlen, "key file %s, line %d: identity is not printable ASCII", name, line);
				goto bad;
			}
		/* the key itself never goes into a message */
		for(i = 0; i < flen[1]; i++)
			if(hexval((unsigned char)f[1][i]) < 0){
				fail(err, errlen, "key file %s, line %d: key of %.*s is not hex", name, line, (int)flen[0], f[0]);
				goto bad;
			}
		if(flen[1] % 2 != 0){
			fail(err, errlen, "key file %s, line %d: key of %.*s has an odd number of hex digits", name, line, (int)flen[0], f[0]);
			goto bad;
		}
		if(flen[1] / 2 < MINKEY){
			fail(err, errlen, "key file %s, line %d: key of %.*s is %zu bytes, at least %d needed (%d hex digits)",
				name, line, (int)flen[0], f[0], flen[1] / 2, MINKEY, 2 * MINKEY);
			goto bad;
		}
		if(flen[1] / 2 > MAXKEY){
			fail(err, errlen, "key file %s, line %d: key of %.*s is %zu bytes, at most %d allowed",
				name, line, (int)flen[0], f[0], flen[1] / 2, MAXKEY);
			goto bad;
		}
		for(j = 0; j < n; j++)
			if(keys[j].idlen == flen[0] && memcmp(keys[j].id, f[0], flen[0]) == 0){
				fail(err, errlen, "key file %s, line %d: identity %.*s given twice", name, line, (int)flen[0], f[0]);
				goto bad;
			}
		if(n == cap){
			cap = cap ? 2 * cap : 4;
			nk = calloc((size_t)cap, sizeof *nk);
			if(nk == NULL){
				fail(err, errlen, "key file %s: out of memory", name);
				goto bad;
			}
			if(n > 0)
				memcpy(nk, keys, (size_t)n * sizeof *nk);
			tlsfreekeys(keys, n);
			keys = nk;
		}
		k = &keys[n++];
		memcpy(k->id, f[0], flen[0]);
		k->id[flen[0]] = '\0';
		k->idlen = flen[0];
		k->keylen = flen[1] / 2;
		for(i = 0; i < k->keylen; i++){
			hi = hexval((unsigned char)f[1][2*i]);
			lo = hexval((unsigned char)f[1][2*i + 1]);
			k->key[i] = (uint8_t)(hi << 4 | lo);
		}
	}
	if(n == 0){
		fail(err, errlen, "key file %s: no keys", name);
		goto bad;
	}
	*keysp = keys;
	return n;
bad:
	tlsfreekeys(keys, n);
	return -1;
}

int
tlskeycheck(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	Key *keys;
	int n;

	n = tlsparsekeys(name, text, len, &keys, err, errlen);
	if(n > 0)
		tlsfreekeys(keys, n);
	return n;
}

int
tlsflag(Tlsopts *o, int c, const char *arg, char *err, size_t errlen)
{
	uint8_t pin[32];
	char *end;
	long v;

	switch(c){
	case 'S':
		o->pskfile = arg;
		return 1;
	case 'C':
		o->certfile = arg;
		return 1;
	case 'K':
		o->keyfile = arg;
		return 1;
	case 'R':
		o->cafile = arg;
		return 1;
	case 'H':
		if(tlsparsepin(arg, pin) < 0)
			return fail(err, errlen, "bad -H %s: want sha256: and 64 hex digits", arg);
		if(o->npins == TLS_MAXPINS)
			return fail(err, errlen, "more than %d -H pins", TLS_MAXPINS);
		o->pins[o->npins++] = arg;
		return 1;
	case 'z':
		errno = 0;
		v = strtol(arg, &end, 10);
		if(errno != 0 || end == arg || *end != '\0' || v < 0 || v > TLS_MAXPAD)
			return fail(err, errlen, "bad -z %s: want a record size multiple from 0 (off) to %d", arg, TLS_MAXPAD);
		o->pad = (int)v;
		return 1;
	}
	return 0;
}

int
tlsflagged(const Tlsopts *o)
{
	return o->pskfile != NULL || o->certfile != NULL || o->keyfile != NULL
		|| o->cafile != NULL || o->npins > 0;
}
