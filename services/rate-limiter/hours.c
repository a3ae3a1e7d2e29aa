/*
 * hours - calling-hours windows in the callee's time zone.
 *
 * RATE_LIMIT_CALLING_HOURS="HH:MM-HH:MM" (empty: no window) is the part
 * of the callee's local day in which an outbound call may be placed.
 * The callee's zones come from the number's country calling code (the
 * table below); a country spanning several zones (+1, +61, +52, +55)
 * must be inside the window in every one of them, since the number alone
 * does not say which.  A number of a code not in the table is refused
 * "unknown_time_zone" while a window is set.  Outside the window the
 * check is refused "outside_calling_hours" with retry_after_s the time
 * until the window opens everywhere.
 *
 * Local time comes from the system's tz database through localtime_r()
 * under TZ, which is process-wide: hours_check() holds a mutex while it
 * switches TZ, and nothing else in rate-limiter reads local time (logs
 * are UTC).  Any thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rate-limiter.h"

#define MAX_ZONES 8

struct zones {
	const char *code;
	const char *tz[MAX_ZONES];
};

static const struct zones table[] = {
	{ "1",
	    { "America/St_Johns", "America/Halifax", "America/New_York",
	        "America/Chicago", "America/Denver", "America/Los_Angeles",
	        "America/Anchorage", "Pacific/Honolulu" } },
	{ "44", { "Europe/London" } }, { "353", { "Europe/Dublin" } },
	{ "61",
	    { "Australia/Sydney", "Australia/Adelaide", "Australia/Brisbane",
	        "Australia/Perth" } },
	{ "64", { "Pacific/Auckland" } }, { "91", { "Asia/Kolkata" } },
	{ "49", { "Europe/Berlin" } }, { "33", { "Europe/Paris" } },
	{ "34", { "Europe/Madrid" } }, { "39", { "Europe/Rome" } },
	{ "31", { "Europe/Amsterdam" } }, { "32", { "Europe/Brussels" } },
	{ "46", { "Europe/Stockholm" } }, { "47", { "Europe/Oslo" } },
	{ "45", { "Europe/Copenhagen" } },
	{ "52",
	    { "America/Cancun", "America/Mexico_City", "America/Tijuana" } },
	{ "55", { "America/Sao_Paulo", "America/Manaus" } },
	{ "27", { "Africa/Johannesburg" } }, { "65", { "Asia/Singapore" } },
	{ "81", { "Asia/Tokyo" } }, { "63", { "Asia/Manila" } },
	{ "971", { "Asia/Dubai" } }, { "972", { "Asia/Jerusalem" } },
	{ NULL, { NULL } }
};

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

int
hours_parse(const char *s, struct rl_hours *h)
{
	int a, b, c, d, n = 0;

	memset(h, 0, sizeof(*h));
	if (s == NULL || s[0] == '\0')
		return (0);
	if (sscanf(s, "%2d:%2d-%2d:%2d%n", &a, &b, &c, &d, &n) != 4
	    || s[n] != '\0' || a > 23 || c > 24 || b > 59 || d > 59 || a < 0
	    || b < 0 || c < 0 || d < 0 || (c == 24 && d != 0)
	    || a * 60 + b >= c * 60 + d) {
		log_warnx("RATE_LIMIT_CALLING_HOURS must be HH:MM-HH:MM, "
		          "start before end (e.g. 08:00-21:00)");
		return (-1);
	}
	h->on = true;
	h->start_min = a * 60 + b;
	h->end_min = c * 60 + d;
	return (0);
}

static const struct zones *
zones_of(const char *phone)
{
	const struct zones *z;

	for (z = table; z->code != NULL; z++)
		if (strncmp(phone + 1, z->code, strlen(z->code)) == 0)
			return (z);
	return (NULL);
}

/* Minutes since local midnight in zone tz at now, or -1. */
static int
local_minutes(const char *tz, time_t now)
{
	struct tm   tm;
	const char *old;
	char       *saved;
	int         m = -1;

	pthread_mutex_lock(&tz_lock);
	old = getenv("TZ");
	saved = old != NULL ? strdup(old) : NULL;
	setenv("TZ", tz, 1);
	tzset();
	if (localtime_r(&now, &tm) != NULL)
		m = tm.tm_hour * 60 + tm.tm_min;
	if (saved != NULL)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	pthread_mutex_unlock(&tz_lock);
	free(saved);
	return (m);
}

const char *
hours_check(const struct rl_hours *h, const char *phone, time_t now,
    uint32_t *retry_after_s)
{
	const struct zones *z;
	int                 i, m, wait, most = 0;

	*retry_after_s = 0;
	if (!h->on)
		return (NULL);
	if ((z = zones_of(phone)) == NULL)
		return ("unknown_time_zone");
	for (i = 0; i < MAX_ZONES && z->tz[i] != NULL; i++) {
		if ((m = local_minutes(z->tz[i], now)) < 0)
			return ("unknown_time_zone");
		if (m >= h->start_min && m < h->end_min)
			continue;
		wait = m < h->start_min ? h->start_min - m
		                        : 24 * 60 - m + h->start_min;
		if (wait > most)
			most = wait;
	}
	if (most == 0)
		return (NULL);
	*retry_after_s = (uint32_t)most * 60;
	return ("outside_calling_hours");
}
