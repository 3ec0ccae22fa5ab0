package dev.sandbox.core;

import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * What the helper says about a sandbox while and after it runs, in files of the sandbox's
 * directory and on its supervisor's socket (docs/ARCHITECTURE.md §5, "The supervisor").
 *
 * <p>The helper writes them; the agent can't reach them (the state directory is hidden in
 * every sandbox), but they are read with bounds all the same: a file of another version, or
 * one cut short by a kill, is "don't know", never an exception.
 */
public final class RunState {
    /** The most bytes read of a pid or exit file, or of the supervisor's status line. */
    static final int MAX_LINE = 256;
    /** How long {@link #query} waits for the supervisor's answer, in milliseconds. */
    static final long QUERY_TIMEOUT_MS = 1000;

    private RunState() {
    }

    /** The lock the helper holds for as long as its outer process lives ({@code --lock}). */
    public static Path agentLock(Path sandboxDir) {
        return sandboxDir.resolve("agent.lock");
    }

    /** "OUTER INIT\n": the host pids of the helper's outer process and of the sandbox's init ({@code --pid-file}). */
    public static Path pidFile(Path sandboxDir) {
        return sandboxDir.resolve("pid");
    }

    /** "STATUS\n": the helper's exit status, written just before it exits ({@code --exit-file}). */
    public static Path exitFile(Path sandboxDir) {
        return sandboxDir.resolve("exit");
    }

    /** The agent's output of a detached or {@code --count} run ({@code --log}); the older part is {@link #olderLog}. */
    public static Path outputLog(Path sandboxDir) {
        return StateStore.outputLog(sandboxDir);
    }

    /** Where {@link #outputLog} goes when it reaches its size limit, replacing the one before. */
    public static Path olderLog(Path sandboxDir) {
        return StateStore.logDir(sandboxDir).resolve(StateStore.OUTPUT_LOG + ".1");
    }

    /** The host pids of a running sandbox's helper: its outer process and the sandbox's init. */
    public record Pids(long outer, long init) {
    }

    /** The pids the helper wrote, or null when there is no such file or it is not two pids. */
    public static Pids pids(Path sandboxDir) {
        String line = readLine(pidFile(sandboxDir));
        if (line == null) {
            return null;
        }
        String[] parts = line.split(" ");
        try {
            return parts.length == 2 ? new Pids(Long.parseLong(parts[0]), Long.parseLong(parts[1])) : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** The most bytes of a helper's command line read to tell whose it is (its argv holds every mount). */
    static final int MAX_CMDLINE = 4 << 20;

    /**
     * Whether process {@code outer} is the helper of the sandbox in {@code sandboxDir}: its
     * command line holds {@code --lock} with that sandbox's agent lock. A pid file names a
     * process, not a sandbox: one copied from another sandbox (a state directory another user
     * may write, which root is pointed at) must not get that sandbox signalled or entered.
     * False when the process is gone or its command line can't be read.
     */
    public static boolean isHelperOf(long outer, Path sandboxDir) {
        byte[] wanted = ("\0--lock\0" + agentLock(sandboxDir) + "\0").getBytes(StandardCharsets.UTF_8);
        byte[] cmdline;
        try (InputStream in = Files.newInputStream(Path.of("/proc", Long.toString(outer), "cmdline"))) {
            cmdline = in.readNBytes(MAX_CMDLINE);
        } catch (IOException e) {
            return false;
        }
        outer:
        for (int i = 0; i + wanted.length <= cmdline.length; i++) {
            for (int k = 0; k < wanted.length; k++) {
                if (cmdline[i + k] != wanted[k]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    /**
     * The pids the helper of a sandbox that runs wrote, waiting up to {@code ms} for one still
     * starting (its launcher holds the run lock while it takes the snapshot). Null when the
     * sandbox stopped, or no pid file came in time.
     */
    static Pids awaitPids(Path sandboxDir, long ms) {
        long deadline = System.nanoTime() + ms * 1_000_000;
        while (true) {
            if (!StateStore.isRunning(sandboxDir)) {
                return null; // a pid file left by the run before names nothing now
            }
            Pids pids = pids(sandboxDir);
            if (pids != null || System.nanoTime() > deadline) {
                return pids;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
    }

    /** The exit status the helper wrote (0..255), or null when there is none or it is not one. */
    public static Integer exitStatus(Path sandboxDir) {
        String line = readLine(exitFile(sandboxDir));
        try {
            int status = line == null ? -1 : Integer.parseInt(line);
            return status >= 0 && status <= 255 ? status : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /**
     * What a detached sandbox's supervisor says of its terminal.
     *
     * @param attached whether a client is attached now
     * @param waiting  whether the agent's terminal has been silent for 3 s or more while a
     *                 process of its foreground group sleeps reading it
     * @param idleMs   milliseconds since the agent last wrote to its terminal
     */
    public record Terminal(boolean attached, boolean waiting, long idleMs) {
    }

    /**
     * Asks the supervisor at {@code socket} for {@link Terminal}: sends {@code s}, reads one
     * line {@code attached=0|1 waiting=0|1 idle-ms=N}. Null when nothing answers within
     * {@value #QUERY_TIMEOUT_MS} ms, the socket is gone, or the line is not that.
     */
    public static Terminal query(Path socket) {
        if (socket == null || !Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        CompletableFuture<String> answer = CompletableFuture.supplyAsync(() -> {
            try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                ch.connect(UnixDomainSocketAddress.of(socket));
                ch.write(ByteBuffer.wrap(new byte[] {'s'}));
                InputStream in = Channels.newInputStream(ch);
                return new String(in.readNBytes(MAX_LINE), StandardCharsets.US_ASCII);
            } catch (IOException e) {
                return null;
            }
        });
        String line;
        try {
            line = answer.get(QUERY_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } catch (ExecutionException | TimeoutException e) {
            answer.cancel(true);
            return null;
        }
        return line == null ? null : parseTerminal(line);
    }

    /** Parses the supervisor's status line; null when it is not one. */
    static Terminal parseTerminal(String line) {
        Map<String, String> fields = new HashMap<>();
        for (String field : line.strip().split(" ")) {
            int eq = field.indexOf('=');
            if (eq > 0) {
                fields.put(field.substring(0, eq), field.substring(eq + 1));
            }
        }
        try {
            String attached = fields.get("attached");
            String waiting = fields.get("waiting");
            long idle = Long.parseLong(fields.getOrDefault("idle-ms", ""));
            if (attached == null || waiting == null || idle < 0) {
                return null;
            }
            return new Terminal(attached.equals("1"), waiting.equals("1"), idle);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** The first line of a small file, or null when it is missing, empty, unreadable or longer than a line may be. */
    private static String readLine(Path file) {
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            byte[] bytes = in.readNBytes(MAX_LINE + 1);
            if (bytes.length == 0 || bytes.length > MAX_LINE) {
                return null;
            }
            String text = new String(bytes, StandardCharsets.US_ASCII);
            int nl = text.indexOf('\n');
            return nl < 0 ? null : text.substring(0, nl); // no newline: cut short by a kill
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            return null;
        }
    }
}
