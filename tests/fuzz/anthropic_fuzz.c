/*
 * anthropic_fuzz - Anthropic Messages API replies as the reasoner reads
 * them: the body parsed as upstream.c does, then the check exchange.c
 * applies to a 2xx reply (decision_check of decision.c, summary_check of
 * summary.c, both through prompt.c), and the retry headers (retry.c,
 * common/http.c).
 *
 * Input: byte 0 picks the reader; the rest is the body, or for the
 * headers "<retry-after-ms>\n<retry-after>\n<x-should-retry>".
 * Checks: an accepted decision is non-empty, at most DECISION_ANSWER_MAX
 * bytes and valid UTF-8 (it is spoken and sent on the bus); an accepted
 * summary has every field and its JSON parses back; a refusal always
 * says why; a server-requested wait is refused or within (0, 60] s and
 * the wait in milliseconds never exceeds 60 s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../services/reasoner/reasoner.h"
#include "http.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
broken(const char *what)
{
	fprintf(stderr, "fuzz: anthropic: %s\n", what);
	abort();
}

static void
need_text(const char *s)
{
	json_t *j;

	if (s == NULL)
		broken("a missing field in an accepted reply");
	if ((j = json_string(s)) == NULL)
		broken("an accepted string that is not UTF-8");
	json_decref(j);
}

static void
check_decision(json_t *msg)
{
	struct decision d = { 0 };
	char            why[160] = "";

	if (decision_check(msg, &d, why, sizeof(why)) == -1) {
		if (why[0] == '\0')
			broken("a decision refused without a reason");
		return;
	}
	need_text(d.answer);
	need_text(d.model);
	if (d.answer[0] == '\0' || strlen(d.answer) > DECISION_ANSWER_MAX)
		broken("an empty or overlong answer");
	decision_free(&d);
}

static void
check_summary(json_t *msg)
{
	struct summary s = { 0 };
	char           why[160] = "";
	json_t        *j;

	if (summary_check(msg, &s, why, sizeof(why)) == -1) {
		if (why[0] == '\0')
			broken("a summary refused without a reason");
		return;
	}
	need_text(s.outcome);
	need_text(s.interest_level);
	need_text(s.next_action);
	need_text(s.appointment);
	need_text(s.quote);
	need_text(s.summary);
	need_text(s.model);
	if ((j = json_loads(s.json, 0, NULL)) == NULL || !json_is_object(j))
		broken("a summary whose JSON does not parse");
	json_decref(j);
	summary_free(&s);
}

static void
check_headers(const uint8_t *p, size_t n)
{
	char  *s = strndup((const char *)p, n), *ms, *after, *retry, *nl;
	double w;
	long   wait;

	ms = s;
	after = retry = s + strlen(s);
	if ((nl = strchr(ms, '\n')) != NULL) {
		*nl = '\0';
		after = nl + 1;
		if ((nl = strchr(after, '\n')) != NULL) {
			*nl = '\0';
			retry = nl + 1;
		}
	}
	w = http_retry_after(ms[0] != '\0' ? ms : NULL, after, 1800000000);
	if (w != -1.0 && !(w > 0.0 && w <= 60.0))
		broken("a retry-after outside (0, 60]");
	wait = retry_wait_ms(
	    3, ms[0] != '\0' ? ms : NULL, after, 1800000000, 0.5);
	if (wait < 0 || wait > 60000)
		broken("a retry wait outside [0, 60 s]");
	(void)retry_status(529, retry[0] != '\0' ? retry : NULL);
	free(s);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_level = getenv("FUZZ_LOG") != NULL ? LOG_LVL_DEBUG : LOG_LVL_FATAL;
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	json_t      *msg;

	if (size < 1)
		return (0);
	if (data[0] % 3 == 2) {
		check_headers(data + 1, size - 1);
		return (0);
	}
	if ((msg = json_loadb((const char *)data + 1, size - 1, 0, &err))
	    == NULL)
		return (0); /* exchange.c: "response is not JSON" */
	if (data[0] % 3 == 0)
		check_decision(msg);
	else
		check_summary(msg);
	json_decref(msg);
	return (0);
}
