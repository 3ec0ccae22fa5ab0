package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sandbox.error.SandboxException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class StateStoreTest {
    @ParameterizedTest
    @ValueSource(strings = {"t", "calm-otter", "exp.1", "a_b", "0abc"})
    void validateName_acceptsBranchAndHostFriendlyNames(String name) {
        assertEquals(name, StateStore.validateName(name));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "Bad", "a b", "-x", ".hidden", "a/b", "..", "a123456789012345678901234567890123456789012345678901234567890123"})
    void validateName_rejectsOthersAsUsageError(String name) {
        SandboxException e = assertThrows(SandboxException.class, () -> StateStore.validateName(name));
        assertEquals(SandboxException.USAGE, e.exitCode());
    }

    @Test
    void generatedNames_avoidTakenOnes() {
        String first = Names.generate(n -> false);
        String other = Names.generate(n -> n.equals(first) || !n.contains("-"));
        assertEquals(other, StateStore.validateName(other));
        org.junit.jupiter.api.Assertions.assertNotEquals(first, other);
    }
}
