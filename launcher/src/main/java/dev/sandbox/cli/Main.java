package dev.sandbox.cli;

/** Entry point of the {@code sandbox} command. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.exit(SandboxCli.execute(args));
    }
}
