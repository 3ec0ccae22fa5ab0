package dev.sandbox.launch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Builds a {@code sandbox-helper} argv. The options mirror the helper's own (see
 * native-helpers/README.md) and are applied by it in this order, so the same line can be
 * pasted into a shell to debug a sandbox by hand.
 */
public final class HelperCommand {
    private final List<String> argv = new ArrayList<>();

    public HelperCommand(Path helper) {
        argv.add(helper.toString());
    }

    public HelperCommand hostname(String name) {
        return add("--hostname", name);
    }

    public HelperCommand net(String mode) {
        return add("--net", mode);
    }

    public HelperCommand tty(String mode) {
        return add("--tty", mode);
    }

    /**
     * The lock the helper's outer process holds for its whole life ({@code flock}): while it is
     * held the sandbox runs, however the launcher fared (docs/ARCHITECTURE.md §3).
     */
    public HelperCommand lock(Path file) {
        return add("--lock", file.toString());
    }

    /** Where the helper writes "OUTER INIT\n", its host pids, once the sandbox's init exists. */
    public HelperCommand pidFile(Path file) {
        return add("--pid-file", file.toString());
    }

    /** Where the helper writes "STATUS\n" just before it exits. */
    public HelperCommand exitFile(Path file) {
        return add("--exit-file", file.toString());
    }

    /**
     * Every byte the agent writes appended to {@code file}, which is renamed to
     * {@code file.1} when it would pass {@code maxBytes} (so at most twice that is kept).
     */
    public HelperCommand log(Path file, long maxBytes) {
        return add("--log", file.toString(), "--log-max", Long.toString(maxBytes));
    }

    /**
     * The outer process leaves the launcher's session and serves the agent's pty on the unix
     * socket {@code socket} (the supervisor); it says "started" on stdout once the agent runs.
     * It outlives the launcher unless {@code dieWithParent}: a background launcher that holds
     * the sandbox's network, without which the sandbox would run on with none.
     */
    public HelperCommand detach(Path socket, boolean dieWithParent) {
        add("--detach", "--socket", socket.toString());
        return dieWithParent ? add("--die-with-parent") : this;
    }

    public HelperCommand tmpfs(Path dest) {
        return add("--tmpfs", dest.toString());
    }

    public HelperCommand overlay(Path lower, Path upper, Path work, Path dest) {
        return overlay(List.of(lower), upper, work, dest);
    }

    /**
     * A writable overlay of several lower layers, topmost first (a layered snapshot, {@code
     * lowerdir=top:...:bottom}): the layers below the first go before {@code --overlay} as
     * {@code --overlay-lower}, in order (native-helpers/README.md).
     *
     * @throws IllegalArgumentException when {@code lowers} is empty
     */
    public HelperCommand overlay(List<Path> lowers, Path upper, Path work, Path dest) {
        if (lowers.isEmpty()) {
            throw new IllegalArgumentException("an overlay needs a lower layer");
        }
        for (Path below : lowers.subList(1, lowers.size())) {
            add("--overlay-lower", below.toString());
        }
        return add("--overlay", lowers.get(0).toString(), upper.toString(), work.toString(), dest.toString());
    }

    public HelperCommand hide(Path path) {
        return add("--hide", path.toString());
    }

    public HelperCommand bind(Path source, Path dest) {
        return add("--bind", source.toString(), dest.toString());
    }

    public HelperCommand roBind(Path source, Path dest) {
        return add("--ro-bind", source.toString(), dest.toString());
    }

    /**
     * A read-only overlay of the host directory {@code source}: no host socket below it can be
     * connected, whatever its name; a file, or a directory with mounts below it, is bound
     * read-only instead (see native-helpers/README.md).
     */
    public HelperCommand roOverlay(Path source, Path dest) {
        return add("--ro-overlay", source.toString(), dest.toString());
    }

    /** A read-only bind of {@code source}, or nothing when it does not exist. */
    public HelperCommand roBindTry(Path source, Path dest) {
        return add("--ro-bind-try", source.toString(), dest.toString());
    }

    /** A symbolic link to {@code target} (kept as written) at {@code dest}. */
    public HelperCommand symlink(Path target, Path dest) {
        return add("--symlink", target.toString(), dest.toString());
    }

    /** An empty directory at {@code dest}. */
    public HelperCommand dir(Path dest) {
        return add("--dir", dest.toString());
    }

    public HelperCommand setenv(String name, String value) {
        return add("--setenv", name, value);
    }

    /** The host's 127.0.0.1:HOSTPORT relayed to the sandbox's PORT; SPEC is {@code HOSTPORT:PORT/PROTO}. */
    public HelperCommand publish(String spec) {
        return add("--publish", spec);
    }

    /** The sandbox's 127.0.0.1:{@code port} relayed to the host's unix {@code socket}. */
    public HelperCommand forward(int port, Path socket) {
        return add("--forward", Integer.toString(port), socket.toString());
    }

    /** The sandbox's resolver on 127.0.0.1:53 answers every query "no such name" (no network). */
    public HelperCommand dnsNxdomain() {
        return add("--dns-nxdomain");
    }

    /** The launcher's unix socket: the helper reports there and waits for "go". */
    public HelperCommand control(Path socket) {
        return add("--control", socket.toString());
    }

    /** The host's character device {@code dev} (under /dev) in the sandbox's /dev. */
    public HelperCommand dev(Path dev) {
        return add("--dev", dev.toString());
    }

    /** {@code program} (inside) started before the agent in a nested user namespace; the agent waits for {@code socket}. */
    public HelperCommand engine(Path program, Path socket) {
        return add("--engine", program.toString(), socket.toString());
    }

    /** The subordinate id ranges, {@code UID:COUNT:GID:COUNT}, mapped into the sandbox and the engine. */
    public HelperCommand subids(String spec) {
        return add("--subids", spec);
    }

    /**
     * Lets a root caller's agent keep {@code CAP_SETFCAP} for nested user namespaces, unless
     * another user can reach a host path it may write ({@link #reachableBindSource}): there a
     * nested root, the host's uid 0, could leave a setuid-root file (docs/ARCHITECTURE.md §11).
     * The helper ignores the option for other callers.
     *
     * @return the first such path, when the option was left out
     */
    public Optional<Path> nestRootUnlessReachable() {
        Optional<Path> reachable = reachableBindSource(argv);
        if (reachable.isEmpty()) {
            add("--nest-root");
        }
        return reachable;
    }

    /**
     * The first {@code --bind} source of a helper argv (options before {@code --}) that a user
     * other than root may reach: no directory above it that the agent can't write (above every
     * bind source) is owned by uid 0 with no search permission for group and others ({@code
     * mode & 011 == 0}). A POSIX ACL's named entries are bounded by the group-class bits of
     * the mode (its mask), so such a directory shuts them out too. The source itself does not
     * count, nor any directory inside a bind: the agent, whose euid is the host's 0, owns them
     * and may chmod them. Links are resolved first, as the helper does; a source that can't be
     * resolved or read counts as reachable.
     */
    public static Optional<Path> reachableBindSource(List<String> argv) {
        List<Path> sources = new ArrayList<>();
        List<Path> real = new ArrayList<>();
        for (int i = 0; i < argv.size() && !argv.get(i).equals("--"); i++) {
            if (argv.get(i).equals("--bind") && i + 2 < argv.size()) {
                Path source = Path.of(argv.get(i + 1));
                sources.add(source);
                try {
                    real.add(source.toRealPath());
                } catch (IOException e) {
                    return Optional.of(source);
                }
                i += 2;
            }
        }
        for (int i = 0; i < real.size(); i++) {
            if (!shutAway(real.get(i), real)) {
                return Optional.of(sources.get(i));
            }
        }
        return Optional.empty();
    }

    private static boolean shutAway(Path source, List<Path> writable) {
        for (Path dir = source.getParent(); dir != null; dir = dir.getParent()) {
            Path d = dir;
            if (writable.stream().anyMatch(d::startsWith)) {
                continue;
            }
            try {
                Map<String, Object> attrs = Files.readAttributes(dir, "unix:uid,mode", LinkOption.NOFOLLOW_LINKS);
                if ((Integer) attrs.get("uid") == 0 && ((Integer) attrs.get("mode") & 0011) == 0) {
                    return true;
                }
            } catch (IOException e) {
                return false;
            }
        }
        return false;
    }

    public HelperCommand chdir(Path dir) {
        return add("--chdir", dir.toString());
    }

    /** Ends the options; {@code command} is passed to execvp inside the sandbox untouched. */
    public List<String> command(List<String> command) {
        List<String> all = new ArrayList<>(argv);
        all.add("--");
        all.addAll(command);
        return List.copyOf(all);
    }

    private HelperCommand add(String... words) {
        argv.addAll(List.of(words));
        return this;
    }
}
