/*
 * budget.c -- the rules of the pageframe budget (see budget.h).
 */
#include "budget.h"

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)

void
budget_init(struct budget *b, uint64_t limit, unsigned accept_pct)
{
	b->limit = limit;
	b->accept_pct = accept_pct == 0 || accept_pct > 100 ? 90 : accept_pct;
	b->full = false;
	b->refused = 0;
}

void
budget_set_limit(struct budget *b, uint64_t limit)
{
	STORE(&b->limit, limit);
	/* A new budget is judged afresh: the next store decides. */
	STORE(&b->full, false);
}

uint64_t
budget_limit(const struct budget *b)
{
	return LOAD(&b->limit);
}

bool
budget_accepting(const struct budget *b)
{
	return !LOAD(&b->full);
}

uint64_t
budget_accept_level(const struct budget *b)
{
	return LOAD(&b->limit) / 100 * b->accept_pct +
	    LOAD(&b->limit) % 100 * b->accept_pct / 100;
}

enum budget_verdict
budget_admit(struct budget *b, uint64_t used, uint64_t margin,
    bool reclaimed)
{
	uint64_t	limit = LOAD(&b->limit);

	if (limit == 0)
		return BUDGET_OK;
	if (LOAD(&b->full)) {
		/* frees may have left holes that reclaim turns into room */
		if (used > budget_accept_level(b))
			goto over;
		STORE(&b->full, false);
	}
	if (used + margin <= limit)
		return BUDGET_OK;
over:
	if (!reclaimed)
		return BUDGET_RECLAIM;
	STORE(&b->full, true);
	__atomic_add_fetch(&b->refused, 1, __ATOMIC_RELAXED);
	return BUDGET_REFUSE;
}

bool
budget_client_admit(uint64_t charged, uint64_t limit, uint64_t csize)
{
	return limit == 0 || charged + csize <= limit;
}
