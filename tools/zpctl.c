/*
 * zpctl.c -- the operator's tool for zpoold: one admin connection, one
 * request, and its reply as `key value` lines (a table for `clients`) or
 * as one JSON object.
 *
 * The commands are a table (ctl_cmds); each is a function that takes its
 * own arguments, makes one request through ctl_call() and prints the reply
 * with the out_* functions, which alone know the output formats.  Exit
 * codes are part of the interface (zpctl(8)):
 *
 *	0  done
 *	1  the daemon answered with an error, or zpctl could not finish
 *	   (out of memory, output not written)
 *	2  usage: unknown command, bad argument, bad size
 *	3  no usable connection: cannot connect, timed out, connection lost,
 *	   or a reply that is not what the protocol says
 *
 * Everything from the daemon is untrusted text on the way to a terminal or
 * a JSON parser: strings are made printable (human output) or escaped
 * (JSON) here, whatever the daemon promises.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zpclient.h"
#include "size.h"
#include "wire.h"

#define CTL_EXIT_OK		0
#define CTL_EXIT_DAEMON		1
#define CTL_EXIT_USAGE		2
#define CTL_EXIT_CONNECT	3

#define CTL_TIMEOUT_DEFAULT	10		/* seconds */
#define CTL_TIMEOUT_MAX		86400
#define CTL_DEPTH_MAX		4		/* JSON nesting we print */
#define CTL_HELLO_ID		1
#define CTL_REQUEST_ID		2

struct ctl;

struct ctl_cmd {
	const char	*name;
	int		(*fn)(struct ctl *, int, char **);
	const char	*args;		/* after the name, for usage lines */
	const char	*help;
};

struct ctl {
	const struct ctl_cmd	*cmd;
	const char		*socket;	/* -s, or NULL: the default */
	int			 timeout;	/* seconds, for the whole exchange */
	bool			 json;
	bool			 bytes;

	int			 fd;
	struct timespec		 deadline;	/* CLOCK_MONOTONIC */
	uint8_t			 rbuf[WIRE_HEADER_LEN + WIRE_FRAME_MAX];
	size_t			 rlen;

	/* JSON: nesting depth, and whether the open level is still empty. */
	int			 depth;
	bool			 empty[CTL_DEPTH_MAX];
};

static int	cmd_status(struct ctl *, int, char **);
static int	cmd_clients(struct ctl *, int, char **);
static int	cmd_budget(struct ctl *, int, char **);
static int	cmd_limit(struct ctl *, int, char **);
static int	cmd_merge(struct ctl *, int, char **);
static int	cmd_compact(struct ctl *, int, char **);

static const struct ctl_cmd ctl_cmds[] = {
	{ "status", cmd_status, "",
	    "show the pool's global figures" },
	{ "clients", cmd_clients, "",
	    "show every connected client, one row each" },
	{ "budget", cmd_budget, "[SIZE|none]",
	    "show the global budget, or set it and report how far the pool "
	    "shrank" },
	{ "limit", cmd_limit, "{CLIENT|default} {SIZE|none}",
	    "set the limit of one client, or the default of new clients" },
	{ "merge", cmd_merge, "",
	    "merge identical pages now" },
	{ "compact", cmd_compact, "",
	    "compact the pool now" },
};
#define CTL_NCMDS	(sizeof ctl_cmds / sizeof ctl_cmds[0])

static const struct option ctl_options[] = {
	{ "bytes",	no_argument,		NULL, 'b' },
	{ "help",	no_argument,		NULL, 'h' },
	{ "json",	no_argument,		NULL, 'j' },
	{ "socket",	required_argument,	NULL, 's' },
	{ "timeout",	required_argument,	NULL, 't' },
	{ "version",	no_argument,		NULL, 'V' },
	{ NULL,		0,			NULL, 0 }
};

#define CTL_USAGE	"usage: zpctl [-bj] [-s socket] [-t seconds] "

/* Messages: "zpctl: COMMAND: ...", on stderr. */

static void
ctl_vwarnx(const struct ctl *ctl, const char *fmt, va_list ap)
{
	fputs("zpctl: ", stderr);
	if (ctl->cmd != NULL)
		fprintf(stderr, "%s: ", ctl->cmd->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void __attribute__((format(printf, 2, 3)))
ctl_warnx(const struct ctl *ctl, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	ctl_vwarnx(ctl, fmt, ap);
	va_end(ap);
}

static void
ctl_usage(FILE *f)
{
	size_t	i;

	fprintf(f, CTL_USAGE "command [argument ...]\n\ncommands:\n");
	for (i = 0; i < CTL_NCMDS; i++)
		fprintf(f, "  %-8s %s\n", ctl_cmds[i].name, ctl_cmds[i].help);
	fprintf(f, "\noptions:\n"
	    "  -b, --bytes          sizes in bytes, not as 512M or 1.5G\n"
	    "  -j, --json           one JSON object instead of key value "
	    "lines\n"
	    "  -s, --socket PATH    the daemon's socket (default: $%s, "
	    "then %s)\n"
	    "  -t, --timeout SECS   give up after SECS seconds (default: "
	    "%d)\n"
	    "  -h, --help           this text; `zpctl COMMAND --help` for "
	    "one command\n"
	    "  -V, --version        zpctl's version\n",
	    ZP_SOCKET_ENV, ZP_DEFAULT_SOCKET, CTL_TIMEOUT_DEFAULT);
}

static void
ctl_cmd_usage(const struct ctl_cmd *cmd, FILE *f)
{
	fprintf(f, CTL_USAGE "%s%s%s\n", cmd->name,
	    *cmd->args != '\0' ? " " : "", cmd->args);
}

/* A usage error: what is wrong, then how it is used. */
static int __attribute__((format(printf, 2, 3)))
ctl_bad_usage(const struct ctl *ctl, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	ctl_vwarnx(ctl, fmt, ap);
	va_end(ap);
	if (ctl->cmd != NULL)
		ctl_cmd_usage(ctl->cmd, stderr);
	else
		fprintf(stderr, CTL_USAGE "command [argument ...]   "
		    "(zpctl --help)\n");
	return CTL_EXIT_USAGE;
}

/*
 * The names of the codes in zpclient.h, for messages a person can look up.
 * zp_strerror() gives the text; there is no library call for the name.
 */
static const char *
ctl_errname(int code)
{
	static const struct {
		int		 code;
		const char	*name;
	} names[] = {
		{ ZP_EPERM, "ZP_EPERM" },	{ ZP_ENOENT, "ZP_ENOENT" },
		{ ZP_EIO, "ZP_EIO" },		{ ZP_EAGAIN, "ZP_EAGAIN" },
		{ ZP_ENOMEM, "ZP_ENOMEM" },	{ ZP_EBUSY, "ZP_EBUSY" },
		{ ZP_EINVAL, "ZP_EINVAL" },	{ ZP_ENOSPC, "ZP_ENOSPC" },
		{ ZP_EPROTO, "ZP_EPROTO" },	{ ZP_EMSGSIZE, "ZP_EMSGSIZE" },
		{ ZP_ECONNRESET, "ZP_ECONNRESET" },
		{ ZP_ENOTCONN, "ZP_ENOTCONN" },
	};
	size_t	i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].code == code)
			return names[i].name;
	return NULL;
}

/* Untrusted text made printable, cut at `len`. */
static const char *
ctl_printable(const char *s, char *buf, size_t len)
{
	size_t	i;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static int
ctl_daemon_error(const struct ctl *ctl, const Zpool__ErrorReply *er)
{
	const char	*name = ctl_errname(er->code);
	char		 msg[WIRE_MESSAGE_MAX + 1], num[32];

	if (name == NULL) {
		snprintf(num, sizeof num, "code %d", (int)er->code);
		name = num;
	}
	/* The daemon's message says more than the code's generic text. */
	ctl_printable(er->message, msg, sizeof msg);
	ctl_warnx(ctl, "%s (%s)", *msg != '\0' ? msg : zp_strerror(er->code),
	    name);
	return CTL_EXIT_DAEMON;
}

/* Output.  Human: `key value` lines; JSON: one object on one line. */

static void
out_json_string(const char *s)
{
	const unsigned char	*p;

	putchar('"');
	for (p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0';
	    p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);	/* also: never invalid UTF-8 */
		else
			putchar(*p);
	}
	putchar('"');
}

/* JSON: the separator and key of a new member (key NULL in an array). */
static void
out_key(struct ctl *ctl, const char *key)
{
	if (!ctl->json) {
		printf("%s ", key);
		return;
	}
	if (!ctl->empty[ctl->depth])
		fputs(", ", stdout);
	ctl->empty[ctl->depth] = false;
	if (key != NULL) {
		out_json_string(key);
		fputs(": ", stdout);
	}
}

static void
out_end_member(const struct ctl *ctl)
{
	if (!ctl->json)
		putchar('\n');
}

/* Open an object or array ('{' or '['), as a member `key` when nested. */
static void
out_open(struct ctl *ctl, const char *key, char c)
{
	if (ctl->depth > 0 || key != NULL)
		out_key(ctl, key);
	putchar(c);
	ctl->depth++;
	ctl->empty[ctl->depth] = true;
}

static void
out_close(struct ctl *ctl, char c)
{
	putchar(c);
	ctl->depth--;
	if (ctl->depth == 0)
		putchar('\n');
}

static void
out_begin(struct ctl *ctl)
{
	ctl->depth = 0;
	if (ctl->json)
		out_open(ctl, NULL, '{');
}

static void
out_end(struct ctl *ctl)
{
	if (ctl->json)
		out_close(ctl, '}');
}

static void
out_u64(struct ctl *ctl, const char *key, uint64_t v)
{
	out_key(ctl, key);
	printf("%" PRIu64, v);
	out_end_member(ctl);
}

/* A size: exact bytes in JSON and with -b, else as people write it. */
static void
out_size(struct ctl *ctl, const char *key, uint64_t v)
{
	char	buf[SIZE_FORMAT_LEN];

	if (ctl->json || ctl->bytes) {
		out_u64(ctl, key, v);
		return;
	}
	out_key(ctl, key);
	fputs(size_format(v, buf, sizeof buf), stdout);
	out_end_member(ctl);
}

/* A budget or limit, where 0 means none: "none" for people, 0 in JSON. */
static void
out_limit(struct ctl *ctl, const char *key, uint64_t v)
{
	if (v != 0 || ctl->json) {
		out_size(ctl, key, v);
		return;
	}
	out_key(ctl, key);
	fputs("none", stdout);
	out_end_member(ctl);
}

static void
out_bool(struct ctl *ctl, const char *key, bool v)
{
	out_key(ctl, key);
	if (ctl->json)
		fputs(v ? "true" : "false", stdout);
	else
		fputs(v ? "yes" : "no", stdout);
	out_end_member(ctl);
}

/* A string value; for people, one token whatever the daemon sent. */
static void
out_str(struct ctl *ctl, const char *key, const char *v)
{
	char	buf[WIRE_MESSAGE_MAX + 1];
	size_t	i;

	out_key(ctl, key);
	if (ctl->json)
		out_json_string(v);
	else {
		ctl_printable(v, buf, sizeof buf);
		for (i = 0; buf[i] != '\0'; i++)
			if (buf[i] == ' ')
				buf[i] = '?';
		fputs(*buf != '\0' ? buf : "-", stdout);
	}
	out_end_member(ctl);
}

/* num / den with two decimals; 0 when there is nothing to divide. */
static void
out_ratio(struct ctl *ctl, const char *key, uint64_t num, uint64_t den)
{
	out_key(ctl, key);
	printf("%.2f", den != 0 ? (double)num / (double)den : 0.0);
	out_end_member(ctl);
}

/* Talking to the daemon. */

static int
ctl_remaining_ms(const struct ctl *ctl)
{
	struct timespec	now;
	long long	ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(ctl->deadline.tv_sec - now.tv_sec) * 1000 +
	    (ctl->deadline.tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int
ctl_send(struct ctl *ctl, const wire_frame *f)
{
	uint8_t	*buf;
	size_t	 len, off = 0;
	ssize_t	 n;

	if ((len = wire_encode(f, &buf)) == 0) {
		ctl_warnx(ctl, "cannot encode the %s request",
		    wire_body_name(f));
		return CTL_EXIT_CONNECT;
	}
	while (off < len) {
		n = send(ctl->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			ctl_warnx(ctl, "sending to the daemon: %s",
			    errno == EAGAIN ? "timed out" : strerror(errno));
			free(buf);
			return CTL_EXIT_CONNECT;
		}
		off += (size_t)n;
	}
	free(buf);
	return CTL_EXIT_OK;
}

/* Read one whole, checked frame before the deadline. */
static int
ctl_recv(struct ctl *ctl, wire_frame **out)
{
	struct pollfd	 pfd = { .fd = ctl->fd, .events = POLLIN };
	const char	*cause;
	size_t		 used;
	ssize_t		 n;
	int		 rc, ms;

	for (;;) {
		rc = wire_decode(ctl->rbuf, ctl->rlen, out, &used, &cause);
		if (rc == 1)
			break;
		if (rc == -1) {
			ctl_warnx(ctl, "bad frame from the daemon: %s", cause);
			return CTL_EXIT_CONNECT;
		}
		if ((ms = ctl_remaining_ms(ctl)) == 0) {
			ctl_warnx(ctl, "no answer from the daemon in %d s",
			    ctl->timeout);
			return CTL_EXIT_CONNECT;
		}
		if ((rc = poll(&pfd, 1, ms)) == -1 && errno != EINTR) {
			ctl_warnx(ctl, "poll: %s", strerror(errno));
			return CTL_EXIT_CONNECT;
		}
		if (rc <= 0)
			continue;
		n = recv(ctl->fd, ctl->rbuf + ctl->rlen,
		    sizeof ctl->rbuf - ctl->rlen, 0);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			ctl_warnx(ctl, "connection closed by the daemon%s%s",
			    n == 0 ? "" : ": ", n == 0 ? "" : strerror(errno));
			return CTL_EXIT_CONNECT;
		}
		ctl->rlen += (size_t)n;
	}
	/* Keep what follows the frame for the next call. */
	memmove(ctl->rbuf, ctl->rbuf + used, ctl->rlen - used);
	ctl->rlen -= used;
	if (wire_check(*out, &cause) != 0) {
		ctl_warnx(ctl, "bad %s frame from the daemon: %s",
		    wire_body_name(*out), cause);
		wire_free(*out);
		*out = NULL;
		return CTL_EXIT_CONNECT;
	}
	return CTL_EXIT_OK;
}

/*
 * Send `req` under `id` and read its reply, which must be `want` or an
 * ErrorReply; an error before the daemon has read our hello carries id 0.
 * On success *out is the reply (free with wire_free).
 */
static int
ctl_exchange(struct ctl *ctl, wire_frame *req, uint64_t id,
    Zpool__Frame__BodyCase want, wire_frame **out)
{
	wire_frame	*f;
	int		 rv;

	req->id = id;
	if ((rv = ctl_send(ctl, req)) != CTL_EXIT_OK ||
	    (rv = ctl_recv(ctl, &f)) != CTL_EXIT_OK)
		return rv;
	if (f->body_case == ZPOOL__FRAME__BODY_ERROR &&
	    (f->id == id || f->id == 0)) {
		rv = ctl_daemon_error(ctl, f->error);
		wire_free(f);
		return rv;
	}
	if (f->id != id || f->body_case != want) {
		ctl_warnx(ctl, "unexpected %s frame (id %" PRIu64 ") from the "
		    "daemon", wire_body_name(f), f->id);
		wire_free(f);
		return CTL_EXIT_CONNECT;
	}
	*out = f;
	return CTL_EXIT_OK;
}

/*
 * Sends (and a connect that waits for room in a full backlog) give up
 * after the timeout (wire_dial); reads poll to the deadline.
 */
static int
ctl_connect(struct ctl *ctl)
{
	const char	*path = zp_socket_path(ctl->socket);
	int		 fd;

	clock_gettime(CLOCK_MONOTONIC, &ctl->deadline);
	ctl->deadline.tv_sec += ctl->timeout;
	if ((fd = wire_dial(path, ctl->timeout)) == -ENAMETOOLONG)
		return ctl_bad_usage(ctl, "socket path too long: %s", path);
	if (fd < 0) {
		ctl_warnx(ctl, "cannot connect to %s: %s%s", path,
		    fd == -ETIMEDOUT ? "timed out" : strerror(-fd),
		    fd == -ENOENT || fd == -ECONNREFUSED ? " (is zpoold "
		    "running? -s PATH or $ZPOOLD_SOCKET name another socket)" :
		    "");
		return CTL_EXIT_CONNECT;
	}
	ctl->fd = fd;
	return CTL_EXIT_OK;
}

/* Connect and say hello as an admin connection: no staging, no fd. */
static int
ctl_open(struct ctl *ctl)
{
	Zpool__Hello	 h = ZPOOL__HELLO__INIT;
	wire_frame	 req = ZPOOL__FRAME__INIT, *f;
	int		 rv;

	if ((rv = ctl_connect(ctl)) != CTL_EXIT_OK)
		return rv;
	h.version = ZP_PROTOCOL_VERSION;
	h.name = "zpctl";
	h.slots = 0;
	req.body_case = ZPOOL__FRAME__BODY_HELLO;
	req.hello = &h;
	if ((rv = ctl_exchange(ctl, &req, CTL_HELLO_ID,
	    ZPOOL__FRAME__BODY_HELLO_REPLY, &f)) != CTL_EXIT_OK)
		return rv;
	if (f->hello_reply->version != ZP_PROTOCOL_VERSION) {
		ctl_warnx(ctl, "the daemon speaks protocol %u, zpctl %u",
		    f->hello_reply->version, ZP_PROTOCOL_VERSION);
		rv = CTL_EXIT_CONNECT;
	}
	wire_free(f);
	return rv;
}

/* The one request of this run, and its reply in *out. */
static int
ctl_call(struct ctl *ctl, wire_frame *req, Zpool__Frame__BodyCase want,
    wire_frame **out)
{
	int	rv;

	if (ctl->fd == -1 && (rv = ctl_open(ctl)) != CTL_EXIT_OK)
		return rv;
	return ctl_exchange(ctl, req, CTL_REQUEST_ID, want, out);
}

static int
ctl_stats(struct ctl *ctl, bool all_clients, wire_frame **out)
{
	Zpool__StatsRequest	 sr = ZPOOL__STATS_REQUEST__INIT;
	wire_frame		 req = ZPOOL__FRAME__INIT;
	int			 rv;

	sr.all_clients = all_clients;
	req.body_case = ZPOOL__FRAME__BODY_STATS;
	req.stats = &sr;
	if ((rv = ctl_call(ctl, &req, ZPOOL__FRAME__BODY_STATS_REPLY,
	    out)) != CTL_EXIT_OK)
		return rv;
	if ((*out)->stats_reply->pool == NULL) {
		ctl_warnx(ctl, "stats reply without the pool's figures");
		wire_free(*out);
		return CTL_EXIT_CONNECT;
	}
	return CTL_EXIT_OK;
}

/* Arguments. */

/* A size argument: as size_parse() reads it, or "none" for 0. */
static int
ctl_parse_size(const struct ctl *ctl, const char *s, uint64_t *bytes)
{
	const char	*cause;

	if (strcmp(s, "none") == 0) {
		*bytes = 0;
		return CTL_EXIT_OK;
	}
	if (size_parse(s, bytes, &cause) != 0)
		return ctl_bad_usage(ctl, "bad size '%s': %s", s, cause);
	return CTL_EXIT_OK;
}

/* A client id as `zpctl clients` shows it, or "default" for 0. */
static int
ctl_parse_client(const struct ctl *ctl, const char *s, uint64_t *id)
{
	char			*end;
	unsigned long long	 v;

	if (strcmp(s, "default") == 0) {
		*id = 0;
		return CTL_EXIT_OK;
	}
	errno = 0;
	v = isdigit((unsigned char)*s) ? strtoull(s, &end, 10) : 0;
	if (v == 0 || errno != 0 || *end != '\0')
		return ctl_bad_usage(ctl, "bad client '%s': a client id from "
		    "`zpctl clients`, or default", s);
	*id = v;
	return CTL_EXIT_OK;
}

static int
ctl_parse_timeout(const struct ctl *ctl, const char *s, int *secs)
{
	char	*end;
	long	 v;

	errno = 0;
	v = isdigit((unsigned char)*s) ? strtol(s, &end, 10) : 0;
	if (v < 1 || v > CTL_TIMEOUT_MAX || errno != 0 || *end != '\0')
		return ctl_bad_usage(ctl, "bad timeout '%s': whole seconds, "
		    "1 to %d", s, CTL_TIMEOUT_MAX);
	*secs = (int)v;
	return CTL_EXIT_OK;
}

/* Commands. */

static int
cmd_status(struct ctl *ctl, int argc, char **argv)
{
	const Zpool__PoolStats	*p;
	wire_frame		*f;
	int			 rv;

	if (argc != 1)
		return ctl_bad_usage(ctl, "no arguments expected");
	if ((rv = ctl_stats(ctl, false, &f)) != CTL_EXIT_OK)
		return rv;
	p = f->stats_reply->pool;

	out_begin(ctl);
	/* zram's mm_stat, in its order */
	out_size(ctl, "orig_data_size", p->orig_data_size);
	out_size(ctl, "compr_data_size", p->compr_data_size);
	out_size(ctl, "mem_used_total", p->mem_used_total);
	out_limit(ctl, "mem_limit", p->mem_limit);
	out_size(ctl, "mem_used_max", p->mem_used_max);
	out_u64(ctl, "same_pages", p->same_pages);
	out_u64(ctl, "pages_compacted", p->pages_compacted);
	out_u64(ctl, "huge_pages", p->huge_pages);
	/* dedup */
	out_u64(ctl, "pages_merged", p->pages_merged);
	out_u64(ctl, "dedup_hits", p->dedup_hits);
	out_size(ctl, "dedup_bytes_saved", p->dedup_bytes_saved);
	/* what the pool is made of */
	out_u64(ctl, "pool_frames", p->pool_frames);
	out_u64(ctl, "empty_frames", p->empty_frames);
	out_size(ctl, "meta_bytes", p->meta_bytes);
	out_u64(ctl, "objects", p->objects);
	out_ratio(ctl, "compr_ratio", p->orig_data_size, p->compr_data_size);
	out_ratio(ctl, "ratio", p->orig_data_size, p->mem_used_total);
	/* budget */
	out_u64(ctl, "budget_frames", p->budget_frames);
	out_bool(ctl, "accepting", p->accepting);
	out_limit(ctl, "default_limit", p->default_limit);
	out_u64(ctl, "refused_stores", p->refused_stores);
	/* settings and load */
	out_str(ctl, "codec", p->codec);
	out_str(ctl, "dedup_mode", p->dedup_mode);
	out_str(ctl, "dedup_scope", p->dedup_scope);
	out_u64(ctl, "workers", p->workers);
	out_u64(ctl, "clients", p->clients);
	out_end(ctl);
	wire_free(f);
	return CTL_EXIT_OK;
}

static void
clients_json(struct ctl *ctl, const Zpool__StatsReply *sr)
{
	const Zpool__ClientStats	*c;
	size_t				 i;

	out_begin(ctl);
	out_open(ctl, "clients", '[');
	for (i = 0; i < sr->n_clients; i++) {
		c = sr->clients[i];
		out_open(ctl, NULL, '{');
		out_u64(ctl, "client_id", c->client_id);
		out_u64(ctl, "pid", c->pid);
		out_u64(ctl, "uid", c->uid);
		out_str(ctl, "name", c->name);
		out_u64(ctl, "pages_stored", c->pages_stored);
		out_size(ctl, "orig_data_size", c->orig_bytes);
		out_size(ctl, "compr_data_size", c->compr_bytes);
		out_size(ctl, "charged_size", c->charged_bytes);
		out_u64(ctl, "shared_pages", c->shared_pages);
		out_limit(ctl, "limit", c->limit_bytes);
		out_u64(ctl, "refused_stores", c->refused_stores);
		out_u64(ctl, "stores", c->stores);
		out_u64(ctl, "loads", c->loads);
		out_u64(ctl, "frees", c->frees);
		out_close(ctl, '}');
	}
	out_close(ctl, ']');
	out_bool(ctl, "complete", sr->n_clients == sr->pool->clients);
	out_end(ctl);
}

#define CLIENT_COLS	11

static const struct {
	const char	*head;
	bool		 left;		/* text, aligned left */
} client_cols[CLIENT_COLS] = {
	{ "ID", false }, { "PID", false }, { "UID", false }, { "NAME", true },
	{ "PAGES", false }, { "ORIG", false }, { "COMPR", false },
	{ "CHARGED", false }, { "SHARED", false }, { "LIMIT", false },
	{ "REFUSED", false },
};

static void
clients_cell_size(const struct ctl *ctl, char *cell, size_t len, uint64_t v)
{
	if (ctl->bytes)
		snprintf(cell, len, "%" PRIu64, v);
	else
		size_format(v, cell, len);
}

static void
clients_row(const struct ctl *ctl, const Zpool__ClientStats *c,
    char cells[CLIENT_COLS][WIRE_NAME_MAX + 1])
{
	const size_t	len = WIRE_NAME_MAX + 1;
	size_t		i;

	snprintf(cells[0], len, "%" PRIu64, c->client_id);
	snprintf(cells[1], len, "%" PRIu32, c->pid);
	snprintf(cells[2], len, "%" PRIu32, c->uid);
	ctl_printable(c->name, cells[3], len);
	for (i = 0; cells[3][i] != '\0'; i++)
		if (cells[3][i] == ' ')
			cells[3][i] = '?';
	if (cells[3][0] == '\0')
		snprintf(cells[3], len, "-");
	snprintf(cells[4], len, "%" PRIu64, c->pages_stored);
	clients_cell_size(ctl, cells[5], len, c->orig_bytes);
	clients_cell_size(ctl, cells[6], len, c->compr_bytes);
	clients_cell_size(ctl, cells[7], len, c->charged_bytes);
	snprintf(cells[8], len, "%" PRIu64, c->shared_pages);
	if (c->limit_bytes == 0)
		snprintf(cells[9], len, "none");
	else
		clients_cell_size(ctl, cells[9], len, c->limit_bytes);
	snprintf(cells[10], len, "%" PRIu64, c->refused_stores);
}

static void
clients_print_row(char cells[CLIENT_COLS][WIRE_NAME_MAX + 1],
    const int width[CLIENT_COLS])
{
	int	i;

	for (i = 0; i < CLIENT_COLS; i++) {
		if (i == CLIENT_COLS - 1)
			printf("%*s\n", width[i], cells[i]);
		else
			printf("%*s  ", client_cols[i].left ? -width[i] :
			    width[i], cells[i]);
	}
}

/* An aligned table, one row per client, for people. */
static int
clients_table(struct ctl *ctl, const Zpool__StatsReply *sr)
{
	char	(*cells)[CLIENT_COLS][WIRE_NAME_MAX + 1];
	int	 width[CLIENT_COLS], i, w;
	size_t	 r, n = sr->n_clients + 1;

	if ((cells = calloc(n, sizeof *cells)) == NULL) {
		ctl_warnx(ctl, "out of memory");
		return CTL_EXIT_DAEMON;
	}
	for (i = 0; i < CLIENT_COLS; i++)
		snprintf(cells[0][i], sizeof cells[0][i], "%s",
		    client_cols[i].head);
	for (r = 1; r < n; r++)
		clients_row(ctl, sr->clients[r - 1], cells[r]);
	for (i = 0; i < CLIENT_COLS; i++) {
		width[i] = 0;
		for (r = 0; r < n; r++)
			if ((w = (int)strlen(cells[r][i])) > width[i])
				width[i] = w;
	}
	for (r = 0; r < n; r++)
		clients_print_row(cells[r], width);
	free(cells);
	return CTL_EXIT_OK;
}

static int
cmd_clients(struct ctl *ctl, int argc, char **argv)
{
	const Zpool__StatsReply	*sr;
	wire_frame		*f;
	int			 rv;

	if (argc != 1)
		return ctl_bad_usage(ctl, "no arguments expected");
	if ((rv = ctl_stats(ctl, true, &f)) != CTL_EXIT_OK)
		return rv;
	sr = f->stats_reply;
	/*
	 * The daemon lists clients to admin peers only, and an admin peer
	 * always sees at least itself: an empty list is a refusal.
	 */
	if (sr->n_clients == 0) {
		ctl_warnx(ctl, "the daemon lists clients to root and its own "
		    "user only (%s)", ctl_errname(ZP_EPERM));
		wire_free(f);
		return CTL_EXIT_DAEMON;
	}
	if (ctl->json)
		clients_json(ctl, sr);
	else if ((rv = clients_table(ctl, sr)) == CTL_EXIT_OK) {
		/* The daemon cuts a list that would not fit in one frame. */
		if (sr->n_clients < sr->pool->clients)
			ctl_warnx(ctl, "%zu of %" PRIu64 " clients shown: the "
			    "rest do not fit in one reply", sr->n_clients,
			    sr->pool->clients);
	}
	wire_free(f);
	return rv;
}

static int
cmd_budget(struct ctl *ctl, int argc, char **argv)
{
	Zpool__BudgetRequest	 br = ZPOOL__BUDGET_REQUEST__INIT;
	const Zpool__BudgetReply *r;
	wire_frame		 req = ZPOOL__FRAME__INIT, *f;
	int			 rv;

	if (argc > 2)
		return ctl_bad_usage(ctl, "one size at most");
	if (argc == 2) {
		if ((rv = ctl_parse_size(ctl, argv[1],
		    &br.budget_bytes)) != CTL_EXIT_OK)
			return rv;
		br.set = true;
	}
	req.body_case = ZPOOL__FRAME__BODY_BUDGET;
	req.budget = &br;
	if ((rv = ctl_call(ctl, &req, ZPOOL__FRAME__BODY_BUDGET_REPLY,
	    &f)) != CTL_EXIT_OK)
		return rv;
	r = f->budget_reply;
	out_begin(ctl);
	out_limit(ctl, "budget", r->budget_bytes);
	out_size(ctl, "mem_used_total", r->mem_used_total);
	out_bool(ctl, "met", r->met);
	out_u64(ctl, "frames_released", r->frames_released);
	out_end(ctl);
	wire_free(f);
	return CTL_EXIT_OK;
}

static int
cmd_limit(struct ctl *ctl, int argc, char **argv)
{
	Zpool__LimitRequest	 lr = ZPOOL__LIMIT_REQUEST__INIT;
	const Zpool__LimitReply	*r;
	wire_frame		 req = ZPOOL__FRAME__INIT, *f;
	int			 rv;

	if (argc != 3)
		return ctl_bad_usage(ctl, "a client and a size expected");
	if ((rv = ctl_parse_client(ctl, argv[1], &lr.client_id)) !=
	    CTL_EXIT_OK ||
	    (rv = ctl_parse_size(ctl, argv[2], &lr.limit_bytes)) !=
	    CTL_EXIT_OK)
		return rv;
	req.body_case = ZPOOL__FRAME__BODY_LIMIT;
	req.limit = &lr;
	if ((rv = ctl_call(ctl, &req, ZPOOL__FRAME__BODY_LIMIT_REPLY,
	    &f)) != CTL_EXIT_OK)
		return rv;
	r = f->limit_reply;
	out_begin(ctl);
	if (r->client_id == 0 && !ctl->json)
		out_str(ctl, "client_id", "default");
	else
		out_u64(ctl, "client_id", r->client_id);
	out_limit(ctl, "limit", r->limit_bytes);
	out_end(ctl);
	wire_free(f);
	return CTL_EXIT_OK;
}

static int
cmd_merge(struct ctl *ctl, int argc, char **argv)
{
	Zpool__MergeRequest	 mr = ZPOOL__MERGE_REQUEST__INIT;
	const Zpool__MergeReply	*r;
	wire_frame		 req = ZPOOL__FRAME__INIT, *f;
	int			 rv;

	if (argc != 1)
		return ctl_bad_usage(ctl, "no arguments expected");
	req.body_case = ZPOOL__FRAME__BODY_MERGE;
	req.merge = &mr;
	if ((rv = ctl_call(ctl, &req, ZPOOL__FRAME__BODY_MERGE_REPLY,
	    &f)) != CTL_EXIT_OK)
		return rv;
	r = f->merge_reply;
	out_begin(ctl);
	out_u64(ctl, "pages_scanned", r->pages_scanned);
	out_u64(ctl, "pages_merged", r->pages_merged);
	out_u64(ctl, "frames_released", r->frames_released);
	out_end(ctl);
	wire_free(f);
	return CTL_EXIT_OK;
}

static int
cmd_compact(struct ctl *ctl, int argc, char **argv)
{
	Zpool__CompactRequest	 cr = ZPOOL__COMPACT_REQUEST__INIT;
	const Zpool__CompactReply *r;
	wire_frame		 req = ZPOOL__FRAME__INIT, *f;
	int			 rv;

	if (argc != 1)
		return ctl_bad_usage(ctl, "no arguments expected");
	req.body_case = ZPOOL__FRAME__BODY_COMPACT;
	req.compact = &cr;
	if ((rv = ctl_call(ctl, &req, ZPOOL__FRAME__BODY_COMPACT_REPLY,
	    &f)) != CTL_EXIT_OK)
		return rv;
	r = f->compact_reply;
	out_begin(ctl);
	out_u64(ctl, "pages_moved", r->pages_moved);
	out_u64(ctl, "frames_released", r->frames_released);
	out_end(ctl);
	wire_free(f);
	return CTL_EXIT_OK;
}

/*
 * The argument getopt just refused: it moves past an argument only after
 * its last letter ("-1" is behind optind, "-1G" still at it).
 */
static const char *
ctl_bad_arg(int argc, char **argv)
{
	const char	*prev = argv[optind - 1];
	size_t		 len = strlen(prev);

	if (prev[0] == '-' && len > 1 && prev[len - 1] == optopt)
		return prev;
	return optind < argc ? argv[optind] : prev;
}

/*
 * Options, before the command (`zpctl -j status`) or after it (`zpctl
 * status -j`).  Returns -1 to go on, or an exit code.
 */
static int
ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *optstring)
{
	int	ch, rv;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, ctl_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			ctl->bytes = true;
			break;
		case 'h':
			if (ctl->cmd == NULL)
				ctl_usage(stdout);
			else {
				ctl_cmd_usage(ctl->cmd, stdout);
				printf("\n%s.\n", ctl->cmd->help);
			}
			return CTL_EXIT_OK;
		case 'j':
			ctl->json = true;
			break;
		case 's':
			if (*optarg == '\0')
				return ctl_bad_usage(ctl, "empty socket path");
			ctl->socket = optarg;
			break;
		case 't':
			if ((rv = ctl_parse_timeout(ctl, optarg,
			    &ctl->timeout)) != CTL_EXIT_OK)
				return rv;
			break;
		case 'V':
			printf("zpctl %s (protocol %d)\n", PACKAGE_VERSION,
			    ZP_PROTOCOL_VERSION);
			return CTL_EXIT_OK;
		default:
			if (optopt == 's' || optopt == 't')
				return ctl_bad_usage(ctl, "option -%c needs "
				    "a value", optopt);
			/* "budget -1": a size, not an option */
			if (optopt >= '0' && optopt <= '9')
				return ctl_bad_usage(ctl, "bad size '%s': a "
				    "size cannot be negative",
				    ctl_bad_arg(argc, argv));
			if (optopt != 0)
				return ctl_bad_usage(ctl, "unknown option "
				    "-%c", optopt);
			return ctl_bad_usage(ctl, "unknown option %s",
			    argv[optind - 1]);
		}
	}
	return -1;
}

static int
ctl_run(struct ctl *ctl, int argc, char **argv)
{
	size_t	i;
	int	rv;

	/* "+": stop at the command, whose own arguments come next. */
	if ((rv = ctl_getopt(ctl, argc, argv, "+bhjs:t:V")) != -1)
		return rv;
	if (optind >= argc)
		return ctl_bad_usage(ctl, "no command");
	for (i = 0; i < CTL_NCMDS; i++)
		if (strcmp(argv[optind], ctl_cmds[i].name) == 0)
			break;
	if (i == CTL_NCMDS)
		return ctl_bad_usage(ctl, "unknown command '%s' (commands: "
		    "status, clients, budget, limit, merge, compact)",
		    argv[optind]);
	ctl->cmd = &ctl_cmds[i];
	argc -= optind;
	argv += optind;
	optind = 0;		/* glibc: start over, argv[0] is the command */
	if ((rv = ctl_getopt(ctl, argc, argv, "bhjs:t:V")) != -1)
		return rv;
	/*
	 * getopt has moved the operands to the end, from optind on; the
	 * slot before them held an option already taken and now holds the
	 * command again, so a command sees argv[0] = its name.
	 */
	argv[optind - 1] = argv[0];
	return ctl->cmd->fn(ctl, argc - optind + 1, argv + optind - 1);
}

int
main(int argc, char **argv)
{
	static struct ctl	ctl;
	int			rv;

	ctl.fd = -1;
	ctl.timeout = CTL_TIMEOUT_DEFAULT;
	rv = ctl_run(&ctl, argc, argv);
	if (ctl.fd != -1)
		close(ctl.fd);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warnx(&ctl, "writing the output: %s", strerror(errno));
		if (rv == CTL_EXIT_OK)
			rv = CTL_EXIT_DAEMON;
	}
	return rv;
}
