package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How mirrors read their host's answers and forward the lifecycle verbs. */
class MirrorsTest {
    @Test
    void parseList_readsEachSandboxsStatusAndEnd() {
        Map<String, Mirrors.Reported> r = Mirrors.parseList("""
                [ {"name" : "a", "status" : "running", "changes" : 0},
                  {"name" : "b", "status" : "stopped", "exitCode" : 3, "finishedAt" : "2026-12-01T10:00:00Z"},
                  {"name" : "c", "status" : "stopped", "finishedAt" : "not a time"} ]
                """);
        assertEquals(new Mirrors.Reported(true, null, null), r.get("a"));
        assertEquals(new Mirrors.Reported(false, 3, Instant.parse("2026-12-01T10:00:00Z")), r.get("b"));
        assertEquals(new Mirrors.Reported(false, null, null), r.get("c"));
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
}
