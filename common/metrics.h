/*
 * metrics - the process's Prometheus registry.
 *
 * A family is a metric name with a type, a help text and a fixed list of
 * label names; a series (struct metric) is one combination of label
 * values.  Register families at startup, look series up once, keep the
 * pointer, and update it from any thread:
 *
 *	static struct metric_family *frames;
 *	struct metric *m;
 *
 *	frames = metrics_counter("edge_frames_total", "Media frames.",
 *	    "direction");
 *	m = metric_get(frames, "in");		(stable until metrics_fini)
 *	metric_inc(m);				(lock-free)
 *
 * metrics_render() writes the text exposition format 0.0.4 for GET
 * /metrics, followed by built-in series refreshed on every call:
 * <svc>_build_info{version=".."}, process_start_time_seconds,
 * process_cpu_seconds_total, process_resident_memory_bytes and
 * process_open_fds.
 *
 * Threads: registration, lookup and rendering take one registry mutex;
 * updates are C11 atomics and never lock, so any thread may update while
 * another renders.  Names break promtool's rules only through a
 * programming error, so registration checks them and calls fatalx().
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

/* Most label names a family may have. */
#define METRICS_MAX_LABELS 8
/* Most series per family; later label combinations share one unrendered
 * series and are logged once (a runaway label must not eat the heap). */
#define METRICS_MAX_SERIES 2000

struct metric_family;
struct metric;

/*
 * Name the service for <svc>_build_info (dashes become underscores) and
 * note the process start time.  Call once from main before any thread
 * renders; the strings are copied.
 */
void metrics_init(const char *svc, const char *version);

/*
 * Free every family and series.  Every struct metric and metric_family
 * pointer is invalid afterwards.  Only for tests and the end of main,
 * when no other thread touches metrics.
 */
void metrics_fini(void);

/*
 * Register a family, or return the one already registered under the same
 * name.  labels is a comma-separated list of label names ("result,reason")
 * or NULL for none.  name, help and labels are copied.  A bad name or
 * label name, or a second registration with another type, label list or
 * bucket list, is a programming error: fatalx().  The family lives until
 * metrics_fini().  Any thread; takes the registry mutex.
 *
 * Counters must end in _total and other types must not; names use base
 * units (_seconds, _bytes) as promtool demands.
 */
struct metric_family *metrics_counter(
    const char *name, const char *help, const char *labels);
struct metric_family *metrics_gauge(
    const char *name, const char *help, const char *labels);
/* bounds: the upper bounds of the buckets, finite and strictly rising,
 * without +Inf (always added); copied.  nbounds may be 0. */
struct metric_family *metrics_histogram(const char *name, const char *help,
    const char *labels, const double *bounds, size_t nbounds);

/*
 * Shorthands for families without labels: register (or find) the family
 * and return its only series.
 */
struct metric *metrics_counter1(const char *name, const char *help);
struct metric *metrics_gauge1(const char *name, const char *help);
struct metric *metrics_histogram1(
    const char *name, const char *help, const double *bounds, size_t nbounds);

/*
 * Return the series for these label values, creating it on first use.
 * Pass exactly as many const char * values as the family has label names
 * (none for a family without labels); NULL counts as "".  The values are
 * copied.  The pointer stays valid until metrics_fini(), so hot paths
 * look it up once.  Never returns NULL.  Any thread; takes the registry
 * mutex, so do not call it per audio frame.
 */
struct metric *metric_get(struct metric_family *, ...);
/* The same with the values in an array of length nlabels. */
struct metric *metric_getv(struct metric_family *, const char *const *);

/*
 * Updates.  Any thread, lock-free, never block.  A mismatched operation
 * (set on a counter, observe on a gauge, a negative or NaN counter
 * increment) is ignored and logged once per family.
 */
/* Counter or gauge: add 1. */
void metric_inc(struct metric *);
/* Gauge: subtract 1. */
void metric_dec(struct metric *);
/* Counter (v >= 0) or gauge (any v): add v. */
void metric_add(struct metric *, double v);
/* Gauge: set to v. */
void metric_set(struct metric *, double v);
/* Histogram: count v in the first bucket whose bound is >= v. */
void metric_observe(struct metric *, double v);

/* Current value of a counter or gauge, or the _count of a histogram. */
double metric_value(struct metric *);

/*
 * Render every family in the text exposition format 0.0.4 into a new
 * NUL-terminated string the caller frees; its length is stored in *lenp
 * unless lenp is NULL.  Reads /proc for the process_* series.  Returns
 * NULL (logged) if the buffer cannot be allocated.  Any thread; holds
 * the registry mutex while it walks the families.
 */
char *metrics_render(size_t *lenp);

/*
 * Run fn at the start of every metrics_render(), outside the registry
 * lock, to bring counters kept elsewhere (NNG's statistics) up to date.
 * At most METRICS_COLLECTORS; registering the same fn twice is a no-op;
 * metrics_fini() forgets them.  Start-up only, before any thread renders.
 */
#define METRICS_COLLECTORS 4
void metrics_add_collector(void (*fn)(void));

#endif
