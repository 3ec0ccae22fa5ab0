package dev.sandbox.snapshot;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The layers of a snapshot seen as the one tree a sandbox sees (whiteouts and opaque
 * directories applied), for the launcher to read: harvest, the index refresh of a delta,
 * compaction. A full snapshot is its own tree; a layered one is mounted by a {@code
 * sandbox-helper view} process, read-only, in a mount namespace of its own, and read at
 * {@code /proc/PID/root} followed by the topmost layer's real path, which only this user
 * (or root) may reach (proc(5), /proc/pid/root). The view lasts until {@link #close()}.
 *
 * <p>{@link #root()} is valid while the view is open; a view process that died under it
 * (killed from outside) makes reads fail, except in the unlikely case that its pid is
 * taken again in the meantime by another process of the same user.
 */
public final class LowerView implements AutoCloseable {
    /** How long {@link #open} waits for the helper's {@code ready}. */
    static final long READY_SECONDS = 10;
    /** How long {@link #close()} waits for the helper to end before it kills it. */
    static final long CLOSE_SECONDS = 2;
    /** The most bytes of the helper's stderr kept for a message. */
    private static final int STDERR_MAX = 4096;

    private final Process process;
    private final Path root;
    private final List<Path> layers;
    private boolean closed;

    private LowerView(Process process, Path root, List<Path> layers) {
        this.process = process;
        this.root = root;
        this.layers = List.copyOf(layers);
    }

    /**
     * A view of {@code layers} (topmost first, as {@code SnapshotStore.layers} gives them):
     * one layer is itself, with no process and {@code helper} unused (it may be null);
     * several are mounted by {@code helper view} (native-helpers/README.md). Waits at most
     * {@value #READY_SECONDS} s for the helper to say it is ready.
     *
     * @throws IOException with the helper's own line (e.g. {@code can't mount overlay of 2
     *     layers on '...': Invalid argument}) when it fails, when it does not answer in time,
     *     or when a layer can't be found
     * @throws IllegalArgumentException when {@code layers} is empty
     */
    public static LowerView open(Path helper, List<Path> layers) throws IOException {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("no layers to view");
        }
        if (layers.size() == 1) {
            return new LowerView(null, layers.get(0), layers);
        }
        // The real path: an absolute symlink on the way under /proc/PID/root would lead back
        // to this process's own root, where the topmost layer is alone.
        Path top = layers.get(0).toRealPath();
        List<String> argv = new ArrayList<>(List.of(helper.toString(), "view", top.toString()));
        for (Path layer : layers.subList(1, layers.size())) {
            argv.add(layer.toAbsolutePath().toString());
        }
        Process p = new ProcessBuilder(argv).start();
        CompletableFuture<String> ready = CompletableFuture.supplyAsync(() -> firstLine(p.getInputStream(), 64),
                DAEMON);
        String line;
        try {
            line = ready.get(READY_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            end(p);
            closeStreams(p);
            throw new IOException("can't view the snapshot's " + layers.size() + " layers: the helper did not say"
                    + " 'ready' within " + READY_SECONDS + " s");
        } catch (InterruptedException e) {
            end(p);
            closeStreams(p);
            Thread.currentThread().interrupt();
            throw new IOException("can't view the snapshot's layers: interrupted");
        } catch (ExecutionException e) {
            line = null;
        }
        if (!"ready".equals(line)) {
            // waited for, not killed at once: Process.destroy closes the pipe that holds its line
            awaitOrEnd(p);
            // read once it has ended: it says one line, then exits (a pipe holds far more)
            String why = firstLine(p.getErrorStream(), STDERR_MAX).strip()
                    .replaceFirst("^sandbox-helper: (view: )?", "");
            closeStreams(p);
            throw new IOException("can't view the snapshot's " + layers.size() + " layers: "
                    + (why.isEmpty() ? "the helper ended with status " + p.exitValue() : why));
        }
        return new LowerView(p, Path.of("/proc/" + p.pid() + "/root" + top), layers);
    }

    /** The merged tree: the layer itself, or {@code /proc/PID/root/...} of the view process. */
    public Path root() {
        return root;
    }

    /** The layers' own directories, topmost first, as {@link #open} was given them. */
    public List<Path> layers() {
        return layers;
    }

    /** Whether the view still shows the layers: one layer always, several while the helper runs. */
    public synchronized boolean alive() {
        return process == null || !closed && process.isAlive();
    }

    /** Whether a process holds this view (several layers). */
    public boolean layered() {
        return process != null;
    }

    /**
     * Ends the view: the helper's stdin closed, the helper waited for at most {@value
     * #CLOSE_SECONDS} s, then killed. No process is left; calling it again does nothing.
     */
    @Override
    public synchronized void close() {
        if (process == null || closed) {
            return;
        }
        closed = true;
        try {
            process.getOutputStream().close();
        } catch (IOException e) {
            // it is gone already: waited for below
        }
        awaitOrEnd(process);
        closeStreams(process);
    }

    /** Waits at most {@value #CLOSE_SECONDS} s for {@code p} to end, then kills it. */
    private static void awaitOrEnd(Process p) {
        try {
            if (p.waitFor(CLOSE_SECONDS, TimeUnit.SECONDS)) {
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // end() keeps the flag set
        }
        end(p);
    }

    /** The launcher's ends of the helper's pipes, whose readers have seen their end. */
    private static void closeStreams(Process p) {
        for (Closeable c : List.of(p.getOutputStream(), p.getInputStream(), p.getErrorStream())) {
            try {
                c.close();
            } catch (IOException e) {
                // nothing to lose: the helper has ended
            }
        }
    }

    /** Kills {@code p} and waits for it, so that no process outlives the view. */
    private static void end(Process p) {
        p.destroyForcibly();
        boolean interrupted = Thread.interrupted();
        while (true) {
            try {
                p.waitFor();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** The first line of {@code in} (at most {@code max} bytes, without the newline), or what came before its end. */
    private static String firstLine(InputStream in, int max) {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        try {
            int b;
            while (line.size() < max && (b = in.read()) >= 0 && b != '\n') {
                line.write(b);
            }
        } catch (IOException e) {
            // the end of what the helper said
        }
        return line.toString(StandardCharsets.UTF_8);
    }

    /** Threads that block on the helper's pipes and never keep the JVM from exiting. */
    private static final Executor DAEMON = task -> {
        Thread t = new Thread(task, "lower-view");
        t.setDaemon(true);
        t.start();
    };
}
