/*
 * settings.c -- every zpoold setting, its default, its parser and its
 * printed form, in one table.
 *
 * A key is spelled and checked here only: the config file (config.c) and
 * the command line (zpoold.c) both call settings_set(), and
 * settings_print() writes what settings_set() reads back, so `zpoold
 * --check-config` output is itself a valid configuration file.  Sizes are
 * printed short ("16G") only when that reads back exactly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "zpclient.h"
#include "pool.h"
#include "size.h"
#include "spin.h"
#include "settings.h"
#include "xmalloc.h"

#define SETTINGS_MAX_WORKERS	1024u
#define SETTINGS_MAX_SLOTS	(1u << 20)	/* 4 GiB of staging */
#define SETTINGS_MAX_INFLIGHT	4096u
#define SETTINGS_MIN_OUTPUT	(64u * 1024)	/* room for one full frame */
#define SETTINGS_MIN_ARENA	(1u << 20)

void
settings_init(struct settings *s)
{
	memset(s, 0, sizeof *s);
	s->socket_path = xstrdup(ZP_DEFAULT_SOCKET);
	s->socket_mode = 0666;
	s->socket_group = NULL;
	s->workers = 0;
	s->codec.id = CODEC_LZ4;
	s->codec.level = 1;
	s->dedup_mode = DEDUP_INLINE;
	s->dedup_scope = DEDUP_SCOPE_UID;
	s->budget_bytes = 0;
	s->default_limit_bytes = 0;
	s->accept_threshold_pct = 90;
	s->arena_bytes = 16ULL << 30;
	s->max_zspage_frames = POOL_DEFAULT_ZSPAGE_FRAMES;
	s->huge_threshold = 0;
	s->log_level = LOG_LEVEL_INFO;
	s->foreground = false;
	s->max_clients_per_uid = 64;
	s->max_clients = 1024;
	s->max_inflight = 64;
	s->max_output_bytes = 4ULL << 20;
	s->max_slots = 16384;
	s->compact_interval = 60;
	s->trim_interval = 2;
	s->busy_poll_us = SPIN_DEFAULT_US;
}

void
settings_free(struct settings *s)
{
	free(s->socket_path);
	free(s->socket_group);
	s->socket_path = NULL;
	s->socket_group = NULL;
}

const char *
dedup_mode_name(enum dedup_mode m)
{
	return m == DEDUP_INLINE ? "inline" : "off";
}

const char *
dedup_scope_name(enum dedup_scope sc)
{
	switch (sc) {
	case DEDUP_SCOPE_CLIENT:
		return "client";
	case DEDUP_SCOPE_GLOBAL:
		return "global";
	default:
		return "uid";
	}
}

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

/*
 * A decimal number in [min, max], nothing else: 0, or -1 (not a number) or
 * -2 (out of range) with *cause.
 */
static int
parse_uint(const char *v, unsigned long long min, unsigned long long max,
    unsigned long long *out, const char **cause)
{
	char			*end;
	unsigned long long	 n;

	if (*v < '0' || *v > '9') {
		*cause = "not a number";
		return -1;
	}
	errno = 0;
	n = strtoull(v, &end, 10);
	if ((errno != 0 && errno != ERANGE) || *end != '\0') {
		*cause = "not a number";
		return -1;
	}
	if (errno == ERANGE || n < min || n > max) {
		*cause = "number out of range";
		return -2;
	}
	*out = n;
	return 0;
}

static int
parse_unsigned(struct settings *s, const char *v, unsigned min,
    unsigned max, unsigned *out, const char **cause)
{
	unsigned long long	n;

	switch (parse_uint(v, min, max, &n, cause)) {
	case 0:
		break;
	case -2:
		snprintf(s->why, sizeof s->why, "out of range (%u to %u)",
		    min, max);
		*cause = s->why;
		return -1;
	default:
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

/* A size, where "0" and "none" both mean no limit. */
static int
parse_limit(const char *v, uint64_t *out, const char **cause)
{
	if (strcmp(v, "none") == 0) {
		*out = 0;
		return 0;
	}
	return size_parse(v, out, cause);
}

static int
set_socket(struct settings *s, const char *v, const char **cause)
{
	struct sockaddr_un	sun;

	if (*v == '\0') {
		*cause = "empty path";
		return -1;
	}
	if (strlen(v) >= sizeof sun.sun_path) {
		*cause = "path too long for a Unix socket";
		return -1;
	}
	free(s->socket_path);
	s->socket_path = xstrdup(v);
	return 0;
}

static int
set_socket_mode(struct settings *s, const char *v, const char **cause)
{
	char		*end;
	unsigned long	 m;

	errno = 0;
	m = strtoul(v, &end, 8);
	if (*v < '0' || *v > '7' || errno != 0 || *end != '\0') {
		*cause = "not an octal mode";
		return -1;
	}
	if (m > 0777) {
		*cause = "mode out of range (0..0777)";
		return -1;
	}
	s->socket_mode = (mode_t)m;
	return 0;
}

static int
set_socket_group(struct settings *s, const char *v, const char **cause)
{
	if (*v == '\0') {
		*cause = "empty group name";
		return -1;
	}
	free(s->socket_group);
	s->socket_group = xstrdup(v);
	return 0;
}

static int
set_workers(struct settings *s, const char *v, const char **cause)
{
	return parse_unsigned(s, v, 0, SETTINGS_MAX_WORKERS, &s->workers, cause);
}

static int
set_codec(struct settings *s, const char *v, const char **cause)
{
	struct codec_spec	spec;

	if (codec_parse(v, &spec, cause) != 0)
		return -1;
	s->codec = spec;
	return 0;
}

static int
set_dedup(struct settings *s, const char *v, const char **cause)
{
	if (strcmp(v, "inline") == 0)
		s->dedup_mode = DEDUP_INLINE;
	else if (strcmp(v, "off") == 0)
		s->dedup_mode = DEDUP_OFF;
	else {
		*cause = "unknown dedup mode (use inline or off)";
		return -1;
	}
	return 0;
}

static int
set_dedup_scope(struct settings *s, const char *v, const char **cause)
{
	if (strcmp(v, "client") == 0)
		s->dedup_scope = DEDUP_SCOPE_CLIENT;
	else if (strcmp(v, "uid") == 0)
		s->dedup_scope = DEDUP_SCOPE_UID;
	else if (strcmp(v, "global") == 0)
		s->dedup_scope = DEDUP_SCOPE_GLOBAL;
	else {
		*cause = "unknown dedup scope (use client, uid or global)";
		return -1;
	}
	return 0;
}

static int
set_budget(struct settings *s, const char *v, const char **cause)
{
	return parse_limit(v, &s->budget_bytes, cause);
}

static int
set_client_limit(struct settings *s, const char *v, const char **cause)
{
	return parse_limit(v, &s->default_limit_bytes, cause);
}

static int
set_accept_threshold(struct settings *s, const char *v, const char **cause)
{
	return parse_unsigned(s, v, 1, 100, &s->accept_threshold_pct, cause);
}

static int
set_arena_size(struct settings *s, const char *v, const char **cause)
{
	uint64_t	n;

	if (size_parse(v, &n, cause) != 0)
		return -1;
	if (n < SETTINGS_MIN_ARENA || n > (16ULL << 30) || n % 4096 != 0) {
		*cause = "arena size must be a multiple of 4K, 1M to 16G";
		return -1;
	}
	s->arena_bytes = n;
	return 0;
}

static int
set_max_zspage_frames(struct settings *s, const char *v, const char **cause)
{
	return parse_unsigned(s, v, 1, POOL_MAX_ZSPAGE_FRAMES,
	    &s->max_zspage_frames, cause);
}

static int
set_huge_threshold(struct settings *s, const char *v, const char **cause)
{
	if (parse_unsigned(s, v, 0, POOL_HUGE_THRESHOLD_MAX, &s->huge_threshold,
	    cause) != 0 || (s->huge_threshold != 0 &&
	    s->huge_threshold < POOL_HUGE_THRESHOLD_MIN)) {
		snprintf(s->why, sizeof s->why, "huge_threshold must be 0 "
		    "(the pool's own) or %u to %u", POOL_HUGE_THRESHOLD_MIN,
		    POOL_HUGE_THRESHOLD_MAX);
		*cause = s->why;
		return -1;
	}
	return 0;
}

static int
set_log_level(struct settings *s, const char *v, const char **cause)
{
	unsigned	i;

	for (i = 0; i < sizeof log_level_names / sizeof *log_level_names;
	    i++) {
		if (strcmp(v, log_level_names[i]) == 0) {
			s->log_level = (enum log_level)i;
			return 0;
		}
	}
	*cause = "unknown log level (use error, warn, info or debug)";
	return -1;
}

static int
set_max_clients_per_uid(struct settings *s, const char *v,
    const char **cause)
{
	return parse_unsigned(s, v, 1, 1u << 20, &s->max_clients_per_uid, cause);
}

static int
set_max_clients(struct settings *s, const char *v, const char **cause)
{
	return parse_unsigned(s, v, 1, 1u << 20, &s->max_clients, cause);
}

static int
set_max_inflight(struct settings *s, const char *v, const char **cause)
{
	return parse_unsigned(s, v, 1, SETTINGS_MAX_INFLIGHT, &s->max_inflight,
	    cause);
}

static int
set_busy_poll(struct settings *s, const char *v, const char **cause)
{
	return parse_unsigned(s, v, 0, SPIN_MAX_US, &s->busy_poll_us, cause);
}

static int
set_max_output(struct settings *s, const char *v, const char **cause)
{
	uint64_t	n;

	if (size_parse(v, &n, cause) != 0)
		return -1;
	if (n < SETTINGS_MIN_OUTPUT) {
		*cause = "max_output must be at least 64K (one frame)";
		return -1;
	}
	s->max_output_bytes = n;
	return 0;
}

static int
set_max_slots(struct settings *s, const char *v, const char **cause)
{
	return parse_unsigned(s, v, 1, SETTINGS_MAX_SLOTS, &s->max_slots, cause);
}

static int
set_compact_interval(struct settings *s, const char *v, const char **cause)
{
	return parse_unsigned(s, v, 0, 7 * 24 * 3600, &s->compact_interval,
	    cause);
}

static int
set_trim_interval(struct settings *s, const char *v, const char **cause)
{
	return parse_unsigned(s, v, 0, 3600, &s->trim_interval, cause);
}

static const struct setting_key {
	const char	*name;
	int		(*set)(struct settings *, const char *,
			    const char **);
} setting_keys[] = {
	{ "socket", set_socket },
	{ "socket_mode", set_socket_mode },
	{ "socket_group", set_socket_group },
	{ "workers", set_workers },
	{ "codec", set_codec },
	{ "dedup", set_dedup },
	{ "dedup_scope", set_dedup_scope },
	{ "budget", set_budget },
	{ "client_limit", set_client_limit },
	{ "accept_threshold", set_accept_threshold },
	{ "arena_size", set_arena_size },
	{ "max_zspage_frames", set_max_zspage_frames },
	{ "huge_threshold", set_huge_threshold },
	{ "log_level", set_log_level },
	{ "max_clients_per_uid", set_max_clients_per_uid },
	{ "max_clients", set_max_clients },
	{ "max_inflight", set_max_inflight },
	{ "max_output", set_max_output },
	{ "max_slots", set_max_slots },
	{ "compact_interval", set_compact_interval },
	{ "trim_interval", set_trim_interval },
	{ "busy_poll", set_busy_poll },
};

int
settings_set(struct settings *s, const char *key, const char *value,
    const char **cause)
{
	size_t	i;

	if (value == NULL) {
		*cause = "missing value";
		return -1;
	}
	for (i = 0; i < sizeof setting_keys / sizeof *setting_keys; i++) {
		if (strcmp(key, setting_keys[i].name) == 0)
			return setting_keys[i].set(s, value, cause);
	}
	*cause = "unknown key";
	return -1;
}

/* The shortest form of a size that reads back as the same number. */
static const char *
exact_size(uint64_t bytes, char *buf, size_t len)
{
	uint64_t	 back;
	const char	*cause;

	size_format(bytes, buf, len);
	if (size_parse(buf, &back, &cause) == 0 && back == bytes)
		return buf;
	snprintf(buf, len, "%llu", (unsigned long long)bytes);
	return buf;
}

static const char *
limit_text(uint64_t bytes, char *buf, size_t len)
{
	if (bytes == 0)
		return "none";
	return exact_size(bytes, buf, len);
}

void
settings_print(const struct settings *s, FILE *f)
{
	char	buf[SIZE_FORMAT_LEN], codec[32];

	fprintf(f, "socket %s\n", s->socket_path);
	fprintf(f, "socket_mode %04o\n", (unsigned)s->socket_mode);
	/* An unset group has no value to write: the line is left out. */
	if (s->socket_group != NULL)
		fprintf(f, "socket_group %s\n", s->socket_group);
	fprintf(f, "workers %u\n", s->workers);
	fprintf(f, "codec %s\n", codec_format(&s->codec, codec, sizeof codec));
	fprintf(f, "dedup %s\n", dedup_mode_name(s->dedup_mode));
	fprintf(f, "dedup_scope %s\n", dedup_scope_name(s->dedup_scope));
	fprintf(f, "budget %s\n", limit_text(s->budget_bytes, buf, sizeof buf));
	fprintf(f, "client_limit %s\n",
	    limit_text(s->default_limit_bytes, buf, sizeof buf));
	fprintf(f, "accept_threshold %u\n", s->accept_threshold_pct);
	fprintf(f, "arena_size %s\n",
	    exact_size(s->arena_bytes, buf, sizeof buf));
	fprintf(f, "max_zspage_frames %u\n", s->max_zspage_frames);
	fprintf(f, "huge_threshold %u\n", s->huge_threshold);
	fprintf(f, "log_level %s\n", log_level_names[s->log_level]);
	fprintf(f, "max_clients_per_uid %u\n", s->max_clients_per_uid);
	fprintf(f, "max_clients %u\n", s->max_clients);
	fprintf(f, "max_inflight %u\n", s->max_inflight);
	fprintf(f, "max_output %s\n",
	    exact_size(s->max_output_bytes, buf, sizeof buf));
	fprintf(f, "max_slots %u\n", s->max_slots);
	fprintf(f, "compact_interval %u\n", s->compact_interval);
	fprintf(f, "trim_interval %u\n", s->trim_interval);
	fprintf(f, "busy_poll %u\n", s->busy_poll_us);
}
