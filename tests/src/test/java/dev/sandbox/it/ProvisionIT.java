package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code vm/provision.sh}, the VM's provisioning, on a fresh Debian 12 root filesystem that
 * debootstrap makes from Debian's mirror: run twice in a container the test builds (its own
 * mount and PID namespaces, pivot_root into the tree, this machine's network), it exits 0
 * both times, and {@code sandbox doctor} then passes there for an unprivileged user.
 */
class ProvisionIT {
    private static final String MIRROR = "http://deb.debian.org/debian";

    @Test
    void provisioning_twiceOnAFreshDebian12_exitsZeroBothTimes_andLeavesAWorkingDoctor() throws Exception {
        Skip.unless(Host.isRoot(), "debootstrap and the container need root");
        Skip.unless(Host.has("debootstrap") && Host.has("unshare") && Host.has("rsync"),
                "needs debootstrap, unshare and rsync (tests/prepare-machine installs them)");
        try (Workspace ws = Workspace.create(Runner.ROOT, "/var/tmp")) {
            Path root = ws.mkdir("rootfs");
            Proc.Result boot = Proc.start(List.of("debootstrap", "--variant=minbase", "--include=ca-certificates",
                    "bookworm", root.toString(), MIRROR), ws.dir(), Host.cleanEnv(Host.scratchHome()))
                    .await(Duration.ofMinutes(15));
            Skip.unless(boot.exitCode() == 0 || !boot.stderr().contains("Failed getting release file"),
                    "Debian's mirror can't be reached here: " + boot.stderr().lines().reduce((a, b) -> b).orElse(""));
            assertEquals(0, boot.exitCode(), "debootstrap made the tree" + boot.describe());

            Host.copySourceTree(root.resolve("opt/sandbox-src"));

            // A network that inspects TLS (this machine's may) needs its CA in the VM as well.
            Path localCas = Path.of("/usr/local/share/ca-certificates");
            if (Files.isDirectory(localCas)) {
                Proc.hostOk(ws.dir(), "cp", "-r", localCas + "/.", root.resolve("usr/local/share/ca-certificates") + "/");
            }
            String inside = String.join("\n",
                    "set -e",
                    "update-ca-certificates >/dev/null 2>&1",
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
            Files.writeString(root.resolve("provision-test.sh"), inside);
            String container = String.join("\n",
                    "set -e",
                    "r=$1",
                    "mount --make-rprivate /",
                    "mount --rbind \"$r\" \"$r\"",
                    "mount -t proc proc \"$r/proc\"",
                    "mount --rbind /sys \"$r/sys\"",
                    "mount --rbind /dev \"$r/dev\"",
                    "cp /etc/resolv.conf \"$r/etc/resolv.conf\"",
                    "cd \"$r\"",
                    "mkdir -p .old",
                    "pivot_root . .old",
                    "cd /",
                    "umount -l /.old",
                    "exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root"
                            + " LANG=C.UTF-8 sh /provision-test.sh",
                    "");
            Path script = ws.dir().resolve("container.sh");
            Files.writeString(script, container);
            Map<String, String> env = Host.cleanEnv(Host.scratchHome());
            Proc.Result r = Proc.start(List.of("unshare", "--mount", "--pid", "--fork", "--uts", "sh", script.toString(),
                    root.toString()), ws.dir(), env).await(Duration.ofMinutes(30));

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
