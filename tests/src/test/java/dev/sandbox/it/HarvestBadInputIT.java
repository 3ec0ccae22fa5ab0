package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code sandbox apply} on a tree that moved on, and the harvest commands given bad input:
 * one clear line, the right exit code, nothing half-written, nothing of the user's lost.
 */
// Beside the other classes (tests/pom.xml): each case has a workspace of its own, and nothing
// it checks is shared with another class.
@Execution(ExecutionMode.CONCURRENT)
class HarvestBadInputIT {
    private static final String FIVE_LINES = "one\ntwo\nthree\nfour\nfive\n";

    @ParameterizedTest
    @EnumSource(Runner.class)
    void apply_userEditedOtherLines_mergesBothWithoutConflict(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c",
                    "sed -i 's/^one$/ONE by agent/' f.txt && echo added > new.txt && rm gone.txt");
            Repos.write(repo, "f.txt", FIVE_LINES.replace("five", "FIVE by user"));
            Repos.write(repo, "mine.txt", "the user's own new file\n");
            ws.own();

            Proc.Result r = cli.run(repo, "apply", "c");

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals("ONE by agent\ntwo\nthree\nfour\nFIVE by user\n", Repos.read(repo.resolve("f.txt")),
                    "both edits are in");
            assertEquals("added\n", Repos.read(repo.resolve("new.txt")));
            assertFalse(Files.exists(repo.resolve("gone.txt")), "the agent's deletion is applied");
            assertEquals("the user's own new file\n", Repos.read(repo.resolve("mine.txt")), "the user's file stays");
            assertEquals("", HarvestIT.git(repo, "diff", "--cached", "--name-only"), "the index is not touched");
            cli.runOk(repo, "rm", "c"); // applied: nothing left to lose
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void apply_overlappingEdit_writesConflictMarkersWithBothSidesAndExits1(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c",
                    "sed -i 's/^three$/three by agent/' f.txt && echo added > new.txt");
            String users = FIVE_LINES.replace("three", "three by user");
            Repos.write(repo, "f.txt", users);
            ws.own();

            Proc.Result refused = cli.run(repo, "apply", "--no-conflicts", "c");
            String line = Cli.assertOneErrorLine(refused, 1);
            assertTrue(line.contains("nothing was changed"), refused.describe());
            assertTrue(refused.stdout().contains("conflict f.txt"), "the conflict is listed" + refused.describe());
            assertEquals(users, Repos.read(repo.resolve("f.txt")), "--no-conflicts changed nothing");
            assertFalse(Files.exists(repo.resolve("new.txt")), "--no-conflicts changed nothing");

            Proc.Result r = cli.run(repo, "apply", "c");
            assertEquals(1, r.exitCode(), r.describe());
            assertTrue(r.stdout().contains("conflict f.txt"), r.describe());
            String merged = Repos.read(repo.resolve("f.txt"));
            assertTrue(merged.contains("<<<<<<< ") && merged.contains("=======\n") && merged.contains(">>>>>>> "),
                    "conflict markers: " + merged);
            assertTrue(merged.contains("three by user") && merged.contains("three by agent"), "both sides: " + merged);
            assertEquals("added\n", Repos.read(repo.resolve("new.txt")), "the rest is applied");
            Cli.assertNoStackTrace(r);
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void harvest_unknownSandboxOrBadBranch_oneLineExit2(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            for (String cmd : new String[] {"diff", "patch", "commit", "apply"}) {
                Proc.Result r = cli.run(repo, cmd, "nope");
                String line = Cli.assertOneErrorLine(r, 2);
                assertTrue(line.contains("'nope'") && line.contains("no such sandbox"), r.describe());
            }
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c", "echo x >> f.txt");
            Proc.Result bad = cli.run(repo, "commit", "-b", "no..dots", "c");
            assertTrue(Cli.assertOneErrorLine(bad, 2).contains("'no..dots'"), bad.describe());
            Proc.Result checkedOut = cli.run(repo, "commit", "-b", "main", "c");
            assertTrue(Cli.assertOneErrorLine(checkedOut, 2).contains("checked out"), checkedOut.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void commit_existingUnrelatedBranch_refusedUnlessForce_andRmRefusesUnharvested(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c", "echo x >> f.txt");
            Proc.Result keep = cli.run(repo, "rm", "c");
            assertTrue(Cli.assertOneErrorLine(keep, 2).contains("never committed"), keep.describe());

            HarvestIT.git(repo, "branch", "sandbox/c", "HEAD");
            HarvestIT.git(repo, "commit", "-q", "--allow-empty", "-m", "elsewhere");
            HarvestIT.git(repo, "branch", "-f", "sandbox/c", "HEAD");
            HarvestIT.git(repo, "reset", "-q", "--hard", "HEAD~1");
            ws.own();
            String other = HarvestIT.git(repo, "rev-parse", "sandbox/c");
            Proc.Result refused = cli.run(repo, "commit", "c");
            assertTrue(Cli.assertOneErrorLine(refused, 2).contains("--force"), refused.describe());
            assertEquals(other, HarvestIT.git(repo, "rev-parse", "sandbox/c"), "the branch did not move");

            cli.runOk(repo, "commit", "--force", "c");
            assertEquals("one\ntwo\nthree\nfour\nfive\nx\n", HarvestIT.git(repo, "show", "sandbox/c:f.txt") + "\n");
            Proc.Result again = cli.runOk(repo, "commit", "c");
            assertTrue(again.stdout().contains("nothing new"), again.describe());
            cli.runOk(repo, "rm", "c");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void commit_unreadableFileInUpper_namesThePathAndCreatesNoBranch(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(runner == Runner.USER, "root reads a mode-000 file, so the damage needs an unprivileged user");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c", "echo x >> f.txt; echo s > secret.txt");
            Path damaged = Repos.upper(repo, "c").resolve("secret.txt");
            Proc.hostOk(repo, "chmod", "000", damaged.toString());

            Proc.Result r = cli.run(repo, "commit", "c");
            String line = Cli.assertOneErrorLine(r, 125);
            assertTrue(line.contains(damaged.toString()) && line.contains("permission denied"), r.describe());
            assertEquals("", HarvestIT.git(repo, "branch", "--list", "sandbox/c"), "no branch half-made");
            Path out = ws.dir().resolve("c.patch");
            Proc.Result p = cli.run(repo, "patch", "c", "-o", out.toString());
            Cli.assertOneErrorLine(p, 125);
            assertFalse(Files.exists(out), "no patch half-written");
        }
    }

    /**
     * Branch names git refuses are refused before anything is made: {@code run --name} whose
     * {@code sandbox/NAME} git would not take, and {@code commit -b} with {@code HEAD} (which
     * made every {@code git rev-parse HEAD} warn), a leading {@code -} or {@code refs/}.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void branchNamesGitRefuses_runAndCommitRefuseInOneLine_noRefMade(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            for (String name : List.of("y.lock", "a..b", "z.")) {
                String line = Cli.assertOneErrorLine(cli.run(repo, "run", "--name", name, "--", "true"), 2);
                assertTrue(line.contains("'sandbox/" + name + "' would not be a valid git branch name"), line);
            }
            assertEquals("", cli.runOk(repo, "list", "-q").stdout().strip(), "no sandbox made");

            cli.runOk(repo, "run", "--name", "b", "--", "sh", "-c", "echo x >> f.txt");
            String refs = HarvestIT.git(repo, "for-each-ref", "--format=%(refname)");
            for (String branch : List.of("HEAD", "-x", "refs/heads/x", "a..b", "a.lock/b")) {
                String line = Cli.assertOneErrorLine(cli.run(repo, "commit", "b", "-b", branch), 2);
                assertTrue(line.contains("'" + branch + "'") && line.contains("not a valid git branch name"), line);
            }
            assertEquals(refs, HarvestIT.git(repo, "for-each-ref", "--format=%(refname)"), "no ref made");
            cli.runOk(repo, "commit", "b", "-b", "sandbox");
            String line = Cli.assertOneErrorLine(cli.run(repo, "commit", "b"), 2);
            assertTrue(line.contains("'sandbox/b'") && line.contains("another branch is in the way"), line);
            cli.runOk(repo, "commit", "b", "-b", "other");
            cli.runOk(repo, "rm", "b");
        }
    }

    /**
     * {@code patch -o} writes what it is pointed at as a shell's {@code >} would: a symlink
     * stays a link, a FIFO and a device are written into, never replaced by a file (as root,
     * the old code turned {@code /dev/full} into one), {@code -} is stdout.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void patch_output_dashIsStdout_linkKept_fifoAndDeviceWrittenInto(Runner runner) throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "p", "--", "sh", "-c", "echo x >> f.txt");
            String expected = cli.runOk(repo, "patch", "p").stdout();
            assertTrue(expected.contains("\n+x\n"), expected);

            assertEquals(expected, cli.runOk(repo, "patch", "p", "-o", "-").stdout());
            assertFalse(Files.exists(repo.resolve("-")), "no file named '-'");

            Path real = ws.dir().resolve("real.patch");
            Path link = ws.dir().resolve("link.patch");
            Path fifo = ws.dir().resolve("fifo");
            Files.writeString(real, "old\n");
            Files.createSymbolicLink(link, real.getFileName());
            Proc.hostOk(ws.dir(), "mkfifo", fifo.toString());
            // root gets a device of its own: the machine's /dev/null must survive a regression
            Path device = runner == Runner.ROOT ? ws.dir().resolve("null") : Path.of("/dev/null");
            if (runner == Runner.ROOT) {
                Proc.hostOk(ws.dir(), "mknod", device.toString(), "c", "1", "3");
            }
            ws.own();

            cli.runOk(repo, "patch", "p", "-o", link.toString());
            assertTrue(Files.isSymbolicLink(link), "the link stays a link");
            assertEquals(expected, Files.readString(real));

            Proc.Running reader = Proc.start(List.of("cat", fifo.toString()), ws.dir(),
                    Host.cleanEnv(Host.scratchHome()));
            cli.runOk(repo, "patch", "p", "-o", fifo.toString());
            assertEquals(expected, reader.await().stdout());
            assertEquals("fifo", Proc.hostOk(ws.dir(), "stat", "-c", "%F", fifo.toString()).stdout().strip());

            cli.runOk(repo, "patch", "p", "-o", device.toString());
            assertEquals("character special file",
                    Proc.hostOk(ws.dir(), "stat", "-c", "%F", device.toString()).stdout().strip());

            Cli.assertOneErrorLine(cli.run(repo, "patch", "p", "-o", ""), 2);

            // a dangling link: the file it names is made; a name of 255 bytes is written
            Path dangling = ws.dir().resolve("dangling.patch");
            Files.createSymbolicLink(dangling, Path.of("made.patch"));
            Path longName = ws.dir().resolve("l".repeat(255));
            Path mode750 = ws.dir().resolve("mode.patch");
            Files.writeString(mode750, "old\n");
            Path readOnly = ws.dir().resolve("read-only.patch");
            Files.writeString(readOnly, "old\n");
            ws.own();
            Proc.hostOk(ws.dir(), "chmod", "750", mode750.toString());
            Proc.hostOk(ws.dir(), "chmod", "444", readOnly.toString());
            cli.runOk(repo, "patch", "p", "-o", dangling.toString());
            assertTrue(Files.isSymbolicLink(dangling), "the link stays a link");
            assertEquals(expected, Files.readString(ws.dir().resolve("made.patch")));
            cli.runOk(repo, "patch", "p", "-o", longName.toString());
            assertEquals(expected, Files.readString(longName));
            cli.runOk(repo, "patch", "p", "-o", mode750.toString());
            assertEquals("750", Proc.hostOk(ws.dir(), "stat", "-c", "%a", mode750.toString()).stdout().strip());
            if (runner == Runner.USER) { // root may write a file of mode 444, as through '>'
                String line = Cli.assertOneErrorLine(cli.run(repo, "patch", "p", "-o", readOnly.toString()), 125);
                assertTrue(line.contains("Permission denied"), line);
                assertEquals("old\n", Files.readString(readOnly));
            }
            try (var left = Files.list(ws.dir())) {
                assertEquals(List.of(), left.map(f -> f.getFileName().toString())
                        .filter(f -> f.startsWith(".sandbox-patch-")).toList(), "no temporary file left");
            }
            cli.runOk(repo, "rm", "--force", "p");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void diff_whileTheAgentRuns_showsWhatItWroteSoFar(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            Proc.Running agent = cli.start(repo, "run", "--name", "live", "--", "sh", "-c",
                    "echo early > early.txt; touch .ready; sleep 30");
            Path ready = Repos.upper(repo, "live").resolve(".ready");
            for (int i = 0; i < 200 && !Files.exists(ready); i++) {
                Proc.pause(50);
            }
            assertTrue(Files.exists(ready), "the agent started");
            Proc.Result r = cli.runOk(repo, "diff", "--name-only", "live");
            assertEquals(Set.of(".ready", "early.txt"), Set.copyOf(r.stdoutLines()), r.describe());
            agent.kill();
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void fileOverTheSizeLimit_leftOutOfEveryHarvestWithOneLine_listCountsIt_rmRefuses(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            // 200 GiB of holes: reading it would take minutes, so every command below finishing shows none does
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c",
                    "truncate -s 200G big.img; head -c 100 /dev/zero > mid.bin; echo x >> f.txt");
            Map<String, String> limit = Map.of("SANDBOX_HARVEST_MAX_FILE", "64");
            String warning = "sandbox: warning: left out 'big.img' (200G): larger than SANDBOX_HARVEST_MAX_FILE (64B)";
            String mid = "sandbox: warning: left out 'mid.bin' (100B): larger than SANDBOX_HARVEST_MAX_FILE (64B)";

            for (String cmd : new String[] {"diff", "diff --stat", "patch"}) {
                List<String> args = new ArrayList<>(List.of(cmd.split(" ")));
                args.add("c");
                Proc.Result r = cli.run(repo, limit, args.toArray(String[]::new));
                assertEquals(0, r.exitCode(), r.describe());
                assertEquals(List.of(warning, mid), r.stderrLines(), r.describe());
                assertTrue(r.stdout().contains("f.txt"), r.describe());
                assertFalse(r.stdout().contains("a/big.img") || r.stdout().contains(" big.img "), r.describe());
            }
            Proc.Result byDefault = cli.run(repo, "diff", "--name-only", "c");
            assertEquals(List.of("f.txt", "mid.bin"), byDefault.stdoutLines(), "the default limit, 1 GiB, takes mid.bin");
            assertEquals(List.of(warning.replace("(64B)", "(1.0G)")), byDefault.stderrLines(), byDefault.describe());
            assertEquals(3, cli.listed(repo, "c").path("changes").asInt(-1), "list counts it, unread");

            Proc.Result commit = cli.run(repo, limit, "commit", "c");
            assertEquals(0, commit.exitCode(), commit.describe());
            assertTrue(commit.stderrLines().contains(warning), commit.describe());
            assertEquals("f.txt", HarvestIT.git(repo, "diff", "--name-only", "HEAD", "sandbox/c"));
            HarvestIT.git(repo, "fsck", "--strict", "--no-dangling");
            Proc.Result apply = cli.run(repo, limit, "apply", "c");
            assertEquals(0, apply.exitCode(), apply.describe());
            assertTrue(apply.stderrLines().contains(warning), apply.describe());
            assertFalse(Files.exists(repo.resolve("big.img")), "apply leaves it out too");

            String refused = Cli.assertOneErrorLine(cli.run(repo, "rm", "c"), 2);
            assertTrue(refused.contains("never committed, patched or applied"), "never handed over: " + refused);
            cli.runOk(repo, "rm", "--force", "c");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void sizeLimitNotANumber_oneLineExit2_forHarvestsAndList(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c", "echo x >> f.txt");
            for (String cmd : new String[] {"diff", "patch", "commit", "apply", "list"}) {
                Proc.Result r = cmd.equals("list") ? cli.run(repo, Map.of("SANDBOX_HARVEST_MAX_FILE", "1G"), cmd)
                        : cli.run(repo, Map.of("SANDBOX_HARVEST_MAX_FILE", "1G"), cmd, "c");
                assertEquals("sandbox: invalid SANDBOX_HARVEST_MAX_FILE '1G': expected a number of bytes, such as"
                        + " 2147483648 for 2 GiB (or leave it unset: 1073741824, 1 GiB)", Cli.assertOneErrorLine(r, 2));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void apply_directoryWhereTheUsersSymlinkWas_neverReadsThroughTheLink(Runner runner) throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path outside = ws.mkdir("outside");
            Repos.write(outside, "master", "CANARY-OUTSIDE\n");
            Path repo = fiveLineRepo(ws);
            Files.createSymbolicLink(repo.resolve("ext"), outside);
            HarvestIT.git(repo, "add", "ext");
            HarvestIT.git(repo, "commit", "-q", "-m", "a link out of the tree");
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c", "rm ext && mkdir ext && echo mine > ext/master");

            Proc.Result r = cli.run(repo, "apply", "c");

            Cli.assertNoStackTrace(r);
            assertFalse((r.stdout() + r.stderr()).contains("CANARY"), r.describe());
            assertEquals("CANARY-OUTSIDE\n", Repos.read(outside.resolve("master")), "nothing written through the link");
            if (Files.isRegularFile(repo.resolve("ext/master"), java.nio.file.LinkOption.NOFOLLOW_LINKS)
                    && !Files.isSymbolicLink(repo.resolve("ext"))) {
                assertEquals("mine\n", Repos.read(repo.resolve("ext/master")), "the sandbox's file, no merge" + r.describe());
            }
            assertEquals(0, r.exitCode(), r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void apply_namesWithNewlineAndNonAscii_printedAsGitQuotesThem_oneLineEach(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = fiveLineRepo(ws);
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c",
                    "printf x > \"$(printf 'a\\nb.txt')\"; printf y > \"$(printf 'caf\\303\\251.txt')\"");

            Proc.Result r = cli.run(repo, "apply", "c");

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals("x", Repos.read(repo.resolve("a\nb.txt")), r.describe());
            List<String> updated = r.stdoutLines().stream().filter(l -> l.startsWith("updated  "))
                    .map(l -> l.substring("updated  ".length())).sorted().toList();
            // git is the judge: the same names, quoted the same way, as git lists them
            List<String> git = HarvestIT.git(repo, "-c", "core.quotePath=true", "ls-files", "--others").lines()
                    .sorted().toList();
            assertEquals(List.of("\"a\\nb.txt\"", "\"caf\\303\\251.txt\""), git);
            assertEquals(git, updated, r.describe());
            assertEquals(2, r.stdoutLines().size(), "one line each" + r.describe());
        }
    }

    private static Path fiveLineRepo(Workspace ws) {
        Path repo = ws.mkdir("repo");
        Repos.git(repo, "init", "-q", "-b", "main");
        Repos.write(repo, "f.txt", FIVE_LINES);
        Repos.write(repo, "gone.txt", "to be deleted\n");
        Repos.git(repo, "add", "-A");
        Repos.git(repo, "commit", "-q", "-m", "base");
        ws.own();
        return repo;
    }
}
