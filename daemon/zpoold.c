/*
 * zpoold.c -- main(): flags, configuration, the start-up order, and the
 * exit status.
 *
 * Settings come from the embedded defaults, then the configuration file
 * (--config, or SYSCONFDIR/zpoold/zpoold.conf when it exists), then the
 * flags, which override the file.  Errors before the daemon is running go
 * to stderr and exit 1; a clean stop (SIGTERM, SIGINT) exits 0.
 */
#include <sys/resource.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

#define ZPOOLD_MAX_OVERRIDES	32

/*
 * Every settings key is also a flag, --key=value (zpoold.8); the common
 * ones have short forms and --log-level is the usual spelling of
 * --log_level.
 */
static const char *const zpoold_keys[] = {
	"socket", "socket_mode", "socket_group", "workers", "codec", "dedup",
	"dedup_scope", "budget", "client_limit", "accept_threshold",
	"arena_size", "max_zspage_frames", "huge_threshold", "log_level",
	"max_clients_per_uid", "max_clients", "max_inflight", "max_output",
	"max_slots", "compact_interval", "trim_interval", "busy_poll",
};
#define ZPOOLD_NKEYS	(sizeof zpoold_keys / sizeof *zpoold_keys)
#define OPT_KEY		1000	/* + index in zpoold_keys */
#define OPT_LOG_LEVEL	999

static const struct option zpoold_fixed_options[] = {
	{ "foreground",		no_argument,		NULL, 'f' },
	{ "config",		required_argument,	NULL, 'c' },
	{ "check-config",	no_argument,		NULL, 'n' },
	{ "log-level",		required_argument,	NULL, OPT_LOG_LEVEL },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
};
#define ZPOOLD_NFIXED	(sizeof zpoold_fixed_options / \
	sizeof *zpoold_fixed_options)

/* A flag that sets a settings key, applied after the file. */
struct override {
	const char	*key;
	const char	*value;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: zpoold [-fhnV] [-b size] [-c file] [-d mode] "
	    "[-l level] [-s path] [-w n]\n"
	    "              [--key=value ...]\n"
	    "  -s, --socket PATH     listen on PATH (default %s)\n"
	    "  -f, --foreground      stay in the foreground, log to stderr\n"
	    "  -c, --config FILE     read FILE (default %s/zpoold/zpoold.conf"
	    " if present)\n"
	    "  -n, --check-config    print the settings and exit\n"
	    "  -w, --workers N       compression threads (0: one per CPU)\n"
	    "      --codec CODEC     lz4, zstd or zstd:LEVEL\n"
	    "  -d, --dedup MODE      inline or off\n"
	    "  -b, --budget SIZE     pool budget, e.g. 512M (none: unlimited)\n"
	    "  -l, --log-level LVL   error, warn, info or debug\n"
	    "      --KEY=VALUE       any key of zpoold.conf(5)\n"
	    "  -h, --help            this text\n"
	    "  -V, --version         print the version\n",
	    ZP_DEFAULT_SOCKET, SYSCONFDIR);
}

/* The settings key a short flag sets, or NULL. */
static const char *
short_key(int ch)
{
	switch (ch) {
	case 's':
		return "socket";
	case 'w':
		return "workers";
	case 'd':
		return "dedup";
	case 'b':
		return "budget";
	case 'l':
	case OPT_LOG_LEVEL:
		return "log_level";
	default:
		if (ch >= OPT_KEY && ch < OPT_KEY + (int)ZPOOLD_NKEYS)
			return zpoold_keys[ch - OPT_KEY];
		return NULL;
	}
}

/* As many fds as we may: max_clients connections each need one. */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit NOFILE");
	}
}

static bool
under_systemd(void)
{
	return getenv("INVOCATION_ID") != NULL ||
	    getenv("NOTIFY_SOCKET") != NULL;
}

int
main(int argc, char **argv)
{
	struct settings	 s;
	struct override	 ov[ZPOOLD_MAX_OVERRIDES];
	struct option	 options[ZPOOLD_NFIXED + ZPOOLD_NKEYS + 1];
	struct zpoold	*zd;
	const char	*config_path = NULL, *cause, *key;
	char		*config_cause = NULL;
	bool		 check = false, foreground = false;
	size_t		 nov = 0, i;
	int		 ch, rc;

	memcpy(options, zpoold_fixed_options, sizeof zpoold_fixed_options);
	for (i = 0; i < ZPOOLD_NKEYS; i++) {
		options[ZPOOLD_NFIXED + i].name = zpoold_keys[i];
		options[ZPOOLD_NFIXED + i].has_arg = required_argument;
		options[ZPOOLD_NFIXED + i].flag = NULL;
		options[ZPOOLD_NFIXED + i].val = OPT_KEY + (int)i;
	}
	memset(&options[ZPOOLD_NFIXED + ZPOOLD_NKEYS], 0, sizeof *options);
	while ((ch = getopt_long(argc, argv, "b:c:d:fhl:ns:Vw:", options,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'n':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("zpoold %s\n", PACKAGE_VERSION);
			return 0;
		default:
			if ((key = short_key(ch)) == NULL) {
				usage(stderr);
				return 1;
			}
			if (nov == ZPOOLD_MAX_OVERRIDES) {
				fprintf(stderr, "zpoold: too many flags\n");
				return 1;
			}
			ov[nov].key = key;
			ov[nov].value = optarg;
			nov++;
			break;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "zpoold: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return 1;
	}

	settings_init(&s);
	if (config_load(config_path, &s, &config_cause) != 0) {
		fprintf(stderr, "zpoold: %s\n", config_cause != NULL ?
		    config_cause : "out of memory reading the configuration");
		free(config_cause);
		settings_free(&s);
		return 1;
	}
	for (i = 0; i < nov; i++) {
		if (settings_set(&s, ov[i].key, ov[i].value, &cause) != 0) {
			fprintf(stderr, "zpoold: --%s=%s: %s\n", ov[i].key,
			    ov[i].value, cause);
			settings_free(&s);
			return 1;
		}
	}
	if (foreground)
		s.foreground = true;
	if (check) {
		settings_print(&s, stdout);
		settings_free(&s);
		if (fflush(stdout) == 0 && !ferror(stdout))
			return 0;
		fprintf(stderr, "zpoold: writing the settings: %s\n",
		    strerror(errno));
		return 1;
	}

	/* Until the daemon runs, a person is watching stderr. */
	log_init(true, s.log_level, "zpoold");
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if ((zd = server_create(&s, &cause)) == NULL)
		fatalx("%s", cause);
	if ((rc = server_listen(zd, &cause)) != 0)
		fatalx("%s: %s: %s", zd->s.socket_path, cause, strerror(-rc));
	if (!s.foreground && !under_systemd()) {
		if (daemon(0, 0) == -1)
			fatal("daemon");
		log_init(false, s.log_level, "zpoold");
	}
	if ((rc = server_start(zd, &cause)) != 0)
		fatalx("%s: %s", cause, strerror(-rc));
	rc = server_run(zd);
	server_free(zd);
	settings_free(&s);
	log_info("exiting");
	return rc == 0 ? 0 : 1;
}
