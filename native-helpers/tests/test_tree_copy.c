/* Tests of `tree copy`'s data and mode paths (src/tree.c): a file is created with its mode
 * where the umask and no default ACL make that exact, else chmod'ed after; a file whose
 * blocks cover its size but that still has a hole (blocks preallocated past its end) keeps
 * the hole; a copy into btrfs takes fewer threads. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tap.h"
#include "tree.h"
#include "tree_run.h"
#include "utils.h"

/* The first is 0000 for root and 0400 for anyone else, who can't read a file of mode 0000 to
 * copy it (the copier then fails, as it should); set by test_tree_copy. */
static mode_t modes[] = {0000, 0444, 0640, 0664, 0777};
#define NMODES (sizeof modes / sizeof modes[0])

/* Copies src to dst under `mask`; true when it exits 0 and each file keeps its mode and data. */
static bool modes_kept(const char *stem, const char *src, const char *dst, mode_t mask)
{
    char *out = NULL;
    char *argv[] = {"tree", "copy", (char *)src, (char *)dst, NULL};
    mode_t old = umask(mask);
    int rc = tree_run(stem, argv, &out, NULL);
    umask(old);
    bool kept = rc == 0;
    if (!kept)
        printf("# copy exited %d: %s\n", rc, out ? out : "");
    for (size_t i = 0; i < NMODES && kept; i++) {
        char *p = xasprintf("%s/f%03o", dst, (unsigned)modes[i]);
        struct stat st;
        char data[16] = "";
        int fd = -1;
        if (stat(p, &st) < 0 || (st.st_mode & 07777) != modes[i]) {
            printf("# %s: mode %03o, want %03o\n", p, (unsigned)(st.st_mode & 07777), (unsigned)modes[i]);
            kept = false;
        } else if (chmod(p, 0600) < 0 || (fd = open(p, O_RDONLY)) < 0 || read(fd, data, sizeof data - 1) != 5
                   || strcmp(data, "data\n") != 0) {
            printf("# %s: data '%s'\n", p, data);
            kept = false;
        }
        if (fd >= 0)
            close(fd);
        free(p);
    }
    free(out);
    return kept;
}

/* A minimal default ACL u::rwx,g::---,o::--- in the kernel's xattr form (a version, then
 * {tag, perm, id} entries; include/uapi/linux/posix_acl_xattr.h): it masks out group and
 * other bits of what is created under it, whatever the umask. */
static int set_default_acl(const char *dir)
{
    struct __attribute__((packed)) {
        uint32_t version;
        struct __attribute__((packed)) {
            uint16_t tag, perm;
            uint32_t id;
        } e[3];
    } acl = {2, {{0x01, 7, UINT32_MAX}, {0x04, 0, UINT32_MAX}, {0x20, 0, UINT32_MAX}}};
    return setxattr(dir, "system.posix_acl_default", &acl, sizeof acl, 0);
}

void test_tree_copy(void)
{
    modes[0] = geteuid() == 0 ? 0000 : 0400;
    char root[] = "/tmp/test-helper-tree-copy-XXXXXX";
    if (mkdtemp(root) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    char *src = xasprintf("%s/src", root);
    mkdir(src, 0755);
    for (size_t i = 0; i < NMODES; i++) {
        char *p = xasprintf("%s/f%03o", src, (unsigned)modes[i]);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
        ok(fd >= 0 && write(fd, "data\n", 5) == 5 && close(fd) == 0 && chmod(p, modes[i]) == 0, "made %s", p);
        free(p);
    }

    char *dst = xasprintf("%s/plain", root);
    ok(modes_kept(root, src, dst, 077), "under umask 077, a copied file keeps its mode and data (0%03o to 0777)",
       (unsigned)modes[0]);
    free(dst);

    char *acl = xasprintf("%s/acl", root);
    mkdir(acl, 0700);
    if (set_default_acl(acl) < 0) {
        skip("under a default ACL, a copied file keeps its mode", strerror(errno));
    } else {
        dst = xasprintf("%s/dst", acl);
        ok(modes_kept(root, src, dst, 022), "under a default ACL, a copied file keeps its mode");
        free(dst);
    }
    free(acl);

    /* 8 MiB: 1 MiB of data, then a hole; 16 MiB preallocated past the end (fallocate(2),
     * FALLOC_FL_KEEP_SIZE) make its blocks cover its size */
    char *sparse = xasprintf("%s/sparse", root), *sparse_dst = xasprintf("%s/sparse-copy", root);
    mkdir(sparse, 0755);
    char *f = xasprintf("%s/f", sparse);
    int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
    char *mib = calloc(1, 1 << 20);
    bool made = fd >= 0 && mib != NULL && write(fd, mib, 1 << 20) == 1 << 20 && ftruncate(fd, 8 << 20) == 0;
    bool preallocated = made && fallocate(fd, FALLOC_FL_KEEP_SIZE, 8 << 20, 16 << 20) == 0;
    int fallocate_errno = errno;
    if (fd >= 0)
        close(fd);
    struct stat st;
    if (!made) {
        ok(false, "made the sparse file: %s", strerror(errno));
    } else if (!preallocated) {
        skip("a hole stays a hole in a file whose blocks cover its size", strerror(fallocate_errno));
    } else if (stat(f, &st) < 0 || (off_t)st.st_blocks * 512 < st.st_size) {
        skip("a hole stays a hole in a file whose blocks cover its size", "the filesystem dropped the preallocation");
    } else {
        char *out = NULL;
        char *argv[] = {"tree", "copy", sparse, sparse_dst, NULL};
        is_int(tree_run(root, argv, &out, NULL), 0, "the preallocated sparse file copies");
        free(out);
        char *g = xasprintf("%s/f", sparse_dst);
        ok(stat(g, &st) == 0 && st.st_size == 8 << 20 && st.st_blocks * 512 <= 2 << 20,
           "a hole stays a hole in a file whose blocks cover its size (%lld bytes allocated of 8 MiB)",
           (long long)st.st_blocks * 512);
        free(g);
    }
    free(mib);
    free(f);

    /* thread counts (the environment's override aside) */
    char *env = getenv("SANDBOX_TREE_THREADS") ? strdup(getenv("SANDBOX_TREE_THREADS")) : NULL;
    unsetenv("SANDBOX_TREE_THREADS");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int plain = tree_thread_count(false), btrfs = tree_thread_count(true);
    ok(plain >= 4 && plain <= 16, "a walk takes 4 to 16 threads (%d)", plain);
    ok(btrfs >= 2 && btrfs <= 8 && (cores < 2 || btrfs == (cores > 8 ? 8 : cores)),
       "a copy into btrfs takes one thread per core, 2 to 8 (%d for %ld cores)", btrfs, cores);
    setenv("SANDBOX_TREE_THREADS", "3", 1);
    is_int(tree_thread_count(true), 3, "SANDBOX_TREE_THREADS decides, into btrfs too");
    if (env != NULL)
        setenv("SANDBOX_TREE_THREADS", env, 1);
    else
        unsetenv("SANDBOX_TREE_THREADS");
    free(env);
    free(sparse);
    free(sparse_dst);
    free(src);
    tree_run_cleanup(root);
}
