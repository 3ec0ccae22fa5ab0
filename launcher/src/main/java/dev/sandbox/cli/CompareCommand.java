package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Comparisons;
import dev.sandbox.core.Harvester;
import dev.sandbox.error.SandboxException;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox compare}: candidates side by side, one row each. */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"Show one table of several sandboxes, a row each: the files each changed against its own"
                + " snapshot, and the lines inserted and deleted, as 'git diff --numstat' counts them (a rename is"
                + " one file; a binary file counts as a file, without lines).", "",
            "With --test, CMD then runs in each sandbox in turn, through 'sh -c', and the table shows whether it"
                    + " passed (exit 0) or failed, with its status: beside the agent as 'sandbox exec' runs it when the"
                    + " sandbox runs, else as 'sandbox start NAME -- CMD' runs it (its profile and network), though"
                    + " the sandbox keeps its agent's command and exit status. What CMD writes goes to that"
                    + " sandbox's layer, as the agent's changes do; the numbers are counted before it runs. CMD's"
                    + " output comes before the table. Ctrl-C ends the test that runs and skips the rest (shown"
                    + " as -)."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:The table was printed, whatever the tests gave.",
            "2:Bad usage, or a name is not a sandbox or is given twice (nothing ran).",
            "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox run --count 3 --name exp -d -- claude -p 'fix the flaky test'",
            "  sandbox compare exp-1 exp-2 exp-3",
            "  sandbox compare --test 'make test' exp-1 exp-2 exp-3"})
public final class CompareCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandboxes, in the order of the rows.")
    List<String> names;

    @Option(names = "--test", paramLabel = "CMD", description = "A shell command to run in each sandbox.")
    String test;

    @Option(names = "--include-ignored",
            description = "Count new files that .gitignore ignores (tracked files always count).")
    boolean includeIgnored;

    @Override
    public Integer call() {
        if (test != null && test.isBlank()) { // sh -c '' exits 0: every candidate would pass
            throw SandboxException.invalidInput("--test needs a command to run in each sandbox");
        }
        Console console = SandboxCli.console(spec);
        Harvester harvester = HarvestMixin.harvester(names, includeIgnored, console);
        List<Comparisons.Row> rows = new Comparisons(harvester).compare(names,
                test == null ? null : List.of("sh", "-c", test), new FileOutputStream(FileDescriptor.out), console);
        List<String[]> table = new ArrayList<>();
        table.add(test == null ? new String[] {"NAME", "FILES", "INSERTIONS", "DELETIONS"}
                : new String[] {"NAME", "FILES", "INSERTIONS", "DELETIONS", "TEST"});
        for (Comparisons.Row r : rows) {
            String files = r.files() + (r.binary() == 0 ? "" : " (" + r.binary() + " binary)");
            List<String> row = new ArrayList<>(List.of(r.name(), files, Long.toString(r.insertions()),
                    Long.toString(r.deletions())));
            if (test != null) {
                row.add(r.test().skipped() ? "-" : r.test().status() == null ? "error" : r.test().passed() ? "pass"
                        : "fail(" + r.test().status() + ")");
            }
            table.add(row.toArray(String[]::new));
        }
        Table.print(console.out(), table);
        return 0;
    }
}
