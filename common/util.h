/*
 * util - small helpers that several daemons need and that belong to no
 * other module: the monotonic clock in milliseconds, a deadline for
 * timed waits and the value of a hex digit.  Pure or read-only; any thread.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds: for timeouts and intervals, never
 * for a time of day. */
int64_t util_mono_ms(void);
/* *ts = the clock clk now plus ms: an absolute time for
 * pthread_cond_timedwait() and friends. */
void util_deadline(struct timespec *ts, clockid_t clk, long ms);
/* The value of the hex digit c (either case), or -1. */
int util_hexval(int c);

#endif
