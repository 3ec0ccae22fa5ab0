package dev.sandbox.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PosixTest {
    @Test
    void readProcFile_readsWholeSysctlThatReportsSizeZero() throws Exception {
        Process cat = new ProcessBuilder("cat", "/proc/sys/user/max_user_namespaces").start();
        String expected = new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, cat.waitFor());
        assertEquals(expected, Posix.readProcFile("/proc/sys/user/max_user_namespaces"));
    }

    @Test
    void filesystemType_knowsTheRootFilesystemAndProc() {
        assertEquals(0x9fa0L, Posix.filesystemType("/proc"));
        assertTrue(Posix.filesystemType("/") > 0);
        assertEquals(-1, Posix.filesystemType("/no/such/path"));
    }

    @Test
    void chmodDirectory_modeZeroDirectory_setsMode(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("d"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("---------"));
        assertEquals(0, Posix.chmodDirectory(dir.toString(), 0750));
        assertEquals("rwxr-x---", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    }

    @Test
    void chmodDirectory_symlinkOrFile_refusesAndChangesNothing(@TempDir Path tmp) throws Exception {
        Path target = Files.createDirectory(tmp.resolve("target"));
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("r-x------"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), target);
        Path file = Files.writeString(tmp.resolve("file"), "x");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("r--------"));
        assertEquals(ENOTDIR, Posix.chmodDirectory(link.toString(), 0777));
        assertEquals(ENOTDIR, Posix.chmodDirectory(file.toString(), 0777));
        assertEquals("r-x------", PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
        assertEquals("r--------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    }

    private static final int ENOTDIR = 20;
}
