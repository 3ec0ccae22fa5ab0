package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.GitCli;
import dev.sandbox.git.Repo;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.Overlay;
import dev.sandbox.harvest.Source;
import dev.sandbox.harvest.Trees;
import dev.sandbox.snapshot.LowerView;
import dev.sandbox.snapshot.NativeTree;
import dev.sandbox.snapshot.Snapshotter;
import dev.sandbox.snapshot.Strategies;
import dev.sandbox.sys.SafeOpen;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.eclipse.jgit.diff.RawText;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.treewalk.EmptyTreeIterator;
import org.eclipse.jgit.treewalk.TreeWalk;
import org.eclipse.jgit.treewalk.filter.TreeFilter;

/**
 * {@code sandbox rebase}: moves a stopped sandbox's work onto a new snapshot of the working
 * tree as it is now, as {@code git rebase} moves commits onto a new base. Its upper layer is
 * copied as it is (whiteouts and opaque directories too, by the helper's {@code tree copy
 * --ops}), but for the agent's {@code .git}, whose index and refs describe the old snapshot,
 * and for the paths the user changed since that the layer holds too: those are merged three
 * ways, the old snapshot's version as base, the new one's as "yours", the layer's as the
 * sandbox's ({@code git merge-file}, the labels {@code apply} uses); overlapping edits get
 * conflict markers in the layer, for the agent to fix. A conflict that no line merge can
 * settle (a binary file, a deletion against an edit, a file against a directory) keeps the
 * sandbox's side. A layer copy that equals the old snapshot's file (a copy-up: {@code touch},
 * an editor's save of the same bytes) is dropped there, so the user's new version shows.
 *
 * <p>A kill at any moment loses nothing (docs/ARCHITECTURE.md §3): the new layer is built
 * beside the old ({@value #NEW_UPPER}) under a journal ({@value #JOURNAL}) that names both
 * snapshots and keeps the new one from {@code gc}; once the layer is complete the journal says
 * so, then the layers trade places by two renames and the record moves to the new snapshot.
 * {@link #recover} finishes a journal marked complete and undoes any other, so the next
 * command sees the old state or the new, never a mix.
 */
public final class Rebase {
    /** A path whose merge left work for the agent, and why. */
    public record Conflict(String path, String why) {
    }

    /**
     * What a rebase did: the snapshot the sandbox was on and the one it is on now (equal when
     * the tree had not changed, and then nothing was done), the paths merged cleanly, the
     * conflicts, and whether the agent's {@code .git} changes were dropped.
     */
    public record Outcome(String from, String to, List<String> merged, List<Conflict> conflicts, boolean gitDropped) {
        public boolean moved() {
            return !from.equals(to);
        }
    }

    /** {@value #JOURNAL}: the snapshots before and after, and whether the new layer is complete. */
    record Journal(String from, String to, boolean built) {
    }

    static final String JOURNAL = "rebase.json";
    static final String NEW_UPPER = "upper.rebase";
    static final String OLD_UPPER = "upper.old";
    /** The largest file merged line by line, as {@code apply}'s limit; a larger one is a conflict. */
    static final int MERGE_LIMIT = 64 << 20;

    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    private final Sandboxes sandboxes;
    private final Harvester harvester;

    public Rebase(Sandboxes sandboxes) {
        this.sandboxes = sandboxes;
        this.harvester = new Harvester(sandboxes, false);
    }

    /**
     * Moves sandbox {@code name} onto a new snapshot of the working tree (the one a run
     * would take or reuse now); notes and warnings go to {@code console}.
     *
     * @throws SandboxException 2 when there is no such sandbox, it was started from another
     *     sandbox, or its agent's commits were never handed over; 1 when it runs; 125 on a
     *     failure of the state directory or the helper
     */
    public Outcome rebase(String name, Console console) {
        StateStore.validateName(name);
        Path dir = sandboxes.store().sandboxDir(name);
        if (!Files.isDirectory(dir, NOFOLLOW)) {
            throw SandboxException.cantWithInput("find sandbox", name, "no such sandbox (see 'sandbox list')");
        }
        FileChannel lock;
        try {
            lock = StateStore.lockRun(dir); // no start while the layer moves
        } catch (SandboxException e) {
            throw running(name);
        } catch (IOException e) {
            throw SandboxException.cant("rebase", name, e);
        }
        try {
            if (StateStore.helperRunning(dir)) {
                throw running(name);
            }
            recover(dir, recordMover(dir)); // one interrupted before: finished or undone first
            return rebaseStopped(name, dir, console);
        } catch (IOException e) {
            throw SandboxException.cant("rebase", name, e);
        } finally {
            try {
                lock.close();
            } catch (IOException e) {
                // the lock goes with the process anyway
            }
        }
    }

    private static SandboxException running(String name) {
        return SandboxException.nothing("can't rebase '" + name + "': it is running (stop it first: sandbox stop "
                + name + ")");
    }

    private Outcome rebaseStopped(String name, Path dir, Console console) throws IOException {
        refuseStacked(dir, name);
        Sandbox record = Sandboxes.readSandbox(dir);
        Repo repo = sandboxes.repo();
        if (record != null && record.repo() != null && record.repo().startsWith("/")
                && !record.repo().equals(repo.root().toString())) {
            throw SandboxException.cantWithInput("rebase", name, "it ran in the working tree '" + record.repo()
                    + "' (run 'sandbox rebase " + name + "' there)");
        }
        try (Harvester.Target target = harvester.target(name); Harvest h = harvester.openHarvest()) {
            Trees before = h.trees(target.source(), false, true);
            if (before.agentHead() != null && !Harvester.state(before).equals(target.record().harvested())) {
                throw SandboxException.cantWithInput("rebase", name, "its agent made commits of its own inside"
                        + " (commit them first with 'sandbox commit " + name + "')");
            }
            String from = target.snapshot().id();
            Snapshotter snapshotter = Strategies.choose(Strategies.Requested.auto,
                    sandboxes.context().helper().path(), repo.root(), sandboxes.store().root());
            Path journal = dir.resolve(JOURNAL);
            // claimed under the snapshots lock: gc keeps what a journal names (Removal)
            Snapshot fresh = sandboxes.snapshots().current(repo, snapshotter, false, console,
                    s -> Json.writeAtomically(journal, new Journal(from, s.id(), false)));
            if (fresh.id().equals(from)) {
                Files.deleteIfExists(journal);
                return new Outcome(from, from, List.of(), List.of(), false);
            }
            try {
                return moveOnto(name, dir, target, before, h, fresh, console);
            } catch (IOException | RuntimeException e) {
                recover(dir, recordMover(dir)); // undone, or finished when the new layer was complete
                throw e;
            }
        }
    }

    private Outcome moveOnto(String name, Path dir, Harvester.Target target, Trees before, Harvest h,
            Snapshot fresh, Console console) throws IOException {
        Path upper = StateStore.upperDir(dir);
        Path next = dir.resolve(NEW_UPPER);
        Tree.deleteQuietly(next);
        List<String> merged = new ArrayList<>();
        List<Conflict> conflicts = new ArrayList<>();
        boolean gitDropped;
        try (LowerView now = harvester.view(dir, fresh)) {
            Set<String> yours = changedSince(h, dir, before, fresh, now);
            gitDropped = copyLayer(upper, next, dir, console);
            Path scratch = dir.resolve(".rebase-merge-" + ProcessHandle.current().pid());
            try {
                for (String path : yours) {
                    settle(name, path, upper, next, target.view().root(), now.root(), scratch, merged, conflicts);
                }
            } finally {
                Tree.deleteQuietly(scratch);
            }
        }
        Json.writeAtomically(dir.resolve(JOURNAL), new Journal(target.snapshot().id(), fresh.id(), true));
        recover(dir, recordMover(dir)); // the swap itself, as after a kill at this point
        return new Outcome(target.snapshot().id(), fresh.id(), List.copyOf(merged), List.copyOf(conflicts),
                gitDropped);
    }

    /**
     * The paths that differ between the old snapshot's tree and {@code fresh}'s, as git trees
     * (tracked files and untracked ones git does not ignore): the user's changes since.
     */
    private Set<String> changedSince(Harvest h, Path dir, Trees before, Snapshot fresh, LowerView now)
            throws IOException {
        Path empty = dir.resolve(".rebase-empty-" + ProcessHandle.current().pid());
        Tree.deleteQuietly(empty);
        Files.createDirectory(empty);
        Trees after;
        try {
            after = h.trees(new Source(empty, now.root(), now.layers(), fresh.baseCommit(),
                    fresh.dirtyPaths() == null ? List.of() : fresh.dirtyPaths()), false, true);
        } finally {
            Tree.deleteQuietly(empty);
        }
        Set<String> paths = new TreeSet<>();
        try (TreeWalk walk = new TreeWalk(h.repository())) {
            if (before.snapshot() == null) {
                walk.addTree(new EmptyTreeIterator());
            } else {
                walk.addTree(before.snapshot());
            }
            if (after.snapshot() == null) {
                walk.addTree(new EmptyTreeIterator());
            } else {
                walk.addTree(after.snapshot());
            }
            walk.setRecursive(true);
            walk.setFilter(TreeFilter.ANY_DIFF);
            while (walk.next()) {
                paths.add(walk.getPathString());
            }
        }
        return paths;
    }

    /**
     * Copies the upper layer {@code from} to {@code to} entry by entry through the helper
     * ({@code c} files, links and directories, {@code w} whiteouts, {@code C} opaque
     * directories whole), never following a link; the top {@code .git} is left out. Returns
     * whether there was one. FIFOs, sockets and devices are left out with a warning, as a
     * harvest leaves them out.
     *
     * @throws SandboxException (exit 2) on a name that is not UTF-8, which the copy can't name
     */
    private boolean copyLayer(Path from, Path to, Path dir, Console console) throws IOException {
        ByteArrayOutputStream ops = new ByteArrayOutputStream();
        boolean git = false;
        List<String> special = new ArrayList<>();
        Deque<String> todo = new ArrayDeque<>();
        todo.push("");
        while (!todo.isEmpty()) {
            String rel = todo.pop();
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(rel.isEmpty() ? from : from.resolve(rel))) {
                for (Path e : entries) {
                    String entry = e.getFileName().toString();
                    String path = rel.isEmpty() ? entry : rel + "/" + entry;
                    if (path.equals(".git")) {
                        git = true;
                        continue;
                    }
                    if (entry.indexOf('\uFFFD') >= 0) {
                        throw SandboxException.cantWithInput("rebase", dir.getFileName(), "its layer holds a name"
                                + " that is not UTF-8 ('" + Console.oneLine(path) + "'); rename it, or harvest first");
                    }
                    switch (kind(e)) {
                        case WHITEOUT -> op(ops, 'w', path);
                        case FILE, SYMLINK -> op(ops, 'c', path);
                        case DIR -> {
                            if (opaque(e)) {
                                op(ops, 'C', path);
                            } else {
                                op(ops, 'c', path);
                                todo.push(path);
                            }
                        }
                        default -> special.add(path);
                    }
                }
            }
        }
        Path opsFile = dir.resolve(".rebase-ops-" + ProcessHandle.current().pid());
        try {
            Files.write(opsFile, ops.toByteArray());
            if (ops.size() > 0) {
                new NativeTree(sandboxes.context().helper().path()).applyOps(from, to, opsFile, true, null);
            }
        } finally {
            Files.deleteIfExists(opsFile);
        }
        if (!Files.isDirectory(to, NOFOLLOW)) {
            Files.createDirectory(to);
        }
        Files.setPosixFilePermissions(to, Files.getPosixFilePermissions(from, NOFOLLOW));
        for (String s : special) {
            console.warn("left '" + Console.oneLine(s) + "' out of the rebased layer: not a regular file, directory,"
                    + " symlink or whiteout");
        }
        return git;
    }

    private static void op(ByteArrayOutputStream ops, char op, String path) {
        ops.write(op);
        ops.writeBytes(path.getBytes(StandardCharsets.UTF_8));
        ops.write(0);
    }

    /** One path's kind in a layer or a tree. */
    enum Kind { FILE, SYMLINK, DIR, WHITEOUT, SPECIAL, ABSENT, HIDDEN }

    /** What a path holds: its kind, exec bit, blob id (files and links), and a file's bytes when small enough. */
    record Side(Kind kind, boolean executable, ObjectId id, byte[] content) {
        static final Side ABSENT = new Side(Kind.ABSENT, false, null, null);

        boolean same(Side o) {
            return kind == o.kind && (kind != Kind.FILE || executable == o.executable)
                    && (id == null ? o.id == null : id.equals(o.id));
        }
    }

    /**
     * Settles one path the user changed: nothing to do when the sandbox's layer does not touch
     * it (the new snapshot shows through); else the layer's version is dropped when it is the
     * old snapshot's (a copy-up), kept when it equals the user's, merged when all sides are
     * text files, and kept as a conflict otherwise.
     */
    static void settle(String name, String path, Path upper, Path next, Path oldTree, Path newTree,
            Path scratch, List<String> merged, List<Conflict> conflicts) throws IOException {
        Side base = side(oldTree, path);
        Side yours = side(newTree, path);
        if (base.same(yours)) {
            return; // the git trees differ (a path only one side's dirty list names), the files do not
        }
        Kind layer = inLayer(upper, path);
        switch (layer) {
            case ABSENT -> {
                // the layer leaves it alone: the new snapshot's version shows
            }
            case DIR -> {
                if (yours.kind() == Kind.FILE || yours.kind() == Kind.SYMLINK) {
                    conflicts.add(new Conflict(path, "a directory in the sandbox, changed in your tree: the"
                            + " sandbox's directory is kept"));
                }
            }
            case SPECIAL -> {
                // left out of the copy already (warned), so the new snapshot's version shows
            }
            case WHITEOUT -> {
                if (yours.kind() == Kind.ABSENT) {
                    return;
                }
                if (base.kind() == Kind.ABSENT) {
                    Files.deleteIfExists(next.resolve(path)); // it hid nothing; now it would hide yours
                } else {
                    conflicts.add(new Conflict(path, "deleted in the sandbox, changed in your tree: the deletion"
                            + " is kept"));
                }
            }
            case FILE, SYMLINK -> {
                Side theirs = side(upper, path);
                if (theirs.same(base)) {
                    Files.deleteIfExists(next.resolve(path)); // a copy-up of the old version: yours shows
                } else if (!theirs.same(yours)) {
                    merge(name, path, base, yours, theirs, upper, next, scratch, merged, conflicts);
                }
            }
            case HIDDEN -> { // an opaque directory or a whiteout above it, or it is an opaque directory
                if (yours.kind() != Kind.ABSENT && yours.kind() != Kind.DIR) {
                    conflicts.add(new Conflict(path, "changed in your tree, deleted or replaced in the sandbox"
                            + " (with a directory above it): the sandbox's version is kept"));
                }
            }
        }
    }

    private static void merge(String name, String path, Side base, Side yours, Side theirs, Path upper, Path next,
            Path scratch, List<String> merged, List<Conflict> conflicts) throws IOException {
        boolean files = theirs.kind() == Kind.FILE && yours.kind() == Kind.FILE
                && (base.kind() == Kind.FILE || base.kind() == Kind.ABSENT);
        byte[] b = base.kind() == Kind.ABSENT ? new byte[0] : base.content();
        if (!files || b == null || yours.content() == null || theirs.content() == null) {
            conflicts.add(new Conflict(path, "changed in the sandbox and in your tree"
                    + (files ? " (larger than " + (MERGE_LIMIT >> 20) + " MiB)" : "") + ": the sandbox's version is kept"));
            return;
        }
        if (RawText.isBinary(b) || RawText.isBinary(yours.content()) || RawText.isBinary(theirs.content())) {
            conflicts.add(new Conflict(path, "binary file changed in the sandbox and in your tree: the sandbox's"
                    + " version is kept"));
            return;
        }
        Files.createDirectories(scratch);
        Path o = Files.write(scratch.resolve("yours"), yours.content());
        Path ba = Files.write(scratch.resolve("base"), b);
        Path t = Files.write(scratch.resolve("theirs"), theirs.content());
        GitCli.Result r = GitCli.run(scratch, "merge-file", "-p", "-L", "yours", "-L", "snapshot", "-L",
                "sandbox " + name, o.toString(), ba.toString(), t.toString());
        if (r.exitCode() < 0 || r.exitCode() > 127) {
            conflicts.add(new Conflict(path, "git merge-file failed (" + Console.oneLine(r.firstErrorLine())
                    + "): the sandbox's version is kept"));
            return;
        }
        replace(next.resolve(path), r.stdout(), Files.getPosixFilePermissions(upper.resolve(path), NOFOLLOW));
        if (r.exitCode() > 0) {
            conflicts.add(new Conflict(path, "changed in the sandbox and in your tree: conflict markers written"));
        } else {
            merged.add(path);
        }
    }

    /** Writes {@code file} whole through a temporary sibling and a rename, with {@code perms}. */
    private static void replace(Path file, byte[] content, Set<PosixFilePermission> perms) throws IOException {
        Path tmp = file.resolveSibling(".sandbox-rebase-" + ProcessHandle.current().pid());
        Files.deleteIfExists(tmp);
        Files.write(tmp, content);
        Files.setPosixFilePermissions(tmp, perms);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * What {@code rel} is in the tree at {@code root}, read without following a link
     * ({@link SafeOpen}): a file's bytes up to {@value #MERGE_LIMIT}, else only its id.
     */
    static Side side(Path root, String rel) throws IOException {
        SafeOpen.Stat st = SafeOpen.stat(root, rel);
        if (st == null) {
            return Side.ABSENT;
        }
        if (st.isDirectory()) {
            return new Side(Kind.DIR, false, null, null);
        }
        if (st.isSymlink()) {
            return new Side(Kind.SYMLINK, false, blob(SafeOpen.readLinkBytes(root, rel)), null);
        }
        if (!st.isFile()) {
            return new Side(st.isCharDevice() && st.rdev() == 0 ? Kind.WHITEOUT : Kind.SPECIAL, false, null, null);
        }
        try (SafeOpen.Regular r = SafeOpen.open(root, rel)) {
            if (r.size() > MERGE_LIMIT) {
                try (ObjectInserter.Formatter f = new ObjectInserter.Formatter(); InputStream in = r.exact()) {
                    return new Side(Kind.FILE, r.executable(), f.idFor(Constants.OBJ_BLOB, r.size(), in), null);
                }
            }
            byte[] content = r.readAll(MERGE_LIMIT);
            return new Side(Kind.FILE, r.executable(), blob(content), content);
        } catch (SafeOpen.NotRegular e) {
            return new Side(Kind.SPECIAL, false, null, null);
        }
    }

    private static ObjectId blob(byte[] content) {
        try (ObjectInserter.Formatter f = new ObjectInserter.Formatter()) {
            return f.idFor(Constants.OBJ_BLOB, content);
        }
    }

    /**
     * What the upper layer {@code upper} does to {@code rel}: {@link Kind#ABSENT} when it
     * leaves it to the lower layers, its own entry there ({@link Kind#DIR} for a directory
     * that is not opaque), or {@link Kind#HIDDEN}: an opaque directory at it,
     * or a whiteout, file, link or opaque directory above it.
     */
    static Kind inLayer(Path upper, String rel) throws IOException {
        String[] parts = rel.split("/");
        Path p = upper;
        boolean underOpaque = false;
        for (int i = 0; i < parts.length; i++) {
            boolean last = i == parts.length - 1;
            p = p.resolve(parts[i]);
            Kind k = kind(p);
            if (k == Kind.ABSENT) {
                return underOpaque ? Kind.HIDDEN : Kind.ABSENT;
            }
            if (k == Kind.DIR) {
                boolean op = opaque(p);
                if (last) {
                    return op ? Kind.HIDDEN : Kind.DIR;
                }
                underOpaque |= op;
                continue;
            }
            if (!last) {
                return Kind.HIDDEN; // a whiteout or a non-directory where the path's directory was
            }
            return k;
        }
        return Kind.ABSENT;
    }

    /** The kind of {@code p}, never following a link ({@link Overlay#kind}). */
    static Kind kind(Path p) throws IOException {
        return switch (Overlay.kind(p)) {
            case FILE -> Kind.FILE;
            case DIR -> Kind.DIR;
            case SYMLINK -> Kind.SYMLINK;
            case WHITEOUT -> Kind.WHITEOUT;
            case SPECIAL -> Kind.SPECIAL;
            case MISSING -> Kind.ABSENT;
        };
    }

    /** Whether {@code dir} is an opaque directory of an upper layer ({@link Overlay#opaque}). */
    static boolean opaque(Path dir) throws IOException {
        return Overlay.opaque(dir);
    }

    /** Refuses a sandbox started from another's ({@code run --from}): its snapshot is that one's layer. */
    private static void refuseStacked(Path dir, String name) {
        if (!Files.isRegularFile(StateStore.sandboxJson(dir), NOFOLLOW)) {
            return; // no record yet: target() says so
        }
        try {
            var node = Json.MAPPER.readTree(StateStore.sandboxJson(dir).toFile());
            if (node != null && node.hasNonNull("from")) {
                throw SandboxException.cantWithInput("rebase", name, "it was started from sandbox '"
                        + Console.oneLine(node.get("from").path("name").asText()) + "', whose work it holds as its snapshot");
            }
        } catch (IOException e) {
            throw SandboxException.cant("read", StateStore.sandboxJson(dir), e);
        }
    }

    /** A record's move to the new snapshot, under the store lock. */
    private IoConsumer recordMover(Path dir) {
        return to -> sandboxes.update(dir, sb -> sb.rebased(to));
    }

    /** Rewrites a sandbox's record to name snapshot {@code to}. */
    @FunctionalInterface
    interface IoConsumer {
        void accept(String to) throws IOException;
    }

    /**
     * Finishes or undoes a rebase of the sandbox in {@code dir} that was interrupted (the
     * caller holds its run lock, so none is under way): its scratch files are deleted; with no
     * journal, nothing else; with a journal not marked complete, the new layer is deleted (the
     * old one was never touched);
     * with one marked complete, the layers trade places if they have not yet,
     * {@code moveRecord} moves the record, and the old layer is deleted. Every step can be
     * repeated, so a kill during this is finished by the next call. Returns whether there was
     * a journal.
     *
     * @throws IOException when a layer can't be renamed or deleted; nothing is lost then
     */
    static boolean recover(Path dir, IoConsumer moveRecord) throws IOException {
        // a killed rebase's ops file, empty layer or merge files, and its journal's temporary copy
        try (DirectoryStream<Path> scratch = Files.newDirectoryStream(dir, "{.rebase-*,.rebase.json.tmp-*}")) {
            for (Path p : scratch) {
                Tree.delete(p);
            }
        }
        Path journal = dir.resolve(JOURNAL);
        if (!Files.exists(journal, NOFOLLOW)) {
            return false;
        }
        Journal j;
        try {
            j = Json.read(journal, Journal.class);
        } catch (IOException e) {
            j = null; // written atomically: unreadable means edited by hand; undone, as not complete
        }
        Path upper = StateStore.upperDir(dir);
        Path next = dir.resolve(NEW_UPPER);
        Path old = dir.resolve(OLD_UPPER);
        if (j == null || !j.built() || j.to() == null) {
            if (Files.exists(old, NOFOLLOW) && !Files.exists(upper, NOFOLLOW)) {
                Files.move(old, upper, StandardCopyOption.ATOMIC_MOVE); // never happens: renames come after built
            }
            Tree.delete(next);
            Files.delete(journal);
            return true;
        }
        if (Files.exists(next, NOFOLLOW)) {
            if (Files.exists(upper, NOFOLLOW)) {
                if (Files.exists(old, NOFOLLOW)) {
                    throw new IOException("'" + upper + "', '" + next + "' and '" + old + "' all exist");
                }
                Files.move(upper, old, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(next, upper, StandardCopyOption.ATOMIC_MOVE);
        }
        moveRecord.accept(j.to());
        Tree.delete(old);
        Files.delete(journal);
        return true;
    }

    /**
     * The snapshot a rebase under way in {@code dir} claimed, which {@code gc} must keep, or
     * null when there is none (or its journal can't be read).
     */
    static String claimed(Path dir) {
        Path journal = dir.resolve(JOURNAL);
        if (!Files.exists(journal, NOFOLLOW)) {
            return null;
        }
        try {
            return Json.read(journal, Journal.class).to();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Finishes or undoes every rebase interrupted in {@code sandboxes}' store ({@link #recover}),
     * skipping a sandbox whose run lock another process holds (a rebase under way). Best
     * effort: what fails is left for the next command, or {@code sandbox rebase}, to say.
     */
    static void finishInterrupted(Sandboxes sandboxes) {
        try (DirectoryStream<Path> all = Files.newDirectoryStream(sandboxes.store().sandboxesDir())) {
            for (Path dir : all) {
                if (dir.getFileName().toString().startsWith(".") || !Files.exists(dir.resolve(JOURNAL), NOFOLLOW)) {
                    continue;
                }
                FileChannel lock;
                try {
                    lock = StateStore.lockRun(dir);
                } catch (SandboxException | IOException held) {
                    continue;
                }
                try (lock) {
                    recover(dir, to -> sandboxes.update(dir, sb -> sb.rebased(to)));
                } catch (IOException | RuntimeException e) {
                    // left as it is: the old state still holds until it is finished
                }
            }
        } catch (IOException | RuntimeException e) {
            // no sandboxes directory to read: nothing to finish
        }
    }
}
