/*
 * config.c - media-edge's environment table (see README.md for each
 * variable) and the checks cfg_load() cannot make alone.  main only.
 */
#include <stddef.h>
#include <string.h>

#include "bus.h"
#include "cfg.h"
#include "edge.h"
#include "log.h"

#define O(f) CFG_OFF(struct edge_cfg, f)

const struct cfg_opt edge_cfg_opts[] = {
	{ "EDGE_HTTP_ADDR", CFG_STR, O(http_addr), "0.0.0.0",
	    "address of the public HTTP port" },
	{ "EDGE_HTTP_PORT", CFG_INT, O(http_port), "8080",
	    "public HTTP port: /media, webhooks, /health, /metrics" },
	{ "EDGE_LISTEN_URL", CFG_STR, O(listen_url), "tcp://127.0.0.1:7001",
	    "request socket (Ping, HangUp)" },
	{ "EDGE_CTL_ADVERTISE_URL", CFG_STR, O(ctl_advertise_url), "",
	    "request socket address given to ai-session (default: listen)" },
	{ "EDGE_PUB_URL", CFG_STR, O(pub_url), "tcp://127.0.0.1:7002",
	    "pub socket: caller audio, marks, dtmf" },
	{ "EDGE_PUB_ADVERTISE_URL", CFG_STR, O(pub_advertise_url), "",
	    "pub address given to ai-session (default: EDGE_PUB_URL)" },
	{ "AI_SESSION_URL", CFG_STR, O(ai_session_url), "tcp://127.0.0.1:7011",
	    "ai-session request socket(s), comma-separated" },
	{ "EDGE_PUBLIC_URL", CFG_STR, O(public_url), "http://127.0.0.1:8080",
	    "our public base URL as the provider sees it" },
	{ "EDGE_STREAM_TOKEN_SECRET", CFG_STR | CFG_SECRET,
	    O(stream_token_secret), NULL, "HMAC key of the stream tokens" },
	{ "EDGE_TWILIO_AUTH_TOKEN", CFG_STR | CFG_SECRET,
	    O(edge_twilio_auth_token), "",
	    "key for x-twilio-signature on /media (else TWILIO_AUTH_TOKEN)" },
	{ "TWILIO_AUTH_TOKEN", CFG_STR | CFG_SECRET, O(twilio_auth_token), "",
	    "Twilio auth token" },
	{ "LOG_LEVEL", CFG_STR, O(log_level), "info",
	    "debug, info, warn or error" },
	BUS_TLS_CFG_OPTS(struct edge_cfg, bus_tls),
	{ "EDGE_MAX_CALLS", CFG_INT, O(max_calls), "2000",
	    "calls (streams with an accepted start) served at once; more "
	    "are refused" },
	{ "EDGE_START_TIMEOUT_MS", CFG_INT, O(start_timeout_ms), "5000",
	    "a /media socket without a valid start by then is closed" },
	{ "EDGE_PENDING_PER_ADDR", CFG_INT, O(pending_per_addr), "64",
	    "/media sockets still waiting for their start, per client "
	    "address; more upgrades are refused" },
	{ "EDGE_REQ_WORKERS", CFG_INT, O(req_workers), "16",
	    "threads sending SessionStart / SessionEnd" },
	{ "EDGE_SESSION_TIMEOUT_MS", CFG_INT, O(session_timeout_ms), "5000",
	    "per-attempt timeout of SessionStart / SessionEnd" },
	{ "EDGE_SESSION_ATTEMPTS", CFG_INT, O(session_attempts), "6",
	    "attempts of SessionStart (OVERLOADED, timeouts)" },
	{ "EDGE_START_BUFFER_BYTES", CFG_INT, O(start_buffer_bytes), "64000",
	    "caller audio held per call until the ai-session is ready" },
	{ "EDGE_REPLAY_MS", CFG_INT, O(replay_ms), "1000",
	    "caller audio sent again to the ai-session that takes a call "
	    "over when the one before sent no acks (an older ai-session; "
	    "0: none)" },
	{ "EDGE_UNACKED_MS", CFG_INT, O(unacked_ms), "6000",
	    "caller audio kept per call until its ai-session acknowledges "
	    "it, and sent again, exactly that, to the one that takes the "
	    "call over; beyond it the oldest is dropped (0: no acks, "
	    "EDGE_REPLAY_MS only)" },
	{ "EDGE_OUT_QUEUE_BYTES", CFG_INT, O(out_queue_bytes), "524288",
	    "queued output per call before a slow reader is cut off" },
	{ "EDGE_MAX_PAD_MS", CFG_INT, O(max_pad_ms), "2000",
	    "largest timestamp gap padded with silence" },
	{ "EDGE_TOKEN_CACHE", CFG_INT, O(token_cache), "65536",
	    "used stream tokens remembered until they expire" },
	{ "EDGE_STREAM_TOKEN_MAX_TTL_S", CFG_INT, O(token_max_ttl_s), "3600",
	    "tokens expiring later than this are refused" },
	{ "EDGE_DRAIN_TIMEOUT_MS", CFG_INT, O(drain_timeout_ms), "30000",
	    "on SIGTERM, time calls in progress get to finish" },
	{ "SHUTDOWN_TIMEOUT_MS", CFG_INT, O(shutdown_timeout_ms), "45000",
	    "hard limit on the whole shutdown (drain included)" },
	{ "EDGE_PUB_SENDBUF", CFG_INT, O(pub_sendbuf), "4096",
	    "messages queued per subscriber before pub drops" },
	{ "EDGE_SUB_RECVBUF", CFG_INT, O(sub_recvbuf), "4096",
	    "messages queued on the sub socket before it drops" },
	{ "EDGE_CONNECT_WAIT_MS", CFG_INT, O(connect_wait_ms), "2000",
	    "wait for the sub pipe to an ai-session before sending audio" },
	{ "EDGE_API_TOKEN", CFG_STR | CFG_SECRET, O(api_token), "",
	    "bearer token of POST /calls and /events (empty: refused)" },
	{ "TRUSTED_PROXIES", CFG_STR, O(trusted_proxies), "",
	    "CIDRs of reverse proxies whose X-Forwarded-For is believed "
	    "(empty: none)" },
	{ "EDGE_PROVIDER", CFG_STR, O(provider), "twilio",
	    "twilio, signalwire or telnyx (services/media-edge/tel.c)" },
	{ "TWILIO_API_BASE_URL", CFG_STR, O(twilio_api_base),
	    "https://api.twilio.com/2010-04-01", "Twilio REST base" },
	{ "TWILIO_ACCOUNT_SID", CFG_STR, O(twilio_account_sid), "",
	    "Twilio account sid (AC...)" },
	{ "TWILIO_FROM_NUMBER", CFG_STR, O(twilio_from), "",
	    "caller id when POST /calls names none" },
	{ "SIGNALWIRE_API_BASE_URL", CFG_STR, O(sw_api_base), "",
	    "https://<space>.signalwire.com/api/laml/2010-04-01" },
	{ "SIGNALWIRE_PROJECT_ID", CFG_STR, O(sw_project_id), "",
	    "SignalWire project id (REST user)" },
	{ "SIGNALWIRE_API_TOKEN", CFG_STR | CFG_SECRET, O(sw_api_token), "",
	    "SignalWire API token (REST password)" },
	{ "SIGNALWIRE_SIGNING_KEY", CFG_STR | CFG_SECRET, O(sw_signing_key),
	    "", "key of X-SignalWire-Signature" },
	{ "SIGNALWIRE_FROM_NUMBER", CFG_STR, O(sw_from), "",
	    "caller id for SignalWire calls" },
	{ "TELNYX_API_BASE_URL", CFG_STR, O(telnyx_api_base),
	    "https://api.telnyx.com/v2", "Telnyx REST base" },
	{ "TELNYX_API_KEY", CFG_STR | CFG_SECRET, O(telnyx_api_key), "",
	    "Telnyx API key (bearer token of TeXML and Call Control REST)" },
	{ "TELNYX_APPLICATION_ID", CFG_STR, O(telnyx_app_id), "",
	    "TeXML application (connection) id calls are created for" },
	{ "TELNYX_PUBLIC_KEY", CFG_STR, O(telnyx_public_key), "",
	    "base64 Ed25519 public key of telnyx-signature-ed25519" },
	{ "TELNYX_FROM_NUMBER", CFG_STR, O(telnyx_from), "",
	    "caller id for Telnyx calls" },
	{ "TELNYX_WEBHOOK_TOLERANCE_S", CFG_INT, O(telnyx_tolerance_s), "300",
	    "telnyx-timestamp may differ from our clock by this much" },
	{ "RATE_LIMITER_URL", CFG_STR, O(rate_limiter_url),
	    "tcp://127.0.0.1:7031", "rate-limiter (empty: no rate checks)" },
	{ "PERSISTER_URL", CFG_STR, O(persister_url), "tcp://127.0.0.1:7041",
	    "persister (empty: calls and events are not recorded)" },
	{ "EDGE_MACHINE_DETECTION", CFG_STR, O(machine_detection),
	    "DetectMessageEnd",
	    "MachineDetection of created calls (empty: "
	    "off)" },
	{ "NOTIFY_WEBHOOK_URL", CFG_STR, O(notify_url), "",
	    "signed end-of-call notifications go here (empty: off)" },
	{ "NOTIFY_WEBHOOK_SECRET", CFG_STR | CFG_SECRET, O(notify_secret), "",
	    "HMAC-SHA256 key of the notifications" },
	{ "EDGE_MAX_CALL_SECONDS", CFG_INT, O(max_call_seconds), "1800",
	    "calls are hung up after this long" },
	{ "EDGE_FALLBACK_SAY", CFG_STR, O(fallback_say),
	    "Sorry, we cannot continue this call right now. Please try "
	    "again later. Goodbye.",
	    "what the caller hears when the call cannot be served (no "
	    "ai-session, overloaded, setup failed, model lost, media-edge "
	    "gone): the <Say> after </Connect> in /twiml (empty: none)" },
	{ "EDGE_STREAM_TOKEN_TTL_S", CFG_INT, O(stream_token_ttl_s), "300",
	    "lifetime of the stream tokens /twiml issues" },
	{ "EDGE_WEB_WORKERS", CFG_INT, O(web_workers), "4",
	    "threads for provider REST, rate checks, records, notifications" },
	{ "EDGE_WEB_QUEUE_MAX", CFG_INT, O(web_queue_max), "4096",
	    "jobs waiting for those threads; beyond, requests get 503 and "
	    "hang-ups, events, records and notifications wait and are "
	    "retried" },
	{ "EDGE_PROVIDER_TIMEOUT_MS", CFG_INT, O(provider_timeout_ms), "10000",
	    "timeout of one provider REST or notification request" },
	{ "EDGE_NOTIFY_ATTEMPTS", CFG_INT, O(notify_attempts), "8",
	    "notification attempts (backoff 1 s doubling, at most 60 s)" },
	{ "EDGE_EVENT_LOOP", CFG_STR, O(event_loop), "libev",
	    "libev (epoll, if libev is installed) or poll" },
	{ "EDGE_BATCH_FLUSH_MS", CFG_INT, O(batch_flush_ms), "2",
	    "while busy the event loop turns at most once per this many ms "
	    "and publishes the audio batches after each turn (0: a turn per "
	    "event, batches after every turn)" },
	{ "EDGE_DASHBOARD_SECRET", CFG_STR | CFG_SECRET, O(dash_secret), "",
	    "HMAC key of the dashboard's read-only sign-in tokens, at least "
	    "16 bytes (empty: no dashboard sign-in)" },
	{ "EDGE_DASHBOARD_ORIGINS", CFG_STR, O(dash_origins), "",
	    "Origins allowed on /events and the sign-in, comma-separated "
	    "(empty: the origin of EDGE_PUBLIC_URL)" },
	{ "EDGE_DASHBOARD_TOKEN_MAX_TTL_S", CFG_INT, O(dash_token_max_ttl_s),
	    "2592000",
	    "dashboard tokens expiring later than this from now are "
	    "refused" },
	{ NULL, 0, 0, NULL, NULL }
};

static int
positive(const char *name, long v, long min)
{
	if (v < min) {
		log_errorx("%s: must be at least %ld", name, min);
		return (-1);
	}
	return (0);
}

int
edge_config_check(struct edge_cfg *c)
{
	int rv = 0;

	if (log_set_level(c->log_level) == -1) {
		log_errorx("LOG_LEVEL: unknown level");
		rv = -1;
	}
	if (c->http_port < 0 || c->http_port > 65535) {
		log_errorx("EDGE_HTTP_PORT: out of range");
		rv = -1;
	}
	if (c->unacked_ms > 60000 || c->replay_ms > 60000) {
		/* a frame slot per 20 ms per call */
		log_errorx("EDGE_UNACKED_MS, EDGE_REPLAY_MS: at most 60000");
		rv = -1;
	}
	if (strlen(c->stream_token_secret) < 16) {
		log_errorx("EDGE_STREAM_TOKEN_SECRET: use at least 16 bytes");
		rv = -1;
	}
	if (positive("EDGE_MAX_CALLS", c->max_calls, 1) == -1
	    || positive("EDGE_REQ_WORKERS", c->req_workers, 1) == -1
	    || positive("EDGE_SESSION_TIMEOUT_MS", c->session_timeout_ms, 10)
	        == -1
	    || positive("EDGE_SESSION_ATTEMPTS", c->session_attempts, 1) == -1
	    || positive("EDGE_START_BUFFER_BYTES", c->start_buffer_bytes, 0)
	        == -1
	    || positive("EDGE_REPLAY_MS", c->replay_ms, 0) == -1
	    || positive("EDGE_UNACKED_MS", c->unacked_ms, 0) == -1
	    || positive("EDGE_OUT_QUEUE_BYTES", c->out_queue_bytes, 1024) == -1
	    || positive("EDGE_TOKEN_CACHE", c->token_cache, 16) == -1
	    || positive("EDGE_START_TIMEOUT_MS", c->start_timeout_ms, 100)
	        == -1
	    || positive("EDGE_PENDING_PER_ADDR", c->pending_per_addr, 1) == -1
	    || positive("EDGE_BATCH_FLUSH_MS", c->batch_flush_ms, 0) == -1)
		rv = -1;
	if (tel_find(c->provider) == NULL) {
		log_errorx("EDGE_PROVIDER: one of %s", tel_names());
		rv = -1;
	}
	if (positive("TELNYX_WEBHOOK_TOLERANCE_S", c->telnyx_tolerance_s, 1)
	    == -1)
		rv = -1;
	if (positive("EDGE_WEB_WORKERS", c->web_workers, 1) == -1
	    || positive("EDGE_WEB_QUEUE_MAX", c->web_queue_max, 1) == -1
	    || positive("EDGE_MAX_CALL_SECONDS", c->max_call_seconds, 1) == -1
	    || positive("EDGE_STREAM_TOKEN_TTL_S", c->stream_token_ttl_s, 5)
	        == -1)
		rv = -1;
	if (c->dash_secret[0] != '\0' && strlen(c->dash_secret) < 16) {
		log_errorx("EDGE_DASHBOARD_SECRET: use at least 16 bytes");
		rv = -1;
	}
	if (positive(
	        "EDGE_DASHBOARD_TOKEN_MAX_TTL_S", c->dash_token_max_ttl_s, 60)
	    == -1)
		rv = -1;
	if (proxy_parse(c->trusted_proxies, &c->proxies) == -1)
		rv = -1;
	if (strlen(c->ai_session_url) == 0) {
		log_errorx("AI_SESSION_URL: empty");
		rv = -1;
	}
	return (rv);
}
