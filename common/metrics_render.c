/*
 * metrics_render - the text exposition format 0.0.4 and the built-in
 * series (build info, process_*).  See metrics.h.
 *
 * metrics_render() walks the registry under metrics_lock, reading every
 * value with a relaxed atomic load, so writers are never held up.  The
 * process_* series are read from /proc on each call, outside the lock:
 * /proc reads do not block on I/O, so this is safe on an event loop.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "metrics_int.h"
#include "xmalloc.h"

/* All three {metrics_lock}. */
static char  *build_name; /* "<svc>_build_info" */
static char  *build_version;
static double start_time; /* unix seconds */

/* Process start from /proc (kernel boot time + start ticks), else now. */
static double
proc_start_time(void)
{
	char               buf[1024], *p;
	FILE              *f;
	unsigned long long ticks = 0;
	long long          btime = -1;
	int                i;

	if ((f = fopen("/proc/stat", "r")) != NULL) {
		while (fgets(buf, sizeof(buf), f) != NULL) {
			if (strncmp(buf, "btime ", 6) == 0)
				btime = strtoll(buf + 6, NULL, 10);
		}
		fclose(f);
	}
	if ((f = fopen("/proc/self/stat", "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL
		    && (p = strrchr(buf, ')')) != NULL) {
			/* Field 3 follows ") "; starttime is field 22. */
			for (i = 3, p += 2; i < 22 && p != NULL; i++) {
				if ((p = strchr(p, ' ')) != NULL)
					p++;
			}
			if (p != NULL)
				ticks = strtoull(p, NULL, 10);
		}
		fclose(f);
	}
	if (btime < 0 || ticks == 0)
		return ((double)time(NULL));
	return ((double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK));
}

void
metrics_init(const char *svc, const char *version)
{
	char *name, *p;

	name = xasprintf("%s_build_info", svc);
	for (p = name; *p != '\0'; p++) {
		if (*p == '-')
			*p = '_';
	}
	if (!metrics_is_name(name))
		fatalx("metrics: bad service name \"%s\"", svc);
	pthread_mutex_lock(&metrics_lock);
	free(build_name);
	free(build_version);
	build_name = name;
	build_version = xstrdup(version != NULL ? version : "unknown");
	start_time = proc_start_time();
	pthread_mutex_unlock(&metrics_lock);
}

/* Functions run before each render; they use families that
 * metrics_fini() frees, so it forgets them too. */
static void (*collectors[METRICS_COLLECTORS])(void);

void
metrics_render_fini(void)
{
	pthread_mutex_lock(&metrics_lock);
	free(build_name);
	free(build_version);
	build_name = build_version = NULL;
	start_time = 0;
	memset(collectors, 0, sizeof(collectors));
	pthread_mutex_unlock(&metrics_lock);
}

/* Shortest text that reads back as v, in Prometheus's spelling. */
static const char *
fmt_double(char *buf, size_t len, double v)
{
	if (isnan(v))
		return ("NaN");
	if (isinf(v))
		return (v > 0 ? "+Inf" : "-Inf");
	snprintf(buf, len, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, len, "%.17g", v);
	return (buf);
}

/* HELP text escapes \ and newline; label values also escape ". */
static void
put_escaped(FILE *f, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

static void
put_header(FILE *f, const char *name, const char *help, const char *type)
{
	fprintf(f, "# HELP %s ", name);
	put_escaped(f, help, false);
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

/* name{l1="v1",...[,le="x"]} with the braces left out if empty. */
static void
put_series(FILE *f, const char *name, const char *suffix,
    const struct metric *m, const char *le)
{
	const struct metric_family *fam = m->fam;
	size_t                      i;

	fprintf(f, "%s%s", name, suffix);
	if (fam->nlabels == 0 && le == NULL)
		return;
	fputc('{', f);
	for (i = 0; i < fam->nlabels; i++) {
		fprintf(f, "%s%s=\"", i > 0 ? "," : "", fam->labels[i]);
		put_escaped(f, m->values[i], true);
		fputc('"', f);
	}
	if (le != NULL)
		fprintf(f, "%sle=\"%s\"", fam->nlabels > 0 ? "," : "", le);
	fputc('}', f);
}

static void
render_histogram(FILE *f, const struct metric *m)
{
	const struct metric_family *fam = m->fam;
	char                        b[32], v[32];
	uint64_t                    cum = 0;
	size_t                      i;

	for (i = 0; i <= fam->nbounds; i++) {
		cum += atomic_load_explicit(
		    &m->counts[i], memory_order_relaxed);
		put_series(f, fam->name, "_bucket", m,
		    i < fam->nbounds ? fmt_double(b, sizeof(b), fam->bounds[i])
		                     : "+Inf");
		fprintf(f, " %" PRIu64 "\n", cum);
	}
	put_series(f, fam->name, "_sum", m, NULL);
	fprintf(f, " %s\n",
	    fmt_double(v, sizeof(v),
	        metrics_bits_dbl(
	            atomic_load_explicit(&m->sum, memory_order_relaxed))));
	put_series(f, fam->name, "_count", m, NULL);
	fprintf(f, " %" PRIu64 "\n", cum);
}

/* metrics_lock held. */
static void
render_family(FILE *f, const struct metric_family *fam)
{
	const struct metric *m;
	char                 v[32];

	put_header(f, fam->name, fam->help, metrics_type_names[fam->type]);
	for (m = fam->series; m != NULL; m = m->next) {
		if (fam->type == METRIC_HISTOGRAM) {
			render_histogram(f, m);
			continue;
		}
		put_series(f, fam->name, "", m, NULL);
		fprintf(f, " %s\n",
		    fmt_double(v, sizeof(v),
		        metrics_bits_dbl(atomic_load_explicit(
		            &m->bits, memory_order_relaxed))));
	}
}

static void
put_value(FILE *f, const char *name, const char *help, const char *type,
    double value)
{
	char v[32];

	put_header(f, name, help, type);
	fprintf(f, "%s %s\n", name, fmt_double(v, sizeof(v), value));
}

/* Entries of /proc/self/fd, less the one opendir() holds; -1 if unread. */
static int
count_open_fds(void)
{
	DIR           *d;
	struct dirent *de;
	int            n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return (n - 1);
}

/* CPU seconds and resident bytes from /proc/self/{stat,statm}. */
static void
render_process(FILE *f)
{
	char               buf[1024], *p;
	FILE              *pf;
	unsigned long long utime, stime, pages;
	int                i, fds;

	if ((pf = fopen("/proc/self/stat", "r")) != NULL) {
		if (fgets(buf, sizeof(buf), pf) != NULL
		    && (p = strrchr(buf, ')')) != NULL) {
			/* Field 3 follows ") "; utime, stime are 14, 15. */
			for (i = 3, p += 2; i < 14 && p != NULL; i++) {
				if ((p = strchr(p, ' ')) != NULL)
					p++;
			}
			if (p != NULL
			    && sscanf(p, "%llu %llu", &utime, &stime) == 2)
				put_value(f, "process_cpu_seconds_total",
				    "Total user and system CPU time spent in "
				    "seconds.",
				    "counter",
				    (double)(utime + stime)
				        / (double)sysconf(_SC_CLK_TCK));
		}
		fclose(pf);
	}
	if ((pf = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(pf, "%*u %llu", &pages) == 1)
			put_value(f, "process_resident_memory_bytes",
			    "Resident memory size in bytes.", "gauge",
			    (double)pages * (double)sysconf(_SC_PAGESIZE));
		fclose(pf);
	}
	if ((fds = count_open_fds()) >= 0)
		put_value(f, "process_open_fds",
		    "Number of open file descriptors.", "gauge", fds);
}

/* metrics_lock held. */
static void
render_builtin(FILE *f)
{
	if (start_time == 0)
		start_time = proc_start_time();
	put_value(f, "process_start_time_seconds",
	    "Start time of the process since unix epoch in seconds.", "gauge",
	    start_time);
	if (build_name == NULL)
		return;
	put_header(f, build_name, "Build information; always 1.", "gauge");
	fprintf(f, "%s{version=\"", build_name);
	put_escaped(f, build_version, true);
	fputs("\"} 1\n", f);
}

void
metrics_add_collector(void (*fn)(void))
{
	int i;

	for (i = 0; i < METRICS_COLLECTORS; i++) {
		if (collectors[i] == fn)
			return;
		if (collectors[i] == NULL) {
			collectors[i] = fn;
			return;
		}
	}
	fatalx("metrics: more than %d collectors", METRICS_COLLECTORS);
}

char *
metrics_render(size_t *lenp)
{
	const struct metric_family *fam;
	FILE                       *f;
	char                       *buf = NULL;
	size_t                      len = 0;

	for (int i = 0; i < METRICS_COLLECTORS && collectors[i] != NULL; i++)
		collectors[i]();
	if ((f = open_memstream(&buf, &len)) == NULL) {
		log_warn("metrics: open_memstream");
		return (NULL);
	}
	pthread_mutex_lock(&metrics_lock);
	for (fam = metrics_families; fam != NULL; fam = fam->next)
		render_family(f, fam);
	render_builtin(f);
	pthread_mutex_unlock(&metrics_lock);
	render_process(f);
	if (fclose(f) != 0) {
		log_warn("metrics: render");
		free(buf);
		return (NULL);
	}
	if (lenp != NULL)
		*lenp = len;
	return (buf);
}
