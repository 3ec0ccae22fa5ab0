/* `sandbox-helper exec OUTER INIT [--tty] [--stdin] -- CMD [ARG]...`: runs CMD in the
 * running sandbox whose outer process is OUTER and whose init is INIT (host pids), in its
 * namespaces, root, cwd and environment, locked down as its agent is (agent.h). The
 * pure parts (argv, /proc parsing) are here for the unit tests. */
#ifndef SANDBOX_EXEC_H
#define SANDBOX_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "utils.h"

/* The most bytes read of /proc/OUTER/environ and /proc/OUTER/cmdline. */
#define ENVIRON_MAX (1024 * 1024)
#define CMDLINE_MAX (4 * 1024 * 1024)

struct exec_args {
    pid_t outer, init;
    bool tty;   /* a new pty from the sandbox's devpts */
    bool input; /* --stdin: CMD reads the caller's stdin (else /dev/null) */
    char *const *command; /* NULL-terminated, points into argv */
};

/* Parses argv (argv[0] is "exec"). NULL on success, else a malloc'd one-line message. */
char *parse_exec_args(int argc, char *const argv[], struct exec_args *out);

/* Splits len bytes of NUL-separated strings (a /proc cmdline or environ; the last one may
 * lack its NUL) into a malloc'd NULL-terminated array of pointers into buf, which must
 * have room for len + 1 bytes. *count is the number of strings. */
char **split_nul(char *buf, size_t len, size_t *count);

/* The parent pid (field 4) of a /proc/PID/stat text, or -1 when it can't be read. */
pid_t stat_ppid(const char *stat);

extern const char exec_usage_text[];

void run_exec(int argc, char *const argv[]) NORETURN;

#endif
