#include "utils.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static void vprint_line(const char *prefix, const char *format, va_list args, int errnum)
{
    /* One fprintf-free line built first, so concurrent writers never interleave it. */
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s: %s", PROGRAM_NAME, prefix);
    if (n < 0 || (size_t)n >= sizeof buf)
        n = 0;
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n, format, args);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    if (errnum != 0) {
        int k = snprintf(buf + len, sizeof buf - len, ": %s", strerror(errnum));
        len = k < 0 ? len : len + (size_t)k;
        if (len > sizeof buf - 2)
            len = sizeof buf - 2;
    }
    buf[len++] = '\n';
    (void)write_all(STDERR_FILENO, buf, len);
}

void die(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vprint_line("", format, args, 0);
    va_end(args);
    exit(EXIT_SETUP_FAILED);
}

void die_with_error(const char *format, ...)
{
    int errnum = errno;
    va_list args;
    va_start(args, format);
    vprint_line("", format, args, errnum);
    va_end(args);
    exit(EXIT_SETUP_FAILED);
}

void die_with_errno(int errnum, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vprint_line("", format, args, errnum);
    va_end(args);
    exit(EXIT_SETUP_FAILED);
}

void die_with_code(int code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vprint_line("", format, args, 0);
    va_end(args);
    exit(code);
}

void warn(const char *format, ...)
{
    int saved = errno;
    va_list args;
    va_start(args, format);
    vprint_line("warning: ", format, args, 0);
    va_end(args);
    errno = saved;
}

void die_oom(void)
{
    static const char msg[] = PROGRAM_NAME ": out of memory\n";
    (void)write_all(STDERR_FILENO, msg, sizeof msg - 1);
    exit(EXIT_SETUP_FAILED);
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        die_oom();
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL)
        die_oom();
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        die_oom();
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        die_oom();
    return p;
}

char *xasprintf(const char *format, ...)
{
    char *p = NULL;
    va_list args;
    va_start(args, format);
    int n = vasprintf(&p, format, args);
    va_end(args);
    if (n < 0)
        die_oom();
    return p;
}

char *xstrconcat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = xmalloc(la + lb + 1);
    memcpy(p, a, la);
    memcpy(p + la, b, lb + 1);
    return p;
}

bool str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t read_retry(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

int write_file(const char *path, const char *content)
{
    cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    if (write_all(fd, content, strlen(content)) < 0)
        return -1;
    int rc = close(steal_fd(&fd));
    return rc;
}

char *read_file(const char *path)
{
    cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    cleanup_free char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read_retry(fd, buf + len, cap - len - 1);
        if (n < 0)
            return NULL;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return steal_pointer(&buf);
}

int mkdir_p(const char *path, mode_t mode, char **failed_at)
{
    cleanup_free char *copy = xstrdup(path);
    if (failed_at != NULL)
        *failed_at = NULL;
    if (copy[0] == '\0' || strcmp(copy, "/") == 0)
        return 0;
    /* Walk the path one component at a time, creating only what is missing (an
     * existing directory on a read-only mount is fine). */
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        struct stat st;
        int err = 0;
        if (stat(copy, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                err = ENOTDIR;
        } else if (mkdir(copy, mode) < 0 && errno != EEXIST) {
            err = errno;
        }
        if (err != 0) {
            if (failed_at != NULL)
                *failed_at = xstrdup(copy);
            errno = err;
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            return 0;
        while (p[1] == '/')
            p++;
        if (p[1] == '\0')
            return 0;
    }
}

int ensure_file(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, mode);
    if (fd < 0) {
        int err = errno;
        struct stat st;
        /* An existing non-regular node (a device, a directory) is the caller's problem
         * at mount time; only report what stops us from having anything there. */
        if (lstat(path, &st) == 0)
            return 0;
        errno = err;
        return -1;
    }
    close(fd);
    return 0;
}

void close_preserving_errno(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

static void close_range_or_loop(unsigned first, unsigned last)
{
    if (first > last || syscall(SYS_close_range, first, last, 0U) == 0)
        return;
    /* Kernels before 5.9: one close() per possible fd. */
    struct rlimit rl;
    unsigned max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < max)
        max = (unsigned)rl.rlim_cur;
    for (unsigned fd = first; fd <= last && fd < max; fd++)
        (void)close((int)fd);
}

void close_fds_above_stderr(int keep)
{
    if (keep < 3) {
        close_range_or_loop(3, ~0U);
        return;
    }
    close_range_or_loop(3, (unsigned)keep - 1);
    close_range_or_loop((unsigned)keep + 1, ~0U);
}
