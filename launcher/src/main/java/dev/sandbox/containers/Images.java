package dev.sandbox.containers;

import dev.sandbox.error.SandboxException;
import dev.sandbox.launch.Helper;
import dev.sandbox.launch.HelperCommand;
import dev.sandbox.launch.HostView;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The shared image store ({@code sandbox images}): filled once on the host, seen read-only by
 * every sandbox's engine, so that the fifth sandbox neither pulls nor unpacks again. It is
 * maintained by an engine like a sandbox's, with the store as its own storage, so that the
 * files' owners are the ones the sandboxes' engines expect.
 */
public final class Images {
    /** What {@code sandbox images} can do, and whether it needs the network. */
    public enum Action {
        load(false), pull(true), list(false), rm(false);

        final boolean network;

        Action(boolean network) {
            this.network = network;
        }
    }

    private static final Path INPUT = Path.of("/tmp/.sandbox/input");
    private static final List<String> PASSED = List.of("PATH", "HOME", "TERM", "LANG", "LC_ALL", "http_proxy",
            "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY");

    private Images() {
    }

    /**
     * Runs podman's own command for {@code action} against the store; returns its exit status.
     *
     * @param env    the launcher's environment: podman, the subordinate ids and the store's place
     *               ({@link Engine#check}, {@link Engine#imageStore})
     * @param home   the user's home, where the store is without {@code XDG_DATA_HOME}
     * @param cwd    what the files of {@code load} are relative to
     * @param helper the helper, asked for only once the engine and the files passed their checks
     * @throws SandboxException when no engine can start, a file of {@code load} is not readable,
     *     the store can't be locked or prepared, or the wait for podman is interrupted
     */
    public static int run(Map<String, String> env, Path home, Path cwd, Supplier<Helper> helper, Action action,
            List<String> args) {
        Engine.Setup setup = Engine.check(env, home);
        Path store = setup.imageStore();
        List<Path> inputs = new ArrayList<>();
        if (action == Action.load) {
            for (String a : args) {
                Path p = cwd.resolve(a).normalize();
                if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
                    throw SandboxException.cantWithInput("load images from", a, "not a readable file");
                }
                inputs.add(p);
            }
        }
        List<String> podman = new ArrayList<>(List.of(setup.podman().toString(), "--remote", "--url",
                "unix://" + Engine.SOCKET));
        HelperCommand cmd = HostView.addTo(new HelperCommand(helper.get().path())
                .net(action.network ? "host" : "none").tty("never"));
        try {
            Files.createDirectories(store.getParent());
            try (FileChannel lock = FileChannel.open(store.resolveSibling("images.lock"), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE); var held = lock.lock()) {
                Path conf = Files.createTempDirectory(store.getParent(), ".images-engine-");
                try {
                    Engine.addTo(setup, cmd, conf, store.resolveSibling("images.log"), true);
                    List<String> argv = new ArrayList<>();
                    switch (action) {
                        case load -> {
                            // One podman per file: a sandbox's engine load takes one archive at a time.
                            argv.addAll(eachArgument(podman, "load -i"));
                            for (int i = 0; i < inputs.size(); i++) {
                                Path inside = INPUT.resolve(i + "-" + inputs.get(i).getFileName());
                                cmd.roBind(inputs.get(i), inside);
                                argv.add(inside.toString());
                            }
                        }
                        case pull -> {
                            argv.addAll(eachArgument(podman, "pull"));
                            argv.addAll(args);
                        }
                        case list -> {
                            argv.addAll(podman);
                            argv.add("images");
                        }
                        case rm -> {
                            argv.addAll(podman);
                            argv.add("rmi");
                            argv.addAll(args);
                        }
                    }
                    ProcessBuilder pb = new ProcessBuilder(cmd.chdir(Path.of("/")).command(argv)).inheritIO();
                    Map<String, String> podmanEnv = pb.environment();
                    podmanEnv.keySet().retainAll(PASSED);
                    podmanEnv.put("HOME", "/tmp"); // podman's client wants one; the user's may be out of sight
                    return pb.start().waitFor();
                } finally {
                    deleteQuietly(conf);
                }
            }
        } catch (IOException e) {
            throw SandboxException.cant("use the image store", store, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.failure("interrupted");
        }
    }

    /**
     * Removes the engine's configuration: a flat directory of the files {@link Engine#addTo}
     * wrote, which the engine sees read-only. core's {@code Tree} walks any tree an agent
     * made, but containers sit below core (docs/ARCHITECTURE.md, section 2).
     */
    private static void deleteQuietly(Path conf) {
        try {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(conf)) {
                for (Path f : files) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(conf);
        } catch (IOException ignored) {
            // Best effort: a few kilobytes beside the store; the next run takes a fresh name.
        }
    }

    /** A shell that runs {@code podman ACTION ARG} for each argument appended to these words, stopping at a failure. */
    private static List<String> eachArgument(List<String> podman, String action) {
        String p = String.join(" ", podman.stream().map(w -> "'" + w.replace("'", "'\\''") + "'").toList());
        return List.of("/bin/sh", "-c", "set -e; for a; do " + p + " " + action + " \"$a\"; done", "sh");
    }
}
