package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SortedMap;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code sandbox apply A B C}: several sandboxes merged into the user's tree in order, each
 * against its own snapshot, over what the earlier ones wrote; {@code --no-conflicts} decides
 * on the whole chain before writing anything; bad names change nothing. Judged by the user's
 * files and {@code git status}.
 */
// Beside the other classes, as VmBootIT runs (see the surefire configuration in tests/pom.xml):
// its sandboxes, repositories and state are in a workspace of its own, and nothing it checks
// is shared with another class.
@Execution(ExecutionMode.CONCURRENT)
class MultiApplyIT {
    private static final String FIVE_LINES = "one\ntwo\nthree\nfour\nfive\n";

    @ParameterizedTest
    @EnumSource(Runner.class)
    void apply_severalSandboxes_inOrder_conflictsOfTheChainCollected_noConflictsWritesNothing(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = repository(ws, "g.txt", "g\n");
            Cli cli = new Cli(ws);
            // a and b touch different files; a and c the same line of f.txt, each clean alone
            cli.runOk(repo, "run", "--name", "a", "--", "sh", "-c",
                    "sed -i 's/^three$/three by a/' f.txt && echo a > a.txt");
            cli.runOk(repo, "run", "--name", "b", "--", "sh", "-c", "echo 'g by b' > g.txt && echo b > b.txt");
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c", "sed -i 's/^three$/three by c/' f.txt");
            SortedMap<String, String> before = userTree(repo);
            String status = HarvestIT.git(repo, "status", "--porcelain", "--untracked-files=all");

            for (List<String> args : List.of(List.of("apply", "a", "nosuch"), List.of("apply", "nosuch", "a"))) {
                Proc.Result r = cli.run(repo, args.toArray(String[]::new));
                String line = Cli.assertOneErrorLine(r, 2);
                assertTrue(line.contains("'nosuch'") && line.contains("no such sandbox"), r.describe());
                assertEquals("", r.stdout(), r.describe());
                Repos.assertSameTree(before, userTree(repo), "the working tree after " + args);
            }
            Proc.Result twice = cli.run(repo, "apply", "a", "b", "a");
            assertTrue(Cli.assertOneErrorLine(twice, 2).contains("'a'"), twice.describe());
            Repos.assertSameTree(before, userTree(repo), "the working tree after a name given twice");

            Proc.Result refused = cli.run(repo, "apply", "--no-conflicts", "a", "c");
            String line = Cli.assertOneErrorLine(refused, 1);
            assertTrue(line.contains("1 file(s) would conflict") && line.contains("nothing was changed"),
                    refused.describe());
            assertEquals(List.of("c  conflict  f.txt: changed by sandbox 'a' and in the sandbox"), conflictLines(refused),
                    "the one conflict, in c over a, with no word of markers that were not written" + refused.describe());
            assertTrue(refused.stdout().contains("a        2        0          not applied\n")
                    && refused.stdout().contains("c        0        1          would conflict\n"), refused.describe());
            Repos.assertSameTree(before, userTree(repo), "the working tree after --no-conflicts");
            assertEquals(status, HarvestIT.git(repo, "status", "--porcelain", "--untracked-files=all"));
            cli.runOk(repo, "apply", "--no-conflicts", "c"); // c alone is clean: the conflict is the chain's
            HarvestIT.git(repo, "checkout", "-q", "--", "f.txt");
            ws.own();

            Proc.Result clean = cli.runOk(repo, "apply", "--no-conflicts", "a", "b");
            assertEquals("""
                    a  updated  a.txt
                    a  updated  f.txt
                    b  updated  b.txt
                    b  updated  g.txt

                    SANDBOX  UPDATED  CONFLICTS  STATUS
                    a        2        0          applied
                    b        2        0          applied
                    """, clean.stdout(), clean.describe());
            assertEquals(FIVE_LINES.replace("three", "three by a"), Repos.read(repo.resolve("f.txt")));
            assertEquals("g by b\n", Repos.read(repo.resolve("g.txt")));
            assertEquals("a\n", Repos.read(repo.resolve("a.txt")));
            assertEquals("b\n", Repos.read(repo.resolve("b.txt")));
            assertEquals("", HarvestIT.git(repo, "diff", "--cached", "--name-only"), "the index is not touched");
            Proc.Result again = cli.run(repo, "apply", "b", "a");
            assertEquals(0, again.exitCode(), "applied already: nothing to do, no conflict" + again.describe());

            HarvestIT.git(repo, "checkout", "-q", "--", ".");
            HarvestIT.git(repo, "clean", "-q", "-f", "--", "a.txt", "b.txt");
            ws.own();
            Repos.assertSameTree(before, userTree(repo), "the working tree, reset");
            Proc.Result conflicted = cli.run(repo, "apply", "a", "b", "c");
            assertEquals(1, conflicted.exitCode(), conflicted.describe());
            assertEquals(List.of("c  conflict  f.txt: changed by sandbox 'a' and in the sandbox: conflict markers"
                    + " written"), conflictLines(conflicted), conflicted.describe());
            assertTrue(conflicted.stdout().endsWith("""
                    SANDBOX  UPDATED  CONFLICTS  STATUS
                    a        2        0          applied
                    b        2        0          applied
                    c        0        1          applied with conflicts
                    """), conflicted.describe());
            assertEquals(List.of("sandbox: applied 'a', 'b', 'c' with 1 conflict(s): resolve them, as after a git"
                    + " merge"), conflicted.stderrLines(), conflicted.describe());
            String f = Repos.read(repo.resolve("f.txt"));
            assertTrue(f.contains("<<<<<<< yours\nthree by a\n=======\nthree by c\n>>>>>>> sandbox c\n"), f);
            assertEquals("g by b\n", Repos.read(repo.resolve("g.txt")), "b is applied too");
            assertFalse(Files.exists(repo.resolve("f.txt.sandbox-c")), "a line merge leaves no copy beside");
            Cli.assertNoStackTrace(conflicted);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Runner.class, names = "ROOT") // the stack's own runs, both users, are StackIT's
    void apply_aSandboxThenOneStartedFromIt_inOneCommand_givesTheLatersMergedView(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = repository(ws);
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "a", "--", "sh", "-c",
                    "sed -i 's/^three$/three by a/' f.txt && echo a > a.txt");
            Proc.Result stacked = cli.run(repo, "run", "--from", "a", "--name", "s", "--", "sh", "-c",
                    "sed -i 's/^three by a$/three by a, then s/' f.txt && echo s >> a.txt && echo s > s.txt");
            assertEquals(0, stacked.exitCode(), stacked.describe());

            // s's changes are against a's view: over a's writes they are clean, as 'apply a' then 'apply s'
            Proc.Result r = cli.run(repo, "apply", "a", "s");

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(List.of(), conflictLines(r), r.describe());
            assertEquals(FIVE_LINES.replace("three", "three by a, then s"), Repos.read(repo.resolve("f.txt")));
            assertEquals("a\ns\n", Repos.read(repo.resolve("a.txt")));
            assertEquals("s\n", Repos.read(repo.resolve("s.txt")));
        }
    }

    /** The working tree's files, {@code .git} left out: what apply may change. */
    private static SortedMap<String, String> userTree(Path repo) {
        return Repos.entries(repo, List.of(repo.resolve(".git")), false);
    }

    private static List<String> conflictLines(Proc.Result r) {
        return r.stdout().lines().filter(l -> l.matches("\\S+ +conflict .*")).toList();
    }

    /** A repository owned by the workspace's user: f.txt of five lines, and each further name and content pair, committed. */
    private static Path repository(Workspace ws, String... more) {
        Path repo = ws.mkdir("repo");
        Repos.git(repo, "init", "-q", "-b", "main");
        Repos.write(repo, "f.txt", FIVE_LINES);
        for (int i = 0; i < more.length; i += 2) {
            Repos.write(repo, more[i], more[i + 1]);
        }
        Repos.git(repo, "add", "-A");
        Repos.git(repo, "commit", "-q", "-m", "base");
        ws.own();
        return repo;
    }
}
