package dev.sandbox.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sandbox.error.SandboxException;
import org.junit.jupiter.api.Test;

class PortSpecTest {
    @Test
    void parse_acceptsPortHostPortAndProtocol() {
        assertEquals(new PortSpec(false, 0, 8080), PortSpec.parse("8080"));
        assertEquals(new PortSpec(false, 9999, 8080), PortSpec.parse("9999:8080"));
        assertEquals(new PortSpec(true, 0, 5353), PortSpec.parse("5353/udp"));
        assertEquals(new PortSpec(false, 0, 443), PortSpec.parse("0:443/tcp"));
        assertEquals(new PortSpec(true, 1, 65535), PortSpec.parse("1:65535/udp"));
    }

    @Test
    void helperSpec_alwaysNamesHostPortAndProtocol() {
        assertEquals("0:8080/tcp", PortSpec.parse("8080").helperSpec());
        assertEquals("9999:53/udp", PortSpec.parse("9999:53/udp").helperSpec());
        assertEquals("9999:8080/tcp", PortSpec.parse("9999:8080").toString());
        assertEquals("8080/tcp", PortSpec.parse("8080").toString());
    }

    @Test
    void parse_refusesWhatIsNotAPort_withOneLineSayingWhy() {
        assertMessage("70000", "can't publish '70000': the port must be a number from 1 to 65535");
        assertMessage("abc", "can't publish 'abc': the port must be a number from 1 to 65535");
        assertMessage("0", "can't publish '0': the port must be a number from 1 to 65535");
        assertMessage("", "can't publish '': the port must be a number from 1 to 65535");
        assertMessage("-1", "can't publish '-1': the port must be a number from 1 to 65535");
        assertMessage("8080/sctp", "can't publish '8080/sctp': the protocol must be tcp or udp, not 'sctp'");
        assertMessage("x:80", "can't publish 'x:80': the host port must be a number from 0 to 65535");
        assertMessage("70000:80", "can't publish '70000:80': the host port must be a number from 0 to 65535");
        assertMessage("127.0.0.1:80:80", "can't publish '127.0.0.1:80:80': expected [HOSTPORT:]PORT[/tcp|/udp],"
                + " e.g. 8080 or 9000:8080 or 5353/udp");
    }

    private static void assertMessage(String spec, String message) {
        SandboxException e = assertThrows(SandboxException.class, () -> PortSpec.parse(spec));
        assertEquals(message, e.getMessage());
        assertEquals(SandboxException.USAGE, e.exitCode());
    }
}
