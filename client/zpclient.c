/*
 * zpclient.c -- libzpclient: one connection to zpoold, shared by threads.
 *
 * A zp_client owns a Unix socket, a staging memfd of `nslots` page slots
 * mapped MAP_SHARED (the daemon maps the same memory), and the table of
 * requests sent on the socket and not yet collected by their owner.
 *
 * Requests are pipelined: a thread takes a credit (at most max_inflight
 * requests are outstanding, the daemon's cap) and the staging slots its
 * pages need, registers the request under a fresh id, sends it, and later
 * waits for the reply that carries the same id.  There is no background
 * thread.  Replies are read by whichever waiting thread is the *leader*:
 * a thread that must wait (for its reply, or for slots or a credit) and
 * finds nobody reading becomes the reader, reads what the socket has,
 * completes the requests those replies answer (waking their owners through
 * per-waiter condition variables) and, once its own wait is over, hands the
 * socket to another sleeper (zpc_handoff).  A thread sleeps only while
 * someone else reads or nothing is in flight, so no reply can sit unread
 * while a thread waits for it.
 *
 * Invariants:
 *  - A slot belongs to exactly one of: the free stack, one request.  Store
 *    slots of an asynchronous request go back when its reply arrives (the
 *    daemon has copied the pages by then); every other request's slots go
 *    back when its owner has finished with it (for loads: after copying the
 *    page out of the slot).
 *  - A thread that holds slots never blocks waiting for more before it has
 *    collected its own completed requests (zpc_run), so slot holders cannot
 *    wait for each other.
 *  - Once the connection fails (c->err != 0) no request is sent again;
 *    every request in flight completes with the failure, every sleeper is
 *    woken.
 *
 * Page bytes are copied once each way: caller -> slot for stores, slot ->
 * caller for loads.  The library never prints, exits or touches signals.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zpclient.h"
#include "page.h"
#include "spin.h"
#include "wire.h"

#define ZPC_DEFAULT_SLOTS	256
#define ZPC_BUCKETS		64	/* request table, by id */
#define ZPC_WINDOW		8	/* requests one batch call keeps in flight */
#define ZPC_TURN_FRAMES		64	/* replies completed per lock taken */
#define ZPC_RBUF		(WIRE_HEADER_LEN + WIRE_FRAME_MAX)

/*
 * Largest request we encode: a full load batch (a uint64 handle takes at
 * most 10 bytes, a uint32 slot 5), two packed-field headers, the id and
 * the body's header.  Encoding into a buffer this size cannot fail.
 */
#define ZPC_REQ_MAX	(WIRE_HEADER_LEN + 64 + WIRE_BATCH_MAX * (10 + 5))

enum zpc_op {
	ZPC_STORE,
	ZPC_LOAD,
	ZPC_FREE,
	ZPC_STATS,
};

struct zpc_waiter;

struct zpc_req {
	LIST_ENTRY(zpc_req)	 link;		/* c->reqs[id % ZPC_BUCKETS] */
	uint64_t		 id;
	enum zpc_op		 op;
	bool			 async;		/* a ticket: nobody owns it yet */
	bool			 claimed;	/* a thread is collecting the ticket */
	bool			 done;
	bool			 lost;		/* done because the connection failed */
	int			 err;		/* whole-request error, once done */
	wire_frame		*reply;		/* once done with err == 0 */
	struct zpc_waiter	*waiter;	/* the thread sleeping on it */
	size_t			 base;		/* first page in the caller's batch */
	unsigned		 n;		/* pages: slots or handles */
	uint32_t		 slots[WIRE_BATCH_MAX];
};

/* A sleeping thread; lives on its stack while it sleeps. */
struct zpc_waiter {
	TAILQ_ENTRY(zpc_waiter)	 link;
	pthread_cond_t		 cv;
	struct zpc_req		*req;		/* NULL: waits for slots or credit */
	unsigned		 need;		/* slots it needs, with req NULL */
};

struct zp_client {
	int			 fd;
	pid_t			 owner;		/* the process that connected */
	uint8_t			*staging;
	unsigned		 nslots;
	uint64_t		 client_id;
	unsigned		 max_batch;	/* min(daemon's, WIRE_BATCH_MAX) */
	unsigned		 max_inflight;
	unsigned		 chunk;		/* pages per request of a batch */
	unsigned		 busy_poll_us;	/* before a blocking recv */

	/*
	 * send_lock serialises writes, so frames never interleave.  Taken
	 * after `lock` is released, never with it.
	 */
	pthread_mutex_t		 send_lock;

	/*
	 * `lock` protects everything below, and every field of a registered
	 * request but its slots' contents.  Nobody holds it across a system
	 * call that can block, nor while copying pages.
	 */
	pthread_mutex_t		 lock;
	int			 err;		/* 0, or why the connection died */
	uint64_t		 next_id;
	unsigned		 inflight;	/* credits taken */
	unsigned		*free_slots;	/* stack of free slot numbers */
	unsigned		 nfree;
	bool			 reading;	/* a leader is reading the socket */
	TAILQ_HEAD(, zpc_waiter) waiters;
	unsigned		 nwaiters;
	LIST_HEAD(, zpc_req)	 reqs[ZPC_BUCKETS];

	/* Only the leader (the thread that set `reading`) touches these. */
	uint8_t			*rbuf;
	size_t			 rlen;
};

/* One batch call split into requests. */
struct zpc_batch {
	enum zpc_op		 op;
	const uint8_t		*in;		/* store: the caller's pages */
	uint8_t			*out;		/* load: where pages go */
	const zp_handle		*hin;		/* load, free */
	zp_handle		*hout;		/* store */
	int			*results;
	size_t			 n;
	size_t			 sent;		/* pages given to requests so far */
	int			 ok;		/* pages that succeeded */
	int			 err;		/* the whole call failed */
};

static bool
zpc_needs_slots(enum zpc_op op)
{
	return op == ZPC_STORE || op == ZPC_LOAD;
}

static struct zpc_req *
zpc_find(struct zp_client *c, uint64_t id)
{
	struct zpc_req	*r;

	LIST_FOREACH(r, &c->reqs[id % ZPC_BUCKETS], link)
		if (r->id == id)
			return r;
	return NULL;
}

/*
 * Slots or credits came back: wake, oldest first, the threads waiting for
 * them that what is free now could satisfy, not every one of them (with
 * many threads on a small staging area most would only go back to sleep).
 * One that loses the race to another sleeps again; whoever took the
 * resource gives it back later, and that wakes it once more.
 */
static void
zpc_wake_resource(struct zp_client *c)
{
	struct zpc_waiter	*w;
	unsigned		 slots = c->nfree, credits;

	if (c->nwaiters == 0 || c->inflight >= c->max_inflight)
		return;
	credits = c->max_inflight - c->inflight;
	TAILQ_FOREACH(w, &c->waiters, link) {
		if (w->req != NULL || w->need > slots)
			continue;
		pthread_cond_signal(&w->cv);
		slots -= w->need;
		if (--credits == 0)
			break;
	}
}

/*
 * Nobody reads: if replies are still due, wake one sleeper that needs one
 * to take over the socket.
 */
static void
zpc_handoff(struct zp_client *c)
{
	struct zpc_waiter	*w;

	if (c->reading || c->inflight == 0 || c->nwaiters == 0)
		return;
	TAILQ_FOREACH(w, &c->waiters, link) {
		if (w->req == NULL || !w->req->done) {
			pthread_cond_signal(&w->cv);
			return;
		}
	}
}

/*
 * Sleep on c->lock until woken.  r is the request waited for; or NULL,
 * and `need` the slots (with a credit) the thread waits for.
 */
static void
zpc_sleep(struct zp_client *c, struct zpc_req *r, unsigned need)
{
	struct zpc_waiter	w;

	pthread_cond_init(&w.cv, NULL);
	w.req = r;
	w.need = need;
	if (r != NULL)
		r->waiter = &w;
	TAILQ_INSERT_TAIL(&c->waiters, &w, link);
	c->nwaiters++;
	pthread_cond_wait(&w.cv, &c->lock);
	TAILQ_REMOVE(&c->waiters, &w, link);
	c->nwaiters--;
	if (r != NULL)
		r->waiter = NULL;
	pthread_cond_destroy(&w.cv);
}

static void
zpc_put_slots(struct zp_client *c, struct zpc_req *r)
{
	unsigned	i;

	if (!zpc_needs_slots(r->op))
		return;
	for (i = 0; i < r->n; i++)
		c->free_slots[c->nfree++] = r->slots[i];
}

/* Mark r done; returns its credit, and an async store's slots. */
static void
zpc_complete(struct zp_client *c, struct zpc_req *r, wire_frame *reply,
    int err)
{
	r->done = true;
	r->reply = reply;
	r->err = err;
	c->inflight--;
	if (r->async)
		zpc_put_slots(c, r);
	if (r->waiter != NULL)
		pthread_cond_signal(&r->waiter->cv);
}

/*
 * The connection is unusable: fail every request in flight with `code` and
 * wake everybody.  shutdown() also ends a leader's blocking recv().
 */
static void
zpc_fail(struct zp_client *c, int code)
{
	struct zpc_req		*r;
	struct zpc_waiter	*w;
	unsigned		 i;

	if (c->err != 0)
		return;
	c->err = code;
	shutdown(c->fd, SHUT_RDWR);
	for (i = 0; i < ZPC_BUCKETS; i++) {
		LIST_FOREACH(r, &c->reqs[i], link) {
			if (r->done)
				continue;
			r->lost = true;
			zpc_complete(c, r, NULL, code);
		}
	}
	TAILQ_FOREACH(w, &c->waiters, link)
		pthread_cond_signal(&w->cv);
}

/* Does a reply of this body and size answer r? */
static bool
zpc_reply_fits(const struct zpc_req *r, const wire_frame *f)
{
	switch (r->op) {
	case ZPC_STORE:
		return f->body_case == ZPOOL__FRAME__BODY_STORE_REPLY &&
		    f->store_reply->n_handles == r->n &&
		    f->store_reply->n_errors == r->n;
	case ZPC_LOAD:
		return f->body_case == ZPOOL__FRAME__BODY_LOAD_REPLY &&
		    f->load_reply->n_errors == r->n;
	case ZPC_FREE:
		return f->body_case == ZPOOL__FRAME__BODY_FREE_REPLY &&
		    f->free_reply->n_errors == r->n;
	case ZPC_STATS:
		return f->body_case == ZPOOL__FRAME__BODY_STATS_REPLY;
	}
	return false;
}

/*
 * Complete the request a reply answers.  Returns 0, or the code the
 * connection must fail with: a reply nobody asked for, or of the wrong
 * shape, means client and daemon no longer agree on the stream.  An error
 * reply nobody asked for is the daemon's last word before it drops us.
 */
static int
zpc_dispatch(struct zp_client *c, wire_frame *f)
{
	struct zpc_req	*r;
	int		 code;

	r = zpc_find(c, f->id);
	if (r == NULL || r->done) {
		code = f->body_case == ZPOOL__FRAME__BODY_ERROR ?
		    ZP_ECONNRESET : ZP_EPROTO;
		wire_free(f);
		return code;
	}
	if (f->body_case == ZPOOL__FRAME__BODY_ERROR) {
		code = f->error->code < 0 ? f->error->code : ZP_EPROTO;
		wire_free(f);
		zpc_complete(c, r, NULL, code);
		return 0;
	}
	if (!zpc_reply_fits(r, f)) {
		wire_free(f);
		return ZP_EPROTO;
	}
	zpc_complete(c, r, f, 0);
	return 0;
}

/*
 * Decode the whole frames at the start of rbuf, up to ZPC_TURN_FRAMES.
 * Sets *fail when the bytes can never be a valid frame.
 */
static int
zpc_decode(struct zp_client *c, wire_frame **frames, int *fail)
{
	wire_frame	*f;
	const char	*cause;
	size_t		 off = 0, used;
	int		 nf = 0, rv;

	while (nf < ZPC_TURN_FRAMES) {
		rv = wire_decode(c->rbuf + off, c->rlen - off, &f, &used,
		    &cause);
		if (rv == 0)
			break;
		if (rv < 0) {
			*fail = ZP_EPROTO;
			break;
		}
		off += used;
		if (wire_check(f, &cause) != 0) {
			wire_free(f);
			*fail = ZP_EPROTO;
			break;
		}
		frames[nf++] = f;
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return nf;
}

/*
 * The leader's read: poll the socket for busy_poll_us (spin.h), then
 * block unless `nowait`.
 */
static ssize_t
zpc_recv(struct zp_client *c, bool nowait)
{
	struct spin	 spin;
	ssize_t		 got;

	spin_start(&spin, nowait ? 0 : c->busy_poll_us);
	do {
		got = recv(c->fd, c->rbuf + c->rlen, ZPC_RBUF - c->rlen,
		    MSG_DONTWAIT);
		if (got != -1 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return got;
	} while (spin_again(&spin));
	if (nowait)
		return got;
	return recv(c->fd, c->rbuf + c->rlen, ZPC_RBUF - c->rlen, 0);
}

/*
 * One turn as the leader.  Called with c->lock held, nobody reading and
 * replies due; reads what the socket has (waiting for it unless `nowait`)
 * and completes what it answers.  Returns with c->lock held and nobody
 * reading; the caller hands over (zpc_handoff) when it stops waiting.
 */
static void
zpc_read_turn(struct zp_client *c, bool nowait)
{
	wire_frame	*frames[ZPC_TURN_FRAMES];
	ssize_t		 got;
	int		 nf, i, fail = 0, bad = 0;

	c->reading = true;
	pthread_mutex_unlock(&c->lock);

	/* Replies left in rbuf by an earlier leader come before recv. */
	nf = zpc_decode(c, frames, &fail);
	if (nf == 0 && fail == 0) {
		got = zpc_recv(c, nowait);
		if (got > 0) {
			c->rlen += (size_t)got;
			nf = zpc_decode(c, frames, &fail);
		} else if (got == 0)
			fail = ZP_ECONNRESET;
		else if (errno != EINTR && errno != EAGAIN &&
		    errno != EWOULDBLOCK)
			fail = ZP_ECONNRESET;
	}

	/* Whole replies before a broken one still reach their owners. */
	pthread_mutex_lock(&c->lock);
	c->reading = false;
	for (i = 0; i < nf; i++) {
		if (bad == 0)
			bad = zpc_dispatch(c, frames[i]);
		else
			wire_free(frames[i]);
	}
	if (bad != 0 || fail != 0)
		zpc_fail(c, bad != 0 ? bad : fail);
	else if (nf > 0)
		zpc_wake_resource(c);
}

/*
 * With c->lock held, wait once for slots or a credit to come back: read
 * replies if nobody does and some are due, else sleep until woken.  The
 * caller checks again and loops.  True when it took a turn as the reader.
 */
static bool
zpc_wait_resource(struct zp_client *c, unsigned need)
{
	if (!c->reading && c->inflight > 0) {
		zpc_read_turn(c, false);
		return true;
	}
	zpc_sleep(c, NULL, need);
	return false;
}

/* With c->lock held, wait until r is done. */
static void
zpc_wait_req(struct zp_client *c, struct zpc_req *r)
{
	while (!r->done) {
		if (!c->reading)
			zpc_read_turn(c, false);
		else
			zpc_sleep(c, r, 0);
	}
	zpc_handoff(c);
}

/*
 * Take a credit and slots for up to `want` pages and register r.  With
 * `all`, exactly `want` slots or none; without, at least one.  Returns 1
 * (r->n pages granted), 0 when !block and nothing is free, or a ZP_E* code.
 */
static int
zpc_begin(struct zp_client *c, struct zpc_req *r, enum zpc_op op,
    unsigned want, bool all, bool block)
{
	unsigned	need, i;
	bool		led = false;

	need = !zpc_needs_slots(op) ? 0 : all ? want : 1;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->err != 0) {
			pthread_mutex_unlock(&c->lock);
			return c->err;
		}
		if (c->inflight < c->max_inflight && c->nfree >= need)
			break;
		if (!block) {
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		led |= zpc_wait_resource(c, need);
	}
	r->op = op;
	r->done = r->lost = r->claimed = false;
	r->err = 0;
	r->reply = NULL;
	r->waiter = NULL;
	r->n = want;
	if (zpc_needs_slots(op)) {
		if (r->n > c->nfree)
			r->n = c->nfree;
		for (i = 0; i < r->n; i++)
			r->slots[i] = c->free_slots[--c->nfree];
	}
	c->inflight++;
	r->id = c->next_id++;
	LIST_INSERT_HEAD(&c->reqs[r->id % ZPC_BUCKETS], r, link);
	/*
	 * A synchronous caller waits for its reply next, and reads if nobody
	 * does.  A ticket's caller does not, nor may one who was reading
	 * leave the others without a reader while it copies and sends.
	 */
	if (r->async || led)
		zpc_handoff(c);
	pthread_mutex_unlock(&c->lock);
	return 1;
}

/* Take r out of the table and give back its slots (if it still has them). */
static void
zpc_end(struct zp_client *c, struct zpc_req *r)
{
	pthread_mutex_lock(&c->lock);
	LIST_REMOVE(r, link);
	if (!r->async) {
		zpc_put_slots(c, r);
		zpc_wake_resource(c);
	}
	pthread_mutex_unlock(&c->lock);
	wire_free(r->reply);
	r->reply = NULL;
}

static int
zpc_send_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Send registered request r with body f.  Any failure leaves the stream in
 * an unknown state, so it fails the connection, and with it r.
 */
static void
zpc_send(struct zp_client *c, struct zpc_req *r, wire_frame *f)
{
	uint8_t	buf[ZPC_REQ_MAX];
	size_t	len;
	int	rv;

	f->id = r->id;
	if ((len = wire_encode_to(f, buf, sizeof buf)) == 0) {
		pthread_mutex_lock(&c->lock);
		zpc_fail(c, ZP_EPROTO);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	pthread_mutex_lock(&c->send_lock);
	rv = zpc_send_all(c->fd, buf, len);
	pthread_mutex_unlock(&c->send_lock);
	if (rv != 0) {
		pthread_mutex_lock(&c->lock);
		zpc_fail(c, ZP_ECONNRESET);
		pthread_mutex_unlock(&c->lock);
	}
}

/* Copy r's pages in (from pages + base) and send the store. */
static void
zpc_send_store(struct zp_client *c, struct zpc_req *r, const uint8_t *pages)
{
	wire_frame		 f = ZPOOL__FRAME__INIT;
	Zpool__StoreRequest	 s = ZPOOL__STORE_REQUEST__INIT;
	unsigned		 i;

	for (i = 0; i < r->n; i++)
		page_stream(c->staging + (size_t)r->slots[i] * ZP_PAGE_SIZE,
		    pages + (r->base + i) * ZP_PAGE_SIZE);
	page_stream_fence();
	s.n_slots = r->n;
	s.slots = r->slots;
	f.body_case = ZPOOL__FRAME__BODY_STORE;
	f.store = &s;
	zpc_send(c, r, &f);
}

static void
zpc_send_batch(struct zp_client *c, struct zpc_batch *b, struct zpc_req *r)
{
	wire_frame		 f = ZPOOL__FRAME__INIT;
	Zpool__LoadRequest	 l = ZPOOL__LOAD_REQUEST__INIT;
	Zpool__FreeRequest	 fr = ZPOOL__FREE_REQUEST__INIT;

	switch (b->op) {
	case ZPC_STORE:
		zpc_send_store(c, r, b->in);
		return;
	case ZPC_LOAD:
		/* protobuf-c only reads the arrays it packs. */
		l.n_handles = l.n_slots = r->n;
		l.handles = (uint64_t *)(uintptr_t)(b->hin + r->base);
		l.slots = r->slots;
		f.body_case = ZPOOL__FRAME__BODY_LOAD;
		f.load = &l;
		break;
	case ZPC_FREE:
		fr.n_handles = r->n;
		fr.handles = (uint64_t *)(uintptr_t)(b->hin + r->base);
		f.body_case = ZPOOL__FRAME__BODY_FREE;
		f.free = &fr;
		break;
	case ZPC_STATS:		/* never a batch */
		return;
	}
	zpc_send(c, r, &f);
}

/* A per-page code from the daemon, sanitised: never positive. */
static int
zpc_page_code(int32_t code)
{
	return code > 0 ? ZP_EPROTO : code;
}

/*
 * Handles and results of the n pages of store reply f, into handles[0..n)
 * and results[0..n); returns how many were stored.
 */
static int
zpc_store_results(const wire_frame *f, unsigned n, zp_handle *handles,
    int *results)
{
	const Zpool__StoreReply	*s = f->store_reply;
	unsigned		 i;
	int			 ok = 0, code;

	for (i = 0; i < n; i++) {
		code = zpc_page_code(s->errors[i]);
		/* Handles are never 0: a "stored" page without one is lost. */
		if (code == 0 && s->handles[i] == 0)
			code = ZP_EPROTO;
		if (code == 0) {
			handles[i] = s->handles[i];
			ok++;
		}
		if (results != NULL)
			results[i] = code;
	}
	return ok;
}

/* The owner's part of a finished request of batch b. */
static void
zpc_finish(struct zp_client *c, struct zpc_batch *b, struct zpc_req *r)
{
	const int32_t	*errs;
	unsigned	 i;
	int		 code;

	if (r->lost)
		b->err = r->err;
	if (r->err != 0) {
		for (i = 0; b->results != NULL && i < r->n; i++)
			b->results[r->base + i] = r->err;
	} else if (b->op == ZPC_STORE) {
		b->ok += zpc_store_results(r->reply, r->n, b->hout + r->base,
		    b->results != NULL ? b->results + r->base : NULL);
	} else {
		errs = b->op == ZPC_LOAD ? r->reply->load_reply->errors :
		    r->reply->free_reply->errors;
		for (i = 0; i < r->n; i++) {
			code = zpc_page_code(errs[i]);
			if (code == 0 && b->op == ZPC_LOAD)
				memcpy(b->out + (r->base + i) * ZP_PAGE_SIZE,
				    c->staging +
				    (size_t)r->slots[i] * ZP_PAGE_SIZE,
				    ZP_PAGE_SIZE);
			if (code == 0)
				b->ok++;
			if (b->results != NULL)
				b->results[r->base + i] = code;
		}
	}
	zpc_end(c, r);
}

/*
 * Run a batch as a window of pipelined requests.  A new request is started
 * without blocking while the window has room; only with nothing of its own
 * in flight does a thread block for slots or a credit, so it never holds
 * slots while it waits for more.
 */
static int
zpc_run(struct zp_client *c, struct zpc_batch *b)
{
	struct zpc_req	 win[ZPC_WINDOW], *r;
	unsigned	 head = 0, nout = 0, want;
	int		 rv;

	if (b->n > INT_MAX)
		return ZP_EINVAL;
	while ((b->sent < b->n && b->err == 0) || nout > 0) {
		if (b->sent < b->n && b->err == 0 && nout < ZPC_WINDOW) {
			r = &win[(head + nout) % ZPC_WINDOW];
			want = zpc_needs_slots(b->op) ? c->chunk : c->max_batch;
			if (b->n - b->sent < want)
				want = (unsigned)(b->n - b->sent);
			r->async = false;
			r->base = b->sent;
			rv = zpc_begin(c, r, b->op, want, false, nout == 0);
			if (rv < 0) {
				b->err = rv;
				continue;
			}
			if (rv > 0) {
				b->sent += r->n;
				zpc_send_batch(c, b, r);
				nout++;
				continue;
			}
		}
		r = &win[head];
		pthread_mutex_lock(&c->lock);
		zpc_wait_req(c, r);
		pthread_mutex_unlock(&c->lock);
		zpc_finish(c, b, r);
		head = (head + 1) % ZPC_WINDOW;
		nout--;
	}
	if (b->err != 0) {
		/* Pages never sent are reported too. */
		for (; b->results != NULL && b->sent < b->n; b->sent++)
			b->results[b->sent] = b->err;
		return b->err;
	}
	return b->ok;
}

int
zp_store_batch(zp_client *c, const void *pages, size_t n, zp_handle *handles,
    int *results)
{
	struct zpc_batch	b = { .op = ZPC_STORE, .n = n };

	if (c == NULL || (n > 0 && (pages == NULL || handles == NULL)))
		return ZP_EINVAL;
	b.in = pages;
	b.hout = handles;
	b.results = results;
	return zpc_run(c, &b);
}

int
zp_load_batch(zp_client *c, const zp_handle *handles, size_t n, void *pages,
    int *results)
{
	struct zpc_batch	b = { .op = ZPC_LOAD, .n = n };

	if (c == NULL || (n > 0 && (pages == NULL || handles == NULL)))
		return ZP_EINVAL;
	b.hin = handles;
	b.out = pages;
	b.results = results;
	return zpc_run(c, &b);
}

int
zp_free_batch(zp_client *c, const zp_handle *handles, size_t n, int *results)
{
	struct zpc_batch	b = { .op = ZPC_FREE, .n = n };

	if (c == NULL || (n > 0 && handles == NULL))
		return ZP_EINVAL;
	b.hin = handles;
	b.results = results;
	return zpc_run(c, &b);
}

/* One page: the batch path with n = 1, its result as the return value. */
int
zp_store(zp_client *c, const void *page, zp_handle *handle)
{
	int	rv, result;

	rv = zp_store_batch(c, page, 1, handle, &result);
	return rv < 0 ? rv : result;
}

int
zp_load(zp_client *c, zp_handle handle, void *page)
{
	int	rv, result;

	rv = zp_load_batch(c, &handle, 1, page, &result);
	return rv < 0 ? rv : result;
}

int
zp_free(zp_client *c, zp_handle handle)
{
	int	rv, result;

	rv = zp_free_batch(c, &handle, 1, &result);
	return rv < 0 ? rv : result;
}

int
zp_store_async(zp_client *c, const void *pages, size_t n, zp_ticket *ticket)
{
	struct zpc_req	*r;
	int		 rv;

	if (c == NULL || pages == NULL || ticket == NULL || n == 0 ||
	    n > c->max_batch || n > c->nslots)
		return ZP_EINVAL;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return ZP_ENOMEM;
	r->async = true;
	r->base = 0;
	if ((rv = zpc_begin(c, r, ZPC_STORE, (unsigned)n, true, true)) < 0) {
		free(r);
		return rv;
	}
	zpc_send_store(c, r, pages);

	pthread_mutex_lock(&c->lock);
	if (!r->lost) {
		pthread_mutex_unlock(&c->lock);
		*ticket = r->id;
		return 0;
	}
	/* The send failed: no ticket to collect. */
	rv = r->err;
	LIST_REMOVE(r, link);
	pthread_mutex_unlock(&c->lock);
	free(r);
	return rv;
}

/* Collect ticket r (claimed and done): fill the caller's arrays, free it. */
static int
zpc_collect(struct zp_client *c, struct zpc_req *r, zp_handle *handles,
    int *results)
{
	unsigned	i;
	int		rv;

	if (r->err != 0) {
		/* As in a batch: only a lost connection fails the call. */
		for (i = 0; results != NULL && i < r->n; i++)
			results[i] = r->err;
		rv = r->lost ? r->err : 0;
	} else
		rv = zpc_store_results(r->reply, r->n, handles, results);
	zpc_end(c, r);
	free(r);
	return rv;
}

/*
 * Find and claim ticket t, with c->lock held.  A ticket another thread is
 * collecting is as unknown as one already collected.
 */
static int
zpc_claim(struct zp_client *c, zp_ticket t, size_t max, struct zpc_req **out)
{
	struct zpc_req	*r;

	r = zpc_find(c, t);
	if (r == NULL || !r->async || r->claimed)
		return ZP_ENOENT;
	if (max < r->n)
		return ZP_EINVAL;
	r->claimed = true;
	*out = r;
	return 0;
}

int
zp_wait(zp_client *c, zp_ticket ticket, zp_handle *handles, int *results,
    size_t max)
{
	struct zpc_req	*r;
	int		 rv;

	if (c == NULL || handles == NULL)
		return ZP_EINVAL;
	pthread_mutex_lock(&c->lock);
	if ((rv = zpc_claim(c, ticket, max, &r)) != 0) {
		pthread_mutex_unlock(&c->lock);
		return rv;
	}
	zpc_wait_req(c, r);
	pthread_mutex_unlock(&c->lock);
	return zpc_collect(c, r, handles, results);
}

int
zp_poll(zp_client *c, zp_ticket ticket, zp_handle *handles, int *results,
    size_t max)
{
	struct zpc_req	*r;
	int		 rv;

	if (c == NULL || handles == NULL)
		return ZP_EINVAL;
	pthread_mutex_lock(&c->lock);
	if ((rv = zpc_claim(c, ticket, max, &r)) != 0) {
		pthread_mutex_unlock(&c->lock);
		return rv;
	}
	/* Without a reader nobody else would ever see the reply. */
	if (!r->done && !c->reading) {
		zpc_read_turn(c, true);
		zpc_handoff(c);
	}
	if (!r->done) {
		r->claimed = false;
		pthread_mutex_unlock(&c->lock);
		return ZP_EAGAIN;
	}
	pthread_mutex_unlock(&c->lock);
	return zpc_collect(c, r, handles, results);
}

static void
zpc_fill_stats(struct zp_stats *st, const Zpool__StatsReply *s)
{
	const Zpool__ClientStats	*me = s->self;
	const Zpool__PoolStats		*p = s->pool;

	memset(st, 0, sizeof *st);
	if (me != NULL) {
		st->client_id = me->client_id;
		st->pages_stored = me->pages_stored;
		st->orig_bytes = me->orig_bytes;
		st->compr_bytes = me->compr_bytes;
		st->charged_bytes = me->charged_bytes;
		st->limit_bytes = me->limit_bytes;
		st->shared_pages = me->shared_pages;
		st->refused_stores = me->refused_stores;
	}
	if (p != NULL) {
		st->pool_orig_data_size = p->orig_data_size;
		st->pool_compr_data_size = p->compr_data_size;
		st->pool_mem_used_total = p->mem_used_total;
		st->pool_mem_limit = p->mem_limit;
	}
}

int
zp_stats(zp_client *c, struct zp_stats *st)
{
	struct zpc_req		 r;
	wire_frame		 f = ZPOOL__FRAME__INIT;
	Zpool__StatsRequest	 s = ZPOOL__STATS_REQUEST__INIT;
	int			 rv;

	if (c == NULL || st == NULL)
		return ZP_EINVAL;
	r.async = false;
	r.base = 0;
	if ((rv = zpc_begin(c, &r, ZPC_STATS, 0, true, true)) < 0)
		return rv;
	f.body_case = ZPOOL__FRAME__BODY_STATS;
	f.stats = &s;
	zpc_send(c, &r, &f);
	pthread_mutex_lock(&c->lock);
	zpc_wait_req(c, &r);
	pthread_mutex_unlock(&c->lock);
	if ((rv = r.err) == 0) {
		zpc_fill_stats(st, r.reply->stats_reply);
		if (st->client_id == 0)
			st->client_id = c->client_id;
	}
	zpc_end(c, &r);
	return rv;
}

const char *
zp_strerror(int code)
{
	switch (code) {
	case ZP_OK:		return "success";
	case ZP_EPERM:		return "not allowed: admin request";
	case ZP_ENOENT:		return "unknown, freed or foreign handle";
	case ZP_EIO:		return "stored data failed to decompress";
	case ZP_EAGAIN:		return "not completed yet";
	case ZP_ENOMEM:		return "out of memory";
	case ZP_EBUSY:		return "too many connections for this user";
	case ZP_EINVAL:		return "invalid argument";
	case ZP_ENOSPC:		return "budget or limit reached";
	case ZP_EPROTO:		return "protocol error or version mismatch";
	case ZP_EMSGSIZE:	return "batch larger than the daemon accepts";
	case ZP_ECONNRESET:	return "connection to the daemon lost";
	case ZP_ENOTCONN:	return "cannot connect to the daemon";
	default:		return "unknown error";
	}
}

/*
 * secure_getenv: a set-uid program must not be talked into handing its
 * pages to a socket that its invoker chose.
 */
const char *
zp_socket_path(const char *path)
{
	const char	*env;

	if (path != NULL && *path != '\0')
		return path;
	env = secure_getenv(ZP_SOCKET_ENV);
	if (env != NULL && *env != '\0')
		return env;
	return ZP_DEFAULT_SOCKET;
}

/* The staging area: a memfd sealed so that it can never shrink or grow. */
static int
zpc_staging(struct zp_client *c, int *memfd)
{
	size_t	len = (size_t)c->nslots * ZP_PAGE_SIZE;
	int	fd;

	if ((fd = memfd_create("zpclient", MFD_ALLOW_SEALING |
	    MFD_CLOEXEC)) == -1)
		return ZP_ENOMEM;
	if (ftruncate(fd, (off_t)len) == -1 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) == -1) {
		close(fd);
		return ZP_ENOMEM;
	}
	c->staging = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	if (c->staging == MAP_FAILED) {
		c->staging = NULL;
		close(fd);
		return ZP_ENOMEM;
	}
	*memfd = fd;
	return 0;
}

static int
zpc_dial(struct zp_client *c, const char *path)
{
	int	fd = wire_dial(path, 0);

	if (fd >= 0) {
		c->fd = fd;
		return 0;
	}
	switch (-fd) {
	case ENAMETOOLONG:
		return ZP_EINVAL;
	case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
		return ZP_ENOMEM;
	default:
		return ZP_ENOTCONN;
	}
}

/* Hello, with the staging memfd riding on the same sendmsg. */
static int
zpc_hello(struct zp_client *c, const char *name, int memfd)
{
	wire_frame	 f = ZPOOL__FRAME__INIT;
	Zpool__Hello	 h = ZPOOL__HELLO__INIT;
	uint8_t		 buf[WIRE_HEADER_LEN + 128];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr	 msg;
	struct iovec	 iov;
	size_t		 len;
	ssize_t		 n;

	h.version = ZP_PROTOCOL_VERSION;
	h.name = (char *)(uintptr_t)name;
	h.slots = c->nslots;
	f.body_case = ZPOOL__FRAME__BODY_HELLO;
	f.hello = &h;
	if ((len = wire_encode_to(&f, buf, sizeof buf)) == 0)
		return ZP_EINVAL;

	memset(&msg, 0, sizeof msg);
	memset(&cm, 0, sizeof cm);
	iov.iov_base = buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof cm.buf;
	cm.hdr.cmsg_level = SOL_SOCKET;
	cm.hdr.cmsg_type = SCM_RIGHTS;
	cm.hdr.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&cm.hdr), &memfd, sizeof memfd);

	do
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return ZP_ENOTCONN;
	/* The ancillary data went with the first byte; the rest is plain. */
	if ((size_t)n < len && zpc_send_all(c->fd, buf + n, len - n) != 0)
		return ZP_ENOTCONN;
	return 0;
}

/* Whether fd has bytes, or its end, to read now. */
static bool
zpc_readable(int fd)
{
	struct pollfd	p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Read the reply to hello; nothing else can be on the socket yet. */
static int
zpc_hello_reply(struct zp_client *c)
{
	wire_frame			*f;
	const Zpool__HelloReply		*h;
	const char			*cause;
	size_t				 used;
	ssize_t				 got;
	int				 rv;

	while ((rv = wire_decode(c->rbuf, c->rlen, &f, &used, &cause)) == 0) {
		got = recv(c->fd, c->rbuf + c->rlen, ZPC_RBUF - c->rlen, 0);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			return ZP_ENOTCONN;
		c->rlen += (size_t)got;
	}
	if (rv < 0)
		return ZP_EPROTO;
	memmove(c->rbuf, c->rbuf + used, c->rlen - used);
	c->rlen -= used;
	if (wire_check(f, &cause) != 0) {
		wire_free(f);
		return ZP_EPROTO;
	}
	if (f->body_case == ZPOOL__FRAME__BODY_ERROR) {
		rv = f->error->code < 0 ? f->error->code : ZP_EPROTO;
		wire_free(f);
		return rv;
	}
	if (f->body_case != ZPOOL__FRAME__BODY_HELLO_REPLY) {
		wire_free(f);
		return ZP_EPROTO;
	}
	h = f->hello_reply;
	rv = 0;
	if (h->version != ZP_PROTOCOL_VERSION || h->max_batch == 0 ||
	    h->max_inflight == 0)
		rv = ZP_EPROTO;
	c->client_id = h->client_id;
	c->max_batch = h->max_batch < WIRE_BATCH_MAX ? h->max_batch :
	    WIRE_BATCH_MAX;
	c->max_inflight = h->max_inflight;
	wire_free(f);
	return rv;
}

/* The program's name, cut to what the daemon accepts at a UTF-8 boundary. */
static void
zpc_default_name(char *buf, size_t len)
{
	size_t	n;

	n = strlen(program_invocation_short_name);
	if (n >= len) {
		n = len - 1;
		while (n > 0 && ((unsigned char)
		    program_invocation_short_name[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(buf, program_invocation_short_name, n);
	buf[n] = '\0';
}

static zp_client *
zpc_new(unsigned nslots)
{
	zp_client	*c;
	unsigned	 i;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->fd = -1;
	c->owner = getpid();
	c->nslots = nslots;
	c->next_id = 1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->send_lock, NULL);
	TAILQ_INIT(&c->waiters);
	for (i = 0; i < ZPC_BUCKETS; i++)
		LIST_INIT(&c->reqs[i]);
	c->rbuf = malloc(ZPC_RBUF);
	c->free_slots = calloc(nslots, sizeof *c->free_slots);
	if (c->rbuf == NULL || c->free_slots == NULL) {
		zp_close(c);
		return NULL;
	}
	/* Low slots on top of the stack: a light user touches few pages. */
	for (i = 0; i < nslots; i++)
		c->free_slots[i] = nslots - 1 - i;
	c->nfree = nslots;
	return c;
}

int
zp_connect(const struct zp_options *opts, zp_client **out)
{
	zp_client	*c;
	const char	*path, *name;
	char		 dflt[WIRE_NAME_MAX + 1];
	unsigned	 nslots;
	int		 memfd = -1, rv, refusal;

	if (out == NULL)
		return ZP_EINVAL;
	*out = NULL;
	path = zp_socket_path(opts != NULL ? opts->socket_path : NULL);
	nslots = opts != NULL && opts->slots != 0 ? opts->slots :
	    ZPC_DEFAULT_SLOTS;
	if (opts != NULL && opts->busy_poll_us > SPIN_MAX_US)
		return ZP_EINVAL;
	if (opts != NULL && opts->name != NULL)
		name = opts->name;
	else {
		zpc_default_name(dflt, sizeof dflt);
		name = dflt;
	}
	if (strlen(name) > WIRE_NAME_MAX)
		return ZP_EINVAL;
#if SIZE_MAX / ZP_PAGE_SIZE < UINT_MAX
	if (nslots > SIZE_MAX / ZP_PAGE_SIZE)
		return ZP_EINVAL;
#endif

	if ((c = zpc_new(nslots)) == NULL)
		return ZP_ENOMEM;
	if (opts == NULL || opts->busy_poll_us == 0)
		c->busy_poll_us = SPIN_DEFAULT_US;
	else if (opts->busy_poll_us > 0)
		c->busy_poll_us = (unsigned)opts->busy_poll_us;
	if ((rv = zpc_staging(c, &memfd)) != 0 ||
	    (rv = zpc_dial(c, path)) != 0)
		goto fail;
	/*
	 * A daemon that turns the connection away (ZP_EBUSY) says why and
	 * closes, maybe before the hello went out: its reason is still on
	 * the socket, and says more than a failed send.
	 */
	rv = zpc_hello(c, name, memfd);
	if (rv == 0)
		rv = zpc_hello_reply(c);
	else if (zpc_readable(c->fd) &&
	    (refusal = zpc_hello_reply(c)) < 0 &&
	    refusal != ZP_ENOTCONN && refusal != ZP_EPROTO)
		rv = refusal;
	if (rv != 0)
		goto fail;
	/* The daemon holds its own reference now; the mapping keeps ours. */
	close(memfd);

	/*
	 * A batch goes out in chunks of a quarter of the staging area, so a
	 * single thread keeps several requests (and daemon workers) busy.
	 */
	c->chunk = c->nslots / 4;
	if (c->chunk > c->max_batch)
		c->chunk = c->max_batch;
	if (c->chunk == 0)
		c->chunk = 1;
	*out = c;
	return 0;

fail:
	if (memfd != -1)
		close(memfd);
	zp_close(c);
	return rv;
}

void
zp_close(zp_client *c)
{
	struct zpc_req	*r;
	unsigned	 i;

	if (c == NULL)
		return;
	/*
	 * The process that connected ends the connection, even where a
	 * forked child still holds the socket; a child closes its copy only.
	 */
	if (c->fd != -1) {
		if (getpid() == c->owner)
			shutdown(c->fd, SHUT_RDWR);
		close(c->fd);
	}
	/* Only tickets nobody collected can be left. */
	for (i = 0; i < ZPC_BUCKETS; i++) {
		while ((r = LIST_FIRST(&c->reqs[i])) != NULL) {
			LIST_REMOVE(r, link);
			wire_free(r->reply);
			if (r->async)
				free(r);
		}
	}
	if (c->staging != NULL)
		munmap(c->staging, (size_t)c->nslots * ZP_PAGE_SIZE);
	free(c->rbuf);
	free(c->free_slots);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	free(c);
}
