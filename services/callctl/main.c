/*
 * callctl - see callctl.h for the commands.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <curl/curl.h>

#include "callctl.h"
#include "cfg.h"
#include "log.h"
#include "sig.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: callctl COMMAND [ARGS]\n\n"
	    "  ping SERVICE|URL [-n COUNT]     time Ping round trips\n"
	    "  health [--json]                 /health and Ping of every "
	    "daemon\n"
	    "  decode [--pub|--req] [FILE|-]   a captured message as JSON\n"
	    "  tap SERVICE|URL [--call SID] [--type TYPE] [--count N]\n"
	    "      [--seconds S] [--rates] [--payload] [--save DIR] [--text]\n"
	    "                                  print pub/sub traffic as "
	    "JSON lines\n"
	    "  req SERVICE|URL TYPE [JSON] [--call SID] [--key KEY]\n"
	    "  req SERVICE|URL --envelope JSON send any request, print the "
	    "reply\n"
	    "  doctor                          pre-flight: settings, "
	    "database, providers, PUBLIC_URL, daemons\n"
	    "  --version, --help\n\n"
	    "SERVICE is media-edge (edge), ai-session (ai), reasoner, "
	    "rate-limiter or persister.\n");
	config_help(fp);
}

int
main(int argc, char *argv[])
{
	static const struct {
		const char *name;
		int (*fn)(int, char *[]);
	} cmds[] = {
		{ "ping", cmd_ping },
		{ "health", cmd_health },
		{ "decode", cmd_decode },
		{ "tap", cmd_tap },
		{ "req", cmd_req },
		{ "doctor", cmd_doctor },
	};
	size_t i;

	log_init("callctl");
	log_set_level("warn");
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return (EX_USAGE);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return (0);
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("callctl %s\n", cfg_version);
		return (0);
	}
	if (config_load() == -1 || bus_tls_init(&ctl_cfg.bus_tls) == -1)
		return (EX_CONFIG);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			/* a close left behind (bus_close) may still run:
			 * no exit handlers under it (sig.h) */
			sig_exit(cmds[i].fn(argc - 1, argv + 1));
	fprintf(stderr, "callctl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return (EX_USAGE);
}
