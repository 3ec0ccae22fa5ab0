/* Tests of `tree diff` (src/delta.c) on hand-made manifests in /tmp: tree_main runs in a child
 * whose stdout and stderr go to files. The rules themselves are checked against the launcher's
 * Manifest.diff in launcher/src/test/java/dev/sandbox/snapshot/TreeDiffTest.java. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delta.h"
#include "tap.h"
#include "tree.h"
#include "tree_run.h"
#include "utils.h"

#define FIXED 35

/* Appends one record (kind, inode, the len bytes at path) to buf at *n. */
static void record(unsigned char *buf, size_t *n, char kind, uint64_t ino, const char *path, uint16_t len)
{
    unsigned char *r = buf + *n;
    memset(r, 0, FIXED);
    r[0] = (unsigned char)kind;
    r[1] = kind == 'd' ? 0xed : 0xa4; /* a mode, little-endian: 040755 or 0100644 */
    r[2] = kind == 'd' ? 0x41 : 0x81;
    for (int i = 0; i < 8; i++)
        r[25 + i] = (unsigned char)(ino >> (8 * i));
    r[33] = (unsigned char)(len & 0xff);
    r[34] = (unsigned char)(len >> 8);
    memcpy(r + FIXED, path, len);
    *n += FIXED + len;
}

static void write_bytes(const char *file, const void *data, size_t len)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write_all(fd, data, len) < 0)
        printf("# can't write %s: %s\n", file, strerror(errno));
    if (fd >= 0)
        close(fd);
}

/* Runs `tree diff SCAN LOWER --ops .. --manifest ..` in dir; its stderr in *err, status returned. */
static int run_diff(const char *dir, const char *scan, const char *lower, char **out, char **err)
{
    char *s = xasprintf("%s/%s", dir, scan), *l = xasprintf("%s/%s", dir, lower);
    char *ops = xasprintf("%s/ops", dir), *m = xasprintf("%s/out", dir), *stem = xasprintf("%s/run", dir);
    char *argv[] = {"tree", "diff", s, l, "--ops", ops, "--manifest", m, NULL};
    int rc = tree_run(stem, argv, out, err);
    free(s), free(l), free(ops), free(m), free(stem);
    return rc;
}

/* Whether text is exactly one line that holds want. */
static bool one_line_with(const char *text, const char *want)
{
    if (text == NULL)
        return false;
    const char *nl = strchr(text, '\n');
    return nl != NULL && nl[1] == '\0' && strstr(text, want) != NULL;
}

/* A scan of "" (dir, inode 1) and "f", then one bad record; `tree diff` must refuse the lower. */
static void refuses(const char *dir, const char *name, char kind, const char *path, uint16_t len, const char *why)
{
    static unsigned char buf[8 + 3 * (FIXED + 8192)];
    size_t n = 8;
    memcpy(buf, "SBMANIF1", 8);
    record(buf, &n, 'd', 1, "", 0);
    record(buf, &n, 'f', 2, "f", 1);
    write_bytes(xasprintf("%s/scan", dir), buf, n);
    record(buf, &n, kind, 3, path, len);
    if (strcmp(name, "truncated") == 0)
        n -= 3;
    write_bytes(xasprintf("%s/lower", dir), buf, n);
    char *out = NULL, *err = NULL;
    int rc = run_diff(dir, "scan", "lower", &out, &err);
    char *want = xasprintf("manifest '%s/lower': %s", dir, why);
    if (!ok(rc == TREE_FAILED && one_line_with(err, want), "tree diff: a lower manifest %s exits 1 with one line",
            name))
        printf("#   exit %d, stderr: %s", rc, err == NULL ? "(none)\n" : err);
    free(want);
    free(out);
    free(err);
}

void test_delta(void)
{
    char dir[] = "/tmp/test-helper-delta-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    static char longpath[4200];
    memset(longpath, 'a', sizeof longpath - 1);
    refuses(dir, "truncated", 'f', "g", 1, "ends inside an entry");
    refuses(dir, "of unknown kind", 'x', "g", 1, "holds an entry of unknown kind 120");
    refuses(dir, "with ../x", 'f', "../x", 4, "a path that is not relative and plain");
    refuses(dir, "with /x", 'f', "/x", 2, "a path that is not relative and plain");
    refuses(dir, "with a//b", 'f', "a//b", 4, "a path that is not relative and plain");
    refuses(dir, "with a path too long", 'f', longpath, 4097, "holds a path of 4097 bytes");
    refuses(dir, "with a NUL", 'f', "a\0b", 3, "a path with a NUL byte");

    char *out = NULL, *err = NULL;
    write_bytes(xasprintf("%s/lower", dir), "SBMANIF2", 8);
    int rc = run_diff(dir, "scan", "lower", &out, &err);
    ok(rc == TREE_FAILED && one_line_with(err, "lower': not a manifest (no SBMANIF1 magic)"),
       "tree diff: bad magic exits 1 with one line");
    free(out), free(err);
    rc = run_diff(dir, "scan", "missing", &out, &err);
    ok(rc == TREE_FAILED && one_line_with(err, "missing': No such file or directory"),
       "tree diff: a missing manifest exits 1 with one line");
    free(out), free(err);

    /* the diff itself: f changed, g deleted, h a FIFO (skipped) */
    unsigned char buf[8 + 4 * (FIXED + 8)];
    size_t n = 8;
    memcpy(buf, "SBMANIF1", 8);
    record(buf, &n, 'd', 1, "", 0);
    record(buf, &n, 'f', 2, "f", 1);
    record(buf, &n, 'f', 3, "g", 1);
    write_bytes(xasprintf("%s/lower", dir), buf, n);
    n = 8;
    record(buf, &n, 'd', 1, "", 0);
    record(buf, &n, 'f', 4, "f", 1);
    record(buf, &n, 'o', 5, "h\n", 2);
    write_bytes(xasprintf("%s/scan", dir), buf, n);
    rc = run_diff(dir, "scan", "lower", &out, &err);
    is_str(out, "files=1 bytes=0 lower_files=2 lower_bytes=0\nh\\012\n", "tree diff: counts, then the skipped, escaped");
    char *ops = read_file(xasprintf("%s/ops", dir));
    ok(rc == 0 && ops != NULL && memcmp(ops, "cf\0wg\0", 7) == 0, "tree diff: c f, then w g");
    free(out), free(err), free(ops);

    /* the root made again: another inode */
    n = 8;
    record(buf, &n, 'd', 9, "", 0);
    write_bytes(xasprintf("%s/scan", dir), buf, n);
    rc = run_diff(dir, "scan", "lower", &out, &err);
    ok(rc == DELTA_ROOT_REPLACED && one_line_with(err, "root was replaced"), "tree diff: a replaced root exits 4");
    free(out), free(err);

    char *rm = xasprintf("rm -rf '%s'", dir);
    if (system(rm) != 0)
        printf("# failed: %s\n", rm);
    free(rm);
}
