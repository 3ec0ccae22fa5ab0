package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** File names as bytes: which ones a string can name, and how the others are shown. */
class RawNameTest {
    @Test
    void representable_latin1Name_false_andEscapedAsGitQuotesIt(@TempDir Path dir) throws Exception {
        assumeTrue("UTF-8".equals(System.getProperty("sun.jnu.encoding")),
                "file names decode as UTF-8 only in a UTF-8 locale, which the launcher's script sets");
        // Java cannot create a name that is not valid UTF-8, so the shell does
        Process p = new ProcessBuilder("sh", "-c", "printf x > \"$(printf 'r\\351sum\\351.txt')\"; printf y > "
                + "\"$(printf 'caf\\303\\251.txt')\"; printf z > plain.txt").directory(dir.toFile()).start();
        assertEquals(0, p.waitFor());

        Map<String, Path> entries = new HashMap<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            s.forEach(e -> entries.put(RawName.escaped(e), e));
        }

        assertEquals(3, entries.size(), entries.toString());
        assertFalse(RawName.representable(entries.get("r\\351sum\\351.txt")), entries.toString());
        assertTrue(RawName.representable(entries.get("caf\\303\\251.txt")), entries.toString());
        assertTrue(RawName.representable(entries.get("plain.txt")), entries.toString());
    }

    @Test
    void escaped_backslashAndControlBytes_octal(@TempDir Path dir) throws IOException {
        Path f = Files.createFile(dir.resolve("a\\b\tc"));
        assertEquals("a\\134b\\011c", RawName.escaped(f));
    }
}
