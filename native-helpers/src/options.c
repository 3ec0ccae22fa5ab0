#include "options.h"

#include <stdbool.h>
#include <string.h>

#include "utils.h"

const char usage_text[] =
    "Usage: " PROGRAM_NAME " [OPTION]... -- COMMAND [ARG]...\n"
    "Run COMMAND in new user, mount, pid, uts, ipc (and network) namespaces, on a\n"
    "read-only view of the host with the mounts below applied in argv order.\n"
    "\n"
    "  --version                       print the version and exit\n"
    "  --help                          print this help and exit\n"
    "  --overlay LOWER UPPER WORK DEST overlayfs (userxattr) of host dirs at DEST\n"
    "  --ro-bind SRC DEST              read-only recursive bind of host SRC at DEST\n"
    "  --bind SRC DEST                 read-write recursive bind of host SRC at DEST\n"
    "  --tmpfs DEST                    empty tmpfs at DEST (mode 1777 for /tmp, else 0755)\n"
    "  --hide PATH                     empty read-only tmpfs over a directory, /dev/null\n"
    "                                  over a file; ignored when PATH does not exist\n"
    "  --chdir DIR                     working directory of COMMAND\n"
    "  --setenv NAME VALUE             set an environment variable\n"
    "  --unsetenv NAME                 unset an environment variable\n"
    "  --hostname NAME                 host name inside (default: sandbox)\n"
    "  --net none|host                 none (default): only lo; host: the host's network\n"
    "  --tty auto|always|never         relay a new pty (auto: stdin and stdout are ttys)\n"
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
    case OP_BIND:
        return 1;
    case OP_TMPFS:
    case OP_HIDE:
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
    if ((op->type == OP_SETENV || op->type == OP_UNSETENV) && !valid_env_name(op->args[0]))
        return xasprintf("%s: invalid variable name '%s'", name, op->args[0]);
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
    *error = NULL;

    size_t cap = 0;
    int i = 1;
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
        char *problem = check_op(op);
        if (problem != NULL)
            return fail(error, problem);
        i += 1 + spec->n_args;
    }

    if (i >= argc)
        return fail(error, xstrdup("no COMMAND given"));
    out->command = argv + i;
    out->command_argc = argc - i;
    return PARSE_RUN;
}

void options_free(struct options *opts)
{
    free(opts->ops);
    opts->ops = NULL;
    opts->n_ops = 0;
}
