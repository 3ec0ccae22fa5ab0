package dev.sandbox.snapshot;

import dev.sandbox.console.Console;
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

    /**
     * As {@link #copy(Path, Path, Set)}, with {@code options}: a backend that walks (copy,
     * reflink) writes the manifest and shows progress; a filesystem snapshot ignores them.
     */
    default Result copy(Path source, Path target, Set<Path> exclude, CopyOptions options) throws IOException {
        return copy(source, target, exclude);
    }

    /**
     * How a walking copy is made: {@code manifest} the file to write what it saw to (null:
     * none; format in native-helpers/src/tree.c), {@code progress} a line on stderr (only where
     * stderr is a terminal), with the totals {@code totalFiles} and {@code totalBytes} (0:
     * unknown) from a scan.
     */
    record CopyOptions(Path manifest, boolean progress, long totalFiles, long totalBytes) {
        /** No manifest; progress where stderr is a terminal, totals unknown. */
        public static CopyOptions defaults() {
            return new CopyOptions(null, Console.stderrIsTerminal(), 0, 0);
        }
    }

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
    static String fingerprint(Path helper, Path source, Set<Path> exclude) throws IOException {
        Optional<LinkedGitDir> linked = LinkedGitDir.of(source);
        String tree = new NativeTree(helper).scan(source, exclude, null).fingerprint();
        return linked.isEmpty() ? tree : tree + "+" + linked.get().fingerprint(exclude);
    }

    /**
     * {@link #fingerprint(Path, Path, Set)} by the helper where the launcher's start-up finds
     * it ({@link NativeTree#defaultHelper()}), for callers without the run's context.
     */
    static String fingerprint(Path source, Set<Path> exclude) throws IOException {
        return fingerprint(NativeTree.defaultHelper(), source, exclude);
    }
}
