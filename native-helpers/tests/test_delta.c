/* Tests of `tree diff` (src/delta.c) on hand-made manifests in /tmp: tree_main runs in a child
 * whose stdout and stderr go to files. The rules themselves are checked against the launcher's
 * Manifest.diff in launcher/src/test/java/dev/sandbox/snapshot/TreeDiffTest.java. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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

static void write_bytes(const char *file, const void *data, size_t len);

#define FIXED 35    /* an SBMANIF1 record's bytes before its path */
#define FIXED_V2 47 /* an SBMANIF2 record's: ctime s and ns before the path length */

/* Appends one record (kind, inode, the len bytes at path) to buf at *n, in SBMANIF2's form
 * with ctime (csec, cnsec) when v2, else in SBMANIF1's. */
static void record_v(unsigned char *buf, size_t *n, bool v2, char kind, uint64_t ino, int64_t csec, uint32_t cnsec,
                     const char *path, uint16_t len)
{
    size_t fixed = v2 ? FIXED_V2 : FIXED;
    unsigned char *r = buf + *n;
    memset(r, 0, fixed);
    r[0] = (unsigned char)kind;
    r[1] = kind == 'd' ? 0xed : 0xa4; /* a mode, little-endian: 040755 or 0100644 */
    r[2] = kind == 'd' ? 0x41 : 0x81;
    for (int i = 0; i < 8; i++)
        r[25 + i] = (unsigned char)(ino >> (8 * i));
    if (v2) {
        for (int i = 0; i < 8; i++)
            r[33 + i] = (unsigned char)((uint64_t)csec >> (8 * i));
        for (int i = 0; i < 4; i++)
            r[41 + i] = (unsigned char)(cnsec >> (8 * i));
    }
    r[fixed - 2] = (unsigned char)(len & 0xff);
    r[fixed - 1] = (unsigned char)(len >> 8);
    memcpy(r + fixed, path, len);
    *n += fixed + len;
}

/* An SBMANIF1 record, as the previous version wrote them. */
static void record(unsigned char *buf, size_t *n, char kind, uint64_t ino, const char *path, uint16_t len)
{
    record_v(buf, n, false, kind, ino, 0, 0, path, len);
}

/* Writes a manifest of magic and the records "" (dir, ino 1), "f" (ino 2, ctime csec.cnsec). */
static void two_entries(const char *file, bool v2, int64_t csec, uint32_t cnsec)
{
    unsigned char buf[8 + 2 * (FIXED_V2 + 1)];
    size_t n = 8;
    memcpy(buf, v2 ? "SBMANIF2" : "SBMANIF1", 8);
    record_v(buf, &n, v2, 'd', 1, 5, 0, "", 0);
    record_v(buf, &n, v2, 'f', 2, csec, cnsec, "f", 1);
    write_bytes(file, buf, n);
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

/* Runs the diff of an SBMANIF2 scan with f's ctime 7.8 over a lower two_entries wrote; the ops. */
static char *ctime_diff(const char *dir, bool lower_v2, int64_t csec, uint32_t cnsec, int *rc)
{
    two_entries(xasprintf("%s/scan", dir), true, 7, 8);
    two_entries(xasprintf("%s/lower", dir), lower_v2, csec, cnsec);
    char *out = NULL, *err = NULL;
    *rc = run_diff(dir, "scan", "lower", &out, &err);
    if (*rc != 0)
        printf("#   exit %d, stderr: %s", *rc, err == NULL ? "(none)\n" : err);
    free(out), free(err);
    char *ops = read_file(xasprintf("%s/ops", dir));
    return ops == NULL ? strdup("(none)") : ops;
}

/* ctime: compared where both manifests know it; an SBMANIF1 lower (the previous version's
 * snapshots on disk) still diffs, its ctime unknown. */
static void ctime_cases(const char *dir)
{
    int rc;
    char *ops = ctime_diff(dir, true, 7, 9, &rc);
    ok(rc == 0 && memcmp(ops, "cf\0", 4) == 0, "tree diff: a file whose ctime alone changed is copied");
    free(ops);
    ops = ctime_diff(dir, true, 7, 8, &rc);
    ok(rc == 0 && ops[0] == '\0', "tree diff: the same ctime is no change");
    free(ops);
    ops = ctime_diff(dir, false, 0, 0, &rc);
    ok(rc == 0 && ops[0] == '\0', "tree diff: an SBMANIF1 lower is read; its unknown ctime is no change");
    free(ops);
    ops = ctime_diff(dir, true, 0, UINT32_MAX, &rc);
    ok(rc == 0 && ops[0] == '\0', "tree diff: an SBMANIF2 entry of unknown ctime is no change");
    free(ops);

    /* over an SBMANIF1 lower, a changed file: its SBMANIF2 record, ctime kept, in the delta */
    unsigned char buf[8 + 2 * (FIXED_V2 + 1)];
    size_t n = 8;
    memcpy(buf, "SBMANIF2", 8);
    record_v(buf, &n, true, 'd', 1, 5, 0, "", 0);
    record_v(buf, &n, true, 'f', 3, 7, 8, "f", 1);
    write_bytes(xasprintf("%s/scan", dir), buf, n);
    two_entries(xasprintf("%s/lower", dir), false, 0, 0);
    char *out = NULL, *err = NULL;
    rc = run_diff(dir, "scan", "lower", &out, &err);
    char *m = read_file(xasprintf("%s/out", dir));
    unsigned char want[8 + FIXED_V2 + 1];
    n = 8;
    memcpy(want, "SBMANIF2", 8);
    record_v(want, &n, true, 'f', 3, 7, 8, "f", 1);
    ok(rc == 0 && m != NULL && memcmp(m, want, n) == 0,
       "tree diff: over an SBMANIF1 lower, the delta's manifest is SBMANIF2 with the scan's ctime");
    free(out), free(err), free(m);

    /* a bad ctime */
    n = 8;
    memcpy(buf, "SBMANIF2", 8);
    record_v(buf, &n, true, 'd', 1, 5, 0, "", 0);
    record_v(buf, &n, true, 'f', 3, 7, 1000000000u, "f", 1);
    write_bytes(xasprintf("%s/lower", dir), buf, n);
    two_entries(xasprintf("%s/scan", dir), true, 7, 8);
    rc = run_diff(dir, "scan", "lower", &out, &err);
    ok(rc == TREE_FAILED && one_line_with(err, "holds a ctime of more than 999999999 ns"),
       "tree diff: a ctime of 10^9 ns is refused in one line");
    free(out), free(err);
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
    write_bytes(xasprintf("%s/lower", dir), "SBMANIF3", 8);
    int rc = run_diff(dir, "scan", "lower", &out, &err);
    ok(rc == TREE_FAILED && one_line_with(err, "lower': not a manifest (no SBMANIF1 or SBMANIF2 magic)"),
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

    ctime_cases(dir);

    char *rm = xasprintf("rm -rf '%s'", dir);
    if (system(rm) != 0)
        printf("# failed: %s\n", rm);
    free(rm);
}
