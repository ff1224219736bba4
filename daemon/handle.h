/*
 * handle.h -- one client's handle table: handle -> pool object.
 *
 * A handle names an entry of the table of the connection that stored it:
 * its index, the entry's generation, and 15 check bits, all masked with a
 * per-connection salt.  Tables are per connection, so a handle can only
 * ever reach the asking connection's own pages; another connection's
 * handle, a freed one, or a made-up number decodes to a wrong generation or
 * to nonzero check bits and gets -ENOENT (odds of a stray match: below
 * 2^-32 per try).  An entry whose generation would wrap is retired rather
 * than reused, so a stale handle never names a newer page.
 *
 * An entry is 8 bytes: the object id and, packed, the generation and what
 * freeing must undo (the stored size charged to the client and whether the
 * page joined a shared object).  Not thread-safe: the loop thread owns
 * every table.
 */
#ifndef ZP_HANDLE_H
#define ZP_HANDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct handle_ent {
	uint32_t	id;	/* live: object id; free: next free index */
	uint32_t	tag;	/* gen:17 live:1 shared:1 csize:13 */
};

struct handle_table {
	struct handle_ent	*v;
	uint32_t		 used;	/* entries ever handed out */
	uint32_t		 cap;
	uint32_t		 free_head;	/* HANDLE_NONE when empty */
	uint32_t		 live;
	uint64_t		 salt;
};

/* What an entry says about its page. */
struct handle_obj {
	uint32_t	id;
	unsigned	csize;
	bool		shared;
};

#define HANDLE_NONE	UINT32_MAX

/* salt: any value; zero-size table until the first insert. */
void	handle_init(struct handle_table *t, uint64_t salt);
/* Free the table's memory; the caller has released the objects. */
void	handle_clear(struct handle_table *t);

/*
 * Add an object; returns its new non-zero handle in *h.  0, or -ENOSPC
 * when the table cannot grow (2^32 entries).
 */
int	handle_insert(struct handle_table *t, const struct handle_obj *o,
	    uint64_t *h);
/* 0 and *o, or -ENOENT. */
int	handle_lookup(const struct handle_table *t, uint64_t h,
	    struct handle_obj *o);
/* Remove h and return what it held in *o.  0, or -ENOENT. */
int	handle_remove(struct handle_table *t, uint64_t h, struct handle_obj *o);

/*
 * Iterate the live entries: start with *cursor = 0; returns false at the
 * end.  The table must not change during a walk.
 */
bool	handle_next(const struct handle_table *t, uint32_t *cursor,
	    struct handle_obj *o);
/*
 * The same, stopping at index `end` (at most t->used), with *cursor = end
 * then: a walk in slices, bounded by the entries it looks at, live or not.
 * A walk that spans changes of the table sees each entry live throughout
 * once, the others maybe.
 */
bool	handle_next_until(const struct handle_table *t, uint32_t *cursor,
	    uint32_t end, struct handle_obj *o);

/* Bytes of memory the table holds. */
size_t	handle_bytes(const struct handle_table *t);

#endif /* ZP_HANDLE_H */
