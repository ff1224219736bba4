/*
 * rpc.c -- what each request does: dispatch of decoded, checked frames on
 * the loop thread, and the replies of finished jobs.
 *
 * Stores and loads go to the workers; frees, stats and admin requests are
 * answered here, at once.  Replies carry their request's id and may come
 * out of order.  A request that cannot be valid (a slot outside the staging
 * area, a reply type, a second hello) is a protocol violation: dispatch
 * returns -1 with the cause and conn.c drops the client.  A request that is
 * valid but cannot be done gets its error in the reply instead: per page
 * (ZP_ENOENT for a handle that is not this client's) or as an ErrorReply
 * (ZP_EPERM for admin requests from anyone but root or the daemon's uid).
 *
 * A load pins its objects before it is queued, so that a free pipelined
 * behind it cannot release an object, and let its id be reused, while a
 * worker decompresses it.  A load of a few pages (RPC_INLINE_LOAD_MAX) is
 * done here instead: decompressing a page costs less than the two thread
 * hand-offs, and single-page load latency is what a faulting application
 * waits on.  Nothing is ever compressed on this thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "page.h"
#include "size.h"
#include "xmalloc.h"

/* Room kept free in a stats reply for the frame around the clients. */
#define RPC_STATS_SLACK	64

static int
rpc_check_slots(const struct client *c, const uint32_t *slots, size_t n,
    const char **cause)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (slots[i] >= c->nslots) {
			*cause = c->nslots == 0 ?
			    "page request on a connection without staging" :
			    "slot out of range";
			return -1;
		}
	}
	return 0;
}

static int
rpc_store(struct client *c, const wire_frame *f, const char **cause)
{
	const Zpool__StoreRequest	*r = f->store;
	struct job			*job;

	if (rpc_check_slots(c, r->slots, r->n_slots, cause) != 0)
		return -1;
	job = job_new(JOB_STORE, c, f->id, (unsigned)r->n_slots);
	memcpy(job->slots, r->slots, r->n_slots * sizeof *r->slots);
	worker_submit(c->zd, job);
	return 0;
}

static void
rpc_load_reply(struct client *c, struct job *job)
{
	Zpool__LoadReply	lr = ZPOOL__LOAD_REPLY__INIT;
	wire_frame		rf = ZPOOL__FRAME__INIT;
	unsigned		i;

	for (i = 0; i < job->n; i++)
		if (job->errors[i] == 0)
			c->loads++;
	lr.n_errors = job->n;
	lr.errors = job->errors;
	rf.id = job->req_id;
	rf.body_case = ZPOOL__FRAME__BODY_LOAD_REPLY;
	rf.load_reply = &lr;
	conn_send(c, &rf);
}

/* A small load, on the loop: nothing can free its objects meanwhile. */
static void
rpc_load_inline(struct client *c, const wire_frame *f)
{
	const Zpool__LoadRequest	*r = f->load;
	Zpool__LoadReply		 lr = ZPOOL__LOAD_REPLY__INIT;
	wire_frame			 rf = ZPOOL__FRAME__INIT;
	int32_t				 errors[RPC_INLINE_LOAD_MAX];
	struct handle_obj		 o;
	size_t				 i;

	for (i = 0; i < r->n_handles; i++) {
		if (handle_lookup(&c->handles, r->handles[i], &o) != 0) {
			errors[i] = ZP_ENOENT;
			continue;
		}
		errors[i] = store_load(c->zd, c->zd->loop_ctx, o.id,
		    c->stage + (size_t)r->slots[i] * ZP_PAGE_SIZE,
		    c->zd->loop_page);
		if (errors[i] == 0)
			c->loads++;
	}
	page_stream_fence();
	lr.n_errors = r->n_handles;
	lr.errors = errors;
	rf.id = f->id;
	rf.body_case = ZPOOL__FRAME__BODY_LOAD_REPLY;
	rf.load_reply = &lr;
	conn_send(c, &rf);
}

static int
rpc_load(struct client *c, const wire_frame *f, const char **cause)
{
	const Zpool__LoadRequest	*r = f->load;
	struct handle_obj		 o;
	struct job			*job;
	unsigned			 i, pinned = 0;

	if (rpc_check_slots(c, r->slots, r->n_slots, cause) != 0)
		return -1;
	if (r->n_handles <= RPC_INLINE_LOAD_MAX) {
		rpc_load_inline(c, f);
		return 0;
	}
	job = job_new(JOB_LOAD, c, f->id, (unsigned)r->n_handles);
	for (i = 0; i < job->n; i++) {
		job->slots[i] = r->slots[i];
		if (handle_lookup(&c->handles, r->handles[i], &o) != 0) {
			job->errors[i] = ZP_ENOENT;
			continue;
		}
		if (store_pin(c->zd, o.id) != 0) {
			/* only a broken invariant: a live handle holds it */
			log_warnx("client %llu: object %u of a live handle "
			    "could not be pinned", (unsigned long long)c->id,
			    o.id);
			job->errors[i] = ZP_EIO;
			continue;
		}
		job->ids[i] = o.id;
		pinned++;
	}
	if (pinned != 0) {
		worker_submit(c->zd, job);
		return 0;
	}
	/* Nothing to load: answer now, the job never was. */
	rpc_load_reply(c, job);
	c->inflight--;
	job_free(job);
	conn_release(c);
	return 0;
}

static void
rpc_free(struct client *c, const wire_frame *f)
{
	const Zpool__FreeRequest	*r = f->free;
	Zpool__FreeReply		 fr = ZPOOL__FREE_REPLY__INIT;
	wire_frame			 rf = ZPOOL__FRAME__INIT;
	int32_t				 errors[WIRE_BATCH_MAX];
	struct handle_obj		 o;
	size_t				 i;

	for (i = 0; i < r->n_handles; i++) {
		if (handle_remove(&c->handles, r->handles[i], &o) != 0) {
			errors[i] = ZP_ENOENT;
			continue;
		}
		store_release(c->zd, c, &o);
		errors[i] = 0;
		c->pages--;
		c->frees++;
	}
	fr.n_errors = r->n_handles;
	fr.errors = errors;
	rf.id = f->id;
	rf.body_case = ZPOOL__FRAME__BODY_FREE_REPLY;
	rf.free_reply = &fr;
	conn_send(c, &rf);
}

/*
 * A client's pages whose bytes another page reads too.  Sharing changes
 * with what other clients store and free, so no counter kept per client
 * could be exact: the table is walked, asking the pool each object's
 * references (a cache miss an entry, about 15 ns).  A stats request walks
 * whole the tables that fit in RPC_SHARED_NOW entries in all (60 us, what
 * a free of a full batch costs), or RPC_SHARED_NOW_ADMIN for an admin's
 * list of every client (1 ms).  Larger ones would hold the loop (a million
 * pages: 15 ms, and a client could ask in a loop), so they are walked in
 * slices of RPC_SHARED_SLICE entries, one every RPC_SHARED_TICK_US, while
 * anyone asks for it, and the answer is the count of the last whole walk.
 * Entries, live or freed, are what is counted against these bounds.
 */
#define RPC_SHARED_NOW		4096
#define RPC_SHARED_NOW_ADMIN	65536
#define RPC_SHARED_SLICE	8192
#define RPC_SHARED_TICK_US	10000

/*
 * Walk up to max entries of c's table, live or freed (a table never
 * shrinks: one that held millions costs as much to walk empty); returns
 * how many it looked at.
 */
static size_t
rpc_shared_walk(struct client *c, size_t max)
{
	struct handle_obj	o;
	uint32_t		from, end;

	if (!c->shared_walking) {
		c->shared_walking = true;
		c->shared_wanted = false;
		c->shared_cursor = 0;
		c->shared_partial = 0;
	}
	from = c->shared_cursor;
	end = c->handles.used;
	if (end - from > max)
		end = from + (uint32_t)max;
	while (handle_next_until(&c->handles, &c->shared_cursor, end, &o))
		c->shared_partial += pool_obj_refs(c->zd->pool, o.id) >= 2;
	if (c->shared_cursor >= c->handles.used) {
		c->shared_pages = c->shared_partial;
		c->shared_walking = false;
	}
	return c->shared_cursor - from;
}

/* *now: what the request may still walk at once. */
static uint64_t
rpc_shared_pages(struct client *c, size_t *now)
{
	struct timeval	tv = { 0, RPC_SHARED_TICK_US };

	if (c->handles.used <= *now) {
		*now -= c->handles.used;
		c->shared_walking = false;
		rpc_shared_walk(c, SIZE_MAX);
		return c->shared_pages;
	}
	c->shared_wanted = true;
	if (!evtimer_pending(c->zd->ev_shared, NULL))
		evtimer_add(c->zd->ev_shared, &tv);
	return c->shared_pages;
}

/*
 * One slice of the walks asked for, round robin from the client after the
 * one the last slice ended in.
 */
void
rpc_shared_timer(struct zpoold *zd)
{
	struct timeval	 tv = { 0, RPC_SHARED_TICK_US };
	struct client	*c, *start;
	size_t		 left = RPC_SHARED_SLICE;
	bool		 more = false;

	TAILQ_FOREACH(start, &zd->clients, entry)
		if (start->id > zd->shared_last_id)
			break;
	if (start == NULL)
		start = TAILQ_FIRST(&zd->clients);
	c = start;
	while (c != NULL && left > 0) {
		if (c->state == CONN_READY &&
		    (c->shared_walking || c->shared_wanted)) {
			left -= rpc_shared_walk(c, left);
			zd->shared_last_id = c->id;
		}
		if ((c = TAILQ_NEXT(c, entry)) == NULL)
			c = TAILQ_FIRST(&zd->clients);
		if (c == start)
			break;
	}
	TAILQ_FOREACH(c, &zd->clients, entry)
		more |= c->shared_walking || c->shared_wanted;
	if (more && !zd->stopping)
		evtimer_add(zd->ev_shared, &tv);
}

static void
rpc_fill_client(struct client *c, Zpool__ClientStats *cs, size_t *now)
{
	zpool__client_stats__init(cs);
	cs->client_id = c->id;
	cs->pid = (uint32_t)c->pid;
	cs->uid = (uint32_t)c->uid;
	cs->name = (char *)c->name;
	cs->pages_stored = c->pages;
	cs->orig_bytes = c->pages * ZP_PAGE_SIZE;
	cs->compr_bytes = atomic_load_explicit(&c->compr_bytes,
	    memory_order_relaxed);
	cs->charged_bytes = atomic_load_explicit(&c->charged_bytes,
	    memory_order_relaxed);
	cs->shared_pages = rpc_shared_pages(c, now);
	cs->limit_bytes = atomic_load_explicit(&c->limit_bytes,
	    memory_order_relaxed);
	cs->refused_stores = atomic_load_explicit(&c->refused,
	    memory_order_relaxed);
	cs->stores = c->stores;
	cs->loads = c->loads;
	cs->frees = c->frees;
}

static void
rpc_fill_pool(struct zpoold *zd, Zpool__PoolStats *p, char *codec,
    size_t codec_len)
{
	struct pool_stats	ps;
	struct dedup_stats	ds;
	uint64_t		used;

	pool_stats(zd->pool, &ps);
	dedup_stats(zd->dedup, &ds);
	used = server_mem_used(zd);
	if (used > zd->mem_used_max)
		zd->mem_used_max = used;

	zpool__pool_stats__init(p);
	p->orig_data_size = ps.orig_data_size;
	p->compr_data_size = ps.compr_data_size;
	p->mem_used_total = used;
	p->mem_limit = budget_limit(&zd->budget);
	p->mem_used_max = zd->mem_used_max > ps.mem_used_max ?
	    zd->mem_used_max : ps.mem_used_max;
	p->same_pages = ps.same_pages;
	p->pages_compacted = ps.pages_compacted;
	p->huge_pages = ps.huge_pages;
	p->pages_merged = ps.pages_merged;
	p->pool_frames = ps.frames;
	p->empty_frames = ps.empty_frames;
	p->meta_bytes = used - ps.frames * POOL_PAGE_SIZE;
	p->objects = ps.objects;
	p->dedup_hits = ds.hits;
	p->dedup_bytes_saved = ds.bytes_saved;
	p->clients = zd->nclients;
	p->refused_stores = atomic_load_explicit(&zd->refused_stores,
	    memory_order_relaxed);
	p->codec = (char *)codec_format(&zd->s.codec, codec, codec_len);
	p->dedup_mode = (char *)dedup_mode_name(dedup_get_mode(zd->dedup));
	p->dedup_scope = (char *)dedup_scope_name(zd->s.dedup_scope);
	p->workers = zd->workers.n;
	p->budget_frames = p->mem_limit / POOL_PAGE_SIZE;
	p->accepting = budget_accepting(&zd->budget);
	p->default_limit = zd->default_limit_bytes;
}

static size_t
varint_len(size_t n)
{
	size_t	len = 1;

	while (n >= 0x80) {
		n >>= 7;
		len++;
	}
	return len;
}

/*
 * Stats: the pool, the asking client, and for admin peers that ask, every
 * client that fits in one frame (the list is cut, never the frame).
 */
static void
rpc_stats(struct client *c, const wire_frame *f)
{
	struct zpoold		*zd = c->zd;
	Zpool__StatsReply	 sr = ZPOOL__STATS_REPLY__INIT;
	Zpool__PoolStats	 ps;
	Zpool__ClientStats	 self, *all = NULL, **list = NULL;
	wire_frame		 rf = ZPOOL__FRAME__INIT;
	struct client		*o;
	char			 codec[32];
	size_t			 n = 0, size, add, now;

	now = RPC_SHARED_NOW;
	rpc_fill_pool(zd, &ps, codec, sizeof codec);
	if (!c->admin) {
		/* what others share is theirs to know: admins only */
		ps.pages_merged = 0;
		ps.dedup_hits = 0;
		ps.dedup_bytes_saved = 0;
	}
	rpc_fill_client(c, &self, &now);
	sr.pool = &ps;
	sr.self = &self;
	rf.id = f->id;
	rf.body_case = ZPOOL__FRAME__BODY_STATS_REPLY;
	rf.stats_reply = &sr;

	if (f->stats->all_clients && c->admin && zd->nclients != 0) {
		now = RPC_SHARED_NOW_ADMIN;
		all = xcalloc(zd->nclients, sizeof *all);
		list = xcalloc(zd->nclients, sizeof *list);
		size = zpool__frame__get_packed_size(&rf) + RPC_STATS_SLACK;
		TAILQ_FOREACH(o, &zd->clients, entry) {
			if (o->state != CONN_READY)
				continue;
			rpc_fill_client(o, &all[n], &now);
			add = zpool__client_stats__get_packed_size(&all[n]);
			add += 1 + varint_len(add);
			if (size + add > WIRE_FRAME_MAX)
				break;
			size += add;
			list[n] = &all[n];
			n++;
		}
		sr.n_clients = n;
		sr.clients = list;
	}
	conn_send(c, &rf);
	free(list);
	free(all);
}

static void	rpc_budget_reply(struct client *, uint64_t, uint64_t);
static void	rpc_reclaim(struct zpoold *, struct client *, uint64_t);

static void
rpc_budget(struct client *c, const wire_frame *f)
{
	struct zpoold			*zd = c->zd;
	const Zpool__BudgetRequest	*r = f->budget;
	char				 size[SIZE_FORMAT_LEN];

	if (r->set) {
		budget_set_limit(&zd->budget, r->budget_bytes);
		log_info("client %llu set the budget to %s",
		    (unsigned long long)c->id, size_format_limit(r->budget_bytes,
		    size, sizeof size));
		/* Over it: shrink first, answer with how far it got. */
		if (r->budget_bytes != 0 &&
		    server_mem_used(zd) > r->budget_bytes) {
			rpc_reclaim(zd, c, f->id);
			return;
		}
	}
	rpc_budget_reply(c, f->id, 0);
}

static void
rpc_budget_reply(struct client *c, uint64_t req_id, uint64_t released)
{
	struct zpoold			*zd = c->zd;
	Zpool__BudgetReply		 br = ZPOOL__BUDGET_REPLY__INIT;
	wire_frame			 rf = ZPOOL__FRAME__INIT;

	br.budget_bytes = budget_limit(&zd->budget);
	br.mem_used_total = server_mem_used(zd);
	br.met = br.budget_bytes == 0 || br.mem_used_total <= br.budget_bytes;
	br.frames_released = released;
	rf.id = req_id;
	rf.body_case = ZPOOL__FRAME__BODY_BUDGET_REPLY;
	rf.budget_reply = &br;
	conn_send(c, &rf);
}

static void
rpc_limit(struct client *c, const wire_frame *f)
{
	struct zpoold			*zd = c->zd;
	const Zpool__LimitRequest	*r = f->limit;
	Zpool__LimitReply		 lr = ZPOOL__LIMIT_REPLY__INIT;
	wire_frame			 rf = ZPOOL__FRAME__INIT;
	struct client			*o;
	char				 size[SIZE_FORMAT_LEN];
	char				 msg[WIRE_MESSAGE_MAX];

	if (r->client_id == 0)
		zd->default_limit_bytes = r->limit_bytes;
	else {
		TAILQ_FOREACH(o, &zd->clients, entry)
			if (o->id == r->client_id && o->state == CONN_READY)
				break;
		if (o == NULL) {
			snprintf(msg, sizeof msg, "no client %llu (zpctl "
			    "clients lists them)",
			    (unsigned long long)r->client_id);
			conn_send_error(c, f->id, ZP_ENOENT, msg);
			return;
		}
		atomic_store(&o->limit_bytes, r->limit_bytes);
	}
	if (r->client_id == 0)
		log_info("client %llu set the limit of new clients to %s",
		    (unsigned long long)c->id, size_format_limit(r->limit_bytes,
		    size, sizeof size));
	else
		log_info("client %llu set the limit of client %llu to %s",
		    (unsigned long long)c->id,
		    (unsigned long long)r->client_id,
		    size_format_limit(r->limit_bytes, size, sizeof size));
	lr.client_id = r->client_id;
	lr.limit_bytes = r->limit_bytes;
	rf.id = f->id;
	rf.body_case = ZPOOL__FRAME__BODY_LIMIT_REPLY;
	rf.limit_reply = &lr;
	conn_send(c, &rf);
}

/*
 * For a merge: snapshot every client's objects with their scopes, pinned
 * so that no id in it can be freed and reused before the worker is done
 * with it.
 */
static void
rpc_snapshot(struct zpoold *zd, struct job *job)
{
	struct client		*o;
	struct handle_obj	 obj;
	uint32_t		 cursor;
	size_t			 total = 0, k = 0, r = 0;

	TAILQ_FOREACH(o, &zd->clients, entry)
		total += o->handles.live;
	if (total != 0) {
		job->merge_ids = xcalloc(total, sizeof *job->merge_ids);
		job->merge_runs = xcalloc(zd->nclients,
		    sizeof *job->merge_runs);
	}
	TAILQ_FOREACH(o, &zd->clients, entry) {
		if (o->handles.live == 0)
			continue;
		cursor = 0;
		while (handle_next(&o->handles, &cursor, &obj)) {
			/* not pinned, not merged: the others still are */
			if (store_pin(zd, obj.id) != 0)
				continue;
			job->merge_ids[k++] = obj.id;
		}
		job->merge_runs[r].scope = o->scope;
		job->merge_runs[r].end = k;
		r++;
	}
	job->merge_nids = k;
	job->merge_nruns = r;
}

static void
rpc_merge(struct client *c, const wire_frame *f)
{
	struct job	*job = job_new(JOB_MERGE, c, f->id, 0);

	/* Inline, the index already shares all it can: compaction only. */
	if (dedup_get_mode(c->zd->dedup) == DEDUP_OFF)
		rpc_snapshot(c->zd, job);
	worker_submit(c->zd, job);
}

/*
 * Reclaim towards the budget on a worker: merge (when dedup is off, the
 * only mode where merging finds anything), then compact.  For a client
 * that lowered the budget, or for no one when a store found the pool
 * full.
 */
static void
rpc_reclaim(struct zpoold *zd, struct client *c, uint64_t req_id)
{
	struct job	*job = job_new(JOB_BUDGET, c, req_id, 0);

	if (dedup_get_mode(zd->dedup) == DEDUP_OFF)
		rpc_snapshot(zd, job);
	worker_submit(zd, job);
}

/*
 * A worker found the pool full with dedup off: merge, one at a time and
 * at most once a second, since a snapshot walks every handle on the loop.
 */
static void
rpc_reclaim_asked(struct zpoold *zd)
{
	struct timespec	now;

	if (zd->reclaim_queued || zd->stopping ||
	    !atomic_exchange(&zd->want_merge, false))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < zd->reclaim_next)
		return;
	zd->reclaim_next = now.tv_sec + 1;
	zd->reclaim_queued = true;
	rpc_reclaim(zd, NULL, 0);
}

static void
rpc_compact(struct client *c, const wire_frame *f)
{
	worker_submit(c->zd, job_new(JOB_COMPACT, c, f->id, 0));
}

/* The compaction timer: one compaction at a time, for no one. */
void
rpc_compact_timer(struct zpoold *zd)
{
	if (zd->compacting || zd->stopping)
		return;
	zd->compacting = true;
	worker_submit(zd, job_new(JOB_COMPACT, NULL, 0, 0));
}

/*
 * The trim timer: emptied zspages that no store took since the last tick
 * give their frames back (pool_trim), on a worker since punching many
 * zspages out takes a while.  Nothing to do when none is kept.
 */
void
rpc_trim_timer(struct zpoold *zd)
{
	struct pool_stats	ps;

	if (zd->trimming || zd->stopping)
		return;
	pool_stats(zd->pool, &ps);
	if (ps.empty_frames == 0)
		return;
	zd->trimming = true;
	worker_submit(zd, job_new(JOB_TRIM, NULL, 0, 0));
}

static void
rpc_admin(struct client *c, const wire_frame *f)
{
	if (!c->admin) {
		log_info("client %llu (uid %lu): %s refused: not an admin",
		    (unsigned long long)c->id, (unsigned long)c->uid,
		    wire_body_name(f));
		conn_send_error(c, f->id, ZP_EPERM,
		    "admin requests need root or the daemon's uid");
		return;
	}
	switch (f->body_case) {
	case ZPOOL__FRAME__BODY_BUDGET:
		rpc_budget(c, f);
		break;
	case ZPOOL__FRAME__BODY_LIMIT:
		rpc_limit(c, f);
		break;
	case ZPOOL__FRAME__BODY_MERGE:
		rpc_merge(c, f);
		break;
	case ZPOOL__FRAME__BODY_COMPACT:
		rpc_compact(c, f);
		break;
	default:
		fatalx("rpc_admin: %s", wire_body_name(f));
	}
}

int
rpc_dispatch(struct client *c, const wire_frame *f, const char **cause)
{
	switch (f->body_case) {
	case ZPOOL__FRAME__BODY_STORE:
		return rpc_store(c, f, cause);
	case ZPOOL__FRAME__BODY_LOAD:
		return rpc_load(c, f, cause);
	case ZPOOL__FRAME__BODY_FREE:
		rpc_free(c, f);
		return 0;
	case ZPOOL__FRAME__BODY_STATS:
		rpc_stats(c, f);
		return 0;
	case ZPOOL__FRAME__BODY_BUDGET:
	case ZPOOL__FRAME__BODY_LIMIT:
	case ZPOOL__FRAME__BODY_MERGE:
	case ZPOOL__FRAME__BODY_COMPACT:
		rpc_admin(c, f);
		return 0;
	case ZPOOL__FRAME__BODY_HELLO:
		*cause = "second hello";
		return -1;
	default:
		*cause = "reply or error frame from a client";
		return -1;
	}
}

/* A store came back: give its pages handles, or give them back. */
static void
rpc_store_done(struct client *c, struct job *job, bool live)
{
	Zpool__StoreReply	sr = ZPOOL__STORE_REPLY__INIT;
	wire_frame		rf = ZPOOL__FRAME__INIT;
	struct handle_obj	o;
	size_t			grew;
	unsigned		i;

	for (i = 0; i < job->n; i++) {
		job->handles[i] = 0;
		if (job->errors[i] != 0)
			continue;
		o.id = job->ids[i];
		o.csize = job->csize[i];
		o.shared = job->shared[i];
		if (!live) {
			store_release(c->zd, c, &o);
			continue;
		}
		grew = handle_bytes(&c->handles);
		if (handle_insert(&c->handles, &o, &job->handles[i]) != 0) {
			store_release(c->zd, c, &o);
			job->errors[i] = ZP_ENOSPC;
			continue;
		}
		atomic_fetch_add_explicit(&c->zd->handle_bytes,
		    handle_bytes(&c->handles) - grew, memory_order_relaxed);
		c->pages++;
		c->stores++;
	}
	rpc_reclaim_asked(c->zd);
	if (!live)
		return;
	sr.n_handles = job->n;
	sr.handles = job->handles;
	sr.n_errors = job->n;
	sr.errors = job->errors;
	rf.id = job->req_id;
	rf.body_case = ZPOOL__FRAME__BODY_STORE_REPLY;
	rf.store_reply = &sr;
	conn_send(c, &rf);
}

static void
rpc_merge_done(struct client *c, struct job *job)
{
	Zpool__MergeReply	mr = ZPOOL__MERGE_REPLY__INIT;
	wire_frame		rf = ZPOOL__FRAME__INIT;

	log_info("merge: %llu pages scanned, %llu merged, %llu frames "
	    "released", (unsigned long long)job->scanned,
	    (unsigned long long)job->merged,
	    (unsigned long long)job->released);
	mr.pages_scanned = job->scanned;
	mr.pages_merged = job->merged;
	mr.frames_released = job->released;
	rf.id = job->req_id;
	rf.body_case = ZPOOL__FRAME__BODY_MERGE_REPLY;
	rf.merge_reply = &mr;
	conn_send(c, &rf);
}

static void
rpc_compact_done(struct zpoold *zd, struct client *c, struct job *job)
{
	Zpool__CompactReply	cr = ZPOOL__COMPACT_REPLY__INIT;
	wire_frame		rf = ZPOOL__FRAME__INIT;

	if (job->released != 0)
		log_debug("compaction: %llu objects moved, %llu frames "
		    "released", (unsigned long long)job->moved,
		    (unsigned long long)job->released);
	if (c == NULL) {
		zd->compacting = false;
		return;
	}
	cr.pages_moved = job->moved;
	cr.frames_released = job->released;
	rf.id = job->req_id;
	rf.body_case = ZPOOL__FRAME__BODY_COMPACT_REPLY;
	rf.compact_reply = &cr;
	conn_send(c, &rf);
}

/* Finish a job on the loop thread; it is freed here. */
void
rpc_job_done(struct zpoold *zd, struct job *job)
{
	struct client	*c = job->c;
	enum job_type	 type = job->type;
	bool		 live = c != NULL && c->state == CONN_READY;

	switch (type) {
	case JOB_STORE:
		rpc_store_done(c, job, live);
		break;
	case JOB_LOAD:
		if (live)
			rpc_load_reply(c, job);
		break;
	case JOB_RELEASE:
		break;
	case JOB_MERGE:
		if (live)
			rpc_merge_done(c, job);
		break;
	case JOB_COMPACT:
		if (c == NULL || live)
			rpc_compact_done(zd, c, job);
		break;
	case JOB_TRIM:
		if (job->released != 0)
			log_debug("trim: %llu frames of emptied zspages "
			    "released", (unsigned long long)job->released);
		zd->trimming = false;
		break;
	case JOB_BUDGET:
		log_info("reclaim: %llu pages merged, %llu frames released, "
		    "%llu bytes used", (unsigned long long)job->merged,
		    (unsigned long long)job->released,
		    (unsigned long long)server_mem_used(zd));
		if (c == NULL)
			zd->reclaim_queued = false;
		else if (live)
			rpc_budget_reply(c, job->req_id, job->released);
		break;
	}
	job_free(job);
	if (c == NULL)
		return;
	if (type != JOB_RELEASE)
		c->inflight--;
	conn_resume(c);
	conn_release(c);
}
