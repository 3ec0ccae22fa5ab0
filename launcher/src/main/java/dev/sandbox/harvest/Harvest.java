package dev.sandbox.harvest;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.eclipse.jgit.errors.MissingObjectException;
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

    private final Repository repo;
    private final ObjectReader reader;

    private Harvest(Repository repo) {
        this.repo = repo;
        this.reader = repo.newObjectReader();
    }

    /** Opens the repository whose git directory (shared by its worktrees) is {@code commonDir}. */
    public static Harvest open(Path commonDir) {
        SystemConfig.install(commonDir);
        try {
            return new Harvest(new FileRepositoryBuilder().setGitDir(commonDir.toFile()).setMustExist(true).build());
        } catch (IOException e) {
            throw SandboxException.cant("open the repository", commonDir, e);
        }
    }

    public Repository repository() {
        return repo;
    }

    public ObjectReader reader() {
        return reader;
    }

    /**
     * The snapshot's and the sandbox's trees and what differs between them. With
     * {@code store} false nothing is written to the repository: ids are only computed.
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
        try (ObjectInserter ins = store ? repo.newObjectInserter() : new HashOnly()) {
            ObjectId base = src.baseCommit() == null ? null : ObjectId.fromString(src.baseCommit());
            ObjectId baseTree = base == null ? null : commit(base).getTree().copy();
            MutableTree snapshot = MutableTree.of(reader, baseTree);
            MutableTree merged = MutableTree.of(reader, baseTree);
            for (String path : src.dirtyPaths()) {
                Path file = src.lower().resolve(path);
                Overlay.Kind kind = Overlay.kind(file);
                if (kind == Overlay.Kind.MISSING) {
                    snapshot.delete(path);
                    merged.delete(path);
                } else if (kind == Overlay.Kind.FILE || kind == Overlay.Kind.SYMLINK) {
                    FileMode mode = mode(file, kind);
                    ObjectId id = blob(ins, file, kind);
                    snapshot.put(path, mode, id);
                    merged.put(path, mode, id);
                }
            }
            ChangeSet set = UpperWalk.read(src.upper(), src.lower(), path -> tracked(snapshot, path), includeIgnored,
                    excludesFile());
            for (Change c : set.changes()) {
                if (c.kind() == Change.Kind.DELETE) {
                    merged.delete(c.path());
                } else {
                    Overlay.Kind kind = c.kind() == Change.Kind.WRITE_SYMLINK ? Overlay.Kind.SYMLINK : Overlay.Kind.FILE;
                    FileMode mode = c.kind() == Change.Kind.WRITE_EXECUTABLE ? FileMode.EXECUTABLE_FILE
                            : kind == Overlay.Kind.SYMLINK ? FileMode.SYMLINK : FileMode.REGULAR_FILE;
                    merged.put(c.path(), mode, blob(ins, c.source(), kind));
                }
            }
            ObjectId snapshotId = snapshot.writeRoot(ins);
            ObjectId mergedId = merged.writeRoot(ins);
            ins.flush();
            List<FileChange> changes = MutableTree.diff(snapshot, merged);
            List<String> warnings = set.warnings();
            ObjectId head = null;
            if (history) {
                AgentHistory.Found found = history(src, base, src.upper().resolveSibling(".history-"
                        + ProcessHandle.current().pid()));
                head = found.head();
                warnings = found.problem() == null ? warnings : Stream.concat(warnings.stream(),
                        Stream.of("left out the agent's commits: " + found.problem())).toList();
            }
            return new Read(new Trees(base, snapshotId, mergedId, changes, warnings, head, set.unnamed()), set);
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
            }
            git.addAll(GitDirWork.read(src.upper(), src.lower(), repo.getObjectDatabase(),
                    history.head() == null ? null : history.ref(), commits, all.set().nestedGitDirs(), scratch));
            return new Work(plain.changes().size(), Math.max(0, all.trees().changes().size() - plain.changes().size()),
                    commits.size(), List.copyOf(git), all.set().submodules().size(), all.set().unnamed().size());
        } catch (IOException e) {
            throw SandboxException.cant("read the git directory in", src.upper(), e);
        }
    }

    /**
     * The agent's commits over {@code base}, checked ({@link AgentHistory#read}) through a
     * scratch repository at {@code scratch}, which is removed after.
     */
    private AgentHistory.Found history(Source src, ObjectId base, Path scratch) {
        return AgentHistory.read(repo, src.upper(), src.lower(), base, scratch);
    }

    /** What {@link #commits} made: the agent's work is the range {@code from..tip}. */
    public record Commits(ObjectId from, ObjectId tip) {
    }

    /** Who and when, and what to say, for the commits {@link #commits} writes. */
    public record CommitInfo(String message, Instant snapshotTime, Instant agentTime) {
    }

    /**
     * Writes the commits that carry the sandbox's work on top of its base commit: the user's
     * uncommitted state at snapshot time first (when there was any), then the agent's
     * changes. Commits the agent made inside the sandbox are imported as they are, with the
     * uncommitted remainder on top. {@code scratch} is a directory it may fill; the caller removes it.
     */
    public Commits commits(Source src, Trees t, CommitInfo info, Path scratch) {
        try (ObjectInserter ins = repo.newObjectInserter()) {
            Commits result;
            if (t.agentHead() != null) {
                try {
                    AgentHistory.importObjects(repo, src.upper(), src.lower(), t.agentHead(), t.base(), scratch);
                } catch (AgentRefs.Bad e) {
                    throw SandboxException.cant("take the agent's commits from", src.upper().resolve(".git"),
                            e.getMessage() + " (its history changed after it was read; run the command again)");
                }
                RevCommit head = commit(t.agentHead());
                ObjectId tip = head.getTree().equals(t.merged()) ? head
                        : write(ins, head, t.merged(), info.message(), info.agentTime());
                result = new Commits(t.base(), tip);
            } else {
                ObjectId start = t.base();
                boolean dirty = t.base() == null ? !t.snapshot().equals(emptyTree(ins))
                        : !commit(t.base()).getTree().equals(t.snapshot());
                if (dirty) {
                    start = write(ins, t.base(), t.snapshot(), "snapshot of uncommitted changes\n\n"
                            + "The working tree as the sandbox's snapshot took it, before the agent started.\n",
                            info.snapshotTime());
                }
                ObjectId tip = t.merged().equals(t.snapshot()) ? start
                        : write(ins, start, t.merged(), info.message(), info.agentTime());
                result = new Commits(start, tip);
            }
            ins.flush();
            return result;
        } catch (IOException e) {
            throw SandboxException.cant("write commits into", repo.getDirectory(), e);
        }
    }

    /** One commit of the merged tree on top of {@code parent}, unless that already has it. */
    public Commits commitOnTop(ObjectId parent, Trees t, CommitInfo info) {
        try (ObjectInserter ins = repo.newObjectInserter()) {
            if (commit(parent).getTree().equals(t.merged())) {
                return new Commits(parent, parent);
            }
            ObjectId tip = write(ins, parent, t.merged(), info.message(), info.agentTime());
            ins.flush();
            return new Commits(parent, tip);
        } catch (IOException e) {
            throw SandboxException.cant("write commits into", repo.getDirectory(), e);
        }
    }

    private ObjectId write(ObjectInserter ins, ObjectId parent, ObjectId tree, String message, Instant when)
            throws IOException {
        UserConfig user = repo.getConfig().get(UserConfig.KEY);
        ZoneId zone = ZoneId.systemDefault();
        CommitBuilder c = new CommitBuilder();
        c.setTreeId(tree);
        if (parent != null) {
            c.setParentId(parent);
        }
        c.setAuthor(new PersonIdent(user.getAuthorName(), user.getAuthorEmail(), when, zone));
        c.setCommitter(new PersonIdent(user.getCommitterName(), user.getCommitterEmail(), when, zone));
        c.setEncoding(StandardCharsets.UTF_8);
        c.setMessage(message.endsWith("\n") ? message : message + "\n");
        return ins.insert(c);
    }

    private static ObjectId emptyTree(ObjectInserter ins) {
        return ins.idFor(Constants.OBJ_TREE, new byte[0]);
    }

    private RevCommit commit(ObjectId id) throws IOException {
        try (RevWalk walk = new RevWalk(reader)) {
            return walk.parseCommit(id);
        } catch (MissingObjectException e) {
            throw SandboxException.failure("can't find commit " + id.abbreviate(12).name()
                    + " in the repository: the snapshot's base was removed (was the history rewritten and pruned?)");
        }
    }

    private static char tracked(MutableTree snapshot, String path) throws IOException {
        MutableTree.Entry e = snapshot.lookup(path);
        if (e == null) {
            return 0;
        }
        return e.isTree() ? 't' : e.mode == FileMode.GITLINK ? 'g' : 'f';
    }

    private static FileMode mode(Path file, Overlay.Kind kind) throws IOException {
        if (kind == Overlay.Kind.SYMLINK) {
            return FileMode.SYMLINK;
        }
        return Overlay.executable(file) ? FileMode.EXECUTABLE_FILE : FileMode.REGULAR_FILE;
    }

    private static ObjectId blob(ObjectInserter ins, Path file, Overlay.Kind kind) {
        try {
            if (kind == Overlay.Kind.SYMLINK) {
                return ins.insert(Constants.OBJ_BLOB,
                        Files.readSymbolicLink(file).toString().getBytes(StandardCharsets.UTF_8));
            }
            try (InputStream in = Files.newInputStream(file)) {
                return ins.insert(Constants.OBJ_BLOB, Files.size(file), in);
            }
        } catch (AccessDeniedException e) {
            throw SandboxException.cant("read", file, "permission denied (was the sandbox's upper layer changed by hand?)");
        } catch (IOException e) {
            throw SandboxException.cant("read", file, e);
        }
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

    @Override
    public void close() {
        reader.close();
        repo.close();
    }
}
