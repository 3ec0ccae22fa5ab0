#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ns.h"
#include "pty.h"
#include "relay.h"
#include "sandbox.h"
#include "signals.h"
#include "status.h"
#include "supervise.h"

#define RELAY_BUFFER 16384

struct outer {
    struct sandbox *sb;
    pid_t init;
    pid_t relay;     /* -1 when there is none */
    int control;     /* the launcher's socket until it says go, else -1 */
    int sigfd;
    int terminal;    /* the user's terminal (for its modes and size), or -1 */
    bool read_stdin; /* stdin is that terminal and the pty gets what the user types */
    int master;      /* -1 until init sends it, and again after a hangup */
    struct bytes input; /* for the pty: what the user typed, or the attached client sent */
    int output;      /* without a pty, with --log: the agent's stdout and stderr, or -1 */
    struct output_log *log;   /* --log, or NULL */
    struct server *server;    /* --socket, or NULL */
    bool announce;   /* --detach: "started" is still to be said */
};

/* Where the agent's output goes: our stdout (a terminal, or the launcher's pipe or file;
 * detached: nowhere, it is /dev/null), the log, the attached client. */
static void pass_output(struct outer *o, const char *buf, size_t n)
{
    if (!o->sb->opts->detach)
        (void)write_all(STDOUT_FILENO, buf, n);
    log_append(o->log, buf, n);
    if (o->server != NULL)
        server_output(o->server, buf, n);
}

/* One read of fd (non-blocking), passed on; false at its end (or an error). */
static bool pass_some(struct outer *o, int fd)
{
    char buf[RELAY_BUFFER];
    ssize_t got = read_retry(fd, buf, sizeof buf);
    if (got > 0)
        pass_output(o, buf, (size_t)got);
    return got > 0 || (got < 0 && errno == EAGAIN);
}

/* Everything fd has now. */
static void drain(struct outer *o, int fd)
{
    char buf[RELAY_BUFFER];
    ssize_t got;
    while ((got = read_retry(fd, buf, sizeof buf)) > 0)
        pass_output(o, buf, (size_t)got);
}

/* The one whose exit_at_exit() runs (set once init is forked: init inherits no handler). */
static struct outer *exiting;
static bool exit_written;

static void write_exit_file(const struct outer *o, int code)
{
    const char *path = o->sb->opts->exit_file;
    exit_written = true;
    char text[16];
    snprintf(text, sizeof text, "%d\n", code);
    if (path != NULL && write_file_atomically(path, text) < 0)
        warn("can't write the exit file '%s': %s", path, strerror(errno));
}

/* die() on an unexpected error once the sandbox exists: the helper's own failure, 125, and
 * no stale socket. */
static void exit_at_exit(void)
{
    if (exiting == NULL || exit_written)
        return;
    write_exit_file(exiting, EXIT_SETUP_FAILED);
    server_close(exiting->server);
}

static void finish(struct outer *o, int status) NORETURN;
static void finish(struct outer *o, int status)
{
    /* What COMMAND wrote last is still in the pty or the pipe: pass it on before we go. */
    if (o->master >= 0)
        drain(o, o->master);
    if (o->output >= 0)
        drain(o, o->output);
    int code = exit_code_from_wait_status(status);
    write_exit_file(o, code);
    server_close(o->server);
    term_restore();
    exit(code);
}

/* --detach: once the agent runs (init has the pty's modes, and the launcher said go), the
 * launcher learns it from our stdout and stops waiting; stdin and stdout are no one's then. */
static void maybe_announce(struct outer *o)
{
    if (!o->announce || o->master < 0 || o->control >= 0)
        return;
    o->announce = false;
    (void)write_all(STDOUT_FILENO, "started\n", 8);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
        die_with_error("can't point stdin and stdout at /dev/null");
    close(null);
}

/* Back in the foreground (or first time): raw mode, current size, agent running. */
static void resume(struct outer *o)
{
    if (o->master < 0)
        return;
    if (o->read_stdin)
        term_raw();
    copy_window_size(o->terminal, o->master);
    (void)send_msg(o->sb->ctl, MSG_CONTINUE, -1);
}

static void on_signal(struct outer *o, const struct signalfd_siginfo *si)
{
    int sig = (int)si->ssi_signo;
    if (sig == SIGCHLD) {
        int status;
        if (o->relay > 0 && waitpid(o->relay, &status, WNOHANG) == o->relay) {
            /* Only a bug ends it early; the sandbox goes on without its published ports. */
            warn("the port relay ended unexpectedly (%s %d); published ports are closed",
                 WIFSIGNALED(status) ? "signal" : "status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            o->relay = -1;
        }
        if (waitpid(o->init, &status, WNOHANG) == o->init)
            finish(o, status);
        return;
    }
    if (o->sb->tty && sig == SIGWINCH) {
        /* The pty tells the agent itself, as a terminal does. */
        if (o->master >= 0)
            copy_window_size(o->terminal, o->master);
        return;
    }
    if (o->sb->tty && sig == SIGCONT) {
        resume(o);
        return;
    }
    if (should_forward_signal(sig, si->ssi_code, o->sb->tty))
        (void)kill(o->init, sig);
}

static void on_message(struct outer *o)
{
    char tag;
    int fd;
    int rc = recv_msg(o->sb->ctl, &tag, &fd);
    if (rc <= 0) {
        /* init is gone (its status comes with SIGCHLD) or failed before the pty. */
        close(o->sb->ctl);
        o->sb->ctl = -1;
        return;
    }
    if (tag == MSG_MASTER && fd >= 0 && o->master < 0) {
        o->master = fd;
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
            die_with_error("can't make the pty non-blocking");
        term_copy_modes(fd);
        copy_window_size(o->terminal, fd);
        if (o->terminal < 0 && o->sb->opts->detach) {
            /* Until a client says its size: programs misbehave with 0 columns. */
            struct winsize ws = {.ws_row = 24, .ws_col = 80};
            (void)ioctl(fd, TIOCSWINSZ, &ws);
        }
        if (o->server != NULL)
            server_set_master(o->server, fd);
        if (o->read_stdin)
            term_raw();
        (void)send_msg(o->sb->ctl, MSG_READY, -1);
        return;
    }
    if (fd >= 0)
        close(fd);
    if (tag == MSG_STOPPED && o->sb->opts->detach) {
        /* ^Z from a client: no shell of ours takes the job over, so it goes on at once. */
        (void)send_msg(o->sb->ctl, MSG_CONTINUE, -1);
    } else if (tag == MSG_STOPPED) {
        /* Ctrl-Z in the pty: give the user the terminal back and stop the whole job
         * (launcher included) as the shell expects; SIGTSTP is at its default here. */
        term_restore();
        (void)kill(0, SIGTSTP);
        /* Continued (or never stopped, in an orphaned process group). */
        resume(o);
    }
}

/* The launcher's answer to our report: "go" once it has attached the network. Anything else
 * (it failed and said why itself) ends the sandbox before the agent starts. */
static void on_control(struct outer *o)
{
    char answer[16];
    ssize_t got = read_retry(o->control, answer, sizeof answer);
    close(o->control);
    o->control = -1;
    if (got == 3 && memcmp(answer, "go\n", 3) == 0) {
        if (send_msg(o->sb->ctl, MSG_NETWORK, -1) < 0)
            die_with_error("can't tell init to start");
        return;
    }
    (void)kill(o->init, SIGKILL);
    write_exit_file(o, EXIT_SETUP_FAILED);
    server_close(o->server);
    term_restore();
    exit(EXIT_SETUP_FAILED);
}

static void relay(struct outer *o) NORETURN;
static void relay(struct outer *o)
{
    for (;;) {
        struct pollfd fds[6 + SERVER_MAX_FDS];
        nfds_t n = 0;
        int i_sig = -1, i_ctl = -1, i_master = -1, i_stdin = -1, i_control = -1, i_output = -1;
        fds[i_sig = (int)n++] = (struct pollfd){.fd = o->sigfd, .events = POLLIN};
        if (o->control >= 0)
            fds[i_control = (int)n++] = (struct pollfd){.fd = o->control, .events = POLLIN};
        if (o->sb->ctl >= 0)
            fds[i_ctl = (int)n++] = (struct pollfd){.fd = o->sb->ctl, .events = POLLIN};
        if (o->output >= 0)
            fds[i_output = (int)n++] = (struct pollfd){.fd = o->output, .events = POLLIN};
        if (o->master >= 0) {
            short events = POLLIN;
            if (bytes_pending(&o->input) > 0)
                events |= POLLOUT;
            fds[i_master = (int)n++] = (struct pollfd){.fd = o->master, .events = events};
            if (o->read_stdin && bytes_pending(&o->input) == 0)
                fds[i_stdin = (int)n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        }
        int timeout = o->server != NULL ? server_poll_add(o->server, fds, &n) : -1;
        if (poll(fds, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            die_with_error("can't poll");
        }

        if (i_master >= 0 && fds[i_master].revents != 0) {
            short rev = fds[i_master].revents;
            if ((rev & (POLLIN | POLLHUP | POLLERR)) && !pass_some(o, o->master)) {
                /* Hangup: init (which holds the slave) is gone; SIGCHLD follows. */
                close(o->master);
                o->master = -1;
                if (o->server != NULL)
                    server_set_master(o->server, -1);
            }
            if (o->master >= 0 && (rev & POLLOUT)) {
                ssize_t put = write(o->master, o->input.buf + o->input.off, bytes_pending(&o->input));
                if (put > 0)
                    bytes_drop(&o->input, (size_t)put);
                if (o->server != NULL)
                    server_frames(o->server, &o->input, RELAY_BUFFER);
            }
        }
        if (i_output >= 0 && fds[i_output].revents != 0 && !pass_some(o, o->output)) {
            close(o->output); /* the agent and everything it started closed it */
            o->output = -1;
        }
        if (i_stdin >= 0 && fds[i_stdin].revents != 0) {
            char buf[RELAY_BUFFER];
            ssize_t got = read_retry(STDIN_FILENO, buf, sizeof buf);
            if (got > 0)
                (void)bytes_push(&o->input, buf, (size_t)got, RELAY_BUFFER);
            else
                o->read_stdin = false; /* end of input or the terminal hung up */
        }
        if (o->server != NULL)
            server_poll_done(o->server, fds, &o->input, RELAY_BUFFER);
        if (i_ctl >= 0 && fds[i_ctl].revents != 0)
            on_message(o);
        if (i_control >= 0 && fds[i_control].revents != 0)
            on_control(o);
        maybe_announce(o);
        if (fds[i_sig].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(o->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
                on_signal(o, &si);
        }
    }
}

static int connect_control(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die_with_error("can't create a socket for '%s'", path);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die_with_error("can't connect to the launcher's socket '%s'", path);
    return fd;
}

/* Tells the launcher where to attach the network and which host ports it got. */
static void report(int control, const struct options *opts, const struct relay *relay)
{
    cleanup_free char *text = xasprintf("pid %d\n", (int)getpid());
    for (size_t i = 0; i < opts->n_publish; i++) {
        char *more = xasprintf("%spublish %s %u %u\n", text, opts->publish[i].udp ? "udp" : "tcp",
                               opts->publish[i].port, relay_host_port(relay, i));
        free(text);
        text = more;
    }
    char *done = xstrconcat(text, "ready\n");
    free(text);
    text = done;
    if (write_all(control, text, strlen(text)) < 0)
        die_with_error("can't report to the launcher");
}

/* --lock: taken before anything else, held until we exit (init and the relay close their
 * copies); -1 when not asked for. An open file description lock (fcntl(2), F_OFD_SETLK):
 * it goes with the descriptor like flock's, and, unlike flock's, another process can test
 * it with F_OFD_GETLK without taking it, so that `sandbox list` never makes a start fail
 * by probing at the wrong moment; it also conflicts with the launcher's fcntl locks. */
static int take_lock(const char *path)
{
    if (path == NULL)
        return -1;
    int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0)
        die_with_error("can't open the lock file '%s'", path);
    struct flock whole = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_SETLK, &whole) < 0) {
        if (errno == EAGAIN || errno == EACCES)
            die("can't start the sandbox: it is already running");
        die_with_error("can't lock '%s'", path);
    }
    return fd;
}

void run_outer(struct options *opts)
{
    struct sandbox sb = {.opts = opts, .ctl = -1};
    /* Detached, we are the sandbox's supervisor: a session of our own (no terminal's
     * hangup reaches us) and no parent-death signal, so the launcher may exit. */
    if (opts->detach && getsid(0) != getpid() && setsid() < 0)
        die_with_error("can't start a session of our own");
    int lock = take_lock(opts->lock);
    int terminal = find_terminal();
    sb.tty = opts->tty == TTY_ALWAYS || (opts->tty == TTY_AUTO && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO));
    char *cwd = getcwd(NULL, 0);
    sb.cwd = cwd;
    uid_t uid = getuid();
    gid_t gid = getgid();
    pid_t parent = getppid();

    /* Blocked from now on, so that none is lost before the signalfds exist. */
    sigset_t set;
    block_forwarded_signals(&set);

    /* Host ports first: one in use is an error before anything else happens. */
    struct relay *relays = relay_bind_host(opts);

    /* The host's socket paths, while /proc/self/net is still the host's; init covers
     * the visible ones once it has built the root. */
    read_host_sockets(&sb.sockets);
    enter_namespaces(opts->net == NET_NONE, uid, gid, opts->have_subids ? &opts->subids : NULL);
    /* Armed after the id maps: credential changes reset the parent-death signal. Detached,
     * only with --die-with-parent (bubblewrap's name): a launcher that stays to hold the
     * sandbox's network, which would be gone with it. */
    bool die_with_parent = !opts->detach || opts->die_with_parent;
    if (die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die_with_error("can't set the parent-death signal");
    if (die_with_parent && getppid() != parent)
        die("can't start the sandbox: the parent process already exited");
    /* A fresh network namespace has lo down; programs expect 127.0.0.1 to work. */
    if (opts->net == NET_NONE)
        bring_up_loopback();
    /* Who holds what: the host's side of --publish was bound above, in the host's network
     * namespace; the sandbox's side of --forward and, with --dns-nxdomain, the resolver's
     * 127.0.0.1:53 are bound here, where we still have every capability in the sandbox's
     * namespaces (port 53 needs CAP_NET_BIND_SERVICE). The relay gets all of them and drops
     * every capability; we close our copies below, so init and the agent hold none. */
    relay_listen_inside(relays, opts);
    pid_t relay_pid = relays != NULL ? relay_start(relays, lock) : -1;
    /* Made after the relay's fork, so that only we hold them (init closes its copies). */
    struct server *server = opts->socket != NULL ? server_listen(opts->socket) : NULL;
    struct output_log *log = opts->log != NULL ? log_open(opts->log, opts->log_max) : NULL;
    /* Without a pty, the agent's output reaches the log through a pipe of ours. */
    int output[2] = {-1, -1};
    if (opts->log != NULL && !sb.tty && pipe2(output, O_CLOEXEC) < 0)
        die_with_error("can't create a pipe for the log");

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die_with_error("can't create socketpair");
    int control = opts->control != NULL ? connect_control(opts->control) : -1;
    if (control >= 0)
        report(control, opts, relays);
    relay_close(relays);
    enter_pid_namespace();

    /* The first child of the new PID namespace is its init. */
    pid_t init = fork();
    if (init < 0)
        die_with_error("can't fork");
    if (init == 0) {
        close(sv[0]);
        if (control >= 0)
            close(control);
        /* init's own messages go there too, as when the launcher redirected our output. */
        if (output[1] >= 0 && (dup2(output[1], STDOUT_FILENO) < 0 || dup2(output[1], STDERR_FILENO) < 0))
            die_with_error("can't send the output to the log");
        sb.ctl = sv[1];
        run_init(&sb); /* closes the lock, the socket and the pipe (fds above 2) */
    }
    close(sv[1]);
    sb.ctl = sv[0];
    if (output[1] >= 0) {
        close(output[1]);
        if (fcntl(output[0], F_SETFL, O_NONBLOCK) < 0)
            die_with_error("can't make the log's pipe non-blocking");
    }
    if (opts->pid_file != NULL) {
        cleanup_free char *pids = xasprintf("%d %d\n", (int)getpid(), (int)init);
        if (write_file_atomically(opts->pid_file, pids) < 0) {
            (void)kill(init, SIGKILL);
            die_with_error("can't write the pid file '%s'", opts->pid_file);
        }
    }

    struct outer *o = xcalloc(1, sizeof *o);
    o->sb = &sb;
    o->init = init;
    o->relay = relay_pid;
    o->control = control;
    o->master = -1;
    o->output = output[0];
    o->log = log;
    o->server = server;
    o->announce = opts->detach;
    o->terminal = terminal;
    o->sigfd = open_signalfd(&set);
    exiting = o;
    atexit(exit_at_exit);
    /* A closed stdout must not kill us before we report init's status. */
    signal(SIGPIPE, SIG_IGN);
    if (sb.tty) {
        o->read_stdin = isatty(STDIN_FILENO);
        if (terminal >= 0)
            term_save(terminal);
    }
    if (send_msg(sb.ctl, MSG_GO, -1) < 0)
        die_with_error("can't start init");
    relay(o);
}
