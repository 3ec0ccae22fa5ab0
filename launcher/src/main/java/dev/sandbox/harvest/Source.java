package dev.sandbox.harvest;

import java.nio.file.Path;
import java.util.List;

/**
 * Where one sandbox's changes are: its upper layer over its snapshot's tree, and what the
 * snapshot recorded about the user's repository at the time.
 *
 * @param baseCommit HEAD when the snapshot was taken, or null without commits
 * @param dirtyPaths paths of the snapshot that differed from {@code baseCommit}
 */
public record Source(Path upper, Path lower, String baseCommit, List<String> dirtyPaths) {
}
