package dev.sandbox.core;

import dev.sandbox.snapshot.IndexRefresh;
import dev.sandbox.snapshot.LowerView;
import dev.sandbox.snapshot.NativeTree;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Turns a deep delta snapshot back into a full one: a copy of the tree its layers show
 * (through a {@link LowerView}), with the same fingerprint and the composed manifest, renamed
 * into the store as the newest snapshot, so that the next run on the same tree reuses it and
 * the next delta starts a short chain over it. Sandboxes already on the delta keep it (and
 * its ancestors, until {@code gc} finds them unused). Built under {@code .tmp-*} like any
 * snapshot: killed at any moment, it leaves only that, which no run picks and {@code gc}
 * deletes.
 */
final class Compaction {
    /** From this depth on a snapshot is compacted in the background of a run that stays. */
    static final int BACKGROUND_DEPTH = 4;
    /**
     * How long an agent must have run before its launcher starts compacting, in ms: a run
     * that ends sooner ({@code sandbox run -- true}) would leave a half copy behind.
     */
    static final long DELAY_MS = 2000;

    private final SnapshotStore snapshots;
    private final StateStore store;
    private final Path helper;

    Compaction(SnapshotStore snapshots, StateStore store, Path helper) {
        this.snapshots = snapshots;
        this.store = store;
        this.helper = helper;
    }

    /**
     * Compacts {@code snapshot} on a daemon thread if it is at least {@value #BACKGROUND_DEPTH}
     * deep; the future ends with the new snapshot, empty when there was nothing to do or a
     * newer snapshot came first, or with the failure (nobody needs to hear of it: the delta
     * keeps working, and the run at depth {@value SnapshotStore#MAX_DEPTH} copies in full).
     */
    CompletableFuture<Optional<Snapshot>> inBackground(Snapshot snapshot, long delayMs) {
        if (snapshot.depth() < BACKGROUND_DEPTH) {
            return CompletableFuture.completedFuture(Optional.empty());
        }
        return SnapshotStore.inBackground(() -> {
            try {
                Thread.sleep(delayMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return Optional.empty();
            }
            return compact(snapshot);
        });
    }

    /** Name of the lock a compaction holds in its {@code .tmp-*} directory, so that {@code gc} leaves it. */
    static final String BUSY = ".compacting";
    /** How long a launcher that ends waits for its compaction to stop, in ms. */
    static final long STOP_WAIT_MS = 3000;

    /**
     * The full snapshot of {@code delta}'s tree, or empty when a newer snapshot came first or
     * the launcher began to exit meanwhile. Holds a lock on {@value #BUSY} in its directory
     * ({@code gc} leaves such a directory alone). On exit, a shutdown hook stops the copy
     * (its view is closed), waits for this thread, which then deletes what it made, and only
     * then lets the JVM go: a copy is never renamed in, nor deleted, half done.
     */
    Optional<Snapshot> compact(Snapshot delta) throws IOException {
        Instant now = Instant.now();
        String id = SnapshotStore.newId(now);
        Path tmp = store.snapshotsDir().resolve(SnapshotStore.TMP_PREFIX + id);
        Files.createDirectory(tmp);
        AtomicBoolean stopping = new AtomicBoolean();
        AtomicReference<LowerView> open = new AtomicReference<>();
        Thread self = Thread.currentThread();
        Thread stop = new Thread(() -> {
            stopping.set(true);
            LowerView v = open.get();
            if (v != null) {
                v.close(); // the copy then fails or comes up short, and is thrown away
            }
            try {
                self.join(STOP_WAIT_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "compaction-stop");
        Runtime.getRuntime().addShutdownHook(stop);
        try (FileChannel busy = FileChannel.open(tmp.resolve(BUSY), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock held = busy.lock()) {
            List<Path> layers = snapshots.layers(delta.id());
            snapshots.composed(delta.id()).write(tmp.resolve(SnapshotStore.MANIFEST));
            Path tree = tmp.resolve("tree");
            try (LowerView view = LowerView.open(helper, layers)) {
                open.set(view);
                if (stopping.get()) {
                    return discard(tmp);
                }
                NativeTree.Copied copied = new NativeTree(helper).copy(view.root(), tree, Set.of(), false, null, null);
                // A view that went away under the copy (the launcher exiting) makes entries
                // vanish, which a copy takes for deletions: the view must still show what
                // was copied, entry for entry.
                String now2 = new NativeTree(helper).scan(view.root(), Set.of(), null).fingerprint();
                if (stopping.get() || !view.alive() || !now2.equals(copied.fingerprint())) {
                    return discard(tmp);
                }
                try {
                    // new inode numbers, as after any full copy; entries the delta's index held
                    // clean (their stat is the view's) stay clean, the others keep theirs
                    IndexRefresh.refresh(tree, IndexRefresh.sameStatUnder(view.root()));
                } catch (IOException e) {
                    // git in the sandbox just re-reads files on its first status
                }
            } finally {
                open.set(null);
            }
            Snapshot full = new Snapshot(id, delta.strategy(), delta.repo(), delta.baseCommit(), delta.dirtyPaths(),
                    now.toString(), delta.fingerprint(), delta.skipped(), null, 0,
                    delta.configKey());
            Json.writeAtomically(tmp.resolve("snapshot.json"), full);
            Optional<Snapshot> done = snapshots.locked(() -> {
                List<Snapshot> all = snapshots.list();
                if (stopping.get() || all.isEmpty() || !all.get(0).id().equals(delta.id())) {
                    return Optional.empty(); // exiting, or a newer one is what runs use now
                }
                // under the snapshots lock, which gc takes too: no file of the lock is left in the snapshot
                Files.delete(tmp.resolve(BUSY));
                Files.move(tmp, snapshots.dir(id), StandardCopyOption.ATOMIC_MOVE);
                return Optional.of(full);
            });
            return done.isPresent() ? done : discard(tmp);
        } catch (IOException | RuntimeException e) {
            Tree.deleteQuietly(tmp);
            throw e;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(stop);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs, and waits for this thread
            }
        }
    }

    private static Optional<Snapshot> discard(Path tmp) {
        Tree.deleteQuietly(tmp);
        return Optional.empty();
    }
}
