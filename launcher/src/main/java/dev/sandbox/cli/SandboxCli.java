package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.core.Names;
import dev.sandbox.error.SandboxException;
import dev.sandbox.vm.VmBridge;
import java.io.PrintWriter;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Builds the configured command line once, for {@code main} and for tests alike: controlled
 * failures become one {@code sandbox: ...} line and their exit code, usage errors exit 2,
 * anything unexpected exits 125, and stack traces appear only with {@code --stacktrace}.
 */
public final class SandboxCli {
    private SandboxCli() {
    }

    /** The subcommands, in the order help lists them. */
    static final Map<String, Supplier<Object>> SUBCOMMANDS = subcommands();

    private static Map<String, Supplier<Object>> subcommands() {
        Map<String, Supplier<Object>> all = new LinkedHashMap<>();
        all.put("run", RunCommand::new);
        all.put("start", StartCommand::new);
        all.put("stop", StopCommand::new);
        all.put("list", ListCommand::new);
        all.put("attach", AttachCommand::new);
        all.put("logs", LogsCommand::new);
        all.put("exec", ExecCommand::new);
        all.put("shell", ShellCommand::new);
        all.put("diff", DiffCommand::new);
        all.put("compare", CompareCommand::new);
        all.put("patch", PatchCommand::new);
        all.put("commit", CommitCommand::new);
        all.put("merge", MergeCommand::new);
        all.put("apply", ApplyCommand::new);
        all.put("rebase", RebaseCommand::new);
        all.put("ports", PortsCommand::new);
        all.put("rm", RmCommand::new);
        all.put("gc", GcCommand::new);
        all.put("host", HostCommand::new);
        all.put("doctor", DoctorCommand::new);
        all.put("profiles", ProfilesCommand::new);
        all.put("images", ImagesCommand::new);
        all.put("completion", CompletionCommand::new);
        return Collections.unmodifiableMap(all);
    }

    public static int execute(String... args) {
        Console console = Console.system();
        if (VmBridge.wanted(args, System.getProperty("os.name"), System.getenv())) {
            Context here = Context.ofCurrentProcess();
            return VmBridge.execute(args, console, new VmBridge.Local(here.cwd(), here.home(), here.env(),
                    here.sandboxHome(), () -> Names.generate(n -> false)));
        }
        return commandLine(console.out(), console.err(), wantsStacktrace(args), invoked(args)).execute(args);
    }

    public static CommandLine commandLine(PrintWriter out, PrintWriter err, boolean stacktrace) {
        return commandLine(out, err, stacktrace, null);
    }

    /**
     * The command line with every subcommand, or with only {@code only} when that names one:
     * picocli reads each command's annotations when it is added, which costs more than
     * anything else a short command does (100 ms of a 350 ms run).
     */
    static CommandLine commandLine(PrintWriter out, PrintWriter err, boolean stacktrace, String only) {
        Console console = Console.of(out, err);
        CommandLine cli = new CommandLine(new SandboxCommand());
        SUBCOMMANDS.forEach((name, command) -> {
            if (only == null || only.equals(name)) {
                cli.addSubcommand(name, command.get());
            }
        });
        for (CommandLine sub : cli.getSubcommands().values()) {
            sub.getCommandSpec().versionProvider(new SandboxCommand.VersionProvider()); // for their own --version
        }
        cli.setOut(out);
        cli.setErr(err);
        cli.setUsageHelpAutoWidth(true);
        cli.setUsageHelpWidth(helpWidth(System.getenv("COLUMNS")));
        CommandLine run = cli.getSubcommands().get("run");
        if (run != null) {
            run.setStopAtPositional(true);
        }
        cli.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            console.error(ex.getMessage() + " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')");
            if (stacktrace) {
                ex.printStackTrace(err);
            }
            return SandboxException.USAGE;
        });
        cli.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            if (ex instanceof SandboxException se) {
                if (!se.getMessage().isEmpty()) {
                    console.error(se.getMessage());
                }
                if (stacktrace) {
                    se.printStackTrace(err);
                }
                return se.exitCode();
            }
            console.error("internal error: " + ex + (stacktrace ? "" : " (run again with --stacktrace for details)"));
            if (stacktrace) {
                ex.printStackTrace(err);
            }
            return SandboxException.FAILURE;
        });
        return cli;
    }

    /**
     * The console of the command line {@code spec} belongs to: its stdout and stderr, which
     * {@link #commandLine} set on every subcommand. Every command prints through this.
     */
    static Console console(CommandSpec spec) {
        return Console.of(spec.commandLine().getOut(), spec.commandLine().getErr());
    }

    /**
     * The width of help when it does not go to a terminal, whose own width picocli asks stty for:
     * {@code $COLUMNS} when exported, as ls(1) does, else 80; never below picocli's minimum of 55.
     */
    static int helpWidth(String columns) {
        if (columns != null && columns.matches("[0-9]{1,4}")) {
            return Math.max(55, Integer.parseInt(columns));
        }
        return 80;
    }

    /** The subcommand {@code args} invoke, if they name one before anything else but options; else null. */
    static String invoked(String... args) {
        for (String a : args) {
            if (!a.startsWith("-")) {
                return SUBCOMMANDS.containsKey(a) ? a : null;
            }
            if (!a.equals("--stacktrace")) {
                return null; // --help, --version or an unknown option: the whole command line answers
            }
        }
        return null;
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
