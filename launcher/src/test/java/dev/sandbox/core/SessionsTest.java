package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SessionsTest {
    @Test
    void detachKeys_readsDockersFormat() {
        assertArrayEquals(new byte[] {16, 17}, Sessions.detachKeys(Sessions.DEFAULT_DETACH_KEYS));
        assertArrayEquals(new byte[] {0, 1, 26, 27, 28, 29, 30, 31},
                Sessions.detachKeys("ctrl-@,CTRL-A,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_"));
        assertArrayEquals(new byte[] {24, 'x'}, Sessions.detachKeys("ctrl-x,x"));
        assertArrayEquals(new byte[] {'a'}, Sessions.detachKeys("a"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "ctrl-p,", "ctrl-1", "ctrl-pq", "alt-x", "é", "\u0001", "a,b,c,d,e,f,g,h,i"})
    void detachKeys_refusesWhatIsNoKey_asBadInput(String spec) {
        SandboxException e = assertThrows(SandboxException.class, () -> Sessions.detachKeys(spec));
        assertEquals(SandboxException.USAGE, e.exitCode());
        assertTrue(e.getMessage().startsWith("can't use --detach-keys '" + spec + "': "), e.getMessage());
        assertTrue(e.getMessage().endsWith("default ctrl-p,ctrl-q)"), e.getMessage());
    }

    @Test
    void helperKeys_areDecimalByteValues() {
        assertEquals("16,17", Sessions.helperKeys(new byte[] {16, 17}));
        assertEquals("0,126", Sessions.helperKeys(new byte[] {0, '~'}));
    }
}
