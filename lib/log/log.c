#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static const char *progname = "9mux";
static int tosyslog;
static int level;
static char *logpath;

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

void
logsetlevel(int lvl)
{
	level = lvl;
}

/* Point standard error at path: 0, or -1 with errno. */
static int
openlog2(const char *path)
{
	int fd, e;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if(fd < 0)
		return -1;
	fflush(stderr);
	/* dup2 replaces descriptor 2 at once: no line is lost in between */
	if(fd != 2 && dup2(fd, 2) < 0){
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if(fd != 2)
		close(fd);
	return 0;
}

int
logfile(const char *path)
{
	char *p;

	if((p = strdup(path)) == NULL)
		return -1;
	if(openlog2(p) < 0){
		free(p);
		return -1;
	}
	free(logpath);
	logpath = p;
	return 0;
}

int
logreopen(void)
{
	if(logpath == NULL)
		return 0;
	return openlog2(logpath);
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
