/* The host's bound unix socket paths, as /proc/net/unix lists them. Read by the outer
 * process before the sandbox gets a network namespace of its own (the list is per
 * network namespace), covered by init once the new root is built. */
#ifndef SANDBOX_SOCKETS_H
#define SANDBOX_SOCKETS_H

#include <stdbool.h>
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

/* The sandbox's resolver without network (RFC 1035 §4.1): the answer "no such name"
 * (NXDOMAIN) to one DNS query over UDP, so that name lookups fail at once instead of timing
 * out. The query is the agent's, hostile: it must be a standard query (QR 0, opcode 0) with
 * exactly one question whose name is plain labels (no compression pointer, at most 255
 * bytes); anything else gets no answer. The answer is the header (the query's id and RD,
 * QR 1, RA 1, RCODE 3, one question, no records) and the question copied. Returns the
 * answer's length, or 0 when there is none or it would not fit in cap bytes. Pure. */
size_t dns_nxdomain(const unsigned char *query, size_t len, unsigned char *answer, size_t cap);

/* A listening TCP socket of the sandbox's network namespace, as a NETLINK_SOCK_DIAG
 * inet_diag dump reports it (sock_diag(7)). */
enum diag_result { DIAG_MORE, DIAG_DONE, DIAG_ERROR };

/* Reads one buffer of such a dump (asked for TCP_LISTEN sockets only) and sets found[i]
 * when a listener on ports[i] can be reached through 127.0.0.1 or ::1: bound to one of
 * those, or to 0.0.0.0 or ::. DIAG_DONE at NLMSG_DONE, DIAG_ERROR at NLMSG_ERROR or a
 * message that does not fit its buffer, else DIAG_MORE. Pure. */
enum diag_result parse_inet_listeners(const void *buf, size_t len, const unsigned *ports, bool *found, size_t n);

#endif
