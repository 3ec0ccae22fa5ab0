package dev.sandbox.harvest;

import java.util.List;
import org.eclipse.jgit.lib.ObjectId;

/**
 * The git trees of a sandbox: {@code snapshot}, the working tree the agent started from
 * (base commit plus the user's uncommitted and untracked files), and {@code merged}, the
 * working tree the agent left, with the file-level changes between them.
 *
 * @param base      the snapshot's base commit, or null in a repository without commits
 * @param agentHead the commit the sandbox's own HEAD points to when the agent committed, else null
 * @param unnamed   entries left out because their names are not valid UTF-8 (see {@link ChangeSet})
 */
public record Trees(ObjectId base, ObjectId snapshot, ObjectId merged, List<FileChange> changes,
        List<String> warnings, ObjectId agentHead, List<String> unnamed) {

    public boolean unchanged() {
        return changes.isEmpty() && agentHead == null;
    }
}
