/*
 * realtime_fuzz - the OpenAI Realtime server events ai-session reads
 * (rt_openai.c with the fast scanner of oai_json.c), as they arrive on
 * the model's WebSocket.
 *
 * Input: server events separated by 0xFF.  ws.c, the transport under
 * rt_openai.c, is replaced by a loopback: ws_connect() keeps the handler,
 * each event is passed to its message callback in a buffer of exactly
 * its size, and whenever rt_openai.c asks to write, its writeable
 * callback runs and every client event it sends must be a JSON object
 * with a "type".  Ids the model hands us are echoed back the way
 * session.c does (truncate for an audio item, tool output for a tool
 * call), so hostile ids travel the whole way round.  The rt_events
 * callbacks check that every string is there and audio is bounded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "../../services/ai-session/ai.h"
#include "../../services/ai-session/rt.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ws {
	const struct ws_handler *h;
	void                    *arg;
	bool                     want;
};

static struct rt_conn *conn; /* the connection under test */
static struct ws      *sock; /* its socket */
static char            last_item[256], last_call[256];

static void
broken(const char *what)
{
	fprintf(stderr, "fuzz: realtime: %s\n", what);
	abort();
}

/* ---- the loopback transport (ws.c's interface) ---- */

struct ws *
ws_connect(const char *url, const char *bearer, const struct ws_handler *h,
    void *arg, const struct log_ctx *lc)
{
	struct ws *w = calloc(1, sizeof(*w));

	w->h = h;
	w->arg = arg;
	sock = w;
	return (w);
}

void
ws_want_write(struct ws *w)
{
	if (w == NULL)
		broken("want_write on a closed socket");
	w->want = true;
}

int
ws_write(struct ws *w, unsigned char *buf, size_t len)
{
	json_error_t err;
	json_t      *j;

	j = json_loadb((const char *)buf + LWS_PRE, len, 0, &err);
	if (j == NULL || !json_is_object(j)
	    || !json_is_string(json_object_get(j, "type"))) {
		fprintf(stderr, "fuzz: sent: %.*s\n", (int)len,
		    (const char *)buf + LWS_PRE);
		broken("a client event that is not a typed JSON object");
	}
	json_decref(j);
	return (0);
}

/* The loopback socket always takes a write. */
bool
ws_can_write(const struct ws *w)
{
	return (w != NULL);
}

void
ws_close(struct ws *w)
{
	free(w);
}

static void
flush_writes(struct ws *w)
{
	int i;

	for (i = 0; i < 16 && w->want; i++) {
		w->want = false;
		w->h->writeable(w->arg);
	}
}

/* ---- session.c's side, checking what it is handed ---- */

static void
need(const char *s)
{
	if (s == NULL)
		broken("a NULL string in an event");
	(void)strlen(s);
}

static void
ev_ready(void *arg)
{
}

static size_t
ev_pull(void *arg, uint8_t *buf, size_t len, bool *more)
{
	size_t n = len < 160 ? len : 160;

	memset(buf, 0xFF, n);
	*more = false;
	return (n);
}

static void
ev_audio(
    void *arg, const char *item, const char *resp, const uint8_t *p, size_t n)
{
	size_t   i;
	unsigned x = 0;

	need(item);
	need(resp);
	if (n == 0)
		broken("empty audio");
	for (i = 0; i < n; i++)
		x += p[i];
	(void)x;
	snprintf(last_item, sizeof(last_item), "%s", item);
}

static void
ev_audio_done(void *arg, const char *item, const char *resp)
{
	need(item);
	need(resp);
}

static void
ev_void(void *arg)
{
}

static void
ev_resp(void *arg, const char *id)
{
	need(id);
}

static void
ev_resp_done(void *arg, const char *id, const char *status)
{
	need(id);
	need(status);
}

static void
ev_transcript(void *arg, enum rt_role role, const char *item, const char *t)
{
	need(item);
	need(t);
}

static void
ev_tool(void *arg, const char *call_id, const char *name, const char *args)
{
	need(call_id);
	need(name);
	need(args);
	snprintf(last_call, sizeof(last_call), "%s", call_id);
}

static void
ev_error(void *arg, const char *code, const char *msg, bool fatal)
{
	need(code);
	need(msg);
}

static void
ev_closed(void *arg, const char *reason)
{
	broken("closed without a close");
}

static const struct rt_events events = {
	.on_ready = ev_ready,
	.on_pull_audio = ev_pull,
	.on_audio = ev_audio,
	.on_audio_done = ev_audio_done,
	.on_speech_started = ev_void,
	.on_speech_stopped = ev_void,
	.on_response_created = ev_resp,
	.on_response_done = ev_resp_done,
	.on_transcript = ev_transcript,
	.on_tool_call = ev_tool,
	.on_error = ev_error,
	.on_closed = ev_closed,
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_level = getenv("FUZZ_LOG") != NULL ? LOG_LVL_DEBUG : LOG_LVL_FATAL;
	stats_init();
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct rt_session s = { .url = "ws://127.0.0.1:1/v1/realtime",
		.api_key = "sk-fuzz",
		.instructions = "Be brief.",
		.voice = "alloy",
		.transcribe_model = "gpt-realtime-whisper",
		.reasoning_effort = "low",
		.tools = true };
	const struct log_ctx    lc = { "CA00000000000000000000000000000001",
		   "00000000000000000000000000000001" };
	const uint8_t          *p, *end = data + size, *sep;
	char                   *msg;
	size_t                  len;

	if (rt_openai.connect(&conn, &s, &events, NULL, &lc) == -1)
		broken("connect failed");
	sock->h->open(sock->arg);
	flush_writes(sock);
	last_item[0] = last_call[0] = '\0';
	for (p = data; p <= end; p = sep + 1) {
		if ((sep = memchr(p, 0xFF, (size_t)(end - p))) == NULL)
			sep = end;
		len = (size_t)(sep - p);
		msg = malloc(len == 0 ? 1 : len);
		memcpy(msg, p, len);
		sock->h->message(sock->arg, msg, len);
		free(msg);
		if (last_item[0] != '\0')
			(void)rt_openai.truncate(conn, last_item, 120);
		if (last_call[0] != '\0')
			(void)rt_openai.send_tool_output(
			    conn, last_call, "{\"ok\":true}");
		last_item[0] = last_call[0] = '\0';
		rt_openai.audio_available(conn);
		flush_writes(sock);
	}
	rt_openai.close(conn);
	return (0);
}
