package dev.sandbox.harvest;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.eclipse.jgit.errors.MissingObjectException;
import org.eclipse.jgit.internal.storage.file.ObjectDirectory;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.CommitBuilder;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.ObjectReader;
import org.eclipse.jgit.lib.PersonIdent;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.lib.UserConfig;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;

/**
 * Turns a sandbox's upper layer into git objects in the user's repository: the trees
 * before and after the agent ({@link #trees}) and the commits that carry its work
 * ({@link #commits}). Nothing here touches the user's working tree, index or refs.
 */
public final class Harvest implements AutoCloseable {
    /** What {@link #work} names, among the git work, when the agent's history can't be taken. */
    static final String HISTORY_LEFT_OUT = "history the harvest leaves out";
    /** What {@link #work} names when the agent rewrote its history into commits that change no file. */
    static final String REWRITE_WITHOUT_CHANGE = "commits of a rewritten history that change no file";
    /** Names the largest file, in bytes, that the harvest reads; larger ones are left out with a warning. */
    public static final String MAX_FILE_ENV = "SANDBOX_HARVEST_MAX_FILE";
    /** {@link #MAX_FILE_ENV}'s default: 1 GiB. */
    public static final long DEFAULT_MAX_FILE = 1L << 30;

    /** How old a temporary object of JGit's must be to count as a kill's leftover: no writer takes that long. */
    private static final Duration STALE = Duration.ofHours(1);

    private final Repository repo;
    private final ObjectReader reader;
    private final long maxFile;
    private final Thread onKill;

    private Harvest(Repository repo, long maxFile) {
        this.repo = repo;
        this.reader = repo.newObjectReader();
        this.maxFile = maxFile;
        Path objects = repo.getObjectDatabase() instanceof ObjectDirectory od ? od.getDirectory().toPath() : null;
        this.onKill = objects == null ? null : new Thread(() -> removeTemporaries(objects, true));
        if (objects != null) {
            removeTemporaries(objects, false);
            Runtime.getRuntime().addShutdownHook(onKill);
        }
    }

    /** Opens the repository whose git directory (shared by its worktrees) is {@code commonDir}. */
    public static Harvest open(Path commonDir) {
        return open(commonDir, DEFAULT_MAX_FILE);
    }

    /**
     * As {@link #open(Path)}, reading no file larger than {@code maxFile} bytes: such a file
     * is left out of the trees {@link #trees} stores, with a warning.
     */
    public static Harvest open(Path commonDir, long maxFile) {
        SystemConfig.install(commonDir);
        try {
            return new Harvest(new FileRepositoryBuilder().setGitDir(commonDir.toFile()).setMustExist(true).build(),
                    maxFile);
        } catch (IOException e) {
            throw SandboxException.cant("open the repository", commonDir, e);
        }
    }

    /**
     * The limit {@link #MAX_FILE_ENV} sets: {@code value} in bytes, or the default when unset.
     *
     * @throws SandboxException (exit 2) when it is not a whole number of bytes
     */
    public static long maxFile(String value) {
        if (value == null || value.isEmpty()) {
            return DEFAULT_MAX_FILE;
        }
        try {
            long n = Long.parseLong(value.strip());
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw SandboxException.invalidInput("invalid " + MAX_FILE_ENV + " '" + value + "': expected a number of"
                + " bytes, such as 2147483648 for 2 GiB (or leave it unset: " + DEFAULT_MAX_FILE + ", 1 GiB)");
    }

    public Repository repository() {
        return repo;
    }

    public ObjectReader reader() {
        return reader;
    }

    /**
     * The snapshot's and the sandbox's trees and what differs between them. With
     * {@code store} false nothing is written to the repository: ids are only computed. A file
     * larger than the limit, or one that kept changing while it was read, is left out with a
     * warning when storing; when not, it gets an id that names no object and differs on every
     * call, so that it counts as changed and never as handed over.
     * The agent's commits are checked here ({@link AgentHistory#read}, through a scratch
     * directory {@code .history-<pid>} beside the upper layer, removed after), so that every
     * command gets the same answer: {@link Trees#agentHead} is null when they were left out,
     * and a warning says why.
     */
    public Trees trees(Source src, boolean includeIgnored, boolean store) {
        return read(src, includeIgnored, store, true).trees();
    }

    /** The trees, and the upper layer's changes they were built from. */
    private record Read(Trees trees, ChangeSet set) {
    }

    /** With {@code history} false the agent's commits are not read: {@link Trees#agentHead} is null. */
    private Read read(Source src, boolean includeIgnored, boolean store, boolean history) {
        try (ObjectInserter ins = store ? new LooseInserter(repo) : new HashOnly()) {
            ObjectId base = src.baseCommit() == null ? null : ObjectId.fromString(src.baseCommit());
            ObjectId baseTree = base == null ? null : commit(base).getTree().copy();
            MutableTree snapshot = MutableTree.of(reader, baseTree);
            MutableTree merged = MutableTree.of(reader, baseTree);
            Blobs blobs = new Blobs(ins, store ? Blobs.Mode.STORE : Blobs.Mode.HASH, maxFile);
            blobs.snapshot(src, snapshot, merged);
            ChangeSet set = UpperWalk.read(src.upper(), src.lower(), path -> tracked(snapshot, path),
                    new UpperWalk.Options(includeIgnored, excludesFile(), false, maxFile));
            blobs.fromSnapshot(src, set, snapshot, merged);
            blobs.apply(src, set, merged);
            List<String> warnings = new ArrayList<>(blobs.warnings(set));
            Gitlinks.stagedByAgent(src, snapshot, merged, scratch(src, ".index-"), warnings);
            ObjectId snapshotId = snapshot.writeRoot(ins);
            ObjectId mergedId = merged.writeRoot(ins);
            ins.flush();
            List<FileChange> changes = MutableTree.diff(snapshot, merged);
            AgentHistory.Found found = AgentHistory.Found.none(null);
            if (history) {
                found = history(src, base, scratch(src, ".history-"));
                if (found.problem() != null) {
                    warnings.add("left out the agent's commits: " + found.problem());
                }
            }
            return new Read(new Trees(base, snapshotId, mergedId, changes, List.copyOf(warnings), found.head(),
                    set.unnamed(), found.linear(), found.summary(), set.ignored()), set);
        } catch (IOException e) {
            throw SandboxException.cant("read the changes in", src.upper(), e);
        }
    }

    /**
     * How many paths differ between the snapshot and the sandbox, and how many entries were
     * left out for names that are not valid UTF-8, as {@link #trees} would count them
     * ({@code changes().size() + unnamed().size()}), but from metadata: no file's content is
     * read but that of small files whose modification time alone differs (see
     * {@link UpperWalk.Options#metadataOnly}), so that it costs the same for a 200 GB file.
     * A file rewritten with the same bytes counts as changed. Writes nothing.
     */
    public int count(Source src, boolean includeIgnored) {
        try (ObjectInserter ins = new HashOnly()) {
            ObjectId base = src.baseCommit() == null ? null : ObjectId.fromString(src.baseCommit());
            ObjectId baseTree = base == null ? null : commit(base).getTree().copy();
            MutableTree snapshot = MutableTree.of(reader, baseTree);
            MutableTree merged = MutableTree.of(reader, baseTree);
            Blobs blobs = new Blobs(ins, Blobs.Mode.COUNT, maxFile);
            blobs.snapshot(src, snapshot, merged);
            ChangeSet set = UpperWalk.read(src.upper(), src.lower(), path -> tracked(snapshot, path),
                    new UpperWalk.Options(includeIgnored, excludesFile(), true, maxFile));
            blobs.fromSnapshot(src, set, snapshot, merged);
            blobs.apply(src, set, merged);
            Gitlinks.stagedByAgent(src, snapshot, merged, scratch(src, ".index-"), new ArrayList<>());
            snapshot.writeRoot(ins);
            merged.writeRoot(ins);
            return MutableTree.diff(snapshot, merged).size() + set.unnamed().size();
        } catch (IOException e) {
            throw SandboxException.cant("read the changes in", src.upper(), e);
        }
    }

    /**
     * What the sandbox holds that exists nowhere else: what the harvesting commands would
     * hand over (ignored files included), the agent's commits, and the rest of the work in
     * its git directories. Writes nothing to the repository; {@code scratch} is a directory
     * it may fill, which the caller removes.
     *
     * <p>The agent's history, when it can't be taken, is work no harvest takes
     * ({@link #HISTORY_LEFT_OUT}): its commits stay in the sandbox.
     *
     * @throws SandboxException when the upper layer or the snapshot's git directory cannot be read
     */
    public Work work(Source src, Path scratch) {
        Trees plain = read(src, false, false, false).trees();
        Read all = read(src, true, false, false);
        AgentHistory.Found history = history(src, plain.base(), scratch);
        Set<ObjectId> commits = history.commits();
        try {
            List<String> git = new ArrayList<>();
            if (history.problem() != null) {
                git.add(HISTORY_LEFT_OUT); // its commits stay in the sandbox, where no harvest takes them
            } else if (plain.unchanged() && !history.linear() && !commits.isEmpty()) {
                git.add(REWRITE_WITHOUT_CHANGE); // an amended message: no commit of a tree could carry it
            }
            git.addAll(GitDirWork.read(src.upper(), src.lower(), repo.getObjectDatabase(),
                    history.head() == null ? null : history.ref(), commits, all.set().nestedGitDirs(), scratch));
            Set<String> taken = new HashSet<>();
            plain.changes().forEach(c -> taken.add(c.path()));
            // an ignored file deleted (a 'make clean') is no work: nothing is lost with the sandbox
            int ignored = (int) all.trees().changes().stream().filter(c -> !c.deleted() && !taken.contains(c.path()))
                    .count();
            return new Work(plain.changes().size(), ignored,
                    commits.size(), List.copyOf(git), all.set().submodules().size(), all.set().unnamed().size());
        } catch (IOException e) {
            throw SandboxException.cant("read the git directory in", src.upper(), e);
        }
    }

    /** A scratch directory beside the upper layer, named for this process. */
    private static Path scratch(Source src, String prefix) {
        return src.upper().resolveSibling(prefix + ProcessHandle.current().pid());
    }

    /**
     * The agent's commits over {@code base}, checked ({@link AgentHistory#read}) through a
     * scratch repository at {@code scratch}, which is removed after.
     */
    private AgentHistory.Found history(Source src, ObjectId base, Path scratch) {
        return AgentHistory.read(repo, src.upper(), src.lower(), src.layers(), base, scratch);
    }

    /**
     * What {@link #commits} made: {@code base..tip} carries everything, the user's uncommitted
     * state first when there was one; {@code start..tip} only what the agent did.
     *
     * @param base  the snapshot's base commit (null without one)
     * @param start the commit of the user's uncommitted state, or {@code base} when there was none
     */
    public record Commits(ObjectId base, ObjectId start, ObjectId tip) {
    }

    /** Who and when, and what to say, for the commits {@link #commits} writes. */
    public record CommitInfo(String message, Instant snapshotTime, Instant agentTime) {
    }

    /**
     * Writes the commits that carry the sandbox's work on top of its base commit: the user's
     * uncommitted state at snapshot time first (when there was any), then the agent's
     * changes. The agent's commits are kept when they continue the base in a line: as they
     * are when the snapshot was clean, else replayed onto the uncommitted state one by one
     * ({@link #replay}), and the uncommitted remainder on top. When the agent rewrote history
     * or merged, its work is one commit whose message says so and lists its commits. The
     * last commit's tree is always the merged tree.
     * {@code scratch} is a directory it may fill; the caller removes it.
     */
    public Commits commits(Source src, Trees t, CommitInfo info, Path scratch) {
        try (ObjectInserter ins = new LooseInserter(repo)) {
            ObjectId start = t.base();
            if (!treeOf(t.base(), ins).equals(t.snapshot())) { // the user's uncommitted state, first
                start = write(ins, t.base(), t.snapshot(), "snapshot of uncommitted changes\n\n"
                        + "The working tree as the sandbox's snapshot took it, before the agent started.\n",
                        info.snapshotTime(), null);
            }
            ObjectId tip = start;
            String note = null;
            if (t.agentHead() != null && t.linear()) {
                try {
                    AgentHistory.importObjects(repo, src.upper(), src.lower(), src.layers(), t.agentHead(), t.base(),
                            scratch);
                } catch (AgentRefs.Bad e) {
                    throw SandboxException.cant("take the agent's commits from", src.upper().resolve(".git"),
                            e.getMessage() + " (its history changed after it was read; run the command again)");
                }
                tip = replay(ins, t, start);
            } else if (t.agentHead() != null) {
                note = "The agent's history does not continue the snapshot's base"
                        + (t.base() == null ? "" : " " + t.base().abbreviate(12).name())
                        + " in a line (it was rewritten by a reset, rebase, amend or checkout, or holds a merge):"
                        + " its HEAD is " + t.agentHead().abbreviate(12).name()
                        + ", so its work is carried as this one commit.";
            }
            if (!treeOf(tip, ins).equals(t.merged())) {
                String message = info.message();
                if (note != null) {
                    message = (message.endsWith("\n") ? message : message + "\n") + "\n" + wrapped(note)
                            + agentCommits(t);
                }
                tip = write(ins, tip, t.merged(), message, info.agentTime(), null);
            }
            ins.flush();
            return new Commits(t.base(), start, tip);
        } catch (IOException e) {
            throw SandboxException.cant("write commits into", repo.getDirectory(), e);
        }
    }

    /** {@code text} broken into lines of at most 72 characters, as git's own messages are. */
    static String wrapped(String text) {
        StringBuilder b = new StringBuilder();
        int line = 0;
        for (String word : text.split(" ")) {
            if (line > 0 && line + 1 + word.length() > 72) {
                b.append('\n');
                line = 0;
            } else if (line > 0) {
                b.append(' ');
                line++;
            }
            b.append(word);
            line += word.length();
        }
        return b.append('\n').toString();
    }

    /** The lines that list the agent's commits in a message, or say there were none. */
    private static String agentCommits(Trees t) {
        if (t.agentCommits().isEmpty()) {
            return "Its HEAD is a commit the base already holds.\n";
        }
        StringBuilder b = new StringBuilder("Its commits:\n");
        t.agentCommits().forEach(c -> b.append("  ").append(c).append('\n'));
        if (t.agentCommits().size() == AgentHistory.SUMMARY) {
            b.append("  (and maybe more)\n");
        }
        return b.toString();
    }

    /**
     * The agent's linear commits on top of {@code onto}: themselves when {@code onto} is the
     * base, else each replayed onto the uncommitted-state commit, with its author, committer
     * and message. The agent made them from the snapshot's working tree, so no line merge is
     * needed: for each path the user's uncommitted state changed, a commit holds either the
     * agent's version (it staged the path: that is kept) or still the base's (it did not:
     * the user's version is put back). The merged tree, on top, is exact whatever this gives.
     */
    private ObjectId replay(ObjectInserter ins, Trees t, ObjectId onto) throws IOException {
        if (Objects.equals(onto, t.base())) {
            return t.agentHead();
        }
        List<RevCommit> line = new ArrayList<>();
        try (RevWalk walk = new RevWalk(reader)) {
            for (RevCommit c = walk.parseCommit(t.agentHead()); c != null && !c.equals(t.base());
                    c = c.getParentCount() == 0 ? null : walk.parseCommit(c.getParent(0))) {
                line.add(c);
            }
        }
        MutableTree baseTree = MutableTree.of(reader, treeOf(t.base(), ins));
        MutableTree snapshot = MutableTree.of(reader, t.snapshot());
        baseTree.writeRoot(ins);
        snapshot.writeRoot(ins);
        List<FileChange> uncommitted = MutableTree.diff(baseTree, snapshot);
        ObjectId tip = onto;
        for (int i = line.size() - 1; i >= 0; i--) {
            RevCommit c = line.get(i);
            MutableTree tree = MutableTree.of(reader, c.getTree());
            for (FileChange u : uncommitted) {
                MutableTree.Entry e = tree.lookup(u.path());
                boolean asInBase = e == null ? u.added() : !u.added() && e.mode == u.oldMode() && u.oldId().equals(e.id);
                if (!asInBase) {
                    continue; // the agent's own version of the path
                }
                if (u.deleted()) {
                    tree.delete(u.path());
                } else {
                    tree.put(u.path(), u.newMode(), u.newId());
                }
            }
            tip = write(ins, tip, tree.writeRoot(ins), c.getFullMessage(), null, c);
        }
        return tip;
    }

    /** One commit of the merged tree on top of {@code parent}, unless that already has it. */
    public Commits commitOnTop(ObjectId parent, Trees t, CommitInfo info) {
        try (ObjectInserter ins = new LooseInserter(repo)) {
            if (commit(parent).getTree().equals(t.merged())) {
                return new Commits(parent, parent, parent);
            }
            ObjectId tip = write(ins, parent, t.merged(), info.message(), info.agentTime(), null);
            ins.flush();
            return new Commits(parent, parent, tip);
        } catch (IOException e) {
            throw SandboxException.cant("write commits into", repo.getDirectory(), e);
        }
    }

    /** A commit of {@code tree} on {@code parent}: by the user at {@code when}, or as {@code like} was made. */
    private ObjectId write(ObjectInserter ins, ObjectId parent, ObjectId tree, String message, Instant when,
            RevCommit like) throws IOException {
        UserConfig user = repo.getConfig().get(UserConfig.KEY);
        ZoneId zone = ZoneId.systemDefault();
        CommitBuilder c = new CommitBuilder();
        c.setTreeId(tree);
        if (parent != null) {
            c.setParentId(parent);
        }
        if (like != null) {
            c.setAuthor(like.getAuthorIdent());
            c.setCommitter(like.getCommitterIdent());
            try {
                c.setEncoding(like.getEncoding());
            } catch (RuntimeException e) {
                c.setEncoding(StandardCharsets.UTF_8); // one Java can't name: the message was decoded as UTF-8
            }
            c.setMessage(message);
            return ins.insert(c);
        }
        c.setAuthor(new PersonIdent(user.getAuthorName(), user.getAuthorEmail(), when, zone));
        c.setCommitter(new PersonIdent(user.getCommitterName(), user.getCommitterEmail(), when, zone));
        c.setEncoding(StandardCharsets.UTF_8);
        c.setMessage(message.endsWith("\n") ? message : message + "\n");
        return ins.insert(c);
    }

    /** The tree of {@code commit}, the empty tree for none. */
    private ObjectId treeOf(ObjectId commit, ObjectInserter ins) throws IOException {
        return commit == null ? ins.insert(Constants.OBJ_TREE, new byte[0]) : commit(commit).getTree();
    }

    private RevCommit commit(ObjectId id) throws IOException {
        try (RevWalk walk = new RevWalk(reader)) {
            return walk.parseCommit(id);
        } catch (MissingObjectException e) {
            throw SandboxException.failure("can't find commit " + id.abbreviate(12).name()
                    + " in the repository: the snapshot's base was removed (was the history rewritten and pruned?)");
        }
    }

    private static UpperWalk.InTree tracked(MutableTree snapshot, String path) throws IOException {
        MutableTree.Entry e = snapshot.lookup(path);
        if (e == null) {
            return UpperWalk.InTree.NONE;
        }
        return e.isTree() ? UpperWalk.InTree.TREE
                : e.mode == FileMode.GITLINK ? UpperWalk.InTree.SUBMODULE : UpperWalk.InTree.FILE_OR_SYMLINK;
    }

    /** The user's {@code core.excludesFile}, or git's default {@code ~/.config/git/ignore}. */
    private Path excludesFile() {
        String configured = repo.getConfig().getString("core", null, "excludesfile");
        String home = System.getenv("HOME") != null ? System.getenv("HOME") : System.getProperty("user.home");
        if (configured != null) {
            return Path.of(configured.startsWith("~/") ? home + configured.substring(1) : configured);
        }
        String xdg = System.getenv("XDG_CONFIG_HOME");
        return (xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(home, ".config")).resolve("git/ignore");
    }

    /** Computes the ids objects would get, storing nothing. */
    private static final class HashOnly extends ObjectInserter.Formatter {
        @Override
        public ObjectId insert(int type, long length, InputStream in) throws IOException {
            return idFor(type, length, in);
        }
    }

    /**
     * Removes the temporary objects JGit's inserter ({@code objects/noz*.tmp}, renamed into
     * place when complete) left in {@code objects}: with {@code ours}, on SIGTERM or SIGINT,
     * those this process holds open, which a writer of ours was filling; without, those older
     * than an hour, which a kill -9 left. Another process's temporary file is never touched.
     */
    static void removeTemporaries(Path objects, boolean ours) {
        if (ours) {
            try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
                Path real = objects.toRealPath();
                for (Path fd : fds) {
                    try {
                        Path file = Files.readSymbolicLink(fd);
                        if (real.equals(file.getParent()) && temporary(file)) {
                            Files.deleteIfExists(file);
                        }
                    } catch (IOException e) {
                        // closed meanwhile, or not a file
                    }
                }
            } catch (IOException e) {
                // no /proc: the next run removes what is left once it is stale
            }
            return;
        }
        Instant stale = Instant.now().minus(STALE);
        try (DirectoryStream<Path> s = Files.newDirectoryStream(objects, "noz*.tmp")) {
            for (Path p : s) {
                try {
                    if (Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toInstant().isBefore(stale)) {
                        Files.deleteIfExists(p);
                    }
                } catch (IOException e) {
                    // gone meanwhile, or not ours to remove
                }
            }
        } catch (IOException e) {
            // nothing to clean up
        }
    }

    private static boolean temporary(Path file) {
        String name = file.getFileName().toString();
        return name.startsWith("noz") && name.endsWith(".tmp");
    }

    @Override
    public void close() {
        reader.close();
        repo.close();
        if (onKill != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(onKill);
            } catch (IllegalStateException e) {
                // shutting down: the hook runs
            }
        }
    }
}
