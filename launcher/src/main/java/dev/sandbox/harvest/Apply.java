package dev.sandbox.harvest;

import dev.sandbox.error.SandboxException;
import dev.sandbox.git.QuotePath;
import dev.sandbox.sys.SafeOpen;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.eclipse.jgit.diff.RawText;
import org.eclipse.jgit.diff.RawTextComparator;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.ObjectReader;
import org.eclipse.jgit.merge.MergeAlgorithm;
import org.eclipse.jgit.merge.MergeFormatter;
import org.eclipse.jgit.merge.MergeResult;

/**
 * Applies a sandbox's changes to the user's working tree, path by path, as a three-way merge
 * with the snapshot as the base: a path the user left alone takes the sandbox's version; a
 * path both changed is merged line by line, with conflict markers where the edits overlap.
 * The user's own edits are never dropped: where no merge is possible the user's file stays
 * and the sandbox's version is written beside it. The index is not touched. A submodule's
 * change is left out and reported: apply cannot move a submodule's checkout, and never
 * writes into or deletes from one. Several sandboxes are applied in order by planning each
 * over a {@link Chain} of what the ones before it will write ({@link #plan}), so that whether
 * the whole chain is clean is known before anything is written.
 */
public final class Apply {
    /**
     * A path the merge could not settle: why, and what writing the merge puts there
     * ({@code done}, "" when it leaves the user's file as it is), which is not said when
     * nothing was written ({@code --no-conflicts}).
     */
    public record Conflict(String path, String why, String done) {
        public Conflict(String path, String why) {
            this(path, why, "");
        }

        /** The reason as said to the user, with what was done when the merge was {@code written}. */
        public String said(boolean written) {
            return written ? why + done : why;
        }
    }

    /**
     * A submodule whose change apply left out, with what its path held in the snapshot
     * ({@code from}) and holds in the sandbox ({@code to}): a commit id cut to 12 digits, or
     * {@code a file}, {@code a symlink}, {@code a directory}, {@code none}.
     */
    public record Submodule(String path, String from, String to) {
    }

    /** What was (or, with conflicts refused, would have been) done, and the submodules left out. */
    public record Outcome(List<String> updated, List<Conflict> conflicts, List<Submodule> leftOut, boolean written) {
    }

    /** A path in the working tree: its git mode and blob id, and a regular file's content. */
    private record State(FileMode mode, ObjectId id, byte[] content) {
        boolean same(FileMode m, ObjectId i) {
            return mode == null ? m == null : m != null && mode == m && id.equals(i);
        }
    }

    /** One write to do: new content (null: delete) for a path. */
    private record Action(String path, FileMode mode, byte[] content) {
    }

    /**
     * What the applies planned before, in one command, will have written into the working
     * tree once they are written: each path's last write (null content: deleted) and the
     * sandbox that wrote it. A plan over a chain sees the working tree as the disk overlaid by
     * these writes, exactly as it would see the disk after them; an empty chain is the disk.
     * Held in memory, with every file's content: as much as the sandboxes changed.
     */
    public static final class Chain {
        /** Sorted, so that the paths below a directory {@code d} are the range [{@code d/}, {@code d0}). */
        private final TreeMap<String, Action> last = new TreeMap<>();
        private final Map<String, String> by = new HashMap<>();

        /** Records {@code plan}'s writes, in the order {@link Plan#write} makes them. */
        private void add(Apply plan) {
            for (Action a : plan.actions) {
                if (a.content() == null) {
                    last.put(a.path(), a);
                    by.put(a.path(), plan.label);
                }
            }
            for (Action a : plan.actions) {
                if (a.content() != null) {
                    last.put(a.path(), a);
                    by.put(a.path(), plan.label);
                }
            }
        }

        /** The last write of {@code path} itself, or null when the chain leaves it alone. */
        private Action at(String path) {
            return last.get(path);
        }

        /** Whether a file or symlink is written at a directory above {@code path}, so nothing is at {@code path}. */
        private boolean underAFile(String path) {
            for (int slash = path.indexOf('/'); slash > 0; slash = path.indexOf('/', slash + 1)) {
                Action a = last.get(path.substring(0, slash));
                if (a != null && a.content() != null) {
                    return true;
                }
            }
            return false;
        }

        /** Whether a path is written (not deleted) below directory {@code dir}, which is then a directory. */
        private boolean writesBelow(String dir) {
            for (Action a : last.subMap(dir + "/", dir + "0").values()) {
                if (a.content() != null) {
                    return true;
                }
            }
            return false;
        }

        /** The paths written (not deleted) below directory {@code dir}. */
        private List<String> writtenBelow(String dir) {
            List<String> below = new ArrayList<>();
            for (Action a : last.subMap(dir + "/", dir + "0").values()) {
                if (a.content() != null) {
                    below.add(a.path());
                }
            }
            return below;
        }

        /** Who last wrote or deleted {@code path}: "you" (nobody in the chain) or "sandbox 'NAME'". */
        private String who(String path) {
            String name = by.get(path);
            return name == null ? "you" : "sandbox '" + name + "'";
        }
    }

    /** A merge planned over the working tree (and a chain), not written yet. */
    public static final class Plan {
        private final Apply apply;
        private final List<Submodule> leftOut;

        private Plan(Apply apply, List<Submodule> leftOut) {
            this.apply = apply;
            this.leftOut = leftOut;
        }

        /** The paths that conflict (with markers, or kept as they are), and why. */
        public List<Conflict> conflicts() {
            return List.copyOf(apply.conflicts);
        }

        /**
         * Writes the plan into the working tree: path by path, each whole (a rename), deletions
         * first. A plan made over a chain must be written after the chain's earlier plans.
         *
         * @throws SandboxException (125) when a path can't be written; the paths before it stay written
         */
        public Outcome write() {
            apply.write();
            return new Outcome(List.copyOf(apply.updated), List.copyOf(apply.conflicts), List.copyOf(leftOut), true);
        }

        /** What the plan would do (the paths it would update too), as an outcome that wrote nothing. */
        public Outcome unwritten() {
            return new Outcome(List.copyOf(apply.updated), List.copyOf(apply.conflicts), List.copyOf(leftOut), false);
        }
    }

    private final ObjectReader reader;
    private final Path worktree;
    private final String label;
    private final Chain chain;
    private final List<Action> actions = new ArrayList<>();
    private final List<String> updated = new ArrayList<>();
    private final List<Conflict> conflicts = new ArrayList<>();
    private final Set<String> deleting = new HashSet<>();

    private Apply(ObjectReader reader, Path worktree, String label, Chain chain) {
        this.reader = reader;
        this.worktree = worktree;
        this.label = label;
        this.chain = chain;
    }

    /**
     * Merges {@code changes} (blobs already stored in the repository {@code reader} reads)
     * into {@code worktree}. {@code name} labels the sandbox's side in conflict markers. With
     * {@code refuseConflicts} nothing is written if any path conflicts. A change with a
     * gitlink on either side, and every change below that path (a directory that became a
     * submodule, or the reverse), is left out and listed in {@link Outcome#leftOut}.
     */
    public static Outcome run(ObjectReader reader, List<FileChange> all, Path worktree, String name,
            boolean refuseConflicts) {
        Plan p = plan(reader, all, worktree, name, new Chain());
        if (refuseConflicts && !p.apply.conflicts.isEmpty()) {
            return new Outcome(List.of(), List.copyOf(p.apply.conflicts), p.leftOut, false);
        }
        return p.write();
    }

    /**
     * Plans the merge of {@code changes} into {@code worktree} as it will be once {@code chain}
     * is written, reading the disk but writing nothing, then adds the plan's writes to
     * {@code chain} for the next sandbox's plan. As {@link #run} otherwise; conflict reasons
     * name the sandbox of the chain that wrote a path, where it was not the user.
     */
    public static Plan plan(ObjectReader reader, List<FileChange> all, Path worktree, String name, Chain chain) {
        Apply a = new Apply(reader, worktree, name, chain);
        List<Submodule> leftOut = new ArrayList<>();
        List<FileChange> changes = withoutSubmodules(all, leftOut);
        try {
            // deletions first, so that a path whose directory the merge empties can become a file
            for (FileChange c : changes) {
                if (c.deleted()) {
                    a.plan(c);
                }
            }
            for (FileChange c : changes) {
                if (!c.deleted()) {
                    a.plan(c);
                }
            }
        } catch (IOException e) {
            throw SandboxException.cant("merge into", worktree, e);
        }
        chain.add(a);
        return new Plan(a, List.copyOf(leftOut));
    }

    /**
     * {@code changes} but those of submodules, which are added to {@code leftOut}. A
     * submodule's checkout is a repository of its own: moving it to another commit is
     * {@code git submodule update}'s work, and a file written into it or a deletion below it
     * would change the user's other repository; so its whole path is left alone.
     */
    private static List<FileChange> withoutSubmodules(List<FileChange> changes, List<Submodule> leftOut) {
        Set<String> gitlinks = new HashSet<>();
        for (FileChange c : changes) {
            if (c.oldMode() == FileMode.GITLINK || c.newMode() == FileMode.GITLINK) {
                gitlinks.add(c.path());
            }
        }
        if (gitlinks.isEmpty()) {
            return changes;
        }
        List<FileChange> rest = new ArrayList<>();
        Set<String> dirBefore = new HashSet<>();
        Set<String> dirAfter = new HashSet<>();
        for (FileChange c : changes) {
            String sub = submoduleAbove(c.path(), gitlinks);
            if (sub == null && !gitlinks.contains(c.path())) {
                rest.add(c);
            } else if (sub != null) {
                if (c.oldMode() != null) {
                    dirBefore.add(sub);
                }
                if (c.newMode() != null) {
                    dirAfter.add(sub);
                }
            }
        }
        for (FileChange c : changes) {
            if (gitlinks.contains(c.path())) {
                leftOut.add(new Submodule(c.path(), side(c.oldMode(), c.oldId(), dirBefore.contains(c.path())),
                        side(c.newMode(), c.newId(), dirAfter.contains(c.path()))));
            }
        }
        return rest;
    }

    /** The gitlink among {@code gitlinks} that {@code path} lies below, or null. */
    private static String submoduleAbove(String path, Set<String> gitlinks) {
        for (int slash = path.indexOf('/'); slash > 0; slash = path.indexOf('/', slash + 1)) {
            if (gitlinks.contains(path.substring(0, slash))) {
                return path.substring(0, slash);
            }
        }
        return null;
    }

    private static String side(FileMode mode, ObjectId id, boolean directory) {
        if (mode == FileMode.GITLINK) {
            return id.abbreviate(12).name();
        } else if (mode == FileMode.SYMLINK) {
            return "a symlink";
        } else if (mode != null) {
            return "a file";
        }
        return directory ? "a directory" : "none";
    }

    private void plan(FileChange c) throws IOException {
        State cur = current(c.path());
        if (cur != null && cur.mode == FileMode.TREE && emptiedByDeletes(c.path())) {
            cur = null; // the directory goes away with the deletions planned before
        }
        if (cur != null && cur.mode == FileMode.TREE) {
            conflict(c, "a directory is in the way here");
            return;
        }
        String blocker = c.newMode() == null ? null : fileInTheWay(c.path());
        if (blocker != null) {
            String by = chain.who(blocker);
            conflicts.add(new Conflict(c.path(), (by.equals("you") ? "your file '" : "the file '")
                    + QuotePath.escaped(blocker) + (by.equals("you") ? "'" : "' from " + by)
                    + " is in the way (kept; see 'sandbox diff')"));
            return;
        }
        String who = chain.who(c.path());
        if (cur == null ? c.oldMode() == null : cur.same(c.oldMode(), c.oldId())) {
            actions.add(new Action(c.path(), c.newMode(), c.newMode() == null ? null : bytes(c.newId())));
            updated.add(c.path());
            if (c.newMode() == null) {
                deleting.add(c.path());
            }
        } else if (cur == null ? c.newMode() == null : cur.same(c.newMode(), c.newId())) {
            return; // the user already has the sandbox's version
        } else if (c.newMode() == null) {
            conflicts.add(new Conflict(c.path(), "deleted in the sandbox, changed by " + who + " (your file is kept)"));
        } else if (cur == null) {
            actions.add(new Action(c.path(), c.newMode(), bytes(c.newId())));
            conflicts.add(new Conflict(c.path(), "changed in the sandbox, deleted by " + who,
                    " (restored with the sandbox's version)"));
        } else if (isFile(cur.mode) && isFile(c.newMode()) && (c.oldMode() == null || isFile(c.oldMode()))) {
            merge(c, cur, who);
        } else {
            conflict(c, "changed by " + who + " and in the sandbox");
        }
    }

    /**
     * Whether every file below directory {@code dir}, as the working tree will be once the
     * chain is written, is one this plan deletes.
     */
    private boolean emptiedByDeletes(String dir) throws IOException {
        for (String p : chain.writtenBelow(dir)) {
            if (!deleting.contains(p)) {
                return false;
            }
        }
        Path d = worktree.resolve(dir);
        if (!Files.isDirectory(d, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return true; // only the chain makes it a directory
        }
        try (java.util.stream.Stream<Path> all = Files.walk(d)) {
            return all.filter(p -> !Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS))
                    .map(p -> worktree.relativize(p).toString())
                    // a path the chain writes or deletes was counted above, or is gone
                    .allMatch(p -> deleting.contains(p) || chain.at(p) != null || chain.underAFile(p));
        }
    }

    /** A file of the user's where a directory of {@code path}'s must go, unless the merge deletes it. */
    private String fileInTheWay(String path) throws IOException {
        for (int slash = path.indexOf('/'); slash > 0; slash = path.indexOf('/', slash + 1)) {
            String parent = path.substring(0, slash);
            Overlay.Kind k = kind(parent);
            if (k != Overlay.Kind.MISSING && k != Overlay.Kind.DIR && !deleting.contains(parent)) {
                return parent;
            }
        }
        return null;
    }

    /** The kind of {@code path} once the chain is written (a file or symlink the chain writes is FILE). */
    private Overlay.Kind kind(String path) throws IOException {
        if (chain.underAFile(path)) {
            return Overlay.Kind.MISSING;
        }
        if (chain.writesBelow(path)) {
            return Overlay.Kind.DIR;
        }
        Action a = chain.at(path);
        if (a != null) {
            return a.content() == null ? Overlay.Kind.MISSING : Overlay.Kind.FILE;
        }
        return Overlay.kind(worktree.resolve(path));
    }

    private void merge(FileChange c, State cur, String who) throws IOException {
        byte[] base = c.oldMode() == null ? new byte[0] : bytes(c.oldId());
        byte[] ours = cur.content();
        if (ours == null) {
            conflict(c, "changed by " + who + " and in the sandbox, yours too large to merge line by line");
            return;
        }
        byte[] theirs = bytes(c.newId());
        if (RawText.isBinary(base) || RawText.isBinary(ours) || RawText.isBinary(theirs)) {
            conflict(c, "binary file changed by " + who + " and in the sandbox");
            return;
        }
        MergeResult<RawText> r = new MergeAlgorithm().merge(RawTextComparator.DEFAULT, new RawText(base),
                new RawText(ours), new RawText(theirs));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new MergeFormatter().formatMerge(out, r, List.of("snapshot", "yours", "sandbox " + label),
                StandardCharsets.UTF_8);
        FileMode mode = c.oldMode() != null && cur.mode != c.oldMode() ? cur.mode : c.newMode();
        actions.add(new Action(c.path(), mode, out.toByteArray()));
        if (r.containsConflicts()) {
            conflicts.add(new Conflict(c.path(), "changed by " + who + " and in the sandbox", ": conflict markers written"));
        } else {
            updated.add(c.path());
        }
    }

    /** Keeps the user's file and puts the sandbox's version beside it, when it has one. */
    private void conflict(FileChange c, String why) throws IOException {
        if (c.newMode() == null) {
            conflicts.add(new Conflict(c.path(), why + " (yours is kept; the sandbox deleted it)"));
            return;
        }
        String beside = c.path() + ".sandbox-" + label;
        if (current(beside) != null) {
            conflicts.add(new Conflict(c.path(), why + " (yours is kept; '" + QuotePath.escaped(beside)
                    + "' is taken, so the sandbox's version is only in 'sandbox diff')"));
            return;
        }
        actions.add(new Action(beside, c.newMode(), bytes(c.newId())));
        conflicts.add(new Conflict(c.path(), why, " (yours is kept, the sandbox's is in '" + QuotePath.escaped(beside)
                + "')"));
    }

    private void write() {
        for (Action a : actions) {
            if (a.content() == null) {
                delete(a.path());
            }
        }
        for (Action a : actions) {
            if (a.content() != null) {
                put(a);
            }
        }
    }

    private void delete(String path) {
        Path file = worktree.resolve(path);
        try {
            Files.deleteIfExists(file);
            for (Path dir = file.getParent(); dir != null && !dir.equals(worktree); dir = dir.getParent()) {
                try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
                    if (s.iterator().hasNext()) {
                        break;
                    }
                }
                Files.delete(dir); // git leaves no empty directory behind either
            }
        } catch (IOException e) {
            throw SandboxException.cant("delete", shown(path), e);
        }
    }

    /** Writes through a temporary file and a rename, so a path is either old or new, never half. */
    private void put(Action a) {
        Path file = worktree.resolve(a.path());
        try {
            Path dir = file.getParent();
            if (Files.isSymbolicLink(dir) || Files.exists(dir) && !Files.isDirectory(dir)) {
                throw SandboxException.cant("write", shown(a.path()), "'"
                        + QuotePath.escaped(worktree.relativize(dir).toString()) + "' is not a directory");
            }
            Files.createDirectories(dir);
            Path tmp = dir.resolve(".sandbox-apply-" + ProcessHandle.current().pid() + "-" + file.getFileName());
            Files.deleteIfExists(tmp);
            if (a.mode() == FileMode.SYMLINK) {
                Files.createSymbolicLink(tmp, Path.of(new String(a.content(), StandardCharsets.UTF_8)));
            } else {
                Files.write(tmp, a.content());
                Set<PosixFilePermission> perms = Files.getPosixFilePermissions(tmp);
                if (a.mode() == FileMode.EXECUTABLE_FILE) {
                    // like git: an executable file is executable by whoever may read it
                    if (perms.contains(PosixFilePermission.OWNER_READ)) {
                        perms.add(PosixFilePermission.OWNER_EXECUTE);
                    }
                    if (perms.contains(PosixFilePermission.GROUP_READ)) {
                        perms.add(PosixFilePermission.GROUP_EXECUTE);
                    }
                    if (perms.contains(PosixFilePermission.OTHERS_READ)) {
                        perms.add(PosixFilePermission.OTHERS_EXECUTE);
                    }
                } else {
                    perms.removeAll(Set.of(PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.GROUP_EXECUTE,
                            PosixFilePermission.OTHERS_EXECUTE));
                }
                // Only rwx bits exist in a PosixFilePermission set: whatever mode the layer's
                // file had (a setuid one included), the user's tree gets 0644 or 0755 at most.
                Files.setPosixFilePermissions(tmp, perms);
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw SandboxException.cant("write", shown(a.path()), e);
        }
    }

    /** The working tree's file {@code path} for a message: its name escaped, so it stays on one line. */
    private String shown(String path) {
        return worktree + "/" + QuotePath.escaped(path);
    }

    /** Bytes of the user's file read whole for a line merge; a larger one is hashed as a stream and never merged. */
    private static final int MERGE_LIMIT = 64 << 20;

    /**
     * The path's git mode and blob id as it will be once the chain is written, or null if
     * absent; a directory is TREE (one the chain empties too: see {@link #emptiedByDeletes}).
     */
    private State current(String path) throws IOException {
        if (chain.underAFile(path)) {
            return null;
        }
        if (chain.writesBelow(path)) {
            return new State(FileMode.TREE, ObjectId.zeroId(), null);
        }
        Action a = chain.at(path);
        if (a == null) {
            return state(worktree.resolve(path));
        }
        if (a.content() == null) {
            return null;
        }
        // as state() would read it back from the disk
        boolean merged = isFile(a.mode()) && a.content().length <= MERGE_LIMIT;
        return new State(a.mode(), hash(a.content()), merged ? a.content() : null);
    }

    /**
     * The path's git mode and blob id as it is now, or null if absent; a directory is TREE.
     * Read below the working tree without following any symlink on the way
     * ({@link SafeOpen}): a path under a symlink of the user's, which the sandbox replaced by
     * a directory, is absent here, so nothing the link points at is ever read (or merged in).
     */
    private State state(Path file) throws IOException {
        String rel = worktree.relativize(file).toString();
        SafeOpen.Stat st = SafeOpen.stat(worktree, rel);
        if (st == null) {
            return null;
        }
        if (st.isDirectory()) {
            return new State(FileMode.TREE, ObjectId.zeroId(), null);
        }
        if (st.isSymlink()) {
            return new State(FileMode.SYMLINK, hash(SafeOpen.readLinkBytes(worktree, rel)), null);
        }
        if (!st.isFile()) {
            return new State(FileMode.MISSING, ObjectId.zeroId(), null);
        }
        try (SafeOpen.Regular r = SafeOpen.open(worktree, rel)) {
            FileMode mode = r.executable() ? FileMode.EXECUTABLE_FILE : FileMode.REGULAR_FILE;
            if (r.size() > MERGE_LIMIT) {
                try (ObjectInserter.Formatter f = new ObjectInserter.Formatter(); var in = r.exact()) {
                    return new State(mode, f.idFor(Constants.OBJ_BLOB, r.size(), in), null);
                }
            }
            byte[] content = r.readAll(MERGE_LIMIT);
            return new State(mode, hash(content), content);
        } catch (SafeOpen.NotRegular e) {
            return new State(FileMode.MISSING, ObjectId.zeroId(), null); // replaced while we looked
        }
    }

    private static ObjectId hash(byte[] content) {
        try (ObjectInserter.Formatter f = new ObjectInserter.Formatter()) {
            return f.idFor(Constants.OBJ_BLOB, content);
        }
    }

    private byte[] bytes(ObjectId blob) throws IOException {
        return reader.open(blob, Constants.OBJ_BLOB).getCachedBytes(Integer.MAX_VALUE);
    }

    private static boolean isFile(FileMode m) {
        return m == FileMode.REGULAR_FILE || m == FileMode.EXECUTABLE_FILE;
    }
}
