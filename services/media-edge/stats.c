/*
 * stats.c - media-edge's Prometheus series.  No call sid or phone
 * number is ever a label: labels are small fixed sets (reasons,
 * directions).  Registration runs in main before any thread; the
 * helpers may be called from any thread (metric_get takes the registry
 * lock, so they are for rare events, never per frame).
 */
#include "edge.h"
#include "metrics.h"

static const double setup_bounds[]
    = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

void
edge_metrics_init(struct edge_metrics *m)
{
	struct metric_family *frames;

	m->active_calls = metrics_gauge1("edge_active_calls",
	    "Media streams with an accepted start, in progress");
	m->setup_seconds = metrics_histogram1("edge_call_setup_seconds",
	    "From the stream's start to SessionStarted", setup_bounds,
	    sizeof(setup_bounds) / sizeof(setup_bounds[0]));
	frames = metrics_counter("edge_audio_frames_total",
	    "Audio frames: in from callers, out to callers, padded silence, "
	    "replayed to an ai-session taking a call over",
	    "direction");
	m->frames_in = metric_get(frames, "in");
	m->frames_out = metric_get(frames, "out");
	m->frames_padded = metric_get(frames, "padded");
	m->frames_replayed = metric_get(frames, "replayed");
	m->unacked_frames = metrics_gauge1("edge_audio_unacked_frames",
	    "Caller frames kept for a move: not yet acknowledged by the "
	    "ai-session holding the call");
	m->acks = metrics_counter("edge_audio_acks_total",
	    "AudioAcks from ai-sessions: ok, bad_ack (ahead of what was "
	    "sent), stale (an earlier holder's), released (a graceful "
	    "hand-over)",
	    "result");
	m->marks_out = metrics_counter1(
	    "edge_marks_sent_total", "mark messages written to callers");
	m->clears_out = metrics_counter1(
	    "edge_clears_sent_total", "clear messages written to callers");
	m->dropped = metrics_counter("edge_audio_frames_dropped_total",
	    "Frames or messages dropped, by reason", "reason");
	m->batches = metrics_counter("edge_bus_batches_total",
	    "AudioBatch messages: sent to ai-sessions, received for us, "
	    "received for another media-edge (dropped)",
	    "result");
	m->batch_items = metrics_counter1("edge_bus_batch_items_sent_total",
	    "Frames, mark echoes and digits sent inside AudioBatches");
	m->bad_input = metrics_counter(
	    "edge_bad_input_total", "Rejected input, by reason", "reason");
	m->auth_fail = metrics_counter("edge_stream_auth_failures_total",
	    "Media streams refused by authentication, by reason", "reason");
	m->session_req = metrics_counter("edge_session_requests_total",
	    "SessionStart / SessionEnd attempts by result", "type,result");
	m->closes = metrics_counter("edge_stream_closes_total",
	    "Streams closed or refused by media-edge, by reason", "reason");
	m->slow_reader = metrics_counter1("edge_slow_reader_cutoffs_total",
	    "Callers cut off because they stopped reading");
	m->resumes = metrics_counter1("edge_session_resumes_total",
	    "Calls handed to another ai-session after one went away");
	m->streams = metrics_counter1(
	    "edge_streams_total", "Media streams whose start was accepted");
	m->http = metrics_counter("edge_http_requests_total",
	    "API and webhook requests by route and status", "route,code");
	m->webhook_refused = metrics_counter("edge_webhook_refused_total",
	    "Webhooks refused, by route and reason (missing_signature, "
	    "bad_signature, missing_param, query_too_long, webhook_method)",
	    "route,reason");
	m->records = metrics_counter("edge_records_total",
	    "CallOpen / CallEvent writes to persister by result", "result");
	m->hangups = metrics_counter("edge_provider_hangups_total",
	    "Hang-ups through the provider REST API by result", "result");
	m->keys = metrics_counter("edge_keys_total",
	    "Key presses of the model, by how they were sent (tones, rest; "
	    "none: the call had ended) and result (sent, failed, call_ended)",
	    "how,result");
	m->fallbacks = metrics_counter("edge_fallbacks_total",
	    "Calls that could not be served and got the spoken fallback, by "
	    "reason",
	    "reason");
	m->notify = metrics_counter("edge_notifications_total",
	    "Signed end-of-call notifications by result", "result");
	m->pending_streams = metrics_gauge1("edge_pending_streams",
	    "/media sockets open without a valid start yet (no call slot)");
	m->upgrades_refused = metrics_counter("edge_upgrades_refused_total",
	    "/media sockets refused at the upgrade or closed for want of a "
	    "start, by reason",
	    "reason");
	m->dash_refused = metrics_counter("edge_dashboard_refusals_total",
	    "Dashboard sign-ins, cookies and /events upgrades refused, by "
	    "reason",
	    "reason");
	m->api_refused = metrics_counter("edge_api_refused_total",
	    "Calls API requests refused, by route and reason", "route,reason");
	(void)metric_get(m->upgrades_refused, "start_timeout");
	(void)metric_get(m->upgrades_refused, "per_address");
	(void)metric_get(m->bad_input, "malformed_json");
	(void)metric_get(m->auth_fail, "bad_signature");
	(void)metric_get(m->dropped, "slow_reader");
	(void)metric_get(m->acks, "ok");
}

void
edge_bad_input(struct edge *e, const char *reason)
{
	metric_inc(metric_get(e->m.bad_input, reason));
}

void
edge_dropped(struct edge *e, const char *reason, double n)
{
	metric_add(metric_get(e->m.dropped, reason), n);
}

void
edge_auth_fail(struct edge *e, const char *reason)
{
	metric_inc(metric_get(e->m.auth_fail, reason));
}

void
edge_refused(struct edge *e, const char *reason)
{
	metric_inc(metric_get(e->m.upgrades_refused, reason));
	atomic_fetch_add(&e->refused, 1);
}
