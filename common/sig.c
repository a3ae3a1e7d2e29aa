/*
 * sig - signal mask, wait and the shutdown watchdog; see sig.h.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sig.h"

#if defined(__SANITIZE_ADDRESS__)
#define SIG_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIG_LSAN 1
#endif
#endif
#ifdef SIG_LSAN
#include <sanitizer/lsan_interface.h>
#endif

void
sig_block(sigset_t *set)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

int
sig_wait(const sigset_t *set)
{
	int sig = 0;

	while (sigwait(set, &sig) != 0)
		;
	log_info("received %s",
	    sig == SIGTERM      ? "SIGTERM"
	        : sig == SIGINT ? "SIGINT"
	                        : "SIGHUP");
	return (sig);
}

static _Atomic(const char *) watchdog_step;

void
sig_watchdog_step(const char *step)
{
	atomic_store(&watchdog_step, step);
}

static void *
watchdog_main(void *arg)
{
	long            ms = (long)arg;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	const char     *step;

	while (nanosleep(&ts, &ts) != 0)
		;
	step = atomic_load(&watchdog_step);
	log_errorx("shutdown took longer than %ld ms (at: %s); exiting now",
	    ms, step != NULL ? step : "unnamed step");
	_exit(1);
	return (NULL);
}

void
sig_watchdog(long timeout_ms)
{
	pthread_t t;

	if (timeout_ms <= 0)
		return;
	if (pthread_create(&t, NULL, watchdog_main, (void *)timeout_ms) == 0)
		pthread_detach(t);
}

void
sig_exit(int code)
{
	fflush(stdout);
	fflush(stderr);
#ifdef SIG_LSAN
	/* _exit skips the leak check LeakSanitizer runs at exit */
	__lsan_do_leak_check();
#endif
	_exit(code);
}
