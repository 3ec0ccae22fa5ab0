/* `sandbox-helper tree scan|copy`: walks a working tree on descriptors, fingerprints it, and
 * copies it into a snapshot (docs/ARCHITECTURE.md §13; the launcher's
 * dev.sandbox.snapshot.NativeTree runs it).
 *
 * Why our own copier rather than coreutils' `cp -a --reflink=auto --sparse=always`: cp cannot
 * leave out the state directory (it lives inside the repository, under .git/sandbox), nor
 * FIFOs, sockets and device nodes (cp -a copies them; a snapshot has no use for them and the
 * launcher must report them), nor tell what it copied: the launcher needs the fingerprint of
 * the very entries the copy stat'ed, to compare with a scan after the copy and retake a copy
 * the user tore by writing meanwhile. A walk of our own gives all three in the one pass that
 * copies, where cp would need a second walk for the fingerprint (a race: the walk and the copy
 * could see different trees). The data path is the one cp takes: FICLONE, else
 * SEEK_DATA/SEEK_HOLE + copy_file_range (cp(1), copy_file_range(2), lseek(2)).
 *
 * The walk never follows a symlink and never resolves a path string inside the tree: each
 * directory is opened with openat(parent fd, name, O_NOFOLLOW|O_DIRECTORY) and checked to be
 * the directory the parent's listing stat'ed (st_dev, st_ino), so a directory replaced by a
 * symlink while the walk runs is left out (the launcher's check after the copy notices the
 * change). Work is an explicit LIFO queue of tasks on a pool of threads, never recursion, so
 * that a hostile tree nested a hundred thousand levels deep cannot blow a stack; a directory's
 * descriptors stay open until its subtree is done (its mode and times are set last), so the
 * depth a copy can follow is bounded by RLIMIT_NOFILE, which is raised to its hard limit:
 * deeper, the copy fails with one "Too many open files" line. */
#include "tree.h"
#include "delta.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
/* Entries of one directory per task: a 20,000-file directory is many threads' work. */
#define BATCH_NAMES 128
#define BATCH_BYTES 8192
/* The manifest's readers refuse longer paths (see the contract in docs/ARCHITECTURE.md). */
#define MANIFEST_PATH_MAX 4096
#define COPY_BUFFER (256 * 1024)
#define SMALL_FILE (64 * 1024)
#define OPS_FILE_MAX (1L << 30)

/* ---- fingerprint ---- */

static uint64_t fnv(uint64_t h, const void *bytes, size_t len)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h = (h ^ (v & 0xff)) * FNV_PRIME;
        v >>= 8;
    }
    return h;
}

static char kind_of(mode_t mode)
{
    return S_ISDIR(mode) ? 'd' : S_ISREG(mode) ? 'f' : S_ISLNK(mode) ? 'l' : 'o';
}

/* The rest of an entry's hash once its path is hashed into h. */
static uint64_t finish_entry(uint64_t h, const struct stat *st)
{
    h = mix(h, (uint64_t)kind_of(st->st_mode));
    h = mix(h, (uint64_t)st->st_size);
    h = mix(h, (uint64_t)((int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec));
    /* ctime too: a rewrite that keeps size, inode and mtime (cp -p, rsync -t, touch -r) still
     * moves it, and no unprivileged call can set it back (stat(2); git's core.trustctime) */
    h = mix(h, (uint64_t)((int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec));
    h = mix(h, (uint64_t)st->st_ino);
    h = mix(h, (uint64_t)(st->st_mode & 07777));
    h ^= h >> 33; /* murmur3's fmix64 */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t tree_entry_hash(const char *rel, size_t len, const struct stat *st)
{
    return finish_entry(fnv(FNV_OFFSET, rel, len), st);
}

void tree_put_escaped(FILE *out, const char *rel, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)rel[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            fprintf(out, "\\%03o", c);
        else
            putc(c, out);
    }
}

/* ---- the walk's state ---- */

struct exclude {
    dev_t dev;
    ino_t ino;
};

/* A directory being walked. Its descriptors stay open until `pending` (its own listing, its
 * batches, its subdirectories not yet done) drops to 0; then the copy's mode and times are set. */
struct node {
    struct node *parent;
    char *rel; /* relative to the walk's root, "" for the root */
    size_t rel_len;
    uint64_t prefix; /* FNV state after hashing rel and "/" (nothing for the root) */
    int src;
    int dst; /* -1 in a scan */
    struct stat st;
    atomic_long pending;
};

/* A task: the entries `names` (NUL-separated, `count` of them) of `node`, or with `dir` set
 * one subdirectory of `node` to open and list (its name in names, its stat in st). */
struct task {
    struct task *next;
    struct node *node;
    bool dir;
    struct stat st;
    size_t count, used;
    char names[];
};

struct worker {
    struct walk *walk;
    uint64_t sum, count; /* the fingerprint's share of this thread */
    uint64_t files, bytes, cloned, fallback;
    char *buffer; /* COPY_BUFFER bytes: getdents64 and read/write */
    char *manifest; /* this thread's manifest records, flushed at 64 KiB */
    size_t manifest_used;
};

struct walk {
    bool copy, reflink;
    bool exact_modes; /* umask 0 and no default ACL in DST: a file is created with its mode */
    bool few_threads; /* DST on btrfs: see tree_thread_count */
    bool splice; /* copy_file_range for data: where it cannot clone in place of copying */
    const struct exclude *excludes;
    size_t nexcludes;
    int manifest_fd; /* -1: none */
    const char *verb; /* "copy" or "scan", for error lines */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct task *top;
    long outstanding; /* tasks queued or running */
    atomic_bool failed;
    char *error; /* the first error line */
    char **skipped;
    size_t nskipped;
    atomic_long done_files, done_bytes; /* for --progress */
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fputs("sandbox-helper: out of memory\n", stderr);
        exit(TREE_FAILED);
    }
    return p;
}

static char *join(const char *rel, size_t rel_len, const char *name, size_t *len)
{
    size_t n = strlen(name);
    size_t total = rel_len == 0 ? n : rel_len + 1 + n;
    char *s = xmalloc(total + 1);
    if (rel_len == 0) {
        memcpy(s, name, n + 1);
    } else {
        memcpy(s, rel, rel_len);
        s[rel_len] = '/';
        memcpy(s + rel_len + 1, name, n + 1);
    }
    *len = total;
    return s;
}

/* Records the first error as "sandbox-helper: can't VERB REL: strerror(err)"; later ones are
 * consequences (the walk stops) and are dropped. */
static void fail(struct walk *w, const char *rel, size_t rel_len, const char *name, int err)
{
    size_t len;
    char *path = name == NULL ? NULL : join(rel, rel_len, name, &len);
    if (path == NULL) {
        len = rel_len;
    }
    const char *p = path != NULL ? path : rel;
    char *line = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&line, &size);
    if (f == NULL)
        exit(TREE_FAILED);
    fprintf(f, "sandbox-helper: can't %s ", w->verb);
    if (len == 0)
        fputs(".", f);
    else
        tree_put_escaped(f, p, len);
    fprintf(f, ": %s\n", strerror(err));
    fclose(f);
    free(path);
    pthread_mutex_lock(&w->mu);
    if (w->error == NULL)
        w->error = line;
    else
        free(line);
    atomic_store(&w->failed, true);
    pthread_mutex_unlock(&w->mu);
}

static void add_skipped(struct walk *w, const struct node *n, const char *name)
{
    size_t len;
    char *rel = join(n->rel, n->rel_len, name, &len);
    pthread_mutex_lock(&w->mu);
    char **more = realloc(w->skipped, (w->nskipped + 1) * sizeof *more);
    if (more == NULL)
        exit(TREE_FAILED);
    w->skipped = more;
    w->skipped[w->nskipped++] = rel;
    pthread_mutex_unlock(&w->mu);
}

static void push(struct walk *w, struct task *t)
{
    pthread_mutex_lock(&w->mu);
    t->next = w->top;
    w->top = t;
    w->outstanding++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* ---- the manifest ---- */

static void manifest_flush(struct worker *k)
{
    struct walk *w = k->walk;
    if (k->manifest_used == 0)
        return;
    pthread_mutex_lock(&w->mu);
    size_t off = 0;
    while (off < k->manifest_used) {
        ssize_t n = write(w->manifest_fd, k->manifest + off, k->manifest_used - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            pthread_mutex_unlock(&w->mu);
            const char *verb = w->verb;
            w->verb = "write the manifest for";
            fail(w, "", 0, NULL, err);
            w->verb = verb;
            pthread_mutex_lock(&w->mu);
            break;
        }
        off += (size_t)n;
    }
    pthread_mutex_unlock(&w->mu);
    k->manifest_used = 0;
}

static void put_le(char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

#define MANIFEST_BUFFER (64 * 1024)
/* An SBMANIF2 record (docs/ARCHITECTURE.md §13): u8 kind, u32 mode, u64 size, i64 mtime s,
 * u32 mtime ns, u64 inode, i64 ctime s, u32 ctime ns, u16 path length, then the path. */
#define RECORD_FIXED (1 + 4 + 8 + 8 + 4 + 8 + 8 + 4 + 2)

static void manifest_add(struct worker *k, const struct node *n, const char *name, const struct stat *st)
{
    size_t name_len = name == NULL ? 0 : strlen(name);
    size_t len = name == NULL ? n->rel_len : n->rel_len == 0 ? name_len : n->rel_len + 1 + name_len;
    if (len > MANIFEST_PATH_MAX) {
        fail(k->walk, n->rel, n->rel_len, name, ENAMETOOLONG);
        return;
    }
    if (k->manifest_used + RECORD_FIXED + len > MANIFEST_BUFFER)
        manifest_flush(k);
    char *p = k->manifest + k->manifest_used;
    p[0] = kind_of(st->st_mode);
    put_le(p + 1, st->st_mode, 4);
    put_le(p + 5, (uint64_t)st->st_size, 8);
    put_le(p + 13, (uint64_t)st->st_mtim.tv_sec, 8);
    put_le(p + 21, (uint64_t)st->st_mtim.tv_nsec, 4);
    put_le(p + 25, st->st_ino, 8);
    put_le(p + 33, (uint64_t)st->st_ctim.tv_sec, 8);
    put_le(p + 41, (uint64_t)st->st_ctim.tv_nsec, 4);
    put_le(p + 45, len, 2);
    p += RECORD_FIXED;
    if (name == NULL) {
        memcpy(p, n->rel, n->rel_len);
    } else if (n->rel_len == 0) {
        memcpy(p, name, name_len);
    } else {
        memcpy(p, n->rel, n->rel_len);
        p[n->rel_len] = '/';
        memcpy(p + n->rel_len + 1, name, name_len);
    }
    k->manifest_used += RECORD_FIXED + len;
}

/* Adds one entry (name NULL: the node itself) to the fingerprint and manifest. */
static void seen(struct worker *k, const struct node *n, const char *name, const struct stat *st)
{
    uint64_t h;
    if (name == NULL)
        h = finish_entry(fnv(FNV_OFFSET, n->rel, n->rel_len), st);
    else
        h = finish_entry(fnv(n->prefix, name, strlen(name)), st);
    k->sum += h;
    k->count++;
    if (k->walk->manifest_fd >= 0)
        manifest_add(k, n, name, st);
}

/* ---- copying one entry ---- */

static void set_times(struct timespec ts[2], const struct stat *st)
{
    ts[0] = st->st_atim;
    ts[1] = st->st_mtim;
}

static bool copy_not_supported(int err)
{
    return err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == EBADF
        || err == ETXTBSY || err == EPERM;
}

/* Copies bytes [from, to) of in to the same offsets of out; 0 or an errno. A file that
 * shrank meanwhile ends the copy early (the check after the copy notices). */
static int copy_range(struct worker *k, int in, int out, off_t from, off_t to, bool *use_cfr)
{
    off_t pos = from;
    while (pos < to) {
        size_t want = (size_t)(to - pos > (1 << 30) ? (1 << 30) : to - pos);
        if (*use_cfr) {
            loff_t i = pos, o = pos;
            ssize_t n = copy_file_range(in, &i, out, &o, want, 0);
            if (n > 0) {
                pos += n;
                continue;
            }
            if (n == 0)
                return 0;
            if (errno == EINTR)
                continue;
            if (!copy_not_supported(errno) || pos != from)
                return errno;
            *use_cfr = false;
        }
        ssize_t n = pread(in, k->buffer, want < COPY_BUFFER ? want : COPY_BUFFER, pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return 0;
        for (ssize_t done = 0; done < n;) {
            ssize_t m = pwrite(out, k->buffer + done, (size_t)(n - done), pos + done);
            if (m < 0 && errno == EINTR)
                continue;
            if (m < 0)
                return errno;
            done += m;
        }
        pos += n;
    }
    return 0;
}

/* The data of in into out, holes left as holes (SEEK_DATA/SEEK_HOLE, lseek(2)). */
static int copy_data(struct worker *k, int in, int out, const struct stat *st)
{
    bool use_cfr = k->walk->splice;
    off_t size = st->st_size;
    if (size == 0)
        return 0;
    /* A small file whose blocks cover its size has no hole to keep: spare two lseeks. Small
     * only: blocks preallocated past the end (fallocate(2) FALLOC_FL_KEEP_SIZE) count too, so
     * a large file may still have holes; a small one loses at most SMALL_FILE bytes of one. */
    if (size <= SMALL_FILE && (off_t)st->st_blocks * 512 >= size)
        return copy_range(k, in, out, 0, size, &use_cfr);
    off_t pos = 0;
    while (pos < size) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break; /* only a hole is left */
        if (data < 0)
            data = pos; /* no SEEK_DATA here: all data */
        if (data >= size)
            break;
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0 || hole > size)
            hole = size;
        int err = copy_range(k, in, out, data, hole, &use_cfr);
        if (err != 0)
            return err;
        pos = hole;
    }
    return ftruncate(out, size) == 0 ? 0 : errno;
}

enum { COPIED, VANISHED };

/* Copies the regular file `name` of n; COPIED, VANISHED (gone or no longer a regular file:
 * the caller's check after the copy notices), or -1 after fail(). */
static int copy_file(struct worker *k, const struct node *n, const char *name)
{
    struct walk *w = k->walk;
    int in = openat(n->src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (in < 0) {
        if (errno == ENOENT || errno == ELOOP || errno == ENXIO)
            return VANISHED;
        fail(w, n->rel, n->rel_len, name, errno);
        return -1;
    }
    struct stat st;
    if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return VANISHED;
    }
    /* Created with its mode where that is exact: one fchmod(2) a file fewer (open(2): a new
     * file's mode is not checked against the access asked for). */
    mode_t mode = w->exact_modes ? st.st_mode & 0777 : 0600;
    int out = openat(n->dst, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (out < 0) {
        fail(w, n->rel, n->rel_len, name, errno);
        close(in);
        return -1;
    }
    int err = 0;
    if (w->reflink && st.st_size > 0 && ioctl(out, FICLONE, in) == 0) {
        k->cloned++;
    } else {
        if (w->reflink && st.st_size > 0)
            k->fallback++;
        err = copy_data(k, in, out, &st);
    }
    struct timespec ts[2];
    set_times(ts, &st);
    if (err == 0 && !w->exact_modes && fchmod(out, st.st_mode & 0777) < 0)
        err = errno;
    if (err == 0 && futimens(out, ts) < 0)
        err = errno;
    if (close(out) < 0 && err == 0)
        err = errno;
    close(in);
    if (err != 0) {
        fail(w, n->rel, n->rel_len, name, err);
        return -1;
    }
    k->files++;
    k->bytes += (uint64_t)st.st_size;
    atomic_fetch_add_explicit(&w->done_files, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->done_bytes, st.st_size, memory_order_relaxed);
    return COPIED;
}

static int copy_link(struct worker *k, const struct node *n, const char *name, const struct stat *st)
{
    struct walk *w = k->walk;
    char target[PATH_MAX + 1];
    ssize_t len = readlinkat(n->src, name, target, sizeof target - 1);
    if (len < 0) {
        if (errno == ENOENT || errno == EINVAL)
            return VANISHED;
        fail(w, n->rel, n->rel_len, name, errno);
        return -1;
    }
    target[len] = '\0';
    struct timespec ts[2];
    set_times(ts, st);
    if (symlinkat(target, n->dst, name) < 0 || utimensat(n->dst, name, ts, AT_SYMLINK_NOFOLLOW) < 0) {
        fail(w, n->rel, n->rel_len, name, errno);
        return -1;
    }
    k->files++;
    atomic_fetch_add_explicit(&w->done_files, 1, memory_order_relaxed);
    return COPIED;
}

/* ---- the walk ---- */

static bool excluded(const struct walk *w, const struct stat *st)
{
    for (size_t i = 0; i < w->nexcludes; i++)
        if (w->excludes[i].dev == st->st_dev && w->excludes[i].ino == st->st_ino)
            return true;
    return false;
}

static struct node *new_node(struct node *parent, char *rel, size_t rel_len, int src, int dst,
                             const struct stat *st)
{
    struct node *n = xmalloc(sizeof *n);
    n->parent = parent;
    n->rel = rel;
    n->rel_len = rel_len;
    n->prefix = rel_len == 0 ? FNV_OFFSET : fnv(fnv(FNV_OFFSET, rel, rel_len), "/", 1);
    n->src = src;
    n->dst = dst;
    n->st = *st;
    atomic_init(&n->pending, 1); /* its listing */
    if (parent != NULL)
        atomic_fetch_add(&parent->pending, 1);
    return n;
}

/* One of n's pending parts is done; when none is left, the copy gets the directory's mode and
 * times (after its children: making them changed its mtime, and a read-only directory could
 * not have received them), and its parent has one part fewer. A loop, not recursion. */
static void node_done(struct walk *w, struct node *n)
{
    while (n != NULL && atomic_fetch_sub(&n->pending, 1) == 1) {
        if (n->dst >= 0 && !atomic_load(&w->failed)) {
            struct timespec ts[2];
            set_times(ts, &n->st);
            if (fchmod(n->dst, n->st.st_mode & 0777) < 0 || futimens(n->dst, ts) < 0)
                fail(w, n->rel, n->rel_len, NULL, errno);
        }
        close(n->src);
        if (n->dst >= 0)
            close(n->dst);
        struct node *parent = n->parent;
        free(n->rel);
        free(n);
        n = parent;
    }
}

static struct task *new_task(struct node *n)
{
    struct task *t = xmalloc(sizeof *t + BATCH_BYTES);
    t->node = n;
    t->dir = false;
    t->count = 0;
    t->used = 0;
    return t;
}

/* Lists n's entries into batches (getdents64(2): one pass, no per-entry syscalls). */
static void list(struct worker *k, struct node *n)
{
    struct walk *w = k->walk;
    struct task *t = NULL;
    for (;;) {
        long got = syscall(SYS_getdents64, n->src, k->buffer, COPY_BUFFER);
        if (got < 0) {
            /* A directory removed since it was opened lists as ENOENT (fs/readdir.c checks
             * IS_DEADDIR): it is gone, as an entry that vanished before its fstatat is. */
            if (errno != ENOENT)
                fail(w, n->rel, n->rel_len, NULL, errno);
            break;
        }
        if (got == 0)
            break;
        for (long off = 0; off < got;) {
            char *rec = k->buffer + off;
            unsigned short reclen;
            memcpy(&reclen, rec + 16, sizeof reclen);
            const char *name = rec + 19;
            off += reclen;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            size_t len = strlen(name) + 1;
            if (t != NULL && (t->count == BATCH_NAMES || t->used + len > BATCH_BYTES)) {
                atomic_fetch_add(&n->pending, 1);
                push(w, t);
                t = NULL;
            }
            if (t == NULL)
                t = new_task(n);
            memcpy(t->names + t->used, name, len);
            t->used += len;
            t->count++;
        }
    }
    if (t != NULL) {
        atomic_fetch_add(&n->pending, 1);
        push(w, t);
    }
}

/* Opens, makes (in a copy) and lists the subdirectory t names. */
static void open_dir(struct worker *k, struct task *t)
{
    struct walk *w = k->walk;
    struct node *parent = t->node;
    const char *name = t->names;
    int src = openat(parent->src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (src < 0) {
        if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR) /* else replaced: left out */
            fail(w, parent->rel, parent->rel_len, name, errno);
        return;
    }
    if (fstat(src, &st) < 0 || st.st_dev != t->st.st_dev || st.st_ino != t->st.st_ino) {
        close(src); /* another directory now: left out, as if gone */
        return;
    }
    int dst = -1;
    if (w->copy) {
        if (mkdirat(parent->dst, name, 0700) < 0
            || (dst = openat(parent->dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
            fail(w, parent->rel, parent->rel_len, name, errno);
            close(src);
            return;
        }
    }
    size_t len;
    char *rel = join(parent->rel, parent->rel_len, name, &len);
    struct node *n = new_node(parent, rel, len, src, dst, &st);
    list(k, n);
    node_done(w, n); /* the listing's part */
}

static void run_batch(struct worker *k, struct task *t)
{
    struct walk *w = k->walk;
    struct node *n = t->node;
    const char *name = t->names;
    for (size_t i = 0; i < t->count && !atomic_load_explicit(&w->failed, memory_order_relaxed);
         i++, name += strlen(name) + 1) {
        struct stat st;
        if (fstatat(n->src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                fail(w, n->rel, n->rel_len, name, errno);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (excluded(w, &st))
                continue;
            seen(k, n, name, &st);
            size_t len = strlen(name) + 1;
            struct task *d = xmalloc(sizeof *d + len);
            d->node = n;
            d->dir = true;
            d->st = st;
            d->count = 1;
            d->used = len;
            memcpy(d->names, name, len);
            atomic_fetch_add(&n->pending, 1);
            push(w, d);
            continue;
        }
        seen(k, n, name, &st);
        if (!w->copy) {
            k->files++;
            k->bytes += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
            continue;
        }
        if (S_ISREG(st.st_mode))
            copy_file(k, n, name);
        else if (S_ISLNK(st.st_mode))
            copy_link(k, n, name, &st);
        else
            add_skipped(w, n, name);
    }
}

static void *work(void *arg)
{
    struct worker *k = arg;
    struct walk *w = k->walk;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->top == NULL && w->outstanding > 0)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->top == NULL) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        struct task *t = w->top;
        w->top = t->next;
        pthread_mutex_unlock(&w->mu);
        if (!atomic_load(&w->failed)) {
            if (t->dir)
                open_dir(k, t);
            else
                run_batch(k, t);
        }
        node_done(w, t->node);
        free(t);
        pthread_mutex_lock(&w->mu);
        if (--w->outstanding == 0)
            pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    if (w->manifest_fd >= 0)
        manifest_flush(k);
    return NULL;
}

/* Threads of a walk: SANDBOX_TREE_THREADS, else 4 per core within [4, 16]. A walk mostly waits
 * on the filesystem (fstatat, copy_file_range, writeback), so more threads than cores pay. On
 * 2 cores (a loaded machine, medians of 3): copying 20,000 files / 340 MiB on a loop xfs took
 * 1.5 s with 2 threads, 1.5 s with 4, 1.4 s with 8, 2.0 s with 16; a scan of 100,000 files
 * 0.48 s with 2, 0.45 s with 8, 0.52 s with 16.
 * A copy into btrfs (walk.few_threads) takes one per core within [2, 8]: every file it makes is
 * an insert into the one b-tree of the subvolume, whose node locks serialise the threads
 * (perf: btrfs_search_slot waking rwsem waiters). The 20,000-file copy on a loop btrfs, 2
 * cores: 8 threads 1.30 s of CPU and 48,700 context switches, 2 threads 1.08 s and 5,000
 * (perf stat); medians of 5 on a loaded machine, 1.19 s of CPU and 1.8 s wall with 8
 * threads, 0.97 s and 1.6 s with 2, 1.12 s and 1.5 s with 4. */
int tree_thread_count(bool into_btrfs)
{
    const char *env = getenv("SANDBOX_TREE_THREADS");
    if (env != NULL && atoi(env) > 0 && atoi(env) <= 256)
        return atoi(env);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (into_btrfs)
        return (int)(cores < 2 ? 2 : cores > 8 ? 8 : cores);
    long n = 4 * (cores > 0 ? cores : 1);
    return (int)(n < 4 ? 4 : n > 16 ? 16 : n);
}

/* Walks the tree under root (its descriptors src and dst, -1 in a scan; its stat st, its
 * relative path rel which the walk frees) with a pool of threads, adding into total. */
static void walk_tree(struct walk *w, struct worker *total, int src, int dst, char *rel, size_t rel_len,
                      const struct stat *st)
{
    int nthreads = tree_thread_count(w->few_threads);
    struct worker *workers = calloc((size_t)nthreads, sizeof *workers);
    pthread_t *threads = calloc((size_t)nthreads, sizeof *threads);
    if (workers == NULL || threads == NULL)
        exit(TREE_FAILED);
    struct node *root = new_node(NULL, rel, rel_len, src, dst, st);
    seen(total, root, NULL, st);
    workers[0].walk = w;
    workers[0].buffer = xmalloc(COPY_BUFFER);
    workers[0].manifest = w->manifest_fd >= 0 ? xmalloc(MANIFEST_BUFFER) : NULL;
    list(&workers[0], root);
    node_done(w, root);
    int started = 0;
    for (int i = 0; i < nthreads; i++) {
        if (i > 0) {
            workers[i].walk = w;
            workers[i].buffer = xmalloc(COPY_BUFFER);
            workers[i].manifest = w->manifest_fd >= 0 ? xmalloc(MANIFEST_BUFFER) : NULL;
        }
        if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) {
            if (i == 0)
                work(&workers[0]);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < nthreads; i++) {
        total->sum += workers[i].sum;
        total->count += workers[i].count;
        total->files += workers[i].files;
        total->bytes += workers[i].bytes;
        total->cloned += workers[i].cloned;
        total->fallback += workers[i].fallback;
        free(workers[i].buffer);
        free(workers[i].manifest);
    }
    free(workers);
    free(threads);
}

/* ---- progress ---- */

struct progress {
    struct walk *walk;
    long total_files, total_bytes;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, shown;
    struct timespec start;
};

static void with_commas(char *out, size_t size, long v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%ld", v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

static double since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* After 1 s, every 250 ms: "\033[K<line>\r" (the cursor stays at the line's start, so each
 * update overwrites the last); erased at the end with "\r\033[K". */
static void *show_progress(void *arg)
{
    struct progress *p = arg;
    pthread_mutex_lock(&p->mu);
    struct timespec at = p->start;
    at.tv_sec += 1;
    for (;;) {
        while (!p->done && pthread_cond_timedwait(&p->cv, &p->mu, &at) != ETIMEDOUT) {
        }
        if (p->done)
            break;
        long files = atomic_load(&p->walk->done_files), bytes = atomic_load(&p->walk->done_bytes);
        double secs = since(&p->start);
        char f[32], tf[32];
        with_commas(f, sizeof f, files);
        long mib = bytes >> 20, rate = secs > 0 ? (long)((double)bytes / secs) >> 20 : 0;
        if (p->total_files > 0) {
            with_commas(tf, sizeof tf, p->total_files);
            fprintf(stderr, "\033[Ksandbox: snapshot: %s of %s files, %ld of %ld MiB, %ld MiB/s\r", f, tf, mib,
                    p->total_bytes >> 20, rate);
        } else {
            fprintf(stderr, "\033[Ksandbox: snapshot: %s files, %ld MiB, %ld MiB/s\r", f, mib, rate);
        }
        fflush(stderr);
        p->shown = true;
        at.tv_nsec += 250000000;
        if (at.tv_nsec >= 1000000000) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000;
        }
    }
    if (p->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- ops (a delta copy) ---- */

struct fixup {
    char *rel;
    size_t depth;
    struct stat st;
};

struct ops_state {
    struct walk *walk;
    struct worker *main;
    int src_root, dst_root;
    struct fixup *fixups;
    size_t nfixups;
};

static void add_fixup(struct ops_state *o, const char *rel, size_t len, const struct stat *st)
{
    struct fixup *more = realloc(o->fixups, (o->nfixups + 1) * sizeof *more);
    if (more == NULL)
        exit(TREE_FAILED);
    o->fixups = more;
    char *copy = xmalloc(len + 1);
    memcpy(copy, rel, len);
    copy[len] = '\0';
    size_t depth = 0;
    for (size_t i = 0; i < len; i++)
        depth += rel[i] == '/';
    o->fixups[o->nfixups++] = (struct fixup){copy, depth, *st};
}

static int by_depth(const void *a, const void *b)
{
    const struct fixup *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth > y->depth ? -1 : 1;
    return strcmp(x->rel, y->rel);
}

static bool changed_errno(int err)
{
    return err == ENOENT || err == ENOTDIR || err == ELOOP;
}

/* Opens the parent directories of rel in SRC and DST (made in DST where missing, each
 * recorded for its mode and times); *name is rel's last component. 0, TREE_CHANGED or
 * TREE_FAILED (after fail()). */
static int open_parents(struct ops_state *o, char *rel, int *src, int *dst, const char **name)
{
    int s = dup(o->src_root), d = dup(o->dst_root);
    if (s < 0 || d < 0) {
        fail(o->walk, rel, strlen(rel), NULL, errno);
        return TREE_FAILED;
    }
    char *start = rel;
    for (char *slash; (slash = strchr(start, '/')) != NULL; start = slash + 1) {
        *slash = '\0';
        int ns = openat(s, start, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (ns < 0 || fstat(ns, &st) < 0) {
            int err = errno;
            *slash = '/';
            close(s);
            close(d);
            if (ns >= 0)
                close(ns);
            if (changed_errno(err))
                return TREE_CHANGED;
            fail(o->walk, rel, (size_t)(slash - rel), NULL, err);
            return TREE_FAILED;
        }
        int nd = openat(d, start, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nd < 0 && errno == ENOENT && mkdirat(d, start, 0700) == 0)
            nd = openat(d, start, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nd < 0) {
            int err = errno;
            *slash = '/';
            close(s);
            close(d);
            close(ns);
            fail(o->walk, rel, (size_t)(slash - rel), NULL, err);
            return TREE_FAILED;
        }
        add_fixup(o, rel, (size_t)(slash - rel), &st);
        *slash = '/';
        close(s);
        close(d);
        s = ns;
        d = nd;
    }
    *src = s;
    *dst = d;
    *name = start;
    return 0;
}

static int apply_op(struct ops_state *o, char op, char *rel)
{
    struct walk *w = o->walk;
    int src, dst;
    const char *name;
    int rc = open_parents(o, rel, &src, &dst, &name);
    if (rc != 0)
        return rc;
    size_t rel_len = strlen(rel);
    size_t parent_len = (size_t)(name - rel) > 0 ? (size_t)(name - rel) - 1 : 0;
    char *parent_rel = xmalloc(parent_len + 1);
    memcpy(parent_rel, rel, parent_len);
    parent_rel[parent_len] = '\0';
    struct stat st;
    struct node parent = {.parent = NULL, .rel = parent_rel, .rel_len = parent_len, .src = src, .dst = dst};
    parent.prefix = parent_len == 0 ? FNV_OFFSET : fnv(fnv(FNV_OFFSET, parent_rel, parent_len), "/", 1);
    rc = 0;
    if (op == 'w') {
        if (mknodat(dst, name, S_IFCHR, makedev(0, 0)) < 0) {
            fail(w, rel, rel_len, NULL, errno);
            rc = TREE_FAILED;
        }
    } else if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (changed_errno(errno)) {
            rc = TREE_CHANGED;
        } else {
            fail(w, rel, rel_len, NULL, errno);
            rc = TREE_FAILED;
        }
    } else if (op == 'C' || S_ISDIR(st.st_mode)) {
        int s = -1, d = -1;
        struct stat now;
        if (!S_ISDIR(st.st_mode)) {
            rc = TREE_CHANGED;
        } else if ((s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0
                   || fstat(s, &now) < 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
            rc = s < 0 && !changed_errno(errno) ? TREE_FAILED : TREE_CHANGED;
            if (rc == TREE_FAILED)
                fail(w, rel, rel_len, NULL, errno);
            if (s >= 0)
                close(s);
        } else if ((mkdirat(dst, name, 0700) < 0 && !(op == 'c' && errno == EEXIST))
                   || (d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0
                   || (op == 'C' && fsetxattr(d, "user.overlay.opaque", "y", 1, 0) < 0)) {
            fail(w, rel, rel_len, NULL, errno);
            rc = TREE_FAILED;
            close(s);
            if (d >= 0)
                close(d);
        } else if (op == 'c') {
            seen(o->main, &parent, name, &now);
            add_fixup(o, rel, rel_len, &now);
            close(s);
            close(d);
        } else {
            char *root_rel = xmalloc(rel_len + 1);
            memcpy(root_rel, rel, rel_len + 1);
            walk_tree(w, o->main, s, d, root_rel, rel_len, &now); /* closes s and d */
            if (atomic_load(&w->failed))
                rc = TREE_FAILED;
        }
    } else {
        seen(o->main, &parent, name, &st);
        int got = 0;
        if (S_ISREG(st.st_mode))
            got = copy_file(o->main, &parent, name);
        else if (S_ISLNK(st.st_mode))
            got = copy_link(o->main, &parent, name, &st);
        else
            add_skipped(w, &parent, name);
        rc = got < 0 ? TREE_FAILED : got == VANISHED ? TREE_CHANGED : 0;
    }
    free(parent_rel);
    close(src);
    close(dst);
    return rc;
}

/* Checks one op's REL: relative, no empty, "." or ".." component, at most 4096 bytes. */
static bool valid_rel(const char *rel, size_t len)
{
    if (len == 0 || len > MANIFEST_PATH_MAX || rel[0] == '/' || rel[len - 1] == '/')
        return false;
    for (const char *c = rel; c < rel + len;) {
        const char *end = memchr(c, '/', (size_t)(rel + len - c));
        size_t n = end == NULL ? (size_t)(rel + len - c) : (size_t)(end - c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += n + 1;
    }
    return true;
}

static char *read_ops(const char *file, size_t *len, char **error)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        *error = strerror(errno);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > OPS_FILE_MAX) {
        close(fd);
        *error = "not a regular file of at most 1 GiB";
        return NULL;
    }
    char *data = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *error = n < 0 ? strerror(errno) : "it shrank while read";
            free(data);
            close(fd);
            return NULL;
        }
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return data;
}

/* ---- the command ---- */

const char tree_usage_text[] =
    "\nUsage: sandbox-helper tree scan ROOT [--exclude ABS]... [--manifest FILE]\n"
    "       sandbox-helper tree copy SRC DST [--reflink] [--exclude ABS]... [--manifest FILE]\n"
    "                                [--ops FILE] [--progress] [--total FILES BYTES]\n"
    "       sandbox-helper tree diff SCAN LOWER... --ops OPS --manifest OUT\n"
    "Scan a working tree (print its fingerprint) or copy it into a snapshot, or with --ops into a\n"
    "delta layer (see README.md). Exit status: 0 done, 1 failed, 2 bad usage, 3 an entry to\n"
    "copy changed meanwhile.\n"
    "diff composes the manifests LOWER... (a snapshot's layers, topmost first; the last a full\n"
    "one) and diffs the scan's manifest SCAN against them: it writes the ops of copy --ops to\n"
    "OPS and the delta layer's manifest to OUT, and prints\n"
    "`files=N bytes=N lower_files=N lower_bytes=N`, then each FIFO, socket or device of the\n"
    "scan (left out) on a line of its own, escaped. Exit status: 0 done, 1 a bad manifest or\n"
    "an I/O error (one line), 2 bad usage, 4 the tree's root was replaced (take a full copy).\n";

static int usage(const char *why)
{
    fprintf(stderr, "sandbox-helper: tree: %s\n%s", why, tree_usage_text + 1);
    return TREE_USAGE;
}

static bool parse_count(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return false;
    *out = v;
    return true;
}

/* Whether copy_file_range may copy the data into the filesystem of fd: always with --reflink;
 * without, not where it would clone instead (btrfs, xfs, bcachefs, ZFS share extents through
 * it, copy_file_range(2) "NOTES"), since a plain copy is asked for exactly to get blocks of its
 * own (as cp --reflink=never avoids it since coreutils 9.0). */
static bool may_splice(int fd, bool reflink)
{
    struct statfs sf;
    if (reflink)
        return true;
    if (fstatfs(fd, &sf) < 0)
        return false;
    unsigned long type = (unsigned long)sf.f_type;
    return type != 0x9123683EUL && type != 0x58465342UL && type != 0xCA451A4EUL && type != 0x2FC12FC1UL;
}

/* Sets the umask to 0 and returns true when that makes the files created under dst get exactly
 * the mode they are created with: unless dst has a default ACL, which then decides in place of
 * the umask (acl(5), "OBJECT CREATION AND DEFAULT ACLs"; the directories the copy makes
 * inherit dst's, so dst's is the one to check). The helper's own other creations keep their
 * modes under umask 0: directories 0700 until their mode is set, a whiteout 0 (the manifest is
 * made before). */
static bool exact_modes(int dst)
{
    if (fgetxattr(dst, "system.posix_acl_default", NULL, 0) >= 0
        || (errno != ENODATA && errno != EOPNOTSUPP))
        return false;
    umask(0);
    return true;
}

static void raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

int tree_main(int argc, char *argv[])
{
    /* A copy outlives nothing: killed with its launcher (kill -9 included), it stops writing a
     * .tmp-* snapshot that gc is about to delete (prctl(2), PR_SET_PDEATHSIG; the check after
     * it closes the race with a parent that died before the call). */
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        return TREE_FAILED;
    if (argc == 2 && strcmp(argv[1], "--help") == 0)
        return fputs(tree_usage_text + 1, stdout) >= 0 && fflush(stdout) == 0 ? TREE_OK : TREE_FAILED;
    if (argc >= 2 && strcmp(argv[1], "diff") == 0)
        return delta_main(argc, argv);
    if (argc < 3)
        return usage("scan or copy, and a root");
    bool copy = strcmp(argv[1], "copy") == 0;
    if (!copy && strcmp(argv[1], "scan") != 0)
        return usage("the mode is scan or copy");
    int positional = copy ? 2 : 1;
    if (argc < 2 + positional)
        return usage("copy takes SRC and DST");
    const char *src_path = argv[2], *dst_path = copy ? argv[3] : NULL;
    const char *manifest = NULL, *ops = NULL;
    bool reflink = false, progress = false;
    long total_files = 0, total_bytes = 0;
    struct exclude *excludes = calloc((size_t)argc, sizeof *excludes);
    size_t nexcludes = 0;
    if (excludes == NULL)
        return TREE_FAILED;
    for (int i = 2 + positional; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--exclude") == 0 && i + 1 < argc && argv[i + 1][0] == '/') {
            struct stat st;
            if (stat(argv[++i], &st) == 0) /* a missing one excludes nothing */
                excludes[nexcludes++] = (struct exclude){st.st_dev, st.st_ino};
        } else if (strcmp(a, "--manifest") == 0 && i + 1 < argc) {
            manifest = argv[++i];
        } else if (copy && strcmp(a, "--ops") == 0 && i + 1 < argc) {
            ops = argv[++i];
        } else if (copy && strcmp(a, "--reflink") == 0) {
            reflink = true;
        } else if (copy && strcmp(a, "--progress") == 0) {
            progress = true;
        } else if (copy && strcmp(a, "--total") == 0 && i + 2 < argc && parse_count(argv[i + 1], &total_files)
                   && parse_count(argv[i + 2], &total_bytes)) {
            i += 2;
        } else {
            free(excludes);
            return usage("bad argument");
        }
    }
    if (ops != NULL && manifest != NULL) {
        free(excludes);
        return usage("--manifest is for a full copy");
    }
    raise_nofile();
    struct walk w = {.copy = copy, .reflink = reflink, .excludes = excludes, .nexcludes = nexcludes,
                     .manifest_fd = -1, .verb = copy ? "copy" : "scan"};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    struct worker total = {.walk = &w, .buffer = xmalloc(COPY_BUFFER)};
    int src = open(src_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (src < 0 || fstat(src, &st) < 0) {
        fprintf(stderr, "sandbox-helper: can't %s %s: %s\n", w.verb, src_path, strerror(errno));
        return TREE_FAILED;
    }
    if (manifest != NULL) {
        w.manifest_fd = open(manifest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (w.manifest_fd < 0 || write(w.manifest_fd, "SBMANIF2", 8) != 8) {
            fprintf(stderr, "sandbox-helper: can't write the manifest %s: %s\n", manifest, strerror(errno));
            return TREE_FAILED;
        }
        total.manifest = xmalloc(MANIFEST_BUFFER);
    }
    int dst = -1;
    if (copy) {
        if (mkdir(dst_path, 0700) < 0 || (dst = open(dst_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
            fprintf(stderr, "sandbox-helper: can't make %s: %s\n", dst_path, strerror(errno));
            return TREE_FAILED;
        }
    }
    w.splice = dst >= 0 && may_splice(dst, reflink);
    w.exact_modes = dst >= 0 && exact_modes(dst);
    struct statfs dst_fs;
    w.few_threads = dst >= 0 && fstatfs(dst, &dst_fs) == 0 && (unsigned long)dst_fs.f_type == 0x9123683EUL;
    struct progress p = {.walk = &w, .total_files = total_files, .total_bytes = total_bytes};
    pthread_t shower;
    bool showing = false;
    if (progress) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p.cv, &ca);
        pthread_mutex_init(&p.mu, NULL);
        clock_gettime(CLOCK_MONOTONIC, &p.start);
        showing = pthread_create(&shower, NULL, show_progress, &p) == 0;
    }
    int rc = TREE_OK;
    const char *changed = NULL;
    size_t changed_len = 0;
    if (ops == NULL) {
        char *root_rel = xmalloc(1);
        root_rel[0] = '\0';
        walk_tree(&w, &total, src, dst, root_rel, 0, &st); /* closes src and dst */
        if (w.manifest_fd >= 0)
            manifest_flush(&total);
    } else {
        size_t len = 0;
        char *why = NULL;
        char *data = read_ops(ops, &len, &why);
        if (data == NULL) {
            fprintf(stderr, "sandbox-helper: can't read the ops file %s: %s\n", ops, why);
            return TREE_FAILED;
        }
        for (size_t off = 0; off < len;) {
            char *rec = data + off;
            char *end = memchr(rec, '\0', len - off);
            if (end == NULL || end == rec || (rec[0] != 'c' && rec[0] != 'C' && rec[0] != 'w')
                || !valid_rel(rec + 1, (size_t)(end - rec - 1))) {
                fprintf(stderr, "sandbox-helper: tree: bad record at byte %zu of the ops file %s\n", off, ops);
                return TREE_USAGE;
            }
            off = (size_t)(end - data) + 1;
        }
        struct ops_state o = {.walk = &w, .main = &total, .src_root = src, .dst_root = dst};
        for (size_t off = 0; off < len && rc == TREE_OK;) {
            char *rec = data + off;
            size_t n = strlen(rec);
            rc = apply_op(&o, rec[0], rec + 1);
            if (rc == TREE_CHANGED) {
                changed = rec + 1;
                changed_len = n - 1;
            }
            off += n + 1;
        }
        if (rc == TREE_OK) {
            qsort(o.fixups, o.nfixups, sizeof *o.fixups, by_depth);
            for (size_t i = 0; i < o.nfixups && rc == TREE_OK; i++) {
                if (i > 0 && strcmp(o.fixups[i].rel, o.fixups[i - 1].rel) == 0)
                    continue;
                struct timespec ts[2];
                set_times(ts, &o.fixups[i].st);
                if (fchmodat(dst, o.fixups[i].rel, o.fixups[i].st.st_mode & 0777, 0) < 0
                    || utimensat(dst, o.fixups[i].rel, ts, AT_SYMLINK_NOFOLLOW) < 0) {
                    fail(&w, o.fixups[i].rel, strlen(o.fixups[i].rel), NULL, errno);
                    rc = TREE_FAILED;
                }
            }
            struct timespec ts[2];
            set_times(ts, &st);
            if (rc == TREE_OK && (fchmod(dst, st.st_mode & 0777) < 0 || futimens(dst, ts) < 0)) {
                fail(&w, "", 0, NULL, errno);
                rc = TREE_FAILED;
            }
        }
        for (size_t i = 0; i < o.nfixups; i++)
            free(o.fixups[i].rel);
        free(o.fixups);
        close(src);
        close(dst);
        if (rc == TREE_CHANGED) {
            fputs("changed ", stdout);
            tree_put_escaped(stdout, changed, changed_len);
            putchar('\n');
        }
        free(data);
    }
    if (showing) {
        pthread_mutex_lock(&p.mu);
        p.done = true;
        pthread_cond_signal(&p.cv);
        pthread_mutex_unlock(&p.mu);
        pthread_join(shower, NULL);
    }
    if (w.manifest_fd >= 0 && close(w.manifest_fd) < 0 && !atomic_load(&w.failed)) {
        w.verb = "write the manifest for";
        fail(&w, "", 0, NULL, errno);
    }
    if (atomic_load(&w.failed)) {
        fputs(w.error, stderr);
        return TREE_FAILED;
    }
    if (rc != TREE_OK)
        return rc;
    char fp[48];
    snprintf(fp, sizeof fp, "n%" PRIu64 "-%016" PRIx64, total.count, total.sum);
    if (copy) {
        for (size_t i = 0; i < w.nskipped; i++) {
            fputs("skipped ", stdout);
            tree_put_escaped(stdout, w.skipped[i], strlen(w.skipped[i]));
            putchar('\n');
        }
        printf("copied %" PRIu64 " %" PRIu64 " cloned %" PRIu64 " fallback %" PRIu64 " fingerprint %s\n",
               total.files, total.bytes, total.cloned, total.fallback, fp);
    } else {
        printf("fingerprint %s files %" PRIu64 " bytes %" PRIu64 "\n", fp, total.files, total.bytes);
    }
    return fflush(stdout) == 0 ? TREE_OK : TREE_FAILED;
}
