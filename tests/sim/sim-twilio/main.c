/*
 * sim-twilio - a simulated Twilio (or SignalWire) for tests: the REST
 * calls API and what the provider does with a call (twilio.h).
 *
 *	sim-twilio --port P --account-sid AC... --auth-token T
 *	    [--record FILE] [--answered-by human|machine_end_beep|...]
 *	    [--caller-audio FILE] [--caller-speak-at-ms X,Y]
 *	    [--caller-tone-at-ms X:DUR] [--caller-dtmf D@ms,...] [--tags]
 *	    [--call-duration-ms D]
 *	    [--ring-ms R] [--media-url ws://127.0.0.1:8080/media]
 *	    [--signalwire --signing-key K] [--telnyx --telnyx-key SEED]
 *	    [--hook-workers N]
 *	    [--hook-timeout-ms T] [--twiml-get]
 *	sim-twilio --self-test
 *
 * Prints {"msg":"ready","svc":"sim-twilio","port":N} on stderr once it
 * listens (port 0 picks a free one); SIGINT/SIGTERM end it.  Exit 0, or 2
 * on usage errors, 1 when it cannot start.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "twilio.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: sim-twilio --port P --account-sid SID "
	    "--auth-token T [--record FILE]\n"
	    "\t[--answered-by human|machine_start|machine_end_beep|...]\n"
	    "\t[--caller-audio FILE] [--caller-speak-at-ms X,Y] "
	    "[--caller-tone-at-ms X:DUR] [--caller-dtmf D@ms,...] [--tags]\n"
	    "\t[--call-duration-ms D] [--ring-ms R] [--media-url ws://...]\n"
	    "\t[--signalwire --signing-key K] [--telnyx --telnyx-key SEED "
	    "[--telnyx-dtmf-status S]]\n"
	    "\t[--hook-workers N] "
	    "[--hook-timeout-ms T] [--twiml-get]\n"
	    "\t[--number E164 [--number-voice-url U] "
	    "[--number-status-callback U]]\n"
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

enum opt_kind { OPT_STR, OPT_INT, OPT_FLAG };

/* Every option: where it lands in struct sim_opts, and its type. */
static const struct opt {
	const char   *name;
	enum opt_kind kind;
	size_t        off;
	long long     max; /* OPT_INT: 0 .. max */
} opts[] = {
	{ "port", OPT_INT, offsetof(struct sim_opts, port), 65535 },
	{ "account-sid", OPT_STR, offsetof(struct sim_opts, account_sid), 0 },
	{ "auth-token", OPT_STR, offsetof(struct sim_opts, auth_token), 0 },
	{ "record", OPT_STR, offsetof(struct sim_opts, record_path), 0 },
	{ "answered-by", OPT_STR, offsetof(struct sim_opts, answered_by), 0 },
	{ "caller-audio", OPT_STR, offsetof(struct sim_opts, caller_audio),
	    0 },
	{ "caller-speak-at-ms", OPT_STR,
	    offsetof(struct sim_opts, caller_speak_at), 0 },
	{ "caller-tone-at-ms", OPT_STR,
	    offsetof(struct sim_opts, caller_tone_at), 0 },
	{ "caller-dtmf", OPT_STR, offsetof(struct sim_opts, caller_dtmf), 0 },
	{ "tags", OPT_FLAG, offsetof(struct sim_opts, tags), 0 },
	{ "call-duration-ms", OPT_INT,
	    offsetof(struct sim_opts, call_duration_ms), 86400000 },
	{ "ring-ms", OPT_INT, offsetof(struct sim_opts, ring_ms), 60000 },
	{ "media-url", OPT_STR, offsetof(struct sim_opts, media_url), 0 },
	{ "signalwire", OPT_FLAG, offsetof(struct sim_opts, signalwire), 0 },
	{ "signing-key", OPT_STR, offsetof(struct sim_opts, signing_key), 0 },
	{ "telnyx", OPT_FLAG, offsetof(struct sim_opts, telnyx), 0 },
	{ "telnyx-key", OPT_STR, offsetof(struct sim_opts, telnyx_key), 0 },
	{ "telnyx-dtmf-status", OPT_INT,
	    offsetof(struct sim_opts, telnyx_dtmf_status), 599 },
	{ "hook-workers", OPT_INT, offsetof(struct sim_opts, hook_workers),
	    64 },
	{ "hook-timeout-ms", OPT_INT,
	    offsetof(struct sim_opts, hook_timeout_ms), 600000 },
	{ "self-test", OPT_FLAG, offsetof(struct sim_opts, self_test), 0 },
	{ "twiml-get", OPT_FLAG, offsetof(struct sim_opts, twiml_get), 0 },
	{ "number", OPT_STR, offsetof(struct sim_opts, number), 0 },
	{ "number-voice-url", OPT_STR,
	    offsetof(struct sim_opts, number_voice_url), 0 },
	{ "number-status-callback", OPT_STR,
	    offsetof(struct sim_opts, number_status_cb), 0 },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static int
apply(struct sim_opts *o, const struct opt *d, const char *arg)
{
	char     *field = (char *)o + d->off;
	long long v;

	switch (d->kind) {
	case OPT_STR:
		*(const char **)(void *)field = arg;
		return (0);
	case OPT_FLAG:
		*(bool *)(void *)field = true;
		return (0);
	case OPT_INT:
		if (stream_parse_int(arg, 0, d->max, &v) == -1) {
			stream_log("error",
			    "--%s: want an integer in [0, %lld]", d->name,
			    d->max);
			return (-1);
		}
		*(int *)(void *)field = (int)v;
		return (0);
	}
	return (-1);
}

static int
check(const struct sim_opts *o)
{
	if (o->account_sid == NULL || o->auth_token == NULL) {
		stream_log("error",
		    "--account-sid and --auth-token are "
		    "required");
		return (-1);
	}
	if (o->signalwire && o->signing_key == NULL) {
		stream_log("error", "--signalwire needs --signing-key");
		return (-1);
	}
	if (o->telnyx && (o->telnyx_key == NULL || o->signalwire)) {
		stream_log("error",
		    "--telnyx needs --telnyx-key and no --signalwire");
		return (-1);
	}
	if (o->hook_workers < 1 || o->hook_timeout_ms < 100) {
		stream_log("error",
		    "need --hook-workers >= 1 and "
		    "--hook-timeout-ms >= 100");
		return (-1);
	}
	return (0);
}

static int
parse(struct sim_opts *o, int argc, char *argv[])
{
	struct option lo[NOPTS + 1];
	size_t        i;
	int           ch;

	memset(lo, 0, sizeof(lo));
	for (i = 0; i < NOPTS; i++) {
		lo[i].name = opts[i].name;
		lo[i].has_arg = opts[i].kind == OPT_FLAG ? no_argument
		                                         : required_argument;
		lo[i].val = (int)i + 1;
	}
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		if (ch < 1 || ch > (int)NOPTS
		    || apply(o, &opts[ch - 1], optarg) == -1)
			return (-1);
	if (optind != argc)
		return (-1);
	return (o->self_test ? 0 : check(o));
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
	cfg->dialect = o->signalwire ? STREAM_SIGNALWIRE
	    : o->telnyx              ? STREAM_TELNYX
	                             : STREAM_TWILIO;
	if (o->caller_audio != NULL || o->caller_tone_at != NULL)
		cfg->audio = &sim->audio;
	cfg->tags = o->tags;
	if (o->caller_dtmf != NULL
	    && stream_dtmf_parse(cfg, o->caller_dtmf) == -1)
		return (-1);
	/* Twilio signs the upgrade (1.6); SignalWire documents no header. */
	cfg->sig_key = o->signalwire || o->telnyx ? NULL : o->auth_token;
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
	        sim->o.signalwire   ? "signalwire"
	            : sim->o.telnyx ? "telnyx"
	                            : "twilio"));
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
	int        rv;

	stream_log_init("sim-twilio");
	memset(&sim, 0, sizeof(sim));
	sim.o.answered_by = "human";
	sim.o.ring_ms = SIM_RING_MS;
	sim.o.hook_workers = 4;
	sim.o.hook_timeout_ms = 5000;
	if (parse(&sim.o, argc, argv) == -1) {
		usage();
		return (2);
	}
	if (sim.o.self_test)
		return (twsig_self_test() == 0 ? 0 : 1);
	sim.api_base = sim.o.signalwire ? "/api/laml/2010-04-01"
	    : sim.o.telnyx              ? "/v2"
	                                : "/2010-04-01";
	if (sim.o.telnyx && telnyx_key_load(&sim) == -1) {
		stream_log("error", "--telnyx-key: the base64 of 32 bytes");
		return (2);
	}
	numbers_init(&sim);
	stream_sig_block(&sigs); /* before curl, lws or any thread */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = run(&sim, &sigs);
	curl_global_cleanup();
	numbers_fini(&sim);
	EVP_PKEY_free(sim.ed_key);
	return (rv == 0 ? 0 : 1);
}
