/*
 * exchange.c - one logical request to Anthropic: attempts, retries, the
 * circuit breaker and the deadline.
 *
 * Each attempt first asks the circuit (open: Error{UNAVAILABLE} at once),
 * then posts with a transfer timeout of whatever is left before the
 * deadline.  The outcome is one of:
 *
 *	ok		2xx and check() accepted the model's output
 *	invalid		2xx but the output is invalid or truncated: retried
 *	retryable	408/409/429/5xx/529 (x-should-retry decides if sent),
 *			or a connection error or timeout: retried
 *	fatal		any other status (400, 401, ...): not retried
 *
 * A retry waits retry_wait_ms() (retry-after honoured, else backoff with
 * jitter), at most REASONER_MAX_RETRIES times, and never when the wait
 * plus a minimal attempt would pass the deadline: then the caller receives
 * the last failure at once rather than after the deadline.
 *
 * For the circuit, a 2xx is success (upstream is alive even if the model
 * rambled), retryable statuses and transport errors are failures, and
 * everything else says nothing.  Worker threads.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "reasoner.h"

enum outcome { OUT_OK, OUT_INVALID, OUT_RETRYABLE, OUT_FATAL, OUT_CANCELLED };

/* What the caller hears if this failure is the last. */
struct failure {
	Bus__Error__Code code;
	char             what[200];
};

static const char *
error_type(json_t *msg)
{
	const char *t;

	t = json_string_value(
	    json_object_get(json_object_get(msg, "error"), "type"));
	return (t != NULL ? t : "");
}

/* Anthropic's own words on a refused request ("prompt is too long..."):
 * about our request, never a copy of it, so safe to pass on and log. */
static const char *
error_message(json_t *msg)
{
	const char *m;

	m = json_string_value(
	    json_object_get(json_object_get(msg, "error"), "message"));
	return (m != NULL ? m : "");
}

/* The status label for metrics: "529", "timeout", "connect", ... */
static void
status_label(const struct attempt *a, enum outcome o, char *buf, size_t len)
{
	if (o == OUT_CANCELLED)
		snprintf(buf, len, "cancelled");
	else if (a->cc == CURLE_OPERATION_TIMEDOUT)
		snprintf(buf, len, "timeout");
	else if (a->cc != CURLE_OK)
		snprintf(buf, len, "connect");
	else if (o == OUT_INVALID)
		snprintf(buf, len, "invalid_output");
	else
		snprintf(buf, len, "%ld", a->status);
}

static enum outcome
classify(struct attempt *a, exch_check_fn check, void *out, struct failure *f)
{
	char why[160];

	if (a->cancelled) {
		f->code = BUS__ERROR__CODE__UNAVAILABLE;
		snprintf(f->what, sizeof(f->what), "shutting down");
		return (OUT_CANCELLED);
	}
	if (a->cc != CURLE_OK) {
		f->code = a->cc == CURLE_OPERATION_TIMEDOUT
		    ? BUS__ERROR__CODE__TIMEOUT
		    : BUS__ERROR__CODE__UNAVAILABLE;
		snprintf(f->what, sizeof(f->what), "anthropic unreachable: %s",
		    curl_easy_strerror(a->cc));
		return (OUT_RETRYABLE);
	}
	if (a->status >= 200 && a->status < 300) {
		if (a->msg == NULL)
			snprintf(why, sizeof(why), "response is not JSON");
		else if (check(a->msg, out, why, sizeof(why)) == 0)
			return (OUT_OK);
		f->code = BUS__ERROR__CODE__UNAVAILABLE;
		snprintf(
		    f->what, sizeof(f->what), "invalid model output: %s", why);
		return (OUT_INVALID);
	}
	snprintf(f->what, sizeof(f->what), "anthropic answered %ld %s",
	    a->status, error_type(a->msg));
	if (retry_status(a->status, a->should_retry)) {
		f->code = BUS__ERROR__CODE__UNAVAILABLE;
		return (OUT_RETRYABLE);
	}
	snprintf(f->what + strlen(f->what), sizeof(f->what) - strlen(f->what),
	    ": %.100s", error_message(a->msg));
	/* Our credentials are wrong (try later, once fixed); or our request
	 * is, which no retry by the caller will mend. */
	f->code = a->status == 401 || a->status == 403
	    ? BUS__ERROR__CODE__UNAVAILABLE
	    : BUS__ERROR__CODE__INTERNAL;
	return (OUT_FATAL);
}

/*
 * A refusal that a setting, not the caller, must fix: which one.  NULL
 * when the status says nothing about our configuration.
 */
static const char *
blamed_setting(const struct attempt *a)
{
	const char *m = error_message(a->msg);

	if (a->status == 401 || a->status == 403)
		return ("ANTHROPIC_API_KEY");
	if (a->status == 404 && strncmp(m, "model:", 6) == 0)
		return ("ANTHROPIC_MODEL");
	if (a->status != 400)
		return (NULL);
	if (strstr(m, "anthropic-version") != NULL)
		return ("ANTHROPIC_VERSION");
	if (strstr(m, "output_config.effort") != NULL)
		return ("REASONER_DECISION_EFFORT");
	if (strstr(m, "model") != NULL || strstr(m, "temperature") != NULL
	    || strstr(m, "top_p") != NULL || strstr(m, "top_k") != NULL
	    || strstr(m, "tool_choice") != NULL)
		return ("ANTHROPIC_MODEL");
	return (NULL);
}

/* One line an operator can act on, and the metric that counts it. */
static void
report_config_error(const struct reasoner_cfg *c, const struct attempt *a)
{
	const char *setting = blamed_setting(a);

	if (setting == NULL)
		return;
	stats_config_error(setting);
	if (strcmp(setting, "ANTHROPIC_MODEL") == 0)
		log_warnx(
		    "configuration: Anthropic refused ANTHROPIC_MODEL=%s "
		    "(%ld %s: %.120s); set ANTHROPIC_MODEL to a current "
		    "model (docs/providers.md)",
		    c->model, a->status, error_type(a->msg),
		    error_message(a->msg));
	else
		log_warnx("configuration: Anthropic refused the request "
		          "(%ld %s: %.120s); check %s (docs/providers.md)",
		    a->status, error_type(a->msg), error_message(a->msg),
		    setting);
}

static enum circuit_result
circuit_result(const struct attempt *a, enum outcome o)
{
	if (o == OUT_CANCELLED)
		return (CIRCUIT_NEUTRAL);
	if (a->cc != CURLE_OK)
		return (CIRCUIT_FAIL);
	if (a->status >= 200 && a->status < 300)
		return (CIRCUIT_OK);
	if (a->status == 408 || a->status == 409 || a->status == 429
	    || a->status >= 500)
		return (CIRCUIT_FAIL);
	return (CIRCUIT_NEUTRAL);
}

/* Sizes and ids only: never the prompt, the answer or the key. */
static void
log_attempt(const char *kind, int n, const struct attempt *a, enum outcome o,
    const char *label, const char *what, size_t sent, size_t got)
{
	if (o == OUT_OK)
		log_info("anthropic %s attempt %d: %s request_id=%s "
		         "elapsed_ms=%.0f sent_bytes=%zu recv_bytes=%zu",
		    kind, n, label, a->request_id, a->elapsed_s * 1000, sent,
		    got);
	else
		log_warnx("anthropic %s attempt %d: %s: %s request_id=%s "
		          "elapsed_ms=%.0f sent_bytes=%zu recv_bytes=%zu",
		    kind, n, label, what, a->request_id, a->elapsed_s * 1000,
		    sent, got);
}

/* One attempt; returns its outcome, f filled unless OUT_OK. */
static enum outcome
attempt_once(struct worker *w, const char *kind, int n, const char *body,
    long left, exch_check_fn check, void *out, struct failure *f,
    struct attempt *a, char *label, size_t labellen)
{
	struct reasoner *r = w->r;
	enum outcome     o;
	bool             probe;

	memset(a, 0, sizeof(*a));
	snprintf(label, labellen, "circuit_open");
	if (!circuit_allow(&r->circuit, reasoner_now_ms(), &probe)) {
		f->code = BUS__ERROR__CODE__UNAVAILABLE;
		snprintf(f->what, sizeof(f->what), "anthropic circuit open");
		return (OUT_FATAL);
	}
	upstream_post(w, body, left, a);
	o = classify(a, check, out, f);
	circuit_report(
	    &r->circuit, reasoner_now_ms(), probe, circuit_result(a, o));
	status_label(a, o, label, labellen);
	if (o != OUT_CANCELLED)
		stats_upstream(kind, label, a->elapsed_s);
	log_attempt(kind, n, a, o, label, f->what, strlen(body), w->len);
	if (o == OUT_FATAL)
		report_config_error(&r->cfg, a);
	if (o == OUT_RETRYABLE || o == OUT_INVALID)
		snprintf(f->what + strlen(f->what),
		    sizeof(f->what) - strlen(f->what), " (attempt %d)", n);
	return (o);
}

static int
fail(struct reply *rep, const struct failure *f)
{
	reply_error(rep, f->code, "%s", f->what);
	return (-1);
}

int
exch_run(struct worker *w, const char *kind, const char *body,
    int64_t deadline, exch_check_fn check, void *out, struct reply *rep)
{
	struct reasoner *r = w->r;
	struct failure   f = { BUS__ERROR__CODE__TIMEOUT, "deadline passed" };
	struct attempt   a;
	enum outcome     o;
	int64_t          left;
	long             wait;
	char             label[32];
	int              n;

	for (n = 0;; n++) {
		left = deadline - reasoner_now_ms();
		if (left < EXCH_MIN_ATTEMPT_MS)
			return (fail(rep, &f));
		o = attempt_once(w, kind, n + 1, body, (long)left, check, out,
		    &f, &a, label, sizeof(label));
		if (o == OUT_OK) {
			attempt_fini(&a);
			return (0);
		}
		wait = retry_wait_ms(n, a.retry_after_ms, a.retry_after,
		    time(NULL), (double)rand_r(&w->seed) / (RAND_MAX + 1.0));
		attempt_fini(&a);
		if (o != OUT_RETRYABLE && o != OUT_INVALID)
			return (fail(rep, &f));
		if (n >= r->cfg.max_retries)
			return (fail(rep, &f));
		if (circuit_get(&r->circuit, reasoner_now_ms())
		    == CIRCUIT_OPEN) {
			/* no point waiting for an attempt it will refuse */
			snprintf(f.what, sizeof(f.what),
			    "anthropic circuit "
			    "open");
			return (fail(rep, &f));
		}
		if (reasoner_now_ms() + wait + EXCH_MIN_ATTEMPT_MS
		    > deadline) {
			log_warnx(
			    "anthropic %s: no retry, a %ld ms wait would "
			    "pass the deadline",
			    kind, wait);
			return (fail(rep, &f));
		}
		stats_retry(label);
		if (reasoner_sleep(r, wait) == -1) {
			f.code = BUS__ERROR__CODE__UNAVAILABLE;
			snprintf(f.what, sizeof(f.what), "shutting down");
			return (fail(rep, &f));
		}
	}
}
