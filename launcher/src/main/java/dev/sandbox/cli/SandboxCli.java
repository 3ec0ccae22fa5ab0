package dev.sandbox.cli;

import dev.sandbox.error.SandboxException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import picocli.CommandLine;

/**
 * Builds the configured command line once, for {@code main} and for tests alike: controlled
 * failures become one {@code sandbox: ...} line and their exit code, usage errors exit 2,
 * anything unexpected exits 125, and stack traces appear only with {@code --stacktrace}.
 */
public final class SandboxCli {
    private SandboxCli() {
    }

    public static int execute(String... args) {
        PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true);
        PrintWriter err = new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true);
        return commandLine(out, err, wantsStacktrace(args)).execute(args);
    }

    public static CommandLine commandLine(PrintWriter out, PrintWriter err, boolean stacktrace) {
        CommandLine cli = new CommandLine(new SandboxCommand());
        cli.setOut(out);
        cli.setErr(err);
        cli.getSubcommands().get("run").setStopAtPositional(true);
        cli.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            err.println("sandbox: " + ex.getMessage() + " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')");
            if (stacktrace) {
                ex.printStackTrace(err);
            }
            return SandboxException.USAGE;
        });
        cli.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            if (ex instanceof SandboxException se) {
                if (!se.getMessage().isEmpty()) {
                    err.println("sandbox: " + se.getMessage());
                }
                if (stacktrace) {
                    se.printStackTrace(err);
                }
                return se.exitCode();
            }
            err.println("sandbox: internal error: " + ex
                    + (stacktrace ? "" : " (run again with --stacktrace for details)"));
            if (stacktrace) {
                ex.printStackTrace(err);
            }
            return SandboxException.FAILURE;
        });
        return cli;
    }

    /**
     * Whether {@code --stacktrace} is among our own options; decided before parsing so that
     * even a parse failure can show its trace, and never looking past {@code --}, where the
     * agent's arguments start.
     */
    static boolean wantsStacktrace(String... args) {
        for (String a : List.of(args)) {
            if (a.equals("--")) {
                return false;
            }
            if (a.equals("--stacktrace")) {
                return true;
            }
        }
        return false;
    }
}
