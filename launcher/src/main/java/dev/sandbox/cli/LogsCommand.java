package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Logs;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.Sessions;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox logs}: what the agent of a detached or {@code --count} sandbox wrote. */
@Command(name = "logs", mixinStandardHelpOptions = true,
        description = {"Print what the agent of a sandbox started with 'run -d' or 'run --count' wrote.", "",
            "The output is kept as the agent's terminal got it, escape sequences and all, up to 8 MiB (the oldest"
                    + " part goes first), and printed so, but on a terminal the sequences that set its title or"
                    + " clipboard or talk to it (OSC, DCS, APC, PM, SOS) are left out; --plain strips every escape"
                    + " sequence and control character but line feeds and tabs, for reading in a file or a pager."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:Success.", "1:The sandbox keeps no output (it ran in the foreground).",
            "2:Bad usage, or there is no such sandbox.", "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox logs -f calm-otter", "  sandbox logs --tail 50 --plain calm-otter | less"})
public final class LogsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-f", "--follow"},
            description = "Go on printing what the agent writes until the sandbox stops (or Ctrl-C).")
    boolean follow;

    @Option(names = {"-n", "--tail"}, paramLabel = "K",
            description = "Print only the last K lines (then follow, with -f).")
    Long tail;

    @Option(names = "--plain", description = "Strip terminal escape sequences (colours, cursor moves, titles) and"
            + " control characters (carriage returns, bells) but line feeds and tabs.")
    boolean plain;

    @Option(names = "--host", paramLabel = "HOST",
            description = "Show the output of the sandbox on HOST (USER@HOST[:PORT] or a name from"
                    + " ~/.config/sandbox/hosts.yaml), over ssh;"
                    + " a sandbox started with 'run --host' goes to its own host without it.")
    String host;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox.")
    String name;

    @Override
    public Integer call() {
        Integer there = Remote.forward(spec, host, "logs", name, false);
        if (there != null) {
            return there;
        }
        SandboxCli.console(spec).out().flush();
        OutputStream out = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 64 * 1024);
        return new Sessions(Sandboxes.open(Context.ofCurrentProcess()))
                .logs(name, tail, follow, plain ? new Logs.Plain(out)
                        // On a terminal the agent's titles and clipboard writes (OSC 52) stay out.
                        : System.console() != null ? new Logs.NoStrings(out) : out);
    }
}
