#include "ns.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "utils.h"

void enter_namespaces(bool new_net, uid_t uid, gid_t gid)
{
    int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    if (new_net)
        flags |= CLONE_NEWNET;
    if (unshare(flags) < 0) {
        int err = errno;
        if (err == EPERM || err == ENOSPC || err == EUSERS)
            die_with_errno(err, "can't create user namespace (are unprivileged user "
                                "namespaces disabled? see 'sandbox doctor')");
        die_with_errno(err, "can't create namespaces");
    }

    /* Same ids inside as outside: files the agent creates belong to the user, and tools
     * that refuse to run as root (Claude Code) run. */
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
