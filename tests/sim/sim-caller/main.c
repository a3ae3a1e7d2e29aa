/*
 * sim-caller - plays N telephone calls against a Twilio / SignalWire style
 * media-stream endpoint and prints one JSON report on stdout.
 *
 *	sim-caller --url ws://127.0.0.1:P/media --calls N --duration-ms D
 *	    [--ramp-ms R] [--drain-ms M] [--dialect twilio|signalwire]
 *	    [--token-secret S | --token T] [--token-ttl-s S]
 *	    [--audio FILE] [--speak-at-ms X,Y] [--tone-at-ms X:DUR,...]
 *	    [--tags] [--dtmf D@ms,...] [--inject KIND] [--param name=value]
 *	    [--record FILE] [--report FILE]
 *	    [--signature-auth-token T --public-url wss://host/media]
 *
 * Exit 0 when the run happened (the report says how the calls went), 2 on
 * a usage error, 1 when it could not start.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "caller.h"

#define EX_USAGE_ 2

static void
usage(void)
{
	fprintf(stderr,
	    "usage: sim-caller --url ws://host:port/path --calls N "
	    "--duration-ms D\n"
	    "\t[--ramp-ms R] [--drain-ms M] [--dialect twilio|signalwire]\n"
	    "\t[--token-secret S | --token T] [--token-ttl-s S]\n"
	    "\t[--audio FILE(.ulaw|.wav)] [--speak-at-ms X,Y] "
	    "[--tone-at-ms X:DUR,...]\n"
	    "\t[--tags] [--dtmf D@ms,...] [--inject KIND] [--param "
	    "name=value]\n"
	    "\t[--record FILE] [--report FILE]\n"
	    "\t[--signature-auth-token T --public-url wss://host/path]\n"
	    "inject kinds: bad-json bad-base64 media-before-start "
	    "double-start oversize\n"
	    "\tbinary-frame unknown-event no-token bad-token expired-token "
	    "reused-token\n");
}

static const struct option longopts[]
    = { { "url", required_argument, NULL, 'u' },
	      { "calls", required_argument, NULL, 'n' },
	      { "duration-ms", required_argument, NULL, 'd' },
	      { "ramp-ms", required_argument, NULL, 'r' },
	      { "drain-ms", required_argument, NULL, 'D' },
	      { "dialect", required_argument, NULL, 'L' },
	      { "token-secret", required_argument, NULL, 'S' },
	      { "token", required_argument, NULL, 'T' },
	      { "token-ttl-s", required_argument, NULL, 'E' },
	      { "audio", required_argument, NULL, 'a' },
	      { "speak-at-ms", required_argument, NULL, 's' },
	      { "tone-at-ms", required_argument, NULL, 't' },
	      { "tags", no_argument, NULL, 'g' },
	      { "dtmf", required_argument, NULL, 'm' },
	      { "inject", required_argument, NULL, 'i' },
	      { "param", required_argument, NULL, 'p' },
	      { "record", required_argument, NULL, 'R' },
	      { "report", required_argument, NULL, 'P' },
	      { "signature-auth-token", required_argument, NULL, 'A' },
	      { "public-url", required_argument, NULL, 'U' },
	      { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };

static int
num(const char *name, const char *arg, long long min, long long max, int *outp)
{
	long long v;

	if (stream_parse_int(arg, min, max, &v) == -1) {
		stream_log("error", "--%s: want an integer in [%lld, %lld]",
		    name, min, max);
		return (-1);
	}
	*outp = (int)v;
	return (0);
}

static int
add_param(struct caller *c, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char        name[128];

	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof(name)) {
		stream_log("error", "--param: want name=value");
		return (-1);
	}
	snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
	json_object_set_new(c->o.params, name, json_string(eq + 1));
	return (0);
}

/* Audio options apply after the whole command line is read. */
struct audio_args {
	const char *file, *speak, *tone;
};

/* The integer options: --calls, --duration-ms, --ramp-ms, ... */
static int
parse_num(struct caller *c, int ch, const char *arg)
{
	static const struct {
		int         ch;
		const char *name;
		long long   min, max;
	} nums[] = {
		{ 'n', "calls", 1, 100000 },
		{ 'd', "duration-ms", 20, 3600000 },
		{ 'r', "ramp-ms", 0, 3600000 },
		{ 'D', "drain-ms", 0, 60000 },
		{ 'E', "token-ttl-s", 1, 86400 },
	};
	int   *target[] = { &c->o.calls, &c->o.duration_ms, &c->o.ramp_ms,
		  &c->cfg.drain_ms, &c->cfg.token_ttl_s };
	size_t i;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (nums[i].ch == ch)
			return (num(nums[i].name, arg, nums[i].min,
			    nums[i].max, target[i]));
	return (-1);
}

static int
parse_one(struct caller *c, struct audio_args *aa, int ch, const char *arg)
{
	struct stream_cfg *cfg = &c->cfg;

	switch (ch) {
	case 'u':
		c->o.url = arg;
		return (0);
	case 'L':
		if (strcmp(arg, "twilio") == 0)
			cfg->dialect = STREAM_TWILIO;
		else if (strcmp(arg, "signalwire") == 0)
			cfg->dialect = STREAM_SIGNALWIRE;
		else {
			stream_log("error", "--dialect: twilio or signalwire");
			return (-1);
		}
		return (0);
	case 'S':
		cfg->token_secret = arg;
		return (0);
	case 'T':
		cfg->token = arg;
		return (0);
	case 'a':
		aa->file = arg;
		return (0);
	case 's':
		aa->speak = arg;
		return (0);
	case 't':
		aa->tone = arg;
		return (0);
	case 'g':
		cfg->tags = true;
		return (0);
	case 'm':
		return (stream_dtmf_parse(cfg, arg));
	case 'i':
		if (stream_inject_parse(arg, &cfg->inject) == -1) {
			stream_log("error", "--inject: unknown kind %s", arg);
			return (-1);
		}
		return (0);
	case 'p':
		return (add_param(c, arg));
	case 'R':
		c->o.record_path = arg;
		return (0);
	case 'P':
		c->o.report_path = arg;
		return (0);
	case 'A':
		cfg->sig_key = arg;
		return (0);
	case 'U':
		c->o.public_url = arg;
		return (0);
	default:
		return (parse_num(c, ch, arg));
	}
}

static int
check_opts(struct caller *c, const struct audio_args *aa)
{
	struct stream_cfg *cfg = &c->cfg;
	enum stream_inject inj = cfg->inject;

	if (c->o.url == NULL || c->o.calls == 0 || c->o.duration_ms == 0) {
		stream_log("error",
		    "--url, --calls and --duration-ms are "
		    "required");
		return (-1);
	}
	if (cfg->token_secret != NULL && cfg->token != NULL) {
		stream_log("error",
		    "--token-secret and --token exclude each "
		    "other");
		return (-1);
	}
	if ((inj == STREAM_INJECT_BAD_TOKEN
	        || inj == STREAM_INJECT_EXPIRED_TOKEN)
	    && cfg->token_secret == NULL) {
		stream_log("error", "--inject %s needs --token-secret",
		    stream_inject_name(inj));
		return (-1);
	}
	if ((cfg->sig_key != NULL) != (c->o.public_url != NULL)) {
		stream_log("error",
		    "--signature-auth-token and --public-url "
		    "go together");
		return (-1);
	}
	cfg->sig_url = c->o.public_url;
	if (aa->file != NULL && stream_audio_load(&c->audio, aa->file) == -1)
		return (-1);
	if (aa->speak != NULL
	    && (aa->file == NULL
	        || stream_audio_speak_at(&c->audio, aa->speak) == -1)) {
		if (aa->file == NULL)
			stream_log("error", "--speak-at-ms needs --audio");
		return (-1);
	}
	if (aa->tone != NULL
	    && stream_audio_tone_at(&c->audio, aa->tone) == -1)
		return (-1);
	if (aa->file != NULL || aa->tone != NULL)
		cfg->audio = &c->audio;
	return (0);
}

int
main(int argc, char *argv[])
{
	struct caller     c;
	struct audio_args aa = { NULL, NULL, NULL };
	sigset_t          sigs;
	int               ch, rv;

	stream_log_init("sim-caller");
	memset(&c, 0, sizeof(c));
	stream_audio_init(&c.audio);
	c.o.params = json_object();
	c.cfg.dialect = STREAM_TWILIO;
	c.cfg.drain_ms = 1000;
	c.cfg.token_ttl_s = 300;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			usage();
			return (0);
		}
		if (parse_one(&c, &aa, ch, optarg) == -1) {
			usage();
			return (EX_USAGE_);
		}
	}
	if (optind != argc || check_opts(&c, &aa) == -1) {
		usage();
		return (EX_USAGE_);
	}
	c.cfg.duration_ms = c.o.duration_ms;
	c.o.drain_ms = c.cfg.drain_ms;
	stream_sig_block(&sigs); /* before lws or any thread */
	rv = caller_run(&c, &sigs);
	stream_audio_fini(&c.audio);
	free(c.cfg.dtmf);
	json_decref(c.o.params);
	return (rv == 0 ? 0 : 1);
}
