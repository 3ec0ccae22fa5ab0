package dev.sandbox.git;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
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
        Repo.Status first = repo.status();
        assertEquals(new Repo.Status(null, List.of("new file.txt")), new Repo.Status(first.head(), first.dirtyPaths()),
                "before the first commit");

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

    @Test
    void ignoredStagedAndConfigKey_sayWhatGitSays() throws IOException {
        git("init", "-q");
        Path excludes = dir.resolve("../excludes-" + dir.getFileName());
        Files.writeString(excludes, "*.tmp\n");
        git("config", "core.excludesFile", excludes.toString());
        Files.writeString(dir.resolve(".gitignore"), "build/\n*.log\n");
        Files.writeString(dir.resolve("tracked.log"), "t\n");
        Files.writeString(dir.resolve("a.txt"), "a\n");
        git("add", "-f", ".gitignore", "tracked.log", "a.txt");
        git("commit", "-qm", "base");
        Repo repo = Repo.discover(dir);

        assertEquals(Set.of("build/out.bin", "new.log", "x.tmp"), repo.ignored(List.of("build/out.bin", "new.log",
                "x.tmp", "tracked.log", "a.txt", "sub/new.txt")), "a tracked path is never ignored; a leading directory is");
        assertEquals(Set.of(), repo.ignored(List.of()));

        String head = repo.headCommit();
        assertEquals(List.of(), repo.stagedSince(head));
        Files.writeString(dir.resolve("a.txt"), "edited, not staged\n");
        Files.writeString(dir.resolve("b.log"), "b\n");
        git("add", "-f", "b.log");
        git("rm", "-q", "--cached", "tracked.log");
        assertEquals(List.of("b.log", "tracked.log"), repo.stagedSince(head), "the index against HEAD alone");

        String key = repo.configKey();
        assertEquals(key, repo.configKey(), "nothing changed");
        Files.writeString(excludes, "*.tmp\n*.bak\n");
        String edited = repo.configKey();
        assertNotEquals(key, edited, "the excludes file outside the tree changed");
        git("config", "core.attributesFile", excludes.toString());
        assertNotEquals(edited, repo.configKey(), "a setting changed");
        Files.delete(excludes);
    }
}
