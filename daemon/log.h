/*
 * log.h -- zpoold's log, in the OpenBSD daemons' style.
 *
 * Messages go to stderr when the daemon runs in the foreground or under
 * systemd (whose journal reads stderr), and to syslog otherwise.  Every call
 * is safe from any thread.  fatal() and fatalx() are for broken invariants
 * and start-up failures only: client input never reaches them.
 */
#ifndef ZP_LOG_H
#define ZP_LOG_H

#include <stdbool.h>
#include <stdarg.h>

#include "settings.h"

/* to_stderr: foreground; ident: syslog tag and stderr prefix. */
void	log_init(bool to_stderr, enum log_level level, const char *ident);
void	log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* SIGHUP: reconnect to syslog (a restarted syslogd loses our socket). */
void	log_reopen(void);

/* log_warn and fatal append ": strerror(errno)"; the x forms do not. */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* log_info, or log_debug when `routine` (zpctl's connections, say). */
void	log_event(bool routine, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* ZP_LOG_H */
