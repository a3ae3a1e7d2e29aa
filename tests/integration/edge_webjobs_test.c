/*
 * edge_webjobs_test - media-edge's web job queue when it is full: with
 * EDGE_WEB_WORKERS=1 and EDGE_WEB_QUEUE_MAX=1, and a persister (played
 * here) that holds its first answer for 1.5 s, six signed status
 * callbacks in a row are all answered 204 at once; the call events the
 * full queue refuses are kept (edge_web_jobs_deferred_total{kind=
 * "event"}) and every one of them reaches persister, in order, once the
 * queue has room again.  Bounded: about 5 s.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "codec.h"
#include "harness.h"
#include "hmac.h"
#include "wire.h"

#define TOKEN "webjobs0auth0token0123456789abcd"
#define SID "CA0000000000000000000000000webjob"
#define NHOOKS 6

static struct {
	nng_socket      ps;
	pthread_t       thread;
	pthread_mutex_t mtx;
	uint32_t        seqs[32]; /* {mtx} CallEvent seqs as received */
	int             n; /* {mtx} */
	volatile bool   stop;
	char            edge_http[64];
} S = { .mtx = PTHREAD_MUTEX_INITIALIZER };

/* The persister: CallEvents acknowledged, the first one late. */
static void *
persister(void *arg)
{
	nng_msg        *msg, *out;
	Bus__Envelope  *in, rep = BUS__ENVELOPE__INIT;
	Bus__Ack        ack = BUS__ACK__INIT;
	struct wire_ids ids;
	bool            first = true;

	(void)arg;
	while (!S.stop) {
		if (nng_recvmsg(S.ps, &msg, 0) != 0)
			continue; /* the receive timeout: look at stop */
		if (wire_unpack(msg, &in) != 0) {
			nng_msg_free(msg);
			continue;
		}
		nng_msg_free(msg);
		if (in->body_case == BUS__ENVELOPE__BODY_CALL_EVENT) {
			if (first)
				nng_msleep(1500); /* the worker is busy */
			first = false;
			pthread_mutex_lock(&S.mtx);
			if (S.n < 32)
				S.seqs[S.n++] = in->call_event->seq;
			pthread_mutex_unlock(&S.mtx);
		}
		wire_env_init(&rep, &ids, in->call_sid, NULL);
		rep.body_case = BUS__ENVELOPE__BODY_ACK;
		rep.ack = &ack;
		if (wire_pack(&rep, &out) == 0
		    && nng_sendmsg(S.ps, out, 0) != 0)
			nng_msg_free(out);
		wire_free(in);
	}
	return (NULL);
}

/* A status callback signed as Twilio signs it (protocols.md 3.1): the
 * names sorted, so the pairs are given in that order. */
static long
status_hook(int seq)
{
	unsigned char mac[HMAC_SHA1_LEN];
	char          url[128], data[512], body[256], sig[29], hdr[64];
	const char   *h[3]
	    = { "Content-Type: application/x-www-form-urlencoded", hdr, NULL };
	long status = 0;

	snprintf(url, sizeof(url), "%s/status", S.edge_http);
	snprintf(data, sizeof(data),
	    "%sCallSid" SID "CallStatusringingSequenceNumber%d", url, seq);
	assert_int_equal(
	    hmac_sha1(TOKEN, strlen(TOKEN), data, strlen(data), mac), 0);
	assert_int_equal(codec_b64_encode(mac, sizeof(mac), sig, 29), 28);
	snprintf(hdr, sizeof(hdr), "X-Twilio-Signature: %s", sig);
	snprintf(body, sizeof(body),
	    "CallSid=" SID "&CallStatus=ringing&SequenceNumber=%d", seq);
	assert_int_equal(harness_http("POST", url, h, body, &status, NULL), 0);
	return (status);
}

static double
metric(const char *series)
{
	char   url[96], *body = NULL, *p;
	long   status = 0;
	double v = -1;

	snprintf(url, sizeof(url), "%s/metrics", S.edge_http);
	if (harness_http("GET", url, NULL, NULL, &status, &body) == 0
	    && (p = strstr(body, series)) != NULL)
		v = strtod(p + strlen(series), NULL);
	free(body);
	return (v);
}

static int
all_stored(void *arg)
{
	int n;

	(void)arg;
	pthread_mutex_lock(&S.mtx);
	n = S.n;
	pthread_mutex_unlock(&S.mtx);
	return (n >= NHOOKS);
}

static void
test_full_queue(void **state)
{
	char                 e[16][300];
	const char          *env[17];
	const char          *ps_url = harness_ipc_url("wjps");
	struct harness_proc *p;
	int                  n = 0, i, port = harness_free_port();

	(void)state;
	assert_int_equal(nng_rep0_open(&S.ps), 0);
	assert_int_equal(nng_listen(S.ps, ps_url, NULL, 0), 0);
	assert_int_equal(nng_socket_set_ms(S.ps, NNG_OPT_RECVTIMEO, 100), 0);
	assert_int_equal(pthread_create(&S.thread, NULL, persister, NULL), 0);
	snprintf(
	    S.edge_http, sizeof(S.edge_http), "http://127.0.0.1:%d", port);
	snprintf(e[n++], 300, "EDGE_LISTEN_URL=%s", harness_ipc_url("wjctl"));
	snprintf(e[n++], 300, "EDGE_PUB_URL=%s", harness_ipc_url("wjpub"));
	snprintf(e[n++], 300, "EDGE_HTTP_PORT=%d", port);
	snprintf(e[n++], 300, "EDGE_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 300, "EDGE_PUBLIC_URL=%s", S.edge_http);
	snprintf(e[n++], 300, "TWILIO_AUTH_TOKEN=" TOKEN);
	snprintf(
	    e[n++], 300, "EDGE_STREAM_TOKEN_SECRET=webjobs-stream-secret");
	snprintf(e[n++], 300, "EDGE_API_TOKEN=webjobs-api-token");
	snprintf(e[n++], 300, "AI_SESSION_URL=%s", harness_ipc_url("wjai"));
	snprintf(e[n++], 300, "RATE_LIMITER_URL=");
	snprintf(e[n++], 300, "PERSISTER_URL=%s", ps_url);
	snprintf(e[n++], 300, "EDGE_WEB_WORKERS=1");
	snprintf(e[n++], 300, "EDGE_WEB_QUEUE_MAX=1");
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	assert_non_null(p = harness_spawn("media-edge", env));

	/* answered at once, whatever the queue holds */
	for (i = 1; i <= NHOOKS; i++)
		assert_int_equal(status_hook(i), 204);
	print_message("deferred: %.0f\n",
	    metric("edge_web_jobs_deferred_total{kind=\"event\"} "));
	assert_true(
	    metric("edge_web_jobs_deferred_total{kind=\"event\"} ") >= 3);
	/* and every event reaches persister, in order */
	assert_int_equal(harness_wait_for(all_stored, NULL, 10000), 0);
	pthread_mutex_lock(&S.mtx);
	assert_int_equal(S.n, NHOOKS);
	for (i = 0; i < NHOOKS; i++)
		assert_int_equal(S.seqs[i], (uint32_t)i + 1);
	pthread_mutex_unlock(&S.mtx);

	assert_int_equal(harness_stop(p, 10000), 0);
	S.stop = true;
	pthread_join(S.thread, NULL);
	nng_close(S.ps);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_queue),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
