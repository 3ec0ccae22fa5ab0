package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ExecCommandTest {
    @Test
    void theCommandMustFollowADoubleDash() {
        assertTrue(ExecCommand.dashDashBeforeCommand(List.of("exec", "n", "--", "ls", "-l"), List.of("ls", "-l")));
        assertTrue(ExecCommand.dashDashBeforeCommand(List.of("exec", "-it", "n", "--", "a", "--", "b"),
                List.of("a", "--", "b")));
        assertFalse(ExecCommand.dashDashBeforeCommand(List.of("exec", "n", "ls"), List.of("ls")));
        assertFalse(ExecCommand.dashDashBeforeCommand(List.of("exec", "--", "n", "ls"), List.of("ls")));
    }
}
