/*
 * record.c - the --record file: one JSON object per line, appended and
 * flushed line by line so a test can read it while the simulator runs.
 *
 * Every line has "ts_ms" (monotonic, from start), "conn" (0 when no
 * connection exists yet), "dir" and "type":
 *   "dir":"in"   a client event, with its "event_id" and the fields that
 *                matter (audio appends: "bytes" and "tag", never audio);
 *   "dir":"sim"  something the simulator did or decided: connection
 *                opened/closed with totals, error sent, barge-in,
 *                truncate accepted or rejected, responses started/done.
 *
 * Writing a line is blocking file I/O on the lws thread; acceptable for a
 * test peer, whose lines are short and whose disk is local.
 *
 * lws service thread only (record_open/close: main, before and after).
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "oai.h"

static FILE *rec;

int
record_open(struct sim *sim, const char *path)
{
	if ((rec = fopen(path, "a")) == NULL) {
		oai_log("error", "cannot open record file %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

void
record_close(struct sim *sim)
{
	if (rec != NULL)
		fclose(rec);
	rec = NULL;
}

static void
emit(json_t *line, json_t *fields)
{
	if (line == NULL) {
		oai_log("error", "cannot build a record line");
		json_decref(fields);
		return;
	}
	if (json_is_object(fields))
		json_object_update(line, fields);
	json_decref(fields);
	if (json_dumpf(line, rec, JSON_COMPACT) == 0)
		fputc('\n', rec);
	fflush(rec);
	json_decref(line);
}

void
record_client(
    struct sess *s, const char *type, const char *event_id, json_t *fields)
{
	json_t *line;

	if (rec == NULL) {
		json_decref(fields);
		return;
	}
	line = json_pack("{s:I, s:I, s:s, s:s, s:s?}", "ts_ms",
	    (json_int_t)oai_now_ms(), "conn", (json_int_t)s->conn, "dir", "in",
	    "type", type, "event_id", event_id);
	emit(line, fields);
}

void
record_fact(struct sess *s, const char *type, const char *fmt, ...)
{
	json_error_t jerr;
	json_t      *line, *fields = NULL;
	va_list      ap;

	if (rec == NULL)
		return;
	if (fmt != NULL) {
		va_start(ap, fmt);
		fields = json_vpack_ex(&jerr, 0, fmt, ap);
		va_end(ap);
		if (fields == NULL)
			oai_log("error", "record %s: %s", type, jerr.text);
	}
	line = json_pack("{s:I, s:I, s:s, s:s}", "ts_ms",
	    (json_int_t)oai_now_ms(), "conn",
	    (json_int_t)(s != NULL ? s->conn : 0), "dir", "sim", "type", type);
	emit(line, fields);
}
