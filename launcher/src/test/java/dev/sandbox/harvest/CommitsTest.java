package dev.sandbox.harvest;

import static dev.sandbox.harvest.Layers.git;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * How {@link Harvest#commits} cuts the change between the two trees into commits, over a
 * real repository, its snapshot copy and an agent's {@code .git} made by git itself: the
 * chain always starts at the base commit, then the user's uncommitted state, then the
 * agent's commits when they continue the base in a line, else one commit that says the
 * history was rewritten. git judges every result ({@code fsck --strict}, {@code rev-parse}).
 */
@ExtendWith(IsolatedGit.class)
class CommitsTest {
    @TempDir
    Path tmp;
    private Layers l;

    @BeforeEach
    void layers() throws Exception {
        l = new Layers(tmp);
    }

    @AfterEach
    void close() throws Exception {
        l.close();
    }

    @Test
    void amendedBase_rewrite_oneCommitOnTheBase_listingTheAgentsCommit() throws Exception {
        Files.writeString(l.agent.resolve("a.txt"), "amended\n");
        Files.writeString(l.upper.resolve("a.txt"), "amended\n");
        git(l.agent, "commit", "-q", "--amend", "-am", "base, amended");
        String amended = git(l.agent, "rev-parse", "HEAD");
        l.copyAgentGitDir();

        Harvest.Commits c = commits(l.source());

        assertEquals(l.base, git(l.repo, "rev-parse", c.tip().name() + "~1"), "one commit, on the snapshot's base");
        String message = git(l.repo, "log", "-1", "--format=%B", c.tip().name());
        assertTrue(message.contains("does not continue the snapshot's base"), message);
        assertTrue(message.contains(amended.substring(0, 12) + " base, amended"), message);
        assertEquals("amended", git(l.repo, "show", c.tip().name() + ":a.txt"));
        assertFsckClean(c);
    }

    @Test
    void resetToAnOlderCommit_noCommitOfItsOwn_changeKeptAsOneCommitOnTheBase() throws Exception {
        git(l.repo, "commit", "-q", "--allow-empty", "-m", "second");
        String second = git(l.repo, "rev-parse", "HEAD");
        Layers.run(tmp, "rm", "-rf", l.lower.toString(), l.agent.toString());
        Layers.run(tmp, "cp", "-a", l.repo.toString(), l.lower.toString());
        Layers.run(tmp, "cp", "-a", l.repo.toString(), l.agent.toString());
        git(l.agent, "reset", "-q", "--hard", "HEAD~1");
        l.copyAgentGitDir();
        Files.writeString(l.upper.resolve("b.txt"), "new\n");
        Source src = new Source(l.upper, l.lower, second, List.of());

        Harvest.Commits c = commits(src);

        assertEquals(second, git(l.repo, "rev-parse", c.tip().name() + "~1"), "on the snapshot's base, not the agent's HEAD");
        String message = git(l.repo, "log", "-1", "--format=%B", c.tip().name());
        assertTrue(message.contains("Its HEAD is a commit the base already holds"), message);
        assertEquals("new", git(l.repo, "show", c.tip().name() + ":b.txt"));
        assertFsckClean(c);
    }

    @Test
    void linearCommitsOverADirtySnapshot_replayedOntoTheUncommittedState() throws Exception {
        Files.writeString(l.lower.resolve("u.txt"), "user's, untracked\n");
        String agentCommit = l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Source src = new Source(l.upper, l.lower, l.base, List.of("u.txt"));

        Harvest.Commits c = commits(src);

        List<String> subjects = List.of(git(l.repo, "log", "--format=%s", c.tip().name()).split("\n"));
        assertEquals(List.of("agent b.txt", "snapshot of uncommitted changes", "base"), subjects);
        assertEquals(l.base, c.base().name());
        assertEquals(c.start().name(), git(l.repo, "rev-parse", c.tip().name() + "~1"));
        assertFalse(c.tip().name().equals(agentCommit), "replayed: a new commit on the uncommitted state");
        assertEquals("user's, untracked", git(l.repo, "show", c.tip().name() + ":u.txt"));
        assertEquals("b", git(l.repo, "show", c.tip().name() + ":b.txt"));
        assertEquals(git(l.agent, "log", "-1", "--format=%an %ae %at", agentCommit),
                git(l.repo, "log", "-1", "--format=%an %ae %at", c.tip().name()), "its author kept");
        assertFsckClean(c);
    }

    @Test
    void linearCommitsOnACleanSnapshot_keptAsTheyAre_remainderOnTop() throws Exception {
        String agentCommit = l.agentCommit("b.txt", "b\n");
        l.copyAgentGitDir();
        Files.writeString(l.upper.resolve("c.txt"), "uncommitted\n");

        Harvest.Commits c = commits(l.source());

        assertEquals(agentCommit, git(l.repo, "rev-parse", c.tip().name() + "~1"));
        assertEquals(l.base, c.start().name(), "no uncommitted state: the agent's work starts at the base");
        assertFsckClean(c);
    }

    @Test
    void agentCommittedAFileTheUserHadEdited_replayedWithTheAgentsVersion() throws Exception {
        Files.writeString(l.lower.resolve("a.txt"), "a\nthe user's edit\n");
        Files.writeString(l.lower.resolve("u.txt"), "untracked, left alone by the agent\n");
        l.agentCommit("a.txt", "a\nthe user's edit\nthe agent's line\n"); // as 'git commit -a' on the snapshot
        l.copyAgentGitDir();
        Source src = new Source(l.upper, l.lower, l.base, List.of("a.txt", "u.txt"));

        Harvest.Commits c = commits(src);

        assertEquals(c.start().name(), git(l.repo, "rev-parse", c.tip().name() + "~1"), "no commit on top");
        assertEquals("agent a.txt", git(l.repo, "log", "-1", "--format=%s", c.tip().name()));
        assertEquals("a\nthe user's edit\nthe agent's line", git(l.repo, "show", c.tip().name() + ":a.txt"));
        assertEquals("untracked, left alone by the agent", git(l.repo, "show", c.tip().name() + ":u.txt"));
        assertEquals("", git(l.repo, "diff", c.start().name(), c.tip().name(), "--", "u.txt"));
        assertFsckClean(c);
    }

    @Test
    void colonAndNewlineInNames_acceptedAsGitFsckStrictDoes_commitsKept() throws Exception {
        String agentCommit = l.agentCommit("report 10:30.txt", "x\n");
        l.agentCommit("a\nb.txt", "y\n");
        l.copyAgentGitDir();

        Trees t = l.harvest(h -> h.trees(l.source(), false, false));
        assertEquals(List.of(), t.warnings());
        Harvest.Commits c = commits(l.source());

        assertEquals(agentCommit, git(l.repo, "rev-parse", c.tip().name() + "~1"));
        assertFsckClean(c);
    }

    @Test
    void amendOfTheMessageAlone_nothingToHandOver_butWorkRmKeeps() throws Exception {
        git(l.agent, "commit", "-q", "--amend", "-m", "a better message");
        l.copyAgentGitDir();

        Trees t = l.harvest(h -> h.trees(l.source(), false, false));
        assertTrue(t.unchanged());
        assertFalse(t.keptCommits());
        Work w = l.harvest(h -> h.work(l.source(), l.upper.resolveSibling(".work")));
        assertTrue(w.git().contains(Harvest.REWRITE_WITHOUT_CHANGE), w.toString());
    }

    @Test
    void commitsButEqualTrees_nothingToDiff_theCommitsKeptByCommit() throws Exception {
        l.agentCommit("b.txt", "b\n");
        git(l.agent, "rm", "-q", "b.txt");
        git(l.agent, "commit", "-qm", "undo");
        String undo = git(l.agent, "rev-parse", "HEAD");
        Files.delete(l.upper.resolve("b.txt"));
        l.copyAgentGitDir();

        Trees t = l.harvest(h -> h.trees(l.source(), false, false));
        assertTrue(t.unchanged());
        assertTrue(t.keptCommits());
        assertEquals(undo, commits(l.source()).tip().name(), "the agent's two commits, nothing on top");
    }

    private Harvest.Commits commits(Source src) throws Exception {
        return l.harvest(h -> h.commits(src, h.trees(src, false, true), info(), l.upper.resolveSibling(".import")));
    }

    private static Harvest.CommitInfo info() {
        return new Harvest.CommitInfo("sandbox sb\n", Instant.EPOCH, Instant.EPOCH);
    }

    private void assertFsckClean(Harvest.Commits c) throws Exception {
        git(l.repo, "update-ref", "refs/heads/sandbox/sb", c.tip().name());
        git(l.repo, "fsck", "--strict", "--no-dangling");
        git(l.repo, "merge-base", "--is-ancestor", c.base().name(), "sandbox/sb");
    }
}
