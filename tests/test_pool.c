/*
 * test_pool.c -- CUnit suite for daemon/pool.c.
 *
 * The long randomized test keeps a reference model (for every live object:
 * its page's seed and its stored size) and after every step checks the
 * pool's counters against sums over the model; at the end every frame must
 * be back.
 */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cutest.h"

#include "codec.h"
#include "page.h"
#include "pool.h"

#define PG	POOL_PAGE_SIZE

static struct codec_ctx	*lz4;

static uint64_t
rng(uint64_t *s)
{
	/* splitmix64: fast and good enough to make test pages */
	uint64_t	z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * A page from a seed: `noise` random bytes then a repeating text-like
 * pattern, so the compressed size grows with noise and covers every class.
 */
static void
make_page(uint8_t *page, uint64_t seed, unsigned noise)
{
	uint64_t	s = seed, r = 0;
	unsigned	i;

	for (i = 0; i < noise; i++) {
		if (i % 8 == 0)
			r = rng(&s);
		page[i] = (uint8_t)(r >> (8 * (i % 8)));
	}
	for (; i < PG; i++)
		page[i] = (uint8_t)("zpool page "[i % 11] + (seed & 7));
}

static struct pool *
new_pool_retain(uint64_t arena, unsigned frames, bool retain)
{
	struct pool_config	 cfg = { .arena_bytes = arena,
				    .max_zspage_frames = frames,
				    .name = "test", .retain_empty = retain };
	const char		*cause = NULL;
	struct pool		*p = pool_create(&cfg, &cause);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	return p;
}

static struct pool *
new_pool(uint64_t arena, unsigned frames)
{
	return new_pool_retain(arena, frames, false);
}

static void
check_empty(struct pool *p)
{
	struct pool_stats	st;

	uint64_t		resident = 1;

	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, 0);
	CU_ASSERT_EQUAL(st.frames, 0);
	CU_ASSERT_EQUAL(st.empty_frames, 0);
	CU_ASSERT_EQUAL(pool_resident_frames(p, &resident), 0);
	CU_ASSERT_EQUAL(resident, 0);
	CU_ASSERT_EQUAL(st.compr_data_size, 0);
	CU_ASSERT_EQUAL(st.orig_data_size, 0);
	CU_ASSERT_EQUAL(st.same_pages, 0);
	CU_ASSERT_EQUAL(st.huge_pages, 0);
	CU_ASSERT_EQUAL(st.refs, 0);
}

/* Objects that are all copies of one page: each loads intact, then goes. */
static void
drain_copies(struct pool *p, const uint32_t *id, unsigned n,
    const uint8_t *page)
{
	uint8_t		out[PG];
	unsigned	k;

	for (k = 0; k < n; k++) {
		CU_ASSERT_EQUAL(pool_load(p, lz4, id[k], out), 0);
		CU_ASSERT(memcmp(page, out, PG) == 0);
		CU_ASSERT_EQUAL(pool_put(p, id[k]), 0);
	}
	check_empty(p);
	pool_destroy(p);
}

static void
test_bad_config(void)
{
	struct pool_config	 cfg = { .arena_bytes = 1024 };
	const char		*cause = NULL;

	CU_ASSERT_PTR_NULL(pool_create(&cfg, &cause));
	CU_ASSERT_PTR_NOT_NULL(cause);
	cfg.arena_bytes = 1ull << 40;
	CU_ASSERT_PTR_NULL(pool_create(&cfg, &cause));
	cfg.arena_bytes = 1 << 20;
	cfg.max_zspage_frames = POOL_MAX_ZSPAGE_FRAMES + 1;
	CU_ASSERT_PTR_NULL(pool_create(&cfg, &cause));
	cfg.max_zspage_frames = 0;
	cfg.huge_threshold = 5000;
	CU_ASSERT_PTR_NULL(pool_create(&cfg, &cause));
}

/* Every class, from the smallest compressed page to raw, round-trips. */
static void
test_every_class(void)
{
	struct pool		*p = new_pool(256 << 20, 0);
	struct pool_class_stats	 cs[POOL_NR_CLASSES + 1];
	uint8_t			 page[PG], out[PG];
	uint32_t		 ids[PG / 4 + 1];
	unsigned		 noise, n = 0, csize, seen[POOL_NR_CLASSES + 1];
	unsigned		 used, i, maxslot = 0;

	memset(seen, 0, sizeof seen);
	for (noise = 0; noise <= PG; noise += 4) {
		make_page(page, noise, noise);
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &ids[n], &csize),
		    0);
		CU_ASSERT(csize == PG || csize < pool_huge_threshold(p));
		seen[pool_slot_size(p, csize) / POOL_CLASS_STEP - 1]++;
		n++;
	}
	for (i = 0, noise = 0; i < n; i++, noise += 4) {
		make_page(page, noise, noise);
		CU_ASSERT_EQUAL(pool_load(p, lz4, ids[i], out), 0);
		CU_ASSERT(memcmp(page, out, PG) == 0);
		CU_ASSERT_EQUAL(pool_compare(p, lz4, ids[i], page), 0);
	}
	used = pool_class_stats(p, cs, POOL_NR_CLASSES + 1);
	for (i = 0; i < used && i < POOL_NR_CLASSES + 1; i++) {
		CU_ASSERT(cs[i].objs_per_zspage * cs[i].size <=
		    cs[i].frames_per_zspage * PG);
		if (cs[i].size < PG && cs[i].size > maxslot)
			maxslot = cs[i].size;
	}
	/* the sweep reached the largest compressed class */
	CU_ASSERT(maxslot + POOL_CLASS_STEP >= pool_huge_threshold(p));
	/* merged as in zsmalloc: ~120 classes for 8-frame zspages */
	CU_ASSERT(used > 60);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(pool_put(p, ids[i]), 0);
	check_empty(p);
	pool_destroy(p);
}

static void
test_same_and_huge(void)
{
	struct pool		*p = new_pool(16 << 20, 0);
	struct pool_stats	 st;
	uint8_t			 page[PG], out[PG];
	uint32_t		 zero, same, huge;
	unsigned		 csize;
	uint64_t		 s = 42;
	unsigned		 i;

	memset(page, 0, PG);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &zero, &csize), 0);
	CU_ASSERT_EQUAL(csize, 0);
	page_fill(page, 0xdeadbeefcafef00dull);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &same, &csize), 0);
	CU_ASSERT_EQUAL(csize, 0);
	for (i = 0; i < PG; i += 8) {
		uint64_t r = rng(&s);
		memcpy(page + i, &r, 8);
	}
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &huge, &csize), 0);
	CU_ASSERT_EQUAL(csize, PG);

	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.same_pages, 2);
	CU_ASSERT_EQUAL(st.huge_pages, 1);
	CU_ASSERT_EQUAL(st.frames, 1);		/* only the raw page */
	CU_ASSERT_EQUAL(st.compr_data_size, PG);
	CU_ASSERT_EQUAL(st.orig_data_size, 3 * PG);

	CU_ASSERT_EQUAL(pool_load(p, lz4, huge, out), 0);
	CU_ASSERT(memcmp(page, out, PG) == 0);
	CU_ASSERT_EQUAL(pool_load(p, lz4, same, out), 0);
	page_fill(page, 0xdeadbeefcafef00dull);
	CU_ASSERT(memcmp(page, out, PG) == 0);
	CU_ASSERT_EQUAL(pool_load(p, lz4, zero, out), 0);
	memset(page, 0, PG);
	CU_ASSERT(memcmp(page, out, PG) == 0);

	CU_ASSERT_EQUAL(pool_put(p, zero), 0);
	CU_ASSERT_EQUAL(pool_put(p, same), 0);
	CU_ASSERT_EQUAL(pool_put(p, huge), 0);
	check_empty(p);
	pool_destroy(p);
}

static uint64_t
page_round(uint64_t b)
{
	return (b + PG - 1) / PG * PG;
}

/*
 * Same-filled pages cost their 8-byte record, plus 8 bytes for a word
 * other than 0; the caller's words add 8 bytes to every record.  Nothing
 * here touches a frame or makes a zspage, so meta_bytes is that, rounded
 * up to a page (the zspage table's unused first entry hides in it).
 */
static void
same_pages_meta(bool caller_words)
{
	struct pool_config	 cfg = { .arena_bytes = 1 << 20,
				    .caller_words = caller_words };
	const char		*cause = NULL;
	struct pool		*p = pool_create(&cfg, &cause);
	struct pool_stats	 st;
	enum { ZEROS = 20000, WORDS = 10000 };
	static uint32_t		 ids[ZEROS + WORDS];
	uint8_t			 page[PG], out[PG];
	uint64_t		 rec = caller_words ? 16 : 8, word;
	unsigned		 i, round, csize;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(pool_has_caller_words(p), caller_words);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < ZEROS + WORDS; i++) {
			word = i < ZEROS ? 0 : 0x0101010100000000ull * round + i;
			page_fill(page, word);
			CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &ids[i],
			    &csize), 0);
			CU_ASSERT_EQUAL(csize, 0);
		}
		pool_stats(p, &st);
		CU_ASSERT_EQUAL(st.frames, 0);
		CU_ASSERT_EQUAL(st.same_pages, ZEROS + WORDS);
		/* ids and words count from 1; a second round reuses both */
		CU_ASSERT_EQUAL(st.meta_bytes, page_round((ZEROS + WORDS + 1) *
		    rec + (WORDS + 1) * 8));
		CU_ASSERT_EQUAL(st.mem_used_total, st.meta_bytes);
		for (i = 0; i < ZEROS + WORDS; i += 7) {
			word = i < ZEROS ? 0 : 0x0101010100000000ull * round + i;
			page_fill(page, word);
			CU_ASSERT_EQUAL(pool_load(p, lz4, ids[i], out), 0);
			CU_ASSERT(memcmp(page, out, PG) == 0);
			CU_ASSERT_EQUAL(pool_compare(p, lz4, ids[i], page), 0);
		}
		for (i = 0; i < ZEROS + WORDS; i++)
			CU_ASSERT_EQUAL(pool_put(p, ids[i]), 0);
		check_empty(p);
	}
	pool_destroy(p);
}

static void
test_same_pages_meta(void)
{
	same_pages_meta(false);
	same_pages_meta(true);
}

/* Unknown, freed and out-of-range ids: an error, and nothing changes. */
static void
test_bad_ids(void)
{
	struct pool		*p = new_pool(16 << 20, 0);
	struct pool_stats	 a, b;
	uint8_t			 page[PG];
	uint32_t		 id, keep;

	make_page(page, 1, 100);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &keep, NULL), 0);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &id, NULL), 0);
	CU_ASSERT_EQUAL(pool_put(p, id), 0);
	pool_stats(p, &a);

	CU_ASSERT_EQUAL(pool_put(p, id), -ENOENT);	/* double free */
	CU_ASSERT_EQUAL(pool_put(p, 0), -ENOENT);
	CU_ASSERT_EQUAL(pool_put(p, 0x7fffffff), -ENOENT);
	CU_ASSERT_EQUAL(pool_put(p, UINT32_MAX), -ENOENT);
	CU_ASSERT_EQUAL(pool_get(p, id), -ENOENT);
	CU_ASSERT_EQUAL(pool_load(p, lz4, id, page), -ENOENT);
	CU_ASSERT_EQUAL(pool_load(p, lz4, 12345678, page), -ENOENT);
	CU_ASSERT_EQUAL(pool_compare(p, lz4, id, page), -ENOENT);
	CU_ASSERT_EQUAL(pool_obj_size(p, id), -ENOENT);
	CU_ASSERT_EQUAL(pool_merge(p, keep, id), -ENOENT);
	CU_ASSERT_EQUAL(pool_merge(p, keep, keep), -EINVAL);
	CU_ASSERT_EQUAL(pool_put_unless_last(p, id), -ENOENT);
	/* never the last reference: refused, and nothing changes */
	CU_ASSERT_EQUAL(pool_put_unless_last(p, keep), -EAGAIN);
	CU_ASSERT_EQUAL(pool_obj_refs(p, keep), 1);
	CU_ASSERT_EQUAL(pool_get(p, keep), 0);
	CU_ASSERT_EQUAL(pool_put_unless_last(p, keep), 1);
	CU_ASSERT_EQUAL(pool_put_unless_last(p, keep), -EAGAIN);

	pool_stats(p, &b);
	CU_ASSERT(memcmp(&a, &b, sizeof a) == 0);
	CU_ASSERT_EQUAL(pool_put(p, keep), 0);
	check_empty(p);
	pool_destroy(p);
}

/* A full arena refuses with -ENOSPC and keeps everything already in. */
static void
test_arena_exhaustion(void)
{
	struct pool	*p = new_pool(64 * PG, 1);
	uint8_t		 page[PG], out[PG];
	uint32_t	 ids[200];
	unsigned	 n, i;
	int		 r = 0;

	for (n = 0; n < 200; n++) {
		make_page(page, n, PG);		/* raw: one frame each */
		if ((r = pool_store(p, lz4, page, &ids[n], NULL)) != 0)
			break;
	}
	CU_ASSERT_EQUAL(r, -ENOSPC);
	CU_ASSERT_EQUAL(n, 64);
	for (i = 0; i < n; i++) {
		make_page(page, i, PG);
		CU_ASSERT_EQUAL(pool_load(p, lz4, ids[i], out), 0);
		CU_ASSERT(memcmp(page, out, PG) == 0);
	}
	/* a freed frame is usable again */
	CU_ASSERT_EQUAL(pool_put(p, ids[7]), 0);
	make_page(page, 7, PG);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &ids[7], NULL), 0);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(pool_put(p, ids[i]), 0);
	check_empty(p);
	pool_destroy(p);
}

/*
 * A full arena whose frames all wait in emptied zspages of one class: a
 * store to another class gets them back, not -ENOSPC.
 */
static void
test_arena_full_of_emptied(void)
{
	struct pool		*p = new_pool_retain(64 * PG, 1, true);
	struct pool_stats	 st;
	uint8_t			 page[PG], out[PG];
	uint32_t		 ids[64];
	unsigned		 i;

	for (i = 0; i < 64; i++) {
		make_page(page, i, PG);		/* raw: one frame each */
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &ids[i], NULL),
		    0);
	}
	make_page(page, 64, PG);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &ids[0], NULL), -ENOSPC);
	for (i = 0; i < 64; i++)
		CU_ASSERT_EQUAL(pool_put(p, ids[i]), 0);
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.empty_frames, 64);
	for (i = 0; i < 64; i++) {
		make_page(page, i, 2000);	/* compressed: another class */
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &ids[i], NULL),
		    0);
	}
	for (i = 0; i < 64; i++) {
		make_page(page, i, 2000);
		CU_ASSERT_EQUAL(pool_load(p, lz4, ids[i], out), 0);
		CU_ASSERT(memcmp(page, out, PG) == 0);
		CU_ASSERT_EQUAL(pool_put(p, ids[i]), 0);
	}
	CU_ASSERT(pool_compact(p, NULL) > 0);
	check_empty(p);
	pool_destroy(p);
}

struct model_obj {
	uint32_t	id;
	uint64_t	seed;
	unsigned	noise;
	unsigned	size;
	unsigned	refs;
};

static void
model_check(struct pool *p, const struct model_obj *m, unsigned n)
{
	struct pool_stats	st;
	uint64_t		compr = 0, same = 0, huge = 0, refs = 0;
	uint64_t		resident = 0;
	unsigned		i;

	for (i = 0; i < n; i++) {
		compr += m[i].size;
		same += m[i].size == 0;
		huge += m[i].size == PG;
		refs += m[i].refs;
	}
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, n);
	CU_ASSERT_EQUAL(st.compr_data_size, compr);
	CU_ASSERT_EQUAL(st.same_pages, same);
	CU_ASSERT_EQUAL(st.huge_pages, huge);
	CU_ASSERT_EQUAL(st.refs, refs);
	CU_ASSERT_EQUAL(st.orig_data_size, refs * PG);
	/* frames can never be fewer than the compressed bytes need */
	CU_ASSERT(st.frames * PG >= compr);
	CU_ASSERT(st.empty_frames <= st.frames);
	CU_ASSERT((st.frames - st.empty_frames) * PG >= compr);
	CU_ASSERT_EQUAL(st.mem_used_total, st.frames * PG + st.meta_bytes);
	CU_ASSERT(st.mem_used_max >= st.mem_used_total);
	/* what it counts is what the kernel holds for it */
	CU_ASSERT_EQUAL(pool_resident_frames(p, &resident), 0);
	CU_ASSERT_EQUAL(resident, st.frames);
}

static void
model_verify_all(struct pool *p, const struct model_obj *m, unsigned n)
{
	uint8_t		page[PG], out[PG];
	unsigned	i, bad = 0;

	for (i = 0; i < n; i++) {
		make_page(page, m[i].seed, m[i].noise);
		if (m[i].noise == 1)
			memset(page, (int)(m[i].seed & 0xff), PG);
		if (pool_load(p, lz4, m[i].id, out) != 0 ||
		    memcmp(page, out, PG) != 0)
			bad++;
		if (pool_obj_size(p, m[i].id) != (int)m[i].size)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/*
 * Long random store/get/put/compact sequences against a model; with
 * `retain`, trims too, and at the end every frame waits in an emptied
 * zspage until two trims give it back.
 */
static void
random_model(bool retain)
{
	struct pool		*p = new_pool_retain(512 << 20, 0, retain);
	struct model_obj	*m;
	struct pool_stats	 st;
	uint8_t			 page[PG];
	uint64_t		 s = 7, freed, moved;
	unsigned		 n = 0, cap = 20000, step, i, csize;
	int			 r;

	m = calloc(cap, sizeof *m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (step = 0; step < 60000; step++) {
		r = (int)(rng(&s) % 100);
		if (r < 55 && n < cap) {
			m[n].seed = rng(&s);
			/* mostly compressible, some raw, some same-filled */
			m[n].noise = (unsigned)(rng(&s) % 100 < 8 ? PG :
			    rng(&s) % 100 < 5 ? 1 : rng(&s) % 3000);
			make_page(page, m[n].seed, m[n].noise);
			if (m[n].noise == 1)
				memset(page, (int)(m[n].seed & 0xff), PG);
			CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page,
			    &m[n].id, &csize), 0);
			m[n].size = csize;
			m[n].refs = 1;
			n++;
		} else if (r < 60 && n > 0) {
			i = (unsigned)(rng(&s) % n);
			CU_ASSERT_EQUAL(pool_get(p, m[i].id), 0);
			m[i].refs++;
		} else if ((r < 99 || step % 4 != 0) && n > 0) {
			i = (unsigned)(rng(&s) % n);
			CU_ASSERT_EQUAL(pool_put(p, m[i].id),
			    (int)m[i].refs - 1);
			if (--m[i].refs == 0)
				m[i] = m[--n];
		} else if (retain && step % 8 == 4) {
			pool_stats(p, &st);
			freed = pool_trim(p, false);
			CU_ASSERT(freed <= st.empty_frames);
			model_check(p, m, n);
		} else {
			pool_stats(p, &st);
			freed = pool_compact(p, &moved);
			model_check(p, m, n);
			model_verify_all(p, m, n);
			CU_ASSERT(freed <= st.frames);
		}
		if (step % 5000 == 0) {
			model_check(p, m, n);
			model_verify_all(p, m, n);
		}
	}
	model_check(p, m, n);
	model_verify_all(p, m, n);
	/* free everything: every frame must come back */
	while (n > 0) {
		n--;
		while (m[n].refs-- > 0)
			pool_put(p, m[n].id);
	}
	if (retain) {
		pool_stats(p, &st);
		CU_ASSERT(st.frames > 0);
		CU_ASSERT_EQUAL(st.empty_frames, st.frames);
		model_check(p, m, 0);
		freed = pool_trim(p, false);
		freed += pool_trim(p, false);
		CU_ASSERT_EQUAL(freed, st.frames);
	}
	check_empty(p);
	free(m);
	pool_destroy(p);
}

static void
test_random_model(void)
{
	random_model(false);
}

static void
test_random_model_retain(void)
{
	random_model(true);
}

/*
 * A zspage's frames count as its slots reach them: one class filling up
 * holds exactly the frames its used slots span, and the kernel agrees.
 */
static void
test_touched_frames(void)
{
	enum { N = 200 };
	struct pool		*p = new_pool(16 << 20, 16);
	struct pool_class_stats	 cs[4];
	struct pool_stats	 st;
	uint8_t			 page[PG];
	uint32_t		 id[N];
	uint64_t		 want, resident;
	unsigned		 k, csize, slot = 0, objs = 0, frames = 0;

	make_page(page, 7, 900);
	for (k = 1; k <= N; k++) {
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &id[k - 1],
		    &csize), 0);
		if (k == 1) {
			CU_ASSERT_FATAL(csize > 0 && csize < PG);
			CU_ASSERT_EQUAL_FATAL(pool_class_stats(p, cs, 4), 1);
			slot = cs[0].size;
			objs = cs[0].objs_per_zspage;
			frames = cs[0].frames_per_zspage;
			CU_ASSERT_FATAL(frames > 1);
		}
		/* full zspages, then the frames the last one's slots reach */
		want = (uint64_t)(k / objs) * frames +
		    ((uint64_t)(k % objs) * slot + PG - 1) / PG;
		pool_stats(p, &st);
		CU_ASSERT_EQUAL(st.frames, want);
		CU_ASSERT_EQUAL(pool_resident_frames(p, &resident), 0);
		CU_ASSERT_EQUAL(resident, want);
	}
	CU_ASSERT_EQUAL(pool_class_stats(p, cs, 4), 1);
	CU_ASSERT_EQUAL(cs[0].frames, st.frames);
	CU_ASSERT(cs[0].frames < cs[0].zspages * cs[0].frames_per_zspage);
	drain_copies(p, id, N, page);
}

static uint64_t
stats_frames(struct pool *p, uint64_t *empty)
{
	struct pool_stats	st;

	pool_stats(p, &st);
	if (empty != NULL)
		*empty = st.empty_frames;
	return st.frames;
}

/*
 * With retain_empty, a zspage that empties keeps its frames, and its
 * class takes it back before a new one; a trim gives back only what no
 * store took since the trim before; compaction gives back all of it.
 */
static void
test_retain_empty(void)
{
	enum { N = 300 };
	struct pool		*p = new_pool_retain(16 << 20, 16, true);
	struct pool_class_stats	 cs[4];
	uint8_t			 page[PG], raw[PG], out[PG];
	uint32_t		 id[N];
	uint64_t		 frames, empty, resident, zspages, s = 5;
	unsigned		 k, fpz;

	make_page(page, 7, 900);
	for (k = 0; k < N; k++)
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &id[k], NULL),
		    0);
	frames = stats_frames(p, NULL);
	CU_ASSERT_EQUAL_FATAL(pool_class_stats(p, cs, 4), 1);
	zspages = cs[0].zspages;
	fpz = cs[0].frames_per_zspage;
	CU_ASSERT_FATAL(zspages > 2);
	for (k = 0; k < N; k++)
		CU_ASSERT_EQUAL(pool_put(p, id[k]), 0);
	CU_ASSERT_EQUAL(stats_frames(p, &empty), frames);
	CU_ASSERT_EQUAL(empty, frames);
	CU_ASSERT_EQUAL(pool_resident_frames(p, &resident), 0);
	CU_ASSERT_EQUAL(resident, frames);

	/*
	 * The same stores again: no new zspage, and not one new frame (the
	 * partly touched zspage, emptied last, is taken last), data intact.
	 */
	for (k = 0; k < N; k++)
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &id[k], NULL),
		    0);
	CU_ASSERT_EQUAL(pool_class_stats(p, cs, 4), 1);
	CU_ASSERT_EQUAL(cs[0].zspages, zspages);
	CU_ASSERT_EQUAL(stats_frames(p, &empty), frames);
	CU_ASSERT_EQUAL(empty, 0);
	CU_ASSERT(frames < zspages * fpz);
	for (k = 0; k < N; k++) {
		CU_ASSERT_EQUAL(pool_load(p, lz4, id[k], out), 0);
		CU_ASSERT(memcmp(page, out, PG) == 0);
		CU_ASSERT_EQUAL(pool_put(p, id[k]), 0);
	}

	/* every emptied zspage was in use since the last trim: none goes */
	CU_ASSERT_EQUAL(pool_trim(p, false), 0);
	CU_ASSERT_EQUAL(stats_frames(p, NULL), frames);
	/* one store takes one back; the next trim gives the rest back */
	CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &id[0], NULL), 0);
	frames = stats_frames(p, &empty);
	CU_ASSERT_EQUAL(pool_trim(p, false), empty);
	frames = stats_frames(p, &empty);
	CU_ASSERT(frames > 0 && frames <= fpz);
	CU_ASSERT_EQUAL(empty, 0);
	CU_ASSERT_EQUAL(pool_resident_frames(p, &resident), 0);
	CU_ASSERT_EQUAL(resident, frames);
	CU_ASSERT_EQUAL(pool_put(p, id[0]), 0);
	CU_ASSERT_EQUAL(pool_trim(p, false), 0);
	CU_ASSERT_EQUAL(pool_trim(p, false), frames);
	check_empty(p);

	/* a raw page's frame is kept and taken back too */
	for (k = 0; k < PG; k++)
		raw[k] = (uint8_t)rng(&s);
	CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, raw, &id[0], NULL), 0);
	CU_ASSERT_EQUAL(pool_put(p, id[0]), 0);
	CU_ASSERT_EQUAL(stats_frames(p, &empty), 1);
	CU_ASSERT_EQUAL(empty, 1);
	raw[0] ^= 0xff;
	CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, raw, &id[0], NULL), 0);
	CU_ASSERT_EQUAL(stats_frames(p, &empty), 1);
	CU_ASSERT_EQUAL(empty, 0);
	CU_ASSERT_EQUAL(pool_load(p, lz4, id[0], out), 0);
	CU_ASSERT(memcmp(raw, out, PG) == 0);

	/* compaction gives every kept frame back, moving nothing */
	for (k = 1; k < N; k++)
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &id[k], NULL),
		    0);
	for (k = 0; k < N; k++)
		CU_ASSERT_EQUAL(pool_put(p, id[k]), 0);
	frames = stats_frames(p, NULL);
	CU_ASSERT_EQUAL(pool_compact(p, &zspages), frames);
	CU_ASSERT_EQUAL(zspages, 0);
	check_empty(p);
	pool_destroy(p);
}

/*
 * pool_reclaim walks the records only for enough to win: a frame for
 * every 2048 records.  A few holes in one class's zspages are enough in
 * a pool of 512 records; behind 65536 same-filled records (no frames,
 * but records to walk) they are below it, and stay for pool_compact.
 */
static void
reclaim_case(bool filler)
{
	struct pool		*p = new_pool(64 << 20, 0);
	struct model_obj	*m;
	uint8_t			 page[PG];
	uint64_t		 moved = 0;
	uint32_t		*same;
	unsigned		 nsame = filler ? 65536 : 0, n, i, k = 0, csize;

	m = calloc(512, sizeof *m);
	same = calloc(65536, sizeof *same);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(same);
	memset(page, 0, sizeof page);
	for (i = 0; i < nsame; i++)
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &same[i], NULL),
		    0);
	for (i = 0; i < 512; i++) {
		m[i].seed = i;
		m[i].noise = 1000;
		make_page(page, m[i].seed, m[i].noise);
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &m[i].id,
		    &csize), 0);
		m[i].size = csize;
		m[i].refs = 1;
	}
	/* one in eight of them freed: a few zspages' worth of holes */
	for (i = 0; i < 512; i++) {
		if (i % 8 != 0) {
			m[k++] = m[i];
			continue;
		}
		CU_ASSERT_EQUAL(pool_put(p, m[i].id), 0);
	}
	n = k;
	if (filler) {
		CU_ASSERT_EQUAL(pool_reclaim(p, &moved), 0);
		CU_ASSERT_EQUAL(moved, 0);
		CU_ASSERT(pool_compact(p, &moved) > 0);
	} else {
		CU_ASSERT(pool_reclaim(p, &moved) > 0);
	}
	CU_ASSERT(moved > 0);
	model_verify_all(p, m, n);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(pool_put(p, m[i].id), 0);
	for (i = 0; i < nsame; i++)
		CU_ASSERT_EQUAL(pool_put(p, same[i]), 0);
	check_empty(p);
	free(same);
	free(m);
	pool_destroy(p);
}

static void
test_reclaim_threshold(void)
{
	reclaim_case(false);
	reclaim_case(true);
}

/*
 * Stores into a full arena while a compaction runs.  Each round frees
 * every other page, starts one compaction pass on another thread and at
 * once stores the same pages again.  Two million same-filled records
 * make the pass's walk (about 3 ns a record) outlast the stores, which
 * so take the room the pass marked zspages for.  A slot of each page's
 * class is always somewhere -- in a marked zspage, if nowhere else --
 * and with one-frame zspages no store may fail for want of room.  (A
 * store that took new frames before a marked zspage's room took the
 * frame a put had just freed for another class: -ENOSPC.)
 */
#define REFILL_SAME	(1u << 21)

struct refill {
	struct pool	*p;
	unsigned	 go;		/* passes asked for; UINT_MAX: stop */
	unsigned	 passes;	/* passes done */
};

static void *
compact_on_demand(void *arg)
{
	struct refill	*r = arg;
	unsigned	 go;

	for (;;) {
		while ((go = __atomic_load_n(&r->go, __ATOMIC_ACQUIRE)) ==
		    r->passes)
			sched_yield();
		if (go == UINT_MAX)
			return NULL;
		pool_compact(r->p, NULL);
		__atomic_store_n(&r->passes, go, __ATOMIC_RELEASE);
	}
}

/* Three classes, not one per parity. */
static void
refill_page(uint8_t *page, unsigned i)
{
	make_page(page, i, i % 3 * 400 + 600);
}

static void
test_full_arena_compaction(void)
{
	struct refill	 r = { new_pool(4 << 20, 1), 0, 0 };
	pthread_t	 th;
	uint8_t		 page[PG], out[PG];
	uint32_t	 ids[4096], *same;
	unsigned	 n, i, round, failed = 0;
	int		 rc = 0;

	same = calloc(REFILL_SAME, sizeof *same);
	CU_ASSERT_PTR_NOT_NULL_FATAL(same);
	memset(page, 0, sizeof page);
	for (i = 0; i < REFILL_SAME; i++)
		failed += pool_store(r.p, lz4, page, &same[i], NULL) != 0;
	CU_ASSERT_EQUAL_FATAL(failed, 0);
	for (n = 0; n < 4096; n++) {
		refill_page(page, n);
		if ((rc = pool_store(r.p, lz4, page, &ids[n], NULL)) != 0)
			break;
	}
	CU_ASSERT_EQUAL_FATAL(rc, -ENOSPC);
	pthread_create(&th, NULL, compact_on_demand, &r);
	for (round = 0; round < 8; round++) {
		for (i = round % 2; i < n; i += 2)
			if (ids[i] != 0)
				CU_ASSERT_EQUAL(pool_put(r.p, ids[i]), 0);
		__atomic_store_n(&r.go, round + 1, __ATOMIC_RELEASE);
		for (i = round % 2; i < n; i += 2) {
			refill_page(page, i);
			if (pool_store(r.p, lz4, page, &ids[i], NULL) != 0) {
				ids[i] = 0;
				failed++;
			}
		}
		while (__atomic_load_n(&r.passes, __ATOMIC_ACQUIRE) != round + 1)
			sched_yield();
	}
	__atomic_store_n(&r.go, UINT_MAX, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(failed, 0);
	for (i = 0; i < n; i++) {
		if (ids[i] == 0)
			continue;
		refill_page(page, i);
		CU_ASSERT_EQUAL(pool_load(r.p, lz4, ids[i], out), 0);
		CU_ASSERT(memcmp(page, out, PG) == 0);
		CU_ASSERT_EQUAL(pool_put(r.p, ids[i]), 0);
	}
	for (i = 0; i < REFILL_SAME; i++)
		failed += pool_put(r.p, same[i]) != 0;
	CU_ASSERT_EQUAL(failed, 0);
	check_empty(r.p);
	pool_destroy(r.p);
	free(same);
}

/* Freeing most objects then compacting gives frames back, data intact. */
static void
test_compaction(void)
{
	struct pool		*p = new_pool(256 << 20, 0);
	struct model_obj	*m;
	struct pool_stats	 before, after;
	uint8_t			 page[PG];
	uint64_t		 freed, moved = 0;
	unsigned		 n = 0, i, k = 0, csize;

	m = calloc(20000, sizeof *m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (i = 0; i < 20000; i++) {
		m[i].seed = i;
		m[i].noise = 600 + (i % 7) * 16;
		make_page(page, m[i].seed, m[i].noise);
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &m[i].id,
		    &csize), 0);
		m[i].size = csize;
		m[i].refs = 1;
	}
	n = 20000;
	/* free 3 of every 4: leaves every zspage sparsely used */
	for (i = 0; i < n; i++) {
		if (i % 4 == 0) {
			m[k++] = m[i];
			continue;
		}
		CU_ASSERT_EQUAL(pool_put(p, m[i].id), 0);
	}
	n = k;
	pool_stats(p, &before);
	freed = pool_compact(p, &moved);
	pool_stats(p, &after);
	CU_ASSERT(freed > 0);
	CU_ASSERT(moved > 0);
	CU_ASSERT_EQUAL(before.frames - after.frames, freed);
	CU_ASSERT_EQUAL(after.pages_compacted, freed);
	/* the result is as dense as the class layout allows (~1/4) */
	CU_ASSERT(after.frames * 3 < before.frames);
	model_check(p, m, n);
	model_verify_all(p, m, n);
	/* a second pass finds nothing more to do */
	CU_ASSERT_EQUAL(pool_compact(p, NULL), 0);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(pool_put(p, m[i].id), 0);
	check_empty(p);
	free(m);
	pool_destroy(p);
}

/*
 * After a compaction, a class holds no more frames than its objects
 * need: full zspages, then one whose objects fill it from its first
 * slot.  Half of one class's objects freed at random leave holes in
 * every zspage; without a zspage to spill into, the holes of the least
 * used one stayed (half a zspage on average).
 */
static void
compaction_dense_case(unsigned max_frames)
{
	enum { N = 3000 };
	struct pool		*p = new_pool(64 << 20, max_frames);
	struct pool_class_stats	 cs[4];
	uint8_t			 page[PG];
	uint32_t		 id[N];
	uint64_t		 s = max_frames, want, need, last, full, resident;
	unsigned		 k, live = 0, csize;

	make_page(page, 7, 900);
	for (k = 0; k < N; k++)
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &id[k], &csize),
		    0);
	for (k = 0; k < N; k++) {
		if (rng(&s) % 2 == 0) {
			id[live++] = id[k];
			continue;
		}
		CU_ASSERT_EQUAL(pool_put(p, id[k]), 0);
	}
	CU_ASSERT(pool_compact(p, NULL) > 0);
	CU_ASSERT_EQUAL_FATAL(pool_class_stats(p, cs, 4), 1);
	need = (live + cs[0].objs_per_zspage - 1) / cs[0].objs_per_zspage;
	last = live - (need - 1) * cs[0].objs_per_zspage;
	full = ((uint64_t)cs[0].objs_per_zspage * cs[0].size + PG - 1) / PG;
	want = (need - 1) * full + (last * cs[0].size + PG - 1) / PG;
	CU_ASSERT_EQUAL(cs[0].objects, live);
	CU_ASSERT_EQUAL(cs[0].zspages, need);
	CU_ASSERT_EQUAL(cs[0].frames, want);
	CU_ASSERT_EQUAL(stats_frames(p, NULL), want);
	CU_ASSERT_EQUAL(pool_resident_frames(p, &resident), 0);
	CU_ASSERT_EQUAL(resident, want);
	/* nothing left to gain */
	CU_ASSERT_EQUAL(pool_compact(p, NULL), 0);
	drain_copies(p, id, live, page);
}

/*
 * One class (16-frame zspages of objs slots) filling zspages z0..z{nz-1}
 * in order; then z0 keeps its first object only, z1 every other one,
 * the rest stay full, so that a pass empties z0 and spills z1.  ids[]
 * (room for nz * objs) keeps the live ones, z0's first; returns how many.
 */
static unsigned
spill_layout(struct pool *p, const uint8_t *page, unsigned nz, uint32_t *ids,
    unsigned *objs)
{
	struct pool_class_stats	cs[4];
	unsigned		k, live = 0;

	CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &ids[0], NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pool_class_stats(p, cs, 4), 1);
	CU_ASSERT_EQUAL_FATAL(cs[0].frames_per_zspage, 16);
	*objs = cs[0].objs_per_zspage;
	for (k = 1; k < nz * *objs; k++)
		CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &ids[k], NULL),
		    0);
	for (k = 0; k < nz * *objs; k++)
		if (k < *objs ? k == 0 : k >= 2 * *objs || k % 2 == 0)
			ids[live++] = ids[k];
		else
			CU_ASSERT_EQUAL(pool_put(p, ids[k]), 0);
	return live;
}

/*
 * Stores during a pass may fill the zspage kept for the spill: the
 * moves must then find no room there, not a slot past its end.
 */
struct spill_fill {
	struct pool	*p;
	const uint8_t	*page;
	uint32_t	 z0_last;
	uint32_t	*ids;		/* room for n more */
	unsigned	 n;
};

static void
spill_fill(void *arg)
{
	struct spill_fill	*f = arg;
	unsigned		 k;

	/* z0 empties: the pass keeps it for the spill */
	CU_ASSERT_EQUAL(pool_put(f->p, f->z0_last), 0);
	/* then stores take every free slot of z1 and of z0 */
	for (k = 0; k < f->n; k++)
		CU_ASSERT_EQUAL(pool_store(f->p, lz4, f->page, &f->ids[k],
		    NULL), 0);
}

static void
test_spill_filled(void)
{
	struct pool		*p = new_pool(64 << 20, 16);
	struct pool_class_stats	 cs[4];
	struct spill_fill	 f = { .p = p };
	uint8_t			 page[PG];
	uint32_t		 ids[3 * 4096];
	uint64_t		 resident, frames;
	unsigned		 live, objs;

	make_page(page, 7, 1300);
	live = spill_layout(p, page, 3, ids, &objs);
	frames = stats_frames(p, NULL);
	f.page = page;
	f.z0_last = ids[0];
	f.ids = ids + live;
	f.n = 3 * objs - (live - 1);
	pool_test_before_moves(p, spill_fill, &f);
	(void)pool_compact(p, NULL);
	pool_test_before_moves(p, NULL, NULL);
	/* no move found room: three full zspages, as before the pass */
	CU_ASSERT_EQUAL(pool_class_stats(p, cs, 4), 1);
	CU_ASSERT_EQUAL(cs[0].zspages, 3);
	CU_ASSERT_EQUAL(cs[0].objects, 3 * objs);
	CU_ASSERT_EQUAL(stats_frames(p, NULL), frames);
	CU_ASSERT_EQUAL(pool_resident_frames(p, &resident), 0);
	CU_ASSERT_EQUAL(resident, frames);
	drain_copies(p, ids + 1, live - 1 + f.n, page);
}

/*
 * In a full arena a pass cannot open a zspage for the spill: the zspage
 * marked for it takes the moves instead, and the emptiest still goes.
 */
static void
test_spill_full_arena(void)
{
	struct pool	*p = new_pool(64 * PG, 16);
	uint8_t		 page[PG];
	uint32_t	 ids[4 * 4096];
	uint64_t	 before;
	unsigned	 live, objs;

	/* a class whose zspages take 16 frames: four fill the arena */
	make_page(page, 7, 1300);
	live = spill_layout(p, page, 4, ids, &objs);
	before = stats_frames(p, NULL);
	CU_ASSERT_EQUAL_FATAL(before, 64);	/* every frame of the arena */
	CU_ASSERT_EQUAL(pool_compact(p, NULL), before / 4);
	CU_ASSERT_EQUAL(stats_frames(p, NULL), before - before / 4);
	drain_copies(p, ids, live, page);
}

/*
 * An arena filled once and emptied has all its frames in free runs:
 * free all the same, so the spill takes a new zspage there (the first
 * move, z0's object, finds the kept zspage full and none emptied yet).
 */
static void
test_spill_used_arena(void)
{
	struct pool	*p = new_pool(256 * PG, 16);
	uint8_t		 page[PG];
	uint32_t	 ids[256 * 4], last;
	uint64_t	 want;
	unsigned	 n = 0, live, objs, slot;

	make_page(page, 7, 1300);
	while (n < 256 * 4 && pool_store(p, lz4, page, &ids[n], NULL) == 0)
		n++;
	CU_ASSERT(n > 47 * 15 && n < 256 * 4);
	slot = pool_slot_size(p, (unsigned)pool_obj_size(p, ids[0]));
	while (n > 0)
		CU_ASSERT_EQUAL(pool_put(p, ids[--n]), 0);
	CU_ASSERT_EQUAL_FATAL(stats_frames(p, NULL), 0);
	live = spill_layout(p, page, 3, ids, &objs);
	CU_ASSERT(pool_compact(p, NULL) > 0);
	/* z2 as it was, and the others' objects in the frames they need */
	last = live - objs;
	want = 16 + ((uint64_t)last * slot + PG - 1) / PG;
	CU_ASSERT_EQUAL(stats_frames(p, NULL), want);
	drain_copies(p, ids, live, page);
}

static void
test_compaction_dense(void)
{
	compaction_dense_case(4);
	compaction_dense_case(16);
	compaction_dense_case(POOL_MAX_ZSPAGE_FRAMES);
}

static void
test_merge(void)
{
	struct pool		*p = new_pool(16 << 20, 0);
	struct pool_stats	 st;
	uint8_t			 page[PG], out[PG];
	uint32_t		 a, b, z1, z2;

	make_page(page, 5, 500);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &a, NULL), 0);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &b, NULL), 0);
	CU_ASSERT_EQUAL(pool_compare(p, lz4, a, page), 0);
	CU_ASSERT_EQUAL(pool_merge(p, a, b), 0);
	CU_ASSERT_EQUAL(pool_merge(p, a, b), -EINVAL);	/* already merged */
	CU_ASSERT_EQUAL(pool_obj_refs(p, b), 2);
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.pages_merged, 2);
	CU_ASSERT_EQUAL(pool_resolve(p, b), a);
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects, 1);
	CU_ASSERT_EQUAL(st.orig_data_size, 2 * PG);
	CU_ASSERT_EQUAL(pool_load(p, lz4, b, out), 0);
	CU_ASSERT(memcmp(page, out, PG) == 0);
	/* dropping a first keeps b's bytes alive */
	CU_ASSERT_EQUAL(pool_put(p, a), 1);
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.pages_merged, 0);
	CU_ASSERT_EQUAL(pool_load(p, lz4, b, out), 0);
	CU_ASSERT(memcmp(page, out, PG) == 0);
	CU_ASSERT_EQUAL(pool_put(p, b), 0);
	/* same-filled objects hold no memory: nothing to merge */
	memset(page, 0, PG);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &z1, NULL), 0);
	CU_ASSERT_EQUAL(pool_store(p, lz4, page, &z2, NULL), 0);
	CU_ASSERT_EQUAL(pool_merge(p, z1, z2), -EINVAL);
	pool_put(p, z1);
	pool_put(p, z2);
	check_empty(p);
	pool_destroy(p);
}

/*
 * Two puts of a merged page (an alias) at once: the second drops the last
 * reference and frees the record, and a store takes it, all between the
 * first put's drop and the rest of it (the test hook runs them there).
 * The first put must still act on what the alias pointed at, not on the
 * record's new tenant.
 */
struct alias_race {
	struct pool	*p;
	uint32_t	 alias, tenant;
	bool		 done;
};

static void
put_and_reuse(uint32_t id, void *arg)
{
	struct alias_race	*ar = arg;
	uint8_t			 page[PG];

	if (ar->done || id != ar->alias)
		return;
	ar->done = true;
	CU_ASSERT_EQUAL(pool_put(ar->p, ar->alias), 0);
	make_page(page, 78, 700);
	CU_ASSERT_EQUAL(pool_store(ar->p, lz4, page, &ar->tenant, NULL), 0);
	CU_ASSERT_EQUAL(ar->tenant, ar->alias);	/* the record, reused */
}

static void
test_alias_put_race(void)
{
	struct pool		*p = new_pool(16 << 20, 0);
	struct alias_race	 ar = { p, 0, 0, false };
	struct pool_stats	 st;
	uint8_t			 page[PG], out[PG];
	uint32_t		 keep;

	make_page(page, 77, 500);
	CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &keep, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pool_store(p, lz4, page, &ar.alias, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pool_merge(p, keep, ar.alias), 0);
	CU_ASSERT_EQUAL_FATAL(pool_get(p, ar.alias), 0);
	CU_ASSERT_EQUAL(pool_obj_refs(p, keep), 3);
	pool_test_after_drop(p, put_and_reuse, &ar);
	CU_ASSERT_EQUAL(pool_put(p, ar.alias), 1);
	pool_test_after_drop(p, NULL, NULL);
	CU_ASSERT(ar.done);
	/* both puts reached keep; the tenant is whole and its own */
	CU_ASSERT_EQUAL(pool_obj_refs(p, keep), 1);
	CU_ASSERT_EQUAL(pool_obj_refs(p, ar.tenant), 1);
	make_page(page, 78, 700);
	CU_ASSERT_EQUAL(pool_load(p, lz4, ar.tenant, out), 0);
	CU_ASSERT(memcmp(page, out, PG) == 0);
	pool_stats(p, &st);
	CU_ASSERT_EQUAL(st.refs, 2);
	CU_ASSERT_EQUAL(st.pages_merged, 0);
	CU_ASSERT_EQUAL(pool_put(p, ar.tenant), 0);
	CU_ASSERT_EQUAL(pool_put(p, keep), 0);
	check_empty(p);
	pool_destroy(p);
}

/* Several threads storing, loading, freeing while another compacts. */
struct thr {
	struct pool	*p;
	unsigned	 seed;
	unsigned	 bad;
};

/* Mostly compressible; every 8th same-filled, half of those with 0. */
static void
stress_page(uint8_t *page, unsigned seed, unsigned i)
{
	if (i % 8 == 7)
		page_fill(page, i % 16 == 7 ? 0 : 0x0101010101010101ull *
		    (seed & 0xff) + i);
	else
		make_page(page, seed * 1000 + i, (seed * 64 + i) % 2000);
}

static void *
stress_worker(void *arg)
{
	struct thr		*t = arg;
	struct codec_ctx	*ctx;
	struct codec_spec	 spec = { CODEC_LZ4, 1 };
	uint8_t			 page[PG], out[PG];
	uint32_t		 ids[64];
	unsigned		 round, i;

	ctx = codec_ctx_new(&spec);
	for (round = 0; round < 300; round++) {
		for (i = 0; i < 64; i++) {
			stress_page(page, t->seed, i);
			if (pool_store(t->p, ctx, page, &ids[i], NULL) != 0)
				t->bad++;
		}
		for (i = 0; i < 64; i++) {
			stress_page(page, t->seed, i);
			if (pool_load(t->p, ctx, ids[i], out) != 0 ||
			    memcmp(page, out, PG) != 0)
				t->bad++;
		}
		for (i = 0; i < 64; i++)
			if (pool_put(t->p, ids[i]) != 0)
				t->bad++;
	}
	codec_ctx_free(ctx);
	return NULL;
}

static void
threads(bool retain)
{
	struct pool	*p = new_pool_retain(512 << 20, 0, retain);
	pthread_t	 th[4];
	struct thr	 t[4];
	unsigned	 i, compactions = 0;

	for (i = 0; i < 4; i++) {
		t[i] = (struct thr){ p, i + 1, 0 };
		pthread_create(&th[i], NULL, stress_worker, &t[i]);
	}
	/* compact while they run, to race moves against loads */
	for (i = 0; i < 200; i++) {
		if (retain && i % 2 == 0)
			pool_trim(p, false);
		pool_compact(p, NULL);
		compactions++;
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(t[i].bad, 0);
	}
	CU_ASSERT_EQUAL(compactions, 200);
	pool_compact(p, NULL);
	check_empty(p);
	pool_destroy(p);
}

static void
test_threads(void)
{
	threads(false);
}

/* The same, with emptied zspages kept and trimmed under the stores. */
static void
test_threads_retain(void)
{
	threads(true);
}

/*
 * Two threads fill thousands of pages of two classes and free most of
 * them again, round after round, while a third compacts without pause:
 * passes find many zspages to empty while stores, finding the lists
 * full, take the room of the zspages being emptied (the spill zspage
 * too).  A spill zspage filled that way was once handed to a move with
 * no slot left, which wrote past its end.
 */
enum { CHURN_PAGES = 4000, CHURN_ROUNDS = 10 };

struct churn {
	struct pool	*p;
	unsigned	 no;
	unsigned	 bad;
	uint32_t	 id[CHURN_PAGES];
	uint64_t	 seed[CHURN_PAGES];
};

static void
churn_page(uint8_t *page, uint64_t seed)
{
	make_page(page, seed, 900 + (unsigned)(seed % 2) * 16);
}

static void *
churn_worker(void *arg)
{
	struct churn		*w = arg;
	struct codec_spec	 spec = { CODEC_LZ4, 1 };
	struct codec_ctx	*ctx = codec_ctx_new(&spec);
	uint8_t			 page[PG], out[PG];
	uint64_t		 s = w->no, next = (uint64_t)w->no << 40;
	unsigned		 round, i, keep;

	for (round = 0; round < CHURN_ROUNDS; round++) {
		for (i = 0; i < CHURN_PAGES; i++) {
			if (w->id[i] != 0)
				continue;
			w->seed[i] = ++next;
			churn_page(page, w->seed[i]);
			if (pool_store(w->p, ctx, page, &w->id[i], NULL) != 0) {
				w->id[i] = 0;
				w->bad++;
			}
		}
		keep = 10 + (unsigned)(rng(&s) % 41);	/* percent */
		for (i = 0; i < CHURN_PAGES; i++) {
			if (w->id[i] == 0)
				continue;
			churn_page(page, w->seed[i]);
			if (pool_load(w->p, ctx, w->id[i], out) != 0 ||
			    memcmp(page, out, PG) != 0)
				w->bad++;
			if (rng(&s) % 100 >= keep) {
				if (pool_put(w->p, w->id[i]) != 0)
					w->bad++;
				w->id[i] = 0;
			}
		}
	}
	codec_ctx_free(ctx);
	return NULL;
}

struct compactor {
	struct pool	*p;
	bool		 stop;
	unsigned	 passes;
};

static void *
compactor_main(void *arg)
{
	struct compactor	*c = arg;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		pool_compact(c->p, NULL);
		c->passes++;
	}
	return NULL;
}

static void
churn(bool retain)
{
	struct pool	*p = new_pool_retain(256 << 20, 0, retain);
	struct churn	*w = calloc(2, sizeof *w);
	struct compactor ct = { p, false, 0 };
	pthread_t	 th[2], cth;
	uint8_t		 page[PG], out[PG];
	uint64_t	 resident;
	unsigned	 i, k;

	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	pthread_create(&cth, NULL, compactor_main, &ct);
	for (i = 0; i < 2; i++) {
		w[i].p = p;
		w[i].no = i + 1;
		pthread_create(&th[i], NULL, churn_worker, &w[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&ct.stop, true, __ATOMIC_RELEASE);
	pthread_join(cth, NULL);
	CU_ASSERT(ct.passes > 0);
	CU_ASSERT_EQUAL(pool_resident_frames(p, &resident), 0);
	CU_ASSERT_EQUAL(resident, stats_frames(p, NULL));
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(w[i].bad, 0);
		for (k = 0; k < CHURN_PAGES; k++) {
			if (w[i].id[k] == 0)
				continue;
			churn_page(page, w[i].seed[k]);
			CU_ASSERT_EQUAL(pool_load(p, lz4, w[i].id[k], out), 0);
			CU_ASSERT(memcmp(page, out, PG) == 0);
			CU_ASSERT_EQUAL(pool_put(p, w[i].id[k]), 0);
		}
	}
	pool_compact(p, NULL);
	check_empty(p);
	pool_destroy(p);
	free(w);
}

static void
test_churn(void)
{
	churn(false);
	churn(true);
}

int
main(void)
{
	static const struct cu_case cases[] = {
		{ "bad config", test_bad_config },
		{ "every class round-trips", test_every_class },
		{ "same-filled and huge", test_same_and_huge },
		{ "same-filled pages: metadata to the page",
		    test_same_pages_meta },
		{ "two puts of a merged page, its record reused between",
		    test_alias_put_race },
		{ "bad ids change nothing", test_bad_ids },
		{ "arena exhaustion", test_arena_exhaustion },
		{ "arena full of emptied zspages", test_arena_full_of_emptied },
		{ "merge", test_merge },
		{ "frames count as slots reach them", test_touched_frames },
		{ "compaction", test_compaction },
		{ "reclaim threshold", test_reclaim_threshold },
		{ "compaction leaves only the frames objects need",
		    test_compaction_dense },
		{ "a spill zspage that stores filled", test_spill_filled },
		{ "a spill in a full arena", test_spill_full_arena },
		{ "a spill in an arena filled once", test_spill_used_arena },
		{ "threads churn two classes while compaction loops",
		    test_churn },
		{ "stores into a full arena while it compacts",
		    test_full_arena_compaction },
		{ "emptied zspages kept, reused, trimmed", test_retain_empty },
		{ "random model", test_random_model },
		{ "random model, emptied zspages kept",
		    test_random_model_retain },
		{ "threads", test_threads },
		{ "threads, emptied zspages kept", test_threads_retain },
		{ NULL, NULL }
	};
	struct codec_spec	 spec = { CODEC_LZ4, 1 };
	int			 rc;

	lz4 = codec_ctx_new(&spec);
	if (cu_suite("pool", cases) != 0)
		return 1;
	rc = cu_run();
	codec_ctx_free(lz4);
	return rc;
}
