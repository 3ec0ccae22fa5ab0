/* Namespaces and the few per-namespace settings: the user namespace's id maps, the
 * host name, the loopback interface. */
#ifndef SANDBOX_NS_H
#define SANDBOX_NS_H

#include <stdbool.h>
#include <sys/types.h>

/* unshare() user, mount, pid, uts, ipc (and net) namespaces, then map uid/gid to
 * themselves. The caller becomes root-equivalent inside with its own ids. */
void enter_namespaces(bool new_net, uid_t uid, gid_t gid);
void set_hostname(const char *name);
void bring_up_loopback(void);

#endif
