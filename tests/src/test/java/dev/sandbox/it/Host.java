package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The machine the tests run on: who we are, the tools it has, the clean environment every
 * subprocess gets, and the test run's scratch directories, which the unprivileged user can
 * traverse (JUnit's {@code @TempDir} is 0700) and which are removed when the JVM ends.
 */
final class Host {
    static final String MINIMAL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static final Map<String, Path> BASES = new ConcurrentHashMap<>();
    private static volatile Path dist;

    private Host() {
    }

    static boolean isRoot() {
        return uid() == 0;
    }

    /** The effective uid of this JVM (the owner of {@code /proc/self}). */
    static int uid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The environment of every subprocess: nothing of the real home, git config or PATH leaks in. */
    static Map<String, String> cleanEnv(Path home) {
        Map<String, String> env = new HashMap<>();
        env.put("HOME", home.toString());
        env.put("PATH", MINIMAL_PATH);
        env.put("LANG", "C.UTF-8");
        env.put("GIT_CONFIG_NOSYSTEM", "1");
        env.put("GIT_AUTHOR_NAME", "Sandbox Test");
        env.put("GIT_AUTHOR_EMAIL", "sandbox-test@example.invalid");
        env.put("GIT_COMMITTER_NAME", "Sandbox Test");
        env.put("GIT_COMMITTER_EMAIL", "sandbox-test@example.invalid");
        if (which("java") == null) {
            // No java on the minimal PATH: bin/sandbox then takes the one running these tests.
            env.put("JAVA_HOME", System.getProperty("java.home"));
        }
        return env;
    }

    /** The absolute path of {@code tool} on the minimal PATH, or null. */
    static String which(String tool) {
        if (tool.contains("/")) {
            return tool;
        }
        for (String dir : MINIMAL_PATH.split(":")) {
            File f = new File(dir, tool);
            if (f.isFile() && f.canExecute()) {
                return f.getPath();
            }
        }
        return null;
    }

    /** Whether /dev/net/tun is open to every user (udev's 0666), as pasta needs for an unprivileged user. */
    static boolean tunOpenToAll() {
        try {
            Set<java.nio.file.attribute.PosixFilePermission> p = Files.getPosixFilePermissions(Path.of("/dev/net/tun"));
            return p.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ)
                    && p.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The start of a command line that runs the rest in a private mount namespace where
     * /dev/net/tun is a 0600 root device, as on a machine without udev. Root only: it makes the
     * device node in {@code dir} and binds it there with unshare.
     */
    static List<String> tunClosed(Path dir) {
        Path closed = dir.resolve("tun");
        Proc.hostOk(dir, "mknod", "-m", "0600", closed.toString(), "c", "10", "200");
        return List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
                "mount --bind \"$0\" /dev/net/tun && exec \"$@\"", closed.toString());
    }

    static boolean has(String tool) {
        return which(tool) != null;
    }

    /** This test run's scratch directory under {@code parent} (0755), made once and deleted at exit. */
    static Path base(String parent) {
        return BASES.computeIfAbsent(parent, p -> {
            try {
                Path base = Files.createTempDirectory(Path.of(p), "sandbox-it-");
                Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTreeQuietly(base)));
                return base;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    static Path base() {
        return base("/tmp");
    }

    /** A HOME for host tools the tests run as themselves (git, chown), never the real one. */
    static Path scratchHome() {
        Path home = base().resolve("host-home");
        try {
            Files.createDirectories(home);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return home;
    }

    /**
     * The distribution under test, copied once per run into a world-readable directory so
     * that root and the unprivileged user run the very same files.
     */
    static synchronized Path dist() {
        if (dist == null) {
            String built = System.getProperty("sandbox.dist");
            assertTrue(built != null && Files.isExecutable(Path.of(built, "bin", "sandbox")),
                    "system property sandbox.dist must name the built distribution (launcher/target/sandbox), got "
                            + built);
            Path copy = base().resolve("dist");
            Proc.hostOk(base(), "cp", "-a", "--", Path.of(built).toAbsolutePath().normalize().toString(),
                    copy.toString());
            Proc.hostOk(base(), "chmod", "-R", "a+rX,go-w", copy.toString());
            dist = copy;
        }
        return dist;
    }

    /** The source tree the distribution under test was built in (launcher/target/sandbox's top). */
    static Path sourceTree() {
        return Path.of(System.getProperty("sandbox.dist")).toAbsolutePath().normalize().getParent().getParent()
                .getParent();
    }

    /**
     * Copies the source tree to {@code dest} (made with its parents), without build output,
     * git's data or Vagrant's state.
     */
    static void copySourceTree(Path dest) {
        try {
            Files.createDirectories(dest);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Proc.hostOk(dest.getParent(), "rsync", "-a", "--exclude", "target/", "--exclude", "/native-helpers/build/",
                "--exclude", "/.git/", "--exclude", "/.vagrant/", sourceTree() + "/", dest + "/");
    }

    static Path sandboxBin() {
        return dist().resolve("bin").resolve("sandbox");
    }

    /** The uid of {@code user}, or -1 if there is no such user. */
    static int uidOf(String user) {
        Proc.Result r = Proc.host(Path.of("/"), "id", "-u", "--", user);
        return r.exitCode() == 0 ? Integer.parseInt(r.stdout().strip()) : -1;
    }

    /** Deletes a tree the tests made, including overlay work dirs the kernel left mode 000. */
    static void deleteTree(Path dir) {
        if (!deleteTreeQuietly(dir)) {
            fail("could not delete " + dir);
        }
    }

    /** Whether {@code dir} is gone afterwards. */
    static boolean deleteTreeQuietly(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return true;
        }
        String path = dir.toString();
        List<List<String>> steps = List.of(List.of(which("chmod"), "-R", "u+rwX", "--", path),
                List.of(which("rm"), "-rf", "--", path));
        for (List<String> step : steps) {
            try {
                ProcessBuilder pb = new ProcessBuilder(step).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD);
                pb.environment().clear();
                pb.environment().put("PATH", MINIMAL_PATH);
                Process p = pb.start();
                if (!p.waitFor(60, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return !Files.exists(dir, LinkOption.NOFOLLOW_LINKS);
    }
}
