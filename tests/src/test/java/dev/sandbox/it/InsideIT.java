package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Programs behave inside as outside: the sandbox's host name resolves (Java's
 * {@code InetAddress.getLocalHost()}, Python's {@code gethostbyname(gethostname())}), the
 * JVM's {@code user.home} is {@code $HOME} when that is not the password database's home
 * (Maven's local repository), that home's secrets stay hidden, and a command installed
 * where the sandbox does not look (its own {@code /tmp}) gets a line saying so. Every
 * test's HOME is a scratch directory, never the runner's password-database home.
 */
class InsideIT {
    private static final String LOCAL_HOST = "public class LocalHost { public static void main(String[] a)"
            + " throws Exception { System.out.println(\"java \" + java.net.InetAddress.getLocalHost()"
            + ".getHostAddress()); } }\n";

    @ParameterizedTest
    @EnumSource(Runner.class)
    void hostname_resolvesToLoopback_forJavaAndPython_withEveryNetMode(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Host.has("java") && Host.has("python3"), "needs java and python3 on the host");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Files.writeString(repo.resolve("LocalHost.java"), LOCAL_HOST);
            Repos.git(repo, "add", "-A");
            Repos.git(repo, "commit", "-qm", "program");
            ws.own();
            String script = "java LocalHost.java && python3 -c 'import socket;"
                    + " print(\"python\", socket.gethostbyname(socket.gethostname()))'"
                    + " && getent ahosts \"$(hostname)\" | awk '{print $1}' | sort -u";
            for (List<String> net : List.of(List.<String>of(), List.of("--net", "host"))) {
                List<String> args = new ArrayList<>(List.of("run", "--rm"));
                args.addAll(net);
                args.addAll(List.of("--", "sh", "-c", script));
                Proc.Result r = new Cli(ws).run(repo, args.toArray(String[]::new));
                assertEquals(0, r.exitCode(), net + r.describe());
                assertEquals(List.of("java 127.0.0.1", "python 127.0.0.1", "127.0.0.1", "::1"), r.stdoutLines(),
                        "the sandbox's name is on both loopbacks " + net + r.describe());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void maven_withHomeNotThePasswordDatabasesHome_writesItsRepositoryUnderHome(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Host.has("mvn") && Host.has("java"), "needs Maven and java on the host");
        try (Workspace ws = Workspace.create(runner)) {
            Path passwdHome = passwdHome(runner.uid());
            assertFalse(ws.home().equals(passwdHome), "the test's HOME is a scratch directory");
            Path repo = Repos.committed(ws.mkdir("repo"));
            // A build without plugins: validate of a pom-packaged project runs none, so it
            // needs no network, only a local repository it can create.
            Files.writeString(repo.resolve("pom.xml"), "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n"
                    + "  <modelVersion>4.0.0</modelVersion>\n  <groupId>t</groupId><artifactId>t</artifactId>\n"
                    + "  <version>1</version><packaging>pom</packaging>\n</project>\n");
            Repos.git(repo, "add", "-A");
            Repos.git(repo, "commit", "-qm", "pom");
            ws.own();
            Proc.Result r = new Cli(ws).run(repo, "run", "--name", "mvn", "--", "sh", "-c",
                    "mvn -B -o -q validate && test -d \"$HOME/.m2/repository\" && echo built;"
                            + " java -XshowSettings:properties -version 2>&1 | grep 'user.home ='");
            assertEquals(0, r.exitCode(), r.describe());
            // Maven's launcher resets the terminal's colours (ESC[0m) even with -B
            List<String> lines = r.stdoutLines().stream().map(l -> l.replaceAll("\u001b\\[[0-9;]*m", "").strip())
                    .filter(l -> !l.isEmpty()).toList();
            assertEquals(List.of("built", "user.home = " + ws.home()), lines, r.describe());
            assertFalse(r.stdout().contains("Could not create local repository"), r.describe());
        }
    }

    /**
     * The password database's home is not shown, but a grant may show it: the profile's
     * hidden paths apply there as under HOME. Reads only what is already there as root
     * (never writes /root); for the unprivileged user, makes a {@code .ssh} in its home if
     * it has none, and removes it afterwards.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void passwordDatabasesHome_grantedReadOnly_itsSecretsAreHidden(Runner runner) throws IOException {
        runner.assumeAvailable();
        Path passwdHome = passwdHome(runner.uid());
        Skip.unless(passwdHome != null && Files.isDirectory(passwdHome), "needs the runner's home from /etc/passwd");
        Path made = null;
        if (runner.viaRunuser() && !Files.exists(passwdHome.resolve(".ssh"), LinkOption.NOFOLLOW_LINKS)) {
            made = Files.createDirectory(passwdHome.resolve(".ssh"));
            Files.writeString(made.resolve("id_test"), "not a key\n");
            runner.own(made);
        }
        try (Workspace ws = Workspace.create(runner)) {
            List<String> secrets = new ArrayList<>();
            for (String s : List.of(".ssh", ".npmrc", ".bash_history", ".git-credentials", ".aws", ".netrc")) {
                Path p = passwdHome.resolve(s);
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? nonEmpty(p)
                        : Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) && Files.size(p) > 0) {
                    secrets.add(s);
                }
            }
            Skip.unless(!secrets.isEmpty(), "needs a secret the hidden list names in " + passwdHome);
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path profiles = Files.createDirectories(ws.home().resolve(".config/sandbox/profiles"));
            Files.writeString(profiles.resolve("passwd-home.yaml"), "description: the password database's home\n"
                    + "extends: default\npaths:\n  readonly: [\"" + passwdHome + "\"]\n");
            ws.own();
            StringBuilder script = new StringBuilder("cd " + passwdHome + " && test -e .profile -o -e .bashrc"
                    + " && echo shown");
            for (String s : secrets) {
                // a hidden directory is empty, a hidden file reads empty
                script.append(" && echo ").append(s).append("=$(ls -A ").append(s).append(" 2>/dev/null | wc -l)")
                        .append(":$(cat ").append(s).append(" 2>/dev/null | wc -c)");
            }
            Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--profile", "passwd-home", "--", "sh", "-c",
                    script.toString());
            assertEquals(0, r.exitCode(), r.describe());
            List<String> expected = new ArrayList<>(List.of("shown"));
            for (String s : secrets) {
                expected.add(s + "=" + (Files.isDirectory(passwdHome.resolve(s)) ? "0:0" : "1:0"));
            }
            assertEquals(expected, r.stdoutLines(), "the grant shows the home, less its secrets" + r.describe());
        } finally {
            if (made != null) {
                Host.deleteTree(made);
            }
        }
    }

    /**
     * A HOME that is a system directory shows no home: {@code HOME=/etc} would show a root
     * caller's agent {@code /etc/shadow} and the SSH host keys, make {@code /etc} writable
     * and cover the generated {@code /etc/hosts}; {@code HOME=/var} would show {@code /var/lib}.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void homeASystemDirectory_showsNoHome_etcAndVarStayTheSandboxes(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Files.isDirectory(Path.of("/var/lib")), "needs a /var/lib on the host");
        boolean configBefore = Files.exists(Path.of("/etc/.config"), LinkOption.NOFOLLOW_LINKS);
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result etc = cli.run(repo, Map.of("HOME", "/etc"), "run", "--rm", "--", "sh", "-c",
                    "echo shadow=$(cat /etc/shadow 2>/dev/null | wc -c);"
                            + " (echo x > /etc/passwd) 2>/dev/null || echo read-only;"
                            + " getent ahosts \"$(hostname)\" | awk '{print $1}' | sort -u");
            assertEquals(0, etc.exitCode(), etc.describe());
            assertEquals(List.of("shadow=0", "read-only", "127.0.0.1", "::1"), etc.stdoutLines(),
                    "/etc/shadow stays unreadable or hidden, the generated /etc/hosts stays" + etc.describe());
            assertTrue(etc.stderr().contains("sandbox: warning: HOME '/etc' is not shown in the sandbox: it is /etc,"
                    + " a system directory the sandbox shows or replaces on its own; set HOME to a directory of your"
                    + " own to give the agent a home\n"), etc.describe());
            assertEquals(configBefore, Files.exists(Path.of("/etc/.config"), LinkOption.NOFOLLOW_LINKS),
                    "nothing made in the host's /etc");

            Proc.Result var = cli.run(repo, Map.of("HOME", "/var"), "run", "--rm", "--", "sh", "-c",
                    "ls -A /var; test -e /var/lib || echo no-lib");
            assertEquals(0, var.exitCode(), var.describe());
            List<String> shown = new ArrayList<>(var.stdoutLines());
            if (Files.isDirectory(Path.of("/var/.config/sandbox"), LinkOption.NOFOLLOW_LINKS)) {
                // sandbox's configuration under HOME is bound read-only wherever it is (none is made)
                shown.remove(".config");
            }
            assertEquals(List.of("lock", "run", "tmp", "no-lib"), shown, var.describe());
            assertTrue(var.stderr().contains("sandbox: warning: HOME '/var' is not shown in the sandbox: it is /var,"),
                    var.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void commandUnderTmp_notFound_saysWhereItIsAndWhy(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            assertTrue(ws.dir().startsWith("/tmp"), "the workspace is under the host's /tmp");
            Path bin = ws.mkdir("agents/bin");
            Path agent = bin.resolve("fakeagent");
            Files.writeString(agent, "#!/bin/sh\necho agent-ran\n");
            Files.setPosixFilePermissions(agent, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.setPosixFilePermissions(ws.dir().resolve("agents"), PosixFilePermissions.fromString("rwxr-xr-x"));
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Map<String, String> path = Map.of("PATH", bin + ":" + Host.MINIMAL_PATH);

            Proc.Result byName = new Cli(ws).run(repo, path, "run", "--rm", "--", "fakeagent");
            assertEquals(127, byName.exitCode(), byName.describe());
            assertTrue(byName.stderr().contains("sandbox: note: 'fakeagent' is on this machine at " + agent
                    + ", but /tmp in the sandbox is a private, empty one: install it outside /tmp, /var/tmp and /run"
                    + " (under your home, say), or list its directory in a profile's paths.readonly\n"),
                    byName.describe());

            Proc.Result byPath = new Cli(ws).run(repo, "run", "--rm", "--", agent.toString());
            assertEquals(127, byPath.exitCode(), byPath.describe());
            assertTrue(byPath.stderr().contains("sandbox: note: '" + agent + "' is on this machine, but /tmp in the"
                    + " sandbox is a private, empty one"), byPath.describe());
        }
    }

    /** A 127 of the agent's own, from a command found inside, is left as it is. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void commandFoundInside_exiting127_getsNoNote(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path bin = ws.mkdir("agents/bin");
            Files.writeString(bin.resolve("fakeagent"), "#!/bin/sh\necho agent-ran\n");
            Files.setPosixFilePermissions(bin.resolve("fakeagent"), PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.setPosixFilePermissions(ws.dir().resolve("agents"), PosixFilePermissions.fromString("rwxr-xr-x"));
            Path repo = Repos.committed(ws.mkdir("repo"));
            // The same name in the repository (under /tmp too, but shown): that one runs, and exits 127.
            Files.createDirectories(repo.resolve("tools"));
            Files.writeString(repo.resolve("tools/fakeagent"), "#!/bin/sh\necho inside-ran\nexit 127\n");
            Files.setPosixFilePermissions(repo.resolve("tools/fakeagent"), PosixFilePermissions.fromString("rwxr-xr-x"));
            Repos.git(repo, "add", "-A");
            Repos.git(repo, "commit", "-qm", "tool");
            ws.own();
            Map<String, String> path = Map.of("PATH", bin + ":" + repo.resolve("tools") + ":" + Host.MINIMAL_PATH);

            Proc.Result own = new Cli(ws).run(repo, path, "run", "--rm", "--", "fakeagent");
            assertEquals(127, own.exitCode(), own.describe());
            assertEquals(List.of("inside-ran"), own.stdoutLines(), own.describe());
            assertFalse(own.stderr().contains("note:"), own.describe());

            Proc.Result shell = new Cli(ws).run(repo, path, "run", "--rm", "--", "sh", "-c", "exit 127");
            assertEquals(127, shell.exitCode(), shell.describe());
            assertFalse(shell.stderr().contains("note:"), shell.describe());

            Proc.Result nowhere = new Cli(ws).run(repo, path, "run", "--rm", "--", "no-such-command-anywhere");
            assertEquals(127, nowhere.exitCode(), nowhere.describe());
            assertTrue(nowhere.stderr().contains("sandbox-helper: can't execute 'no-such-command-anywhere'"),
                    nowhere.describe());
            assertFalse(nowhere.stderr().contains("note:"), "on no PATH of the host either" + nowhere.describe());
        }
    }

    /** The home {@code /etc/passwd} gives {@code uid} (its first entry), or null. */
    private static Path passwdHome(int uid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/etc/passwd"))) {
            String[] f = line.split(":", -1);
            if (f.length == 7 && f[2].equals(Integer.toString(uid))) {
                return Path.of(f[5]);
            }
        }
        return null;
    }

    private static boolean nonEmpty(Path dir) throws IOException {
        try (var entries = Files.list(dir)) {
            return entries.findAny().isPresent();
        }
    }
}
