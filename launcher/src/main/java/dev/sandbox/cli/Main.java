package dev.sandbox.cli;

import dev.sandbox.launch.Background;

/** Entry point of the {@code sandbox} command. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        // A background launcher gets its arguments on stdin, never on its command line.
        System.exit(SandboxCli.execute(Background.isBackground(System.getenv()) ? Background.readArgs(System.in)
                : args));
    }
}
