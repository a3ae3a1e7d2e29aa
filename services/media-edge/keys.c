/*
 * keys.c - phone keys the model presses (SendDigits from ai-session),
 * sent the way the call's provider can (struct tel_provider.keys):
 *
 *   in-band tones (Twilio, SignalWire; Telnyx without an API key): the
 *	keys as DTMF tones (common/dtmf: 100 ms tone, 100 ms gap, w a 0.5 s
 *	pause) in 20 ms media messages at the end of the call's outgoing
 *	queue, so they are heard after the model audio queued before them.
 *	A REST <Play digits> would end the running media stream, so these
 *	providers get no REST request.  A Clear (the caller spoke over the
 *	model) drops tones still queued, like model audio.
 *   a REST request (Telnyx Call Control send_dtmf): WJ_KEYS on a web
 *	thread, tried once (a retry could press the keys twice); a non-2xx
 *	answer or no answer comes back as EV_KEYS_FAILED and goes to the
 *	ai-session as a DigitsResult item, so the model hears of it.
 *
 * Bad keys from the bus (not 1-32 of 0-9 * # A-D w) are counted as
 * edge_bad_input_total{reason="bad_digits"} and answered with a
 * DigitsResult.  Keys for a call that ended are dropped and counted in
 * edge_keys_total{result="call_ended"}: how="none" when the call was gone
 * before they were read, "tones" when it closed while they were queued,
 * "rest" when the provider's failure came back after it ended.
 * Everything is in edge_keys_total{how="tones"|"rest"|"none",result}.
 *
 * Threads: the lws service thread, but keys_run (a web thread).
 */
#include <stdlib.h>
#include <string.h>

#include "dtmf.h"
#include "edge.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#define KEYS_FRAME 160 /* 20 ms of mu-law per media message */

static void
keys_metric(struct edge *e, const char *how, const char *result)
{
	metric_inc(metric_get(e->m.keys, how, result));
}

/* lws thread: SendDigits for a call that is gone. */
void
keys_dropped(struct edge *e)
{
	keys_metric(e, "none", "call_ended");
}

/* lws thread: tell the call's ai-session that keys seq were not sent. */
static void
keys_failed(struct call *c, uint32_t seq, const char *error)
{
	Bus__BatchItem    it = BUS__BATCH_ITEM__INIT;
	Bus__DigitsResult dr = BUS__DIGITS_RESULT__INIT;

	dr.seq = seq;
	dr.error = (char *)error;
	it.item_case = BUS__BATCH_ITEM__ITEM_DIGITS_RESULT;
	it.digits_result = &dr;
	call_publish_item(c, &it);
}

static void
keys_tones(struct call *c, const char *digits)
{
	unsigned char *buf;
	size_t         len = dtmf_tones_len(digits), i, n;

	buf = xcalloc(1, len);
	len = dtmf_tones(digits, buf, len);
	for (i = 0; i < len && !c->closing; i += n) {
		n = len - i < KEYS_FRAME ? len - i : KEYS_FRAME;
		call_send_media(c, buf + i, n);
	}
	free(buf);
	keys_metric(c->edge, "tones", c->closing ? "call_ended" : "sent");
}

void
keys_send(struct call *c, const Bus__SendDigits *sd)
{
	struct edge   *e = c->edge;
	struct log_ctx lc = { c->call_sid, c->trace_id };
	struct tel_req r = { .body = NULL };
	struct wjob   *j;

	if (!dtmf_digits_ok(sd->digits)) {
		logc_warnx(&lc,
		    "bad input on the sub socket (bad_digits): "
		    "keys not 1-32 of 0-9 * # A-D w");
		edge_bad_input(e, "bad_digits");
		keys_failed(c, sd->seq, "not keys media-edge can send");
		return;
	}
	if (c->prov->keys == NULL
	    || c->prov->keys(e, c->call_sid, sd->digits, &r) == -1) {
		logc_info(&lc, "%zu keys as tones", strlen(sd->digits));
		keys_tones(c, sd->digits);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = WJ_KEYS;
	j->seq = sd->seq;
	snprintf(j->call_sid, sizeof(j->call_sid), "%s", c->call_sid);
	j->req = xcalloc(1, sizeof(*j->req));
	*j->req = r;
	logc_info(&lc, "%zu keys through the provider's REST API",
	    strlen(sd->digits));
	webjobs_submit(&e->wj, j);
}

/* Web thread: the provider's REST request for the keys of job j. */
void
keys_run(struct edge *e, struct http_client *hc, struct wjob *j)
{
	struct log_ctx  lc = { j->call_sid, NULL };
	struct tel_req *r = j->req;
	long            status = 0;

	(void)webjobs_post(hc, r, &status);
	if (status >= 200 && status < 300) {
		keys_metric(e, "rest", "sent");
		return;
	}
	logc_warnx(&lc, "provider refused the keys: HTTP %ld", status);
	keys_rest_failed(e, j,
	    status > 0 ? "the telephone provider refused them"
	               : "the telephone provider did not answer");
}

/* Any thread: the REST request of j failed; the lws thread tells the
 * call's ai-session (EV_KEYS_FAILED). */
void
keys_rest_failed(struct edge *e, const struct wjob *j, const char *why)
{
	struct ev *ev = xcalloc(1, sizeof(*ev));

	ev->kind = EV_KEYS_FAILED;
	snprintf(ev->call_sid, sizeof(ev->call_sid), "%s", j->call_sid);
	ev->status = (int)j->seq;
	snprintf(ev->text, sizeof(ev->text), "%s", why);
	evq_push(&e->evq, ev);
}

/* lws thread: EV_KEYS_FAILED. */
void
keys_rest_failed_ev(struct edge *e, const struct ev *ev)
{
	struct call *c;

	if ((c = call_find(e, ev->call_sid)) == NULL || c->closing) {
		keys_metric(e, "rest", "call_ended");
		return;
	}
	keys_metric(e, "rest", "failed");
	keys_failed(c, (uint32_t)ev->status, ev->text);
}
