package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.launch.HelperCommand;
import dev.sandbox.launch.NotFound;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import dev.sandbox.profile.TrustStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The API keys' files stay out of sight although sandbox's configuration directory, which
 * holds {@code keys/}, is shown read-only: the helper applies its options in order, so each
 * {@code --hide} must come after the {@code --ro-bind} that would show it again.
 */
class KeysHiddenTest {
    @TempDir
    Path tmp;

    private List<String> argv(Profile profile, Path home, Path passwdHome, List<Path> configs) {
        HelperCommand cmd = new HelperCommand(Path.of("sandbox-helper"));
        HelperArgs.keepConfig(cmd, configs, profile, home, passwdHome,
                new NotFound.View(new ArrayList<>(), new ArrayList<>()));
        return cmd.command(List.of("true"));
    }

    private static int indexOf(List<String> argv, String option, Path path) {
        for (int i = 0; i + 1 < argv.size(); i++) {
            if (argv.get(i).equals(option) && argv.get(i + 1).equals(path.toString())) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void everyKeyFileAndTheKeysDirectory_areHiddenAfterTheConfigurationIsShown() throws IOException {
        Path home = tmp.resolve("home");
        Path config = Files.createDirectories(home.resolve(".config/sandbox"));
        Path xdg = Files.createDirectories(tmp.resolve("xdg/sandbox"));
        Files.createDirectories(home.resolve(".config/sandbox/profiles"));
        Files.writeString(home.resolve(".config/sandbox/profiles/mine.yaml"), """
                extends: claude
                credentials:
                  openai:
                    variable: OPENAI_API_KEY
                    key-file: /etc/keys/openai
                    header: Authorization
                    scheme: Bearer
                    upstream: https://api.openai.com/v1
                    base-url: OPENAI_BASE_URL
                """);
        Profile mine = Profiles.of(null, home, TrustStore.at(tmp.resolve("trusted"))).resolve("mine");
        Path other = tmp.resolve("passwd-home");
        List<String> argv = argv(mine, home, other, List.of(config, xdg));
        int bound = Math.max(indexOf(argv, "--ro-bind", config), indexOf(argv, "--ro-bind", xdg));
        assertTrue(indexOf(argv, "--ro-bind", config) >= 0 && indexOf(argv, "--ro-bind", xdg) >= 0, argv.toString());
        for (Path hidden : List.of(config.resolve("keys"), xdg.resolve("keys"), config.resolve("keys/anthropic"),
                other.resolve(".config/sandbox/keys/anthropic"), Path.of("/etc/keys/openai"))) {
            int at = indexOf(argv, "--hide", hidden);
            assertTrue(at > bound, hidden + " hidden after the configuration's binds: " + argv);
        }
    }

    @Test
    void aKeyFileThatIsALink_andLinksInTheKeysDirectory_haveTheirTargetsHiddenToo() throws IOException {
        Path home = tmp.resolve("home-links");
        Path config = Files.createDirectories(home.resolve(".config/sandbox"));
        Path keys = Files.createDirectories(config.resolve("keys"));
        Path secrets = Files.createDirectories(home.resolve(".secrets"));
        Files.writeString(secrets.resolve("anthropic"), "sk-ant-x\n");
        Files.writeString(secrets.resolve("other"), "sk-other\n");
        Files.createSymbolicLink(keys.resolve("anthropic"), secrets.resolve("anthropic"));
        Files.createSymbolicLink(keys.resolve("other"), secrets.resolve("other"));
        Files.createSymbolicLink(keys.resolve("dangling"), secrets.resolve("gone"));
        Profile claude = Profiles.of(null, home, TrustStore.at(tmp.resolve("trusted"))).resolve("claude");
        List<String> argv = argv(claude, home, null, List.of(config));
        int bound = indexOf(argv, "--ro-bind", config);
        for (Path hidden : List.of(keys, keys.resolve("anthropic"), secrets.resolve("anthropic").toRealPath(),
                secrets.resolve("other").toRealPath())) {
            assertTrue(indexOf(argv, "--hide", hidden) > bound, hidden + " hidden after the binds: " + argv);
        }
        assertEquals(-1, indexOf(argv, "--hide", secrets.resolve("gone")), "a dangling link leads nowhere");
    }

    @Test
    void withoutAHome_absoluteKeyFilesAreStillHidden_andNothingElseIsBound() {
        Profile claude = Profiles.of(null, tmp, TrustStore.at(tmp.resolve("trusted"))).resolve("claude");
        List<String> argv = argv(claude, null, null, List.of(tmp.resolve("gone")));
        assertEquals(List.of("sandbox-helper", "--hide", tmp.resolve("gone/keys").toString(), "--", "true"), argv);
    }
}
