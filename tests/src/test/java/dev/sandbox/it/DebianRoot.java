package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A fresh Debian 12 root filesystem that debootstrap ({@code --variant=minbase}) makes from
 * Debian's mirror, and a container that runs shell scripts in it as root: mount, PID and UTS
 * namespaces of its own, {@code pivot_root} into the tree, this machine's network and
 * {@code /dev}. Every {@link #run} is a new container, so nothing a script started outlives
 * it. Needs root, debootstrap, unshare and the mirror.
 */
final class DebianRoot {
    static final String MIRROR = "http://deb.debian.org/debian";

    /** The PATH of the scripts run inside, Debian's root PATH. */
    static final String PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static final String CONTAINER = String.join("\n",
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
            "exec env -i PATH=" + PATH + " HOME=/root LANG=C.UTF-8 sh \"$2\"",
            "");

    private final Workspace ws;
    private final Path root;

    private DebianRoot(Workspace ws, Path root) {
        this.ws = ws;
        this.root = root;
    }

    /** Skips the calling test unless this machine can build and enter a root. */
    static void assumeAvailable() {
        Skip.unless(Host.isRoot(), "debootstrap and the container need root");
        Skip.unless(Host.has("debootstrap") && Host.has("unshare") && Host.has("rsync"),
                "needs debootstrap, unshare and rsync (tests/prepare-machine installs them)");
    }

    /**
     * Debootstraps Debian 12 with ca-certificates into {@code ws} (which is on a filesystem
     * of the machine's: the tree is a few hundred MiB before anything is installed) and
     * gives it this machine's extra CA certificates: a network that inspects TLS (this
     * machine's may) needs its CA inside as well. Skips the calling test when the mirror
     * cannot be reached; fails it when debootstrap fails otherwise.
     */
    static DebianRoot bootstrap(Workspace ws) {
        Path root = ws.mkdir("rootfs");
        Proc.Result boot = Proc.start(List.of("debootstrap", "--variant=minbase", "--include=ca-certificates",
                "bookworm", root.toString(), MIRROR), ws.dir(), Host.cleanEnv(Host.scratchHome()))
                .await(Duration.ofMinutes(15));
        Skip.unless(boot.exitCode() == 0 || !boot.stderr().contains("Failed getting release file"),
                "Debian's mirror can't be reached here: " + boot.stderr().lines().reduce((a, b) -> b).orElse(""));
        assertEquals(0, boot.exitCode(), "debootstrap made the tree" + boot.describe());
        DebianRoot debian = new DebianRoot(ws, root);
        Path localCas = Path.of("/usr/local/share/ca-certificates");
        if (Files.isDirectory(localCas)) {
            Proc.hostOk(ws.dir(), "cp", "-r", localCas + "/.", root.resolve("usr/local/share/ca-certificates") + "/");
            Proc.Result trusted = debian.run("trust-cas", "update-ca-certificates", Duration.ofMinutes(2));
            assertEquals(0, trusted.exitCode(), "update-ca-certificates in the root" + trusted.describe());
        }
        return debian;
    }

    /** The root's directory on this machine. */
    Path path() {
        return root;
    }

    /**
     * Runs {@code script} with sh as root in a new container on the root, with only PATH,
     * HOME and LANG set, waiting at most {@code timeout}; the script is kept in the root as
     * {@code /NAME.sh}.
     */
    Proc.Result run(String name, String script, Duration timeout) {
        try {
            Files.writeString(root.resolve(name + ".sh"), script);
            Path container = ws.dir().resolve("container.sh");
            if (Files.notExists(container)) {
                Files.writeString(container, CONTAINER);
            }
            return Proc.start(List.of("unshare", "--mount", "--pid", "--fork", "--uts", "sh", container.toString(),
                    root.toString(), "/" + name + ".sh"), ws.dir(), Host.cleanEnv(Host.scratchHome())).await(timeout);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
