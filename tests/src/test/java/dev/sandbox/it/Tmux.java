package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A private tmux server (own socket, own config, never the user's) run as the test's
 * identity, whose panes are real terminals of a known size for the CLI.
 */
final class Tmux implements AutoCloseable {
    private final Workspace ws;
    private final String socket;
    private final Map<String, String> env;

    Tmux(Workspace ws) {
        this.ws = ws;
        this.socket = "it"; // unique through TMUX_TMPDIR; a socket path must stay under 108 bytes
        Path conf = ws.dir().resolve("tmux.conf");
        try {
            Files.writeString(conf,
                    "set -g default-shell /bin/sh\nset -g remain-on-exit on\nset -g history-limit 5000\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.env = Host.cleanEnv(ws.home());
        env.put("TMUX_TMPDIR", ws.dir().toString());
        env.put("TERM", "xterm");
        env.put("SHELL", "/bin/sh");
    }

    /** Runs a tmux command against this server; fails the test unless it works. */
    String tmux(String... args) {
        List<String> cmd = new ArrayList<>(
                List.of(Host.which("tmux"), "-L", socket, "-f", ws.dir().resolve("tmux.conf").toString()));
        cmd.addAll(List.of(args));
        Proc.Result r = Proc.run(ws.runner().argv(cmd, env), ws.dir(), env);
        if (r.exitCode() != 0) {
            fail("tmux failed" + r.describe());
        }
        return r.stdout();
    }

    /** A detached session of {@code width}x{@code height} running {@code shellCommand} in {@code cwd}. */
    void newSession(String name, int width, int height, Path cwd, String shellCommand) {
        tmux("new-session", "-d", "-s", name, "-x", Integer.toString(width), "-y", Integer.toString(height),
                "-c", cwd.toString(), shellCommand);
    }

    void sendLine(String session, String line) {
        tmux("send-keys", "-t", session, "-l", line);
        tmux("send-keys", "-t", session, "Enter");
    }

    /** The pane's screen and history, trailing blank lines dropped. */
    List<String> screen(String session) {
        List<String> lines = new ArrayList<>(
                tmux("capture-pane", "-p", "-J", "-S", "-", "-t", session).lines().toList());
        while (!lines.isEmpty() && lines.get(lines.size() - 1).isBlank()) {
            lines.remove(lines.size() - 1);
        }
        return lines;
    }

    long panePid(String session) {
        return Long.parseLong(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip());
    }

    /** Waits (at most {@code timeout}) until the pane's screen satisfies {@code done}; returns it. */
    List<String> awaitScreen(String session, Duration timeout, Predicate<List<String>> done, String what) {
        long end = System.nanoTime() + timeout.toNanos();
        List<String> screen = screen(session);
        while (!done.test(screen)) {
            if (System.nanoTime() > end) {
                fail("timed out waiting for " + what + "; the pane shows:\n" + String.join("\n", screen));
            }
            Proc.pause(100);
            screen = screen(session);
        }
        return screen;
    }

    @Override
    public void close() {
        List<String> cmd = List.of(Host.which("tmux"), "-L", socket, "kill-server");
        Proc.run(ws.runner().argv(cmd, env), ws.dir(), env);
    }
}
