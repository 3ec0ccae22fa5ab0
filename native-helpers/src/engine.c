#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp.h"
#include "signals.h"
#include "status.h"

#define READY_TIMEOUT_MS 60000

/* A user namespace's owner (the euid of its creator) holds every capability in it, from
 * the parent namespace on (user_namespaces(7)). Created by a root caller's uid 0, the
 * engine's would be owned by the agent, whose euid is the same host's root: capability-less
 * in the sandbox's namespace, the agent could still join the engine's namespaces and reach
 * its unmasked proc, whose /proc/sys checks only the global uid 0 (core_pattern). So the
 * engine first becomes the first subordinate id, which the sandbox's maps hold as itself
 * and which the engine's root maps to anyway: the agent owns nothing of the engine then,
 * can't open its /proc/PID/ns files (ptrace access) nor setns into them. Root's
 * supplementary groups go too. Capabilities and the parent-death signal are cleared by
 * the change; the latter is armed after the maps (docs/ARCHITECTURE.md §11). */
static void become_first_subordinate_id(const struct options *opts)
{
    const struct subids *ids = &opts->subids;
    if (setgroups(0, NULL) < 0 || setresgid((gid_t)ids->gid, (gid_t)ids->gid, (gid_t)ids->gid) < 0 ||
        setresuid((uid_t)ids->uid, (uid_t)ids->uid, (uid_t)ids->uid) < 0)
        die_with_error("can't become the subordinate id %lu:%lu for the container engine", ids->uid, ids->gid);
}

static void run_engine(const struct sandbox *sb, int sock) NORETURN;
static void run_engine(const struct sandbox *sb, int sock)
{
    /* No terminal: nothing the engine or its containers do reaches the user's. */
    if (setsid() < 0)
        die_with_error("can't create a session for the container engine");
    /* The OCI runtime mounts a proc for each container, which the kernel allows only where
     * a proc is fully visible; the agent's has read-only covers. A fresh one, seen by the
     * engine and whoever joins its namespaces, is safe: the engine's root is never the
     * host's (it is the user, or a subordinate id when the caller is root) and /proc/sys
     * checks the global uid 0, so only a root caller's agent could write the kernel's
     * knobs there, and it can't join (become_first_subordinate_id). A user's agent may
     * join, as the user could make such a namespace alone; /proc/sys/net is the networks'
     * own. */
    if (unshare(CLONE_NEWNS) < 0)
        die_with_error("can't create the container engine's mount namespace");
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        die_with_error("can't make '/' a slave mount");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        die_with_error("can't mount a proc for the container engine");
    /* /tmp and /var/tmp stay the sandbox's tmpfs, writable: a container's -v binds what the
     * agent sees there, and podman unpacks an oci-archive under /var/tmp whatever its TMPDIR
     * (its own /tmp/.containers/tmp, set by the engine's script) says. */
    if (getuid() == 0)
        become_first_subordinate_id(sb->opts);
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
        die_with_error("can't create the container engine's user namespace");
    char c = 'u';
    if (write(sock, &c, 1) != 1 || read_retry(sock, &c, 1) != 1 || c != 'm')
        _exit(EXIT_SETUP_FAILED);
    close(sock);
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        die_with_error("can't become root of the container engine's namespace");
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die_with_error("can't set the parent-death signal");
    apply_environment(sb->opts);
    reset_signals();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
        die_with_error("can't redirect the container engine's input and output");
    close_fds_above_stderr(-1);
    /* Root of its own namespace may install the filter without no_new_privs, which would
     * stop setuid programs inside containers (su). Containers inherit the filter. Not the
     * agent's setid filter: podman unpacks images that hold setuid files (/usr/bin/su) and
     * containers run them. Such files belong to the engine's root, which is never the
     * host's root (the user, or for root a subordinate id); a container's storage is on
     * the sandbox's tmpfs, and what it writes into the repository lands in the upper layer
     * under the 0700 sandboxes/ directory, which no other user can traverse. */
    if (install_tiocsti_filter() < 0)
        die_with_error("can't install the seccomp filter");
    char *const argv[] = {(char *)sb->opts->engine, NULL};
    execv(argv[0], argv);
    die_with_code(exit_code_for_exec_errno(errno), "can't execute the container engine '%s': %s", argv[0],
                  strerror(errno));
}

static void write_map(pid_t pid, const char *file, const char *map)
{
    cleanup_free char *path = xasprintf("/proc/%d/%s", (int)pid, file);
    if (write_file(path, map) < 0)
        die_with_error("can't write the container engine's %s", file);
}

pid_t start_engine(const struct sandbox *sb)
{
    if (getuid() == 0 && !sb->opts->have_subids)
        die("as root, --engine needs --subids: the container engine must not run as the host's root");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die_with_error("can't create socketpair");
    pid_t pid = fork();
    if (pid < 0)
        die_with_error("can't fork");
    if (pid == 0) {
        close(sv[0]);
        run_engine(sb, sv[1]);
    }
    close(sv[1]);
    char c;
    if (read_retry(sv[0], &c, 1) != 1 || c != 'u')
        die("the container engine failed before its namespace existed");

    /* Root there is the user; the subordinate ranges, when the sandbox has them, become
     * its other users. When the user is the host's root, root there is the first
     * subordinate id instead: the host's root never runs containers. One write per map. */
    const struct options *opts = sb->opts;
    const struct subids *ids = opts->have_subids ? &opts->subids : NULL;
    unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();
    cleanup_free char *uid_map = NULL, *gid_map = NULL;
    if (uid == 0 && ids != NULL) {
        uid_map = xasprintf("0 %lu %lu\n", ids->uid, ids->uid_count);
        gid_map = xasprintf("0 %lu %lu\n", ids->gid, ids->gid_count);
    } else if (ids != NULL) {
        uid_map = xasprintf("0 %u 1\n1 %lu %lu\n", uid, ids->uid, ids->uid_count);
        gid_map = xasprintf("0 %u 1\n1 %lu %lu\n", gid, ids->gid, ids->gid_count);
    } else {
        uid_map = xasprintf("0 %u 1\n", uid);
        gid_map = xasprintf("0 %u 1\n", gid);
    }
    write_map(pid, "uid_map", uid_map);
    write_map(pid, "gid_map", gid_map);
    c = 'm';
    if (write(sv[0], &c, 1) != 1)
        die_with_error("can't start the container engine");
    close(sv[0]);
    return pid;
}

void wait_for_engine(const struct sandbox *sb, pid_t engine)
{
    const char *socket = sb->opts->engine_ready;
    struct timespec tick = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
    for (int waited = 0; waited < READY_TIMEOUT_MS; waited += 10) {
        struct stat st;
        if (stat(socket, &st) == 0 && S_ISSOCK(st.st_mode)) {
            /* The engine made it its own root's, with mode 0600; the agent is the user. */
            if (chown(socket, getuid(), getgid()) < 0)
                die_with_error("can't hand the container engine's socket '%s' to the agent", socket);
            return;
        }
        int status;
        if (waitpid(engine, &status, WNOHANG) == engine)
            die("the container engine exited before it was ready (%s %d); its log says why",
                WIFSIGNALED(status) ? "signal" : "status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        nanosleep(&tick, NULL);
    }
    die("the container engine did not create '%s' within %d seconds; its log says why", socket,
        READY_TIMEOUT_MS / 1000);
}
