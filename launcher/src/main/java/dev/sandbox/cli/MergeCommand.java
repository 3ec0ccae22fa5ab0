package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Harvester;
import dev.sandbox.core.Merges;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox merge}: several sandboxes' work merged on a new branch. */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {"Merge what several sandboxes changed onto a new branch BRANCH, leaving your working tree,"
                + " index and HEAD alone.", "",
            "Each sandbox's work becomes commits as 'sandbox commit' makes them (its branch sandbox/NAME is not"
                    + " touched); they are then merged in the order given, each merge a commit \"Merge sandbox"
                    + " 'NAME'\", as 'git merge-tree' merges (sandboxes on different base commits merge too). The"
                    + " branch is created only when every merge is clean: a conflict is refused, naming the files,"
                    + " and nothing is created (no commit ever holds conflict markers; 'sandbox apply' merges into"
                    + " your working tree, with markers to resolve). An existing branch is refused without --force,"
                    + " and a branch checked out in a working tree always."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:The branch was created.",
            "1:A merge would conflict (the files are named), or a sandbox has no changes; nothing was created.",
            "2:Bad usage: fewer than two names, a name that is not a sandbox or is given twice, a bad, existing or"
                    + " checked-out branch.",
            "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox merge api-fix ui-fix -b feature/both",
            "  sandbox merge -f exp-1 exp-3 -b best"})
public final class MergeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandboxes, in the order they are merged.")
    List<String> names;

    @Option(names = {"-b", "--branch"}, paramLabel = "BRANCH", required = true,
            description = "The branch to create.")
    String branch;

    @Option(names = {"-f", "--force"}, description = "Replace BRANCH if it exists (its commits are no longer on it).")
    boolean force;

    @Option(names = "--include-ignored",
            description = "Include new files that .gitignore ignores (tracked files are always included).")
    boolean includeIgnored;

    @Override
    public Integer call() {
        Console console = SandboxCli.console(spec);
        Harvester harvester = HarvestMixin.harvester(names, includeIgnored, console);
        Merges.Merged m = new Merges(harvester).merge(names, branch, force, console);
        console.out().println((m.replaced() ? "replaced " : "created ") + m.branch() + " at " + m.tip() + " (merged "
                + String.join(", ", names) + ")");
        return 0;
    }
}
