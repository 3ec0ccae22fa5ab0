package dev.sandbox.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
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
    void overlay_severalLowerLayers_theOnesBelowTheFirstGoBeforeIt_inOrder() {
        List<String> argv = new HelperCommand(Path.of("h"))
                .overlay(List.of(Path.of("/s/d2/tree"), Path.of("/s/d1/tree"), Path.of("/s/full/tree")),
                        Path.of("/s/upper"), Path.of("/s/work"), Path.of("/repo"))
                .overlay(List.of(Path.of("/home/u")), Path.of("/h/upper"), Path.of("/h/work"), Path.of("/home/u"))
                .command(List.of("true"));
        assertEquals(List.of("h", "--overlay-lower", "/s/d1/tree", "--overlay-lower", "/s/full/tree",
                "--overlay", "/s/d2/tree", "/s/upper", "/s/work", "/repo",
                "--overlay", "/home/u", "/h/upper", "/h/work", "/home/u", "--", "true"), argv);
        assertThrows(IllegalArgumentException.class, () -> new HelperCommand(Path.of("h"))
                .overlay(List.of(), Path.of("/u"), Path.of("/w"), Path.of("/d")));
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

    private static Path dir(Path p, String mode) throws IOException {
        Files.createDirectories(p);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
        return p;
    }

    private static List<String> binds(Path... sources) {
        HelperCommand cmd = new HelperCommand(Path.of("helper"));
        for (Path s : sources) {
            cmd.bind(s, s);
        }
        return cmd.command(List.of("sh"));
    }

    private static boolean root(Path probe) throws IOException {
        return (Integer) Files.getAttribute(probe, "unix:uid") == 0;
    }

    @Test
    void reachableBindSource_aGrantUnderOpenDirectories_isReachable(@TempDir Path tmp) throws IOException {
        dir(tmp, "rwxr-xr-x");
        Path grant = dir(dir(tmp.resolve("home"), "rwxr-xr-x").resolve(".claude"), "rwx------");
        // Above it, the temporary directory's parents (/tmp is 1777, / 755) let anyone in.
        assertEquals(Optional.of(grant), HelperCommand.reachableBindSource(binds(grant)));
    }

    @Test
    void reachableBindSource_aGrantUnderARootOnlyDirectory_isNot(@TempDir Path tmp) throws IOException {
        assumeTrue(root(tmp), "needs root: only a directory owned by uid 0 shuts other users out");
        Path shut = dir(tmp.resolve("root"), "rwx------");
        Path grant = dir(dir(shut.resolve("home"), "rwxr-xr-x").resolve(".claude"), "rwxr-xr-x");
        assertEquals(Optional.empty(), HelperCommand.reachableBindSource(binds(grant)));
    }

    @Test
    void reachableBindSource_aGrantsOwnModeAndDirectoriesInsideGrants_doNotCount(@TempDir Path tmp) throws IOException {
        assumeTrue(root(tmp), "needs root: only a directory owned by uid 0 shuts other users out");
        // The agent, the host's root inside, owns both grants and could open them again.
        dir(tmp, "rwxr-xr-x");
        Path outer = dir(tmp.resolve("outer"), "rwx------");
        Path inner = dir(outer.resolve("inner"), "rwxr-xr-x");
        assertEquals(Optional.of(outer), HelperCommand.reachableBindSource(binds(outer)));
        assertEquals(Optional.of(inner), HelperCommand.reachableBindSource(binds(inner, outer)));
    }

    @Test
    void reachableBindSource_aSourceThatCannotBeResolved_countsAsReachable(@TempDir Path tmp) {
        Path missing = tmp.resolve("gone");
        assertEquals(Optional.of(missing), HelperCommand.reachableBindSource(binds(missing)));
    }

    @Test
    void reachableBindSource_onlyBindsBeforeTheCommandCount() {
        List<String> argv = new HelperCommand(Path.of("helper")).roBind(Path.of("/nonexistent-ro"), Path.of("/x"))
                .command(List.of("sh", "--bind", "/nonexistent", "/y"));
        assertEquals(Optional.empty(), HelperCommand.reachableBindSource(argv));
    }
}
