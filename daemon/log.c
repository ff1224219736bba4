/*
 * log.c -- where zpoold's messages go.
 *
 * The destination and level are process-wide, like stderr itself: they are
 * set once at start (log_init) and touched again only by the loop thread
 * (log_set_level, log_reopen), while any thread may log.  Each message is
 * formatted into one buffer and written with one write(2), so lines from
 * different threads never interleave.  When stderr is the systemd journal
 * ($JOURNAL_STREAM names our stderr), lines carry a "<N>" priority prefix
 * that the journal turns into the syslog level.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>

#include "log.h"

#define LOG_LINE_MAX	1024

static atomic_int	 log_level_cur = LOG_LEVEL_INFO;
static bool		 log_to_stderr = true;
static bool		 log_journal;
static const char	*log_ident = "zpoold";

/* Is our stderr the stream systemd announced in $JOURNAL_STREAM? */
static bool
log_stderr_is_journal(void)
{
	const char		*env;
	struct stat		 sb;
	unsigned long long	 dev, ino;

	if ((env = getenv("JOURNAL_STREAM")) == NULL)
		return false;
	if (sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &sb) == -1)
		return false;
	return (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

void
log_init(bool to_stderr, enum log_level level, const char *ident)
{
	log_ident = ident;
	log_journal = log_stderr_is_journal();
	/* Under systemd stderr is the journal even without --foreground. */
	log_to_stderr = to_stderr || log_journal ||
	    getenv("INVOCATION_ID") != NULL;
	atomic_store(&log_level_cur, (int)level);
	if (!log_to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	atomic_store(&log_level_cur, (int)level);
}

enum log_level
log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level_cur);
}

void
log_reopen(void)
{
	if (log_to_stderr)
		return;
	closelog();
	openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void
log_emit(int pri, const char *prefix, const char *fmt, va_list ap,
    int errnum)
{
	char	line[LOG_LINE_MAX];
	size_t	n = 0;
	int	r;

	if (log_to_stderr) {
		if (log_journal)
			r = snprintf(line, sizeof line, "<%d>", pri);
		else
			r = snprintf(line, sizeof line, "%s: %s", log_ident,
			    prefix);
		n = r > 0 ? (size_t)r : 0;
	}
	r = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof line - 1)
		n = sizeof line - 1;
	if (errnum != 0) {
		r = snprintf(line + n, sizeof line - n, ": %s",
		    strerror(errnum));
		if (r > 0)
			n += (size_t)r;
		if (n > sizeof line - 1)
			n = sizeof line - 1;
	}
	if (!log_to_stderr) {
		syslog(pri, "%s", line);
		return;
	}
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* One write per line; a short write to stderr is not worth a retry. */
	if (write(STDERR_FILENO, line, n) == -1)
		return;
}

#define LOG_BODY(lvl, pri, prefix, errnum) do {				\
	va_list	ap;							\
	int	saved = errno;						\
									\
	if (atomic_load(&log_level_cur) < (int)(lvl))			\
		return;							\
	va_start(ap, fmt);						\
	log_emit(pri, prefix, fmt, ap, errnum);				\
	va_end(ap);							\
	errno = saved;							\
} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, LOG_WARNING, "warning: ", saved);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, LOG_WARNING, "warning: ", 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, LOG_INFO, "", 0);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, LOG_DEBUG, "debug: ", 0);
}

void
log_event(bool routine, const char *fmt, ...)
{
	if (routine)
		LOG_BODY(LOG_LEVEL_DEBUG, LOG_DEBUG, "debug: ", 0);
	else
		LOG_BODY(LOG_LEVEL_INFO, LOG_INFO, "", 0);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "fatal: ", fmt, ap, saved);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "fatal: ", fmt, ap, 0);
	va_end(ap);
	exit(1);
}
