package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InstallTest {
    @TempDir
    Path dir;

    private Path elf(int machine, boolean little) throws IOException {
        byte[] h = new byte[64];
        h[0] = 0x7f;
        h[1] = 'E';
        h[2] = 'L';
        h[3] = 'F';
        h[4] = 2;
        h[5] = (byte) (little ? 1 : 2);
        h[little ? 18 : 19] = (byte) (machine & 0xff);
        h[little ? 19 : 18] = (byte) (machine >> 8);
        Path f = dir.resolve("elf-" + machine + (little ? "le" : "be"));
        Files.write(f, h);
        return f;
    }

    @Test
    void archOf_readsTheElfMachine_asUnameNamesIt() throws IOException {
        assertEquals("x86_64", Install.archOf(elf(62, true)));
        assertEquals("aarch64", Install.archOf(elf(183, true)));
        assertEquals("s390x", Install.archOf(elf(22, false)));
        assertEquals("ppc64le", Install.archOf(elf(21, true)));
        assertNull(Install.archOf(elf(9999, true)));
        Files.writeString(dir.resolve("script"), "#!/bin/sh\n");
        assertNull(Install.archOf(dir.resolve("script")));
        assertNull(Install.archOf(dir.resolve("missing")));
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        String uname = System.getProperty("os.arch").equals("amd64") ? "x86_64" : System.getProperty("os.arch");
        assertEquals(uname, Install.archOf(java), "this machine's own java");
    }

    @Test
    void sameArch_acceptsTheHostsThatRunTheBinary() {
        assertTrue(Install.sameArch("x86_64", "x86_64"));
        assertFalse(Install.sameArch("x86_64", "aarch64"));
        assertTrue(Install.sameArch("i686", "i386"));
        assertTrue(Install.sameArch("arm", "armv7l"));
        assertFalse(Install.sameArch("aarch64", "armv7l"));
    }
}
