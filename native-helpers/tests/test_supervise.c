/* The supervisor's pure parts: log rotation (on a temporary directory), atomic files,
 * frame parsing, /proc line parsing and the input-wait syscalls, and the run options. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
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
    r = PARSE(&o, &err, "--die-with-parent", "--", "x");
    expect_error("--die-with-parent needs --detach (without it the sandbox ends with its caller)", r, err, &o);
    is_int(PARSE(&o, &err, "--detach", "--die-with-parent", "--socket", "/s", "--", "x"), PARSE_RUN,
           "--die-with-parent goes with --detach");
    ok(o.detach && o.die_with_parent, "a detached sandbox that ends with its caller");
    options_free(&o);
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

/* Runs the server's share of a poll loop for about ms milliseconds. */
static void pump(struct server *s, struct bytes *to_pty, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        struct pollfd fds[SERVER_MAX_FDS];
        nfds_t n = 0;
        (void)server_poll_add(s, fds, &n);
        if (poll(fds, n, 10) >= 0)
            server_poll_done(s, fds, to_pty, 16384);
    }
}

static int client(const char *path, const void *request, size_t len)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0 || write_all(fd, request, len) < 0)
        return -1;
    return fd;
}

/* What the server sent fd so far (NUL-terminated); "<EOF>" appended when it closed. */
static void answer(int fd, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    while (len + 6 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            break;
        ssize_t n = read(fd, buf + len, size - len - 6);
        if (n <= 0) {
            strcpy(buf + len, "<EOF>");
            return;
        }
        len += (size_t)n;
        buf[len] = '\0';
    }
}

static void test_server(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char dir[] = "/tmp/test-server-XXXXXX";
    if (master < 0 || unlockpt(master) < 0 || mkdtemp(dir) == NULL) {
        skip("the supervisor socket", "no pty or no temporary directory");
        return;
    }
    cleanup_free char *path = xasprintf("%s/sock", dir);
    struct server *s = server_listen(path);
    struct stat st;
    ok(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600, "the socket is made 0600");
    server_set_master(s, master);
    struct bytes to_pty = {0};
    char buf[256];

    int st1 = client(path, "s", 1);
    pump(s, &to_pty, 50);
    answer(st1, buf, sizeof buf);
    ok(str_has_prefix(buf, "attached=0 waiting=0 idle-ms=") && strstr(buf, "\n<EOF>") != NULL,
       "s: one status line, then the connection closes");
    close(st1);

    int a1 = client(path, "a\x00\x28\x00\x78", 5);
    pump(s, &to_pty, 50);
    answer(a1, buf, sizeof buf);
    is_str(buf, "ok\n", "a: ok");
    struct winsize ws = {0};
    ok(ioctl(master, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 40 && ws.ws_col == 120, "a: the pty gets the client's size");

    int a2 = client(path, "a\x00\x18\x00\x50", 5);
    pump(s, &to_pty, 50);
    answer(a2, buf, sizeof buf);
    is_str(buf, "busy\n<EOF>", "a second attach is refused: busy");
    close(a2);

    int st2 = client(path, "s", 1);
    pump(s, &to_pty, 50);
    answer(st2, buf, sizeof buf);
    ok(str_has_prefix(buf, "attached=1 waiting=0 idle-ms="), "s: attached=1 while a client is attached");
    close(st2);

    server_output(s, "hello", 5);
    pump(s, &to_pty, 50);
    answer(a1, buf, sizeof buf);
    is_str(buf, "hello", "the agent's output reaches the client");

    (void)write_all(a1, "d\x00\x02xyw\x00\x32\x00\x84", 10);
    pump(s, &to_pty, 50);
    ok(bytes_pending(&to_pty) == 2 && memcmp(to_pty.buf + to_pty.off, "xy", 2) == 0, "a d frame's bytes go to the pty");
    ok(ioctl(master, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 50 && ws.ws_col == 132, "a w frame sets the pty's size");

    (void)write_all(a1, "q", 1);
    pump(s, &to_pty, 50);
    answer(a1, buf, sizeof buf);
    is_str(buf, "<EOF>", "an unknown frame ends the connection");
    close(a1);

    int a3 = client(path, "a\x00\x18\x00\x50", 5);
    pump(s, &to_pty, 50);
    answer(a3, buf, sizeof buf);
    is_str(buf, "ok\n", "attach again once the first one is gone");
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 48; i++) /* 3 MiB, never read */
        server_output(s, chunk, sizeof chunk);
    pump(s, &to_pty, 50);
    int st3 = client(path, "s", 1);
    pump(s, &to_pty, 50);
    answer(st3, buf, sizeof buf);
    ok(str_has_prefix(buf, "attached=0 "), "a client that does not read is disconnected");
    close(st3);
    close(a3);

    int quiet = client(path, "", 0);
    pump(s, &to_pty, 2300);
    answer(quiet, buf, sizeof buf);
    is_str(buf, "<EOF>", "a connection that asks nothing within 2 s is closed");
    close(quiet);

    server_close(s);
    ok(access(path, F_OK) < 0, "server_close removes the socket");
    bytes_free(&to_pty);
    close(master);
    (void)rmdir(dir);
}

void test_supervise(void)
{
    test_log();
    test_bytes();
    test_frames();
    test_waiting();
    test_run_options();
    test_server();
}
