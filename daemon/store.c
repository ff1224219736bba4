/*
 * store.c -- the page-level object operations, and their accounting.
 *
 * Every page that enters the pool goes through store_page() and every
 * reference a client gives up goes through store_release(): this is the one
 * place that charges and uncharges a client, and where the budget is
 * checked (budget.c decides; store_page asks before it stores anything).
 * The charge of a page is its object's stored size, fixed at store time and
 * kept in the handle entry, so what a free returns is exactly what the
 * store took, whatever other clients sharing the object do meanwhile.
 *
 * Pool and dedup calls return negative errnos whose values are the ZP_E*
 * codes (zpclient.h defines them so), which is why results pass through.
 */
#include <errno.h>
#include <stdatomic.h>

#include "daemon.h"
#include "log.h"
#include "page.h"

/* A page refused for lack of room: counted, and the client keeps it. */
static int
refuse(struct zpoold *zd, struct client *c)
{
	atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&zd->refused_stores, 1, memory_order_relaxed);
	return ZP_ENOSPC;
}

/*
 * Reclaim inside the pool for a store that would pass the budget:
 * compaction, by one worker at a time (the others find the budget as it
 * is).  Merging, when dedup is off, needs every client's handles, which
 * only the loop may read: it is asked for and runs as a job.
 */
static bool
store_reclaim(struct zpoold *zd)
{
	bool	idle = false;

	if (!atomic_compare_exchange_strong(&zd->reclaiming, &idle, true))
		return false;
	pool_reclaim(zd->pool, NULL);
	atomic_store(&zd->reclaiming, false);
	if (dedup_get_mode(zd->dedup) == DEDUP_OFF)
		atomic_store(&zd->want_merge, true);
	return true;
}

/* The global budget's verdict for one more store; reclaims first if need be. */
static bool
store_admit(struct zpoold *zd)
{
	uint64_t	margin = zd->store_margin;

	switch (budget_admit(&zd->budget, server_mem_used(zd), margin, false)) {
	case BUDGET_OK:
		return true;
	case BUDGET_REFUSE:
		return false;
	case BUDGET_RECLAIM:
		break;
	}
	/*
	 * Another worker reclaiming: refuse this page, but do not call the
	 * pool full -- that reclaim may well make room.
	 */
	if (!store_reclaim(zd))
		return budget_admit(&zd->budget, server_mem_used(zd), margin,
		    false) == BUDGET_OK;
	return budget_admit(&zd->budget, server_mem_used(zd), margin, true) ==
	    BUDGET_OK;
}

/*
 * Store one page of private memory for client c.  Worker thread.  Returns
 * 0 with a new reference in *id, or a ZP_E* code for this page alone.
 *
 * The budget is asked before anything is compressed; the client's limit,
 * which depends on the page's stored size, after, when the page is given
 * back if it does not fit.  The pool may pass the budget by at most
 * store_margin per worker storing at that instant.
 */
int
store_page(struct zpoold *zd, struct codec_ctx *ctx, struct client *c,
    const void *page, uint32_t *id, unsigned *csize, bool *shared)
{
	uint64_t	limit, charged;
	int		rc;

	limit = atomic_load_explicit(&c->limit_bytes, memory_order_relaxed);
	charged = atomic_load_explicit(&c->charged_bytes, memory_order_relaxed);
	if (!budget_client_admit(charged, limit, PAGE_LIMIT_CHARGE) ||
	    !store_admit(zd))
		return refuse(zd, c);
	rc = dedup_store(zd->dedup, ctx, page, c->scope, id, csize, shared);
	if (rc == -ENOSPC)
		return refuse(zd, c);
	if (rc < 0)
		return rc == -ENOMEM ? ZP_ENOMEM : ZP_EIO;
	/* Charged atomically, so two workers cannot both take the rest. */
	charged = atomic_fetch_add_explicit(&c->charged_bytes,
	    *csize + PAGE_LIMIT_CHARGE, memory_order_relaxed);
	if (!budget_client_admit(charged, limit, *csize + PAGE_LIMIT_CHARGE)) {
		atomic_fetch_sub_explicit(&c->charged_bytes,
		    *csize + PAGE_LIMIT_CHARGE, memory_order_relaxed);
		if (dedup_put(zd->dedup, *id, c->scope) < 0)
			fatalx("store: object %u vanished", *id);
		return refuse(zd, c);
	}
	atomic_fetch_add_explicit(&c->compr_bytes, *csize,
	    memory_order_relaxed);
	return 0;
}

/*
 * Load object id into a client's slot: decompress into `scratch`, this
 * thread's own page, and stream it into the slot (page.h says why).  The
 * caller fences once after its last page.
 */
int
store_load(struct zpoold *zd, struct codec_ctx *ctx, uint32_t id, void *slot,
    void *scratch)
{
	int	rc;

	rc = pool_load(zd->pool, ctx, id, scratch);
	if (rc == 0) {
		page_stream(slot, scratch);
		return 0;
	}
	if (rc == -ENOENT)
		return ZP_ENOENT;
	log_warnx("object %u failed to load: %s", id,
	    rc == -EIO ? "corrupt data" : "pool error");
	return ZP_EIO;
}

/*
 * Pin an object for a queued load or a merge, so that a free arriving
 * meanwhile cannot release it (and its id cannot be reused) under the
 * worker.  The pinner holds a handle on it already, so it is live; the
 * unpin goes through the dedup index, in the object's scope, because it
 * may be the last reference.
 */
int
store_pin(struct zpoold *zd, uint32_t id)
{
	return pool_get(zd->pool, id) == 0 ? 0 : ZP_ENOENT;
}

void
store_unpin(struct zpoold *zd, uint32_t id, uint64_t scope)
{
	int	rc;

	/* Mostly the handle still holds it: no need for the index's lock. */
	if ((rc = pool_put_unless_last(zd->pool, id)) == -EAGAIN)
		rc = dedup_put(zd->dedup, id, scope);
	if (rc < 0)
		fatalx("unpin: object %u vanished while pinned", id);
}

/* Give back one page of c.  Any thread. */
void
store_release(struct zpoold *zd, struct client *c, const struct handle_obj *o)
{
	if (dedup_put(zd->dedup, o->id, c->scope) < 0)
		fatalx("client %llu: object %u in a handle table is not live",
		    (unsigned long long)c->id, o->id);
	atomic_fetch_sub_explicit(&c->compr_bytes, o->csize,
	    memory_order_relaxed);
	atomic_fetch_sub_explicit(&c->charged_bytes,
	    o->csize + PAGE_LIMIT_CHARGE, memory_order_relaxed);
}

/* Give back every page of a table and free it.  Any thread. */
void
store_release_table(struct zpoold *zd, struct client *c,
    struct handle_table *t)
{
	struct handle_obj	o;
	uint32_t		cursor = 0;

	while (handle_next(t, &cursor, &o))
		store_release(zd, c, &o);
	atomic_fetch_sub_explicit(&zd->handle_bytes, handle_bytes(t),
	    memory_order_relaxed);
	handle_clear(t);
}
