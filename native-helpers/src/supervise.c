#include "supervise.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "utils.h"

/* Connections that have not sent their whole request yet, and how long they may take. */
#define MAX_PENDING 8
#define REQUEST_TIMEOUT_MS 2000
/* How long the last output may take to reach the client when the agent has ended. */
#define FLUSH_TIMEOUT_S 1
/* The most bytes read of a /proc/PID/stat or /proc/PID/syscall file. */
#define PROC_LINE_MAX 1024

bool bytes_push(struct bytes *b, const void *data, size_t n, size_t limit)
{
    if (bytes_pending(b) + n > limit)
        return false;
    if (b->off > 0 && b->len + n > b->cap) {
        memmove(b->buf, b->buf + b->off, bytes_pending(b));
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->buf = xrealloc(b->buf, cap);
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    return true;
}

void bytes_drop(struct bytes *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void bytes_free(struct bytes *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the output log ---- */

static int open_log_file(const char *path, int extra)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | extra, 0600);
}

struct output_log *log_open(const char *path, unsigned long long max)
{
    struct output_log *log = xcalloc(1, sizeof *log);
    log->path = xstrdup(path);
    log->older = xasprintf("%s.1", path);
    log->max = max;
    log->fd = open_log_file(path, 0);
    if (log->fd < 0)
        die_with_error("can't open the log '%s'", path);
    struct stat st;
    if (fstat(log->fd, &st) < 0)
        die_with_error("can't read the size of the log '%s'", path);
    log->size = (unsigned long long)st.st_size;
    return log;
}

static void log_failed(struct output_log *log, const char *what)
{
    warn("can't %s the log '%s': %s; the agent's output is no longer logged", what, log->path, strerror(errno));
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
}

void log_append(struct output_log *log, const void *data, size_t n)
{
    const char *p = data;
    while (log != NULL && log->fd >= 0 && n > 0) {
        if (log->size >= log->max) {
            /* Full: it becomes the older part, replacing the one before. */
            if (rename(log->path, log->older) < 0) {
                log_failed(log, "rotate");
                return;
            }
            close(log->fd);
            log->fd = open_log_file(log->path, O_TRUNC);
            log->size = 0;
            if (log->fd < 0) {
                log_failed(log, "open");
                return;
            }
        }
        unsigned long long room = log->max - log->size;
        size_t chunk = n < room ? n : (size_t)room;
        if (write_all(log->fd, p, chunk) < 0) {
            log_failed(log, "write");
            return;
        }
        log->size += chunk;
        p += chunk;
        n -= chunk;
    }
}

int write_file_atomically(const char *path, const char *text)
{
    cleanup_free char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0)
        return -1;
    if (write_all(fd, text, strlen(text)) < 0) {
        close_preserving_errno(fd);
        (void)unlink(tmp);
        return -1;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        int err = errno;
        (void)unlink(tmp);
        errno = err;
        return -1;
    }
    return 0;
}

/* ---- frames ---- */

static unsigned be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

enum frame_kind parse_frame(const unsigned char *buf, size_t len, struct frame *out)
{
    memset(out, 0, sizeof *out);
    out->kind = FRAME_INCOMPLETE;
    if (len == 0)
        return out->kind;
    if (buf[0] == 'd') {
        if (len < 3)
            return out->kind;
        size_t n = be16(buf + 1);
        if (n == 0 || n > FRAME_DATA_MAX)
            return out->kind = FRAME_BAD;
        if (len < 3 + n)
            return out->kind;
        out->data = buf + 3;
        out->len = n;
        out->size = 3 + n;
        return out->kind = FRAME_DATA;
    }
    if (buf[0] == 'w') {
        if (len < 5)
            return out->kind;
        out->rows = be16(buf + 1);
        out->cols = be16(buf + 3);
        out->size = 5;
        return out->kind = FRAME_WINSIZE;
    }
    return out->kind = FRAME_BAD;
}

/* ---- waiting ---- */

bool is_input_wait_syscall(long nr)
{
    /* Numbers differ between architectures, and some calls exist only on some (aarch64
     * has no read-only select, poll or epoll_wait): each one only where it is defined. */
    static const long waits[] = {
        SYS_read, SYS_readv, SYS_pread64, SYS_pselect6, SYS_ppoll, SYS_epoll_pwait,
#ifdef SYS_select
        SYS_select,
#endif
#ifdef SYS_poll
        SYS_poll,
#endif
#ifdef SYS_epoll_wait
        SYS_epoll_wait,
#endif
#ifdef SYS_epoll_pwait2
        SYS_epoll_pwait2,
#endif
    };
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++)
        if (waits[i] == nr)
            return true;
    return false;
}

bool parse_syscall_number(const char *text, long *nr)
{
    /* "NR ARG1 ... SP PC" while blocked in a syscall, "-1 SP PC" in none, "running". */
    if (*text < '0' || *text > '9')
        return false;
    long n = 0;
    for (; *text >= '0' && *text <= '9'; text++) {
        n = n * 10 + (*text - '0');
        if (n > 1000000)
            return false;
    }
    if (*text != ' ' && *text != '\n' && *text != '\0')
        return false;
    *nr = n;
    return true;
}

bool parse_stat_pgrp(const char *text, long *pgrp)
{
    /* "PID (COMM) STATE PPID PGRP ..." */
    const char *p = strrchr(text, ')');
    if (p == NULL)
        return false;
    p++;
    for (int field = 0; field < 3; field++) {
        if (*p != ' ')
            return false;
        p++;
        if (field < 2)
            p += strcspn(p, " ");
    }
    char *end;
    errno = 0;
    long n = strtol(p, &end, 10);
    if (errno != 0 || end == p || (*end != ' ' && *end != '\0' && *end != '\n'))
        return false;
    *pgrp = n;
    return true;
}

/* The start of a small /proc file, NUL-terminated; false when it can't be read. */
static bool read_proc_line(int dir, const char *name, char *buf, size_t size)
{
    int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return false;
    ssize_t n = read_retry(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}

bool group_waits_for_input(pid_t pgrp)
{
    if (pgrp <= 0)
        return false;
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return false;
    bool waits = false;
    struct dirent *e;
    while (!waits && (e = readdir(proc)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        int dir = openat(dirfd(proc), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
            continue;
        char line[PROC_LINE_MAX];
        long group, nr;
        if (read_proc_line(dir, "stat", line, sizeof line) && parse_stat_pgrp(line, &group) && group == pgrp &&
            read_proc_line(dir, "syscall", line, sizeof line) && parse_syscall_number(line, &nr))
            waits = is_input_wait_syscall(nr);
        close(dir);
    }
    closedir(proc);
    return waits;
}

/* ---- the server ---- */

struct pending {
    int fd;
    unsigned char req[5]; /* 's', or 'a' + rows + cols */
    size_t got;
    long long since;
};

struct server {
    char *path;
    int listen_fd;
    int master;
    long long last_output; /* ms, CLOCK_MONOTONIC */
    struct pending pending[MAX_PENDING];
    size_t n_pending;
    int client; /* the attached one, or -1 */
    unsigned char frame[FRAME_MAX];
    size_t frame_len;
    struct bytes out; /* to the client */
    /* Where server_poll_add put each fd, -1 when it did not. */
    int i_listen, i_client, i_pending[MAX_PENDING];
};

struct server *server_listen(const char *path)
{
    struct server *s = xcalloc(1, sizeof *s);
    s->path = xstrdup(path);
    s->master = -1;
    s->client = -1;
    s->last_output = now_ms();
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        die_with_error("can't create the supervisor socket");
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    /* 0600 from the start: no instant in which another user could connect. */
    mode_t old = umask(0077);
    int rc = bind(s->listen_fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (rc < 0)
        die_with_error("can't make the supervisor socket '%s'", path);
    if (listen(s->listen_fd, 16) < 0)
        die_with_error("can't listen on the supervisor socket '%s'", path);
    return s;
}

void server_set_master(struct server *s, int master)
{
    s->master = master;
}

static void client_drop(struct server *s)
{
    if (s->client >= 0)
        close(s->client);
    s->client = -1;
    s->frame_len = 0;
    bytes_free(&s->out);
}

void server_output(struct server *s, const void *data, size_t n)
{
    s->last_output = now_ms();
    /* A client that does not read is let go, never waited for. */
    if (s->client >= 0 && !bytes_push(&s->out, data, n, CLIENT_MAX_PENDING))
        client_drop(s);
}

static void set_window(int master, unsigned rows, unsigned cols)
{
    if (master < 0 || rows == 0 || cols == 0)
        return;
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    (void)ioctl(master, TIOCSWINSZ, &ws);
}

static void answer_status(struct server *s, int fd)
{
    long long idle = now_ms() - s->last_output;
    bool waiting = false;
    if (idle >= WAITING_IDLE_MS && s->master >= 0)
        waiting = group_waits_for_input(tcgetpgrp(s->master));
    char line[96];
    int n = snprintf(line, sizeof line, "attached=%d waiting=%d idle-ms=%lld\n", s->client >= 0, waiting, idle);
    /* Short enough for any socket buffer: one non-blocking send. */
    (void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void start_attach(struct server *s, int fd, unsigned rows, unsigned cols)
{
    if (s->client >= 0) {
        (void)send(fd, "busy\n", 5, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
        return;
    }
    if (send(fd, "ok\n", 3, MSG_NOSIGNAL | MSG_DONTWAIT) != 3) {
        close(fd);
        return;
    }
    s->client = fd;
    s->frame_len = 0;
    set_window(s->master, rows, cols);
    /* The agent redraws even when the size did not change. */
    pid_t fg = s->master >= 0 ? tcgetpgrp(s->master) : -1;
    if (fg > 0)
        (void)kill(-fg, SIGWINCH);
}

/* A pending connection's request is complete (or wrong): answer it. */
static void pending_done(struct server *s, size_t i)
{
    struct pending *p = &s->pending[i];
    int fd = p->fd;
    if (p->got == 1 && p->req[0] == 's') {
        answer_status(s, fd);
        close(fd);
    } else if (p->got == 5 && p->req[0] == 'a') {
        start_attach(s, fd, be16(p->req + 1), be16(p->req + 3));
    } else {
        close(fd);
    }
    s->pending[i] = s->pending[--s->n_pending];
}

static void pending_read(struct server *s, size_t i)
{
    struct pending *p = &s->pending[i];
    size_t want = p->got > 0 && p->req[0] == 'a' ? 5 : 1;
    ssize_t n = recv(p->fd, p->req + p->got, want - p->got, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        p->got = 0; /* ended before its request: closed */
        pending_done(s, i);
        return;
    }
    p->got += (size_t)n;
    if (p->got == 1 && p->req[0] == 'a')
        return;
    pending_done(s, i);
}

static void accept_one(struct server *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    /* Only the user who started the sandbox (the socket's mode says so too). */
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != getuid()) {
        close(fd);
        return;
    }
    if (s->n_pending == MAX_PENDING) {
        /* The oldest one has had the longest to say what it wants. */
        s->pending[0].got = 0;
        pending_done(s, 0);
    }
    s->pending[s->n_pending++] = (struct pending){.fd = fd, .since = now_ms()};
}

int server_poll_add(struct server *s, struct pollfd *fds, nfds_t *n)
{
    s->i_listen = s->i_client = -1;
    /* Connections wait in the backlog until there is a pty to serve. */
    if (s->master >= 0) {
        s->i_listen = (int)*n;
        fds[(*n)++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
    }
    int timeout = -1;
    long long t = now_ms();
    for (size_t i = 0; i < s->n_pending; i++) {
        s->i_pending[i] = (int)*n;
        fds[(*n)++] = (struct pollfd){.fd = s->pending[i].fd, .events = POLLIN};
        long long left = s->pending[i].since + REQUEST_TIMEOUT_MS - t;
        int ms = left < 0 ? 0 : (int)left + 1;
        if (timeout < 0 || ms < timeout)
            timeout = ms;
    }
    if (s->client >= 0) {
        short events = 0;
        if (s->frame_len < sizeof s->frame)
            events |= POLLIN;
        if (bytes_pending(&s->out) > 0)
            events |= POLLOUT;
        s->i_client = (int)*n;
        fds[(*n)++] = (struct pollfd){.fd = s->client, .events = events};
    }
    return timeout;
}

static void client_ready(struct server *s, short revents, struct bytes *to_pty, size_t limit)
{
    if ((revents & POLLOUT) && bytes_pending(&s->out) > 0) {
        ssize_t put = send(s->client, s->out.buf + s->out.off, bytes_pending(&s->out), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (put > 0) {
            bytes_drop(&s->out, (size_t)put);
        } else if (put < 0 && errno != EAGAIN && errno != EINTR) {
            client_drop(s);
            return;
        }
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && s->frame_len < sizeof s->frame) {
        ssize_t got = recv(s->client, s->frame + s->frame_len, sizeof s->frame - s->frame_len, MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
            /* Detached: the agent keeps running. */
            client_drop(s);
            return;
        }
        if (got > 0)
            s->frame_len += (size_t)got;
    }
    server_frames(s, to_pty, limit);
}

void server_frames(struct server *s, struct bytes *to_pty, size_t limit)
{
    size_t used = 0;
    while (s->client >= 0) {
        struct frame f;
        enum frame_kind kind = parse_frame(s->frame + used, s->frame_len - used, &f);
        if (kind == FRAME_INCOMPLETE)
            break;
        if (kind == FRAME_BAD) {
            client_drop(s);
            return;
        }
        if (kind == FRAME_DATA && !bytes_push(to_pty, f.data, f.len, limit))
            break; /* the pty has not taken the last input yet */
        if (kind == FRAME_WINSIZE)
            set_window(s->master, f.rows, f.cols); /* the kernel signals the agent */
        used += f.size;
    }
    if (used > 0) {
        memmove(s->frame, s->frame + used, s->frame_len - used);
        s->frame_len -= used;
    }
}

void server_poll_done(struct server *s, const struct pollfd *fds, struct bytes *to_pty, size_t limit)
{
    if (s->i_client >= 0 && fds[s->i_client].revents != 0)
        client_ready(s, fds[s->i_client].revents, to_pty, limit);
    /* Backwards: pending_done moves the last entry into the one answered. */
    size_t polled = s->n_pending;
    long long t = now_ms();
    for (size_t i = polled; i-- > 0;) {
        if (fds[s->i_pending[i]].revents != 0)
            pending_read(s, i);
        else if (t - s->pending[i].since >= REQUEST_TIMEOUT_MS) {
            s->pending[i].got = 0;
            pending_done(s, i);
        }
    }
    if (s->i_listen >= 0 && (fds[s->i_listen].revents & POLLIN))
        accept_one(s);
}

void server_close(struct server *s)
{
    if (s == NULL)
        return;
    if (s->client >= 0 && bytes_pending(&s->out) > 0) {
        /* What the agent wrote last, unless the client can't take it within the timeout. */
        struct timeval limit = {.tv_sec = FLUSH_TIMEOUT_S};
        (void)setsockopt(s->client, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        int flags = fcntl(s->client, F_GETFL);
        if (flags >= 0)
            (void)fcntl(s->client, F_SETFL, flags & ~O_NONBLOCK);
        (void)write_all(s->client, s->out.buf + s->out.off, bytes_pending(&s->out));
    }
    client_drop(s);
    while (s->n_pending > 0) {
        s->pending[0].got = 0;
        pending_done(s, 0);
    }
    close(s->listen_fd);
    (void)unlink(s->path);
}
