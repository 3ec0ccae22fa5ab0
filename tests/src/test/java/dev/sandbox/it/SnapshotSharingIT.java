package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Sandboxes share snapshots: {@code run --count N} starts N sandboxes on one snapshot, and a
 * working tree that changes while it is copied (the user saving, git's gc removing loose
 * objects) never fails a run and never yields a torn snapshot without a warning.
 */
class SnapshotSharingIT {
    @ParameterizedTest
    @ValueSource(strings = {"ROOT", "USER"})
    void count_startsNamedSandboxesOnOneSnapshot_eachWithItsOwnChangesAndLog(String who) {
        Runner runner = Runner.valueOf(who);
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result r = cli.run(repo, "run", "--count", "3", "--name", "exp", "--", "sh", "-c",
                    "echo \"hello from $SANDBOX_NAME\"; echo \"$SANDBOX_NAME\" > who; [ \"$SANDBOX_NAME\" != exp-2 ] || exit 3");

            assertEquals(3, r.exitCode(), "the status of the agent that failed" + r.describe());
            assertTrue(r.stderr().contains("sandbox: exp-2 exited 3"), r.describe());
            assertTrue(r.stderr().contains("sandbox: exp-1 exited 0") && r.stderr().contains("sandbox: exp-3 exited 0"),
                    r.describe());
            Cli.assertNoStackTrace(r);
            JsonNode all = cli.list(repo);
            assertEquals(3, all.size());
            String snapshot = all.get(0).path("snapshot").asText();
            for (int i = 1; i <= 3; i++) {
                String name = "exp-" + i;
                JsonNode n = cli.listed(repo, name);
                assertEquals(snapshot, n.path("snapshot").asText(), name + " is on the one snapshot");
                assertEquals(i == 2 ? 3 : 0, n.path("exitCode").asInt());
                assertTrue(n.path("diskBytes").asLong() > 0, name + "'s upper layer holds its file");
                assertEquals("who\n", cli.runOk(repo, "diff", "--name-only", name).stdout());
                assertTrue(cli.runOk(repo, "diff", name).stdout().contains("+" + name + "\n"), name + "'s own change");
                assertEquals("hello from " + name + "\n",
                        Repos.read(Repos.sandboxDir(repo, name).resolve("log").resolve("output")));
            }

            Proc.Result taken = cli.run(repo, "run", "--count", "2", "--name", "exp", "--", "true");
            assertTrue(Cli.assertOneErrorLine(taken, 2).contains("'exp-1'"), taken.describe());
            Proc.Result zero = cli.run(repo, "run", "--count", "0", "--", "true");
            assertTrue(Cli.assertOneErrorLine(zero, 2).contains("--count"), zero.describe());
            assertEquals(3, cli.list(repo).size(), "refused runs claimed no name");
        }
    }

    @Test
    void treeChangingDuringTheCopy_neverFailsTheRun_andATornSnapshotIsAnnounced() {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            for (int d = 0; d < 40; d++) {
                for (int f = 0; f < 100; f++) {
                    Repos.write(repo, "bulk/d" + d + "/f" + f + ".txt", "file " + d + "/" + f + "\n");
                }
            }
            // What git gc and an editor do: directories and files appear and vanish all the time.
            Proc.Running churn = Proc.start(List.of("sh", "-c", "i=0; while :; do i=$((i+1)); mkdir -p churn/d$i;"
                    + " echo $i > churn/d$i/f; echo $i > churn/latest; rm -rf churn/d$((i-1)); done"), repo, Host.cleanEnv(ws.home()));
            try {
                Cli cli = new Cli(ws);
                for (int run = 0; run < 3; run++) {
                    Proc.Result r = cli.run(repo, "run", "--snapshot", "copy", "--name", "c" + run, "--", "cat",
                            "bulk/d39/f99.txt");
                    assertEquals(0, r.exitCode(), "a changing tree does not fail the run" + r.describe());
                    assertEquals("file 39/99\n", r.stdout());
                    assertFalse(r.stderr().contains("can't"), r.describe());
                    assertTrue(r.stderr().isEmpty()
                            || r.stderr().equals("sandbox: warning: the working tree kept changing while it was copied"
                                    + " (3 tries); a file written meanwhile may be torn in this snapshot\n"),
                            "silent, or the one warning" + r.describe());
                }
            } finally {
                churn.kill();
            }
            assertTrue(Files.exists(repo.resolve("churn/latest")), "the churn really ran");
        }
    }
}
