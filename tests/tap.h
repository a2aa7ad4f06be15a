/*
 * tap.h - the Test Anything Protocol for the C tests, read by prove(1).
 * Header-only: each test program includes it once.
 */
#ifndef TAP_H
#define TAP_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

static int tap_n, tap_failed;

/* Start a test program that must finish within seconds. */
static inline void
tap_start(unsigned seconds)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	alarm(seconds);
}

static inline int __attribute__((format(printf, 2, 3)))
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if(!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if(!cond){
		/* prove, not verbose, shows only standard error: a failure's line goes there too, into CI's log */
		fprintf(stderr, "not ok %d - ", tap_n);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	return cond;
}

static inline void __attribute__((format(printf, 1, 2)))
diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define is_int(got, want, ...) do { long long g_ = (long long)(got), w_ = (long long)(want); \
	if(!ok(g_ == w_, __VA_ARGS__)) diag("  got %lld, want %lld", g_, w_); } while(0)

/* Finish: print the plan, and exit non-zero if anything failed. */
static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}

/*
 * Copy n bytes so that they end exactly where an unreadable page
 * begins: any read past them faults.  Free with guardfree.
 */
static inline unsigned char *
guardcopy(const void *p, size_t n, void **base, size_t *maplen)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t body = (n + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
	unsigned char *m;

	*maplen = body + (size_t)pg;
	m = mmap(NULL, *maplen, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
	if(m == MAP_FAILED)
		abort();
	if(mprotect(m + body, (size_t)pg, PROT_NONE) < 0)
		abort();
	*base = m;
	if(n)
		memcpy(m + body - n, p, n);
	return m + body - n;
}

static inline void
guardfree(void *base, size_t maplen)
{
	munmap(base, maplen);
}

#endif
