package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The verbs that reach a sandbox after {@code run -d}, through real terminals (tmux panes):
 * {@code attach} connects to the agent's terminal and detaches with Ctrl-P Ctrl-Q, {@code list}
 * says which agent waits for its user, {@code logs} shows and follows what it wrote,
 * {@code exec} runs a command beside it; and each refuses what it can't do in one line.
 */
class AttachIT {
    private static final Duration WAIT = Duration.ofSeconds(30);

    @ParameterizedTest
    @EnumSource(Runner.class)
    void attach_toAWaitingPython_answersDetachesAndComesBack(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.has("tmux"), "needs tmux");
        Skip.unless(Host.has("python3"), "needs python3 as the agent");
        try (Workspace ws = Workspace.create(runner); Tmux tmux = new Tmux(ws)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result started = cli.run(repo, "run", "-d", "--name", "py", "--", "python3", "-i");
                assertEquals(0, started.exitCode(), started.describe());
                assertEquals(List.of("py"), started.stdoutLines(), started.describe());

                awaitListed(cli, repo, "py", n -> n.path("waiting").asBoolean(), "python3 -i waiting for input");
                assertEquals("waiting", statusCell(cli, repo, "py"));

                Path status = ws.dir().resolve("attach1");
                tmux.newSession("one", 120, 40, repo,
                        Host.sandboxBin() + " attach py; echo ATTACH=$? > " + status);
                awaitListed(cli, repo, "py", n -> n.path("attached").asBoolean(), "the terminal attached");
                assertEquals("running (attached)", statusCell(cli, repo, "py"));

                tmux.sendLine("one", "print(6*7)");
                tmux.awaitScreen("one", WAIT, s -> s.contains("42"), "python's answer 42");

                Proc.Result second = cli.run(repo, "attach", "py");
                String line = Cli.assertOneErrorLine(second, 1);
                assertEquals("sandbox: can't attach to 'py': another terminal is attached to it (detach there first,"
                        + " or watch it with 'sandbox logs -f py')", line);

                tmux.tmux("send-keys", "-t", "one", "C-p", "C-q");
                assertEquals("ATTACH=0\n", awaitFile(status, tmux, "one"), "detaching exits 0");
                assertTrue(tmux.screen("one").contains(
                        "sandbox: detached from 'py' (it keeps running; 'sandbox attach py' goes back)"),
                        String.join("\n", tmux.screen("one")));
                JsonNode after = awaitListed(cli, repo, "py", n -> !n.path("attached").asBoolean(), "detached");
                assertEquals("running", after.path("status").asText(), after.toString());
                String cell = statusCell(cli, repo, "py");
                assertTrue(cell.equals("running") || cell.equals("waiting"), cell);

                Path status2 = ws.dir().resolve("attach2");
                tmux.newSession("two", 120, 40, repo,
                        Host.sandboxBin() + " attach py; echo ATTACH=$? > " + status2);
                awaitListed(cli, repo, "py", n -> n.path("attached").asBoolean(), "attached again");
                tmux.sendLine("two", "exit()");
                assertEquals("ATTACH=0\n", awaitFile(status2, tmux, "two"), "attach exits with python's status");

                JsonNode stopped = cli.listed(repo, "py");
                assertEquals("stopped", stopped.path("status").asText(), stopped.toString());
                assertEquals(0, stopped.path("exitCode").asInt(-1), stopped.toString());
                assertEquals("stopped (exit 0)", statusCell(cli, repo, "py"));

                Proc.Result toStopped = cli.run(repo, "attach", "py");
                assertEquals("sandbox: can't attach to 'py': it is not running ('sandbox start py' runs it again)",
                        Cli.assertOneErrorLine(toStopped, 1));
            } finally {
                kill(repo, "py");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void attach_withOtherDetachKeys_thenGivesTheAgentTheTerminalsSize(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.has("tmux"), "needs tmux");
        try (Workspace ws = Workspace.create(runner); Tmux tmux = new Tmux(ws)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result started = cli.run(repo, "run", "-d", "--name", "sh", "--", "sh");
                assertEquals(0, started.exitCode(), started.describe());
                Path keyed = ws.dir().resolve("keyed");
                tmux.newSession("k", 80, 24, repo,
                        Host.sandboxBin() + " attach --detach-keys ctrl-x,x sh; echo ATTACH=$? > " + keyed);
                awaitListed(cli, repo, "sh", n -> n.path("attached").asBoolean(), "attached with other keys");
                tmux.tmux("send-keys", "-t", "k", "C-p", "C-q", "C-u", "C-x", "x"); // C-u: sh drops the line
                assertEquals("ATTACH=0\n", awaitFile(keyed, tmux, "k"), "ctrl-x,x detaches; ctrl-p,ctrl-q went in");

                Path status = ws.dir().resolve("attach");
                tmux.newSession("s", 120, 40, repo, Host.sandboxBin() + " attach sh; echo ATTACH=$? > " + status);
                awaitListed(cli, repo, "sh", n -> n.path("attached").asBoolean(), "the terminal attached");
                tmux.sendLine("s", "stty size; echo DONE$((1+1))");
                List<String> screen = tmux.awaitScreen("s", WAIT, s -> s.contains("DONE2"), "stty size");
                assertTrue(screen.contains("40 120"), "stty size is the attached window's:\n" + String.join("\n",
                        screen));
                tmux.sendLine("s", "exit 3");
                assertEquals("ATTACH=3\n", awaitFile(status, tmux, "s"), "attach exits with the agent's status");
            } finally {
                kill(repo, "sh");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void logs_followsADetachedAgent_thenTailsIt(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result started = cli.run(repo, "run", "-d", "--name", "count", "--", "sh", "-c",
                        "for i in 1 2 3; do echo $i; sleep 1; done");
                assertEquals(0, started.exitCode(), started.describe());
                long t0 = System.nanoTime();
                Proc.Result follow = cli.run(repo, "logs", "-f", "count");
                long tookMs = (System.nanoTime() - t0) / 1_000_000;
                assertEquals(0, follow.exitCode(), follow.describe());
                assertEquals(List.of("1", "2", "3"), follow.stdout().replace("\r", "").lines().toList(),
                        follow.describe());
                assertTrue(tookMs > 1500, "-f waited for the agent (" + tookMs + " ms), not only read what was there");

                Proc.Result tail = cli.runOk(repo, "logs", "--tail", "1", "count");
                assertEquals("3", tail.stdout().strip(), tail.describe());
                Proc.Result plain = cli.runOk(repo, "logs", "--plain", "--tail", "2", "count");
                assertEquals("2\n3\n", plain.stdout(), "--plain drops the terminal's carriage returns");
                assertEquals("stopped (exit 0)", statusCell(cli, repo, "count"));
            } finally {
                kill(repo, "count");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void logs_ofACountRun_isEachAgentsOwnOutput_plainWithoutItsEscapes(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result ran = cli.run(repo, "run", "--count", "2", "--name", "many", "--", "sh", "-c",
                    "printf '\\033[31mred\\033[0m %s\\r\\n' \"$SANDBOX_NAME\"; echo done");
            assertEquals(0, ran.exitCode(), ran.describe());
            for (String name : List.of("many-1", "many-2")) {
                Proc.Result raw = cli.runOk(repo, "logs", name);
                assertEquals("\u001b[31mred\u001b[0m " + name + "\r\ndone\n", raw.stdout(),
                        "the bytes as written, once");
                Proc.Result plain = cli.runOk(repo, "logs", "--plain", name);
                assertEquals("red " + name + "\ndone\n", plain.stdout());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void exec_runsBesideTheAgent_itsChangesInTheDiff_andIsRefusedOnceStopped(Runner runner) throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result started = cli.run(repo, "run", "-d", "--name", "ex", "--", "sleep", "1000");
                assertEquals(0, started.exitCode(), started.describe());

                Proc.Result comm = cli.runOk(repo, "exec", "ex", "--", "cat", "/proc/1/comm");
                assertEquals("sandbox-helper\n", comm.stdout(), "pid 1 is the helper's init" + comm.describe());

                // The caller's own descriptors stay out: the agent could reopen them through /proc/PID/fd.
                Path out = ws.dir().resolve("exec-out.txt");
                Process p = new ProcessBuilder(cli.argv(cli.env(Map.of()), "exec", "ex", "--", "readlink",
                        "/proc/self/fd/1", "/proc/self/fd/2")).directory(repo.toFile())
                        .redirectOutput(out.toFile()).redirectError(out.toFile()).start();
                assertEquals(0, p.waitFor(), "exec readlink");
                List<String> fds = Files.readAllLines(out);
                assertEquals(2, fds.size(), fds.toString());
                assertTrue(fds.stream().allMatch(l -> l.startsWith("pipe:")), "the command's stdout and stderr are the"
                        + " relay's pipes, not the caller's file: " + fds);

                cli.runOk(repo, "exec", "ex", "--", "sh", "-c", "echo made by exec > exec.txt");
                Proc.Result status = cli.run(repo, "exec", "ex", "--", "sh", "-c", "exit 7");
                assertEquals(7, status.exitCode(), "exec passes CMD's status through" + status.describe());
                Proc.Result diff = cli.runOk(repo, "diff", "ex");
                assertTrue(diff.stdout().contains("exec.txt") && diff.stdout().contains("+made by exec"),
                        diff.describe());

                kill(repo, "ex");
                Proc.Result refused = cli.run(repo, "exec", "ex", "--", "true");
                assertEquals("sandbox: can't exec in 'ex': it is not running ('sandbox start ex -- CMD' runs CMD in"
                        + " it)", Cli.assertOneErrorLine(refused, 1));
            } finally {
                kill(repo, "ex");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void shell_entersARunningSandbox_andStartsAStoppedOneAgain(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.has("tmux"), "needs tmux");
        try (Workspace ws = Workspace.create(runner); Tmux tmux = new Tmux(ws)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            try {
                Proc.Result started = cli.run(repo, "run", "-d", "--name", "sh", "--", "sleep", "1000");
                assertEquals(0, started.exitCode(), started.describe());
                Path status = ws.dir().resolve("shell1");
                tmux.newSession("one", 100, 30, repo, Host.sandboxBin() + " shell sh; echo SHELL=$? > " + status);
                tmux.awaitScreen("one", WAIT, AttachIT::showsPrompt, "the shell's prompt");
                tmux.sendLine("one", "ps -o comm= -p 1; echo made in the shell > shelled.txt; exit 5");
                assertEquals("SHELL=5\n", awaitFile(status, tmux, "one"), "shell exits with the shell's status");
                assertTrue(tmux.screen("one").contains("sandbox-helper"), "the shell ran beside the agent:\n"
                        + String.join("\n", tmux.screen("one")));
                assertEquals("running", cli.listed(repo, "sh").path("status").asText(), "the agent still runs");

                kill(repo, "sh");
                Path status2 = ws.dir().resolve("shell2");
                tmux.newSession("two", 100, 30, repo, Host.sandboxBin() + " shell sh; echo SHELL=$? > " + status2);
                tmux.awaitScreen("two", WAIT, AttachIT::showsPrompt, "the shell's prompt in the stopped sandbox");
                tmux.sendLine("two", "cat shelled.txt; exit 6");
                assertEquals("SHELL=6\n", awaitFile(status2, tmux, "two"));
                assertTrue(tmux.screen("two").contains("made in the shell"), "the stopped sandbox's layer:\n"
                        + String.join("\n", tmux.screen("two")));
                assertEquals("stopped (exit 6)", statusCell(cli, repo, "sh"));
            } finally {
                kill(repo, "sh");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void listWatch_redrawsInPlace(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.has("tmux"), "needs tmux");
        try (Workspace ws = Workspace.create(runner); Tmux tmux = new Tmux(ws)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            tmux.newSession("w", 160, 20, repo, Host.sandboxBin() + " list --watch -n 0.5");
            tmux.awaitScreen("w", WAIT, s -> s.contains("no sandboxes (start one with 'sandbox run -- CMD')"),
                    "the empty list");
            Proc.Result started = cli.run(repo, "run", "-d", "--name", "w1", "--", "sleep", "3");
            assertEquals(0, started.exitCode(), started.describe());
            tmux.awaitScreen("w", WAIT, s -> s.stream().anyMatch(l -> l.startsWith("w1 ") && l.contains(" running ")),
                    "w1 running");
            List<String> screen = tmux.awaitScreen("w", WAIT,
                    s -> s.stream().anyMatch(l -> l.startsWith("w1 ") && l.contains(" stopped (exit 0) ")),
                    "w1 stopped");
            assertEquals(1, screen.stream().filter(l -> l.startsWith("Every 0.5s: sandbox list ")).count(),
                    "one header, redrawn in place, none scrolled into the history:\n" + String.join("\n", screen));
            assertEquals(1, screen.stream().filter(l -> l.startsWith("NAME ")).count(), String.join("\n", screen));
            assertFalse(screen.stream().anyMatch(l -> l.startsWith("no sandboxes")), "the old frame is erased:\n"
                    + String.join("\n", screen));
            tmux.tmux("send-keys", "-t", "w", "C-c");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void badInput_isOneLineWithItsExitCode(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            assertEquals("sandbox: can't attach to 'nosuch': no such sandbox (see 'sandbox list')",
                    Cli.assertOneErrorLine(cli.run(repo, "attach", "nosuch"), 2));
            assertEquals("sandbox: can't show the output of 'nosuch': no such sandbox (see 'sandbox list')",
                    Cli.assertOneErrorLine(cli.run(repo, "logs", "nosuch"), 2));
            assertEquals("sandbox: can't exec in 'nosuch': no such sandbox (see 'sandbox list')",
                    Cli.assertOneErrorLine(cli.run(repo, "exec", "nosuch", "--", "true"), 2));
            assertEquals("sandbox: can't open a shell in 'nosuch': no such sandbox (see 'sandbox list')",
                    Cli.assertOneErrorLine(cli.run(repo, "shell", "nosuch"), 2));
            assertEquals("sandbox: exec needs '--' before the command: sandbox exec nosuch -- ls",
                    Cli.assertOneErrorLine(cli.run(repo, "exec", "nosuch", "ls"), 2));
            String keys = Cli.assertOneErrorLine(cli.run(repo, "attach", "--detach-keys", "ctrl-1", "nosuch"), 2);
            assertTrue(keys.startsWith("sandbox: can't use --detach-keys 'ctrl-1': 'ctrl-1' is not a key (give 1 to 8"),
                    keys);
            Cli.assertOneErrorLine(cli.run(repo, "logs", "--tail", "-1", "nosuch"), 2);
            Cli.assertOneErrorLine(cli.run(repo, "list", "--watch", "-n", "0"), 2);

            Proc.Result ran = cli.run(repo, "run", "--name", "fg", "--", "true");
            assertEquals(0, ran.exitCode(), ran.describe());
            assertEquals("sandbox: can't show the output of 'fg': it keeps none (only 'sandbox run -d' and 'sandbox run"
                    + " --count' record the agent's output; a foreground run shows it on its terminal)",
                    Cli.assertOneErrorLine(cli.run(repo, "logs", "fg"), 1));
            assertTrue(Cli.assertOneErrorLine(cli.run(repo, "attach", "fg"), 1)
                    .startsWith("sandbox: can't attach to 'fg': it is not running"));
        }
    }

    private static boolean showsPrompt(List<String> screen) {
        if (screen.isEmpty()) {
            return false;
        }
        String last = screen.get(screen.size() - 1).strip();
        return last.endsWith("$") || last.endsWith("#");
    }

    /** The STATUS cell of sandbox {@code name} in {@code sandbox list}'s table. */
    private static String statusCell(Cli cli, Path repo, String name) {
        Proc.Result table = cli.runOk(repo, "list");
        List<String> lines = table.stdoutLines();
        String header = lines.get(0);
        int from = header.indexOf("STATUS");
        int to = header.indexOf("BASE");
        for (String line : lines.subList(1, lines.size())) {
            if (line.startsWith(name + " ")) {
                return line.substring(from, to).strip();
            }
        }
        throw new AssertionError("'" + name + "' is not listed" + table.describe());
    }

    /** Polls {@code list --json} until the entry of {@code name} satisfies {@code done}; returns it. */
    private static JsonNode awaitListed(Cli cli, Path repo, String name, Predicate<JsonNode> done, String what) {
        long end = System.nanoTime() + WAIT.toNanos();
        JsonNode n = cli.listed(repo, name);
        while (n == null || !done.test(n)) {
            if (System.nanoTime() > end) {
                fail("timed out waiting for " + what + "; list --json says " + n);
            }
            Proc.pause(200);
            n = cli.listed(repo, name);
        }
        return n;
    }

    /** The line the pane's shell writes once the command in it has ended. */
    private static String awaitFile(Path file, Tmux tmux, String session) {
        long end = System.nanoTime() + WAIT.toNanos();
        while (!Files.exists(file) || !Repos.read(file).endsWith("\n")) {
            if (System.nanoTime() > end) {
                fail("the command did not end; the pane shows:\n" + String.join("\n", tmux.screen(session)));
            }
            Proc.pause(50);
        }
        return Repos.read(file);
    }

    /**
     * Ends sandbox {@code name} if it still runs: SIGKILL to the helper's outer process (after
     * checking that the pid is the helper's, not a reused one), whose death takes init and
     * the agent with it (their parent-death signal); then waits until its lock is free.
     */
    private static void kill(Path repo, String name) {
        Path dir = Repos.sandboxDir(repo, name);
        Path lock = dir.resolve("agent.lock");
        Path pid = dir.resolve("pid");
        if (!running(lock)) {
            return;
        }
        if (Files.exists(pid)) {
            String outer = Repos.read(pid).strip().split(" ")[0];
            Proc.Result exe = Proc.host(repo, "readlink", "/proc/" + outer + "/exe");
            if (exe.stdout().strip().endsWith("/sandbox-helper")) {
                Proc.host(repo, "kill", "-KILL", outer);
            }
        }
        long end = System.nanoTime() + WAIT.toNanos();
        while (running(lock)) {
            if (System.nanoTime() > end) {
                fail("sandbox '" + name + "' did not end");
            }
            Proc.pause(50);
        }
    }

    /**
     * Whether the helper holds the sandbox's agent lock: an open file description lock, which
     * an fcntl lock (Java's) conflicts with, so trying one tells.
     */
    private static boolean running(Path lock) {
        if (!Files.exists(lock)) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(lock, StandardOpenOption.WRITE)) {
            FileLock taken = ch.tryLock();
            if (taken == null) {
                return true;
            }
            taken.release();
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
