package dev.sandbox.core;

import dev.sandbox.snapshot.BtrfsSnapshotter;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Recursive deletion of state directories. They hold directories without write or search
 * permission (copied read-only trees, overlayfs's own {@code work/work} is mode 000), read-only
 * btrfs snapshots, and whatever an agent made in its upper layer: trees deeper than any path
 * the kernel takes, and symlinks to anywhere.
 */
public final class Tree {
    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;
    private static final int OWNER_ALL = 0700;
    private static final String ATTRIBUTES = "unix:mode,dev";
    /**
     * The longest path, in bytes, of a directory emptied where it is: an entry's path, at most
     * 256 bytes longer, stays far below PATH_MAX (4096).
     */
    private static final int IN_PLACE_MAX = 2048;

    private Tree() {
    }

    /**
     * Deletes {@code root} and all below it, as {@code rm -rf} does; nothing when it does not
     * exist, only the link when it is a symlink. No symlink is followed, however deep the tree
     * (short of {@link #makeAccessible}'s last resort without JNA): each directory is made
     * accessible to its owner (u+rwx) before it is read or moved, and a read-only btrfs
     * snapshot is deleted whole or made writable first ({@link BtrfsSnapshotter#release}).
     *
     * <p>An absolute path longer than PATH_MAX (4096 bytes) fails with ENAMETOOLONG, and an
     * agent makes such a tree with {@code mkdir d && cd d} in a loop. GNU {@code rm} walks it
     * with gnulib's fts(3) relative to open directory descriptors ({@code openat},
     * {@code unlinkat}, {@code FTS_CWDFD}) and goes back up through {@code ..}. Java offers
     * that only as {@code SecureDirectoryStream}, which keeps two descriptors per open level
     * (100,000 levels are more than RLIMIT_NOFILE allows) and cannot chmod a mode-000
     * directory without opening it. So this walk, this project's own, cuts the tree instead:
     * depth first with an explicit stack while a directory's path is at most
     * {@link #IN_PLACE_MAX} bytes, and a directory met deeper is renamed to a fresh short name
     * directly under {@code root} (a rename within one filesystem; it needs write permission
     * on the directory moved, hence the chmod first) and walked from there later. No
     * recursion, one directory open at a time, the stack a thousand levels deep at most, and
     * one rename per 2 KiB of depth: a 20,000-deep chain of one-letter names takes about 20
     * renames, and a tree no deeper than 2 KiB none. A tree deleted halfway (interrupted, or an entry that can't be removed) may
     * hold such short names in {@code root}; a later call finishes it.
     *
     * <p>A rename cannot leave a filesystem or btrfs subvolume, so a directory on another
     * device than its parent (a snapshot made writable to be emptied, or the empty stub a
     * btrfs snapshot keeps of a subvolume below it) is emptied where it is and takes in its
     * own deep directories the same way; it is removed once emptied, or at the end, before
     * {@code root}, when deep directories were moved into it.
     *
     * @throws IOException when an entry can't be read, chmodded, renamed or removed: a mount
     *     point below {@code root} (EBUSY), a directory of another user that grants nothing
     *     (AccessDeniedException). The message names the entry where it is, which for one
     *     more than 2 KiB deep is below a short name in {@code root}
     */
    static void delete(Path root) throws IOException {
        Map<String, Object> rootAttrs;
        try {
            rootAttrs = Files.readAttributes(root, ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        if (!isDirectory(rootAttrs)) {
            Files.delete(root);
        } else if (prepare(root, rootAttrs)) {
            new Walk().run(new Empty(root, dev(rootAttrs), null));
        }
    }

    /** A directory to empty, and the region it lies in (null for {@code root}). */
    private record Empty(Path dir, long dev, Region region) implements Step {
    }

    /**
     * A directory whose entries were all taken care of by the steps above it in the stack;
     * {@code region} when it opened one, which waits for the end if deep directories were moved into it.
     */
    private record Remove(Path dir, Region region) implements Step {
    }

    private sealed interface Step permits Empty, Remove {
    }

    /**
     * A directory that the deep directories below it on the same device are moved into:
     * {@code root}, or a subvolume. Its own names are recorded before anything is moved in, so
     * that a new name never replaces one (a rename replaces an empty directory silently).
     */
    private static final class Region {
        final Path dir;
        final long dev;
        final Set<String> taken = new HashSet<>();
        long next;
        /** Whether a directory was moved into it, so that it is removed only at the end. */
        boolean used;

        Region(Path dir, long dev) {
            this.dir = dir;
            this.dev = dev;
        }

        Path freshName() {
            used = true;
            String name;
            do {
                name = "." + Long.toString(next++, 36);
            } while (taken.contains(name));
            return dir.resolve(name);
        }
    }

    /** One deletion's state: its stack, the directories moved up, and the regions to remove last. */
    private static final class Walk {
        private final Deque<Step> stack = new ArrayDeque<>();
        private final Deque<Empty> movedUp = new ArrayDeque<>();
        private final Deque<Path> regions = new ArrayDeque<>();

        void run(Empty root) throws IOException {
            movedUp.push(root);
            while (!movedUp.isEmpty()) {
                // the stack empties first, so that no directory waits for one moved away from it
                stack.push(movedUp.pop());
                while (!stack.isEmpty()) {
                    Step step = stack.pop();
                    if (step instanceof Remove r) {
                        if (r.region() != null && r.region().used) {
                            regions.push(r.dir()); // its moved-in directories come later
                        } else {
                            Files.delete(r.dir());
                        }
                    } else {
                        empty((Empty) step);
                    }
                }
            }
            while (!regions.isEmpty()) {
                Files.delete(regions.pop()); // a subvolume before the directory holding it
            }
        }

        /**
         * Takes each entry of {@code step.dir()} out of it: files, symlinks and other
         * non-directories are unlinked, directories are emptied in turn where they are, or
         * moved up into the region first when deep or on another device. A directory left
         * empty is removed at once; one with directories still in it once they are gone; a
         * region last.
         */
        private void empty(Empty step) throws IOException {
            Path dir = step.dir();
            Region region = step.region();
            boolean isRoot = region == null;
            boolean opensRegion = isRoot || region.dev != step.dev();
            if (opensRegion) {
                region = new Region(dir, step.dev());
                if (isRoot) {
                    regions.push(dir);
                }
            }
            List<Empty> inPlace = new ArrayList<>();
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
                for (Path entry : entries) {
                    if (opensRegion) {
                        region.taken.add(entry.getFileName().toString());
                    }
                    Map<String, Object> attrs;
                    try {
                        attrs = Files.readAttributes(entry, ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
                    } catch (NoSuchFileException e) {
                        continue;
                    }
                    if (!isDirectory(attrs)) {
                        Files.deleteIfExists(entry);
                    } else if (prepare(entry, attrs)) {
                        long dev = dev(attrs);
                        // another device (a btrfs subvolume, or the stub a snapshot keeps of one)
                        // can't be renamed into this region: it is emptied where it is, as its own
                        if (opensRegion || dev != step.dev() || bytes(entry) <= IN_PLACE_MAX) {
                            inPlace.add(new Empty(entry, dev, region));
                        } else {
                            Path at = region.freshName();
                            Files.move(entry, at, StandardCopyOption.ATOMIC_MOVE);
                            movedUp.push(new Empty(at, dev, region));
                        }
                    }
                }
            }
            if (!isRoot) {
                if (inPlace.isEmpty()) {
                    Files.delete(dir);
                } else {
                    stack.push(new Remove(dir, opensRegion ? region : null));
                }
            }
            inPlace.forEach(stack::push);
        }

        /** The length of {@code p} in bytes, or more for a name that is not UTF-8 (U+FFFD takes 3). */
        private static int bytes(Path p) {
            return p.toString().getBytes(StandardCharsets.UTF_8).length;
        }
    }

    /**
     * Makes directory {@code dir} one its owner may list, empty and move: false when it was a
     * read-only snapshot and is gone already.
     */
    private static boolean prepare(Path dir, Map<String, Object> attrs) throws IOException {
        if (BtrfsSnapshotter.isSubvolume(dir) && BtrfsSnapshotter.release(dir)) {
            return false; // a read-only snapshot: deleted whole, or made writable to be emptied
        }
        int mode = (Integer) attrs.get("mode");
        if ((mode & OWNER_ALL) != OWNER_ALL) {
            makeAccessible(dir, (mode & 07777) | OWNER_ALL);
        }
        return true;
    }

    /**
     * Java's chmod either follows a symlink or, not to, opens the file for reading first,
     * which a mode-000 directory refuses; {@link Posix#chmodDirectory} does neither. Without
     * JNA's native part or {@code /proc}, Java's no-follow chmod serves a directory its owner
     * may read, and a last resort chmods by path a directory that {@code lstat} has just shown
     * to be one: only a process of the same user could swap in a symlink between the two.
     */
    private static void makeAccessible(Path dir, int mode) throws IOException {
        if (Posix.chmodDirectory(dir.toString(), mode) == 0) {
            return;
        }
        Set<PosixFilePermission> perms = EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] bits = PosixFilePermission.values(); // OWNER_READ first, OTHERS_EXECUTE last
        for (int i = 0; i < bits.length; i++) {
            if ((mode & (0400 >> i)) != 0) {
                perms.add(bits[i]);
            }
        }
        try {
            Files.getFileAttributeView(dir, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                    .setPermissions(perms);
        } catch (AccessDeniedException e) {
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw e;
            }
            Files.setPosixFilePermissions(dir, perms);
        }
    }

    private static boolean isDirectory(Map<String, Object> attrs) {
        return ((Integer) attrs.get("mode") & S_IFMT) == S_IFDIR;
    }

    private static long dev(Map<String, Object> attrs) {
        return (Long) attrs.get("dev");
    }

    /** {@link #delete}, for failure paths: what is left, {@code gc} removes. */
    public static void deleteQuietly(Path root) {
        try {
            delete(root);
        } catch (IOException ignored) {
            // Best effort on a failure path: gc removes what is left.
        }
    }
}
