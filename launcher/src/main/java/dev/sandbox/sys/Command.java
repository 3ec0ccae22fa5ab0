package dev.sandbox.sys;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
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
        ProcessBuilder pb = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.PIPE);
        pb.environment().put("LC_ALL", "C");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return new Result(127, "", argv.get(0) + ": not installed or not on the PATH");
        }
        try {
            p.getOutputStream().close();
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            String out = read(p.getInputStream());
            return new Result(p.waitFor(), out, err.join());
        } catch (IOException e) {
            return new Result(125, "", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            return new Result(125, "", "interrupted");
        }
    }

    private static String read(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
