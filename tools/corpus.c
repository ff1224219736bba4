/*
 * corpus.c -- load, write and describe corpora (see corpus.h).
 *
 * Duplicates are found by XXH3 and confirmed by content, so a hash
 * collision can never be counted as a duplicate.
 */

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>
#include <xxhash.h>

#include "corpus.h"

#define WRITER_BATCH	256	/* pages per write(2) */

struct corpus_writer {
	char		*path;
	int		 fd;
	uint8_t		*buf;
	unsigned	 used;		/* pages in buf */
	uint64_t	 pages;		/* pages added */
};

int
corpus_load(const char *path, struct corpus *c, const char **cause)
{
	struct stat	 st;
	size_t		 len, off = 0;
	ssize_t		 n;
	void		*mem;
	int		 fd, saved;

	memset(c, 0, sizeof *c);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*cause = "cannot open corpus";
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		*cause = "cannot stat corpus";
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0 ||
	    st.st_size % PAGE_SIZE_4K != 0) {
		*cause = "not a corpus (a non-empty file of 4096-byte pages)";
		errno = EINVAL;
		goto fail;
	}
	len = (size_t)st.st_size;
	/* Anonymous memory is page-aligned and private, as O_DIRECT and the
	   pool want it. */
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		*cause = "cannot allocate memory for the corpus";
		goto fail;
	}
	while (off < len) {
		n = read(fd, (uint8_t *)mem + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			saved = n == 0 ? EIO : errno;
			munmap(mem, len);
			errno = saved;
			*cause = n == 0 ? "corpus shrank while read" :
			    "cannot read corpus";
			goto fail;
		}
		off += (size_t)n;
	}
	close(fd);
	c->pages = mem;
	c->npages = len / PAGE_SIZE_4K;
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

void
corpus_free(struct corpus *c)
{
	if (c->pages != NULL)
		munmap(c->pages, c->npages * (size_t)PAGE_SIZE_4K);
	memset(c, 0, sizeof *c);
}

struct corpus_writer *
corpus_writer_open(const char *path)
{
	struct corpus_writer	*w;
	int			 saved;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return NULL;
	w->fd = -1;
	if ((w->path = strdup(path)) == NULL ||
	    (w->buf = malloc(WRITER_BATCH * (size_t)PAGE_SIZE_4K)) == NULL)
		goto fail;
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd == -1)
		goto fail;
	return w;
fail:
	saved = errno;
	free(w->buf);
	free(w->path);
	free(w);
	errno = saved;
	return NULL;
}

static int
writer_flush(struct corpus_writer *w)
{
	size_t	 len = w->used * (size_t)PAGE_SIZE_4K, off = 0;
	ssize_t	 n;

	while (off < len) {
		n = write(w->fd, w->buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		off += (size_t)n;
	}
	w->used = 0;
	return 0;
}

int
corpus_writer_add(struct corpus_writer *w, const void *page)
{
	memcpy(w->buf + w->used * (size_t)PAGE_SIZE_4K, page, PAGE_SIZE_4K);
	w->used++;
	w->pages++;
	if (w->used == WRITER_BATCH)
		return writer_flush(w);
	return 0;
}

uint64_t
corpus_writer_pages(const struct corpus_writer *w)
{
	return w->pages;
}

void
corpus_writer_buffer(const struct corpus_writer *w, const void **buf,
    size_t *len)
{
	*buf = w->buf;
	*len = WRITER_BATCH * (size_t)PAGE_SIZE_4K;
}

static void
writer_release(struct corpus_writer *w)
{
	free(w->buf);
	free(w->path);
	free(w);
}

int
corpus_writer_close(struct corpus_writer *w)
{
	int	saved;

	if (writer_flush(w) == -1 || fsync(w->fd) == -1 ||
	    close(w->fd) == -1) {
		saved = errno;
		w->fd = -1;
		corpus_writer_abort(w);
		errno = saved;
		return -1;
	}
	writer_release(w);
	return 0;
}

void
corpus_writer_abort(struct corpus_writer *w)
{
	int	saved = errno;

	if (w->fd != -1)
		close(w->fd);
	unlink(w->path);
	writer_release(w);
	errno = saved;
}

struct page_hash {
	uint64_t	hash;
	size_t		index;
};

static int
page_hash_cmp(const void *a, const void *b)
{
	const struct page_hash	*x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return 0;
}

/*
 * In a run of equal hashes (sorted by index), a page is a duplicate when
 * its content equals an earlier page of the run.  Runs are almost always
 * one page long; quadratic is fine.
 */
static uint64_t
count_dups_in_run(const struct corpus *c, const struct page_hash *run,
    size_t n)
{
	uint64_t	dups = 0;
	size_t		i, j;

	for (i = 1; i < n; i++) {
		for (j = 0; j < i; j++) {
			if (memcmp(corpus_page(c, run[i].index),
			    corpus_page(c, run[j].index), PAGE_SIZE_4K) == 0) {
				dups++;
				break;
			}
		}
	}
	return dups;
}

int
corpus_describe(const struct corpus *c, struct corpus_desc *d,
    const char **cause)
{
	struct page_hash	*h;
	char			 dst[LZ4_COMPRESSBOUND(PAGE_SIZE_4K)];
	const uint8_t		*p;
	uint64_t		 word;
	size_t			 i, j, nh = 0;
	int			 len;

	memset(d, 0, sizeof *d);
	if ((h = calloc(c->npages, sizeof *h)) == NULL) {
		*cause = "out of memory";
		return -1;
	}
	d->pages = c->npages;
	for (i = 0; i < c->npages; i++) {
		p = corpus_page(c, i);
		len = LZ4_compress_default((const char *)p, dst, PAGE_SIZE_4K,
		    sizeof dst);
		d->lz4_bytes += (uint64_t)len;
		if (len >= (int)PAGE_SIZE_4K)
			d->incompressible++;
		if (page_same_filled(p, &word)) {
			if (word == 0)
				d->zero_pages++;
			else
				d->same_pages++;
			continue;
		}
		d->data_pages++;
		d->lz4_data_bytes += (uint64_t)len;
		h[nh].hash = XXH3_64bits(p, PAGE_SIZE_4K);
		h[nh].index = i;
		nh++;
	}
	qsort(h, nh, sizeof *h, page_hash_cmp);
	for (i = 0; i < nh; i = j) {
		for (j = i + 1; j < nh && h[j].hash == h[i].hash; j++)
			;
		if (j - i > 1)
			d->dup_pages += count_dups_in_run(c, h + i, j - i);
	}
	free(h);
	return 0;
}

static double
ratio(uint64_t a, uint64_t b)
{
	return b == 0 ? 0 : (double)a / (double)b;
}

void
corpus_desc_print(const struct corpus_desc *d, const char *prefix, FILE *f)
{
	double	n = d->pages == 0 ? 1 : (double)d->pages;

	fprintf(f, "%spages %llu\n", prefix, (unsigned long long)d->pages);
	fprintf(f, "%sbytes %llu\n", prefix,
	    (unsigned long long)d->pages * PAGE_SIZE_4K);
	fprintf(f, "%szero_pages %llu (%.2f%%)\n", prefix,
	    (unsigned long long)d->zero_pages, 100.0 * d->zero_pages / n);
	fprintf(f, "%ssame_pages %llu (%.2f%%)\n", prefix,
	    (unsigned long long)d->same_pages, 100.0 * d->same_pages / n);
	fprintf(f, "%sdup_pages %llu (%.2f%%)\n", prefix,
	    (unsigned long long)d->dup_pages, 100.0 * d->dup_pages / n);
	fprintf(f, "%sincompressible_pages %llu (%.2f%%)\n", prefix,
	    (unsigned long long)d->incompressible,
	    100.0 * d->incompressible / n);
	fprintf(f, "%slz4_ratio %.3f\n", prefix,
	    ratio(d->pages * PAGE_SIZE_4K, d->lz4_bytes));
	fprintf(f, "%slz4_ratio_data_pages %.3f\n", prefix,
	    ratio(d->data_pages * PAGE_SIZE_4K, d->lz4_data_bytes));
}
