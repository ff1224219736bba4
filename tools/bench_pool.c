/*
 * bench_pool.c -- `zpbench pool`: the pool on a corpus, against the bare
 * codec and the kernel's zram on the same pages.
 *
 * One run creates a pool, stores every page (T threads, each a contiguous
 * share of the corpus), loads every page back into a separate buffer and
 * checks it byte for byte outside the clock, frees every page and stores
 * them all again -- the refill: a pool in use, whose emptied zspages
 * still hold their frames (pool.c), as zpoold's does between trims --
 * checks that too, then destroys the pool.  Runs
 * are repeated (--runs, default BENCH_REPS), each on a fresh pool and each
 * followed by one run of the bare codec baseline.  The store/compress and
 * load/decompress ratios are the median of the per-run ratios: on a shared
 * machine a neighbour that slows one run slows its pair too, which a ratio
 * of two medians would not see.  Density figures come from the first run (they do not depend
 * on timing with one thread; with several, objects land in a different
 * order but the totals agree to a few frames).
 */

#include <sys/resource.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "corpus.h"
#include "page.h"
#include "pool.h"
#include "size.h"

#define MAX_THREADS	64

/* Targets of issue 2, checked at the end of the report. */
#define TARGET_OVERHEAD_PCT	2.0
#define TARGET_META_PER_PAGE	24.0
#define TARGET_STORE_RATIO	0.90
#define TARGET_LOAD_RATIO	0.85

struct pool_opts {
	const char		*corpus;
	struct codec_spec	 codec;
	unsigned		 threads;
	unsigned		 max_frames;	/* 0: pool default */
	unsigned		 huge_threshold;	/* 0: pool default */
	unsigned		 runs;
	bool			 json;
	bool			 verbose;
	bool			 no_zram;
};

struct worker {
	pthread_t		 thread;
	pthread_barrier_t	*barrier;
	struct pool		*pool;
	const struct codec_spec	*codec;
	const uint8_t		*pages;
	uint8_t			*out;
	uint32_t		*ids;
	unsigned		*csize;
	size_t			 first, n;
	uint64_t		 store_ns, load_ns, refill_ns;
	uint64_t		 store_minflt;
	struct pool_stats	*stats;		/* thread 0: after the loads */
	uint64_t		 errors;	/* failed stores, loads, compares */
	const char		*failed;	/* why the run stopped */
};

/* What one run measured. */
struct pool_run {
	struct pool_stats	 st;
	uint64_t		 compr_bytes;	/* sum of stored sizes */
	uint64_t		 errors;
	uint64_t		 minflt;
	unsigned		 huge_threshold;
	double			 store_mbps;	/* mean over threads */
	double			 load_mbps;
	double			 refill_mbps;
	double			 store_total_mbps;	/* all threads */
	double			 load_total_mbps;
	double			 compact_ms;	/* half freed, then compacted */
	uint64_t		 compact_frames;	/* released */
	uint64_t		 compact_moved;		/* objects */
	uint64_t		 compact_left_frames;	/* after it */
	uint64_t		 compact_left_compr;	/* bytes left */
};

static uint64_t
thread_minflt(void)
{
	struct rusage	ru;

	if (getrusage(RUSAGE_THREAD, &ru) == -1)
		return 0;
	return (uint64_t)ru.ru_minflt;
}

/* Store every page; returns the time it took, minor faults in *minflt. */
static uint64_t
worker_store(struct worker *w, struct codec_ctx *ctx, uint64_t *minflt)
{
	uint64_t	t0, f0, ns;
	size_t		i;

	f0 = thread_minflt();
	t0 = bench_now_ns();
	for (i = 0; i < w->n; i++) {
		if (pool_store(w->pool, ctx, w->pages + i * (size_t)PAGE_SIZE_4K,
		    &w->ids[i], &w->csize[i]) != 0) {
			w->failed = "store failed (arena full or out of memory)";
			w->ids[i] = 0;
			w->errors++;
		}
	}
	ns = bench_now_ns() - t0;
	*minflt = thread_minflt() - f0;
	return ns;
}

/* Every page back into w->out; returns the time it took. */
static uint64_t
worker_load(struct worker *w, struct codec_ctx *ctx)
{
	uint64_t	t0;
	size_t		i;

	t0 = bench_now_ns();
	for (i = 0; i < w->n; i++) {
		if (w->ids[i] == 0)
			continue;
		if (pool_load(w->pool, ctx, w->ids[i],
		    w->out + i * (size_t)PAGE_SIZE_4K) != 0)
			w->errors++;
	}
	return bench_now_ns() - t0;
}

/* Byte-exact, off the clock. */
static void
worker_verify(struct worker *w)
{
	size_t	i;

	for (i = 0; i < w->n; i++)
		if (w->ids[i] != 0 && memcmp(w->out + i * (size_t)PAGE_SIZE_4K,
		    w->pages + i * (size_t)PAGE_SIZE_4K, PAGE_SIZE_4K) != 0)
			w->errors++;
}

/*
 * Compaction after a churn: every other page of the refilled pool freed
 * (holes in every zspage), then one pool_compact, timed; the pages left
 * are loaded and compared after it.  Single thread, after the workers.
 */
static void
compact_run(struct pool *p, const struct codec_spec *spec,
    const struct corpus *c, uint32_t *ids, uint8_t *out, struct pool_run *run)
{
	struct codec_ctx	*ctx;
	struct pool_stats	 st;
	uint64_t		 t0;
	size_t			 i;

	for (i = 0; i < c->npages; i += 2)
		if (ids[i] != 0) {
			if (pool_put(p, ids[i]) != 0)
				run->errors++;
			ids[i] = 0;
		}
	t0 = bench_now_ns();
	run->compact_frames = pool_compact(p, &run->compact_moved);
	run->compact_ms = (double)(bench_now_ns() - t0) / 1e6;
	pool_stats(p, &st);
	run->compact_left_frames = st.frames;
	run->compact_left_compr = st.compr_data_size;
	if ((ctx = codec_ctx_new(spec)) == NULL)
		errx(BENCH_EXIT_ERROR, "cannot create a codec context");
	for (i = 1; i < c->npages; i += 2)
		if (ids[i] != 0 && (pool_load(p, ctx, ids[i], out) != 0 ||
		    memcmp(out, corpus_page(c, i), PAGE_SIZE_4K) != 0))
			run->errors++;
	codec_ctx_free(ctx);
}

static void
worker_free(struct worker *w)
{
	size_t	i;

	for (i = 0; i < w->n; i++)
		if (w->ids[i] != 0 && pool_put(w->pool, w->ids[i]) != 0)
			w->errors++;
}

/*
 * Store, load; thread 0 reads the figures once every thread has loaded;
 * free, store again into the emptied zspages (timed), load.  Every
 * thread reaches every barrier, even without a context.
 */
static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct codec_ctx	*ctx;
	uint64_t		 minflt;

	ctx = codec_ctx_new(w->codec);
	if (ctx == NULL)
		w->failed = "cannot create a codec context";
	pthread_barrier_wait(w->barrier);
	if (ctx != NULL)
		w->store_ns = worker_store(w, ctx, &w->store_minflt);
	pthread_barrier_wait(w->barrier);
	if (ctx != NULL) {
		w->load_ns = worker_load(w, ctx);
		worker_verify(w);
	}
	pthread_barrier_wait(w->barrier);
	if (w->stats != NULL)
		pool_stats(w->pool, w->stats);
	pthread_barrier_wait(w->barrier);
	if (ctx != NULL)
		worker_free(w);
	pthread_barrier_wait(w->barrier);
	if (ctx != NULL) {
		w->refill_ns = worker_store(w, ctx, &minflt);
		(void)worker_load(w, ctx);
		worker_verify(w);
	}
	codec_ctx_free(ctx);
	return NULL;
}

static uint64_t
arena_bytes(size_t npages)
{
	/* Every page raw, plus a partly used zspage of the largest kind in
	   every class. */
	uint64_t	b = npages * (uint64_t)PAGE_SIZE_4K +
	    (POOL_NR_CLASSES + 1) * (uint64_t)POOL_MAX_ZSPAGE_FRAMES *
	    PAGE_SIZE_4K;

	return (b + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
}

/*
 * Where the frames go, beyond the stored bytes: each slot rounds its
 * object up (and holds its header); the touched frames also hold free
 * slots and the bytes past a zspage's last slot.  Frames no slot has
 * reached yet are holes, not counted; they are shown apart.
 */
struct class_waste {
	uint64_t	bytes;		/* stored */
	uint64_t	rounding;	/* slot size - stored, summed */
	uint64_t	free;		/* touched, not in a live slot */
	uint64_t	holes;		/* untouched frames, bytes */
};

static void
print_class(const struct pool_class_stats *cs, struct class_waste *w,
    FILE *f)
{
	uint64_t	span, slots;

	span = cs->frames * (uint64_t)PAGE_SIZE_4K;
	slots = cs->zspages * cs->objs_per_zspage;
	w->bytes += cs->bytes;
	w->rounding += cs->objects * cs->size - cs->bytes;
	w->free += span - cs->objects * cs->size;
	w->holes += (cs->zspages * cs->frames_per_zspage - cs->frames) *
	    (uint64_t)PAGE_SIZE_4K;
	fprintf(f, "  class %4u %2u %3u %8llu %8llu %9llu %11llu %6.2f "
	    "%6.2f\n", cs->size, cs->frames_per_zspage, cs->objs_per_zspage,
	    (unsigned long long)cs->zspages, (unsigned long long)cs->frames,
	    (unsigned long long)cs->objects,
	    (unsigned long long)cs->bytes,
	    slots == 0 ? 0 : 100.0 * (double)cs->objects / (double)slots,
	    span == 0 ? 0 : 100.0 * (double)cs->bytes / (double)span);
}

static void
print_classes(struct pool *p, FILE *f)
{
	struct pool_class_stats	*cs;
	struct class_waste	 w;
	unsigned		 i, n;
	double			 b;

	if ((cs = calloc(POOL_NR_CLASSES + 1, sizeof *cs)) == NULL)
		err(BENCH_EXIT_ERROR, "pool");
	n = pool_class_stats(p, cs, POOL_NR_CLASSES + 1);
	if (n > POOL_NR_CLASSES + 1)
		n = POOL_NR_CLASSES + 1;
	memset(&w, 0, sizeof w);
	fprintf(f, "classes (size frames/zspage objs/zspage zspages "
	    "touched_frames objects bytes\n  slot_use%% byte_use%%):\n");
	for (i = 0; i < n; i++)
		print_class(&cs[i], &w, f);
	b = w.bytes == 0 ? 1 : (double)w.bytes;
	fprintf(f, "classes_in_use %u\n", n);
	fprintf(f, "waste_rounding %llu (%.2f%% of stored bytes: slot size "
	    "over object)\n",
	    (unsigned long long)w.rounding, 100.0 * (double)w.rounding / b);
	fprintf(f, "waste_free %llu (%.2f%%: free slots and zspage tails in "
	    "touched frames)\n", (unsigned long long)w.free,
	    100.0 * (double)w.free / b);
	fprintf(f, "untouched %llu (%.2f%%: frames of zspages no slot has "
	    "reached; holes, not counted)\n", (unsigned long long)w.holes,
	    100.0 * (double)w.holes / b);
	free(cs);
}

/* One run on a fresh pool.  Exits on a setup failure. */
static void
pool_run(const struct pool_opts *o, const struct corpus *c, uint8_t *out,
    uint32_t *ids, unsigned *csize, bool verbose, struct pool_run *run)
{
	struct pool_config	 cfg;
	struct pool		*p;
	struct worker		 w[MAX_THREADS];
	pthread_barrier_t	 barrier;
	const char		*cause = NULL;
	uint64_t		 store_max = 0, load_max = 0, bytes;
	size_t			 per, i;
	unsigned		 t;

	memset(&cfg, 0, sizeof cfg);
	cfg.arena_bytes = arena_bytes(c->npages);
	cfg.max_zspage_frames = o->max_frames;
	cfg.huge_threshold = o->huge_threshold;
	cfg.name = "zpbench";
	cfg.retain_empty = true;	/* as zpoold has it */
	if ((p = pool_create(&cfg, &cause)) == NULL)
		errx(BENCH_EXIT_ERROR, "pool_create: %s", cause);
	if ((errno = pthread_barrier_init(&barrier, NULL, o->threads)) != 0)
		err(BENCH_EXIT_ERROR, "pthread_barrier_init");
	memset(w, 0, sizeof w);
	memset(run, 0, sizeof *run);
	per = (c->npages + o->threads - 1) / o->threads;
	for (t = 0; t < o->threads; t++) {
		w[t].barrier = &barrier;
		w[t].pool = p;
		w[t].codec = &o->codec;
		w[t].first = t * per < c->npages ? t * per : c->npages;
		w[t].n = c->npages - w[t].first < per ? c->npages - w[t].first :
		    per;
		w[t].pages = corpus_page(c, w[t].first);
		w[t].out = out + w[t].first * (size_t)PAGE_SIZE_4K;
		w[t].ids = ids + w[t].first;
		w[t].csize = csize + w[t].first;
		w[t].stats = t == 0 ? &run->st : NULL;
		if ((errno = pthread_create(&w[t].thread, NULL, worker_main,
		    &w[t])) != 0)
			err(BENCH_EXIT_ERROR, "pthread_create");
	}
	for (t = 0; t < o->threads; t++) {
		pthread_join(w[t].thread, NULL);
		if (w[t].failed != NULL && cause == NULL)
			cause = w[t].failed;
		bytes = w[t].n * (uint64_t)PAGE_SIZE_4K;
		run->store_mbps += bench_mbps(bytes, w[t].store_ns) / o->threads;
		run->load_mbps += bench_mbps(bytes, w[t].load_ns) / o->threads;
		run->refill_mbps += bench_mbps(bytes, w[t].refill_ns) /
		    o->threads;
		store_max = w[t].store_ns > store_max ? w[t].store_ns :
		    store_max;
		load_max = w[t].load_ns > load_max ? w[t].load_ns : load_max;
		run->errors += w[t].errors;
		run->minflt += w[t].store_minflt;
	}
	pthread_barrier_destroy(&barrier);
	if (cause != NULL)
		warnx("pool: %s", cause);
	bytes = c->npages * (uint64_t)PAGE_SIZE_4K;
	run->store_total_mbps = bench_mbps(bytes, store_max);
	run->load_total_mbps = bench_mbps(bytes, load_max);
	for (i = 0; i < c->npages; i++)
		if (ids[i] != 0)
			run->compr_bytes += csize[i];
	run->huge_threshold = pool_huge_threshold(p);
	if (verbose)
		print_classes(p, stdout);
	compact_run(p, &o->codec, c, ids, out, run);
	pool_destroy(p);
}

static double
pct_over(uint64_t a, uint64_t b)
{
	return b == 0 ? 0 : 100.0 * ((double)a - (double)b) / (double)b;
}

/* Frames over the compressed bytes left after the compaction run, in %. */
static double
compacted_pct(const struct pool_run *run)
{
	return pct_over(run->compact_left_frames * PAGE_SIZE_4K,
	    run->compact_left_compr);
}

static double
div0(double a, double b)
{
	return b == 0 ? 0 : a / b;
}

/*
 * The best store/compress ratio a new pool could reach if storing cost
 * nothing but the bare codec and the new frames: per page, compressing
 * takes 4096 / compress_mbps us, and `frames` new frames over `pages`
 * pages take frame_us each.
 */
static double
frame_ceiling(double compress_mbps, uint64_t frames, size_t pages,
    double frame_us)
{
	double	t_codec = div0(PAGE_SIZE_4K, compress_mbps);

	return div0(t_codec, t_codec + div0((double)frames, (double)pages) *
	    frame_us);
}

static void
print_samples(const char *key, const struct bench_samples *s,
    const char *extra)
{
	unsigned	i;

	printf("  %s %.1f [best %.1f; runs", key, bench_median(s),
	    bench_best(s));
	for (i = 0; i < s->n; i++)
		printf(" %.1f", s->v[i]);
	printf("]%s\n", extra);
}

struct pool_report {
	const struct pool_opts	*o;
	size_t			 npages;
	struct pool_run		 first;
	struct bench_samples	 store, load, store_total, load_total;
	struct bench_samples	 refill;
	struct bench_samples	 store_ratio, load_ratio;	/* per run */
	struct bench_samples	 refill_ratio;
	struct bench_samples	 compact_ms;
	struct bench_samples	 frame_us;	/* bench_frame_us() */
	struct bench_samples	 frame_ceiling;	/* per run */
	uint64_t		 errors;
	struct codec_bench	 cb;
	struct zram_bench	 zb;
	bool			 zram_failed;
};

static void
report_pool(const struct pool_report *r)
{
	const struct pool_stats	*st = &r->first.st;
	uint64_t		 orig = r->npages * (uint64_t)PAGE_SIZE_4K;
	char			 extra[64];
	unsigned		 i;

	printf("pool:\n");
	printf("  pages %zu\n", r->npages);
	printf("  orig_bytes %llu\n", (unsigned long long)orig);
	printf("  compr_bytes %llu (sum of stored sizes; raw pages count "
	    "4096, same-filled 0)\n", (unsigned long long)r->first.compr_bytes);
	printf("  compr_data_size %llu\n",
	    (unsigned long long)st->compr_data_size);
	printf("  mem_used_total %llu\n", (unsigned long long)st->mem_used_total);
	printf("  frames %llu\n", (unsigned long long)st->frames);
	printf("  density %.4f (mem_used_total / orig_bytes)\n",
	    div0((double)st->mem_used_total, (double)orig));
	printf("  overhead %.2f%% (mem_used_total over compr_bytes)\n",
	    pct_over(st->mem_used_total, r->first.compr_bytes));
	printf("  overhead_frames_only %.2f%% (frames * 4096 over "
	    "compr_bytes)\n", pct_over(st->frames * PAGE_SIZE_4K,
	    r->first.compr_bytes));
	printf("  meta_bytes %llu (%.2f B/page)\n",
	    (unsigned long long)st->meta_bytes,
	    div0((double)st->meta_bytes, (double)r->npages));
	printf("  same_pages %llu\n", (unsigned long long)st->same_pages);
	printf("  huge_pages %llu (huge_threshold %u)\n",
	    (unsigned long long)st->huge_pages, r->first.huge_threshold);
	printf("  verify_errors %llu\n", (unsigned long long)r->errors);
	printf("  store_minor_faults %.3f per page\n",
	    div0((double)r->first.minflt, (double)r->npages));
	snprintf(extra, sizeof extra, " per thread; all %u threads %.1f",
	    r->o->threads, bench_median(&r->store_total));
	print_samples("store_mbps", &r->store, extra);
	snprintf(extra, sizeof extra, " per thread; all %u threads %.1f",
	    r->o->threads, bench_median(&r->load_total));
	print_samples("load_mbps", &r->load, extra);
	print_samples("store_refill_mbps", &r->refill, " per thread; every "
	    "page freed, then stored again into the emptied zspages");
	printf("  compact_ms %.2f [runs", bench_median(&r->compact_ms));
	for (i = 0; i < r->compact_ms.n; i++)
		printf(" %.2f", r->compact_ms.v[i]);
	printf("] after every other page was freed; first run: moved %llu, "
	    "released %llu frames\n",
	    (unsigned long long)r->first.compact_moved,
	    (unsigned long long)r->first.compact_frames);
	printf("  compacted_overhead_frames %.2f%% (frames * 4096 over the "
	    "compressed bytes left after that compaction: %llu frames)\n",
	    compacted_pct(&r->first),
	    (unsigned long long)r->first.compact_left_frames);
	printf("  new_frame_us %.2f [runs", bench_median(&r->frame_us));
	for (i = 0; i < r->frame_us.n; i++)
		printf(" %.2f", r->frame_us.v[i]);
	printf("] a new frame of a memfd brought in as the pool does, then "
	    "%u B written,\n    less that write to a frame already in (%u "
	    "frames a run, after the codec run)\n", BENCH_PROBE_WRITE,
	    BENCH_PROBE_FRAMES);
}

static void
report_codec(const struct pool_report *r)
{
	char	name[32];

	printf("codec %s (bare, 1 thread, the limit):\n",
	    codec_format(&r->o->codec, name, sizeof name));
	printf("  compr_bytes %llu\n", (unsigned long long)r->cb.compr_bytes);
	print_samples("compress_mbps", &r->cb.compress_mbps, "");
	print_samples("decompress_mbps", &r->cb.decompress_mbps, "");
	printf("  verify_errors %llu\n", (unsigned long long)r->cb.verify_errors);
	printf("  store/compress %.3f (median of per-run ratios; of medians "
	    "%.3f)\n", bench_median(&r->store_ratio),
	    div0(bench_median(&r->store), bench_median(&r->cb.compress_mbps)));
	printf("  load/decompress %.3f (median of per-run ratios; of medians "
	    "%.3f)\n", bench_median(&r->load_ratio),
	    div0(bench_median(&r->load), bench_median(&r->cb.decompress_mbps)));
	printf("  store_refill/compress %.3f (median of per-run ratios; of "
	    "medians %.3f)\n", bench_median(&r->refill_ratio),
	    div0(bench_median(&r->refill),
	    bench_median(&r->cb.compress_mbps)));
	printf("  store/compress ceiling in a new pool %.3f (median of "
	    "per-run bounds: the bare codec\n    plus %.3f new frames a page "
	    "at new_frame_us each, and nothing else)\n",
	    bench_median(&r->frame_ceiling), div0((double)r->first.st.frames,
	    (double)r->npages));
}

static void
report_zram(const struct pool_report *r)
{
	const struct zram_bench	*zb = &r->zb;

	if (!zb->measured) {
		printf("zram: not measured: %s\n", r->zram_failed ?
		    "failed (see above)" : zb->skipped);
		return;
	}
	printf("zram0 (lz4, O_DIRECT, 1 MiB requests, reset before each "
	    "run and after):\n");
	printf("  orig_data_size %llu\n",
	    (unsigned long long)zb->orig_data_size);
	printf("  compr_data_size %llu\n",
	    (unsigned long long)zb->compr_data_size);
	printf("  mem_used_total %llu\n",
	    (unsigned long long)zb->mem_used_total);
	printf("  overhead %.2f%% (mem_used_total over compr_data_size; "
	    "its slot table, 16 B/page, is not counted)\n",
	    pct_over(zb->mem_used_total, zb->compr_data_size));
	printf("  same_pages %llu\n", (unsigned long long)zb->same_pages);
	printf("  huge_pages %llu\n", (unsigned long long)zb->huge_pages);
	print_samples("write_mbps", &zb->write_mbps, "");
	print_samples("read_mbps", &zb->read_mbps, "");
	printf("  verify_errors %llu\n", (unsigned long long)zb->verify_errors);
	printf("  pool/zram mem_used_total %.4f%s\n",
	    div0((double)r->first.st.mem_used_total,
	    (double)zb->mem_used_total), r->o->codec.id == CODEC_LZ4 ? "" :
	    " (not comparable: the pool did not use lz4)");
}

static const char *
verdict(bool ok)
{
	return ok ? "met" : "MISSED";
}

static void
report_targets(const struct pool_report *r)
{
	const struct pool_stats	*st = &r->first.st;
	double			 ov, meta, sr, lr, rr;

	ov = pct_over(st->mem_used_total, r->first.compr_bytes);
	meta = div0((double)st->meta_bytes, (double)r->npages);
	sr = bench_median(&r->store_ratio);
	lr = bench_median(&r->load_ratio);
	rr = bench_median(&r->refill_ratio);
	printf("targets (issue 2):\n");
	if (r->zb.measured && r->o->codec.id == CODEC_LZ4)
		printf("  mem_used_total <= zram's: %s (%.4f)\n",
		    verdict(st->mem_used_total <= r->zb.mem_used_total),
		    div0((double)st->mem_used_total,
		    (double)r->zb.mem_used_total));
	else
		printf("  mem_used_total <= zram's: not measured\n");
	printf("  overhead <= %.0f%%: %s (%.2f%%)\n", TARGET_OVERHEAD_PCT,
	    verdict(ov <= TARGET_OVERHEAD_PCT), ov);
	printf("  metadata <= %.0f B/page: %s (%.2f)\n", TARGET_META_PER_PAGE,
	    verdict(meta <= TARGET_META_PER_PAGE), meta);
	if (r->o->threads == 1) {
		printf("  store >= %.0f%% of bare compress: %s (%.1f%%; "
		    "a new pool, every frame brought in;\n    its new frames "
		    "alone allow %.1f%% here)\n", 100 * TARGET_STORE_RATIO,
		    verdict(sr >= TARGET_STORE_RATIO), 100 * sr,
		    100 * bench_median(&r->frame_ceiling));
		printf("  store_refill >= %.0f%% of bare compress: %s (%.1f%%; "
		    "a pool in use)\n", 100 * TARGET_STORE_RATIO,
		    verdict(rr >= TARGET_STORE_RATIO), 100 * rr);
		printf("  load >= %.0f%% of bare decompress: %s (%.1f%%)\n",
		    100 * TARGET_LOAD_RATIO, verdict(lr >= TARGET_LOAD_RATIO),
		    100 * lr);
	} else
		printf("  store/load vs bare codec: single-thread targets; "
		    "run with --threads 1\n");
}

static void
report_json(const struct pool_report *r)
{
	const struct pool_stats	*st = &r->first.st;
	const struct zram_bench	*zb = &r->zb;
	struct bench_json	 j;
	char			 name[32], timing[64];
	uint64_t		 orig = r->npages * (uint64_t)PAGE_SIZE_4K;

	bench_json_begin(&j, stdout);
	bench_json_str(&j, "codec", codec_format(&r->o->codec, name,
	    sizeof name));
	bench_json_u64(&j, "threads", r->o->threads);
	bench_json_u64(&j, "pages", r->npages);
	bench_json_u64(&j, "orig_bytes", orig);
	bench_json_u64(&j, "compr_bytes", r->first.compr_bytes);
	bench_json_u64(&j, "mem_used_bytes", st->mem_used_total);
	bench_json_u64(&j, "frames", st->frames);
	bench_json_u64(&j, "meta_bytes", st->meta_bytes);
	bench_json_double(&j, "meta_bytes_per_page",
	    div0((double)st->meta_bytes, (double)r->npages));
	bench_json_double(&j, "density", div0((double)st->mem_used_total,
	    (double)orig));
	bench_json_double(&j, "overhead_pct", pct_over(st->mem_used_total,
	    r->first.compr_bytes));
	bench_json_u64(&j, "same_pages", st->same_pages);
	bench_json_u64(&j, "huge_pages", st->huge_pages);
	bench_json_double(&j, "compact_ms", bench_median(&r->compact_ms));
	bench_json_u64(&j, "compact_moved", r->first.compact_moved);
	bench_json_u64(&j, "compact_frames", r->first.compact_frames);
	bench_json_double(&j, "compacted_overhead_frames_pct",
	    compacted_pct(&r->first));
	bench_json_u64(&j, "verified_pages", r->npages - (r->errors >
	    r->npages ? r->npages : r->errors));
	bench_json_u64(&j, "verify_errors", r->errors);
	bench_json_double(&j, "store_mbps", bench_median(&r->store));
	bench_json_double(&j, "load_mbps", bench_median(&r->load));
	bench_json_double(&j, "store_refill_mbps", bench_median(&r->refill));
	bench_json_double(&j, "store_total_mbps",
	    bench_median(&r->store_total));
	bench_json_double(&j, "load_total_mbps", bench_median(&r->load_total));
	bench_json_double(&j, "codec_compress_mbps",
	    bench_median(&r->cb.compress_mbps));
	bench_json_double(&j, "codec_decompress_mbps",
	    bench_median(&r->cb.decompress_mbps));
	bench_json_double(&j, "store_vs_codec", bench_median(&r->store_ratio));
	bench_json_double(&j, "load_vs_codec", bench_median(&r->load_ratio));
	bench_json_double(&j, "store_refill_vs_codec",
	    bench_median(&r->refill_ratio));
	bench_json_double(&j, "new_frame_us", bench_median(&r->frame_us));
	bench_json_double(&j, "store_vs_codec_frame_ceiling",
	    bench_median(&r->frame_ceiling));
	bench_json_maybe_u64(&j, "zram_mem_used_bytes", zb->measured,
	    zb->mem_used_total);
	bench_json_maybe_u64(&j, "zram_compr_bytes", zb->measured,
	    zb->compr_data_size);
	bench_json_maybe(&j, "zram_write_mbps", zb->measured,
	    bench_median(&zb->write_mbps));
	bench_json_maybe(&j, "zram_read_mbps", zb->measured,
	    bench_median(&zb->read_mbps));
	bench_json_maybe(&j, "pool_vs_zram_mem_used", zb->measured &&
	    zb->mem_used_total != 0, div0((double)st->mem_used_total,
	    (double)zb->mem_used_total));
	snprintf(timing, sizeof timing, "median of %u runs, CLOCK_MONOTONIC",
	    r->o->runs);
	bench_json_str(&j, "timing", timing);
	bench_json_end(&j);
}

static void
pool_usage(FILE *f)
{
	fprintf(f,
	    "usage: zpbench pool --corpus FILE [--codec lz4|zstd[:LEVEL]] "
	    "[--threads T]\n"
	    "                    [--max-zspage-frames N] [--huge-threshold B] "
	    "[--no-zram]\n"
	    "                    [--runs N] [--verbose] [--json]\n"
	    "Store every page of a corpus in a pool, load and verify it; "
	    "compare with the\nbare codec and, as root, with the kernel's "
	    "zram0 (lz4) on the same pages.\n"
	    "  -c, --corpus FILE          corpus of 4 KiB pages\n"
	    "  -C, --codec SPEC           lz4 (default), zstd, zstd:LEVEL\n"
	    "  -t, --threads T            store/load threads (default 1)\n"
	    "  -f, --max-zspage-frames N  1..32 (default: the pool's, 32)\n"
	    "      --huge-threshold B     store raw at this compressed size "
	    "(default: the pool's)\n"
	    "      --no-zram              do not touch zram0\n"
	    "  -r, --runs N               timed runs, median reported "
	    "(default 5)\n"
	    "  -v, --verbose              per-class occupancy\n"
	    "  -j, --json                 end with one JSON line\n");
}

static void
pool_parse(int argc, char **argv, struct pool_opts *o)
{
	static const struct option longopts[] = {
		{ "corpus", required_argument, NULL, 'c' },
		{ "codec", required_argument, NULL, 'C' },
		{ "threads", required_argument, NULL, 't' },
		{ "max-zspage-frames", required_argument, NULL, 'f' },
		{ "huge-threshold", required_argument, NULL, 'H' },
		{ "no-zram", no_argument, NULL, 'Z' },
		{ "runs", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*cause;
	uint64_t	 v;
	int		 ch;

	memset(o, 0, sizeof *o);
	o->codec.id = CODEC_LZ4;
	o->codec.level = 1;
	o->threads = 1;
	o->runs = BENCH_REPS;
	while ((ch = getopt_long(argc, argv, "c:C:t:f:r:vjh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->corpus = optarg;
			break;
		case 'C':
			if (codec_parse(optarg, &o->codec, &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--codec %s: %s", optarg,
				    cause);
			break;
		case 't':
			if (bench_parse_u64(optarg, 1, MAX_THREADS, &v,
			    &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--threads %s: %s (1..%d)",
				    optarg, cause, MAX_THREADS);
			o->threads = (unsigned)v;
			break;
		case 'f':
			if (bench_parse_u64(optarg, 1, POOL_MAX_ZSPAGE_FRAMES,
			    &v, &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--max-zspage-frames %s: "
				    "%s (1..%u)", optarg, cause,
				    POOL_MAX_ZSPAGE_FRAMES);
			o->max_frames = (unsigned)v;
			break;
		case 'H':
			if (bench_parse_u64(optarg, 64, PAGE_SIZE_4K, &v,
			    &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--huge-threshold %s: %s",
				    optarg, cause);
			o->huge_threshold = (unsigned)v;
			break;
		case 'Z':
			o->no_zram = true;
			break;
		case 'r':
			if (bench_parse_u64(optarg, 1, BENCH_MAX_REPS, &v,
			    &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--runs %s: %s (1..%d)",
				    optarg, cause, BENCH_MAX_REPS);
			o->runs = (unsigned)v;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			pool_usage(stdout);
			exit(BENCH_EXIT_OK);
		default:
			pool_usage(stderr);
			exit(BENCH_EXIT_USAGE);
		}
	}
	if (optind != argc || o->corpus == NULL) {
		warnx("pool: --corpus FILE is required%s",
		    optind != argc ? ", and takes no other argument" : "");
		pool_usage(stderr);
		exit(BENCH_EXIT_USAGE);
	}
}

/* The pool runs, each followed by one run of the codec baseline. */
static void
measure(const struct pool_opts *o, const struct corpus *c,
    struct pool_report *r)
{
	struct pool_run		 run;
	struct codec_bench	 one;
	const char		*cause;
	double			 us;
	uint8_t			*out;
	uint32_t		*ids;
	unsigned		*csize, i;

	if ((out = bench_alloc(c->npages * (size_t)PAGE_SIZE_4K)) == NULL)
		err(BENCH_EXIT_ERROR, "pool");
	if ((ids = calloc(c->npages, sizeof *ids)) == NULL ||
	    (csize = calloc(c->npages, sizeof *csize)) == NULL)
		err(BENCH_EXIT_ERROR, "pool");
	for (i = 0; i < o->runs; i++) {
		pool_run(o, c, out, ids, csize, o->verbose && i == 0, &run);
		if (i == 0)
			r->first = run;
		if (run.errors > r->errors)
			r->errors = run.errors;
		bench_sample_add(&r->store, run.store_mbps);
		bench_sample_add(&r->load, run.load_mbps);
		bench_sample_add(&r->refill, run.refill_mbps);
		bench_sample_add(&r->store_total, run.store_total_mbps);
		bench_sample_add(&r->load_total, run.load_total_mbps);
		bench_sample_add(&r->compact_ms, run.compact_ms);

		if (codec_bench_run(&o->codec, c->pages, c->npages, 1, &one,
		    &cause) == -1)
			errx(BENCH_EXIT_ERROR, "codec baseline: %s", cause);
		r->cb.pages = one.pages;
		r->cb.orig_bytes = one.orig_bytes;
		r->cb.compr_bytes = one.compr_bytes;
		if (one.verify_errors > r->cb.verify_errors)
			r->cb.verify_errors = one.verify_errors;
		bench_sample_add(&r->cb.compress_mbps, one.compress_mbps.v[0]);
		bench_sample_add(&r->cb.decompress_mbps,
		    one.decompress_mbps.v[0]);
		bench_sample_add(&r->store_ratio, div0(run.store_mbps,
		    one.compress_mbps.v[0]));
		bench_sample_add(&r->load_ratio, div0(run.load_mbps,
		    one.decompress_mbps.v[0]));
		bench_sample_add(&r->refill_ratio, div0(run.refill_mbps,
		    one.compress_mbps.v[0]));

		if ((us = bench_frame_us()) < 0)
			err(BENCH_EXIT_ERROR, "new-frame probe");
		bench_sample_add(&r->frame_us, us);
		bench_sample_add(&r->frame_ceiling, frame_ceiling(
		    one.compress_mbps.v[0], run.st.frames, c->npages, us));
	}
	free(csize);
	free(ids);
	bench_free(out, c->npages * (size_t)PAGE_SIZE_4K);
}

int
cmd_pool(int argc, char **argv)
{
	struct pool_opts	 o;
	struct pool_report	 r;
	struct corpus		 c;
	struct corpus_desc	 d;
	const char		*cause;
	char			 name[32], frames[16];

	pool_parse(argc, argv, &o);
	if (corpus_load(o.corpus, &c, &cause) == -1)
		err(BENCH_EXIT_ERROR, "%s: %s", o.corpus, cause);
	if (corpus_describe(&c, &d, &cause) == -1)
		errx(BENCH_EXIT_ERROR, "pool: %s", cause);
	printf("corpus %s\n", o.corpus);
	corpus_desc_print(&d, "  ", stdout);
	snprintf(frames, sizeof frames, "%u", o.max_frames);
	printf("codec %s threads %u max_zspage_frames %s\n",
	    codec_format(&o.codec, name, sizeof name), o.threads,
	    o.max_frames ? frames : "default");
	printf("timing: CLOCK_MONOTONIC; throughput in MB/s (10^6 B/s) of "
	    "original data,\n  median of %u runs [best; each run]; each run "
	    "on a fresh pool, followed by a bare codec run\n", o.runs);
	fflush(stdout);

	memset(&r, 0, sizeof r);
	r.o = &o;
	r.npages = c.npages;
	measure(&o, &c, &r);
	if (!o.no_zram &&
	    zram_bench_run(c.pages, c.npages, o.runs, &r.zb, &cause) == -1) {
		warn("zram: %s", cause);
		r.zram_failed = true;
	} else if (o.no_zram)
		snprintf(r.zb.skipped, sizeof r.zb.skipped, "--no-zram");
	corpus_free(&c);

	report_pool(&r);
	report_codec(&r);
	report_zram(&r);
	report_targets(&r);
	if (o.json)
		report_json(&r);
	if (r.errors != 0 || r.cb.verify_errors != 0 || r.zb.verify_errors != 0) {
		warnx("pool: pages did not come back intact");
		return BENCH_EXIT_ERROR;
	}
	return r.zram_failed ? BENCH_EXIT_ERROR : BENCH_EXIT_OK;
}
