package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sandbox.console.Console;
import dev.sandbox.git.IsolatedGit;
import dev.sandbox.git.Repo;
import dev.sandbox.snapshot.CopySnapshotter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A delta's dirty paths derived from its parent's instead of asked of git status
 * (SnapshotStore.dirtyByDelta): the tree a harvest builds from them (HEAD's, with each listed
 * path's working-tree version put over it, as harvest.Blobs does) is the tree it builds from
 * what git status lists, whatever the change: edits, new, ignored, deleted files and
 * directories, staging, unstaging, an ignored file forced into the index, a file edited back,
 * a .gitignore edit, a commit, a nested repository, and an excludes file outside the tree.
 * Each round through the look-ahead, as a run takes it, and without it.
 */
class DerivedDirtyPathsTest {
    @TempDir
    Path tmp;
    Path root;
    Path helper;
    Repo repo;
    SnapshotStore snapshots;

    @BeforeEach
    void repo() throws IOException {
        helper = Path.of("../native-helpers/build/sandbox-helper").toAbsolutePath().normalize();
        assumeTrue(Files.isExecutable(helper), "no helper built at " + helper + " (make -C native-helpers)");
        root = Files.createDirectory(tmp.resolve("repo"));
        for (int i = 0; i < 200; i++) {
            Files.createDirectories(root.resolve("d" + i % 4));
            // big enough that the index, rewritten by add and rm, is far below a delta's share of the tree
            Files.writeString(root.resolve("d" + i % 4 + "/f" + i), "file " + i + "\n" + "-".repeat(4000) + "\n");
        }
        Files.writeString(root.resolve(".gitignore"), "build/\n*.log\n");
        Files.createDirectories(root.resolve("build"));
        Files.writeString(root.resolve("build/out.bin"), "built\n");
        Files.writeString(root.resolve("kept.log"), "an ignored log\n");
        Files.writeString(root.resolve("later.tmp"), "ignored by the excludes file outside the tree\n");
        Files.writeString(tmp.resolve("excludes"), "*.tmp\n");
        IsolatedGit.run(tmp, "init", "-q", root.toString());
        IsolatedGit.run(root, "config", "core.excludesFile", tmp.resolve("excludes").toString());
        IsolatedGit.run(root, "add", "-A");
        IsolatedGit.run(root, "commit", "-qm", "one");
        repo = Repo.discover(root);
        snapshots = new SnapshotStore(StateStore.forRepo(repo, null), () -> helper);
    }

    private Snapshot take(boolean lookAhead) {
        Console quiet = Console.of(new PrintWriter(new StringWriter(), true), new PrintWriter(new StringWriter(), true));
        SnapshotStore.LookAhead ahead = lookAhead ? snapshots.lookAhead(repo, true) : null;
        return snapshots.current(repo, new CopySnapshotter(helper), false, ahead, quiet, s -> { });
    }

    /** The tree a harvest builds for {@code listed}: HEAD's files, each listed path's working-tree file over it. */
    private Map<String, String> harvestTree(List<String> listed) throws IOException {
        Map<String, String> tree = new TreeMap<>();
        String ls = IsolatedGit.run(root, "ls-tree", "-r", "-z", "HEAD");
        for (String entry : ls.split("\0")) {
            if (!entry.isEmpty()) {
                int tab = entry.indexOf('\t');
                String[] modeTypeId = entry.substring(0, tab).split(" ");
                tree.put(entry.substring(tab + 1), modeTypeId[0] + " " + modeTypeId[2]);
            }
        }
        for (String p : listed) {
            Path file = root.resolve(p);
            if (Files.isDirectory(file, LinkOption.NOFOLLOW_LINKS)) {
                continue; // Blobs puts files and symlinks only
            }
            tree.keySet().removeIf(k -> k.equals(p) || k.startsWith(p + "/") || p.startsWith(k + "/"));
            if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                tree.put(p, (Files.isExecutable(file) ? "100755 " : "100644 ")
                        + IsolatedGit.run(root, "hash-object", "--no-filters", "--", p).strip());
            }
        }
        return tree;
    }

    /** Takes a snapshot and checks that its list builds the same tree as git status's now. */
    private Snapshot check(String what, boolean lookAhead) throws IOException {
        Snapshot s = take(lookAhead);
        Repo.Status status = repo.status();
        assertNotNull(s.configKey(), what + ": the record keeps the settings' key");
        Map<String, String> expected = harvestTree(status.dirtyPaths());
        Map<String, String> derived = harvestTree(s.dirtyPaths());
        Set<String> differ = new TreeSet<>(expected.keySet());
        differ.addAll(derived.keySet());
        differ.removeIf(k -> Objects.equals(expected.get(k), derived.get(k)));
        assertEquals(Set.of(), differ, what + ": listed " + s.dirtyPaths() + ", git status " + status.dirtyPaths());
        for (String p : status.dirtyPaths()) { // each named, or a directory above it deleted
            assertTrue(Files.isDirectory(root.resolve(p)) || s.dirtyPaths().stream()
                    .anyMatch(l -> p.equals(l) || p.startsWith(l + "/")), what + ": " + p + " not in " + s.dirtyPaths());
        }
        return s;
    }

    @Test
    void derivedPaths_buildTheTreeGitStatusDoes_throughEveryKindOfChange() throws Exception {
        for (String r : List.of("1", "2")) {
            boolean lookAhead = r.equals("1");
            String round = " (round " + r + ")";
            Files.writeString(root.resolve("kept" + r + ".log"), "an ignored log\n");
            Files.writeString(root.resolve("later" + r + ".tmp"), "ignored by the excludes file outside the tree\n");
            Files.createDirectories(root.resolve("gone" + r));
            Files.writeString(root.resolve("gone" + r + "/a"), "a\n");
            Files.writeString(root.resolve("gone" + r + "/b"), "b\n");
            Files.writeString(root.resolve("tracked" + r + ".log"), "tracked though ignored\n");
            IsolatedGit.run(root, "add", "-A");
            IsolatedGit.run(root, "add", "-f", "tracked" + r + ".log");
            IsolatedGit.run(root, "commit", "-qm", "start" + round);
            check("a commit" + round, lookAhead);

            Files.writeString(root.resolve("d0/f0"), "edited\n");
            Snapshot edit = check("one edit" + round, lookAhead);
            assertTrue(edit.dirtyPaths().contains("d0/f0"));

            Files.writeString(root.resolve("new" + r + ".txt"), "untracked\n");
            Files.writeString(root.resolve("build/more" + r + ".bin"), "ignored\n");
            Files.writeString(root.resolve("d1/more" + r + ".log"), "ignored\n");
            Snapshot added = check("untracked and ignored files" + round, lookAhead);
            assertTrue(added.dirtyPaths().contains("new" + r + ".txt"));
            assertFalse(added.dirtyPaths().contains("build/more" + r + ".bin"), "ignored: " + added.dirtyPaths());
            assertFalse(added.dirtyPaths().contains("d1/more" + r + ".log"), "ignored: " + added.dirtyPaths());

            Files.createDirectories(root.resolve("newdir" + r + "/sub"));
            Files.writeString(root.resolve("newdir" + r + "/sub/x"), "untracked in a new directory\n");
            Files.writeString(root.resolve("newdir" + r + "/y"), "untracked in a new directory\n");
            Snapshot newDir = check("a new directory" + round, lookAhead);
            assertTrue(newDir.dirtyPaths().contains("newdir" + r + "/sub/x"), newDir.dirtyPaths().toString());
            Files.move(root.resolve("newdir" + r), root.resolve("moved" + r));
            check("a directory renamed" + round, lookAhead);
            Files.move(root.resolve("gone" + r + "/a"), root.resolve("gone" + r + "/a.moved"));
            check("a tracked file renamed" + round, lookAhead);
            Files.move(root.resolve("gone" + r + "/a.moved"), root.resolve("gone" + r + "/a"));

            Files.delete(root.resolve("d2/f" + (2 + 4 * Integer.parseInt(r))));
            check("a deleted file" + round, lookAhead);

            IsolatedGit.run(root, "add", "-f", "kept" + r + ".log"); // the index alone changes
            Snapshot forced = check("an ignored file forced into the index" + round, lookAhead);
            assertTrue(forced.dirtyPaths().contains("kept" + r + ".log"), forced.dirtyPaths().toString());

            IsolatedGit.run(root, "rm", "-q", "--cached", "d3/f" + (3 + 4 * Integer.parseInt(r)));
            check("a file unstaged" + round, lookAhead);

            Files.writeString(root.resolve("secret" + r + ".log"), "S=1\n"); // ignored
            IsolatedGit.run(root, "add", "-f", "secret" + r + ".log");
            check("an ignored file forced into the index" + round, lookAhead);
            IsolatedGit.run(root, "reset", "-q", "--", "secret" + r + ".log");
            Snapshot unstaged = check("the ignored file taken out of the index again" + round, lookAhead);
            assertFalse(unstaged.dirtyPaths().contains("secret" + r + ".log"), "ignored again: " + unstaged.dirtyPaths());

            IsolatedGit.run(root, "rm", "-q", "--cached", "tracked" + r + ".log"); // in HEAD, ignored, staged out
            Files.writeString(root.resolve("tracked" + r + ".log"), "edited after git rm --cached\n");
            Snapshot stagedOut = check("a tracked ignored file staged out and edited" + round, lookAhead);
            assertTrue(stagedOut.dirtyPaths().contains("tracked" + r + ".log"), stagedOut.dirtyPaths().toString());

            Files.writeString(root.resolve("d0/f0"), "file 0\n" + "-".repeat(4000) + "\n"); // back to HEAD's
            check("an edit undone" + round, lookAhead);

            Files.delete(root.resolve("gone" + r + "/a"));
            Files.delete(root.resolve("gone" + r + "/b"));
            Files.delete(root.resolve("gone" + r));
            check("a deleted directory" + round, lookAhead);

            Files.writeString(tmp.resolve("excludes"), ""); // outside the tree
            Snapshot unexcluded = check("the excludes file outside the tree" + round, lookAhead);
            assertTrue(unexcluded.dirtyPaths().contains("later" + r + ".tmp"), unexcluded.dirtyPaths().toString());
            Files.writeString(tmp.resolve("excludes"), "*.tmp\n");
            check("the excludes file back" + round, lookAhead);

            Files.writeString(root.resolve(".gitignore"), "build/\n");
            Snapshot unignored = check("a .gitignore edit" + round, lookAhead);
            assertTrue(unignored.dirtyPaths().contains("d1/more" + r + ".log"), unignored.dirtyPaths().toString());
            Files.writeString(root.resolve(".gitignore"), "build/\n*.log\n");
            check("the .gitignore back" + round, lookAhead);

            Files.writeString(root.resolve("crlf" + r + ".txt"), "one\ntwo\n");
            IsolatedGit.run(root, "add", "crlf" + r + ".txt");
            IsolatedGit.run(root, "commit", "-qm", "crlf" + round);
            check("a commit" + round, lookAhead);
            Files.writeString(root.resolve(".git/info/attributes"), "*.txt text eol=crlf\n");
            check("attributes that convert" + round, lookAhead);
            Files.delete(root.resolve("crlf" + r + ".txt"));
            IsolatedGit.run(root, "checkout", "--", "crlf" + r + ".txt"); // CRLF now, and the index says so
            check("a file as its attributes check it out" + round, lookAhead);
            Files.setLastModifiedTime(root.resolve("crlf" + r + ".txt"),
                    java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5000));
            Snapshot touched = check("a converted file touched" + round, lookAhead); // its bytes are not HEAD's blob
            assertFalse(touched.dirtyPaths().contains("crlf" + r + ".txt"), "git stores it as HEAD holds it: "
                    + touched.dirtyPaths());
            Files.delete(root.resolve(".git/info/attributes"));
            Files.writeString(root.resolve("crlf" + r + ".txt"), "one\ntwo\n");
            check("the attributes gone" + round, lookAhead);

            IsolatedGit.run(root, "init", "-q", "nested");
            Files.writeString(root.resolve("nested/inside"), "a nested repository's file\n");
            check("a nested repository" + round, lookAhead);
            Files.writeString(root.resolve("nested/inside"), "edited\n");
            check("a nested repository's file edited" + round, lookAhead);
            Tree.delete(root.resolve("nested"));
            check("the nested repository gone" + round, lookAhead);
        }
    }
}
