/*
 * t_9p_fidmap - p9fidmap: for every T-message of every dialect the
 * offsets and roles it reports hold the fids the decoder finds, in the
 * roles the brief gives them; R-messages and malformed frames fail.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "9p.h"
#include "tap.h"

static const int dialects[] = { P9_2000, P9_2000U, P9_2000L };
static uint8_t data[64];
static uint8_t stat0[128], statu[128];
static size_t nstat0, nstatu;

/* A name of n bytes: the strings before a fid move its offset. */
static P9str
name(int n)
{
	static const char s[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

	return (P9str){ s, (uint16_t)n };
}

/* Fill f as a T-message of type whose fids are a, b (distinct unless told). */
static int
mk(Fcall *f, int type, int d, int slen, uint32_t a, uint32_t b)
{
	int i;

	memset(f, 0, sizeof *f);
	f->type = (uint8_t)type;
	f->tag = 42;
	switch(type){
	case Tversion:
		f->msize = 8192;
		f->version = p9str("9P2000");
		break;
	case Tflush:
		f->oldtag = 7;
		break;
	case Tauth:
		f->afid = a;
		f->uname = name(slen);
		f->aname = name(slen + 1);
		f->nuname = 5;
		break;
	case Tattach:
		f->fid = a;
		f->afid = b;
		f->uname = name(slen);
		f->aname = name(slen + 2);
		f->nuname = 5;
		break;
	case Twalk:
		f->fid = a;
		f->newfid = b;
		f->nwname = (uint16_t)(slen % 17);
		for(i = 0; i < f->nwname; i++)
			f->wname[i] = name(i);
		break;
	case Txattrwalk:
		f->fid = a;
		f->newfid = b;
		f->name = name(slen);
		break;
	case Topen:
		f->fid = a;
		f->mode = 1;
		break;
	case Tcreate:
		f->fid = a;
		f->name = name(slen);
		f->perm = 0644;
		f->extension = name(slen / 2);
		break;
	case Tread: case Treaddir:
		f->fid = a;
		f->offset = 99;
		f->count = 100;
		break;
	case Twrite:
		f->fid = a;
		f->count = (uint32_t)slen;
		f->data = data;
		break;
	case Tclunk: case Tremove: case Tstat: case Tstatfs: case Treadlink:
		f->fid = a;
		break;
	case Twstat:
		f->fid = a;
		f->stat = d == P9_2000U ? statu : stat0;
		f->nstat = (uint16_t)(d == P9_2000U ? nstatu : nstat0);
		break;
	case Tlopen:
		f->fid = a;
		f->flags = 2;
		break;
	case Tlcreate:
		f->fid = a;
		f->name = name(slen);
		break;
	case Tsymlink:
		f->fid = a;
		f->name = name(slen);
		f->target = name(slen + 3);
		break;
	case Tmknod: case Tmkdir:
		f->dfid = a;
		f->name = name(slen);
		break;
	case Trename:
		f->fid = a;
		f->dfid = b;
		f->name = name(slen);
		break;
	case Tgetattr:
		f->fid = a;
		f->mask = 0x7FF;
		break;
	case Tsetattr:
		f->fid = a;
		f->sattr.valid = 1;
		break;
	case Txattrcreate:
		f->fid = a;
		f->name = name(slen);
		break;
	case Tfsync:
		f->fid = a;
		break;
	case Tlock: case Tgetlock:
		f->fid = a;
		f->lock.clientid = name(slen);
		break;
	case Tlink:
		f->dfid = a;
		f->fid = b;
		f->name = name(slen);
		break;
	case Trenameat:
		f->dfid = a;
		f->name = name(slen);
		f->newdfid = b;
		f->newname = name(slen + 1);
		break;
	case Tunlinkat:
		f->dfid = a;
		f->name = name(slen);
		break;
	default:
		return 0;
	}
	return 1;
}

/* The fid fields of f in wire order, with the roles the brief gives them. */
static int
expect(const Fcall *f, uint32_t v[2], int role[2])
{
	switch(f->type){
	case Tversion: case Tflush:
		return 0;
	case Tauth:
		v[0] = f->afid; role[0] = P9_FIDNEW;
		return 1;
	case Tattach:
		v[0] = f->fid; role[0] = P9_FIDNEW;
		v[1] = f->afid; role[1] = P9_FIDUSE | P9_FIDOPT;
		return 2;
	case Twalk: case Txattrwalk:
		v[0] = f->fid; role[0] = P9_FIDUSE;
		v[1] = f->newfid; role[1] = P9_FIDNEW;
		return 2;
	case Tclunk: case Tremove:
		v[0] = f->fid; role[0] = P9_FIDDEL;
		return 1;
	case Trename:
		v[0] = f->fid; role[0] = P9_FIDUSE;
		v[1] = f->dfid; role[1] = P9_FIDUSE;
		return 2;
	case Tlink:
		v[0] = f->dfid; role[0] = P9_FIDUSE;
		v[1] = f->fid; role[1] = P9_FIDUSE;
		return 2;
	case Trenameat:
		v[0] = f->dfid; role[0] = P9_FIDUSE;
		v[1] = f->newdfid; role[1] = P9_FIDUSE;
		return 2;
	case Tmknod: case Tmkdir: case Tunlinkat:
		v[0] = f->dfid; role[0] = P9_FIDUSE;
		return 1;
	default:
		v[0] = f->fid; role[0] = P9_FIDUSE;
		return 1;
	}
}

static void
check(int type, int d, int slen, uint32_t a, uint32_t b)
{
	static uint8_t buf[4096];
	P9fidref refs[P9_MAXFIDS];
	const char *dn, *tn;
	uint32_t v[2];
	Fcall f, g;
	size_t n;
	void *base;
	size_t ml;
	uint8_t *gc;
	int m, want, i, role[2], good, k;

	dn = p9dialectname(d);
	tn = p9typename(type);
	if(!ok(mk(&f, type, d, slen, a, b), "%s %s: sample", dn, tn))
		return;
	n = p9encode(buf, sizeof buf, &f, d);
	if(!ok(n > 0 && p9decode(buf, n, UINT32_MAX, d, &g) == (long)n, "%s %s/%d: encodes and decodes", dn, tn, slen))
		return;
	gc = guardcopy(buf, n, &base, &ml);
	memset(refs, 0xAB, sizeof refs);
	m = p9fidmap(gc, n, d, refs);
	guardfree(base, ml);
	want = expect(&g, v, role);
	is_int(m, want, "%s %s/%d: %d fids", dn, tn, slen, want);
	good = m == want;
	for(i = 0; good && i < m; i++){
		if(refs[i].off < P9_HDRSZ || refs[i].off > n - 4){
			diag("  ref %d at %u outside the frame", i, refs[i].off);
			good = 0;
		}else if(p9get32(buf + refs[i].off) != v[i] || refs[i].role != role[i]){
			diag("  ref %d at %u: %u role %#x, want %u role %#x", i, refs[i].off,
				p9get32(buf + refs[i].off), refs[i].role, v[i], role[i]);
			good = 0;
		}
	}
	ok(good, "%s %s/%d: offsets and roles agree with the decoder", dn, tn, slen);

	/* every shorter length, and a byte more, is refused */
	good = 1;
	for(k = 0; k < (int)n; k++){
		gc = guardcopy(buf, (size_t)k, &base, &ml);
		if(p9fidmap(gc, (size_t)k, d, refs) >= 0)
			good = 0;
		guardfree(base, ml);
	}
	ok(good, "%s %s/%d: every truncated frame is refused", dn, tn, slen);
	buf[n] = 0;
	ok(p9fidmap(buf, n + 1, d, refs) < 0, "%s %s/%d: a byte beyond the frame is refused", dn, tn, slen);
	p9put32(buf, (uint32_t)n + 1);
	ok(p9fidmap(buf, n + 1, d, refs) < 0, "%s %s/%d: a trailing byte inside the frame is refused", dn, tn, slen);
}

int
main(void)
{
	static uint8_t buf[256];
	P9fidref refs[P9_MAXFIDS];
	P9dir dir;
	Fcall f;
	size_t n;
	int i, t, d, nt, slen;

	tap_start(60);
	memset(&dir, 0, sizeof dir);
	dir.name = p9str("x");
	nstat0 = p9direncode(stat0, sizeof stat0, &dir, P9_2000);
	nstatu = p9direncode(statu, sizeof statu, &dir, P9_2000U);

	for(i = 0; i < 3; i++){
		d = dialects[i];
		nt = 0;
		for(t = 0; t < 256; t += 2){
			if(!p9known(t, d))
				continue;
			nt++;
			for(slen = 0; slen < 20; slen += 7)
				check(t, d, slen, 0x11223344u + (uint32_t)t, 0x55667788u + (uint32_t)t);
		}
		diag("%s: %d T-messages", p9dialectname(d), nt);
		ok(nt == (d == P9_2000L ? 28 : 13), "%s: all its T-messages were checked", p9dialectname(d));
	}
	check(Twalk, P9_2000, 2, 9, 9);
	check(Txattrwalk, P9_2000L, 2, 9, 9);
	check(Tattach, P9_2000, 2, 9, P9_NOFID);
	check(Tattach, P9_2000L, 2, P9_NOFID, P9_NOFID);

	/* R-messages and unknown types */
	for(i = 0; i < 3; i++){
		d = dialects[i];
		for(t = 1; t < 256; t += 2){
			if(!p9known(t, d))
				continue;
			memset(buf, 0, sizeof buf);
			p9put32(buf, 7);
			buf[4] = (uint8_t)t;
			ok(p9fidmap(buf, 7, d, refs) == P9_ETYPE, "%s %s refused", p9dialectname(d), p9typename(t));
		}
	}
	mk(&f, Tlopen, P9_2000L, 0, 1, 2);
	n = p9encode(buf, sizeof buf, &f, P9_2000L);
	is_int(p9fidmap(buf, n, P9_2000, refs), P9_ETYPE, "Tlopen in 9P2000 refused");
	is_int(p9fidmap(buf, n, P9_2000L, refs), 1, "Tlopen in 9P2000.L");
	mk(&f, Topen, P9_2000, 0, 1, 2);
	n = p9encode(buf, sizeof buf, &f, P9_2000);
	is_int(p9fidmap(buf, n, P9_2000L, refs), P9_ETYPE, "Topen in 9P2000.L refused");
	buf[4] = Terror;
	is_int(p9fidmap(buf, n, P9_2000, refs), P9_ETYPE, "Terror refused");
	buf[4] = 0;
	is_int(p9fidmap(buf, n, P9_2000, refs), P9_ETYPE, "type 0 refused");

	/* malformed */
	mk(&f, Twalk, P9_2000, 0, 1, 2);
	f.nwname = 1;
	f.wname[0] = p9str("ab");
	n = p9encode(buf, sizeof buf, &f, P9_2000);
	buf[n - 1] = 0;
	is_int(p9fidmap(buf, n, P9_2000, refs), P9_ENUL, "Twalk name with a NUL refused");
	buf[n - 1] = 'b';
	p9put16(buf + 15, 17);
	is_int(p9fidmap(buf, n, P9_2000, refs), P9_ENWNAME, "Twalk nwname 17 refused");
	p9put16(buf + 15, 2);
	is_int(p9fidmap(buf, n, P9_2000, refs), P9_EFIELD, "Twalk nwname 2 with one name refused");
	p9put32(buf, 6);
	is_int(p9fidmap(buf, 6, P9_2000, refs), P9_ESHORT, "size 6 refused");
	ok(p9fidmap(buf, 3, P9_2000, refs) < 0, "3 bytes refused");
	ok(p9fidmap(buf, 0, P9_2000, refs) < 0, "0 bytes refused");
	mk(&f, Twrite, P9_2000L, 8, 1, 2);
	n = p9encode(buf, sizeof buf, &f, P9_2000L);
	p9put32(buf + 19, 9);
	is_int(p9fidmap(buf, n, P9_2000L, refs), P9_ECOUNT, "Twrite count past the end refused");
	mk(&f, Tclunk, P9_2000, 0, 1, 2);
	n = p9encode(buf, sizeof buf, &f, P9_2000);
	p9put32(buf, (uint32_t)n + 100);
	ok(p9fidmap(buf, n, P9_2000, refs) < 0, "a frame claiming more than len refused");
	p9put32(buf, (uint32_t)n);
	is_int(p9fidmap(buf, n, 3, refs), P9_ETYPE, "no dialect 3");
	return done_testing();
}
