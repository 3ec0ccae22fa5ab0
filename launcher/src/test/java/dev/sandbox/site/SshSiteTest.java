package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class SshSiteTest {
    @Test
    void repoDir_isWorkClientIdThenNameAndTenHexOfThePath() {
        // sha256("/home/alice/src/app") = 41c4bb30bf... (printf %s /home/alice/src/app | sha256sum)
        assertEquals("/srv/w/0123456789abcdef/app-41c4bb30bf",
                SshSite.repoDir("/srv/w", "0123456789abcdef", Path.of("/home/alice/src/app")));
        assertNotEquals(SshSite.repoDir("/w", "0123456789abcdef", Path.of("/a/app")),
                SshSite.repoDir("/w", "0123456789abcdef", Path.of("/b/app")), "one name, two paths");
        assertNotEquals(SshSite.repoDir("/w", "0123456789abcdef", Path.of("/a/app")),
                SshSite.repoDir("/w", "fedcba9876543210", Path.of("/a/app")), "one path, two clients");
        assertTrue(SshSite.repoDir("/w", "0123456789abcdef", Path.of("/a/my app;$(x)"))
                .matches("/w/0123456789abcdef/my_app___x_-[0-9a-f]{10}"), "nothing for a shell in the name");
        assertTrue(SshSite.repoDir("/w", "0123456789abcdef", Path.of("/a/..hidden"))
                .matches("/w/0123456789abcdef/_.hidden-[0-9a-f]{10}"));
    }

    @Test
    void workPath_defaultsUnderTheRemoteHome_andExpandsTilde() {
        assertEquals("/home/bob/.local/share/sandbox/work", SshSite.workPath(null, "/home/bob"));
        assertEquals("/home/bob/w", SshSite.workPath("~/w", "/home/bob"));
        assertEquals("/srv/w", SshSite.workPath("/srv/w", "/home/bob"));
        assertEquals("/home/bob/.local/share/sandbox/0.1.0", SshSite.installDir("/home/bob", "0.1.0"));
    }

    @Test
    void javaMajor_readsJavaVersionLines() {
        assertEquals(17, SshSite.javaMajor("openjdk version \"17.0.9\" 2023-10-17"));
        assertEquals(21, SshSite.javaMajor("openjdk version \"21\" 2023-09-19"));
        assertEquals(8, SshSite.javaMajor("java version \"1.8.0_392\""));
        assertEquals(11, SshSite.javaMajor("openjdk version \"11.0.22\" 2024-01-16"));
        assertEquals(0, SshSite.javaMajor(null));
        assertEquals(0, SshSite.javaMajor("sh: 1: java: not found"));
    }

    @Test
    void oneLineErrors_sayTheFix() {
        assertEquals("b1 has no Java 17 (found: none): install openjdk-17-jre-headless there", SshSite.noJava("b1", null));
        assertEquals("b1 has no Java 17 (found: 11.0.22): install openjdk-17-jre-headless there",
                SshSite.noJava("b1", "openjdk version \"11.0.22\" 2024-01-16"));
        assertEquals("can't use /srv/w on b1: not writable (set 'work:' in hosts.yaml)", SshSite.workError("b1", "/srv/w"));
        SandboxException none = assertThrows(SandboxException.class,
                () -> SshSite.checkInstalled("b1", "0.2.0", List.of()));
        assertEquals("sandbox 0.2.0 is not installed on b1: run 'sandbox host install b1'", none.getMessage());
        assertEquals(SandboxException.FAILURE, none.exitCode());
        SandboxException other = assertThrows(SandboxException.class,
                () -> SshSite.checkInstalled("b1", "0.2.0", List.of("0.1.0")));
        assertEquals("b1 has sandbox 0.1.0, this is 0.2.0: run 'sandbox host install b1'", other.getMessage());
        assertDoesNotThrow(() -> SshSite.checkInstalled("b1", "0.2.0", List.of("0.1.0", "0.2.0")));
    }

    @Test
    void remoteCommand_sourcesAndDeletesTheEnvFile_thenExecsSandboxWithEachArgumentQuoted() {
        assertEquals(". /tmp/sandbox-env.X; rm -f -- /tmp/sandbox-env.X; cd '/w/a b' && exec /h/bin/sandbox 'run' '--'"
                + " 'sh' '-c' 'echo '\\''$HOME'\\'''",
                SshSite.remoteCommand("/tmp/sandbox-env.X", "/w/a b", "/h/bin/sandbox",
                        List.of("run", "--", "sh", "-c", "echo '$HOME'")));
        assertEquals("exec sandbox 'doctor'", SshSite.remoteCommand(null, null, "sandbox", List.of("doctor")));
        assertEquals("sh -c 'echo '\\''x'\\'''", SshSite.sh("echo 'x'"));
    }
}
