package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * git is the judge: {@code git diff-files} compares the index's stat data with the files
 * without reading them, so it lists every path whose index entry is stale.
 */
class IndexRefreshTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "index version {0}")
    @ValueSource(ints = {2, 3, 4})
    void copy_repository_gitSeesNoStaleEntryInTheCopy(int version) throws Exception {
        Path repo = Files.createDirectories(dir.resolve("repo"));
        for (int i = 0; i < 50; i++) {
            Path f = repo.resolve("src/dir" + (i % 5) + "/file-with-a-longer-name-" + i + ".txt");
            Files.createDirectories(f.getParent());
            Files.writeString(f, "content " + i + "\n");
        }
        Files.createSymbolicLink(repo.resolve("link"), Path.of("src"));
        git(repo, "init", "-q");
        git(repo, "add", "-A");
        git(repo, "update-index", "--index-version", String.valueOf(version));
        if (version == 3) {
            git(repo, "update-index", "--skip-worktree", "src/dir0/file-with-a-longer-name-0.txt"); // extended flags
        }
        git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "c");

        Path plain = dir.resolve("plain");
        new CopySnapshotter().copy(repo, plain, Set.of());
        assertEquals("", git(plain, "diff-files", "--name-only"), "every entry matches the copy");
        assertEquals(version, java.nio.ByteBuffer.wrap(Files.readAllBytes(plain.resolve(".git/index"))).getInt(4),
                "the index keeps its version");
        git(plain, "fsck", "--no-dangling", "--strict"); // the checksum is right: git would refuse the index else

        // the same copy without the refresh leaves every entry stale: the test can fail
        byte[] original = Files.readAllBytes(repo.resolve(".git/index"));
        Files.write(plain.resolve(".git/index"), original);
        assertTrue(git(plain, "diff-files", "--name-only").lines().count() >= 50, "a copy's entries are stale");
        assertEquals(51, IndexRefresh.refresh(plain));
        assertEquals("", git(plain, "diff-files", "--name-only"));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"no git dir", "garbage"})
    void refresh_nothingItKnows_leavesItAlone(String what) throws Exception {
        Path tree = Files.createDirectories(dir.resolve("t"));
        if (what.equals("garbage")) {
            Files.createDirectories(tree.resolve(".git"));
            Files.writeString(tree.resolve(".git/index"), "not an index at all, but long enough");
        }
        assertEquals(-1, IndexRefresh.refresh(tree));
    }

    private static String git(Path dir, String... args) {
        return IsolatedGit.run(dir, args);
    }
}
