package dev.sandbox.profile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import dev.sandbox.net.NetMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProfilesTest {
    @TempDir
    Path tmp;

    private Profiles profiles() {
        return Profiles.of(tmp.resolve("repo"), tmp.resolve("home"), TrustStore.at(tmp.resolve("trusted")));
    }

    /** A profile file, trusted when in the repository: these tests are about what it says. */
    private Path write(String where, String file, String text) throws IOException {
        Path written = writeUntrusted(where, file, text);
        if (where.equals("repo")) {
            profiles().trust(List.of(file.substring(0, file.lastIndexOf('.'))));
        }
        return written;
    }

    private Path writeUntrusted(String where, String file, String text) throws IOException {
        Path dir = where.equals("repo") ? tmp.resolve("repo/.sandbox/profiles")
                : tmp.resolve("home/.config/sandbox/profiles");
        Files.createDirectories(dir);
        return Files.writeString(dir.resolve(file), text);
    }

    @Test
    void everyBuiltIn_loadsWithUnknownKeysRefused_andHidesTheDefaultList() {
        for (String name : Profiles.BUILT_IN) {
            Profile p = profiles().resolve(name);
            assertEquals(Profiles.BUILT_IN_SOURCE, p.source(), name);
            assertTrue(p.description() != null && !p.description().isBlank(), name + " says what it is");
            for (String secret : Profiles.ALWAYS_HIDDEN) {
                assertEquals(!OWN_LOGIN.getOrDefault(name, List.of()).contains(secret), p.hidden().contains(secret),
                        name + " hides " + secret + " unless it is its own login");
            }
            assertFalse(p.envPass().stream().anyMatch(g -> g.startsWith("AWS") || g.equals("*")
                    || g.equals("GITHUB_TOKEN") || g.equals("SSH_AUTH_SOCK")), name + " passes no secret by accident");
            assertEquals("overlay", p.home(), name);
            if (!name.equals("default")) {
                assertEquals(List.of(name), p.command(), name + " runs its own command");
                assertEquals(List.of(name, "default"), p.chain(), name + " extends default");
                assertEquals(NetMode.egress, p.net(), name);
                assertFalse(p.writable().isEmpty(), name + " keeps its own login and settings");
            }
        }
        Profile def = profiles().resolve("default");
        assertEquals(NetMode.none, def.net());
        assertEquals(List.of(), def.writable(), "nothing writable outside the repository");
        Profile claude = profiles().resolve("claude");
        assertEquals(List.of("~/.claude", "~/.claude.json"), claude.writable());
        assertTrue(claude.envPass().containsAll(List.of("ANTHROPIC_*", "CLAUDE_*", "PATH")), claude.envPass().toString());
    }

    /** What each built-in agent profile reveals of the hidden list: its own login, no other agent's. */
    private static final Map<String, List<String>> OWN_LOGIN = Map.of(
            "claude", List.of("~/.claude/.credentials.json", "~/.claude.json"),
            "codex", List.of("~/.codex/auth.json"),
            "gemini", List.of("~/.gemini/oauth_creds.json", "~/.gemini/google_accounts.json", "~/.gemini/.env"),
            "aider", List.of("~/.aider.conf.yml", "~/.env", "~/.aider/oauth-keys.env"));

    @Test
    void agentLogins_areHiddenFromTheOtherAgents_evenUnderTheirOwnWritableDirectory() {
        for (String login : List.of("~/.claude/.credentials.json", "~/.codex/auth.json", "~/.gemini/oauth_creds.json")) {
            assertTrue(Profiles.ALWAYS_HIDDEN.contains(login), login);
        }
        assertTrue(profiles().resolve("codex").hidden().contains("~/.claude/.credentials.json"));
        assertTrue(profiles().resolve("claude").hidden().contains("~/.codex/auth.json"));
        assertFalse(profiles().resolve("claude").hidden().contains("~/.claude/.credentials.json"),
                "a /dev/null over it would eat Claude Code's token refresh");
    }

    @Test
    void twoFilesForOneName_isAnErrorEverywhereTheNameIsLookedUp() throws IOException {
        writeUntrusted("repo", "default.yaml", "description: harmless\n");
        writeUntrusted("repo", "default.json", "{\"network\": {\"mode\": \"host\"}}");
        String why = "'default': one profile, 2 files: .sandbox/profiles/default.yaml, .sandbox/profiles/default.json"
                + " (remove all but one)";
        assertError("default", "can't use the profile " + why);
        assertError("claude", "can't use the profile " + why); // claude extends default
        SandboxException e = assertThrows(SandboxException.class, () -> profiles().inspect("default"));
        assertEquals("can't use the profile " + why, e.getMessage());
        e = assertThrows(SandboxException.class, () -> profiles().trust(List.of("default")));
        assertEquals("can't trust the profile " + why, e.getMessage());
        assertEquals(SandboxException.USAGE, e.exitCode());
        e = assertThrows(SandboxException.class, () -> profiles().trust(List.of()));
        assertEquals("can't trust the profile " + why, e.getMessage());
        Profiles.Entry listed = profiles().list().stream().filter(x -> x.name().equals("default")).findFirst()
                .orElseThrow();
        assertEquals("can't list the profile " + why, listed.problem(), "listed as broken, the others still listed");
        assertFalse(Files.exists(tmp.resolve("trusted")), "nothing was trusted");

        writeUntrusted("user", "u.yml", "description: a\n");
        writeUntrusted("user", "u.yaml", "description: b\n");
        assertError("u", "one profile, 2 files: " + tmp.resolve("home/.config/sandbox/profiles/u.yaml") + ", "
                + tmp.resolve("home/.config/sandbox/profiles/u.yml") + " (remove all but one)");
        Files.delete(tmp.resolve("repo/.sandbox/profiles/default.yaml"));
        profiles().trust(List.of("default"));
        assertEquals(NetMode.host, profiles().resolve("default").net(), "one file left: that one");
    }

    @Test
    void extendsItsOwnName_buildsOnTheNextSourcesProfileOfThatName() throws IOException {
        write("user", "claude.yaml", "extends: claude\npaths:\n  writable: [~/.user]\n");
        write("repo", "claude.yaml", "extends: claude\ndescription: the project's\npaths:\n  writable: [~/.repo]\n");
        Profile p = profiles().resolve("claude");
        assertEquals(List.of("claude", "claude", "claude", "default"), p.chain());
        assertEquals(List.of("~/.claude", "~/.claude.json", "~/.user", "~/.repo"), p.writable());
        assertEquals("the project's", p.description());
        assertEquals(NetMode.egress, p.net(), "from the built-in claude");

        write("user", "mine.yaml", "extends: mine\n");
        assertError("mine", "can't use the profile 'mine': " + tmp.resolve("home/.config/sandbox/profiles/mine.yaml")
                + " extends 'mine', its own name, and no later source has a profile of that name");
        write("repo", "a.yaml", "extends: b\n");
        write("repo", "b.yaml", "extends: a\n");
        assertError("a", "'extends' goes round in a circle: a -> b -> a");
        write("user", "default.yaml", "extends: codex\n");
        assertError("claude", "'extends' goes round in a circle: claude -> claude -> claude -> default -> codex"
                + " -> default");
    }

    @Test
    void duplicateKeysAndDeepNesting_areOneCleanLine() throws IOException {
        Path f = write("user", "dup.yaml", "description: shown\nnetwork:\n  mode: none\n  mode: host\n");
        assertError("dup", "can't load profile '" + f + "': line 4, key 'network': key 'mode' is given twice (keep one)");
        f = write("user", "dup.yaml", "network: {mode: none}\nnetwork: {mode: host}\n");
        assertError("dup", "can't load profile '" + f + "': line 2: key 'network' is given twice (keep one)");
        Files.delete(f);
        f = write("user", "dup.json", "{\"description\": \"a\", \"description\": \"b\"}");
        assertError("dup", "key 'description' is given twice (keep one)");
        Files.delete(f);
        f = write("user", "deep.yaml", "env: " + "{a: ".repeat(1200) + "1" + "}".repeat(1200) + "\n");
        assertError("deep", "can't load profile '" + f + "': nested deeper than 1000 levels (a profile needs three)");
        write("user", "list.yaml", "- a\n");
        SandboxException e = assertThrows(SandboxException.class, () -> profiles().resolve("list"));
        assertTrue(e.getMessage().contains("(description, extends, command,"), e.getMessage());
    }

    @Test
    void list_marksAFileThatDoesNotLoad_andListsTheOthers() throws IOException {
        Path bad = write("repo", "bad.yaml", "nope: 1\n");
        write("repo", "good.yaml", "description: fine\n");
        Map<String, Profiles.Entry> byName = byName();
        assertTrue(byName.get("bad").problem().startsWith("can't load profile '" + bad + "': line 1, key 'nope'"),
                byName.get("bad").toString());
        assertEquals("fine", byName.get("good").description());
        assertEquals(null, byName.get("good").problem());
        assertEquals(7, byName.size());
    }

    @Test
    void revoke_forgetsAProfileWhoseFileIsGone_byNameOrByPath() throws IOException {
        Path f = write("repo", "gone.yaml", "description: x\n");
        Files.delete(f);
        assertEquals(List.of(Path.of(".sandbox/profiles/gone.yaml")), profiles().revoke(List.of("gone")));
        assertEquals(List.of(), profiles().revoke(List.of("gone")), "nothing left to revoke");
        f = write("repo", "gone.json", "{}");
        Files.delete(f);
        assertEquals(List.of(Path.of(".sandbox/profiles/gone.json")), profiles().revoke(List.of(f.toString())));
        Files.delete(tmp.resolve("repo/.sandbox/profiles"));
        write("repo", "gone.yml", "{}");
        Files.delete(tmp.resolve("repo/.sandbox/profiles/gone.yml"));
        Files.delete(tmp.resolve("repo/.sandbox/profiles"));
        assertEquals(List.of(Path.of(".sandbox/profiles/gone.yml")), profiles().revoke(List.of("gone")),
                "even with its directory gone");
        Profiles outside = Profiles.of(null, tmp.resolve("home"), TrustStore.at(tmp.resolve("trusted")));
        assertEquals(List.of(), outside.revoke(List.of(tmp.resolve("x.yaml").toString())), "a path needs no repository");
    }

    @Test
    void list_namesEachProfileOnce_withTheSourceThatWins_repoOverUserOverBuiltIn() throws IOException {
        write("user", "claude.yaml", "description: mine\n");
        Path repoClaude = write("repo", "claude.yml", "description: the project's\n");
        write("user", "extra.json", "{\"description\": \"json too\"}");
        Map<String, Profiles.Entry> byName = new java.util.HashMap<>();
        profiles().list().forEach(e -> byName.put(e.name(), e));
        assertEquals(repoClaude.toString(), byName.get("claude").source());
        assertEquals("the project's", byName.get("claude").description());
        assertEquals("json too", byName.get("extra").description());
        assertEquals(Profiles.BUILT_IN_SOURCE, byName.get("codex").source());
        assertEquals(6, byName.size());
    }

    @Test
    void hiddenList_comesFromItsResource_andNamesTheSecretsSeenReadable() {
        assertTrue(Profiles.ALWAYS_HIDDEN.containsAll(List.of("~/.ssh", "~/.git-credentials",
                "~/.config/git/credentials", "~/.cargo/credentials.toml", "~/.cargo/credentials", "~/.pgpass",
                "~/.bash_history", "~/.local/share/fish/fish_history", "~/.mozilla", "/run/user/$UID")),
                Profiles.ALWAYS_HIDDEN.toString());
        for (String needed : List.of("~/.claude", "~/.codex", "~/.gemini", "~/.gitconfig",
                "~/.m2", "~/.m2/repository", "~/.npm", "~/.cache", "~")) {
            assertFalse(Profiles.ALWAYS_HIDDEN.contains(needed), needed + " is what agents need to work");
        }
        assertEquals(Profiles.ALWAYS_HIDDEN.size(), Set.copyOf(Profiles.ALWAYS_HIDDEN).size(), "no path twice");
        ProfileFile f = Profiles.read(Profiles.HIDDEN_RESOURCE, Profiles.BUILT_IN_SOURCE, null);
        assertEquals(new ProfileFile(null, null, null, null, f.paths(), null, null, null, null, null), f,
                "hidden.yaml holds the list and nothing a profile would");
        assertEquals(new ProfileFile.Paths(null, null, f.paths().hidden(), null, null), f.paths());
    }

    @Test
    void repositoryProfile_isRefusedUntilTrusted_andAgainAfterAnyEdit() throws IOException {
        Path f = writeUntrusted("repo", "default.yaml", "paths:\n  writable: [\"~\"]\nnetwork:\n  mode: host\n");
        String refusal = "can't use the profile '.sandbox/profiles/default.yaml': the repository's profile is not"
                + " trusted (new or changed since trusted; read it, then run 'sandbox profiles trust default')";
        assertError("default", refusal);
        assertEquals(List.of(Path.of(".sandbox/profiles/default.yaml")), profiles().untrusted("default"));
        assertEquals(List.of("~"), profiles().inspect("default").writable(), "show still reads it");
        assertFalse(byName().get("default").trusted(), "the list says so");

        Map<Path, String> trusted = profiles().trust(List.of());
        assertEquals(Map.of(Path.of(".sandbox/profiles/default.yaml"), TrustStore.hash(Files.readAllBytes(f))),
                trusted);
        assertEquals(NetMode.host, profiles().resolve("default").net());
        assertTrue(byName().get("default").trusted());
        assertEquals(List.of(), profiles().untrusted("default"));

        Files.writeString(f, "description: edited\n", java.nio.file.StandardOpenOption.APPEND);
        assertError("default", refusal);
        profiles().trust(List.of("default"));
        profiles().resolve("default");
        assertEquals(List.of(Path.of(".sandbox/profiles/default.yaml")), profiles().revoke(List.of("default")));
        assertError("default", refusal);
        assertEquals(List.of(), profiles().revoke(List.of("default")), "nothing left to revoke");
    }

    @Test
    void untrustedRepositoryProfile_isRefusedWhenChosenByTheCommandOrReachedThroughExtends() throws IOException {
        writeUntrusted("repo", "sh.yaml", "network:\n  mode: host\n");
        assertEquals("sh", profiles().forCommand(List.of("/bin/sh")), "a planted sh.yaml is not skipped silently");
        assertError("sh", "'sandbox profiles trust sh'");
        write("user", "mine.yaml", "extends: base\n");
        writeUntrusted("repo", "base.yaml", "paths:\n  writable: [~/.x]\n");
        assertError("mine", "can't use the profile '.sandbox/profiles/base.yaml'");
        write("user", "own.yaml", "network:\n  mode: egress\n");
        assertEquals(NetMode.egress, profiles().resolve("own").net(), "the user's own profiles need no trust");
        assertEquals(NetMode.egress, profiles().resolve("claude").net(), "nor do the built-ins");
    }

    @Test
    void trust_refusesANameTheRepositoryDoesNotHave_andOutsideARepository() throws IOException {
        write("user", "mine.yaml", "description: x\n");
        SandboxException e = assertThrows(SandboxException.class, () -> profiles().trust(List.of("mine")));
        assertEquals("can't trust the profile 'mine': the repository has no such profile in .sandbox/profiles"
                + " (see 'sandbox profiles')", e.getMessage());
        assertEquals(SandboxException.USAGE, e.exitCode());
        e = assertThrows(SandboxException.class, () -> profiles().trust(List.of()));
        assertTrue(e.getMessage().contains("the repository has no profile"), e.getMessage());
        Profiles outside = Profiles.of(null, tmp.resolve("home"), TrustStore.at(tmp.resolve("trusted")));
        e = assertThrows(SandboxException.class, () -> outside.trust(List.of()));
        assertTrue(e.getMessage().contains("not in a git repository"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("trusted")), "nothing recorded");
    }

    @Test
    void changedWarning_namesTheFirstFewPathsUnderDotSandbox_andIgnoresTheRest() {
        assertEquals(null, Profiles.changedWarning(Map.of("src/a.c", "modified", ".sandboxed", "added",
                "sub/.sandbox/profiles/x.yaml", "added")));
        assertEquals("the sandbox changed the repository's .sandbox/ (added .sandbox/profiles/default.yaml): a"
                + " profile there is used only after you read it and run 'sandbox profiles trust'",
                Profiles.changedWarning(Map.of(".sandbox/profiles/default.yaml", "added", "README", "modified")));
        Map<String, String> many = new java.util.HashMap<>();
        for (int i = 1; i <= 5; i++) {
            many.put(".sandbox/profiles/p" + i + ".yaml", i == 2 ? "deleted" : "modified");
        }
        String w = Profiles.changedWarning(many);
        assertTrue(w.startsWith("the sandbox changed the repository's .sandbox/ (modified .sandbox/profiles/p1.yaml,"
                + " deleted .sandbox/profiles/p2.yaml, modified .sandbox/profiles/p3.yaml and 2 more): "), w);
    }

    @Test
    void changedWarning_nameWithNewline_quotedAsGitDoes_oneLine() {
        String w = Profiles.changedWarning(Map.of(".sandbox/a\nb.yaml", "added"));
        assertTrue(w.contains("(added \".sandbox/a\\nb.yaml\")"), w);
        assertFalse(w.contains("\n"), w);
    }

    private Map<String, Profiles.Entry> byName() {
        Map<String, Profiles.Entry> byName = new java.util.HashMap<>();
        profiles().list().forEach(e -> byName.put(e.name(), e));
        return byName;
    }

    @Test
    void extends_addsListsUp_andTheChildsSingleValuesWin() throws IOException {
        write("user", "base.yaml", "env:\n  pass: [A]\n  set: {X: one, Y: base}\npaths:\n  writable: [~/.a]\n"
                + "network:\n  mode: egress\n  allow: [a.example]\nports: [8080]\ncontainers: true\n");
        write("repo", "child.yaml", "extends: base\ncommand: [tool, --flag]\nenv:\n  pass: [B_*]\n  set: {Y: child}\n"
                + "paths:\n  writable: [~/.b]\n  reveal: [~/.ssh]\nhome: readonly\nnetwork:\n  allow: ['*.b.example']\n");
        Profile p = profiles().resolve("child");
        assertEquals(List.of("child", "base"), p.chain());
        assertEquals(List.of("tool", "--flag"), p.command());
        assertTrue(p.envPass().containsAll(List.of("A", "B_*")));
        assertEquals(Map.of("X", "one", "Y", "child"), p.envSet());
        assertEquals(List.of("~/.a", "~/.b"), p.writable());
        assertFalse(p.hidden().contains("~/.ssh"), "reveal takes it off the hidden list");
        assertTrue(p.hidden().contains("~/.aws"));
        assertEquals("readonly", p.home());
        assertEquals(NetMode.egress, p.net());
        assertEquals(List.of("a.example", "*.b.example"), p.allow());
        assertEquals(List.of("8080"), p.ports());
        assertTrue(p.containers(), "containers comes from the parent when the child says nothing");
        assertFalse(profiles().resolve("default").containers(), "no engine unless asked for");
    }

    @Test
    void forCommand_picksTheProfileNamedLikeTheCommandsBasename() throws IOException {
        assertEquals("claude", profiles().forCommand(List.of("/usr/local/bin/claude", "--resume")));
        assertEquals("codex", profiles().forCommand(List.of("codex")));
        assertEquals("default", profiles().forCommand(List.of("bash")));
        write("repo", "bash.yaml", "description: a project's shell\n");
        assertEquals("bash", profiles().forCommand(List.of("bash")));
    }

    @Test
    void brokenFiles_areOneLineNamingTheFileTheLineAndTheKey() throws IOException {
        Path f = write("repo", "bad.yaml", "description: x\npaths:\n  writeable: [~/.x]\n");
        assertError("bad", "can't load profile '" + f + "': line 3, key 'paths.writeable': unknown key 'writeable'"
                + " (expected one of: create, hidden, readonly, reveal, writable)");
        write("repo", "bad.yaml", "network:\n  mode: egres\n");
        assertError("bad", "line 2, key 'network.mode': expected one of none, egress, allow, host, not 'egres'");
        write("repo", "bad.yaml", "paths:\n  hidden: [~/a]\n  writable:\n    - ~/b\n    - relative\n");
        assertError("bad", "line 5, key 'paths.writable[1]': expected an absolute path or ~/path, not 'relative'");
        write("repo", "bad.yaml", "env:\n  pass: A\n");
        assertError("bad", "line 2, key 'env.pass': expected a list");
        write("repo", "bad.yaml", "ports: [8080, '70000']\n");
        assertError("bad", "key 'ports[1]': expected [HOSTPORT:]PORT[/udp], not '70000'");
        write("repo", "bad.yaml", "containers: maybe\n");
        assertError("bad", "line 1, key 'containers'");
        write("repo", "bad.yaml", "network:\n  allow: ['http://x/']\n");
        assertError("bad", "key 'network.allow[0]': expected a host name");
        write("repo", "bad.yaml", "description: 'unterminated\npaths: {}\n");
        assertError("bad", "not valid YAML");
        write("repo", "bad.yaml", "extends: nowhere\n");
        assertError("bad", "can't use the profile 'bad': 'bad' extends 'nowhere', which is not a profile");
        write("repo", "loop.yaml", "extends: loop2\n");
        write("repo", "loop2.yaml", "extends: loop\n");
        assertError("loop", "'extends' goes round in a circle: loop -> loop2 -> loop");
        assertError("nosuch", "can't use the profile 'nosuch': no such profile (see 'sandbox profiles')");
    }

    private void assertError(String name, String part) {
        SandboxException e = assertThrows(SandboxException.class, () -> profiles().resolve(name));
        assertEquals(SandboxException.USAGE, e.exitCode(), e.getMessage());
        assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should contain '" + part + "'");
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }

    @Test
    void agentEnv_passesOnlyWhatTheProfileNames_thenSets_thenEnvOptions() {
        Profile p = profiles().resolve("claude");
        Map<String, String> launcher = Map.of("PATH", "/bin", "AWS_SECRET_ACCESS_KEY", "s", "GITHUB_TOKEN", "t",
                "SSH_AUTH_SOCK", "/run/x", "ANTHROPIC_API_KEY", "k", "LC_CTYPE", "C.UTF-8", "EXTRA", "e");
        Map<String, String> env = AgentEnv.build(launcher, p, List.of("EXTRA", "MODE=fast", "UNSET_ONE"));
        assertEquals(Map.of("PATH", "/bin", "ANTHROPIC_API_KEY", "k", "LC_CTYPE", "C.UTF-8", "IS_SANDBOX", "1",
                "EXTRA", "e", "MODE", "fast"), env);
        assertThrows(SandboxException.class, () -> AgentEnv.check(List.of("1BAD=x")));
        assertThrows(SandboxException.class, () -> AgentEnv.check(List.of("=x")));
        AgentEnv.check(List.of("OK", "OK2=with=equals"));
    }
}
