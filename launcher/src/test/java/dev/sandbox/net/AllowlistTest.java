package dev.sandbox.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

class AllowlistTest {
    @Test
    void exactNames_matchThemselvesOnly_caseAndTrailingDotAside() {
        Allowlist a = Allowlist.parse(List.of("api.example.com"));
        assertTrue(a.allowsHost("api.example.com"));
        assertTrue(a.allowsHost("API.Example.COM."));
        assertFalse(a.allowsHost("example.com"));
        assertFalse(a.allowsHost("evil.api.example.com"));
        assertFalse(a.allowsHost("api.example.com.evil.test"));
    }

    @Test
    void wildcard_matchesEveryNameBelow_butNotTheDomainItself() {
        Allowlist a = Allowlist.parse(List.of("*.npmjs.org"));
        assertTrue(a.allowsHost("registry.npmjs.org"));
        assertTrue(a.allowsHost("a.b.npmjs.org"));
        assertFalse(a.allowsHost("npmjs.org"));
        assertFalse(a.allowsHost("evilnpmjs.org"));
    }

    @Test
    void addresses_andRanges_allowThoseAddresses() throws Exception {
        Allowlist a = Allowlist.parse(List.of("10.1.2.3", "192.168.0.0/16", "fd00::/8"));
        assertTrue(a.allowsHost("10.1.2.3"));
        assertFalse(a.allowsHost("10.1.2.4"));
        assertTrue(a.allowsAddress(InetAddress.getByName("192.168.44.5")));
        assertFalse(a.allowsAddress(InetAddress.getByName("192.169.0.1")));
        assertTrue(a.allowsHost("[fd00::1]"));
        assertFalse(a.allowsHost("fe80::1"));
        assertFalse(a.allowsHost("example.com"), "an address entry allows no name");
    }

    @Test
    void internalAddresses_areTheMachinesAndItsLocalNetworks() throws Exception {
        for (String internal : List.of("127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.0.1", "172.31.255.1",
                "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd12::1", "fc00::1",
                "224.0.0.1", "::ffff:127.0.0.1")) {
            assertTrue(Allowlist.isInternal(InetAddress.getByName(internal)), internal);
        }
        for (String external : List.of("1.1.1.1", "172.32.0.1", "100.128.0.1", "192.0.2.10", "2001:db8::1",
                "8.8.8.8")) {
            assertFalse(Allowlist.isInternal(InetAddress.getByName(external)), external);
        }
    }

    @Test
    void badEntries_areUsageErrorsNamingTheEntry() {
        for (String bad : List.of("", "exa mple.com", "*.", "*", "http://example.com", "a..b", "-a.com",
                "10.0.0.0/33", "10.0.0.0/x", "300.1.1.1", "example.com.", "*.*.com")) {
            SandboxException e = assertThrows(SandboxException.class, () -> Allowlist.parse(List.of(bad)), bad);
            assertEquals(SandboxException.USAGE, e.exitCode());
            assertTrue(e.getMessage().startsWith("can't allow '" + bad + "': expected a host name"), e.getMessage());
        }
    }

    @Test
    void literal_neverLooksUpANameButReadsAddresses() {
        assertEquals(null, Allowlist.literal("localhost"));
        assertEquals(null, Allowlist.literal("1.2.3"));
        assertEquals("10.0.0.1", Allowlist.literal("10.0.0.1").getHostAddress());
        assertEquals("0:0:0:0:0:0:0:1", Allowlist.literal("[::1]").getHostAddress());
    }
}
