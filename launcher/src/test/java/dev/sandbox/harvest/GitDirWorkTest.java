package dev.sandbox.harvest;

import static dev.sandbox.harvest.Layers.git;
import static dev.sandbox.harvest.Layers.mkfifo;
import static dev.sandbox.harvest.Layers.sparse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code rm} judges as work in the agent's {@code .git}, when the agent planted what
 * would hang, exhaust or mislead a reader: every case finishes, counts as work, and opens
 * nothing a symlink points at.
 */
@ExtendWith(IsolatedGit.class)
class GitDirWorkTest {
    private static final Duration QUICK = Duration.ofSeconds(20);

    @TempDir
    Path tmp;
    private Layers l;

    @BeforeEach
    void layers() throws Exception {
        l = new Layers(tmp);
    }

    @AfterEach
    void releaseCanaries() throws Exception {
        l.close();
    }

    @Test
    void nothingWritten_noWork() throws Exception {
        assertEquals(List.of(), work().git());
    }

    @Test
    void reflogOrPseudoRefFifo_workWithoutBlocking() throws Exception {
        mkfifo(l.upper.resolve(".git/logs/refs/heads/main"));
        mkfifo(l.upper.resolve(".git/ORIG_HEAD"));

        assertEquals(List.of(".git/ORIG_HEAD", ".git/logs/refs/heads/main"), work().git());
    }

    @Test
    void configSymlinkToAHostFile_workAndNeverOpened() throws Exception {
        Layers.Canary canary = l.canary(tmp.resolve("canary"));
        Files.createDirectories(l.upper.resolve(".git"));
        Files.createSymbolicLink(l.upper.resolve(".git/config"), canary.path);

        assertEquals(List.of(".git/config"), work().git());
        assertFalse(canary.opened(), "the canary was opened");
    }

    @Test
    void looseRefSymlinkOrFifo_workByItsPath_canaryNeverOpened() throws Exception {
        Layers.Canary canary = l.canary(tmp.resolve("canary"));
        Files.createDirectories(l.upper.resolve(".git/refs/heads"));
        Files.createSymbolicLink(l.upper.resolve(".git/refs/heads/evil"), canary.path);
        mkfifo(l.upper.resolve(".git/refs/heads/fifo"));

        assertEquals(List.of(".git/refs/heads/evil", ".git/refs/heads/fifo"), work().git());
        assertFalse(canary.opened(), "the canary was opened");
    }

    @Test
    void packedRefsWithNamesOutOfRefs_workAndNoHostFileRead() throws Exception {
        Layers.Canary canary = l.canary(l.upper.resolveSibling("canary"));
        l.gitFile("packed-refs", "# pack-refs with: peeled\n" + l.base + " refs/../../../canary\n" + l.base
                + " refs/heads/main\n");

        assertEquals(List.of(".git/packed-refs"), work().git());
        assertFalse(canary.opened(), "the canary was opened");
    }

    @Test
    void indexForgedCountOrSparse3GiBOrFifo_stagedChangesWithinSeconds() throws Exception {
        Path index = l.gitFile("index", "DIRC\0\0\0\2\u007f\u00ff\u00ff\u00ff");
        assertEquals(List.of("staged changes"), work().git());

        Files.delete(index);
        sparse(index, 3L << 30);
        assertEquals(List.of("staged changes"), work().git());

        Files.delete(index);
        mkfifo(index);
        assertEquals(List.of(".git/index"), work().git());
    }

    @Test
    void indexGitOnlyRefreshed_noWork_stagedEdit_work() throws Exception {
        Files.writeString(l.agent.resolve("a.txt"), "a\n"); // same bytes, new stat data
        git(l.agent, "update-index", "--really-refresh");
        l.copyAgentGitDir();
        assertEquals(List.of(), work().git().stream().filter(g -> g.contains("index") || g.contains("staged"))
                .toList());

        Files.writeString(l.agent.resolve("a.txt"), "staged\n");
        git(l.agent, "add", "a.txt");
        Layers.run(tmp, "cp", l.agent.resolve(".git/index").toString(), l.upper.resolve(".git/index").toString());
        assertTrue(work().git().contains("staged changes"), "a staged edit the working tree lacks");
    }

    @Test
    void gitDirNestedDeeperThanAnyGitWrites_workWithoutOverflow() throws Exception {
        String deep = "dd/".repeat(1200);
        Files.createDirectories(l.upper.resolve(".git/refs/heads/" + deep));
        Files.createDirectories(l.upper.resolve(".git/logs/" + deep));
        Files.writeString(l.upper.resolve(".git/logs/" + deep + "f"), "x\n");

        List<String> git = work().git();

        assertTrue(git.stream().anyMatch(g -> g.startsWith(".git/logs/dd/dd/")), git.toString());
        assertTrue(git.stream().allMatch(g -> g.length() <= 103), "phrases stay short: " + git);
    }

    @Test
    void directoryOfMoreEntriesThanTheBound_workUnlisted() throws Exception {
        Path tags = Files.createDirectories(l.upper.resolve(".git/refs/tags"));
        for (int i = 0; i <= 10_000; i++) {
            Files.createFile(tags.resolve("t" + i));
        }

        assertEquals(List.of(".git/refs/tags"), work().git());
    }

    private Work work() throws Exception {
        return assertTimeoutPreemptively(QUICK, () -> l.harvest(h -> h.work(l.source(),
                l.upper.resolveSibling(".work-test"))));
    }
}
