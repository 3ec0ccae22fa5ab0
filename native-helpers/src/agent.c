#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "ns.h"
#include "sandbox.h"
#include "seccomp.h"
#include "signals.h"
#include "status.h"

static void take_pty(int slave)
{
    /* init made the pty the controlling terminal of its own session; the agent gets a
     * process group of its own in it, in the foreground. Not a session of its own: a
     * group whose parent is in another session is orphaned, and the kernel throws ^Z
     * away for orphaned groups. SIGTTOU is blocked, so tcsetpgrp() from the background
     * is allowed. */
    if (setpgid(0, 0) < 0)
        die_with_error("can't create a process group");
    sigset_t ttou;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    sigprocmask(SIG_BLOCK, &ttou, NULL);
    if (tcsetpgrp(slave, getpid()) < 0)
        die_with_error("can't put the agent in the pty's foreground");
    /* The agent never holds the user's real terminal, only the pty. */
    for (int fd = 0; fd <= 2; fd++)
        if (isatty(fd) && dup2(slave, fd) < 0)
            die_with_error("can't redirect fd %d to the pty", fd);
}

void apply_environment(const struct options *opts)
{
    for (size_t i = 0; i < opts->n_ops; i++) {
        const struct sandbox_op *op = &opts->ops[i];
        if (op->type == OP_SETENV && setenv(op->args[0], op->args[1], 1) < 0)
            die_with_error("can't set '%s'", op->args[0]);
        if (op->type == OP_UNSETENV && unsetenv(op->args[0]) < 0)
            die_with_error("can't unset '%s'", op->args[0]);
    }
}

/* Whether some PATH directory has an entry named command (glibc's default PATH when
 * unset). */
static bool found_on_path(const char *command)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/bin:/usr/bin";
    for (const char *p = path;; p++) {
        size_t n = strcspn(p, ":");
        cleanup_free char *candidate =
            n == 0 ? xasprintf("./%s", command) : xasprintf("%.*s/%s", (int)n, p, command);
        struct stat st;
        if (stat(candidate, &st) == 0)
            return true;
        p += n;
        if (*p == '\0')
            return false;
    }
}

void become_agent(const struct options *opts, char *const command[])
{
    apply_environment(opts);
    /* init blocked the forwarded signals; COMMAND must start like any fresh process. */
    reset_signals();
    /* A JVM parent hands down jars, sockets and /dev/random: none is for the agent. */
    close_fds_above_stderr(-1);
    /* Root alone may keep CAP_SETFCAP: since Linux 5.12 a process may map uid 0 of its
     * parent user namespace into a child only if it had CAP_SETFCAP when it unshared
     * (kernel/user_namespace.c, verify_root_map), and the caller's root is uid 0 here, so
     * `unshare -Ur` and bubblewrap need it. Anyone else maps their own uid, which needs
     * nothing. What the capability also allows, giving files capabilities, the filecaps
     * filter below takes away. But a nested root is the host's uid 0 with every capability
     * there: an overlay whose upper is a writable host directory copies a setuid-root file
     * up (kernel-internal, no syscall to filter) and a shared mmap rewrites it, so root
     * keeps it only with --nest-root, which the launcher passes when no other user can
     * reach a path the agent may write (docs/ARCHITECTURE.md §11). */
    drop_capabilities_but(getuid() == 0 && opts->nest_root ? CAP_SETFCAP : -1);
    /* No setuid binary may give privileges back; also lets us install seccomp. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die_with_error("can't set no_new_privs");
    /* TIOCSTI would let the agent type commands into the terminal it shares. */
    if (install_tiocsti_filter() < 0)
        die_with_error("can't install the seccomp filter");
    /* A setuid file in the upper layer would run as the user (as root: as root) for anyone
     * who reaches it on the host; the overlay's nosuid only holds inside. */
    if (install_setid_filter() < 0)
        die_with_error("can't install the seccomp filter");
    /* The same for file capabilities: a security.capability attribute written as root
     * holds on the host (its rootid is the host's uid 0) for whoever runs the file. For
     * everyone, not just root: a nested namespace of root's maps its root to the host's
     * too, the filter is inherited by every descendant, and a user loses only user.*
     * attributes of exactly 20 or 24 bytes. */
    if (install_filecaps_filter() < 0)
        die_with_error("can't install the seccomp filter");
    /* Root alone may not make a cgroup namespace. The sandbox stays in the host's cgroup
     * namespace, whose owner is the host's user namespace, so the agent can't mount
     * cgroupfs (kernel/cgroup/cgroup.c, cgroup_init_fs_context: the fs_context's user
     * namespace is the cgroup namespace's). A nested namespace of its own would be owned by
     * the agent's user namespace, and then the mount works; cgroupfs files belong to the
     * host's uid 0 with owner-write modes, and root's euid here is the host's uid 0, so it
     * could write cgroup.kill or memory.max of every cgroup below the sandbox's (without
     * nsdelegate, the whole machine where the sandbox sits at the root), no capability
     * needed. A user's nested cgroup namespace gives them only their own files. The cost,
     * as root: `bwrap --unshare-all` and `--unshare-cgroup(-try)` fail ("Creating new
     * namespace failed: Operation not permitted"); the other --unshare-* flags and Codex's
     * sandbox work (docs/ARCHITECTURE.md §11). */
    if (getuid() == 0 && install_cgroupns_filter() < 0)
        die_with_error("can't install the seccomp filter");
    /* Keyrings are not namespaced: the caller's user keyring (_uid.N in /proc/keys) is the
     * host's, readable after KEYCTL_LINK into the session keyring. As in Docker's default
     * profile, the keyring calls fail with EPERM, for everyone (docs/ARCHITECTURE.md §11). */
    if (install_keyring_filter() < 0)
        die_with_error("can't install the seccomp filter");

    execvp(command[0], command);
    int err = errno;
    /* execvp says EACCES when any PATH directory is unreadable, even if COMMAND is
     * nowhere: that is "not found", as a shell says. */
    if (err == EACCES && strchr(command[0], '/') == NULL && !found_on_path(command[0]))
        err = ENOENT;
    die_with_code(exit_code_for_exec_errno(err), "can't execute '%s': %s", command[0], strerror(err));
}

void run_agent(const struct sandbox *sb, int slave)
{
    if (slave >= 0)
        take_pty(slave);
    become_agent(sb->opts, sb->opts->command);
}
