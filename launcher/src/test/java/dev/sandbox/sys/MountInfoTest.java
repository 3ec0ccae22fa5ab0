package dev.sandbox.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class MountInfoTest {
    private static final String TEXT = String.join("\n",
            "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
            "40 22 0:35 / /home/u\\040x rw shared:2 - tmpfs tmpfs rw",
            "41 40 0:36 / /home/u\\040x/data rw shared:3 - tmpfs tmpfs rw",
            "42 22 0:37 / /home/ux rw shared:4 - tmpfs tmpfs rw",
            "");

    @Test
    void firstBelow_findsOnlyMountsStrictlyBelow_byPathNotByPrefix() {
        assertEquals(Optional.of(Path.of("/home/u x/data")), MountInfo.firstBelow(Path.of("/home/u x"), TEXT));
        assertEquals(Optional.empty(), MountInfo.firstBelow(Path.of("/home/u"), TEXT), "/home/ux is not below /home/u");
        assertEquals(Optional.empty(), MountInfo.firstBelow(Path.of("/home/u x/data"), TEXT));
    }

    @Test
    void unescape_decodesOnlyOctalTriples() {
        assertEquals("a b\tc\\d", MountInfo.unescape("a\\040b\\011c\\134d"));
        assertEquals("a\\x", MountInfo.unescape("a\\x"));
        assertEquals("end\\04", MountInfo.unescape("end\\04"));
    }
}
