package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.site.Mirrors;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The lifecycle verbs' way to a sandbox on another host ({@code --host}, or a mirror's own;
 * docs/ARCHITECTURE.md §15).
 */
final class Remote {
    private Remote() {
    }

    /**
     * Runs {@code verb NAME ...} as given on the host {@code host} names, or on the one sandbox
     * {@code name} runs on when it is a mirror; null when neither (the verb runs here), else
     * the host's exit status. {@code tty}: with a terminal ({@code ssh -t}).
     */
    static Integer forward(CommandSpec spec, String host, String verb, String name, boolean tty) {
        Sandboxes sandboxes = Sandboxes.open(Context.ofCurrentProcess());
        return new Mirrors(sandboxes, SandboxCli.console(spec)).forward(host, verb, name,
                spec.root().commandLine().getParseResult().originalArgs(), tty);
    }
}
