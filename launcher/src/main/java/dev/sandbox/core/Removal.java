package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.IoErrors;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.Work;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** Removes sandboxes ({@code rm}, {@code run --rm}) and collects garbage ({@code gc}). */
public final class Removal {
    private final Sandboxes sandboxes;
    private final Repo repo;
    private final StateStore store;
    private final SnapshotStore snapshots;

    public Removal(Sandboxes sandboxes) {
        this.sandboxes = sandboxes;
        this.repo = sandboxes.repo();
        this.store = sandboxes.store();
        this.snapshots = sandboxes.snapshots();
    }

    /**
     * For {@code run --rm}: removes a sandbox whose agent has ended, and its snapshot when no
     * other sandbox uses it, unless it holds work ({@link Work}); then it stays, and one line on
     * {@code console} says so and why. When {@code out} is not null, the sandbox's output log, the only
     * copy of what its agent printed, is copied there first. Never throws: the agent's exit
     * status must reach the user.
     */
    void removeUnlessWork(String name, Path dir, String snapshotId, OutputStream out, int status,
            Console console) {
        Work work;
        try {
            work = new Harvester(sandboxes, false).work(name);
        } catch (RuntimeException e) {
            console.say("kept '" + name + "': can't tell whether it holds work: " + reason(e));
            return;
        }
        if (work.any()) {
            // point at what shows the work: diff and patch show no commit that changes no file
            console.say("kept '" + name + "': it holds changes (" + work.describe() + ") — "
                    + (work.files() > 0 ? "see 'sandbox diff " + name + "'"
                            : work.ignored() > 0 ? "see 'sandbox diff --include-ignored " + name + "'"
                                    : work.commits() > 0 ? "'sandbox commit " + name + "' puts it on a branch"
                                            : "it is in " + where(work, dir) + "; 'sandbox rm --force " + name
                                                    + "' deletes it"));
            return;
        }
        if (out != null && !copyOutput(name, dir, status, out, console)) {
            return;
        }
        IOException leftover;
        try {
            leftover = store.locked(() -> {
                if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                    return null; // removed meanwhile, by 'sandbox rm'
                }
                if (StateStore.isRunning(dir)) {
                    throw SandboxException.cantWithInput("remove", name, "another process runs it");
                }
                Path doomed = moveAside(name, dir);
                try {
                    Tree.delete(doomed);
                    return null;
                } catch (IOException e) {
                    return new IOException("can't delete all of '" + doomed + "': " + IoErrors.reason(e), e);
                }
            });
        } catch (RuntimeException e) {
            console.say("kept '" + name + "': " + reason(e));
            return;
        }
        if (leftover != null) {
            console.say("removed '" + name + "', but " + leftover.getMessage()
                    + " ('sandbox gc' deletes the rest)");
        }
        try {
            dropUnused(snapshotId);
        } catch (RuntimeException e) {
            console.say("removed '" + name + "', but not its snapshot '" + snapshotId + "': " + reason(e)
                    + " ('sandbox gc' deletes it)");
        }
    }

    /**
     * Copies a sandbox's output log to {@code out} under a header {@code ==> NAME (exit S) <==},
     * as {@code tail} frames several files, streaming it; ends it with a newline when it lacks
     * one, so that the next header starts a line. Returns false, having said why, when it can't.
     */
    private static boolean copyOutput(String name, Path dir, int status, OutputStream out, Console console) {
        Path log = StateStore.outputLog(dir);
        synchronized (out) {
            try {
                out.write(("==> " + name + " (exit " + status + ") <==\n").getBytes(StandardCharsets.UTF_8));
                if (Files.isRegularFile(log)) {
                    Files.copy(log, out);
                    if (!endsWithNewline(log)) {
                        out.write('\n');
                    }
                }
                out.flush();
                return true;
            } catch (IOException e) {
                console.say("kept '" + name + "': can't copy its output to stdout: " + IoErrors.reason(e)
                        + " (it is in " + log + ")");
                return false;
            }
        }
    }

    private static boolean endsWithNewline(Path file) throws IOException {
        try (SeekableByteChannel ch = Files.newByteChannel(file)) {
            if (ch.size() == 0) {
                return true;
            }
            ByteBuffer last = ByteBuffer.allocate(1);
            ch.position(ch.size() - 1).read(last);
            return last.get(0) == '\n';
        }
    }

    private static String reason(RuntimeException e) {
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    /**
     * Removes a stopped sandbox. Refuses a running one, and one whose upper layer holds
     * changes unless {@code force}: those changes exist nowhere else.
     */
    public void remove(String name, boolean force) {
        StateStore.validateName(name);
        store.locked(() -> {
            Path dir = store.sandboxDir(name);
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw SandboxException.cantWithInput("remove", name, "no such sandbox (see 'sandbox list')");
            }
            if (StateStore.isRunning(dir)) {
                throw SandboxException.cantWithInput("remove", name, "it is running (end its agent first)");
            }
            if (!force) {
                refuseUnharvested(name, dir);
            }
            Tree.delete(moveAside(name, dir));
            return null;
        });
    }

    /**
     * The checks {@link #remove} makes, without removing: a mirror ({@code run --host}) goes
     * first on its host, and only once these pass. A mirror its host last said runs is
     * refused as a running sandbox is.
     */
    public void check(String name, boolean force) {
        StateStore.validateName(name);
        store.locked(() -> {
            Path dir = store.sandboxDir(name);
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw SandboxException.cantWithInput("remove", name, "no such sandbox (see 'sandbox list')");
            }
            Sandbox sb = Sandboxes.readSandbox(dir);
            // as Listing says it: a detached mirror runs when its host last said so; one whose
            // launcher here is gone (its run lock free) does not, as far as this machine knows
            boolean remoteRuns = sb != null && sb.remote() && sb.status() == Sandbox.Status.RUNNING && sb.pid() == null;
            if (StateStore.isRunning(dir) || remoteRuns) {
                throw SandboxException.cantWithInput("remove", name, "it is running (end its agent first"
                        + (remoteRuns ? ": 'sandbox stop " + name + "'" : "") + ")");
            }
            if (!force) {
                refuseUnharvested(name, dir);
            }
            return null;
        });
    }

    /**
     * Renames a sandbox's directory to a leftover that {@code gc} deletes, under the store
     * lock, so that its name is free at once even if deleting its files fails.
     */
    private Path moveAside(String name, Path dir) throws IOException {
        Path doomed = store.sandboxesDir().resolve(".rm-" + name + "-" + ProcessHandle.current().pid());
        Files.move(dir, doomed);
        return doomed;
    }

    private void refuseUnharvested(String name, Path dir) {
        Sandbox sb = Sandboxes.readSandbox(dir);
        Snapshot snap = sb == null || sb.snapshot() == null ? null : snapshots.find(sb.snapshot()).orElse(null);
        if (sb != null && snap != null) {
            boolean unharvested;
            Work work = null;
            Harvester harvester = new Harvester(sandboxes, false);
            try (Harvest h = Harvest.open(repo.commonDir())) {
                unharvested = harvester.unharvested(h, dir, sb, snap);
                // the rule --rm keeps a sandbox by; ignored files alone are build output, which rm removes
                work = harvester.work(name);
            } catch (SandboxException e) {
                unharvested = Listing.countChanges(StateStore.upperDir(dir)) > 0;
            }
            if (unharvested) {
                throw SandboxException.cantWithInput("remove", name, "its changes were never committed, patched or"
                        + " applied (see 'sandbox diff " + name + "'; use --force to drop them)");
            }
            if (work != null && !work.unharvestable().isEmpty()) {
                throw SandboxException.cantWithInput("remove", name, "it holds " + work.unharvestable() + ": it is in "
                        + where(work, dir) + " ('sandbox rm --force " + name + "' deletes it)");
            }
            return;
        }
        int changes = Listing.countChanges(StateStore.upperDir(dir));
        if (changes > 0) {
            throw SandboxException.cantWithInput("remove", name, "it holds " + changes
                    + " changed path" + (changes == 1 ? "" : "s")
                    + " that would be lost (use --force to drop them)");
        }
    }

    /** Where work that no harvest command takes lies: the upper layer's {@code .git} when it is all there. */
    private static Path where(Work work, Path dir) {
        Path upper = StateStore.upperDir(dir);
        boolean ownGitOnly = work.submodules() == 0 && work.unnamed() == 0 && !work.git().isEmpty()
                && work.git().stream().noneMatch(g -> g.endsWith("/.git")); // a nested repository's is elsewhere
        return ownGitOnly ? upper.resolve(".git") : upper;
    }

    /** What {@link #gc} removed. */
    public record GcResult(List<String> snapshots, int leftovers) {
    }

    /** Deletes snapshots no sandbox uses any more, and leftovers of interrupted work. */
    public GcResult gc() {
        return snapshots.locked(() -> store.locked(() -> {
            Set<String> used = usedSnapshots();
            List<String> removed = new ArrayList<>();
            for (Snapshot s : snapshots.list()) {
                if (!used.contains(s.id())) {
                    snapshots.delete(s.id());
                    removed.add(s.id());
                }
            }
            int leftovers = 0;
            for (Path p : snapshots.leftovers()) {
                if (compacting(p)) {
                    continue; // a launcher's compaction at work (Compaction), not a leftover
                }
                Tree.delete(p);
                leftovers++;
            }
            try (DirectoryStream<Path> rm = Files.newDirectoryStream(store.sandboxesDir(), ".rm-*")) {
                for (Path p : rm) {
                    Tree.delete(p);
                    leftovers++;
                }
            }
            return new GcResult(removed, leftovers);
        }));
    }

    /** Whether {@code tmp} is a compaction's directory whose lock a live launcher holds. */
    private static boolean compacting(Path tmp) throws IOException {
        Path busy = tmp.resolve(Compaction.BUSY);
        return Files.isRegularFile(busy, LinkOption.NOFOLLOW_LINKS) && Posix.lockHeld(busy.toString());
    }

    /**
     * Deletes snapshot {@code id} if it exists and no sandbox uses it, as {@link #gc} would,
     * then its ancestors that no other snapshot kept needs.
     */
    private void dropUnused(String id) {
        snapshots.locked(() -> store.locked(() -> {
            Set<String> used = usedSnapshots();
            String next = id;
            for (int i = 0; next != null && i < SnapshotStore.CHAIN_MAX && !used.contains(next); i++) {
                Optional<Snapshot> s = snapshots.find(next);
                if (s.isEmpty()) {
                    break;
                }
                snapshots.delete(next);
                next = s.get().parent();
            }
            return null;
        }));
    }

    /**
     * The snapshots the sandboxes' records name, and their ancestors, which a delta snapshot
     * needs as its lower layers; the caller holds the snapshots and store locks. A chain is
     * followed as far as its records can be read (a broken one keeps what is left of it).
     */
    private Set<String> usedSnapshots() {
        Set<String> used = new HashSet<>();
        for (String id : namedSnapshots()) {
            String next = id;
            for (int i = 0; next != null && i < SnapshotStore.CHAIN_MAX && used.add(next); i++) {
                Snapshot s;
                try {
                    s = snapshots.find(next).orElse(null);
                } catch (SandboxException unreadable) {
                    s = null;
                }
                next = s == null ? null : s.parent();
            }
        }
        return used;
    }

    /** The snapshots the sandboxes' records name. */
    private Set<String> namedSnapshots() {
        Set<String> used = new HashSet<>();
        for (Path dir : sandboxes.sandboxDirs()) {
            Sandbox sb = Sandboxes.readSandbox(dir);
            String rebasing = Rebase.claimed(dir); // a rebase's new snapshot, before the record names it
            if (rebasing != null) {
                used.add(rebasing);
            }
            if (sb != null && sb.snapshot() != null) {
                used.add(sb.snapshot());
            } else if (holdsEntries(StateStore.upperDir(dir))) {
                // work with no snapshot named: a record edited by hand, since a run names its
                // snapshot before the agent starts; the one it needs can't be told
                throw SandboxException.failure("can't tell which snapshot sandbox '" + dir.getFileName()
                        + "' uses: its upper layer holds files, but its record ('" + StateStore.sandboxJson(dir)
                        + "') names none (fix the record, or remove the sandbox with 'sandbox rm --force')");
            }
        }
        return used;
    }

    private static boolean holdsEntries(Path dir) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            return entries.iterator().hasNext();
        } catch (NoSuchFileException e) {
            return false;
        } catch (IOException e) {
            return true; // can't tell: keep every snapshot
        }
    }
}
