package dev.sandbox.harvest;

import dev.sandbox.harvest.Overlay.Kind;
import dev.sandbox.sys.SafeOpen;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.eclipse.jgit.dircache.DirCache;
import org.eclipse.jgit.dircache.DirCacheEntry;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectDatabase;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.util.FS;

/**
 * What an agent left in the git directories of its sandbox that exists nowhere else, for
 * {@code run --rm}, which must never remove work. The snapshot's copy of a git directory is
 * the user's own, so only what differs from it can be lost.
 *
 * <p>In the repository's own {@code .git}, work is: a ref that is new or names something
 * else (a branch, a tag, the stash, HEAD switched to another branch); index entries, new or
 * changed since the snapshot, that stage what the working tree does not hold (a change
 * staged and then edited again, a staged deletion of a file still there, a merge's
 * conflicts); a reflog entry or a pseudo-ref such as {@code ORIG_HEAD} that names an object
 * the user's repository lacks (a commit made and then reset away); and any other file
 * written with new content (config, hooks, an interrupted rebase's state). Not work:
 * objects, which matter only through the refs and the index that name them; an index that
 * {@code git status} only refreshed (same entries, new stat data) or that stages exactly
 * the working tree; {@code COMMIT_EDITMSG}, {@code AUTO_MERGE} and {@code info/refs}, which
 * repeat what a commit, the working tree or the refs hold; deletions; files rewritten as
 * they were. In other git directories (a submodule's under {@code .git/modules}, a
 * repository nested in the tree) every change but new objects and an index with the same
 * entries is work.
 *
 * <p>All of it was written by the agent: files are read through {@link SafeOpen} with bounds
 * (what is too large to compare counts as work), indexes through {@link AgentIndex}, walks
 * keep their own stack, and a symlink, FIFO or other special file is judged by what
 * {@code lstat} and {@code readlink} say of it, never opened.
 */
final class GitDirWork {
    /** Bytes of a file, reflog or pseudo-ref compared with the snapshot's; a larger one is work, unread. */
    static final long MAX_COMPARED = 64L << 20;
    /** Bytes of a working-tree file hashed to compare with what the index stages; a larger one differs. */
    static final long MAX_HASHED = 1L << 30;
    /** Bytes of one reflog or pseudo-ref line; a longer one names something nobody can tell. */
    private static final int MAX_LINE = 65536;
    /** Moved refs named; more are work too, which needs no more names. */
    private static final int MAX_REFS = 1000;
    /** Characters of a path below the upper layer walked into; deeper is work, unwalked. */
    private static final int MAX_PATH = 3500;
    /** Entries of one directory listed; a larger directory is work, unwalked. */
    private static final int MAX_ENTRIES = 10_000;

    private final Path upper;
    private final Path lower;
    private final ObjectDatabase user;
    private final String accounted;
    private final Set<ObjectId> counted;
    private final Path scratch;
    private final Set<String> found = new LinkedHashSet<>();
    /** Refs already found new or moved, so that their reflogs need not be named too. */
    private final Set<String> movedRefs = new HashSet<>();
    private int indexCopies;

    private GitDirWork(Path upper, Path lower, ObjectDatabase user, String accounted, Set<ObjectId> counted,
            Path scratch) {
        this.upper = upper;
        this.lower = lower;
        this.user = user;
        this.accounted = accounted;
        this.counted = counted;
        this.scratch = scratch;
    }

    /**
     * The work in the git directories of {@code upper} over the snapshot tree {@code lower}, one
     * short phrase each ("stash", "staged changes", ".git/config"); empty when there is none.
     * {@code user} is the user's object database. The caller counted {@code commits} as work,
     * and with them the move of {@code accountedRef} (a ref name, or HEAD when detached) to
     * them: neither is named again. {@code nestedGitDirs} are the {@code .git} entries of
     * repositories nested in the tree. {@code scratch} is a directory in the sandbox's own
     * directory for copies of indexes, which the caller removes.
     *
     * @throws IOException when a layer or the snapshot's own files cannot be read: then nobody can tell
     */
    static List<String> read(Path upper, Path lower, ObjectDatabase user, String accountedRef, Set<ObjectId> commits,
            List<String> nestedGitDirs, Path scratch) throws IOException {
        GitDirWork w = new GitDirWork(upper, lower, user, accountedRef, commits, scratch);
        w.gitDir(".git", true);
        for (String nested : nestedGitDirs) {
            w.gitDir(nested, false);
        }
        return List.copyOf(w.found);
    }

    private void gitDir(String path, boolean own) throws IOException {
        Path u = upper.resolve(path);
        Path l = lower.resolve(path);
        switch (Overlay.kind(u)) {
            case MISSING, WHITEOUT -> {
                // untouched, or deleted: the user's own is still there
            }
            case DIR -> {
                Path before = Overlay.kind(l) == Kind.DIR ? l : null;
                if (own) {
                    refs(before);
                }
                walk(path, u, before, own);
            }
            default -> {
                if (!same(u, l)) {
                    found.add(path); // a worktree's or submodule's "gitdir:" file, rewritten
                }
            }
        }
    }

    /** A directory being walked: its path below the git directory ("" or "refs/heads/"), and its names left. */
    private record Frame(String rel, Path u, Path l, boolean isGitDir, Iterator<String> names) {
    }

    /** Walks the git directory {@code u} over the snapshot's {@code l}, depth first in name order. */
    private void walk(String gitDir, Path u, Path l, boolean own) throws IOException {
        Deque<Frame> stack = new ArrayDeque<>();
        stack.push(frame(gitDir, "", u, l, own));
        while (!stack.isEmpty()) {
            Frame f = stack.peek();
            if (!f.names().hasNext()) {
                stack.pop();
                continue;
            }
            String name = f.names().next();
            Path cu = f.u().resolve(name);
            Path cl = f.l() == null ? null : f.l().resolve(name);
            String r = f.rel() + name;
            Kind kind = Overlay.kind(cu);
            if (kind == Kind.WHITEOUT || kind == Kind.MISSING) {
                continue;
            }
            if (kind == Kind.DIR) {
                if (f.isGitDir() && name.equals("objects")) {
                    continue;
                }
                if (cu.toString().length() > MAX_PATH) {
                    found.add(phrase(gitDir, r, own)); // deeper than any git writes: work, whatever it holds
                    continue;
                }
                stack.push(frame(gitDir, r + "/", cu, cl != null && Overlay.kind(cl) == Kind.DIR ? cl : null, own));
                continue;
            }
            boolean top = own && f.rel().isEmpty();
            if (kind != Kind.FILE) {
                if (!same(cu, cl)) {
                    found.add(phrase(gitDir, r, own));
                }
            } else if (top && name.equals("index")) {
                if (stagesWork(cu, cl)) {
                    found.add("staged changes");
                }
            } else if (f.isGitDir() && name.equals("index")) {
                if (!sameEntries(cu, cl)) {
                    found.add(phrase(gitDir, r, own));
                }
            } else if (top && (name.equals("HEAD") || name.equals("packed-refs") || name.equals("COMMIT_EDITMSG")
                    || name.equals("AUTO_MERGE")) || own && (r.startsWith("refs/") || r.equals("info/refs"))) {
                continue; // refs are judged by what they name; the others repeat what is judged elsewhere
            } else if (own && r.startsWith("logs/")) {
                if (!movedRefs.contains(r.substring("logs/".length())) && namesNewObject(cu, cl, 2)) {
                    found.add("reflog entries");
                }
            } else if (top && name.endsWith("HEAD")) {
                if (namesNewObject(cu, cl, 1)) {
                    found.add(name);
                }
            } else if (!same(cu, cl)) {
                found.add(phrase(gitDir, r, own));
            }
        }
    }

    private Frame frame(String gitDir, String rel, Path u, Path l, boolean own) throws IOException {
        boolean isGitDir = Files.exists(u.resolve("HEAD"), LinkOption.NOFOLLOW_LINKS)
                || l != null && Files.exists(l.resolve("HEAD"), LinkOption.NOFOLLOW_LINKS);
        return new Frame(rel, u, l, isGitDir, names(gitDir, rel, u, own).iterator());
    }

    /** How work at {@code rel} of {@code gitDir} is named: the path in the own {@code .git}, else the git directory. */
    private static String phrase(String gitDir, String rel, boolean own) {
        return AgentRefs.printable(own && !rel.isEmpty() ? gitDir + "/" + rel : gitDir);
    }

    /** New and moved refs of the repository's own {@code .git}, loose or packed, and HEAD switched. */
    private void refs(Path l) throws IOException {
        Path head = upper.resolve(".git/HEAD");
        if (Overlay.kind(head) == Kind.FILE && !"HEAD".equals(accounted)) {
            String now = small(upper, head);
            if (now == null || !now.equals(l == null ? null : small(lower, l.resolve("HEAD")))) {
                movedRefs.add("HEAD");
                found.add(now == null ? ".git/HEAD" : now.startsWith("ref: refs/heads/")
                        ? "HEAD on branch '" + AgentRefs.printable(now.substring(16)) + "'" : "HEAD detached");
            }
        }
        Map<String, String> looseBefore = new HashMap<>();
        Map<String, String> packedBefore = new HashMap<>();
        if (l != null) {
            looseRefs(lower, l.resolve("refs"), (ref, p) -> looseBefore.put(ref, small(lower, p)));
            Path packed = l.resolve("packed-refs");
            if (Overlay.kind(packed) == Kind.FILE) {
                try (SafeOpen.Regular r = SafeOpen.open(lower, packed)) {
                    AgentRefs.eachPackedLine(r.stream(Long.MAX_VALUE), ".git/packed-refs", (ref, id) -> {
                        packedBefore.put(ref, id);
                        return true;
                    });
                } catch (AgentRefs.Bad e) {
                    throw new IOException("the snapshot's .git/packed-refs: " + e.getMessage());
                }
            }
        }
        Map<String, String> moved = new TreeMap<>();
        if (Overlay.kind(upper.resolve(".git/packed-refs")) == Kind.FILE) {
            try {
                AgentRefs.eachPacked(upper, lower, (ref, id) -> {
                    String before = looseBefore.getOrDefault(ref, packedBefore.get(ref));
                    if (!AgentRefs.validRef(ref)) {
                        found.add(".git/packed-refs");
                    } else if (!id.equals(before)) {
                        String loose = AgentRefs.readRef(upper, lower, ".git/" + ref);
                        String now = loose != null ? loose : id;
                        if (!now.equals(before)) {
                            moved.put(ref, now);
                        }
                    }
                    return moved.size() < MAX_REFS;
                });
            } catch (AgentRefs.Bad e) {
                found.add(".git/packed-refs");
            }
        }
        looseRefs(upper, upper.resolve(".git/refs"), (ref, p) -> {
            if (!AgentRefs.validRef(ref)) {
                found.add(AgentRefs.printable(".git/" + ref));
                return;
            }
            if (Overlay.kind(p) != Kind.FILE && Overlay.kind(p) != Kind.WHITEOUT) {
                return; // a symlink or FIFO where a ref should be: the walk names it
            }
            String now;
            try {
                now = AgentRefs.readRef(upper, lower, ".git/" + ref);
            } catch (AgentRefs.Bad e) {
                moved.put(ref, ""); // too large, or unreadable: nobody can tell what it names
                return;
            }
            if (now == null) {
                return; // deleted, or a directory: a packed value shows through, judged above
            }
            if (now.equals(looseBefore.getOrDefault(ref, packedBefore.get(ref)))) {
                moved.remove(ref);
            } else if (moved.size() < MAX_REFS) {
                moved.put(ref, now);
            }
        });
        for (String ref : moved.keySet()) {
            if (!ref.equals(accounted)) {
                movedRefs.add(ref);
                found.add(describe(ref));
            }
        }
    }

    private static String describe(String ref) {
        if (ref.equals("refs/stash")) {
            return "stash";
        }
        for (String[] kind : new String[][] {{"refs/heads/", "branch"}, {"refs/tags/", "tag"},
            {"refs/remotes/", "remote-tracking branch"}}) {
            if (ref.startsWith(kind[0])) {
                return kind[1] + " '" + AgentRefs.printable(ref.substring(kind[0].length())) + "'";
            }
        }
        return "ref '" + AgentRefs.printable(ref) + "'";
    }

    /** What {@link #looseRefs} hands over: a ref's name and its entry. */
    private interface LooseRef {
        void accept(String ref, Path entry) throws IOException;
    }

    /**
     * Hands over the loose refs below the {@code refs} directory {@code dir} of {@code root},
     * deleted ones included (a packed value may show through); a walk with its own stack.
     */
    private static void looseRefs(Path root, Path dir, LooseRef each) throws IOException {
        Deque<Path> dirs = new ArrayDeque<>();
        if (Overlay.kind(dir) == Kind.DIR) {
            dirs.push(dir);
        }
        while (!dirs.isEmpty()) {
            Path d = dirs.pop();
            for (Path p : entries(d)) {
                if (Overlay.kind(p) == Kind.DIR) {
                    if (p.toString().length() <= MAX_PATH) {
                        dirs.push(p);
                    }
                } else {
                    each.accept("refs/" + dir.relativize(p), p);
                }
            }
        }
    }

    /**
     * Whether what {@code u} has beyond the snapshot's {@code l} (all of it, unless it only
     * grew) names an object the user's repository lacks, in the first {@code ids} fields of a
     * line; a line without them, or one too long to read, counts as naming one, since nobody
     * can tell. Streamed; a file over {@link #MAX_COMPARED} bytes counts as naming one, unread.
     */
    private boolean namesNewObject(Path u, Path l, int ids) throws IOException {
        long from = 0;
        try (SafeOpen.Regular now = SafeOpen.open(upper, u)) {
            if (now.size() > MAX_COMPARED) {
                return true;
            }
            try (SafeOpen.Regular before = l == null ? null : openLower(l)) {
                if (before != null && before.size() <= now.size()
                        && prefix(before.stream(MAX_COMPARED), now.stream(MAX_COMPARED), before.size())) {
                    from = before.size(); // it only grew: the old entries are the user's
                }
            }
        } catch (SafeOpen.NotRegular e) {
            return true;
        }
        try (SafeOpen.Regular now = SafeOpen.open(upper, u)) {
            InputStream in = new BufferedInputStream(now.stream(MAX_COMPARED), 65536);
            in.skipNBytes(from);
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            for (int c = in.read();; c = in.read()) {
                if (c == '\n' || c < 0) {
                    if (namesNewObject(line.toString(StandardCharsets.UTF_8), ids)) {
                        return true;
                    }
                    if (c < 0) {
                        return false;
                    }
                    line.reset();
                } else if (line.size() == MAX_LINE) {
                    return true;
                } else {
                    line.write(c);
                }
            }
        } catch (SafeOpen.NotRegular | EOFException e) {
            return true; // replaced or cut short since: nobody can tell
        }
    }

    private boolean namesNewObject(String line, int ids) throws IOException {
        if (line.isBlank()) {
            return false;
        }
        String[] fields = line.split("[ \t]", ids + 1);
        if (fields.length < ids) {
            return true;
        }
        for (int i = 0; i < ids; i++) {
            if (!ObjectId.isId(fields[i])) {
                return true;
            }
            ObjectId id = ObjectId.fromString(fields[i]);
            if (!id.equals(ObjectId.zeroId()) && !counted.contains(id) && !user.has(id)) {
                return true;
            }
        }
        return false;
    }

    /** Whether the first {@code n} bytes of {@code a} and {@code b} are the same. */
    private static boolean prefix(InputStream a, InputStream b, long n) throws IOException {
        byte[] x = new byte[65536];
        byte[] y = new byte[65536];
        for (long left = n; left > 0;) {
            int want = (int) Math.min(x.length, left);
            int got = a.readNBytes(x, 0, want);
            if (got != want || b.readNBytes(y, 0, want) != want || !Arrays.equals(x, 0, want, y, 0, want)) {
                return false;
            }
            left -= want;
        }
        return true;
    }

    /**
     * Whether the repository's own index {@code u} stages something that neither the
     * snapshot's index {@code l} nor the sandbox's working tree holds: an entry that is new or
     * changed and differs from the file at its path, a conflict, or a removed entry whose file
     * is still there. An index that only had its stat data refreshed, or that stages exactly
     * the working tree (what was committed, or added), holds nothing of its own. One that
     * can't be read stages what nobody can tell.
     */
    private boolean stagesWork(Path u, Path l) throws IOException {
        DirCache now;
        try {
            now = agentIndex(u);
        } catch (IOException e) {
            return true;
        }
        Map<String, DirCacheEntry> before = new HashMap<>();
        DirCache old = index(l);
        for (int i = 0; i < old.getEntryCount(); i++) {
            before.put(key(old.getEntry(i)), old.getEntry(i));
        }
        for (int i = 0; i < now.getEntryCount(); i++) {
            DirCacheEntry a = now.getEntry(i);
            DirCacheEntry b = before.remove(key(a));
            if (b != null && same(a, b)) {
                continue;
            }
            if (a.getStage() != 0 || !inWorkTree(a)) {
                return true;
            }
        }
        for (DirCacheEntry b : before.values()) {
            if (b.getStage() == 0 && exists(b.getPathString())) {
                return true;
            }
        }
        return false;
    }

    private static String key(DirCacheEntry e) {
        return e.getStage() + ":" + e.getPathString();
    }

    /** Whether the merged view has something at {@code path}; a path through a symlink counts as there. */
    private boolean exists(String path) {
        try {
            return AgentRefs.find(upper, lower, path) != null;
        } catch (AgentRefs.Bad e) {
            return true;
        }
    }

    /** Whether the sandbox's working tree holds exactly what {@code e} stages: same content, same kind. */
    private boolean inWorkTree(DirCacheEntry e) throws IOException {
        AgentRefs.Found f;
        try {
            f = AgentRefs.find(upper, lower, e.getPathString());
        } catch (AgentRefs.Bad bad) {
            return false;
        }
        if (f == null) {
            return false;
        }
        Path p = f.root().resolve(f.rel());
        Kind kind = Overlay.kind(p);
        FileMode mode = e.getFileMode();
        ObjectInserter.Formatter hash = new ObjectInserter.Formatter();
        if (kind == Kind.FILE && (mode == FileMode.REGULAR_FILE || mode == FileMode.EXECUTABLE_FILE)) {
            try (SafeOpen.Regular r = SafeOpen.open(f.root(), f.rel())) {
                if ((mode == FileMode.EXECUTABLE_FILE) != r.executable() || r.size() > MAX_HASHED) {
                    return false;
                }
                return hash.idFor(Constants.OBJ_BLOB, r.size(), r.exact()).equals(e.getObjectId());
            } catch (SafeOpen.NotRegular | SafeOpen.Changed gone) {
                return false;
            }
        }
        if (kind == Kind.SYMLINK && mode == FileMode.SYMLINK) {
            try {
                byte[] target = SafeOpen.readLink(f.root(), f.rel()).getBytes(StandardCharsets.UTF_8);
                return hash.idFor(Constants.OBJ_BLOB, target).equals(e.getObjectId());
            } catch (SafeOpen.NotRegular gone) {
                return false;
            }
        }
        return false;
    }

    /** The snapshot's index (the user's own copy), empty when {@code p} is none. */
    private static DirCache index(Path p) throws IOException {
        try {
            return p != null && Overlay.kind(p) == Kind.FILE ? DirCache.read(p.toFile(), FS.DETECTED)
                    : DirCache.newInCore();
        } catch (RuntimeException e) {
            throw new IOException("the snapshot's index '" + p + "': " + e.getMessage(), e);
        }
    }

    /** An index of the upper layer, read through a checked copy ({@link AgentIndex}). */
    private DirCache agentIndex(Path u) throws IOException {
        return AgentIndex.read(upper, upper.relativize(u).toString(), scratch.resolve("index-" + ++indexCopies));
    }

    /**
     * Whether two indexes list the same entries: path, stage, mode, object and the flags a
     * user sets. Stat data and extensions, which {@code git status} rewrites, are not compared.
     */
    private boolean sameEntries(Path u, Path l) {
        try {
            return sameEntries(agentIndex(u), index(l));
        } catch (IOException e) {
            return false; // nobody can tell
        }
    }

    private static boolean sameEntries(DirCache now, DirCache before) {
        if (now.getEntryCount() != before.getEntryCount()) {
            return false;
        }
        for (int i = 0; i < now.getEntryCount(); i++) {
            if (!now.getEntry(i).getPathString().equals(before.getEntry(i).getPathString())
                    || !same(now.getEntry(i), before.getEntry(i))) {
                return false;
            }
        }
        return true;
    }

    private static boolean same(DirCacheEntry a, DirCacheEntry b) {
        return a.getStage() == b.getStage() && a.getRawMode() == b.getRawMode()
                && a.getObjectId().equals(b.getObjectId()) && a.isAssumeValid() == b.isAssumeValid()
                && a.isSkipWorkTree() == b.isSkipWorkTree() && a.isIntentToAdd() == b.isIntentToAdd();
    }

    /**
     * Whether the upper entry {@code u} is what the snapshot already had at {@code l}: a file
     * with the same bytes and owner-exec bit (streamed, up to {@link #MAX_COMPARED} bytes), or
     * a symlink with the same target. Nothing else is ever the same.
     */
    private boolean same(Path u, Path l) throws IOException {
        if (l == null) {
            return false;
        }
        Kind ku = Overlay.kind(u);
        Kind kl = Overlay.kind(l);
        try {
            if (ku == Kind.FILE && kl == Kind.FILE) {
                try (SafeOpen.Regular a = SafeOpen.open(upper, u); SafeOpen.Regular b = openLower(l)) {
                    return b != null && a.size() == b.size() && a.size() <= MAX_COMPARED && a.executable() == b.executable()
                            && prefix(a.stream(MAX_COMPARED), b.stream(MAX_COMPARED), a.size())
                            && a.stream(1).read() < 0;
                }
            }
            return ku == Kind.SYMLINK && kl == Kind.SYMLINK
                    && SafeOpen.readLink(upper, u).equals(SafeOpen.readLink(lower, l));
        } catch (SafeOpen.NotRegular e) {
            return false; // replaced while we looked
        }
    }

    private SafeOpen.Regular openLower(Path l) throws IOException {
        try {
            return SafeOpen.open(lower, l);
        } catch (SafeOpen.NotRegular e) {
            return null;
        }
    }

    /** A small file of {@code root} (HEAD, a loose ref) without surrounding white space; null when it can't be read. */
    private static String small(Path root, Path p) throws IOException {
        try (SafeOpen.Regular r = SafeOpen.open(root, p)) {
            return new String(r.readAll(AgentRefs.MAX_REF), StandardCharsets.UTF_8).strip();
        } catch (SafeOpen.NotRegular | SafeOpen.TooLarge e) {
            return null;
        }
    }

    /**
     * The names in {@code dir} that name their entries, sorted; an entry whose name is not
     * valid UTF-8, which nothing here can read by name, is work as it is, and so is a
     * directory of more than {@link #MAX_ENTRIES} entries, whose names are not listed.
     */
    private TreeSet<String> names(String gitDir, String rel, Path dir, boolean own) throws IOException {
        TreeSet<String> names = new TreeSet<>();
        int n = 0;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                if (++n > MAX_ENTRIES) {
                    found.add(phrase(gitDir, rel.isEmpty() ? "" : rel.substring(0, rel.length() - 1), own));
                    return new TreeSet<>();
                }
                if (RawName.representable(p)) {
                    names.add(p.getFileName().toString());
                } else {
                    found.add(phrase(gitDir, rel + RawName.escaped(p), own));
                }
            }
        } catch (NoSuchFileException | NotDirectoryException e) {
            // replaced while we looked
        }
        return names;
    }

    /** The entries of {@code dir}, sorted by name; none of a directory too large for {@link #names}. */
    private static List<Path> entries(Path dir) throws IOException {
        TreeMap<String, Path> sorted = new TreeMap<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                if (sorted.size() == MAX_ENTRIES) {
                    return List.of(); // the walk names it as work
                }
                sorted.put(p.getFileName().toString(), p);
            }
        } catch (NoSuchFileException | NotDirectoryException e) {
            // replaced while we looked
        }
        return List.copyOf(sorted.values());
    }
}
