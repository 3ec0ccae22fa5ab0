package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** How {@code run --rm} words what keeps a sandbox. */
class WorkTest {
    @Test
    void describe_eachKindOfWork_namedInOrderWithCounts() {
        assertEquals("3 files changed; 1 commit", new Work(3, 0, 1, List.of(), 0, 0).describe());
        assertEquals("1 file changed; 2 ignored files written; 2 commits; changes in 1 submodule; git: stash",
                new Work(1, 2, 2, List.of("stash"), 1, 0).describe());
        assertEquals("git: stash, staged changes, branch 'x' and 2 more",
                new Work(0, 0, 0, List.of("stash", "staged changes", "branch 'x'", "tag 'v1'", ".git/config"), 0, 0)
                        .describe());
    }

    @Test
    void any_nothingAtAll_false_anyOneKind_true() {
        assertFalse(new Work(0, 0, 0, List.of(), 0, 0).any());
        assertTrue(new Work(0, 1, 0, List.of(), 0, 0).any());
        assertTrue(new Work(0, 0, 0, List.of("ORIG_HEAD"), 0, 0).any());
        assertTrue(new Work(0, 0, 0, List.of(), 1, 0).any());
        assertTrue(new Work(0, 0, 0, List.of(), 0, 1).any());
    }

    @Test
    void describe_unnamedFiles_countedInTheirOwnWords() {
        assertEquals("1 file changed; 1 file whose name is not valid UTF-8",
                new Work(1, 0, 0, List.of(), 0, 1).describe());
        assertEquals("2 files whose names are not valid UTF-8", new Work(0, 0, 0, List.of(), 0, 2).describe());
    }

    @Test
    void unharvestable_onlyWhatNoHarvestTakes() {
        assertEquals("", new Work(3, 2, 1, List.of(), 0, 0).unharvestable());
        assertEquals("git work no harvest command takes (stash, branch 'side'); 1 file whose name is not valid"
                + " UTF-8, which no harvest command takes",
                new Work(3, 0, 1, List.of("stash", "branch 'side'"), 0, 1).unharvestable());
    }
}
