package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.sys.DeepTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The walk over upper layers too deep or too wide for the recursion or the memory a naive
 * walk would use: tens of seconds each, kept apart from {@link UpperWalkTest}'s quick table.
 */
class UpperWalkScaleTest {
    @TempDir
    Path tmp;
    Path upper;
    Path lower;

    @BeforeEach
    void layers() throws IOException {
        upper = Files.createDirectories(tmp.resolve("upper"));
        lower = Files.createDirectories(tmp.resolve("lower"));
    }

    @Test
    void read_chainsOf3000And20000Directories_walkedWithoutRecursionOrLongPaths() throws Exception {
        for (int depth : new int[] {3000, 20_000}) {
            Path top = Files.createDirectories(tmp.resolve("deep" + depth));
            try {
                upper = Files.createDirectories(top.resolve("upper"));
                lower = Files.createDirectories(top.resolve("lower"));
                DeepTrees.chain(upper, "d", depth, "f", "bottom\n");
                ChangeSet set = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> walk(false));
                assertEquals(List.of("WRITE_FILE " + "d/".repeat(depth) + "f"), UpperWalkTest.shown(set));
                UpperWalk.Tally t = UpperWalk.tally(upper);
                assertEquals(1, t.entries());
                assertTrue(t.diskBytes() >= depth * 4096L, "every directory's block counts: " + t);
            } finally {
                DeepTrees.remove(top);
            }
        }
    }

    @Test
    void read_hundredThousandEntries_inOneDirectory() throws Exception {
        Path wide = Files.createDirectories(upper.resolve("wide"));
        for (int i = 0; i < 100_000; i++) {
            Files.createFile(wide.resolve("f" + i));
        }
        try {
            ChangeSet set = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> walk(true));
            assertEquals(100_000, set.changes().size());
            assertEquals(100_000, UpperWalk.tally(upper).entries());
        } finally {
            DeepTrees.remove(wide);
        }
    }

    private ChangeSet walk(boolean metadataOnly) throws IOException {
        return UpperWalk.read(upper, lower, path -> UpperWalk.InTree.NONE,
                new UpperWalk.Options(false, null, metadataOnly, Long.MAX_VALUE));
    }
}
