/*
 * zpclient.h -- libzpclient, the client library of zpoold.
 *
 * An application offloads cold 4 KiB pages to the zpoold daemon, which keeps
 * them compressed (and deduplicated) in a shared pool, and gets them back by
 * handle.  Page bytes never travel on the socket: at connect time the library
 * creates a sealed memfd of `slots` page slots (the staging area), passes it
 * to the daemon once, and requests then name slots.  The daemon copies a page
 * out of its slot before it looks at it, and writes each loaded page into
 * its slot.
 *
 * Conventions:
 *   - Every call returns 0 (or a count) on success and a negative ZP_E* code
 *     on failure; zp_strerror() turns a code into text.
 *   - A handle is an opaque non-zero 64-bit number, valid only on the
 *     connection that stored it.  Another connection using it gets ZP_ENOENT.
 *   - All calls on one zp_client are thread-safe: several threads may store,
 *     load and free at once; requests are pipelined on one socket.
 *   - The library never exits, never prints, and installs no signal handler.
 *     It ignores SIGPIPE on its own socket (MSG_NOSIGNAL).
 *   - When the daemon goes away, every pending and later call fails with
 *     ZP_ECONNRESET; pages stored on that connection are gone.  A reply
 *     the library cannot accept (the daemon broke the protocol) ends the
 *     connection the same way, with ZP_EPROTO.
 *   - A connection belongs to the process that made it: after fork(), use
 *     it in the parent or the child, not both, and fork only while no
 *     thread is inside a call on it.  zp_close() in the process that
 *     connected ends it, for a forked child too; in a child it only
 *     releases the child's copy.
 *   - Calls are not cancellation points: a thread cancelled inside one
 *     would leave the connection without its reader.  Disable
 *     cancellation around calls (pthread_setcancelstate) in a thread that
 *     may be cancelled.
 */
#ifndef ZPCLIENT_H
#define ZPCLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZP_PAGE_SIZE		4096
#define ZP_PROTOCOL_VERSION	1

/* Default socket path; the environment variable ZPOOLD_SOCKET overrides it. */
#define ZP_DEFAULT_SOCKET	"/run/zpoold/zpoold.sock"
#define ZP_SOCKET_ENV		"ZPOOLD_SOCKET"

/* Error codes: negative, with the values of the matching Linux errno. */
#define ZP_OK		0
#define ZP_EPERM	(-1)	/* admin request from a non-admin peer */
#define ZP_ENOENT	(-2)	/* unknown, freed or foreign handle */
#define ZP_EIO		(-5)	/* stored data failed to decompress */
#define ZP_EAGAIN	(-11)	/* no completion ready (zp_poll) */
#define ZP_ENOMEM	(-12)	/* out of memory (client or daemon) */
#define ZP_EBUSY	(-16)	/* too many connections, or no fds left */
#define ZP_EINVAL	(-22)	/* bad argument: slot, size, batch length */
#define ZP_ENOSPC	(-28)	/* budget or limit reached: page not stored */
#define ZP_EPROTO	(-71)	/* protocol violation or version mismatch */
#define ZP_EMSGSIZE	(-90)	/* reserved: batches are split, never refused */
#define ZP_ECONNRESET	(-104)	/* the daemon closed the connection */
#define ZP_ENOTCONN	(-107)	/* cannot connect to the daemon */

typedef struct zp_client zp_client;
typedef uint64_t zp_handle;
typedef uint64_t zp_ticket;

struct zp_options {
	const char	*socket_path;	/* NULL: $ZPOOLD_SOCKET, then ZP_DEFAULT_SOCKET */
	const char	*name;		/* NULL: the program name */
	unsigned	 slots;		/* staging slots; 0: 256 (1 MiB) */
	/*
	 * Microseconds to poll for a reply before sleeping: 0 for the
	 * default (50), negative never to poll.  Polling yields the CPU at
	 * every turn; it saves the wake-up of a sleeping CPU, which on a
	 * virtual machine can cost more than the whole request.
	 */
	int		 busy_poll_us;
};

/*
 * Connect to the daemon.  `opts` may be NULL for all defaults.  On success
 * stores the new client in *out and returns 0.  Errors: ZP_ENOTCONN (no
 * daemon at the path, or it hung up before answering), ZP_EBUSY (the
 * daemon's connection caps, or it is out of file descriptors), ZP_EPROTO (version mismatch), ZP_ENOMEM, ZP_EINVAL (a
 * path longer than a Unix socket address holds, a name longer than 64
 * bytes, busy_poll_us above 10000), or any code with which the daemon refuses the hello (e.g.
 * ZP_EINVAL for more slots than it allows).
 */
int	zp_connect(const struct zp_options *opts, zp_client **out);

/*
 * Close the connection and free the client.  The daemon frees every page
 * this connection stored.  Called by the process that connected, it ends
 * the connection even where a forked child still holds its socket; called
 * in such a child, it only frees the child's copy.  Must not race with
 * other calls on `c`.
 */
void	zp_close(zp_client *c);

/*
 * Store one page (ZP_PAGE_SIZE bytes).  The page is copied into a staging
 * slot; the caller's buffer is not referenced after return.  Returns 0 and
 * sets *handle, or ZP_ENOSPC (budget or limit: the caller still holds the
 * page, nothing was stored), ZP_ENOMEM (the daemon's), ZP_EINVAL (a NULL
 * argument), ZP_ECONNRESET, or ZP_EPROTO (the connection ended on a
 * protocol error).
 */
int	zp_store(zp_client *c, const void *page, zp_handle *handle);

/*
 * Load the page of `handle` into `page`.  ZP_ENOENT, ZP_EIO, ZP_EINVAL,
 * ZP_ECONNRESET, ZP_EPROTO.
 */
int	zp_load(zp_client *c, zp_handle handle, void *page);

/*
 * Free `handle`.  ZP_ENOENT for unknown, foreign or already freed handles;
 * ZP_EINVAL, ZP_ECONNRESET, ZP_EPROTO.
 */
int	zp_free(zp_client *c, zp_handle handle);

/*
 * Batches: n pages at pages + i * ZP_PAGE_SIZE.  Batches larger than the
 * daemon's max_batch or than the staging area are split by the library.
 * Each page gets its own result in results[i] (0 or a ZP_E* code); for
 * stores, handles[i] is set where results[i] == 0.  The return value is the
 * number of pages that succeeded, or a negative code when the whole call
 * failed (ZP_ECONNRESET, ZP_EPROTO, ZP_EINVAL).  `results` may be NULL.
 * A store batch that meets the budget or the limit gets ZP_ENOSPC for the
 * pages that did not fit; its parts run at once on the daemon's workers,
 * so pages after a refused one may still be stored: find them by
 * results[], not by the count.  The parts of a split batch are pipelined;
 * a request the daemon refuses as a whole gives its code to each of its
 * pages, and the call goes on.
 */
int	zp_store_batch(zp_client *c, const void *pages, size_t n,
	    zp_handle *handles, int *results);
int	zp_load_batch(zp_client *c, const zp_handle *handles, size_t n,
	    void *pages, int *results);
int	zp_free_batch(zp_client *c, const zp_handle *handles, size_t n,
	    int *results);

/*
 * Asynchronous store: copy up to n pages into staging slots, send the
 * request, and return at once with a ticket in *ticket; the daemon's
 * workers compress while the caller goes on.  `pages` may be reused as soon
 * as the call returns.  Blocks until n staging slots and a request credit
 * (the daemon's max_inflight) are free at once, taken by earlier
 * unfinished requests (a ticket's slots come back when the daemon
 * answers, whether or not the ticket has been collected).  1 <= n <= the
 * daemon's max_batch and the staging slots.  Returns 0, ZP_EINVAL,
 * ZP_ECONNRESET, ZP_ENOMEM.
 */
int	zp_store_async(zp_client *c, const void *pages, size_t n,
	    zp_ticket *ticket);

/*
 * Collect an asynchronous store: wait until `ticket` completes, then fill
 * handles[i] / results[i] (as zp_store_batch) for its n pages.  `max` is the
 * room in the arrays and must be >= the ticket's n.  Returns the number of
 * pages stored, or ZP_ENOENT (unknown ticket, already collected, or being
 * collected by another thread), ZP_EINVAL, ZP_ECONNRESET.  A count or
 * ZP_ECONNRESET collects the ticket; ZP_EINVAL leaves it.  zp_poll is the
 * same but returns ZP_EAGAIN instead of waiting (the ticket stays), and
 * reads the replies that have arrived itself, so polling alone makes
 * progress.
 */
int	zp_wait(zp_client *c, zp_ticket ticket, zp_handle *handles,
	    int *results, size_t max);
int	zp_poll(zp_client *c, zp_ticket ticket, zp_handle *handles,
	    int *results, size_t max);

struct zp_stats {
	uint64_t	client_id;
	uint64_t	pages_stored;	/* live handles of this connection */
	uint64_t	orig_bytes;
	uint64_t	compr_bytes;
	uint64_t	charged_bytes;	/* what this client's limit is charged */
	uint64_t	limit_bytes;	/* 0: no limit */
	uint64_t	shared_pages;	/* pages sharing an object */
	uint64_t	refused_stores;
	/* the pool as a whole */
	uint64_t	pool_orig_data_size;
	uint64_t	pool_compr_data_size;
	uint64_t	pool_mem_used_total;
	uint64_t	pool_mem_limit;
};

/*
 * This connection's figures and the pool's.  ZP_ECONNRESET, ZP_EINVAL, or
 * the code of the daemon's error reply.
 */
int	zp_stats(zp_client *c, struct zp_stats *st);

/* Static text for a ZP_E* code ("unknown error" for anything else). */
const char *zp_strerror(int code);

/* The socket path zp_connect would use for `path` (NULL: the default). */
const char *zp_socket_path(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* ZPCLIENT_H */
