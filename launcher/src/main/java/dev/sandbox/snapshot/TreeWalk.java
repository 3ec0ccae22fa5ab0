package dev.sandbox.snapshot;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.Set;

/**
 * A walk of a working tree that never follows symlinks, skips excluded subtrees (the state
 * directory), and hands each entry's POSIX attributes to a visitor while it fingerprints
 * them, so a copy and a later "has anything changed?" check see exactly the same entries.
 */
final class TreeWalk {
    /** What to do with each entry; directories are visited before and after their children. */
    interface Visitor {
        void enterDirectory(Path dir, Path relative, PosixFileAttributes attrs) throws IOException;

        void file(Path file, Path relative, PosixFileAttributes attrs) throws IOException;

        void leaveDirectory(Path dir, Path relative, PosixFileAttributes attrs) throws IOException;
    }

    private TreeWalk() {
    }

    /** Walks {@code root} and returns the fingerprint of what was visited. */
    static String walk(Path root, Set<Path> exclude, Visitor visitor) throws IOException {
        Fingerprint fingerprint = new Fingerprint();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes basic) throws IOException {
                if (exclude.contains(dir)) {
                    return FileVisitResult.SKIP_SUBTREE;
                }
                PosixFileAttributes attrs = posix(dir);
                Path rel = root.relativize(dir);
                fingerprint.add(rel.toString(), attrs);
                visitor.enterDirectory(dir, rel, attrs);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes basic) throws IOException {
                if (exclude.contains(file)) {
                    return FileVisitResult.CONTINUE;
                }
                PosixFileAttributes attrs = posix(file);
                Path rel = root.relativize(file);
                fingerprint.add(rel.toString(), attrs);
                visitor.file(file, rel, attrs);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                throw e;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                visitor.leaveDirectory(dir, root.relativize(dir), posix(dir));
                return FileVisitResult.CONTINUE;
            }
        });
        return fingerprint.value();
    }

    private static PosixFileAttributes posix(Path p) throws IOException {
        return Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    }
}
