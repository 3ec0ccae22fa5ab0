package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Profiles decide what an agent sees of the home and the environment (docs/ARCHITECTURE.md §8): keys and
 * credentials are hidden, only the profile's variables pass, the agent's own settings are
 * the host's and writable, and every other write to the home stays in the sandbox. Then the
 * real Claude Code CLI, installed from npm, runs inside and shows its first screen.
 */
class ProfilesIT {
    private static final Duration WAIT = Duration.ofSeconds(90);

    private static void fakeHome(Path home) throws IOException {
        Files.createDirectories(home.resolve(".ssh"));
        Files.writeString(home.resolve(".ssh/id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n");
        Files.createDirectories(home.resolve(".aws"));
        Files.writeString(home.resolve(".aws/credentials"), "[default]\naws_secret_access_key = hunter2\n");
        Files.createDirectories(home.resolve(".claude"));
        Files.writeString(home.resolve(".claude/settings.json"), "{\"theme\": \"dark\"}\n");
        Files.writeString(home.resolve(".bashrc"), "# the user's own\n");
        Files.writeString(home.resolve(".git-credentials"), "https://user:token@example.com\n");
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void claudeProfile_hidesKeysAndCredentials_passesOnlyItsVariables_andKeepsOnlyClaudesWrites(Runner runner)
            throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            fakeHome(ws.home());
            ws.own();
            String script = String.join("\n",
                    "cat ~/.ssh/id_ed25519 >/dev/null 2>&1; echo \"SSH=$?\"",
                    "cat ~/.aws/credentials >/dev/null 2>&1; echo \"AWS=$?\"",
                    "cat ~/.git-credentials >/dev/null 2>&1 && [ -s ~/.git-credentials ]; echo \"GITCRED=$?\"",
                    "echo \"AWSENV=$(env | grep -c '^AWS_')\"",
                    "echo \"TOKENS=$(env | grep -c -E '^(GITHUB_TOKEN|SSH_AUTH_SOCK)=')\"",
                    "echo \"ANTHROPIC=$ANTHROPIC_API_KEY\"",
                    "echo \"MODEL=$ANTHROPIC_MODEL\"",
                    "echo \"SETTINGS=$(cat ~/.claude/settings.json)\"",
                    "echo '{\"written\": true}' > ~/.claude/from-sandbox.json && echo CLAUDE=ok",
                    "echo 'alias ll=ls' >> ~/.bashrc && echo BASHRC=ok",
                    "echo \"BASHRC_INSIDE=$(tail -n 1 ~/.bashrc)\"",
                    "mkdir -p ~/.cache/tool && echo x > ~/.cache/tool/f && echo CACHE=ok",
                    "");
            Map<String, String> env = Map.of("AWS_SECRET_ACCESS_KEY", "hunter2", "GITHUB_TOKEN", "ghp_x",
                    "SSH_AUTH_SOCK", "/run/user/1/ssh", "ANTHROPIC_API_KEY", "sk-ant-test",
                    "ANTHROPIC_MODEL", "claude-test");

            Proc.Result r = new Cli(ws).run(repo, env, "run", "--profile", "claude", "--net", "none", "--", "sh", "-c",
                    script);

            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdoutLines();
            assertTrue(out.contains("SSH=1"), "the ssh key can't be read" + r.describe());
            assertTrue(out.contains("AWS=1"), "the aws credentials can't be read" + r.describe());
            assertTrue(out.contains("GITCRED=1"), "~/.git-credentials is empty inside" + r.describe());
            assertTrue(out.contains("AWSENV=0") && out.contains("TOKENS=0"), "no secret variable" + r.describe());
            assertTrue(out.contains("MODEL=claude-test"), "the profile's own variables pass" + r.describe());
            assertTrue(out.stream().anyMatch(l -> l.matches("ANTHROPIC=sandbox-placeholder-[0-9a-f]{32}")),
                    "the API key stays outside: the agent has a placeholder (CredentialsIT)" + r.describe());
            assertTrue(out.contains("SETTINGS={\"theme\": \"dark\"}"), r.describe());
            assertTrue(out.contains("CLAUDE=ok") && out.contains("BASHRC=ok") && out.contains("CACHE=ok"), r.describe());
            assertTrue(out.contains("BASHRC_INSIDE=alias ll=ls"), "the write to ~/.bashrc worked inside" + r.describe());

            assertEquals("{\"written\": true}\n", Repos.read(ws.home().resolve(".claude/from-sandbox.json")),
                    "~/.claude is the host's own: the write is there afterwards");
            assertEquals("# the user's own\n", Repos.read(ws.home().resolve(".bashrc")), "the host's ~/.bashrc unchanged");
            assertFalse(Files.exists(ws.home().resolve(".cache/tool")), "caches written inside stay inside");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void realClaudeCode_printsItsVersion_andRendersItsFirstScreen_changingNothingButClaudesOwnFiles(Runner runner)
            throws IOException {
        runner.assumeAvailable();
        Skip.unless(Host.has("tmux"), "needs tmux");
        NetworkIT.assumeEgress(runner); // the claude profile's network is egress
        // In the home, as a user's npm prefix often is: it must be visible inside, and /tmp and
        // /var/tmp are the sandbox's own.
        try (Workspace ws = Workspace.create(runner); Tmux tmux = new Tmux(ws)) {
            Path bin = ClaudeCode.install(ws.mkdir("home/npm"));
            Path repo = Repos.committed(ws.mkdir("repo"));
            fakeHome(ws.home());
            ws.own();
            Cli cli = new Cli(ws);
            String path = bin + ":" + Host.MINIMAL_PATH;

            Proc.Result version = cli.run(repo, Map.of("PATH", path), "run", "--name", "ccv", "--", "claude",
                    "--version");
            assertEquals(0, version.exitCode(), version.describe());
            assertTrue(version.stdout().strip().matches("\\d+\\.\\d+\\.\\d+ \\(Claude Code\\)"), version.describe());
            JsonNode listed = cli.listed(repo, "ccv");
            assertEquals("claude", listed.path("profile").asText(), "the claude profile was chosen" + listed);
            assertEquals("egress", listed.path("net").asText(), "with its network" + listed);

            Map<String, String> before = snapshot(ws.home());
            String gitStatus = Repos.git(repo, "-c", "safe.directory=*", "status", "--porcelain");
            tmux.newSession("cc", 120, 40, repo, "env PATH=" + path + " " + Host.sandboxBin()
                    + " run --name cc -- claude");
            List<String> screen = tmux.awaitScreen("cc", WAIT, ProfilesIT::showsClaudesFirstScreen,
                    "Claude Code's first screen");
            assertTrue(showsClaudesFirstScreen(screen), String.join("\n", screen));
            tmux.close();
            awaitStopped(cli, repo, "cc");

            Map<String, String> after = snapshot(ws.home());
            before.keySet().removeIf(ProfilesIT::claudesOwn);
            after.keySet().removeIf(ProfilesIT::claudesOwn);
            assertEquals(before, after, "nothing in the home but ~/.claude* changed on the host");
            assertEquals(gitStatus, Repos.git(repo, "-c", "safe.directory=*", "status", "--porcelain"), "the user's tree is untouched");
        }
    }

    private static boolean showsClaudesFirstScreen(List<String> screen) {
        String all = String.join("\n", screen).toLowerCase();
        // Its banner, or (in other versions) its first-run theme picker or folder trust prompt.
        return all.contains("welcome to claude code") || all.contains("choose the text style")
                || all.contains("do you trust the files");
    }

    private static boolean claudesOwn(String relative) {
        return relative.equals(".claude") || relative.startsWith(".claude/") || relative.startsWith(".claude.json");
    }

    private static void awaitStopped(Cli cli, Path repo, String name) {
        for (int i = 0; i < 200; i++) {
            if (!"running".equals(cli.listed(repo, name).path("status").asText())) {
                return;
            }
            Proc.pause(100);
        }
        throw new AssertionError("sandbox " + name + " did not stop after its terminal closed");
    }

    /** Every path under {@code home} with its size and modification time. */
    private static Map<String, String> snapshot(Path home) {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> all = Files.walk(home)) {
            all.forEach(p -> {
                try {
                    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    files.put(home.relativize(p).toString(), (a.isDirectory() ? "dir" : a.size() + " bytes") + " "
                            + a.lastModifiedTime());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return files;
    }
}
