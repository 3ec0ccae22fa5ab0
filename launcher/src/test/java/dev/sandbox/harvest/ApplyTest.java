package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Apply} on a real repository: for each pair of upper and lower entries
 * ({@link LayerPairs}), the user's tree the harvest leaves, judged by its files and by
 * {@code git status}; and with a real submodule checkout, a change that moves a submodule,
 * or turns one into something else or back, is left out and reported, and nothing in or
 * below the submodule's directory is written or deleted.
 */
@ExtendWith(IsolatedGit.class)
class ApplyTest {
    private static final ObjectId ELSEWHERE = ObjectId.fromString("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c");

    @TempDir
    Path tmp;
    Path work;
    ObjectId subHead;
    Repository repo;
    ObjectInserter ins;
    ObjectReader reader;

    /** A repository whose commit holds a few files and the submodule {@code sub}, checked out. */
    private void withSubmodule() throws Exception {
        work = Files.createDirectories(tmp.resolve("work"));
        write("top.txt", "top\n");
        write("f.txt", "f\n");
        write("d/x.txt", "x\n");
        write("d/y.txt", "y\n");
        write("sub/inside.txt", "the submodule's own file\n");
        HarvestTest.git(work.resolve("sub"), "init", "-q");
        HarvestTest.git(work.resolve("sub"), "add", "-A");
        HarvestTest.git(work.resolve("sub"), "commit", "-q", "-m", "sub");
        subHead = ObjectId.fromString(HarvestTest.git(work.resolve("sub"), "rev-parse", "HEAD"));
        HarvestTest.git(work, "init", "-q");
        HarvestTest.git(work, "add", "-A"); // sub, a repository of its own, becomes a gitlink
        HarvestTest.git(work, "commit", "-q", "-m", "base");
        assertTrue(HarvestTest.git(work, "ls-files", "-s", "sub").startsWith("160000 " + subHead.name()),
                "sub is recorded as a gitlink");
        repo = new FileRepositoryBuilder().setGitDir(work.resolve(".git").toFile()).build();
        ins = repo.newObjectInserter();
        reader = repo.newObjectReader();
    }

    @AfterEach
    void close() {
        if (repo != null) {
            reader.close();
            ins.close();
            repo.close();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.sandbox.harvest.LayerPairs#all")
    void run_upperOverLower_theUsersTreeAsTheSandboxLeftIt(LayerPairs.Pair pair) throws Exception {
        Layers l = new Layers(tmp.resolve("pair"), r -> LayerPairs.plant(r, pair.lower()));
        LayerPairs.plant(l.upper, pair.upper());

        Apply.Outcome o = l.harvest(h -> Apply.run(h.reader(), h.trees(l.source(), false, true).changes(), l.repo,
                "sb", false));

        assertEquals(List.of(), o.conflicts());
        assertEquals(pair.after(), LayerPairs.listing(l.repo), "the user's files");
        IsolatedGit.Result status = IsolatedGit.exec(l.repo, null, "status", "--porcelain", "--untracked-files=all");
        assertEquals(0, status.status(), status.err());
        assertEquals(pair.status(), status.out().lines().toList(), "git status");
    }

    @Test
    void run_submoduleMoved_leftOutAndReported_submoduleUntouched_restApplied() throws Exception {
        withSubmodule();
        Map<String, String> sub = files(work.resolve("sub"));

        Apply.Outcome o = Apply.run(reader, List.of(
                new FileChange("sub", FileMode.GITLINK, subHead, FileMode.GITLINK, ELSEWHERE),
                new FileChange("top.txt", FileMode.REGULAR_FILE, blob("top\n"), FileMode.REGULAR_FILE,
                        blob("top by agent\n"))), work, "c", false);

        assertEquals(List.of(new Apply.Submodule("sub", subHead.abbreviate(12).name(), "0f1e2d3c4b5a")), o.leftOut());
        assertEquals(List.of("top.txt"), o.updated(), "the rest is applied");
        assertEquals(List.of(), o.conflicts(), "no conflict: apply exits 0");
        assertTrue(o.written());
        assertEquals("top by agent\n", Files.readString(work.resolve("top.txt")));
        assertEquals(sub, files(work.resolve("sub")), "the submodule's checkout, its .git included, is as it was");
        try (Stream<Path> s = Files.list(work)) {
            assertEquals(List.of(), s.filter(p -> p.getFileName().toString().startsWith("sub.")).toList(),
                    "nothing written beside it");
        }
    }

    @Test
    void run_gitlinkOnEitherSideOfATypeChange_leftOut_nothingWrittenOrDeleted() throws Exception {
        withSubmodule();
        String at = subHead.abbreviate(12).name();
        record Case(String what, List<FileChange> changes, Apply.Submodule reported) {
        }
        List<Case> cases = List.of(
                new Case("a submodule replaced by a file", List.of(
                        new FileChange("sub", FileMode.GITLINK, subHead, FileMode.REGULAR_FILE, blob("a file now\n"))),
                        new Apply.Submodule("sub", at, "a file")),
                new Case("a submodule replaced by a directory", List.of(
                        new FileChange("sub", FileMode.GITLINK, subHead, null, null),
                        new FileChange("sub/inside.txt", null, null, FileMode.REGULAR_FILE, blob("agent's\n")),
                        new FileChange("sub/new.txt", null, null, FileMode.REGULAR_FILE, blob("new\n"))),
                        new Apply.Submodule("sub", at, "a directory")),
                new Case("a submodule removed", List.of(new FileChange("sub", FileMode.GITLINK, subHead, null, null)),
                        new Apply.Submodule("sub", at, "none")),
                new Case("a directory replaced by a submodule", List.of(
                        new FileChange("d/x.txt", FileMode.REGULAR_FILE, blob("x\n"), null, null),
                        new FileChange("d/y.txt", FileMode.REGULAR_FILE, blob("y\n"), null, null),
                        new FileChange("d", null, null, FileMode.GITLINK, ELSEWHERE)),
                        new Apply.Submodule("d", "a directory", "0f1e2d3c4b5a")),
                new Case("a file replaced by a submodule", List.of(
                        new FileChange("f.txt", FileMode.REGULAR_FILE, blob("f\n"), FileMode.GITLINK, ELSEWHERE)),
                        new Apply.Submodule("f.txt", "a file", "0f1e2d3c4b5a")),
                new Case("a submodule added", List.of(new FileChange("new-sub", null, null, FileMode.GITLINK, ELSEWHERE)),
                        new Apply.Submodule("new-sub", "none", "0f1e2d3c4b5a")));
        for (Case c : cases) {
            Map<String, String> before = files(work);

            Apply.Outcome o = Apply.run(reader, c.changes(), work, "c", false);

            assertEquals(List.of(c.reported()), o.leftOut(), c.what());
            assertEquals(List.of(), o.updated(), c.what());
            assertEquals(List.of(), o.conflicts(), c.what());
            assertEquals(before, files(work), c.what() + ": the working tree is as it was");
        }
    }

    private ObjectId blob(String content) throws IOException {
        ObjectId id = ins.insert(Constants.OBJ_BLOB, content.getBytes(StandardCharsets.UTF_8));
        ins.flush();
        return id;
    }

    private void write(String path, String content) throws IOException {
        Files.createDirectories(work.resolve(path).getParent());
        Files.writeString(work.resolve(path), content);
    }

    /** Every file and directory below {@code dir}, the superproject's .git left out: a directory maps to "/". */
    private Map<String, String> files(Path dir) throws IOException {
        Map<String, String> all = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                String rel = dir.relativize(p).toString();
                if (dir.equals(work) && (rel.equals(".git") || rel.startsWith(".git/"))) {
                    continue;
                }
                all.put(rel, Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? "/"
                        : Arrays.toString(Files.readAllBytes(p)));
            }
        }
        return all;
    }
}
