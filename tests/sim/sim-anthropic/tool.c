/*
 * tool.c - the "model output" of sim-anthropic.
 *
 * tool_input_new() walks a tool's JSON schema and fills every required
 * property with a valid value of its type or enum.  Values that matter to
 * the call bridge are taken from the transcript with fixed keyword rules,
 * so tests can predict them:
 *
 *   "voicemail" or "leave a message"          outcome voicemail
 *   "not interested"                          outcome not_interested
 *   "call back" or "callback"                 outcome callback_requested
 *   "yes" and ("thursday", "appointment" or "book")
 *                                             outcome goal_achieved,
 *                                             interest high, appointment
 *                                             details naming the day
 *
 * Matching is case-insensitive; the first rule that matches wins.  An
 * enum is given the value whose name fits the outcome (so "callback" and
 * "callback_requested" both work).  Lws service thread only.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sim_anthropic.h"

#define MAX_DEPTH 8

enum outcome {
	OUT_OTHER,
	OUT_VOICEMAIL,
	OUT_NOT_INTERESTED,
	OUT_CALLBACK,
	OUT_GOAL
};

struct facts {
	enum outcome outcome;
	char         day[16]; /* "Thursday", or "" */
	char         time[16]; /* "10am", or "" */
	char         first_words[160];
};

static const char *const days[] = { "monday", "tuesday", "wednesday",
	"thursday", "friday", "saturday", "sunday", NULL };

static char *
lower_dup(const char *s)
{
	char *l, *p;

	if ((l = strdup(s != NULL ? s : "")) == NULL)
		return (NULL);
	for (p = l; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return (l);
}

/* First "10am", "10 am", "10:30pm" in a lower-case text. */
static void
find_time(const char *l, char *out, size_t outlen)
{
	const char *p, *q;

	for (p = l; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p)
		    || (p > l && isdigit((unsigned char)p[-1])))
			continue;
		q = p;
		while (isdigit((unsigned char)*q) || *q == ':')
			q++;
		if (q - p > 5)
			continue;
		while (*q == ' ')
			q++;
		if ((q[0] == 'a' || q[0] == 'p') && q[1] == 'm') {
			snprintf(out, outlen, "%.*s%cm",
			    (int)strcspn(p, " ap"), p, q[0]);
			return;
		}
	}
}

/* The first words of text, whole words only, without '"'. */
static void
first_words(const char *text, char *out, size_t outlen, int nwords)
{
	const char *p = text;
	size_t      n = 0, wl, i;
	int         w;

	for (w = 0; w < nwords; w++) {
		while (isspace((unsigned char)*p))
			p++;
		wl = 0;
		while (p[wl] != '\0' && !isspace((unsigned char)p[wl]))
			wl++;
		if (wl == 0 || n + wl + 2 > outlen)
			break;
		if (n > 0)
			out[n++] = ' ';
		for (i = 0; i < wl; i++)
			if (p[i] != '"')
				out[n++] = p[i];
		p += wl;
	}
	out[n] = '\0';
}

static void
facts_init(struct facts *f, const char *text)
{
	char *l;
	int   i;

	memset(f, 0, sizeof(*f));
	first_words(text, f->first_words, sizeof(f->first_words), 8);
	if ((l = lower_dup(text)) == NULL)
		return;
	for (i = 0; days[i] != NULL; i++) {
		if (strstr(l, days[i]) != NULL) {
			snprintf(f->day, sizeof(f->day), "%c%s",
			    toupper((unsigned char)days[i][0]), days[i] + 1);
			break;
		}
	}
	find_time(l, f->time, sizeof(f->time));
	if (strstr(l, "voicemail") || strstr(l, "leave a message"))
		f->outcome = OUT_VOICEMAIL;
	else if (strstr(l, "not interested"))
		f->outcome = OUT_NOT_INTERESTED;
	else if (strstr(l, "call back") || strstr(l, "callback"))
		f->outcome = OUT_CALLBACK;
	else if (strstr(l, "yes")
	    && (strstr(l, "thursday") || strstr(l, "appointment")
	        || strstr(l, "book")))
		f->outcome = OUT_GOAL;
	free(l);
}

/* The first enum string containing one of the stems, or NULL. */
static json_t *
enum_pick(json_t *en, const char *const stems[])
{
	json_t *v;
	char   *l;
	size_t  i;
	int     k, hit;

	for (k = 0; stems[k] != NULL; k++) {
		for (i = 0; i < json_array_size(en); i++) {
			v = json_array_get(en, i);
			if ((l = lower_dup(json_string_value(v))) == NULL)
				continue;
			hit = json_is_string(v) && strstr(l, stems[k]) != NULL;
			free(l);
			if (hit)
				return (v);
		}
	}
	return (NULL);
}

static json_t *
outcome_value(json_t *en, const struct facts *f)
{
	static const char *const vm[]
	    = { "voicemail", "voice_mail", "machine", NULL };
	static const char *const ni[]
	    = { "not_interested", "not interested", "declin", "reject", NULL };
	static const char *const cb[]
	    = { "callback", "call_back", "call back", "follow", NULL };
	static const char *const goal[]
	    = { "goal", "booked", "success", "appointment", NULL };
	static const char *const other[] = { "other", "unknown", "neutral",
		"no_answer", "completed", NULL };
	const char *const       *stems[] = { other, vm, ni, cb, goal };
	json_t                  *v;

	v = enum_pick(en, stems[f->outcome]);
	if (v == NULL && f->outcome != OUT_OTHER)
		v = enum_pick(en, other);
	if (v == NULL)
		v = json_array_get(en, 0);
	return (json_deep_copy(v));
}

/* Enum "interest" level: high for a goal, none/low for a refusal. */
static json_t *
level_value(json_t *en, const struct facts *f)
{
	static const char *const high[] = { "high", "hot", "very", NULL };
	static const char *const med[]
	    = { "medium", "moderate", "warm", NULL };
	static const char *const low[]
	    = { "none", "low", "cold", "unknown", NULL };
	json_t *v;

	if (f->outcome == OUT_GOAL)
		v = enum_pick(en, high);
	else if (f->outcome == OUT_CALLBACK || f->outcome == OUT_OTHER)
		v = enum_pick(en, med);
	else
		v = enum_pick(en, low);
	if (v == NULL)
		v = json_array_get(en, 0);
	return (json_deep_copy(v));
}

static json_t *value_new(
    const char *name, json_t *schema, const struct facts *f, int depth);

static int
name_has(const char *name, const char *part)
{
	char *l;
	int   hit;

	if ((l = lower_dup(name)) == NULL)
		return (0);
	hit = strstr(l, part) != NULL;
	free(l);
	return (hit);
}

static const char *
schema_type(json_t *schema)
{
	json_t     *t = json_object_get(schema, "type"), *v;
	const char *s;
	size_t      i;

	if (json_is_string(t))
		return (json_string_value(t));
	for (i = 0; i < json_array_size(t); i++) {
		v = json_array_get(t, i);
		s = json_string_value(v);
		if (s != NULL && strcmp(s, "null") != 0)
			return (s);
	}
	if (json_object_get(schema, "properties") != NULL)
		return ("object");
	if (json_object_get(schema, "items") != NULL)
		return ("array");
	return ("string");
}

static json_t *
number_new(
    const char *name, json_t *schema, const struct facts *f, int integer)
{
	json_t *jmin = json_object_get(schema, "minimum");
	json_t *jmax = json_object_get(schema, "maximum");
	double  min, max, v, share = 0.0;

	min = jmin != NULL ? json_number_value(jmin) : 0.0;
	max = jmax != NULL ? json_number_value(jmax) : (min > 10 ? min : 10);
	if (name_has(name, "interest") || name_has(name, "score")) {
		if (f->outcome == OUT_GOAL)
			share = 0.8;
		else if (f->outcome == OUT_CALLBACK || f->outcome == OUT_OTHER)
			share = 0.5;
		v = min + share * (max - min);
	} else
		v = jmin != NULL ? min : (max >= 1 ? 1 : max);
	if (integer)
		return (json_integer((json_int_t)(v + 0.5)));
	return (json_real(v));
}

static char *
string_text(const char *name, json_t *schema, const struct facts *f)
{
	const char *fmt = json_string_value(json_object_get(schema, "format"));
	const char *day = f->day[0] ? f->day : "Thursday";
	const char *tm = f->time[0] ? f->time : "10am";
	char        buf[512];

	if (fmt != NULL && strcmp(fmt, "date-time") == 0)
		return (strdup("2030-01-03T10:00:00Z"));
	if (fmt != NULL && strcmp(fmt, "date") == 0)
		return (strdup("2030-01-03"));
	if (fmt != NULL && strcmp(fmt, "email") == 0)
		return (strdup("lead@example.com"));
	if (name_has(name, "summary"))
		snprintf(buf, sizeof(buf),
		    "The call began \"%s\"; outcome "
		    "%s.",
		    f->first_words,
		    f->outcome == OUT_GOAL                 ? "goal achieved"
		        : f->outcome == OUT_VOICEMAIL      ? "voicemail"
		        : f->outcome == OUT_NOT_INTERESTED ? "not interested"
		        : f->outcome == OUT_CALLBACK ? "callback requested"
		                                     : "unclear");
	else if (f->outcome == OUT_GOAL
	    && (name_has(name, "day") || name_has(name, "date")))
		snprintf(buf, sizeof(buf), "%s", day);
	else if (f->outcome == OUT_GOAL && name_has(name, "time"))
		snprintf(buf, sizeof(buf), "%s", tm);
	else if (f->outcome == OUT_GOAL
	    && (name_has(name, "appointment") || name_has(name, "detail")
	        || name_has(name, "when")))
		snprintf(buf, sizeof(buf), "Appointment on %s at %s", day, tm);
	else if (name_has(name, "next"))
		snprintf(buf, sizeof(buf), "%s",
		    f->outcome == OUT_GOAL
		        ? "Send the appointment confirmation"
		        : f->outcome == OUT_CALLBACK ? "Call back as requested"
		        : f->outcome == OUT_VOICEMAIL ? "Try again later"
		        : f->outcome == OUT_NOT_INTERESTED
		        ? "Do not call again"
		        : "Follow up by email");
	else
		snprintf(buf, sizeof(buf), "simulated %s", name);
	return (strdup(buf));
}

static json_t *
string_new(const char *name, json_t *schema, const struct facts *f)
{
	json_t *min = json_object_get(schema, "minLength");
	json_t *max = json_object_get(schema, "maxLength");
	char   *s, *t;
	size_t  n;
	json_t *v;

	if ((s = string_text(name, schema, f)) == NULL)
		return (json_string(""));
	n = strlen(s);
	if (json_is_integer(max) && n > (size_t)json_integer_value(max))
		s[json_integer_value(max)] = '\0'; /* ASCII only here */
	if (json_is_integer(min) && n < (size_t)json_integer_value(min)
	    && json_integer_value(min) < 4096) {
		n = (size_t)json_integer_value(min);
		if ((t = realloc(s, n + 1)) != NULL) {
			s = t;
			memset(s + strlen(s), '.', n - strlen(s));
			s[n] = '\0';
		}
	}
	v = json_string(s);
	free(s);
	return (v);
}

/* Required properties; for a goal, appointment details too. */
static json_t *
object_new(json_t *schema, const struct facts *f, int depth, int all)
{
	json_t     *obj = json_object(), *props, *req, *sub, *v;
	const char *key;
	void       *it;
	size_t      i;

	props = json_object_get(schema, "properties");
	req = json_object_get(schema, "required");
	for (i = 0; i < json_array_size(req); i++) {
		v = json_array_get(req, i);
		key = json_string_value(v);
		if (key == NULL)
			continue;
		sub = json_object_get(props, key);
		json_object_set_new(
		    obj, key, value_new(key, sub, f, depth + 1));
	}
	for (it = json_object_iter(props); it != NULL;
	     it = json_object_iter_next(props, it)) {
		key = json_object_iter_key(it);
		sub = json_object_iter_value(it);
		if (json_object_get(obj, key) != NULL)
			continue;
		if (all
		    || (f->outcome == OUT_GOAL
		        && name_has(key, "appointment")))
			json_object_set_new(
			    obj, key, value_new(key, sub, f, depth + 1));
	}
	return (obj);
}

static json_t *
array_new(const char *name, json_t *schema, const struct facts *f, int depth)
{
	json_t    *arr = json_array();
	json_t    *items = json_object_get(schema, "items");
	json_t    *jmin = json_object_get(schema, "minItems");
	json_t    *jmax = json_object_get(schema, "maxItems");
	json_int_t n = 1, k;

	if (json_is_integer(jmin) && json_integer_value(jmin) > n)
		n = json_integer_value(jmin);
	if (json_is_integer(jmax) && json_integer_value(jmax) < n)
		n = json_integer_value(jmax);
	for (k = 0; k < n && k < 16; k++)
		json_array_append_new(
		    arr, value_new(name, items, f, depth + 1));
	return (arr);
}

static json_t *
value_new(const char *name, json_t *schema, const struct facts *f, int depth)
{
	json_t     *en = json_object_get(schema, "enum"), *alt;
	const char *type;

	if (depth > MAX_DEPTH)
		return (json_null());
	if (json_is_array(en) && json_array_size(en) > 0) {
		if (name_has(name, "outcome") || name_has(name, "status"))
			return (outcome_value(en, f));
		if (name_has(name, "interest") || name_has(name, "level"))
			return (level_value(en, f));
		return (json_deep_copy(json_array_get(en, 0)));
	}
	if (json_object_get(schema, "const") != NULL)
		return (json_deep_copy(json_object_get(schema, "const")));
	if ((alt = json_object_get(schema, "anyOf")) != NULL
	    || (alt = json_object_get(schema, "oneOf")) != NULL)
		return (value_new(name, json_array_get(alt, 0), f, depth + 1));
	type = schema_type(schema);
	if (strcmp(type, "object") == 0)
		return (object_new(schema, f, depth,
		    f->outcome == OUT_GOAL && name_has(name, "appointment")));
	if (strcmp(type, "array") == 0)
		return (array_new(name, schema, f, depth));
	if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
		return (number_new(name, schema, f, type[0] == 'i'));
	if (strcmp(type, "boolean") == 0)
		return (json_boolean(f->outcome == OUT_GOAL
		    && (name_has(name, "appointment") || name_has(name, "book")
		        || name_has(name, "interested"))));
	if (strcmp(type, "null") == 0)
		return (json_null());
	return (string_new(name, schema, f));
}

json_t *
tool_input_new(json_t *schema, const char *transcript)
{
	struct facts f;

	facts_init(&f, transcript);
	return (object_new(schema, &f, 0, 0));
}

void
tool_input_break(json_t *input, json_t *schema)
{
	json_t     *v;
	const char *key;
	size_t      i;

	for (i = 0; i < json_array_size(json_object_get(schema, "required"));
	     i++) {
		v = json_array_get(json_object_get(schema, "required"), i);
		key = json_string_value(v);
		if (key != NULL && json_object_get(input, key) != NULL) {
			json_object_del(input, key);
			return;
		}
	}
	json_object_clear(input);
}

char *
tool_text_answer(const char *last_user)
{
	struct facts f;
	char         buf[128];

	facts_init(&f, last_user != NULL ? last_user : "");
	snprintf(buf, sizeof(buf), "Yes, %s at %s works.",
	    f.day[0] ? f.day : "Thursday", f.time[0] ? f.time : "10am");
	return (strdup(buf));
}
