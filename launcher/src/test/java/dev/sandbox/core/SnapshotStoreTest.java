package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.console.Console;
import dev.sandbox.git.IsolatedGit;
import dev.sandbox.git.Repo;
import dev.sandbox.snapshot.CopySnapshotter;
import dev.sandbox.snapshot.Snapshotter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A snapshot is never torn without notice: a copy during which the working tree changed is
 * taken again, and kept with a warning only when the tree never held still. The user's
 * writes are simulated by a backend that edits the source while it copies.
 */
class SnapshotStoreTest {
    @TempDir
    Path tmp;
    Repo repo;
    SnapshotStore snapshots;
    StringWriter errors = new StringWriter();

    @BeforeEach
    void repo() throws IOException, InterruptedException {
        Path root = Files.createDirectory(tmp.resolve("repo"));
        Files.writeString(root.resolve("a.txt"), "one\n");
        IsolatedGit.run(tmp, "init", "-q", root.toString());
        repo = Repo.discover(root);
        snapshots = new SnapshotStore(StateStore.forRepo(repo, null));
    }

    /** Copies, and while copying (after the walk saw a.txt) writes the user's next version of it. */
    private Snapshotter editingWhileCopying(int edits, AtomicInteger copies) {
        CopySnapshotter copy = new CopySnapshotter();
        return new Snapshotter() {
            @Override
            public String strategy() {
                return copy.strategy();
            }

            @Override
            public Result copy(Path source, Path target, Set<Path> exclude) throws IOException {
                Result r = copy.copy(source, target, exclude);
                if (copies.incrementAndGet() <= edits) {
                    Files.writeString(source.resolve("a.txt"), "edit " + copies.get() + "\n");
                }
                return r;
            }
        };
    }

    private Snapshot take(Snapshotter snapshotter) {
        return snapshots.current(repo, snapshotter, false,
                Console.of(new PrintWriter(new StringWriter(), true), new PrintWriter(errors, true)), s -> { });
    }

    @Test
    void treeEditedDuringTheCopy_isCopiedAgain_andTheSnapshotHoldsTheLatestVersion() throws IOException {
        AtomicInteger copies = new AtomicInteger();
        Snapshot s = take(editingWhileCopying(1, copies));
        assertEquals(2, copies.get(), "the first copy was found torn and taken again");
        assertEquals("edit 1\n", Files.readString(snapshots.tree(s.id()).resolve("a.txt")));
        assertEquals("", errors.toString());
        assertEquals(List.of(), snapshots.leftovers(), "the torn copy was removed");
        assertEquals(s.id(), take(new CopySnapshotter()).id(), "the retaken snapshot is current and shared");
    }

    @Test
    void treeThatNeverHoldsStill_isKeptAfterThreeCopiesWithAWarning_andNotReused() throws IOException {
        AtomicInteger copies = new AtomicInteger();
        Snapshot s = take(editingWhileCopying(Integer.MAX_VALUE, copies));
        assertEquals(SnapshotStore.COPY_ATTEMPTS, copies.get());
        assertTrue(errors.toString().startsWith("sandbox: warning: the working tree kept changing"), errors.toString());
        assertEquals(List.of(), snapshots.leftovers());
        assertFalse(s.id().equals(take(new CopySnapshotter()).id()),
                "the warned snapshot does not match the tree any more, so the next run copies again");
    }

    @Test
    void lookAhead_endedByAnError_failsTheFuture_soTheRunDoesNotWaitForEver() {
        CompletableFuture<String> f = SnapshotStore.inBackground(() -> {
            throw new StackOverflowError();
        });
        CompletionException e = assertThrows(CompletionException.class,
                () -> assertTimeoutPreemptively(Duration.ofSeconds(10), f::join));
        assertInstanceOf(StackOverflowError.class, e.getCause());
    }
}
