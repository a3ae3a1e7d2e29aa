/*
 * metrics_test - the Prometheus registry: counters, gauges, histograms,
 * label escaping, concurrent updates, registration checks, and the
 * rendered text accepted by `promtool check metrics` (which must also be
 * seen to reject a broken exposition, so the check can fail).
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "metrics.h"

#define NTHREADS 4
#define NINCS 100000

static const double bounds[] = { 0.1, 0.5, 1 };

/* Is line one whole line of text? */
static int
has_line(const char *text, const char *line)
{
	const char *p = text;
	size_t      n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return (1);
		p++;
	}
	return (0);
}

static char *
render(void)
{
	size_t len = 0;
	char  *s;

	s = metrics_render(&len);
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return (s);
}

/* Exit status of `promtool check metrics` fed text. */
static int
promtool(const char *text)
{
	char  path[] = "/tmp/metrics_test.XXXXXX", cmd[128];
	FILE *f;
	int   fd, st;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s >&2", path);
	st = system(cmd);
	unlink(path);
	assert_true(WIFEXITED(st));
	return (WEXITSTATUS(st));
}

static int
teardown(void **state)
{
	metrics_fini();
	return (0);
}

static void
test_counter_gauge(void **state)
{
	struct metric *c, *g;
	char          *s;

	c = metrics_counter1("t_requests_total", "Requests served.");
	g = metrics_gauge1("t_active_calls", "Calls in progress.");
	s = render();
	assert_true(has_line(s, "# HELP t_requests_total Requests served."));
	assert_true(has_line(s, "# TYPE t_requests_total counter"));
	assert_true(has_line(s, "t_requests_total 0"));
	free(s);

	metric_inc(c);
	metric_add(c, 2.5);
	metric_set(g, 7);
	metric_inc(g);
	metric_dec(g);
	metric_dec(g);
	metric_add(g, -0.25);
	assert_true(metric_value(c) == 3.5);
	assert_true(metric_value(g) == 5.75);
	s = render();
	assert_true(has_line(s, "t_requests_total 3.5"));
	assert_true(has_line(s, "# TYPE t_active_calls gauge"));
	assert_true(has_line(s, "t_active_calls 5.75"));
	free(s);
}

static void
test_misuse_ignored(void **state)
{
	struct metric *c, *h;

	c = metrics_counter1("t_errors_total", "Errors.");
	h = metrics_histogram1("t_wait_seconds", "Wait.", bounds, 3);
	metric_add(c, 4);
	metric_add(c, -1); /* counters never go down */
	metric_add(c, NAN);
	metric_set(c, 100);
	metric_dec(c);
	metric_inc(h);
	metric_observe(c, 1);
	assert_true(metric_value(c) == 4);
	assert_true(metric_value(h) == 0);
}

static void
test_labels_escaped(void **state)
{
	struct metric_family *fam;
	struct metric        *a, *b, *c;
	char                 *s;

	fam = metrics_counter(
	    "t_calls_total", "Calls by result\\reason.\n", "result,reason");
	a = metric_get(fam, "ok", "");
	b = metric_get(fam, "failed", "say \"hi\"\\now\nthen");
	c = metric_get(fam, "ok", (const char *)NULL); /* "" */
	assert_ptr_equal(a, c);
	assert_ptr_not_equal(a, b);
	assert_ptr_equal(
	    metric_get(fam, "failed", "say \"hi\"\\now\nthen"), b);
	metric_inc(a);
	metric_add(b, 2);
	s = render();
	assert_true(
	    has_line(s, "# HELP t_calls_total Calls by result\\\\reason.\\n"));
	assert_true(has_line(s, "t_calls_total{result=\"ok\",reason=\"\"} 1"));
	assert_true(has_line(s,
	    "t_calls_total{result=\"failed\","
	    "reason=\"say \\\"hi\\\"\\\\now\\nthen\"} 2"));
	assert_int_equal(promtool(s), 0);
	free(s);
}

static void
test_histogram_cumulative(void **state)
{
	struct metric_family *fam;
	struct metric        *m;
	char                 *s;

	fam = metrics_histogram(
	    "t_latency_seconds", "Latency.", "op", bounds, 3);
	m = metric_get(fam, "read");
	metric_observe(m, 0.05);
	metric_observe(m, 0.1); /* le is inclusive */
	metric_observe(m, 0.3);
	metric_observe(m, 2);
	metric_observe(m, 7);
	assert_true(metric_value(m) == 5);
	s = render();
	assert_true(has_line(s, "# TYPE t_latency_seconds histogram"));
	assert_true(has_line(s,
	    "t_latency_seconds_bucket{op=\"read\","
	    "le=\"0.1\"} 2"));
	assert_true(has_line(s,
	    "t_latency_seconds_bucket{op=\"read\","
	    "le=\"0.5\"} 3"));
	assert_true(has_line(s,
	    "t_latency_seconds_bucket{op=\"read\","
	    "le=\"1\"} 3"));
	assert_true(has_line(s,
	    "t_latency_seconds_bucket{op=\"read\","
	    "le=\"+Inf\"} 5"));
	assert_true(has_line(s, "t_latency_seconds_sum{op=\"read\"} 9.45"));
	assert_true(has_line(s, "t_latency_seconds_count{op=\"read\"} 5"));
	free(s);

	m = metrics_histogram1("t_size_bytes", "Sizes.", NULL, 0);
	metric_observe(m, 3);
	s = render();
	assert_true(has_line(s, "t_size_bytes_bucket{le=\"+Inf\"} 1"));
	assert_true(has_line(s, "t_size_bytes_sum 3"));
	assert_true(has_line(s, "t_size_bytes_count 1"));
	free(s);
}

static void
test_register_twice(void **state)
{
	struct metric_family *a, *b;

	a = metrics_counter("t_x_total", "X.", "k");
	b = metrics_counter("t_x_total", "Other help is fine.", "k");
	assert_ptr_equal(a, b);
	assert_ptr_equal(metric_get(a, "v"), metric_get(b, "v"));
	assert_ptr_equal(
	    metrics_histogram("t_h_seconds", "H.", NULL, bounds, 3),
	    metrics_histogram("t_h_seconds", "H.", NULL, bounds, 3));
}

/* Each must end the process through fatalx(). */
static void
bad_registration(int i)
{
	static const double down[] = { 1, 0.5 };

	switch (i) {
	case 0:
		metrics_counter("t_requests", "No _total.", NULL);
		break;
	case 1:
		metrics_gauge("t_queue_total", "Gauge with _total.", NULL);
		break;
	case 2:
		metrics_gauge("t_latency_ms", "Not a base unit.", NULL);
		break;
	case 3:
		metrics_gauge("tActiveCalls", "camelCase.", NULL);
		break;
	case 4:
		metrics_counter("t_a_total", "Reserved label.", "le");
		break;
	case 5:
		metrics_counter("t_b_total", "Same label twice.", "x,x");
		break;
	case 6:
		metrics_histogram(
		    "t_c_seconds", "Falling bounds.", NULL, down, 2);
		break;
	case 7:
		metrics_gauge("t_d_seconds", "D.", NULL);
		metrics_histogram(
		    "t_d_seconds", "Same name, other type.", NULL, NULL, 0);
		break;
	case 8:
		metrics_counter("t_e_total", "E.", "x");
		metrics_counter("t_e_total", "Same name, other labels.", "y");
		break;
	case 9:
		metrics_gauge("t_f", "", NULL);
		break;
	case 10:
		metrics_gauge("process_open_fds", "Built in.", NULL);
		break;
	}
}

static void
test_bad_names_fatal(void **state)
{
	pid_t pid;
	int   i, st;

	for (i = 0; i <= 10; i++) {
		if ((pid = fork()) == 0) {
			log_set_level("fatal");
			bad_registration(i);
			_exit(0);
		}
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		if (WEXITSTATUS(st) != 1)
			fail_msg("bad registration %d was accepted", i);
	}
}

struct worker {
	struct metric *counter;
	struct metric *gauge;
	struct metric *hist;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int            i;

	for (i = 0; i < NINCS; i++) {
		metric_inc(w->counter);
		metric_add(w->gauge, i % 2 == 0 ? 1 : -0.5);
		metric_observe(w->hist, (double)(i % 4) * 0.25);
	}
	return (NULL);
}

static void
test_concurrent(void **state)
{
	struct metric_family *fam;
	pthread_t             t[NTHREADS];
	struct worker         w;
	char                 *s, line[128];
	int                   i;

	fam = metrics_counter("t_frames_total", "Frames.", "dir");
	w.counter = metric_get(fam, "in");
	w.gauge = metrics_gauge1("t_level", "Level.");
	w.hist = metrics_histogram1("t_gap_seconds", "Gaps.", bounds, 3);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, worker_main, &w), 0);
	for (i = 0; i < 20; i++) /* render while they write */
		free(render());
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_true(metric_value(w.counter) == (double)NTHREADS * NINCS);
	assert_true(metric_value(w.gauge) == (double)NTHREADS * NINCS / 4);
	assert_true(metric_value(w.hist) == (double)NTHREADS * NINCS);
	s = render();
	snprintf(line, sizeof(line), "t_frames_total{dir=\"in\"} %d",
	    NTHREADS * NINCS);
	assert_true(has_line(s, line));
	/* Values 0, .25, .5, .75: a quarter each. */
	snprintf(line, sizeof(line), "t_gap_seconds_bucket{le=\"0.1\"} %d",
	    NTHREADS * NINCS / 4);
	assert_true(has_line(s, line));
	snprintf(line, sizeof(line), "t_gap_seconds_bucket{le=\"0.5\"} %d",
	    NTHREADS * NINCS * 3 / 4);
	assert_true(has_line(s, line));
	free(s);
}

static void
test_series_cap(void **state)
{
	struct metric_family *fam;
	struct metric        *over;
	char                  v[16], *s, *p;
	int                   i, n = 0;

	fam = metrics_counter("t_peers_total", "Peers.", "peer");
	for (i = 0; i < METRICS_MAX_SERIES; i++) {
		snprintf(v, sizeof(v), "p%d", i);
		metric_inc(metric_get(fam, v));
	}
	over = metric_get(fam, "one-too-many");
	assert_non_null(over);
	assert_ptr_equal(metric_get(fam, "another"), over);
	metric_inc(over);
	s = render();
	for (p = s; (p = strstr(p, "\nt_peers_total{")) != NULL; p++)
		n++;
	assert_int_equal(n, METRICS_MAX_SERIES);
	assert_null(strstr(s, "one-too-many"));
	free(s);
}

static void
test_promtool(void **state)
{
	struct metric_family *fam;
	char                 *s;

	metrics_init("media-edge", "1.2.3 \"dev\"");
	fam = metrics_counter(
	    "edge_ws_messages_total", "WS messages.", "dir,type");
	metric_inc(metric_get(fam, "in", "media"));
	metric_add(metrics_counter1("edge_bytes_total", "Bytes."), 1e21);
	metric_set(metrics_gauge1("edge_ratio", "A ratio."), 1.0 / 3);
	metric_set(metrics_gauge1("edge_nothing", "NaN allowed."), NAN);
	metric_observe(
	    metrics_histogram1("edge_rtt_seconds", "RTT.", bounds, 3), 0.2);
	metrics_histogram(
	    "edge_unused_seconds", "No series yet.", "peer", bounds, 3);
	s = render();
	assert_true(has_line(
	    s, "media_edge_build_info{version=\"1.2.3 \\\"dev\\\"\"} 1"));
	assert_true(has_line(s, "# TYPE process_cpu_seconds_total counter"));
	assert_non_null(strstr(s, "\nprocess_start_time_seconds 1"));
	assert_non_null(strstr(s, "\nprocess_resident_memory_bytes "));
	assert_non_null(strstr(s, "\nprocess_open_fds "));
	assert_true(has_line(s, "edge_bytes_total 1e+21"));
	assert_int_equal(promtool(s), 0);
	free(s);

	/* The check must be able to fail: a syntax error, then a lint. */
	assert_int_not_equal(promtool("# TYPE x_total counter\n"
	                              "x_total{a=\"1\" 1\n"),
	    0);
	assert_int_not_equal(promtool("# HELP x X.\n# TYPE x counter\n"
	                              "x 1\n"),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_counter_gauge, teardown),
		cmocka_unit_test_teardown(test_misuse_ignored, teardown),
		cmocka_unit_test_teardown(test_labels_escaped, teardown),
		cmocka_unit_test_teardown(test_histogram_cumulative, teardown),
		cmocka_unit_test_teardown(test_register_twice, teardown),
		cmocka_unit_test_teardown(test_bad_names_fatal, teardown),
		cmocka_unit_test_teardown(test_concurrent, teardown),
		cmocka_unit_test_teardown(test_series_cap, teardown),
		cmocka_unit_test_teardown(test_promtool, teardown),
	};

	log_init("metrics_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
