package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostsTest {
    @TempDir
    Path home;

    private void hostsYaml(String text) throws IOException {
        Path dir = Files.createDirectories(home.resolve(".config/sandbox"));
        Files.writeString(dir.resolve("hosts.yaml"), text);
    }

    @Test
    void resolve_optionThenEnvThenLocal() {
        assertNull(Hosts.resolve(null, Map.of(), home));
        assertNull(Hosts.resolve(null, Map.of(Hosts.HOST_ENV, ""), home), "an empty $SANDBOX_HOST is none");
        assertEquals(new HostSpec("bob@h2", new SshTarget("bob", "h2", 22), null),
                Hosts.resolve(null, Map.of(Hosts.HOST_ENV, "bob@h2"), home));
        assertEquals(new HostSpec("h1:2222", new SshTarget(null, "h1", 2222), null),
                Hosts.resolve("h1:2222", Map.of(Hosts.HOST_ENV, "bob@h2"), home), "--host wins over the environment");
        SandboxException empty = assertThrows(SandboxException.class, () -> Hosts.resolve("", Map.of(), home));
        assertEquals(SandboxException.USAGE, empty.exitCode());
    }

    @Test
    void resolve_aNameInHostsYaml_winsOverTheTarget_andKeepsWhatTheUserTyped() throws IOException {
        hostsYaml("""
                hosts:
                  build1:
                    address: alice@build1.example.com:2222
                    work: /srv/sandbox-work/
                  h2:
                    address: carol@other
                  tilde:
                    address: t
                    work: ~/w
                """);
        assertEquals(new HostSpec("build1", new SshTarget("alice", "build1.example.com", 2222), "/srv/sandbox-work"),
                Hosts.resolve("build1", Map.of(), home));
        assertEquals(new HostSpec("h2", new SshTarget("carol", "other", 22), null), Hosts.resolve("h2", Map.of(), home));
        assertEquals("~/w", Hosts.resolve("tilde", Map.of(), home).work());
        assertEquals(new SshTarget(null, "unlisted", 22), Hosts.resolve("unlisted", Map.of(), home).target());
    }

    @Test
    void resolve_honoursXdgConfigHome() throws IOException {
        Path xdg = Files.createDirectories(home.resolve("xdg/sandbox"));
        Files.writeString(xdg.resolve("hosts.yaml"), "hosts:\n  b:\n    address: x@y\n");
        assertEquals(new SshTarget("x", "y", 22),
                Hosts.resolve("b", Map.of("XDG_CONFIG_HOME", home.resolve("xdg").toString()), home).target());
        assertEquals(new SshTarget(null, "b", 22), Hosts.resolve("b", Map.of(), home).target());
    }

    @Test
    void resolve_aBrokenHostsYaml_isOneUsageLineNamingTheFileAndKey() throws IOException {
        String file = home.resolve(".config/sandbox/hosts.yaml").toString();
        assertError("hosts:\n  b:\n    adress: x\n", "b", "can't read '" + file + "': hosts.b: unknown key 'adress'"
                + " (known: address, work)");
        assertError("hosts:\n  b:\n    work: /w\n", "b", "can't read '" + file + "': hosts.b: no 'address:'"
                + " ([USER@]HOST[:PORT])");
        assertError("hosts:\n  b:\n    address: '-oProxyCommand=x'\n", "b", "can't read '" + file + "': hosts.b.address:"
                + " not an ssh host: '-oProxyCommand=x' (expected [USER@]HOST[:PORT], or a name from hosts.yaml)");
        assertError("hosts:\n  b:\n    address: h\n    work: relative/dir\n", "b", "can't read '" + file
                + "': hosts.b.work: expected an absolute path or one starting with ~/");
        assertError("hosts:\n  b:\n    address: h\n    work: /a/../etc\n", "b", "can't read '" + file
                + "': hosts.b.work: expected an absolute path or one starting with ~/");
        assertError("hostz:\n  b: {}\n", "b", "can't read '" + file + "': expected one key, 'hosts:', a map of names to"
                + " {address, work}");
        assertError("hosts:\n  b: x@y\n", "b", "can't read '" + file + "': hosts.b: expected 'address:' and optionally"
                + " 'work:'");
        assertError("hosts:\n  b:\n    address: a\n  b:\n    address: c\n", "b", null);
        assertError("hosts: [\n", "b", null);
    }

    private void assertError(String yaml, String name, String expected) throws IOException {
        hostsYaml(yaml);
        SandboxException e = assertThrows(SandboxException.class, () -> Hosts.resolve(name, Map.of(), home), yaml);
        assertEquals(SandboxException.USAGE, e.exitCode(), yaml);
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        if (expected != null) {
            assertEquals(expected, e.getMessage());
        } else {
            assertTrue(e.getMessage().contains("hosts.yaml': line "), e.getMessage());
        }
    }

    @Test
    void clientId_isMadeOnce_16Hex_0600_andKeptAfterwards() throws IOException {
        String id = Hosts.clientId(Map.of(), home);
        assertTrue(id.matches("[0-9a-f]{16}"), id);
        Path file = home.resolve(".config/sandbox/client-id");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertEquals(id, Hosts.clientId(Map.of(), home));
        assertEquals(1, Files.list(file.getParent()).count(), "no temporary file left");
        Path other = Files.createDirectories(home.resolve("other"));
        assertNotEquals(id, Hosts.clientId(Map.of(), other), "another home, another client");
    }

    @Test
    void clientId_refusesAFileThatHoldsSomethingElse_orALink() throws IOException {
        Path dir = Files.createDirectories(home.resolve(".config/sandbox"));
        Files.writeString(dir.resolve("client-id"), "not an id\n");
        SandboxException e = assertThrows(SandboxException.class, () -> Hosts.clientId(Map.of(), home));
        assertEquals("can't use the client id in '" + dir.resolve("client-id") + "': not 16 hex characters (remove the"
                + " file to make a new one)", e.getMessage());
        Files.delete(dir.resolve("client-id"));
        Files.writeString(home.resolve("elsewhere"), "0123456789abcdef\n");
        Files.createSymbolicLink(dir.resolve("client-id"), home.resolve("elsewhere"));
        assertThrows(SandboxException.class, () -> Hosts.clientId(Map.of(), home));
    }
}
