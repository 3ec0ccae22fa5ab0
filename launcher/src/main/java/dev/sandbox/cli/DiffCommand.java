package dev.sandbox.cli;

import dev.sandbox.core.Harvester.DiffFormat;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code sandbox diff}: what a sandbox changed, as git shows a diff. */
@Command(name = "diff", mixinStandardHelpOptions = true,
        description = {"Show what a sandbox changed against its snapshot, as 'git diff' does (colour and pager on a"
                + " terminal, renames detected).", "",
            "Works while the agent is still running."})
public final class DiffCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    HarvestMixin target;

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
        DiffFormat f = format == null ? DiffFormat.PATCH : format.stat ? DiffFormat.STAT : DiffFormat.NAME_ONLY;
        return target.harvester().diff(target.name, f, SandboxCli.console(spec));
    }
}
