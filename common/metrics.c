/*
 * metrics - the Prometheus registry: families, series and lock-free
 * updates.  See metrics.h for the API; metrics_render.c writes the text
 * format.
 *
 * One process-wide list of families, guarded by metrics_lock together
 * with each family's list of series.  Series are never freed before
 * metrics_fini(), which is what makes a cached struct metric * safe.
 * Values are doubles kept as their bit patterns in _Atomic uint64_t and
 * changed with compare-and-swap, so updates never lock.  A histogram
 * keeps one non-cumulative count per bucket; the renderer sums them, so
 * its _count always equals its +Inf bucket.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "metrics_int.h"
#include "xmalloc.h"

pthread_mutex_t               metrics_lock = PTHREAD_MUTEX_INITIALIZER;
struct metric_family         *metrics_families; /* {metrics_lock} */
static struct metric_family **families_tail = &metrics_families;

const char *const metrics_type_names[] = { "counter", "gauge", "histogram" };

/*
 * Units promtool rejects as abbreviated or non-base, matched against
 * whole '_'-separated words of a name.
 */
static const char *const bad_units[]
    = { "ms", "us", "ns", "sec", "secs", "msec", "msecs", "usec", "nsec",
	      "milliseconds", "microseconds", "nanoseconds", "minutes",
	      "hours", "days", "kb", "mb", "gb", "kilobytes", "megabytes",
	      "gigabytes", "bits", "percent", "celsius", NULL };

static uint64_t
dbl_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return (u);
}

double
metrics_bits_dbl(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return (d);
}

static void
atomic_add_dbl(_Atomic uint64_t *p, double v)
{
	uint64_t old, new;

	old = atomic_load_explicit(p, memory_order_relaxed);
	do {
		new = dbl_bits(metrics_bits_dbl(old) + v);
	} while (!atomic_compare_exchange_weak_explicit(
	    p, &old, new, memory_order_relaxed, memory_order_relaxed));
}

/* snake_case only: [a-z_][a-z0-9_]*, which also keeps out ':'. */
bool
metrics_is_name(const char *s)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return (false);
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')
		        || *s == '_'))
			return (false);
	}
	return (true);
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return (n >= m && strcmp(s + n - m, suffix) == 0);
}

static bool
has_bad_unit(const char *name)
{
	const char *w, *e;
	size_t      i;

	for (w = name; *w != '\0'; w = (*e == '_') ? e + 1 : e) {
		e = strchr(w, '_');
		if (e == NULL)
			e = w + strlen(w);
		for (i = 0; bad_units[i] != NULL; i++) {
			if (strlen(bad_units[i]) == (size_t)(e - w)
			    && strncmp(w, bad_units[i], (size_t)(e - w)) == 0)
				return (true);
		}
	}
	return (false);
}

static void
check_name(const char *name, enum metric_type type, const char *help)
{
	if (!metrics_is_name(name))
		fatalx("metrics: bad metric name \"%s\"", name ? name : "");
	if (type == METRIC_COUNTER && !has_suffix(name, "_total"))
		fatalx("metrics: counter %s must end in _total", name);
	if (type != METRIC_COUNTER && has_suffix(name, "_total"))
		fatalx("metrics: %s is not a counter: no _total", name);
	if (has_suffix(name, "_bucket") || has_suffix(name, "_count")
	    || has_suffix(name, "_sum") || has_suffix(name, "_build_info")
	    || strncmp(name, "process_", 8) == 0)
		fatalx("metrics: %s uses a reserved suffix or prefix", name);
	if (has_bad_unit(name))
		fatalx("metrics: %s: use base units (seconds, bytes)", name);
	if (help == NULL || *help == '\0')
		fatalx("metrics: %s needs a help text", name);
}

/* Split "a,b" into fam->labels, checking each name. */
static void
parse_labels(struct metric_family *fam, const char *labels)
{
	char  *copy, *p, *comma;
	size_t i;

	if (labels == NULL || *labels == '\0')
		return;
	copy = xstrdup(labels);
	for (p = copy; p != NULL; p = comma) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma++ = '\0';
		if (!metrics_is_name(p) || strncmp(p, "__", 2) == 0
		    || strcmp(p, "le") == 0 || strcmp(p, "quantile") == 0)
			fatalx("metrics: %s: bad label name \"%s\"", fam->name,
			    p);
		for (i = 0; i < fam->nlabels; i++) {
			if (strcmp(fam->labels[i], p) == 0)
				fatalx("metrics: %s: label %s twice",
				    fam->name, p);
		}
		if (fam->nlabels == METRICS_MAX_LABELS)
			fatalx("metrics: %s: too many labels", fam->name);
		fam->labels[fam->nlabels++] = xstrdup(p);
	}
	free(copy);
}

static void
check_bounds(const char *name, const double *bounds, size_t nbounds)
{
	size_t i;

	if (nbounds > 0 && bounds == NULL)
		fatalx("metrics: %s: NULL bounds", name);
	for (i = 0; i < nbounds; i++) {
		if (!isfinite(bounds[i])
		    || (i > 0 && bounds[i] <= bounds[i - 1]))
			fatalx("metrics: %s: bounds must be finite and rise",
			    name);
	}
}

static struct metric *
series_new(struct metric_family *fam, const char *const *values)
{
	struct metric *m;
	size_t         i;

	m = xcalloc(1, sizeof(*m));
	m->fam = fam;
	if (fam->nlabels > 0)
		m->values = xcalloc(fam->nlabels, sizeof(*m->values));
	for (i = 0; values != NULL && i < fam->nlabels; i++)
		m->values[i] = xstrdup(values[i] != NULL ? values[i] : "");
	if (fam->type == METRIC_HISTOGRAM)
		m->counts = xcalloc(fam->nbounds + 1, sizeof(*m->counts));
	return (m);
}

static void
series_free(struct metric *m, size_t nlabels)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; m->values != NULL && i < nlabels; i++)
		free(m->values[i]);
	free(m->values);
	free(m->counts);
	free(m);
}

/* metrics_lock held. */
static struct metric_family *
family_find(const char *name)
{
	struct metric_family *fam;

	for (fam = metrics_families; fam != NULL; fam = fam->next) {
		if (strcmp(fam->name, name) == 0)
			return (fam);
	}
	return (NULL);
}

/* Same type, labels and buckets as an earlier registration? */
static bool
family_same(const struct metric_family *a, const struct metric_family *b)
{
	size_t i;

	if (a->type != b->type || a->nlabels != b->nlabels
	    || a->nbounds != b->nbounds)
		return (false);
	for (i = 0; i < a->nlabels; i++) {
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return (false);
	}
	for (i = 0; i < a->nbounds; i++) {
		if (a->bounds[i] != b->bounds[i])
			return (false);
	}
	return (true);
}

static void
family_free(struct metric_family *fam)
{
	struct metric *m, *next;
	size_t         i;

	for (m = fam->series; m != NULL; m = next) {
		next = m->next;
		series_free(m, fam->nlabels);
	}
	series_free(fam->overflow, fam->nlabels);
	for (i = 0; i < fam->nlabels; i++)
		free(fam->labels[i]);
	free(fam->bounds);
	free(fam->name);
	free(fam->help);
	free(fam);
}

static struct metric_family *
family_register(const char *name, const char *help, enum metric_type type,
    const char *labels, const double *bounds, size_t nbounds)
{
	struct metric_family *fam, *old;

	check_name(name, type, help);
	check_bounds(name, bounds, nbounds);
	fam = xcalloc(1, sizeof(*fam));
	fam->name = xstrdup(name);
	fam->help = xstrdup(help);
	fam->type = type;
	parse_labels(fam, labels);
	if (nbounds > 0) {
		fam->bounds = xcalloc(nbounds, sizeof(*fam->bounds));
		memcpy(fam->bounds, bounds, nbounds * sizeof(*bounds));
	}
	fam->nbounds = nbounds;
	fam->tail = &fam->series;
	atomic_flag_clear(&fam->warned);

	pthread_mutex_lock(&metrics_lock);
	if ((old = family_find(name)) != NULL) {
		pthread_mutex_unlock(&metrics_lock);
		if (!family_same(old, fam))
			fatalx(
			    "metrics: %s registered twice, differently", name);
		family_free(fam);
		return (old);
	}
	if (fam->nlabels == 0) {
		/* Rendered as 0 from the start, not after the first use. */
		fam->series = series_new(fam, NULL);
		fam->tail = &fam->series->next;
		fam->nseries = 1;
	}
	*families_tail = fam;
	families_tail = &fam->next;
	pthread_mutex_unlock(&metrics_lock);
	return (fam);
}

struct metric_family *
metrics_counter(const char *name, const char *help, const char *labels)
{
	return (family_register(name, help, METRIC_COUNTER, labels, NULL, 0));
}

struct metric_family *
metrics_gauge(const char *name, const char *help, const char *labels)
{
	return (family_register(name, help, METRIC_GAUGE, labels, NULL, 0));
}

struct metric_family *
metrics_histogram(const char *name, const char *help, const char *labels,
    const double *bounds, size_t nbounds)
{
	return (family_register(
	    name, help, METRIC_HISTOGRAM, labels, bounds, nbounds));
}

struct metric *
metrics_counter1(const char *name, const char *help)
{
	return (metric_get(metrics_counter(name, help, NULL)));
}

struct metric *
metrics_gauge1(const char *name, const char *help)
{
	return (metric_get(metrics_gauge(name, help, NULL)));
}

struct metric *
metrics_histogram1(
    const char *name, const char *help, const double *bounds, size_t nbounds)
{
	return (
	    metric_get(metrics_histogram(name, help, NULL, bounds, nbounds)));
}

static bool
series_matches(
    const struct metric *m, const char *const *values, size_t nlabels)
{
	size_t i;

	for (i = 0; i < nlabels; i++) {
		if (strcmp(m->values[i], values[i] != NULL ? values[i] : "")
		    != 0)
			return (false);
	}
	return (true);
}

struct metric *
metric_getv(struct metric_family *fam, const char *const *values)
{
	struct metric *m;

	if (fam == NULL)
		fatalx("metrics: metric_get on a NULL family");
	pthread_mutex_lock(&metrics_lock);
	for (m = fam->series; m != NULL; m = m->next) {
		if (series_matches(m, values, fam->nlabels))
			goto out;
	}
	if (fam->nseries >= METRICS_MAX_SERIES) {
		if (fam->overflow == NULL) {
			log_warnx("metrics: %s has %d series; further label "
			          "values are not exported",
			    fam->name, METRICS_MAX_SERIES);
			fam->overflow = series_new(fam, values);
		}
		m = fam->overflow;
		goto out;
	}
	m = series_new(fam, values);
	*fam->tail = m;
	fam->tail = &m->next;
	fam->nseries++;
out:
	pthread_mutex_unlock(&metrics_lock);
	return (m);
}

struct metric *
metric_get(struct metric_family *fam, ...)
{
	const char *values[METRICS_MAX_LABELS];
	va_list     ap;
	size_t      i;

	if (fam == NULL)
		fatalx("metrics: metric_get on a NULL family");
	va_start(ap, fam);
	for (i = 0; i < fam->nlabels; i++)
		values[i] = va_arg(ap, const char *);
	va_end(ap);
	return (metric_getv(fam, values));
}

/* A caller used the wrong operation for the type: say so once. */
static void
misuse(struct metric *m, const char *op)
{
	if (!atomic_flag_test_and_set(&m->fam->warned))
		log_warnx("metrics: %s on %s %s ignored", op,
		    metrics_type_names[m->fam->type], m->fam->name);
}

void
metric_add(struct metric *m, double v)
{
	if (m->fam->type == METRIC_HISTOGRAM
	    || (m->fam->type == METRIC_COUNTER && !(v >= 0))) {
		misuse(m, "add");
		return;
	}
	atomic_add_dbl(&m->bits, v);
}

void
metric_inc(struct metric *m)
{
	metric_add(m, 1.0);
}

void
metric_dec(struct metric *m)
{
	if (m->fam->type != METRIC_GAUGE) {
		misuse(m, "dec");
		return;
	}
	atomic_add_dbl(&m->bits, -1.0);
}

void
metric_set(struct metric *m, double v)
{
	if (m->fam->type != METRIC_GAUGE) {
		misuse(m, "set");
		return;
	}
	atomic_store_explicit(&m->bits, dbl_bits(v), memory_order_relaxed);
}

void
metric_observe(struct metric *m, double v)
{
	const struct metric_family *fam = m->fam;
	size_t                      lo = 0, hi = fam->nbounds, mid;

	if (fam->type != METRIC_HISTOGRAM || isnan(v)) {
		misuse(m, "observe");
		return;
	}
	/* First bound >= v; nbounds means the +Inf bucket. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (fam->bounds[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add_explicit(&m->counts[lo], 1, memory_order_relaxed);
	atomic_add_dbl(&m->sum, v);
}

double
metric_value(struct metric *m)
{
	uint64_t n = 0;
	size_t   i;

	if (m->fam->type != METRIC_HISTOGRAM)
		return (metrics_bits_dbl(
		    atomic_load_explicit(&m->bits, memory_order_relaxed)));
	for (i = 0; i <= m->fam->nbounds; i++)
		n += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
	return ((double)n);
}

void
metrics_fini(void)
{
	struct metric_family *fam, *next;

	pthread_mutex_lock(&metrics_lock);
	for (fam = metrics_families; fam != NULL; fam = next) {
		next = fam->next;
		family_free(fam);
	}
	metrics_families = NULL;
	families_tail = &metrics_families;
	pthread_mutex_unlock(&metrics_lock);
	metrics_render_fini();
}
