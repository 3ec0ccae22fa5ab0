package dev.sandbox.harvest;

import dev.sandbox.harvest.Overlay.Kind;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Reads a sandbox's upper layer into a {@link ChangeSet} (docs/ARCHITECTURE.md §6). Only the upper
 * layer is walked, so the cost grows with what the agent touched, not with the repository;
 * the snapshot is consulted path by path to drop copy-ups that changed nothing.
 */
public final class UpperWalk {
    /** Which paths the snapshot's git tree holds: those are kept even if now ignored. */
    public interface Tracked {
        /** 't' for a tree, 'f' for a file or symlink, 'g' for a submodule, 0 for none. */
        char at(String path) throws IOException;
    }

    private final Path upper;
    private final Path lower;
    private final Tracked tracked;
    private final boolean includeIgnored;
    private final List<Change> changes = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();
    private final List<String> submodules = new ArrayList<>();
    private final List<String> nestedGitDirs = new ArrayList<>();
    private final List<String> unnamed = new ArrayList<>();

    private UpperWalk(Path upper, Path lower, Tracked tracked, boolean includeIgnored) {
        this.upper = upper;
        this.lower = lower;
        this.tracked = tracked;
        this.includeIgnored = includeIgnored;
    }

    /**
     * The changes in {@code upper} over the snapshot tree {@code lower}. {@code excludesFile}
     * is the user's {@code core.excludesFile} (may be null).
     */
    public static ChangeSet read(Path upper, Path lower, Tracked tracked, boolean includeIgnored, Path excludesFile)
            throws IOException {
        UpperWalk w = new UpperWalk(upper, lower, tracked, includeIgnored);
        if (Files.isDirectory(upper)) {
            Ignores root = Ignores.root(Overlay.resolve(upper, lower, ".gitignore"),
                    Overlay.resolve(upper, lower, ".git/info/exclude"), excludesFile);
            w.walk("", upper, lower, root, false);
        }
        return new ChangeSet(List.copyOf(w.changes), List.copyOf(w.warnings), List.copyOf(w.submodules),
                List.copyOf(w.nestedGitDirs), List.copyOf(w.unnamed));
    }

    private void walk(String prefix, Path upperDir, Path lowerDir, Ignores ignores, boolean ignoredDir)
            throws IOException {
        for (String name : names(prefix, upperDir)) {
            if (name.equals(".git")) {
                if (!prefix.isEmpty()) {
                    nestedGitDirs.add(prefix + name);
                }
                continue; // the agent's repository metadata is harvested as commits, never as files
            }
            String path = prefix + name;
            Path u = upperDir.resolve(name);
            Path l = lowerDir == null ? null : lowerDir.resolve(name);
            char inTree = tracked.at(path);
            if (inTree == 'g') {
                warnings.add("left out '" + path + "': changes inside a submodule are not harvested");
                submodules.add(path);
                continue;
            }
            switch (Overlay.kind(u)) {
                case WHITEOUT:
                    if (inTree != 0) {
                        changes.add(Change.delete(path));
                    }
                    break;
                case DIR:
                    directory(path, u, l, inTree, ignores, ignoredDir);
                    break;
                case FILE:
                    if (unchangedCopyUp(u, l)) {
                        break;
                    }
                    if (keep(path, inTree, false, ignores, ignoredDir)) {
                        if (inTree == 't') {
                            changes.add(Change.delete(path)); // a directory became a file
                        }
                        changes.add(new Change(Overlay.executable(u) ? Change.Kind.WRITE_EXECUTABLE
                                : Change.Kind.WRITE_FILE, path, u));
                    }
                    break;
                case SYMLINK:
                    if (l != null && Overlay.kind(l) == Kind.SYMLINK
                            && Files.readSymbolicLink(l).equals(Files.readSymbolicLink(u))) {
                        break;
                    }
                    if (keep(path, inTree, false, ignores, ignoredDir)) {
                        if (inTree == 't') {
                            changes.add(Change.delete(path));
                        }
                        changes.add(new Change(Change.Kind.WRITE_SYMLINK, path, u));
                    }
                    break;
                case SPECIAL:
                    warnings.add("left out '" + path + "': not a regular file, directory or symlink");
                    break;
                case MISSING:
                    break; // deleted while we looked: the agent is still at work
            }
        }
    }

    private void directory(String path, Path u, Path l, char inTree, Ignores ignores, boolean ignoredDir)
            throws IOException {
        boolean replaced = Overlay.opaque(u) || l == null || Overlay.kind(l) != Kind.DIR;
        if (inTree != 0 && (inTree != 't' || Overlay.opaque(u))) {
            changes.add(Change.delete(path)); // a file became a directory, or the directory was made anew
        }
        boolean ignored = ignoredDir || ignores.ignored(path, true);
        if (ignored && !includeIgnored && inTree != 't') {
            return; // nothing below is tracked, and git would not look inside
        }
        Path lowerBelow = replaced ? null : l;
        Path gitignore = Overlay.resolve(u, lowerBelow, ".gitignore");
        walk(path + "/", u, lowerBelow, ignores.child(path, gitignore), ignored);
    }

    private boolean keep(String path, char inTree, boolean isDir, Ignores ignores, boolean ignoredDir) {
        return inTree != 0 || includeIgnored || !(ignoredDir || ignores.ignored(path, isDir));
    }

    /** A file overlayfs copied up (for a chmod, an open for writing, a touch) whose bits are the same. */
    static boolean unchangedCopyUp(Path u, Path l) throws IOException {
        if (l == null || Overlay.kind(l) != Kind.FILE || Overlay.executable(u) != Overlay.executable(l)
                || Files.size(u) != Files.size(l)) {
            return false;
        }
        try (InputStream a = Files.newInputStream(u); InputStream b = Files.newInputStream(l)) {
            byte[] x = new byte[65536];
            byte[] y = new byte[65536];
            while (true) {
                int n = a.readNBytes(x, 0, x.length);
                int m = b.readNBytes(y, 0, y.length);
                if (n != m || !java.util.Arrays.equals(x, 0, n, y, 0, m)) {
                    return false;
                }
                if (n == 0) {
                    return true;
                }
            }
        }
    }

    /**
     * The names in {@code dir} that name their entries; the others (not valid UTF-8) are
     * recorded as left out, whatever they are, since nothing here can read them by name.
     */
    private TreeSet<String> names(String prefix, Path dir) throws IOException {
        TreeSet<String> names = new TreeSet<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                if (RawName.representable(p)) {
                    names.add(p.getFileName().toString());
                } else if (Overlay.kind(p) != Kind.MISSING) {
                    String path = prefix + RawName.escaped(p);
                    unnamed.add(path);
                    warnings.add("left out '" + path + "': its name is not valid UTF-8, which the harvest can't"
                            + " carry (it stays in the sandbox; rename it there to harvest it)");
                }
            }
        } catch (NoSuchFileException | NotDirectoryException e) {
            // removed while we looked: the agent is still at work
        }
        return names;
    }
}
