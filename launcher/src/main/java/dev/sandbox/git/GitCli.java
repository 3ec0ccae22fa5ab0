package dev.sandbox.git;

import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.ChildEnv;
import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Runs the user's own {@code git} for the few read-only questions the launcher asks. Every
 * call passes {@code --no-optional-locks} so that not even git's opportunistic index refresh
 * writes to the user's repository.
 */
public final class GitCli {
    /** What one git call printed and how it ended. */
    public record Result(int exitCode, byte[] stdout, String stderr) {
        public String out() {
            return new String(stdout, StandardCharsets.UTF_8).strip();
        }

        public boolean ok() {
            return exitCode == 0;
        }

        /** The first line git printed on stderr, for error messages. */
        public String firstErrorLine() {
            String s = stderr.strip();
            int nl = s.indexOf('\n');
            return nl < 0 ? s : s.substring(0, nl);
        }
    }

    private GitCli() {
    }

    public static Result run(Path dir, String... args) {
        return run(dir, new byte[0], args);
    }

    /**
     * As {@link #run(Path, String...)}, with {@code stdin} on git's standard input, written
     * beside the reading of its output so that neither pipe can fill up and stall both.
     */
    public static Result run(Path dir, byte[] stdin, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "--no-optional-locks", "-C", dir.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.PIPE);
        pb.environment().put("GIT_OPTIONAL_LOCKS", "0");
        pb.environment().put("LC_ALL", "C");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new GitNotFoundException(e);
        }
        try {
            CompletableFuture<Void> in = stdin.length == 0 ? null : CompletableFuture.runAsync(() -> writeAll(p, stdin));
            if (in == null) {
                p.getOutputStream().close();
            }
            CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
            byte[] out = readAll(p.getInputStream());
            int code = p.waitFor();
            if (in != null) {
                in.join();
            }
            return new Result(code, out, new String(err.join(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IllegalStateException("interrupted while running git", e);
        }
    }

    /**
     * Runs git on the user's terminal so that git chooses colour and pager as it always does;
     * returns its status.
     *
     * @throws SandboxException (exit 125) when git can't be started
     */
    public static int passThrough(Path dir, String... args) {
        return passThrough(dir, new ProcessBuilder().inheritIO(), args);
    }

    /**
     * As {@link #passThrough(Path, String...)}, with git's stdout going to {@code output}: a
     * regular file, created or truncated, or something that exists and is written into as it
     * is (a FIFO, a device), as a shell's {@code >} does.
     *
     * @throws IOException when {@code output} can't be created, truncated or opened for writing;
     *     git did not run
     * @throws SandboxException (exit 125) when git can't be started
     */
    public static int passThroughTo(Path dir, Path output, String... args) throws IOException {
        if (Files.exists(output) && !Files.isRegularFile(output)) {
            // Not opened here first: a FIFO's reader would see the end of its input on close.
            if (!Files.isWritable(output)) {
                throw new AccessDeniedException(output.toString());
            }
        } else {
            // Opened here first: a file ProcessBuilder can't open fails like a missing git, reason unsaid.
            Files.newByteChannel(output, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING).close();
        }
        try {
            return passThrough(dir, new ProcessBuilder().inheritIO().redirectOutput(output.toFile()), args);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    private static int passThrough(Path dir, ProcessBuilder pb, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "--no-optional-locks", "-C", dir.toString()));
        cmd.addAll(List.of(args));
        pb.command(cmd);
        ChildEnv.restoreLocale(pb.environment());
        pb.environment().put("GIT_OPTIONAL_LOCKS", "0");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            if (e.getCause() instanceof FileNotFoundException output) {
                throw new UncheckedIOException(output); // where stdout goes, not git, failed
            }
            throw SandboxException.failure("can't run 'git': not installed or not on the PATH (install git)", e);
        }
        // Ctrl-C in the pager is for git and the pager; this JVM just waits for them.
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), sun.misc.SignalHandler.SIG_IGN);
        while (true) {
            try {
                return p.waitFor();
            } catch (InterruptedException e) {
                // the pager decides when we are done
            }
        }
    }

    /** Writes {@code bytes} to {@code p}'s stdin and closes it; a git that exited early just did not read them. */
    private static void writeAll(Process p, byte[] bytes) {
        try (var out = p.getOutputStream()) {
            out.write(bytes);
        } catch (IOException e) {
            // a broken pipe: git ended without reading; its exit status says why
        }
    }

    private static byte[] readAll(InputStream in) {
        try (in; ByteArrayOutputStream buf = new ByteArrayOutputStream()) {
            in.transferTo(buf);
            return buf.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** git is not installed or not on the PATH. */
    public static final class GitNotFoundException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        GitNotFoundException(IOException cause) {
            super("git is not installed or not on the PATH", cause);
        }
    }
}
