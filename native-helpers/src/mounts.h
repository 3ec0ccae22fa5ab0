/* Building the sandbox's root: an empty tmpfs with fresh /proc, /sys and a minimal /dev,
 * then the argv's operations (what the host shows), the host's sockets covered, the
 * root made read-only, then pivot_root into it. */
#ifndef SANDBOX_MOUNTS_H
#define SANDBOX_MOUNTS_H

#include "options.h"
#include "sockets.h"

/* Replaces every source path of opts with its absolute, symlink-free host path (they
 * must be resolved while / is still the host's). Dies when one does not exist. */
void resolve_sources(struct options *opts);

/* Everything from making / a slave to the final pivot_root; afterwards / is the new
 * root and the host's own tree is no longer reachable. Each socket in sockets (host
 * paths, see sockets.h) that the new root shows is covered. */
void setup_newroot(const struct options *opts, const struct socket_paths *sockets);

#endif
