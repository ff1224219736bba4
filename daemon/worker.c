/*
 * worker.c -- the compression workers: a fixed pool of threads, one FIFO
 * of jobs, and the way completions get back to the loop.
 *
 * Each worker owns a codec context and one private page.  A store copies
 * each page out of the client's slot into that page before anything looks
 * at it: the client may keep writing its slot, and hashing or compressing
 * memory that changes underneath would let it poison the shared dedup
 * index.  A load decompresses into that page and streams it into the slot
 * (page.h says why).
 *
 * A store or a load job is cut into parts (daemon.h): a worker takes the
 * next part of the first job on the queue, and the job leaves the queue
 * with its last part, so idle workers share one client's batch instead of
 * waiting for a second client's.
 *
 * Completions go on `done`; the worker that makes `done` non-empty writes
 * the eventfd, and the loop, woken once, takes the whole list.  The loop
 * reads the eventfd before it takes the list, so a job is never left
 * waiting without a wake-up.  Parts of a client that died before they
 * started are skipped: their pages are never looked at.  Pages that
 * earlier parts stored are given back when the job completes (rpc.c).
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "page.h"
#include "spin.h"
#include "log.h"
#include "xmalloc.h"

struct job *
job_new(enum job_type type, struct client *c, uint64_t req_id, unsigned n)
{
	struct job	*job;
	size_t		 per;
	uint8_t		*p;

	/* One allocation: the job, then its arrays, largest first. */
	per = sizeof(uint64_t) + 3 * sizeof(uint32_t) + sizeof(uint16_t) +
	    sizeof(uint8_t);
	job = xcalloc(1, sizeof *job + (size_t)n * per);
	p = (uint8_t *)(job + 1);
	job->handles = (uint64_t *)p;
	p += (size_t)n * sizeof(uint64_t);
	job->slots = (uint32_t *)p;
	p += (size_t)n * sizeof(uint32_t);
	job->ids = (uint32_t *)p;
	p += (size_t)n * sizeof(uint32_t);
	job->errors = (int32_t *)p;
	p += (size_t)n * sizeof(int32_t);
	job->csize = (uint16_t *)p;
	p += (size_t)n * sizeof(uint16_t);
	job->shared = p;
	job->type = type;
	job->req_id = req_id;
	job->n = n;
	job->left = n;
	job->c = c;
	if (c != NULL) {
		conn_hold(c);
		if (type != JOB_RELEASE)
			c->inflight++;
	}
	return job;
}

void
job_free(struct job *job)
{
	free(job->merge_ids);
	free(job->merge_runs);
	free(job);
}

static void
run_store(struct worker *w, struct job *job, unsigned from, unsigned to)
{
	struct client	*c = job->c;
	unsigned	 i, csize;
	bool		 shared;
	int		 rc;

	for (i = from; i < to; i++) {
		memcpy(w->page, c->stage + (size_t)job->slots[i] * ZP_PAGE_SIZE,
		    ZP_PAGE_SIZE);
		rc = store_page(w->zd, w->ctx, c, w->page, &job->ids[i], &csize,
		    &shared);
		job->errors[i] = rc;
		if (rc == 0) {
			job->csize[i] = (uint16_t)csize;
			job->shared[i] = shared;
		} else
			job->ids[i] = 0;
	}
}

static void
run_load(struct worker *w, struct job *job, unsigned from, unsigned to)
{
	struct client	*c = job->c;
	unsigned	 i;

	for (i = from; i < to; i++) {
		if (job->ids[i] == 0)
			continue;
		job->errors[i] = store_load(w->zd, w->ctx, job->ids[i],
		    c->stage + (size_t)job->slots[i] * ZP_PAGE_SIZE, w->page);
	}
	page_stream_fence();
}

/* Undo the pins of a load's part, whether it ran or was skipped. */
static void
unpin_load(struct zpoold *zd, struct job *job, unsigned from, unsigned to)
{
	unsigned	i;

	for (i = from; i < to; i++)
		if (job->ids[i] != 0)
			store_unpin(zd, job->ids[i], job->c->scope);
}

/* dedup_merge's iterator over the job's snapshot. */
static bool
merge_next(void *arg, uint32_t *id, uint64_t *scope)
{
	struct job	*job = arg;

	if (job->merge_pos >= job->merge_nids)
		return false;
	while (job->merge_pos >= job->merge_runs[job->merge_run].end)
		job->merge_run++;
	*id = job->merge_ids[job->merge_pos++];
	*scope = job->merge_runs[job->merge_run].scope;
	return true;
}

static void
run_merge(struct worker *w, struct job *job)
{
	struct pool_stats	before, after;
	size_t			i, run = 0;

	pool_stats(w->zd->pool, &before);
	if (job->merge_nids != 0)
		job->merged = dedup_merge(w->zd->dedup, w->ctx, merge_next,
		    job, &job->scanned);
	for (i = 0; i < job->merge_nids; i++) {
		while (i >= job->merge_runs[run].end)
			run++;
		store_unpin(w->zd, job->merge_ids[i],
		    job->merge_runs[run].scope);
	}
	/* Merging leaves holes in zspages: compaction gives them back. */
	pool_compact(w->zd->pool, &job->moved);
	pool_stats(w->zd->pool, &after);
	/* Others store and free meanwhile: this is a best reading. */
	job->released = before.frames > after.frames ?
	    before.frames - after.frames : 0;
}

/* A part of a client that is gone: nothing was looked at or stored. */
static void
skip_pages(struct job *job, unsigned from, unsigned to)
{
	unsigned	i;

	for (i = from; i < to; i++)
		job->errors[i] = ZP_ECONNRESET;
}

/* Run pages [from, to) of a job, or all of a job that has no pages. */
static void
run_job(struct worker *w, struct job *job, unsigned from, unsigned to)
{
	bool	dead = job->c != NULL && atomic_load(&job->c->dead);

	switch (job->type) {
	case JOB_STORE:
		if (dead)
			skip_pages(job, from, to);
		else
			run_store(w, job, from, to);
		break;
	case JOB_LOAD:
		if (dead)
			skip_pages(job, from, to);
		else
			run_load(w, job, from, to);
		unpin_load(w->zd, job, from, to);
		break;
	case JOB_RELEASE:
		/*
		 * What a departing client held is not churn that its next
		 * stores will take back: the zspages it emptied go at once
		 * (and whatever else is kept at this moment with them).
		 */
		store_release_table(w->zd, job->c, &job->table);
		job->released = pool_trim(w->zd->pool, true);
		break;
	case JOB_MERGE:
	case JOB_BUDGET:
		run_merge(w, job);
		break;
	case JOB_COMPACT:
		job->released = pool_compact(w->zd->pool, &job->moved);
		break;
	case JOB_TRIM:
		job->released = pool_trim(w->zd->pool, false);
		break;
	}
}

/*
 * With ws->lock held and the queue empty: poll for the next job a short
 * while (spin.h) before the caller sleeps on the condition variable.  The
 * next batch of a busy client usually comes within the window, and a
 * worker that never slept needs no wake-up.
 */
static void
worker_poll(struct worker *w)
{
	struct workers	*ws = &w->zd->workers;
	struct spin	 spin;

	pthread_mutex_unlock(&ws->lock);
	spin_start(&spin, w->zd->s.busy_poll_us);
	while (atomic_load_explicit(&ws->queued, memory_order_relaxed) == 0 &&
	    spin_again(&spin))
		;
	pthread_mutex_lock(&ws->lock);
}

/*
 * With ws->lock held: take the next part of `job`, the first on the queue.
 * The job leaves the queue with its last part; while parts remain, another
 * worker is woken for them.
 */
static void
job_take_part(struct workers *ws, struct job *job, unsigned *from,
    unsigned *to)
{
	unsigned	part = job->n;

	if (job->type == JOB_STORE)
		part = JOB_PART_STORE_PAGES;
	else if (job->type == JOB_LOAD)
		part = JOB_PART_LOAD_PAGES;
	*from = job->next;
	*to = job->n - job->next > part ? job->next + part : job->n;
	job->next = *to;
	if (*to < job->n) {
		pthread_cond_signal(&ws->wake);
		return;
	}
	TAILQ_REMOVE(&ws->queue, job, entry);
	atomic_fetch_sub(&ws->queued, 1);
}

/* With ws->lock held: true for the worker that finished a job's last part. */
static bool
job_part_done(struct job *job, unsigned from, unsigned to)
{
	job->left -= to - from;
	return job->left == 0;
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	struct workers	*ws = &w->zd->workers;
	struct job	*job;
	uint64_t	 one = 1;
	unsigned	 from, to;
	bool		 wake;

	pthread_mutex_lock(&ws->lock);
	for (;;) {
		/* Drain the queue even when stopping: no job is lost. */
		while ((job = TAILQ_FIRST(&ws->queue)) == NULL && !ws->stop)
			pthread_cond_wait(&ws->wake, &ws->lock);
		if (job == NULL)
			break;
		job_take_part(ws, job, &from, &to);
		pthread_mutex_unlock(&ws->lock);

		run_job(w, job, from, to);

		pthread_mutex_lock(&ws->lock);
		if (job_part_done(job, from, to)) {
			wake = TAILQ_EMPTY(&ws->done);
			TAILQ_INSERT_TAIL(&ws->done, job, entry);
			if (wake && write(ws->efd, &one, sizeof one) !=
			    sizeof one && errno != EAGAIN)
				fatal("worker %u: eventfd write", w->index);
		}
		if (TAILQ_EMPTY(&ws->queue) && !ws->stop)
			worker_poll(w);
	}
	pthread_mutex_unlock(&ws->lock);
	return NULL;
}

/* Finish on the loop every job the workers have completed. */
static void
workers_collect(struct zpoold *zd)
{
	struct workers	*ws = &zd->workers;
	struct job_list	 done;
	struct job	*job;

	TAILQ_INIT(&done);
	pthread_mutex_lock(&ws->lock);
	TAILQ_CONCAT(&done, &ws->done, entry);
	pthread_mutex_unlock(&ws->lock);
	while ((job = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, job, entry);
		rpc_job_done(zd, job);
	}
}

static void
workers_event(evutil_socket_t fd, short what, void *arg)
{
	struct zpoold	*zd = arg;
	uint64_t	 n;

	if (read(fd, &n, sizeof n) == -1 && errno != EAGAIN)
		fatal("eventfd read");
	zd->loop_work++;
	workers_collect(zd);
}

void
worker_submit(struct zpoold *zd, struct job *job)
{
	struct workers	*ws = &zd->workers;

	pthread_mutex_lock(&ws->lock);
	TAILQ_INSERT_TAIL(&ws->queue, job, entry);
	atomic_fetch_add(&ws->queued, 1);
	pthread_cond_signal(&ws->wake);
	pthread_mutex_unlock(&ws->lock);
}

static unsigned
workers_count(const struct settings *s)
{
	long	n;

	if (s->workers != 0)
		return s->workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (unsigned)n;
}

int
workers_start(struct zpoold *zd, const char **cause)
{
	struct workers	*ws = &zd->workers;
	struct worker	*w;
	unsigned	 i;
	int		 rc;

	TAILQ_INIT(&ws->queue);
	TAILQ_INIT(&ws->done);
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->wake, NULL);
	ws->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ws->efd == -1) {
		*cause = "eventfd failed";
		return -errno;
	}
	ws->ev = event_new(zd->base, ws->efd, EV_READ | EV_PERSIST,
	    workers_event, zd);
	if (ws->ev == NULL || event_add(ws->ev, NULL) == -1)
		fatalx("cannot watch the workers' eventfd");
	ws->n = workers_count(&zd->s);
	ws->w = xcalloc(ws->n, sizeof *ws->w);
	for (i = 0; i < ws->n; i++) {
		w = &ws->w[i];
		w->zd = zd;
		w->index = i;
		if ((w->ctx = codec_ctx_new(&zd->s.codec)) == NULL)
			fatalx("cannot create a codec context");
		if ((rc = posix_memalign((void **)&w->page, ZP_PAGE_SIZE,
		    ZP_PAGE_SIZE)) != 0)
			fatalx("cannot allocate a worker page");
		if ((rc = pthread_create(&w->thread, NULL, worker_main,
		    w)) != 0) {
			errno = rc;
			fatal("pthread_create");
		}
	}
	ws->running = true;
	log_debug("%u workers started", ws->n);
	return 0;
}

/*
 * Let the workers finish every queued job, join them, and finish those jobs
 * on the loop: afterwards no job and no client reference is left in flight.
 */
void
workers_stop(struct zpoold *zd)
{
	struct workers	*ws = &zd->workers;
	unsigned	 i;

	if (!ws->running)
		return;
	pthread_mutex_lock(&ws->lock);
	ws->stop = true;
	pthread_cond_broadcast(&ws->wake);
	pthread_mutex_unlock(&ws->lock);
	for (i = 0; i < ws->n; i++)
		pthread_join(ws->w[i].thread, NULL);
	ws->running = false;
	workers_collect(zd);

	for (i = 0; i < ws->n; i++) {
		codec_ctx_free(ws->w[i].ctx);
		free(ws->w[i].page);
	}
	free(ws->w);
	ws->w = NULL;
	event_free(ws->ev);
	ws->ev = NULL;
	close(ws->efd);
	pthread_cond_destroy(&ws->wake);
	pthread_mutex_destroy(&ws->lock);
}
