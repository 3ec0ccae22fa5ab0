package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Removal;
import dev.sandbox.core.Sandboxes;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code sandbox gc}: frees the disk held by snapshots that no sandbox uses. */
@Command(name = "gc", mixinStandardHelpOptions = true,
        description = "Delete snapshots that no sandbox uses any more, and leftovers of interrupted runs.")
public final class GcCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        Removal.GcResult r = new Removal(Sandboxes.open(Context.ofCurrentProcess())).gc();
        SandboxCli.console(spec).out().println("removed " + r.snapshots().size() + " unused snapshot"
                + (r.snapshots().size() == 1 ? "" : "s") + " and " + r.leftovers() + " leftover"
                + (r.leftovers() == 1 ? "" : "s"));
        return 0;
    }
}
