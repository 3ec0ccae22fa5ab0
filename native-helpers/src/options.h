/* Command-line parsing: argv becomes an ordered list of operations plus a few settings,
 * all validated before the helper touches anything. Pure: no I/O, no exit. */
#ifndef SANDBOX_OPTIONS_H
#define SANDBOX_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum op_type {
    OP_OVERLAY,     /* args: LOWER UPPER WORK DEST; more lower layers in lowers */
    OP_RO_BIND,     /* args: SRC DEST */
    OP_BIND,        /* args: SRC DEST */
    OP_TMPFS,       /* args: DEST */
    OP_HIDE,        /* args: PATH */
    OP_SETENV,      /* args: NAME VALUE */
    OP_UNSETENV,    /* args: NAME */
    OP_DEV,         /* args: PATH (a device under /dev) */
    OP_RO_BIND_TRY, /* args: SRC DEST; nothing when SRC does not exist */
    OP_SYMLINK,     /* args: TARGET DEST */
    OP_DIR,         /* args: DEST */
    OP_RO_OVERLAY,  /* args: SRC DEST */
};

#define OP_MAX_ARGS 4

struct sandbox_op {
    enum op_type type;
    /* Pointers into argv; source paths may be replaced by resolved copies at run time,
     * and a missing --ro-bind-try source by NULL. */
    const char *args[OP_MAX_ARGS];
    /* OP_OVERLAY only: the layers below LOWER, topmost first, from the --overlay-lower
     * options just before it (malloc'd array of pointers into argv, may be NULL). */
    const char **lowers;
    size_t n_lowers;
};

enum net_mode { NET_NONE, NET_HOST };

/* --publish [HOSTPORT:]PORT[/udp]: the host's 127.0.0.1:HOSTPORT (0: a free one) relayed to
 * 127.0.0.1:PORT inside the sandbox's network namespace. */
struct publish {
    bool udp;
    unsigned host_port;
    unsigned port;
};

/* --forward PORT SOCKET: 127.0.0.1:PORT inside relayed to the host's unix socket SOCKET. */
struct forward {
    unsigned port;
    const char *socket;
};
/* --subids UID:COUNT:GID:COUNT: the caller's subordinate id ranges (/etc/subuid, /etc/subgid),
 * mapped as themselves into the sandbox's user namespace and as 1..COUNT into the engine's. */
struct subids {
    unsigned long uid, uid_count, gid, gid_count;
};

/* --log-max's default: 4 MiB. */
#define DEFAULT_LOG_MAX 4194304ULL

enum tty_mode { TTY_AUTO, TTY_ALWAYS, TTY_NEVER };

enum parse_result { PARSE_RUN, PARSE_HELP, PARSE_VERSION, PARSE_ERROR };

/* At most this many --overlay-lower layers per --overlay: overlayfs stacks at most 500
 * layers (OVL_MAX_STACK), and mount(2) takes one page of options, which 64 layers of
 * short paths already fill (the helper checks the length itself). */
#define MAX_OVERLAY_LOWERS 64

struct options {
    struct sandbox_op *ops;
    size_t n_ops;
    const char **pending_lowers; /* during parsing only: --overlay-lower layers not yet taken */
    const char *chdir;    /* NULL: the helper's own cwd if it exists inside, else / */
    const char *hostname; /* never NULL after a successful parse */
    enum net_mode net;
    enum tty_mode tty;
    const char *control; /* NULL, or the launcher's unix socket (see sandbox.h) */
    struct publish *publish;
    size_t n_publish;
    struct forward *forward;
    size_t n_forward;
    bool dns_nxdomain; /* --dns-nxdomain: 127.0.0.1:53 inside answers every query "no such name" */
    const char *engine;       /* NULL, or a program started in a nested user namespace */
    const char *engine_ready; /* the socket whose appearance means the engine is ready */
    bool have_subids;
    struct subids subids;
    bool nest_root; /* --nest-root: a root caller's agent keeps CAP_SETFCAP (nested user namespaces) */
    /* The sandbox's lifecycle (docs/ARCHITECTURE.md §5, "The supervisor"); each NULL when not given. */
    const char *lock;      /* --lock: OFD-locked by the outer process for its whole life */
    const char *pid_file;  /* --pid-file: "OUTER INIT\n", host pids */
    const char *exit_file; /* --exit-file: "STATUS\n", written just before the outer exits */
    const char *log;       /* --log: the agent's output, rotated to LOG.1 at log_max bytes */
    unsigned long long log_max;
    bool detach;        /* --detach: a session of its own, no parent-death signal, a pty */
    bool die_with_parent; /* --die-with-parent: with --detach, the parent-death signal all the same */
    const char *socket; /* --socket: the supervisor's unix socket (needs --detach) */
    char *const *command; /* NULL-terminated, points into argv */
    int command_argc;
};

/* Parses argv[1..argc-1]. On PARSE_ERROR *error is a malloc'd one-line message
 * (without the program name); on every result *out is valid for options_free(). */
enum parse_result parse_options(int argc, char *const argv[], struct options *out, char **error);
void options_free(struct options *opts);

/* Parses a --subids SPEC; NULL on success, else a malloc'd message. */
char *parse_subids(const char *spec, struct subids *out);

/* Parses a --publish SPEC; NULL on success, else a malloc'd message. */
char *parse_publish(const char *spec, struct publish *out);

/* Number of arguments an op takes. */
int op_arg_count(enum op_type type);
/* How many leading args of the op are host-side source paths (0 when none). */
int op_source_count(enum op_type type);
const char *op_name(enum op_type type);

extern const char usage_text[];

#endif
