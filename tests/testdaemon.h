/*
 * testdaemon.h -- start a real zpoold for a test, on a socket in a fresh
 * mktemp -d directory, with an empty configuration file so no installed
 * one leaks in; its log is printed only when the test failed.
 */
#ifndef ZP_TESTDAEMON_H
#define ZP_TESTDAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct test_daemon {
	char	dir[64];
	char	sock[100];
	char	log[100];
	pid_t	pid;
};

/*
 * Start $ZPOOLD with --foreground --config EMPTY --socket SOCK and the
 * NULL-terminated extra arguments; wait until it accepts.  0, or -1 with a
 * message on stderr.
 */
int	td_start(struct test_daemon *td, const char *const *args);

/* SIGTERM, then wait: the exit status, or -1 (killed after 10 s). */
int	td_stop(struct test_daemon *td);

/* Remove the directory; print the log first when `failed`. */
void	td_cleanup(struct test_daemon *td, bool failed);

#endif /* ZP_TESTDAEMON_H */
