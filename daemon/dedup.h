/*
 * dedup.h -- the dedup index: identical pages are stored once.
 *
 * Index: XXH3 of the uncompressed page -> object, kept per sharing scope
 * (one index per scope key: a client id, a uid, or 0 for global), so pages
 * of different scopes can never meet.  A hash match is always confirmed by
 * content (pool_compare) before a page shares an object: XXH3 is not
 * collision resistant and a client could craft collisions.
 *
 * Modes: DEDUP_INLINE looks every page up at store time (a hit skips the
 * compression, except in a scope that has stopped finding duplicates: there
 * a page is compressed and stored first, looked up after, and given back
 * on a hit, which makes each miss cheaper); DEDUP_OFF stores every page as
 * a new object and leaves merging to dedup_merge(), a scan run on demand.
 * The mode is fixed for the life of the daemon.  Same-filled pages are
 * never indexed: they hold no pool memory to share.
 *
 * Thread safety: all calls may run concurrently from any thread.
 */
#ifndef ZP_DEDUP_H
#define ZP_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "pool.h"
#include "settings.h"

struct dedup;

struct dedup_stats {
	uint64_t	hits;		/* stores that joined an object */
	uint64_t	bytes_saved;	/* compressed bytes not stored, total */
	uint64_t	merged;		/* objects merged by dedup_merge */
	uint64_t	entries;	/* objects in the index */
	uint64_t	meta_bytes;	/* index memory */
};

/*
 * NULL when out of memory, or for DEDUP_INLINE on a pool made without
 * `caller_words` (the index keeps its chains and hashes there).
 */
struct dedup	*dedup_create(struct pool *pool, enum dedup_mode mode);
void		 dedup_destroy(struct dedup *d);

enum dedup_mode	 dedup_get_mode(struct dedup *d);

/*
 * Store a page (private memory) within sharing scope `scope`.  Returns 0
 * with one new reference on *id for the caller; *shared says whether it
 * joined an existing object (nothing of the page stays allocated).
 * *csize receives the object's stored size.  Errors as pool_store.
 */
int		 dedup_store(struct dedup *d, struct codec_ctx *ctx,
		     const void *page, uint64_t scope, uint32_t *id,
		     unsigned *csize, bool *shared);

/*
 * Drop one reference taken by dedup_store in the same scope; the pages
 * still sharing the object, or -ENOENT.
 */
int		 dedup_put(struct dedup *d, uint32_t id, uint64_t scope);

/*
 * On-demand merge (DEDUP_OFF): `next` yields the (object, scope) pairs to
 * consider, returning false when done; the caller holds a reference on each
 * object until the call returns, so no id is reused meanwhile.  Objects of
 * one scope with identical pages are merged (pool_merge).  Returns the
 * objects merged by this run; *scanned, the pages read.  With DEDUP_INLINE
 * the index already shares what it can, and this returns 0.
 */
uint64_t	 dedup_merge(struct dedup *d, struct codec_ctx *ctx,
		     bool (*next)(void *arg, uint32_t *id, uint64_t *scope),
		     void *arg, uint64_t *scanned);

/* Forget scope `scope`'s index (its last client went away). */
void		 dedup_drop_scope(struct dedup *d, uint64_t scope);

void		 dedup_stats(struct dedup *d, struct dedup_stats *st);

/*
 * Tests only: fn(arg) runs in dedup_store between the lookup that missed
 * and the compression, with no lock held, so a test can store or free
 * pages at that point.  Set it while no store runs; NULL removes it.
 */
void		 dedup_test_between_walks(struct dedup *d, void (*fn)(void *),
		     void *arg);

#endif /* ZP_DEDUP_H */
