package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CopySnapshotterTest {
    @TempDir
    Path tmp;
    Path src;
    Path state;

    @BeforeEach
    void tree() throws IOException {
        src = Files.createDirectory(tmp.resolve("repo"));
        Files.writeString(src.resolve("README.md"), "hello\n");
        Path bin = Files.createDirectories(src.resolve("bin"));
        Files.writeString(bin.resolve("run.sh"), "#!/bin/sh\n");
        Files.setPosixFilePermissions(bin.resolve("run.sh"), PosixFilePermissions.fromString("rwxr-x---"));
        Files.setLastModifiedTime(bin.resolve("run.sh"), FileTime.fromMillis(1_000_000_000_000L));
        Files.createSymbolicLink(src.resolve("link"), Path.of("does/not/exist"));
        Files.createDirectories(src.resolve("empty/dir"));
        Path ro = Files.createDirectories(src.resolve("ro"));
        Files.writeString(ro.resolve("f"), "x");
        Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r-xr-xr-x"));
        state = Files.createDirectories(src.resolve(".git/sandbox/snapshots"));
        Files.writeString(state.resolve("big"), "state must not be copied");
    }

    @Test
    void copy_keepsModesTimesSymlinksAndEmptyDirs_andLeavesStateOut() throws IOException {
        Path dst = tmp.resolve("snap");
        Snapshotter.Result r = new CopySnapshotter().copy(src, dst, Set.of(src.resolve(".git/sandbox")));
        assertEquals("hello\n", Files.readString(dst.resolve("README.md")));
        assertEquals("rwxr-x---", PosixFilePermissions.toString(Files.getPosixFilePermissions(dst.resolve("bin/run.sh"))));
        assertEquals(FileTime.fromMillis(1_000_000_000_000L), Files.getLastModifiedTime(dst.resolve("bin/run.sh")));
        assertEquals(Path.of("does/not/exist"), Files.readSymbolicLink(dst.resolve("link")));
        assertTrue(Files.isDirectory(dst.resolve("empty/dir")));
        assertEquals("r-xr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(dst.resolve("ro"))));
        assertEquals("x", Files.readString(dst.resolve("ro/f")));
        assertTrue(Files.isDirectory(dst.resolve(".git")));
        assertFalse(Files.exists(dst.resolve(".git/sandbox"), LinkOption.NOFOLLOW_LINKS));
        assertEquals(List.of(), r.skipped());
        assertEquals(r.fingerprint(), Snapshotter.fingerprint(src, Set.of(src.resolve(".git/sandbox"))));
        Files.setPosixFilePermissions(dst.resolve("ro"), PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @Test
    void copy_skipsFifosAndReportsThem() throws Exception {
        Process p = new ProcessBuilder("mkfifo", src.resolve("pipe").toString()).start();
        assertEquals(0, p.waitFor());
        Path dst = tmp.resolve("snap");
        Snapshotter.Result r = new CopySnapshotter().copy(src, dst, Set.of());
        assertEquals(List.of(Path.of("pipe")), r.skipped());
        assertFalse(Files.exists(dst.resolve("pipe"), LinkOption.NOFOLLOW_LINKS));
        Files.setPosixFilePermissions(dst.resolve("ro"), PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @Test
    void fingerprint_changesWithContentModeAndNewFiles_notWithState() throws IOException {
        Set<Path> exclude = Set.of(src.resolve(".git/sandbox"));
        String before = Snapshotter.fingerprint(src, exclude);
        Files.writeString(state.resolve("more"), "state changes do not count");
        assertEquals(before, Snapshotter.fingerprint(src, exclude));

        Files.writeString(src.resolve("README.md"), "hello\n", java.nio.file.StandardOpenOption.APPEND);
        String written = Snapshotter.fingerprint(src, exclude);
        assertNotEquals(before, written);

        Files.setPosixFilePermissions(src.resolve("README.md"), PosixFilePermissions.fromString("rwx------"));
        String chmodded = Snapshotter.fingerprint(src, exclude);
        assertNotEquals(written, chmodded);

        Files.writeString(src.resolve("empty/dir/new"), "");
        assertNotEquals(chmodded, Snapshotter.fingerprint(src, exclude));
        Files.setPosixFilePermissions(src.resolve("ro"), PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @Test
    void copy_ofManyFilesInParallel_isExact_andItsFingerprintIsTheTreesWhateverTheOrder() throws IOException {
        for (int d = 0; d < 5; d++) {
            Path dir = Files.createDirectories(src.resolve("many/d" + d + "/sub"));
            for (int f = 0; f < 300; f++) {
                Files.writeString(dir.resolve("f" + f), d + "/" + f + "\n");
            }
        }
        Set<Path> exclude = Set.of(src.resolve(".git/sandbox"));
        Path dst = tmp.resolve("snap");
        Snapshotter.Result r = new CopySnapshotter().copy(src, dst, exclude);
        for (int d = 0; d < 5; d++) {
            for (int f = 0; f < 300; f += 37) {
                assertEquals(d + "/" + f + "\n", Files.readString(dst.resolve("many/d" + d + "/sub/f" + f)));
            }
            try (var listing = Files.list(dst.resolve("many/d" + d + "/sub"))) {
                assertEquals(300, listing.count());
            }
        }
        assertEquals(r.fingerprint(), Snapshotter.fingerprint(src, exclude), "the same tree, walked again");
        Files.writeString(src.resolve("many/d3/sub/f7"), "changed\n");
        assertNotEquals(r.fingerprint(), Snapshotter.fingerprint(src, exclude), "one file rewritten");
        Files.setPosixFilePermissions(dst.resolve("ro"), PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @Test
    void modeAndTimes_asTheSystemCallsTakeThem() throws IOException {
        Path f = src.resolve("bin/run.sh");
        PosixFileAttributes a = Files.readAttributes(f, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        assertEquals(0750, CopySnapshotter.mode(a));
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        assertEquals(0644, CopySnapshotter.mode(Files.readAttributes(f, PosixFileAttributes.class)));
        long[] times = CopySnapshotter.times(a);
        assertEquals(1_000_000_000L, times[2]);
        assertEquals(0, times[3]);
    }
}
