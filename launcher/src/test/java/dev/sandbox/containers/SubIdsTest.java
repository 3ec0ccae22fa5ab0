package dev.sandbox.containers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SubIdsTest {
    @TempDir
    Path dir;

    private Path file(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    @Test
    void theUsersFirstRange_byNameOrUid_atMost65536Ids() throws IOException {
        Path uid = file("subuid", "other:100000:65536\n# a comment\nbad line\nalice:200000:1000000\nalice:900000:10\n");
        Path gid = file("subgid", "1001:300000:4096\n");
        Optional<SubIds> ids = SubIds.read(uid, gid, "alice", 1001);
        assertEquals(Optional.of(new SubIds(200000, 65536, 300000, 4096)), ids);
        assertEquals("200000:65536:300000:4096", ids.get().spec());
    }

    @Test
    void noRangeInEitherFile_orAMissingFile_isNone() throws IOException {
        Path uid = file("subuid", "alice:200000:65536\n");
        Path gid = file("subgid", "bob:200000:65536\n");
        assertEquals(Optional.empty(), SubIds.read(uid, gid, "alice", 1001));
        assertEquals(Optional.empty(), SubIds.read(uid, dir.resolve("missing"), "alice", 1001));
    }

    @Test
    void rangesThatAreNotRanges_areSkipped() throws IOException {
        // A zero count, a range holding the user's own uid, numbers that are not numbers, past 2^32.
        Path uid = file("subuid", "alice:200000:0\nalice:1000:65536\nalice:x:65536\nalice:4294967000:65536\n"
                + "alice:500000:65536\n");
        Path gid = file("subgid", "alice:500000:65536\n");
        assertEquals(Optional.of(new SubIds(500000, 65536, 500000, 65536)), SubIds.read(uid, gid, "alice", 1001));
    }

    @Test
    void aFreeStart_isPastEveryRange() throws IOException {
        Path uid = file("subuid", "a:100000:65536\nb:165536:65536\n");
        Path gid = file("subgid", "a:100000:65536\nc:300000:10\n");
        assertEquals(300010, SubIds.freeStart(uid, gid));
        assertEquals(100000, SubIds.freeStart(dir.resolve("none")));
        assertTrue(new SubIds(1, 2, 3, 4).describe().contains("uids 1-2"));
    }
}
