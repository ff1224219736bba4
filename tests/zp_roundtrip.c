/*
 * zp_roundtrip.c -- a minimal libzpclient user for the daemon tests: store
 * n pages of mixed content, load them back, compare, free them.
 *
 * usage: zp_roundtrip SOCKET [PAGES]
 *
 * Prints `key value` lines (pages, ok, pages_stored) and exits 0 only when
 * every page came back as it was stored and the daemon's own count of this
 * connection's pages agrees.
 */

#include <err.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpclient.h"

/* Page i: zero, repeated, or text that differs from page to page. */
static void
page_fill(size_t i, unsigned char *p)
{
	size_t	off;

	switch (i % 4) {
	case 0:
		memset(p, 0, ZP_PAGE_SIZE);
		break;
	case 1:
		memset(p, 0x5a, ZP_PAGE_SIZE);
		break;
	default:
		for (off = 0; off < ZP_PAGE_SIZE; off++)
			p[off] = (unsigned char)("roundtrip"[off % 9] ^
			    (i * 31 + off / 64));
		break;
	}
}

int
main(int argc, char **argv)
{
	struct zp_options	 opts = { .name = "zp_roundtrip" };
	struct zp_stats		 st;
	zp_client		*c;
	zp_handle		*handles;
	unsigned char		*pages, *back;
	size_t			 n = 64, i, bad = 0;
	int			 rc;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: zp_roundtrip SOCKET [PAGES]\n");
		return 2;
	}
	opts.socket_path = argv[1];
	if (argc == 3 && (n = strtoul(argv[2], NULL, 10)) == 0)
		errx(2, "PAGES must be a positive number");

	pages = malloc(n * ZP_PAGE_SIZE);
	back = malloc(n * ZP_PAGE_SIZE);
	handles = calloc(n, sizeof *handles);
	if (pages == NULL || back == NULL || handles == NULL)
		err(1, "malloc");
	for (i = 0; i < n; i++)
		page_fill(i, pages + i * ZP_PAGE_SIZE);

	if ((rc = zp_connect(&opts, &c)) != 0)
		errx(1, "zp_connect %s: %s", argv[1], zp_strerror(rc));
	if ((rc = zp_store_batch(c, pages, n, handles, NULL)) != (int)n)
		errx(1, "zp_store_batch: %s", rc < 0 ? zp_strerror(rc) :
		    "not every page was stored");
	if ((rc = zp_stats(c, &st)) != 0)
		errx(1, "zp_stats: %s", zp_strerror(rc));
	if ((rc = zp_load_batch(c, handles, n, back, NULL)) != (int)n)
		errx(1, "zp_load_batch: %s", rc < 0 ? zp_strerror(rc) :
		    "not every page was loaded");
	for (i = 0; i < n; i++)
		bad += memcmp(pages + i * ZP_PAGE_SIZE, back + i * ZP_PAGE_SIZE,
		    ZP_PAGE_SIZE) != 0;
	if ((rc = zp_free_batch(c, handles, n, NULL)) != (int)n)
		errx(1, "zp_free_batch: %s", rc < 0 ? zp_strerror(rc) :
		    "not every handle was freed");
	zp_close(c);

	printf("pages %zu\nok %zu\npages_stored %" PRIu64 "\n", n, n - bad,
	    st.pages_stored);
	free(handles);
	free(back);
	free(pages);
	return bad == 0 && st.pages_stored == n ? 0 : 1;
}
