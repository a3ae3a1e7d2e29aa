/*
 * ops_doctor_test - `callctl doctor` against the whole stack.
 *
 * The five daemons (tests/integration/ops_stack.h) plus, as doctor's
 * providers, a sim-openai and a sim-anthropic serving exactly the models
 * the daemons default to (read from `ai-session --check-config` and
 * `reasoner --check-config`, so a new default flows through), a
 * sim-twilio owning one phone number, and `openssl s_server` as the TLS
 * proxy at PUBLIC_URL with a certificate made here (trusted through
 * DOCTOR_CA_FILE).  Cases: everything right exits 0 with every line ok
 * and no secret printed; then one fault at a time gives a FAIL line
 * naming the fix and exit 1: a wrong OpenAI key, an unknown Realtime or
 * transcription model, a session.update the Realtime service refuses, a wrong
 * Anthropic key, an unknown Anthropic model, wrong Twilio credentials, the
 * number's voice URL pointing elsewhere, an http PUBLIC_URL and an untrusted
 * certificate, a missing secret, an unusable phone key, SignalWire's API with
 * a status callback elsewhere, and persister down (last; it is restarted for a
 * clean stop).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "ops_stack.h"

#define ACCOUNT "ACSIMULATED0000000000000000000001"
#define TW_TOKEN "doctor-twilio-token-7f3a"
#define NUMBER "+14155550142"
#define OAI_KEY "sk-doctor-oai-91b2"
#define ANT_KEY "sk-ant-doctor-4c7d"

static struct ops_stack     S;
static struct harness_proc *oai, *ant, *tw;
static pid_t                tls_pid;
static char rt_model[128], tr_model[128], ant_model[128], cert[512];
static char public_url[128], env[8192];

/* The value of NAME= in a --check-config dump, into out. */
static int
dump_value(const char *dump, const char *name, char *out, size_t len)
{
	char        key[128];
	const char *p, *e;

	snprintf(key, sizeof(key), "\n%s=", name);
	if ((p = strstr(dump, key)) == NULL)
		return (-1);
	p += strlen(key);
	e = p + strcspn(p, "\n");
	snprintf(out, len, "%.*s", (int)(e - p), p);
	return (0);
}

/* The daemons' own defaults for the models. */
static int
read_defaults(void)
{
	char       *out;
	char        url[512];
	const char *m;
	int         rv = -1;

	if (ops_sh(&out,
	        "env -i OPENAI_API_KEY=x %s/ai-session --check-config 2>&1",
	        ops_bin())
	        == 0
	    && dump_value(out, "OPENAI_REALTIME_URL", url, sizeof(url)) == 0
	    && dump_value(
	           out, "AI_TRANSCRIBE_MODEL", tr_model, sizeof(tr_model))
	        == 0
	    && (m = strstr(url, "model=")) != NULL) {
		snprintf(rt_model, sizeof(rt_model), "%.*s",
		    (int)strcspn(m + 6, "&"), m + 6);
		rv = 0;
	}
	free(out);
	if (rv == -1)
		return (-1);
	if (ops_sh(&out,
	        "env -i ANTHROPIC_API_KEY=x %s/reasoner --check-config 2>&1",
	        ops_bin())
	        != 0
	    || dump_value(out, "ANTHROPIC_MODEL", ant_model, sizeof(ant_model))
	        == -1)
		rv = -1;
	free(out);
	return (rv);
}

/* openssl s_server as the TLS proxy in front of media-edge: any GET
 * gets 200 (-www), over a certificate for 127.0.0.1 made here. */
static int
start_tls(void)
{
	struct sockaddr_in sa;
	char               key[512], port[32];
	int                p, fd, i, up = 0;

	snprintf(cert, sizeof(cert), "%s/doctor-cert.pem", harness_tmpdir());
	snprintf(key, sizeof(key), "%s/doctor-key.pem", harness_tmpdir());
	if (ops_sh(NULL,
	        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
	        "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
	        "-keyout %s -out %s 2>&1",
	        key, cert)
	    != 0)
		return (-1);
	if ((p = harness_free_port()) <= 0)
		return (-1);
	snprintf(port, sizeof(port), "127.0.0.1:%d", p);
	snprintf(public_url, sizeof(public_url), "https://127.0.0.1:%d", p);
	if ((tls_pid = fork()) == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execlp("openssl", "openssl", "s_server", "-accept", port,
		    "-cert", cert, "-key", key, "-www", "-quiet",
		    (char *)NULL);
		_exit(127);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)p);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < 200 && !up; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (!up)
			usleep(25000);
	}
	return (up ? 0 : -1);
}

static int
setup(void **state)
{
	char        models[300], voice[200], status[200], url[300];
	const char *oai_args[] = { "--port", "0", "--api-key", OAI_KEY,
		"--models", models, NULL };
	const char *ant_args[] = { "--port", "0", "--api-key", ANT_KEY,
		"--models", ant_model, NULL };
	const char *tw_args[]
	    = { "--port", "0", "--account-sid", ACCOUNT, "--auth-token",
		      TW_TOKEN, "--number", NUMBER, "--number-voice-url",
		      voice, "--number-status-callback", status, NULL };
	char *p = env;

	if (read_defaults() == -1) {
		fprintf(stderr, "cannot read the daemons' default models\n");
		return (-1);
	}
	if (ops_stack_start(&S) != 0 || start_tls() == -1)
		return (-1);
	snprintf(models, sizeof(models), "%s,%s", rt_model, tr_model);
	snprintf(voice, sizeof(voice), "%s/twiml", public_url);
	snprintf(status, sizeof(status), "%s/status", public_url);
	if ((oai = harness_spawn_args("sim-openai", oai_args, NULL)) == NULL
	    || (ant = harness_spawn_args("sim-anthropic", ant_args, NULL))
	        == NULL
	    || (tw = harness_spawn_args("sim-twilio", tw_args, NULL)) == NULL)
		return (-1);
	/* Doctor's environment: callctl's addresses, then every daemon's
	 * production settings pointed at the simulators. */
	p += snprintf(p, sizeof(env), "%s", S.env);
	p += snprintf(p, sizeof(env) - (size_t)(p - env),
	    " DATABASE_URL=\"%s\" PHONE_ENCRYPTION_KEY=" OPS_PHONE_KEY
	    " RATE_LIMIT_HMAC_KEY=" OPS_HMAC_KEY
	    " EDGE_STREAM_TOKEN_SECRET=" OPS_STREAM_SECRET
	    " EDGE_PUBLIC_URL=%s DOCTOR_CA_FILE=%s DOCTOR_TIMEOUT_MS=5000"
	    " TWILIO_ACCOUNT_SID=" ACCOUNT " TWILIO_AUTH_TOKEN=" TW_TOKEN
	    " TWILIO_FROM_NUMBER=" NUMBER
	    " TWILIO_API_BASE_URL=http://127.0.0.1:%d/2010-04-01"
	    " OPENAI_API_KEY=" OAI_KEY " ANTHROPIC_API_KEY=" ANT_KEY
	    " ANTHROPIC_BASE_URL=http://127.0.0.1:%d",
	    S.db.dsn, public_url, cert, harness_ready_port(tw),
	    harness_ready_port(ant));
	snprintf(url, sizeof(url),
	    " OPENAI_REALTIME_URL='ws://127.0.0.1:%d/v1/realtime?model=%s'",
	    harness_ready_port(oai), rt_model);
	snprintf(p, sizeof(env) - (size_t)(p - env), "%s", url);
	return (0);
}

static int
teardown(void **state)
{
	int bad = ops_stack_stop(&S);

	if (oai != NULL && harness_stop(oai, 5000) != 0)
		bad++;
	if (ant != NULL && harness_stop(ant, 5000) != 0)
		bad++;
	if (tw != NULL && harness_stop(tw, 5000) != 0)
		bad++;
	if (tls_pid > 0) {
		kill(tls_pid, SIGTERM);
		waitpid(tls_pid, NULL, 0);
	}
	return (bad == 0 ? 0 : -1);
}

/* callctl doctor with the environment plus overrides (shell words). */
static int
doctor(char **outp, const char *extra)
{
	return (ops_sh(outp, "env %s env %s %s/callctl doctor 2>&1", env,
	    extra, ops_bin()));
}

/* The output has a FAIL line with both strings, and a fix after it. */
static void
assert_fail_line(const char *out, const char *what, const char *fix)
{
	const char *p = out, *eol, *next;
	char        line[1024];

	for (; (p = strstr(p, "FAIL  ")) != NULL; p = eol) {
		eol = p + strcspn(p, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)(eol - p), p);
		if (strstr(line, what) == NULL)
			continue;
		next = *eol == '\n' ? eol + 1 : eol;
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(next, "\n"),
		    next);
		if (strstr(line, "fix: ") != NULL && strstr(line, fix) != NULL)
			return;
		fprintf(stderr,
		    "FAIL line for \"%s\" lacks the fix \"%s\":\n%s", what,
		    fix, out);
		fail();
	}
	fprintf(stderr, "no FAIL line for \"%s\":\n%s", what, out);
	fail();
}

static void
assert_no_secret(const char *out)
{
	assert_null(strstr(out, OAI_KEY));
	assert_null(strstr(out, ANT_KEY));
	assert_null(strstr(out, TW_TOKEN));
	assert_null(strstr(out, OPS_STREAM_SECRET));
	assert_null(strstr(out, OPS_HMAC_KEY));
	assert_null(strstr(out, OPS_PHONE_KEY));
	assert_null(strstr(out, NUMBER)); /* phone numbers are masked */
}

static void
test_all_ok(void **state)
{
	long long t0 = harness_now_ms();
	char     *out;
	int       rc = doctor(&out, "");

	if (rc != 0)
		fprintf(stderr, "%s", out);
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "FAIL"));
	assert_non_null(strstr(out, "doctor: all checks passed"));
	assert_non_null(strstr(out, "ok    postgres   migrations"));
	assert_non_null(strstr(out, "ok    openai     key"));
	assert_non_null(strstr(out, "ok    openai     realtime model"));
	assert_non_null(strstr(out, "ok    openai     transcription"));
	assert_non_null(strstr(out, "ok    realtime   session"));
	assert_non_null(strstr(out, "ok    anthropic  model"));
	assert_non_null(strstr(out, "ok    telephony  voice URL"));
	assert_non_null(strstr(out, "ok    telephony  status callback"));
	assert_non_null(strstr(out, "ok    public-url https"));
	assert_non_null(strstr(out, "ok    daemons    persister"));
	assert_non_null(strstr(out, "ok    daemons    media-edge"));
	assert_no_secret(out);
	assert_true(harness_now_ms() - t0 < 30000);
	free(out);
}

static void
test_bad_openai_key(void **state)
{
	char *out;

	assert_int_equal(doctor(&out, "OPENAI_API_KEY=sk-revoked-0000"), 1);
	assert_fail_line(out, "openai     key", "OPENAI_API_KEY");
	assert_fail_line(out, "realtime   session", "OPENAI_API_KEY");
	assert_null(strstr(out, "sk-revoked-0000"));
	assert_non_null(strstr(out, "ok    anthropic  model"));
	free(out);
}

static void
test_unknown_models(void **state)
{
	char *out, extra[512];

	snprintf(extra, sizeof(extra),
	    "OPENAI_REALTIME_URL='ws://127.0.0.1:%d/v1/realtime?"
	    "model=gpt-realtime-retired' AI_TRANSCRIBE_MODEL=whisper-0 "
	    "ANTHROPIC_MODEL=claude-retired-1",
	    harness_ready_port(oai));
	assert_int_equal(doctor(&out, extra), 1);
	assert_fail_line(
	    out, "realtime model", "the model= of OPENAI_REALTIME_URL");
	assert_fail_line(out, "transcription", "AI_TRANSCRIBE_MODEL");
	assert_fail_line(out, "anthropic  model", "ANTHROPIC_MODEL");
	assert_non_null(strstr(out, "ok    openai     key"));
	assert_non_null(strstr(out, "ok    anthropic  key"));
	free(out);
}

/* A Realtime service that refuses our session.update: the line says
 * what it answered. */
static void
test_realtime_refused(void **state)
{
	char        models[300], extra[512], *out;
	const char *args[] = { "--port", "0", "--api-key", OAI_KEY, "--models",
		models, "--error-on-update", NULL };
	struct harness_proc *p;

	snprintf(models, sizeof(models), "%s,%s", rt_model, tr_model);
	assert_non_null(p = harness_spawn_args("sim-openai", args, NULL));
	snprintf(extra, sizeof(extra),
	    "OPENAI_REALTIME_URL='ws://127.0.0.1:%d/v1/realtime?model=%s'",
	    harness_ready_port(p), rt_model);
	assert_int_equal(doctor(&out, extra), 1);
	assert_fail_line(out, "realtime   session", "OPENAI_REALTIME_URL");
	assert_non_null(strstr(out, "session.update refused"));
	assert_non_null(strstr(out, "ok    openai     realtime model"));
	free(out);
	assert_int_equal(harness_stop(p, 5000), 0);
}

static void
test_bad_anthropic_key(void **state)
{
	char *out;

	assert_int_equal(doctor(&out, "ANTHROPIC_API_KEY=sk-ant-old-1111"), 1);
	assert_fail_line(out, "anthropic  key", "ANTHROPIC_API_KEY");
	assert_null(strstr(out, "sk-ant-old-1111"));
	free(out);
}

static void
test_twilio(void **state)
{
	char url[512], body[300], *out, *resp;
	/* Basic ACCOUNT:TW_TOKEN */
	const char *hdr[] = { "Authorization: Basic "
		              "QUNTSU1VTEFURUQwMDAwMDAwMDAwMDAwMDAwMDAwMDAx"
		              "OmRvY3Rvci10d2lsaW8tdG9rZW4tN2YzYQ==",
		NULL };
	long        st;
	json_t     *j;
	const char *pn;

	/* Wrong token. */
	assert_int_equal(doctor(&out, "TWILIO_AUTH_TOKEN=not-the-token"), 1);
	assert_fail_line(out, "credentials", "TWILIO_AUTH_TOKEN");
	free(out);
	/* A number the account does not have. */
	assert_int_equal(doctor(&out, "TWILIO_FROM_NUMBER=+14155550199"), 1);
	assert_fail_line(out, "telephony  number", "TWILIO_FROM_NUMBER");
	assert_null(strstr(out, "+14155550199"));
	free(out);

	/* The number's voice URL moved elsewhere (as in the Console). */
	snprintf(url, sizeof(url),
	    "http://127.0.0.1:%d/2010-04-01/Accounts/" ACCOUNT
	    "/IncomingPhoneNumbers.json",
	    harness_ready_port(tw));
	assert_int_equal(harness_http("GET", url, hdr, NULL, &st, &resp), 0);
	assert_int_equal(st, 200);
	j = json_loads(resp, 0, NULL);
	free(resp);
	pn = json_string_value(json_object_get(
	    json_array_get(json_object_get(j, "incoming_phone_numbers"), 0),
	    "sid"));
	assert_non_null(pn);
	snprintf(url, sizeof(url),
	    "http://127.0.0.1:%d/2010-04-01/Accounts/" ACCOUNT
	    "/IncomingPhoneNumbers/%s.json",
	    harness_ready_port(tw), pn);
	json_decref(j);
	assert_int_equal(
	    harness_http("POST", url, hdr,
	        "VoiceUrl=https%3A%2F%2Fold-app.example%2Fvoice", &st, NULL),
	    0);
	assert_int_equal(st, 200);
	assert_int_equal(doctor(&out, ""), 1);
	assert_fail_line(out, "voice URL", "/twiml");
	assert_non_null(strstr(out, "https://old-app.example/voice"));
	assert_non_null(strstr(out, "ok    telephony  status callback"));
	free(out);
	/* A TwiML App on the number takes its calls instead. */
	assert_int_equal(
	    harness_http("POST", url, hdr,
	        "VoiceApplicationSid=AP0123456789abcdef0123456789abcdef", &st,
	        NULL),
	    0);
	assert_int_equal(st, 200);
	assert_int_equal(doctor(&out, ""), 1);
	assert_fail_line(out, "telephony  number", "VoiceApplicationSid=");
	free(out);
	assert_int_equal(
	    harness_http("POST", url, hdr, "VoiceApplicationSid=", &st, NULL),
	    0);
	/* Put it back: all ok again. */
	snprintf(body, sizeof(body), "VoiceUrl=%s/twiml", public_url);
	assert_int_equal(harness_http("POST", url, hdr, body, &st, NULL), 0);
	assert_int_equal(doctor(&out, ""), 0);
	free(out);
}

static void
test_public_url(void **state)
{
	char *out, extra[256];

	snprintf(extra, sizeof(extra), "EDGE_PUBLIC_URL=http://127.0.0.1:%d",
	    S.http[OPS_EDGE]);
	assert_int_equal(doctor(&out, extra), 1);
	assert_fail_line(out, "public-url https", "https://");
	free(out);
	/* The certificate is not in the system's trust store. */
	assert_int_equal(doctor(&out, "DOCTOR_CA_FILE="), 1);
	assert_fail_line(out, "public-url https", "certificate");
	free(out);
}

static void
test_missing_secret(void **state)
{
	char *out;

	assert_int_equal(doctor(&out, "-u ANTHROPIC_API_KEY"), 1);
	assert_fail_line(out, "config     reasoner", "docs/configuration.md");
	assert_non_null(strstr(out, "ANTHROPIC_API_KEY is required"));
	free(out);
}

/* A database that cannot be reached; libpq quotes the bad value back,
 * which here is also the password: it must not show. */
static void
test_bad_database(void **state)
{
	char *out;

	assert_int_equal(doctor(&out,
	                     "DATABASE_URL='host=127.0.0.1 port=pw-doctor-77 "
	                     "password=pw-doctor-77'"),
	    1);
	assert_fail_line(out, "postgres   connect", "DATABASE_URL");
	assert_null(strstr(out, "pw-doctor-77"));
	assert_non_null(strstr(out, "ok    daemons    persister"));
	free(out);
}

/* EDGE_PROVIDER=signalwire: the same checks against SignalWire's
 * compatibility API (project id and API token as Basic credentials). */
static void
test_signalwire(void **state)
{
	char        voice[200], status[200], extra[1024], *out;
	const char *args[] = { "--port", "0", "--signalwire", "--signing-key",
		"sw-signing-key-1", "--account-sid",
		"3f7b0c2e-5d6a-4b8e-9c1d-0a2b3c4d5e6f", "--auth-token",
		"PTsw-doctor-token", "--number", NUMBER, "--number-voice-url",
		voice, "--number-status-callback", status, NULL };
	struct harness_proc *sw;

	snprintf(voice, sizeof(voice), "%s/twiml", public_url);
	snprintf(status, sizeof(status), "%s/elsewhere", public_url);
	sw = harness_spawn_args("sim-twilio", args, NULL);
	assert_non_null(sw);
	snprintf(extra, sizeof(extra),
	    "EDGE_PROVIDER=signalwire "
	    "SIGNALWIRE_API_BASE_URL=http://127.0.0.1:%d/api/laml/2010-04-01 "
	    "SIGNALWIRE_PROJECT_ID=3f7b0c2e-5d6a-4b8e-9c1d-0a2b3c4d5e6f "
	    "SIGNALWIRE_API_TOKEN=PTsw-doctor-token "
	    "SIGNALWIRE_SIGNING_KEY=sw-signing-key-1 "
	    "SIGNALWIRE_FROM_NUMBER=" NUMBER,
	    harness_ready_port(sw));
	assert_int_equal(doctor(&out, extra), 1);
	assert_non_null(strstr(out, "ok    telephony  credentials"));
	assert_non_null(strstr(out, "ok    telephony  voice URL"));
	assert_fail_line(out, "status callback", "/status");
	assert_non_null(strstr(out, "SignalWire dashboard"));
	assert_null(strstr(out, "PTsw-doctor-token"));
	free(out);
	assert_int_equal(harness_stop(sw, 5000), 0);
}

/* EDGE_PROVIDER=telnyx: its settings are checked (the key redacted),
 * its account is not probed. */
static void
test_telnyx(void **state)
{
	char *out;

	assert_int_equal(
	    doctor(&out,
	        "EDGE_PROVIDER=telnyx TELNYX_API_KEY=KEYtx-doctor-1 "
	        "TELNYX_APPLICATION_ID= TELNYX_PUBLIC_KEY="),
	    1);
	assert_fail_line(
	    out, "telephony  credentials", "TELNYX_APPLICATION_ID");
	assert_null(strstr(out, "KEYtx-doctor-1"));
	free(out);
	assert_int_equal(
	    doctor(&out,
	        "EDGE_PROVIDER=telnyx TELNYX_API_KEY=KEYtx-doctor-1 "
	        "TELNYX_APPLICATION_ID=app-1 "
	        "TELNYX_PUBLIC_KEY=MCowBQYDK2VwAyEA "
	        "TELNYX_FROM_NUMBER=" NUMBER),
	    0);
	assert_non_null(strstr(out, "ok    telephony  credentials"));
	assert_null(strstr(out, "KEYtx-doctor-1"));
	free(out);
}

static void
test_bad_phone_key(void **state)
{
	char *out;

	assert_int_equal(doctor(&out, "PHONE_ENCRYPTION_KEY=0123abcd"), 1);
	assert_fail_line(out, "config     persister", "docs/configuration.md");
	assert_non_null(strstr(out, "PHONE_ENCRYPTION_KEY"));
	assert_null(strstr(out, "0123abcd"));
	free(out);
}

static void
test_persister_down(void **state)
{
	char *out;

	assert_int_equal(harness_stop(S.proc[OPS_PERSISTER], 15000), 0);
	assert_int_equal(doctor(&out, ""), 1);
	assert_fail_line(out, "daemons    persister", "start persister");
	assert_non_null(strstr(out, "ok    daemons    rate-limiter"));
	free(out);
	S.proc[OPS_PERSISTER]
	    = harness_spawn("persister", S.envv[OPS_PERSISTER]);
	assert_non_null(S.proc[OPS_PERSISTER]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_ok),
		cmocka_unit_test(test_bad_openai_key),
		cmocka_unit_test(test_unknown_models),
		cmocka_unit_test(test_realtime_refused),
		cmocka_unit_test(test_bad_anthropic_key),
		cmocka_unit_test(test_twilio),
		cmocka_unit_test(test_public_url),
		cmocka_unit_test(test_missing_secret),
		cmocka_unit_test(test_bad_database),
		cmocka_unit_test(test_signalwire),
		cmocka_unit_test(test_telnyx),
		cmocka_unit_test(test_bad_phone_key),
		cmocka_unit_test(test_persister_down),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
