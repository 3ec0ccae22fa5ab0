package dev.sandbox.core;

import dev.sandbox.snapshot.IndexRefresh;
import dev.sandbox.snapshot.LowerView;
import dev.sandbox.snapshot.NativeTree;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
    CompletableFuture<Optional<Snapshot>> inBackground(Snapshot snapshot) {
        if (snapshot.depth() < BACKGROUND_DEPTH) {
            return CompletableFuture.completedFuture(Optional.empty());
        }
        return SnapshotStore.inBackground(() -> compact(snapshot));
    }

    /** The full snapshot of {@code delta}'s tree, or empty when a newer snapshot came first. */
    Optional<Snapshot> compact(Snapshot delta) throws IOException {
        Instant now = Instant.now();
        String id = SnapshotStore.newId(now);
        Path tmp = store.snapshotsDir().resolve(SnapshotStore.TMP_PREFIX + id);
        Files.createDirectory(tmp);
        try {
            List<Path> layers = snapshots.layers(delta.id());
            snapshots.composed(delta.id()).write(tmp.resolve(SnapshotStore.MANIFEST));
            Path tree = tmp.resolve("tree");
            try (LowerView view = LowerView.open(helper, layers)) {
                new NativeTree(helper).copy(view.root(), tree, Set.of(), false, null, null);
            }
            try {
                IndexRefresh.refresh(tree); // new inode numbers, as after any full copy
            } catch (IOException e) {
                // git in the sandbox just re-reads files on its first status
            }
            Snapshot full = new Snapshot(id, delta.strategy(), delta.repo(), delta.baseCommit(), delta.dirtyPaths(),
                    now.toString(), delta.fingerprint(), delta.skipped(), null, 0);
            Json.writeAtomically(tmp.resolve("snapshot.json"), full);
            Optional<Snapshot> done = snapshots.locked(() -> {
                List<Snapshot> all = snapshots.list();
                if (all.isEmpty() || !all.get(0).id().equals(delta.id())) {
                    return Optional.empty(); // a newer one is what runs use now
                }
                Files.move(tmp, snapshots.dir(id), StandardCopyOption.ATOMIC_MOVE);
                return Optional.of(full);
            });
            if (done.isEmpty()) {
                Tree.deleteQuietly(tmp);
            }
            return done;
        } catch (IOException | RuntimeException e) {
            Tree.deleteQuietly(tmp);
            throw e;
        }
    }
}
