package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.console.Console;
import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The record of a sandbox that runs on another host ({@code run --host}): older records,
 * without {@code site}, still read as local ones, and {@code list} shows a mirror's host and
 * the status its host last reported (no local lock can say).
 */
class MirrorRecordTest {
    private static final String MIRROR = """
            {
              "name" : "far",
              "snapshot" : "20261130-221751-e80b",
              "repo" : "/home/user/project",
              "cwd" : "/home/user/project",
              "command" : [ "claude" ],
              "status" : "running",
              "createdAt" : "2026-12-01T10:00:00Z",
              "net" : "none",
              "ports" : [ ],
              "site" : {
                "host" : "alice@build1:2222",
                "dir" : "/srv/work/0123456789abcdef/project-0a1b2c3d4e"
              }
            }
            """;

    @TempDir
    Path repo;

    private Sandboxes sandboxes() throws IOException, InterruptedException {
        IsolatedGit.run(repo, "-c", "init.defaultBranch=main", "init", "-q");
        return Sandboxes.open(new Context(repo, Map.of("HOME", repo.resolve("home").toString()), null));
    }

    private void sandbox(String name, String json) throws IOException {
        Path dir = Files.createDirectories(repo.resolve(".git/sandbox/sandboxes").resolve(name));
        Files.createDirectory(StateStore.upperDir(dir));
        Files.writeString(StateStore.sandboxJson(dir), json);
    }

    private static Sandbox read(Path dir, String json) throws IOException {
        return Json.read(Files.writeString(dir.resolve("sandbox.json"), json), Sandbox.class);
    }

    @Test
    void olderRecord_withoutSite_readsAsLocal_andIsWrittenWithoutSite() throws IOException {
        Sandbox old = read(repo, StateStoreTest.fixture("committed"));
        assertNull(old.site());
        assertFalse(old.remote());
        assertFalse(Json.toString(old.finished(0, Instant.EPOCH)).contains("site"));
    }

    @Test
    void mirrorRecord_keepsItsSite_throughEveryChange() throws IOException {
        Sandbox far = read(repo, MIRROR);
        Sandbox.Site site = new Sandbox.Site("alice@build1:2222", "/srv/work/0123456789abcdef/project-0a1b2c3d4e");
        assertEquals(site, far.site());
        assertTrue(far.remote());
        for (Sandbox changed : List.of(far.finished(3, Instant.EPOCH), far.harvested("abc", "def"),
                far.onSnapshot("x"), far.stoppedWithoutStatus(), far.rebased("y"), far.publishing(List.of()),
                far.asReported(false, 0, Instant.EPOCH))) {
            assertEquals(site, changed.site());
            assertEquals(site, read(repo, Json.toString(changed)).site(), "written and read back");
        }
        Sandbox stopped = far.asReported(false, 7, Instant.EPOCH);
        assertEquals(Sandbox.Status.STOPPED, stopped.status());
        assertEquals(7, stopped.exitCode());
        assertEquals(Sandbox.Status.RUNNING, stopped.asReported(true, null, null).status());
    }

    @Test
    void list_showsAMirrorsHost_andTheStatusItsHostReported_localOnesWithoutHost() throws IOException,
            InterruptedException {
        Sandboxes sandboxes = sandboxes();
        sandbox("plain", StateStoreTest.fixture("committed"));
        sandbox("far", MIRROR);
        List<SandboxView> views = new Listing(sandboxes).list(Console.of(new PrintWriter(new StringWriter()),
                new PrintWriter(new StringWriter())));
        SandboxView plain = views.stream().filter(v -> v.name().equals("plain")).findFirst().orElseThrow();
        SandboxView far = views.stream().filter(v -> v.name().equals("far")).findFirst().orElseThrow();
        assertNull(plain.host());
        assertEquals("alice@build1:2222", far.host());
        assertEquals(Sandbox.Status.RUNNING, far.status(), "no lock here: the host's last word");
        String json = Json.toString(views);
        assertTrue(json.contains("\"host\" : \"alice@build1:2222\""), json);
        assertEquals(1, json.split("\"host\"", -1).length - 1, "a local sandbox has no host field: " + json);
        SandboxView[] back = Json.parse(json, SandboxView[].class);
        assertEquals("alice@build1:2222", back[1].host(), "a host's list --json reads back");
    }

    @Test
    void rmCheck_ofAMirrorItsHostSaysRuns_isRefusedAsARunningOne() throws IOException, InterruptedException {
        Sandboxes sandboxes = sandboxes();
        sandbox("far", MIRROR);
        dev.sandbox.error.SandboxException e = org.junit.jupiter.api.Assertions.assertThrows(
                dev.sandbox.error.SandboxException.class, () -> new Removal(sandboxes).check("far", true));
        assertEquals("can't remove 'far': it is running (end its agent first: 'sandbox stop far')", e.getMessage());
        Path dir = repo.resolve(".git/sandbox/sandboxes/far");
        sandboxes.update(dir, sb -> sb.asReported(false, 0, Instant.EPOCH));
        new Removal(sandboxes).check("far", false); // stopped, and an empty layer holds no work
        assertTrue(Files.isDirectory(dir), "check removes nothing");
    }
}
