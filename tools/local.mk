# tools/ -- zpctl and zpbench.

# zpbench: corpora (gen, capture) and the pool benchmark.  The subcommands
# share bench.h; docs/performance.md has the figures `make bench` prints.
bin_PROGRAMS += tools/zpbench
tools_zpbench_SOURCES = \
	tools/zpbench.c tools/bench.h \
	tools/bench_util.c tools/bench_codec.c tools/bench_zram.c \
	tools/bench_gen.c tools/bench_capture.c tools/bench_pool.c \
	tools/bench_rpc.c \
	tools/bench_dedup.c \
	tools/corpus.c tools/corpus.h
tools_zpbench_CFLAGS = $(AM_CFLAGS) $(LZ4_CFLAGS) $(XXHASH_CFLAGS) \
	$(PROTOBUFC_CFLAGS)
# rpc is a client of zpoold.
tools_zpbench_LDADD = client/libzpclient.la \
	daemon/libzpdaemon.la common/libzpcommon.la \
	$(LZ4_LIBS) $(XXHASH_LIBS) -lm
dist_man_MANS += docs/zpbench.1
EXTRA_DIST += tools/bench.sh

# `make bench`: the standard corpora into $(BENCH_DIR), then `zpbench pool`
# on each with lz4 and zstd.  BENCH_PIDS adds processes to the capture.
BENCH_DIR = bench
BENCH_PAGES = 65536
BENCH_PIDS =
bench: tools/zpbench$(EXEEXT)
	$(SHELL) $(top_srcdir)/tools/bench.sh ./tools/zpbench$(EXEEXT) \
		$(BENCH_DIR) $(BENCH_PAGES) $(BENCH_PIDS)
.PHONY: bench
CLEANFILES += $(BENCH_DIR)/mixed.corpus $(BENCH_DIR)/capture.corpus
CLEANFILES += $(BENCH_DIR)/nodup.corpus $(BENCH_DIR)/halfdup.corpus \
	$(BENCH_DIR)/perl4.corpus $(BENCH_DIR)/fork4.corpus

# zpctl: the admin tool.  libzpclient gives it zp_socket_path() and
# zp_strerror(), so the tool and the library agree on both.
bin_PROGRAMS += tools/zpctl
tools_zpctl_SOURCES = tools/zpctl.c
tools_zpctl_CFLAGS = $(AM_CFLAGS) $(PROTOBUFC_CFLAGS)
tools_zpctl_LDADD = client/libzpclient.la common/libzpcommon.la
dist_man_MANS += docs/zpctl.8
