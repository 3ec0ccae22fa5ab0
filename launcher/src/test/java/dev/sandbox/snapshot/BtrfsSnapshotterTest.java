package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real thing runs on a loop-mounted btrfs in the end-to-end tests (SnapshotBackendsIT). */
class BtrfsSnapshotterTest {
    @Test
    void snapshotCommand_isReadOnly() {
        assertEquals(List.of("btrfs", "subvolume", "snapshot", "-r", "/r", "/s/tree"),
                BtrfsSnapshotter.snapshotCommand(Path.of("/r"), Path.of("/s/tree"), true));
    }

    @Test
    void snapshotCommand_forAComposedGitDir_isWritableUntilMadeReadOnly() {
        assertEquals(List.of("btrfs", "subvolume", "snapshot", "/r", "/s/tree"),
                BtrfsSnapshotter.snapshotCommand(Path.of("/r"), Path.of("/s/tree"), false));
        assertEquals(List.of("btrfs", "property", "set", "-ts", "/s/tree", "ro", "true"),
                BtrfsSnapshotter.readOnlyCommand(Path.of("/s/tree")));
    }

    @Test
    void plainDirectory_isNoSubvolume_andGetsNoSubvolumeStateDir(@TempDir Path tmp) {
        assertFalse(BtrfsSnapshotter.isSubvolume(tmp));
        assertFalse(BtrfsSnapshotter.prepareStateDir(tmp.resolve(".git/sandbox"), tmp));
        assertFalse(tmp.resolve(".git/sandbox").toFile().exists());
    }
}
