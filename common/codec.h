/*
 * codec.h -- the page compressors (lz4, zstd) behind one small interface.
 *
 * A codec_ctx holds one compressor's state and scratch; it is not
 * thread-safe, so every thread (each daemon worker, each benchmark thread)
 * owns its own.  Nothing here prints or exits.
 */
#ifndef ZP_CODEC_H
#define ZP_CODEC_H

#include <stddef.h>

enum codec_id {
	CODEC_LZ4 = 1,
	CODEC_ZSTD = 2,
};

struct codec_spec {
	enum codec_id	id;
	int		level;	/* lz4: acceleration (1 = default); zstd: level */
};

#define CODEC_ZSTD_DEFAULT_LEVEL 3

struct codec_ctx;

/* Parse "lz4", "zstd" or "zstd:LEVEL".  0, or -1 with *cause set. */
int		 codec_parse(const char *s, struct codec_spec *spec,
		     const char **cause);
/* "lz4" or "zstd:3", into buf. */
const char	*codec_format(const struct codec_spec *spec, char *buf,
		     size_t len);

struct codec_ctx *codec_ctx_new(const struct codec_spec *spec);
void		 codec_ctx_free(struct codec_ctx *ctx);

/* Bytes needed in dst to compress n bytes without failing. */
size_t		 codec_bound(const struct codec_ctx *ctx, size_t n);

/*
 * Compress n bytes into dst (cap bytes).  Returns the compressed length, or
 * 0 when it does not fit in cap (the caller then stores the data raw).
 */
size_t		 codec_compress(struct codec_ctx *ctx, const void *src,
		     size_t n, void *dst, size_t cap);

/* Decompress exactly `out` bytes.  0, or -1 when the input is corrupt. */
int		 codec_decompress(struct codec_ctx *ctx, const void *src,
		     size_t n, void *dst, size_t out);

#endif /* ZP_CODEC_H */
