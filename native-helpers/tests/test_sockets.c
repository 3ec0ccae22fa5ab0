#include <stdlib.h>
#include <string.h>

#include "sockets.h"
#include "tap.h"

void test_sockets(void)
{
    /* Lines as the kernel prints them, header included. */
    const char *text =
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/docker.sock\n"
        "0000000000000000: 00000003 00000000 00000000 0001 03  1593\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 34567 @/tmp/.X11-unix/X0\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 45678 relative.sock\n"
        "0000000000000000: 00000002 00000000 00010000 0005 01    12 /home/u/a b.sock\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 23457 /run/docker.sock\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 23458 /a/last";
    struct socket_paths s = {0};
    parse_unix_sockets(text, &s);
    is_int((long)s.n, 4, "path sockets only: no header, unbound, abstract or relative ones");
    is_str(s.n > 0 ? s.paths[0] : NULL, "/run/docker.sock", "a path socket");
    is_str(s.n > 1 ? s.paths[1] : NULL, "/home/u/a b.sock", "a path with a space is kept whole");
    is_str(s.n > 3 ? s.paths[3] : NULL, "/a/last", "the last line needs no newline");
    socket_paths_unique(&s);
    is_int((long)s.n, 3, "duplicates (two namespaces, or a listener and its children) dropped");
    ok(s.n == 3 && strcmp(s.paths[0], "/a/last") == 0 && strcmp(s.paths[2], "/run/docker.sock") == 0, "sorted");
    socket_paths_free(&s);

    parse_unix_sockets("", &s);
    is_int((long)s.n, 0, "an empty list");
    socket_paths_free(&s);
}
