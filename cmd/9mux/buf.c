/*
 * Buffers: a connection's input, grown to a frame's size past BUFSZ,
 * and the few spares of BUFSZ that clients in lock-step take again.
 */
#include <stdlib.h>
#include <string.h>

#include "9p.h"
#include "9mux.h"

size_t
bufcap(size_t cap, size_t len, size_t need)
{
	size_t n;

	if(cap - len >= need)
		return cap;
	n = cap ? cap : BUFSZ;
	while(n - len < need)
		n *= 2;
	if(n > BUFSZ && n - len > need)
		n = len + need > BUFSZ ? len + need : BUFSZ;
	return n;
}

size_t
bufextra(size_t cap)
{
	return cap > BUFSZ ? cap - BUFSZ : 0;
}

int
bufgrow(Buf *b, size_t n)
{
	uint8_t *p;

	if(n == b->cap)
		return 0;
	if(b->p == NULL && n == BUFSZ && g.nspare > 0){
		b->p = g.spare[--g.nspare];
		b->cap = BUFSZ;
		return 0;
	}
	p = realloc(b->p, n);
	if(p == NULL)
		return -1;
	b->p = p;
	b->cap = n;
	return 0;
}

size_t
bufrest(const Buf *b, uint32_t limit)
{
	uint32_t size;

	if(b->len >= 4){
		size = p9get32(b->p);
		if(size > b->len && size <= limit)
			return size - b->len;
	}
	return 0;
}

/*
 * An idle connection should cost its session, not a 64 KiB buffer; a
 * few are kept so that clients in lock-step allocate nothing.
 */
void
buffree(Buf *b)
{
	if(b->cap == BUFSZ && g.nspare < NSPARE)
		g.spare[g.nspare++] = b->p;
	else
		free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int
bufadd(Buf *b, const uint8_t *p, size_t n)
{
	if(bufgrow(b, bufcap(b->cap, b->len, n)) < 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}
