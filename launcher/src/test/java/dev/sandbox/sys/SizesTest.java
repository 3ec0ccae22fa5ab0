package dev.sandbox.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class SizesTest {
    @Test
    void human_roundsUpLikeDuH() {
        assertEquals("0", Sizes.human(0));
        assertEquals("512B", Sizes.human(512));
        assertEquals("4.0K", Sizes.human(4096));
        assertEquals("2.9M", Sizes.human(3_000_000));
        assertEquals("120K", Sizes.human(120 * 1024));
        assertEquals("1.0G", Sizes.human(1L << 30));
        assertEquals("200G", Sizes.human(200L << 30));
        assertEquals("8.0E", Sizes.human(Long.MAX_VALUE));
    }
}
