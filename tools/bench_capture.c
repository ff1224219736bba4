/*
 * bench_capture.c -- `zpbench capture`: the anonymous memory of running
 * processes, as a corpus.
 *
 * What zram would see of a process is its private anonymous memory: the
 * heap, the stacks, anonymous mappings.  We take the readable private
 * mappings with no file behind them from /proc/PID/smaps, keep only the
 * pages /proc/PID/pagemap says are resident or swapped (an untouched
 * reservation reads back as zeros but was never memory), and read them
 * with pread(2) on /proc/PID/mem.  A range that cannot be read (a guard
 * page, a process that is exiting) is skipped page by page and counted.
 * Reading another process needs ptrace permission: root, or the parent.
 */

#include <sys/mman.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "corpus.h"
#include "page.h"
#include "size.h"

#define CAP_BATCH	256		/* pages per pread */
#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)

struct cap_opts {
	const char	*output;
	uint64_t	 max_pages;	/* 0: no limit */
	bool		 all;		/* also pages never touched */
};

struct cap_proc {
	pid_t		 pid;
	bool		 self;
	char		 comm[64];
	int		 mem_fd;
	int		 pagemap_fd;
	uint64_t	 mappings;
	uint64_t	 resident;
	uint64_t	 captured;
	uint64_t	 unreadable;
};

struct cap {
	const struct cap_opts	*o;
	struct corpus_writer	*w;
	uint8_t			*buf;		/* CAP_BATCH pages */
	uint64_t		 pagemap[CAP_BATCH];
};

/* Private, readable and anonymous: what could be swapped to zram. */
static bool
mapping_wanted(const char *perms, unsigned long inode, const char *name)
{
	if (perms[0] != 'r' || perms[3] != 'p' || inode != 0)
		return false;
	if (*name == '\0')
		return true;
	return strcmp(name, "[heap]") == 0 ||
	    strncmp(name, "[stack", 6) == 0 ||
	    strncmp(name, "[anon:", 6) == 0;
}

static bool
done(const struct cap *c)
{
	return c->o->max_pages != 0 &&
	    corpus_writer_pages(c->w) >= c->o->max_pages;
}

/* A capture of ourselves must not read its own buffers back in. */
static bool
overlaps_own_buffers(const struct cap *c, uint64_t start, uint64_t end)
{
	const void	*wb;
	size_t		 wlen;
	uint64_t	 a, b;

	a = (uint64_t)(uintptr_t)c->buf;
	b = a + CAP_BATCH * (uint64_t)PAGE_SIZE_4K;
	if (start < b && a < end)
		return true;
	corpus_writer_buffer(c->w, &wb, &wlen);
	a = (uint64_t)(uintptr_t)wb;
	b = a + wlen;
	return start < b && a < end;
}

static void
add_page(struct cap *c, struct cap_proc *p, const uint8_t *page)
{
	if (corpus_writer_add(c->w, page) == -1) {
		corpus_writer_abort(c->w);
		err(BENCH_EXIT_ERROR, "%s", c->o->output);
	}
	p->captured++;
}

/* Pages [start, start + n) that pagemap marked wanted, in runs. */
static void
read_run(struct cap *c, struct cap_proc *p, uint64_t addr, unsigned n)
{
	size_t		len = n * (size_t)PAGE_SIZE_4K;
	unsigned	i;

	if (pread(p->mem_fd, c->buf, len, (off_t)addr) == (ssize_t)len) {
		for (i = 0; i < n && !done(c); i++)
			add_page(c, p, c->buf + i * (size_t)PAGE_SIZE_4K);
		return;
	}
	/* Something in the run is unreadable: find out page by page. */
	for (i = 0; i < n && !done(c); i++) {
		if (pread(p->mem_fd, c->buf, PAGE_SIZE_4K,
		    (off_t)(addr + i * (uint64_t)PAGE_SIZE_4K)) ==
		    (ssize_t)PAGE_SIZE_4K)
			add_page(c, p, c->buf);
		else
			p->unreadable++;
	}
}

static bool
page_wanted(const struct cap *c, uint64_t pm)
{
	return c->o->all || (pm & (PM_PRESENT | PM_SWAPPED)) != 0;
}

static void
capture_range(struct cap *c, struct cap_proc *p, uint64_t start,
    uint64_t end)
{
	uint64_t	addr, n, i, run;
	ssize_t		got;

	for (addr = start; addr < end && !done(c); addr += n * PAGE_SIZE_4K) {
		n = (end - addr) / PAGE_SIZE_4K;
		if (n > CAP_BATCH)
			n = CAP_BATCH;
		got = pread(p->pagemap_fd, c->pagemap, n * sizeof c->pagemap[0],
		    (off_t)(addr / PAGE_SIZE_4K * sizeof c->pagemap[0]));
		if (got != (ssize_t)(n * sizeof c->pagemap[0])) {
			p->unreadable += n;
			continue;
		}
		for (i = 0; i < n && !done(c); i += run) {
			if (!page_wanted(c, c->pagemap[i])) {
				run = 1;
				continue;
			}
			for (run = 1; i + run < n &&
			    page_wanted(c, c->pagemap[i + run]); run++)
				;
			p->resident += run;
			read_run(c, p, addr + i * PAGE_SIZE_4K, (unsigned)run);
		}
	}
}

struct mapping {
	uint64_t	start, end;
	uint64_t	kb;		/* Rss + Swap */
};

struct mappings {
	struct mapping	*v;
	size_t		 n, cap;
};

static int
mappings_add(struct mappings *m, uint64_t start, uint64_t end)
{
	struct mapping	*v;
	size_t		 cap;

	if (m->n == m->cap) {
		cap = m->cap == 0 ? 64 : m->cap * 2;
		if ((v = reallocarray(m->v, cap, sizeof *v)) == NULL)
			return -1;
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n].start = start;
	m->v[m->n].end = end;
	m->v[m->n].kb = 0;
	m->n++;
	return 0;
}

/*
 * The wanted mappings of a process, from smaps, which also says how much
 * of each is resident or swapped: a mapping with none is not walked at
 * all (sanitizer shadows and reservations are terabytes of nothing).
 */
static int
read_smaps(const struct cap *c, const struct cap_proc *p, struct mappings *m)
{
	char		 path[64], perms[8], *line = NULL;
	size_t		 cap = 0;
	uint64_t	 start, end, kb;
	unsigned long	 inode;
	bool		 in = false;
	int		 name, rc = 0;
	FILE		*f;

	snprintf(path, sizeof path, "/proc/%d/smaps", (int)p->pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (rc == 0 && getline(&line, &cap, f) != -1) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %*x %*x:%*x %lu "
		    "%n", &start, &end, perms, &inode, &name) == 4) {
			in = mapping_wanted(perms, inode, line + name) &&
			    !(p->self && overlaps_own_buffers(c, start, end));
			if (in)
				rc = mappings_add(m, start, end);
			continue;
		}
		if (in && (sscanf(line, "Rss: %" SCNu64, &kb) == 1 ||
		    sscanf(line, "Swap: %" SCNu64, &kb) == 1))
			m->v[m->n - 1].kb += kb;
	}
	free(line);
	fclose(f);
	return rc;
}

static int
capture_maps(struct cap *c, struct cap_proc *p)
{
	struct mappings	m = { NULL, 0, 0 };
	size_t		i;

	if (read_smaps(c, p, &m) == -1) {
		free(m.v);
		return -1;
	}
	for (i = 0; i < m.n && !done(c); i++) {
		p->mappings++;
		if (m.v[i].kb != 0 || c->o->all)
			capture_range(c, p, m.v[i].start, m.v[i].end);
	}
	free(m.v);
	return 0;
}

static void
read_comm(struct cap_proc *p)
{
	char	path[64];
	FILE	*f;

	snprintf(path, sizeof path, "/proc/%d/comm", (int)p->pid);
	strcpy(p->comm, "?");
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(p->comm, sizeof p->comm, f) != NULL)
		p->comm[strcspn(p->comm, "\n")] = '\0';
	fclose(f);
}

static int
open_proc(struct cap_proc *p, const char *what)
{
	char	path[64];

	snprintf(path, sizeof path, "/proc/%d/%s", (int)p->pid, what);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Capture one process; -1 (with a warning) if it cannot be read at all. */
static int
capture_pid(struct cap *c, struct cap_proc *p)
{
	read_comm(p);
	p->mem_fd = open_proc(p, "mem");
	p->pagemap_fd = open_proc(p, "pagemap");
	if (p->mem_fd == -1 || p->pagemap_fd == -1) {
		warn("capture: pid %d: cannot open /proc/%d/%s", (int)p->pid,
		    (int)p->pid, p->mem_fd == -1 ? "mem" : "pagemap");
		goto fail;
	}
	if (capture_maps(c, p) == -1) {
		warn("capture: pid %d: cannot read its maps", (int)p->pid);
		goto fail;
	}
	close(p->mem_fd);
	close(p->pagemap_fd);
	return 0;
fail:
	if (p->mem_fd != -1)
		close(p->mem_fd);
	if (p->pagemap_fd != -1)
		close(p->pagemap_fd);
	return -1;
}

static void
capture_usage(FILE *f)
{
	fprintf(f,
	    "usage: zpbench capture [--max-pages N] [--all] -o FILE "
	    "PID|self ...\n"
	    "Write the private anonymous memory (heap, stacks, anonymous "
	    "mappings)\nof processes into a corpus.  Needs ptrace permission "
	    "(root, or the parent).\n"
	    "  -o, --output FILE  corpus to write\n"
	    "  -m, --max-pages N  stop after N pages in all\n"
	    "  -a, --all          also pages never touched (not resident, "
	    "not swapped)\n");
}

static void
capture_parse(int argc, char **argv, struct cap_opts *o)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "max-pages", required_argument, NULL, 'm' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*cause;
	int		 ch;

	memset(o, 0, sizeof *o);
	while ((ch = getopt_long(argc, argv, "o:m:ah", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'o':
			o->output = optarg;
			break;
		case 'm':
			if (bench_parse_u64(optarg, 1, UINT64_MAX, &o->max_pages,
			    &cause) == -1)
				errx(BENCH_EXIT_USAGE, "--max-pages %s: %s",
				    optarg, cause);
			break;
		case 'a':
			o->all = true;
			break;
		case 'h':
			capture_usage(stdout);
			exit(BENCH_EXIT_OK);
		default:
			capture_usage(stderr);
			exit(BENCH_EXIT_USAGE);
		}
	}
	if (o->output == NULL || optind == argc) {
		warnx("capture: -o FILE and at least one PID are required");
		capture_usage(stderr);
		exit(BENCH_EXIT_USAGE);
	}
}

static pid_t
parse_pid(const char *s)
{
	const char	*cause;
	uint64_t	 v;

	if (strcmp(s, "self") == 0)
		return getpid();
	if (bench_parse_u64(s, 1, INT32_MAX, &v, &cause) == -1)
		errx(BENCH_EXIT_USAGE, "capture: '%s' is not a PID", s);
	return (pid_t)v;
}

int
cmd_capture(int argc, char **argv)
{
	struct cap_opts		 o;
	struct cap		 c;
	struct cap_proc		 p;
	struct corpus		 corpus;
	struct corpus_desc	 d;
	const char		*cause;
	uint64_t		 pages;
	int			 i, failed = 0;

	capture_parse(argc, argv, &o);
	memset(&c, 0, sizeof c);
	c.o = &o;
	c.buf = mmap(NULL, CAP_BATCH * (size_t)PAGE_SIZE_4K,
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c.buf == MAP_FAILED)
		err(BENCH_EXIT_ERROR, "capture");
	if ((c.w = corpus_writer_open(o.output)) == NULL)
		err(BENCH_EXIT_ERROR, "%s", o.output);
	for (i = optind; i < argc && !done(&c); i++) {
		memset(&p, 0, sizeof p);
		p.pid = parse_pid(argv[i]);
		p.self = p.pid == getpid();
		if (capture_pid(&c, &p) == -1) {
			failed++;
			continue;
		}
		printf("pid %d (%s): mappings %llu resident %llu captured %llu "
		    "unreadable %llu\n", (int)p.pid, p.comm,
		    (unsigned long long)p.mappings,
		    (unsigned long long)p.resident,
		    (unsigned long long)p.captured,
		    (unsigned long long)p.unreadable);
	}
	munmap(c.buf, CAP_BATCH * (size_t)PAGE_SIZE_4K);
	if ((pages = corpus_writer_pages(c.w)) == 0) {
		corpus_writer_abort(c.w);
		errx(BENCH_EXIT_ERROR, "capture: no page captured; %s not "
		    "written", o.output);
	}
	if (corpus_writer_close(c.w) == -1)
		err(BENCH_EXIT_ERROR, "%s", o.output);
	if (done(&c))
		printf("stopped at --max-pages %llu\n",
		    (unsigned long long)o.max_pages);
	if (corpus_load(o.output, &corpus, &cause) == -1)
		err(BENCH_EXIT_ERROR, "%s: %s", o.output, cause);
	if (corpus_describe(&corpus, &d, &cause) == -1)
		errx(BENCH_EXIT_ERROR, "capture: %s", cause);
	printf("corpus %s\n", o.output);
	corpus_desc_print(&d, "  ", stdout);
	corpus_free(&corpus);
	return failed > 0 ? BENCH_EXIT_ERROR : BENCH_EXIT_OK;
}
