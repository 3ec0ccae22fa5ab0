/* Parsing /proc/self/mountinfo, needed to remount every submount read-only on kernels
 * without mount_setattr (< 5.12). Pure: the parser works on a line in memory. */
#ifndef SANDBOX_MOUNTINFO_H
#define SANDBOX_MOUNTINFO_H

struct mountinfo_entry {
    int id;
    int parent_id;
    char *mount_point;   /* unescaped, points into the parsed line */
    unsigned long flags; /* MS_* flags from the per-mount options */
};

/* Parses one line in place (it is modified). 0 on success, -1 if malformed. */
int parse_mountinfo_line(char *line, struct mountinfo_entry *entry);

/* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC and the atime flags from "rw,nosuid,...". */
unsigned long mount_flags_from_options(const char *options);

/* Whether the mountinfo text lists a mount point strictly below path (path itself
 * excluded): an overlay of path would not show those mounts. -1 on a malformed line. */
int mountinfo_has_mount_below(const char *text, const char *path);

/* Undoes the kernel's \ooo octal escapes (space, tab, newline, backslash) in place. */
void unescape_mountinfo_field(char *field);

#endif
