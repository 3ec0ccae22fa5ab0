#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "mounts.h"
#include "ns.h"
#include "pty.h"
#include "sandbox.h"
#include "signals.h"
#include "status.h"

static void enter_workdir(const struct sandbox *sb)
{
    const char *dir = sb->opts->chdir;
    if (dir != NULL) {
        if (chdir(dir) < 0)
            die_with_error("can't change directory to '%s'", dir);
        return;
    }
    /* Where the user started us, when the sandbox has that path (the repo usually). */
    if (sb->cwd == NULL || chdir(sb->cwd) < 0)
        if (chdir("/") < 0)
            die_with_error("can't change directory to '/'");
}

/* Reaps every child (orphans are reparented to us) and returns when the agent exits. */
static void reap(const struct sandbox *sb, pid_t agent)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG | WUNTRACED)) > 0) {
        if (pid != agent)
            continue;
        if (WIFSTOPPED(status)) {
            /* Job control: the outer gives the terminal back and stops the whole job. */
            if (sb->tty)
                (void)send_msg(sb->ctl, MSG_STOPPED, -1);
            continue;
        }
        /* Our exit takes every other process of the namespace with it. */
        exit(exit_code_from_wait_status(status));
    }
}

static void supervise(struct sandbox *sb, pid_t agent, int sigfd) NORETURN;
static void supervise(struct sandbox *sb, pid_t agent, int sigfd)
{
    /* PID 1 ignores every signal it has no handler for: we take them from the signalfd
     * and pass them on, like tini. */
    for (;;) {
        struct pollfd fds[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = sb->ctl, .events = POLLIN}};
        nfds_t n = sb->ctl >= 0 ? 2 : 1;
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            die_with_error("can't poll");
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                int sig = (int)si.ssi_signo;
                if (sig == SIGCHLD)
                    reap(sb, agent);
                else if (should_forward_signal(sig, si.ssi_code, sb->tty))
                    (void)kill(agent, sig);
            }
        }
        if (n == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            char tag;
            int fd;
            int rc = recv_msg(sb->ctl, &tag, &fd);
            if (fd >= 0)
                close(fd);
            if (rc <= 0) {
                /* The outer is gone; PDEATHSIG is on its way. */
                close(sb->ctl);
                sb->ctl = -1;
            } else if (tag == MSG_CONTINUE) {
                /* The whole stopped group: ^Z stopped the agent's children too. */
                if (kill(-agent, SIGCONT) < 0)
                    (void)kill(agent, SIGCONT);
            }
        }
    }
}

void run_init(struct sandbox *sb)
{
    /* If the outer dies we must die too, and with us the whole PID namespace. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die_with_error("can't set the parent-death signal");
    /* The outer may have died before PDEATHSIG was armed: then the socket says EOF. */
    char tag;
    int fd;
    if (recv_msg(sb->ctl, &tag, &fd) <= 0 || tag != MSG_GO)
        _exit(EXIT_SETUP_FAILED);

    /* Nothing the launcher leaked stays open in the sandbox's PID 1. */
    close_fds_above_stderr(sb->ctl);
    /* A mount namespace of our own, so that pivot_root doesn't move the outer's root. */
    if (unshare(CLONE_NEWNS) < 0)
        die_with_error("can't create mount namespace");
    resolve_sources(sb->opts);
    setup_newroot(sb->opts, &sb->sockets);
    enter_workdir(sb);
    set_hostname(sb->opts->hostname);

    int slave = -1;
    if (sb->tty) {
        /* The pty comes from the sandbox's own devpts; the outer relays its master. */
        int master;
        open_pty_pair(&master, &slave);
        if (send_msg(sb->ctl, MSG_MASTER, master) < 0)
            die_with_error("can't send the pty to the outer process");
        close(master);
    }
    /* Wait until the pty has the user's modes and size, so COMMAND starts with them, and
     * until the launcher has attached the network, in whichever order they come. */
    bool need_ready = sb->tty, need_network = sb->opts->control != NULL;
    while (need_ready || need_network) {
        if (recv_msg(sb->ctl, &tag, &fd) <= 0)
            _exit(EXIT_SETUP_FAILED);
        if (fd >= 0)
            close(fd);
        if (tag == MSG_READY)
            need_ready = false;
        else if (tag == MSG_NETWORK)
            need_network = false;
        else
            _exit(EXIT_SETUP_FAILED);
    }
    if (sb->opts->engine != NULL)
        wait_for_engine(sb, start_engine(sb));
    if (sb->tty) {
        /* A session of ours with the pty as its terminal: ^C, ^Z and resizes on the pty
         * reach the agent's foreground group only, and nothing here holds the user's
         * terminal as controlling terminal any more. */
        if (setsid() < 0)
            die_with_error("can't create a session");
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
            die_with_error("can't make the pty the controlling terminal");
    }

    sigset_t set;
    block_forwarded_signals(&set);
    int sigfd = open_signalfd(&set);

    pid_t agent = fork();
    if (agent < 0)
        die_with_error("can't fork");
    if (agent == 0) {
        if (sb->ctl >= 0)
            close(sb->ctl);
        /* Detached, the launcher's /dev/null and pipes are no one's: the pty is all of the
         * agent's stdin, stdout and stderr. */
        if (sb->opts->detach)
            for (int std = 0; std <= 2; std++)
                if (dup2(slave, std) < 0)
                    die_with_error("can't redirect fd %d to the pty", std);
        run_agent(sb, slave);
    }
    /* The slave stays open here until we exit, so the outer reads the master until the
     * very end without a hangup in between. */
    supervise(sb, agent, sigfd);
}
