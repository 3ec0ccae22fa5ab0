#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "seccomp.h"
#include "tap.h"
#include "utils.h"

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

/* The setid filter's checks: each runs in a child inside a fresh directory and exits with
 * the errno its call got, 0 for success. */
enum setid_call {
    CHMOD_SUID,
    CHMOD_SGID,
    CHMOD_PLAIN,
    CHMOD_HIGH_BITS,
    FCHMOD_SUID,
    FCHMODAT_SUID,
    FCHMODAT2_SUID,
    OPEN_CREAT_SUID,
    OPEN_CREAT_PLAIN,
    OPEN_EXISTING_MODE_BITS,
    OPENAT_CREAT_SGID,
    OPEN_TMPFILE_SUID,
    CREAT_SUID,
    MKNOD_SUID,
    MKNOD_FIFO,
    OPENAT2_CALL,
    IO_URING_SETUP_CALL,
    I386_CHMOD_SUID,
    I386_OPEN_CREAT_SUID,
    X32_CHMOD_SUID,
};

static long setid_syscall(enum setid_call call, const char *dir)
{
    cleanup_free char *f = xasprintf("%s/f", dir);
    cleanup_free char *g = xasprintf("%s/g", dir);
    switch (call) {
    case CHMOD_SUID:
        return chmod(f, 04755);
    case CHMOD_SGID:
        return chmod(f, 02755);
    case CHMOD_PLAIN:
        return chmod(f, 0755);
    case CHMOD_HIGH_BITS:
        return syscall(SYS_chmod, f, (1UL << 32) | 04755);
    case FCHMOD_SUID: {
        int fd = open(f, O_RDONLY);
        return fd < 0 ? -1 : fchmod(fd, 04755);
    }
    case FCHMODAT_SUID:
        return fchmodat(AT_FDCWD, f, 04755, 0);
    case FCHMODAT2_SUID:
        return syscall(452, AT_FDCWD, f, 04755, 0);
    case OPEN_CREAT_SUID:
        return open(g, O_CREAT | O_WRONLY, 04755);
    case OPEN_CREAT_PLAIN:
        return open(g, O_CREAT | O_WRONLY, 0755);
    case OPEN_EXISTING_MODE_BITS:
        return syscall(SYS_open, f, O_RDONLY, 04755);
    case OPENAT_CREAT_SGID:
        return openat(AT_FDCWD, g, O_CREAT | O_EXCL | O_WRONLY, 02755);
    case OPEN_TMPFILE_SUID:
        return open(dir, O_TMPFILE | O_WRONLY, 04755);
    case CREAT_SUID:
        return creat(g, 04755);
    case MKNOD_SUID:
        return mknod(g, S_IFREG | 04755, 0);
    case MKNOD_FIFO:
        return mknod(g, S_IFIFO | 0644, 0);
    case OPENAT2_CALL: {
        struct {
            uint64_t flags, mode, resolve;
        } how = {O_RDONLY, 0, 0};
        return syscall(437, AT_FDCWD, f, &how, sizeof how);
    }
    case IO_URING_SETUP_CALL: {
        char params[120] = {0}; /* struct io_uring_params */
        return syscall(425, 1, params);
    }
#if defined(__x86_64__)
    case I386_CHMOD_SUID:
    case I386_OPEN_CREAT_SUID: {
        /* int 0x80 takes 32-bit pointers: the path must live below 4 GiB. */
        char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (low == MAP_FAILED)
            return -1;
        snprintf(low, 4096, "%s", call == I386_CHMOD_SUID ? f : g);
        long rc = call == I386_CHMOD_SUID ? int80(15, (long)low, 04755, 0) : int80(5, (long)low, O_CREAT | O_WRONLY, 04755);
        if (rc < 0) {
            errno = (int)-rc;
            return -1;
        }
        return 0;
    }
    case X32_CHMOD_SUID:
        return syscall(0x40000000L | 90, f, 04755);
#endif
    default:
        errno = EINVAL;
        return -1;
    }
}

static int setid_in_child(enum setid_call call, int filtered)
{
    char dir[] = "/tmp/test-seccomp-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return -1;
    cleanup_free char *f = xasprintf("%s/f", dir);
    cleanup_free char *g = xasprintf("%s/g", dir);
    int fd = open(f, O_CREAT | O_WRONLY, 0644);
    if (fd < 0)
        return -1;
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        if (filtered && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || install_setid_filter() < 0))
            _exit(255);
        _exit(setid_syscall(call, dir) < 0 ? errno : 0);
    }
    int status;
    pid_t waited = waitpid(pid, &status, 0);
    unlink(f);
    unlink(g);
    rmdir(dir);
    if (waited < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_seccomp_filecaps(void);
static void test_seccomp_cgroupns(void);
static void test_seccomp_keyring(void);

void test_seccomp_setid(void)
{
    is_int(setid_in_child(CHMOD_SUID, 0), 0, "without the setid filter chmod 4755 works");
    is_int(setid_in_child(CHMOD_SUID, 1), EPERM, "setid: chmod 4755 is EPERM");
    is_int(setid_in_child(CHMOD_SGID, 1), EPERM, "setid: chmod 2755 is EPERM");
    is_int(setid_in_child(CHMOD_PLAIN, 1), 0, "setid: chmod 755 works");
    is_int(setid_in_child(CHMOD_HIGH_BITS, 1), EPERM, "setid: chmod 4755|1<<32 is EPERM");
    is_int(setid_in_child(FCHMOD_SUID, 1), EPERM, "setid: fchmod 4755 is EPERM");
    is_int(setid_in_child(FCHMODAT_SUID, 1), EPERM, "setid: fchmodat 4755 is EPERM");
    is_int(setid_in_child(FCHMODAT2_SUID, 1), EPERM, "setid: fchmodat2 4755 is EPERM");
    is_int(setid_in_child(OPEN_CREAT_SUID, 0), 0, "without the setid filter open(O_CREAT, 04755) works");
    is_int(setid_in_child(OPEN_CREAT_SUID, 1), EPERM, "setid: open(O_CREAT, 04755) is EPERM");
    is_int(setid_in_child(OPEN_CREAT_PLAIN, 1), 0, "setid: open(O_CREAT, 0755) works");
    is_int(setid_in_child(OPEN_EXISTING_MODE_BITS, 1), 0, "setid: open without O_CREAT ignores the mode");
    is_int(setid_in_child(OPENAT_CREAT_SGID, 1), EPERM, "setid: openat(O_CREAT, 02755) is EPERM");
    int tmpfile = setid_in_child(OPEN_TMPFILE_SUID, 0);
    if (tmpfile != 0)
        skip("setid: open(O_TMPFILE, 04755) is EPERM", "/tmp has no O_TMPFILE");
    else
        is_int(setid_in_child(OPEN_TMPFILE_SUID, 1), EPERM, "setid: open(O_TMPFILE, 04755) is EPERM");
    is_int(setid_in_child(CREAT_SUID, 1), EPERM, "setid: creat 04755 is EPERM");
    is_int(setid_in_child(MKNOD_SUID, 1), EPERM, "setid: mknod S_IFREG|04755 is EPERM");
    is_int(setid_in_child(MKNOD_FIFO, 1), 0, "setid: mknod of a fifo works");
    is_int(setid_in_child(OPENAT2_CALL, 1), ENOSYS, "setid: openat2 is ENOSYS");
    is_int(setid_in_child(IO_URING_SETUP_CALL, 1), ENOSYS, "setid: io_uring_setup is ENOSYS");
#if defined(__x86_64__)
    int native = setid_in_child(I386_CHMOD_SUID, 0);
    if (native == ENOSYS) {
        skip("setid: i386 chmod (int 0x80) is EPERM", "the kernel has no 32-bit emulation");
        skip("setid: i386 open(O_CREAT, 04755) is EPERM", "the kernel has no 32-bit emulation");
    } else {
        is_int(native, 0, "without the setid filter an i386 chmod (int 0x80) works");
        is_int(setid_in_child(I386_CHMOD_SUID, 1), EPERM, "setid: i386 chmod 4755 (int 0x80) is EPERM");
        is_int(setid_in_child(I386_OPEN_CREAT_SUID, 1), EPERM, "setid: i386 open(O_CREAT, 04755) is EPERM");
    }
    is_int(setid_in_child(X32_CHMOD_SUID, 1), EPERM, "setid: x32 chmod 4755 is EPERM (even without x32 support)");
#endif
    test_seccomp_filecaps();
    test_seccomp_cgroupns();
    test_seccomp_keyring();
}

/* The filecaps filter's checks, as the setid ones: each runs in a child on a fresh file
 * and exits with the errno its call got, 0 for success. user.* attributes stand in for
 * security.capability, which only a privileged caller may set without the filter. */
enum filecaps_call {
    SETXATTR_20,
    SETXATTR_24,
    SETXATTR_16,
    SETXATTR_20_HIGH_BITS,
    LSETXATTR_24,
    FSETXATTR_20,
    FSETXATTR_12,
    SETXATTRAT_CALL,
    IO_URING_SETUP_FILECAPS,
    I386_SETXATTR_20,
    X32_SETXATTR_24,
};

static long filecaps_syscall(enum filecaps_call call, const char *f)
{
    static const char value[32] = "0123456789abcdefghijklmnopqrstu";
    switch (call) {
    case SETXATTR_20:
        return setxattr(f, "user.t", value, 20, 0);
    case SETXATTR_24:
        return setxattr(f, "user.t", value, 24, 0);
    case SETXATTR_16:
        return setxattr(f, "user.t", value, 16, 0);
    case SETXATTR_20_HIGH_BITS:
        return syscall(SYS_setxattr, f, "user.t", value, (1UL << 32) | 20, 0);
    case LSETXATTR_24:
        return lsetxattr(f, "user.t", value, 24, 0);
    case FSETXATTR_20:
    case FSETXATTR_12: {
        int fd = open(f, O_RDONLY);
        return fd < 0 ? -1 : fsetxattr(fd, "user.t", value, call == FSETXATTR_20 ? 20 : 12, 0);
    }
    case SETXATTRAT_CALL: {
        struct {
            uint64_t value;
            uint32_t size, flags;
        } args = {(uint64_t)(uintptr_t)value, 20, 0};
        return syscall(463, AT_FDCWD, f, 0, "user.t", &args, sizeof args);
    }
    case IO_URING_SETUP_FILECAPS: {
        char params[120] = {0}; /* struct io_uring_params */
        return syscall(425, 1, params);
    }
#if defined(__x86_64__)
    case I386_SETXATTR_20: {
        /* int 0x80 takes 32-bit pointers: path, name and value must live below 4 GiB. The
         * size goes in esi, which int80() does not set: fsetxattr's fd, name, value and
         * size are ebx, ecx, edx, esi. */
        char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (low == MAP_FAILED)
            return -1;
        snprintf(low, 64, "user.t");
        memcpy(low + 64, value, sizeof value);
        int fd = open(f, O_RDONLY);
        if (fd < 0)
            return -1;
        long rc;
        __asm__ volatile("int $0x80"
                         : "=a"(rc)
                         : "a"(228L), "b"((long)fd), "c"((long)low), "d"((long)(low + 64)), "S"(20L), "D"(0L)
                         : "memory", "r8", "r9", "r10", "r11");
        if (rc < 0) {
            errno = (int)-rc;
            return -1;
        }
        return 0;
    }
    case X32_SETXATTR_24:
        return syscall(0x40000000L | 188, f, "user.t", value, 24, 0);
#endif
    default:
        errno = EINVAL;
        return -1;
    }
}

static int filecaps_in_child(enum filecaps_call call, int filtered)
{
    char dir[] = "/tmp/test-seccomp-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return -1;
    cleanup_free char *f = xasprintf("%s/f", dir);
    int fd = open(f, O_CREAT | O_WRONLY, 0644);
    if (fd < 0)
        return -1;
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        if (filtered && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || install_filecaps_filter() < 0))
            _exit(255);
        _exit(filecaps_syscall(call, f) < 0 ? errno : 0);
    }
    int status;
    pid_t waited = waitpid(pid, &status, 0);
    unlink(f);
    rmdir(dir);
    if (waited < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_seccomp_filecaps(void)
{
    if (filecaps_in_child(SETXATTR_20, 0) == ENOTSUP) {
        skip("filecaps: the filter's checks", "/tmp has no user.* attributes");
        return;
    }
    is_int(filecaps_in_child(SETXATTR_20, 0), 0, "without the filecaps filter a 20-byte attribute works");
    is_int(filecaps_in_child(SETXATTR_20, 1), EPERM, "filecaps: setxattr of 20 bytes (v2 capability) is EPERM");
    is_int(filecaps_in_child(SETXATTR_24, 1), EPERM, "filecaps: setxattr of 24 bytes (v3 capability) is EPERM");
    is_int(filecaps_in_child(SETXATTR_16, 1), 0, "filecaps: setxattr of 16 bytes works");
    is_int(filecaps_in_child(FSETXATTR_12, 1), 0, "filecaps: fsetxattr of 12 bytes (v1 size, refused by the kernel) works");
    is_int(filecaps_in_child(SETXATTR_20_HIGH_BITS, 0), E2BIG, "without the filter a size of 20|1<<32 is E2BIG");
    is_int(filecaps_in_child(SETXATTR_20_HIGH_BITS, 1), EPERM, "filecaps: setxattr of 20|1<<32 bytes is EPERM");
    is_int(filecaps_in_child(LSETXATTR_24, 1), EPERM, "filecaps: lsetxattr of 24 bytes is EPERM");
    is_int(filecaps_in_child(FSETXATTR_20, 1), EPERM, "filecaps: fsetxattr of 20 bytes is EPERM");
    int at = filecaps_in_child(SETXATTRAT_CALL, 0);
    if (at == ENOSYS)
        skip("filecaps: setxattrat is ENOSYS", "the kernel has no setxattrat (Linux 6.13)");
    else {
        is_int(at, 0, "without the filter setxattrat of 20 bytes works");
        is_int(filecaps_in_child(SETXATTRAT_CALL, 1), ENOSYS, "filecaps: setxattrat is ENOSYS");
    }
    is_int(filecaps_in_child(IO_URING_SETUP_FILECAPS, 1), ENOSYS, "filecaps: io_uring_setup is ENOSYS");
#if defined(__x86_64__)
    int native = filecaps_in_child(I386_SETXATTR_20, 0);
    if (native == ENOSYS)
        skip("filecaps: i386 fsetxattr of 20 bytes is EPERM", "the kernel has no 32-bit emulation");
    else {
        is_int(native, 0, "without the filter an i386 fsetxattr (int 0x80) of 20 bytes works");
        is_int(filecaps_in_child(I386_SETXATTR_20, 1), EPERM, "filecaps: i386 fsetxattr of 20 bytes is EPERM");
    }
    is_int(filecaps_in_child(X32_SETXATTR_24, 1), EPERM,
           "filecaps: x32 setxattr of 24 bytes is EPERM (even without x32 support)");
#endif
}

/* The cgroupns filter's checks, as the others: each runs in a child and exits with the
 * errno its call got, 0 for success. A user namespace comes along with each cgroup
 * namespace, so they work unprivileged where the kernel allows user namespaces. */
enum cgroupns_call {
    UNSHARE_CGROUP,
    UNSHARE_CGROUP_HIGH_BITS,
    UNSHARE_USER_MOUNT,
    CLONE_CGROUP,
    CLONE_CGROUP_HIGH_BITS,
    CLONE_PLAIN,
    CLONE3_CALL,
    THREAD_AND_SPAWN,
    I386_UNSHARE_CGROUP,
    I386_CLONE_CGROUP,
    I386_CLONE3,
    X32_UNSHARE_CGROUP,
};

#define NEW_USER_CGROUP (CLONE_NEWUSER | CLONE_NEWCGROUP)

static void *thread_main(void *arg)
{
    return arg;
}

/* A raw clone that forks: the child exits at once, the parent reaps it. */
static long raw_clone(unsigned long flags)
{
    long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid < 0 ? -1 : 0;
}

#if defined(__x86_64__)
static long int80_errno(long nr, long a, long b, long c)
{
    long rc = int80(nr, a, b, c);
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return 0;
}
#endif

static long cgroupns_syscall(enum cgroupns_call call)
{
    switch (call) {
    case UNSHARE_CGROUP:
        return unshare(NEW_USER_CGROUP);
    case UNSHARE_CGROUP_HIGH_BITS:
        return syscall(SYS_unshare, (1UL << 32) | NEW_USER_CGROUP);
    case UNSHARE_USER_MOUNT:
        return unshare(CLONE_NEWUSER | CLONE_NEWNS);
    case CLONE_CGROUP:
        return raw_clone(NEW_USER_CGROUP);
    case CLONE_CGROUP_HIGH_BITS:
        return raw_clone((1UL << 32) | NEW_USER_CGROUP);
    case CLONE_PLAIN:
        return raw_clone(0);
    case CLONE3_CALL:
        /* A null struct clone_args: EFAULT from the kernel, so nothing forks. */
        return syscall(435, NULL, 88);
    case THREAD_AND_SPAWN: {
        /* glibc 2.34+ tries clone3 first for both, then falls back to clone. */
        pthread_t t;
        if ((errno = pthread_create(&t, NULL, thread_main, NULL)) != 0 || pthread_join(t, NULL) != 0)
            return -1;
        pid_t pid;
        char *argv[] = {"true", NULL};
        if ((errno = posix_spawnp(&pid, "true", NULL, NULL, argv, NULL)) != 0)
            return -1;
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            errno = ECHILD;
            return -1;
        }
        pid = fork();
        if (pid == 0)
            _exit(0);
        return pid < 0 || waitpid(pid, NULL, 0) < 0 ? -1 : 0;
    }
#if defined(__x86_64__)
    case I386_UNSHARE_CGROUP:
        return int80_errno(310, NEW_USER_CGROUP, 0, 0);
    case I386_CLONE_CGROUP:
        /* CLONE_FS with CLONE_NEWUSER is EINVAL from the kernel, so nothing forks. */
        return int80_errno(120, NEW_USER_CGROUP | CLONE_FS, 0, 0);
    case I386_CLONE3:
        return int80_errno(435, 0, 88, 0);
    case X32_UNSHARE_CGROUP:
        return syscall(0x40000000L | 272, NEW_USER_CGROUP);
#endif
    default:
        errno = EINVAL;
        return -1;
    }
}

static int cgroupns_in_child(enum cgroupns_call call, int filtered)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (filtered && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || install_cgroupns_filter() < 0))
            _exit(255);
        _exit(cgroupns_syscall(call) < 0 ? errno : 0);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_seccomp_cgroupns(void)
{
    is_int(cgroupns_in_child(CLONE3_CALL, 0), EFAULT, "without the cgroupns filter clone3 reaches the kernel");
    is_int(cgroupns_in_child(CLONE3_CALL, 1), ENOSYS, "cgroupns: clone3 is ENOSYS");
    is_int(cgroupns_in_child(CLONE_PLAIN, 1), 0, "cgroupns: clone without namespaces works");
    is_int(cgroupns_in_child(THREAD_AND_SPAWN, 1), 0, "cgroupns: pthread_create, posix_spawn and fork work");
    is_int(cgroupns_in_child(UNSHARE_CGROUP_HIGH_BITS, 0), EINVAL,
           "without the filter unshare of CLONE_NEWCGROUP|1<<32 is EINVAL");
    is_int(cgroupns_in_child(UNSHARE_CGROUP_HIGH_BITS, 1), EPERM, "cgroupns: unshare of CLONE_NEWCGROUP|1<<32 is EPERM");
    is_int(cgroupns_in_child(X32_UNSHARE_CGROUP, 1), EPERM,
           "cgroupns: x32 unshare of CLONE_NEWCGROUP is EPERM (even without x32 support)");
    if (cgroupns_in_child(UNSHARE_CGROUP, 0) != 0) {
        skip("cgroupns: unshare and clone of CLONE_NEWCGROUP are EPERM", "the kernel refuses user namespaces here");
        return;
    }
    is_int(cgroupns_in_child(UNSHARE_CGROUP, 1), EPERM, "cgroupns: unshare of CLONE_NEWCGROUP is EPERM");
    is_int(cgroupns_in_child(UNSHARE_USER_MOUNT, 1), 0, "cgroupns: unshare of other namespaces works");
    is_int(cgroupns_in_child(CLONE_CGROUP, 0), 0, "without the filter clone of CLONE_NEWCGROUP works");
    is_int(cgroupns_in_child(CLONE_CGROUP, 1), EPERM, "cgroupns: clone of CLONE_NEWCGROUP is EPERM");
    is_int(cgroupns_in_child(CLONE_CGROUP_HIGH_BITS, 0), 0, "without the filter clone drops the high 32 bits");
    is_int(cgroupns_in_child(CLONE_CGROUP_HIGH_BITS, 1), EPERM, "cgroupns: clone of CLONE_NEWCGROUP|1<<32 is EPERM");
#if defined(__x86_64__)
    int native = cgroupns_in_child(I386_UNSHARE_CGROUP, 0);
    if (native == ENOSYS) {
        skip("cgroupns: i386 unshare, clone and clone3 are refused", "the kernel has no 32-bit emulation");
        return;
    }
    is_int(native, 0, "without the filter an i386 unshare (int 0x80) of CLONE_NEWCGROUP works");
    is_int(cgroupns_in_child(I386_UNSHARE_CGROUP, 1), EPERM, "cgroupns: i386 unshare of CLONE_NEWCGROUP is EPERM");
    is_int(cgroupns_in_child(I386_CLONE_CGROUP, 0), EINVAL, "without the filter an i386 clone reaches the kernel");
    is_int(cgroupns_in_child(I386_CLONE_CGROUP, 1), EPERM, "cgroupns: i386 clone of CLONE_NEWCGROUP is EPERM");
    is_int(cgroupns_in_child(I386_CLONE3, 0), EFAULT, "without the filter an i386 clone3 reaches the kernel");
    is_int(cgroupns_in_child(I386_CLONE3, 1), ENOSYS, "cgroupns: i386 clone3 is ENOSYS");
#endif
}

/* The keyring filter's checks, as the others. Each call is made with arguments the kernel
 * refuses without side effects (an unknown keyctl operation: EOPNOTSUPP; a null key type:
 * EFAULT), so "reaches the kernel" and "refused by the filter" differ. */
enum keyring_call { KEYCTL_CALL, KEYCTL_READ_USER, ADD_KEY_CALL, REQUEST_KEY_CALL, I386_KEYCTL, X32_KEYCTL };

#define KEYCTL_UNKNOWN_OP 9999

static long keyring_syscall(enum keyring_call call)
{
    switch (call) {
    case KEYCTL_CALL:
        return syscall(SYS_keyctl, KEYCTL_UNKNOWN_OP, 0, 0, 0, 0);
    case KEYCTL_READ_USER:
        /* KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_USER_KEYRING (-4), not created: the
         * host's _uid.N, which the agent must not reach. */
        return syscall(SYS_keyctl, 0, -4L, 0, 0, 0);
    case ADD_KEY_CALL:
        return syscall(SYS_add_key, NULL, "d", "x", 1, -3L);
    case REQUEST_KEY_CALL:
        return syscall(SYS_request_key, NULL, "d", NULL, 0);
#if defined(__x86_64__)
    case I386_KEYCTL:
        return int80_errno(288, KEYCTL_UNKNOWN_OP, 0, 0);
    case X32_KEYCTL:
        return syscall(0x40000000L | 250, KEYCTL_UNKNOWN_OP, 0, 0, 0, 0);
#endif
    default:
        errno = EINVAL;
        return -1;
    }
}

static int keyring_in_child(enum keyring_call call, int filtered)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (filtered && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || install_keyring_filter() < 0))
            _exit(255);
        _exit(keyring_syscall(call) < 0 ? errno : 0);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_seccomp_keyring(void)
{
    int native = keyring_in_child(KEYCTL_CALL, 0);
    if (native == ENOSYS) {
        skip("keyring: keyctl, add_key and request_key are EPERM", "the kernel has no keyrings (CONFIG_KEYS)");
        return;
    }
    is_int(native, EOPNOTSUPP, "without the keyring filter keyctl reaches the kernel");
    is_int(keyring_in_child(KEYCTL_CALL, 1), EPERM, "keyring: keyctl is EPERM");
    is_int(keyring_in_child(KEYCTL_READ_USER, 1), EPERM, "keyring: keyctl of the user keyring is EPERM");
    is_int(keyring_in_child(ADD_KEY_CALL, 0), EFAULT, "without the keyring filter add_key reaches the kernel");
    is_int(keyring_in_child(ADD_KEY_CALL, 1), EPERM, "keyring: add_key is EPERM");
    is_int(keyring_in_child(REQUEST_KEY_CALL, 0), EFAULT, "without the keyring filter request_key reaches the kernel");
    is_int(keyring_in_child(REQUEST_KEY_CALL, 1), EPERM, "keyring: request_key is EPERM");
#if defined(__x86_64__)
    is_int(keyring_in_child(X32_KEYCTL, 1), EPERM, "keyring: x32 keyctl is EPERM (even without x32 support)");
    int i386 = keyring_in_child(I386_KEYCTL, 0);
    if (i386 == ENOSYS) {
        skip("keyring: i386 keyctl is EPERM", "the kernel has no 32-bit emulation");
        return;
    }
    is_int(i386, EOPNOTSUPP, "without the keyring filter an i386 keyctl (int 0x80) reaches the kernel");
    is_int(keyring_in_child(I386_KEYCTL, 1), EPERM, "keyring: i386 keyctl is EPERM");
#endif
}
