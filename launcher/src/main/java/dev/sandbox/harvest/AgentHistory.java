package dev.sandbox.harvest;

import dev.sandbox.sys.SafeOpen;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.eclipse.jgit.errors.CorruptObjectException;
import org.eclipse.jgit.errors.IncorrectObjectTypeException;
import org.eclipse.jgit.errors.MissingObjectException;
import org.eclipse.jgit.internal.submodule.SubmoduleValidator;
import org.eclipse.jgit.lib.AnyObjectId;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.GitmoduleEntry;
import org.eclipse.jgit.lib.NullProgressMonitor;
import org.eclipse.jgit.lib.ObjectChecker;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.ObjectLoader;
import org.eclipse.jgit.lib.ObjectReader;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;
import org.eclipse.jgit.transport.PackParser;
import org.eclipse.jgit.treewalk.CanonicalTreeParser;

/**
 * The commits an agent made inside its sandbox: its HEAD as the merged view of {@code .git}
 * shows it ({@link AgentRefs}), and the objects it wrote into the upper layer, checked as
 * {@code git fsck --strict} checks what it receives, then copied into the user's repository.
 *
 * <p>JGit never reads the agent's object directory, which may hold symlinks, FIFOs, an
 * {@code info/alternates} naming host paths, or a pack whose deltas loop. A scratch
 * repository in the sandbox's own directory is read instead: its alternates are the user's
 * objects, the snapshot's (the user's own copy) and hard links to the agent's loose objects
 * that are regular files ({@code link(2)} follows no symlink; the link's type, checked
 * after, cannot change); the agent's packs are read into it by {@link PackParser}, which
 * resolves every delta and names every object by its content, as for a push from a
 * stranger. Loose objects are named by the agent, so each object that would be copied is
 * hashed; commits and trees go through JGit's {@link ObjectChecker} with the Windows and
 * macOS name checks on ({@code ..}, {@code .git} in any case or HFS+/NTFS spelling, bad
 * modes, bad idents), {@code .gitmodules} through {@link SubmoduleValidator}, before
 * anything is copied. Anything wrong leaves the whole history out with one reason.
 */
final class AgentHistory {
    /** Commits walked from the agent's HEAD before giving up. */
    static final int MAX_COMMITS = 100_000;
    /** Trees and blobs new to the user's repository that one history may bring. */
    static final int MAX_OBJECTS = 1_000_000;
    /** Bytes of one object, as {@code SANDBOX_HARVEST_MAX_FILE}'s default for files. */
    static final long MAX_OBJECT_BYTES = 1L << 30;
    /** Bytes of all objects new to the user's repository, each hashed once per read. */
    static final long MAX_TOTAL_BYTES = 4L << 30;
    /** Bytes of one commit or tree, held whole to be checked. */
    static final int MAX_META_BYTES = 64 << 20;
    /** Bytes of the agent's packs, all of them, indexed anew when a loose object is not enough. */
    static final long MAX_PACK_BYTES = 1L << 30;
    /**
     * Bytes of one object in the agent's packs: JGit resolves a delta with its base and its
     * result both in memory.
     */
    static final long MAX_PACKED_OBJECT_BYTES = 256L << 20;
    /** Loose objects linked from the agent's object directory: git packs them at 6,700 ({@code gc.auto}). */
    static final int MAX_LOOSE = 100_000;
    /** Entries of the agent's {@code objects} or {@code objects/pack} directory listed. */
    private static final int MAX_ENTRIES = 10_000;

    private static final Pattern FANOUT = Pattern.compile("[0-9a-f]{2}");
    private static final Pattern LOOSE = Pattern.compile("[0-9a-f]{38}");
    private static final Pattern PACK = Pattern.compile("pack-[0-9a-f]{40}\\.pack");

    /**
     * What reading the agent's history found.
     *
     * @param head    the commit to take, or null when there is none beyond the base or it was left out
     * @param ref     the ref HEAD ends at ({@code refs/heads/main}, or {@code HEAD} when detached), null without HEAD
     * @param commits the commits reachable from {@code head} and not from the base
     * @param problem why the history was left out (one phrase), or null
     * @param linear  whether {@code commits} continue the base in a line: each has one parent,
     *                and following the first from {@code head} reaches the base (a root commit
     *                when there is no base) through them alone
     * @param summary the first {@link #SUMMARY} of {@code commits}, newest first, each as
     *                {@code <12 hex> <subject>} with its subject cut and made printable
     */
    record Found(ObjectId head, String ref, Set<ObjectId> commits, String problem, boolean linear,
            List<String> summary) {
        static Found leftOut(String ref, String problem) {
            return new Found(null, ref, Set.of(), problem, false, List.of());
        }

        /** No commit beyond the base: HEAD is the base, or there is no HEAD ({@code ref} null). */
        static Found none(String ref) {
            return new Found(null, ref, Set.of(), null, true, List.of());
        }
    }

    /** Commits {@link Found#summary} names. */
    static final int SUMMARY = 20;
    /** Characters of a subject {@link Found#summary} keeps. */
    private static final int SUBJECT = 72;

    /** An object checked and to be copied. */
    private record Entry(ObjectId id, int type) {
    }

    private AgentHistory() {
    }

    /**
     * The agent's history over the snapshot's base commit {@code base} (null: none), checked
     * as {@link AgentHistory} says; {@code scratch} is a directory in the sandbox's own
     * directory that it makes and removes. Never throws for what the agent wrote: a history
     * that can't be taken is {@link Found#problem}.
     */
    static Found read(Repository user, Path upper, Path lower, List<Path> layers, ObjectId base, Path scratch) {
        AgentRefs.Head head;
        try {
            head = AgentRefs.head(upper, lower);
        } catch (AgentRefs.Bad e) {
            return Found.leftOut(null, e.getMessage());
        }
        if (head.id() == null || head.id().equals(base)) {
            return Found.none(head.ref());
        }
        try (Scratch s = Scratch.make(user, upper, layers, scratch)) {
            Checked c = s.check(head.id(), base);
            return new Found(head.id(), head.ref(), c.commits(), null, c.linear(), c.summary());
        } catch (AgentRefs.Bad e) {
            return Found.leftOut(head.ref(), e.getMessage());
        } catch (IOException | RuntimeException e) {
            // RuntimeException: what JGit throws for objects it can't hold or parse
            return Found.leftOut(head.ref(), "can't read its objects: " + message(e));
        } finally {
            delete(scratch);
        }
    }

    /**
     * Copies every object reachable from {@code head} but not from {@code base} that the
     * user's repository lacks into it, checked again as {@link #read} checks them (the agent
     * may still be at work), each copy verified to get the id it was checked under.
     * {@code scratch} is made and removed as for {@link #read}.
     *
     * @throws AgentRefs.Bad when the history no longer passes the checks
     * @throws IOException when the user's repository can't be written
     */
    static void importObjects(Repository user, Path upper, Path lower, List<Path> layers, ObjectId head, ObjectId base,
            Path scratch)
            throws IOException, AgentRefs.Bad {
        try (Scratch s = Scratch.make(user, upper, layers, scratch)) {
            Checked c = s.check(head, base);
            copy(s.repo, user, c);
        } catch (RuntimeException e) {
            throw new AgentRefs.Bad("can't read its objects: " + message(e));
        } finally {
            delete(scratch);
        }
    }

    /** Copies what {@code c} lists from {@code from} into {@code user}, each under the id it was checked under. */
    private static void copy(Repository from, Repository user, Checked c) throws IOException, AgentRefs.Bad {
        try (ObjectReader reader = from.newObjectReader(); ObjectInserter inserter = new LooseInserter(user)) {
            for (Entry e : c.copy()) {
                ObjectLoader loader = reader.open(e.id(), e.type());
                ObjectId got;
                try (InputStream in = loader.openStream()) {
                    got = inserter.insert(e.type(), loader.getSize(), in);
                }
                if (!got.equals(e.id())) {
                    throw new AgentRefs.Bad(typeName(e.type()) + " " + abbrev(e.id()) + " changed while it was copied");
                }
            }
            inserter.flush();
        }
    }

    private static String message(Exception e) {
        return AgentRefs.printable(e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName());
    }

    /**
     * The commits new over the base, and the objects the user's repository lacks, in the
     * order found; whether the commits continue the base in a line, and their summary (see {@link Found}).
     */
    private record Checked(Set<ObjectId> commits, List<Entry> copy, boolean linear, List<String> summary) {
    }

    /** The scratch repository {@link AgentHistory} reads through. */
    private static final class Scratch implements AutoCloseable {
        private final Path dir;
        private final Repository user;
        private final Path upper;
        private final List<String> packs;
        private Repository repo;
        private boolean packsRead;

        private Scratch(Path dir, Repository user, Path upper, List<String> packs) throws IOException {
            this.dir = dir;
            this.user = user;
            this.upper = upper;
            this.packs = packs;
            this.repo = open(dir.resolve("git"));
        }

        private static Repository open(Path git) throws IOException {
            return new FileRepositoryBuilder().setGitDir(git.toFile()).setMustExist(true).build();
        }

        private static Path init(Path git) throws IOException {
            Files.createDirectories(git.resolve("refs"));
            Files.createDirectories(git.resolve("objects/info"));
            Files.createDirectories(git.resolve("objects/pack"));
            Files.writeString(git.resolve("HEAD"), "ref: refs/heads/main\n");
            return git;
        }

        static Scratch make(Repository user, Path upper, List<Path> layers, Path dir)
                throws IOException, AgentRefs.Bad {
            delete(dir); // a leftover of a killed process that had our pid
            Path git = init(dir.resolve("git"));
            Path shallow = user.getDirectory().toPath().resolve("shallow");
            if (Files.isRegularFile(shallow, LinkOption.NOFOLLOW_LINKS)) {
                Files.copy(shallow, git.resolve("shallow")); // the user's own: commits whose parents are absent
            }
            Path agent = Files.createDirectories(dir.resolve("agent"));
            List<String> packs = linkLoose(upper, agent);
            Path packed = init(dir.resolve("packs")).resolve("objects");
            List<String> alternates = new ArrayList<>();
            // The user's own objects first, then the snapshot's (the user's copy), then the
            // agent's: a copy the user has is always found before one the agent wrote. A
            // layered snapshot's objects are those of each layer's .git/objects: objects are
            // named by their content, so the union of the layers holds what the merged view
            // does (and maybe objects a later layer whited out, which are no less right), and
            // each is a real directory, where a view's /proc/PID/root path is not one that
            // JGit can open (it canonicalises an alternate, resolving that link to /).
            List<Path> dirs = new ArrayList<>();
            dirs.add(user.getDirectory().toPath().resolve("objects"));
            layers.forEach(l -> dirs.add(l.resolve(".git/objects")));
            for (Path objects : dirs) {
                if (Files.isDirectory(objects)) {
                    alternates.add(objects.toAbsolutePath().toString());
                }
            }
            alternates.add(agent.toAbsolutePath().toString());
            alternates.add(packed.toAbsolutePath().toString());
            Files.write(git.resolve("objects/info/alternates"), alternates);
            return new Scratch(dir, user, upper, packs);
        }

        /**
         * Hard-links the loose objects of the upper layer's {@code .git/objects} into {@code agent}
         * ({@code XX/<38 hex>} names only, regular files only); returns the names of its packs.
         */
        private static List<String> linkLoose(Path upper, Path agent) throws IOException, AgentRefs.Bad {
            List<String> packs = new ArrayList<>();
            int linked = 0;
            try (SafeOpen.Dir objects = SafeOpen.openDir(upper, ".git/objects")) {
                for (String fanout : objects.names(MAX_ENTRIES)) {
                    if (!FANOUT.matcher(fanout).matches()) {
                        continue; // info/alternates, commit-graph, multi-pack-index... are never read
                    }
                    try (SafeOpen.Dir dir = SafeOpen.openDir(upper, ".git/objects/" + fanout)) {
                        Path to = null;
                        for (String name : dir.names(MAX_LOOSE)) {
                            if (!LOOSE.matcher(name).matches()) {
                                continue;
                            }
                            if (++linked > MAX_LOOSE) {
                                throw new AgentRefs.Bad("it has more than " + MAX_LOOSE + " loose objects");
                            }
                            if (to == null) {
                                to = Files.createDirectories(agent.resolve(fanout));
                            }
                            take(dir, name, to.resolve(name));
                        }
                    } catch (SafeOpen.NotRegular e) {
                        // not a directory, or a symlink: no objects there
                    }
                }
                try (SafeOpen.Dir pack = SafeOpen.openDir(upper, ".git/objects/pack")) {
                    for (String name : pack.names(MAX_ENTRIES)) {
                        if (PACK.matcher(name).matches()) {
                            packs.add(name);
                        }
                    }
                } catch (SafeOpen.NotRegular e) {
                    // no packs
                }
            } catch (SafeOpen.NotRegular e) {
                // no object directory of the agent's, or not one to read: the user's objects may do
            }
            packs.sort(null);
            return packs;
        }

        /**
         * {@code name} of {@code dir} at {@code target}: a hard link when the kernel allows one, a
         * bounded copy otherwise; nothing when it is not a regular file.
         */
        private static void take(SafeOpen.Dir dir, String name, Path target) throws IOException {
            try {
                dir.link(name, target);
                if (!Files.readAttributes(target, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
                        .isRegularFile()) {
                    Files.delete(target); // a symlink, FIFO, socket, device or whiteout: never read
                }
                return;
            } catch (IOException e) {
                // another filesystem (EXDEV), or fs.protected_hardlinks: copy it instead
            }
            try (SafeOpen.Regular r = dir.open(name)) {
                if (r.size() > MAX_OBJECT_BYTES) {
                    return;
                }
                try (InputStream in = r.stream(MAX_OBJECT_BYTES); OutputStream out = Files.newOutputStream(target)) {
                    in.transferTo(out);
                }
            } catch (SafeOpen.NotRegular e) {
                // not a regular file: never read
            }
        }

        /**
         * Reads the agent's packs, up to {@link #MAX_PACK_BYTES}, into a repository of their own
         * (so that nothing is compared with the user's objects) that this one has as an
         * alternate; returns what went wrong, or null.
         */
        private String readPacks() throws IOException {
            packsRead = true;
            List<String> problems = new ArrayList<>();
            try (Repository into = open(dir.resolve("packs"))) {
                readPacks(into, problems);
            }
            repo.close();
            repo = open(dir.resolve("git")); // sees the new packs
            return problems.isEmpty() ? null : String.join("; ", problems);
        }

        private void readPacks(Repository into, List<String> problems) {
            long total = 0;
            for (String name : packs) {
                String rel = ".git/objects/pack/" + name;
                try (SafeOpen.Regular r = SafeOpen.open(upper, rel)) {
                    total += r.size();
                    if (total > MAX_PACK_BYTES) {
                        problems.add("its packs hold more than " + MAX_PACK_BYTES + " bytes");
                        break;
                    }
                    try (ObjectInserter ins = into.newObjectInserter(); InputStream in = r.stream(r.size())) {
                        PackParser p = ins.newPackParser(in);
                        p.setAllowThin(false);
                        p.setMaxObjectSizeLimit(MAX_PACKED_OBJECT_BYTES);
                        p.parse(NullProgressMonitor.INSTANCE);
                        ins.flush();
                    }
                } catch (SafeOpen.NotRegular e) {
                    problems.add("'" + rel + "' is not a regular file");
                } catch (IOException | RuntimeException e) {
                    problems.add("'" + rel + "' can't be read: " + AgentRefs.printable(String.valueOf(e.getMessage())));
                }
            }
        }

        /** The history from {@code head} over {@code base}, checked; the agent's packs are read only when needed. */
        Checked check(ObjectId head, ObjectId base) throws IOException, AgentRefs.Bad {
            try {
                return walk(head, base);
            } catch (MissingObjectException e) {
                if (packsRead || packs.isEmpty()) {
                    throw missing(e, null);
                }
                String problem = readPacks();
                try {
                    return walk(head, base);
                } catch (MissingObjectException again) {
                    throw missing(again, problem);
                }
            }
        }

        private static AgentRefs.Bad missing(MissingObjectException e, String packProblem) {
            String[] words = String.valueOf(e.getMessage()).split(" ");
            String type = words.length == 3 && words[0].equals("Missing") && !words[1].equals("unknown") ? words[1] + " "
                    : "object ";
            return new AgentRefs.Bad(type + abbrev(e.getObjectId()) + " is missing from its objects"
                    + (packProblem == null ? "" : " (" + packProblem + ")"));
        }

        private Checked walk(ObjectId head, ObjectId base) throws IOException, AgentRefs.Bad {
            // Not JGit's Windows rules: they refuse ':' and control characters in any name, which
            // git fsck --strict accepts (a '10:30.log'); the .git spellings Windows resolves are
            // refused without them, as git's protectNTFS does (see ntfsDotGit).
            ObjectChecker checker = new ObjectChecker().setSafeForWindows(false).setSafeForMacOS(true);
            ObjectInserter.Formatter hash = new ObjectInserter.Formatter();
            Set<ObjectId> commits = new LinkedHashSet<>();
            List<Entry> copy = new ArrayList<>();
            Deque<ObjectId> trees = new ArrayDeque<>();
            Set<ObjectId> seen = new HashSet<>();
            long[] bytes = {0};
            try (ObjectReader reader = repo.newObjectReader(); ObjectReader have = user.newObjectReader();
                    RevWalk walk = new RevWalk(reader)) {
                RevCommit start;
                try {
                    start = walk.parseCommit(head);
                } catch (MissingObjectException e) {
                    throw new MissingObjectException(head.copy(), Constants.OBJ_COMMIT); // HEAD names a commit
                } catch (IncorrectObjectTypeException e) {
                    throw new AgentRefs.Bad("its HEAD names " + abbrev(head) + ", which is not a commit");
                }
                walk.markStart(start);
                if (base != null && reader.has(base)) {
                    walk.markUninteresting(walk.parseCommit(base));
                }
                for (RevCommit c = walk.next(); c != null; c = walk.next()) {
                    if (commits.size() == MAX_COMMITS) {
                        throw new AgentRefs.Bad("it has more than " + MAX_COMMITS + " commits");
                    }
                    commits.add(c.copy());
                    if (have.has(c)) {
                        continue; // the user's own already, and so is all it holds
                    }
                    meta(reader, c, Constants.OBJ_COMMIT, hash, checker, bytes);
                    copy.add(new Entry(c.copy(), Constants.OBJ_COMMIT));
                    trees.add(c.getTree().copy());
                }
                while (!trees.isEmpty()) {
                    ObjectId tree = trees.pop();
                    if (!seen.add(tree) || have.has(tree)) {
                        continue;
                    }
                    count(copy);
                    byte[] raw = meta(reader, tree, Constants.OBJ_TREE, hash, checker, bytes);
                    copy.add(new Entry(tree, Constants.OBJ_TREE));
                    CanonicalTreeParser p = new CanonicalTreeParser();
                    p.reset(raw);
                    for (; !p.eof(); p.next()) {
                        if (ntfsDotGit(p.getEntryPathBuffer(), p.getNameLength())) {
                            throw new AgentRefs.Bad("tree " + abbrev(tree) + ": invalid name '"
                                    + AgentRefs.printable(p.getEntryPathString()) + "' (git fsck: hasDotgit)");
                        }
                        FileMode mode = p.getEntryFileMode();
                        ObjectId id = p.getEntryObjectId();
                        if (mode == FileMode.TREE) {
                            trees.push(id);
                        } else if (mode != FileMode.GITLINK && seen.add(id) && !have.has(id)) {
                            count(copy);
                            blob(reader, id, hash, bytes);
                            copy.add(new Entry(id, Constants.OBJ_BLOB));
                        }
                    }
                }
                for (GitmoduleEntry m : checker.getGitsubmodules()) {
                    gitmodules(reader, m);
                }
                return new Checked(commits, copy, linear(start, base, commits), summary(walk, commits));
            } catch (CorruptObjectException e) {
                throw new AgentRefs.Bad("an object can't be read: " + AgentRefs.printable(e.getMessage()));
            } catch (RuntimeException e) {
                // JGit's LargeObjectException and the like, on objects it can't hold
                throw new AgentRefs.Bad("an object can't be read: " + message(e));
            }
        }

        /**
         * Whether a tree entry's name is {@code .git} as NTFS reads a name with an alternate
         * data stream or a backslash ({@code .git::$INDEX_ALLOCATION}, {@code .GIT\\x}): git's
         * {@code is_ntfs_dotgit} (path.c) refuses them on every system; JGit does only with its
         * Windows rules, which refuse much more.
         */
        private static boolean ntfsDotGit(byte[] name, int length) {
            if (length < 5 || name[0] != '.') {
                return false;
            }
            for (int i = 1; i < 4; i++) {
                if (Character.toLowerCase(name[i]) != ".git".charAt(i)) {
                    return false;
                }
            }
            return name[4] == ':' || name[4] == '\\';
        }

        /** Whether first parents from {@code head} reach {@code base} through {@code commits} alone, none a merge. */
        private static boolean linear(RevCommit head, ObjectId base, Set<ObjectId> commits) {
            RevCommit c = head;
            for (int steps = 0; steps < commits.size(); steps++) {
                if (c.getParentCount() == 0) {
                    return base == null;
                }
                if (c.getParentCount() != 1) {
                    return false;
                }
                RevCommit parent = c.getParent(0);
                if (parent.equals(base)) {
                    return true;
                }
                if (!commits.contains(parent)) {
                    return false;
                }
                c = parent;
            }
            return false;
        }

        private static List<String> summary(RevWalk walk, Set<ObjectId> commits) throws IOException {
            List<String> lines = new ArrayList<>();
            for (ObjectId id : commits) {
                if (lines.size() == SUMMARY) {
                    break;
                }
                RevCommit c = walk.parseCommit(id);
                String subject = AgentRefs.printable(c.getShortMessage());
                lines.add(abbrev(id) + " " + (subject.length() > SUBJECT ? subject.substring(0, SUBJECT - 1) + "…"
                        : subject));
            }
            return List.copyOf(lines);
        }

        private static void count(List<Entry> copy) throws AgentRefs.Bad {
            if (copy.size() >= MAX_OBJECTS) {
                throw new AgentRefs.Bad("it brings more than " + MAX_OBJECTS + " new objects");
            }
        }

        /** A commit's or tree's bytes, hashed and checked as {@code git fsck --strict} would. */
        private static byte[] meta(ObjectReader reader, ObjectId id, int type, ObjectInserter.Formatter hash,
                ObjectChecker checker, long[] bytes) throws IOException, AgentRefs.Bad {
            ObjectLoader loader;
            try {
                loader = reader.open(id, type);
            } catch (IncorrectObjectTypeException e) {
                throw new AgentRefs.Bad(abbrev(id) + " is not a " + typeName(type) + " as its history says");
            }
            if (loader.getSize() > MAX_META_BYTES) {
                throw new AgentRefs.Bad(typeName(type) + " " + abbrev(id) + " is " + loader.getSize()
                        + " bytes, over the limit of " + MAX_META_BYTES);
            }
            total(bytes, loader.getSize());
            byte[] raw = loader.getCachedBytes(MAX_META_BYTES);
            if (!hash.idFor(type, raw).equals(id)) {
                throw new AgentRefs.Bad(typeName(type) + " " + abbrev(id) + " does not hash to its name");
            }
            try {
                checker.check(id, type, raw);
            } catch (CorruptObjectException e) {
                throw new AgentRefs.Bad(typeName(type) + " " + abbrev(id) + ": " + why(e, id) + (e.getErrorType() == null
                        ? "" : " (git fsck: " + e.getErrorType().getMessageId() + ")"));
            }
            return raw;
        }

        private static void blob(ObjectReader reader, ObjectId id, ObjectInserter.Formatter hash, long[] bytes)
                throws IOException, AgentRefs.Bad {
            ObjectLoader loader;
            try {
                loader = reader.open(id, Constants.OBJ_BLOB);
            } catch (IncorrectObjectTypeException e) {
                throw new AgentRefs.Bad(abbrev(id) + " is not a blob as its tree says");
            }
            long size = loader.getSize();
            if (size > MAX_OBJECT_BYTES) {
                throw new AgentRefs.Bad("blob " + abbrev(id) + " is " + size + " bytes, over the limit of "
                        + MAX_OBJECT_BYTES);
            }
            total(bytes, size);
            try (InputStream in = loader.openStream()) {
                if (!hash.idFor(Constants.OBJ_BLOB, size, in).equals(id)) {
                    throw new AgentRefs.Bad("blob " + abbrev(id) + " does not hash to its name");
                }
            }
        }

        private static void total(long[] bytes, long size) throws AgentRefs.Bad {
            bytes[0] += size;
            if (bytes[0] > MAX_TOTAL_BYTES) {
                throw new AgentRefs.Bad("its new objects hold more than " + MAX_TOTAL_BYTES + " bytes");
            }
        }

        /** A {@code .gitmodules} the history brings, checked as git fsck does (no option-like URL or path). */
        private static void gitmodules(ObjectReader reader, GitmoduleEntry m) throws IOException, AgentRefs.Bad {
            ObjectLoader loader = reader.open(m.getBlobId(), Constants.OBJ_BLOB);
            if (loader.getSize() > MAX_META_BYTES) {
                throw new AgentRefs.Bad("the .gitmodules of tree " + abbrev(m.getTreeId()) + " is too large");
            }
            try {
                SubmoduleValidator.assertValidGitModulesFile(
                        new String(loader.getCachedBytes(MAX_META_BYTES), java.nio.charset.StandardCharsets.UTF_8));
            } catch (SubmoduleValidator.SubmoduleValidationException e) {
                throw new AgentRefs.Bad("the .gitmodules of tree " + abbrev(m.getTreeId()) + ": "
                        + AgentRefs.printable(e.getMessage()) + " (git fsck: " + e.getFsckMessageId().getMessageId()
                        + ")");
            }
        }

        @Override
        public void close() {
            repo.close();
        }
    }

    /** What JGit says is wrong, without the error type and object id it prefixes. */
    private static String why(CorruptObjectException e, ObjectId id) {
        String m = String.valueOf(e.getMessage());
        int at = m.indexOf(id.name() + ": ");
        return AgentRefs.printable(at >= 0 ? m.substring(at + id.name().length() + 2) : m);
    }

    private static String typeName(int type) {
        return Constants.typeString(type);
    }

    private static String abbrev(AnyObjectId id) {
        return id.abbreviate(12).name();
    }

    /** Removes a scratch directory: only what this class made is in it, hard links to be unlinked. */
    static void delete(Path dir) {
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (NoSuchFileException e) {
            // nothing there
        } catch (IOException e) {
            // left for the sandbox's removal
        }
    }
}
