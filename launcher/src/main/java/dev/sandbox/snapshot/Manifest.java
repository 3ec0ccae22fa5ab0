package dev.sandbox.snapshot;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;

/**
 * What a snapshot layer holds, entry by entry, as the working tree looked when it was copied:
 * the helper's {@code tree scan|copy --manifest} writes a full one, and a delta snapshot keeps
 * only its changes, with {@code w} tombstones for what was deleted. Composing a delta chain
 * gives the tree its merged view shows; diffing that against a fresh scan gives the operations
 * ({@link Op}) that make the next delta layer.
 *
 * <p>Format (docs/ARCHITECTURE.md §3, little-endian): the 8-byte magic {@code SBMANIF1}, then
 * per entry: u8 kind, u32 st_mode, u64 size, i64 mtime seconds, u32 mtime nanoseconds, u64
 * inode, u16 path length, the path's bytes (relative, no leading {@code /}; the root is the
 * empty path). A path is kept as a Latin-1 string, one char per byte, so that any file name
 * survives the round trip and sorts by its bytes.
 */
public final class Manifest {
    static final byte[] MAGIC = "SBMANIF1".getBytes(StandardCharsets.US_ASCII);
    /** The longest path a manifest may hold, in bytes (PATH_MAX). */
    public static final int PATH_MAX = 4096;
    /** The largest manifest file read, in bytes: about 20 million entries of 50 bytes. */
    public static final long FILE_MAX = 1L << 30;
    private static final int FIXED = 1 + 4 + 8 + 8 + 4 + 8 + 2;

    /** A directory. */
    public static final char DIR = 'd';
    /** A regular file. */
    public static final char FILE = 'f';
    /** A symbolic link. */
    public static final char LINK = 'l';
    /** A FIFO, socket or device: seen, never copied. */
    public static final char OTHER = 'o';
    /** Deleted since the layer below (delta manifests only). */
    public static final char DELETED = 'w';

    /** One entry; {@code path} holds the path's bytes as Latin-1 chars. */
    public record Entry(char kind, int mode, long size, long mtimeSec, int mtimeNsec, long ino, String path) {
        boolean sameKind(Entry o) {
            return kind == o.kind;
        }

        /** Whether the copy of {@code o} would differ from the copy of this entry in the layers. */
        boolean sameContent(Entry o) {
            return kind == o.kind && mode == o.mode && size == o.size && mtimeSec == o.mtimeSec
                    && mtimeNsec == o.mtimeNsec && ino == o.ino;
        }

        static Entry deleted(String path) {
            return new Entry(DELETED, 0, 0, 0, 0, 0, path);
        }
    }

    /** One operation of the helper's {@code tree copy --ops}. */
    public record Op(char op, String path) {
        /** Copy this one entry (a directory without its children). */
        public static final char COPY = 'c';
        /** Copy this directory's subtree and mark it opaque. */
        public static final char SUBTREE = 'C';
        /** Make a whiteout here. */
        public static final char WHITEOUT = 'w';
    }

    private final NavigableMap<String, Entry> entries;

    private Manifest(NavigableMap<String, Entry> entries) {
        this.entries = entries;
    }

    /** A manifest of {@code entries} (a later one for the same path wins). */
    public static Manifest of(Iterable<Entry> entries) {
        NavigableMap<String, Entry> map = new TreeMap<>();
        for (Entry e : entries) {
            checkPath(e.path());
            map.put(e.path(), e);
        }
        return new Manifest(map);
    }

    /** The entries, sorted by path bytes (a directory before what it holds). */
    public Map<String, Entry> entries() {
        return Collections.unmodifiableMap(entries);
    }

    public Entry get(String path) {
        return entries.get(path);
    }

    public int size() {
        return entries.size();
    }

    /** Entries that are not directories nor tombstones: what the helper counts as files. */
    public long files() {
        return entries.values().stream().filter(e -> e.kind() != DIR && e.kind() != DELETED).count();
    }

    /** The sum of the regular files' sizes, in bytes. */
    public long bytes() {
        long sum = 0;
        for (Entry e : entries.values()) {
            if (e.kind() == FILE) {
                sum += e.size();
            }
        }
        return sum;
    }

    /** The path as the Latin-1 string a manifest keys it by, from the path's UTF-8 (or raw) bytes. */
    public static String key(byte[] path) {
        return new String(path, StandardCharsets.ISO_8859_1);
    }

    /** The bytes of a manifest path. */
    public static byte[] pathBytes(String key) {
        return key.getBytes(StandardCharsets.ISO_8859_1);
    }

    /**
     * Reads a manifest.
     *
     * @throws IOException when the file can't be read, is larger than {@value #FILE_MAX} bytes,
     *     lacks the magic, ends inside an entry, or holds an unknown kind or a path that is
     *     longer than {@value #PATH_MAX} bytes, absolute, or has an empty, {@code .} or
     *     {@code ..} component
     */
    public static Manifest read(Path file) throws IOException {
        long length = Files.size(file);
        if (length > FILE_MAX) {
            throw new IOException("manifest '" + file + "' is " + length + " bytes, more than " + FILE_MAX);
        }
        NavigableMap<String, Entry> map = new TreeMap<>();
        try (InputStream raw = Files.newInputStream(file);
                DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(raw, 1 << 16))) {
            byte[] magic = new byte[MAGIC.length];
            in.readFully(magic);
            if (!java.util.Arrays.equals(magic, MAGIC)) {
                throw new IOException("'" + file + "' is not a manifest (no SBMANIF1 magic)");
            }
            byte[] fixed = new byte[FIXED];
            ByteBuffer b = ByteBuffer.wrap(fixed).order(ByteOrder.LITTLE_ENDIAN);
            while (true) {
                int first = in.read();
                if (first < 0) {
                    break;
                }
                fixed[0] = (byte) first;
                in.readFully(fixed, 1, FIXED - 1);
                char kind = (char) (fixed[0] & 0xff);
                if ("dflow".indexOf(kind) < 0) {
                    throw new IOException("manifest '" + file + "' holds an entry of unknown kind " + (int) kind);
                }
                int mode = b.getInt(1);
                long size = b.getLong(5);
                long sec = b.getLong(13);
                int nsec = b.getInt(21);
                long ino = b.getLong(25);
                int len = b.getShort(33) & 0xffff;
                if (len > PATH_MAX) {
                    throw new IOException("manifest '" + file + "' holds a path of " + len + " bytes");
                }
                byte[] path = new byte[len];
                in.readFully(path);
                String key = key(path);
                try {
                    checkPath(key);
                } catch (IllegalArgumentException e) {
                    throw new IOException("manifest '" + file + "': " + e.getMessage());
                }
                map.put(key, new Entry(kind, mode, size, sec, nsec, ino, key));
            }
        } catch (EOFException e) {
            throw new IOException("manifest '" + file + "' ends inside an entry", e);
        }
        return new Manifest(map);
    }

    /** Writes this manifest to {@code file} (replaced if it exists). */
    public void write(Path file) throws IOException {
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
            out.write(MAGIC);
            ByteBuffer b = ByteBuffer.allocate(FIXED).order(ByteOrder.LITTLE_ENDIAN);
            for (Entry e : entries.values()) {
                byte[] path = pathBytes(e.path());
                b.clear();
                b.put((byte) e.kind()).putInt(e.mode()).putLong(e.size()).putLong(e.mtimeSec())
                        .putInt(e.mtimeNsec()).putLong(e.ino()).putShort((short) path.length);
                out.write(b.array(), 0, FIXED);
                out.write(path);
            }
        }
    }

    /** Rejects a path a layer could be tricked by: absolute, too long, or with empty, . or .. parts. */
    private static void checkPath(String path) {
        if (path.length() > PATH_MAX) {
            throw new IllegalArgumentException("a path of " + path.length() + " bytes");
        }
        if (path.isEmpty()) {
            return; // the root
        }
        if (path.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("a path with a NUL byte");
        }
        for (String part : path.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                throw new IllegalArgumentException("a path '" + path + "' that is not relative and plain");
            }
        }
    }

    /**
     * The tree a stack of layers shows, from their manifests, topmost first as overlayfs takes
     * layers: the last is a full manifest, each one above it a delta. A tombstone deletes what
     * it names and everything below it; a directory whose inode differs from the one below
     * (replaced, see {@link #diff}) or that replaces a non-directory hides what was below it
     * (opaque); a non-directory replacing a directory hides that directory's subtree.
     */
    public static Manifest compose(List<Manifest> topmostFirst) {
        if (topmostFirst.isEmpty()) {
            throw new IllegalArgumentException("no layers");
        }
        NavigableMap<String, Entry> merged = new TreeMap<>(topmostFirst.get(topmostFirst.size() - 1).entries);
        merged.values().removeIf(e -> e.kind() == DELETED);
        for (int i = topmostFirst.size() - 2; i >= 0; i--) {
            for (Entry e : topmostFirst.get(i).entries.values()) { // sorted: a directory before its children
                Entry below = merged.get(e.path());
                if (e.kind() == DELETED) {
                    merged.remove(e.path());
                    below(merged, e.path()).clear();
                    continue;
                }
                if (below != null && below.kind() == DIR && (e.kind() != DIR || e.ino() != below.ino())) {
                    below(merged, e.path()).clear();
                }
                merged.put(e.path(), e);
            }
        }
        return new Manifest(merged);
    }

    /** The entries strictly below directory {@code path}. */
    private static NavigableMap<String, Entry> below(NavigableMap<String, Entry> map, String path) {
        if (path.isEmpty()) {
            return map.tailMap("", false);
        }
        return map.subMap(path + "/", true, path + "0", false); // '0' sorts right after '/'
    }

    /** What {@link #diff} found: the helper's operations, and the delta layer's manifest. */
    public record Delta(List<Op> ops, Manifest manifest, long files, long bytes) {
        /** Whether nothing changed. */
        public boolean empty() {
            return ops.isEmpty();
        }

        /** Writes the operations as {@code tree copy --ops} reads them: {@code <op><path>\0} each. */
        public void writeOps(Path file) throws IOException {
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
                for (Op op : ops) {
                    out.write(op.op());
                    out.write(pathBytes(op.path()));
                    out.write(0);
                }
            }
        }
    }

    /**
     * The operations that turn the tree {@code lower} describes into the one {@code now}
     * describes, as a layer over it, and that layer's manifest (the changed entries, {@code w}
     * for deleted ones). The rules: a new or changed file or link is copied ({@code c}; over a
     * directory it hides that directory); a directory whose mode or times changed is copied
     * alone ({@code c}); a directory that is new, whose inode changed (deleted and made again,
     * or renamed over) or that replaced a non-directory is copied with its subtree and made
     * opaque ({@code C}); an entry deleted from a directory that is still the same directory
     * gets a whiteout ({@code w}). Nothing is emitted below a {@code C} or a {@code w}.
     * FIFOs, sockets and devices count as absent, since no copy holds them. The root's own
     * attributes are not an operation: the helper gives the layer's root the tree's.
     *
     * @throws IllegalArgumentException when the root itself was replaced (a new inode): no
     *     delta can say that; take a full copy
     */
    public static Delta diff(Manifest lower, Manifest now) {
        Entry oldRoot = lower.get("");
        Entry newRoot = now.get("");
        if (oldRoot == null || newRoot == null || oldRoot.kind() != DIR || newRoot.kind() != DIR
                || oldRoot.ino() != newRoot.ino()) {
            throw new IllegalArgumentException("the tree's root was replaced");
        }
        List<Op> ops = new ArrayList<>();
        NavigableMap<String, Entry> layer = new TreeMap<>();
        Set<String> subtrees = new HashSet<>(); // the C's: what lies below one is copied with it
        long files = 0;
        long bytes = 0;
        for (Entry e : now.entries.values()) { // sorted: a directory before its children
            if (e.kind() == OTHER || e.path().isEmpty()) {
                continue;
            }
            if (underAny(parent(e.path()), subtrees)) {
                layer.put(e.path(), e);
                if (e.kind() != DIR) {
                    files++;
                    bytes += e.kind() == FILE ? e.size() : 0;
                }
                continue;
            }
            Entry old = lower.get(e.path());
            if (old != null && old.kind() == OTHER) {
                old = null;
            }
            if (e.kind() == DIR) {
                if (old == null || old.kind() != DIR || old.ino() != e.ino()) {
                    ops.add(new Op(Op.SUBTREE, e.path()));
                    layer.put(e.path(), e);
                    subtrees.add(e.path());
                } else if (old.mode() != e.mode() || old.mtimeSec() != e.mtimeSec()
                        || old.mtimeNsec() != e.mtimeNsec()) {
                    ops.add(new Op(Op.COPY, e.path()));
                    layer.put(e.path(), e);
                }
            } else if (old == null || !old.sameContent(e)) {
                ops.add(new Op(Op.COPY, e.path()));
                layer.put(e.path(), e);
                files++;
                bytes += e.kind() == FILE ? e.size() : 0;
            }
        }
        for (Entry old : lower.entries.values()) {
            if (old.kind() == OTHER || old.path().isEmpty()) {
                continue;
            }
            Entry e = now.get(old.path());
            if (e != null && e.kind() != OTHER) {
                continue; // still there (changed or not: handled above)
            }
            String parent = parent(old.path());
            Entry newParent = now.get(parent);
            Entry oldParent = lower.get(parent);
            // in a directory that is still the same one, not replaced itself nor under a replaced one
            if (newParent != null && newParent.kind() == DIR && oldParent != null && oldParent.kind() == DIR
                    && newParent.ino() == oldParent.ino() && !underAny(parent, subtrees)) {
                ops.add(new Op(Op.WHITEOUT, old.path()));
                layer.put(old.path(), Entry.deleted(old.path()));
            }
        }
        return new Delta(ops, new Manifest(layer), files, bytes);
    }

    /** Whether {@code path} or one of its ancestors is in {@code dirs}. */
    private static boolean underAny(String path, Set<String> dirs) {
        if (dirs.isEmpty()) {
            return false;
        }
        for (String p = path; !p.isEmpty(); p = parent(p)) {
            if (dirs.contains(p)) {
                return true;
            }
        }
        return false;
    }

    private static String parent(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }
}
