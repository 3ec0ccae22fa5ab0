/* Exit statuses like a shell's: the command's own code, 128+n for a death by signal n,
 * 126 when it can't be executed, 127 when it is not found, 125 for the helper itself. */
#ifndef SANDBOX_STATUS_H
#define SANDBOX_STATUS_H

/* The exit code that passes on a waitpid() status. */
int exit_code_from_wait_status(int status);
/* The exit code for an execvp() that failed with err. */
int exit_code_for_exec_errno(int err);

#endif
