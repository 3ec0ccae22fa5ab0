/* `sandbox-helper tree diff SCAN LOWER... --ops OPS --manifest OUT`: composes the manifests of
 * a snapshot's layers (LOWER..., topmost first) into the tree its merged view shows, and diffs
 * that against a fresh scan's manifest (SCAN), giving the ops of `tree copy --ops` that make
 * the next delta layer and that layer's manifest (docs/ARCHITECTURE.md §13, "layers").
 *
 * The rules are the launcher's dev.sandbox.snapshot.Manifest.compose and Manifest.diff, which
 * stay as the reference its tests compare this with, byte for byte: see their Javadoc. Here
 * because the launcher's JVM, cold, spends ~240 ms on a 100,000-entry tree doing it entry by
 * entry, where one hash table in C costs ~20 ms.
 *
 * Only reads manifest files the launcher wrote, at the paths it gives; each is read whole
 * (at most MANIFEST_FILE_MAX bytes) and checked record by record as Manifest.read checks it:
 * a bad one fails with one line naming it, and nothing follows a link inside a tree.
 *
 * Reads both formats: SBMANIF2, whose records hold ctime, and SBMANIF1, which snapshots taken
 * by the previous version hold on disk; an SBMANIF1 entry's ctime is unknown, and ctime is
 * compared only where both sides know it. Writes SBMANIF2. */
#include "delta.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tree.h"
#include "utils.h"

#define MANIFEST_FILE_MAX (1L << 30) /* bytes, as Manifest.FILE_MAX */
#define PATH_BYTES_MAX 4096          /* a path's bytes, as Manifest.PATH_MAX */
#define MAGIC_V1 "SBMANIF1"
#define MAGIC_V2 "SBMANIF2"
#define MAGIC_LEN 8
/* An SBMANIF1 record: u8 kind, u32 mode, u64 size, i64 mtime s, u32 mtime ns, u64 inode, u16
 * path length, the path. SBMANIF2 puts i64 ctime s, u32 ctime ns before the path length. */
#define FIXED_V1 (1 + 4 + 8 + 8 + 4 + 8 + 2)
#define FIXED_V2 (FIXED_V1 + 8 + 4)
/* ctime nanoseconds that say "unknown" (an entry read from an SBMANIF1 manifest); a real one is
 * below 10^9. */
#define CTIME_UNKNOWN UINT32_MAX

/* One entry, pointing into its manifest's bytes (kept until exit). */
struct ent {
    const char *path;
    uint64_t hash;
    uint64_t size, ino, scan_ino;
    int64_t sec, csec;
    uint32_t mode, nsec, cnsec; /* cnsec CTIME_UNKNOWN: ctime unknown */
    uint16_t len;
    char kind;
    char scan_kind; /* the lower's entries: the kind the scan has at this path, 0 none */
    bool live;      /* in the composed tree (a removed entry keeps its slot) */
};

/* Entries by path: open addressing over indices into `ents`, 0 an empty slot. */
struct table {
    struct ent *ents;
    size_t n, cap;
    uint32_t *slots;
    size_t mask; /* slots - 1, a power of two minus one */
};

/* A manifest file's bytes. */
struct file {
    const char *name;
    unsigned char *data;
    size_t len;
    size_t fixed; /* a record's bytes before its path: FIXED_V1 or FIXED_V2 */
};

static uint64_t hash_path(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64, then murmur3's fmix64 */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static void table_init(struct table *t, size_t expect)
{
    size_t slots = 16;
    while (slots < expect * 2)
        slots *= 2;
    t->ents = xmalloc(sizeof *t->ents * (expect > 0 ? expect : 1));
    t->cap = expect > 0 ? expect : 1;
    t->n = 0;
    t->slots = xcalloc(slots, sizeof *t->slots);
    t->mask = slots - 1;
}

/* The entry at path, live or not, or NULL. */
static struct ent *table_get(const struct table *t, const char *path, size_t len, uint64_t h)
{
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uint32_t s = t->slots[i];
        if (s == 0)
            return NULL;
        struct ent *e = &t->ents[s - 1];
        if (e->hash == h && e->len == len && memcmp(e->path, path, len) == 0)
            return e;
    }
}

static struct ent *table_live(const struct table *t, const char *path, size_t len)
{
    struct ent *e = table_get(t, path, len, hash_path(path, len));
    return e != NULL && e->live ? e : NULL;
}

static void table_grow(struct table *t)
{
    size_t slots = (t->mask + 1) * 2;
    free(t->slots);
    t->slots = xcalloc(slots, sizeof *t->slots);
    t->mask = slots - 1;
    for (size_t k = 0; k < t->n; k++) {
        size_t i = t->ents[k].hash & t->mask;
        while (t->slots[i] != 0)
            i = (i + 1) & t->mask;
        t->slots[i] = (uint32_t)(k + 1);
    }
}

/* Puts e (a later one for the same path wins), live; returns the table's entry. */
static struct ent *table_put(struct table *t, const struct ent *e)
{
    struct ent *old = table_get(t, e->path, e->len, e->hash);
    if (old != NULL) {
        *old = *e;
        old->live = true;
        return old;
    }
    if (t->n == t->cap) {
        t->cap *= 2;
        t->ents = xrealloc(t->ents, sizeof *t->ents * t->cap);
    }
    if ((t->n + 1) * 2 > t->mask + 1)
        table_grow(t);
    struct ent *n = &t->ents[t->n];
    *n = *e;
    n->live = true;
    size_t i = e->hash & t->mask;
    while (t->slots[i] != 0)
        i = (i + 1) & t->mask;
    t->slots[i] = (uint32_t)(++t->n);
    return n;
}

static void table_free(struct table *t)
{
    free(t->ents);
    free(t->slots);
}

/* ---- reading ---- */

static int bad(const struct file *f, const char *why)
{
    fprintf(stderr, "sandbox-helper: tree: manifest '%s': %s\n", f->name, why);
    return TREE_FAILED;
}

/* Reads f->name whole into f; 0, or TREE_FAILED after one line. */
static int read_manifest(struct file *f)
{
    int fd = open(f->name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return bad(f, strerror(err));
    }
    if (!S_ISREG(st.st_mode) || st.st_size > MANIFEST_FILE_MAX) {
        close(fd);
        return bad(f, "not a regular file of at most 1 GiB");
    }
    f->data = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, f->data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = errno;
            close(fd);
            return bad(f, n < 0 ? strerror(err) : "it shrank while read");
        }
        got += (size_t)n;
    }
    close(fd);
    f->len = got;
    if (f->len >= MAGIC_LEN && memcmp(f->data, MAGIC_V2, MAGIC_LEN) == 0)
        f->fixed = FIXED_V2;
    else if (f->len >= MAGIC_LEN && memcmp(f->data, MAGIC_V1, MAGIC_LEN) == 0)
        f->fixed = FIXED_V1;
    else
        return bad(f, "not a manifest (no SBMANIF1 or SBMANIF2 magic)");
    return 0;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

static uint32_t le32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

/* Whether path is "" (the root) or relative and plain: no NUL, no empty, "." or ".." part. */
static const char *check_path(const char *p, size_t len)
{
    if (len == 0)
        return NULL;
    if (memchr(p, '\0', len) != NULL)
        return "a path with a NUL byte";
    for (const char *c = p; c <= p + len;) {
        const char *end = memchr(c, '/', (size_t)(p + len - c));
        size_t n = end == NULL ? (size_t)(p + len - c) : (size_t)(end - c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return "a path that is not relative and plain";
        c += n + 1;
    }
    return NULL;
}

/* Decodes the record at *off into e and moves *off past it; 0, or TREE_FAILED after one line. */
static int next_entry(const struct file *f, size_t *off, struct ent *e)
{
    const unsigned char *r = f->data + *off;
    size_t left = f->len - *off;
    size_t fixed = f->fixed;
    if (left < fixed)
        return bad(f, "ends inside an entry");
    char kind = (char)r[0];
    if (kind != 'd' && kind != 'f' && kind != 'l' && kind != 'o' && kind != 'w') {
        char why[64];
        snprintf(why, sizeof why, "holds an entry of unknown kind %d", r[0]);
        return bad(f, why);
    }
    uint16_t len = (uint16_t)(r[fixed - 2] | (r[fixed - 1] << 8));
    if (len > PATH_BYTES_MAX) {
        char why[64];
        snprintf(why, sizeof why, "holds a path of %u bytes", len);
        return bad(f, why);
    }
    if (left - fixed < len)
        return bad(f, "ends inside an entry");
    const char *path = (const char *)r + fixed;
    const char *why = check_path(path, len);
    if (why != NULL)
        return bad(f, why);
    *e = (struct ent){.path = path, .len = len, .kind = kind, .mode = le32(r + 1),
                      .size = le64(r + 5), .sec = (int64_t)le64(r + 13), .nsec = le32(r + 21),
                      .ino = le64(r + 25), .hash = hash_path(path, len), .cnsec = CTIME_UNKNOWN};
    if (fixed == FIXED_V2) {
        e->csec = (int64_t)le64(r + 33);
        e->cnsec = le32(r + 41);
        if (e->cnsec >= 1000000000u && e->cnsec != CTIME_UNKNOWN)
            return bad(f, "holds a ctime of more than 999999999 ns");
    }
    *off += fixed + len;
    return 0;
}

/* ---- compose ---- */

/* Where path's parent ends: the length of the parent's path ("" for a top-level entry). */
static size_t parent_len(const char *path, size_t len)
{
    const char *slash = memrchr(path, '/', len);
    return slash == NULL ? 0 : (size_t)(slash - path);
}

/* Whether path (not the root) or one of its ancestors is in set. */
static bool under_any(const struct table *set, const char *path, size_t len)
{
    if (set->n == 0)
        return false;
    for (; len > 0; len = parent_len(path, len)) {
        if (table_get(set, path, len, hash_path(path, len)) != NULL)
            return true;
    }
    return false;
}

/* Reads f and puts its entries into t, made for about one per bytes_per_entry bytes of it;
 * 0, or TREE_FAILED after one line. */
static int load(struct file *f, struct table *t, size_t bytes_per_entry)
{
    int rc = read_manifest(f);
    if (rc != 0)
        return rc;
    table_init(t, f->len / bytes_per_entry + 16);
    for (size_t off = MAGIC_LEN; off < f->len;) {
        struct ent e;
        if ((rc = next_entry(f, &off, &e)) != 0)
            return rc;
        table_put(t, &e);
    }
    return 0;
}

/* Adds the entries of one delta layer over merged, as Manifest.compose. */
static int compose_layer(struct table *merged, struct file *f)
{
    struct table layer, hidden;
    int rc = load(f, &layer, 64);
    if (rc != 0)
        return rc;
    table_init(&hidden, 16);
    for (size_t i = 0; i < layer.n; i++) {
        const struct ent *e = &layer.ents[i];
        const struct ent *below = table_get(merged, e->path, e->len, e->hash);
        if (below != NULL && !below->live)
            below = NULL;
        if (e->kind == 'w' || (below != NULL && below->kind == 'd' && (e->kind != 'd' || e->ino != below->ino)))
            table_put(&hidden, e);
    }
    if (hidden.n > 0) {
        for (size_t i = 0; i < merged->n; i++) {
            struct ent *m = &merged->ents[i];
            if (m->live && m->len > 0
                && (under_any(&hidden, m->path, parent_len(m->path, m->len))
                    || table_get(&hidden, m->path, m->len, m->hash) != NULL))
                m->live = false;
        }
    }
    for (size_t i = 0; i < layer.n; i++) {
        if (layer.ents[i].kind != 'w')
            table_put(merged, &layer.ents[i]);
    }
    table_free(&layer);
    table_free(&hidden);
    return 0;
}

/* ---- diff ---- */

static int by_path(const void *a, const void *b)
{
    const struct ent *x = *(const struct ent *const *)a, *y = *(const struct ent *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->path, y->path, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* The delta's outputs and counts. */
struct out {
    FILE *ops, *manifest;
    const char *ops_name, *manifest_name;
    uint64_t files, bytes;
};

static void emit_op(struct out *o, char op, const struct ent *e)
{
    putc(op, o->ops);
    fwrite(e->path, 1, e->len, o->ops);
    putc('\0', o->ops);
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* Writes e as an SBMANIF2 record (a tombstone: zeros but for the kind, an unknown ctime and
 * the path), whichever format it was read from. */
static void emit_entry(struct out *o, const struct ent *e)
{
    unsigned char r[FIXED_V2] = {(unsigned char)e->kind};
    bool tombstone = e->kind == 'w';
    if (!tombstone) {
        put_le(r + 1, e->mode, 4);
        put_le(r + 5, e->size, 8);
        put_le(r + 13, (uint64_t)e->sec, 8);
        put_le(r + 21, e->nsec, 4);
        put_le(r + 25, e->ino, 8);
        put_le(r + 33, (uint64_t)e->csec, 8);
    }
    put_le(r + 41, tombstone ? CTIME_UNKNOWN : e->cnsec, 4);
    put_le(r + 45, e->len, 2);
    fwrite(r, 1, FIXED_V2, o->manifest);
    fwrite(e->path, 1, e->len, o->manifest);
    if (tombstone)
        return;
    if (e->kind != 'd') {
        o->files++;
        o->bytes += e->kind == 'f' ? e->size : 0;
    }
}

static FILE *create(const char *name)
{
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (f == NULL) {
        fprintf(stderr, "sandbox-helper: tree: can't write %s: %s\n", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 16);
    return f;
}

static int finish(FILE *f, const char *name)
{
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed) {
        fprintf(stderr, "sandbox-helper: tree: can't write %s: %s\n", name, strerror(errno != 0 ? errno : EIO));
        return TREE_FAILED;
    }
    return 0;
}

static int root_replaced(void)
{
    fputs("sandbox-helper: tree: the tree's root was replaced: no delta can say that\n", stderr);
    return DELTA_ROOT_REPLACED;
}

/* Whether a and b have the same ctime, or one of them does not know it (Manifest.Entry.sameContent). */
static bool same_ctime(const struct ent *a, const struct ent *b)
{
    return a->cnsec == CTIME_UNKNOWN || b->cnsec == CTIME_UNKNOWN || (a->csec == b->csec && a->cnsec == b->cnsec);
}

/* The diff of the scan against the composed lower, as Manifest.diff; writes o's files. */
static int diff(struct table *lower, struct file *scan, struct out *o, uint64_t *lower_files, uint64_t *lower_bytes)
{
    const struct ent *old_root = table_live(lower, "", 0);
    if (old_root == NULL || old_root->kind != 'd')
        return root_replaced();
    int rc = read_manifest(scan);
    if (rc != 0)
        return rc;
    struct ent **changed = NULL, **others = NULL;
    size_t nchanged = 0, nothers = 0, cchanged = 0, cothers = 0;
    struct table subtrees;
    table_init(&subtrees, 16);
    uint64_t matched = 0;
    bool root = false;
    struct table scanned; /* the scan's entries, in its order (never looked up: no duplicates) */
    scanned.n = 0;
    scanned.cap = scan->len / 60 + 1;
    scanned.ents = xmalloc(sizeof *scanned.ents * scanned.cap);
    for (size_t off = MAGIC_LEN; off < scan->len;) {
        struct ent e;
        if ((rc = next_entry(scan, &off, &e)) != 0)
            return rc;
        if (scanned.n == scanned.cap) {
            scanned.cap *= 2;
            scanned.ents = xrealloc(scanned.ents, sizeof *scanned.ents * scanned.cap);
        }
        scanned.ents[scanned.n++] = e;
    }
    for (size_t i = 0; i < scanned.n; i++) {
        struct ent *e = &scanned.ents[i];
        if (e->kind == 'o') {
            if (nothers == cothers)
                others = xrealloc(others, sizeof *others * (cothers = cothers * 2 + 16));
            others[nothers++] = e;
            continue;
        }
        if (e->kind == 'w')
            return bad(scan, "holds a tombstone: not a scan");
        struct ent *old = table_get(lower, e->path, e->len, e->hash);
        if (old != NULL && (!old->live || old->kind == 'o'))
            old = NULL;
        if (old != NULL) {
            matched++;
            old->scan_kind = e->kind;
            old->scan_ino = e->ino;
        }
        if (e->len == 0) {
            if (e->kind != 'd' || e->ino != old_root->ino)
                return root_replaced();
            root = true;
            continue;
        }
        bool is_changed = false;
        if (e->kind == 'd' && (old == NULL || old->kind != 'd' || old->ino != e->ino)) {
            table_put(&subtrees, e);
            is_changed = true;
        } else if (old == NULL || old->kind != e->kind || old->mode != e->mode || old->sec != e->sec
                   || old->nsec != e->nsec || !same_ctime(old, e)
                   || (e->kind != 'd' && (old->size != e->size || old->ino != e->ino))) {
            is_changed = true;
        }
        if (is_changed) {
            if (nchanged == cchanged)
                changed = xrealloc(changed, sizeof *changed * (cchanged = cchanged * 2 + 16));
            changed[nchanged++] = e;
        }
    }
    if (!root)
        return root_replaced();
    if ((o->ops = create(o->ops_name)) == NULL || (o->manifest = create(o->manifest_name)) == NULL)
        return TREE_FAILED;
    fwrite(MAGIC_V2, 1, MAGIC_LEN, o->manifest);
    if (nchanged > 0)
        qsort(changed, nchanged, sizeof *changed, by_path); /* a directory before what it holds */
    for (size_t i = 0; i < nchanged; i++) {
        const struct ent *e = changed[i];
        if (under_any(&subtrees, e->path, parent_len(e->path, e->len)))
            continue; /* in the layer through the pass below */
        emit_op(o, table_get(&subtrees, e->path, e->len, e->hash) != NULL ? 'C' : 'c', e);
        emit_entry(o, e);
    }
    if (subtrees.n > 0) { /* all of a copied subtree, unchanged entries too: they hide the lower's */
        for (size_t i = 0; i < scanned.n; i++) {
            const struct ent *e = &scanned.ents[i];
            if (e->kind != 'o' && e->len > 0 && under_any(&subtrees, e->path, parent_len(e->path, e->len)))
                emit_entry(o, e);
        }
    }
    uint64_t lower_live = 0;
    *lower_files = *lower_bytes = 0;
    for (size_t i = 0; i < lower->n; i++) {
        const struct ent *e = &lower->ents[i];
        if (!e->live)
            continue;
        lower_live += e->kind != 'o';
        *lower_files += e->kind != 'd' && e->kind != 'w';
        *lower_bytes += e->kind == 'f' ? e->size : 0;
    }
    if (matched < lower_live) { /* something was deleted */
        struct ent **gone = NULL;
        size_t ngone = 0, cgone = 0;
        for (size_t i = 0; i < lower->n; i++) {
            struct ent *e = &lower->ents[i];
            if (!e->live || e->kind == 'o' || e->len == 0 || e->scan_kind != 0)
                continue;
            size_t plen = parent_len(e->path, e->len);
            const struct ent *parent = table_live(lower, e->path, plen);
            /* in a directory that is still the same one, not replaced itself nor under a replaced one */
            if (parent != NULL && parent->kind == 'd' && parent->scan_kind == 'd' && parent->scan_ino == parent->ino
                && !under_any(&subtrees, e->path, plen)) {
                if (ngone == cgone)
                    gone = xrealloc(gone, sizeof *gone * (cgone = cgone * 2 + 16));
                gone[ngone++] = e;
            }
        }
        if (ngone > 0)
            qsort(gone, ngone, sizeof *gone, by_path);
        for (size_t i = 0; i < ngone; i++) {
            struct ent w = *gone[i];
            w.kind = 'w';
            emit_op(o, 'w', &w);
            emit_entry(o, &w);
        }
        free(gone);
    }
    rc = finish(o->ops, o->ops_name);
    if (finish(o->manifest, o->manifest_name) != 0)
        rc = TREE_FAILED;
    if (rc != 0)
        return rc;
    printf("files=%" PRIu64 " bytes=%" PRIu64 " lower_files=%" PRIu64 " lower_bytes=%" PRIu64 "\n", o->files,
           o->bytes, *lower_files, *lower_bytes);
    for (size_t i = 0; i < nothers; i++) {
        tree_put_escaped(stdout, others[i]->path, others[i]->len);
        putchar('\n');
    }
    free(changed);
    free(others);
    free(scanned.ents);
    table_free(&subtrees);
    return fflush(stdout) == 0 ? 0 : TREE_FAILED;
}

int delta_main(int argc, char *argv[])
{
    const char *ops = NULL, *manifest = NULL;
    const char **files = xcalloc((size_t)argc, sizeof *files);
    size_t nfiles = 0;
    bool bad_option = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
            ops = argv[++i];
        else if (strcmp(argv[i], "--manifest") == 0 && i + 1 < argc)
            manifest = argv[++i];
        else if (argv[i][0] == '-')
            bad_option = true;
        else
            files[nfiles++] = argv[i];
    }
    if (bad_option || ops == NULL || manifest == NULL || nfiles < 2) {
        fprintf(stderr, "sandbox-helper: tree: diff takes SCAN LOWER... --ops OPS --manifest OUT\n%s",
                tree_usage_text + 1);
        free(files);
        return TREE_USAGE;
    }
    /* the base, at the bottom: a full manifest, tombstones (if any) dropped */
    struct file *f = xcalloc(nfiles, sizeof *f);
    for (size_t i = 0; i < nfiles; i++)
        f[i].name = files[i];
    struct file *base = &f[nfiles - 1];
    struct table lower;
    int rc = load(base, &lower, 48);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < lower.n; i++) {
        if (lower.ents[i].kind == 'w')
            lower.ents[i].live = false;
    }
    for (size_t i = nfiles - 1; i-- > 1;) {
        if ((rc = compose_layer(&lower, &f[i])) != 0)
            return rc;
    }
    struct out o = {.ops_name = ops, .manifest_name = manifest};
    uint64_t lower_files, lower_bytes;
    rc = diff(&lower, &f[0], &o, &lower_files, &lower_bytes);
    table_free(&lower);
    for (size_t i = 0; i < nfiles; i++)
        free(f[i].data);
    free(f);
    free(files);
    return rc;
}
