/*
 * daemon.h -- zpoold's private header: the daemon context, the client, the
 * worker job, and one section per module.
 *
 * Threads.  One loop thread runs libevent and owns everything not marked
 * otherwise: the client list, every handle table, every bufferevent.  N
 * worker threads run jobs (worker.c), several at once on the parts of one
 * batch; a job carries everything its workers may touch.  The pool and
 * the dedup index lock themselves.  A field a worker may use says so next
 * to it; the one lock of this header is the work queue's, in struct
 * workers.
 *
 * Lifetimes.  The context lives from server_create() to server_free().  A
 * client is counted (refs) by its connection and by each job that names
 * it, so its staging mapping outlives every worker that might still read
 * or write it; after a disconnect the client stays, dead, until its last
 * job is finished.
 */
#ifndef ZP_DAEMON_H
#define ZP_DAEMON_H

#include <sys/types.h>
#include <sys/queue.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/bufferevent.h>

#include "zpclient.h"
#include "budget.h"
#include "codec.h"
#include "dedup.h"
#include "handle.h"
#include "pool.h"
#include "settings.h"
#include "wire.h"

struct zpoold;
struct job;

/* Largest Hello we read: a name of WIRE_NAME_MAX and three numbers. */
#define CONN_HELLO_MAX		1024u
/* A peer that has not said hello by then is dropped. */
#define CONN_HELLO_TIMEOUT	10
/*
 * Loads of at most this many pages are decompressed on the loop thread:
 * about a microsecond a page, against two thread hand-offs (tens of
 * microseconds) for a worker to do it.  Stores always go to the workers.
 */
#define RPC_INLINE_LOAD_MAX	4
/*
 * Pages in a part of a store or a load job: about 100 us of a worker's
 * time each (lz4 compresses a page in about 6 us here and decompresses
 * it in about 1.4), enough to be worth waking a second worker for.
 * docs/performance.md has the sizes measured.
 */
#define JOB_PART_STORE_PAGES	16
#define JOB_PART_LOAD_PAGES	64
/* How long SIGTERM waits for clients to take their last replies. */
#define SERVER_DRAIN_TIMEOUT	5
/*
 * Connections an admin's uid (root, or the daemon's own) may open past
 * max_clients and max_clients_per_uid, for admin connections only (no
 * staging), so that zpctl still works when clients have reached the caps.
 */
#define SERVER_ADMIN_RESERVE	2

/* Connections per uid, for max_clients_per_uid. */
struct uid_slot {
	TAILQ_ENTRY(uid_slot)	 entry;
	uid_t			 uid;
	unsigned		 conns;		/* open connections */
	unsigned		 clients;	/* client records not yet freed */
};

enum conn_state {
	CONN_HELLO = 0,		/* reading the hello with recvmsg */
	CONN_READY,		/* bufferevent: requests flow */
	CONN_DEAD,		/* disconnected; jobs may still name it */
};

struct client {
	TAILQ_ENTRY(client)	 entry;		/* zd->clients, while not dead */
	struct zpoold		*zd;
	uint64_t		 id;
	pid_t			 pid;
	uid_t			 uid;
	gid_t			 gid;
	bool			 admin;		/* uid 0 or the daemon's uid */
	bool			 over_cap;	/* in the admin reserve */
	char			 name[WIRE_NAME_MAX + 1];
	enum conn_state		 state;
	int			 fd;
	struct uid_slot		*uidp;

	/* Hello phase (CONN_HELLO). */
	struct event		*hello_ev;
	struct timeval		 hello_deadline;
	uint8_t			*hello_buf;	/* header + payload */
	size_t			 hello_len;	/* bytes wanted, 0: unknown */
	size_t			 hello_got;
	int			 hello_fd;	/* the staging memfd, or -1 */
	bool			 hello_extra_fds;

	struct bufferevent	*bev;		/* CONN_READY: replies */
	struct event		*read_ev;	/* CONN_READY: requests */
	struct event		*more_ev;	/* CONN_READY: frames left */
	struct evbuffer		*input;		/* CONN_READY: their bytes */

	/*
	 * Staging area: set at hello, unmapped when refs reaches 0.
	 * Workers read and write pages here; it never changes meanwhile.
	 */
	uint8_t			*stage;
	uint32_t		 nslots;
	uint64_t		 scope;		/* dedup scope key; workers read */

	unsigned		 refs;		/* connection + one per job */
	unsigned		 inflight;	/* request jobs not yet answered */
	atomic_bool		 dead;		/* workers skip its queued jobs */

	struct handle_table	 handles;

	/*
	 * Its shared_pages, counted by walking the table (rpc.c): whole when
	 * the table is small, else in slices on a timer while asked for.
	 */
	uint64_t		 shared_pages;	/* as of the last whole walk */
	uint64_t		 shared_partial;	/* the walk under way */
	uint32_t		 shared_cursor;
	bool			 shared_walking;
	bool			 shared_wanted;	/* asked since the walk began */

	/* Accounting, loop only: pages, not requests. */
	uint64_t		 pages;		/* live handles */
	uint64_t		 stores;
	uint64_t		 loads;
	uint64_t		 frees;
	/*
	 * Accounting charged by workers as they store (store_page) and
	 * returned by whoever frees: atomics, relaxed.
	 */
	_Atomic uint64_t	 compr_bytes;
	_Atomic uint64_t	 charged_bytes;	/* what limit_bytes is checked on */
	_Atomic uint64_t	 refused;	/* pages refused with ZP_ENOSPC */
	_Atomic uint64_t	 limit_bytes;	/* 0: none */
};
TAILQ_HEAD(client_list, client);

enum job_type {
	JOB_STORE,
	JOB_LOAD,
	JOB_RELEASE,		/* free a dead client's pages */
	JOB_MERGE,
	JOB_COMPACT,
	JOB_BUDGET,		/* reclaim towards the budget: merge, compact */
	JOB_TRIM,		/* give back emptied zspages left unused */
};

/* Objects of one scope in a merge snapshot: ids[start .. end). */
struct merge_run {
	uint64_t	scope;
	size_t		end;
};

/*
 * A unit of work for the workers.  Built and finished on the loop; between
 * worker_submit() and its completion only workers touch it.  A store or a
 * load is cut into parts (JOB_PART_*_PAGES) that several workers may run
 * at once, each writing only its own pages' results; the worker that
 * finishes the last part completes the job.  `next` and `left` are the
 * workers' lock's, and taking it after a part is what shows that part's
 * results to the worker that completes the job, and to the loop.
 */
struct job {
	TAILQ_ENTRY(job)	 entry;
	enum job_type		 type;
	struct client		*c;		/* referenced: conn_hold() */
	uint64_t		 req_id;
	unsigned		 n;		/* pages */
	unsigned		 next;		/* first page no part has taken */
	unsigned		 left;		/* pages of parts not finished */
	uint32_t		*slots;		/* store, load */
	uint32_t		*ids;		/* store: out; load: pinned in */
	int32_t			*errors;	/* per page: 0 or ZP_E* */
	uint16_t		*csize;		/* store: out */
	uint8_t			*shared;	/* store: out */
	uint64_t		*handles;	/* store: filled at completion */
	struct handle_table	 table;		/* release: what to free */

	/* merge: a pinned snapshot of every client's objects */
	uint32_t		*merge_ids;
	size_t			 merge_nids;
	struct merge_run	*merge_runs;
	size_t			 merge_nruns;
	size_t			 merge_pos;	/* iterator, worker only */
	size_t			 merge_run;

	/* results of merge and compact */
	uint64_t		 scanned;
	uint64_t		 merged;
	uint64_t		 moved;
	uint64_t		 released;
};
TAILQ_HEAD(job_list, job);

/* One worker thread's private state. */
struct worker {
	struct zpoold		*zd;
	pthread_t		 thread;
	unsigned		 index;
	struct codec_ctx	*ctx;
	uint8_t			*page;		/* private copy of one page */
};

struct workers {
	/*
	 * lock guards queue, done and stop.  Workers sleep on `wake`; the
	 * loop learns of completions by reading `efd`, which a worker writes
	 * when it puts the first job on an empty `done` list.
	 */
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;
	struct job_list		 queue;
	struct job_list		 done;
	bool			 stop;
	_Atomic unsigned	 queued;	/* jobs on `queue`, for pollers */
	int			 efd;
	struct event		*ev;
	unsigned		 n;
	struct worker		*w;
	bool			 running;
};

/* The daemon.  One per process; owned by the loop thread. */
struct zpoold {
	struct settings		 s;
	struct event_base	*base;
	struct pool		*pool;		/* thread-safe */
	struct dedup		*dedup;		/* thread-safe */
	struct workers		 workers;
	struct codec_ctx	*loop_ctx;	/* small loads, loop thread only */
	uint8_t			*loop_page;	/* small loads' scratch page */
	uid_t			 self_uid;
	uint64_t		 handle_key;	/* salts every handle table */

	/* Listening. */
	int			 listen_fd;
	bool			 socket_activated;
	bool			 socket_created;	/* ours to unlink */
	struct event		*listen_ev;
	int			 reserve_fd;	/* spent on EMFILE */

	/* Clients. */
	struct client_list	 clients;
	unsigned		 nclients;	/* in `clients` */
	TAILQ_HEAD(, uid_slot)	 uids;
	uint64_t		 next_client_id;

	/* Signals and timers. */
	struct event		*ev_term;
	struct event		*ev_int;
	struct event		*ev_hup;
	struct event		*ev_compact;
	struct event		*ev_trim;
	struct event		*ev_shared;	/* rpc.c's shared_pages walk */
	uint64_t		 shared_last_id;	/* the client it last served */
	struct event		*ev_drain;
	bool			 stopping;
	bool			 compacting;	/* a compact job is queued */
	bool			 trimming;	/* a trim job is queued */
	uint64_t		 loop_work;	/* reads and completions seen */

	/*
	 * The global budget (atomics inside: workers may consult it) and the
	 * limit new clients start with (loop only).
	 */
	struct budget		 budget;
	uint64_t		 default_limit_bytes;
	uint64_t		 store_margin;	/* most one store can add */
	_Atomic bool		 reclaiming;	/* a worker is compacting */
	_Atomic bool		 want_merge;	/* a worker asks the loop */
	bool			 reclaim_queued; /* a JOB_BUDGET for no one */
	time_t			 reclaim_next;	/* not before (monotonic s) */
	_Atomic uint64_t	 handle_bytes;	/* every handle table */

	/* Counters, loop only unless atomic. */
	_Atomic uint64_t	 refused_stores;
	uint64_t		 mem_used_max;
	uint64_t		 conns_total;
	uint64_t		 conns_refused;
	uint64_t		 protocol_drops;
};

/* server.c */
struct zpoold	*server_create(const struct settings *s, const char **cause);
int		 server_listen(struct zpoold *zd, const char **cause);
int		 server_start(struct zpoold *zd, const char **cause);
int		 server_run(struct zpoold *zd);
void		 server_free(struct zpoold *zd);
void		 server_client_gone(struct zpoold *zd, struct client *c);
void		 server_uid_put(struct zpoold *zd, struct uid_slot *u);
uint64_t	 server_mem_used(struct zpoold *zd);

/* conn.c */
void		 conn_accept(struct zpoold *zd, int fd, pid_t pid, uid_t uid,
		     gid_t gid, struct uid_slot *u, bool over_cap);
void		 conn_refuse(int fd, int code, const char *message);
void		 conn_drop(struct client *c, const char *reason);
void		 conn_hold(struct client *c);
void		 conn_release(struct client *c);
void		 conn_send(struct client *c, const wire_frame *f);
void		 conn_send_error(struct client *c, uint64_t id, int code,
		     const char *message);
void		 conn_resume(struct client *c);
void		 conn_shutdown(struct client *c);

/* rpc.c */
int		 rpc_dispatch(struct client *c, const wire_frame *f,
		     const char **cause);
void		 rpc_job_done(struct zpoold *zd, struct job *job);
void		 rpc_compact_timer(struct zpoold *zd);
void		 rpc_trim_timer(struct zpoold *zd);
void		 rpc_shared_timer(struct zpoold *zd);

/* worker.c */
int		 workers_start(struct zpoold *zd, const char **cause);
void		 workers_stop(struct zpoold *zd);
void		 worker_submit(struct zpoold *zd, struct job *job);
struct job	*job_new(enum job_type type, struct client *c, uint64_t req_id,
		     unsigned n);
void		 job_free(struct job *job);

/* store.c: every page-level object operation, and its accounting */
int		 store_page(struct zpoold *zd, struct codec_ctx *ctx,
		     struct client *c, const void *page, uint32_t *id,
		     unsigned *csize, bool *shared);
int		 store_load(struct zpoold *zd, struct codec_ctx *ctx,
		     uint32_t id, void *slot, void *scratch);
int		 store_pin(struct zpoold *zd, uint32_t id);
void		 store_unpin(struct zpoold *zd, uint32_t id, uint64_t scope);
void		 store_release(struct zpoold *zd, struct client *c,
		     const struct handle_obj *o);
void		 store_release_table(struct zpoold *zd, struct client *c,
		     struct handle_table *t);

#endif /* ZP_DAEMON_H */
