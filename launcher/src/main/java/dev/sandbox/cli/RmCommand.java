package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Removal;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.site.Mirrors;
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
                    + " harvested, or work no harvest takes (as run --rm judges it: a stash, a commit reset away).",
            "",
            "A sandbox started with 'run --host' is removed on its host too, after the same checks; when the host"
                    + " can't be reached, --force removes the copy here alone (the host keeps its sandbox)."})
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
        Mirrors mirrors = new Mirrors(sandboxes, SandboxCli.console(spec));
        for (String name : names) {
            if (!mirrors.remove(name, force)) {
                new Removal(sandboxes).remove(name, force);
            }
            out.println("removed sandbox '" + name + "'");
        }
        return 0;
    }
}
