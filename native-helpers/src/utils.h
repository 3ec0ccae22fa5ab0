/* Small helpers shared by every part of sandbox-helper: dying with one clear line,
 * allocation that never returns NULL, and cleanup attributes for fds and buffers. */
#ifndef SANDBOX_UTILS_H
#define SANDBOX_UTILS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/types.h>

/* The helper's own failures (setup, usage) all exit with this code; 126/127 are the
 * COMMAND's "not executable"/"not found" and 128+n a death by signal n. Mirrored by the
 * launcher's HelperExit enum. */
#define EXIT_SETUP_FAILED 125
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

#define PROGRAM_NAME "sandbox-helper"

#define NORETURN __attribute__((__noreturn__))
#define PRINTF(fmt, args) __attribute__((__format__(__printf__, fmt, args)))

/* "sandbox-helper: <message>" on stderr, exit 125. */
void die(const char *format, ...) NORETURN PRINTF(1, 2);
/* Like die() with ": strerror(errno)" appended. */
void die_with_error(const char *format, ...) NORETURN PRINTF(1, 2);
/* Like die_with_error() for an explicit error number. */
void die_with_errno(int errnum, const char *format, ...) NORETURN PRINTF(2, 3);
/* Like die() with a chosen exit code (the agent's 126/127). */
void die_with_code(int code, const char *format, ...) NORETURN PRINTF(2, 3);
void warn(const char *format, ...) PRINTF(1, 2);
void die_oom(void) NORETURN;

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *format, ...) PRINTF(1, 2);
/* a + b, newly allocated. */
char *xstrconcat(const char *a, const char *b);

bool str_has_prefix(const char *s, const char *prefix);

/* write()/read() that retry on EINTR and short writes; -1 with errno on failure. */
int write_all(int fd, const void *buf, size_t len);
ssize_t read_retry(int fd, void *buf, size_t len);
/* Writes a whole small file (for /proc/self/uid_map and friends); -1 with errno. */
int write_file(const char *path, const char *content);
/* Reads a whole small file into a NUL-terminated buffer, or NULL with errno. */
char *read_file(const char *path);

/* mkdir -p; existing directories are fine. -1 with errno, *failed_at set to the
 * component that could not be created (owned by the caller, may be NULL). */
int mkdir_p(const char *path, mode_t mode, char **failed_at);
/* Creates an empty file if nothing exists at path yet. -1 with errno. */
int ensure_file(const char *path, mode_t mode);

void close_preserving_errno(int fd);
/* Closes every fd above 2 except keep (-1: none), e.g. what a JVM parent handed down. */
void close_fds_above_stderr(int keep);

static inline void cleanup_freep(void *p)
{
    void **pp = (void **)p;
    free(*pp);
}

static inline void cleanup_fdp(int *fdp)
{
    if (*fdp >= 0)
        close_preserving_errno(*fdp);
}

#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_fd __attribute__((cleanup(cleanup_fdp)))

/* Hands a pointer or fd over to someone else, so the cleanup attribute skips it. */
static inline void *steal_pointer(void *pp)
{
    void **p = (void **)pp;
    void *value = *p;
    *p = NULL;
    return value;
}

static inline int steal_fd(int *fdp)
{
    int fd = *fdp;
    *fdp = -1;
    return fd;
}

#endif
