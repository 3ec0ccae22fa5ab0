/* `sandbox-helper tree scan|copy`: the walk, fingerprint and copy of a working tree that the
 * launcher's snapshots are made of (docs/ARCHITECTURE.md §13). */
#ifndef SANDBOX_TREE_H
#define SANDBOX_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

/* Exit statuses of `tree`: 0 done, 1 an I/O error (one stderr line), 2 bad arguments,
 * 3 (copy --ops) an entry an op names is gone or changed type ("changed REL" on stdout). */
enum { TREE_OK = 0, TREE_FAILED = 1, TREE_USAGE = 2, TREE_CHANGED = 3 };

/* The usage of `tree`, for --help. */
extern const char tree_usage_text[];

/* Runs `tree` with argv[0] == "tree"; returns the exit status. */
int tree_main(int argc, char *argv[]);

/* How many threads a walk takes: SANDBOX_TREE_THREADS (1 to 256), else 4 per core within
 * [4, 16], or for a copy into btrfs (into_btrfs) one per core within [2, 8] (see tree.c). */
int tree_thread_count(bool into_btrfs);

/* The hash of one entry as the fingerprint sums it: FNV-1a 64 over the relative path bytes,
 * then type ('d', 'f', 'l', 'o'), size, mtime in ns, ctime in ns, inode and mode & 07777 (8 bytes each,
 * little-endian), finished with murmur3's fmix64 so that the sum does not cancel structure. */
uint64_t tree_entry_hash(const char *rel, size_t len, const struct stat *st);

/* Writes `rel` (len bytes) to `out` with bytes < 0x20, 0x7f and '\' as \ooo octal, so that a
 * name holding a newline stays on one line. */
void tree_put_escaped(FILE *out, const char *rel, size_t len);

#endif
