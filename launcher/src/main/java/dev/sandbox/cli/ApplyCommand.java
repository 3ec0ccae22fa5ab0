package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.QuotePath;
import dev.sandbox.harvest.Apply;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code sandbox apply}: merges a sandbox's work into the user's working tree. */
@Command(name = "apply", mixinStandardHelpOptions = true,
        description = {"Apply what a sandbox changed to your working tree, as a three-way merge against the snapshot.",
            "",
            "Files you changed since are merged, overlapping edits get conflict markers. Your own edits are never"
                    + " dropped; the index is not touched. Exits 1 when there were conflicts (listed) or nothing to"
                    + " apply."})
public final class ApplyCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    HarvestMixin target;

    @Option(names = "--no-conflicts", description = "Change nothing if any file would conflict.")
    boolean noConflicts;

    @Override
    public Integer call() {
        Console console = SandboxCli.console(spec);
        PrintWriter out = console.out();
        Apply.Outcome o = target.harvester().apply(target.name, noConflicts, console);
        // names as git prints them: one line each, whatever bytes the agent put in them
        for (Apply.Submodule s : o.leftOut()) {
            console.say("left out submodule '" + QuotePath.escaped(s.path()) + "' (" + s.from() + " -> "
                    + s.to() + "): apply can't move a submodule's checkout; 'sandbox commit' carries it");
        }
        for (String path : o.updated()) {
            out.println("updated  " + QuotePath.quoted(path));
        }
        for (Apply.Conflict c : o.conflicts()) {
            out.println("conflict " + QuotePath.quoted(c.path()) + ": " + c.why());
        }
        if (!o.written()) {
            throw SandboxException.nothing("can't apply '" + target.name + "': " + o.conflicts().size()
                    + " file(s) would conflict; nothing was changed (drop --no-conflicts to merge with markers)");
        }
        if (!o.conflicts().isEmpty()) {
            console.say("applied '" + target.name + "' with " + o.conflicts().size()
                    + " conflict(s): resolve them, as after a git merge");
            return SandboxException.NOTHING;
        }
        return 0;
    }
}
