package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The snapshot {@code run --from} makes ({@link SnapshotStore#stack}): a copy of a sandbox's
 * upper layer over that sandbox's snapshot shows what the sandbox showed (overlayfs itself,
 * through the helper's view, is the judge), and no run on the working tree reuses it.
 */
class StackedSnapshotTest {
    @TempDir
    Path tmp;
    Path root;
    Path helper;
    Repo repo;
    SnapshotStore snapshots;

    @BeforeEach
    void repo() throws IOException, InterruptedException {
        helper = Path.of("../native-helpers/build/sandbox-helper").toAbsolutePath().normalize();
        assumeTrue(Files.isExecutable(helper), "no helper built at " + helper + " (make -C native-helpers)");
        root = Files.createDirectory(tmp.resolve("repo"));
        for (int i = 0; i < 12; i++) {
            Files.createDirectories(root.resolve("d" + i % 3));
            Files.writeString(root.resolve("d" + i % 3 + "/f" + i), "file " + i + "\n");
        }
        IsolatedGit.run(tmp, "init", "-q", root.toString());
        IsolatedGit.run(root, "add", "-A");
        IsolatedGit.run(root, "commit", "-qm", "one");
        repo = Repo.discover(root);
        snapshots = new SnapshotStore(StateStore.forRepo(repo, null), () -> helper);
    }

    private static Console quiet() {
        return Console.of(new PrintWriter(new StringWriter(), true), new PrintWriter(new StringWriter(), true));
    }

    private Snapshot take() {
        return snapshots.current(repo, new CopySnapshotter(helper), false, quiet(), s -> { });
    }

    @Test
    void stack_ofAnUpperLayer_showsWhatTheSandboxShowed_andIsNeverReusedForTheTree() throws Exception {
        Snapshot full = take();
        Path upper = Files.createDirectory(tmp.resolve("upper"));
        Files.writeString(upper.resolve("new.txt"), "new\n");
        Files.createDirectories(upper.resolve("d0"));
        Files.writeString(upper.resolve("d0/f0"), "edited\n");
        dev.sandbox.snapshot.Stacks.whiteout(upper.resolve("d1/f1"));
        Files.createDirectories(upper.resolve("d2"));
        Files.writeString(upper.resolve("d2/only.txt"), "made anew\n");
        dev.sandbox.snapshot.Stacks.opaque(upper.resolve("d2"));
        Files.createSymbolicLink(upper.resolve("link"), Path.of("/etc/passwd")); // copied as a link, never followed
        Process fifo = new ProcessBuilder("mkfifo", upper.resolve("pipe").toString()).start();
        assumeTrue(fifo.waitFor() == 0, "mkfifo failed");

        Snapshot[] claimed = new Snapshot[1];
        Snapshot stacked = snapshots.stack(full, upper, List.of("new.txt", "d0/f0", "d1/f1", "d2/f2"), quiet(),
                s -> claimed[0] = s);

        assertEquals(stacked, claimed[0], "claimed under the lock");
        assertEquals(SnapshotStore.STACK, stacked.strategy());
        assertEquals(full.id(), stacked.parent());
        assertEquals(full.baseCommit(), stacked.baseCommit());
        assertTrue(stacked.dirtyPaths().containsAll(List.of("new.txt", "d0/f0", "d1/f1", "d2/f2")),
                stacked.dirtyPaths().toString());
        assertEquals(List.of("pipe"), stacked.skipped(), "the FIFO is left out, and said");
        Path layer = snapshots.tree(stacked.id());
        assertTrue(Files.isSymbolicLink(layer.resolve("link")));
        assertEquals("/etc/passwd", Files.readSymbolicLink(layer.resolve("link")).toString());
        assertFalse(Files.exists(layer.resolve("d0/f3"), LinkOption.NOFOLLOW_LINKS), "only what the layer held");

        try (LowerView sandbox = LowerView.open(helper, List.of(upper, snapshots.tree(full.id())));
                LowerView copy = LowerView.open(helper, snapshots.layers(stacked.id()))) {
            Process diff = new ProcessBuilder("diff", "-r", "--no-dereference", "-x", "pipe", sandbox.root().toString(),
                    copy.root().toString()).redirectErrorStream(true).start();
            String out = new String(diff.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, diff.waitFor(), out);
            assertFalse(Files.exists(copy.root().resolve("d1/f1"), LinkOption.NOFOLLOW_LINKS), "the whiteout holds");
            assertFalse(Files.exists(copy.root().resolve("d2/f2"), LinkOption.NOFOLLOW_LINKS), "d2 is opaque");
            assertEquals("edited\n", Files.readString(copy.root().resolve("d0/f0")));
        }

        assertEquals(full.id(), take().id(), "the unchanged tree reuses its own snapshot, not the stacked one");
    }

    /** A compaction would make a full copy of the stack that the next run on the tree could reuse. */
    @Test
    void compactWhileRunning_ofAStackedSnapshot_compactsNothing() {
        Snapshot deep = new Snapshot("20260101-000000-abcd", SnapshotStore.STACK, root.toString(), null, List.of(),
                "2026-01-01T00:00:00Z", null, List.of(), "parent", Compaction.BACKGROUND_DEPTH + 1, null);
        var compaction = snapshots.compactWhileRunning(deep);
        assertTrue(compaction.isDone() && compaction.join().isEmpty(), "no compaction started");
    }
}
