/*
 * config.c - ai-session's environment table.  Read once at startup by
 * cfg_main() in main.c; every variable is listed in README.md.
 */
#include <stddef.h>
#include <string.h>

#include "ai.h"
#include "bus.h"
#include "cfg.h"

#define O(f) CFG_OFF(struct ai_cfg, f)

struct ai_cfg cfg;

const struct cfg_opt ai_cfg_opts[] = {
	{ "AI_LISTEN_URL", CFG_STR, O(listen_url), "tcp://127.0.0.1:7011",
	    "request socket (SessionStart, SessionEnd, Ping)" },
	{ "AI_PUB_URL", CFG_STR, O(pub_url), "tcp://127.0.0.1:7012",
	    "pub socket: model audio, marks, clears, turns (topic = call "
	    "sid)" },
	{ "AI_PUB_ADVERTISE_URL", CFG_STR, O(pub_advertise_url), "",
	    "pub URL media-edge dials (empty: AI_PUB_URL)" },
	{ "AI_HTTP_ADDR", CFG_STR, O(http_addr), "0.0.0.0",
	    "address of /health, /ready and /metrics" },
	{ "AI_HTTP_PORT", CFG_INT, O(http_port), "9101",
	    "port of /health, /ready and /metrics" },
	{ "AI_WORKERS", CFG_INT, O(workers), "4",
	    "threads answering the request socket" },
	{ "AI_JOB_WORKERS", CFG_INT, O(job_workers), "4",
	    "threads for HangUp, persister and reasoner requests" },
	{ "AI_JOB_QUEUE_MAX", CFG_INT, O(job_queue_max), "65536",
	    "jobs waiting for those threads; beyond, call records, turns "
	    "and HangUps wait and are retried, the rest fail their call" },
	{ "AI_MAX_CALLS", CFG_INT, O(max_calls), "1000",
	    "calls taken at once; more get Error{OVERLOADED}" },
	{ "AI_AUDIO_ACK_MS", CFG_INT, O(audio_ack_ms), "100",
	    "per call, how often at most media-edge is told which caller "
	    "frames were written to the model (AudioAck), so a move "
	    "replays only the rest; an ack waits for a batch going to "
	    "media-edge anyway, at most twice this" },
	{ "AI_START_BUFFER_MS", CFG_INT, O(start_buffer_ms), "5000",
	    "caller audio kept while the model session is being set up" },
	{ "AI_DIAL_TIMEOUT_MS", CFG_INT, O(dial_timeout_ms), "2000",
	    "wait for the connection to media-edge's pub socket" },
	{ "AI_SETUP_TIMEOUT_MS", CFG_INT, O(setup_timeout_ms), "10000",
	    "model socket opened and configured within this, or the call "
	    "ends" },
	{ "AI_MARK_MIN_MS", CFG_INT, O(mark_min_ms), "200",
	    "model audio between two marks (0: a mark after every chunk)" },
	{ "AI_REQUEST_TIMEOUT_MS", CFG_INT, O(request_timeout_ms), "2000",
	    "timeout of one request to media-edge or persister" },
	{ "AI_PUB_BUFFER", CFG_INT, O(pub_buffer), "8192",
	    "messages the pub socket queues per peer before dropping" },
	{ "SHUTDOWN_TIMEOUT_MS", CFG_INT, O(shutdown_timeout_ms), "10000",
	    "hard limit on shutdown (exit 1 past it); records get until 5 s "
	    "before it (at least half of it), then stay in the journal" },
	{ "LOG_LEVEL", CFG_STR, O(log_level), "info",
	    "debug, info, warn or error" },
	BUS_TLS_CFG_OPTS(struct ai_cfg, bus_tls),
	{ "OPENAI_REALTIME_URL", CFG_STR, O(openai_url),
	    "wss://api.openai.com/v1/realtime?model=gpt-realtime-2",
	    "Realtime API WebSocket; the model is its model= parameter "
	    "(ws:// only for local simulators; docs/providers.md)" },
	{ "OPENAI_API_KEY", CFG_STR | CFG_SECRET, O(openai_key), NULL,
	    "API key, sent as Authorization: Bearer" },
	{ "OPENAI_VOICE", CFG_STR, O(openai_voice), "alloy",
	    "voice of the model" },
	{ "OPENAI_CA_FILE", CFG_STR, O(openai_ca_file), "",
	    "PEM trust store for wss (empty: the system's)" },
	{ "AI_TRANSCRIBE_MODEL", CFG_STR, O(transcribe_model),
	    "gpt-realtime-whisper",
	    "model transcribing the caller (empty: off)" },
	{ "AI_REASONING_EFFORT", CFG_STR, O(reasoning_effort), "low",
	    "session reasoning.effort for reasoning Realtime models: "
	    "minimal, low, medium, high, xhigh (empty: not sent, for "
	    "models without reasoning)" },
	{ "AI_INSTRUCTIONS", CFG_STR, O(instructions),
	    "You are a friendly, concise phone assistant. Speak naturally, "
	    "one or two sentences at a time.",
	    "base instructions; the call context is appended" },
	{ "PERSISTER_URL", CFG_STR, O(persister_url), "tcp://127.0.0.1:7041",
	    "persister request socket (empty: no call context, no records)" },
	{ "REASONER_URL", CFG_STR, O(reasoner_url), "tcp://127.0.0.1:7021",
	    "reasoner request socket (empty: no consult_reasoner, no "
	    "summary)" },
	{ "AI_VOICEMAIL_MESSAGE", CFG_STR, O(voicemail_message),
	    "Hello, this is a courtesy call. We will try you again later. "
	    "Goodbye.",
	    "message left on an answering machine" },
	{ "AI_REASON_TIMEOUT_MS", CFG_INT, O(reason_timeout_ms), "8000",
	    "deadline of one consult_reasoner request" },
	{ "AI_RECORD_RETRY_MAX_MS", CFG_INT, O(record_retry_max_ms), "30000",
	    "longest pause between two tries of a call record" },
	{ "AI_MAX_PENDING_RECORDS", CFG_INT, O(max_pending_records), "10000",
	    "call records kept in memory until persister acknowledges them" },
	{ "AI_SUMMARY_RETRY_MS", CFG_INT, O(summary_retry_ms), "30000",
	    "pause before asking the reasoner again for a pending summary" },
	{ "AI_MODEL_RECONNECTS", CFG_INT, O(model_reconnects), "3",
	    "when the model socket drops mid-call, open another session with "
	    "the conversation so far this many times before the call ends "
	    "with the spoken fallback (0: end at once)" },
	{ "AI_RECONNECT_TIMEOUT_MS", CFG_INT, O(reconnect_timeout_ms), "2000",
	    "each reopened model session must be configured within this "
	    "(caller audio is held meanwhile)" },
	{ "AI_JOURNAL_DIR", CFG_STR, O(journal_dir), "",
	    "directory of the record journal: call records and summaries "
	    "persister has not acknowledged survive a crash and are sent at "
	    "the next start (one directory per instance; empty: memory "
	    "only)" },
	{ "AI_JOURNAL_MAX_BYTES", CFG_INT, O(journal_max_bytes), "67108864",
	    "bound of the record journal file" },
	{ "AI_SUB_ALL", CFG_BOOL, O(sub_all), "true",
	    "receive every frame media-edge publishes and filter by call "
	    "here (false: one NNG subscription per call)" },
	{ "AI_IDLE_TIMEOUT_MS", CFG_INT, O(idle_timeout_ms), "30000",
	    "end a call when no caller audio arrived for this long (the "
	    "provider streams silence too, so this means media-edge or the "
	    "stream is gone; 0: never)" },
	{ "AI_EVENT_LOOP", CFG_STR, O(event_loop), "poll",
	    "poll, or libev (epoll, if libev is installed; slower at "
	    "saturation, see docs/performance.md)" },
	{ "AI_BATCH_FLUSH_MS", CFG_INT, O(batch_flush_ms), "2",
	    "while busy the event loop turns at most once per this many ms "
	    "and publishes the audio batches after each turn (0: a turn per "
	    "event, batches after every turn)" },
	{ NULL, 0, 0, NULL, NULL }
};

void
config_rt_session(
    struct rt_session *s, const struct ai_cfg *c, const char *instructions)
{
	memset(s, 0, sizeof(*s));
	s->url = c->openai_url;
	s->api_key = c->openai_key;
	s->instructions
	    = instructions != NULL ? instructions : c->instructions;
	s->voice = c->openai_voice;
	s->transcribe_model = c->transcribe_model;
	s->reasoning_effort = c->reasoning_effort;
	s->tools = true;
}
