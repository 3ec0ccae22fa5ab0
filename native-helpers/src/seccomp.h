/* The seccomp filters of the sandbox's processes. Each one fails a few syscalls with an
 * errno and allows every other; filters stack, so a process may install both. */
#ifndef SANDBOX_SECCOMP_H
#define SANDBOX_SECCOMP_H

/* Stops typing into a terminal: ioctl TIOCSTI and TIOCLINUX fail with EPERM. Installs
 * on the calling thread; needs PR_SET_NO_NEW_PRIVS (or CAP_SYS_ADMIN) first. 0, or -1
 * with errno. */
int install_tiocsti_filter(void);

/* Stops making setuid and setgid files: chmod, fchmod, fchmodat, fchmodat2, mknod,
 * mknodat, creat, and open/openat with O_CREAT or O_TMPFILE fail with EPERM when the
 * mode has S_ISUID or S_ISGID; openat2 and io_uring_setup, whose arguments a filter
 * cannot read, fail with ENOSYS. Same conditions and result as install_tiocsti_filter. */
int install_setid_filter(void);

/* Stops giving files capabilities (security.capability): setxattr, lsetxattr and
 * fsetxattr fail with EPERM when the value's size is one a capability can have (20 or
 * 24 bytes), whatever the attribute's name; setxattrat and io_uring_setup, whose
 * arguments a filter cannot read, fail with ENOSYS. Same conditions and result as
 * install_tiocsti_filter. */
int install_filecaps_filter(void);

/* Stops making cgroup namespaces: unshare and clone fail with EPERM when their flags hold
 * CLONE_NEWCGROUP; clone3, whose flags a filter cannot read, fails with ENOSYS (libc then
 * falls back to clone). Same conditions and result as install_tiocsti_filter. */
int install_cgroupns_filter(void);

/* Stops reaching the kernel's keyrings, which are not namespaced (the caller's user
 * keyring is the host's): add_key, request_key and keyctl fail with EPERM. Same conditions
 * and result as install_tiocsti_filter. */
int install_keyring_filter(void);

#endif
