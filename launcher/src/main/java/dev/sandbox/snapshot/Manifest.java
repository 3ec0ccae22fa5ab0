package dev.sandbox.snapshot;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What a snapshot layer holds, entry by entry, as the working tree looked when it was copied:
 * the helper's {@code tree scan|copy --manifest} writes a full one, and a delta snapshot keeps
 * only its changes, with {@code w} tombstones for what was deleted. Composing a delta chain
 * gives the tree its merged view shows; diffing that against a fresh scan gives the operations
 * ({@link Op}) that make the next delta layer.
 *
 * <p>Format (docs/ARCHITECTURE.md §13, little-endian): the 8-byte magic {@code SBMANIF2}, then
 * per entry: u8 kind, u32 st_mode, u64 size, i64 mtime seconds, u32 mtime nanoseconds, u64
 * inode, i64 ctime seconds, u32 ctime nanoseconds, u16 path length, the path's bytes
 * (relative, no leading {@code /}; the root is the empty path). A path is kept as a Latin-1
 * string, one char per byte, so that any file name survives the round trip and sorts by its
 * bytes.
 *
 * <p>ctime is there because a file rewritten to the same size, keeping its inode and mtime
 * ({@code cp -p}, {@code rsync -t}, {@code tar x}, {@code touch -r}) differs in nothing else,
 * and no unprivileged call can set ctime back (stat(2); git checks it too, core.trustctime).
 * The previous format, {@code SBMANIF1}, the same without the two ctime fields, is still read:
 * snapshots on disk were written in it. Its entries' ctime is unknown ({@link
 * #CTIME_UNKNOWN} nanoseconds, written as such in SBMANIF2), and ctime is compared only where
 * both sides know it: such an entry, carried through deltas and compactions, is told by mtime,
 * size and inode alone until a full copy records its ctime.
 */
public final class Manifest {
    static final byte[] MAGIC = "SBMANIF2".getBytes(StandardCharsets.US_ASCII);
    static final byte[] MAGIC_V1 = "SBMANIF1".getBytes(StandardCharsets.US_ASCII);
    /** The ctime nanoseconds of an entry whose ctime is unknown (read from SBMANIF1); u32 0xffffffff. */
    public static final int CTIME_UNKNOWN = -1;
    /** The longest path a manifest may hold, in bytes (PATH_MAX). */
    public static final int PATH_MAX = 4096;
    /** The largest manifest file read, in bytes: about 20 million entries of 50 bytes. */
    public static final long FILE_MAX = 1L << 30;
    private static final int FIXED_V1 = 1 + 4 + 8 + 8 + 4 + 8 + 2;
    private static final int FIXED = FIXED_V1 + 8 + 4;

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

    /**
     * One entry; {@code path} holds the path's bytes as Latin-1 chars; {@code ctimeNsec} is
     * {@link #CTIME_UNKNOWN} when the ctime is unknown.
     */
    public record Entry(char kind, int mode, long size, long mtimeSec, int mtimeNsec, long ino, long ctimeSec,
            int ctimeNsec, String path) {
        /** An entry whose ctime is unknown, as an SBMANIF1 manifest holds it. */
        public Entry(char kind, int mode, long size, long mtimeSec, int mtimeNsec, long ino, String path) {
            this(kind, mode, size, mtimeSec, mtimeNsec, ino, 0, CTIME_UNKNOWN, path);
        }

        boolean sameKind(Entry o) {
            return kind == o.kind;
        }

        /** Whether the ctime is known (not read from an SBMANIF1 manifest). */
        public boolean ctimeKnown() {
            return ctimeNsec != CTIME_UNKNOWN;
        }

        /** Whether the ctime is {@code sec}, {@code nsec}, or unknown on one side. */
        public boolean sameCtime(long sec, int nsec) {
            return !ctimeKnown() || nsec == CTIME_UNKNOWN || ctimeSec == sec && ctimeNsec == nsec;
        }

        /**
         * Whether the copy of {@code o} would differ from the copy of this entry in the layers;
         * the ctime compared only where both know it.
         */
        boolean sameContent(Entry o) {
            return kind == o.kind && mode == o.mode && size == o.size && mtimeSec == o.mtimeSec
                    && mtimeNsec == o.mtimeNsec && ino == o.ino && sameCtime(o.ctimeSec, o.ctimeNsec);
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

    private final Map<String, Entry> entries; // a HashMap: a cold JVM builds and probes it fastest

    private Manifest(Map<String, Entry> entries) {
        this.entries = entries;
    }

    /** A manifest of {@code entries} (a later one for the same path wins). */
    public static Manifest of(Iterable<Entry> entries) {
        Map<String, Entry> map = new HashMap<>();
        for (Entry e : entries) {
            checkPath(e.path());
            map.put(e.path(), e);
        }
        return new Manifest(map);
    }

    /** The entries by path, in no order. */
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

    /**
     * Whether every entry of this manifest (but its tombstones) still describes the tree under
     * {@code root}, by one {@code lstat(2)} each: the same kind, mode, size, modification time,
     * inode and ctime (where known), the attributes a scan compares. After a small delta was
     * copied this stands for a second scan of the whole tree: only the copied entries can be
     * torn, and an entry that changed anywhere else still holds, in the layers below, what the
     * scan saw.
     *
     * @param maxEntries above this many entries, answers empty (scanning costs less)
     * @return whether all still match; empty when this can't be told by stat: too many
     *     entries, a path that is not UTF-8, which a Java path can't name, or a stat that
     *     fails otherwise than with ENOENT (a path longer than PATH_MAX, which the helper reaches by
     *     descriptors)
     */
    public Optional<Boolean> stillDescribes(Path root, int maxEntries) {
        if (entries.size() > maxEntries) {
            return Optional.empty();
        }
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder();
        for (Entry e : entries.values()) {
            if (e.kind() == DELETED) {
                continue;
            }
            String name;
            try {
                name = utf8.decode(ByteBuffer.wrap(pathBytes(e.path()))).toString();
            } catch (CharacterCodingException notUtf8) {
                return Optional.empty();
            }
            Map<String, Object> now;
            try {
                now = Files.readAttributes(name.isEmpty() ? root : root.resolve(name),
                        "unix:mode,size,ino,lastModifiedTime,ctime", LinkOption.NOFOLLOW_LINKS);
            } catch (InvalidPathException | UnsupportedOperationException unnamed) {
                return Optional.empty();
            } catch (java.nio.file.NoSuchFileException gone) {
                return Optional.of(false);
            } catch (IOException unreadable) { // a path too long for one call, say: the helper's scan can tell
                return Optional.empty();
            }
            Instant mtime = ((java.nio.file.attribute.FileTime) now.get("lastModifiedTime")).toInstant();
            Instant ctime = ((java.nio.file.attribute.FileTime) now.get("ctime")).toInstant();
            if ((Integer) now.get("mode") != e.mode() || (e.kind() != DIR && (Long) now.get("size") != e.size())
                    || (Long) now.get("ino") != e.ino() || mtime.getEpochSecond() != e.mtimeSec()
                    || mtime.getNano() != e.mtimeNsec() || !e.sameCtime(ctime.getEpochSecond(), ctime.getNano())) {
                return Optional.of(false);
            }
        }
        return Optional.of(true);
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
     * Whether {@code file} begins with the current format's magic ({@code SBMANIF2}); false
     * for the previous format, anything else, or a file that can't be read (the caller then
     * takes a full copy, which needs no manifest).
     */
    public static boolean current(Path file) {
        try (var in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            return java.util.Arrays.equals(in.readNBytes(MAGIC.length), MAGIC);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Reads a manifest, SBMANIF2 or SBMANIF1 (its entries' ctime unknown).
     *
     * @throws IOException when the file can't be read, is larger than {@value #FILE_MAX} bytes,
     *     lacks either magic, ends inside an entry, or holds an unknown kind or a path that is
     *     longer than {@value #PATH_MAX} bytes, absolute, or has an empty, {@code .} or
     *     {@code ..} component
     */
    public static Manifest read(Path file) throws IOException {
        long length = Files.size(file);
        if (length > FILE_MAX) {
            throw new IOException("manifest '" + file + "' is " + length + " bytes, more than " + FILE_MAX);
        }
        byte[] raw = Files.readAllBytes(file);
        String source = "manifest '" + file + "'";
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        Map<String, Entry> map = new HashMap<>(Math.max(16, raw.length / 40));
        int fixed = fixed(raw, "'" + file + "'");
        for (int p = MAGIC.length; p < raw.length; p = next(b, p, fixed)) {
            String key = key(raw, b, p, source, fixed);
            map.put(key, entry(b, p, (char) (raw[p] & 0xff), key, fixed));
        }
        return new Manifest(map);
    }

    /** This manifest as {@link #write} writes it. */
    byte[] toBytes() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try {
            write(out);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** Writes this manifest to {@code file} (replaced if it exists), as SBMANIF2. */
    public void write(Path file) throws IOException {
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
            write(out);
        }
    }

    private void write(OutputStream out) throws IOException {
        {
            out.write(MAGIC);
            ByteBuffer b = ByteBuffer.allocate(FIXED).order(ByteOrder.LITTLE_ENDIAN);
            for (Entry e : entries.values()) {
                byte[] path = pathBytes(e.path());
                b.clear();
                b.put((byte) e.kind()).putInt(e.mode()).putLong(e.size()).putLong(e.mtimeSec())
                        .putInt(e.mtimeNsec()).putLong(e.ino()).putLong(e.ctimeSec()).putInt(e.ctimeNsec())
                        .putShort((short) path.length);
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
        int start = 0;
        while (start <= path.length()) {
            int slash = path.indexOf('/', start);
            int end = slash < 0 ? path.length() : slash;
            int n = end - start;
            if (n == 0 || n == 1 && path.charAt(start) == '.'
                    || n == 2 && path.charAt(start) == '.' && path.charAt(start + 1) == '.') {
                throw new IllegalArgumentException("a path '" + path + "' that is not relative and plain");
            }
            start = end + 1;
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
        Map<String, Entry> merged = new HashMap<>(topmostFirst.get(topmostFirst.size() - 1).entries);
        merged.values().removeIf(e -> e.kind() == DELETED);
        for (int i = topmostFirst.size() - 2; i >= 0; i--) {
            Collection<Entry> layer = topmostFirst.get(i).entries.values();
            Set<String> hidden = new HashSet<>(); // what lies below one of these is gone from the merge
            for (Entry e : layer) {
                Entry below = merged.get(e.path());
                if (e.kind() == DELETED || below != null && below.kind() == DIR
                        && (e.kind() != DIR || e.ino() != below.ino())) {
                    hidden.add(e.path());
                }
            }
            if (!hidden.isEmpty()) {
                merged.keySet().removeIf(p -> underAny(parent(p), hidden) || hidden.contains(p) && !p.isEmpty());
            }
            for (Entry e : layer) {
                if (e.kind() != DELETED) {
                    merged.put(e.path(), e);
                }
            }
        }
        return new Manifest(merged);
    }

    /**
     * What {@link #diff} found: the helper's operations, the delta layer's manifest, the files
     * and bytes it copies, and the tree's FIFOs, sockets and devices, which no copy holds.
     */
    public record Delta(List<Op> ops, Manifest manifest, long files, long bytes, List<String> skipped) {
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
        try {
            return diff(lower, now.toBytes(), "the tree's manifest");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e); // bytes this class wrote
        }
    }

    /**
     * As {@link #diff(Manifest, Manifest)}, with the tree now as the bytes of the manifest the
     * helper's scan wrote (checked as {@link #read} checks them; {@code source} names it in
     * errors). Only changed entries become objects: on a cold JVM a one-file change in a
     * tree of 50,000 entries then costs one pass over the bytes and one lookup per entry.
     *
     * @throws IOException when the bytes are not a manifest (see {@link #read})
     */
    public static Delta diff(Manifest lower, byte[] raw, String source) throws IOException {
        Entry oldRoot = lower.get("");
        if (oldRoot == null || oldRoot.kind() != DIR) {
            throw new IllegalArgumentException("the tree's root was replaced");
        }
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        int fixed = fixed(raw, source);
        // one call per entry, so that the JIT compiles the body early (a loop alone runs interpreted for long)
        Pass pass = new Pass(lower, raw, b, source, fixed);
        for (int p = MAGIC.length; p < raw.length; p = next(b, p, fixed)) {
            pass.visit(p);
        }
        List<Entry> changed = pass.changed;
        Set<String> subtrees = pass.subtrees;
        List<String> others = pass.others;
        long matched = pass.matched;
        boolean root = pass.root;
        if (!root) {
            throw new IllegalArgumentException("the tree's root was replaced");
        }
        changed.sort(Comparator.comparing(Entry::path)); // a directory before what it holds: stable ops
        List<Op> ops = new ArrayList<>();
        Map<String, Entry> layer = new HashMap<>();
        long files = 0;
        long bytes = 0;
        for (Entry e : changed) {
            if (underAny(parent(e.path()), subtrees)) {
                continue; // in the layer through the pass below
            }
            ops.add(new Op(subtrees.contains(e.path()) ? Op.SUBTREE : Op.COPY, e.path()));
            layer.put(e.path(), e);
            if (e.kind() != DIR) {
                files++;
                bytes += e.kind() == FILE ? e.size() : 0;
            }
        }
        if (!subtrees.isEmpty()) { // all of a copied subtree, unchanged entries too: they hide the lower's
            for (int p = MAGIC.length; p < raw.length; p = next(b, p, fixed)) {
                String key = key(raw, b, p, source, fixed);
                char kind = (char) (raw[p] & 0xff);
                if (kind != OTHER && !key.isEmpty() && underAny(parent(key), subtrees)) {
                    layer.put(key, entry(b, p, kind, key, fixed));
                    if (kind != DIR) {
                        files++;
                        bytes += kind == FILE ? b.getLong(p + 5) : 0;
                    }
                }
            }
        }
        long lowerLive = lower.entries.values().stream().filter(e -> e.kind() != OTHER).count();
        if (matched < lowerLive) { // something was deleted: only now are the tree's paths worth a map
            Map<String, Long> dirs = new HashMap<>();
            Set<String> present = new HashSet<>();
            for (int p = MAGIC.length; p < raw.length; p = next(b, p, fixed)) {
                String key = key(raw, b, p, source, fixed);
                char kind = (char) (raw[p] & 0xff);
                if (kind != OTHER) {
                    present.add(key);
                    if (kind == DIR) {
                        dirs.put(key, b.getLong(p + 25));
                    }
                }
            }
            List<String> gone = new ArrayList<>();
            for (Entry old : lower.entries.values()) {
                if (old.kind() == OTHER || old.path().isEmpty() || present.contains(old.path())) {
                    continue;
                }
                String parent = parent(old.path());
                Long newParent = dirs.get(parent);
                Entry oldParent = lower.get(parent);
                // in a directory that is still the same one, not replaced itself nor under a replaced one
                if (newParent != null && oldParent != null && oldParent.kind() == DIR
                        && newParent == oldParent.ino() && !underAny(parent, subtrees)) {
                    gone.add(old.path());
                }
            }
            gone.sort(null);
            for (String path : gone) {
                ops.add(new Op(Op.WHITEOUT, path));
                layer.put(path, Entry.deleted(path));
            }
        }
        return new Delta(ops, new Manifest(layer), files, bytes, others);
    }

    /** The first pass of {@link #diff}: what changed, entry by entry. */
    private static final class Pass {
        final Manifest lower;
        final byte[] raw;
        final ByteBuffer b;
        final String source;
        final int fixed;
        final Entry oldRoot;
        final List<Entry> changed = new ArrayList<>();
        final Set<String> subtrees = new HashSet<>(); // the C's: what lies below one is copied with it
        final List<String> others = new ArrayList<>();
        long matched;
        boolean root;

        Pass(Manifest lower, byte[] raw, ByteBuffer b, String source, int fixed) {
            this.lower = lower;
            this.raw = raw;
            this.b = b;
            this.source = source;
            this.fixed = fixed;
            this.oldRoot = lower.get("");
        }

        void visit(int p) throws IOException {
            String key = key(raw, b, p, source, fixed);
            char kind = (char) (raw[p] & 0xff);
            if (kind == OTHER) {
                others.add(key);
                return;
            }
            if (kind == DELETED) {
                throw new IOException(source + " holds a tombstone: not a scan");
            }
            Entry old = lower.get(key);
            if (old != null && old.kind() == OTHER) {
                old = null;
            }
            if (old != null) {
                matched++;
            }
            if (key.isEmpty()) {
                if (kind != DIR || b.getLong(p + 25) != oldRoot.ino()) {
                    throw new IllegalArgumentException("the tree's root was replaced");
                }
                root = true;
                return;
            }
            if (kind == DIR && (old == null || old.kind() != DIR || old.ino() != b.getLong(p + 25))) {
                subtrees.add(key);
                changed.add(entry(b, p, kind, key, fixed));
            } else if (old == null || old.kind() != kind || old.mode() != b.getInt(p + 1)
                    || old.mtimeSec() != b.getLong(p + 13) || old.mtimeNsec() != b.getInt(p + 21)
                    || fixed == FIXED && !old.sameCtime(b.getLong(p + 33), b.getInt(p + 41))
                    || kind != DIR && (old.size() != b.getLong(p + 5) || old.ino() != b.getLong(p + 25))) {
                changed.add(entry(b, p, kind, key, fixed));
            }
        }
    }

    /**
     * A record's bytes before its path, by the magic: {@code FIXED} for SBMANIF2, {@code
     * FIXED_V1} for SBMANIF1. The entries start after the magic.
     */
    private static int fixed(byte[] raw, String source) throws IOException {
        if (raw.length >= MAGIC.length && Arrays.equals(raw, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
            return FIXED;
        }
        if (raw.length >= MAGIC.length && Arrays.equals(raw, 0, MAGIC.length, MAGIC_V1, 0, MAGIC.length)) {
            return FIXED_V1;
        }
        throw new IOException(source + " is not a manifest (no SBMANIF1 or SBMANIF2 magic)");
    }

    private static int next(ByteBuffer b, int p, int fixed) {
        return p + fixed + (b.getShort(p + fixed - 2) & 0xffff);
    }

    /** The path of the entry at {@code p}, checked as {@link #read} checks it. */
    private static String key(byte[] raw, ByteBuffer b, int p, String source, int fixed) throws IOException {
        if (raw.length - p < fixed) {
            throw new IOException(source + " ends inside an entry");
        }
        char kind = (char) (raw[p] & 0xff);
        if (kind != DIR && kind != FILE && kind != LINK && kind != OTHER && kind != DELETED) {
            throw new IOException(source + " holds an entry of unknown kind " + (int) kind);
        }
        int len = b.getShort(p + fixed - 2) & 0xffff;
        if (len > PATH_MAX) {
            throw new IOException(source + " holds a path of " + len + " bytes");
        }
        if (raw.length - p - fixed < len) {
            throw new IOException(source + " ends inside an entry");
        }
        if (fixed == FIXED) {
            int nsec = b.getInt(p + 41);
            if (nsec != CTIME_UNKNOWN && Integer.compareUnsigned(nsec, 999_999_999) > 0) {
                throw new IOException(source + " holds a ctime of more than 999999999 ns");
            }
        }
        String key = new String(raw, p + fixed, len, StandardCharsets.ISO_8859_1);
        try {
            checkPath(key);
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": " + e.getMessage());
        }
        return key;
    }

    private static Entry entry(ByteBuffer b, int p, char kind, String key, int fixed) {
        if (fixed == FIXED_V1) {
            return new Entry(kind, b.getInt(p + 1), b.getLong(p + 5), b.getLong(p + 13), b.getInt(p + 21),
                    b.getLong(p + 25), key);
        }
        return new Entry(kind, b.getInt(p + 1), b.getLong(p + 5), b.getLong(p + 13), b.getInt(p + 21),
                b.getLong(p + 25), b.getLong(p + 33), b.getInt(p + 41), key);
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
