package dev.sandbox.harvest;

import java.util.List;

/**
 * What the agent changed relative to its snapshot, in the order to apply it (a deletion of a
 * replaced path comes before what replaces it), and the entries that were left out with why.
 */
public record ChangeSet(List<Change> changes, List<String> warnings) {
}
