/*
 * rawclient.c -- the wire protocol by hand, for tests (see rawclient.h).
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zpclient.h"
#include "rawclient.h"

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
raw_memfd(size_t bytes, bool seal)
{
	int	fd, rc;

	fd = memfd_create("rawclient", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1)
		return -errno;
	if (ftruncate(fd, (off_t)bytes) == -1 ||
	    (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == -1)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int
raw_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(8 * sizeof(int))];
	} cmsg;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		memset(&msg, 0, sizeof msg);
		iov.iov_base = (void *)p;
		iov.iov_len = len;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (nfds > 0 && nfds <= 8) {
			memset(&cmsg, 0, sizeof cmsg);
			msg.msg_control = cmsg.buf;
			msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
		}
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		nfds = 0;
	}
	return 0;
}

int
raw_send_frame(int fd, const wire_frame *f, const int *fds, int nfds)
{
	uint8_t	*buf;
	size_t	 len;
	int	 rc;

	if ((len = wire_encode(f, &buf)) == 0)
		return -EMSGSIZE;
	rc = raw_send(fd, buf, len, fds, nfds);
	free(buf);
	return rc;
}

int
raw_send_hello(int fd, uint32_t version, const char *name, uint32_t slots,
    const int *fds, int nfds)
{
	Zpool__Hello	h = ZPOOL__HELLO__INIT;
	wire_frame	f = ZPOOL__FRAME__INIT;

	h.version = version;
	h.name = (char *)name;
	h.slots = slots;
	f.id = 1;
	f.body_case = ZPOOL__FRAME__BODY_HELLO;
	f.hello = &h;
	return raw_send_frame(fd, &f, fds, nfds);
}

/* Read exactly n bytes before the deadline. */
static int
read_full(int fd, uint8_t *buf, size_t n, long long deadline)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	long long	left;
	ssize_t		r;

	while (n > 0) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd.revents == 0)
			continue;
		r = read(fd, buf, n);
		if (r == 0)
			return -ECONNRESET;
		if (r == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? -ECONNRESET : -errno;
		}
		buf += r;
		n -= (size_t)r;
	}
	return 0;
}

int
raw_read_frame(int fd, int timeout_ms, wire_frame **out)
{
	uint8_t		*buf;
	const char	*cause;
	long long	 deadline = now_ms() + timeout_ms;
	uint32_t	 len;
	size_t		 used;
	int		 rc;

	*out = NULL;
	if ((buf = malloc(WIRE_HEADER_LEN + WIRE_FRAME_MAX)) == NULL)
		return -ENOMEM;
	if ((rc = read_full(fd, buf, WIRE_HEADER_LEN, deadline)) != 0)
		goto out;
	len = wire_peek_len(buf);
	if (len == 0 || len > WIRE_FRAME_MAX) {
		rc = -EPROTO;
		goto out;
	}
	if ((rc = read_full(fd, buf + WIRE_HEADER_LEN, len, deadline)) != 0)
		goto out;
	if (wire_decode(buf, WIRE_HEADER_LEN + len, out, &used, &cause) != 1)
		rc = -EPROTO;
out:
	free(buf);
	return rc;
}

int
raw_wait_closed(int fd, int timeout_ms)
{
	long long	 deadline = now_ms() + timeout_ms;
	wire_frame	*f;
	int		 rc;

	for (;;) {
		rc = raw_read_frame(fd, (int)(deadline - now_ms()), &f);
		if (rc == 0) {
			wire_free(f);
			continue;
		}
		if (rc == -ETIMEDOUT)
			return rc;
		return 0;
	}
}

int
raw_open(struct raw *r, const char *path, const char *name, uint32_t slots)
{
	wire_frame	*f;
	int		 memfd = -1, rc;
	size_t		 bytes = (size_t)slots * ZP_PAGE_SIZE;

	memset(r, 0, sizeof *r);
	r->fd = -1;
	r->next_id = 100;
	if ((rc = wire_dial(path, 0)) < 0)
		return rc;
	r->fd = rc;
	if (slots != 0) {
		if ((memfd = raw_memfd(bytes, true)) < 0) {
			rc = memfd;
			goto fail;
		}
		r->stage = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		    MAP_SHARED, memfd, 0);
		if (r->stage == MAP_FAILED) {
			r->stage = NULL;
			rc = -errno;
			goto fail;
		}
		r->slots = slots;
	}
	rc = raw_send_hello(r->fd, ZP_PROTOCOL_VERSION, name, slots,
	    memfd == -1 ? NULL : &memfd, memfd == -1 ? 0 : 1);
	if (memfd != -1)
		close(memfd);
	memfd = -1;
	/*
	 * A refused connection may be closed before our hello is out; the
	 * daemon's ErrorReply saying why is waiting all the same.
	 */
	if (rc != 0 && rc != -EPIPE && rc != -ECONNRESET)
		goto fail;
	if ((rc = raw_read_frame(r->fd, RAW_TIMEOUT_MS, &f)) != 0)
		goto fail;
	if (f->body_case == ZPOOL__FRAME__BODY_ERROR) {
		rc = f->error->code;
		wire_free(f);
		goto fail;
	}
	if (f->body_case != ZPOOL__FRAME__BODY_HELLO_REPLY) {
		wire_free(f);
		rc = -EPROTO;
		goto fail;
	}
	r->client_id = f->hello_reply->client_id;
	r->max_inflight = f->hello_reply->max_inflight;
	wire_free(f);
	return 0;
fail:
	if (memfd != -1)
		close(memfd);
	raw_close(r);
	return rc;
}

void
raw_close(struct raw *r)
{
	if (r->stage != NULL)
		munmap(r->stage, (size_t)r->slots * ZP_PAGE_SIZE);
	if (r->fd != -1)
		close(r->fd);
	r->stage = NULL;
	r->fd = -1;
}

int
raw_call(struct raw *r, wire_frame *req, wire_frame **reply)
{
	wire_frame	*f;
	int		 rc;

	req->id = r->next_id++;
	*reply = NULL;
	if ((rc = raw_send_frame(r->fd, req, NULL, 0)) != 0)
		return rc;
	for (;;) {
		if ((rc = raw_read_frame(r->fd, RAW_TIMEOUT_MS, &f)) != 0)
			return rc;
		if (f->id == req->id) {
			*reply = f;
			return 0;
		}
		wire_free(f);
	}
}

/* The reply's error code if it is an ErrorReply, else 0 or -EPROTO. */
static int
reply_check(wire_frame *f, int want)
{
	if (f->body_case == ZPOOL__FRAME__BODY_ERROR)
		return f->error->code;
	return (int)f->body_case == want ? 0 : -EPROTO;
}

int
raw_store(struct raw *r, const uint32_t *slots, size_t n, uint64_t *handles,
    int32_t *errors)
{
	Zpool__StoreRequest	 sr = ZPOOL__STORE_REQUEST__INIT;
	wire_frame		 f = ZPOOL__FRAME__INIT, *rep;
	int			 rc;

	sr.n_slots = n;
	sr.slots = (uint32_t *)slots;
	f.body_case = ZPOOL__FRAME__BODY_STORE;
	f.store = &sr;
	if ((rc = raw_call(r, &f, &rep)) != 0)
		return rc;
	if ((rc = reply_check(rep, ZPOOL__FRAME__BODY_STORE_REPLY)) == 0) {
		if (rep->store_reply->n_handles != n)
			rc = -EPROTO;
		else {
			memcpy(handles, rep->store_reply->handles,
			    n * sizeof *handles);
			memcpy(errors, rep->store_reply->errors,
			    n * sizeof *errors);
		}
	}
	wire_free(rep);
	return rc;
}

int
raw_load(struct raw *r, const uint64_t *handles, const uint32_t *slots,
    size_t n, int32_t *errors)
{
	Zpool__LoadRequest	 lr = ZPOOL__LOAD_REQUEST__INIT;
	wire_frame		 f = ZPOOL__FRAME__INIT, *rep;
	int			 rc;

	lr.n_handles = n;
	lr.handles = (uint64_t *)handles;
	lr.n_slots = n;
	lr.slots = (uint32_t *)slots;
	f.body_case = ZPOOL__FRAME__BODY_LOAD;
	f.load = &lr;
	if ((rc = raw_call(r, &f, &rep)) != 0)
		return rc;
	if ((rc = reply_check(rep, ZPOOL__FRAME__BODY_LOAD_REPLY)) == 0) {
		if (rep->load_reply->n_errors != n)
			rc = -EPROTO;
		else
			memcpy(errors, rep->load_reply->errors,
			    n * sizeof *errors);
	}
	wire_free(rep);
	return rc;
}

int
raw_free(struct raw *r, const uint64_t *handles, size_t n, int32_t *errors)
{
	Zpool__FreeRequest	 fr = ZPOOL__FREE_REQUEST__INIT;
	wire_frame		 f = ZPOOL__FRAME__INIT, *rep;
	int			 rc;

	fr.n_handles = n;
	fr.handles = (uint64_t *)handles;
	f.body_case = ZPOOL__FRAME__BODY_FREE;
	f.free = &fr;
	if ((rc = raw_call(r, &f, &rep)) != 0)
		return rc;
	if ((rc = reply_check(rep, ZPOOL__FRAME__BODY_FREE_REPLY)) == 0) {
		if (rep->free_reply->n_errors != n)
			rc = -EPROTO;
		else
			memcpy(errors, rep->free_reply->errors,
			    n * sizeof *errors);
	}
	wire_free(rep);
	return rc;
}

Zpool__StatsReply *
raw_stats(struct raw *r, bool all_clients)
{
	Zpool__StatsRequest	 sr = ZPOOL__STATS_REQUEST__INIT;
	wire_frame		 f = ZPOOL__FRAME__INIT, *rep;
	Zpool__StatsReply	*out;

	sr.all_clients = all_clients;
	f.body_case = ZPOOL__FRAME__BODY_STATS;
	f.stats = &sr;
	if (raw_call(r, &f, &rep) != 0)
		return NULL;
	if (rep->body_case != ZPOOL__FRAME__BODY_STATS_REPLY) {
		wire_free(rep);
		return NULL;
	}
	/* Detach the reply from its frame. */
	out = rep->stats_reply;
	rep->stats_reply = NULL;
	rep->body_case = ZPOOL__FRAME__BODY__NOT_SET;
	wire_free(rep);
	return out;
}

void
raw_fill_page(void *page, uint64_t seed)
{
	uint64_t	*w = page, x = seed * 0x9e3779b97f4a7c15ULL + 1;
	unsigned	 i;

	/* 64 random words, then a short repeating text: compresses ~4:1. */
	for (i = 0; i < 64; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
	for (i = 64; i < ZP_PAGE_SIZE / sizeof *w; i++)
		w[i] = seed ^ ((uint64_t)(i % 13) << 56);
}
