/*
 * stream_audio - what the simulated phone "says": a timeline of 20 ms
 * mu-law frames made of silence (0xFF), an audio clip played at given
 * offsets, and 440 Hz test tones.  Built once at startup, then read-only
 * and shared by every call, so frame generation never allocates.
 */
#ifndef STREAM_AUDIO_H
#define STREAM_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAM_FRAME_MS 20
#define STREAM_FRAME_BYTES 160 /* 20 ms of 8 kHz mu-law */
#define STREAM_FRAME_B64 216 /* base64 of one frame */
#define STREAM_SILENCE 0xFF

struct stream_span {
	int64_t at_ms;
	int64_t dur_ms; /* tones only */
};

struct stream_audio {
	unsigned char      *clip; /* mu-law, no header */
	size_t              clip_len;
	struct stream_span *speak; /* where the clip starts */
	size_t              nspeak;
	struct stream_span *tones;
	size_t              ntones;
	unsigned char       tone[8000]; /* 1 s of 440 Hz, loops */
};

/* Fills the tone table; no clip, no spans. */
void stream_audio_init(struct stream_audio *a);

/*
 * Loads the clip: a .wav file (mu-law, or 16-bit PCM converted to mu-law;
 * 8000 Hz mono only) or any other file as raw mu-law bytes.
 * Returns 0, or -1 (logged).
 */
int stream_audio_load(struct stream_audio *a, const char *path);

/* Adds clip start offsets from "X,Y,..." (ms).  Returns 0 or -1 (logged). */
int stream_audio_speak_at(struct stream_audio *a, const char *list);

/* Adds tones from "X:DUR,..." (ms).  Returns 0 or -1 (logged). */
int stream_audio_tone_at(struct stream_audio *a, const char *list);

/*
 * Writes frame k (0-based, covering [20k, 20k + 20) ms of the call) into
 * out.  Returns true if it holds anything but silence.
 */
bool stream_audio_frame(
    const struct stream_audio *a, uint64_t k, unsigned char *out);

/* G.711 mu-law encoding of one 16-bit linear sample. */
unsigned char stream_audio_ulaw(int16_t pcm);

void stream_audio_fini(struct stream_audio *a);

#endif /* STREAM_AUDIO_H */
