#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "ns.h"
#include "options.h"
#include "pty.h"
#include "signals.h"
#include "status.h"

const char exec_usage_text[] =
    "\n"
    "Usage: " PROGRAM_NAME " exec OUTER INIT [--tty] [--stdin] -- COMMAND [ARG]...\n"
    "Run COMMAND in the running sandbox whose outer process is OUTER and whose init is\n"
    "INIT (host pids): in its namespaces, root, working directory and environment, with\n"
    "the agent's capabilities, no_new_privs and seccomp filters.\n"
    "  --tty                           a new pty from the sandbox's devpts, relayed\n"
    "  --stdin                         COMMAND reads stdin (else /dev/null)\n"
    "Exit status: as above; 125 also when the sandbox is not running.\n";

#define NOT_RUNNING "can't exec in the sandbox: it is not running"

static bool parse_pid(const char *s, pid_t *out)
{
    long n = 0;
    if (*s < '1' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        n = n * 10 + (*s - '0');
        if (n > 0x3fffffff)
            return false;
    }
    *out = (pid_t)n;
    return *s == '\0';
}

char *parse_exec_args(int argc, char *const argv[], struct exec_args *out)
{
    memset(out, 0, sizeof *out);
    int pids = 0;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--tty") == 0)
            out->tty = true;
        else if (strcmp(argv[i], "--stdin") == 0)
            out->input = true;
        else if (argv[i][0] != '-' && pids < 2 && parse_pid(argv[i], pids == 0 ? &out->outer : &out->init))
            pids++;
        else if (pids == 2 && argv[i][0] != '-')
            return xstrdup("'--' must come before COMMAND");
        else
            return xasprintf("unexpected argument '%s'", argv[i]);
    }
    if (pids < 2)
        return xstrdup("OUTER and INIT must be process ids");
    if (i >= argc)
        return xstrdup("'--' must come before COMMAND");
    if (i + 1 >= argc)
        return xstrdup("no COMMAND given");
    out->command = argv + i + 1;
    return NULL;
}

char **split_nul(char *buf, size_t len, size_t *count)
{
    buf[len] = '\0';
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            n++;
    if (len > 0 && buf[len - 1] != '\0')
        n++;
    char **list = xcalloc(n + 1, sizeof *list);
    size_t k = 0;
    for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
        list[k++] = buf + i;
    *count = k;
    return list;
}

pid_t stat_ppid(const char *stat)
{
    /* "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so the fields
     * start after the last ')'. */
    const char *p = strrchr(stat, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
        return -1;
    pid_t ppid;
    char *end;
    long n = strtol(p + 4, &end, 10);
    if (end == p + 4 || *end != ' ' || n < 0)
        return -1;
    ppid = (pid_t)n;
    return ppid;
}

/* A whole /proc file of at most max bytes (+1 for split_nul), *len its size. Dies, as not
 * running, when it can't be read: the process is gone, or it is not ours. */
static char *read_proc(pid_t pid, const char *name, size_t max, size_t *len)
{
    cleanup_free char *path = xasprintf("/proc/%d/%s", (int)pid, name);
    cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        die(NOT_RUNNING);
    cleanup_free char *buf = xmalloc(max + 2);
    size_t got = 0;
    for (;;) {
        ssize_t n = read_retry(fd, buf + got, max + 1 - got);
        if (n < 0)
            die(NOT_RUNNING);
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > max)
            die("can't exec in the sandbox: '%s' is larger than %zu bytes", path, max);
    }
    buf[got] = '\0';
    *len = got;
    return steal_pointer(&buf);
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* INIT is OUTER's child and OUTER runs this very helper: then the pids are a sandbox's.
 * INIT's pid namespace must not be OUTER's: the relay is OUTER's child too, but lives in the
 * host's mount and pid namespaces. */
static void check_running(const struct exec_args *args)
{
    size_t len;
    cleanup_free char *init_stat = read_proc(args->init, "stat", 4096, &len);
    cleanup_free char *exe = xasprintf("/proc/%d/exe", (int)args->outer);
    cleanup_free char *init_pid_ns = xasprintf("/proc/%d/ns/pid", (int)args->init);
    cleanup_free char *outer_pid_ns = xasprintf("/proc/%d/ns/pid", (int)args->outer);
    if (stat_ppid(init_stat) != args->outer || !same_file(exe, "/proc/self/exe") ||
        same_file(init_pid_ns, outer_pid_ns))
        die(NOT_RUNNING);
    /* Root could enter a user's sandbox, but only as an unmapped uid (nobody) that no file
     * there fits: refused, as a user can't enter root's. */
    cleanup_free char *dir = xasprintf("/proc/%d", (int)args->outer);
    struct stat st;
    if (stat(dir, &st) < 0)
        die(NOT_RUNNING);
    if (st.st_uid != getuid())
        die("can't exec in the sandbox: it belongs to another user");
}

/* The namespaces to enter, the user namespace first: it gives the capabilities that
 * entering the others needs (setns(2), nsenter(1)). */
static const struct {
    const char *name;
    int type;
} namespaces[] = {
    {"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID},
    {"net", CLONE_NEWNET},   {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC},
};
#define N_NAMESPACES (sizeof namespaces / sizeof namespaces[0])

/* Opens INIT's namespaces; -1 for one that is already ours (--net host's network: entering
 * it again would need capabilities in the host's user namespace, and changes nothing). */
static void open_namespaces(pid_t init, int fds[N_NAMESPACES])
{
    for (size_t i = 0; i < N_NAMESPACES; i++) {
        cleanup_free char *path = xasprintf("/proc/%d/ns/%s", (int)init, namespaces[i].name);
        cleanup_free char *own = xasprintf("/proc/self/ns/%s", namespaces[i].name);
        fds[i] = -1;
        if (same_file(path, own))
            continue;
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            die(NOT_RUNNING);
    }
}

static void enter_sandbox(int fds[N_NAMESPACES], int root, const char *cwd)
{
    for (size_t i = 0; i < N_NAMESPACES; i++) {
        if (fds[i] < 0)
            continue;
        if (setns(fds[i], namespaces[i].type) < 0)
            die_with_error("can't enter the sandbox's %s namespace", namespaces[i].name);
        close(fds[i]);
    }
    /* The mount namespace's root is where it was before init's pivot_root; init's root is
     * the sandbox's (nsenter --root does the same). */
    if (fchdir(root) < 0 || chroot(".") < 0)
        die_with_error("can't enter the sandbox's root");
    close(root);
    if (chdir(cwd) < 0 && chdir("/") < 0)
        die_with_error("can't change directory to '/'");
}

/* The agent's environment, before its --setenv/--unsetenv operations (become_agent's):
 * the outer's, which init and the agent inherited. */
static void set_base_environment(char **environ_list)
{
    if (clearenv() != 0)
        die("can't clear the environment");
    for (char **e = environ_list; *e != NULL; e++)
        if (strchr(*e, '=') != NULL && **e != '=' && putenv(*e) != 0)
            die_with_error("can't set the environment");
}

/* One direction of the relay: bytes read from `from` are written to `to`. Towards the
 * sandbox (to_sandbox) `to` is ours and non-blocking, so a command that doesn't read its
 * input can't stop its output from flowing; towards the user `to` is the caller's fd,
 * shared with its shell, so it stays as it is and the write blocks. */
struct channel {
    int from, to;
    bool to_sandbox;
    bool close_to_at_eof; /* a pipe: its end is the command's end of input */
    char buf[16384];
    size_t len, off;
};

static void channel_read(struct channel *c)
{
    ssize_t got = read_retry(c->from, c->buf, sizeof c->buf);
    if (got > 0 && !c->to_sandbox) {
        (void)write_all(c->to, c->buf, (size_t)got);
        return;
    }
    if (got > 0) {
        c->len = (size_t)got;
        c->off = 0;
        return;
    }
    if (got < 0 && errno == EAGAIN)
        return;
    /* End of file, or EIO from a pty master whose slave is closed everywhere. */
    if (c->close_to_at_eof && c->to >= 0)
        close(c->to);
    c->from = -1;
    if (c->close_to_at_eof)
        c->to = -1;
}

static void channel_write(struct channel *c)
{
    ssize_t put = write(c->to, c->buf + c->off, c->len - c->off);
    if (put > 0)
        c->off += (size_t)put;
    else if (put < 0 && errno != EAGAIN && errno != EINTR)
        c->from = -1; /* the command closed its input: drop the rest */
}

struct relay_state {
    pid_t child;
    int sigfd;
    int terminal; /* the user's terminal with --tty, else -1 */
    int master;   /* --tty, else -1 */
    struct channel chans[3];
    size_t n_chans;
};

static void finish(struct relay_state *r, int status) NORETURN;
static void finish(struct relay_state *r, int status)
{
    /* What the command wrote last is still in the pipe or the pty. */
    for (size_t i = 0; i < r->n_chans; i++)
        while (!r->chans[i].to_sandbox && r->chans[i].from >= 0) {
            ssize_t got = read_retry(r->chans[i].from, r->chans[i].buf, sizeof r->chans[i].buf);
            if (got <= 0)
                break;
            (void)write_all(r->chans[i].to, r->chans[i].buf, (size_t)got);
        }
    term_restore();
    exit(exit_code_from_wait_status(status));
}

static void relay(struct relay_state *r) NORETURN;
static void relay(struct relay_state *r)
{
    for (;;) {
        struct pollfd fds[1 + 3];
        fds[0] = (struct pollfd){.fd = r->sigfd, .events = POLLIN};
        for (size_t i = 0; i < r->n_chans; i++) {
            struct channel *c = &r->chans[i];
            fds[1 + i] = (struct pollfd){.fd = -1};
            if (c->from < 0)
                continue;
            if (c->len > c->off)
                fds[1 + i] = (struct pollfd){.fd = c->to, .events = POLLOUT};
            else
                fds[1 + i] = (struct pollfd){.fd = c->from, .events = POLLIN};
        }
        if (poll(fds, 1 + r->n_chans, -1) < 0) {
            if (errno == EINTR)
                continue;
            die_with_error("can't poll");
        }
        for (size_t i = 0; i < r->n_chans; i++) {
            struct channel *c = &r->chans[i];
            if (fds[1 + i].fd < 0 || fds[1 + i].revents == 0)
                continue;
            if (c->len > c->off)
                channel_write(c);
            else
                channel_read(c);
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(r->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                int sig = (int)si.ssi_signo;
                int status;
                if (sig == SIGCHLD) {
                    if (waitpid(r->child, &status, WNOHANG) == r->child)
                        finish(r, status);
                } else if (sig == SIGWINCH) {
                    if (r->master >= 0)
                        copy_window_size(r->terminal, r->master);
                } else {
                    /* The command has a session of its own, so nothing reached it yet. */
                    (void)kill(r->child, sig);
                }
            }
        }
    }
}

static void make_nonblocking(int fd)
{
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        die_with_error("can't make a relay fd non-blocking");
}

/* fds[0..2] become the command's stdin, stdout, stderr: pipes we relay, never the caller's
 * own descriptors. The command is within the agent's reach (same user, same pid namespace:
 * the agent may open /proc/PID/fd/N of it), so a caller's file given as is would be the
 * agent's too, reopened with whatever mode the file allows (an append-only redirect read and
 * rewritten), and a caller's pipe held open by the agent would never end the user's pipeline;
 * a terminal takes TIOCSTI-like ioctls and reaches the host's session. Our ends of the pipes
 * are out of its reach, and we stop relaying when the command ends, whoever holds the rest. */
static void plain_stdio(const struct exec_args *args, struct relay_state *r, int fds[3])
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fd == 0 && !args->input) {
            fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fds[0] < 0)
                die_with_error("can't open '/dev/null'");
            continue;
        }
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            die_with_error("can't create a pipe");
        struct channel *c = &r->chans[r->n_chans++];
        memset(c, 0, sizeof *c);
        if (fd == 0) {
            *c = (struct channel){.from = 0, .to = p[1], .to_sandbox = true, .close_to_at_eof = true};
            make_nonblocking(p[1]);
            fds[0] = p[0];
        } else {
            *c = (struct channel){.from = p[0], .to = fd};
            make_nonblocking(p[0]);
            fds[fd] = p[1];
        }
    }
}

void run_exec(int argc, char *const argv[])
{
    struct exec_args args;
    char *problem = parse_exec_args(argc, argv, &args);
    if (problem != NULL) {
        fprintf(stderr, "%s: exec: %s\nTry '%s --help'.\n", PROGRAM_NAME, problem, PROGRAM_NAME);
        free(problem);
        exit(EXIT_SETUP_FAILED);
    }

    /* Everything of the sandbox is opened first, then checked: a pid reused in between
     * fails the check instead of leading us into a stranger's namespaces. */
    int ns[N_NAMESPACES];
    open_namespaces(args.init, ns);
    cleanup_free char *root_path = xasprintf("/proc/%d/root", (int)args.init);
    int root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        die(NOT_RUNNING);
    check_running(&args);

    /* The agent's settings, from the outer's own argv and environment. */
    size_t env_len, cmd_len, n_env, n_cmd;
    char *env_text = read_proc(args.outer, "environ", ENVIRON_MAX, &env_len);
    char *cmd_text = read_proc(args.outer, "cmdline", CMDLINE_MAX, &cmd_len);
    char **env_list = split_nul(env_text, env_len, &n_env);
    char **cmd_list = split_nul(cmd_text, cmd_len, &n_cmd);
    struct options opts;
    char *error = NULL;
    if (parse_options((int)n_cmd, cmd_list, &opts, &error) != PARSE_RUN)
        die("can't exec in the sandbox: can't read its options: %s", error != NULL ? error : "no command");
    /* Where init put the agent: --chdir, else the outer's cwd (see init.c). */
    char outer_cwd[4096] = "/";
    const char *cwd = opts.chdir;
    if (cwd == NULL) {
        cleanup_free char *link = xasprintf("/proc/%d/cwd", (int)args.outer);
        ssize_t n = readlink(link, outer_cwd, sizeof outer_cwd - 1);
        outer_cwd[n > 0 ? n : 0] = '\0';
        cwd = outer_cwd[0] == '/' ? outer_cwd : "/";
    }
    set_base_environment(env_list);

    /* Blocked from now on, so that none is lost before the signalfd exists. */
    sigset_t set;
    sigemptyset(&set);
    int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGCHLD};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        die_with_error("can't block signals");
    signal(SIGPIPE, SIG_IGN);

    pid_t parent = getppid();
    enter_sandbox(ns, root, cwd);
    /* Armed after joining the user namespace, which resets it: killed with the launcher that
     * runs us, we pass SIGTERM on to the command, as when the user ends exec. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0)
        die_with_error("can't set the parent-death signal");
    if (getppid() != parent)
        die("can't exec in the sandbox: the launcher already exited");

    struct relay_state *r = xcalloc(1, sizeof *r);
    r->terminal = -1;
    r->master = -1;
    int slave = -1;
    int fds[3] = {-1, -1, -1};
    if (args.tty) {
        /* /dev/pts/ptmx is the sandbox's own devpts now: the command's terminal is one of
         * the sandbox's, like the agent's. */
        open_pty_pair(&r->master, &slave);
        make_nonblocking(r->master);
        r->terminal = find_terminal();
        if (r->terminal >= 0) {
            term_save(r->terminal);
            term_copy_modes(r->master);
            copy_window_size(r->terminal, r->master);
        }
        r->chans[r->n_chans++] = (struct channel){.from = r->master, .to = STDOUT_FILENO};
        if (args.input) {
            r->chans[r->n_chans++] = (struct channel){.from = STDIN_FILENO, .to = r->master, .to_sandbox = true};
            if (isatty(STDIN_FILENO))
                term_raw();
        }
    } else {
        plain_stdio(&args, r, fds);
    }

    r->child = fork();
    if (r->child < 0)
        die_with_error("can't fork");
    if (r->child == 0) {
        /* Killed with us, like the agent with the outer: nothing of ours outlives exec. Our
         * parent is outside the pid namespace, so its pid reads 0 here; once it is gone we
         * are the sandbox's init's. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != 0)
            _exit(EXIT_SETUP_FAILED);
        /* A session of its own: it can't reach the caller's controlling terminal (/dev/tty
         * is a host device in the sandbox), and only the pty, if any, is its terminal. */
        if (setsid() < 0)
            die_with_error("can't create a session");
        if (slave >= 0) {
            if (ioctl(slave, TIOCSCTTY, 0) < 0)
                die_with_error("can't make the pty the controlling terminal");
            for (int fd = 0; fd <= 2; fd++)
                fds[fd] = slave;
        }
        for (int fd = 0; fd <= 2; fd++)
            if (fds[fd] != fd && dup2(fds[fd], fd) < 0)
                die_with_error("can't redirect fd %d", fd);
        become_agent(&opts, args.command);
    }
    if (slave >= 0)
        close(slave);
    for (int fd = 0; fd <= 2; fd++)
        if (fds[fd] > 2)
            close(fds[fd]);
    /* The relay needs no capability of the sandbox's user namespace. */
    drop_all_capabilities();
    r->sigfd = open_signalfd(&set);
    relay(r);
}
