/*
 * log.h - the daemons' one logging module: standard error in the
 * foreground, syslog(3) when asked.  Thread-safe: each call writes
 * one whole line.
 */
#ifndef LOG_H
#define LOG_H

enum {
	LOG_QUIET = 0,	/* errors only */
	LOG_CONN,	/* connections come and go (-v) */
	LOG_TRACE,	/* every message (-D) */
};

/* Set the program name, syslog (usesyslog != 0) or stderr, and the level. */
void loginit(const char *prog, int usesyslog, int level);

/* The level loginit or logsetlevel set. */
int loglevel(void);

/* Change the level at run time (9mux's control file); only the thread that logs sets it. */
void logsetlevel(int level);

/*
 * Log to the file at path, appended to, instead of standard error:
 * standard error itself is pointed at it, so that what children and
 * sanitizers write lands there too.  0, or -1 with errno.
 */
int logfile(const char *path);

/*
 * Open the file of logfile again (after logrotate moved it away): 0,
 * or -1 with errno, logging going on to the old file.  0 and nothing
 * done when logging is not to a file.
 */
int logreopen(void);

/* An error, always written. */
void logerror(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line written when the level is at least lvl. */
void logmsg(int lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
