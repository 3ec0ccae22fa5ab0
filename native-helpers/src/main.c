/* sandbox-helper: runs one command in new namespaces on a read-only view of the host,
 * with the mounts its argv lists. See README.md and sandbox.h for the process model and
 * exit statuses (125 own failure, 126 not executable, 127 not found, 128+n signal n). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "exec.h"
#include "options.h"
#include "sandbox.h"
#include "tree.h"
#include "view.h"

#ifndef SANDBOX_VERSION
#define SANDBOX_VERSION "0.0.0-dev"
#endif

int main(int argc, char *argv[])
{
    /* The modes that work on a running sandbox come before the options of a new one. */
    if (argc > 1 && strcmp(argv[1], "attach") == 0)
        run_attach(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "exec") == 0)
        run_exec(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "tree") == 0)
        return tree_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "view") == 0)
        run_view(argc - 1, argv + 1);

    /* Everything is checked before anything is touched. */
    struct options opts;
    char *error = NULL;
    switch (parse_options(argc, argv, &opts, &error)) {
    case PARSE_HELP:
        fputs(usage_text, stdout);
        fputs(attach_usage_text, stdout);
        fputs(exec_usage_text, stdout);
        fputs(view_usage_text, stdout);
        fputs(tree_usage_text, stdout);
        return fflush(stdout) == 0 ? 0 : EXIT_SETUP_FAILED;
    case PARSE_VERSION:
        printf("%s %s\n", PROGRAM_NAME, SANDBOX_VERSION);
        return fflush(stdout) == 0 ? 0 : EXIT_SETUP_FAILED;
    case PARSE_ERROR:
        /* A bad argv is the launcher's bug, so it is in the helper's own failure range. */
        fprintf(stderr, "%s: %s\nTry '%s --help'.\n", PROGRAM_NAME, error, PROGRAM_NAME);
        free(error);
        return EXIT_SETUP_FAILED;
    case PARSE_RUN:
        break;
    }
    run_outer(&opts);
}
