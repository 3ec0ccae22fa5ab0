package dev.sandbox.launch;

import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.FileVisitor;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * What every sandbox shows of the host, the one list of it: the helper's root starts empty
 * (see native-helpers/README.md), so whatever is not added here, by the home's layer, the
 * repository's or a profile's grant is not there at all. An allow-list as Flatpak's and the
 * bubblewrap-based sandboxes of Codex and Claude Code build theirs, so that the host's
 * {@code /run} (docker's, D-Bus', the user's agents' sockets), {@code /var/lib}, {@code /srv},
 * {@code /mnt}, {@code /media}, {@code /boot} and other users' homes stay out by construction.
 *
 * <p>The system directories are read-only binds, not read-only overlays as the home's
 * {@code readonly} view is: only root can bind a socket or make a hard link in them, daemons
 * bind theirs under {@code /run}, and an overlay would hide their submounts (a container
 * runtime binds {@code /etc/hosts} and {@code /etc/resolv.conf} into {@code /etc}), while
 * sockets the host lists there are covered by path all the same. The mount itself costs
 * nothing measurable, but every file's first use does: on Linux 6.18 a cold
 * {@code ls -R /usr/lib} took 265 ms through an overlay against 150 ms through a bind
 * (median of 10), a cost every compiler and interpreter start would pay.
 */
public final class HostView {
    /** The system's programs, libraries and settings: read-only, where present. */
    static final List<Path> SYSTEM = List.of(Path.of("/usr"), Path.of("/bin"), Path.of("/sbin"), Path.of("/etc"),
            Path.of("/opt"), Path.of("/nix"));

    /**
     * How deep below {@code /etc} the walk for root-only entries goes; a directory at this
     * depth is hidden whole, as its content was not looked at. Debian's /etc is 5 deep.
     */
    static final int ETC_DEPTH = 8;

    private HostView() {
    }

    /**
     * Adds the host's part of the root to {@code cmd}; call it before any other mount operation.
     * For a root caller, who is the host's root inside too, what only root may read in
     * {@code /etc} is hidden (see {@link #rootOnly}).
     */
    public static HelperCommand addTo(HelperCommand cmd) {
        return addTo(cmd, Path.of("/"), Posix.isRoot());
    }

    /** As {@link #addTo(HelperCommand)} for a host whose root is {@code root} (tests). */
    static HelperCommand addTo(HelperCommand cmd, Path root, boolean rootCaller) {
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
        if (rootCaller) {
            // /etc/shadow, /etc/ssh/ssh_host_*_key, /etc/ssl/private: a user's agent can't
            // read them, and root's shouldn't either, as it can send them out (--net egress).
            for (Path p : rootOnly(onHost(root, Path.of("/etc")))) {
                cmd.hide(Path.of("/etc").resolve(onHost(root, Path.of("/etc")).relativize(p).toString()));
            }
        }
        return cmd;
    }

    /**
     * Every entry below {@code dir} that others could not read: a file without read
     * permission for others, a directory without read and search permission for others (not
     * walked into), and any directory {@link #ETC_DEPTH} deep. Links are never followed: a
     * link is as readable as its target, which is checked where it is when it is shown. An
     * entry gone meanwhile is skipped; an unreadable {@code dir} gives nothing.
     */
    static List<Path> rootOnly(Path dir) {
        List<Path> found = new ArrayList<>();
        Set<PosixFilePermission> dirNeeds = Set.of(PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_EXECUTE);
        try {
            Files.walkFileTree(dir, Set.of(), ETC_DEPTH, new FileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                    if (!d.equals(dir) && !permissions(d, attrs).containsAll(dirNeeds)) {
                        found.add(d);
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                    if (attrs.isSymbolicLink()) {
                        return FileVisitResult.CONTINUE;
                    }
                    // A directory here is one ETC_DEPTH deep: not walked, so not shown.
                    if (attrs.isDirectory() || !permissions(f, attrs).contains(PosixFilePermission.OTHERS_READ)) {
                        found.add(f);
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path f, IOException e) {
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) {
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            // gone meanwhile: nothing to hide
        }
        return found;
    }

    private static Set<PosixFilePermission> permissions(Path p, BasicFileAttributes attrs) throws IOException {
        if (attrs instanceof PosixFileAttributes posix) {
            return posix.permissions();
        }
        return Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS).permissions();
    }

    /**
     * The host's directories every sandbox shows as they are, read-only: {@link #systemPaths}
     * (a top-level link among them, {@code /bin -> usr/bin}, reaches its target's bind).
     */
    public static List<Path> shown() {
        return systemPaths(Path.of("/"));
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
     * The host's directories {@link #addTo} replaces with empty ones of the sandbox's own
     * ({@code /var/run} is a link into {@code /run} there): a command under one of them on
     * the host is not inside ({@link NotFound}).
     */
    static final List<Path> PRIVATE = List.of(Path.of("/tmp"), Path.of("/var/tmp"), Path.of("/run"),
            Path.of("/var/run"));

    /**
     * The directories the sandbox makes its own ({@link #addTo} replaces them, the helper
     * mounts the kernel's) or leaves out as the host's state (README, "What the agent can
     * see"): a home that is one of them or holds one would show or cover it.
     */
    static final List<Path> REPLACED = List.of(Path.of("/tmp"), Path.of("/run"), Path.of("/var"),
            Path.of("/var/tmp"), Path.of("/var/run"), Path.of("/var/lock"), Path.of("/proc"), Path.of("/sys"),
            Path.of("/dev"), Path.of("/boot"), Path.of("/srv"), Path.of("/mnt"), Path.of("/media"),
            Path.of("/home"));

    /**
     * Directories whose every descendant is the sandbox's own or the host's system: a home
     * below one would be a second view of the kernel's files, or, below {@code /etc}, cover
     * the root-only entries {@link #addTo} hides and the generated {@link EtcFiles}.
     */
    static final List<Path> NOT_BELOW = List.of(Path.of("/proc"), Path.of("/sys"), Path.of("/dev"), Path.of("/etc"));

    /**
     * Why {@code home} (absolute, normalized) can't be shown as the agent's home, or null
     * when it can: it is, or holds, a directory this class shows from the host or the
     * sandbox replaces or leaves out ({@code HOME=/etc} would show {@code /etc/shadow} and
     * the SSH host keys to a root caller's agent and cover the generated {@code /etc/hosts};
     * {@code HOME=/var} would show {@code /var/lib}), or it lies below {@code /proc},
     * {@code /sys}, {@code /dev} or {@code /etc}. {@code /} is not judged here: the caller
     * shows no home there, silently, as before. The reason reads after "HOME 'X' is not
     * shown: ".
     */
    public static String unfitHome(Path home) {
        return unfitHome(Path.of("/"), home);
    }

    /** As {@link #unfitHome(Path)} for a host whose root is {@code root} (tests). */
    static String unfitHome(Path root, Path home) {
        if (home.getParent() == null) {
            return null;
        }
        for (Path p : NOT_BELOW) {
            if (home.startsWith(p) && !home.equals(p)) {
                return "it is in " + p + ", which the sandbox shows or makes itself";
            }
        }
        List<Path> all = new ArrayList<>(systemPaths(root));
        all.addAll(REPLACED);
        for (Path p : all) {
            if (p.startsWith(home)) {
                return (p.equals(home) ? "it is " : "it holds ") + p
                        + ", a system directory the sandbox shows or replaces on its own";
            }
        }
        return null;
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
