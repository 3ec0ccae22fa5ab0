package dev.sandbox.harvest;

import static dev.sandbox.harvest.Layers.git;
import static dev.sandbox.snapshot.Stacks.opaque;
import static dev.sandbox.snapshot.Stacks.whiteout;
import static dev.sandbox.snapshot.Stacks.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import dev.sandbox.snapshot.LowerView;
import dev.sandbox.snapshot.Stacks;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real harvest of a sandbox whose snapshot has two layers, read through a {@link LowerView}:
 * {@link SafeOpen}'s openat2 (beneath, no mount crossing, no magic link) below a root under
 * {@code /proc/PID/root}, and git's view of the result.
 */
@ExtendWith(IsolatedGit.class)
class LayeredHarvestTest {
    @TempDir
    Path tmp;

    @Test
    void trees_ofATwoLayerSnapshot_readThroughAView_areWhatGitSees() throws Exception {
        Path helper = Stacks.helper();
        // The user's repository: committed, then changed without a commit before the snapshot.
        Path work = Files.createDirectories(tmp.resolve("work"));
        write(work.resolve("a.txt"), "a\n");
        write(work.resolve("b.txt"), "b\n");
        write(work.resolve("dir/x.txt"), "x\n");
        write(work.resolve("old/o.txt"), "o\n");
        write(work.resolve("gone.txt"), "gone\n");
        git(work, "init", "-q");
        git(work, "add", "-A");
        git(work, "commit", "-q", "-m", "base");
        String base = git(work, "rev-parse", "HEAD");
        Path bottom = Files.createDirectories(tmp.resolve("snap/full"));
        git(work, "--work-tree=" + bottom, "checkout", "-q", "-f", "HEAD", "--", ".");
        write(work.resolve("a.txt"), "a, not committed\n");
        Files.delete(work.resolve("gone.txt"));
        write(work.resolve("new.txt"), "new\n");
        Files.delete(work.resolve("old/o.txt"));
        Files.delete(work.resolve("old"));
        write(work.resolve("old"), "old is a file now\n");
        Files.delete(work.resolve("b.txt"));
        write(work.resolve("b.txt/inner"), "b.txt is a directory now\n");
        // The delta layer that holds those changes, as a layered snapshot does.
        Path top = Files.createDirectories(tmp.resolve("snap/delta"));
        write(top.resolve("a.txt"), "a, not committed\n");
        whiteout(top.resolve("gone.txt"));
        write(top.resolve("new.txt"), "new\n");
        write(top.resolve("old"), "old is a file now\n");
        write(top.resolve("b.txt/inner"), "b.txt is a directory now\n");
        opaque(top.resolve("b.txt"));
        // The agent's upper layer.
        Path upper = Files.createDirectories(tmp.resolve("upper"));
        write(upper.resolve("a.txt"), "a, by the agent\n");
        whiteout(upper.resolve("dir/x.txt"));
        write(upper.resolve("agent.txt"), "made by the agent\n");
        write(upper.resolve("b.txt/inner"), "changed by the agent\n");
        whiteout(upper.resolve("old"));

        try (LowerView view = LowerView.open(helper, List.of(top, bottom))) {
            assertTrue(view.root().startsWith("/proc"), view.root().toString());
            Process diff = new ProcessBuilder("diff", "-r", "--no-dereference", "-x", ".git", work.toString(),
                    view.root().toString()).redirectErrorStream(true).start();
            String said = new String(diff.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, diff.waitFor(), "the view is the user's tree at snapshot time: " + said);

            Source src = new Source(upper, view.root(), base, dirtyPaths(work));
            try (Harvest h = Harvest.open(work.resolve(".git"))) {
                Trees t = h.trees(src, false, true);
                assertEquals(String.join("\n", "a.txt", "b.txt/inner", "dir/x.txt", "new.txt", "old"),
                        git(work, "ls-tree", "-r", "--name-only", t.snapshot().name()),
                        "the snapshot's tree, its dirty paths read through the view");
                assertEquals("a, not committed", git(work, "show", t.snapshot().name() + ":a.txt"));
                assertEquals(String.join("\n", "M\ta.txt", "A\tagent.txt", "M\tb.txt/inner", "D\tdir/x.txt", "D\told"),
                        git(work, "diff", "--name-status", t.snapshot().name(), t.merged().name()));
                assertEquals(5, h.count(src, false));
                String patch = git(work, "diff", "--binary", t.snapshot().name(), t.merged().name());
                Files.writeString(tmp.resolve("p.diff"), patch + "\n");
                git(work, "apply", "--check", tmp.resolve("p.diff").toString());
                git(work, "apply", tmp.resolve("p.diff").toString());
                assertEquals("a, by the agent\n", Files.readString(work.resolve("a.txt")));
                assertEquals("changed by the agent\n", Files.readString(work.resolve("b.txt/inner")));
                assertTrue(!Files.exists(work.resolve("old")) && !Files.exists(work.resolve("dir/x.txt")));
            }
        }
    }

    /** The paths that differ from HEAD, as the snapshot records them (git/Repo.dirtyPaths: modified, deleted, untracked). */
    private static List<String> dirtyPaths(Path work) {
        return git(work, "ls-files", "-m", "-d", "-o", "--exclude-standard").lines().distinct().toList();
    }
}
