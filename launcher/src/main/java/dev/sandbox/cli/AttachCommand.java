package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.Sessions;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox attach}: connects this terminal to a detached sandbox's agent. */
@Command(name = "attach", mixinStandardHelpOptions = true,
        description = {"Connect this terminal to the agent of a sandbox started with 'run -d' (or 'start -d').", "",
            "Keys go to the agent (Ctrl-C too) and its screen comes back; the agent redraws at this terminal's size."
                    + " Ctrl-P Ctrl-Q (see --detach-keys) detaches and leaves it running. One terminal at a time:"
                    + " a second attach is refused ('sandbox logs -f' watches instead). When the agent ends, attach"
                    + " exits with its status."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:Detached; the agent keeps running.", "n:The agent ended with status n.",
            "1:The sandbox is not running, runs in the foreground, or another terminal is attached.",
            "2:Bad usage, or there is no such sandbox.", "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox attach calm-otter", "  sandbox attach --detach-keys ctrl-x,x calm-otter"})
public final class AttachCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--detach-keys", paramLabel = "KEYS", defaultValue = Sessions.DEFAULT_DETACH_KEYS,
            description = "The keys that detach, as docker takes them: comma-separated ctrl-a..ctrl-z, ctrl-@,"
                    + " ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_ or single characters, at most 8"
                    + " (default: ${DEFAULT-VALUE}).")
    String detachKeys;

    @Option(names = "--host", paramLabel = "HOST",
            description = "Attach to the sandbox on HOST (USER@HOST[:PORT] or a name from"
                    + " ~/.config/sandbox/hosts.yaml), over ssh;"
                    + " a sandbox started with 'run --host' goes to its own host without it.")
    String host;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox.")
    String name;

    @Override
    public Integer call() {
        byte[] keys = Sessions.detachKeys(detachKeys);
        Integer there = Remote.forward(spec, host, "attach", name, System.console() != null);
        if (there != null) {
            return there;
        }
        return new Sessions(Sandboxes.open(Context.ofCurrentProcess())).attach(name, keys, SandboxCli.console(spec));
    }
}
