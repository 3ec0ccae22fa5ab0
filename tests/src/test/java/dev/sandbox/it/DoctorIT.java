package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code sandbox doctor} as a newcomer meets it: an optional part missing is a ⚠ line with its
 * fix that does not fail the machine, a required one a ✘ line that does, and {@code --json}
 * says the same as the text.
 */
class DoctorIT {
    /** pasta comes from Debian's passt package, which also holds passt itself and AVX2 builds of both. */
    private static final Set<String> EGRESS_TOOLS = Set.of("pasta", "pasta.avx2", "passt", "passt.avx2", "slirp4netns");

    @ParameterizedTest
    @EnumSource(Runner.class)
    void withoutPastaAndSlirp4netns_warnsWithTheFix_exitsZero_andTheClaudeProfileSaysWhatToInstall(Runner runner)
            throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path bin = NetworkIT.pathWithout(ws.mkdir("bin"), EGRESS_TOOLS);
            ws.own();
            Cli cli = new Cli(ws);
            Map<String, String> noEgress = Map.of("PATH", bin.toString());

            Proc.Result r = cli.run(repo, noEgress, "doctor");

            assertEquals(0, r.exitCode(), "only optional parts are missing" + r.describe());
            assertEquals("", r.stderr(), r.describe());
            List<String> lines = r.stdoutLines();
            assertFalse(lines.stream().anyMatch(l -> l.startsWith("✘")), "no ✘ line" + r.describe());
            int egress = lines.indexOf("⚠ network (--net egress): neither pasta nor slirp4netns is installed");
            assertTrue(egress >= 0, "a ⚠ line names pasta" + r.describe());
            assertTrue(lines.get(egress + 1).startsWith("    fix: sudo apt-get install passt"), r.describe());
            String turnsOff = lines.get(egress + 2);
            assertTrue(turnsOff.startsWith("    turns off: --net egress, used by the profiles ")
                    && turnsOff.contains("claude"), "it says what is off, and for which profiles" + r.describe());
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("✔ overlayfs in a user namespace: mounted on ")),
                    "the overlay probe passed" + r.describe());

            Proc.Result claude = cli.run(repo, noEgress, "run", "--", "claude");
            String line = Cli.assertOneErrorLine(claude, 125);
            assertTrue(line.contains("pasta") && line.contains("sudo apt-get install passt"), line);
            assertEquals(0, cli.list(repo).size(), "the refused run left no sandbox");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void helperMissing_isAFailedRequiredCheck_exitsOne_withoutAStackTrace(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Path missing = ws.dir().resolve("no-such-helper");
            Map<String, String> env = Map.of("SANDBOX_HELPER", missing.toString());

            Proc.Result r = cli.run(repo, env, "doctor");

            assertEquals(1, r.exitCode(), r.describe());
            Cli.assertNoStackTrace(r);
            List<String> lines = r.stdoutLines();
            int helper = lines.indexOf("✘ helper: can't find the helper '" + missing + "': No such file or directory");
            assertTrue(helper >= 0, "a ✘ line for the helper" + r.describe());
            assertTrue(lines.get(helper + 1).startsWith("    fix: ") && lines.get(helper + 1).contains("SANDBOX_HELPER"),
                    r.describe());
            assertTrue(lines.get(lines.size() - 1).startsWith("Sandboxes can't run here"), r.describe());

            Proc.Result json = cli.run(repo, env, "doctor", "--json");
            assertEquals(1, json.exitCode(), json.describe());
            assertAgrees(r, json);
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void json_parses_andSaysWhatTheTextSays(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path bin = NetworkIT.pathWithout(ws.mkdir("bin"), EGRESS_TOOLS);
            ws.own();
            Cli cli = new Cli(ws);
            for (Map<String, String> env : List.of(Map.<String, String>of(), Map.of("PATH", bin.toString()))) {
                Proc.Result text = cli.run(repo, env, "doctor");
                Proc.Result json = cli.run(repo, env, "doctor", "--json");
                assertEquals(text.exitCode(), json.exitCode(), json.describe());
                assertEquals("", json.stderr(), json.describe());
                assertAgrees(text, json);
            }
        }
    }

    /**
     * Run inside a sandbox (the distribution in the user's home, as install.sh's link into a
     * checkout under the home makes it visible there), doctor says it is inside, and each
     * nesting line's mark is what the same attempt made directly in that sandbox gave. For the
     * host's root a refused fresh /proc is refused by design, and the line says why.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void insideASandbox_saysSo_andEachNestingLineIsWhatADirectAttemptGives(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Host.has("unshare"), "the nesting probes are unshare's (util-linux)");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path dist = ws.home().resolve(".local/lib/sandbox");
            Files.createDirectories(dist.getParent());
            Proc.hostOk(Path.of("/"), "cp", "-a", Host.dist().toString(), dist.toString());
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result onHost = cli.run(repo, "doctor", "--json");
            assertTrue(new ObjectMapper().readTree(onHost.stdout()).get("inside").isNull(),
                    "on the host doctor is not inside" + onHost.describe());

            String sandbox = dist.resolve("bin/sandbox").toString();
            Proc.Result r = cli.run(repo, "run", "--name", "doc", "--", "sh", "-c", String.join("\n",
                    "unshare -Ur true 2>/dev/null; echo \"USERNS=$?\"",
                    "unshare -Urmpf --mount-proc true 2>/dev/null; echo \"PROC=$?\"",
                    "'" + sandbox + "' doctor > doctor.txt; echo \"DOCTOR=$?\"",
                    "'" + sandbox + "' doctor --json > doctor.json; echo \"JSON=$?\"",
                    ""));

            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdoutLines();
            boolean userns = out.contains("USERNS=0");
            boolean proc = out.contains("PROC=0");
            String text = Files.readString(Repos.sandboxDir(repo, "doc").resolve("upper/doctor.txt"));
            String json = Files.readString(Repos.sandboxDir(repo, "doc").resolve("upper/doctor.json"));
            List<String> lines = text.lines().toList();
            String context = r.describe() + "\n--- doctor inside ---\n" + text;
            assertEquals("Inside sandbox 'doc': these checks are of the sandbox and what it allows nested sandboxes,"
                    + " not of the host (run 'sandbox doctor' there for the host).", lines.get(0), context);
            assertTrue(lines.contains(userns
                    ? "✔ user namespaces: inside sandbox 'doc', nested ones allowed (unshare -Ur true works)"
                    : "✘ user namespaces: inside sandbox 'doc', nested ones refused: unshare -Ur true: unshare:"
                            + " write failed /proc/self/uid_map: Operation not permitted"),
                    "the user namespaces line is what unshare -Ur gave (" + userns + ")" + context);
            String procLine = lines.stream().filter(l -> l.contains(" nested /proc: ")).findFirst().orElse("");
            if (proc) {
                assertEquals("✔ nested /proc: allowed (unshare -Urmpf --mount-proc true works)", procLine, context);
            } else {
                assertTrue(procLine.startsWith("⚠ nested /proc: refused"), context);
                assertEquals(runner == Runner.ROOT, procLine.startsWith("⚠ nested /proc: refused by design: the agent"
                        + " is this machine's root, and a fresh /proc would let it write /proc/sys and"
                        + " /proc/sysrq-trigger (unshare -Urmpf --mount-proc true: "), "by design for root only" + context);
            }
            JsonNode report = new ObjectMapper().readTree(json);
            assertEquals("doc", report.path("inside").path("sandbox").asText(), json);
            assertEquals(runner == Runner.ROOT, report.path("inside").path("hostRoot").asBoolean(), json);
        }
    }

    @Test
    void tunClosedToTheUser_isAWarning_andAnEgressRunIsRefusedInOneLineBeforeAnySandboxExists() throws IOException {
        Runner runner = Runner.USER;
        runner.assumeAvailable();
        Skip.unless(Host.isRoot(), "closing /dev/net/tun for the user needs root (a private mount namespace)");
        Skip.unless(Host.has("pasta"), "the refusal under test is the one a machine with pasta gives");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Map<String, String> env = cli.env(Map.of());
            List<String> inNamespace = Host.tunClosed(ws.dir());

            List<String> doctor = new ArrayList<>(inNamespace);
            doctor.addAll(cli.argv(env, "doctor"));
            Proc.Result d = Proc.run(doctor, repo, env);
            assertEquals(0, d.exitCode(), d.describe());
            List<String> lines = d.stdoutLines();
            int egress = lines.indexOf("⚠ network (--net egress): /dev/net/tun is not readable and writable by you"
                    + " (0600 root where no udev runs), so pasta and slirp4netns cannot make the sandbox's interface");
            assertTrue(egress >= 0, d.describe());
            assertEquals("    fix: sudo chmod 0666 /dev/net/tun, as udev does", lines.get(egress + 1), d.describe());

            List<String> run = new ArrayList<>(inNamespace);
            run.addAll(cli.argv(env, "run", "--net", "egress", "--", "true"));
            Proc.Result r = Proc.run(run, repo, env);
            assertEquals("sandbox: can't give the sandbox outbound network: /dev/net/tun is not readable and writable"
                    + " by you (0600 root where no udev runs), so pasta and slirp4netns cannot make the sandbox's"
                    + " interface (sudo chmod 0666 /dev/net/tun, as udev does)", Cli.assertOneErrorLine(r, 125));
            assertEquals(0, cli.list(repo).size(), "the refused run left no sandbox");
        }
    }

    /** Every check of the JSON is the text's line, fix and turned-off features, in the same order. */
    private static void assertAgrees(Proc.Result text, Proc.Result json) throws IOException {
        JsonNode report = new ObjectMapper().readTree(json.stdout());
        assertEquals(text.exitCode() == 0, report.get("ok").asBoolean(), "ok is the exit status" + json.describe());
        List<String> expected = new ArrayList<>();
        assertTrue(report.has("inside"), "inside is there, null on a host" + json.describe());
        JsonNode inside = report.get("inside");
        if (!inside.isNull()) {
            expected.add("Inside " + (inside.get("sandbox").isNull() ? "a sandbox"
                    : "sandbox '" + inside.get("sandbox").asText() + "'") + ": these checks are of the sandbox and"
                    + " what it allows nested sandboxes, not of the host (run 'sandbox doctor' there for the host).");
        }
        Boolean required = null;
        boolean anyFailed = false;
        for (JsonNode c : report.get("checks")) {
            for (String field : List.of("name", "status", "required", "detail", "fix", "turnsOff", "profiles")) {
                assertTrue(c.has(field), "every check has '" + field + "'" + json.describe());
            }
            if (required == null || required != c.get("required").asBoolean()) {
                assertTrue(required == null || required, "required checks come first" + json.describe());
                required = c.get("required").asBoolean();
                expected.add(required ? "Every sandbox needs:" : "Some runs need:");
            }
            String status = c.get("status").asText();
            assertTrue(List.of("ok", "warning", "failed").contains(status), json.describe());
            assertTrue(!status.equals("failed") || required, "only a required check fails" + json.describe());
            assertTrue(!status.equals("warning") || !required, "only an optional check warns" + json.describe());
            anyFailed |= status.equals("failed");
            expected.add((status.equals("ok") ? "✔ " : status.equals("warning") ? "⚠ " : "✘ ")
                    + c.get("name").asText() + ": " + c.get("detail").asText());
            assertEquals(status.equals("ok"), c.get("fix").isNull(), "a fix exactly where a check did not pass"
                    + json.describe());
            if (!c.get("fix").isNull()) {
                expected.add("    fix: " + c.get("fix").asText());
            }
            List<String> off = new ArrayList<>();
            c.get("turnsOff").forEach(n -> off.add(n.asText()));
            List<String> profiles = new ArrayList<>();
            c.get("profiles").forEach(n -> profiles.add(n.asText()));
            if (!off.isEmpty()) {
                expected.add("    turns off: " + String.join(", ", off) + (profiles.isEmpty() ? ""
                        : ", used by the profile" + (profiles.size() == 1 ? " " : "s ") + String.join(", ", profiles)));
            }
        }
        assertEquals(!anyFailed, report.get("ok").asBoolean(), json.describe());
        List<String> lines = text.stdoutLines();
        assertEquals(expected, lines.subList(0, lines.size() - 1), "text and JSON agree" + text.describe()
                + json.describe());
    }
}
