/*
 * test_daemon.c -- the real zpoold, on a private socket, against clients
 * that speak the raw protocol: well-behaved ones, and the hostile ones of
 * issue 3 (garbage, truncated and oversized frames, unknown types, bad
 * slots, bad memfds, foreign and freed handles, a client killed mid-batch,
 * a client that floods without reading).
 *
 * After every hostile case a well-behaved client must still store, load
 * and verify pages, and the daemon's figures (clients, objects,
 * mem_used_total) must come back to where they were before it.  The daemon
 * is $ZPOOLD (make check sets it); its log is kept only when a test fails.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "zpclient.h"
#include "rawclient.h"
#include "testdaemon.h"

#define MAX_PER_UID	16
#define SETTLE_MS	5000
/* Pages held at once by the warm-up: twice test_processes's 8192. */
#define WARM_BATCHES	64

static char		 tmpdir[] = "/tmp/zpoold-test.XXXXXX";
static char		 sock[PATH_MAX];
static char		 logpath[PATH_MAX];
static pid_t		 daemon_pid = -1;
static struct raw	 adm;		/* admin connection, no staging */

/* Where the figures must come back to. */
static uint64_t		 base_objects;
static uint64_t		 base_mem;

/* ---- the daemon ---- */

static int
daemon_start(void)
{
	const char	*bin = getenv("ZPOOLD");
	char		 conf[PATH_MAX];
	int		 fd, i;

	if (bin == NULL || *bin == '\0') {
		fprintf(stderr, "ZPOOLD is not set (make check sets it)\n");
		return -1;
	}
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* Reachable by the unprivileged child of the admin test. */
	chmod(tmpdir, 0755);
	snprintf(sock, sizeof sock, "%s/zpoold.sock", tmpdir);
	snprintf(logpath, sizeof logpath, "%s/zpoold.log", tmpdir);
	snprintf(conf, sizeof conf, "%s/zpoold.conf", tmpdir);
	/* An empty file: no installed configuration leaks in. */
	if ((fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		return -1;
	close(fd);

	if ((daemon_pid = fork()) == -1)
		return -1;
	if (daemon_pid == 0) {
		if ((fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND,
		    0600)) != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		/*
		 * No busy polling: here the loop and the workers sleep as
		 * soon as they are idle; test_client runs the default.
		 */
		execl(bin, "zpoold", "--foreground", "--config", conf,
		    "--socket", sock, "--workers", "2", "--log-level", "debug",
		    "--max_clients_per_uid=16", "--max_slots=4096",
		    "--compact_interval=1", "--busy_poll=0", (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		if (raw_open(&adm, sock, "test-admin", 0) == 0)
			return 0;
		if (waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid) {
			daemon_pid = -1;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

/* Wait for the daemon to exit: its exit status, or -1. */
static int
daemon_wait(void)
{
	int	st, i;

	if (daemon_pid == -1)
		return -1;
	for (i = 0; i < 1000; i++) {
		if (waitpid(daemon_pid, &st, WNOHANG) == daemon_pid) {
			daemon_pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		usleep(10000);
	}
	kill(daemon_pid, SIGKILL);
	waitpid(daemon_pid, &st, 0);
	daemon_pid = -1;
	return -1;
}

static int
daemon_stop(void)
{
	if (daemon_pid != -1)
		kill(daemon_pid, SIGTERM);
	return daemon_wait();
}

static long
daemon_rss_kb(void)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kb = -1;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)daemon_pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- helpers ---- */

static bool
figures(uint64_t *clients, uint64_t *objects, uint64_t *mem, uint64_t *empty)
{
	Zpool__StatsReply	*st;

	if ((st = raw_stats(&adm, false)) == NULL || st->pool == NULL)
		return false;
	*clients = st->pool->clients;
	*objects = st->pool->objects;
	*mem = st->pool->mem_used_total;
	*empty = st->pool->empty_frames;
	zpool__stats_reply__free_unpacked(st, NULL);
	return true;
}

/* Wait until only the admin connection is left and the figures are back. */
static void
assert_settled(void)
{
	uint64_t	clients = 0, objects = 0, mem = 0, empty;
	int		i;

	for (i = 0; i < SETTLE_MS / 10; i++) {
		if (!figures(&clients, &objects, &mem, &empty))
			break;
		if (clients == 1 && objects == base_objects && mem == base_mem)
			return;
		usleep(10000);
	}
	fprintf(stderr, "\n  not settled: clients %llu, objects %llu (was "
	    "%llu), mem_used_total %llu (was %llu)\n",
	    (unsigned long long)clients, (unsigned long long)objects,
	    (unsigned long long)base_objects, (unsigned long long)mem,
	    (unsigned long long)base_mem);
	CU_FAIL("daemon figures did not return to the baseline");
}

/* Store n pages of seeds seed0.., load them back shuffled, verify, free. */
static void
roundtrip(struct raw *r, uint64_t seed0, size_t n)
{
	uint64_t	handles[WIRE_BATCH_MAX];
	uint32_t	slots[WIRE_BATCH_MAX], back[WIRE_BATCH_MAX];
	int32_t		errors[WIRE_BATCH_MAX];
	uint8_t		want[ZP_PAGE_SIZE];
	size_t		i, bad = 0;

	CU_ASSERT_FATAL(n <= WIRE_BATCH_MAX && n <= r->slots);
	for (i = 0; i < n; i++) {
		slots[i] = (uint32_t)i;
		raw_fill_page(r->stage + i * ZP_PAGE_SIZE, seed0 + i);
	}
	CU_ASSERT_EQUAL_FATAL(raw_store(r, slots, n, handles, errors), 0);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(errors[i], 0);
		CU_ASSERT_NOT_EQUAL(handles[i], 0);
		/* Load into another slot than the page came from. */
		back[i] = (uint32_t)(n - 1 - i);
	}
	memset(r->stage, 0xa5, n * ZP_PAGE_SIZE);
	CU_ASSERT_EQUAL_FATAL(raw_load(r, handles, back, n, errors), 0);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(errors[i], 0);
		raw_fill_page(want, seed0 + i);
		if (memcmp(r->stage + (size_t)back[i] * ZP_PAGE_SIZE, want,
		    ZP_PAGE_SIZE) != 0)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL_FATAL(raw_free(r, handles, n, errors), 0);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(errors[i], 0);
}

/* A well-behaved client still works, and the daemon is back to baseline. */
static void
assert_healthy(void)
{
	struct raw	r;

	CU_ASSERT_EQUAL_FATAL(raw_open(&r, sock, "healthy", 256), 0);
	roundtrip(&r, (uint64_t)time(NULL) << 20, 256);
	raw_close(&r);
	assert_settled();
}

/* A connection that has said hello, with 16 slots. */
static int
hello_fd(struct raw *r)
{
	CU_ASSERT_EQUAL_FATAL(raw_open(r, sock, "hostile", 16), 0);
	return r->fd;
}

/* The daemon must answer with an ErrorReply of `code`, then close. */
static void
assert_refused(int fd, int code)
{
	wire_frame	*f;

	CU_ASSERT_EQUAL_FATAL(raw_read_frame(fd, RAW_TIMEOUT_MS, &f), 0);
	CU_ASSERT_EQUAL(f->body_case, ZPOOL__FRAME__BODY_ERROR);
	if (f->body_case == ZPOOL__FRAME__BODY_ERROR)
		CU_ASSERT_EQUAL(f->error->code, code);
	wire_free(f);
	CU_ASSERT_EQUAL(raw_wait_closed(fd, RAW_TIMEOUT_MS), 0);
}

static void
assert_dropped(int fd)
{
	CU_ASSERT_EQUAL(raw_wait_closed(fd, RAW_TIMEOUT_MS), 0);
}

static void
put_len(uint8_t *p, uint32_t len)
{
	p[0] = len & 0xff;
	p[1] = (len >> 8) & 0xff;
	p[2] = (len >> 16) & 0xff;
	p[3] = len >> 24;
}

/* ---- tests ---- */

/*
 * Store, load and verify; then hold more pages at once than any later test
 * does, so that the pool's metadata, counted at its high-water mark, has
 * reached it before the baseline is taken.
 */
static void
test_roundtrip(void)
{
	struct raw	 r;
	uint64_t	 seed, *held, clients = 0, empty = 0;
	uint32_t	 slots[WIRE_BATCH_MAX];
	int32_t		 errors[WIRE_BATCH_MAX];
	size_t		 b, i, bad = 0;

	CU_ASSERT_EQUAL_FATAL(raw_open(&r, sock, "roundtrip", 256), 0);
	CU_ASSERT_NOT_EQUAL(r.client_id, 0);
	CU_ASSERT_EQUAL(r.max_inflight, 64);
	for (seed = 0; seed < 16; seed++)
		roundtrip(&r, seed << 32, 256);

	held = calloc(WARM_BATCHES * 256, sizeof *held);
	CU_ASSERT_FATAL(held != NULL);
	for (i = 0; i < 256; i++)
		slots[i] = (uint32_t)i;
	for (b = 0; b < WARM_BATCHES; b++) {
		for (i = 0; i < 256; i++)
			raw_fill_page(r.stage + i * ZP_PAGE_SIZE,
			    1ULL << 50 | b << 8 | i);
		CU_ASSERT_EQUAL_FATAL(raw_store(&r, slots, 256, held + b * 256,
		    errors), 0);
		for (i = 0; i < 256; i++)
			bad += errors[i] != 0;
	}
	for (b = 0; b < WARM_BATCHES; b++) {
		CU_ASSERT_EQUAL_FATAL(raw_free(&r, held + b * 256, 256,
		    errors), 0);
		for (i = 0; i < 256; i++)
			bad += errors[i] != 0;
	}
	CU_ASSERT_EQUAL(bad, 0);
	free(held);
	raw_close(&r);
	/*
	 * The baseline once the daemon has seen this client go (its handle
	 * table is counted until then) and the zspages the warm-up emptied
	 * are given back (compaction every second).
	 */
	for (i = 0; i < SETTLE_MS / 10; i++) {
		CU_ASSERT_FATAL(figures(&clients, &base_objects, &base_mem,
		    &empty));
		if (clients == 1 && empty == 0)
			break;
		usleep(10000);
	}
	CU_ASSERT_EQUAL_FATAL(clients, 1);
	CU_ASSERT_EQUAL_FATAL(empty, 0);
	assert_settled();
}

static void
test_processes(void)
{
	pid_t	pids[4];
	int	i, st, ok = 0;

	for (i = 0; i < 4; i++) {
		if ((pids[i] = fork()) == 0) {
			struct raw	r;
			uint8_t		want[ZP_PAGE_SIZE];
			uint64_t	h[WIRE_BATCH_MAX * 8];
			uint32_t	slots[WIRE_BATCH_MAX];
			int32_t		err[WIRE_BATCH_MAX];
			size_t		b, j;
			int		fail = 0;

			if (raw_open(&r, sock, "proc", 256) != 0)
				_exit(2);
			/* 8 batches held at once: 2048 pages a process. */
			for (b = 0; b < 8; b++) {
				for (j = 0; j < 256; j++) {
					slots[j] = (uint32_t)j;
					raw_fill_page(r.stage + j * 4096,
					    (uint64_t)i << 40 | b << 8 | j);
				}
				if (raw_store(&r, slots, 256, h + b * 256,
				    err) != 0)
					_exit(3);
				for (j = 0; j < 256; j++)
					fail |= err[j] != 0;
			}
			for (b = 0; b < 8; b++) {
				if (raw_load(&r, h + b * 256, slots, 256,
				    err) != 0)
					_exit(4);
				for (j = 0; j < 256; j++) {
					raw_fill_page(want, (uint64_t)i << 40 |
					    b << 8 | j);
					fail |= err[j] != 0 ||
					    memcmp(r.stage + j * 4096, want,
					    4096) != 0;
				}
			}
			raw_close(&r);
			_exit(fail ? 1 : 0);
		}
	}
	for (i = 0; i < 4; i++)
		if (waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) &&
		    WEXITSTATUS(st) == 0)
			ok++;
	CU_ASSERT_EQUAL(ok, 4);
	/* Their pages went with their connections. */
	assert_settled();
}

static void
test_pipelined(void)
{
	struct raw		 r;
	Zpool__StoreRequest	 sr = ZPOOL__STORE_REQUEST__INIT;
	Zpool__StatsRequest	 st = ZPOOL__STATS_REQUEST__INIT;
	Zpool__FreeRequest	 fr = ZPOOL__FREE_REQUEST__INIT;
	wire_frame		 f = ZPOOL__FRAME__INIT, *rep;
	uint32_t		 slots[WIRE_BATCH_MAX];
	uint64_t		 bogus = 12345;
	unsigned		 i, seen = 0;

	hello_fd(&r);
	for (i = 0; i < 16; i++) {
		slots[i] = i;
		raw_fill_page(r.stage + i * 4096, 777 + i);
	}
	sr.n_slots = 16;
	sr.slots = slots;
	for (i = 0; i < 8; i++) {
		f.id = 1000 + i;
		f.body_case = ZPOOL__FRAME__BODY_STORE;
		f.store = &sr;
		CU_ASSERT_EQUAL_FATAL(raw_send_frame(r.fd, &f, NULL, 0), 0);
	}
	f.id = 2000;
	f.body_case = ZPOOL__FRAME__BODY_STATS;
	f.stats = &st;
	CU_ASSERT_EQUAL_FATAL(raw_send_frame(r.fd, &f, NULL, 0), 0);
	fr.n_handles = 1;
	fr.handles = &bogus;
	f.id = 3000;
	f.body_case = ZPOOL__FRAME__BODY_FREE;
	f.free = &fr;
	CU_ASSERT_EQUAL_FATAL(raw_send_frame(r.fd, &f, NULL, 0), 0);
	for (i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL_FATAL(raw_read_frame(r.fd, RAW_TIMEOUT_MS,
		    &rep), 0);
		if (rep->id >= 1000 && rep->id < 1008) {
			CU_ASSERT_EQUAL(rep->body_case,
			    ZPOOL__FRAME__BODY_STORE_REPLY);
			seen |= 1u << (rep->id - 1000);
		} else if (rep->id == 2000) {
			CU_ASSERT_EQUAL(rep->body_case,
			    ZPOOL__FRAME__BODY_STATS_REPLY);
			seen |= 1u << 8;
		} else if (rep->id == 3000) {
			CU_ASSERT_EQUAL(rep->body_case,
			    ZPOOL__FRAME__BODY_FREE_REPLY);
			CU_ASSERT_EQUAL(rep->free_reply->errors[0], ZP_ENOENT);
			seen |= 1u << 9;
		}
		wire_free(rep);
	}
	CU_ASSERT_EQUAL(seen, 0x3ff);
	raw_close(&r);
	assert_healthy();
}

static void
test_garbage(void)
{
	struct raw	r;
	uint8_t		junk[512];
	size_t		i;
	int		fd;

	/* After hello. */
	hello_fd(&r);
	for (i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	put_len(junk, 200);
	CU_ASSERT_EQUAL(raw_send(r.fd, junk, sizeof junk, NULL, 0), 0);
	assert_refused(r.fd, ZP_EPROTO);
	raw_close(&r);

	/* Instead of a hello. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	CU_ASSERT_EQUAL(raw_send(fd, junk, sizeof junk, NULL, 0), 0);
	assert_refused(fd, ZP_EPROTO);
	close(fd);
	assert_healthy();
}

static void
test_truncated(void)
{
	struct raw	r;
	uint8_t		buf[64];
	int		fd;

	memset(buf, 0, sizeof buf);
	/* A frame cut short, then the peer goes away. */
	hello_fd(&r);
	put_len(buf, 100);
	CU_ASSERT_EQUAL(raw_send(r.fd, buf, 20, NULL, 0), 0);
	usleep(50000);
	raw_close(&r);

	/* Half a header. */
	hello_fd(&r);
	CU_ASSERT_EQUAL(raw_send(r.fd, buf, 2, NULL, 0), 0);
	usleep(50000);
	raw_close(&r);

	/* A hello cut short. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	put_len(buf, 40);
	CU_ASSERT_EQUAL(raw_send(fd, buf, 10, NULL, 0), 0);
	usleep(50000);
	close(fd);
	assert_healthy();
}

static void
test_oversized(void)
{
	static const uint32_t	lens[] = { 0, WIRE_FRAME_MAX + 1, 0x7fffffff,
	    0xffffffff };
	struct raw		r;
	uint8_t			hdr[4];
	size_t			i;
	int			fd;

	for (i = 0; i < sizeof lens / sizeof *lens; i++) {
		hello_fd(&r);
		put_len(hdr, lens[i]);
		CU_ASSERT_EQUAL(raw_send(r.fd, hdr, 4, NULL, 0), 0);
		assert_refused(r.fd, ZP_EPROTO);
		raw_close(&r);
	}
	/* A hello longer than any hello. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	put_len(hdr, WIRE_FRAME_MAX);
	CU_ASSERT_EQUAL(raw_send(fd, hdr, 4, NULL, 0), 0);
	assert_dropped(fd);
	close(fd);
	assert_healthy();
}

static void
test_unknown_type(void)
{
	/* Frame{id = 7, field 30 (not in the protocol) = "abc"}. */
	static const uint8_t	unknown[] = { 9, 0, 0, 0,
	    0x08, 0x07, 0xf2, 0x01, 0x03, 'a', 'b', 'c', 0x00 };
	Zpool__StoreReply	sr = ZPOOL__STORE_REPLY__INIT;
	Zpool__ErrorReply	er = ZPOOL__ERROR_REPLY__INIT;
	wire_frame		f = ZPOOL__FRAME__INIT;
	struct raw		r;
	uint64_t		h = 1;
	int32_t			e = 0;

	hello_fd(&r);
	/* Length 9: the unknown field only, no body. */
	CU_ASSERT_EQUAL(raw_send(r.fd, unknown, 4 + 9, NULL, 0), 0);
	assert_refused(r.fd, ZP_EPROTO);
	raw_close(&r);

	/* A reply type, from a client. */
	hello_fd(&r);
	sr.n_handles = 1;
	sr.handles = &h;
	sr.n_errors = 1;
	sr.errors = &e;
	f.body_case = ZPOOL__FRAME__BODY_STORE_REPLY;
	f.store_reply = &sr;
	CU_ASSERT_EQUAL(raw_send_frame(r.fd, &f, NULL, 0), 0);
	assert_refused(r.fd, ZP_EPROTO);
	raw_close(&r);

	/* An error frame, from a client. */
	hello_fd(&r);
	er.code = -1;
	er.message = "boo";
	f.body_case = ZPOOL__FRAME__BODY_ERROR;
	f.error = &er;
	CU_ASSERT_EQUAL(raw_send_frame(r.fd, &f, NULL, 0), 0);
	assert_refused(r.fd, ZP_EPROTO);
	raw_close(&r);

	/* A second hello. */
	hello_fd(&r);
	CU_ASSERT_EQUAL(raw_send_hello(r.fd, ZP_PROTOCOL_VERSION, "again", 0,
	    NULL, 0), 0);
	assert_refused(r.fd, ZP_EPROTO);
	raw_close(&r);
	assert_healthy();
}

static void
test_bad_batches(void)
{
	Zpool__StoreRequest	sr = ZPOOL__STORE_REQUEST__INIT;
	Zpool__LoadRequest	lr = ZPOOL__LOAD_REQUEST__INIT;
	wire_frame		f = ZPOOL__FRAME__INIT;
	struct raw		r;
	uint32_t		slots[WIRE_BATCH_MAX + 1];
	uint64_t		handles[2] = { 1, 2 };
	unsigned		i;

	for (i = 0; i <= WIRE_BATCH_MAX; i++)
		slots[i] = i % 16;

	/* Empty. */
	hello_fd(&r);
	f.body_case = ZPOOL__FRAME__BODY_STORE;
	f.store = &sr;
	CU_ASSERT_EQUAL(raw_send_frame(r.fd, &f, NULL, 0), 0);
	assert_refused(r.fd, ZP_EPROTO);
	raw_close(&r);

	/* Over WIRE_BATCH_MAX. */
	hello_fd(&r);
	sr.n_slots = WIRE_BATCH_MAX + 1;
	sr.slots = slots;
	CU_ASSERT_EQUAL(raw_send_frame(r.fd, &f, NULL, 0), 0);
	assert_refused(r.fd, ZP_EPROTO);
	raw_close(&r);

	/* Handles and slots of different lengths. */
	hello_fd(&r);
	lr.n_handles = 2;
	lr.handles = handles;
	lr.n_slots = 1;
	lr.slots = slots;
	f.body_case = ZPOOL__FRAME__BODY_LOAD;
	f.load = &lr;
	CU_ASSERT_EQUAL(raw_send_frame(r.fd, &f, NULL, 0), 0);
	assert_refused(r.fd, ZP_EPROTO);
	raw_close(&r);
	assert_healthy();
}

static void
test_slot_range(void)
{
	struct raw	r, admin;
	uint32_t	slot;
	uint64_t	h;
	int32_t		e;

	/* Store from slot 16 of 16. */
	hello_fd(&r);
	slot = 16;
	CU_ASSERT_EQUAL(raw_store(&r, &slot, 1, &h, &e), ZP_EPROTO);
	assert_dropped(r.fd);
	raw_close(&r);

	/* Load into a slot far out. */
	hello_fd(&r);
	slot = 0;
	raw_fill_page(r.stage, 5);
	CU_ASSERT_EQUAL_FATAL(raw_store(&r, &slot, 1, &h, &e), 0);
	slot = 0xffffffff;
	CU_ASSERT_EQUAL(raw_load(&r, &h, &slot, 1, &e), ZP_EPROTO);
	assert_dropped(r.fd);
	raw_close(&r);

	/* Any page request on an admin connection. */
	CU_ASSERT_EQUAL_FATAL(raw_open(&admin, sock, "admin", 0), 0);
	slot = 0;
	CU_ASSERT_EQUAL(raw_store(&admin, &slot, 1, &h, &e), ZP_EPROTO);
	assert_dropped(admin.fd);
	raw_close(&admin);
	assert_healthy();
}

static void
test_bad_hello(void)
{
	int	fd, mfd, fds[2];

	/* Unsealed memfd. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	CU_ASSERT_FATAL((mfd = raw_memfd(16 * 4096, false)) >= 0);
	CU_ASSERT_EQUAL(raw_send_hello(fd, ZP_PROTOCOL_VERSION, "unsealed",
	    16, &mfd, 1), 0);
	close(mfd);
	assert_refused(fd, ZP_EINVAL);
	close(fd);

	/* Sealed, but shorter than its slots. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	CU_ASSERT_FATAL((mfd = raw_memfd(15 * 4096, true)) >= 0);
	CU_ASSERT_EQUAL(raw_send_hello(fd, ZP_PROTOCOL_VERSION, "short",
	    16, &mfd, 1), 0);
	close(mfd);
	assert_refused(fd, ZP_EINVAL);
	close(fd);

	/* Not a memfd at all: a pipe. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	CU_ASSERT_FATAL(pipe(fds) == 0);
	CU_ASSERT_EQUAL(raw_send_hello(fd, ZP_PROTOCOL_VERSION, "pipe",
	    16, fds, 1), 0);
	close(fds[0]);
	close(fds[1]);
	assert_refused(fd, ZP_EINVAL);
	close(fd);

	/* Two fds. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	fds[0] = raw_memfd(16 * 4096, true);
	fds[1] = raw_memfd(16 * 4096, true);
	CU_ASSERT_EQUAL(raw_send_hello(fd, ZP_PROTOCOL_VERSION, "two", 16,
	    fds, 2), 0);
	close(fds[0]);
	close(fds[1]);
	assert_refused(fd, ZP_EINVAL);
	close(fd);

	/* Slots but no memfd; an fd but no slots; too many slots. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	CU_ASSERT_EQUAL(raw_send_hello(fd, ZP_PROTOCOL_VERSION, "nofd", 16,
	    NULL, 0), 0);
	assert_refused(fd, ZP_EINVAL);
	close(fd);
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	mfd = raw_memfd(4096, true);
	CU_ASSERT_EQUAL(raw_send_hello(fd, ZP_PROTOCOL_VERSION, "fd0", 0,
	    &mfd, 1), 0);
	close(mfd);
	assert_refused(fd, ZP_EINVAL);
	close(fd);
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	mfd = raw_memfd(4097 * 4096, true);
	CU_ASSERT_EQUAL(raw_send_hello(fd, ZP_PROTOCOL_VERSION, "big", 4097,
	    &mfd, 1), 0);
	close(mfd);
	assert_refused(fd, ZP_EINVAL);
	close(fd);

	/* Another protocol version. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	CU_ASSERT_EQUAL(raw_send_hello(fd, ZP_PROTOCOL_VERSION + 1, "v2", 0,
	    NULL, 0), 0);
	assert_refused(fd, ZP_EPROTO);
	close(fd);

	/* A name longer than WIRE_NAME_MAX. */
	{
		char	name[WIRE_NAME_MAX + 2];

		memset(name, 'n', sizeof name - 1);
		name[sizeof name - 1] = '\0';
		CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
		CU_ASSERT_EQUAL(raw_send_hello(fd, ZP_PROTOCOL_VERSION, name,
		    0, NULL, 0), 0);
		assert_refused(fd, ZP_EPROTO);
		close(fd);
	}
	assert_healthy();
}

static void
test_foreign_handles(void)
{
	struct raw	a, b;
	uint8_t		want[ZP_PAGE_SIZE];
	uint64_t	h[16];
	uint32_t	slots[16];
	int32_t		e[16];
	unsigned	i;

	CU_ASSERT_EQUAL_FATAL(raw_open(&a, sock, "a", 16), 0);
	CU_ASSERT_EQUAL_FATAL(raw_open(&b, sock, "b", 16), 0);
	for (i = 0; i < 16; i++) {
		slots[i] = i;
		raw_fill_page(a.stage + i * 4096, 0xaaa0 + i);
	}
	CU_ASSERT_EQUAL_FATAL(raw_store(&a, slots, 16, h, e), 0);
	/* B has stored the same number of pages: its table is as full. */
	for (i = 0; i < 16; i++)
		raw_fill_page(b.stage + i * 4096, 0xbbb0 + i);
	{
		uint64_t	hb[16];

		CU_ASSERT_EQUAL_FATAL(raw_store(&b, slots, 16, hb, e), 0);
	}
	memset(b.stage, 0, 16 * 4096);
	CU_ASSERT_EQUAL(raw_load(&b, h, slots, 16, e), 0);
	for (i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(e[i], ZP_ENOENT);
	raw_fill_page(want, 0xaaa0);
	CU_ASSERT(memcmp(b.stage, want, 4096) != 0);
	CU_ASSERT_EQUAL(raw_free(&b, h, 16, e), 0);
	for (i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(e[i], ZP_ENOENT);
	/* A's pages are untouched by all that. */
	memset(a.stage, 0, 16 * 4096);
	CU_ASSERT_EQUAL(raw_load(&a, h, slots, 16, e), 0);
	for (i = 0; i < 16; i++) {
		CU_ASSERT_EQUAL(e[i], 0);
		raw_fill_page(want, 0xaaa0 + i);
		CU_ASSERT(memcmp(a.stage + i * 4096, want, 4096) == 0);
	}
	/* Made-up handles. */
	h[0] = 0;
	h[1] = 1;
	h[2] = UINT64_MAX;
	h[3] = 0x8000000000000000ULL;
	CU_ASSERT_EQUAL(raw_load(&b, h, slots, 4, e), 0);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(e[i], ZP_ENOENT);
	raw_close(&a);
	raw_close(&b);
	assert_healthy();
}

/* Pipeline a load of n fresh pages and a free of them; check both. */
static void
load_then_free(struct raw *r, unsigned n)
{
	Zpool__LoadRequest	 lr = ZPOOL__LOAD_REQUEST__INIT;
	Zpool__FreeRequest	 fr = ZPOOL__FREE_REQUEST__INIT;
	wire_frame		 f = ZPOOL__FRAME__INIT, *rep;
	uint64_t		 h[16];
	uint32_t		 slots[16];
	int32_t			 e[16];
	uint8_t			 want[ZP_PAGE_SIZE];
	unsigned		 i, j;

	CU_ASSERT_FATAL(n <= 16 && n <= r->slots);
	for (i = 0; i < n; i++) {
		slots[i] = i;
		raw_fill_page(r->stage + i * ZP_PAGE_SIZE, 0x10ad0000 + i);
	}
	CU_ASSERT_EQUAL_FATAL(raw_store(r, slots, n, h, e), 0);
	memset(r->stage, 0, (size_t)n * ZP_PAGE_SIZE);
	lr.n_handles = lr.n_slots = n;
	lr.handles = h;
	lr.slots = slots;
	f.id = 1;
	f.body_case = ZPOOL__FRAME__BODY_LOAD;
	f.load = &lr;
	CU_ASSERT_EQUAL(raw_send_frame(r->fd, &f, NULL, 0), 0);
	fr.n_handles = n;
	fr.handles = h;
	f.id = 2;
	f.body_case = ZPOOL__FRAME__BODY_FREE;
	f.free = &fr;
	CU_ASSERT_EQUAL(raw_send_frame(r->fd, &f, NULL, 0), 0);
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL_FATAL(raw_read_frame(r->fd, RAW_TIMEOUT_MS,
		    &rep), 0);
		CU_ASSERT_FATAL(rep->id == 1 || rep->id == 2);
		for (j = 0; j < n; j++)
			CU_ASSERT_EQUAL(rep->id == 1 ?
			    rep->load_reply->errors[j] :
			    rep->free_reply->errors[j], 0);
		wire_free(rep);
	}
	for (i = 0; i < n; i++) {
		raw_fill_page(want, 0x10ad0000 + i);
		CU_ASSERT(memcmp(r->stage + i * ZP_PAGE_SIZE, want,
		    ZP_PAGE_SIZE) == 0);
	}
}

static void
test_freed_handles(void)
{
	struct raw	r;
	uint64_t	h[4], again[4];
	uint32_t	slots[4] = { 0, 1, 2, 3 };
	int32_t		e[4];
	unsigned	i;

	hello_fd(&r);
	for (i = 0; i < 4; i++)
		raw_fill_page(r.stage + i * 4096, 31337 + i);
	CU_ASSERT_EQUAL_FATAL(raw_store(&r, slots, 4, h, e), 0);
	CU_ASSERT_EQUAL_FATAL(raw_free(&r, h, 4, e), 0);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(e[i], 0);
	/* Double free. */
	CU_ASSERT_EQUAL_FATAL(raw_free(&r, h, 4, e), 0);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(e[i], ZP_ENOENT);
	/* The entries are reused; the old handles must not name them. */
	CU_ASSERT_EQUAL_FATAL(raw_store(&r, slots, 4, again, e), 0);
	for (i = 0; i < 4; i++)
		CU_ASSERT_NOT_EQUAL(again[i], h[i]);
	CU_ASSERT_EQUAL(raw_load(&r, h, slots, 4, e), 0);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(e[i], ZP_ENOENT);
	/* The same handle twice in one free. */
	again[1] = again[0];
	CU_ASSERT_EQUAL(raw_free(&r, again, 2, e), 0);
	CU_ASSERT_EQUAL(e[0], 0);
	CU_ASSERT_EQUAL(e[1], ZP_ENOENT);
	/*
	 * Loads and frees of the same handles in flight together: the loads
	 * were read first, so they get the pages.  Two pages are loaded on
	 * the loop thread, sixteen by a worker while the free goes ahead.
	 */
	load_then_free(&r, 2);
	load_then_free(&r, 16);
	raw_close(&r);
	assert_healthy();
}

/*
 * One batch, run by both workers at once in parts (daemon.h): pages that
 * are the same in two parts, stored once, and loads among freed handles.
 * Every page and every error must come back at its own index.
 */
static void
test_batch_parts(void)
{
	struct raw	r;
	uint64_t	h[256];
	uint32_t	slots[256], back[256];
	int32_t		e[256];
	uint8_t		want[ZP_PAGE_SIZE];
	uint64_t	clients, before = 0, objects = 0, mem, empty;
	unsigned	i, bad = 0;

	CU_ASSERT_EQUAL_FATAL(raw_open(&r, sock, "parts", 256), 0);
	for (i = 0; i < 256; i++) {
		slots[i] = i;
		back[i] = 255 - i;
		raw_fill_page(r.stage + i * 4096, 0x9a7700 + i % 128);
	}
	CU_ASSERT_FATAL(figures(&clients, &before, &mem, &empty));
	CU_ASSERT_EQUAL_FATAL(raw_store(&r, slots, 256, h, e), 0);
	for (i = 0; i < 256; i++)
		CU_ASSERT_EQUAL(e[i], 0);
	/* Each page and its copy in another part: one object between them. */
	CU_ASSERT_FATAL(figures(&clients, &objects, &mem, &empty));
	CU_ASSERT_EQUAL(objects - before, 128);
	for (i = 0; i < 256; i += 5)
		CU_ASSERT_EQUAL_FATAL(raw_free(&r, &h[i], 1, &e[i]), 0);
	memset(r.stage, 0x5a, 256 * 4096);
	CU_ASSERT_EQUAL_FATAL(raw_load(&r, h, back, 256, e), 0);
	for (i = 0; i < 256; i++) {
		CU_ASSERT_EQUAL(e[i], i % 5 == 0 ? ZP_ENOENT : 0);
		if (i % 5 == 0)
			continue;
		raw_fill_page(want, 0x9a7700 + i % 128);
		if (memcmp(r.stage + (size_t)back[i] * 4096, want, 4096) != 0)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	for (i = 0; i < 256; i++)
		if (i % 5 != 0)
			CU_ASSERT_EQUAL(raw_free(&r, &h[i], 1, &e[i]), 0);
	raw_close(&r);
	assert_settled();
}

/*
 * A child that pipelines big batches, never reading a reply: stores of
 * its 256 slots, or, once it has stored them, loads of all 256 pages.
 */
static void
batch_forever(bool loads)
{
	Zpool__StoreRequest	sr = ZPOOL__STORE_REQUEST__INIT;
	Zpool__LoadRequest	lr = ZPOOL__LOAD_REQUEST__INIT;
	wire_frame		f = ZPOOL__FRAME__INIT;
	struct raw		r;
	uint64_t		h[WIRE_BATCH_MAX];
	uint32_t		slots[WIRE_BATCH_MAX];
	int32_t			e[WIRE_BATCH_MAX];
	unsigned		i;

	if (raw_open(&r, sock, "doomed", 256) != 0)
		_exit(2);
	for (i = 0; i < 256; i++) {
		slots[i] = i;
		raw_fill_page(r.stage + i * 4096, 0xdead0000 + i);
	}
	sr.n_slots = 256;
	sr.slots = slots;
	f.body_case = ZPOOL__FRAME__BODY_STORE;
	f.store = &sr;
	if (loads) {
		if (raw_store(&r, slots, 256, h, e) != 0)
			_exit(4);
		lr.n_handles = lr.n_slots = 256;
		lr.handles = h;
		lr.slots = slots;
		f.body_case = ZPOOL__FRAME__BODY_LOAD;
		f.load = &lr;
	}
	for (i = 0;; i++) {
		f.id = i;
		if (raw_send_frame(r.fd, &f, NULL, 0) != 0)
			_exit(3);
	}
}

/*
 * Killed with parts of its batches queued, running and done: stores
 * (pages of finished parts are given back) and loads (every part's pins
 * are undone).
 */
static void
test_killed_mid_batch(void)
{
	pid_t	pid;
	int	round, st;

	for (round = 0; round < 6; round++) {
		if ((pid = fork()) == 0)
			batch_forever(round % 2 == 1);
		CU_ASSERT_FATAL(pid > 0);
		usleep(50000 + round / 2 * 100000);
		kill(pid, SIGKILL);
		CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
		CU_ASSERT(WIFSIGNALED(st));
	}
	assert_healthy();
}

/*
 * Replies pile up in a full socket and then in the daemon's output queue
 * (a lone reply is sent straight to the socket, and one the socket
 * refuses is queued): read back, every one is whole and in order.
 */
static void
test_replies_in_order(void)
{
	Zpool__StatsRequest	 st = ZPOOL__STATS_REQUEST__INIT;
	wire_frame		 f = ZPOOL__FRAME__INIT;
	wire_frame		*reply;
	struct raw		 r;
	uint8_t			*buf, *p;
	size_t			 len = 0, sent = 0, one;
	uint64_t		 id, want = 1;
	const uint64_t		 n = 20000;
	ssize_t			 w;
	int			 fl, bad = 0;

	hello_fd(&r);
	f.body_case = ZPOOL__FRAME__BODY_STATS;
	f.stats = &st;
	buf = malloc(n * 32);
	CU_ASSERT_FATAL(buf != NULL);
	for (id = 1; id <= n; id++) {
		f.id = id;
		CU_ASSERT_FATAL((one = wire_encode(&f, &p)) != 0 && one <= 32);
		memcpy(buf + len, p, one);
		len += one;
		free(p);
	}
	fl = fcntl(r.fd, F_GETFL);
	fcntl(r.fd, F_SETFL, fl | O_NONBLOCK);
	while (want <= n) {
		if (sent < len) {
			w = send(r.fd, buf + sent, len - sent, MSG_NOSIGNAL);
			if (w > 0) {
				sent += (size_t)w;
				continue;
			}
			CU_ASSERT_FATAL(w == -1 && errno == EAGAIN);
		}
		/* Stuck, or all sent: take a reply. */
		fcntl(r.fd, F_SETFL, fl);
		CU_ASSERT_EQUAL_FATAL(raw_read_frame(r.fd, RAW_TIMEOUT_MS,
		    &reply), 0);
		fcntl(r.fd, F_SETFL, fl | O_NONBLOCK);
		if (reply->id != want ||
		    reply->body_case != ZPOOL__FRAME__BODY_STATS_REPLY)
			bad++;
		want++;
		wire_free(reply);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(sent, len);
	free(buf);
	raw_close(&r);
	assert_healthy();
}

/*
 * shared_pages of a table too large to walk at once: the first answers may
 * be old, but a walk in slices catches up within moments, and a small
 * table's figure is exact at once.
 */
static void
test_shared_walk(void)
{
	Zpool__StatsReply	*st;
	struct raw		 big, small;
	uint64_t		 handles[64];
	uint32_t		 slots[64];
	int32_t			 errors[64];
	uint64_t		*all;
	size_t			 i, k, n = 80 * 64;	/* over 4096 */
	uint64_t		 shared = 0;
	int			 tries;

	CU_ASSERT_EQUAL_FATAL(raw_open(&big, sock, "big", 64), 0);
	CU_ASSERT_EQUAL_FATAL(raw_open(&small, sock, "small", 64), 0);
	all = calloc(n, sizeof *all);
	CU_ASSERT_FATAL(all != NULL);
	for (i = 0; i < 64; i++) {
		slots[i] = (uint32_t)i;
		raw_fill_page(big.stage + i * ZP_PAGE_SIZE, 77);
		raw_fill_page(small.stage + i * ZP_PAGE_SIZE, 77);
	}
	/* n copies of one page: one object, every page shared */
	for (i = 0; i < n; i += 64) {
		CU_ASSERT_EQUAL_FATAL(raw_store(&big, slots, 64, all + i,
		    errors), 0);
		for (k = 0; k < 64; k++)
			CU_ASSERT_EQUAL(errors[k], 0);
	}
	CU_ASSERT_EQUAL_FATAL(raw_store(&small, slots, 64, handles, errors), 0);
	st = raw_stats(&small, false);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->self->pages_stored, 64);
	CU_ASSERT_EQUAL(st->self->shared_pages, 64);
	zpool__stats_reply__free_unpacked(st, NULL);

	for (tries = 0; tries < SETTLE_MS / 10; tries++) {
		st = raw_stats(&big, false);
		CU_ASSERT_PTR_NOT_NULL_FATAL(st);
		CU_ASSERT_EQUAL(st->self->pages_stored, n);
		shared = st->self->shared_pages;
		zpool__stats_reply__free_unpacked(st, NULL);
		if (shared == n)
			break;
		CU_ASSERT_EQUAL(shared, 0);	/* never walked whole yet */
		usleep(10000);
	}
	CU_ASSERT_EQUAL(shared, n);

	for (i = 0; i < n; i += 64)
		CU_ASSERT_EQUAL(raw_free(&big, all + i, 64, errors), 0);
	CU_ASSERT_EQUAL(raw_free(&small, handles, 64, errors), 0);
	free(all);
	raw_close(&big);
	raw_close(&small);
	assert_healthy();
}

/*
 * Requests without reading a reply: the daemon stops reading this client
 * when its replies pile up, so its memory stays flat, and it still serves
 * everybody else meanwhile.
 */
static void
test_flood(void)
{
	Zpool__StatsRequest	 st = ZPOOL__STATS_REQUEST__INIT;
	wire_frame		 f = ZPOOL__FRAME__INIT;
	struct raw		 r;
	uint8_t			*buf, *p;
	size_t			 one, sent = 0, i;
	long			 rss0, rss1;
	ssize_t			 n;
	pid_t			 pid;
	int			 idle = 0, fl;

	rss0 = daemon_rss_kb();
	hello_fd(&r);
	f.body_case = ZPOOL__FRAME__BODY_STATS;
	f.stats = &st;
	CU_ASSERT_FATAL((one = wire_encode(&f, &p)) != 0);
	/* 64 KiB of stats requests per write. */
	buf = malloc(65536 / one * one);
	CU_ASSERT_FATAL(buf != NULL);
	for (i = 0; i + one <= 65536; i += one)
		memcpy(buf + i, p, one);
	free(p);
	fl = fcntl(r.fd, F_GETFL);
	fcntl(r.fd, F_SETFL, fl | O_NONBLOCK);
	/* Until the daemon has not read a byte for half a second. */
	while (idle < 50 && sent < (1u << 30)) {
		/* Partial sends resume mid-buffer: the frames stay whole. */
		n = send(r.fd, buf + sent % i, i - sent % i, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
			continue;
		}
		CU_ASSERT_FATAL(n == -1 && errno == EAGAIN);
		usleep(10000);
		idle++;
	}
	free(buf);
	/* It stopped reading long before a gigabyte... */
	CU_ASSERT(sent < (1u << 30));
	/* ...its memory did not follow the flood... */
	rss1 = daemon_rss_kb();
	if (rss0 > 0 && rss1 > 0) {
		if (rss1 - rss0 > 32 * 1024)
			fprintf(stderr, "\n  RSS grew from %ld to %ld kB\n",
			    rss0, rss1);
		CU_ASSERT(rss1 - rss0 < 32 * 1024);
	}
	/* ...and the others are still served while it hangs. */
	{
		struct raw	ok;

		CU_ASSERT_EQUAL_FATAL(raw_open(&ok, sock, "meanwhile", 64), 0);
		roundtrip(&ok, 99 << 20, 64);
		raw_close(&ok);
	}
	raw_close(&r);

	/* A store flood is capped by max_inflight the same way. */
	CU_ASSERT_FATAL((pid = fork()) != -1);
	if (pid == 0)
		batch_forever(false);
	usleep(300000);
	{
		struct raw	ok;

		CU_ASSERT_EQUAL_FATAL(raw_open(&ok, sock, "meanwhile", 64), 0);
		roundtrip(&ok, 98 << 20, 64);
		raw_close(&ok);
	}
	kill(pid, SIGKILL);
	CU_ASSERT_EQUAL(waitpid(pid, NULL, 0), pid);
	assert_healthy();
}

/*
 * A daemon out of fds: a client whose memfd cannot be installed is told
 * ZP_EBUSY, not dropped unanswered, and once fds are back it serves again.
 * A second daemon, run by a shell that lowers its fd limit to 30 first
 * (hard as well: zpoold raises its soft limit to the hard one).
 */
static void
test_out_of_fds(void)
{
	static const char *const args[] = { "--max_clients=100",
	    "--max_clients_per_uid=100", NULL };
	struct test_daemon	 td;
	struct raw		 r[40];
	bool			 open[40];
	char			 wrapper[PATH_MAX], *real;
	FILE			*f;
	int			 i, rc, ok = 0, busy = 0, other = 0;

	snprintf(wrapper, sizeof wrapper, "%s/zpoold-30fds", tmpdir);
	CU_ASSERT_FATAL((f = fopen(wrapper, "w")) != NULL);
	fprintf(f, "#!/bin/sh\nulimit -n 30 || exit 99\nexec \"$REAL_ZPOOLD\" "
	    "\"$@\"\n");
	fclose(f);
	CU_ASSERT_FATAL(chmod(wrapper, 0755) == 0);
	CU_ASSERT_FATAL((real = strdup(getenv("ZPOOLD"))) != NULL);
	setenv("REAL_ZPOOLD", real, 1);
	setenv("ZPOOLD", wrapper, 1);
	rc = td_start(&td, args);
	setenv("ZPOOLD", real, 1);
	free(real);
	CU_ASSERT_FATAL(rc == 0);
	for (i = 0; i < 40; i++) {
		rc = raw_open(&r[i], td.sock, "fd-hungry", 4);
		open[i] = rc == 0;
		ok += rc == 0;
		busy += rc == ZP_EBUSY;
		other += rc != 0 && rc != ZP_EBUSY;
	}
	CU_ASSERT(ok > 0);
	CU_ASSERT(busy > 0);
	CU_ASSERT_EQUAL(other, 0);
	for (i = 0; i < 40; i++)
		if (open[i])
			raw_close(&r[i]);
	usleep(100000);
	CU_ASSERT_EQUAL(raw_open(&r[0], td.sock, "fd-back", 4), 0);
	raw_close(&r[0]);
	rc = td_stop(&td);
	CU_ASSERT_EQUAL(rc, 0);
	td_cleanup(&td, other != 0 || busy == 0 || rc != 0);
	unlink(wrapper);
}

/*
 * The per-uid cap.  The test's uid is an admin's (root, or the daemon's
 * own), which may pass the caps by two connections, admin ones only, so
 * that zpctl still works when clients have reached them.
 */
static void
test_uid_cap(void)
{
	struct raw	r[MAX_PER_UID + 1], x;
	wire_frame	*f;
	int		i, fd;

	/* adm holds one connection already. */
	for (i = 0; i < MAX_PER_UID - 1; i++)
		CU_ASSERT_EQUAL_FATAL(raw_open(&r[i], sock, "many", 0), 0);
	/* At the cap: a data connection is refused at its hello... */
	CU_ASSERT_EQUAL(raw_open(&x, sock, "data-over-cap", 4), ZP_EBUSY);
	/* ...and admin connections get the reserve, two of them. */
	CU_ASSERT_EQUAL_FATAL(raw_open(&r[MAX_PER_UID - 1], sock, "zpctl", 0),
	    0);
	CU_ASSERT_EQUAL_FATAL(raw_open(&r[MAX_PER_UID], sock, "zpctl", 0), 0);
	/* Past it, nobody: refused at accept, before any hello. */
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	CU_ASSERT_EQUAL_FATAL(raw_read_frame(fd, RAW_TIMEOUT_MS, &f), 0);
	CU_ASSERT_EQUAL(f->body_case, ZPOOL__FRAME__BODY_ERROR);
	if (f->body_case == ZPOOL__FRAME__BODY_ERROR)
		CU_ASSERT_EQUAL(f->error->code, ZP_EBUSY);
	wire_free(f);
	close(fd);
	/* Idle connections that never say hello count too. */
	raw_close(&r[MAX_PER_UID]);
	usleep(100000);
	CU_ASSERT_FATAL((fd = wire_dial(sock, 0)) >= 0);
	CU_ASSERT_EQUAL(raw_open(&x, sock, "one-too-many", 0), ZP_EBUSY);
	/*
	 * The library too: the refusal may come before its hello goes out,
	 * and it must still read ZP_EBUSY, not report a failed send.
	 */
	for (i = 0; i < 50; i++) {
		struct zp_options	 o = { .socket_path = sock, .slots = 1 };
		zp_client		*zc = NULL;

		CU_ASSERT_EQUAL(zp_connect(&o, &zc), ZP_EBUSY);
		CU_ASSERT_PTR_NULL(zc);
	}
	close(fd);
	for (i = 0; i < MAX_PER_UID; i++)
		raw_close(&r[i]);
	usleep(100000);
	assert_healthy();
}

static int
admin_call(struct raw *r, wire_frame *req, int want_case)
{
	wire_frame	*rep;
	int		 rc;

	if ((rc = raw_call(r, req, &rep)) != 0)
		return rc;
	if (rep->body_case == ZPOOL__FRAME__BODY_ERROR)
		rc = rep->error->code;
	else
		rc = (int)rep->body_case == want_case ? 0 : -EPROTO;
	wire_free(rep);
	return rc;
}

static void
test_admin(void)
{
	Zpool__CompactRequest	cr = ZPOOL__COMPACT_REQUEST__INIT;
	Zpool__MergeRequest	mr = ZPOOL__MERGE_REQUEST__INIT;
	Zpool__BudgetRequest	br = ZPOOL__BUDGET_REQUEST__INIT;
	Zpool__LimitRequest	lr = ZPOOL__LIMIT_REQUEST__INIT;
	wire_frame		f = ZPOOL__FRAME__INIT;
	Zpool__StatsReply	*st;
	struct raw		 r;
	pid_t			 pid;
	int			 status;

	hello_fd(&r);
	roundtrip(&r, 4242, 16);
	f.body_case = ZPOOL__FRAME__BODY_COMPACT;
	f.compact = &cr;
	CU_ASSERT_EQUAL(admin_call(&adm, &f, ZPOOL__FRAME__BODY_COMPACT_REPLY),
	    0);
	f.body_case = ZPOOL__FRAME__BODY_MERGE;
	f.merge = &mr;
	CU_ASSERT_EQUAL(admin_call(&adm, &f, ZPOOL__FRAME__BODY_MERGE_REPLY),
	    0);
	f.body_case = ZPOOL__FRAME__BODY_BUDGET;
	f.budget = &br;
	CU_ASSERT_EQUAL(admin_call(&adm, &f, ZPOOL__FRAME__BODY_BUDGET_REPLY),
	    0);
	{
		wire_frame	*rep;

		br.set = true;
		br.budget_bytes = 1ULL << 30;
		CU_ASSERT_EQUAL_FATAL(raw_call(&adm, &f, &rep), 0);
		CU_ASSERT_EQUAL_FATAL(rep->body_case,
		    ZPOOL__FRAME__BODY_BUDGET_REPLY);
		CU_ASSERT_EQUAL(rep->budget_reply->budget_bytes, 1ULL << 30);
		CU_ASSERT(rep->budget_reply->met);
		CU_ASSERT(rep->budget_reply->mem_used_total > 0);
		wire_free(rep);
		st = raw_stats(&adm, false);
		CU_ASSERT_FATAL(st != NULL && st->pool != NULL);
		CU_ASSERT_EQUAL(st->pool->mem_limit, 1ULL << 30);
		CU_ASSERT_EQUAL(st->pool->budget_frames, (1ULL << 30) / 4096);
		CU_ASSERT(st->pool->accepting);
		zpool__stats_reply__free_unpacked(st, NULL);
		br.budget_bytes = 0;
		CU_ASSERT_EQUAL(admin_call(&adm, &f,
		    ZPOOL__FRAME__BODY_BUDGET_REPLY), 0);
		br.set = false;
	}
	f.body_case = ZPOOL__FRAME__BODY_LIMIT;
	f.limit = &lr;
	lr.client_id = r.client_id;
	lr.limit_bytes = 1 << 20;
	CU_ASSERT_EQUAL(admin_call(&adm, &f, ZPOOL__FRAME__BODY_LIMIT_REPLY),
	    0);
	lr.client_id = 1ULL << 60;
	CU_ASSERT_EQUAL(admin_call(&adm, &f, ZPOOL__FRAME__BODY_LIMIT_REPLY),
	    ZP_ENOENT);
	st = raw_stats(&adm, true);
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT_EQUAL(st->n_clients, 2);
	zpool__stats_reply__free_unpacked(st, NULL);
	st = raw_stats(&r, false);
	CU_ASSERT_FATAL(st != NULL && st->self != NULL);
	CU_ASSERT_EQUAL(st->self->limit_bytes, 1 << 20);
	CU_ASSERT_EQUAL(st->self->frees, 16);
	CU_ASSERT_EQUAL(st->self->loads, 16);
	zpool__stats_reply__free_unpacked(st, NULL);
	raw_close(&r);

	/* Anyone else gets ZP_EPERM (needs root to be someone else). */
	if (geteuid() == 0) {
		if ((pid = fork()) == 0) {
			struct raw	u;
			int		fail = 0;

			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(2);
			if (raw_open(&u, sock, "nobody", 0) != 0)
				_exit(3);
			f.body_case = ZPOOL__FRAME__BODY_COMPACT;
			f.compact = &cr;
			fail |= admin_call(&u, &f,
			    ZPOOL__FRAME__BODY_COMPACT_REPLY) != ZP_EPERM;
			f.body_case = ZPOOL__FRAME__BODY_BUDGET;
			f.budget = &br;
			fail |= admin_call(&u, &f,
			    ZPOOL__FRAME__BODY_BUDGET_REPLY) != ZP_EPERM;
			st = raw_stats(&u, true);
			fail |= st == NULL || st->n_clients != 0;
			if (st != NULL)
				zpool__stats_reply__free_unpacked(st, NULL);
			raw_close(&u);
			_exit(fail);
		}
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_healthy();
}

/*
 * SIGTERM: requests in flight are answered, connections then closed, the
 * socket unlinked, and the exit status is 0.
 */
static void
test_sigterm(void)
{
	Zpool__StoreRequest	 sr = ZPOOL__STORE_REQUEST__INIT;
	wire_frame		 f = ZPOOL__FRAME__INIT, *rep;
	struct raw		 r, idle;
	uint32_t		 slots[16];
	unsigned		 i, j, ok = 0;

	hello_fd(&idle);
	hello_fd(&r);
	for (i = 0; i < 16; i++) {
		slots[i] = i;
		raw_fill_page(r.stage + i * ZP_PAGE_SIZE, 0x5160 + i);
	}
	sr.n_slots = 16;
	sr.slots = slots;
	f.body_case = ZPOOL__FRAME__BODY_STORE;
	f.store = &sr;
	for (i = 0; i < 8; i++) {
		f.id = 500 + i;
		CU_ASSERT_EQUAL_FATAL(raw_send_frame(r.fd, &f, NULL, 0), 0);
	}
	/* One reply back: the daemon has read the batch of requests. */
	for (i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL_FATAL(raw_read_frame(r.fd, RAW_TIMEOUT_MS,
		    &rep), 0);
		if (rep->body_case == ZPOOL__FRAME__BODY_STORE_REPLY) {
			for (j = 0; j < 16; j++)
				ok += rep->store_reply->errors[j] == 0;
		}
		wire_free(rep);
		if (i == 0)
			kill(daemon_pid, SIGTERM);
	}
	CU_ASSERT_EQUAL(ok, 8 * 16);
	CU_ASSERT_EQUAL(raw_wait_closed(r.fd, RAW_TIMEOUT_MS), 0);
	/* An idle client does not keep the daemon from stopping. */
	CU_ASSERT_EQUAL(raw_wait_closed(idle.fd, RAW_TIMEOUT_MS), 0);
	CU_ASSERT_EQUAL(daemon_wait(), 0);
	raw_close(&r);
	raw_close(&idle);
	raw_close(&adm);
	CU_ASSERT(access(sock, F_OK) == -1 && errno == ENOENT);
}

/* ---- main ---- */

static int
suite_init(void)
{
	return daemon_start() == 0 ? 0 : -1;
}

static int
suite_clean(void)
{
	raw_close(&adm);
	if (daemon_pid != -1)
		daemon_stop();
	return 0;
}

int
main(void)
{
	CU_pSuite	s;
	unsigned	failed;
	char		cmd[PATH_MAX + 16];

	signal(SIGPIPE, SIG_IGN);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("zpoold", suite_init, suite_clean);
	CU_add_test(s, "store, load, verify", test_roundtrip);
	CU_add_test(s, "four processes", test_processes);
	CU_add_test(s, "pipelined requests", test_pipelined);
	CU_add_test(s, "garbage", test_garbage);
	CU_add_test(s, "truncated frames", test_truncated);
	CU_add_test(s, "oversized lengths", test_oversized);
	CU_add_test(s, "unknown and reply types", test_unknown_type);
	CU_add_test(s, "bad batches", test_bad_batches);
	CU_add_test(s, "slots out of range", test_slot_range);
	CU_add_test(s, "bad hellos and memfds", test_bad_hello);
	CU_add_test(s, "foreign handles", test_foreign_handles);
	CU_add_test(s, "freed handles", test_freed_handles);
	CU_add_test(s, "a batch in parts", test_batch_parts);
	CU_add_test(s, "killed mid-batch", test_killed_mid_batch);
	CU_add_test(s, "flood without reading", test_flood);
	CU_add_test(s, "replies whole and in order through a full socket",
	    test_replies_in_order);
	CU_add_test(s, "shared pages of a large table", test_shared_walk);
	CU_add_test(s, "per-uid cap", test_uid_cap);
	CU_add_test(s, "a daemon out of fds", test_out_of_fds);
	CU_add_test(s, "admin requests", test_admin);
	CU_add_test(s, "SIGTERM", test_sigterm);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() +
	    CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	if (failed != 0) {
		fprintf(stderr, "zpoold's log is kept in %s\n", logpath);
		return 1;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return 0;
}
