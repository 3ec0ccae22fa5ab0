package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The walk over real directories standing in for the layers: an "upper" and a "lower" with
 * plain files, symlinks, FIFOs, whiteouts and opaque directories, one case for each pair of
 * entries ({@link LayerPairs}); deep chains and wide directories are {@link UpperWalkScaleTest}'s.
 */
class UpperWalkTest {
    @TempDir
    Path tmp;
    Path upper;
    Path lower;
    /** What the snapshot's tree holds, by path. */
    final Map<String, UpperWalk.InTree> tree = new HashMap<>();
    final UpperWalk.Tracked tracked = path -> tree.getOrDefault(path, UpperWalk.InTree.NONE);

    @BeforeEach
    void layers() throws IOException {
        upper = Files.createDirectories(tmp.resolve("upper"));
        lower = Files.createDirectories(tmp.resolve("lower"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.sandbox.harvest.LayerPairs#all")
    void read_upperOverLower_reportsWhatTheAgentChanged(LayerPairs.Pair pair) throws Exception {
        LayerPairs.plant(lower, pair.lower());
        LayerPairs.plant(upper, pair.upper());
        UpperWalk.Tracked inTree = LayerPairs.tracked(pair.lower());

        ChangeSet set = UpperWalk.read(upper, lower, inTree, new UpperWalk.Options(false, null, false, Long.MAX_VALUE));

        assertEquals(pair.reported(), shown(set));
        assertEquals(List.of(), set.warnings());
        assertEquals(pair.reported(), shown(UpperWalk.read(upper, lower, inTree,
                new UpperWalk.Options(false, null, true, Long.MAX_VALUE))), "what list counts, from metadata");
    }

    @Test
    void read_newModifiedAndCopiedUpFiles_onlyTheChangedOnes() throws IOException {
        lower("same.txt", "same\n");
        lower("changed.txt", "old\n");
        lower("touched.txt", "touched\n");
        upper("same.txt", "same\n");
        upper("changed.txt", "new\n");
        upper("touched.txt", "touched\n");
        Files.setLastModifiedTime(upper.resolve("touched.txt"), FileTime.fromMillis(1_000_000));
        upper("new.txt", "new\n");
        Files.setPosixFilePermissions(upper("run.sh", "#!/bin/sh\n"), PosixFilePermissions.fromString("rwxr-xr-x"));

        ChangeSet set = walk(false);

        assertEquals(List.of("WRITE_FILE changed.txt", "WRITE_FILE new.txt", "WRITE_EXECUTABLE run.sh"), shown(set));
        assertEquals(List.of(), set.warnings());
    }

    @Test
    void read_metadataOnly_sameTimeIsUnchanged_aSmallTouchedFileIsCompared_aLargeOneCounts() throws IOException {
        lower("small.txt", "small\n");
        upper("small.txt", "small\n");
        Files.setLastModifiedTime(upper.resolve("small.txt"), FileTime.fromMillis(1_000_000));
        byte[] large = new byte[(int) UpperWalk.SMALL + 1];
        Files.write(lower.resolve("large.bin"), large);
        Files.write(upper.resolve("large.bin"), large);
        Files.setLastModifiedTime(upper.resolve("large.bin"), FileTime.fromMillis(1_000_000));
        Files.writeString(lower.resolve("same-time.txt"), "aaaa");
        Files.writeString(upper.resolve("same-time.txt"), "bbbb");
        Files.setLastModifiedTime(upper.resolve("same-time.txt"), Files.getLastModifiedTime(lower.resolve("same-time.txt")));

        assertEquals(List.of("WRITE_FILE large.bin"), shown(walk(true)),
                "same size, bit and time is unchanged by metadata; a large touched file counts, unread");
        assertEquals(List.of("WRITE_FILE same-time.txt"), shown(walk(false)), "the content decides when it is read");
    }

    @Test
    void read_largerThanTheLimit_sameMetadataIsUnchangedWithoutReadingIt() throws IOException {
        sparse(lower.resolve("huge.img"), 200L << 30);
        sparse(upper.resolve("huge.img"), 200L << 30);
        Files.setLastModifiedTime(upper.resolve("huge.img"), Files.getLastModifiedTime(lower.resolve("huge.img")));
        sparse(lower.resolve("touched.img"), 200L << 30);
        sparse(upper.resolve("touched.img"), 200L << 30);
        Files.setLastModifiedTime(upper.resolve("touched.img"), FileTime.fromMillis(1_000_000));

        ChangeSet set = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> UpperWalk.read(upper, lower,
                tracked, new UpperWalk.Options(false, null, false, 1L << 30)), "200 GiB is never read");

        assertEquals(List.of("WRITE_FILE touched.img"), shown(set));
    }

    @Test
    void read_symlinks_comparedByTargetNeverFollowed() throws IOException {
        Path canary = Files.writeString(tmp.resolve("canary"), "secret");
        Files.createSymbolicLink(lower.resolve("same"), Path.of("target"));
        Files.createSymbolicLink(upper.resolve("same"), Path.of("target"));
        Files.createSymbolicLink(lower.resolve("moved"), Path.of("a"));
        Files.createSymbolicLink(upper.resolve("moved"), Path.of("b"));
        Files.createSymbolicLink(upper.resolve("out"), canary);
        Files.createSymbolicLink(upper.resolve("outdir"), tmp);

        assertEquals(List.of("WRITE_SYMLINK moved", "WRITE_SYMLINK out", "WRITE_SYMLINK outdir"), shown(walk(false)),
                "a symlink to a directory is a symlink, never walked into");
    }

    @Test
    void read_fifoAndNameNotUtf8_leftOutWithAWarningWithoutBlocking() throws Exception {
        sh(upper, "mkfifo pipe; mkdir d; mkfifo d/pipe2; echo x > \"$(printf 'r\\351sum\\351.txt')\"; echo y > ok.txt");

        ChangeSet set = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> walk(false));

        assertEquals(List.of("WRITE_FILE ok.txt"), shown(set));
        assertEquals(List.of("left out 'd/pipe2': not a regular file, directory or symlink",
                "left out 'pipe': not a regular file, directory or symlink",
                "left out 'r\\351sum\\351.txt': its name is not valid UTF-8, which the harvest can't carry (it stays in"
                        + " the sandbox; rename it there to harvest it)"), set.warnings());
        assertEquals(List.of("r\\351sum\\351.txt"), set.unnamed());
    }

    @Test
    void read_typeChangesAndTrackedPaths_deleteBeforeWrite_inWalkOrder() throws IOException {
        tree.put("a", UpperWalk.InTree.TREE);
        tree.put("a/x", UpperWalk.InTree.FILE_OR_SYMLINK);
        tree.put("f", UpperWalk.InTree.FILE_OR_SYMLINK);
        Files.createDirectories(lower.resolve("a"));
        lower("a/x", "x\n");
        lower("f", "file\n");
        upper("a", "now a file\n"); // a directory became a file
        upper("f/inner", "inner\n"); // a file became a directory
        upper("a.txt", "t\n");
        upper("b/c/d.txt", "d\n");

        assertEquals(List.of("DELETE a", "WRITE_FILE a", "WRITE_FILE a.txt", "WRITE_FILE b/c/d.txt", "DELETE f",
                "WRITE_FILE f/inner"), shown(walk(false)));
    }

    @Test
    void read_ignoreRules_mergedViewAndNestedFiles_anOversizedOneIsLeftOutWithAWarning() throws IOException {
        lower(".gitignore", "*.log\n");
        upper("a.log", "ignored\n");
        upper("sub/.gitignore", "*.tmp\n");
        upper("sub/x.tmp", "ignored\n");
        upper("sub/y.log", "ignored by the root's rules\n");
        upper("big/.gitignore", "*.txt\n" + "#".repeat(UpperWalk.MAX_RULES));
        upper("big/kept.txt", "kept\n");
        upper("keep.txt", "kept\n");

        ChangeSet set = walk(false);

        assertEquals(List.of("WRITE_FILE big/.gitignore", "WRITE_FILE big/kept.txt", "WRITE_FILE keep.txt",
                "WRITE_FILE sub/.gitignore"), shown(set));
        assertEquals(List.of("left out the ignore rules in 'big/.gitignore' (1.1M): larger than 1.0M, so what they"
                + " ignore is harvested"), set.warnings());
        assertEquals(7, shown(UpperWalk.read(upper, lower, tracked, new UpperWalk.Options(true, null, false,
                Long.MAX_VALUE))).size(), "--include-ignored takes them all");
    }

    @Test
    void read_deepTreeWithSiblingsAtEveryLevel_reopensClosedDirectories() throws Exception {
        // each level holds a file after the subdirectory, so the walk must come back to levels it closed
        Path chain = upper;
        for (int i = 0; i < 3 * OpenDirs.KEPT; i++) {
            chain = Files.createDirectories(chain.resolve("d"));
            Files.writeString(chain.resolve("z" + i), "z\n");
            Files.writeString(Files.createDirectories(chain.resolve("e")).resolve("f"), "f\n");
        }

        ChangeSet set = walk(false);

        assertEquals(2 * 3 * OpenDirs.KEPT, set.changes().size(), shown(set).toString());
        assertTrue(set.changes().stream().anyMatch(c -> c.path().equals("d/e/f")), shown(set).toString());
    }

    @Test
    void tally_sparseFile_countsTheBlocksItHolds() throws IOException {
        sparse(upper.resolve("huge.img"), 200L << 30);
        upper("a/b.txt", "b\n");

        UpperWalk.Tally t = UpperWalk.tally(upper);

        assertEquals(2, t.entries());
        assertTrue(t.diskBytes() < 1 << 20, "200 GiB of holes take nothing: " + t.diskBytes());
        assertEquals(new UpperWalk.Tally(0, 0), UpperWalk.tally(tmp.resolve("none")));
    }

    @Test
    void pathOrder_comparesNameByName() {
        List<String> paths = new java.util.ArrayList<>(List.of("a.txt", "a/x", "a", "a-b/c", "b"));
        paths.sort(UpperWalk::pathOrder);
        assertEquals(List.of("a", "a/x", "a-b/c", "a.txt", "b"), paths);
    }

    private ChangeSet walk(boolean metadataOnly) throws IOException {
        return UpperWalk.read(upper, lower, tracked, new UpperWalk.Options(false, null, metadataOnly, Long.MAX_VALUE));
    }

    static List<String> shown(ChangeSet set) {
        return set.changes().stream().map(c -> c.kind() + " " + c.path()).toList();
    }

    private Path upper(String rel, String content) throws IOException {
        return write(upper.resolve(rel), content);
    }

    private Path lower(String rel, String content) throws IOException {
        return write(lower.resolve(rel), content);
    }

    private static Path write(Path file, String content) throws IOException {
        Files.createDirectories(file.getParent());
        return Files.writeString(file, content);
    }

    static void sparse(Path file, long size) throws IOException {
        try (FileChannel f = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            f.position(size - 1).write(ByteBuffer.wrap(new byte[] {0}));
        }
    }

    static void sh(Path dir, String script) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("sh", "-c", script).directory(dir.toFile()).inheritIO().start();
        assertEquals(0, p.waitFor(), script);
    }
}
