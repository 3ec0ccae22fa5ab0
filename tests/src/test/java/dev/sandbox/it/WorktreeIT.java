package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SortedMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Repositories whose {@code .git} is a {@code gitdir:} file: a worktree made by {@code git
 * worktree add}, {@code git init --separate-git-dir}, a submodule's checkout used as the
 * repository. Inside the sandbox git reads and commits as in an ordinary repository, and the
 * harvest takes the agent's commits onto the worktree's HEAD, with real git as the judge
 * ({@code git fsck --strict}, {@code git log}, the files {@code apply} writes).
 */
class WorktreeIT {
    private static final String AGENT_COMMITS = "echo x >> a.txt; git add a.txt && git commit -qm agent";

    /** git as the test itself, also in repositories already handed to the unprivileged user. */
    private static String git(Path repo, String... args) {
        String[] all = new String[args.length + 2];
        all[0] = "-c";
        all[1] = "safe.directory=*";
        System.arraycopy(args, 0, all, 2, args.length);
        return Repos.git(repo, all);
    }

    /** A main repository with one commit of a.txt and src/deep/s.txt, and a worktree of it at {@code wt}. */
    private static Path mainWithWorktree(Workspace ws) {
        Path main = ws.mkdir("main");
        git(main, "init", "-q", "-b", "main");
        Repos.write(main, "a.txt", "a\n");
        Repos.write(main, "src/deep/s.txt", "s\n");
        git(main, "add", "-A");
        git(main, "commit", "-q", "-m", "initial");
        Path wt = ws.dir().resolve("wt");
        git(main, "worktree", "add", "-q", "-b", "feature", wt.toString());
        Repos.write(wt, "a.txt", "a\nuser's, uncommitted\n"); // the worktree's own state, not the main's
        git(wt, "commit", "-q", "-am", "feature work");
        return wt;
    }

    /** Asserts that {@code sandbox/NAME} is the agent's commit on {@code head}, in a repository git finds sound. */
    private static void assertAgentCommitOn(Path repo, String name, String head) {
        assertEquals(List.of("agent"), List.of(git(repo, "log", "--format=%s", head + "..sandbox/" + name).split("\n")),
                "the branch carries the agent's commit on the worktree's HEAD");
        assertEquals(head, git(repo, "rev-parse", "sandbox/" + name + "~1"));
        git(repo, "fsck", "--strict", "--no-dangling");
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void worktreeAdd_agentCommits_commitMakesTheBranchAndApplyWritesTheFile_mainUntouched(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path wt = mainWithWorktree(ws);
            Path main = ws.dir().resolve("main");
            String head = git(wt, "rev-parse", "HEAD");
            ws.own();
            SortedMap<String, String> mainTree = Repos.entries(main, List.of(main.resolve(".git")), false);
            byte[] mainIndex = Repos.bytes(main.resolve(".git/index"));
            byte[] wtIndex = Repos.bytes(main.resolve(".git/worktrees/wt/index"));
            Cli cli = new Cli(ws);

            Proc.Result run = cli.run(wt, "run", "--name", "w", "--", "sh", "-c",
                    AGENT_COMMITS + " && git status --porcelain && git log --format=%s");
            assertEquals(0, run.exitCode(), run.describe());
            assertEquals(List.of("agent", "feature work", "initial"), run.stdoutLines(),
                    "git status is clean after the commit and git log shows the worktree's history" + run.describe());

            cli.runOk(wt, "commit", "w");
            assertAgentCommitOn(wt, "w", head);
            assertEquals("a\nuser's, uncommitted\nx\n", git(wt, "show", "sandbox/w:a.txt") + "\n");

            cli.runOk(wt, "apply", "w");
            assertEquals("a\nuser's, uncommitted\nx\n", Repos.read(wt.resolve("a.txt")), "apply wrote the agent's a.txt");
            assertEquals(head, git(wt, "rev-parse", "HEAD"), "the worktree's HEAD did not move");
            assertArrayEquals(wtIndex, Repos.bytes(main.resolve(".git/worktrees/wt/index")),
                    "the worktree's index is untouched");
            assertArrayEquals(mainIndex, Repos.bytes(main.resolve(".git/index")), "the main index is untouched");
            Repos.assertSameTree(mainTree, Repos.entries(main, List.of(main.resolve(".git")), false),
                    "the main working tree");
            assertEquals("", git(main, "status", "--porcelain"), "the main repository is clean");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void worktreeOfARepositoryUnderTmp_gitReadsInside_andANewCommitOutsideIsSeenByTheNextRun(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) { // under /tmp, which is private and empty inside
            Path wt = mainWithWorktree(ws);
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result first = cli.run(wt, "run", "--name", "t1", "--", "sh", "-c",
                    "git status --porcelain && git log --format=%s && git rev-parse --abbrev-ref HEAD");
            assertEquals(0, first.exitCode(), first.describe());
            assertEquals(List.of("feature work", "initial", "feature"), first.stdoutLines(), first.describe());

            // Only the git directory changes (HEAD's ref, its log, no file of the tree): a
            // snapshot that missed it would show the old history.
            git(wt, "commit", "-q", "--allow-empty", "-m", "outside");
            ws.own();
            Proc.Result second = cli.run(wt, "run", "--name", "t2", "--", "git", "log", "-1", "--format=%s");
            assertEquals(0, second.exitCode(), second.describe());
            assertEquals(List.of("outside"), second.stdoutLines(), "the next run sees the new commit" + second.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void separateGitDir_agentCommits_commitHasIt(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = ws.mkdir("repo");
            git(repo, "init", "-q", "-b", "main", "--separate-git-dir", ws.dir().resolve("repo.git").toString());
            Repos.write(repo, "a.txt", "a\n");
            git(repo, "add", "a.txt");
            git(repo, "commit", "-q", "-m", "initial");
            String head = git(repo, "rev-parse", "HEAD");
            ws.own();
            Cli cli = new Cli(ws);

            cli.runOk(repo, "run", "--name", "s", "--", "sh", "-c", AGENT_COMMITS);
            cli.runOk(repo, "commit", "s");
            assertAgentCommitOn(repo, "s", head);
            assertTrue(Files.isRegularFile(repo.resolve(".git")), "the user's .git is still the gitdir: file");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void submoduleCheckoutAsTheRepository_agentCommitsInside_commitHasIt(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path upstream = ws.mkdir("upstream");
            git(upstream, "init", "-q", "-b", "main");
            Repos.write(upstream, "a.txt", "a\n");
            git(upstream, "add", "a.txt");
            git(upstream, "commit", "-q", "-m", "initial");
            Path sup = ws.mkdir("super");
            git(sup, "init", "-q", "-b", "main");
            git(sup, "-c", "protocol.file.allow=always", "submodule", "add", "-q", upstream.toString(), "sub");
            git(sup, "commit", "-q", "-m", "add sub");
            Path sub = sup.resolve("sub");
            assertTrue(Repos.read(sub.resolve(".git")).startsWith("gitdir: "), "a submodule's .git is a file");
            String head = git(sub, "rev-parse", "HEAD");
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result run = cli.run(sub, "run", "--name", "m", "--", "sh", "-c",
                    AGENT_COMMITS + " && git rev-parse --show-toplevel");
            assertEquals(0, run.exitCode(), run.describe());
            assertEquals(List.of(sub.toString()), run.stdoutLines(),
                    "git inside takes the checkout for the top level, not a core.worktree elsewhere" + run.describe());
            cli.runOk(sub, "commit", "m");
            assertAgentCommitOn(sub, "m", head);
            assertEquals("", git(sup, "status", "--porcelain"), "the superproject sees no change");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void subdirectoryOfAWorktree_agentCommitsThere_commitHasIt(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path wt = mainWithWorktree(ws);
            String head = git(wt, "rev-parse", "HEAD");
            ws.own();
            Cli cli = new Cli(ws);
            Path deep = wt.resolve("src/deep");

            Proc.Result run = cli.run(deep, "run", "--name", "d", "--", "sh", "-c",
                    "pwd && echo y >> s.txt && git commit -qam agent && git status --porcelain");
            assertEquals(0, run.exitCode(), run.describe());
            assertEquals(List.of(deep.toString()), run.stdoutLines(), "the agent starts in the subdirectory" + run.describe());
            cli.runOk(deep, "commit", "d");
            assertAgentCommitOn(wt, "d", head);
            assertEquals("s\ny", git(wt, "show", "sandbox/d:src/deep/s.txt"));
        }
    }
}
