package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.stream.Stream;
import java.util.zip.DeflaterOutputStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The "hostile upper" corpus of issue 18: everything inside a sandbox is the agent's, and the
 * harvest reads it with the user's rights. Each attack is planted by the agent itself in a
 * real sandbox (real overlayfs, real git), then every harvest command is run on it in the
 * order a user would, each with a time limit. Each must end in time with an exit code and
 * {@code sandbox: } lines, never a stack trace; no host file outside the layers that the attack
 * points at may be read (its last access is set long ago and must not move) or show in any
 * output, branch or object; the user's work tree and {@code .git} get nothing but what
 * {@code commit} and {@code apply} are for, no temporary object is left, and
 * {@code git fsck --strict} stays clean.
 *
 * <p>Each case collects every problem it finds before it fails, so that one run shows all that
 * is wrong with an attack; it prints how long each command took. The exact wording of warnings
 * is not asserted, only their shape: a line that starts {@link #STDERR_PREFIX} and names what
 * was left out.
 */
class HostileHarvestIT {
    /** How long one harvest command may take on any attack, from its start to its exit (issue 18). */
    static final Duration CALL_LIMIT = Duration.ofSeconds(20);
    /** How long {@code sandbox list} of six sandboxes, one of them hostile, may take (issue 18). */
    static final Duration LIST_LIMIT = Duration.ofSeconds(2);
    /** When the killed harvest is killed: well after the JVM started, well before it hashed 400 MiB. */
    static final Duration KILL_AFTER = Duration.ofMillis(2500);
    /** What every line a harvest command prints on stderr starts with. */
    static final String STDERR_PREFIX = "sandbox: ";
    /** How output names the file {@code bad\xffname.txt}: its bytes escaped as git quotes them. */
    static final String ESCAPED_BAD_NAME = "bad\\377name.txt";
    /** 0 done, 1 nothing to do or conflicts, 125 can't; 2 is for usage errors, which no call here makes. */
    static final Set<Integer> EXIT_CODES = Set.of(0, 1, 125);
    /** The variable that sets the largest file a harvest takes, in bytes (issue 18; default 1 GiB). */
    static final String MAX_FILE_ENV = "SANDBOX_HARVEST_MAX_FILE";

    /** The sandbox every attack is planted in. */
    static final String NAME = "x";
    /** The file every agent edits besides its attack: the ordinary work, which {@code diff} must show. */
    static final String EDIT = "src/a.txt";
    private static final String EDIT_SCRIPT = "echo 'an ordinary edit' >> " + EDIT;
    /** The agent commits once and prints the commit; {@code $f} is then its loose object's path. */
    private static final String AGENT_COMMIT = "echo 'agent work' >> README.md && git add README.md"
            + " && git commit -qm 'agent commit' && id=$(git rev-parse HEAD)"
            + " && f=.git/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-) && echo COMMIT=$id";
    /** More {@code ..} than any state directory is deep, so that the ref climbs to {@code /}. */
    private static final String CLIMB = "../".repeat(30);
    /**
     * The last access a host file gets when it is written. Older than its modification, so
     * that even on a relatime mount the first read of it moves it.
     */
    private static final FileTime LONG_AGO = FileTime.from(Instant.parse("2000-01-01T00:00:00Z"));

    /** The commands of a harvest, in the order they run: {@code apply} last before {@code rm}, then {@code gc}. */
    enum Step {
        LIST, LIST_JSON, DIFF, DIFF_STAT, PATCH, COMMIT, APPLY, RM, GC;

        String[] args(Path patch) {
            return switch (this) {
                case LIST -> new String[] {"list"};
                case LIST_JSON -> new String[] {"list", "--json"};
                case DIFF -> new String[] {"diff", NAME};
                case DIFF_STAT -> new String[] {"diff", "--stat", NAME};
                case PATCH -> new String[] {"patch", NAME, "-o", patch.toString()};
                case COMMIT -> new String[] {"commit", NAME};
                case APPLY -> new String[] {"apply", NAME};
                case RM -> new String[] {"rm", "--force", NAME};
                case GC -> new String[] {"gc"};
            };
        }

        String shown() {
            return String.join(" ", args(Path.of("FILE"))).replace(" " + NAME, "");
        }
    }

    /** The commands that hand over the agent's files, which must say what they left out. */
    private static final Set<Step> HANDING_OVER = EnumSet.of(Step.DIFF, Step.DIFF_STAT, Step.PATCH, Step.COMMIT,
            Step.APPLY);
    /** The commands that read the agent's commits. */
    private static final Set<Step> READING_COMMITS = EnumSet.of(Step.PATCH, Step.COMMIT);

    /** One attack: the agent's shell script, made for a scene, and what to learn from its output. */
    enum Attack {
        /** Issue 18 item 1: HEAD is a symbolic ref that climbs out of .git to a host file. */
        HEAD_REF_TO_HOST_FILE(s -> EDIT_SCRIPT + "; printf 'ref: %s\\n' "
                + q(climbTo(s.hostFile("canary.txt", s.canary() + "\n"))) + " > .git/HEAD"),
        /** Item 1, as a host file that names a real commit of the user's that no branch has. */
        HEAD_REF_TO_HOST_COMMIT_ID(s -> EDIT_SCRIPT + "; printf 'ref: %s\\n' "
                + q(climbTo(s.hostFile("commit-id", s.danglingCommit() + "\n"))) + " > .git/HEAD"),
        /** Item 2: a HEAD of 3 GiB, sparse. */
        HEAD_3G(s -> EDIT_SCRIPT + "; truncate -s 3G .git/HEAD"),
        /** Item 3: the loose object of the agent's commit is a FIFO. */
        LOOSE_OBJECT_FIFO(s -> AGENT_COMMIT + " && rm -f \"$f\" && mkfifo \"$f\" && " + EDIT_SCRIPT,
                Scene::objectOfAgentCommit),
        /** Item 3: the agent's {@code objects/info/alternates} is a FIFO. */
        ALTERNATES_FIFO(s -> AGENT_COMMIT + " && mkfifo .git/objects/info/alternates && " + EDIT_SCRIPT),
        /** Item 4: a sparse file of 200 GiB, above the default limit. */
        SPARSE_200G(s -> {
            s.leftOut.add("big.bin");
            return EDIT_SCRIPT + "; truncate -s 200G big.bin";
        }),
        /** Item 4's limit: a file of 3 MiB harvested with a limit of 1 MiB. */
        OVER_MAX_FILE(s -> {
            s.leftOut.add("three.bin");
            s.harvestEnv.put(MAX_FILE_ENV, "1048576");
            return EDIT_SCRIPT + "; head -c 3145728 /dev/urandom > three.bin";
        }, (s, r) -> s.forbidden.add(blobId(Repos.upper(s.repo, NAME).resolve("three.bin")))),
        /**
         * Item 5: 3,000 nested directories and a file at the bottom. Made by perl, whose chdir
         * is relative: sh's cd builds the absolute path, which fails beyond PATH_MAX (dash) or
         * takes minutes (bash).
         */
        DEEP_3000(s -> EDIT_SCRIPT + "; perl -e 'for (1 .. 3000) { mkdir \"d\" or die \"mkdir: $!\";"
                + " chdir \"d\" or die \"chdir: $!\" } open(my $f, \">\", \"bottom.txt\") or die \"$!\";"
                + " print $f \"bottom\\n\"'"),
        /** Item 6: commits whose trees hold {@code ..}, {@code .git/hooks/post-checkout} and {@code .GIT}. */
        BAD_TREE_NAMES(Scene::badTrees, Scene::badObjects),
        /** Item 7: a file whose name is not UTF-8. */
        NON_UTF8_NAME(s -> {
            s.badName = true;
            return EDIT_SCRIPT + "; echo work > \"$(printf 'bad\\377name.txt')\"";
        }),
        /** From the issue's corpus: HEAD names refs/heads/main, and refs/heads is a symlink to a host directory. */
        REFS_HEADS_SYMLINK(s -> {
            Path dir = s.hostFile("refs-heads/main", s.danglingCommit() + "\n").getParent();
            s.hostFiles.add(dir);
            return EDIT_SCRIPT + "; rm -rf .git/refs/heads && ln -s " + q(dir.toString()) + " .git/refs/heads";
        }),
        /** From the corpus: the agent's branch is only packed, in a sparse packed-refs of 2 GiB. */
        PACKED_REFS_2G(s -> AGENT_COMMIT + " && git pack-refs --all && truncate -s 2G .git/packed-refs && "
                + EDIT_SCRIPT),
        /**
         * From the corpus: a directory of 100,000 entries as a build leaves it, 99,000 object files the
         * user's {@code .gitignore} ignores and 1,000 new files that harvest, so that what
         * {@code apply} must write stays small. The object files are hard links to two empty
         * files (ext4 allows 65,000 links to one), which the walk can't tell from files:
         * 100,000 inodes take a busy test machine 15 s or more to create.
         */
        DIR_100K(s -> "mkdir many && cd many && for i in $(seq 1 1000); do echo $i > new-$i.txt; done"
                + " && : > 1.o && : > 49501.o && perl -e 'for my $i (2 .. 99000) { $i == 49501"
                + " or link($i <= 49500 ? \"1.o\" : \"49501.o\", \"$i.o\") or die \"$i: $!\" }'"
                + " && cd .. && " + EDIT_SCRIPT),
        /**
         * From the corpus, a file that grows while it is hashed: the agent appends a line of 1 KiB
         * to a file of 16 MiB about every millisecond all the time the harvest runs; a minute at
         * most, so that it stays below 80 MiB.
         */
        GROWING_FILE(s -> {
            s.background = true;
            return EDIT_SCRIPT + "; head -c 16777216 /dev/zero | tr '\\0' g > grow.txt; touch .ready;"
                    + " line=$(head -c 1023 /dev/zero | tr '\\0' l); i=0;"
                    + " while [ $i -lt 60000 ]; do echo \"$line\" >> grow.txt; sleep 0.001; i=$((i+1)); done";
        }),
        /** From the corpus: the loose object of the agent's commit is a symlink to a host file, a valid object. */
        LOOSE_OBJECT_SYMLINK(s -> AGENT_COMMIT + " && rm -f \"$f\" && ln -s " + q(s.canaryObject().toString())
                + " \"$f\" && " + EDIT_SCRIPT, Scene::objectOfAgentCommit);

        final Function<Scene, String> plant;
        final BiConsumer<Scene, Proc.Result> afterRun;

        Attack(Function<Scene, String> plant) {
            this(plant, (s, r) -> { });
        }

        Attack(Function<Scene, String> plant, BiConsumer<Scene, Proc.Result> afterRun) {
            this.plant = plant;
            this.afterRun = afterRun;
        }
    }

    /**
     * {@code -Dhostile.only=HEAD_3G,DEEP_3000} runs only the attacks named, for whoever works on
     * one of them; all of them run by default.
     */
    static Stream<Arguments> cases() {
        String only = System.getProperty("hostile.only", "");
        Set<String> chosen = only.isBlank() ? Set.of() : Set.of(only.split(","));
        List<Arguments> all = new ArrayList<>();
        for (Runner r : Runner.values()) {
            for (Attack a : Attack.values()) {
                if (chosen.isEmpty() || chosen.contains(a.name())) {
                    all.add(Arguments.of(r, a));
                }
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void hostileUpper_everyHarvestCommandEndsInTime_readsNothingOutside_leavesTheRepositoryClean(Runner runner,
            Attack attack) {
        runner.assumeAvailable();
        long started = System.nanoTime();
        try (Workspace ws = Workspace.create(runner)) {
            Scene s = new Scene(ws);
            String script = "set -e; " + attack.plant.apply(s);
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Running agent = null;
            try {
                long plantStart = System.nanoTime();
                if (s.background) {
                    agent = cli.start(s.repo, "run", "--name", NAME, "--", "sh", "-c", script);
                    awaitReady(s.repo, agent);
                } else {
                    Proc.Result r = cli.run(s.repo, "run", "--name", NAME, "--", "sh", "-c", script);
                    assertEquals(0, r.exitCode(), "the agent planted the attack" + r.describe());
                    attack.afterRun.accept(s, r);
                }
                s.times.put("plant", Duration.ofNanos(System.nanoTime() - plantStart));
                harvestAll(s, cli, agent);
            } finally {
                if (agent != null) {
                    agent.kill();
                }
            }
            System.out.printf("[%s] %s: %s; total %.1f s%n", runner, attack, s.timings(),
                    (System.nanoTime() - started) / 1e9);
            if (!s.problems.isEmpty()) {
                fail(s.problems.size() + " problem(s) with " + attack + " as " + runner + ":\n\n"
                        + String.join("\n\n", s.problems));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void list_oneHostileAmongFiveNormal_listsAllSix_aboutAsFastAsTheFiveAlone(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Set<String> names = new TreeSet<>();
            for (int i = 1; i <= 5; i++) {
                cli.runOk(repo, "run", "--name", "n" + i, "--", "sh", "-c", "echo " + i + " >> " + EDIT);
                names.add("n" + i);
            }
            // The baseline, in this process and on this machine as it is now: the five alone.
            List<String> problems = new ArrayList<>();
            Map<Boolean, Duration> alone = new HashMap<>();
            for (boolean json : new boolean[] {false, true}) {
                alone.put(json, bestOfThree(cli, repo, json, names, null, new ArrayList<>(), problems));
            }
            Proc.Result hostile = cli.run(repo, "run", "--name", "h", "--", "sh", "-c",
                    EDIT_SCRIPT + "; truncate -s 200G big.bin; truncate -s 3G .git/HEAD");
            assertEquals(0, hostile.exitCode(), "the agent planted the attack" + hostile.describe());
            names.add("h");

            List<String> report = new ArrayList<>();
            for (boolean json : new boolean[] {false, true}) {
                String what = json ? "list --json" : "list";
                // LIST_LIMIT on a quiet machine; on a busy one, twice the five alone. A list that
                // reads the hostile sandbox's 3 GiB HEAD or its 200 GiB file takes minutes.
                Duration base = alone.get(json);
                Duration limit = base != null && base.multipliedBy(2).compareTo(LIST_LIMIT) > 0 ? base.multipliedBy(2)
                        : LIST_LIMIT;
                List<String> took = new ArrayList<>();
                Duration best = bestOfThree(cli, repo, json, names, limit, took, problems);
                report.add(what + " " + String.join(", ", took) + " (the five alone: "
                        + (base == null ? "?" : seconds(base)) + ")");
                if (best != null && best.compareTo(limit) > 0) {
                    problems.add(what + " took " + seconds(best) + " at best, more than " + seconds(limit)
                            + " (twice the five alone, at least " + seconds(LIST_LIMIT) + ")");
                }
            }
            System.out.printf("[%s] list of 5 sandboxes and a hostile one: %s%n", runner, String.join("; ", report));
            if (!problems.isEmpty()) {
                fail(String.join("\n\n", problems));
            }
        }
    }

    /**
     * The best time of up to three {@code list} (or {@code list --json}) calls listing exactly
     * {@code names}, stopping early under {@code limit} (null: all three); each time goes to
     * {@code took}, a failed check to {@code problems} (then null when none succeeded).
     */
    private static Duration bestOfThree(Cli cli, Path repo, boolean json, Set<String> names, Duration limit,
            List<String> took, List<String> problems) {
        String[] args = json ? new String[] {"list", "--json"} : new String[] {"list"};
        Duration best = null;
        for (int attempt = 0; attempt < 3 && (limit == null || best == null || best.compareTo(limit) > 0); attempt++) {
            Proc.Timed t = cli.runTimed(repo, Map.of(), CALL_LIMIT, args);
            took.add(seconds(t.took()));
            try {
                assertFalse(t.timedOut(), "timed out after " + CALL_LIMIT.toSeconds() + " s" + t.result().describe());
                assertEquals(0, t.result().exitCode(), t.result().describe());
                Cli.assertNoStackTrace(t.result());
                assertStderrLines(t.result());
                assertEquals(names, json ? jsonNames(t.result()) : tableNames(t.result(), names),
                        "all are listed" + t.result().describe());
            } catch (AssertionError e) {
                problems.add(String.join(" ", args) + ": " + e.getMessage());
                break;
            }
            best = best == null || t.took().compareTo(best) < 0 ? t.took() : best;
        }
        return best;
    }

    /**
     * Issue 18 item 4: a harvest killed while it hashes a large file (within the limit) must not
     * leave a temporary object in the user's {@code .git/objects}, or must clean it up when
     * harvest commands run again.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void diff_killedWhileHashing_leavesNoTemporaryObjectOnceHarvestRunsAgain(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", NAME, "--", "sh", "-c", EDIT_SCRIPT + "; truncate -s 400M large.bin");

            Proc.Timed killed = cli.runTimed(repo, Map.of(), KILL_AFTER, "diff", "--stat", NAME);
            Proc.Timed again = cli.runTimed(repo, Map.of(), CALL_LIMIT, "diff", "--stat", NAME);
            Proc.Timed gc = cli.runTimed(repo, Map.of(), CALL_LIMIT, "gc");

            System.out.printf("[%s] diff --stat of 400 MiB: %s after %s; again %s; gc %s%n", runner,
                    killed.timedOut() ? "killed" : "done", seconds(killed.took()), seconds(again.took()),
                    seconds(gc.took()));
            if (!killed.timedOut()) { // so fast that nothing was killed: nothing to judge of a kill, the rest holds
                assertEquals(0, killed.result().exitCode(), killed.result().describe());
            }
            assertFalse(again.timedOut(), "timed out" + again.result().describe());
            assertEquals(0, again.result().exitCode(), again.result().describe());
            assertTrue(again.result().stdout().contains("large.bin"), again.result().describe());
            assertEquals(0, gc.result().exitCode(), gc.result().describe());
            assertEquals(List.of(), strayObjectFiles(repo), "no temporary object is left in .git/objects");
            cli.runOk(repo, "rm", "--force", NAME);
        }
    }

    /** Runs every harvest command on the planted sandbox and checks each, and the repository after them all. */
    private static void harvestAll(Scene s, Cli cli, Proc.Running agent) {
        Path patch = s.ws.dir().resolve("out").resolve(NAME + ".patch");
        Map<String, String> workTree = listing(s.repo, List.of(".git"));
        Map<String, String> gitDir = listing(s.repo.resolve(".git"), List.of("objects", "sandbox"));
        Map<String, String> outside = listing(s.ws.dir(), List.of("repo", "home", "out"));
        s.arm();
        Map<Step, Proc.Timed> done = new LinkedHashMap<>();
        for (Step step : Step.values()) {
            if (step == Step.APPLY) {
                s.check("before apply", () -> Repos.assertSameTree(new TreeMap<>(workTree),
                        new TreeMap<>(listing(s.repo, List.of(".git"))), "the user's work tree"));
            }
            if (step == Step.RM && agent != null) {
                agent.kill(); // rm refuses a running sandbox, rightly
            }
            Proc.Timed t = cli.runTimed(s.repo, s.harvestEnv, CALL_LIMIT, step.args(patch));
            s.times.put(step.shown(), t.took());
            done.put(step, t);
            judge(s, step, t, patch);
            if (step == Step.APPLY) {
                Set<String> agentsPaths = listing(Repos.upper(s.repo, NAME), List.of(".git")).keySet();
                Map<String, String> after = listing(s.repo, List.of(".git"));
                s.check("apply", () -> {
                    List<String> strange = after.keySet().stream()
                            .filter(p -> !after.get(p).equals(workTree.get(p)) && !agentsPaths.contains(p)).toList();
                    assertTrue(strange.isEmpty(), "apply wrote paths the agent never wrote: " + strange);
                });
            }
        }
        afterAll(s, done, patch, gitDir, outside);
    }

    /** What every command must do, and what this attack asks of the command. */
    private static void judge(Scene s, Step step, Proc.Timed t, Path patch) {
        Proc.Result r = t.result();
        String where = step.shown();
        if (t.timedOut()) {
            s.problems.add(where + ": did not end within " + CALL_LIMIT.toSeconds() + " s, killed" + r.describe());
        } else {
            s.check(where, () -> assertTrue(EXIT_CODES.contains(r.exitCode()), "exit code " + r.exitCode()
                    + " is not one of " + new TreeSet<>(EXIT_CODES) + r.describe()));
        }
        s.check(where, () -> Cli.assertNoStackTrace(r));
        s.check(where, () -> assertStderrLines(r));
        String patchText = step == Step.PATCH && Files.exists(patch) ? Repos.read(patch) : "";
        for (String canary : s.canaries) {
            s.check(where, () -> assertFalse((r.stdout() + r.stderr() + patchText).contains(canary),
                    "the canary '" + canary + "' shows" + r.describe()));
        }
        if (t.timedOut()) {
            return; // what it said so far is judged above; what it would have said is unknown
        }
        switch (step) {
            case LIST -> s.check(where, () -> assertEquals(Set.of(NAME), tableNames(r, Set.of(NAME)),
                    "the sandbox is listed" + r.describe()));
            case LIST_JSON -> s.check(where, () -> assertTrue(jsonNames(r).contains(NAME),
                    "the sandbox is listed" + r.describe()));
            case DIFF -> s.check(where, () -> assertTrue(r.stdout().contains(EDIT),
                    "the agent's ordinary edit of " + EDIT + " shows" + r.describe()));
            case PATCH -> s.check(where, () -> assertEquals(r.exitCode() == 0, Files.exists(patch),
                    "a patch file exactly when patch succeeds, never half of one" + r.describe()));
            case RM, GC -> s.check(where, () -> assertEquals(0, r.exitCode(),
                    "rm --force and gc remove whatever the agent left, however deep" + r.describe()));
            default -> {
            }
        }
        if (HANDING_OVER.contains(step)) {
            for (String path : s.leftOut) {
                s.check(where, () -> assertTrue(r.stderrLines().stream().anyMatch(l -> l.contains("'" + path + "'")
                        || l.contains(" " + path + " ") || l.endsWith(" " + path) || l.contains(path + ":")),
                        "a line on stderr names the left-out '" + path + "'" + r.describe()));
            }
            if (s.badName) {
                s.check(where, () -> assertTrue(mentionsBadName(s, step, r, patchText),
                        "'" + ESCAPED_BAD_NAME + "' is harvested or named" + r.describe()));
            }
        }
        if (READING_COMMITS.contains(step) && s.unreadableObject != null) {
            String id = s.unreadableObject;
            s.check(where, () -> assertTrue(r.stderr().contains(id.substring(0, 7))
                    || r.stderr().contains("objects/" + id.substring(0, 2) + "/"),
                    "stderr says the agent's commit " + id + " was left out or could not be read" + r.describe()));
        }
        if (s.editMustHarvest && (step == Step.COMMIT || step == Step.PATCH)) {
            s.check(where, () -> assertEquals(0, r.exitCode(), "the ordinary edit is harvested" + r.describe()));
            if (step == Step.PATCH) {
                s.check(where, () -> assertTrue(patchText.contains("b/" + EDIT), "the patch has the edit of " + EDIT));
            } else {
                s.check(where, () -> assertTrue(HarvestIT.git(s.repo, "diff", "--name-only", s.base, "sandbox/" + NAME)
                        .lines().anyMatch(EDIT::equals), "the branch has the edit of " + EDIT));
            }
        }
        if (s.badName && step == Step.LIST_JSON) {
            s.check(where, () -> assertEquals(2, listed(r).path("changes").asInt(-1),
                    "the edit and the file whose name is not UTF-8 are counted" + r.describe()));
        }
    }

    /** The checks of the repository and the host once every command ran. */
    private static void afterAll(Scene s, Map<Step, Proc.Timed> done, Path patch, Map<String, String> gitDir,
            Map<String, String> outside) {
        Path repo = s.repo;
        for (Path file : s.hostFiles) { // first: the checks below read directories
            s.check("host", () -> assertEquals(LONG_AGO, lastAccess(file), "nothing read the host file " + file
                    + " (a read would have moved its last access, even on a relatime mount)"));
        }
        if (!done.get(Step.RM).timedOut() && done.get(Step.RM).result().exitCode() == 0) {
            s.check("rm --force", () -> assertFalse(Files.exists(Repos.sandboxDir(repo, NAME),
                    LinkOption.NOFOLLOW_LINKS), "the sandbox is gone"));
        }
        s.check("gc", () -> assertEquals(List.of(), leftovers(repo), "rm and gc leave nothing in the state"));
        Proc.Result fsck = Proc.host(repo, "git", "-c", "safe.directory=*", "-C", repo.toString(), "fsck", "--strict",
                "--no-dangling");
        s.check("git fsck", () -> assertTrue(fsck.exitCode() == 0 && fsck.stdout().isEmpty()
                && fsck.stderr().isEmpty(), "git fsck --strict is clean" + fsck.describe()));
        s.check(".git/objects", () -> assertEquals(List.of(), strayObjectFiles(repo),
                "nothing but objects and packs in .git/objects (no temporary file, no link, no FIFO)"));
        s.check(".git", () -> {
            Map<String, String> now = listing(repo.resolve(".git"), List.of("objects", "sandbox"));
            List<String> changed = new TreeSet<>(union(gitDir.keySet(), now.keySet())).stream()
                    .filter(p -> !String.valueOf(gitDir.get(p)).equals(String.valueOf(now.get(p))))
                    .filter(p -> !p.startsWith("refs/heads/sandbox") && !p.startsWith("logs/refs/heads/sandbox"))
                    .toList();
            assertTrue(changed.isEmpty(), "the harvest changed nothing in .git but objects and sandbox/" + NAME
                    + "'s ref and log: " + changed);
        });
        s.check("outside", () -> Repos.assertSameTree(new TreeMap<>(outside),
                new TreeMap<>(listing(s.ws.dir(), List.of("repo", "home", "out"))),
                "the host files beside the repository"));
        s.check("outside", () -> assertTrue(Set.of(NAME + ".patch").containsAll(names(patch.getParent())),
                "only the patch is written where it was asked for: " + names(patch.getParent())));
        for (String canary : s.canaries) {
            s.check("objects", () -> assertEquals(0, objectsHolding(repo, canary),
                    "no object in the user's repository holds the canary '" + canary + "'"));
            Proc.Result grep = Proc.host(repo, "grep", "-r", "-l", "-a", "-D", "skip", "-F", "-e", canary,
                    "--exclude-dir=objects", "--exclude-dir=sandbox", repo.resolve(".git").toString());
            s.check("refs", () -> assertEquals("", grep.stdout(), "no ref, log or config holds the canary '"
                    + canary + "'" + grep.describe()));
        }
        for (String commit : s.hidden) {
            s.check("refs", () -> assertEquals("", HarvestIT.git(repo, "for-each-ref", "--contains", commit),
                    "no ref reaches the commit " + commit + " that only the host file named"));
        }
        for (String id : s.forbidden) {
            Proc.Result has = Proc.host(repo, "git", "-c", "safe.directory=*", "-C", repo.toString(), "cat-file", "-e",
                    id);
            s.check("objects", () -> assertTrue(has.exitCode() != 0,
                    "the agent's object " + id + " never enters the user's repository"));
        }
        for (String path : s.leftOut) {
            s.check("apply", () -> assertFalse(Files.exists(repo.resolve(path), LinkOption.NOFOLLOW_LINKS),
                    "the left-out '" + path + "' is not applied"));
            s.check("commit", () -> assertFalse(branchFiles(repo).contains(path),
                    "the left-out '" + path + "' is not committed"));
        }
    }

    /** Everything a harvest command prints on stderr is its own: {@code sandbox: ...}. */
    private static void assertStderrLines(Proc.Result r) {
        List<String> foreign = r.stderrLines().stream().filter(l -> !l.startsWith(STDERR_PREFIX)).toList();
        assertTrue(foreign.isEmpty(), "every line on stderr starts with '" + STDERR_PREFIX + "': " + foreign
                + r.describe());
    }

    /** Whether a command harvested the non-UTF-8 name or said it left it out. */
    private static boolean mentionsBadName(Scene s, Step step, Proc.Result r, String patchText) {
        if ((r.stdout() + r.stderr() + patchText).contains(ESCAPED_BAD_NAME)) {
            return true;
        }
        if (step == Step.COMMIT) {
            return branchFiles(s.repo).contains("\"" + ESCAPED_BAD_NAME + "\"");
        }
        return step == Step.APPLY
                && names(s.repo).stream().anyMatch(n -> n.startsWith("bad") && n.endsWith("name.txt"));
    }

    /** The files on the sandbox's branch, named as git quotes them; none when there is no branch. */
    private static Set<String> branchFiles(Path repo) {
        if (HarvestIT.git(repo, "branch", "--list", "sandbox/" + NAME).isEmpty()) {
            return Set.of();
        }
        return Set.copyOf(HarvestIT.git(repo, "ls-tree", "-r", "--name-only", "sandbox/" + NAME).lines().toList());
    }

    /** Waits until the background agent has planted its attack (it touches {@code .ready}). */
    private static void awaitReady(Path repo, Proc.Running agent) {
        Path ready = Repos.upper(repo, NAME).resolve(".ready");
        for (int i = 0; i < 600 && !Files.exists(ready) && agent.process().isAlive(); i++) {
            Proc.pause(50);
        }
        assertTrue(Files.exists(ready), "the agent started" + "\n" + agent.stdoutSoFar() + agent.stderrSoFar());
    }

    /**
     * Every entry below {@code dir} but the {@code pruned} top-level ones, as {@code find} sees
     * it (any depth, any name), each path mapped to its type and, for files and links, size,
     * modification time and target: what changes when anything writes there.
     */
    static Map<String, String> listing(Path dir, List<String> pruned) {
        List<String> cmd = new ArrayList<>(List.of("find", dir.toString()));
        if (!pruned.isEmpty()) {
            cmd.add("(");
            for (String p : pruned) {
                if (cmd.size() > 3) {
                    cmd.add("-o");
                }
                cmd.addAll(List.of("-path", dir.resolve(p).toString()));
            }
            cmd.addAll(List.of(")", "-prune", "-o"));
        }
        cmd.addAll(List.of("-printf", "%P\\t%y %s %T@ %l\\0"));
        Proc.Result r = Proc.hostOk(dir, cmd.toArray(String[]::new));
        Map<String, String> out = new TreeMap<>();
        for (String entry : r.stdout().split("\0")) {
            int tab = entry.indexOf('\t');
            if (tab > 0) {
                String what = entry.substring(tab + 1);
                out.put(entry.substring(0, tab), what.startsWith("d ") ? "d" : what);
            }
        }
        return out;
    }

    /** Files under {@code .git/objects} that are not loose objects, packs or git's own index files. */
    static List<String> strayObjectFiles(Path repo) {
        List<String> stray = new ArrayList<>();
        listing(repo.resolve(".git/objects"), List.of()).forEach((path, what) -> {
            boolean dir = what.equals("d") && path.matches("[0-9a-f]{2}|pack|info|info/commit-graphs");
            boolean file = what.startsWith("f ") && (path.matches("[0-9a-f]{2}/[0-9a-f]{38}")
                    || path.matches("pack/pack-[0-9a-f]{40}\\.(pack|idx|rev|bitmap|keep|promisor|mtimes)")
                    || path.matches("info/(packs|alternates|commit-graph)|info/commit-graphs/.*"));
            if (!dir && !file) {
                stray.add(path + " (" + what + ")");
            }
        });
        return stray;
    }

    /** Leftovers of a removal in the state: sandboxes' directories being deleted ({@code .rm-*}). */
    private static List<String> leftovers(Path repo) {
        Path sandboxes = Repos.stateDir(repo).resolve("sandboxes");
        return names(sandboxes).stream().filter(n -> n.startsWith(".rm-")).toList();
    }

    /** How many objects of the repository hold {@code text}, all read through git ({@code cat-file --batch}). */
    static int objectsHolding(Path repo, String text) {
        String script = "git -c safe.directory='*' -C \"$1\" cat-file --batch-all-objects"
                + " --batch-check='%(objectname) %(objectsize)' | awk '$2 < 268435456 { print $1 }'"
                + " | git -c safe.directory='*' -C \"$1\" cat-file --batch='%(objecttype) %(objectsize)'"
                + " | grep -c -a -F -e \"$2\""; // each object's header without its id, which may be a canary
        Proc.Result r = Proc.host(repo, "sh", "-c", script, "sh", repo.toString(), text);
        assertTrue(r.exitCode() == 0 || r.exitCode() == 1, "the object scan ran" + r.describe());
        return Integer.parseInt(r.stdout().strip());
    }

    private static Set<String> names(Path dir) {
        Set<String> names = new TreeSet<>();
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return names;
        }
        try (DirectoryStream<Path> all = Files.newDirectoryStream(dir)) {
            all.forEach(p -> names.add(p.getFileName().toString()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return names;
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> all = new TreeSet<>(a);
        all.addAll(b);
        return all;
    }

    private static Set<String> jsonNames(Proc.Result r) {
        Set<String> names = new TreeSet<>();
        for (JsonNode n : parse(r)) {
            names.add(n.path("name").asText());
        }
        return names;
    }

    private static JsonNode listed(Proc.Result r) {
        for (JsonNode n : parse(r)) {
            if (NAME.equals(n.path("name").asText())) {
                return n;
            }
        }
        return new ObjectMapper().createObjectNode();
    }

    private static JsonNode parse(Proc.Result r) {
        try {
            JsonNode all = new ObjectMapper().readTree(r.stdout());
            assertTrue(all != null && all.isArray(), "list --json prints an array" + r.describe());
            return all;
        } catch (IOException e) {
            throw new AssertionError("list --json printed no valid JSON: " + e.getMessage() + r.describe(), e);
        }
    }

    /** The {@code expected} names that start a line of the table. */
    private static Set<String> tableNames(Proc.Result r, Set<String> expected) {
        Set<String> found = new TreeSet<>();
        for (String line : r.stdoutLines()) {
            String first = line.strip().split("\\s+")[0];
            if (expected.contains(first)) {
                found.add(first);
            }
        }
        return found;
    }

    private static FileTime lastAccess(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).lastAccessTime();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A ref name that climbs out of {@code .git/refs} to the absolute {@code target}. */
    private static String climbTo(Path target) {
        return "refs/" + CLIMB + target.toString().substring(1);
    }

    private static String q(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    private static String seconds(Duration d) {
        return String.format("%.2f s", d.toNanos() / 1e9);
    }

    /** The id git gives {@code file}'s content as a blob. */
    private static String blobId(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            sha1.update(("blob " + Files.size(file) + "\0").getBytes(StandardCharsets.US_ASCII));
            sha1.update(in.readAllBytes());
            return HexFormat.of().formatHex(sha1.digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * One case's world: the user's repository, host files beside it that attacks point at, what
     * the checks must know of the attack, and the problems found so far.
     */
    static final class Scene {
        final Workspace ws;
        final Path repo;
        final String base;
        /** Strings that only host files outside the layers hold: none may show anywhere. */
        final List<String> canaries = new ArrayList<>();
        /** Commits of the user's that no branch has and only a host file names: no ref may reach them. */
        final List<String> hidden = new ArrayList<>();
        /** Objects of the agent's that must never enter the user's repository. */
        final List<String> forbidden = new ArrayList<>();
        /** Paths the harvest must leave out and name on stderr. */
        final List<String> leftOut = new ArrayList<>();
        /** Host files and directories an attack points at, whose last access {@link #arm} sets long ago. */
        final List<Path> hostFiles = new ArrayList<>();
        /** The environment of every harvest command. */
        final Map<String, String> harvestEnv = new TreeMap<>();
        /** The agent's commit whose object can't be read, which patch and commit must name. */
        String unreadableObject;
        boolean badName;
        boolean editMustHarvest;
        boolean background;
        final Map<String, Duration> times = new LinkedHashMap<>();
        final List<String> problems = new ArrayList<>();

        Scene(Workspace ws) {
            this.ws = ws;
            this.repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, ".gitignore", "*.o\n");
            Repos.git(repo, "add", ".gitignore");
            Repos.git(repo, "commit", "-q", "-m", "ignore build output");
            ws.mkdir("out"); // where the patch goes, the runner's once the workspace is handed over
            this.base = Repos.git(repo, "rev-parse", "HEAD");
        }

        /** A new unique string, a canary. */
        String canary() {
            String c = "CANARY-" + UUID.randomUUID();
            canaries.add(c);
            return c;
        }

        /** Writes a host file outside the repository, readable by the runner; returns its path. */
        Path hostFile(String rel, String content) {
            return hostFile(rel, content.getBytes(StandardCharsets.UTF_8));
        }

        Path hostFile(String rel, byte[] content) {
            Path p = ws.mkdir("host").resolve(rel);
            try {
                Files.createDirectories(p.getParent());
                Files.write(p, content);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            hostFiles.add(p);
            return p;
        }

        /**
         * Sets the last access of the host files to {@link #LONG_AGO}, once nothing of the
         * test's own will read them again (chown -R and find read directories): a read by a
         * harvest command would move it.
         */
        void arm() {
            for (Path p : hostFiles) {
                try {
                    Files.setAttribute(p, "lastAccessTime", LONG_AGO, LinkOption.NOFOLLOW_LINKS);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }

        /**
         * A commit in the user's repository that no branch has, with a file of its own: a canary
         * that git would take as a commit id.
         */
        String danglingCommit() {
            String blob = Proc.hostOk(repo, "sh", "-c", "echo 'only the dangling commit has this' "
                    + "| git hash-object -w --stdin").stdout().strip();
            String tree = Proc.hostOk(repo, "sh", "-c", "printf '100644 blob %s\\tdangling.txt\\n' \"$1\" | git mktree",
                    "sh", blob).stdout().strip();
            String commit = Repos.git(repo, "commit-tree", tree, "-p", base, "-m", "on no branch");
            canaries.add(commit);
            hidden.add(commit);
            return commit;
        }

        /**
         * A host file that is a valid loose commit object (zlib-compressed, git's format) whose
         * message is a canary: what a harvest that follows the agent's symlink would import.
         */
        Path canaryObject() {
            String body = "tree " + Repos.git(repo, "rev-parse", "HEAD^{tree}") + "\nparent " + base
                    + "\nauthor Canary <canary@example.invalid> 0 +0000"
                    + "\ncommitter Canary <canary@example.invalid> 0 +0000"
                    + "\n\n" + canary() + "\n";
            byte[] raw = ("commit " + body.length() + "\0" + body).getBytes(StandardCharsets.US_ASCII);
            ByteArrayOutputStream zipped = new ByteArrayOutputStream();
            try (DeflaterOutputStream z = new DeflaterOutputStream(zipped)) {
                z.write(raw);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return hostFile("object", zipped.toByteArray());
        }

        /** Item 6's agent: three commits, each tree with one entry git refuses, on its branch, and an ordinary edit. */
        String badTrees() {
            editMustHarvest = true;
            String marker = canary();
            return EDIT_SCRIPT + "\n"
                    // a tree entry as git stores it: "MODE NAME\0" and the id's 20 bytes
                    + "raw() { h=$1; o=''; while [ -n \"$h\" ]; do p=${h%\"${h#??}\"}; h=${h#??};"
                    + " o=\"$o$(printf '\\\\%03o' \"0x$p\")\"; done; printf \"$o\"; }\n"
                    + "entry() { printf '%s %s\\0' \"$1\" \"$2\"; raw \"$3\"; }\n"
                    + "base() { git ls-tree HEAD | while IFS=$(printf '\\t') read -r meta name; do set -- $meta;"
                    + " m=$1; [ \"$m\" = 040000 ] && m=40000; entry \"$m\" \"$name\" \"$3\"; done; }\n"
                    + "tree() { git hash-object --literally -t tree -w --stdin; }\n"
                    // the marker is the blob's content, and split in the script, which list shows
                    + "b=$(echo " + marker.substring(0, 3) + "''" + marker.substring(3)
                    + " | git hash-object -w --stdin)\n"
                    + "dotdot=$({ entry 100644 .. $b; base; } | tree)\n"
                    + "hooks=$(entry 100755 post-checkout $b | tree)\n"
                    + "dotgitdir=$(entry 40000 hooks $hooks | tree)\n"
                    + "dotgit=$({ entry 40000 .git $dotgitdir; base; } | tree)\n"
                    + "upper=$({ entry 100644 .GIT $b; base; } | tree)\n"
                    + "c1=$(git commit-tree $dotdot -p HEAD -m 'tree with ..')\n"
                    + "c2=$(git commit-tree $dotgit -p $c1 -m 'tree with .git/hooks')\n"
                    + "c3=$(git commit-tree $upper -p $c2 -m 'tree with .GIT')\n"
                    + "git update-ref refs/heads/main $c3\n"
                    + "echo BAD=$b $dotdot $hooks $dotgitdir $dotgit $upper $c1 $c2 $c3\n";
        }

        /** Item 6: the ids the agent printed, none of which may enter the user's repository. */
        void badObjects(Proc.Result r) {
            List<String> ids = agentSaid(r, "BAD");
            assertEquals(9, ids.size(), "the agent made its bad history" + r.describe());
            for (String id : ids) {
                assertTrue(id.matches("[0-9a-f]{40}"), id + r.describe());
            }
            forbidden.addAll(ids);
        }

        /** Items 3 and 12: the agent's commit, whose loose object it replaced. */
        void objectOfAgentCommit(Proc.Result r) {
            List<String> ids = agentSaid(r, "COMMIT");
            assertTrue(ids.size() == 1 && ids.get(0).matches("[0-9a-f]{40}"), "the agent committed" + r.describe());
            unreadableObject = ids.get(0);
        }

        private static List<String> agentSaid(Proc.Result r, String key) {
            return r.stdoutLines().stream().filter(l -> l.startsWith(key + "="))
                    .flatMap(l -> Stream.of(l.substring(key.length() + 1).strip().split(" "))).toList();
        }

        /** Runs an assertion and records its failure rather than ending the case. */
        void check(String where, Runnable assertion) {
            try {
                assertion.run();
            } catch (AssertionError e) {
                problems.add(where + ": " + e.getMessage());
            }
        }

        String timings() {
            List<String> parts = new ArrayList<>();
            times.forEach((what, took) -> parts.add(what + " " + seconds(took)));
            return String.join(", ", parts);
        }
    }
}
