/*
 * test_dedup.c -- CUnit suite for daemon/dedup.c.
 *
 * Built twice: as is, and with ZP_COLLIDE_HASH, where every page hashes to
 * the same value; both builds must give back every page exactly and share
 * only pages that are really equal.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cutest.h"

#include "codec.h"
#include "dedup.h"
#include "page.h"
#include "pool.h"

#define PG	POOL_PAGE_SIZE

static struct codec_ctx	*lz4;

/* Distinct, compressible pages: seed in the first words, text after. */
static void
make_page(uint8_t *page, uint64_t seed)
{
	unsigned	i;

	for (i = 0; i < PG; i++)
		page[i] = (uint8_t)("dedup test page "[i % 16] ^ (i / 512));
	memcpy(page, &seed, sizeof seed);
	memcpy(page + 2048, &seed, sizeof seed);
}

static struct pool *
new_pool_words(bool caller_words)
{
	struct pool_config	 cfg = { .arena_bytes = 256 << 20,
				    .caller_words = caller_words };
	const char		*cause;
	struct pool		*p = pool_create(&cfg, &cause);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	return p;
}

/* The inline index keeps its chains in the pool's caller words. */
static struct pool *
new_pool(void)
{
	return new_pool_words(true);
}

static void
check_empty(struct pool *p, struct dedup *d)
{
	struct pool_stats	st;
	struct dedup_stats	ds;

	pool_stats(p, &st);
	dedup_stats(d, &ds);
	CU_ASSERT_EQUAL(st.objects, 0);
	CU_ASSERT_EQUAL(st.frames, 0);
	CU_ASSERT_EQUAL(st.refs, 0);
	CU_ASSERT_EQUAL(st.pages_merged, 0);
	CU_ASSERT_EQUAL(ds.entries, 0);
}

#define N	300
#define K	4

/* K copies of N pages in one scope: one object each, all loadable. */
static void
test_inline_shares(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	struct pool_stats	 st;
	struct dedup_stats	 ds;
	static uint32_t		 ids[K][N];
	uint8_t			 page[PG], out[PG];
	unsigned		 i, k, csize, first_size = 0;
	bool			 shared;

	for (k = 0; k < K; k++)
		for (i = 0; i < N; i++) {
			make_page(page, i);
			CU_ASSERT_EQUAL_FATAL(dedup_store(d, lz4, page, 7,
			    &ids[k][i], &csize, &shared), 0);
			CU_ASSERT_EQUAL(shared, k > 0);
			if (k > 0)
				CU_ASSERT_EQUAL(ids[k][i], ids[0][i]);
			if (i == 0 && k == 0)
				first_size = csize;
		}
	pool_stats(p, &st);
	dedup_stats(d, &ds);
	CU_ASSERT_EQUAL(st.objects, N);
	CU_ASSERT_EQUAL(st.refs, N * K);
	CU_ASSERT_EQUAL(st.pages_merged, N * K);
	CU_ASSERT_EQUAL(ds.hits, N * (K - 1));
	CU_ASSERT_EQUAL(ds.entries, N);
	CU_ASSERT(ds.bytes_saved >= (uint64_t)first_size);
	for (k = 0; k < K; k++)
		for (i = 0; i < N; i++) {
			make_page(page, i);
			CU_ASSERT_EQUAL(pool_load(p, lz4, ids[k][i], out), 0);
			CU_ASSERT(memcmp(page, out, PG) == 0);
		}
	/* free all copies but one: still loadable, no longer merged */
	for (k = 1; k < K; k++)
		for (i = 0; i < N; i++)
			CU_ASSERT_EQUAL(dedup_put(d, ids[k][i], 7),
			    (int)(K - k));
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.pages_merged, 0);
	CU_ASSERT_EQUAL(st.objects, N);
	for (i = 0; i < N; i++)
		CU_ASSERT_EQUAL(dedup_put(d, ids[0][i], 7), 0);
	CU_ASSERT_EQUAL(dedup_put(d, ids[0][0], 7), -ENOENT);
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

/* Scopes never share: the same page in two scopes is two objects. */
static void
test_scopes_isolated(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	struct pool_stats	 st;
	struct dedup_stats	 ds;
	uint8_t			 page[PG];
	uint32_t		 a, b, c;
	unsigned		 csize;
	bool			 shared;

	make_page(page, 99);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 1, &a, &csize, &shared), 0);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 2, &b, &csize, &shared), 0);
	CU_ASSERT_FALSE(shared);
	CU_ASSERT_NOT_EQUAL(a, b);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 2, &c, &csize, &shared), 0);
	CU_ASSERT_TRUE(shared);
	CU_ASSERT_EQUAL(c, b);
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, 2);
	dedup_put(d, a, 1);
	dedup_put(d, b, 2);
	dedup_put(d, c, 2);
	dedup_drop_scope(d, 1);
	dedup_drop_scope(d, 2);
	check_empty(p, d);
	dedup_stats(d, &ds);
	CU_ASSERT_EQUAL(ds.meta_bytes, 0);
	/* dropped while an object is indexed: freed with its last put */
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 5, &a, &csize, &shared), 0);
	dedup_drop_scope(d, 5);
	dedup_stats(d, &ds);
	CU_ASSERT(ds.meta_bytes > 0);
	CU_ASSERT_EQUAL(dedup_put(d, a, 5), 0);
	dedup_stats(d, &ds);
	CU_ASSERT_EQUAL(ds.meta_bytes, 0);
	dedup_destroy(d);
	pool_destroy(p);
}

/* Sharing stops short of the reference limit: pins always find room. */
static void
test_share_limit(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	struct pool_stats	 st;
	uint8_t			 page[PG];
	uint32_t		 first, id;
	unsigned		 i, csize;
	bool			 shared;

	make_page(page, 77);
	CU_ASSERT_EQUAL_FATAL(dedup_store(d, lz4, page, 1, &first, &csize,
	    &shared), 0);
	for (i = 1; i < POOL_SHARE_MAX; i++)
		if (dedup_store(d, lz4, page, 1, &id, &csize, &shared) != 0 ||
		    id != first)
			break;
	CU_ASSERT_EQUAL(i, POOL_SHARE_MAX);
	/* the next copy is a new object, and the first still takes pins */
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 1, &id, &csize, &shared), 0);
	CU_ASSERT_NOT_EQUAL(id, first);
	CU_ASSERT_EQUAL(pool_get(p, first), 0);
	CU_ASSERT(pool_put_unless_last(p, first) > 0);
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, 2);
	CU_ASSERT_EQUAL(dedup_put(d, id, 1), 0);
	for (i = 0; i < POOL_SHARE_MAX; i++)
		CU_ASSERT_EQUAL_FATAL(dedup_put(d, first, 1),
		    (int)(POOL_SHARE_MAX - 1 - i));
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

/* Zero and same-filled pages are stored, not indexed. */
static void
test_same_filled(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	struct dedup_stats	 ds;
	uint8_t			 page[PG], out[PG];
	uint32_t		 a, b;
	unsigned		 csize;
	bool			 shared;

	memset(page, 0, PG);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 1, &a, &csize, &shared), 0);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 1, &b, &csize, &shared), 0);
	CU_ASSERT_EQUAL(csize, 0);
	dedup_stats(d, &ds);
	CU_ASSERT_EQUAL(ds.entries, 0);
	CU_ASSERT_EQUAL(pool_load(p, lz4, b, out), 0);
	CU_ASSERT(memcmp(page, out, PG) == 0);
	CU_ASSERT_EQUAL(dedup_put(d, a, 1), 0);
	CU_ASSERT_EQUAL(dedup_put(d, b, 1), 0);
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

/*
 * Between a store's lookup and its insertion, another store puts the same
 * page in: the first must find it and share, not keep a second copy.
 */
struct between {
	struct dedup	*d;
	const uint8_t	*page;
	uint64_t	 scope;
	uint32_t	 free_first;	/* put this object first, 0: none */
	uint32_t	 id;		/* what the store in between got */
	unsigned	 calls;
};

static void
store_between(void *arg)
{
	struct between	*b = arg;
	unsigned	 csize;
	bool		 shared;

	/* once, and not from inside the store it runs in */
	dedup_test_between_walks(b->d, NULL, NULL);
	b->calls++;
	if (b->free_first != 0)
		CU_ASSERT_EQUAL(dedup_put(b->d, b->free_first, b->scope), 0);
	CU_ASSERT_EQUAL(dedup_store(b->d, lz4, b->page, b->scope, &b->id,
	    &csize, &shared), 0);
	CU_ASSERT_FALSE(shared);
}

static void
test_store_between_walks(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	struct pool_stats	 st;
	struct dedup_stats	 ds;
	uint8_t			 page[PG], other[PG], out[PG];
	struct between		 b = { d, page, 4, 0, 0, 0 };
	uint32_t		 id, a;
	unsigned		 csize;
	bool			 shared;

	make_page(page, 1234);
	make_page(other, 4321);
	/* the same page stored in between */
	dedup_test_between_walks(d, store_between, &b);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 4, &id, &csize, &shared), 0);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_TRUE(shared);
	CU_ASSERT_EQUAL(id, b.id);
	pool_stats(p, &st);
	dedup_stats(d, &ds);
	CU_ASSERT_EQUAL(st.objects, 1);
	CU_ASSERT_EQUAL(ds.entries, 1);
	CU_ASSERT_EQUAL(ds.hits, 1);
	CU_ASSERT_EQUAL(dedup_put(d, id, 4), 1);
	CU_ASSERT_EQUAL(dedup_put(d, b.id, 4), 0);
	check_empty(p, d);

	/*
	 * An object leaves the index and the page comes in between, likely
	 * in the freed object's record: where every hash collides that
	 * record heads the chain again, as it did at the lookup, and only
	 * the count of removals tells that the chain changed.
	 */
	CU_ASSERT_EQUAL(dedup_store(d, lz4, other, 4, &a, &csize, &shared), 0);
	b = (struct between){ d, page, 4, a, 0, 0 };
	dedup_test_between_walks(d, store_between, &b);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 4, &id, &csize, &shared), 0);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_TRUE(shared);
	CU_ASSERT_EQUAL(id, b.id);
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, 1);
	CU_ASSERT_EQUAL(pool_load(p, lz4, id, out), 0);
	CU_ASSERT(memcmp(out, page, PG) == 0);
	CU_ASSERT_EQUAL(dedup_put(d, id, 4), 1);
	CU_ASSERT_EQUAL(dedup_put(d, b.id, 4), 0);
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

/* Enough pages for the index to double several times (once, colliding). */
#ifdef ZP_COLLIDE_HASH
#define GROW_N	1100
#else
#define GROW_N	20000
#endif

static void
check_page(struct pool *p, uint32_t id, uint64_t seed)
{
	uint8_t	page[PG], out[PG];

	make_page(page, seed);
	CU_ASSERT_EQUAL(pool_load(p, lz4, id, out), 0);
	CU_ASSERT(memcmp(page, out, PG) == 0);
}

/*
 * The index grows while it fills, and keeps finding every page: stored
 * twice, every page is one object; freed and stored again, it is a new one
 * while another copy is not still there.
 */
static void
test_growth(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	struct pool_stats	 st;
	struct dedup_stats	 ds;
	static uint32_t		 ids[2][GROW_N];
	uint8_t			 page[PG];
	uint64_t		 small;
	unsigned		 i, csize;
	bool			 shared;

	make_page(page, 0);
	CU_ASSERT_EQUAL_FATAL(dedup_store(d, lz4, page, 9, &ids[0][0], &csize,
	    &shared), 0);
	dedup_stats(d, &ds);
	small = ds.meta_bytes;
	for (i = 1; i < GROW_N; i++) {
		make_page(page, i);
		CU_ASSERT_EQUAL_FATAL(dedup_store(d, lz4, page, 9, &ids[0][i],
		    &csize, &shared), 0);
		CU_ASSERT_FALSE(shared);
	}
	dedup_stats(d, &ds);
	CU_ASSERT_EQUAL(ds.entries, GROW_N);
	CU_ASSERT(ds.meta_bytes > small);
	/* 8-byte buckets at a load of 1 to 2 after the first doubling */
	CU_ASSERT(ds.meta_bytes >= 4 * (uint64_t)GROW_N);
	CU_ASSERT(ds.meta_bytes <= 8 * (uint64_t)GROW_N);
	for (i = 0; i < GROW_N; i++) {
		make_page(page, i);
		CU_ASSERT_EQUAL_FATAL(dedup_store(d, lz4, page, 9, &ids[1][i],
		    &csize, &shared), 0);
		CU_ASSERT_TRUE(shared);
		CU_ASSERT_EQUAL(ids[1][i], ids[0][i]);
	}
	/* odd pages go away whole, even ones keep one reference */
	for (i = 0; i < GROW_N; i++) {
		CU_ASSERT_EQUAL(dedup_put(d, ids[1][i], 9), 1);
		if (i % 2 == 1)
			CU_ASSERT_EQUAL(dedup_put(d, ids[0][i], 9), 0);
	}
	dedup_stats(d, &ds);
	CU_ASSERT_EQUAL(ds.entries, GROW_N / 2);
	for (i = 0; i < GROW_N; i++) {
		make_page(page, i);
		CU_ASSERT_EQUAL_FATAL(dedup_store(d, lz4, page, 9, &ids[1][i],
		    &csize, &shared), 0);
		CU_ASSERT_EQUAL(shared, i % 2 == 0);
		if (i % 2 == 0)
			CU_ASSERT_EQUAL(ids[1][i], ids[0][i]);
	}
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, GROW_N);
	for (i = 0; i < GROW_N; i += 97)
		check_page(p, ids[1][i], i);
	for (i = 0; i < GROW_N; i++) {
		CU_ASSERT(dedup_put(d, ids[1][i], 9) >= 0);
		if (i % 2 == 0)
			CU_ASSERT_EQUAL(dedup_put(d, ids[0][i], 9), 0);
	}
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

static void
count_call(void *arg)
{
	(*(unsigned *)arg)++;
}

/*
 * A scope that stops finding duplicates stores before it looks up (no
 * lookup before the compression: the hook is not called), still shares
 * every duplicate it meets, and looks up first again once they come back.
 */
static void
test_store_first(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	struct pool_stats	 st;
	static uint32_t		 ids[2][2 * N];
	uint8_t			 page[PG];
	unsigned		 i, k, calls = 0, csize;
	bool			 shared;

	dedup_test_between_walks(d, count_call, &calls);
	for (i = 0; i < 2 * N; i++) {
		make_page(page, i);
		CU_ASSERT_EQUAL_FATAL(dedup_store(d, lz4, page, 6, &ids[0][i],
		    &csize, &shared), 0);
		CU_ASSERT_FALSE(shared);
	}
	/* every store missed: some stopped looking up first */
	CU_ASSERT(calls > 0);
	CU_ASSERT(calls < 2 * N);
	for (i = 0; i < 2 * N; i++) {
		make_page(page, i);
		CU_ASSERT_EQUAL_FATAL(dedup_store(d, lz4, page, 6, &ids[1][i],
		    &csize, &shared), 0);
		CU_ASSERT_TRUE(shared);
		CU_ASSERT_EQUAL(ids[1][i], ids[0][i]);
	}
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, 2 * N);
	CU_ASSERT_EQUAL(st.refs, 4 * N);
	/* duplicates came back: a miss looks up first again */
	k = calls;
	make_page(page, 5 * N);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 6, &ids[0][0], &csize,
	    &shared), 0);
	CU_ASSERT_FALSE(shared);
	CU_ASSERT_EQUAL(calls, k + 1);
	CU_ASSERT_EQUAL(dedup_put(d, ids[0][0], 6), 0);
	for (i = 0; i < 2 * N; i++) {
		CU_ASSERT_EQUAL(dedup_put(d, ids[1][i], 6), 1);
		CU_ASSERT_EQUAL(dedup_put(d, ids[1][i], 6), 0);
	}
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

/* A full pool still takes a duplicate, whichever way the store goes. */
static void
test_full_pool(void)
{
	struct pool_config	 cfg = { .arena_bytes = 1 << 20,
				    .caller_words = true };
	const char		*cause;
	struct pool		*p = pool_create(&cfg, &cause);
	struct dedup		*d;
	static uint32_t		 ids[1 << 16];
	uint8_t			 page[PG];
	uint32_t		 id;
	unsigned		 i, n, csize;
	bool			 shared;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	d = dedup_create(p, DEDUP_INLINE);
	for (n = 0; n < 1 << 16; n++) {
		make_page(page, n);
		if (dedup_store(d, lz4, page, 2, &ids[n], &csize,
		    &shared) != 0)
			break;
	}
	CU_ASSERT(n > 256);
	CU_ASSERT(n < 1 << 16);
	make_page(page, n + 1);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 2, &id, &csize, &shared),
	    -ENOSPC);
	make_page(page, 0);
	CU_ASSERT_EQUAL(dedup_store(d, lz4, page, 2, &id, &csize, &shared), 0);
	CU_ASSERT_TRUE(shared);
	CU_ASSERT_EQUAL(id, ids[0]);
	CU_ASSERT_EQUAL(dedup_put(d, id, 2), 1);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(dedup_put(d, ids[i], 2), 0);
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

struct merge_iter {
	uint32_t	*ids;
	uint64_t	*scopes;
	unsigned	 n, at;
};

static bool
merge_next(void *arg, uint32_t *id, uint64_t *scope)
{
	struct merge_iter	*it = arg;

	if (it->at == it->n)
		return false;
	*id = it->ids[it->at];
	*scope = it->scopes[it->at];
	it->at++;
	return true;
}

/*
 * Dedup off: every copy stored; merge then keeps one per scope.  It needs
 * no caller words, and the inline index cannot do without them.
 */
static void
test_off_then_merge(void)
{
	struct pool		*p = new_pool_words(false);
	struct dedup		*d = dedup_create(p, DEDUP_OFF);
	struct pool_stats	 before, after;
	static uint32_t		 ids[2 * K * N];
	static uint64_t		 scopes[2 * K * N];
	struct merge_iter	 it = { ids, scopes, 0, 0 };
	uint8_t			 page[PG], out[PG];
	uint64_t		 merged, scanned;
	unsigned		 i, k, s, csize;
	bool			 shared;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_PTR_NULL(dedup_create(p, DEDUP_INLINE));
	for (s = 0; s < 2; s++)
		for (k = 0; k < K; k++)
			for (i = 0; i < N; i++) {
				make_page(page, i);
				CU_ASSERT_EQUAL_FATAL(dedup_store(d, lz4, page,
				    s, &ids[it.n], &csize, &shared), 0);
				CU_ASSERT_FALSE(shared);
				scopes[it.n++] = s;
			}
	pool_stats(p, &before);
	CU_ASSERT_EQUAL(before.objects, 2 * K * N);
	merged = dedup_merge(d, lz4, merge_next, &it, &scanned);
	CU_ASSERT_EQUAL(scanned, 2 * K * N);
	CU_ASSERT_EQUAL(merged, 2 * (K - 1) * N);
	pool_stats(p, &after);
	CU_ASSERT_EQUAL(after.objects, 2 * N);	/* one per page per scope */
	CU_ASSERT_EQUAL(after.pages_merged, 2 * K * N);
	CU_ASSERT(after.compr_data_size * K == before.compr_data_size);
	pool_compact(p, NULL);
	pool_stats(p, &after);
	CU_ASSERT(after.frames * (K - 1) <= before.frames);
	for (i = 0; i < it.n; i++) {
		make_page(page, i % N);
		CU_ASSERT_EQUAL(pool_load(p, lz4, ids[i], out), 0);
		CU_ASSERT(memcmp(page, out, PG) == 0);
	}
	/* a second merge finds nothing new */
	it.at = 0;
	CU_ASSERT_EQUAL(dedup_merge(d, lz4, merge_next, &it, &scanned), 0);
	for (i = 0; i < it.n; i++)
		CU_ASSERT(dedup_put(d, ids[i], scopes[i]) >= 0);
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

/* Threads storing the same pages in one scope end with one copy each. */
struct thr {
	struct dedup	*d;
	uint32_t	 ids[N];
	unsigned	 bad;
};

static void *
store_same_pages(void *arg)
{
	struct thr		*t = arg;
	struct codec_spec	 spec = { CODEC_LZ4, 1 };
	struct codec_ctx	*ctx = codec_ctx_new(&spec);
	uint8_t			 page[PG];
	unsigned		 i, csize;
	bool			 shared;

	for (i = 0; i < N; i++) {
		make_page(page, i);
		if (dedup_store(t->d, ctx, page, 3, &t->ids[i], &csize,
		    &shared) != 0)
			t->bad++;
	}
	codec_ctx_free(ctx);
	return NULL;
}

static void
test_threads(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	static struct thr	 t[4];
	pthread_t		 th[4];
	struct pool_stats	 st;
	unsigned		 i, j;

	for (i = 0; i < 4; i++) {
		t[i].d = d;
		t[i].bad = 0;
		pthread_create(&th[i], NULL, store_same_pages, &t[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(t[i].bad, 0);
	}
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, N);
	for (i = 0; i < 4; i++)
		for (j = 0; j < N; j++) {
			CU_ASSERT_EQUAL(t[i].ids[j], t[0].ids[j]);
			CU_ASSERT(dedup_put(d, t[i].ids[j], 3) >= 0);
		}
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

/*
 * Threads storing, freeing and storing again the same pages in one scope,
 * while the index grows, after a while of pages only one thread stores:
 * one object a page at the end, every page intact.
 */
#ifdef ZP_COLLIDE_HASH
#define CHURN_N	600
#else
#define CHURN_N	3000
#endif

struct churn {
	struct dedup	*d;
	unsigned	 idx;
	uint32_t	 own[N];	/* pages no other thread stores */
	uint32_t	 ids[CHURN_N];
	unsigned	 bad;
};

static void *
churn(void *arg)
{
	struct churn		*t = arg;
	struct codec_spec	 spec = { CODEC_LZ4, 1 };
	struct codec_ctx	*ctx = codec_ctx_new(&spec);
	uint8_t			 page[PG];
	unsigned		 i, csize;
	bool			 shared;

	/* no hits for a while: stores go first, in every thread at once */
	for (i = 0; i < N; i++) {
		make_page(page, 1000000 * (t->idx + 1) + i);
		if (dedup_store(t->d, ctx, page, 8, &t->own[i], &csize,
		    &shared) != 0 || shared)
			t->bad++;
	}
	for (i = 0; i < CHURN_N; i++) {
		make_page(page, i);
		if (dedup_store(t->d, ctx, page, 8, &t->ids[i], &csize,
		    &shared) != 0)
			t->bad++;
		if (i % 3 != 0)
			continue;
		if (dedup_put(t->d, t->ids[i], 8) < 0 ||
		    dedup_store(t->d, ctx, page, 8, &t->ids[i], &csize,
		    &shared) != 0)
			t->bad++;
	}
	codec_ctx_free(ctx);
	return NULL;
}

static void
test_threads_churn(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	static struct churn	 t[4];
	pthread_t		 th[4];
	struct pool_stats	 st;
	unsigned		 i, j;

	for (i = 0; i < 4; i++) {
		t[i].d = d;
		t[i].idx = i;
		t[i].bad = 0;
		pthread_create(&th[i], NULL, churn, &t[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(t[i].bad, 0);
	}
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, CHURN_N + 4 * N);
	for (i = 0; i < 4; i++)
		for (j = 0; j < N; j++) {
			if (j % 50 == 0)
				check_page(p, t[i].own[j],
				    1000000 * (i + 1) + j);
			CU_ASSERT_EQUAL(dedup_put(d, t[i].own[j], 8), 0);
		}
	for (j = 0; j < CHURN_N; j++) {
		for (i = 1; i < 4; i++)
			CU_ASSERT_EQUAL(t[i].ids[j], t[0].ids[j]);
		if (j % 50 == 0)
			check_page(p, t[0].ids[j], j);
	}
	for (i = 0; i < 4; i++)
		for (j = 0; j < CHURN_N; j++)
			CU_ASSERT(dedup_put(d, t[i].ids[j], 8) >= 0);
	check_empty(p, d);
	dedup_destroy(d);
	pool_destroy(p);
}

/*
 * A scope dropped again and again while threads store and free in it, as
 * when a uid's last client leaves while a worker still finishes a job for
 * it: the index is freed and made anew under them, never used after it
 * is freed (ASan and TSan run this too), and none is left over.
 */
#define DROP_STORES	4000

struct dropper {
	struct dedup	*d;
	unsigned	 idx;
	unsigned	 bad;
	bool		*done;
};

static void *
store_and_put(void *arg)
{
	struct dropper		*t = arg;
	struct codec_spec	 spec = { CODEC_LZ4, 1 };
	struct codec_ctx	*ctx = codec_ctx_new(&spec);
	uint8_t			 page[PG];
	uint32_t		 id;
	unsigned		 i, csize;
	bool			 shared;

	for (i = 0; i < DROP_STORES; i++) {
		make_page(page, 5000000 * (t->idx + 1) + i);
		if (dedup_store(t->d, ctx, page, 9, &id, &csize, &shared) != 0 ||
		    dedup_put(t->d, id, 9) < 0)
			t->bad++;
	}
	codec_ctx_free(ctx);
	return NULL;
}

static void *
drop_repeatedly(void *arg)
{
	struct dropper	*t = arg;

	while (!__atomic_load_n(t->done, __ATOMIC_ACQUIRE))
		dedup_drop_scope(t->d, 9);
	return NULL;
}

static void
test_drop_under_stores(void)
{
	struct pool		*p = new_pool();
	struct dedup		*d = dedup_create(p, DEDUP_INLINE);
	struct dedup_stats	 ds;
	struct dropper		 t[4];
	pthread_t		 th[4];
	bool			 done = false;
	unsigned		 i;

	for (i = 0; i < 4; i++) {
		t[i] = (struct dropper){ .d = d, .idx = i, .done = &done };
		pthread_create(&th[i], NULL, i == 3 ? drop_repeatedly :
		    store_and_put, &t[i]);
	}
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(t[i].bad, 0);
	}
	__atomic_store_n(&done, true, __ATOMIC_RELEASE);
	pthread_join(th[3], NULL);
	dedup_drop_scope(d, 9);
	check_empty(p, d);
	dedup_stats(d, &ds);
	CU_ASSERT_EQUAL(ds.meta_bytes, 0);
	CU_ASSERT_EQUAL(ds.entries, 0);
	dedup_destroy(d);
	pool_destroy(p);
}

int
main(void)
{
	static const struct cu_case cases[] = {
		{ "inline shares equal pages", test_inline_shares },
		{ "scopes are isolated", test_scopes_isolated },
		{ "same-filled pages", test_same_filled },
		{ "sharing stops short of the limit", test_share_limit },
		{ "off, then merge", test_off_then_merge },
		{ "a store in between the lookup and the insertion",
		    test_store_between_walks },
		{ "the index grows and finds every page", test_growth },
		{ "rare hits: store first, look up after", test_store_first },
		{ "a full pool takes a duplicate", test_full_pool },
		{ "threads", test_threads },
		{ "threads storing and freeing", test_threads_churn },
		{ "a scope dropped under stores", test_drop_under_stores },
		{ NULL, NULL }
	};
	static const char *suite =
#ifdef ZP_COLLIDE_HASH
	    "dedup (every hash collides)";
#else
	    "dedup";
#endif
	struct codec_spec	 spec = { CODEC_LZ4, 1 };
	int			 rc;

	lz4 = codec_ctx_new(&spec);
	if (cu_suite(suite, cases) != 0)
		return 1;
	rc = cu_run();
	codec_ctx_free(lz4);
	return rc;
}
