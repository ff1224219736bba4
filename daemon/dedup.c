/*
 * dedup.c -- the dedup index: XXH3 of a page -> the object holding it.
 *
 * One index per sharing scope.  An index is a power-of-two array of
 * buckets; objects are chained through the pool's per-object `link` word
 * and carry the low 32 bits of their page hash in `aux`.  A bucket is the
 * chain's head and a counting filter of the hashes in its chain (see
 * struct bucket), so a lookup that misses -- every store of a page that is
 * not there yet -- mostly reads one bucket and no object record: the
 * records are scattered over a large table and each one read is a cache
 * miss.  The buckets double once the load passes LOAD_MAX: 8 bytes a
 * bucket, 4 to 8 bytes an object (the index does not shrink), plus the
 * 8 bytes of caller words the pool keeps with every record for it.  A
 * candidate is shared only after pool_compare() finds the bytes equal.
 *
 * A store normally looks up before it compresses, so a hit skips the
 * compressor.  A scope that has stopped finding duplicates stores first
 * and looks up after: one lookup and one lock section instead of two, on
 * a page the compressor has just brought into the cache, at the price of
 * a wasted compression on each (rare) hit.
 *
 * Locking: scopes_lock (a rwlock: every store reads it, a new scope
 * writes it) guards the scope map.  A thread counts itself in an index's
 * users while it holds the pointer, and an index is freed only with
 * scopes_lock written, no users and no entries, so nobody ever holds a
 * freed one.  The users and the index's orphan mark (its scope was
 * dropped) share one atomic word, so the user that leaves an orphan
 * learns it in the same operation that lets go of the index, and never
 * reads the index after it; it looks the scope up again to free it.  Each index has its own lock, held while its buckets and
 * chains are read or changed and around every reference count change of
 * an indexed object, so an object is unlinked before its last reference
 * goes and never found after.  Compression happens outside any index lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
/*
 * libxxhash picks AVX2/AVX-512 at run time through the _dispatch entry
 * points (same hash values); the plain XXH3_64bits of Debian's build is
 * SSE2 only.  Hashing is most of what inline dedup adds to a store that
 * misses, so it is worth it: 0.23 against 0.29 us a page, measured.
 */
#include <xxh_x86dispatch.h>
#define page_xxh3(p)	XXH3_64bits_dispatch((p), PAGE_SIZE_4K)
#else
#define page_xxh3(p)	XXH3_64bits((p), PAGE_SIZE_4K)
#endif

#include "dedup.h"
#include "page.h"

#define SCOPE_BUCKETS	256u

/*
 * A chain's head, and what its chain holds: 16 two-bit counters, one per
 * value of the top 4 bits of a 32-bit page hash (bits the bucket number
 * does not use below 2^28 buckets).  A lookup walks the chain only when
 * its hash's counter is not 0.  A counter sticks at 3 (it can no longer
 * tell how many it counts) until its chain empties or the index grows,
 * when the filter is computed again; a stuck counter only costs a walk.
 */
struct bucket {
	uint32_t	head;
	uint32_t	filter;
};

#define INDEX_MIN	512u			/* buckets: 4 KiB */
#define INDEX_ORPHAN	0x80000000u		/* state: scope dropped */
#define INDEX_USERS	0x7fffffffu		/* state: threads holding it */
#define LOAD_MAX	2u			/* entries a bucket, at most */
#define GROW_AHEAD	8u			/* chains prefetched ahead */
/*
 * A scope whose last HIT_WINDOW lookups found fewer than one in
 * HIT_RARE duplicates stores before it looks up (store_first()).
 */
#define HIT_WINDOW	256u
#define HIT_RARE	64u

struct dedup_index {
	pthread_mutex_t		 lock;
	uint64_t		 scope;
	struct bucket		*bucket;
	uint32_t		 mask;		/* buckets - 1 */
	uint32_t		 entries;
	uint32_t		 removals;	/* objects unlinked, ever */
	uint32_t		 looks, hits;	/* this window of lookups */
	bool			 store_first;	/* see store_first() */
	uint32_t		 state;		/* INDEX_ORPHAN | users (atomic) */
	struct dedup_index	*next;		/* scope map chain */
};

struct dedup {
	struct pool		*pool;
	enum dedup_mode		 mode;
	pthread_rwlock_t	 scopes_lock;
	struct dedup_index	*scopes[SCOPE_BUCKETS];

	/* counters (atomics) */
	uint64_t		 hits;
	uint64_t		 bytes_saved;
	uint64_t		 merged;
	uint64_t		 entries;
	uint64_t		 index_bytes;

	void			(*between_walks)(void *);	/* tests */
	void			*between_arg;
};

#define ATOMIC_ADD(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define ATOMIC_SUB(p, v)	__atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)
#define ATOMIC_LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)

static uint32_t
page_hash(const void *page)
{
#ifdef ZP_COLLIDE_HASH
	/* test build: every page collides, content checks must catch it */
	(void)page;
	return 0;
#else
	return (uint32_t)page_xxh3(page);
#endif
}

struct dedup *
dedup_create(struct pool *pool, enum dedup_mode mode)
{
	struct dedup		*d;
	pthread_rwlockattr_t	 attr;

	/* the index lives in the pool's caller words */
	if (mode == DEDUP_INLINE && !pool_has_caller_words(pool))
		return NULL;
	if ((d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	d->pool = pool;
	d->mode = mode;
	/* every store reads it: a writer (the loop) must not starve */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&d->scopes_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return d;
}

static uint64_t
index_bytes(const struct dedup_index *ix)
{
	return ((uint64_t)ix->mask + 1) * sizeof *ix->bucket;
}

static void
index_free(struct dedup_index *ix)
{
	pthread_mutex_destroy(&ix->lock);
	free(ix->bucket);
	free(ix);
}

void
dedup_destroy(struct dedup *d)
{
	struct dedup_index	*ix, *next;
	unsigned		 i;

	if (d == NULL)
		return;
	for (i = 0; i < SCOPE_BUCKETS; i++)
		for (ix = d->scopes[i]; ix != NULL; ix = next) {
			next = ix->next;
			index_free(ix);
		}
	pthread_rwlock_destroy(&d->scopes_lock);
	free(d);
}

enum dedup_mode
dedup_get_mode(struct dedup *d)
{
	return d->mode;
}

static unsigned
scope_bucket(uint64_t scope)
{
	return (unsigned)((scope * 0x9e3779b97f4a7c15ull) >> 56);
}

static struct dedup_index *
scope_find(struct dedup *d, uint64_t scope)
{
	struct dedup_index	*ix;

	for (ix = d->scopes[scope_bucket(scope)]; ix != NULL; ix = ix->next)
		if (ix->scope == scope)
			return ix;
	return NULL;
}

static struct dedup_index *
scope_new(struct dedup *d, uint64_t scope)
{
	struct dedup_index	*ix;
	unsigned		 b = scope_bucket(scope);

	if ((ix = calloc(1, sizeof *ix)) == NULL)
		return NULL;
	if ((ix->bucket = calloc(INDEX_MIN, sizeof *ix->bucket)) == NULL) {
		free(ix);
		return NULL;
	}
	pthread_mutex_init(&ix->lock, NULL);
	ix->scope = scope;
	ix->mask = INDEX_MIN - 1;
	ix->next = d->scopes[b];
	d->scopes[b] = ix;
	ATOMIC_ADD(&d->index_bytes, index_bytes(ix));
	return ix;
}

/*
 * The index of a scope, counted in its users; created when `create` and
 * missing.  NULL: none.  Give it back with index_put().
 */
/*
 * A scope that comes back is no longer orphaned.  Caller holds
 * scopes_lock, read or written, so dedup_drop_scope is not marking it.
 */
static void
index_revive(struct dedup_index *ix)
{
	if (__atomic_load_n(&ix->state, __ATOMIC_RELAXED) & INDEX_ORPHAN)
		__atomic_and_fetch(&ix->state, ~INDEX_ORPHAN,
		    __ATOMIC_RELAXED);
}

/* Caller holds scopes_lock, read or written. */
static void
index_hold(struct dedup_index *ix, bool create)
{
	__atomic_add_fetch(&ix->state, 1, __ATOMIC_ACQ_REL);
	if (create)
		index_revive(ix);
}

static struct dedup_index *
index_get(struct dedup *d, uint64_t scope, bool create)
{
	struct dedup_index	*ix;

	pthread_rwlock_rdlock(&d->scopes_lock);
	if ((ix = scope_find(d, scope)) != NULL)
		index_hold(ix, create);
	pthread_rwlock_unlock(&d->scopes_lock);
	if (ix == NULL && create) {
		pthread_rwlock_wrlock(&d->scopes_lock);
		if ((ix = scope_find(d, scope)) == NULL)
			ix = scope_new(d, scope);
		if (ix != NULL)
			index_hold(ix, create);
		pthread_rwlock_unlock(&d->scopes_lock);
	}
	return ix;
}

/*
 * No users and nothing indexed, given the state just read.  Caller holds
 * scopes_lock written, which keeps new users out; the acquire that read
 * `state` pairs with the release of the last user's decrement, so that
 * user's changes to `entries` (made under ix->lock) are seen here.
 */
static bool
index_idle(const struct dedup_index *ix, uint32_t state)
{
	return (state & INDEX_USERS) == 0 && ix->entries == 0;
}

/* Caller holds scopes_lock written; ix is idle (index_idle()). */
static void
index_unlink(struct dedup *d, struct dedup_index *ix)
{
	struct dedup_index	**at;

	for (at = &d->scopes[scope_bucket(ix->scope)]; *at != ix;
	    at = &(*at)->next)
		;
	*at = ix->next;
	ATOMIC_SUB(&d->index_bytes, index_bytes(ix));
	index_free(ix);
}

/*
 * Let go of ix.  The last user of an orphan frees it if it is empty; but
 * once it has let go, another thread may free ix first (dropping the
 * scope again), so it looks the scope up again under the write lock and
 * frees whatever idle orphan holds it.
 */
static void
index_put(struct dedup *d, struct dedup_index *ix)
{
	uint64_t	scope = ix->scope;
	uint32_t	state;

	if (__atomic_sub_fetch(&ix->state, 1, __ATOMIC_ACQ_REL) !=
	    INDEX_ORPHAN)
		return;
	pthread_rwlock_wrlock(&d->scopes_lock);
	if ((ix = scope_find(d, scope)) != NULL) {
		state = __atomic_load_n(&ix->state, __ATOMIC_ACQUIRE);
		if ((state & INDEX_ORPHAN) && index_idle(ix, state))
			index_unlink(d, ix);
	}
	pthread_rwlock_unlock(&d->scopes_lock);
}

/* --- buckets (caller holds ix->lock throughout) ------------------------- */

static uint32_t
bucket_of(const struct dedup_index *ix, uint32_t h)
{
	return h & ix->mask;
}

static struct bucket *
bucket_at(const struct dedup_index *ix, uint32_t b)
{
	return &ix->bucket[b];
}

static unsigned
filter_shift(uint32_t h)
{
	return (h >> 28) * 2;
}

static bool
filter_may_hold(uint32_t filter, uint32_t h)
{
	return (filter >> filter_shift(h)) & 3;
}

static void
filter_add(uint32_t *filter, uint32_t h)
{
	if (((*filter >> filter_shift(h)) & 3) != 3)
		*filter += 1u << filter_shift(h);
}

static void
filter_del(uint32_t *filter, uint32_t h)
{
	uint32_t	c = (*filter >> filter_shift(h)) & 3;

	if (c != 0 && c != 3)
		*filter -= 1u << filter_shift(h);
}

/*
 * An object of the chain holding exactly this page, or 0.  Compares bytes
 * only where the stored hash matches.
 */
static uint32_t
chain_find(struct dedup *d, const struct bucket *bk, struct codec_ctx *ctx,
    const void *page, uint32_t h)
{
	uint32_t	id;

	if (!filter_may_hold(bk->filter, h))
		return 0;
	for (id = bk->head; id != 0; id = *pool_obj_link(d->pool, id))
		if (*pool_obj_aux(d->pool, id) == h &&
		    pool_compare(d->pool, ctx, id, page) == 0)
			return id;
	return 0;
}

static uint32_t
index_find(struct dedup *d, struct dedup_index *ix, struct codec_ctx *ctx,
    const void *page, uint32_t h)
{
	return chain_find(d, bucket_at(ix, bucket_of(ix, h)), ctx, page, h);
}

/*
 * Double the buckets once the load passes LOAD_MAX, keeping each chain's
 * order (index_store relies on it): bucket b's chain splits into b and
 * b + old size by the next bit of the hash.  One pass over every record
 * of the index, in bucket order: neighbouring records share cache lines,
 * which a pass over all of them at once reads once, where growing a
 * bucket at a time would miss on nearly every record (measured: slower).
 */
static void
index_grow(struct dedup *d, struct dedup_index *ix)
{
	struct bucket	*nb, *lo, *hi;
	uint32_t	 n = ix->mask + 1, b, id, next, h;
	uint32_t	*tail_lo, *tail_hi;

	if ((nb = calloc((size_t)n * 2, sizeof *nb)) == NULL)
		return;			/* longer chains, still correct */
	for (b = 0; b < n; b++) {
		/* the records of chains further on, while this one is done */
		if (b + GROW_AHEAD < n &&
		    (id = ix->bucket[b + GROW_AHEAD].head) != 0)
			__builtin_prefetch(pool_obj_link(d->pool, id), 1);
		lo = &nb[b];
		hi = &nb[b + n];
		tail_lo = &lo->head;
		tail_hi = &hi->head;
		for (id = ix->bucket[b].head; id != 0; id = next) {
			next = *pool_obj_link(d->pool, id);
			h = *pool_obj_aux(d->pool, id);
			if (h & n) {
				*tail_hi = id;
				tail_hi = pool_obj_link(d->pool, id);
				filter_add(&hi->filter, h);
			} else {
				*tail_lo = id;
				tail_lo = pool_obj_link(d->pool, id);
				filter_add(&lo->filter, h);
			}
		}
		*tail_lo = 0;
		*tail_hi = 0;
	}
	ATOMIC_ADD(&d->index_bytes, (uint64_t)n * sizeof *nb);
	free(ix->bucket);
	ix->bucket = nb;
	ix->mask = 2 * n - 1;
}

static void
index_insert(struct dedup *d, struct dedup_index *ix, uint32_t id,
    uint32_t h)
{
	struct bucket	*bk = bucket_at(ix, bucket_of(ix, h));

	*pool_obj_aux(d->pool, id) = h;
	*pool_obj_link(d->pool, id) = bk->head;
	bk->head = id;
	filter_add(&bk->filter, h);
	ix->entries++;
	ATOMIC_ADD(&d->entries, 1);
	if (ix->entries > (uint64_t)LOAD_MAX * (ix->mask + 1))
		index_grow(d, ix);
}

static void
index_remove(struct dedup *d, struct dedup_index *ix, uint32_t id)
{
	uint32_t	 h = *pool_obj_aux(d->pool, id);
	struct bucket	*bk = bucket_at(ix, bucket_of(ix, h));
	uint32_t	*at = &bk->head;

	while (*at != 0 && *at != id)
		at = pool_obj_link(d->pool, *at);
	if (*at == 0)
		return;
	*at = *pool_obj_link(d->pool, id);
	if (bk->head == 0)
		bk->filter = 0;
	else
		filter_del(&bk->filter, h);
	ix->entries--;
	ix->removals++;
	ATOMIC_SUB(&d->entries, 1);
}

/* A hit: one more page on an object that is already there. */
static int
share(struct dedup *d, uint32_t id, unsigned *csize, bool *shared)
{
	int	size;

	/* past it, a second copy: pins always find room (pool.h) */
	if (pool_obj_refs(d->pool, id) >= (int)POOL_SHARE_MAX ||
	    pool_get(d->pool, id) != 0)
		return -ENOENT;
	size = pool_obj_size(d->pool, id);
	*csize = size > 0 ? (unsigned)size : 0;
	*shared = true;
	ATOMIC_ADD(&d->hits, 1);
	ATOMIC_ADD(&d->bytes_saved, *csize);
	return 0;
}

/*
 * Per thread, the scope of its last store and whether that scope stored
 * first (index_count).  Only a hint, read and written by its thread: a
 * stale one (another dedup at the same address, a scope that changed its
 * mind) only sends a store the other way.
 */
static _Thread_local struct {
	const struct dedup	*d;
	uint64_t		 scope;
	bool			 store_first;
} last;

static int	index_store(struct dedup *, struct dedup_index *,
		    struct codec_ctx *, const void *, uint32_t *, unsigned *,
		    bool *);
static int	store_first(struct dedup *, struct codec_ctx *, const void *,
		    uint64_t, uint32_t *, unsigned *, bool *);

int
dedup_store(struct dedup *d, struct codec_ctx *ctx, const void *page,
    uint64_t scope, uint32_t *id, unsigned *csize, bool *shared)
{
	struct dedup_index	*ix;
	uint64_t		 word;
	int			 r;

	*shared = false;
	if (d->mode == DEDUP_OFF || page_same_filled(page, &word))
		return pool_store(d->pool, ctx, page, id, csize);
	if (last.d == d && last.scope == scope && last.store_first)
		return store_first(d, ctx, page, scope, id, csize, shared);
	if ((ix = index_get(d, scope, true)) == NULL)
		return pool_store(d->pool, ctx, page, id, csize);
	r = index_store(d, ix, ctx, page, id, csize, shared);
	index_put(d, ix);
	return r;
}

/* Count a lookup; at the end of a window, choose how the next stores go. */
static void
index_count(struct dedup_index *ix, bool hit)
{
	ix->hits += hit;
	if (++ix->looks < HIT_WINDOW)
		return;
	ix->store_first = ix->hits * HIT_RARE < ix->looks;
	ix->looks = ix->hits = 0;
}

/*
 * The second half of a store that stored first: `fresh` (0 if the pool had
 * no room for it, r the error) is looked for in ix, whose lock the caller
 * holds.  A hit gives the new object back.
 */
static int
index_store_after(struct dedup *d, struct dedup_index *ix,
    struct codec_ctx *ctx, const void *page, uint32_t h, uint32_t fresh,
    int r, uint32_t *id, unsigned *csize, bool *shared)
{
	uint32_t	hit;

	hit = index_find(d, ix, ctx, page, h);
	index_count(ix, hit != 0);
	last.store_first = ix->store_first;
	if (hit != 0 && share(d, hit, csize, shared) == 0) {
		if (fresh != 0)
			pool_put(d->pool, fresh);
		*id = hit;
		return 0;
	}
	if (fresh == 0)
		return r;		/* no room, and not a duplicate */
	index_insert(d, ix, fresh, h);
	*id = fresh;
	return 0;
}

/*
 * Store first, look up after: the page is stored (compressed) and then
 * looked for.  Hashing a page the compressor has just read costs less than
 * hashing it cold, and this takes one lock section where index_store
 * takes two; but a hit costs a compression, so only a scope that rarely
 * hits comes here.
 *
 * The index is needed only after the compression, and only for that one
 * section: it is held there under scopes_lock read rather than counted in
 * its users.  That is safe because an index is unlinked and freed only
 * with scopes_lock written (index_put, dedup_drop_scope), which cannot
 * happen while the read lock is held; and nobody takes scopes_lock while
 * holding an index's lock, so taking ix->lock under it cannot deadlock.
 * It saves two atomic operations on shared lines a store.
 */
static int
store_first(struct dedup *d, struct codec_ctx *ctx, const void *page,
    uint64_t scope, uint32_t *id, unsigned *csize, bool *shared)
{
	struct dedup_index	*ix;
	uint32_t		 h, fresh;
	int			 r;

	/* no room for it: it may still be a duplicate */
	if ((r = pool_store(d->pool, ctx, page, &fresh, csize)) != 0)
		fresh = 0;
	h = page_hash(page);
	pthread_rwlock_rdlock(&d->scopes_lock);
	if ((ix = scope_find(d, scope)) != NULL) {
		index_revive(ix);
		pthread_mutex_lock(&ix->lock);
		r = index_store_after(d, ix, ctx, page, h, fresh, r, id,
		    csize, shared);
		pthread_mutex_unlock(&ix->lock);
		pthread_rwlock_unlock(&d->scopes_lock);
		return r;
	}
	pthread_rwlock_unlock(&d->scopes_lock);
	/* the scope went away meanwhile: make it again, the long way */
	if ((ix = index_get(d, scope, true)) == NULL) {
		last.d = NULL;
		if (fresh != 0)
			*id = fresh;
		return fresh != 0 ? 0 : r;
	}
	pthread_mutex_lock(&ix->lock);
	r = index_store_after(d, ix, ctx, page, h, fresh, r, id, csize,
	    shared);
	pthread_mutex_unlock(&ix->lock);
	index_put(d, ix);
	return r;
}

static int
index_store(struct dedup *d, struct dedup_index *ix, struct codec_ctx *ctx,
    const void *page, uint32_t *id, unsigned *csize, bool *shared)
{
	struct bucket	*bk;
	uint32_t	 h, hit, fresh, b, head, removals;
	int		 r;

	h = page_hash(page);
	pthread_mutex_lock(&ix->lock);
	b = bucket_of(ix, h);
	bk = bucket_at(ix, b);
	hit = chain_find(d, bk, ctx, page, h);
	index_count(ix, hit != 0);
	last.d = d;
	last.scope = ix->scope;
	last.store_first = ix->store_first;
	if (hit != 0 && share(d, hit, csize, shared) == 0) {
		pthread_mutex_unlock(&ix->lock);
		*id = hit;
		return 0;
	}
	head = bk->head;
	removals = ix->removals;
	pthread_mutex_unlock(&ix->lock);
	if (d->between_walks != NULL)
		d->between_walks(d->between_arg);

	/* A miss: compress with no lock held. */
	if ((r = pool_store(d->pool, ctx, page, &fresh, csize)) != 0)
		return r;
	pthread_mutex_lock(&ix->lock);
	/*
	 * Another worker may have stored the same page meanwhile, and only
	 * then is it worth looking again.  An insertion puts its object at
	 * the head of the page's chain and growth keeps a chain's order, so
	 * an object added since (and still there) would come before `head`,
	 * which was there already: if the page still maps to bucket b, whose
	 * chain still starts with `head`, and nothing left the index (an id
	 * freed and reused could come back as the same head), nothing was
	 * added.
	 */
	if ((bucket_of(ix, h) != b || bucket_at(ix, b)->head != head ||
	    ix->removals != removals) &&
	    (hit = index_find(d, ix, ctx, page, h)) != 0 &&
	    share(d, hit, csize, shared) == 0) {
		pthread_mutex_unlock(&ix->lock);
		pool_put(d->pool, fresh);
		*id = hit;
		return 0;
	}
	index_insert(d, ix, fresh, h);
	pthread_mutex_unlock(&ix->lock);
	*id = fresh;
	return 0;
}

int
dedup_put(struct dedup *d, uint32_t id, uint64_t scope)
{
	struct dedup_index	*ix;
	int			 r;

	if (d->mode == DEDUP_OFF || pool_obj_same(d->pool, id) ||
	    (ix = index_get(d, scope, false)) == NULL)
		return pool_put(d->pool, id);
	/*
	 * Only here, under the index lock, does an indexed object lose its
	 * last reference, and only after it left its chain; any other
	 * reference may drop elsewhere with pool_put_unless_last().
	 */
	pthread_mutex_lock(&ix->lock);
	if ((r = pool_put_unless_last(d->pool, id)) == -EAGAIN) {
		index_remove(d, ix, id);
		r = pool_put(d->pool, id);
	}
	pthread_mutex_unlock(&ix->lock);
	index_put(d, ix);
	return r;
}

void
dedup_drop_scope(struct dedup *d, uint64_t scope)
{
	struct dedup_index	*ix;
	uint32_t		 state;

	pthread_rwlock_wrlock(&d->scopes_lock);
	if ((ix = scope_find(d, scope)) != NULL) {
		/* in use, or objects still indexed: the last index_put frees */
		state = __atomic_fetch_or(&ix->state, INDEX_ORPHAN,
		    __ATOMIC_ACQ_REL);
		if (index_idle(ix, state))
			index_unlink(d, ix);
	}
	pthread_rwlock_unlock(&d->scopes_lock);
}

/* --- on-demand merge ---------------------------------------------------- */

/* A scratch open-addressing table: (scope, full hash) -> first object. */
struct merge_slot {
	uint64_t	key;
	uint64_t	scope;
	uint32_t	id;
};

struct merge_table {
	struct merge_slot	*slot;
	size_t			 mask;
	size_t			 used;
};

static int
merge_table_grow(struct merge_table *t)
{
	struct merge_slot	*old = t->slot, *s;
	size_t			 n = t->slot ? (t->mask + 1) * 2 : 4096, i, j;

	if ((s = calloc(n, sizeof *s)) == NULL)
		return -1;
	for (i = 0; old != NULL && i <= t->mask; i++) {
		if (old[i].id == 0)
			continue;
		for (j = old[i].key & (n - 1); s[j].id != 0; j = (j + 1) & (n - 1))
			;
		s[j] = old[i];
	}
	free(old);
	t->slot = s;
	t->mask = n - 1;
	return 0;
}

/*
 * Merge one object into the first equal one seen in its scope, or record it
 * as that first.  Returns 1 when merged.
 */
static int
merge_one(struct dedup *d, struct merge_table *t, struct codec_ctx *ctx,
    uint32_t id, uint64_t scope)
{
	uint8_t		 page[PAGE_SIZE_4K];
	uint64_t	 key;
	size_t		 i;
	int		 size;

	if (pool_obj_same(d->pool, id) || pool_resolve(d->pool, id) != id ||
	    pool_load(d->pool, ctx, id, page) != 0)
		return 0;
#ifdef ZP_COLLIDE_HASH
	key = 0;
#else
	key = page_xxh3(page);
#endif
	if ((t->used + 1) * 2 > t->mask + 1 && merge_table_grow(t) != 0)
		return 0;
	for (i = key & t->mask; t->slot[i].id != 0; i = (i + 1) & t->mask) {
		if (t->slot[i].key != key || t->slot[i].scope != scope)
			continue;
		if (pool_compare(d->pool, ctx, t->slot[i].id, page) != 0)
			continue;
		size = pool_obj_size(d->pool, id);
		if (pool_merge(d->pool, t->slot[i].id, id) != 0)
			return 0;
		ATOMIC_ADD(&d->bytes_saved, size > 0 ? (uint64_t)size : 0);
		return 1;
	}
	t->slot[i] = (struct merge_slot){ key, scope, id };
	t->used++;
	return 0;
}

uint64_t
dedup_merge(struct dedup *d, struct codec_ctx *ctx,
    bool (*next)(void *arg, uint32_t *id, uint64_t *scope), void *arg,
    uint64_t *scanned)
{
	struct merge_table	 t = { NULL, 0, 0 };
	uint64_t		 merged = 0, n = 0, scope;
	uint32_t		 id;

	*scanned = 0;
	if (d->mode != DEDUP_OFF)
		return 0;
	if (merge_table_grow(&t) != 0)
		return 0;
	while (next(arg, &id, &scope)) {
		n++;
		merged += (uint64_t)merge_one(d, &t, ctx, id, scope);
	}
	free(t.slot);
	*scanned = n;
	ATOMIC_ADD(&d->merged, merged);
	return merged;
}

void
dedup_test_between_walks(struct dedup *d, void (*fn)(void *), void *arg)
{
	d->between_walks = fn;
	d->between_arg = arg;
}

void
dedup_stats(struct dedup *d, struct dedup_stats *st)
{
	st->hits = ATOMIC_LOAD(&d->hits);
	st->bytes_saved = ATOMIC_LOAD(&d->bytes_saved);
	st->merged = ATOMIC_LOAD(&d->merged);
	st->entries = ATOMIC_LOAD(&d->entries);
	st->meta_bytes = ATOMIC_LOAD(&d->index_bytes);
}
