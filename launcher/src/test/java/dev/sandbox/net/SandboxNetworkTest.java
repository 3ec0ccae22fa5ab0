package dev.sandbox.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.launch.HelperCommand;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SandboxNetworkTest {
    @TempDir
    Path dir;

    private List<String> argv(NetMode mode, Map<String, String> env) {
        SandboxNetwork net = new SandboxNetwork(new SandboxNetwork.Settings(mode, false, null, List.of()),
                dir.resolve("log"), null, "t", env);
        net.prepare(dir);
        HelperCommand cmd = new HelperCommand(Path.of("/h"));
        net.addTo(cmd);
        net.close();
        return cmd.command(List.of("true"));
    }

    @Test
    void none_getsTheNoSuchNameResolver_aResolvConfNamingIt_andNoNpmRetries() throws IOException {
        String line = String.join(" ", argv(NetMode.none, Map.of()));
        assertTrue(line.contains("--dns-nxdomain"), line);
        assertTrue(line.contains("--ro-bind " + dir.resolve("resolv.conf") + " /etc/resolv.conf"), line);
        assertTrue(Files.readAllLines(dir.resolve("resolv.conf")).contains("nameserver 127.0.0.1"));
        assertTrue(line.contains("--setenv " + SandboxNetwork.NPM_RETRIES + " 0"), line);
    }

    @Test
    void aUsersOwnNpmRetries_stay() {
        String line = String.join(" ", argv(NetMode.none, Map.of("npm_config_fetch_retries", "5")));
        assertFalse(line.contains(SandboxNetwork.NPM_RETRIES), line);
        line = String.join(" ", argv(NetMode.none, Map.of("NPM_CONFIG_FETCH_RETRIES", "5")));
        assertFalse(line.contains(SandboxNetwork.NPM_RETRIES), line);
    }

    @Test
    void hostMode_keepsTheHostsResolver() {
        List<String> argv = argv(NetMode.host, Map.of());
        assertFalse(argv.contains("--dns-nxdomain"), argv.toString());
        assertFalse(argv.contains("/etc/resolv.conf"), argv.toString());
        assertEquals(0, argv.stream().filter(a -> a.equals(SandboxNetwork.NPM_RETRIES)).count());
    }

    private static CredentialProxy.Injection injection(String provider, String upstream) {
        return new CredentialProxy.Injection(provider, URI.create(upstream), "x-api-key", "",
                "sandbox-placeholder-00000000000000000000000000000000", "sk-real");
    }

    @Test
    void credentialProxies_listenOnTheRuntimeDirsSockets_forwardedToPortsFrom3180() throws IOException {
        Path runtime = Files.createDirectories(dir.resolve("run"));
        SandboxNetwork net = new SandboxNetwork(new SandboxNetwork.Settings(NetMode.none, false, null, List.of()),
                Files.createDirectories(dir.resolve("log")), runtime, "7-0", Map.of());
        net.prepare(dir);
        try {
            assertEquals("http://127.0.0.1:3180", net.proxyCredential(List.of(injection("anthropic",
                    "https://api.anthropic.com")), 0, null));
            assertEquals("http://127.0.0.1:3181/v1", net.proxyCredential(List.of(injection("openai",
                    "https://api.openai.com/v1")), 1, null));
            assertEquals("http://127.0.0.1:3182/gw/anthropic", net.proxyCredential(List.of(injection("gw",
                    "https://gateway.example/gw/anthropic/")), 2, null), "no trailing '/' to double");
            assertTrue(Files.exists(runtime.resolve("7-0.cred-anthropic")), "the proxy listens on its socket");
            HelperCommand cmd = new HelperCommand(Path.of("/h"));
            net.addTo(cmd);
            String line = String.join(" ", cmd.command(List.of("true")));
            assertTrue(line.contains("--forward 3180 " + runtime.resolve("7-0.cred-anthropic")), line);
            assertTrue(line.contains("--forward 3181 " + runtime.resolve("7-0.cred-openai")), line);
            assertFalse(line.contains("sk-real"), "the key is in no argument: " + line);
        } finally {
            net.close();
        }
    }

    @Test
    void underNetHost_aCredentialProxyListensOnThisMachinesLoopback_andNothingIsForwarded() throws IOException {
        SandboxNetwork net = new SandboxNetwork(new SandboxNetwork.Settings(NetMode.host, false, null, List.of()),
                Files.createDirectories(dir.resolve("log")), null, "7-0", Map.of());
        net.prepare(dir);
        try {
            URI base = URI.create(net.proxyCredential(List.of(injection("anthropic", "https://api.anthropic.com")), 0,
                    null));
            assertEquals("127.0.0.1", base.getHost());
            assertTrue(base.getPort() > 0, base.toString());
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", base.getPort()), 2000); // it listens there
            }
            HelperCommand cmd = new HelperCommand(Path.of("/h"));
            net.addTo(cmd);
            assertFalse(cmd.command(List.of("true")).contains("--forward"));
        } finally {
            net.close();
        }
    }
}
