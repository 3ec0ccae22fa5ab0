package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.core.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How mirrors read their host's answers and forward the lifecycle verbs. */
class MirrorsTest {
    @Test
    void parseList_readsEachSandboxsStatusAndEnd() {
        Map<String, RemoteStatus> r = Mirrors.parseList("""
                [ {"name" : "a", "status" : "running", "changes" : 0},
                  {"name" : "b", "status" : "stopped", "exitCode" : 3, "finishedAt" : "2026-12-01T10:00:00Z"},
                  {"name" : "c", "status" : "stopped", "finishedAt" : "not a time"} ]
                """);
        assertEquals(new RemoteStatus(true, null, null), r.get("a"));
        assertEquals(new RemoteStatus(false, 3, Instant.parse("2026-12-01T10:00:00Z")), r.get("b"));
        assertEquals(new RemoteStatus(false, null, null), r.get("c"));
        assertNull(Mirrors.parseList("sandbox: not json"));
        assertNull(Mirrors.parseList("{\"name\": \"a\"}"));
    }

    @Test
    void withoutHost_dropsOnlyOurOption_fromTheVerbOn() {
        assertEquals(List.of("logs", "-f", "calm"),
                Mirrors.withoutHost(List.of("--stacktrace", "logs", "--host", "b1", "-f", "calm"), "logs"));
        assertEquals(List.of("exec", "-t", "calm", "--", "sh", "--host", "x"),
                Mirrors.withoutHost(List.of("exec", "--host=a@b", "-t", "calm", "--", "sh", "--host", "x"), "exec"));
    }

    @Test
    void current_onlyWhenTheHostReportsTheEndTheCopyWasMadeAfter(@TempDir Path dir) throws Exception {
        Instant end = Instant.parse("2026-12-01T10:00:00Z");
        RemoteStatus stopped = new RemoteStatus(false, 0, end);
        assertFalse(Mirrors.current(dir, stopped), "never pulled: no upper, no stamp");
        Files.createDirectory(dir.resolve("upper"));
        assertFalse(Mirrors.current(dir, stopped), "no stamp");
        Json.writeAtomically(dir.resolve(Mirrors.PULLED), new Mirrors.Pulled(null));
        assertFalse(Mirrors.current(dir, stopped), "the copy was made while it ran");
        Json.writeAtomically(dir.resolve(Mirrors.PULLED), new Mirrors.Pulled(end));
        assertTrue(Mirrors.current(dir, stopped));
        assertFalse(Mirrors.current(dir, new RemoteStatus(false, 0, end.plusSeconds(1))), "started again since");
        assertFalse(Mirrors.current(dir, new RemoteStatus(true, null, null)), "runs now");
        Files.writeString(dir.resolve(Mirrors.PULLED), "not json");
        assertFalse(Mirrors.current(dir, stopped), "an unreadable stamp brings the layer again");
    }

    @Test
    void restoreInterrupted_putsBackTheCopyAPullMovedAside(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("upper.old/sub"));
        Mirrors.restoreInterrupted(dir);
        assertTrue(Files.isDirectory(dir.resolve("upper/sub")));
        assertFalse(Files.exists(dir.resolve("upper.old")));
        Files.createDirectories(dir.resolve("upper.old/other"));
        Mirrors.restoreInterrupted(dir);
        assertTrue(Files.isDirectory(dir.resolve("upper.old/other")), "a complete upper/ is never replaced");
        assertFalse(Files.exists(dir.resolve("upper/other")));
    }

    @Test
    void sanitize_dropsDevicesButWhiteouts_andClearsSetIdBits(@TempDir Path layer) throws Exception {
        Files.createDirectories(layer.resolve("d"));
        Path tool = Files.writeString(layer.resolve("d/tool"), "#!/bin/sh\n");
        assertEquals(0, new ProcessBuilder("chmod", "6755", tool.toString()).start().waitFor());
        assertEquals(0, new ProcessBuilder("mknod", layer.resolve("gone.txt").toString(), "c", "0", "0").start()
                .waitFor(), "a whiteout: an unprivileged user may make one since Linux 5.8");
        boolean root = "root".equals(System.getProperty("user.name"));
        if (root) {
            assertEquals(0, new ProcessBuilder("mknod", layer.resolve("d/mem").toString(), "c", "1", "1").start()
                    .waitFor());
            assertEquals(0, new ProcessBuilder("mknod", layer.resolve("disk").toString(), "b", "7", "0").start()
                    .waitFor());
        } else {
            System.out.println("MirrorsTest: device nodes other than whiteouts need root to make; checked as root");
        }

        assertEquals(0, new ProcessBuilder("chmod", "3777", layer.resolve("d").toString()).start().waitFor());
        assertEquals(0, new ProcessBuilder("chmod", "4777", layer.resolve("gone.txt").toString()).start().waitFor());
        assertEquals(0, new ProcessBuilder("mkfifo", layer.resolve("pipe").toString()).start().waitFor());
        assertEquals(0, new ProcessBuilder("chmod", "2755", layer.resolve("pipe").toString()).start().waitFor(),
                "a fifo with setgid: cleared by path, never opened (an open would block)");

        Mirrors.Sanitized s = Mirrors.sanitize(layer);

        assertEquals(new Mirrors.Sanitized(root ? 2 : 0, 4), s, "the file, the directory, the whiteout and the fifo");
        assertEquals(0777, (Integer) Files.getAttribute(layer.resolve("d"), "unix:mode") & 07777);
        assertEquals(0777, (Integer) Files.getAttribute(layer.resolve("gone.txt"), "unix:mode",
                java.nio.file.LinkOption.NOFOLLOW_LINKS) & 07777);
        assertTrue(Files.exists(layer.resolve("gone.txt"), java.nio.file.LinkOption.NOFOLLOW_LINKS), "the whiteout stays");
        assertFalse(Files.exists(layer.resolve("d/mem"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(layer.resolve("disk"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertEquals(0755, (Integer) Files.getAttribute(tool, "unix:mode") & 07777, "rwx kept, setuid and setgid gone");
    }
}
