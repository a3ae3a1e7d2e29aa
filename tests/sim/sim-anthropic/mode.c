/*
 * mode.c - injected faults, the live mode, statistics and the record file.
 *
 * --fail "529,429,500" queues statuses that the next requests get, in
 * order; --down answers 529 to everything until POST /sim/mode turns it
 * off; --bad-output N breaks the next N tool replies.  POST /sim/mode
 * changes the same fields at run time; GET /sim/stats reports counts.
 * Lws service thread only, so nothing here is locked.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_anthropic.h"

static const char *const kind_names[KIND_COUNT]
    = { "tool", "text", "bad_output", "injected", "rejected", "control" };

/* "529,529,429" -> statuses; "" clears.  Returns -1 on a bad list. */
int
mode_parse_fails(struct sim_mode *m, const char *list)
{
	int         fails[SIM_MAX_FAILS] = { 0 }, n = 0;
	const char *p = list;
	char       *end;
	long        v;

	while (*p != '\0') {
		v = strtol(p, &end, 10);
		if (end == p || v < 100 || v > 599 || n == SIM_MAX_FAILS
		    || (*end != ',' && *end != '\0')) {
			sim_log("error", "bad fail list: %s", list);
			return (-1);
		}
		fails[n++] = (int)v;
		p = *end == ',' ? end + 1 : end;
	}
	memcpy(m->fails, fails, sizeof(fails));
	m->nfails = n;
	m->fail_next = 0;
	return (0);
}

static int
int_field(json_t *v, const char *name, int *out, char *err, size_t errlen)
{
	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < 0
	    || json_integer_value(v) > 600000) {
		snprintf(err, errlen, "%s: must be an integer >= 0", name);
		return (-1);
	}
	*out = (int)json_integer_value(v);
	return (0);
}

/* POST /sim/mode; nothing changes unless the whole body is valid. */
int
mode_update(const char *body, size_t len, char *err, size_t errlen)
{
	struct sim_mode m = sim.mode;
	json_error_t    jerr;
	json_t         *root, *v;
	const char     *key;
	void           *it;
	int             rv = -1;

	if ((root = json_loadb(body != NULL ? body : "", len, 0, &jerr))
	        == NULL
	    || !json_is_object(root)) {
		snprintf(err, errlen, "body must be a JSON object");
		goto out;
	}
	for (it = json_object_iter(root); it != NULL;
	     it = json_object_iter_next(root, it)) {
		key = json_object_iter_key(it);
		v = json_object_iter_value(it);
		if (strcmp(key, "down") == 0 && json_is_boolean(v))
			m.down = json_is_true(v);
		else if (strcmp(key, "fail") == 0 && json_is_string(v)) {
			if (mode_parse_fails(&m, json_string_value(v)) == -1) {
				snprintf(err, errlen,
				    "fail: a list such as "
				    "\"529,429,500\"");
				goto out;
			}
		} else if (strcmp(key, "latency_ms") == 0) {
			if (int_field(v, key, &m.latency_ms, err, errlen) < 0)
				goto out;
		} else if (strcmp(key, "bad_output") == 0) {
			if (int_field(v, key, &m.bad_output, err, errlen) < 0)
				goto out;
		} else {
			snprintf(err, errlen,
			    "%s: unknown field or wrong "
			    "type",
			    key);
			goto out;
		}
	}
	sim.mode = m;
	sim_log("info",
	    "mode: down=%d fails_left=%d latency_ms=%d "
	    "bad_output=%d",
	    m.down, m.nfails - m.fail_next, m.latency_ms, m.bad_output);
	rv = 0;
out:
	json_decref(root);
	return (rv);
}

/* The status to inject into this request, or 0 for normal service. */
int
mode_take_fault(void)
{
	if (sim.mode.down)
		return (529);
	if (sim.mode.fail_next < sim.mode.nfails)
		return (sim.mode.fails[sim.mode.fail_next++]);
	return (0);
}

/* 0, or the 1-based number of this broken reply. */
int
mode_take_bad_output(void)
{
	if (sim.mode.bad_output <= 0)
		return (0);
	sim.mode.bad_output--;
	return (++sim.mode.bad_given);
}

void
mode_count(int status, enum sim_kind kind)
{
	struct sim_stats *st = &sim.stats;
	int               i;

	st->kind[kind]++;
	if (kind == KIND_CONTROL)
		return;
	st->requests++;
	for (i = 0; i < st->nstatus; i++)
		if (st->status[i] == status)
			break;
	if (i == st->nstatus) {
		if (st->nstatus == SIM_MAX_STATUSES)
			return;
		st->status[st->nstatus++] = status;
	}
	st->status_count[i]++;
}

json_t *
mode_stats_json(void)
{
	struct sim_stats *st = &sim.stats;
	json_t           *by_status, *by_kind;
	char              code[8];
	int               i;

	by_status = json_object();
	for (i = 0; i < st->nstatus; i++) {
		snprintf(code, sizeof(code), "%d", st->status[i]);
		json_object_set_new(
		    by_status, code, json_integer(st->status_count[i]));
	}
	by_kind = json_object();
	for (i = 0; i < KIND_COUNT; i++)
		json_object_set_new(
		    by_kind, kind_names[i], json_integer(st->kind[i]));
	return (json_pack("{s:I, s:o, s:o, s:{s:b, s:i, s:i, s:i}}",
	    "requests", (json_int_t)st->requests, "by_status", by_status,
	    "by_kind", by_kind, "mode", "down", sim.mode.down, "fails_left",
	    sim.mode.nfails - sim.mode.fail_next, "latency_ms",
	    sim.mode.latency_ms, "bad_output", sim.mode.bad_output));
}

/* One JSON line per request; never the API key, only 200 chars of text. */
void
mode_record(const struct sim_req_info *info, int status, enum sim_kind kind)
{
	json_t *line, *names, *t;
	char   *text;
	size_t  i;

	if (sim.record == NULL)
		return;
	names = json_array();
	for (i = 0; i < json_array_size(info->tools); i++) {
		t = json_array_get(info->tools, i);
		json_array_append(names, json_object_get(t, "name"));
	}
	line = json_pack("{s:I, s:s, s:i, s:s, s:s?, s:o, s:I, s:s?}", "ts",
	    (json_int_t)time(NULL), "path", info->path, "status", status,
	    "kind", kind_names[kind], "model", info->model, "tools", names,
	    "messages", (json_int_t)info->nmessages, "last_user",
	    info->last_user);
	if (line == NULL)
		return;
	if ((text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER))
	    != NULL) {
		fprintf(sim.record, "%s\n", text);
		fflush(sim.record); /* tests read it while we run */
		free(text);
	}
	json_decref(line);
}
