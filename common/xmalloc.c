/*
 * xmalloc - allocation that aborts on OOM; see xmalloc.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static void
oom(size_t n)
{
	/* log.c may itself need memory; write the bare minimum. */
	fprintf(stderr,
	    "{\"level\":\"fatal\",\"msg\":\"out of memory\","
	    "\"bytes\":%zu}\n",
	    n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		oom(n);
	return (p);
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if ((p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size)) == NULL)
		oom(nmemb * size);
	return (p);
}

void *
xrealloc(void *ptr, size_t n)
{
	void *p;

	if ((p = realloc(ptr, n == 0 ? 1 : n)) == NULL)
		oom(n);
	return (p);
}

char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		oom(strlen(s));
	return (p);
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	if ((p = strndup(s, n)) == NULL)
		oom(n);
	return (p);
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char   *p;
	int     n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return (p);
}
