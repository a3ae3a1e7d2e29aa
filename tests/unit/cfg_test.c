/*
 * cfg_test - the environment table: defaults, required values, types,
 * NAME_FILE secrets, every problem reported at once, redaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"

struct tcfg {
	char *url;
	char *secret;
	long  workers;
	int   verbose;
};

static const struct cfg_opt topts[]
    = { { "T_URL", CFG_STR, CFG_OFF(struct tcfg, url), "tcp://127.0.0.1:1",
	    "where to listen" },
	      { "T_SECRET", CFG_STR | CFG_SECRET, CFG_OFF(struct tcfg, secret),
	          NULL, "a secret" },
	      { "T_WORKERS", CFG_INT, CFG_OFF(struct tcfg, workers), "4",
	          "threads" },
	      { "T_VERBOSE", CFG_BOOL, CFG_OFF(struct tcfg, verbose), "false",
	          "say more" },
	      { NULL } };

static int
reset(void **state)
{
	(void)state;
	unsetenv("T_URL");
	unsetenv("T_SECRET");
	unsetenv("T_SECRET_FILE");
	unsetenv("T_WORKERS");
	unsetenv("T_VERBOSE");
	return (0);
}

static void
test_defaults_and_env(void **state)
{
	struct tcfg c = { 0 };

	(void)state;
	setenv("T_SECRET", "s3cret", 1);
	setenv("T_WORKERS", "12", 1);
	setenv("T_VERBOSE", "yes", 1);
	assert_int_equal(cfg_load(topts, &c), 0);
	assert_string_equal(c.url, "tcp://127.0.0.1:1");
	assert_string_equal(c.secret, "s3cret");
	assert_int_equal(c.workers, 12);
	assert_int_equal(c.verbose, 1);
	cfg_free(topts, &c);
	assert_null(c.url);
}

static void
test_secret_from_file(void **state)
{
	struct tcfg c = { 0 };
	char        path[] = "/tmp/cfgtestXXXXXX";
	int         fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, "from-file\n", 10), 10);
	close(fd);
	setenv("T_SECRET_FILE", path, 1);
	assert_int_equal(cfg_load(topts, &c), 0);
	assert_string_equal(c.secret, "from-file"); /* newline stripped */
	cfg_free(topts, &c);
	/* Both forms at once is ambiguous: refused. */
	setenv("T_SECRET", "env", 1);
	assert_int_equal(cfg_load(topts, &c), -1);
	cfg_free(topts, &c);
	unsetenv("T_SECRET");
	/* A missing file is an error, not an empty secret. */
	unlink(path);
	assert_int_equal(cfg_load(topts, &c), -1);
	cfg_free(topts, &c);
}

static void
test_errors_all_reported(void **state)
{
	struct tcfg c = { 0 };
	char        buf[4096] = "";
	FILE       *f;
	int         saved, fd;

	(void)state;
	setenv("T_WORKERS", "12x", 1);
	setenv("T_VERBOSE", "maybe", 1);
	/* stderr gets one line per problem: required secret, int, bool. */
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open("/tmp/cfgtest.err", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	assert_int_equal(cfg_load(topts, &c), -1);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fopen("/tmp/cfgtest.err", "r");
	assert_non_null(f);
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	unlink("/tmp/cfgtest.err");
	assert_non_null(strstr(buf, "T_SECRET is required"));
	assert_non_null(strstr(buf, "T_WORKERS: not a whole number"));
	assert_non_null(strstr(buf, "T_VERBOSE: use true or false"));
	cfg_free(topts, &c);
}

static void
test_dump_redacts(void **state)
{
	struct tcfg c = { 0 };
	char       *buf = NULL;
	size_t      len = 0;
	FILE       *f;

	(void)state;
	setenv("T_SECRET", "hunter2", 1);
	assert_int_equal(cfg_load(topts, &c), 0);
	f = open_memstream(&buf, &len);
	cfg_dump(topts, &c, f);
	cfg_help("t", "a test", topts, f);
	fclose(f);
	assert_null(strstr(buf, "hunter2"));
	assert_non_null(strstr(buf, "T_SECRET=***"));
	assert_non_null(strstr(buf, "T_URL=tcp://127.0.0.1:1"));
	assert_non_null(strstr(buf, "configuration OK"));
	assert_non_null(strstr(buf, "T_SECRET_FILE"));
	assert_non_null(strstr(buf, "default: 4"));
	free(buf);
	cfg_free(topts, &c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults_and_env, reset),
		cmocka_unit_test_setup(test_secret_from_file, reset),
		cmocka_unit_test_setup(test_errors_all_reported, reset),
		cmocka_unit_test_setup(test_dump_redacts, reset),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
