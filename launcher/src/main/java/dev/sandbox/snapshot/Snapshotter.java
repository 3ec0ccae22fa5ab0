package dev.sandbox.snapshot;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Makes the immutable copy of a working tree that sandboxes use as their overlay's lower
 * layer. Backends differ only in how cheaply they copy (a btrfs snapshot, reflinks, bytes).
 */
public interface Snapshotter {
    /** What a snapshot made with this backend is recorded as, e.g. {@code copy}. */
    String strategy();

    /**
     * Copies {@code source} to {@code target} (which must not exist yet) with modes, times,
     * symlinks and empty directories, leaving out the paths in {@code exclude}.
     */
    Result copy(Path source, Path target, Set<Path> exclude) throws IOException;

    /** The source's fingerprint as the copy saw it, and what the copy had to leave out. */
    record Result(String fingerprint, List<Path> skipped) {
    }

    /**
     * Whether a snapshot is taken at one instant (a filesystem snapshot), so that a user
     * writing files meanwhile cannot tear it; a copy is checked and retaken instead.
     */
    default boolean atomic() {
        return false;
    }

    /**
     * Whether a snapshot this backend just took is worth sharing with later sandboxes: a copy
     * is, but a filesystem snapshot costs less to take again than the walk that would tell
     * whether the tree is unchanged.
     */
    default boolean reusable() {
        return true;
    }

    /**
     * The fingerprint {@link #copy} would record for {@code source} now, without copying:
     * equal to a snapshot's when nothing in the tree changed since that snapshot was taken.
     * Where {@code .git} is a {@code gitdir:} file, the git directory it names counts as part
     * of the tree (its HEAD, index, refs and objects), as a {@code .git} directory does.
     */
    static String fingerprint(Path source, Set<Path> exclude) throws IOException {
        Optional<LinkedGitDir> linked = LinkedGitDir.of(source);
        String tree = TreeWalk.walk(source, exclude, TreeWalk.LOOK);
        return linked.isEmpty() ? tree : tree + "+" + linked.get().fingerprint(exclude);
    }
}
