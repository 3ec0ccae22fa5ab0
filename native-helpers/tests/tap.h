/* A tiny TAP producer: "ok N - name" / "not ok N - name", then "1..N". */
#ifndef SANDBOX_TAP_H
#define SANDBOX_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

extern int tap_count;
extern int tap_failed;

__attribute__((__format__(__printf__, 2, 3))) static inline bool ok(bool pass, const char *name, ...)
{
    va_list args;
    va_start(args, name);
    printf("%s %d - ", pass ? "ok" : "not ok", ++tap_count);
    vprintf(name, args);
    putchar('\n');
    va_end(args);
    if (!pass)
        tap_failed++;
    fflush(stdout);
    return pass;
}

static inline void skip(const char *name, const char *why)
{
    printf("ok %d - %s # SKIP %s\n", ++tap_count, name, why);
    fflush(stdout);
}

static inline bool is_int(long got, long want, const char *name)
{
    if (!ok(got == want, "%s", name))
        printf("#   got %ld, want %ld\n", got, want);
    return got == want;
}

static inline bool is_str(const char *got, const char *want, const char *name)
{
    bool same = got != NULL && want != NULL ? strcmp(got, want) == 0 : got == want;
    if (!ok(same, "%s", name))
        printf("#   got '%s', want '%s'\n", got ? got : "(null)", want ? want : "(null)");
    return same;
}

void test_options(void);
void test_paths(void);
void test_mountinfo(void);
void test_status(void);
void test_signals(void);
void test_seccomp(void);
void test_seccomp_setid(void);
void test_utils(void);
void test_sockets(void);
void test_attach(void);
void test_supervise(void);
void test_view(void);
void test_tree(void);
void test_tree_copy(void);
void test_delta(void);

#endif
