# tests/ -- CUnit suites, one per module, and the daemon tests.

# unit suites
check_PROGRAMS += tests/test_pool
TESTS += tests/test_pool
tests_test_pool_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_test_pool_LDADD = daemon/libzpdaemon.la $(CUNIT_LIBS)
