/*
 * outq_test - the per-call output queue: order, LWS_PRE room, growth up
 * to the limit and no further, clear keeping marks, memory given back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../../services/media-edge/edge.h"

static void
push(struct outq *q, const char *s, enum outq_kind k)
{
	unsigned char *p = outq_reserve(q, strlen(s));

	assert_non_null(p);
	memcpy(p, s, strlen(s));
	outq_commit(q, strlen(s), k);
}

static void
pop_expect(struct outq *q, const char *s, enum outq_kind k)
{
	unsigned char *p;
	size_t         len;
	enum outq_kind kind;

	assert_true(outq_peek(q, &p, &len, &kind));
	assert_int_equal(len, strlen(s));
	assert_memory_equal(p, s, len);
	assert_int_equal(kind, k);
	memset(p - LWS_PRE, 0xAA, LWS_PRE); /* lws may write here */
	outq_pop(q);
}

static void
test_order(void **state)
{
	struct outq q;
	char        buf[64];
	int         i, j;

	(void)state;
	outq_init(&q, 1 << 20);
	for (j = 0; j < 3; j++) {
		for (i = 0; i < 500; i++) {
			snprintf(buf, sizeof(buf), "msg-%d-%d", j, i);
			push(&q, buf, i % 2 ? OUTQ_MARK : OUTQ_MEDIA);
		}
		for (i = 0; i < 500; i++) {
			snprintf(buf, sizeof(buf), "msg-%d-%d", j, i);
			pop_expect(&q, buf, i % 2 ? OUTQ_MARK : OUTQ_MEDIA);
		}
	}
	assert_false(outq_peek(&q, NULL, NULL, NULL));
	assert_null(q.buf); /* a big empty buffer is given back */
	outq_fini(&q);
}

static void
test_limit(void **state)
{
	struct outq    q;
	unsigned char *p;
	int            n = 0;

	(void)state;
	outq_init(&q, 4096);
	while ((p = outq_reserve(&q, 300)) != NULL) {
		memset(p, 'x', 300);
		outq_commit(&q, 300, OUTQ_MEDIA);
		n++;
	}
	assert_true(n >= 10 && n <= 13);
	assert_true(outq_bytes(&q) <= 4096);
	/* after draining one there is room again */
	outq_pop(&q);
	assert_non_null(outq_reserve(&q, 300));
	outq_fini(&q);
}

static void
test_drop_media(void **state)
{
	struct outq q;

	(void)state;
	outq_init(&q, 1 << 16);
	push(&q, "a1", OUTQ_MEDIA);
	push(&q, "m1", OUTQ_MARK);
	push(&q, "a2", OUTQ_MEDIA);
	push(&q, "a3", OUTQ_MEDIA);
	push(&q, "m2", OUTQ_MARK);
	pop_expect(&q, "a1", OUTQ_MEDIA);
	assert_int_equal(outq_drop_media(&q), 2);
	push(&q, "clear", OUTQ_CLEAR);
	pop_expect(&q, "m1", OUTQ_MARK);
	pop_expect(&q, "m2", OUTQ_MARK);
	pop_expect(&q, "clear", OUTQ_CLEAR);
	assert_false(outq_peek(&q, NULL, NULL, NULL));
	assert_int_equal(outq_drop_media(&q), 0);
	outq_fini(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_drop_media),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
