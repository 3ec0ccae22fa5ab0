package dev.sandbox.snapshot;

import dev.sandbox.sys.Command;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The O(1) backend for a repository whose root is a btrfs subvolume: a read-only snapshot
 * ({@code btrfs subvolume snapshot -r}) shares every extent and keeps inode numbers and
 * ctimes, so git inside needs no index refresh. Subvolumes nested in the repository, such as
 * a state directory made a subvolume ({@link #prepareStateDir}), appear in it as empty
 * directories. Taking one is cheaper than the walk that would tell whether the last one is
 * still current, so each run takes its own.
 */
public final class BtrfsSnapshotter implements Snapshotter {
    /** The inode number of every btrfs subvolume's root directory. */
    private static final long SUBVOLUME_ROOT_INODE = 256;

    @Override
    public String strategy() {
        return "btrfs";
    }

    @Override
    public boolean atomic() {
        return true;
    }

    @Override
    public boolean reusable() {
        return false;
    }

    /**
     * Where {@code .git} is a {@code gitdir:} file, the snapshot is taken writable, gets the
     * composed {@code .git} ({@link LinkedGitDir}, its files cloned), and only then is made
     * read-only: the git directory lies outside the subvolume, so no snapshot holds it.
     */
    @Override
    public Result copy(Path source, Path target, Set<Path> exclude) throws IOException {
        Optional<LinkedGitDir> linked = LinkedGitDir.of(source);
        Command.Result r = Command.run(snapshotCommand(source, target, linked.isEmpty()));
        if (!r.ok()) {
            throw new FileSystemException(source.toString(), null, "btrfs subvolume snapshot: " + r.why());
        }
        List<Path> skipped = new ArrayList<>();
        if (linked.isPresent()) {
            Path git = target.resolve(".git");
            Files.delete(git);
            linked.get().walk(exclude, new CopySnapshotter(true).copier(git, ".git/", skipped, true));
            linked.get().settle(git);
            r = Command.run(readOnlyCommand(target));
            if (!r.ok()) {
                throw new FileSystemException(target.toString(), null, "can't make the snapshot read-only: " + r.why());
            }
        }
        return new Result(null, List.copyOf(skipped));
    }

    static List<String> snapshotCommand(Path source, Path target, boolean readOnly) {
        return readOnly ? List.of("btrfs", "subvolume", "snapshot", "-r", source.toString(), target.toString())
                : List.of("btrfs", "subvolume", "snapshot", source.toString(), target.toString());
    }

    static List<String> readOnlyCommand(Path subvolume) {
        return List.of("btrfs", "property", "set", "-ts", subvolume.toString(), "ro", "true");
    }

    /** Whether {@code dir} is the root of a btrfs subvolume. */
    public static boolean isSubvolume(Path dir) {
        try {
            Object ino = Files.getAttribute(dir, "unix:ino", LinkOption.NOFOLLOW_LINKS);
            return ino instanceof Long n && n == SUBVOLUME_ROOT_INODE
                    && Posix.filesystemType(dir.toString()) == Posix.BTRFS;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /**
     * Creates a repository's state directory as a subvolume of its own when the repository
     * is one, so that its snapshots and sandboxes stay out of the repository's snapshots.
     * Returns false (and creates nothing) where that is not possible or not needed.
     */
    public static boolean prepareStateDir(Path stateDir, Path repoRoot) {
        if (Files.exists(stateDir, LinkOption.NOFOLLOW_LINKS) || !stateDir.startsWith(repoRoot)
                || !isSubvolume(repoRoot)) {
            return false;
        }
        return Command.run(List.of("btrfs", "subvolume", "create", stateDir.toString())).ok();
    }

    /**
     * Makes a snapshot deletable: root deletes it outright (returns true); anyone else, who
     * may not delete subvolumes on a filesystem without {@code user_subvol_rm_allowed}, gets
     * it made writable, so that its files and then the emptied subvolume can be removed.
     */
    public static boolean release(Path subvolume) throws IOException {
        if (Posix.isRoot() && Command.run(List.of("btrfs", "subvolume", "delete", subvolume.toString())).ok()) {
            return true;
        }
        Command.Result r = Command.run(List.of("btrfs", "property", "set", "-f", "-ts", subvolume.toString(), "ro",
                "false"));
        if (!r.ok()) {
            throw new FileSystemException(subvolume.toString(), null, "can't make the snapshot writable to delete it: "
                    + r.why());
        }
        return false;
    }
}
