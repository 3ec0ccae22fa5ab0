package dev.sandbox.cli;

import dev.sandbox.launch.Background;

/** Entry point of the {@code sandbox} command. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        if (Background.isBackground(System.getenv())) {
            // Out of the user's session first; its arguments come on stdin, never on its command line.
            Background.leaveSession();
            System.exit(SandboxCli.execute(Background.readArgs(System.in)));
        }
        System.exit(SandboxCli.execute(args));
    }
}
