/*
 * page.h -- facts about one 4 KiB page shared by pool, daemon and tools.
 */
#ifndef ZP_PAGE_H
#define ZP_PAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PAGE_SIZE_4K	4096u
#define PAGE_WORDS	(PAGE_SIZE_4K / sizeof(uint64_t))

/*
 * What a client's limit is charged for a page besides its stored size:
 * about what its handle entry and object record cost the daemon.  Without
 * it a same-filled page, which stores nothing, would cost a limit nothing,
 * and a limited client could grow the daemon without bound.
 */
#define PAGE_LIMIT_CHARGE	16u

/*
 * Same-filled, as zram defines it: one machine word repeated over the page.
 * Returns true and the word in *word.  Most pages fail on the first words,
 * so the loop is cheap where it matters.
 */
static inline bool
page_same_filled(const void *page, uint64_t *word)
{
	const uint64_t	*w = page;
	uint64_t	 first;
	unsigned	 i;

	memcpy(&first, w, sizeof first);
	if (w[PAGE_WORDS - 1] != first)
		return false;
	for (i = 1; i < PAGE_WORDS - 1; i++)
		if (w[i] != first)
			return false;
	*word = first;
	return true;
}

static inline void
page_fill(void *page, uint64_t word)
{
	uint64_t	*w = page;
	unsigned	 i;

	for (i = 0; i < PAGE_WORDS; i++)
		w[i] = word;
}

/*
 * Copy a page into a staging slot, which another process reads next, with
 * non-temporal stores.  The slot's cache lines sit in the reader's CPU
 * since it last read them; ordinary stores must take each line back first,
 * and lz4 writing its output there ran at 1.7 GB/s where it runs at 4.0
 * into a private page (docs/performance.md, "session 6").  Streaming
 * stores hand whole lines to memory instead.  `dst` must be 16-byte
 * aligned (slots are page-aligned); `src` need not be.  The stores are
 * weakly ordered: call page_stream_fence() once, after the last page and
 * before the reader is told.
 */
static inline void
page_stream(void *dst, const void *src)
{
#ifdef __SSE2__
	__m128i		*d = dst;
	const __m128i	*s = src;
	__m128i		 a, b, c, e;
	unsigned	 i;

	for (i = 0; i < PAGE_SIZE_4K / sizeof *d; i += 4) {
		a = _mm_loadu_si128(s + i);
		b = _mm_loadu_si128(s + i + 1);
		c = _mm_loadu_si128(s + i + 2);
		e = _mm_loadu_si128(s + i + 3);
		_mm_stream_si128(d + i, a);
		_mm_stream_si128(d + i + 1, b);
		_mm_stream_si128(d + i + 2, c);
		_mm_stream_si128(d + i + 3, e);
	}
#else
	memcpy(dst, src, PAGE_SIZE_4K);
#endif
}

static inline void
page_stream_fence(void)
{
#ifdef __SSE2__
	_mm_sfence();
#endif
}

#endif /* ZP_PAGE_H */
