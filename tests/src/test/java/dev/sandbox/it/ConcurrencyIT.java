package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Several launchers on one repository at once: each sandbox has its own layer, names are never shared. */
class ConcurrencyIT {
    @Test
    void run_twoSandboxesAtOnce_bothSucceedWithTheirOwnLayers() {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Cli cli = new Cli(ws);
            Proc.Running a = cli.start(repo, "run", "--name", "a", "--", "sh", "-c", "sleep 2; echo a > f");
            Proc.Running b = cli.start(repo, "run", "--name", "b", "--", "sh", "-c", "sleep 2; echo b > f");
            Proc.Result ra = a.await();
            Proc.Result rb = b.await();

            assertEquals(0, ra.exitCode(), ra.describe());
            assertEquals("", ra.stderr(), ra.describe());
            assertEquals(0, rb.exitCode(), rb.describe());
            assertEquals("", rb.stderr(), rb.describe());
            assertEquals("a\n", Repos.read(Repos.upper(repo, "a").resolve("f")));
            assertEquals("b\n", Repos.read(Repos.upper(repo, "b").resolve("f")));
        }
    }

    @Test
    void run_nameOfRunningSandbox_isRefusedAsAlreadyRunning() {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Cli cli = new Cli(ws);
            Proc.Running x = cli.start(repo, "run", "--name", "x", "--", "sleep", "30");
            try {
                awaitAgent(x, "/sleep");

                Proc.Result again = cli.run(repo, "run", "--name", "x", "--", "true");

                String line = Cli.assertOneErrorLine(again, 2);
                assertTrue(line.startsWith("sandbox: ") && line.contains("'x'") && line.contains("already running"),
                        again.describe());
                assertTrue(x.process().isAlive(), "the running sandbox is left alone");
                assertEquals("running", cli.listed(repo, "x").path("status").asText());

                x.process().destroy(); // SIGTERM: the launcher passes it on to the agent
                Proc.Result ended = x.await();
                assertEquals(143, ended.exitCode(), "sleep killed by the forwarded SIGTERM" + ended.describe());
            } finally {
                x.kill();
            }
        }
    }

    @Test
    void run_nameOfStoppedSandbox_isRefusedAsAlreadyExisting() {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "y", "--", "sh", "-c", "echo keep > kept.txt");

            Proc.Result again = cli.run(repo, "run", "--name", "y", "--", "true");

            String line = Cli.assertOneErrorLine(again, 2);
            assertTrue(line.contains("'y'") && line.contains("already exists"), again.describe());
            assertEquals("keep\n", Repos.read(Repos.upper(repo, "y").resolve("kept.txt")), "y's changes are kept");
        }
    }

    /**
     * A sandbox directory before its sandbox.json exists is what every {@code run} leaves for
     * a moment after claiming its name (and what a crash at that moment leaves for good); a
     * {@code list} in that window, which another launcher's start makes likely, must not fail.
     */
    @Test
    void list_sandboxDirectoryWithoutRecordYet_isListedNotAnError() throws IOException {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "done", "--", "true");
            Files.createDirectory(Repos.sandboxDir(repo, "starting"));

            Proc.Result r = cli.run(repo, "list", "--json");

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals("", r.stderr(), r.describe());
            assertTrue(r.stdout().contains("\"starting\"") && r.stdout().contains("\"done\""), r.describe());
        }
    }

    /** Waits until a process running {@code command} (e.g. "/sleep") runs below the launcher. */
    static void awaitAgent(Proc.Running run, String command) {
        long deadline = System.nanoTime() + Proc.TIMEOUT.toNanos();
        while (run.process().descendants().noneMatch(p -> p.info().command().orElse("").endsWith(command))) {
            if (!run.process().isAlive() || System.nanoTime() > deadline) {
                fail("the sandbox's " + command + " never started:\n" + run.stdoutSoFar() + run.stderrSoFar());
            }
            Proc.pause(50);
        }
    }
}
