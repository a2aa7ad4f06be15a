/*
 * fidmap - p9fidmap agrees with p9decode: for a T-message it succeeds
 * if and only if the whole input decodes as one message, and then each
 * offset it reports holds the fid the decoder found there, in the role
 * the message gives it.  R-messages are refused.  The first byte picks
 * the dialect.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "9p.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fids of f in wire order with their roles; their number. */
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	P9fidref refs[P9_MAXFIDS];
	Fcall f;
	uint32_t v[2];
	long r;
	int d, m, n, i, role[2];

	if(size < 1)
		return 0;
	d = data[0] % 3;
	data++;
	size--;
	r = p9decode(data, size, UINT32_MAX, d, &f);
	m = p9fidmap(data, size, d, refs);
	if(m == 0 && size < P9_HDRSZ)
		abort();
	if(size >= 5 && (data[4] & 1)){
		if(m != P9_ETYPE)
			abort();
		return 0;
	}
	if((r > 0 && (size_t)r == size) != (m >= 0))
		abort();
	if(m < 0)
		return 0;
	n = expect(&f, v, role);
	if(m != n)
		abort();
	for(i = 0; i < n; i++){
		if(refs[i].off < P9_HDRSZ || refs[i].off > size - 4)
			abort();
		if(p9get32(data + refs[i].off) != v[i] || refs[i].role != role[i])
			abort();
	}
	return 0;
}
