/*
 * bench.h -- what the zpbench subcommands share.
 *
 * zpbench is a table of subcommands (zpbench.c); each lives in its own
 * bench_*.c and takes argc/argv with argv[0] its own name.  The pieces a
 * new subcommand is likely to want are here as plain functions: timing
 * (samples summarised as median and best), the bare codec baseline, the
 * kernel zram comparison, option parsing and the one-line JSON writer.
 * They print nothing unless their name says so, and exit only through
 * err(3) in the subcommand that called them.
 */
#ifndef ZP_BENCH_H
#define ZP_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "codec.h"

/* Exit codes shared by every subcommand. */
#define BENCH_EXIT_OK		0
#define BENCH_EXIT_ERROR	1
#define BENCH_EXIT_USAGE	2

/* Timed runs behind every throughput figure: default and most. */
#define BENCH_REPS		5
#define BENCH_MAX_REPS		15

struct bench_cmd {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*summary;
};

int		 cmd_gen(int, char **);
int		 cmd_capture(int, char **);
int		 cmd_pool(int, char **);
int		 cmd_rpc(int, char **);
int		 cmd_dedup(int, char **);

/* --- timing (bench_util.c) --- */

uint64_t	 bench_now_ns(void);
/* MB/s (10^6 bytes per second) of `bytes` done in `ns`. */
double		 bench_mbps(uint64_t bytes, uint64_t ns);

/*
 * Throughput samples of one measurement.  On a shared machine the median
 * is the figure to quote; the best is the machine's ceiling.
 */
struct bench_samples {
	double		v[BENCH_MAX_REPS];
	unsigned	n;
};

void		 bench_sample_add(struct bench_samples *s, double v);
double		 bench_median(const struct bench_samples *s);
double		 bench_best(const struct bench_samples *s);

/*
 * Page-aligned private memory, faulted in before any clock runs (a page
 * fault per page would otherwise be timed as part of what writes it).
 * NULL on failure.
 */
/*
 * What bringing in one new frame costs here, in microseconds, the way the
 * pool brings its frames in: BENCH_PROBE_FRAMES frames of a memfd of its
 * own, each populated and written BENCH_PROBE_WRITE bytes, less the same
 * writes to frames already in.  -1 on error.
 */
#define BENCH_PROBE_FRAMES	4096	/* 16 MiB, about 40 ms at 10 us */
#define BENCH_PROBE_WRITE	1024	/* about a stored object's share */
double		 bench_frame_us(void);

void		*bench_alloc(size_t len);
void		 bench_free(void *p, size_t len);

/*
 * Read a byte of every page of [p, p + len), so a process forked with
 * the memory maps it before a clock runs: in a guest with shadow page
 * tables every first access of a page costs a trap to the host.  The
 * sum is returned only so the reads are not left out.
 */
uint64_t	 bench_touch(const void *p, size_t len);

/* --- option values (bench_util.c); -1 with *cause on a bad value --- */

int		 bench_parse_u64(const char *s, uint64_t min, uint64_t max,
		     uint64_t *v, const char **cause);
int		 bench_parse_fraction(const char *s, double *v,
		     const char **cause);
int		 bench_parse_double(const char *s, double min, double max,
		     double *v, const char **cause);

/* --- deterministic random numbers (bench_util.c) --- */

struct bench_rng {
	uint64_t	s[4];
};

uint64_t	 bench_splitmix64(uint64_t *state);
void		 bench_rng_seed(struct bench_rng *r, uint64_t seed);
uint64_t	 bench_rng_next(struct bench_rng *r);
/* Uniform in [0, n), n > 0. */
uint64_t	 bench_rng_below(struct bench_rng *r, uint64_t n);
/* Uniform in [0, 1). */
double		 bench_rng_unit(struct bench_rng *r);

/* --- the bare codec baseline (bench_codec.c) --- */

/*
 * Single-thread compress and decompress of every page with one codec
 * context, the limit any store or load path is measured against.  Both
 * write into one large buffer, as a pool writes into its frames.
 */
struct codec_bench {
	uint64_t		pages;
	uint64_t		orig_bytes;
	uint64_t		compr_bytes;	/* sum of compressed lengths */
	struct bench_samples	compress_mbps;
	struct bench_samples	decompress_mbps;
	uint64_t		verify_errors;
};

int		 codec_bench_run(const struct codec_spec *spec,
		     const uint8_t *pages, size_t npages, unsigned reps,
		     struct codec_bench *cb, const char **cause);

/* --- the kernel zram device (bench_zram.c) --- */

struct zram_bench {
	bool			measured;
	char			skipped[160];	/* why not, when !measured */
	/* mm_stat after writing every page, as the kernel counts them */
	uint64_t		orig_data_size;
	uint64_t		compr_data_size;
	uint64_t		mem_used_total;
	uint64_t		same_pages;
	uint64_t		huge_pages;
	struct bench_samples	write_mbps;
	struct bench_samples	read_mbps;
	uint64_t		verify_errors;
};

/*
 * Write every page into /dev/zram0 with lz4 and O_DIRECT, read mm_stat,
 * read them back and verify; `reps` times on a freshly reset device.
 * zram0 is reset afterwards on every path, including exit() and fatal
 * signals while the device is set up (zram_bench_guard installs that).
 * Returns 0 when measured, 0 with zb->skipped set when zram is absent,
 * busy or we are not root, and -1 with *cause on a failure part way.
 * `pages` must be 4096-aligned.
 */
int		 zram_bench_run(const uint8_t *pages, size_t npages,
		     unsigned reps, struct zram_bench *zb, const char **cause);

/* --- one JSON object on one line (bench_util.c) --- */

struct bench_json {
	FILE		*f;
	unsigned	 n;
};

void		 bench_json_begin(struct bench_json *j, FILE *f);
void		 bench_json_u64(struct bench_json *j, const char *k,
		     uint64_t v);
void		 bench_json_double(struct bench_json *j, const char *k,
		     double v);
/* A double that was not measured: written as null. */
void		 bench_json_maybe(struct bench_json *j, const char *k,
		     bool have, double v);
void		 bench_json_maybe_u64(struct bench_json *j, const char *k,
		     bool have, uint64_t v);
void		 bench_json_str(struct bench_json *j, const char *k,
		     const char *v);
void		 bench_json_null(struct bench_json *j, const char *k);
void		 bench_json_end(struct bench_json *j);

#endif /* ZP_BENCH_H */
