/*
 * metrics_int - what metrics.c (registry, updates) and metrics_render.c
 * (text format, built-in series) share.  Not for other modules.
 */
#ifndef METRICS_INT_H
#define METRICS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric {
	struct metric_family *fam;
	char                **values; /* one per label name */
	_Atomic uint64_t      bits; /* counter, gauge value */
	_Atomic uint64_t     *counts; /* histogram: nbounds + 1,
	                               * each not cumulative */
	_Atomic uint64_t sum; /* histogram: the double */
	struct metric   *next; /* {metrics_lock} */
};

struct metric_family {
	char                 *name;
	char                 *help;
	enum metric_type      type;
	char                 *labels[METRICS_MAX_LABELS];
	size_t                nlabels;
	double               *bounds; /* nbounds upper bounds */
	size_t                nbounds;
	struct metric        *series; /* {metrics_lock} */
	struct metric       **tail; /* {metrics_lock} */
	size_t                nseries; /* {metrics_lock} */
	struct metric        *overflow; /* {metrics_lock}; hidden */
	atomic_flag           warned; /* misuse logged once */
	struct metric_family *next; /* {metrics_lock} */
};

extern pthread_mutex_t       metrics_lock;
extern struct metric_family *metrics_families; /* {metrics_lock} */
extern const char *const     metrics_type_names[]; /* by metric_type */

double metrics_bits_dbl(uint64_t);
/* snake_case name without ':' ([a-z_][a-z0-9_]*)? */
bool metrics_is_name(const char *);
/* Free what metrics_init() kept; called by metrics_fini(). */
void metrics_render_fini(void);

#endif
