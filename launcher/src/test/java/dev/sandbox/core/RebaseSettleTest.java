package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.snapshot.Stacks;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Rebase#settle} on one path the user changed, with real directories for the old
 * snapshot, the new one, the sandbox's upper layer and its copy, and the real {@code git
 * merge-file}: what the new layer holds after, and what is listed.
 */
class RebaseSettleTest {
    @TempDir
    Path tmp;

    private Path old;
    private Path now;
    private Path upper;
    private Path next;
    private final List<String> merged = new ArrayList<>();
    private final List<Rebase.Conflict> conflicts = new ArrayList<>();

    @BeforeEach
    void layers() throws IOException {
        old = Files.createDirectory(tmp.resolve("old"));
        now = Files.createDirectory(tmp.resolve("new"));
        upper = Files.createDirectory(tmp.resolve("upper"));
        next = Files.createDirectory(tmp.resolve("next"));
    }

    /** Writes {@code content} at {@code path} of the upper layer and of its copy, as the helper copies it. */
    private void inLayer(String path, String content) throws IOException {
        Stacks.write(upper.resolve(path), content);
        Stacks.write(next.resolve(path), content);
    }

    private void settle(String path) throws IOException {
        Rebase.settle("a", path, upper, next, old, now, tmp.resolve("scratch"), merged, conflicts);
    }

    private String next(String path) throws IOException {
        return Files.readString(next.resolve(path), StandardCharsets.UTF_8);
    }

    @Test
    void settle_editsOnDifferentLines_mergedIntoTheNewLayer() throws IOException {
        Stacks.write(old.resolve("f.txt"), "a\nb\nc\nd\ne\n");
        Stacks.write(now.resolve("f.txt"), "A\nb\nc\nd\ne\n");
        inLayer("f.txt", "a\nb\nc\nd\nE\n");
        settle("f.txt");
        assertEquals("A\nb\nc\nd\nE\n", next("f.txt"));
        assertEquals(List.of("f.txt"), merged);
        assertEquals(List.of(), conflicts);
    }

    @Test
    void settle_editsOnTheSameLine_markersLabelledLikeApply() throws IOException {
        Stacks.write(old.resolve("f.txt"), "a\nb\n");
        Stacks.write(now.resolve("f.txt"), "a\nyours\n");
        inLayer("f.txt", "a\ntheirs\n");
        settle("f.txt");
        assertEquals("a\n<<<<<<< yours\nyours\n=======\ntheirs\n>>>>>>> sandbox a\n", next("f.txt"));
        assertEquals(List.of(new Rebase.Conflict("f.txt",
                "changed in the sandbox and in your tree: conflict markers written")), conflicts);
    }

    @Test
    void settle_aCopyUpOfTheOldVersion_isDropped_soTheUsersShows() throws IOException {
        Stacks.write(old.resolve("d/f.txt"), "old\n");
        Stacks.write(now.resolve("d/f.txt"), "new\n");
        inLayer("d/f.txt", "old\n");
        settle("d/f.txt");
        assertFalse(Files.exists(next.resolve("d/f.txt"), LinkOption.NOFOLLOW_LINKS));
        assertEquals(List.of(), conflicts);
    }

    @Test
    void settle_untouchedByTheLayer_orTheSameEditOnBothSides_changesNothing() throws IOException {
        Stacks.write(old.resolve("f.txt"), "old\n");
        Stacks.write(now.resolve("f.txt"), "new\n");
        settle("f.txt");
        inLayer("g.txt", "same\n");
        Stacks.write(now.resolve("g.txt"), "same\n");
        settle("g.txt");
        assertEquals("same\n", next("g.txt"));
        assertFalse(Files.exists(next.resolve("f.txt")));
        assertEquals(List.of(), merged);
        assertEquals(List.of(), conflicts);
    }

    @Test
    void settle_binaryOrAgainstADirectory_keepsTheSandboxsSide_andListsIt() throws IOException {
        Stacks.write(old.resolve("b.bin"), "a\0b");
        Stacks.write(now.resolve("b.bin"), "a\0c");
        inLayer("b.bin", "a\0d");
        settle("b.bin");
        assertEquals("a\0d", next("b.bin"));
        Stacks.write(now.resolve("p"), "your file\n");
        inLayer("p/inside.txt", "the sandbox's directory\n");
        settle("p");
        Stacks.write(old.resolve("q/f.txt"), "old\n");
        Stacks.write(now.resolve("q/f.txt"), "new\n");
        inLayer("q", "the sandbox's file where a directory was\n");
        settle("q/f.txt");
        assertEquals(List.of("b.bin", "p", "q/f.txt"), conflicts.stream().map(Rebase.Conflict::path).toList());
        assertTrue(conflicts.get(0).why().startsWith("binary file"), conflicts.toString());
    }

    @Test
    void settle_whiteoutOverNothing_removedWhereTheUserAddedTheFile_aDeletionAgainstAnEditIsKept()
            throws IOException, InterruptedException {
        Stacks.whiteout(upper.resolve("added.txt"));
        Stacks.whiteout(next.resolve("added.txt"));
        Stacks.write(now.resolve("added.txt"), "yours\n");
        settle("added.txt");
        assertFalse(Files.exists(next.resolve("added.txt"), LinkOption.NOFOLLOW_LINKS), "it would hide yours");
        Stacks.whiteout(upper.resolve("gone.txt"));
        Stacks.whiteout(next.resolve("gone.txt"));
        Stacks.write(old.resolve("gone.txt"), "old\n");
        Stacks.write(now.resolve("gone.txt"), "edited\n");
        settle("gone.txt");
        assertEquals(Rebase.Kind.WHITEOUT, Rebase.kind(next.resolve("gone.txt")), "the deletion is kept");
        assertEquals(List.of("gone.txt"), conflicts.stream().map(Rebase.Conflict::path).toList());
    }
}
