package dev.sandbox.harvest;

import dev.sandbox.harvest.OpenDirs.Level;
import dev.sandbox.sys.Posix;
import dev.sandbox.sys.SafeOpen;
import dev.sandbox.sys.Sizes;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Locale;

/**
 * Reads a sandbox's upper layer into a {@link ChangeSet} (docs/ARCHITECTURE.md §6). Only the upper
 * layer is walked, so the cost grows with what the agent touched, not with the repository;
 * the snapshot is consulted path by path to drop copy-ups that changed nothing.
 *
 * <p>Everything in the upper layer is the agent's and so hostile: the walk goes through
 * directory descriptors ({@link SafeOpen.Dir}) with an explicit stack, so any depth works and
 * no path longer than one name is ever resolved; nothing is followed; no FIFO or device is
 * opened; what it reads of a file is bounded by the size seen at the open.
 */
public final class UpperWalk {
    /** What the snapshot's git tree holds at a path. */
    enum InTree {
        NONE, TREE, FILE_OR_SYMLINK, SUBMODULE
    }

    /** Which paths the snapshot's git tree holds: those are kept even if now ignored. */
    interface Tracked {
        InTree at(String path) throws IOException;
    }

    /**
     * What the walk takes and how it judges a copy-up.
     *
     * @param includeIgnored take the paths git would ignore: additions, edits and deletions
     * @param excludesFile   the user's {@code core.excludesFile} (may be null)
     * @param metadataOnly   judge a copy-up by its size, owner-exec bit and modification time,
     *                       reading no content but that of small files whose time alone
     *                       differs (at most {@link #SMALL} bytes each, {@link #SMALL_BUDGET} in
     *                       all): for counts, which must not cost what a 200 GB file costs
     * @param maxFile        bytes: a copy-up larger is judged by its metadata alone, never read
     */
    public record Options(boolean includeIgnored, Path excludesFile, boolean metadataOnly, long maxFile) {
    }

    /** Bytes of one ignore file read at most; git reads up to 100 MiB, but nobody writes that much. */
    static final int MAX_RULES = 1 << 20;
    /** Bytes of ignore files read at most in one walk, which the rules' memory and matching grow with. */
    static final long MAX_ALL_RULES = 8L << 20;
    /** Bytes of a file whose content a metadata-only walk compares when its modification time alone differs. */
    static final long SMALL = 1 << 20;
    /** Bytes a metadata-only walk compares in all. */
    static final long SMALL_BUDGET = 32L << 20;

    private static final String NOT_UTF8 = ": its name is not valid UTF-8, which the harvest can't carry"
            + " (it stays in the sandbox; rename it there to harvest it)";

    /** What a level needs besides its directories: its ignore rules and whether it is tracked. */
    private static final class Dir extends Level {
        final Ignores ignores;
        final boolean ignored;
        final boolean tracked;

        Dir(Level parent, String name, String path, SafeOpen.Dir upper, SafeOpen.Dir lower, Ignores ignores,
                boolean ignored, boolean tracked) throws IOException {
            super(parent, name, path, upper, lower);
            this.ignores = ignores;
            this.ignored = ignored;
            this.tracked = tracked;
        }
    }

    /** A subdirectory seen and still to be walked, and what the snapshot directory holds at its path. */
    private record Pending(Dir parent, String name, InTree inTree, boolean lowerIsDir, boolean lowerExists) {
    }

    /** A warning and the path it is about, by which warnings are sorted. */
    private record Note(String path, String text) {
    }

    private final Path upper;
    private final Path lower;
    private final Tracked tracked;
    private final Options options;
    private final boolean root = Posix.isRoot();
    private final List<Change> changes = new ArrayList<>();
    private final List<Note> warnings = new ArrayList<>();
    private final List<String> submodules = new ArrayList<>();
    private final List<String> nestedGitDirs = new ArrayList<>();
    private final List<String> unnamed = new ArrayList<>();
    private final List<String> fromSnapshot = new ArrayList<>();
    private int ignored;
    private final Deque<Pending> stack = new ArrayDeque<>();
    private OpenDirs dirs;
    private long rulesRead;
    private long compared;

    private UpperWalk(Path upper, Path lower, Tracked tracked, Options options) {
        this.upper = upper;
        this.lower = lower;
        this.tracked = tracked;
        this.options = options;
    }

    /**
     * The changes in {@code upper} over the snapshot tree {@code lower}, sorted by path.
     *
     * @throws IOException when a directory cannot be read (permission denied...)
     */
    static ChangeSet read(Path upper, Path lower, Tracked tracked, Options options) throws IOException {
        UpperWalk w = new UpperWalk(upper, lower, tracked, options);
        if (Files.isDirectory(upper, LinkOption.NOFOLLOW_LINKS)) {
            w.walk();
        }
        Comparator<String> order = UpperWalk::pathOrder;
        w.changes.sort(Comparator.comparing(Change::path, order)); // stable: a deletion stays before a write
        w.warnings.sort(Comparator.comparing(Note::path, order));
        return new ChangeSet(List.copyOf(w.changes), w.warnings.stream().map(Note::text).toList(),
                sorted(w.submodules), sorted(w.nestedGitDirs), sorted(w.unnamed), sorted(w.fromSnapshot), w.ignored);
    }

    private void walk() throws IOException {
        SafeOpen.Dir u = SafeOpen.openDir(upper);
        SafeOpen.Dir l = null;
        try {
            l = lower == null ? null : SafeOpen.openDir(lower);
        } catch (SafeOpen.NotRegular e) {
            // no snapshot tree: everything is new
        }
        Dir top;
        try {
            Ignores ignores = Ignores.root(rules(u, l, ""), infoExclude(), excludes(options.excludesFile()));
            top = new Dir(null, null, "", u, l, ignores, false, true);
        } catch (IOException | RuntimeException e) {
            u.close();
            if (l != null) {
                l.close();
            }
            throw e;
        }
        try (OpenDirs open = new OpenDirs(top)) {
            dirs = open;
            entries(top, "");
            while (!stack.isEmpty()) {
                Pending p = stack.pop();
                enter(p);
                if (--p.parent().pending == 0) {
                    dirs.done(p.parent());
                }
            }
        }
    }

    /** Walks into the subdirectory {@code p}: what it replaced, then its entries. */
    private void enter(Pending p) throws IOException {
        Dir parent = p.parent();
        if (!dirs.reach(parent)) {
            return; // moved away while we looked: the agent is still at work
        }
        String path = below(parent.path(), p.name());
        SafeOpen.Dir u;
        try {
            u = parent.upper().dir(p.name());
        } catch (SafeOpen.NotRegular e) {
            return; // replaced or removed while we looked
        }
        SafeOpen.Dir l = null;
        Dir level = null;
        try {
            boolean opaque = opaque(u);
            if (p.lowerIsDir() && !opaque && parent.lower() != null) {
                try {
                    l = parent.lower().dir(p.name());
                } catch (SafeOpen.NotRegular e) {
                    l = null;
                }
            }
            boolean ignored = parent.ignored || parent.ignores.ignored(path, true);
            boolean leftOut = ignored && !options.includeIgnored();
            if (p.inTree() != InTree.NONE && (p.inTree() != InTree.TREE || opaque)) {
                changes.add(Change.delete(path)); // a file became a directory, or the directory was made anew
                if (p.inTree() == InTree.TREE && options.includeIgnored()) {
                    fromSnapshot.add(path); // the ignored files below it are deleted too
                }
            } else if (p.inTree() == InTree.NONE && p.lowerExists() && (!p.lowerIsDir() || opaque)) {
                // what the snapshot held here, ignored then, is replaced
                if (leftOut) {
                    this.ignored++;
                    return;
                }
                fromSnapshot.add(path);
                changes.add(Change.delete(path));
            }
            if (leftOut && p.inTree() != InTree.TREE) {
                if (p.inTree() != InTree.NONE || !p.lowerIsDir() || opaque) {
                    this.ignored++; // new: counted as one path, and git would not look inside
                    return;
                }
                // the snapshot's own ignored directory: walked, to count what changed below
            }
            Ignores ignores = parent.ignores.child(path, rules(u, l, path));
            level = new Dir(parent, p.name(), path, u, l, ignores, ignored, p.inTree() == InTree.TREE);
        } finally {
            if (level == null) {
                u.close();
                if (l != null) {
                    l.close();
                }
            }
        }
        dirs.opened(level);
        entries(level, path);
        if (level.pending == 0) {
            dirs.done(level);
        }
    }

    /** Judges every entry of {@code level} but its subdirectories, which go on the stack in order. */
    private void entries(Dir level, String dirPath) throws IOException {
        List<String> names = new ArrayList<>();
        for (byte[] raw : level.upper().names()) {
            String name = RawName.decoded(raw);
            if (name != null) {
                names.add(name);
            } else if (level.upper().stat(raw) != null) {
                String path = below(dirPath, RawName.escaped(raw));
                unnamed.add(path);
                warn(path, "left out '" + path + "'" + NOT_UTF8);
            }
        }
        Collections.sort(names);
        List<Pending> below = new ArrayList<>();
        for (String name : names) {
            entry(level, dirPath, name, below);
        }
        for (int i = below.size() - 1; i >= 0; i--) {
            stack.push(below.get(i));
        }
        level.pending = below.size();
    }

    private void entry(Dir level, String dirPath, String name, List<Pending> below) throws IOException {
        String path = below(dirPath, name);
        if (name.equals(".git")) {
            if (!dirPath.isEmpty()) {
                nestedGitDirs.add(path);
            }
            return; // the agent's repository metadata is harvested as commits, never as files
        }
        if (gitsOwnName(name)) {
            warn(path, "left out '" + Blobs.shown(path) + "': git reserves the name (.git in another spelling,"
                    + " which git fsck calls hasDotgit and a checkout on macOS or Windows would write into .git)");
            return;
        }
        InTree inTree = level.tracked ? tracked.at(path) : InTree.NONE;
        if (inTree == InTree.SUBMODULE) {
            submodules.add(path); // said once for all, by the harvest
            return;
        }
        SafeOpen.Stat u = level.upper().stat(name);
        if (u == null) {
            return; // deleted while we looked: the agent is still at work
        }
        SafeOpen.Stat l = level.lower() == null ? null : level.lower().stat(name);
        if (u.isCharDevice() && u.rdev() == 0) {
            // overlayfs records a deletion as a character device 0/0, with or without userxattr
            if (inTree != InTree.NONE) {
                changes.add(Change.delete(path));
            } else if (l != null) {
                if (keep(level, path, inTree, l.isDirectory())) {
                    fromSnapshot.add(path); // ignored then: its deletion is one all the same
                    changes.add(Change.delete(path));
                } else {
                    ignored++;
                }
            }
        } else if (u.isDirectory()) {
            below.add(new Pending(level, name, inTree, l != null && l.isDirectory(), l != null));
        } else if (u.isFile()) {
            boolean keep = keep(level, path, inTree, false);
            if (keep ? !unchangedCopyUp(level, name, u, l) : !sameMetadata(u, l)) {
                write(path, inTree, l, keep,
                        u.executable() ? Change.Kind.WRITE_EXECUTABLE : Change.Kind.WRITE_FILE);
            }
        } else if (u.isSymlink()) {
            if (!(l != null && l.isSymlink() && sameTarget(level, name))) {
                write(path, inTree, l, keep(level, path, inTree, false), Change.Kind.WRITE_SYMLINK);
            }
        } else {
            warn(path, "left out '" + Blobs.shown(path) + "': not a regular file, directory or symlink");
        }
    }

    /**
     * Whether the walk takes a change at {@code path}: always one the snapshot's tree holds;
     * one git ignores only with {@link Options#includeIgnored}.
     */
    private boolean keep(Dir level, String path, InTree inTree, boolean directory) {
        return inTree != InTree.NONE || options.includeIgnored() || !(level.ignored || level.ignores.ignored(path, directory));
    }

    /**
     * A file or symlink the agent wrote at {@code path}, where the snapshot's tree holds
     * {@code inTree} and its directory {@code l}; counted as an ignored change when not taken.
     */
    private void write(String path, InTree inTree, SafeOpen.Stat l, boolean keep, Change.Kind kind) {
        if (!keep) {
            ignored++;
            return;
        }
        if (inTree == InTree.TREE || inTree == InTree.NONE && l != null && l.isDirectory()) {
            changes.add(Change.delete(path)); // a directory became a file
        }
        if (inTree == InTree.NONE && l != null) {
            fromSnapshot.add(path); // ignored then: the snapshot's version is its base
        }
        changes.add(new Change(kind, path));
    }

    /** Whether a copy-up looks unchanged from its metadata alone: for ignored files, which are only counted. */
    private static boolean sameMetadata(SafeOpen.Stat u, SafeOpen.Stat l) {
        return l != null && l.isFile() && u.executable() == l.executable() && u.size() == l.size()
                && u.mtimeNanos() == l.mtimeNanos();
    }

    /**
     * Whether the upper file {@code name} is a copy overlayfs made (for a chmod, an open for
     * writing, a touch) with the lower file's bits: compared byte by byte, or by metadata
     * as the {@link Options} say.
     */
    private boolean unchangedCopyUp(Dir level, String name, SafeOpen.Stat u, SafeOpen.Stat l) throws IOException {
        if (l == null || !l.isFile() || u.executable() != l.executable() || u.size() != l.size()) {
            return false;
        }
        boolean sameTime = u.mtimeNanos() == l.mtimeNanos();
        if (options.metadataOnly()) {
            if (sameTime) {
                return true;
            }
            if (u.size() > SMALL || compared + u.size() > SMALL_BUDGET) {
                return false;
            }
            compared += u.size();
        } else if (u.size() > options.maxFile()) {
            return sameTime; // too large to read: its metadata must do
        }
        try (SafeOpen.Regular a = level.upper().open(name); SafeOpen.Regular b = level.lower().open(name)) {
            return sameBytes(a, b);
        } catch (SafeOpen.NotRegular | SafeOpen.Changed e) {
            return false; // changed while we looked: the harvest reads it again, or leaves it out
        }
    }

    /**
     * As the walk judges a copy-up, for two files named by their paths: the same size,
     * owner-exec bit and bytes. Opened without following the last name, never blocking.
     */
    static boolean unchangedCopyUp(Path u, Path l) throws IOException {
        if (l == null) {
            return false;
        }
        try (SafeOpen.Regular a = SafeOpen.open(u.getParent(), u.getFileName().toString());
                SafeOpen.Regular b = SafeOpen.open(l.getParent(), l.getFileName().toString())) {
            return a.executable() == b.executable() && sameBytes(a, b);
        } catch (SafeOpen.NotRegular | SafeOpen.Changed e) {
            return false;
        }
    }

    private static boolean sameBytes(SafeOpen.Regular a, SafeOpen.Regular b) throws IOException {
        if (a.size() != b.size()) {
            return false;
        }
        try (InputStream x = a.exact(); InputStream y = b.exact()) {
            byte[] bx = new byte[65536];
            byte[] by = new byte[65536];
            while (true) {
                int n = x.readNBytes(bx, 0, bx.length);
                int m = y.readNBytes(by, 0, by.length);
                if (n != m || !Arrays.equals(bx, 0, n, by, 0, m)) {
                    return false;
                }
                if (n == 0) {
                    return true;
                }
            }
        }
    }

    private static boolean sameTarget(Dir level, String name) throws IOException {
        try {
            return Arrays.equals(level.upper().readLink(name), level.lower().readLink(name));
        } catch (IOException e) {
            return false; // changed while we looked: the harvest reads it again
        }
    }

    /**
     * Whether the upper directory {@code dir} hides the lower one completely: overlayfs sets
     * {@code user.overlay.opaque} (mounted with userxattr) or {@code trusted.overlay.opaque}
     * to "y" when a directory was removed and made again. "x" marks a merge dir, not opaque.
     */
    private boolean opaque(SafeOpen.Dir dir) throws IOException {
        return Overlay.opaque(dir, root);
    }

    /**
     * The rules of the .gitignore in a directory as the merged view shows it: the upper
     * layer's (a whiteout or another kind of entry hides the lower one), else the lower's.
     */
    private byte[] rules(SafeOpen.Dir u, SafeOpen.Dir l, String dirPath) throws IOException {
        SafeOpen.Stat st = u.stat(".gitignore");
        if (st != null) {
            return st.isFile() ? bounded(u, dirPath) : null;
        }
        return l == null ? null : bounded(l, dirPath);
    }

    private byte[] bounded(SafeOpen.Dir dir, String dirPath) throws IOException {
        try (SafeOpen.Regular r = dir.open(".gitignore")) {
            return bounded(r, dirPath, ".gitignore");
        } catch (SafeOpen.NotRegular e) {
            return null;
        }
    }

    /** At most {@link #MAX_RULES} bytes of rules, and {@link #MAX_ALL_RULES} in all; a warning instead of more. */
    private byte[] bounded(SafeOpen.Regular r, String dirPath, String name) throws IOException {
        String why = r.size() > MAX_RULES ? "larger than " + Sizes.human(MAX_RULES)
                : rulesRead + r.size() > MAX_ALL_RULES ? "past the " + Sizes.human(MAX_ALL_RULES)
                        + " of ignore rules a harvest reads" : null;
        if (why == null) {
            try {
                byte[] rules = r.readAll(MAX_RULES);
                rulesRead += rules.length;
                return rules;
            } catch (SafeOpen.TooLarge e) {
                why = "larger than " + Sizes.human(MAX_RULES); // it grew while we read it
            }
        }
        String path = below(dirPath, name);
        warn(path, "left out the ignore rules in '" + Blobs.shown(path) + "' (" + Sizes.human(r.size()) + "): " + why
                + ", so what they ignore is harvested");
        return null;
    }

    /** The merged view's {@code .git/info/exclude}, or null. */
    private byte[] infoExclude() throws IOException {
        Path p = Overlay.resolve(upper, lower, ".git/info/exclude");
        if (p == null) {
            return null;
        }
        Path layer = p.startsWith(upper) ? upper : lower;
        try (SafeOpen.Regular r = SafeOpen.open(layer, p)) {
            return bounded(r, ".git/info", "exclude");
        } catch (SafeOpen.NotRegular e) {
            return null;
        }
    }

    /** The user's own excludes file, symlinks followed as git follows them; at most {@link #MAX_RULES} bytes. */
    private static byte[] excludes(Path file) throws IOException {
        if (file == null || !Files.isRegularFile(file)) {
            return null;
        }
        try (InputStream in = Files.newInputStream(file)) {
            return in.readNBytes(MAX_RULES);
        } catch (java.nio.file.NoSuchFileException | java.nio.file.AccessDeniedException e) {
            return null;
        }
    }

    /** {@code name} in the directory {@code dirPath} ("" for the top). */
    private static String below(String dirPath, String name) {
        return dirPath.isEmpty() ? name : dirPath + "/" + name;
    }

    /**
     * Whether a name other than {@code .git} is one that git refuses in a tree because some
     * file system takes it for {@code .git}: any case of it (case-insensitive file systems),
     * with trailing dots or spaces, an NTFS stream ({@code .git::$INDEX_ALLOCATION}), or the
     * short name {@code git~1}, also as a part between backslashes, which Windows separates
     * paths by (git's {@code verify_path} and {@code is_ntfs_dotgit}, path.c and read-cache.c).
     * The invisible Unicode code points macOS ignores in a name ({@code is_hfs_dotgit}) are
     * not looked for.
     */
    static boolean gitsOwnName(String name) {
        for (String part : name.split("\\\\")) {
            String p = part.toLowerCase(Locale.ROOT);
            int colon = p.indexOf(':');
            if (colon >= 0) {
                p = p.substring(0, colon);
            }
            int end = p.length();
            while (end > 0 && (p.charAt(end - 1) == '.' || p.charAt(end - 1) == ' ')) {
                end--;
            }
            p = p.substring(0, end);
            if (p.equals(".git") || p.equals("git~1")) {
                return true;
            }
        }
        return false;
    }

    private void warn(String path, String text) {
        warnings.add(new Note(path, text));
    }

    private static List<String> sorted(List<String> paths) {
        List<String> s = new ArrayList<>(paths);
        s.sort(UpperWalk::pathOrder);
        return List.copyOf(s);
    }

    /**
     * The order of a walk that takes each directory's names sorted: paths compared name by
     * name, so that "a/x" comes before "a.txt" as "a" does.
     */
    static int pathOrder(String a, String b) {
        int n = Math.min(a.length(), b.length());
        for (int i = 0; i < n; i++) {
            char x = a.charAt(i);
            char y = b.charAt(i);
            if (x != y) {
                return x == '/' ? -1 : y == '/' ? 1 : Character.compare(x, y);
            }
        }
        return Integer.compare(a.length(), b.length());
    }

    /** What an upper layer holds, counted without reading any content. */
    public record Tally(int entries, long diskBytes) {
    }

    /**
     * Every entry below {@code dir} but directories (files, symlinks, whiteouts, others), and
     * the disk space all of them take as {@code du} counts it (512-byte blocks allocated, so
     * a sparse file counts what it holds); an unreadable directory counts as one entry.
     */
    public static Tally tally(Path dir) throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return new Tally(0, 0);
        }
        int entries = 0;
        long blocks = 0;
        Deque<Level> todo = new ArrayDeque<>();
        Deque<String> names = new ArrayDeque<>();
        Level top = new Level(null, null, "", SafeOpen.openDir(dir), null);
        try (OpenDirs open = new OpenDirs(top)) {
            blocks += top.upper().stat().blocks();
            todo.push(top);
            names.push("");
            while (!todo.isEmpty()) {
                Level parent = todo.pop();
                String name = names.pop();
                Level level = parent;
                if (!name.isEmpty()) {
                    if (!open.reach(parent)) {
                        continue;
                    }
                    try {
                        level = new Level(parent, name, null, parent.upper().dir(name), null);
                    } catch (SafeOpen.NotRegular e) {
                        level = null;
                    } catch (java.nio.file.AccessDeniedException e) {
                        entries++;
                        level = null;
                    }
                    if (--parent.pending == 0) {
                        open.done(parent);
                    }
                    if (level == null) {
                        continue;
                    }
                    open.opened(level);
                }
                for (byte[] raw : level.upper().names()) {
                    SafeOpen.Stat st = level.upper().stat(raw);
                    if (st == null) {
                        continue;
                    }
                    blocks += st.blocks();
                    if (st.isDirectory()) {
                        String sub = RawName.decoded(raw);
                        if (sub != null) {
                            todo.push(level);
                            names.push(sub);
                            level.pending++;
                            continue;
                        }
                    }
                    entries++;
                }
                if (level.pending == 0) {
                    open.done(level);
                }
            }
        }
        return new Tally(entries, blocks * 512);
    }
}
