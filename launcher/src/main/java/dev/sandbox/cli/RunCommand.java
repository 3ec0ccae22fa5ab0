package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.StateStore;
import dev.sandbox.snapshot.Strategies;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox run}: runs a command in a new sandbox and exits with its status. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run CMD in a new sandbox of the current git repository.", "",
            "The sandbox sees a snapshot of the working tree (tracked, untracked and ignored files, .git) at the",
            "repository's own path; what CMD changes goes to the sandbox's own layer, never to your tree.",
            "The rest of the filesystem is read-only, /tmp is private, and only loopback networking exists."},
        footer = {"", "Exit status: CMD's own; 128+n if a signal n killed it; 126 CMD not executable;",
            "127 CMD not found; 125 sandbox's own failure; 2 bad usage.", "",
            "Examples: sandbox run --name fix-tests -- claude",
            "          sandbox run --count 3 --name exp -- claude -p 'make the tests pass'"})
public final class RunCommand implements Callable<Integer> {
    /** More would be a typo: each sandbox is a whole agent. */
    static final int MAX_COUNT = 64;

    @Spec
    CommandSpec spec;

    @Option(names = "--name", paramLabel = "NAME",
            description = "Name of the sandbox (default: a generated one such as calm-otter).")
    String name;

    @Option(names = "--snapshot", paramLabel = "HOW", defaultValue = "auto",
            description = {"How to snapshot the working tree: auto (default: the cheapest that works here),",
                "btrfs (the repository is a subvolume: read-only snapshot), zfs (the repository is a",
                "dataset's mountpoint), reflink (clone files: btrfs, xfs with reflink=1), or copy."})
    Strategies.Requested snapshot;

    @Option(names = "--count", paramLabel = "N", defaultValue = "1",
            description = {"Run N sandboxes NAME-1..NAME-N at once on one snapshot (best of N), without a",
                "terminal: each one's output goes to its log/output file; exits 0 when every agent did."})
    int count;

    @Parameters(arity = "1..*", paramLabel = "CMD", description = "The command and its arguments; put them after '--'.")
    List<String> command;

    @Override
    public Integer call() {
        if (name != null) {
            StateStore.validateName(name);
        }
        if (count < 1 || count > MAX_COUNT) {
            throw new ParameterException(spec.commandLine(), "--count must be between 1 and " + MAX_COUNT + ", not "
                    + count);
        }
        Sandboxes sandboxes = Sandboxes.open(Context.ofCurrentProcess());
        return sandboxes.run(name, snapshot, count, command, spec.commandLine().getErr());
    }
}
