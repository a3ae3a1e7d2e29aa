/*
 * ops_metrics_test - every daemon's /metrics, as Prometheus will read it.
 *
 * The whole stack (ops_stack.h) carries one simulated call, one rate
 * check and one persister write, so labelled series exist; then each
 * daemon's /metrics must pass `promtool check metrics` (Debian's
 * prometheus package), carry the families operators and dashboards rely
 * on (build info, process, NNG peers, and each daemon's own: active
 * calls, setup time, frames in/out/dropped, model latency, reasoner
 * requests, rate-limit decisions, persister writes and journal depth),
 * and never a call sid or a phone number in a label.  The metrics the
 * Kubernetes autoscalers use (k8s/base HPAs) must be gauges of the
 * daemon they scale and must count the call in progress: 1 during the
 * call, 0 after it.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "ops_stack.h"

static struct ops_stack S;

/* The families each daemon must export (with "# TYPE name type"). */
static const char *const common_families[] = { "process_start_time_seconds",
	"process_cpu_seconds_total", "process_resident_memory_bytes",
	"process_open_fds", "bus_peers_connected", NULL };

static const char *const own_families[OPS_N][8] = {
	[OPS_EDGE] = { "edge_active_calls gauge",
	    "edge_call_setup_seconds "
	    "histogram",
	    "edge_audio_frames_total counter",
	    "edge_audio_frames_dropped_total counter",
	    "edge_bad_input_total counter", NULL },
	[OPS_AI] = { "ai_calls_active gauge",
	    "ai_model_latency_seconds "
	    "histogram",
	    "ai_frames_total counter", "ai_frames_dropped_total counter",
	    "ai_session_setup_seconds histogram", NULL },
	[OPS_REASONER] = { "reasoner_requests_total counter",
	    "reasoner_upstream_latency_seconds histogram",
	    "reasoner_inflight gauge", NULL },
	[OPS_RL] = { "rate_limit_decisions_total counter", NULL },
	[OPS_PERSISTER] = { "persister_writes_total counter",
	    "persister_journal_records gauge", "persister_journal_bytes gauge",
	    NULL },
};

/* GET /metrics of daemon i; the body (malloc'd). */
static char *
scrape(int i)
{
	char url[96], *body = NULL;
	long status = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", S.http[i]);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, &body), 0);
	assert_int_equal(status, 200);
	return (body);
}

/* The value of an unlabelled series, or -1 when absent. */
static double
value(const char *body, const char *name)
{
	const char *p;
	size_t      n = strlen(name);

	for (p = body; (p = strstr(p, name)) != NULL; p += n)
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return (strtod(p + n + 1, NULL));
	return (-1);
}

static int
wait_value(int i, const char *name, double want, int ms)
{
	long long end = harness_now_ms() + ms;
	double    v;
	char     *b;

	for (;;) {
		b = scrape(i);
		v = value(b, name);
		free(b);
		if (v == want)
			return (0);
		if (harness_now_ms() >= end) {
			fprintf(
			    stderr, "%s stayed %g, want %g\n", name, v, want);
			return (-1);
		}
		usleep(100000);
	}
}

static int
setup(void **state)
{
	const char *top = getenv("TOP_DIR");

	if (top != NULL && chdir(top) != 0)
		return (-1);
	if (ops_stack_start(&S) != 0) {
		ops_stack_stop(&S);
		return (-1);
	}
	/* One rate check and one persister write, so their labelled
	 * counters have series. */
	if (ops_sh(NULL,
	        "env %s %s/callctl req rate-limiter rate_check "
	        "'{\"phone\":\"+14155550142\",\"client_ip\":"
	        "\"198.51.100.9\",\"kind\":\"OUTBOUND\"}' >/dev/null 2>&1",
	        S.env, ops_bin())
	        != 0
	    || ops_sh(NULL,
	           "env %s %s/callctl req --call CAopsmetrics1 --key "
	           "ops-m-1 persister call_open '{\"direction\":"
	           "\"OUTBOUND\",\"to_phone\":\"+14155550142\"}' >/dev/null "
	           "2>&1",
	           S.env, ops_bin())
	        != 0) {
		fprintf(stderr, "setup requests failed\n");
		return (-1);
	}
	return (0);
}

static int
teardown(void **state)
{
	return (ops_stack_stop(&S) == 0 ? 0 : -1);
}

/* The HPA metrics count the call in progress, and only while it lasts. */
static void
test_autoscaling_metrics_count_calls(void **state)
{
	const char *t = harness_tmpdir();
	char        path[512], *out, *line, *save = NULL;
	char        name[64], metric[128];
	int         n = 0, i;

	/* Which metric scales which daemon, from the manifests. */
	snprintf(path, sizeof(path), "%s/k8s-base.yaml", t);
	assert_int_equal(
	    ops_sh(NULL, "kubectl kustomize k8s/base > %s", path), 0);
	assert_int_equal(
	    ops_sh(&out,
	        "%s tests/integration/ops_deploy_check.py "
	        "hpa-metrics %s",
	        access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
	                                              : "python3",
	        path),
	    0);

	assert_int_equal(ops_sh(NULL,
	                     "%s/sim-caller --url ws://127.0.0.1:%d/media "
	                     "--calls 1 --duration-ms 4000 "
	                     "--token-secret " OPS_STREAM_SECRET
	                     " --report %s/m-report.json "
	                     ">/dev/null 2>%s/m-caller.log &",
	                     ops_bin(), S.http[OPS_EDGE], t, t),
	    0);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		assert_int_equal(sscanf(line, "%63s %127s", name, metric), 2);
		for (i = 0; i < OPS_N; i++)
			if (strcmp(ops_daemons[i], name) == 0)
				break;
		assert_true(i < OPS_N);
		printf("HPA %s scales on %s\n", name, metric);
		assert_int_equal(wait_value(i, metric, 1, 5000), 0);
		n++;
	}
	assert_int_equal(n, 2); /* media-edge and ai-session */
	free(out);
	assert_int_equal(
	    wait_value(OPS_EDGE, "edge_active_calls", 0, 15000), 0);
	assert_int_equal(wait_value(OPS_AI, "ai_calls_active", 0, 15000), 0);
}

static void
check_daemon(int i)
{
	char        path[512], want[160], bi[96], *body, *out, *p;
	const char *t = harness_tmpdir();
	regex_t     re;
	FILE       *f;
	int         k;

	body = scrape(i);
	snprintf(path, sizeof(path), "%s/%s.metrics", t, ops_daemons[i]);
	assert_non_null(f = fopen(path, "w"));
	fputs(body, f);
	fclose(f);

	/* promtool's own lint: naming, units, HELP, TYPE, duplicates. */
	if (ops_sh(&out, "promtool check metrics < %s 2>&1", path) != 0)
		fprintf(stderr, "%s: promtool:\n%s\n", ops_daemons[i], out);
	assert_string_equal(out, "");
	free(out);

	snprintf(bi, sizeof(bi), "%s_build_info{", ops_daemons[i]);
	for (p = bi; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	assert_non_null(strstr(body, bi));
	assert_non_null(strstr(body, "version=\"" /* cfg_version */));
	for (k = 0; common_families[k] != NULL; k++) {
		snprintf(
		    want, sizeof(want), "\n# TYPE %s ", common_families[k]);
		if (strstr(body, want) == NULL)
			fprintf(
			    stderr, "%s: no %s\n", ops_daemons[i], want + 1);
		assert_non_null(strstr(body, want));
	}
	for (k = 0; own_families[i][k] != NULL; k++) {
		snprintf(
		    want, sizeof(want), "\n# TYPE %s\n", own_families[i][k]);
		if (strstr(body, want) == NULL)
			fprintf(stderr, "%s: no %s", ops_daemons[i], want + 1);
		assert_non_null(strstr(body, want));
	}

	/* No call sid or phone number as a label, name or value. */
	assert_int_equal(regcomp(&re,
	                     "(call_sid|callsid|phone|stream_sid)=\"|"
	                     "=\"CA[0-9a-fA-F]{8,}|\\+1415555|4155550142",
	                     REG_EXTENDED | REG_ICASE),
	    0);
	if (regexec(&re, body, 0, NULL, 0) == 0)
		fprintf(stderr, "%s: a call id or phone in:\n%s\n",
		    ops_daemons[i], body);
	assert_int_not_equal(regexec(&re, body, 0, NULL, 0), 0);
	regfree(&re);
	free(body);
}

static void
test_media_edge(void **state)
{
	check_daemon(OPS_EDGE);
}

static void
test_ai_session(void **state)
{
	check_daemon(OPS_AI);
}

static void
test_reasoner(void **state)
{
	check_daemon(OPS_REASONER);
}

static void
test_rate_limiter(void **state)
{
	check_daemon(OPS_RL);
}

static void
test_persister(void **state)
{
	check_daemon(OPS_PERSISTER);
}

/* promtool is not a rubber stamp: it rejects a counter without _total. */
static void
test_promtool_rejects(void **state)
{
	char *out;

	assert_int_not_equal(ops_sh(&out,
	                         "printf '# HELP x_bytes a\\n# TYPE "
	                         "x_bytes counter\\nx_bytes 1\\n' | "
	                         "promtool check metrics 2>&1"),
	    0);
	assert_non_null(strstr(out, "_total"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_promtool_rejects),
		cmocka_unit_test(test_autoscaling_metrics_count_calls),
		cmocka_unit_test(test_media_edge),
		cmocka_unit_test(test_ai_session),
		cmocka_unit_test(test_reasoner),
		cmocka_unit_test(test_rate_limiter),
		cmocka_unit_test(test_persister),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
