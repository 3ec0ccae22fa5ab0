package dev.sandbox.harvest;

import java.util.List;
import org.eclipse.jgit.lib.ObjectId;

/**
 * The git trees of a sandbox: {@code snapshot}, the working tree the agent started from
 * (base commit plus the user's uncommitted and untracked files), and {@code merged}, the
 * working tree the agent left, with the file-level changes between them. Every harvest
 * derives from these two trees; the agent's commits only decide how the change is cut into
 * commits (docs/ARCHITECTURE.md §6).
 *
 * @param base      the snapshot's base commit, or null in a repository without commits
 * @param agentHead the commit the sandbox's own HEAD points to when the agent moved it, else null
 * @param unnamed   entries left out because their names are not valid UTF-8 (see {@link ChangeSet})
 * @param linear    whether the agent's commits continue {@code base} in a line, so that they
 *                  can be kept; false when it rewrote history (reset, rebase, amend, checkout)
 * @param agentCommits the agent's commits not in {@code base}, newest first, at most
 *                  {@link AgentHistory#SUMMARY}, each {@code <12 hex> <subject>}
 * @param ignored   paths git ignores that the agent changed and that were left out (0 when
 *                  ignored files were taken)
 */
public record Trees(ObjectId base, ObjectId snapshot, ObjectId merged, List<FileChange> changes,
        List<String> warnings, ObjectId agentHead, List<String> unnamed, boolean linear,
        List<String> agentCommits, int ignored) {

    /** Whether the two trees are equal: nothing for {@code diff}, {@code patch} or {@code apply}. */
    public boolean unchanged() {
        return changes.isEmpty();
    }

    /**
     * Whether the agent made commits that {@code commit} keeps as they are: commits of its
     * own that continue the base in a line. With equal trees (work committed and reverted,
     * a commit that changes no file) they are all {@code commit} hands over.
     */
    public boolean keptCommits() {
        return agentHead != null && linear && !agentCommits.isEmpty();
    }
}
