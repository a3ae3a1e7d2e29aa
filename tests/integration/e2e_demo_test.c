/*
 * e2e_demo_test - `make demo`, the README's first command, keeps working:
 * scripts/demo.sh runs with the binaries under test (BUILD derived from
 * BIN_DIR) and its own throwaway cluster in the scratch directory, and
 * must finish by itself within 60 s, exit 0, say that it is a
 * simulation, show the live transcript and the stored record (outcome,
 * duration, lead status), and leave no cluster directory behind.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include "e2e_fixture.h"

static void
test_demo(void **state)
{
	const char *bin = getenv("BIN_DIR");
	char        build[PATH_MAX], pgdir[PATH_MAX], cmd[3 * PATH_MAX];
	char       *out = NULL, *line = NULL, *p;
	size_t      len = 0, cap = 0, n;
	struct stat st;
	long long   t0 = harness_now_ms();
	FILE       *f;
	int         rc;

	(void)state;
	snprintf(
	    build, sizeof(build), "%s", bin != NULL ? bin : "build/debug/bin");
	n = strlen(build);
	assert_true(n > 4 && strcmp(build + n - 4, "/bin") == 0);
	build[n - 4] = '\0';
	snprintf(pgdir, sizeof(pgdir), "%s/demo-pg", harness_tmpdir());
	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && BUILD='%s' DEMO_PG_DIR='%s' timeout -k 5 60 "
	    "scripts/demo.sh 2>&1",
	    e2e_top(), build, pgdir);
	assert_non_null(f = popen(cmd, "r"));
	while (getline(&line, &cap, f) > 0) {
		print_message("%s", line);
		n = strlen(line);
		assert_non_null(p = realloc(out, len + n + 1));
		out = p;
		memcpy(out + len, line, n + 1);
		len += n;
	}
	free(line);
	rc = pclose(f);
	print_message("demo: exit %d after %.1f s\n",
	    WIFEXITED(rc) ? WEXITSTATUS(rc) : -1,
	    (harness_now_ms() - t0) / 1000.0);
	assert_true(WIFEXITED(rc));
	assert_int_equal(WEXITSTATUS(rc), 0);
	assert_non_null(out);
	assert_non_null(strstr(out, "SIMULATION: no real phone call is made"));
	/* the live transcript, then the stored record */
	assert_non_null(strstr(out, "| User: Hello?"));
	assert_non_null(strstr(out, "| AI: Hi Dana, this is Sam"));
	assert_non_null(strstr(out, "outcome          | goal_achieved"));
	assert_non_null(strstr(out, "duration_seconds | 1"));
	assert_non_null(strstr(out, "lead_status      | won"));
	assert_non_null(strstr(out, "\"summary\":"));
	assert_non_null(strstr(out, "demo: the simulated call completed"));
	/* it stopped what it started and removed its cluster */
	assert_int_equal(stat(pgdir, &st), -1);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
