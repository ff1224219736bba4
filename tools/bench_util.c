/*
 * bench_util.c -- timing, option values, random numbers and JSON for the
 * zpbench subcommands (see bench.h).
 *
 * The generator is xoshiro256** seeded through splitmix64: fast, good
 * enough for test data, and the same sequence on every machine, so a corpus
 * is a function of its seed.
 */

#include <sys/mman.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "page.h"
#include "pool.h"

uint64_t
bench_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double
bench_mbps(uint64_t bytes, uint64_t ns)
{
	if (ns == 0)
		ns = 1;
	return (double)bytes * 1e3 / (double)ns;
}

void
bench_sample_add(struct bench_samples *s, double v)
{
	if (s->n < BENCH_MAX_REPS)
		s->v[s->n++] = v;
}

static int
double_cmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
bench_median(const struct bench_samples *s)
{
	double	v[BENCH_MAX_REPS];

	if (s->n == 0)
		return 0;
	memcpy(v, s->v, s->n * sizeof v[0]);
	qsort(v, s->n, sizeof v[0], double_cmp);
	if (s->n % 2 == 1)
		return v[s->n / 2];
	return (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

double
bench_best(const struct bench_samples *s)
{
	double		best = 0;
	unsigned	i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] > best)
			best = s->v[i];
	return best;
}

void *
bench_alloc(size_t len)
{
	void	*p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Not zero: a zero fill of fresh memory may be skipped as a no-op
	   (malloc + memset becomes calloc), leaving the faults to the clock. */
	memset(p, 0xa5, len);
	return p;
}

uint64_t
bench_touch(const void *p, size_t len)
{
	const volatile uint8_t	*b = p;
	uint64_t		 sum = 0;
	size_t			 i;

	for (i = 0; i < len; i += PAGE_SIZE_4K)
		sum += b[i];
	return sum;
}

void
bench_free(void *p, size_t len)
{
	if (p != NULL)
		munmap(p, len);
}

int
bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v,
    const char **cause)
{
	unsigned long long	 n;
	char			*end;

	if (*s == '\0' || *s == '-' || *s == '+') {
		*cause = "not a number";
		return -1;
	}
	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0') {
		*cause = "not a number";
		return -1;
	}
	if (n < min || n > max) {
		*cause = "out of range";
		return -1;
	}
	*v = n;
	return 0;
}

int
bench_parse_double(const char *s, double min, double max, double *v,
    const char **cause)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(s, &end);
	if (*s == '\0' || errno != 0 || *end != '\0' || !isfinite(d)) {
		*cause = "not a number";
		return -1;
	}
	if (d < min || d > max) {
		*cause = "out of range";
		return -1;
	}
	*v = d;
	return 0;
}

int
bench_parse_fraction(const char *s, double *v, const char **cause)
{
	if (bench_parse_double(s, 0, 1, v, cause) == -1) {
		if (strcmp(*cause, "out of range") == 0)
			*cause = "not a fraction between 0 and 1";
		return -1;
	}
	return 0;
}

uint64_t
bench_splitmix64(uint64_t *state)
{
	uint64_t	z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
bench_rng_seed(struct bench_rng *r, uint64_t seed)
{
	unsigned	i;

	for (i = 0; i < 4; i++)
		r->s[i] = bench_splitmix64(&seed);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
bench_rng_next(struct bench_rng *r)
{
	uint64_t	*s = r->s;
	uint64_t	 out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint64_t
bench_rng_below(struct bench_rng *r, uint64_t n)
{
	/* Multiply-shift: bias below 2^-32 for the n used here. */
	return (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64);
}

double
bench_rng_unit(struct bench_rng *r)
{
	return (double)(bench_rng_next(r) >> 11) * 0x1.0p-53;
}

void
bench_json_begin(struct bench_json *j, FILE *f)
{
	j->f = f;
	j->n = 0;
	fputc('{', f);
}

static void
json_key(struct bench_json *j, const char *k)
{
	fprintf(j->f, "%s\"%s\":", j->n++ == 0 ? "" : ",", k);
}

void
bench_json_u64(struct bench_json *j, const char *k, uint64_t v)
{
	json_key(j, k);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void
bench_json_double(struct bench_json *j, const char *k, double v)
{
	json_key(j, k);
	if (isfinite(v))
		fprintf(j->f, "%.4f", v);
	else
		fputs("null", j->f);
}

void
bench_json_maybe(struct bench_json *j, const char *k, bool have, double v)
{
	if (have)
		bench_json_double(j, k, v);
	else
		bench_json_null(j, k);
}

void
bench_json_maybe_u64(struct bench_json *j, const char *k, bool have,
    uint64_t v)
{
	if (have)
		bench_json_u64(j, k, v);
	else
		bench_json_null(j, k);
}

void
bench_json_str(struct bench_json *j, const char *k, const char *v)
{
	const char	*p;

	json_key(j, k);
	fputc('"', j->f);
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(j->f, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			fprintf(j->f, "\\u%04x", (unsigned char)*p);
		else
			fputc(*p, j->f);
	}
	fputc('"', j->f);
}

void
bench_json_null(struct bench_json *j, const char *k)
{
	json_key(j, k);
	fputs("null", j->f);
}

void
bench_json_end(struct bench_json *j)
{
	fputs("}\n", j->f);
	fflush(j->f);
}

/*
 * A store into a new pool pays this for every frame it reaches first
 * (pool_frames_populate); on the PVM guests of docs/performance.md it is
 * much of the gap to bare lz4.
 */
double
bench_frame_us(void)
{
	static uint8_t	 src[BENCH_PROBE_WRITE];
	uint8_t		*map;
	uint64_t	 t0, t_new, t_in;
	size_t		 len = (size_t)BENCH_PROBE_FRAMES * PAGE_SIZE_4K, f;
	bool		 no_populate = false;
	int		 fd;

	memset(src, 0x5a, sizeof src);
	if ((fd = memfd_create("zpbench-frames", MFD_CLOEXEC)) == -1)
		return -1;
	if (ftruncate(fd, (off_t)len) == -1 || (map = mmap(NULL, len,
	    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		close(fd);
		return -1;
	}
	t0 = bench_now_ns();
	for (f = 0; f < BENCH_PROBE_FRAMES; f++) {
		pool_frames_populate(map + f * PAGE_SIZE_4K, 1, &no_populate);
		memcpy(map + f * PAGE_SIZE_4K, src, sizeof src);
	}
	t_new = bench_now_ns() - t0;
	t0 = bench_now_ns();
	for (f = 0; f < BENCH_PROBE_FRAMES; f++)
		memcpy(map + f * PAGE_SIZE_4K + sizeof src, src, sizeof src);
	t_in = bench_now_ns() - t0;
	munmap(map, len);
	close(fd);
	if (t_in > t_new)
		return 0;
	return (double)(t_new - t_in) / BENCH_PROBE_FRAMES / 1000;
}
