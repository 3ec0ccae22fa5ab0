package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code run --from}: a sandbox on another's work. B reads what A wrote, {@code diff B} shows
 * B's work alone, {@code --against base} both, {@code commit B} A's commit then B's (A's as
 * {@code commit A} makes it), {@code apply A} then {@code apply B} give B's view, and B keeps
 * working once A is removed. One repository, three short agents per identity.
 */
// Beside the other classes, as VmBootIT runs (see the surefire configuration in tests/pom.xml):
// its sandboxes, repositories and state are in a workspace of its own, and nothing it checks
// is shared with another class.
@Execution(ExecutionMode.CONCURRENT)
class StackIT {
    @ParameterizedTest
    @EnumSource(Runner.class)
    void runFrom_stacksOnTheOthersWork_diffCommitApplyAndRmAsDocumented(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            String base = git(repo, "rev-parse", "HEAD");
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "a", "--", "sh", "-c", "echo from-a > a.txt; rm README.md");

            String line = Cli.assertOneErrorLine(cli.run(repo, "run", "--from", "nosuch", "--name", "x", "--", "true"), 2);
            assertTrue(line.contains("'nosuch'") && line.contains("no such sandbox"), line);
            assertFalse(Files.exists(Repos.sandboxDir(repo, "x")), "nothing left of the refused run");

            Proc.Result b = cli.run(repo, "run", "--from", "a", "--name", "b", "--", "sh", "-c",
                    "cat a.txt; test ! -e README.md && echo gone; echo from-b > b.txt");
            assertEquals(0, b.exitCode(), b.describe());
            assertEquals(List.of("from-a", "gone"), b.stdoutLines(), "B sees A's file and A's deletion" + b.describe());
            String record = Repos.read(Repos.sandboxDir(repo, "b").resolve("sandbox.json"));
            assertTrue(record.contains("\"from\"") && record.contains("\"name\" : \"a\""), "B's record names A: " + record);

            assertEquals(List.of("b.txt"), diff(cli, repo, "diff", "--name-only", "b"), "diff B: B's work alone");
            assertEquals(List.of("README.md", "a.txt", "b.txt"), diff(cli, repo, "diff", "--name-only", "b", "--against",
                    "base"), "--against base: A's and B's");
            assertEquals(List.of("b.txt"), diff(cli, repo, "diff", "--name-only", "a", "b"), "diff A B");
            assertEquals(List.of("README.md", "a.txt"), diff(cli, repo, "diff", "--name-only", "a"), "A's own diff");
            Cli.assertOneErrorLine(cli.run(repo, "diff", "b", "--against", "head"), 2);

            cli.runOk(repo, "commit", "b");
            List<String> chain = List.of(git(repo, "rev-list", "--parents", base + "..sandbox/b").split("\n"));
            assertEquals(2, chain.size(), "A's commit, then B's: " + chain);
            String bTip = chain.get(0).split(" ")[0];
            String aCommit = chain.get(1).split(" ")[0];
            assertEquals(aCommit, chain.get(0).split(" ")[1], "B's commit's parent is A's");
            assertEquals(base, chain.get(1).split(" ")[1], "A's commit's parent is the base");
            assertTrue(git(repo, "log", "-1", "--format=%s", aCommit).startsWith("sandbox a: "));
            assertTrue(git(repo, "log", "-1", "--format=%s", bTip).startsWith("sandbox b: "));
            assertEquals("a.txt\nb.txt\nsrc/a.txt", git(repo, "ls-tree", "-r", "--name-only", "sandbox/b"));
            cli.runOk(repo, "commit", "a");
            assertEquals(aCommit, git(repo, "rev-parse", "sandbox/a"), "A's commit in B's branch is commit A's");

            cli.runOk(repo, "apply", "a");
            cli.runOk(repo, "apply", "b");
            git(repo, "add", "-A");
            assertEquals(git(repo, "rev-parse", "sandbox/b^{tree}"), git(repo, "write-tree"),
                    "apply A then apply B gives B's merged view");

            try {
                Proc.Result started = cli.run(repo, "run", "-d", "--name", "r", "--", "sh", "-c", "sleep 60");
                assertEquals(0, started.exitCode(), started.describe());
                Proc.Result refused = cli.run(repo, "run", "--from", "r", "--name", "s", "--", "true");
                line = Cli.assertOneErrorLine(refused, 1);
                assertTrue(line.contains("stop it first") && line.contains("sandbox stop r"), line);
                assertFalse(Files.exists(Repos.sandboxDir(repo, "s")), "nothing left of the refused run");
            } finally {
                cli.run(repo, Map.of(), "stop", "-t", "0", "r");
            }

            cli.runOk(repo, "rm", "a"); // not refused for B's sake: B holds a copy of A's layer
            assertEquals(List.of("b.txt"), diff(cli, repo, "diff", "--name-only", "b"), "diff B after rm A");
            assertEquals(List.of("README.md", "a.txt", "b.txt"), diff(cli, repo, "diff", "--name-only", "b", "--against",
                    "base"), "--against base after rm A");
            cli.runOk(repo, "commit", "b", "-b", "again");
            assertEquals(bTip, git(repo, "rev-parse", "again"), "B's commits after rm A are the same commits");

            Proc.Result c = cli.run(repo, "run", "--from", "b", "--name", "c", "--", "sh", "-c",
                    "cat a.txt b.txt; echo from-c > c.txt");
            assertEquals(List.of("from-a", "from-b"), c.stdoutLines(), "a stack of stacks" + c.describe());
            assertEquals(List.of("README.md", "a.txt", "b.txt", "c.txt"), diff(cli, repo, "diff", "--name-only", "c",
                    "--against", "base"), "--against base: down to A's snapshot");
            cli.runOk(repo, "commit", "c");
            assertEquals(bTip, git(repo, "rev-parse", "sandbox/c~1"), "C's branch: A's commit, B's, then C's");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void runFrom_anAgentThatReplacedGit_startsAgainAndStacks_aNameOfItsOwnRefused(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            // .git a file, then a looping link: the state directory below it can't be reached to be hidden
            cli.runOk(repo, "run", "--name", "g", "--", "sh", "-c",
                    "rm -rf .git; echo 'gitdir: /nonexistent' > .git; echo work > w.txt");
            Proc.Result again = cli.run(repo, "start", "g", "--", "cat", ".git", "w.txt");
            assertEquals(0, again.exitCode(), again.describe());
            assertEquals(List.of("gitdir: /nonexistent", "work"), again.stdoutLines(), again.describe());
            Proc.Result stacked = cli.run(repo, "run", "--from", "g", "--name", "h", "--", "cat", "w.txt");
            assertEquals(0, stacked.exitCode(), stacked.describe());
            assertEquals(List.of("work"), stacked.stdoutLines());
            cli.runOk(repo, "run", "--name", "loop", "--", "sh", "-c", "rm -rf .git; ln -s .git .git");
            cli.runOk(repo, "start", "loop", "--", "true");

            String line = Cli.assertOneErrorLine(cli.run(repo, "run", "--from", "zz", "--name", "zz", "--", "true"), 2);
            assertTrue(line.contains("'zz'") && line.contains("no such sandbox"), line);
            assertFalse(Files.exists(Repos.sandboxDir(repo, "zz")), "nothing left of the refused run");
        }
    }

    private static List<String> diff(Cli cli, Path repo, String... args) {
        Proc.Result r = cli.run(repo, args);
        assertEquals(0, r.exitCode(), r.describe());
        Cli.assertNoStackTrace(r);
        return new ArrayList<>(r.stdoutLines());
    }

    private static String git(Path repo, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-c", "safe.directory=*", "-C", repo.toString()));
        cmd.addAll(List.of(args));
        return Proc.hostOk(repo, cmd.toArray(String[]::new)).stdout().strip();
    }
}
