/*
 * roundtrip - whatever p9decode accepts, p9encode says again byte for
 * byte, and the bytes decode to the same message.  The first byte picks
 * the dialect.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "9p.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[1 << 20];
static char line1[1 << 16], line2[1 << 16];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Fcall f, g;
	size_t n;
	long r;
	int d;

	if(size < 1)
		return 0;
	d = data[0] % 3;
	data++;
	size--;
	r = p9decode(data, size, UINT32_MAX, d, &f);
	if(r <= 0)
		return 0;
	n = p9size(&f, d);
	if(n != (size_t)r)
		abort();
	if(n > sizeof out)
		return 0;
	if(p9encode(out, n - 1, &f, d) != 0)
		abort();
	if(p9encode(out, sizeof out, &f, d) != n || memcmp(out, data, n) != 0)
		abort();
	if(p9decode(out, n, (uint32_t)n, d, &g) != r)
		abort();
	/* the formatter shows every field but data, which the bytes cover */
	p9fmt(line1, sizeof line1, &f, d);
	p9fmt(line2, sizeof line2, &g, d);
	if(strcmp(line1, line2) != 0)
		abort();
	return 0;
}
