/*
 * sim-caller - many simulated phone calls against a media-stream endpoint
 * (the bridge's /media), all in one lws context on one thread, then one
 * JSON report.  main.c reads the command line; run.c runs the calls.
 */
#ifndef CALLER_H
#define CALLER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "stream.h"

#define CALLER_GRACE_MS 30000 /* hard timeout past ramp + duration */

struct caller_opts {
	const char *url;
	int         calls;
	int         duration_ms;
	int         ramp_ms;
	int         drain_ms;
	const char *record_path;
	const char *report_path;
	const char *public_url; /* signed when sig_key is given */
	json_t     *params; /* extra customParameters (--param) */
};

struct caller {
	struct caller_opts     o;
	struct stream_cfg      cfg;
	struct stream_audio    audio;
	struct stream_hub      hub;
	struct lws_context    *ctx;
	struct stream_call   **calls;
	int                    started, finished;
	int64_t                t_start_us;
	lws_sorted_usec_list_t ramp_sul;
	lws_sorted_usec_list_t deadline_sul;
	bool                   deadline_hit;
	atomic_int             stop; /* set by the signal thread */
	FILE                  *record;
};

/* run.c */

/*
 * Creates the context, runs every call to its end (or the hard timeout or
 * a signal), prints the report on stdout (and to report_path) and frees
 * everything.  Returns 0 when the run happened (calls may have failed),
 * -1 when it could not start (logged).  Main thread; blocks.
 */
int caller_run(struct caller *c, const sigset_t *sigs);

#endif /* CALLER_H */
