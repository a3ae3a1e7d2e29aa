/*
 * xmalloc - allocation that cannot fail.
 *
 * Our own allocations abort the process on OOM after logging (Redis's
 * zmalloc does the same), so call sites never test for NULL.  Library
 * allocations (nng_msg_alloc, PQexec, ...) are still checked where they
 * are made.  Any thread may call these.
 */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
/* Formats into a new string the caller frees. */
char *xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
