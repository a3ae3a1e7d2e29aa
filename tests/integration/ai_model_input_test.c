/*
 * ai_model_input_test - bad input from the model's side: this process
 * plays the Realtime API itself (a small libwebsockets server) and
 * media-edge (ai_fake_edge.h), and feeds the real ai-session malformed
 * JSON, an event that is not an object, events without a type, unknown
 * event types, a binary frame, a delta that is not base64, an oversized
 * id and an error event, between good events.  The call must go on: the
 * caller's audio still reaches the "model", the good delta still reaches
 * the caller, and every bad thing is counted.  It also checks what
 * ai-session sends: the Authorization header, no OpenAI-Beta header, a GA
 * session.update.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <libwebsockets.h>

#include "ai_fake_edge.h"

struct fake_model {
	struct lws_context *ctx;
	pthread_t           thread;
	atomic_bool         stop;
	int                 port;
	/* seen, written by the service thread */
	atomic_int  connections;
	atomic_int  appends;
	atomic_int  updates;
	atomic_bool auth_ok;
	atomic_bool beta_header;
	char        update_type[32];
	/* what to send next */
	const char *script[16];
	int         nscript, next;
	bool        binary_sent;
	struct lws *wsi;
};

static struct fake_model fm;

static const char *const bad_then_good[] = {
	"{\"type\":\"session.updated\",\"session\":{\"type\":\"realtime\"}}",
	"{not json at all", "[1,2,3]", "{\"no_type\":true}",
	"{\"type\":\"response.something_new\",\"x\":1}",
	"{\"type\":\"brand_new.event\",\"x\":[1,{\"y\":2}]}",
	"{\"type\":\"response.output_audio.delta\",\"response_id\":\"r1\","
	"\"item_id\":\"i1\",\"delta\":\"%%%not base64%%%\"}",
	"{\"type\":\"response.output_audio.delta\",\"response_id\":\"r1\","
	"\"item_id\":\"i1\",\"delta\":\"AAAAAAAAAAAAAAAAAAAAAAAA\"}",
	"{\"type\":\"error\",\"event_id\":\"e9\",\"error\":{\"type\":"
	"\"invalid_request_error\",\"code\":\"made_up_code\",\"message\":"
	"\"bad\",\"param\":null}}",
	"{\"type\":\"response.output_audio.delta\",\"response_id\":\"r1\","
	"\"item_id\":\"i1\",\"delta\":\"////////////////\"}",
	NULL
};

static int
fm_send(struct lws *wsi, const char *text, bool binary)
{
	unsigned char buf[LWS_PRE + 2048];
	size_t        n = strlen(text);

	memcpy(buf + LWS_PRE, text, n);
	return (lws_write(wsi, buf + LWS_PRE, n,
	            binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT)
	            < (int)n
	        ? -1
	        : 0);
}

/* lws service thread of the fake model. */
static int
fm_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len)
{
	char    buf[256];
	json_t *j;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		atomic_fetch_add(&fm.connections, 1);
		fm.wsi = wsi;
		if (lws_hdr_copy(
		        wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION)
		        > 0
		    && strcmp(buf, "Bearer sk-test") == 0)
			atomic_store(&fm.auth_ok, true);
		if (lws_hdr_custom_length(wsi, "openai-beta:", 12) > 0)
			atomic_store(&fm.beta_header, true);
		fm.script[0] = "{\"type\":\"session.created\",\"session\":{}}";
		fm.nscript = 1;
		fm.next = 0;
		lws_callback_on_writable(wsi);
		return (0);
	case LWS_CALLBACK_RECEIVE:
		if ((j = json_loadb(in, len, 0, NULL)) == NULL)
			return (0);
		if (strcmp(json_string_value(json_object_get(j, "type")),
		        "session.update")
		    == 0) {
			atomic_fetch_add(&fm.updates, 1);
			snprintf(fm.update_type, sizeof(fm.update_type), "%s",
			    json_string_value(json_object_get(
			        json_object_get(j, "session"), "type")));
			for (fm.nscript = 0; bad_then_good[fm.nscript] != NULL;
			     fm.nscript++)
				fm.script[fm.nscript]
				    = bad_then_good[fm.nscript];
			fm.next = 0;
			lws_callback_on_writable(wsi);
		} else if (strcmp(
		               json_string_value(json_object_get(j, "type")),
		               "input_audio_buffer.append")
		    == 0)
			atomic_fetch_add(&fm.appends, 1);
		json_decref(j);
		return (0);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (fm.next == 2 && !fm.binary_sent) {
			fm.binary_sent = true; /* a binary frame, once */
			(void)fm_send(wsi, "\x01\x02\x03", true);
		} else if (fm.next < fm.nscript)
			(void)fm_send(wsi, fm.script[fm.next++], false);
		if (fm.next < fm.nscript || !fm.binary_sent)
			lws_callback_on_writable(wsi);
		return (0);
	case LWS_CALLBACK_CLOSED:
		fm.wsi = NULL;
		return (0);
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

static const struct lws_protocols fm_protocols[]
    = { { "fake-realtime", fm_cb, 0, 65536, 0, NULL, 0 },
	      { NULL, NULL, 0, 0, 0, NULL, 0 } };

static void *
fm_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&fm.stop))
		lws_service(fm.ctx, 0);
	return (NULL);
}

/* A self-signed certificate for 127.0.0.1 (CN and SAN), made with the
 * openssl command; paths under the test's scratch directory. */
static void
make_cert(char *cert, char *key, size_t len)
{
	char cmd[2048];

	snprintf(cert, len, "%s/model-cert.pem", harness_tmpdir());
	snprintf(key, len, "%s/model-key.pem", harness_tmpdir());
	snprintf(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
	    "-subj /CN=127.0.0.1 -addext "
	    "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1 -keyout %s -out %s "
	    ">/dev/null 2>&1",
	    key, cert);
	assert_int_equal(system(cmd), 0);
}

static void
fm_start_tls(const char *cert, const char *key)
{
	struct lws_context_creation_info info;
	struct lws_vhost                *vh;

	memset(&fm, 0, sizeof(fm));
	memset(&info, 0, sizeof(info));
	if (cert != NULL) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cert;
		info.ssl_private_key_filepath = key;
	}
	info.port = 0;
	info.iface = "127.0.0.1";
	info.protocols = fm_protocols;
	info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	lws_set_log_level(LLL_ERR, NULL);
	fm.ctx = lws_create_context(&info);
	assert_non_null(fm.ctx);
	vh = lws_get_vhost_by_name(fm.ctx, "default");
	fm.port = lws_get_vhost_listen_port(vh);
	assert_true(fm.port > 0);
	pthread_create(&fm.thread, NULL, fm_main, NULL);
}

static void
fm_start(void)
{
	fm_start_tls(NULL, NULL);
}

static void
fm_stop(void)
{
	atomic_store(&fm.stop, true);
	lws_cancel_service(fm.ctx);
	pthread_join(fm.thread, NULL);
	lws_context_destroy(fm.ctx);
}

static void
test_bad_model_input(void **state)
{
	struct harness_proc *ai;
	struct fedge         fe;
	char                 url[160], lu[300], pu[300], port[48];
	char                 ai_url[256], ai_pub[256];
	const char          *env[16];
	int                  http_port, i;
	long long            end;

	(void)state;
	fm_start();
	snprintf(ai_url, sizeof(ai_url), "%s", harness_ipc_url("mai"));
	snprintf(ai_pub, sizeof(ai_pub), "%s", harness_ipc_url("maipub"));
	http_port = harness_free_port();
	snprintf(url, sizeof(url),
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/"
	    "v1/realtime?model=gpt-realtime-2",
	    fm.port);
	snprintf(lu, sizeof(lu), "AI_LISTEN_URL=%s", ai_url);
	snprintf(pu, sizeof(pu), "AI_PUB_URL=%s", ai_pub);
	snprintf(port, sizeof(port), "AI_HTTP_PORT=%d", http_port);
	env[0] = url;
	env[1] = lu;
	env[2] = pu;
	env[3] = port;
	env[4] = "AI_HTTP_ADDR=127.0.0.1";
	env[5] = "OPENAI_API_KEY=sk-test";
	env[6] = "PERSISTER_URL=";
	env[7] = "REASONER_URL=";
	env[8] = "AI_MARK_MIN_MS=0";
	env[9] = NULL;
	ai = harness_spawn("ai-session", env);
	assert_non_null(ai);
	assert_int_equal(fe_open(&fe, ai_url, ai_pub), 0);
	assert_int_equal(fe_start(&fe, "CAmodel1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	for (i = 1; i <= 10; i++)
		fe_frame(&fe, "CAmodel1", (uint32_t)i, false, 160);
	/* the good deltas reach the caller, the audio reaches the model */
	assert_int_equal(fe_wait(&fe, &fe.audio_frames, 2, 5000), 0);
	end = fe_now() + 5000;
	while (atomic_load(&fm.appends) < 10 && fe_now() < end)
		nng_msleep(10);
	assert_int_equal(atomic_load(&fm.appends), 10);
	assert_true(atomic_load(&fm.auth_ok));
	assert_false(atomic_load(&fm.beta_header));
	assert_int_equal(atomic_load(&fm.updates), 1);
	assert_string_equal(fm.update_type, "realtime");
	nng_msleep(200);
	/* not json, not an object, no type, binary, bad base64 */
	assert_true(
	    fe_metric(http_port, "ai_bad_input_total{source=\"model_json\"}")
	    >= 5);
	assert_true(
	    fe_metric(http_port, "ai_model_unknown_events_total") == 1);
	assert_true(fe_metric(http_port,
	                "ai_model_errors_total{code=\"made_up_code\"}")
	    == 1);
	assert_true(fe_metric(http_port, "ai_calls_active") == 1);
	assert_true(harness_alive(ai));
	assert_int_equal(fe_get(&fe, &fe.hangups), 0);
	assert_int_equal(fe_end(&fe, "CAmodel1"), BUS__ENVELOPE__BODY_ACK);
	fe_close(&fe);
	assert_int_equal(harness_stop(ai, 10000), 0);
	fm_stop();
}

/* wss: the model's certificate is verified; a self-signed one is
 * refused unless OPENAI_CA_FILE trusts it. */
static void
run_tls(const char *ca_file, bool expect_ok)
{
	struct harness_proc *ai;
	struct fedge         fe;
	char                 url[160], lu[300], pu[300], port[48], ca[600];
	char                 ai_url[256], ai_pub[256], name[32];
	const char          *env[16];
	static int           n;
	int                  http_port, i, j = 0;
	long long            end;

	snprintf(name, sizeof(name), "tai%d", ++n);
	snprintf(ai_url, sizeof(ai_url), "%s", harness_ipc_url(name));
	snprintf(name, sizeof(name), "taipub%d", n);
	snprintf(ai_pub, sizeof(ai_pub), "%s", harness_ipc_url(name));
	http_port = harness_free_port();
	snprintf(url, sizeof(url),
	    "OPENAI_REALTIME_URL=wss://127.0.0.1:%d/"
	    "v1/realtime?model=gpt-realtime-2",
	    fm.port);
	snprintf(lu, sizeof(lu), "AI_LISTEN_URL=%s", ai_url);
	snprintf(pu, sizeof(pu), "AI_PUB_URL=%s", ai_pub);
	snprintf(port, sizeof(port), "AI_HTTP_PORT=%d", http_port);
	snprintf(ca, sizeof(ca), "OPENAI_CA_FILE=%s",
	    ca_file != NULL ? ca_file : "");
	env[j++] = url;
	env[j++] = lu;
	env[j++] = pu;
	env[j++] = port;
	env[j++] = ca;
	env[j++] = "AI_HTTP_ADDR=127.0.0.1";
	env[j++] = "OPENAI_API_KEY=sk-test";
	env[j++] = "PERSISTER_URL=";
	env[j++] = "REASONER_URL=";
	env[j] = NULL;
	ai = harness_spawn("ai-session", env);
	assert_non_null(ai);
	assert_int_equal(fe_open(&fe, ai_url, ai_pub), 0);
	assert_int_equal(fe_start(&fe, "CAtls1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	for (i = 1; i <= 5; i++)
		fe_frame(&fe, "CAtls1", (uint32_t)i, false, 160);
	if (expect_ok) {
		end = fe_now() + 5000;
		while (atomic_load(&fm.appends) < 5 && fe_now() < end)
			nng_msleep(10);
		assert_int_equal(atomic_load(&fm.appends), 5);
		assert_int_equal(fe_get(&fe, &fe.hangups), 0);
		assert_int_equal(
		    fe_end(&fe, "CAtls1"), BUS__ENVELOPE__BODY_ACK);
	} else {
		/* refused: the call ends and media-edge is told */
		assert_int_equal(fe_wait(&fe, &fe.hangups, 1, 5000), 0);
		print_message("refused: %s\n", fe.hangup_reason);
		assert_int_equal(atomic_load(&fm.connections), 0);
		assert_int_equal(atomic_load(&fm.appends), 0);
	}
	fe_close(&fe);
	assert_int_equal(harness_stop(ai, 10000), 0);
}

static void
test_tls_verified(void **state)
{
	char cert[512], key[512];

	(void)state;
	make_cert(cert, key, sizeof(cert));
	fm_start_tls(cert, key);
	run_tls(NULL, false); /* not in the system trust store */
	run_tls(cert, true); /* trusted through OPENAI_CA_FILE */
	fm_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_model_input),
		cmocka_unit_test(test_tls_verified),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
