/*
 * wire.h -- framing of the zpoold protocol (docs/protocol.md).
 *
 * A frame is a 4-byte little-endian length, then that many bytes of one
 * packed zpool.Frame.  wire_decode() is the only place bytes from a peer
 * become a message: it checks the length against WIRE_FRAME_MAX before it
 * allocates anything, and wire_check() checks every count and range that
 * protobuf itself cannot (batch sizes, parallel arrays, string lengths).
 * Shared by daemon, library and tools; nothing here prints or exits.
 */
#ifndef ZP_WIRE_H
#define ZP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/zpool.pb-c.h"

#define WIRE_HEADER_LEN		4
#define WIRE_FRAME_MAX		(64u * 1024)	/* payload bytes */
#define WIRE_BATCH_MAX		256u		/* pages in one request */
#define WIRE_NAME_MAX		64u		/* client name bytes */
#define WIRE_MESSAGE_MAX	256u		/* error message bytes */

typedef Zpool__Frame wire_frame;

/*
 * Look for one frame at the start of buf[0..len).
 * Returns 1 and sets *out (free with wire_free) and *used when a whole
 * frame was there; 0 when more bytes are needed (*used = bytes wanted in
 * all, when known); -1 with *cause when the bytes can never be a frame.
 */
int		 wire_decode(const uint8_t *buf, size_t len, wire_frame **out,
		     size_t *used, const char **cause);

/* Range checks of a decoded frame.  0, or -1 with *cause. */
int		 wire_check(const wire_frame *f, const char **cause);

/* Length of the payload announced by a 4-byte header. */
uint32_t	 wire_peek_len(const uint8_t *hdr);

/*
 * Pack f with its header into a new buffer: returns its length and sets
 * *buf (free with free()), or 0 when out of memory or too large.
 */
size_t		 wire_encode(const wire_frame *f, uint8_t **buf);

/* Pack into caller's buffer of cap bytes; returns length or 0. */
size_t		 wire_encode_to(const wire_frame *f, uint8_t *buf, size_t cap);

void		 wire_free(wire_frame *f);

/* A name for a frame's body, for logs ("store", "load", ...). */
const char	*wire_body_name(const wire_frame *f);

/*
 * Connect a stream socket (close-on-exec) to the Unix socket at path.
 * With timeout_s > 0, sends on it (and a connect that waits for room in a
 * full backlog) give up after that many seconds (SO_SNDTIMEO).  Returns
 * the fd, or -errno: -ENAMETOOLONG when path does not fit in a
 * sockaddr_un, -ETIMEDOUT when the connect timed out, else what socket(),
 * setsockopt() or connect() said.
 */
int		 wire_dial(const char *path, unsigned timeout_s);

#endif /* ZP_WIRE_H */
