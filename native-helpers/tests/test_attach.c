/* The pure parts of the attach and exec modes: detach keys, frames, /proc parsing. */
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "exec.h"
#include "tap.h"

static bool bytes_are(const unsigned char *got, size_t n, const char *want, const char *name)
{
    bool same = n == strlen(want) && memcmp(got, want, n) == 0;
    if (!ok(same, "%s", name))
        printf("#   got %zu bytes '%.*s', want '%s'\n", n, (int)n, (const char *)got, want);
    return same;
}

static void test_detach_keys_parser(void)
{
    struct detach_keys k;
    char *problem = parse_detach_keys("16,17", &k);
    ok(problem == NULL && k.n == 2 && k.keys[0] == 16 && k.keys[1] == 17, "16,17 is Ctrl-P Ctrl-Q");
    free(problem);
    problem = parse_detach_keys("0", &k);
    ok(problem == NULL && k.n == 1 && k.keys[0] == 0, "one key, ctrl-@ (0) included");
    free(problem);
    problem = parse_detach_keys("1,2,3,4,5,6,7,255", &k);
    ok(problem == NULL && k.n == 8 && k.keys[7] == 255, "eight keys up to 255");
    free(problem);
    const char *bad[] = {"", ",", "1,", ",1", "1,,2", "256", "-1", "1 2", "0x10", "1,2,3,4,5,6,7,8,9", "1000", "a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        problem = parse_detach_keys(bad[i], &k);
        ok(problem != NULL && strchr(problem, '\n') == NULL, "'%s' is refused with one line", bad[i]);
        free(problem);
    }
    problem = parse_detach_keys("1,300", &k);
    is_str(problem, "--detach-keys: '1,300' is not 1 to 8 byte values (0 to 255) separated by commas",
           "the message names the option and the value");
    free(problem);
}

static struct detach_keys keys(const char *spec)
{
    struct detach_keys k;
    free(parse_detach_keys(spec, &k));
    return k;
}

static void test_detach_matcher(void)
{
    unsigned char out[64];
    bool detached;
    struct detach_keys k = keys("16,17");

    size_t n = detach_feed(&k, (const unsigned char *)"abc", 3, out, &detached);
    ok(bytes_are(out, n, "abc", "plain bytes pass") && !detached, "plain bytes don't detach");

    n = detach_feed(&k, (const unsigned char *)"ab\x10", 3, out, &detached);
    ok(bytes_are(out, n, "ab", "a partial match is held back") && !detached && k.matched == 1,
       "a partial match is held, not detached");
    n = detach_feed(&k, (const unsigned char *)"x", 1, out, &detached);
    ok(bytes_are(out, n, "\x10x", "the next byte differs: the held byte is flushed before it") && !detached,
       "a broken match is flushed");

    n = detach_feed(&k, (const unsigned char *)"a\x10\x11zz", 5, out, &detached);
    ok(bytes_are(out, n, "a", "bytes before the sequence are sent") && detached, "a full match detaches");
    is_int((long)k.matched, 0, "nothing is held after a detach");

    n = detach_feed(&k, (const unsigned char *)"\x10", 1, out, &detached);
    ok(n == 0 && !detached, "a sequence split across reads: first part held");
    n = detach_feed(&k, (const unsigned char *)"\x11", 1, out, &detached);
    ok(n == 0 && detached, "a sequence split across reads: second part detaches");

    n = detach_feed(&k, (const unsigned char *)"\x10\x10\x11", 3, out, &detached);
    ok(bytes_are(out, n, "\x10", "a repeated first key: the first one is flushed") && detached,
       "a repeated first key starts the match again");

    n = detach_feed(&k, (const unsigned char *)"\x10", 1, out, &detached);
    n = detach_flush(&k, out);
    ok(bytes_are(out, n, "\x10", "the end of input flushes what is held") && k.matched == 0,
       "flush forgets the held bytes");

    struct detach_keys one = keys("3");
    n = detach_feed(&one, (const unsigned char *)"ab\x03", 3, out, &detached);
    ok(bytes_are(out, n, "ab", "a one-key sequence") && detached, "a one-key sequence detaches at once");

    struct detach_keys three = keys("1,2,3");
    n = detach_feed(&three, (const unsigned char *)"\x01\x02", 2, out, &detached);
    ok(n == 0 && !detached, "two of three keys are held");
    n = detach_feed(&three, (const unsigned char *)"\x01\x02\x03", 3, out, &detached);
    ok(bytes_are(out, n, "\x01\x02", "the broken match is flushed, the new one detaches") && detached,
       "a match broken by the first key starts a new one");
}

static void test_frames(void)
{
    unsigned char out[FRAME_MAX];
    size_t n = encode_attach_request(out, 40, 120);
    ok(n == 5 && memcmp(out, "a\x00\x28\x00\x78", 5) == 0, "attach request: a, rows 40, cols 120 big-endian");
    n = encode_winsize_frame(out, 0x1234, 0xfffe);
    ok(n == 5 && memcmp(out, "w\x12\x34\xff\xfe", 5) == 0, "window frame: w, rows, cols big-endian");
    n = encode_data_frame(out, (const unsigned char *)"hi", 2);
    ok(n == 5 && memcmp(out, "d\x00\x02hi", 5) == 0, "data frame: d, length, bytes");
    unsigned char big[FRAME_DATA_MAX];
    memset(big, 'x', sizeof big);
    n = encode_data_frame(out, big, sizeof big);
    ok(n == FRAME_MAX && out[1] == 0x10 && out[2] == 0x00 && out[FRAME_MAX - 1] == 'x',
       "the largest data frame carries 4096 bytes");
}

static void test_exec_parsing(void)
{
    char buf[] = "A=1\0B=2\0\0C=3"; /* no NUL at the end, one empty string */
    size_t count;
    char **list = split_nul(buf, sizeof buf - 1, &count);
    ok(count == 4 && strcmp(list[0], "A=1") == 0 && strcmp(list[1], "B=2") == 0 && list[2][0] == '\0' &&
           strcmp(list[3], "C=3") == 0 && list[4] == NULL,
       "split_nul: every string, an unterminated last one too, NULL at the end");
    free(list);
    char buf2[] = "x\0y\0";
    list = split_nul(buf2, sizeof buf2 - 1, &count);
    ok(count == 2 && strcmp(list[1], "y") == 0 && list[2] == NULL, "split_nul: a terminated last string");
    free(list);
    char empty[1];
    list = split_nul(empty, 0, &count);
    ok(count == 0 && list[0] == NULL, "split_nul: nothing");
    free(list);

    is_int(stat_ppid("4748 (sandbox-helper) S 4747 4748 1 0 -1"), 4747, "stat_ppid: field 4");
    is_int(stat_ppid("12 (a) b) (c) R 99 12 1"), 99, "stat_ppid: a comm with ') ' in it");
    is_int(stat_ppid("12 (a)"), -1, "stat_ppid: a truncated line");
    is_int(stat_ppid("garbage"), -1, "stat_ppid: no comm");

    struct exec_args a;
    char *argv1[] = {"exec", "10", "11", "--tty", "--stdin", "--", "cat", "f", NULL};
    char *problem = parse_exec_args(8, argv1, &a);
    ok(problem == NULL && a.outer == 10 && a.init == 11 && a.tty && a.input && strcmp(a.command[0], "cat") == 0 &&
           strcmp(a.command[1], "f") == 0,
       "exec OUTER INIT --tty --stdin -- CMD ARGS");
    free(problem);
    char *argv2[] = {"exec", "10", "11", "--", "id", NULL};
    problem = parse_exec_args(5, argv2, &a);
    ok(problem == NULL && !a.tty && !a.input, "exec without --tty and --stdin");
    free(problem);
    char *argv3[] = {"exec", "10", "11", "id", NULL};
    problem = parse_exec_args(4, argv3, &a);
    is_str(problem, "'--' must come before COMMAND", "exec without --");
    free(problem);
    char *argv4[] = {"exec", "10", "--", "id", NULL};
    problem = parse_exec_args(4, argv4, &a);
    is_str(problem, "OUTER and INIT must be process ids", "exec with one pid");
    free(problem);
    char *argv5[] = {"exec", "10", "0x1", "--", "id", NULL};
    problem = parse_exec_args(5, argv5, &a);
    ok(problem != NULL, "exec with a pid that is not decimal");
    free(problem);
    char *argv6[] = {"exec", "10", "11", "--", NULL};
    problem = parse_exec_args(4, argv6, &a);
    is_str(problem, "no COMMAND given", "exec with nothing after --");
    free(problem);
    char *argv7[] = {"exec", "10", "11", "--bogus", "--", "id", NULL};
    problem = parse_exec_args(6, argv7, &a);
    is_str(problem, "unexpected argument '--bogus'", "exec with an unknown option");
    free(problem);
}

void test_attach(void)
{
    test_detach_keys_parser();
    test_detach_matcher();
    test_frames();
    test_exec_parsing();
}
