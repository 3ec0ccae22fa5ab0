package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The lifecycle of issue 21 that the launcher drives: {@code run -d} returns while the agent
 * runs on, held by the helper's outer process (the supervisor), even once the terminal it
 * was started from is gone; {@code stop} ends it, SIGKILL after the timeout, leaving no
 * process and no mount; a killed supervisor leaves none either; {@code start} runs again on
 * the same upper layer; and a detached run's network, held by a background launcher, keeps
 * working after {@code run -d} returned.
 */
class DetachIT {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String SLEEPER = "echo first > first.txt; sleep 100";

    @ParameterizedTest
    @EnumSource(Runner.class)
    void runDetached_inATerminal_returnsAndTheAgentOutlivesTheTerminal(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.has("tmux"), "needs tmux");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path status = ws.dir().resolve("status");
            ws.own();
            Cli cli = new Cli(ws);
            try {
                try (Tmux tmux = new Tmux(ws)) {
                    tmux.newSession("main", 100, 30, repo, Host.sandboxBin() + " run -d --name d -- sh -c '"
                            + SLEEPER + "'; echo RC=$? > " + status);
                    tmux.awaitScreen("main", WAIT, s -> Files.exists(status), "run -d to return");
                    assertEquals("RC=0\n", Repos.read(status), "run -d returns 0 once the agent started");
                    List<String> screen = tmux.screen("main");
                    assertTrue(screen.contains("d"), "the name on its own line:\n" + String.join("\n", screen));
                    assertTrue(screen.stream().anyMatch(l -> l.contains("'sandbox attach d' connects to it;"
                            + " 'sandbox logs d' shows its output")), "how to reach it:\n" + String.join("\n", screen));
                } // the tmux server goes, and with it the terminal run -d was started from
                Proc.pause(500);
                awaitFile(Repos.upper(repo, "d").resolve("first.txt"));
                long[] pids = pids(repo, "d");
                assertTrue(Files.exists(Path.of("/proc", Long.toString(pids[0]), "exe")),
                        "the supervisor outlives the terminal it was started from");
                assertEquals("running", cli.listed(repo, "d").path("status").asText());
                Cli.assertNoStackTrace(cli.runOk(repo, "stop", "-t", "2", "d"));
                assertEquals("stopped", cli.listed(repo, "d").path("status").asText());
            } finally {
                stopQuietly(cli, repo, "d");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void stop_agentIgnoringSigterm_killedWithin3SecondsLeavingNoProcessNorMount(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result r = cli.run(repo, "run", "-d", "--name", "t", "--", "sh", "-c",
                        "trap '' TERM; echo x > x.txt; sleep 100");
                assertEquals(0, r.exitCode(), r.describe());
                assertEquals(List.of("t"), r.stdoutLines(), "the name on stdout" + r.describe());
                awaitFile(Repos.upper(repo, "t").resolve("x.txt"));
                List<ProcessHandle> tree = tree(pids(repo, "t")[0]);
                assertTrue(tree.stream().anyMatch(p -> p.info().command().orElse("").endsWith("/sleep")),
                        "the agent's sleep runs below the supervisor: " + describe(tree));

                Path socket = socketOf(repo, "t");
                assertTrue(Files.exists(socket), "the supervisor serves " + socket);

                long t0 = System.nanoTime();
                Proc.Result stop = cli.run(repo, "stop", "-t", "2", "t");
                long ms = (System.nanoTime() - t0) / 1_000_000;

                assertEquals(0, stop.exitCode(), stop.describe());
                assertEquals(List.of("sandbox: note: 't' did not end within 2 s of SIGTERM: killed"),
                        stop.stderrLines(), stop.describe());
                assertTrue(ms < 3000, "stop -t 2 took " + ms + " ms, not under 3 s");
                assertNothingLeft(tree, Repos.upper(repo, "t"));
                String record = Repos.read(Repos.sandboxDir(repo, "t").resolve("sandbox.json"));
                assertTrue(record.contains("\"exitCode\" : 137"), "the kill is recorded as 137:\n" + record);
                assertFalse(record.contains("\"socket\""), "a stopped one has no socket:\n" + record);
                assertFalse(Files.exists(socket), "the killed supervisor's socket is gone");
            } finally {
                stopQuietly(cli, repo, "t");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void supervisorKilled_leavesNothing_thenStartRunsAgainOnTheSameLayer(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result r = cli.run(repo, "run", "-d", "--name", "k", "--", "sh", "-c", SLEEPER);
                assertEquals(0, r.exitCode(), r.describe());
                awaitFile(Repos.upper(repo, "k").resolve("first.txt"));
                long[] pids = pids(repo, "k");
                List<ProcessHandle> tree = tree(pids[0]);
                Path socket = socketOf(repo, "k");

                assertTrue(ProcessHandle.of(pids[0]).orElseThrow().destroyForcibly(), "SIGKILL to the supervisor");
                assertNothingLeft(tree, Repos.upper(repo, "k"));
                assertEquals("stopped", cli.listed(repo, "k").path("status").asText());

                Proc.Result again = cli.run(repo, "start", "k", "--", "cat", "first.txt");
                assertEquals(0, again.exitCode(), again.describe());
                assertEquals("first\n", again.stdout(), "start sees the first run's file" + again.describe());
                assertFalse(Files.exists(socket), "the killed supervisor's stale socket is gone");
                Proc.Result third = cli.run(repo, "start", "k", "--", "sh", "-c", "echo second > second.txt; exit 4");
                assertEquals(4, third.exitCode(), "start passes the agent's status on" + third.describe());

                Proc.Result diff = cli.runOk(repo, "diff", "k");
                assertTrue(diff.stdout().contains("+++ b/first.txt") && diff.stdout().contains("+++ b/second.txt"),
                        "diff holds both runs' changes" + diff.describe());
                String record = Repos.read(Repos.sandboxDir(repo, "k").resolve("sandbox.json"));
                assertTrue(record.contains("\"exitCode\" : 4") && record.contains("echo second > second.txt"),
                        "the record holds the last command and its status:\n" + record);
            } finally {
                stopQuietly(cli, repo, "k");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void badInput_oneLineEachWithItsExitCode(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result r = cli.run(repo, "run", "-d", "--name", "b", "--", "sleep", "100");
                assertEquals(0, r.exitCode(), r.describe());

                String line = Cli.assertOneErrorLine(cli.run(repo, "start", "b"), 1);
                assertEquals("sandbox: can't start 'b': it is already running ('sandbox attach b' connects to it)", line);
                line = Cli.assertOneErrorLine(cli.run(repo, "stop", "nosuch"), 2);
                assertEquals("sandbox: can't stop 'nosuch': no such sandbox (see 'sandbox list')", line);
                line = Cli.assertOneErrorLine(cli.run(repo, "start", "nosuch"), 2);
                assertEquals("sandbox: can't start 'nosuch': no such sandbox (see 'sandbox list')", line);
                line = Cli.assertOneErrorLine(cli.run(repo, "run", "-d", "--rm", "--", "true"), 2);
                assertTrue(line.startsWith("sandbox: --rm can't go with --detach"), line);
                line = Cli.assertOneErrorLine(cli.run(repo, "stop", "-t", "-1", "b"), 2);
                assertTrue(line.startsWith("sandbox: -t must be between 0 and 3600 seconds, not -1"), line);
                line = Cli.assertOneErrorLine(cli.run(repo, "stop", "-t", "soon", "b"), 2);
                assertTrue(line.contains("soon"), line);

                cli.runOk(repo, "stop", "-t", "5", "b"); // sleep ends on SIGTERM: no note
                Proc.Result twice = cli.run(repo, "stop", "b");
                assertEquals(0, twice.exitCode(), twice.describe());
                assertEquals(List.of("sandbox: note: 'b' is not running"), twice.stderrLines(), twice.describe());

                // a launcher killed before its snapshot existed leaves a record without one
                Path record = Repos.sandboxDir(repo, "b").resolve("sandbox.json");
                com.fasterxml.jackson.databind.node.ObjectNode json =
                        (com.fasterxml.jackson.databind.node.ObjectNode) new ObjectMapper().readTree(Repos.read(record));
                json.remove("snapshot");
                Files.writeString(record, json.toString());
                line = Cli.assertOneErrorLine(cli.run(repo, "start", "b"), 125);
                assertEquals("sandbox: can't start 'b': it never got a snapshot (its first run was stopped while it"
                        + " started); remove it with 'sandbox rm b'", line);
            } finally {
                stopQuietly(cli, repo, "b");
            }
        }
    }

    /** Every run passes the helper its pid file: stop ends a foreground run too, whose launcher records the status. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void stop_foregroundRun_endsIt_andItsLauncherRecordsTheStatus(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Running run = cli.start(repo, "run", "--name", "f", "--", "sh", "-c", SLEEPER);
            try {
                awaitFile(Repos.upper(repo, "f").resolve("first.txt"));
                pids(repo, "f");
                Proc.Result stop = cli.runOk(repo, "stop", "f");
                Proc.Result ended = run.await();
                assertEquals(143, ended.exitCode(), "SIGTERM ended the agent (128 + 15)" + ended.describe());
                String record = Repos.read(Repos.sandboxDir(repo, "f").resolve("sandbox.json"));
                assertTrue(record.contains("\"exitCode\" : 143"), "the launcher recorded it:\n" + record
                        + stop.describe());
            } finally {
                run.kill();
                stopQuietly(cli, repo, "f");
            }
        }
    }

    /** A helper that fails before its agent starts: its own line on stderr, copied from log/helper, and its status. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void startDetached_setupFails_theHelpersLineAndStatus(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "s", "--", "true");
            Path tree = Repos.stateDir(repo).resolve("snapshots")
                    .resolve(cli.listed(repo, "s").path("snapshot").asText()).resolve("tree");
            Files.move(tree, tree.resolveSibling("aside"));

            Proc.Result r = cli.run(repo, "start", "-d", "s");

            String line = Cli.assertOneErrorLine(r, 125);
            assertTrue(line.startsWith("sandbox-helper: can't ") && line.contains(tree.toString()), r.describe());
            assertEquals("", r.stdout(), "no name: it did not start" + r.describe());
            assertEquals("stopped", cli.listed(repo, "s").path("status").asText());
        }
    }

    /**
     * {@code --net allow}'s proxy lives in a JVM: a background launcher holds it after
     * {@code run -d} returned, and records the agent's end. The proxy's 403 for a name it
     * does not allow shows it still answers; without it the connection would be refused.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void runDetached_netAllow_proxyAnswersAfterRunReturned(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "probe.py", String.join("\n",
                    "import time, urllib.request, urllib.error",
                    "time.sleep(3)",
                    "try:",
                    "    urllib.request.urlopen('http://denied.invalid/', timeout=10); print('OPEN')",
                    "except urllib.error.HTTPError as e:",
                    "    print('HTTP %d' % e.code)",
                    "except Exception as e:",
                    "    print('ERR %s' % e)",
                    ""));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                long t0 = System.nanoTime();
                Proc.Result r = cli.run(repo, "run", "-d", "--name", "a", "--allow-domain", "example.com", "--",
                        "sh", "-c", "python3 probe.py > probe.txt 2>&1");
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertEquals(0, r.exitCode(), r.describe());
                assertEquals(List.of("a"), r.stdoutLines(), r.describe());
                assertTrue(ms < 3000, "run -d returned before the agent's 3 s wait ended: " + ms + " ms");
                Path probe = Repos.upper(repo, "a").resolve("probe.txt");
                awaitStopped(cli, repo, "a");
                assertEquals("HTTP 403\n", Repos.read(probe), "the proxy answered after run -d returned");
                String network = Repos.read(Repos.sandboxDir(repo, "a").resolve("log/network"));
                assertTrue(network.contains("refused GET denied.invalid"), network);
                String record = Repos.read(Repos.sandboxDir(repo, "a").resolve("sandbox.json"));
                assertTrue(record.contains("\"exitCode\" : 0"), "the background launcher recorded the end:\n" + record);
                assertTrue(record.contains("\"allowDomains\" : [ \"example.com\" ]"), record);
            } finally {
                stopQuietly(cli, repo, "a");
            }
        }
    }

    /** {@code start}'s network options replace the recorded network, which the next start then repeats. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void start_networkOptions_overrideTheRecord_andStay(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "o", "--", "true");
            assertEquals("none", cli.listed(repo, "o").path("net").asText());
            cli.runOk(repo, "start", "--allow-domain", "example.com", "o", "--", "sh", "-c",
                    "echo \"[$http_proxy]\" > first.txt");
            assertEquals("allow", cli.listed(repo, "o").path("net").asText());
            cli.runOk(repo, "start", "o", "--", "sh", "-c", "echo \"[$http_proxy]\" > second.txt");
            Path upper = Repos.upper(repo, "o");
            assertEquals("[http://127.0.0.1:3128]\n", Repos.read(upper.resolve("first.txt")));
            assertEquals("[http://127.0.0.1:3128]\n", Repos.read(upper.resolve("second.txt")),
                    "the next start keeps the network start was given");
            cli.runOk(repo, "start", "--net", "none", "o", "--", "sh", "-c", "echo \"[$http_proxy]\" > third.txt");
            assertEquals("[]\n", Repos.read(upper.resolve("third.txt")));
            Proc.Result bad = cli.run(repo, "start", "--net", "none", "--allow-domain", "x.example", "o");
            assertTrue(Cli.assertOneErrorLine(bad, 2).startsWith("sandbox: --allow-domain needs --net allow"),
                    bad.describe());
        }
    }

    /**
     * The background launcher holds the network: killed, its sandbox ends with it (the helper's
     * {@code --die-with-parent}) rather than run on without one while {@code list} says running.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void runDetached_backgroundLauncherKilled_theSandboxEndsWithIt(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result r = cli.run(repo, "run", "-d", "--name", "bg", "--allow-domain", "example.com", "--",
                        "sleep", "300");
                assertEquals(0, r.exitCode(), r.describe());
                long launcher = cli.listed(repo, "bg").path("pid").asLong();
                assertTrue(launcher > 0, "the record names the background launcher: " + cli.listed(repo, "bg"));
                assertTrue(ProcessHandle.of(launcher).isPresent(), "the background launcher runs");
                Proc.host(repo, "kill", "-KILL", Long.toString(launcher));
                awaitStopped(cli, repo, "bg");
            } finally {
                stopQuietly(cli, repo, "bg");
            }
        }
    }

    /** {@code --net egress}: pasta, a child of the background launcher, keeps the route up after run -d returned. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void runDetached_netEgress_routeStaysAfterRunReturned(Runner runner) {
        runner.assumeAvailable();
        NetworkIT.assumeEgress(runner);
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result r = cli.run(repo, "run", "-d", "--name", "e", "--net", "egress", "--", "sh", "-c",
                        "for i in 1 2 3 4; do ip route | grep -c '^default' ; sleep 1; done > routes.txt");
                assertEquals(0, r.exitCode(), r.describe());
                awaitStopped(cli, repo, "e");
                assertEquals("1\n1\n1\n1\n", Repos.read(Repos.upper(repo, "e").resolve("routes.txt")),
                        "a default route in each of the agent's 4 seconds");
            } finally {
                stopQuietly(cli, repo, "e");
            }
        }
    }

    /** The pid file's "OUTER INIT", once the helper wrote it. */
    private static long[] pids(Path repo, String name) {
        Path file = Repos.sandboxDir(repo, name).resolve("pid");
        awaitFile(file);
        String[] w = Repos.read(file).strip().split(" ");
        assertEquals(2, w.length, "OUTER INIT in " + file);
        return new long[] {Long.parseLong(w[0]), Long.parseLong(w[1])};
    }

    /** The supervisor socket sandbox.json names. */
    private static Path socketOf(Path repo, String name) throws IOException {
        String socket = new ObjectMapper().readTree(Repos.sandboxDir(repo, name).resolve("sandbox.json").toFile())
                .path("socket").asText();
        assertFalse(socket.isEmpty(), name + "'s record names its socket");
        return Path.of(socket);
    }

    /** {@code pid} and every process below it. */
    private static List<ProcessHandle> tree(long pid) {
        ProcessHandle outer = ProcessHandle.of(pid).orElseThrow(() -> new AssertionError("no process " + pid));
        List<ProcessHandle> all = new ArrayList<>(List.of(outer));
        all.addAll(outer.descendants().toList());
        return all;
    }

    /** Within 1 s no process of {@code tree} is alive (zombies count as dead), and no mount names {@code upper}. */
    private static void assertNothingLeft(List<ProcessHandle> tree, Path upper) throws IOException {
        long deadline = System.nanoTime() + 1_000_000_000L;
        List<ProcessHandle> alive = tree;
        while (!(alive = alive.stream().filter(DetachIT::isAlive).toList()).isEmpty() && System.nanoTime() < deadline) {
            Proc.pause(10);
        }
        assertEquals(List.of(), alive.stream().map(DetachIT::describe).toList(), "no process of the sandbox is left");
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(upper.toString()),
                "no mount of the sandbox is left on the host");
    }

    private static boolean isAlive(ProcessHandle p) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(p.pid()), "stat"));
            String state = stat.substring(stat.lastIndexOf(')') + 2).split(" ")[0];
            return p.isAlive() && !state.equals("Z") && !state.equals("X");
        } catch (IOException e) {
            return false;
        }
    }

    private static void awaitFile(Path f) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!Files.exists(f)) {
            if (System.nanoTime() > deadline) {
                fail("no " + f + " after " + WAIT.toSeconds() + " s");
            }
            Proc.pause(20);
        }
    }

    private static void awaitStopped(Cli cli, Path repo, String name) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            var entry = cli.listed(repo, name);
            assertNotNull(entry, name + " is listed");
            if (entry.path("status").asText().equals("stopped")) {
                return;
            }
            if (System.nanoTime() > deadline) {
                fail(name + " still runs after " + WAIT.toSeconds() + " s: " + entry);
            }
            Proc.pause(100);
        }
    }

    /** Leaves no sandbox running behind a failed test. */
    private static void stopQuietly(Cli cli, Path repo, String name) {
        if (Files.isDirectory(Repos.sandboxDir(repo, name))) {
            cli.run(repo, Map.of(), "stop", "-t", "0", name);
        }
    }

    private static String describe(List<ProcessHandle> ps) {
        return ps.stream().map(DetachIT::describe).collect(Collectors.joining(", ", "[", "]"));
    }

    private static String describe(ProcessHandle p) {
        return p.pid() + " " + p.info().commandLine().orElse("?");
    }
}
