package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code sandbox rebase}: a stopped sandbox moved onto the user's tree as it is now, its
 * work merged three ways against its old snapshot, the user's tree only read; refused for a
 * running sandbox and for one whose agent's commits were never handed over; and a rebase
 * killed by SIGKILL half way leaves the old state or the new one.
 */
// Beside the other classes, as VmBootIT runs (see the surefire configuration in tests/pom.xml):
// its sandboxes, repositories and state are in a workspace of its own, and nothing it checks
// is shared with another class.
@Execution(ExecutionMode.CONCURRENT)
class RebaseIT {
    private static final String X = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
    private static final String Y = "a\nb\nc\nd\ne\n";

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rebase_bringsTheUsersCommit_mergesOverlapsWithMarkers_andLeavesTheTreeAlone(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = repo(ws);
            Cli cli = new Cli(ws);
            // a: edits y, stages it, and rewrites README.md with the same bytes (a copy-up)
            cli.runOk(repo, "run", "--name", "a", "--", "sh", "-c",
                    "printf 'a\\nb\\nC\\nd\\ne\\n' > y.txt; git add y.txt; cat README.md > r.tmp;"
                            + " cat r.tmp > README.md; rm r.tmp");
            // b: the line of x the user changes too; deletes README.md, which the user edits (a
            // whiteout), and makes src/ anew (an opaque directory)
            cli.runOk(repo, "run", "--name", "b", "--", "sh", "-c", "sed -i 's/^2$/TWO/' x.txt; rm README.md;"
                    + " rm -r src; mkdir src; echo new > src/b.txt");
            // c: a commit of its own, never handed over
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c", "echo c >> y.txt; git -c user.name=c"
                    + " -c user.email=c@example.com commit -qam c");

            Repos.write(repo, "x.txt", X.replace("\n2\n", "\ntwo\n"));
            Repos.write(repo, "README.md", "# demo\nmore\n");
            HarvestIT.git(repo, "commit", "-qam", "the user's change after the sandboxes started");
            ws.own();
            String before = userState(repo);

            Proc.Result a = cli.run(repo, "rebase", "a");
            assertEquals(0, a.exitCode(), a.describe());
            assertTrue(a.stderr().contains("rebased 'a' onto snapshot "), a.describe());
            assertTrue(a.stderr().contains("changes to .git"), "the dropped index is said" + a.describe());
            assertEquals(List.of("y.txt"), cli.runOk(repo, "diff", "--name-only", "a").stdoutLines(),
                    "diff shows only the sandbox's own change");
            Proc.Result view = cli.run(repo, "start", "a", "--", "sh", "-c",
                    "cat x.txt y.txt README.md; git status --porcelain");
            assertEquals(0, view.exitCode(), view.describe());
            assertEquals(X.replace("\n2\n", "\ntwo\n") + "a\nb\nC\nd\ne\n# demo\nmore\n M y.txt\n", view.stdout(),
                    "the merged view has the user's commit and the sandbox's edit, unstaged" + view.describe());

            Proc.Result b = cli.run(repo, "rebase", "b");
            assertEquals(1, b.exitCode(), "a conflict is exit 1" + b.describe());
            assertEquals(List.of("conflict README.md: deleted in the sandbox, changed in your tree: the deletion is"
                    + " kept", "conflict x.txt: changed in the sandbox and in your tree: conflict markers written"),
                    b.stdoutLines(), b.describe());
            assertEquals(List.of("README.md", "src/a.txt", "src/b.txt", "x.txt"),
                    cli.runOk(repo, "diff", "--name-only", "b").stdoutLines(), "the whiteout and the opaque src/ kept");
            Proc.Result bView = cli.run(repo, "start", "b", "--", "sh", "-c", "ls src; test -e README.md || echo gone");
            assertEquals("b.txt\ngone\n", bView.stdout(), bView.describe());
            String diff = cli.runOk(repo, "diff", "b").stdout();
            assertTrue(diff.contains("+<<<<<<< yours") && diff.contains("+TWO") && diff.contains("+>>>>>>> sandbox b"),
                    "diff shows the markers in b's x.txt:\n" + diff);

            String line = Cli.assertOneErrorLine(cli.run(repo, "rebase", "c"), 2);
            assertTrue(line.contains("commit them first with 'sandbox commit c'"), line);
            Path record = Repos.sandboxDir(repo, "c").resolve("sandbox.json");
            String json = Repos.read(record);
            // as run --from records it (StackIT runs the real one)
            Repos.write(record.getParent(), "sandbox.json", json.replaceFirst("\\{", "{ \"from\" : { \"name\" : \"a\" },"));
            line = Cli.assertOneErrorLine(cli.run(repo, "rebase", "c"), 2);
            assertEquals("sandbox: can't rebase 'c': it was started from sandbox 'a', whose work it holds as its"
                    + " snapshot", line);
            Repos.write(record.getParent(), "sandbox.json", json);
            line = Cli.assertOneErrorLine(cli.run(repo, "rebase", "nosuch"), 2);
            assertEquals("sandbox: can't find sandbox 'nosuch': no such sandbox (see 'sandbox list')", line);

            // the harvests since wrote objects into .git, so this takes (or reuses) one more snapshot
            Proc.Result again = cli.run(repo, "rebase", "a");
            assertEquals(0, again.exitCode(), again.describe());
            assertEquals("", again.stdout(), again.describe());
            cli.runOk(repo, "gc");
            assertEquals(List.of("y.txt"), cli.runOk(repo, "diff", "--name-only", "a").stdoutLines(),
                    "a second rebase changes nothing of the work, and gc kept the new snapshot");
            assertEquals(before, userState(repo), "the user's tree, index and HEAD are untouched");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rebase_ofARunningSandbox_isRefused(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = repo(ws);
            Cli cli = new Cli(ws);
            try {
                Proc.Result r = cli.run(repo, "run", "-d", "--name", "r", "--", "sleep", "100");
                assertEquals(0, r.exitCode(), r.describe());
                String line = Cli.assertOneErrorLine(cli.run(repo, "rebase", "r"), 1);
                assertEquals("sandbox: can't rebase 'r': it is running (stop it first: sandbox stop r)", line);
            } finally {
                cli.run(repo, Map.of(), "stop", "-t", "0", "r");
            }
        }
    }

    /**
     * SIGKILL to the rebase as soon as its new layer appears: the next command finishes or
     * undoes it, so the sandbox holds all its work on one snapshot, and a second rebase works.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void rebase_killedHalfWay_leavesTheOldStateOrTheNew(Runner runner) throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = repo(ws);
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "k", "--", "sh", "-c",
                    "mkdir many; for i in $(seq 1000); do echo $i > many/$i; done; printf 'a\\nB\\nc\\nd\\ne\\n' > y.txt");
            Repos.write(repo, "x.txt", X.replace("\n9\n", "\nnine\n"));
            HarvestIT.git(repo, "commit", "-qam", "after k started");
            ws.own();
            Path dir = Repos.sandboxDir(repo, "k");
            String oldSnapshot = snapshotOf(dir);

            Proc.Running rebase = cli.start(repo, "rebase", "k");
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (!Files.exists(dir.resolve("upper.rebase")) && rebase.process().isAlive()
                    && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            boolean killed = rebase.process().isAlive();
            rebase.process().toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            rebase.process().destroyForcibly();
            rebase.process().waitFor();
            System.out.println("RebaseIT: the rebase was " + (killed ? "killed half way" : "done before the kill"));

            List<String> changed = cli.runOk(repo, "diff", "--name-only", "k").stdoutLines();
            assertEquals(1001, changed.size(), "every file of the sandbox's work is still there");
            assertTrue(changed.contains("y.txt") && !changed.contains("x.txt"), changed.toString());
            assertFalse(Files.exists(dir.resolve("upper.rebase")) || Files.exists(dir.resolve("upper.old"))
                    || Files.exists(dir.resolve("rebase.json")), "finished or undone by the next command");
            Proc.Result again = cli.run(repo, "rebase", "k");
            assertEquals(0, again.exitCode(), again.describe());
            assertNotEquals(oldSnapshot, snapshotOf(dir), "on the new snapshot");
            Proc.Result view = cli.run(repo, "start", "k", "--", "sh", "-c", "cat x.txt y.txt; ls many | wc -l");
            assertEquals(X.replace("\n9\n", "\nnine\n") + "a\nB\nc\nd\ne\n1000\n", view.stdout(), view.describe());
        }
    }

    /** A repository with README.md, x.txt (ten lines) and y.txt (five) committed, owned by the runner. */
    private static Path repo(Workspace ws) {
        Path repo = Repos.committed(ws.mkdir("repo"));
        Repos.write(repo, "x.txt", X);
        Repos.write(repo, "y.txt", Y);
        Repos.git(repo, "add", "x.txt", "y.txt");
        Repos.git(repo, "commit", "-q", "-m", "x and y");
        ws.own();
        return repo;
    }

    private static String snapshotOf(Path dir) {
        String record = Repos.read(dir.resolve("sandbox.json"));
        int at = record.indexOf("\"snapshot\" : \"") + "\"snapshot\" : \"".length();
        return record.substring(at, record.indexOf('"', at));
    }

    /** The working tree's files, HEAD and the index's entries: what rebase must not change. */
    private static String userState(Path repo) {
        SortedMap<String, String> files = HarvestIT.workingTree(repo);
        return files + "\nHEAD " + HarvestIT.git(repo, "rev-parse", "HEAD") + "\n"
                + HarvestIT.git(repo, "ls-files", "-s") + "\n" + HarvestIT.git(repo, "status", "--porcelain");
    }
}
