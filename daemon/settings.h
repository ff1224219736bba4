/*
 * settings.h -- every setting of zpoold in one struct, defaults in one place.
 *
 * The configuration file (config.c) and the command line (zpoold.c) both go
 * through settings_set(), so a key means the same in either; `zpoold
 * --check-config` and the log at start print the result with
 * settings_print().
 */
#ifndef ZP_SETTINGS_H
#define ZP_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "codec.h"

enum dedup_mode {
	DEDUP_OFF = 0,		/* no index at store time; `merge` on demand */
	DEDUP_INLINE,		/* look up every page at store time */
};

enum dedup_scope {
	DEDUP_SCOPE_CLIENT = 0,	/* a connection shares only with itself */
	DEDUP_SCOPE_UID,	/* processes of one user share (default) */
	DEDUP_SCOPE_GLOBAL,	/* everyone shares: a timing side channel */
};

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

struct settings {
	char		*socket_path;
	mode_t		 socket_mode;		/* default 0666 */
	char		*socket_group;		/* NULL: leave as created */
	unsigned	 workers;		/* 0: one per CPU */
	struct codec_spec codec;
	enum dedup_mode	 dedup_mode;
	enum dedup_scope dedup_scope;
	uint64_t	 budget_bytes;		/* 0: unlimited */
	uint64_t	 default_limit_bytes;	/* per client; 0: unlimited */
	unsigned	 accept_threshold_pct;	/* accept again below this %
						   of the budget once full */
	uint64_t	 arena_bytes;		/* pool's virtual arena */
	unsigned	 max_zspage_frames;
	unsigned	 huge_threshold;	/* 0: pool default */
	enum log_level	 log_level;
	bool		 foreground;
	unsigned	 max_clients_per_uid;
	unsigned	 max_clients;
	unsigned	 max_inflight;		/* requests per client */
	uint64_t	 max_output_bytes;	/* queued replies per client */
	unsigned	 max_slots;		/* staging slots per client */
	unsigned	 compact_interval;	/* seconds; 0: never on a timer */
	unsigned	 trim_interval;		/* seconds; 0: emptied zspages
						   give their frames back at
						   once */
	unsigned	 busy_poll_us;		/* poll before sleeping (spin.h) */
	char		 why[64];		/* a cause that names numbers */
};

/* Fill in every default. */
void	settings_init(struct settings *s);
void	settings_free(struct settings *s);

/*
 * Set `key` (the config file's name for it) from text.  0, or -1 with
 * *cause naming what is wrong with the value or "unknown key"; the cause
 * may live in `s` (s->why), and lasts until the next call on it.
 */
int	settings_set(struct settings *s, const char *key, const char *value,
	    const char **cause);

/* Every setting as `key value` lines, in config file syntax. */
void	settings_print(const struct settings *s, FILE *f);

const char *dedup_mode_name(enum dedup_mode m);
const char *dedup_scope_name(enum dedup_scope s);

#endif /* ZP_SETTINGS_H */
