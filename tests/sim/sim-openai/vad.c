/*
 * vad.c - caller audio: base64 decoding, frame tags and a small energy
 * voice activity detector standing in for OpenAI's server VAD.
 *
 * The audio clock is the number of mu-law samples appended so far: 8 per
 * ms, so audio_start_ms/audio_end_ms are what a real server reports for
 * the same bytes.  The VAD decodes mu-law to linear and looks at 10 ms
 * blocks: speech starts after SPEECH_MS of consecutive blocks whose RMS
 * is above the threshold, and stops after silence_duration_ms of blocks
 * below it.  Digital silence (0xFF and 0x7F both decode to 0) is silence;
 * a 440 Hz tone at any ordinary level is speech.  The threshold maps
 * server_vad's 0..1 "threshold" linearly to an RMS of 0..THRESHOLD_RMS.
 *
 * lws service thread only (vad_tables_init: main, at startup).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "oai.h"

#define BLOCK_SAMPLES 80 /* 10 ms */
#define BLOCK_MS 10
#define SPEECH_MS 60
#define THRESHOLD_RMS 1000.0 /* RMS for threshold 1.0; 0.5 is -36 dBFS */

/* G.711 mu-law expansion (ITU-T G.711, as in Sun's g711.c). */
static int16_t
ulaw_to_linear(uint8_t u)
{
	int t;

	u = (uint8_t)~u;
	t = ((u & 0x0f) << 3) + 0x84;
	t <<= (u & 0x70) >> 4;
	return ((int16_t)((u & 0x80) ? 0x84 - t : t - 0x84));
}

void
vad_tables_init(struct sim *sim)
{
	int i;

	for (i = 0; i < 256; i++)
		sim->ulaw[i] = ulaw_to_linear((uint8_t)i);
}

int
vad_b64_decode(struct sim *sim, const char *b64, size_t len,
    const unsigned char **outp, size_t *outlenp)
{
	size_t need;
	int    n;

	if (len % 4 != 0 || len > (size_t)OAI_MAX_MESSAGE)
		return (-1);
	need = len / 4 * 3 + 1;
	if (sim->scratch_cap < need) {
		sim->scratch = oai_realloc(sim->scratch, need);
		sim->scratch_cap = need;
	}
	if (len == 0) {
		*outp = sim->scratch;
		*outlenp = 0;
		return (0);
	}
	/* EVP_DecodeBlock ignores padding: it counts '=' as zero bytes. */
	if ((n = EVP_DecodeBlock(
	         sim->scratch, (const unsigned char *)b64, (int)len))
	    < 0)
		return (-1);
	if (b64[len - 1] == '=')
		n--;
	if (b64[len - 2] == '=')
		n--;
	if (n < 0)
		return (-1);
	*outp = sim->scratch;
	*outlenp = (size_t)n;
	return (0);
}

/*
 * sim-caller puts a big-endian uint32 frame counter in the first four
 * bytes of each chunk; they must arrive 1, 2, 3, ... without gaps.
 */
int64_t
vad_tag(struct sess *s, const unsigned char *a, size_t n)
{
	struct tags *t = &s->tags;
	uint32_t     tag;

	if (n < 4)
		return (-1);
	tag = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8
	    | (uint32_t)a[3];
	if (t->count == 0) {
		t->first = tag;
		t->in_order = true;
	} else if (tag != t->last + 1)
		t->in_order = false;
	t->last = tag;
	t->count++;
	return (tag);
}

void
vad_configure(struct vad *v, bool enabled, double threshold, int silence_ms)
{
	v->enabled = enabled;
	v->level = threshold * THRESHOLD_RMS;
	v->silence_ms = silence_ms;
	if (!enabled) {
		v->speaking = false;
		v->loud_ms = v->quiet_ms = 0;
	}
}

/* One 10 ms block ended at now_ms; drive the speech state machine. */
static void
block_done(struct sess *s, bool loud, uint64_t now_ms)
{
	struct vad *v = &s->vad;

	if (!v->speaking) {
		if (!loud) {
			v->loud_ms = 0;
			return;
		}
		if (v->loud_ms == 0)
			v->run_start = now_ms - BLOCK_MS;
		v->loud_ms += BLOCK_MS;
		if (v->loud_ms >= SPEECH_MS) {
			v->speaking = true;
			v->quiet_ms = 0;
			v->speech_start = v->run_start;
			session_speech_started(s, v->speech_start);
		}
		return;
	}
	if (loud) {
		v->quiet_ms = 0;
		return;
	}
	if (v->quiet_ms == 0)
		v->run_start = now_ms - BLOCK_MS;
	v->quiet_ms += BLOCK_MS;
	if (v->quiet_ms >= v->silence_ms) {
		v->speaking = false;
		v->loud_ms = 0;
		session_speech_stopped(s, v->speech_start, v->run_start);
	}
}

void
vad_feed(struct sess *s, const unsigned char *ulaw, size_t n)
{
	struct vad    *v = &s->vad;
	const int16_t *lin = s->sim->ulaw;
	double         x, power;
	size_t         i;

	for (i = 0; i < n; i++) {
		x = lin[ulaw[i]];
		v->blk_sum += x * x;
		v->samples++;
		if (++v->blk_n < BLOCK_SAMPLES)
			continue;
		power = v->blk_sum / BLOCK_SAMPLES;
		v->blk_sum = 0;
		v->blk_n = 0;
		/* mean square against level squared: no sqrt per block */
		if (v->enabled)
			block_done(s, power > v->level * v->level,
			    v->samples / OAI_BYTES_PER_MS);
	}
}
