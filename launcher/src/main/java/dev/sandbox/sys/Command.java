package dev.sandbox.sys;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/** Runs a filesystem tool ({@code btrfs}, {@code zfs}) to completion and keeps what it said. */
public final class Command {
    /** How one run ended; {@code exitCode} 127 when the tool is not installed. */
    public record Result(int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** The tool's last line on stderr (its error, after any warnings), for a message. */
        public String why() {
            String[] lines = stderr.strip().split("\n");
            String last = lines[lines.length - 1].strip().replaceFirst("^(ERROR|error): ", "");
            return last.isEmpty() ? "exit status " + exitCode : last;
        }
    }

    private Command() {
    }

    public static Result run(List<String> argv) {
        return run(argv, Map.of());
    }

    /** Like {@link #run(List)} with {@code extraEnv} added to the environment. */
    public static Result run(List<String> argv, Map<String, String> extraEnv) {
        return run(argv, extraEnv, null, null);
    }

    /**
     * Like {@link #run(List, Map)}, and what the tool writes also goes to {@code echoOut} and
     * {@code echoErr} (when not null) as it comes, read as UTF-8 and flushed at every read:
     * for long runs the user watches, such as {@code vagrant up}. A writer that fails stops
     * nothing (a {@link PrintWriter} keeps its errors to itself): the tool is still read to its end.
     */
    public static Result run(List<String> argv, Map<String, String> extraEnv, PrintWriter echoOut,
            PrintWriter echoErr) {
        ProcessBuilder pb = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.PIPE);
        pb.environment().put("LC_ALL", "C");
        pb.environment().putAll(extraEnv);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return new Result(127, "", argv.get(0) + ": not installed or not on the PATH");
        }
        try {
            p.getOutputStream().close();
            CompletableFuture<String> err = CompletableFuture.supplyAsync(
                    () -> read(p.getErrorStream(), echoErr));
            String out = read(p.getInputStream(), echoOut);
            return new Result(p.waitFor(), out, err.join());
        } catch (IOException e) {
            return new Result(125, "", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            return new Result(125, "", "interrupted");
        }
    }

    private static String read(InputStream in, PrintWriter echo) {
        StringBuilder all = new StringBuilder();
        char[] buf = new char[8192];
        try (Reader r = new InputStreamReader(in, StandardCharsets.UTF_8)) {
            int n;
            while ((n = r.read(buf)) > 0) {
                all.append(buf, 0, n);
                if (echo != null) {
                    echo.write(buf, 0, n);
                    echo.flush();
                }
            }
        } catch (IOException e) {
            // the tool is gone: what came is all there is (a PrintWriter never throws)
        }
        return all.toString();
    }
}
