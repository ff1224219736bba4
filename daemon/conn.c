/*
 * conn.c -- one client connection: the hello, the frames, the replies, and
 * the client's life from accept to the last job that names it.
 *
 * The hello carries the staging memfd as SCM_RIGHTS, which a bufferevent
 * cannot receive (libevent issue #654), so it is read with recvmsg(2) by
 * hand: first the 4-byte length, then exactly that frame and not a byte
 * more, so requests pipelined behind it stay in the socket.  Only then does
 * the connection get its bufferevent, which sends the replies.  Requests
 * are read by hand as well, into a buffer of our own: a bufferevent asks
 * the kernel how much is waiting (ioctl FIONREAD) before every read, one
 * system call in four of a single-page load.
 *
 * A peer gives us at most one fd, once.  Fds arrive MSG_CMSG_CLOEXEC; a
 * truncated control message (MSG_CTRUNC: the kernel dropped fds) drops the
 * peer; extra fds are closed and refuse the hello.  The memfd is mapped
 * only when it is sealed against shrinking (F_SEAL_SHRINK) and holds every
 * slot declared: a client that could truncate a file we have mapped could
 * SIGBUS the daemon.
 *
 * Back-pressure: a connection stops being read while it has max_inflight
 * jobs or more than max_output bytes of replies queued, so what a client
 * makes the daemon hold is bounded whether or not it reads its replies.
 * Input is bounded by CONN_INPUT_MAX (two frames), and one turn of the
 * loop handles at most CONN_TURN_FRAMES of a connection's frames: a
 * client that pipelines thousands of small requests waits its turn like
 * everyone else instead of holding the loop.
 *
 * Any protocol violation drops that client, with its reason logged and, on
 * a best-effort basis, sent to it in an ErrorReply.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <linux/magic.h>

#include "daemon.h"
#include "log.h"
#include "xmalloc.h"

/* Fds one recvmsg may bring; more than one is refused anyway. */
#define CONN_MAX_FDS	4
/* Input bound: room for two frames of the largest size. */
#define CONN_INPUT_MAX	(2 * (WIRE_HEADER_LEN + WIRE_FRAME_MAX))
/* Bytes asked of one read. */
#define CONN_READ_CHUNK	(16u * 1024)
/* Frames of one connection handled in one turn of the loop. */
#define CONN_TURN_FRAMES	32
/* Replies up to this size may skip the output buffer (conn_send_now). */
#define CONN_LONE_REPLY_MAX	4096

static const struct timeval	conn_now = { 0, 0 };

static void	conn_read_cb(evutil_socket_t, short, void *);
static void	conn_more_cb(evutil_socket_t, short, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_process(struct client *);

/* Salts differ per connection; a cheap mix of a secret and the id. */
static uint64_t
conn_salt(uint64_t key, uint64_t id)
{
	uint64_t	z = key + id * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Scope keys of the three policies never meet: a uid's key has bit 32 set
 * (so root's is not the global 0) and a client's has bit 63.
 */
static uint64_t
conn_scope(const struct zpoold *zd, const struct client *c)
{
	switch (zd->s.dedup_scope) {
	case DEDUP_SCOPE_CLIENT:
		return 1ULL << 63 | c->id;
	case DEDUP_SCOPE_UID:
		return 1ULL << 32 | c->uid;
	default:
		return 0;
	}
}

static void
conn_hello_cb(evutil_socket_t fd, short what, void *arg);

void
conn_accept(struct zpoold *zd, int fd, pid_t pid, uid_t uid, gid_t gid,
    struct uid_slot *u, bool over_cap)
{
	struct client	*c;
	struct timeval	 tv = { CONN_HELLO_TIMEOUT, 0 };

	c = xcalloc(1, sizeof *c);
	c->zd = zd;
	c->id = ++zd->next_client_id;
	c->pid = pid;
	c->uid = uid;
	c->gid = gid;
	c->admin = uid == 0 || uid == zd->self_uid;
	c->over_cap = over_cap;
	snprintf(c->name, sizeof c->name, "-");
	c->state = CONN_HELLO;
	c->fd = fd;
	c->hello_fd = -1;
	c->hello_buf = xmalloc(WIRE_HEADER_LEN + CONN_HELLO_MAX);
	c->uidp = u;
	u->conns++;
	u->clients++;
	c->refs = 1;
	c->scope = conn_scope(zd, c);
	handle_init(&c->handles, conn_salt(zd->handle_key, c->id));
	atomic_init(&c->dead, false);
	atomic_init(&c->compr_bytes, 0);
	atomic_init(&c->charged_bytes, 0);
	atomic_init(&c->refused, 0);
	atomic_init(&c->limit_bytes, zd->default_limit_bytes);
	TAILQ_INSERT_TAIL(&zd->clients, c, entry);
	zd->nclients++;

	evutil_gettimeofday(&c->hello_deadline, NULL);
	c->hello_deadline.tv_sec += CONN_HELLO_TIMEOUT;
	c->hello_ev = event_new(zd->base, fd, EV_READ, conn_hello_cb, c);
	if (c->hello_ev == NULL || event_add(c->hello_ev, &tv) == -1)
		fatalx("cannot watch a new connection");
	log_debug("client %llu: accepted (pid %ld uid %lu)",
	    (unsigned long long)c->id, (long)pid, (unsigned long)uid);
}

/* Best effort: one ErrorReply straight on the socket, then close. */
void
conn_refuse(int fd, int code, const char *message)
{
	Zpool__ErrorReply	er = ZPOOL__ERROR_REPLY__INIT;
	wire_frame		f = ZPOOL__FRAME__INIT;
	uint8_t			buf[WIRE_HEADER_LEN + 2 * WIRE_MESSAGE_MAX];
	size_t			n;

	er.code = code;
	er.message = (char *)message;
	f.body_case = ZPOOL__FRAME__BODY_ERROR;
	f.error = &er;
	if ((n = wire_encode_to(&f, buf, sizeof buf)) != 0 &&
	    send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
		log_debug("refusing a connection: %s", strerror(errno));
	close(fd);
}

/* Keep the first fd of the hello, close any other. */
static void
conn_hello_fds(struct client *c, struct msghdr *msg)
{
	struct cmsghdr	*cm;
	int		 fds[CONN_MAX_FDS];
	size_t		 i, n;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (n > CONN_MAX_FDS)
			n = CONN_MAX_FDS;
		memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
		for (i = 0; i < n; i++) {
			if (c->hello_fd == -1 && !c->hello_extra_fds) {
				c->hello_fd = fds[i];
				continue;
			}
			close(fds[i]);
			c->hello_extra_fds = true;
		}
	}
}

/*
 * Whether this process has no fd left.  The kernel truncates the control
 * message of a hello (MSG_CTRUNC) both when a peer sends more fds than
 * asked for and when the memfd it sends cannot be installed here.
 */
static bool
conn_out_of_fds(int fd)
{
	int	spare;

	if ((spare = fcntl(fd, F_DUPFD_CLOEXEC, 0)) != -1) {
		close(spare);
		return false;
	}
	return errno == EMFILE || errno == ENFILE;
}

/*
 * Read what the hello still lacks.  1 done, 0 more to come, -1 drop with
 * *cause; -2 refuse with ZP_EBUSY and *cause, the daemon's own condition.
 */
static int
conn_hello_recv(struct client *c, const char **cause)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(CONN_MAX_FDS * sizeof(int))];
	} cmsg;
	struct msghdr	 msg;
	struct iovec	 iov;
	size_t		 want;
	uint32_t	 len;
	ssize_t		 n;

	for (;;) {
		want = (c->hello_len == 0 ? WIRE_HEADER_LEN : c->hello_len) -
		    c->hello_got;
		iov.iov_base = c->hello_buf + c->hello_got;
		iov.iov_len = want;
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cmsg.buf;
		msg.msg_controllen = sizeof cmsg.buf;
		n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			*cause = "receive error before hello";
			return -1;
		}
		conn_hello_fds(c, &msg);
		if (msg.msg_flags & MSG_CTRUNC) {
			if (conn_out_of_fds(c->fd)) {
				*cause = "daemon out of file descriptors";
				return -2;
			}
			*cause = "truncated control message (too many fds)";
			return -1;
		}
		if (n == 0) {
			*cause = "closed before hello";
			return -1;
		}
		c->hello_got += (size_t)n;
		if (c->hello_len == 0 && c->hello_got == WIRE_HEADER_LEN) {
			len = wire_peek_len(c->hello_buf);
			if (len == 0 || len > CONN_HELLO_MAX) {
				*cause = "hello length out of range";
				return -1;
			}
			c->hello_len = WIRE_HEADER_LEN + len;
		}
		if (c->hello_len != 0 && c->hello_got == c->hello_len)
			return 1;
	}
}

/* Names end up in logs: keep them printable. */
static void
conn_set_name(struct client *c, const char *name)
{
	size_t	i;

	if (name == NULL || *name == '\0')
		return;
	snprintf(c->name, sizeof c->name, "%s", name);
	for (i = 0; c->name[i] != '\0'; i++)
		if (!isprint((unsigned char)c->name[i]) || c->name[i] == ' ')
			c->name[i] = '?';
}

/*
 * Check and map the staging memfd for `slots` slots.  0, or a ZP_E* code
 * with the reason for the peer in msg.
 */
static int
conn_map_stage(struct client *c, uint32_t slots, char *msg, size_t len)
{
	struct stat	 sb;
	struct statfs	 sfs;
	size_t		 bytes = (size_t)slots * ZP_PAGE_SIZE;
	void		*p;
	int		 seals;

	if (fstat(c->hello_fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(msg, len, "staging fd is not a memfd");
		return ZP_EINVAL;
	}
	/*
	 * tmpfs only: a hole the client punches in a hugetlbfs memfd could
	 * SIGBUS the daemon when no huge page is free to refill it.
	 */
	if (fstatfs(c->hello_fd, &sfs) == -1 || sfs.f_type != TMPFS_MAGIC) {
		snprintf(msg, len, "staging memfd is not on tmpfs (hugetlb?)");
		return ZP_EINVAL;
	}
	if ((seals = fcntl(c->hello_fd, F_GET_SEALS)) == -1) {
		snprintf(msg, len, "staging fd is not a sealable memfd");
		return ZP_EINVAL;
	}
	if (!(seals & F_SEAL_SHRINK)) {
		snprintf(msg, len, "staging memfd is not sealed with "
		    "F_SEAL_SHRINK");
		return ZP_EINVAL;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size < bytes) {
		snprintf(msg, len, "staging memfd has %lld bytes, %u slots "
		    "need %zu", (long long)sb.st_size, slots, bytes);
		return ZP_EINVAL;
	}
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
	    c->hello_fd, 0);
	if (p == MAP_FAILED) {
		snprintf(msg, len, "cannot map the staging memfd "
		    "read/write: %s", strerror(errno));
		return ZP_EINVAL;
	}
	c->stage = p;
	c->nslots = slots;
	return 0;
}

static void
conn_hello_fail(struct client *c, uint64_t id, int code, const char *msg)
{
	Zpool__ErrorReply	er = ZPOOL__ERROR_REPLY__INIT;
	wire_frame		f = ZPOOL__FRAME__INIT;
	uint8_t			buf[WIRE_HEADER_LEN + 2 * WIRE_MESSAGE_MAX];
	size_t			n;

	f.id = id;
	f.body_case = ZPOOL__FRAME__BODY_ERROR;
	f.error = &er;
	er.code = code;
	er.message = (char *)msg;
	if ((n = wire_encode_to(&f, buf, sizeof buf)) != 0 &&
	    send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
		log_debug("client %llu: %s", (unsigned long long)c->id,
		    strerror(errno));
	log_warnx("client %llu (pid %ld uid %lu): hello refused: %s",
	    (unsigned long long)c->id, (long)c->pid, (unsigned long)c->uid,
	    msg);
	conn_drop(c, "hello refused");
}

static void
conn_start(struct client *c)
{
	struct zpoold	*zd = c->zd;

	c->bev = bufferevent_socket_new(zd->base, c->fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("cannot create a bufferevent");
	bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, zd->s.max_output_bytes / 2,
	    0);
	if (bufferevent_enable(c->bev, EV_WRITE) == -1)
		fatalx("cannot enable a bufferevent");
	c->read_ev = event_new(zd->base, c->fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
	c->more_ev = evtimer_new(zd->base, conn_more_cb, c);
	c->input = evbuffer_new();
	if (c->read_ev == NULL || c->more_ev == NULL || c->input == NULL ||
	    event_add(c->read_ev, NULL) == -1)
		fatalx("cannot watch a connection");
	c->state = CONN_READY;
}

/* A whole hello has arrived: check it and start serving, or refuse. */
static void
conn_hello_done(struct client *c)
{
	struct zpoold		*zd = c->zd;
	Zpool__HelloReply	 hr = ZPOOL__HELLO_REPLY__INIT;
	wire_frame		 reply = ZPOOL__FRAME__INIT;
	wire_frame		*f;
	const Zpool__Hello	*h;
	const char		*cause;
	char			 msg[WIRE_MESSAGE_MAX];
	size_t			 used;
	int			 code;

	if (wire_decode(c->hello_buf, c->hello_len, &f, &used,
	    &cause) != 1) {
		conn_hello_fail(c, 0, ZP_EPROTO, cause);
		return;
	}
	if (f->body_case != ZPOOL__FRAME__BODY_HELLO) {
		conn_hello_fail(c, f->id, ZP_EPROTO, "first frame is not a hello");
		goto out;
	}
	if (wire_check(f, &cause) != 0) {
		conn_hello_fail(c, f->id, ZP_EPROTO, cause);
		goto out;
	}
	h = f->hello;
	conn_set_name(c, h->name);
	if (h->version != ZP_PROTOCOL_VERSION) {
		snprintf(msg, sizeof msg, "protocol version %u not supported "
		    "(this daemon speaks %u)", h->version, ZP_PROTOCOL_VERSION);
		conn_hello_fail(c, f->id, ZP_EPROTO, msg);
		goto out;
	}
	if (c->hello_extra_fds) {
		conn_hello_fail(c, f->id, ZP_EINVAL,
		    "hello carries more than one fd");
		goto out;
	}
	if (h->slots != 0 && c->over_cap) {
		conn_hello_fail(c, f->id, ZP_EBUSY, "too many connections: "
		    "past max_clients or max_clients_per_uid, only an admin "
		    "connection (no slots) is let in");
		goto out;
	}
	if (h->slots == 0 && c->hello_fd != -1) {
		conn_hello_fail(c, f->id, ZP_EINVAL,
		    "hello with 0 slots must carry no fd");
		goto out;
	}
	if (h->slots != 0) {
		if (h->slots > zd->s.max_slots) {
			snprintf(msg, sizeof msg, "%u slots is above the "
			    "limit of %u", h->slots, zd->s.max_slots);
			conn_hello_fail(c, f->id, ZP_EINVAL, msg);
			goto out;
		}
		if (c->hello_fd == -1) {
			conn_hello_fail(c, f->id, ZP_EINVAL,
			    "hello with slots must carry the staging memfd");
			goto out;
		}
		if ((code = conn_map_stage(c, h->slots, msg,
		    sizeof msg)) != 0) {
			conn_hello_fail(c, f->id, code, msg);
			goto out;
		}
	}
	/* The mapping keeps the file; the fd is of no further use. */
	if (c->hello_fd != -1) {
		close(c->hello_fd);
		c->hello_fd = -1;
	}
	event_free(c->hello_ev);
	c->hello_ev = NULL;
	free(c->hello_buf);
	c->hello_buf = NULL;
	conn_start(c);

	hr.version = ZP_PROTOCOL_VERSION;
	hr.client_id = c->id;
	hr.max_batch = WIRE_BATCH_MAX;
	hr.max_inflight = zd->s.max_inflight;
	reply.id = f->id;
	reply.body_case = ZPOOL__FRAME__BODY_HELLO_REPLY;
	reply.hello_reply = &hr;
	conn_send(c, &reply);
	/* zpctl connects for every command: not worth an info line */
	log_event(c->nslots == 0, "client %llu connected: pid %ld uid %lu "
	    "name %s slots %u%s",
	    (unsigned long long)c->id, (long)c->pid, (unsigned long)c->uid,
	    c->name, c->nslots, c->admin ? " admin" : "");
out:
	wire_free(f);
}

static void
conn_hello_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;
	struct timeval	 now, left;
	const char	*cause;
	int		 rc;

	if (what & EV_TIMEOUT) {
		conn_drop(c, "no hello in time");
		return;
	}
	if ((rc = conn_hello_recv(c, &cause)) == -2) {
		c->zd->conns_refused++;
		conn_hello_fail(c, 0, ZP_EBUSY, cause);
		return;
	}
	if (rc < 0) {
		conn_drop(c, cause);
		return;
	}
	if (rc == 1) {
		conn_hello_done(c);
		return;
	}
	/* The deadline is for the whole hello, not for each byte of it. */
	evutil_gettimeofday(&now, NULL);
	evutil_timersub(&c->hello_deadline, &now, &left);
	if (left.tv_sec < 0) {
		conn_drop(c, "no hello in time");
		return;
	}
	if (event_add(c->hello_ev, &left) == -1)
		fatalx("cannot watch a connection");
}

/* May this connection's next request be read now? */
static bool
conn_can_read(const struct client *c)
{
	const struct zpoold	*zd = c->zd;

	return c->state == CONN_READY && !zd->stopping &&
	    c->inflight < zd->s.max_inflight &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) <=
	    zd->s.max_output_bytes;
}

static void
conn_update_read(struct client *c)
{
	if (c->state != CONN_READY)
		return;
	if (conn_can_read(c) &&
	    evbuffer_get_length(c->input) < CONN_INPUT_MAX)
		event_add(c->read_ev, NULL);
	else
		event_del(c->read_ev);
}

/*
 * A reply with nothing queued before it goes straight to the socket: a
 * client waiting on one page waits on exactly this, and bytes that never
 * enter the bufferevent's output cost no turn of the loop and no
 * epoll_ctl to watch for room and another to stop (1 us each where
 * syscalls are dear).  What the socket does not take -- it is full, or
 * the peer is gone -- is queued as usual, and the bufferevent then sends
 * it or reports the error.  True when the reply was taken care of.
 */
static bool
conn_send_now(struct client *c, struct evbuffer *out, const wire_frame *f,
    size_t n)
{
	uint8_t		buf[CONN_LONE_REPLY_MAX];
	size_t		len;
	ssize_t		w;

	if (evbuffer_get_length(out) != 0 ||
	    WIRE_HEADER_LEN + n > sizeof buf)
		return false;
	if ((len = wire_encode_to(f, buf, sizeof buf)) == 0)
		fatalx("cannot encode a reply");
	w = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0)
		w = 0;
	if ((size_t)w < len && evbuffer_add(out, buf + w, len - w) == -1)
		fatalx("cannot queue a reply");
	return true;
}

void
conn_send(struct client *c, const wire_frame *f)
{
	struct evbuffer		*out;
	struct evbuffer_iovec	 v;
	size_t			 n;

	if (c->state != CONN_READY)
		return;
	n = zpool__frame__get_packed_size(f);
	if (n == 0 || n > WIRE_FRAME_MAX)
		fatalx("%s reply of %zu bytes does not fit a frame",
		    wire_body_name(f), n);
	out = bufferevent_get_output(c->bev);
	if (conn_send_now(c, out, f, n)) {
		conn_update_read(c);
		return;
	}
	if (evbuffer_reserve_space(out, WIRE_HEADER_LEN + n, &v, 1) < 1)
		fatalx("cannot queue a reply");
	v.iov_len = wire_encode_to(f, v.iov_base, WIRE_HEADER_LEN + n);
	if (v.iov_len == 0 || evbuffer_commit_space(out, &v, 1) == -1)
		fatalx("cannot encode a reply");
	/* The bufferevent writes it, behind the backlog, on the next turn. */
	conn_update_read(c);
}

void
conn_send_error(struct client *c, uint64_t id, int code, const char *message)
{
	Zpool__ErrorReply	er = ZPOOL__ERROR_REPLY__INIT;
	wire_frame		f = ZPOOL__FRAME__INIT;

	f.id = id;
	f.body_case = ZPOOL__FRAME__BODY_ERROR;
	f.error = &er;
	er.code = code;
	er.message = (char *)message;
	conn_send(c, &f);
}

/* Drop c for breaking the protocol; id: the offending request's, or 0. */
static void
conn_violation(struct client *c, uint64_t id, const char *cause)
{
	struct evbuffer	*out;

	c->zd->protocol_drops++;
	log_warnx("client %llu (pid %ld uid %lu name %s): protocol "
	    "violation: %s", (unsigned long long)c->id, (long)c->pid,
	    (unsigned long)c->uid, c->name, cause);
	conn_send_error(c, id, ZP_EPROTO, cause);
	/*
	 * One try at telling the peer why, without waiting for it: behind
	 * the replies already queued, so the stream stays whole.  The
	 * bufferevent, about to go, no longer owns draining its output.
	 */
	out = bufferevent_get_output(c->bev);
	evbuffer_unfreeze(out, 1);
	if (evbuffer_write(out, c->fd) == -1)
		log_debug("client %llu: %s", (unsigned long long)c->id,
		    strerror(errno));
	conn_drop(c, "protocol violation");
}

/*
 * Decode and dispatch the whole frames the caps allow, CONN_TURN_FRAMES at
 * most; more wait for conn_more_cb on the loop's next turn.
 */
static void
conn_process(struct client *c)
{
	struct evbuffer	*in;
	wire_frame	*f;
	const char	*cause = NULL;
	uint8_t		 hdr[WIRE_HEADER_LEN], *buf;
	size_t		 avail, need, used;
	uint64_t	 id;
	uint32_t	 len;
	unsigned	 done = 0;
	int		 rc;

	if (c->state != CONN_READY)
		return;
	in = c->input;
	while (conn_can_read(c)) {
		avail = evbuffer_get_length(in);
		if (avail < WIRE_HEADER_LEN)
			break;
		if (done++ == CONN_TURN_FRAMES) {
			/*
			 * A timer, not event_active: the other sockets
			 * are polled before it runs.
			 */
			evtimer_add(c->more_ev, &conn_now);
			break;
		}
		evbuffer_copyout(in, hdr, sizeof hdr);
		len = wire_peek_len(hdr);
		/* A bad length is wire_decode's to name, from the header. */
		need = WIRE_HEADER_LEN;
		if (len != 0 && len <= WIRE_FRAME_MAX)
			need += len;
		if (avail < need)
			break;
		if ((buf = evbuffer_pullup(in, (ssize_t)need)) == NULL)
			fatalx("cannot gather a frame");
		rc = wire_decode(buf, need, &f, &used, &cause);
		if (rc != 1) {
			conn_violation(c, 0, rc == 0 ? "short frame" : cause);
			return;
		}
		evbuffer_drain(in, used);
		if (wire_check(f, &cause) != 0 ||
		    rpc_dispatch(c, f, &cause) != 0) {
			id = f->id;
			wire_free(f);
			conn_violation(c, id, cause);
			return;
		}
		wire_free(f);
	}
	conn_update_read(c);
}

/* The rest of what conn_process left for this turn. */
static void
conn_more_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;

	c->zd->loop_work++;
	conn_process(c);
}

/* Reading may go on: a job finished or replies drained. */
void
conn_resume(struct client *c)
{
	if (c->state != CONN_READY)
		return;
	if (c->zd->stopping)
		conn_shutdown(c);
	else
		conn_process(c);
}

/*
 * The daemon is stopping: read nothing more, and close once the client has
 * its last reply (the drain timer in server.c closes it otherwise).
 */
void
conn_shutdown(struct client *c)
{
	if (c->state == CONN_HELLO) {
		conn_drop(c, "daemon stopping");
		return;
	}
	if (c->state != CONN_READY)
		return;
	conn_update_read(c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (c->inflight == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_drop(c, "daemon stopping");
}

/* Read what is waiting, up to the input bound, and process it. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client		*c = arg;
	struct evbuffer		*in = c->input;
	struct evbuffer_iovec	 v;
	size_t			 room;
	ssize_t			 n;

	c->zd->loop_work++;
	/* conn_update_read stops reading before the bound is reached. */
	room = CONN_INPUT_MAX - evbuffer_get_length(in);
	if (room > CONN_READ_CHUNK)
		room = CONN_READ_CHUNK;
	if (evbuffer_reserve_space(in, (ev_ssize_t)room, &v, 1) < 1)
		fatalx("cannot grow an input buffer");
	n = recv(fd, v.iov_base, room, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_drop(c, n == 0 ? "closed" : strerror(errno));
		return;
	}
	v.iov_len = (size_t)n;
	if (evbuffer_commit_space(in, &v, 1) == -1)
		fatalx("cannot fill an input buffer");
	conn_process(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	conn_resume(arg);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client	*c = arg;

	/* Only writes report here: conn_read_cb sees the end of input. */
	if (what & BEV_EVENT_ERROR)
		conn_drop(c, evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
}

void
conn_hold(struct client *c)
{
	c->refs++;
}

static void
conn_free(struct client *c)
{
	struct zpoold	*zd = c->zd;

	if (c->stage != NULL)
		munmap(c->stage, (size_t)c->nslots * ZP_PAGE_SIZE);
	if (zd->s.dedup_scope == DEDUP_SCOPE_CLIENT)
		dedup_drop_scope(zd->dedup, c->scope);
	server_uid_put(zd, c->uidp);
	free(c);
}

void
conn_release(struct client *c)
{
	if (c->refs == 0)
		fatalx("client %llu released too often",
		    (unsigned long long)c->id);
	if (--c->refs == 0)
		conn_free(c);
}

/*
 * Close the connection now and give back everything it stored.  Jobs still
 * queued for it will find it dead; the record goes with the last of them.
 */
void
conn_drop(struct client *c, const char *reason)
{
	struct zpoold	*zd = c->zd;
	struct job	*job;

	if (c->state == CONN_DEAD)
		return;
	if (c->state == CONN_READY)
		log_event(c->nslots == 0 && c->pages == 0, "client %llu "
		    "disconnected (%s): pid %ld uid %lu "
		    "name %s: %llu pages live (%llu bytes compressed), "
		    "%llu stored, %llu loaded, %llu freed, %llu refused",
		    (unsigned long long)c->id, reason, (long)c->pid,
		    (unsigned long)c->uid, c->name,
		    (unsigned long long)c->pages,
		    (unsigned long long)atomic_load(&c->compr_bytes),
		    (unsigned long long)c->stores,
		    (unsigned long long)c->loads,
		    (unsigned long long)c->frees,
		    (unsigned long long)atomic_load(&c->refused));
	else
		log_debug("client %llu (pid %ld uid %lu): dropped before "
		    "hello: %s", (unsigned long long)c->id, (long)c->pid,
		    (unsigned long)c->uid, reason);
	c->state = CONN_DEAD;
	atomic_store(&c->dead, true);

	if (c->hello_ev != NULL)
		event_free(c->hello_ev);
	c->hello_ev = NULL;
	if (c->hello_fd != -1)
		close(c->hello_fd);
	c->hello_fd = -1;
	free(c->hello_buf);
	c->hello_buf = NULL;
	if (c->read_ev != NULL)
		event_free(c->read_ev);
	c->read_ev = NULL;
	if (c->more_ev != NULL)
		event_free(c->more_ev);
	c->more_ev = NULL;
	if (c->input != NULL)
		evbuffer_free(c->input);
	c->input = NULL;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	else
		close(c->fd);
	c->bev = NULL;
	c->fd = -1;

	TAILQ_REMOVE(&zd->clients, c, entry);
	zd->nclients--;
	c->uidp->conns--;

	/* Freeing a million pages is a worker's job, not the loop's. */
	if (c->handles.live != 0 && zd->workers.running) {
		job = job_new(JOB_RELEASE, c, 0, 0);
		job->table = c->handles;
		handle_init(&c->handles, 0);
		worker_submit(zd, job);
	} else
		store_release_table(zd, c, &c->handles);
	c->pages = 0;

	server_client_gone(zd, c);
	conn_release(c);
}
