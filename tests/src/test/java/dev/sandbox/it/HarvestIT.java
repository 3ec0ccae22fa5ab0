package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The harvest scenario table: each case is a real sandbox run that changes a real repository
 * in one way, and git is the judge of what {@code sandbox patch} and {@code sandbox commit}
 * make of it: {@code git apply --check} and {@code git am} take the patch on a clean clone of
 * the base commit, the result is the sandbox's merged view byte for byte, {@code git fsck
 * --strict} is clean after the commit, and the branch's tree is the merged view's.
 */
// Beside the other classes (tests/pom.xml): each case has a workspace of its own, and nothing
// it checks is shared with another class.
@Order(2) // the next longest beside the sequence
@Execution(ExecutionMode.CONCURRENT)
class HarvestIT {
    /** One way an agent can change a tree, as the shell commands it runs. */
    enum Case {
        ADD("echo new > new.txt; mkdir -p n/m; echo deep > n/m/f.txt"),
        MODIFY("echo more >> src/a.txt"),
        DELETE("rm src/b.txt"),
        DELETE_DIR("rm -rf dir"),
        REPLACED_DIR("rm -rf dir && mkdir dir && echo x > dir/f"),
        FILE_TO_DIR("rm src/a.txt && mkdir src/a.txt && echo inner > src/a.txt/inner"),
        DIR_TO_FILE("rm -rf dir/x && echo now-a-file > dir/x"),
        SYMLINK_ADDED("ln -s src/a.txt alink"),
        SYMLINK_RETARGETED("ln -sfn src/b.txt link"),
        SYMLINK_DANGLING("ln -s does/not/exist dangling"),
        CHMOD_X("chmod +x run.sh"),
        BINARY_ADDED("head -c 4096 /dev/urandom > new.bin"),
        BINARY_MODIFIED("printf '\\000changed\\377' >> bin.dat"),
        RENAME_FILE("mv src/b.txt src/c.txt"),
        RENAME_DIR("mv dir dir2"),
        TOUCH_UNCHANGED("touch src/a.txt README.md; chmod 644 src/b.txt"),
        CREATED_THEN_DELETED("echo t > tmp.txt; rm tmp.txt; mkdir d2; echo q > d2/q; rm -rf d2"),
        ODD_NAMES("echo s > 'with space.txt'; echo u > 'ünïcødé—名前.txt'; echo n > \"$(printf 'new\\nline.txt')\""),
        EMPTY_DIR("mkdir -p empty/nested"),
        IGNORED("echo z > ignored/new.txt; echo l > more.log; echo more >> src/a.txt"),
        AGENT_COMMITS("echo one >> src/a.txt && git add -A && git commit -qm 'agent one'"
                + " && echo two > two.txt && git add two.txt && git commit -qm 'agent two'"
                + " && echo three >> README.md && echo untracked > u.txt");

        final String script;

        Case(String script) {
            this.script = script;
        }

        boolean changesNothing() {
            return EnumSet.of(TOUCH_UNCHANGED, CREATED_THEN_DELETED, EMPTY_DIR).contains(this);
        }
    }

    /** The snapshot a case's sandbox runs on: a full one, or a delta layer over one (issue 22). */
    enum Lower {
        FULL, LAYERED
    }

    /**
     * What the user does between a first run and the case's own one, so that the case's
     * snapshot is a delta: the files the cases change get a copy in the delta (new mtime, or a
     * new inode with the same bytes), an ignored file is deleted (a whiteout) and one added;
     * the tracked contents stay the base commit's.
     */
    static final String LAYER_CHANGE = "touch -d 2001-01-01 src/a.txt dir/x/y.txt README.md"
            + " && cp -p src/b.txt src/b.new && mv src/b.new src/b.txt && ln -sfn README.md link"
            + " && rm notes.log && echo layer > ignored/layer.txt";

    static Stream<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        for (Lower lower : Lower.values()) {
            for (Runner r : Runner.values()) {
                if (lower == Lower.LAYERED && r != Runner.ROOT) {
                    // once is enough for the layers (CI time: the table takes some 5 minutes a
                    // runner); the unprivileged user's reads through a view are in
                    // LayeredSnapshotIT (diff, commit) and LowerViewTest
                    continue;
                }
                for (Case c : Case.values()) {
                    all.add(Arguments.of(r, c, lower));
                }
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void harvest_case_gitAcceptsPatchAndCommitAndBothReproduceTheMergedView(Runner runner, Case c, Lower lower)
            throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = base(ws.mkdir("repo"));
            // the user's own diff settings: the patch must still carry the a/ and b/ that git am needs
            Repos.git(repo, "config", "diff.noprefix", "true");
            String baseCommit = Repos.git(repo, "rev-parse", "HEAD");
            Path clone = ws.dir().resolve("clone"); // a clean checkout of the base, made while the test owns it
            Proc.hostOk(ws.dir(), "git", "clone", "-q", repo.toString(), clone.toString());
            ws.own();
            Cli cli = new Cli(ws);
            if (lower == Lower.LAYERED) {
                layer(ws, cli, repo);
            }
            SortedMap<String, String> userTree = workingTree(repo);
            byte[] userIndex = Repos.bytes(repo.resolve(".git/index"));

            Path merged = runAndCapture(ws, cli, repo, "c", c.script);
            if (lower == Lower.LAYERED) {
                String id = cli.listed(repo, "c").path("snapshot").asText();
                Path json = Repos.stateDir(repo).resolve("snapshots").resolve(id).resolve("snapshot.json");
                assertTrue(new ObjectMapper().readTree(json.toFile()).path("parent").isTextual(),
                        "the case ran on a delta: " + Repos.read(json));
            }

            if (c.changesNothing()) {
                Proc.Result patch = cli.run(repo, "patch", "c");
                String line = Cli.assertOneErrorLine(patch, 1);
                assertTrue(line.contains("has no changes"), patch.describe());
                assertEquals("", cli.runOk(repo, "diff", "--name-only", "c").stdout(), "diff lists nothing");
                assertEquals(0, cli.listed(repo, "c").path("changes").asInt(-1), "list counts nothing");
                cli.runOk(repo, "rm", "c"); // nothing to lose, so no --force needed
                return;
            }

            String expectedTree = treeOf(ws, merged);
            Path patch = ws.dir().resolve("c.patch");
            harvestOk(cli, repo, c, "patch", "c", "-o", patch.toString());
            assertTrue(Files.size(patch) > 0, "the patch is written");

            git(clone, "checkout", "-q", baseCommit);
            git(clone, "apply", "--check", patch.toString());
            git(clone, "am", "-q", patch.toString());
            assertEquals(expectedTree, git(clone, "rev-parse", "HEAD^{tree}"),
                    "git am of the patch gives the merged view's tree");
            Proc.Result diff = Proc.host(ws.dir(), "diff", "-r", "--no-dereference", "--exclude=.git",
                    "--exclude=ignored", "--exclude=*.log", "--exclude=empty", clone.toString(), merged.toString());
            assertEquals(0, diff.exitCode(), "the patched clone is the merged view byte for byte" + diff.describe());

            Proc.Result committed = harvestOk(cli, repo, c, "commit", "c");
            assertTrue(committed.stdout().contains("sandbox/c"), committed.describe());
            git(repo, "fsck", "--strict", "--no-dangling");
            assertEquals(expectedTree, git(repo, "rev-parse", "sandbox/c^{tree}"), "the branch has the merged view");
            assertEquals(baseCommit, git(repo, "rev-parse", "HEAD"), "the user's HEAD did not move");
            Repos.assertSameTree(userTree, workingTree(repo), "the user's working tree");
            assertArrayEquals(userIndex, Repos.bytes(repo.resolve(".git/index")), "the user's index is untouched");
            assertEquals("", git(repo, "status", "--porcelain", "--untracked-files=no"), "the user's index is clean");

            if (c == Case.AGENT_COMMITS) {
                List<String> subjects = List.of(git(repo, "log", "--format=%s", baseCommit + "..sandbox/c").split("\n"));
                assertEquals(3, subjects.size(), "two commits of the agent's and one on top: " + subjects);
                assertTrue(subjects.get(0).startsWith("sandbox c: sh -c"), "the remainder on top: " + subjects);
                assertEquals(List.of("agent two", "agent one"), subjects.subList(1, 3),
                        "the agent's own commits are kept as they were");
                assertEquals("Sandbox Test", git(repo, "log", "-1", "--format=%an", "sandbox/c~1"));
            }
            if (c == Case.RENAME_FILE || c == Case.RENAME_DIR) {
                String stat = harvestOk(cli, repo, c, "diff", "--stat", "c").stdout();
                assertTrue(stat.contains("=>"), "git's rename detection shows the move" + stat);
            }
            if (c == Case.IGNORED) {
                String plain = harvestOk(cli, repo, c, "diff", "--name-only", "c").stdout();
                String all = cli.runOk(repo, "diff", "--name-only", "--include-ignored", "c").stdout();
                assertEquals("src/a.txt\n", plain, "ignored files are left out");
                assertEquals(Set.of("src/a.txt", "ignored/new.txt", "more.log"), Set.copyOf(all.lines().toList()),
                        "--include-ignored takes them, and only the changed ones");
            }

            harvestOk(cli, repo, c, "apply", "c");
            Proc.Result applied = Proc.host(ws.dir(), "diff", "-r", "--no-dereference", "--exclude=.git",
                    "--exclude=ignored", "--exclude=*.log", repo.toString(), merged.toString());
            assertEquals(0, applied.exitCode(), "apply made the user's tree the merged view" + applied.describe());
            git(repo, "add", "-A");
            assertEquals(expectedTree, git(repo, "write-tree"), "modes and symlinks too");
            cli.runOk(repo, "rm", "c"); // committed and applied: removing loses nothing
        }
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(Runner.class)
    void commit_dirtyTree_userStateInAFirstCommitAndOnlyTheAgentsWorkInTheSecond(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.dirty(ws.mkdir("repo"));
            Repos.git(repo, "mv", "README.md", "README2.md"); // a staged rename: both sides are dirty
            String baseCommit = Repos.git(repo, "rev-parse", "HEAD");
            ws.own();
            Cli cli = new Cli(ws);
            Path merged = runAndCapture(ws, cli, repo, "c", "echo agent >> src/a.txt; echo agent-new > agent.txt");

            assertEquals(Set.of("src/a.txt", "agent.txt"),
                    Set.copyOf(cli.runOk(repo, "diff", "--name-only", "c").stdoutLines()),
                    "diff shows the agent's work, not the user's uncommitted changes");
            cli.runOk(repo, "commit", "c");

            List<String> subjects = List.of(git(repo, "log", "--format=%s", baseCommit + "..sandbox/c").split("\n"));
            assertEquals(2, subjects.size(), subjects.toString());
            assertEquals("snapshot of uncommitted changes", subjects.get(1));
            assertEquals(Set.of("src/a.txt", "agent.txt"),
                    Set.copyOf(git(repo, "diff", "--name-only", "sandbox/c~1", "sandbox/c").lines().toList()),
                    "the agent's commit holds only the agent's work");
            assertEquals(Set.of("README.md", "README2.md", "src/a.txt", "staged.txt", "untracked.txt"),
                    Set.copyOf(git(repo, "diff", "--name-only", "--no-renames", baseCommit, "sandbox/c~1").lines()
                            .toList()), "the first commit holds the user's uncommitted state, ignored files aside");
            assertEquals(treeOf(ws, merged), git(repo, "rev-parse", "sandbox/c^{tree}"), "the branch has the merged view");
            git(repo, "fsck", "--strict", "--no-dangling");
        }
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(Runner.class)
    void fileNameNotUtf8_eachHarvestSaysItLeftItOut_listCountsIt_rmRefusesWithoutForce(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "c", "--", "sh", "-c",
                    "echo work > \"$(printf 'r\\351sum\\351.txt')\"; echo more >> README.md");
            String warning = "sandbox: warning: left out 'r\\351sum\\351.txt': its name is not valid UTF-8";

            Proc.Result diff = cli.run(repo, "diff", "--name-only", "c");
            assertEquals(0, diff.exitCode(), diff.describe());
            assertEquals(List.of("README.md"), diff.stdoutLines(), diff.describe());
            assertEquals(1, diff.stderrLines().size(), "one line" + diff.describe());
            assertTrue(diff.stderr().startsWith(warning), diff.describe());
            assertEquals(2, cli.listed(repo, "c").path("changes").asInt(-1), "list counts it");
            Proc.Result commit = cli.run(repo, "commit", "c");
            assertEquals(0, commit.exitCode(), commit.describe());
            assertTrue(commit.stderr().contains(warning), commit.describe());
            assertEquals("README.md", git(repo, "diff", "--name-only", "HEAD", "sandbox/c"), "the rest is harvested");

            String refused = Cli.assertOneErrorLine(cli.run(repo, "rm", "c"), 2);
            assertTrue(refused.contains("1 file whose name is not valid UTF-8"), refused);
            cli.runOk(repo, "rm", "--force", "c");
        }
    }

    /**
     * Makes the next run's snapshot a delta: a first sandbox takes a full snapshot, then the
     * user changes the tree by {@link #LAYER_CHANGE}; skips where snapshots are clones
     * (reflink, btrfs), which are not layered.
     */
    private static void layer(Workspace ws, Cli cli, Path repo) {
        cli.runOk(repo, "run", "--name", "first", "--", "true");
        String strategy = cli.listed(repo, "first").path("strategy").asText();
        Skip.unless(strategy.equals("copy"), "snapshots here are " + strategy + " clones, never layered");
        Map<String, String> env = cli.env(Map.of());
        Proc.Result changed = Proc.run(ws.runner().argv(List.of("sh", "-c", LAYER_CHANGE), env), repo, env);
        assertEquals(0, changed.exitCode(), changed.describe());
    }

    /**
     * A base repository with every kind of entry: text files at two depths, a binary file,
     * a symlink, a script without the exec bit, and an ignored directory and file present.
     */
    static Path base(Path repo) {
        Repos.git(repo, "init", "-q", "-b", "main");
        Repos.write(repo, "README.md", "# demo\n");
        Repos.write(repo, "src/a.txt", "alpha\n");
        Repos.write(repo, "src/b.txt", "beta\nbeta\nbeta\n");
        Repos.write(repo, "dir/x/y.txt", "why\n");
        Repos.write(repo, "dir/z.txt", "zed\n");
        Repos.write(repo, "run.sh", "#!/bin/sh\necho hi\n");
        Repos.write(repo, ".gitignore", "ignored/\n*.log\n");
        byte[] bin = new byte[300];
        for (int i = 0; i < bin.length; i++) {
            bin[i] = (byte) i;
        }
        try {
            Files.write(repo.resolve("bin.dat"), bin);
            Files.createSymbolicLink(repo.resolve("link"), Path.of("README.md"));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        Repos.git(repo, "add", "-A");
        Repos.git(repo, "commit", "-q", "-m", "base");
        Repos.write(repo, "ignored/keep.txt", "ignored, present\n");
        Repos.write(repo, "notes.log", "ignored log\n");
        return repo;
    }

    /**
     * Runs {@code script} in a new sandbox, which then sends its merged view (without .git)
     * as a tar archive; returns where the test unpacked it.
     */
    static Path runAndCapture(Workspace ws, Cli cli, Path repo, String name, String script) {
        Proc.Result r = cli.run(repo, "run", "--name", name, "--", "sh", "-c",
                "{ " + script + "; } >&2 && tar --exclude=./.git -cf - . | base64 -w0");
        assertEquals(0, r.exitCode(), r.describe());
        Path merged = ws.dir().resolve("merged-" + name);
        Path archive = ws.dir().resolve("merged-" + name + ".tar");
        try {
            Files.createDirectories(merged);
            Files.write(archive, Base64.getDecoder().decode(r.stdout().strip()));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        Proc.hostOk(merged, "tar", "-xf", archive.toString());
        return merged;
    }

    /**
     * A harvest command that must succeed: on stderr nothing, but, in the case that writes
     * ignored files, the one line that counts them when they are not taken.
     */
    private static Proc.Result harvestOk(Cli cli, Path repo, Case c, String... args) {
        Proc.Result r = cli.run(repo, args);
        assertEquals(0, r.exitCode(), r.describe());
        assertEquals(c == Case.IGNORED ? "sandbox: 2 ignored paths changed (see --include-ignored)\n" : "",
                r.stderr(), "nothing on stderr but the count of ignored paths" + r.describe());
        return r;
    }

    /** The tree git makes of {@code dir} (its .gitignore applied), in a scratch repository. */
    static String treeOf(Workspace ws, Path dir) {
        Path gitDir = ws.dir().resolve("oracle-" + dir.getFileName() + ".git");
        Proc.hostOk(dir, "git", "--git-dir=" + gitDir, "--work-tree=" + dir, "init", "-q");
        Proc.hostOk(dir, "git", "--git-dir=" + gitDir, "--work-tree=" + dir, "add", "-A");
        return Proc.hostOk(dir, "git", "--git-dir=" + gitDir, "--work-tree=" + dir, "write-tree").stdout().strip();
    }

    /** Every entry of the working tree, with contents and modes; .git aside (objects and refs may grow). */
    static SortedMap<String, String> workingTree(Path repo) {
        return Repos.entries(repo, List.of(repo.resolve(".git")), false);
    }

    /** git as the test's own user on a repository the runner may own. */
    static String git(Path repo, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-c", "safe.directory=*", "-C", repo.toString()));
        cmd.addAll(List.of(args));
        return Proc.hostOk(repo, cmd.toArray(String[]::new)).stdout().strip();
    }

}
