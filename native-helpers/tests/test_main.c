/* Unit tests of sandbox-helper's pure parts, run by `make check`. */
#include <stdio.h>

#include "tap.h"

int tap_count;
int tap_failed;

int main(void)
{
    test_options();
    test_paths();
    test_mountinfo();
    test_status();
    test_signals();
    test_utils();
    test_seccomp();
    test_seccomp_setid();
    test_sockets();
    test_attach();
    test_supervise();
    test_view();
    test_tree();
    test_tree_copy();
    test_delta();
    printf("1..%d\n", tap_count);
    if (tap_failed > 0)
        printf("# %d of %d failed\n", tap_failed, tap_count);
    return tap_failed > 0 ? 1 : 0;
}
