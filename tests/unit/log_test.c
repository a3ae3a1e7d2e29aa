/*
 * log_test - the logger against hostile input: ids and messages far
 * longer than a line, every control character, bytes that are not UTF-8,
 * and every length around the line limit.  Each line must stay within
 * LOG_LINE_MAX, be one line and parse as a JSON object (jansson rejects
 * invalid UTF-8), and say "truncated" exactly when something was cut.
 * Lines are caught by pointing stderr at a temporary file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

static FILE *cap;
static int   saved_err = -1;

static int
setup(void **state)
{
	(void)state;
	log_init("log-test");
	log_level = LOG_LVL_DEBUG;
	if ((cap = tmpfile()) == NULL)
		return (-1);
	saved_err = dup(STDERR_FILENO);
	return (dup2(fileno(cap), STDERR_FILENO) == -1 ? -1 : 0);
}

static int
teardown(void **state)
{
	(void)state;
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	fclose(cap);
	return (0);
}

/* Emit one line with ctx and return it parsed; *lenp gets its length. */
static json_t *
emit(const struct log_ctx *ctx, size_t *lenp, const char *fmt, ...)
{
	static char  line[LOG_LINE_MAX * 2];
	json_error_t jerr;
	json_t      *j;
	va_list      ap;
	size_t       n;
	long         end;

	assert_int_equal(ftruncate(fileno(cap), 0), 0);
	assert_int_equal(lseek(fileno(cap), 0, SEEK_SET), 0);
	va_start(ap, fmt);
	log_vemit(LOG_LVL_WARN, ctx, 0, fmt, ap);
	va_end(ap);
	end = lseek(fileno(cap), 0, SEEK_END);
	assert_true(end > 0 && end <= LOG_LINE_MAX);
	assert_int_equal(pread(fileno(cap), line, (size_t)end, 0), end);
	n = (size_t)end;
	assert_int_equal(line[n - 1], '\n');
	assert_null(memchr(line, '\n', n - 1)); /* exactly one line */
	assert_null(memchr(line, '\0', n));
	j = json_loadb(line, n, 0, &jerr);
	if (j == NULL)
		fail_msg("not JSON (%s): %.200s", jerr.text, line);
	assert_true(json_is_object(j));
	if (lenp != NULL)
		*lenp = n;
	return (j);
}

static const char *
str(json_t *j, const char *key)
{
	return (json_string_value(json_object_get(j, key)));
}

static bool
truncated(json_t *j)
{
	return (json_is_true(json_object_get(j, "truncated")));
}

static char *
repeat(const char *unit, size_t times)
{
	size_t u = strlen(unit), i;
	char  *s = malloc(u * times + 1);

	assert_non_null(s);
	for (i = 0; i < times; i++)
		memcpy(s + i * u, unit, u);
	s[u * times] = '\0';
	return (s);
}

static void
test_short_line_untouched(void **state)
{
	struct log_ctx lc = { "CA0123456789abcdef", "0af7651916cd43dd" };
	json_t        *j;

	(void)state;
	j = emit(&lc, NULL, "hello %d", 42);
	assert_string_equal(str(j, "level"), "warn");
	assert_string_equal(str(j, "svc"), "log-test");
	assert_string_equal(str(j, "call_sid"), lc.call_sid);
	assert_string_equal(str(j, "trace_id"), lc.trace_id);
	assert_string_equal(str(j, "msg"), "hello 42");
	assert_null(json_object_get(j, "truncated"));
	json_decref(j);
}

/* The reported crash: a call sid of 4 KB and 64 KB (and a trace id). */
static void
test_huge_ids(void **state)
{
	static const size_t sizes[] = { 4000, 4094, 4096, 65536 };
	size_t              i, n;
	json_t             *j;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char          *big = repeat("A", sizes[i]);
		struct log_ctx lc = { big, big };

		j = emit(&lc, &n, "request");
		assert_true(truncated(j));
		assert_int_equal(strlen(str(j, "call_sid")), LOG_FIELD_MAX);
		assert_memory_equal(str(j, "call_sid"), big, LOG_FIELD_MAX);
		assert_int_equal(strlen(str(j, "trace_id")), LOG_FIELD_MAX);
		assert_string_equal(str(j, "msg"), "request");
		json_decref(j);
		free(big);
	}
}

/* A message longer than the line: cut, marked, still JSON. */
static void
test_huge_message(void **state)
{
	char *big = repeat("\"\\\x01", 3000); /* escapes to 10 bytes */
	struct log_ctx lc = { "CA1", NULL };
	size_t         n;
	json_t        *j;

	(void)state;
	j = emit(&lc, &n, "%s", big);
	assert_true(truncated(j));
	assert_true(n > LOG_LINE_MAX - 64); /* cut late, not early */
	assert_string_equal(str(j, "call_sid"), "CA1");
	assert_memory_equal(str(j, "msg"), "\"\\\x01\"\\\x01", 6);
	json_decref(j);
	free(big);
}

/* Every control character and DEL round-trips through the escaping. */
static void
test_control_chars(void **state)
{
	char           in[40];
	struct log_ctx lc = { in, NULL };
	json_t        *j;
	int            c, k = 0;

	(void)state;
	for (c = 1; c < 0x20; c++)
		in[k++] = (char)c;
	in[k++] = 0x7f;
	in[k++] = '"';
	in[k++] = '\\';
	in[k] = '\0';
	j = emit(&lc, NULL, "%s", in);
	assert_string_equal(str(j, "call_sid"), in);
	assert_string_equal(str(j, "msg"), in);
	assert_null(json_object_get(j, "truncated"));
	json_decref(j);
}

/* Bytes that are not UTF-8 become U+FFFD; valid sequences stay. */
static void
test_invalid_utf8(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "a\x80z", "a\xef\xbf\xbdz" }, /* stray continuation */
		{ "a\xffz", "a\xef\xbf\xbdz" },
		{ "\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd" }, /* overlong NUL */
		{ "\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80",
		    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "x\xe2\x82", "x\xef\xbf\xbd\xef\xbf\xbd" }, /* cut short */
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\x9e",
		    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\x9e" }, /* valid */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct log_ctx lc = { cases[i].in, cases[i].in };
		json_t        *j = emit(&lc, NULL, "%s", cases[i].in);

		assert_string_equal(str(j, "call_sid"), cases[i].out);
		assert_string_equal(str(j, "trace_id"), cases[i].out);
		assert_string_equal(str(j, "msg"), cases[i].out);
		json_decref(j);
	}
}

/* Multi-byte characters and escapes are never cut in half. */
static void
test_cut_between_sequences(void **state)
{
	static const char *units[] = { "\xc3\xa9", "\xe2\x82\xac",
		"\xf0\x9f\x93\x9e", "\x01", "\"", "\x80" };
	size_t             i, shift;

	(void)state;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		char          *big = repeat(units[i], 3000);
		struct log_ctx lc = { NULL, NULL };

		for (shift = 0; shift < 8; shift++) { /* move the cut */
			char    pad[16];
			json_t *j;

			memset(pad, 'p', shift);
			pad[shift] = '\0';
			lc.call_sid = big;
			j = emit(&lc, NULL, "%s%s", pad, big);
			assert_true(truncated(j));
			assert_non_null(str(j, "msg"));
			json_decref(j);
		}
		free(big);
	}
}

/* Every length of a hostile sid and message across the limits. */
static void
test_every_length(void **state)
{
	static const char *units[] = { "A", "\"", "\x1f", "\xe2\x82\xac" };
	size_t             u, len, n;

	(void)state;
	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		char  *big = repeat(units[u], 4200);
		size_t ul = strlen(units[u]);

		for (len = 0; len <= 4200; len += len < 200 ? 1 : 7) {
			struct log_ctx lc = { big + (4200 - len) * ul, NULL };
			json_t        *j;

			j = emit(&lc, &n, "%s", big + (4200 - len) * ul);
			assert_true(n <= LOG_LINE_MAX);
			json_decref(j);
		}
		free(big);
	}
}

/* log_json_escape never writes past len, always terminates, and cuts
 * only whole escapes. */
static void
test_escape_bounds(void **state)
{
	static const char *in = "a\"\x01\xc3\xa9\x80\\\n\xf0\x9f\x93\x9ez";
	char               buf[128];
	size_t             len, n;
	json_error_t       jerr;

	(void)state;
	assert_int_equal(log_json_escape(buf, 0, in), 0);
	for (len = 1; len < 64; len++) {
		char    doc[160];
		json_t *j;

		memset(buf, '#', sizeof(buf));
		n = log_json_escape(buf, len, in);
		assert_true(n < len);
		assert_int_equal(buf[n], '\0');
		assert_int_equal(buf[len], '#'); /* nothing past len */
		snprintf(doc, sizeof(doc), "[\"%s\"]", buf);
		j = json_loads(doc, 0, &jerr);
		if (j == NULL)
			fail_msg("len %zu: %s: %s", len, jerr.text, doc);
		json_decref(j);
	}
	assert_int_equal(log_json_escape(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "");
}

/* An errno and an out-of-range level are still bounded JSON lines. */
static void
test_err_and_level(void **state)
{
	static char    all[LOG_LINE_MAX * 3];
	char          *big = repeat("B", 10000), *line, *nl;
	struct log_ctx lc = { big, big };
	json_t        *j[2];
	long           end;
	int            k = 0;

	(void)state;
	assert_int_equal(ftruncate(fileno(cap), 0), 0);
	assert_int_equal(lseek(fileno(cap), 0, SEEK_SET), 0);
	log_emit(LOG_LVL_WARN, &lc, 2, "%s", big);
	log_emit(99, &lc, 0, "odd level");
	end = lseek(fileno(cap), 0, SEEK_END);
	assert_true(end > 0 && (size_t)end < sizeof(all));
	assert_int_equal(pread(fileno(cap), all, (size_t)end, 0), end);
	all[end] = '\0';
	for (line = all; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		assert_true(k < 2);
		assert_true(nl - line + 1 <= LOG_LINE_MAX);
		j[k] = json_loadb(line, (size_t)(nl - line), 0, NULL);
		assert_non_null(j[k]);
		k++;
	}
	assert_int_equal(k, 2);
	assert_true(truncated(j[0]));
	assert_string_equal(str(j[0], "err"), "No such file or directory");
	assert_string_equal(str(j[1], "level"), "error");
	assert_string_equal(str(j[1], "msg"), "odd level");
	json_decref(j[0]);
	json_decref(j[1]);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_line_untouched),
		cmocka_unit_test(test_huge_ids),
		cmocka_unit_test(test_huge_message),
		cmocka_unit_test(test_control_chars),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_cut_between_sequences),
		cmocka_unit_test(test_every_length),
		cmocka_unit_test(test_escape_bounds),
		cmocka_unit_test(test_err_and_level),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
