/*
 * page.h -- facts about one 4 KiB page shared by pool, daemon and tools.
 */
#ifndef ZP_PAGE_H
#define ZP_PAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define PAGE_SIZE_4K	4096u
#define PAGE_WORDS	(PAGE_SIZE_4K / sizeof(uint64_t))

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

#endif /* ZP_PAGE_H */
