package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Runs host processes with a bounded wait: output goes to files (so a chatty process can
 * never block on a full pipe), stdin is {@code /dev/null} unless asked, and a process that
 * outlives its timeout is killed with everything it started before the test fails.
 */
final class Proc {
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    private Proc() {
    }

    /** How a finished process ended and what it printed. */
    record Result(List<String> command, int exitCode, String stdout, String stderr) {
        List<String> stdoutLines() {
            return stdout.lines().toList();
        }

        List<String> stderrLines() {
            return stderr.lines().toList();
        }

        /** The whole story, for assertion messages. */
        String describe() {
            return "\n$ " + command.stream().map(Proc::quote).collect(Collectors.joining(" ")) + "\nexit " + exitCode
                    + "\n--- stdout ---\n" + stdout + "--- stderr ---\n" + stderr + "--------------";
        }
    }

    /** A process started in the background. */
    static final class Running {
        private final List<String> command;
        private final Process process;
        private final Path out;
        private final Path err;

        private Running(List<String> command, Process process, Path out, Path err) {
            this.command = command;
            this.process = process;
            this.out = out;
            this.err = err;
        }

        Process process() {
            return process;
        }

        String stdoutSoFar() {
            return read(out);
        }

        String stderrSoFar() {
            return read(err);
        }

        /** Waits for the end, at most {@code timeout}; on timeout kills it all and fails the test. */
        Result await(Duration timeout) {
            boolean done;
            try {
                done = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                done = false;
            }
            if (!done) {
                Result soFar = new Result(command, -1, read(out), read(err));
                kill();
                fail("timed out after " + timeout.toSeconds() + " s" + soFar.describe());
            }
            return result(process.exitValue());
        }

        Result await() {
            return await(TIMEOUT);
        }

        /** SIGKILL to the process and every descendant still alive, deepest first. */
        void kill() {
            process.descendants().sorted((a, b) -> Long.compare(b.pid(), a.pid()))
                    .forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (!process.isAlive()) {
                result(process.exitValue()); // releases the output files
            }
        }

        private Result result(int code) {
            try {
                process.getOutputStream().close();
            } catch (IOException e) {
                // Already closed, or the process is gone: nothing to release.
            }
            Result r = new Result(command, code, read(out), read(err));
            try {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return r;
        }

        private static String read(Path p) {
            try {
                return Files.exists(p) ? Files.readString(p, StandardCharsets.UTF_8) : "";
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Sleeps between two polls of something the test waits for. */
    /**
     * Waits up to five seconds for no process to have a command line {@code matches} accepts;
     * returns those still there ({@code "PID: COMMAND LINE"}), empty when none.
     */
    static List<String> leftRunning(Predicate<String> matches) {
        List<String> left = new ArrayList<>();
        for (int attempt = 0; attempt < 50; attempt++) {
            left.clear();
            try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
                for (Path p : (Iterable<Path>) procs::iterator) {
                    if (!p.getFileName().toString().matches("\\d+")) {
                        continue;
                    }
                    try {
                        String cmd = new String(Files.readAllBytes(p.resolve("cmdline")),
                                StandardCharsets.UTF_8).replace('\0', ' ');
                        if (matches.test(cmd)) {
                            left.add(p.getFileName() + ": " + cmd);
                        }
                    } catch (IOException e) {
                        // gone meanwhile
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            if (left.isEmpty()) {
                break;
            }
            pause(100);
        }
        return left;
    }

    static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting", e);
        }
    }

    /** {@code arg} as a shell would need it, for messages a reader may paste. */
    static String quote(String arg) {
        return arg.matches("[A-Za-z0-9_./:=@%+,-]+") ? arg : "'" + arg.replace("'", "'\\''") + "'";
    }

    /** Starts {@code command} in {@code cwd} with exactly {@code env} as its environment. */
    static Running start(List<String> command, Path cwd, Map<String, String> env) {
        return start(command, cwd, env, false);
    }

    /**
     * Like {@link #start(List, Path, Map)}; with {@code openStdin} the process reads from a pipe
     * that stays open (and silent) until it ends, for tools such as script(1) that pass an
     * end of input on to the terminal they relay.
     */
    static Running start(List<String> command, Path cwd, Map<String, String> env, boolean openStdin) {
        try {
            Path out = Files.createTempFile(Host.base(), "proc-", ".out");
            Path err = Files.createTempFile(Host.base(), "proc-", ".err");
            List<String> argv = new java.util.ArrayList<>(command);
            String exe = Host.which(argv.get(0));
            if (exe != null) {
                argv.set(0, exe); // resolved on the minimal PATH, not on this JVM's own
            }
            ProcessBuilder pb = new ProcessBuilder(argv).directory(cwd.toFile())
                    .redirectInput(openStdin ? ProcessBuilder.Redirect.PIPE
                            : ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(out.toFile()).redirectError(err.toFile());
            pb.environment().clear();
            pb.environment().putAll(env);
            return new Running(List.copyOf(command), pb.start(), out, err);
        } catch (IOException e) {
            throw new UncheckedIOException("can't start " + command, e);
        }
    }

    static Result run(List<String> command, Path cwd, Map<String, String> env) {
        return start(command, cwd, env).await();
    }

    /** A host tool run as the test's own user, with the tests' clean environment. */
    static Result host(Path cwd, String... command) {
        return run(List.of(command), cwd, Host.cleanEnv(Host.scratchHome()));
    }

    /** Like {@link #host} and fails the test unless the tool exits 0. */
    static Result hostOk(Path cwd, String... command) {
        Result r = host(cwd, command);
        if (r.exitCode() != 0) {
            fail("host command failed" + r.describe());
        }
        return r;
    }
}
