package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.core.Sandbox;
import dev.sandbox.core.SandboxView;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.List;
import org.junit.jupiter.api.Test;

class ListCommandTest {
    private static SandboxView view(Sandbox.Status status, Integer exit, boolean attached, boolean waiting) {
        return new SandboxView("n", status, exit, null, null, null, 0, 0, List.of(), null, null, null, null, List.of(),
                null, attached, waiting);
    }

    @Test
    void status_saysWhatTheSupervisorSays_andAnAttachedOneIsAttachedEvenWhenItWaits() {
        assertEquals("running", ListCommand.status(view(Sandbox.Status.RUNNING, null, false, false)));
        assertEquals("waiting", ListCommand.status(view(Sandbox.Status.RUNNING, null, false, true)));
        assertEquals("running (attached)", ListCommand.status(view(Sandbox.Status.RUNNING, null, true, false)));
        assertEquals("running (attached)", ListCommand.status(view(Sandbox.Status.RUNNING, null, true, true)));
        assertEquals("stopped (exit 0)", ListCommand.status(view(Sandbox.Status.STOPPED, 0, false, false)));
        assertEquals("stopped (exit 137)", ListCommand.status(view(Sandbox.Status.STOPPED, 137, false, false)));
        assertEquals("stopped", ListCommand.status(view(Sandbox.Status.STOPPED, null, false, false)));
    }

    @Test
    void watchFrame_redrawsInPlace_erasingWhatThePreviousFrameLeft() {
        String header = ListCommand.header(2, ZonedDateTime.of(2026, 12, 1, 8, 30, 5, 0, ZoneOffset.UTC));
        assertEquals("Every 2s: sandbox list    2026-12-01 08:30:05", header);
        assertEquals("Every 0.5s: sandbox list    2026-12-01 08:30:05",
                ListCommand.header(0.5, ZonedDateTime.of(2026, 12, 1, 8, 30, 5, 0, ZoneOffset.UTC)));
        assertEquals("\u001b[HH\u001b[K\n\u001b[K\nA  B\u001b[K\na  b\u001b[K\n\u001b[K\u001b[J",
                ListCommand.frame("H", "A  B\na  b\n"));
    }

    @Test
    void table_hasAHostColumn_onlyWhenASandboxRunsElsewhere() {
        java.time.Instant now = java.time.Instant.parse("2026-12-01T10:00:00Z");
        SandboxView local = new SandboxView("here", Sandbox.Status.STOPPED, 0, null, null, null, 0, 0, List.of("sh"),
                now, null, null, null, List.of(), null, false, false);
        SandboxView far = new SandboxView("far", Sandbox.Status.RUNNING, null, null, null, null, 0, 0, List.of("sh"),
                now, null, null, null, List.of(), null, false, false, "alice@build1:2222");
        String alone = ListCommand.table(List.of(local), now);
        assertEquals("NAME  STATUS", alone.lines().findFirst().orElseThrow().substring(0, 12));
        org.junit.jupiter.api.Assertions.assertFalse(alone.contains("HOST"), alone);
        List<String> both = ListCommand.table(List.of(local, far), now).lines().toList();
        assertEquals(List.of("NAME", "HOST", "STATUS"), List.of(both.get(0).split("\\s+")).subList(0, 3));
        assertEquals(List.of("here", "local", "stopped"), List.of(both.get(1).split("\\s+")).subList(0, 3));
        assertEquals(List.of("far", "alice@build1:2222", "running"),
                List.of(both.get(2).split("\\s+")).subList(0, 3));
    }
}
