/*
 * hook - the provider's outgoing webhooks (status callbacks, the TwiML
 * request, the async AMD result): signed form POSTs made with libcurl on
 * a few worker threads, never on the lws thread.  With --twiml-get the
 * TwiML request is a GET instead: the params form-encoded into the
 * URL's query (a space as "+", as Twilio sends it) and the signature
 * over that URL alone.  Nothing is retried
 * (the provider does not retry either); every result is recorded.
 *
 * Ownership: hook_post() (lws thread) builds a job and hands it to the
 * workers through the todo queue; a worker owns it while posting, then
 * puts it on the done queue and wakes the lws loop with
 * lws_cancel_service(); hook_drain() (lws thread) takes it back, runs its
 * done function and frees it.  One mutex guards both queues.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "edsig.h"
#include "twilio.h"

#define HOOK_RESP_MAX (1024 * 1024)

struct hooks {
	pthread_mutex_t  lock;
	pthread_cond_t   cond; /* todo non-empty, or stopping */
	struct hook_job *todo, *todo_tail; /* {lock} */
	struct hook_job *done, *done_tail; /* {lock} */
	bool             stopping; /* {lock} */
	pthread_t       *threads;
	int              nthreads;
	struct sim      *sim; /* read-only for workers: ctx, opts */
};

static void
job_free(struct hook_job *j)
{
	free(j->url);
	form_free(&j->params);
	free(j->resp);
	free(j);
}

static void
push(struct hook_job **head, struct hook_job **tail, struct hook_job *j)
{
	j->next = NULL;
	if (*tail != NULL)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static struct hook_job *
pop(struct hook_job **head, struct hook_job **tail)
{
	struct hook_job *j = *head;

	if (j != NULL && (*head = j->next) == NULL)
		*tail = NULL;
	return (j);
}

static size_t
collect(char *ptr, size_t size, size_t n, void *arg)
{
	struct hook_job *j = arg;
	size_t           len = size * n;

	if (j->resp_len + len > HOOK_RESP_MAX)
		return (0); /* makes curl fail: CURLE_WRITE_ERROR */
	j->resp = stream_xrealloc(j->resp, j->resp_len + len + 1, 1);
	memcpy(j->resp + j->resp_len, ptr, len);
	j->resp_len += len;
	j->resp[j->resp_len] = '\0';
	return (len);
}

/* Worker thread: blocks in libcurl. */
static void
post(struct hooks *h, CURL *curl, struct hook_job *j)
{
	const struct sim_opts *o = &h->sim->o;
	struct curl_slist     *hdrs = NULL;
	char                   sig[128], ts[48], errbuf[CURL_ERROR_SIZE];
	char                  *body;
	int64_t                t0 = stream_now_us();
	CURLcode               rc;

	body = j->get ? stream_xstrdup("") : form_encode(&j->params);
	snprintf(sig, sizeof(sig), "%s: %s",
	    o->signalwire ? "X-SignalWire-Signature" : "X-Twilio-Signature",
	    j->sig);
	if (o->telnyx) {
		/* Ed25519 over "<timestamp>|<body>", as sent */
		snprintf(j->ts, sizeof(j->ts), "%lld", (long long)time(NULL));
		if (edsig_sign(
		        h->sim->ed_key, j->ts, body, j->esig, sizeof(j->esig))
		    == -1)
			j->esig[0] = '\0';
		snprintf(
		    sig, sizeof(sig), "telnyx-signature-ed25519: %s", j->esig);
		snprintf(ts, sizeof(ts), "telnyx-timestamp: %s", j->ts);
		hdrs = curl_slist_append(hdrs, ts);
	}
	if (!j->get)
		hdrs = curl_slist_append(
		    hdrs, "Content-Type: application/x-www-form-urlencoded");
	hdrs = curl_slist_append(hdrs, sig);
	hdrs = curl_slist_append(hdrs, "User-Agent: TwilioProxy/1.1");
	hdrs = curl_slist_append(hdrs, "Expect:");
	errbuf[0] = '\0';
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, j->url);
	if (j->get)
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	else {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(
		    curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)o->hook_timeout_ms);
	curl_easy_setopt(
	    curl, CURLOPT_CONNECTTIMEOUT_MS, (long)o->hook_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if ((rc = curl_easy_perform(curl)) != CURLE_OK)
		snprintf(j->error, sizeof(j->error), "%s",
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
	else
		curl_easy_getinfo(
		    curl, CURLINFO_RESPONSE_CODE, &j->http_status);
	j->ms = (stream_now_us() - t0) / 1000;
	curl_slist_free_all(hdrs);
	free(body);
}

/* Worker thread entry: takes jobs until hook_stop(). */
static void *
hook_main(void *arg)
{
	struct hooks    *h = arg;
	struct hook_job *j;
	CURL            *curl;

	if ((curl = curl_easy_init()) == NULL) {
		stream_log("error", "curl_easy_init failed");
		return (NULL);
	}
	for (;;) {
		pthread_mutex_lock(&h->lock);
		while (h->todo == NULL && !h->stopping)
			pthread_cond_wait(&h->cond, &h->lock);
		j = h->stopping ? NULL : pop(&h->todo, &h->todo_tail);
		pthread_mutex_unlock(&h->lock);
		if (j == NULL)
			break;
		post(h, curl, j);
		pthread_mutex_lock(&h->lock);
		push(&h->done, &h->done_tail, j);
		pthread_mutex_unlock(&h->lock);
		lws_cancel_service(h->sim->ctx);
	}
	curl_easy_cleanup(curl);
	return (NULL);
}

int
hook_start(struct sim *sim)
{
	struct hooks *h;
	int           i, rv;

	h = stream_xcalloc(1, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->sim = sim;
	h->threads
	    = stream_xcalloc((size_t)sim->o.hook_workers, sizeof(*h->threads));
	sim->hooks = h;
	for (i = 0; i < sim->o.hook_workers; i++) {
		if ((rv = pthread_create(&h->threads[i], NULL, hook_main, h))
		    != 0) {
			stream_log(
			    "error", "webhook worker: %s", strerror(rv));
			return (-1);
		}
		h->nthreads++;
	}
	return (0);
}

void
hook_stop(struct sim *sim)
{
	struct hooks    *h = sim->hooks;
	struct hook_job *j;
	int              i;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	for (i = 0; i < h->nthreads; i++) /* bounded by the curl timeout */
		pthread_join(h->threads[i], NULL);
	while ((j = pop(&h->todo, &h->todo_tail)) != NULL)
		job_free(j);
	while ((j = pop(&h->done, &h->done_tail)) != NULL)
		job_free(j);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->threads);
	free(h);
	sim->hooks = NULL;
}

/* url with the params as its query, a space as "+". */
static char *
get_url(const char *url, const struct form *f)
{
	char  *q = form_encode(f), *out, *o;
	size_t i, len = strlen(url) + strlen(q) + 2;

	out = stream_xcalloc(1, len);
	o = out
	    + snprintf(out, len, "%s%s", url, strchr(url, '?') ? "&" : "?");
	for (i = 0; q[i] != '\0'; i++) {
		if (strncmp(q + i, "%20", 3) == 0) {
			*o++ = '+';
			i += 2;
		} else
			*o++ = q[i];
	}
	*o = '\0';
	free(q);
	return (out);
}

void
hook_post(struct sim *sim, struct call *c, const char *kind, const char *url,
    struct form *params, hook_done_fn done)
{
	struct hooks    *h = sim->hooks;
	struct hook_job *j;
	const char      *key;

	j = stream_xcalloc(1, sizeof(*j));
	j->call = c;
	j->kind = kind;
	j->params = *params; /* the job owns the pairs now */
	memset(params, 0, sizeof(*params));
	j->done = done;
	j->get = sim->o.twiml_get && strcmp(kind, "twiml") == 0;
	if (j->get)
		j->url = get_url(url, &j->params);
	else
		j->url = stream_xstrdup(url);
	key = sim->o.signalwire ? sim->o.signing_key : sim->o.auth_token;
	if (twsig_compute(key, j->url, j->params.v, j->get ? 0 : j->params.n,
	        sim->o.signalwire ? TWSIG_SIGNALWIRE : TWSIG_TWILIO, j->sig)
	    == -1)
		j->sig[0] = '\0';
	pthread_mutex_lock(&h->lock);
	push(&h->todo, &h->todo_tail, j);
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* lws thread: log, record and hand back one finished job. */
static void
finish(struct sim *sim, struct hook_job *j)
{
	struct call *c = j->call;
	json_t      *line;

	line = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:I}", "kind",
	    "webhook", "hook", j->kind, "call_sid", c->sid, "url", j->url,
	    "params", form_json(&j->params), "signature",
	    sim->o.telnyx ? j->esig : j->sig, "status",
	    (json_int_t)j->http_status, "ms", (json_int_t)j->ms);
	if (line != NULL && j->error[0] != '\0')
		json_object_set_new(line, "error", json_string(j->error));
	if (line != NULL)
		json_array_append(c->hooks_log, line);
	if (j->http_status < 200 || j->http_status > 299)
		stream_log("warn", "call %s: %s webhook got %ld%s%s", c->sid,
		    j->kind, j->http_status, j->error[0] ? ": " : "",
		    j->error);
	sim_record(sim, line);
	if (j->done != NULL)
		j->done(c, j);
}

void
hook_drain(struct sim *sim)
{
	struct hooks    *h = sim->hooks;
	struct hook_job *j, *list;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	list = h->done;
	h->done = h->done_tail = NULL;
	pthread_mutex_unlock(&h->lock);
	while ((j = list) != NULL) {
		list = j->next;
		finish(sim, j);
		job_free(j);
	}
}
