/*
 * decode - p9decode on arbitrary bytes: a stream of messages in the
 * dialect the first byte picks, at an msize the second byte picks.
 * Whatever it accepts must agree with p9frame and format without harm.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "9p.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t msizes[] = { UINT32_MAX, 8192 + 24, 256, 64, 7, 0 };
	char line[160];
	Fcall f;
	uint32_t msize;
	long r;
	int d, n;

	if(size < 2)
		return 0;
	d = data[0] % 3;
	msize = msizes[data[1] % (sizeof msizes / sizeof msizes[0])];
	data += 2;
	size -= 2;
	while(size > 0){
		r = p9decode(data, size, msize, d, &f);
		if(r != p9frame(data, size, msize) && r > 0)
			abort();
		if(r <= 0)
			break;
		if((size_t)r > size || r < P9_HDRSZ || f.type != data[4] || !p9known(f.type, d))
			abort();
		n = p9fmt(line, sizeof line, &f, d);
		if(n < 0 || strlen(line) != ((size_t)n < sizeof line ? (size_t)n : sizeof line - 1))
			abort();
		data += r;
		size -= (size_t)r;
	}
	return 0;
}
