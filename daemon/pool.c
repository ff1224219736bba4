/*
 * pool.c -- the compressed page pool (see pool.h for the model).
 *
 * Memory layout.  The arena is one memfd mapped once; frame f lives at
 * arena + f * 4096.  A zspage is a run of 1..32 contiguous frames owned by
 * one size class and cut into equal slots.  A slot holds its object's
 * bytes and nothing else; a free slot's first word links the next free
 * one.  zsmalloc keeps the handle in every object (8 bytes) so that
 * compaction can find it from the slot; here compaction walks the record
 * table instead (see "compaction" below), and the 4 bytes a header cost,
 * 0.27% of the stored bytes, stay free.  Huge (raw) objects take a whole
 * frame: their id is kept in the zspage descriptor.
 *
 * Frames are counted as they are touched, not as zspages take them.  A
 * zspage fills from its first slot up (free slots are reused before new
 * ones), so the frames past its highest slot ever used are holes in the
 * memfd: they cost nothing, and zsmalloc's biggest waste, the empty half
 * of each class's last zspage, mostly never exists.  A frame is populated
 * when a slot first reaches into it, so `frames` is exactly what the
 * kernel holds for the arena (tests check it against the memfd's blocks).
 *
 * Emptied zspages.  Punching a zspage out and faulting frames in again
 * for the next one is most of what a store and a free cost beyond the
 * codec where faults are dear (docs/performance.md), and a pool that
 * serves many processes empties and refills zspages all the time.  So
 * when `retain` is set, a zspage that empties stays with its class,
 * frames and all, on a list of its own, and the class takes it before a
 * new one.  pool_trim() gives back those that no store wanted since the
 * call before it (the fewest the list held meanwhile: a low-water mark,
 * no clock per zspage); compaction gives back all of them.  Their frames
 * count in `frames` and in mem_used_total.
 *
 * Metadata.  Object records (8 bytes, 16 with the caller's words),
 * zspage descriptors (24 bytes) and same-filled words (8 bytes) live in
 * chunked tables that never move, so a reader may index them without the
 * lock that guards their free lists.  frame_map[f] names the
 * zspage owning frame f, or chains free runs of frames.  All of it is
 * counted in mem_used_total at its high-water mark, rounded to pages.
 *
 * Locking, outermost first:
 *   compact_lock one compaction at a time (never held with merge_lock)
 *   class->lock  slots and zspages of one class, the loc of every object
 *                in them (compaction rewrites loc under it; loads read the
 *                slot under it), and evac[] for its zspages' frames
 *   frames_lock  the frame allocator and frame_map
 *   objs_lock    the free lists of object records, zspage descriptors
 *                and same-filled words
 *   merge_lock   (rwlock) reference counts taken shared by get/put,
 *                exclusively by pool_merge, which moves counts between
 *                objects; held outside every other lock
 * Reference counts and counters are atomics.
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "page.h"

#include "pool.h"

#define NONE			0xffffffffu
#define HUGE_CLASS		(POOL_NR_CLASSES - 1)	/* the raw class: 4096 */
#define NR_GROUPS		5			/* fullness groups */
#define GROUP_FULL		(NR_GROUPS - 1)
#define GROUP_EMPTY		NR_GROUPS		/* emptied, kept */
#define GROUP_EVAC		(NR_GROUPS + 1)		/* being compacted away */
#define DEFAULT_HUGE_THRESHOLD	(POOL_PAGE_SIZE - 128)
#define MAX_ARENA		(16ull << 30)		/* loc: offset/16 in 30 bits */

#define CHUNK_SHIFT		14
#define CHUNK_LEN		(1u << CHUNK_SHIFT)
#define MAX_CHUNKS		(1u << (30 - CHUNK_SHIFT))	/* ids fit loc */

#define LOC_MASK		0x3fffffffu
#define OBJ_SAME		0x40000000u	/* no slot: loc is the word's id */
#define OBJ_ALIAS		0x80000000u	/* merged: loc is the target id */
#define OBJ_FREE		(OBJ_SAME | OBJ_ALIAS)	/* free: loc is a link */
#define REFS_SHIFT		13		/* size: 0..4096 in 13 bits */
#define REFS_ONE		(1u << REFS_SHIFT)
#define SIZE_MASK		(REFS_ONE - 1)
#define REFS_MAX		(UINT32_MAX >> REFS_SHIFT)
_Static_assert(REFS_MAX == POOL_REFS_MAX, "pool.h's POOL_REFS_MAX");

/*
 * 8 bytes, the most per-page memory the pool has: packed, at the price of
 * a 16 GiB arena (30 bits of 16-byte units) and at most 2^19 - 1 pages
 * sharing one object (dedup then stores a new copy).  A pool made with
 * `caller_words` follows each record with two words of the caller's
 * (struct caller_words), so that a pool without dedup does not pay for
 * dedup's index.  A same-filled word other than 0 lives in a table of
 * its own (`words`): 8 bytes more, for 2% of pages at most in a usual
 * process.
 */
struct pool_obj {
	uint32_t	loc;	/* flags | slot offset / 16, alias target, or
				   same-filled word's id (0: the word 0);
				   free list when free */
	uint32_t	rs;	/* refs << 13 | stored size.  refs 0: free.  A
				   data object counts every page reading its
				   bytes, through aliases too; an alias counts
				   its own */
};

struct caller_words {
	uint32_t	link;
	uint32_t	aux;
};

static inline uint32_t
obj_loc(const struct pool_obj *o)
{
	return __atomic_load_n(&o->loc, __ATOMIC_RELAXED) & LOC_MASK;
}

static inline uint32_t
obj_flags(const struct pool_obj *o)
{
	return __atomic_load_n(&o->loc, __ATOMIC_RELAXED) & ~LOC_MASK;
}

static inline void
obj_set_loc(struct pool_obj *o, uint32_t flags, uint32_t loc)
{
	__atomic_store_n(&o->loc, flags | loc, __ATOMIC_RELAXED);
}

static inline unsigned
obj_size(const struct pool_obj *o)
{
	return __atomic_load_n(&o->rs, __ATOMIC_RELAXED) & SIZE_MASK;
}

static inline uint32_t
obj_refs(const struct pool_obj *o)
{
	return __atomic_load_n(&o->rs, __ATOMIC_ACQUIRE) >> REFS_SHIFT;
}

/* Publish a new object with one reference. */
static inline void
obj_publish(struct pool_obj *o, unsigned size)
{
	__atomic_store_n(&o->rs, REFS_ONE | size, __ATOMIC_RELEASE);
}

struct zspage {
	uint32_t	first;		/* first frame */
	uint32_t	free_head;	/* free slot list; huge: the object id */
	uint32_t	next_unused;	/* slots never used yet start here */
	uint32_t	prev, next;	/* fullness group list, or free list */
	uint16_t	inuse;
	uint8_t		cls;		/* class index; HUGE_CLASS for raw */
	uint8_t		group;
};

struct size_class {
	pthread_mutex_t	lock;
	unsigned	size;		/* slot bytes */
	unsigned	frames;		/* per zspage */
	unsigned	objs;		/* slots per zspage */
	uint32_t	group[GROUP_EVAC + 1]; /* list heads, zspage ids */
	uint32_t	empty;		/* zspages in group[GROUP_EMPTY] */
	uint32_t	empty_low;	/* fewest of them since pool_trim */
	uint32_t	spill_zid;	/* compaction: an emptied zspage kept
					   for the overflow, or NONE */
	uint32_t	spill_from;	/* the zspage marked for the spill */
	unsigned	spill_frames;	/* the frames the overflow needs */
	bool		spill;		/* compaction may keep or open one */
	uint64_t	zspages;	/* all, the empty ones too */
	uint64_t	touched;	/* frames of its zspages in use */
	uint64_t	objects;
	uint64_t	bytes;		/* compressed bytes stored */
};

/* A table of fixed records that grows by chunks and never moves. */
struct chunked {
	void		*chunk[MAX_CHUNKS];
	size_t		 elem;
	uint32_t	 hiwater;	/* ids 1..hiwater-1 have been handed out */
	uint32_t	 free_head;
	uint32_t	 link_tag;	/* or'ed into the links of free entries */
};

/* class_map's entries are bytes, and a loc is an offset in steps. */
_Static_assert(POOL_NR_CLASSES <= 256, "class_map holds uint8_t");
_Static_assert(POOL_CLASS_STEP == 16, "MAX_ARENA and loc assume 16");

struct pool {
	int		 fd;
	uint8_t		*arena;
	uint32_t	 nframes;
	unsigned	 huge_threshold;
	unsigned	 max_frames;
	bool		 no_populate;	/* MADV_POPULATE_WRITE unknown here */
	bool		 retain;	/* keep emptied zspages for reuse */

	struct size_class class[POOL_NR_CLASSES];
	uint8_t		 class_map[POOL_NR_CLASSES]; /* size index -> class */

	pthread_mutex_t	 compact_lock;
	uint8_t		*evac;		/* frame -> class + 1 of a zspage that
					   compaction is emptying, or 0 */

	pthread_mutex_t	 frames_lock;
	uint32_t	*frame_map;
	uint32_t	 bump;		/* frames never used start here */
	uint32_t	 run_frames;	/* frames in free_runs */
	uint32_t	 free_runs[POOL_MAX_ZSPAGE_FRAMES + 1];
	uint64_t	 frames;	/* frames touched by zspages */
	uint64_t	 empty_frames;	/* of them, in emptied zspages */

	pthread_mutex_t	 objs_lock;
	pthread_rwlock_t merge_lock;
	struct chunked	 objs;
	struct chunked	 zspages;
	struct chunked	 words;		/* same-filled words other than 0 */

	/* counters (atomics) */
	uint64_t	 objects;
	uint64_t	 compr_bytes;
	uint64_t	 same_pages;
	uint64_t	 huge_pages;
	uint64_t	 refs;
	uint64_t	 pages_merged;	/* pages whose bytes another shares */
	uint64_t	 pages_compacted;
	uint64_t	 objects_moved;
	uint64_t	 mem_used_max;

	void		(*after_drop)(uint32_t, void *);	/* tests */
	void		*after_drop_arg;
	void		(*before_moves)(void *);		/* tests */
	void		*before_moves_arg;
};

#define ATOMIC_ADD(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define ATOMIC_SUB(p, v)	__atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)
#define ATOMIC_LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)

/* --- chunked tables ---------------------------------------------------- */

static void *
chunked_at(const struct chunked *t, uint32_t id)
{
	uint8_t	*c = t->chunk[id >> CHUNK_SHIFT];

	return c + (size_t)(id & (CHUNK_LEN - 1)) * t->elem;
}

/* Caller holds objs_lock.  Returns an id >= 1, or 0 when out of memory. */
static uint32_t
chunked_alloc(struct chunked *t, uint32_t *(*next_of)(void *))
{
	uint32_t	 id;
	unsigned	 c;

	if (t->free_head != 0) {
		id = t->free_head;
		t->free_head = *next_of(chunked_at(t, id)) & ~t->link_tag;
		return id;
	}
	id = t->hiwater;
	c = id >> CHUNK_SHIFT;
	if (c >= MAX_CHUNKS)
		return 0;
	if (t->chunk[c] == NULL &&
	    (t->chunk[c] = calloc(CHUNK_LEN, t->elem)) == NULL)
		return 0;
	__atomic_store_n(&t->hiwater, id + 1, __ATOMIC_RELEASE);
	return id;
}

/* Atomic: a record's link is its `loc`, which readers load atomically. */
static void
chunked_free(struct chunked *t, uint32_t id, uint32_t *(*next_of)(void *))
{
	__atomic_store_n(next_of(chunked_at(t, id)), t->free_head | t->link_tag,
	    __ATOMIC_RELAXED);
	t->free_head = id;
}

static uint32_t *
obj_next(void *o)
{
	return &((struct pool_obj *)o)->loc;
}

static uint32_t *
word_next(void *w)
{
	return w;
}

static uint32_t *
zspage_next(void *z)
{
	return &((struct zspage *)z)->next;
}

static inline struct pool_obj *
obj_at(const struct pool *p, uint32_t id)
{
	return chunked_at(&p->objs, id);
}

static inline struct zspage *
zspage_at(const struct pool *p, uint32_t id)
{
	return chunked_at(&p->zspages, id);
}

/* A record for a live object, or NULL for ids never issued or free. */
static struct pool_obj *
obj_lookup(struct pool *p, uint32_t id)
{
	struct pool_obj	*o;

	if (id == 0 || id >= __atomic_load_n(&p->objs.hiwater, __ATOMIC_ACQUIRE))
		return NULL;
	o = obj_at(p, id);
	return obj_refs(o) == 0 ? NULL : o;
}

static uint32_t
obj_alloc(struct pool *p)
{
	uint32_t	id;

	pthread_mutex_lock(&p->objs_lock);
	id = chunked_alloc(&p->objs, obj_next);
	pthread_mutex_unlock(&p->objs_lock);
	return id;
}

static void
obj_release(struct pool *p, uint32_t id)
{
	struct pool_obj	*o = obj_at(p, id);

	__atomic_store_n(&o->rs, 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&p->objs_lock);
	chunked_free(&p->objs, id, obj_next);
	pthread_mutex_unlock(&p->objs_lock);
}

/* --- frames ------------------------------------------------------------ */

static uint64_t
pool_meta_bytes(struct pool *p)
{
	uint64_t	b;

	b = (uint64_t)ATOMIC_LOAD(&p->objs.hiwater) * p->objs.elem;
	b += (uint64_t)ATOMIC_LOAD(&p->zspages.hiwater) * sizeof(struct zspage);
	b += (uint64_t)ATOMIC_LOAD(&p->words.hiwater) * sizeof(uint64_t);
	b += (uint64_t)ATOMIC_LOAD(&p->bump) * sizeof(uint32_t);
	return (b + POOL_PAGE_SIZE - 1) & ~(uint64_t)(POOL_PAGE_SIZE - 1);
}

static void
note_mem_used(struct pool *p)
{
	uint64_t	used, max;

	used = ATOMIC_LOAD(&p->frames) * POOL_PAGE_SIZE + pool_meta_bytes(p);
	max = ATOMIC_LOAD(&p->mem_used_max);
	while (used > max && !__atomic_compare_exchange_n(&p->mem_used_max,
	    &max, used, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Take a run of n frames; NONE when the arena is full. */
static uint32_t
frames_alloc(struct pool *p, unsigned n)
{
	uint32_t	first = NONE, rest;
	unsigned	m;

	pthread_mutex_lock(&p->frames_lock);
	if (p->free_runs[n] != NONE) {
		first = p->free_runs[n];
		p->free_runs[n] = p->frame_map[first];
		ATOMIC_SUB(&p->run_frames, n);
	} else if (p->nframes - p->bump >= n) {
		first = p->bump;
		__atomic_store_n(&p->bump, p->bump + n, __ATOMIC_RELAXED);
	} else {
		/* Arena full: split a longer free run. */
		for (m = n + 1; m <= POOL_MAX_ZSPAGE_FRAMES; m++) {
			if (p->free_runs[m] == NONE)
				continue;
			first = p->free_runs[m];
			p->free_runs[m] = p->frame_map[first];
			rest = first + n;
			p->frame_map[rest] = p->free_runs[m - n];
			p->free_runs[m - n] = rest;
			ATOMIC_SUB(&p->run_frames, n);
			break;
		}
	}
	pthread_mutex_unlock(&p->frames_lock);
	return first;
}

/* Give n frames back to the kernel, and stop counting them. */
static void
frames_punch(struct pool *p, uint32_t first, unsigned n)
{
	if (n == 0)
		return;
	(void)fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    (off_t)first * POOL_PAGE_SIZE, (off_t)n * POOL_PAGE_SIZE);
	ATOMIC_SUB(&p->frames, n);
}

/*
 * Give a run back to the kernel and keep its address range for reuse.
 * Only its first `touched` frames hold memory; the rest are holes already.
 */
static void
frames_free(struct pool *p, uint32_t first, unsigned n, unsigned touched)
{
	/* Uncounted before anyone can take the run and count it again. */
	frames_punch(p, first, touched);
	pthread_mutex_lock(&p->frames_lock);
	p->frame_map[first] = p->free_runs[n];
	p->free_runs[n] = first;
	ATOMIC_ADD(&p->run_frames, n);
	pthread_mutex_unlock(&p->frames_lock);
}

/* --- zspages ----------------------------------------------------------- */

static unsigned
zspage_group(const struct size_class *c, const struct zspage *z)
{
	if (z->inuse == c->objs)
		return GROUP_FULL;
	return (unsigned)z->inuse * (NR_GROUPS - 1) / c->objs;
}

static void
group_unlink(struct pool *p, struct size_class *c, uint32_t zid)
{
	struct zspage	*z = zspage_at(p, zid);

	if (z->prev != NONE)
		zspage_at(p, z->prev)->next = z->next;
	else
		c->group[z->group] = z->next;
	if (z->next != NONE)
		zspage_at(p, z->next)->prev = z->prev;
}

static void
group_push(struct pool *p, struct size_class *c, uint32_t zid, unsigned g)
{
	struct zspage	*z = zspage_at(p, zid);

	z->group = (uint8_t)g;
	z->prev = NONE;
	z->next = c->group[g];
	if (z->next != NONE)
		zspage_at(p, z->next)->prev = zid;
	c->group[g] = zid;
}

static void
group_link(struct pool *p, struct size_class *c, uint32_t zid)
{
	group_push(p, c, zid, zspage_group(c, zspage_at(p, zid)));
}

static void
zspage_regroup(struct pool *p, struct size_class *c, uint32_t zid)
{
	struct zspage	*z = zspage_at(p, zid);

	if (z->group == GROUP_EVAC || zspage_group(c, z) == z->group)
		return;
	group_unlink(p, c, zid);
	group_link(p, c, zid);
}

/* Caller holds c->lock. */
static uint32_t
zspage_new(struct pool *p, struct size_class *c, unsigned cls)
{
	struct zspage	*z;
	uint32_t	 zid, first, f;

	if ((first = frames_alloc(p, c->frames)) == NONE)
		return NONE;
	pthread_mutex_lock(&p->objs_lock);
	zid = chunked_alloc(&p->zspages, zspage_next);
	pthread_mutex_unlock(&p->objs_lock);
	if (zid == 0) {
		frames_free(p, first, c->frames, 0);
		return NONE;
	}
	pthread_mutex_lock(&p->frames_lock);
	for (f = first; f < first + c->frames; f++)
		p->frame_map[f] = zid;
	pthread_mutex_unlock(&p->frames_lock);
	z = zspage_at(p, zid);
	memset(z, 0, sizeof *z);
	z->first = first;
	z->free_head = NONE;
	z->cls = (uint8_t)cls;
	c->zspages++;
	group_link(p, c, zid);
	return zid;
}

/* Frames of z that its slots have reached: the rest were never touched. */
static inline unsigned
zspage_touched(const struct size_class *c, const struct zspage *z)
{
	return (unsigned)(((size_t)z->next_unused * c->size +
	    POOL_PAGE_SIZE - 1) / POOL_PAGE_SIZE);
}

/*
 * Caller holds c->lock.  Mark the frames of z as being emptied by the
 * compaction under way (v: its class + 1), or clear them (v = 0) before
 * the frames can go to another class.
 */
static void
evac_mark(struct pool *p, const struct size_class *c, const struct zspage *z,
    uint8_t v)
{
	unsigned	f;

	for (f = 0; f < c->frames; f++)
		__atomic_store_n(&p->evac[z->first + f], v, __ATOMIC_RELAXED);
}

/*
 * Caller holds c->lock; the zspage is empty.  Take it from its class and
 * return its first frame and touched frames: the run is the caller's to
 * give back with frames_free, with or without the lock.
 */
static uint32_t
zspage_detach(struct pool *p, struct size_class *c, uint32_t zid,
    unsigned *touched)
{
	struct zspage	*z = zspage_at(p, zid);
	uint32_t	 first = z->first;

	*touched = zspage_touched(c, z);
	if (z->group == GROUP_EVAC)
		evac_mark(p, c, z, 0);
	group_unlink(p, c, zid);
	c->zspages--;
	c->touched -= *touched;
	pthread_mutex_lock(&p->objs_lock);
	chunked_free(&p->zspages, zid, zspage_next);
	pthread_mutex_unlock(&p->objs_lock);
	return first;
}

/* Caller holds c->lock; the zspage is empty. */
static void
zspage_free(struct pool *p, struct size_class *c, uint32_t zid)
{
	unsigned	touched;
	uint32_t	first = zspage_detach(p, c, zid, &touched);

	frames_free(p, first, c->frames, touched);
}

/* Caller holds c->lock; the zspage has just emptied.  Keep it for reuse. */
static void
zspage_retire(struct pool *p, struct size_class *c, uint32_t zid)
{
	struct zspage	*z = zspage_at(p, zid);

	group_unlink(p, c, zid);
	if (z->cls == HUGE_CLASS)
		z->free_head = NONE;
	group_push(p, c, zid, GROUP_EMPTY);
	c->empty++;
	ATOMIC_ADD(&p->empty_frames, zspage_touched(c, z));
}

/*
 * Caller holds c->lock.  An emptied zspage back in use, or NONE.  One
 * whose frames have all been touched goes first: a class has at most one
 * that has not (its newest; a new zspage is made only when every other is
 * full), and filling that one would fault in frames the others have.
 */
static uint32_t
zspage_reuse(struct pool *p, struct size_class *c)
{
	uint32_t	 zid = c->group[GROUP_EMPTY];
	struct zspage	*z;

	if (zid == NONE)
		return NONE;
	z = zspage_at(p, zid);
	if (zspage_touched(c, z) < c->frames && z->next != NONE)
		zid = z->next;
	group_unlink(p, c, zid);
	group_link(p, c, zid);
	if (--c->empty < c->empty_low)
		c->empty_low = c->empty;
	ATOMIC_SUB(&p->empty_frames, zspage_touched(c, zspage_at(p, zid)));
	return zid;
}

/*
 * Free the emptied zspages that no store took since the last trim (all of
 * them if `all`); returns frames released.  Each is punched out with the
 * class unlocked, so stores to the class wait for none of it.
 */
static uint64_t
class_trim(struct pool *p, struct size_class *c, bool all)
{
	uint64_t	freed = 0;
	uint32_t	first;
	unsigned	n, touched;

	pthread_mutex_lock(&c->lock);
	for (n = all ? c->empty : c->empty_low; n > 0 && c->empty > 0; n--) {
		first = zspage_detach(p, c, c->group[GROUP_EMPTY], &touched);
		if (--c->empty < c->empty_low)
			c->empty_low = c->empty;
		pthread_mutex_unlock(&c->lock);
		frames_free(p, first, c->frames, touched);
		/*
		 * Only now, and with release: whoever reads empty_frames
		 * first (pool_stats) and finds them gone finds the frames
		 * gone too.
		 */
		__atomic_sub_fetch(&p->empty_frames, touched,
		    __ATOMIC_RELEASE);
		freed += touched;
		pthread_mutex_lock(&c->lock);
	}
	c->empty_low = c->empty;
	pthread_mutex_unlock(&c->lock);
	return freed;
}

static inline uint8_t *
slot_addr(const struct pool *p, const struct size_class *c,
    const struct zspage *z, uint32_t slot)
{
	return p->arena + (size_t)z->first * POOL_PAGE_SIZE +
	    (size_t)slot * c->size;
}

static inline uint8_t *
loc_addr(const struct pool *p, uint32_t loc)
{
	return p->arena + (size_t)loc * POOL_CLASS_STEP;
}

static inline uint32_t
addr_loc(const struct pool *p, const uint8_t *a)
{
	return (uint32_t)((size_t)(a - p->arena) / POOL_CLASS_STEP);
}

static uint32_t
loc_zspage(const struct pool *p, uint32_t loc)
{
	return p->frame_map[(size_t)loc * POOL_CLASS_STEP / POOL_PAGE_SIZE];
}

/*
 * Bring frames in before a slot is written to them.  One
 * MADV_POPULATE_WRITE takes the page from inside the kernel, without the
 * user page fault a first write would take; where that fault is dear a
 * store runs faster by it.  In the PVM guests measured, a new frame cost
 * 13.7 us by a write fault against 3.5 us populated plus 6.1 us for the
 * first write after it (the host still maps the page for that one), and
 * pwrite() then a write 15.4 us: nothing tried brought a frame in and
 * wrote it through the mapping for less than 9.6 us there.  Where the
 * kernel does not know the call (Linux < 5.14: EINVAL, then never asked
 * again), or it fails, the frames are written instead.  `zpbench pool`
 * times this on a memfd of its own (new_frame_us), which bounds what a
 * store into a new pool can reach on the machine it runs on.
 */
void
pool_frames_populate(uint8_t *at, size_t n, bool *no_populate)
{
	size_t	f;

#ifdef MADV_POPULATE_WRITE
	if (!__atomic_load_n(no_populate, __ATOMIC_RELAXED)) {
		if (madvise(at, n * POOL_PAGE_SIZE, MADV_POPULATE_WRITE) == 0)
			return;
		if (errno == EINVAL)
			__atomic_store_n(no_populate, true, __ATOMIC_RELAXED);
	}
#endif
	for (f = 0; f < n; f++)
		*(volatile uint8_t *)(at + f * POOL_PAGE_SIZE) = 0;
}

/*
 * Slot z->next_unused becomes used: populate and count the frames it is
 * the first to reach.  Populating makes the kernel allocate each now,
 * even where the object stored will stop short of the slot's end, so the
 * count stays equal to what the memfd holds.  Nothing else lives there.
 */
static void
slot_touch(struct pool *p, struct size_class *c, struct zspage *z)
{
	unsigned	before = zspage_touched(c, z), after;

	z->next_unused++;
	after = zspage_touched(c, z);
	if (after == before)
		return;
	pool_frames_populate(p->arena + (size_t)(z->first + before) *
	    POOL_PAGE_SIZE, after - before, &p->no_populate);
	c->touched += after - before;
	ATOMIC_ADD(&p->frames, after - before);
	note_mem_used(p);
}

/* Pop a free slot of z, or its first never used one. */
static uint32_t
slot_take(struct pool *p, struct size_class *c, struct zspage *z)
{
	uint32_t	slot;

	if (z->free_head == NONE) {
		slot_touch(p, c, z);
		return z->next_unused - 1;
	}
	slot = z->free_head;
	memcpy(&z->free_head, slot_addr(p, c, z, slot), sizeof z->free_head);
	return slot;
}

/*
 * Caller holds c->lock; z is empty.  Make it a zspage that fills from its
 * first slot again, keeping at most `keep` of its touched frames (their
 * slots on the free list, in order) and punching the rest: compaction's
 * overflow goes there without faulting in new frames.
 */
static void
zspage_rewind(struct pool *p, struct size_class *c, struct zspage *z,
    unsigned keep)
{
	unsigned	touched = zspage_touched(c, z);
	uint32_t	slots, s, link;

	if (keep > touched)
		keep = touched;
	frames_punch(p, z->first + keep, touched - keep);
	c->touched -= touched - keep;
	slots = keep * POOL_PAGE_SIZE / c->size;
	if (slots > c->objs)
		slots = c->objs;
	for (s = 0; s < slots; s++) {
		link = s + 1 < slots ? s + 1 : NONE;
		memcpy(slot_addr(p, c, z, s), &link, sizeof link);
	}
	z->free_head = slots > 0 ? 0 : NONE;
	z->next_unused = slots;		/* zspage_touched(c, z) == keep */
}

/* The fullest zspage of a class with a free slot, or NONE. */
static uint32_t
class_fullest(const struct size_class *c)
{
	int	g;

	for (g = GROUP_FULL - 1; g >= 0; g--)
		if (c->group[g] != NONE)
			return c->group[g];
	return NONE;
}

/*
 * A zspage that compaction is emptying, with a free slot.  A store takes
 * it before it takes new frames: those may be the only room another
 * class has left (a class whose zspage a put has just freed), and a
 * pass must not make the pool grow.  The object stays unless the walk
 * finds it, and the zspage goes back to the lists after the pass.
 */
static uint32_t
class_evac_room(struct pool *p, const struct size_class *c)
{
	uint32_t	zid;

	for (zid = c->group[GROUP_EVAC]; zid != NONE;
	    zid = zspage_at(p, zid)->next)
		if (zspage_at(p, zid)->inuse < c->objs)
			return zid;
	return NONE;
}

/*
 * Take a slot in the fullest zspage that has one (fewer, fuller zspages is
 * what keeps fragmentation down).  Caller holds c->lock.  Returns the slot
 * address, or NULL when the arena is full; id is kept only for a huge
 * object, which has its zspage to itself.
 */
static uint8_t *
slot_alloc(struct pool *p, struct size_class *c, unsigned cls, uint32_t id)
{
	struct zspage	*z;
	uint32_t	 zid, slot;

	if ((zid = class_fullest(c)) == NONE &&
	    (zid = zspage_reuse(p, c)) == NONE &&
	    (zid = class_evac_room(p, c)) == NONE &&
	    (zid = zspage_new(p, c, cls)) == NONE)
		return NULL;
	z = zspage_at(p, zid);
	if (cls == HUGE_CLASS) {
		z->free_head = id;
		if (z->next_unused == 0)
			slot_touch(p, c, z);
		slot = 0;
	} else {
		slot = slot_take(p, c, z);
	}
	z->inuse++;
	zspage_regroup(p, c, zid);
	return slot_addr(p, c, z, slot);
}

/*
 * Caller holds c->lock; a zspage being compacted away has just emptied.
 * The first to do so in a class allowed to spill (spill_pick) is kept,
 * rewound, for the overflow; the others go at once.
 */
static void
evac_emptied(struct pool *p, struct size_class *c, uint32_t zid)
{
	struct zspage	*z = zspage_at(p, zid);

	if (!c->spill || c->spill_zid != NONE) {
		zspage_free(p, c, zid);
		return;
	}
	evac_mark(p, c, z, 0);
	zspage_rewind(p, c, z, c->spill_frames);
	c->spill_zid = zid;
}

/*
 * Caller holds c->lock.  A zspage being compacted away stays out of the
 * lists, and goes as soon as it empties.
 */
static void
slot_free(struct pool *p, struct size_class *c, uint32_t loc)
{
	uint32_t	 zid = loc_zspage(p, loc);
	struct zspage	*z = zspage_at(p, zid);
	uint8_t		*a = loc_addr(p, loc);

	if (z->cls != HUGE_CLASS) {
		memcpy(a, &z->free_head, sizeof z->free_head);
		z->free_head = (uint32_t)((size_t)(a - slot_addr(p, c, z, 0)) /
		    c->size);
	}
	z->inuse--;
	if (z->group == GROUP_EVAC) {
		if (z->inuse == 0 && zid != c->spill_zid)
			evac_emptied(p, c, zid);
	} else if (z->inuse != 0)
		zspage_regroup(p, c, zid);
	else if (p->retain)
		zspage_retire(p, c, zid);
	else
		zspage_free(p, c, zid);
}

/* --- classes ----------------------------------------------------------- */

/*
 * Frames per zspage for a slot size: the fewest frames that leave the
 * fewest tail bytes per slot.  zsmalloc compares whole percents of use,
 * so that a lightly used class does not hold a big, mostly empty zspage;
 * here the frames past a zspage's highest slot are holes that cost
 * nothing, so the exact comparison wins: tails go from 0.41% to 0.28% of
 * the stored bytes (docs/performance.md, session 7).
 */
static unsigned
class_frames(unsigned size, unsigned max)
{
	unsigned	n, best = 1, objs;
	uint64_t	waste, best_waste = UINT64_MAX;

	for (n = 1; n <= max; n++) {
		objs = n * POOL_PAGE_SIZE / size;
		if (objs == 0)
			continue;
		/* tail bytes per slot, in 1/65536ths of a byte */
		waste = (uint64_t)(n * POOL_PAGE_SIZE % size) * 65536 / objs;
		if (waste < best_waste) {
			best_waste = waste;
			best = n;
		}
	}
	return best;
}

static unsigned
class_of(const struct pool *p, unsigned len)
{
	if (len >= p->huge_threshold)
		return HUGE_CLASS;
	return p->class_map[(len + POOL_CLASS_STEP - 1) / POOL_CLASS_STEP - 1];
}

/*
 * Sizes whose zspages would have the same frames and the same number of
 * slots share the class of the largest of them, as in zsmalloc: the
 * larger slot costs nothing, and fewer classes leave fewer zspages
 * partly empty.
 */
static void
classes_merge(struct pool *p)
{
	struct size_class	*c, *r;
	unsigned		 i, rep = HUGE_CLASS - 1;

	p->class_map[HUGE_CLASS] = HUGE_CLASS;
	p->class_map[rep] = rep;
	for (i = rep; i-- > 0;) {
		c = &p->class[i];
		r = &p->class[rep];
		if (c->frames != r->frames || c->objs != r->objs)
			rep = i;
		p->class_map[i] = (uint8_t)rep;
	}
}

unsigned
pool_slot_size(const struct pool *p, unsigned len)
{
	return p->class[class_of(p, len)].size;
}

unsigned
pool_huge_threshold(const struct pool *p)
{
	return p->huge_threshold;
}

/* --- create / destroy -------------------------------------------------- */

struct pool *
pool_create(const struct pool_config *cfg, const char **cause)
{
	struct pool		*p;
	struct size_class	*c;
	unsigned		 i, g;

	if (cfg->arena_bytes < POOL_PAGE_SIZE * POOL_MAX_ZSPAGE_FRAMES ||
	    cfg->arena_bytes > MAX_ARENA) {
		*cause = "arena size out of range (128K..16G)";
		return NULL;
	}
	if (cfg->max_zspage_frames > POOL_MAX_ZSPAGE_FRAMES) {
		*cause = "max_zspage_frames out of range (1..32)";
		return NULL;
	}
	/* below the raw class, so a compressed slot is never 4096 */
	if (cfg->huge_threshold != 0 &&
	    (cfg->huge_threshold < POOL_HUGE_THRESHOLD_MIN ||
	    cfg->huge_threshold > POOL_HUGE_THRESHOLD_MAX)) {
		*cause = "huge_threshold out of range (64..4080)";
		return NULL;
	}
	if ((p = calloc(1, sizeof *p)) == NULL) {
		*cause = "out of memory";
		return NULL;
	}
	p->fd = -1;
	p->arena = MAP_FAILED;
	p->frame_map = MAP_FAILED;
	p->evac = MAP_FAILED;
	p->nframes = (uint32_t)(cfg->arena_bytes / POOL_PAGE_SIZE);
	p->max_frames = cfg->max_zspage_frames ? cfg->max_zspage_frames :
	    POOL_DEFAULT_ZSPAGE_FRAMES;
	p->huge_threshold = cfg->huge_threshold ? cfg->huge_threshold :
	    DEFAULT_HUGE_THRESHOLD;
	p->retain = cfg->retain_empty;
	p->objs.elem = sizeof(struct pool_obj) +
	    (cfg->caller_words ? sizeof(struct caller_words) : 0);
	p->objs.hiwater = 1;
	p->objs.link_tag = OBJ_FREE;
	p->zspages.elem = sizeof(struct zspage);
	p->zspages.hiwater = 1;
	p->words.elem = sizeof(uint64_t);
	p->words.hiwater = 1;
	pthread_mutex_init(&p->compact_lock, NULL);
	pthread_mutex_init(&p->frames_lock, NULL);
	pthread_mutex_init(&p->objs_lock, NULL);
	pthread_rwlock_init(&p->merge_lock, NULL);
	for (i = 0; i <= POOL_MAX_ZSPAGE_FRAMES; i++)
		p->free_runs[i] = NONE;

	for (i = 0; i < POOL_NR_CLASSES; i++) {
		c = &p->class[i];
		pthread_mutex_init(&c->lock, NULL);
		for (g = 0; g <= GROUP_EVAC; g++)
			c->group[g] = NONE;
		c->spill_zid = NONE;
		if (i == HUGE_CLASS) {
			c->size = POOL_PAGE_SIZE;
			c->frames = 1;
		} else {
			c->size = (i + 1) * POOL_CLASS_STEP;
			c->frames = class_frames(c->size, p->max_frames);
		}
		c->objs = c->frames * POOL_PAGE_SIZE / c->size;
	}
	classes_merge(p);

	p->fd = memfd_create(cfg->name ? cfg->name : "zpool", MFD_CLOEXEC);
	if (p->fd == -1 || ftruncate(p->fd, (off_t)cfg->arena_bytes) == -1) {
		*cause = "cannot create the arena memfd";
		goto fail;
	}
	p->arena = mmap(NULL, cfg->arena_bytes, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_NORESERVE, p->fd, 0);
	p->frame_map = mmap(NULL, (size_t)p->nframes * sizeof(uint32_t),
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	    -1, 0);
	p->evac = mmap(NULL, p->nframes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->arena == MAP_FAILED || p->frame_map == MAP_FAILED ||
	    p->evac == MAP_FAILED) {
		*cause = "cannot map the arena";
		goto fail;
	}
	return p;
fail:
	pool_destroy(p);
	return NULL;
}

void
pool_destroy(struct pool *p)
{
	unsigned	i;

	if (p == NULL)
		return;
	if (p->arena != MAP_FAILED)
		munmap(p->arena, (size_t)p->nframes * POOL_PAGE_SIZE);
	if (p->frame_map != MAP_FAILED)
		munmap(p->frame_map, (size_t)p->nframes * sizeof(uint32_t));
	if (p->evac != MAP_FAILED)
		munmap(p->evac, p->nframes);
	if (p->fd != -1)
		close(p->fd);
	for (i = 0; i < MAX_CHUNKS; i++) {
		free(p->objs.chunk[i]);
		free(p->zspages.chunk[i]);
		free(p->words.chunk[i]);
	}
	for (i = 0; i < POOL_NR_CLASSES; i++)
		pthread_mutex_destroy(&p->class[i].lock);
	pthread_mutex_destroy(&p->compact_lock);
	pthread_mutex_destroy(&p->frames_lock);
	pthread_mutex_destroy(&p->objs_lock);
	pthread_rwlock_destroy(&p->merge_lock);
	free(p);
}

/* --- store / load / free ----------------------------------------------- */

/* A same-filled word's id: 0 for the word 0, which takes no entry. */
static int
word_alloc(struct pool *p, uint64_t word, uint32_t *wid)
{
	*wid = 0;
	if (word == 0)
		return 0;
	pthread_mutex_lock(&p->objs_lock);
	*wid = chunked_alloc(&p->words, word_next);
	pthread_mutex_unlock(&p->objs_lock);
	if (*wid == 0)
		return -ENOMEM;
	*(uint64_t *)chunked_at(&p->words, *wid) = word;
	return 0;
}

static void
word_release(struct pool *p, uint32_t wid)
{
	if (wid == 0)
		return;
	pthread_mutex_lock(&p->objs_lock);
	chunked_free(&p->words, wid, word_next);
	pthread_mutex_unlock(&p->objs_lock);
}

/* The word of a same-filled record whose loc was read as `loc`. */
static uint64_t
same_word(const struct pool *p, uint32_t loc)
{
	uint32_t	wid = loc & LOC_MASK;

	return wid == 0 ? 0 : *(const uint64_t *)chunked_at(&p->words, wid);
}

static int
store_same(struct pool *p, uint64_t word, uint32_t *id)
{
	struct pool_obj	*o;
	uint32_t	 nid, wid;

	if ((nid = obj_alloc(p)) == 0)
		return -ENOMEM;
	if (word_alloc(p, word, &wid) != 0) {
		obj_release(p, nid);
		return -ENOMEM;
	}
	o = obj_at(p, nid);
	obj_set_loc(o, OBJ_SAME, wid);
	obj_publish(o, 0);
	ATOMIC_ADD(&p->objects, 1);
	ATOMIC_ADD(&p->same_pages, 1);
	ATOMIC_ADD(&p->refs, 1);
	note_mem_used(p);
	*id = nid;
	return 0;
}

/* Put len bytes (compressed, or a raw page when len == 4096) in a slot. */
static int
store_bytes(struct pool *p, const void *data, unsigned len, uint32_t *id)
{
	unsigned		 cls = class_of(p, len);
	struct size_class	*c = &p->class[cls];
	struct pool_obj		*o;
	uint32_t		 nid;
	uint8_t			*a;

	if ((nid = obj_alloc(p)) == 0)
		return -ENOMEM;
	o = obj_at(p, nid);
	pthread_mutex_lock(&c->lock);
	a = slot_alloc(p, c, cls, nid);
	if (a == NULL && ATOMIC_LOAD(&p->empty_frames) != 0) {
		/*
		 * The arena is full, maybe of other classes' emptied
		 * zspages: give them back (no class lock may be held
		 * while taking the others') and try once more.
		 */
		pthread_mutex_unlock(&c->lock);
		pool_trim(p, true);
		pthread_mutex_lock(&c->lock);
		a = slot_alloc(p, c, cls, nid);
	}
	if (a == NULL) {
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_lock(&p->objs_lock);
		chunked_free(&p->objs, nid, obj_next);
		pthread_mutex_unlock(&p->objs_lock);
		return -ENOSPC;
	}
	if (cls == HUGE_CLASS) {
		memcpy(a, data, POOL_PAGE_SIZE);
		len = POOL_PAGE_SIZE;
	} else {
		memcpy(a, data, len);
	}
	obj_set_loc(o, 0, addr_loc(p, a));
	c->objects++;
	c->bytes += len;
	obj_publish(o, len);
	pthread_mutex_unlock(&c->lock);

	ATOMIC_ADD(&p->objects, 1);
	ATOMIC_ADD(&p->compr_bytes, len);
	ATOMIC_ADD(&p->refs, 1);
	if (cls == HUGE_CLASS)
		ATOMIC_ADD(&p->huge_pages, 1);
	*id = nid;
	return 0;
}

int
pool_store(struct pool *p, struct codec_ctx *ctx, const void *page,
    uint32_t *id, unsigned *csize)
{
	uint8_t		buf[POOL_PAGE_SIZE];
	uint64_t	word;
	size_t		len;
	int		r;

	if (page_same_filled(page, &word)) {
		if (csize != NULL)
			*csize = 0;
		return store_same(p, word, id);
	}
	/* Output capped at the threshold: lz4 gives up early on noise. */
	len = codec_compress(ctx, page, POOL_PAGE_SIZE, buf,
	    p->huge_threshold - 1);
	if (len == 0)
		r = store_bytes(p, page, POOL_PAGE_SIZE, id);
	else
		r = store_bytes(p, buf, (unsigned)len, id);
	if (r == 0 && csize != NULL)
		*csize = len == 0 ? POOL_PAGE_SIZE : (unsigned)len;
	return r;
}

/* Follow a merged object to the one holding its bytes. */
static struct pool_obj *
obj_data(struct pool *p, uint32_t id, uint32_t *data_id)
{
	struct pool_obj	*o;

	if ((o = obj_lookup(p, id)) == NULL)
		return NULL;
	while (obj_flags(o) & OBJ_ALIAS) {
		id = obj_loc(o);
		if ((o = obj_lookup(p, id)) == NULL)
			return NULL;
	}
	if (data_id != NULL)
		*data_id = id;
	return o;
}

uint32_t
pool_resolve(struct pool *p, uint32_t id)
{
	uint32_t	data_id = 0;

	return obj_data(p, id, &data_id) != NULL ? data_id : 0;
}

/*
 * Run fn on the stored bytes of id with its class lock held, so that
 * compaction cannot move them meanwhile.
 */
static int
with_bytes(struct pool *p, uint32_t id,
    int (*fn)(const uint8_t *, unsigned, void *), void *arg)
{
	struct pool_obj		*o;
	struct size_class	*c;
	uint8_t			 page[POOL_PAGE_SIZE];
	uint32_t		 loc;
	unsigned		 cls;
	int			 r;

again:
	if ((o = obj_data(p, id, NULL)) == NULL)
		return -ENOENT;
	/* Read once: a same-filled record never changes while referenced. */
	loc = __atomic_load_n(&o->loc, __ATOMIC_RELAXED);
	if (loc & OBJ_SAME) {
		page_fill(page, same_word(p, loc));
		return fn(page, POOL_PAGE_SIZE, arg);
	}
	cls = class_of(p, obj_size(o));
	c = &p->class[cls];
	pthread_mutex_lock(&c->lock);
	if (obj_flags(o) & OBJ_ALIAS) {
		/* merged while we looked: its bytes are elsewhere now */
		pthread_mutex_unlock(&c->lock);
		goto again;
	}
	r = fn(loc_addr(p, obj_loc(o)), cls == HUGE_CLASS ? POOL_PAGE_SIZE :
	    obj_size(o), arg);
	pthread_mutex_unlock(&c->lock);
	return r;
}

struct load_arg {
	struct codec_ctx	*ctx;
	uint8_t			*page;
	const uint8_t		*cmp;
};

static int
load_fn(const uint8_t *data, unsigned len, void *arg)
{
	struct load_arg	*la = arg;

	if (len == POOL_PAGE_SIZE) {
		memcpy(la->page, data, POOL_PAGE_SIZE);
		return 0;
	}
	if (codec_decompress(la->ctx, data, len, la->page, POOL_PAGE_SIZE) != 0)
		return -EIO;
	return 0;
}

int
pool_load(struct pool *p, struct codec_ctx *ctx, uint32_t id, void *page)
{
	struct load_arg	la = { ctx, page, NULL };

	return with_bytes(p, id, load_fn, &la);
}

static int
compare_fn(const uint8_t *data, unsigned len, void *arg)
{
	struct load_arg	*la = arg;
	int		 r;

	if (len == POOL_PAGE_SIZE)
		return memcmp(data, la->cmp, POOL_PAGE_SIZE) != 0;
	if ((r = load_fn(data, len, arg)) != 0)
		return r;
	return memcmp(la->page, la->cmp, POOL_PAGE_SIZE) != 0;
}

int
pool_compare(struct pool *p, struct codec_ctx *ctx, uint32_t id,
    const void *page)
{
	uint8_t		buf[POOL_PAGE_SIZE];
	struct load_arg	la = { ctx, buf, page };

	return with_bytes(p, id, compare_fn, &la);
}

/* A page counts in pages_merged while its bytes serve another page too. */
static void
note_refs(struct pool *p, uint32_t before, uint32_t after)
{
	uint64_t	w0 = before >= 2 ? before : 0;
	uint64_t	w1 = after >= 2 ? after : 0;

	if (w1 > w0)
		ATOMIC_ADD(&p->pages_merged, w1 - w0);
	else if (w0 > w1)
		ATOMIC_SUB(&p->pages_merged, w0 - w1);
}

/*
 * One reference more (d = 1) or less (d = -1), unless the count is 0 (a
 * free record) or, going up, at REFS_MAX.  Returns the old count, or 0
 * when nothing changed.
 */
static uint32_t
refs_add(struct pool_obj *o, int d)
{
	uint32_t	rs = __atomic_load_n(&o->rs, __ATOMIC_RELAXED), refs;

	do {
		refs = rs >> REFS_SHIFT;
		if (refs == 0 || (d > 0 && refs == REFS_MAX))
			return 0;
	} while (!__atomic_compare_exchange_n(&o->rs, &rs,
	    d > 0 ? rs + REFS_ONE : rs - REFS_ONE, false, __ATOMIC_ACQ_REL,
	    __ATOMIC_RELAXED));
	return refs;
}

static int
do_get(struct pool *p, uint32_t id)
{
	struct pool_obj	*o;
	uint32_t	 old;

	if ((o = obj_lookup(p, id)) == NULL || (old = refs_add(o, 1)) == 0)
		return -ENOENT;
	if ((obj_flags(o) & OBJ_ALIAS) && do_get(p, obj_loc(o)) != 0) {
		refs_add(o, -1);	/* the target is full: undo ours */
		return -ENOENT;
	}
	if (obj_flags(o) & OBJ_ALIAS)
		return 0;
	note_refs(p, old, old + 1);
	ATOMIC_ADD(&p->refs, 1);
	return 0;
}

int
pool_get(struct pool *p, uint32_t id)
{
	int	r;

	pthread_rwlock_rdlock(&p->merge_lock);
	r = do_get(p, id);
	pthread_rwlock_unlock(&p->merge_lock);
	return r;
}

/* The last reference went: give the slot and the record back. */
static void
obj_destroy(struct pool *p, uint32_t id, struct pool_obj *o)
{
	struct size_class	*c;
	unsigned		 cls, size;

	ATOMIC_SUB(&p->objects, 1);
	if (obj_flags(o) & OBJ_SAME) {
		ATOMIC_SUB(&p->same_pages, 1);
		word_release(p, obj_loc(o));
		obj_release(p, id);
		return;
	}
	size = obj_size(o);
	cls = class_of(p, size);
	c = &p->class[cls];
	pthread_mutex_lock(&c->lock);
	slot_free(p, c, obj_loc(o));
	c->objects--;
	c->bytes -= size;
	pthread_mutex_unlock(&c->lock);
	ATOMIC_SUB(&p->compr_bytes, size);
	if (cls == HUGE_CLASS)
		ATOMIC_SUB(&p->huge_pages, 1);
	obj_release(p, id);
}

/* Drop one page's reference; the references left on id, or -ENOENT. */
static int
do_put(struct pool *p, uint32_t id)
{
	struct pool_obj	*o;
	uint32_t	 old, loc;

	if ((o = obj_lookup(p, id)) == NULL)
		return -ENOENT;
	/*
	 * Flags and target before the count drops: until then the caller's
	 * reference keeps the record, and merge_lock keeps merges out.  Once
	 * it has dropped, another put may free the record, and its loc
	 * becomes a link in the free list.
	 */
	loc = __atomic_load_n(&o->loc, __ATOMIC_RELAXED);
	if ((old = refs_add(o, -1)) == 0)
		return -ENOENT;
	if (p->after_drop != NULL)
		p->after_drop(id, p->after_drop_arg);
	if (loc & OBJ_ALIAS) {
		if (old == 1)
			obj_release(p, id);
		(void)do_put(p, loc & LOC_MASK);
		return (int)(old - 1);
	}
	note_refs(p, old, old - 1);
	ATOMIC_SUB(&p->refs, 1);
	if (old == 1)
		obj_destroy(p, id, o);
	return (int)(old - 1);
}

/*
 * pool_put, but never the last reference: the references left (> 0), or
 * -EAGAIN when it would be the last (or id is an alias), or -ENOENT; on
 * an error nothing changed.
 */
int
pool_put_unless_last(struct pool *p, uint32_t id)
{
	struct pool_obj	*o;
	uint32_t	 rs, refs = 0;
	int		 r = -EAGAIN;

	pthread_rwlock_rdlock(&p->merge_lock);
	if ((o = obj_lookup(p, id)) == NULL)
		r = -ENOENT;
	else if (!(obj_flags(o) & OBJ_ALIAS)) {
		rs = __atomic_load_n(&o->rs, __ATOMIC_RELAXED);
		do {
			refs = rs >> REFS_SHIFT;
			if (refs <= 1)
				break;
		} while (!__atomic_compare_exchange_n(&o->rs, &rs,
		    rs - REFS_ONE, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
		if (refs > 1) {
			note_refs(p, refs, refs - 1);
			ATOMIC_SUB(&p->refs, 1);
			r = (int)(refs - 1);
		}
	}
	pthread_rwlock_unlock(&p->merge_lock);
	return r;
}

int
pool_put(struct pool *p, uint32_t id)
{
	int	r;

	pthread_rwlock_rdlock(&p->merge_lock);
	r = do_put(p, id);
	pthread_rwlock_unlock(&p->merge_lock);
	return r;
}

/*
 * With merge_lock held exclusively no count moves, so dup's pages can be
 * handed to keep in one step: keep's count becomes every page reading its
 * bytes, and dup keeps counting its own pages as an alias.
 */
static int
do_merge(struct pool *p, uint32_t keep, uint32_t dup)
{
	struct pool_obj		*k, *d;
	struct size_class	*c;
	unsigned		 cls, size;
	uint32_t		 kr, dr;

	if ((keep = pool_resolve(p, keep)) == 0 ||
	    (d = obj_lookup(p, dup)) == NULL)
		return -ENOENT;
	if (keep == dup || (obj_flags(d) & (OBJ_ALIAS | OBJ_SAME)))
		return -EINVAL;		/* same-filled: no memory to win */
	k = obj_at(p, keep);
	kr = obj_refs(k);
	dr = obj_refs(d);
	if (kr + dr > POOL_SHARE_MAX)
		return -EMLINK;
	size = obj_size(d);
	cls = class_of(p, size);
	c = &p->class[cls];
	/* Under the class lock, so a load of dup sees old slot or alias. */
	pthread_mutex_lock(&c->lock);
	slot_free(p, c, obj_loc(d));
	c->objects--;
	c->bytes -= size;
	ATOMIC_SUB(&p->compr_bytes, size);
	ATOMIC_SUB(&p->objects, 1);
	if (cls == HUGE_CLASS)
		ATOMIC_SUB(&p->huge_pages, 1);
	obj_set_loc(d, OBJ_ALIAS, keep);
	__atomic_store_n(&d->rs, dr << REFS_SHIFT, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->lock);
	__atomic_store_n(&k->rs, (kr + dr) << REFS_SHIFT | obj_size(k),
	    __ATOMIC_RELEASE);
	note_refs(p, kr, kr + dr);
	note_refs(p, dr, 0);
	return 0;
}

int
pool_merge(struct pool *p, uint32_t keep, uint32_t dup)
{
	int	r;

	pthread_rwlock_wrlock(&p->merge_lock);
	r = do_merge(p, keep, dup);
	pthread_rwlock_unlock(&p->merge_lock);
	return r;
}

static struct caller_words *
caller_words(struct pool *p, uint32_t id)
{
	return (struct caller_words *)(obj_at(p, id) + 1);
}

uint32_t *
pool_obj_link(struct pool *p, uint32_t id)
{
	assert(pool_has_caller_words(p));
	return &caller_words(p, id)->link;
}

uint32_t *
pool_obj_aux(struct pool *p, uint32_t id)
{
	assert(pool_has_caller_words(p));
	return &caller_words(p, id)->aux;
}

void
pool_test_after_drop(struct pool *p, void (*fn)(uint32_t, void *), void *arg)
{
	p->after_drop = fn;
	p->after_drop_arg = arg;
}

void
pool_test_before_moves(struct pool *p, void (*fn)(void *), void *arg)
{
	p->before_moves = fn;
	p->before_moves_arg = arg;
}

bool
pool_has_caller_words(const struct pool *p)
{
	return p->objs.elem > sizeof(struct pool_obj);
}

bool
pool_obj_same(struct pool *p, uint32_t id)
{
	struct pool_obj	*o = obj_lookup(p, id);

	return o != NULL && (obj_flags(o) & OBJ_SAME);
}

int
pool_obj_size(struct pool *p, uint32_t id)
{
	struct pool_obj	*o;

	if ((o = obj_data(p, id, NULL)) == NULL)
		return -ENOENT;
	return (int)obj_size(o);
}

int
pool_obj_refs(struct pool *p, uint32_t id)
{
	struct pool_obj	*o;

	if ((o = obj_data(p, id, NULL)) == NULL)
		return -ENOENT;
	return (int)obj_refs(o);
}

/* --- compaction -------------------------------------------------------- */

/*
 * A slot does not say whose it is, so compaction goes the other way: one
 * pass marks, in every class, the emptiest zspages that the others have
 * room for (GROUP_EVAC, out of the lists, their frames in evac[]), walks
 * the record table once to list the objects in marked frames, and moves
 * them in the order of their slots into the fullest other zspages of
 * their class, or, once those are full, into one zspage that fills from
 * its first slot (spill_pick); a marked zspage is freed as it empties,
 * by a move or by a put, and any left at the end go back to the lists.
 * The walk reads 8 or 16 bytes a record and a byte of evac[] for each
 * one holding data, about 3 ns a record: 3 ms for a million, against
 * 0.5 ms for the same compaction with slot headers (docs/performance.md).
 * It runs only when some class has a zspage to empty, and pool_reclaim
 * asks for enough of them to be worth the walk.
 */

/*
 * Frames that emptying z as well gains, once the other zspages hold all
 * they can: the class's last objects then go to one new zspage, which
 * fills from its first slot and so touches only the frames they need,
 * where z keeps every frame up to its highest object, holes and all.
 */
static uint64_t
spill_gain(const struct size_class *c, const struct zspage *z, uint64_t need)
{
	uint64_t	last, frames, touched = zspage_touched(c, z);

	last = c->objects - (need - 1) * c->objs;
	frames = (last * c->size + POOL_PAGE_SIZE - 1) / POOL_PAGE_SIZE;
	return touched > frames ? touched - frames : 0;
}

/*
 * Once the emptiest zspages are marked and the rest can hold every
 * object with at most one zspage's room to spare, that room is holes
 * scattered through the zspages: half a zspage a class, 9% of the bytes
 * left after half of a 256 MiB pool was freed (docs/performance.md,
 * session 8).  So one more zspage is emptied, the one that gains most,
 * and the class may open a new one for the objects the others cannot
 * take.  The first `skip` zspages of the lists are taken already (when
 * class_evacuees only counts).  Returns its id and *gain, or NONE.
 */
static uint32_t
spill_pick(struct pool *p, const struct size_class *c, uint64_t need,
    uint64_t skip, uint64_t *gain)
{
	uint64_t	g1;
	uint32_t	zid, best = NONE;
	unsigned	g;

	*gain = 0;
	for (g = 0; g < GROUP_FULL; g++)
		for (zid = c->group[g]; zid != NONE;
		    zid = zspage_at(p, zid)->next)
			if (skip > 0)
				skip--;
			else if ((g1 = spill_gain(c, zspage_at(p, zid),
			    need)) > *gain) {
				*gain = g1;
				best = zid;
			}
	return best;
}

/* Caller holds c->lock: z leaves the lists for compaction to empty it. */
static void
evac_take(struct pool *p, struct size_class *c, unsigned cls, uint32_t zid)
{
	group_unlink(p, c, zid);
	group_push(p, c, zid, GROUP_EVAC);
	evac_mark(p, c, zspage_at(p, zid), (uint8_t)(cls + 1));
}

/*
 * The zspages of class cls that compaction would empty: the emptiest,
 * while the others can hold every object (only zspages holding objects
 * count: a free may retire another one meanwhile), then spill_pick's.
 * With `mark`, they are taken for the pass (evac_take).  Returns the
 * frames the pass would release.
 */
static uint64_t
class_evacuees(struct pool *p, unsigned cls, bool mark)
{
	struct size_class	*c = &p->class[cls];
	struct zspage		*z;
	uint64_t		 need, left, gain, frames = 0;
	uint32_t		 zid, next;
	unsigned		 g;

	pthread_mutex_lock(&c->lock);
	need = (c->objects + c->objs - 1) / c->objs;
	left = c->zspages - c->empty;
	for (g = 0; g < GROUP_FULL && left > need; g++)
		for (zid = c->group[g]; zid != NONE && left > need; zid = next) {
			z = zspage_at(p, zid);
			next = z->next;
			frames += zspage_touched(c, z);
			left--;
			if (mark)
				evac_take(p, c, cls, zid);
		}
	if (left == need && need > 0 && (zid = spill_pick(p, c, need,
	    mark ? 0 : c->zspages - c->empty - left, &gain)) != NONE) {
		frames += gain;
		if (mark) {
			c->spill = true;
			c->spill_from = zid;
			c->spill_frames = zspage_touched(c, zspage_at(p, zid)) -
			    (unsigned)gain;
			evac_take(p, c, cls, zid);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return frames;
}

/*
 * The pass is over: the marked zspages that still hold objects (stores
 * took the room their objects needed, or put new ones in) go back to
 * the lists, their marks cleared; a spill zspage no move needed goes.
 * Returns the frames that released.
 */
static uint64_t
class_unmark(struct pool *p, struct size_class *c)
{
	uint64_t	freed = 0;
	uint32_t	zid;

	pthread_mutex_lock(&c->lock);
	c->spill = false;
	if ((zid = c->spill_zid) != NONE) {
		c->spill_zid = NONE;
		if (zspage_at(p, zid)->inuse == 0) {
			freed = zspage_touched(c, zspage_at(p, zid));
			zspage_free(p, c, zid);
		}
	}
	while ((zid = c->group[GROUP_EVAC]) != NONE) {
		evac_mark(p, c, zspage_at(p, zid), 0);
		group_unlink(p, c, zid);
		group_link(p, c, zid);
	}
	pthread_mutex_unlock(&c->lock);
	return freed;
}

/*
 * Caller holds c->lock; every zspage in the lists is full.  The zspage
 * for the class's overflow, or NONE.  The one evac_emptied kept, if a
 * marked zspage has emptied (stores may have filled it meanwhile,
 * through class_evac_room).  Otherwise a new one, while the arena has
 * free frames for it and one more zspage: a pass must not take the run
 * a put of another class has just freed, which may be all the room that
 * class has.  Otherwise the zspage marked for the spill goes back to
 * the lists and takes the moves, as if it had not been marked.
 */
static uint32_t
spill_take(struct pool *p, struct size_class *c)
{
	uint32_t	zid = c->spill_zid, spare;

	if (!c->spill)
		return NONE;
	c->spill = false;
	if (zid == NONE) {
		spare = p->nframes - ATOMIC_LOAD(&p->bump) +
		    ATOMIC_LOAD(&p->run_frames);
		if (spare >= c->frames + POOL_MAX_ZSPAGE_FRAMES)
			return zspage_new(p, c, (unsigned)(c - p->class));
		/* none has emptied, so it is still there, marked */
		zid = c->spill_from;
		evac_mark(p, c, zspage_at(p, zid), 0);
	}
	c->spill_zid = NONE;
	group_unlink(p, c, zid);
	group_link(p, c, zid);
	return zspage_at(p, zid)->inuse < c->objs ? zid : NONE;
}

/*
 * Caller holds c->lock; the object at loc lives in a marked zspage of c.
 * Move it to the fullest zspage of c with a free slot, or to the new
 * zspage the pass allows the class (spill_pick), and free the source if
 * that was its last object.  False when no zspage has room.
 */
static bool
obj_move(struct pool *p, struct size_class *c, struct pool_obj *o,
    uint32_t loc)
{
	struct zspage	*dz;
	uint32_t	 dst;
	uint8_t		*to;

	if ((dst = class_fullest(c)) == NONE && (dst = spill_take(p, c)) ==
	    NONE)
		return false;
	dz = zspage_at(p, dst);
	to = slot_addr(p, c, dz, slot_take(p, c, dz));
	memcpy(to, loc_addr(p, loc), obj_size(o));
	obj_set_loc(o, 0, addr_loc(p, to));
	dz->inuse++;
	zspage_regroup(p, c, dst);
	slot_free(p, c, loc);		/* frees the source as it empties */
	return true;
}

/* The class + 1 of the marked zspage holding a data object, or 0. */
static unsigned
obj_marked(const struct pool *p, const struct pool_obj *o, uint32_t *loc)
{
	size_t	f;

	if ((__atomic_load_n(&o->rs, __ATOMIC_ACQUIRE) >> REFS_SHIFT) == 0)
		return 0;
	*loc = __atomic_load_n(&o->loc, __ATOMIC_RELAXED);
	if (*loc & (OBJ_SAME | OBJ_ALIAS))
		return 0;
	f = (size_t)*loc * POOL_CLASS_STEP / POOL_PAGE_SIZE;
	return f < p->nframes ? __atomic_load_n(&p->evac[f], __ATOMIC_RELAXED) :
	    0;
}

/* An object to move, found by the walk. */
struct evacuee {
	uint32_t	loc;
	uint32_t	id;
};

static int
evacuee_cmp(const void *a, const void *b)
{
	uint32_t	la = ((const struct evacuee *)a)->loc;
	uint32_t	lb = ((const struct evacuee *)b)->loc;

	return la < lb ? -1 : la > lb;
}

/*
 * Walk every record once and list those whose loc falls in a marked
 * frame.  Out of memory, the list stops short: a partial compaction.
 */
static size_t
compact_collect(struct pool *p, struct evacuee **list)
{
	struct evacuee	*e = NULL, *grown;
	size_t		 n = 0, cap = 0;
	uint32_t	 id, hiwater, loc;

	hiwater = __atomic_load_n(&p->objs.hiwater, __ATOMIC_ACQUIRE);
	for (id = 1; id < hiwater; id++) {
		if (obj_marked(p, obj_at(p, id), &loc) == 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 1024 : cap * 2;
			if ((grown = realloc(e, cap * sizeof *e)) == NULL)
				break;
			e = grown;
		}
		e[n].loc = loc;
		e[n++].id = id;
	}
	*list = e;
	return n;
}

/*
 * Move the listed objects, in the order of their slots, so that each
 * marked zspage empties (and is freed) before the next one starts: the
 * pool grows by one zspage at most while it shrinks, as when zspages
 * were evacuated one at a time.  The list was made outside the locks
 * and is only a hint: under its class lock, a record still live and
 * still at the loc listed, in a frame marked for that class, is an
 * object there (stores go to a marked zspage only when nothing else has
 * room, a put frees its slot under this lock, and a free record's link
 * carries OBJ_FREE).  Returns the frames released, net of those the
 * moves newly touched.
 */
static int64_t
compact_move(struct pool *p, struct evacuee *e, size_t n, uint64_t *moved)
{
	struct size_class	*c;
	struct pool_obj		*o;
	uint64_t		 touched;
	int64_t			 freed = 0;
	uint32_t		 loc;
	unsigned		 v;
	size_t			 i;

	if (n > 1)		/* e is NULL when the walk found nothing */
		qsort(e, n, sizeof *e, evacuee_cmp);
	for (i = 0; i < n; i++) {
		o = obj_at(p, e[i].id);
		if ((v = obj_marked(p, o, &loc)) == 0)
			continue;
		c = &p->class[v - 1];
		pthread_mutex_lock(&c->lock);
		if (obj_marked(p, o, &loc) == v && loc == e[i].loc) {
			touched = c->touched;
			if (obj_move(p, c, o, loc))
				(*moved)++;
			freed += (int64_t)touched - (int64_t)c->touched;
		}
		pthread_mutex_unlock(&c->lock);
	}
	return freed;
}

/*
 * Returns frames released.  Emptied zspages kept for reuse go first;
 * then, if the zspages to empty hold min_frames or more (counted before
 * anything is marked, so that a call that will not walk costs a lock of
 * each class and no more), one walk of the records and the moves.
 */
static uint64_t
compact(struct pool *p, uint64_t min_frames, uint64_t *moved)
{
	struct evacuee	*list = NULL;
	uint64_t	 freed = 0, m = 0, want = 0;
	int64_t		 net = 0;
	size_t		 n;
	unsigned	 i;

	pthread_mutex_lock(&p->compact_lock);
	for (i = 0; i < POOL_NR_CLASSES; i++)
		freed += class_trim(p, &p->class[i], true);
	/* Huge zspages hold one object each: nothing to move. */
	for (i = 0; i < HUGE_CLASS; i++)
		want += class_evacuees(p, i, false);
	if (want > 0 && want >= min_frames) {
		for (i = 0; i < HUGE_CLASS; i++)
			(void)class_evacuees(p, i, true);
		n = compact_collect(p, &list);
		if (p->before_moves != NULL)
			p->before_moves(p->before_moves_arg);
		net = compact_move(p, list, n, &m);
		free(list);
		for (i = 0; i < HUGE_CLASS; i++)
			freed += class_unmark(p, &p->class[i]);
		/* Every mark is 0 again: give back the pages they took. */
		(void)madvise(p->evac, p->nframes, MADV_DONTNEED);
	}
	pthread_mutex_unlock(&p->compact_lock);
	/*
	 * Net of the frames the moves touched: below 0 only when stores
	 * took the room meant for the moves, and then nothing was released.
	 */
	if (net > 0)
		freed += (uint64_t)net;
	ATOMIC_ADD(&p->pages_compacted, freed);
	ATOMIC_ADD(&p->objects_moved, m);
	if (moved != NULL)
		*moved = m;
	return freed;
}

uint64_t
pool_compact(struct pool *p, uint64_t *moved)
{
	return compact(p, 1, moved);
}

uint64_t
pool_reclaim(struct pool *p, uint64_t *moved)
{
	return compact(p, __atomic_load_n(&p->objs.hiwater, __ATOMIC_RELAXED) /
	    2048, moved);
}

uint64_t
pool_trim(struct pool *p, bool all)
{
	uint64_t	freed = 0;
	unsigned	i;

	for (i = 0; i < POOL_NR_CLASSES; i++)
		freed += class_trim(p, &p->class[i], all);
	return freed;
}

/* --- walking and statistics -------------------------------------------- */

void
pool_walk(struct pool *p, void (*fn)(uint32_t, void *), void *arg)
{
	uint32_t	id, n;

	n = __atomic_load_n(&p->objs.hiwater, __ATOMIC_ACQUIRE);
	for (id = 1; id < n; id++)
		if (obj_lookup(p, id) != NULL)
			fn(id, arg);
}

void
pool_stats(struct pool *p, struct pool_stats *st)
{
	memset(st, 0, sizeof *st);
	st->objects = ATOMIC_LOAD(&p->objects);
	/* pages, as zram counts them: a shared object counts once a page */
	st->orig_data_size = ATOMIC_LOAD(&p->refs) * POOL_PAGE_SIZE;
	st->compr_data_size = ATOMIC_LOAD(&p->compr_bytes);
	/* empty_frames first: see class_trim */
	st->empty_frames = __atomic_load_n(&p->empty_frames, __ATOMIC_ACQUIRE);
	st->frames = ATOMIC_LOAD(&p->frames);
	st->meta_bytes = pool_meta_bytes(p);
	st->mem_used_total = st->frames * POOL_PAGE_SIZE + st->meta_bytes;
	st->mem_used_max = ATOMIC_LOAD(&p->mem_used_max);
	if (st->mem_used_max < st->mem_used_total)
		st->mem_used_max = st->mem_used_total;
	st->same_pages = ATOMIC_LOAD(&p->same_pages);
	st->pages_compacted = ATOMIC_LOAD(&p->pages_compacted);
	st->huge_pages = ATOMIC_LOAD(&p->huge_pages);
	st->refs = ATOMIC_LOAD(&p->refs);
	st->pages_merged = ATOMIC_LOAD(&p->pages_merged);
	st->objects_moved = ATOMIC_LOAD(&p->objects_moved);
}

int
pool_resident_frames(struct pool *p, uint64_t *frames)
{
	struct stat	sb;

	if (fstat(p->fd, &sb) == -1)
		return -errno;
	*frames = (uint64_t)sb.st_blocks * 512 / POOL_PAGE_SIZE;
	return 0;
}

unsigned
pool_class_stats(struct pool *p, struct pool_class_stats *cs, unsigned n)
{
	struct size_class	*c;
	unsigned		 i, used = 0;

	for (i = 0; i < POOL_NR_CLASSES; i++) {
		c = &p->class[i];
		pthread_mutex_lock(&c->lock);
		if (c->zspages != 0) {
			if (used < n) {
				cs[used].size = c->size;
				cs[used].frames_per_zspage = c->frames;
				cs[used].objs_per_zspage = c->objs;
				cs[used].zspages = c->zspages;
				cs[used].frames = c->touched;
				cs[used].objects = c->objects;
				cs[used].bytes = c->bytes;
			}
			used++;
		}
		pthread_mutex_unlock(&c->lock);
	}
	return used;
}
