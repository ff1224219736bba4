/*
 * kvcache.c -- a key-value cache that keeps only its hot entries in its
 * own memory and offloads the cold ones to zpoold.
 *
 * The cache holds `entries` records of one 4 KiB page each (a session
 * store, a rendered-fragment cache: anything whose values are page-sized).
 * Only `resident` of them may stay in the process; past that, the least
 * recently used ones are handed to zpoold with zp_store_async() in batches,
 * and their memory is freed once the daemon has them.  An access to an
 * offloaded entry faults it back with zp_load() and frees the handle.
 *
 * A store is asynchronous so the daemon compresses while the cache goes on
 * serving; the pages of a batch stay in memory until the batch completes,
 * because a store refused for lack of budget (ZP_ENOSPC) leaves the page
 * with the caller, and an entry touched while its batch is in flight is
 * simply kept.  Every read is checked against the value the cache last
 * wrote, so a wrong page from the pool is reported, not served.
 *
 * Build:  cc -o kvcache kvcache.c $(pkg-config --cflags --libs zpclient)
 * Run:    ./kvcache [-s socket] [-n entries] [-r resident] [-a accesses]
 *
 * It prints what it did as `key value` lines and exits 0 when every read
 * returned what was written, 1 otherwise.
 */

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zpclient.h>

#define BATCH		32	/* pages per asynchronous store */
#define WRITE_PERCENT	5	/* accesses that replace the value */
#define HOT_PERCENT	10	/* of the keys ... */
#define HOT_HITS	85	/* ... take this share of the accesses */

struct batch;

enum state {
	RESIDENT,		/* page in memory, on the LRU list */
	INFLIGHT,		/* page in memory, being stored by zpoold */
	OFFLOADED,		/* only zpoold has it, under `handle` */
};

struct entry {
	uint64_t	 key;
	uint32_t	 version;	/* bumped by every write */
	enum state	 state;
	unsigned char	*page;		/* NULL when OFFLOADED */
	zp_handle	 handle;
	struct batch	*batch;		/* INFLIGHT: the batch storing it */
	struct entry	*prev, *next;	/* LRU, most recent first */
};

struct batch {
	zp_ticket	 ticket;
	size_t		 n;
	struct entry	*entries[BATCH];
	unsigned char	 pages[BATCH * ZP_PAGE_SIZE];
};

struct counters {
	uint64_t	accesses, reads, writes, hits, refaults;
	uint64_t	offloaded, refused, rescued, batches, corrupt;
};

struct cache {
	zp_client	*zp;
	struct entry	*entries;
	size_t		 nentries;
	size_t		 max_resident;
	size_t		 nresident;
	struct entry	*lru_head, *lru_tail;
	struct batch	 batch[2];	/* one filling while one is in flight */
	struct batch	*pending;	/* in flight, or NULL */
	struct counters	 count;
	uint64_t	 rng;
};

static uint64_t
rng_next(uint64_t *s)
{
	/* xorshift64*: enough for a workload, and the same on every run. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/*
 * The value of (key, version).  Real caches hold a mix, and so does this
 * one: empty pages, pages many keys share (a default record), random
 * bytes that do not compress, and text records that compress well.
 */
static void
value_fill(uint64_t key, uint32_t version, unsigned char *page)
{
	uint64_t	s;
	size_t		i, len = 0;
	int		n;

	switch ((key + version) % 8) {
	case 0:
		memset(page, 0, ZP_PAGE_SIZE);
		return;
	case 1:
		for (i = 0; i < ZP_PAGE_SIZE; i++)
			page[i] = "default record\n"[i % 15];
		return;
	case 2:
		s = (key << 32 | version) + 1;
		for (i = 0; i < ZP_PAGE_SIZE; i += 8) {
			uint64_t r = rng_next(&s);
			memcpy(page + i, &r, 8);
		}
		return;
	default:
		break;
	}
	memset(page, ' ', ZP_PAGE_SIZE);
	for (i = 0; len < ZP_PAGE_SIZE - 80; i++) {
		n = snprintf((char *)page + len, ZP_PAGE_SIZE - len,
		    "key=%" PRIu64 " version=%" PRIu32 " field%zu=%" PRIu64
		    "\n", key, version, i, (key * 2654435761u + i) % 100000);
		len += (size_t)n;
	}
}

static void
lru_unlink(struct cache *c, struct entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->lru_head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->lru_tail = e->prev;
	e->prev = e->next = NULL;
	c->nresident--;
}

static void
lru_push_head(struct cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->lru_head;
	if (c->lru_head != NULL)
		c->lru_head->prev = e;
	else
		c->lru_tail = e;
	c->lru_head = e;
	c->nresident++;
}

/*
 * Collect the pending batch: free the memory of every entry zpoold now
 * holds, and take back the ones it refused or that were used meanwhile.
 * Returns how many pages it refused.
 */
static size_t
batch_complete(struct cache *c)
{
	struct batch	*b = c->pending;
	zp_handle	 handles[BATCH];
	int		 results[BATCH], rc;
	size_t		 i, refused = 0;

	if (b == NULL)
		return 0;
	c->pending = NULL;
	rc = zp_wait(c->zp, b->ticket, handles, results, BATCH);
	if (rc < 0)
		errx(1, "zp_wait: %s", zp_strerror(rc));
	for (i = 0; i < b->n; i++) {
		struct entry	*e = b->entries[i];
		int		 ours = e->state == INFLIGHT && e->batch == b;

		if (ours)
			e->batch = NULL;
		if (results[i] == ZP_ENOSPC) {
			/* The pool is full: the page simply stays here. */
			refused++;
			if (ours) {
				e->state = RESIDENT;
				lru_push_head(c, e);
			}
			continue;
		}
		if (results[i] != 0)
			errx(1, "store of key %" PRIu64 ": %s", e->key,
			    zp_strerror(results[i]));
		if (!ours) {
			/*
			 * Used while in flight (and maybe rewritten, or in
			 * a newer batch by now): keep the entry as it is and
			 * drop the copy zpoold made.
			 */
			c->count.rescued++;
			if ((rc = zp_free(c->zp, handles[i])) != 0)
				errx(1, "zp_free: %s", zp_strerror(rc));
			continue;
		}
		free(e->page);
		e->page = NULL;
		e->handle = handles[i];
		e->state = OFFLOADED;
		c->count.offloaded++;
	}
	c->count.refused += refused;
	return refused;
}

/*
 * Once more than max_resident entries are in memory, offload the coldest
 * in whole batches, which leaves up to a batch of room below the limit:
 * stores go out full rather than one page per access.  When zpoold
 * refuses pages (its budget is reached) the cache stays over its size for
 * now, and a later call tries again.
 */
static void
cache_shrink(struct cache *c)
{
	struct batch	*b;
	struct entry	*e;
	size_t		 refused;
	int		 rc;

	while (c->nresident > c->max_resident) {
		b = c->pending == &c->batch[0] ? &c->batch[1] : &c->batch[0];
		b->n = 0;
		while (b->n < BATCH && c->nresident > 0) {
			e = c->lru_tail;
			lru_unlink(c, e);
			e->state = INFLIGHT;
			e->batch = b;
			memcpy(b->pages + b->n * ZP_PAGE_SIZE, e->page,
			    ZP_PAGE_SIZE);
			b->entries[b->n++] = e;
		}
		/* At most one batch in flight: finish the older one first. */
		refused = batch_complete(c);
		rc = zp_store_async(c->zp, b->pages, b->n, &b->ticket);
		if (rc != 0)
			errx(1, "zp_store_async: %s", zp_strerror(rc));
		c->pending = b;
		c->count.batches++;
		if (refused > 0)
			break;
	}
}

static int
page_check(const struct entry *e, const unsigned char *page)
{
	unsigned char	want[ZP_PAGE_SIZE];

	value_fill(e->key, e->version, want);
	return memcmp(want, page, ZP_PAGE_SIZE) == 0 ? 0 : -1;
}

/* Make e resident, faulting it back from zpoold if it was offloaded. */
static void
cache_touch(struct cache *c, struct entry *e)
{
	int	rc;

	switch (e->state) {
	case RESIDENT:
		c->count.hits++;
		lru_unlink(c, e);
		break;
	case INFLIGHT:
		/* Still in memory; batch_complete() will see it is back. */
		c->count.hits++;
		e->batch = NULL;
		break;
	case OFFLOADED:
		if ((e->page = malloc(ZP_PAGE_SIZE)) == NULL)
			err(1, "malloc");
		if ((rc = zp_load(c->zp, e->handle, e->page)) != 0)
			errx(1, "zp_load of key %" PRIu64 ": %s", e->key,
			    zp_strerror(rc));
		if ((rc = zp_free(c->zp, e->handle)) != 0)
			errx(1, "zp_free: %s", zp_strerror(rc));
		e->handle = 0;
		c->count.refaults++;
		break;
	}
	e->state = RESIDENT;
	lru_push_head(c, e);
}

static void
cache_get(struct cache *c, struct entry *e)
{
	cache_touch(c, e);
	c->count.reads++;
	if (page_check(e, e->page) != 0) {
		warnx("key %" PRIu64 ": value differs from what was written",
		    e->key);
		c->count.corrupt++;
	}
}

static void
cache_put(struct cache *c, struct entry *e)
{
	cache_touch(c, e);
	c->count.writes++;
	e->version++;
	value_fill(e->key, e->version, e->page);
}

static void
cache_init(struct cache *c, size_t nentries)
{
	size_t	i;

	if ((c->entries = calloc(nentries, sizeof *c->entries)) == NULL)
		err(1, "calloc");
	c->nentries = nentries;
	for (i = 0; i < nentries; i++) {
		struct entry *e = &c->entries[i];

		e->key = i;
		if ((e->page = malloc(ZP_PAGE_SIZE)) == NULL)
			err(1, "malloc");
		value_fill(e->key, e->version, e->page);
		e->state = RESIDENT;
		lru_push_head(c, e);
		cache_shrink(c);
	}
}

/* A skewed workload: a few hot keys get most of the accesses. */
static struct entry *
cache_pick(struct cache *c)
{
	size_t	hot = c->nentries * HOT_PERCENT / 100 + 1;
	size_t	i;

	if (rng_next(&c->rng) % 100 < HOT_HITS)
		i = rng_next(&c->rng) % hot * 7919 % c->nentries;
	else
		i = rng_next(&c->rng) % c->nentries;
	return &c->entries[i];
}

/* Read back every entry, offloaded ones in one load batch at a time. */
static void
cache_verify_all(struct cache *c)
{
	static unsigned char	 pages[BATCH * ZP_PAGE_SIZE];
	zp_handle		 handles[BATCH];
	struct entry		*which[BATCH];
	int			 results[BATCH], rc;
	size_t			 i, j, n = 0;

	batch_complete(c);
	for (i = 0; i <= c->nentries; i++) {
		if (i < c->nentries) {
			struct entry *e = &c->entries[i];

			if (e->state != OFFLOADED) {
				c->count.corrupt += page_check(e, e->page) != 0;
				continue;
			}
			which[n] = e;
			handles[n++] = e->handle;
			if (n < BATCH)
				continue;
		}
		if (n == 0)
			break;
		rc = zp_load_batch(c->zp, handles, n, pages, results);
		if (rc < 0)
			errx(1, "zp_load_batch: %s", zp_strerror(rc));
		for (j = 0; j < n; j++) {
			if (results[j] != 0)
				errx(1, "load of key %" PRIu64 ": %s",
				    which[j]->key, zp_strerror(results[j]));
			if (page_check(which[j], pages + j * ZP_PAGE_SIZE))
				c->count.corrupt++;
		}
		n = 0;
	}
}

static void
report(struct cache *c)
{
	struct zp_stats	st;
	int		rc;

	if ((rc = zp_stats(c->zp, &st)) != 0)
		errx(1, "zp_stats: %s", zp_strerror(rc));
	printf("entries %zu\n", c->nentries);
	printf("max_resident %zu\n", c->max_resident);
	printf("resident %zu\n", c->nresident);
	printf("accesses %" PRIu64 "\n", c->count.accesses);
	printf("reads %" PRIu64 "\n", c->count.reads);
	printf("writes %" PRIu64 "\n", c->count.writes);
	printf("hits %" PRIu64 "\n", c->count.hits);
	printf("refaults %" PRIu64 "\n", c->count.refaults);
	printf("store_batches %" PRIu64 "\n", c->count.batches);
	printf("offloaded_pages %" PRIu64 "\n", c->count.offloaded);
	printf("refused_pages %" PRIu64 "\n", c->count.refused);
	printf("rescued_pages %" PRIu64 "\n", c->count.rescued);
	printf("corrupt %" PRIu64 "\n", c->count.corrupt);
	printf("zp_pages_stored %" PRIu64 "\n", st.pages_stored);
	printf("zp_orig_bytes %" PRIu64 "\n", st.orig_bytes);
	printf("zp_compr_bytes %" PRIu64 "\n", st.compr_bytes);
	printf("zp_shared_pages %" PRIu64 "\n", st.shared_pages);
	printf("zp_refused_stores %" PRIu64 "\n", st.refused_stores);
	printf("zp_pool_mem_used_total %" PRIu64 "\n",
	    st.pool_mem_used_total);
	if (st.compr_bytes > 0)
		printf("zp_ratio %.2f\n",
		    (double)st.orig_bytes / (double)st.compr_bytes);
}

static size_t
number(const char *s, const char *what)
{
	char		*end;
	unsigned long	 n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || n == 0)
		errx(1, "%s: not a positive number: %s", what, s);
	return n;
}

static void
usage(void)
{
	fprintf(stderr, "usage: kvcache [-s socket] [-n entries] "
	    "[-r resident] [-a accesses]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct zp_options	 opts = { .name = "kvcache" };
	static struct cache	 c;	/* its batches are 256 KiB */
	size_t			 nentries = 8192, accesses = 50000, i;
	int			 ch, rc;

	c.max_resident = 1024;
	c.rng = 0x9e3779b97f4a7c15ULL;
	while ((ch = getopt(argc, argv, "a:n:r:s:")) != -1) {
		switch (ch) {
		case 'a':
			accesses = number(optarg, "accesses");
			break;
		case 'n':
			nentries = number(optarg, "entries");
			break;
		case 'r':
			c.max_resident = number(optarg, "resident");
			break;
		case 's':
			opts.socket_path = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if ((rc = zp_connect(&opts, &c.zp)) != 0)
		errx(1, "cannot connect to zpoold at %s: %s",
		    zp_socket_path(opts.socket_path), zp_strerror(rc));
	cache_init(&c, nentries);
	for (i = 0; i < accesses; i++) {
		struct entry *e = cache_pick(&c);

		c.count.accesses++;
		if (rng_next(&c.rng) % 100 < WRITE_PERCENT)
			cache_put(&c, e);
		else
			cache_get(&c, e);
		cache_shrink(&c);
	}
	cache_verify_all(&c);
	report(&c);
	zp_close(c.zp);
	for (i = 0; i < c.nentries; i++)
		free(c.entries[i].page);
	free(c.entries);
	return c.count.corrupt == 0 ? 0 : 1;
}
