package dev.sandbox.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

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
}
