package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * {@code vm/provision.sh}, the VM's provisioning, on a fresh Debian 12 root filesystem that
 * debootstrap makes from Debian's mirror: run twice in a container on it ({@link DebianRoot}),
 * it exits 0 both times, and {@code sandbox doctor} then passes there for an unprivileged user.
 */
class ProvisionIT {
    @Test
    void provisioning_twiceOnAFreshDebian12_exitsZeroBothTimes_andLeavesAWorkingDoctor() {
        DebianRoot.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT, "/var/tmp")) {
            DebianRoot debian = DebianRoot.bootstrap(ws);
            Host.copySourceTree(debian.path().resolve("opt/sandbox-src"));
            String inside = String.join("\n",
                    "set -e",
                    "id dev >/dev/null 2>&1 || useradd -m -s /bin/sh dev",
                    "export SANDBOX_SRC=/opt/sandbox-src SANDBOX_USER=dev SANDBOX_WORK_GB=2",
                    "sh /opt/sandbox-src/vm/provision.sh > /provision-1.log 2>&1 || { echo FIRST-FAILED; cat"
                            + " /provision-1.log; exit 1; }",
                    "sh /opt/sandbox-src/vm/provision.sh > /provision-2.log 2>&1 || { echo SECOND-FAILED; cat"
                            + " /provision-2.log; exit 1; }",
                    "cat /provision-2.log",
                    "grep ' /srv/work btrfs ' /proc/mounts >/dev/null && echo WORK-IS-BTRFS",
                    "btrfs subvolume create /srv/work/demo >/dev/null && chown dev: /srv/work/demo",
                    "su dev -s /bin/sh -c 'cd /srv/work/demo && git init -q && sandbox doctor'",
                    "");
            Proc.Result r = debian.run("provision-test", inside, Duration.ofMinutes(30));

            assertEquals(0, r.exitCode(), "both provisioning runs and doctor passed" + r.describe());
            assertTrue(r.stdout().contains("provision: packages: all there"), "the second run installed nothing"
                    + r.describe());
            assertTrue(r.stdout().contains("WORK-IS-BTRFS"), "repositories go on a btrfs" + r.describe());
            assertTrue(r.stdout().contains("✔ overlayfs in a user namespace"), r.describe());
            assertTrue(r.stdout().contains("snapshots: --snapshot auto uses btrfs (the repository is a subvolume"),
                    "O(1) snapshots for a repository on /srv/work" + r.describe());
        }
    }
}
