package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.GitCli;
import dev.sandbox.harvest.Apply;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.Source;
import dev.sandbox.harvest.Trees;
import dev.sandbox.harvest.Work;
import dev.sandbox.profile.Profiles;
import dev.sandbox.snapshot.LowerView;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.Ref;
import org.eclipse.jgit.lib.RefUpdate;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevWalk;

/**
 * What a sandbox changed, handed to the user: as a diff, a patch, a commit on a branch, or
 * edits merged into the working tree. Each reads the upper layer afresh, so it works while
 * the agent is still running, and records what it handed over so that {@code rm} knows.
 */
public final class Harvester {
    /** How {@link #diff} prints. */
    public enum DiffFormat { PATCH, STAT, NAME_ONLY }

    /** A commit {@link #commit} put on a branch. */
    public record Committed(String branch, String tip, int commits, boolean moved) {
    }

    private final Sandboxes sandboxes;
    private final boolean includeIgnored;
    private final long maxFile;

    /**
     * A harvester of {@code sandboxes}' work.
     *
     * @throws SandboxException (exit 2) when {@code SANDBOX_HARVEST_MAX_FILE} is not a number of bytes
     */
    public Harvester(Sandboxes sandboxes, boolean includeIgnored) {
        this.sandboxes = sandboxes;
        this.includeIgnored = includeIgnored;
        this.maxFile = Harvest.maxFile(sandboxes.context().env().get(Harvest.MAX_FILE_ENV));
    }

    /** The sandboxes this harvester reads; for the verbs that work on several at once. */
    Sandboxes sandboxes() {
        return sandboxes;
    }

    /** Whether new ignored files count ({@code --include-ignored}). */
    boolean includeIgnored() {
        return includeIgnored;
    }

    /** The repository's object database, opened for one verb; the caller closes it. */
    Harvest openHarvest() {
        return Harvest.open(sandboxes.repo().commonDir(), maxFile);
    }

    /**
     * One sandbox, read for harvesting; it holds the view of its snapshot's layers that
     * {@code source} reads (docs/ARCHITECTURE.md §6), so every verb closes it when it is done.
     */
    record Target(String name, Path dir, Sandbox record, Snapshot snapshot, Source source, Path repoRoot,
            LowerView view) implements AutoCloseable {
        @Override
        public void close() {
            view.close();
        }
    }

    /**
     * Prints the diff through git (colour and pager on a terminal), after the warnings on
     * {@code console}; returns git's status.
     */
    public int diff(String name, DiffFormat format, Console console) {
        try (Target target = target(name); Harvest h = Harvest.open(sandboxes.repo().commonDir(), maxFile)) {
            Trees t = trees(h, target, true, console);
            if (target.record().from() != null) {
                console.note("sandbox '" + name + "' started from '" + target.record().from().name()
                        + "': this is its own work (--against base shows both)");
            }
            target.close(); // the trees are stored: git (and its pager, for as long as the user reads) needs no view
            List<String> args = new ArrayList<>(List.of("diff", "-M"));
            if (format == DiffFormat.STAT) {
                args.add("--stat");
            } else if (format == DiffFormat.NAME_ONLY) {
                args.add("--name-only");
            }
            args.add(t.snapshot().name());
            args.add(t.merged().name());
            console.out().flush();
            return GitCli.passThrough(target.repoRoot(), args.toArray(String[]::new));
        }
    }

    /** {@code diff A B}: git's diff between two sandboxes' merged trees ({@link Stacks#diff}). */
    public int diff(String a, String b, DiffFormat format, Console console) {
        return Stacks.diff(this, a, b, format, console);
    }

    /** {@code diff NAME --against base}: from the snapshot its stack started on ({@link Stacks#diffAgainstBase}). */
    public int diffAgainstBase(String name, DiffFormat format, Console console) {
        return Stacks.diffAgainstBase(this, name, format, console);
    }

    /**
     * Writes the sandbox's work as a patch series ({@code git format-patch}) to stdout or
     * {@code output}: from the snapshot's base commit, so that it carries the user's
     * uncommitted state at snapshot time first when there was one, unless {@code noBase}.
     * Warnings go to {@code console}.
     */
    public void patch(String name, Path output, boolean noBase, Console console) {
        try (Target target = target(name); Harvest h = Harvest.open(sandboxes.repo().commonDir(), maxFile)) {
            Trees t = changed(h, target, "make a patch of", false, console);
            Harvest.Commits c = commits(h, target, t, null);
            // the a/ and b/ prefixes whatever the user's settings: git am and git apply -p1 need them
            List<String> args = new ArrayList<>(List.of("-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
                    "format-patch", "--stdout", "-M", "--binary", "--no-signature"));
            ObjectId from = noBase ? c.start() : c.base();
            args.add(from == null ? "--root" : from.name() + ".." + c.tip().name());
            if (from == null) {
                args.add(c.tip().name());
            }
            console.out().flush();
            Path file = output == null || output.toString().equals("-") ? null : writtenFile(output);
            boolean into = file != null && Files.exists(file) && !Files.isRegularFile(file);
            Path tmp = file == null || into ? null : temporaryBeside(file, output);
            int status;
            try {
                status = file == null ? GitCli.passThrough(target.repoRoot(), args.toArray(String[]::new))
                        : GitCli.passThroughTo(target.repoRoot(), into ? file : tmp, args.toArray(String[]::new));
            } catch (IOException e) {
                deleteQuietly(tmp); // made, but git did not start
                throw SandboxException.cant("write", output, e);
            } catch (RuntimeException e) {
                deleteQuietly(tmp);
                throw e;
            }
            if (status == 128 + 13) {
                deleteQuietly(tmp);
                throw SandboxException.withStatus(status); // SIGPIPE: the reader (head, a pager) had enough
            }
            if (status != 0) {
                deleteQuietly(tmp);
                throw SandboxException.cant("make a patch of", name, "git format-patch failed with status " + status);
            }
            if (tmp != null) {
                try {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException e) {
                    deleteQuietly(tmp);
                    throw SandboxException.cant("write", output, e);
                }
            }
            mark(h, target, t, null);
        }
    }

    /**
     * The file {@code patch -o} writes: {@code output} itself, or the file a symlink there leads
     * to, so that the link stays a link as under a shell's {@code >}. The user named it; it is
     * not the agent's. A regular file is replaced whole by a rename (a reader never sees half
     * a patch); anything else that exists (a FIFO, a terminal, a device) is written into, never
     * replaced: root replacing {@code /dev/null} by a file would break the machine.
     */
    private static Path writtenFile(Path output) {
        try {
            if (Files.exists(output)) {
                return output.toRealPath();
            }
            // a dangling symlink: the file it names is made, as a shell's '>' makes it
            Path p = output.toAbsolutePath();
            for (int hops = 0; Files.isSymbolicLink(p); hops++) {
                if (hops == MAX_SYMLINKS) {
                    throw new FileSystemException(output.toString(), null, "Too many levels of symbolic links");
                }
                p = p.getParent().resolve(Files.readSymbolicLink(p)).normalize();
            }
            return p;
        } catch (IOException e) {
            throw SandboxException.cant("write", output, e);
        }
    }

    /** Symlinks followed to the file {@code patch -o} writes, as Linux's own limit (path_resolution(7)). */
    private static final int MAX_SYMLINKS = 40;

    /**
     * A new file, of a name no one else holds ({@code O_EXCL}, a random part: a link planted
     * beside the output can't redirect the patch), in {@code file}'s directory so that a
     * rename puts it in place; with the permissions of the file it replaces, which must be
     * writable, as for a shell's {@code >}.
     */
    private static Path temporaryBeside(Path file, Path output) {
        try {
            PosixFileAttributes old = Files.exists(file) ? Files.readAttributes(file, PosixFileAttributes.class) : null;
            if (old != null && !Files.isWritable(file)) {
                throw new AccessDeniedException(output.toString());
            }
            Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), ".sandbox-patch-", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-rw-rw-"))); // less the umask
            if (old != null) {
                Files.setPosixFilePermissions(tmp, old.permissions());
            }
            return tmp;
        } catch (IOException e) {
            throw SandboxException.cant("write", output, e);
        }
    }

    /**
     * Commits the sandbox's work on {@code branch} (default {@code sandbox/<name>}), leaving
     * the user's working tree, index and HEAD alone. Warnings go to {@code console}.
     */
    public Committed commit(String name, String branch, String message, boolean force, Console console) {
        try (Target target = target(name)) {
            return commit(target, branch, message, force, console);
        }
    }

    private Committed commit(Target target, String branch, String message, boolean force, Console console) {
        String name = target.name();
        String shortName = branch != null ? branch : "sandbox/" + target.name();
        String ref = "refs/heads/" + shortName;
        if (!validBranchName(shortName)) {
            throw SandboxException.cantWithInput("use the branch name", shortName,
                    "not a valid git branch name" + (branch == null ? " (pick one with -b)" : ""));
        }
        checkedOutBranches(target.repoRoot()).stream().filter(ref::equals).findAny().ifPresent(b -> {
            throw SandboxException.cantWithInput("commit to the branch", shortName,
                    "it is checked out in a working tree (pick another with -b)");
        });
        try (Harvest h = Harvest.open(sandboxes.repo().commonDir(), maxFile)) {
            Trees t = changed(h, target, "commit", true, console);
            Repository repo = h.repository();
            Ref existing = repo.exactRef(ref);
            if (existing == null && repo.getRefDatabase().isNameConflicting(ref)) {
                throw SandboxException.cantWithInput("commit to the branch", shortName,
                        "another branch is in the way (git can't have both 'a' and 'a/b'; pick another with -b)");
            }
            ObjectId old = existing == null ? null : existing.getObjectId();
            // Committing the same sandbox again builds on the branch it made last time, unless
            // the agent's own commits are to be kept (they are the branch's history).
            boolean ownCommitsKept = t.agentHead() != null && t.linear();
            ObjectId onTop = old != null && !ownCommitsKept && old.name().equals(target.record().committed())
                    ? old : null;
            Harvest.Commits c = commits(h, target, t, message, onTop);
            if (c.tip().equals(old)) {
                mark(h, target, t, c.tip().name());
                return new Committed(shortName, c.tip().abbreviate(12).name(), 0, false);
            }
            RefUpdate u = repo.updateRef(ref);
            u.setNewObjectId(c.tip());
            u.setExpectedOldObjectId(old == null ? ObjectId.zeroId() : old);
            u.setForceUpdate(force);
            u.setRefLogMessage("sandbox commit " + target.name(), false);
            RefUpdate.Result r = u.update();
            switch (r) {
                case NEW, FAST_FORWARD, FORCED, NO_CHANGE:
                    break;
                case REJECTED:
                    throw SandboxException.cantWithInput("move the branch", shortName,
                            "it exists and is not an ancestor of the sandbox's commit (use --force to move it,"
                                    + " or -b for another branch)");
                default:
                    throw SandboxException.cant("update the branch", shortName, "git refused: " + r);
            }
            mark(h, target, t, c.tip().name());
            return new Committed(shortName, c.tip().abbreviate(12).name(),
                    count(repo, c.tip(), onTop != null ? onTop : t.base()), old != null);
        } catch (IOException e) {
            throw SandboxException.cant("commit", name, e);
        }
    }

    /** Merges the sandbox's changes into the user's working tree; warnings go to {@code console}. */
    public Apply.Outcome apply(String name, boolean refuseConflicts, Console console) {
        try (Target target = target(name); Harvest h = Harvest.open(sandboxes.repo().commonDir(), maxFile)) {
            Trees t = changed(h, target, "apply", false, console);
            Apply.Outcome o = Apply.run(h.reader(), t.changes(), target.repoRoot(), target.name(), refuseConflicts);
            if (o.written()) {
                mark(h, target, t, null);
            }
            return o;
        }
    }

    /**
     * What sandbox {@code name} holds that exists nowhere else (see {@link Work}), writing no
     * objects; ignored files count whatever this harvester was made with.
     *
     * @throws SandboxException when there is no such sandbox or its layers cannot be read
     */
    public Work work(String name) {
        try (Target target = target(name)) {
            Path scratch = target.dir().resolve(".work-" + ProcessHandle.current().pid());
            try (Harvest h = Harvest.open(sandboxes.repo().commonDir(), maxFile)) {
                return h.work(target.source(), scratch);
            } finally {
                deleteQuietly(scratch);
            }
        }
    }

    /**
     * The number of changed files (0 when there is nothing to harvest), with the entries left
     * out for names that are not valid UTF-8, counted from metadata ({@link Harvest#count}):
     * no file's content is read but small ones', and nothing is written.
     */
    int changedFiles(Harvest h, Path dir, Sandbox record, Snapshot snapshot) {
        try (LowerView view = view(dir, snapshot)) {
            return h.count(source(dir, snapshot, view), includeIgnored);
        }
    }

    /** Whether the sandbox holds changes that were never committed, patched or applied as they are now. */
    boolean unharvested(Harvest h, Path dir, Sandbox record, Snapshot snapshot) {
        try (LowerView view = view(dir, snapshot)) {
            Trees t = h.trees(source(dir, snapshot, view), false, false);
            return (!t.unchanged() || t.keptCommits()) && !state(t).equals(record.harvested());
        }
    }

    Trees trees(Harvest h, Target target, boolean store, Console console) {
        Trees t = h.trees(target.source(), includeIgnored, store);
        for (String w : t.warnings()) {
            console.warn(w);
        }
        if (t.ignored() > 0) {
            console.say(t.ignored() + " ignored path" + (t.ignored() == 1 ? "" : "s")
                    + " changed (see --include-ignored)");
        }
        Map<String, String> changes = new LinkedHashMap<>();
        t.changes().forEach(c -> changes.put(c.path(), c.added() ? "added" : c.deleted() ? "deleted" : "modified"));
        String profiles = Profiles.changedWarning(changes);
        if (profiles != null) {
            console.warn(profiles);
        }
        return t;
    }

    /**
     * The trees, or "nothing to VERB" (exit 1) when they are equal; with {@code commits}, the
     * agent's kept commits count too ({@link Trees#keptCommits}), which only commits carry.
     */
    Trees changed(Harvest h, Target target, String verb, boolean commits, Console console) {
        Trees t = trees(h, target, true, console);
        if (t.unchanged() && !(commits && t.keptCommits())) {
            throw SandboxException.nothing("nothing to " + verb.replace("make a patch of", "put in a patch")
                    + ": sandbox '" + target.name() + "' has no changes");
        }
        return t;
    }

    Harvest.Commits commits(Harvest h, Target target, Trees t, String message) {
        return commits(h, target, t, message, null);
    }

    Harvest.Commits commits(Harvest h, Target target, Trees t, String message, ObjectId onTop) {
        Sandbox sb = target.record();
        Instant snapshotTime = Instant.parse(target.snapshot().createdAt());
        Instant agentTime = sb.finishedAt() != null ? sb.finishedAt() : Instant.now();
        String msg = message != null ? message : defaultMessage(sb);
        Path scratch = target.dir().resolve(".import-" + ProcessHandle.current().pid());
        try {
            if (onTop != null) {
                return h.commitOnTop(onTop, t, new Harvest.CommitInfo(msg, snapshotTime, agentTime));
            }
            if (sb.from() != null && SnapshotStore.stacked(target.snapshot())) { // run --from: the other's commits first
                return Stacks.commits(this, h, target, t, new Harvest.CommitInfo(msg, snapshotTime, agentTime));
            }
            return h.commits(target.source(), t, new Harvest.CommitInfo(msg, snapshotTime, agentTime), scratch);
        } finally {
            deleteQuietly(scratch);
        }
    }

    static String defaultMessage(Sandbox sb) {
        String full = sb.command() == null ? "" : String.join(" ", sb.command()); // null: a hand-edited record
        String cmd = full.replaceAll("\\s+", " ").strip();
        if (cmd.length() > 50) {
            cmd = cmd.substring(0, 47) + "...";
        }
        return "sandbox " + sb.name() + ": " + cmd + "\n\nChanges made in sandbox '" + sb.name() + "' by: "
                + full + "\n";
    }

    /** The commits on {@code tip} that {@code from} (null: none) lacks. */
    private static int count(Repository repo, ObjectId tip, ObjectId from) throws IOException {
        try (RevWalk walk = new RevWalk(repo)) {
            walk.markStart(walk.parseCommit(tip));
            if (from != null) {
                walk.markUninteresting(walk.parseCommit(from));
            }
            int n = 0;
            while (walk.next() != null) {
                n++;
            }
            return n;
        }
    }

    static String state(Trees t) {
        return t.merged().name() + (t.agentHead() == null ? "" : " " + t.agentHead().name());
    }

    /** Records what was handed over, as {@code rm} will judge it: without ignored files. */
    void mark(Harvest h, Target target, Trees t, String commit) {
        Trees judged = includeIgnored ? h.trees(target.source(), false, false) : t;
        sandboxes.update(target.dir(), sb -> (sb != null ? sb : target.record()).harvested(state(judged), commit));
    }

    /**
     * Whether git would take {@code shortName} for a new branch's name ({@code refs/heads/} and
     * it): git branch refuses HEAD and a leading '-' too (git-check-ref-format(1), --branch);
     * refs/... would make refs/heads/refs/..., which git takes for another ref's name; git
     * refuses '.lock' at any component's end, JGit only at the last.
     */
    static boolean validBranchName(String shortName) {
        return Repository.isValidRefName("refs/heads/" + shortName) && !shortName.equals("HEAD")
                && !shortName.startsWith("-") && !shortName.startsWith("refs/")
                && List.of(shortName.split("/")).stream().noneMatch(c -> c.endsWith(".lock"));
    }

    /** The branches checked out in the working trees of the repository at {@code root}, as full ref names. */
    static List<String> checkedOutBranches(Path root) {
        GitCli.Result r = GitCli.run(root, "worktree", "list", "--porcelain");
        List<String> refs = new ArrayList<>();
        if (r.ok()) {
            for (String line : r.out().split("\n")) {
                if (line.startsWith("branch ")) {
                    refs.add(line.substring("branch ".length()).strip());
                }
            }
        }
        return refs;
    }

    Target target(String name) {
        StateStore.validateName(name);
        Path dir = sandboxes.store().sandboxDir(name);
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw SandboxException.cantWithInput("find sandbox", name, "no such sandbox (see 'sandbox list')");
        }
        Sandbox sb = Sandboxes.readSandbox(dir);
        if (sb == null || sb.snapshot() == null) {
            throw SandboxException.cantWithInput("read sandbox", name, "it has no snapshot yet (is it still starting?)");
        }
        Snapshot snap = sandboxes.snapshots().find(sb.snapshot()).orElseThrow(() -> SandboxException.cant(
                "read sandbox", name, "its snapshot '" + sb.snapshot() + "' is missing from the state directory"));
        // the working tree it ran in, where git diffs and patches; a record without one (hand-edited)
        // gets the repository's
        Path root = sb.repo() != null && sb.repo().startsWith("/") ? Path.of(sb.repo()) : sandboxes.repo().root();
        LowerView view = view(dir, snap); // last: nothing after it may throw and leave it open
        return new Target(name, dir, sb, snap, source(dir, snap, view), root, view);
    }

    /**
     * The tree of {@code snap} as its sandboxes see it: its one directory, or a view of its
     * layers that the caller must close. The helper is looked for only when there are layers.
     */
    LowerView view(Path dir, Snapshot snap) {
        List<Path> layers = sandboxes.snapshots().layers(snap.id());
        Path helper = layers.size() > 1 ? sandboxes.context().helper().path() : null;
        try {
            return LowerView.open(helper, layers);
        } catch (IOException e) {
            throw SandboxException.cant("read the snapshot of", dir.getFileName(), e);
        }
    }

    static Source source(Path dir, Snapshot snap, LowerView view) {
        return new Source(StateStore.upperDir(dir), view.root(), view.layers(), snap.baseCommit(),
                snap.dirtyPaths() == null ? List.of() : snap.dirtyPaths());
    }

    private static void deleteQuietly(Path p) {
        if (p != null) {
            Tree.deleteQuietly(p);
        }
    }
}
