package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.UpperWalk;
import dev.sandbox.net.PublishedPort;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;

/** What {@code sandbox list} and {@code sandbox ports} show: the sandboxes, their status and changes. */
public final class Listing {
    private final Sandboxes sandboxes;
    private final Repo repo;
    private final StateStore store;
    private final SnapshotStore snapshots;

    public Listing(Sandboxes sandboxes) {
        this.sandboxes = sandboxes;
        this.repo = sandboxes.repo();
        this.store = sandboxes.store();
        this.snapshots = sandboxes.snapshots();
    }

    /** The ports sandbox {@code name} publishes; fails when there is no such sandbox or it is not running. */
    public List<PublishedPort> ports(String name) {
        StateStore.validateName(name);
        Path dir = store.sandboxDir(name);
        Sandbox sb = Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS) ? Sandboxes.readSandbox(dir) : null;
        if (sb == null) {
            throw SandboxException.cantWithInput("show the ports of", name, "no such sandbox (see 'sandbox list')");
        }
        if (!StateStore.isRunning(dir)) {
            throw SandboxException.nothing("can't show the ports of '" + name + "': it is not running, so it publishes"
                    + " none");
        }
        return sb.ports() == null ? List.of() : sb.ports();
    }

    /**
     * Every sandbox of the repository, oldest first.
     *
     * @throws SandboxException (exit 2) when {@code SANDBOX_HARVEST_MAX_FILE} is not a number of bytes
     */
    public List<SandboxView> list(Console console) {
        List<SandboxView> views = new ArrayList<>();
        Map<String, Optional<Snapshot>> snapshotCache = new HashMap<>();
        List<Path> dirs = sandboxes.sandboxDirs();
        Harvester counter = new Harvester(sandboxes, false); // checked here, so that it never turns into a fallback count
        // the disk usage walks take a second core while the counts take this one
        ExecutorService background = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "disk-usage");
            t.setDaemon(true);
            return t;
        });
        // each supervisor may take up to a second to answer: asked all at once, each on a thread of its own
        ExecutorService queries = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "supervisor-query");
            t.setDaemon(true);
            return t;
        });
        try (Harvest h = dirs.isEmpty() ? null : Harvest.open(repo.commonDir())) {
            Map<Path, CompletableFuture<Long>> disk = new HashMap<>();
            Map<Path, CompletableFuture<RunState.Terminal>> terminals = new HashMap<>();
            Map<Path, Boolean> running = new HashMap<>();
            for (Path dir : dirs) {
                disk.put(dir, CompletableFuture.supplyAsync(() -> diskUsage(StateStore.upperDir(dir)), background));
                // on this thread only: a lock probed from two threads at once reads as held
                boolean runs = StateStore.isRunning(dir);
                running.put(dir, runs);
                terminals.put(dir, runs ? CompletableFuture.supplyAsync(() -> terminal(dir), queries)
                        : CompletableFuture.completedFuture(null));
            }
            for (Path dir : dirs) {
                views.add(view(dir, running.get(dir), id -> snapshotCache.computeIfAbsent(id, snapshots::find), h,
                        counter, disk.get(dir), terminals.get(dir), console));
            }
        } finally {
            background.shutdownNow();
            queries.shutdownNow();
        }
        // --count's sandboxes share a creation time: by name among them, as names() has them
        views.sort(Comparator.comparing(SandboxView::createdAt, Comparator.nullsLast(Comparator.naturalOrder()))
                .thenComparing(SandboxView::name));
        return views;
    }

    private SandboxView view(Path dir, boolean running, Function<String, Optional<Snapshot>> snapshotById, Harvest h,
            Harvester counter, CompletableFuture<Long> diskUsage, CompletableFuture<RunState.Terminal> terminal,
            Console console) {
        String name = dir.getFileName().toString();
        Sandbox sb;
        Snapshot snap;
        try {
            sb = Sandboxes.readSandbox(dir);
            snap = sb == null || sb.snapshot() == null ? null : snapshotById.apply(sb.snapshot()).orElse(null);
        } catch (SandboxException unreadable) {
            // one bad record hides no other sandbox; this one is listed with what is known
            console.warn(unreadable.getMessage());
            sb = null;
            snap = null;
        }
        int changes = changedFiles(h, counter, dir, sb, snap);
        long disk = diskUsage.join();
        RunState.Terminal term = running ? terminal.join() : null;
        boolean attached = term != null && term.attached();
        boolean waiting = term != null && term.waiting();
        if (sb != null && sb.remote() && !running) {
            // a mirror: no local lock tells whether the host runs a detached one (no launcher
            // pid); the host's last word does. One with a launcher whose lock is free lost it
            // (killed before the host answered): stopped as far as this machine knows.
            running = sb.status() == Sandbox.Status.RUNNING && sb.pid() == null;
        }
        Sandbox.Status status = running ? Sandbox.Status.RUNNING : Sandbox.Status.STOPPED;
        Integer exit = running ? null : exitCode(dir, sb);
        if (sb == null) {
            return new SandboxView(name, status, exit, null, null, null,
                    changes, disk, List.of(), null, null, null, null, List.of(), null, attached, waiting);
        }
        return new SandboxView(name, status, exit,
                sb.snapshot(), snap == null ? null : snap.baseCommit(), snap == null ? null : snap.strategy(),
                changes, disk, sb.command(), sb.createdAt(), running ? null : sb.finishedAt(), running ? sb.pid() : null,
                sb.net(), running && sb.ports() != null ? sb.ports() : List.of(), sb.profile(), attached, waiting,
                sb.remote() ? sb.site().host() : null);
    }

    /**
     * What the supervisor of the running sandbox in {@code dir} says of its terminal, or null
     * when it has no supervisor (a foreground run) or its supervisor does not answer.
     */
    private static RunState.Terminal terminal(Path dir) {
        Sandbox sb;
        try {
            sb = Sandboxes.readSandbox(dir);
        } catch (SandboxException unreadable) {
            return null; // view() warns about it
        }
        return sb == null || sb.socket() == null ? null : RunState.query(Path.of(sb.socket()));
    }

    /**
     * The exit status of the last agent of a stopped sandbox: the record's, when the launcher
     * wrote it (it stayed to the end), else the helper's exit file (a detached run leaves no
     * launcher behind, and its record says {@code running}); null when neither says, as after
     * kill -9 of both.
     */
    static Integer exitCode(Path dir, Sandbox sb) {
        if (sb != null && sb.status() != Sandbox.Status.RUNNING && sb.exitCode() != null) {
            return sb.exitCode();
        }
        return RunState.exitStatus(dir);
    }

    /**
     * The files that differ between the sandbox and its snapshot, as {@code sandbox diff}
     * lists them; the raw count of the upper layer's entries when that cannot be read.
     */
    private int changedFiles(Harvest h, Harvester counter, Path dir, Sandbox sb, Snapshot snap) {
        if (sb != null && snap != null) {
            try {
                return counter.changedFiles(h, dir, sb, snap);
            } catch (SandboxException e) {
                // fall back to counting entries
            }
        }
        return countChanges(StateStore.upperDir(dir));
    }

    /**
     * The disk space the upper layer takes, as {@code du} counts it: the blocks allocated, so
     * that a sparse file counts what it holds. Unreadable entries count as nothing.
     */
    static long diskUsage(Path upper) {
        try {
            return UpperWalk.tally(upper).diskBytes();
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * Paths the agent wrote, created or deleted: every non-directory entry of the upper layer
     * (files, symlinks, whiteouts), an unreadable directory as one. A walk of the upper layer
     * only, by metadata, so it costs O(changes).
     */
    static int countChanges(Path upper) {
        try {
            return UpperWalk.tally(upper).entries();
        } catch (IOException e) {
            throw SandboxException.cant("read the changes in", upper, e);
        }
    }
}
