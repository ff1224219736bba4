/*
 * config.c -- the zpoold.conf parser: lines in, settings_set() calls out.
 *
 * This file owns the syntax only (comments, words, line numbers, repeated
 * keys).  What a key means and which values it takes belongs to
 * settings.c, so that a key is spelled and checked the same way in the
 * file and on the command line.  Every error names file, line and reason,
 * because the operator reading it has only the file to go on.
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define CONFIG_MAX_WORDS	3	/* enough to tell "one value" from more */

/* The keys met so far and where, to refuse a second occurrence. */
struct config_seen {
	char		*key;
	unsigned long	 line;
};

struct config_state {
	const char		*path;
	unsigned long		 line;
	struct config_seen	*seen;
	size_t			 nseen;
	char			**cause;
};

static int	config_fail(struct config_state *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * Set *cause to "path:line: reason" (or "path: reason" before the first
 * line) and return -1.  On allocation failure *cause stays NULL, as
 * config.h promises.
 */
static int
config_fail(struct config_state *cs, const char *fmt, ...)
{
	va_list	 ap;
	char	*reason;
	int	 n;

	*cs->cause = NULL;
	va_start(ap, fmt);
	n = vasprintf(&reason, fmt, ap);
	va_end(ap);
	if (n == -1)
		return -1;
	if (cs->line == 0)
		n = asprintf(cs->cause, "%s: %s", cs->path, reason);
	else
		n = asprintf(cs->cause, "%s:%lu: %s", cs->path, cs->line,
		    reason);
	if (n == -1)
		*cs->cause = NULL;
	free(reason);
	return -1;
}

/* Cut the line at a `#` that starts it or follows white space. */
static void
config_strip_comment(char *line)
{
	size_t	i;

	for (i = 0; line[i] != '\0'; i++) {
		if (line[i] != '#')
			continue;
		if (i == 0 || isspace((unsigned char)line[i - 1])) {
			line[i] = '\0';
			return;
		}
	}
}

/*
 * Split line in place into at most max words; returns how many there
 * were, counting up to max + 1 so the caller can tell "too many".
 */
static size_t
config_split(char *line, char **words, size_t max)
{
	size_t	 n = 0;
	char	*p = line;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return n;
		if (n == max)
			return n + 1;
		words[n++] = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
}

/* Remember key at the current line; -1 if it was already set. */
static int
config_remember(struct config_state *cs, const char *key)
{
	struct config_seen	*seen;
	size_t			 i;

	for (i = 0; i < cs->nseen; i++) {
		if (strcmp(cs->seen[i].key, key) == 0)
			return config_fail(cs, "%s: already set on line %lu",
			    key, cs->seen[i].line);
	}
	seen = reallocarray(cs->seen, cs->nseen + 1, sizeof *cs->seen);
	if (seen == NULL)
		return config_fail(cs, "%s", strerror(errno));
	cs->seen = seen;
	if ((seen[cs->nseen].key = strdup(key)) == NULL)
		return config_fail(cs, "%s", strerror(errno));
	seen[cs->nseen].line = cs->line;
	cs->nseen++;
	return 0;
}

/* One line of the file, without its newline. */
static int
config_line(struct config_state *cs, char *line, struct settings *s)
{
	char		*words[CONFIG_MAX_WORDS];
	const char	*why = NULL;
	size_t		 n;

	config_strip_comment(line);
	n = config_split(line, words, CONFIG_MAX_WORDS);
	if (n == 0)
		return 0;
	/* `key = value` is the likeliest mistake: it gets its own message. */
	if (strchr(words[0], '=') != NULL ||
	    (n > 1 && strcmp(words[1], "=") == 0))
		return config_fail(cs, "expected `key value`, without '='");
	if (n == 1)
		return config_fail(cs, "%s: missing value", words[0]);
	if (n > 2)
		return config_fail(cs, "%s: more than one value", words[0]);
	if (config_remember(cs, words[0]) != 0)
		return -1;
	if (settings_set(s, words[0], words[1], &why) != 0)
		return config_fail(cs, "%s: %s", words[0],
		    why != NULL ? why : "invalid value");
	return 0;
}

static int
config_read(struct config_state *cs, FILE *f, struct settings *s)
{
	char	*line = NULL;
	size_t	 size = 0;
	ssize_t	 len;
	int	 rc = 0;

	while ((len = getline(&line, &size, f)) != -1) {
		cs->line++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (strlen(line) != (size_t)len) {
			rc = config_fail(cs, "NUL byte in line");
			break;
		}
		if ((rc = config_line(cs, line, s)) != 0)
			break;
	}
	/* getline() fails without setting ferror() when memory runs out. */
	if (rc == 0 && !feof(f)) {
		cs->line = 0;
		rc = config_fail(cs, "%s", strerror(errno));
	}
	free(line);
	return rc;
}

int
config_load(const char *path, struct settings *s, char **cause)
{
	struct config_state	 cs;
	FILE			*f;
	size_t			 i;
	int			 rc;

	memset(&cs, 0, sizeof cs);
	cs.path = path != NULL ? path : CONFIG_DEFAULT_PATH;
	cs.cause = cause;
	*cause = NULL;

	if ((f = fopen(cs.path, "re")) == NULL) {
		if (path == NULL && errno == ENOENT)
			return 0;
		return config_fail(&cs, "%s", strerror(errno));
	}
	rc = config_read(&cs, f, s);
	fclose(f);
	for (i = 0; i < cs.nseen; i++)
		free(cs.seen[i].key);
	free(cs.seen);
	return rc;
}
