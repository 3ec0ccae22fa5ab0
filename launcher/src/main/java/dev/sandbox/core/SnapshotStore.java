package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.snapshot.Snapshotter;
import dev.sandbox.snapshot.ZfsSnapshotter;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The snapshots of one repository: takes a new one when the working tree changed since the
 * newest, and reuses that one otherwise, so starting another agent on an unchanged tree
 * costs one metadata walk instead of a copy. A snapshot appears under its id only once it is
 * complete (built under a temporary name, then renamed).
 */
public final class SnapshotStore {
    private static final DateTimeFormatter ID_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
            .withZone(ZoneOffset.UTC);
    static final String TMP_PREFIX = ".tmp-";
    /** Copies of a working tree that keeps changing before one is kept with a warning. */
    static final int COPY_ATTEMPTS = 3;

    private final StateStore store;

    public SnapshotStore(StateStore store) {
        this.store = store;
    }

    /**
     * Snapshot {@code id}'s directory in the store.
     *
     * @throws SandboxException (exit 125) when {@code id} is not one name in the store's
     *     directory: a record naming {@code ../..} must not make a lower layer of any other place
     */
    public Path dir(String id) {
        if (id.isEmpty() || id.equals(".") || id.equals("..") || id.contains("/") || id.contains("\0")) {
            throw SandboxException.failure("can't use the snapshot '" + id + "': not a snapshot's name");
        }
        return store.snapshotsDir().resolve(id);
    }

    /** The lower layer of sandboxes on snapshot {@code id}. */
    public Path tree(String id) {
        return dir(id).resolve("tree");
    }

    /**
     * The lower layers of sandboxes on snapshot {@code id}, topmost first, as overlayfs takes
     * them ({@code lowerdir=top:...:bottom}): one directory for a full snapshot.
     */
    public List<Path> layers(String id) {
        return List.of(tree(id));
    }

    public Optional<Snapshot> find(String id) {
        Path json = dir(id).resolve("snapshot.json");
        try {
            return Files.exists(json) ? Optional.of(Json.read(json, Snapshot.class)) : Optional.empty();
        } catch (IOException e) {
            throw SandboxException.cant("read", json, e);
        }
    }

    /**
     * Complete snapshots, newest first. A snapshot whose record can't be read, names another
     * id or has no time is left out: it is neither reused nor removed by {@code gc}, since
     * what it holds and who uses it can't be told.
     */
    public List<Snapshot> list() {
        List<Snapshot> all = new ArrayList<>();
        try (DirectoryStream<Path> ids = Files.newDirectoryStream(store.snapshotsDir())) {
            for (Path p : ids) {
                String id = p.getFileName().toString();
                if (!id.startsWith(".")) {
                    try {
                        find(id).filter(s -> id.equals(s.id()) && s.createdAt() != null).ifPresent(all::add);
                    } catch (SandboxException unreadable) {
                        // left out, as the Javadoc says
                    }
                }
            }
        } catch (IOException e) {
            throw SandboxException.cant("list the snapshots in", store.snapshotsDir(), e);
        }
        all.sort(Comparator.comparing(Snapshot::createdAt).thenComparing(Snapshot::id).reversed());
        return all;
    }

    /**
     * Returns a snapshot of the working tree as it is now, reusing the newest one if nothing
     * changed (and, with {@code sameStrategy}, if it was made the same way), and lets
     * {@code claim} record its use before {@code gc} may see it. Takes the
     * snapshots lock, so concurrent runs on an unchanged tree wait for one copy and share it.
     * Warnings (a copy taken while the tree kept changing, entries left out) go to {@code console}.
     */
    public Snapshot current(Repo repo, Snapshotter snapshotter, boolean sameStrategy, Console console, Claim claim) {
        return current(repo, snapshotter, sameStrategy, null, console, claim);
    }

    /**
     * As {@link #current(Repo, Snapshotter, boolean, Console, Claim)}, with what
     * {@code lookAhead} found out while the run was getting ready.
     */
    public Snapshot current(Repo repo, Snapshotter snapshotter, boolean sameStrategy, LookAhead lookAhead,
            Console console, Claim claim) {
        Set<Path> exclude = Set.of(store.root());
        return locked(() -> {
            Snapshot chosen;
            try {
                chosen = reusableOrNew(repo, snapshotter, sameStrategy, exclude,
                        lookAhead == null ? LookAhead.NONE : lookAhead, console);
            } catch (FileSystemException e) {
                throw SandboxException.cant("snapshot", e.getFile() == null ? repo.root() : e.getFile(), e);
            }
            claim.claim(chosen);
            return chosen;
        });
    }

    private Snapshot reusableOrNew(Repo repo, Snapshotter snapshotter, boolean sameStrategy, Set<Path> exclude,
            LookAhead lookAhead, Console console) throws IOException {
        if (!snapshotter.reusable()) {
            return take(repo, snapshotter, exclude, lookAhead, console);
        }
        List<Snapshot> existing = list();
        if (!existing.isEmpty() && existing.get(0).fingerprint() != null
                && (!sameStrategy || existing.get(0).strategy().equals(snapshotter.strategy()))
                && existing.get(0).fingerprint().equals(fingerprintNow(repo, exclude, lookAhead.fingerprint()))) {
            return existing.get(0);
        }
        return take(repo, snapshotter, exclude, lookAhead, console);
    }

    private static Repo.Status statusNow(Repo repo, CompletableFuture<Repo.Status> lookAhead) {
        try {
            return lookAhead.join();
        } catch (CompletionException e) {
            return repo.status(); // again here, where its error reaches the user
        }
    }

    private static String fingerprintNow(Repo repo, Set<Path> exclude, CompletableFuture<String> lookAhead)
            throws IOException {
        if (lookAhead != null) {
            try {
                return lookAhead.join();
            } catch (CompletionException e) {
                // walk again here, where its error reaches the user
            }
        }
        return Snapshotter.fingerprint(repo.root(), exclude);
    }

    /**
     * What a run can find out in the background while it gets everything else ready: the
     * tree's fingerprint when a snapshot may be reused (on a 50,000-file tree that walk is
     * most of the cost of starting a sandbox), else HEAD and the dirty paths, which a
     * filesystem snapshot records and which cost more than taking it. Either may be null.
     */
    public record LookAhead(CompletableFuture<String> fingerprint, CompletableFuture<Repo.Status> status) {
        static final LookAhead NONE = new LookAhead(null, null);
    }

    /** Starts the walk ({@code mayReuse}) or the git status in a background thread. */
    public LookAhead lookAhead(Repo repo, boolean mayReuse) {
        if (mayReuse) {
            return new LookAhead(inBackground(() -> Snapshotter.fingerprint(repo.root(), Set.of(store.root()))), null);
        }
        return new LookAhead(null, inBackground(repo::status));
    }

    /** {@code work} on a thread of its own; the future ends however the work does, by an Error too. */
    static <T> CompletableFuture<T> inBackground(StateStore.IoAction<T> work) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread worker = new Thread(() -> {
            try {
                result.complete(work.run());
            } catch (Exception | Error e) {
                // an Error too: left incomplete, the future would keep the run waiting for ever
                result.completeExceptionally(e);
            }
        }, "look-ahead");
        worker.setDaemon(true);
        worker.start();
        return result;
    }

    /** Records that a sandbox uses a snapshot; runs under the snapshots lock. */
    @FunctionalInterface
    public interface Claim {
        void claim(Snapshot snapshot) throws IOException;
    }

    /** Runs {@code action} under the lock that serialises taking and deleting snapshots. */
    <T> T locked(StateStore.IoAction<T> action) {
        return StateStore.withLock(store.snapshotsDir().resolve(".lock"), action);
    }

    /**
     * Takes a new snapshot. A copy is checked against a second walk of the working tree and
     * taken again when a file changed, appeared or vanished meanwhile (the user saving, a
     * build, git's own gc), so that a sandbox never starts on a torn file without notice.
     */
    private Snapshot take(Repo repo, Snapshotter snapshotter, Set<Path> exclude, LookAhead lookAhead,
            Console console) throws IOException {
        for (int attempt = 1; ; attempt++) {
            Instant now = Instant.now();
            String id = ID_TIME.format(now) + "-" + String.format("%04x", ThreadLocalRandom.current().nextInt(0x10000));
            Path tmp = store.snapshotsDir().resolve(TMP_PREFIX + id);
            Files.createDirectory(tmp);
            try {
                Repo.Status status = attempt == 1 && lookAhead.status() != null ? statusNow(repo, lookAhead.status())
                        : repo.status();
                String base = status.head();
                List<String> dirty = status.dirtyPaths();
                Snapshotter.Result copied = snapshotter.copy(repo.root(), tmp.resolve("tree"), exclude);
                boolean heldStill = snapshotter.atomic()
                        || copied.fingerprint().equals(Snapshotter.fingerprint(repo.root(), exclude))
                                && Objects.equals(base, repo.headCommit());
                if (!heldStill && attempt < COPY_ATTEMPTS) {
                    Tree.delete(tmp);
                    continue;
                }
                if (!heldStill) {
                    console.warn("the working tree kept changing while it was copied (" + COPY_ATTEMPTS
                            + " tries); a file written meanwhile may be torn in this snapshot");
                }
                List<String> skipped = copied.skipped().stream().map(Path::toString).toList();
                Snapshot snapshot = new Snapshot(id, snapshotter.strategy(), repo.root().toString(), base, dirty,
                        now.toString(), copied.fingerprint(), skipped);
                Json.writeAtomically(tmp.resolve("snapshot.json"), snapshot);
                Files.move(tmp, dir(id), StandardCopyOption.ATOMIC_MOVE);
                for (String sk : skipped) {
                    console.warn("left '" + sk
                            + "' out of the snapshot: not a regular file, directory or symlink");
                }
                return snapshot;
            } catch (IOException | RuntimeException e) {
                Tree.deleteQuietly(tmp);
                throw e;
            }
        }
    }

    /** Deletes a snapshot's directory; the caller has checked that no sandbox uses it. */
    void delete(String id) throws IOException {
        Path dir = dir(id);
        Path doomed = store.snapshotsDir().resolve(TMP_PREFIX + "rm-" + id);
        Files.move(dir, doomed, StandardCopyOption.ATOMIC_MOVE);
        ZfsSnapshotter.destroy(doomed);
        Tree.delete(doomed);
    }

    /** Leftovers of snapshots that were interrupted while being taken or deleted. */
    List<Path> leftovers() throws IOException {
        List<Path> tmp = new ArrayList<>();
        try (DirectoryStream<Path> ids = Files.newDirectoryStream(store.snapshotsDir(), TMP_PREFIX + "*")) {
            ids.forEach(tmp::add);
        }
        return tmp;
    }
}
