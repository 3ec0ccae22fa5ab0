#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mountinfo.h"
#include "paths.h"
#include "sockets.h"
#include "utils.h"

/* The scratch root: a tmpfs mounted here becomes / for a while; pivot_root moves it
 * away, so the host's /tmp is still visible under /oldroot/tmp. */
#define BASE_DIR "/tmp"
#define NEWROOT "/newroot"
#define OLDROOT "/oldroot"
/* An empty directory on the scratch root: the second lower layer of each --ro-overlay. */
#define EMPTY_LAYER "/ro-empty"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif

/* struct mount_attr, spelled out so older C libraries' headers don't matter. */
struct sandbox_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

/* Flags a remount must repeat: in a user namespace they are locked, and leaving one
 * out makes the remount fail with EPERM. */
#define LOCKED_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME)

static void do_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                     const char *data, const char *what, const char *shown)
{
    if (mount(source, target, fstype, flags, data) < 0)
        die_with_error("can't mount %s on '%s'", what, shown);
}

static char *oldroot_path(const char *host_path)
{
    return xstrconcat(OLDROOT, host_path);
}

void resolve_sources(struct options *opts)
{
    for (size_t i = 0; i < opts->n_ops; i++) {
        struct sandbox_op *op = &opts->ops[i];
        for (int a = 0; a < op_source_count(op->type); a++) {
            char *real = realpath(op->args[a], NULL);
            if (real == NULL && op->type == OP_RO_BIND_TRY && errno == ENOENT) {
                op->args[a] = NULL; /* nothing to show: skipped */
                continue;
            }
            if (real == NULL)
                die_with_error("can't find '%s'", op->args[a]);
            op->args[a] = real; /* lives as long as the process */
        }
        for (size_t l = 0; l < op->n_lowers; l++) {
            char *real = realpath(op->lowers[l], NULL);
            if (real == NULL)
                die_with_error("can't find '%s'", op->lowers[l]);
            op->lowers[l] = real;
        }
    }
}

/* Every mount at or below path (a path as seen now), via mountinfo: the way to get a
 * recursive read-only view on kernels without mount_setattr. */
static void remount_readonly_each(const char *path, const char *shown)
{
    /* The host's proc still shows our own mount namespace under "self". */
    cleanup_free char *text = read_file(OLDROOT "/proc/self/mountinfo");
    if (text == NULL)
        die_with_error("can't read '/proc/self/mountinfo'");
    size_t plen = strlen(path);
    char *saveptr = NULL;
    for (char *line = strtok_r(text, "\n", &saveptr); line != NULL; line = strtok_r(NULL, "\n", &saveptr)) {
        struct mountinfo_entry e;
        if (parse_mountinfo_line(line, &e) < 0)
            die("can't parse '/proc/self/mountinfo': unexpected line");
        if (strncmp(e.mount_point, path, plen) != 0 || (e.mount_point[plen] != '\0' && e.mount_point[plen] != '/'))
            continue;
        unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | (e.flags & LOCKED_FLAGS);
        if (mount(NULL, e.mount_point, NULL, flags, NULL) < 0) {
            /* Mounts hidden below another one, or on paths we may not look up, can't be
             * reached from the sandbox either. */
            if (errno == ENOENT || errno == EACCES)
                continue;
            die_with_error("can't make '%s' read-only",
                           str_has_prefix(e.mount_point, NEWROOT "/") ? e.mount_point + strlen(NEWROOT) : shown);
        }
    }
}

static void make_readonly_recursive(const char *path, const char *shown)
{
    struct sandbox_mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    long rc = syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr);
#ifdef SANDBOX_FORCE_REMOUNT_FALLBACK
    rc = -1;
    errno = ENOSYS;
#endif
    if (rc == 0)
        return;
    if (errno != ENOSYS)
        die_with_error("can't make '%s' read-only", shown);
    remount_readonly_each(path, shown);
}

/* DEST inside the sandbox as a path under NEWROOT, symlinks resolved inside it. */
static char *newroot_path(const char *dest, bool *exists)
{
    char *path = resolve_in_root(NEWROOT, dest, exists);
    if (path == NULL)
        die_with_error("can't resolve '%s'", dest);
    return path;
}

/* Mount points that don't exist yet are created, which works on the root tmpfs (writable
 * until setup_newroot ends) and in a --tmpfs, and fails inside a read-only bind. */
static void create_parent(const char *path, const char *shown)
{
    cleanup_free char *parent = xstrdup(path);
    char *slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent)
        *slash = '\0';
    if (mkdir_p(parent, 0755, NULL) < 0)
        die_with_error("can't create the parent directory of '%s'", shown);
}

static void create_mount_point(const char *path, bool is_dir, const char *shown)
{
    if (is_dir) {
        if (mkdir_p(path, 0755, NULL) < 0)
            die_with_error("can't create mount point '%s'", shown);
        return;
    }
    create_parent(path, shown);
    if (ensure_file(path, 0644) < 0)
        die_with_error("can't create mount point '%s'", shown);
}

static void mount_tmpfs(const char *dest, unsigned long extra_flags, const char *mode)
{
    cleanup_free char *path = newroot_path(dest, NULL);
    create_mount_point(path, true, dest);
    cleanup_free char *data = xasprintf("mode=%s", mode);
    do_mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | extra_flags, data, "tmpfs", dest);
}

/* Whether a mount exists below source (a path under OLDROOT): an overlay shows only the
 * filesystem at source itself, so the caller binds instead. */
static bool has_mount_below(const char *source, const char *shown)
{
    cleanup_free char *text = read_file(OLDROOT "/proc/self/mountinfo");
    if (text == NULL)
        die_with_error("can't read '/proc/self/mountinfo'");
    int below = mountinfo_has_mount_below(text, source);
    if (below < 0)
        die("can't parse '/proc/self/mountinfo' to show '%s': unexpected line", shown);
    return below == 1;
}

/* The host's read-only tree at source (a path under OLDROOT) on path: a recursive bind,
 * so its submounts come along, read-only all the way down. */
static void bind_readonly(const char *source, const char *path, const char *host, const char *dest)
{
    if (mount(source, path, NULL, MS_BIND | MS_REC, NULL) < 0)
        die_with_error("can't bind '%s' on '%s'", host, dest);
    make_readonly_recursive(path, dest);
}

/* The host path SRC as seen under the old root, with its stat; dies when it is gone. */
static char *host_source(const char *src, struct stat *st)
{
    char *source = oldroot_path(src);
    if (stat(source, st) < 0)
        die_with_error("can't find '%s'", src);
    return source;
}

static void apply_op(const struct sandbox_op *op)
{
    switch (op->type) {
    case OP_OVERLAY: {
        /* The agent's copy-on-write view: reads from LOWER (and the --overlay-lower layers
         * below it, a layered snapshot), every change lands in UPPER. */
        const char *dest = op->args[3];
        size_t n = 1 + op->n_lowers;
        char **lowers = xcalloc(n, sizeof *lowers);
        lowers[0] = oldroot_path(op->args[0]);
        for (size_t l = 0; l < op->n_lowers; l++)
            lowers[1 + l] = oldroot_path(op->lowers[l]);
        cleanup_free char *upper = oldroot_path(op->args[1]);
        cleanup_free char *work = oldroot_path(op->args[2]);
        cleanup_free char *options = overlay_options((const char *const *)lowers, n, upper, work);
        for (size_t l = 0; l < n; l++)
            free(lowers[l]);
        free(lowers);
        if (strlen(options) >= MOUNT_OPTIONS_MAX)
            die("can't mount overlay on '%s': its %zu layers' paths take %zu bytes, more than the kernel's "
                "%d", dest, n, strlen(options), MOUNT_OPTIONS_MAX - 1);
        cleanup_free char *path = newroot_path(dest, NULL);
        create_mount_point(path, true, dest);
        do_mount("overlay", path, "overlay", MS_NOSUID | MS_NODEV, options, "overlay", dest);
        break;
    }
    case OP_RO_BIND_TRY:
    case OP_RO_BIND:
    case OP_BIND: {
        /* Host paths the sandbox shows, recursively so their submounts come along; the
         * launcher lists /usr, /lib64... with -try, as not every host has each. */
        const char *dest = op->args[1];
        if (op->args[0] == NULL)
            break;
        struct stat st;
        cleanup_free char *source = host_source(op->args[0], &st);
        cleanup_free char *path = newroot_path(dest, NULL);
        create_mount_point(path, S_ISDIR(st.st_mode), dest);
        if (op->type != OP_BIND) {
            bind_readonly(source, path, op->args[0], dest);
        } else if (mount(source, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
            die_with_error("can't bind '%s' on '%s'", op->args[0], dest);
        }
        break;
    }
    case OP_RO_OVERLAY: {
        /* A read-only view whose inodes are the overlay's own: connect() through it never
         * reaches a host socket below (a hard link, one bound later or under a linked
         * name, which no path in /proc/net/unix names). An overlay shows no mount below
         * SRC, so a file or a directory with submounts is bound instead, read-only, and
         * only its listed sockets are covered. */
        const char *dest = op->args[1];
        struct stat st;
        cleanup_free char *source = host_source(op->args[0], &st);
        cleanup_free char *path = newroot_path(dest, NULL);
        create_mount_point(path, S_ISDIR(st.st_mode), dest);
        if (!S_ISDIR(st.st_mode) || has_mount_below(source, op->args[0])) {
            bind_readonly(source, path, op->args[0], dest);
            break;
        }
        if (mkdir(EMPTY_LAYER, 0755) < 0 && errno != EEXIST)
            die_with_error("can't create '%s'", EMPTY_LAYER);
        cleanup_free char *options = ro_overlay_options(source, EMPTY_LAYER);
        /* A filesystem overlayfs can't stack on (too deep, no d_type...) is bound as before. */
        if (mount("overlay", path, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, options) < 0)
            bind_readonly(source, path, op->args[0], dest);
        break;
    }
    case OP_TMPFS: {
        /* /tmp and /var/tmp must be usable by everyone (sticky); other scratch dirs are the user's. */
        cleanup_free char *norm = normalize_path(op->args[0]);
        bool shared = strcmp(norm, "/tmp") == 0 || strcmp(norm, "/var/tmp") == 0;
        mount_tmpfs(op->args[0], 0, shared ? "1777" : "0755");
        break;
    }
    case OP_SYMLINK: {
        /* The host's top-level links (/bin -> usr/bin on a merged /usr) are links here too,
         * so both names reach the one bind of what they point to. */
        const char *dest = op->args[1];
        cleanup_free char *path = newroot_path(dest, NULL);
        create_parent(path, dest);
        if (symlink(op->args[0], path) < 0)
            die_with_error("can't create the symbolic link '%s'", dest);
        break;
    }
    case OP_DIR: {
        /* A mount point or an empty place a program expects to exist. */
        cleanup_free char *path = newroot_path(op->args[0], NULL);
        create_mount_point(path, true, op->args[0]);
        break;
    }
    case OP_HIDE: {
        /* Secrets (~/.ssh...) are covered with something empty; absent ones need nothing. So
         * do paths that can't be reached: a file where one of its directories would be, or a
         * loop of links (an agent that made the repository's .git a file or a looping link
         * hides the state directory below it itself). */
        const char *target = op->args[0];
        bool exists;
        cleanup_free char *path = resolve_in_root(NEWROOT, target, &exists);
        if (path == NULL && (errno == ENOTDIR || errno == ELOOP))
            break;
        if (path == NULL)
            die_with_error("can't resolve '%s'", target);
        struct stat st;
        if (!exists || stat(path, &st) < 0)
            break;
        if (S_ISDIR(st.st_mode)) {
            do_mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "mode=0755",
                     "tmpfs", target);
        } else {
            if (mount(OLDROOT "/dev/null", path, NULL, MS_BIND, NULL) < 0)
                die_with_error("can't hide '%s'", target);
            make_readonly_recursive(path, target);
        }
        break;
    }
    case OP_DEV: {
        /* A device the engine needs (/dev/net/tun for its networks); /dev is our tmpfs. */
        const char *dev = op->args[0];
        cleanup_free char *source = oldroot_path(dev);
        struct stat st;
        if (stat(source, &st) < 0)
            die_with_error("can't find the device '%s'", dev);
        if (!S_ISCHR(st.st_mode))
            die("can't bind '%s': not a character device", dev);
        cleanup_free char *path = newroot_path(dev, NULL);
        create_mount_point(path, false, dev);
        do_mount(source, path, NULL, MS_BIND, NULL, "bind", dev);
        break;
    }
    case OP_SETENV:
    case OP_UNSETENV:
        break; /* applied to the agent's environment just before exec */
    }
}

/* The host's own tree at path, read-only all the way down (a plain read-only remount
 * would leave its submounts writable). */
static void bind_host_readonly(const char *path)
{
    cleanup_free char *source = oldroot_path(path);
    cleanup_free char *target = xstrconcat(NEWROOT, path);
    do_mount(source, target, NULL, MS_BIND | MS_REC, NULL, "bind", path);
    make_readonly_recursive(target, path);
}

/* Every host unix socket that the new root shows, by the paths the host's network
 * namespaces bound: /dev/null over each, read-only, so connect() gets ECONNREFUSED. A
 * read-only mount alone does not stop connect(). Paths are resolved inside the new
 * root, so a link can't make us cover (or reach) anything outside it. A path we can't
 * resolve (EACCES, ELOOP) the agent, with fewer rights than init, can't reach either. */
static void cover_sockets(const struct socket_paths *sockets)
{
    for (size_t i = 0; i < sockets->n; i++) {
        const char *shown = sockets->paths[i];
        bool exists;
        cleanup_free char *path = resolve_in_root(NEWROOT, shown, &exists);
        struct stat st;
        if (path == NULL || !exists || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
            continue;
        if (mount(OLDROOT "/dev/null", path, NULL, MS_BIND, NULL) < 0)
            die_with_error("can't cover the host's socket '%s'", shown);
        make_readonly_recursive(path, shown);
    }
}

/* Where the unmasked proc lies, on a tmpfs under the agent's /proc, which covers it. */
#define FULL_PROC_HOLDER NEWROOT "/proc"
#define FULL_PROC FULL_PROC_HOLDER "/full"

/* Lets a nested namespace of the agent's mount a proc of its own (bubblewrap's --proc,
 * Codex's sandbox), for callers other than root. In a user namespace the kernel mounts a
 * new proc only if the mount namespace already has a proc that is "fully visible": none
 * of its locked child mounts covers anything but a permanently empty directory (fs/
 * namespace.c, mount_too_revealing and mnt_already_visible). The agent's own proc has
 * read-only binds over sys, sysrq-trigger, irq and bus, which a nested namespace gets
 * locked, so it never qualifies. The kernel looks at every proc mount of the namespace,
 * reachable or not, so an unmasked one is mounted first on a tmpfs at /proc, and the
 * agent's proc then goes on top of that tmpfs: nothing shows in `ls /` or under /proc,
 * and a nested namespace can't unmount or move the agent's proc (locked, like the
 * covers of hidden paths) to reach it. A non-root agent couldn't write its kernel knobs
 * even there: /proc/sys and sysrq-trigger are writable by the host's root alone (owner
 * checks on the global uid 0, proc_sys_permission/test_perm), with or without
 * capabilities. Not for root, for that reason: root's euid is the host's root, so a
 * fresh proc would let it set kernel.core_pattern or reboot the host; for root a nested
 * proc stays refused (docs/ARCHITECTURE.md §9). Best effort: without it only nested
 * procs fail. */
static void mount_full_proc(void)
{
    if (geteuid() == 0)
        return;
    if (mount("tmpfs", FULL_PROC_HOLDER, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
        return;
    if (mkdir(FULL_PROC, 0700) < 0 ||
        mount("proc", FULL_PROC, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        warn("can't mount a second proc: nested namespaces can't mount their own /proc: %s",
             strerror(errno));
}

static void mount_proc(void)
{
    mount_full_proc();
    /* A proc of the new PID namespace, so the agent sees only the sandbox's processes. */
    if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        warn("can't mount proc on '/proc': %s; the host's /proc is shown read-only instead",
             strerror(errno));
        bind_host_readonly("/proc");
        return;
    }
    /* These write to the kernel, not to our own processes (sysrq-trigger reboots the
     * host for a caller who is root): keep them read-only like the host tree. */
    static const char *const kernel_knobs[] = {"sys", "sysrq-trigger", "irq", "bus"};
    for (size_t i = 0; i < sizeof kernel_knobs / sizeof kernel_knobs[0]; i++) {
        cleanup_free char *path = xasprintf(NEWROOT "/proc/%s", kernel_knobs[i]);
        cleanup_free char *shown = xasprintf("/proc/%s", kernel_knobs[i]);
        if (access(path, F_OK) < 0)
            continue;
        do_mount(path, path, NULL, MS_BIND | MS_REC, NULL, "bind", shown);
        make_readonly_recursive(path, shown);
    }
}

static void mount_sys(bool engine)
{
    /* A sysfs of our own network namespace when the kernel allows it (not with --net
     * host); otherwise the host's /sys, read-only. */
    if (mount("sysfs", NEWROOT "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        bind_host_readonly("/sys");
        return;
    }
    if (!engine)
        return;
    /* The OCI runtime looks for the cgroup hierarchies and, rootless, gives up quietly on
     * what it may not write; without them it fails. They stay read-only. */
    if (access(OLDROOT "/sys/fs/cgroup", F_OK) == 0) {
        do_mount(OLDROOT "/sys/fs/cgroup", NEWROOT "/sys/fs/cgroup", NULL, MS_BIND | MS_REC, NULL, "bind",
                 "/sys/fs/cgroup");
        make_readonly_recursive(NEWROOT "/sys/fs/cgroup", "/sys/fs/cgroup");
    }
}

static void setup_dev(void)
{
    /* Only harmless devices: the host's /dev has disks and the user's real terminals. */
    do_mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755", "tmpfs", "/dev");
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        cleanup_free char *source = xasprintf(OLDROOT "/dev/%s", nodes[i]);
        cleanup_free char *path = xasprintf(NEWROOT "/dev/%s", nodes[i]);
        cleanup_free char *shown = xasprintf("/dev/%s", nodes[i]);
        if (ensure_file(path, 0666) < 0)
            die_with_error("can't create '%s'", shown);
        do_mount(source, path, NULL, MS_BIND, NULL, "bind", shown);
    }
    /* Our own devpts instance: ptys opened inside can't reach the user's terminals. */
    if (mkdir(NEWROOT "/dev/pts", 0755) < 0)
        die_with_error("can't create '/dev/pts'");
    do_mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620", "devpts", "/dev/pts");
    static const char *const links[][2] = {
        {"pts/ptmx", "ptmx"},         {"/proc/self/fd", "fd"},
        {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        cleanup_free char *path = xasprintf(NEWROOT "/dev/%s", links[i][1]);
        if (symlink(links[i][0], path) < 0)
            die_with_error("can't create '/dev/%s'", links[i][1]);
    }
    if (mkdir(NEWROOT "/dev/shm", 0755) < 0)
        die_with_error("can't create '/dev/shm'");
    do_mount("tmpfs", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", "tmpfs", "/dev/shm");
}

void setup_newroot(const struct options *opts, const struct socket_paths *sockets)
{
    /* Our mounts must never propagate to the host; the host's may still reach us. */
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        die_with_error("can't make '/' a slave mount");
    /* A writable scratch root to pivot into, with room for the two mount points. */
    do_mount("tmpfs", BASE_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", "tmpfs", BASE_DIR);
    if (chdir(BASE_DIR) < 0)
        die_with_error("can't change directory to '%s'", BASE_DIR);
    if (mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0755) < 0)
        die_with_error("can't create directories in '%s'", BASE_DIR);
    if (syscall(SYS_pivot_root, BASE_DIR, "oldroot") < 0)
        die_with_error("can't pivot_root into '%s'", BASE_DIR);
    if (chdir("/") < 0)
        die_with_error("can't change directory to '/'");

    /* An empty root that shows only what the argv lists, as bubblewrap builds one: the
     * host's /run, /var/lib, /home... with their sockets and secrets are not there. */
    do_mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", "tmpfs", "/");
    static const char *const kernel_dirs[] = {NEWROOT "/proc", NEWROOT "/sys", NEWROOT "/dev"};
    for (size_t i = 0; i < sizeof kernel_dirs / sizeof kernel_dirs[0]; i++)
        if (mkdir(kernel_dirs[i], 0755) < 0)
            die_with_error("can't create '%s'", kernel_dirs[i] + strlen(NEWROOT));
    mount_proc();
    mount_sys(opts->engine != NULL);
    setup_dev();

    /* The argv's own operations, in order: later ones may build on earlier ones. */
    for (size_t i = 0; i < opts->n_ops; i++)
        apply_op(&opts->ops[i]);

    /* What the host shows (the home, the repository, /etc...) may hold a daemon's socket. */
    cover_sockets(sockets);
    /* Nothing new at the top: the agent writes only where a mount lets it (/tmp...). */
    if (mount(NULL, NEWROOT, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
        die_with_error("can't make '/' read-only");

    /* Drop the host's tree: only what is under /newroot stays reachable. Private first,
     * so the unmount can't propagate anywhere. */
    if (mount(NULL, OLDROOT, NULL, MS_PRIVATE | MS_REC, NULL) < 0)
        die_with_error("can't make '%s' private", OLDROOT);
    if (umount2(OLDROOT, MNT_DETACH) < 0)
        die_with_error("can't unmount '%s'", OLDROOT);
    /* pivot_root(".", ".") stacks the scratch root on top of the new one; unmounting it
     * leaves the new root alone at "/". */
    if (chdir(NEWROOT) < 0)
        die_with_error("can't change directory to '%s'", NEWROOT);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die_with_error("can't pivot_root into '%s'", NEWROOT);
    if (umount2(".", MNT_DETACH) < 0)
        die_with_error("can't unmount the scratch root");
    if (chdir("/") < 0)
        die_with_error("can't change directory to '/'");
}
