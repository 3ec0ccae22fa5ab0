package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Harvester.Committed;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code sandbox commit}: a sandbox's work as commits on a branch. */
@Command(name = "commit", mixinStandardHelpOptions = true,
        description = {"Commit what a sandbox changed on branch sandbox/NAME (or -b BRANCH), on top of the commit the"
                + " snapshot was taken at.", "",
            "Your uncommitted changes at that time, if any, go in a first commit of their own; commits the agent"
                    + " made inside are kept. Your working tree, index and HEAD are not touched. Exits 1 when the"
                    + " sandbox has no changes."})
public final class CommitCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    HarvestMixin target;

    @Option(names = {"-b", "--branch"}, paramLabel = "BRANCH", description = "Branch to commit to.")
    String branch;

    @Option(names = {"-m", "--message"}, paramLabel = "MSG", description = "Commit message.")
    String message;

    @Option(names = {"-f", "--force"}, description = "Move the branch even if it has commits the new one lacks.")
    boolean force;

    @Override
    public Integer call() {
        Console console = SandboxCli.console(spec);
        Committed c = target.harvester().commit(target.name, branch, message, force, console);
        if (c.commits() == 0) {
            console.out().println(c.branch() + " is already at " + c.tip() + " (nothing new)");
        } else {
            console.out().println((c.moved() ? "updated " : "created ") + c.branch() + " at " + c.tip()
                    + " (" + c.commits() + " commit" + (c.commits() == 1 ? "" : "s") + ")");
        }
        return 0;
    }
}
