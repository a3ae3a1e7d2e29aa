/*
 * sig - signals for daemons.
 *
 * sig_block() runs in main before any thread exists: it blocks SIGINT,
 * SIGTERM and SIGHUP (threads inherit the mask, so only sig_wait() sees
 * them) and ignores SIGPIPE.  sig_wait() returns the signal that arrived.
 * sig_watchdog() bounds shutdown: if the process is still alive after
 * timeout_ms it logs and exits, so an orchestrator never needs SIGKILL.
 */
#ifndef SIG_H
#define SIG_H

#include <signal.h>

void sig_block(sigset_t *);
int  sig_wait(const sigset_t *);
/* Start a detached timer thread that exits the process with status 1
 * after timeout_ms.  Call once, when shutdown begins. */
void sig_watchdog(long timeout_ms);

#endif
