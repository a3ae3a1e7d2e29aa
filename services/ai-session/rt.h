/*
 * rt - the one interface between a call and its realtime speech model.
 *
 * A provider (rt_openai.c: the OpenAI Realtime API over a WebSocket)
 * implements struct rt_provider; session.c drives a call only through it
 * and learns what the model does only through struct rt_events.  Adding
 * another realtime provider means writing one more rt_<name>.c and
 * choosing it in session.c; nothing else changes.
 *
 * Caller audio is pulled, not pushed: the call keeps the bounded queue of
 * caller frames (it also holds the audio that arrives before the model is
 * configured) and tells the provider with audio_available(); once the
 * provider is configured and can write, it takes frames one at a time with
 * events->pull_audio(), in order.  So no frame is copied twice and nothing
 * is sent before the session is ready.
 *
 * Threads: every function here and every event runs on the lws service
 * thread (loop.c).  After close() the provider calls no event again.
 * A struct rt_events is filled by field name (.on_ready = fn, ...), so a
 * new event cannot shift the others.
 */
#ifndef RT_H
#define RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct log_ctx;
struct rt_conn;

enum rt_role { RT_USER, RT_ASSISTANT };

/* What to configure at session start; strings are copied by connect(). */
/* Tokens of one model response (Realtime response.done `usage`). */
struct rt_usage {
	uint64_t input, output; /* every kind */
	uint64_t input_audio, output_audio, cached; /* of those */
};

struct rt_session {
	const char *url; /* provider endpoint (ws:// or wss://) */
	const char *api_key; /* secret; never logged */
	const char *instructions;
	const char *voice;
	const char *language; /* NULL or "": transcription guesses */
	const char *transcribe_model; /* NULL or "": no transcription */
	const char *reasoning_effort; /* NULL or "": not sent */
	bool        tools; /* declare consult_reasoner, end_call */
};

struct rt_events {
	/* The session is configured: audio may flow. */
	void (*on_ready)(void *arg);
	/* Copy the oldest queued caller frame into buf; return its length,
	 * 0 when the queue is empty.  *more: frames are left after it. */
	size_t (*on_pull_audio)(
	    void *arg, uint8_t *buf, size_t len, bool *more);
	/* A chunk of model audio (raw mu-law) for item_id of resp_id. */
	void (*on_audio)(void *arg, const char *item_id, const char *resp_id,
	    const uint8_t *ulaw, size_t n);
	/* The model finished (or stopped) the audio of item_id. */
	void (*on_audio_done)(
	    void *arg, const char *item_id, const char *resp_id);
	void (*on_speech_started)(void *arg);
	void (*on_speech_stopped)(void *arg);
	void (*on_response_created)(void *arg, const char *resp_id);
	/* status: completed, cancelled, failed, incomplete. */
	void (*on_response_done)(
	    void *arg, const char *resp_id, const char *status);
	/* A finished turn of either side. */
	void (*on_transcript)(
	    void *arg, enum rt_role, const char *item_id, const char *text);
	/* The model called a tool; args is a JSON text. */
	void (*on_tool_call)(void *arg, const char *call_id, const char *name,
	    const char *args);
	/* An error event from the model; fatal: the session cannot go on. */
	void (*on_error)(
	    void *arg, const char *code, const char *message, bool fatal);
	/* The model socket went away (not after close()). */
	void (*on_closed)(void *arg, const char *reason);
	/* A response's token usage (response.done); may be NULL. */
	void (*on_usage)(void *arg, const struct rt_usage *);
};

struct rt_provider {
	const char *name;
	/* Start connecting; events arrive later.  -1 (logged) on failure. */
	int (*connect)(struct rt_conn **, const struct rt_session *,
	    const struct rt_events *, void *arg, const struct log_ctx *);
	/* The call queued caller audio: pull it when the session allows. */
	void (*audio_available)(struct rt_conn *);
	/* Cut item_id to what the caller heard (ms >= 0, clamped by the
	 * caller to the audio received for that item). */
	int (*truncate)(struct rt_conn *, const char *item_id, unsigned ms);
	/* The result of a tool call (output: JSON text). */
	int (*send_tool_output)(
	    struct rt_conn *, const char *call_id, const char *output);
	/* Ask the model to speak now; instructions NULL: as configured. */
	int (*request_response)(struct rt_conn *, const char *instructions);
	/* Add a system note to the conversation (no response by itself). */
	int (*add_system_text)(struct rt_conn *, const char *text);
	/* Add what the caller said otherwise (keys pressed) as their turn. */
	int (*add_user_text)(struct rt_conn *, const char *text);
	/* Close and free; no event is called afterwards. */
	void (*close)(struct rt_conn *);
};

extern const struct rt_provider rt_openai;

#endif
