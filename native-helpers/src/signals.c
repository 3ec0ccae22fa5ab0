#include "signals.h"

#include <errno.h>
#include <stddef.h>
#include <sys/signalfd.h>

#include "utils.h"

const int forwarded_signals[] = {SIGTERM, SIGHUP,   SIGINT,  SIGQUIT, SIGUSR1,
                                 SIGUSR2, SIGWINCH, SIGCONT, 0};

bool should_forward_signal(int signo, int si_code, bool tty_mode)
{
    if (signo == SIGHUP)
        return true;
    if (si_code != SI_KERNEL)
        return true;
    switch (signo) {
    case SIGINT:
    case SIGQUIT:
    case SIGTSTP:
        return tty_mode;
    case SIGWINCH:
        return false;
    default:
        return true;
    }
}

void block_forwarded_signals(sigset_t *set)
{
    sigemptyset(set);
    for (const int *s = forwarded_signals; *s != 0; s++)
        sigaddset(set, *s);
    sigaddset(set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
        die_with_error("can't block signals");
}

int open_signalfd(const sigset_t *set)
{
    int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        die_with_error("can't create signalfd");
    return fd;
}

void reset_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            (void)sigaction(s, &sa, NULL); /* real-time signals glibc reserves fail: fine */
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        die_with_error("can't unblock signals");
}
