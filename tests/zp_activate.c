/*
 * zp_activate.c -- start a program the way systemd starts a
 * socket-activated service, for tests on machines without systemd.
 *
 * usage: zp_activate PATH PROGRAM [ARG...]
 *
 * Creates a listening Unix stream socket at PATH (mode 0666, like
 * zpoold.socket), makes it fd 3, sets LISTEN_FDS=1, LISTEN_PID to its own
 * pid and LISTEN_FDNAMES, and execs PROGRAM, which therefore runs as that
 * pid.  Clients may connect as soon as PATH exists: the socket listens
 * before the program starts, which is the point of socket activation.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START	3	/* systemd's first passed fd */

static int
listen_at(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		errx(1, "%s: path too long for a Unix socket", path);
	strcpy(sun.sun_path, path);

	/* No SOCK_CLOEXEC: the socket must survive the exec. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		err(1, "bind %s", path);
	if (chmod(path, 0666) == -1)
		err(1, "chmod %s", path);
	if (listen(fd, SOMAXCONN) == -1)
		err(1, "listen");
	return fd;
}

int
main(int argc, char **argv)
{
	char	pid[32];
	int	fd;

	if (argc < 3) {
		fprintf(stderr, "usage: zp_activate PATH PROGRAM [ARG...]\n");
		return 2;
	}
	fd = listen_at(argv[1]);
	if (fd != SD_LISTEN_FDS_START) {
		if (dup2(fd, SD_LISTEN_FDS_START) == -1)
			err(1, "dup2");
		close(fd);
	}
	if (fcntl(SD_LISTEN_FDS_START, F_SETFD, 0) == -1)
		err(1, "fcntl");

	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	if (setenv("LISTEN_FDS", "1", 1) == -1 ||
	    setenv("LISTEN_PID", pid, 1) == -1 ||
	    setenv("LISTEN_FDNAMES", "zpoold.socket", 1) == -1)
		err(1, "setenv");
	execvp(argv[2], argv + 2);
	err(1, "%s", argv[2]);
}
