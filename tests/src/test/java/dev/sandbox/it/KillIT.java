package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** {@code kill -9} of the launcher: the whole sandbox goes with it, no mount stays, the changes stay. */
class KillIT {
    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_launcherKilledWithSigkill_sandboxDiesNoMountLeftChangesKept(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Path upper = Repos.upper(repo, "k");
            Proc.Running run = cli.start(repo, "run", "--name", "k", "--", "sh", "-c", "echo hi > f; sleep 1000");
            try {
                awaitFile(upper.resolve("f"), run);
                ProcessHandle jvm = launcherJvm(runner, run.process());
                List<ProcessHandle> tree = jvm.descendants().toList();
                for (long until = System.nanoTime() + 5_000_000_000L; System.nanoTime() < until
                        && tree.stream().noneMatch(p -> p.info().command().orElse("").endsWith("/sleep"));) {
                    Proc.pause(20); // f is written just before sh forks sleep
                    tree = jvm.descendants().toList();
                }
                Map<Long, String> started = new HashMap<>();
                tree.forEach(p -> started.put(p.pid(), startTime(p.pid())));
                assertTrue(tree.stream().anyMatch(p -> p.info().command().orElse("").endsWith("/sandbox-helper"))
                        && tree.stream().anyMatch(p -> p.info().command().orElse("").endsWith("/sleep")),
                        "the helper and the agent's sleep run below the launcher: " + describe(tree));
                assertFalse(hostMountsMention(upper), "the overlay is mounted in the sandbox's namespace only");

                assertTrue(jvm.destroyForcibly(), "SIGKILL sent to the launcher");

                long deadline = System.nanoTime() + 1_000_000_000L;
                List<ProcessHandle> alive = tree;
                while (!(alive = alive.stream().filter(p -> isAlive(p, started.get(p.pid()))).toList()).isEmpty()
                        && System.nanoTime() < deadline) {
                    Proc.pause(10);
                }
                assertEquals(List.of(), alive.stream().map(KillIT::describe).toList(),
                        "within 1 s of the launcher's death no process of the sandbox is alive");
                run.await();
            } finally {
                run.kill();
            }
            assertFalse(hostMountsMention(upper), "no mount of the sandbox is left on the host");
            JsonNode k = cli.listed(repo, "k");
            assertNotNull(k, "list still shows k");
            assertEquals("stopped", k.path("status").asText(), k.toString());
            assertFalse(k.hasNonNull("exitCode"), "a killed launcher recorded no exit code: " + k);
            assertEquals("hi\n", Repos.read(upper.resolve("f")), "the agent's file survives in the upper layer");
        }
    }

    private static void awaitFile(Path f, Proc.Running run) {
        long deadline = System.nanoTime() + Proc.TIMEOUT.toNanos();
        while (!Files.exists(f)) {
            if (!run.process().isAlive()) {
                fail("the sandbox ended before writing " + f + ":\n" + run.stdoutSoFar() + run.stderrSoFar());
            }
            if (System.nanoTime() > deadline) {
                fail("no " + f + " after " + Proc.TIMEOUT.toSeconds() + " s:\n" + run.stdoutSoFar()
                        + run.stderrSoFar());
            }
            Proc.pause(20);
        }
    }

    /** The launcher's JVM: the process itself (bin/sandbox execs java), or runuser's only child. */
    static ProcessHandle launcherJvm(Runner runner, Process started) {
        ProcessHandle jvm = started.toHandle();
        if (runner.viaRunuser()) {
            List<ProcessHandle> children = jvm.children().toList();
            assertEquals(1, children.size(), "runuser has one child: " + describe(children));
            jvm = children.get(0);
        }
        String cmd = jvm.info().command().orElse("");
        assertTrue(cmd.endsWith("/java"), "the launcher is a JVM, got " + describe(List.of(jvm)));
        return jvm;
    }

    /**
     * Alive and not a zombie: a killed process whose new parent has not reaped it yet is dead.
     * The start time guards against the pid having been reused.
     */
    private static boolean isAlive(ProcessHandle p, String startTime) {
        String[] stat = stat(p.pid());
        return stat != null && !stat[0].equals("Z") && !stat[0].equals("X") && stat[19].equals(startTime);
    }

    private static String startTime(long pid) {
        String[] stat = stat(pid);
        return stat == null ? "gone" : stat[19];
    }

    /** The fields of /proc/PID/stat after the command name, from the state on; null if gone. */
    private static String[] stat(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        } catch (IOException e) {
            return null;
        }
    }

    private static boolean hostMountsMention(Path upper) throws IOException {
        return Files.readString(Path.of("/proc/self/mountinfo")).contains(upper.toString());
    }

    static String describe(List<ProcessHandle> ps) {
        return ps.stream().map(KillIT::describe).collect(Collectors.joining(", ", "[", "]"));
    }

    private static String describe(ProcessHandle p) {
        return p.pid() + " " + p.info().commandLine().orElse("?");
    }
}
