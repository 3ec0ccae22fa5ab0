package dev.sandbox.snapshot;

import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Picks the snapshot backend for a repository: the cheapest its filesystem can do. A btrfs
 * or ZFS snapshot costs the same whatever the repository's size; reflinks cost a walk but no
 * data; a copy costs every byte. A ZFS dataset whose {@code .git} links elsewhere gets a
 * reflink or copy instead ({@link #NO_ZFS_FOR_LINKED}).
 */
public final class Strategies {
    /** What {@code --snapshot} accepts. */
    public enum Requested { auto, btrfs, zfs, reflink, copy }

    /**
     * Why a ZFS snapshot is not taken of a repository whose {@code .git} is a {@code gitdir:}
     * file: a ZFS snapshot is read-only from the start, so the composed {@code .git} that
     * makes git work inside ({@link LinkedGitDir}) cannot be put in it; a copy or reflink can.
     */
    static final String NO_ZFS_FOR_LINKED = "its .git is a file that links to a git directory elsewhere (a linked"
            + " worktree, --separate-git-dir or a submodule), which a read-only ZFS snapshot cannot hold"
            + " (use --snapshot reflink or copy)";

    private Strategies() {
    }

    /**
     * The backend for snapshots of {@code repoRoot} kept in the state directory
     * {@code storeRoot}. With {@code auto}: a btrfs or ZFS snapshot where the repository's
     * root is a subvolume or dataset, else reflink where a trial clone works, else a copy.
     * An explicit choice that cannot work is an error that says why. Copies are made by the
     * helper at {@code helper} ({@link NativeTree}).
     */
    public static Snapshotter choose(Requested requested, Path helper, Path repoRoot, Path storeRoot) {
        Path snapshots = storeRoot.resolve("snapshots");
        switch (requested) {
            case copy:
                return new CopySnapshotter(helper, false);
            case reflink:
                if (!canClone(snapshots)) {
                    throw refused("reflink", repoRoot, "its filesystem (" + fsName(snapshots)
                            + ") cannot clone files (reflink needs btrfs, xfs with reflink=1, bcachefs or ZFS 2.2"
                            + " with block cloning; use --snapshot copy)");
                }
                return new CopySnapshotter(helper, true);
            case btrfs: {
                String why = whyNotBtrfs(repoRoot, storeRoot);
                if (why != null) {
                    throw refused("btrfs", repoRoot, why);
                }
                return new BtrfsSnapshotter();
            }
            case zfs:
                if (LinkedGitDir.linked(repoRoot)) {
                    throw refused("zfs", repoRoot, NO_ZFS_FOR_LINKED);
                }
                return new ZfsSnapshotter(ZfsSnapshotter.datasetAt(repoRoot).orElseThrow(() -> refused("zfs", repoRoot,
                        "it is not the mountpoint of a ZFS dataset (it is on " + fsName(repoRoot)
                                + "; use --snapshot auto)")));
            default:
                if (whyNotBtrfs(repoRoot, storeRoot) == null) {
                    return new BtrfsSnapshotter();
                }
                Optional<ZfsSnapshotter.Dataset> dataset = ZfsSnapshotter.datasetAt(repoRoot);
                if (dataset.isPresent() && !LinkedGitDir.linked(repoRoot)) {
                    return new ZfsSnapshotter(dataset.get());
                }
                return new CopySnapshotter(helper, canClone(snapshots));
        }
    }

    /** {@link #choose(Requested, Path, Path, Path)} with {@link NativeTree#defaultHelper()}. */
    public static Snapshotter choose(Requested requested, Path repoRoot, Path storeRoot) {
        return choose(requested, NativeTree.defaultHelper(), repoRoot, storeRoot);
    }

    /**
     * What {@code auto} picks and why, in words.
     *
     * @param backend the backend {@code auto} takes: btrfs, zfs, reflink or copy
     * @param why     the backend's name and the reason, e.g. {@code copy (ext4 cannot clone files: ...)}
     */
    public record Explained(Requested backend, String why) {
    }

    /** Why {@code auto} picks what it picks, for {@code sandbox doctor}; {@code repoRoot} may be null. */
    public static Explained explain(Path repoRoot, Path storeRoot) {
        Path snapshots = storeRoot.resolve("snapshots");
        String fs = fsName(Files.exists(snapshots) ? snapshots : storeRoot.getParent());
        if (repoRoot != null) {
            String notBtrfs = whyNotBtrfs(repoRoot, storeRoot);
            if (notBtrfs == null) {
                return new Explained(Requested.btrfs,
                        "btrfs (the repository is a subvolume: each snapshot is a read-only btrfs snapshot, O(1))");
            }
            if (ZfsSnapshotter.datasetAt(repoRoot).isPresent() && !LinkedGitDir.linked(repoRoot)) {
                return new Explained(Requested.zfs,
                        "zfs (the repository is a ZFS dataset's mountpoint: each snapshot is a ZFS snapshot, O(1))");
            }
            if (Posix.filesystemType(repoRoot.toString()) == Posix.BTRFS) {
                fs += "; no btrfs snapshot because " + notBtrfs.replaceFirst(" \\(.*", "");
            }
        }
        return canClone(snapshots)
                ? new Explained(Requested.reflink, "reflink (" + fs + " clones files: snapshots share their data)")
                : new Explained(Requested.copy, "copy (" + fs + " cannot clone files: each snapshot copies the repository)");
    }

    /**
     * Null when a btrfs snapshot of {@code repoRoot} can serve as a lower layer: the root is a
     * subvolume, and the state directory, which the snapshot must leave out, is either
     * outside the repository on the same btrfs or a subvolume of its own.
     */
    static String whyNotBtrfs(Path repoRoot, Path storeRoot) {
        if (Posix.filesystemType(repoRoot.toString()) != Posix.BTRFS) {
            return "it is on " + fsName(repoRoot) + ", not btrfs (use --snapshot auto)";
        }
        if (!BtrfsSnapshotter.isSubvolume(repoRoot)) {
            return "its root is a plain directory, not a btrfs subvolume (make it one: btrfs subvolume create;"
                    + " or use --snapshot reflink)";
        }
        if (Posix.filesystemType(storeRoot.toString()) != Posix.BTRFS) {
            return "the state directory " + storeRoot + " is not on btrfs (unset SANDBOX_STATE_DIR or point it at"
                    + " the repository's btrfs)";
        }
        if (storeRoot.startsWith(repoRoot) && !BtrfsSnapshotter.isSubvolume(storeRoot)) {
            return "the state directory " + storeRoot + " is a plain directory inside the repository, so every"
                    + " snapshot would hold every sandbox (remove it once no sandbox is left, and sandbox makes it a"
                    + " subvolume; or use --snapshot reflink)";
        }
        return null;
    }

    private static SandboxException refused(String how, Path repoRoot, String why) {
        return SandboxException.cantWithInput("use --snapshot " + how + " for", repoRoot, why);
    }

    private static String fsName(Path path) {
        return Posix.filesystemName(Posix.filesystemType(path.toString()));
    }

    /**
     * Clones a scratch file in {@code dir}: the only sure test (xfs without reflink=1 refuses,
     * ZFS clones only from 2.2 on and with block cloning enabled).
     */
    static boolean canClone(Path dir) {
        long type = Posix.filesystemType(dir.toString());
        if (type != Posix.BTRFS && type != Posix.XFS && type != Posix.BCACHEFS && type != Posix.ZFS) {
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
