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
 * binaries), each with its ioctl syscall number. */
#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define NATIVE_IOCTL 16
#define COMPAT_ARCH AUDIT_ARCH_I386
#define COMPAT_IOCTL 54
/* x32 binaries run as AUDIT_ARCH_X86_64 with this bit set in the syscall number; their
 * ioctl is 514 | X32_SYSCALL_BIT. */
#define X32_SYSCALL_BIT 0x40000000u
#define X32_IOCTL 514
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#define NATIVE_IOCTL 29
#define COMPAT_ARCH AUDIT_ARCH_ARM
#define COMPAT_IOCTL 54
#else
#error "sandbox-helper's seccomp filter knows x86_64 and aarch64 only: add this architecture"
#endif

/* seccomp_data.args[1] holds the request as 64 bits; the kernel's tty code only looks
 * at the low 32 (an int), so compare only those or request | (1 << 32) slips through
 * (CVE-2019-10063). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG1_LOW_OFFSET (offsetof(struct seccomp_data, args[1]))
#else
#define ARG1_LOW_OFFSET (offsetof(struct seccomp_data, args[1]) + sizeof(uint32_t))
#endif

enum label { L_NONE, L_NATIVE, L_COMPAT, L_ARGS, L_ALLOW, L_DENY, L_COUNT };

struct insn {
    struct sock_filter f;
    enum label here; /* this instruction starts label, or L_NONE */
    enum label jt, jf;
};

#define STMT(code, k) {BPF_STMT(code, k), L_NONE, L_NONE, L_NONE}
#define AT(label, code, k) {BPF_STMT(code, k), label, L_NONE, L_NONE}
#define JEQ(k, t, f) {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 0), L_NONE, t, f}

static const struct insn program[] = {
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    JEQ(NATIVE_ARCH, L_NATIVE, L_NONE),
    JEQ(COMPAT_ARCH, L_COMPAT, L_ALLOW),

    AT(L_NATIVE, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef X32_SYSCALL_BIT
    STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT),
    JEQ(X32_IOCTL, L_ARGS, L_NONE),
#endif
    JEQ(NATIVE_IOCTL, L_ARGS, L_ALLOW),

    AT(L_COMPAT, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    JEQ(COMPAT_IOCTL, L_ARGS, L_ALLOW),

    AT(L_ARGS, BPF_LD | BPF_W | BPF_ABS, ARG1_LOW_OFFSET),
    JEQ(TIOCSTI, L_DENY, L_NONE),
    JEQ(TIOCLINUX, L_DENY, L_ALLOW),

    AT(L_ALLOW, BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    AT(L_DENY, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
};

#define PROGRAM_LEN (sizeof program / sizeof program[0])

/* Turns the symbolic jump targets into BPF's forward offsets (L_NONE: next insn). */
static void assemble(struct sock_filter *out)
{
    size_t where[L_COUNT] = {0};
    for (size_t i = 0; i < PROGRAM_LEN; i++)
        if (program[i].here != L_NONE)
            where[program[i].here] = i;
    for (size_t i = 0; i < PROGRAM_LEN; i++) {
        out[i] = program[i].f;
        if (BPF_CLASS(out[i].code) != BPF_JMP)
            continue;
        if (program[i].jt != L_NONE)
            out[i].jt = (uint8_t)(where[program[i].jt] - i - 1);
        if (program[i].jf != L_NONE)
            out[i].jf = (uint8_t)(where[program[i].jf] - i - 1);
    }
}

int install_tiocsti_filter(void)
{
    struct sock_filter filter[PROGRAM_LEN];
    assemble(filter);
    struct sock_fprog prog = {.len = (unsigned short)PROGRAM_LEN, .filter = filter};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}
