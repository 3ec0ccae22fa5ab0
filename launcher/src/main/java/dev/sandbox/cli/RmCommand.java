package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Removal;
import dev.sandbox.core.Sandboxes;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox rm}: removes stopped sandboxes. */
@Command(name = "rm", mixinStandardHelpOptions = true,
        description = {"Remove stopped sandboxes and their layers.", "",
            "Refuses a running sandbox, and unless --force is given one that holds changes never"
                    + " harvested, or work no harvest takes (as run --rm judges it: a stash, a commit reset away)."})
public final class RmCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-f", "--force"}, description = "Remove even if the sandbox holds changes; they are lost.")
    boolean force;

    @Parameters(arity = "1..*", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "Sandboxes to remove.")
    List<String> names;

    @Override
    public Integer call() {
        Sandboxes sandboxes = Sandboxes.open(Context.ofCurrentProcess());
        PrintWriter out = SandboxCli.console(spec).out();
        for (String name : names) {
            new Removal(sandboxes).remove(name, force);
            out.println("removed sandbox '" + name + "'");
        }
        return 0;
    }
}
