/*
 * zpbench.c -- the zpoold benchmark: main() and the subcommand table.
 *
 * Each subcommand is one function in its own file (bench_<name>.c) that
 * parses its own options; adding one is a line in `cmds` and a prototype
 * in bench.h.  Exit codes are the same for all: 0 done, 1 failed, 2 usage.
 */

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const struct bench_cmd cmds[] = {
	{ "gen", cmd_gen, "write a synthetic corpus of 4 KiB pages" },
	{ "capture", cmd_capture,
	    "snapshot the anonymous memory of processes into a corpus" },
	{ "pool", cmd_pool,
	    "store and load a corpus in the pool; compare with lz4/zstd and "
	    "zram" },
	{ "rpc", cmd_rpc,
	    "zpoold end to end: batched clients, load latency, idle memory" },
	{ "dedup", cmd_dedup,
	    "K copies of a corpus with dedup inline, off and merged; and zram" },
};
#define NR_CMDS (sizeof cmds / sizeof cmds[0])

static void
usage(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: zpbench COMMAND [options]   "
	    "(zpbench COMMAND --help for its options)\n"
	    "       zpbench -h | -V\n");
	for (i = 0; i < NR_CMDS; i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
}

int
main(int argc, char **argv)
{
	size_t	i;

	if (argc < 2) {
		usage(stderr);
		return BENCH_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return BENCH_EXIT_OK;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("zpbench %s\n", PACKAGE_VERSION);
		return BENCH_EXIT_OK;
	}
	for (i = 0; i < NR_CMDS; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	warnx("unknown command '%s'", argv[1]);
	usage(stderr);
	return BENCH_EXIT_USAGE;
}
