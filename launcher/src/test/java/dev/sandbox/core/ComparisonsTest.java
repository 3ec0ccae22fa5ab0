package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code compare}'s counts read from {@code git diff --numstat -z}, judged by git's own {@code --shortstat}. */
class ComparisonsTest {
    @TempDir
    Path tmp;

    @Test
    void numstat_renameBinaryDeletionAndOddNames_countAsGitShortstat() throws IOException {
        IsolatedGit.run(tmp, "init", "-q");
        Files.writeString(tmp.resolve("a.txt"), "one\ntwo\nthree\n");
        Files.writeString(tmp.resolve("old.txt"), "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
        Files.writeString(tmp.resolve("gone.txt"), "x\ny\n");
        IsolatedGit.run(tmp, "add", "-A");
        IsolatedGit.run(tmp, "commit", "-q", "-m", "base");
        Files.writeString(tmp.resolve("a.txt"), "one\nTWO\nthree\nfour\n");
        Files.move(tmp.resolve("old.txt"), tmp.resolve("new\tname\n.txt")); // a rename: two paths, odd bytes
        Files.write(tmp.resolve("bin.dat"), new byte[] {0, 1, 2, (byte) 0xff});
        Files.delete(tmp.resolve("gone.txt"));
        IsolatedGit.run(tmp, "add", "-A");
        IsolatedGit.run(tmp, "commit", "-q", "-m", "work");

        byte[] out = IsolatedGit.run(tmp, "diff", "--numstat", "-z", "-M", "HEAD~", "HEAD")
                .getBytes(StandardCharsets.UTF_8);
        Comparisons.Numstat n = Comparisons.numstat(out);
        String shortstat = IsolatedGit.run(tmp, "diff", "--shortstat", "-M", "HEAD~", "HEAD");
        assertEquals(number(shortstat, "files? changed"), n.files(), shortstat);
        assertEquals(number(shortstat, "insertions?"), n.insertions(), shortstat);
        assertEquals(number(shortstat, "deletions?"), n.deletions(), shortstat);
        assertEquals(4, n.files(), "the rename is one file");
        assertEquals(1, n.binary());
    }

    @Test
    void numstat_nothingAndGarbage() {
        assertEquals(new Comparisons.Numstat(0, 0, 0, 0), Comparisons.numstat(new byte[0]));
        assertThrows(IllegalArgumentException.class,
                () -> Comparisons.numstat("1\t2\tpath-without-nul".getBytes(StandardCharsets.UTF_8)));
    }

    private static long number(String shortstat, String what) {
        Matcher m = Pattern.compile("([0-9]+) " + what).matcher(shortstat);
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }
}
