package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunStateTest {
    @TempDir
    Path dir;

    @Test
    void pidsAndExitStatus_readWhatTheHelperWrote_andNothingElse() throws Exception {
        assertNull(RunState.pids(dir), "no file");
        Files.writeString(RunState.pidFile(dir), "12 34\n");
        assertEquals(new RunState.Pids(12, 34), RunState.pids(dir));
        Files.writeString(RunState.pidFile(dir), "12 34"); // cut short by a kill: no newline
        assertNull(RunState.pids(dir));
        Files.writeString(RunState.pidFile(dir), "12\n");
        assertNull(RunState.pids(dir));
        Files.writeString(RunState.exitFile(dir), "137\n");
        assertEquals(137, RunState.exitStatus(dir));
        Files.writeString(RunState.exitFile(dir), "256\n");
        assertNull(RunState.exitStatus(dir), "not a status");
        Files.writeString(RunState.exitFile(dir), "x".repeat(RunState.MAX_LINE + 10) + "\n");
        assertNull(RunState.exitStatus(dir), "longer than a line may be");
    }

    @Test
    void isHelperOf_onlyTheProcessWhoseArgvLocksThisSandbox() throws Exception {
        Path other = dir.resolve("other");
        Files.createDirectories(other);
        // A real process whose command line holds --lock with this sandbox's agent lock, as the helper's does.
        Process p = new ProcessBuilder("sh", "-c", "sleep 30; :", "sh", "--lock", RunState.agentLock(dir).toString(),
                "--pid-file", "x").start();
        try {
            assertTrue(RunState.isHelperOf(p.pid(), dir));
            assertFalse(RunState.isHelperOf(p.pid(), other), "another sandbox's pid file copied here");
            assertFalse(RunState.isHelperOf(ProcessHandle.current().pid(), dir), "a process that is no helper");
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        assertFalse(RunState.isHelperOf(p.pid(), dir), "a process gone");
    }

    @Test
    void parseTerminal_theSupervisorsLine_elseNull() {
        assertEquals(new RunState.Terminal(true, false, 12), RunState.parseTerminal("attached=1 waiting=0 idle-ms=12\n"));
        assertNull(RunState.parseTerminal("busy\n"));
        assertNull(RunState.parseTerminal("attached=1 waiting=0 idle-ms=-3\n"));
    }
}
