package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The agent's exit status is the launcher's: its own code, or 128+n when signal n killed it. */
class ExitStatusIT {
    static Stream<Arguments> cases() {
        return Stream.of(Runner.values()).flatMap(runner -> Stream.of(
                Arguments.of(runner, "exit 3", 3),
                Arguments.of(runner, "kill -TERM $$", 143),
                Arguments.of(runner, "kill -KILL $$", 137)));
    }

    @ParameterizedTest(name = "{0}: sh -c ''{1}'' exits {2}")
    @MethodSource("cases")
    void run_agentExitsOrIsKilled_launcherExitsWithItsStatus(Runner runner, String script, int expected) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Proc.Result r = new Cli(ws).run(repo, "run", "--name", "s", "--", "sh", "-c", script);
            assertEquals(expected, r.exitCode(), r.describe());
            assertEquals("", r.stdout(), r.describe());
            assertEquals("", r.stderr(), "the agent's status is not an error of sandbox's" + r.describe());
        }
    }
}
