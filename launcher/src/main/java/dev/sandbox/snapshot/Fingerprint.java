package dev.sandbox.snapshot;

import java.nio.charset.StandardCharsets;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * An order-independent digest of a tree's metadata (path, type, size, mtime, inode,
 * permissions of every entry): equal digests mean nothing in the tree was added, removed,
 * written, replaced or chmod'ed since, without reading any file's content. Per-entry hashes
 * are summed so the walk order (readdir order) does not matter.
 */
final class Fingerprint {
    private final MessageDigest sha;
    private long sum;
    private long count;

    Fingerprint() {
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    void add(String relativePath, BasicFileAttributes a) {
        StringBuilder key = new StringBuilder(relativePath.length() + 64).append(relativePath).append('\0')
                .append(a.isDirectory() ? 'd' : a.isSymbolicLink() ? 'l' : a.isRegularFile() ? 'f' : 'o')
                .append(a.size()).append(':').append(a.lastModifiedTime().toInstant()).append(':')
                .append(a.fileKey());
        if (a instanceof PosixFileAttributes p) {
            key.append(':').append(PosixFilePermissions.toString(p.permissions()));
        }
        byte[] h = sha.digest(key.toString().getBytes(StandardCharsets.UTF_8));
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (h[i] & 0xff);
        }
        sum += v;
        count++;
    }

    String value() {
        return String.format("%d-%016x", count, sum);
    }
}
