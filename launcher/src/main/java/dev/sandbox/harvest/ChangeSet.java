package dev.sandbox.harvest;

import java.util.List;

/**
 * What the agent changed relative to its snapshot, in the order to apply it (a deletion of a
 * replaced path comes before what replaces it), and the entries that were left out with why.
 *
 * @param submodules    submodules the upper layer holds entries of, which are never harvested
 * @param nestedGitDirs the {@code .git} entries of repositories nested in the tree (the
 *                      repository's own {@code .git} aside), which are never harvested as files
 */
public record ChangeSet(List<Change> changes, List<String> warnings, List<String> submodules,
        List<String> nestedGitDirs) {
}
