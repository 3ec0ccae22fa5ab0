package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Best-of-N candidates: {@code compare} counts each one's work as git counts it and runs a
 * test in each; {@code merge} puts several on one new branch, or refuses a conflict and
 * creates nothing. The judges are git itself: {@code git diff --numstat} of the same edits
 * made in a clone, {@code git ls-tree} and {@code git rev-list --parents} of the branch.
 */
// Beside the other classes, as VmBootIT runs (see the surefire configuration in tests/pom.xml):
// its sandboxes, repositories and state are in a workspace of its own, and nothing it checks
// is shared with another class.
@Execution(ExecutionMode.CONCURRENT)
class CompareIT {
    /**
     * What each candidate does, by its name (the sandbox's {@code $SANDBOX_NAME}, or {@code $1}
     * in a clone): exp-1 and exp-3 rewrite the same line of src/a.txt, exp-2 touches other
     * files, a binary one among them; exp-1 and exp-3 leave the file {@code ok}.
     */
    private static final String EDITS = "n=${1:-$SANDBOX_NAME}; case $n in"
            + " exp-1) printf 'alpha one\\n' > src/a.txt; printf 'new\\nfile\\n' > new1.txt; touch ok;;"
            + " exp-2) rm README.md; printf '\\000\\001\\002' > bin.dat; printf 'x\\ny\\nz\\n' > docs.txt;;"
            + " exp-3) printf 'alpha three\\nmore\\n' > src/a.txt; touch ok;;"
            + " esac";

    @ParameterizedTest
    @EnumSource(Runner.class)
    void compareAndMerge_countLikeGit_testEach_mergeCleanOrRefuse(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            List<long[]> expected = new ArrayList<>();
            for (String name : List.of("exp-1", "exp-2", "exp-3")) {
                expected.add(numstatOfClone(repo, ws.mkdir("expect-" + name), name));
            }
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result run = cli.run(repo, "run", "--count", "3", "--name", "exp", "--", "sh", "-c", EDITS);
            assertEquals(0, run.exitCode(), run.describe());

            Proc.Result table = cli.runOk(repo, "compare", "exp-1", "exp-2", "exp-3");
            List<String> lines = table.stdoutLines();
            assertEquals(4, lines.size(), "a header and three rows" + table.describe());
            String header = lines.get(0);
            assertTrue(header.matches("NAME +FILES +INSERTIONS +DELETIONS"), table.describe());
            for (int i = 0; i < 3; i++) {
                String row = lines.get(i + 1);
                long[] e = expected.get(i);
                assertEquals("exp-" + (i + 1), column(header, row, "NAME"), table.describe());
                String files = e[0] + (e[3] == 0 ? "" : " (" + e[3] + " binary)");
                assertEquals(files, column(header, row, "FILES"), "files of exp-" + (i + 1) + table.describe());
                assertEquals(Long.toString(e[1]), column(header, row, "INSERTIONS"), table.describe());
                assertEquals(Long.toString(e[2]), column(header, row, "DELETIONS"), table.describe());
            }
            assertEquals(1, expected.get(1)[3], "exp-2's binary file is counted as a file");

            List<String> command = texts(cli.listed(repo, "exp-2").path("command"));
            Proc.Result tested = cli.run(repo, "compare", "--test", "test -f ok", "exp-1", "exp-2", "exp-3");
            assertEquals(0, tested.exitCode(), tested.describe());
            Cli.assertNoStackTrace(tested);
            List<String> rows = tested.stdoutLines();
            String h = rows.get(rows.size() - 4);
            assertTrue(h.matches("NAME +FILES +INSERTIONS +DELETIONS +TEST"), tested.describe());
            assertEquals("pass", column(h, rows.get(rows.size() - 3), "TEST"), tested.describe());
            assertEquals("fail(1)", column(h, rows.get(rows.size() - 2), "TEST"), tested.describe());
            assertEquals("pass", column(h, rows.get(rows.size() - 1), "TEST"), tested.describe());
            JsonNode after = cli.listed(repo, "exp-2");
            assertEquals(command, texts(after.path("command")), "the agent's command stays the sandbox's" + after);
            assertEquals(0, after.path("exitCode").asInt(-1), "and its exit status, not the test's" + after);

            try { // a running sandbox: the test runs beside its agent, which goes on
                String agent = "touch ok; exec sleep 100";
                Proc.Result live = cli.run(repo, "run", "-d", "--name", "live", "--", "sh", "-c", agent);
                assertEquals(0, live.exitCode(), live.describe());
                Proc.Result beside = cli.run(repo, "compare", "--test",
                        "i=0; until test -f ok; do i=$((i+1)); [ $i -lt 50 ] || exit 1; sleep 0.1; done", "live");
                assertEquals(0, beside.exitCode(), beside.describe());
                List<String> l = beside.stdoutLines();
                assertEquals("pass", column(l.get(l.size() - 2), l.get(l.size() - 1), "TEST"), beside.describe());
                JsonNode running = cli.listed(repo, "live");
                assertEquals("running", running.path("status").asText(), "exec, not start" + running);
                assertEquals(List.of("sh", "-c", agent), texts(running.path("command")), running.toString());
            } finally {
                cli.run(repo, "stop", "-t", "1", "live");
            }

            Proc.Result nosuch = cli.run(repo, "compare", "exp-1", "nosuch");
            assertTrue(Cli.assertOneErrorLine(nosuch, 2).contains("'nosuch'"), nosuch.describe());
            Proc.Result empty = cli.run(repo, "compare", "--test", " ", "exp-1");
            assertTrue(Cli.assertOneErrorLine(empty, 2).contains("--test needs a command"), empty.describe());

            // merge: the user's tree, index and HEAD are never touched, clean or refused
            SortedMap<String, String> tree = HarvestIT.workingTree(repo);
            String head = HarvestIT.git(repo, "rev-parse", "HEAD");
            String status = HarvestIT.git(repo, "status", "--porcelain");

            Proc.Result merged = cli.runOk(repo, "merge", "exp-1", "exp-2", "-b", "both");
            assertTrue(merged.stdout().startsWith("created both at "), merged.describe());
            Set<String> files = Set.copyOf(List.of(HarvestIT.git(repo, "ls-tree", "-r", "--name-only", "both")
                    .split("\n")));
            assertEquals(Set.of("src/a.txt", "new1.txt", "ok", "bin.dat", "docs.txt"), files, "both sandboxes' work");
            assertEquals("alpha one", HarvestIT.git(repo, "show", "both:src/a.txt"));
            String[] parents = HarvestIT.git(repo, "rev-list", "--parents", "-n", "1", "both").split(" ");
            assertEquals(3, parents.length, "a merge commit of two parents: " + String.join(" ", parents));
            assertEquals("Merge sandbox 'exp-2'", HarvestIT.git(repo, "log", "-1", "--format=%s", "both"));
            assertEquals(head, HarvestIT.git(repo, "merge-base", parents[1], parents[2]), "both from the base");

            Proc.Result again = cli.run(repo, "merge", "exp-1", "exp-2", "-b", "both");
            assertTrue(Cli.assertOneErrorLine(again, 2).contains("--force"), again.describe());
            Proc.Result twice = cli.run(repo, "merge", "exp-1", "exp-1", "-b", "twice");
            Cli.assertOneErrorLine(twice, 2);
            Proc.Result alone = cli.run(repo, "merge", "exp-1", "-b", "alone");
            assertTrue(Cli.assertOneErrorLine(alone, 2).contains("sandbox commit"), alone.describe());

            Proc.Result clash = cli.run(repo, "merge", "exp-1", "exp-3", "-b", "clash");
            String line = Cli.assertOneErrorLine(clash, 1);
            assertTrue(line.contains("src/a.txt") && line.contains("conflict"), clash.describe());
            assertFalse(line.contains("new1.txt") || line.contains("README.md"),
                    "only the file that conflicts: " + line);
            Proc.Result absent = Proc.host(repo, "git", "-c", "safe.directory=*", "rev-parse", "-q", "--verify",
                    "refs/heads/clash");
            assertNotEquals(0, absent.exitCode(), "no branch was created" + absent.describe());

            Repos.assertSameTree(tree, HarvestIT.workingTree(repo), "the user's working tree");
            assertEquals(head, HarvestIT.git(repo, "rev-parse", "HEAD"), "HEAD");
            assertEquals(status, HarvestIT.git(repo, "status", "--porcelain"), "the index and the tree's status");
            assertEquals("refs/heads/main", HarvestIT.git(repo, "symbolic-ref", "HEAD"));

            // the user commits, a new sandbox starts on that commit: merge-tree finds the base itself
            Map<String, String> env = cli.env(Map.of());
            Proc.Result later = Proc.run(ws.runner().argv(List.of("sh", "-c", "echo later > later.txt && git add"
                    + " later.txt && git -c user.name=T -c user.email=t@example.invalid commit -q -m later"), env),
                    repo, env);
            assertEquals(0, later.exitCode(), later.describe());
            cli.runOk(repo, "run", "--name", "newer", "--", "sh", "-c", "echo n > newer.txt");
            cli.runOk(repo, "merge", "exp-2", "newer", "-b", "across");
            assertEquals(Set.of("src/a.txt", "later.txt", "newer.txt", "bin.dat", "docs.txt"),
                    Set.copyOf(List.of(HarvestIT.git(repo, "ls-tree", "-r", "--name-only", "across").split("\n"))),
                    "exp-2's work (README.md deleted) with the later commit's and newer's");
            assertEquals(head, HarvestIT.git(repo, "merge-base", "across^1", "across^2"), "the older base");
        }
    }

    /**
     * The edits of candidate {@code name} made in a clone of {@code repo} and counted by
     * {@code git diff --numstat -M}: files, insertions, deletions, binary files.
     */
    private static long[] numstatOfClone(Path repo, Path dir, String name) {
        Proc.hostOk(dir, "git", "clone", "-q", repo.toString(), ".");
        Proc.hostOk(dir, "sh", "-c", EDITS, "sh", name);
        Proc.hostOk(dir, "git", "add", "-A");
        long[] n = new long[4];
        for (String l : Proc.hostOk(dir, "git", "diff", "--cached", "--numstat", "-M").stdoutLines()) {
            String[] f = l.split("\t");
            n[0]++;
            if (f[0].equals("-")) {
                n[3]++;
            } else {
                n[1] += Long.parseLong(f[0]);
                n[2] += Long.parseLong(f[1]);
            }
        }
        return n;
    }

    /** The cell of {@code row} under {@code title}: columns are left-aligned at their header's offset. */
    private static String column(String header, String row, String title) {
        int from = header.indexOf(title);
        int next = header.length();
        for (String t : new String[] {"NAME", "FILES", "INSERTIONS", "DELETIONS", "TEST"}) {
            int at = header.indexOf(t);
            if (at > from && at < next) {
                next = at;
            }
        }
        return row.substring(Math.min(from, row.length()), next >= header.length() ? row.length()
                : Math.min(next, row.length())).strip();
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
