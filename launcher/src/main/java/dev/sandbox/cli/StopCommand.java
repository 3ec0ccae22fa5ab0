package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.Stopping;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox stop}: ends a running sandbox's agent, keeping its changes. */
@Command(name = "stop", mixinStandardHelpOptions = true,
        description = {"Stop a running sandbox: SIGTERM to its agent, then SIGKILL once SECONDS have passed.", "",
            "Works on detached and foreground sandboxes alike. The sandbox stays, with its changes: 'sandbox start"
                    + " NAME' runs in it again, 'sandbox diff NAME' shows what changed. Stopping a sandbox that"
                    + " does not run does nothing (a note says so)."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:It is stopped (or was already).", "2:Bad usage, or no such sandbox.",
            "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox stop fix-tests", "  sandbox stop -t 0 fix-tests"})
public final class StopCommand implements Callable<Integer> {
    /** The longest wait -t takes, in seconds: an hour; more is a typo. */
    static final int MAX_SECONDS = 3600;

    @Spec
    CommandSpec spec;

    @Option(names = {"-t", "--time"}, paramLabel = "SECONDS", defaultValue = "10",
            description = "How long to wait after SIGTERM before SIGKILL (default: 10; 0 kills at once).")
    int seconds;

    @Option(names = "--host", paramLabel = "HOST",
            description = "Stop the sandbox on HOST (USER@HOST[:PORT] or a name from"
                    + " ~/.config/sandbox/hosts.yaml), over ssh;"
                    + " a sandbox started with 'run --host' goes to its own host without it.")
    String host;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox to stop.")
    String name;

    @Override
    public Integer call() {
        if (seconds < 0 || seconds > MAX_SECONDS) {
            throw new ParameterException(spec.commandLine(), "-t must be between 0 and " + MAX_SECONDS
                    + " seconds, not " + seconds);
        }
        Integer there = Remote.forward(spec, host, "stop", name, false);
        if (there != null) {
            return there;
        }
        new Stopping(Sandboxes.open(Context.ofCurrentProcess())).stop(name, seconds, SandboxCli.console(spec));
        return 0;
    }
}
