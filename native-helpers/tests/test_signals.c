#include <signal.h>

#include "signals.h"
#include "tap.h"

void test_signals(void)
{
    ok(!should_forward_signal(SIGINT, SI_KERNEL, false), "no pty: the terminal's ^C already reached the agent");
    ok(!should_forward_signal(SIGQUIT, SI_KERNEL, false), "no pty: the terminal's ^\\ already reached the agent");
    ok(!should_forward_signal(SIGTSTP, SI_KERNEL, false), "no pty: the terminal's ^Z already reached the agent");
    ok(!should_forward_signal(SIGWINCH, SI_KERNEL, false), "no pty: the terminal's resize already reached the agent");
    ok(should_forward_signal(SIGINT, SI_USER, false), "no pty: kill -INT is forwarded");
    ok(should_forward_signal(SIGWINCH, SI_USER, false), "no pty: kill -WINCH is forwarded");
    ok(should_forward_signal(SIGHUP, SI_KERNEL, false), "a terminal hangup is forwarded");
    ok(should_forward_signal(SIGHUP, SI_KERNEL, true), "a terminal hangup is forwarded with a pty");
    ok(should_forward_signal(SIGTERM, SI_USER, false), "SIGTERM is forwarded");
    ok(should_forward_signal(SIGINT, SI_KERNEL, true), "pty: the agent is not in the terminal's group, forward");
    ok(!should_forward_signal(SIGWINCH, SI_KERNEL, true), "pty: a resize becomes TIOCSWINSZ, not a signal");
    int n = 0;
    for (const int *s = forwarded_signals; *s != 0; s++)
        n++;
    is_int(n, 8, "eight signals are forwarded");
}
