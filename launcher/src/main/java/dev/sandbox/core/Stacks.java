package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.GitCli;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.Source;
import dev.sandbox.harvest.Trees;
import dev.sandbox.snapshot.LowerView;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jgit.lib.ObjectId;

/**
 * Sandboxes stacked on another's work ({@code run --from A}): the stacked snapshot is taken
 * here, and the verbs that read two sandboxes' trees at once ({@code diff A B},
 * {@code diff B --against base}) and the commits of a stacked sandbox live here.
 *
 * <p>B's snapshot holds a copy of A's upper layer as it was when B started
 * ({@link SnapshotStore#stack}), so B never reads A's files: A may run again or be removed.
 * What A had done then is read from that copy over A's snapshot, and B's record keeps A's
 * name, command and finish time ({@link Sandbox.From}), so that B's commits start with A's
 * exactly as {@code commit A} would have made them at that moment. docs/ARCHITECTURE.md §13.
 */
final class Stacks {
    private Stacks() {
    }

    /** What {@link #fork} claims: the stacked snapshot and the sandbox it copies. */
    @FunctionalInterface
    interface Claim {
        void claim(Snapshot snapshot, Sandbox.From from) throws IOException;
    }

    /**
     * Refuses {@code run --from NAME} when there is no sandbox NAME, before the new sandbox's
     * name is reserved (which could be NAME itself).
     *
     * @throws SandboxException exit 2, a bad name or no such sandbox
     */
    static void refuseMissing(StateStore store, String name) {
        StateStore.validateName(name);
        if (!Files.isDirectory(store.sandboxDir(name), LinkOption.NOFOLLOW_LINKS)) {
            throw SandboxException.cantWithInput("start from sandbox", name, "no such sandbox (see 'sandbox list')");
        }
    }

    /**
     * The snapshot of sandbox {@code name}'s merged view that {@code run --from NAME} runs on,
     * taken while NAME's run lock is held, so that it can't start meanwhile.
     *
     * @throws SandboxException exit 2 when there is no such sandbox; exit 1 when it runs
     *     ("stop it first"): its layer would change under the copy
     */
    static Snapshot fork(Sandboxes sandboxes, String name, Console console, Claim claim) {
        refuseMissing(sandboxes.store(), name);
        Path dir = sandboxes.store().sandboxDir(name);
        FileChannel held;
        try {
            held = StateStore.lockRun(dir);
        } catch (SandboxException e) {
            throw running(name);
        } catch (IOException e) {
            throw SandboxException.cant("start from sandbox", name, e);
        }
        try {
            if (StateStore.helperRunning(dir)) {
                throw running(name);
            }
            Harvester harvester = new Harvester(sandboxes, false);
            Sandbox.From from;
            Snapshot parent;
            List<String> changed = new ArrayList<>();
            try (Harvester.Target a = harvester.target(name); Harvest h = harvester.openHarvest()) {
                Trees t = h.trees(a.source(), false, false);
                t.changes().forEach(c -> changed.add(c.path()));
                parent = a.snapshot();
                Sandbox sb = a.record();
                from = new Sandbox.From(name, parent.id(), sb.command() == null ? List.of() : sb.command(),
                        sb.finishedAt(), SnapshotStore.stacked(parent) ? sb.from() : null);
            }
            return sandboxes.snapshots().stack(parent, StateStore.upperDir(dir), changed, console,
                    s -> claim.claim(s, from));
        } finally {
            try {
                held.close();
            } catch (IOException e) {
                // the lock goes with the process anyway
            }
        }
    }

    private static SandboxException running(String name) {
        return SandboxException.nothing("can't start from sandbox '" + name + "': it is running (stop it first:"
                + " sandbox stop " + name + ")");
    }

    /**
     * What a sandbox started from, as it was then: the copy of its layer, {@code stacked}'s
     * own tree, over its snapshot {@code parent}'s layers, which {@code view} must show.
     */
    private static Source forkSource(Harvester harvester, Snapshot stacked, Snapshot parent, LowerView view) {
        Path copy = harvester.sandboxes().snapshots().tree(stacked.id());
        return new Source(copy, view.root(), view.layers(), parent.baseCommit(),
                parent.dirtyPaths() == null ? List.of() : parent.dirtyPaths());
    }

    private static Snapshot parentOf(Harvester harvester, String name, Snapshot stacked) {
        String id = stacked.parent();
        return harvester.sandboxes().snapshots().find(id).orElseThrow(() -> SandboxException.cant("read sandbox",
                name, "the snapshot '" + id + "' it was stacked on is missing from the state directory"));
    }

    /**
     * The commits of a stacked sandbox: those of the sandbox it started from, as
     * {@code commit} would have made them when it did (from the copy of its layer, with its
     * name, command and finish time), then the stacked sandbox's own work as one commit on
     * top (commits its agent made inside are squashed into it).
     */
    static Harvest.Commits commits(Harvester harvester, Harvest h, Harvester.Target target, Trees t,
            Harvest.CommitInfo own) {
        Harvest.Commits theirs = commitsOf(harvester, h, target, target.snapshot(), target.record().from());
        Harvest.Commits mine = h.commitOnTop(theirs.tip(), t, own);
        return new Harvest.Commits(theirs.base(), theirs.start(), mine.tip());
    }

    /**
     * The commits of sandbox {@code from} as {@code commit} made them when the snapshot
     * {@code stacked} copied its layer: when it was stacked itself, those of the one it
     * started from, then its own work on top, as {@link #commits} makes them.
     */
    private static Harvest.Commits commitsOf(Harvester harvester, Harvest h, Harvester.Target target,
            Snapshot stacked, Sandbox.From from) {
        Snapshot parent = parentOf(harvester, target.name(), stacked);
        Path scratch = target.dir().resolve(".import-from-" + ProcessHandle.current().pid());
        try (LowerView view = harvester.view(target.dir(), parent)) {
            Source src = forkSource(harvester, stacked, parent, view);
            Trees before = h.trees(src, harvester.includeIgnored(), true);
            Sandbox asThen = new Sandbox(from.name(), parent.id(), null, null, from.command(), null, null, null, null,
                    from.finishedAt(), null, null, null, null, null, null, null, null, null);
            Instant snapshotTime = Instant.parse(parent.createdAt());
            Instant agentTime = from.finishedAt() != null ? from.finishedAt() : Instant.parse(stacked.createdAt());
            Harvest.CommitInfo info = new Harvest.CommitInfo(Harvester.defaultMessage(asThen), snapshotTime, agentTime);
            if (from.from() != null && SnapshotStore.stacked(parent) && parent.parent() != null) {
                Harvest.Commits below = commitsOf(harvester, h, target, parent, from.from());
                Harvest.Commits mine = h.commitOnTop(below.tip(), before, info);
                return new Harvest.Commits(below.base(), below.start(), mine.tip());
            }
            return h.commits(src, before, info, scratch);
        } finally {
            Tree.deleteQuietly(scratch);
        }
    }

    /**
     * Prints {@code git diff} between the merged trees of sandboxes {@code a} and {@code b}
     * (both stored), in {@code format}; returns git's status.
     */
    static int diff(Harvester harvester, String a, String b, Harvester.DiffFormat format, Console console) {
        ObjectId left;
        ObjectId right;
        Path root;
        try (Harvest h = harvester.openHarvest()) {
            try (Harvester.Target ta = harvester.target(a)) {
                left = harvester.trees(h, ta, true, console).merged();
                root = ta.repoRoot();
            }
            try (Harvester.Target tb = harvester.target(b)) {
                right = harvester.trees(h, tb, true, console).merged();
            }
        }
        return gitDiff(root, left, right, format, console);
    }

    /**
     * Prints {@code git diff} from the snapshot sandbox {@code name}'s chain started on to its
     * merged tree: for a sandbox stacked on another, that one's work at the time and its own;
     * for any other, what {@code diff NAME} shows.
     */
    static int diffAgainstBase(Harvester harvester, String name, Harvester.DiffFormat format, Console console) {
        ObjectId left;
        ObjectId right;
        Path root;
        try (Harvest h = harvester.openHarvest(); Harvester.Target target = harvester.target(name)) {
            Trees t = harvester.trees(h, target, true, console);
            right = t.merged();
            root = target.repoRoot();
            left = t.snapshot();
            // down the stack: each copied layer's snapshot tree is the one below's merged view
            for (Snapshot s = target.snapshot(); target.record().from() != null && SnapshotStore.stacked(s)
                    && s.parent() != null; ) {
                Snapshot parent = parentOf(harvester, name, s);
                try (LowerView view = harvester.view(target.dir(), parent)) {
                    left = h.trees(forkSource(harvester, s, parent, view), harvester.includeIgnored(), true)
                            .snapshot();
                }
                s = parent;
            }
        }
        return gitDiff(root, left, right, format, console);
    }

    private static int gitDiff(Path root, ObjectId left, ObjectId right, Harvester.DiffFormat format,
            Console console) {
        List<String> args = new ArrayList<>(List.of("diff", "-M"));
        if (format == Harvester.DiffFormat.STAT) {
            args.add("--stat");
        } else if (format == Harvester.DiffFormat.NAME_ONLY) {
            args.add("--name-only");
        }
        args.add(left.name());
        args.add(right.name());
        console.out().flush();
        return GitCli.passThrough(root, args.toArray(String[]::new));
    }
}
