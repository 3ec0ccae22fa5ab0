/* What every process that runs a command in the sandbox does last: the agent started by
 * init, and a command started by `sandbox-helper exec` (exec.c). One function, so that an
 * exec'd command can never get less of the lockdown than the agent. */
#ifndef SANDBOX_AGENT_H
#define SANDBOX_AGENT_H

#include "options.h"
#include "utils.h"

/* Applies the --setenv/--unsetenv operations of opts to the current environment, resets
 * every signal, closes every fd above 2, drops every capability (a root caller keeps
 * CAP_SETFCAP with --nest-root), sets no_new_privs, installs the seccomp filters and
 * execvp()s command; on failure dies with 126 or 127 (COMMAND) or 125 (the lockdown). The
 * caller has set up fds 0, 1, 2 and the environment's base. */
void become_agent(const struct options *opts, char *const command[]) NORETURN;

#endif
