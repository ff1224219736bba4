/*
 * zp_fill.c -- a libzpclient user that keeps pages in the pool, so that
 * tests of zpctl have clients and figures to look at.
 *
 * usage: zp_fill SOCKET PAGES [DISTINCT [NAME]]
 *
 * Stores PAGES pages of which DISTINCT (default: all) differ: page i has
 * the content of page i % DISTINCT, so the others are duplicates for the
 * dedup index.  NAME (default zp_fill) is the name the daemon shows for
 * the connection.  Then prints `client_id N` and `pages N` and holds the
 * pages until SIGTERM or SIGINT, when it closes the connection and exits 0.
 */
#include <err.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpclient.h"

/* Text that differs from page to page and compresses like text. */
static void
page_fill(size_t i, unsigned char *p)
{
	size_t	off;
	int	n;

	for (off = 0; off < ZP_PAGE_SIZE; off += (size_t)n) {
		n = snprintf((char *)p + off, ZP_PAGE_SIZE - off,
		    "page %zu line %zu of the zp_fill corpus\n", i, off / 40);
		if (n < 0 || (size_t)n >= ZP_PAGE_SIZE - off)
			break;
	}
	memset(p + off, '.', ZP_PAGE_SIZE - off);
}

static size_t
arg_count(const char *s, const char *what)
{
	char		*end;
	unsigned long	 v;

	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v == 0 || v > 1u << 20)
		errx(2, "%s must be a number from 1 to %u", what, 1u << 20);
	return v;
}

int
main(int argc, char **argv)
{
	struct zp_options	 opts = { .name = "zp_fill" };
	struct zp_stats		 st;
	zp_client		*c;
	zp_handle		*handles;
	unsigned char		*pages;
	sigset_t		 set;
	size_t			 n, distinct, i;
	int			 rc, sig;

	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: zp_fill SOCKET PAGES [DISTINCT "
		    "[NAME]]\n");
		return 2;
	}
	opts.socket_path = argv[1];
	n = arg_count(argv[2], "PAGES");
	distinct = argc >= 4 ? arg_count(argv[3], "DISTINCT") : n;
	if (argc == 5)
		opts.name = argv[4];

	/* Blocked before anything can fail, so a test's kill is never lost. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		err(1, "sigprocmask");

	if ((pages = malloc(n * ZP_PAGE_SIZE)) == NULL ||
	    (handles = calloc(n, sizeof *handles)) == NULL)
		err(1, "malloc");
	for (i = 0; i < n; i++)
		page_fill(i % distinct, pages + i * ZP_PAGE_SIZE);

	if ((rc = zp_connect(&opts, &c)) != 0)
		errx(1, "zp_connect %s: %s", argv[1], zp_strerror(rc));
	if ((rc = zp_store_batch(c, pages, n, handles, NULL)) != (int)n)
		errx(1, "zp_store_batch: %s", rc < 0 ? zp_strerror(rc) :
		    "not every page was stored");
	if ((rc = zp_stats(c, &st)) != 0)
		errx(1, "zp_stats: %s", zp_strerror(rc));
	printf("client_id %" PRIu64 "\npages %zu\n", st.client_id, n);
	if (fflush(stdout) != 0)
		err(1, "stdout");

	if (sigwait(&set, &sig) != 0)
		errx(1, "sigwait failed");
	zp_close(c);
	free(handles);
	free(pages);
	return 0;
}
