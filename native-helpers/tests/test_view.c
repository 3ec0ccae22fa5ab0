/* The view mode: its argument checks, and a real view of three hand-made layers (a char 0/0
 * whiteout, an opaque directory, a file replaced by a directory and one the other way),
 * read through /proc/PID/root as the launcher reads it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tap.h"
#include "utils.h"
#include "view.h"

#define ARGV(...) ((char *const[]){"view", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *const[]){"view", __VA_ARGS__}) / sizeof(char *)))

static void check_layers(const char *want, int argc, char *const argv[], const char *name)
{
    char *got = check_view_layers(argc, argv);
    is_str(got, want, name);
    free(got);
}

static void put(const char *root, const char *rel, const char *content)
{
    char *path = xasprintf("%s/%s", root, rel);
    if (content == NULL) {
        mkdir_p(path, 0755, NULL);
    } else {
        FILE *f = fopen(path, "w");
        if (f == NULL || fputs(content, f) == EOF || fclose(f) != 0)
            printf("# can't write %s: %s\n", path, strerror(errno));
    }
    free(path);
}

/* The file rel's content as seen in the view, or "(missing)". */
static char *seen(const char *merged, const char *rel)
{
    char *path = xasprintf("%s/%s", merged, rel);
    char *text = read_file(path);
    free(path);
    return text != NULL ? text : xstrdup(errno == ENOENT ? "(missing)" : "(unreadable)");
}

static bool is_dir(const char *merged, const char *rel)
{
    char *path = xasprintf("%s/%s", merged, rel);
    struct stat st;
    bool dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
    free(path);
    return dir;
}

static void expect_seen(const char *merged, const char *rel, const char *want, const char *name)
{
    char *got = seen(merged, rel);
    is_str(got, want, name);
    free(got);
}

static void test_real_view(void)
{
    char root[] = "/tmp/test-helper-view-XXXXXX";
    if (mkdtemp(root) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    char *top = xasprintf("%s/top", root), *mid = xasprintf("%s/mid", root), *bottom = xasprintf("%s/bottom", root);
    put(root, "top", NULL);
    put(root, "mid", NULL);
    put(root, "bottom", NULL);
    put(bottom, "a", "bottom\n");
    put(bottom, "deleted", "gone\n");
    put(bottom, "opq", NULL);
    put(bottom, "opq/old", "old\n");
    put(bottom, "file-then-dir", "file\n");
    put(bottom, "dir-then-file", NULL);
    put(bottom, "dir-then-file/in", "in\n");
    put(mid, "a", "mid\n");
    put(mid, "opq", NULL);
    put(mid, "opq/new", "new\n");
    put(top, "file-then-dir", NULL);
    put(top, "file-then-dir/x", "x\n");
    put(top, "dir-then-file", "now a file\n");
    char *whiteout = xasprintf("%s/deleted", mid), *opq = xasprintf("%s/opq", mid);
    if (mknod(whiteout, S_IFCHR | 0600, makedev(0, 0)) < 0 || setxattr(opq, "user.overlay.opaque", "y", 1, 0) < 0) {
        skip("view: a real view of three layers", "can't make a whiteout or a user.* attribute in /tmp");
        goto out;
    }

    int in[2], out[2];
    if (pipe(in) < 0 || pipe(out) < 0) {
        ok(false, "pipe: %s", strerror(errno));
        goto out;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO);
        char *argv[] = {"view", top, mid, bottom, NULL};
        run_view(4, argv);
    }
    close(in[0]);
    close(out[1]);
    char line[32] = {0};
    ssize_t n = read_retry(out[0], line, sizeof line - 1);
    if (n <= 0) {
        int status;
        waitpid(pid, &status, 0);
        close(in[1]);
        close(out[0]);
        skip("view: a real view of three layers", "the view failed (no user namespaces or overlayfs here?)");
        goto out;
    }
    is_str(line, "ready\n", "view: says ready");
    char *merged = xasprintf("/proc/%d/root%s", (int)pid, top);
    expect_seen(merged, "a", "mid\n", "view: the upper layer's file hides the lower one's");
    expect_seen(merged, "deleted", "(missing)", "view: a char 0/0 whiteout deletes");
    expect_seen(merged, "opq/new", "new\n", "view: an opaque directory shows its own");
    expect_seen(merged, "opq/old", "(missing)", "view: and hides what was below it");
    ok(is_dir(merged, "file-then-dir"), "view: a file replaced by a directory is a directory");
    expect_seen(merged, "file-then-dir/x", "x\n", "view: with its files");
    expect_seen(merged, "dir-then-file", "now a file\n", "view: a directory replaced by a file is the file");
    expect_seen(top, "a", "(missing)", "view: the host's own path is untouched");
    free(merged);
    close(in[1]);
    int status;
    ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "view: exits 0 once stdin ends");
    close(out[0]);
out:
    free(whiteout);
    free(opq);
    free(top);
    free(mid);
    free(bottom);
    char *rm = xasprintf("rm -rf '%s'", root);
    if (system(rm) != 0)
        printf("# can't remove %s\n", root);
    free(rm);
}

/* Layers whose paths fill more than the page mount(2) copies: refused with one line, never
 * mounted with the options cut short. */
static void test_too_long(void)
{
    char root[] = "/tmp/test-helper-view-long-XXXXXX";
    if (mkdtemp(root) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    char name[201];
    memset(name, 'n', 200);
    name[200] = '\0';
    char *a = xstrdup(root), *b = NULL;
    for (int i = 0; i < 11; i++) {
        char *next = xasprintf("%s/%s", a, name);
        free(a);
        a = next;
    }
    b = xasprintf("%s/b", a);
    int made = mkdir_p(b, 0755, NULL);
    int err[2];
    if (made < 0 || pipe(err) < 0) {
        skip("view: too long layer paths are refused", "can't make a 2 KiB deep directory in /tmp");
    } else {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(err[1], STDERR_FILENO);
            int null = open("/dev/null", O_RDWR);
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            char *argv[] = {"view", b, a, NULL};
            run_view(3, argv);
        }
        close(err[1]);
        char line[512] = {0};
        read_retry(err[0], line, sizeof line - 1);
        close(err[0]);
        int status;
        waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SETUP_FAILED &&
               strstr(line, "of mount options, more than the kernel's 4095") != NULL,
           "view: layers whose paths pass the page mount(2) takes are refused in one line");
        if (strstr(line, "more than") == NULL)
            printf("#   said: %s\n", line);
    }
    free(a);
    free(b);
    char *rm = xasprintf("rm -rf '%s'", root);
    if (system(rm) != 0)
        printf("# can't remove %s\n", root);
    free(rm);
}

void test_view(void)
{
    check_layers(NULL, ARGC("/a", "/b"), ARGV("/a", "/b"), "view: two absolute layers are fine");
    check_layers("view: needs two layers at least (LAYER LAYER..., topmost first)", ARGC("/a"), ARGV("/a"),
                 "view: one layer is refused");
    check_layers("view: 'b' is not an absolute path", ARGC("/a", "b"), ARGV("/a", "b"),
                 "view: a relative layer is refused");
    check_layers("view: '' is not an absolute path", ARGC("/a", ""), ARGV("/a", ""), "view: an empty layer is refused");
    test_real_view();
    test_too_long();
}
