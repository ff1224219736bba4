/*
 * codec.c -- lz4 and zstd behind codec.h.
 *
 * lz4 compresses with a state kept in the context, so no call allocates
 * one.  (Its 16 KiB hash table is still zeroed on every call: liblz4's
 * fast-reset variant clears it anyway for inputs of 4 KiB, and the
 * streaming API that does not switches to a 32-bit table that compressed
 * our corpora 0.8% worse.  rep stosb makes the zeroing look like a third of
 * the instructions under callgrind; timed, it is a few percent.)
 * zstd keeps one CCtx and one DCtx per context with the level set once.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <zstd.h>

#include "codec.h"

struct codec_ctx {
	struct codec_spec	 spec;
	LZ4_stream_t		*lz4;	/* an extState */
	ZSTD_CCtx		*zc;
	ZSTD_DCtx		*zd;
};

int
codec_parse(const char *s, struct codec_spec *spec, const char **cause)
{
	char	*end;
	long	 level;

	if (strcmp(s, "lz4") == 0) {
		spec->id = CODEC_LZ4;
		spec->level = 1;
		return 0;
	}
	if (strcmp(s, "zstd") == 0) {
		spec->id = CODEC_ZSTD;
		spec->level = CODEC_ZSTD_DEFAULT_LEVEL;
		return 0;
	}
	if (strncmp(s, "zstd:", 5) == 0) {
		errno = 0;
		level = strtol(s + 5, &end, 10);
		if (errno != 0 || end == s + 5 || *end != '\0' ||
		    level < ZSTD_minCLevel() || level > ZSTD_maxCLevel() ||
		    level == 0) {
			*cause = "zstd level out of range (1..22, or negative)";
			return -1;
		}
		spec->id = CODEC_ZSTD;
		spec->level = (int)level;
		return 0;
	}
	*cause = "unknown codec (use lz4, zstd or zstd:LEVEL)";
	return -1;
}

const char *
codec_format(const struct codec_spec *spec, char *buf, size_t len)
{
	if (spec->id == CODEC_LZ4)
		snprintf(buf, len, "lz4");
	else
		snprintf(buf, len, "zstd:%d", spec->level);
	return buf;
}

struct codec_ctx *
codec_ctx_new(const struct codec_spec *spec)
{
	struct codec_ctx	*ctx;

	if ((ctx = calloc(1, sizeof *ctx)) == NULL)
		return NULL;
	ctx->spec = *spec;
	switch (spec->id) {
	case CODEC_LZ4:
		if ((ctx->lz4 = LZ4_createStream()) == NULL)
			goto fail;
		return ctx;	/* LZ4_createStream initialized it */
	case CODEC_ZSTD:
		ctx->zc = ZSTD_createCCtx();
		ctx->zd = ZSTD_createDCtx();
		if (ctx->zc == NULL || ctx->zd == NULL)
			goto fail;
		if (ZSTD_isError(ZSTD_CCtx_setParameter(ctx->zc,
		    ZSTD_c_compressionLevel, spec->level)))
			goto fail;
		/* A page never needs a frame's checksum or size fields. */
		ZSTD_CCtx_setParameter(ctx->zc, ZSTD_c_checksumFlag, 0);
		ZSTD_CCtx_setParameter(ctx->zc, ZSTD_c_contentSizeFlag, 0);
		ZSTD_CCtx_setParameter(ctx->zc, ZSTD_c_dictIDFlag, 0);
		return ctx;
	}
fail:
	codec_ctx_free(ctx);
	return NULL;
}

void
codec_ctx_free(struct codec_ctx *ctx)
{
	if (ctx == NULL)
		return;
	LZ4_freeStream(ctx->lz4);
	ZSTD_freeCCtx(ctx->zc);
	ZSTD_freeDCtx(ctx->zd);
	free(ctx);
}

size_t
codec_bound(const struct codec_ctx *ctx, size_t n)
{
	if (ctx->spec.id == CODEC_LZ4)
		return (size_t)LZ4_compressBound((int)n);
	return ZSTD_compressBound(n);
}

size_t
codec_compress(struct codec_ctx *ctx, const void *src, size_t n, void *dst,
    size_t cap)
{
	size_t	r;
	int	len;

	if (n > INT_MAX || cap > INT_MAX)
		return 0;
	if (ctx->spec.id == CODEC_LZ4) {
		len = LZ4_compress_fast_extState(ctx->lz4, src, dst, (int)n,
		    (int)cap, ctx->spec.level);
		return len > 0 ? (size_t)len : 0;
	}
	r = ZSTD_compress2(ctx->zc, dst, cap, src, n);
	return ZSTD_isError(r) ? 0 : r;
}

int
codec_decompress(struct codec_ctx *ctx, const void *src, size_t n, void *dst,
    size_t out)
{
	size_t	r;
	int	len;

	if (n > INT_MAX || out > INT_MAX)
		return -1;
	if (ctx->spec.id == CODEC_LZ4) {
		len = LZ4_decompress_safe(src, dst, (int)n, (int)out);
		return len == (int)out ? 0 : -1;
	}
	r = ZSTD_decompressDCtx(ctx->zd, dst, out, src, n);
	return !ZSTD_isError(r) && r == out ? 0 : -1;
}
