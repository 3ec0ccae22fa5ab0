package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.net.NetMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunsTest {
    @TempDir
    Path dir;

    private static Sandbox running() {
        return new Sandbox("x", "s", "/r", "/r", List.of("sh"), Sandbox.Status.RUNNING, null, null,
                Instant.parse("2026-12-01T08:00:00Z"), null, null, null, NetMode.none, List.of(), "default",
                "/tmp/sandbox-0/a.sock", List.of(), List.of(), false);
    }

    @Test
    void recordExit_detachedWithExitFile_recordsItsStatusAndDropsTheSocket() throws IOException {
        Files.writeString(RunState.exitFile(dir), "3\n");
        Sandbox sb = Runs.recordExit(dir, running());
        assertEquals(Sandbox.Status.STOPPED, sb.status());
        assertEquals(3, sb.exitCode());
        assertNull(sb.socket());
        assertEquals(Files.getLastModifiedTime(RunState.exitFile(dir)).toInstant(), sb.finishedAt());
    }

    @Test
    void recordExit_helperKilledBeforeWriting_isStoppedWithNoStatus() throws IOException {
        Files.writeString(RunState.exitFile(dir), "3"); // cut short: no newline
        Sandbox sb = Runs.recordExit(dir, running());
        assertEquals(Sandbox.Status.STOPPED, sb.status());
        assertNull(sb.exitCode());
        assertNull(sb.finishedAt());
    }

    @Test
    void recordExit_alreadyStopped_isLeftAsItIs() throws IOException {
        Files.writeString(RunState.exitFile(dir), "3\n");
        Sandbox stopped = running().finished(0, Instant.EPOCH);
        assertSame(stopped, Runs.recordExit(dir, stopped));
    }

    @Test
    void socketPath_fitsSunPath_andIsTheSameForTheSameSandbox() {
        Path runtime = Path.of("/run/user/4294967294/sandbox");
        Path deep = Path.of("/home/" + "d".repeat(200) + "/.git/sandbox/sandboxes/" + "n".repeat(63));
        Path socket = Runs.socketPath(runtime, deep);
        assertTrue(socket.toString().length() <= 107, socket.toString());
        assertEquals(runtime, socket.getParent());
        assertEquals(socket, Runs.socketPath(runtime, deep));
        assertTrue(!socket.equals(Runs.socketPath(runtime, deep.resolveSibling("other"))), "another sandbox, another socket");
    }
}
