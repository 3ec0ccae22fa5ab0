package dev.sandbox.launch;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What every sandbox shows of the host, the one list of it: the helper's root starts empty
 * (see native-helpers/README.md), so whatever is not added here, by the home's layer, the
 * repository's or a profile's grant is not there at all. An allow-list as Flatpak's and the
 * bubblewrap-based sandboxes of Codex and Claude Code build theirs, so that the host's
 * {@code /run} (docker's, D-Bus', the user's agents' sockets), {@code /var/lib}, {@code /srv},
 * {@code /mnt}, {@code /media}, {@code /boot} and other users' homes stay out by construction.
 */
public final class HostView {
    /** The system's programs, libraries and settings: read-only, where present. */
    static final List<Path> SYSTEM = List.of(Path.of("/usr"), Path.of("/bin"), Path.of("/sbin"), Path.of("/etc"),
            Path.of("/opt"), Path.of("/nix"));

    private HostView() {
    }

    /** Adds the host's part of the root to {@code cmd}; call it before any other mount operation. */
    public static HelperCommand addTo(HelperCommand cmd) {
        return addTo(cmd, Path.of("/"));
    }

    /** As {@link #addTo(HelperCommand)} for a host whose root is {@code root} (tests). */
    static HelperCommand addTo(HelperCommand cmd, Path root) {
        for (Path p : systemPaths(root)) {
            Path host = onHost(root, p);
            if (Files.isSymbolicLink(host)) {
                // /bin -> usr/bin on a merged /usr: a link here too, so both names reach one bind.
                try {
                    cmd.symlink(Files.readSymbolicLink(host), p);
                } catch (IOException e) {
                    // gone meanwhile: nothing to show
                }
            } else if (Files.isDirectory(host, LinkOption.NOFOLLOW_LINKS)) {
                cmd.roBindTry(host, p);
            }
        }
        // The sandbox's own scratch space, sticky-writable as on any host.
        cmd.tmpfs(Path.of("/tmp"));
        // /run is empty and the sandbox's own: every daemon's socket and the user's
        // /run/user/UID (gpg-agent, ssh-agent, D-Bus, Wayland, PipeWire) live there.
        cmd.tmpfs(Path.of("/run"));
        // /var is only its conventional shape: /var/lib, /var/cache and the logs are the
        // host's state, not a program's input; /var/tmp is scratch space like /tmp.
        cmd.dir(Path.of("/var"));
        cmd.tmpfs(Path.of("/var/tmp"));
        cmd.symlink(Path.of("../run"), Path.of("/var/run"));
        cmd.symlink(Path.of("../run/lock"), Path.of("/var/lock"));
        Path resolv = resolvConfInRun(root);
        if (resolv != null) {
            // systemd-resolved and resolvconf keep the real file under /run.
            cmd.roBindTry(onHost(root, resolv), resolv);
        }
        return cmd;
    }

    /** {@link #SYSTEM} and every top-level {@code lib*} ({@code lib32}, {@code lib64}, {@code libx32}) of the host. */
    static List<Path> systemPaths(Path root) {
        List<Path> paths = new ArrayList<>(SYSTEM);
        List<Path> libs = new ArrayList<>();
        try (DirectoryStream<Path> top = Files.newDirectoryStream(root, "lib*")) {
            for (Path p : top) {
                libs.add(Path.of("/", p.getFileName().toString()));
            }
        } catch (IOException e) {
            // an unreadable / shows no libraries; the agent's first exec says so
        }
        libs.sort(null);
        paths.addAll(3, libs);
        return paths;
    }

    /**
     * Where the host's {@code /etc/resolv.conf} really is when that is under {@code /run}
     * (a path as the sandbox sees it), else null: the sandbox's {@code /run} is empty.
     * Follows up to 8 links, each relative to the link's directory as the kernel does.
     */
    static Path resolvConfInRun(Path root) {
        Path inside = Path.of("/etc/resolv.conf");
        try {
            for (int hops = 0; hops <= 8; hops++) {
                Path host = onHost(root, inside);
                if (!Files.isSymbolicLink(host)) {
                    return hops > 0 && inside.startsWith("/run") && Files.isRegularFile(host) ? inside : null;
                }
                inside = inside.getParent().resolve(Files.readSymbolicLink(host)).normalize();
                if (inside.startsWith("/var/run")) {
                    inside = Path.of("/run").resolve(Path.of("/var/run").relativize(inside));
                }
            }
        } catch (IOException e) {
            // unreadable: nothing to show
        }
        return null;
    }

    private static Path onHost(Path root, Path inside) {
        return root.resolve(Path.of("/").relativize(inside).toString());
    }
}
