package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** {@code sandbox run} on a repository in every state: the agent sees it all, the user's tree stays as it was. */
class RunIT {
    private static final String AGENT = "echo new > new.txt; rm README.md; echo more >> src/a.txt; cat .env;"
            + " git status --short; pwd; test -f node_modules/x/index.js && echo ignored-present";

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_dirtyRepo_agentSeesEverythingAndUserTreeIsUntouched(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.dirty(ws.mkdir("repo"));
            ws.own();
            SortedMap<String, String> treeBefore = Repos.treeState(repo);
            byte[] indexBefore = Repos.bytes(repo.resolve(".git/index"));

            Proc.Result r = new Cli(ws).run(repo, "run", "--name", "t", "--", "sh", "-c", AGENT);

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals("", r.stderr(), "nothing on stderr" + r.describe());
            List<String> out = r.stdoutLines();
            assertTrue(out.contains("SECRET_TOKEN=hunter2-from-dotenv"), "the ignored .env is there" + r.describe());
            assertTrue(out.contains(repo.toRealPath().toString()), "pwd is the repo's own path" + r.describe());
            assertTrue(out.contains(" D README.md"), "git sees README.md deleted" + r.describe());
            assertTrue(out.contains(" M src/a.txt"), "git sees src/a.txt modified" + r.describe());
            assertTrue(out.contains("?? new.txt"), "git sees new.txt untracked" + r.describe());
            assertTrue(out.contains("?? untracked.txt"), "the user's untracked file is there" + r.describe());
            assertTrue(out.contains("A  staged.txt"), "the user's staged change is there" + r.describe());
            assertTrue(out.contains("ignored-present"), "ignored node_modules/ is there" + r.describe());

            Repos.assertSameTree(treeBefore, Repos.treeState(repo), "the user's tree");
            assertArrayEquals(indexBefore, Repos.bytes(repo.resolve(".git/index")), "the user's .git/index changed");

            Path upper = Repos.upper(repo, "t");
            SortedMap<String, String> expected = new TreeMap<>();
            expected.put("src", "dir");
            expected.put("new.txt", "file:new\n");
            expected.put("README.md", "chardev:0:0");
            expected.put("src/a.txt", "file:alpha\nedited, not staged\nmore\n");
            SortedMap<String, String> actual =
                    Repos.withoutModes(Repos.entries(upper, List.of(upper.resolve(".git")), true));
            assertEquals(expected, actual, "the upper layer holds exactly the agent's changes (.git/ aside)");

            if (runner == Runner.USER) {
                assertEveryFileOwnedBy(runner, upper);
            }
        }
    }

    private static void assertEveryFileOwnedBy(Runner runner, Path upper) throws IOException {
        Files.walkFileTree(upper, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                check(dir);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                check(file);
                return FileVisitResult.CONTINUE;
            }

            private void check(Path p) throws IOException {
                runner.assertOwns(p, (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS));
            }
        });
    }
}
