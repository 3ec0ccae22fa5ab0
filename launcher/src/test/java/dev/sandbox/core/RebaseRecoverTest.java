package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Rebase#recover} on each layout a kill can leave: before the new layer is complete it
 * is undone, after it the swap is finished; either way once, and again harmlessly.
 */
class RebaseRecoverTest {
    @TempDir
    Path dir;

    private final List<String> moved = new ArrayList<>();

    private boolean recover() throws IOException {
        return Rebase.recover(dir, moved::add);
    }

    private void layout(boolean built, boolean upper, boolean next, boolean old) throws IOException {
        if (upper) {
            Files.createDirectories(StateStore.upperDir(dir));
            Files.writeString(StateStore.upperDir(dir).resolve(old ? "new.txt" : "old.txt"), "x");
        }
        if (next) {
            Files.createDirectories(dir.resolve(Rebase.NEW_UPPER).resolve("sub"));
            Files.writeString(dir.resolve(Rebase.NEW_UPPER).resolve("new.txt"), "x");
        }
        if (old) {
            Files.createDirectories(dir.resolve(Rebase.OLD_UPPER));
            Files.writeString(dir.resolve(Rebase.OLD_UPPER).resolve("old.txt"), "x");
        }
        Json.writeAtomically(dir.resolve(Rebase.JOURNAL), new Rebase.Journal("s-old", "s-new", built));
    }

    private void assertDone(String layerFile) {
        assertTrue(Files.exists(StateStore.upperDir(dir).resolve(layerFile)), "the layer holds " + layerFile);
        assertFalse(Files.exists(dir.resolve(Rebase.NEW_UPPER)), "no new layer left");
        assertFalse(Files.exists(dir.resolve(Rebase.OLD_UPPER)), "no old layer left");
        assertFalse(Files.exists(dir.resolve(Rebase.JOURNAL)), "no journal left");
    }

    @Test
    void recover_withoutJournal_doesNothing() throws IOException {
        Files.createDirectories(StateStore.upperDir(dir));
        assertFalse(recover());
        assertTrue(moved.isEmpty());
    }

    @Test
    void recover_killedWhileTheJournalWasWritten_dropsItsTemporaryCopy_andNothingElse() throws IOException {
        Files.createDirectories(StateStore.upperDir(dir));
        Files.writeString(StateStore.upperDir(dir).resolve("work.txt"), "x");
        Files.writeString(dir.resolve("." + Rebase.JOURNAL + ".tmp-4242"), ""); // as Json.writeAtomically names it
        Files.createDirectories(dir.resolve(".rebase-ops-4242"));
        assertFalse(recover());
        assertFalse(Files.exists(dir.resolve("." + Rebase.JOURNAL + ".tmp-4242")));
        assertFalse(Files.exists(dir.resolve(".rebase-ops-4242")));
        assertTrue(Files.exists(StateStore.upperDir(dir).resolve("work.txt")), "the layer is left alone");
        assertTrue(moved.isEmpty());
    }

    @Test
    void recover_killedWhileTheNewLayerWasBuilt_undoesIt_recordUnmoved() throws IOException {
        layout(false, true, true, false);
        assertTrue(recover());
        assertDone("old.txt");
        assertTrue(moved.isEmpty(), "the record stays on the old snapshot");
        assertFalse(recover(), "nothing left to do");
    }

    @Test
    void recover_killedOnceBuilt_beforeTheSwap_finishesIt() throws IOException {
        layout(true, true, true, false);
        assertTrue(recover());
        assertDone("new.txt");
        assertEquals(List.of("s-new"), moved);
    }

    @Test
    void recover_killedBetweenTheTwoRenames_finishesIt() throws IOException {
        layout(true, false, true, true);
        assertTrue(recover());
        assertDone("new.txt");
        assertEquals(List.of("s-new"), moved);
    }

    @Test
    void recover_killedAfterTheSwap_movesTheRecordAndDropsTheOldLayer() throws IOException {
        layout(true, true, false, true);
        assertTrue(recover());
        assertDone("new.txt");
        assertEquals(List.of("s-new"), moved);
    }

    @Test
    void recover_killedWhileMovingTheRecord_isRepeatable() throws IOException {
        layout(true, true, true, false);
        IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> Rebase.recover(dir, to -> {
                    throw new IOException("killed");
                }));
        assertEquals("killed", e.getMessage());
        assertTrue(Files.exists(dir.resolve(Rebase.JOURNAL)), "the journal stays until the record moved");
        assertTrue(recover());
        assertDone("new.txt");
        assertEquals(List.of("s-new"), moved);
    }

    @Test
    void claimed_namesTheNewSnapshotWhileAJournalIsThere() throws IOException {
        assertNull(Rebase.claimed(dir));
        layout(false, true, true, false);
        assertEquals("s-new", Rebase.claimed(dir));
    }
}
