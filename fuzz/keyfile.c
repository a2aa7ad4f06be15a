/*
 * keyfile - the -S key file parser (tlskeycheck) and the -H and -z flag
 * parsers on arbitrary bytes.  The first byte picks which.  A key file
 * that is taken has as many keys as lines with fields, and a comment
 * added after it changes nothing; one that is refused gets one line
 * naming the file.  A pin taken is "sha256:" and 64 hex digits; a -z
 * taken is 0 to 16384.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char text[1 << 16];

/* The lines with at least one field, counted another way. */
static int
lines(const char *p, size_t n)
{
	size_t i;
	int count, infield, comment, any;

	count = 0;
	any = comment = infield = 0;
	for(i = 0; i <= n; i++){
		if(i == n || p[i] == '\n'){
			count += any;
			any = comment = infield = 0;
			continue;
		}
		if(comment)
			continue;
		if(p[i] == '#'){
			comment = 1;
			continue;
		}
		if(p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			any = 1;
	}
	return count;
}

static void
oneline(const char *err, size_t len)
{
	if(memchr(err, '\0', len) == NULL || err[0] == '\0' || strchr(err, '\n') != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	Tlsopts o;
	size_t i;
	int n, m, r;

	if(size < 1 || size > sizeof text - 32)
		return 0;
	r = data[0];
	data++;
	size--;
	if(r % 2 == 0){
		memset(err, 0x55, sizeof err);
		n = tlskeycheck("fuzz", (const char*)data, size, err, sizeof err);
		if(n == 0 || n < -1)
			abort();
		if(n < 0){
			oneline(err, sizeof err);
			if(strncmp(err, "key file fuzz", 13) != 0)
				abort();
			return 0;
		}
		if(n != lines((const char*)data, size))
			abort();
		memcpy(text, data, size);
		memcpy(text + size, "\n# more\n", 8);
		m = tlskeycheck("fuzz", text, size + 8, err, sizeof err);
		if(m != n)
			abort();
		return 0;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&o, 0, sizeof o);
	memset(err, 0x55, sizeof err);
	n = tlsflag(&o, r % 4 == 1 ? 'H' : 'z', text, err, sizeof err);
	if(n == 0 || n < -1)
		abort();
	if(n < 0){
		oneline(err, sizeof err);
		return 0;
	}
	if(r % 4 == 1){
		if(o.npins != 1 || strlen(text) != TLS_PINLEN || strncmp(text, "sha256:", 7) != 0)
			abort();
		for(i = 7; i < TLS_PINLEN; i++)
			if(strchr("0123456789abcdefABCDEF", text[i]) == NULL)
				abort();
	}else if(o.pad < 0 || o.pad > TLS_MAXPAD)
		abort();
	return 0;
}
