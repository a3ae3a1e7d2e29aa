/*
 * fastjson_test - the media fast path never disagrees with jansson: for
 * each message it either declines (jansson decides) or returns exactly
 * the payload and timestamp jansson reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../../services/media-edge/edge.h"

static char scratch[EDGE_MAX_MSG];

/* What the jansson path of stream.c makes of a message. */
static int
slow(const char *s, char *payload, size_t cap, uint32_t *ts, bool *have)
{
	json_t     *root = json_loads(s, 0, NULL), *media, *t;
	const char *ev, *p;

	if (root == NULL)
		return (-1);
	ev = json_string_value(json_object_get(root, "event"));
	media = json_object_get(root, "media");
	p = json_string_value(json_object_get(media, "payload"));
	if (ev == NULL || strcmp(ev, "media") != 0 || p == NULL) {
		json_decref(root);
		return (-1);
	}
	snprintf(payload, cap, "%s", p);
	t = json_object_get(media, "timestamp");
	*have = false;
	if (json_is_integer(t) && json_integer_value(t) >= 0) {
		*ts = (uint32_t)json_integer_value(t);
		*have = true;
	} else if (json_is_string(t) && json_string_length(t) > 0) {
		char *end;

		*ts = (uint32_t)strtoul(json_string_value(t), &end, 10);
		*have = *end == '\0';
	}
	json_decref(root);
	return (0);
}

static const char *cases[] = {
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"timestamp\":"
	"\"5\"}}",
	"{\"media\":{\"timestamp\":\"5\",\"payload\":\"AAAA\"},\"event\":"
	"\"media\"}",
	" { \"event\" : \"media\" , \"media\" : { \"payload\" : \"AA/A\" } } ",
	"{\"event\":\"media\",\"media\":{\"payload\":\"A\\/"
	"AA\",\"timestamp\":7}}",
	"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"media\":{\"track\":"
	"\"inbound\",\"chunk\":\"2\",\"timestamp\":\"40\",\"payload\":"
	"\"AAAA\"},\"streamSid\":\"MZ1\"}",
	"{\"event\":\"media\",\"x\":[1,2,{\"y\":[true,false,null]}],\"media\":"
	"{\"payload\":\"AAAA\"}}",
	"{\"event\":\"mark\",\"media\":{\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"event\":\"stop\",\"media\":{\"payload\":"
	"\"AAAA\"}}",
	"{\"event\":\"stop\",\"event\":\"media\",\"media\":{\"payload\":"
	"\"AAAA\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"},\"media\":"
	"{\"payload\":\"BBBB\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"timestamp\":"
	"\"\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"timestamp\":-"
	"3}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"timestamp\":1."
	"5}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"timestamp\":"
	"\"x\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AA\\u0041A\"}}",
	"{\"ev\\u0065nt\":\"media\",\"media\":{\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"}}x",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"},}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"n\":01}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"n\":1.}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"n\":tru}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AA\\qA\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":12}}",
	"{\"event\":\"media\",\"media\":[]}",
	"{\"event\":\"media\"}",
	"[\"event\",\"media\"]",
	"{\"event\":\"media\",\"media\":{\"payload\":\"\\u00e9\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"t\":"
	"\"\xc3\xa9\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"t\":\"\xff\"}"
	"}",
	"",
	"{}",
};

static void
test_agree(void **state)
{
	struct fj_media m;
	char            want[256], got[256];
	uint32_t        ts = 0;
	bool            have = false;
	size_t          i;
	int             fast, s;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fast = fj_media(
		    cases[i], strlen(cases[i]), scratch, sizeof(scratch), &m);
		s = slow(cases[i], want, sizeof(want), &ts, &have);
		if (fast == -1)
			continue; /* jansson decides: same result */
		if (s == -1)
			fail_msg("fast path took case %zu, jansson refuses "
			         "it: %s",
			    i, cases[i]);
		snprintf(got, sizeof(got), "%.*s", (int)m.len, m.payload);
		if (strcmp(got, want) != 0 || m.have_ts != have
		    || (have && m.ts != ts))
			fail_msg("case %zu differs: %s", i, cases[i]);
	}
}
/*
 * Numbers at jansson's edges, in an ignored field, inside a nested array
 * and as the timestamp: the fast path declines exactly what jansson
 * refuses (1e999, integers past long long) and still takes what it
 * accepts (underflow, the extremes that fit).
 */
static void
test_number_edges(void **state)
{
	static const char *nums[] = { "1e999", "-1e999", "1E+400",
		"1.7976931348623159e308", "9223372036854775808",
		"-9223372036854775809", "123456789012345678901234567890",
		"1e-999", "-0", "0e0", "9223372036854775807",
		"-9223372036854775808", "1.7976931348623157e308", "4.9e-324",
		"1e2", "12", "0.5",
		"1000000000000000000000000000000000000000000000000000000000000"
		"000.5" };
	static const char *shapes[][2] = {
		{ "{\"event\":\"media\",\"n\":",
		    ",\"media\":{\"payload\":\"AAAA\"}}" },
		{ "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\","
		  "\"x\":[1,[",
		    "]]}}" },
		{ "{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\","
		  "\"timestamp\":",
		    "}}" },
	};
	struct fj_media m;
	char            doc[512], want[64];
	uint32_t        ts = 0;
	bool            have = false;
	size_t          i, k, took = 0;
	int             fast, s;

	(void)state;
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		for (k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
			snprintf(doc, sizeof(doc), "%s%s%s", shapes[k][0],
			    nums[i], shapes[k][1]);
			fast = fj_media(
			    doc, strlen(doc), scratch, sizeof(scratch), &m);
			s = slow(doc, want, sizeof(want), &ts, &have);
			if (fast == 0 && s == -1)
				fail_msg("fast path took what jansson "
				         "refuses: %s",
				    doc);
			if (fast == 0)
				took++;
			if (k == 0 && s == 0 && strlen(nums[i]) < 40)
				assert_int_equal(fast, 0); /* not declined */
		}
	}
	assert_true(took >= 20);
}

static void
test_takes_plain(void **state)
{
	struct fj_media m;

	(void)state;
	assert_int_equal(
	    fj_media(cases[0], strlen(cases[0]), scratch, sizeof(scratch), &m),
	    0);
	assert_int_equal(m.ts, 5);
	assert_int_equal(
	    fj_media(cases[1], strlen(cases[1]), scratch, sizeof(scratch), &m),
	    0);
	assert_int_equal(
	    fj_media(cases[3], strlen(cases[3]), scratch, sizeof(scratch), &m),
	    0);
	assert_int_equal(m.len, 4);
	assert_memory_equal(m.payload, "A/AA", 4);
	assert_int_equal(m.ts, 7);
	assert_int_equal(
	    fj_media(cases[4], strlen(cases[4]), scratch, sizeof(scratch), &m),
	    0);
	assert_int_equal(m.ts, 40);
	assert_int_equal(
	    fj_media(cases[9], strlen(cases[9]), scratch, sizeof(scratch), &m),
	    0);
	assert_memory_equal(m.payload, "BBBB", 4);
	assert_int_equal(
	    fj_media(cases[8], strlen(cases[8]), scratch, sizeof(scratch), &m),
	    0);
	assert_int_equal(
	    fj_media(cases[7], strlen(cases[7]), scratch, sizeof(scratch), &m),
	    -1);
}

/* Deep nesting and random truncations never read past the end. */
static void
test_fuzz_truncations(void **state)
{
	struct fj_media m;
	char            deep[4096], *cut;
	size_t          i, n, len;
	int             d;

	(void)state;
	n = 0;
	n += (size_t)snprintf(deep, sizeof(deep),
	    "{\"event\":\"media\","
	    "\"x\":");
	for (d = 0; d < 100; d++)
		deep[n++] = '[';
	for (d = 0; d < 100; d++)
		deep[n++] = ']';
	n += (size_t)snprintf(deep + n, sizeof(deep) - n,
	    ",\"media\":{"
	    "\"payload\":\"AAAA\"}}");
	assert_int_equal(fj_media(deep, n, scratch, sizeof(scratch), &m), -1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i]);
		for (n = 0; n < len; n++) {
			cut = malloc(n + 1);
			memcpy(cut, cases[i], n);
			(void)fj_media(cut, n, scratch, sizeof(scratch), &m);
			free(cut);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agree),
		cmocka_unit_test(test_number_edges),
		cmocka_unit_test(test_takes_plain),
		cmocka_unit_test(test_fuzz_truncations),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
