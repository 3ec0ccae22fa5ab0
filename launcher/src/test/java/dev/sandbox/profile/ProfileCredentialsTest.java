package dev.sandbox.profile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The profiles' {@code credentials:} key: built-ins, merging along {@code extends}, errors, finding the key. */
class ProfileCredentialsTest {
    @TempDir
    Path tmp;

    private Profiles profiles() {
        return Profiles.of(null, tmp.resolve("home"), TrustStore.at(tmp.resolve("trusted")));
    }

    private Path write(String file, String text) throws IOException {
        Path dir = tmp.resolve("home/.config/sandbox/profiles");
        Files.createDirectories(dir);
        return Files.writeString(dir.resolve(file), text);
    }

    @Test
    void builtIns_keepTheirAgentsKeyOut_andDefaultHasNone() {
        assertEquals(List.of(new Credential("anthropic", "ANTHROPIC_API_KEY", "~/.config/sandbox/keys/anthropic",
                "x-api-key", "", URI.create("https://api.anthropic.com"), "ANTHROPIC_BASE_URL"),
                new Credential("anthropic-token", "ANTHROPIC_AUTH_TOKEN", null, "Authorization", "Bearer",
                        URI.create("https://api.anthropic.com"), "ANTHROPIC_BASE_URL")),
                profiles().resolve("claude").credentials());
        assertEquals(List.of(new Credential("openai", "OPENAI_API_KEY", "~/.config/sandbox/keys/openai",
                "Authorization", "Bearer", URI.create("https://api.openai.com/v1"), "OPENAI_BASE_URL")),
                profiles().resolve("codex").credentials());
        assertEquals(List.of(new Credential("gemini", "GEMINI_API_KEY", "~/.config/sandbox/keys/gemini",
                "x-goog-api-key", "", URI.create("https://generativelanguage.googleapis.com"),
                "GOOGLE_GEMINI_BASE_URL"), new Credential("google", "GOOGLE_API_KEY", null, "x-goog-api-key", "",
                URI.create("https://generativelanguage.googleapis.com"), "GOOGLE_GEMINI_BASE_URL")),
                profiles().resolve("gemini").credentials());
        assertEquals(List.of(), profiles().resolve("default").credentials());
        assertEquals(List.of(), profiles().resolve("aider").credentials());
    }

    @Test
    void alongExtends_aChildsEntryReplacesItsParentsWhole_andProvidersSortByName() throws IOException {
        write("mine.yaml", """
                extends: claude
                credentials:
                  openai:
                    variable: OPENAI_API_KEY
                    header: Authorization
                    scheme: Bearer
                    upstream: https://api.openai.com/v1
                    base-url: OPENAI_BASE_URL
                  anthropic:
                    variable: MY_GATEWAY_KEY
                    header: authorization
                    scheme: Bearer
                    upstream: http://gateway.example:4000/anthropic
                    base-url: ANTHROPIC_BASE_URL
                  anthropic-token:
                    variable: ANTHROPIC_AUTH_TOKEN
                    header: authorization
                    scheme: Bearer
                    upstream: http://gateway.example:4000/anthropic
                    base-url: ANTHROPIC_BASE_URL
                """);
        List<Credential> c = profiles().resolve("mine").credentials();
        assertEquals(List.of("anthropic", "anthropic-token", "openai"), c.stream().map(Credential::provider).toList());
        assertEquals(new Credential("anthropic", "MY_GATEWAY_KEY", null, "authorization", "Bearer",
                URI.create("http://gateway.example:4000/anthropic"), "ANTHROPIC_BASE_URL"), c.get(0),
                "nothing of the parent's entry is kept, its key-file included");
        write("child.yaml", "extends: mine\ndescription: adds nothing\n");
        assertEquals(c, profiles().resolve("child").credentials(), "a child without the key inherits every entry");
    }

    @Test
    void badEntries_areOneLineNamingTheFileTheLineAndTheKey() throws IOException {
        String good = "    variable: K\n    header: x-api-key\n    upstream: https://api.example\n    base-url: B\n";
        Path f = write("bad.yaml", "credentials:\n  api:\n    headr: x\n" + good);
        assertError("can't load profile '" + f + "': line 3, key 'credentials.api.headr': unknown key 'headr'"
                + " (expected one of: base-url, header, key-file, scheme, upstream, variable)");
        write("bad.yaml", "credentials:\n  Anthropic:\n" + good);
        assertError("line 2, key 'credentials': expected a provider name (a-z, 0-9, '-', at most 16),"
                + " not 'Anthropic'");
        write("bad.yaml", "credentials:\n  api:\n    variable: K\n    header: x-api-key\n"
                + "    upstream: ftp://api.example\n    base-url: B\n");
        assertError("line 5, key 'credentials.api.upstream': expected an https:// or http:// URL with a host and no"
                + " query, not 'ftp://api.example'");
        write("bad.yaml", "credentials:\n  api:\n    variable: K\n    header: x-api-key\n"
                + "    upstream: https:///nohost\n    base-url: B\n");
        assertError("key 'credentials.api.upstream': expected an https:// or http:// URL with a host");
        write("bad.yaml", "credentials:\n  api:\n    variable: MY-KEY\n    header: x-api-key\n"
                + "    upstream: https://api.example\n    base-url: B\n");
        assertError("line 3, key 'credentials.api.variable': expected a variable name, not 'MY-KEY'");
        write("bad.yaml", "credentials:\n  api:\n    variable: K\n    header: x-api-key\n"
                + "    upstream: https://api.example\n    base-url: BASE_URL*\n");
        assertError("line 6, key 'credentials.api.base-url': expected a variable name, not 'BASE_URL*'");
        write("bad.yaml", "credentials:\n  api:\n    variable: K\n    header: 'x api key'\n"
                + "    upstream: https://api.example\n    base-url: B\n");
        assertError("key 'credentials.api.header': expected an HTTP header name, not 'x api key'");
        write("bad.yaml", "credentials:\n  api:\n    variable: K\n    upstream: https://api.example\n"
                + "    base-url: B\n");
        assertError("key 'credentials.api': missing 'header' (a credential needs variable, header, upstream and"
                + " base-url)");
        write("bad.yaml", "credentials:\n  api:\n" + good + "    key-file: keys/api\n");
        assertError("key 'credentials.api.key-file': expected an absolute path or ~/path, not 'keys/api'");
    }

    @Test
    void entriesTheProxyOrTheSandboxCantHonour_areOneLineNamingTheFileTheLineAndTheKey() throws IOException {
        for (String header : List.of("Host", "connection", "Content-Length", "expect", "upgrade", "te", "trailer",
                "transfer-encoding", "keep-alive", "Proxy-Authorization")) {
            Path f = write("bad.yaml", "credentials:\n  api:\n    variable: K\n    header: " + header + "\n"
                    + "    upstream: https://api.example\n    base-url: B\n");
            assertError("can't load profile '" + f + "': line 4, key 'credentials.api.header': expected a header the"
                    + " proxy can set, not '" + header + "' (it sets or drops host, connection, content-length,"
                    + " expect, upgrade, te, trailer, transfer-encoding, keep-alive and proxy-* itself)");
        }
        for (String name : List.of("PATH", "HOME", "LD_PRELOAD", "LD_LIBRARY_PATH", "SANDBOX_NAME")) {
            write("bad.yaml", "credentials:\n  api:\n    variable: " + name + "\n    header: x-api-key\n"
                    + "    upstream: https://api.example\n    base-url: B\n");
            assertError("line 3, key 'credentials.api.variable': expected a variable of the agent's API, not " + name
                    + " (PATH, HOME, LD_* and SANDBOX_* the sandbox needs as they are)");
            write("bad.yaml", "credentials:\n  api:\n    variable: K\n    header: x-api-key\n"
                    + "    upstream: https://api.example\n    base-url: " + name + "\n");
            assertError("line 6, key 'credentials.api.base-url': expected a variable of the agent's API, not " + name);
        }
        write("bad.yaml", "credentials:\n  api:\n    variable: K\n    header: x-api-key\n"
                + "    upstream: https://api.example\n    base-url: K\n");
        assertError("key 'credentials.api': 'variable' and 'base-url' both name K (the key's placeholder and the"
                + " proxy's address need a variable each)");
    }

    @Test
    void twoEntriesShareABaseUrl_onlyWithOneUpstreamAndTwoVariables() throws IOException {
        String a = "  a:\n    variable: KA\n    header: x-api-key\n    upstream: https://api.example/v1\n"
                + "    base-url: B\n";
        write("bad.yaml", "credentials:\n" + a + "  b:\n    variable: KB\n    header: authorization\n"
                + "    scheme: Bearer\n    upstream: https://api.example/v1\n    base-url: B\n");
        assertEquals(List.of("a", "b"), profiles().resolve("bad").credentials().stream().map(Credential::provider)
                .toList());
        write("bad.yaml", "credentials:\n" + a + "  b:\n    variable: KB\n    header: authorization\n"
                + "    upstream: https://other.example/v1\n    base-url: B\n");
        assertError("can't use the profile 'bad': credentials 'a' and 'b' have one base-url, B, but different"
                + " upstreams (entries sharing a base-url share its proxy: give them one upstream, overriding both"
                + " in a profile that extends)");
        write("bad.yaml", "credentials:\n" + a + "  b:\n    variable: KA\n    header: authorization\n"
                + "    upstream: https://api.example/v1\n    base-url: B\n");
        assertError("can't use the profile 'bad': credentials 'a' and 'b' have one variable, KA (a variable holds"
                + " one key)");
        write("bad.yaml", "credentials:\n" + a + "  b:\n    variable: B\n    header: authorization\n"
                + "    upstream: https://api.example/v1\n    base-url: C\n");
        assertError("can't use the profile 'bad': credentials 'a' and 'b': one's variable is the other's base-url");
    }

    private void assertError(String part) {
        SandboxException e = assertThrows(SandboxException.class, () -> profiles().resolve("bad"));
        assertEquals(SandboxException.USAGE, e.exitCode(), e.getMessage());
        assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should contain '" + part + "'");
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }

    @Test
    void theKey_isTheVariableElseTheKeyFileUnderTheHome_trimmed() throws IOException {
        Path home = tmp.resolve("home");
        Credential c = profiles().resolve("claude").credentials().get(0);
        assertEquals(Optional.empty(), c.key(Map.of(), home), "neither: the provider is off");
        Path file = home.resolve(".config/sandbox/keys/anthropic");
        Files.createDirectories(file.getParent());
        Files.writeString(file, "  sk-from-file\n");
        assertEquals(Optional.of("sk-from-file"), c.key(Map.of(), home));
        assertEquals(Optional.of("sk-from-file"), c.key(Map.of("ANTHROPIC_API_KEY", ""), home),
                "an empty variable is no key");
        assertEquals(Optional.of("sk-from-env"), c.key(Map.of("ANTHROPIC_API_KEY", "sk-from-env"), home));
        Files.writeString(file, " \n");
        assertEquals(Optional.empty(), c.key(Map.of(), home), "a blank file is no key");
        Files.writeString(file, " ".repeat(Credential.MAX_KEY_FILE));
        assertEquals(Optional.empty(), c.key(Map.of(), home), "64 KiB of blank is still read, and still no key");
        Files.writeString(file, " ".repeat(Credential.MAX_KEY_FILE + 1));
        SandboxException e = assertThrows(SandboxException.class, () -> c.key(Map.of(), home));
        assertEquals("can't read the anthropic key file '" + file + "': larger than 64 KiB (a key file holds the"
                + " key alone)", e.getMessage());
        assertEquals(SandboxException.USAGE, e.exitCode());
    }

    @Test
    void aFileWhereTheKeyFilesDirectoryWouldBe_meansNoKey() throws IOException {
        Path home = tmp.resolve("home-file-keys");
        Credential c = profiles().resolve("claude").credentials().get(0);
        Files.createDirectories(home.resolve(".config/sandbox"));
        Files.writeString(home.resolve(".config/sandbox/keys"), "not a directory\n");
        assertEquals(Optional.empty(), c.key(Map.of(), home), "keys/anthropic can't exist under a file");
    }

    @Test
    void theUpstream_isTheUsersOwnBaseUrlWhenSet_elseTheProfiles() {
        Credential c = profiles().resolve("claude").credentials().get(0);
        assertEquals(URI.create("https://api.anthropic.com"), c.upstream(Map.of()));
        assertEquals(URI.create("https://api.anthropic.com"), c.upstream(Map.of("ANTHROPIC_BASE_URL", "")),
                "empty is unset");
        assertEquals(URI.create("https://127.0.0.1:8443/gw"),
                c.upstream(Map.of("ANTHROPIC_BASE_URL", "https://127.0.0.1:8443/gw")));
        assertEquals(URI.create("http://localhost:4000"), c.upstream(Map.of("ANTHROPIC_BASE_URL", "http://localhost:4000")));
        assertEquals(URI.create("http://[::1]:4000/a%20b"),
                c.upstream(Map.of("ANTHROPIC_BASE_URL", "http://[::1]:4000/a%20b")));
    }

    /** A gateway's URL that can't be used is refused, never replaced by the API's own (with the gateway's key). */
    @Test
    void aBaseUrlSetButNotUsable_isOneLineNamingTheVariableAndWhy_neverTheValue() {
        Credential c = profiles().resolve("claude").credentials().get(0);
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("http://user:secret-pw@gw.example/x", "it has a user name or password (give the key through"
                + " ANTHROPIC_API_KEY; or run with --pass-keys)");
        cases.put("https://secret-pw@gw.example/x", "it has a user name or password");
        cases.put("https://gw.example/x?token=secret-pw", "it has a query ('?...')");
        cases.put("https://gw.example/x#secret-pw", "it has a fragment ('#...')");
        cases.put(" https://gw.example/secret-pw", "it has spaces at its start or end");
        cases.put("https://gw.example/secret-pw ", "it has spaces at its start or end");
        cases.put("http://[::1", "it is not a URL");
        cases.put("https://", "it is not a URL");
        cases.put("https:///secret-pw", "it has no host");
        cases.put("https://b\u00fccher.example/secret-pw", "non-ASCII");
        cases.put("https://gw.example/secret-pw%zz", "it has a '%' not followed by two hex digits");
        cases.put("https://gw.example:0/secret-pw", "its port is not 1 to 65535");
        cases.put("https://gw.example:65536/secret-pw", "its port is not 1 to 65535");
        cases.put("https://gw.example:99999999999/secret-pw", "its host or port can't be read");
        cases.put("https://gw.example:/secret-pw", "its port is not 1 to 65535");
        cases.put("ftp://gw.example/secret-pw", "it is not an http:// or https:// URL");
        cases.put("gw.example/secret-pw", "it is not an http:// or https:// URL");
        cases.put("https://gw_x.example/secret-pw", "its host or port can't be read");
        cases.forEach((value, why) -> {
            SandboxException e = assertThrows(SandboxException.class,
                    () -> c.upstream(Map.of("ANTHROPIC_BASE_URL", value)), value);
            assertEquals(SandboxException.USAGE, e.exitCode(), value);
            assertTrue(e.getMessage().startsWith("can't use ANTHROPIC_BASE_URL as the anthropic upstream: "),
                    e.getMessage());
            assertTrue(e.getMessage().contains(why), value + ": " + e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            assertFalse(e.getMessage().contains("secret-pw"), "the value is never printed: " + e.getMessage());
        });
    }

    @Test
    void aKeyAHeaderCantCarry_isRefused_namingWhereItCameFrom_neverTheKey() throws IOException {
        Path home = tmp.resolve("home");
        Credential c = profiles().resolve("claude").credentials().get(0);
        for (String bad : List.of("sk-secret\r\nX-Evil: 1", "sk-secret\n", "sk-se cret", "sk-secret\u00e9",
                "sk-secret\u0000", "sk-secret\u007f", " sk-secret", "sk-secret\t")) {
            SandboxException e = assertThrows(SandboxException.class,
                    () -> c.key(Map.of("ANTHROPIC_API_KEY", bad), home), bad);
            assertEquals("can't use the anthropic key from ANTHROPIC_API_KEY: it has characters an HTTP header can't"
                    + " carry (control characters, spaces or non-ASCII)", e.getMessage());
            assertEquals(SandboxException.USAGE, e.exitCode());
        }
        assertEquals(Optional.of("!~sk-ant_0123/+=.:"), c.key(Map.of("ANTHROPIC_API_KEY", "!~sk-ant_0123/+=.:"), home));
        Path file = home.resolve(".config/sandbox/keys/anthropic");
        Files.createDirectories(file.getParent());
        Files.writeString(file, "sk-secret\r\nX-Evil: 1\n");
        SandboxException e = assertThrows(SandboxException.class, () -> c.key(Map.of(), home));
        assertEquals("can't use the anthropic key from '" + file + "': it has characters an HTTP header can't carry"
                + " (control characters, spaces or non-ASCII)", e.getMessage());
        assertFalse(e.getMessage().contains("secret"));
    }

    @Test
    void aKeyFileThatIsNoRegularFile_isOneLineExit2_aFifoDoesNotBlock() throws Exception {
        Path home = tmp.resolve("home");
        Credential c = profiles().resolve("claude").credentials().get(0);
        Path file = home.resolve(".config/sandbox/keys/anthropic");
        Files.createDirectories(file);
        SandboxException e = assertThrows(SandboxException.class, () -> c.key(Map.of(), home));
        assertEquals("can't read the anthropic key file '" + file + "': not a regular file (a key file holds the key"
                + " alone)", e.getMessage());
        assertEquals(SandboxException.USAGE, e.exitCode());
        Files.delete(file);
        assertEquals(0, new ProcessBuilder("mkfifo", file.toString()).start().waitFor());
        e = assertTimeoutPreemptively(java.time.Duration.ofSeconds(10),
                () -> assertThrows(SandboxException.class, () -> c.key(Map.of(), home)));
        assertEquals(SandboxException.USAGE, e.exitCode());
        assertTrue(e.getMessage().endsWith("not a regular file (a key file holds the key alone)"), e.getMessage());
        Files.delete(file);
        Path real = Files.writeString(home.resolve("real-key"), "sk-linked\n");
        Files.createSymbolicLink(file, real);
        assertEquals(Optional.of("sk-linked"), c.key(Map.of(), home), "the link the user made is followed");
    }

    @Test
    void placeholders_sayWhatTheyAre_andDifferEachTime() {
        String p = Credential.placeholder();
        assertTrue(p.matches("sandbox-placeholder-[0-9a-f]{32}"), p);
        assertNotEquals(p, Credential.placeholder());
    }
}
