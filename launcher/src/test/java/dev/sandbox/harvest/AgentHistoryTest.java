package dev.sandbox.harvest;

import static dev.sandbox.harvest.Layers.git;
import static dev.sandbox.harvest.Layers.gitIn;
import static dev.sandbox.harvest.Layers.mkfifo;
import static dev.sandbox.harvest.Layers.run;
import static dev.sandbox.harvest.Layers.runStatus;
import static dev.sandbox.harvest.Layers.sparse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import dev.sandbox.git.IsolatedGit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import org.eclipse.jgit.lib.ObjectId;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's history as a hostile agent may leave it: each attack planted by hand in an
 * upper layer over a real snapshot copy of a real repository, harvested through the
 * {@link Harvest} API. Each must finish, leave the history out with one warning, harvest
 * the rest, and never open what the attack points at (a FIFO canary whose writer would wake).
 * git itself makes the objects and judges the user's repository ({@code git fsck --strict}).
 */
@ExtendWith(IsolatedGit.class)
class AgentHistoryTest {
    private static final Duration QUICK = Duration.ofSeconds(20);
    private static final String LEFT_OUT = "left out the agent's commits: ";

    @TempDir
    Path tmp;
    private Layers l;
    private Path repo;
    private Path upper;
    private Path agent;
    private String base;

    @BeforeEach
    void userRepositoryAndItsSnapshot() throws Exception {
        l = new Layers(tmp);
        repo = l.repo;
        upper = l.upper;
        agent = l.agent;
        base = l.base;
    }

    @AfterEach
    void releaseCanaries() throws Exception {
        l.close();
    }

    // ---- refs

    @Test
    void head_symbolicRefThroughDotDot_leftOutAndCanaryNeverOpened() throws Exception {
        Layers.Canary canary = l.canary(upper.resolveSibling("canary"));
        l.gitFile("HEAD", "ref: refs/../../../canary\n");

        Trees t = trees();

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "'.git/HEAD' names the ref 'refs/../../../canary', which git refuses"),
                t.warnings());
        assertFalse(canary.opened(), "the canary was opened");
    }

    @Test
    void head_symbolicRefOutsideRefsOrAbsolute_leftOut() throws Exception {
        for (String target : new String[] {"/etc/passwd", "HEAD", "refs/heads/a..b", "refs/heads/x\u001b[31m"}) {
            l.gitFile("HEAD", "ref: " + target + "\n");
            Trees t = trees();
            assertNull(t.agentHead(), target);
            assertEquals(1, t.warnings().size(), target);
            assertTrue(t.warnings().get(0).startsWith(LEFT_OUT + "'.git/HEAD' names the ref '"), t.warnings().get(0));
            assertFalse(t.warnings().get(0).contains("\u001b"), "no escape sequence reaches the terminal");
        }
    }

    @Test
    void head_symlink_leftOutAndCanaryNeverOpened() throws Exception {
        Layers.Canary canary = l.canary(tmp.resolve("canary"));
        Files.createDirectories(upper.resolve(".git"));
        Files.createSymbolicLink(upper.resolve(".git/HEAD"), canary.path);

        Trees t = trees();

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "'.git/HEAD' is a symlink or lies below one, never followed"), t.warnings());
        assertFalse(canary.opened(), "the canary was opened");
    }

    @Test
    void head_sparse3GiB_leftOutUnread() throws Exception {
        Files.createDirectories(upper.resolve(".git"));
        sparse(upper.resolve(".git/HEAD"), 3L << 30);

        Trees t = trees();

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "'.git/HEAD' is 3221225472 bytes, over the limit of 4096"), t.warnings());
    }

    @Test
    void head_fifo_leftOutWithoutBlocking() throws Exception {
        Files.createDirectories(upper.resolve(".git"));
        mkfifo(upper.resolve(".git/HEAD"));

        Trees t = trees();

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "'.git/HEAD' is not a regular file"), t.warnings());
    }

    @Test
    void refsHeads_symlinkToAHostDirectory_leftOutAndCanaryNeverOpened() throws Exception {
        Path host = Files.createDirectories(tmp.resolve("hostrefs"));
        Layers.Canary canary = l.canary(host.resolve("main"));
        l.gitFile("HEAD", "ref: refs/heads/main\n");
        Files.createDirectories(upper.resolve(".git/refs"));
        Files.createSymbolicLink(upper.resolve(".git/refs/heads"), host);

        Trees t = trees();

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "'.git/refs/heads' is a symlink, never followed"), t.warnings());
        assertFalse(canary.opened(), "the canary was opened");
    }

    @Test
    void packedRefs_sparse2GiB_leftOutUnread() throws Exception {
        l.gitFile("HEAD", "ref: refs/heads/packed\n");
        sparse(upper.resolve(".git/packed-refs"), 2L << 30);

        Trees t = assertTimeoutPreemptively(QUICK, this::trees);

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "'.git/packed-refs' is 2147483648 bytes, over the limit of 67108864"),
                t.warnings());
    }

    @Test
    void packedRefs_lineLongerThanTheBound_leftOut() throws Exception {
        l.gitFile("HEAD", "ref: refs/heads/packed\n");
        l.gitFile("packed-refs", "x".repeat(10_000) + "\n");

        Trees t = trees();

        assertEquals(List.of(LEFT_OUT + "'.git/packed-refs' has a line longer than 4096 bytes"), t.warnings());
    }

    @Test
    void packedRef_ofACommitTheAgentMade_isTheHead() throws Exception {
        git(agent, "checkout", "-q", "-b", "work");
        String commit = l.agentCommit("b.txt", "b\n");
        git(agent, "pack-refs", "--all");
        l.copyAgentGitDir();
        assertFalse(Files.exists(upper.resolve(".git/refs/heads/work")), "the ref is packed");

        Trees t = trees();

        assertEquals(commit, t.agentHead().name());
        assertEquals(List.of(), t.warnings());
    }

    @Test
    void head_commitIdTheObjectsLack_leftOut() throws Exception {
        String nowhere = "1234567890123456789012345678901234567890";
        l.gitFile("HEAD", nowhere + "\n");

        Trees t = trees();

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "commit 123456789012 is missing from its objects"), t.warnings());
    }

    // ---- objects

    @Test
    void agentCommits_loose_imported_andGitFsckStrictIsClean() throws Exception {
        String commit = l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Files.writeString(upper.resolve("c.txt"), "uncommitted\n");

        Trees t = trees();
        assertEquals(commit, t.agentHead().name());
        assertEquals(List.of(), t.warnings());
        Harvest.Commits c = commit(t);

        assertEquals(commit, git(repo, "rev-parse", c.tip().name() + "~1"), "the agent's commit, then the rest");
        assertEquals("uncommitted", git(repo, "show", c.tip().name() + ":c.txt"));
        git(repo, "update-ref", "refs/heads/sandbox/sb", c.tip().name());
        git(repo, "fsck", "--strict", "--no-dangling");
        assertNoScratchLeft();
    }

    @Test
    void agentCommits_onlyInAPack_readThroughThePackParser() throws Exception {
        String commit = l.agentCommit("b.txt", "b\n");
        git(agent, "repack", "-a", "-d", "-q");
        git(agent, "prune-packed");
        l.copyAgentGitDir();

        Trees t = trees();
        assertEquals(commit, t.agentHead().name());
        assertEquals(List.of(), t.warnings());
        Harvest.Commits c = commit(t);

        assertEquals(commit, c.tip().name());
        git(repo, "update-ref", "refs/heads/sandbox/sb", c.tip().name());
        git(repo, "fsck", "--strict", "--no-dangling");
    }

    @Test
    void looseObject_fifo_leftOutWithoutBlocking_restHarvested() throws Exception {
        String commit = l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Path loose = l.loose(commit);
        Files.delete(loose);
        mkfifo(loose);
        Files.writeString(upper.resolve("c.txt"), "uncommitted\n");

        Trees t = trees();

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "commit " + commit.substring(0, 12) + " is missing from its objects"),
                t.warnings());
        assertEquals(List.of("b.txt", "c.txt"), t.changes().stream().map(FileChange::path).sorted().toList(),
                "the agent's files still harvest");
        Harvest.Commits c = commit(t);
        assertEquals(base, git(repo, "rev-parse", c.tip().name() + "~1"), "the files on the base, without the history");
        git(repo, "update-ref", "refs/heads/sandbox/sb", c.tip().name());
        git(repo, "fsck", "--strict", "--no-dangling");
    }

    @Test
    void looseObject_symlinkToAHostCopyOfIt_leftOutAndNeverFollowed() throws Exception {
        String commit = l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Path loose = l.loose(commit);
        Path host = tmp.resolve("host-object");
        Files.move(loose, host);
        Files.createSymbolicLink(loose, host);

        Trees t = trees();

        assertNull(t.agentHead(), "a symlink is never followed, even to the right bytes");
        assertEquals(List.of(LEFT_OUT + "commit " + commit.substring(0, 12) + " is missing from its objects"),
                t.warnings());
    }

    @Test
    void alternates_fifo_neverOpened_historyTakenFromLooseObjects() throws Exception {
        String commit = l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Files.createDirectories(upper.resolve(".git/objects/info"));
        Layers.Canary canary = l.canary(upper.resolve(".git/objects/info/alternates"));

        Trees t = trees();

        assertEquals(commit, t.agentHead().name());
        assertEquals(List.of(), t.warnings());
        assertFalse(canary.opened(), "the agent's alternates were opened");
    }

    @Test
    void alternates_namingHostObjects_neverRead() throws Exception {
        String commit = l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Path hostObjects = tmp.resolve("host-objects");
        Files.move(upper.resolve(".git/objects"), hostObjects);
        Files.createDirectories(upper.resolve(".git/objects/info"));
        Files.writeString(upper.resolve(".git/objects/info/alternates"), hostObjects + "\n");

        Trees t = trees();

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "commit " + commit.substring(0, 12) + " is missing from its objects"),
                t.warnings());
    }

    @Test
    void looseObject_bytesOfAnotherObject_leftOutAsNotHashingToItsName() throws Exception {
        String other = l.agentCommit("b.txt", "b\n");
        String commit = l.agentCommit("b.txt", "c\n");
        l.copyAgentGitDir();
        Files.copy(l.loose(other), l.loose(commit), java.nio.file.StandardCopyOption.REPLACE_EXISTING);

        Trees t = trees();

        assertNull(t.agentHead());
        assertEquals(List.of(LEFT_OUT + "commit " + commit.substring(0, 12) + " does not hash to its name"),
                t.warnings());
    }

    @Test
    void pack_withADeltaOnItself_leftOutWithinSeconds() throws Exception {
        // JGit's own pack reader follows such a delta forever; the pack parser refuses it
        String commit = l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Files.delete(l.loose(commit));
        Path packDir = Files.createDirectories(upper.resolve(".git/objects/pack"));
        byte[] pack = selfDeltaPack(ObjectId.fromString(commit));
        String name = "pack-" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(pack));
        Files.write(packDir.resolve(name + ".pack"), pack);
        Files.write(packDir.resolve(name + ".idx"), new byte[1024]);

        Trees t = assertTimeoutPreemptively(QUICK, this::trees);

        assertNull(t.agentHead());
        assertEquals(1, t.warnings().size(), t.warnings().toString());
        assertTrue(t.warnings().get(0).startsWith(LEFT_OUT + "commit " + commit.substring(0, 12)
                + " is missing from its objects ('.git/objects/pack/" + name + ".pack' can't be read: "),
                t.warnings().get(0));
    }

    // ---- what git fsck refuses

    @Test
    void trees_withDotDotDotGitOrDotGitInCapitals_leftOutAsGitFsckWould_restHarvested() throws Exception {
        String blob = git(agent, "hash-object", "-w", "--stdin");
        String[][] cases = {{"..", "invalid name '..' (git fsck: hasDotdot)"},
            {".git", "invalid name '.git' (git fsck: hasDotgit)"},
            {".GIT", "invalid name '.GIT' (git fsck: hasDotgit)"},
            {"git~1", "invalid name 'git~1' (git fsck: hasDotgit)"},
            {".Git::$INDEX_ALLOCATION", "invalid name '.Git::$INDEX_ALLOCATION' (git fsck: hasDotgit)"}};
        for (String[] c : cases) {
            String tree = literalTree(c[0], blob);
            String commit = git(agent, "commit-tree", tree, "-p", base, "-m", "bad");
            git(agent, "update-ref", "refs/heads/main", commit);
            run(tmp, "rm", "-rf", upper.toString());
            Files.createDirectories(upper);
            l.copyAgentGitDir();
            Files.writeString(upper.resolve("new.txt"), "new\n");

            Trees t = trees();

            assertNull(t.agentHead(), c[0]);
            assertEquals(List.of(LEFT_OUT + "tree " + tree.substring(0, 12) + ": " + c[1]), t.warnings());
            Harvest.Commits done = commit(t);
            assertEquals("new", git(repo, "show", done.tip().name() + ":new.txt"), "the rest harvests");
            assertNotEquals(0, runStatus(repo, "git", "cat-file", "-e", tree), "the bad tree never entered: " + c[0]);
            git(repo, "update-ref", "refs/heads/sandbox/sb", done.tip().name());
            git(repo, "fsck", "--strict", "--no-dangling");
        }
    }

    @Test
    void commit_withABadIdent_leftOutAsGitFsckStrictWould() throws Exception {
        String tree = git(agent, "rev-parse", "HEAD^{tree}");
        String raw = "tree " + tree + "\nparent " + base + "\nauthor no email 1 +0000\ncommitter c <c@c> 1 +0000\n\nx\n";
        String commit = gitIn(agent, raw, "hash-object", "-w", "--literally", "-t", "commit", "--stdin");
        git(agent, "update-ref", "refs/heads/main", commit);
        l.copyAgentGitDir();

        Trees t = trees();

        assertNull(t.agentHead());
        assertTrue(t.warnings().get(0).startsWith(LEFT_OUT + "commit " + commit.substring(0, 12) + ": "),
                t.warnings().toString());
        assertTrue(t.warnings().get(0).endsWith("(git fsck: missingEmail)"), t.warnings().toString());
    }

    // ---- rm's view, and a history that changes between reading and taking

    @Test
    void work_historyLeftOut_isWorkNoHarvestTakes() throws Exception {
        Files.createDirectories(upper.resolve(".git"));
        mkfifo(upper.resolve(".git/HEAD"));
        Path scratch = upper.resolveSibling(".work-test");

        Work w = assertTimeoutPreemptively(QUICK, () -> l.harvest(h -> h.work(l.source(), scratch)));

        assertTrue(w.any());
        assertEquals(List.of("history the harvest leaves out", ".git/HEAD"), w.git());
    }

    @Test
    void work_agentCommit_countedAndItsBranchMoveNotNamedAgain() throws Exception {
        l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Path scratch = upper.resolveSibling(".work-test");

        Work w = l.harvest(h -> h.work(l.source(), scratch));

        assertEquals(1, w.commits());
        assertFalse(w.git().contains("branch 'main'"), w.git().toString());
        assertFalse(w.git().contains("history the harvest leaves out"), w.git().toString());
    }

    @Test
    void commits_objectReplacedAfterTheRead_refusedInOneLine() throws Exception {
        String commit = l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Trees t = trees();
        assertEquals(commit, t.agentHead().name());
        Path loose = l.loose(commit);
        Files.delete(loose);
        mkfifo(loose);

        SandboxException e = assertThrows(SandboxException.class, () -> l.harvest(h -> commits(h, t)));

        assertTrue(e.getMessage().contains("commit " + commit.substring(0, 12) + " is missing from its objects"
                + " (its history changed after it was read; run the command again)"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        assertNotEquals(0, runStatus(repo, "git", "cat-file", "-e", commit), "nothing of it entered");
    }

    // ---- helpers

    private Trees trees() throws Exception {
        return assertTimeoutPreemptively(QUICK, () -> l.harvest(h -> h.trees(l.source(), false, false)));
    }

    /** What {@code sandbox commit} writes, from the trees stored afresh: the same answer as {@code t}. */
    private Harvest.Commits commit(Trees t) throws Exception {
        return l.harvest(h -> {
            Trees stored = h.trees(l.source(), false, true);
            assertEquals(t.agentHead(), stored.agentHead(), "a second read gives the same answer");
            return commits(h, stored);
        });
    }

    private Harvest.Commits commits(Harvest h, Trees t) {
        return h.commits(l.source(), t, new Harvest.CommitInfo("sandbox sb\n", Instant.EPOCH, Instant.EPOCH),
                upper.resolveSibling(".import-test"));
    }

    private void assertNoScratchLeft() throws IOException {
        try (var s = Files.list(upper.getParent())) {
            assertEquals(List.of("upper"), s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".import"))
                    .toList());
        }
    }

    /** A tree with one entry {@code name}, written as git stores it, which git mktree would refuse. */
    private String literalTree(String name, String blob) throws Exception {
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        raw.write(("100644 " + name + "\0").getBytes(StandardCharsets.UTF_8));
        raw.write(HexFormat.of().parseHex(blob));
        Path f = tmp.resolve("tree.bin");
        Files.write(f, raw.toByteArray());
        return git(agent, "hash-object", "-w", "--literally", "-t", "tree", f.toString());
    }

    /** A pack of one object: a delta whose base is the object {@code id} it claims to be. */
    private static byte[] selfDeltaPack(ObjectId id) throws Exception {
        ByteArrayOutputStream pack = new ByteArrayOutputStream();
        pack.write("PACK".getBytes(StandardCharsets.US_ASCII));
        pack.write(new byte[] {0, 0, 0, 2, 0, 0, 0, 1});
        byte[] delta = {5, 5, 0x05, 'x', 'x', 'x', 'x', 'x'}; // base 5 bytes, result 5 bytes, insert 5
        pack.write((7 << 4) | delta.length);
        byte[] raw = new byte[20];
        id.copyRawTo(raw, 0);
        pack.write(raw);
        ByteArrayOutputStream z = new ByteArrayOutputStream();
        try (DeflaterOutputStream out = new DeflaterOutputStream(z, new Deflater())) {
            out.write(delta);
        }
        pack.write(z.toByteArray());
        pack.write(MessageDigest.getInstance("SHA-1").digest(pack.toByteArray()));
        return pack.toByteArray();
    }
}
