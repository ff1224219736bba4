/*
 * test_client.c -- libzpclient against a real zpoold.
 *
 * main() starts the daemon named by $ZPOOLD on a socket in a fresh
 * mktemp -d directory, runs the suites, stops it with SIGTERM, and removes
 * the directory; when anything failed it prints the daemon's log and
 * leaves the directory for a look.  Child processes and threads do not use
 * CUnit (it is neither fork- nor thread-aware): they count their own
 * failures, print each on stderr, and the test asserts the count is zero.
 *
 * Page contents are a function of a 64-bit key, distinct for every page
 * of every process and thread, so a page that comes back from the wrong
 * handle, client or slot cannot pass.
 *
 * A last suite puts the library in front of a fake daemon (a thread of
 * this process) that checks what a real one takes on trust (the memfd's
 * seals, batch sizes, requests in flight), answers out of order, and
 * breaks the protocol on purpose.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cutest.h"

#include "zpclient.h"
#include "wire.h"

#define PAGE		ZP_PAGE_SIZE
/* More than three of the largest batch the protocol allows (256). */
#define BIG_BATCH	(3 * 256 + 7)

static char	 dir[] = "/tmp/zpc-test.XXXXXX";
static char	 sock[256], logpath[256];
static pid_t	 daemon_pid = -1;

#define EXPECT(fails, cond) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		(*(fails))++;						\
	}								\
} while (0)

/* ---- pages ---- */

static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Compressible, text-like, with the key stamped in three places. */
static void
page_text(uint8_t *p, uint64_t key)
{
	static const char	words[] = "cold anonymous memory, compressed ";
	size_t			i;

	for (i = 0; i < PAGE; i++)
		p[i] = words[(i + key) % (sizeof words - 1)];
	memcpy(p, &key, sizeof key);
	memcpy(p + PAGE / 2 + 8, &key, sizeof key);
	memcpy(p + PAGE - sizeof key, &key, sizeof key);
}

/*
 * The page of `key`: mostly compressible, some incompressible, some
 * same-filled (one word repeated, which the daemon may keep specially).
 */
static void
page_make(uint8_t *p, uint64_t key)
{
	uint64_t	s = key * 0x9e3779b97f4a7c15ull + 1, v;
	size_t		i;

	switch (key % 8) {
	case 0:
		v = key * 0x100000001b3ull | 1;
		for (i = 0; i < PAGE; i += sizeof v)
			memcpy(p + i, &v, sizeof v);
		break;
	case 1:
		for (i = 0; i < PAGE; i += sizeof v) {
			v = rng_next(&s);
			memcpy(p + i, &v, sizeof v);
		}
		break;
	default:
		page_text(p, key);
		break;
	}
}

static bool
page_is(const uint8_t *p, uint64_t key)
{
	uint8_t	want[PAGE];

	page_make(want, key);
	return memcmp(p, want, PAGE) == 0;
}

static uint8_t *
pages_make(uint64_t key0, size_t n)
{
	uint8_t	*p;
	size_t	 i;

	if ((p = malloc(n * PAGE)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		page_make(p + i * PAGE, key0 + i);
	return p;
}

/* ---- the daemon ---- */

static pid_t
daemon_start(const char *path, const char *log)
{
	const char	*bin = getenv("ZPOOLD");
	pid_t		 pid;
	int		 fd;

	if (bin == NULL || *bin == '\0') {
		fprintf(stderr, "ZPOOLD is not set (make check sets it)\n");
		return -1;
	}
	if ((pid = fork()) != 0)
		return pid;
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) != -1) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	execl(bin, "zpoold", "--socket", path, "--foreground", (char *)NULL);
	fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
	_exit(127);
}

/* Wait until the daemon answers a hello; false if it died or never did. */
static bool
daemon_ready(pid_t pid, const char *path)
{
	struct zp_options	 o = { .socket_path = path, .slots = 1 };
	zp_client		*c;
	int			 i, st;

	for (i = 0; i < 1000; i++) {
		if (zp_connect(&o, &c) == 0) {
			zp_close(c);
			return true;
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			return false;
		usleep(10000);
	}
	return false;
}

/* SIGTERM; the exit status, or -1. */
static int
daemon_stop(pid_t pid)
{
	int	st, i;

	kill(pid, SIGTERM);
	for (i = 0; i < 1000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static zp_client *
connect_poll(unsigned slots, int busy_poll_us)
{
	struct zp_options	 o = { .socket_path = sock, .slots = slots,
	    .name = "test_client", .busy_poll_us = busy_poll_us };
	zp_client		*c = NULL;
	int			 rv;

	rv = zp_connect(&o, &c);
	if (rv != 0)
		fprintf(stderr, "zp_connect: %s\n", zp_strerror(rv));
	return c;
}

static zp_client *
connect_slots(unsigned slots)
{
	return connect_poll(slots, 0);
}

static uint64_t
pool_orig(void)
{
	zp_client	*c;
	struct zp_stats	 s;

	if ((c = connect_slots(1)) == NULL)
		return UINT64_MAX;
	if (zp_stats(c, &s) != 0)
		s.pool_orig_data_size = UINT64_MAX;
	zp_close(c);
	return s.pool_orig_data_size;
}

/*
 * Wait for the pool's orig_data_size to come back to `want`: a closed
 * connection's pages are released by a daemon worker after the close.
 */
static uint64_t
pool_wait(uint64_t want)
{
	uint64_t	now = UINT64_MAX;
	int		i;

	for (i = 0; i < 500; i++) {
		if ((now = pool_orig()) == want)
			break;
		usleep(10000);
	}
	return now;
}

/* ---- one worker's job: store, load, verify, free ---- */

struct job {
	zp_client	*c;
	uint64_t	 key0;
	size_t		 n;
	bool		 async;		/* store part of it with tickets */
	size_t		 max_async;	/* pages per ticket: <= the slots */
	int		 fails;
};

/* Store pages [0, n) in chunks of varying size, by every store call. */
static void
job_store(struct job *j, const uint8_t *pages, zp_handle *h, int *res)
{
	static const size_t	 sizes[] = { 1, 17, 64, 300, 5, 256, 2 };
	zp_ticket		 t;
	size_t			 off, k, i, turn = 0;
	int			 rv;

	for (off = 0; off < j->n; off += k, turn++) {
		k = sizes[turn % (sizeof sizes / sizeof sizes[0])];
		if (k > j->n - off)
			k = j->n - off;
		if (k == 1) {
			rv = zp_store(j->c, pages + off * PAGE, &h[off]);
			EXPECT(&j->fails, rv == 0);
			continue;
		}
		if (j->async && k <= j->max_async && turn % 2 == 0) {
			rv = zp_store_async(j->c, pages + off * PAGE, k, &t);
			EXPECT(&j->fails, rv == 0);
			if (rv == 0) {
				rv = zp_wait(j->c, t, h + off, res + off, k);
				EXPECT(&j->fails, rv == (int)k);
			}
			continue;
		}
		rv = zp_store_batch(j->c, pages + off * PAGE, k, h + off,
		    res + off);
		EXPECT(&j->fails, rv == (int)k);
		for (i = 0; i < k; i++)
			EXPECT(&j->fails, res[off + i] == 0);
	}
}

/* Load all pages back (batches and single calls) and verify them. */
static void
job_verify(struct job *j, const zp_handle *h, const bool *gone, int *res)
{
	uint8_t		*out, one[PAGE];
	size_t		 off, k, i;
	int		 rv;

	if ((out = malloc(j->n * PAGE)) == NULL) {
		j->fails++;
		return;
	}
	for (off = 0; off < j->n; off += k) {
		k = 1 + (off * 7) % 97;
		if (k > j->n - off)
			k = j->n - off;
		rv = zp_load_batch(j->c, h + off, k, out + off * PAGE,
		    res + off);
		EXPECT(&j->fails, rv >= 0);
	}
	for (i = 0; i < j->n; i++) {
		if (gone != NULL && gone[i])
			EXPECT(&j->fails, res[i] == ZP_ENOENT);
		else {
			EXPECT(&j->fails, res[i] == 0);
			EXPECT(&j->fails, page_is(out + i * PAGE, j->key0 + i));
		}
	}
	/* Every 13th again, one by one. */
	for (i = 0; i < j->n; i += 13) {
		rv = zp_load(j->c, h[i], one);
		if (gone != NULL && gone[i])
			EXPECT(&j->fails, rv == ZP_ENOENT);
		else {
			EXPECT(&j->fails, rv == 0);
			EXPECT(&j->fails, page_is(one, j->key0 + i));
		}
	}
	free(out);
}

static void
job_run(struct job *j)
{
	uint8_t		*pages;
	zp_handle	*h, *odd;
	int		*res;
	bool		*gone;
	size_t		 i, nodd = 0;
	int		 rv;

	pages = pages_make(j->key0, j->n);
	h = calloc(j->n, sizeof *h);
	odd = calloc(j->n, sizeof *odd);
	res = calloc(j->n, sizeof *res);
	gone = calloc(j->n, sizeof *gone);
	if (pages == NULL || h == NULL || odd == NULL || res == NULL ||
	    gone == NULL) {
		j->fails++;
		goto out;
	}
	job_store(j, pages, h, res);
	/* The caller's buffer is not referenced: scribbling is harmless. */
	memset(pages, 0xee, j->n * PAGE);
	job_verify(j, h, NULL, res);

	for (i = 1; i < j->n; i += 2) {
		odd[nodd++] = h[i];
		gone[i] = true;
	}
	rv = zp_free_batch(j->c, odd, nodd, res);
	EXPECT(&j->fails, rv == (int)nodd);
	job_verify(j, h, gone, res);

	for (i = 0; i < j->n; i += 2) {
		if (i % 4 == 0)
			EXPECT(&j->fails, zp_free(j->c, h[i]) == 0);
		else
			EXPECT(&j->fails, zp_free_batch(j->c, &h[i], 1, NULL)
			    == 1);
	}
out:
	free(pages);
	free(h);
	free(odd);
	free(res);
	free(gone);
}

/* ---- suites ---- */

static void
test_paths(void)
{
	struct zp_options	 o = { 0 };
	zp_client		*c = NULL;
	char			 missing[300], longpath[300], *saved;

	if ((saved = getenv(ZP_SOCKET_ENV)) != NULL)
		saved = strdup(saved);

	CU_ASSERT_STRING_EQUAL(zp_socket_path("/a/b"), "/a/b");
	unsetenv(ZP_SOCKET_ENV);
	CU_ASSERT_STRING_EQUAL(zp_socket_path(NULL), ZP_DEFAULT_SOCKET);
	setenv(ZP_SOCKET_ENV, "/x/y.sock", 1);
	CU_ASSERT_STRING_EQUAL(zp_socket_path(NULL), "/x/y.sock");
	CU_ASSERT_STRING_EQUAL(zp_socket_path("/a/b"), "/a/b");

	/* The environment leads zp_connect to our daemon. */
	setenv(ZP_SOCKET_ENV, sock, 1);
	CU_ASSERT(zp_connect(NULL, &c) == 0);
	zp_close(c);
	if (saved != NULL)
		setenv(ZP_SOCKET_ENV, saved, 1);
	else
		unsetenv(ZP_SOCKET_ENV);
	free(saved);

	snprintf(missing, sizeof missing, "%s/nobody-here.sock", dir);
	o.socket_path = missing;
	CU_ASSERT(zp_connect(&o, &c) == ZP_ENOTCONN);

	memset(longpath, 'p', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	o.socket_path = longpath;
	CU_ASSERT(zp_connect(&o, &c) == ZP_EINVAL);
}

static void
test_names(void)
{
	struct zp_options	 o = { .socket_path = sock };
	zp_client		*c;
	char			 name[66];

	memset(name, 'n', sizeof name - 1);
	name[64] = '\0';
	o.name = name;
	CU_ASSERT(zp_connect(&o, &c) == 0);
	zp_close(c);
	name[64] = 'n';
	name[65] = '\0';
	CU_ASSERT(zp_connect(&o, &c) == ZP_EINVAL);
}

/* The polling window: bounded, and a connection that never polls works. */
static void
test_busy_poll(void)
{
	struct zp_options	 o = { .socket_path = sock };
	static const int	 ok[] = { -1, 0, 1, 10000 };
	uint8_t			 in[PAGE], out[PAGE];
	zp_client		*c;
	zp_handle		 h;
	size_t			 i;

	o.busy_poll_us = 10001;
	CU_ASSERT(zp_connect(&o, &c) == ZP_EINVAL);
	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		CU_ASSERT_FATAL((c = connect_poll(0, ok[i])) != NULL);
		page_make(in, 77 + i);
		CU_ASSERT(zp_store(c, in, &h) == 0);
		memset(out, 0, sizeof out);
		CU_ASSERT(zp_load(c, h, out) == 0);
		CU_ASSERT(memcmp(in, out, PAGE) == 0);
		CU_ASSERT(zp_free(c, h) == 0);
		zp_close(c);
	}
}

static void
test_strerror(void)
{
	static const int	codes[] = {
		ZP_OK, ZP_EPERM, ZP_ENOENT, ZP_EIO, ZP_EAGAIN, ZP_ENOMEM,
		ZP_EBUSY, ZP_EINVAL, ZP_ENOSPC, ZP_EPROTO, ZP_EMSGSIZE,
		ZP_ECONNRESET, ZP_ENOTCONN,
	};
	size_t			 i, k;

	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		CU_ASSERT(strcmp(zp_strerror(codes[i]), "unknown error") != 0);
		for (k = 0; k < i; k++)
			CU_ASSERT(strcmp(zp_strerror(codes[i]),
			    zp_strerror(codes[k])) != 0);
	}
	CU_ASSERT_STRING_EQUAL(zp_strerror(-9999), "unknown error");
	CU_ASSERT_STRING_EQUAL(zp_strerror(5), "unknown error");
}

static void
test_single(void)
{
	zp_client	*c;
	uint8_t		 in[PAGE], out[PAGE];
	zp_handle	 h, h2;
	int		 k;

	CU_ASSERT_FATAL((c = connect_slots(0)) != NULL);
	for (k = 0; k < 8; k++) {
		page_make(in, 1000 + k);
		CU_ASSERT_FATAL(zp_store(c, in, &h) == 0);
		CU_ASSERT(h != 0);
		memset(out, 0, sizeof out);
		CU_ASSERT(zp_load(c, h, out) == 0);
		CU_ASSERT(memcmp(in, out, PAGE) == 0);
		CU_ASSERT(zp_free(c, h) == 0);
		CU_ASSERT(zp_load(c, h, out) == ZP_ENOENT);
		CU_ASSERT(zp_free(c, h) == ZP_ENOENT);
	}
	CU_ASSERT(zp_load(c, 0, out) == ZP_ENOENT);
	CU_ASSERT(zp_free(c, 0) == ZP_ENOENT);

	/* A zero page, and one page stored twice: two references. */
	memset(in, 0, sizeof in);
	CU_ASSERT_FATAL(zp_store(c, in, &h) == 0);
	CU_ASSERT_FATAL(zp_store(c, in, &h2) == 0);
	CU_ASSERT(h != h2);
	CU_ASSERT(zp_free(c, h) == 0);
	memset(out, 0xff, sizeof out);
	CU_ASSERT(zp_load(c, h2, out) == 0);
	CU_ASSERT(memcmp(in, out, PAGE) == 0);
	CU_ASSERT(zp_load(c, h, out) == ZP_ENOENT);
	CU_ASSERT(zp_free(c, h2) == 0);

	CU_ASSERT(zp_store(NULL, in, &h) == ZP_EINVAL);
	CU_ASSERT(zp_store_batch(c, NULL, 1, &h, NULL) == ZP_EINVAL);
	CU_ASSERT(zp_store_batch(c, in, 0, &h, NULL) == 0);
	zp_close(c);
}

/* Handles are per connection, even for identical pages of one user. */
static void
test_isolation(void)
{
	zp_client	*a, *b;
	uint8_t		 in[PAGE], out[PAGE];
	zp_handle	 ha, hb;
	uint64_t	 before;

	before = pool_orig();
	CU_ASSERT_FATAL((a = connect_slots(4)) != NULL);
	CU_ASSERT_FATAL((b = connect_slots(4)) != NULL);
	page_make(in, 77);
	CU_ASSERT_FATAL(zp_store(a, in, &ha) == 0);
	CU_ASSERT(zp_load(b, ha, out) == ZP_ENOENT);
	CU_ASSERT(zp_free(b, ha) == ZP_ENOENT);
	CU_ASSERT(zp_load(a, ha, out) == 0);
	CU_ASSERT(memcmp(in, out, PAGE) == 0);

	/* The same page in b: freeing a's must not take b's. */
	CU_ASSERT_FATAL(zp_store(b, in, &hb) == 0);
	CU_ASSERT(zp_free(a, ha) == 0);
	memset(out, 0, sizeof out);
	CU_ASSERT(zp_load(b, hb, out) == 0);
	CU_ASSERT(memcmp(in, out, PAGE) == 0);
	/* Nor does closing a with the same page stored again. */
	CU_ASSERT_FATAL(zp_store(a, in, &ha) == 0);
	zp_close(a);
	memset(out, 0, sizeof out);
	CU_ASSERT(zp_load(b, hb, out) == 0);
	CU_ASSERT(memcmp(in, out, PAGE) == 0);
	zp_close(b);
	/* Closing b frees its page. */
	CU_ASSERT(pool_wait(before) == before);
}

/* Batches past max_batch and past the staging area are split. */
static void
big_batch(unsigned slots)
{
	zp_client	*c;
	uint8_t		*in, *out;
	zp_handle	*h;
	int		*res;
	size_t		 i;
	int		 bad = 0;

	CU_ASSERT_FATAL((c = connect_slots(slots)) != NULL);
	in = pages_make(50000 + slots * 10000ull, BIG_BATCH);
	out = calloc(BIG_BATCH, PAGE);
	h = calloc(BIG_BATCH, sizeof *h);
	res = calloc(BIG_BATCH, sizeof *res);
	CU_ASSERT_FATAL(in != NULL && out != NULL && h != NULL && res != NULL);

	CU_ASSERT(zp_store_batch(c, in, BIG_BATCH, h, res) == BIG_BATCH);
	for (i = 0; i < BIG_BATCH; i++)
		bad += res[i] != 0 || h[i] == 0;
	CU_ASSERT(bad == 0);
	CU_ASSERT(zp_load_batch(c, h, BIG_BATCH, out, res) == BIG_BATCH);
	CU_ASSERT(memcmp(in, out, (size_t)BIG_BATCH * PAGE) == 0);
	CU_ASSERT(zp_free_batch(c, h, BIG_BATCH, res) == BIG_BATCH);

	/* Everything gone: each page says so, and the call counts none. */
	CU_ASSERT(zp_free_batch(c, h, BIG_BATCH, res) == 0);
	for (i = 0, bad = 0; i < BIG_BATCH; i++)
		bad += res[i] != ZP_ENOENT;
	CU_ASSERT(bad == 0);
	CU_ASSERT(zp_load_batch(c, h, BIG_BATCH, out, res) == 0);
	for (i = 0, bad = 0; i < BIG_BATCH; i++)
		bad += res[i] != ZP_ENOENT;
	CU_ASSERT(bad == 0);
	free(in);
	free(out);
	free(h);
	free(res);
	zp_close(c);
}

static void
test_big_batch_small_staging(void)
{
	big_batch(16);
}

static void
test_big_batch(void)
{
	big_batch(0);
}

/*
 * Tickets: more pages in flight than staging slots, so zp_store_async
 * itself must read replies to get slots back; poll without any thread
 * waiting; the argument errors.
 */
static void
test_async(void)
{
	enum { T = 20, N = 8 };
	zp_client	*c;
	uint8_t		*in, *out;
	zp_ticket	 t[T], tx;
	zp_handle	 h[T * N];
	int		 res[T * N], rv = ZP_EAGAIN, i, bad = 0;
	struct timespec	 ts = { 0, 100000 };
	uint64_t	 before;

	before = pool_orig();
	CU_ASSERT_FATAL((c = connect_slots(64)) != NULL);
	in = pages_make(90000, T * N);
	out = calloc(T * N, PAGE);
	CU_ASSERT_FATAL(in != NULL && out != NULL);
	for (i = 0; i < T; i++)
		CU_ASSERT_FATAL(zp_store_async(c, in + (size_t)i * N * PAGE,
		    N, &t[i]) == 0);
	memset(in, 0, (size_t)T * N * PAGE);
	free(in);

	CU_ASSERT(zp_wait(c, t[T - 1] + 1000, h, res, N) == ZP_ENOENT);
	CU_ASSERT(zp_poll(c, t[0], h, res, N - 1) == ZP_EINVAL);
	for (i = 0; i < 50000 && rv == ZP_EAGAIN; i++) {
		rv = zp_poll(c, t[0], h, res, N);
		if (rv == ZP_EAGAIN)
			nanosleep(&ts, NULL);
	}
	CU_ASSERT(rv == N);
	CU_ASSERT(zp_poll(c, t[0], h, res, N) == ZP_ENOENT);
	CU_ASSERT(zp_wait(c, t[0], h, res, N) == ZP_ENOENT);
	for (i = 1; i < T; i++)
		CU_ASSERT(zp_wait(c, t[i], h + i * N, res + i * N, N) == N);
	for (i = 0; i < T * N; i++)
		bad += res[i] != 0;
	CU_ASSERT(bad == 0);

	CU_ASSERT(zp_load_batch(c, h, T * N, out, res) == T * N);
	for (i = 0, bad = 0; i < T * N; i++)
		bad += !page_is(out + (size_t)i * PAGE, 90000 + i);
	CU_ASSERT(bad == 0);
	CU_ASSERT(zp_free_batch(c, h, T * N, NULL) == T * N);

	CU_ASSERT(zp_store_async(c, out, 0, &tx) == ZP_EINVAL);
	CU_ASSERT(zp_store_async(c, out, 65, &tx) == ZP_EINVAL);
	CU_ASSERT(zp_store_async(c, out, 257, &tx) == ZP_EINVAL);
	CU_ASSERT(zp_store_async(c, NULL, 1, &tx) == ZP_EINVAL);

	/*
	 * A ticket nobody collects is released by zp_close, and the daemon
	 * frees its pages whether or not they were stored by then.
	 */
	CU_ASSERT(zp_store_async(c, out, 4, &tx) == 0);
	free(out);
	zp_close(c);
	CU_ASSERT(pool_wait(before) == before);
}

static void
test_stats(void)
{
	enum { N = 100 };
	zp_client	*c;
	struct zp_stats	 s0, s1, s2;
	uint8_t		*in;
	zp_handle	 h[N];
	int		 i;

	CU_ASSERT_FATAL((c = connect_slots(0)) != NULL);
	CU_ASSERT_FATAL((in = malloc((size_t)N * PAGE)) != NULL);
	for (i = 0; i < N; i++)
		page_text(in + (size_t)i * PAGE, 7000 + i);

	CU_ASSERT_FATAL(zp_stats(c, &s0) == 0);
	CU_ASSERT(s0.client_id != 0);
	CU_ASSERT(s0.pages_stored == 0);
	CU_ASSERT(s0.orig_bytes == 0);

	CU_ASSERT_FATAL(zp_store_batch(c, in, N, h, NULL) == N);
	CU_ASSERT_FATAL(zp_stats(c, &s1) == 0);
	CU_ASSERT(s1.client_id == s0.client_id);
	CU_ASSERT(s1.pages_stored == N);
	CU_ASSERT(s1.orig_bytes == (uint64_t)N * PAGE);
	CU_ASSERT(s1.compr_bytes > 0);
	CU_ASSERT(s1.compr_bytes < s1.orig_bytes / 4);
	CU_ASSERT(s1.pool_orig_data_size >= s1.orig_bytes);
	CU_ASSERT(s1.pool_orig_data_size == s0.pool_orig_data_size +
	    s1.orig_bytes);
	CU_ASSERT(s1.pool_compr_data_size > s0.pool_compr_data_size);
	CU_ASSERT(s1.pool_mem_used_total > 0);

	CU_ASSERT(zp_free_batch(c, h, N, NULL) == N);
	CU_ASSERT_FATAL(zp_stats(c, &s2) == 0);
	CU_ASSERT(s2.pages_stored == 0);
	CU_ASSERT(s2.orig_bytes == 0);
	CU_ASSERT(s2.compr_bytes == 0);
	CU_ASSERT(s2.pool_orig_data_size == s0.pool_orig_data_size);
	free(in);
	zp_close(c);
}

/*
 * Child i of test_processes: the whole job, then 100 more pages it exits
 * with, which the daemon must free when the connection goes.
 */
static void __attribute__((noreturn))
child_run(int i, size_t n)
{
	struct job	 j;
	uint8_t		*keep;
	zp_handle	 kept[100];
	int		 res[100];

	memset(&j, 0, sizeof j);
	j.key0 = (uint64_t)(i + 1) << 32;
	j.n = n;
	j.async = i % 2 == 1;
	j.max_async = 64;
	if ((j.c = connect_slots(i == 0 ? 8 : 0)) == NULL)
		_exit(2);
	job_run(&j);
	if ((keep = pages_make(j.key0 + n, 100)) == NULL)
		_exit(2);
	j.async = false;
	j.n = 100;
	job_store(&j, keep, kept, res);
	_exit(j.fails == 0 ? 0 : 1);
}

/* Several processes at once; their pages are gone when they are. */
static void
test_processes(void)
{
	enum { P = 4, N = 4000 };
	pid_t		 pid[P];
	uint64_t	 before;
	int		 i, st, ok = 0;

	before = pool_orig();
	CU_ASSERT_FATAL(before != UINT64_MAX);
	for (i = 0; i < P; i++) {
		if ((pid[i] = fork()) == 0)
			child_run(i, N);
		CU_ASSERT(pid[i] > 0);
	}
	for (i = 0; i < P; i++) {
		if (pid[i] > 0 && waitpid(pid[i], &st, 0) == pid[i] &&
		    WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	}
	CU_ASSERT(ok == P);

	CU_ASSERT(pool_wait(before) == before);
}

/* A process that dies with pages stored gives them all back. */
static void
test_killed_client(void)
{
	uint64_t	 before;
	uint8_t		*in;
	zp_handle	 h[256];
	zp_client	*c;
	pid_t		 pid;
	int		 st, p[2];
	char		 b;

	before = pool_orig();
	CU_ASSERT_FATAL(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		in = pages_make(1ull << 40, 256);
		if (in == NULL || (c = connect_slots(0)) == NULL ||
		    zp_store_batch(c, in, 256, h, NULL) != 256)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	CU_ASSERT(read(p[0], &b, 1) == 1);
	close(p[0]);
	CU_ASSERT(pool_orig() >= before + 256 * PAGE);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	CU_ASSERT(pool_wait(before) == before);
}

/*
 * After fork: a child's zp_close frees only its copy, and the parent's
 * connection goes on; the parent's zp_close ends the connection even while
 * a child still holds its socket, so the daemon frees the pages at once.
 */
static void
test_close_after_fork(void)
{
	uint64_t	 before;
	uint8_t		*in, out[PAGE];
	zp_handle	 h[64];
	zp_client	*c;
	pid_t		 pid;
	int		 st;

	before = pool_orig();
	CU_ASSERT_FATAL((in = pages_make(3ull << 40, 64)) != NULL);
	CU_ASSERT_FATAL((c = connect_slots(0)) != NULL);
	CU_ASSERT_EQUAL_FATAL(zp_store_batch(c, in, 64, h, NULL), 64);
	CU_ASSERT_FATAL((pid = fork()) != -1);
	if (pid == 0) {
		zp_close(c);
		_exit(0);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_EQUAL(zp_load(c, h[0], out), 0);
	CU_ASSERT(memcmp(out, in, PAGE) == 0);
	free(in);
	CU_ASSERT_FATAL((pid = fork()) != -1);
	if (pid == 0) {
		pause();	/* holds the socket until killed */
		_exit(0);
	}
	zp_close(c);
	CU_ASSERT(pool_wait(before) == before);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static void *
thread_job(void *arg)
{
	struct job	*j = arg;
	struct zp_stats	 s;

	job_run(j);
	EXPECT(&j->fails, zp_stats(j->c, &s) == 0);
	return NULL;
}

/* Threads share one connection with a staging area they must contend for. */
static void
threads(unsigned slots, int busy_poll_us)
{
	enum { T = 8, N = 1500 };
	pthread_t	 tid[T];
	struct job	 j[T];
	struct zp_stats	 s;
	zp_client	*c;
	int		 i, fails = 0;

	CU_ASSERT_FATAL((c = connect_poll(slots, busy_poll_us)) != NULL);
	for (i = 0; i < T; i++) {
		memset(&j[i], 0, sizeof j[i]);
		j[i].c = c;
		j[i].key0 = ((uint64_t)(i + 1) << 48) + slots;
		j[i].n = N;
		j[i].async = i % 2 == 0;
		j[i].max_async = slots;
		CU_ASSERT_FATAL(pthread_create(&tid[i], NULL, thread_job,
		    &j[i]) == 0);
	}
	for (i = 0; i < T; i++) {
		pthread_join(tid[i], NULL);
		fails += j[i].fails;
	}
	CU_ASSERT(fails == 0);
	CU_ASSERT(zp_stats(c, &s) == 0);
	CU_ASSERT(s.pages_stored == 0);
	zp_close(c);
}

static void
test_threads(void)
{
	threads(64, 0);
}

/* Every waiter sleeps at once: the hand-offs between leaders, unhidden. */
static void
test_threads_no_poll(void)
{
	threads(64, -1);
}

static void
test_threads_tiny_staging(void)
{
	threads(3, 0);
}

struct loader {
	zp_client	*c;
	zp_handle	 h;
	int		 rv;
};

static void *
thread_load(void *arg)
{
	struct loader	*l = arg;
	uint8_t		 page[PAGE];

	l->rv = zp_load(l->c, l->h, page);
	return NULL;
}

/*
 * The daemon dies with requests in flight: every waiter, and every later
 * call, gets ZP_ECONNRESET.  The daemon is stopped first so that the
 * requests are surely still unanswered when it dies.
 */
static void
test_daemon_killed(void)
{
	char		 path[300], log[300];
	struct loader	 l;
	struct zp_options o = { .slots = 16 };
	struct zp_stats	 s;
	zp_client	*c;
	zp_ticket	 t;
	zp_handle	 h;
	uint8_t		 page[PAGE];
	pthread_t	 tid;
	pid_t		 pid;
	int		 st, res;

	snprintf(path, sizeof path, "%s/killed.sock", dir);
	snprintf(log, sizeof log, "%s/killed.log", dir);
	pid = daemon_start(path, log);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(daemon_ready(pid, path));
	o.socket_path = path;
	CU_ASSERT_FATAL(zp_connect(&o, &c) == 0);
	page_make(page, 31337);
	CU_ASSERT(zp_store(c, page, &h) == 0);

	kill(pid, SIGSTOP);
	CU_ASSERT(waitpid(pid, &st, WUNTRACED) == pid && WIFSTOPPED(st));
	CU_ASSERT(zp_store_async(c, page, 1, &t) == 0);
	CU_ASSERT(zp_poll(c, t, &h, &res, 1) == ZP_EAGAIN);
	l.c = c;
	l.h = h;
	l.rv = 1;
	CU_ASSERT_FATAL(pthread_create(&tid, NULL, thread_load, &l) == 0);
	usleep(100000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);

	CU_ASSERT(zp_wait(c, t, &h, &res, 1) == ZP_ECONNRESET);
	CU_ASSERT(res == ZP_ECONNRESET);
	pthread_join(tid, NULL);
	CU_ASSERT(l.rv == ZP_ECONNRESET);
	CU_ASSERT(zp_store(c, page, &h) == ZP_ECONNRESET);
	CU_ASSERT(zp_load(c, h, page) == ZP_ECONNRESET);
	CU_ASSERT(zp_free(c, h) == ZP_ECONNRESET);
	CU_ASSERT(zp_stats(c, &s) == ZP_ECONNRESET);
	CU_ASSERT(zp_store_async(c, page, 1, &t) == ZP_ECONNRESET);
	zp_close(c);

	/* The socket file is left behind, with nobody listening. */
	CU_ASSERT(zp_connect(&o, &c) == ZP_ENOTCONN);
	unlink(path);
}

static void
test_sigterm(void)
{
	CU_ASSERT(daemon_stop(daemon_pid) == 0);
	daemon_pid = -1;
	CU_ASSERT(access(sock, F_OK) == -1);
}

/* ---- a fake daemon, to see the library's side of the protocol ---- */

enum fake_mode {
	FAKE_SERVE,		/* small limits, replies out of order */
	FAKE_VERSION,		/* hello reply of another version */
	FAKE_BUSY,		/* hello refused with ZP_EBUSY */
	FAKE_HANGUP,		/* hangs up instead of answering hello */
	FAKE_WRONG_ID,		/* answers a request under another id */
	FAKE_BAD_COUNT,		/* answers with one result too few */
};

#define FAKE_BATCH	4
#define FAKE_INFLIGHT	2
#define FAKE_PAGES	1024

struct fake {
	enum fake_mode	 mode;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int		 lfd;
	int		 fd;
	pthread_t	 tid;
	uint8_t		*stage;
	unsigned	 nslots;
	uint8_t		 buf[WIRE_HEADER_LEN + WIRE_FRAME_MAX];
	size_t		 len;
	/* what it saw */
	bool		 sealed;	/* sealed memfd of exactly nslots pages */
	unsigned	 requests;
	unsigned	 violations;	/* over max_batch or max_inflight */
	bool		 reordered;	/* answered some request out of order */
	/* its "pool": handle h holds page_text(keys[h - 1]) */
	uint64_t	 keys[FAKE_PAGES];
	unsigned	 nkeys;
};

static void
fake_send(struct fake *fk, const wire_frame *f)
{
	uint8_t	*buf;
	size_t	 n, off;
	ssize_t	 w;

	if ((n = wire_encode(f, &buf)) == 0)
		return;
	for (off = 0; off < n; off += (size_t)w)
		if ((w = write(fk->fd, buf + off, n - off)) <= 0)
			break;
	free(buf);
}

/* The next whole frame, reading as needed (up to `ms`, -1: forever). */
static wire_frame *
fake_next(struct fake *fk, int ms)
{
	struct pollfd	 pfd = { .fd = fk->fd, .events = POLLIN };
	wire_frame	*f;
	const char	*cause;
	size_t		 used;
	ssize_t		 got;

	for (;;) {
		if (wire_decode(fk->buf, fk->len, &f, &used, &cause) == 1) {
			memmove(fk->buf, fk->buf + used, fk->len - used);
			fk->len -= used;
			return f;
		}
		if (poll(&pfd, 1, ms) != 1)
			return NULL;
		got = read(fk->fd, fk->buf + fk->len, sizeof fk->buf - fk->len);
		if (got <= 0)
			return NULL;
		fk->len += (size_t)got;
	}
}

/* Take the hello and its memfd; check the seals a daemon relies on. */
static wire_frame *
fake_hello(struct fake *fk)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec	 iov = { fk->buf, sizeof fk->buf };
	struct msghdr	 msg = { 0 };
	struct cmsghdr	*cmsg;
	struct stat	 st;
	wire_frame	*f;
	ssize_t		 got;
	int		 memfd = -1, want;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof cm.buf;
	if ((got = recvmsg(fk->fd, &msg, MSG_CMSG_CLOEXEC)) <= 0)
		return NULL;
	fk->len = (size_t)got;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg != NULL && cmsg->cmsg_type == SCM_RIGHTS)
		memcpy(&memfd, CMSG_DATA(cmsg), sizeof memfd);
	if ((f = fake_next(fk, 1000)) == NULL ||
	    f->body_case != ZPOOL__FRAME__BODY_HELLO || memfd == -1) {
		if (memfd != -1)
			close(memfd);
		wire_free(f);
		return NULL;
	}
	fk->nslots = f->hello->slots;
	want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	fk->sealed = f->hello->version == ZP_PROTOCOL_VERSION &&
	    (fcntl(memfd, F_GET_SEALS) & want) == want &&
	    fstat(memfd, &st) == 0 &&
	    (size_t)st.st_size == (size_t)fk->nslots * PAGE;
	if (fk->sealed && fk->nslots > 0) {
		fk->stage = mmap(NULL, (size_t)fk->nslots * PAGE,
		    PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		if (fk->stage == MAP_FAILED)
			fk->stage = NULL;
	}
	close(memfd);
	return f;
}

static bool
fake_slot_ok(struct fake *fk, uint32_t slot)
{
	if (fk->stage != NULL && slot < fk->nslots)
		return true;
	fk->violations++;
	return false;
}

/* Answer one request the way a daemon would, with a pool of keys. */
static void
fake_answer(struct fake *fk, const wire_frame *q)
{
	wire_frame		 f = ZPOOL__FRAME__INIT;
	Zpool__StoreReply	 sr = ZPOOL__STORE_REPLY__INIT;
	Zpool__LoadReply	 lr = ZPOOL__LOAD_REPLY__INIT;
	Zpool__FreeReply	 fr = ZPOOL__FREE_REPLY__INIT;
	Zpool__StatsReply	 st = ZPOOL__STATS_REPLY__INIT;
	Zpool__ClientStats	 me = ZPOOL__CLIENT_STATS__INIT;
	uint64_t		 h[WIRE_BATCH_MAX], key;
	int32_t			 e[WIRE_BATCH_MAX];
	size_t			 i, n;

	f.id = fk->mode == FAKE_WRONG_ID ? q->id + 1000 : q->id;
	switch (q->body_case) {
	case ZPOOL__FRAME__BODY_STORE:
		n = q->store->n_slots;
		for (i = 0; i < n; i++) {
			e[i] = ZP_ENOSPC;
			h[i] = 0;
			if (!fake_slot_ok(fk, q->store->slots[i]) ||
			    fk->nkeys == FAKE_PAGES)
				continue;
			memcpy(&key, fk->stage + (size_t)q->store->slots[i] *
			    PAGE, sizeof key);
			fk->keys[fk->nkeys++] = key;
			h[i] = fk->nkeys;
			e[i] = 0;
		}
		sr.n_handles = sr.n_errors = n;
		if (fk->mode == FAKE_BAD_COUNT)
			sr.n_handles = sr.n_errors = n - 1;
		sr.handles = h;
		sr.errors = e;
		f.body_case = ZPOOL__FRAME__BODY_STORE_REPLY;
		f.store_reply = &sr;
		break;
	case ZPOOL__FRAME__BODY_LOAD:
		n = q->load->n_handles;
		for (i = 0; i < n; i++) {
			e[i] = ZP_ENOENT;
			if (!fake_slot_ok(fk, q->load->slots[i]) ||
			    q->load->handles[i] == 0 ||
			    q->load->handles[i] > fk->nkeys)
				continue;
			page_text(fk->stage + (size_t)q->load->slots[i] * PAGE,
			    fk->keys[q->load->handles[i] - 1]);
			e[i] = 0;
		}
		lr.n_errors = n;
		lr.errors = e;
		f.body_case = ZPOOL__FRAME__BODY_LOAD_REPLY;
		f.load_reply = &lr;
		break;
	case ZPOOL__FRAME__BODY_FREE:
		n = q->free->n_handles;
		for (i = 0; i < n; i++)
			e[i] = q->free->handles[i] - 1 < fk->nkeys ? 0 :
			    ZP_ENOENT;
		fr.n_errors = n;
		fr.errors = e;
		f.body_case = ZPOOL__FRAME__BODY_FREE_REPLY;
		f.free_reply = &fr;
		break;
	case ZPOOL__FRAME__BODY_STATS:
		me.client_id = 42;
		me.pages_stored = fk->nkeys;
		st.self = &me;
		f.body_case = ZPOOL__FRAME__BODY_STATS_REPLY;
		f.stats_reply = &st;
		break;
	default:
		fk->violations++;
		return;
	}
	fake_send(fk, &f);
}

/*
 * Serve: gather requests until FAKE_INFLIGHT are waiting or the client
 * goes quiet, look a moment longer for one too many (a client that
 * respects max_inflight never sends it), then answer them last first.
 */
static size_t
fake_pages(const wire_frame *q)
{
	switch (q->body_case) {
	case ZPOOL__FRAME__BODY_STORE:
		return q->store->n_slots;
	case ZPOOL__FRAME__BODY_LOAD:
		return q->load->n_handles;
	case ZPOOL__FRAME__BODY_FREE:
		return q->free->n_handles;
	default:
		return 0;
	}
}

static void
fake_serve(struct fake *fk)
{
	wire_frame	*q[FAKE_INFLIGHT + 1], *f;
	unsigned	 nq = 0;

	for (;;) {
		f = fake_next(fk, nq == 0 ? -1 : nq < FAKE_INFLIGHT ? 20 : 5);
		if (f == NULL && nq == 0)
			return;
		if (f != NULL) {
			fk->requests++;
			if (fake_pages(f) > FAKE_BATCH)
				fk->violations++;
			q[nq++] = f;
			if (nq > FAKE_INFLIGHT)
				fk->violations++;
			else
				continue;
		}
		if (nq > 1)
			fk->reordered = true;
		while (nq > 0) {
			fake_answer(fk, q[--nq]);
			wire_free(q[nq]);
		}
	}
}

static void *
fake_main(void *arg)
{
	struct fake		*fk = arg;
	wire_frame		 f = ZPOOL__FRAME__INIT, *hello;
	Zpool__HelloReply	 hr = ZPOOL__HELLO_REPLY__INIT;
	Zpool__ErrorReply	 er = ZPOOL__ERROR_REPLY__INIT;

	if ((fk->fd = accept(fk->lfd, NULL, NULL)) == -1)
		return NULL;
	if ((hello = fake_hello(fk)) == NULL)
		goto out;
	f.id = hello->id;
	wire_free(hello);
	hr.version = ZP_PROTOCOL_VERSION;
	hr.client_id = 42;
	hr.max_batch = FAKE_BATCH;
	hr.max_inflight = FAKE_INFLIGHT;
	f.body_case = ZPOOL__FRAME__BODY_HELLO_REPLY;
	f.hello_reply = &hr;
	switch (fk->mode) {
	case FAKE_HANGUP:
		goto out;
	case FAKE_VERSION:
		hr.version = ZP_PROTOCOL_VERSION + 1;
		fake_send(fk, &f);
		goto out;
	case FAKE_BUSY:
		er.code = ZP_EBUSY;
		er.message = "too many connections";
		f.body_case = ZPOOL__FRAME__BODY_ERROR;
		f.error = &er;
		fake_send(fk, &f);
		goto out;
	default:
		fake_send(fk, &f);
		fake_serve(fk);
	}
out:
	close(fk->fd);
	return NULL;
}

static struct fake *
fake_start(enum fake_mode mode)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct fake		*fk;

	if ((fk = calloc(1, sizeof *fk)) == NULL)
		return NULL;
	fk->mode = mode;
	snprintf(fk->path, sizeof fk->path, "%s/fake.sock", dir);
	memcpy(sun.sun_path, fk->path, sizeof sun.sun_path);
	unlink(fk->path);
	if ((fk->lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(fk->lfd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fk->lfd, 1) == -1 ||
	    pthread_create(&fk->tid, NULL, fake_main, fk) != 0) {
		free(fk);
		return NULL;
	}
	return fk;
}

/* Wait for the fake to finish (its client has closed); then read it. */
static void
fake_join(struct fake *fk)
{
	pthread_join(fk->tid, NULL);
	close(fk->lfd);
	unlink(fk->path);
}

static void
fake_free(struct fake *fk)
{
	if (fk->stage != NULL)
		munmap(fk->stage, (size_t)fk->nslots * PAGE);
	free(fk);
}

static int
fake_connect(struct fake *fk, unsigned slots, zp_client **c)
{
	struct zp_options	o = { .socket_path = fk->path, .slots = slots };

	return zp_connect(&o, c);
}

/* The hello: a sealed memfd of the declared size; refusals come back. */
static void
test_fake_hello(void)
{
	static const struct {
		enum fake_mode	mode;
		int		rv;
	} cases[] = {
		{ FAKE_VERSION, ZP_EPROTO },
		{ FAKE_BUSY, ZP_EBUSY },
		{ FAKE_HANGUP, ZP_ENOTCONN },
	};
	struct fake	*fk;
	zp_client	*c;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CU_ASSERT_FATAL((fk = fake_start(cases[i].mode)) != NULL);
		c = NULL;
		CU_ASSERT(fake_connect(fk, 5, &c) == cases[i].rv);
		CU_ASSERT(c == NULL);
		fake_join(fk);
		CU_ASSERT(fk->sealed);
		CU_ASSERT(fk->nslots == 5);
		fake_free(fk);
	}
}

/*
 * Batches cut to the daemon's max_batch, no more than max_inflight
 * requests waiting, replies taken in any order, pages through the right
 * slots both ways.
 */
static void
test_fake_pipeline(void)
{
	enum { N = 50 };
	struct fake	*fk;
	zp_client	*c;
	struct zp_stats	 st;
	zp_ticket	 t;
	uint8_t		*in, *out;
	zp_handle	 h[N];
	int		 res[N], i;

	CU_ASSERT_FATAL((fk = fake_start(FAKE_SERVE)) != NULL);
	CU_ASSERT_FATAL(fake_connect(fk, 64, &c) == 0);
	in = malloc((size_t)N * PAGE);
	out = calloc(N, PAGE);
	CU_ASSERT_FATAL(in != NULL && out != NULL);
	/* The fake knows a page by the key page_text stamps at its start. */
	for (i = 0; i < N; i++)
		page_text(in + (size_t)i * PAGE, 555000 + i);

	CU_ASSERT(zp_store_batch(c, in, N, h, res) == N);
	CU_ASSERT(zp_load_batch(c, h, N, out, res) == N);
	CU_ASSERT(memcmp(in, out, (size_t)N * PAGE) == 0);
	CU_ASSERT(zp_load(c, N + 1, out) == ZP_ENOENT);
	CU_ASSERT(zp_stats(c, &st) == 0);
	CU_ASSERT(st.client_id == 42 && st.pages_stored == N);
	CU_ASSERT(zp_store_async(c, in, FAKE_BATCH + 1, &t) == ZP_EINVAL);
	CU_ASSERT(zp_free_batch(c, h, N, res) == N);
	zp_close(c);
	fake_join(fk);
	CU_ASSERT(fk->sealed && fk->nslots == 64);
	CU_ASSERT(fk->violations == 0);
	/* Store, load and free each took at least N / FAKE_BATCH requests. */
	CU_ASSERT(fk->requests >= 3 * (N / FAKE_BATCH));
	CU_ASSERT(fk->reordered);
	fake_free(fk);
	free(in);
	free(out);
}

/* A daemon that breaks the protocol loses the connection: ZP_EPROTO. */
static void
test_fake_bad_replies(void)
{
	enum fake_mode	 modes[] = { FAKE_WRONG_ID, FAKE_BAD_COUNT };
	struct fake	*fk;
	zp_client	*c;
	uint8_t		 pages[2 * PAGE];
	zp_handle	 h[2];
	int		 res[2];
	size_t		 i;

	page_make(pages, 1);
	page_make(pages + PAGE, 2);
	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		CU_ASSERT_FATAL((fk = fake_start(modes[i])) != NULL);
		CU_ASSERT_FATAL(fake_connect(fk, 8, &c) == 0);
		CU_ASSERT(zp_store_batch(c, pages, 2, h, res) == ZP_EPROTO);
		CU_ASSERT(res[0] == ZP_EPROTO && res[1] == ZP_EPROTO);
		CU_ASSERT(zp_load(c, 1, pages) == ZP_EPROTO);
		zp_close(c);
		fake_join(fk);
		fake_free(fk);
	}
}

/* ---- main ---- */

static void
dump_log(const char *path)
{
	char	 buf[4096];
	FILE	*f;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

static void
remove_dir(void)
{
	struct dirent	*e;
	DIR		*d;
	char		 p[512];

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

int
main(void)
{
	static const struct cu_case basics[] = {
		{ "socket paths", test_paths },
		{ "client names", test_names },
		{ "busy polling window", test_busy_poll },
		{ "zp_strerror", test_strerror },
		{ "single pages and errors", test_single },
		{ "handles are per connection", test_isolation },
		{ "stats", test_stats },
		{ NULL, NULL }
	};
	static const struct cu_case batches[] = {
		{ "larger than max_batch", test_big_batch },
		{ "larger than staging", test_big_batch_small_staging },
		{ "async store", test_async },
		{ NULL, NULL }
	};
	static const struct cu_case concurrency[] = {
		{ "processes", test_processes },
		{ "killed client", test_killed_client },
		{ "zp_close after fork", test_close_after_fork },
		{ "threads on one connection", test_threads },
		{ "threads, never polling", test_threads_no_poll },
		{ "threads, 3 staging slots", test_threads_tiny_staging },
		{ NULL, NULL }
	};
	static const struct cu_case fake[] = {
		{ "hello", test_fake_hello },
		{ "pipelined, split, out of order", test_fake_pipeline },
		{ "protocol violations", test_fake_bad_replies },
		{ NULL, NULL }
	};
	static const struct cu_case daemon[] = {
		{ "daemon killed", test_daemon_killed },
		{ "SIGTERM", test_sigterm },
		{ NULL, NULL }
	};
	char		p[512];
	int		rc;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(sock, sizeof sock, "%s/zpoold.sock", dir);
	snprintf(logpath, sizeof logpath, "%s/zpoold.log", dir);
	daemon_pid = daemon_start(sock, logpath);
	if (daemon_pid <= 0 || !daemon_ready(daemon_pid, sock)) {
		fprintf(stderr, "zpoold did not come up on %s\n", sock);
		dump_log(logpath);
		return 99;
	}
	if (cu_suite("basics", basics) != 0 ||
	    cu_suite("batches", batches) != 0 ||
	    cu_suite("concurrency", concurrency) != 0 ||
	    cu_suite("fake daemon", fake) != 0 ||
	    cu_suite("daemon", daemon) != 0)
		return 99;
	rc = cu_run();
	if (daemon_pid > 0)
		daemon_stop(daemon_pid);
	if (rc == 0) {
		remove_dir();
		return 0;
	}
	dump_log(logpath);
	snprintf(p, sizeof p, "%s/killed.log", dir);
	dump_log(p);
	fprintf(stderr, "logs kept in %s\n", dir);
	return 1;
}
