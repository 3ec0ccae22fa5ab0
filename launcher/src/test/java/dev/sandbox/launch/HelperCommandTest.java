package dev.sandbox.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HelperCommandTest {
    @Test
    void argv_keepsOptionOrderAndPassesTheCommandUntouched() {
        List<String> argv = new HelperCommand(Path.of("/opt/sandbox/libexec/sandbox-helper"))
                .hostname("t").net("none").tmpfs(Path.of("/tmp")).roBindTry(Path.of("/lib64"), Path.of("/lib64"))
                .symlink(Path.of("usr/bin"), Path.of("/bin")).dir(Path.of("/var"))
                .overlay(Path.of("/s/tree"), Path.of("/s/upper"), Path.of("/s/work"), Path.of("/repo"))
                .chdir(Path.of("/repo/src"))
                .command(List.of("claude", "--", "--help"));
        assertEquals(List.of("/opt/sandbox/libexec/sandbox-helper", "--hostname", "t", "--net", "none",
                "--tmpfs", "/tmp", "--ro-bind-try", "/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--dir", "/var",
                "--overlay", "/s/tree", "/s/upper", "/s/work", "/repo",
                "--chdir", "/repo/src", "--", "claude", "--", "--help"), argv);
    }

    @Test
    void helperExit_reservedCodesOnly() {
        assertEquals(HelperExit.SETUP_FAILED, HelperExit.of(125));
        assertEquals(HelperExit.NOT_FOUND, HelperExit.of(127));
        assertNull(HelperExit.of(0));
        assertNull(HelperExit.of(130));
    }

    @Test
    void expectedPath_envOverridesDistribution() {
        assertEquals(Path.of("/x/helper"), Helper.expectedPath("/x/helper", "/opt/sandbox"));
        assertEquals(Path.of("/opt/sandbox/libexec/sandbox-helper"), Helper.expectedPath(null, "/opt/sandbox"));
        assertEquals(Path.of("/opt/sandbox/libexec/sandbox-helper"), Helper.expectedPath("", "/opt/sandbox"));
    }

    @Test
    void locate_badHelperFromTheEnvironment_fixSaysToUnsetIt(@TempDir Path dir) throws Exception {
        String missing = assertThrows(SandboxException.class,
                () -> Helper.locate(dir.resolve("absent"), "1", true)).getMessage();
        assertTrue(missing.contains("No such file or directory") && missing.contains("unset SANDBOX_HELPER"), missing);
        String directory = assertThrows(SandboxException.class, () -> Helper.locate(dir, "1", true)).getMessage();
        assertTrue(directory.contains("not a regular file"), directory);
        Path plain = Files.writeString(dir.resolve("plain"), "not a program");
        String notExecutable = assertThrows(SandboxException.class,
                () -> Helper.locate(plain, "1", false)).getMessage();
        assertTrue(notExecutable.contains("not executable") && notExecutable.contains("./install.sh")
                && !notExecutable.contains("SANDBOX_HELPER"), notExecutable);
    }
}
