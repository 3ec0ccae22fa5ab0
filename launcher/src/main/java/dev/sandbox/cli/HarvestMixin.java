package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.core.Harvester;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.site.Mirrors;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * What every harvesting command takes: the sandbox and whether ignored files count. A sandbox
 * that runs on another host ({@code run --host}) is refreshed from it first (docs/ARCHITECTURE.md §15).
 */
final class HarvestMixin {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox (see 'sandbox list').")
    String name;

    @Option(names = "--include-ignored",
            description = "Include new files that .gitignore ignores (tracked files are always included).")
    boolean includeIgnored;

    Harvester harvester() {
        return harvester(List.of(name), includeIgnored, SandboxCli.console(mixee));
    }

    /**
     * The harvester of the current repository, once each of {@code names} that is a mirror
     * has its host's latest layer (or a warning that the copy here is used).
     */
    static Harvester harvester(List<String> names, boolean includeIgnored, Console console) {
        Sandboxes sandboxes = Sandboxes.open(Context.ofCurrentProcess());
        Mirrors mirrors = new Mirrors(sandboxes, console);
        for (String n : names) {
            mirrors.refresh(n);
        }
        return new Harvester(sandboxes, includeIgnored);
    }
}
