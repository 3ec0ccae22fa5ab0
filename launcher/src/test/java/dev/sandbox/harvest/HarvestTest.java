package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import dev.sandbox.git.IsolatedGit;
import dev.sandbox.sys.DeepTrees;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The harvest's trees over a real repository, with plain directories standing in for the
 * layers: what is left out (too large, changing, not a file) and that counting reads nothing.
 */
@ExtendWith(IsolatedGit.class)
class HarvestTest {
    @TempDir
    Path tmp;
    Path work;
    Path upper;
    Path lower;
    String base;

    @BeforeEach
    void repository() throws Exception {
        work = Files.createDirectories(tmp.resolve("work"));
        write(work.resolve("a.txt"), "a\n");
        write(work.resolve("b.txt"), "b\n");
        write(work.resolve("dir/x.txt"), "x\n");
        git(work, "init", "-q");
        git(work, "add", "-A");
        git(work, "commit", "-q", "-m", "base");
        base = git(work, "rev-parse", "HEAD");
        lower = Files.createDirectories(tmp.resolve("lower"));
        git(work, "--work-tree=" + lower, "checkout", "-q", "-f", "HEAD", "--", ".");
        upper = Files.createDirectories(tmp.resolve("upper"));
    }

    @Test
    void trees_fileOverTheLimit_leftOutWithTheWarningUnread_countedWhenNotStoring() throws IOException {
        UpperWalkTest.sparse(upper.resolve("big.bin"), 200L << 30);
        write(upper.resolve("a.txt"), "changed\n");

        try (Harvest h = Harvest.open(work.resolve(".git"), 1L << 30)) {
            Trees stored = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> h.trees(source(), false, true));
            assertEquals(List.of("a.txt"), paths(stored));
            assertEquals(List.of("left out 'big.bin' (200G): larger than SANDBOX_HARVEST_MAX_FILE (1.0G)"),
                    stored.warnings());

            Trees hashed = h.trees(source(), false, false);
            assertEquals(List.of("a.txt", "big.bin"), paths(hashed), "what rm judges counts it as work");
            assertNotEquals(hashed.merged(), h.trees(source(), false, false).merged(),
                    "never the same tree twice, so it never counts as handed over");
            assertEquals(2, assertTimeoutPreemptively(Duration.ofSeconds(20), () -> h.count(source(), false)));
        }
        assertEquals(List.of(), temporaryObjects(), "no temporary object is left in .git/objects");
    }

    @Test
    void trees_fileBelow2000Directories_harvestedWithoutRecursion() throws Exception {
        try {
            DeepTrees.chain(upper, "d", 2000, "f", "bottom\n"); // a 4001-byte path: the longest that fits
            try (Harvest h = Harvest.open(work.resolve(".git"))) {
                Trees t = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> h.trees(source(), false, true));
                assertEquals(List.of("d/".repeat(2000) + "f"), paths(t));
                assertEquals(List.of(), t.warnings());
                assertEquals(1, h.count(source(), false));
            }
        } finally {
            DeepTrees.remove(upper.resolve("d"));
        }
    }

    @Test
    void trees_pathLongerThanPathMax_leftOutInOneLine() throws Exception {
        try {
            DeepTrees.chain(upper, "d", 3000, "f", "bottom\n");
            try (Harvest h = Harvest.open(work.resolve(".git"))) {
                Trees t = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> h.trees(source(), false, true));
                assertEquals(List.of(), paths(t));
                assertEquals(1, t.warnings().size(), t.warnings().toString());
                assertTrue(t.warnings().get(0).contains("4095 bytes a working tree holds"), t.warnings().toString());
                assertEquals(1, h.trees(source(), false, false).changes().size(), "rm counts it as work");
            }
        } finally {
            DeepTrees.remove(upper.resolve("d"));
        }
    }

    @Test
    void trees_filesDeeperThanGitTakes_leftOutInOneLine_countedWhenNotStoring() throws Exception {
        try {
            DeepTrees.chain(upper, "d", Blobs.MAX_DEPTH + 1, "f", "bottom\n");
            write(upper.resolve("a.txt"), "changed\n");
            try (Harvest h = Harvest.open(work.resolve(".git"))) {
                Trees t = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> h.trees(source(), false, true));
                assertEquals(List.of("a.txt"), paths(t));
                assertEquals(List.of("left out '" + Blobs.shown("d/".repeat(Blobs.MAX_DEPTH + 1) + "f")
                        + "': deeper than the 4096 directories git takes, or a path longer than the 4095 bytes"
                        + " a working tree holds"), t.warnings());
                assertTrue(t.warnings().get(0).length() < 300, "its middle cut");
                assertEquals(2, h.trees(source(), false, false).changes().size(), "rm counts it as work");
                assertEquals(2, h.count(source(), false));
            }
        } finally {
            DeepTrees.remove(upper.resolve("d"));
        }
    }

    @Test
    void count_normalChanges_asTreesCountsThem_touchedFilesAside() throws IOException {
        write(upper.resolve("a.txt"), "changed\n");
        write(upper.resolve("b.txt"), "b\n"); // a touch: a copy-up with the same bytes and a new time
        Files.setLastModifiedTime(upper.resolve("b.txt"), FileTime.fromMillis(1_000_000));
        write(upper.resolve("new/file.txt"), "new\n");
        write(upper.resolve("dir/x.txt/inner"), "a file became a directory\n");

        try (Harvest h = Harvest.open(work.resolve(".git"))) {
            Trees t = h.trees(source(), false, false);
            assertEquals(List.of("a.txt", "dir/x.txt", "dir/x.txt/inner", "new/file.txt"), paths(t));
            assertEquals(t.changes().size(), h.count(source(), false));
        }
    }

    @Test
    void trees_fifoAtADirtyPathAndInTheUpperLayer_leftOutNeverOpened() throws Exception {
        UpperWalkTest.sh(lower, "mkfifo pipe");
        UpperWalkTest.sh(upper, "mkfifo pipe2");
        Source src = new Source(upper, lower, base, List.of("pipe"));

        try (Harvest h = Harvest.open(work.resolve(".git"))) {
            Trees t = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> h.trees(src, false, true));
            assertTrue(t.changes().isEmpty(), paths(t).toString());
            assertEquals(List.of("left out 'pipe2': not a regular file, directory or symlink"), t.warnings());
        }
    }

    @Test
    void apply_fileShrinksWhileRead_readAgain_thenLeftOutWhenItShrinksTwice() throws IOException {
        Path file = write(upper.resolve("log.txt"), "x".repeat(100_000));
        ChangeSet set = new ChangeSet(List.of(new Change(Change.Kind.WRITE_FILE, "log.txt")), List.of(), List.of(),
                List.of(), List.of(), List.of(), 0);
        Source src = new Source(upper, lower, base, List.of());

        Blobs once = new Blobs(new Shrinking(file, 1), Blobs.Mode.STORE, Long.MAX_VALUE);
        MutableTree merged = MutableTree.of(null, null);
        once.apply(src, set, merged);
        assertEquals(ObjectId.fromString("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"), merged.lookup("log.txt").id,
                "read again, as it is now (empty)");
        assertEquals(List.of(), once.warnings(set));

        Files.writeString(file, "x".repeat(100_000));
        Blobs always = new Blobs(new Shrinking(file, Integer.MAX_VALUE), Blobs.Mode.STORE, Long.MAX_VALUE);
        MutableTree none = MutableTree.of(null, null);
        always.apply(src, set, none);
        assertEquals(null, none.lookup("log.txt"));
        assertEquals(List.of("left out 'log.txt': it got shorter while it was read, twice (is the agent still"
                + " writing it?)"), always.warnings(set));
    }

    @Test
    void trees_unreadableFile_oneLineNamingIt() throws Exception {
        Path f = write(upper.resolve("secret.txt"), "s\n");
        f.toFile().setReadable(false, false);
        org.junit.jupiter.api.Assumptions.assumeFalse(Files.isReadable(f), "root reads any file");
        try (Harvest h = Harvest.open(work.resolve(".git"))) {
            SandboxException e = assertThrows(SandboxException.class, () -> h.trees(source(), false, true));
            assertTrue(e.getMessage().contains("permission denied"), e.getMessage());
        }
    }

    @Test
    void maxFile_wholeNumberOfBytes_elseOneLineWithExit2() {
        assertEquals(Harvest.DEFAULT_MAX_FILE, Harvest.maxFile(null));
        assertEquals(Harvest.DEFAULT_MAX_FILE, Harvest.maxFile(""));
        assertEquals(5, Harvest.maxFile("5"));
        for (String bad : new String[] {"1G", "-1", "lots", "99999999999999999999"}) {
            SandboxException e = assertThrows(SandboxException.class, () -> Harvest.maxFile(bad), bad);
            assertEquals(2, e.exitCode());
            assertEquals("invalid SANDBOX_HARVEST_MAX_FILE '" + bad + "': expected a number of bytes, such as"
                    + " 2147483648 for 2 GiB (or leave it unset: 1073741824, 1 GiB)", e.getMessage());
        }
    }

    /**
     * Hashes as the repository would, but makes the file shorter before reading it, the
     * first {@code times} times, and long again after.
     */
    private static final class Shrinking extends ObjectInserter.Formatter {
        private final Path file;
        private int times;

        Shrinking(Path file, int times) {
            this.file = file;
            this.times = times;
        }

        @Override
        public ObjectId insert(int type, long length, InputStream in) throws IOException {
            if (times-- <= 0) {
                return idFor(type, length, in);
            }
            Files.write(file, new byte[0]);
            try {
                return idFor(type, length, in);
            } finally {
                if (times > 0) {
                    Files.writeString(file, "x".repeat(100_000));
                }
            }
        }
    }

    @Test
    void trees_gitsOwnNameInOtherSpellings_leftOutWithAWarning_gitFsckFindsTheCommitClean() throws Exception {
        write(upper.resolve(".GIT/hooks/post-checkout"), "#!/bin/sh\necho owned\n");
        write(upper.resolve("sub/.Git/config"), "[core]\n");
        write(upper.resolve(".git. ./x"), "x\n");
        write(upper.resolve("GIT~1/y"), "y\n");
        write(upper.resolve("a\\.gIt\\z"), "z\n");
        write(upper.resolve(".gitx/kept"), "k\n");
        write(upper.resolve("a.txt"), "changed\n");

        try (Harvest h = Harvest.open(work.resolve(".git"))) {
            Trees t = h.trees(source(), true, true);
            assertEquals(List.of(".gitx/kept", "a.txt"), paths(t));
            assertEquals(5, t.warnings().size(), t.warnings().toString());
            assertTrue(t.warnings().stream().allMatch(w -> w.contains("git reserves the name")), t.warnings().toString());
            Harvest.Commits c = h.commits(source(), t, new Harvest.CommitInfo("m", java.time.Instant.now(),
                    java.time.Instant.now()), tmp.resolve("scratch"));
            git(work, "update-ref", "refs/heads/harvested", c.tip().name());
            git(work, "fsck", "--strict", "--no-dangling");
        }
    }

    @Test
    void gitsOwnName_matchesWhatGitRefuses_andNothingElse() {
        for (String name : List.of(".GIT", ".Git", ".git.", ".git ", ".git. .", ".git::$INDEX_ALLOCATION", "git~1",
                "GIT~1.", "x\\.git", ".git\\y")) {
            assertTrue(UpperWalk.gitsOwnName(name), name);
        }
        for (String name : List.of(".gitx", "git", ".gitignore", "a.git", "git~2", "..git", ".git~1")) {
            assertTrue(!UpperWalk.gitsOwnName(name), name);
        }
    }

    @Test
    void trees_ignoredPaths_takenOnlyWithIncludeIgnored_asModificationsOfTheSnapshotsCopy() throws Exception {
        commitIgnoreRules("app.log\nbuild/\nnode_modules/\n");
        write(lower.resolve("app.log"), "old\n");
        write(lower.resolve("build/x"), "x\n");
        write(upper.resolve("app.log"), "newer\n"); // a count judges by size and time, and times may be equal here
        write(upper.resolve("build/new"), "n\n");
        write(upper.resolve("node_modules/p/i.js"), "i\n");
        write(upper.resolve("node_modules/p/j.js"), "j\n");

        try (Harvest h = Harvest.open(work.resolve(".git"))) {
            Trees without = h.trees(source(), false, true);
            assertEquals(List.of(), paths(without));
            assertEquals(3, without.ignored(), "app.log, build/new, and node_modules/ as one path");

            Trees with = h.trees(source(), true, true);
            assertEquals(List.of("app.log", "build/new", "node_modules/p/i.js", "node_modules/p/j.js"), paths(with));
            assertEquals(0, with.ignored());
            FileChange log = with.changes().get(0);
            assertTrue(!log.added() && !log.deleted(), "in the snapshot, so a modification: " + log);
            assertEquals("old\n", new String(h.reader().open(log.oldId()).getBytes(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void trees_unignoredAndEdited_aModificationOfTheSnapshotsCopy_withoutIncludeIgnored() throws Exception {
        commitIgnoreRules("app.log\n");
        write(lower.resolve("app.log"), "old\n");
        write(upper.resolve(".gitignore"), "");
        write(upper.resolve("app.log"), "new\n");

        try (Harvest h = Harvest.open(work.resolve(".git"))) {
            Trees t = h.trees(source(), false, true);
            assertEquals(List.of(".gitignore", "app.log"), paths(t));
            assertTrue(t.changes().stream().noneMatch(FileChange::added), t.changes().toString());
            assertEquals(0, t.ignored());
        }
    }

    @Test
    void trees_ignoredDirectoryBecameAFile_itsFilesDeletedAndTheFileWritten() throws Exception {
        commitIgnoreRules("build/\n");
        write(lower.resolve("build/x"), "x\n");
        write(lower.resolve("build/sub/y"), "y\n");
        write(upper.resolve("build"), "b\n");

        try (Harvest h = Harvest.open(work.resolve(".git"))) {
            Trees t = h.trees(source(), false, true);
            assertEquals(List.of("build", "build/sub/y", "build/x"), paths(t).stream().sorted().toList());
            assertTrue(t.changes().stream().filter(c -> c.path().startsWith("build/")).allMatch(FileChange::deleted));
        }
    }

    /** Commits {@code rules} as the repository's .gitignore, in the snapshot too, as the new base. */
    private void commitIgnoreRules(String rules) throws Exception {
        write(work.resolve(".gitignore"), rules);
        write(lower.resolve(".gitignore"), rules);
        git(work, "add", ".gitignore");
        git(work, "commit", "-q", "-m", "ignore");
        base = git(work, "rev-parse", "HEAD");
    }

    private Source source() {
        return new Source(upper, lower, base, List.of());
    }

    private static List<String> paths(Trees t) {
        return t.changes().stream().map(FileChange::path).toList();
    }

    private List<String> temporaryObjects() throws IOException {
        try (Stream<Path> s = Files.list(work.resolve(".git/objects"))) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList();
        }
    }

    private static Path write(Path p, String content) throws IOException {
        Files.createDirectories(p.getParent());
        return Files.writeString(p, content, StandardCharsets.UTF_8);
    }

    static String git(Path dir, String... args) {
        return IsolatedGit.run(dir, args);
    }
}
