/*
 * sig - signal mask, wait and the shutdown watchdog; see sig.h.
 */
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sig.h"

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

static void *
watchdog_main(void *arg)
{
	long            ms = (long)arg;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
	log_errorx("shutdown took longer than %ld ms; exiting now", ms);
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
