package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** What happens to sandboxes after their agent ends: list, rm, snapshot reuse, gc, and doctor. */
class LifecycleIT {
    @ParameterizedTest
    @EnumSource(Runner.class)
    void list_afterRuns_showsNameStatusExitCodeAndChanges(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            String head = Repos.git(repo, "rev-parse", "HEAD");
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "one", "--", "sh", "-c", "echo x > changed.txt; echo y > other.txt");
            Proc.Result failed = cli.run(repo, "run", "--name", "two", "--", "sh", "-c", "exit 5");
            assertEquals(5, failed.exitCode(), failed.describe());

            JsonNode one = cli.listed(repo, "one");
            assertNotNull(one, "one is listed");
            assertEquals("stopped", one.path("status").asText(), one.toString());
            assertEquals(0, one.path("exitCode").asInt(-1), one.toString());
            assertEquals(2, one.path("changes").asInt(-1), one.toString());
            assertEquals(head, one.path("baseCommit").asText(), one.toString());
            assertEquals("copy", one.path("strategy").asText(), one.toString());
            assertEquals(List.of("sh", "-c", "echo x > changed.txt; echo y > other.txt"), texts(one.path("command")));
            assertTrue(one.path("snapshot").isTextual() && one.path("createdAt").isTextual(), one.toString());
            JsonNode two = cli.listed(repo, "two");
            assertEquals(5, two.path("exitCode").asInt(-1), two.toString());
            assertEquals(0, two.path("changes").asInt(-1), two.toString());

            Proc.Result table = cli.runOk(repo, "list");
            List<String> lines = table.stdoutLines();
            assertEquals(3, lines.size(), "a header and two rows" + table.describe());
            String header = lines.get(0);
            assertTrue(header.startsWith("NAME") && header.contains("STATUS") && header.contains("CHANGES"),
                    table.describe());
            assertEquals("one", column(header, lines.get(1), "NAME"), table.describe());
            assertEquals("stopped (exit 0)", column(header, lines.get(1), "STATUS"), table.describe());
            assertEquals("2", column(header, lines.get(1), "CHANGES"), table.describe());
            assertEquals(head.substring(0, 8), column(header, lines.get(1), "BASE"), table.describe());
            assertEquals("two", column(header, lines.get(2), "NAME"), table.describe());
            assertEquals("stopped (exit 5)", column(header, lines.get(2), "STATUS"), table.describe());
            assertEquals("0", column(header, lines.get(2), "CHANGES"), table.describe());
            assertTrue(column(header, lines.get(1), "DISK").matches("[0-9.]+[KM]"), "disk of two new files" + table.describe());
            assertEquals("none", column(header, lines.get(1), "NET"), table.describe());
            assertEquals("default", column(header, lines.get(1), "PROFILE"), table.describe());
            assertEquals("default", one.path("profile").asText(), one.toString());
            assertEquals("-", column(header, lines.get(1), "PORTS"), "a stopped sandbox publishes nothing" + table.describe());
            assertTrue(one.path("diskBytes").asLong() > 0, one.toString());
        }
    }

    /**
     * A record of the first version (no net, ports, harvested or committed) and one with values
     * only a newer version could write: both are listed, the unknown values as absent ("-").
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void list_ofOlderAndNewerRecords_showsEveryOne(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "old", "--", "sh", "-c", "echo x > old.txt");
            Proc.Result failed = cli.run(repo, "run", "--name", "new", "--", "sh", "-c", "echo y > new.txt; exit 4");
            assertEquals(4, failed.exitCode(), failed.describe());
            rewriteRecord(repo, "old", r -> r.remove(List.of("net", "ports", "harvested", "committed", "profile")));
            rewriteRecord(repo, "new", r -> r.put("status", "paused").put("net", "vpn").put("createdAt", "yesterday"));

            Proc.Result table = cli.runOk(repo, "list");
            List<String> lines = table.stdoutLines();
            assertEquals(3, lines.size(), "a header and two rows" + table.describe());
            String header = lines.get(0);
            assertEquals("old", column(header, lines.get(1), "NAME"), "oldest first, no time last" + table.describe());
            assertEquals("stopped (exit 0)", column(header, lines.get(1), "STATUS"), table.describe());
            assertEquals("-", column(header, lines.get(1), "NET"), table.describe());
            assertEquals("-", column(header, lines.get(1), "PROFILE"), table.describe());
            assertTrue(column(header, lines.get(1), "AGE").matches("[0-9]+[smhd]"), table.describe());
            assertEquals("new", column(header, lines.get(2), "NAME"), table.describe());
            assertEquals("stopped (exit 4)", column(header, lines.get(2), "STATUS"), table.describe());
            assertEquals("-", column(header, lines.get(2), "NET"), table.describe());
            assertEquals("-", column(header, lines.get(2), "AGE"), table.describe());
            assertEquals("1", column(header, lines.get(2), "CHANGES"), table.describe());

            JsonNode old = cli.listed(repo, "old");
            assertFalse(old.has("net") || old.has("profile"), old.toString());
            assertTrue(old.path("createdAt").isTextual() && old.path("finishedAt").isTextual(), old.toString());
            JsonNode newer = cli.listed(repo, "new");
            assertEquals("stopped", newer.path("status").asText(), newer.toString());
            assertFalse(newer.has("net") || newer.has("createdAt"), newer.toString());
            assertEquals(4, newer.path("exitCode").asInt(-1), newer.toString());
            assertEquals(List.of("old", "new"), cli.runOk(repo, "list", "-q").stdoutLines());
        }
    }

    /** Rewrites sandbox {@code name}'s record in place, as another version of the launcher would have. */
    private static void rewriteRecord(Path repo, String name,
            java.util.function.Consumer<com.fasterxml.jackson.databind.node.ObjectNode> change) throws IOException {
        Path file = Repos.sandboxDir(repo, name).resolve("sandbox.json");
        com.fasterxml.jackson.databind.ObjectMapper mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode record =
                (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(Files.readString(file));
        change.accept(record);
        Files.writeString(file, mapper.writeValueAsString(record)); // in place: owner and mode kept
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_refusesChangesWithoutForce_removesWithForceAndWithoutChanges(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "busy", "--", "sh", "-c", "echo work > work.txt");
            cli.runOk(repo, "run", "--name", "idle", "--", "true");

            Proc.Result refused = cli.run(repo, "rm", "busy");
            String line = Cli.assertOneErrorLine(refused, 2);
            assertTrue(line.startsWith("sandbox: can't remove 'busy': ") && line.contains("--force"),
                    refused.describe());
            assertEquals("work\n", Repos.read(Repos.upper(repo, "busy").resolve("work.txt")), "nothing was lost");
            assertNotNull(cli.listed(repo, "busy"));

            Proc.Result forced = cli.runOk(repo, "rm", "--force", "busy");
            assertTrue(forced.stdout().contains("busy"), forced.describe());
            assertNull(cli.listed(repo, "busy"), "busy is gone from the list");
            assertFalse(Files.exists(Repos.sandboxDir(repo, "busy")), "and from the disk");

            cli.runOk(repo, "rm", "idle");
            assertNull(cli.listed(repo, "idle"));
            assertFalse(Files.exists(Repos.sandboxDir(repo, "idle")));
        }
    }

    /**
     * An agent's tree deeper than any path the kernel takes (PATH_MAX, 4096 bytes), with a
     * mode-000 directory in it: {@code rm --force} deletes it whole, and {@code gc} finishes an
     * {@code rm} interrupted after the rename to {@code .rm-*}.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void rmForceAndGc_agentMadeTreeDeeperThanPathMax_deleteItAll(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            // 3,000 levels in chunks of 500 ('mkdir d && cd d' 3,000 times takes seconds);
            // dash's logical cd joins $PWD and fails past PATH_MAX, -P does not
            String agent = "chunk=$(printf 'd/%.0s' $(seq 500)); i=0; while [ $i -lt 3000 ]; do"
                    + " mkdir -p \"$chunk\" && cd -P \"$chunk\" || exit 1; i=$((i+500)); done;"
                    + " echo x > f && chmod 000 ../../..";
            cli.runOk(repo, "run", "--name", "deep", "--", "sh", "-c", agent);
            cli.runOk(repo, "run", "--name", "cut", "--", "sh", "-c", agent);
            Path sandboxes = Repos.sandboxDir(repo, "deep").getParent();

            Proc.Result rm = cli.runOk(repo, "rm", "--force", "deep");
            assertTrue(rm.stdout().contains("deep"), rm.describe());
            assertFalse(Files.exists(Repos.sandboxDir(repo, "deep"), LinkOption.NOFOLLOW_LINKS), "deep is gone");
            assertEquals(List.of(), removals(sandboxes), "and so is its .rm- directory");

            Files.move(Repos.sandboxDir(repo, "cut"), sandboxes.resolve(".rm-cut-1")); // as a killed rm leaves it
            Proc.Result gc = cli.runOk(repo, "gc");
            assertTrue(gc.stdout().strip().endsWith(" and 1 leftover"), gc.describe());
            assertEquals(List.of(), removals(sandboxes), "gc deleted it");
            assertEquals(0, cli.list(repo).size(), "no sandbox is left: " + cli.list(repo));
            Proc.Result again = cli.runOk(repo, "gc");
            assertTrue(again.stdout().strip().endsWith(" and 0 leftovers"), again.describe());
        }
    }

    /** The {@code .rm-*} directories of removals not finished. */
    private static List<String> removals(Path sandboxes) throws IOException {
        try (Stream<Path> all = Files.list(sandboxes)) {
            return all.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".rm-")).toList();
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_reusesTheSnapshotOfAnUnchangedTree_gcDeletesOnlyUnusedSnapshots(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "s1", "--", "true");
            cli.runOk(repo, "run", "--name", "s2", "--", "true");
            String first = cli.listed(repo, "s1").path("snapshot").asText();
            assertEquals(first, cli.listed(repo, "s2").path("snapshot").asText(),
                    "an unchanged tree reuses the snapshot");
            assertEquals(first, snapshotOfRecord(repo, "s2"), "sandbox.json names the same snapshot");
            assertEquals(Set.of(first), Repos.snapshotIds(repo));

            Repos.write(repo, "README.md", "# demo\nedited after the first snapshot\n");
            ws.own();
            cli.runOk(repo, "run", "--name", "s3", "--", "true");
            String second = cli.listed(repo, "s3").path("snapshot").asText();
            assertNotEquals(first, second, "an edited tree gets a new snapshot");
            assertEquals(Set.of(first, second), Repos.snapshotIds(repo));

            Proc.Result keep = cli.runOk(repo, "gc");
            assertTrue(keep.stdout().startsWith("removed 0 unused snapshots"), keep.describe());
            assertEquals(Set.of(first, second), Repos.snapshotIds(repo), "gc keeps snapshots in use");

            cli.runOk(repo, "rm", "s1", "s2");
            // On a filesystem without clones the edit makes a delta layer over the first snapshot,
            // which s3 then still reads through (docs/ARCHITECTURE.md §13): gc must keep it.
            String parent = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(Repos.read(Repos.stateDir(repo).resolve("snapshots").resolve(second)
                            .resolve("snapshot.json")))
                    .path("parent").asText("");
            Proc.Result gc = cli.runOk(repo, "gc");
            if (parent.isEmpty()) {
                assertTrue(gc.stdout().startsWith("removed 1 unused snapshot"), gc.describe());
                assertEquals(Set.of(second), Repos.snapshotIds(repo), "gc deleted the unused snapshot and kept s3's");
                assertEquals(second, cli.listed(repo, "s3").path("snapshot").asText());
            } else {
                assertEquals(first, parent, "a delta's parent is the snapshot it was taken over");
                assertTrue(gc.stdout().startsWith("removed 0 unused snapshots"), gc.describe());
                assertEquals(Set.of(first, second), Repos.snapshotIds(repo), "gc keeps the parent s3's layer needs");
                cli.runOk(repo, "rm", "s3");
                Proc.Result all = cli.runOk(repo, "gc");
                assertTrue(all.stdout().startsWith("removed 2 unused snapshots"), all.describe());
                assertEquals(Set.of(), Repos.snapshotIds(repo), "with s3 gone, the layer and its parent go");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void doctor_onThisMachine_passesEveryRequiredCheck(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Proc.Result r = new Cli(ws).runOk(repo, "doctor");
            List<String> lines = r.stdoutLines();
            assertFalse(lines.isEmpty(), r.describe());
            assertFalse(lines.stream().anyMatch(l -> l.startsWith("✘")), "no ✘ line" + r.describe());
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("✔ overlayfs in a user namespace: mounted on ")
                    && l.endsWith(" at " + Repos.stateDir(repo))),
                    "the overlay probe ran where the upper layers go" + r.describe());
        }
    }

    private static String snapshotOfRecord(Path repo, String name) throws IOException {
        JsonNode record = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(Repos.read(Repos.sandboxDir(repo, name).resolve("sandbox.json")));
        return record.path("snapshot").asText();
    }

    /** The cell of {@code row} under {@code title}: columns are left-aligned at their header's offset. */
    private static String column(String header, String row, String title) {
        int from = header.indexOf(title);
        int next = header.length();
        for (String t : new String[] {"NAME", "STATUS", "BASE", "STRATEGY", "PROFILE", "NET", "CHANGES", "DISK",
            "PORTS", "AGE", "COMMAND"}) {
            int at = header.indexOf(t);
            if (at > from && at < next) {
                next = at;
            }
        }
        return row.substring(Math.min(from, row.length()), Math.min(next, row.length())).strip();
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
