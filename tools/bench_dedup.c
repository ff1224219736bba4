/*
 * bench_dedup.c -- `zpbench dedup`: what the dedup index saves and what it
 * costs, on a corpus stored as K processes holding it would store it.
 *
 * The corpus is taken K times (--copies).  By default every copy is in one
 * sharing scope, like K processes of one uid; with --scope-per-copy each
 * copy has its own scope and nothing may be shared across copies.  The
 * copies are not materialised for the pool: copy k's page i is corpus page
 * i, stored under copy k's scope.  Three modes, each on a fresh pool and
 * dedup module, in this process, one thread, no daemon:
 *
 *   inline  DEDUP_INLINE: every page looked up at store time, a hit skips
 *           the compression;
 *   off     DEDUP_OFF: every page becomes an object of its own;
 *   merge   DEDUP_OFF, then the on-demand merge (dedup_merge over every
 *           stored id) and pool_compact.
 *
 * After each mode every page of every copy is loaded and compared byte for
 * byte (off the clock); then every reference is dropped, and the pool and
 * the index must end empty.  A run does the three modes back to back,
 * rotating which goes first (the first pool a process fills pays for fresh
 * memory), and the inline/off store ratio is taken within each run, so a
 * busy neighbour slows both sides of it.  --runs runs; medians reported.
 * As root with an unused zram0, each run ends with the kernel's zram (lz4,
 * no cross-page dedup) on the same K copies, laid out in one buffer.
 */

#include <sys/resource.h>

#include <err.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "corpus.h"
#include "dedup.h"
#include "page.h"
#include "pool.h"

#define MAX_COPIES		64
#define DEFAULT_RUNS		3
/* The scope key of the shared case: any value, as a uid would be. */
#define SHARED_SCOPE		1000

/* Targets of issue 4, checked at the end of the report. */
#define TARGET_COPIES_SLACK	0.03	/* inline frames <= 1/K + this */
#define TARGET_NODUP_COST	0.05	/* inline store >= 95% of off's */
#define TARGET_META_PER_PAGE	32.0	/* pool + index meta per page */
/* Which corpus the speed targets speak of: shareable stored pages. */
#define NODUP_MAX		0.01
#define HALFDUP_MIN		0.40
#define HALFDUP_MAX		0.60

enum mode {
	MODE_INLINE,
	MODE_OFF,
	MODE_MERGE,
	NR_MODES
};

static const char *const mode_name[NR_MODES] = { "inline", "off", "merge" };
static const char *const mode_what[NR_MODES] = {
	"dedup inline: looked up at store time",
	"dedup off: every page its own object",
	"dedup off, then dedup_merge over every stored id and pool_compact",
};

struct dedup_opts {
	const char		*corpus;
	struct codec_spec	 codec;
	unsigned		 copies;
	unsigned		 runs;
	bool			 per_copy;
	bool			 no_zram;
	bool			 json;
};

/* K copies of a corpus, page j of the stored sequence is copy j / n. */
struct layout {
	const struct corpus	*c;
	unsigned		 copies;
	bool			 per_copy;
	size_t			 stored;
};

/* What one mode measured in one run. */
struct mode_run {
	struct pool_stats	 st;		/* at the end (merge: compacted) */
	struct pool_stats	 st_stored;	/* merge: before the merge */
	struct pool_stats	 st_merged;	/* merge: before compaction */
	struct dedup_stats	 ds;
	uint64_t		 store_ns, merge_ns, compact_ns;
	uint64_t		 merged, scanned, compacted, moved;
	uint64_t		 minflt;	/* during the stores */
	uint64_t		 errors;	/* failed stores and loads, bad bytes */
	uint64_t		 cross_pages;	/* share bytes with another copy */
	uint64_t		 teardown;	/* failed puts, anything left */
};

struct dedup_report {
	const struct dedup_opts	*o;
	struct layout		 l;
	struct corpus_desc	 desc;
	uint64_t		 expected;	/* objects with every dup shared */
	struct mode_run		 first[NR_MODES];
	bool			 unstable[NR_MODES];
	struct bench_samples	 store[NR_MODES];
	struct bench_samples	 inline_vs_off;	/* per-run ratios */
	struct bench_samples	 merge_ms, compact_ms, merge_total;
	uint64_t		 errors, teardown;
	struct zram_bench	 zb;
	bool			 zram_failed;
};

static uint64_t
scope_of(const struct layout *l, size_t j)
{
	return l->per_copy ? j / l->c->npages + 1 : SHARED_SCOPE;
}

static const uint8_t *
page_of(const struct layout *l, size_t j)
{
	return corpus_page(l->c, j % l->c->npages);
}

static double
div0(double a, double b)
{
	return b == 0 ? 0 : a / b;
}

static uint64_t
minflt_now(void)
{
	struct rusage	ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return (uint64_t)ru.ru_minflt;
}

static uint64_t
arena_bytes(size_t pages)
{
	/* Room for every page raw, and one partly used zspage of the largest
	   kind per class on top. */
	uint64_t	b = (pages + (POOL_NR_CLASSES + 1) *
	    (uint64_t)POOL_MAX_ZSPAGE_FRAMES) * PAGE_SIZE_4K;

	return (b + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
}

/* Objects a perfect dedup ends with: same-filled pages are never shared. */
static uint64_t
expected_objects(const struct corpus_desc *d, const struct layout *l)
{
	uint64_t	distinct = d->data_pages - d->dup_pages;
	uint64_t	same = d->zero_pages + d->same_pages;

	if (l->per_copy)
		return l->copies * (distinct + same);
	return distinct + l->copies * same;
}

/* --- one mode ------------------------------------------------------------ */

static void
store_all(struct dedup *d, struct codec_ctx *ctx, const struct layout *l,
    uint32_t *ids, struct mode_run *mr)
{
	uint64_t	t0, f0;
	unsigned	csize;
	bool		shared;
	size_t		j;

	f0 = minflt_now();
	t0 = bench_now_ns();
	for (j = 0; j < l->stored; j++)
		if (dedup_store(d, ctx, page_of(l, j), scope_of(l, j), &ids[j],
		    &csize, &shared) != 0) {
			ids[j] = 0;
			mr->errors++;
		}
	mr->store_ns = bench_now_ns() - t0;
	mr->minflt = minflt_now() - f0;
}

struct merge_iter {
	const struct layout	*l;
	const uint32_t		*ids;
	size_t			 next;
};

/* dedup_merge's source: every stored page's id, with its copy's scope. */
static bool
merge_next(void *arg, uint32_t *id, uint64_t *scope)
{
	struct merge_iter	*it = arg;
	size_t			 j;

	while (it->next < it->l->stored) {
		j = it->next++;
		if (it->ids[j] == 0)
			continue;
		*id = it->ids[j];
		*scope = scope_of(it->l, j);
		return true;
	}
	return false;
}

static void
merge_all(struct pool *p, struct dedup *d, struct codec_ctx *ctx,
    const struct layout *l, const uint32_t *ids, struct mode_run *mr)
{
	struct merge_iter	it = { l, ids, 0 };
	uint64_t		t0, t1;

	mr->st_stored = mr->st;
	t0 = bench_now_ns();
	mr->merged = dedup_merge(d, ctx, merge_next, &it, &mr->scanned);
	t1 = bench_now_ns();
	pool_stats(p, &mr->st_merged);
	mr->compacted = pool_compact(p, &mr->moved);
	mr->compact_ns = bench_now_ns() - t1;
	mr->merge_ns = t1 - t0;
	pool_stats(p, &mr->st);
	dedup_stats(d, &mr->ds);
}

/*
 * Pages whose bytes also serve a page of another copy.  With a scope per
 * copy this must be 0: scopes never meet.
 */
#define OWNER_MANY	UINT32_MAX

static uint64_t
cross_copy_pages(struct pool *p, const struct layout *l, const uint32_t *ids)
{
	uint32_t	*owner, r, k, max = 0;
	uint64_t	 n = 0;
	size_t		 j;

	if (l->copies < 2)
		return 0;
	for (j = 0; j < l->stored; j++)
		if (ids[j] != 0 && (r = pool_resolve(p, ids[j])) > max)
			max = r;
	if ((owner = calloc((size_t)max + 1, sizeof *owner)) == NULL)
		err(BENCH_EXIT_ERROR, "dedup");
	for (j = 0; j < l->stored; j++) {
		if (ids[j] == 0 || (r = pool_resolve(p, ids[j])) == 0)
			continue;
		k = (uint32_t)(j / l->c->npages) + 1;
		if (owner[r] == 0)
			owner[r] = k;
		else if (owner[r] != k)
			owner[r] = OWNER_MANY;
	}
	for (j = 0; j < l->stored; j++)
		if (ids[j] != 0 && (r = pool_resolve(p, ids[j])) != 0 &&
		    owner[r] == OWNER_MANY)
			n++;
	free(owner);
	return n;
}

/* Every page back, byte for byte; returns the pages that were not. */
static uint64_t
verify_all(struct pool *p, struct codec_ctx *ctx, const struct layout *l,
    const uint32_t *ids, uint8_t *buf)
{
	uint64_t	bad = 0;
	size_t		j;

	for (j = 0; j < l->stored; j++) {
		if (ids[j] == 0)
			continue;	/* counted when the store failed */
		if (pool_load(p, ctx, ids[j], buf) != 0 ||
		    memcmp(buf, page_of(l, j), PAGE_SIZE_4K) != 0)
			bad++;
	}
	return bad;
}

/*
 * Drop every reference as the processes would on exit.  A pool or an index
 * that does not end empty has lost count somewhere: each leftover object,
 * reference, frame or index entry counts as an error.
 */
static uint64_t
release_all(struct pool *p, struct dedup *d, const struct layout *l,
    const uint32_t *ids)
{
	struct pool_stats	st;
	struct dedup_stats	ds;
	uint64_t		bad = 0;
	size_t			j;

	for (j = 0; j < l->stored; j++)
		if (ids[j] != 0 && dedup_put(d, ids[j], scope_of(l, j)) < 0)
			bad++;
	pool_stats(p, &st);
	dedup_stats(d, &ds);
	return bad + st.objects + st.refs + st.frames + ds.entries;
}

static void
mode_run(const struct dedup_opts *o, const struct layout *l, enum mode m,
    uint32_t *ids, uint8_t *buf, struct mode_run *mr)
{
	struct pool_config	 cfg;
	struct pool		*p;
	struct dedup		*d;
	struct codec_ctx	*ctx;
	const char		*cause = NULL;

	memset(mr, 0, sizeof *mr);
	memset(&cfg, 0, sizeof cfg);
	cfg.arena_bytes = arena_bytes(l->stored);
	cfg.name = "zpbench-dedup";
	cfg.caller_words = m == MODE_INLINE;
	if ((p = pool_create(&cfg, &cause)) == NULL)
		errx(BENCH_EXIT_ERROR, "pool_create: %s", cause);
	if ((d = dedup_create(p, m == MODE_INLINE ? DEDUP_INLINE :
	    DEDUP_OFF)) == NULL)
		errx(BENCH_EXIT_ERROR, "dedup_create failed");
	if ((ctx = codec_ctx_new(&o->codec)) == NULL)
		errx(BENCH_EXIT_ERROR, "cannot create a codec context");

	store_all(d, ctx, l, ids, mr);
	pool_stats(p, &mr->st);
	dedup_stats(d, &mr->ds);
	if (m == MODE_MERGE)
		merge_all(p, d, ctx, l, ids, mr);
	mr->cross_pages = cross_copy_pages(p, l, ids);
	mr->errors += verify_all(p, ctx, l, ids, buf);
	mr->teardown = release_all(p, d, l, ids);

	codec_ctx_free(ctx);
	dedup_destroy(d);
	pool_destroy(p);
}

/* --- runs ---------------------------------------------------------------- */

/* The K copies in one buffer for zram; the corpus itself when K is 1. */
static uint8_t *
zram_pages(const struct layout *l)
{
	size_t		 len = l->c->npages * (size_t)PAGE_SIZE_4K;
	uint8_t		*buf;
	unsigned	 k;

	if (l->copies == 1)
		return l->c->pages;
	if ((buf = bench_alloc(l->stored * (size_t)PAGE_SIZE_4K)) == NULL)
		err(BENCH_EXIT_ERROR, "dedup: memory for zram's copies");
	for (k = 0; k < l->copies; k++)
		memcpy(buf + k * len, l->c->pages, len);
	return buf;
}

/* One zram run; false once zram cannot be used (skipped or failed). */
static bool
zram_once(struct dedup_report *r, const uint8_t *pages)
{
	struct zram_bench	 one;
	const char		*cause = NULL;

	if (zram_bench_run(pages, r->l.stored, 1, &one, &cause) == -1) {
		warnx("zram: %s", cause);
		r->zram_failed = true;
		return false;
	}
	if (!one.measured) {
		snprintf(r->zb.skipped, sizeof r->zb.skipped, "%s", one.skipped);
		return false;
	}
	if (!r->zb.measured) {
		r->zb.measured = true;
		r->zb.orig_data_size = one.orig_data_size;
		r->zb.compr_data_size = one.compr_data_size;
		r->zb.mem_used_total = one.mem_used_total;
		r->zb.same_pages = one.same_pages;
		r->zb.huge_pages = one.huge_pages;
	}
	bench_sample_add(&r->zb.write_mbps, one.write_mbps.v[0]);
	bench_sample_add(&r->zb.read_mbps, one.read_mbps.v[0]);
	if (one.verify_errors > r->zb.verify_errors)
		r->zb.verify_errors = one.verify_errors;
	return true;
}

static void
record(struct dedup_report *r, unsigned run, enum mode m,
    const struct mode_run *mr)
{
	uint64_t	orig = r->l.stored * (uint64_t)PAGE_SIZE_4K;

	if (run == 0)
		r->first[m] = *mr;
	else if (mr->st.frames != r->first[m].st.frames ||
	    mr->st.objects != r->first[m].st.objects)
		r->unstable[m] = true;
	r->errors += mr->errors;
	r->teardown += mr->teardown;
	bench_sample_add(&r->store[m], bench_mbps(orig, mr->store_ns));
	if (m != MODE_MERGE)
		return;
	bench_sample_add(&r->merge_ms, mr->merge_ns / 1e6);
	bench_sample_add(&r->compact_ms, mr->compact_ns / 1e6);
	bench_sample_add(&r->merge_total, bench_mbps(orig, mr->store_ns +
	    mr->merge_ns + mr->compact_ns));
}

static void
measure(struct dedup_report *r)
{
	const struct dedup_opts	*o = r->o;
	struct mode_run		 mr;
	uint8_t			*buf, *zpages = NULL;
	uint32_t		*ids;
	double			 mbps[NR_MODES];
	unsigned		 run, i;
	bool			 zram = !o->no_zram;
	enum mode		 m;

	if ((ids = calloc(r->l.stored, sizeof *ids)) == NULL ||
	    (buf = bench_alloc(PAGE_SIZE_4K)) == NULL)
		err(BENCH_EXIT_ERROR, "dedup");
	/* Do not copy a large corpus K times for a zram we may not touch. */
	if (zram && (geteuid() != 0 || access("/sys/block/zram0", F_OK) != 0)) {
		snprintf(r->zb.skipped, sizeof r->zb.skipped, "%s",
		    geteuid() != 0 ? "not root" : "no /sys/block/zram0");
		zram = false;
	}
	if (o->no_zram)
		snprintf(r->zb.skipped, sizeof r->zb.skipped, "--no-zram");
	if (zram)
		zpages = zram_pages(&r->l);
	for (run = 0; run < o->runs; run++) {
		for (i = 0; i < NR_MODES; i++) {
			m = (enum mode)((run + i) % NR_MODES);
			mode_run(o, &r->l, m, ids, buf, &mr);
			record(r, run, m, &mr);
			mbps[m] = bench_mbps(r->l.stored * (uint64_t)PAGE_SIZE_4K,
			    mr.store_ns);
		}
		bench_sample_add(&r->inline_vs_off, div0(mbps[MODE_INLINE],
		    mbps[MODE_OFF]));
		if (zram)
			zram = zram_once(r, zpages);
	}
	if (zpages != NULL && zpages != r->l.c->pages)
		bench_free(zpages, r->l.stored * (size_t)PAGE_SIZE_4K);
	bench_free(buf, PAGE_SIZE_4K);
	free(ids);
}

/* --- report -------------------------------------------------------------- */

static void
print_samples(const char *key, const struct bench_samples *s,
    const char *unit)
{
	unsigned	i;

	printf("  %s %.1f [best %.1f; runs", key, bench_median(s),
	    bench_best(s));
	for (i = 0; i < s->n; i++)
		printf(" %.1f", s->v[i]);
	printf("]%s\n", unit);
}

/* Pool and index metadata per stored page: the figure of target 3. */
static double
meta_per_page(const struct dedup_report *r, const struct mode_run *mr)
{
	return div0((double)(mr->st.meta_bytes + mr->ds.meta_bytes),
	    (double)r->l.stored);
}

static uint64_t
mem_with_index(const struct mode_run *mr)
{
	return mr->st.mem_used_total + mr->ds.meta_bytes;
}

static double
dup_fraction(const struct dedup_report *r)
{
	return div0((double)(r->l.stored - r->expected), (double)r->l.stored);
}

static void
report_mode(const struct dedup_report *r, enum mode m)
{
	const struct mode_run	*mr = &r->first[m];
	const struct pool_stats	*st = &mr->st;

	printf("%s (%s):\n", mode_name[m], mode_what[m]);
	if (m == MODE_MERGE) {
		printf("  stored: objects %llu frames %llu\n",
		    (unsigned long long)mr->st_stored.objects,
		    (unsigned long long)mr->st_stored.frames);
		printf("  merged %llu objects of %llu scanned; then objects "
		    "%llu frames %llu\n",
		    (unsigned long long)mr->merged,
		    (unsigned long long)mr->scanned,
		    (unsigned long long)mr->st_merged.objects,
		    (unsigned long long)mr->st_merged.frames);
		printf("  compacted: %llu frames released, %llu objects "
		    "moved\n", (unsigned long long)mr->compacted,
		    (unsigned long long)mr->moved);
	}
	printf("  objects %llu (every duplicate shared: %llu)\n",
	    (unsigned long long)st->objects, (unsigned long long)r->expected);
	printf("  frames %llu\n", (unsigned long long)st->frames);
	printf("  mem_used_total %llu (+ index %llu = %llu)\n",
	    (unsigned long long)st->mem_used_total,
	    (unsigned long long)mr->ds.meta_bytes,
	    (unsigned long long)mem_with_index(mr));
	printf("  meta_bytes %llu pool + %llu index: %.2f B per stored page, "
	    "%.2f B per object\n", (unsigned long long)st->meta_bytes,
	    (unsigned long long)mr->ds.meta_bytes, meta_per_page(r, mr),
	    div0((double)(st->meta_bytes + mr->ds.meta_bytes),
	    (double)st->objects));
	printf("  compr_data_size %llu\n",
	    (unsigned long long)st->compr_data_size);
	printf("  pages_merged %llu\n", (unsigned long long)st->pages_merged);
	printf("  dedup_hits %llu bytes_saved %llu merged %llu\n",
	    (unsigned long long)mr->ds.hits,
	    (unsigned long long)mr->ds.bytes_saved,
	    (unsigned long long)mr->ds.merged);
	printf("  same_pages %llu huge_pages %llu\n",
	    (unsigned long long)st->same_pages,
	    (unsigned long long)st->huge_pages);
	printf("  cross_copy_pages %llu (pages sharing bytes with another "
	    "copy's)\n", (unsigned long long)mr->cross_pages);
	printf("  store_minor_faults %.3f per page\n",
	    div0((double)mr->minflt, (double)r->l.stored));
	print_samples("store_mbps", &r->store[m], "");
	if (m == MODE_MERGE) {
		print_samples("merge_ms", &r->merge_ms, "");
		print_samples("compact_ms", &r->compact_ms, "");
		print_samples("store_merge_compact_mbps", &r->merge_total,
		    " (all three on the clock)");
	}
	if (r->unstable[m])
		printf("  note: frames or objects differed between runs; "
		    "figures are the first run's\n");
	printf("  verify_errors %llu teardown_errors %llu (first run)\n",
	    (unsigned long long)mr->errors, (unsigned long long)mr->teardown);
}

static void
report_zram(const struct dedup_report *r)
{
	const struct zram_bench	*zb = &r->zb;
	unsigned		 m;

	if (!zb->measured) {
		printf("zram: not measured: %s\n", r->zram_failed ?
		    "failed (see above)" : zb->skipped);
		return;
	}
	printf("zram0 (lz4, no dedup; %u cop%s in one buffer, O_DIRECT, "
	    "one run after each pool run, reset after each):\n",
	    r->l.copies, r->l.copies == 1 ? "y" : "ies");
	printf("  orig_data_size %llu\n",
	    (unsigned long long)zb->orig_data_size);
	printf("  compr_data_size %llu\n",
	    (unsigned long long)zb->compr_data_size);
	printf("  mem_used_total %llu\n",
	    (unsigned long long)zb->mem_used_total);
	printf("  same_pages %llu huge_pages %llu\n",
	    (unsigned long long)zb->same_pages,
	    (unsigned long long)zb->huge_pages);
	print_samples("write_mbps", &zb->write_mbps, "");
	print_samples("read_mbps", &zb->read_mbps, "");
	printf("  verify_errors %llu\n", (unsigned long long)zb->verify_errors);
	for (m = 0; m < NR_MODES; m++)
		printf("  pool %s / zram mem_used_total %.4f (pool with "
		    "index)%s\n", mode_name[m],
		    div0((double)mem_with_index(&r->first[m]),
		    (double)zb->mem_used_total), r->o->codec.id == CODEC_LZ4 ?
		    "" : " (not comparable: the pool did not use lz4)");
}

static const char *
verdict(bool ok)
{
	return ok ? "met" : "MISSED";
}

/* Target 1's ratio: inline's frames over off's. */
static double
copies_ratio(const struct dedup_report *r)
{
	return div0((double)r->first[MODE_INLINE].st.frames,
	    (double)r->first[MODE_OFF].st.frames);
}

static const char *
target_copies(const struct dedup_report *r)
{
	if (r->l.copies < 2 || r->l.per_copy)
		return "n/a";
	return copies_ratio(r) <= 1.0 / r->l.copies + TARGET_COPIES_SLACK ?
	    "met" : "missed";
}

static const char *
target_nodup(const struct dedup_report *r)
{
	if (dup_fraction(r) > NODUP_MAX)
		return "n/a";
	return bench_median(&r->inline_vs_off) >= 1 - TARGET_NODUP_COST ?
	    "met" : "missed";
}

static const char *
target_halfdup(const struct dedup_report *r)
{
	if (dup_fraction(r) < HALFDUP_MIN || dup_fraction(r) > HALFDUP_MAX)
		return "n/a";
	return bench_median(&r->inline_vs_off) > 1 ? "met" : "missed";
}

static const char *
target_meta(const struct dedup_report *r)
{
	return meta_per_page(r, &r->first[MODE_INLINE]) <=
	    TARGET_META_PER_PAGE ? "met" : "missed";
}

/* "met" and "missed" as the report prints them; "n/a" with why. */
static void
print_target(const char *what, const char *v, const char *why_na)
{
	if (strcmp(v, "n/a") == 0)
		printf("  %s: not applicable (%s)\n", what, why_na);
	else
		printf("  %s: %s\n", what, verdict(strcmp(v, "met") == 0));
}

static void
report_targets(const struct dedup_report *r)
{
	char	what[160], na[96];
	double	ratio = bench_median(&r->inline_vs_off);

	printf("targets (issue 4):\n");
	snprintf(what, sizeof what, "inline frames <= 1/K + 3%% of off's "
	    "(K=%u: %.4f): %.4f", r->l.copies,
	    1.0 / r->l.copies + TARGET_COPIES_SLACK, copies_ratio(r));
	print_target(what, target_copies(r), r->l.per_copy ?
	    "--scope-per-copy shares nothing across copies" :
	    "needs --copies 2 or more");
	snprintf(na, sizeof na, "%.1f%% of the stored pages are duplicates; "
	    "it needs none", 100 * dup_fraction(r));
	snprintf(what, sizeof what, "inline store costs <= 5%% on a corpus "
	    "without duplicates: inline/off %.3f", ratio);
	print_target(what, target_nodup(r), na);
	snprintf(na, sizeof na, "%.1f%% of the stored pages are duplicates; "
	    "it needs 40-60%%", 100 * dup_fraction(r));
	snprintf(what, sizeof what, "inline store faster than off on a "
	    "half-duplicate corpus: inline/off %.3f", ratio);
	print_target(what, target_halfdup(r), na);
	snprintf(what, sizeof what, "inline pool + index metadata <= %.0f B "
	    "per stored page: %.2f", TARGET_META_PER_PAGE,
	    meta_per_page(r, &r->first[MODE_INLINE]));
	print_target(what, target_meta(r), "");
	printf("  (inline/off: median of %u per-run ratios, the modes side "
	    "by side in each run)\n", r->inline_vs_off.n);
	if (r->l.per_copy)
		printf("  scope isolation (--scope-per-copy): %s (%llu pages "
		    "share with another copy)\n",
		    r->first[MODE_INLINE].cross_pages == 0 &&
		    r->first[MODE_MERGE].cross_pages == 0 ? "ok" : "VIOLATED",
		    (unsigned long long)(r->first[MODE_INLINE].cross_pages +
		    r->first[MODE_MERGE].cross_pages));
}

static void
json_mode(struct bench_json *j, const struct dedup_report *r, enum mode m)
{
	const struct mode_run	*mr = &r->first[m];
	char			 k[64];

#define KEY(s)	(snprintf(k, sizeof k, "%s_%s", mode_name[m], (s)), k)
	bench_json_u64(j, KEY("frames"), mr->st.frames);
	bench_json_u64(j, KEY("mem_used_bytes"), mr->st.mem_used_total);
	bench_json_u64(j, KEY("index_bytes"), mr->ds.meta_bytes);
	bench_json_u64(j, KEY("meta_bytes"), mr->st.meta_bytes);
	bench_json_double(j, KEY("meta_per_page"), meta_per_page(r, mr));
	bench_json_u64(j, KEY("objects"), mr->st.objects);
	bench_json_u64(j, KEY("compr_bytes"), mr->st.compr_data_size);
	bench_json_u64(j, KEY("pages_merged"), mr->st.pages_merged);
	bench_json_u64(j, KEY("hits"), mr->ds.hits);
	bench_json_u64(j, KEY("cross_copy_pages"), mr->cross_pages);
	bench_json_double(j, KEY("store_mbps"), bench_median(&r->store[m]));
	bench_json_u64(j, KEY("verify_errors"), mr->errors);
	bench_json_u64(j, KEY("teardown_errors"), mr->teardown);
#undef KEY
}

static void
report_json(const struct dedup_report *r)
{
	const struct zram_bench	*zb = &r->zb;
	const struct mode_run	*mm = &r->first[MODE_MERGE];
	struct bench_json	 j;
	char			 name[32], timing[96];
	unsigned		 m;

	bench_json_begin(&j, stdout);
	bench_json_str(&j, "codec", codec_format(&r->o->codec, name,
	    sizeof name));
	bench_json_u64(&j, "copies", r->l.copies);
	bench_json_str(&j, "scope", r->l.per_copy ? "per-copy" : "shared");
	bench_json_u64(&j, "corpus_pages", r->l.c->npages);
	bench_json_u64(&j, "corpus_dup_pages", r->desc.dup_pages);
	bench_json_u64(&j, "stored_pages", r->l.stored);
	bench_json_u64(&j, "orig_bytes", r->l.stored * (uint64_t)PAGE_SIZE_4K);
	bench_json_u64(&j, "expected_objects", r->expected);
	bench_json_double(&j, "dup_fraction", dup_fraction(r));
	for (m = 0; m < NR_MODES; m++)
		json_mode(&j, r, (enum mode)m);
	bench_json_u64(&j, "merge_merged", mm->merged);
	bench_json_u64(&j, "merge_frames_before", mm->st_stored.frames);
	bench_json_u64(&j, "merge_compacted_frames", mm->compacted);
	bench_json_double(&j, "merge_ms", bench_median(&r->merge_ms));
	bench_json_double(&j, "compact_ms", bench_median(&r->compact_ms));
	bench_json_double(&j, "merge_total_mbps", bench_median(&r->merge_total));
	bench_json_double(&j, "inline_vs_off_store",
	    bench_median(&r->inline_vs_off));
	bench_json_double(&j, "inline_vs_off_frames", copies_ratio(r));
	bench_json_u64(&j, "verify_errors", r->errors + zb->verify_errors);
	bench_json_u64(&j, "teardown_errors", r->teardown);
	bench_json_maybe_u64(&j, "zram_mem_used_bytes", zb->measured,
	    zb->mem_used_total);
	bench_json_maybe_u64(&j, "zram_compr_bytes", zb->measured,
	    zb->compr_data_size);
	bench_json_maybe(&j, "zram_write_mbps", zb->measured,
	    bench_median(&zb->write_mbps));
	bench_json_maybe(&j, "inline_vs_zram_mem_used", zb->measured &&
	    zb->mem_used_total != 0, div0((double)mem_with_index(
	    &r->first[MODE_INLINE]), (double)zb->mem_used_total));
	bench_json_maybe(&j, "off_vs_zram_mem_used", zb->measured &&
	    zb->mem_used_total != 0, div0((double)mem_with_index(
	    &r->first[MODE_OFF]), (double)zb->mem_used_total));
	bench_json_str(&j, "target_copies", target_copies(r));
	bench_json_str(&j, "target_nodup_speed", target_nodup(r));
	bench_json_str(&j, "target_halfdup_speed", target_halfdup(r));
	bench_json_str(&j, "target_meta", target_meta(r));
	snprintf(timing, sizeof timing, "median of %u runs, modes side by "
	    "side in each, CLOCK_MONOTONIC", r->o->runs);
	bench_json_str(&j, "timing", timing);
	bench_json_end(&j);
}

/* --- options ------------------------------------------------------------- */

static void
dedup_usage(FILE *f)
{
	fprintf(f,
	    "usage: zpbench dedup --corpus FILE [--copies K] "
	    "[--codec lz4|zstd[:LEVEL]]\n"
	    "                     [--scope-per-copy] [--no-zram] [--runs N] "
	    "[--json]\n"
	    "Store K copies of a corpus (as K processes would) with dedup "
	    "inline, off, and off\nfollowed by an on-demand merge; compare "
	    "density and store speed, and, as root,\nthe kernel's zram0 (lz4) "
	    "on the same pages.\n"
	    "  -c, --corpus FILE     corpus of 4 KiB pages\n"
	    "  -k, --copies K        store the corpus K times, 1..%d "
	    "(default 1)\n"
	    "  -C, --codec SPEC      lz4 (default), zstd, zstd:LEVEL\n"
	    "  -s, --scope-per-copy  each copy in its own sharing scope "
	    "(default: one shared)\n"
	    "      --no-zram         do not touch zram0\n"
	    "  -r, --runs N          runs, median reported (default %d)\n"
	    "  -j, --json            end with one JSON line\n",
	    MAX_COPIES, DEFAULT_RUNS);
}

static void
dedup_parse(int argc, char **argv, struct dedup_opts *o)
{
	static const struct option longopts[] = {
		{ "corpus", required_argument, NULL, 'c' },
		{ "copies", required_argument, NULL, 'k' },
		{ "codec", required_argument, NULL, 'C' },
		{ "scope-per-copy", no_argument, NULL, 's' },
		{ "no-zram", no_argument, NULL, 'Z' },
		{ "runs", required_argument, NULL, 'r' },
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
	o->copies = 1;
	o->runs = DEFAULT_RUNS;
	while ((ch = getopt_long(argc, argv, "c:k:C:sr:jh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->corpus = optarg;
			break;
		case 'k':
			if (bench_parse_u64(optarg, 1, MAX_COPIES, &v,
			    &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--copies %s: %s (1..%d)",
				    optarg, cause, MAX_COPIES);
			o->copies = (unsigned)v;
			break;
		case 'C':
			if (codec_parse(optarg, &o->codec, &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--codec %s: %s", optarg,
				    cause);
			break;
		case 's':
			o->per_copy = true;
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
		case 'j':
			o->json = true;
			break;
		case 'h':
			dedup_usage(stdout);
			exit(BENCH_EXIT_OK);
		default:
			dedup_usage(stderr);
			exit(BENCH_EXIT_USAGE);
		}
	}
	if (optind != argc || o->corpus == NULL) {
		warnx("dedup: --corpus FILE is required%s",
		    optind != argc ? ", and takes no other argument" : "");
		dedup_usage(stderr);
		exit(BENCH_EXIT_USAGE);
	}
}

int
cmd_dedup(int argc, char **argv)
{
	struct dedup_opts	 o;
	struct dedup_report	 r;
	struct corpus		 c;
	const char		*cause;
	char			 name[32];
	unsigned		 m;
	bool			 isolated;

	dedup_parse(argc, argv, &o);
	if (corpus_load(o.corpus, &c, &cause) == -1)
		err(BENCH_EXIT_ERROR, "%s: %s", o.corpus, cause);
	if (c.npages == 0)
		errx(BENCH_EXIT_ERROR, "%s: empty corpus", o.corpus);
	memset(&r, 0, sizeof r);
	r.o = &o;
	r.l = (struct layout){ &c, o.copies, o.per_copy,
	    c.npages * (size_t)o.copies };
	if (corpus_describe(&c, &r.desc, &cause) == -1)
		errx(BENCH_EXIT_ERROR, "dedup: %s", cause);
	r.expected = expected_objects(&r.desc, &r.l);

	printf("corpus %s\n", o.corpus);
	corpus_desc_print(&r.desc, "  ", stdout);
	printf("copies %u scope %s stored_pages %zu codec %s\n", o.copies,
	    o.per_copy ? "per-copy" : "shared", r.l.stored,
	    codec_format(&o.codec, name, sizeof name));
	printf("duplicates: %.2f%% of the stored pages can share an object "
	    "(same-filled pages never do)\n", 100 * dup_fraction(&r));
	printf("timing: CLOCK_MONOTONIC, one thread; MB/s (10^6 B/s) of "
	    "original data,\n  median of %u runs [best; each run]; each run "
	    "does inline, off and merge back to\n  back on fresh pools, "
	    "first mode rotated, then zram; ratios taken within a run\n",
	    o.runs);
	fflush(stdout);

	measure(&r);
	for (m = 0; m < NR_MODES; m++)
		report_mode(&r, (enum mode)m);
	report_zram(&r);
	report_targets(&r);
	if (o.json)
		report_json(&r);
	corpus_free(&c);

	isolated = !o.per_copy || (r.first[MODE_INLINE].cross_pages == 0 &&
	    r.first[MODE_MERGE].cross_pages == 0);
	if (r.errors != 0 || r.zb.verify_errors != 0 || r.teardown != 0 ||
	    !isolated) {
		warnx("dedup: %llu pages did not come back intact, %llu "
		    "teardown errors%s", (unsigned long long)(r.errors +
		    r.zb.verify_errors), (unsigned long long)r.teardown,
		    isolated ? "" : ", scopes shared pages");
		return BENCH_EXIT_ERROR;
	}
	return r.zram_failed ? BENCH_EXIT_ERROR : BENCH_EXIT_OK;
}
