package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
        long emptyDir = Sandboxes.diskUsage(StateStore.upperDir(repo.resolve(".git/sandbox/sandboxes/first")));
        assertEquals(StateStoreTest.fixture("list").replace("\"diskBytes\" : 4096", "\"diskBytes\" : " + emptyDir),
                Json.toString(sandboxes.list()));
    }

    /** A newer version's values: the sandbox is listed all the same, as its run lock says. */
    @Test
    void list_ofValuesThisVersionDoesNotKnow_showsTheSandbox() throws IOException, InterruptedException {
        Sandboxes sandboxes = sandboxes();
        sandbox("exit3", StateStoreTest.fixture("stopped").replace("\"status\" : \"stopped\"", "\"status\" : \"paused\"")
                .replace("\"net\" : \"egress\"", "\"net\" : \"vpn\"")
                .replace("\"2026-11-30T22:17:52.659475156Z\"", "\"yesterday\""));
        sandbox("plain", StateStoreTest.fixture("committed"));
        List<SandboxView> views = sandboxes.list();
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
