package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.Sessions;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox shell}: an interactive shell in a sandbox, running or not. */
@Command(name = "shell", mixinStandardHelpOptions = true,
        description = {"Open an interactive $SHELL (/bin/sh when unset) in a sandbox and exit with its status.", "",
            "In a running sandbox it runs beside the agent, as 'sandbox exec -it NAME -- $SHELL' does; a stopped one"
                    + " runs again with the shell as its command, as 'sandbox start NAME -- $SHELL' does. Either way"
                    + " what the shell changes goes to the sandbox's layer."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"n:The shell's own exit status n.", "2:Bad usage, or there is no such sandbox.",
            "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox shell calm-otter"})
public final class ShellCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox.")
    String name;

    @Override
    public Integer call() {
        return new Sessions(Sandboxes.open(Context.ofCurrentProcess()))
                .shell(name, new FileOutputStream(FileDescriptor.out), SandboxCli.console(spec));
    }
}
