/*
 * retry.c - when and how long to wait before trying Anthropic again.
 *
 * The rules mirror the official Python SDK (protocols.md 7.4):
 * x-should-retry "true"/"false" wins; otherwise 408, 409, 429 and every
 * status >= 500 (529 "overloaded" included) are retried.  The wait is
 * what the server asked for in retry-after-ms or retry-after (seconds,
 * possibly fractional, or an HTTP date) when that lies in (0, 60] s, else
 * min(0.5 * 2^attempt, 8) s times a jitter factor in (0.75, 1].
 *
 * Pure functions: the clock and the random draw are parameters, so the
 * unit tests can pin them.  Any thread.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "reasoner.h"

#define RETRY_INITIAL_S 0.5
#define RETRY_MAX_S 8.0
#define RETRY_AFTER_MAX_S 60.0

bool
retry_status(long status, const char *should_retry)
{
	if (should_retry != NULL && *should_retry != '\0') {
		if (strcasecmp(should_retry, "true") == 0)
			return (true);
		if (strcasecmp(should_retry, "false") == 0)
			return (false);
		/* anything else: as if absent */
	}
	if (status == 408 || status == 409 || status == 429)
		return (true);
	return (status >= 500);
}

/* A whole string as a finite number, surrounding blanks allowed. */
static int
parse_number(const char *s, double *out)
{
	char  *end;
	double v;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return (-1);
	v = strtod(s, &end);
	if (end == s || !isfinite(v))
		return (-1);
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return (-1);
	*out = v;
	return (0);
}

static double
in_range(double s)
{
	if (s > 0.0 && s <= RETRY_AFTER_MAX_S)
		return (s);
	return (-1.0);
}

double
retry_after(const char *after_ms, const char *after, time_t now)
{
	double v;
	time_t when;

	if (after_ms != NULL && parse_number(after_ms, &v) == 0)
		return (in_range(v / 1000.0));
	if (after == NULL || *after == '\0')
		return (-1.0);
	if (parse_number(after, &v) == 0)
		return (in_range(v));
	/* Not a number: an HTTP date (RFC 9110 IMF-fixdate and friends). */
	if (strpbrk(after, "0123456789") == NULL)
		return (-1.0);
	if ((when = curl_getdate(after, NULL)) == (time_t)-1)
		return (-1.0);
	return (in_range((double)(when - now)));
}

double
retry_backoff(int attempt, double u)
{
	double s;

	if (attempt < 0)
		attempt = 0;
	if (attempt > 30)
		attempt = 30; /* 2^30 is far past the cap already */
	s = RETRY_INITIAL_S * ldexp(1.0, attempt);
	if (s > RETRY_MAX_S)
		s = RETRY_MAX_S;
	if (u < 0.0 || u >= 1.0)
		u = 0.0;
	return (s * (1.0 - 0.25 * u));
}

long
retry_wait_ms(
    int attempt, const char *after_ms, const char *after, time_t now, double u)
{
	double s;

	if ((s = retry_after(after_ms, after, now)) < 0.0)
		s = retry_backoff(attempt, u);
	return ((long)ceil(s * 1000.0));
}
