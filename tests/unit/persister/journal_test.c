/*
 * journal_test - the persister's spool: append and read back in order,
 * consume and truncate, reopen after a crash (records kept), a torn last
 * record (short header, short payload, bad digest) cut off and never
 * replayed, the size bound, and the lock against a second process.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../services/persister/persister.h"
#include "log.h"

#define HDR 16

static char dir[64];

static int
setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/journal_test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return (-1);
	return (0);
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return (system(cmd) == 0 ? 0 : -1);
}

static off_t
file_size(void)
{
	struct stat st;
	char        path[128];

	snprintf(path, sizeof(path), "%s/journal", dir);
	if (stat(path, &st) == -1)
		return (-1);
	return (st.st_size);
}

static void
append_n(struct journal *j, int from, int to)
{
	char rec[32];
	int  i;

	for (i = from; i < to; i++) {
		snprintf(rec, sizeof(rec), "record-%04d", i);
		assert_int_equal(
		    journal_append(j, rec, strlen(rec)), JOURNAL_OK);
	}
}

/* Peek the next record and check it is record-<i>. */
static off_t
expect(struct journal *j, int i)
{
	char   want[32];
	void  *buf;
	size_t len;
	off_t  next;

	snprintf(want, sizeof(want), "record-%04d", i);
	assert_int_equal(journal_peek(j, &buf, &len, &next), 1);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	free(buf);
	return (next);
}

static void
test_append_replay_truncate(void **state)
{
	struct journal j;
	off_t          bytes, next;
	long           recs;
	void          *buf;
	size_t         len;
	int            i;

	assert_int_equal(journal_open(&j, dir, 1 << 20), 0);
	assert_int_equal(journal_peek(&j, &buf, &len, &next), 0);
	append_n(&j, 0, 10);
	journal_depth(&j, &bytes, &recs);
	assert_int_equal(recs, 10);
	assert_int_equal(bytes, 10 * (HDR + 11));
	for (i = 0; i < 5; i++) {
		next = expect(&j, i);
		expect(&j, i); /* peek again: same record */
		assert_int_equal(journal_consume(&j, next), 0);
	}
	journal_depth(&j, &bytes, &recs);
	assert_int_equal(recs, 5);
	assert_int_equal(file_size(), 10 * (HDR + 11)); /* not yet cut */
	append_n(&j, 10, 12); /* appends during replay */
	for (i = 5; i < 12; i++)
		assert_int_equal(journal_consume(&j, expect(&j, i)), 0);
	journal_depth(&j, &bytes, &recs);
	assert_int_equal(recs, 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(file_size(), 0); /* all replayed: truncated */
	append_n(&j, 20, 21);
	assert_int_equal(journal_consume(&j, expect(&j, 20)), 0);
	journal_close(&j);
}

static void
test_reopen_keeps_records(void **state)
{
	struct journal j;
	off_t          bytes;
	long           recs;
	int            i;

	assert_int_equal(journal_open(&j, dir, 1 << 20), 0);
	append_n(&j, 0, 3);
	/* consumed but not truncated: a crash now replays all three */
	assert_int_equal(journal_consume(&j, expect(&j, 0)), 0);
	journal_close(&j);
	assert_int_equal(journal_open(&j, dir, 1 << 20), 0);
	journal_depth(&j, &bytes, &recs);
	assert_int_equal(recs, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(journal_consume(&j, expect(&j, i)), 0);
	journal_close(&j);
}

/* Write 3 good records, then damage the tail with fn, reopen: 3 left. */
static void
torn(void (*damage)(int fd, off_t end))
{
	struct journal j;
	off_t          bytes, end;
	long           recs;
	char           path[128];
	int            fd, i;

	assert_int_equal(journal_open(&j, dir, 1 << 20), 0);
	append_n(&j, 0, 4);
	journal_close(&j);
	end = 3 * (HDR + 11);
	snprintf(path, sizeof(path), "%s/journal", dir);
	assert_true((fd = open(path, O_RDWR)) != -1);
	damage(fd, end);
	close(fd);
	assert_int_equal(journal_open(&j, dir, 1 << 20), 0);
	journal_depth(&j, &bytes, &recs);
	assert_int_equal(recs, 3);
	assert_int_equal(bytes, end);
	assert_int_equal(file_size(), end);
	for (i = 0; i < 3; i++)
		assert_int_equal(journal_consume(&j, expect(&j, i)), 0);
	/* a good record appended after the cut is read normally */
	append_n(&j, 7, 8);
	assert_int_equal(journal_consume(&j, expect(&j, 7)), 0);
	journal_close(&j);
}

static void
cut_header(int fd, off_t end)
{
	assert_int_equal(ftruncate(fd, end + 7), 0);
}

static void
cut_payload(int fd, off_t end)
{
	assert_int_equal(ftruncate(fd, end + HDR + 4), 0);
}

static void
flip_payload(int fd, off_t end)
{
	char c = 'X';

	assert_int_equal(pwrite(fd, &c, 1, end + HDR + 2), 1);
}

static void
garbage_tail(int fd, off_t end)
{
	assert_int_equal(ftruncate(fd, end), 0);
	assert_int_equal(pwrite(fd, "\0\0\0\0\0\0\0\0\0\0", 10, end), 10);
}

static void
test_torn_header(void **state)
{
	torn(cut_header);
}

static void
test_torn_payload(void **state)
{
	torn(cut_payload);
}

static void
test_corrupt_payload(void **state)
{
	torn(flip_payload);
}

static void
test_garbage_tail(void **state)
{
	torn(garbage_tail);
}

static void
test_bound(void **state)
{
	struct journal j;
	char           rec[100];

	memset(rec, 'r', sizeof(rec));
	assert_int_equal(journal_open(&j, dir, 4 * (HDR + 100)), 0);
	assert_int_equal(journal_append(&j, rec, 100), JOURNAL_OK);
	assert_int_equal(journal_append(&j, rec, 100), JOURNAL_OK);
	assert_int_equal(journal_append(&j, rec, 100), JOURNAL_OK);
	assert_int_equal(journal_append(&j, rec, 100), JOURNAL_OK);
	assert_int_equal(journal_append(&j, rec, 1), JOURNAL_FULL);
	assert_int_equal(file_size(), 4 * (HDR + 100));
	journal_close(&j);
}

static void
test_second_process_refused(void **state)
{
	struct journal j;
	pid_t          pid;
	int            st;

	assert_int_equal(journal_open(&j, dir, 1 << 20), 0);
	if ((pid = fork()) == 0) {
		struct journal j2;

		/* flock is per open file: another process is refused */
		_exit(journal_open(&j2, dir, 1 << 20) == -1 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	journal_close(&j);
}

/* Read at any offset without consuming; reset drops everything, and the
 * journal opened again is empty. */
static void
test_read_reset(void **state)
{
	struct journal j;
	char           want[32];
	void          *buf;
	size_t         len;
	off_t          off = 0, next;
	int            i;

	assert_int_equal(journal_open(&j, dir, 1 << 20), 0);
	append_n(&j, 0, 4);
	for (i = 0; i < 2; i++) { /* twice: reading consumed nothing */
		int n = 0;

		for (off = 0; journal_read(&j, off, &buf, &len, &next) == 1;
		     off = next) {
			snprintf(want, sizeof(want), "record-%04d", n++);
			assert_int_equal(len, strlen(want));
			assert_memory_equal(buf, want, len);
			free(buf);
		}
		assert_int_equal(n, 4);
	}
	expect(&j, 0);
	assert_int_equal(journal_reset(&j), 0);
	assert_int_equal(file_size(), 0);
	assert_int_equal(journal_read(&j, 0, &buf, &len, &next), 0);
	append_n(&j, 7, 8);
	journal_close(&j);
	assert_int_equal(journal_open(&j, dir, 1 << 20), 0);
	expect(&j, 7);
	journal_close(&j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_append_replay_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reopen_keeps_records, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_torn_header, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_torn_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_corrupt_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_garbage_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_second_process_refused, setup, teardown),
	};

	log_init("journal_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
