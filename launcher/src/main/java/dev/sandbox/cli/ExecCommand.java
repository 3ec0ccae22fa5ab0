package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.Sessions;
import dev.sandbox.error.SandboxException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox exec}: runs a command beside the agent of a running sandbox. */
@Command(name = "exec", mixinStandardHelpOptions = true,
        description = {"Run CMD inside a running sandbox, beside its agent, and exit with CMD's status.", "",
            "CMD sees what the agent sees: the same files, processes, network, host name, environment and working"
                    + " directory, with the same restrictions. What it changes goes to the sandbox's layer, as the"
                    + " agent's changes do. A stopped sandbox runs again with 'sandbox start NAME -- CMD'."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"n:CMD's own exit status n.", "128+n:A signal n killed CMD.", "126:CMD is not executable.",
            "127:CMD was not found.", "1:The sandbox is not running.", "2:Bad usage, or there is no such sandbox.",
            "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox exec calm-otter -- git status", "  sandbox exec -it calm-otter -- bash",
            "  sandbox exec -i calm-otter -- sh -c 'cat > notes.txt' < notes.txt"})
public final class ExecCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-i", "--interactive"}, description = "Give CMD this command's stdin (else it reads nothing).")
    boolean interactive;

    @Option(names = {"-t", "--tty"},
            description = "Give CMD a terminal of the sandbox's own, connected to this one (for shells and editors).")
    boolean tty;

    @Option(names = "--host", paramLabel = "HOST",
            description = "Run CMD in the sandbox on HOST (USER@HOST[:PORT] or a name from"
                    + " ~/.config/sandbox/hosts.yaml), over ssh;"
                    + " a sandbox started with 'run --host' goes to its own host without it.")
    String host;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox.")
    String name;

    @Parameters(index = "1..*", paramLabel = "CMD", description = "The command and its arguments, after '--'.")
    List<String> command = new ArrayList<>();

    @Override
    public Integer call() {
        if (!dashDashBeforeCommand(spec.commandLine().getParseResult().originalArgs(), command)) {
            throw SandboxException.invalidInput("exec needs '--' before the command: sandbox exec " + name + " -- "
                    + (command.isEmpty() ? "CMD" : String.join(" ", command)));
        }
        Integer there = Remote.forward(spec, host, "exec", name, tty && System.console() != null);
        if (there != null) {
            return there;
        }
        return new Sessions(Sandboxes.open(Context.ofCurrentProcess()))
                .exec(name, interactive, tty, command, SandboxCli.console(spec));
    }

    /**
     * Whether {@code args} (the whole command line) hold a {@code --} followed by exactly
     * {@code command}: the command's own options can then never be taken for ours.
     */
    static boolean dashDashBeforeCommand(List<String> args, List<String> command) {
        int dash = args.indexOf("--");
        return dash >= 0 && args.subList(dash + 1, args.size()).equals(command);
    }
}
