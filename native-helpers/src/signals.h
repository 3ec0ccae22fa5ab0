/* Which signals the outer process and init pass on, and the signalfd plumbing for it. */
#ifndef SANDBOX_SIGNALS_H
#define SANDBOX_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

/* SIGTERM SIGHUP SIGINT SIGQUIT SIGUSR1 SIGUSR2 SIGWINCH SIGCONT, then 0. */
extern const int forwarded_signals[];

/* Whether a signal received with si_code should be passed on towards the agent.
 * Without a pty the agent shares the user's terminal, so the kernel has already given
 * it the terminal's INT/QUIT/TSTP/WINCH (si_code SI_KERNEL): passing them on would
 * deliver Ctrl-C twice. A hangup is always passed on. With a pty, a SIGWINCH from the
 * user's terminal is turned into a window size change on the pty instead. */
bool should_forward_signal(int signo, int si_code, bool tty_mode);

/* Blocks the forwarded signals and SIGCHLD (so none is lost before the signalfd exists)
 * and fills *set with them. */
void block_forwarded_signals(sigset_t *set);
/* A non-blocking, close-on-exec signalfd for set; dies on failure. */
int open_signalfd(const sigset_t *set);
/* Back to a fresh process's state: every disposition default, nothing blocked. */
void reset_signals(void);

#endif
