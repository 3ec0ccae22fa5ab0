/* The outer process as a sandbox's supervisor: the agent's output log (--log), the state
 * files (--pid-file, --exit-file) and, with --detach, the supervisor socket (--socket) that
 * serves the pty to one attached client at a time and answers status requests
 * (docs/ARCHITECTURE.md §5, "The supervisor"; the protocol is in README.md).
 *
 * The pure parts (log rotation on a given path, frame parsing, reading /proc's syscall and
 * stat lines) are separate functions so that tests/test_supervise.c can check them. */
#ifndef SANDBOX_SUPERVISE_H
#define SANDBOX_SUPERVISE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Bytes on their way to an fd: appended at len, written from off. */
struct bytes {
    unsigned char *buf;
    size_t off, len, cap;
};

static inline size_t bytes_pending(const struct bytes *b)
{
    return b->len - b->off;
}
/* Appends n bytes unless that makes more than limit pending: then false, nothing added. */
bool bytes_push(struct bytes *b, const void *data, size_t n, size_t limit);
/* Forgets the first n pending bytes (written). */
void bytes_drop(struct bytes *b, size_t n);
void bytes_free(struct bytes *b);

/* --log: appends to path; when path would pass max bytes it becomes path.1 (replacing it)
 * and a new path is begun, so the two hold at most 2*max bytes. */
struct output_log {
    char *path;
    char *older; /* path.1 */
    int fd;      /* -1 once writing failed (warned once) */
    unsigned long long max, size;
};

/* Opens (creates, 0600) the log; dies with one line when it can't. */
struct output_log *log_open(const char *path, unsigned long long max);
/* Never fails the sandbox: on an error it warns once and stops logging. */
void log_append(struct output_log *log, const void *data, size_t n);

/* Writes text to path through path.tmp and rename(), so readers see all of it or nothing;
 * -1 with errno. */
int write_file_atomically(const char *path, const char *text);

/* Client -> server frames of an attached client: 'd' + u16 BE length (1..FRAME_DATA_MAX) +
 * bytes for the pty, 'w' + rows u16 BE + cols u16 BE. */
#define FRAME_DATA_MAX 4096
#define FRAME_MAX (3 + FRAME_DATA_MAX)

enum frame_kind { FRAME_INCOMPLETE, FRAME_DATA, FRAME_WINSIZE, FRAME_BAD };

struct frame {
    enum frame_kind kind;
    size_t size;               /* bytes of buf the frame takes */
    const unsigned char *data; /* FRAME_DATA: into buf */
    size_t len;
    unsigned rows, cols; /* FRAME_WINSIZE */
};

/* The frame at the start of buf[0..len); FRAME_INCOMPLETE until all of it is there,
 * FRAME_BAD for an unknown type or a data length out of range. */
enum frame_kind parse_frame(const unsigned char *buf, size_t len, struct frame *out);

/* "waiting": a process blocked in one of these syscalls is waiting for input. */
bool is_input_wait_syscall(long nr);
/* The first field of /proc/PID/syscall: a syscall number (false for "running", or for a
 * process in no syscall, "-1 ..."). */
bool parse_syscall_number(const char *text, long *nr);
/* The process group (field 5) of a /proc/PID/stat line; the name in parentheses may hold
 * anything, so the fields are counted after its last ')'. */
bool parse_stat_pgrp(const char *text, long *pgrp);
/* Whether some process of group pgrp is asleep in an input wait (scans /proc). */
bool group_waits_for_input(pid_t pgrp);

/* How long the terminal must be silent before "waiting" may be said, in ms. */
#define WAITING_IDLE_MS 3000
/* A client whose pending output passes this is disconnected. */
#define CLIENT_MAX_PENDING (1024 * 1024)

struct server;

/* Makes the socket (0600) and listens; dies with one line when it can't. */
struct server *server_listen(const char *path);
/* The pty master, once init has sent it; until then no connection is accepted. */
void server_set_master(struct server *s, int master);
/* Called for every byte the agent writes to its pty. */
void server_output(struct server *s, const void *data, size_t n);
/* Adds the server's fds to fds[*n...] (at most SERVER_MAX_FDS); to_pty_room says whether
 * the attached client's input may be read now. Returns the poll timeout it needs (ms, -1). */
#define SERVER_MAX_FDS 10
int server_poll_add(struct server *s, struct pollfd *fds, nfds_t *n);
/* Handles what poll() said of those fds; bytes for the pty go to to_pty (at most limit pending). */
void server_poll_done(struct server *s, const struct pollfd *fds, struct bytes *to_pty, size_t limit);
/* Parses the attached client's buffered frames while to_pty has room (call after the pty
 * took some input). */
void server_frames(struct server *s, struct bytes *to_pty, size_t limit);
/* The agent ended: gives the client what output remains (bounded by a timeout), closes
 * every connection and removes the socket. */
void server_close(struct server *s);

#endif
