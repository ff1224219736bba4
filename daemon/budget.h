/*
 * budget.h -- the pageframe budget: how much memory the pool may take.
 *
 * The operator sets a global budget in bytes of pageframes (pool frames
 * plus the daemon's metadata) and per-client limits, charged with the
 * compressed size of every page a client references.  A store that would
 * pass the global budget first lets the daemon reclaim (compaction, merge
 * when dedup is off) and is otherwise refused with ZP_ENOSPC; once it has
 * refused, the budget accepts again only below `accept_pct` percent of the
 * budget (zswap's accept_threshold_percent), so a pool at the edge does
 * not thrash between accepting and reclaiming.
 *
 * The functions here decide; they take the figures as arguments and touch
 * nothing else, so every rule is testable alone.  All calls are
 * thread-safe (atomics).
 */
#ifndef ZP_BUDGET_H
#define ZP_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

struct budget {
	uint64_t	limit;		/* bytes; 0: unlimited (atomic) */
	unsigned	accept_pct;	/* 1..100 */
	bool		full;		/* refusing until below the threshold */
	uint64_t	refused;	/* pages refused, total */
};

enum budget_verdict {
	BUDGET_OK,		/* store */
	BUDGET_RECLAIM,		/* over: reclaim, then ask again */
	BUDGET_REFUSE,		/* refuse this page with ZP_ENOSPC */
};

void		budget_init(struct budget *b, uint64_t limit,
		    unsigned accept_pct);
void		budget_set_limit(struct budget *b, uint64_t limit);
uint64_t	budget_limit(const struct budget *b);
bool		budget_accepting(const struct budget *b);

/*
 * May a page be stored when the daemon uses `used` bytes and one store can
 * add at most `margin`?  `reclaimed` says whether the caller has just
 * reclaimed: then an over-budget answer is a refusal, and the budget stays
 * refusing until usage falls below the accept threshold (asking for a
 * reclaim first every time, since frees may have left room to win).
 */
enum budget_verdict budget_admit(struct budget *b, uint64_t used,
		    uint64_t margin, bool reclaimed);

/*
 * A client's limit: may a page of `csize` bytes be charged to a client
 * already charged `charged` with limit `limit` (0: none)?
 */
bool		budget_client_admit(uint64_t charged, uint64_t limit,
		    uint64_t csize);

/* The usage at and below which a full budget accepts again. */
uint64_t	budget_accept_level(const struct budget *b);

#endif /* ZP_BUDGET_H */
