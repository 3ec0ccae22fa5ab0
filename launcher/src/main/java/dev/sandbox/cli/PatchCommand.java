package dev.sandbox.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code sandbox patch}: a sandbox's work as a patch series. */
@Command(name = "patch", mixinStandardHelpOptions = true,
        description = {"Write what a sandbox changed as a patch that 'git am' and 'git apply' accept (mbox, binary"
                + " files included).", "",
            "The series starts at the snapshot's base commit: the uncommitted changes the snapshot took come"
                    + " first, as one patch, so that it applies with 'git am' on a clean clone. Commits the agent made"
                    + " inside come as patches of their own when they continue that base; a rewritten history"
                    + " (reset, rebase, amend) comes as one patch. Exits 1 when the sandbox has no changes."})
public final class PatchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    HarvestMixin target;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "Write to FILE instead of stdout"
            + " ('-' is stdout). A regular file, or the one a symlink leads to, is replaced whole; a FIFO or"
            + " a device is written into.")
    Path output;

    @Option(names = "--no-base", description = "Leave out the patch of the uncommitted changes the snapshot took,"
            + " for a working tree that still has them.")
    boolean noBase;

    @Override
    public Integer call() {
        if (output != null && output.toString().isEmpty()) {
            throw new ParameterException(spec.commandLine(), "'--output' needs a file name ('-' for stdout)");
        }
        target.harvester().patch(target.name, output, noBase, SandboxCli.console(spec));
        return 0;
    }
}
