package dev.sandbox.containers;

import dev.sandbox.error.SandboxException;
import dev.sandbox.launch.HelperCommand;
import dev.sandbox.net.Egress;
import dev.sandbox.net.RuntimeDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A container engine of the sandbox's own: rootless podman serving the Docker API on a socket
 * inside the sandbox, so that its published ports land in the sandbox's network namespace and
 * it dies with the sandbox. The helper starts it ({@code --engine}) as root of a nested user
 * namespace before the agent; this class checks the machine, writes the engine's
 * configuration into the sandbox's directory and adds the helper's options.
 *
 * <p>Inside, {@code /tmp/.containers} (on the sandbox's tmpfs) holds the engine's state,
 * socket and temporary files ({@code tmp/}, its {@code TMPDIR}), {@code /tmp/.sandbox/containers} its configuration (read-only) and
 * {@code /tmp/.sandbox/images} the shared image store (read-only) that
 * {@code sandbox images} fills.
 */
public final class Engine {
    /** The podman to use instead of the one on the PATH. */
    public static final String PODMAN_ENV = "SANDBOX_PODMAN";
    /** {@code off}: containers get a single id even where {@code /etc/subuid} has a range. */
    public static final String SUBIDS_ENV = "SANDBOX_SUBIDS";
    /** The engine's socket inside the sandbox. */
    public static final Path SOCKET = Path.of("/tmp/.containers/docker.sock");
    static final Path STATE = Path.of("/tmp/.containers");
    static final Path CONFIG = Path.of("/tmp/.sandbox/containers");
    static final Path LOG = Path.of("/tmp/.sandbox/containers.log");
    static final Path IMAGES = Path.of("/tmp/.sandbox/images");
    static final Path TUN = Path.of("/dev/net/tun");
    /** The fix for a missing podman. */
    public static final String INSTALL_FIX = "sudo apt-get install podman";
    static final String INSTALL_HINT = "podman is not installed (" + INSTALL_FIX + ")";

    /**
     * What the engines of one run share.
     *
     * @param subIds      the ranges containers' other users map to; empty: a single id
     * @param singleWhy   why there are no ranges, when there are none
     * @param imageStore  the shared, read-only image store on the host
     */
    public record Setup(Path podman, int uid, int gid, Optional<SubIds> subIds, String singleWhy, Path imageStore) {
        /** Who the engine's root is on the host: the user, or for root the first subordinate id. */
        int engineUid() {
            return uid == 0 ? (int) subIds.orElseThrow().uid() : uid;
        }

        int engineGid() {
            return uid == 0 ? (int) subIds.orElseThrow().gid() : gid;
        }

        /** One line for {@code doctor} and the start of a run. */
        public String describe() {
            return subIds.map(s -> "containers can switch users (" + s.describe() + ")")
                    .orElse("containers run with one id: images that switch users (--user, chown, su) fail, because "
                            + singleWhy);
        }
    }

    private Engine() {
    }

    /** Checks the machine once per run; one line with the fix when it cannot have engines. */
    public static Setup check(Map<String, String> env, Path home) {
        String override = env.get(PODMAN_ENV);
        Optional<Path> podman = override != null && !override.isEmpty()
                ? Optional.of(Path.of(override)).filter(Files::isExecutable)
                : Egress.find("podman", env.get("PATH"));
        if (podman.isEmpty()) {
            throw SandboxException.failure("can't give the sandbox a container engine: " + INSTALL_HINT);
        }
        String tunProblem = tunProblem();
        if (tunProblem != null) {
            throw SandboxException.failure("can't give the sandbox a container engine: " + tunProblem);
        }
        int uid = RuntimeDir.uid();
        int gid = RuntimeDir.gid();
        String user = userName();
        Optional<SubIds> ids = Optional.empty();
        String why;
        if ("off".equals(env.get(SUBIDS_ENV))) {
            why = SUBIDS_ENV + " is off";
        } else {
            ids = SubIds.read(Path.of("/etc/subuid"), Path.of("/etc/subgid"), user, uid);
            long free = SubIds.freeStart(Path.of("/etc/subuid"), Path.of("/etc/subgid"));
            String range = free + "-" + (free + SubIds.MAX - 1);
            why = "/etc/subuid and /etc/subgid have no range for '" + user + "' (add one: sudo usermod"
                    + " --add-subuids " + range + " --add-subgids " + range + " " + user + ")";
            if (ids.isPresent() && uid != 0 && (Egress.find("newuidmap", env.get("PATH")).isEmpty()
                    || Egress.find("newgidmap", env.get("PATH")).isEmpty())) {
                ids = Optional.empty();
                why = "newuidmap and newgidmap are not installed (sudo apt-get install uidmap)";
            }
        }
        if (uid == 0 && ids.isEmpty()) {
            throw SandboxException.failure("can't give the sandbox a container engine as root: its containers would"
                    + " run as this machine's root; " + why.replace("have no range", "need a range"));
        }
        return new Setup(podman.get(), uid, gid, ids, why, imageStore(env, home));
    }

    /** Where podman looks for runc when its configuration names it (containers.conf's runtimes). */
    static final List<Path> RUNC = List.of(Path.of("/usr/bin/runc"), Path.of("/usr/sbin/runc"),
            Path.of("/usr/local/bin/runc"), Path.of("/usr/local/sbin/runc"), Path.of("/sbin/runc"), Path.of("/bin/runc"));
    /** Where podman looks for netavark and aardvark-dns (containers.conf's helper_binaries_dir). */
    static final List<Path> HELPER_DIRS = List.of(Path.of("/usr/local/libexec/podman"), Path.of("/usr/local/lib/podman"),
            Path.of("/usr/libexec/podman"), Path.of("/usr/lib/podman"));

    /**
     * What the engine's configuration needs besides podman and this machine lacks: runc (the
     * runtime it names), netavark and aardvark-dns (its networks and their names). Each name
     * is also the Debian package that brings it. Debian's podman depends on crun or runc and
     * only recommends the rest, so an install without recommends can lack all three.
     */
    public static List<String> missingPackages(String pathEnv) {
        List<String> missing = new ArrayList<>();
        if (RUNC.stream().noneMatch(Files::isExecutable) && Egress.find("runc", pathEnv).isEmpty()) {
            missing.add("runc");
        }
        for (String helper : List.of("netavark", "aardvark-dns")) {
            if (HELPER_DIRS.stream().noneMatch(dir -> Files.isExecutable(dir.resolve(helper)))) {
                missing.add(helper);
            }
        }
        return missing;
    }

    /** Why /dev/net/tun (the engine's networks) is unusable, or null. */
    public static String tunProblem() {
        if (!Files.exists(TUN)) {
            return TUN + " does not exist (sudo modprobe tun)";
        }
        if (!Files.isReadable(TUN) || !Files.isWritable(TUN)) {
            return TUN + " is not readable and writable by you, which container networks need (0600 root where no"
                    + " udev runs: sudo chmod 0666 " + TUN + ", as udev does)";
        }
        return null;
    }

    /** The shared image store: {@code $XDG_DATA_HOME/sandbox/images}, else under the home. */
    public static Path imageStore(Map<String, String> env, Path home) {
        String data = env.get("XDG_DATA_HOME");
        Path base = data != null && data.startsWith("/") ? Path.of(data) : home.resolve(".local").resolve("share");
        return base.resolve("sandbox").resolve("images");
    }

    /**
     * Writes the engine's configuration into {@code dir} and adds the helper's options:
     * the device, the binds, the engine and the agent's variables. With {@code maintain}, the
     * image store is the engine's own, writable storage ({@code sandbox images}); otherwise
     * it is an additional, read-only one when it exists.
     */
    public static void addTo(Setup setup, HelperCommand cmd, Path dir, Path log, boolean maintain) {
        try {
            Files.createDirectories(dir);
            // The engine's root (a subordinate id, as root) reads it through the bind.
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            boolean withStore = maintain || Files.isDirectory(setup.imageStore().resolve("overlay-images"));
            if (maintain) {
                Files.createDirectories(setup.imageStore());
                chown(setup, setup.imageStore());
            }
            if (withStore) {
                // Images hold setuid files (su) owned by the engine's root, the user or a
                // subordinate id: like the sandboxes' layers, only the user may reach them.
                Files.setPosixFilePermissions(setup.imageStore().getParent(),
                        PosixFilePermissions.fromString("rwx------"));
            }
            Files.writeString(dir.resolve("containers.conf"), containersConf());
            Files.writeString(dir.resolve("storage.conf"), storageConf(setup, maintain, withStore));
            Path script = dir.resolve("engine");
            Files.writeString(script, script(setup));
            Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.deleteIfExists(log);
            Files.createFile(log);
            chown(setup, log);
            cmd.dev(TUN).roBind(dir, CONFIG).bind(log, LOG);
            if (withStore) {
                if (maintain) {
                    cmd.bind(setup.imageStore(), IMAGES);
                } else {
                    cmd.roBind(setup.imageStore(), IMAGES);
                }
            }
        } catch (IOException e) {
            throw SandboxException.cant("prepare the container engine in", dir, e);
        }
        setup.subIds().ifPresent(s -> cmd.subids(s.spec()));
        String url = "unix://" + SOCKET;
        cmd.engine(CONFIG.resolve("engine"), SOCKET)
                .setenv("DOCKER_HOST", url)
                .setenv("CONTAINER_HOST", url)
                // Testcontainers: ports are reached on the sandbox's loopback, and the sandbox's
                // end removes what a test leaves (Ryuk would need the socket mounted in a container).
                .setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
                .setenv("TESTCONTAINERS_RYUK_DISABLED", "true");
    }

    static String containersConf() {
        return """
                # The sandbox's container engine (written by sandbox for this sandbox only).
                [engine]
                # No systemd and no cgroup of the sandbox's own: podman's own cgroup handling.
                cgroup_manager = "cgroupfs"
                events_logger = "file"
                events_logfile_path = "/tmp/.containers/events.log"
                # crun 1.8 refuses hosts with both cgroup versions; runc works everywhere here.
                runtime = "runc"

                [network]
                # CNI's dnsname plugin runs dnsmasq, which must change its group: not with one id.
                network_backend = "netavark"
                """;
    }

    static String storageConf(Setup setup, boolean maintain, boolean withStore) {
        StringBuilder s = new StringBuilder("""
                # The sandbox's container storage (written by sandbox for this sandbox only).
                [storage]
                driver = "overlay"
                runroot = "/tmp/.containers/run/storage"
                """);
        // Rootless podman reads rootless_storage_path, not graphroot.
        Path graph = maintain ? IMAGES : STATE.resolve("storage");
        s.append("graphroot = \"").append(graph).append("\"\nrootless_storage_path = \"").append(graph).append("\"\n");
        if (withStore && !maintain) {
            s.append("\n[storage.options]\nadditionalimagestores = [\"").append(IMAGES).append("\"]\n");
        }
        if (setup.subIds().isEmpty()) {
            s.append("\n[storage.options.overlay]\n# One id: every file of an image belongs to it.\nignore_chown_errors"
                    + " = \"true\"\n");
        }
        return s.toString();
    }

    static String script(Setup setup) {
        return """
                #!/bin/sh
                # The sandbox's container engine, started by sandbox-helper as root of a nested
                # user namespace before the agent (written by sandbox for this sandbox only).
                set -e
                state=%s
                mkdir -p "$state/run" "$state/storage" "$state/tmp"
                # The agent's variables point at this engine; podman itself must not be a client.
                unset CONTAINER_HOST DOCKER_HOST
                export _CONTAINERS_USERNS_CONFIGURED=done _CONTAINERS_ROOTLESS_UID=%d _CONTAINERS_ROOTLESS_GID=%d
                # Its temporary files are its own. podman 4.3 still unpacks an oci-archive's manifest
                # under /var/tmp whatever TMPDIR says: the sandbox's tmpfs, shared with the agent so
                # that -v binds the /var/tmp the agent sees.
                export HOME="$state" XDG_RUNTIME_DIR="$state/run" XDG_CONFIG_HOME="$state/config" TMPDIR="$state/tmp"
                export CONTAINERS_CONF=%s/containers.conf CONTAINERS_STORAGE_CONF=%s/storage.conf
                exec %s system service --time=0 unix://%s >>%s 2>&1
                """.formatted(STATE, setup.engineUid(), setup.engineGid(), CONFIG, CONFIG, quote(setup.podman()),
                SOCKET, LOG);
    }

    private static String quote(Path p) {
        return "'" + p.toString().replace("'", "'\\''") + "'";
    }

    /** As root, what the engine writes belongs to its root, the first subordinate id. */
    private static void chown(Setup setup, Path path) throws IOException {
        if (setup.uid() == 0) {
            Files.setAttribute(path, "unix:uid", setup.engineUid());
            Files.setAttribute(path, "unix:gid", setup.engineGid());
        }
    }

    private static String userName() {
        try {
            return Files.getOwner(Path.of("/proc/self")).getName();
        } catch (IOException e) {
            return Integer.toString(RuntimeDir.uid());
        }
    }
}
