/*
 * harness.c - scratch directory, child registry, spawn and stop.
 *
 * Every child is kept in a registry; an atexit() handler stops those still
 * running (SIGTERM, 2 s, then SIGKILL), frees the registry and removes the
 * scratch directory.  Children also carry PR_SET_PDEATHSIG = SIGKILL, for
 * when the test process is killed and atexit() never runs.  Main thread
 * only (see harness.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "xmalloc.h"

#define READY_TIMEOUT_MS 10000
#define EXIT_STOP_MS 2000
#define TAIL_LINES 40

extern char **environ;

struct harness_proc {
	char *name;
	char *log; /* log file path */
	char *ready_line; /* NULL until ready */
	pid_t pid;
	int   exited;
	int   status; /* as harness_stop() returns it */
};

static char                  tmpdir[PATH_MAX];
static pid_t                 owner_pid; /* only the creator cleans up */
static struct harness_proc **procs;
static size_t                nprocs;
static char                **strings; /* harness_ipc_url() results */
static size_t                nstrings;
static int                   seq;

long long
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1 && errno != ENOENT)
		fprintf(
		    stderr, "harness: remove %s: %s\n", path, strerror(errno));
	return (0);
}

static int
exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return (WEXITSTATUS(wstatus));
	if (WIFSIGNALED(wstatus))
		return (128 + WTERMSIG(wstatus));
	return (-1);
}

/* Reaps p if it has ended; waits up to ms.  Returns 1 if it has. */
static int
reap(struct harness_proc *p, int ms)
{
	long long deadline = harness_now_ms() + ms;
	int       wstatus;
	pid_t     r;

	if (p->exited)
		return (1);
	for (;;) {
		r = waitpid(p->pid, &wstatus, WNOHANG);
		if (r == p->pid) {
			p->exited = 1;
			p->status = exit_code(wstatus);
			return (1);
		}
		if (r == -1 && errno != EINTR) {
			p->exited = 1; /* not our child any more */
			p->status = -1;
			return (1);
		}
		if (harness_now_ms() >= deadline)
			return (0);
		sleep_ms(5);
	}
}

static void
cleanup(void)
{
	const char *keep = getenv("KEEP_TMP");
	size_t      i;

	if (getpid() != owner_pid)
		return; /* a forked child leaving: not ours */
	for (i = 0; i < nprocs; i++) {
		if (!procs[i]->exited) {
			kill(procs[i]->pid, SIGTERM);
			if (!reap(procs[i], EXIT_STOP_MS)) {
				kill(procs[i]->pid, SIGKILL);
				reap(procs[i], EXIT_STOP_MS);
			}
		}
		free(procs[i]->name);
		free(procs[i]->log);
		free(procs[i]->ready_line);
		free(procs[i]);
	}
	free(procs);
	procs = NULL;
	nprocs = 0;
	for (i = 0; i < nstrings; i++)
		free(strings[i]);
	free(strings);
	strings = NULL;
	nstrings = 0;
	if (tmpdir[0] == '\0')
		return;
	if (keep != NULL && strcmp(keep, "1") == 0)
		fprintf(stderr, "harness: kept %s\n", tmpdir);
	else
		nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
harness_tmpdir(void)
{
	const char *prog = program_invocation_short_name;

	if (tmpdir[0] != '\0')
		return (tmpdir);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/%.40s.XXXXXX",
	    prog != NULL && *prog != '\0' ? prog : "harness");
	if (mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "harness: mkdtemp %s: %s\n", tmpdir,
		    strerror(errno));
		abort();
	}
	owner_pid = getpid();
	atexit(cleanup);
	return (tmpdir);
}

const char *
harness_ipc_url(const char *name)
{
	char *s;

	s = xasprintf("ipc://%s/%s.ipc", harness_tmpdir(), name);
	strings = xrealloc(strings, (nstrings + 1) * sizeof(*strings));
	strings[nstrings++] = s;
	return (s);
}

/* The binary to run: a path as given, else under BIN_DIR. */
static char *
binary_path(const char *name)
{
	const char *bin = getenv("BIN_DIR"), *top = getenv("TOP_DIR");

	if (strchr(name, '/') != NULL)
		return (xstrdup(name));
	if (bin == NULL || *bin == '\0')
		bin = "build/debug/bin";
	if (bin[0] != '/' && top != NULL && *top != '\0')
		return (xasprintf("%s/%s/%s", top, bin, name));
	return (xasprintf("%s/%s", bin, name));
}

/* Whole file, NUL-terminated, malloc'd; NULL if unreadable. */
static char *
slurp(const char *path)
{
	FILE  *f;
	char  *buf = NULL;
	size_t len = 0, cap = 0, n;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	do {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return (buf);
}

static void
print_tail(const struct harness_proc *p)
{
	char *log = slurp(p->log), *s;
	int   lines = 0;

	if (log == NULL)
		return;
	s = log + strlen(log);
	while (s > log && lines <= TAIL_LINES)
		if (*--s == '\n')
			lines++;
	if (*s == '\n')
		s++;
	fprintf(stderr, "harness: --- last lines of %s ---\n%s", p->log, s);
	fprintf(stderr, "harness: --- end of %s ---\n", p->log);
	free(log);
}

static int
is_overridden(const char *var, const char *const env[])
{
	size_t len = strcspn(var, "="), i;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		if (strcspn(env[i], "=") == len
		    && strncmp(var, env[i], len) == 0)
			return (1);
	return (0);
}

/* Our environment minus the names in env, plus env's NAME=value. */
static char **
build_env(const char *const env[])
{
	size_t n = 0, m = 0, i, k = 0;
	char **out;

	while (environ[n] != NULL)
		n++;
	while (env != NULL && env[m] != NULL)
		m++;
	out = xcalloc(n + m + 1, sizeof(*out));
	for (i = 0; i < n; i++)
		if (!is_overridden(environ[i], env))
			out[k++] = environ[i];
	for (i = 0; i < m; i++)
		if (strchr(env[i], '=') != NULL)
			out[k++] = (char *)env[i];
	out[k] = NULL;
	return (out);
}

/*
 * In the child, between fork and exec: async-signal-safe calls only,
 * since the test may have threads (nng, libcurl) and a lock held by one of
 * them would stay locked here forever.
 */
static void
child_exec(const char *path, char **argv, char **envp, int logfd, int nullfd,
    pid_t parent)
{
	static const char msg[] = "harness: exec failed\n";
	struct sigaction  sa;
	sigset_t          none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* tests may block some */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127); /* the test died before prctl */
	if (dup2(nullfd, 0) == -1 || dup2(logfd, 1) == -1
	    || dup2(logfd, 2) == -1)
		_exit(127);
	close_range(3, ~0U, 0);
	execve(path, argv, envp);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

static int
wait_ready(struct harness_proc *p)
{
	long long deadline = harness_now_ms() + READY_TIMEOUT_MS;
	char     *log, *hit, *bol, *eol;

	for (;;) {
		if ((log = slurp(p->log)) != NULL
		    && (hit = strstr(log, "\"msg\":\"ready\"")) != NULL) {
			bol = hit;
			while (bol > log && bol[-1] != '\n')
				bol--;
			eol = hit + strcspn(hit, "\n");
			p->ready_line = xstrndup(bol, (size_t)(eol - bol));
			free(log);
			return (0);
		}
		free(log);
		if (reap(p, 0)) {
			fprintf(stderr,
			    "harness: %s exited with status %d "
			    "before it was ready\n",
			    p->name, p->status);
			return (-1);
		}
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "harness: %s not ready after %d ms\n",
			    p->name, READY_TIMEOUT_MS);
			return (-1);
		}
		sleep_ms(10);
	}
}

static struct harness_proc *
proc_new(const char *name)
{
	struct harness_proc *p = xcalloc(1, sizeof(*p));
	const char          *base = strrchr(name, '/');

	base = base != NULL ? base + 1 : name;
	p->name = xstrdup(base);
	p->log = xasprintf("%s/%s.%d.log", harness_tmpdir(), base, ++seq);
	p->pid = -1;
	p->exited = 1;
	procs = xrealloc(procs, (nprocs + 1) * sizeof(*procs));
	procs[nprocs++] = p; /* freed by cleanup() at exit */
	return (p);
}

struct harness_proc *
harness_spawn_args(
    const char *name, const char *const argv[], const char *const env[])
{
	struct harness_proc *p = proc_new(name);
	char                *path = binary_path(name), **av, **envp;
	int                  logfd, nullfd, n = 0, i;
	pid_t                parent = getpid(), pid;

	if (access(path, X_OK) == -1) {
		fprintf(stderr, "harness: %s: %s (BIN_DIR=%s)\n", path,
		    strerror(errno),
		    getenv("BIN_DIR") ? getenv("BIN_DIR") : "unset");
		free(path);
		return (NULL);
	}
	while (argv != NULL && argv[n] != NULL)
		n++;
	av = xcalloc((size_t)n + 2, sizeof(*av));
	av[0] = path;
	for (i = 0; i < n; i++)
		av[i + 1] = (char *)argv[i];
	envp = build_env(env);
	logfd = open(
	    p->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid = (logfd == -1 || nullfd == -1) ? -1 : fork();
	if (pid == 0)
		child_exec(path, av, envp, logfd, nullfd, parent);
	if (pid == -1)
		fprintf(stderr, "harness: cannot start %s: %s\n", path,
		    strerror(errno));
	if (logfd != -1)
		close(logfd);
	if (nullfd != -1)
		close(nullfd);
	free(av);
	free(envp);
	free(path);
	if (pid == -1)
		return (NULL);
	p->pid = pid;
	p->exited = 0;
	if (wait_ready(p) == -1) {
		print_tail(p);
		harness_kill9(p);
		return (NULL);
	}
	return (p);
}

struct harness_proc *
harness_spawn(const char *name, const char *const env[])
{
	return (harness_spawn_args(name, NULL, env));
}

int
harness_stop(struct harness_proc *p, int timeout_ms)
{
	if (p->exited)
		return (p->status);
	kill(p->pid, SIGTERM);
	if (reap(p, timeout_ms))
		return (p->status);
	fprintf(stderr,
	    "harness: %s (pid %d) still running %d ms after "
	    "SIGTERM; sending SIGKILL\n",
	    p->name, (int)p->pid, timeout_ms);
	kill(p->pid, SIGKILL);
	reap(p, EXIT_STOP_MS);
	return (-1);
}

int
harness_kill9(struct harness_proc *p)
{
	if (p->exited)
		return (p->status);
	kill(p->pid, SIGKILL);
	reap(p, EXIT_STOP_MS);
	return (p->status);
}

int
harness_alive(struct harness_proc *p)
{
	return (!reap(p, 0));
}

pid_t
harness_pid(const struct harness_proc *p)
{
	return (p->pid);
}

const char *
harness_log_path(const struct harness_proc *p)
{
	return (p->log);
}

int
harness_log_contains(const struct harness_proc *p, const char *s)
{
	char *log = slurp(p->log);
	int   hit;

	hit = log != NULL && strstr(log, s) != NULL;
	free(log);
	return (hit);
}

int
harness_log_wait(const struct harness_proc *p, const char *s, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (!harness_log_contains(p, s)) {
		if (harness_now_ms() >= deadline)
			return (-1);
		sleep_ms(10);
	}
	return (0);
}

int
harness_ready_port(const struct harness_proc *p)
{
	const char *s;
	char       *end;
	long        v;

	if (p->ready_line == NULL
	    || (s = strstr(p->ready_line, "\"port\":")) == NULL)
		return (-1);
	v = strtol(s + 7, &end, 10);
	if (end == s + 7 || v <= 0 || v > 65535)
		return (-1);
	return ((int)v);
}
