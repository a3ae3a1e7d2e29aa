/*
 * journal - an fsync'd append-only file of records on local disk: the
 * persister's spool (packed envelopes waiting for the database) and
 * ai-session's record journal (call records waiting for persister).
 *
 * Each record is a header (magic, length, SHA-256 prefix of the payload)
 * and the payload.  Appends are fsync'd before they return.  A torn last
 * record (a crash during an append, never acknowledged) is cut off when
 * the journal is opened.  Records are consumed in order, or read at any
 * offset (journal_read) by a user that keeps its own account of which are
 * still wanted and empties the file with journal_reset when none is; the
 * file is truncated to nothing only when every record has been consumed.
 * flock() keeps a second process off the same directory.
 *
 * Threads: every call takes j->lock; any thread.
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

struct journal {
	pthread_mutex_t lock;
	int             fd; /* {lock} */
	int             dirfd;
	char           *path;
	off_t           size; /* bytes in the file {lock} */
	off_t           head; /* first unconsumed byte {lock} */
	long            records; /* unconsumed records {lock} */
	long            max_bytes;
};

enum journal_rv {
	JOURNAL_OK = 0,
	JOURNAL_FULL = -2, /* append would pass max_bytes */
	JOURNAL_IOERR = -1 /* logged */
};

/* Open (create) dir/journal, lock it against a second process, drop a
 * torn tail.  Returns 0 or -1 (logged). */
int  journal_open(struct journal *, const char *dir, long max_bytes);
void journal_close(struct journal *);
/* Append one record and fsync it. */
enum journal_rv journal_append(struct journal *, const void *buf, size_t len);
/*
 * Copy the first unconsumed record into a new buffer (*bufp, free()),
 * *lenp its length, *nextp the offset to pass to journal_consume().
 * Returns 1 with a record, 0 when there is none, -1 on a read error.
 */
int journal_peek(struct journal *, void **bufp, size_t *lenp, off_t *nextp);
/* The record at off (0 for the first; *nextp for the one after), as
 * journal_peek; consumes nothing. */
int journal_read(
    struct journal *, off_t off, void **bufp, size_t *lenp, off_t *nextp);
/* Mark everything before next consumed; truncate the file when that is
 * all of it.  0 or -1 (logged). */
int journal_consume(struct journal *, off_t next);
/* Drop every record: the user needs none of them any more.  0 or -1. */
int journal_reset(struct journal *);
/* Unconsumed bytes and records (for metrics and the spool decision). */
void journal_depth(struct journal *, off_t *bytes, long *records);

#endif
