/*
 * journal - an fsync'd append-only file of records (journal.h): the
 * persister's spool of packed envelopes, replayed in order when the
 * database returns, and ai-session's record journal.
 *
 * Record layout (host byte order; the file never leaves the host):
 *
 *	u32 magic "PSJ1" | u32 length | 8 bytes SHA-256(payload) | payload
 *
 * An append is acknowledged to the sender only after fdatasync(), so an
 * acknowledged record survives kill -9 and power loss.  A crash during an
 * append leaves at most one torn record at the end; journal_open() finds
 * it (short header, short payload or digest mismatch) and truncates it:
 * it was never acknowledged, and the sender retries it.  The file is
 * truncated to zero only when replay has consumed (committed) every
 * record, so a crash during replay replays again from the start, which
 * the idempotency keys make harmless.  flock() keeps a second process
 * off the same directory.
 *
 * Threads: every function takes j->lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "journal.h"
#include "log.h"
#include "xmalloc.h"

#define JOURNAL_MAGIC 0x314a5350u /* "PSJ1" little-endian */
#define JOURNAL_HDR 16
#define JOURNAL_MAX_REC (8 * 1024 * 1024)

struct rec_hdr {
	uint32_t      magic;
	uint32_t      len;
	unsigned char digest[8];
};

static int
digest8(const void *buf, size_t len, unsigned char out[8])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  mdlen;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return (-1);
	memcpy(out, md, 8);
	return (0);
}

/* Read exactly len bytes at off: 1, 0 at a short read (torn), -1 error. */
static int
read_at(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;
	size_t  got = 0;

	while (got < len) {
		n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		if (n == 0)
			return (0);
		got += (size_t)n;
	}
	return (1);
}

/* Read and check the record at off; *bufp gets the payload if wanted.
 * Returns 1 good, 0 torn or corrupt, -1 I/O error. */
static int
read_rec(int fd, off_t off, void **bufp, size_t *lenp)
{
	struct rec_hdr h;
	unsigned char  d[8];
	void          *buf;
	int            r;

	if ((r = read_at(fd, &h, sizeof(h), off)) != 1)
		return (r);
	if (h.magic != JOURNAL_MAGIC || h.len > JOURNAL_MAX_REC)
		return (0);
	buf = xmalloc(h.len > 0 ? h.len : 1);
	if ((r = read_at(fd, buf, h.len, off + JOURNAL_HDR)) != 1
	    || digest8(buf, h.len, d) == -1 || memcmp(d, h.digest, 8) != 0) {
		free(buf);
		return (r == -1 ? -1 : 0);
	}
	*lenp = h.len;
	if (bufp != NULL)
		*bufp = buf;
	else
		free(buf);
	return (1);
}

/* Count the good records; cut a torn tail off.  {lock} */
static int
scan(struct journal *j)
{
	struct stat st;
	off_t       off = 0;
	size_t      len;
	int         r;

	if (fstat(j->fd, &st) == -1) {
		log_warn("journal %s: fstat", j->path);
		return (-1);
	}
	while (
	    off < st.st_size && (r = read_rec(j->fd, off, NULL, &len)) == 1) {
		off += JOURNAL_HDR + (off_t)len;
		j->records++;
	}
	if (off < st.st_size) {
		log_warnx("journal %s: dropping %lld bytes of a torn or "
		          "corrupt record at offset %lld (never acknowledged)",
		    j->path, (long long)(st.st_size - off), (long long)off);
		if (ftruncate(j->fd, off) == -1 || fsync(j->fd) == -1) {
			log_warn("journal %s: truncate", j->path);
			return (-1);
		}
	}
	j->size = off;
	j->head = 0;
	return (0);
}

int
journal_open(struct journal *j, const char *dir, long max_bytes)
{
	memset(j, 0, sizeof(*j));
	j->fd = j->dirfd = -1;
	j->max_bytes = max_bytes;
	pthread_mutex_init(&j->lock, NULL);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("spool directory %s", dir);
		return (-1);
	}
	j->path = xasprintf("%s/journal", dir);
	if ((j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1
	    || (j->fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600))
	        == -1) {
		log_warn("journal %s: open", j->path);
		return (-1);
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) == -1) {
		log_warn("journal %s is in use by another process "
		         "(each process needs its own directory)",
		    j->path);
		return (-1);
	}
	if (fsync(j->dirfd) == -1 || scan(j) == -1)
		return (-1);
	if (j->records > 0)
		log_info("journal %s: %ld records (%lld bytes) to replay",
		    j->path, j->records, (long long)j->size);
	return (0);
}

void
journal_close(struct journal *j)
{
	if (j->fd != -1)
		close(j->fd); /* releases the flock */
	if (j->dirfd != -1)
		close(j->dirfd);
	j->fd = j->dirfd = -1;
	free(j->path);
	j->path = NULL;
	pthread_mutex_destroy(&j->lock);
}

static int
write_all(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n;
	size_t  done = 0;

	while (done < len) {
		n = pwrite(fd, (const char *)buf + done, len - done,
		    off + (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		done += (size_t)n;
	}
	return (0);
}

enum journal_rv
journal_append(struct journal *j, const void *buf, size_t len)
{
	struct rec_hdr  h;
	enum journal_rv rv = JOURNAL_OK;

	if (len > JOURNAL_MAX_REC)
		return (JOURNAL_IOERR);
	h.magic = JOURNAL_MAGIC;
	h.len = (uint32_t)len;
	if (digest8(buf, len, h.digest) == -1)
		return (JOURNAL_IOERR);
	pthread_mutex_lock(&j->lock);
	if (j->size + JOURNAL_HDR + (off_t)len > j->max_bytes) {
		rv = JOURNAL_FULL;
		goto out;
	}
	if (write_all(j->fd, &h, sizeof(h), j->size) == -1
	    || write_all(j->fd, buf, len, j->size + JOURNAL_HDR) == -1
	    || fdatasync(j->fd) == -1) {
		log_warn("journal %s: append", j->path);
		/* leave no half record behind a later good one */
		if (ftruncate(j->fd, j->size) == -1)
			log_warn("journal %s: truncate", j->path);
		rv = JOURNAL_IOERR;
		goto out;
	}
	j->size += JOURNAL_HDR + (off_t)len;
	j->records++;
out:
	pthread_mutex_unlock(&j->lock);
	return (rv);
}

/* The record at off, or at the head when off is -1. */
static int
read_one(struct journal *j, off_t off, void **bufp, size_t *lenp, off_t *nextp)
{
	void  *buf = NULL;
	size_t len = 0;
	int    r;

	pthread_mutex_lock(&j->lock);
	if (off == -1)
		off = j->head;
	if (off >= j->size) {
		pthread_mutex_unlock(&j->lock);
		return (0);
	}
	r = read_rec(j->fd, off, &buf, &len);
	if (r == 1)
		*nextp = off + JOURNAL_HDR + (off_t)len;
	pthread_mutex_unlock(&j->lock);
	if (r != 1) {
		log_warnx("journal %s: cannot read the record at %lld",
		    j->path, (long long)off);
		return (-1);
	}
	*bufp = buf;
	*lenp = len;
	return (1);
}

int
journal_peek(struct journal *j, void **bufp, size_t *lenp, off_t *nextp)
{
	return (read_one(j, -1, bufp, lenp, nextp));
}

int
journal_read(
    struct journal *j, off_t off, void **bufp, size_t *lenp, off_t *nextp)
{
	return (read_one(j, off < 0 ? 0 : off, bufp, lenp, nextp));
}

/* Truncate the file to nothing.  {lock} */
static int
empty(struct journal *j)
{
	if (ftruncate(j->fd, 0) == -1 || fsync(j->fd) == -1) {
		log_warn("journal %s: truncate", j->path);
		return (-1);
	}
	j->size = j->head = 0;
	j->records = 0;
	return (0);
}

int
journal_consume(struct journal *j, off_t next)
{
	int rv = 0;

	pthread_mutex_lock(&j->lock);
	if (next > j->head && next <= j->size) {
		j->head = next;
		j->records--;
	}
	if (j->head == j->size && j->size > 0)
		rv = empty(j); /* everything replayed: start afresh */
	pthread_mutex_unlock(&j->lock);
	return (rv);
}

int
journal_reset(struct journal *j)
{
	int rv = 0;

	pthread_mutex_lock(&j->lock);
	if (j->size > 0)
		rv = empty(j);
	pthread_mutex_unlock(&j->lock);
	return (rv);
}

void
journal_depth(struct journal *j, off_t *bytes, long *records)
{
	pthread_mutex_lock(&j->lock);
	*bytes = j->size - j->head;
	*records = j->records;
	pthread_mutex_unlock(&j->lock);
}
