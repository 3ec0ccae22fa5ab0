package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** git's precedence: the deepest .gitignore that matches wins, then info/exclude, then the excludes file. */
class IgnoresTest {
    @Test
    void ignored_nestedNegationAndRepoWideFiles_followGitsPrecedence() throws IOException {
        byte[] root = bytes("*.log\nbuild/\n");
        byte[] sub = bytes("!keep.log\n");
        byte[] exclude = bytes("*.tmp\n");
        byte[] global = bytes("*.swp\n!x.tmp\n");

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
        assertFalse(Ignores.root(null, null, null).ignored("a.log", false));
    }

    @Test
    void child_deepTreeWithoutRulesOfItsOwn_isItsParent_andRulesMatchBelowTheirDirectory() throws IOException {
        Ignores top = Ignores.root(null, null, null);
        Ignores deep = top;
        StringBuilder path = new StringBuilder("d");
        for (int i = 0; i < 20_000; i++) {
            deep = deep.child(path.toString(), null);
            path.append("/d");
        }
        assertSame(top, deep, "a level without a .gitignore adds nothing");
        Ignores withRules = deep.child("d/d", bytes("/x\n"));
        assertTrue(withRules.ignored("d/d/x", false), "anchored to its own directory");
        assertFalse(withRules.ignored("d/d/d/x", false));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
