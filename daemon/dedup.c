/*
 * dedup.c -- the dedup index: XXH3 of a page -> the object holding it.
 *
 * One index per sharing scope.  An index is a power-of-two array of chain
 * heads; objects are chained through the pool's per-object `link` word and
 * carry the low 32 bits of their page hash in `aux`, so the index costs
 * one 4-byte head per object (load factor 0.5..1) and nothing else, and a
 * chain is walked without touching the pages.  A candidate is shared only
 * after pool_compare() finds the bytes equal.
 *
 * Locking: scopes_lock (a rwlock: every store reads it, a new scope
 * writes it) guards the scope map.  A thread counts itself in an index's
 * `users` while it holds the pointer, and an index is freed only with
 * scopes_lock written, no users and no entries, so nobody ever holds a
 * freed one.  Each index has its own lock,
 * held while its chains are walked or changed and around every reference
 * count change of an indexed object, so an object is unlinked before its
 * last reference goes and never found after.  Compression happens outside
 * any index lock.
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
#define INDEX_MIN	1024u

struct dedup_index {
	pthread_mutex_t		 lock;
	uint64_t		 scope;
	uint32_t		*head;
	uint32_t		 mask;		/* buckets - 1 */
	uint32_t		 entries;
	uint32_t		 users;		/* threads holding it (atomic) */
	bool			 orphan;	/* its scope was dropped */
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

static void
index_free(struct dedup_index *ix)
{
	pthread_mutex_destroy(&ix->lock);
	free(ix->head);
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
	if ((ix->head = calloc(INDEX_MIN, sizeof *ix->head)) == NULL) {
		free(ix);
		return NULL;
	}
	pthread_mutex_init(&ix->lock, NULL);
	ix->scope = scope;
	ix->mask = INDEX_MIN - 1;
	ix->next = d->scopes[b];
	d->scopes[b] = ix;
	ATOMIC_ADD(&d->index_bytes, INDEX_MIN * sizeof *ix->head);
	return ix;
}

/*
 * The index of a scope, counted in its users; created when `create` and
 * missing.  NULL: none.  Give it back with index_put().
 */
static struct dedup_index *
index_get(struct dedup *d, uint64_t scope, bool create)
{
	struct dedup_index	*ix;

	pthread_rwlock_rdlock(&d->scopes_lock);
	if ((ix = scope_find(d, scope)) != NULL)
		__atomic_add_fetch(&ix->users, 1, __ATOMIC_ACQ_REL);
	pthread_rwlock_unlock(&d->scopes_lock);
	if (ix == NULL && create) {
		pthread_rwlock_wrlock(&d->scopes_lock);
		if ((ix = scope_find(d, scope)) == NULL)
			ix = scope_new(d, scope);
		if (ix != NULL)
			__atomic_add_fetch(&ix->users, 1, __ATOMIC_ACQ_REL);
		pthread_rwlock_unlock(&d->scopes_lock);
	}
	/* a scope that comes back is no longer orphaned */
	if (ix != NULL && create)
		__atomic_store_n(&ix->orphan, false, __ATOMIC_RELAXED);
	return ix;
}

/* Caller holds scopes_lock written; ix has no users and no entries. */
static void
index_unlink(struct dedup *d, struct dedup_index *ix)
{
	struct dedup_index	**at;

	for (at = &d->scopes[scope_bucket(ix->scope)]; *at != ix;
	    at = &(*at)->next)
		;
	*at = ix->next;
	ATOMIC_SUB(&d->index_bytes, (uint64_t)(ix->mask + 1) * sizeof *ix->head);
	index_free(ix);
}

/* The last user of an orphaned, empty index frees it. */
static void
index_put(struct dedup *d, struct dedup_index *ix)
{
	if (__atomic_sub_fetch(&ix->users, 1, __ATOMIC_ACQ_REL) != 0 ||
	    !__atomic_load_n(&ix->orphan, __ATOMIC_RELAXED))
		return;
	pthread_rwlock_wrlock(&d->scopes_lock);
	if (ix->users == 0 && ix->orphan && ix->entries == 0)
		index_unlink(d, ix);
	pthread_rwlock_unlock(&d->scopes_lock);
}

/*
 * An object of the index holding exactly this page, or 0.  Caller holds
 * ix->lock.  Compares bytes only where the stored hash matches.
 */
static uint32_t
index_find(struct dedup *d, struct dedup_index *ix, struct codec_ctx *ctx,
    const void *page, uint32_t h)
{
	uint32_t	id;

	for (id = ix->head[h & ix->mask]; id != 0;
	    id = *pool_obj_link(d->pool, id))
		if (*pool_obj_aux(d->pool, id) == h &&
		    pool_compare(d->pool, ctx, id, page) == 0)
			return id;
	return 0;
}

/* Double the chain heads once the load passes 1.  Caller holds ix->lock. */
static void
index_grow(struct dedup *d, struct dedup_index *ix)
{
	uint32_t	*head, nb = (ix->mask + 1) * 2, b, id, next;

	if ((head = calloc(nb, sizeof *head)) == NULL)
		return;			/* longer chains, still correct */
	for (b = 0; b <= ix->mask; b++)
		for (id = ix->head[b]; id != 0; id = next) {
			next = *pool_obj_link(d->pool, id);
			*pool_obj_link(d->pool, id) =
			    head[*pool_obj_aux(d->pool, id) & (nb - 1)];
			head[*pool_obj_aux(d->pool, id) & (nb - 1)] = id;
		}
	ATOMIC_ADD(&d->index_bytes, (uint64_t)(nb - ix->mask - 1) *
	    sizeof *head);
	free(ix->head);
	ix->head = head;
	ix->mask = nb - 1;
}

static void
index_insert(struct dedup *d, struct dedup_index *ix, uint32_t id,
    uint32_t h)
{
	*pool_obj_aux(d->pool, id) = h;
	*pool_obj_link(d->pool, id) = ix->head[h & ix->mask];
	ix->head[h & ix->mask] = id;
	ix->entries++;
	ATOMIC_ADD(&d->entries, 1);
	if (ix->entries > ix->mask + 1)
		index_grow(d, ix);
}

static void
index_remove(struct dedup *d, struct dedup_index *ix, uint32_t id)
{
	uint32_t	*at = &ix->head[*pool_obj_aux(d->pool, id) & ix->mask];

	while (*at != 0 && *at != id)
		at = pool_obj_link(d->pool, *at);
	if (*at == 0)
		return;
	*at = *pool_obj_link(d->pool, id);
	ix->entries--;
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

static int	index_store(struct dedup *, struct dedup_index *,
		    struct codec_ctx *, const void *, uint32_t *, unsigned *,
		    bool *);

int
dedup_store(struct dedup *d, struct codec_ctx *ctx, const void *page,
    uint64_t scope, uint32_t *id, unsigned *csize, bool *shared)
{
	struct dedup_index	*ix;
	uint64_t		 word;
	int			 r;

	*shared = false;
	if (d->mode == DEDUP_OFF || page_same_filled(page, &word) ||
	    (ix = index_get(d, scope, true)) == NULL)
		return pool_store(d->pool, ctx, page, id, csize);
	r = index_store(d, ix, ctx, page, id, csize, shared);
	index_put(d, ix);
	return r;
}

static int
index_store(struct dedup *d, struct dedup_index *ix, struct codec_ctx *ctx,
    const void *page, uint32_t *id, unsigned *csize, bool *shared)
{
	uint32_t	h, hit, fresh, head, mask;
	int		r;

	h = page_hash(page);
	pthread_mutex_lock(&ix->lock);
	if ((hit = index_find(d, ix, ctx, page, h)) != 0 &&
	    share(d, hit, csize, shared) == 0) {
		pthread_mutex_unlock(&ix->lock);
		*id = hit;
		return 0;
	}
	head = ix->head[h & ix->mask];
	mask = ix->mask;
	pthread_mutex_unlock(&ix->lock);

	/* A miss: compress with no lock held. */
	if ((r = pool_store(d->pool, ctx, page, &fresh, csize)) != 0)
		return r;
	pthread_mutex_lock(&ix->lock);
	/*
	 * Another worker may have stored the same page meanwhile; only if
	 * the chain changed is it worth walking again.
	 */
	if ((ix->mask != mask || ix->head[h & ix->mask] != head) &&
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

	pthread_rwlock_wrlock(&d->scopes_lock);
	if ((ix = scope_find(d, scope)) != NULL) {
		/* in use, or objects still indexed: the last index_put frees */
		if (ix->users == 0 && ix->entries == 0)
			index_unlink(d, ix);
		else
			ix->orphan = true;
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
dedup_stats(struct dedup *d, struct dedup_stats *st)
{
	st->hits = ATOMIC_LOAD(&d->hits);
	st->bytes_saved = ATOMIC_LOAD(&d->bytes_saved);
	st->merged = ATOMIC_LOAD(&d->merged);
	st->entries = ATOMIC_LOAD(&d->entries);
	st->meta_bytes = ATOMIC_LOAD(&d->index_bytes);
}
