# tests/ -- CUnit suites, one per module, and the daemon tests.

# unit suites
check_PROGRAMS += tests/test_pool
TESTS += tests/test_pool
tests_test_pool_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_test_pool_LDADD = daemon/libzpdaemon.la $(CUNIT_LIBS)

check_PROGRAMS += tests/test_common
TESTS += tests/test_common
tests_test_common_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_test_common_LDADD = common/libzpcommon.la common/libzpcodec.la $(CUNIT_LIBS)

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
tests_test_client_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_test_client_LDADD = client/libzpclient.la common/libzpcommon.la \
	$(CUNIT_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/test_budget
TESTS += tests/test_budget
tests_test_budget_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_test_budget_LDADD = daemon/libzpdaemon.la $(CUNIT_LIBS)

# zpoold as a system service: the config parser, the units, socket
# activation, and `make install` used the way a system uses it.  The
# scripts share tests/service-lib.sh and learn where things install from
# the environment below.
AM_TESTS_ENVIRONMENT += \
	abs_top_builddir='$(abs_top_builddir)'; \
	abs_top_srcdir='$(abs_top_srcdir)'; \
	MAKE='$(MAKE)'; CC='$(CC)'; \
	build_CFLAGS='$(CFLAGS)'; build_LDFLAGS='$(LDFLAGS)'; \
	bindir='$(bindir)'; sbindir='$(sbindir)'; libdir='$(libdir)'; \
	includedir='$(includedir)'; pkgconfigdir='$(pkgconfigdir)'; \
	sysconfdir='$(sysconfdir)'; mandir='$(mandir)'; docdir='$(docdir)'; \
	systemdsystemunitdir='$(systemdsystemunitdir)'; \
	export abs_top_builddir abs_top_srcdir MAKE CC build_CFLAGS \
	build_LDFLAGS bindir sbindir libdir \
	includedir pkgconfigdir sysconfdir mandir docdir systemdsystemunitdir;
check_PROGRAMS += tests/test_config tests/zp_activate tests/zp_roundtrip
TESTS += tests/test_config tests/test_units.sh \
	tests/test_socket_activation.sh tests/test_install.sh
tests_test_config_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_test_config_LDADD = daemon/libzpdaemon.la $(CUNIT_LIBS)
tests_zp_roundtrip_LDADD = client/libzpclient.la
EXTRA_DIST += tests/service-lib.sh tests/test_units.sh \
	tests/test_socket_activation.sh tests/test_install.sh

# The frame decoder under libFuzzer, built only with clang.  wire.c and the
# generated protobuf code are compiled into the target with the fuzzer's
# flags (libzpcommon is built without them); fuzz_seed writes the seed
# corpus.  `make fuzz-run` fuzzes for FUZZ_SECONDS on tests/fuzz-corpus.
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1
FUZZ_SECONDS = 60
if HAVE_FUZZER
check_PROGRAMS += tests/fuzz_wire tests/fuzz_seed
tests_fuzz_wire_SOURCES = tests/fuzz_wire.c common/wire.c common/wire.h
nodist_tests_fuzz_wire_SOURCES = proto/zpool.pb-c.c proto/zpool.pb-c.h
tests_fuzz_wire_CFLAGS = $(AM_CFLAGS) $(PROTOBUFC_CFLAGS) $(FUZZ_FLAGS)
tests_fuzz_wire_LDFLAGS = $(FUZZ_FLAGS)
tests_fuzz_wire_LDADD = $(PROTOBUFC_LIBS)
tests_fuzz_seed_CFLAGS = $(AM_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_fuzz_seed_LDADD = common/libzpcommon.la

fuzz-run: tests/fuzz_wire$(EXEEXT) tests/fuzz_seed$(EXEEXT)
	$(MKDIR_P) tests/fuzz-corpus
	tests/fuzz_seed tests/fuzz-corpus
	tests/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		tests/fuzz-corpus
else
fuzz-run:
	@echo "fuzz-run: the fuzz target needs clang: configure CC=clang" >&2
	@exit 1
endif
.PHONY: fuzz-run fuzz-clean
fuzz-clean:
	-rm -rf tests/fuzz-corpus crash-* leak-* timeout-* oom-*
clean-local: fuzz-clean

# zpctl against a real daemon; zp_fill holds pages in the pool meanwhile.
check_PROGRAMS += tests/zp_fill
tests_zp_fill_LDADD = client/libzpclient.la
TESTS += tests/test_zpctl.sh
EXTRA_DIST += tests/test_zpctl.sh

# zpbench end to end: gen, pool (and zram as root), capture of a child.
TESTS += tests/test_bench.sh
EXTRA_DIST += tests/test_bench.sh
# zpbench rpc on its own zpoold ($ZPOOLD): the JSON line, every page back.
TESTS += tests/test_bench_rpc.sh
EXTRA_DIST += tests/test_bench_rpc.sh
# zpbench dedup: K copies share, scopes do not, every page comes back.
TESTS += tests/test_bench_dedup.sh
EXTRA_DIST += tests/test_bench_dedup.sh

# zpoold itself, on a private socket, against raw-protocol clients
# (hostile ones included).  It finds the daemon through $ZPOOLD.
check_PROGRAMS += tests/test_daemon
TESTS += tests/test_daemon
tests_test_daemon_SOURCES = tests/test_daemon.c tests/rawclient.c \
	tests/rawclient.h tests/testdaemon.c tests/testdaemon.h
tests_test_daemon_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_test_daemon_LDADD = client/libzpclient.la common/libzpcommon.la $(CUNIT_LIBS)

# Dedup across clients, scopes, limits and the budget, on a real zpoold.
check_PROGRAMS += tests/test_dedup_budget
TESTS += tests/test_dedup_budget
tests_test_dedup_budget_SOURCES = tests/test_dedup_budget.c \
	tests/testdaemon.c tests/testdaemon.h tests/rawclient.c tests/rawclient.h
tests_test_dedup_budget_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_test_dedup_budget_LDADD = client/libzpclient.la common/libzpcommon.la \
	$(PROTOBUFC_LIBS) $(CUNIT_LIBS)
noinst_HEADERS += tests/cutest.h
