/* The relay: published ports (the host's 127.0.0.1:HOSTPORT to the sandbox's
 * 127.0.0.1:PORT, or [::1]:PORT when that refuses), forwards (the sandbox's 127.0.0.1:PORT
 * to a unix socket on the host, e.g. the launcher's proxy) and, with --dns-nxdomain, the
 * sandbox's resolver on 127.0.0.1:53, which answers every query "no such name".
 *
 * A socket belongs to the network namespace it was created in, whoever holds it later. So
 * the host-side listeners are made before the namespaces (port 0 is bound, not probed: no
 * race for a free port), the sandbox-side ones after, and then one process that lives in
 * the sandbox's network namespace but outside its pid namespace carries the bytes. */
#ifndef SANDBOX_RELAY_H
#define SANDBOX_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "options.h"

struct relay;

/* Binds the host's side of every --publish (TCP ones listen only while the sandbox has a
 * listener on the port, see relay.c); dies with one line (e.g. the port is in use) before
 * anything else happens. NULL when there is nothing to relay. */
struct relay *relay_bind_host(const struct options *opts);
/* Listens on the sandbox's side of every --forward and binds the resolver's 127.0.0.1:53;
 * call inside the new network namespace, with its capabilities (port 53). */
void relay_listen_inside(struct relay *relay, const struct options *opts);
/* The host port --publish number i got (the chosen one when it asked for 0). */
unsigned relay_host_port(const struct relay *relay, size_t i);
/* Forks the relay process, which closes inherited (the outer's --lock; -1: none); the
 * caller closes its copies with relay_close(). */
pid_t relay_start(struct relay *relay, int inherited);
void relay_close(struct relay *relay);

#endif
