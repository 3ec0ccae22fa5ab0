#include "sockets.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "utils.h"

static void add_path(struct socket_paths *out, const char *path, size_t len)
{
    out->paths = xrealloc(out->paths, (out->n + 1) * sizeof *out->paths);
    char *copy = xmalloc(len + 1);
    memcpy(copy, path, len);
    copy[len] = '\0';
    out->paths[out->n++] = copy;
}

/* A line is "Num: RefCount Protocol Flags Type St Inode[ Path]" (net/unix/af_unix.c,
 * unix_seq_show); the path is the rest of the line, spaces included. */
void parse_unix_sockets(const char *text, struct socket_paths *out)
{
    const char *line = text;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *p = line, *stop = line + len;
        int fields = 0;
        bool numbered = false;
        while (fields < 7 && p < stop) {
            while (p < stop && *p == ' ')
                p++;
            const char *word = p;
            while (p < stop && *p != ' ')
                p++;
            if (p > word) {
                if (fields == 0)
                    numbered = p[-1] == ':' && isxdigit((unsigned char)word[0]);
                fields++;
            }
        }
        if (numbered && fields == 7 && p < stop && *p == ' ' && p[1] == '/')
            add_path(out, p + 1, (size_t)(stop - p - 1));
        line = end != NULL ? end + 1 : line + len;
    }
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void socket_paths_unique(struct socket_paths *out)
{
    if (out->n == 0)
        return;
    qsort(out->paths, out->n, sizeof *out->paths, compare_paths);
    size_t kept = 1;
    for (size_t i = 1; i < out->n; i++) {
        if (strcmp(out->paths[i], out->paths[kept - 1]) == 0)
            free(out->paths[i]);
        else
            out->paths[kept++] = out->paths[i];
    }
    out->n = kept;
}

/* Reads one namespace's list unless a namespace with the same file inode was read. */
static void read_one(const char *file, ino_t **seen, struct socket_paths *out)
{
    struct stat st;
    if (stat(file, &st) < 0)
        return;
    for (size_t i = 0; i < out->namespaces; i++)
        if ((*seen)[i] == st.st_ino)
            return;
    cleanup_free char *text = read_file(file);
    if (text == NULL)
        return;
    *seen = xrealloc(*seen, (out->namespaces + 1) * sizeof **seen);
    (*seen)[out->namespaces++] = st.st_ino;
    parse_unix_sockets(text, out);
}

void read_host_sockets(struct socket_paths *out)
{
    cleanup_free ino_t *seen = NULL;
    read_one("/proc/self/net/unix", &seen, out);
    DIR *proc = opendir("/proc");
    if (proc != NULL) {
        struct dirent *e;
        while ((e = readdir(proc)) != NULL) {
            if (!isdigit((unsigned char)e->d_name[0]))
                continue;
            cleanup_free char *file = xasprintf("/proc/%s/net/unix", e->d_name);
            read_one(file, &seen, out);
        }
        closedir(proc);
    }
    socket_paths_unique(out);
}

void socket_paths_free(struct socket_paths *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    s->paths = NULL;
    s->n = 0;
}
