#include "options.h"

#include <stdbool.h>
#include <string.h>

#include "utils.h"

/* sun_path's size in struct sockaddr_un. */
#define UNIX_PATH_MAX 108

const char usage_text[] =
    "Usage: " PROGRAM_NAME " [OPTION]... -- COMMAND [ARG]...\n"
    "Run COMMAND in new user, mount, pid, uts, ipc (and network) namespaces, on a\n"
    "root that shows only what the operations below put there, in argv order; the\n"
    "root itself ends read-only, and every host unix socket left visible is covered.\n"
    "\n"
    "  --version                       print the version and exit\n"
    "  --help                          print this help and exit\n"
    "  --overlay LOWER UPPER WORK DEST overlayfs (userxattr) of host dirs at DEST\n"
    "  --overlay-lower LAYER           one more lower layer of the next --overlay, which\n"
    "                                  must follow: below LOWER and the layers before it\n"
    "                                  (lowerdir=LOWER:LAYER1:LAYER2...)\n"
    "  --ro-bind SRC DEST              read-only recursive bind of host SRC at DEST\n"
    "  --bind SRC DEST                 read-write recursive bind of host SRC at DEST\n"
    "  --ro-bind-try SRC DEST          --ro-bind, or nothing when SRC does not exist\n"
    "  --ro-overlay SRC DEST           read-only overlayfs of host directory SRC at DEST\n"
    "                                  (no host socket below it connects); a file, or a\n"
    "                                  directory with mounts below it: --ro-bind\n"
    "  --symlink TARGET DEST           a symbolic link to TARGET at DEST\n"
    "  --dir DEST                      an empty directory at DEST (and its parents)\n"
    "  --tmpfs DEST                    empty tmpfs at DEST (mode 1777 for /tmp and\n"
    "                                  /var/tmp, else 0755)\n"
    "  --hide PATH                     empty read-only tmpfs over a directory, /dev/null\n"
    "                                  over a file; ignored when PATH does not exist\n"
    "  --chdir DIR                     working directory of COMMAND\n"
    "  --setenv NAME VALUE             set an environment variable\n"
    "  --unsetenv NAME                 unset an environment variable\n"
    "  --hostname NAME                 host name inside (default: sandbox)\n"
    "  --net none|host                 none (default): only lo; host: the host's network\n"
    "  --tty auto|always|never         relay a new pty (auto: stdin and stdout are ttys)\n"
    "  --publish [HOSTPORT:]PORT[/udp] relay the host's 127.0.0.1:HOSTPORT (default or 0: a\n"
    "                                  free port) to 127.0.0.1:PORT inside\n"
    "  --forward PORT SOCKET           relay 127.0.0.1:PORT inside to the host's unix SOCKET\n"
    "  --dns-nxdomain                  answer every DNS query to 127.0.0.1:53 inside with\n"
    "                                  'no such name', so lookups fail at once\n"
    "  --control SOCKET                connect to the unix SOCKET, report there once the\n"
    "                                  namespaces exist ('pid N', 'publish tcp|udp PORT\n"
    "                                  HOSTPORT', 'ready' lines), and start COMMAND only\n"
    "                                  after it answers 'go' (e.g. once pasta is attached)\n"
    "  --dev PATH                      bind the host's device PATH (under /dev) into /dev\n"
    "  --engine PROGRAM SOCKET         before COMMAND, start PROGRAM (a path inside) as root\n"
    "                                  of a nested user namespace, and start COMMAND once\n"
    "                                  it has created SOCKET (a container engine)\n"
    "  --subids UID:COUNT:GID:COUNT    also map these subordinate ids of the caller (from\n"
    "                                  /etc/subuid and /etc/subgid) into the sandbox, and\n"
    "                                  as 1..COUNT into the engine's namespace\n"
    "  --nest-root                     for a root caller, let COMMAND keep CAP_SETFCAP so\n"
    "                                  it can map uid 0 into nested user namespaces; only\n"
    "                                  when no other user can reach a path COMMAND may\n"
    "                                  write (ignored for other callers)\n"
    "  --lock FILE                     hold an exclusive OFD lock on FILE while the sandbox\n"
    "                                  runs; fail at once when another process holds it\n"
    "  --pid-file FILE                 write 'OUTER INIT' (host pids) to FILE once the\n"
    "                                  sandbox's init exists\n"
    "  --exit-file FILE                write the exit status to FILE just before exiting\n"
    "  --log FILE                      append COMMAND's output (its terminal's, or its\n"
    "                                  stdout and stderr) to FILE, moved to FILE.1 when it\n"
    "                                  would pass --log-max bytes\n"
    "  --log-max BYTES                 the size limit of --log (default 4194304)\n"
    "  --detach                        run in a session of our own, outliving the caller,\n"
    "                                  with a pty (--tty always) served on --socket; print\n"
    "                                  'started' once COMMAND runs, then close stdin and\n"
    "                                  stdout\n"
    "  --die-with-parent               with --detach: end all the same when the caller ends\n"
    "                                  (a launcher that stays to hold the network)\n"
    "  --socket SOCKET                 with --detach: serve the pty on the unix SOCKET\n"
    "                                  (requests 's' status and 'a' attach, see README.md)\n"
    "\n"
    "Exit status: COMMAND's own, 128+n if it was killed by signal n, 125 if the helper\n"
    "failed, 126 if COMMAND could not be executed, 127 if it was not found.\n";

struct option_spec {
    const char *name;
    int n_args;
    const char *metavars;
};

static const struct option_spec specs[] = {
    [OP_OVERLAY] = {"--overlay", 4, "LOWER UPPER WORK DEST"},
    [OP_RO_BIND] = {"--ro-bind", 2, "SRC DEST"},
    [OP_BIND] = {"--bind", 2, "SRC DEST"},
    [OP_TMPFS] = {"--tmpfs", 1, "DEST"},
    [OP_HIDE] = {"--hide", 1, "PATH"},
    [OP_SETENV] = {"--setenv", 2, "NAME VALUE"},
    [OP_UNSETENV] = {"--unsetenv", 1, "NAME"},
    [OP_DEV] = {"--dev", 1, "PATH"},
    [OP_RO_BIND_TRY] = {"--ro-bind-try", 2, "SRC DEST"},
    [OP_SYMLINK] = {"--symlink", 2, "TARGET DEST"},
    [OP_DIR] = {"--dir", 1, "DEST"},
    [OP_RO_OVERLAY] = {"--ro-overlay", 2, "SRC DEST"},
};

int op_arg_count(enum op_type type)
{
    return specs[type].n_args;
}

const char *op_name(enum op_type type)
{
    return specs[type].name;
}

int op_source_count(enum op_type type)
{
    switch (type) {
    case OP_OVERLAY:
        return 3;
    case OP_RO_BIND:
    case OP_RO_BIND_TRY:
    case OP_RO_OVERLAY:
    case OP_BIND:
        return 1;
    default:
        return 0;
    }
}

static bool valid_env_name(const char *name)
{
    return name[0] != '\0' && strchr(name, '=') == NULL;
}

/* Index of the destination argument (a path inside the sandbox), or -1. */
static int op_dest_index(enum op_type type)
{
    switch (type) {
    case OP_OVERLAY:
        return 3;
    case OP_RO_BIND:
    case OP_RO_BIND_TRY:
    case OP_RO_OVERLAY:
    case OP_BIND:
    case OP_SYMLINK:
        return 1;
    case OP_TMPFS:
    case OP_DIR:
    case OP_HIDE:
    case OP_DEV:
        return 0;
    default:
        return -1;
    }
}

static bool is_root_path(const char *path)
{
    for (; *path != '\0'; path++)
        if (*path != '/' && !(*path == '.' && (path[1] == '/' || path[1] == '\0')))
            return false;
    return true;
}

static char *check_op(const struct sandbox_op *op)
{
    const char *name = op_name(op->type);
    for (int i = 0; i < op_source_count(op->type); i++)
        if (op->args[i][0] == '\0')
            return xasprintf("%s: empty source path", name);
    int dest = op_dest_index(op->type);
    if (dest >= 0) {
        const char *path = op->args[dest];
        if (path[0] != '/')
            return xasprintf("%s: '%s' is not an absolute path", name, path);
        if (is_root_path(path))
            return xasprintf("%s: can't mount over '/'", name);
    }
    if (op->type == OP_SYMLINK && op->args[0][0] == '\0')
        return xasprintf("%s: empty target", name);
    if (op->type == OP_DEV && (!str_has_prefix(op->args[0], "/dev/") || strstr(op->args[0], "..") != NULL))
        return xasprintf("%s: '%s' is not a path under /dev", name, op->args[0]);
    if ((op->type == OP_SETENV || op->type == OP_UNSETENV) && !valid_env_name(op->args[0]))
        return xasprintf("%s: invalid variable name '%s'", name, op->args[0]);
    return NULL;
}

/* A port number 1..65535 (0 too when zero_ok) spelled in decimal digits only. */
static bool parse_port(const char *s, size_t len, bool zero_ok, unsigned *out)
{
    if (len == 0 || len > 5)
        return false;
    unsigned n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        n = n * 10 + (unsigned)(s[i] - '0');
    }
    if (n > 65535 || (n == 0 && !zero_ok))
        return false;
    *out = n;
    return true;
}

char *parse_publish(const char *spec, struct publish *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(spec);
    const char *slash = strchr(spec, '/');
    if (slash != NULL) {
        if (strcmp(slash, "/udp") == 0)
            out->udp = true;
        else if (strcmp(slash, "/tcp") != 0)
            return xasprintf("--publish: '%s': the protocol must be tcp or udp", spec);
        len = (size_t)(slash - spec);
    }
    const char *colon = memchr(spec, ':', len);
    const char *port = colon != NULL ? colon + 1 : spec;
    size_t port_len = len - (size_t)(port - spec);
    if (colon != NULL && !parse_port(spec, (size_t)(colon - spec), true, &out->host_port))
        return xasprintf("--publish: '%s': the host port must be a number from 0 to 65535", spec);
    if (!parse_port(port, port_len, false, &out->port))
        return xasprintf("--publish: '%s': the port must be a number from 1 to 65535", spec);
    return NULL;
}

/* An unsigned decimal number up to max, digits only; *s moves past it. */
static bool parse_number(const char **s, unsigned long max, unsigned long *out)
{
    unsigned long n = 0;
    const char *p = *s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (unsigned long)(*p - '0');
        if (n > max)
            return false;
    }
    *s = p;
    *out = n;
    return true;
}

char *parse_subids(const char *spec, struct subids *out)
{
    unsigned long *fields[] = {&out->uid, &out->uid_count, &out->gid, &out->gid_count};
    const char *p = spec;
    for (int i = 0; i < 4; i++) {
        if (!parse_number(&p, 0xfffffffeUL, fields[i]) || *p != (i < 3 ? ':' : '\0'))
            return xasprintf("--subids: '%s' is not UID:COUNT:GID:COUNT", spec);
        p++;
    }
    if (out->uid_count == 0 || out->gid_count == 0 || out->uid + out->uid_count > 0xffffffffUL ||
        out->gid + out->gid_count > 0xffffffffUL)
        return xasprintf("--subids: '%s': each range needs a count from 1 and must end below 2^32", spec);
    return NULL;
}

static enum parse_result fail(char **error, char *message)
{
    *error = message;
    return PARSE_ERROR;
}

enum parse_result parse_options(int argc, char *const argv[], struct options *out, char **error)
{
    memset(out, 0, sizeof *out);
    out->hostname = "sandbox";
    out->net = NET_NONE;
    out->tty = TTY_AUTO;
    out->log_max = DEFAULT_LOG_MAX;
    *error = NULL;

    size_t cap = 0;
    int i = 1;
    /* --overlay-lower layers not yet taken by an --overlay (also in out->pending_lowers,
     * so that options_free frees them after an error). */
    const char **pending = NULL;
    size_t n_pending = 0;
    while (i < argc) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-')
            break;
        if (strcmp(arg, "--help") == 0)
            return PARSE_HELP;
        if (strcmp(arg, "--version") == 0)
            return PARSE_VERSION;

        /* Settings: one argument each, the last one wins. */
        const char **setting = NULL;
        if (strcmp(arg, "--chdir") == 0)
            setting = &out->chdir;
        else if (strcmp(arg, "--hostname") == 0)
            setting = &out->hostname;
        if (setting != NULL || strcmp(arg, "--net") == 0 || strcmp(arg, "--tty") == 0) {
            if (i + 1 >= argc)
                return fail(error, xasprintf("option '%s' needs an argument", arg));
            const char *value = argv[i + 1];
            if (setting == &out->chdir && value[0] != '/')
                return fail(error, xasprintf("--chdir: '%s' is not an absolute path", value));
            if (setting == &out->hostname && (value[0] == '\0' || strlen(value) > 64))
                return fail(error, xasprintf("--hostname: invalid host name '%s'", value));
            if (setting != NULL) {
                *setting = value;
            } else if (strcmp(arg, "--net") == 0) {
                if (strcmp(value, "none") == 0)
                    out->net = NET_NONE;
                else if (strcmp(value, "host") == 0)
                    out->net = NET_HOST;
                else
                    return fail(error, xasprintf("invalid --net '%s' (expected none or host)", value));
            } else {
                if (strcmp(value, "auto") == 0)
                    out->tty = TTY_AUTO;
                else if (strcmp(value, "always") == 0)
                    out->tty = TTY_ALWAYS;
                else if (strcmp(value, "never") == 0)
                    out->tty = TTY_NEVER;
                else
                    return fail(error,
                                xasprintf("invalid --tty '%s' (expected auto, always or never)", value));
            }
            i += 2;
            continue;
        }

        /* Network relays and the launcher's socket. */
        if (strcmp(arg, "--publish") == 0 || strcmp(arg, "--control") == 0) {
            if (i + 1 >= argc)
                return fail(error, xasprintf("option '%s' needs an argument", arg));
            if (strcmp(arg, "--control") == 0) {
                if (argv[i + 1][0] != '/' || strlen(argv[i + 1]) >= UNIX_PATH_MAX)
                    return fail(error, xasprintf("--control: '%s' is not an absolute path shorter than %d bytes",
                                                 argv[i + 1], UNIX_PATH_MAX));
                out->control = argv[i + 1];
            } else {
                struct publish p;
                char *problem = parse_publish(argv[i + 1], &p);
                if (problem != NULL)
                    return fail(error, problem);
                out->publish = xrealloc(out->publish, (out->n_publish + 1) * sizeof *out->publish);
                out->publish[out->n_publish++] = p;
            }
            i += 2;
            continue;
        }
        if (strcmp(arg, "--engine") == 0) {
            if (i + 2 >= argc)
                return fail(error, xstrdup("option '--engine' needs 2 arguments: PROGRAM SOCKET"));
            if (argv[i + 1][0] != '/' || argv[i + 2][0] != '/' || strlen(argv[i + 2]) >= UNIX_PATH_MAX)
                return fail(error, xasprintf("--engine: '%s' and '%s' must be absolute paths (SOCKET shorter "
                                             "than %d bytes)", argv[i + 1], argv[i + 2], UNIX_PATH_MAX));
            out->engine = argv[i + 1];
            out->engine_ready = argv[i + 2];
            i += 3;
            continue;
        }
        if (strcmp(arg, "--subids") == 0) {
            if (i + 1 >= argc)
                return fail(error, xstrdup("option '--subids' needs an argument"));
            char *problem = parse_subids(argv[i + 1], &out->subids);
            if (problem != NULL)
                return fail(error, problem);
            out->have_subids = true;
            i += 2;
            continue;
        }
        if (strcmp(arg, "--nest-root") == 0) {
            out->nest_root = true;
            i += 1;
            continue;
        }
        if (strcmp(arg, "--detach") == 0) {
            out->detach = true;
            i += 1;
            continue;
        }
        if (strcmp(arg, "--die-with-parent") == 0) {
            out->die_with_parent = true;
            i += 1;
            continue;
        }
        const char **file = NULL;
        if (strcmp(arg, "--lock") == 0)
            file = &out->lock;
        else if (strcmp(arg, "--pid-file") == 0)
            file = &out->pid_file;
        else if (strcmp(arg, "--exit-file") == 0)
            file = &out->exit_file;
        else if (strcmp(arg, "--log") == 0)
            file = &out->log;
        else if (strcmp(arg, "--socket") == 0)
            file = &out->socket;
        if (file != NULL || strcmp(arg, "--log-max") == 0) {
            if (i + 1 >= argc)
                return fail(error, xasprintf("option '%s' needs an argument", arg));
            const char *value = argv[i + 1];
            if (file == NULL) {
                const char *p = value;
                unsigned long n = 0;
                if (!parse_number(&p, 2147483647UL, &n) || *p != '\0' || n == 0)
                    return fail(error, xasprintf("--log-max: '%s' is not a number of bytes from 1 to 2147483647", value));
                out->log_max = n;
            } else if (value[0] != '/' || (file == &out->socket && strlen(value) >= UNIX_PATH_MAX)) {
                return fail(error, file == &out->socket
                                       ? xasprintf("--socket: '%s' is not an absolute path shorter than %d bytes",
                                                   value, UNIX_PATH_MAX)
                                       : xasprintf("%s: '%s' is not an absolute path", arg, value));
            } else {
                *file = value;
            }
            i += 2;
            continue;
        }
        if (strcmp(arg, "--dns-nxdomain") == 0) {
            out->dns_nxdomain = true;
            i += 1;
            continue;
        }
        if (strcmp(arg, "--forward") == 0) {
            if (i + 2 >= argc)
                return fail(error, xstrdup("option '--forward' needs 2 arguments: PORT SOCKET"));
            struct forward f = {.socket = argv[i + 2]};
            if (!parse_port(argv[i + 1], strlen(argv[i + 1]), false, &f.port))
                return fail(error, xasprintf("--forward: '%s' is not a port from 1 to 65535", argv[i + 1]));
            if (f.socket[0] != '/' || strlen(f.socket) >= UNIX_PATH_MAX)
                return fail(error, xasprintf("--forward: '%s' is not an absolute path shorter than %d bytes",
                                             f.socket, UNIX_PATH_MAX));
            out->forward = xrealloc(out->forward, (out->n_forward + 1) * sizeof *out->forward);
            out->forward[out->n_forward++] = f;
            i += 3;
            continue;
        }

        /* Lower layers wait for the --overlay that must come next. */
        if (strcmp(arg, "--overlay-lower") == 0) {
            if (i + 1 >= argc)
                return fail(error, xstrdup("option '--overlay-lower' needs an argument: LAYER"));
            if (argv[i + 1][0] == '\0')
                return fail(error, xstrdup("--overlay-lower: empty source path"));
            if (n_pending == MAX_OVERLAY_LOWERS)
                return fail(error, xasprintf("--overlay-lower: more than %d lower layers", MAX_OVERLAY_LOWERS));
            pending = xrealloc(pending, (n_pending + 1) * sizeof *pending);
            pending[n_pending++] = argv[i + 1];
            out->pending_lowers = pending;
            i += 2;
            continue;
        }

        /* Operations: kept in argv order. */
        int type = -1;
        for (size_t t = 0; t < sizeof specs / sizeof specs[0]; t++)
            if (strcmp(arg, specs[t].name) == 0)
                type = (int)t;
        if (type < 0)
            return fail(error, xasprintf("unknown option '%s'", arg));
        const struct option_spec *spec = &specs[type];
        if (i + spec->n_args >= argc)
            return fail(error, xasprintf("option '%s' needs %d argument%s: %s", arg, spec->n_args,
                                         spec->n_args == 1 ? "" : "s", spec->metavars));
        if (out->n_ops == cap) {
            cap = cap ? cap * 2 : 8;
            out->ops = xrealloc(out->ops, cap * sizeof *out->ops);
        }
        struct sandbox_op *op = &out->ops[out->n_ops++];
        memset(op, 0, sizeof *op);
        op->type = (enum op_type)type;
        for (int a = 0; a < spec->n_args; a++)
            op->args[a] = argv[i + 1 + a];
        if (n_pending > 0 && op->type != OP_OVERLAY)
            return fail(error, xasprintf("--overlay-lower must come right before --overlay, not before '%s'", arg));
        if (op->type == OP_OVERLAY) {
            op->lowers = steal_pointer(&pending);
            op->n_lowers = n_pending;
            out->pending_lowers = NULL;
            n_pending = 0;
        }
        char *problem = check_op(op);
        if (problem != NULL)
            return fail(error, problem);
        i += 1 + spec->n_args;
    }
    if (n_pending > 0)
        return fail(error, xstrdup("--overlay-lower must come right before --overlay"));

    if (out->net == NET_HOST && (out->n_publish > 0 || out->n_forward > 0))
        return fail(error, xstrdup("--publish and --forward need the sandbox's own network, not --net host"));
    if (out->net == NET_HOST && out->dns_nxdomain)
        return fail(error, xstrdup("--dns-nxdomain needs the sandbox's own network, not --net host"));
    if (out->detach && out->socket == NULL)
        return fail(error, xstrdup("--detach needs --socket"));
    if (out->die_with_parent && !out->detach)
        return fail(error, xstrdup("--die-with-parent needs --detach (without it the sandbox ends with its caller)"));
    if (out->socket != NULL && !out->detach)
        return fail(error, xstrdup("--socket needs --detach"));
    if (out->detach && out->tty == TTY_NEVER)
        return fail(error, xstrdup("--detach needs a pty, not --tty never"));
    if (out->detach)
        out->tty = TTY_ALWAYS;
    if (i >= argc)
        return fail(error, xstrdup("no COMMAND given"));
    out->command = argv + i;
    out->command_argc = argc - i;
    return PARSE_RUN;
}

void options_free(struct options *opts)
{
    for (size_t i = 0; i < opts->n_ops; i++)
        free(opts->ops[i].lowers);
    free(opts->pending_lowers);
    opts->pending_lowers = NULL;
    free(opts->ops);
    opts->ops = NULL;
    opts->n_ops = 0;
    free(opts->publish);
    opts->publish = NULL;
    opts->n_publish = 0;
    free(opts->forward);
    opts->forward = NULL;
    opts->n_forward = 0;
}
