package dev.sandbox.harvest;

import dev.sandbox.error.SandboxException;
import dev.sandbox.git.QuotePath;
import dev.sandbox.sys.SafeOpen;
import dev.sandbox.sys.Sizes;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;

/**
 * The blobs of a harvest's two trees: the snapshot's files at its dirty paths, and the files
 * and symlinks the agent wrote. Each is opened below its layer without following anything
 * ({@link SafeOpen}) and streamed into the inserter, bounded by the size seen at the open;
 * none larger than the limit is read.
 */
final class Blobs {
    /** What becomes of a blob. */
    enum Mode {
        /** Written to the repository; a file that can't be read whole is left out, with a warning. */
        STORE,
        /** Only its id computed; a file that can't be read whole gets an id that names nothing. */
        HASH,
        /** Nothing read: every written file gets an id that names nothing, for a count. */
        COUNT
    }

    /**
     * Directories a path may lie below: git's {@code core.maxTreeDepth} (git 2.43 and later
     * refuse deeper trees; older ones crash on them, git 2.39 below 20,000 directories).
     */
    static final int MAX_DEPTH = 4096;
    /**
     * Bytes of a path, its terminating NUL included, that a working tree can hold: Linux's
     * {@code PATH_MAX}. git opens each path of a diff in the working tree (for its
     * {@code .gitattributes}) and {@code apply} and {@code git checkout} write it there, so a
     * longer one could be handed over nowhere.
     */
    static final int PATH_MAX = 4096;
    /** Characters of a path a warning shows; the middle of a longer one is cut. */
    private static final int SHOWN = 160;

    /** The snapshot's files in {@link Mode#COUNT}: the same id in both trees, so they count only when overwritten. */
    private static final ObjectId UNREAD = ObjectId.zeroId();

    private final ObjectInserter ins;
    private final Mode mode;
    private final long maxFile;
    private final List<String> snapshotWarnings = new ArrayList<>();
    private final List<String> upperWarnings = new ArrayList<>();
    private final List<String> tooDeep = new ArrayList<>();

    Blobs(ObjectInserter ins, Mode mode, long maxFile) {
        this.ins = ins;
        this.mode = mode;
        this.maxFile = maxFile;
    }

    /** Puts the snapshot's version of each dirty path into both trees, or deletes it from both. */
    void snapshot(Source src, MutableTree snapshot, MutableTree merged) throws IOException {
        for (String path : src.dirtyPaths()) {
            SafeOpen.Stat st = SafeOpen.stat(src.lower(), path);
            if (st == null) {
                snapshot.delete(path);
                merged.delete(path);
            } else {
                putSnapshotVersion(src, path, st, snapshot, merged);
            }
        }
    }

    /** Puts the snapshot directory's file or symlink {@code path} ({@code st}) into both trees; nothing else. */
    private void putSnapshotVersion(Source src, String path, SafeOpen.Stat st, MutableTree snapshot,
            MutableTree merged) throws IOException {
        if (!st.isFile() && !st.isSymlink()) {
            return;
        }
        FileMode fileMode = st.isSymlink() ? FileMode.SYMLINK
                : st.executable() ? FileMode.EXECUTABLE_FILE : FileMode.REGULAR_FILE;
        ObjectId id = mode == Mode.COUNT ? UNREAD
                : st.isSymlink() ? link(src.lower(), path, false) : file(src.lower(), path, false);
        if (id != null) {
            snapshot.put(path, fileMode, id);
            merged.put(path, fileMode, id);
        }
    }

    /**
     * Puts the snapshot directory's version of each of {@code set}'s {@link ChangeSet#fromSnapshot}
     * paths (every file and symlink below a directory) into both trees where the snapshot's
     * tree has nothing, so that the changes to them read as modifications and deletions.
     * The snapshot directory is the user's copy; it is read as carefully all the same, and
     * no {@code .git} below is entered.
     */
    void fromSnapshot(Source src, ChangeSet set, MutableTree snapshot, MutableTree merged) throws IOException {
        Deque<String> todo = new ArrayDeque<>(set.fromSnapshot());
        while (!todo.isEmpty()) {
            String path = todo.pop();
            SafeOpen.Stat st = SafeOpen.stat(src.lower(), path);
            if (st == null || directories(path) >= MAX_DEPTH) {
                continue;
            }
            if (st.isDirectory()) {
                try (SafeOpen.Dir dir = SafeOpen.openDir(src.lower(), path)) {
                    for (byte[] raw : dir.names()) {
                        String name = RawName.decoded(raw); // the snapshot's tree can't hold others either
                        if (name != null && !name.equals(".git")) {
                            todo.push(path + "/" + name);
                        }
                    }
                } catch (SafeOpen.NotRegular e) {
                    // gone meanwhile
                }
                continue;
            }
            if (snapshot.lookup(path) == null) {
                putSnapshotVersion(src, path, st, snapshot, merged);
            }
        }
    }

    /** Applies the agent's changes to {@code merged}. */
    void apply(Source src, ChangeSet set, MutableTree merged) throws IOException {
        for (Change c : set.changes()) {
            if (c.kind() == Change.Kind.DELETE) {
                merged.delete(c.path());
                continue;
            }
            boolean link = c.kind() == Change.Kind.WRITE_SYMLINK;
            FileMode fileMode = link ? FileMode.SYMLINK
                    : c.kind() == Change.Kind.WRITE_EXECUTABLE ? FileMode.EXECUTABLE_FILE : FileMode.REGULAR_FILE;
            boolean deep = directories(c.path()) >= MAX_DEPTH
                    || c.path().getBytes(java.nio.charset.StandardCharsets.UTF_8).length >= PATH_MAX;
            if (deep) {
                tooDeep.add(c.path());
            }
            ObjectId id = mode == Mode.COUNT || deep && mode == Mode.HASH ? nothing()
                    : deep ? null : link ? link(src.upper(), c.path(), true) : file(src.upper(), c.path(), true);
            if (id != null) {
                merged.put(c.path(), fileMode, id);
            }
        }
    }

    /** The walk's warnings with those of the blobs: the snapshot's first, then the upper layer's. */
    List<String> warnings(ChangeSet set) {
        List<String> all = new ArrayList<>(snapshotWarnings);
        all.addAll(set.warnings());
        if (!set.submodules().isEmpty()) {
            int n = set.submodules().size();
            all.add("files changed inside " + n + " submodule" + (n == 1 ? "" : "s") + " ("
                    + String.join(", ", set.submodules().stream().limit(5).map(p -> "'" + shown(p) + "'").toList())
                    + (n > 5 ? ", ..." : "") + "): a submodule is harvested only as the commit recorded for it;"
                    + " work not committed inside it and staged with 'git add' stays in the sandbox");
        }
        all.addAll(upperWarnings);
        if (!tooDeep.isEmpty()) {
            int more = tooDeep.size() - 1;
            all.add("left out '" + shown(tooDeep.get(0)) + "'" + (more == 0 ? "" : " and " + more + " more file"
                    + (more == 1 ? "" : "s")) + ": deeper than the " + MAX_DEPTH + " directories git takes, or a path"
                    + " longer than the " + (PATH_MAX - 1) + " bytes a working tree holds");
        }
        return List.copyOf(all);
    }

    private static int directories(String path) {
        int n = 0;
        for (int i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
            n++;
        }
        return n;
    }

    /**
     * {@code path} for a warning: escaped as git quotes names ({@link QuotePath#escaped}), so
     * that no control character reaches the terminal and no newline splits the line, and its
     * middle cut to keep it readable: {@code deep/d/d/…/d/f}.
     */
    static String shown(String path) {
        String e = QuotePath.escaped(path);
        return e.length() <= SHOWN ? e : e.substring(0, SHOWN / 2) + "…" + e.substring(e.length() - SHOWN / 2);
    }

    /**
     * The blob of the regular file {@code rel} below {@code root}; null when it is gone, or
     * left out. A file that shrinks while it is read is read once more; one that grows is
     * read up to its size at the open.
     */
    private ObjectId file(Path root, String rel, boolean agents) throws IOException {
        for (int attempt = 1;; attempt++) {
            try (SafeOpen.Regular r = SafeOpen.open(root, rel)) {
                if (r.size() > maxFile) {
                    return leftOut(rel, " (" + Sizes.human(r.size()) + "): larger than " + Harvest.MAX_FILE_ENV + " ("
                            + Sizes.human(maxFile) + ")", agents);
                }
                try (InputStream in = r.exact()) {
                    return ins.insert(Constants.OBJ_BLOB, r.size(), in);
                }
            } catch (SafeOpen.Changed e) {
                if (attempt == 2) {
                    return leftOut(rel, ": it got shorter while it was read, twice (is the agent still writing it?)",
                            agents);
                }
            } catch (SafeOpen.NotRegular e) {
                return gone(rel, e, agents);
            } catch (AccessDeniedException e) {
                throw unreadable(root, rel);
            }
        }
    }

    /** The blob of the symlink {@code rel} below {@code root}: its target's bytes. */
    private ObjectId link(Path root, String rel, boolean agents) throws IOException {
        try {
            return ins.insert(Constants.OBJ_BLOB, SafeOpen.readLinkBytes(root, rel));
        } catch (SafeOpen.NotRegular e) {
            return gone(rel, e, agents);
        } catch (AccessDeniedException e) {
            throw unreadable(root, rel);
        }
    }

    /** A file the walk saw is missing now (the agent removed it: nothing to take) or is something else. */
    private ObjectId gone(String rel, SafeOpen.NotRegular e, boolean agents) {
        if (e.kind() == SafeOpen.Kind.MISSING) {
            return null;
        }
        return leftOut(rel, ": it was replaced while it was read (is the agent still at work?)", agents);
    }

    /**
     * Says {@code rel} was left out and gives the id to use: none when storing, and for the
     * snapshot's files, which are the user's and need no judging; for the agent's, when
     * only hashing, one that names nothing, so the file counts as changed and never as
     * handed over.
     */
    private ObjectId leftOut(String rel, String why, boolean agents) {
        (agents ? upperWarnings : snapshotWarnings).add("left out '" + shown(rel) + "'" + why);
        return agents && mode != Mode.STORE ? nothing() : null;
    }

    /** An id that names no object and no other id: random, 160 bits. */
    private static ObjectId nothing() {
        byte[] raw = new byte[Constants.OBJECT_ID_LENGTH];
        ThreadLocalRandom.current().nextBytes(raw);
        return ObjectId.fromRaw(raw);
    }

    private static SandboxException unreadable(Path root, String rel) {
        return SandboxException.cant("read", root.resolve(rel),
                "permission denied (was the sandbox's upper layer changed by hand?)");
    }
}
