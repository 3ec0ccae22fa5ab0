package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Harvester;
import dev.sandbox.core.Sandboxes;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** What every harvesting command takes: the sandbox and whether ignored files count. */
final class HarvestMixin {
    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox (see 'sandbox list').")
    String name;

    @Option(names = "--include-ignored",
            description = "Include new files that .gitignore ignores (tracked files are always included).")
    boolean includeIgnored;

    Harvester harvester() {
        return new Harvester(Sandboxes.open(Context.ofCurrentProcess()), includeIgnored);
    }
}
