package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Layered snapshots (docs/ARCHITECTURE.md §13) on a filesystem that can't clone files:
 * a loop-mounted ext4 the test makes as root, used by root and by the unprivileged user. A
 * chain of edit-and-run rounds must give, in every new sandbox, a merged view equal to the
 * user's tree of that moment (read from inside the sandbox), with a bounded depth and a
 * one-file edit costing a small delta; gc must keep the parents of a kept delta; a launcher
 * killed during a delta copy or a compaction must leave the previous snapshots usable and
 * only a leftover that no run picks and gc deletes.
 */
class LayeredSnapshotIT {
    /** The bound on a snapshot's layer depth (issue 22). */
    private static final int MAX_DEPTH = 8;
    /** What a delta of a few small files may take on disk: its directory, all in. */
    private static final long SMALL_DELTA_KIB = 1024;
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Every entry of the working tree but .git, as type, mode, size (files), link target,
     * then the SHA-256 of every regular file but the sparse one (its size is listed, and
     * whether it holds more than 1 MiB of blocks); then what git says of the tree. The same
     * script runs on the user's tree and inside the sandbox, so the outputs must be equal.
     */
    private static final String GIT_PART = "--- what git says";
    private static final String DESCRIBE = "export LC_ALL=C; "
            + "find . -path ./.git -prune -o -type f -printf 'f %m %s %p\\n' -o -printf '%y %m %p %l\\n' | sort; "
            + "find . -path ./.git -prune -o -type f ! -path ./build/sparse.img -print0 | sort -z"
            + " | xargs -0 -r sha256sum; "
            + "if [ -e build/sparse.img ]; then"
            + " if [ \"$(du -k build/sparse.img | cut -f1)\" -le 1024 ]; then echo sparse-small;"
            + " else echo sparse-BIG; fi; fi; "
            + "echo '" + GIT_PART + "'; git --no-optional-locks rev-parse HEAD; "
            + "git --no-optional-locks status --porcelain=v1 --ignored -uall | sort";

    /** One round of the chain: what the user does to the tree before the next run. */
    private record Round(String name, String script) {
    }

    private static final List<Round> ROUNDS = List.of(
            new Round("one-file edit", "echo edit1 >> src/d00/f000.txt"),
            new Round("deleted files and a deleted dir",
                    "rm src/d01/f010.txt src/d01/f011.txt && rm -rf src/d02 && rm build/out1.bin"),
            new Round("dir to file", "rm -rf src/d03 && echo now-a-file > src/d03"),
            new Round("file to dir", "rm src/d04/f040.txt && mkdir -p src/d04/f040.txt/deeper/x"
                    + " && echo inner > src/d04/f040.txt/inner && echo deep > src/d04/f040.txt/deeper/x/y"),
            new Round("renamed dirs", "mv src/d05 src/d05-renamed && mv src/d06 src/d05"),
            new Round("symlinks", "ln -s src/d00 linkdir && ln -sfn run.sh link && ln -s does/not/exist dangling"
                    + " && rm -rf src/d07 && ln -s d00 src/d07"),
            new Round("modes and a sparse file", "chmod +x run.sh && chmod 600 src/d08/f080.txt && chmod 700 src/d08"
                    + " && chmod 750 data && truncate -s 1G build/sparse.img"),
            new Round("one-file edit", "echo edit8 >> README.md"),
            new Round("sparse file grows, dir renamed back, touch, new file",
                    "truncate -s 2G build/sparse.img"
                            + " && printf x | dd of=build/sparse.img bs=1 seek=1500000000 conv=notrunc status=none"
                            + " && mv src/d05-renamed src/d06 && touch src/d09/f090.txt && echo new > src/d09/new.txt"),
            new Round("one-file edit", "echo edit10 >> src/d00/f001.txt"));

    @ParameterizedTest
    @EnumSource(Runner.class)
    void tenRounds_eachMergedViewIsTheUsersTree_depthBounded_smallDeltas_gcKeepsParents(Runner runner)
            throws IOException {
        onLoopExt4(runner, repo -> { }, (ws, cli, repo) -> {
            Map<String, String> views = new LinkedHashMap<>(); // sandbox -> its merged view at its start
            List<String> gitMismatches = new ArrayList<>();
            runAndCompare(ws, cli, repo, "r0", views, gitMismatches);
            JsonNode first = snapshotOf(cli, repo, "r0");
            assertEquals("copy", cli.listed(repo, "r0").path("strategy").asText(), "ext4 can't clone");
            assertEquals(0, first.path("depth").asInt(-1), "the first snapshot is a full one" + first);

            int deltas = 0;
            for (int i = 1; i <= ROUNDS.size(); i++) {
                Round round = ROUNDS.get(i - 1);
                Proc.Result changed = asRunner(ws, cli, repo, round.script());
                assertEquals(0, changed.exitCode(), "round " + i + " (" + round.name() + ")" + changed.describe());
                String name = "r" + i;
                runAndCompare(ws, cli, repo, name, views, gitMismatches);

                JsonNode snap = snapshotOf(cli, repo, name);
                int depth = snap.path("depth").asInt(-1);
                assertTrue(depth >= 0 && depth <= MAX_DEPTH, "round " + i + ": depth " + depth + snap);
                boolean delta = !snap.path("parent").isNull() && !snap.path("parent").isMissingNode();
                assertEquals(delta, depth > 0, "a delta has a parent and a depth" + snap);
                if (delta) {
                    deltas++;
                }
                if (i == 1) {
                    assertTrue(delta, "a one-file edit on a full snapshot with a manifest makes a delta" + snap);
                }
                if (delta) { // every round changes a few small files (the sparse one has no data)
                    long kib = duKib(snapshotDir(repo, snap.path("id").asText()));
                    assertTrue(kib <= SMALL_DELTA_KIB, "round " + i + " (" + round.name() + "): the delta takes "
                            + kib + " KiB (at most " + SMALL_DELTA_KIB + ")");
                }
            }
            assertTrue(deltas >= ROUNDS.size() / 2, "most rounds made deltas, only " + deltas + " did");

            gcKeepsTheParentsOfTheDeepestSandbox(ws, cli, repo, views);
            assertGitAgreed(gitMismatches);
        });
    }

    /**
     * Keeps only the sandbox on the deepest delta, runs gc, then: every ancestor of its
     * snapshot is still there, the sandbox starts again on the same merged view, and its
     * agent's file is harvested.
     */
    private static void gcKeepsTheParentsOfTheDeepestSandbox(Workspace ws, Cli cli, Path repo,
            Map<String, String> views) throws IOException {
        String deepest = null;
        int deepestDepth = -1;
        for (String name : views.keySet()) {
            int d = snapshotOf(cli, repo, name).path("depth").asInt();
            if (d > deepestDepth) {
                deepest = name;
                deepestDepth = d;
            }
        }
        assertTrue(deepestDepth >= 2, "the chain reached a delta on a delta (deepest " + deepestDepth + ")");
        List<String> chain = new ArrayList<>();
        for (String id = snapshotOf(cli, repo, deepest).path("id").asText(); id != null; ) {
            chain.add(id);
            JsonNode parent = readSnapshot(repo, id).path("parent");
            id = parent.isTextual() ? parent.asText() : null;
        }
        assertEquals(deepestDepth + 1, chain.size(), "the parent chain of " + deepest + ": " + chain);
        for (String name : views.keySet()) {
            if (!name.equals(deepest)) {
                cli.runOk(repo, "rm", "--force", name);
            }
        }

        cli.runOk(repo, "gc");

        Set<String> left = Repos.snapshotIds(repo);
        assertTrue(left.containsAll(chain), "gc kept every layer of " + deepest + ": " + chain + ", left " + left);
        Proc.Result again = cli.run(repo, "start", deepest, "--", "sh", "-c", DESCRIBE);
        assertEquals(0, again.exitCode(), again.describe());
        assertEquals(views.get(deepest), withoutAgent(deepest, again.stdout()),
                "after gc, " + deepest + " still sees its merged view");
        assertEquals(Set.of(agentFile(deepest)), Set.copyOf(cli.runOk(repo, "diff", "--name-only", deepest)
                .stdoutLines()), "the harvest reads the layered lower");
        cli.runOk(repo, "commit", deepest);
        assertEquals(deepest, HarvestIT.git(repo, "show", "sandbox/" + deepest + ":" + agentFile(deepest)));
        cli.runOk(repo, "rm", deepest);
        cli.runOk(repo, "gc");
        assertEquals(Set.of(), Repos.snapshotIds(repo), "with no sandbox left, gc deletes the whole chain");
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void killDuringADeltaOrACompaction_previousSnapshotsServe_noHalfSnapshotIsPicked_gcRemovesIt(Runner runner)
            throws IOException {
        // the big data, so that the big change below is still a delta
        onLoopExt4(runner, repo -> bigData(repo.resolve("data/big"), 64), (ws, cli, repo) -> {
            Proc.Result bulk = asRunner(ws, cli, repo, "mkdir bulk && cd bulk && awk 'BEGIN {"
                    + " for (i = 0; i < 40000; i++) { d = sprintf(\"d%03d\", int(i / 100));"
                    + " if (i % 100 == 0) system(\"mkdir \" d); f = sprintf(\"%s/f%05d\", d, i);"
                    + " printf \"file %d\\n\", i > f; close(f) } }'");
            assertEquals(0, bulk.exitCode(), bulk.describe());
            Map<String, String> views = new LinkedHashMap<>();
            List<String> gitMismatches = new ArrayList<>();
            runAndCompare(ws, cli, repo, "a0", views, gitMismatches);
            assertEquals(0, asRunner(ws, cli, repo, "echo edit >> README.md").exitCode());
            runAndCompare(ws, cli, repo, "a1", views, gitMismatches);
            assertTrue(snapshotOf(cli, repo, "a1").path("depth").asInt() > 0, "a1 is on a delta");
            Set<String> before = Repos.snapshotIds(repo);

            // a big change that is still a delta (under a quarter of the files and bytes):
            // 9,000 of the 40,000 bulk files rewritten with 1 KiB each, a copy that takes a while
            Proc.Result many = asRunner(ws, cli, repo, "cd bulk && awk 'BEGIN {"
                    + " s = sprintf(\"%1024s\", \"x\"); for (i = 0; i < 9000; i++) {"
                    + " f = sprintf(\"d%03d/f%05d\", int(i / 100), i); print s > f; close(f) } }'");
            assertEquals(0, many.exitCode(), many.describe());

            Path snapshots = Repos.stateDir(repo).resolve("snapshots");
            Proc.Running run = cli.start(repo, "run", "--name", "k", "--", "true");
            Path tmp = null;
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (tmp == null && run.process().isAlive() && System.nanoTime() < deadline) {
                tmp = copyingTmp(snapshots);
                if (tmp == null) {
                    Proc.pause(5);
                }
            }
            assertTrue(tmp != null && run.process().isAlive(), "the run was seen copying into a .tmp-* "
                    + "directory before it ended (make the change bigger if this fails)");
            Proc.pause(20);
            run.kill(); // SIGKILL to the launcher and everything it started

            assertEquals(before, Repos.snapshotIds(repo), "no new snapshot after the kill");
            assertTrue(leftovers(snapshots).size() >= 1, "the half copy is left as .tmp-*");
            Proc.Result old = cli.run(repo, "start", "a1", "--", "sh", "-c", DESCRIBE);
            assertEquals(0, old.exitCode(), old.describe());
            assertEquals(views.get("a1"), withoutAgent("a1", old.stdout()),
                    "the previous snapshot serves its sandbox as before");

            // a new run's merged view is the user's tree: no half layer in it
            runAndCompare(ws, cli, repo, "b", views, gitMismatches);
            String picked = snapshotOf(cli, repo, "b").path("id").asText();
            assertFalse(picked.startsWith("."), "the run picked " + picked);
            assertNotEquals(Set.of(), Repos.snapshotIds(repo));

            // kill -9 during a compaction: the 4th delta's run compacts it while its agent runs
            assertEquals(0, asRunner(ws, cli, repo, "echo c >> README.md").exitCode());
            runAndCompare(ws, cli, repo, "c", views, gitMismatches);
            assertEquals(0, asRunner(ws, cli, repo, "echo d >> README.md").exitCode());
            String userNow = treePart(asRunner(ws, cli, repo, DESCRIBE).stdout());
            Set<String> beforeD = Repos.snapshotIds(repo);
            Proc.Running d = cli.start(repo, "run", "--name", "d", "--", "sleep", "50");
            Path compacting = null;
            deadline = System.nanoTime() + 50_000_000_000L;
            while (compacting == null && d.process().isAlive() && System.nanoTime() < deadline) {
                compacting = Repos.snapshotIds(repo).size() > beforeD.size() ? copyingTmp(snapshots) : null;
                if (compacting == null) {
                    Proc.pause(5);
                }
            }
            int depthD = snapshotOf(cli, repo, "d").path("depth").asInt();
            assertTrue(compacting != null && d.process().isAlive(), "d (depth " + depthD + ") was seen "
                    + "compacting into a .tmp-* directory while its agent ran");
            Set<String> withD = Repos.snapshotIds(repo);
            Proc.pause(20);
            d.kill();

            assertEquals(withD, Repos.snapshotIds(repo), "no compacted snapshot came in after the kill");
            Proc.Result dAgain = cli.run(repo, "start", "d", "--", "sh", "-c", DESCRIBE);
            assertEquals(0, dAgain.exitCode(), dAgain.describe());
            assertEquals(userNow, treePart(dAgain.stdout()), "d's snapshot serves it after the kill");
            assertEquals(0, asRunner(ws, cli, repo, "echo e >> README.md").exitCode());
            runAndCompare(ws, cli, repo, "e", views, gitMismatches);

            cli.run(repo, "rm", "--force", "k"); // the killed run's sandbox record, if it got one
            cli.runOk(repo, "gc");
            assertEquals(List.of(), leftovers(snapshots), "gc deleted the leftovers");
            Proc.Result after = cli.run(repo, "start", "b", "--", "sh", "-c", DESCRIBE);
            assertEquals(0, after.exitCode(), after.describe());
            assertGitAgreed(gitMismatches);
        });
    }

    /**
     * A tracked file rewritten to the same size with its mtime set back, as {@code cp -p},
     * {@code rsync -t} or {@code tar x} leave it: same inode, size and mtime, only its ctime
     * moved. The next sandbox must see the new content (the scan's fingerprint and the
     * delta's diff count ctime), and git inside must say it is modified, as the user's git
     * does (the index refresh does not take it for clean). Once alone (the snapshot would be
     * reused), once beside an ordinary edit (a delta is taken, and must copy it).
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void aSameSizeRewriteWithItsMtimeSetBack_isSeenInTheNextSandbox_andGitThereSaysModified(Runner runner)
            throws IOException {
        onLoopExt4(runner, repo -> { }, (ws, cli, repo) -> {
            Map<String, String> views = new LinkedHashMap<>();
            List<String> gitMismatches = new ArrayList<>();
            runAndCompare(ws, cli, repo, "p0", views, gitMismatches);

            assertEquals(0, asRunner(ws, cli, repo, rewriteKeepingMtime("src/d00/f000.txt")).exitCode());
            runAndCompare(ws, cli, repo, "p1", views, gitMismatches);
            assertTrue(views.get("p1").contains(" M src/d00/f000.txt\n"), "git inside says modified: "
                    + views.get("p1"));
            assertNotEquals(snapshotOf(cli, repo, "p0").path("id").asText(),
                    snapshotOf(cli, repo, "p1").path("id").asText(), "a new snapshot, not p0's reused");

            assertEquals(0, asRunner(ws, cli, repo, "echo edit >> README.md && "
                    + rewriteKeepingMtime("src/d01/f010.txt")).exitCode());
            runAndCompare(ws, cli, repo, "p2", views, gitMismatches);
            JsonNode p2 = snapshotOf(cli, repo, "p2");
            assertTrue(p2.path("depth").asInt() > 0, "p2 is a delta" + p2);
            assertTrue(views.get("p2").contains(" M src/d01/f010.txt\n"), "git inside says modified: "
                    + views.get("p2"));
            assertGitAgreed(gitMismatches);
        });
    }

    /**
     * A script that rewrites {@code file} (one of {@link #base}'s, "file N\nline two\n") to
     * the same size in place and sets its times back ({@code touch -r}, from a copy of its
     * times kept outside the tree), after the clock has moved on.
     */
    private static String rewriteKeepingMtime(String file) {
        return "ref=$(mktemp) && touch -r " + file + " \"$ref\"" + " && sleep 0.05"
                + " && tr a-z A-Z < " + file + " > \"$ref.new\" && cat \"$ref.new\" > " + file
                + " && touch -r \"$ref\" " + file + " && rm \"$ref\" \"$ref.new\"";
    }

    /**
     * Starts sandbox {@code name}, which describes its merged view before writing its agent's
     * file; asserts the view is the user's tree as described on the host right before.
     */
    private static void runAndCompare(Workspace ws, Cli cli, Path repo, String name, Map<String, String> views,
            List<String> gitMismatches) {
        Proc.Result user = asRunner(ws, cli, repo, DESCRIBE);
        assertEquals(0, user.exitCode(), user.describe());
        Proc.Result inside = cli.run(repo, "run", "--name", name, "--", "sh", "-c",
                DESCRIBE + "; echo " + name + " > " + agentFile(name));
        assertEquals(0, inside.exitCode(), inside.describe());
        String[] want = user.stdout().split(GIT_PART, 2);
        String[] got = inside.stdout().split(GIT_PART, 2);
        assertTrue(want.length == 2 && got.length == 2, "both descriptions are whole" + user.describe()
                + inside.describe());
        assertEquals(want[0], got[0], name + ": the sandbox's merged view is the user's tree");
        assertTrue(user.stdout().contains(" ./README.md\n"), "the description lists files" + user.describe());
        if (!want[1].equals(got[1])) { // reported at the end, so that the layers' checks run first
            gitMismatches.add(name + ": the user's git says" + want[1] + "the sandbox's git says" + got[1]);
        }
        views.put(name, inside.stdout());
    }

    /** The part of a description that lists the tree, without what git says. */
    private static String treePart(String description) {
        return description.split(GIT_PART, 2)[0];
    }

    /** Fails with what git inside the sandboxes saw differently from the user's git. */
    private static void assertGitAgreed(List<String> gitMismatches) {
        assertEquals(List.of(), gitMismatches, "git inside each sandbox sees the user's tree as the user's git does");
    }

    private static String agentFile(String name) {
        return "agent-" + name + ".txt";
    }

    /** A description taken in sandbox {@code name} started again, without its agent's file. */
    private static String withoutAgent(String name, String description) {
        StringBuilder out = new StringBuilder();
        description.lines().filter(l -> !l.contains(agentFile(name))).forEach(l -> out.append(l).append('\n'));
        return out.toString();
    }

    /** A shell script run in {@code cwd} as the runner's identity (so the user's files stay theirs). */
    private static Proc.Result asRunner(Workspace ws, Cli cli, Path cwd, String script) {
        Map<String, String> env = cli.env(Map.of());
        return Proc.run(ws.runner().argv(List.of("sh", "-c", script), env), cwd, env);
    }

    private static JsonNode snapshotOf(Cli cli, Path repo, String name) {
        JsonNode listed = cli.listed(repo, name);
        assertTrue(listed != null, "sandbox " + name + " is listed");
        return readSnapshot(repo, listed.path("snapshot").asText());
    }

    private static JsonNode readSnapshot(Path repo, String id) {
        try {
            return JSON.readTree(snapshotDir(repo, id).resolve("snapshot.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path snapshotDir(Path repo, String id) {
        return Repos.stateDir(repo).resolve("snapshots").resolve(id);
    }

    /** A {@code .tmp-*} snapshot directory (not a removal's) that has a tree being written, or null. */
    private static Path copyingTmp(Path snapshots) {
        for (Path p : leftovers(snapshots)) {
            if (!p.getFileName().toString().startsWith(".tmp-rm-") && Files.isDirectory(p.resolve("tree"))) {
                return p;
            }
        }
        return null;
    }

    private static List<Path> leftovers(Path snapshots) {
        try (Stream<Path> all = Files.list(snapshots)) {
            return all.filter(p -> p.getFileName().toString().startsWith(".tmp-")).toList();
        } catch (IOException e) {
            return List.of(); // not made yet
        }
    }

    private static long duKib(Path dir) {
        return Long.parseLong(Proc.hostOk(dir, "du", "-sk", dir.toString()).stdout().split("\\s+")[0]);
    }

    /** Skips unless {@code runner} runs here and a loop ext4 can be made (root, mkfs.ext4). */
    /** A test's work on the repository {@link #base} made on a loop ext4 of its own, as {@code runner}. */
    @FunctionalInterface
    private interface OnLoopRepo {
        void run(Workspace ws, Cli cli, Path repo) throws IOException;
    }

    /** A file or directory made in the repository before it is handed to the runner. */
    @FunctionalInterface
    private interface Prepare {
        void in(Path repo) throws IOException;
    }

    /**
     * Runs {@code test} on a repository made by {@link #base} on a loop ext4 mounted for it
     * alone (after {@code prepare}, and once the workspace belongs to the runner), and unmounts
     * the filesystem whatever happens; skipped where {@link #assumeLoopExt4} says so.
     */
    private static void onLoopExt4(Runner runner, Prepare prepare, OnLoopRepo test) throws IOException {
        assumeLoopExt4(runner);
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path mnt = loopExt4(ws);
            try {
                Path repo = base(Files.createDirectories(mnt.resolve("repo")));
                prepare.in(repo);
                ws.own();
                test.run(ws, new Cli(ws), repo);
            } finally {
                Proc.host(ws.dir(), "umount", "-l", mnt.toString());
            }
        }
    }

    private static void assumeLoopExt4(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.isRoot(), "making and mounting a loop ext4 needs root");
        Skip.unless(Host.has("mkfs.ext4"), "mkfs.ext4 is not installed (e2fsprogs)");
    }

    /**
     * A 2 GiB ext4 (an image file as sparse as its contents) with an inode per 4 KiB, for the
     * many small files of the kill test, loop-mounted in the workspace; or a skip.
     */
    private static Path loopExt4(Workspace ws) {
        Path image = ws.dir().resolve("ext4.img");
        Path mnt = ws.mkdir("mnt");
        Proc.hostOk(ws.dir(), "truncate", "-s", "2G", image.toString());
        Proc.hostOk(ws.dir(), "mkfs.ext4", "-q", "-F", "-i", "4096", image.toString());
        Proc.Result mount = Proc.host(ws.dir(), "mount", "-o", "loop", image.toString(), mnt.toString());
        Skip.unless(mount.exitCode() == 0, "can't loop-mount an ext4 image here: " + mount.stderr().strip());
        Proc.hostOk(mnt, "chmod", "755", mnt.toString());
        return mnt;
    }

    /**
     * A committed repository of 100 small files in 10 directories, 4 MiB of tracked binary
     * data, a symlink, a script without its exec bit, and 2 MiB of ignored build output.
     */
    private static Path base(Path repo) throws IOException {
        Repos.git(repo, "init", "-q", "-b", "main");
        for (int i = 0; i < 100; i++) {
            Repos.write(repo, String.format("src/d%02d/f%03d.txt", i / 10, i), "file " + i + "\nline two\n");
        }
        bigData(repo.resolve("data"), 4);
        Repos.write(repo, "README.md", "# layered\n");
        Repos.write(repo, "run.sh", "#!/bin/sh\necho hi\n");
        Repos.write(repo, ".gitignore", "build/\n");
        Files.createSymbolicLink(repo.resolve("link"), Path.of("README.md"));
        Repos.git(repo, "add", "-A");
        Repos.git(repo, "commit", "-q", "-m", "base");
        bigData(repo.resolve("build"), 2);
        Files.move(repo.resolve("build/blob0.bin"), repo.resolve("build/out1.bin"));
        return repo;
    }

    /** {@code mib} files of 1 MiB of random bytes in {@code dir}. */
    private static void bigData(Path dir, int mib) throws IOException {
        Files.createDirectories(dir);
        Random random = new Random(mib);
        byte[] data = new byte[1 << 20];
        for (int i = 0; i < mib; i++) {
            random.nextBytes(data);
            Files.write(dir.resolve("blob" + i + ".bin"), data);
        }
    }
}
