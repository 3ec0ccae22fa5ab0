/* Path handling that must be exact: overlayfs option escaping and resolving a path
 * inside the new root without ever following a symlink out of it. */
#ifndef SANDBOX_PATHS_H
#define SANDBOX_PATHS_H

#include <stdbool.h>
#include <stddef.h>

/* path with '\', ',' and ':' backslash-escaped, as overlayfs parses its options. */
char *overlay_escape(const char *path);
/* "lowerdir=L1:...:Ln,upperdir=...,workdir=...,userxattr" with every path escaped, the
 * n_lowers (at least 1) lower layers topmost first; with upper NULL, "lowerdir=L1:...:Ln,
 * userxattr" (work ignored), a read-only overlay, which needs two lower layers at least. */
char *overlay_options(const char *const *lowers, size_t n_lowers, const char *upper, const char *work);

/* The most bytes of options (with the NUL) that mount(2) takes: it copies one page and
 * cuts what is longer without a word (fs/namespace.c, path_mount). */
#define MOUNT_OPTIONS_MAX 4096
/* "lowerdir=LOWER:EMPTY,userxattr": lower layers only, so the overlay is read-only
 * (Documentation/filesystems/overlayfs.rst, "Multiple lower layers"). EMPTY is an empty
 * directory: without an upper layer a single lower layer is refused (EINVAL on 6.18). */
char *ro_overlay_options(const char *lower, const char *empty);

/* Resolves path (absolute, inside the sandbox) as if root were "/": symlinks, "." and
 * ".." are followed but never above root. Components after the first missing one are
 * kept literally and *exists is set to false. Returns root + resolved path (malloc'd),
 * or NULL with errno (ELOOP, ENOTDIR, EACCES...). */
char *resolve_in_root(const char *root, const char *path, bool *exists);

/* The path lexically normalised: no "//", "." or trailing "/" ("/" stays "/"). */
char *normalize_path(const char *path);

#endif
