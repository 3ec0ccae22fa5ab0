package dev.sandbox.launch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sandbox.error.SandboxException;
import java.io.ByteArrayInputStream;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BackgroundTest {
    @Test
    void readArgs_ofEncode_givesTheArgumentsBack_emptyAndUnicodeOnesToo() {
        List<String> args = List.of("run", "-d", "--env", "KEY=sk-x y", "", "--", "sh", "-c", "echo 'é\n'");
        assertArrayEquals(args.toArray(), Background.readArgs(new ByteArrayInputStream(Background.encode(args))));
    }

    @Test
    void readArgs_pastOneMebibyte_isRefused() {
        byte[] big = new byte[(1 << 20) + 1];
        SandboxException e = assertThrows(SandboxException.class,
                () -> Background.readArgs(new ByteArrayInputStream(big)));
        assertEquals(SandboxException.USAGE, e.exitCode());
    }

    @Test
    void isBackground_onlyWithTheVariableSetTo1() {
        assertEquals(true, Background.isBackground(Map.of(Background.ENV, "1")));
        assertEquals(false, Background.isBackground(Map.of(Background.ENV, "0")));
        assertEquals(false, Background.isBackground(Map.of()));
    }
}
