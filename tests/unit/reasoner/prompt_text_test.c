/*
 * prompt_text_test - prompt_text_of joins the text blocks of a model
 * reply with single spaces, skips every other kind of block, and handles
 * a reply of 150,000 blocks exactly (it was quadratic in the
 * number of blocks; the output is checked byte for byte, not timed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../../services/reasoner/reasoner.h"

static char *
text_of(const char *reply)
{
	json_t *msg = json_loads(reply, 0, NULL);
	char   *t;

	assert_non_null(msg);
	t = prompt_text_of(msg);
	json_decref(msg);
	assert_non_null(t);
	return (t);
}

static void
test_joins_text_blocks(void **state)
{
	static const struct {
		const char *reply, *want;
	} cases[] = {
		{ "{\"content\":[{\"type\":\"text\",\"text\":\"Hello\"},"
		  "{\"type\":\"tool_use\",\"text\":\"no\"},"
		  "{\"type\":\"text\",\"text\":\"there.\"}]}",
		    "Hello there." },
		{ "{\"content\":[{\"type\":\"text\",\"text\":\"\"},"
		  "{\"type\":\"text\",\"text\":\"a\"},"
		  "{\"type\":\"text\",\"text\":\"\"},"
		  "{\"type\":\"text\",\"text\":\"b\"}]}",
		    "a  b" },
		{ "{\"content\":[{\"type\":\"text\"},{\"text\":\"x\"},"
		  "{\"type\":\"text\",\"text\":7},\"str\",null,[],"
		  "{\"type\":\"text\",\"text\":\"ok\"}]}",
		    "ok" },
		{ "{\"content\":\"not an array\"}", "" },
		{ "{\"content\":[]}", "" },
		{ "{}", "" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = text_of(cases[i].reply);

		assert_string_equal(t, cases[i].want);
		free(t);
	}
}

/* n text blocks "bNNNNN" interleaved with n tool_use blocks. */
static void
check_many(size_t n)
{
	json_t *msg = json_object(), *content = json_array(), *blk;
	char    word[16], *t, *p;
	size_t  i;

	for (i = 0; i < n; i++) {
		snprintf(word, sizeof(word), "b%06zu", i % 1000000);
		blk = json_pack("{s:s,s:s}", "type", "text", "text", word);
		json_array_append_new(content, blk);
		blk = json_pack("{s:s,s:s}", "type", "tool_use", "name", "x");
		json_array_append_new(content, blk);
	}
	json_object_set_new(msg, "content", content);
	t = prompt_text_of(msg);
	json_decref(msg);
	assert_int_equal(strlen(t), n * 8 - 1);
	for (i = 0, p = t; i < n; i++, p += 8) {
		snprintf(word, sizeof(word), "b%06zu", i % 1000000);
		word[7] = i + 1 < n ? ' ' : '\0';
		if (memcmp(p, word, 8) != 0)
			fail_msg("block %zu: \"%.8s\"", i, p);
	}
	free(t);
}

static void
test_many_blocks(void **state)
{
	(void)state;
	check_many(1);
	check_many(2);
	check_many(150000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_joins_text_blocks),
		cmocka_unit_test(test_many_blocks),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
