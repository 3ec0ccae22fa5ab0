/* Tests of `tree scan|copy` (src/tree.c) on real trees in /tmp: tree_main runs in a child
 * whose stdout and stderr go to files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tap.h"
#include "tree.h"
#include "tree_run.h"
#include "utils.h"

void tree_run_cleanup(const char *root)
{
    char *rm = xasprintf("chmod -R u+rwX '%s'; rm -rf '%s' '%s.out' '%s.err'", root, root, root, root);
    if (system(rm) != 0)
        printf("# could not remove %s\n", root);
    free(rm);
}

int tree_run(const char *stem, char **argv, char **out, char **err)
{
    char *out_file = xasprintf("%s.out", stem), *err_file = xasprintf("%s.err", stem);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600), e = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(99);
        int argc = 0;
        while (argv[argc] != NULL)
            argc++;
        int rc = tree_main(argc, argv);
        fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    *out = read_file(out_file);
    if (err != NULL)
        *err = read_file(err_file);
    free(out_file);
    free(err_file);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Runs the shell command `script` in the directory root. */
static void sh(const char *script, const char *root)
{
    char *cmd = xasprintf("cd '%s' && { %s; }", root, script);
    if (system(cmd) != 0)
        printf("# failed: %s\n", cmd);
    free(cmd);
}

/* The fingerprint word of a "fingerprint FP ..." or "copied ... fingerprint FP" line. */
static char *fingerprint_of(const char *out)
{
    const char *p = out == NULL ? NULL : strstr(out, "fingerprint ");
    if (p == NULL)
        return strdup("");
    p += strlen("fingerprint ");
    size_t n = strcspn(p, " \n");
    return strndup(p, n);
}

/* Rewrites file in place to the same size (same inode), then sets its atime and mtime back as
 * cp -p, rsync -t and touch -r do: only its ctime, which no unprivileged call sets, moves.
 * Waits for the clock to tick past the old ctime (the kernel's timestamps are coarse). */
static bool rewrite_keeping_mtime(const char *file, const char *data)
{
    struct stat before, after;
    if (stat(file, &before) < 0)
        return false;
    struct timespec ts[2] = {before.st_atim, before.st_mtim};
    for (int i = 0; i < 200; i++) {
        int fd = open(file, O_WRONLY | O_TRUNC);
        if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data) || close(fd) < 0
            || utimensat(AT_FDCWD, file, ts, 0) < 0 || stat(file, &after) < 0)
            return false;
        if (after.st_ctim.tv_sec != before.st_ctim.tv_sec || after.st_ctim.tv_nsec != before.st_ctim.tv_nsec)
            return after.st_ino == before.st_ino && after.st_size == before.st_size
                && after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec;
        usleep(5000);
    }
    return false;
}

/* ctime: in the scan's fingerprint and its SBMANIF2 manifest, so that a same-size rewrite with
 * the mtime set back is a change for the scan and for `tree diff` (the issue: cp -p). */
static void same_size_rewrite(const char *root)
{
    sh("mkdir ct && printf aaaa > ct/f", root);
    char *dir = xasprintf("%s/ct", root), *file = xasprintf("%s/ct/f", root);
    char *m1 = xasprintf("%s/ct.m1", root), *m2 = xasprintf("%s/ct.m2", root);
    char *out = NULL;
    char *scan1[] = {"tree", "scan", dir, "--manifest", m1, NULL};
    is_int(tree_run(root, scan1, &out, NULL), 0, "ctime: scan exits 0");
    char *before = fingerprint_of(out);
    free(out);
    struct stat st;
    char *m = read_file(m1);
    ok(m != NULL && memcmp(m, "SBMANIF2", 8) == 0, "the scan's manifest is SBMANIF2");
    /* the records of "" and "f", in either order: find f's by its path at the end */
    bool ctime_kept = false;
    if (m != NULL && stat(file, &st) == 0) {
        for (size_t off = 8; off + 47 <= 8 + 2 * 47 + 1;) {
            unsigned char *r = (unsigned char *)m + off;
            size_t len = r[45] | (r[46] << 8);
            if (len == 1 && r[47] == 'f') {
                int64_t sec = 0;
                uint32_t nsec = 0;
                for (int i = 7; i >= 0; i--)
                    sec = (sec << 8) | r[33 + i];
                for (int i = 3; i >= 0; i--)
                    nsec = (nsec << 8) | r[41 + i];
                ctime_kept = sec == st.st_ctim.tv_sec && nsec == (uint32_t)st.st_ctim.tv_nsec;
            }
            off += 47 + len;
        }
    }
    ok(ctime_kept, "f's record holds its ctime (s, ns) after its inode");
    free(m);
    ok(rewrite_keeping_mtime(file, "bbbb"), "a same-size rewrite keeps inode, size and mtime, not ctime");
    char *scan2[] = {"tree", "scan", dir, "--manifest", m2, NULL};
    is_int(tree_run(root, scan2, &out, NULL), 0, "ctime: scan again exits 0");
    char *after = fingerprint_of(out);
    free(out);
    ok(strcmp(before, after) != 0, "the fingerprint changes with ctime alone (%s, %s)", before, after);
    char *ops = xasprintf("%s/ct.ops", root), *delta = xasprintf("%s/ct.delta", root);
    char *diff[] = {"tree", "diff", m2, m1, "--ops", ops, "--manifest", delta, NULL};
    is_int(tree_run(root, diff, &out, NULL), 0, "ctime: tree diff exits 0");
    free(out);
    char *o = read_file(ops);
    ok(o != NULL && memcmp(o, "cf\0", 4) == 0, "tree diff copies the rewritten file");
    free(o);
    free(before), free(after), free(ops), free(delta);
    free(dir), free(file), free(m1), free(m2);
}

void test_tree(void)
{
    char root[] = "/tmp/test-helper-tree-XXXXXX";
    if (mkdtemp(root) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    /* escapes and the entry hash */
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    tree_put_escaped(f, "a\nb\\c\x7f", 6);
    fclose(f);
    is_str(text, "a\\012b\\134c\\177", "REL escapes newline, backslash and DEL as octal");
    free(text);
    struct stat st = {.st_mode = S_IFREG | 0644, .st_size = 1, .st_ino = 7};
    uint64_t h = tree_entry_hash("f", 1, &st);
    st.st_mode = S_IFREG | 0755;
    ok(h != tree_entry_hash("f", 1, &st), "a chmod changes the entry's hash");
    h = tree_entry_hash("f", 1, &st);
    st.st_ctim.tv_nsec = 1;
    ok(h != tree_entry_hash("f", 1, &st), "a ctime changes the entry's hash");

    /* a hostile tree */
    sh("mkdir -p src/a/b src/.git/sandbox && printf x > 'src/a/new\nline' && ln -s /etc src/a/etc"
       " && ln -s ../.. src/a/b/up && mkfifo src/fifo && truncate -s 1G src/sparse && echo s > src/.git/sandbox/s"
       " && chmod 555 src/a/b && touch -d '2001-02-03 04:05:06.123456789' src/a",
       root);
    char *src = xasprintf("%s/src", root), *dst = xasprintf("%s/dst", root), *state = xasprintf("%s/src/.git/sandbox", root);
    char *out = NULL;
    char *scan[] = {"tree", "scan", src, "--exclude", state, NULL};
    is_int(tree_run(root, scan, &out, NULL), 0, "scan exits 0");
    char *fp = fingerprint_of(out);
    ok(strncmp(out, "fingerprint n9-", 15) == 0 && strstr(out, " files 5 bytes 1073741825\n") != NULL,
       "scan: 9 entries without the state dir, 5 not dirs, the files' bytes (%s)", out);
    free(out);
    char *copy[] = {"tree", "copy", src, dst, "--exclude", state, NULL};
    is_int(tree_run(root, copy, &out, NULL), 0, "copy exits 0");
    char *cfp = fingerprint_of(out);
    is_str(cfp, fp, "copy's fingerprint is the scan's");
    ok(strncmp(out, "skipped fifo\ncopied 4 1073741825 cloned 0 fallback 0 ", strlen("skipped fifo\ncopied 4 1073741825 cloned 0 fallback 0 ")) == 0, "the fifo is reported: %s", out);
    free(out);
    struct stat a, b;
    char *p1 = xasprintf("%s/sparse", dst);
    ok(stat(p1, &a) == 0 && a.st_size == 1L << 30 && a.st_blocks * 512 <= 1 << 20, "a 1 GiB hole stays a hole");
    free(p1);
    p1 = xasprintf("%s/a", dst);
    char *p2 = xasprintf("%s/a", src);
    ok(stat(p1, &a) == 0 && stat(p2, &b) == 0 && a.st_mtim.tv_sec == b.st_mtim.tv_sec
           && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec,
       "a directory keeps its mtime, set after its children");
    free(p1);
    free(p2);
    p1 = xasprintf("%s/a/b", dst);
    ok(stat(p1, &a) == 0 && (a.st_mode & 0777) == 0555, "a read-only directory is read-only in the copy");
    free(p1);
    p1 = xasprintf("%s/.git/sandbox", dst);
    ok(lstat(p1, &a) < 0 && errno == ENOENT, "the excluded directory is left out");
    free(p1);
    p1 = xasprintf("%s/a/etc", dst);
    char target[64] = "";
    ok(readlink(p1, target, sizeof target - 1) == 4 && strcmp(target, "/etc") == 0, "a symlink is copied, not followed");
    free(p1);
    is_int(tree_run(root, copy, &out, NULL), 1, "copy onto an existing DST fails");
    free(out);

    /* deep nesting: no recursion */
    sh("mkdir deep && cd deep && for i in $(seq 1500); do mkdir d && cd d || exit 1; done; echo x > f", root);
    char *deep = xasprintf("%s/deep", root), *deep_copy = xasprintf("%s/deepc", root);
    char *deep_argv[] = {"tree", "copy", deep, deep_copy, NULL};
    is_int(tree_run(root, deep_argv, &out, NULL), 0, "1,500 nested directories copy");
    ok(out != NULL && strncmp(out, "copied 1 2 ", 11) == 0, "the bottom file is copied: %s", out);
    free(out);

    /* ops */
    sh("mkdir -p src/n/m && echo z > src/n/m/f", root);
    char *ops = xasprintf("%s/ops", root), *delta = xasprintf("%s/delta", root);
    int fd = open(ops, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    static const char records[] = "cn/m/f\0wn/gone\0Ca\0";
    ok(fd >= 0 && write(fd, records, sizeof records - 1) == (ssize_t)(sizeof records - 1) && close(fd) == 0, "ops file");
    char *ops_argv[] = {"tree", "copy", src, delta, "--ops", ops, NULL};
    is_int(tree_run(root, ops_argv, &out, NULL), 0, "copy --ops exits 0");
    free(out);
    p1 = xasprintf("%s/n/gone", delta);
    ok(lstat(p1, &a) == 0 && S_ISCHR(a.st_mode) && a.st_rdev == makedev(0, 0), "w makes a 0/0 whiteout");
    free(p1);
    p1 = xasprintf("%s/a", delta);
    char value[4] = "";
    ok(getxattr(p1, "user.overlay.opaque", value, sizeof value) == 1 && value[0] == 'y', "C marks the directory opaque");
    free(p1);
    p1 = xasprintf("%s/n/m", delta);
    p2 = xasprintf("%s/n/m", src);
    ok(stat(p1, &a) == 0 && stat(p2, &b) == 0 && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && (a.st_mode & 0777) == (b.st_mode & 0777),
       "a parent made for an op gets SRC's mode and times");
    free(p1);
    free(p2);
    fd = open(ops, O_WRONLY | O_TRUNC);
    static const char gone[] = "cn/nothere\0";
    ok(fd >= 0 && write(fd, gone, sizeof gone - 1) == (ssize_t)(sizeof gone - 1) && close(fd) == 0, "ops file");
    char *delta2 = xasprintf("%s/delta2", root);
    char *gone_argv[] = {"tree", "copy", src, delta2, "--ops", ops, NULL};
    is_int(tree_run(root, gone_argv, &out, NULL), 3, "an op on a gone entry exits 3");
    is_str(out, "changed n/nothere\n", "and names it");
    free(out);
    fd = open(ops, O_WRONLY | O_TRUNC);
    static const char bad[] = "c../x\0";
    ok(fd >= 0 && write(fd, bad, sizeof bad - 1) == (ssize_t)(sizeof bad - 1) && close(fd) == 0, "ops file");
    char *delta3 = xasprintf("%s/delta3", root);
    char *bad_argv[] = {"tree", "copy", src, delta3, "--ops", ops, NULL};
    is_int(tree_run(root, bad_argv, &out, NULL), 2, "an op with .. is a bad argument");
    free(out);

    same_size_rewrite(root);

    free(fp);
    free(cfp);
    free(delta3);
    free(delta2);
    free(delta);
    free(ops);
    free(deep);
    free(deep_copy);
    free(src);
    free(dst);
    free(state);
    tree_run_cleanup(root);
}
