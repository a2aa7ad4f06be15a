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

/* The level loginit set. */
int loglevel(void);

/* An error, always written. */
void logerror(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line written when the level is at least lvl. */
void logmsg(int lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
