/*
 * stats.c - ai-session's Prometheus series.  Registered once at startup
 * (stats_init, main thread); updated lock-free from any thread.  Series
 * with a label that comes from outside (model error codes, end reasons)
 * are looked up per event, which takes the registry mutex: they are rare.
 */
#include <string.h>
#include <time.h>

#include "ai.h"
#include "metrics.h"
#include "util.h"

struct ai_stats st;

int64_t
ai_mono_ms(void)
{
	return (util_mono_ms());
}

static struct metric *
frames(struct metric_family *f, const char *dir)
{
	return (metric_get(f, dir));
}

void
stats_init(void)
{
	static const double setup_b[] = { 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10 };
	static const double lat_b[]
	    = { 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5 };
	struct metric_family *fr, *drop, *marks, *calls, *bad;

	st.active = metrics_gauge1("ai_calls_active", "Calls in progress");
	calls = metrics_counter(
	    "ai_calls_total", "SessionStart requests by result", "result");
	st.started = metric_get(calls, "started");
	st.overloaded = metric_get(calls, "overloaded");
	st.start_failed = metric_get(calls, "failed");
	st.setup_s = metrics_histogram1("ai_session_setup_seconds",
	    "SessionStart to a configured model session", setup_b,
	    sizeof(setup_b) / sizeof(setup_b[0]));
	st.latency_s = metrics_histogram1("ai_model_latency_seconds",
	    "End of the caller's speech to the model's first audio", lat_b,
	    sizeof(lat_b) / sizeof(lat_b[0]));
	fr = metrics_counter("ai_frames_total",
	    "Audio frames: in = caller to model, out = model to caller",
	    "direction");
	st.frames_in = frames(fr, "in");
	st.frames_out = frames(fr, "out");
	drop = metrics_counter("ai_frames_dropped_total",
	    "Audio frames dropped, by reason", "reason");
	st.drop_queue = metric_get(drop, "queue_full");
	st.drop_unknown = metric_get(drop, "unknown_call");
	st.drop_not_ours = metric_get(drop, "not_ours");
	st.drop_late = metric_get(drop, "late_delta");
	st.drop_pub = metric_get(drop, "pub_full");
	st.drop_released = metric_get(drop, "handed_over");
	st.acks_sent = metrics_counter1("ai_audio_acks_sent_total",
	    "AudioAcks sent to media-edge: caller frames written to the "
	    "model, so a move replays only the rest");
	drop = metrics_counter("ai_bus_batches_total",
	    "AudioBatch messages sent to media-edges and received for us",
	    "direction");
	st.batches_out = metric_get(drop, "out");
	st.batches_in = metric_get(drop, "in");
	st.batch_items_out = metrics_counter1("ai_bus_batch_items_sent_total",
	    "Frames, marks and clears sent inside AudioBatches");
	st.frame_gaps = metrics_counter1("ai_frame_gaps_total",
	    "Caller frames missing by seq (lost before reaching us)");
	st.bargeins = metrics_counter1("ai_bargeins_total",
	    "Caller spoke over model audio that was still playing");
	st.truncates = metrics_counter1(
	    "ai_truncates_total", "conversation.item.truncate sent");
	marks = metrics_counter(
	    "ai_marks_total", "Marks, by what happened", "result");
	st.marks_sent = metric_get(marks, "sent");
	st.marks_echoed = metric_get(marks, "echoed");
	st.marks_stale = metric_get(marks, "stale");
	bad = metrics_counter("ai_bad_input_total",
	    "Input that was not understood, by source", "source");
	st.bad_bus = metric_get(bad, "bus");
	st.bad_model_json = metric_get(bad, "model_json");
	st.bad_dtmf = metric_get(bad, "dtmf");
	st.dtmf_keys = metrics_counter1("ai_dtmf_keys_total",
	    "Keys the callers pressed, passed to the model");
	st.unknown_events = metrics_counter1("ai_model_unknown_events_total",
	    "Model events of a type we do not know (ignored)");
	st.turns = metrics_counter1("ai_turns_total", "Transcript turns");
	st.model_closed = metrics_counter1("ai_model_disconnects_total",
	    "Model sockets that went away while the call was on");
	st.model_reconnects = metrics_counter("ai_model_reconnects_total",
	    "Model sessions opened again after one was lost, by result",
	    "result");
	st.reconnect_s = metrics_histogram1("ai_model_reconnect_seconds",
	    "From a lost model socket to the restored session", setup_b,
	    sizeof(setup_b) / sizeof(setup_b[0]));
	st.model_errors = metrics_counter("ai_model_errors_total",
	    "Error events from the model, by code", "code");
	st.config_errors = metrics_counter("ai_config_errors_total",
	    "Model errors a setting must fix (unknown model, refused "
	    "session field, bad key), by setting",
	    "setting");
	st.ended = metrics_counter(
	    "ai_calls_ended_total", "Calls ended, by reason", "reason");
	st.tools = metrics_counter("ai_tool_calls_total",
	    "Tool calls by name and result", "name,result");
	usage_stats_init();
}

void
stats_model_error(const char *code)
{
	metric_inc(metric_get(st.model_errors,
	    code != NULL && code[0] != '\0' ? code : "unknown"));
}

/* setting may carry a parenthesised hint: the label is the name only. */
void
stats_config_error(const char *setting)
{
	char   name[64];
	size_t n = strcspn(setting, " ");

	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, setting, n);
	name[n] = '\0';
	metric_inc(metric_get(st.config_errors, name));
}

void
stats_ended(const char *reason)
{
	metric_inc(metric_get(st.ended, reason));
}
