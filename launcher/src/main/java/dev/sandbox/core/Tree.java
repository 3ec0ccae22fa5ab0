package dev.sandbox.core;

import dev.sandbox.snapshot.BtrfsSnapshotter;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;

/**
 * Recursive deletion of state directories. They hold directories without write or search
 * permission (copied read-only trees, overlayfs's own {@code work/work} is mode 000), so each
 * directory is made accessible to its owner before it is entered, and read-only btrfs
 * snapshots, which are deleted as subvolumes.
 */
public final class Tree {
    private static final Set<PosixFilePermission> OWNER_ALL = EnumSet.of(PosixFilePermission.OWNER_READ,
            PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE);

    private Tree() {
    }

    static void delete(Path root) throws IOException {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        deleteRecursively(root);
    }

    /**
     * Depth-first, opening each directory only after making it accessible: NIO's tree walk
     * opens a directory before telling its visitor, too late to chmod a mode-000 one.
     */
    private static void deleteRecursively(Path path) throws IOException {
        if (Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
            if (BtrfsSnapshotter.isSubvolume(path) && BtrfsSnapshotter.release(path)) {
                return; // a read-only snapshot: deleted whole, or made writable to be emptied
            }
            makeAccessible(path);
            try (DirectoryStream<Path> children = Files.newDirectoryStream(path)) {
                for (Path child : children) {
                    deleteRecursively(child);
                }
            }
        }
        Files.delete(path);
    }

    public static void deleteQuietly(Path root) {
        try {
            delete(root);
        } catch (IOException ignored) {
            // Best effort on a failure path: gc removes what is left.
        }
    }

    private static void makeAccessible(Path dir) throws IOException {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS);
        if (!perms.containsAll(OWNER_ALL)) {
            perms.addAll(OWNER_ALL);
            Files.setPosixFilePermissions(dir, perms);
        }
    }
}
