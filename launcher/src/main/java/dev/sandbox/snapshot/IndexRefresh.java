package dev.sandbox.snapshot;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Map;

/**
 * Brings a copied snapshot's git index up to date with the copy's files. A copy has new
 * inode numbers and change times, so git would take every file for possibly modified and
 * read it all again on the first {@code git status} in every sandbox. The content is known
 * to be the same (it was just copied), so only the stat fields of each entry are rewritten
 * from the copy's {@code lstat}; overlayfs shows the lower layer's inode numbers, so the
 * fixed index is right in every sandbox on the snapshot.
 *
 * <p>Index format (git's Documentation/gitformat-index.txt): a 12-byte header, entries
 * whose first 40 bytes are ctime, mtime (seconds and nanoseconds), dev, ino, mode, uid,
 * gid, size, then the object id, flags and the path; extensions; a SHA-1 of it all.
 */
public final class IndexRefresh {
    private static final int HEADER = 12;
    private static final int STAT_BYTES = 40;
    private static final int HASH = 20;
    private static final int GITLINK = 0160000;

    private IndexRefresh() {
    }

    /**
     * Rewrites {@code tree/.git/index} in place (atomically); returns the number of entries
     * refreshed, or -1 if there is no index this code can safely rewrite (none, a worktree's
     * {@code .git} file, a split index, an unknown version): git then just works harder.
     */
    public static int refresh(Path tree) throws IOException {
        return refresh(tree, null);
    }

    /**
     * As {@link #refresh(Path)}, rewriting only the entries {@code clean} accepts (all when
     * null): a file staged and then edited must keep its old stat data, or git inside would
     * take the edited file for the staged blob ({@code M } where the user sees {@code MM}).
     */
    public static int refresh(Path tree, Clean clean) throws IOException {
        if (!Files.isDirectory(tree.resolve(".git"), LinkOption.NOFOLLOW_LINKS)) {
            return -1;
        }
        Path index = tree.resolve(".git/index");
        byte[] raw;
        try {
            raw = Files.readAllBytes(index);
        } catch (NoSuchFileException e) {
            return -1;
        }
        int refreshed = rewrite(raw, tree, clean);
        if (refreshed >= 0) {
            write(index, raw);
        }
        return refreshed;
    }

    /**
     * The index at {@code index} with every entry's stat data taken from the file of its path
     * under {@code statRoot}: for a delta snapshot, the merged view of its layers (a {@code
     * LowerView}), which shows the inode numbers a sandbox's overlay shows, while the index
     * itself lies in the delta's layer and may only be written once that view is closed. Null
     * when there is no index this code can safely rewrite.
     */
    public static byte[] refreshed(Path index, Path statRoot, Clean clean) throws IOException {
        byte[] raw;
        try {
            raw = Files.readAllBytes(index);
        } catch (NoSuchFileException e) {
            return null;
        }
        return rewrite(raw, statRoot, clean) < 0 ? null : raw;
    }

    /**
     * Whether the user's index entry for {@code path} (raw bytes) held the stat data of the
     * user's file (ctime and mtime in seconds, the low 32 bits, and nanoseconds; the low 32
     * bits of inode and size, as the index keeps them): only then was git sure the file
     * matched the staged blob, and only then may the copy's stat replace it. An entry staged
     * and then edited keeps its old stat, so that git reads the file again. ctime counts as
     * git counts it (core.trustctime): a rewrite that kept size, inode and mtime ({@code cp
     * -p}) moved only the ctime.
     */
    @FunctionalInterface
    public interface Clean {
        boolean clean(byte[] path, int ctimeSec, int ctimeNsec, int mtimeSec, int mtimeNsec, int ino, int size);
    }

    /**
     * Clean where the index entry holds the stat data {@code manifest} recorded for its path
     * (the low 32 bits of inode and size, as the index keeps them; the ctime where the
     * manifest knows it): the manifest of the very tree whose index this is, as the copy saw
     * it.
     */
    public static Clean sameAs(Manifest manifest) {
        return (path, csec, cnsec, sec, nsec, ino, size) -> sameStat(manifest.get(Manifest.key(path)), csec, cnsec,
                sec, nsec, ino, size);
    }

    /**
     * Whether manifest entry {@code e} (null: none) has the stat data of an index entry: mtime,
     * the low 32 bits of inode and size, and ctime when {@code e} knows it (an entry read from
     * an SBMANIF1 manifest does not).
     */
    public static boolean sameStat(Manifest.Entry e, int csec, int cnsec, int sec, int nsec, int ino, int size) {
        return e != null && (int) e.mtimeSec() == sec && e.mtimeNsec() == nsec && (int) e.ino() == ino
                && (int) e.size() == size && (!e.ctimeKnown() || (int) e.ctimeSec() == csec && e.ctimeNsec() == cnsec);
    }

    /**
     * Clean where the index entry holds the stat data of the file at its path under {@code
     * root} now ({@code lstat}; a path that can't be read is not clean): for a copy of a tree
     * with no manifest, e.g. of a layered snapshot's merged view.
     */
    public static Clean sameStatUnder(Path root) {
        return (path, csec, cnsec, sec, nsec, ino, size) -> {
            try {
                Map<String, Object> a = Files.readAttributes(root.resolve(new String(path, StandardCharsets.UTF_8)),
                        "unix:ino,size,lastModifiedTime,ctime", LinkOption.NOFOLLOW_LINKS);
                java.time.Instant mtime = ((FileTime) a.get("lastModifiedTime")).toInstant();
                java.time.Instant ctime = ((FileTime) a.get("ctime")).toInstant();
                return (int) mtime.getEpochSecond() == sec && mtime.getNano() == nsec
                        && (int) ctime.getEpochSecond() == csec && ctime.getNano() == cnsec
                        && (int) (long) (Long) a.get("ino") == ino && (int) (long) (Long) a.get("size") == size;
            } catch (IOException | RuntimeException e) {
                return false;
            }
        };
    }

    /** Replaces {@code index} with {@code raw} atomically (a sibling renamed over it). */
    public static void write(Path index, byte[] raw) throws IOException {
        Path tmp = index.resolveSibling("index.sandbox-refresh");
        Files.write(tmp, raw);
        Files.move(tmp, index, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Updates {@code raw}'s stat fields and checksum in place; -1 if it is not an index we know. */
    static int rewrite(byte[] raw, Path tree) throws IOException {
        return rewrite(raw, tree, null);
    }

    static int rewrite(byte[] raw, Path tree, Clean clean) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(raw);
        if (raw.length < HEADER + HASH || b.getInt(0) != 0x44495243 /* DIRC */) {
            return -1;
        }
        int version = b.getInt(4);
        int count = b.getInt(8);
        if (version < 2 || version > 4) {
            return -1;
        }
        int end = raw.length - HASH;
        int p = HEADER;
        byte[] previous = new byte[0];
        int refreshed = 0;
        for (int i = 0; i < count; i++) {
            int start = p;
            if (start + 62 > end) {
                return -1;
            }
            int mode = b.getInt(start + 24);
            int flags = b.getShort(start + 60) & 0xffff;
            p = start + 62;
            if (version >= 3 && (flags & 0x4000) != 0) {
                p += 2; // extended flags
            }
            byte[] path;
            if (version == 4) {
                // the path is the previous one minus N trailing bytes (a varint), plus a NUL-ended suffix
                long strip = 0;
                int c;
                do {
                    c = raw[p++] & 0xff;
                    strip = (strip << 7) | (c & 0x7f);
                    if ((c & 0x80) != 0) {
                        strip++;
                    }
                } while ((c & 0x80) != 0);
                int nul = indexOf(raw, p, end);
                if (nul < 0 || strip > previous.length) {
                    return -1;
                }
                byte[] prefix = Arrays.copyOf(previous, previous.length - (int) strip);
                path = concat(prefix, Arrays.copyOfRange(raw, p, nul));
                p = nul + 1;
            } else {
                int nul = indexOf(raw, p, end);
                if (nul < 0) {
                    return -1;
                }
                path = Arrays.copyOfRange(raw, p, nul);
                p = start + ((nul - start + 8) & ~7); // 1 to 8 NULs pad the entry to a multiple of 8
            }
            previous = path;
            if ((mode & 0170000) != GITLINK && (clean == null || clean.clean(path, b.getInt(start), b.getInt(start + 4),
                    b.getInt(start + 8), b.getInt(start + 12), b.getInt(start + 20), b.getInt(start + 36)))
                    && restat(b, start, mode, tree.resolve(
                    new String(path, StandardCharsets.UTF_8)))) {
                refreshed++;
            }
        }
        if (hasExtension(raw, p, end, "link")) {
            return -1; // a split index keeps entries in a shared file: leave it alone
        }
        if (!allZero(raw, end)) { // index.skipHash writes zeros; keep them
            try {
                byte[] sum = MessageDigest.getInstance("SHA-1").digest(Arrays.copyOf(raw, end));
                System.arraycopy(sum, 0, raw, end, HASH);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("the JDK has no SHA-1", e);
            }
        }
        return refreshed;
    }

    /** Writes the file's stat data into the entry at {@code at}, if it is still the same kind of file. */
    private static boolean restat(ByteBuffer b, int at, int mode, Path file) throws IOException {
        Map<String, Object> a;
        try {
            a = Files.readAttributes(file, "unix:ctime,lastModifiedTime,dev,ino,mode,uid,gid,size",
                    LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return false;
        } catch (IOException e) {
            return false; // e.g. a parent became a file: git will notice
        }
        int fileMode = (Integer) a.get("mode");
        if ((fileMode & 0170000) != (mode & 0170000)) {
            return false;
        }
        putTime(b, at, (FileTime) a.get("ctime"));
        putTime(b, at + 8, (FileTime) a.get("lastModifiedTime"));
        b.putInt(at + 16, (int) (long) (Long) a.get("dev"));
        b.putInt(at + 20, (int) (long) (Long) a.get("ino"));
        b.putInt(at + 28, (Integer) a.get("uid"));
        b.putInt(at + 32, (Integer) a.get("gid"));
        b.putInt(at + 36, (int) (long) (Long) a.get("size"));
        return true;
    }

    private static void putTime(ByteBuffer b, int at, FileTime t) {
        java.time.Instant i = t.toInstant();
        b.putInt(at, (int) i.getEpochSecond());
        b.putInt(at + 4, i.getNano());
    }

    private static boolean hasExtension(byte[] raw, int p, int end, String signature) {
        ByteBuffer b = ByteBuffer.wrap(raw);
        while (p + 8 <= end) {
            String sig = new String(raw, p, 4, StandardCharsets.US_ASCII);
            if (sig.equals(signature)) {
                return true;
            }
            p += 8 + b.getInt(p + 4);
        }
        return false;
    }

    private static int indexOf(byte[] raw, int from, int end) {
        for (int i = from; i < end; i++) {
            if (raw[i] == 0) {
                return i;
            }
        }
        return -1;
    }

    private static byte[] concat(byte[] a, byte[] c) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(a.length + c.length);
        out.writeBytes(a);
        out.writeBytes(c);
        return out.toByteArray();
    }

    private static boolean allZero(byte[] raw, int from) {
        for (int i = from; i < raw.length; i++) {
            if (raw[i] != 0) {
                return false;
            }
        }
        return true;
    }
}
