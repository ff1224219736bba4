/*
 * handle.c -- per-connection handle tables (see handle.h for the model).
 *
 * Handle layout before the salt: bits 0..31 entry index, 32..46 zero
 * (check bits), 47..63 generation (1..HANDLE_GEN_MAX).  The salt covers
 * bits 0..46 only, so the generation shows through and a handle is never
 * 0.  Free entries form a LIFO list threaded through their id field, which
 * keeps the table dense and its recently used cache lines warm.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "handle.h"
#include "xmalloc.h"

#define TAG_CSIZE_MASK	0x1fffu
#define TAG_SHARED	(1u << 13)
#define TAG_LIVE	(1u << 14)
#define TAG_GEN_SHIFT	15
#define HANDLE_GEN_MAX	((1u << 17) - 1)

#define H_GEN_SHIFT	47
#define H_CHECK_MASK	(((uint64_t)1 << 15) - 1)
#define H_SALT_MASK	(((uint64_t)1 << H_GEN_SHIFT) - 1)

#define HANDLE_MIN_CAP	64u

static inline unsigned
tag_gen(uint32_t tag)
{
	return tag >> TAG_GEN_SHIFT;
}

void
handle_init(struct handle_table *t, uint64_t salt)
{
	memset(t, 0, sizeof *t);
	t->free_head = HANDLE_NONE;
	t->salt = salt & H_SALT_MASK;
}

void
handle_clear(struct handle_table *t)
{
	free(t->v);
	handle_init(t, t->salt);
}

static int
handle_grow(struct handle_table *t)
{
	uint64_t	ncap;

	if (t->cap >= HANDLE_NONE)
		return -ENOSPC;
	ncap = t->cap == 0 ? HANDLE_MIN_CAP : (uint64_t)t->cap * 2;
	if (ncap > HANDLE_NONE)
		ncap = HANDLE_NONE;
	t->v = xreallocarray(t->v, ncap, sizeof *t->v);
	t->cap = (uint32_t)ncap;
	return 0;
}

int
handle_insert(struct handle_table *t, const struct handle_obj *o,
    uint64_t *h)
{
	uint32_t	idx;
	unsigned	gen;
	int		rc;

	if (t->free_head != HANDLE_NONE) {
		idx = t->free_head;
		t->free_head = t->v[idx].id;
		gen = tag_gen(t->v[idx].tag);
	} else {
		if (t->used == t->cap && (rc = handle_grow(t)) != 0)
			return rc;
		idx = t->used++;
		gen = 1;
	}
	t->v[idx].id = o->id;
	t->v[idx].tag = (uint32_t)gen << TAG_GEN_SHIFT | TAG_LIVE |
	    (o->shared ? TAG_SHARED : 0) | (o->csize & TAG_CSIZE_MASK);
	t->live++;
	*h = ((uint64_t)gen << H_GEN_SHIFT | idx) ^ t->salt;
	return 0;
}

/* The index of a live entry named by h, or HANDLE_NONE. */
static uint32_t
handle_find(const struct handle_table *t, uint64_t h)
{
	uint64_t	plain = h ^ t->salt;
	uint32_t	idx = (uint32_t)plain, tag;

	if ((plain >> 32 & H_CHECK_MASK) != 0 || idx >= t->used)
		return HANDLE_NONE;
	tag = t->v[idx].tag;
	if (!(tag & TAG_LIVE) || tag_gen(tag) != plain >> H_GEN_SHIFT)
		return HANDLE_NONE;
	return idx;
}

static void
handle_fill(const struct handle_ent *e, struct handle_obj *o)
{
	o->id = e->id;
	o->csize = e->tag & TAG_CSIZE_MASK;
	o->shared = (e->tag & TAG_SHARED) != 0;
}

int
handle_lookup(const struct handle_table *t, uint64_t h, struct handle_obj *o)
{
	uint32_t	idx;

	if ((idx = handle_find(t, h)) == HANDLE_NONE)
		return -ENOENT;
	handle_fill(&t->v[idx], o);
	return 0;
}

int
handle_remove(struct handle_table *t, uint64_t h, struct handle_obj *o)
{
	struct handle_ent	*e;
	uint32_t		 idx;
	unsigned		 gen;

	if ((idx = handle_find(t, h)) == HANDLE_NONE)
		return -ENOENT;
	e = &t->v[idx];
	handle_fill(e, o);
	t->live--;
	gen = tag_gen(e->tag) + 1;
	if (gen > HANDLE_GEN_MAX) {
		/* Retired: off the free list for good. */
		e->id = 0;
		e->tag = HANDLE_GEN_MAX << TAG_GEN_SHIFT;
		return 0;
	}
	e->tag = (uint32_t)gen << TAG_GEN_SHIFT;
	e->id = t->free_head;
	t->free_head = idx;
	return 0;
}

bool
handle_next_until(const struct handle_table *t, uint32_t *cursor,
    uint32_t end, struct handle_obj *o)
{
	uint32_t	i;

	if (end > t->used)
		end = t->used;
	for (i = *cursor; i < end; i++) {
		if (t->v[i].tag & TAG_LIVE) {
			handle_fill(&t->v[i], o);
			*cursor = i + 1;
			return true;
		}
	}
	*cursor = end;
	return false;
}

bool
handle_next(const struct handle_table *t, uint32_t *cursor,
    struct handle_obj *o)
{
	return handle_next_until(t, cursor, t->used, o);
}

size_t
handle_bytes(const struct handle_table *t)
{
	return (size_t)t->cap * sizeof *t->v;
}
