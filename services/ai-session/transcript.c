/*
 * transcript.c - the turns of one call, both sides, in the order they
 * became final: the caller's from input transcription, the model's from
 * its output transcript.  Each turn gets the next seq (from 1, or after
 * the last stored turn of a resumed call); persister uses call sid + seq
 * as the idempotency key.  Bounded: a call keeps at most TR_MAX_TURNS
 * turns and TR_MAX_BYTES of text.
 *
 * A transcript belongs to one call: lws service thread while the call
 * runs, then the job thread that writes the call record.
 */
#include <stdlib.h>
#include <string.h>

#include "ai.h"
#include "xmalloc.h"

#define TR_MAX_TURNS 2000
#define TR_MAX_BYTES (256 * 1024)

void
transcript_init(struct transcript *t, uint32_t first_seq)
{
	memset(t, 0, sizeof(*t));
	t->next_seq = first_seq == 0 ? 1 : first_seq;
}

void
transcript_fini(struct transcript *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->turns[i].text);
		free(t->turns[i].item_id);
	}
	free(t->turns);
	memset(t, 0, sizeof(*t));
}

const struct turn *
transcript_add(struct transcript *t, enum rt_role role, const char *item_id,
    const char *text, int64_t at_ms)
{
	struct turn *tu;
	size_t       len;

	if (text == NULL)
		return (NULL);
	while (*text == ' ' || *text == '\n')
		text++;
	if ((len = strlen(text)) == 0 || t->n >= TR_MAX_TURNS
	    || t->bytes + len > TR_MAX_BYTES)
		return (NULL);
	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 16 : t->cap * 2;
		t->turns = xrealloc(t->turns, t->cap * sizeof(*t->turns));
	}
	tu = &t->turns[t->n++];
	tu->seq = t->next_seq++;
	tu->role = role;
	tu->at_ms = at_ms;
	tu->text = xstrdup(text);
	tu->item_id = xstrdup(item_id != NULL ? item_id : "");
	t->bytes += len;
	return (tu);
}

char *
transcript_format(const struct transcript *t)
{
	size_t i, len = 1, off = 0;
	char  *out;

	for (i = 0; i < t->n; i++)
		len += strlen(t->turns[i].text) + 8;
	out = xmalloc(len);
	out[0] = '\0';
	for (i = 0; i < t->n; i++) {
		const struct turn *tu = &t->turns[i];
		const char *who = tu->role == RT_ASSISTANT ? "AI: " : "User: ";
		size_t      wl = strlen(who), tl = strlen(tu->text);

		if (off > 0)
			out[off++] = '\n';
		memcpy(out + off, who, wl);
		memcpy(out + off + wl, tu->text, tl);
		off += wl + tl;
		out[off] = '\0';
	}
	return (out);
}
