package dev.sandbox.core;

import java.util.List;

/**
 * An immutable copy of a working tree (stored as {@code snapshots/<id>/snapshot.json} beside
 * its {@code tree/}), shared by every sandbox started from the same state of the repository.
 *
 * @param baseCommit  HEAD when the snapshot was taken, or null in a repository without commits
 * @param dirtyPaths  paths that differed from HEAD (modified, staged, deleted or untracked)
 * @param fingerprint metadata digest of the working tree at the time, to tell if it changed since
 * @param skipped     special files (FIFOs, sockets, devices) left out of the copy
 */
public record Snapshot(String id, String strategy, String repo, String baseCommit, List<String> dirtyPaths,
        String createdAt, String fingerprint, List<String> skipped) {
}
