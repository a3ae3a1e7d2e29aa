/*
 * barge_test - the barge-in bookkeeping of ai-session (barge.c): mark
 * names, echoes raising what was played, the truncate value and its
 * clamping, stale marks after a clear, late deltas of an interrupted
 * response, and the frame ring (ring.c) that holds caller audio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../services/ai-session/ai.h"

#define MS(n) ((size_t)(n)*8) /* mu-law bytes for n ms */

/* Feed n ms of audio in 20 ms chunks; returns the last mark name. */
static int
feed(struct barge *b, const char *item, const char *resp, int ms,
    char marks[][AI_MARK_MAX], int max)
{
	char mark[AI_MARK_MAX];
	int  n = 0, i;

	for (i = 0; i < ms / 20; i++) {
		enum barge_verdict v
		    = barge_delta(b, item, resp, MS(20), mark, sizeof(mark));

		assert_int_not_equal(v, BARGE_DROP);
		if (v == BARGE_PLAY_MARK && n < max)
			snprintf(marks[n++], AI_MARK_MAX, "%s", mark);
	}
	return (n);
}

static void
test_mark_names(void **state)
{
	struct barge b;
	char         marks[16][AI_MARK_MAX], mark[AI_MARK_MAX];
	int          n;

	(void)state;
	barge_init(&b, 100);
	n = feed(&b, "item_A", "resp_1", 300, marks, 16);
	assert_int_equal(n, 3); /* one per 100 ms */
	assert_string_equal(marks[0], "g0:m1:p100:item_A");
	assert_string_equal(marks[2], "g0:m3:p300:item_A");
	assert_int_equal(
	    barge_audio_done(&b, "item_A", "resp_1", mark, sizeof(mark)), 1);
	assert_string_equal(mark, "g0:m4:d300:item_A");
	/* done twice: one mark only */
	assert_int_equal(
	    barge_audio_done(&b, "item_A", "resp_1", mark, sizeof(mark)), 0);
	/* mark_min 0: a mark after every chunk */
	barge_init(&b, 0);
	assert_int_equal(feed(&b, "item_B", "resp_2", 100, marks, 16), 5);
}

static void
test_echoes_and_pending(void **state)
{
	struct barge b;
	char         marks[16][AI_MARK_MAX], done[AI_MARK_MAX];

	(void)state;
	barge_init(&b, 100);
	assert_false(barge_pending(&b));
	feed(&b, "item_A", "resp_1", 200, marks, 16);
	assert_true(barge_pending(&b));
	barge_audio_done(&b, "item_A", "resp_1", done, sizeof(done));
	assert_int_equal(barge_echo(&b, marks[0]), BARGE_ECHO_OK);
	assert_int_equal(b.items[0].played_ms, 100);
	/* a duplicate echo changes nothing */
	assert_int_equal(barge_echo(&b, marks[0]), BARGE_ECHO_STALE);
	/* the item is done and its last audio has played: all heard, so
	 * the item is forgotten and its "d" echo finds nothing */
	assert_int_equal(barge_echo(&b, marks[1]), BARGE_ECHO_OK);
	assert_false(barge_pending(&b));
	assert_int_equal(barge_echo(&b, done), BARGE_ECHO_STALE);
	/* the usual order: the "d" echo ends the item */
	feed(&b, "item_B", "resp_2", 150, marks, 16);
	barge_audio_done(&b, "item_B", "resp_2", done, sizeof(done));
	assert_int_equal(barge_echo(&b, marks[0]), BARGE_ECHO_OK);
	assert_true(barge_pending(&b)); /* 50 ms still to play */
	assert_int_equal(barge_echo(&b, done), BARGE_ECHO_OK);
	assert_false(barge_pending(&b));
	/* speech now is just the caller's next turn */
	{
		struct barge_trunc tr[BARGE_TRUNC_MAX];

		assert_int_equal(barge_interrupt(&b, tr, BARGE_TRUNC_MAX), 0);
	}
	/* names that are not ours */
	assert_int_equal(barge_echo(&b, "responsePart"), BARGE_ECHO_BAD);
	assert_int_equal(barge_echo(&b, "g0:mx:p1:i"), BARGE_ECHO_BAD);
	assert_int_equal(barge_echo(&b, "g0:m1:q1:i"), BARGE_ECHO_BAD);
	assert_int_equal(barge_echo(&b, "g0:m1:p1:"), BARGE_ECHO_BAD);
	assert_int_equal(barge_echo(&b, NULL), BARGE_ECHO_BAD);
	assert_int_equal(barge_echo(&b, "g0:m99999999999999999999:p1:item_A"),
	    BARGE_ECHO_BAD);
}

static void
test_truncate_value(void **state)
{
	struct barge       b;
	struct barge_trunc tr[BARGE_TRUNC_MAX];
	char               marks[64][AI_MARK_MAX];
	int                n;

	(void)state;
	barge_init(&b, 100);
	barge_response_created(&b, "resp_1");
	n = feed(&b, "item_A", "resp_1", 1000, marks, 64);
	assert_int_equal(n, 10);
	/* the caller heard 400 ms */
	assert_int_equal(barge_echo(&b, marks[3]), BARGE_ECHO_OK);
	n = barge_interrupt(&b, tr, BARGE_TRUNC_MAX);
	assert_int_equal(n, 1);
	assert_string_equal(tr[0].item_id, "item_A");
	assert_int_equal(tr[0].ms, 400);
	assert_false(barge_pending(&b));
}

static void
test_truncate_nothing_heard(void **state)
{
	struct barge       b;
	struct barge_trunc tr[BARGE_TRUNC_MAX];
	char               marks[8][AI_MARK_MAX];

	(void)state;
	/* audio sent, no echo yet: truncate at 0, never negative */
	barge_init(&b, 100);
	feed(&b, "item_A", "resp_1", 60, marks, 8);
	assert_int_equal(barge_interrupt(&b, tr, BARGE_TRUNC_MAX), 1);
	assert_int_equal(tr[0].ms, 0);
}

static void
test_truncate_clamped(void **state)
{
	struct barge       b;
	struct barge_trunc tr[BARGE_TRUNC_MAX];
	char               mark[AI_MARK_MAX];

	(void)state;
	/* an echo claiming more than was received is clamped */
	barge_init(&b, 100);
	barge_delta(&b, "item_A", "resp_1", MS(150), mark, sizeof(mark));
	assert_int_equal(barge_echo(&b, "g0:m1:p9000:item_A"), BARGE_ECHO_OK);
	assert_int_equal(barge_interrupt(&b, tr, BARGE_TRUNC_MAX), 1);
	assert_int_equal(tr[0].ms, 150);
	/* odd byte counts round down */
	barge_init(&b, 0);
	barge_delta(&b, "item_B", "resp_2", 7, mark, sizeof(mark));
	assert_string_equal(mark, "g0:m1:p0:item_B");
	assert_int_equal(barge_echo(&b, mark), BARGE_ECHO_OK);
	assert_int_equal(barge_interrupt(&b, tr, BARGE_TRUNC_MAX), 1);
	assert_int_equal(tr[0].ms, 0);
}

static void
test_two_items(void **state)
{
	struct barge       b;
	struct barge_trunc tr[BARGE_TRUNC_MAX];
	char               ma[16][AI_MARK_MAX], mb[16][AI_MARK_MAX];
	char               done[AI_MARK_MAX];

	(void)state;
	barge_init(&b, 100);
	feed(&b, "item_A", "resp_1", 300, ma, 16);
	barge_audio_done(&b, "item_A", "resp_1", done, sizeof(done));
	feed(&b, "item_B", "resp_2", 300, mb, 16);
	assert_int_equal(barge_echo(&b, ma[1]), BARGE_ECHO_OK);
	/* A is playing (200 ms heard), B has not started: B at 0 */
	assert_int_equal(barge_interrupt(&b, tr, BARGE_TRUNC_MAX), 2);
	assert_string_equal(tr[0].item_id, "item_A");
	assert_int_equal(tr[0].ms, 200);
	assert_string_equal(tr[1].item_id, "item_B");
	assert_int_equal(tr[1].ms, 0);
}

static void
test_stale_marks_after_clear(void **state)
{
	struct barge       b;
	struct barge_trunc tr[BARGE_TRUNC_MAX];
	char               marks[16][AI_MARK_MAX], m2[16][AI_MARK_MAX];

	(void)state;
	barge_init(&b, 100);
	feed(&b, "item_A", "resp_1", 500, marks, 16);
	assert_int_equal(barge_interrupt(&b, tr, BARGE_TRUNC_MAX), 1);
	/* the provider echoes every pending mark when it clears */
	assert_int_equal(barge_echo(&b, marks[0]), BARGE_ECHO_STALE);
	assert_int_equal(barge_echo(&b, marks[4]), BARGE_ECHO_STALE);
	assert_int_equal(b.stale_marks, 2);
	/* the next answer is a new generation and tracked normally */
	feed(&b, "item_C", "resp_3", 200, m2, 16);
	assert_true(strncmp(m2[0], "g1:", 3) == 0);
	assert_int_equal(barge_echo(&b, m2[0]), BARGE_ECHO_OK);
	assert_true(barge_pending(&b));
}

static void
test_late_deltas(void **state)
{
	struct barge       b;
	struct barge_trunc tr[BARGE_TRUNC_MAX];
	char               marks[16][AI_MARK_MAX], mark[AI_MARK_MAX];

	(void)state;
	barge_init(&b, 100);
	barge_response_created(&b, "resp_1");
	feed(&b, "item_A", "resp_1", 200, marks, 16);
	barge_interrupt(&b, tr, BARGE_TRUNC_MAX);
	/* deltas of the cut response still arriving: dropped */
	assert_int_equal(
	    barge_delta(&b, "item_A", "resp_1", MS(20), mark, sizeof(mark)),
	    BARGE_DROP);
	assert_int_equal(b.late_deltas, 1);
	assert_false(barge_pending(&b)); /* no clock restarted */
	assert_int_equal(
	    barge_audio_done(&b, "item_A", "resp_1", mark, sizeof(mark)), 0);
	/* a response created but silent when the caller spoke: dropped too */
	barge_response_created(&b, "resp_2");
	assert_int_equal(barge_interrupt(&b, tr, BARGE_TRUNC_MAX), 0);
	assert_int_equal(
	    barge_delta(&b, "item_B", "resp_2", MS(20), mark, sizeof(mark)),
	    BARGE_DROP);
	/* a cancelled response (response.done) likewise */
	barge_response_created(&b, "resp_3");
	barge_response_done(&b, "resp_3", true);
	assert_int_equal(
	    barge_delta(&b, "item_C", "resp_3", MS(20), mark, sizeof(mark)),
	    BARGE_DROP);
	/* a new response plays */
	assert_int_not_equal(
	    barge_delta(&b, "item_D", "resp_4", MS(20), mark, sizeof(mark)),
	    BARGE_DROP);
}

static void
test_response_done_forgets_heard_items(void **state)
{
	struct barge b;
	char         marks[16][AI_MARK_MAX];

	(void)state;
	barge_init(&b, 100);
	feed(&b, "item_A", "resp_1", 200, marks, 16);
	assert_int_equal(barge_echo(&b, marks[1]), BARGE_ECHO_OK);
	/* no output_audio.done came, but the response is over and heard */
	barge_response_done(&b, "resp_1", false);
	assert_false(barge_pending(&b));
}

static void
test_eviction_and_long_ids(void **state)
{
	struct barge b;
	char         id[32], mark[AI_MARK_MAX], big[AI_ID_MAX + 10];
	int          i;

	(void)state;
	barge_init(&b, 100);
	for (i = 0; i < BARGE_ITEMS + 3; i++) {
		snprintf(id, sizeof(id), "item_%d", i);
		barge_delta(&b, id, "resp", MS(20), mark, sizeof(mark));
	}
	assert_int_equal(b.nitems, BARGE_ITEMS);
	assert_int_equal(b.evicted, 3);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* an id too long to track still plays, without marks */
	assert_int_equal(
	    barge_delta(&b, big, "resp", MS(200), mark, sizeof(mark)),
	    BARGE_PLAY);
}

static void
test_ring(void **state)
{
	struct ring r;
	uint8_t     in[200], out[AI_FRAME_MAX];
	int         i, pushed = 0;
	size_t      n;
	uint32_t    seq, next = 1;

	(void)state;
	ring_init(&r, 4000);
	for (i = 0; i < 100; i++) {
		memset(in, i, sizeof(in));
		in[0] = (uint8_t)i;
		if (ring_push(&r, in, 160, 70000u + (uint32_t)i) == 0)
			pushed++;
	}
	/* bounded: 4000 bytes hold 24 frames of 160 + 6 */
	assert_int_equal(pushed, 24);
	for (i = 0; i < pushed; i++) {
		n = ring_pop(&r, out, sizeof(out), &seq);
		assert_int_equal(n, 160);
		assert_int_equal(out[0], i); /* in order, oldest first */
		assert_int_equal(out[159], i);
		assert_int_equal(seq, 70000u + (uint32_t)i); /* its seq */
	}
	assert_int_equal(ring_pop(&r, out, sizeof(out), &seq), 0);
	/* wrap around many times; each frame keeps its seq (0: a piece) */
	for (i = 0; i < 1000; i++) {
		in[0] = (uint8_t)i;
		assert_int_equal(
		    ring_push(&r, in, 100 + i % 50,
		        i % 2 == 0 ? 0 : 0x01020304u * (uint32_t)i),
		    0);
		if (i % 3 == 2) {
			assert_int_not_equal(
			    ring_pop(&r, out, sizeof(out), &seq), 0);
			assert_int_not_equal(
			    ring_pop(&r, out, sizeof(out), &seq), 0);
			assert_int_not_equal(
			    ring_pop(&r, out, sizeof(out), &seq), 0);
		}
	}
	while ((n = ring_pop(&r, out, sizeof(out), &seq)) > 0)
		next++;
	assert_int_equal(next, 1 + 1000 - 999);
	assert_int_equal(seq, 0x01020304u * 999u);
	assert_int_equal(ring_push(&r, in, 0, 1), -1);
	assert_int_equal(ring_push(&r, in, AI_FRAME_MAX + 1, 1), -1);
	ring_fini(&r);
}

static void
test_transcript(void **state)
{
	struct transcript  t;
	const struct turn *tu;
	char              *s;

	(void)state;
	transcript_init(&t, 1);
	tu = transcript_add(&t, RT_ASSISTANT, "item_1", "Hi, this is Sam.", 1);
	assert_int_equal(tu->seq, 1);
	assert_null(transcript_add(&t, RT_USER, "item_2", "  ", 2));
	tu = transcript_add(&t, RT_USER, "item_3", "Yes, go ahead.", 3);
	assert_int_equal(tu->seq, 2);
	s = transcript_format(&t);
	assert_string_equal(s, "AI: Hi, this is Sam.\nUser: Yes, go ahead.");
	free(s);
	transcript_fini(&t);
	/* a resumed call continues the numbering */
	transcript_init(&t, 7);
	assert_int_equal(transcript_add(&t, RT_USER, "", "again", 1)->seq, 7);
	transcript_fini(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mark_names),
		cmocka_unit_test(test_echoes_and_pending),
		cmocka_unit_test(test_truncate_value),
		cmocka_unit_test(test_truncate_nothing_heard),
		cmocka_unit_test(test_truncate_clamped),
		cmocka_unit_test(test_two_items),
		cmocka_unit_test(test_stale_marks_after_clear),
		cmocka_unit_test(test_late_deltas),
		cmocka_unit_test(test_response_done_forgets_heard_items),
		cmocka_unit_test(test_eviction_and_long_ids),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_transcript),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
