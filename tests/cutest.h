/*
 * cutest.h -- the CUnit boilerplate every suite shares: a table of cases
 * per suite, and one verbose run whose exit status make check reads.
 */
#ifndef ZP_CUTEST_H
#define ZP_CUTEST_H

#include <CUnit/Basic.h>

struct cu_case {
	const char	*name;
	CU_TestFunc	 fn;
};

/* Register a suite; `cases` ends with { NULL, NULL }.  0, or -1. */
static inline int
cu_suite(const char *name, const struct cu_case *cases)
{
	CU_pSuite	s;

	if (CU_get_registry() == NULL &&
	    CU_initialize_registry() != CUE_SUCCESS)
		return -1;
	if ((s = CU_add_suite(name, NULL, NULL)) == NULL)
		return -1;
	for (; cases->name != NULL; cases++)
		if (CU_add_test(s, cases->name, cases->fn) == NULL)
			return -1;
	return 0;
}

/* Run every registered suite; the exit status: 0 when all passed. */
static inline int
cu_run(void)
{
	unsigned	failed;

	if (CU_get_registry() == NULL)
		return 1;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}

#endif /* ZP_CUTEST_H */
