package dev.sandbox.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * One test's scratch directory: repositories and a HOME, all 0755 so the unprivileged user
 * can traverse them, handed to that user for USER runs, deleted afterwards.
 */
final class Workspace implements AutoCloseable {
    private final Runner runner;
    private final Path dir;

    private Workspace(Runner runner, Path dir) {
        this.runner = runner;
        this.dir = dir;
    }

    /** A workspace under {@code /tmp}. */
    static Workspace create(Runner runner) {
        return create(runner, "/tmp");
    }

    /** A workspace under {@code parent}, e.g. {@code /var/tmp} for a repository outside the sandbox's /tmp. */
    static Workspace create(Runner runner, String parent) {
        try {
            Path dir = Files.createTempDirectory(Host.base(parent), "t-");
            Workspace ws = new Workspace(runner, dir);
            ws.mkdir("home");
            return ws;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Runner runner() {
        return runner;
    }

    Path dir() {
        return dir;
    }

    /** The HOME of every process the test starts. */
    Path home() {
        return dir.resolve("home");
    }

    /** A new directory (0755) in the workspace. */
    Path mkdir(String name) {
        try {
            Path d = Files.createDirectories(dir.resolve(name));
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Hands everything in the workspace to the runner's identity; call after each change made as root. */
    void own() {
        runner.own(dir);
    }

    @Override
    public void close() {
        Host.deleteTree(dir);
    }
}
