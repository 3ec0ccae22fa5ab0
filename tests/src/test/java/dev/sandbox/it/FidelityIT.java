package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The differential test of issue 19 (harvest fidelity). Each case is a base repository made
 * with real git, the user's state at snapshot time (uncommitted edits, untracked and ignored
 * files) and a shell script "the agent" runs. The script runs natively in a plain copy of the
 * repository ({@code cp -a}), which is the ground truth, and in a sandbox. Then, for the
 * sandbox:
 * <ul>
 * <li>(a) {@code sandbox apply} on the user's tree must leave it as the ground truth; without
 * {@code --include-ignored}, the ignored paths (by the ground truth's own rules) stay as the
 * user had them;
 * <li>(b) {@code sandbox patch -o P} must exit 0 with a non-empty series, and {@code git am P} on
 * a clean clone of the base commit must leave its working tree as the ground truth's tree;
 * <li>(c) {@code sandbox commit}'s branch must have the ground truth's tree (git builds it in the
 * native copy: the base's index, {@code git add -A}, plus {@code git add -f} of the ignored paths
 * the agent touched with {@code --include-ignored}); {@code git fsck --strict} is clean; the
 * branch's first-parent chain reaches the base commit B, then holds "snapshot of uncommitted
 * changes" when the user's tree was dirty, then the agent's commits when they continue B
 * linearly (their subjects kept), else one commit.
 * </ul>
 * Files compare by content, exec bit and symlink target, submodules by their commit id. Without
 * {@code --include-ignored}, each of apply, patch and commit must print {@code N ignored paths
 * changed (see --include-ignored)} exactly when ignored paths changed.
 *
 * <p>All cases of one identity run in one test, which prints a table of PASS/FAIL per case and
 * check, the reason of each failure below it, and fails naming the failing rows.
 * {@code -Dfidelity.only=reset-hard,rebase} runs only the cases named.
 */
class FidelityIT {
    /** The subject of the commit that holds the user's uncommitted state (ARCHITECTURE.md, harvest). */
    static final String U_SUBJECT = "snapshot of uncommitted changes";
    /** What each harvest prints without --include-ignored when ignored paths changed (issue 19). */
    static final Pattern IGNORED_LINE = Pattern.compile("\\b(\\d+) ignored paths? changed \\(see --include-ignored\\)");
    /**
     * The agent's environment, natively and in the sandbox ({@code run --env}): a fixed identity
     * and date, so that a commit made inside a submodule has the same id in both and its
     * gitlink compares.
     */
    static final Map<String, String> AGENT_ENV = new TreeMap<>(Map.of(
            "GIT_AUTHOR_NAME", "Agent", "GIT_AUTHOR_EMAIL", "agent@example.invalid",
            "GIT_COMMITTER_NAME", "Agent", "GIT_COMMITTER_EMAIL", "agent@example.invalid",
            "GIT_AUTHOR_DATE", "2020-02-02T12:00:00Z", "GIT_COMMITTER_DATE", "2020-02-02T12:00:00Z"));

    /** The base repositories, each made by a script run in the template directory. */
    enum Base {
        /** Issue 19's reproduction, exactly. */
        ISSUE("mkdir issue && cd issue && git init -q -b main && echo v1 > f && git add f && git commit -qm c1"
                + " && echo v2 > f && git commit -qam c2", "issue"),
        /**
         * Text files, an executable, a symlink and a .gitignore on main (two commits); branch
         * {@code other} off the first changes src/b.txt, drops run.sh's exec bit, retargets the
         * link and adds other.txt. Ignored files are present: .env, build/out.bin,
         * build/cache/x, app.log.
         */
        STD("mkdir std && cd std && git init -q -b main"
                + " && printf '# demo\\n' > README.md && mkdir src && printf 'a1\\na2\\na3\\n' > src/a.txt"
                + " && printf 'b1\\nb2\\n' > src/b.txt && printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod +x run.sh"
                + " && ln -s README.md link && printf '.env\\nbuild/\\n*.log\\n' > .gitignore"
                + " && git add -A && git commit -qm base"
                + " && git checkout -q -b other && printf 'b1\\nb2 other\\n' > src/b.txt && chmod -x run.sh"
                + " && ln -sfn src/a.txt link && echo o > other.txt && git add -A && git commit -qm 'other: b, run.sh, link'"
                + " && git checkout -q main && printf 'a1\\na2 main\\na3\\n' > src/a.txt && git commit -qam 'main: a'"
                + " && printf 'SECRET=1\\n' > .env && mkdir -p build/cache && printf 'out\\n' > build/out.bin"
                + " && printf 'cache\\n' > build/cache/x && printf 'log\\n' > app.log", "std"),
        /** A superproject with top.txt and submodule {@code sub} (a local clone of subrepo). */
        SUPER("mkdir subrepo && cd subrepo && git init -q -b main && echo s1 > s.txt && git add s.txt"
                + " && git commit -qm s1 && cd .. && mkdir super && cd super && git init -q -b main && echo t1 > top.txt"
                + " && git add top.txt && git commit -qm top"
                + " && git -c protocol.file.allow=always submodule add -q ../subrepo sub && git commit -qm 'add sub'",
                "super");

        final String script;
        final String dir;

        Base(String script, String dir) {
            this.script = script;
            this.dir = dir;
        }
    }

    /** How the agent's history relates to the snapshot's base commit. */
    enum History {
        /** No commits of the agent's: the chain after B is [U] and one commit. */
        NONE,
        /** The agent's commits continue B: [U], their subjects in order, at most one commit on top. */
        LINEAR,
        /** The agent rewrote history: [U] and exactly one commit, none of the agent's subjects. */
        REWRITE
    }

    /** The harvest modes: the default, and --include-ignored. */
    enum Mode {
        DEFAULT, INCLUDE_IGNORED;

        List<String> flags() {
            return this == DEFAULT ? List.of() : List.of("--include-ignored");
        }

        String shown() {
            return this == DEFAULT ? "default" : "--include-ignored";
        }
    }

    /**
     * One row group: a base, the user's state at snapshot time ({@code pre}, a script run in the
     * user's tree), the agent's script, the agent's commit subjects that must be kept (for
     * LINEAR), and the modes it runs in.
     */
    record Case(String name, Base base, String pre, String script, History history, List<String> subjects,
            List<Mode> modes, boolean worktree) {
        static Case of(String name, Base base, String pre, String script, History history, String... subjects) {
            return new Case(name, base, pre, script, history, List.of(subjects), List.of(Mode.DEFAULT), false);
        }

        Case bothModes() {
            return new Case(name, base, pre, script, history, subjects, List.of(Mode.DEFAULT, Mode.INCLUDE_IGNORED),
                    worktree);
        }

        Case inWorktree() {
            return new Case(name, base, pre, script, history, subjects, modes, true);
        }
    }

    /** The user's untracked file at snapshot time, for the cases about one. */
    private static final String UNTRACKED = "printf 'draft 1\\ndraft 2\\n' > draft.txt";

    static final List<Case> CASES = List.of(
            Case.of("reset-hard", Base.ISSUE, "", "git reset -q --hard HEAD~1", History.REWRITE),
            Case.of("checkout-branch", Base.STD, "", "git checkout -q other", History.REWRITE),
            Case.of("rebase", Base.STD, "", "git rebase -q other", History.REWRITE),
            Case.of("amend", Base.STD, "", "echo amended >> src/a.txt && git commit -q -a --amend -m 'main: a, amended'",
                    History.REWRITE),
            Case.of("cherry-pick", Base.STD, "", "git cherry-pick other >/dev/null", History.LINEAR,
                    "other: b, run.sh, link"),
            Case.of("cherry-pick-elsewhere", Base.STD, "",
                    "git checkout -q -b elsewhere other && git cherry-pick main >/dev/null", History.REWRITE),
            Case.of("stash-pop", Base.STD, "echo 'user edit' >> README.md",
                    "echo stashed >> src/a.txt && git stash -q && echo more >> src/b.txt && git stash pop -q",
                    History.NONE),
            Case.of("clean-fdx", Base.STD, "echo n > notes.txt && mkdir scratch && echo s > scratch/s.txt",
                    "git clean -q -fdx", History.NONE).bothModes(),
            Case.of("linear-commits", Base.STD, "",
                    "echo one >> src/a.txt && git commit -qam 'agent one' && echo two > two.txt && git add two.txt"
                            + " && git commit -qm 'agent two' && echo three >> README.md && echo u > u.txt",
                    History.LINEAR, "agent one", "agent two"),
            Case.of("commits-over-user-edits", Base.STD, "echo 'user edit' >> README.md && echo mine > user.txt",
                    "echo one >> src/a.txt && git add src/a.txt && git commit -qm 'agent one' && echo rest >> src/b.txt",
                    History.LINEAR, "agent one"),
            Case.of("submodule-bump", Base.SUPER, "",
                    "cd sub && echo s2 >> s.txt && git commit -qam 'sub work' && cd .. && git add sub"
                            + " && git commit -qm 'bump sub' && echo t2 >> top.txt && git -C sub rev-parse HEAD",
                    History.LINEAR, "bump sub"),
            Case.of("ignored-delete", Base.STD, "", "rm .env && rm -r build/cache && echo more >> README.md",
                    History.NONE).bothModes(),
            Case.of("ignored-edit", Base.STD, "", "echo NEW=2 >> .env && echo more >> README.md",
                    History.NONE).bothModes(),
            Case.of("ignored-unignore", Base.STD, "", "echo '!app.log' >> .gitignore && echo more >> app.log",
                    History.NONE).bothModes(),
            Case.of("ignored-dir-to-file", Base.STD, "", "rm -r build && echo b > build", History.NONE).bothModes(),
            Case.of("untracked-edit", Base.STD, UNTRACKED, "echo 'draft 3' >> draft.txt", History.NONE),
            Case.of("untracked-delete", Base.STD, UNTRACKED, "rm draft.txt", History.NONE),
            Case.of("untracked-rename", Base.STD, UNTRACKED, "mv draft.txt renamed.txt", History.NONE),
            Case.of("newline-name", Base.STD, "", "echo n > \"$(printf 'a\\nb')\"", History.NONE),
            Case.of("worktree-commit", Base.STD, "",
                    "echo wt >> src/a.txt && git add src/a.txt && git commit -qm 'agent in worktree' && echo rest >> src/b.txt",
                    History.LINEAR, "agent in worktree").inWorktree());

    /** The checks of one row, in table order. */
    enum Check {
        RUN("run"), APPLY("(a) apply"), AM("(b) patch+am"), COMMIT("(c) commit");

        final String title;

        Check(String title) {
            this.title = title;
        }
    }

    /** One case in one mode: where it lives and what went wrong, per check. */
    static final class Row {
        final Case c;
        final Mode mode;
        final String name;
        final Path dir;
        final Map<Check, List<String>> problems = new LinkedHashMap<>();
        String error;
        /** What the user's tree was at snapshot time (walked before the run), and its ignore rules. */
        SortedMap<String, String> orig;
        Set<String> ignoredInOrig;
        boolean userDirty;
        String base;

        Row(Case c, Mode mode, Path dir) {
            this.c = c;
            this.mode = mode;
            this.name = c.name() + (mode == Mode.INCLUDE_IGNORED ? "-i" : "");
            this.dir = dir;
            for (Check k : Check.values()) {
                problems.put(k, new ArrayList<>());
            }
        }

        String label() {
            return c.name() + (c.modes().size() > 1 ? " [" + mode.shown() + "]" : "");
        }

        /** The user's tree: the repository, or its linked worktree. */
        Path repo() {
            return dir.resolve("repo");
        }

        Path gt() {
            return dir.resolve("gt");
        }

        Path cleanClone() {
            return dir.resolve("clone");
        }

        boolean failed() {
            return error != null || problems.values().stream().anyMatch(l -> !l.isEmpty());
        }

        String cell(Check k) {
            if (error != null && problems.get(k).isEmpty()) {
                return "ERROR";
            }
            return problems.get(k).isEmpty() ? "PASS" : "FAIL";
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void fidelity_eachCaseNativeVsSandbox_applyPatchAndCommitEqualTheGroundTruth(Runner runner) {
        runner.assumeAvailable();
        String only = System.getProperty("fidelity.only", "");
        Set<String> chosen = only.isBlank() ? Set.of() : Set.of(only.split(","));
        for (String n : chosen) {
            if (CASES.stream().noneMatch(c -> c.name().equals(n))) {
                fail("-Dfidelity.only names no case '" + n + "'; the cases: "
                        + CASES.stream().map(Case::name).toList());
            }
        }
        long started = System.nanoTime();
        try (Workspace ws = Workspace.create(runner)) {
            Path tpl = ws.mkdir("tpl");
            Set<Base> made = new TreeSet<>();
            List<Row> rows = new ArrayList<>();
            for (Case c : CASES) {
                if (!chosen.isEmpty() && !chosen.contains(c.name())) {
                    continue;
                }
                for (Mode m : c.modes()) {
                    Row row = new Row(c, m, ws.mkdir("case-" + c.name() + (m == Mode.INCLUDE_IGNORED ? "-i" : "")));
                    rows.add(row);
                    if (made.add(c.base())) {
                        Proc.hostOk(tpl, "sh", "-c", "set -e; " + c.base().script);
                    }
                    try {
                        setUp(row, tpl.resolve(c.base().dir));
                    } catch (RuntimeException | AssertionError e) {
                        row.error = "setting up: " + e.getMessage();
                    }
                }
            }
            ws.own();
            Cli cli = new Cli(ws);
            for (Row row : rows) {
                if (row.error != null) {
                    continue;
                }
                long t = System.nanoTime();
                try {
                    runRow(ws, cli, row);
                } catch (RuntimeException | AssertionError e) {
                    row.error = e.getClass().getSimpleName() + ": " + e.getMessage();
                } finally {
                    cli.run(row.repo(), "rm", "--force", row.name);
                }
                System.out.printf("[%s] %s: %.1f s%n", runner, row.label(), (System.nanoTime() - t) / 1e9);
            }
            String table = table(runner, rows);
            System.out.println(table);
            System.out.printf("[%s] fidelity table: %.1f s%n", runner, (System.nanoTime() - started) / 1e9);
            List<String> failing = rows.stream().filter(Row::failed).map(Row::label).toList();
            if (!failing.isEmpty()) {
                fail(failing.size() + " of " + rows.size() + " rows fail as " + runner + ": " + failing + "\n" + table);
            }
        }
    }

    /**
     * Makes the row's user tree from the template (with the user's state), its ground-truth copy
     * and a clean clone of the base commit, and records the user's tree; all as the test, before
     * the workspace is handed to the runner.
     */
    private static void setUp(Row row, Path template) {
        Path repo = row.repo();
        if (row.c.worktree()) {
            Path main = row.dir.resolve("main");
            cp(template, main);
            git(main, "worktree", "add", "-q", "-b", "feature", repo.toString());
        } else {
            cp(template, repo);
        }
        if (!row.c.pre().isEmpty()) {
            Proc.hostOk(repo, "sh", "-c", "set -e; " + row.c.pre());
        }
        row.base = git(repo, "rev-parse", "HEAD");
        row.orig = listing(repo);
        row.ignoredInOrig = ignored(repo, row.orig.keySet());
        row.userDirty = !git(repo, "--no-optional-locks", "status", "--porcelain", "-z").isEmpty();
        if (row.c.worktree()) {
            // The copies point at each other as git worktree add would have made them ('git
            // worktree repair' would also point the user's worktree at the copy).
            Path gtMain = row.dir.resolve("gt-main");
            cp(row.dir.resolve("main"), gtMain);
            cp(repo, row.gt());
            String gitdir = Repos.read(repo.resolve(".git")).strip().replaceFirst("^gitdir: ", "");
            Path privateDir = gtMain.resolve(".git/worktrees").resolve(Path.of(gitdir).getFileName());
            Repos.write(row.gt(), ".git", "gitdir: " + privateDir + "\n");
            Repos.write(privateDir, "gitdir", row.gt().resolve(".git") + "\n");
            String common = git(row.gt(), "rev-parse", "--path-format=absolute", "--git-common-dir");
            if (!Path.of(common).equals(gtMain.resolve(".git"))) {
                fail("the copy of the worktree uses " + common + ", not its own copy of the repository");
            }
            Proc.hostOk(row.dir, "git", "clone", "-q", row.dir.resolve("main").toString(), row.cleanClone().toString());
        } else {
            cp(repo, row.gt());
            Proc.hostOk(row.dir, "git", "clone", "-q", repo.toString(), row.cleanClone().toString());
        }
        git(row.cleanClone(), "checkout", "-q", "--detach", row.base);
    }

    /** The agent's script natively and in a sandbox, then the three harvests, each judged against the ground truth. */
    private static void runRow(Workspace ws, Cli cli, Row row) {
        String script = row.c.script();
        Map<String, String> env = Host.cleanEnv(ws.home());
        env.putAll(AGENT_ENV);
        Proc.Result nat = Proc.run(ws.runner().argv(List.of("sh", "-c", script), env), row.gt(), env);
        if (nat.exitCode() != 0) {
            throw new AssertionError("the script fails natively (the case is wrong)" + nat.describe());
        }
        List<String> run = new ArrayList<>(List.of("run", "--name", row.name));
        AGENT_ENV.forEach((k, v) -> run.addAll(List.of("--env", k + "=" + v)));
        run.addAll(List.of("--", "sh", "-c", script));
        Proc.Result agent = cli.run(row.repo(), run.toArray(String[]::new));
        if (agent.exitCode() != 0) {
            row.problems.get(Check.RUN).add("sandbox run exits " + agent.exitCode() + ": " + lastLine(agent.stderr()));
        } else if (!agent.stdout().equals(nat.stdout())) {
            row.problems.get(Check.RUN).add("the script prints " + oneLine(agent.stdout()) + " in the sandbox, "
                    + oneLine(nat.stdout()) + " natively");
        }

        SortedMap<String, String> gt = listing(row.gt());
        Set<String> all = new TreeSet<>(gt.keySet());
        all.addAll(row.orig.keySet());
        Set<String> ignoredInGt = ignored(row.gt(), all);
        Set<String> changed = new TreeSet<>();
        for (String p : all) {
            if (!String.valueOf(gt.get(p)).equals(String.valueOf(row.orig.get(p)))) {
                changed.add(p);
            }
        }
        Set<String> ignoredChanged = new TreeSet<>(changed);
        ignoredChanged.retainAll(ignoredInGt);
        Set<String> onceIgnoredChanged = new TreeSet<>(changed);
        onceIgnoredChanged.retainAll(row.ignoredInOrig);
        onceIgnoredChanged.addAll(ignoredChanged);
        boolean include = row.mode == Mode.INCLUDE_IGNORED;
        // an ignored path that a path git does not ignore replaced (a file where an ignored
        // directory was) goes with that path, so it is taken, not left out and counted
        Set<String> leftOut = new TreeSet<>(ignoredChanged);
        leftOut.removeIf(p -> gt.keySet().stream().anyMatch(q -> !ignoredInGt.contains(q) && !q.equals(p)
                && nested(p, q)));

        SortedMap<String, String> tree = groundTruthTree(row, ignoredChanged.stream().filter(gt::containsKey).toList());
        patchAndAm(cli, row, tree, leftOut, onceIgnoredChanged);
        commit(cli, row, tree, leftOut, onceIgnoredChanged);

        SortedMap<String, String> expected = new TreeMap<>();
        gt.forEach((p, v) -> {
            if (include || !ignoredInGt.contains(p)) {
                expected.put(p, v);
            }
        });
        if (!include) { // the ignored paths stay as the user had them, where the agent's paths leave room
            row.orig.forEach((p, v) -> {
                if (ignoredInGt.contains(p) && expected.keySet().stream().noneMatch(q -> nested(p, q))) {
                    expected.put(p, v);
                }
            });
        }
        apply(cli, row, gt, expected, leftOut, onceIgnoredChanged);
    }

    /** (b): the patch series, and git am of it on the clean clone of B. */
    private static void patchAndAm(Cli cli, Row row, SortedMap<String, String> tree, Set<String> ignoredChanged,
            Set<String> onceIgnoredChanged) {
        List<String> problems = row.problems.get(Check.AM);
        Path patch = row.dir.resolve("p.patch");
        Proc.Result r = cli.run(row.repo(), args("patch", row.name, row.mode, "-o", patch.toString()));
        ignoredLine(row, r, "patch", ignoredChanged, onceIgnoredChanged, problems);
        if (r.exitCode() != 0) {
            problems.add("sandbox patch exits " + r.exitCode() + " (the trees differ): " + lastLine(r.stderr()));
            return;
        }
        String text = Files.exists(patch) ? Repos.read(patch) : "";
        if (!Pattern.compile("(?m)^From [0-9a-f]{40} ").matcher(text).find()) {
            problems.add("sandbox patch exits 0 with no patch in " + patch.getFileName() + " (" + text.length()
                    + " bytes)");
            return;
        }
        Proc.Result am = gitRun(row.cleanClone(), "am", "-q", patch.toString());
        if (am.exitCode() != 0) {
            problems.add("git am fails: " + firstLine(am.stderr() + am.stdout()));
            return;
        }
        SortedMap<String, String> clone = listing(row.cleanClone());
        for (Map.Entry<String, String> e : lsTree(row.cleanClone(), "HEAD", true).entrySet()) {
            clone.putIfAbsent(e.getKey(), e.getValue()); // gitlinks of a clone are empty directories
        }
        compare(tree, clone, row.orig, "the clone after git am", problems);
    }

    /** (c): the branch's tree, git fsck, and its first-parent chain. */
    private static void commit(Cli cli, Row row, SortedMap<String, String> tree, Set<String> ignoredChanged,
            Set<String> onceIgnoredChanged) {
        List<String> problems = row.problems.get(Check.COMMIT);
        Proc.Result r = cli.run(row.repo(), args("commit", row.name, row.mode));
        ignoredLine(row, r, "commit", ignoredChanged, onceIgnoredChanged, problems);
        if (r.exitCode() != 0) {
            problems.add("sandbox commit exits " + r.exitCode() + ": " + lastLine(r.stderr()));
            return;
        }
        String branch = "sandbox/" + row.name;
        if (gitRun(row.repo(), "rev-parse", "--verify", "-q", branch + "^{commit}").exitCode() != 0) {
            problems.add("no branch " + branch + " after commit: " + lastLine(r.stdout() + r.stderr()));
            return;
        }
        compare(tree, lsTree(row.repo(), branch, false), row.orig, branch + "'s tree", problems);
        Proc.Result fsck = gitRun(row.repo(), "fsck", "--strict", "--no-dangling");
        if (fsck.exitCode() != 0 || !fsck.stdout().isBlank() || !fsck.stderr().isBlank()) {
            problems.add("git fsck --strict: exit " + fsck.exitCode() + ", " + firstLine(fsck.stdout() + fsck.stderr()));
        }
        List<String> chain = List.of(git(row.repo(), "rev-list", "--first-parent", branch).split("\n"));
        if (!chain.contains(row.base)) {
            String tip = git(row.repo(), "log", "-1", "--format=%h %s", branch);
            problems.add("the first-parent chain of " + branch + " (" + chain.size() + " commits, tip " + tip
                    + ") does not reach the base commit " + row.base.substring(0, 12));
            return;
        }
        List<String> subjects = new ArrayList<>(Arrays.asList(
                git(row.repo(), "log", "--first-parent", "--reverse", "-z", "--format=%s", row.base + ".." + branch)
                        .split("\0")));
        subjects.removeIf(String::isEmpty);
        String shown = "B.." + branch + " is " + subjects;
        boolean hasU = !subjects.isEmpty() && subjects.get(0).equals(U_SUBJECT);
        if (row.userDirty && !hasU) {
            problems.add("the user's tree was dirty but the chain does not start with '" + U_SUBJECT + "': " + shown);
        } else if (!row.userDirty && hasU && onceIgnoredChanged.isEmpty()) {
            problems.add("'" + U_SUBJECT + "' although the user's tree was clean: " + shown);
        }
        List<String> agent = subjects.subList(hasU ? 1 : 0, subjects.size());
        switch (row.c.history()) {
            case LINEAR -> {
                if (agent.size() < row.c.subjects().size()
                        || !agent.subList(0, row.c.subjects().size()).equals(row.c.subjects())
                        || agent.size() > row.c.subjects().size() + 1) {
                    problems.add("the agent's commits " + row.c.subjects() + " are not kept (then at most one on top): "
                            + shown);
                }
            }
            case NONE, REWRITE -> {
                if (agent.size() != 1) {
                    problems.add("not one commit of the agent's work after B" + (row.userDirty ? " and U" : "") + ": "
                            + shown);
                }
            }
            default -> throw new IllegalStateException();
        }
    }

    /** (a): apply on the user's tree, which is then the expected listing (gitlinks aside). */
    private static void apply(Cli cli, Row row, SortedMap<String, String> gt, SortedMap<String, String> expected,
            Set<String> ignoredChanged, Set<String> onceIgnoredChanged) {
        List<String> problems = row.problems.get(Check.APPLY);
        Proc.Result r = cli.run(row.repo(), args("apply", row.name, row.mode));
        ignoredLine(row, r, "apply", ignoredChanged, onceIgnoredChanged, problems);
        if (r.exitCode() != 0) {
            problems.add("sandbox apply exits " + r.exitCode() + ": " + lastLine(r.stdout() + r.stderr()));
        }
        Set<String> gitlinks = new TreeSet<>();
        for (Map<String, String> m : List.of(gt, row.orig)) {
            m.forEach((p, v) -> {
                if (v.startsWith("160000 ")) {
                    gitlinks.add(p);
                }
            });
        }
        for (String link : gitlinks) {
            if (!Objects.equals(row.orig.get(link), gt.get(link))
                    && (r.stdout() + r.stderr()).lines().noneMatch(l -> l.contains(link))) {
                problems.add("apply leaves the new gitlink of '" + link + "' out without a line naming it");
            }
        }
        if (row.c.name().equals("newline-name") && (r.stdout() + r.stderr()).lines().noneMatch(l -> l.contains("\"a\\nb\""))) {
            problems.add("apply does not print the name \"a\\nb\" quoted on one line: " + oneLine(r.stdout()));
        }
        SortedMap<String, String> after = listing(row.repo());
        expected.keySet().removeAll(gitlinks);
        after.keySet().removeAll(gitlinks);
        compare(expected, after, row.orig, "the user's tree after apply", problems);
    }

    /**
     * Without --include-ignored, the line {@code N ignored paths changed} is due exactly when
     * ignored paths changed (by the ground truth's rules); a path ignored only at snapshot time
     * (un-ignored by the agent) may or may not count. With it, the line is not due.
     */
    private static void ignoredLine(Row row, Proc.Result r, String command, Set<String> ignoredChanged,
            Set<String> onceIgnoredChanged, List<String> problems) {
        boolean printed = r.stderrLines().stream().anyMatch(l -> IGNORED_LINE.matcher(l).find());
        if (row.mode == Mode.DEFAULT && !ignoredChanged.isEmpty() && !printed) {
            problems.add(command + " does not say 'N ignored paths changed (see --include-ignored)' ("
                    + quoteAll(ignoredChanged) + " changed)");
        } else if ((row.mode == Mode.INCLUDE_IGNORED || onceIgnoredChanged.isEmpty()) && printed) {
            problems.add(command + " says ignored paths changed: " + lastLine(r.stderr()));
        }
    }

    /**
     * The ground truth's tree, built by git in the native copy: the base commit's index,
     * {@code git add -A}, and with --include-ignored {@code git add -f} of the ignored paths the
     * agent touched that still exist.
     */
    private static SortedMap<String, String> groundTruthTree(Row row, List<String> ignoredTouched) {
        Path index = row.dir.resolve("gt.index");
        Map<String, String> env = Map.of("GIT_INDEX_FILE", index.toString());
        gitOk(row.gt(), env, "read-tree", row.base);
        gitOk(row.gt(), env, "add", "-A");
        if (row.mode == Mode.INCLUDE_IGNORED && !ignoredTouched.isEmpty()) {
            List<String> add = new ArrayList<>(List.of("add", "-f", "--"));
            add.addAll(ignoredTouched);
            gitOk(row.gt(), env, add.toArray(String[]::new));
        }
        String tree = gitOk(row.gt(), env, "write-tree").stdout().strip();
        return lsTree(row.gt(), tree, false);
    }

    /** Blob ids seen in working trees, with their content shortened, for failure messages. */
    private static final Map<String, String> PREVIEW = new ConcurrentHashMap<>();

    /**
     * Every file, symlink and submodule below {@code root} as git would record it: path to
     * {@code "100644 ID"} / {@code "100755 ID"} (blob id of the content), {@code "120000 ID"}
     * (blob id of the target), {@code "160000 ID"} (the submodule checkout's HEAD). {@code .git}
     * is left out; empty directories are not entries.
     */
    static SortedMap<String, String> listing(Path root) {
        SortedMap<String, String> out = new TreeMap<>();
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                    if (dir.equals(root)) {
                        return FileVisitResult.CONTINUE;
                    }
                    if (dir.getFileName().toString().equals(".git") && dir.getParent().equals(root)) {
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    if (Files.exists(dir.resolve(".git"), LinkOption.NOFOLLOW_LINKS)) {
                        Proc.Result head = gitRun(dir, "rev-parse", "HEAD");
                        if (head.exitCode() == 0) {
                            out.put(root.relativize(dir).toString(), "160000 " + head.stdout().strip());
                        }
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    if (file.getParent().equals(root) && file.getFileName().toString().equals(".git")) {
                        return FileVisitResult.CONTINUE; // a linked worktree's gitdir: file
                    }
                    String path = root.relativize(file).toString();
                    if (attrs.isSymbolicLink()) {
                        out.put(path, "120000 " + blob(Files.readSymbolicLink(file).toString()
                                .getBytes(StandardCharsets.UTF_8)));
                    } else if (attrs.isRegularFile()) {
                        int mode = (Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS);
                        out.put(path, ((mode & 0100) != 0 ? "100755 " : "100644 ") + blob(Files.readAllBytes(file)));
                    } else {
                        out.put(path, "other");
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** {@code git ls-tree -r} of {@code treeish} in the same form as {@link #listing}; only gitlinks if asked. */
    static SortedMap<String, String> lsTree(Path repo, String treeish, boolean gitlinksOnly) {
        SortedMap<String, String> out = new TreeMap<>();
        for (String entry : gitOk(repo, Map.of(), "ls-tree", "-r", "-z", "--full-tree", treeish).stdout().split("\0")) {
            if (entry.isEmpty()) {
                continue;
            }
            int tab = entry.indexOf('\t');
            String[] meta = entry.substring(0, tab).split(" ");
            if (!gitlinksOnly || meta[0].equals("160000")) {
                out.put(entry.substring(tab + 1), meta[0] + " " + meta[2]);
            }
        }
        return out;
    }

    /** The paths of {@code paths} that {@code repo}'s ignore rules ignore and its index does not track. */
    static Set<String> ignored(Path repo, Set<String> paths) {
        Set<String> out = new TreeSet<>();
        if (paths.isEmpty()) {
            return out;
        }
        try {
            Path list = Files.createTempFile(Host.base(), "paths-", ".z");
            try {
                Files.write(list, String.join("\0", paths).concat("\0").getBytes(StandardCharsets.UTF_8));
                Proc.Result r = Proc.host(repo, "sh", "-c",
                        "git -c safe.directory='*' check-ignore --no-index -z --stdin < \"$1\"", "sh", list.toString());
                if (r.exitCode() > 1) {
                    fail("git check-ignore" + r.describe());
                }
                for (String p : r.stdout().split("\0")) {
                    if (!p.isEmpty()) {
                        out.add(p);
                    }
                }
            } finally {
                Files.deleteIfExists(list);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.removeAll(Arrays.asList(gitOk(repo, Map.of(), "ls-files", "-z").stdout().split("\0")));
        return out;
    }

    /**
     * Adds one problem naming the paths that differ (at most 6 shown), if any; a path that is
     * as the user had it at snapshot time ({@code orig}) says so.
     */
    static void compare(SortedMap<String, String> expected, SortedMap<String, String> actual,
            SortedMap<String, String> orig, String what, List<String> problems) {
        Set<String> paths = new TreeSet<>(expected.keySet());
        paths.addAll(actual.keySet());
        List<String> diffs = new ArrayList<>();
        for (String p : paths) {
            String e = expected.get(p);
            String a = actual.get(p);
            if (e == null || !e.equals(a)) {
                diffs.add(quote(p) + " " + shown(a) + (Objects.equals(a, orig.get(p)) ? " as at snapshot" : "")
                        + " (ground truth: " + shown(e) + ")");
            }
        }
        if (!diffs.isEmpty()) {
            problems.add(what + " differs at " + diffs.size() + " path(s): "
                    + String.join("; ", diffs.subList(0, Math.min(6, diffs.size())))
                    + (diffs.size() > 6 ? "; ..." : ""));
        }
    }

    private static String shown(String v) {
        if (v == null) {
            return "absent";
        }
        String[] mi = v.split(" ");
        if (mi.length < 2) {
            return v;
        }
        String mode = switch (mi[0]) {
            case "100644" -> "file";
            case "100755" -> "exec";
            case "120000" -> "symlink";
            case "160000" -> "gitlink";
            default -> mi[0];
        };
        String preview = PREVIEW.get(mi[1]);
        return mode + " " + (mi[0].equals("160000") || preview == null ? mi[1].substring(0, 10) : preview);
    }

    private static String blob(byte[] content) {
        try {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            sha1.update(("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII));
            String id = HexFormat.of().formatHex(sha1.digest(content));
            String text = new String(content, 0, Math.min(content.length, 24), StandardCharsets.UTF_8);
            PREVIEW.putIfAbsent(id, quote(text) + (content.length > 24 ? "..." : ""));
            return id;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code p} in double quotes, newlines and quotes escaped, as git quotes names. */
    static String quote(String p) {
        return "\"" + p.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n").replace("\t", "\\t") + "\"";
    }

    private static String quoteAll(Set<String> paths) {
        return String.join(", ", paths.stream().map(FidelityIT::quote).toList());
    }

    /** Whether one path lies below the other (a file and a directory of the same name can't both be). */
    private static boolean nested(String a, String b) {
        return a.startsWith(b + "/") || b.startsWith(a + "/") || a.equals(b);
    }

    static String table(Runner runner, List<Row> rows) {
        int w = Math.max(28, rows.stream().mapToInt(r -> r.label().length()).max().orElse(0));
        StringBuilder out = new StringBuilder("\nFidelity table [" + runner + "] (issue 19)\n");
        out.append(String.format("%-" + w + "s", "case"));
        for (Check k : Check.values()) {
            out.append("  ").append(String.format("%-14s", k.title));
        }
        out.append("  row\n");
        for (Row r : rows) {
            out.append(String.format("%-" + w + "s", r.label()));
            for (Check k : Check.values()) {
                out.append("  ").append(String.format("%-14s", r.cell(k)));
            }
            out.append("  ").append(r.failed() ? "FAIL" : "PASS").append('\n');
        }
        for (Row r : rows) {
            if (r.error != null) {
                out.append("\n").append(r.label()).append(": ERROR (the harness): ").append(oneLine(r.error));
            }
            r.problems.forEach((k, list) -> list.forEach(
                    p -> out.append("\n").append(r.label()).append(" ").append(k.title).append(": ").append(p)));
        }
        return out.append('\n').toString();
    }

    private static String[] args(String command, String name, Mode mode, String... more) {
        List<String> a = new ArrayList<>(List.of(command, name));
        a.addAll(mode.flags());
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    private static void cp(Path from, Path to) {
        Proc.hostOk(from.getParent(), "cp", "-a", "--", from.toString(), to.toString());
    }

    /** git as the test's own user, on any repository (the runner's too), failing on error. */
    static String git(Path repo, String... args) {
        return gitOk(repo, Map.of(), args).stdout().strip();
    }

    static Proc.Result gitOk(Path repo, Map<String, String> extraEnv, String... args) {
        Proc.Result r = gitRun(repo, extraEnv, args);
        if (r.exitCode() != 0) {
            fail("git failed" + r.describe());
        }
        return r;
    }

    static Proc.Result gitRun(Path repo, String... args) {
        return gitRun(repo, Map.of(), args);
    }

    static Proc.Result gitRun(Path repo, Map<String, String> extraEnv, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-c", "safe.directory=*", "-c", "core.quotePath=true"));
        cmd.addAll(List.of(args));
        Map<String, String> env = new HashMap<>(Host.cleanEnv(Host.scratchHome()));
        env.putAll(extraEnv);
        return Proc.run(cmd, repo, env);
    }

    private static String firstLine(String s) {
        return s.strip().lines().findFirst().orElse("(no output)");
    }

    private static String lastLine(String s) {
        List<String> l = s.strip().lines().toList();
        return l.isEmpty() ? "(no output)" : l.get(l.size() - 1);
    }

    private static String oneLine(String s) {
        String t = s.strip().replace("\n", " | ");
        return t.length() > 400 ? t.substring(0, 400) + "..." : t;
    }
}
