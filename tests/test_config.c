/*
 * test_config.c -- CUnit suite for config.c, run against the real
 * settings.c.
 *
 * Expected error texts are built from two parts: config.c's own prefix
 * ("file:line: key: "), which is checked exactly, and settings_set()'s
 * reason for the same key and value, asked from settings.c itself, so that
 * rewording a reason there does not break this suite but a wrong line
 * number or file name here does.  The shipped etc/zpoold.conf is checked
 * too: as installed it must change nothing, and with its `#key value`
 * lines uncommented it must name every key once with its true default.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cutest.h"

#include "config.h"

static char	tmpdir[] = "/tmp/test_config.XXXXXX";
static char	conf[sizeof tmpdir + 16];

/* Write len bytes of text to the scratch file `conf`. */
static void
write_conf_len(const char *text, size_t len)
{
	FILE	*f;

	f = fopen(conf, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fwrite(text, 1, len, f) == len);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

static void
write_conf(const char *text)
{
	write_conf_len(text, strlen(text));
}

/* The settings as settings_print() writes them, malloc'd. */
static char *
settings_text(const struct settings *s)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;

	f = open_memstream(&buf, &len);
	CU_ASSERT_FATAL(f != NULL);
	settings_print(s, f);
	CU_ASSERT_FATAL(fclose(f) == 0);
	return buf;
}

static char *
default_text(void)
{
	struct settings	 s;
	char		*text;

	settings_init(&s);
	text = settings_text(&s);
	settings_free(&s);
	return text;
}

/*
 * What settings_set() says about key=value; it must refuse it.  The cause
 * may live in the settings, so it is copied out before they go.
 */
static const char *
settings_reason(const char *key, const char *value)
{
	static char	 copy[128];
	struct settings	 s;
	const char	*why = NULL;

	settings_init(&s);
	CU_ASSERT_EQUAL(settings_set(&s, key, value, &why), -1);
	CU_ASSERT_FATAL(why != NULL);
	snprintf(copy, sizeof copy, "%s", why);
	settings_free(&s);
	return copy;
}

/* Load `conf` and expect failure with exactly "conf:line: rest". */
static void
expect_error(unsigned line, const char *rest)
{
	struct settings	 s;
	char		*cause = NULL, *want;
	int		 n;

	if (line == 0)
		n = asprintf(&want, "%s: %s", conf, rest);
	else
		n = asprintf(&want, "%s:%u: %s", conf, line, rest);
	CU_ASSERT_FATAL(n != -1);
	settings_init(&s);
	CU_ASSERT_EQUAL(config_load(conf, &s, &cause), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cause);
	if (strcmp(cause, want) != 0)
		fprintf(stderr, "\n  got:  %s\n  want: %s\n", cause, want);
	CU_ASSERT_STRING_EQUAL(cause, want);
	free(cause);
	free(want);
	settings_free(&s);
}

/* Load `conf`, expect success, and return the result's text. */
static char *
expect_load(struct settings *s)
{
	char	*cause = NULL;
	int	 rc;

	settings_init(s);
	rc = config_load(conf, s, &cause);
	if (rc != 0)
		fprintf(stderr, "\n  config_load: %s\n", cause);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NULL(cause);
	return settings_text(s);
}

static void
test_every_key(void)
{
	struct settings	 s;
	char		*text;

	write_conf(
	    "socket /tmp/zp#1.sock\n"
	    "socket_mode 0660\n"
	    "workers 3\n"
	    "codec zstd:7\n"
	    "dedup off\n"
	    "dedup_scope global\n"
	    "budget 1G\n"
	    "client_limit 64M\n"
	    "accept_threshold 80\n"
	    "arena_size 2G\n"
	    "max_zspage_frames 4\n"
	    "huge_threshold 3000\n"
	    "log_level debug\n"
	    "max_clients_per_uid 17\n"
	    "max_clients 99\n"
	    "max_inflight 5\n"
	    "max_output 2M\n"
	    "max_slots 1024\n"
	    "compact_interval 42\n"
	    "trim_interval 0\n"
	    "busy_poll 0\n");
	text = expect_load(&s);
	CU_ASSERT_STRING_EQUAL(s.socket_path, "/tmp/zp#1.sock");
	CU_ASSERT_EQUAL(s.socket_mode, 0660);
	CU_ASSERT_EQUAL(s.workers, 3);
	CU_ASSERT_EQUAL(s.codec.id, CODEC_ZSTD);
	CU_ASSERT_EQUAL(s.codec.level, 7);
	CU_ASSERT_EQUAL(s.dedup_mode, DEDUP_OFF);
	CU_ASSERT_EQUAL(s.dedup_scope, DEDUP_SCOPE_GLOBAL);
	CU_ASSERT_EQUAL(s.budget_bytes, 1ULL << 30);
	CU_ASSERT_EQUAL(s.default_limit_bytes, 64ULL << 20);
	CU_ASSERT_EQUAL(s.accept_threshold_pct, 80);
	CU_ASSERT_EQUAL(s.arena_bytes, 2ULL << 30);
	CU_ASSERT_EQUAL(s.max_zspage_frames, 4);
	CU_ASSERT_EQUAL(s.huge_threshold, 3000);
	CU_ASSERT_EQUAL(s.log_level, LOG_LEVEL_DEBUG);
	CU_ASSERT_EQUAL(s.max_clients_per_uid, 17);
	CU_ASSERT_EQUAL(s.max_clients, 99);
	CU_ASSERT_EQUAL(s.max_inflight, 5);
	CU_ASSERT_EQUAL(s.max_output_bytes, 2ULL << 20);
	CU_ASSERT_EQUAL(s.max_slots, 1024);
	CU_ASSERT_EQUAL(s.compact_interval, 42);
	CU_ASSERT_EQUAL(s.trim_interval, 0);
	CU_ASSERT_EQUAL(s.busy_poll_us, 0);
	free(text);
	settings_free(&s);
}

static void
test_comments_and_blanks(void)
{
	struct settings	 s;
	char		*text, *defaults, *want;

	/* Nothing but comments and white space changes nothing. */
	write_conf("# a comment\n\n   \n\t# indented # comment\n#budget 1G\n");
	text = expect_load(&s);
	defaults = default_text();
	CU_ASSERT_STRING_EQUAL(text, defaults);
	free(text);
	settings_free(&s);

	/* An empty file, and a last line without a newline. */
	write_conf("");
	text = expect_load(&s);
	CU_ASSERT_STRING_EQUAL(text, defaults);
	free(text);
	settings_free(&s);
	free(defaults);

	/* A `#` inside a word is part of it: this value is not a size. */
	write_conf("\n  workers\t 2   # trailing comment\r\n"
	    "socket /tmp/a#b#c  #   comment\n"
	    "budget 512M#1\n");
	CU_ASSERT_FATAL(asprintf(&want, "budget: %s",
	    settings_reason("budget", "512M#1")) != -1);
	expect_error(4, want);
	free(want);
}

static void
test_trailing_line(void)
{
	struct settings	 s;
	char		*text;

	write_conf("\n  workers\t 2   # trailing comment\r\n"
	    "socket /tmp/a#b#c  #   comment\n"
	    "max_clients 7\r\n"
	    "\tcompact_interval\t9");
	text = expect_load(&s);
	CU_ASSERT_EQUAL(s.workers, 2);
	CU_ASSERT_STRING_EQUAL(s.socket_path, "/tmp/a#b#c");
	CU_ASSERT_EQUAL(s.max_clients, 7);
	CU_ASSERT_EQUAL(s.compact_interval, 9);
	free(text);
	settings_free(&s);
}

/*
 * A file (`text`) whose line `line` sets key to value: loading it fails
 * there, with what settings_set() says about the value.
 */
static void
expect_refused(const char *text, unsigned line, const char *key,
    const char *value)
{
	char	*want;

	write_conf(text);
	CU_ASSERT_FATAL(asprintf(&want, "%s: %s", key,
	    settings_reason(key, value)) != -1);
	expect_error(line, want);
	free(want);
}

static void
test_bad_values(void)
{
	expect_refused("# line 1\nworkers 2\n\nbudget lots\n", 4, "budget",
	    "lots");
	expect_refused("codec gzip\n", 1, "codec", "gzip");
	expect_refused("\n\nsocket_mode 0999\n", 3, "socket_mode", "0999");
	expect_refused("dedup sometimes\n", 1, "dedup", "sometimes");
	expect_refused("busy_poll 10001\n", 1, "busy_poll", "10001");
	expect_refused("max_zspage_frames 33\n", 1, "max_zspage_frames", "33");
	/* what the pool would refuse at start, refused when read */
	expect_refused("huge_threshold 30\n", 1, "huge_threshold", "30");
	expect_refused("huge_threshold 4090\n", 1, "huge_threshold", "4090");
	expect_refused("log_level loud\n", 1, "log_level", "loud");
}

static void
test_bad_syntax(void)
{
	expect_refused("workers 2\nfrobnicate yes\n", 2, "frobnicate", "yes");

	write_conf("workers\n");
	expect_error(1, "workers: missing value");
	write_conf("# x\n  budget   # no value, only a comment\n");
	expect_error(2, "budget: missing value");
	write_conf("socket /tmp/with space.sock\n");
	expect_error(1, "socket: more than one value");
	write_conf("budget = 1G\n");
	expect_error(1, "expected `key value`, without '='");
	write_conf("\nbudget=1G\n");
	expect_error(2, "expected `key value`, without '='");
	write_conf_len("workers 2\nbudget 1\0G\n", 21);
	expect_error(2, "NUL byte in line");
}

static void
test_duplicate_and_order(void)
{
	struct settings	 s;
	char		*cause = NULL, *text;
	const char	*why = NULL;

	write_conf("workers 2\nbudget 1G\n# again:\nworkers 4\n");
	expect_error(4, "workers: already set on line 1");

	/* Lines before a bad one were applied (config.h says so). */
	write_conf("workers 5\nbudget nonsense\n");
	settings_init(&s);
	CU_ASSERT_EQUAL(config_load(conf, &s, &cause), -1);
	CU_ASSERT_EQUAL(s.workers, 5);
	free(cause);
	settings_free(&s);

	/* Defaults, then the file, then the command line. */
	write_conf("workers 6\nbudget 3G\n");
	text = expect_load(&s);
	CU_ASSERT_EQUAL(s.workers, 6);
	CU_ASSERT_EQUAL(s.budget_bytes, 3ULL << 30);
	CU_ASSERT_EQUAL(settings_set(&s, "budget", "1G", &why), 0);
	CU_ASSERT_EQUAL(s.budget_bytes, 1ULL << 30);
	CU_ASSERT_EQUAL(s.workers, 6);
	free(text);
	settings_free(&s);
}

static void
test_missing_file(void)
{
	struct settings	 s;
	char		*cause = NULL, *want;

	/* Given explicitly, a missing file is an error. */
	CU_ASSERT_FATAL(unlink(conf) == 0 || errno == ENOENT);
	CU_ASSERT_FATAL(asprintf(&want, "%s: %s", conf,
	    strerror(ENOENT)) != -1);
	settings_init(&s);
	CU_ASSERT_EQUAL(config_load(conf, &s, &cause), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cause);
	CU_ASSERT_STRING_EQUAL(cause, want);
	free(cause);
	free(want);

	/* A directory is not a configuration file. */
	CU_ASSERT_FATAL(asprintf(&want, "%s: %s", tmpdir,
	    strerror(EISDIR)) != -1);
	CU_ASSERT_EQUAL(config_load(tmpdir, &s, &cause), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cause);
	CU_ASSERT_STRING_EQUAL(cause, want);
	free(cause);
	free(want);

	/* The default file may be absent (checked only where it is). */
	if (access(CONFIG_DEFAULT_PATH, F_OK) == -1 && errno == ENOENT) {
		cause = NULL;
		CU_ASSERT_EQUAL(config_load(NULL, &s, &cause), 0);
		CU_ASSERT_PTR_NULL(cause);
	}
	settings_free(&s);
}

/*
 * etc/zpoold.conf as shipped, with its `#key value` lines uncommented:
 * prose comments there are "# text", defaults are "#key value".
 */
/* noinline: inlined, gcc 12 takes open_memstream's buffer for a local. */
static char * __attribute__((noinline))
shipped_uncommented(void)
{
	const char	*srcdir = getenv("srcdir");
	char		*path, *line = NULL, *buf = NULL;
	size_t		 size = 0, len = 0;
	FILE		*in, *out;

	CU_ASSERT_FATAL(asprintf(&path, "%s/etc/zpoold.conf",
	    srcdir != NULL ? srcdir : ".") != -1);
	in = fopen(path, "r");
	if (in == NULL)
		fprintf(stderr, "\n  %s: %s\n", path, strerror(errno));
	CU_ASSERT_FATAL(in != NULL);
	out = open_memstream(&buf, &len);
	CU_ASSERT_FATAL(out != NULL);
	while (getline(&line, &size, in) != -1) {
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z')
			fputs(line + 1, out);
		else
			fputs(line, out);
	}
	fclose(in);
	CU_ASSERT_FATAL(fclose(out) == 0);
	free(line);
	free(path);
	return buf;
}

static void
test_shipped_file(void)
{
	struct settings	 s;
	char		*text, *defaults, *uncommented, *copy, *key, *save;
	char		*at;

	defaults = default_text();
	uncommented = shipped_uncommented();

	/* Every default it shows is the real one: nothing changes. */
	write_conf(uncommented);
	text = expect_load(&s);
	CU_ASSERT_STRING_EQUAL(text, defaults);
	free(text);
	settings_free(&s);

	/*
	 * Every key settings_print() knows is set there (unknown and
	 * repeated keys would have failed the load above).
	 */
	copy = strdup(defaults);
	CU_ASSERT_FATAL(copy != NULL);
	for (key = strtok_r(copy, "\n", &save); key != NULL;
	    key = strtok_r(NULL, "\n", &save)) {
		key[strcspn(key, " \t")] = '\0';
		at = strstr(uncommented, key);
		while (at != NULL && !((at == uncommented || at[-1] == '\n') &&
		    (at[strlen(key)] == ' ' || at[strlen(key)] == '\t')))
			at = strstr(at + 1, key);
		if (at == NULL)
			fprintf(stderr, "\n  etc/zpoold.conf lacks %s\n", key);
		CU_ASSERT_PTR_NOT_NULL(at);
	}
	free(copy);
	free(uncommented);
	free(defaults);
}

int
main(void)
{
	static const struct cu_case cases[] = {
		{ "every key", test_every_key },
		{ "comments and blank lines", test_comments_and_blanks },
		{ "last line without newline", test_trailing_line },
		{ "bad values", test_bad_values },
		{ "bad syntax", test_bad_syntax },
		{ "duplicates and override order", test_duplicate_and_order },
		{ "missing file", test_missing_file },
		{ "shipped zpoold.conf", test_shipped_file },
		{ NULL, NULL }
	};
	int	rc;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(conf, sizeof conf, "%s/zpoold.conf", tmpdir);
	if (cu_suite("config", cases) != 0)
		return 1;
	rc = cu_run();
	unlink(conf);
	rmdir(tmpdir);
	return rc;
}
