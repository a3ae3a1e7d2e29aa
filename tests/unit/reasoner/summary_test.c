/*
 * summary_test - strict validation of the structured-output answer: a
 * good result (with and without appointment and quote), each required
 * field missing, bad enum values, wrong types, a reply cut off by
 * max_tokens or refused, no text block, text that is not JSON; the
 * canonical Summary.json; and the request body (output_config.format,
 * no tool_choice or temperature, schema enums equal to what we accept).
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

static const char good_input[]
    = "{\"outcome\":\"goal_achieved\",\"interest_level\":\"high\","
      "\"next_action\":\"Send the confirmation\","
      "\"appointment\":{\"date\":\"2030-01-03\",\"time\":\"10am\","
      "\"location\":\"ignored\"},"
      "\"quote\":{\"amount\":1200.5,\"currency\":\"EUR\"},"
      "\"summary\":\"Booked a visit.\",\"extra\":\"dropped\"}";

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t      *v = json_loads(text, 0, &err);

	if (v == NULL)
		fail_msg("bad test JSON: %s", err.text);
	return (v);
}

/* A Messages API reply holding one text block with the JSON answer. */
static json_t *
message(const char *input, const char *stop)
{
	return (json_pack("{s:s, s:s, s:[{s:s, s:s}], s:s}", "type", "message",
	    "model", "claude-sonnet-5-5", "content", "type", "text", "text",
	    input, "stop_reason", stop));
}

static void
test_good(void **state)
{
	struct summary s = { 0 };
	json_t        *msg = message(good_input, "end_turn"), *back;
	char           why[160] = "";

	(void)state;
	assert_int_equal(summary_check(msg, &s, why, sizeof(why)), 0);
	assert_string_equal(s.outcome, "goal_achieved");
	assert_string_equal(s.interest_level, "high");
	assert_string_equal(s.next_action, "Send the confirmation");
	assert_string_equal(s.summary, "Booked a visit.");
	assert_string_equal(s.model, "claude-sonnet-5-5");
	assert_string_equal(
	    s.appointment, "{\"date\":\"2030-01-03\",\"time\":\"10am\"}");
	assert_string_equal(
	    s.quote, "{\"amount\":1200.5,\"currency\":\"EUR\"}");
	/* json: the canonical object, unknown keys dropped, in order */
	assert_string_equal(s.json,
	    "{\"outcome\":\"goal_achieved\",\"interest_level\":\"high\","
	    "\"next_action\":\"Send the confirmation\",\"appointment\":"
	    "{\"date\":\"2030-01-03\",\"time\":\"10am\"},\"quote\":"
	    "{\"amount\":1200.5,\"currency\":\"EUR\"},\"summary\":"
	    "\"Booked a visit.\"}");
	back = load(s.json);
	assert_null(json_object_get(back, "extra"));
	json_decref(back);
	summary_free(&s);
	json_decref(msg);
}

static void
test_nulls(void **state)
{
	struct summary s = { 0 };
	json_t        *in;
	char           why[160];

	(void)state;
	/* null, absent and empty objects all mean "none" */
	in = load("{\"outcome\":\"voicemail\",\"interest_level\":\"low\","
	          "\"next_action\":\"\",\"appointment\":null,\"quote\":{},"
	          "\"summary\":\"Left a message.\"}");
	assert_int_equal(summary_validate(in, &s, why, sizeof(why)), 0);
	assert_string_equal(s.appointment, "");
	assert_string_equal(s.quote, "");
	assert_non_null(strstr(s.json, "\"appointment\":null"));
	assert_non_null(strstr(s.json, "\"quote\":null"));
	summary_free(&s);
	json_decref(in);
}

/* Expect input (a tool input object) to be refused with why ~ part. */
static void
refused(const char *input, const char *part)
{
	struct summary s = { 0 };
	json_t        *in = load(input);
	char           why[160] = "";

	assert_int_equal(summary_validate(in, &s, why, sizeof(why)), -1);
	if (strstr(why, part) == NULL)
		fail_msg("why \"%s\" lacks \"%s\"", why, part);
	assert_null(s.json); /* nothing half-filled */
	json_decref(in);
}

static void
test_missing_fields(void **state)
{
	(void)state;
	refused("{\"interest_level\":\"high\",\"next_action\":\"x\","
	        "\"summary\":\"y\"}",
	    "outcome: missing");
	refused("{\"outcome\":\"other\",\"next_action\":\"x\","
	        "\"summary\":\"y\"}",
	    "interest_level: missing");
	refused("{\"outcome\":\"other\",\"interest_level\":\"low\","
	        "\"summary\":\"y\"}",
	    "next_action: missing");
	refused("{\"outcome\":\"other\",\"interest_level\":\"low\","
	        "\"next_action\":\"x\"}",
	    "summary: missing");
	refused("{\"outcome\":\"other\",\"interest_level\":\"low\","
	        "\"next_action\":\"x\",\"summary\":null}",
	    "summary: missing");
	refused("{\"outcome\":\"other\",\"interest_level\":\"low\","
	        "\"next_action\":\"x\",\"summary\":\"\"}",
	    "summary: empty");
	refused("{}", "outcome: missing");
	refused("[]", "not a JSON object");
}

static void
test_bad_enums_and_types(void **state)
{
	(void)state;
	refused("{\"outcome\":\"callback\",\"interest_level\":\"high\","
	        "\"next_action\":\"x\",\"summary\":\"y\"}",
	    "outcome: \"callback\"");
	refused("{\"outcome\":\"Goal_Achieved\",\"interest_level\":\"high\","
	        "\"next_action\":\"x\",\"summary\":\"y\"}",
	    "outcome");
	refused("{\"outcome\":\"other\",\"interest_level\":7,"
	        "\"next_action\":\"x\",\"summary\":\"y\"}",
	    "interest_level: not a string");
	refused("{\"outcome\":\"other\",\"interest_level\":\"very high\","
	        "\"next_action\":\"x\",\"summary\":\"y\"}",
	    "interest_level");
	refused("{\"outcome\":\"other\",\"interest_level\":\"low\","
	        "\"next_action\":[\"x\"],\"summary\":\"y\"}",
	    "next_action: not a string");
	refused("{\"outcome\":\"other\",\"interest_level\":\"low\","
	        "\"next_action\":\"x\",\"summary\":\"y\",\"appointment\":"
	        "\"Thursday\"}",
	    "appointment: neither");
	refused("{\"outcome\":\"other\",\"interest_level\":\"low\","
	        "\"next_action\":\"x\",\"summary\":\"y\",\"appointment\":"
	        "{\"date\":3}}",
	    "date: not a string");
	refused("{\"outcome\":\"other\",\"interest_level\":\"low\","
	        "\"next_action\":\"x\",\"summary\":\"y\",\"quote\":"
	        "{\"amount\":\"100\"}}",
	    "quote.amount");
	refused("{\"outcome\":\"other\",\"interest_level\":\"low\","
	        "\"next_action\":\"x\",\"summary\":\"y\",\"quote\":"
	        "{\"amount\":-1}}",
	    "quote.amount");
}

static void
test_truncated_and_missing_block(void **state)
{
	struct summary s = { 0 };
	json_t        *msg;
	char           why[160];

	(void)state;
	/* a valid-looking input is still refused when cut off */
	msg = message(good_input, "max_tokens");
	assert_int_equal(summary_check(msg, &s, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "truncated"));
	json_decref(msg);
	/* a refusal is refused */
	msg = message(good_input, "refusal");
	assert_int_equal(summary_check(msg, &s, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "refused"));
	json_decref(msg);
	/* no text block (only a tool_use): refused */
	msg = load("{\"content\":[{\"type\":\"tool_use\",\"name\":"
	           "\"other\",\"input\":{}}],\"stop_reason\":\"tool_use\"}");
	assert_int_equal(summary_check(msg, &s, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "no text block"));
	json_decref(msg);
	/* text that is not JSON: refused */
	msg = message("Here is the summary: booked.", "end_turn");
	assert_int_equal(summary_check(msg, &s, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not JSON"));
	json_decref(msg);
	/* a thinking block before the text is fine */
	msg = message(good_input, "end_turn");
	json_array_insert_new(json_object_get(msg, "content"), 0,
	    json_pack("{s:s, s:s, s:s}", "type", "thinking", "thinking", "...",
	        "signature", "sig"));
	assert_int_equal(summary_check(msg, &s, why, sizeof(why)), 0);
	summary_free(&s);
	json_decref(msg);
}

static void
test_body(void **state)
{
	struct reasoner_cfg   c = { 0 };
	Bus__SummarizeRequest q = BUS__SUMMARIZE_REQUEST__INIT;
	Bus__Turn             t1 = BUS__TURN__INIT, t2 = BUS__TURN__INIT;
	Bus__Turn            *turns[] = { &t1, &t2 };
	json_t               *req, *en, *schema;
	char                 *body, why[160];
	size_t                i;

	(void)state;
	c.model = "claude-sonnet-5-5";
	c.summary_max_tokens = 1500;
	c.max_input_bytes = 100000;
	t1.role = "assistant";
	t1.text = "Hello, this is Sam.";
	t2.role = "user";
	t2.text = "Not interested, thanks.";
	q.objective = "Sell solar";
	q.turns = turns;
	q.n_turns = 2;
	q.duration_s = 31;
	body = summary_body(&c, &q, why, sizeof(why));
	assert_non_null(body);
	req = load(body);
	/* current models refuse these with a 400 */
	assert_null(json_object_get(req, "tool_choice"));
	assert_null(json_object_get(req, "tools"));
	assert_null(json_object_get(req, "temperature"));
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(
	            json_object_get(req, "output_config"), "format"),
	        "type")),
	    "json_schema");
	assert_int_equal(
	    json_integer_value(json_object_get(req, "max_tokens")), 1500);
	assert_non_null(
	    strstr(json_string_value(json_object_get(
	               json_array_get(json_object_get(req, "messages"), 0),
	               "content")),
	        "AI: Hello, this is Sam.\nUser: Not interested, thanks.\n"));
	schema = json_object_get(
	    json_object_get(json_object_get(req, "output_config"), "format"),
	    "schema");
	/* every enum value offered in the schema passes validation */
	en = json_object_get(
	    json_object_get(json_object_get(schema, "properties"), "outcome"),
	    "enum");
	assert_int_equal(json_array_size(en), 8);
	for (i = 0; i < json_array_size(en); i++) {
		struct summary s = { 0 };
		json_t *in = json_pack("{s:O, s:s, s:s, s:s}", "outcome",
		    json_array_get(en, i), "interest_level", "medium",
		    "next_action", "x", "summary", "y");

		assert_int_equal(
		    summary_validate(in, &s, why, sizeof(why)), 0);
		summary_free(&s);
		json_decref(in);
	}
	json_decref(req);
	free(body);
	/* a turn with an unknown role is bad input */
	t2.role = "system";
	assert_null(summary_body(&c, &q, why, sizeof(why)));
	assert_non_null(strstr(why, "turn 1: role"));
	/* over REASONER_MAX_INPUT_BYTES */
	t2.role = "user";
	c.max_input_bytes = 1024;
	assert_null(summary_body(&c, &q, why, sizeof(why)));
	assert_non_null(strstr(why, "REASONER_MAX_INPUT_BYTES"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_nulls),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_bad_enums_and_types),
		cmocka_unit_test(test_truncated_and_missing_block),
		cmocka_unit_test(test_body),
	};

	log_init("summary_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
