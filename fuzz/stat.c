/*
 * stat - p9dirdecode and p9direntdecode on arbitrary bytes: what they
 * accept re-encodes byte for byte.  The first byte picks the dialect;
 * the rest is read both as one stat entry and as Rreaddir data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "9p.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[1 << 18];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	P9dir dir, dir2;
	P9dirent e;
	size_t off, n;
	long r;
	int d;

	if(size < 1)
		return 0;
	d = data[0] % 3;
	data++;
	size--;

	r = p9dirdecode(data, size, d, &dir);
	if(r == 0)
		abort();
	if(r > 0){
		n = p9dirsize(&dir, d);
		if(n != (size_t)r || (size_t)r > size || p9get16(data) != n - 2)
			abort();
		if(p9direncode(out, n - 1, &dir, d) != 0)
			abort();
		if(p9direncode(out, sizeof out, &dir, d) != n || memcmp(out, data, n) != 0)
			abort();
		if(p9dirdecode(out, n, d, &dir2) != r)
			abort();
	}

	for(off = 0; off < size; off += (size_t)r){
		r = p9direntdecode(data + off, size - off, &e);
		if(r == 0)
			abort();
		if(r < 0)
			break;
		n = p9direntsize(&e);
		if(n != (size_t)r || (size_t)r > size - off)
			abort();
		if(p9direntencode(out, sizeof out, &e) != n || memcmp(out, data + off, n) != 0)
			abort();
	}
	return 0;
}
