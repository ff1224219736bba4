/*
 * corpus.h -- corpora: files of raw 4 KiB pages, nothing else.
 *
 * A corpus is loaded whole into page-aligned private memory, so the pool
 * (which reads a page more than once) and O_DIRECT (which needs aligned
 * buffers) can both use it as is.  The writer buffers pages and refuses to
 * leave a half-written file behind: on failure it removes what it wrote.
 * corpus_describe() says what a corpus holds, measured and never assumed:
 * the generator and the capture both report through it.
 */
#ifndef ZP_CORPUS_H
#define ZP_CORPUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "page.h"

struct corpus {
	uint8_t		*pages;		/* npages * 4096, 4096-aligned */
	size_t		 npages;
};

/* 0, or -1 with errno and *cause (what went wrong, for a message). */
int		 corpus_load(const char *path, struct corpus *c,
		     const char **cause);
void		 corpus_free(struct corpus *c);

static inline const uint8_t *
corpus_page(const struct corpus *c, size_t i)
{
	return c->pages + i * (size_t)PAGE_SIZE_4K;
}

struct corpus_writer;

struct corpus_writer *corpus_writer_open(const char *path);
/* 0, or -1 with errno set. */
int		 corpus_writer_add(struct corpus_writer *w, const void *page);
uint64_t	 corpus_writer_pages(const struct corpus_writer *w);
/* The writer's own buffer, which a capture of ourselves must skip. */
void		 corpus_writer_buffer(const struct corpus_writer *w,
		     const void **buf, size_t *len);
/* Flush and close: 0, or -1 with errno set and the file removed. */
int		 corpus_writer_close(struct corpus_writer *w);
/* Give up: close and remove the file. */
void		 corpus_writer_abort(struct corpus_writer *w);

/* What a corpus holds. */
struct corpus_desc {
	uint64_t	pages;
	uint64_t	zero_pages;
	uint64_t	same_pages;	/* same-filled, word != 0 */
	uint64_t	dup_pages;	/* copies of an earlier page (neither
					   zero nor same-filled) */
	uint64_t	lz4_bytes;	/* lz4 of every page, summed */
	uint64_t	lz4_data_bytes;	/* lz4 of the other pages only */
	uint64_t	data_pages;	/* neither zero nor same-filled */
	uint64_t	incompressible;	/* lz4 >= 4096 */
};

/* 0, or -1 with *cause (out of memory). */
int		 corpus_describe(const struct corpus *c, struct corpus_desc *d,
		     const char **cause);
/* Print a description as `key value` lines, prefixed by `prefix`. */
void		 corpus_desc_print(const struct corpus_desc *d,
		     const char *prefix, FILE *f);

#endif /* ZP_CORPUS_H */
