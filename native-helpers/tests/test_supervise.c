/* The supervisor's pure parts: log rotation (on a temporary directory), atomic files,
 * frame parsing, /proc line parsing and the input-wait syscalls, and the run options. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "options.h"
#include "supervise.h"
#include "tap.h"
#include "utils.h"

/* The whole content of a small file, or NULL. */
static char *slurp(const char *dir, const char *name)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, name);
    return read_file(path);
}

static void test_log(void)
{
    char dir[] = "/tmp/test-supervise-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        skip("log rotation", "no temporary directory");
        return;
    }
    cleanup_free char *path = xasprintf("%s/output", dir);
    struct output_log *log = log_open(path, 10);
    log_append(log, "12345", 5);
    cleanup_free char *a = slurp(dir, "output");
    is_str(a, "12345", "the log holds what was written");
    cleanup_free char *none = slurp(dir, "output.1");
    ok(none == NULL, "no older part before the limit");

    log_append(log, "6789abcdefgh", 12);
    cleanup_free char *b = slurp(dir, "output");
    cleanup_free char *b1 = slurp(dir, "output.1");
    is_str(b1, "123456789a", "at the limit the log becomes output.1, exactly max bytes");
    is_str(b, "bcdefgh", "and the rest begins a new log");

    log_append(log, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26);
    cleanup_free char *c = slurp(dir, "output");
    cleanup_free char *c1 = slurp(dir, "output.1");
    is_str(c1, "NOPQRSTUVW", "a write of more than the limit rotates as often as it must");
    is_str(c, "XYZ", "keeping the newest bytes");

    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the log is 0600");
    close(log->fd);
    free(log->path);
    free(log->older);
    free(log);

    /* A new run appends to the log it finds, and counts what is there. */
    struct output_log *again = log_open(path, 6);
    log_append(again, "123", 3);
    cleanup_free char *d = slurp(dir, "output");
    cleanup_free char *d1 = slurp(dir, "output.1");
    is_str(d, "XYZ123", "a new run appends to the log, up to the limit");
    is_str(d1, "NOPQRSTUVW", "the older part stays until then");
    log_append(again, "4", 1);
    cleanup_free char *e = slurp(dir, "output");
    cleanup_free char *e1 = slurp(dir, "output.1");
    ok(e != NULL && e1 != NULL && strcmp(e, "4") == 0 && strcmp(e1, "XYZ123") == 0,
       "and rotates once it is full");
    close(again->fd);
    free(again->path);
    free(again->older);
    free(again);

    /* Atomic files: all or nothing, no temporary left. */
    cleanup_free char *exit_path = xasprintf("%s/exit", dir);
    ok(write_file_atomically(exit_path, "137\n") == 0, "write_file_atomically succeeds");
    cleanup_free char *x = slurp(dir, "exit");
    is_str(x, "137\n", "the file holds the text");
    cleanup_free char *tmp = slurp(dir, "exit.tmp");
    ok(tmp == NULL, "no temporary file is left");
    cleanup_free char *nowhere = xasprintf("%s/no/such/dir/exit", dir);
    ok(write_file_atomically(nowhere, "1\n") < 0, "write_file_atomically fails in a missing directory");

    const char *names[] = {"output", "output.1", "exit"};
    for (size_t i = 0; i < 3; i++) {
        cleanup_free char *p = xasprintf("%s/%s", dir, names[i]);
        (void)unlink(p);
    }
    (void)rmdir(dir);
}

static void test_bytes(void)
{
    struct bytes b = {0};
    ok(bytes_push(&b, "hello", 5, 8), "bytes_push within the limit");
    ok(!bytes_push(&b, "world", 5, 8), "bytes_push refuses to pass the limit");
    is_int((long)bytes_pending(&b), 5, "and adds nothing then");
    bytes_drop(&b, 3);
    ok(bytes_push(&b, "world", 5, 8), "room again once bytes are written");
    ok(bytes_pending(&b) == 7 && memcmp(b.buf + b.off, "loworld", 7) == 0, "pending bytes keep their order");
    bytes_drop(&b, 7);
    is_int((long)bytes_pending(&b), 0, "all written");
    bytes_free(&b);
}

static void test_frames(void)
{
    struct frame f;
    const unsigned char data[] = {'d', 0, 3, 'a', 'b', 'c', 'w'};
    is_int(parse_frame(data, 0, &f), FRAME_INCOMPLETE, "no bytes: incomplete");
    is_int(parse_frame(data, 2, &f), FRAME_INCOMPLETE, "half a data header: incomplete");
    is_int(parse_frame(data, 5, &f), FRAME_INCOMPLETE, "a data frame without all its bytes: incomplete");
    ok(parse_frame(data, sizeof data, &f) == FRAME_DATA && f.size == 6 && f.len == 3 && memcmp(f.data, "abc", 3) == 0,
       "a data frame: its bytes and size");

    const unsigned char win[] = {'w', 0x00, 0x28, 0x00, 0x78};
    is_int(parse_frame(win, 4, &f), FRAME_INCOMPLETE, "a window frame cut short: incomplete");
    ok(parse_frame(win, 5, &f) == FRAME_WINSIZE && f.rows == 40 && f.cols == 120 && f.size == 5,
       "a window frame: rows and cols big-endian");
    const unsigned char big[] = {'w', 0x01, 0x02, 0xff, 0xff};
    ok(parse_frame(big, 5, &f) == FRAME_WINSIZE && f.rows == 258 && f.cols == 65535, "u16 values up to 65535");

    const unsigned char empty[] = {'d', 0, 0};
    is_int(parse_frame(empty, 3, &f), FRAME_BAD, "a data frame of length 0 is bad");
    const unsigned char huge[] = {'d', 0x10, 0x01};
    is_int(parse_frame(huge, 3, &f), FRAME_BAD, "a data frame of 4097 bytes is bad");
    static unsigned char max[3 + FRAME_DATA_MAX] = {'d', 0x10, 0x00};
    ok(parse_frame(max, sizeof max, &f) == FRAME_DATA && f.len == 4096, "a data frame of 4096 bytes is fine");
    const unsigned char unknown[] = {'x', 0, 1, 'a'};
    is_int(parse_frame(unknown, 4, &f), FRAME_BAD, "an unknown frame type is bad");
}

static void test_waiting(void)
{
    long nr = -5;
    ok(parse_syscall_number("0 0x3 0x7ffd 0x400 0 0 0 0x7ffd 0x7f12\n", &nr) && nr == 0, "syscall line: read (0)");
    ok(parse_syscall_number("271 0x1 0x2\n", &nr) && nr == 271, "syscall line: its first field");
    ok(!parse_syscall_number("running\n", &nr), "a running process is in no syscall");
    ok(!parse_syscall_number("-1 0x7ffd 0x7f12\n", &nr), "-1: blocked outside a syscall");
    ok(!parse_syscall_number("", &nr), "an empty line is nothing");
    ok(!parse_syscall_number("12x 0\n", &nr), "a number must end at a space");

    ok(is_input_wait_syscall(SYS_read) && is_input_wait_syscall(SYS_readv) && is_input_wait_syscall(SYS_pread64),
       "read, readv, pread64 wait for input");
    ok(is_input_wait_syscall(SYS_pselect6) && is_input_wait_syscall(SYS_ppoll) &&
           is_input_wait_syscall(SYS_epoll_pwait),
       "pselect6, ppoll, epoll_pwait wait for input");
#ifdef SYS_select
    ok(is_input_wait_syscall(SYS_select) && is_input_wait_syscall(SYS_poll) && is_input_wait_syscall(SYS_epoll_wait),
       "select, poll, epoll_wait wait for input (where they exist)");
#endif
    ok(!is_input_wait_syscall(SYS_nanosleep) && !is_input_wait_syscall(SYS_clock_nanosleep) &&
           !is_input_wait_syscall(SYS_wait4) && !is_input_wait_syscall(SYS_futex) && !is_input_wait_syscall(SYS_write),
       "sleeping, waiting for a child, a futex or writing is not waiting for input");

    long pgrp = 0;
    ok(parse_stat_pgrp("123 (python3) S 100 123 100 34816 123 4194560 ...", &pgrp) && pgrp == 123,
       "stat line: the group is field 5");
    ok(parse_stat_pgrp("7 (a) b) (c) R 1 42 1 0", &pgrp) && pgrp == 42,
       "a name with ') ' in it: fields counted after the last ')'");
    ok(!parse_stat_pgrp("7 (a) R 1", &pgrp), "a cut line is nothing");
    ok(!parse_stat_pgrp("garbage", &pgrp), "a line without ')' is nothing");

    ok(!group_waits_for_input(0) && !group_waits_for_input(-1), "no group: not waiting");

    /* Real processes: a group asleep in read() waits, one asleep in nanosleep() does not. */
    if (access("/proc/self/syscall", R_OK) < 0) {
        skip("a group asleep in read() is waiting", "no /proc/PID/syscall");
        return;
    }
    int p[2];
    if (pipe(p) < 0)
        return;
    pid_t reader = fork();
    if (reader == 0) {
        char c;
        setpgid(0, 0);
        close(p[1]);
        _exit(read(p[0], &c, 1) == 1 ? 0 : 1);
    }
    pid_t sleeper = fork();
    if (sleeper == 0) {
        setpgid(0, 0);
        close(p[0]);
        close(p[1]);
        sleep(10);
        _exit(0);
    }
    setpgid(reader, reader);
    setpgid(sleeper, sleeper);
    bool reads = false;
    for (int i = 0; i < 100 && !reads; i++) {
        usleep(10000);
        reads = group_waits_for_input(reader);
    }
    ok(reads, "a group asleep in read() is waiting");
    ok(!group_waits_for_input(sleeper), "a group asleep in nanosleep() is not");
    kill(sleeper, SIGKILL);
    close(p[1]);
    waitpid(reader, NULL, 0);
    waitpid(sleeper, NULL, 0);
    close(p[0]);
}

#define PARSE(opts, err, ...)                                                                                 \
    parse_options(sizeof((char *[]){"sandbox-helper", __VA_ARGS__}) / sizeof(char *),                        \
                  (char *const[]){"sandbox-helper", __VA_ARGS__, NULL}, opts, err)

static void expect_error(const char *want, enum parse_result got, char *error, struct options *opts)
{
    if (is_int(got, PARSE_ERROR, want))
        is_str(error, want, "  its message");
    free(error);
    options_free(opts);
}

static void test_run_options(void)
{
    struct options o;
    char *err = NULL;
    enum parse_result r;
    is_int(PARSE(&o, &err, "--", "x"), PARSE_RUN, "no lifecycle options");
    ok(o.lock == NULL && o.pid_file == NULL && o.exit_file == NULL && o.log == NULL && o.socket == NULL &&
           !o.detach && o.log_max == 4194304ULL,
       "nothing is asked for; --log-max is 4 MiB");
    options_free(&o);

    is_int(PARSE(&o, &err, "--lock", "/s/agent.lock", "--pid-file", "/s/pid", "--exit-file", "/s/exit", "--log",
                 "/s/log/output", "--log-max", "100", "--detach", "--socket", "/run/s.sock", "--", "x"),
           PARSE_RUN, "every lifecycle option parses");
    ok(o.lock != NULL && strcmp(o.lock, "/s/agent.lock") == 0 && strcmp(o.pid_file, "/s/pid") == 0 &&
           strcmp(o.exit_file, "/s/exit") == 0 && strcmp(o.log, "/s/log/output") == 0 && o.log_max == 100 &&
           o.detach && strcmp(o.socket, "/run/s.sock") == 0,
       "each one's value is kept");
    is_int(o.tty, TTY_ALWAYS, "--detach implies --tty always");
    options_free(&o);

    r = PARSE(&o, &err, "--detach", "--", "x");
    expect_error("--detach needs --socket", r, err, &o);
    r = PARSE(&o, &err, "--socket", "/s", "--", "x");
    expect_error("--socket needs --detach", r, err, &o);
    r = PARSE(&o, &err, "--tty", "never", "--detach", "--socket", "/s", "--", "x");
    expect_error("--detach needs a pty, not --tty never", r, err, &o);
    r = PARSE(&o, &err, "--log-max", "0", "--", "x");
    expect_error("--log-max: '0' is not a number of bytes from 1 to 2147483647", r, err, &o);
    r = PARSE(&o, &err, "--log-max", "4M", "--", "x");
    expect_error("--log-max: '4M' is not a number of bytes from 1 to 2147483647", r, err, &o);
    r = PARSE(&o, &err, "--lock", "agent.lock", "--", "x");
    expect_error("--lock: 'agent.lock' is not an absolute path", r, err, &o);
    r = PARSE(&o, &err, "--exit-file");
    expect_error("option '--exit-file' needs an argument", r, err, &o);
    char long_path[130];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    cleanup_free char *want = xasprintf("--socket: '%s' is not an absolute path shorter than 108 bytes", long_path);
    r = PARSE(&o, &err, "--detach", "--socket", long_path, "--", "x");
    expect_error(want, r, err, &o);
}

void test_supervise(void)
{
    test_log();
    test_bytes();
    test_frames();
    test_waiting();
    test_run_options();
}
