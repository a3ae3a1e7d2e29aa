/*
 * echo.c - --mode echo: every input_audio_buffer.append is answered at
 * once with one response.output_audio.delta carrying the same base64
 * text, under a response_id and item_id fixed per connection.
 *
 * Built for 1,000 sockets x 50 appends/s on one thread, so the hot path
 * does no JSON parsing and no allocation: echo_message() picks "type" and
 * "audio" out of the raw text and the reply is printed straight into a
 * reused queue slot.  It only does so for a flat object without escapes
 * (no '\\' anywhere, no '{' after the first byte); without backslashes no
 * string can contain a quote, so the first "type" or "audio" followed by
 * ':' is a key.  Anything else goes to the JSON path in session.c, which
 * ends in echo_append() as well.  The base64 is still decoded, to count
 * bytes, read frame tags and refuse garbage.
 *
 * Echo mode records nothing per append; totals go in the close record.
 *
 * lws service thread only.
 */
#include <string.h>

#include "oai.h"

#define APPEND_TYPE "input_audio_buffer.append"

static bool
is_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\n' || c == '\r');
}

/* Finds "key" : "value" in buf; -1 if absent or not a plain string. */
static int
find_string(const char *buf, size_t len, const char *key, const char **valp,
    size_t *vlenp)
{
	char        pat[16];
	const char *p, *end = buf + len, *v;
	size_t      plen;

	plen = (size_t)snprintf(pat, sizeof(pat), "\"%s\"", key);
	for (p = buf; (p = memmem(p, (size_t)(end - p), pat, plen)) != NULL;
	     p += plen) {
		v = p + plen;
		while (v < end && is_space(*v))
			v++;
		if (v == end || *v != ':')
			continue;
		for (v++; v < end && is_space(*v); v++)
			;
		if (v == end || *v != '"')
			return (-1);
		v++;
		if ((p = memchr(v, '"', (size_t)(end - v))) == NULL)
			return (-1);
		*valp = v;
		*vlenp = (size_t)(p - v);
		return (0);
	}
	return (-1);
}

int
echo_message(struct sess *s, const char *buf, size_t len)
{
	const char *type, *audio;
	size_t      tlen, alen;

	if (len < 2 || buf[0] != '{' || memchr(buf, '\\', len) != NULL
	    || memchr(buf + 1, '{', len - 1) != NULL)
		return (-1);
	if (find_string(buf, len, "type", &type, &tlen) == -1
	    || tlen != strlen(APPEND_TYPE)
	    || memcmp(type, APPEND_TYPE, tlen) != 0)
		return (-1);
	if (find_string(buf, len, "audio", &audio, &alen) == -1)
		return (-1);
	echo_append(s, audio, alen);
	return (0);
}

void
echo_append(struct sess *s, const char *b64, size_t len)
{
	const unsigned char *pcm;
	unsigned char       *p;
	char                 head[256];
	size_t               n, hlen;

	if (b64 == NULL || vad_b64_decode(s->sim, b64, len, &pcm, &n) == -1) {
		session_error(s, "invalid_value", "audio", NULL,
		    "Invalid 'audio': expected base64-encoded audio bytes.");
		return;
	}
	s->appends++;
	s->in_bytes += n;
	if (s->sim->opt.tags)
		(void)vad_tag(s, pcm, n);
	hlen = (size_t)snprintf(head, sizeof(head),
	    "{\"type\":\"response.output_audio.delta\",\"event_id\":"
	    "\"event_%u_%llu\",\"response_id\":\"resp_echo_%u\","
	    "\"item_id\":\"item_echo_%u\",\"output_index\":0,"
	    "\"content_index\":0,\"delta\":\"",
	    s->conn, (unsigned long long)++s->nevent, s->conn, s->conn);
	if ((p = server_reserve(s, hlen + len + 2)) == NULL)
		return; /* queue full: counted as a drop */
	memcpy(p, head, hlen);
	memcpy(p + hlen, b64, len);
	memcpy(p + hlen + len, "\"}", 2);
	server_commit(s, hlen + len + 2);
}
