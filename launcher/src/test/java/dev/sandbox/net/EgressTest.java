package dev.sandbox.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class EgressTest {
    private static final Path PASTA = Path.of("/usr/bin/pasta");

    @Test
    void pasta_forwardsNoPortsEitherWay_andKeepsTheHostsLoopbackOut() {
        List<String> argv = Egress.pastaArgv(PASTA, 42, false, false, Path.of("/s/pasta.pid"));
        String line = String.join(" ", argv);
        for (String spec : List.of("-t none", "-u none", "-T none", "-U none")) {
            assertTrue(line.contains(spec), "no automatic forwarding (" + spec + "): " + line);
        }
        assertTrue(argv.contains("--no-map-gw"), line);
        assertTrue(line.contains("--dns-forward " + Egress.NAMESERVER), line);
        assertTrue(argv.contains("--config-net"), line);
        assertTrue(argv.contains("--foreground"), "our child, stopped by us, not a daemon that outlives it: " + line);
        assertTrue(line.contains("--mtu " + Egress.PASTA_MTU), "not pasta's slow default of 65520: " + line);
        assertFalse(argv.contains("--runas"), line);
        assertEquals("42", argv.get(argv.size() - 1), "the pid comes last");
    }

    @Test
    void pasta_mapsTheGatewayOnlyWhenHostLoopbackIsAllowed_andStaysRootAsRoot() {
        List<String> argv = Egress.pastaArgv(PASTA, 42, true, true, Path.of("/s/pasta.pid"));
        assertFalse(argv.contains("--no-map-gw"), argv.toString());
        int runas = argv.indexOf("--runas");
        assertTrue(runas > 0 && argv.get(runas + 1).equals("0"), argv.toString());
    }

    @Test
    void slirp4netns_joinsTheUserNamespace_andHidesTheHostsLoopback() {
        List<String> argv = Egress.slirpArgv(Path.of("/usr/bin/slirp4netns"), 42, false);
        assertTrue(argv.contains("--userns-path=/proc/42/ns/user"), argv.toString());
        assertTrue(argv.contains("--disable-host-loopback"), argv.toString());
        assertTrue(argv.contains("--exit-fd=0") && argv.contains("--ready-fd=1"), argv.toString());
        assertEquals(List.of("42", "tap0"), argv.subList(argv.size() - 2, argv.size()));
        assertFalse(Egress.slirpArgv(Path.of("/usr/bin/slirp4netns"), 42, true).contains("--disable-host-loopback"));
    }

    @Test
    void find_looksOnlyAtPath() {
        assertTrue(Egress.find("sh", "/nonexistent:/bin").isPresent());
        assertFalse(Egress.find("sh", "/nonexistent").isPresent());
    }

    @Test
    void tunProblem_saysWhyAndTheFix_orNothingWhenUsable() {
        assertEquals(null, Egress.tunProblem(true, true, Egress.TUN_NEEDED));
        String closed = Egress.tunProblem(true, false, Egress.TUN_NEEDED);
        assertTrue(closed.startsWith("/dev/net/tun is not readable and writable by you") && closed.contains("pasta")
                && closed.endsWith("(sudo chmod 0666 /dev/net/tun, as udev does)"), closed);
        assertTrue(Egress.tunProblem(false, false, Egress.TUN_NEEDED).endsWith("(sudo modprobe tun)"));
    }
}
