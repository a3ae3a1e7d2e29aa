/*
 * oai_json_test - ai-session's OpenAI Realtime JSON (oai_json.c): the
 * GA session.update, the client events, the append fast path and the
 * allocation-free scan of server events, checked against jansson.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "codec.h"
#include "../../../services/ai-session/ai.h"
#include "../../../services/ai-session/oai_json.h"

static json_t *
parse(char *s)
{
	json_t *j;

	assert_non_null(s);
	j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	free(s);
	assert_non_null(j);
	return (j);
}

static const char *
path(json_t *j, const char *a, const char *b, const char *c, const char *d)
{
	j = json_object_get(j, a);
	if (b != NULL)
		j = json_object_get(j, b);
	if (c != NULL)
		j = json_object_get(j, c);
	if (d != NULL)
		j = json_object_get(j, d);
	return (json_string_value(j));
}

static json_t *
path_obj(json_t *j, const char *a, const char *b)
{
	return (json_object_get(json_object_get(j, a), b));
}

static void
test_session_update(void **state)
{
	struct rt_session s = { 0 };
	json_t           *j, *sess, *td, *in, *tool;

	(void)state;
	s.instructions = "Be \"brief\".\nThanks";
	s.voice = "alloy";
	s.transcribe_model = "gpt-realtime-whisper";
	s.reasoning_effort = "low";
	s.tools = true;
	j = parse(oai_session_update(&s));
	assert_string_equal(
	    path(j, "type", NULL, NULL, NULL), "session.update");
	sess = json_object_get(j, "session");
	/* GA shape only: no beta keys anywhere */
	assert_string_equal(path(sess, "type", NULL, NULL, NULL), "realtime");
	assert_null(json_object_get(sess, "modalities"));
	assert_null(json_object_get(sess, "voice"));
	assert_null(json_object_get(sess, "input_audio_format"));
	assert_null(json_object_get(sess, "turn_detection"));
	assert_string_equal(path(sess, "instructions", NULL, NULL, NULL),
	    "Be \"brief\".\nThanks");
	assert_string_equal(
	    json_string_value(
	        json_array_get(json_object_get(sess, "output_modalities"), 0)),
	    "audio");
	assert_string_equal(
	    path(sess, "audio", "input", "format", "type"), "audio/pcmu");
	assert_string_equal(
	    path(sess, "audio", "output", "format", "type"), "audio/pcmu");
	assert_string_equal(
	    path(sess, "audio", "output", "voice", NULL), "alloy");
	in = json_object_get(json_object_get(sess, "audio"), "input");
	assert_string_equal(path(in, "transcription", "model", NULL, NULL),
	    "gpt-realtime-whisper");
	assert_string_equal(
	    path(sess, "reasoning", "effort", NULL, NULL), "low");
	td = json_object_get(in, "turn_detection");
	assert_string_equal(path(td, "type", NULL, NULL, NULL), "server_vad");
	/* both set explicitly */
	assert_true(json_is_true(json_object_get(td, "create_response")));
	assert_true(json_is_true(json_object_get(td, "interrupt_response")));
	assert_int_equal(json_array_size(json_object_get(sess, "tools")), 3);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(sess, "tools"), 0), "name")),
	    "consult_reasoner");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(sess, "tools"), 1), "name")),
	    "end_call");
	tool = json_array_get(json_object_get(sess, "tools"), 2);
	assert_string_equal(
	    json_string_value(json_object_get(tool, "name")), "press_keys");
	assert_string_equal(json_string_value(json_array_get(
	                        path_obj(tool, "parameters", "required"), 0)),
	    "digits");
	assert_string_equal(
	    path(tool, "parameters", "properties", "digits", "type"),
	    "string");
	json_decref(j);
	/* no transcription model, no effort: the keys are left out */
	s.transcribe_model = "";
	s.reasoning_effort = "";
	s.tools = false;
	j = parse(oai_session_update(&s));
	sess = json_object_get(j, "session");
	assert_null(json_object_get(
	    json_object_get(json_object_get(sess, "audio"), "input"),
	    "transcription"));
	assert_null(json_object_get(sess, "reasoning"));
	assert_null(json_object_get(sess, "tools"));
	json_decref(j);
}

static void
test_client_events(void **state)
{
	json_t *j;

	(void)state;
	j = parse(oai_truncate("item_\"x", 1540));
	assert_string_equal(
	    path(j, "type", NULL, NULL, NULL), "conversation.item.truncate");
	assert_string_equal(path(j, "item_id", NULL, NULL, NULL), "item_\"x");
	assert_int_equal(
	    json_integer_value(json_object_get(j, "content_index")), 0);
	assert_int_equal(
	    json_integer_value(json_object_get(j, "audio_end_ms")), 1540);
	json_decref(j);
	j = parse(oai_tool_output("call_1", "{\"answer\":\"Thursday\"}"));
	assert_string_equal(
	    path(j, "item", "type", NULL, NULL), "function_call_output");
	assert_string_equal(path(j, "item", "call_id", NULL, NULL), "call_1");
	assert_string_equal(path(j, "item", "output", NULL, NULL),
	    "{\"answer\":\"Thursday\"}");
	json_decref(j);
	j = parse(oai_response_create(NULL));
	assert_string_equal(
	    path(j, "type", NULL, NULL, NULL), "response.create");
	assert_null(json_object_get(j, "response"));
	json_decref(j);
	j = parse(oai_response_create("Say goodbye."));
	assert_string_equal(
	    path(j, "response", "instructions", NULL, NULL), "Say goodbye.");
	json_decref(j);
	j = parse(oai_system_text("note"));
	assert_string_equal(path(j, "item", "role", NULL, NULL), "system");
	json_decref(j);
	/* invalid UTF-8 cannot be encoded: NULL, not garbage */
	assert_null(oai_truncate("\xff\xfe", 1));
}

static void
test_append(void **state)
{
	uint8_t audio[160];
	char    out[512], dec[200];
	json_t *j;
	size_t  n;
	int     i, len;

	(void)state;
	for (i = 0; i < 160; i++)
		audio[i] = (uint8_t)(i * 7);
	n = oai_append(out, sizeof(out), audio, sizeof(audio));
	assert_true(n > 0);
	j = json_loadb(out, n, 0, NULL);
	assert_non_null(j);
	assert_string_equal(
	    path(j, "type", NULL, NULL, NULL), "input_audio_buffer.append");
	len = codec_b64_decode(path(j, "audio", NULL, NULL, NULL),
	    strlen(path(j, "audio", NULL, NULL, NULL)), dec, sizeof(dec));
	assert_int_equal(len, 160);
	assert_memory_equal(dec, audio, 160);
	json_decref(j);
	assert_int_equal(oai_append(out, 100, audio, sizeof(audio)), 0);
}

static void
span_eq(const struct oai_span *s, const char *want)
{
	if (want == NULL) {
		assert_null(s->p);
		return;
	}
	assert_non_null(s->p);
	assert_int_equal(s->n, strlen(want));
	assert_memory_equal(s->p, want, s->n);
}

static void
test_scan(void **state)
{
	struct oai_fields f;
	const char       *ev;

	(void)state;
	ev = "{\"type\":\"response.output_audio.delta\",\"event_id\":\"e1\","
	     "\"response_id\":\"resp_1\",\"item_id\":\"item_1\","
	     "\"output_index\":0,\"content_index\":0,\"delta\":\"/////w==\"}";
	assert_int_equal(oai_scan(ev, strlen(ev), &f), 0);
	span_eq(&f.type, "response.output_audio.delta");
	span_eq(&f.delta, "/////w==");
	span_eq(&f.item_id, "item_1");
	span_eq(&f.response_id, "resp_1");
	assert_true(oai_span_is(&f.type, "response.output_audio.delta"));
	assert_false(oai_span_is(&f.type, "response.output_audio"));
	/* spaces, nested values, arrays, literals; order does not matter */
	ev = " { \"delta\" : \"QUJD\" , \"x\" : {\"type\":\"nested\",\"a\":[1,"
	     "{\"b\":\"}\"}],\"c\":null}, \"n\": -1.5e3, \"t\": true ,"
	     "\"type\":\"response.output_audio.delta\" } ";
	assert_int_equal(oai_scan(ev, strlen(ev), &f), 0);
	span_eq(&f.type, "response.output_audio.delta");
	span_eq(&f.delta, "QUJD");
	span_eq(&f.item_id, NULL);
	/* escapes in a wanted member: jansson decides */
	ev = "{\"type\":\"error\",\"delta\":\"a\\\"b\"}";
	assert_int_equal(oai_scan(ev, strlen(ev), &f), -1);
	/* escapes elsewhere are fine */
	ev = "{\"type\":\"x\",\"other\":\"a\\\"b}\"}";
	assert_int_equal(oai_scan(ev, strlen(ev), &f), 0);
	span_eq(&f.type, "x");
	/* a wanted member that is not a string */
	ev = "{\"type\":5}";
	assert_int_equal(oai_scan(ev, strlen(ev), &f), -1);
}

static void
test_scan_garbage(void **state)
{
	static const char *bad[] = { "", "   ", "[]", "{", "}", "{\"type\"",
		"{\"type\":", "{\"type\":\"x\"", "{\"type\":\"x\",}",
		"{\"type\":\"x\"}}", "{\"type\":\"x\"} junk", "{\"a\":[1,2}",
		"{\"a\":{\"b\":1}", "{type:\"x\"}", "{\"a\":\"unterminated}",
		"{\"a\" \"b\"}", "null", "\"type\"", NULL };
	struct oai_fields  f;
	char               buf[256];
	int                i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++)
		assert_int_equal(oai_scan(bad[i], strlen(bad[i]), &f), -1);
	/* every prefix of a good event: never a crash, never a false 0 */
	snprintf(buf, sizeof(buf),
	    "{\"type\":\"response.output_audio.delta\","
	    "\"delta\":\"AAAA\",\"item_id\":\"i\"}");
	for (i = 0; i < (int)strlen(buf); i++)
		assert_int_equal(oai_scan(buf, (size_t)i, &f), -1);
	assert_int_equal(oai_scan(buf, strlen(buf), &f), 0);
}

static void
test_instructions(void **state)
{
	Bus__CallContext cc = BUS__CALL_CONTEXT__INIT;
	Bus__Turn        t1 = BUS__TURN__INIT, t2 = BUS__TURN__INIT;
	Bus__Turn       *tp[2] = { &t1, &t2 };
	char            *s;

	(void)state;
	s = ctx_instructions("Base.", NULL, BUS__DIRECTION__INBOUND, "Bye.");
	assert_non_null(strstr(s, "Base."));
	assert_non_null(strstr(s, "inbound"));
	assert_non_null(strstr(s, "\"Bye.\""));
	assert_null(strstr(s, "Objective"));
	free(s);
	cc.found = true;
	cc.business_name = "Acme Plumbing";
	cc.lead_name = "Dana";
	cc.objective = "Book a boiler service.";
	t1.role = "assistant";
	t1.text = "Hi Dana.";
	t2.role = "user";
	t2.text = "Hello.";
	cc.turns = tp;
	cc.n_turns = 2;
	s = ctx_instructions("Base.", &cc, BUS__DIRECTION__OUTBOUND, "VM");
	assert_non_null(strstr(s, "Acme Plumbing"));
	assert_non_null(strstr(s, "Dana"));
	assert_non_null(strstr(s, "Objective of the call: Book a boiler"));
	assert_non_null(strstr(s, "outbound"));
	assert_non_null(strstr(s, "\nAI: Hi Dana.\nUser: Hello."));
	assert_non_null(strstr(s, "do not greet again"));
	free(s);
}

/* A model session opened again mid-call: the turns not yet in the
 * instructions are added, the older ones are not repeated. */
static void
test_continue(void **state)
{
	struct transcript tr;
	char             *s;

	(void)state;
	transcript_init(&tr, 1);
	s = ctx_continue("Base.", &tr, 0);
	assert_string_equal(s, "Base.");
	free(s);
	assert_non_null(
	    transcript_add(&tr, RT_ASSISTANT, "i1", "Hi Dana.", 1));
	assert_non_null(transcript_add(&tr, RT_USER, "i2", "Hello.", 2));
	assert_non_null(
	    transcript_add(&tr, RT_ASSISTANT, "i3", "Thursday?", 3));
	s = ctx_continue("Base.", &tr, 0);
	assert_non_null(strstr(s, "do not greet again"));
	assert_non_null(
	    strstr(s, "\nAI: Hi Dana.\nUser: Hello.\nAI: Thursday?"));
	free(s);
	s = ctx_continue("Base.", &tr, 2); /* two are in "Base." already */
	assert_null(strstr(s, "Hi Dana."));
	assert_non_null(strstr(s, "\nAI: Thursday?"));
	free(s);
	transcript_fini(&tr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_update),
		cmocka_unit_test(test_client_events),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_scan_garbage),
		cmocka_unit_test(test_instructions),
		cmocka_unit_test(test_continue),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
