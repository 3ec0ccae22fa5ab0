package dev.sandbox.harvest;

import dev.sandbox.sys.SafeOpen;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import org.eclipse.jgit.dircache.DirCache;
import org.eclipse.jgit.errors.CorruptObjectException;
import org.eclipse.jgit.util.FS;

/**
 * A git index the agent wrote, read as JGit's {@link DirCache}, which trusts the counts and
 * sizes an index states (an entry count or a {@code TREE} extension of 2 GiB is allocated
 * before it is read, and the cache tree is parsed recursively). So the file is first copied
 * into a scratch file through {@link SafeOpen}, at most {@link #MAX_BYTES}, with its header
 * and entries checked against the format (git's {@code Documentation/gitformat-index.txt},
 * versions 2 to 4) and its extensions, which only speed git up, left out; the copy gets a
 * checksum of its own and is read from there.
 */
final class AgentIndex {
    /** Bytes of an index: a few million entries. */
    static final long MAX_BYTES = 256L << 20;
    /** Bytes of a path in an entry; git's own limit is lower on every system it runs on. */
    private static final int MAX_PATH = 65536;
    /** ctime, mtime, dev, ino, mode, uid, gid, size (4 bytes each or 2x4), object id, flags. */
    private static final int FIXED = 62;
    private static final int EXTENDED = 0x4000;
    private static final int NAME_MASK = 0xfff;

    private AgentIndex() {
    }

    /**
     * The index {@code rel} below {@code root}, read through a checked copy at {@code copy}
     * (which the caller removes).
     *
     * @throws SafeOpen.NotRegular when it is not a regular file reached without a symlink
     * @throws IOException when it is larger than {@link #MAX_BYTES}, is not an index git
     *                     would read ({@link CorruptObjectException}, {@link EOFException}) or
     *                     can't be read
     */
    static DirCache read(Path root, String rel, Path copy) throws IOException {
        try (SafeOpen.Regular r = SafeOpen.open(root, rel)) {
            if (r.size() > MAX_BYTES) {
                throw new IOException(rel + ": " + r.size() + " bytes, over the limit of " + MAX_BYTES);
            }
            Files.createDirectories(copy.getParent());
            MessageDigest sha1;
            try {
                sha1 = MessageDigest.getInstance("SHA-1");
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException("every JDK has SHA-1", e);
            }
            try (InputStream in = new BufferedInputStream(r.stream(MAX_BYTES), 65536);
                    OutputStream file = new BufferedOutputStream(Files.newOutputStream(copy), 65536)) {
                OutputStream out = new DigestOutputStream(file, sha1);
                copyEntries(in, out, r.size(), rel);
                out.flush();
                file.write(sha1.digest());
            }
        }
        try {
            return DirCache.read(copy.toFile(), FS.DETECTED);
        } catch (RuntimeException e) {
            // JGit refuses a path such as '../x' or '.git/config' with an unchecked exception
            throw new CorruptObjectException(rel + ": " + e.getMessage());
        }
    }

    /** The header and entries of {@code in} to {@code out}, with the entry count checked against {@code size}. */
    private static void copyEntries(InputStream in, OutputStream out, long size, String rel) throws IOException {
        byte[] hdr = take(in, out, 12);
        int version = int32(hdr, 4);
        long count = int32(hdr, 8) & 0xffffffffL;
        if (hdr[0] != 'D' || hdr[1] != 'I' || hdr[2] != 'R' || hdr[3] != 'C' || version < 2 || version > 4) {
            throw new CorruptObjectException(rel + ": not a git index of version 2, 3 or 4");
        }
        if (count > (size - 12) / FIXED) {
            throw new CorruptObjectException(rel + ": " + count + " entries can't fit in " + size + " bytes");
        }
        for (long i = 0; i < count; i++) {
            byte[] fixed = take(in, out, FIXED);
            int flags = ((fixed[60] & 0xff) << 8) | (fixed[61] & 0xff);
            int length = FIXED;
            if ((flags & EXTENDED) != 0) {
                if (version < 3) {
                    throw new CorruptObjectException(rel + ": an extended entry in a version 2 index");
                }
                take(in, out, 2);
                length += 2;
            }
            if (version == 4) {
                int b;
                int n = 0;
                do { // the length of the previous path to drop, as a varint
                    b = next(in, out);
                    if (++n > 10) {
                        throw new CorruptObjectException(rel + ": bad path prefix in entry " + i);
                    }
                } while ((b & 0x80) != 0);
                name(in, out, rel);
                continue;
            }
            int nameLength = flags & NAME_MASK;
            int nulRead = 0;
            if (nameLength < NAME_MASK) {
                take(in, out, nameLength);
            } else {
                nameLength = name(in, out, rel) - 1; // 0xfff or longer: up to its NUL
                nulRead = 1;
            }
            length += nameLength;
            // NULs up to a multiple of 8 bytes, at least one
            int padded = (length + 8) & ~7;
            for (byte b : take(in, out, padded - length - nulRead)) {
                if (b != 0) {
                    throw new CorruptObjectException(rel + ": entry " + i + " is not padded with NULs");
                }
            }
        }
    }

    /** A NUL-terminated path; returns its length with the NUL. */
    private static int name(InputStream in, OutputStream out, String rel) throws IOException {
        for (int n = 1;; n++) {
            if (next(in, out) == 0) {
                return n;
            }
            if (n == MAX_PATH) {
                throw new CorruptObjectException(rel + ": a path longer than " + MAX_PATH + " bytes");
            }
        }
    }

    private static int next(InputStream in, OutputStream out) throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new EOFException("the index ends inside an entry");
        }
        out.write(b);
        return b;
    }

    private static byte[] take(InputStream in, OutputStream out, int n) throws IOException {
        byte[] b = in.readNBytes(n);
        if (b.length < n) {
            throw new EOFException("the index ends inside an entry");
        }
        out.write(b);
        return b;
    }

    private static int int32(byte[] b, int at) {
        return ((b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
    }
}
