package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A delta snapshot's layers are its own tree then its ancestors'; records written before
 * deltas read as full snapshots; {@code gc} and {@code rm} never delete an ancestor that a
 * kept snapshot needs.
 */
class SnapshotLayersTest {
    @TempDir
    Path repo;
    Sandboxes sandboxes;
    SnapshotStore snapshots;

    @BeforeEach
    void open() throws IOException, InterruptedException {
        IsolatedGit.run(repo, "-c", "init.defaultBranch=main", "init", "-q");
        sandboxes = Sandboxes.open(new Context(repo, Map.of("HOME", repo.resolve("home").toString()), null));
        snapshots = sandboxes.snapshots();
        Files.createDirectories(sandboxes.store().snapshotsDir());
    }

    /** A snapshot record as this version writes it, with an empty tree. */
    private void snapshot(String id, String parent, int depth, String createdAt) throws IOException {
        Files.createDirectories(snapshots.tree(id));
        Json.writeAtomically(snapshots.dir(id).resolve("snapshot.json"), new Snapshot(id, "copy",
                repo.toString(), null, List.of(), createdAt, "n1-0", List.of(), parent, depth));
    }

    private void sandboxOn(String name, String snapshot) throws IOException {
        Path dir = Files.createDirectories(sandboxes.store().sandboxesDir().resolve(name));
        Files.createDirectory(StateStore.upperDir(dir));
        Files.writeString(StateStore.sandboxJson(dir), StateStoreTest.fixture("committed")
                .replaceFirst("\"snapshot\" : \"[^\"]*\"", "\"snapshot\" : \"" + snapshot + "\"")
                .replaceFirst("\"name\" : \"[^\"]*\"", "\"name\" : \"" + name + "\""));
    }

    @Test
    void recordWithoutParentOrDepth_readsAsAFullSnapshot_ofOneLayer() throws IOException {
        Path dir = Files.createDirectories(snapshots.tree("20260101-000000-0001")).getParent();
        Files.writeString(dir.resolve("snapshot.json"), "{\"id\": \"20260101-000000-0001\", \"strategy\": \"copy\","
                + " \"repo\": \"/r\", \"createdAt\": \"2026-01-01T00:00:00Z\", \"fingerprint\": \"5-00\"}");
        Snapshot s = snapshots.find("20260101-000000-0001").orElseThrow();
        assertNull(s.parent());
        assertEquals(0, s.depth());
        assertFalse(s.delta());
        assertEquals(List.of(snapshots.tree(s.id())), snapshots.layers(s.id()));
    }

    @Test
    void layers_ofADelta_areItsTreeThenItsAncestorsTopmostFirst() throws IOException {
        snapshot("full", null, 0, "2026-01-01T00:00:00Z");
        snapshot("d1", "full", 1, "2026-01-01T00:00:01Z");
        snapshot("d2", "d1", 2, "2026-01-01T00:00:02Z");
        assertEquals(List.of(snapshots.tree("d2"), snapshots.tree("d1"), snapshots.tree("full")),
                snapshots.layers("d2"));
    }

    @Test
    void layers_parentGoneOrLooping_oneLineNamingIt() throws IOException {
        snapshot("orphan", "gone", 1, "2026-01-01T00:00:00Z");
        SandboxException e = assertThrows(SandboxException.class, () -> snapshots.layers("orphan"));
        assertEquals("can't use the snapshot 'orphan': its parent 'gone' is gone (remove the sandboxes on it)",
                e.getMessage());
        snapshot("a", "b", 1, "2026-01-01T00:00:00Z");
        snapshot("b", "a", 1, "2026-01-01T00:00:00Z");
        e = assertThrows(SandboxException.class, () -> snapshots.layers("a"));
        assertTrue(e.getMessage().contains("its parents loop"), e.getMessage());
    }

    @Test
    void gc_keepsEveryAncestorOfASnapshotInUse_andDropsThemOnceUnused() throws IOException {
        snapshot("full", null, 0, "2026-01-01T00:00:00Z");
        snapshot("d1", "full", 1, "2026-01-01T00:00:01Z");
        snapshot("d2", "d1", 2, "2026-01-01T00:00:02Z");
        snapshot("d3", "d2", 3, "2026-01-01T00:00:03Z");
        snapshot("other", null, 0, "2026-01-01T00:00:04Z");
        sandboxOn("user", "d2");
        Removal.GcResult r = new Removal(sandboxes).gc();
        assertEquals(List.of("other", "d3"), r.snapshots());
        assertEquals(List.of("d2", "d1", "full"), snapshots.list().stream().map(Snapshot::id).toList());

        new Removal(sandboxes).remove("user", true);
        assertEquals(List.of("d2", "d1", "full"), new Removal(sandboxes).gc().snapshots());
    }
}
