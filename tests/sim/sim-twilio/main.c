/*
 * sim-twilio - a simulated Twilio (or SignalWire) for tests: the REST
 * calls API and what the provider does with a call (twilio.h).
 *
 *	sim-twilio --port P --account-sid AC... --auth-token T
 *	    [--record FILE] [--answered-by human|machine_end_beep|...]
 *	    [--caller-audio FILE] [--caller-speak-at-ms X,Y]
 *	    [--caller-tone-at-ms X:DUR] [--tags] [--call-duration-ms D]
 *	    [--ring-ms R] [--media-url ws://127.0.0.1:8080/media]
 *	    [--signalwire --signing-key K] [--hook-workers N]
 *	    [--hook-timeout-ms T]
 *	sim-twilio --self-test
 *
 * Prints {"msg":"ready","svc":"sim-twilio","port":N} on stderr once it
 * listens (port 0 picks a free one); SIGINT/SIGTERM end it.  Exit 0, or 2
 * on usage errors, 1 when it cannot start.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "twilio.h"

static const struct option longopts[]
    = { { "port", required_argument, NULL, 'p' },
	      { "account-sid", required_argument, NULL, 'a' },
	      { "auth-token", required_argument, NULL, 't' },
	      { "record", required_argument, NULL, 'R' },
	      { "answered-by", required_argument, NULL, 'b' },
	      { "caller-audio", required_argument, NULL, 'A' },
	      { "caller-speak-at-ms", required_argument, NULL, 's' },
	      { "caller-tone-at-ms", required_argument, NULL, 'T' },
	      { "tags", no_argument, NULL, 'g' },
	      { "call-duration-ms", required_argument, NULL, 'd' },
	      { "ring-ms", required_argument, NULL, 'r' },
	      { "media-url", required_argument, NULL, 'm' },
	      { "signalwire", no_argument, NULL, 'S' },
	      { "signing-key", required_argument, NULL, 'k' },
	      { "hook-workers", required_argument, NULL, 'w' },
	      { "hook-timeout-ms", required_argument, NULL, 'o' },
	      { "self-test", no_argument, NULL, 'x' },
	      { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };

static void
usage(void)
{
	fprintf(stderr,
	    "usage: sim-twilio --port P --account-sid SID "
	    "--auth-token T [--record FILE]\n"
	    "\t[--answered-by human|machine_start|machine_end_beep|...]\n"
	    "\t[--caller-audio FILE] [--caller-speak-at-ms X,Y] "
	    "[--caller-tone-at-ms X:DUR] [--tags]\n"
	    "\t[--call-duration-ms D] [--ring-ms R] [--media-url ws://...]\n"
	    "\t[--signalwire --signing-key K] [--hook-workers N] "
	    "[--hook-timeout-ms T]\n"
	    "       sim-twilio --self-test\n");
}

void
sim_record(struct sim *sim, json_t *line)
{
	if (sim->record != NULL && line != NULL) {
		json_object_set_new(
		    line, "t_ms", json_integer(stream_elapsed_ms()));
		if (json_dumpf(line, sim->record, JSON_COMPACT) == 0)
			fputc('\n', sim->record);
		fflush(sim->record); /* tests read it while we run */
	}
	json_decref(line);
}

static int
num(const char *name, const char *arg, long long max, int *outp)
{
	long long v;

	if (stream_parse_int(arg, 0, max, &v) == -1) {
		stream_log(
		    "error", "--%s: want an integer in [0, %lld]", name, max);
		return (-1);
	}
	*outp = (int)v;
	return (0);
}

static int
parse(struct sim_opts *o, int argc, char *argv[], bool *self_test)
{
	int ch, rv = 0;

	while (rv == 0
	    && (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			rv = num("port", optarg, 65535, &o->port);
			break;
		case 'a':
			o->account_sid = optarg;
			break;
		case 't':
			o->auth_token = optarg;
			break;
		case 'R':
			o->record_path = optarg;
			break;
		case 'b':
			o->answered_by = optarg;
			break;
		case 'A':
			o->caller_audio = optarg;
			break;
		case 's':
			o->caller_speak_at = optarg;
			break;
		case 'T':
			o->caller_tone_at = optarg;
			break;
		case 'g':
			o->tags = true;
			break;
		case 'd':
			rv = num("call-duration-ms", optarg, 86400000,
			    &o->call_duration_ms);
			break;
		case 'r':
			rv = num("ring-ms", optarg, 60000, &o->ring_ms);
			break;
		case 'm':
			o->media_url = optarg;
			break;
		case 'S':
			o->signalwire = true;
			break;
		case 'k':
			o->signing_key = optarg;
			break;
		case 'w':
			rv = num("hook-workers", optarg, 64, &o->hook_workers);
			break;
		case 'o':
			rv = num("hook-timeout-ms", optarg, 600000,
			    &o->hook_timeout_ms);
			break;
		case 'x':
			*self_test = true;
			break;
		default:
			rv = -1;
			break;
		}
	}
	if (rv == 0 && *self_test)
		return (0);
	if (rv == 0
	    && (optind != argc || o->account_sid == NULL
	        || o->auth_token == NULL)) {
		stream_log("error",
		    "--account-sid and --auth-token are "
		    "required");
		rv = -1;
	}
	if (rv == 0 && o->signalwire && o->signing_key == NULL) {
		stream_log("error", "--signalwire needs --signing-key");
		rv = -1;
	}
	if (rv == 0 && (o->hook_workers < 1 || o->hook_timeout_ms < 100)) {
		stream_log("error",
		    "need --hook-workers >= 1 and "
		    "--hook-timeout-ms >= 100");
		rv = -1;
	}
	return (rv);
}

/* The caller's side of every media stream. */
static int
stream_setup(struct sim *sim)
{
	struct sim_opts   *o = &sim->o;
	struct stream_cfg *cfg = &sim->scfg;

	stream_audio_init(&sim->audio);
	if (o->caller_audio != NULL
	    && stream_audio_load(&sim->audio, o->caller_audio) == -1)
		return (-1);
	if (o->caller_speak_at != NULL
	    && stream_audio_speak_at(&sim->audio, o->caller_speak_at) == -1)
		return (-1);
	if (o->caller_tone_at != NULL
	    && stream_audio_tone_at(&sim->audio, o->caller_tone_at) == -1)
		return (-1);
	memset(cfg, 0, sizeof(*cfg));
	cfg->dialect = o->signalwire ? STREAM_SIGNALWIRE : STREAM_TWILIO;
	if (o->caller_audio != NULL || o->caller_tone_at != NULL)
		cfg->audio = &sim->audio;
	cfg->tags = o->tags;
	/* Twilio signs the upgrade (1.6); SignalWire documents no header. */
	cfg->sig_key = o->signalwire ? NULL : o->auth_token;
	return (0);
}

static int
context_new(struct sim *sim)
{
	static struct lws_protocols protocols[]
	    = { { "http", rest_lws_cb, 0, 0, 0, NULL, 0 },
		      STREAM_PROTOCOL_INIT, { NULL, NULL, 0, 0, 0, NULL, 0 } };
	struct lws_context_creation_info info;

	protocols[0].per_session_data_size = rest_pss_size();
	lws_set_log_level(LLL_ERR | LLL_WARN, stream_log_lws);
	memset(&info, 0, sizeof(info));
	info.port = sim->o.port;
	info.iface = "127.0.0.1"; /* loopback only */
	info.protocols = protocols;
	info.user = sim;
	info.gid = -1;
	info.uid = -1;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if ((sim->ctx = lws_create_context(&info)) == NULL) {
		stream_log("error", "cannot listen on port %d", sim->o.port);
		return (-1);
	}
	sim->vhost = lws_get_vhost_by_name(sim->ctx, "default");
	sim->port = sim->vhost != NULL ? lws_get_vhost_listen_port(sim->vhost)
	                               : sim->o.port;
	return (0);
}

static int
run(struct sim *sim, const sigset_t *sigs)
{
	int rv = -1;

	if (sim->o.record_path != NULL
	    && (sim->record = fopen(sim->o.record_path, "w")) == NULL) {
		stream_log("error", "cannot open %s", sim->o.record_path);
		return (-1);
	}
	if (stream_setup(sim) == -1 || context_new(sim) == -1)
		goto out;
	stream_hub_init(&sim->hub, sim->ctx, sim->vhost, &sim->scfg);
	if (hook_start(sim) == -1
	    || stream_sig_start(sigs, sim->ctx, &sim->stop) == -1)
		goto out;
	stream_log_obj("info", "ready",
	    json_pack("{s:i, s:s}", "port", sim->port, "mode",
	        sim->o.signalwire ? "signalwire" : "twilio"));
	while (!atomic_load(&sim->stop))
		if (lws_service(sim->ctx, 0) < 0)
			break;
	stream_log("info", "shutting down");
	rv = 0;
out:
	hook_stop(sim); /* joins workers; jobs in flight dropped */
	if (sim->ctx != NULL) {
		stream_hub_abort(&sim->hub);
		call_free_all(sim);
		lws_context_destroy(sim->ctx);
		stream_hub_fini(&sim->hub);
	}
	stream_audio_fini(&sim->audio);
	if (sim->record != NULL)
		fclose(sim->record);
	return (rv);
}

int
main(int argc, char *argv[])
{
	struct sim sim;
	sigset_t   sigs;
	bool       self_test = false;
	int        rv;

	stream_log_init("sim-twilio");
	memset(&sim, 0, sizeof(sim));
	sim.o.answered_by = "human";
	sim.o.ring_ms = SIM_RING_MS;
	sim.o.hook_workers = 4;
	sim.o.hook_timeout_ms = 5000;
	if (parse(&sim.o, argc, argv, &self_test) == -1) {
		usage();
		return (2);
	}
	if (self_test)
		return (twsig_self_test() == 0 ? 0 : 1);
	sim.api_base
	    = sim.o.signalwire ? "/api/laml/2010-04-01" : "/2010-04-01";
	stream_sig_block(&sigs); /* before curl, lws or any thread */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = run(&sim, &sigs);
	curl_global_cleanup();
	return (rv == 0 ? 0 : 1);
}
