package dev.sandbox.core;

import java.util.List;

/**
 * An immutable copy of a working tree (stored as {@code snapshots/<id>/snapshot.json} beside
 * its {@code tree/}), shared by every sandbox started from the same state of the repository.
 * A delta snapshot's {@code tree/} holds only what changed since its parent, with whiteouts
 * and opaque directories for what was deleted or replaced; sandboxes mount it over its
 * ancestors' trees ({@link SnapshotStore#layers}).
 *
 * @param baseCommit  HEAD when the snapshot was taken, or null in a repository without commits
 * @param dirtyPaths  paths that differed from HEAD (modified, staged, deleted or untracked)
 * @param fingerprint metadata digest of the working tree at the time, to tell if it changed since
 * @param skipped     special files (FIFOs, sockets, devices) left out of the copy
 * @param parent      the snapshot this one is a delta over, or null for a full copy (and for
 *     every record written before deltas existed)
 * @param depth       how many deltas lie between this one and its full ancestor: 0 for a full
 *     copy (and for older records, which lack the field), 1 for a delta over a full copy, ...
 * @param configKey   {@link dev.sandbox.git.Repo#configKey()} read just before {@code dirtyPaths}:
 *     a delta's dirty paths may be derived from these while it is unchanged
 *     (docs/ARCHITECTURE.md §13); null in older records, and then they are not
 */
public record Snapshot(String id, String strategy, String repo, String baseCommit, List<String> dirtyPaths,
        String createdAt, String fingerprint, List<String> skipped, String parent, int depth, String configKey) {

    /** A snapshot whose dirty paths can't be derived from (see {@code configKey}). */
    public Snapshot(String id, String strategy, String repo, String baseCommit, List<String> dirtyPaths,
            String createdAt, String fingerprint, List<String> skipped, String parent, int depth) {
        this(id, strategy, repo, baseCommit, dirtyPaths, createdAt, fingerprint, skipped, parent, depth, null);
    }

    /** A full snapshot, as every snapshot was before deltas. */
    public Snapshot(String id, String strategy, String repo, String baseCommit, List<String> dirtyPaths,
            String createdAt, String fingerprint, List<String> skipped) {
        this(id, strategy, repo, baseCommit, dirtyPaths, createdAt, fingerprint, skipped, null, 0);
    }

    /** Whether this snapshot is a layer over a parent rather than a whole tree. */
    public boolean delta() {
        return parent != null;
    }
}
