/*
 * rawclient.h -- a deliberately naive zpoold client for the daemon tests.
 *
 * It speaks the wire protocol with no library in between, so a test can
 * send exactly the bytes it wants: good frames, broken frames, frames with
 * fds, frames without.  Blocking I/O with timeouts; every call returns 0 or
 * a negative code (-errno, or a ZP_E* code the daemon sent) and never
 * exits, so a test decides what a failure means.
 */
#ifndef ZP_RAWCLIENT_H
#define ZP_RAWCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define RAW_TIMEOUT_MS	10000

struct raw {
	int		 fd;
	uint8_t		*stage;		/* slots * 4096, shared with zpoold */
	uint32_t	 slots;
	uint64_t	 client_id;
	uint64_t	 next_id;
	unsigned	 max_inflight;
};

/*
 * A memfd of `bytes` bytes, sealed against shrinking when `seal`; -errno
 * on failure.
 */
int		 raw_memfd(size_t bytes, bool seal);

/* Send len bytes, with fds[0..nfds) as SCM_RIGHTS on the first byte. */
int		 raw_send(int fd, const void *buf, size_t len, const int *fds,
		     int nfds);
/* Encode and send a frame (fds as for raw_send). */
int		 raw_send_frame(int fd, const wire_frame *f, const int *fds,
		     int nfds);
/* Send a Hello of this version, name and slot count. */
int		 raw_send_hello(int fd, uint32_t version, const char *name,
		     uint32_t slots, const int *fds, int nfds);

/*
 * Read one frame within timeout_ms: 0 and *out (wire_free it), -ETIMEDOUT,
 * -ECONNRESET at EOF, -EPROTO when the bytes are not a frame.
 */
int		 raw_read_frame(int fd, int timeout_ms, wire_frame **out);

/* Wait until the daemon closes fd: 0, or -ETIMEDOUT.  Frames are skipped. */
int		 raw_wait_closed(int fd, int timeout_ms);

/*
 * Connect and say hello with a sealed memfd of `slots` slots (0: an admin
 * connection, no memfd).  0, or the daemon's error code, or -errno.
 */
int		 raw_open(struct raw *r, const char *path, const char *name,
		     uint32_t slots);
void		 raw_close(struct raw *r);

/* One store/load/free request and its reply, in order. */
int		 raw_store(struct raw *r, const uint32_t *slots, size_t n,
		     uint64_t *handles, int32_t *errors);
int		 raw_load(struct raw *r, const uint64_t *handles,
		     const uint32_t *slots, size_t n, int32_t *errors);
int		 raw_free(struct raw *r, const uint64_t *handles, size_t n,
		     int32_t *errors);

/* A stats reply (zpool__stats_reply__free_unpacked it), or NULL. */
Zpool__StatsReply *raw_stats(struct raw *r, bool all_clients);

/*
 * Send any request frame body and read its reply; 0 and *reply, or
 * -errno.  The frame's id is filled in.
 */
int		 raw_call(struct raw *r, wire_frame *req, wire_frame **reply);

/* Page i of the test pattern: mostly compressible, seeded, checkable. */
void		 raw_fill_page(void *page, uint64_t seed);

#endif /* ZP_RAWCLIENT_H */
