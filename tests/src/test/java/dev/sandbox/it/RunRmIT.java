package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code sandbox run --rm}: a sandbox goes when its agent ends, with its snapshot when nothing
 * else uses it, unless it holds work, and then one line says why; the exit status is the
 * agent's either way.
 */
class RunRmIT {
    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_noChanges_removesTheSandboxAndItsOnlySnapshot_andTheNameIsFreeAgain(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            cli.runOk(repo, "run", "--rm", "--name", "idle", "--", "sh", "-c", "cat README.md >/dev/null");

            assertEquals(0, cli.list(repo).size(), "sandbox list is empty: " + cli.list(repo));
            assertFalse(Files.exists(Repos.sandboxDir(repo, "idle")), "its directory is gone");
            assertEquals(Set.of(), Repos.snapshotIds(repo), "its snapshot, used by nothing else, is gone");
            assertEquals(List.of(), leftovers(repo), "nothing is left for gc");

            cli.runOk(repo, "run", "--rm", "--name", "idle", "--", "true");
            assertEquals(0, cli.list(repo).size(), "the name was free for the next run, which went too");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_snapshotAnotherSandboxUses_staysForIt(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "kept", "--", "true");
            String snapshot = cli.listed(repo, "kept").path("snapshot").asText();

            cli.runOk(repo, "run", "--rm", "--name", "gone", "--", "true");

            assertNull(cli.listed(repo, "gone"), "the --rm sandbox is gone");
            assertNotNull(cli.listed(repo, "kept"), "the other one is untouched");
            assertEquals(Set.of(snapshot), Repos.snapshotIds(repo), "the shared snapshot stays for 'kept'");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_changedFile_keptWithOneLineSayingWhy_andDiffShowsTheChange(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result r = cli.run(repo, "run", "--rm", "--name", "busy", "--", "sh", "-c",
                    "echo 'added by the agent' >> README.md");

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(List.of("sandbox: kept 'busy': it holds changes (1 file changed) — see 'sandbox diff busy'"),
                    r.stderrLines(), r.describe());
            assertNotNull(cli.listed(repo, "busy"), "busy is still listed");
            assertEquals(1, Repos.snapshotIds(repo).size(), "and its snapshot is still there");
            Proc.Result diff = cli.runOk(repo, "diff", "busy");
            assertTrue(diff.stdout().contains("+added by the agent"), "diff shows the change" + diff.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_onlyACommit_keptAndTheCommitCanStillBeHarvested(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result r = cli.run(repo, "run", "--rm", "--name", "committer", "--", "git", "commit", "-q",
                    "--allow-empty", "-m", "made by the agent");

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(
                    List.of("sandbox: kept 'committer': it holds changes (1 commit) — 'sandbox commit committer' puts it"
                    + " on a branch"), r.stderrLines(), r.describe());
            assertNotNull(cli.listed(repo, "committer"));
            cli.runOk(repo, "commit", "committer");
            assertEquals("made by the agent",
                    Repos.git(repo, "-c", "safe.directory=*", "log", "-1", "--format=%s", "sandbox/committer"),
                    "the agent's commit is on the branch");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_gitStatusThatOnlyRefreshedTheIndex_orGitGc_removed(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            // Touching the files makes git status re-read them and write the index with new stat data.
            // A fixed old time, not now: git compares whole seconds, and the repository, its
            // snapshot and the touch can all fall within one.
            String agent = "touch -d @946684800 README.md src/a.txt && git status --short";

            cli.runOk(repo, "run", "--name", "probe", "--", "sh", "-c", agent);
            Path written = Repos.upper(repo, "probe").resolve(".git/index");
            assertTrue(Files.isRegularFile(written), "this agent does rewrite the index: " + written);
            Path snapshotIndex = Repos.stateDir(repo).resolve("snapshots")
                    .resolve(cli.listed(repo, "probe").path("snapshot").asText()).resolve("tree/.git/index");
            assertFalse(Arrays.equals(Repos.bytes(snapshotIndex), Repos.bytes(written)),
                    "the rewritten index differs from the snapshot's in its bytes");
            cli.runOk(repo, "rm", "probe");

            Proc.Result r = cli.runOk(repo, "run", "--rm", "--name", "status", "--", "sh", "-c", agent);

            assertEquals("", r.stdout(), "git status saw no change" + r.describe());
            assertEquals(0, cli.list(repo).size(), "a refreshed index is not work: " + cli.list(repo));

            cli.runOk(repo, "run", "--rm", "--name", "gc", "--", "git", "gc", "-q");
            assertEquals(0, cli.list(repo).size(), "nor are repacked objects and packed refs: " + cli.list(repo));
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_ignoredFileStashStagedOrResetAwayCommit_eachKept(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path dirty = Repos.dirty(ws.mkdir("dirty"));
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            assertKept(cli.run(dirty, "run", "--rm", "--name", "built", "--", "sh", "-c", "echo out > build/new.bin"),
                    "built", "(1 ignored file written) — see 'sandbox diff --include-ignored built'");
            Proc.Result ignored = cli.runOk(dirty, "diff", "--include-ignored", "--name-only", "built");
            assertEquals(List.of("build/new.bin"), ignored.stdoutLines(), ignored.describe());

            assertKept(cli.run(repo, "run", "--rm", "--name", "stashed", "--", "sh", "-c",
                    "echo wip >> README.md && git stash -q"), "stashed", "(git: stash)");
            assertKept(cli.run(repo, "run", "--rm", "--name", "staged", "--", "sh", "-c",
                    "cp README.md /tmp/r && echo staged >> README.md && git add README.md && cp /tmp/r README.md"),
                    "staged", "(git: staged changes)");
            assertKept(cli.run(repo, "run", "--rm", "--name", "reset", "--", "sh", "-c",
                    "git commit -q --allow-empty -m gone && git reset -q --hard HEAD~1"), "reset", "(git: ORIG_HEAD");
            assertKept(cli.run(repo, "run", "--rm", "--name", "branched", "--", "git", "branch", "feature"),
                    "branched", "(git: branch 'feature')");
            assertEquals(List.of("stashed", "staged", "reset", "branched"), names(cli, repo));
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_fileNameNotUtf8_keptWithWhy_andPlainRmRefuses(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result r = cli.run(repo, "run", "--rm", "--name", "latin1", "--", "sh", "-c",
                    "echo work > \"$(printf 'r\\351sum\\351.txt')\"");

            assertEquals(0, r.exitCode(), r.describe());
            assertKept(r, "latin1", "(1 file whose name is not valid UTF-8) — it is in ");
            assertTrue(r.stderr().contains("'sandbox rm --force latin1' deletes it"), r.describe());
            assertTrue(Files.exists(Repos.upper(repo, "latin1")), "kept");
            assertEquals(1, cli.listed(repo, "latin1").path("changes").asInt(), "list counts it");
            String refused = Cli.assertOneErrorLine(cli.run(repo, "rm", "latin1"), 2);
            assertTrue(refused.contains("1 file whose name is not valid UTF-8"), refused);
            cli.runOk(repo, "rm", "--force", "latin1");
            assertNull(cli.listed(repo, "latin1"));
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rmWithoutForce_stashOrResetAwayCommit_refusedSayingWhereItIs_forceRemoves(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "stashed", "--", "sh", "-c", "echo wip >> README.md && git stash -q");
            cli.runOk(repo, "run", "--name", "reset", "--", "sh", "-c",
                    "git commit -q --allow-empty -m gone && git reset -q --hard HEAD~1");

            for (String name : List.of("stashed", "reset")) {
                Proc.Result nothing = cli.run(repo, "diff", "--name-only", name);
                assertEquals("", nothing.stdout(), "no harvest command takes this work" + nothing.describe());
                String line = Cli.assertOneErrorLine(cli.run(repo, "rm", name), 2);
                assertTrue(line.startsWith("sandbox: can't remove '" + name + "': it holds git work no harvest"
                        + " command takes (") && line.contains(Repos.upper(repo, name).resolve(".git").toString())
                        && line.endsWith("('sandbox rm --force " + name + "' deletes it)"), line);
                assertTrue(line.contains(name.equals("stashed") ? "stash" : "ORIG_HEAD"), line);
                assertNotNull(cli.listed(repo, name), "refused: still there");
                cli.runOk(repo, "rm", "--force", name);
                assertNull(cli.listed(repo, name), "--force removes it");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_count3_removedSandboxesOutputGoesToStdoutFramed_keptOnesStaysInItsLog(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result r = cli.run(repo, "run", "--rm", "--count", "3", "--name", "say", "--", "sh", "-c",
                    "echo \"hello from $SANDBOX_NAME\"; case $SANDBOX_NAME in say-2) printf 'no newline'; exit 4;;"
                            + " say-3) echo kept > kept.txt;; esac");

            assertEquals(4, r.exitCode(), r.describe());
            assertTrue(r.stdout().contains("==> say-1 (exit 0) <==\nhello from say-1\n"), r.describe());
            assertTrue(r.stdout().contains("==> say-2 (exit 4) <==\nhello from say-2\nno newline\n"), r.describe());
            assertFalse(r.stdout().contains("say-3"), "a kept sandbox's output stays in its log" + r.describe());
            assertEquals(List.of("say-3"), names(cli, repo), r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_count3_keepsOnlyTheSandboxThatWrote(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result r = cli.run(repo, "run", "--rm", "--count", "3", "--name", "exp", "--", "sh", "-c",
                    "if [ \"$SANDBOX_NAME\" = exp-2 ]; then echo two > two.txt; fi");

            assertEquals(0, r.exitCode(), r.describe());
            List<String> kept = r.stderrLines().stream().filter(l -> l.startsWith("sandbox: kept ")).toList();
            assertEquals(
                    List.of("sandbox: kept 'exp-2': it holds changes (1 file changed) — see 'sandbox diff exp-2'"),
                    kept, r.describe());
            assertEquals(List.of("exp-2"), names(cli, repo), "only exp-2 is left" + r.describe());
            assertEquals(Set.of(cli.listed(repo, "exp-2").path("snapshot").asText()), Repos.snapshotIds(repo),
                    "the shared snapshot stays for exp-2");
            assertEquals(List.of(), leftovers(repo));
            assertEquals(List.of("two.txt"), cli.runOk(repo, "diff", "--name-only", "exp-2").stdoutLines());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_exitStatusPassesThrough_whetherRemovedOrKept(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result removed = cli.run(repo, "run", "--rm", "--name", "fails", "--", "sh", "-c", "exit 7");
            assertEquals(7, removed.exitCode(), removed.describe());
            assertEquals("", removed.stderr(), removed.describe());
            assertNull(cli.listed(repo, "fails"));

            Proc.Result kept = cli.run(repo, "run", "--rm", "--name", "wrote", "--", "sh", "-c",
                    "echo x > x.txt; exit 9");
            assertEquals(9, kept.exitCode(), kept.describe());
            assertKept(kept, "wrote", "(1 file changed)");

            Proc.Result missing = cli.run(repo, "run", "--rm", "--name", "missing", "--", "no-such-command");
            assertEquals(127, missing.exitCode(), missing.describe());
            assertNull(cli.listed(repo, "missing"));

            Proc.Result count = cli.run(repo, "run", "--rm", "--count", "2", "--name", "pair", "--", "sh", "-c",
                    "[ \"$SANDBOX_NAME\" = pair-1 ] || exit 3");
            assertEquals(3, count.exitCode(), count.describe());
            assertEquals(List.of("wrote"), names(cli, repo), count.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_upperLayerTheLauncherCannotRead_keptWithWhy(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(runner == Runner.USER, "[ROOT] reads every file: only an unprivileged launcher meets an upper"
                + " layer it cannot read");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result r = cli.run(repo, "run", "--rm", "--name", "locked", "--", "sh", "-c",
                    "echo secret > locked.txt && chmod 000 locked.txt");

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(1, r.stderrLines().size(), "one line" + r.describe());
            assertTrue(r.stderr().startsWith("sandbox: kept 'locked': can't tell whether it holds work: can't read '")
                    && r.stderr().contains("locked.txt") && r.stderr().contains("permission denied"), r.describe());
            Cli.assertNoStackTrace(r);
            assertNotNull(cli.listed(repo, "locked"), "kept");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_launcherKilled_sigkillLeavesTheSandbox_sigtermEndsTheAgentAndRemovesIt(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Running killed = cli.start(repo, "run", "--rm", "--name", "killed", "--", "sleep", "1000");
            try {
                ProcessHandle jvm = awaitAgent(runner, killed);
                assertTrue(jvm.destroyForcibly(), "SIGKILL sent to the launcher");
                killed.await();
            } finally {
                killed.kill();
            }
            JsonNode k = cli.listed(repo, "killed");
            assertNotNull(k, "a launcher killed with SIGKILL removes nothing: the sandbox stays, as without --rm");
            assertFalse(k.hasNonNull("exitCode"), k.toString());

            Proc.Running terminated = cli.start(repo, "run", "--rm", "--name", "terminated", "--", "sleep", "1000");
            Proc.Result r;
            try {
                ProcessHandle jvm = awaitAgent(runner, terminated);
                assertTrue(jvm.destroy(), "SIGTERM sent to the launcher");
                r = terminated.await();
            } finally {
                terminated.kill();
            }
            assertEquals(128 + 15, r.exitCode(), "the agent ended with SIGTERM" + r.describe());
            assertNull(cli.listed(repo, "terminated"), "then --rm removed its sandbox" + r.describe());
        }
    }

    private static void assertKept(Proc.Result r, String name, String why) {
        assertEquals(1, r.stderrLines().size(), "one line" + r.describe());
        String line = r.stderrLines().get(0);
        assertTrue(line.startsWith("sandbox: kept '" + name + "': it holds changes " + why), r.describe());
    }

    /** The names {@code sandbox list} shows, oldest first. */
    private static List<String> names(Cli cli, Path repo) {
        List<String> names = new ArrayList<>();
        cli.list(repo).forEach(n -> names.add(n.path("name").asText()));
        return names;
    }

    /** The launcher's JVM once the agent's sleep runs below it. */
    private static ProcessHandle awaitAgent(Runner runner, Proc.Running run) {
        long deadline = System.nanoTime() + Proc.TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!run.process().isAlive()) {
                fail("the run ended before its agent slept:\n" + run.stdoutSoFar() + run.stderrSoFar());
            }
            List<ProcessHandle> below = run.process().descendants().toList();
            if (below.stream().anyMatch(p -> p.info().command().orElse("").endsWith("/sleep"))) {
                return KillIT.launcherJvm(runner, run.process());
            }
            Proc.pause(20);
        }
        fail("no sleep below the launcher after " + Proc.TIMEOUT.toSeconds() + " s");
        return null;
    }

    /** What {@code gc} would have to delete: renamed sandbox and snapshot directories. */
    private static List<String> leftovers(Path repo) throws IOException {
        List<String> left = new ArrayList<>();
        for (String dir : new String[] {"sandboxes", "snapshots"}) {
            try (Stream<Path> all = Files.list(Repos.stateDir(repo).resolve(dir))) {
                all.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".rm-") || n.startsWith(".tmp-"))
                        .forEach(left::add);
            }
        }
        return left;
    }
}
