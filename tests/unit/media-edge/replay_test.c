/*
 * replay_test - the caller frames a call keeps for a move (replay.c):
 * acks forget what the holder wrote, the rest is replayed in order;
 * wrap-around and growth, the bound, acks ahead of what was sent, acks of
 * an earlier holder, the empty ring, and the time-based tail for a
 * holder that sends no acks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../../services/media-edge/edge.h"

/* Frame seq: 160 bytes, each the low byte of seq; ts = seq * 20. */
static int
add(struct replay *rp, uint32_t seq)
{
	unsigned char p[REPLAY_SLOT];

	memset(p, (int)(seq & 0xff), sizeof(p));
	return (replay_add(rp, p, sizeof(p), seq * 20, seq));
}

/* What would be replayed is exactly first..last, in order, intact. */
static void
expect_pending(const struct replay *rp, uint32_t first, uint32_t last)
{
	const struct replay_frame *f;
	unsigned                   i, n = replay_pending(rp);

	assert_int_equal(n, last >= first ? last - first + 1 : 0);
	for (i = 0; i < n; i++) {
		f = replay_frame(rp, i);
		assert_non_null(f);
		assert_int_equal(f->seq, first + i);
		assert_int_equal(f->ts, (first + i) * 20);
		assert_int_equal(f->len, REPLAY_SLOT);
		assert_int_equal(f->p[0], (first + i) & 0xff);
		assert_int_equal(f->p[REPLAY_SLOT - 1], (first + i) & 0xff);
	}
	assert_null(replay_frame(rp, n));
}

static void
test_empty(void **state)
{
	struct replay rp;

	(void)state;
	replay_init(&rp, 300, 50);
	replay_holder(&rp, 0);
	expect_pending(&rp, 1, 0);
	/* the first ack (seq 0) says acks will come; nothing to forget */
	assert_int_equal(replay_ack(&rp, 0, 0), REPLAY_ACK_OK);
	assert_true(rp.acks);
	expect_pending(&rp, 1, 0);
	/* an ack of a frame never sent */
	assert_int_equal(replay_ack(&rp, 1, 0), REPLAY_ACK_AHEAD);
	replay_fini(&rp);
	replay_fini(&rp); /* twice is harmless */
}

static void
test_ack_and_wrap(void **state)
{
	struct replay rp;
	uint32_t      seq, acked = 0;

	(void)state;
	replay_init(&rp, 300, 50);
	replay_holder(&rp, 0);
	assert_int_equal(replay_ack(&rp, 0, 0), REPLAY_ACK_OK);
	/* 20 000 frames, acked 5 behind: the ring wraps many times and
	 * stays small */
	for (seq = 1; seq <= 20000; seq++) {
		assert_int_equal(add(&rp, seq), 0);
		if (seq % 7 == 0) {
			acked = seq - 5;
			assert_int_equal(
			    replay_ack(&rp, acked, 0), REPLAY_ACK_OK);
			expect_pending(&rp, acked + 1, seq);
		}
	}
	assert_true(rp.cap <= 16);
	expect_pending(&rp, acked + 1, 20000);
	/* an old ack of the same holder changes nothing */
	assert_int_equal(replay_ack(&rp, 10, 0), REPLAY_ACK_OK);
	expect_pending(&rp, acked + 1, 20000);
	/* all acknowledged: nothing to replay */
	assert_int_equal(replay_ack(&rp, 20000, 0), REPLAY_ACK_OK);
	expect_pending(&rp, 1, 0);
	assert_int_equal(rp.used, 0);
	replay_fini(&rp);
}

static void
test_bound(void **state)
{
	struct replay rp;
	uint32_t      seq;
	int           lost = 0;

	(void)state;
	replay_init(&rp, 100, 50);
	replay_holder(&rp, 0);
	assert_int_equal(replay_ack(&rp, 0, 0), REPLAY_ACK_OK);
	/* a holder that stops acknowledging: 100 kept, then the oldest go,
	 * each counted */
	for (seq = 1; seq <= 130; seq++)
		lost += add(&rp, seq);
	assert_int_equal(lost, 30);
	assert_int_equal(rp.cap, 100);
	expect_pending(&rp, 31, 130);
	/* it acknowledges again: the rest is still in order */
	assert_int_equal(replay_ack(&rp, 120, 0), REPLAY_ACK_OK);
	expect_pending(&rp, 121, 130);
	/* too large to keep */
	{
		unsigned char big[REPLAY_SLOT + 1] = { 0 };

		assert_int_equal(
		    replay_add(&rp, big, sizeof(big), 0, 131), -1);
	}
	replay_fini(&rp);
}

static void
test_ack_ahead(void **state)
{
	struct replay rp;
	uint32_t      seq;

	(void)state;
	replay_init(&rp, 300, 50);
	replay_holder(&rp, 0);
	for (seq = 1; seq <= 10; seq++)
		add(&rp, seq);
	assert_int_equal(replay_ack(&rp, 11, 0), REPLAY_ACK_AHEAD);
	assert_int_equal(replay_ack(&rp, 0xffffffffu, 0), REPLAY_ACK_AHEAD);
	/* ignored: nothing forgotten, and no sign yet that it acks */
	assert_false(rp.acks);
	assert_int_equal(rp.used, 10);
	assert_int_equal(replay_ack(&rp, 10, 0), REPLAY_ACK_OK);
	expect_pending(&rp, 1, 0);
	replay_fini(&rp);
}

static void
test_stale_holder(void **state)
{
	struct replay rp;
	uint32_t      seq;

	(void)state;
	replay_init(&rp, 300, 50);
	replay_holder(&rp, 0);
	for (seq = 1; seq <= 40; seq++)
		add(&rp, seq);
	assert_int_equal(replay_ack(&rp, 25, 0), REPLAY_ACK_OK);
	/* the call moves: holder 1; frames 26..40 go to it again */
	replay_holder(&rp, 1);
	assert_false(rp.acks);
	for (seq = 41; seq <= 45; seq++)
		add(&rp, seq);
	/* a late ack of holder 0 must not forget what holder 1 has not
	 * written */
	assert_int_equal(replay_ack(&rp, 40, 0), REPLAY_ACK_STALE);
	assert_int_equal(replay_ack(&rp, 30, 2), REPLAY_ACK_STALE);
	assert_int_equal(rp.used, 20);
	/* holder 1 acknowledges */
	assert_int_equal(replay_ack(&rp, 0, 1), REPLAY_ACK_OK);
	expect_pending(&rp, 26, 45);
	assert_int_equal(replay_ack(&rp, 33, 1), REPLAY_ACK_OK);
	expect_pending(&rp, 34, 45);
	replay_fini(&rp);
}

static void
test_no_acks(void **state)
{
	struct replay rp;
	uint32_t      seq;
	int           lost = 0;

	(void)state;
	/* an ai-session that sends no acks: the newest 50 (EDGE_REPLAY_MS
	 * 1000) are replayed; what the bound pushes out is not counted */
	replay_init(&rp, 300, 50);
	replay_holder(&rp, 0);
	for (seq = 1; seq <= 1000; seq++)
		lost += add(&rp, seq);
	assert_int_equal(lost, 0);
	expect_pending(&rp, 951, 1000);
	/* fewer than the tail: all of them */
	replay_fini(&rp);
	replay_init(&rp, 300, 50);
	for (seq = 1; seq <= 7; seq++)
		add(&rp, seq);
	expect_pending(&rp, 1, 7);
	replay_fini(&rp);
	/* EDGE_UNACKED_MS 0 and EDGE_REPLAY_MS 0: nothing kept */
	replay_init(&rp, 0, 0);
	assert_int_equal(add(&rp, 1), -1);
	expect_pending(&rp, 1, 0);
	replay_fini(&rp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_ack_and_wrap),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_ack_ahead),
		cmocka_unit_test(test_stale_holder),
		cmocka_unit_test(test_no_acks),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
