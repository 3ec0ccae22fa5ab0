#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include "utils.h"

/* The native architecture and the compat one its kernel may also run (32-bit
 * binaries), each with the numbers of the syscalls the filters look at (arch/x86/entry/
 * syscalls/syscall_{64,32}.tbl, arch/arm/tools/syscall.tbl, include/uapi/asm-generic/
 * unistd.h). aarch64 has only the *at forms. fchmodat2 (Linux 6.6) is 452 everywhere. */
#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define NATIVE_IOCTL 16
#define NATIVE_OPEN 2
#define NATIVE_CREAT 85
#define NATIVE_CHMOD 90
#define NATIVE_FCHMOD 91
#define NATIVE_MKNOD 133
#define NATIVE_OPENAT 257
#define NATIVE_MKNODAT 259
#define NATIVE_FCHMODAT 268
#define NATIVE_SETXATTR 188
#define NATIVE_LSETXATTR 189
#define NATIVE_FSETXATTR 190
#define NATIVE_CLONE 56
#define NATIVE_UNSHARE 272
#define NATIVE_ADD_KEY 248
#define NATIVE_REQUEST_KEY 249
#define NATIVE_KEYCTL 250
#define COMPAT_ARCH AUDIT_ARCH_I386
#define COMPAT_IOCTL 54
#define COMPAT_FCHMOD 94
#define COMPAT_OPENAT 295
#define COMPAT_MKNODAT 297
#define COMPAT_FCHMODAT 306
#define COMPAT_CLONE 120
#define COMPAT_UNSHARE 310
#define COMPAT_ADD_KEY 286
#define COMPAT_REQUEST_KEY 287
#define COMPAT_KEYCTL 288
/* x32 binaries run as AUDIT_ARCH_X86_64 with this bit set in the syscall number; their
 * ioctl is 514 | X32_SYSCALL_BIT, the other calls here (clone, unshare and the keyring
 * calls too) share the native numbers. */
#define X32_SYSCALL_BIT 0x40000000u
#define X32_IOCTL 514
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#define NATIVE_IOCTL 29
#define NATIVE_MKNODAT 33
#define NATIVE_FCHMOD 52
#define NATIVE_FCHMODAT 53
#define NATIVE_OPENAT 56
#define NATIVE_SETXATTR 5
#define NATIVE_LSETXATTR 6
#define NATIVE_FSETXATTR 7
#define NATIVE_UNSHARE 97
#define NATIVE_CLONE 220
#define NATIVE_ADD_KEY 217
#define NATIVE_REQUEST_KEY 218
#define NATIVE_KEYCTL 219
#define COMPAT_ARCH AUDIT_ARCH_ARM
#define COMPAT_IOCTL 54
#define COMPAT_FCHMOD 94
#define COMPAT_OPENAT 322
#define COMPAT_MKNODAT 324
#define COMPAT_FCHMODAT 333
#define COMPAT_CLONE 120
#define COMPAT_UNSHARE 337
#define COMPAT_ADD_KEY 309
#define COMPAT_REQUEST_KEY 310
#define COMPAT_KEYCTL 311
#else
#error "sandbox-helper's seccomp filter knows x86_64 and aarch64 only: add this architecture"
#endif
/* Both compat ABIs (i386, arm EABI) keep the old numbers for these. */
#define COMPAT_OPEN 5
#define COMPAT_CREAT 8
#define COMPAT_MKNOD 14
#define COMPAT_CHMOD 15
#define COMPAT_SETXATTR 226
#define COMPAT_LSETXATTR 227
#define COMPAT_FSETXATTR 228
/* The same number on every architecture (the unified table since Linux 5.1). */
#define ANY_IO_URING_SETUP 425
#define ANY_CLONE3 435
#define ANY_OPENAT2 437
#define ANY_FCHMODAT2 452
#define ANY_SETXATTRAT 463 /* Linux 6.13 */

/* open's flags that make it use its mode: O_CREAT, and __O_TMPFILE (part of O_TMPFILE),
 * whose file linkat(2) can later name (fs/open.c WILL_CREATE). The same values on
 * x86, arm and the generic ABI. */
#define CREATES (0100u | 020000000u)
#define SETID_BITS (04000u | 02000u) /* S_ISUID | S_ISGID */
/* The only sizes the kernel takes for a security.capability value: XATTR_CAPS_SZ_2 and
 * XATTR_CAPS_SZ_3 (include/uapi/linux/capability.h; security/commoncap.c validheader()
 * refuses any other, the 12-byte v1 format too, with EINVAL). */
#define CAPS_SIZE_V2 20u
#define CAPS_SIZE_V3 24u
#define NEWCGROUP 0x02000000u /* CLONE_NEWCGROUP, the same on every architecture */

/* seccomp_data.args[n] holds each argument as 64 bits; the kernel uses only the low 32 of
 * an int or a mode, so compare only those or value | (1 << 32) slips through
 * (CVE-2019-10063, for ioctl's request). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LOW(n) (offsetof(struct seccomp_data, args[n]))
#else
#define ARG_LOW(n) (offsetof(struct seccomp_data, args[n]) + sizeof(uint32_t))
#endif

enum label {
    L_NONE,
    L_NATIVE,
    L_COMPAT,
    L_ARGS,
    L_FLAGS_ARG0,
    L_FLAGS_ARG1,
    L_FLAGS_ARG2,
    L_MODE_ARG1,
    L_MODE_ARG2,
    L_MODE_ARG3,
    L_SIZE_ARG3,
    L_ALLOW,
    L_DENY,
    L_NOSYS,
    L_COUNT
};

struct insn {
    struct sock_filter f;
    enum label here; /* this instruction starts label, or L_NONE */
    enum label jt, jf;
};

#define STMT(code, k) {BPF_STMT(code, k), L_NONE, L_NONE, L_NONE}
#define AT(label, code, k) {BPF_STMT(code, k), label, L_NONE, L_NONE}
#define JEQ(k, t, f) {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 0), L_NONE, t, f}
#define JSET(k, t, f) {BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, k, 0, 0), L_NONE, t, f}
#define LOAD(label, offset) AT(label, BPF_LD | BPF_W | BPF_ABS, offset)
#define RETURN(label, action) AT(label, BPF_RET | BPF_K, action)
#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

static const struct insn tiocsti_program[] = {
    LOAD(L_NONE, offsetof(struct seccomp_data, arch)),
    JEQ(NATIVE_ARCH, L_NATIVE, L_NONE),
    JEQ(COMPAT_ARCH, L_COMPAT, L_ALLOW),

    LOAD(L_NATIVE, offsetof(struct seccomp_data, nr)),
#ifdef X32_SYSCALL_BIT
    STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT),
    JEQ(X32_IOCTL, L_ARGS, L_NONE),
#endif
    JEQ(NATIVE_IOCTL, L_ARGS, L_ALLOW),

    LOAD(L_COMPAT, offsetof(struct seccomp_data, nr)),
    JEQ(COMPAT_IOCTL, L_ARGS, L_ALLOW),

    LOAD(L_ARGS, ARG_LOW(1)),
    JEQ(TIOCSTI, L_DENY, L_NONE),
    JEQ(TIOCLINUX, L_DENY, L_ALLOW),

    RETURN(L_ALLOW, SECCOMP_RET_ALLOW),
    RETURN(L_DENY, ERRNO(EPERM)),
};

/* Where each call keeps its mode: chmod(path, mode), fchmodat(dirfd, path, mode[,
 * flags]), mknodat(dirfd, path, mode, dev), open(path, flags, mode), openat(dirfd, path,
 * flags, mode). openat2 and io_uring read their open_how from memory a filter cannot
 * see, so they are ENOSYS: glibc, Go, Rust and libuv then fall back to openat or to
 * plain calls (openat2(2), io_uring_setup(2) say ENOSYS means "not supported"). */
static const struct insn setid_program[] = {
    LOAD(L_NONE, offsetof(struct seccomp_data, arch)),
    JEQ(NATIVE_ARCH, L_NATIVE, L_NONE),
    JEQ(COMPAT_ARCH, L_COMPAT, L_ALLOW),

    LOAD(L_NATIVE, offsetof(struct seccomp_data, nr)),
#ifdef X32_SYSCALL_BIT
    STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT),
#endif
#ifdef NATIVE_OPEN
    JEQ(NATIVE_OPEN, L_FLAGS_ARG1, L_NONE),
    JEQ(NATIVE_CREAT, L_MODE_ARG1, L_NONE),
    JEQ(NATIVE_CHMOD, L_MODE_ARG1, L_NONE),
    JEQ(NATIVE_MKNOD, L_MODE_ARG1, L_NONE),
#endif
    JEQ(NATIVE_FCHMOD, L_MODE_ARG1, L_NONE),
    JEQ(NATIVE_OPENAT, L_FLAGS_ARG2, L_NONE),
    JEQ(NATIVE_MKNODAT, L_MODE_ARG2, L_NONE),
    JEQ(NATIVE_FCHMODAT, L_MODE_ARG2, L_NONE),
    JEQ(ANY_FCHMODAT2, L_MODE_ARG2, L_NONE),
    JEQ(ANY_OPENAT2, L_NOSYS, L_NONE),
    JEQ(ANY_IO_URING_SETUP, L_NOSYS, L_ALLOW),

    LOAD(L_COMPAT, offsetof(struct seccomp_data, nr)),
    JEQ(COMPAT_OPEN, L_FLAGS_ARG1, L_NONE),
    JEQ(COMPAT_CREAT, L_MODE_ARG1, L_NONE),
    JEQ(COMPAT_CHMOD, L_MODE_ARG1, L_NONE),
    JEQ(COMPAT_MKNOD, L_MODE_ARG1, L_NONE),
    JEQ(COMPAT_FCHMOD, L_MODE_ARG1, L_NONE),
    JEQ(COMPAT_OPENAT, L_FLAGS_ARG2, L_NONE),
    JEQ(COMPAT_MKNODAT, L_MODE_ARG2, L_NONE),
    JEQ(COMPAT_FCHMODAT, L_MODE_ARG2, L_NONE),
    JEQ(ANY_FCHMODAT2, L_MODE_ARG2, L_NONE),
    JEQ(ANY_OPENAT2, L_NOSYS, L_NONE),
    JEQ(ANY_IO_URING_SETUP, L_NOSYS, L_ALLOW),

    /* open's mode counts only when it creates (open(2)): O_RDONLY with garbage in the
     * third register must still work. */
    LOAD(L_FLAGS_ARG1, ARG_LOW(1)),
    JSET(CREATES, L_MODE_ARG2, L_ALLOW),
    LOAD(L_FLAGS_ARG2, ARG_LOW(2)),
    JSET(CREATES, L_MODE_ARG3, L_ALLOW),

    LOAD(L_MODE_ARG1, ARG_LOW(1)),
    JSET(SETID_BITS, L_DENY, L_ALLOW),
    LOAD(L_MODE_ARG2, ARG_LOW(2)),
    JSET(SETID_BITS, L_DENY, L_ALLOW),
    LOAD(L_MODE_ARG3, ARG_LOW(3)),
    JSET(SETID_BITS, L_DENY, L_ALLOW),

    RETURN(L_ALLOW, SECCOMP_RET_ALLOW),
    RETURN(L_DENY, ERRNO(EPERM)),
    RETURN(L_NOSYS, ERRNO(ENOSYS)),
};

/* Where each call keeps its value's size: setxattr(path, name, value, size, flags),
 * lsetxattr and fsetxattr alike. The name is in memory, so every value of a capability's
 * size is refused, whatever its name: a user.* attribute of exactly 20 or 24 bytes too
 * (the collateral; other sizes work). setxattrat (struct xattr_args) and io_uring
 * (IORING_OP_SETXATTR) keep the size in memory: ENOSYS, as in setid_program. */
static const struct insn filecaps_program[] = {
    LOAD(L_NONE, offsetof(struct seccomp_data, arch)),
    JEQ(NATIVE_ARCH, L_NATIVE, L_NONE),
    JEQ(COMPAT_ARCH, L_COMPAT, L_ALLOW),

    LOAD(L_NATIVE, offsetof(struct seccomp_data, nr)),
#ifdef X32_SYSCALL_BIT
    STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT),
#endif
    JEQ(NATIVE_SETXATTR, L_SIZE_ARG3, L_NONE),
    JEQ(NATIVE_LSETXATTR, L_SIZE_ARG3, L_NONE),
    JEQ(NATIVE_FSETXATTR, L_SIZE_ARG3, L_NONE),
    JEQ(ANY_SETXATTRAT, L_NOSYS, L_NONE),
    JEQ(ANY_IO_URING_SETUP, L_NOSYS, L_ALLOW),

    LOAD(L_COMPAT, offsetof(struct seccomp_data, nr)),
    JEQ(COMPAT_SETXATTR, L_SIZE_ARG3, L_NONE),
    JEQ(COMPAT_LSETXATTR, L_SIZE_ARG3, L_NONE),
    JEQ(COMPAT_FSETXATTR, L_SIZE_ARG3, L_NONE),
    JEQ(ANY_SETXATTRAT, L_NOSYS, L_NONE),
    JEQ(ANY_IO_URING_SETUP, L_NOSYS, L_ALLOW),

    /* The low 32 bits only: a size_t above 4 GiB is E2BIG for the kernel anyway
     * (XATTR_SIZE_MAX), and a compat size has no more. */
    LOAD(L_SIZE_ARG3, ARG_LOW(3)),
    JEQ(CAPS_SIZE_V2, L_DENY, L_NONE),
    JEQ(CAPS_SIZE_V3, L_DENY, L_ALLOW),

    RETURN(L_ALLOW, SECCOMP_RET_ALLOW),
    RETURN(L_DENY, ERRNO(EPERM)),
    RETURN(L_NOSYS, ERRNO(ENOSYS)),
};

/* Where each call keeps its flags: unshare(flags), and clone(flags, stack, ...) on every
 * ABI here; only the order of the later arguments differs (clone(2), "C library/kernel
 * differences": x86_64 and x32 take child_tid before tls, i386, arm and aarch64 after it;
 * s390's swap of the first two is not ours). Both use the low 32 bits alone: clone drops
 * the rest (kernel/fork.c, lower_32_bits), unshare calls them invalid (EINVAL). clone3
 * reads its flags from struct clone_args in memory: ENOSYS, as Docker's default profile
 * does for callers without CAP_SYS_ADMIN (moby profiles/seccomp/default.json), and glibc,
 * Go and Rust then fall back to clone. fork and vfork take no flags. */
static const struct insn cgroupns_program[] = {
    LOAD(L_NONE, offsetof(struct seccomp_data, arch)),
    JEQ(NATIVE_ARCH, L_NATIVE, L_NONE),
    JEQ(COMPAT_ARCH, L_COMPAT, L_ALLOW),

    LOAD(L_NATIVE, offsetof(struct seccomp_data, nr)),
#ifdef X32_SYSCALL_BIT
    STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT),
#endif
    JEQ(NATIVE_CLONE, L_FLAGS_ARG0, L_NONE),
    JEQ(NATIVE_UNSHARE, L_FLAGS_ARG0, L_NONE),
    JEQ(ANY_CLONE3, L_NOSYS, L_ALLOW),

    LOAD(L_COMPAT, offsetof(struct seccomp_data, nr)),
    JEQ(COMPAT_CLONE, L_FLAGS_ARG0, L_NONE),
    JEQ(COMPAT_UNSHARE, L_FLAGS_ARG0, L_NONE),
    JEQ(ANY_CLONE3, L_NOSYS, L_ALLOW),

    LOAD(L_FLAGS_ARG0, ARG_LOW(0)),
    JSET(NEWCGROUP, L_DENY, L_ALLOW),

    RETURN(L_ALLOW, SECCOMP_RET_ALLOW),
    RETURN(L_DENY, ERRNO(EPERM)),
    RETURN(L_NOSYS, ERRNO(ENOSYS)),
};

/* Keyrings are not namespaced: the caller's user keyring (_uid.N) is the host's, and
 * KEYCTL_LINK then KEYCTL_READ read it from inside. add_key, request_key and keyctl fail
 * whatever their arguments, with EPERM, as in Docker's default profile, which leaves them
 * out of its allow-list (moby profiles/seccomp/default.json, defaultErrnoRet 1). */
static const struct insn keyring_program[] = {
    LOAD(L_NONE, offsetof(struct seccomp_data, arch)),
    JEQ(NATIVE_ARCH, L_NATIVE, L_NONE),
    JEQ(COMPAT_ARCH, L_COMPAT, L_ALLOW),

    LOAD(L_NATIVE, offsetof(struct seccomp_data, nr)),
#ifdef X32_SYSCALL_BIT
    STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT),
#endif
    JEQ(NATIVE_ADD_KEY, L_DENY, L_NONE),
    JEQ(NATIVE_REQUEST_KEY, L_DENY, L_NONE),
    JEQ(NATIVE_KEYCTL, L_DENY, L_ALLOW),

    LOAD(L_COMPAT, offsetof(struct seccomp_data, nr)),
    JEQ(COMPAT_ADD_KEY, L_DENY, L_NONE),
    JEQ(COMPAT_REQUEST_KEY, L_DENY, L_NONE),
    JEQ(COMPAT_KEYCTL, L_DENY, L_ALLOW),

    RETURN(L_ALLOW, SECCOMP_RET_ALLOW),
    RETURN(L_DENY, ERRNO(EPERM)),
};

/* Turns the symbolic jump targets into BPF's forward offsets (L_NONE: next insn). */
static void assemble(const struct insn *program, size_t len, struct sock_filter *out)
{
    size_t where[L_COUNT] = {0};
    for (size_t i = 0; i < len; i++)
        if (program[i].here != L_NONE)
            where[program[i].here] = i;
    for (size_t i = 0; i < len; i++) {
        out[i] = program[i].f;
        if (BPF_CLASS(out[i].code) != BPF_JMP)
            continue;
        if (program[i].jt != L_NONE)
            out[i].jt = (uint8_t)(where[program[i].jt] - i - 1);
        if (program[i].jf != L_NONE)
            out[i].jf = (uint8_t)(where[program[i].jf] - i - 1);
    }
}

#define MAX_PROGRAM 64
_Static_assert(sizeof tiocsti_program / sizeof tiocsti_program[0] <= MAX_PROGRAM, "tiocsti_program too long");
_Static_assert(sizeof setid_program / sizeof setid_program[0] <= MAX_PROGRAM, "setid_program too long");
_Static_assert(sizeof filecaps_program / sizeof filecaps_program[0] <= MAX_PROGRAM, "filecaps_program too long");
_Static_assert(sizeof cgroupns_program / sizeof cgroupns_program[0] <= MAX_PROGRAM, "cgroupns_program too long");
_Static_assert(sizeof keyring_program / sizeof keyring_program[0] <= MAX_PROGRAM, "keyring_program too long");

static int install(const struct insn *program, size_t len)
{
    struct sock_filter filter[MAX_PROGRAM];
    assemble(program, len, filter);
    struct sock_fprog prog = {.len = (unsigned short)len, .filter = filter};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

int install_tiocsti_filter(void)
{
    return install(tiocsti_program, sizeof tiocsti_program / sizeof tiocsti_program[0]);
}

int install_setid_filter(void)
{
    return install(setid_program, sizeof setid_program / sizeof setid_program[0]);
}

int install_filecaps_filter(void)
{
    return install(filecaps_program, sizeof filecaps_program / sizeof filecaps_program[0]);
}

int install_cgroupns_filter(void)
{
    return install(cgroupns_program, sizeof cgroupns_program / sizeof cgroupns_program[0]);
}

int install_keyring_filter(void)
{
    return install(keyring_program, sizeof keyring_program / sizeof keyring_program[0]);
}
