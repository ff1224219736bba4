/*
 * server.c -- the daemon context: its creation, the listening socket, the
 * accept path with its caps, signals, and an orderly stop.
 *
 * Start-up runs in three steps so that zpoold can report errors on stderr
 * and still fork into the background: server_create() (pool, dedup),
 * server_listen() (the socket), then server_start() after any fork
 * (event loop, workers: threads and epoll do not survive fork).
 *
 * Accepting: peer credentials (SO_PEERCRED) are taken once, at accept; a
 * connection over max_clients or over max_clients_per_uid for its uid is
 * refused with ZP_EBUSY, but for SERVER_ADMIN_RESERVE admin connections of
 * an admin's uid (refused at hello if they bring slots).  One spare fd is
 * held so that even at EMFILE a waiting peer is told why rather than left
 * hanging (conn.c tells a hello whose memfd found no fd the same).
 *
 * Stopping (SIGTERM, SIGINT): close and unlink the socket (only one we
 * created: a socket-activated one belongs to systemd), stop reading,
 * finish queued work and send its replies, close each client once it has
 * them, and give stragglers SERVER_DRAIN_TIMEOUT seconds.  A second signal
 * stops at once.
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon.h"
#include "log.h"
#include "spin.h"
#include "xmalloc.h"

/* The first fd systemd passes (sd_listen_fds(3)). */
#define SERVER_LISTEN_FDS_START	3
/* Connections taken per wake-up, so accepting cannot starve clients. */
#define SERVER_ACCEPT_BURST	32

static void
server_notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

struct zpoold *
server_create(const struct settings *s, const char **cause)
{
	struct zpoold		*zd;
	struct pool_config	 pc;

	zd = xcalloc(1, sizeof *zd);
	zd->s = *s;
	zd->s.socket_path = xstrdup(s->socket_path);
	zd->s.socket_group = s->socket_group != NULL ?
	    xstrdup(s->socket_group) : NULL;
	zd->listen_fd = -1;
	zd->reserve_fd = -1;
	zd->workers.efd = -1;
	TAILQ_INIT(&zd->clients);
	TAILQ_INIT(&zd->uids);
	zd->self_uid = geteuid();
	budget_init(&zd->budget, s->budget_bytes, s->accept_threshold_pct);
	/*
	 * What one store can add: the two frames its slot may span (a
	 * zspage's other frames are holes until slots reach them), and a
	 * page each of records and frame map.
	 */
	zd->store_margin = 4 * POOL_PAGE_SIZE;
	zd->default_limit_bytes = s->default_limit_bytes;
	if (getrandom(&zd->handle_key, sizeof zd->handle_key, 0) !=
	    sizeof zd->handle_key)
		zd->handle_key = (uint64_t)time(NULL) ^
		    (uint64_t)getpid() << 32 ^ (uintptr_t)zd;

	memset(&pc, 0, sizeof pc);
	pc.arena_bytes = s->arena_bytes;
	pc.max_zspage_frames = s->max_zspage_frames;
	pc.huge_threshold = s->huge_threshold;
	pc.name = "zpoold-pool";
	pc.retain_empty = s->trim_interval != 0;
	pc.caller_words = s->dedup_mode == DEDUP_INLINE;
	if ((zd->pool = pool_create(&pc, cause)) == NULL) {
		server_free(zd);
		return NULL;
	}
	if ((zd->dedup = dedup_create(zd->pool, s->dedup_mode)) == NULL) {
		*cause = "cannot create the dedup index";
		server_free(zd);
		return NULL;
	}
	return zd;
}

/* Take the socket systemd passed, if it passed one to us: 1, 0, -errno. */
static int
server_inherit(struct zpoold *zd, const char **cause)
{
	const char	*pid_s, *fds_s;
	struct stat	 sb;
	int		 type, acc, n, fd;
	socklen_t	 len;

	pid_s = getenv("LISTEN_PID");
	fds_s = getenv("LISTEN_FDS");
	if (pid_s == NULL || fds_s == NULL ||
	    strtol(pid_s, NULL, 10) != (long)getpid())
		return 0;
	n = (int)strtol(fds_s, NULL, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n < 1)
		return 0;
	for (fd = SERVER_LISTEN_FDS_START + 1;
	    fd < SERVER_LISTEN_FDS_START + n; fd++) {
		log_warnx("ignoring extra socket-activation fd %d", fd);
		close(fd);
	}
	fd = SERVER_LISTEN_FDS_START;
	len = sizeof type;
	if (fstat(fd, &sb) == -1 || !S_ISSOCK(sb.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM) {
		*cause = "socket activation: fd 3 is not a stream socket";
		return -ENOTSOCK;
	}
	len = sizeof acc;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 ||
	    !acc) {
		*cause = "socket activation: fd 3 is not listening";
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
		*cause = "socket activation: cannot set up fd 3";
		return -errno;
	}
	zd->listen_fd = fd;
	zd->socket_activated = true;
	return 1;
}

/* Is something listening at path?  Then it is not stale. */
static bool
server_socket_alive(const struct sockaddr_un *sun)
{
	int	fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	close(fd);
	return rc == 0 || errno != ECONNREFUSED;
}

static int
server_set_group(const char *path, const char *group, const char **cause)
{
	struct group	 gr, *res;
	char		 buf[4096];

	if (getgrnam_r(group, &gr, buf, sizeof buf, &res) != 0 || res == NULL) {
		*cause = "socket_group: no such group";
		return -ENOENT;
	}
	if (chown(path, (uid_t)-1, gr.gr_gid) == -1) {
		*cause = "socket_group: cannot change the socket's group";
		return -errno;
	}
	return 0;
}

/* Socket paths are kept absolute: the daemon may chdir("/") later. */
static void
server_absolute_path(struct zpoold *zd)
{
	char	cwd[PATH_MAX], *p;

	if (zd->s.socket_path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
		return;
	xasprintf(&p, "%s/%s", cwd, zd->s.socket_path);
	free(zd->s.socket_path);
	zd->s.socket_path = p;
}

static int
server_bind(struct zpoold *zd, const char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	const char		*path;
	mode_t			 old;
	int			 fd, rc;

	server_absolute_path(zd);
	path = zd->s.socket_path;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		*cause = "socket path too long";
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path));

	if (lstat(path, &sb) == 0) {
		/* Never unlink what is not a socket, nor a live one. */
		if (!S_ISSOCK(sb.st_mode)) {
			*cause = "socket path exists and is not a socket";
			return -ENOTSOCK;
		}
		if (server_socket_alive(&sun)) {
			*cause = "another daemon is listening on the socket";
			return -EADDRINUSE;
		}
		if (unlink(path) == -1) {
			*cause = "cannot remove the stale socket";
			return -errno;
		}
		log_info("removed stale socket %s", path);
	} else if (errno != ENOENT) {
		*cause = "cannot examine the socket path";
		return -errno;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		*cause = "cannot create a socket";
		return -errno;
	}
	/* Nobody may connect before the mode and group are right. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc == -1) {
		rc = -errno;
		*cause = "cannot bind the socket";
		close(fd);
		return rc;
	}
	zd->socket_created = true;
	zd->listen_fd = fd;
	if (zd->s.socket_group != NULL &&
	    (rc = server_set_group(path, zd->s.socket_group, cause)) != 0)
		return rc;
	if (chmod(path, zd->s.socket_mode) == -1) {
		*cause = "cannot set the socket's mode";
		return -errno;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		*cause = "cannot listen on the socket";
		return -errno;
	}
	return 0;
}

static void
server_close_listener(struct zpoold *zd)
{
	if (zd->listen_ev != NULL) {
		event_free(zd->listen_ev);
		zd->listen_ev = NULL;
	}
	if (zd->listen_fd != -1) {
		close(zd->listen_fd);
		zd->listen_fd = -1;
	}
	if (zd->socket_created) {
		if (unlink(zd->s.socket_path) == -1 && errno != ENOENT)
			log_warn("unlink %s", zd->s.socket_path);
		zd->socket_created = false;
	}
}

/*
 * Set up the listening socket: systemd's if we were socket-activated, else
 * our own at settings.socket.  0, or -errno with *cause.
 */
int
server_listen(struct zpoold *zd, const char **cause)
{
	int	rc;

	if ((rc = server_inherit(zd, cause)) != 0)
		return rc == 1 ? 0 : rc;
	if ((rc = server_bind(zd, cause)) != 0)
		server_close_listener(zd);
	return rc;
}

static struct uid_slot *
server_uid_get(struct zpoold *zd, uid_t uid)
{
	struct uid_slot	*u;

	TAILQ_FOREACH(u, &zd->uids, entry)
		if (u->uid == uid)
			return u;
	u = xcalloc(1, sizeof *u);
	u->uid = uid;
	TAILQ_INSERT_HEAD(&zd->uids, u, entry);
	return u;
}

static void
server_uid_maybe_free(struct zpoold *zd, struct uid_slot *u)
{
	if (u->conns != 0 || u->clients != 0)
		return;
	TAILQ_REMOVE(&zd->uids, u, entry);
	free(u);
}

/* A client record of u's is gone; its uid's dedup scope may go too. */
void
server_uid_put(struct zpoold *zd, struct uid_slot *u)
{
	if (--u->clients == 0 && zd->s.dedup_scope == DEDUP_SCOPE_UID)
		dedup_drop_scope(zd->dedup, 1ULL << 32 | u->uid);
	server_uid_maybe_free(zd, u);
}

/* Out of fds: spend the reserve to tell one waiting peer, then refill it. */
static void
server_shed(struct zpoold *zd)
{
	int	fd;

	if (zd->reserve_fd == -1)
		return;
	close(zd->reserve_fd);
	zd->reserve_fd = -1;
	fd = accept4(zd->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd != -1) {
		zd->conns_refused++;
		conn_refuse(fd, ZP_EBUSY, "daemon out of file descriptors");
	}
	zd->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_warnx("out of file descriptors: refused a connection");
}

static void
server_accept_one(struct zpoold *zd, int fd)
{
	struct ucred	 cr;
	socklen_t	 len = sizeof cr;
	struct uid_slot	*u;
	char		 msg[WIRE_MESSAGE_MAX];
	unsigned	 reserve;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1) {
		log_warn("SO_PEERCRED");
		close(fd);
		return;
	}
	zd->conns_total++;
	/* An admin's uid may pass the caps, for admin connections only. */
	reserve = cr.uid == 0 || cr.uid == zd->self_uid ?
	    SERVER_ADMIN_RESERVE : 0;
	if (zd->nclients >= zd->s.max_clients + reserve) {
		zd->conns_refused++;
		log_warnx("refused pid %ld uid %lu: %u clients already",
		    (long)cr.pid, (unsigned long)cr.uid, zd->nclients);
		snprintf(msg, sizeof msg, "too many clients (max_clients %u)",
		    zd->s.max_clients);
		conn_refuse(fd, ZP_EBUSY, msg);
		return;
	}
	u = server_uid_get(zd, cr.uid);
	if (u->conns >= zd->s.max_clients_per_uid + reserve) {
		zd->conns_refused++;
		log_warnx("refused pid %ld uid %lu: %u connections for this "
		    "uid already", (long)cr.pid, (unsigned long)cr.uid,
		    u->conns);
		snprintf(msg, sizeof msg, "too many connections for uid %lu "
		    "(max_clients_per_uid %u)", (unsigned long)cr.uid,
		    zd->s.max_clients_per_uid);
		conn_refuse(fd, ZP_EBUSY, msg);
		server_uid_maybe_free(zd, u);
		return;
	}
	conn_accept(zd, fd, cr.pid, cr.uid, cr.gid, u,
	    zd->nclients >= zd->s.max_clients ||
	    u->conns >= zd->s.max_clients_per_uid);
}

static void
server_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct zpoold	*zd = arg;
	int		 fd, i;

	for (i = 0; i < SERVER_ACCEPT_BURST && !zd->stopping; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE)
				server_shed(zd);
			else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		server_accept_one(zd, fd);
	}
}

static void
server_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct zpoold	*zd = arg;
	struct client	*c;

	log_warnx("%u clients did not take their last replies in %d s",
	    zd->nclients, SERVER_DRAIN_TIMEOUT);
	while ((c = TAILQ_FIRST(&zd->clients)) != NULL)
		conn_drop(c, "daemon stopping");
}

static void
server_stop(struct zpoold *zd, int sig)
{
	struct timeval	 tv = { SERVER_DRAIN_TIMEOUT, 0 };
	struct client	*c, *next;

	if (zd->stopping) {
		log_info("%s again: stopping now", strsignal(sig));
		event_base_loopbreak(zd->base);
		return;
	}
	log_info("%s: stopping", strsignal(sig));
	zd->stopping = true;
	server_notify("STOPPING=1");
	server_close_listener(zd);
	if (zd->ev_compact != NULL)
		event_del(zd->ev_compact);
	if (zd->ev_trim != NULL)
		event_del(zd->ev_trim);
	if (zd->ev_shared != NULL)
		event_del(zd->ev_shared);
	for (c = TAILQ_FIRST(&zd->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_shutdown(c);
	}
	if (zd->nclients == 0) {
		event_base_loopexit(zd->base, NULL);
		return;
	}
	zd->ev_drain = evtimer_new(zd->base, server_drain_timeout, zd);
	if (zd->ev_drain == NULL || evtimer_add(zd->ev_drain, &tv) == -1)
		fatalx("cannot start the drain timer");
}

/* A client left the list; once stopping, the last one ends the loop. */
void
server_client_gone(struct zpoold *zd, struct client *c)
{
	if (zd->stopping && zd->nclients == 0)
		event_base_loopexit(zd->base, NULL);
}

static void
server_signal(evutil_socket_t sig, short what, void *arg)
{
	struct zpoold	*zd = arg;

	if (sig == SIGHUP) {
		log_info("SIGHUP: reopening the log");
		log_reopen();
		return;
	}
	server_stop(zd, (int)sig);
}

static void
server_compact_tick(evutil_socket_t fd, short what, void *arg)
{
	rpc_compact_timer(arg);
}

static void
server_trim_tick(evutil_socket_t fd, short what, void *arg)
{
	rpc_trim_timer(arg);
}

static void
server_shared_tick(evutil_socket_t fd, short what, void *arg)
{
	rpc_shared_timer(arg);
}

/* A timer every `seconds`, or none for 0.  0, or -1. */
static int
server_timer(struct zpoold *zd, struct event **ev, unsigned seconds,
    event_callback_fn fn)
{
	struct timeval	tv = { .tv_sec = seconds };

	if (seconds == 0)
		return 0;
	*ev = event_new(zd->base, -1, EV_PERSIST, fn, zd);
	if (*ev == NULL || event_add(*ev, &tv) == -1)
		return -1;
	return 0;
}

static struct event *
server_signal_event(struct zpoold *zd, int sig)
{
	struct event	*ev;

	ev = evsignal_new(zd->base, sig, server_signal, zd);
	if (ev == NULL || evsignal_add(ev, NULL) == -1)
		fatalx("cannot handle signal %d", sig);
	return ev;
}

/*
 * After any fork: the event loop, signals, timers and the workers.  0, or
 * -errno with *cause.
 */
int
server_start(struct zpoold *zd, const char **cause)
{
	int	rc;

	if ((zd->base = event_base_new()) == NULL) {
		*cause = "cannot create the event loop";
		return -ENOMEM;
	}
	if ((zd->loop_ctx = codec_ctx_new(&zd->s.codec)) == NULL) {
		*cause = "cannot create a codec context";
		return -ENOMEM;
	}
	if (posix_memalign((void **)&zd->loop_page, ZP_PAGE_SIZE,
	    ZP_PAGE_SIZE) != 0) {
		*cause = "cannot allocate the loop's page";
		return -ENOMEM;
	}
	zd->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	zd->listen_ev = event_new(zd->base, zd->listen_fd,
	    EV_READ | EV_PERSIST, server_accept, zd);
	if (zd->listen_ev == NULL || event_add(zd->listen_ev, NULL) == -1) {
		*cause = "cannot watch the listening socket";
		return -ENOMEM;
	}
	zd->ev_term = server_signal_event(zd, SIGTERM);
	zd->ev_int = server_signal_event(zd, SIGINT);
	zd->ev_hup = server_signal_event(zd, SIGHUP);
	if (server_timer(zd, &zd->ev_compact, zd->s.compact_interval,
	    server_compact_tick) == -1 ||
	    server_timer(zd, &zd->ev_trim, zd->s.trim_interval,
	    server_trim_tick) == -1) {
		*cause = "cannot start the compaction and trim timers";
		return -ENOMEM;
	}
	if ((zd->ev_shared = evtimer_new(zd->base, server_shared_tick,
	    zd)) == NULL) {
		*cause = "cannot create a timer";
		return -ENOMEM;
	}
	if ((rc = workers_start(zd, cause)) != 0)
		return rc;
	return 0;
}

/*
 * event_base_dispatch, except that after a turn that did work the loop
 * polls without sleeping for busy_poll microseconds (spin.h): the next
 * request of a client that waits for its reply, or the next completion,
 * usually comes within that window, and a loop that did not sleep needs
 * no wake-up.
 */
static int
server_loop(struct zpoold *zd)
{
	struct spin	 spin = { 0 };
	uint64_t	 seen;
	int		 rc, flags;

	for (;;) {
		seen = zd->loop_work;
		flags = EVLOOP_ONCE;
		if (spin.deadline != 0)
			flags |= EVLOOP_NONBLOCK;
		rc = event_base_loop(zd->base, flags);
		if (rc != 0 || event_base_got_exit(zd->base) ||
		    event_base_got_break(zd->base))
			return rc == -1 ? -1 : 0;
		if (zd->loop_work != seen)
			spin_start(&spin, zd->s.busy_poll_us);
		else if (spin.deadline != 0)
			spin_again(&spin);
	}
}

int
server_run(struct zpoold *zd)
{
	char	codec[32];

	log_info("zpoold %s ready on %s%s: %u workers, codec %s, dedup %s "
	    "(scope %s)", PACKAGE_VERSION, zd->s.socket_path,
	    zd->socket_activated ? " (socket-activated)" : "", zd->workers.n,
	    codec_format(&zd->s.codec, codec, sizeof codec),
	    dedup_mode_name(zd->s.dedup_mode),
	    dedup_scope_name(zd->s.dedup_scope));
	server_notify("READY=1");
	if (server_loop(zd) == -1) {
		log_warnx("event loop failed");
		return -1;
	}
	return 0;
}

/*
 * What the daemon holds for pages: pool frames, the pool's and the dedup
 * index's metadata, and every handle table (the budget counts all of it).
 * Atomics only: workers ask it before every store.
 */
uint64_t
server_mem_used(struct zpoold *zd)
{
	struct pool_stats	 ps;
	struct dedup_stats	 ds;

	pool_stats(zd->pool, &ps);
	dedup_stats(zd->dedup, &ds);
	return ps.mem_used_total + ds.meta_bytes +
	    atomic_load_explicit(&zd->handle_bytes, memory_order_relaxed);
}

void
server_free(struct zpoold *zd)
{
	struct client	*c;
	struct uid_slot	*u;

	while ((c = TAILQ_FIRST(&zd->clients)) != NULL)
		conn_drop(c, "daemon exiting");
	/* Finishes every job, so every dead client is freed here. */
	workers_stop(zd);
	server_close_listener(zd);
	if (zd->ev_term != NULL)
		event_free(zd->ev_term);
	if (zd->ev_int != NULL)
		event_free(zd->ev_int);
	/* Already stopping: a late signal must not cut the teardown short. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	if (zd->ev_hup != NULL)
		event_free(zd->ev_hup);
	if (zd->ev_compact != NULL)
		event_free(zd->ev_compact);
	if (zd->ev_trim != NULL)
		event_free(zd->ev_trim);
	if (zd->ev_shared != NULL)
		event_free(zd->ev_shared);
	if (zd->ev_drain != NULL)
		event_free(zd->ev_drain);
	if (zd->base != NULL)
		event_base_free(zd->base);
	if (zd->loop_ctx != NULL)
		codec_ctx_free(zd->loop_ctx);
	free(zd->loop_page);
	if (zd->dedup != NULL)
		dedup_destroy(zd->dedup);
	if (zd->pool != NULL)
		pool_destroy(zd->pool);
	while ((u = TAILQ_FIRST(&zd->uids)) != NULL) {
		log_warnx("uid %lu still counted at exit",
		    (unsigned long)u->uid);
		TAILQ_REMOVE(&zd->uids, u, entry);
		free(u);
	}
	if (zd->reserve_fd != -1)
		close(zd->reserve_fd);
	settings_free(&zd->s);
	free(zd);
}
