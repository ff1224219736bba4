/*
 * pool.h -- the compressed page pool: zsmalloc's ideas in a memfd.
 *
 * The pool owns one memfd arena cut into 4 KiB frames.  Compressed pages
 * live in size classes of 16-byte steps; each class packs its objects into
 * zspages of 1..POOL_MAX_ZSPAGE_FRAMES contiguous frames, as many as waste
 * least.  Objects never cross a zspage and may cross frames inside one.
 * Pages that do not compress below `huge_threshold` are stored raw, one per
 * frame; same-filled pages (one repeated 64-bit word) take no pool memory.
 *
 * Callers hold object ids (uint32_t, never 0): an id names an object record
 * (location, size, reference count), so compaction moves objects without
 * anyone else noticing.  A frame counts from the moment a slot first
 * reaches into it (until then it is a hole in the memfd) until its zspage
 * empties, when it is punched out (fallocate(PUNCH_HOLE)) and given back
 * to the kernel -- or, with `retain_empty`, when pool_trim() or compaction
 * finds the emptied zspage unused.
 *
 * Thread safety: every function may be called from any thread at once,
 * except pool_create/pool_destroy.  Each caller brings its own codec_ctx
 * (codec contexts are per thread).  Locking is described in pool.c.
 */
#ifndef ZP_POOL_H
#define ZP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define POOL_PAGE_SIZE		4096u
#define POOL_CLASS_STEP		16u
#define POOL_MAX_ZSPAGE_FRAMES	32u
#define POOL_DEFAULT_ZSPAGE_FRAMES 32u	/* the least waste measured */
#define POOL_NR_CLASSES		(POOL_PAGE_SIZE / POOL_CLASS_STEP)
/* huge_threshold: 0 for the pool's own, or a value in this range. */
#define POOL_HUGE_THRESHOLD_MIN	64u
#define POOL_HUGE_THRESHOLD_MAX	(POOL_PAGE_SIZE - POOL_CLASS_STEP)
/*
 * Most references one object takes (pool_get fails past it).  Sharing
 * stops at POOL_SHARE_MAX, which leaves the rest for short-lived ones
 * (a load's pin), so a pin never fails for lack of room.
 */
#define POOL_REFS_MAX		((1u << 19) - 1)
#define POOL_SHARE_MAX		(POOL_REFS_MAX / 2)

struct pool;

struct pool_config {
	uint64_t	arena_bytes;	/* virtual size of the memfd arena */
	unsigned	max_zspage_frames; /* 1..32; 0: the default */
	unsigned	huge_threshold;	/* compressed >= this is stored raw;
					   0: default */
	const char	*name;		/* memfd name, for /proc/PID/fd */
	bool		retain_empty;	/* keep emptied zspages for reuse
					   until pool_trim (see pool.c) */
	bool		caller_words;	/* two words an object for the
					   caller: pool_obj_link/aux; 8 bytes
					   an object more */
};

/* Counters: exact at any quiescent moment. */
struct pool_stats {
	uint64_t	orig_data_size;	/* 4096 * pages referencing objects */
	uint64_t	compr_data_size;/* compressed bytes (raw: 4096) */
	uint64_t	mem_used_total;	/* frames * 4096 + meta_bytes */
	uint64_t	mem_used_max;	/* high-water mark of mem_used_total */
	uint64_t	same_pages;	/* same-filled objects */
	uint64_t	pages_compacted;/* frames freed by compaction, total */
	uint64_t	huge_pages;	/* objects stored raw */
	uint64_t	objects;	/* live objects, all kinds */
	uint64_t	frames;		/* frames zspages have touched */
	uint64_t	empty_frames;	/* of them, kept in emptied zspages */
	uint64_t	meta_bytes;	/* object records, zspage descriptors,
					   same-filled words, frame map */
	uint64_t	refs;		/* pages referencing objects */
	uint64_t	pages_merged;	/* pages sharing bytes with another */
	uint64_t	objects_moved;	/* by compaction, total */
};

/* Occupancy of one size class. */
struct pool_class_stats {
	unsigned	size;		/* object slot size, bytes */
	unsigned	frames_per_zspage;
	unsigned	objs_per_zspage;
	uint64_t	zspages;
	uint64_t	frames;		/* touched: the rest are holes */
	uint64_t	objects;	/* live objects */
	uint64_t	bytes;		/* compressed bytes stored */
};

/* Create a pool; NULL with *cause set on failure (memfd, mmap, memory). */
struct pool	*pool_create(const struct pool_config *cfg, const char **cause);
void		 pool_destroy(struct pool *p);

/*
 * Store one page.  The page must be private memory (never a client's
 * mapping: it is read more than once).  Returns 0 and a new object id with
 * one reference in *id, or -ENOSPC (arena full), -ENOMEM (metadata).
 * If `csize` is not NULL it receives the stored size (0 for same-filled).
 */
int		 pool_store(struct pool *p, struct codec_ctx *ctx,
		     const void *page, uint32_t *id, unsigned *csize);

/*
 * Merge `dup` into `keep` (two objects with identical pages): dup's slot is
 * freed and dup becomes an alias that loads keep's bytes; keep's count
 * grows by dup's.  Holders of dup need not be told: get, put and load on
 * an alias act on its target.  The caller must have checked that the
 * contents are identical (pool_compare).  0, -ENOENT, or -EINVAL (same
 * object, dup is an alias already, or dup is same-filled and holds no pool
 * memory).
 */
int		 pool_merge(struct pool *p, uint32_t keep, uint32_t dup);

/* Load object `id` into page.  0, -ENOENT (no such object), -EIO. */
int		 pool_load(struct pool *p, struct codec_ctx *ctx, uint32_t id,
		     void *page);

/* Compare object `id` with page: 0 equal, 1 differ, or -ENOENT/-EIO. */
int		 pool_compare(struct pool *p, struct codec_ctx *ctx,
		     uint32_t id, const void *page);

/* Take one more reference.  0 or -ENOENT. */
int		 pool_get(struct pool *p, uint32_t id);

/*
 * Drop one reference; the last one frees the object.  Returns the
 * references left (>= 0), or -ENOENT for an unknown or freed id (a double
 * free), which changes nothing.
 */
int		 pool_put(struct pool *p, uint32_t id);

/*
 * pool_put, but never of the last reference: the references left (> 0),
 * or -EAGAIN when it would be the last one (or id is an alias), or
 * -ENOENT; on an error nothing changed.  The last reference can then go
 * only where the caller chooses (dedup: under its index lock, after
 * unlinking the object), while other references drop without that lock.
 */
int		 pool_put_unless_last(struct pool *p, uint32_t id);

/* Stored size of `id` (0 for same-filled), or -ENOENT. */
int		 pool_obj_size(struct pool *p, uint32_t id);

/* The object `id` loads from: itself, or what it was merged into. */
uint32_t	 pool_resolve(struct pool *p, uint32_t id);

/* Pages reading the bytes of `id` (through aliases too), or -ENOENT. */
int		 pool_obj_refs(struct pool *p, uint32_t id);

/*
 * Two words kept with every object of a pool made with `caller_words`,
 * which the pool never uses: the dedup index chains objects through `link`
 * and keeps the page hash in `aux`.  The caller serializes its own use of
 * them.  A pool without them saves 8 bytes a stored page.
 */
bool		 pool_has_caller_words(const struct pool *p);
uint32_t	*pool_obj_link(struct pool *p, uint32_t id);
uint32_t	*pool_obj_aux(struct pool *p, uint32_t id);
bool		 pool_obj_same(struct pool *p, uint32_t id);

/*
 * Compaction: give back every emptied zspage kept for reuse, move objects
 * from the emptiest zspages of each class into the fullest, and give the
 * frames so emptied back.  Returns frames released.
 * `moved` (may be NULL) receives the objects moved.  Finding the objects
 * to move walks every record (about 3 ns each): one compaction at a time.
 */
uint64_t	 pool_compact(struct pool *p, uint64_t *moved);

/*
 * pool_compact for a store that finds the budget full: the records are
 * walked only if the zspages to empty hold a frame for every 2048
 * records at least, so that a store pays a few microseconds at most for
 * each frame won.  Less fragmentation waits for the next pool_compact.
 */
uint64_t	 pool_reclaim(struct pool *p, uint64_t *moved);

/*
 * Give back the frames of emptied zspages (retain_empty) that no store has
 * taken since the previous call -- every one if `all`.  Called every T
 * seconds, it keeps an unused frame about 2T at most.  Returns frames
 * released.
 */
uint64_t	 pool_trim(struct pool *p, bool all);

/*
 * Walk every live object: fn(id, arg) for each.  The walk holds no lock
 * while fn runs; objects stored or freed meanwhile may or may not be seen.
 */
void		 pool_walk(struct pool *p, void (*fn)(uint32_t, void *),
		     void *arg);

void		 pool_stats(struct pool *p, struct pool_stats *st);

/*
 * The frames the kernel holds for the arena (the memfd's allocated
 * blocks), to check pool_stats' `frames` against: the two are equal
 * whenever no store, free or compaction is running.  0, or -errno.
 */
int		 pool_resident_frames(struct pool *p, uint64_t *frames);

/*
 * Tests only: fn(id, arg) runs in every put of id just after its count
 * dropped, before the put is done, so a test can put, free and store
 * at that point.  Set it while nothing runs; NULL removes it.
 */
void		 pool_test_after_drop(struct pool *p,
		     void (*fn)(uint32_t, void *), void *arg);

/*
 * Tests only: fn(arg) runs in every compaction that moves anything,
 * once the objects to move are listed and before the first moves, with
 * no lock held but the compaction's own: a test may store and put there
 * (pool_compact and pool_reclaim would wait for themselves).
 */
void		 pool_test_before_moves(struct pool *p, void (*fn)(void *),
		     void *arg);

/*
 * Bring the n frames of a shared mapping at `at` in the way the pool does
 * before a slot is first written to them (MADV_POPULATE_WRITE, or a write
 * where *no_populate says the kernel lacks it; the first EINVAL sets it).
 * Exported so that zpbench can time it on frames of its own.
 */
void		 pool_frames_populate(uint8_t *at, size_t n, bool *no_populate);

/* Per-class occupancy: fills up to n entries, returns classes in use. */
unsigned	 pool_class_stats(struct pool *p, struct pool_class_stats *cs,
		     unsigned n);

/* Size of the slot an object of compressed length len occupies. */
unsigned	 pool_slot_size(const struct pool *p, unsigned len);

/* Compressed length at and above which a page is stored raw. */
unsigned	 pool_huge_threshold(const struct pool *p);

#endif /* ZP_POOL_H */
