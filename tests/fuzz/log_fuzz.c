/*
 * log_fuzz - the logger (common/log.c) with hostile values: a call sid,
 * trace id, service name or message from outside (a bus envelope's ids
 * go into the log context of every request, svc.c).
 *
 * Input: byte 0 the level and options, then svc, call_sid, trace_id and
 * the message, separated by NUL bytes.  The line log_emit() writes is
 * caught (stderr points at a memfd meanwhile; sanitizer reports go to the
 * real stderr) and must be one line of at most 4,096 bytes with no raw
 * control character; when the values are UTF-8 and short enough to fit,
 * it must be a JSON object, and a JSON line must carry exactly the values
 * given, or their beginnings if it says "truncated".
 * log_json_escape() is also run into a buffer of exactly the size it is given.
 *
 * Run with -close_fd_mask=2 (log.flags): libFuzzer then reports through
 * its own copy of stderr, so a crash inside log_emit() is still shown
 * with its artifact.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>
#include <sanitizer/common_interface_defs.h>

#include "log.h"

#define LINE_MAX_BYTES 4096
#define MSG_MAX (LINE_MAX_BYTES / 2 - 1) /* log.c formats into 2 KB */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int  errfd = 2; /* the real stderr */
static int  memfd = -1;
static char out[2 * LINE_MAX_BYTES];

static void
broken(const char *what)
{
	dprintf(errfd, "fuzz: log: %s\nfuzz: line: %s\n", what, out);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if ((errfd = dup(2)) == -1 || (memfd = memfd_create("log", 0)) == -1)
		abort();
	__sanitizer_set_report_fd((void *)(intptr_t)errfd);
	log_level = LOG_LVL_DEBUG;
	return (0);
}

/* What one log_emit() call writes to stderr, NUL-terminated in out. */
static size_t
capture(int level, const struct log_ctx *ctx, int errnum, const char *msg)
{
	int     save = dup(2);
	ssize_t n;

	if (save == -1 || ftruncate(memfd, 0) == -1
	    || lseek(memfd, 0, SEEK_SET) == -1 || dup2(memfd, 2) == -1)
		abort();
	log_emit(level, ctx, errnum, "%s", msg);
	if (dup2(save, 2) == -1)
		abort();
	close(save);
	if ((n = pread(memfd, out, sizeof(out) - 1, 0)) < 0)
		abort();
	out[n] = '\0';
	return ((size_t)n);
}

static bool
utf8(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return (j != NULL);
}

/*
 * key's value: exactly want, or a prefix of it when the line says it was
 * truncated.  always: the key is on every line, even with "" (svc, msg);
 * else it is there when want is not empty, or left out of a cut line.
 */
static void
field(json_t *o, const char *key, const char *want, bool always, bool cut)
{
	const char *got = json_string_value(json_object_get(o, key));

	if (!always && want[0] == '\0') {
		if (got != NULL)
			broken("a field that was not given");
		return;
	}
	if (got == NULL) {
		if (!cut)
			broken("a field left out of a whole line");
		return;
	}
	if (cut ? strncmp(got, want, strlen(got)) != 0
	        : strcmp(got, want) != 0)
		broken("a field with another value");
}

/* Short enough that the line has room for everything: every byte
 * escaped as \u00XX, plus the fixed keys, the time, level and errno. */
static bool
fits(const char *svc, const struct log_ctx *ctx, const char *msg)
{
	size_t n = strlen(svc) + strlen(msg) + strlen(ctx->call_sid)
	    + strlen(ctx->trace_id);

	return (strlen(msg) <= MSG_MAX && 6 * n + 256 < LINE_MAX_BYTES);
}

/*
 * One line of at most 4096 bytes without raw control characters.  If
 * the values are UTF-8 and fit, the line must be a JSON object; whenever
 * it is one, it carries the values given, or (marked "truncated") their
 * beginnings.
 */
static void
check_line(size_t n, const char *svc, const struct log_ctx *ctx,
    const char *msg, int errnum)
{
	json_t *o;
	size_t  i;
	bool    cut;

	if (n == 0 || n > LINE_MAX_BYTES || out[n - 1] != '\n')
		broken("not one line of at most 4096 bytes");
	for (i = 0; i + 1 < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			broken("a raw control character");
	if (!utf8(svc) || !utf8(msg) || !utf8(ctx->call_sid)
	    || !utf8(ctx->trace_id))
		return;
	if ((o = json_loadb(out, n, 0, NULL)) == NULL || !json_is_object(o)) {
		if (fits(svc, ctx, msg))
			broken("a short line that is not a JSON object");
		json_decref(o);
		return;
	}
	cut = json_is_true(json_object_get(o, "truncated"))
	    || strlen(msg) > MSG_MAX;
	field(o, "svc", svc, true, cut);
	field(o, "msg", msg, true, cut);
	field(o, "call_sid", ctx->call_sid, false, cut);
	field(o, "trace_id", ctx->trace_id, false, cut);
	if (errnum != 0 && !cut && json_object_get(o, "err") == NULL)
		broken("no err for an errno");
	json_decref(o);
}

static void
check_escape(const char *s, size_t len)
{
	char  *buf = malloc(len == 0 ? 1 : len);
	size_t n;

	n = log_json_escape(buf, len, s);
	if (len > 0 && (n >= len || buf[n] != '\0' || strlen(buf) != n))
		broken("log_json_escape past its buffer or unterminated");
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char          *copy, *part[4] = { "", "", "", "" }, *p, *end;
	struct log_ctx ctx;
	size_t         i, n;
	int            level, errnum;

	if (size < 1)
		return (0);
	level = data[0] % 5;
	errnum = (data[0] & 0x08) != 0 ? EPIPE : 0;
	copy = malloc(size);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	for (p = copy, end = copy + size - 1, i = 0; i < 4 && p <= end; i++) {
		part[i] = p;
		p += strlen(p) + 1;
	}
	log_init(part[0]);
	ctx.call_sid = part[1];
	ctx.trace_id = part[2];
	if ((data[0] & 0x10) != 0) {
		log_ctx_set(&ctx); /* as svc.c does around a request */
		n = capture(level, NULL, errnum, part[3]);
		log_ctx_set(NULL);
	} else
		n = capture(level, &ctx, errnum, part[3]);
	check_line(n, part[0], &ctx, part[3], errnum);
	check_escape(part[3], (size_t)data[0] * 8);
	log_init("-");
	free(copy);
	return (0);
}
