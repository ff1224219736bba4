/*
 * wire.c -- frame encoding, the one decoder of peer bytes, and dialling
 * the daemon's socket.
 */

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

uint32_t
wire_peek_len(const uint8_t *hdr)
{
	return (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 |
	    (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
}

static void
wire_put_len(uint8_t *hdr, uint32_t len)
{
	hdr[0] = len & 0xff;
	hdr[1] = (len >> 8) & 0xff;
	hdr[2] = (len >> 16) & 0xff;
	hdr[3] = (len >> 24) & 0xff;
}

int
wire_decode(const uint8_t *buf, size_t len, wire_frame **out, size_t *used,
    const char **cause)
{
	uint32_t	 n;
	wire_frame	*f;

	*out = NULL;
	*used = WIRE_HEADER_LEN;
	if (len < WIRE_HEADER_LEN)
		return 0;
	n = wire_peek_len(buf);
	if (n == 0) {
		*cause = "empty frame";
		return -1;
	}
	if (n > WIRE_FRAME_MAX) {
		*cause = "frame longer than the limit";
		return -1;
	}
	*used = WIRE_HEADER_LEN + (size_t)n;
	if (len < *used)
		return 0;
	f = zpool__frame__unpack(NULL, n, buf + WIRE_HEADER_LEN);
	if (f == NULL) {
		*cause = "malformed frame";
		return -1;
	}
	if (f->body_case == ZPOOL__FRAME__BODY__NOT_SET) {
		zpool__frame__free_unpacked(f, NULL);
		*cause = "frame without a body";
		return -1;
	}
	*out = f;
	return 1;
}

static int
check_batch(size_t n, const char **cause)
{
	if (n == 0) {
		*cause = "empty batch";
		return -1;
	}
	if (n > WIRE_BATCH_MAX) {
		*cause = "batch larger than the limit";
		return -1;
	}
	return 0;
}

static int
check_string(const char *s, size_t max, const char **cause)
{
	if (s != NULL && strnlen(s, max + 1) > max) {
		*cause = "string longer than the limit";
		return -1;
	}
	return 0;
}

int
wire_check(const wire_frame *f, const char **cause)
{
	switch (f->body_case) {
	case ZPOOL__FRAME__BODY_HELLO:
		return check_string(f->hello->name, WIRE_NAME_MAX, cause);
	case ZPOOL__FRAME__BODY_STORE:
		return check_batch(f->store->n_slots, cause);
	case ZPOOL__FRAME__BODY_LOAD:
		if (f->load->n_handles != f->load->n_slots) {
			*cause = "load: handles and slots differ in number";
			return -1;
		}
		return check_batch(f->load->n_handles, cause);
	case ZPOOL__FRAME__BODY_FREE:
		return check_batch(f->free->n_handles, cause);
	case ZPOOL__FRAME__BODY_STORE_REPLY:
		if (f->store_reply->n_handles != f->store_reply->n_errors) {
			*cause = "store reply: handles and errors differ";
			return -1;
		}
		return check_batch(f->store_reply->n_handles, cause);
	case ZPOOL__FRAME__BODY_LOAD_REPLY:
		return check_batch(f->load_reply->n_errors, cause);
	case ZPOOL__FRAME__BODY_FREE_REPLY:
		return check_batch(f->free_reply->n_errors, cause);
	case ZPOOL__FRAME__BODY_ERROR:
		return check_string(f->error->message, WIRE_MESSAGE_MAX, cause);
	case ZPOOL__FRAME__BODY__NOT_SET:
		*cause = "frame without a body";
		return -1;
	default:
		return 0;
	}
}

size_t
wire_encode_to(const wire_frame *f, uint8_t *buf, size_t cap)
{
	size_t	n = zpool__frame__get_packed_size(f);

	if (n == 0 || n > WIRE_FRAME_MAX || WIRE_HEADER_LEN + n > cap)
		return 0;
	wire_put_len(buf, (uint32_t)n);
	zpool__frame__pack(f, buf + WIRE_HEADER_LEN);
	return WIRE_HEADER_LEN + n;
}

size_t
wire_encode(const wire_frame *f, uint8_t **buf)
{
	size_t	n = zpool__frame__get_packed_size(f);

	*buf = NULL;
	if (n == 0 || n > WIRE_FRAME_MAX)
		return 0;
	if ((*buf = malloc(WIRE_HEADER_LEN + n)) == NULL)
		return 0;
	return wire_encode_to(f, *buf, WIRE_HEADER_LEN + n);
}

void
wire_free(wire_frame *f)
{
	if (f != NULL)
		zpool__frame__free_unpacked(f, NULL);
}

const char *
wire_body_name(const wire_frame *f)
{
	switch (f->body_case) {
	case ZPOOL__FRAME__BODY_HELLO:		return "hello";
	case ZPOOL__FRAME__BODY_HELLO_REPLY:	return "hello-reply";
	case ZPOOL__FRAME__BODY_STORE:		return "store";
	case ZPOOL__FRAME__BODY_STORE_REPLY:	return "store-reply";
	case ZPOOL__FRAME__BODY_LOAD:		return "load";
	case ZPOOL__FRAME__BODY_LOAD_REPLY:	return "load-reply";
	case ZPOOL__FRAME__BODY_FREE:		return "free";
	case ZPOOL__FRAME__BODY_FREE_REPLY:	return "free-reply";
	case ZPOOL__FRAME__BODY_STATS:		return "stats";
	case ZPOOL__FRAME__BODY_STATS_REPLY:	return "stats-reply";
	case ZPOOL__FRAME__BODY_BUDGET:		return "budget";
	case ZPOOL__FRAME__BODY_BUDGET_REPLY:	return "budget-reply";
	case ZPOOL__FRAME__BODY_LIMIT:		return "limit";
	case ZPOOL__FRAME__BODY_LIMIT_REPLY:	return "limit-reply";
	case ZPOOL__FRAME__BODY_MERGE:		return "merge";
	case ZPOOL__FRAME__BODY_MERGE_REPLY:	return "merge-reply";
	case ZPOOL__FRAME__BODY_COMPACT:	return "compact";
	case ZPOOL__FRAME__BODY_COMPACT_REPLY:	return "compact-reply";
	case ZPOOL__FRAME__BODY_ERROR:		return "error";
	default:				return "unknown";
	}
}

int
wire_dial(const char *path, unsigned timeout_s)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	struct timeval		tv = { .tv_sec = timeout_s };
	size_t			len = strlen(path);
	int			fd, rc;

	if (len >= sizeof sun.sun_path)
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, len);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	if (timeout_s != 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof tv) == -1)
		goto fail;
	while (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		if (errno != EINTR)
			goto fail;
	return fd;
fail:
	rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
	close(fd);
	return rc;
}
