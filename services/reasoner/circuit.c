/*
 * circuit.c - a circuit breaker in front of Anthropic.
 *
 *	CLOSED --threshold consecutive failures--> OPEN
 *	OPEN --open_ms elapsed--> HALF_OPEN (one probe attempt goes out)
 *	HALF_OPEN --probe ok--> CLOSED, --probe failed--> OPEN again
 *
 * While OPEN (and while the half-open probe is out) every other attempt
 * is refused at once, so callers get Error{UNAVAILABLE} in microseconds
 * instead of waiting out a dead upstream.  A probe that never reports (a
 * bug, not a path we take) is given up after open_ms and another is let
 * through.
 *
 * Time comes in as a parameter (monotonic ms) so the unit test drives it
 * with a fake clock.  One mutex; any thread.
 */
#include <pthread.h>

#include "log.h"
#include "reasoner.h"

void
circuit_init(struct circuit *c, int threshold, int64_t open_ms)
{
	pthread_mutex_init(&c->lock, NULL);
	c->state = CIRCUIT_CLOSED;
	c->failures = 0;
	c->opened_ms = 0;
	c->probing = false;
	c->probe_ms = 0;
	c->threshold = threshold > 0 ? threshold : 1;
	c->open_ms = open_ms > 0 ? open_ms : 1;
}

void
circuit_fini(struct circuit *c)
{
	pthread_mutex_destroy(&c->lock);
}

const char *
circuit_name(enum circuit_state s)
{
	switch (s) {
	case CIRCUIT_CLOSED:
		return ("closed");
	case CIRCUIT_OPEN:
		return ("open");
	case CIRCUIT_HALF_OPEN:
		return ("half_open");
	}
	return ("unknown");
}

/* Lock held. */
static void
set_state(struct circuit *c, enum circuit_state s, int64_t now)
{
	if (c->state == s)
		return;
	log_info("anthropic circuit %s -> %s (failures %d)",
	    circuit_name(c->state), circuit_name(s), c->failures);
	c->state = s;
	if (s == CIRCUIT_OPEN)
		c->opened_ms = now;
	if (s != CIRCUIT_HALF_OPEN)
		c->probing = false;
	if (c->on_change != NULL)
		c->on_change(s, c->arg);
}

/* Lock held: OPEN turns HALF_OPEN once the open period is over. */
static void
tick(struct circuit *c, int64_t now)
{
	if (c->state == CIRCUIT_OPEN && now - c->opened_ms >= c->open_ms)
		set_state(c, CIRCUIT_HALF_OPEN, now);
	if (c->state == CIRCUIT_HALF_OPEN && c->probing
	    && now - c->probe_ms >= c->open_ms)
		c->probing = false; /* lost probe: allow another */
}

bool
circuit_allow(struct circuit *c, int64_t now, bool *probe)
{
	bool ok = false, pr = false;

	pthread_mutex_lock(&c->lock);
	tick(c, now);
	switch (c->state) {
	case CIRCUIT_CLOSED:
		ok = true;
		break;
	case CIRCUIT_OPEN:
		break;
	case CIRCUIT_HALF_OPEN:
		if (!c->probing) {
			c->probing = true;
			c->probe_ms = now;
			ok = pr = true;
		}
		break;
	}
	pthread_mutex_unlock(&c->lock);
	*probe = pr;
	return (ok);
}

void
circuit_report(
    struct circuit *c, int64_t now, bool probe, enum circuit_result res)
{
	pthread_mutex_lock(&c->lock);
	tick(c, now);
	if (probe && c->state == CIRCUIT_HALF_OPEN) {
		c->probing = false;
		if (res == CIRCUIT_OK) {
			c->failures = 0;
			set_state(c, CIRCUIT_CLOSED, now);
		} else if (res == CIRCUIT_FAIL)
			set_state(c, CIRCUIT_OPEN, now);
		/* NEUTRAL: the next attempt probes again */
		goto out;
	}
	if (res == CIRCUIT_OK) {
		c->failures = 0;
		if (c->state != CIRCUIT_CLOSED)
			set_state(c, CIRCUIT_CLOSED, now);
	} else if (res == CIRCUIT_FAIL && c->state == CIRCUIT_CLOSED) {
		if (++c->failures >= c->threshold)
			set_state(c, CIRCUIT_OPEN, now);
	}
out:
	pthread_mutex_unlock(&c->lock);
}

enum circuit_state
circuit_get(struct circuit *c, int64_t now)
{
	enum circuit_state s;

	pthread_mutex_lock(&c->lock);
	tick(c, now);
	s = c->state;
	pthread_mutex_unlock(&c->lock);
	return (s);
}
