package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Harvester;
import dev.sandbox.core.Harvester.DiffFormat;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox diff}: what a sandbox changed, or how two differ, as git shows a diff. */
@Command(name = "diff", mixinStandardHelpOptions = true,
        description = {"Show what a sandbox changed against its snapshot, as 'git diff' does (colour and pager on a"
                + " terminal, renames detected).", "",
            "With two names, NAME OTHER: how OTHER's merged view differs from NAME's (both sandboxes' files as"
                    + " their agents left them). A sandbox started with 'run --from' changed its snapshot, the other"
                    + " sandbox's view: 'diff NAME' shows its own work alone, '--against base' that work and the"
                    + " other's, from the snapshot the other started on.", "",
            "Works while the agent is still running."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:The diff was shown (git's own status otherwise).", "2:Bad usage, or no such sandbox.",
            "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox diff fix-tests --stat", "  sandbox diff exp-1 exp-2 --name-only",
            "  sandbox diff docs --against base"})
public final class DiffCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    HarvestMixin target;

    @Parameters(index = "1", arity = "0..1", paramLabel = "OTHER", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "A second sandbox: show how its merged view differs from NAME's.")
    String other;

    @Option(names = "--against", paramLabel = "base",
            description = "'base': diff from the snapshot under the sandbox it started from ('run --from'), so that"
                    + " its work and that sandbox's show together; for any other sandbox, the same as without.")
    String against;

    @ArgGroup(exclusive = true)
    Format format;

    static final class Format {
        @Option(names = "--stat", description = "Show a diffstat instead of the patch.")
        boolean stat;

        @Option(names = "--name-only", description = "Show only the names of changed files.")
        boolean nameOnly;
    }

    @Override
    public Integer call() {
        if (against != null && !against.equals("base")) {
            throw new ParameterException(spec.commandLine(), "--against takes 'base', not '" + against + "'");
        }
        if (against != null && other != null) {
            throw new ParameterException(spec.commandLine(), "--against can't go with two sandboxes");
        }
        DiffFormat f = format == null ? DiffFormat.PATCH : format.stat ? DiffFormat.STAT : DiffFormat.NAME_ONLY;
        Harvester harvester = target.harvester();
        Console console = SandboxCli.console(spec);
        if (other != null) {
            return harvester.diff(target.name, other, f, console);
        }
        return against != null ? harvester.diffAgainstBase(target.name, f, console)
                : harvester.diff(target.name, f, console);
    }
}
