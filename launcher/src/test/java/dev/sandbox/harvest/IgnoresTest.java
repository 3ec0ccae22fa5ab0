package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** git's precedence: the deepest .gitignore that matches wins, then info/exclude, then the excludes file. */
class IgnoresTest {
    @TempDir
    Path dir;

    @Test
    void ignored_nestedNegationAndRepoWideFiles_followGitsPrecedence() throws IOException {
        Path root = Files.writeString(dir.resolve("root.gitignore"), "*.log\nbuild/\n");
        Path sub = Files.writeString(dir.resolve("sub.gitignore"), "!keep.log\n");
        Path exclude = Files.writeString(dir.resolve("exclude"), "*.tmp\n");
        Path global = Files.writeString(dir.resolve("global"), "*.swp\n!x.tmp\n");

        Ignores top = Ignores.root(root, exclude, global);
        Ignores inSub = top.child("sub", sub);

        assertTrue(top.ignored("a.log", false));
        assertTrue(top.ignored("build", true));
        assertFalse(top.ignored("build", false), "build/ matches directories only");
        assertTrue(inSub.ignored("sub/other.log", false));
        assertFalse(inSub.ignored("sub/keep.log", false), "the deeper negation wins");
        assertTrue(top.ignored("x.tmp", false), "info/exclude wins over the excludes file");
        assertTrue(top.ignored("y.swp", false));
        assertFalse(top.ignored("src.txt", false));
        assertFalse(Ignores.root(null, null, dir.resolve("missing")).ignored("a.log", false));
    }
}
