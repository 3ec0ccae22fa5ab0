package dev.sandbox.harvest;

/**
 * One thing the agent did to a path, as read from the upper layer: wrote a file or symlink
 * (its copy is at {@code path} in the upper layer, to be opened there without following
 * anything), or deleted a path, which for a directory means everything below it.
 */
public record Change(Kind kind, String path) {
    public enum Kind { WRITE_FILE, WRITE_EXECUTABLE, WRITE_SYMLINK, DELETE }

    static Change delete(String path) {
        return new Change(Kind.DELETE, path);
    }
}
