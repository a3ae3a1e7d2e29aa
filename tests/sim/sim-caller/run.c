/*
 * sim-caller run - one lws context, one thread, every call.  Calls start
 * spread evenly over --ramp-ms; the run ends when every call has ended,
 * at the hard timeout (ramp + duration + CALLER_GRACE_MS), or on SIGINT /
 * SIGTERM.  Then the stream library's totals become the report.
 *
 * Threads: the main thread runs the lws loop and everything here; a
 * signal thread only sets c->stop and cancels the service wait.
 */
#include <stdlib.h>
#include <string.h>

#include "caller.h"

/*
 * Runs from a sul at the top of lws_service(), before it waits: without the
 * cancel, the wait that follows the last call's end lasts until some other
 * event or timer (up to the hard timeout), and the report comes that late.
 */
static void
call_done(struct stream_call *sc, void *arg)
{
	struct caller *c = arg;

	if (++c->finished >= c->o.calls)
		lws_cancel_service(c->ctx);
}

static void
ramp_cb(lws_sorted_usec_list_t *sul)
{
	struct caller *c = lws_container_of(sul, struct caller, ramp_sul);
	struct stream_call_opts o;
	int64_t                 now = stream_now_us(), at;

	memset(&o, 0, sizeof(o));
	o.url = c->o.url;
	o.params = c->o.params;
	o.done_cb = call_done;
	o.arg = c;
	while (c->started < c->o.calls) {
		at = c->t_start_us
		    + (int64_t)c->o.ramp_ms * 1000 * c->started / c->o.calls;
		if (at > now) {
			lws_sul_schedule(
			    c->ctx, 0, &c->ramp_sul, ramp_cb, at - now);
			return;
		}
		o.id = c->started + 1;
		c->calls[c->started++] = stream_call_new(&c->hub, &o);
	}
}

static void
deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct caller *c = lws_container_of(sul, struct caller, deadline_sul);

	stream_log("warn", "hard timeout: %d of %d calls still open",
	    c->started - c->finished, c->o.calls);
	c->deadline_hit = true;
}

static struct lws_context *
context_new(void)
{
	static const struct lws_protocols protocols[]
	    = { STREAM_PROTOCOL_INIT, { NULL, NULL, 0, 0, 0, NULL, 0 } };
	struct lws_context_creation_info info;
	struct lws_context              *ctx;

	lws_set_log_level(LLL_ERR | LLL_WARN, stream_log_lws);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if ((ctx = lws_create_context(&info)) == NULL)
		stream_log("error", "lws_create_context failed");
	return (ctx);
}

static int
report(struct caller *c, int64_t wall_us)
{
	json_t *r;
	FILE   *f;
	int     rv = 0;

	r = stream_hub_report(&c->hub);
	json_object_set_new(r, "calls", json_integer(c->o.calls));
	json_object_set_new(
	    r, "not_started", json_integer(c->o.calls - c->started));
	json_object_set_new(r, "dialect",
	    json_string(
	        c->cfg.dialect == STREAM_TWILIO ? "twilio" : "signalwire"));
	json_object_set_new(
	    r, "inject", json_string(stream_inject_name(c->cfg.inject)));
	json_object_set_new(r, "tags", json_boolean(c->cfg.tags));
	json_object_set_new(r, "duration_ms", json_integer(c->o.duration_ms));
	json_object_set_new(r, "wall_ms", json_integer(wall_us / 1000));
	json_object_set_new(r, "hard_timeout", json_boolean(c->deadline_hit));
	if (json_dumpf(r, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6)) == 0)
		fputc('\n', stdout);
	fflush(stdout);
	if (c->o.report_path != NULL) {
		if ((f = fopen(c->o.report_path, "w")) == NULL
		    || json_dumpf(
		           r, f, JSON_INDENT(2) | JSON_REAL_PRECISION(6))
		        != 0) {
			stream_log(
			    "error", "cannot write %s", c->o.report_path);
			rv = -1;
		}
		if (f != NULL)
			fclose(f);
	}
	json_decref(r);
	return (rv);
}

static void
loop(struct caller *c)
{
	int64_t limit_us;

	c->t_start_us = stream_now_us();
	limit_us = ((int64_t)c->o.ramp_ms + c->o.duration_ms + c->o.drain_ms
	               + CALLER_GRACE_MS)
	    * 1000;
	lws_sul_schedule(c->ctx, 0, &c->deadline_sul, deadline_cb, limit_us);
	lws_sul_schedule(c->ctx, 0, &c->ramp_sul, ramp_cb, 1);
	stream_log("info", "starting %d calls to %s over %d ms", c->o.calls,
	    c->o.url, c->o.ramp_ms);
	while (!atomic_load(&c->stop) && !c->deadline_hit
	    && c->finished < c->o.calls)
		if (lws_service(c->ctx, 0) < 0)
			break;
	if (atomic_load(&c->stop))
		stream_log("info", "signal: ending the run early");
	lws_sul_cancel(&c->ramp_sul);
	lws_sul_cancel(&c->deadline_sul);
	stream_hub_abort(&c->hub); /* whatever is still open */
}

int
caller_run(struct caller *c, const sigset_t *sigs)
{
	int i, rv = -1;

	if (c->o.record_path != NULL
	    && (c->record = fopen(c->o.record_path, "w")) == NULL) {
		stream_log("error", "cannot open %s", c->o.record_path);
		return (-1);
	}
	c->cfg.record = c->record;
	c->calls = stream_xcalloc((size_t)c->o.calls, sizeof(*c->calls));
	if ((c->ctx = context_new()) == NULL)
		goto out;
	if (stream_sig_start(sigs, c->ctx, &c->stop) == -1)
		goto out;
	stream_hub_init(&c->hub, c->ctx, NULL, &c->cfg);
	loop(c);
	report(c, stream_now_us() - c->t_start_us);
	rv = 0;
out:
	for (i = 0; i < c->started; i++)
		stream_call_free(c->calls[i]); /* before the context goes */
	if (c->ctx != NULL)
		lws_context_destroy(c->ctx);
	if (rv == 0)
		stream_hub_fini(&c->hub);
	free(c->calls);
	if (c->record != NULL)
		fclose(c->record);
	return (rv);
}
