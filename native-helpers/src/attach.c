#include "attach.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "pty.h"
#include "signals.h"

const char attach_usage_text[] =
    "\n"
    "Usage: " PROGRAM_NAME " attach SOCKET [--detach-keys B,B,...]\n"
    "Connect this terminal to the pty of a sandbox whose supervisor serves the unix\n"
    "SOCKET, until the detach keys (decimal byte values, 1 to 8 of them; default 16,17:\n"
    "Ctrl-P Ctrl-Q). Exit status: 0 detached (the keys, the end of stdin, or a signal),\n"
    "10 the agent ended or the supervisor is gone, 11 another client is attached, 125\n"
    "the helper failed.\n";

char *parse_detach_keys(const char *spec, struct detach_keys *out)
{
    memset(out, 0, sizeof *out);
    const char *p = spec;
    for (;;) {
        unsigned value = 0;
        const char *start = p;
        while (*p >= '0' && *p <= '9' && p - start < 3)
            value = value * 10 + (unsigned)(*p++ - '0');
        if (p == start || value > 255 || (*p != ',' && *p != '\0') || out->n == DETACH_KEYS_MAX)
            return xasprintf("--detach-keys: '%s' is not 1 to %d byte values (0 to 255) separated by commas",
                             spec, DETACH_KEYS_MAX);
        out->keys[out->n++] = (unsigned char)value;
        if (*p == '\0')
            return NULL;
        p++;
    }
}

size_t detach_feed(struct detach_keys *d, const unsigned char *in, size_t n, unsigned char *out,
                   bool *detached)
{
    size_t put = 0;
    *detached = false;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != d->keys[d->matched] && d->matched > 0) {
            /* The sequence broke: what was held is the user's input after all. */
            memcpy(out + put, d->keys, d->matched);
            put += d->matched;
            d->matched = 0;
        }
        if (in[i] == d->keys[d->matched]) {
            if (++d->matched == d->n) {
                d->matched = 0;
                *detached = true;
                return put;
            }
            continue;
        }
        out[put++] = in[i];
    }
    return put;
}

size_t detach_flush(struct detach_keys *d, unsigned char *out)
{
    size_t n = d->matched;
    memcpy(out, d->keys, n);
    d->matched = 0;
    return n;
}

static void put_u16(unsigned char *out, unsigned value)
{
    out[0] = (unsigned char)(value >> 8);
    out[1] = (unsigned char)value;
}

size_t encode_attach_request(unsigned char out[5], unsigned rows, unsigned cols)
{
    out[0] = 'a';
    put_u16(out + 1, rows);
    put_u16(out + 3, cols);
    return 5;
}

size_t encode_data_frame(unsigned char *out, const unsigned char *data, size_t n)
{
    out[0] = 'd';
    put_u16(out + 1, (unsigned)n);
    memcpy(out + 3, data, n);
    return 3 + n;
}

size_t encode_winsize_frame(unsigned char out[5], unsigned rows, unsigned cols)
{
    out[0] = 'w';
    put_u16(out + 1, rows);
    put_u16(out + 3, cols);
    return 5;
}

/* The terminal back in its own modes first, so that the line starts at the margin. */
static void fail(const char *format, ...) NORETURN PRINTF(1, 2);
static void fail(const char *format, ...)
{
    term_restore();
    va_list args;
    va_start(args, format);
    fprintf(stderr, "%s: ", PROGRAM_NAME);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(EXIT_SETUP_FAILED);
}

static void finish(int status) NORETURN;
static void finish(int status)
{
    term_restore();
    exit(status);
}

static void usage_error(char *message) NORETURN;
static void usage_error(char *message)
{
    fprintf(stderr, "%s: attach: %s\nTry '%s --help'.\n", PROGRAM_NAME, message, PROGRAM_NAME);
    free(message);
    exit(EXIT_SETUP_FAILED);
}

/* The terminal's size, or 0 0 (a fresh pty's size) when there is no terminal. */
static void window_size(int terminal, unsigned *rows, unsigned *cols)
{
    struct winsize ws = {0};
    if (terminal >= 0)
        (void)ioctl(terminal, TIOCGWINSZ, &ws);
    *rows = ws.ws_row;
    *cols = ws.ws_col;
}

/* A failed write means the server closed the connection: the agent ended. */
static void send_bytes(int sock, const unsigned char *buf, size_t n)
{
    if (write_all(sock, buf, n) < 0)
        finish(EXIT_CONNECTION_ENDED);
}

static void send_input(int sock, const unsigned char *buf, size_t n)
{
    unsigned char frame[FRAME_MAX];
    while (n > 0) {
        size_t chunk = n < FRAME_DATA_MAX ? n : FRAME_DATA_MAX;
        send_bytes(sock, frame, encode_data_frame(frame, buf, chunk));
        buf += chunk;
        n -= chunk;
    }
}

static int connect_supervisor(const char *path)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path)
        fail("can't attach: the socket path '%s' is too long", path);
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("can't attach: can't create a socket: %s", strerror(errno));
    while (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (errno == EINTR)
            continue;
        /* No socket, or no one serving it: the supervisor is gone. */
        if (errno == ENOENT || errno == ECONNREFUSED)
            exit(EXIT_CONNECTION_ENDED);
        fail("can't attach: can't connect to '%s': %s", path, strerror(errno));
    }
    return fd;
}

/* Reads the answer line one byte at a time, so that no pty output after it is taken. */
static void read_answer(int sock)
{
    char line[16];
    size_t len = 0;
    for (;;) {
        ssize_t got = read_retry(sock, line + len, 1);
        if (got <= 0)
            exit(EXIT_CONNECTION_ENDED);
        if (line[len] == '\n')
            break;
        if (++len == sizeof line - 1)
            break;
    }
    line[len] = '\0';
    if (strcmp(line, "ok") == 0)
        return;
    if (strcmp(line, "busy") == 0)
        exit(EXIT_BUSY);
    fail("can't attach: the supervisor answered '%s'", line);
}

void run_attach(int argc, char *const argv[])
{
    const char *path = NULL;
    struct detach_keys keys = {.keys = {16, 17}, .n = 2};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--detach-keys") == 0) {
            if (i + 1 >= argc)
                usage_error(xstrdup("option '--detach-keys' needs an argument"));
            char *problem = parse_detach_keys(argv[++i], &keys);
            if (problem != NULL)
                usage_error(problem);
        } else if (argv[i][0] == '-' || path != NULL) {
            usage_error(xasprintf("unexpected argument '%s'", argv[i]));
        } else {
            path = argv[i];
        }
    }
    if (path == NULL || path[0] == '\0')
        usage_error(xstrdup("no SOCKET given"));

    /* Blocked before anything else, so that none is lost before the signalfd. */
    pid_t parent = getppid();
    sigset_t set;
    sigemptyset(&set);
    int signals[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        fail("can't block signals: %s", strerror(errno));
    int sigfd = open_signalfd(&set);
    signal(SIGPIPE, SIG_IGN);
    /* Detached when the launcher that runs us is killed: else we would hold the terminal and
     * the supervisor's one attachment, refusing every other attach, until the terminal goes. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0)
        fail("can't set the parent-death signal: %s", strerror(errno));
    if (getppid() != parent)
        fail("can't attach: the launcher already exited");

    int terminal = find_terminal();
    int sock = connect_supervisor(path);
    unsigned rows, cols;
    window_size(terminal, &rows, &cols);
    unsigned char request[5];
    send_bytes(sock, request, encode_attach_request(request, rows, cols));
    read_answer(sock);

    /* Raw mode: every byte, ^C included, goes to the agent's pty, which does the rest. */
    if (isatty(STDIN_FILENO)) {
        term_save(STDIN_FILENO);
        term_raw();
    }
    for (;;) {
        struct pollfd fds[3] = {
            {.fd = sigfd, .events = POLLIN},
            {.fd = sock, .events = POLLIN},
            {.fd = STDIN_FILENO, .events = POLLIN},
        };
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            fail("can't poll: %s", strerror(errno));
        }
        if (fds[1].revents != 0) {
            unsigned char buf[16384];
            ssize_t got = read_retry(sock, buf, sizeof buf);
            if (got <= 0)
                finish(EXIT_CONNECTION_ENDED);
            /* A closed stdout loses the output, not the session. */
            (void)write_all(STDOUT_FILENO, buf, (size_t)got);
        }
        if (fds[2].revents != 0) {
            unsigned char in[FRAME_DATA_MAX], out[FRAME_DATA_MAX + DETACH_KEYS_MAX];
            ssize_t got = read_retry(STDIN_FILENO, in, sizeof in);
            if (got <= 0) {
                /* End of input (or the terminal hung up): whatever was held is input. */
                send_input(sock, out, detach_flush(&keys, out));
                finish(EXIT_DETACHED);
            }
            bool detached;
            send_input(sock, out, detach_feed(&keys, in, (size_t)got, out, &detached));
            if (detached)
                finish(EXIT_DETACHED);
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo != SIGWINCH)
                    finish(EXIT_DETACHED); /* the agent keeps running */
                unsigned char frame[5];
                window_size(terminal, &rows, &cols);
                send_bytes(sock, frame, encode_winsize_frame(frame, rows, cols));
            }
        }
    }
}
