package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** No ZFS on the build machine: the mountinfo parsing, the commands and the paths. */
class ZfsSnapshotterTest {
    private static final String MOUNTINFO = String.join("\n",
            "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
            "95 22 0:52 / /tank/src rw,noatime shared:40 - zfs tank/src rw,xattr,posixacl",
            "96 95 0:53 / /tank/src/my\\040repo rw,noatime shared:41 - zfs tank/src/my\\040repo rw,xattr",
            "97 22 0:54 / /shadowed rw shared:42 - zfs tank/old rw",
            "98 22 0:55 / /shadowed rw shared:43 - tmpfs tmpfs rw",
            "");

    @Test
    void datasetAt_findsTheDatasetMountedExactlyThere() {
        assertEquals(Optional.of(new ZfsSnapshotter.Dataset("tank/src", Path.of("/tank/src"))),
                ZfsSnapshotter.datasetAt(Path.of("/tank/src"), MOUNTINFO));
        assertEquals(Optional.of(new ZfsSnapshotter.Dataset("tank/src/my repo", Path.of("/tank/src/my repo"))),
                ZfsSnapshotter.datasetAt(Path.of("/tank/src/my repo"), MOUNTINFO), "octal escapes decoded");
    }

    @Test
    void datasetAt_isEmptyBelowAMountpointOnOtherFilesystemsAndWhenShadowed() {
        assertEquals(Optional.empty(), ZfsSnapshotter.datasetAt(Path.of("/tank/src/sub"), MOUNTINFO),
                "a plain directory inside a dataset is not a dataset's root");
        assertEquals(Optional.empty(), ZfsSnapshotter.datasetAt(Path.of("/"), MOUNTINFO));
        assertEquals(Optional.empty(), ZfsSnapshotter.datasetAt(Path.of("/shadowed"), MOUNTINFO),
                "the last mount at a path is the one seen");
    }

    @Test
    void commandsAndLowerPath() {
        assertEquals(List.of("zfs", "snapshot", "tank/src@sandbox-1"),
                ZfsSnapshotter.snapshotCommand("tank/src", "sandbox-1"));
        assertEquals(List.of("zfs", "destroy", "tank/src@sandbox-1"), ZfsSnapshotter.destroyCommand("tank/src@sandbox-1"));
        assertThrows(IllegalArgumentException.class, () -> ZfsSnapshotter.destroyCommand("tank/src"),
                "never destroys a whole dataset");
        assertEquals(Path.of("/tank/src/.zfs/snapshot/sandbox-1"),
                ZfsSnapshotter.lowerPath(Path.of("/tank/src"), "sandbox-1"));
    }
}
