#include "view.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ns.h"
#include "paths.h"

const char view_usage_text[] =
    "\n"
    "Usage: " PROGRAM_NAME " view LAYER LAYER...\n"
    "Mount the directories LAYER (topmost first, 2 to 64 absolute paths) as one read-only\n"
    "overlayfs (lowerdir=LAYER1:LAYER2:...,userxattr: whiteouts and opaque directories\n"
    "apply) on LAYER1's own path, in new user and mount namespaces of this process; print\n"
    "'ready' and wait until stdin ends. Another process of the same user reads the merged\n"
    "tree at /proc/PID/root followed by LAYER1. Exit status: 0 once stdin ended, 125 the\n"
    "helper failed.\n";

char *check_view_layers(int argc, char *const argv[])
{
    int n = argc - 1;
    if (n < 2)
        return xstrdup("view: needs two layers at least (LAYER LAYER..., topmost first)");
    if (n > VIEW_MAX_LAYERS)
        return xasprintf("view: %d layers, more than %d", n, VIEW_MAX_LAYERS);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '/')
            return xasprintf("view: '%s' is not an absolute path", argv[i]);
    return NULL;
}

void run_view(int argc, char *argv[])
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs(view_usage_text, stdout);
        exit(fflush(stdout) == 0 ? 0 : EXIT_SETUP_FAILED);
    }
    char *problem = check_view_layers(argc, argv);
    if (problem != NULL)
        die("%s", problem);
    /* Descriptors the launcher's JVM left open would pin its files for our whole life. */
    close_fds_above_stderr(-1);

    /* Real paths, resolved before the namespaces exist: the mount goes on the place the
     * launcher's path leads to, and overlayfs is given no symlink to follow later. */
    size_t n = (size_t)argc - 1;
    char **layers = xcalloc(n, sizeof *layers);
    for (size_t i = 0; i < n; i++) {
        layers[i] = realpath(argv[1 + i], NULL);
        if (layers[i] == NULL)
            die_with_error("view: can't find '%s'", argv[1 + i]);
    }
    cleanup_free char *options = overlay_options((const char *const *)layers, n, NULL, NULL);
    if (strlen(options) >= MOUNT_OPTIONS_MAX)
        die("view: the %zu layers' paths take %zu bytes of mount options, more than the kernel's %d", n,
            strlen(options), MOUNT_OPTIONS_MAX - 1);

    /* A mount namespace of our own, which an unprivileged caller may only have with a
     * user namespace; nothing else is unshared, as nothing else is needed. */
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
        int err = errno;
        if (err == EPERM || err == ENOSPC || err == EUSERS)
            die_with_errno(err, "view: can't create user namespace (are unprivileged user namespaces "
                                "disabled? see 'sandbox doctor')");
        die_with_errno(err, "view: can't create namespaces");
    }
    /* as themselves, as the sandbox maps them: files read through the view show their real
     * owners, and the caller keeps its own rights on them */
    map_own_ids(uid, gid);
    /* Our mount must not propagate back to the host's namespace, nor theirs reach us. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die_with_error("view: can't make '/' private");
    /* userxattr: the layers' opaque markers are user.overlay.opaque, which an unprivileged
     * process can write (Documentation/filesystems/overlayfs.rst, "Whiteouts and opaque
     * directories" and "Non-standard behavior"); read-only, with no upper layer. */
    if (mount("overlay", layers[0], "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, options) < 0)
        die_with_error("view: can't mount overlay of %zu layers on '%s'", n, layers[0]);
    for (size_t i = 0; i < n; i++)
        free(layers[i]);
    free(layers);
    /* The launcher, same user, reads /proc/PID/root: ptrace-read access, which a process
     * that is not dumpable denies (proc(5), /proc/pid/root). */
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        die_with_error("view: can't stay dumpable");
    /* Pin no directory of the caller's: a cwd inside a layer is in the way of nothing,
     * but one elsewhere could keep a filesystem busy for as long as the view lives. */
    if (chdir("/") < 0)
        die_with_error("view: can't change directory to '/'");

    if (fputs("ready\n", stdout) == EOF || fflush(stdout) != 0)
        die_with_error("view: can't write to stdout");
    /* The caller ends the view by closing our stdin (or by ending: the pipe closes too). */
    char buf[512];
    for (;;) {
        ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
    }
    exit(0);
}
