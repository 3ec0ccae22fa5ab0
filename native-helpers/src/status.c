#include "status.h"

#include <errno.h>
#include <sys/wait.h>

#include "utils.h"

int exit_code_from_wait_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return EXIT_SETUP_FAILED;
}

int exit_code_for_exec_errno(int err)
{
    /* Only "there is no such file" means not found; anything else found it but failed. */
    return err == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
}
