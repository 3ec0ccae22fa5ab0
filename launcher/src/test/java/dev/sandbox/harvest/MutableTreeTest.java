package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.ObjectReader;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Trees edited in memory must come out exactly as git itself would write them. */
@ExtendWith(IsolatedGit.class)
class MutableTreeTest {
    @TempDir
    Path dir;

    @Test
    void write_namesThatSortDifferentlyAsTrees_sameIdAsGitWriteTree() throws Exception {
        Path work = Files.createDirectories(dir.resolve("work"));
        // "a.b" < "a/" < "a0" in git's order, though "a" < "a.b" as plain strings
        String[] files = {"a.b", "a/c", "a0", "a-b/d", "z"};
        for (String f : files) {
            write(work.resolve(f), f + "\n");
        }
        git(work, "init", "-q");
        git(work, "add", "-A");
        String expected = git(work, "write-tree");

        try (Repository repo = open(work); ObjectInserter ins = repo.newObjectInserter();
                ObjectReader reader = repo.newObjectReader()) {
            MutableTree t = MutableTree.of(reader, null);
            for (String f : files) {
                t.put(f, FileMode.REGULAR_FILE, ObjectId.fromString(git(work, "hash-object", f)));
            }
            assertEquals(expected, t.writeRoot(ins).name());
        }
    }

    @Test
    void deleteAndPut_onAnExistingTree_readOnlyTouchedSubtreesAndDiffListsFiles() throws Exception {
        Path work = Files.createDirectories(dir.resolve("work"));
        write(work.resolve("keep/k.txt"), "k\n");
        write(work.resolve("gone/g1.txt"), "g1\n");
        write(work.resolve("gone/sub/g2.txt"), "g2\n");
        write(work.resolve("f"), "f\n");
        git(work, "init", "-q");
        git(work, "add", "-A");
        String base = git(work, "write-tree");
        // what git makes of the same edits
        git(work, "rm", "-q", "-f", "-r", "gone");
        git(work, "rm", "-q", "-f", "f");
        write(work.resolve("f/now-a-dir.txt"), "x\n");
        git(work, "add", "-A");
        String expected = git(work, "write-tree");

        try (Repository repo = open(work); ObjectInserter ins = repo.newObjectInserter();
                ObjectReader reader = repo.newObjectReader()) {
            MutableTree before = MutableTree.of(reader, ObjectId.fromString(base));
            MutableTree after = MutableTree.of(reader, ObjectId.fromString(base));
            assertTrue(after.delete("gone"));
            assertFalse(after.delete("never/was"));
            after.put("f/now-a-dir.txt", FileMode.REGULAR_FILE, ObjectId.fromString(git(work, "hash-object",
                    "f/now-a-dir.txt")));
            before.writeRoot(ins);
            assertEquals(expected, after.writeRoot(ins).name());

            List<String> changes = new ArrayList<>();
            for (FileChange c : MutableTree.diff(before, after)) {
                changes.add((c.added() ? "A " : c.deleted() ? "D " : "M ") + c.path());
            }
            assertEquals(List.of("D f", "A f/now-a-dir.txt", "D gone/g1.txt", "D gone/sub/g2.txt"), changes);
        }
    }

    @Test
    void delete_lastEntryOfASubtree_dropsTheEmptySubtreeLikeGit() throws Exception {
        Path work = Files.createDirectories(dir.resolve("work"));
        write(work.resolve("a/only.txt"), "o\n");
        write(work.resolve("b.txt"), "b\n");
        git(work, "init", "-q");
        git(work, "add", "-A");
        String base = git(work, "write-tree");
        git(work, "rm", "-q", "-f", "a/only.txt");
        String expected = git(work, "write-tree");
        try (Repository repo = open(work); ObjectInserter ins = repo.newObjectInserter();
                ObjectReader reader = repo.newObjectReader()) {
            MutableTree t = MutableTree.of(reader, ObjectId.fromString(base));
            t.delete("a/only.txt");
            assertEquals(expected, t.writeRoot(ins).name());
        }
    }

    @Test
    void writeDiffDelete_treeTwentyThousandLevelsDeep_noRecursion() throws IOException {
        ObjectInserter.Formatter ids = new ObjectInserter.Formatter() {
            @Override
            public ObjectId insert(int type, long length, java.io.InputStream in) throws IOException {
                return idFor(type, length, in);
            }
        };
        String deep = "d/".repeat(20_000) + "f";
        MutableTree before = MutableTree.of(null, null);
        MutableTree after = MutableTree.of(null, null);
        after.put(deep, FileMode.REGULAR_FILE, ObjectId.zeroId());
        before.writeRoot(ids);
        after.writeRoot(ids);

        List<FileChange> changes = MutableTree.diff(before, after);
        assertEquals(1, changes.size());
        assertEquals(deep, changes.get(0).path());
        assertTrue(after.delete(deep));
        assertEquals(before.writeRoot(ids), after.writeRoot(ids), "the emptied chain is dropped, as git drops it");
    }

    private static Repository open(Path work) throws IOException {
        return new FileRepositoryBuilder().setGitDir(work.resolve(".git").toFile()).setMustExist(true).build();
    }

    private static void write(Path p, String content) throws IOException {
        Files.createDirectories(p.getParent());
        Files.writeString(p, content, StandardCharsets.UTF_8);
    }

    private static String git(Path dir, String... args) {
        return IsolatedGit.run(dir, args);
    }
}
