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
import java.util.regex.Pattern;
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

        /**
         * The command, its exit code and the end of each output, for assertion messages: at most
         * {@link #SHOWN_LINES} lines of each, progress lines dropped (see {@link #excerpt}).
         */
        String describe() {
            return "\n$ " + command.stream().map(Proc::quote).collect(Collectors.joining(" ")) + "\nexit " + exitCode
                    + excerpt("stdout", stdout) + excerpt("stderr", stderr) + "\n--------------";
        }
    }

    /** How many lines of a tool's output a failure message shows: the end, where tools say what went wrong. */
    static final int SHOWN_LINES = 50;

    /** A line that reports how far something is, such as Vagrant's {@code Progress: 45% (Rate: 9M/s, ...)}. */
    private static final Pattern PROGRESS = Pattern.compile("(?i).*\\bprogress\\b.*\\d%.*");

    /**
     * The last {@link #SHOWN_LINES} lines of {@code output} under a header that names it and
     * says how many lines were left out. Progress lines are left out wherever they are: a box
     * download repeats one thousands of times. A line a tool rewrote with carriage returns
     * counts as what a terminal would show, its text after the last one.
     */
    static String excerpt(String name, String output) {
        List<String> kept = new ArrayList<>();
        int progress = 0;
        for (String line : output.split("\n", -1)) {
            String shown = line.endsWith("\r") ? line.substring(0, line.length() - 1) : line; // CRLF
            shown = shown.substring(shown.lastIndexOf('\r') + 1);
            if (PROGRESS.matcher(shown).matches()) {
                progress++;
            } else {
                kept.add(shown);
            }
        }
        if (output.isEmpty() || output.endsWith("\n")) {
            kept.remove(kept.size() - 1); // split's empty string after the last newline
        }
        int earlier = Math.max(0, kept.size() - SHOWN_LINES);
        List<String> left = new ArrayList<>();
        if (earlier > 0) {
            left.add(earlier + " earlier lines");
        }
        if (progress > 0) {
            left.add(progress + " progress lines");
        }
        String header = name + (earlier > 0 ? ", last " + SHOWN_LINES + " lines" : "")
                + (left.isEmpty() ? "" : " (" + String.join(" and ", left) + " left out)");
        StringBuilder out = new StringBuilder("\n--- ").append(header).append(" ---");
        kept.subList(earlier, kept.size()).forEach(l -> out.append('\n').append(l));
        return out.toString();
    }

    /**
     * How a process that had a time limit ended: its result (exit code -1 and what it printed
     * until it was killed, when {@code timedOut}) and the wall time from its start to its end.
     */
    record Timed(Result result, Duration took, boolean timedOut) {
    }

    /** A process started in the background. */
    static final class Running {
        private final List<String> command;
        private final Process process;
        private final Path out;
        private final Path err;
        private final long startedNanos = System.nanoTime();

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

        /**
         * Waits for the end, at most {@code limit} after the start; on timeout kills it and
         * everything it started and returns what it printed so far, without failing the test.
         */
        Timed awaitAtMost(Duration limit) {
            long left = limit.toNanos() - (System.nanoTime() - startedNanos);
            boolean done;
            try {
                done = process.waitFor(Math.max(0, left), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                done = false;
            }
            Duration took = Duration.ofNanos(System.nanoTime() - startedNanos);
            if (done) {
                return new Timed(result(process.exitValue()), took, false);
            }
            Result soFar = new Result(command, -1, read(out), read(err));
            kill();
            return new Timed(soFar, took, true);
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

        /** What {@code p} holds as UTF-8, other bytes replaced by U+FFFD: a tool may print raw file names. */
        private static String read(Path p) {
            try {
                return Files.exists(p) ? new String(Files.readAllBytes(p), StandardCharsets.UTF_8) : "";
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

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

    /** Sleeps between two polls of something the test waits for. */
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
