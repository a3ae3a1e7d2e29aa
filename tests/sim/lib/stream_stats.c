/*
 * stream_stats - bookkeeping for the stream library: protocol errors by
 * kind (with a few samples), the --record event lines, per-call counters
 * summed into hub totals when a call ends, the round-trip histogram, and
 * the JSON reports.  lws service thread only.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "stream_int.h"

#define LOG_ERRORS_MAX 20 /* then only counted, so 1,000 calls can't flood */

static const char *const err_names[STREAM_ERR__COUNT] = {
	"bad_json",
	"unknown_event",
	"bad_message",
	"wrong_stream_sid",
	"before_start",
	"binary_frame",
	"bad_base64",
	"too_big",
};

void
stream_error(
    struct stream_call *sc, enum stream_err kind, const char *fmt, ...)
{
	struct stream_totals *t = &sc->hub->tot;
	static int            logged;
	va_list               ap;
	char                  msg[160];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sc->st.errors++;
	if (sc->st.error[0] == '\0')
		snprintf(sc->st.error, sizeof(sc->st.error), "%s", msg);
	t->errors++;
	t->err_kind[kind]++;
	if (t->nsamples < STREAM_MAX_SAMPLES)
		snprintf(t->samples[t->nsamples++], sizeof(t->samples[0]),
		    "%s: %s", sc->call_sid, msg);
	if (logged++ < LOG_ERRORS_MAX)
		stream_log("warn", "call %d: peer sent bad input (%s): %s",
		    sc->id, err_names[kind], msg);
	stream_record(sc, "error",
	    json_pack("{s:s, s:s}", "kind", err_names[kind], "error", msg));
}

void
stream_record(struct stream_call *sc, const char *event, json_t *extra)
{
	FILE   *f = sc->hub->cfg->record;
	json_t *o;

	if (f == NULL) {
		json_decref(extra);
		return;
	}
	o = json_pack("{s:I, s:i, s:s, s:s}", "t_ms",
	    (json_int_t)stream_elapsed_ms(), "call", sc->id, "call_sid",
	    sc->call_sid, "event", event);
	if (o != NULL && extra != NULL)
		json_object_update(o, extra);
	json_decref(extra);
	if (o != NULL && json_dumpf(o, f, JSON_COMPACT) == 0)
		fputc('\n', f);
	json_decref(o);
}

void
stream_rtt_add(struct stream_call *sc, int64_t rtt_us)
{
	struct stream_totals *t = &sc->hub->tot;
	int64_t               b = rtt_us / 100;

	if (rtt_us < 0)
		return;
	sc->st.rtt_samples++;
	sc->st.rtt_sum_us += rtt_us;
	if (rtt_us > sc->st.rtt_max_us)
		sc->st.rtt_max_us = rtt_us;
	t->rtt_hist[b < STREAM_RTT_BUCKETS ? b : STREAM_RTT_BUCKETS - 1]++;
	t->rtt_samples++;
	if (rtt_us > t->rtt_max_us)
		t->rtt_max_us = rtt_us;
}

static void
code_add(struct stream_totals *t, int code)
{
	int i;

	for (i = 0; i < STREAM_MAX_CODES; i++) {
		if (t->code_n[i] != 0 && t->codes[i] != code)
			continue;
		t->codes[i] = code;
		t->code_n[i]++;
		return;
	}
}

void
stream_totals_add(struct stream_hub *hub, const struct stream_call *sc)
{
	struct stream_totals      *t = &hub->tot;
	const struct stream_stats *s = &sc->st;

	t->calls++;
	t->connected += s->connected;
	t->completed += s->completed;
	t->failed_connect += s->failed_connect && !s->connected;
	if (s->failed_connect && !s->connected && t->connect_error[0] == '\0')
		snprintf(t->connect_error, sizeof(t->connect_error), "%s",
		    s->error);
	t->timed_out += s->timed_out;
	if (s->closed_by_peer) {
		t->closed_by_peer++;
		code_add(t, s->close_code);
	}
	t->frames_sent += s->frames_sent;
	t->frames_received += s->frames_received;
	t->bytes_received += s->bytes_received;
	t->marks_received += s->marks_received;
	t->marks_echoed += s->marks_echoed;
	t->clears += s->clears;
	t->dtmf_sent += s->dtmf_sent;
	t->dtmf_heard += sc->det != NULL ? sc->det->nkeys : 0;
	t->lost_start += s->lost_start;
	t->lost_middle += s->lost_middle;
	t->lost_end += s->lost_end;
	if (s->lost_start + s->lost_middle + s->lost_end > t->lost_max)
		t->lost_max = s->lost_start + s->lost_middle + s->lost_end;
	t->late_frames += s->late_frames;
	if (s->lag_max_us > t->lag_max_us)
		t->lag_max_us = s->lag_max_us;
}

/* Upper edge of the bucket holding the p-th sample, in ms. */
static double
rtt_pct(const struct stream_totals *t, double p)
{
	uint64_t want, seen = 0;
	int      i;

	want = (uint64_t)ceil(p * (double)t->rtt_samples);
	if (want == 0)
		want = 1;
	for (i = 0; i < STREAM_RTT_BUCKETS; i++) {
		seen += t->rtt_hist[i];
		if (seen >= want)
			return ((i + 1) / 10.0);
	}
	return (t->rtt_max_us / 1000.0);
}

static json_t *
rtt_json(const struct stream_totals *t)
{
	if (t->rtt_samples == 0)
		return (json_pack("{s:n, s:n, s:n, s:i}", "p50", "p99", "max",
		    "samples", 0));
	return (json_pack("{s:f, s:f, s:f, s:I}", "p50", rtt_pct(t, 0.50),
	    "p99", rtt_pct(t, 0.99), "max", t->rtt_max_us / 1000.0, "samples",
	    (json_int_t)t->rtt_samples));
}

json_t *
stream_hub_report(const struct stream_hub *hub)
{
	const struct stream_totals *t = &hub->tot;
	json_t                     *r, *codes, *kinds, *samples, *lost;
	char                        key[16];
	int                         i;

	codes = json_object();
	for (i = 0; i < STREAM_MAX_CODES && t->code_n[i] != 0; i++) {
		snprintf(key, sizeof(key), "%d", t->codes[i]);
		json_object_set_new(
		    codes, key, json_integer((json_int_t)t->code_n[i]));
	}
	kinds = json_object();
	for (i = 0; i < STREAM_ERR__COUNT; i++)
		if (t->err_kind[i] != 0)
			json_object_set_new(kinds, err_names[i],
			    json_integer((json_int_t)t->err_kind[i]));
	samples = json_array();
	for (i = 0; i < t->nsamples; i++)
		json_array_append_new(samples, json_string(t->samples[i]));
	lost = json_null(); /* not measured without tags */
	if (hub->cfg->tags)
		lost = json_pack("{s:I, s:I, s:I, s:I, s:I}", "start",
		    (json_int_t)t->lost_start, "middle",
		    (json_int_t)t->lost_middle, "end", (json_int_t)t->lost_end,
		    "total",
		    (json_int_t)(t->lost_start + t->lost_middle + t->lost_end),
		    "max_per_call", (json_int_t)t->lost_max);
	r = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I}",
	    "calls", (json_int_t)t->calls, "connected",
	    (json_int_t)t->connected, "completed", (json_int_t)t->completed,
	    "failed_connect", (json_int_t)t->failed_connect, "timed_out",
	    (json_int_t)t->timed_out, "closed_by_peer",
	    (json_int_t)t->closed_by_peer, "close_codes", codes, "frames_sent",
	    (json_int_t)t->frames_sent, "frames_received",
	    (json_int_t)t->frames_received, "bytes_received",
	    (json_int_t)t->bytes_received);
	json_object_set_new(r, "lost", lost);
	json_object_set_new(r, "rtt_ms", rtt_json(t));
	json_object_set_new(r, "send_lag_ms",
	    json_pack("{s:f, s:I}", "max", t->lag_max_us / 1000.0,
	        "late_frames", (json_int_t)t->late_frames));
	json_object_set_new(
	    r, "marks_received", json_integer((json_int_t)t->marks_received));
	json_object_set_new(
	    r, "marks_echoed", json_integer((json_int_t)t->marks_echoed));
	json_object_set_new(r, "clears", json_integer((json_int_t)t->clears));
	json_object_set_new(
	    r, "dtmf_sent", json_integer((json_int_t)t->dtmf_sent));
	json_object_set_new(
	    r, "dtmf_heard", json_integer((json_int_t)t->dtmf_heard));
	json_object_set_new(r, "errors", json_integer((json_int_t)t->errors));
	json_object_set_new(r, "error_kinds", kinds);
	json_object_set_new(r, "error_samples", samples);
	json_object_set_new(r, "first_connect_error",
	    t->connect_error[0] != '\0' ? json_string(t->connect_error)
	                                : json_null());
	return (r);
}

json_t *
stream_call_json(const struct stream_call *sc)
{
	const struct stream_stats *s = &sc->st;
	json_t                    *r, *at;
	size_t                     i;

	r = json_pack("{s:s, s:s, s:s, s:O, s:b, s:b, s:b, s:b, s:i}",
	    "call_sid", sc->call_sid, "stream_sid", sc->stream_sid, "url",
	    sc->url_str != NULL ? sc->url_str : "", "custom_parameters",
	    sc->params, "connected", s->connected, "completed", s->completed,
	    "closed_by_peer", s->closed_by_peer, "open", !sc->finished,
	    "close_code", s->close_code);
	if (r == NULL)
		return (json_object());
	json_object_set_new(
	    r, "frames_sent", json_integer((json_int_t)s->frames_sent));
	json_object_set_new(r, "frames_received",
	    json_integer((json_int_t)s->frames_received));
	json_object_set_new(
	    r, "bytes_received", json_integer((json_int_t)s->bytes_received));
	json_object_set_new(
	    r, "marks_received", json_integer((json_int_t)s->marks_received));
	json_object_set_new(
	    r, "marks_echoed", json_integer((json_int_t)s->marks_echoed));
	json_object_set_new(r, "clears", json_integer((json_int_t)s->clears));
	json_object_set_new(
	    r, "dtmf_sent", json_integer((json_int_t)s->dtmf_sent));
	json_object_set_new(r, "dtmf_heard",
	    json_string(sc->det != NULL ? sc->det->keys : ""));
	at = json_array();
	for (i = 0; sc->det != NULL && i < sc->det->nkeys; i++)
		json_array_append_new(
		    at, json_integer((json_int_t)sc->dtmf_heard_at[i]));
	json_object_set_new(r, "dtmf_heard_at_bytes", at);
	json_object_set_new(r, "errors", json_integer((json_int_t)s->errors));
	json_object_set_new(r, "error",
	    s->error[0] != '\0' ? json_string(s->error) : json_null());
	return (r);
}
