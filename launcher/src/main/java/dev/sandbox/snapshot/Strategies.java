package dev.sandbox.snapshot;

import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Picks the snapshot backend for a repository: the cheapest its filesystem can do. */
public final class Strategies {
    /** What {@code --snapshot} accepts. */
    public enum Requested { auto, reflink, copy }

    private Strategies() {
    }

    /**
     * The backend for snapshots of {@code repoRoot} kept in {@code stateDir}: with {@code auto}, reflink where a
     * trial clone there works, else a plain copy; an explicit {@code reflink} that cannot
     * work is an error naming the filesystem.
     */
    public static Snapshotter choose(Requested requested, Path repoRoot, Path stateDir) {
        switch (requested) {
            case copy:
                return new CopySnapshotter(false);
            case reflink:
                if (!canClone(stateDir)) {
                    throw SandboxException.cantWithInput("use --snapshot reflink for", repoRoot,
                            "its filesystem (" + Posix.filesystemName(Posix.filesystemType(stateDir.toString()))
                                    + ") cannot clone files (reflink needs btrfs, xfs with reflink=1 or bcachefs;"
                                    + " use --snapshot copy)");
                }
                return new CopySnapshotter(true);
            default:
                return new CopySnapshotter(canClone(stateDir));
        }
    }

    /** Why {@code auto} picks what it picks, for {@code sandbox doctor}. */
    public static String explain(Path stateDir) {
        String fs = Posix.filesystemName(Posix.filesystemType(stateDir.toString()));
        return canClone(stateDir) ? "reflink (" + fs + " clones files: snapshots share their data)"
                : "copy (" + fs + " cannot clone files: each snapshot copies the repository)";
    }

    /** Clones a scratch file in {@code dir}: the only sure test (xfs without reflink=1 refuses). */
    static boolean canClone(Path dir) {
        long type = Posix.filesystemType(dir.toString());
        if (type != Posix.BTRFS && type != Posix.XFS && type != Posix.BCACHEFS) {
            return false; // spares loading JNA's ioctl path where cloning cannot work anyway
        }
        Path a = null;
        Path b = dir.resolve(".reflink-probe-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(dir);
            a = Files.createTempFile(dir, ".reflink-probe-", "");
            Files.writeString(a, "probe");
            return Posix.cloneFile(a.toString(), b.toString(), 0600) == 0;
        } catch (IOException e) {
            return false;
        } finally {
            try {
                if (a != null) {
                    Files.deleteIfExists(a);
                }
                Files.deleteIfExists(b);
            } catch (IOException e) {
                // a leftover probe file is harmless
            }
        }
    }
}
