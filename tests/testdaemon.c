/*
 * testdaemon.c -- a real zpoold for tests (see testdaemon.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testdaemon.h"
#include "wire.h"

static bool
accepts(const char *path)
{
	int	fd = wire_dial(path, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void __attribute__((noreturn))
exec_daemon(struct test_daemon *td, const char *bin, const char *conf,
    const char *const *args)
{
	const char	*argv[64];
	int		 fd, n = 0;

	if ((fd = open(td->log, O_WRONLY | O_CREAT | O_APPEND, 0600)) != -1) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	argv[n++] = "zpoold";
	argv[n++] = "--foreground";
	argv[n++] = "--config";
	argv[n++] = conf;
	argv[n++] = "--socket";
	argv[n++] = td->sock;
	while (args != NULL && *args != NULL && n < 63)
		argv[n++] = *args++;
	argv[n] = NULL;
	execv(bin, (char *const *)argv);
	fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
	_exit(127);
}

int
td_start(struct test_daemon *td, const char *const *args)
{
	const char	*bin = getenv("ZPOOLD");
	char		 conf[100];
	int		 fd, i;

	if (bin == NULL || *bin == '\0') {
		fprintf(stderr, "ZPOOLD is not set (make check sets it)\n");
		return -1;
	}
	snprintf(td->dir, sizeof td->dir, "/tmp/zpoold-test.XXXXXX");
	if (mkdtemp(td->dir) == NULL)
		return -1;
	/* Reachable by the unprivileged children some tests start. */
	chmod(td->dir, 0755);
	snprintf(td->sock, sizeof td->sock, "%s/zpoold.sock", td->dir);
	snprintf(td->log, sizeof td->log, "%s/zpoold.log", td->dir);
	snprintf(conf, sizeof conf, "%s/zpoold.conf", td->dir);
	if ((fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		return -1;
	close(fd);
	if ((td->pid = fork()) == -1)
		return -1;
	if (td->pid == 0)
		exec_daemon(td, bin, conf, args);
	for (i = 0; i < 1000; i++) {
		if (accepts(td->sock))
			return 0;
		if (waitpid(td->pid, NULL, WNOHANG) == td->pid) {
			td->pid = -1;
			fprintf(stderr, "zpoold exited at start\n");
			return -1;
		}
		usleep(10000);
	}
	fprintf(stderr, "zpoold did not accept within 10 s\n");
	return -1;
}

int
td_stop(struct test_daemon *td)
{
	int	st, i;

	if (td->pid <= 0)
		return -1;
	kill(td->pid, SIGTERM);
	for (i = 0; i < 1000; i++) {
		if (waitpid(td->pid, &st, WNOHANG) == td->pid) {
			td->pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		usleep(10000);
	}
	kill(td->pid, SIGKILL);
	waitpid(td->pid, &st, 0);
	td->pid = -1;
	return -1;
}

void
td_cleanup(struct test_daemon *td, bool failed)
{
	char	 buf[4096];
	size_t	 n;
	FILE	*f;

	if (failed && (f = fopen(td->log, "r")) != NULL) {
		fprintf(stderr, "---- zpoold log (%s) ----\n", td->log);
		while ((n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, stderr);
		fclose(f);
	}
	unlink(td->log);
	snprintf(buf, sizeof buf, "%s/zpoold.conf", td->dir);
	unlink(buf);
	unlink(td->sock);
	rmdir(td->dir);
}
