package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What an agent can see and touch: its own processes only, no network but loopback, a
 * read-only host, a private /tmp, a HOME whose writes stay inside, and its own hostname.
 * The repository lives under /var/tmp here, so that the sandbox's /tmp is truly empty.
 */
class IsolationIT {
    private static final String MARK = "sandbox-it-" + ProcessHandle.current().pid();

    /** overlayfs can't layer a home with a mount below it in a user namespace: the run warns and shows it read-only. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_homeWithAMountBelow_runsWithTheHomeReadOnly_andSaysSo(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Host.isRoot(), "needs root to mount a tmpfs in the scratch home");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path mount = Files.createDirectories(ws.home().resolve("data"));
            ws.own();
            Proc.Result mounted = Proc.run(List.of("mount", "-t", "tmpfs", "tmpfs", mount.toString()), ws.dir(),
                    Host.cleanEnv(ws.home()));
            assertEquals(0, mounted.exitCode(), mounted.describe());
            try {
                Proc.Result r = new Cli(ws).run(repo, "run", "--", "sh", "-c", "touch ~/x 2>/dev/null || echo RO; echo ran");
                assertEquals(0, r.exitCode(), r.describe());
                assertEquals(List.of("RO", "ran"), r.stdoutLines(), r.describe());
                assertTrue(r.stderr().contains("sandbox: warning: the home has a mount below it ('" + mount + "')"),
                        r.describe());
                assertFalse(Files.exists(ws.home().resolve("x")), "nothing written to the home");
            } finally {
                Proc.run(List.of("umount", mount.toString()), ws.dir(), Host.cleanEnv(ws.home()));
            }
        }
    }

    /** Root inside is the host's root: what only root may read in /etc must not be read, as --net egress sends it out. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_rootOnlyFilesInEtc_readEmptyOrFailWhilePasswdReads(Runner runner) throws IOException {
        runner.assumeAvailable();
        Path shadow = Path.of("/etc/shadow");
        Skip.unless(Files.isRegularFile(shadow) && Files.size(shadow) > 0, "needs a non-empty /etc/shadow");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            String script = "echo SHADOW=$(cat /etc/shadow 2>/dev/null | wc -c); "
                    + "echo PASSWD=$(grep -c '^root:' /etc/passwd)";
            Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--", "sh", "-c", script);
            assertEquals(0, r.exitCode(), r.describe());
            assertTrue(r.stdoutLines().contains("SHADOW=0"), "/etc/shadow reads empty or fails" + r.describe());
            assertTrue(r.stdoutLines().contains("PASSWD=1"), "/etc/passwd still reads" + r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_agent_seesOnlyItselfLoopbackAndPrivateTmpAndCannotWriteTheHost(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Files.isDirectory(Path.of("/var/tmp")) && Files.isWritable(Path.of("/var/tmp")),
                "needs a writable /var/tmp for a repository outside /tmp");
        Proc.Running hostSleeper = Proc.start(List.of("sleep", "120"), Path.of("/"), Host.cleanEnv(Host.scratchHome()));
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            String hostFile = "/tmp/" + MARK + "-host-file";
            Files.writeString(Path.of(hostFile), "host\n");
            String insideFile = "/tmp/" + MARK + "-inside";
            String script = String.join("\n",
                    "echo PS-BEGIN; ps -e -o pid=,comm=; echo PS-END",
                    "touch \"$HOME/escaped\" 2>&1; echo HOME-TOUCH=$?",
                    runner == Runner.ROOT ? "touch /etc/" + MARK + " 2>&1; echo ETC-TOUCH=$?" : "true",
                    "echo NET-BEGIN; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; echo NET-END",
                    "echo TMP-BEGIN; ls -A /tmp; echo TMP-END",
                    "echo inside > " + insideFile + " && echo TMP-WRITE=ok",
                    "echo HOSTNAME=$(uname -n)",
                    "echo SANDBOX_NAME=$SANDBOX_NAME");

            Proc.Result r = new Cli(ws).run(repo, "run", "--name", "iso", "--", "sh", "-c", script);

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals("", r.stderr(), "nothing on stderr" + r.describe());
            List<String> out = r.stdoutLines();

            List<String[]> ps = section(out, "PS").stream().map(l -> l.strip().split("\\s+", 2)).toList();
            assertEquals(List.of("1", "sandbox-helper"), List.of(ps.get(0)), "pid 1 is the helper" + r.describe());
            Set<String> comms = new TreeSet<>();
            ps.forEach(p -> comms.add(p[1]));
            assertEquals(Set.of("sandbox-helper", "sh", "ps"), comms,
                    "only the sandbox's own processes (no java, no host sleep)" + r.describe());
            assertTrue(ps.size() <= 4, "a handful of processes, not the host's" + r.describe());
            assertTrue(hostSleeper.process().isAlive(), "the host process the sandbox must not see is running");

            assertTrue(out.contains("HOME-TOUCH=0"), "HOME is writable inside, through a layer of its own"
                    + r.describe());
            assertFalse(Files.exists(ws.home().resolve("escaped")), "and the write never reaches the host's HOME");
            if (runner == Runner.ROOT) {
                assertTrue(out.contains("touch: cannot touch '/etc/" + MARK + "': Read-only file system"),
                        "even root cannot write /etc" + r.describe());
                assertFalse(Files.exists(Path.of("/etc", MARK)));
            }

            assertEquals(List.of("lo"), section(out, "NET"), "only loopback" + r.describe());

            try (Stream<Path> hostTmp = Files.list(Path.of("/tmp"))) {
                assertTrue(hostTmp.findAny().isPresent(), "the host's /tmp has files");
            }
            assertEquals(List.of(), section(out, "TMP"), "/tmp starts empty" + r.describe());
            assertTrue(out.contains("TMP-WRITE=ok"), "/tmp is writable" + r.describe());
            assertFalse(Files.exists(Path.of(insideFile)), "what the agent wrote to /tmp stays in the sandbox");

            assertTrue(out.contains("HOSTNAME=iso"), "the hostname is the sandbox's name" + r.describe());
            assertTrue(out.contains("SANDBOX_NAME=iso"), r.describe());
        } finally {
            hostSleeper.kill();
            Files.deleteIfExists(Path.of("/tmp/" + MARK + "-host-file"));
        }
    }

    /** The lines between {@code NAME-BEGIN} and {@code NAME-END}. */
    private static List<String> section(List<String> out, String name) {
        int from = out.indexOf(name + "-BEGIN");
        int to = out.indexOf(name + "-END");
        assertTrue(from >= 0 && to > from, "section " + name + " in " + out);
        return new ArrayList<>(out.subList(from + 1, to));
    }
}
