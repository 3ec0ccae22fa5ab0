#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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
    char input[RELAY_BUFFER];
    size_t input_len, input_off;
};

static void finish(struct outer *o, int status) NORETURN;
static void finish(struct outer *o, int status)
{
    /* What COMMAND wrote last is still in the pty: pass it on before we go. */
    if (o->master >= 0) {
        char buf[RELAY_BUFFER];
        ssize_t n;
        while ((n = read_retry(o->master, buf, sizeof buf)) > 0)
            if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
                break;
    }
    term_restore();
    exit(exit_code_from_wait_status(status));
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
        if (o->read_stdin)
            term_raw();
        (void)send_msg(o->sb->ctl, MSG_READY, -1);
        return;
    }
    if (fd >= 0)
        close(fd);
    if (tag == MSG_STOPPED) {
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
    term_restore();
    exit(EXIT_SETUP_FAILED);
}

static void relay(struct outer *o) NORETURN;
static void relay(struct outer *o)
{
    for (;;) {
        struct pollfd fds[5];
        nfds_t n = 0;
        int i_sig = -1, i_ctl = -1, i_master = -1, i_stdin = -1, i_control = -1;
        fds[i_sig = (int)n++] = (struct pollfd){.fd = o->sigfd, .events = POLLIN};
        if (o->control >= 0)
            fds[i_control = (int)n++] = (struct pollfd){.fd = o->control, .events = POLLIN};
        if (o->sb->ctl >= 0)
            fds[i_ctl = (int)n++] = (struct pollfd){.fd = o->sb->ctl, .events = POLLIN};
        if (o->master >= 0) {
            short events = POLLIN;
            if (o->input_len > o->input_off)
                events |= POLLOUT;
            fds[i_master = (int)n++] = (struct pollfd){.fd = o->master, .events = events};
            if (o->read_stdin && o->input_len == o->input_off)
                fds[i_stdin = (int)n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        }
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            die_with_error("can't poll");
        }

        if (i_master >= 0 && fds[i_master].revents != 0) {
            short rev = fds[i_master].revents;
            if (rev & (POLLIN | POLLHUP | POLLERR)) {
                char buf[RELAY_BUFFER];
                ssize_t got = read_retry(o->master, buf, sizeof buf);
                if (got > 0) {
                    (void)write_all(STDOUT_FILENO, buf, (size_t)got);
                } else if (got == 0 || errno != EAGAIN) {
                    /* Hangup: init (which holds the slave) is gone; SIGCHLD follows. */
                    close(o->master);
                    o->master = -1;
                }
            }
            if (o->master >= 0 && (rev & POLLOUT)) {
                ssize_t put = write(o->master, o->input + o->input_off, o->input_len - o->input_off);
                if (put > 0)
                    o->input_off += (size_t)put;
            }
        }
        if (i_stdin >= 0 && fds[i_stdin].revents != 0) {
            ssize_t got = read_retry(STDIN_FILENO, o->input, sizeof o->input);
            if (got > 0) {
                o->input_len = (size_t)got;
                o->input_off = 0;
            } else {
                o->read_stdin = false; /* end of input or the terminal hung up */
            }
        }
        if (i_ctl >= 0 && fds[i_ctl].revents != 0)
            on_message(o);
        if (i_control >= 0 && fds[i_control].revents != 0)
            on_control(o);
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

void run_outer(struct options *opts)
{
    struct sandbox sb = {.opts = opts, .ctl = -1};
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
    /* Armed after the id maps: credential changes reset the parent-death signal. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die_with_error("can't set the parent-death signal");
    if (getppid() != parent)
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
    pid_t relay_pid = relays != NULL ? relay_start(relays) : -1;

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
        sb.ctl = sv[1];
        run_init(&sb);
    }
    close(sv[1]);
    sb.ctl = sv[0];

    struct outer *o = xcalloc(1, sizeof *o);
    o->sb = &sb;
    o->init = init;
    o->relay = relay_pid;
    o->control = control;
    o->master = -1;
    o->terminal = terminal;
    o->sigfd = open_signalfd(&set);
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
