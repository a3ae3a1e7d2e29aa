/*
 * sig - signals for daemons.
 *
 * sig_block() runs in main before any thread exists: it blocks SIGINT,
 * SIGTERM and SIGHUP (threads inherit the mask, so only sig_wait() sees
 * them) and ignores SIGPIPE.  sig_wait() returns the signal that arrived.
 * sig_watchdog() bounds shutdown: if the process is still alive after
 * timeout_ms it logs (with the step named by sig_watchdog_step()) and
 * exits, so an orchestrator never needs SIGKILL.
 */
#ifndef SIG_H
#define SIG_H

#include <signal.h>

void sig_block(sigset_t *);
int  sig_wait(const sigset_t *);
/* Start a detached timer thread that exits the process with status 1
 * after timeout_ms.  Call once, when shutdown begins. */
void sig_watchdog(long timeout_ms);
/* Name the shutdown step under way (a string that lives as long as the
 * process), so that the watchdog says where the time went. */
void sig_watchdog_step(const char *step);
/* End a daemon after its shutdown: stdio flushed, then _exit(code),
 * without the atexit handlers and library destructors.  A shutdown may
 * have left a socket close behind (bus_close: NNG 1.5.2 can hang in
 * nng_close), so threads may still be inside NNG, and through it
 * OpenSSL, whose clean-up at exit would run under them.  Whatever a
 * daemon must finish is finished before this. */
_Noreturn void sig_exit(int code);

#endif
