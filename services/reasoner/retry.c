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
 * The parsing of the server's wish and the backoff are common/http's.
 * Pure functions: the clock and the random draw are parameters, so the
 * unit tests can pin them.  Any thread.
 */
#include <math.h>
#include <strings.h>

#include "http.h"
#include "reasoner.h"

#define RETRY_INITIAL_S 0.5
#define RETRY_MAX_S 8.0

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

long
retry_wait_ms(
    int attempt, const char *after_ms, const char *after, time_t now, double u)
{
	double s;

	if ((s = http_retry_after(after_ms, after, now)) < 0.0)
		s = http_backoff(attempt, RETRY_INITIAL_S, RETRY_MAX_S, u);
	return ((long)ceil(s * 1000.0));
}
