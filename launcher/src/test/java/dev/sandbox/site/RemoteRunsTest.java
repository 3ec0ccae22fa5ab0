package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import dev.sandbox.profile.TrustStore;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@code run --host} hands the host: its arguments and the agent's environment. */
class RemoteRunsTest {
    @TempDir
    Path home;

    private Profile profile(String name) {
        return Profiles.of(null, home, TrustStore.at(home.resolve("trusted"))).resolve(name);
    }

    @Test
    void remoteArgs_dropHost_addName_keepTheRest() {
        assertEquals(List.of("run", "--name", "calm-otter", "--net", "egress", "--", "claude", "-p", "x"),
                RemoteRuns.remoteArgs(List.of("--stacktrace", "run", "--host", "build1", "--net", "egress", "--",
                        "claude", "-p", "x"), "calm-otter", Map.of()));
        assertEquals(List.of("run", "--name", "mine", "-d", "--", "sh"),
                RemoteRuns.remoteArgs(List.of("run", "--host=alice@b:2222", "--name", "mine", "-d", "--", "sh"), null,
                        Map.of()));
        assertEquals(List.of("run", "--count", "3", "--name=exp", "--", "sh"),
                RemoteRuns.remoteArgs(List.of("run", "--count", "3", "--name=exp", "--snapshot", "copy", "--", "sh"),
                        null, Map.of()), "--snapshot is this machine's");
    }

    @Test
    void remoteArgs_agentsCommand_isNeverTouched() {
        List<String> cmd = List.of("--", "tool", "--host", "h", "-p", "80", "-e", "A=b", "--name", "n");
        List<String> given = new java.util.ArrayList<>(List.of("run", "--host", "h"));
        given.addAll(cmd);
        List<String> expected = new java.util.ArrayList<>(List.of("run", "--name", "n1"));
        expected.addAll(cmd);
        assertEquals(expected, RemoteRuns.remoteArgs(given, "n1", Map.of(80, 4000)));
    }

    @Test
    void remoteArgs_portsBecomeTheForwardedHostPorts() {
        assertEquals(List.of("run", "-p", "43001:8080", "-p", "9000:90", "-p", "43002:3000", "--", "sh"),
                RemoteRuns.remoteArgs(List.of("run", "-p", "8080", "-p9000:90", "--publish=3000", "--", "sh"), null,
                        Map.of(8080, 43001, 90, 9000, 3000, 43002)));
    }

    @Test
    void remoteArgs_portsNotForwarded_goAsGiven() {
        // --count: each sandbox takes a port of its own on the host; nothing is forwarded
        assertEquals(List.of("run", "--count", "2", "-p", "8080", "-p", "9000:90/udp", "--", "sh"),
                RemoteRuns.remoteArgs(List.of("run", "--count", "2", "-p", "8080", "-p9000:90/udp", "--", "sh"), null,
                        Map.of()));
    }

    @Test
    void remoteArgs_envValues_neverOnTheCommandLine() {
        assertEquals(List.of("run", "--env", "TOKEN", "--env", "DEBUG", "--env", "X", "--", "sh"),
                RemoteRuns.remoteArgs(List.of("run", "-e", "TOKEN=s3cret", "--env=DEBUG", "-eX=1", "--", "sh"), null,
                        Map.of()));
    }

    @Test
    void agentVars_whatTheProfilePasses_withoutThisMachinesPaths_butWhatEnvAsks() {
        Map<String, String> launcher = Map.of("PATH", "/usr/bin", "HOME", "/home/me", "LANG", "C.UTF-8",
                "TERM", "xterm", "JAVA_HOME", "/usr/lib/jvm/17", "AWS_SECRET_ACCESS_KEY", "no",
                "ANTHROPIC_API_KEY", "sk-ant-0123456789abcdef", "GIT_AUTHOR_NAME", "Me", "SSL_CERT_FILE", "/etc/ca");
        Map<String, String> vars = RemoteRuns.agentVars(launcher, profile("claude"),
                List.of("TOKEN=a'b c", "SSL_CERT_FILE"));
        assertEquals(Map.of("LANG", "C.UTF-8", "TERM", "xterm", "ANTHROPIC_API_KEY", "sk-ant-0123456789abcdef",
                "GIT_AUTHOR_NAME", "Me", "TOKEN", "a'b c", "SSL_CERT_FILE", "/etc/ca"), vars);
    }

    @Test
    void remoteCwd_theUsersDirectoryInTheHostsCopy() {
        Path root = Path.of("/home/me/project");
        assertEquals("/w/c/project-0123456789", RemoteRuns.remoteCwd(root, root, "/w/c/project-0123456789"));
        assertEquals("/w/c/p/src/main", RemoteRuns.remoteCwd(root, root.resolve("src/main"), "/w/c/p"));
        assertEquals("/w/c/p", RemoteRuns.remoteCwd(root, Path.of("/tmp"), "/w/c/p"));
    }

    @Test
    void homePaths_onlyUnderTheHome_neverOutOfIt() {
        assertEquals(List.of(".claude", ".claude.json", ".config/gh"), RemoteRuns.homePaths(List.of("~/.claude",
                "~/.claude.json", "/var/cache", "~/.config/gh/", "~/../etc", "~/a/./b", "~/")));
    }

    /** A request to a host nothing listens on: the refusals below come before any ssh. */
    private RemoteRuns.Request request(List<String> publish) {
        return new RemoteRuns.Request(new HostSpec("nowhere", SshTarget.parse("nobody@127.0.0.1:1"), null), "n", 1,
                dev.sandbox.snapshot.Strategies.Requested.auto, new dev.sandbox.net.SandboxNetwork.Settings(
                        dev.sandbox.net.NetMode.none, false, null,
                        publish.stream().map(dev.sandbox.net.PortSpec::parse).toList()),
                profile("default"), List.of(), List.of("true"), false, false, false, List.of("run", "--", "true"));
    }

    private static dev.sandbox.core.Sandboxes sandboxes(Path cwd, Path home) {
        return dev.sandbox.core.Sandboxes.open(new dev.sandbox.core.Context(cwd, Map.of("HOME", home.toString()),
                null));
    }

    @Test
    void run_linkedWorktree_refusedInOneLine_beforeAnySsh(@TempDir Path dir) {
        Path main = dir.resolve("main");
        dev.sandbox.git.IsolatedGit.run(dir, "-c", "init.defaultBranch=main", "init", "-q", main.toString());
        dev.sandbox.git.IsolatedGit.run(main, "commit", "-q", "--allow-empty", "-m", "first");
        dev.sandbox.git.IsolatedGit.run(main, "worktree", "add", "-q", dir.resolve("linked").toString());
        dev.sandbox.error.SandboxException e = org.junit.jupiter.api.Assertions.assertThrows(
                dev.sandbox.error.SandboxException.class, () -> new RemoteRuns(sandboxes(dir.resolve("linked"), home),
                        dev.sandbox.console.Console.of(new java.io.PrintWriter(new java.io.StringWriter()),
                                new java.io.PrintWriter(new java.io.StringWriter()))).run(request(List.of())));
        assertEquals(2, e.exitCode());
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().startsWith("can't run on 'nowhere': '")
                && e.getMessage().endsWith("is a linked worktree (its .git is a file), which --host can't copy: run"
                        + " it from the main worktree") && !e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void run_udpPort_refusedInOneLine_beforeAnySsh(@TempDir Path dir) {
        dev.sandbox.git.IsolatedGit.run(dir, "-c", "init.defaultBranch=main", "init", "-q");
        dev.sandbox.error.SandboxException e = org.junit.jupiter.api.Assertions.assertThrows(
                dev.sandbox.error.SandboxException.class, () -> new RemoteRuns(sandboxes(dir, home),
                        dev.sandbox.console.Console.of(new java.io.PrintWriter(new java.io.StringWriter()),
                                new java.io.PrintWriter(new java.io.StringWriter()))).run(request(List.of("5353/udp"))));
        assertEquals(2, e.exitCode());
        assertEquals("can't publish '5353/udp': --host forwards TCP only (ssh -L)", e.getMessage());
    }
}
