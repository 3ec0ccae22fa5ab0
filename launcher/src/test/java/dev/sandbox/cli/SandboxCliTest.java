package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class SandboxCliTest {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int execute(String... args) {
        return SandboxCli.commandLine(new PrintWriter(out, true), new PrintWriter(err, true), false).execute(args);
    }

    @Test
    void run_withoutCommand_isUsageErrorOnOneLine() {
        assertEquals(2, execute("run"));
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("sandbox: Missing the command: give it after '--'"), err.toString());
        assertTrue(err.toString().contains("'sandbox run --help'"), err.toString());
    }

    @Test
    void noSubcommand_isUsageErrorNamingEveryCommand() {
        assertEquals(2, execute());
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("sandbox: missing command: one of run, start, stop, list, attach, logs,"
                + " exec, shell, diff,"), err.toString());
        assertTrue(err.toString().contains(", images, completion (see 'sandbox --help')"), err.toString());
    }

    @Test
    void unknownSubcommand_isUsageError() {
        assertEquals(2, execute("bogus"));
        assertTrue(err.toString().startsWith("sandbox: "), err.toString());
    }

    @Test
    void run_invalidName_isRejectedBeforeAnythingHappens() {
        assertEquals(2, execute("run", "--name", "Bad Name", "--", "true"));
        assertEquals("sandbox: invalid sandbox name 'Bad Name': use lower-case letters, digits, '.', '_' and '-'"
                + " (at most 63, starting with a letter or digit)", err.toString().strip());
    }

    @Test
    void run_agentOptionsAfterCommand_areNotParsedAsOurs() {
        // --name after the command belongs to the agent: parsing must stop at CMD.
        RunCommand run = new RunCommand();
        picocli.CommandLine cl = new picocli.CommandLine(run);
        cl.setStopAtPositional(true);
        cl.parseArgs("claude", "--name", "x", "--stacktrace");
        assertEquals(java.util.List.of("claude", "--name", "x", "--stacktrace"), run.command);
        assertEquals(null, run.name);
    }

    @Test
    void version_printsLauncherVersion() {
        assertEquals(0, execute("--version"));
        assertTrue(out.toString().startsWith("sandbox "), out.toString());
    }

    @Test
    void version_ofASubcommand_isTheLaunchersToo() {
        assertEquals(0, execute("diff", "--version"));
        assertTrue(out.toString().startsWith("sandbox "), out.toString());
    }

    @Test
    void wantsStacktrace_onlyBeforeDoubleDash() {
        assertTrue(SandboxCli.wantsStacktrace("--stacktrace", "list"));
        assertTrue(SandboxCli.wantsStacktrace("run", "--stacktrace", "--", "x"));
        assertFalse(SandboxCli.wantsStacktrace("run", "--", "agent", "--stacktrace"));
    }

    @Test
    void oneLine_foldsMultiLineCommandsAndCutsLongOnes() {
        assertEquals("sh -c echo a; echo b", ListCommand.oneLine("sh -c \n  echo a;\n  echo b\n"));
        String cut = ListCommand.oneLine("x".repeat(100));
        assertEquals(60, cut.length());
        assertTrue(cut.endsWith("…"));
    }

    @Test
    void age_isShortAndCoarse() {
        java.time.Instant now = java.time.Instant.parse("2026-01-02T00:00:00Z");
        assertEquals("5s", ListCommand.age(java.time.Instant.parse("2026-01-01T23:59:55Z"), now));
        assertEquals("3m", ListCommand.age(java.time.Instant.parse("2026-01-01T23:57:00Z"), now));
        assertEquals("2h", ListCommand.age(java.time.Instant.parse("2026-01-01T22:00:00Z"), now));
        assertEquals("1d", ListCommand.age(java.time.Instant.parse("2026-01-01T00:00:00Z"), now));
        assertEquals("-", ListCommand.age(null, now));
    }

    @Test
    void invoked_namesTheSubcommandOnlyWhenNothingButOptionsComesFirst() {
        assertEquals("run", SandboxCli.invoked("run", "--", "claude"));
        assertEquals("list", SandboxCli.invoked("--stacktrace", "list"));
        assertEquals(null, SandboxCli.invoked("--help"));
        assertEquals(null, SandboxCli.invoked("frob"));
        assertEquals(null, SandboxCli.invoked());
    }

    @Test
    void help_listsEverySubcommand_andEachParsesAlone() {
        StringWriter out = new StringWriter();
        SandboxCli.commandLine(new PrintWriter(out, true), new PrintWriter(new StringWriter(), true), false)
                .execute("--help");
        for (String name : SandboxCli.SUBCOMMANDS.keySet()) {
            assertTrue(out.toString().contains("\n  " + name + " "), name + " in\n" + out);
            assertEquals(0, SandboxCli.commandLine(new PrintWriter(new StringWriter(), true),
                    new PrintWriter(new StringWriter(), true), false, name).execute(name, "--help"));
        }
    }

    @Test
    void helpWidth_isColumnsWhenExported_else80_neverBelowPicocliMinimum() {
        assertEquals(80, SandboxCli.helpWidth(null));
        assertEquals(80, SandboxCli.helpWidth(""));
        assertEquals(80, SandboxCli.helpWidth("wide"));
        assertEquals(132, SandboxCli.helpWidth("132"));
        assertEquals(55, SandboxCli.helpWidth("20"));
    }

    /** {@code run CASE -- true} for each case: exit 2 and one line that starts as {@code expected} says. */
    private void assertEachRunRefused(String[][] cases, String[] expected) {
        for (int i = 0; i < cases.length; i++) {
            out.getBuffer().setLength(0);
            err.getBuffer().setLength(0);
            String[] args = new String[cases[i].length + 3];
            args[0] = "run";
            System.arraycopy(cases[i], 0, args, 1, cases[i].length);
            args[args.length - 2] = "--";
            args[args.length - 1] = "true";
            assertEquals(2, execute(args), String.join(" ", args) + ": " + err);
            assertEquals(1, err.toString().lines().count(), err.toString());
            assertTrue(err.toString().startsWith(expected[i]), String.join(" ", args) + " said: " + err);
        }
    }

    @Test
    void run_badKubernetesInput_isOneUsageLineBeforeAnythingHappens() {
        String[][] cases = {
            {"--cpu", "2"},
            {"--deadline", "600"},
            {"--k8s", "--host", "build1"},
            {"--k8s=a/b/c"},
            {"--k8s", "--cpu", "-1"},
            {"--k8s", "--memory", "4GB"},
            {"--k8s", "--deadline", "5"},
            {"--k8s", "--k8s-kind", "x"},
            {"--k8s", "--k8s-mode", "privileged"},
            {"--k8s", "--k8s-image", " "},
            {"--k8s", "--containers"},
        };
        String[] expected = {
            "sandbox: --cpu goes with --k8s",
            "sandbox: --deadline goes with --k8s",
            "sandbox: --k8s can't go with --host",
            "sandbox: --k8s: not a namespace",
            "sandbox: --cpu takes a Kubernetes quantity such as 2, 500m or 4Gi, not '-1'",
            "sandbox: --memory takes a Kubernetes quantity such as 2, 500m or 4Gi, not '4GB'",
            "sandbox: --deadline must be between 60 and 604800 seconds, not 5",
            "sandbox: --k8s-kind must be pod or sandbox, not 'x'",
            "sandbox: --k8s-mode must be auto, helper or reduced, not 'privileged'",
            "sandbox: --k8s-image needs an image name",
            "sandbox: --containers can't go with --k8s",
        };
        assertEachRunRefused(cases, expected);
    }

    @Test
    void run_badNetworkInput_isOneUsageLineBeforeAnythingHappens() {
        String[][] cases = {
            {"-p", "70000"},
            {"-p", "abc"},
            {"--net", "egress", "--allow-domain", "example.com"},
            {"--net", "none", "--allow-domain", "example.com"},
            {"--net", "host", "-p", "8080"},
            {"--net", "none", "--allow-host-loopback"},
            {"--net", "bogus"},
            {"--allow-domain", "not a domain"},
        };
        String[] expected = {
            "sandbox: can't publish '70000': the port must be a number from 1 to 65535",
            "sandbox: can't publish 'abc': the port must be a number from 1 to 65535",
            "sandbox: --allow-domain needs --net allow: with --net egress every domain is reachable, so a list of"
                    + " allowed domains would mean nothing",
            "sandbox: --allow-domain needs --net allow: with --net none no domain is reachable",
            "sandbox: -p needs the sandbox's own network: with --net host its ports are this machine's already",
            "sandbox: --allow-host-loopback goes with --net egress, not --net none",
            "sandbox: Invalid value for option '--net'",
            "sandbox: can't allow 'not a domain': expected a host name",
        };
        assertEachRunRefused(cases, expected);
    }
}
