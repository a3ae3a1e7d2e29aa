/*
 * dtmf - telephone keys as in-band tones (G.711 mu-law, 8 kHz) and a
 * Goertzel detector for them.
 *
 * A key is its row and column frequencies (697/770/852/941 Hz and
 * 1209/1336/1477/1633 Hz) together for DTMF_TONE_MS, then DTMF_GAP_MS of
 * silence; `w` is DTMF_PAUSE_MS of silence.  The detector takes mu-law
 * in any chunk sizes and reports each key once, when its tone has lasted
 * two 205-sample blocks; speech, noise and single tones are not keys.
 *
 * Pure functions and caller-owned state; any thread may call them.
 */
#ifndef DTMF_H
#define DTMF_H

#include <stdbool.h>
#include <stddef.h>

#define DTMF_RATE 8000
#define DTMF_TONE_MS 100
#define DTMF_GAP_MS 100
#define DTMF_PAUSE_MS 500
#define DTMF_KEYS_MAX 32 /* in one dtmf_digits_ok string */
#define DTMF_SILENCE 0xFF /* mu-law zero */

/* True when digits is 1 to DTMF_KEYS_MAX of 0-9 * # A-D and w. */
bool dtmf_digits_ok(const char *digits);
/* The mu-law bytes the tones of digits take (0 when not ok). */
size_t dtmf_tones_len(const char *digits);
/* The tones of digits into out (cap bytes): the length, or 0 when the
 * digits are not ok or cap is too small. */
size_t dtmf_tones(const char *digits, unsigned char *out, size_t cap);
/* G.711 mu-law of one 16-bit sample, and back. */
unsigned char dtmf_ulaw(int pcm);
int           dtmf_linear(unsigned char ulaw);

#define DTMF_BLOCK 205 /* samples per Goertzel block */

struct dtmf_det {
	double   x[DTMF_BLOCK];
	unsigned n; /* samples in x */
	char     cand; /* key of the last block, or 0 */
	unsigned run; /* blocks cand has lasted */
	bool     reported; /* cand was reported */
	char     keys[64]; /* keys heard, NUL-terminated; the oldest kept */
	size_t   nkeys;
};

void dtmf_det_init(struct dtmf_det *);
/* Feed n mu-law bytes; keys heard are appended to d->keys.  The number of
 * new keys. */
unsigned dtmf_det_feed(struct dtmf_det *, const unsigned char *ulaw, size_t n);

#endif
