#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static const char *progname = "9mux";
static int tosyslog;
static int level;

void
loginit(const char *prog, int usesyslog, int lvl)
{
	progname = prog;
	tosyslog = usesyslog;
	level = lvl;
	if(tosyslog)
		openlog(prog, LOG_PID, LOG_DAEMON);
}

int
loglevel(void)
{
	return level;
}

static void __attribute__((format(printf, 2, 0)))
vlog(int prio, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof line, fmt, ap);
	if(tosyslog)
		syslog(prio, "%s", line);
	else
		/* one fprintf: stdio locks the stream, so lines never interleave */
		fprintf(stderr, "%s: %s\n", progname, line);
}

void
logerror(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
logmsg(int lvl, const char *fmt, ...)
{
	va_list ap;

	if(lvl > level)
		return;
	va_start(ap, fmt);
	vlog(lvl >= LOG_TRACE ? LOG_DEBUG : LOG_INFO, fmt, ap);
	va_end(ap);
}
