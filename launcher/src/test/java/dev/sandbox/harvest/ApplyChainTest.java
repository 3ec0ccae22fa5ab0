package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.ObjectReader;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Apply#plan} over a {@link Apply.Chain}: for sandboxes whose changes meet (the same
 * line, a file where the other makes a directory, a directory the other empties), planning
 * them all over the chain and then writing must do exactly what applying them one after the
 * other on the disk does ({@link Apply#run} each, the oracle): the same paths updated and in
 * conflict for each sandbox, the same tree in the end, and nothing written by the planning.
 */
@ExtendWith(IsolatedGit.class)
class ApplyChainTest {
    private static final String FIVE = "one\ntwo\nthree\nfour\nfive\n";

    @TempDir
    Path tmp;
    Repository repo;
    ObjectInserter ins;
    ObjectReader reader;
    /** The user's tree every scenario starts from. */
    final Map<String, String> base = new LinkedHashMap<>(Map.of("f.txt", FIVE, "g.txt", "g\n", "d/x.txt", "x\n",
            "d/y.txt", "y\n", "top.txt", "top\n"));

    /** One sandbox: its name and its changes against the snapshot (= {@link #base}). */
    record Sb(String name, List<FileChange> changes) {
    }

    @BeforeEach
    void open() throws Exception {
        Path git = Files.createDirectories(tmp.resolve("objects-repo"));
        HarvestTest.git(git, "init", "-q");
        repo = new FileRepositoryBuilder().setGitDir(git.resolve(".git").toFile()).build();
        ins = repo.newObjectInserter();
        reader = repo.newObjectReader();
    }

    @AfterEach
    void close() {
        reader.close();
        ins.close();
        repo.close();
    }

    @Test
    void differentFiles_bothClean() throws Exception {
        List<List<Apply.Conflict>> c = sameAsOneAfterTheOther("different files",
                new Sb("a", List.of(mod("f.txt", FIVE, FIVE.replace("one", "ONE")))),
                new Sb("b", List.of(mod("g.txt", "g\n", "G\n"), add("new.txt", "new\n"))));
        assertEquals(List.of(List.of(), List.of()), c);
    }

    @Test
    void sameLine_conflictsInTheLaterOnly_namingTheEarlier() throws Exception {
        List<List<Apply.Conflict>> c = sameAsOneAfterTheOther("the same line",
                new Sb("a", List.of(mod("f.txt", FIVE, FIVE.replace("three", "three by a")))),
                new Sb("b", List.of(mod("f.txt", FIVE, FIVE.replace("three", "three by b")))),
                new Sb("c", List.of(mod("top.txt", "top\n", "top by c\n"))));
        assertEquals(List.of(), c.get(0), "a alone is clean");
        assertEquals(List.of(new Apply.Conflict("f.txt",
                "changed by sandbox 'a' and in the sandbox", ": conflict markers written")), c.get(1));
        assertEquals(List.of(), c.get(2), "c after them is clean");
    }

    @Test
    void otherLines_mergedClean_andAThirdOnTheMarkersOfTheSecond() throws Exception {
        List<List<Apply.Conflict>> c = sameAsOneAfterTheOther("lines",
                new Sb("a", List.of(mod("f.txt", FIVE, FIVE.replace("one", "ONE")))),
                new Sb("b", List.of(mod("f.txt", FIVE, FIVE.replace("five", "FIVE")))),
                new Sb("c", List.of(mod("f.txt", FIVE, FIVE.replace("one", "1")))),
                new Sb("d", List.of(mod("f.txt", FIVE, FIVE.replace("three", "3")))));
        assertEquals(List.of(), c.get(1), "b merges over a");
        assertEquals(1, c.get(2).size(), "c's line is a's");
    }

    @Test
    void sameChange_theLaterHasNothingToDo() throws Exception {
        sameAsOneAfterTheOther("the same edit",
                new Sb("a", List.of(mod("g.txt", "g\n", "G\n"), add("n/new.txt", "n\n"))),
                new Sb("b", List.of(mod("g.txt", "g\n", "G\n"), add("n/new.txt", "n\n"))));
    }

    @Test
    void addedTwiceDifferently_anAddAddConflict() throws Exception {
        List<List<Apply.Conflict>> c = sameAsOneAfterTheOther("add/add",
                new Sb("a", List.of(add("new.txt", "from a\n"))),
                new Sb("b", List.of(add("new.txt", "from b\n"))));
        assertEquals(1, c.get(1).size());
    }

    @Test
    void deletedByOne_changedByTheOther() throws Exception {
        List<List<Apply.Conflict>> c = sameAsOneAfterTheOther("delete/modify",
                new Sb("a", List.of(del("g.txt", "g\n"))),
                new Sb("b", List.of(mod("g.txt", "g\n", "G\n"))),
                new Sb("c", List.of(del("top.txt", "top\n"))),
                new Sb("e", List.of(mod("top.txt", "top\n", "TOP\n"))));
        assertTrue(c.get(1).get(0).why().contains("deleted by sandbox 'a'"), c.toString());
    }

    @Test
    void directoryEmptiedByOne_madeAFileByTheOther() throws Exception {
        sameAsOneAfterTheOther("directory emptied, then a file",
                new Sb("a", List.of(del("d/x.txt", "x\n"), del("d/y.txt", "y\n"))),
                new Sb("b", List.of(del("d/x.txt", "x\n"), del("d/y.txt", "y\n"), add("d", "d is a file\n"))));
    }

    @Test
    void fileMadeADirectoryByOne_editedByTheOther() throws Exception {
        List<List<Apply.Conflict>> c = sameAsOneAfterTheOther("file to directory",
                new Sb("a", List.of(del("g.txt", "g\n"), add("g.txt/inner", "inner\n"))),
                new Sb("b", List.of(mod("g.txt", "g\n", "G\n"))));
        assertEquals(1, c.get(1).size(), "a directory is in the way");
    }

    @Test
    void fileByOne_whereTheOtherMakesADirectory() throws Exception {
        List<List<Apply.Conflict>> c = sameAsOneAfterTheOther("file in the way",
                new Sb("a", List.of(add("n", "n is a file\n"))),
                new Sb("b", List.of(add("n/inside.txt", "inside\n"))),
                new Sb("c", List.of(add("n", "n, again\n"))));
        assertTrue(c.get(1).get(0).why().contains("from sandbox 'a' is in the way"), c.toString());
    }

    @Test
    void directoryMadeByOne_whereTheOtherWritesAFile() throws Exception {
        List<List<Apply.Conflict>> c = sameAsOneAfterTheOther("directory in the way",
                new Sb("a", List.of(add("n/inside.txt", "inside\n"))),
                new Sb("b", List.of(add("n", "n is a file\n"))));
        assertEquals(1, c.get(1).size(), c.toString());
    }

    /**
     * Applies {@code sbs} one after the other on one copy of {@link #base} (the oracle) and
     * plans them over a chain on another, asserts that the plans wrote nothing and match the
     * oracle's outcomes, that writing them gives the oracle's tree; returns each sandbox's
     * conflicts as the chain planned them.
     */
    private List<List<Apply.Conflict>> sameAsOneAfterTheOther(String what, Sb... sbs) throws Exception {
        Path one = plant("one-" + what.hashCode());
        Path chained = plant("chained-" + what.hashCode());
        Map<String, String> before = files(chained);
        List<Apply.Outcome> oracle = new ArrayList<>();
        for (Sb sb : sbs) {
            oracle.add(Apply.run(reader, sb.changes(), one, sb.name(), false));
        }

        Apply.Chain chain = new Apply.Chain();
        List<Apply.Plan> plans = new ArrayList<>();
        for (Sb sb : sbs) {
            plans.add(Apply.plan(reader, sb.changes(), chained, sb.name(), chain));
        }
        assertEquals(before, files(chained), what + ": planning writes nothing");
        List<List<Apply.Conflict>> conflicts = new ArrayList<>();
        for (int i = 0; i < sbs.length; i++) {
            Apply.Outcome o = plans.get(i).unwritten();
            assertEquals(oracle.get(i).updated(), o.updated(), what + ": " + sbs[i].name() + " updates");
            assertEquals(paths(oracle.get(i).conflicts()), paths(o.conflicts()), what + ": " + sbs[i].name()
                    + " conflicts");
            conflicts.add(o.conflicts());
        }
        for (Apply.Plan p : plans) {
            assertTrue(p.write().written());
        }
        assertEquals(files(one), files(chained), what + ": the tree after all of them");
        return conflicts;
    }

    private static List<String> paths(List<Apply.Conflict> conflicts) {
        return conflicts.stream().map(Apply.Conflict::path).toList();
    }

    private Path plant(String name) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        for (Map.Entry<String, String> e : base.entrySet()) {
            Files.createDirectories(dir.resolve(e.getKey()).getParent());
            Files.writeString(dir.resolve(e.getKey()), e.getValue());
        }
        return dir;
    }

    private FileChange mod(String path, String from, String to) throws IOException {
        return new FileChange(path, FileMode.REGULAR_FILE, blob(from), FileMode.REGULAR_FILE, blob(to));
    }

    private FileChange add(String path, String content) throws IOException {
        return new FileChange(path, null, null, FileMode.REGULAR_FILE, blob(content));
    }

    private FileChange del(String path, String content) throws IOException {
        return new FileChange(path, FileMode.REGULAR_FILE, blob(content), null, null);
    }

    private ObjectId blob(String content) throws IOException {
        ObjectId id = ins.insert(Constants.OBJ_BLOB, content.getBytes(StandardCharsets.UTF_8));
        ins.flush();
        return id;
    }

    /** Every file and directory below {@code dir}: a directory maps to "/", a file to its text. */
    private static Map<String, String> files(Path dir) throws IOException {
        Map<String, String> all = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                all.put(dir.relativize(p).toString(), Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? "/"
                        : Files.readString(p));
            }
        }
        return all;
    }
}
