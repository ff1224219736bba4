# tests/ -- CUnit suites, one per module, and the daemon tests.

# unit suites
check_PROGRAMS += tests/test_pool
TESTS += tests/test_pool
tests_test_pool_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_test_pool_LDADD = daemon/libzpdaemon.la $(CUNIT_LIBS)

check_PROGRAMS += tests/test_common
TESTS += tests/test_common
tests_test_common_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_test_common_LDADD = common/libzpcommon.la $(CUNIT_LIBS)

check_PROGRAMS += tests/test_dedup tests/test_dedup_collide
TESTS += tests/test_dedup tests/test_dedup_collide
tests_test_dedup_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_test_dedup_LDADD = daemon/libzpdaemon.la $(CUNIT_LIBS)
# The same suite against a dedup.c where every page hashes alike: a hash
# match must never be taken for equal content.
tests_test_dedup_collide_SOURCES = tests/test_dedup.c daemon/dedup.c
tests_test_dedup_collide_CPPFLAGS = $(AM_CPPFLAGS) -DZP_COLLIDE_HASH
tests_test_dedup_collide_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(XXHASH_CFLAGS)
tests_test_dedup_collide_LDADD = daemon/libzpdaemon.la $(CUNIT_LIBS)

# libzpclient against a real daemon.
AM_TESTS_ENVIRONMENT = ZPOOLD='$(abs_top_builddir)/daemon/zpoold'; export ZPOOLD;
check_PROGRAMS += tests/test_client
TESTS += tests/test_client
tests_test_client_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_test_client_LDADD = client/libzpclient.la $(CUNIT_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/test_budget
TESTS += tests/test_budget
tests_test_budget_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_test_budget_LDADD = daemon/libzpdaemon.la $(CUNIT_LIBS)
