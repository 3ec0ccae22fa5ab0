package dev.sandbox.harvest;

import java.util.List;

/**
 * What the agent changed relative to its snapshot, in the order to apply it (a deletion of a
 * replaced path comes before what replaces it), and the entries that were left out with why.
 *
 * @param submodules    submodules the upper layer holds entries of, which are never harvested
 * @param nestedGitDirs the {@code .git} entries of repositories nested in the tree (the
 *                      repository's own {@code .git} aside), which are never harvested as files
 * @param unnamed       entries whose names are not valid UTF-8, each with its bytes escaped
 *                      ({@code r\351sum\351.txt}), which are never harvested but must not be lost
 * @param fromSnapshot  paths the changes reach that the snapshot directory holds but its git
 *                      tree does not (ignored then): their snapshot version, a whole directory
 *                      for a directory, belongs in both trees before the changes apply, so
 *                      that they are modifications and deletions, never additions
 * @param ignored       paths git ignores that the agent changed and the walk left out (a new
 *                      ignored directory counts as one); 0 when ignored files are taken
 */
public record ChangeSet(List<Change> changes, List<String> warnings, List<String> submodules,
        List<String> nestedGitDirs, List<String> unnamed, List<String> fromSnapshot, int ignored) {
}
