package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.snapshot.IndexRefresh;
import dev.sandbox.snapshot.LinkedGitDir;
import dev.sandbox.snapshot.LowerView;
import dev.sandbox.snapshot.Manifest;
import dev.sandbox.snapshot.NativeTree;
import dev.sandbox.snapshot.Snapshotter;
import dev.sandbox.snapshot.ZfsSnapshotter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * The snapshots of one repository: takes a new one when the working tree changed since the
 * newest, and reuses that one otherwise, so starting another agent on an unchanged tree
 * costs one metadata walk instead of a copy. A snapshot appears under its id only once it is
 * complete (built under a temporary name, then renamed).
 */
public final class SnapshotStore {
    private static final DateTimeFormatter ID_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
            .withZone(ZoneOffset.UTC);
    static final String TMP_PREFIX = ".tmp-";
    /** Copies of a working tree that keeps changing before one is kept with a warning. */
    static final int COPY_ATTEMPTS = 3;

    /** The bytes and files a delta may copy, as a share of the tree's: above it, a full copy (see {@link #take}). */
    static final double DELTA_SHARE = 0.25;
    static final String MANIFEST = "manifest";
    /**
     * Up to this many entries, a delta's copy is checked by a stat of each entry it copied
     * rather than by a second scan of the tree ({@link Manifest#stillDescribes}): a few
     * thousand stats cost less than a scan of a large tree, and no more on a small one.
     */
    static final int RESTAT_MAX = 4096;

    private final StateStore store;
    private final Supplier<Path> helper;

    /** A store that takes full snapshots only (no helper to scan and layer with). */
    public SnapshotStore(StateStore store) {
        this(store, null);
    }

    /**
     * A store that may take delta snapshots with the helper {@code helper} gives (asked only
     * when a delta or a compaction needs it, since locating it runs it once).
     */
    public SnapshotStore(StateStore store, Supplier<Path> helper) {
        this.store = store;
        this.helper = helper;
    }

    /**
     * Snapshot {@code id}'s directory in the store.
     *
     * @throws SandboxException (exit 125) when {@code id} is not one name in the store's
     *     directory: a record naming {@code ../..} must not make a lower layer of any other place
     */
    public Path dir(String id) {
        if (id.isEmpty() || id.equals(".") || id.equals("..") || id.contains("/") || id.contains("\0")) {
            throw SandboxException.failure("can't use the snapshot '" + id + "': not a snapshot's name");
        }
        return store.snapshotsDir().resolve(id);
    }

    /** The lower layer of sandboxes on snapshot {@code id}. */
    public Path tree(String id) {
        return dir(id).resolve("tree");
    }

    /**
     * The lower layers of sandboxes on snapshot {@code id}, topmost first, as overlayfs takes
     * them ({@code lowerdir=top:...:bottom}): one directory for a full snapshot, the delta's
     * tree then its ancestors' for a delta.
     *
     * @throws SandboxException (exit 125) when an ancestor's record is gone or unreadable, or
     *     the chain is longer than {@value #CHAIN_MAX} or loops: a record edited by hand
     */
    public List<Path> layers(String id) {
        return chain(id).stream().map(s -> tree(s.id())).toList();
    }

    /** The longest chain of records {@link #chain} follows: far above what {@link #MAX_DEPTH} lets a run make. */
    static final int CHAIN_MAX = 64;
    /** A delta is never made deeper than this: past it, a full copy (see {@link #take}). */
    public static final int MAX_DEPTH = 8;

    /**
     * Snapshot {@code id} and its ancestors, itself first; one record for a full snapshot, or
     * for a snapshot with no record (a layer as old code left it).
     */
    List<Snapshot> chain(String id) {
        List<Snapshot> chain = new ArrayList<>();
        Optional<Snapshot> s = find(id);
        if (s.isEmpty()) {
            return List.of(new Snapshot(id, null, null, null, List.of(), null, null, List.of()));
        }
        chain.add(s.get());
        while (chain.get(chain.size() - 1).parent() != null) {
            String parent = chain.get(chain.size() - 1).parent();
            if (chain.size() >= CHAIN_MAX || chain.stream().anyMatch(c -> c.id().equals(parent))) {
                throw SandboxException.failure("can't use the snapshot '" + id + "': its parents loop or"
                        + " go deeper than " + CHAIN_MAX + " (a record edited by hand? remove its sandboxes)");
            }
            Snapshot p = find(parent).orElseThrow(() -> SandboxException.failure("can't use the snapshot '" + id
                    + "': its parent '" + parent + "' is gone (remove the sandboxes on it)"));
            chain.add(p);
        }
        return chain;
    }

    public Optional<Snapshot> find(String id) {
        Path json = dir(id).resolve("snapshot.json");
        try {
            return Files.exists(json) ? Optional.of(Json.read(json, Snapshot.class)) : Optional.empty();
        } catch (IOException e) {
            throw SandboxException.cant("read", json, e);
        }
    }

    /**
     * Complete snapshots, newest first. A snapshot whose record can't be read, names another
     * id or has no time is left out: it is neither reused nor removed by {@code gc}, since
     * what it holds and who uses it can't be told.
     */
    public List<Snapshot> list() {
        List<Snapshot> all = new ArrayList<>();
        try (DirectoryStream<Path> ids = Files.newDirectoryStream(store.snapshotsDir())) {
            for (Path p : ids) {
                String id = p.getFileName().toString();
                if (!id.startsWith(".")) {
                    try {
                        find(id).filter(s -> id.equals(s.id()) && s.createdAt() != null).ifPresent(all::add);
                    } catch (SandboxException unreadable) {
                        // left out, as the Javadoc says
                    }
                }
            }
        } catch (IOException e) {
            throw SandboxException.cant("list the snapshots in", store.snapshotsDir(), e);
        }
        all.sort(Comparator.comparing(Snapshot::createdAt).thenComparing(Snapshot::id).reversed());
        return all;
    }

    /**
     * The snapshots of {@code repo}'s working tree, newest first: a store serves every
     * worktree of a repository, and one worktree's snapshot is neither reused for another
     * (the fingerprints differ) nor a parent worth layering on. A record without {@code repo}
     * counts for every working tree, as it did before.
     */
    List<Snapshot> listOf(Repo repo) {
        String root = repo.root().toString();
        return list().stream().filter(s -> (s.repo() == null || s.repo().equals(root)) && !stacked(s)).toList();
    }

    /** The strategy of a {@link #stack} snapshot: another sandbox's layer, never a working tree's state. */
    public static final String STACK = "stack";

    /** Whether {@code s} holds a sandbox's layer ({@link #stack}) rather than a working tree's state. */
    public static boolean stacked(Snapshot s) {
        return STACK.equals(s.strategy());
    }

    /**
     * Makes a snapshot of another sandbox's merged view for {@code run --from}: a delta over
     * that sandbox's snapshot {@code parent} whose tree is a copy of its upper layer
     * {@code upper} (files, symlinks and directories with their modes and times, whiteouts
     * and opaque directories as overlayfs left them; FIFOs, sockets and other devices left
     * out, with a warning), so that the new sandbox depends on none of the other's files. Its
     * base commit is the parent's, its dirty paths the parent's and {@code changed} (the
     * paths the other sandbox changed), its strategy {@value #STACK}: no run on the working
     * tree reuses it or layers on it ({@link #listOf}), nor is it compacted. The caller holds
     * the other sandbox still (its run lock); {@code claim} records the new one's use under
     * the snapshots lock. docs/ARCHITECTURE.md §13.
     *
     * @throws SandboxException exit 2 when the layers would be more than a mount takes
     *     ({@value #MOUNT_OPTIONS_MAX} bytes of options, {@value #CHAIN_MAX} layers): a stack
     *     too deep to start from; exit 125 when the copy fails
     */
    public Snapshot stack(Snapshot parent, Path upper, List<String> changed, Console console, Claim claim) {
        List<Snapshot> chain = chain(parent.id());
        if (chain.size() + 1 > CHAIN_MAX || mountOptionBytes(chain) > MOUNT_OPTIONS_MAX) {
            throw SandboxException.invalidInput("can't stack on snapshot '" + parent.id() + "': its " + chain.size()
                    + " layers leave no room for one more in a mount (commit or apply that sandbox's work and run"
                    + " on your tree instead)");
        }
        return locked(() -> {
            Instant now = Instant.now();
            String id = newId(now);
            Path tmp = store.snapshotsDir().resolve(TMP_PREFIX + id);
            Files.createDirectory(tmp);
            try {
                Path ops = tmp.resolve("ops");
                List<String> skipped = new ArrayList<>(LayerOps.write(upper, ops));
                NativeTree.Copied copied = new NativeTree(helper.get()).applyOps(upper, tmp.resolve("tree"), ops,
                        false, null);
                copied.skipped().forEach(p -> skipped.add(p.toString()));
                Files.delete(ops);
                Set<String> dirty = new TreeSet<>(parent.dirtyPaths() == null ? List.of() : parent.dirtyPaths());
                dirty.addAll(changed);
                Snapshot made = publish(tmp, new Snapshot(id, STACK, parent.repo(), parent.baseCommit(),
                        List.copyOf(dirty), now.toString(), null, skipped.stream().sorted().toList(), parent.id(),
                        chain.size(), null), console);
                claim.claim(made);
                return made;
            } catch (IOException e) {
                Tree.deleteQuietly(tmp);
                throw SandboxException.cant("copy the layer", upper, e);
            } catch (RuntimeException e) {
                Tree.deleteQuietly(tmp);
                throw e;
            }
        });
    }

    /**
     * Returns a snapshot of the working tree as it is now, reusing the newest one if nothing
     * changed (and, with {@code sameStrategy}, if it was made the same way), and lets
     * {@code claim} record its use before {@code gc} may see it. Takes the
     * snapshots lock, so concurrent runs on an unchanged tree wait for one copy and share it.
     * Warnings (a copy taken while the tree kept changing, entries left out) go to {@code console}.
     */
    public Snapshot current(Repo repo, Snapshotter snapshotter, boolean sameStrategy, Console console, Claim claim) {
        return current(repo, snapshotter, sameStrategy, null, console, claim);
    }

    /**
     * As {@link #current(Repo, Snapshotter, boolean, Console, Claim)}, with what
     * {@code lookAhead} found out while the run was getting ready.
     */
    public Snapshot current(Repo repo, Snapshotter snapshotter, boolean sameStrategy, LookAhead lookAhead,
            Console console, Claim claim) {
        Set<Path> exclude = excluded(repo);
        try {
            return locked(() -> {
                Snapshot chosen;
                try {
                    chosen = reusableOrNew(repo, snapshotter, sameStrategy, exclude,
                            lookAhead == null ? LookAhead.NONE : lookAhead, console);
                } catch (FileSystemException e) {
                    throw SandboxException.cant("snapshot", e.getFile() == null ? repo.root() : e.getFile(), e);
                }
                claim.claim(chosen);
                return chosen;
            });
        } finally {
            if (lookAhead != null && lookAhead.scanned() != null) {
                try {
                    Files.deleteIfExists(lookAhead.scanned());
                } catch (IOException e) {
                    // a .tmp-* leftover: gc deletes it
                }
            }
        }
    }

    private Snapshot reusableOrNew(Repo repo, Snapshotter snapshotter, boolean sameStrategy, Set<Path> exclude,
            LookAhead lookAhead, Console console) throws IOException {
        if (!snapshotter.reusable()) {
            return take(repo, snapshotter, exclude, lookAhead, console);
        }
        List<Snapshot> existing = listOf(repo);
        if (!existing.isEmpty() && existing.get(0).fingerprint() != null
                && (!sameStrategy || existing.get(0).strategy().equals(snapshotter.strategy()))
                && existing.get(0).fingerprint().equals(fingerprintNow(repo, exclude, lookAhead.fingerprint()))
                && sameSettings(existing.get(0), repo)) {
            return existing.get(0);
        }
        return take(repo, snapshotter, exclude, lookAhead, console);
    }

    /**
     * Whether git would still list {@code snapshot}'s dirty paths as it did: its record keeps
     * the key of the settings outside the tree (an excludes file edited there makes an
     * ignored file untracked, one the harvest must know as the user's) and they are the same.
     * A record without a key, written before, is trusted as it always was.
     */
    private static boolean sameSettings(Snapshot snapshot, Repo repo) {
        return snapshot.configKey() == null || snapshot.configKey().equals(repo.configKey());
    }

    private static Repo.Status statusNow(Repo repo, CompletableFuture<Repo.Status> lookAhead) {
        try {
            Repo.Status status = lookAhead.join();
            return status != null ? status : repo.status(); // null: the look-ahead did not need it
        } catch (CompletionException e) {
            return repo.status(); // again here, where its error reaches the user
        }
    }

    private String fingerprintNow(Repo repo, Set<Path> exclude, CompletableFuture<String> lookAhead)
            throws IOException {
        if (lookAhead != null) {
            try {
                return lookAhead.join();
            } catch (CompletionException e) {
                // walk again here, where its error reaches the user
            }
        }
        return fingerprintOf(repo.root(), exclude);
    }

    /**
     * What a run can find out in the background while it gets everything else ready: the
     * tree's fingerprint when a snapshot may be reused (on a 50,000-file tree that walk is
     * most of the cost of starting a sandbox), else HEAD and the dirty paths, which a
     * filesystem snapshot records and which cost more than taking it. Either may be null.
     * {@code scanned}, when not null, is the manifest the fingerprint's scan wrote: a delta
     * starts from it instead of walking the tree again. {@code premises}, when not null, ends
     * with what a delta's dirty paths may be derived from ({@link StatusPremises}), or with
     * null when git status must be asked (then {@code status} runs it).
     */
    public record LookAhead(CompletableFuture<String> fingerprint, CompletableFuture<Repo.Status> status,
            Path scanned, CompletableFuture<StatusPremises> premises) {
        static final LookAhead NONE = new LookAhead(null, null, null, null);

        public LookAhead(CompletableFuture<String> fingerprint, CompletableFuture<Repo.Status> status) {
            this(fingerprint, status, null, null);
        }
    }

    /**
     * What lets a delta's dirty paths be derived from its parent's instead of asked of
     * {@code git status}, which reads the stat of every file and walks every directory (about
     * 200 ms at 100,000 files, where the rest of a one-file delta costs a few tens):
     * HEAD and the git settings outside the tree ({@link Repo#configKey}) are the parent's,
     * and {@code staged} are the paths whose index entry differs from HEAD's now.
     * See {@link #dirtyByDelta} and docs/ARCHITECTURE.md §13.
     */
    record StatusPremises(String head, String configKey, List<String> staged) {
    }

    /**
     * The premises of a delta over {@code parent}, or null when its dirty paths must come from
     * git status: the parent's record lacks what they need (older records), HEAD moved, or a
     * setting changed. The settings are read first, so that one changed meanwhile makes the
     * derived paths stale in the safe direction (the next run asks git status).
     */
    static StatusPremises premises(Repo repo, Snapshot parent) {
        if (parent.dirtyPaths() == null || parent.baseCommit() == null || parent.configKey() == null
                || !repo.root().toString().equals(parent.repo())) {
            return null;
        }
        String key = repo.configKey();
        if (!parent.configKey().equals(key) || !parent.baseCommit().equals(repo.headCommit())) {
            return null;
        }
        List<String> staged = repo.stagedSince(parent.baseCommit());
        return staged.stream().anyMatch(p -> p.indexOf('\uFFFD') >= 0) ? null // a name that is not UTF-8
                : new StatusPremises(parent.baseCommit(), key, staged);
    }

    /**
     * Starts the walk ({@code mayReuse}) or the git status in a background thread. Where a
     * delta may follow (a helper, no linked {@code .git}: the fingerprint is the scan's alone),
     * the walk is the helper's scan writing its manifest under {@code .tmp-*}.
     */
    public LookAhead lookAhead(Repo repo, boolean mayReuse) {
        Set<Path> exclude = excluded(repo);
        if (mayReuse && helper != null && !LinkedGitDir.linked(repo.root())) {
            Path scanned = store.snapshotsDir().resolve(TMP_PREFIX + "scan-" + ProcessHandle.current().pid() + "-"
                    + String.format("%04x", ThreadLocalRandom.current().nextInt(0x10000)));
            CompletableFuture<String> fingerprint = new CompletableFuture<>();
            CompletableFuture<Repo.Status> status = new CompletableFuture<>();
            CompletableFuture<StatusPremises> premises = new CompletableFuture<>();
            inBackground(() -> {
                try {
                    fingerprint.complete(new NativeTree(helper.get()).scan(repo.root(), exclude, scanned).fingerprint());
                } catch (Exception | Error e) {
                    fingerprint.completeExceptionally(e);
                }
                changedSince(fingerprint, repo, status, premises);
                return null;
            });
            return new LookAhead(fingerprint, status, scanned, premises);
        }
        if (mayReuse) {
            return new LookAhead(inBackground(() -> fingerprintOf(repo.root(), exclude)), null);
        }
        return new LookAhead(null, inBackground(repo::status));
    }

    /**
     * Once the scan said the tree changed since the newest snapshot (so that a new one will be
     * taken), reads the {@link StatusPremises} of a delta over the newest copy, or else runs
     * git's status (dirty paths), either worth doing while the run gets ready. On an unchanged
     * tree neither runs, and both futures end with null (the taker then asks itself, as it
     * does when one failed). The delta's diff needs nothing composed ahead: the helper reads
     * the layers' manifests itself ({@link NativeTree#diff}).
     */
    private void changedSince(CompletableFuture<String> fingerprint, Repo repo, CompletableFuture<Repo.Status> status,
            CompletableFuture<StatusPremises> premises) {
        try {
            String now = fingerprint.join();
            List<Snapshot> all = listOf(repo);
            if (!all.isEmpty() && now.equals(all.get(0).fingerprint())) {
                premises.complete(null);
                status.complete(null);
                return;
            }
            Optional<Snapshot> parent = all.stream().filter(s -> "copy".equals(s.strategy())).findFirst();
            StatusPremises p = parent.isPresent() ? premises(repo, parent.get()) : null;
            premises.complete(p);
            status.complete(p != null ? null : repo.status());
        } catch (Exception | Error e) {
            premises.complete(null);
            status.complete(null);
        }
    }

    /** {@link Snapshotter#fingerprint} by this store's helper, the launcher's checked one, where it has one. */
    private String fingerprintOf(Path root, Set<Path> exclude) throws IOException {
        return helper == null ? Snapshotter.fingerprint(root, exclude) : Snapshotter.fingerprint(helper.get(), root, exclude);
    }

    /**
     * What a snapshot leaves out: the state directory, and the default one inside the
     * repository's git directory when {@code SANDBOX_STATE_DIR} put the state elsewhere, so
     * that sandboxes made before (their layers, homes and records) are not copied into new
     * ones.
     */
    private Set<Path> excluded(Repo repo) {
        Set<Path> exclude = new HashSet<>();
        exclude.add(store.root());
        exclude.add(repo.commonDir().resolve("sandbox"));
        return Set.copyOf(exclude);
    }

    /** {@code work} on a thread of its own; the future ends however the work does, by an Error too. */
    static <T> CompletableFuture<T> inBackground(StateStore.IoAction<T> work) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread worker = new Thread(() -> {
            try {
                result.complete(work.run());
            } catch (Exception | Error e) {
                // an Error too: left incomplete, the future would keep the run waiting for ever
                result.completeExceptionally(e);
            }
        }, "look-ahead");
        worker.setDaemon(true);
        worker.start();
        return result;
    }

    /** Records that a sandbox uses a snapshot; runs under the snapshots lock. */
    @FunctionalInterface
    public interface Claim {
        void claim(Snapshot snapshot) throws IOException;
    }

    /** Runs {@code action} under the lock that serialises taking and deleting snapshots. */
    <T> T locked(StateStore.IoAction<T> action) {
        return StateStore.withLock(store.snapshotsDir().resolve(".lock"), action);
    }

    /**
     * Takes a new snapshot. A copy is checked against a second walk of the working tree and
     * taken again when a file changed, appeared or vanished meanwhile (the user saving, a
     * build, git's own gc), so that a sandbox never starts on a torn file without notice.
     */
    private Snapshot take(Repo repo, Snapshotter snapshotter, Set<Path> exclude, LookAhead lookAhead,
            Console console) throws IOException {
        Optional<Snapshot> parent = deltaParent(repo, snapshotter);
        if (parent.isPresent()) {
            Snapshot delta = takeDelta(repo, parent.get(), exclude, lookAhead, console);
            if (delta != null) {
                return delta;
            }
        }
        return takeFull(repo, snapshotter, exclude, lookAhead, console);
    }

    private Snapshot takeFull(Repo repo, Snapshotter snapshotter, Set<Path> exclude, LookAhead lookAhead,
            Console console) throws IOException {
        for (int attempt = 1; ; attempt++) {
            Instant now = Instant.now();
            String id = newId(now);
            Path tmp = store.snapshotsDir().resolve(TMP_PREFIX + id);
            Files.createDirectory(tmp);
            // git status beside the copy, where a core is free; the look-ahead's, unless it left
            // git status out for a delta that turned out too big
            CompletableFuture<Repo.Status> statusLater = attempt == 1 && lookAhead.status() != null
                    && (lookAhead.premises() == null || lookAhead.premises().join() == null)
                    ? lookAhead.status() : inBackground(repo::status);
            try {
                // the manifest lets the next snapshot be a delta over this one (copy only, see deltaParent)
                Snapshotter.Result copied = snapshotter.copy(repo.root(), tmp.resolve("tree"), exclude,
                        new Snapshotter.CopyOptions(tmp.resolve(MANIFEST), Console.stderrIsTerminal(), 0, 0));
                Repo.Status status = statusNow(repo, statusLater);
                String base = status.head();
                List<String> dirty = status.dirtyPaths();
                boolean heldStill = snapshotter.atomic()
                        || copied.fingerprint().equals(fingerprintOf(repo.root(), exclude))
                                && Objects.equals(base, repo.headCommit());
                if (!heldStill && attempt < COPY_ATTEMPTS) {
                    Tree.delete(tmp);
                    continue;
                }
                if (!heldStill) {
                    console.warn("the working tree kept changing while it was copied (" + COPY_ATTEMPTS
                            + " tries); a file written meanwhile may be torn in this snapshot");
                }
                List<String> skipped = copied.skipped().stream().map(Path::toString).toList();
                return publish(tmp, new Snapshot(id, snapshotter.strategy(), repo.root().toString(), base, dirty,
                        now.toString(), copied.fingerprint(), skipped, null, 0, status.configKey()), console);
            } catch (IOException | RuntimeException e) {
                Tree.deleteQuietly(tmp);
                throw e;
            }
        }
    }

    static String newId(Instant now) {
        return ID_TIME.format(now) + "-" + String.format("%04x", ThreadLocalRandom.current().nextInt(0x10000));
    }

    /**
     * The snapshot a delta may be layered on, if this one may be a delta: strategy {@code copy}
     * only (reflinks and filesystem snapshots clone cheaply already), no linked {@code .git}
     * (its copy is composed in Java, outside any manifest), and the newest copy snapshot has
     * a manifest in the current format, as have its ancestors, and is less than
     * {@value #MAX_DEPTH} deep. A manifest of the previous format (no ctime) means one full
     * copy: its entries' ctime, unknown, would stay unknown through every later delta, and a
     * rewrite that keeps size and mtime unseen.
     */
    private Optional<Snapshot> deltaParent(Repo repo, Snapshotter snapshotter) throws IOException {
        if (helper == null || !snapshotter.strategy().equals("copy") || LinkedGitDir.linked(repo.root())) {
            return Optional.empty();
        }
        Optional<Snapshot> newest = listOf(repo).stream().filter(s -> s.strategy().equals("copy")).findFirst();
        if (newest.isEmpty()) {
            return Optional.empty();
        }
        List<Snapshot> chain;
        try {
            chain = chain(newest.get().id());
        } catch (SandboxException brokenChain) {
            return Optional.empty();
        }
        // the depth counted, not read: a record's depth field may be hand-edited
        if (chain.size() > MAX_DEPTH || mountOptionBytes(chain) > MOUNT_OPTIONS_MAX) {
            return Optional.empty();
        }
        for (Snapshot s : chain) { // a layer gone or replaced by a link (the state hand-edited): start over
            if (!Files.isRegularFile(dir(s.id()).resolve(MANIFEST), LinkOption.NOFOLLOW_LINKS)
                    || !Files.isDirectory(dir(s.id()).resolve("tree"), LinkOption.NOFOLLOW_LINKS)
                    || !Manifest.current(dir(s.id()).resolve(MANIFEST))) {
                return Optional.empty();
            }
        }
        return newest;
    }

    /**
     * The most bytes of overlay mount options a delta's layers may take: the kernel takes one
     * page (4,096 bytes, less its NUL) for all of them, upper and work layers included, and the
     * helper refuses more (native-helpers/README.md), so a chain under a long path ends early
     * with a full copy rather than with sandboxes that can't start.
     */
    static final int MOUNT_OPTIONS_MAX = 3600;

    /**
     * An upper bound of the mount options of a sandbox on a new delta over {@code chain}: each
     * layer's path (escaping doubled), the new delta's, and an upper and a work directory in the
     * state directory with a name of up to 64 characters.
     */
    private int mountOptionBytes(List<Snapshot> chain) {
        int bytes = 0;
        for (Snapshot s : chain) {
            bytes += 2 * tree(s.id()).toString().length() + 1;
        }
        bytes += 2 * tree(chain.get(0).id()).toString().length() + 1;
        return bytes + 2 * (2 * store.root().toString().length() + 2 * 100) + 64;
    }

    /** The tree snapshot {@code id}'s layers show, from their manifests. */
    Manifest composed(String id) throws IOException {
        List<Manifest> layers = new ArrayList<>();
        for (Snapshot s : chain(id)) {
            layers.add(Manifest.read(dir(s.id()).resolve(MANIFEST)));
        }
        return Manifest.compose(layers);
    }

    /** The manifests of snapshot {@code id}'s layers, topmost first, as {@link #composed} reads them. */
    private List<Path> manifests(String id) {
        return chain(id).stream().map(s -> dir(s.id()).resolve(MANIFEST)).toList();
    }

    /**
     * Takes a delta over {@code parent}: scans the tree (with its manifest), diffs it against
     * the tree the parent's layers show (the helper's {@code tree diff}, from their manifests),
     * copies only what changed into a new layer, and checks
     * that what it copied held still meanwhile (else again, as a full copy does): by a stat of
     * each copied entry, or by a second scan when more than {@link #RESTAT_MAX} were copied.
     * Returns null when a full copy is the better choice: the change is more than
     * {@link #DELTA_SHARE} of the tree's bytes or files (such a delta costs most of a copy
     * already, and every later run would read through it; a quarter keeps a chain of 8 at
     * most three trees' worth of disk), or the root itself was replaced.
     */
    private Snapshot takeDelta(Repo repo, Snapshot parent, Set<Path> exclude, LookAhead lookAhead,
            Console console) throws IOException {
        NativeTree tree = new NativeTree(helper.get());
        List<Path> lowers = manifests(parent.id());
        int depth = lowers.size();
        for (int attempt = 1; ; attempt++) {
            Instant now = Instant.now();
            String id = newId(now);
            Path tmp = store.snapshotsDir().resolve(TMP_PREFIX + id);
            Files.createDirectory(tmp);
            // the premises (a few git calls) beside the diff; without a look-ahead, read here
            CompletableFuture<StatusPremises> premisesLater = attempt == 1 && lookAhead.premises() != null
                    ? lookAhead.premises() : inBackground(() -> premises(repo, parent));
            CompletableFuture<Repo.Status> statusLater = null;
            try {
                Path scanned = tmp.resolve("scan");
                String before = attempt == 1 ? lookAheadScan(lookAhead, scanned) : null;
                if (before == null) {
                    before = tree.scan(repo.root(), exclude, scanned).fingerprint();
                }
                if (Files.size(scanned) > Manifest.FILE_MAX) {
                    Tree.delete(tmp);
                    return null;
                }
                Path ops = tmp.resolve("ops");
                NativeTree.Diff diff;
                try {
                    diff = tree.diff(scanned, lowers, ops, tmp.resolve(MANIFEST));
                } catch (NativeTree.BadManifest bad) {
                    if (bad.file().equals(scanned)) {
                        throw bad;
                    }
                    // a manifest damaged on disk: a full copy needs none, and the next delta starts over it
                    console.warn("can't read what snapshot '" + bad.file().getParent().getFileName() + "' holds ("
                            + bad.reason() + "); taking a full copy");
                    Tree.delete(tmp);
                    return null;
                }
                Files.delete(scanned); // the whole tree's: a delta keeps only its changes
                if (diff.rootReplaced() || diff.bytes() > DELTA_SHARE * diff.lowerBytes()
                        || diff.files() > DELTA_SHARE * diff.lowerFiles()) {
                    Tree.delete(tmp);
                    return null;
                }
                Manifest delta = Manifest.read(tmp.resolve(MANIFEST)); // the changes alone: small
                StatusPremises premises = premisesFor(repo, parent, premisesLater);
                List<String> derived = premises == null ? null : dirtyByDelta(repo, parent, delta, premises);
                if (derived == null) { // git status, beside the copy; the look-ahead's, which started it then
                    statusLater = attempt == 1 && lookAhead.status() != null ? lookAhead.status()
                            : inBackground(repo::status);
                }
                boolean heldStill;
                Repo.Status status;
                try {
                    tree.applyOps(repo.root(), tmp.resolve("tree"), ops, false, null);
                    // the copied entries re-read by stat, or the whole tree scanned again
                    Optional<Boolean> same = delta.stillDescribes(repo.root(), RESTAT_MAX);
                    boolean copiedHeld = same.isPresent() ? same.get()
                            : before.equals(tree.scan(repo.root(), exclude, null).fingerprint());
                    status = derived != null ? new Repo.Status(premises.head(), derived, premises.configKey())
                            : statusNow(repo, statusLater);
                    heldStill = copiedHeld && Objects.equals(status.head(), repo.headCommit());
                } catch (NativeTree.Changed changed) {
                    status = null;
                    heldStill = false;
                }
                if (!heldStill && (attempt < COPY_ATTEMPTS || status == null)) {
                    Tree.delete(tmp);
                    if (attempt >= COPY_ATTEMPTS) {
                        return null; // a file kept vanishing under the copy: a full copy copes with that
                    }
                    continue;
                }
                if (!heldStill) {
                    console.warn("the working tree kept changing while it was copied (" + COPY_ATTEMPTS
                            + " tries); a file written meanwhile may be torn in this snapshot");
                }
                Files.delete(ops);
                Manifest below = delta.get(".git/index") == null ? null : composedOrNull(parent.id());
                if (below != null) { // composed in Java here alone: git's index names most of the tree
                    Manifest changes = delta;
                    refreshIndexThrough(tmp.resolve("tree"), parent.id(), (path, csec, cnsec, sec, nsec, ino, size) -> {
                        String key = Manifest.key(path);
                        Manifest.Entry e = changes.get(key) != null ? changes.get(key) : below.get(key);
                        return IndexRefresh.sameStat(e, csec, cnsec, sec, nsec, ino, size);
                    });
                }
                List<String> skipped = diff.skipped().stream().sorted().toList();
                return publish(tmp, new Snapshot(id, "copy", repo.root().toString(), status.head(),
                        status.dirtyPaths(), now.toString(), before, skipped, parent.id(), depth, status.configKey()),
                        console);
            } catch (IOException | RuntimeException e) {
                Tree.deleteQuietly(tmp);
                throw e;
            }
        }
    }

    /**
     * The premises {@code later} read, if they are still {@code parent}'s (the look-ahead read
     * them for the newest snapshot, which a run may have replaced since), else read again;
     * null when there are none, or reading them failed (git status then says).
     */
    private static StatusPremises premisesFor(Repo repo, Snapshot parent, CompletableFuture<StatusPremises> later) {
        try {
            StatusPremises p = later.join();
            if (p != null && p.head().equals(parent.baseCommit()) && p.configKey().equals(parent.configKey())
                    && repo.root().toString().equals(parent.repo())) {
                return p;
            }
            return p == null ? null : premises(repo, parent);
        } catch (CompletionException | SandboxException e) {
            return null;
        }
    }

    /** The most changed paths whose ignore rules one {@code git check-ignore} is asked; past it, git status. */
    static final int DERIVED_MAX = 10_000;

    /**
     * The dirty paths of a delta over {@code parent}, derived instead of asked of git status;
     * null when they can't be, and git status must say. They are the parent's dirty paths,
     * the staged paths, and every path the delta changed, added or deleted, less those git
     * ignores now. That list may hold more than git status would (a path edited back to
     * HEAD's content), never less of what matters: a harvest puts each listed path's snapshot
     * version over HEAD's tree ({@code harvest.Blobs}), so an extra path that equals HEAD's
     * changes nothing (where git stores a file as its bytes: else git status says), an extra
     * path that is not in HEAD exists only if git ignores it (else git status lists it) and
     * is dropped, and with HEAD, the settings and the ignore files unchanged, a path
     * that differs from HEAD now and not at the parent must have changed in the tree (the
     * delta has it) or in the index (staged). Ignore files, attributes, submodules and nested
     * repositories decide status in ways this does not follow: a delta that touches one, or a
     * path below a nested {@code .git}, gets git status. docs/ARCHITECTURE.md §13.
     */
    private static List<String> dirtyByDelta(Repo repo, Snapshot parent, Manifest delta, StatusPremises premises) {
        Set<String> changed = new TreeSet<>();
        Set<String> parents = new HashSet<>();
        for (Manifest.Entry e : delta.entries().values()) {
            String path = utf8(e.path());
            if (path == null) {
                return null; // git status names it quoted, or not at all: let it say
            }
            if (path.equals(".git") || path.startsWith(".git/")) {
                if (path.equals(".git/config") || path.startsWith(".git/info/") || path.startsWith(".git/modules/")) {
                    return null; // the repository's settings, excludes or sparse patterns, or a submodule's git directory
                }
                continue; // the index, objects, refs: HEAD and the staged paths cover them
            }
            for (String name : path.split("/")) {
                if (name.equals(".git") || name.equals(".gitignore") || name.equals(".gitattributes")
                        || name.equals(".gitmodules")) {
                    return null;
                }
            }
            if (e.kind() != Manifest.DIR) {
                changed.add(path);
                for (int slash = path.lastIndexOf('/'); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
                    parents.add(path.substring(0, slash));
                }
            }
        }
        if (changed.size() > DERIVED_MAX) {
            return null;
        }
        for (String dir : parents) { // a nested repository or submodule: git status names it, not its files
            if (Files.exists(repo.root().resolve(dir).resolve(".git"), LinkOption.NOFOLLOW_LINKS)) {
                return null;
            }
        }
        Set<String> dirty = new TreeSet<>(parent.dirtyPaths());
        dirty.addAll(premises.staged());
        dirty.addAll(changed);
        dirty.removeIf(p -> p.equals(".git") || p.startsWith(".git/")); // never a working-tree path (a hand-edited record)
        // the two git calls at once: each reads the whole index, the most of what an edit's run
        // pays over an unchanged one at 100,000 files (tests/bench/snapshots.sh)
        CompletableFuture<Set<String>> ignoredLater = inBackground(() -> repo.ignored(dirty));
        try {
            if (repo.convertsContent(dirty)) {
                return null; // an extra path whose bytes equal HEAD's would no longer be harmless
            }
            // all, not only the changed: a path staged at the parent (git add -f) and unstaged
            // since is ignored again, and not the user's work; a staged one is, as git status says
            Set<String> ignored = new HashSet<>(ignoredLater.join());
            premises.staged().forEach(ignored::remove);
            dirty.removeAll(ignored);
        } catch (SandboxException | CompletionException gitFailed) {
            return null; // git status then says, or says why it can't
        }
        return List.copyOf(dirty);
    }

    /** A manifest path (its bytes as Latin-1 chars) as UTF-8 text, or null when it is not UTF-8. */
    private static String utf8(String latin1) {
        byte[] bytes = latin1.getBytes(StandardCharsets.ISO_8859_1);
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /**
     * Writes {@code snapshot}'s record into {@code tmp}, renames {@code tmp} into place (the
     * moment the snapshot exists for runs and {@code gc}), and warns of what it left out.
     */
    private Snapshot publish(Path tmp, Snapshot snapshot, Console console) throws IOException {
        Json.writeAtomically(tmp.resolve("snapshot.json"), snapshot);
        Files.move(tmp, dir(snapshot.id()), StandardCopyOption.ATOMIC_MOVE);
        for (String sk : snapshot.skipped()) {
            console.warn("left '" + sk + "' out of the snapshot: not a regular file, directory or symlink");
        }
        return snapshot;
    }

    /** {@link #composed}, or null when a manifest can't be read (the index refresh is best effort). */
    private Manifest composedOrNull(String id) {
        try {
            return composed(id);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * The fingerprint of the look-ahead's scan, its manifest moved to {@code to}; null when
     * there is none (another kind of look-ahead, or its scan failed: scanning again here
     * reports the error).
     */
    private static String lookAheadScan(LookAhead lookAhead, Path to) {
        if (lookAhead.scanned() == null || lookAhead.fingerprint() == null) {
            return null;
        }
        try {
            String fingerprint = lookAhead.fingerprint().join();
            Files.move(lookAhead.scanned(), to);
            return fingerprint;
        } catch (CompletionException | IOException e) {
            return null;
        }
    }

    /**
     * Brings the git index a delta layer holds up to date with the files a sandbox will see:
     * their stat data read from the merged view of the delta over {@code parent}'s layers,
     * the index written once that view is closed (a layer must not change under a mount,
     * docs/ARCHITECTURE.md §11), for the entries {@code clean} says the user's index held as
     * clean. Best effort, as after a full copy.
     */
    private void refreshIndexThrough(Path layer, String parent, IndexRefresh.Clean clean) {
        List<Path> layers = new ArrayList<>();
        layers.add(layer);
        layers.addAll(layers(parent));
        Path index = layer.resolve(".git/index");
        try {
            byte[] raw;
            try (LowerView view = LowerView.open(helper.get(), layers)) {
                raw = IndexRefresh.refreshed(index, view.root(), clean);
            }
            if (raw != null) {
                IndexRefresh.write(index, raw);
            }
        } catch (IOException | RuntimeException e) {
            // the snapshot is complete; git in the sandbox just re-reads files on its first status
        }
    }

    /**
     * For a run whose launcher stays while its agent runs: compacts {@code snapshot} meanwhile
     * when it is {@value Compaction#BACKGROUND_DEPTH} or more deltas deep ({@link Compaction}),
     * once the agent has run {@value Compaction#DELAY_MS} ms. If the launcher ends first, what
     * was begun is deleted (killed, it stays under {@code .tmp-*} for {@code gc}).
     */
    public CompletableFuture<Optional<Snapshot>> compactWhileRunning(Snapshot snapshot) {
        if (helper == null || snapshot.depth() < Compaction.BACKGROUND_DEPTH || stacked(snapshot)) {
            return CompletableFuture.completedFuture(Optional.empty());
        }
        return new Compaction(this, store, helper.get()).inBackground(snapshot, Compaction.DELAY_MS);
    }

    /** Deletes a snapshot's directory; the caller has checked that no sandbox uses it. */
    void delete(String id) throws IOException {
        Path dir = dir(id);
        Path doomed = store.snapshotsDir().resolve(TMP_PREFIX + "rm-" + id);
        Files.move(dir, doomed, StandardCopyOption.ATOMIC_MOVE);
        ZfsSnapshotter.destroy(doomed);
        Tree.delete(doomed);
    }

    /** Leftovers of snapshots that were interrupted while being taken or deleted. */
    List<Path> leftovers() throws IOException {
        List<Path> tmp = new ArrayList<>();
        try (DirectoryStream<Path> ids = Files.newDirectoryStream(store.snapshotsDir(), TMP_PREFIX + "*")) {
            ids.forEach(tmp::add);
        }
        return tmp;
    }
}
