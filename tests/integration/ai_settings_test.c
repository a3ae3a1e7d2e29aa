/*
 * ai_settings_test - settings the Realtime API refuses, against
 * sim-openai: a model it does not serve (model_not_found), reasoning
 * effort sent to a model without reasoning (unsupported_parameter), an
 * unknown transcription model (invalid_value) and a wrong API key (401
 * on the upgrade).  Each time ai-session logs one line naming the
 * setting to change, counts it in ai_config_errors_total{setting}, ends
 * only that call and stays up; with the current defaults the same call
 * is configured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "ai_fake_edge.h"

static int nrun;

/* One call with these settings; want: the setting named, or NULL. */
static void
run(const char *model, const char *key, const char *extra, const char *want)
{
	struct harness_proc *oai, *ai;
	struct fedge         fe;
	const char *argv[] = { "--port", "0", "--api-key", "sk-good", NULL };
	const char *env[16];
	char        b[5][300], name[32], ai_url[256], series[160];
	int         http_port, i, j = 0;

	oai = harness_spawn_args("sim-openai", argv, NULL);
	assert_non_null(oai);
	nrun++;
	http_port = harness_free_port();
	snprintf(name, sizeof(name), "setai%d", nrun);
	snprintf(ai_url, sizeof(ai_url), "%s", harness_ipc_url(name));
	snprintf(b[0], sizeof(b[0]), "AI_LISTEN_URL=%s", ai_url);
	snprintf(name, sizeof(name), "setaipub%d", nrun);
	snprintf(b[1], sizeof(b[1]), "AI_PUB_URL=%s", harness_ipc_url(name));
	snprintf(b[2], sizeof(b[2]), "AI_HTTP_PORT=%d", http_port);
	snprintf(b[3], sizeof(b[3]),
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/v1/realtime?model=%s",
	    harness_ready_port(oai), model);
	snprintf(b[4], sizeof(b[4]), "OPENAI_API_KEY=%s", key);
	for (i = 0; i < 5; i++)
		env[j++] = b[i];
	env[j++] = "AI_HTTP_ADDR=127.0.0.1";
	env[j++] = "PERSISTER_URL=";
	env[j++] = "REASONER_URL=";
	env[j++] = "AI_SETUP_TIMEOUT_MS=3000";
	if (extra != NULL)
		env[j++] = extra;
	env[j] = NULL;
	ai = harness_spawn("ai-session", env);
	assert_non_null(ai);
	assert_int_equal(
	    fe_open(&fe, ai_url, b[1] + strlen("AI_PUB_URL=")), 0);
	(void)fe_start(&fe, "CAsettings1", NULL, NULL);
	for (i = 1; i <= 5; i++)
		fe_frame(&fe, "CAsettings1", (uint32_t)i, false, 160);
	if (want != NULL) {
		char line[128];

		snprintf(line, sizeof(line), "change %s", want);
		if (harness_log_wait(ai, line, 8000) != 0)
			fail_msg("no log line naming %s", want);
		snprintf(series, sizeof(series),
		    "ai_config_errors_total{setting=\"%.*s\"}",
		    (int)strcspn(want, " "), want);
		assert_true(fe_metric(http_port, series) >= 1);
	} else {
		assert_int_equal(
		    harness_log_wait(ai, "model session ready", 8000), 0);
		assert_int_equal(
		    harness_log_contains(ai, "configuration:"), 0);
	}
	(void)fe_end(&fe, "CAsettings1");
	fe_close(&fe);
	assert_true(harness_alive(ai));
	assert_int_equal(harness_stop(ai, 10000), 0);
	assert_int_equal(harness_stop(oai, 5000), 0);
}

static void
test_unknown_model(void **state)
{
	(void)state;
	run("gpt-4-realtime-nope", "sk-good", NULL, "OPENAI_REALTIME_URL");
}

static void
test_reasoning_on_old_model(void **state)
{
	(void)state;
	run("gpt-realtime-1.5", "sk-good", NULL, "AI_REASONING_EFFORT");
}

static void
test_unknown_transcription_model(void **state)
{
	(void)state;
	run("gpt-realtime-2", "sk-good", "AI_TRANSCRIBE_MODEL=whisper-9",
	    "AI_TRANSCRIBE_MODEL");
}

static void
test_wrong_key(void **state)
{
	(void)state;
	run("gpt-realtime-2", "sk-bad", NULL, "OPENAI_API_KEY");
}

/* The defaults (model aside, which is in the URL) are accepted. */
static void
test_current_defaults(void **state)
{
	(void)state;
	run("gpt-realtime-2", "sk-good", NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_model),
		cmocka_unit_test(test_reasoning_on_old_model),
		cmocka_unit_test(test_unknown_transcription_model),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_current_defaults),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
