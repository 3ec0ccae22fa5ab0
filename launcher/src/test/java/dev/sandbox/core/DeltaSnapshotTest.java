package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sandbox.console.Console;
import dev.sandbox.git.IsolatedGit;
import dev.sandbox.git.Repo;
import dev.sandbox.snapshot.CopySnapshotter;
import dev.sandbox.snapshot.LowerView;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Snapshots of a changing tree on a plain filesystem: after the first full copy, each is a
 * delta holding only what changed, whose merged view (overlayfs, through the helper) equals
 * the tree; a big change, or depth {@value SnapshotStore#MAX_DEPTH}, takes a full copy; a
 * compaction makes a full snapshot that the next run reuses.
 */
class DeltaSnapshotTest {
    @TempDir
    Path tmp;
    Path root;
    Path helper;
    Repo repo;
    StateStore store;
    SnapshotStore snapshots;

    @BeforeEach
    void repo() throws IOException, InterruptedException {
        helper = Path.of("../native-helpers/build/sandbox-helper").toAbsolutePath().normalize();
        assumeTrue(Files.isExecutable(helper), "no helper built at " + helper + " (make -C native-helpers)");
        root = Files.createDirectory(tmp.resolve("repo"));
        for (int i = 0; i < 40; i++) {
            Files.createDirectories(root.resolve("d" + i % 4));
            Files.writeString(root.resolve("d" + i % 4 + "/f" + i), "file " + i + "\n".repeat(i * 10));
        }
        IsolatedGit.run(tmp, "init", "-q", root.toString());
        IsolatedGit.run(root, "add", "-A");
        IsolatedGit.run(root, "commit", "-qm", "one");
        repo = Repo.discover(root);
        store = StateStore.forRepo(repo, null);
        snapshots = new SnapshotStore(store, () -> helper);
    }

    private Snapshot take() {
        return take(repo);
    }

    private Snapshot take(Repo tree) {
        return snapshots.current(tree, new CopySnapshotter(helper), false, Console.of(
                new PrintWriter(new StringWriter(), true), new PrintWriter(new StringWriter(), true)), s -> { });
    }

    /** The merged view of {@code s}'s layers is the tree: diff -r, aside the state directory and the refreshed index. */
    private void assertViewIsTheTree(Snapshot s) throws Exception {
        try (LowerView view = LowerView.open(helper, snapshots.layers(s.id()))) {
            Process diff = new ProcessBuilder("diff", "-r", "--no-dereference", "-x", "sandbox", "-x", "index", root.toString(),
                    view.root().toString()).redirectErrorStream(true).start();
            String out = new String(diff.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, diff.waitFor(), out);
        }
    }

    @Test
    void edits_takeDeltasOfTheChangesOnly_whoseViewIsTheTree_untilAFullCopyAtMaxDepth() throws Exception {
        Snapshot full = take();
        assertNull(full.parent());
        assertTrue(Files.isRegularFile(snapshots.dir(full.id()).resolve("manifest")));
        Snapshot previous = full;
        for (int depth = 1; depth <= SnapshotStore.MAX_DEPTH; depth++) {
            Files.writeString(root.resolve("d1/f1"), "edit " + depth);
            Files.deleteIfExists(root.resolve("d2/f" + (2 + 4 * depth)));
            Files.createDirectories(root.resolve("new" + depth));
            Snapshot s = take();
            assertEquals(previous.id(), s.parent());
            assertEquals(depth, s.depth());
            try (var layer = Files.walk(snapshots.tree(s.id()))) {
                assertTrue(layer.count() < 10, "a delta holds the changes only");
            }
            assertViewIsTheTree(s);
            previous = s;
        }
        Files.writeString(root.resolve("d1/f1"), "past the depth");
        Snapshot again = take();
        assertNull(again.parent(), "a full copy past depth " + SnapshotStore.MAX_DEPTH);
        assertEquals(0, again.depth());
    }

    /**
     * A file staged, then edited again: git in the sandbox must still see the edit, so the
     * delta's refreshed index keeps that entry's old stat data (git reads the file again).
     */
    @Test
    void stagedThenEdited_gitInTheViewSeesBoth() throws Exception {
        take();
        stageThenEdit();
        Snapshot s = take();
        assertEquals(1, s.depth());
        assertEquals("MM d0/f0\n M d1/f1\n", statusIn(s));
    }

    /** As above for a full copy, whose index is refreshed from the copied files' stat. */
    @Test
    void stagedThenEdited_gitInAFullCopySeesBoth() throws Exception {
        stageThenEdit();
        Snapshot s = take();
        assertNull(s.parent());
        assertEquals("MM d0/f0\n M d1/f1\n", statusIn(s));
    }

    private void stageThenEdit() throws Exception {
        Files.writeString(root.resolve("d0/f0"), "staged");
        IsolatedGit.run(root, "add", "d0/f0");
        Files.writeString(root.resolve("d0/f0"), "staged, then edited");
        // older than any index written now: else git re-reads it as racily clean anyway
        Files.setLastModifiedTime(root.resolve("d0/f0"), java.nio.file.attribute.FileTime.from(
                java.time.Instant.now().minusSeconds(3600)));
        Files.writeString(root.resolve("d1/f1"), "edited, not staged");
    }

    /** {@code git status --porcelain} of d0/f0 and d1/f1 in snapshot {@code s}'s merged view. */
    private String statusIn(Snapshot s) throws Exception {
        try (LowerView view = LowerView.open(helper, snapshots.layers(s.id()))) {
            Process git = new ProcessBuilder("git", "--no-optional-locks", "-c", "safe.directory=*", "--git-dir",
                    view.root().resolve(".git").toString(), "--work-tree", view.root().toString(), "-C",
                    view.root().toString(), "status", "--porcelain", "--", "d0/f0", "d1/f1")
                    .redirectErrorStream(true).start();
            String out = new String(git.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, git.waitFor(), out);
            return out;
        }
    }

    /** A damaged manifest on disk costs a full copy (with a warning), never a failed run. */
    @Test
    void aDamagedManifest_takesAFullCopy_andTheNextDeltaStartsOverIt() throws Exception {
        Snapshot full = take();
        Path manifest = snapshots.dir(full.id()).resolve("manifest");
        byte[] raw = Files.readAllBytes(manifest);
        Files.write(manifest, java.util.Arrays.copyOf(raw, 20)); // ends inside an entry
        Files.writeString(root.resolve("d1/f1"), "edit");
        Snapshot again = take();
        assertNull(again.parent());
        assertViewIsTheTree(again);
        Files.writeString(root.resolve("d1/f1"), "edit 2");
        assertEquals(again.id(), take().parent());
    }

    /**
     * A layer of the chain gone or replaced by a link (the state edited by hand) costs a full
     * copy, never a run that fails or one that reads another directory; a damaged manifest
     * further down is named in the warning.
     */
    @Test
    void aLayerGoneOrALink_takesAFullCopy_andAWarningNamesTheDamagedSnapshot() throws Exception {
        take();
        Files.writeString(root.resolve("d1/f1"), "edit 1");
        Snapshot middle = take();
        Files.writeString(root.resolve("d1/f1"), "edit 2");
        assertEquals(middle.id(), take().parent());

        Path tree = snapshots.dir(middle.id()).resolve("tree");
        Files.move(tree, tmp.resolve("moved-tree"));
        Files.writeString(root.resolve("d1/f1"), "edit 3");
        Snapshot full = take();
        assertNull(full.parent(), "a chain with a layer gone: a full copy");
        assertViewIsTheTree(full);

        Files.writeString(root.resolve("d1/f1"), "edit 4");
        assertEquals(full.id(), take().parent());
        Path fullTree = snapshots.dir(full.id()).resolve("tree");
        Files.move(fullTree, tmp.resolve("full-tree"));
        Files.createSymbolicLink(fullTree, tmp.resolve("full-tree")); // the same files, through a link
        Files.writeString(root.resolve("d1/f1"), "edit 5");
        Snapshot over = take();
        assertNull(over.parent(), "a chain with a layer that is a link: a full copy");
        Files.writeString(root.resolve("d1/f1"), "edit 6");
        assertEquals(over.id(), take().parent());

        Path manifest = snapshots.dir(over.id()).resolve("manifest");
        Files.write(manifest, java.util.Arrays.copyOf(Files.readAllBytes(manifest), 20));
        Files.writeString(root.resolve("d1/f1"), "edit 7");
        StringWriter err = new StringWriter();
        Snapshot again = snapshots.current(repo, new CopySnapshotter(helper), false, Console.of(
                new PrintWriter(new StringWriter(), true), new PrintWriter(err, true)), s -> { });
        assertNull(again.parent());
        assertTrue(err.toString().contains("can't read what snapshot '" + over.id() + "' holds"), err.toString());
    }

    /** The depth is counted along the parents: a record's own depth field is not believed. */
    @Test
    void aHandEditedDepth_doesNotLetTheChainGrowPastTheMaximum() throws Exception {
        Snapshot s = take();
        for (int i = 1; i <= SnapshotStore.MAX_DEPTH; i++) {
            Files.writeString(root.resolve("d1/f1"), "edit " + i);
            s = take();
            Path json = snapshots.dir(s.id()).resolve("snapshot.json");
            Files.writeString(json, Files.readString(json).replaceFirst("\"depth\" : \\d+", "\"depth\" : -20"));
        }
        assertEquals(SnapshotStore.MAX_DEPTH + 1, snapshots.layers(s.id()).size());
        Files.writeString(root.resolve("d1/f1"), "one more");
        assertNull(take().parent(), "a full copy once the chain is " + SnapshotStore.MAX_DEPTH + " deep");
    }

    @Test
    void runsAlternatingWithALinkedWorktree_reuseAndLayerOnTheirOwnTreesSnapshots() throws Exception {
        Path linked = tmp.resolve("linked");
        IsolatedGit.run(root, "worktree", "add", "-q", linked.toString());
        Repo other = Repo.discover(linked);
        Snapshot mine = take();
        Snapshot theirs = take(other);
        assertNotEquals(mine.id(), theirs.id());
        assertEquals(mine.id(), take().id(), "the main tree, unchanged, reuses its own snapshot, not the newest");
        Files.writeString(root.resolve("d1/f1"), "edited after the linked worktree's run");
        Snapshot delta = take();
        assertEquals(mine.id(), delta.parent(), "a delta over the main tree's own snapshot");
        assertViewIsTheTree(delta);
    }

    @Test
    void aParentOfThePreviousManifestFormat_takesOneFullCopy_thenDeltasAgain() throws Exception {
        Snapshot old = take();
        Path manifest = snapshots.dir(old.id()).resolve("manifest");
        Files.write(manifest, dev.sandbox.snapshot.ManifestTest.asV1(Files.readAllBytes(manifest))); // as written before ctime
        Files.writeString(root.resolve("d1/f1"), "edited after the upgrade");
        Snapshot full = take();
        assertNull(full.parent(), "no delta over an SBMANIF1 manifest, whose entries' ctime is unknown");
        Files.writeString(root.resolve("d2/f2"), "edited again");
        Snapshot delta = take();
        assertEquals(full.id(), delta.parent(), "deltas again over the full copy");
        assertViewIsTheTree(delta);
    }

    @Test
    void aChangeOfMoreThanAQuarter_takesAFullCopy() throws Exception {
        take();
        for (int i = 0; i < 20; i++) {
            Files.writeString(root.resolve("d" + i % 4 + "/f" + i), "rewritten".repeat(100));
        }
        Snapshot s = take();
        assertNull(s.parent());
    }

    @Test
    void compaction_makesAFullSnapshotOfTheSameTree_thatTheNextRunReuses() throws Exception {
        take();
        Snapshot delta = null;
        for (int i = 0; i < Compaction.BACKGROUND_DEPTH; i++) {
            Files.writeString(root.resolve("d3/f3"), "edit " + i);
            if (i == Compaction.BACKGROUND_DEPTH - 1) {
                stageThenEdit(); // the compacted copy's index must keep what the delta's kept
            }
            delta = take();
        }
        assertEquals(Compaction.BACKGROUND_DEPTH, delta.depth());
        assertEquals("MM d0/f0\n M d1/f1\n", statusIn(delta));
        Optional<Snapshot> full = new Compaction(snapshots, store, helper).inBackground(delta, 0).join();
        assertTrue(full.isPresent());
        assertEquals(0, full.get().depth());
        assertEquals(delta.fingerprint(), full.get().fingerprint());
        assertNotEquals(delta.id(), full.get().id());
        assertViewIsTheTree(full.get());
        assertEquals("MM d0/f0\n M d1/f1\n", statusIn(full.get()));
        assertEquals(full.get().id(), take().id(), "the next run on the same tree reuses the full one");
        Files.writeString(root.resolve("d3/f3"), "after");
        assertEquals(full.get().id(), take().parent(), "and the next delta starts over it");
        assertEquals(List.of(), snapshots.leftovers());
    }
}
