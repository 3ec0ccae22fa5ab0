#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utils.h"

#define MAX_SYMLINKS 40

char *overlay_escape(const char *path)
{
    char *out = xmalloc(strlen(path) * 2 + 1);
    char *p = out;
    for (; *path != '\0'; path++) {
        if (*path == '\\' || *path == ',' || *path == ':')
            *p++ = '\\';
        *p++ = *path;
    }
    *p = '\0';
    return out;
}

char *overlay_options(const char *const *lowers, size_t n_lowers, const char *upper, const char *work)
{
    /* Each layer escaped on its own: the ':' between layers must stay unescaped. */
    size_t len = strlen("lowerdir=");
    char **escaped = xcalloc(n_lowers, sizeof *escaped);
    for (size_t i = 0; i < n_lowers; i++) {
        escaped[i] = overlay_escape(lowers[i]);
        len += strlen(escaped[i]) + 1;
    }
    char *lowerdir = xmalloc(len + 1);
    char *p = stpcpy(lowerdir, "lowerdir=");
    for (size_t i = 0; i < n_lowers; i++) {
        if (i > 0)
            *p++ = ':';
        p = stpcpy(p, escaped[i]);
        free(escaped[i]);
    }
    free(escaped);
    if (upper == NULL) {
        char *out = xstrconcat(lowerdir, ",userxattr");
        free(lowerdir);
        return out;
    }
    cleanup_free char *u = overlay_escape(upper);
    cleanup_free char *w = overlay_escape(work);
    char *out = xasprintf("%s,upperdir=%s,workdir=%s,userxattr", lowerdir, u, w);
    free(lowerdir);
    return out;
}

char *ro_overlay_options(const char *lower, const char *empty)
{
    const char *const layers[] = {lower, empty};
    return overlay_options(layers, 2, NULL, NULL);
}

char *normalize_path(const char *path)
{
    size_t len = strlen(path);
    char *out = xmalloc(len + 2);
    size_t o = 0;
    const char *p = path;
    while (*p != '\0') {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != '/')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0 || (n == 1 && start[0] == '.'))
            continue;
        out[o++] = '/';
        memcpy(out + o, start, n);
        o += n;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

/* Drops the last component of an absolute resolved path ("" stands for "/"). */
static void pop_component(char *resolved)
{
    char *slash = strrchr(resolved, '/');
    if (slash != NULL)
        *slash = '\0';
}

char *resolve_in_root(const char *root, const char *path, bool *exists)
{
    size_t root_len = strlen(root);
    while (root_len > 0 && root[root_len - 1] == '/')
        root_len--;
    /* resolved is the part below root, "" or "/a/b"; todo is what is left to walk. */
    size_t cap = strlen(path) + PATH_MAX + 2;
    cleanup_free char *resolved = xcalloc(1, cap);
    cleanup_free char *todo = xstrdup(path);
    cleanup_free char *host = NULL;
    size_t pos = 0;
    int links = 0;
    bool missing = false;

    for (;;) {
        while (todo[pos] == '/')
            pos++;
        if (todo[pos] == '\0')
            break;
        size_t start = pos;
        while (todo[pos] != '\0' && todo[pos] != '/')
            pos++;
        size_t n = pos - start;
        if (n == 1 && todo[start] == '.')
            continue;
        if (n == 2 && todo[start] == '.' && todo[start + 1] == '.') {
            pop_component(resolved);
            continue;
        }
        size_t rlen = strlen(resolved);
        if (rlen + 1 + n + 1 > cap) {
            cap = (rlen + 1 + n + 1) * 2;
            resolved = xrealloc(resolved, cap);
        }
        resolved[rlen] = '/';
        memcpy(resolved + rlen + 1, todo + start, n);
        resolved[rlen + 1 + n] = '\0';
        if (missing)
            continue;

        free(host);
        host = xasprintf("%.*s%s", (int)root_len, root, resolved);
        struct stat st;
        if (lstat(host, &st) < 0) {
            if (errno != ENOENT)
                return NULL;
            missing = true;
            continue;
        }
        if (!S_ISLNK(st.st_mode)) {
            /* Anything but the last component must be a directory to walk into. */
            if (!S_ISDIR(st.st_mode) && todo[pos] != '\0' && todo[pos + strspn(todo + pos, "/")] != '\0') {
                errno = ENOTDIR;
                return NULL;
            }
            continue;
        }
        if (++links > MAX_SYMLINKS) {
            errno = ELOOP;
            return NULL;
        }
        char target[PATH_MAX];
        ssize_t tlen = readlink(host, target, sizeof target - 1);
        if (tlen < 0)
            return NULL;
        target[tlen] = '\0';
        /* The link replaces its own component; an absolute target restarts at root. */
        resolved[rlen] = '\0';
        if (target[0] == '/')
            resolved[0] = '\0';
        char *rest = xasprintf("%s/%s", target, todo + pos);
        free(todo);
        todo = rest;
        pos = 0;
    }

    if (exists != NULL)
        *exists = !missing;
    if (resolved[0] == '\0')
        return root_len > 0 ? xasprintf("%.*s", (int)root_len, root) : xstrdup("/");
    return xasprintf("%.*s%s", (int)root_len, root, resolved);
}
