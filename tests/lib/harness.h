/*
 * harness - run the real binaries from an integration test.
 *
 * A test spawns daemons and simulators with harness_spawn(), talks to them
 * (harness_http() for HTTP, its own nng sockets on harness_ipc_url()
 * addresses for the bus) and stops them with harness_stop(), expecting exit
 * status 0.  Each test process has one scratch directory (harness_tmpdir())
 * holding the logs and ipc sockets; it is removed at exit unless KEEP_TMP=1.
 * Every child still running at exit is stopped (SIGTERM, then SIGKILL), and
 * each child is also sent SIGKILL if the test process dies first, so no test
 * leaves strays.
 *
 * Environment read: BIN_DIR (where binaries are; default build/debug/bin,
 * relative paths resolved against TOP_DIR when set), TOP_DIR, KEEP_TMP.
 *
 * Spawning, stopping and the scratch directory are for the test's main
 * thread only (a child's death signal is tied to the thread that forked
 * it); harness_http*(), harness_wait_for() and harness_now_ms() may be
 * called from any thread.  Functions returning
 * int give 0 on success and -1 on failure, with the reason already printed
 * on stderr.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <sys/types.h>

struct harness_proc;

/* The per-process scratch directory, created on first use. */
const char *harness_tmpdir(void);

/*
 * "ipc://<tmpdir>/<name>.ipc".  The string stays valid until exit.
 */
const char *harness_ipc_url(const char *name);

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int harness_free_port(void);

/*
 * Starts $BIN_DIR/<name> (or name itself if it contains a '/') with the
 * current environment plus env, a NULL-terminated list of "NAME=value"
 * overrides ("NAME" alone removes NAME; env may be NULL).  argv holds the
 * arguments after the program name, NULL-terminated, or is NULL.  stdout
 * and stderr go to <tmpdir>/<name>.<n>.log.  Blocks until a line
 * containing "msg":"ready" appears in the log (at most 10 s).  On failure
 * (exec error, early exit, timeout) prints the log tail, kills the child
 * and returns NULL.  The handle stays valid until exit, even after
 * harness_stop().
 */
struct harness_proc *harness_spawn(const char *name, const char *const env[]);
struct harness_proc *harness_spawn_args(
    const char *name, const char *const argv[], const char *const env[]);

/*
 * SIGTERM, then waits up to timeout_ms.  Returns the exit status (128 + n
 * if killed by signal n), or -1 after a SIGKILL on timeout.  On a child
 * that has already exited, returns how it ended.
 */
int harness_stop(struct harness_proc *p, int timeout_ms);

/* SIGKILL and reap.  Returns how the child ended, as harness_stop(). */
int harness_kill9(struct harness_proc *p);

/* 1 while the child runs, 0 once it has exited (it is reaped here). */
int harness_alive(struct harness_proc *p);

pid_t       harness_pid(const struct harness_proc *p);
const char *harness_log_path(const struct harness_proc *p);

/* 1 if the child's log contains s, else 0. */
int harness_log_contains(const struct harness_proc *p, const char *s);

/* Blocks up to timeout_ms for s to appear in the log; 0 or -1. */
int harness_log_wait(
    const struct harness_proc *p, const char *s, int timeout_ms);

/* The N of "port":N in the ready line, or -1. */
int harness_ready_port(const struct harness_proc *p);

/*
 * One HTTP request with libcurl (blocking, 30 s timeout).  headers is a
 * NULL-terminated list of "Name: value" lines or NULL; body NULL sends
 * none.  Returns 0 once any HTTP response arrived, whatever its status,
 * and -1 on a transport error.  *resp_body (if resp_body is not NULL) is
 * the NUL-terminated body, malloc'd: free() it.
 */
int harness_http(const char *method, const char *url,
    const char *const headers[], const char *body, long *status,
    char **resp_body);

/* As harness_http(), with a timeout and the response headers (malloc'd,
 * raw "Name: value\r\n" lines; resp_headers may be NULL). */
int harness_http_full(const char *method, const char *url,
    const char *const headers[], const char *body, int timeout_ms,
    long *status, char **resp_body, char **resp_headers);

/* Polls pred(arg) every 10 ms until it returns non-zero: 0, or -1 after
 * timeout_ms. */
int harness_wait_for(int (*pred)(void *), void *arg, int timeout_ms);

/* Milliseconds on the monotonic clock. */
long long harness_now_ms(void);

#endif /* HARNESS_H */
