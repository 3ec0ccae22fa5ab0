#include "ns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "utils.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static char *map_text(unsigned id, unsigned long first, unsigned long count)
{
    return xasprintf("%u %u 1\n%lu %lu %lu\n", id, id, first, first, count);
}

/* Writes the maps of target with the ranges: root (in the parent namespace, where the
 * check happens) itself, anyone else through newuidmap and newgidmap (setuid root, from
 * shadow's uidmap package), which allow what /etc/subuid and /etc/subgid give them. */
static bool map_ranges(pid_t target, const struct subids *ids, uid_t uid, gid_t gid)
{
    if (geteuid() == 0) {
        cleanup_free char *uid_file = xasprintf("/proc/%d/uid_map", (int)target);
        cleanup_free char *gid_file = xasprintf("/proc/%d/gid_map", (int)target);
        cleanup_free char *uid_map = map_text((unsigned)uid, ids->uid, ids->uid_count);
        cleanup_free char *gid_map = map_text((unsigned)gid, ids->gid, ids->gid_count);
        if (write_file(uid_file, uid_map) == 0 && write_file(gid_file, gid_map) == 0)
            return true;
        warn("can't write the id maps: %s", strerror(errno));
        return false;
    }
    cleanup_free char *pid = xasprintf("%d", (int)target);
    cleanup_free char *u = xasprintf("%u", (unsigned)uid), *g = xasprintf("%u", (unsigned)gid);
    cleanup_free char *su = xasprintf("%lu", ids->uid), *sun = xasprintf("%lu", ids->uid_count);
    cleanup_free char *sg = xasprintf("%lu", ids->gid), *sgn = xasprintf("%lu", ids->gid_count);
    char *const uid_argv[] = {"newuidmap", pid, u, u, "1", su, su, sun, NULL};
    char *const gid_argv[] = {"newgidmap", pid, g, g, "1", sg, sg, sgn, NULL};
    char *const *tools[] = {uid_argv, gid_argv};
    for (int i = 0; i < 2; i++) {
        pid_t tool = fork();
        if (tool < 0)
            return false;
        if (tool == 0) {
            execvp(tools[i][0], tools[i]);
            warn("can't execute '%s': %s (install the uidmap package)", tools[i][0], strerror(errno));
            _exit(EXIT_FAILURE);
        }
        int status;
        if (waitpid(tool, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return false;
    }
    return true;
}

/* Maps with several ranges must be written from the parent user namespace, so a child
 * forked before unshare() writes them once it is told to. */
static pid_t start_mapper(const struct subids *ids, uid_t uid, gid_t gid, int *go)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        die_with_error("can't create a pipe");
    pid_t child = fork();
    if (child < 0)
        die_with_error("can't fork");
    if (child > 0) {
        close(p[0]);
        *go = p[1];
        return child;
    }
    close(p[1]);
    char c;
    if (read_retry(p[0], &c, 1) != 1)
        _exit(EXIT_FAILURE);
    _exit(map_ranges(getppid(), ids, uid, gid) ? EXIT_SUCCESS : EXIT_FAILURE);
}

void enter_namespaces(bool new_net, uid_t uid, gid_t gid, const struct subids *ids)
{
    int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    if (new_net)
        flags |= CLONE_NEWNET;
    int go = -1;
    pid_t mapper = ids != NULL ? start_mapper(ids, uid, gid, &go) : -1;
    if (unshare(flags) < 0) {
        int err = errno;
        if (err == EPERM || err == ENOSPC || err == EUSERS)
            die_with_errno(err, "can't create user namespace (are unprivileged user "
                                "namespaces disabled? see 'sandbox doctor')");
        die_with_errno(err, "can't create namespaces");
    }

    /* Same ids inside as outside: files the agent creates belong to the user, and tools
     * that refuse to run as root (Claude Code) run. */
    if (mapper > 0) {
        int status;
        if (write(go, "g", 1) != 1 || waitpid(mapper, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            die("can't map the subordinate ids %lu+%lu and %lu+%lu (see 'sandbox doctor')", ids->uid,
                ids->uid_count, ids->gid, ids->gid_count);
        close(go);
        return;
    }
    map_own_ids(uid, gid);
}

void map_own_ids(uid_t uid, gid_t gid)
{
    cleanup_free char *uid_map = xasprintf("%u %u 1\n", (unsigned)uid, (unsigned)uid);
    cleanup_free char *gid_map = xasprintf("%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if (write_file("/proc/self/uid_map", uid_map) < 0)
        die_with_error("can't write '/proc/self/uid_map'");
    /* An unprivileged process may only write gid_map once setgroups is denied. */
    if (write_file("/proc/self/setgroups", "deny\n") < 0 && errno != ENOENT)
        die_with_error("can't write '/proc/self/setgroups'");
    if (write_file("/proc/self/gid_map", gid_map) < 0)
        die_with_error("can't write '/proc/self/gid_map'");
}

void enter_pid_namespace(void)
{
    if (unshare(CLONE_NEWPID) < 0)
        die_with_error("can't create pid namespace");
}

void set_hostname(const char *name)
{
    if (sethostname(name, strlen(name)) < 0)
        die_with_error("can't set host name '%s'", name);
}

void bring_up_loopback(void)
{
    /* A fresh network namespace has lo down; programs expect 127.0.0.1 to work. */
    cleanup_fd int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die_with_error("can't create socket to bring up 'lo'");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        die_with_error("can't read flags of 'lo'");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        die_with_error("can't bring up 'lo'");
}

static int last_capability(void)
{
    cleanup_free char *text = read_file("/proc/sys/kernel/cap_last_cap");
    if (text != NULL) {
        char *end;
        long n = strtol(text, &end, 10);
        if (end != text && n >= 0 && n < 64)
            return (int)n;
    }
    return CAP_LAST_CAP;
}

void drop_capabilities_but(int keep)
{
    /* The agent holds every capability of the user namespace until now; as root there it
     * could remount the read-only host tree read-write or reconfigure the network. */
    int last = last_capability();
    for (int cap = 0; cap <= last; cap++)
        if (cap != keep && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            die_with_error("can't drop capability %d from the bounding set", cap);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        die_with_error("can't clear ambient capabilities");
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (keep >= 0) {
        data[CAP_TO_INDEX(keep)].permitted = CAP_TO_MASK(keep);
        data[CAP_TO_INDEX(keep)].effective = CAP_TO_MASK(keep);
    }
    if (syscall(SYS_capset, &header, data) < 0)
        die_with_error("can't drop capabilities");
}

void drop_all_capabilities(void)
{
    drop_capabilities_but(-1);
}
