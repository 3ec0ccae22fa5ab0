package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sandbox.error.SandboxException;
import org.junit.jupiter.api.Test;

class SshTargetTest {
    @Test
    void parse_userHostPort_eachOptionalButTheHost() {
        assertEquals(new SshTarget("alice", "build1.example.com", 2222), SshTarget.parse("alice@build1.example.com:2222"));
        assertEquals(new SshTarget(null, "build1", 22), SshTarget.parse("build1"));
        assertEquals(new SshTarget("bob", "10.0.0.7", 22), SshTarget.parse("bob@10.0.0.7"));
        assertEquals(new SshTarget(null, "::1", 2200), SshTarget.parse("[::1]:2200"));
        assertEquals(new SshTarget("u", "fe80::1%eth0", 22), SshTarget.parse("u@[fe80::1%eth0]"));
    }

    @Test
    void display_isWhatWasGiven_withoutPort22() {
        assertEquals("alice@build1:2222", SshTarget.parse("alice@build1:2222").display());
        assertEquals("build1", SshTarget.parse("build1:22").display());
        assertEquals("[::1]:2200", SshTarget.parse("[::1]:2200").display());
        assertEquals("u@[::1]:", SshTarget.parse("u@[::1]").remotePrefix());
        assertEquals("h:", SshTarget.parse("h:2222").remotePrefix());
    }

    @Test
    void parse_refusesAnythingElse_inOneUsageLine_andNeverAnOptionForSsh() {
        for (String bad : new String[] {"", "-oProxyCommand=touch /tmp/x", "alice@-oProxyCommand=x", "-l@host",
            "host:0", "host:65536", "host:", "a b", "alice@", "@host", "host:22:22", "a@b@c", "[::1", "host;id",
            "$(id)", "host\nother"}) {
            SandboxException e = assertThrows(SandboxException.class, () -> SshTarget.parse(bad), bad);
            assertEquals(SandboxException.USAGE, e.exitCode(), bad);
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
        assertEquals("not an ssh host: 'a b' (expected [USER@]HOST[:PORT], or a name from hosts.yaml)",
                assertThrows(SandboxException.class, () -> SshTarget.parse("a b")).getMessage());
        assertEquals("not an ssh host: 'h:70000': port 70000 is not between 1 and 65535",
                assertThrows(SandboxException.class, () -> SshTarget.parse("h:70000")).getMessage());
    }
}
