package dev.sandbox.launch;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

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

    public HelperCommand tmpfs(Path dest) {
        return add("--tmpfs", dest.toString());
    }

    public HelperCommand overlay(Path lower, Path upper, Path work, Path dest) {
        return add("--overlay", lower.toString(), upper.toString(), work.toString(), dest.toString());
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
