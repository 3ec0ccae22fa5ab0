/* Namespaces and the few per-namespace settings: the user namespace's id maps, the
 * host name, the loopback interface. */
#ifndef SANDBOX_NS_H
#define SANDBOX_NS_H

#include <stdbool.h>
#include <sys/types.h>

#include "options.h"

/* unshare() user, mount, uts, ipc (and net) namespaces, then map uid/gid to themselves,
 * and the subordinate ranges ids (may be NULL) too. The caller becomes root-equivalent
 * inside with its own ids. */
void enter_namespaces(bool new_net, uid_t uid, gid_t gid, const struct subids *ids);
/* Right after unshare(CLONE_NEWUSER): maps uid and gid to themselves (setgroups denied, as
 * an unprivileged caller must), the caller's only ids in the new user namespace. */
void map_own_ids(uid_t uid, gid_t gid);
/* unshare() the pid namespace: the caller's next child is its init. Separate, so that a
 * process forked before it (the relay) stays out of the sandbox's sight. */
void enter_pid_namespace(void);
void set_hostname(const char *name);
void bring_up_loopback(void);
/* Empties the bounding, ambient, permitted, effective and inheritable sets: root in the
 * user namespace could otherwise remount the read-only host or reconfigure the network. */
void drop_all_capabilities(void);
/* The same, except that keep (a CAP_* number, or -1 for none) stays in the bounding,
 * permitted and effective sets. Under PR_SET_NO_NEW_PRIVS an exec by uid 0 then gets
 * the bounding set meet the old permitted set, that is keep alone (security/
 * commoncap.c, cap_bprm_creds_from_file); an exec by anyone else gets nothing. */
void drop_capabilities_but(int keep);

#endif
