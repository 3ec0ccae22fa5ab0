/* Runs the helper's `tree` command in a child process, for the tests of tree.c and delta.c. */
#ifndef SANDBOX_TREE_RUN_H
#define SANDBOX_TREE_RUN_H

/* Runs tree_main(argv) (argv NULL-terminated) in a child, its stdout and stderr written to
 * STEM.out and STEM.err; *out, and *err unless err is NULL, get their text (malloc'd).
 * Returns the exit status, or 128 when the child was killed. */
int tree_run(const char *stem, char **argv, char **out, char **err);

/* Removes a test's scratch directory ROOT and the ROOT.out and ROOT.err that tree_run wrote
 * beside it, first making everything in it readable and writable (tests make read-only
 * directories); a failure is a TAP comment, not a failed check. */
void tree_run_cleanup(const char *root);

#endif
