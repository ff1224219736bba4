/*
 * bench_gen.c -- `zpbench gen`: synthetic corpora that look like process
 * memory.
 *
 * A data page is a run of chunks (32..504 bytes) of the things anonymous
 * memory is made of: text from a vocabulary, small integers and counters,
 * pointers that share their high bits, arrays of structs mixing all three;
 * plus random bytes (already-compressed or encrypted data) and zero runs
 * (padding, unused tails).  One knob x in [0, 2] sets the mix: below 1 a
 * fraction 1 - x of the chunks are random; above 1 a growing fraction are
 * zero.  Each page jitters x, so the compressed sizes spread over many
 * size classes as real pages do, and a few pages are mostly random
 * whatever x is, as the compressed or encrypted buffers of a real process
 * are.  x is found by bisection on a sample until
 * lz4 gives the requested ratio.
 *
 * Chunk layout and kind are drawn from one generator and the bytes from
 * another, so moving x changes which chunks are random or zero and nothing
 * else: the ratio is monotonic in x and the bisection converges.  Every
 * page is a function of (seed, index), so a duplicate regenerates its
 * source instead of keeping the corpus in memory.
 */

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "bench.h"
#include "corpus.h"
#include "page.h"
#include "size.h"

#define GEN_VOCAB	512
#define GEN_WORD_MAX	16
#define GEN_JITTER	0.35	/* per-page spread of x */
#define GEN_ZERO_MAX	0.95	/* zero chunks at x = 2 */
#define GEN_NOISY	0.03	/* pages of mostly random bytes */
#define GEN_SAMPLE	512	/* pages to calibrate x on */
#define GEN_STEPS	18	/* bisection steps */
#define GEN_MAX_PAGES	(1ull << 26)	/* 256 GiB of corpus */

enum chunk_kind {
	CHUNK_TEXT,
	CHUNK_INTS,
	CHUNK_PTRS,
	CHUNK_STRUCTS,
	NR_STRUCTURED,
};

enum page_kind {
	PAGE_DATA,
	PAGE_ZERO,
	PAGE_SAME,
	PAGE_DUP,
};

struct gen {
	uint64_t	seed;
	char		words[GEN_VOCAB][GEN_WORD_MAX];
	uint8_t		wlen[GEN_VOCAB];
	uint64_t	heap_base;	/* brk heap: 0x55.. */
	uint64_t	mmap_base;	/* mmap area: 0x7f.. */
};

/* Syllables for pseudo-words: text compresses as text, not as noise. */
static const char *const syllables[] = {
	"a", "al", "an", "ar", "at", "be", "ca", "ce", "co", "de", "di",
	"el", "en", "er", "es", "fo", "ga", "he", "in", "is", "it", "ka",
	"la", "le", "li", "lo", "ma", "me", "mi", "mo", "na", "ne", "no",
	"on", "or", "pa", "pe", "po", "ra", "re", "ri", "ro", "sa", "se",
	"si", "so", "st", "ta", "te", "ti", "to", "tr", "un", "ur", "va",
	"ve", "vi", "wa", "we", "xi", "ya", "ze", "str", "ing", "ion",
};
#define NR_SYLLABLES (sizeof syllables / sizeof syllables[0])

static void
gen_init(struct gen *g, uint64_t seed)
{
	struct bench_rng	r;
	unsigned		i, n, len;
	const char		*s;

	memset(g, 0, sizeof *g);
	g->seed = seed;
	bench_rng_seed(&r, seed ^ 0x766f636162756c61ULL);
	for (i = 0; i < GEN_VOCAB; i++) {
		/* Short words are the common ones: index 0 is picked most. */
		n = 1 + (unsigned)bench_rng_below(&r, 1 + i * 3 / GEN_VOCAB);
		len = 0;
		while (n-- > 0) {
			s = syllables[bench_rng_below(&r, NR_SYLLABLES)];
			if (len + strlen(s) >= GEN_WORD_MAX)
				break;
			memcpy(g->words[i] + len, s, strlen(s));
			len += strlen(s);
		}
		g->wlen[i] = (uint8_t)len;
	}
	g->heap_base = 0x0000550000000000ULL |
	    (bench_rng_below(&r, 1ull << 28) << 12);
	g->mmap_base = 0x00007f0000000000ULL |
	    (bench_rng_below(&r, 1ull << 28) << 12);
}

static void
put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof v);
}

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof v);
}

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof v);
}

static void
chunk_text(const struct gen *g, struct bench_rng *r, uint8_t *p, size_t len)
{
	size_t		off = 0, w;
	double		u;
	uint64_t	sep;

	while (off < len) {
		u = bench_rng_unit(r);
		w = (size_t)(GEN_VOCAB * u * u * u);	/* Zipf-like */
		if (off + g->wlen[w] + 2 > len) {
			memset(p + off, ' ', len - off);
			break;
		}
		memcpy(p + off, g->words[w], g->wlen[w]);
		off += g->wlen[w];
		sep = bench_rng_below(r, 24);
		if (sep == 0)
			p[off++] = ',';
		else if (sep == 1)
			p[off++] = '.';
		p[off++] = sep == 2 ? '\n' : ' ';
	}
}

static void
chunk_ints(struct bench_rng *r, uint8_t *p, size_t len)
{
	size_t		off, width = bench_rng_below(r, 2) ? 8 : 4;
	uint64_t	v, counter = bench_rng_below(r, 100000);
	uint64_t	stride = 1 + bench_rng_below(r, 16), k;

	for (off = 0; off + width <= len; off += width) {
		k = bench_rng_below(r, 20);
		if (k < 10)
			v = bench_rng_below(r, 16);
		else if (k < 15)
			v = bench_rng_below(r, 1024);
		else if (k < 18)
			v = counter += stride;
		else
			v = bench_rng_next(r) & 0xffffffff;
		if (width == 8)
			put64(p + off, v);
		else
			put32(p + off, (uint32_t)v);
	}
}

static uint64_t
pointer(const struct gen *g, struct bench_rng *r)
{
	uint64_t	k = bench_rng_below(r, 20);

	if (k < 3)
		return 0;
	if (k < 6)
		return g->mmap_base + (bench_rng_below(r, 1u << 25) << 3);
	return g->heap_base + (bench_rng_below(r, 1u << 18) << 4);
}

static void
chunk_ptrs(const struct gen *g, struct bench_rng *r, uint8_t *p, size_t len)
{
	size_t	off;

	for (off = 0; off + 8 <= len; off += 8)
		put64(p + off, pointer(g, r));
}

/* A 40-byte record: two links, id, type, flags, refcount, length, key. */
static void
chunk_structs(const struct gen *g, struct bench_rng *r, uint8_t *p,
    size_t len)
{
	uint8_t		rec[40];
	uint32_t	id = (uint32_t)bench_rng_below(r, 1u << 20);
	size_t		off, n;

	for (off = 0; off < len; off += n) {
		put64(rec, pointer(g, r));
		put64(rec + 8, pointer(g, r));
		put32(rec + 16, id++);
		put16(rec + 20, (uint16_t)bench_rng_below(r, 6));
		put16(rec + 22, (uint16_t)(1u << bench_rng_below(r, 4)));
		put32(rec + 24, 1 + (uint32_t)bench_rng_below(r, 4));
		put32(rec + 28, (uint32_t)bench_rng_below(r, 4096));
		put64(rec + 32, bench_rng_below(r, 2) ? bench_rng_next(r) :
		    bench_rng_below(r, 256));
		n = len - off < sizeof rec ? len - off : sizeof rec;
		memcpy(p + off, rec, n);
	}
}

static void
chunk_random(struct bench_rng *r, uint8_t *p, size_t len)
{
	size_t		off;
	uint64_t	v;

	for (off = 0; off < len; off += 8) {
		v = bench_rng_next(r);
		memcpy(p + off, &v, len - off < 8 ? len - off : 8);
	}
}

static uint64_t
page_seed(uint64_t seed, uint64_t index)
{
	uint64_t	s = seed ^ (index * 0xd1b54a32d192ed03ULL);

	return bench_splitmix64(&s);
}

/* One data page at knob x; never same-filled. */
static void
gen_data_page(const struct gen *g, uint64_t index, double x, uint8_t *page)
{
	struct bench_rng	 layout, bytes;
	double			 q, z, u;
	size_t			 off, len;
	unsigned		 dominant, kind;
	uint64_t		 word, s = page_seed(g->seed, index);

	bench_rng_seed(&layout, s);
	bench_rng_seed(&bytes, ~s);
	x += (bench_rng_unit(&layout) - 0.5) * 2 * GEN_JITTER;
	x = x < 0 ? 0 : x > 2 ? 2 : x;
	/* Compressed or encrypted buffers: the pages zram stores raw. */
	if (bench_rng_unit(&layout) < GEN_NOISY)
		x = 0.6 * bench_rng_unit(&layout);
	q = x < 1 ? 1 - x : 0;
	z = x > 1 ? (x - 1) * GEN_ZERO_MAX : 0;
	dominant = (unsigned)bench_rng_below(&layout, NR_STRUCTURED);
	for (off = 0; off < PAGE_SIZE_4K; off += len) {
		len = 8 * (4 + bench_rng_below(&layout, 60));
		if (len > PAGE_SIZE_4K - off)
			len = PAGE_SIZE_4K - off;
		u = bench_rng_unit(&layout);
		kind = bench_rng_below(&layout, 100) < 65 ? dominant :
		    (unsigned)bench_rng_below(&layout, NR_STRUCTURED);
		if (u < q)
			chunk_random(&bytes, page + off, len);
		else if (u >= 1 - z)
			memset(page + off, 0, len);
		else if (kind == CHUNK_TEXT)
			chunk_text(g, &bytes, page + off, len);
		else if (kind == CHUNK_INTS)
			chunk_ints(&bytes, page + off, len);
		else if (kind == CHUNK_PTRS)
			chunk_ptrs(g, &bytes, page + off, len);
		else
			chunk_structs(g, &bytes, page + off, len);
	}
	/* All chunks zero: keep it a data page, and a unique one. */
	if (page_same_filled(page, &word))
		put64(page + 8 * bench_rng_below(&bytes, PAGE_WORDS),
		    bench_rng_next(&bytes) | 1);
}

/* lz4 ratio of the calibration sample at knob x. */
static double
sample_ratio(const struct gen *g, double x, unsigned n)
{
	uint8_t		page[PAGE_SIZE_4K];
	char		dst[LZ4_COMPRESSBOUND(PAGE_SIZE_4K)];
	uint64_t	total = 0;
	unsigned	i;

	for (i = 0; i < n; i++) {
		/* Indices past any real corpus: the sample is not the data. */
		gen_data_page(g, (1ull << 40) + i, x, page);
		total += (uint64_t)LZ4_compress_default((const char *)page,
		    dst, PAGE_SIZE_4K, sizeof dst);
	}
	return (double)n * PAGE_SIZE_4K / (double)total;
}

static double
calibrate(const struct gen *g, double ratio, unsigned n, double *got)
{
	double	lo = 0, hi = 2, mid;
	int	i;

	if ((*got = sample_ratio(g, hi, n)) <= ratio)
		return hi;
	if ((*got = sample_ratio(g, lo, n)) >= ratio)
		return lo;
	for (i = 0; i < GEN_STEPS; i++) {
		mid = (lo + hi) / 2;
		if (sample_ratio(g, mid, n) < ratio)
			lo = mid;
		else
			hi = mid;
	}
	mid = (lo + hi) / 2;
	*got = sample_ratio(g, mid, n);
	return mid;
}

/* Same-filled, as zram means it, with words seen in real memory. */
static uint64_t
same_word(struct bench_rng *r)
{
	switch (bench_rng_below(r, 4)) {
	case 0:
		return ~0ULL;
	case 1:
		return 0x0101010101010101ULL * (1 + bench_rng_below(r, 255));
	case 2:
		return 0x0000000100000001ULL * (1 + bench_rng_below(r, 1000));
	default:
		return bench_rng_next(r) | 1;
	}
}

struct gen_opts {
	const char	*output;
	uint64_t	 pages;
	double		 ratio;
	double		 zero, same, dup;
	uint64_t	 seed;
};

/* Page kinds in scattered order; data_idx lists the data pages. */
static int
plan_pages(const struct gen_opts *o, uint8_t *kinds, uint64_t *data_idx,
    uint64_t *ndata)
{
	struct bench_rng	r;
	uint64_t		nz, ns, nd, i, j, n = o->pages;
	uint8_t			t;

	nz = (uint64_t)llround(o->zero * (double)n);
	ns = (uint64_t)llround(o->same * (double)n);
	nd = (uint64_t)llround(o->dup * (double)n);
	if (nz + ns + nd > n || (nd > 0 && nz + ns + nd == n))
		return -1;
	for (i = 0; i < n; i++)
		kinds[i] = i < nz ? PAGE_ZERO : i < nz + ns ? PAGE_SAME :
		    i < nz + ns + nd ? PAGE_DUP : PAGE_DATA;
	bench_rng_seed(&r, o->seed ^ 0x706c616e6e696e67ULL);
	for (i = n - 1; i > 0; i--) {
		j = bench_rng_below(&r, i + 1);
		t = kinds[i];
		kinds[i] = kinds[j];
		kinds[j] = t;
	}
	*ndata = 0;
	for (i = 0; i < n; i++)
		if (kinds[i] == PAGE_DATA)
			data_idx[(*ndata)++] = i;
	return 0;
}

static void
write_corpus(const struct gen_opts *o, const struct gen *g, double x,
    const uint8_t *kinds, const uint64_t *data_idx, uint64_t ndata,
    struct corpus_writer *w)
{
	struct bench_rng	r;
	uint8_t			page[PAGE_SIZE_4K];
	uint64_t		i, src;

	bench_rng_seed(&r, o->seed ^ 0x6475706c69636174ULL);
	for (i = 0; i < o->pages; i++) {
		switch (kinds[i]) {
		case PAGE_ZERO:
			memset(page, 0, sizeof page);
			break;
		case PAGE_SAME:
			page_fill(page, same_word(&r));
			break;
		case PAGE_DUP:
			src = data_idx[bench_rng_below(&r, ndata)];
			gen_data_page(g, src, x, page);
			break;
		default:
			gen_data_page(g, i, x, page);
			break;
		}
		if (corpus_writer_add(w, page) == -1) {
			corpus_writer_abort(w);
			err(BENCH_EXIT_ERROR, "%s", o->output);
		}
	}
}

static void
gen_usage(FILE *f)
{
	fprintf(f,
	    "usage: zpbench gen -o FILE --pages N [--ratio R] [--zero F] "
	    "[--same F]\n"
	    "                   [--dup F] [--seed S]\n"
	    "Write a corpus of N 4 KiB pages that looks like process memory.\n"
	    "  -o, --output FILE  corpus to write\n"
	    "  -n, --pages N      pages to write\n"
	    "  -r, --ratio R      lz4 ratio of the data pages (default 2.5;\n"
	    "                     1.0..7); zero/same pages come on top\n"
	    "      --zero F       fraction of zero pages (default 0)\n"
	    "      --same F       fraction of same-filled non-zero pages "
	    "(default 0)\n"
	    "      --dup F        fraction of pages that copy a data page "
	    "(default 0)\n"
	    "  -s, --seed S       seed; the corpus is a function of it "
	    "(default 1)\n");
}

static void
gen_parse(int argc, char **argv, struct gen_opts *o)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "pages", required_argument, NULL, 'n' },
		{ "ratio", required_argument, NULL, 'r' },
		{ "zero", required_argument, NULL, 'Z' },
		{ "same", required_argument, NULL, 'S' },
		{ "dup", required_argument, NULL, 'D' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*cause;
	double		*frac;
	int		 ch;

	memset(o, 0, sizeof *o);
	o->ratio = 2.5;
	o->seed = 1;
	while ((ch = getopt_long(argc, argv, "o:n:r:s:h", longopts,
	    NULL)) != -1) {
		cause = NULL;
		switch (ch) {
		case 'o':
			o->output = optarg;
			break;
		case 'n':
			if (bench_parse_u64(optarg, 1, GEN_MAX_PAGES, &o->pages,
			    &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--pages %s: %s", optarg,
				    cause);
			break;
		case 'r':
			if (bench_parse_double(optarg, 1.0, 7.0, &o->ratio,
			    &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--ratio %s: %s "
				    "(1.0..7)", optarg, cause);
			break;
		case 'Z':
		case 'S':
		case 'D':
			frac = ch == 'Z' ? &o->zero : ch == 'S' ? &o->same :
			    &o->dup;
			if (bench_parse_fraction(optarg, frac, &cause) == -1)
				errx(BENCH_EXIT_USAGE, "%s: %s", optarg, cause);
			break;
		case 's':
			if (bench_parse_u64(optarg, 0, UINT64_MAX, &o->seed,
			    &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--seed %s: %s", optarg,
				    cause);
			break;
		case 'h':
			gen_usage(stdout);
			exit(BENCH_EXIT_OK);
		default:
			gen_usage(stderr);
			exit(BENCH_EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("gen: unexpected argument '%s'", argv[optind]);
		gen_usage(stderr);
		exit(BENCH_EXIT_USAGE);
	}
	if (o->output == NULL || o->pages == 0) {
		warnx("gen: -o FILE and --pages N are required");
		gen_usage(stderr);
		exit(BENCH_EXIT_USAGE);
	}
	if (o->zero + o->same + o->dup > 1.0)
		errx(BENCH_EXIT_USAGE, "gen: --zero, --same and --dup add up "
		    "to more than 1");
}

int
cmd_gen(int argc, char **argv)
{
	struct gen_opts		 o;
	struct gen		*g;
	struct corpus_writer	*w;
	struct corpus		 c;
	struct corpus_desc	 d;
	const char		*cause;
	uint8_t			*kinds;
	uint64_t		*data_idx, ndata;
	double			 x, got;
	char			 sz[SIZE_FORMAT_LEN];

	gen_parse(argc, argv, &o);
	if ((g = malloc(sizeof *g)) == NULL ||
	    (kinds = malloc(o.pages)) == NULL ||
	    (data_idx = malloc(o.pages * sizeof *data_idx)) == NULL)
		err(BENCH_EXIT_ERROR, "gen");
	gen_init(g, o.seed);
	if (plan_pages(&o, kinds, data_idx, &ndata) == -1)
		errx(BENCH_EXIT_USAGE, "gen: no data page left for the "
		    "duplicates to copy (lower --zero, --same or --dup)");
	x = calibrate(g, o.ratio, GEN_SAMPLE, &got);
	if (fabs(got - o.ratio) > 0.05 * o.ratio)
		warnx("gen: lz4 ratio %.2f is out of reach; closest is %.2f",
		    o.ratio, got);
	if ((w = corpus_writer_open(o.output)) == NULL)
		err(BENCH_EXIT_ERROR, "%s", o.output);
	write_corpus(&o, g, x, kinds, data_idx, ndata, w);
	if (corpus_writer_close(w) == -1)
		err(BENCH_EXIT_ERROR, "%s", o.output);
	free(data_idx);
	free(kinds);
	free(g);

	if (corpus_load(o.output, &c, &cause) == -1)
		err(BENCH_EXIT_ERROR, "%s: %s", o.output, cause);
	if (corpus_describe(&c, &d, &cause) == -1)
		errx(BENCH_EXIT_ERROR, "gen: %s", cause);
	printf("corpus %s\n", o.output);
	printf("size %s\n", size_format(c.npages * (uint64_t)PAGE_SIZE_4K,
	    sz, sizeof sz));
	printf("seed %llu\n", (unsigned long long)o.seed);
	printf("requested ratio %.2f zero %.4f same %.4f dup %.4f\n",
	    o.ratio, o.zero, o.same, o.dup);
	printf("knob %.4f (sample of %u data pages: lz4 ratio %.3f)\n", x,
	    GEN_SAMPLE, got);
	printf("measured:\n");
	corpus_desc_print(&d, "  ", stdout);
	corpus_free(&c);
	return BENCH_EXIT_OK;
}
