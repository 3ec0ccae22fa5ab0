package dev.sandbox.git;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** git itself is the oracle: one porcelain v2 status against the v1 reading and rev-parse. */
class RepoTest {
    @TempDir
    Path dir;

    private void git(String... args) {
        IsolatedGit.run(dir, args);
    }

    @Test
    void discover_fromASubdirectory_findsTheCommonDirGitNames() throws IOException, InterruptedException {
        git("init", "-q");
        Path deep = Files.createDirectories(dir.resolve("a/b/c"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), deep);
        Path oracle = Path.of(IsolatedGit.run(deep, "rev-parse", "--path-format=absolute", "--git-common-dir"));
        for (Path from : List.of(dir, deep, link)) {
            Repo repo = Repo.discover(from);
            assertEquals(oracle.toRealPath(), repo.commonDir().toRealPath(), "from " + from);
            assertEquals(dir.toRealPath().resolve(".git"), repo.commonDir(), "from " + from);
        }
    }

    @Test
    void status_matchesPorcelainV1AndRevParse_inEveryKindOfChange() throws IOException, InterruptedException {
        git("init", "-q");
        Repo repo = Repo.discover(dir);
        Files.writeString(dir.resolve("new file.txt"), "x\n");
        assertEquals(new Repo.Status(null, List.of("new file.txt")), new Repo.Status(repo.status().head(), repo.status().dirtyPaths()), "before the first commit");

        Files.writeString(dir.resolve("kept.txt"), "k\n");
        Files.writeString(dir.resolve("old name.txt"), "a\nb\nc\nd\n");
        Files.writeString(dir.resolve("deleted.txt"), "d\n");
        Files.writeString(dir.resolve(".gitignore"), "*.log\n");
        git("add", "-A");
        git("commit", "-qm", "base");
        git("mv", "old name.txt", "new name.txt");
        Files.writeString(dir.resolve("kept.txt"), "changed\n");
        Files.delete(dir.resolve("deleted.txt"));
        Files.createDirectories(dir.resolve("sub/dir"));
        Files.writeString(dir.resolve("sub/dir/untracked"), "u\n");
        Files.writeString(dir.resolve("ignored.log"), "i\n");

        Repo.Status status = repo.status();
        assertEquals(repo.headCommit(), status.head());
        assertEquals(new TreeSet<>(repo.dirtyPaths()), new TreeSet<>(status.dirtyPaths()));
        assertEquals(new TreeSet<>(List.of("new name.txt", "old name.txt", "kept.txt", "deleted.txt",
                "sub/dir/untracked")), new TreeSet<>(status.dirtyPaths()));
    }
}
