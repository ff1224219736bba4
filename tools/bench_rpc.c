/*
 * bench_rpc.c -- `zpbench rpc`: zpoold and libzpclient end to end on a
 * corpus, against the bare codec, the kernel's socket round trip and zram.
 *
 * What one invocation measures, in this order:
 *   1. Daemon memory per idle client: Pss of the daemon (/proc/PID/smaps,
 *      the staging memfd mappings left out: they are the clients' memory)
 *      before and after K idle connections, divided by K.
 *   2. Batched throughput, --runs times: N forked client processes, each
 *      with its own connection and a contiguous share of the corpus, store
 *      their share in batches of B (zp_store_batch), load it back in batches
 *      (zp_load_batch), check every byte off the clock, and free it; then
 *      store it again at once -- the refill, into the zspages the frees
 *      emptied, which keep their frames until the daemon's next trim: a
 *      pool in use -- and free it; then the refill once more, pipelined
 *      (zp_store_async, two batches in flight, so that the library copies
 *      the next batch in while the workers compress this one); then load
 *      those pages once more with two threads sharing the connection, a
 *      batch in flight each, check them again, and free them.  Our daemon
 *      trims every second and runs are RPC_COLD_MS apart, so that every
 *      run's first store finds a pool that must grow.  A phase starts in
 *      every client at once (each waits on a pipe the parent closes) and
 *      lasts from the first client's start to the last client's end,
 *      CLOCK_MONOTONIC being one clock for all processes.  Each run is
 *      followed by one single-thread run of the bare codec on the same
 *      pages, and the targets are the median of per-run ratios.
 *   3. Single-page synchronous load latency: one client, zp_load of one
 *      random stored page per call, every call timed, --runs samples of
 *      --loads calls; p50/p99/p99.9 are the medians over runs.
 *   4. The floor under that latency: a 16-byte ping-pong between two
 *      processes on a Unix stream socketpair, timed the same way.
 *   5. As root with an unused zram0, the kernel's zram on the same pages,
 *      after the daemon has stopped (zram's signal guard replaces ours).
 * The daemon is ours unless --socket names one: a zpoold started on a
 * private socket in a mktemp -d directory with an empty configuration,
 * stopped at the end and on every exit path of this process.
 */

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "corpus.h"
#include "page.h"
#include "spin.h"
#include "wire.h"
#include "zpclient.h"

#define RPC_MAX_CLIENTS		64
#define RPC_MAX_BATCH		4096
#define RPC_DEF_LOADS		20000
#define RPC_MAX_LOADS		10000000
#define RPC_WARMUP		1000	/* untimed calls before each sample */
#define RPC_DEF_IDLE		200
#define RPC_MAX_IDLE		5000
#define RPC_PING_BYTES		16
#define RPC_RUNS		3
/*
 * Between batched runs on our daemon (trim_interval 1): two trims, so the
 * zspages the last run emptied are given back and the next store finds a
 * pool that must grow, as the first did.
 */
#define RPC_COLD_MS		2200

/* Targets of issue 3, checked at the end of the report. */
#define TARGET_STORE_RATIO	0.75	/* of 2 x bare compress */
#define TARGET_LOAD_RATIO	0.70	/* of 2 x bare decompress */
#define TARGET_P50_US		20.0
#define TARGET_P99_US		60.0
#define TARGET_IDLE_KIB		1024.0
/* The targets credit the daemon with two cores' worth of codec. */
#define TARGET_PARALLEL		2

struct rpc_opts {
	const char	*corpus;
	const char	*socket;	/* NULL: start our own daemon */
	const char	*zpoold;
	unsigned	 clients;
	unsigned	 batch;
	unsigned	 workers;
	unsigned	 runs;
	unsigned	 loads;
	unsigned	 idle;
	unsigned	 busy_poll;	/* us, daemon and clients; 0: never */
	bool		 no_zram;
	bool		 json;
};

/* --- our daemon ---------------------------------------------------------- */

/*
 * Everything the exit and signal paths need, in static storage: they may
 * only kill, wait, unlink and rmdir.
 */
static struct {
	pid_t		owner;		/* the process that started it */
	volatile pid_t	pid;
	char		dir[64];
	char		sock[96];
	char		conf[96];
	char		log[96];
} rpcd = { .pid = -1 };

static const int rpcd_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };
#define RPCD_NSIGNALS	(sizeof rpcd_signals / sizeof rpcd_signals[0])

static void
rpcd_remove_files(void)
{
	unlink(rpcd.sock);
	unlink(rpcd.conf);
	unlink(rpcd.log);
	rmdir(rpcd.dir);
}

/* SIGTERM, wait up to 10 s, then SIGKILL.  The exit status, or -1. */
static int
rpcd_stop(void)
{
	struct timespec	ts = { 0, 10 * 1000 * 1000 };
	pid_t		pid = rpcd.pid;
	int		st, i;

	if (pid <= 0)
		return -1;
	rpcd.pid = -1;
	kill(pid, SIGTERM);
	for (i = 0; i < 1000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void
rpcd_on_exit(void)
{
	/* Forked clients exit through here too when err(3) ends them. */
	if (getpid() != rpcd.owner)
		return;
	if (rpcd.pid > 0)
		rpcd_stop();
	if (rpcd.dir[0] != '\0')
		rpcd_remove_files();
}

static void
rpcd_on_signal(int sig)
{
	int	saved = errno;

	if (getpid() == rpcd.owner && rpcd.pid > 0) {
		kill(rpcd.pid, SIGTERM);
		rpcd_remove_files();
	}
	errno = saved;
	signal(sig, SIG_DFL);
	raise(sig);
}

static bool
executable(const char *path)
{
	return access(path, X_OK) == 0;
}

/*
 * The zpoold next to us: in a build tree tools/zpbench sits beside
 * daemon/zpoold (libtool may run us from tools/.libs), once installed
 * zpbench is in bin and zpoold in the sibling sbin.
 */
static bool
find_zpoold(const struct rpc_opts *o, char *path, size_t len)
{
	static const char *const rel[] = {
		"../daemon/zpoold", "../../daemon/zpoold", "../sbin/zpoold",
		"zpoold",
	};
	const char	*env = getenv("ZPOOLD");
	char		 self[PATH_MAX - 64], real[PATH_MAX], *slash;
	ssize_t		 n;
	size_t		 i;

	if (o->zpoold != NULL) {
		snprintf(path, len, "%s", o->zpoold);
		return true;
	}
	if (env != NULL && *env != '\0') {
		snprintf(path, len, "%s", env);
		return true;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) == -1)
		return false;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return false;
	*slash = '\0';
	for (i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		snprintf(path, len, "%s/%s", self, rel[i]);
		if (!executable(path))
			continue;
		/* A plain name for the report; path is PATH_MAX long. */
		if (realpath(path, real) != NULL)
			snprintf(path, len, "%s", real);
		return true;
	}
	return false;
}

static bool
socket_accepts(const char *path)
{
	int	fd = wire_dial(path, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void
rpcd_print_log(void)
{
	char	 buf[4096];
	size_t	 n;
	FILE	*f;

	if ((f = fopen(rpcd.log, "r")) == NULL)
		return;
	fprintf(stderr, "---- zpoold log ----\n");
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of zpoold log ----\n");
	fclose(f);
}

static void __attribute__((noreturn))
rpcd_exec(const char *bin, const struct rpc_opts *o)
{
	char	workers[32], per_uid[48], poll[32];
	int	fd;

	if ((fd = open(rpcd.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) != -1) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if ((fd = open("/dev/null", O_RDONLY)) != -1)
		dup2(fd, STDIN_FILENO);
	snprintf(workers, sizeof workers, "%u", o->workers);
	/* Room for the idle clients next to the measuring ones. */
	snprintf(per_uid, sizeof per_uid, "--max_clients_per_uid=%u",
	    o->idle + o->clients + 16);
	snprintf(poll, sizeof poll, "--busy_poll=%u", o->busy_poll);
	/* A trim every second: see RPC_COLD_MS. */
	execl(bin, "zpoold", "--foreground", "--config", rpcd.conf,
	    "--socket", rpcd.sock, "--workers", workers, per_uid, poll,
	    "--trim_interval=1", (char *)NULL);
	fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
	_exit(127);
}

/* Start zpoold and wait until it accepts; exits on failure. */
static void
rpcd_start(const struct rpc_opts *o, char *bin, size_t binlen)
{
	struct sigaction	sa;
	size_t			i;
	int			fd, st;

	if (!find_zpoold(o, bin, binlen))
		errx(BENCH_EXIT_ERROR, "rpc: cannot find zpoold next to "
		    "zpbench; give --zpoold PATH or set $ZPOOLD");
	if (!executable(bin))
		err(BENCH_EXIT_ERROR, "rpc: %s", bin);
	snprintf(rpcd.dir, sizeof rpcd.dir, "%s/zpbench-rpc.XXXXXX",
	    getenv("TMPDIR") != NULL && strlen(getenv("TMPDIR")) < 32 ?
	    getenv("TMPDIR") : "/tmp");
	if (mkdtemp(rpcd.dir) == NULL) {
		rpcd.dir[0] = '\0';
		err(BENCH_EXIT_ERROR, "rpc: mkdtemp");
	}
	snprintf(rpcd.sock, sizeof rpcd.sock, "%s/zpoold.sock", rpcd.dir);
	snprintf(rpcd.conf, sizeof rpcd.conf, "%s/zpoold.conf", rpcd.dir);
	snprintf(rpcd.log, sizeof rpcd.log, "%s/zpoold.log", rpcd.dir);
	/* Empty: no installed configuration leaks into the figures. */
	if ((fd = open(rpcd.conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		err(BENCH_EXIT_ERROR, "rpc: %s", rpcd.conf);
	close(fd);

	rpcd.owner = getpid();
	atexit(rpcd_on_exit);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = rpcd_on_signal;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < RPCD_NSIGNALS; i++)
		sigaction(rpcd_signals[i], &sa, NULL);

	fflush(NULL);
	if ((rpcd.pid = fork()) == -1)
		err(BENCH_EXIT_ERROR, "rpc: fork");
	if (rpcd.pid == 0)
		rpcd_exec(bin, o);
	for (i = 0; i < 1000; i++) {
		if (socket_accepts(rpcd.sock))
			return;
		if (waitpid(rpcd.pid, &st, WNOHANG) == rpcd.pid) {
			rpcd.pid = -1;
			rpcd_print_log();
			errx(BENCH_EXIT_ERROR, "rpc: %s exited at start", bin);
		}
		usleep(10000);
	}
	rpcd_print_log();
	errx(BENCH_EXIT_ERROR, "rpc: %s did not accept within 10 s", bin);
}

/* The pid of whoever listens on `path` (SO_PEERCRED), or -1. */
static pid_t
peer_pid(const char *path)
{
	struct ucred	cr;
	socklen_t	len = sizeof cr;
	pid_t		pid = -1;
	int		fd;

	if ((fd = wire_dial(path, 0)) < 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
		pid = cr.pid;
	close(fd);
	return pid;
}

/* --- small helpers -------------------------------------------------------- */

static double
div0(double a, double b)
{
	return b == 0 ? 0 : a / b;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in µs. */
static double
pct_us(const uint64_t *v, size_t n, double q)
{
	size_t	r;

	if (n == 0)
		return 0;
	r = (size_t)(q * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return (double)v[r - 1] / 1e3;
}

static void
print_samples(const char *key, const struct bench_samples *s,
    const char *unit)
{
	unsigned	i;

	printf("  %s %.2f%s [runs", key, bench_median(s), unit);
	for (i = 0; i < s->n; i++)
		printf(" %.2f", s->v[i]);
	printf("]\n");
}

/* read/write that finish or fail; EOF is a failure for reads. */
static int
read_full(int fd, void *buf, size_t len)
{
	uint8_t	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		if ((n = read(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
write_full(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
client_connect(const struct rpc_opts *o, const char *sock, const char *name,
    zp_client **zc)
{
	struct zp_options	opt;

	memset(&opt, 0, sizeof opt);
	opt.socket_path = sock;
	opt.name = name;
	opt.busy_poll_us = o->busy_poll == 0 ? -1 : (int)o->busy_poll;
	return zp_connect(&opt, zc);
}

/* --- 1. daemon memory per idle client ------------------------------------ */

/*
 * The daemon's memory besides the pool: every mapping but the pool's arena
 * and the clients' staging memfds (shared with the clients, and theirs).
 */
#define MEMFD_STAGING	" /memfd:zpclient"
#define MEMFD_POOL	" /memfd:zpoold-pool"

struct mem_snap {
	uint64_t	pss_kib;	/* pool and staging left out */
	uint64_t	rss_kib;
	uint64_t	pool_rss_kib;	/* the pool's arena: its frames */
	uint64_t	staging_maps;
	uint64_t	staging_rss_kib;
	uint64_t	fds;
};

static bool
is_mapping_header(const char *line)
{
	/* "start-end perms ...": field lines are "Name:   N kB". */
	const char	*sp = strchr(line, ' ');

	return sp != NULL && sp > line && sp[-1] != ':';
}

static int
mem_snapshot(pid_t pid, struct mem_snap *m)
{
	char		 path[64], line[512];
	unsigned long	 kib;
	bool		 staging = false, pool = false, skip = false;
	struct dirent	*de;
	DIR		*d;
	FILE		*f;

	memset(m, 0, sizeof *m);
	snprintf(path, sizeof path, "/proc/%ld/smaps", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (is_mapping_header(line)) {
			staging = strstr(line, MEMFD_STAGING) != NULL;
			pool = strstr(line, MEMFD_POOL) != NULL;
			skip = staging || pool;
			m->staging_maps += staging;
		} else if (sscanf(line, "Pss: %lu kB", &kib) == 1) {
			if (!skip)
				m->pss_kib += kib;
		} else if (sscanf(line, "Rss: %lu kB", &kib) == 1) {
			if (staging)
				m->staging_rss_kib += kib;
			else if (pool)
				m->pool_rss_kib += kib;
			else if (!skip)
				m->rss_kib += kib;
		}
	}
	fclose(f);
	snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			m->fds++;
	closedir(d);
	return 0;
}

struct idle_result {
	bool		measured;
	char		skipped[128];
	unsigned	clients;	/* connected */
	int		refused;	/* code that stopped us short, or 0 */
	struct mem_snap	before, after, closed;
	double		pss_kib_per_client;
	double		rss_kib_per_client;
};

static void
sleep_ms(unsigned ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
settle(void)
{
	sleep_ms(200);
}

static void
measure_idle(const struct rpc_opts *o, const char *sock, pid_t pid,
    struct idle_result *ir)
{
	zp_client	**zc;
	unsigned	  i;
	int		  rc;

	memset(ir, 0, sizeof *ir);
	if (o->idle == 0) {
		snprintf(ir->skipped, sizeof ir->skipped, "--idle 0");
		return;
	}
	if (pid <= 0) {
		snprintf(ir->skipped, sizeof ir->skipped, "cannot tell the "
		    "daemon's pid (SO_PEERCRED)");
		return;
	}
	if (mem_snapshot(pid, &ir->before) == -1) {
		snprintf(ir->skipped, sizeof ir->skipped, "cannot read "
		    "/proc/%ld/smaps: %s", (long)pid, strerror(errno));
		return;
	}
	if ((zc = calloc(o->idle, sizeof *zc)) == NULL)
		err(BENCH_EXIT_ERROR, "rpc");
	for (i = 0; i < o->idle; i++) {
		if ((rc = client_connect(o, sock, "zpbench-idle", &zc[i])) != 0) {
			ir->refused = rc;
			break;
		}
	}
	ir->clients = i;
	/* zp_connect returned after the hello: the daemon is done. */
	settle();
	rc = mem_snapshot(pid, &ir->after);
	for (i = 0; i < ir->clients; i++)
		zp_close(zc[i]);
	free(zc);
	if (rc == -1 || ir->clients == 0) {
		snprintf(ir->skipped, sizeof ir->skipped, "%s", rc == -1 ?
		    "the daemon went away" : zp_strerror(ir->refused));
		return;
	}
	/* Wait for the daemon to see every hang-up before the last look. */
	for (i = 0; i < 50; i++) {
		settle();
		if (mem_snapshot(pid, &ir->closed) == -1 ||
		    ir->closed.fds <= ir->before.fds)
			break;
	}
	ir->measured = true;
	ir->pss_kib_per_client = ((double)ir->after.pss_kib -
	    (double)ir->before.pss_kib) / ir->clients;
	ir->rss_kib_per_client = ((double)ir->after.rss_kib -
	    (double)ir->before.rss_kib) / ir->clients;
}

/* --- 2. batched throughput ------------------------------------------------ */

/*
 * Where the CPU goes, to tell overhead from waiting: the on-CPU time of
 * the daemon's threads (schedstat, in ns) between the barriers, and of
 * each client (its thread CPU clock).  The daemon's main thread is the
 * event loop; every other thread is a worker.
 */
struct cpu_snap {
	bool		ok;
	uint64_t	loop_ns;
	uint64_t	workers_ns;
	/* the whole machine (/proc/stat, in ticks): is someone else busy? */
	uint64_t	busy_ns;
	uint64_t	steal_ns;
};

/*
 * Busy and stolen time of all CPUs.  The machine is shared: a neighbour
 * that keeps a CPU busy turns a 2-CPU measurement into a 1-CPU one, and
 * only this shows it.
 */
static void
machine_snapshot(struct cpu_snap *cs)
{
	unsigned long long	v[8];
	long			hz = sysconf(_SC_CLK_TCK);
	uint64_t		tick;
	FILE			*f;

	if (hz <= 0 || (f = fopen("/proc/stat", "re")) == NULL)
		return;
	tick = 1000000000u / (uint64_t)hz;
	/* user nice system idle iowait irq softirq steal */
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		cs->busy_ns = (v[0] + v[1] + v[2] + v[5] + v[6]) * tick;
		cs->steal_ns = v[7] * tick;
	}
	fclose(f);
}

static void
cpu_snapshot(pid_t pid, struct cpu_snap *cs)
{
	char		 path[96];
	unsigned long long ns;
	struct dirent	*de;
	DIR		*d;
	FILE		*f;

	memset(cs, 0, sizeof *cs);
	machine_snapshot(cs);
	if (pid <= 0)
		return;
	snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return;
	cs->ok = true;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%ld/task/%.20s/schedstat",
		    (long)pid, de->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		if (fscanf(f, "%llu", &ns) == 1) {
			if (strtol(de->d_name, NULL, 10) == pid)
				cs->loop_ns += ns;
			else
				cs->workers_ns += ns;
		} else
			cs->ok = false;
		fclose(f);
	}
	closedir(d);
}

static uint64_t
thread_cpu_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The timed phases of a client, in order. */
enum phase {
	PHASE_STORE, PHASE_LOAD, PHASE_REFILL, PHASE_PIPELINED,
	PHASE_LOAD_PIPELINED, NPHASES
};

/*
 * Batches a pipelined client keeps in flight (for loads: threads sharing
 * its connection, one batch each), and their largest size: two must fit
 * in the library's default 256 staging slots, or the second waits for the
 * first.
 */
#define PIPELINE_DEPTH		2
#define PIPELINE_MAX_BATCH	128

/* How a phase is reported. */
static const struct phase_info {
	const char	*name;		/* NAME_mbps, NAME_vs_2x_codec */
	const char	*note;		/* after its figures */
	const char	*pool;		/* after its target's verdict */
	bool		 store;		/* against compress, else decompress */
	unsigned	 snap;		/* daemon CPU snapshots snap, snap + 1 */
} phase_info[NPHASES] = {
	{ "store", "", "; a pool growing", true, 0 },
	{ "load", "", "", false, 1 },
	{ "store_refill", " (every page freed, then stored again at once)",
	    "; a pool in use", true, 3 },
	{ "store_pipelined", " (the refill again, zp_store_async, "
	    "2 batches in flight)", "; a pool in use, 2 batches in flight",
	    true, 5 },
	{ "load_pipelined", " (those pages loaded again, 2 threads on the "
	    "connection, a batch in flight each)", "; 2 batches in flight",
	    false, 7 },
};
#define NSNAPS		9

/* One timed phase of one client. */
struct phase_time {
	uint64_t	t0, t1;
	uint64_t	cpu;		/* this client's CPU, ns */
	uint64_t	refused;	/* pages a store refused */
	bool		timed;
};

/* One client's run, in memory shared with the parent. */
struct client_result {
	struct phase_time phase[NPHASES];
	uint64_t	pages;
	uint64_t	verified;	/* stored, loaded and equal */
	uint64_t	reload_errors;	/* pages the second load got wrong */
	uint64_t	free_errors;	/* failed frees, pages left behind */
	int		code;		/* first ZP_E* code seen */
	char		failed[96];	/* what failed first */
};

struct client_ctx {
	const struct rpc_opts	*o;
	const char		*sock;
	const struct corpus	*c;
	size_t			 first, n;
	struct client_result	*res;
	int			 ready_w;	/* one byte per phase */
	int			 go_r[NPHASES];	/* EOF: start the phase */
	uint8_t			 index;
};

static void
client_fail(struct client_result *res, const char *what, int code)
{
	if (res->failed[0] != '\0')
		return;
	snprintf(res->failed, sizeof res->failed, "%s: %s", what,
	    zp_strerror(code));
	res->code = code;
}

/* Say we are at the barrier, then wait until the parent opens it. */
static void
barrier(const struct client_ctx *cx, int go_r)
{
	char	b;

	write_full(cx->ready_w, &cx->index, 1);
	while (read(go_r, &b, 1) == -1 && errno == EINTR)
		;
}

static void
phase_begin(struct phase_time *pt)
{
	pt->cpu = thread_cpu_ns();
	pt->t0 = bench_now_ns();
}

static void
phase_end(struct phase_time *pt)
{
	pt->t1 = bench_now_ns();
	pt->cpu = thread_cpu_ns() - pt->cpu;
	pt->timed = true;
}

/* A batch's results: its pages fail as one, or each has its own. */
static void
batch_results(const struct client_ctx *cx, struct phase_time *pt,
    const char *what, int rc, int *results, size_t k)
{
	size_t	j;

	if (rc < 0) {
		for (j = 0; j < k; j++)
			results[j] = rc;
		pt->refused += k;
		client_fail(cx->res, what, rc);
		return;
	}
	if ((size_t)rc != k)
		for (j = 0; j < k; j++)
			if (results[j] != 0) {
				pt->refused++;
				client_fail(cx->res, "store", results[j]);
			}
}

static void
client_store(const struct client_ctx *cx, zp_client *zc, zp_handle *h,
    int *results, struct phase_time *pt)
{
	size_t	i, k;
	int	rc;

	phase_begin(pt);
	for (i = 0; i < cx->n; i += k) {
		k = cx->n - i < cx->o->batch ? cx->n - i : cx->o->batch;
		rc = zp_store_batch(zc, corpus_page(cx->c, cx->first + i), k,
		    h + i, results + i);
		batch_results(cx, pt, "zp_store_batch", rc, results + i, k);
	}
	phase_end(pt);
	for (i = 0; i < cx->n; i++)
		if (results[i] != 0)
			h[i] = 0;
}

/*
 * The store again, pipelined: PIPELINE_DEPTH batches in flight through
 * zp_store_async, each collected with zp_wait oldest first, as a process
 * that offloads and goes on would.
 */
static void
client_store_pipelined(const struct client_ctx *cx, zp_client *zc,
    zp_handle *h, int *results, struct phase_time *pt)
{
	zp_ticket	ticket[PIPELINE_DEPTH];
	size_t		at[PIPELINE_DEPTH], len[PIPELINE_DEPTH];
	size_t		i = 0, k, oldest = 0, inflight = 0, slot, batch;
	int		rc;

	batch = cx->o->batch < PIPELINE_MAX_BATCH ? cx->o->batch :
	    PIPELINE_MAX_BATCH;
	phase_begin(pt);
	while (i < cx->n || inflight > 0) {
		if (i < cx->n && inflight < PIPELINE_DEPTH) {
			k = cx->n - i < batch ? cx->n - i : batch;
			slot = (oldest + inflight) % PIPELINE_DEPTH;
			rc = zp_store_async(zc, corpus_page(cx->c,
			    cx->first + i), k, &ticket[slot]);
			if (rc != 0) {
				batch_results(cx, pt, "zp_store_async", rc,
				    results + i, k);
			} else {
				at[slot] = i;
				len[slot] = k;
				inflight++;
			}
			i += k;
			continue;
		}
		rc = zp_wait(zc, ticket[oldest], h + at[oldest],
		    results + at[oldest], len[oldest]);
		batch_results(cx, pt, "zp_wait", rc, results + at[oldest],
		    len[oldest]);
		oldest = (oldest + 1) % PIPELINE_DEPTH;
		inflight--;
	}
	phase_end(pt);
	for (i = 0; i < cx->n; i++)
		if (results[i] != 0)
			h[i] = 0;
}

/* One loader's share: every `stride`-th batch from batch `first` on. */
struct loader {
	const struct client_ctx	*cx;
	zp_client		*zc;
	const zp_handle		*h;
	uint8_t			*out;
	int			*results;
	size_t			 first, stride;
	uint64_t		 cpu;		/* this thread's, ns */
	int			 code;		/* its first failed call's */
};

static void *
loader_run(void *arg)
{
	struct loader	*l = arg;
	size_t		 b = l->cx->o->batch, n = l->cx->n, i, k, j;
	uint64_t	 cpu0 = thread_cpu_ns();
	int		 rc;

	for (i = l->first * b; i < n; i += l->stride * b) {
		k = n - i < b ? n - i : b;
		rc = zp_load_batch(l->zc, l->h + i, k,
		    l->out + i * (size_t)PAGE_SIZE_4K, l->results + i);
		if (rc < 0) {
			for (j = i; j < i + k; j++)
				l->results[j] = rc;
			if (l->code == 0)
				l->code = rc;
		}
	}
	l->cpu = thread_cpu_ns() - cpu0;
	return NULL;
}

/*
 * Load every page back in batches, with `threads` threads sharing the
 * connection (1 or PIPELINE_DEPTH), then check it byte for byte.  The
 * first load counts verified pages; a later one counts what it got wrong.
 */
static void
client_load(const struct client_ctx *cx, zp_client *zc, const zp_handle *h,
    uint8_t *out, int *results, enum phase ph, unsigned threads)
{
	struct loader	 l[PIPELINE_DEPTH];
	struct phase_time *pt = &cx->res->phase[ph];
	pthread_t	 tid[PIPELINE_DEPTH];
	bool		 good;
	size_t		 i;
	unsigned	 t, started = 1;

	for (t = 0; t < threads; t++)
		l[t] = (struct loader){ .cx = cx, .zc = zc, .h = h,
		    .out = out, .results = results, .first = t,
		    .stride = threads };
	phase_begin(pt);
	for (t = 1; t < threads; t++, started++)
		if (pthread_create(&tid[t], NULL, loader_run, &l[t]) != 0)
			break;
	/* A helper that did not start leaves its batches to this thread. */
	if (started < threads)
		l[0].stride = 1;
	loader_run(&l[0]);
	for (t = 1; t < started; t++)
		pthread_join(tid[t], NULL);
	phase_end(pt);
	/* Failures are told here, by one thread, once the others are done. */
	for (t = 0; t < started; t++) {
		if (t > 0)
			pt->cpu += l[t].cpu;
		if (l[t].code != 0)
			client_fail(cx->res, "zp_load_batch", l[t].code);
	}
	/* A last byte, not waited on: the parent reads the daemon's CPU
	   time before we verify. */
	write_full(cx->ready_w, &cx->index, 1);
	/* Byte for byte, off the clock. */
	for (i = 0; i < cx->n; i++) {
		if (h[i] == 0)
			continue;
		good = results[i] == 0 && memcmp(out + i * (size_t)PAGE_SIZE_4K,
		    corpus_page(cx->c, cx->first + i), PAGE_SIZE_4K) == 0;
		if (good) {
			cx->res->verified += ph == PHASE_LOAD;
			continue;
		}
		cx->res->reload_errors += ph != PHASE_LOAD;
		if (results[i] != 0)
			client_fail(cx->res, "load", results[i]);
		else if (cx->res->failed[0] == '\0')
			snprintf(cx->res->failed, sizeof cx->res->failed,
			    "page %zu came back different", cx->first + i);
	}
}

/* Free everything and check that the daemon agrees nothing is left. */
static void
client_free(const struct client_ctx *cx, zp_client *zc, zp_handle *h,
    int *results)
{
	struct zp_stats	st;
	size_t		i, k, j, m;
	int		rc;

	for (i = 0; i < cx->n; i += k) {
		k = cx->n - i < cx->o->batch ? cx->n - i : cx->o->batch;
		/* Only live handles: a stored-failed page has none. */
		for (j = i, m = i; j < i + k; j++)
			if (h[j] != 0)
				h[m++] = h[j];
		if (m == i)
			continue;
		rc = zp_free_batch(zc, h + i, m - i, results);
		if (rc < 0 || (size_t)rc != m - i) {
			cx->res->free_errors += rc < 0 ? m - i : m - i -
			    (size_t)rc;
			client_fail(cx->res, "zp_free_batch", rc < 0 ? rc :
			    ZP_ENOENT);
		}
	}
	if ((rc = zp_stats(zc, &st)) != 0) {
		client_fail(cx->res, "zp_stats", rc);
		return;
	}
	if (st.pages_stored != 0) {
		cx->res->free_errors += st.pages_stored;
		snprintf(cx->res->failed, sizeof cx->res->failed,
		    "%llu pages still stored after freeing all",
		    (unsigned long long)st.pages_stored);
	}
}

static void __attribute__((noreturn))
client_main(const struct client_ctx *cx)
{
	zp_client	*zc = NULL;
	zp_handle	*h;
	uint8_t		*out;
	int		*results;
	int		 rc;

	cx->res->pages = cx->n;
	h = calloc(cx->n + 1, sizeof *h);
	results = calloc(cx->n + RPC_MAX_BATCH, sizeof *results);
	/* Faulted in now, so the load phase does not time page faults. */
	out = bench_alloc((cx->n + 1) * (size_t)PAGE_SIZE_4K);
	if (h == NULL || results == NULL || out == NULL)
		client_fail(cx->res, "client", ZP_ENOMEM);
	else if ((rc = client_connect(cx->o, cx->sock, "zpbench-rpc", &zc)) != 0)
		client_fail(cx->res, "zp_connect", rc);
	/* Our share of the corpus mapped in this process too, as an
	   application's own pages are before it offloads them. */
	(void)bench_touch(corpus_page(cx->c, cx->first),
	    cx->n * (size_t)PAGE_SIZE_4K);
	barrier(cx, cx->go_r[PHASE_STORE]);
	if (zc != NULL)
		client_store(cx, zc, h, results,
		    &cx->res->phase[PHASE_STORE]);
	barrier(cx, cx->go_r[PHASE_LOAD]);
	if (zc == NULL) {
		write_full(cx->ready_w, &cx->index, 1);
		_exit(0);
	}
	client_load(cx, zc, h, out, results, PHASE_LOAD, 1);
	client_free(cx, zc, h, results);
	barrier(cx, cx->go_r[PHASE_REFILL]);
	client_store(cx, zc, h, results, &cx->res->phase[PHASE_REFILL]);
	write_full(cx->ready_w, &cx->index, 1);
	client_free(cx, zc, h, results);
	barrier(cx, cx->go_r[PHASE_PIPELINED]);
	client_store_pipelined(cx, zc, h, results,
	    &cx->res->phase[PHASE_PIPELINED]);
	write_full(cx->ready_w, &cx->index, 1);
	barrier(cx, cx->go_r[PHASE_LOAD_PIPELINED]);
	client_load(cx, zc, h, out, results, PHASE_LOAD_PIPELINED,
	    PIPELINE_DEPTH);
	client_free(cx, zc, h, results);
	zp_close(zc);
	_exit(0);
}

/* CPU per page of one phase, in µs. */
struct phase_cpu {
	bool		have_daemon;
	double		wall, clients, loop, workers;
	double		others, steal;	/* the rest of the machine */
};

struct tput_run {
	double		mbps[NPHASES];
	struct phase_cpu cpu[NPHASES];
	uint64_t	store_frames;	/* the growing store's new frames */
	uint64_t	verified, errors;
	char		failed[128];
};

/*
 * The parent's side of the phase barrier.  Every client writes its index
 * once a phase, and may be a phase ahead (its next byte can come in the
 * same read as this one), so bytes are counted per client.
 */
struct phase_sync {
	int		 ready_r;
	const pid_t	*pids;
	bool		*alive;
	unsigned	 n;
	unsigned	 phase;			/* phases waited for */
	unsigned	 got[RPC_MAX_CLIENTS];	/* bytes from each client */
};

/*
 * Wait until every client has reached the next phase; a client that died
 * counts as arrived, so one crash cannot hang the run.
 */
static void
phase_wait(struct phase_sync *ps)
{
	struct pollfd	pfd = { .fd = ps->ready_r, .events = POLLIN };
	uint8_t		buf[RPC_MAX_CLIENTS];
	unsigned	i, left;
	ssize_t		r, k;
	int		st;

	ps->phase++;
	for (;;) {
		for (i = 0, left = 0; i < ps->n; i++)
			left += ps->alive[i] && ps->got[i] < ps->phase;
		if (left == 0)
			return;
		if (poll(&pfd, 1, 100) > 0) {
			if ((r = read(ps->ready_r, buf, sizeof buf)) <= 0)
				return;		/* every client is gone */
			for (k = 0; k < r; k++)
				if (buf[k] < ps->n)
					ps->got[buf[k]]++;
			continue;
		}
		for (i = 0; i < ps->n; i++)
			if (ps->alive[i] && waitpid(ps->pids[i], &st,
			    WNOHANG) == ps->pids[i])
				ps->alive[i] = false;
	}
}

static void
phase_cpu(struct phase_cpu *pc, const struct cpu_snap *a,
    const struct cpu_snap *b, uint64_t wall_ns, uint64_t client_ns,
    size_t npages)
{
	double	n = npages == 0 ? 1 : (double)npages;

	pc->wall = (double)wall_ns / 1e3 / n;
	pc->clients = (double)client_ns / 1e3 / n;
	pc->steal = (double)(b->steal_ns - a->steal_ns) / 1e3 / n;
	pc->others = (double)(b->busy_ns - a->busy_ns) / 1e3 / n -
	    pc->clients;
	pc->have_daemon = a->ok && b->ok;
	if (!pc->have_daemon)
		return;
	pc->loop = (double)(b->loop_ns - a->loop_ns) / 1e3 / n;
	pc->workers = (double)(b->workers_ns - a->workers_ns) / 1e3 / n;
	pc->others -= pc->loop + pc->workers;
}

/*
 * One phase over every client, from the first start to the last end: its
 * MB/s, and its CPU a page between the daemon snapshots a and b.
 */
static double
phase_collect(const struct client_result *res, unsigned n, enum phase ph,
    const struct corpus *c, const struct cpu_snap *a,
    const struct cpu_snap *b, struct phase_cpu *pc)
{
	const struct phase_time	*pt;
	uint64_t		 t0 = UINT64_MAX, t1 = 0, cpu = 0, wall;
	unsigned		 i;

	for (i = 0; i < n; i++) {
		pt = &res[i].phase[ph];
		if (pt->timed) {
			t0 = pt->t0 < t0 ? pt->t0 : t0;
			t1 = pt->t1 > t1 ? pt->t1 : t1;
		}
		cpu += pt->cpu;
	}
	wall = t1 > t0 ? t1 - t0 : 0;
	phase_cpu(pc, a, b, wall, cpu, c->npages);
	return wall != 0 ? bench_mbps(c->npages * (uint64_t)PAGE_SIZE_4K,
	    wall) : 0;
}

static void
tput_collect(const struct rpc_opts *o, const struct corpus *c,
    const struct client_result *res, const bool *dead_by_signal,
    const struct cpu_snap *cpu, struct tput_run *run)
{
	enum phase	ph;
	unsigned	i;

	memset(run, 0, sizeof *run);
	for (i = 0; i < o->clients; i++) {
		const struct client_result *r = &res[i];

		run->verified += r->verified;
		/* A page the first store refused is an unverified one. */
		run->errors += r->pages - r->verified + r->free_errors +
		    r->phase[PHASE_REFILL].refused +
		    r->phase[PHASE_PIPELINED].refused + r->reload_errors;
		if (run->failed[0] == '\0' && r->failed[0] != '\0')
			snprintf(run->failed, sizeof run->failed,
			    "client %u: %s", i, r->failed);
		if (run->failed[0] == '\0' && dead_by_signal[i])
			snprintf(run->failed, sizeof run->failed,
			    "client %u died of a signal", i);
	}
	for (ph = 0; ph < NPHASES; ph++)
		run->mbps[ph] = phase_collect(res, o->clients, ph, c,
		    &cpu[phase_info[ph].snap], &cpu[phase_info[ph].snap + 1],
		    &run->cpu[ph]);
}

static void
tput_run(const struct rpc_opts *o, const char *sock, pid_t dpid,
    const struct corpus *c, struct tput_run *run)
{
	struct cpu_snap		 cpu[NSNAPS];
	struct mem_snap		 pool_at[2];	/* the store's start, end */
	struct phase_sync	 ps;
	struct client_ctx	 cx;
	struct client_result	*res;
	pid_t			 pids[RPC_MAX_CLIENTS];
	bool			 alive[RPC_MAX_CLIENTS];
	bool			 signalled[RPC_MAX_CLIENTS];
	int			 ready[2], go[NPHASES][2];
	int			 st;
	size_t			 per, reslen;
	unsigned		 i, ph;

	reslen = o->clients * sizeof *res;
	res = mmap(NULL, reslen, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		err(BENCH_EXIT_ERROR, "rpc: mmap");
	memset(res, 0, reslen);
	if (pipe2(ready, O_CLOEXEC) == -1)
		err(BENCH_EXIT_ERROR, "rpc: pipe");
	for (ph = 0; ph < NPHASES; ph++)
		if (pipe2(go[ph], O_CLOEXEC) == -1)
			err(BENCH_EXIT_ERROR, "rpc: pipe");
	per = (c->npages + o->clients - 1) / o->clients;
	memset(&cx, 0, sizeof cx);
	cx.o = o;
	cx.sock = sock;
	cx.c = c;
	cx.ready_w = ready[1];
	for (ph = 0; ph < NPHASES; ph++)
		cx.go_r[ph] = go[ph][0];
	fflush(NULL);
	for (i = 0; i < o->clients; i++) {
		cx.index = (uint8_t)i;
		cx.first = i * per < c->npages ? i * per : c->npages;
		cx.n = c->npages - cx.first < per ? c->npages - cx.first : per;
		cx.res = &res[i];
		signalled[i] = false;
		if ((pids[i] = fork()) == -1)
			err(BENCH_EXIT_ERROR, "rpc: fork");
		if (pids[i] == 0) {
			/* Only the parent may hold the doors shut. */
			close(ready[0]);
			for (ph = 0; ph < NPHASES; ph++)
				close(go[ph][1]);
			client_main(&cx);
		}
		alive[i] = true;
	}
	close(ready[1]);
	for (ph = 0; ph < NPHASES; ph++)
		close(go[ph][0]);
	memset(&ps, 0, sizeof ps);
	ps.ready_r = ready[0];
	ps.pids = pids;
	ps.alive = alive;
	ps.n = o->clients;
	/*
	 * Every client at the gate of a phase: snapshot, open it.  Its end
	 * is the next gate when nothing happens in between (the store's,
	 * which is the load's start), else a byte of its own.
	 */
	memset(pool_at, 0, sizeof pool_at);
	for (ph = 0; ph < NPHASES; ph++) {
		phase_wait(&ps);
		cpu_snapshot(dpid, &cpu[phase_info[ph].snap]);
		/* The pool's frames where the store begins and ends. */
		if (ph <= PHASE_LOAD && dpid > 0)
			mem_snapshot(dpid, &pool_at[ph]);
		close(go[ph][1]);
		if (ph + 1 < NPHASES &&
		    phase_info[ph + 1].snap == phase_info[ph].snap + 1)
			continue;
		phase_wait(&ps);
		cpu_snapshot(dpid, &cpu[phase_info[ph].snap + 1]);
	}
	for (i = 0; i < o->clients; i++) {
		if (!alive[i])
			continue;
		if (waitpid(pids[i], &st, 0) == pids[i] && WIFSIGNALED(st))
			signalled[i] = true;
	}
	close(ready[0]);
	tput_collect(o, c, res, signalled, cpu, run);
	if (pool_at[1].pool_rss_kib > pool_at[0].pool_rss_kib)
		run->store_frames = (pool_at[1].pool_rss_kib -
		    pool_at[0].pool_rss_kib) / 4;
	munmap(res, reslen);
}

/* --- 3. single-page synchronous load latency ------------------------------ */

struct lat_result {
	struct bench_samples	p50, p99, p999, max;
	uint64_t		loads, errors;
	char			failed[128];
};

/* Store every page in batches; the handles of pages that failed are 0. */
static uint64_t
store_all(zp_client *zc, const struct corpus *c, unsigned batch,
    zp_handle *h, int *results, char *failed, size_t flen)
{
	uint64_t	errors = 0;
	size_t		i, k, j;
	int		rc;

	for (i = 0; i < c->npages; i += k) {
		k = c->npages - i < batch ? c->npages - i : batch;
		rc = zp_store_batch(zc, corpus_page(c, i), k, h + i,
		    results);
		for (j = 0; j < k; j++) {
			if (rc >= 0 && results[j] == 0)
				continue;
			h[i + j] = 0;
			errors++;
			if (failed[0] == '\0')
				snprintf(failed, flen, "store: %s",
				    zp_strerror(rc < 0 ? rc : results[j]));
		}
	}
	return errors;
}

static void
lat_sample(zp_client *zc, const struct corpus *c, const zp_handle *h,
    struct bench_rng *rng, unsigned loads, uint64_t *ns, uint8_t *page,
    struct lat_result *lr)
{
	uint64_t	t0, t1;
	size_t		i;
	unsigned	s, n = 0;
	int		rc;

	for (s = 0; s < RPC_WARMUP + loads; s++) {
		do
			i = bench_rng_below(rng, c->npages);
		while (h[i] == 0);
		t0 = bench_now_ns();
		rc = zp_load(zc, h[i], page);
		t1 = bench_now_ns();
		if (rc != 0 || memcmp(page, corpus_page(c, i), PAGE_SIZE_4K)) {
			lr->errors++;
			if (lr->failed[0] == '\0')
				snprintf(lr->failed, sizeof lr->failed,
				    "zp_load of page %zu: %s", i, rc != 0 ?
				    zp_strerror(rc) : "came back different");
		}
		if (s >= RPC_WARMUP)
			ns[n++] = t1 - t0;
	}
	lr->loads += loads;
	qsort(ns, n, sizeof *ns, u64_cmp);
	bench_sample_add(&lr->p50, pct_us(ns, n, 0.50));
	bench_sample_add(&lr->p99, pct_us(ns, n, 0.99));
	bench_sample_add(&lr->p999, pct_us(ns, n, 0.999));
	bench_sample_add(&lr->max, (double)ns[n - 1] / 1e3);
}

static void
measure_latency(const struct rpc_opts *o, const char *sock,
    const struct corpus *c, struct lat_result *lr)
{
	struct bench_rng	 rng;
	zp_client		*zc;
	zp_handle		*h;
	uint64_t		*ns;
	uint8_t			*page;
	int			*results, rc;
	unsigned		 r;

	memset(lr, 0, sizeof *lr);
	h = calloc(c->npages, sizeof *h);
	results = calloc(RPC_MAX_BATCH, sizeof *results);
	ns = calloc(o->loads, sizeof *ns);
	page = bench_alloc(PAGE_SIZE_4K);
	if (h == NULL || results == NULL || ns == NULL || page == NULL)
		err(BENCH_EXIT_ERROR, "rpc");
	if ((rc = client_connect(o, sock, "zpbench-latency", &zc)) != 0)
		errx(BENCH_EXIT_ERROR, "rpc: latency: zp_connect: %s",
		    zp_strerror(rc));
	lr->errors = store_all(zc, c, o->batch, h, results, lr->failed,
	    sizeof lr->failed);
	if (lr->errors == c->npages)
		errx(BENCH_EXIT_ERROR, "rpc: latency: no page stored: %s",
		    lr->failed);
	bench_rng_seed(&rng, 1);
	for (r = 0; r < o->runs; r++)
		lat_sample(zc, c, h, &rng, o->loads, ns, page, lr);
	zp_close(zc);
	bench_free(page, PAGE_SIZE_4K);
	free(ns);
	free(results);
	free(h);
}

/* --- 4. the kernel's round trip ------------------------------------------- */

/*
 * Read a ping as libzpclient reads a reply: poll for `poll_us` (spin.h),
 * then block.  The pings are small enough to arrive whole.
 */
static int
ping_read(int fd, uint8_t *buf, size_t len, unsigned poll_us)
{
	struct spin	spin;

	spin_start(&spin, poll_us);
	do {
		if (recv(fd, buf, len, MSG_DONTWAIT | MSG_WAITALL) ==
		    (ssize_t)len)
			return 0;
	} while (spin_again(&spin));
	return read_full(fd, buf, len);
}

static void __attribute__((noreturn))
echo_main(int fd, unsigned poll_us)
{
	uint8_t	buf[RPC_PING_BYTES];

	while (ping_read(fd, buf, sizeof buf, poll_us) == 0)
		if (write_full(fd, buf, sizeof buf) == -1)
			break;
	_exit(0);
}

struct ping_stats {
	struct bench_samples	p50, p99, p999;
};

/*
 * Where the scheduler puts the two ends decides the round trip: on one
 * CPU a wake-up is a context switch, across CPUs it is an IPI, which on a
 * virtual machine may cost far more.  So the pair runs three ways: where
 * the scheduler likes (as the daemon and its client do), pinned to one
 * CPU, and pinned to two.
 */
struct ping_result {
	struct ping_stats	any, same, cross;
	struct ping_stats	sleeping;	/* any, without polling */
	bool			pinned;		/* same and cross measured */
};

static void
ping_pair(const struct rpc_opts *o, int cpu_us, int cpu_echo,
    unsigned poll_us, uint64_t *ns, struct ping_stats *ps)
{
	uint8_t		buf[RPC_PING_BYTES];
	cpu_set_t	set;
	uint64_t	t0;
	unsigned	r, s, n;
	pid_t		pid;
	int		sv[2], st;

	memset(buf, 0x5a, sizeof buf);
	/* The daemon's socket type: a stream, as libzpclient uses. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		err(BENCH_EXIT_ERROR, "rpc: socketpair");
	fflush(NULL);
	if ((pid = fork()) == -1)
		err(BENCH_EXIT_ERROR, "rpc: fork");
	if (pid == 0) {
		close(sv[0]);
		if (cpu_echo >= 0) {
			CPU_ZERO(&set);
			CPU_SET(cpu_echo, &set);
			sched_setaffinity(0, sizeof set, &set);
		}
		echo_main(sv[1], poll_us);
	}
	close(sv[1]);
	if (cpu_us >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu_us, &set);
		sched_setaffinity(0, sizeof set, &set);
	}
	for (r = 0; r < o->runs; r++) {
		for (s = 0, n = 0; s < RPC_WARMUP + o->loads; s++) {
			t0 = bench_now_ns();
			if (write_full(sv[0], buf, sizeof buf) == -1 ||
			    ping_read(sv[0], buf, sizeof buf, poll_us) == -1)
				err(BENCH_EXIT_ERROR, "rpc: ping-pong");
			if (s >= RPC_WARMUP)
				ns[n++] = bench_now_ns() - t0;
		}
		qsort(ns, n, sizeof *ns, u64_cmp);
		bench_sample_add(&ps->p50, pct_us(ns, n, 0.50));
		bench_sample_add(&ps->p99, pct_us(ns, n, 0.99));
		bench_sample_add(&ps->p999, pct_us(ns, n, 0.999));
	}
	close(sv[0]);
	waitpid(pid, &st, 0);
}

static void
measure_ping(const struct rpc_opts *o, struct ping_result *pr)
{
	cpu_set_t	 mine;
	uint64_t	*ns;
	int		 a = -1, b = -1, i;

	memset(pr, 0, sizeof *pr);
	if ((ns = calloc(o->loads, sizeof *ns)) == NULL)
		err(BENCH_EXIT_ERROR, "rpc");
	ping_pair(o, -1, -1, o->busy_poll, ns, &pr->any);
	if (o->busy_poll != 0)
		ping_pair(o, -1, -1, 0, ns, &pr->sleeping);
	/* The first two CPUs we may use. */
	if (sched_getaffinity(0, sizeof mine, &mine) == 0) {
		for (i = 0; i < CPU_SETSIZE && b < 0; i++)
			if (CPU_ISSET(i, &mine)) {
				if (a < 0)
					a = i;
				else
					b = i;
			}
	}
	if (b >= 0) {
		ping_pair(o, a, a, o->busy_poll, ns, &pr->same);
		ping_pair(o, a, b, o->busy_poll, ns, &pr->cross);
		sched_setaffinity(0, sizeof mine, &mine);
		pr->pinned = true;
	}
	free(ns);
}

/* --- the report ------------------------------------------------------------ */

struct rpc_report {
	const struct rpc_opts	*o;
	size_t			 npages;
	bool			 own_daemon;
	int			 daemon_exit;	/* ours; -1: killed */
	struct idle_result	 idle;
	struct bench_samples	 mbps[NPHASES];
	struct bench_samples	 ratio[NPHASES];	/* to 2 x bare, per run */
	struct cpu_samples {
		bool			have_daemon;
		struct bench_samples	wall, clients, loop, workers;
		struct bench_samples	others, steal;
	}			 cpu[NPHASES];
	/* The growing store's new frames a page, and what one costs here. */
	struct bench_samples	 store_frames, frame_us;
	uint64_t		 verified;	/* fewest in any run */
	uint64_t		 errors;	/* every run, and latency */
	char			 failed[128];
	struct codec_bench	 cb;
	struct lat_result	 lat;
	struct ping_result	 ping;
	struct zram_bench	 zb;
	bool			 zram_failed;
};

static const char *
verdict(bool ok)
{
	return ok ? "met" : "MISSED";
}

static void
report_idle(const struct rpc_report *r)
{
	const struct idle_result	*ir = &r->idle;

	if (!ir->measured) {
		printf("idle clients: not measured: %s\n", ir->skipped);
		return;
	}
	printf("idle clients (daemon's /proc/PID/smaps; the pool's arena "
	    "and the staging\n  memfd mappings left out):\n");
	printf("  clients %u%s%s\n", ir->clients, ir->refused != 0 ?
	    ", refused after that: " : "", ir->refused != 0 ?
	    zp_strerror(ir->refused) : "");
	printf("  pss_kib before %llu with_clients %llu after_close %llu\n",
	    (unsigned long long)ir->before.pss_kib,
	    (unsigned long long)ir->after.pss_kib,
	    (unsigned long long)ir->closed.pss_kib);
	printf("  rss_kib before %llu with_clients %llu after_close %llu\n",
	    (unsigned long long)ir->before.rss_kib,
	    (unsigned long long)ir->after.rss_kib,
	    (unsigned long long)ir->closed.rss_kib);
	printf("  staging mappings %llu (resident %llu KiB, the clients' "
	    "memory)\n", (unsigned long long)ir->after.staging_maps,
	    (unsigned long long)ir->after.staging_rss_kib);
	printf("  fds before %llu with_clients %llu after_close %llu\n",
	    (unsigned long long)ir->before.fds,
	    (unsigned long long)ir->after.fds,
	    (unsigned long long)ir->closed.fds);
	printf("  pss_kib_per_client %.1f (rss %.1f)\n",
	    ir->pss_kib_per_client, ir->rss_kib_per_client);
}

/*
 * The CPU each page cost in a phase, against the wall time and the bare
 * codec: what is left of ncpu x wall is time nobody was running.  The
 * ceiling is the ratio to the target's baseline that this machine would
 * give if the workers cost only the bare codec and no CPU idled: the
 * clients share the CPUs, so their cost bounds what any daemon can do.
 */
static void
report_cpu(const char *phase, const struct cpu_samples *cs, double codec_mbps,
    double frames, double frame_us)
{
	double	wall = bench_median(&cs->wall), cl = bench_median(&cs->clients);
	double	lo = bench_median(&cs->loop), wk = bench_median(&cs->workers);
	double	bare = div0(PAGE_SIZE_4K, codec_mbps);
	long	ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu < 1)
		ncpu = 1;
	printf("  %s cpu us/page: wall %.2f, clients %.2f", phase, wall, cl);
	if (!cs->have_daemon) {
		printf(", daemon not readable\n");
		return;
	}
	printf(", daemon loop %.2f, workers %.2f; bare codec %.2f;\n"
	    "    other processes %.2f, stolen %.2f (/proc/stat, 10 ms ticks);"
	    "\n    idle %.0f%% of %ld CPUs x wall\n", lo, wk, bare,
	    bench_median(&cs->others), bench_median(&cs->steal),
	    100 * (1 - div0(cl + lo + wk + bench_median(&cs->others),
	    (double)ncpu * wall)), ncpu);
	printf("    ceiling %.2f of %d x bare (workers at the bare codec's "
	    "cost, no CPU idle);\n    %.2f with the loop free as well\n",
	    div0(bare * (double)ncpu, TARGET_PARALLEL * (cl + lo + bare)),
	    TARGET_PARALLEL,
	    div0(bare * (double)ncpu, TARGET_PARALLEL * (cl + bare)));
	if (frames <= 0)
		return;
	printf("    %.2f with the pool's new frames too (%.3f a page, "
	    "new_frame_us %.2f each)\n", div0(bare * (double)ncpu,
	    TARGET_PARALLEL * (cl + lo + bare + frames * frame_us)), frames,
	    frame_us);
}

static void
report_tput(const struct rpc_report *r)
{
	const struct rpc_opts	*o = r->o;
	char			 key[48];
	enum phase		 ph;

	printf("batched (%u clients, batch %u; a phase from the first "
	    "client's start to the last one's end):\n", o->clients, o->batch);
	for (ph = 0; ph < NPHASES; ph++) {
		snprintf(key, sizeof key, "%s_mbps", phase_info[ph].name);
		print_samples(key, &r->mbps[ph], phase_info[ph].note);
	}
	printf("  verified_pages %llu of %zu (fewest in any run)\n",
	    (unsigned long long)r->verified, r->npages);
	printf("  errors %llu%s%s\n", (unsigned long long)r->errors,
	    r->failed[0] != '\0' ? "; first: " : "", r->failed);
	printf("codec lz4 (bare, 1 thread, in-process, one run after each "
	    "batched run):\n");
	printf("  compr_bytes %llu\n", (unsigned long long)r->cb.compr_bytes);
	print_samples("compress_mbps", &r->cb.compress_mbps, "");
	print_samples("decompress_mbps", &r->cb.decompress_mbps, "");
	for (ph = 0; ph < NPHASES; ph++)
		printf("  %s / (%d x %s) %.3f (median of per-run ratios)\n",
		    phase_info[ph].name, TARGET_PARALLEL,
		    phase_info[ph].store ? "compress" : "decompress",
		    bench_median(&r->ratio[ph]));
	printf("where the time went (clients: their thread CPU clocks; "
	    "daemon: schedstat\n  of its threads; medians over runs):\n");
	for (ph = 0; ph < NPHASES; ph++)
		report_cpu(phase_info[ph].name, &r->cpu[ph],
		    bench_median(phase_info[ph].store ? &r->cb.compress_mbps :
		    &r->cb.decompress_mbps), ph == PHASE_STORE ?
		    bench_median(&r->store_frames) : 0,
		    bench_median(&r->frame_us));
}

static void
report_latency(const struct rpc_report *r)
{
	printf("single-page zp_load (1 client, %u timed loads of random "
	    "stored pages per run,\n  after %u untimed; each verified):\n",
	    r->o->loads, RPC_WARMUP);
	print_samples("load_p50_us", &r->lat.p50, "");
	print_samples("load_p99_us", &r->lat.p99, "");
	print_samples("load_p999_us", &r->lat.p999, "");
	print_samples("load_max_us", &r->lat.max, "");
	printf("  load_errors %llu%s%s\n", (unsigned long long)r->lat.errors,
	    r->lat.failed[0] != '\0' ? "; first: " : "", r->lat.failed);
	printf("unix socket ping-pong (%d B each way, two processes, the "
	    "kernel's floor;\n  each end polls %u us before it sleeps, as "
	    "zpoold and libzpclient do):\n", RPC_PING_BYTES, r->o->busy_poll);
	print_samples("rtt_p50_us", &r->ping.any.p50, "");
	print_samples("rtt_p99_us", &r->ping.any.p99, "");
	print_samples("rtt_p999_us", &r->ping.any.p999, "");
	if (r->ping.pinned) {
		printf("  pinned to one CPU:\n");
		print_samples("  rtt_p50_us", &r->ping.same.p50, "");
		print_samples("  rtt_p99_us", &r->ping.same.p99, "");
		printf("  pinned to two CPUs:\n");
		print_samples("  rtt_p50_us", &r->ping.cross.p50, "");
		print_samples("  rtt_p99_us", &r->ping.cross.p99, "");
	} else
		printf("  pinned: not measured (one CPU allowed)\n");
	if (r->o->busy_poll != 0) {
		printf("  without polling (both ends sleep at once):\n");
		print_samples("  rtt_p50_us", &r->ping.sleeping.p50, "");
		print_samples("  rtt_p99_us", &r->ping.sleeping.p99, "");
	}
	printf("  load_p50 - rtt_p50 %.2f us (the daemon's and library's "
	    "share, if both\n  ran placed alike)\n",
	    bench_median(&r->lat.p50) - bench_median(&r->ping.any.p50));
}

static void
report_zram(const struct rpc_report *r)
{
	const struct zram_bench	*zb = &r->zb;

	if (!zb->measured) {
		printf("zram: not measured: %s\n", r->zram_failed ?
		    "failed (see above)" : zb->skipped);
		return;
	}
	printf("zram0 (lz4, O_DIRECT, 1 MiB requests, 1 thread, reset "
	    "before each run and after):\n");
	print_samples("write_mbps", &zb->write_mbps, "");
	print_samples("read_mbps", &zb->read_mbps, "");
	printf("  mem_used_total %llu\n", (unsigned long long)zb->mem_used_total);
	printf("  verify_errors %llu\n", (unsigned long long)zb->verify_errors);
}

static void
report_targets(const struct rpc_report *r)
{
	double	p50 = bench_median(&r->lat.p50), p99 = bench_median(&r->lat.p99);
	double	ratio, target;
	enum phase ph;

	printf("targets (issue 3; meant for batch 64, 2 clients, 2 workers):\n");
	for (ph = 0; ph < NPHASES; ph++) {
		ratio = bench_median(&r->ratio[ph]);
		target = phase_info[ph].store ? TARGET_STORE_RATIO :
		    TARGET_LOAD_RATIO;
		printf("  %s >= %.0f%% of %d x bare %s: %s (%.1f%%%s)\n",
		    phase_info[ph].name, 100 * target, TARGET_PARALLEL,
		    phase_info[ph].store ? "compress" : "decompress",
		    verdict(ratio >= target), 100 * ratio, phase_info[ph].pool);
	}
	printf("  load p50 <= %.0f us: %s (%.2f)\n", TARGET_P50_US,
	    verdict(p50 <= TARGET_P50_US), p50);
	printf("  load p99 <= %.0f us: %s (%.2f)\n", TARGET_P99_US,
	    verdict(p99 <= TARGET_P99_US), p99);
	if (r->idle.measured)
		printf("  daemon memory <= %.0f KiB per idle client: %s "
		    "(%.1f)\n", TARGET_IDLE_KIB,
		    verdict(r->idle.pss_kib_per_client <= TARGET_IDLE_KIB),
		    r->idle.pss_kib_per_client);
	else
		printf("  daemon memory per idle client: not measured\n");
}

static void
report_json(const struct rpc_report *r)
{
	const struct rpc_opts	*o = r->o;
	const struct zram_bench	*zb = &r->zb;
	const struct idle_result *ir = &r->idle;
	const struct cpu_samples *cs;
	struct bench_json	 j;
	char			 timing[96], key[48];
	enum phase		 ph;

	bench_json_begin(&j, stdout);
	bench_json_u64(&j, "pages", r->npages);
	bench_json_u64(&j, "clients", o->clients);
	bench_json_u64(&j, "batch", o->batch);
	bench_json_maybe_u64(&j, "workers", r->own_daemon, o->workers);
	bench_json_u64(&j, "busy_poll_us", o->busy_poll);
	bench_json_u64(&j, "runs", o->runs);
	for (ph = 0; ph < NPHASES; ph++) {
		snprintf(key, sizeof key, "%s_mbps", phase_info[ph].name);
		bench_json_double(&j, key, bench_median(&r->mbps[ph]));
	}
	bench_json_double(&j, "load_p50_us", bench_median(&r->lat.p50));
	bench_json_double(&j, "load_p99_us", bench_median(&r->lat.p99));
	bench_json_double(&j, "load_p999_us", bench_median(&r->lat.p999));
	bench_json_u64(&j, "verified_pages", r->verified);
	bench_json_u64(&j, "errors", r->errors);
	bench_json_double(&j, "codec_compress_mbps",
	    bench_median(&r->cb.compress_mbps));
	bench_json_double(&j, "codec_decompress_mbps",
	    bench_median(&r->cb.decompress_mbps));
	for (ph = 0; ph < NPHASES; ph++) {
		snprintf(key, sizeof key, "%s_vs_2x_codec",
		    phase_info[ph].name);
		bench_json_double(&j, key, bench_median(&r->ratio[ph]));
	}
	for (ph = 0; ph < NPHASES; ph++) {
		cs = &r->cpu[ph];
		snprintf(key, sizeof key, "%s_client_cpu_us_per_page",
		    phase_info[ph].name);
		bench_json_double(&j, key, bench_median(&cs->clients));
		snprintf(key, sizeof key, "%s_daemon_cpu_us_per_page",
		    phase_info[ph].name);
		bench_json_maybe(&j, key, cs->have_daemon,
		    bench_median(&cs->loop) + bench_median(&cs->workers));
	}
	bench_json_double(&j, "store_others_cpu_us_per_page",
	    bench_median(&r->cpu[PHASE_STORE].others));
	bench_json_maybe(&j, "store_new_frames_per_page",
	    r->store_frames.n > 0, bench_median(&r->store_frames));
	bench_json_maybe(&j, "new_frame_us", r->frame_us.n > 0,
	    bench_median(&r->frame_us));
	bench_json_double(&j, "rtt_p50_us", bench_median(&r->ping.any.p50));
	bench_json_double(&j, "rtt_p99_us", bench_median(&r->ping.any.p99));
	bench_json_maybe(&j, "rtt_same_cpu_p50_us", r->ping.pinned,
	    bench_median(&r->ping.same.p50));
	bench_json_maybe(&j, "rtt_cross_cpu_p50_us", r->ping.pinned,
	    bench_median(&r->ping.cross.p50));
	bench_json_maybe_u64(&j, "idle_clients", ir->measured, ir->clients);
	bench_json_maybe(&j, "idle_kib_per_client", ir->measured,
	    ir->pss_kib_per_client);
	bench_json_maybe(&j, "zram_write_mbps", zb->measured,
	    bench_median(&zb->write_mbps));
	bench_json_maybe(&j, "zram_read_mbps", zb->measured,
	    bench_median(&zb->read_mbps));
	snprintf(timing, sizeof timing, "median of %u runs, CLOCK_MONOTONIC",
	    o->runs);
	bench_json_str(&j, "timing", timing);
	bench_json_end(&j);
}

/* --- options and main ------------------------------------------------------ */

static void
rpc_usage(FILE *f)
{
	fprintf(f,
	    "usage: zpbench rpc --corpus FILE [--clients N] [--batch B] "
	    "[--workers W]\n"
	    "                   [--socket PATH | --zpoold PATH] [--runs N] "
	    "[--loads N]\n"
	    "                   [--idle K] [--busy-poll US] [--no-zram] "
	    "[--json]\n"
	    "Store, load and verify a corpus through zpoold with N client "
	    "processes; time\nsingle-page loads and the bare socket round "
	    "trip; compare with the bare codec\nand, as root, zram0.\n"
	    "  -c, --corpus FILE   corpus of 4 KiB pages\n"
	    "  -n, --clients N     client processes (default 2, at most %d)\n"
	    "  -b, --batch B       pages per store/load call (default 64)\n"
	    "  -w, --workers W     our daemon's workers (default 2)\n"
	    "  -s, --socket PATH   use the daemon at PATH instead of starting "
	    "one\n"
	    "      --zpoold PATH   the daemon to start (default: next to "
	    "zpbench, or $ZPOOLD)\n"
	    "  -r, --runs N        timed runs, median reported (default %d)\n"
	    "  -l, --loads N       timed single-page loads per run (default "
	    "%d)\n"
	    "  -i, --idle K        idle clients for the memory figure "
	    "(default %d; 0: skip)\n"
	    "      --busy-poll US  daemon and clients poll US microseconds "
	    "before they\n"
	    "                      sleep (default %d; 0: never)\n"
	    "      --no-zram       do not touch zram0\n"
	    "  -j, --json          end with one JSON line\n",
	    RPC_MAX_CLIENTS, RPC_RUNS, RPC_DEF_LOADS, RPC_DEF_IDLE,
	    SPIN_DEFAULT_US);
}

static unsigned
opt_u(const char *name, const char *s, uint64_t min, uint64_t max)
{
	const char	*cause;
	uint64_t	 v;

	if (bench_parse_u64(s, min, max, &v, &cause) == -1)
		errx(BENCH_EXIT_USAGE, "--%s %s: %s (%llu..%llu)", name, s,
		    cause, (unsigned long long)min, (unsigned long long)max);
	return (unsigned)v;
}

static void
rpc_parse(int argc, char **argv, struct rpc_opts *o)
{
	static const struct option longopts[] = {
		{ "corpus", required_argument, NULL, 'c' },
		{ "clients", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "workers", required_argument, NULL, 'w' },
		{ "socket", required_argument, NULL, 's' },
		{ "zpoold", required_argument, NULL, 'Z' },
		{ "runs", required_argument, NULL, 'r' },
		{ "loads", required_argument, NULL, 'l' },
		{ "idle", required_argument, NULL, 'i' },
		{ "busy-poll", required_argument, NULL, 'P' },
		{ "no-zram", no_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int	ch;

	memset(o, 0, sizeof *o);
	o->clients = 2;
	o->batch = 64;
	o->workers = 2;
	o->runs = RPC_RUNS;
	o->loads = RPC_DEF_LOADS;
	o->idle = RPC_DEF_IDLE;
	o->busy_poll = SPIN_DEFAULT_US;
	while ((ch = getopt_long(argc, argv, "c:n:b:w:s:r:l:i:jh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->corpus = optarg;
			break;
		case 'n':
			o->clients = opt_u("clients", optarg, 1,
			    RPC_MAX_CLIENTS);
			break;
		case 'b':
			o->batch = opt_u("batch", optarg, 1, RPC_MAX_BATCH);
			break;
		case 'w':
			o->workers = opt_u("workers", optarg, 1, 256);
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'Z':
			o->zpoold = optarg;
			break;
		case 'r':
			o->runs = opt_u("runs", optarg, 1, BENCH_MAX_REPS);
			break;
		case 'l':
			o->loads = opt_u("loads", optarg, 100, RPC_MAX_LOADS);
			break;
		case 'i':
			o->idle = opt_u("idle", optarg, 0, RPC_MAX_IDLE);
			break;
		case 'P':
			o->busy_poll = opt_u("busy-poll", optarg, 0,
			    SPIN_MAX_US);
			break;
		case 'N':
			o->no_zram = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			rpc_usage(stdout);
			exit(BENCH_EXIT_OK);
		default:
			rpc_usage(stderr);
			exit(BENCH_EXIT_USAGE);
		}
	}
	if (optind != argc || o->corpus == NULL) {
		warnx("rpc: --corpus FILE is required%s",
		    optind != argc ? ", and takes no other argument" : "");
		rpc_usage(stderr);
		exit(BENCH_EXIT_USAGE);
	}
	if (o->socket != NULL && o->zpoold != NULL)
		errx(BENCH_EXIT_USAGE, "rpc: --socket and --zpoold exclude "
		    "each other");
}

/* Idle clients need an fd each, in this process and in the daemon. */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The batched runs, each followed by one run of the codec baseline. */
static void
cpu_add(struct cpu_samples *cs, const struct phase_cpu *pc)
{
	cs->have_daemon = pc->have_daemon;
	bench_sample_add(&cs->wall, pc->wall);
	bench_sample_add(&cs->clients, pc->clients);
	bench_sample_add(&cs->loop, pc->loop);
	bench_sample_add(&cs->workers, pc->workers);
	bench_sample_add(&cs->others, pc->others);
	bench_sample_add(&cs->steal, pc->steal);
}

static void
measure_batched(const struct rpc_opts *o, const char *sock, pid_t dpid,
    const struct corpus *c, struct rpc_report *r)
{
	struct tput_run		 run;
	struct codec_bench	 one;
	struct codec_spec	 lz4 = { .id = CODEC_LZ4, .level = 1 };
	const char		*cause;
	double			 us;
	unsigned		 i;
	enum phase		 ph;

	r->verified = c->npages;
	for (i = 0; i < o->runs; i++) {
		if (i > 0 && r->own_daemon)
			sleep_ms(RPC_COLD_MS);
		tput_run(o, sock, dpid, c, &run);
		for (ph = 0; ph < NPHASES; ph++) {
			cpu_add(&r->cpu[ph], &run.cpu[ph]);
			bench_sample_add(&r->mbps[ph], run.mbps[ph]);
		}
		r->errors += run.errors;
		if (run.verified < r->verified)
			r->verified = run.verified;
		if (r->failed[0] == '\0' && run.failed[0] != '\0')
			snprintf(r->failed, sizeof r->failed, "%s", run.failed);

		if (codec_bench_run(&lz4, c->pages, c->npages, 1, &one,
		    &cause) == -1)
			errx(BENCH_EXIT_ERROR, "codec baseline: %s", cause);
		r->cb.compr_bytes = one.compr_bytes;
		r->cb.verify_errors += one.verify_errors;
		bench_sample_add(&r->cb.compress_mbps, one.compress_mbps.v[0]);
		bench_sample_add(&r->cb.decompress_mbps,
		    one.decompress_mbps.v[0]);
		for (ph = 0; ph < NPHASES; ph++)
			bench_sample_add(&r->ratio[ph], div0(run.mbps[ph],
			    TARGET_PARALLEL * (phase_info[ph].store ?
			    one.compress_mbps.v[0] : one.decompress_mbps.v[0])));
		if (run.store_frames > 0 && (us = bench_frame_us()) >= 0) {
			bench_sample_add(&r->store_frames,
			    div0((double)run.store_frames, (double)c->npages));
			bench_sample_add(&r->frame_us, us);
		}
	}
}

static void
print_header(const struct rpc_opts *o, const struct corpus *c,
    const char *sock, const char *bin, pid_t pid)
{
	printf("corpus %s\n  pages %zu\n", o->corpus, c->npages);
	if (bin[0] != '\0')
		printf("daemon %s (ours: pid %ld, --workers %u, empty config: "
		    "lz4, dedup inline;\n  a trim every second, and %u ms "
		    "between runs: each store starts on a pool that\n  must "
		    "grow)\n", bin, (long)pid, o->workers, RPC_COLD_MS);
	else
		printf("daemon at %s (pid %ld; its own settings: a store "
		    "after the first run may\n  find zspages the run before "
		    "emptied, if its trim has not given them back)\n",
		    sock, (long)pid);
	printf("clients %u batch %u\n", o->clients, o->batch);
	printf("timing: CLOCK_MONOTONIC; throughput in MB/s (10^6 B/s) of "
	    "original data;\n  every figure is the median of %u runs [each "
	    "run]; latencies per call,\n  nearest-rank percentiles of each "
	    "run\n", o->runs);
	fflush(stdout);
}

int
cmd_rpc(int argc, char **argv)
{
	struct rpc_opts		 o;
	struct rpc_report	 r;
	struct corpus		 c;
	const char		*cause, *sock;
	char			 bin[PATH_MAX] = "";
	zp_client		*probe;
	pid_t			 pid;
	bool			 bad;
	int			 rc;

	rpc_parse(argc, argv, &o);
	if (corpus_load(o.corpus, &c, &cause) == -1)
		err(BENCH_EXIT_ERROR, "%s: %s", o.corpus, cause);
	if (c.npages == 0)
		errx(BENCH_EXIT_ERROR, "%s: no pages", o.corpus);
	if (c.npages < o.clients)
		errx(BENCH_EXIT_USAGE, "rpc: %zu pages for %u clients",
		    c.npages, o.clients);
	raise_nofile();
	memset(&r, 0, sizeof r);
	r.o = &o;
	r.npages = c.npages;
	if (o.socket == NULL) {
		rpcd_start(&o, bin, sizeof bin);
		sock = rpcd.sock;
		r.own_daemon = true;
	} else {
		sock = o.socket;
		/* Fail now, not in every client. */
		if ((rc = client_connect(&o, sock, "zpbench-rpc", &probe)) != 0)
			errx(BENCH_EXIT_ERROR, "rpc: %s: %s", sock,
			    zp_strerror(rc));
		zp_close(probe);
	}
	pid = peer_pid(sock);
	print_header(&o, &c, sock, bin, pid);

	measure_idle(&o, sock, pid, &r.idle);
	measure_batched(&o, sock, pid, &c, &r);
	measure_latency(&o, sock, &c, &r.lat);
	r.errors += r.lat.errors;
	measure_ping(&o, &r.ping);
	if (r.own_daemon) {
		r.daemon_exit = rpcd_stop();
		if (r.daemon_exit != 0) {
			rpcd_print_log();
			warnx("rpc: zpoold exited %d on SIGTERM, not 0",
			    r.daemon_exit);
		}
		rpcd_remove_files();
		rpcd.dir[0] = '\0';
	}

	/* After the daemon: zram's signal guard replaces ours. */
	if (!o.no_zram &&
	    zram_bench_run(c.pages, c.npages, o.runs, &r.zb, &cause) == -1) {
		warn("zram: %s", cause);
		r.zram_failed = true;
	} else if (o.no_zram)
		snprintf(r.zb.skipped, sizeof r.zb.skipped, "--no-zram");
	corpus_free(&c);

	report_idle(&r);
	report_tput(&r);
	report_latency(&r);
	report_zram(&r);
	report_targets(&r);
	if (o.json)
		report_json(&r);
	bad = r.errors != 0 || r.cb.verify_errors != 0 ||
	    r.zb.verify_errors != 0;
	if (bad)
		warnx("rpc: pages did not come back intact");
	if (bad || r.zram_failed || (r.own_daemon && r.daemon_exit != 0))
		return BENCH_EXIT_ERROR;
	return BENCH_EXIT_OK;
}
