package dev.sandbox.git;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.eclipse.jgit.util.QuotedString;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Paths quoted as git quotes them, with git itself as the judge. */
class QuotePathTest {
    @Test
    void quoted_everyAsciiByteAndUtf8Names_sameAsGitLsFilesAndDiffNameOnly(@TempDir Path dir) throws Exception {
        assumeTrue("UTF-8".equals(System.getProperty("sun.jnu.encoding")),
                "Java names files in UTF-8 only in a UTF-8 locale, which the launcher's script sets");
        Path repo = Files.createDirectory(dir.resolve("repo"));
        List<String> names = new ArrayList<>();
        for (char c = 1; c < 0x80; c++) {
            if (c != '/') {
                names.add("x" + c + "y");
            }
        }
        names.addAll(List.of("résumé ü.txt", "日本", "a b", "tab\tand\"quote\\", "emoji \uD83D\uDE00"));
        for (String n : names) {
            Files.writeString(repo.resolve(n), "x");
        }
        git(repo, "init", "-q");
        git(repo, "add", "-A");

        // the same order from both: git's index order
        String[] raw = git(repo, "ls-files", "-z").split("\0");
        String[] lsFiles = git(repo, "-c", "core.quotePath=true", "ls-files").split("\n");
        git(repo, "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "-m", "all");
        String[] diff = git(repo, "-c", "core.quotePath=true", "diff", "--name-only", "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                "HEAD").split("\n");

        assertEquals(names.size(), raw.length, Arrays.toString(raw));
        assertEquals(Arrays.asList(lsFiles), Arrays.stream(raw).map(QuotePath::quoted).toList());
        assertEquals(Arrays.asList(diff), Arrays.stream(raw).map(QuotePath::quoted).toList());
    }

    @Test
    void quoted_newlineAndNonAscii_oneLineInDoubleQuotes() {
        assertEquals("\"a\\nb\"", QuotePath.quoted("a\nb"));
        assertEquals("\"caf\\303\\251\"", QuotePath.quoted("café"));
        assertEquals("\"\\033[31mred\"", QuotePath.quoted("\u001b[31mred"));
        assertEquals("\"a\\177\"", QuotePath.quoted("a\u007f"));
    }

    @Test
    void escaped_asQuotedWithoutTheQuotes_plainNameTheSameString() {
        assertEquals("a\\nb\\\\n", QuotePath.escaped("a\nb\\n"));
        String plain = "src/it's (1) [x] {y}.java";
        assertSame(plain, QuotePath.escaped(plain));
        assertSame(plain, QuotePath.quoted(plain));
    }

    @Test
    void jgitGitPath_quotesWhatGitDoesNot_whyItIsNotUsed() {
        // should JGit come to quote like git, QuotePath can give way to it
        assertEquals("\"it\\047s\"", QuotedString.GIT_PATH.quote("it's"));
        assertEquals("it's", QuotePath.quoted("it's"));
    }

    private static String git(Path dir, String... args) {
        IsolatedGit.Result r = IsolatedGit.exec(dir, null, args);
        assertEquals(0, r.status(), "git " + String.join(" ", args) + ": " + r.err());
        String out = r.out();
        return out.endsWith("\n") ? out.substring(0, out.length() - 1) : out;
    }
}
