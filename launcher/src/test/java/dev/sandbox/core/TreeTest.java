package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TreeTest {
    @TempDir
    Path tmp;

    @Test
    void delete_removesTreesWithInaccessibleDirectories() throws IOException {
        Path root = Files.createDirectories(tmp.resolve("sb/work/work"));
        Files.writeString(root.resolve("f"), "x");
        Files.createDirectories(tmp.resolve("sb/upper/ro"));
        Files.writeString(tmp.resolve("sb/upper/ro/g"), "y");
        Files.setPosixFilePermissions(tmp.resolve("sb/upper/ro"), PosixFilePermissions.fromString("r-x------"));
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("---------"));
        Tree.delete(tmp.resolve("sb"));
        assertFalse(Files.exists(tmp.resolve("sb")));
    }
}
