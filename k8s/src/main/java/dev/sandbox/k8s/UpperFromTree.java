package dev.sandbox.k8s;

import dev.sandbox.sys.Command;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns the whole tree that comes back from a pod in reduced mode (the agent changed a full
 * copy of the repository, since no overlay could be mounted there) into the overlayfs upper
 * layer it would have written over the snapshot, so that the unchanged harvest
 * (docs/ARCHITECTURE.md §6) reads the agent's edits as it reads a local sandbox's.
 *
 * <p>Both trees are walked side by side, iteratively (no depth limit), never following a
 * symbolic link. An entry of the tree goes to the upper layer when the snapshot has nothing
 * at its path, or something of another type, other permission bits (all 12), another link
 * target, or other bytes (sizes first, then both files streamed, 64 KiB at a time; never a
 * whole file in memory). A directory new in the tree, or one where the snapshot has a file or
 * link, goes whole; one the snapshot also has is entered, and is made in the upper layer only
 * when something below it changed or its mode did (never opaque: the whiteouts of its missing
 * children hide what it no longer holds). An entry of the snapshot absent from the tree becomes
 * one whiteout, a character device 0/0 (overlayfs.rst, "whiteouts and opaque directories"),
 * at the top of what was deleted. Unchanged entries are left out.
 *
 * <p>The tree is hostile (the agent wrote it) and is consumed: its entries are moved into the
 * upper layer ({@link Files#move}, a rename on the same filesystem, else a copy), and what is
 * left of it is for the caller to delete. Its FIFOs, sockets and device nodes (a whiteout the
 * agent made too) are never opened and left out, counted in {@link Result#skipped}; where the
 * snapshot had an entry at such a path, it gets a whiteout, as the agent's tree no longer holds
 * it. So is an entry whose path would be longer than {@value #PATH_MAX} bytes here (Linux's
 * {@code PATH_MAX}; the harvest leaves such paths out anyway). Hard links are separate files.
 * Directories made in the upper layer get the tree's permission bits once all below them is in
 * place; the {@code overlay.*} user xattrs of a moved file are removed (a redirect or metacopy
 * mark of the agent's means nothing here). The tree's own directories are made readable and
 * writable by their owner as they are walked, so that a non-root caller can move out of them.
 */
final class UpperFromTree {
    /** The longest path, in bytes, that is handled; a longer one is skipped (Linux's PATH_MAX less its NUL). */
    static final int PATH_MAX = 4095;
    private static final int BUFFER = 64 * 1024;
    private static final int TYPE = 0170000;
    private static final int DIRECTORY = 0040000;
    private static final int REGULAR = 0100000;
    private static final int SYMLINK = 0120000;
    private static final int OWNER_RWX = 0700;

    /**
     * What {@link #write} did.
     *
     * @param written   entries put in the upper layer: files, links and directories of the tree
     *                  (each one of a directory taken whole; a directory made only to hold a
     *                  change below it is not counted)
     * @param whiteouts whiteouts made
     * @param skipped   entries of the tree left out: FIFOs, sockets, device nodes, and paths
     *                  longer than {@value #PATH_MAX} bytes
     */
    record Result(int written, int whiteouts, int skipped) {
    }

    private final Path lowerRoot;
    private final Path treeRoot;
    private final Path upperRoot;
    private final int rootBytes;
    private final Deque<Frame> pending = new ArrayDeque<>();
    private final List<Frame> made = new ArrayList<>();
    private final byte[] a = new byte[BUFFER];
    private final byte[] b = new byte[BUFFER];
    private Path whiteout;
    private int written;
    private int whiteouts;
    private int skipped;

    private UpperFromTree(Path lower, Path tree, Path upper) {
        this.lowerRoot = lower;
        this.treeRoot = tree;
        this.upperRoot = upper;
        this.rootBytes = Math.max(bytes(lower), Math.max(bytes(tree), bytes(upper)));
    }

    /**
     * Writes into {@code emptyUpper} the upper layer that turns {@code lower} into {@code tree}.
     *
     * @param lower      the snapshot's tree, as the agent's copy started from it: its one
     *                   directory, or a layered snapshot's merged view ({@code LowerView});
     *                   only read
     * @param tree       what came back from the pod, extracted here (without {@code --xattrs}:
     *                   git keeps none); consumed, and what is left is the caller's to delete
     * @param emptyUpper an empty directory on the filesystem of {@code tree} (else every
     *                   written file is copied)
     * @throws IOException when a root is not a directory, {@code emptyUpper} is not empty, an
     *                     entry can't be read, moved or made, or {@code mknod} fails (a
     *                     whiteout made without privileges needs Linux 5.8 or later)
     */
    static Result write(Path lower, Path tree, Path emptyUpper) throws IOException {
        for (Path root : List.of(lower, tree, emptyUpper)) {
            if (!Files.isDirectory(root, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException("'" + root + "' is not a directory");
            }
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(emptyUpper)) {
            if (s.iterator().hasNext()) {
                throw new IOException("'" + emptyUpper + "' is not empty");
            }
        }
        return new UpperFromTree(lower, tree, emptyUpper).walk();
    }

    /**
     * A directory of the tree to walk: {@code merge} when the snapshot has a directory there
     * too (its children are compared), else it is taken whole.
     */
    private static final class Frame {
        final Frame parent;
        final Path rel;
        final int mode;
        final boolean merge;
        boolean made;

        Frame(Frame parent, Path rel, int mode, boolean merge) {
            this.parent = parent;
            this.rel = rel;
            this.mode = mode;
            this.merge = merge;
        }
    }

    private Result walk() throws IOException {
        Frame root = new Frame(null, Path.of(""), 0, true);
        root.made = true; // the caller's directory, whose mode is the caller's
        pending.push(root);
        try {
            while (!pending.isEmpty()) {
                Frame f = pending.pop();
                if (f.merge) {
                    merge(f);
                } else {
                    take(f);
                }
            }
            // Deepest first (a directory is made after its parent): a parent without write or
            // search permission would stop the chmod of what is below it.
            for (int i = made.size() - 1; i >= 0; i--) {
                Frame f = made.get(i);
                Files.setPosixFilePermissions(upperRoot.resolve(f.rel), permissions(f.mode));
            }
        } finally {
            if (whiteout != null) {
                Files.deleteIfExists(whiteout);
            }
        }
        return new Result(written, whiteouts, skipped);
    }

    /** Compares the children of a directory both trees have. */
    private void merge(Frame f) throws IOException {
        Set<Path> lowerNames = new HashSet<>(names(lowerRoot.resolve(f.rel), false));
        for (Path name : names(treeRoot.resolve(f.rel), true)) {
            Path rel = f.rel.resolve(name);
            boolean inLower = lowerNames.remove(name);
            if (tooLong(rel)) {
                skipped++;
                continue;
            }
            Map<String, Object> t = attributes(treeRoot.resolve(rel));
            int type = type(t);
            if (type != REGULAR && type != DIRECTORY && type != SYMLINK) {
                skipped++;
                if (inLower) {
                    whiteout(f, name);
                }
                continue;
            }
            if (!inLower) {
                take(f, name, t);
                continue;
            }
            Map<String, Object> l = attributes(lowerRoot.resolve(rel));
            if (type != type(l)) {
                take(f, name, t); // a directory over a file goes whole; a file over a directory hides it
            } else if (type == DIRECTORY) {
                Frame child = new Frame(f, rel, mode(t), true);
                if (mode(t) != mode(l)) {
                    ensure(child);
                    written++;
                }
                pending.push(child);
            } else if (type == SYMLINK ? !Files.readSymbolicLink(treeRoot.resolve(rel)).equals(
                    Files.readSymbolicLink(lowerRoot.resolve(rel))) : !sameFile(rel, t, l)) {
                take(f, name, t);
            }
        }
        for (Path name : sorted(lowerNames)) {
            if (tooLong(f.rel.resolve(name))) {
                skipped++;
            } else {
                whiteout(f, name);
            }
        }
    }

    /** Moves every child of a directory made whole in the upper layer. */
    private void take(Frame f) throws IOException {
        for (Path name : names(treeRoot.resolve(f.rel), true)) {
            if (tooLong(f.rel.resolve(name))) {
                skipped++;
                continue;
            }
            Map<String, Object> t = attributes(treeRoot.resolve(f.rel.resolve(name)));
            int type = type(t);
            if (type == REGULAR || type == DIRECTORY || type == SYMLINK) {
                take(f, name, t);
            } else {
                skipped++;
            }
        }
    }

    /** Puts the tree's entry {@code name} of {@code parent} in the upper layer, a directory with all below it. */
    private void take(Frame parent, Path name, Map<String, Object> t) throws IOException {
        Path rel = parent.rel.resolve(name);
        written++;
        if (type(t) == DIRECTORY) {
            Frame child = new Frame(parent, rel, mode(t), false);
            ensure(child);
            pending.push(child);
            return;
        }
        ensure(parent);
        Path to = upperRoot.resolve(rel);
        Files.move(treeRoot.resolve(rel), to);
        if (type(t) == REGULAR) {
            dropOverlayXattrs(to);
        }
    }

    /** Makes {@code f}'s directory in the upper layer, with the ones above it that are missing. */
    private void ensure(Frame f) throws IOException {
        Deque<Frame> missing = new ArrayDeque<>();
        for (Frame g = f; !g.made; g = g.parent) {
            missing.push(g);
        }
        for (Frame g : missing) {
            // Owner-only until the end, so that what goes below can be put there whatever the tree's mode.
            Files.createDirectory(upperRoot.resolve(g.rel),
                    PosixFilePermissions.asFileAttribute(permissions(OWNER_RWX)));
            g.made = true;
            made.add(g);
        }
    }

    /**
     * Whiteout {@code name} in {@code parent}: a hard link to one whiteout made by {@code mknod}
     * (as overlayfs shares one whiteout inode itself since Linux 5.8, fs/overlayfs/dir.c), so
     * that a thousand deleted files cost one process, and a name of any bytes needs no
     * argument string. Another one is made when the filesystem allows no more links to it.
     */
    private void whiteout(Frame parent, Path name) throws IOException {
        ensure(parent);
        Path at = upperRoot.resolve(parent.rel.resolve(name));
        if (whiteout == null) {
            whiteout = mknod();
        }
        try {
            Files.createLink(at, whiteout);
        } catch (FileAlreadyExistsException e) {
            throw e;
        } catch (FileSystemException e) { // EMLINK: a filesystem's most links to one inode (65,000 on ext4)
            Files.delete(whiteout);
            whiteout = mknod();
            Files.createLink(at, whiteout);
        }
        whiteouts++;
    }

    /** A new whiteout at the top of the upper layer, under a name neither tree has there. */
    private Path mknod() throws IOException {
        SecureRandom random = new SecureRandom();
        Path p;
        do {
            byte[] id = new byte[8];
            random.nextBytes(id);
            p = upperRoot.resolve(".sandbox-whiteout-" + HexFormat.of().formatHex(id));
        } while (Files.exists(treeRoot.resolve(p.getFileName()), LinkOption.NOFOLLOW_LINKS)
                || Files.exists(lowerRoot.resolve(p.getFileName()), LinkOption.NOFOLLOW_LINKS));
        // mknod(2) of a whiteout needs no privilege since Linux 5.8 (a3c751a50fe6, "vfs: allow
        // unprivileged whiteout creation"); coreutils' mknod makes it.
        Command.Result r = Command.run(List.of("mknod", p.toString(), "c", "0", "0"));
        if (!r.ok()) {
            throw new IOException("can't make a whiteout (a character device 0/0) in '" + upperRoot + "': "
                    + r.why() + " (without privileges it needs Linux 5.8 or later)");
        }
        return p;
    }

    /**
     * Whether the regular files at {@code rel} have the same permission bits and bytes; reads
     * no more than the size both had when stat'ed.
     */
    private boolean sameFile(Path rel, Map<String, Object> t, Map<String, Object> l) throws IOException {
        long size = (Long) t.get("size");
        if (mode(t) != mode(l) || size != (Long) l.get("size")) {
            return false;
        }
        try (InputStream x = Files.newInputStream(treeRoot.resolve(rel), LinkOption.NOFOLLOW_LINKS);
                InputStream y = Files.newInputStream(lowerRoot.resolve(rel), LinkOption.NOFOLLOW_LINKS)) {
            for (long left = size; left > 0;) {
                int n = (int) Math.min(BUFFER, left);
                if (x.readNBytes(a, 0, n) != n || y.readNBytes(b, 0, n) != n
                        || !Arrays.equals(a, 0, n, b, 0, n)) {
                    return false;
                }
                left -= n;
            }
        }
        return true;
    }

    /**
     * The names in {@code dir}, sorted by their bytes. In the tree, a directory its owner can't
     * read, search or write is first made so (the tree is this process's own copy, to consume).
     */
    private static List<Path> names(Path dir, boolean ours) throws IOException {
        if (ours) {
            int mode = (Integer) Files.getAttribute(dir, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            if ((mode & OWNER_RWX) != OWNER_RWX) {
                Files.setPosixFilePermissions(dir, permissions(mode | OWNER_RWX));
            }
        }
        List<Path> names = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                names.add(p.getFileName());
            }
        }
        Collections.sort(names);
        return names;
    }

    private static List<Path> sorted(Set<Path> names) {
        List<Path> list = new ArrayList<>(names);
        Collections.sort(list);
        return list;
    }

    private static Map<String, Object> attributes(Path p) throws IOException {
        return Files.readAttributes(p, "unix:mode,size", LinkOption.NOFOLLOW_LINKS);
    }

    private static int type(Map<String, Object> attributes) {
        return (Integer) attributes.get("mode") & TYPE;
    }

    private static int mode(Map<String, Object> attributes) {
        return (Integer) attributes.get("mode") & 07777;
    }

    /** The rwx bits of {@code mode} (Java sets no setuid, setgid or sticky bit, nor does a sandbox need one). */
    private static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> set = EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] bits = PosixFilePermission.values(); // OWNER_READ .. OTHERS_EXECUTE
        for (int i = 0; i < bits.length; i++) {
            if ((mode & (0400 >> i)) != 0) {
                set.add(bits[i]);
            }
        }
        return set;
    }

    /** Whether {@code rel} under the longest root would be longer than {@link #PATH_MAX} bytes. */
    private boolean tooLong(Path rel) {
        return rootBytes + 1 + bytes(rel) > PATH_MAX;
    }

    /** Bytes of a path (as many as or more than the name's own, for a name that is not UTF-8). */
    private static int bytes(Path p) {
        return p.toString().getBytes(StandardCharsets.UTF_8).length;
    }

    /**
     * Removes a moved file's {@code user.overlay.*} xattrs; a filesystem without user xattrs
     * has none. Java can't reach {@code trusted.*} ones: only a tar run as root could have
     * restored them, and the tree needs no xattr at all (git keeps none), so the caller
     * extracts it without {@code --xattrs}.
     */
    private static void dropOverlayXattrs(Path file) throws IOException {
        UserDefinedFileAttributeView view = Files.getFileAttributeView(file, UserDefinedFileAttributeView.class,
                LinkOption.NOFOLLOW_LINKS);
        List<String> names;
        try {
            names = view == null ? List.of() : view.list();
        } catch (IOException e) {
            return;
        }
        for (String n : names) {
            if (n.startsWith("overlay.")) {
                view.delete(n);
            }
        }
    }
}
