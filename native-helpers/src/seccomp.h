/* The seccomp filter that stops the agent from typing into a terminal: ioctl TIOCSTI
 * and TIOCLINUX fail with EPERM, every other syscall is allowed. */
#ifndef SANDBOX_SECCOMP_H
#define SANDBOX_SECCOMP_H

/* Installs the filter on the calling thread; needs PR_SET_NO_NEW_PRIVS (or
 * CAP_SYS_ADMIN) first. 0, or -1 with errno. */
int install_tiocsti_filter(void);

#endif
