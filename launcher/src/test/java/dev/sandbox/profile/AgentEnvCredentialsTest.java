package dev.sandbox.profile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent's environment when the profile keeps API keys out: placeholders in, keys out. */
class AgentEnvCredentialsTest {
    private static final String KEY = "sk-ant-real-key-0123456789";

    @TempDir
    Path home;

    private Profile profile(String name) {
        return Profiles.of(null, home, TrustStore.at(home.resolve("trusted"))).resolve(name);
    }

    /** What a run gives the agent: the profile's environment, then each kept-out key swapped. */
    private Map<String, String> agentEnv(Map<String, String> launcher, Profile p, List<String> extra,
            boolean passKeys, List<String> warnings) {
        List<AgentEnv.Substitute> subs = new ArrayList<>();
        for (Credential.Active a : AgentEnv.keptOut(launcher, p, extra, passKeys, home)) {
            subs.add(new AgentEnv.Substitute(a, Credential.placeholder(),
                    "http://127.0.0.1:" + (3180 + a.index()) + a.upstream().getRawPath()));
        }
        return AgentEnv.substitute(AgentEnv.build(launcher, p, extra), subs, warnings::add);
    }

    @Test
    void theKeyStaysOut_thePlaceholderAndTheProxysBaseUrlGoIn() {
        List<String> warnings = new ArrayList<>();
        Map<String, String> env = agentEnv(Map.of("PATH", "/bin", "ANTHROPIC_API_KEY", KEY), profile("claude"),
                List.of(), false, warnings);
        assertTrue(env.get("ANTHROPIC_API_KEY").matches("sandbox-placeholder-[0-9a-f]{32}"), env.toString());
        assertEquals("http://127.0.0.1:3180", env.get("ANTHROPIC_BASE_URL"));
        assertFalse(env.values().stream().anyMatch(v -> v.contains(KEY)), env.toString());
        assertEquals("/bin", env.get("PATH"));
        assertEquals(List.of(), warnings);
    }

    @Test
    void theUsersOwnBaseUrl_isTheUpstream_andInsideItIsTheProxy() {
        Map<String, String> launcher = Map.of("OPENAI_API_KEY", KEY, "OPENAI_BASE_URL", "https://127.0.0.1:8443/v1");
        List<Credential.Active> active = AgentEnv.keptOut(launcher, profile("codex"), List.of(), false, home);
        assertEquals(1, active.size());
        assertEquals(URI.create("https://127.0.0.1:8443/v1"), active.get(0).upstream());
        assertEquals(KEY, active.get(0).key());
        assertFalse(active.get(0).toString().contains(KEY), "a key is never printed: " + active.get(0));
        Map<String, String> env = agentEnv(launcher, profile("codex"), List.of(), false, new ArrayList<>());
        assertEquals("http://127.0.0.1:3180/v1", env.get("OPENAI_BASE_URL"));
    }

    @Test
    void anotherVariableHoldingTheKey_isDropped_withOneWarningNamingItNotItsValue() {
        List<String> warnings = new ArrayList<>();
        Map<String, String> env = agentEnv(Map.of("ANTHROPIC_API_KEY", KEY, "ANTHROPIC_CUSTOM_HEADERS", KEY,
                "ANTHROPIC_MODEL", "opus"), profile("claude"), List.of("COPY=Bearer " + KEY), false, warnings);
        assertFalse(env.containsKey("ANTHROPIC_CUSTOM_HEADERS"), env.toString());
        assertFalse(env.containsKey("COPY"), env.toString());
        assertEquals("opus", env.get("ANTHROPIC_MODEL"));
        assertEquals(List.of(
                "not passing ANTHROPIC_CUSTOM_HEADERS into the sandbox: it holds the anthropic API key, which stays"
                        + " outside (run with --pass-keys to pass keys in)",
                "not passing COPY into the sandbox: it holds the anthropic API key, which stays outside (run with"
                        + " --pass-keys to pass keys in)"), warnings);
        assertFalse(String.join("\n", warnings).contains(KEY));
    }

    @Test
    void envSettingTheBaseUrl_isTheUpstream_validatedAsTheLaunchersWouldBe() {
        Map<String, String> launcher = Map.of("ANTHROPIC_API_KEY", KEY, "ANTHROPIC_BASE_URL", "https://outer.example");
        List<Credential.Active> active = AgentEnv.keptOut(launcher, profile("claude"),
                List.of("ANTHROPIC_BASE_URL=https://gw.example:8443/anthropic"), false, home);
        assertEquals(URI.create("https://gw.example:8443/anthropic"), active.get(0).upstream());
        Map<String, String> env = agentEnv(launcher, profile("claude"),
                List.of("ANTHROPIC_BASE_URL=https://gw.example:8443/anthropic"), false, new ArrayList<>());
        assertEquals("http://127.0.0.1:3180/anthropic", env.get("ANTHROPIC_BASE_URL"), "inside, the proxy");
        assertEquals(URI.create("https://outer.example"), AgentEnv.keptOut(launcher, profile("claude"),
                List.of("ANTHROPIC_BASE_URL"), false, home).get(0).upstream(), "--env NAME passes the launcher's");
        assertEquals(URI.create("https://api.anthropic.com"), AgentEnv.keptOut(launcher, profile("claude"),
                List.of("ANTHROPIC_BASE_URL="), false, home).get(0).upstream(), "empty is unset");
        SandboxException e = org.junit.jupiter.api.Assertions.assertThrows(SandboxException.class,
                () -> AgentEnv.keptOut(launcher, profile("claude"),
                        List.of("ANTHROPIC_BASE_URL=https://u:secret-pw@gw.example"), false, home));
        assertEquals("can't use --env ANTHROPIC_BASE_URL as the anthropic upstream: it has a user name or password"
                + " (give the key through ANTHROPIC_API_KEY; or run with --pass-keys)", e.getMessage());
        assertEquals(SandboxException.USAGE, e.exitCode());
        e = org.junit.jupiter.api.Assertions.assertThrows(SandboxException.class,
                () -> AgentEnv.keptOut(Map.of("ANTHROPIC_API_KEY", KEY, "ANTHROPIC_BASE_URL", "https://gw?k=secret-pw"),
                        profile("claude"), List.of(), false, home));
        assertEquals(SandboxException.USAGE, e.exitCode());
        assertTrue(e.getMessage().startsWith("can't use ANTHROPIC_BASE_URL as the anthropic upstream: it has a query"),
                e.getMessage());
        assertEquals(List.of(), AgentEnv.keptOut(Map.of("ANTHROPIC_BASE_URL", "https://gw?k=1"), profile("claude"),
                List.of(), false, home), "no key, no proxy: the variable passes as it is, unchecked");
    }

    @Test
    void aCommandLineHoldingAKey_warnsOncePerProvider_namingItNotTheKey() {
        Map<String, String> launcher = Map.of("ANTHROPIC_API_KEY", KEY, "ANTHROPIC_AUTH_TOKEN", "tok-0123456789");
        List<Credential.Active> active = AgentEnv.keptOut(launcher, profile("claude"), List.of(), false, home);
        List<String> warnings = AgentEnv.commandWarnings(List.of("sh", "-c", "echo " + KEY, "x" + KEY), active);
        assertEquals(List.of("the command line holds the anthropic API key: it is visible inside the sandbox and"
                + " kept in its record"), warnings);
        assertEquals(List.of(), AgentEnv.commandWarnings(List.of("sh", "-c", "echo $ANTHROPIC_API_KEY"), active));
        List<Credential.Active> shortKey = AgentEnv.keptOut(Map.of("ANTHROPIC_API_KEY", "k"), profile("claude"),
                List.of(), false, home);
        assertEquals(List.of(), AgentEnv.commandWarnings(List.of("make"), shortKey), "a 1-character key is not looked for");
    }

    @Test
    void aKeyTooShortToTellFromText_staysOut_butDropsNoOtherVariable() {
        List<String> warnings = new ArrayList<>();
        Map<String, String> env = agentEnv(Map.of("ANTHROPIC_API_KEY", "k", "ANTHROPIC_MODEL", "sk-opus"),
                profile("claude"), List.of(), false, warnings);
        assertTrue(env.get("ANTHROPIC_API_KEY").startsWith("sandbox-placeholder-"), env.toString());
        assertEquals("sk-opus", env.get("ANTHROPIC_MODEL"), "a 1-character key matches ordinary text: not searched");
        assertEquals(List.of(), warnings);
    }

    @Test
    void passKeys_keepsTodaysEnvironment() {
        List<String> warnings = new ArrayList<>();
        Map<String, String> launcher = Map.of("ANTHROPIC_API_KEY", KEY, "ANTHROPIC_AUTH_TOKEN", KEY);
        Map<String, String> env = agentEnv(launcher, profile("claude"), List.of(), true, warnings);
        assertEquals(Map.of("ANTHROPIC_API_KEY", KEY, "ANTHROPIC_AUTH_TOKEN", KEY, "IS_SANDBOX", "1"), env);
        assertEquals(List.of(), warnings);
    }

    @Test
    void envNamingTheVariable_turnsThatProviderOff_andTheUsersValuePasses() {
        Map<String, String> launcher = Map.of("ANTHROPIC_API_KEY", KEY);
        assertEquals(List.of(), AgentEnv.keptOut(launcher, profile("claude"), List.of("ANTHROPIC_API_KEY"), false,
                home));
        Map<String, String> env = agentEnv(launcher, profile("claude"), List.of("ANTHROPIC_API_KEY"), false,
                new ArrayList<>());
        assertEquals(KEY, env.get("ANTHROPIC_API_KEY"));
        assertFalse(env.containsKey("ANTHROPIC_BASE_URL"));
        env = agentEnv(launcher, profile("claude"), List.of("ANTHROPIC_API_KEY=other"), false, new ArrayList<>());
        assertEquals("other", env.get("ANTHROPIC_API_KEY"));
    }

    @Test
    void noKeyAnywhere_setsNothing_aKeyFileIsUsedWhenTheVariableIsUnset() throws IOException {
        assertEquals(Map.of("IS_SANDBOX", "1"), agentEnv(Map.of(), profile("claude"), List.of(), false,
                new ArrayList<>()));
        Path file = home.resolve(".config/sandbox/keys/anthropic");
        Files.createDirectories(file.getParent());
        Files.writeString(file, KEY + "\n");
        List<String> warnings = new ArrayList<>();
        Map<String, String> env = agentEnv(Map.of("LEAK", "x" + KEY), profile("claude"), List.of("LEAK"), false,
                warnings);
        assertTrue(env.get("ANTHROPIC_API_KEY").startsWith("sandbox-placeholder-"), env.toString());
        assertFalse(env.containsKey("LEAK"), "the file's key, too, is looked for in the other variables");
        assertEquals(1, warnings.size());
    }

    @Test
    void aKeyFileTooLarge_isOneLine() throws IOException {
        Path file = home.resolve(".config/sandbox/keys/openai");
        Files.createDirectories(file.getParent());
        Files.writeString(file, "k".repeat(Credential.MAX_KEY_FILE + 1));
        SandboxException e = org.junit.jupiter.api.Assertions.assertThrows(SandboxException.class,
                () -> AgentEnv.keptOut(Map.of(), profile("codex"), List.of(), false, home));
        assertEquals(1, e.getMessage().lines().count());
        assertFalse(AgentEnv.keptOut(Map.of(), profile("codex"), List.of(), true, home).iterator().hasNext(),
                "--pass-keys reads no key file");
    }
}
