/*
 * sim_openai_rules_test - sim-openai refuses what the Realtime API
 * refuses (tests/sim/README.md, docs/providers.md): the beta protocol (an
 * OpenAI-Beta header, a beta field in session.update), a model it does
 * not serve, reasoning on a model without it, an unknown transcription
 * model; and accepts the GA session.update ai-session sends.  This
 * process is the client, over a plain socket with the few lines of
 * RFC 6455 it needs, so that nothing of ours shapes the requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "harness.h"

#define KEY "sk-rules-test"

static struct harness_proc *sim;

static int
setup(void **state)
{
	const char *argv[] = { "--port", "0", "--api-key", KEY, NULL };

	(void)state;
	sim = harness_spawn_args("sim-openai", argv, NULL);
	return (sim != NULL && harness_ready_port(sim) > 0 ? 0 : -1);
}

static int
teardown(void **state)
{
	(void)state;
	return (harness_stop(sim, 5000));
}

/* Opens the socket; -1 unless the upgrade got 101. */
static int
ws_open(const char *model, bool beta)
{
	struct sockaddr_in sa = { 0 };
	struct timeval     tv = { 5, 0 };
	char               req[512], resp[2048];
	size_t             n = 0;
	ssize_t            r;
	int                fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)harness_ready_port(sim));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(req, sizeof(req),
	    "GET /v1/realtime?model=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " KEY
	    "\r\n%s\r\n",
	    model, beta ? "OpenAI-Beta: realtime=v1\r\n" : "");
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	/* byte by byte up to the blank line: frames may follow at once */
	while (n < sizeof(resp) - 1 && (r = read(fd, resp + n, 1)) == 1) {
		n++;
		if (n >= 4 && memcmp(resp + n - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	resp[n] = '\0';
	if (strncmp(resp, "HTTP/1.1 101", 12) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* One text frame, masked (with a zero key, which RFC 6455 allows). */
static void
ws_send(int fd, const char *text)
{
	unsigned char hdr[8];
	size_t        len = strlen(text), h = 0;

	hdr[h++] = 0x81;
	if (len < 126)
		hdr[h++] = (unsigned char)(0x80 | len);
	else {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	}
	memset(hdr + h, 0, 4);
	h += 4;
	assert_int_equal(write(fd, hdr, h), (ssize_t)h);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
}

static int
read_full(int fd, unsigned char *buf, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = read(fd, buf, n)) <= 0)
			return (-1);
		buf += r;
		n -= (size_t)r;
	}
	return (0);
}

/* Reads frames until a text frame containing want: 0; close or
 * timeout first: -1.  *closed is set when a close frame came. */
static int
ws_expect(int fd, const char *want, bool *closed)
{
	unsigned char h[2], ext[8];
	char         *buf;
	uint64_t      len;
	int           i, found;

	for (;;) {
		if (read_full(fd, h, 2) == -1)
			return (-1);
		len = h[1] & 0x7f;
		if (len == 126 || len == 127) {
			if (read_full(fd, ext, len == 126 ? 2 : 8) == -1)
				return (-1);
			len = 0;
			for (i = 0; i < ((h[1] & 0x7f) == 126 ? 2 : 8); i++)
				len = len << 8 | ext[i];
		}
		assert_true(len < 4 * 1024 * 1024);
		buf = calloc(1, (size_t)len + 1);
		assert_non_null(buf);
		if (read_full(fd, (unsigned char *)buf, (size_t)len) == -1) {
			free(buf);
			return (-1);
		}
		if ((h[0] & 0x0f) == 0x8) {
			if (closed != NULL)
				*closed = true;
			free(buf);
			return (-1);
		}
		found = (h[0] & 0x0f) == 0x1 && strstr(buf, want) != NULL;
		free(buf);
		if (found)
			return (0);
	}
}

static const char ga_update[]
    = "{\"type\":\"session.update\",\"session\":{\"type\":\"realtime\","
      "\"output_modalities\":[\"audio\"],\"reasoning\":{\"effort\":"
      "\"low\"},\"audio\":{\"input\":{\"format\":{\"type\":\"audio/pcmu\"},"
      "\"transcription\":{\"model\":\"gpt-realtime-whisper\"}},"
      "\"output\":{\"format\":{\"type\":\"audio/pcmu\"},\"voice\":"
      "\"alloy\"}}}}";

static void
test_ga_update_accepted(void **state)
{
	int fd;

	(void)state;
	assert_true((fd = ws_open("gpt-realtime-2", false)) >= 0);
	assert_int_equal(ws_expect(fd, "\"session.created\"", NULL), 0);
	ws_send(fd, ga_update);
	assert_int_equal(ws_expect(fd, "\"session.updated\"", NULL), 0);
	close(fd);
}

static void
test_beta_header(void **state)
{
	bool closed = false;
	int  fd;

	(void)state;
	assert_true((fd = ws_open("gpt-realtime-2", true)) >= 0);
	assert_int_equal(ws_expect(fd, "beta_api_shape_disabled", NULL), 0);
	assert_int_equal(ws_expect(fd, "\"never\"", &closed), -1);
	assert_true(closed);
	close(fd);
}

static void
test_beta_field(void **state)
{
	int fd;

	(void)state;
	assert_true((fd = ws_open("gpt-realtime-2", false)) >= 0);
	assert_int_equal(ws_expect(fd, "\"session.created\"", NULL), 0);
	ws_send(fd,
	    "{\"type\":\"session.update\",\"session\":{\"type\":"
	    "\"realtime\",\"voice\":\"alloy\"}}");
	assert_int_equal(ws_expect(fd, "beta_api_shape_disabled", NULL), 0);
	close(fd);
}

static void
test_unknown_model(void **state)
{
	bool closed = false;
	int  fd;

	(void)state;
	assert_true((fd = ws_open("gpt-4o-realtime-nope", false)) >= 0);
	assert_int_equal(ws_expect(fd, "model_not_found", NULL), 0);
	assert_int_equal(ws_expect(fd, "\"never\"", &closed), -1);
	assert_true(closed);
	close(fd);
}

static void
test_reasoning_on_old_model(void **state)
{
	int fd;

	(void)state;
	assert_true((fd = ws_open("gpt-realtime-1.5", false)) >= 0);
	assert_int_equal(ws_expect(fd, "\"session.created\"", NULL), 0);
	ws_send(fd, ga_update);
	assert_int_equal(ws_expect(fd, "\"session.reasoning\"", NULL), 0);
	close(fd);
}

static void
test_unknown_transcription_model(void **state)
{
	int fd;

	(void)state;
	assert_true((fd = ws_open("gpt-realtime-2", false)) >= 0);
	assert_int_equal(ws_expect(fd, "\"session.created\"", NULL), 0);
	ws_send(fd,
	    "{\"type\":\"session.update\",\"session\":{\"type\":"
	    "\"realtime\",\"audio\":{\"input\":{\"transcription\":{"
	    "\"model\":\"whisper-9\"}}}}}");
	assert_int_equal(
	    ws_expect(fd, "\"session.audio.input.transcription.model\"", NULL),
	    0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ga_update_accepted),
		cmocka_unit_test(test_beta_header),
		cmocka_unit_test(test_beta_field),
		cmocka_unit_test(test_unknown_model),
		cmocka_unit_test(test_reasoning_on_old_model),
		cmocka_unit_test(test_unknown_transcription_model),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
