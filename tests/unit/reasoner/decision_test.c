/*
 * decision_test - the in-call answer: markdown and line breaks removed,
 * length bounded at a sentence or word end without splitting UTF-8;
 * empty, refused and truncated replies rejected; the request body built
 * from situation, turns and question, and bad input (empty question,
 * unknown role, invalid UTF-8) refused before anything goes upstream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "../../../services/reasoner/reasoner.h"

static void
clean_is(const char *in, size_t max, const char *want)
{
	char  *t = strdup(in);
	size_t n = decision_clean(t, max);

	if (strcmp(t, want) != 0)
		fail_msg("clean(\"%s\") = \"%s\", want \"%s\"", in, t, want);
	assert_int_equal(n, strlen(want));
	free(t);
}

static void
test_clean(void **state)
{
	(void)state;
	clean_is("Yes, Thursday works.", 100, "Yes, Thursday works.");
	clean_is(
	    "  **Yes**, `Thursday`\nworks.  ", 100, "Yes, Thursday works.");
	clean_is("- Offer Thursday.\n- Or Friday.", 100,
	    "Offer Thursday. Or Friday.");
	clean_is("1. Say hello.\n2) Ask for a time.", 100,
	    "Say hello. Ask for a time.");
	clean_is(
	    "## Answer\nSay: we open at 9.", 100, "Answer Say: we open at 9.");
	clean_is("\"Happy to help.\"", 100, "Happy to help.");
	clean_is("It costs 12.50 - about that.", 100,
	    "It costs 12.50 - about that.");
	clean_is("**\n\n  `` ", 100, "");
	/* bounded: at a sentence end if one is late enough, else a word */
	clean_is("One two three. Four five six seven.", 20, "One two three.");
	clean_is("Onetwothree fourfivesix", 15, "Onetwothree");
	/* never a split UTF-8 sequence: "é" is two bytes */
	clean_is("\xc3\xa9\xc3\xa9\xc3\xa9", 3, "\xc3\xa9");
}

static json_t *
reply(const char *text, const char *stop)
{
	return (json_pack("{s:s, s:[{s:s, s:s}], s:s}", "model", "m-1",
	    "content", "type", "text", "text", text, "stop_reason", stop));
}

static void
test_check(void **state)
{
	struct decision d = { 0 };
	json_t         *msg;
	char            why[160];

	(void)state;
	msg = reply("Tell them *Thursday* works.", "end_turn");
	assert_int_equal(decision_check(msg, &d, why, sizeof(why)), 0);
	assert_string_equal(d.answer, "Tell them Thursday works.");
	assert_string_equal(d.model, "m-1");
	decision_free(&d);
	json_decref(msg);

	msg = reply("  ** ", "end_turn");
	assert_int_equal(decision_check(msg, &d, why, sizeof(why)), -1);
	assert_string_equal(why, "empty answer");
	assert_null(d.answer);
	json_decref(msg);

	msg = reply("Tell them that on Thurs", "max_tokens");
	assert_int_equal(decision_check(msg, &d, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "truncated"));
	json_decref(msg);

	msg = reply("I can't help with that.", "refusal");
	assert_int_equal(decision_check(msg, &d, why, sizeof(why)), -1);
	json_decref(msg);

	/* no text block at all (only a tool_use): empty */
	msg = json_pack("{s:[{s:s, s:s, s:{}}], s:s}", "content", "type",
	    "tool_use", "name", "x", "input", "stop_reason", "tool_use");
	assert_int_equal(decision_check(msg, &d, why, sizeof(why)), -1);
	json_decref(msg);
}

static void
test_body(void **state)
{
	struct reasoner_cfg c = { 0 };
	Bus__ReasonRequest  q = BUS__REASON_REQUEST__INIT;
	Bus__Turn           t = BUS__TURN__INIT;
	Bus__Turn          *turns[] = { &t };
	json_error_t        err;
	json_t             *req;
	const char         *text;
	char               *body, why[160];

	(void)state;
	c.model = "claude-sonnet-5-5";
	c.decision_effort = "low";
	c.decision_max_tokens = 300;
	c.max_input_bytes = 100000;
	q.situation = "Booking a boiler service.";
	q.question = "The caller asks about the price. What do I say?";
	t.role = "user";
	t.text = "How much is it?";
	q.recent_turns = turns;
	q.n_recent_turns = 1;
	body = decision_body(&c, &q, why, sizeof(why));
	assert_non_null(body);
	req = json_loads(body, 0, &err);
	assert_non_null(req);
	assert_string_equal(json_string_value(json_object_get(req, "model")),
	    "claude-sonnet-5-5");
	assert_null(json_object_get(req, "tools"));
	/* current models refuse a non-default temperature with a 400 */
	assert_null(json_object_get(req, "temperature"));
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(req, "output_config"), "effort")),
	    "low");
	assert_non_null(
	    strstr(json_string_value(json_object_get(req, "system")),
	        "one or two short"));
	text = json_string_value(json_object_get(
	    json_array_get(json_object_get(req, "messages"), 0), "content"));
	assert_non_null(strstr(text, "Booking a boiler service."));
	assert_non_null(strstr(text, "User: How much is it?"));
	assert_non_null(strstr(text, "What do I say?"));
	json_decref(req);
	free(body);
	/* REASONER_DECISION_EFFORT empty: no output_config at all */
	c.decision_effort = "";
	body = decision_body(&c, &q, why, sizeof(why));
	assert_non_null(body);
	assert_null(strstr(body, "output_config"));
	free(body);
	c.decision_effort = "low";

	t.text = "caf\xc3"; /* cut UTF-8 */
	assert_null(decision_body(&c, &q, why, sizeof(why)));
	assert_non_null(strstr(why, "UTF-8"));
	t.text = "ok";
	t.role = "agent";
	assert_null(decision_body(&c, &q, why, sizeof(why)));
	assert_non_null(strstr(why, "role"));
	t.role = "assistant";
	q.question = "";
	assert_null(decision_body(&c, &q, why, sizeof(why)));
	assert_string_equal(why, "question is empty");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_body),
	};

	log_init("decision_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
