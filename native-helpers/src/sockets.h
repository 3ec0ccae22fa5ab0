/* The host's bound unix socket paths, as /proc/net/unix lists them. Read by the outer
 * process before the sandbox gets a network namespace of its own (the list is per
 * network namespace), covered by init once the new root is built. */
#ifndef SANDBOX_SOCKETS_H
#define SANDBOX_SOCKETS_H

#include <stddef.h>

struct socket_paths {
    char **paths; /* absolute, sorted, no duplicates once read_host_sockets returns */
    size_t n;
    size_t namespaces; /* how many distinct /proc/PID/net/unix were read */
};

/* Adds the absolute paths of one /proc/net/unix text to out (pure: no I/O). Abstract
 * names ("@...") and relative paths (a bind() relative to the binder's cwd, which we can't
 * know) are left out. */
void parse_unix_sockets(const char *text, struct socket_paths *out);

/* Sorts out's paths and drops duplicates. */
void socket_paths_unique(struct socket_paths *out);

/* Every path socket of every network namespace we can read: /proc/self/net/unix and
 * /proc/PID/net/unix of each process, one per namespace (the file's inode number names
 * its namespace, which needs no ptrace access unlike /proc/PID/ns/net). Processes that
 * vanish meanwhile are skipped. */
void read_host_sockets(struct socket_paths *out);

void socket_paths_free(struct socket_paths *s);

#endif
