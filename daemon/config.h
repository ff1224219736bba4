/*
 * config.h -- reading zpoold.conf into a struct settings.
 *
 * The file is a list of `key value` lines.  Blank lines are ignored; `#`
 * starts a comment that runs to the end of the line when it begins the
 * line or follows white space.  A key is one word, its value exactly one
 * more word: values cannot contain white space or `#` after white space.
 * Keys and values are the ones settings_set() takes, so the file and the
 * command line agree on every name and every syntax; zpoold.conf(5) lists
 * them.  A key may appear only once: a second occurrence is an error
 * rather than a silent override.  Precedence is defaults, then the file,
 * then command-line flags, which zpoold.c applies after config_load().
 */
#ifndef ZP_CONFIG_H
#define ZP_CONFIG_H

#include "settings.h"

/* The file zpoold reads when no --config is given. */
#define CONFIG_DEFAULT_PATH	SYSCONFDIR "/zpoold/zpoold.conf"

/*
 * Apply the configuration file at `path` to `s`, which the caller has set
 * up with settings_init().  With path NULL, CONFIG_DEFAULT_PATH is read if
 * it exists, and its absence is not an error; a path given explicitly must
 * exist.
 *
 * Returns 0, or -1 with *cause set to a malloc'd message for the operator
 * that names the file, the line and the reason, e.g.
 * "/etc/zpoold/zpoold.conf:12: budget: not a size"; the caller frees it.
 * *cause is NULL if memory ran out while making the message.  On failure
 * the settings of the lines before the bad one have been applied: the
 * caller is expected to stop, not to use `s`.
 *
 * Not thread-safe with respect to `s`; otherwise no global state.
 */
int	config_load(const char *path, struct settings *s, char **cause);

#endif /* ZP_CONFIG_H */
