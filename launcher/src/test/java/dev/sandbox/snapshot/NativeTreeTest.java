package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeTreeTest {
    @TempDir
    Path tmp;

    private final NativeTree tree = new NativeTree(NativeTree.defaultHelper());

    @Test
    void copy_hostileNames_fifoSkipped_sparseKept_fingerprintEqualsScan() throws Exception {
        Path src = Files.createDirectory(tmp.resolve("src"));
        Files.writeString(src.resolve("new\nline\\back"), "x");
        Files.createSymbolicLink(src.resolve("up"), Path.of("../.."));
        Path fifo = src.resolve("a\tfifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        try (RandomAccessFile f = new RandomAccessFile(src.resolve("sparse").toFile(), "rw")) {
            f.setLength(1L << 32); // 4 GiB, no block
        }
        Path state = Files.createDirectories(src.resolve(".git/sandbox"));
        Files.writeString(state.resolve("x"), "state");

        long t0 = System.nanoTime();
        NativeTree.Copied c = tree.copy(src, tmp.resolve("dst"), Set.of(state), false, null, null);
        long ms = (System.nanoTime() - t0) / 1_000_000;

        assertEquals(List.of(Path.of("a\tfifo")), c.skipped());
        assertEquals("x", Files.readString(tmp.resolve("dst/new\nline\\back")));
        assertEquals(Path.of("../.."), Files.readSymbolicLink(tmp.resolve("dst/up")));
        assertFalse(Files.exists(tmp.resolve("dst/.git/sandbox"), LinkOption.NOFOLLOW_LINKS));
        assertEquals(1L << 32, Files.size(tmp.resolve("dst/sparse")));
        Process stat = new ProcessBuilder("stat", "-c", "%b", tmp.resolve("dst/sparse").toString()).start();
        long blocks = Long.parseLong(new String(stat.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip());
        assertTrue(blocks * 512 <= 1 << 20, "the hole stays a hole: " + blocks + " blocks");
        assertTrue(ms < 5000, "a 4 GiB hole took " + ms + " ms");
        NativeTree.Scan scan = tree.scan(src, Set.of(state), null);
        assertEquals(c.fingerprint(), scan.fingerprint());
        assertTrue(scan.fingerprint().startsWith("n6-"), scan.fingerprint() + ": root, .git and 4 entries");
        assertEquals(4, scan.files());
        assertEquals((1L << 32) + 1, scan.bytes());
        Files.writeString(src.resolve("new\nline\\back"), "yy");
        assertNotEquals(c.fingerprint(), tree.scan(src, Set.of(state), null).fingerprint());
    }

    @Test
    void copy_unreadableFile_isOneFileSystemException() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(Posix.isRoot(), "root reads every file");
        Path src = Files.createDirectory(tmp.resolve("src"));
        Path secret = Files.writeString(src.resolve("secret"), "s");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("---------"));
        FileSystemException e = assertThrows(FileSystemException.class,
                () -> tree.copy(src, tmp.resolve("dst"), Set.of(), false, null, null));
        assertEquals(secret.toString(), e.getFile());
        assertEquals("Permission denied", e.getReason());
    }

    @Test
    void applyOps_goneEntry_isChanged() throws Exception {
        Path src = Files.createDirectory(tmp.resolve("src"));
        Files.createDirectories(src.resolve("d"));
        Files.writeString(src.resolve("d/f"), "f");
        Path ops = tmp.resolve("ops");
        Files.write(ops, "cd/f\0wd/old\0cd/gone\0".getBytes(StandardCharsets.UTF_8));
        NativeTree.Changed e = assertThrows(NativeTree.Changed.class,
                () -> tree.applyOps(src, tmp.resolve("dst"), ops, false, null));
        assertEquals(Path.of("d/gone"), e.relative());
        Files.write(ops, "cd/f\0wd/old\0".getBytes(StandardCharsets.UTF_8));
        NativeTree.Copied c = tree.applyOps(src, tmp.resolve("dst2"), ops, false, null);
        assertEquals(1, c.files());
        assertEquals("f", Files.readString(tmp.resolve("dst2/d/f")));
        assertTrue(c.fingerprint().startsWith("n1-"), c.fingerprint());
    }

    @Test
    void unescape_octal() {
        assertEquals("a\nb\\c", NativeTree.unescape("a\\012b\\134c"));
        assertEquals("plain", NativeTree.unescape("plain"));
    }
}
