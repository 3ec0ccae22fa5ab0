package dev.sandbox.core;

import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.launch.AgentProcess;
import dev.sandbox.launch.Helper;
import dev.sandbox.launch.HelperCommand;
import dev.sandbox.snapshot.Snapshotter;
import dev.sandbox.snapshot.Strategies;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/** The lifecycle of a repository's sandboxes: run one, list them, remove them, collect garbage. */
public final class Sandboxes {
    private final Context context;
    private final Repo repo;
    private final StateStore store;
    private final SnapshotStore snapshots;

    private Sandboxes(Context context, Repo repo, StateStore store) {
        this.context = context;
        this.repo = repo;
        this.store = store;
        this.snapshots = new SnapshotStore(store);
    }

    /** The sandboxes of the repository that contains the context's working directory. */
    public static Sandboxes open(Context context) {
        Repo repo = Repo.discover(context.cwd());
        return new Sandboxes(context, repo, StateStore.forRepo(repo, context.stateDirOverride()));
    }

    public Repo repo() {
        return repo;
    }

    public StateStore store() {
        return store;
    }

    SnapshotStore snapshots() {
        return snapshots;
    }

    /**
     * Runs {@code command} in a new sandbox named {@code name} (generated when null) and
     * returns the agent's exit status. The sandbox stays afterwards, stopped, with its changes.
     */
    public int run(String name, Strategies.Requested strategy, List<String> command, PrintWriter err) {
        Helper helper = context.helper();
        Path cwd = insideRepo(context.cwd());
        Snapshotter snapshotter = Strategies.choose(strategy, repo.root(), store.snapshotsDir());
        String chosen = reserve(name);
        if (name == null) {
            err.println("sandbox: starting sandbox '" + chosen + "'");
        }
        Path dir = store.sandboxDir(chosen);
        try (FileChannel runLock = StateStore.lockRun(dir)) {
            Sandbox[] claimed = new Sandbox[1];
            Snapshot snapshot;
            try {
                snapshot = prepare(dir, chosen, cwd, snapshotter, strategy != Strategies.Requested.auto, command, claimed,
                        err);
            } catch (IOException | RuntimeException e) {
                Tree.deleteQuietly(dir); // nothing ran yet: leave no trace of the attempt
                throw e;
            }
            List<String> argv = helperArgv(helper, chosen, snapshot, dir, cwd, command);
            int status = AgentProcess.run(argv, Map.of("SANDBOX_NAME", chosen));
            String now = Instant.now().toString();
            update(dir, sb -> (sb != null ? sb : claimed[0]).finished(status, now));
            return status;
        } catch (IOException e) {
            throw SandboxException.cant("run sandbox", chosen, e);
        }
    }

    /** Lays out the sandbox's directory and picks its snapshot; {@code claimed[0]} gets its record. */
    private Snapshot prepare(Path dir, String chosen, Path cwd, Snapshotter snapshotter, boolean sameStrategy,
            List<String> command, Sandbox[] claimed, PrintWriter err) throws IOException {
        String created = Instant.now().toString();
        Sandbox sandbox = new Sandbox(chosen, null, repo.root().toString(), cwd.toString(), List.copyOf(command),
                Sandbox.RUNNING, ProcessHandle.current().pid(), null, created, null, null, null);
        Files.createDirectory(StateStore.upperDir(dir));
        Files.createDirectory(StateStore.workDir(dir));
        Json.writeAtomically(StateStore.sandboxJson(dir), sandbox);
        return snapshots.current(repo, snapshotter, sameStrategy, err, s -> {
            claimed[0] = sandbox.onSnapshot(s.id());
            Json.writeAtomically(StateStore.sandboxJson(dir), claimed[0]);
        });
    }

    private List<String> helperArgv(Helper helper, String name, Snapshot snapshot, Path dir, Path cwd,
            List<String> command) {
        HelperCommand cmd = new HelperCommand(helper.path())
                .hostname(name)
                .net("none")
                .tty("auto")
                .tmpfs(Path.of("/tmp"))
                .overlay(snapshots.tree(snapshot.id()), StateStore.upperDir(dir), StateStore.workDir(dir), repo.root());
        if (!store.root().startsWith(repo.root())) {
            // Other sandboxes' layers must stay out of sight; inside the repo the overlay hides them.
            cmd.hide(store.root());
        }
        return cmd.chdir(cwd).command(command);
    }

    /** The directory the agent starts in: the user's own if it is inside the repository. */
    private Path insideRepo(Path cwd) {
        try {
            Path real = cwd.toRealPath();
            return real.startsWith(repo.root()) ? real : repo.root();
        } catch (IOException e) {
            return repo.root();
        }
    }

    /** Claims {@code name} (or a generated one) by creating its directory under the store lock. */
    private String reserve(String name) {
        return store.locked(() -> {
            String chosen = name != null ? name : Names.generate(n -> Files.exists(store.sandboxDir(n)));
            Path dir = store.sandboxDir(chosen);
            if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                String why = StateStore.isRunning(dir)
                        ? "sandbox '" + chosen + "' is already running (pick another --name)"
                        : "sandbox '" + chosen + "' already exists (remove it with 'sandbox rm " + chosen
                                + "', or pick another --name)";
                throw SandboxException.cantWithInput("use the name", chosen, why);
            }
            Files.createDirectory(dir);
            return chosen;
        });
    }

    /** Every sandbox of the repository, oldest first. */
    public List<SandboxView> list() {
        List<SandboxView> views = new ArrayList<>();
        Map<String, Optional<Snapshot>> snapshotCache = new HashMap<>();
        List<Path> dirs = sandboxDirs();
        try (Harvest h = dirs.isEmpty() ? null : Harvest.open(repo.commonDir())) {
            for (Path dir : dirs) {
                views.add(view(dir, id -> snapshotCache.computeIfAbsent(id, snapshots::find), h));
            }
        }
        views.sort((a, b) -> String.valueOf(a.createdAt()).compareTo(String.valueOf(b.createdAt())));
        return views;
    }

    private SandboxView view(Path dir, Function<String, Optional<Snapshot>> snapshotById, Harvest h) {
        String name = dir.getFileName().toString();
        boolean running = StateStore.isRunning(dir);
        Sandbox sb = readSandbox(dir);
        Snapshot snap = sb == null || sb.snapshot() == null ? null : snapshotById.apply(sb.snapshot()).orElse(null);
        int changes = changedFiles(h, dir, sb, snap);
        if (sb == null) {
            return new SandboxView(name, running ? Sandbox.RUNNING : Sandbox.STOPPED, null, null, null, null,
                    changes, List.of(), null, null, null);
        }
        return new SandboxView(name, running ? Sandbox.RUNNING : Sandbox.STOPPED, running ? null : sb.exitCode(),
                sb.snapshot(), snap == null ? null : snap.baseCommit(), snap == null ? null : snap.strategy(),
                changes, sb.command(), sb.createdAt(), running ? null : sb.finishedAt(), running ? sb.pid() : null);
    }

    /**
     * Rewrites a sandbox's record under the store lock, so that a harvest marking it and the
     * launcher recording the agent's end do not undo each other.
     */
    void update(Path dir, java.util.function.UnaryOperator<Sandbox> change) {
        store.locked(() -> {
            Json.writeAtomically(StateStore.sandboxJson(dir), change.apply(readSandbox(dir)));
            return null;
        });
    }

    static Sandbox readSandbox(Path dir) {
        try {
            return Json.read(StateStore.sandboxJson(dir), Sandbox.class);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw SandboxException.cant("read", StateStore.sandboxJson(dir), e);
        }
    }

    private List<Path> sandboxDirs() {
        List<Path> dirs = new ArrayList<>();
        try (DirectoryStream<Path> all = Files.newDirectoryStream(store.sandboxesDir())) {
            for (Path p : all) {
                if (!p.getFileName().toString().startsWith(".") && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    dirs.add(p);
                }
            }
        } catch (IOException e) {
            throw SandboxException.cant("list the sandboxes in", store.sandboxesDir(), e);
        }
        return dirs;
    }

    /**
     * The files that differ between the sandbox and its snapshot, as {@code sandbox diff}
     * lists them; the raw count of the upper layer's entries when that cannot be read.
     */
    private int changedFiles(Harvest h, Path dir, Sandbox sb, Snapshot snap) {
        if (sb != null && snap != null) {
            try {
                return new Harvester(this, false).changedFiles(h, dir, sb, snap);
            } catch (SandboxException e) {
                // fall back to counting entries
            }
        }
        return countChanges(StateStore.upperDir(dir));
    }

    /**
     * Paths the agent wrote, created or deleted: every non-directory entry of the upper layer
     * (files, symlinks, whiteouts). A walk of the upper layer only, so it costs O(changes).
     */
    static int countChanges(Path upper) {
        if (!Files.isDirectory(upper)) {
            return 0;
        }
        int[] n = {0};
        try {
            Files.walkFileTree(upper, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    n[0]++;
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) {
                    n[0]++;
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw SandboxException.cant("read the changes in", upper, e);
        }
        return n[0];
    }

    /**
     * Removes a stopped sandbox. Refuses a running one, and one whose upper layer holds
     * changes unless {@code force}: those changes exist nowhere else.
     */
    public void remove(String name, boolean force) {
        StateStore.validateName(name);
        store.locked(() -> {
            Path dir = store.sandboxDir(name);
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw SandboxException.cantWithInput("remove", name, "no such sandbox (see 'sandbox list')");
            }
            if (StateStore.isRunning(dir)) {
                throw SandboxException.cantWithInput("remove", name, "it is running (end its agent first)");
            }
            if (!force) {
                refuseUnharvested(name, dir);
            }
            Path doomed = store.sandboxesDir().resolve(".rm-" + name + "-" + ProcessHandle.current().pid());
            Files.move(dir, doomed);
            Tree.delete(doomed);
            return null;
        });
    }

    private void refuseUnharvested(String name, Path dir) {
        Sandbox sb = readSandbox(dir);
        Snapshot snap = sb == null || sb.snapshot() == null ? null : snapshots.find(sb.snapshot()).orElse(null);
        if (sb != null && snap != null) {
            boolean unharvested;
            try (Harvest h = Harvest.open(repo.commonDir())) {
                unharvested = new Harvester(this, false).unharvested(h, dir, sb, snap);
            } catch (SandboxException e) {
                unharvested = countChanges(StateStore.upperDir(dir)) > 0;
            }
            if (unharvested) {
                throw SandboxException.cantWithInput("remove", name, "its changes were never committed, patched or"
                        + " applied (see 'sandbox diff " + name + "'; use --force to drop them)");
            }
            return;
        }
        int changes = countChanges(StateStore.upperDir(dir));
        if (changes > 0) {
            throw SandboxException.cantWithInput("remove", name, "it holds " + changes
                    + " changed path" + (changes == 1 ? "" : "s")
                    + " that would be lost (use --force to drop them)");
        }
    }

    /** What {@link #gc} removed. */
    public record GcResult(List<String> snapshots, int leftovers) {
    }

    /** Deletes snapshots no sandbox uses any more, and leftovers of interrupted work. */
    public GcResult gc() {
        return snapshots.locked(() -> store.locked(() -> {
            Set<String> used = new HashSet<>();
            for (Path dir : sandboxDirs()) {
                Sandbox sb = readSandbox(dir);
                if (sb != null && sb.snapshot() != null) {
                    used.add(sb.snapshot());
                }
            }
            List<String> removed = new ArrayList<>();
            for (Snapshot s : snapshots.list()) {
                if (!used.contains(s.id())) {
                    snapshots.delete(s.id());
                    removed.add(s.id());
                }
            }
            int leftovers = 0;
            for (Path p : snapshots.leftovers()) {
                Tree.delete(p);
                leftovers++;
            }
            try (DirectoryStream<Path> rm = Files.newDirectoryStream(store.sandboxesDir(), ".rm-*")) {
                for (Path p : rm) {
                    Tree.delete(p);
                    leftovers++;
                }
            }
            return new GcResult(removed, leftovers);
        }));
    }
}
