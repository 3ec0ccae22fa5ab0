#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp.h"
#include "tap.h"

/* Each check runs in a child (a seccomp filter can't be removed); the child exits
 * with the errno its ioctl got, 0 for success. */
enum call { PLAIN_TIOCSTI, HIGH_BITS_TIOCSTI, TIOCLINUX_CALL, FIONREAD_CALL, I386_TIOCSTI, X32_TIOCSTI };

#if defined(__x86_64__)
static long int80(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}
#endif

static int call_errno(enum call call, int fd)
{
    char c = 'x';
    int n = 0;
    long rc;
    switch (call) {
    case PLAIN_TIOCSTI:
        rc = ioctl(fd, TIOCSTI, &c);
        break;
    case HIGH_BITS_TIOCSTI:
        rc = syscall(SYS_ioctl, fd, (unsigned long)TIOCSTI | (1UL << 32), &c);
        break;
    case TIOCLINUX_CALL:
        rc = ioctl(fd, TIOCLINUX, &c);
        break;
    case FIONREAD_CALL:
        rc = ioctl(fd, FIONREAD, &n);
        break;
#if defined(__x86_64__)
    case I386_TIOCSTI:
        rc = int80(54, fd, TIOCSTI, 0);
        if (rc < 0) {
            errno = (int)-rc;
            rc = -1;
        }
        break;
    case X32_TIOCSTI:
        rc = syscall(0x40000000L | 514, fd, TIOCSTI, &c);
        break;
#endif
    default:
        return -1;
    }
    return rc < 0 ? errno : 0;
}

static int in_child(enum call call, int filtered)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (filtered && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || install_tiocsti_filter() < 0))
            _exit(255);
        _exit(call_errno(call, p[0]));
    }
    close(p[0]);
    close(p[1]);
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

void test_seccomp(void)
{
    /* On a pipe the kernel says ENOTTY; with the filter, seccomp says EPERM first. */
    is_int(in_child(PLAIN_TIOCSTI, 0), ENOTTY, "without the filter TIOCSTI on a pipe is ENOTTY");
    is_int(in_child(PLAIN_TIOCSTI, 1), EPERM, "seccomp: TIOCSTI is EPERM");
    is_int(in_child(HIGH_BITS_TIOCSTI, 0), ENOTTY, "without the filter TIOCSTI|1<<32 reaches the kernel");
    is_int(in_child(HIGH_BITS_TIOCSTI, 1), EPERM, "seccomp: TIOCSTI|1<<32 is EPERM too (CVE-2019-10063)");
    is_int(in_child(TIOCLINUX_CALL, 1), EPERM, "seccomp: TIOCLINUX is EPERM");
    is_int(in_child(FIONREAD_CALL, 1), 0, "seccomp: other ioctls still work");
#if defined(__x86_64__)
    int native = in_child(I386_TIOCSTI, 0);
    if (native == ENOSYS)
        skip("seccomp: i386 ioctl (int 0x80) is EPERM", "the kernel has no 32-bit emulation");
    else {
        is_int(native, ENOTTY, "without the filter an i386 ioctl (int 0x80) reaches the kernel");
        is_int(in_child(I386_TIOCSTI, 1), EPERM, "seccomp: i386 ioctl (int 0x80) is EPERM");
    }
    is_int(in_child(X32_TIOCSTI, 1), EPERM, "seccomp: x32 ioctl is EPERM (even without x32 support)");
#endif
}
