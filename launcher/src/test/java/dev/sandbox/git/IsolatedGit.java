package dev.sandbox.git;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.eclipse.jgit.lib.Config;
import org.eclipse.jgit.storage.file.FileBasedConfig;
import org.eclipse.jgit.util.FS;
import org.eclipse.jgit.util.SystemReader;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * git and JGit for unit tests, cut off from the developer's and the machine's configuration,
 * so that a {@code commit.gpgsign}, a {@code core.hooksPath}, an {@code init.defaultBranch},
 * a {@code core.excludesFile} or a missing {@code user.name} in {@code ~/.gitconfig} or
 * {@code /etc/gitconfig} changes no test.
 *
 * <p>For the git command: {@link #run} and {@link #exec} run it with every inherited
 * {@code GIT_*} variable removed, {@code HOME} an empty directory of this JVM's,
 * {@code GIT_CONFIG_NOSYSTEM=1}, {@code GIT_CONFIG_GLOBAL=/dev/null}, and a fixed author and
 * committer ({@link #NAME}, {@link #EMAIL}, {@link #DATE}); {@link #isolate} does the same
 * to the environment of any other child that may run git.
 *
 * <p>For JGit: as an extension ({@code @ExtendWith(IsolatedGit.class)}), it installs for each
 * test a {@link SystemReader} whose {@code HOME} is that directory and whose user and system
 * configurations are empty files there (JGit's own holds the filesystem's timestamp
 * resolution alone), as JGit's own tests do with {@code MockSystemReader}; the reader that
 * was installed before is back after the test. The reader is global to the JVM, so tests
 * that use it must not run in parallel (surefire runs them one at a time here).
 *
 * <p>git that the code under test starts ({@link GitCli}) inherits the test JVM's
 * environment, which launcher/pom.xml isolates the same way for surefire.
 */
public final class IsolatedGit implements BeforeEachCallback, AfterEachCallback {
    /** Author and committer of every commit the git command makes here. */
    public static final String NAME = "Tester";
    public static final String EMAIL = "tester@example.invalid";
    /** Seconds since the epoch and zone, as git reads {@code GIT_AUTHOR_DATE}: 2023-11-14 22:13:20 UTC. */
    public static final String DATE = "@1700000000 +0000";

    private static final String JGIT_CONFIG = "jgit.config";
    private static Path home;

    /** What one git call printed (decoded as UTF-8) and how it ended. */
    public record Result(int status, String out, String err) {
    }

    /**
     * The {@code HOME} of every git and JGit run here: an empty directory made once per JVM
     * in {@code java.io.tmpdir}, removed when the JVM exits.
     */
    public static synchronized Path home() {
        if (home == null) {
            try {
                home = Files.createTempDirectory("sandbox-test-home-");
                Files.writeString(home.resolve(JGIT_CONFIG), timestamps(home));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Path made = home;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> remove(made)));
        }
        return home;
    }

    /**
     * JGit's own configuration for the filesystem of {@code dir} (the temporary directories'),
     * as the launcher gives it ({@code harvest/SystemConfig}): JGit would otherwise time the
     * filesystem's timestamps with probe files for seconds, a result it used to find in the
     * developer's {@code ~/.config/jgit/config}.
     */
    private static String timestamps(Path dir) throws IOException {
        String key = System.getProperty("java.vendor") + '|' + System.getProperty("java.version") + '|'
                + Files.getFileStore(dir).name();
        Config c = new Config();
        c.setString("filesystem", key, "timestampResolution", "10 milliseconds");
        c.setString("filesystem", key, "minRacyThreshold", "10 milliseconds");
        return c.toText();
    }

    /**
     * Makes {@code env}, a child's environment, one in which git reads no configuration but
     * the repository's and commits as {@link #NAME}: every {@code GIT_*} variable is removed
     * (a {@code GIT_DIR} or {@code GIT_CONFIG_PARAMETERS} from a hook that runs the tests
     * included), then the isolating ones set. Returns {@code env}.
     */
    public static Map<String, String> isolate(Map<String, String> env) {
        env.keySet().removeIf(k -> k.startsWith("GIT_"));
        env.remove("XDG_CONFIG_HOME"); // git's ~/.config/git/{ignore,attributes} are then below HOME
        env.put("HOME", home().toString());
        env.put("GIT_CONFIG_NOSYSTEM", "1");
        env.put("GIT_CONFIG_GLOBAL", "/dev/null");
        env.put("GIT_AUTHOR_NAME", NAME);
        env.put("GIT_AUTHOR_EMAIL", EMAIL);
        env.put("GIT_AUTHOR_DATE", DATE);
        env.put("GIT_COMMITTER_NAME", NAME);
        env.put("GIT_COMMITTER_EMAIL", EMAIL);
        env.put("GIT_COMMITTER_DATE", DATE);
        return env;
    }

    /**
     * Runs {@code git -C dir args...} with {@code stdin} (null: none) in an isolated
     * environment, and returns what it printed; nothing is checked.
     */
    public static Result exec(Path dir, String stdin, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-C", dir.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        isolate(pb.environment());
        try {
            Process p = pb.start();
            CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
            try (OutputStream in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            byte[] out = readAll(p.getInputStream());
            int status = p.waitFor();
            return new Result(status, new String(out, StandardCharsets.UTF_8),
                    new String(err.join(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", cmd), e);
        }
    }

    /**
     * Runs {@code git -C dir args...} in an isolated environment and returns its standard
     * output without the whitespace around it; fails the test, with what git said, unless it
     * exits with 0.
     */
    public static String run(Path dir, String... args) {
        return runWithInput(dir, null, args);
    }

    /** As {@link #run}, with {@code stdin} written to git's standard input. */
    public static String runWithInput(Path dir, String stdin, String... args) {
        Result r = exec(dir, stdin, args);
        assertEquals(0, r.status(), () -> "git -C " + dir + " " + String.join(" ", args) + ": " + r.out() + r.err());
        return r.out().strip();
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        Reader reader = new Reader(SystemReader.getInstance(), home());
        SystemReader.setInstance(reader);
        context.getStore(ExtensionContext.Namespace.create(IsolatedGit.class)).put(Reader.class, reader);
    }

    @Override
    public void afterEach(ExtensionContext context) {
        Reader reader = context.getStore(ExtensionContext.Namespace.create(IsolatedGit.class))
                .remove(Reader.class, Reader.class);
        if (reader != null) {
            reader.restore();
        }
    }

    /**
     * JGit's view of the machine for one test. The launcher's own reader
     * ({@code harvest/SystemConfig}) may wrap this one during the test and stays installed
     * after it; this one then passes everything through, as if the previous had been put back.
     */
    private static final class Reader extends SystemReader.Delegate {
        private final SystemReader previous;
        private final Path home;
        private volatile boolean active = true;

        Reader(SystemReader previous, Path home) {
            super(previous);
            this.previous = previous;
            this.home = home;
        }

        void restore() {
            active = false;
            if (SystemReader.getInstance() == this) {
                SystemReader.setInstance(previous);
            }
        }

        @Override
        public String getenv(String variable) {
            if (!active) {
                return super.getenv(variable);
            }
            return switch (variable) {
                case "HOME" -> home.toString();
                case "GIT_CONFIG_NOSYSTEM" -> "1";
                case "XDG_CONFIG_HOME", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_GLOBAL" -> null;
                default -> variable.startsWith("GIT_") ? null : super.getenv(variable);
            };
        }

        @Override
        public FileBasedConfig openUserConfig(Config parent, FS fs) {
            return active ? empty(parent, fs, "user.gitconfig") : super.openUserConfig(parent, fs);
        }

        @Override
        public FileBasedConfig openSystemConfig(Config parent, FS fs) {
            return active ? empty(parent, fs, "system.gitconfig") : super.openSystemConfig(parent, fs);
        }

        @Override
        public FileBasedConfig openJGitConfig(Config parent, FS fs) {
            return active ? empty(parent, fs, JGIT_CONFIG) : super.openJGitConfig(parent, fs);
        }

        /** A configuration in a file of {@code home}'s: empty, but for JGit's own (see {@link #timestamps}). */
        private FileBasedConfig empty(Config parent, FS fs, String name) {
            File file = home.resolve(name).toFile();
            try {
                file.createNewFile();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new FileBasedConfig(parent, file, fs);
        }
    }

    private static byte[] readAll(InputStream in) {
        try (in) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void remove(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temporary directory: what is left is the system's to clean
        }
    }
}
