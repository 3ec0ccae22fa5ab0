package dev.sandbox.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.Source;
import dev.sandbox.harvest.Trees;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The upper layer made from a whole tree, judged by real oracles: the layer's own entries
 * (whiteouts as character devices 0/0), a real overlay mount of it over the snapshot compared
 * with the tree ({@code diff -r --no-dereference} and every entry's type, mode and link
 * target), git's tree id of both, and the harvest's merged tree of snapshot and layer.
 */
class UpperFromTreeTest {
    @TempDir
    Path tmp;
    Path lower;
    Path tree;
    Path upper;
    Path home;

    @BeforeEach
    void snapshot() throws Exception {
        home = Files.createDirectories(tmp.resolve("home"));
        lower = Files.createDirectories(tmp.resolve("lower"));
        write("a.txt", "a\n");
        write("keep.txt", "keep\n");
        write("same-size.txt", "abcdef\n");
        Files.write(lower.resolve("big.bin"), bytes(200 * 1024));
        Files.write(lower.resolve("big-same.bin"), bytes(200 * 1024));
        write("run.sh", "#!/bin/sh\n");
        write("tool.sh", "#!/bin/sh\necho tool\n");
        write("deleted.txt", "deleted\n");
        write("victim.txt", "victim\n");
        write("gone/1", "1\n");
        write("gone/deep/2", "2\n");
        write("fileToDir", "file\n");
        write("dirToFile/inner.txt", "inner\n");
        write("old/z.txt", "z\n");
        write("old/sub/w.txt", "w\n");
        write("dir/x.txt", "x\n");
        write("dir/y.txt", "y\n");
        write("nested/a/b/c.txt", "c\n");
        write("modedir/m.txt", "m\n");
        Files.createSymbolicLink(lower.resolve("link"), Path.of("a.txt"));
        Files.createSymbolicLink(lower.resolve("link-dir"), Path.of("dir"));
        run(lower, "chmod", "-R", "u=rwX,go=rX", ".");
        run(lower, "chmod", "755", "run.sh");
        git(lower, "init", "-q");
        git(lower, "add", "-A");
        git(lower, "commit", "-q", "-m", "base");
        tree = tmp.resolve("tree");
        run(tmp, "cp", "-a", lower.toString(), tree.toString());
        upper = Files.createDirectories(tmp.resolve("upper"));
    }

    @Test
    void write_agentsEdits_upperHoldsExactlyTheChanges_andMergesBackIntoTheTree() throws Exception {
        edit("printf 'a changed\\n' > a.txt; printf 'abcxef\\n' > same-size.txt",
                "printf X | dd of=big.bin bs=1 seek=150000 conv=notrunc status=none",
                "touch -d 2001-01-01 keep.txt big-same.bin; chmod +x tool.sh",
                "printf 'new\\n' > new.txt; printf 'n\\n' > dir/new.txt; rm dir/y.txt deleted.txt; rm -r gone",
                "rm fileToDir; mkdir fileToDir; printf 'in\\n' > fileToDir/inside.txt",
                "rm -r dirToFile; printf 'now a file\\n' > dirToFile",
                "ln -sfn keep.txt link; mv old new-name; mkdir emptydir; printf 'c2\\n' > nested/a/b/c.txt",
                "chmod 700 modedir; mkdir readonly; printf 'r\\n' > readonly/r.txt; chmod 555 readonly",
                "printf 'h\\n' > hard1; ln hard1 hard2");
        Path expected = copyOfTree();

        UpperFromTree.Result r = UpperFromTree.write(lower, tree, upper);

        assertEquals(List.of(
                "a.txt f644 a changed",
                "big.bin f644",
                "deleted.txt whiteout",
                "dir d755",
                "dir/new.txt f644 n",
                "dir/y.txt whiteout",
                "dirToFile f644 now a file",
                "emptydir d755",
                "fileToDir d755",
                "fileToDir/inside.txt f644 in",
                "gone whiteout",
                "hard1 f644 h",
                "hard2 f644 h",
                "link l keep.txt",
                "modedir d700",
                "nested d755",
                "nested/a d755",
                "nested/a/b d755",
                "nested/a/b/c.txt f644 c2",
                "new-name d755",
                "new-name/sub d755",
                "new-name/sub/w.txt f644 w",
                "new-name/z.txt f644 z",
                "new.txt f644 new",
                "old whiteout",
                "readonly d555",
                "readonly/r.txt f644 r",
                "same-size.txt f644 abcxef",
                "tool.sh f755 #!/bin/sh"), entries(upper));
        assertEquals(new UpperFromTree.Result(21, 4, 0), r);
        mergesBack(expected);
    }

    @Test
    void write_agentCommitted_gitDirectoryChangesComeBack_andHarvestFindsTheCommit() throws Exception {
        edit("printf 'a changed\\n' > a.txt; rm -r gone; printf 'new\\n' > new.txt");
        git(tree, "add", "-A");
        git(tree, "commit", "-q", "-m", "agent's work");
        String agentHead = git(tree, "rev-parse", "HEAD");
        Path expected = copyOfTree();

        UpperFromTree.Result r = UpperFromTree.write(lower, tree, upper);

        assertTrue(Files.isRegularFile(upper.resolve(".git/HEAD")) || Files.isDirectory(upper.resolve(".git/refs")),
                "the agent's refs are in the layer");
        assertTrue(r.written() > 3, r.toString());
        Trees t = mergesBack(expected);
        assertNotNull(t.agentHead(), "the harvest reads the agent's HEAD through the layer");
        assertEquals(agentHead, t.agentHead().name());
    }

    @Test
    void write_unchangedTree_emptyUpper() throws Exception {
        edit("touch -d 2001-01-01 a.txt dir gone/deep/2 big.bin; chmod 644 keep.txt");

        assertEquals(new UpperFromTree.Result(0, 0, 0), UpperFromTree.write(lower, tree, upper));
        assertEquals(List.of(), entries(upper));
    }

    @Test
    void write_specialFilesAndLinksOut_skippedOrWrittenAsLinks_neverFollowed() throws Exception {
        edit("mkfifo new-fifo; rm victim.txt; mkfifo victim.txt; mknod fake-whiteout c 0 0",
                "rm -r dir; ln -s / dir; rm -r old; ln -s /etc old; ln -s /nowhere dangling");

        UpperFromTree.Result r = UpperFromTree.write(lower, tree, upper);

        assertEquals(List.of(
                "dangling l /nowhere",
                "dir l /",
                "old l /etc",
                "victim.txt whiteout"), entries(upper));
        assertEquals(new UpperFromTree.Result(3, 1, 3), r);
    }

    @Test
    void write_namesNotUtf8_keptByteForByte() throws Exception {
        run(lower, "sh", "-ec", "printf 'l\\n' > \"$(printf 'lat\\351')\"; printf 'o\\n' > \"$(printf 'old\\351')\"");
        run(tmp, "rm", "-r", tree.toString());
        run(tmp, "cp", "-a", lower.toString(), tree.toString());
        edit("printf 'changed\\n' > \"$(printf 'lat\\351')\"; rm \"$(printf 'old\\351')\"",
                "mkdir \"$(printf 'new\\377')\"; printf 'n\\n' > \"$(printf 'new\\377/f\\376')\"");

        UpperFromTree.Result r = UpperFromTree.write(lower, tree, upper);

        assertEquals(new UpperFromTree.Result(3, 1, 0), r);
        run(upper, "sh", "-ec", "test \"$(cat \"$(printf 'lat\\351')\")\" = changed; test -c \"$(printf 'old\\351')\""
                + "; test \"$(cat \"$(printf 'new\\377/f\\376')\")\" = n; test \"$(ls | wc -l)\" = 3");
    }

    @Test
    void write_newChain1500Deep_takenWithoutRecursion() throws Exception {
        Path bottom = tree.resolve("d/".repeat(1500));
        Files.createDirectories(bottom);
        Files.writeString(bottom.resolve("f"), "bottom\n");

        UpperFromTree.Result r = UpperFromTree.write(lower, tree, upper);

        assertEquals(new UpperFromTree.Result(1501, 0, 0), r);
        assertEquals("bottom\n", Files.readString(upper.resolve("d/".repeat(1500) + "f")));
    }

    @Test
    void write_pathLongerThanPathMax_skippedAndCounted() throws Exception {
        try {
            // 2100 levels of "d/": made one relative step at a time, as no path this long can be named
            edit("i=0; while [ $i -lt 2100 ]; do mkdir d; cd -P d; i=$((i+1)); done; printf 'f\\n' > f");
            // A level fits when it does under the longest of the three roots (the others are as
            // long or shorter): ROOT + "/d" per level, at most PATH_MAX bytes. Where the temporary
            // directory is decides the roots' lengths, so the count is worked out from them.
            int root = Stream.of(lower, tree, upper).mapToInt(p -> p.toString().getBytes(StandardCharsets.UTF_8).length).max().orElseThrow();
            int fit = (UpperFromTree.PATH_MAX - root) / 2;
            assertTrue(root + 2 * fit <= UpperFromTree.PATH_MAX && root + 2 * (fit + 1) > UpperFromTree.PATH_MAX);
            assertTrue(fit > 1000 && fit < 2100, "the chain must cross PATH_MAX: " + fit + " levels fit");

            UpperFromTree.Result r = UpperFromTree.write(lower, tree, upper);

            assertEquals(new UpperFromTree.Result(fit, 0, 1), r);
            assertTrue(Files.isDirectory(upper.resolve("d/".repeat(fit))));
            assertTrue(upper.resolve("d/".repeat(fit)).toString().length() <= UpperFromTree.PATH_MAX);
        } finally {
            run(tmp, "rm", "-rf", tree.toString(), upper.toString()); // rm walks relative to each directory
        }
    }

    @Test
    void write_upperNotEmptyOrRootNotADirectory_refused() throws Exception {
        Files.writeString(upper.resolve("x"), "x");
        IOException e = assertThrows(IOException.class, () -> UpperFromTree.write(lower, tree, upper));
        assertEquals("'" + upper + "' is not empty", e.getMessage());
        Path link = Files.createSymbolicLink(tmp.resolve("tree-link"), tree);
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(IOException.class, () -> UpperFromTree.write(lower, link, empty));
        assertEquals("'" + link + "' is not a directory", e.getMessage());
    }

    /**
     * Checks that snapshot and layer give the tree back: the harvest's merged tree is git's
     * tree of {@code expected} (the tree before it was consumed), and, where overlayfs can be
     * mounted, the merged view has the same entries, modes, link targets and bytes.
     */
    private Trees mergesBack(Path expected) throws Exception {
        String treeId = treeId(expected, "expected.git");
        Path user = tmp.resolve("user");
        git(tmp, "clone", "-q", lower.toString(), user.toString());
        Trees t;
        try (Harvest h = Harvest.open(user.resolve(".git"))) {
            t = h.trees(new Source(upper, lower, git(lower, "rev-parse", "HEAD"), List.of()), false, true);
        }
        assertEquals(List.of(), t.warnings());
        assertEquals(treeId, t.merged().name(), "the harvest of snapshot + layer is the agent's tree");

        Path merged = Files.createDirectories(tmp.resolve("merged"));
        Path work = Files.createDirectories(tmp.resolve("work"));
        ProcessResult m = exec(tmp, List.of("mount", "-t", "overlay", "-o",
                "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work, "overlay", merged.toString()));
        if (m.status != 0) {
            System.out.println("UpperFromTreeTest: overlay view not checked: can't mount overlayfs here ("
                    + m.err.strip() + "); the harvest's tree was");
            return t;
        }
        try {
            ProcessResult diff = exec(tmp, List.of("diff", "-r", "--no-dereference", expected.toString(),
                    merged.toString()));
            assertEquals(0, diff.status, diff.out + diff.err);
            assertEquals(listing(expected), listing(merged));
            assertEquals(treeId, treeId(merged, "merged.git"));
        } finally {
            run(tmp, "umount", merged.toString());
        }
        return t;
    }

    /** Every entry below {@code dir}: path, type, mode and link target, as find prints them. */
    private String listing(Path dir) throws Exception {
        return run(dir, "sh", "-c", "find . -mindepth 1 -printf '%P %y %m %l\\n' | LC_ALL=C sort");
    }

    /** git's tree id of {@code dir}'s files, through a git directory of its own. */
    private String treeId(Path dir, String gitDir) throws Exception {
        Path g = tmp.resolve(gitDir);
        git(tmp, "init", "-q", "--bare", g.toString());
        git(tmp, "--git-dir=" + g, "--work-tree=" + dir, "add", "-A");
        return git(tmp, "--git-dir=" + g, "--work-tree=" + dir, "write-tree");
    }

    /** What the upper layer holds, sorted by path: type and mode, a link's target, a small file's first line. */
    private static List<String> entries(Path root) throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.filter(p -> !p.equals(root)).sorted().collect(Collectors.toList())) {
                Map<String, Object> a = Files.readAttributes(p, "unix:mode,rdev,size", LinkOption.NOFOLLOW_LINKS);
                int mode = (Integer) a.get("mode");
                String rel = root.relativize(p).toString() + " ";
                String perm = Integer.toOctalString(mode & 07777);
                switch (mode & 0170000) {
                    case 0040000 -> out.add(rel + "d" + perm);
                    case 0120000 -> out.add(rel + "l " + Files.readSymbolicLink(p));
                    case 0100000 -> out.add((rel + "f" + perm + " " + ((Long) a.get("size") < 64
                            ? Files.readString(p).lines().findFirst().orElse("") : "")).strip());
                    case 0020000 -> out.add(rel + ((Long) a.get("rdev") == 0 ? "whiteout" : "device"));
                    default -> out.add(rel + "other");
                }
            }
        }
        return out;
    }

    /** Runs the agent's edits in the tree, one shell line each. */
    private void edit(String... lines) throws Exception {
        run(tree, "sh", "-ec", String.join("\n", lines));
    }

    private Path copyOfTree() throws Exception {
        Path copy = tmp.resolve("expected");
        run(tmp, "cp", "-a", tree.toString(), copy.toString());
        return copy;
    }

    private void write(String rel, String text) throws IOException {
        Path p = lower.resolve(rel);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + i / 251);
        }
        return b;
    }

    private String git(Path dir, String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of("git"));
        argv.addAll(Arrays.asList(args));
        return run(dir, argv.toArray(String[]::new));
    }

    private String run(Path dir, String... argv) throws Exception {
        ProcessResult r = exec(dir, List.of(argv));
        assertEquals(0, r.status, String.join(" ", argv) + ": " + r.err);
        return r.out.strip();
    }

    private record ProcessResult(int status, String out, String err) {
    }

    /** Runs a program with git cut off from this machine's configuration and a fixed author. */
    private ProcessResult exec(Path dir, List<String> argv) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(argv).directory(dir.toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("GIT_"));
        env.put("HOME", home.toString());
        env.put("GIT_CONFIG_NOSYSTEM", "1");
        env.put("GIT_CONFIG_GLOBAL", "/dev/null");
        env.put("GIT_AUTHOR_NAME", "Tester");
        env.put("GIT_AUTHOR_EMAIL", "tester@example.invalid");
        env.put("GIT_COMMITTER_NAME", "Tester");
        env.put("GIT_COMMITTER_EMAIL", "tester@example.invalid");
        env.put("GIT_AUTHOR_DATE", "@1700000000 +0000");
        env.put("GIT_COMMITTER_DATE", "@1700000000 +0000");
        env.put("LC_ALL", "C");
        Process p = pb.start();
        p.getOutputStream().close();
        var err = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return e.toString();
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new ProcessResult(p.waitFor(), out, err.join());
    }
}
