package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code sandbox list} over records that versions of the launcher wrote, in a real
 * repository: what {@code list --json} prints of them is pinned byte for byte.
 */
class SandboxesListTest {
    @TempDir
    Path repo;

    private Sandboxes sandboxes() throws IOException, InterruptedException {
        IsolatedGit.run(repo, "-c", "init.defaultBranch=main", "init", "-q");
        return Sandboxes.open(new Context(repo, Map.of("HOME", repo.resolve("home").toString()), null));
    }

    /** Lays out sandbox {@code name} stopped, with an empty upper layer and {@code json} as its record. */
    private void sandbox(String name, String json) throws IOException {
        Path dir = Files.createDirectories(repo.resolve(".git/sandbox/sandboxes").resolve(name));
        Files.createDirectory(StateStore.upperDir(dir));
        Files.writeString(StateStore.sandboxJson(dir), json);
    }

    @Test
    void listJson_ofEveryVersionsRecords_isUnchanged() throws IOException, InterruptedException {
        Sandboxes sandboxes = sandboxes();
        for (String fixture : List.of("stopped", "committed", "running", "before-net", "first")) {
            String json = StateStoreTest.fixture(fixture);
            String name = Json.MAPPER.readTree(json).get("name").asText();
            sandbox(name, json);
        }
        assertEquals(List.of("first", "before-net", "plain", "exit3", "live"), sandboxes.names(), "oldest first");
        // an empty directory takes a block on ext4, none on tmpfs
        long emptyDir = Listing.diskUsage(StateStore.upperDir(repo.resolve(".git/sandbox/sandboxes/first")));
        assertEquals(StateStoreTest.fixture("list").replace("\"diskBytes\" : 4096", "\"diskBytes\" : " + emptyDir),
                Json.toString(new Listing(sandboxes).list(silent())));
    }

    /**
     * A record that is not a record (truncated, a number out of range, wrong types) hides no
     * other sandbox: it is listed by name with one warning line naming the file, and a
     * snapshot record as bad keeps no run from taking a new snapshot.
     */
    @ParameterizedTest
    @ValueSource(strings = {"{\"name\": \"bad\", \"exitCode\": 1e30}", "{\"name\": \"bad\", \"command\": \"x\"}",
            "{\"name\": \"bad\",\n  \"sta", ""})
    void list_unreadableRecord_listedByNameWithOneWarning_othersAsBefore(String bad) throws IOException,
            InterruptedException {
        Sandboxes sandboxes = sandboxes();
        sandbox("plain", StateStoreTest.fixture("committed"));
        sandbox("bad", bad);
        Path snapshot = Files.createDirectories(repo.resolve(".git/sandbox/snapshots/20261130-000000-abcd/tree"));
        Files.writeString(snapshot.resolveSibling("snapshot.json"), "{\"id\": ");
        StringWriter err = new StringWriter();
        List<SandboxView> views = new Listing(sandboxes).list(Console.of(new PrintWriter(new StringWriter()), new PrintWriter(err)));
        assertEquals(List.of("plain", "bad"), views.stream().map(SandboxView::name).toList());
        List<String> lines = err.toString().lines().toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).startsWith("sandbox: warning: can't read '" + StateStore.sandboxJson(
                repo.resolve(".git/sandbox/sandboxes/bad")) + "': not a valid record: "), lines.get(0));
        assertTrue(lines.get(0).length() < 400, lines.get(0));
        assertEquals(List.of("plain", "bad"), sandboxes.names());
        assertEquals(List.of(), sandboxes.snapshots().list(), "the bad snapshot is neither reused nor removed");
        assertTrue(Files.exists(snapshot));
    }

    /**
     * A record edited to name no snapshot, over an upper layer with work: gc can't tell which
     * snapshot that work needs, so it removes none; a snapshot name that leaves the store is
     * refused before any path is made of it.
     */
    @Test
    void gc_workWithoutANamedSnapshot_removesNothing_snapshotNamesStayInTheStore() throws Exception {
        Sandboxes sandboxes = sandboxes();
        String json = StateStoreTest.fixture("committed");
        sandbox("edited", json.replaceFirst("\"snapshot\" : \"[^\"]*\"", "\"snapshot\" : null"));
        Files.writeString(StateStore.upperDir(repo.resolve(".git/sandbox/sandboxes/edited")).resolve("work.txt"), "w");
        SandboxException e = assertThrows(SandboxException.class, new Removal(sandboxes)::gc);
        assertTrue(e.getMessage().startsWith("can't tell which snapshot sandbox 'edited' uses"), e.getMessage());

        for (String id : List.of("..", "../../etc", ".", "")) {
            assertThrows(SandboxException.class, () -> sandboxes.snapshots().dir(id), id);
        }
    }

    private static Console silent() {
        return Console.of(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()));
    }

    /** A newer version's values: the sandbox is listed all the same, as its run lock says. */
    @Test
    void list_ofValuesThisVersionDoesNotKnow_showsTheSandbox() throws IOException, InterruptedException {
        Sandboxes sandboxes = sandboxes();
        sandbox("exit3", StateStoreTest.fixture("stopped").replace("\"status\" : \"stopped\"", "\"status\" : \"paused\"")
                .replace("\"net\" : \"egress\"", "\"net\" : \"vpn\"")
                .replace("\"2026-11-30T22:17:52.659475156Z\"", "\"yesterday\""));
        sandbox("plain", StateStoreTest.fixture("committed"));
        List<SandboxView> views = new Listing(sandboxes).list(silent());
        assertEquals(List.of("plain", "exit3"), views.stream().map(SandboxView::name).toList(),
                "one without a time comes last");
        assertEquals(List.of("plain", "exit3"), sandboxes.names());
        SandboxView v = views.get(1);
        assertEquals("exit3", v.name());
        assertEquals(Sandbox.Status.STOPPED, v.status());
        assertEquals(3, v.exitCode());
        assertEquals(null, v.net(), "shown as for a sandbox older than --net");
        assertEquals(null, v.createdAt());
        assertEquals(java.time.Instant.parse("2026-11-30T22:17:52.954034761Z"), v.finishedAt());
    }
}
