package dev.sandbox.snapshot;

import dev.sandbox.sys.Command;
import dev.sandbox.sys.MountInfo;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The O(1) backend for a repository whose root is a ZFS dataset's mountpoint: {@code zfs
 * snapshot DATASET@NAME}, whose files the dataset shows read-only under
 * {@code .zfs/snapshot/NAME/}; the snapshot's {@code tree} is a symlink there, and a
 * {@code zfs-snapshot} file beside it names the snapshot for {@code zfs destroy}. The
 * snapshot holds the state directory too when it lies inside the repository; sandboxes hide
 * it. Untested on a real ZFS pool: only the commands and paths are.
 */
public final class ZfsSnapshotter implements Snapshotter {
    /** Beside a ZFS snapshot's {@code tree}: the full name {@code DATASET@NAME}. */
    public static final String NAME_FILE = "zfs-snapshot";

    private final Dataset dataset;

    /** A mounted dataset: its name and where it is mounted. */
    public record Dataset(String name, Path mountpoint) {
    }

    public ZfsSnapshotter(Dataset dataset) {
        this.dataset = dataset;
    }

    @Override
    public String strategy() {
        return "zfs";
    }

    @Override
    public boolean atomic() {
        return true;
    }

    @Override
    public boolean reusable() {
        return false;
    }

    @Override
    public Result copy(Path source, Path target, Set<Path> exclude) throws IOException {
        String name = "sandbox-" + target.getParent().getFileName().toString().replaceFirst("^\\.tmp-", "") + "-"
                + String.format("%04x", ThreadLocalRandom.current().nextInt(0x10000));
        Command.Result r = Command.run(snapshotCommand(dataset.name(), name));
        if (!r.ok()) {
            throw new FileSystemException(source.toString(), null, "zfs snapshot: " + r.why());
        }
        Files.writeString(target.getParent().resolve(NAME_FILE), dataset.name() + "@" + name + "\n");
        Files.createSymbolicLink(target, lowerPath(dataset.mountpoint(), name));
        return new Result(null, List.of());
    }

    static List<String> snapshotCommand(String dataset, String name) {
        return List.of("zfs", "snapshot", dataset + "@" + name);
    }

    static List<String> destroyCommand(String snapshot) {
        if (!snapshot.contains("@")) {
            throw new IllegalArgumentException("not a snapshot name: " + snapshot); // never a whole dataset
        }
        return List.of("zfs", "destroy", snapshot);
    }

    /** Where ZFS shows snapshot {@code name} of the dataset mounted at {@code mountpoint}. */
    static Path lowerPath(Path mountpoint, String name) {
        return mountpoint.resolve(".zfs").resolve("snapshot").resolve(name);
    }

    /** Destroys the ZFS snapshot recorded in {@code snapshotDir}, if it is one. */
    public static void destroy(Path snapshotDir) throws IOException {
        Path nameFile = snapshotDir.resolve(NAME_FILE);
        if (!Files.exists(nameFile)) {
            return;
        }
        Command.Result r = Command.run(destroyCommand(Files.readString(nameFile).strip()));
        if (!r.ok()) {
            throw new FileSystemException(snapshotDir.toString(), null, "zfs destroy: " + r.why());
        }
        Files.delete(nameFile);
    }

    /**
     * The ZFS dataset mounted exactly at {@code dir}, from {@code /proc/self/mountinfo}'s text
     * (the last mount there wins, as it hides the earlier ones).
     */
    static Optional<Dataset> datasetAt(Path dir, String mountinfo) {
        Dataset found = null;
        for (String line : mountinfo.split("\n")) {
            int dash = line.indexOf(" - ");
            if (dash < 0) {
                continue;
            }
            String[] before = line.substring(0, dash).split(" ");
            String[] after = line.substring(dash + 3).split(" ");
            if (before.length < 5 || after.length < 2) {
                continue;
            }
            Path mountpoint = Path.of(MountInfo.unescape(before[4]));
            if (mountpoint.equals(dir)) {
                found = after[0].equals("zfs") ? new Dataset(MountInfo.unescape(after[1]), mountpoint) : null;
            }
        }
        return Optional.ofNullable(found);
    }

    /** The dataset mounted at {@code dir} on this machine. */
    public static Optional<Dataset> datasetAt(Path dir) {
        try {
            return datasetAt(dir, dev.sandbox.sys.Posix.readProcFile("/proc/self/mountinfo"));
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
