/*
 * test_dedup_budget.c -- dedup across clients, sharing scopes, client
 * limits and the global budget, against a real zpoold.
 *
 * Data goes through libzpclient; the figures and admin requests through
 * the raw test client, so every number checked is the daemon's own.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cutest.h"
#include "page.h"

#include "rawclient.h"
#include "testdaemon.h"
#include "zpclient.h"

#define N	1000			/* pages per client */

static struct test_daemon	td;
static bool			failed;

/* Page i: compressible text that differs from page to page. */
static void
fill(uint8_t *p, uint64_t i)
{
	size_t	off;
	int	n;

	for (off = 0; off < ZP_PAGE_SIZE; off += (size_t)n) {
		n = snprintf((char *)p + off, ZP_PAGE_SIZE - off,
		    "record %llu field %zu value %llu; ", (unsigned long long)i,
		    off, (unsigned long long)(i * 2654435761u + off));
		if (n <= 0 || (size_t)n >= ZP_PAGE_SIZE - off)
			break;
	}
	memset(p + off, ' ', ZP_PAGE_SIZE - off);
}

static uint8_t *
pages(uint64_t first, size_t n)
{
	uint8_t	*v = malloc(n * ZP_PAGE_SIZE);
	size_t	 i;

	for (i = 0; v != NULL && i < n; i++)
		fill(v + i * ZP_PAGE_SIZE, first + i);
	return v;
}

static int
start(const char *const *args)
{
	failed = false;
	if (td_start(&td, args) != 0)
		return -1;
	return 0;
}

static void
stop(void)
{
	if (td_stop(&td) != 0)
		failed = true;
	failed |= CU_get_number_of_failures() != 0;
	td_cleanup(&td, failed);
}

static zp_client *
connect_named(const char *name)
{
	struct zp_options	 o = { .socket_path = td.sock, .name = name,
	    .slots = 256 };
	zp_client		*c = NULL;

	if (zp_connect(&o, &c) != 0)
		return NULL;
	return c;
}

static Zpool__StatsReply *
stats(void)
{
	struct raw		 adm;
	Zpool__StatsReply	*s;

	if (raw_open(&adm, td.sock, "test-admin", 0) != 0)
		return NULL;
	s = raw_stats(&adm, true);
	raw_close(&adm);
	return s;
}

static uint64_t
figure(size_t off)
{
	Zpool__StatsReply	*s = stats();
	uint64_t		 v;

	if (s == NULL)
		return UINT64_MAX;
	v = *(uint64_t *)((char *)s->pool + off);
	zpool__stats_reply__free_unpacked(s, NULL);
	return v;
}
#define POOL_FIGURE(f)	figure(offsetof(Zpool__PoolStats, f))

/* An admin request; the reply frame (wire_free it), or NULL. */
static wire_frame *
admin(wire_frame *req)
{
	struct raw	 adm;
	wire_frame	*rep = NULL;

	if (raw_open(&adm, td.sock, "test-admin", 0) != 0)
		return NULL;
	if (raw_call(&adm, req, &rep) != 0)
		rep = NULL;
	raw_close(&adm);
	return rep;
}

/*
 * A child that stores pages [first, first + n) and holds them until its
 * parent writes a byte on `hold` (not EOF: a later child inherits the
 * write end); it reports on `ready` (1 byte: 0 ok).
 */
static pid_t
holder(uint64_t first, size_t n, uid_t uid, int *ready_fd, int *hold_fd)
{
	int		 ready[2], hold[2];
	uint8_t		 ok = 1, *v;
	zp_client	*c;
	zp_handle	*h;
	pid_t		 pid;
	char		 b;

	if (pipe(ready) != 0 || pipe(hold) != 0)
		return -1;
	if ((pid = fork()) != 0) {
		close(ready[1]);
		close(hold[0]);
		*ready_fd = ready[0];
		*hold_fd = hold[1];
		return pid;
	}
	close(ready[0]);
	close(hold[1]);
	if (uid != 0 && (setgid(uid) != 0 || setuid(uid) != 0))
		_exit(2);
	v = pages(first, n);
	h = calloc(n, sizeof *h);
	if (v != NULL && h != NULL && (c = connect_named("holder")) != NULL &&
	    zp_store_batch(c, v, n, h, NULL) == (int)n)
		ok = 0;
	if (write(ready[1], &ok, 1) != 1)
		_exit(3);
	(void)read(hold[0], &b, 1);
	_exit(ok);
}

static bool
holder_ready(int fd)
{
	uint8_t	ok = 1;

	return read(fd, &ok, 1) == 1 && ok == 0;
}

static void
holder_end(pid_t pid, int ready_fd, int hold_fd)
{
	int	st;

	if (write(hold_fd, "", 1) != 1)
		kill(pid, SIGKILL);
	close(hold_fd);
	close(ready_fd);
	waitpid(pid, &st, 0);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Two processes storing the same pages: one copy, and both see it shared. */
static void
test_two_clients_one_copy(void)
{
	static const char *const args[] = { "--dedup", "inline",
	    "--dedup_scope=uid", NULL };
	Zpool__StatsReply	*s;
	pid_t			 a, b;
	int			 ra, ha, rb, hb;
	uint64_t		 frames1, frames2;
	size_t			 i, holders = 0;

	CU_ASSERT_FATAL(start(args) == 0);
	a = holder(0, N, 0, &ra, &ha);
	CU_ASSERT_FATAL(holder_ready(ra));
	frames1 = POOL_FIGURE(pool_frames);
	b = holder(0, N, 0, &rb, &hb);
	CU_ASSERT_FATAL(holder_ready(rb));
	frames2 = POOL_FIGURE(pool_frames);

	/* the target: K copies cost <= 1/K + 3% of one copy each */
	CU_ASSERT(frames2 <= frames1 + frames1 * 3 / 100 + 1);
	s = stats();
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(s->pool->objects, N);
	CU_ASSERT_EQUAL(s->pool->pages_merged, 2 * N);
	CU_ASSERT_EQUAL(s->pool->orig_data_size, 2ull * N * ZP_PAGE_SIZE);
	CU_ASSERT(s->pool->dedup_hits >= N);
	for (i = 0; i < s->n_clients; i++) {
		if (strcmp(s->clients[i]->name, "holder") != 0)
			continue;
		holders++;
		CU_ASSERT_EQUAL(s->clients[i]->pages_stored, N);
		CU_ASSERT_EQUAL(s->clients[i]->shared_pages, N);
		/* each is charged its full footprint, shared or not */
		CU_ASSERT(s->clients[i]->charged_bytes > 0);
		CU_ASSERT_EQUAL(s->clients[i]->charged_bytes,
		    s->clients[i]->compr_bytes + N * PAGE_LIMIT_CHARGE);
	}
	CU_ASSERT_EQUAL(holders, 2);
	zpool__stats_reply__free_unpacked(s, NULL);
	holder_end(a, ra, ha);
	holder_end(b, rb, hb);
	stop();
}

/* Scope uid: two users never share, even identical pages (root only). */
static void
test_uid_scope(void)
{
	static const char *const args[] = { "--dedup", "inline",
	    "--dedup_scope=uid", NULL };
	pid_t	a, b;
	int	ra, ha, rb, hb;

	if (geteuid() != 0) {
		fprintf(stderr, "\n    skipped: needs root to run two uids ");
		return;
	}
	CU_ASSERT_FATAL(start(args) == 0);
	a = holder(0, N, 65534, &ra, &ha);
	b = holder(0, N, 65533, &rb, &hb);
	CU_ASSERT_FATAL(holder_ready(ra));
	CU_ASSERT_FATAL(holder_ready(rb));
	CU_ASSERT_EQUAL(POOL_FIGURE(objects), 2 * N);
	CU_ASSERT_EQUAL(POOL_FIGURE(pages_merged), 0);
	holder_end(a, ra, ha);
	holder_end(b, rb, hb);
	stop();
}

/* A client at its limit gets ZP_ENOSPC; every earlier page still loads. */
static void
test_client_limit(void)
{
	static const char *const args[] = { NULL };
	Zpool__LimitRequest	 lr = ZPOOL__LIMIT_REQUEST__INIT;
	wire_frame		 req = ZPOOL__FRAME__INIT, *rep;
	struct zp_stats		 st;
	zp_client		*c;
	zp_handle		 h[N];
	uint8_t			*v = pages(5000, N), out[ZP_PAGE_SIZE];
	size_t			 n, i;
	int			 rc = 0;

	CU_ASSERT_FATAL(start(args) == 0);
	CU_ASSERT_FATAL((c = connect_named("limited")) != NULL);
	CU_ASSERT_EQUAL_FATAL(zp_stats(c, &st), 0);
	lr.client_id = st.client_id;
	lr.limit_bytes = 64 * 1024;
	req.body_case = ZPOOL__FRAME__BODY_LIMIT;
	req.limit = &lr;
	CU_ASSERT_PTR_NOT_NULL_FATAL(rep = admin(&req));
	CU_ASSERT_EQUAL(rep->body_case, ZPOOL__FRAME__BODY_LIMIT_REPLY);
	wire_free(rep);

	for (n = 0; n < N; n++)
		if ((rc = zp_store(c, v + n * ZP_PAGE_SIZE, &h[n])) != 0)
			break;
	CU_ASSERT_EQUAL(rc, ZP_ENOSPC);
	CU_ASSERT(n > 10 && n < N);
	/* refused again: nothing was freed */
	CU_ASSERT_EQUAL(zp_store(c, v, &h[n]), ZP_ENOSPC);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(zp_load(c, h[i], out), 0);
		CU_ASSERT(memcmp(out, v + i * ZP_PAGE_SIZE, ZP_PAGE_SIZE) == 0);
	}
	CU_ASSERT_EQUAL(zp_stats(c, &st), 0);
	CU_ASSERT(st.charged_bytes <= 64 * 1024);
	CU_ASSERT_EQUAL(st.refused_stores, 2);
	CU_ASSERT_EQUAL(st.pages_stored, n);
	/* a free makes room again */
	CU_ASSERT_EQUAL(zp_free(c, h[0]), 0);
	CU_ASSERT_EQUAL(zp_store(c, v, &h[0]), 0);
	zp_close(c);
	free(v);
	stop();
}

/*
 * Same-filled pages store nothing, but each costs the daemon a handle and a
 * record: PAGE_LIMIT_CHARGE apiece, so a limit bounds them too.
 */
static void
test_limit_same_filled(void)
{
	static const char *const args[] = { "--client_limit=16K", NULL };
	static uint8_t		 zero[ZP_PAGE_SIZE];
	struct zp_stats		 st;
	zp_client		*c;
	zp_handle		 h;
	size_t			 n;
	int			 rc = 0;

	CU_ASSERT_FATAL(start(args) == 0);
	CU_ASSERT_FATAL((c = connect_named("zeros")) != NULL);
	for (n = 0; n < 100000; n++)
		if ((rc = zp_store(c, zero, &h)) != 0)
			break;
	CU_ASSERT_EQUAL(rc, ZP_ENOSPC);
	CU_ASSERT_EQUAL(n, 16 * 1024 / PAGE_LIMIT_CHARGE);
	CU_ASSERT_EQUAL(zp_stats(c, &st), 0);
	CU_ASSERT_EQUAL(st.charged_bytes, n * PAGE_LIMIT_CHARGE);
	CU_ASSERT_EQUAL(st.compr_bytes, 0);
	/* a free gives its charge back */
	CU_ASSERT_EQUAL(zp_free(c, h), 0);
	CU_ASSERT_EQUAL(zp_store(c, zero, &h), 0);
	zp_close(c);
	stop();
}

/* A full pool refuses, keeps what it has, and accepts below threshold. */
static void
test_global_budget(void)
{
	static const char *const args[] = { "--budget", "2M",
	    "--accept_threshold=50", NULL };
	zp_client	*c;
	zp_handle	*h = calloc(N * 4, sizeof *h);
	uint8_t		*v = pages(9000, N * 4), out[ZP_PAGE_SIZE];
	int		*res = calloc(N * 4, sizeof *res);
	size_t		 i, stored = 0;
	int		 n;

	CU_ASSERT_FATAL(start(args) == 0);
	CU_ASSERT_FATAL((c = connect_named("filler")) != NULL);
	n = zp_store_batch(c, v, N * 4, h, res);
	CU_ASSERT(n > 0 && n < N * 4);
	/*
	 * What fits is stored and the rest refused, not always in order:
	 * the workers run parts of the batch at once.
	 */
	for (i = 0; i < (size_t)N * 4; i++) {
		if (res[i] == 0) {
			stored++;
			CU_ASSERT_EQUAL(zp_load(c, h[i], out), 0);
			CU_ASSERT(memcmp(out, v + i * ZP_PAGE_SIZE,
			    ZP_PAGE_SIZE) == 0);
		} else {
			CU_ASSERT_EQUAL(res[i], ZP_ENOSPC);
		}
	}
	CU_ASSERT_EQUAL(stored, (size_t)n);
	/* within the budget, but for one zspage per worker in flight */
	CU_ASSERT(POOL_FIGURE(mem_used_total) <= (2u << 20) + 2 * 40960);
	CU_ASSERT_EQUAL(POOL_FIGURE(accepting), 0);
	/* freeing a few does not bring it under the threshold (50%) */
	for (i = 0; i < 8; i++)
		if (res[i] == 0)
			CU_ASSERT_EQUAL(zp_free(c, h[i]), 0);
	CU_ASSERT_EQUAL(zp_store(c, v, &h[0]), ZP_ENOSPC);
	/* freeing most of it does, once compaction gives frames back */
	for (i = 8; i < (size_t)N * 4; i++)
		if (res[i] == 0 && i % 4 != 0)
			CU_ASSERT_EQUAL(zp_free(c, h[i]), 0);
	CU_ASSERT_EQUAL(zp_store(c, v, &h[0]), 0);
	CU_ASSERT_EQUAL(POOL_FIGURE(accepting), 1);
	zp_close(c);
	free(v);
	free(h);
	free(res);
	stop();
}

/* Lowering the budget below use: the daemon compacts and says how far. */
static void
test_budget_lowered(void)
{
	static const char *const args[] = { "--compact_interval=0", NULL };
	Zpool__BudgetRequest	 br = ZPOOL__BUDGET_REQUEST__INIT;
	wire_frame		 req = ZPOOL__FRAME__INIT, *rep;
	zp_client		*c;
	zp_handle		*h = calloc(N * 4, sizeof *h);
	uint8_t			*v = pages(20000, N * 4), out[ZP_PAGE_SIZE];
	uint64_t		 before, target;
	size_t			 i;

	CU_ASSERT_FATAL(start(args) == 0);
	CU_ASSERT_FATAL((c = connect_named("shrink")) != NULL);
	CU_ASSERT_EQUAL_FATAL(zp_store_batch(c, v, N * 4, h, NULL), N * 4);
	/* free 3 of 4: the frames stay, full of holes */
	for (i = 0; i < (size_t)N * 4; i++)
		if (i % 4 != 0)
			CU_ASSERT_EQUAL(zp_free(c, h[i]), 0);
	before = POOL_FIGURE(mem_used_total);
	target = before / 2;
	br.set = true;
	br.budget_bytes = target;
	req.body_case = ZPOOL__FRAME__BODY_BUDGET;
	req.budget = &br;
	CU_ASSERT_PTR_NOT_NULL_FATAL(rep = admin(&req));
	CU_ASSERT_EQUAL_FATAL(rep->body_case, ZPOOL__FRAME__BODY_BUDGET_REPLY);
	CU_ASSERT_EQUAL(rep->budget_reply->budget_bytes, target);
	CU_ASSERT(rep->budget_reply->met);
	CU_ASSERT(rep->budget_reply->mem_used_total <= target);
	CU_ASSERT(rep->budget_reply->frames_released > 0);
	wire_free(rep);
	for (i = 0; i < (size_t)N * 4; i += 4) {
		CU_ASSERT_EQUAL(zp_load(c, h[i], out), 0);
		CU_ASSERT(memcmp(out, v + i * ZP_PAGE_SIZE, ZP_PAGE_SIZE) == 0);
	}
	/* a budget below what the live pages need: not met, said so */
	br.budget_bytes = 4096;
	CU_ASSERT_PTR_NOT_NULL_FATAL(rep = admin(&req));
	CU_ASSERT_EQUAL_FATAL(rep->body_case, ZPOOL__FRAME__BODY_BUDGET_REPLY);
	CU_ASSERT_FALSE(rep->budget_reply->met);
	wire_free(rep);
	zp_close(c);
	free(v);
	free(h);
	stop();
}

/* Wait up to 5 s for the pool to hold no frames at all. */
static bool
frames_gone(void)
{
	int	i;

	for (i = 0; i < 500; i++) {
		if (POOL_FIGURE(pool_frames) == 0 &&
		    POOL_FIGURE(empty_frames) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * Emptied zspages keep their frames for the next stores; the budget takes
 * them back at once, the trim timer after one or two ticks.
 */
static void
test_emptied_zspages(void)
{
	static const char *const args[] = { "--compact_interval=0",
	    "--trim_interval=1", NULL };
	Zpool__BudgetRequest	 br = ZPOOL__BUDGET_REQUEST__INIT;
	wire_frame		 req = ZPOOL__FRAME__INIT, *rep;
	zp_client		*c;
	zp_handle		*h = calloc(N * 4, sizeof *h);
	uint8_t			*v = pages(60000, N * 4), out[ZP_PAGE_SIZE];
	uint64_t		 frames;
	size_t			 i;

	CU_ASSERT_FATAL(start(args) == 0);
	CU_ASSERT_FATAL((c = connect_named("emptied")) != NULL);
	CU_ASSERT_EQUAL_FATAL(zp_store_batch(c, v, N * 4, h, NULL), N * 4);
	frames = POOL_FIGURE(pool_frames);
	CU_ASSERT(frames > 0);
	CU_ASSERT_EQUAL(POOL_FIGURE(empty_frames), 0);
	CU_ASSERT_EQUAL(zp_free_batch(c, h, N * 4, NULL), N * 4);
	CU_ASSERT_EQUAL(POOL_FIGURE(objects), 0);
	CU_ASSERT_EQUAL(POOL_FIGURE(pool_frames), frames);
	CU_ASSERT_EQUAL(POOL_FIGURE(empty_frames), frames);

	/* stored again, the pages go to the kept zspages */
	CU_ASSERT_EQUAL_FATAL(zp_store_batch(c, v, N * 4, h, NULL), N * 4);
	CU_ASSERT_EQUAL(POOL_FIGURE(empty_frames), 0);
	for (i = 0; i < (size_t)N * 4; i += 7) {
		CU_ASSERT_EQUAL(zp_load(c, h[i], out), 0);
		CU_ASSERT(memcmp(out, v + i * ZP_PAGE_SIZE, ZP_PAGE_SIZE) == 0);
	}
	CU_ASSERT_EQUAL(zp_free_batch(c, h, N * 4, NULL), N * 4);
	frames = POOL_FIGURE(pool_frames);
	CU_ASSERT_EQUAL(POOL_FIGURE(empty_frames), frames);

	/* a budget below them gives them all back at once */
	br.set = true;
	br.budget_bytes = 1 << 20;
	req.body_case = ZPOOL__FRAME__BODY_BUDGET;
	req.budget = &br;
	CU_ASSERT_PTR_NOT_NULL_FATAL(rep = admin(&req));
	CU_ASSERT_EQUAL_FATAL(rep->body_case, ZPOOL__FRAME__BODY_BUDGET_REPLY);
	CU_ASSERT(rep->budget_reply->met);
	CU_ASSERT_EQUAL(rep->budget_reply->frames_released, frames);
	wire_free(rep);
	CU_ASSERT_EQUAL(POOL_FIGURE(pool_frames), 0);

	/* without a budget, the trim timer gives them back */
	br.budget_bytes = 0;
	CU_ASSERT_PTR_NOT_NULL_FATAL(rep = admin(&req));
	wire_free(rep);
	CU_ASSERT_EQUAL_FATAL(zp_store_batch(c, v, N, h, NULL), N);
	CU_ASSERT_EQUAL(zp_free_batch(c, h, N, NULL), N);
	CU_ASSERT(POOL_FIGURE(empty_frames) > 0);
	CU_ASSERT(frames_gone());
	zp_close(c);
	free(v);
	free(h);
	stop();
}

/* A client that leaves gives its emptied zspages back at once, no trim. */
static void
test_leaving_client(void)
{
	static const char *const args[] = { "--compact_interval=0",
	    "--trim_interval=3600", NULL };
	zp_client		*c;
	zp_handle		*h = calloc(N, sizeof *h);
	uint8_t			*v = pages(70000, N);

	CU_ASSERT_FATAL(start(args) == 0);
	CU_ASSERT_FATAL((c = connect_named("leaving")) != NULL);
	CU_ASSERT_EQUAL_FATAL(zp_store_batch(c, v, N, h, NULL), N);
	/* freed while connected: kept */
	CU_ASSERT_EQUAL(zp_free_batch(c, h, N / 2, NULL), N / 2);
	CU_ASSERT(POOL_FIGURE(empty_frames) > 0);
	/* the rest go with the client, and every frame with them */
	zp_close(c);
	CU_ASSERT(frames_gone());
	free(v);
	free(h);
	stop();
}

/* Dedup off, then merge: the duplicates go, every page still loads. */
static void
test_merge_on_demand(void)
{
	static const char *const args[] = { "--dedup", "off",
	    "--compact_interval=0", NULL };
	Zpool__MergeRequest	 mr = ZPOOL__MERGE_REQUEST__INIT;
	wire_frame		 req = ZPOOL__FRAME__INIT, *rep;
	zp_client		*c;
	zp_handle		 h[2 * N];
	uint8_t			*v = pages(40000, N), out[ZP_PAGE_SIZE];
	uint64_t		 frames;
	size_t			 i;

	CU_ASSERT_FATAL(start(args) == 0);
	CU_ASSERT_FATAL((c = connect_named("merge")) != NULL);
	CU_ASSERT_EQUAL_FATAL(zp_store_batch(c, v, N, h, NULL), N);
	CU_ASSERT_EQUAL_FATAL(zp_store_batch(c, v, N, h + N, NULL), N);
	CU_ASSERT_EQUAL(POOL_FIGURE(objects), 2 * N);
	frames = POOL_FIGURE(pool_frames);
	req.body_case = ZPOOL__FRAME__BODY_MERGE;
	req.merge = &mr;
	CU_ASSERT_PTR_NOT_NULL_FATAL(rep = admin(&req));
	CU_ASSERT_EQUAL_FATAL(rep->body_case, ZPOOL__FRAME__BODY_MERGE_REPLY);
	CU_ASSERT_EQUAL(rep->merge_reply->pages_scanned, 2 * N);
	CU_ASSERT_EQUAL(rep->merge_reply->pages_merged, N);
	wire_free(rep);
	CU_ASSERT_EQUAL(POOL_FIGURE(objects), N);
	CU_ASSERT_EQUAL(POOL_FIGURE(pages_merged), 2 * N);
	CU_ASSERT(POOL_FIGURE(pool_frames) * 100 <= frames * 53);
	for (i = 0; i < 2 * N; i++) {
		CU_ASSERT_EQUAL(zp_load(c, h[i], out), 0);
		CU_ASSERT(memcmp(out, v + (i % N) * ZP_PAGE_SIZE,
		    ZP_PAGE_SIZE) == 0);
	}
	zp_close(c);
	free(v);
	stop();
}

int
main(void)
{
	static const struct cu_case cases[] = {
		{ "two clients, one copy", test_two_clients_one_copy },
		{ "uid scope isolates users", test_uid_scope },
		{ "client limit", test_client_limit },
		{ "same-filled pages count against a limit",
		    test_limit_same_filled },
		{ "global budget and threshold", test_global_budget },
		{ "lowered budget is met", test_budget_lowered },
		{ "emptied zspages kept, then given back", test_emptied_zspages },
		{ "a client that leaves gives them back", test_leaving_client },
		{ "dedup off, then merge", test_merge_on_demand },
		{ NULL, NULL }
	};

	signal(SIGPIPE, SIG_IGN);
	if (cu_suite("dedup and budget, daemon", cases) != 0)
		return 1;
	return cu_run();
}
