package dev.sandbox.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.launch.HelperCommand;
import java.io.IOException;
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
}
