#include "mountinfo.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "utils.h"

void unescape_mountinfo_field(char *field)
{
    char *out = field;
    for (char *in = field; *in != '\0'; in++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
            in[3] >= '0' && in[3] <= '7') {
            *out++ = (char)(((in[1] - '0') << 6) | ((in[2] - '0') << 3) | (in[3] - '0'));
            in += 3;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
}

unsigned long mount_flags_from_options(const char *options)
{
    static const struct {
        const char *name;
        unsigned long flag;
    } known[] = {
        {"ro", MS_RDONLY},           {"nosuid", MS_NOSUID},     {"nodev", MS_NODEV},
        {"noexec", MS_NOEXEC},       {"noatime", MS_NOATIME},   {"nodiratime", MS_NODIRATIME},
        {"relatime", MS_RELATIME},   {"strictatime", MS_STRICTATIME},
    };
    unsigned long flags = 0;
    const char *p = options;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strlen(known[i].name) == n && strncmp(p, known[i].name, n) == 0)
                flags |= known[i].flag;
        p += n;
        if (*p == ',')
            p++;
    }
    return flags;
}

/* Next space-separated field, NUL-terminated in place; NULL at the end of the line. */
static char *next_field(char **cursor)
{
    char *p = *cursor;
    if (p == NULL || *p == '\0' || *p == '\n')
        return NULL;
    char *end = p + strcspn(p, " \n");
    if (*end != '\0') {
        *end = '\0';
        *cursor = end + 1;
    } else {
        *cursor = end;
    }
    return p;
}

int parse_mountinfo_line(char *line, struct mountinfo_entry *entry)
{
    /* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue" */
    char *cursor = line;
    char *fields[6];
    for (int i = 0; i < 6; i++) {
        fields[i] = next_field(&cursor);
        if (fields[i] == NULL)
            return -1;
    }
    char *end;
    long id = strtol(fields[0], &end, 10);
    if (*end != '\0' || id < 0)
        return -1;
    long parent = strtol(fields[1], &end, 10);
    if (*end != '\0' || parent < 0)
        return -1;
    /* The optional fields end with a lone "-"; a line without it is malformed. */
    char *f;
    while ((f = next_field(&cursor)) != NULL && strcmp(f, "-") != 0)
        ;
    if (f == NULL)
        return -1;
    entry->id = (int)id;
    entry->parent_id = (int)parent;
    unescape_mountinfo_field(fields[4]);
    entry->mount_point = fields[4];
    entry->flags = mount_flags_from_options(fields[5]);
    return 0;
}

int mountinfo_has_mount_below(const char *text, const char *path)
{
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    cleanup_free char *copy = xstrdup(text);
    char *saveptr = NULL;
    for (char *line = strtok_r(copy, "\n", &saveptr); line != NULL; line = strtok_r(NULL, "\n", &saveptr)) {
        struct mountinfo_entry e;
        if (parse_mountinfo_line(line, &e) < 0)
            return -1;
        if (strncmp(e.mount_point, path, plen) == 0 && e.mount_point[plen] == '/' && e.mount_point[plen + 1] != '\0')
            return 1;
    }
    return 0;
}
