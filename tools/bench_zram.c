/*
 * bench_zram.c -- the kernel's zram device on the same pages, for
 * comparison: lz4, O_DIRECT writes and reads, mm_stat as the kernel
 * counts it.
 *
 * zram0 is a shared system device.  We touch it only when it is unused
 * (disksize 0), and from the first write to its sysfs files until the end
 * we are "armed": every way out -- return, exit(), SIGINT, SIGTERM, a crash
 * -- resets it.  The signal path uses only async-signal-safe calls; it
 * closes our block device descriptor first because zram refuses to reset
 * an open device.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "page.h"

#define ZRAM_SYS	"/sys/block/zram0"
#define ZRAM_DEV	"/dev/zram0"
#define ZRAM_IO_BYTES	(1u << 20)	/* one O_DIRECT request */

static const int zram_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE,
	SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
};
#define NSIGNALS (sizeof zram_signals / sizeof zram_signals[0])

static volatile sig_atomic_t	 zram_armed;
static volatile sig_atomic_t	 zram_fd = -1;
static struct sigaction		 zram_oldact[NSIGNALS];
static bool			 zram_atexit_done;

/* Async-signal-safe: open, write, close, nanosleep only. */
static int
zram_reset_now(void)
{
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };
	int		 fd, i, rc = -1;

	if (zram_fd != -1) {
		close(zram_fd);
		zram_fd = -1;
	}
	/* A just-closed device can stay busy for a moment. */
	for (i = 0; i < 50 && rc == -1; i++) {
		if ((fd = open(ZRAM_SYS "/reset", O_WRONLY | O_CLOEXEC)) == -1)
			return -1;
		if (write(fd, "1", 1) == 1)
			rc = 0;
		close(fd);
		if (rc == -1 && errno != EBUSY)
			return -1;
		if (rc == -1)
			nanosleep(&ts, NULL);
	}
	return rc;
}

static void
zram_on_signal(int sig)
{
	int	saved = errno;

	if (zram_armed) {
		zram_armed = 0;
		zram_reset_now();
	}
	errno = saved;
	/* SA_RESETHAND restored the default action: die of the signal. */
	raise(sig);
}

static void
zram_on_exit(void)
{
	if (zram_armed) {
		zram_armed = 0;
		zram_reset_now();
	}
}

static void
zram_arm(void)
{
	struct sigaction	sa;
	size_t			i;

	if (!zram_atexit_done) {
		atexit(zram_on_exit);
		zram_atexit_done = true;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = zram_on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < NSIGNALS; i++)
		sigaction(zram_signals[i], &sa, &zram_oldact[i]);
	zram_armed = 1;
}

/* Reset and put the signal handlers back.  0, or -1 if the reset failed. */
static int
zram_disarm(void)
{
	size_t	i;
	int	rc;

	rc = zram_reset_now();
	zram_armed = 0;
	for (i = 0; i < NSIGNALS; i++)
		sigaction(zram_signals[i], &zram_oldact[i], NULL);
	return rc;
}

static int
sysfs_write(const char *name, const char *value)
{
	char	path[128];
	size_t	len = strlen(value);
	int	fd, saved;

	snprintf(path, sizeof path, ZRAM_SYS "/%s", name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	if (write(fd, value, len) != (ssize_t)len) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

static int
sysfs_read(const char *name, char *buf, size_t len)
{
	char	path[128];
	ssize_t	n;
	int	fd;

	snprintf(path, sizeof path, ZRAM_SYS "/%s", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Fields 1-3, 6 and 8 of mm_stat (Documentation/admin-guide/blockdev/zram.rst). */
static int
read_mm_stat(struct zram_bench *zb)
{
	unsigned long long	v[8];
	char			buf[512];

	if (sysfs_read("mm_stat", buf, sizeof buf) == -1)
		return -1;
	if (sscanf(buf, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) {
		errno = EINVAL;
		return -1;
	}
	zb->orig_data_size = v[0];
	zb->compr_data_size = v[1];
	zb->mem_used_total = v[2];
	zb->same_pages = v[5];
	zb->huge_pages = v[7];
	return 0;
}

static bool
zram_has_lz4(void)
{
	char	buf[512], *p;

	if (sysfs_read("comp_algorithm", buf, sizeof buf) == -1)
		return false;
	for (p = strtok(buf, " \n"); p != NULL; p = strtok(NULL, " \n"))
		if (strcmp(p, "lz4") == 0 || strcmp(p, "[lz4]") == 0)
			return true;
	return false;
}

/* Why we must leave zram0 alone, or NULL when we may use it. */
static const char *
zram_unusable(char *buf, size_t len)
{
	struct stat	st;
	char		size[64];

	if (stat(ZRAM_SYS, &st) == -1)
		return "no " ZRAM_SYS;
	if (geteuid() != 0)
		return "not root";
	if (stat(ZRAM_DEV, &st) == -1 || !S_ISBLK(st.st_mode))
		return "no " ZRAM_DEV;
	if (sysfs_read("disksize", size, sizeof size) == -1)
		return "cannot read " ZRAM_SYS "/disksize";
	if (strtoull(size, NULL, 10) != 0) {
		snprintf(buf, len, "zram0 is in use (disksize %llu); "
		    "left alone", strtoull(size, NULL, 10));
		return buf;
	}
	if (!zram_has_lz4())
		return "zram0 has no lz4";
	return NULL;
}

static int
zram_setup(uint64_t bytes, const char **cause)
{
	char	size[32];

	if (zram_reset_now() == -1) {
		*cause = "cannot reset zram0";
		return -1;
	}
	if (sysfs_write("comp_algorithm", "lz4") == -1) {
		*cause = "cannot set zram0 comp_algorithm to lz4";
		return -1;
	}
	snprintf(size, sizeof size, "%llu", (unsigned long long)bytes);
	if (sysfs_write("disksize", size) == -1) {
		*cause = "cannot set zram0 disksize";
		return -1;
	}
	if ((zram_fd = open(ZRAM_DEV, O_RDWR | O_DIRECT | O_CLOEXEC)) == -1) {
		*cause = "cannot open " ZRAM_DEV " with O_DIRECT";
		return -1;
	}
	return 0;
}

static int
zram_io(bool wr, uint8_t *buf, uint64_t bytes)
{
	uint64_t	off = 0;
	size_t		len;
	ssize_t		n;

	while (off < bytes) {
		len = bytes - off < ZRAM_IO_BYTES ? bytes - off : ZRAM_IO_BYTES;
		if (wr)
			n = pwrite(zram_fd, buf + off, len, (off_t)off);
		else
			n = pread(zram_fd, buf + off, len, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		off += (uint64_t)n;
	}
	return 0;
}

static uint64_t
count_mismatches(const uint8_t *a, const uint8_t *b, size_t npages)
{
	uint64_t	n = 0;
	size_t		i;

	for (i = 0; i < npages; i++)
		if (memcmp(a + i * (size_t)PAGE_SIZE_4K,
		    b + i * (size_t)PAGE_SIZE_4K, PAGE_SIZE_4K) != 0)
			n++;
	return n;
}

/* One repetition on a fresh device: write, mm_stat, read, verify. */
static int
zram_once(const uint8_t *pages, size_t npages, uint8_t *out, bool stat,
    struct zram_bench *zb, const char **cause)
{
	uint64_t	bytes = npages * (uint64_t)PAGE_SIZE_4K, t0;
	uint64_t	errors;

	if (zram_setup(bytes, cause) == -1)
		return -1;
	t0 = bench_now_ns();
	/* O_DIRECT only reads from the buffer; the cast drops nothing. */
	if (zram_io(true, (uint8_t *)(uintptr_t)pages, bytes) == -1 ||
	    fdatasync(zram_fd) == -1) {
		*cause = "write to " ZRAM_DEV " failed";
		return -1;
	}
	bench_sample_add(&zb->write_mbps, bench_mbps(bytes, bench_now_ns() -
	    t0));
	if (stat && read_mm_stat(zb) == -1) {
		*cause = "cannot read " ZRAM_SYS "/mm_stat";
		return -1;
	}
	t0 = bench_now_ns();
	if (zram_io(false, out, bytes) == -1) {
		*cause = "read from " ZRAM_DEV " failed";
		return -1;
	}
	bench_sample_add(&zb->read_mbps, bench_mbps(bytes, bench_now_ns() -
	    t0));
	errors = count_mismatches(pages, out, npages);
	if (errors > zb->verify_errors)
		zb->verify_errors = errors;
	close(zram_fd);
	zram_fd = -1;
	return 0;
}

int
zram_bench_run(const uint8_t *pages, size_t npages, unsigned reps,
    struct zram_bench *zb, const char **cause)
{
	const char	*why;
	uint8_t		*out;
	size_t		 len = npages * (size_t)PAGE_SIZE_4K;
	unsigned	 r;
	int		 rc = 0;

	memset(zb, 0, sizeof *zb);
	if ((why = zram_unusable(zb->skipped, sizeof zb->skipped)) != NULL) {
		if (why != zb->skipped)
			snprintf(zb->skipped, sizeof zb->skipped, "%s", why);
		return 0;
	}
	if ((out = bench_alloc(len)) == NULL) {
		*cause = "out of memory for the zram read-back";
		return -1;
	}
	zram_arm();
	for (r = 0; r < reps && rc == 0; r++)
		rc = zram_once(pages, npages, out, r == 0, zb, cause);
	if (zram_disarm() == -1 && rc == 0) {
		*cause = "cannot reset zram0 afterwards";
		rc = -1;
	}
	bench_free(out, len);
	zb->measured = rc == 0;
	return rc;
}
