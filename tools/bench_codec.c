/*
 * bench_codec.c -- the bare codec baseline: codec_compress and
 * codec_decompress over a corpus, one thread, no pool.
 *
 * Compressed pages are packed back to back into one buffer and
 * decompressed into another corpus-sized buffer, so the baseline touches
 * memory the way a pool does; both buffers are faulted in before the clock
 * starts (bench_alloc), because the figure is the codec's, not the
 * kernel's.
 */

#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "page.h"

struct packed {
	uint8_t		*buf;
	size_t		*off;	/* npages + 1 offsets into buf */
};

static uint64_t
compress_all(struct codec_ctx *ctx, const uint8_t *pages, size_t npages,
    struct packed *pk, size_t bound, uint64_t *ns)
{
	uint64_t	t0, total = 0;
	size_t		i, len;

	t0 = bench_now_ns();
	pk->off[0] = 0;
	for (i = 0; i < npages; i++) {
		len = codec_compress(ctx, pages + i * (size_t)PAGE_SIZE_4K,
		    PAGE_SIZE_4K, pk->buf + pk->off[i], bound);
		pk->off[i + 1] = pk->off[i] + len;
		total += len;
	}
	*ns = bench_now_ns() - t0;
	return total;
}

static uint64_t
decompress_all(struct codec_ctx *ctx, size_t npages, const struct packed *pk,
    uint8_t *out, uint64_t *ns)
{
	uint64_t	t0, errors = 0;
	size_t		i;

	t0 = bench_now_ns();
	for (i = 0; i < npages; i++) {
		if (codec_decompress(ctx, pk->buf + pk->off[i],
		    pk->off[i + 1] - pk->off[i], out + i * (size_t)PAGE_SIZE_4K,
		    PAGE_SIZE_4K) == -1)
			errors++;
	}
	*ns = bench_now_ns() - t0;
	return errors;
}

int
codec_bench_run(const struct codec_spec *spec, const uint8_t *pages,
    size_t npages, unsigned reps, struct codec_bench *cb,
    const char **cause)
{
	struct codec_ctx	*ctx;
	struct packed		 pk = { NULL, NULL };
	uint8_t			*out = NULL;
	uint64_t		 ns, errors, orig = npages * (uint64_t)PAGE_SIZE_4K;
	size_t			 bound, i;
	unsigned		 r;
	int			 rc = -1;

	memset(cb, 0, sizeof *cb);
	if ((ctx = codec_ctx_new(spec)) == NULL) {
		*cause = "cannot create a codec context";
		return -1;
	}
	bound = codec_bound(ctx, PAGE_SIZE_4K);
	pk.buf = bench_alloc(npages * bound);
	pk.off = bench_alloc((npages + 1) * sizeof *pk.off);
	out = bench_alloc(npages * (size_t)PAGE_SIZE_4K);
	if (pk.buf == NULL || pk.off == NULL || out == NULL) {
		*cause = "out of memory for the codec baseline";
		goto done;
	}
	cb->pages = npages;
	cb->orig_bytes = orig;
	for (r = 0; r < reps; r++) {
		cb->compr_bytes = compress_all(ctx, pages, npages, &pk, bound,
		    &ns);
		bench_sample_add(&cb->compress_mbps, bench_mbps(orig, ns));
		errors = decompress_all(ctx, npages, &pk, out, &ns);
		if (errors > cb->verify_errors)
			cb->verify_errors = errors;
		bench_sample_add(&cb->decompress_mbps, bench_mbps(orig, ns));
	}
	/* A page that failed to decompress usually differs too: count the
	   worse of the two, not their sum. */
	errors = 0;
	for (i = 0; i < npages; i++)
		if (memcmp(out + i * (size_t)PAGE_SIZE_4K,
		    pages + i * (size_t)PAGE_SIZE_4K, PAGE_SIZE_4K) != 0)
			errors++;
	if (errors > cb->verify_errors)
		cb->verify_errors = errors;
	rc = 0;
done:
	bench_free(out, npages * (size_t)PAGE_SIZE_4K);
	bench_free(pk.off, (npages + 1) * sizeof *pk.off);
	bench_free(pk.buf, npages * bound);
	codec_ctx_free(ctx);
	return rc;
}
