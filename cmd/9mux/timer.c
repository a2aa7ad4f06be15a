/*
 * Timers: a binary heap ordered by deadline, so the loop waits exactly
 * until the next one whatever their number (a keep-alive per link, a
 * redial per dialer).  A Timer lives in its owner; slot says where it
 * is in the heap, so it can be moved or removed in O(log n).
 */
#include <stdlib.h>

#include "9mux.h"

static struct {
	Timer	**h;
	int	n;
	int	cap;
} heap;

static void
put(int i, Timer *t)
{
	heap.h[i] = t;
	t->slot = i;
}

static void
up(int i)
{
	Timer *t;
	int p;

	t = heap.h[i];
	for(; i > 0; i = p){
		p = (i - 1) / 2;
		if(heap.h[p]->when <= t->when)
			break;
		put(i, heap.h[p]);
	}
	put(i, t);
}

static void
down(int i)
{
	Timer *t;
	int k;

	t = heap.h[i];
	for(;;){
		k = 2 * i + 1;
		if(k >= heap.n)
			break;
		if(k + 1 < heap.n && heap.h[k + 1]->when < heap.h[k]->when)
			k++;
		if(t->when <= heap.h[k]->when)
			break;
		put(i, heap.h[k]);
		i = k;
	}
	put(i, t);
}

void
timerdel(Timer *t)
{
	int i;

	if(t->slot < 0 || heap.n == 0)
		return;
	i = t->slot;
	t->slot = -1;
	heap.n--;
	if(i == heap.n)
		return;
	put(i, heap.h[heap.n]);
	down(i);
	up(heap.h[i]->slot);
}

void
timerset(Timer *t, long long when)
{
	Timer **h;
	int n;

	timerdel(t);
	t->when = when;
	if(heap.n == heap.cap){
		n = heap.cap ? 2 * heap.cap : 64;
		h = realloc(heap.h, n * sizeof *h);
		if(h == NULL)
			fatal("out of memory for timers");
		heap.h = h;
		heap.cap = n;
	}
	put(heap.n++, t);
	up(t->slot);
}

int
timerrun(void)
{
	Timer *t;
	long long ms;

	while(heap.n > 0){
		t = heap.h[0];
		ms = t->when - now();
		if(ms > 0)
			return ms > 60000 ? 60000 : (int)ms;
		timerdel(t);
		t->fn(t);
	}
	return -1;
}
