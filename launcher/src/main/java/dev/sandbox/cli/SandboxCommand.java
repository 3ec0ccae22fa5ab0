package dev.sandbox.cli;

import dev.sandbox.core.Version;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/** The top-level {@code sandbox} command: only groups the subcommands ({@link SandboxCli#SUBCOMMANDS}). */
@Command(name = "sandbox",
        mixinStandardHelpOptions = true,
        versionProvider = SandboxCommand.VersionProvider.class,
        description = {"Run AI coding agents in copy-on-write sandboxes of a git repository.", "",
            "Each sandbox sees the repository (with untracked and ignored files) at its own path, writes to a private"
                    + " layer, has its own processes and network, and leaves your working tree untouched."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:Success; 'run' exits with the agent's own status instead.",
            "1:Nothing to harvest, or conflicts left.", "2:Bad usage.", "125:A failure of sandbox's own."})
public final class SandboxCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Option(names = "--stacktrace", scope = ScopeType.INHERIT,
            description = "Print the stack trace of an error, for bug reports.")
    boolean stacktrace;

    /** Read before picocli parses anything (VmBridge): listed here for the help. */
    @Option(names = "--vm",
            description = "Run the command in sandbox's Linux VM (Vagrantfile), copying the repository in and the"
                    + " work back as branches; the default on macOS (SANDBOX_VM=off: not).")
    boolean vm;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing command: one of "
                + String.join(", ", SandboxCli.SUBCOMMANDS.keySet()));
    }

    /** The version this launcher was built as. */
    static final class VersionProvider implements picocli.CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"sandbox " + Version.current()};
        }
    }
}
