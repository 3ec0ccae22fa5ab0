package dev.sandbox.git;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GitCliTest {
    @TempDir
    Path tmp;

    @Test
    void passThroughTo_aFileInAMissingDirectory_isNoSuchFile_andGitDoesNotRun() {
        Path output = tmp.resolve("missing/dir/x.patch");
        NoSuchFileException e = assertThrows(NoSuchFileException.class,
                () -> GitCli.passThroughTo(tmp, output, "--version"));
        assertEquals(output.toString(), e.getFile());
        assertFalse(Files.exists(tmp.resolve("missing")));
    }

    @Test
    void passThroughTo_aFile_replacesItWithGitsOutput() throws IOException {
        Path output = Files.writeString(tmp.resolve("out"), "an older and much longer content than git's line\n");
        assertEquals(0, GitCli.passThroughTo(tmp, output, "--version"));
        String written = Files.readString(output);
        assertTrue(written.startsWith("git version "), written);
        assertEquals(1, written.lines().count(), written);
    }
}
