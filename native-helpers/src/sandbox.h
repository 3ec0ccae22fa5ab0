/* The three processes of a sandbox and what they tell each other.
 *
 *   outer  (the launcher's child, host PID namespace): creates the namespaces, forwards
 *          signals to init, relays the pty, exits with init's status. It holds --lock for
 *          its whole life, writes --pid-file and --exit-file, and the agent's output to
 *          --log (the pty's, or without one a pipe's that has the agent's stdout and
 *          stderr). With --detach it is the sandbox's supervisor (supervise.h): a session
 *          of its own and no parent-death signal, so it outlives the launcher; it holds the
 *          pty's master and serves it on --socket to one attached client at a time.
 *   init   (PID 1 of the new PID namespace): builds the root, starts the agent, reaps
 *          zombies, forwards signals, exits with the agent's status. It holds the pty's
 *          slave (and PR_SET_PDEATHSIG on the outer, detached or not: killing the outer
 *          ends the sandbox).
 *   agent  (init's child): drops every privilege and execs COMMAND.
 *
 * engine (init's child, with --engine): PROGRAM as root of a nested user namespace that
 *          maps root to the user (and 1..COUNT to --subids); started before the agent,
 *          which starts once the engine's socket exists.
 *
 * relay  (outer's child, host PID namespace, the sandbox's network namespace): with
 *          --publish or --forward, carries connections between the host and the sandbox.
 *
 * Only the outer holds the lock, the log, the supervisor socket and the pty's master: init
 * closes every inherited fd above 2, the relay closes the lock (the others are made after
 * its fork).
 *
 * With --control, the outer reports to the launcher once the namespaces exist and init
 * starts the agent only after the launcher's "go" (the launcher attaches pasta meanwhile).
 *
 * Exit status (shell-like; mirrored by the launcher's HelperExit enum):
 *   COMMAND's own code; 128+n when a signal n killed it; 125 the helper's own failure
 *   (setup, usage); 126 COMMAND not executable; 127 COMMAND not found. */
#ifndef SANDBOX_SANDBOX_H
#define SANDBOX_SANDBOX_H

#include <stdbool.h>

#include "options.h"
#include "sockets.h"
#include "utils.h"

/* One byte each over the outer<->init socketpair. */
#define MSG_GO 'G'       /* outer -> init: namespaces mapped, PDEATHSIG armed: go on */
#define MSG_MASTER 'M'   /* init -> outer: the pty master (attached fd) */
#define MSG_READY 'R'    /* outer -> init: the pty has the user's modes and size */
#define MSG_STOPPED 'S'  /* init -> outer: the agent stopped (Ctrl-Z on the pty) */
#define MSG_CONTINUE 'C' /* outer -> init: the user continued us, continue the agent */
#define MSG_NETWORK 'N'  /* outer -> init: the launcher said go (--control): start the agent */

struct sandbox {
    struct options *opts;
    bool tty;        /* relay a new pty */
    const char *cwd; /* the helper's cwd, NULL if unknown */
    int ctl;         /* this process's end of the socketpair */
    struct socket_paths sockets; /* the host's, read by the outer before unsharing */
};

void run_outer(struct options *opts) NORETURN;
void run_init(struct sandbox *sb) NORETURN;
void run_agent(const struct sandbox *sb, int slave) NORETURN;
/* The --setenv and --unsetenv operations, in order, on this process's environment. */
void apply_environment(const struct options *opts);

#endif
