package dev.sandbox.harvest;

import java.nio.file.Path;

/**
 * One thing the agent did to a path, as read from the upper layer: wrote a file or symlink
 * ({@code source} is its copy in the upper layer), or deleted a path, which for a directory
 * means everything below it.
 */
public record Change(Kind kind, String path, Path source) {
    public enum Kind { WRITE_FILE, WRITE_EXECUTABLE, WRITE_SYMLINK, DELETE }

    static Change delete(String path) {
        return new Change(Kind.DELETE, path, null);
    }
}
