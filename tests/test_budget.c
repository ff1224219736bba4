/*
 * test_budget.c -- CUnit suite for the budget rules (daemon/budget.c).
 */
#include <stdint.h>

#include "cutest.h"

#include "budget.h"

#define M	(1024ull * 1024)

static void
test_unlimited(void)
{
	struct budget	b;

	budget_init(&b, 0, 90);
	CU_ASSERT_EQUAL(budget_admit(&b, UINT64_MAX / 2, 4096, false),
	    BUDGET_OK);
	CU_ASSERT_TRUE(budget_accepting(&b));
}

static void
test_reclaim_then_refuse(void)
{
	struct budget	b;

	budget_init(&b, 100 * M, 90);
	CU_ASSERT_EQUAL(budget_admit(&b, 50 * M, 32768, false), BUDGET_OK);
	/* the margin counts: a store that might pass the budget reclaims */
	CU_ASSERT_EQUAL(budget_admit(&b, 100 * M - 4096, 32768, false),
	    BUDGET_RECLAIM);
	/* reclaim won enough */
	CU_ASSERT_EQUAL(budget_admit(&b, 99 * M, 32768, true), BUDGET_OK);
	/* reclaim did not: refuse, and stay full */
	CU_ASSERT_EQUAL(budget_admit(&b, 100 * M, 32768, true),
	    BUDGET_REFUSE);
	CU_ASSERT_FALSE(budget_accepting(&b));
	CU_ASSERT_EQUAL(b.refused, 1);
}

/* Once full, only usage below accept_pct of the budget lets stores in. */
static void
test_hysteresis(void)
{
	struct budget	b;

	budget_init(&b, 100 * M, 90);
	CU_ASSERT_EQUAL(budget_accept_level(&b), 90 * M);
	CU_ASSERT_EQUAL(budget_admit(&b, 100 * M, 4096, true), BUDGET_REFUSE);
	/* full: below the budget but above the threshold is still refused */
	CU_ASSERT_EQUAL(budget_admit(&b, 95 * M, 4096, false), BUDGET_RECLAIM);
	CU_ASSERT_EQUAL(budget_admit(&b, 95 * M, 4096, true), BUDGET_REFUSE);
	CU_ASSERT_EQUAL(budget_admit(&b, 90 * M + 1, 4096, true),
	    BUDGET_REFUSE);
	CU_ASSERT_FALSE(budget_accepting(&b));
	CU_ASSERT_EQUAL(budget_admit(&b, 90 * M, 4096, false), BUDGET_OK);
	CU_ASSERT_TRUE(budget_accepting(&b));
	CU_ASSERT_EQUAL(b.refused, 3);
	/* a new limit is judged afresh */
	CU_ASSERT_EQUAL(budget_admit(&b, 100 * M, 4096, true), BUDGET_REFUSE);
	budget_set_limit(&b, 200 * M);
	CU_ASSERT_EQUAL(budget_admit(&b, 100 * M, 4096, false), BUDGET_OK);
}

static void
test_accept_pct_bounds(void)
{
	struct budget	b;

	budget_init(&b, 1000, 0);
	CU_ASSERT_EQUAL(b.accept_pct, 90);
	budget_init(&b, 1000, 100);
	CU_ASSERT_EQUAL(budget_accept_level(&b), 1000);
	budget_init(&b, UINT64_MAX, 50);
	CU_ASSERT(budget_accept_level(&b) > UINT64_MAX / 2 - 100);
}

static void
test_client_limit(void)
{
	CU_ASSERT_TRUE(budget_client_admit(0, 0, 4096));
	CU_ASSERT_TRUE(budget_client_admit(1000, 2000, 1000));
	CU_ASSERT_FALSE(budget_client_admit(1000, 2000, 1001));
	CU_ASSERT_TRUE(budget_client_admit(UINT64_MAX / 2, 0, 4096));
}

int
main(void)
{
	static const struct cu_case cases[] = {
		{ "unlimited", test_unlimited },
		{ "reclaim, then refuse", test_reclaim_then_refuse },
		{ "accept threshold", test_hysteresis },
		{ "accept_pct bounds", test_accept_pct_bounds },
		{ "client limit", test_client_limit },
		{ NULL, NULL }
	};

	if (cu_suite("budget", cases) != 0)
		return 1;
	return cu_run();
}
