package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.sys.DeepTrees;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TreeWalkTest {
    @TempDir
    Path tmp;

    @Test
    void walk_directoriesNestedTooDeepForTheStack_failsNamingTheRoot_notWithStackOverflowError() throws Exception {
        Path repo = Files.createDirectory(tmp.resolve("repo"));
        DeepTrees.chain(repo, "d", 2000, "f", "bottom\n"); // a path of 4001 bytes: one a working tree can hold
        try {
            FileSystemException look = assertThrows(FileSystemException.class,
                    () -> TreeWalk.walk(repo, Set.of(), TreeWalk.LOOK));
            assertEquals(repo.toString(), look.getFile());
            assertEquals("its directories nest too deep to walk (about a thousand levels)", look.getReason());
            // the helper's walk is a work queue, not recursion: it copies what the Java walk can't
            Snapshotter.Result copy = new CopySnapshotter().copy(repo, tmp.resolve("snap"), Set.of());
            assertEquals(Snapshotter.fingerprint(repo, Set.of()), copy.fingerprint());
            assertTrue(copy.fingerprint().startsWith("n2002-"), copy.fingerprint());
        } finally {
            DeepTrees.remove(repo);
            DeepTrees.remove(tmp.resolve("snap"));
        }
    }

    @Test
    void walk_aHundredLevels_isWalked() throws IOException {
        Path repo = Files.createDirectory(tmp.resolve("repo"));
        DeepTrees.chain(repo, "d", 100, "f", "bottom\n");
        String fingerprint = TreeWalk.walk(repo, Set.of(), TreeWalk.LOOK);
        assertTrue(fingerprint.startsWith("102-"), fingerprint + ": the root, 100 directories and the file");
    }
}
