package dev.sandbox.k8s;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The user's terminal in raw mode while an agent's tty is attached: {@code stty raw -echo} on
 * {@code /dev/tty}, its settings put back by {@link #close()} (stty(1), {@code -g}). Its size
 * is read again on SIGWINCH, for attach to resize the pod's tty.
 */
final class Terminal implements AutoCloseable {
    private final String saved;
    private volatile int cols;
    private volatile int rows;
    private final Object oldWinch;

    private Terminal(String saved) {
        this.saved = saved;
        readSize();
        Object old = null;
        try {
            old = sun.misc.Signal.handle(new sun.misc.Signal("WINCH"), s -> readSize());
        } catch (IllegalArgumentException e) {
            // no SIGWINCH here: the size stays the first one
        }
        this.oldWinch = old;
    }

    /** The terminal in raw mode; null when there is none ({@code /dev/tty} can't be opened). */
    static Terminal raw() {
        String saved = stty("-g");
        if (saved == null || stty("raw", "-echo") == null) {
            return null;
        }
        return new Terminal(saved.strip());
    }

    int cols() {
        return cols;
    }

    int rows() {
        return rows;
    }

    private void readSize() {
        String size = stty("size");
        if (size != null) {
            String[] rc = size.strip().split("\\s+");
            if (rc.length == 2) {
                try {
                    rows = Integer.parseInt(rc[0]);
                    cols = Integer.parseInt(rc[1]);
                } catch (NumberFormatException e) {
                    // not a size: keep the last one
                }
            }
        }
    }

    /** stty's output with {@code args} on /dev/tty, null when it failed. */
    private static String stty(String... args) {
        String[] argv = new String[args.length + 1];
        argv[0] = "stty";
        System.arraycopy(args, 0, argv, 1, args.length);
        try {
            Process p = new ProcessBuilder(argv).redirectInput(new File("/dev/tty"))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return p.waitFor() == 0 ? out : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    @Override
    public void close() {
        boolean interrupted = Thread.interrupted(); // the terminal must come back even then
        stty(saved);
        if (oldWinch != null) {
            sun.misc.Signal.handle(new sun.misc.Signal("WINCH"), (sun.misc.SignalHandler) oldWinch);
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
