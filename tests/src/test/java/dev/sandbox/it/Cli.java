package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The real {@code sandbox} CLI of the distribution under test, run as a subprocess by one identity. */
final class Cli {
    private final Workspace ws;

    Cli(Workspace ws) {
        this.ws = ws;
    }

    /** The clean environment plus {@code extra}. */
    Map<String, String> env(Map<String, String> extra) {
        Map<String, String> env = Host.cleanEnv(ws.home());
        env.putAll(extra);
        return env;
    }

    List<String> argv(Map<String, String> env, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Host.sandboxBin().toString());
        cmd.addAll(List.of(args));
        return ws.runner().argv(cmd, env);
    }

    Proc.Result run(Path cwd, String... args) {
        return run(cwd, Map.of(), args);
    }

    Proc.Result run(Path cwd, Map<String, String> extraEnv, String... args) {
        Map<String, String> env = env(extraEnv);
        return Proc.run(argv(env, args), cwd, env);
    }

    /** As {@link #run(Path, Map, String...)}, failing the test after {@code timeout} instead of the default. */
    Proc.Result run(Path cwd, Map<String, String> extraEnv, Duration timeout, String... args) {
        Map<String, String> env = env(extraEnv);
        return Proc.start(argv(env, args), cwd, env).await(timeout);
    }

    /**
     * Runs with {@code extraEnv} added, killed with everything it started once {@code limit}
     * has passed since its start; a timeout is reported, not failed.
     */
    Proc.Timed runTimed(Path cwd, Map<String, String> extraEnv, Duration limit, String... args) {
        Map<String, String> env = env(extraEnv);
        return Proc.start(argv(env, args), cwd, env).awaitAtMost(limit);
    }

    Proc.Running start(Path cwd, String... args) {
        Map<String, String> env = env(Map.of());
        return Proc.start(argv(env, args), cwd, env);
    }

    /** Runs and asserts exit 0 with nothing on stderr. */
    Proc.Result runOk(Path cwd, String... args) {
        Proc.Result r = run(cwd, args);
        assertEquals(0, r.exitCode(), r.describe());
        assertEquals("", r.stderr(), "nothing on stderr" + r.describe());
        return r;
    }

    /** {@code sandbox list --json}, parsed. */
    JsonNode list(Path cwd) {
        Proc.Result r = runOk(cwd, "list", "--json");
        try {
            JsonNode all = new ObjectMapper().readTree(r.stdout());
            assertTrue(all.isArray(), "list --json prints an array" + r.describe());
            return all;
        } catch (JsonProcessingException e) {
            throw new AssertionError("list --json printed no valid JSON: " + e.getOriginalMessage() + r.describe(), e);
        }
    }

    /** The {@code list --json} entry of sandbox {@code name}, or null. */
    JsonNode listed(Path cwd, String name) {
        for (JsonNode n : list(cwd)) {
            if (name.equals(n.path("name").asText())) {
                return n;
            }
        }
        return null;
    }

    /**
     * Asserts the shape of every error: the expected exit code and exactly one line on stderr,
     * {@code sandbox: ...} or the helper's {@code sandbox-helper: ...}, without a stack trace.
     */
    static String assertOneErrorLine(Proc.Result r, int exitCode) {
        assertEquals(exitCode, r.exitCode(), "exit code" + r.describe());
        assertEquals(1, r.stderrLines().size(), "exactly one line on stderr" + r.describe());
        String line = r.stderrLines().get(0);
        assertTrue(line.startsWith("sandbox: ") || line.startsWith("sandbox-helper: "),
                "the line names who complains" + r.describe());
        assertNoStackTrace(r);
        return line;
    }

    static void assertNoStackTrace(Proc.Result r) {
        String all = r.stdout() + r.stderr();
        assertFalse(all.contains("at dev.") || all.contains("Exception") || all.contains("\tat "),
                "no Java stack trace or exception name" + r.describe());
    }
}
