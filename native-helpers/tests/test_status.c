#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "status.h"
#include "tap.h"

static int real_status(int how)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (how < 0) {
            signal(-how, SIG_DFL);
            raise(-how);
        }
        _exit(how < 0 ? 99 : how);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

void test_status(void)
{
    is_int(exit_code_from_wait_status(real_status(0)), 0, "exit 0 -> 0");
    is_int(exit_code_from_wait_status(real_status(1)), 1, "exit 1 -> 1");
    is_int(exit_code_from_wait_status(real_status(125)), 125, "exit 125 -> 125");
    is_int(exit_code_from_wait_status(real_status(-SIGINT)), 130, "killed by SIGINT -> 130");
    is_int(exit_code_from_wait_status(real_status(-SIGKILL)), 137, "killed by SIGKILL -> 137");
    is_int(exit_code_from_wait_status(real_status(-SIGTERM)), 143, "killed by SIGTERM -> 143");
    is_int(exit_code_for_exec_errno(ENOENT), 127, "exec ENOENT -> 127");
    is_int(exit_code_for_exec_errno(EACCES), 126, "exec EACCES -> 126");
    is_int(exit_code_for_exec_errno(ENOEXEC), 126, "exec ENOEXEC -> 126");
    is_int(exit_code_for_exec_errno(E2BIG), 126, "exec E2BIG -> 126");
}
