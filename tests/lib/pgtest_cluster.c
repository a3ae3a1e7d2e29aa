/*
 * pgtest_cluster.c - a private PostgreSQL cluster for one test.
 *
 * For tests that stop, crash or restart the database under a daemon, so
 * the shared TEST_PG_DSN cluster is never disturbed.  Everything goes
 * through tests/pg.sh, the same script the test runner uses, so there is
 * one way to make a cluster.  Main thread only; each call blocks until
 * pg_ctl has finished.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgtest.h"
#include "xmalloc.h"

/*
 * Runs "sh tests/pg.sh cmd dir"; its stdout goes to out (NUL-terminated,
 * trailing newline removed) when out is not NULL.  stderr passes through.
 */
static int
pg_sh(const char *cmd, const char *dir, char *out, size_t outlen)
{
	const char *top = getenv("TOP_DIR");
	char       *script, buf[512];
	int         pfd[2], wstatus;
	size_t      len = 0;
	ssize_t     n;
	pid_t       pid;
	sigset_t    none;

	script = xasprintf(
	    "%s/tests/pg.sh", top != NULL && *top != '\0' ? top : ".");
	if (access(script, R_OK) == -1 || pipe(pfd) == -1) {
		fprintf(stderr, "pgtest: %s: %s\n", script, strerror(errno));
		free(script);
		return (-1);
	}
	if ((pid = fork()) == 0) {
		/* the postmaster must not inherit our mask or descriptors */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(pfd[1], 1);
		close_range(3, ~0U, 0);
		execl("/bin/sh", "sh", script, cmd, dir, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while (pid > 0 && (n = read(pfd[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (out != NULL && len + (size_t)n < outlen) {
			memcpy(out + len, buf, (size_t)n);
			len += (size_t)n;
		}
	}
	close(pfd[0]);
	free(script);
	if (out != NULL && outlen > 0) {
		while (len > 0 && out[len - 1] == '\n')
			len--;
		out[len] = '\0';
	}
	if (pid == -1 || waitpid(pid, &wstatus, 0) == -1 || !WIFEXITED(wstatus)
	    || WEXITSTATUS(wstatus) != 0) {
		fprintf(
		    stderr, "pgtest: tests/pg.sh %s %s failed\n", cmd, dir);
		return (-1);
	}
	return (0);
}

static int rm_cb(const char *, const struct stat *, int, struct FTW *);

/* Directories of clusters not yet destroyed, stopped at exit. */
static char **live;
static size_t nlive;
static pid_t  owner_pid;

static void
remove_dir(const char *dir)
{
	const char *keep = getenv("KEEP_TMP");

	if (keep == NULL || strcmp(keep, "1") != 0)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void
cleanup(void)
{
	size_t i;

	if (getpid() != owner_pid)
		return;
	for (i = 0; i < nlive; i++) {
		fprintf(stderr,
		    "pgtest: cluster %s was not destroyed; "
		    "stopping it\n",
		    live[i]);
		pg_sh("stop", live[i], NULL, 0);
		remove_dir(live[i]);
		free(live[i]);
	}
	free(live);
	live = NULL;
	nlive = 0;
}

static void
live_add(const char *dir)
{
	if (owner_pid == 0) {
		owner_pid = getpid();
		atexit(cleanup);
	}
	live = xrealloc(live, (nlive + 1) * sizeof(*live));
	live[nlive++] = xstrdup(dir);
}

static void
live_del(const char *dir)
{
	size_t i;

	for (i = 0; i < nlive; i++) {
		if (strcmp(live[i], dir) == 0) {
			free(live[i]);
			live[i] = live[--nlive];
			return;
		}
	}
}

int
pgtest_cluster_start(struct pgtest_cluster *c)
{
	if (c->dir[0] == '\0') {
		snprintf(c->dir, sizeof(c->dir), "/tmp/pgtest.XXXXXX");
		if (mkdtemp(c->dir) == NULL) {
			fprintf(
			    stderr, "pgtest: mkdtemp: %s\n", strerror(errno));
			c->dir[0] = '\0';
			return (-1);
		}
		live_add(c->dir);
	}
	if (pg_sh("start", c->dir, c->dsn, sizeof(c->dsn)) == -1)
		return (-1);
	c->running = 1;
	return (0);
}

int
pgtest_cluster_stop(struct pgtest_cluster *c)
{
	if (pg_sh("stop", c->dir, NULL, 0) == -1)
		return (-1);
	c->running = 0;
	return (0);
}

int
pgtest_cluster_kill(struct pgtest_cluster *c)
{
	if (pg_sh("kill", c->dir, NULL, 0) == -1)
		return (-1);
	c->running = 0;
	return (0);
}

int
pgtest_cluster_restart(struct pgtest_cluster *c)
{
	if (c->running && pgtest_cluster_stop(c) == -1)
		return (-1);
	return (pgtest_cluster_start(c));
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1 && errno != ENOENT)
		fprintf(
		    stderr, "pgtest: remove %s: %s\n", path, strerror(errno));
	return (0);
}

void
pgtest_cluster_destroy(struct pgtest_cluster *c)
{
	if (c->dir[0] == '\0')
		return;
	pg_sh("stop", c->dir, NULL, 0); /* a no-op when stopped */
	remove_dir(c->dir);
	live_del(c->dir);
	memset(c, 0, sizeof(*c));
}
