/*
 * dtmf.c - keys the caller presses.
 *
 * media-edge passes each provider `dtmf` event on as a Dtmf item, in
 * order with the audio.  Keys are gathered while the caller keeps
 * pressing (DTMF_GATHER_MS after the last one, or at once on `#`), then
 * go to the model as the caller's turn (a user conversation item
 * "[keypad] 1 2 #"), with a response asked for, and into the transcript
 * (stored and pushed like a spoken turn).  A Dtmf that is not one key of
 * 0-9 * # A-D is counted in ai_bad_input_total{source="dtmf"} and
 * dropped; the call goes on.
 *
 * Threads: the lws service thread.
 */
#include <string.h>

#include "ai.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

#define DTMF_GATHER_MS 1500

static void
dtmf_flush(struct call *c)
{
	const struct turn *t;
	char               text[16 + 2 * AI_DTMF_MAX];
	size_t             i, n;

	loop_timer_cancel(&c->dtmf_timer);
	if (c->dtmf[0] == '\0' || c->state == CALL_ENDING)
		return;
	n = (size_t)snprintf(text, sizeof(text), "[keypad]");
	for (i = 0; c->dtmf[i] != '\0' && n + 2 < sizeof(text); i++)
		n += (size_t)snprintf(
		    text + n, sizeof(text) - n, " %c", c->dtmf[i]);
	c->dtmf[0] = '\0';
	if ((t = transcript_add(&c->tr, RT_USER, "", text, wire_now_ms()))
	    != NULL) {
		metric_inc(st.turns);
		(void)edge_pub_turn(c, t);
		record_turn(c, t);
	}
	if (c->rt == NULL || c->state != CALL_LIVE) {
		logc_info(&c->lc,
		    "keys pressed before the model was ready: "
		    "kept in the transcript only");
		return;
	}
	(void)session_provider->add_user_text(c->rt, text);
	if (c->barge.active_resp[0] != '\0')
		c->response_wanted = true; /* after the one speaking now */
	else
		(void)session_provider->request_response(c->rt, NULL);
}

void
session_dtmf(struct call *c, const Bus__Dtmf *d)
{
	size_t n = strlen(c->dtmf);

	if (c->state == CALL_ENDING)
		return;
	if (d->digit == NULL || strlen(d->digit) != 1
	    || strchr("0123456789*#ABCD", d->digit[0]) == NULL) {
		metric_inc(st.bad_dtmf);
		logc_warnx(&c->lc, "dtmf dropped: not one key of 0-9*#A-D");
		return;
	}
	metric_inc(st.dtmf_keys);
	if (n < AI_DTMF_MAX)
		c->dtmf[n] = d->digit[0], c->dtmf[n + 1] = '\0';
	if (d->digit[0] == '#' || n + 1 >= AI_DTMF_MAX)
		dtmf_flush(c);
	else
		loop_timer(&c->dtmf_timer, DTMF_GATHER_MS, dtmf_flush, c);
}
