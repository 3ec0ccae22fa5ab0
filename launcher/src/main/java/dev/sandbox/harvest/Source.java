package dev.sandbox.harvest;

import java.nio.file.Path;
import java.util.List;

/**
 * Where one sandbox's changes are: its upper layer over its snapshot's tree, and what the
 * snapshot recorded about the user's repository at the time.
 *
 * @param lower      the snapshot's tree as the sandbox sees it: one directory, or a layered
 *                   snapshot's merged view ({@code /proc/PID/root/...} of a LowerView)
 * @param layers     the directories of the snapshot's layers, topmost first ({@code lower}
 *                   alone for a full snapshot): for code that cannot read through a view,
 *                   such as JGit, which resolves {@code /proc/PID/root} to {@code /} when it
 *                   canonicalises an alternate's path
 * @param baseCommit HEAD when the snapshot was taken, or null without commits
 * @param dirtyPaths paths of the snapshot that differed from {@code baseCommit}
 */
public record Source(Path upper, Path lower, List<Path> layers, String baseCommit, List<String> dirtyPaths) {
    /** A source on a full snapshot: {@code lower} is its one layer. */
    public Source(Path upper, Path lower, String baseCommit, List<String> dirtyPaths) {
        this(upper, lower, List.of(lower), baseCommit, dirtyPaths);
    }
}
