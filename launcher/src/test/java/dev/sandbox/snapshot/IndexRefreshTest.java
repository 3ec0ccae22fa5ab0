package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Set;
import org.junit.jupiter.api.Test;
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

    /**
     * A tracked file rewritten to the same size with its mtime set back ({@code cp -p}): the
     * user's index still holds its old ctime, so it is not clean, and the copy's index must not
     * say it is: git in the copy sees it modified. With a manifest (the copy's) and without
     * one (lstat of the source).
     */
    @ParameterizedTest(name = "manifest {0}")
    @ValueSource(booleans = {true, false})
    void copy_aSameSizeRewriteWithItsMtimeSetBack_isModifiedInTheCopy(boolean manifest) throws Exception {
        Path repo = Files.createDirectories(dir.resolve("repo"));
        Files.writeString(repo.resolve("f"), "aaaa\n");
        Files.writeString(repo.resolve("g"), "gggg\n");
        // an hour old: else git, writing its index in the same tick, smudges the racily clean
        // entries (size 0), which no refresh takes for clean and the test could not fail
        FileTime old = FileTime.fromMillis(System.currentTimeMillis() - 3_600_000);
        Files.setLastModifiedTime(repo.resolve("f"), old);
        Files.setLastModifiedTime(repo.resolve("g"), old);
        git(repo, "init", "-q");
        git(repo, "add", "-A");
        git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "c");
        ManifestTest.rewriteKeepingMtime(repo.resolve("f"), "AAAA\n");

        Path copy = dir.resolve("copy");
        Path m = manifest ? dir.resolve("manifest") : null;
        new CopySnapshotter().copy(repo, copy, Set.of(), new Snapshotter.CopyOptions(m, false, 0, 0));
        assertEquals("f", git(copy, "diff-files", "--name-only"), "f's stat is the user's, stale; g's the copy's");
        assertEquals("M f", git(copy, "status", "--porcelain"));
    }

    @Test
    void sameStat_comparesTheCtimeWhereTheManifestKnowsIt() {
        Manifest.Entry known = new Manifest.Entry('f', 0100644, 5, 100, 7, 9, 200, 8, "f");
        assertTrue(IndexRefresh.sameStat(known, 200, 8, 100, 7, 9, 5));
        assertFalse(IndexRefresh.sameStat(known, 200, 9, 100, 7, 9, 5), "ctime ns");
        assertFalse(IndexRefresh.sameStat(known, 201, 8, 100, 7, 9, 5), "ctime s");
        Manifest.Entry old = new Manifest.Entry('f', 0100644, 5, 100, 7, 9, "f"); // read from SBMANIF1
        assertTrue(IndexRefresh.sameStat(old, 201, 9, 100, 7, 9, 5), "unknown: mtime, inode and size decide");
        assertFalse(IndexRefresh.sameStat(old, 201, 9, 100, 6, 9, 5));
        assertFalse(IndexRefresh.sameStat(null, 201, 9, 100, 7, 9, 5));
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
