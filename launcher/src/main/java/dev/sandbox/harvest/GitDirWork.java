package dev.sandbox.harvest;

import dev.sandbox.harvest.Overlay.Kind;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 */
final class GitDirWork {
    private final Path upper;
    private final Path lower;
    private final ObjectDatabase user;
    private final String accounted;
    private final Set<ObjectId> counted;
    private final Set<String> found = new LinkedHashSet<>();
    /** Refs already found new or moved, so that their reflogs need not be named too. */
    private final Set<String> movedRefs = new HashSet<>();

    private GitDirWork(Path upper, Path lower, ObjectDatabase user, String accounted, Set<ObjectId> counted) {
        this.upper = upper;
        this.lower = lower;
        this.user = user;
        this.accounted = accounted;
        this.counted = counted;
    }

    /**
     * The work in the git directories of {@code upper} over the snapshot tree {@code lower}, one
     * short phrase each ("stash", "staged changes", ".git/config"); empty when there is none.
     * {@code user} is the user's object database. The caller counted {@code commits} as work,
     * and with them the move of {@code accountedRef} (a ref name, or HEAD when detached) to
     * them: neither is named again. {@code nestedGitDirs} are the {@code .git} entries of
     * repositories nested in the tree.
     *
     * @throws IOException when a layer or an index cannot be read: then nobody can tell
     */
    static List<String> read(Path upper, Path lower, ObjectDatabase user, String accountedRef, Set<ObjectId> commits,
            List<String> nestedGitDirs) throws IOException {
        GitDirWork w = new GitDirWork(upper, lower, user, accountedRef, commits);
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
                    refs(u, before);
                }
                walk(path, "", u, before, own);
            }
            default -> {
                if (!same(u, l)) {
                    found.add(path); // a worktree's or submodule's "gitdir:" file, rewritten
                }
            }
        }
    }

    private void walk(String gitDir, String rel, Path u, Path l, boolean own) throws IOException {
        boolean isGitDir = Files.exists(u.resolve("HEAD"), LinkOption.NOFOLLOW_LINKS)
                || l != null && Files.exists(l.resolve("HEAD"), LinkOption.NOFOLLOW_LINKS);
        for (String name : names(u)) {
            Path cu = u.resolve(name);
            Path cl = l == null ? null : l.resolve(name);
            String r = rel + name;
            Kind kind = Overlay.kind(cu);
            if (kind == Kind.WHITEOUT || kind == Kind.MISSING) {
                continue;
            }
            if (kind == Kind.DIR) {
                if (!(isGitDir && name.equals("objects"))) {
                    walk(gitDir, r + "/", cu, cl != null && Overlay.kind(cl) == Kind.DIR ? cl : null, own);
                }
                continue;
            }
            boolean top = own && rel.isEmpty();
            if (kind != Kind.FILE) {
                if (!same(cu, cl)) {
                    found.add(own ? gitDir + "/" + r : gitDir);
                }
            } else if (top && name.equals("index")) {
                if (stagesWork(cu, cl)) {
                    found.add("staged changes");
                }
            } else if (isGitDir && name.equals("index")) {
                if (!sameEntries(read(cu), read(cl))) {
                    found.add(own ? gitDir + "/" + r : gitDir);
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
                found.add(own ? gitDir + "/" + r : gitDir);
            }
        }
    }

    /** New and moved refs of the repository's own {@code .git}, loose or packed, and HEAD switched. */
    private void refs(Path u, Path l) throws IOException {
        Path head = u.resolve("HEAD");
        if (Overlay.kind(head) == Kind.FILE && !"HEAD".equals(accounted)) {
            String now = text(head);
            if (!now.equals(l == null ? null : text(l.resolve("HEAD")))) {
                movedRefs.add("HEAD");
                found.add(now.startsWith("ref: refs/heads/") ? "HEAD on branch '" + now.substring(16) + "'"
                        : "HEAD detached");
            }
        }
        Map<String, String> packedBefore = packed(l == null ? null : l.resolve("packed-refs"));
        Map<String, String> packedNow = packed(Overlay.resolve(upper, lower, ".git/packed-refs"));
        Set<String> candidates = new TreeSet<>();
        if (Overlay.kind(u.resolve("packed-refs")) == Kind.FILE) {
            candidates.addAll(packedNow.keySet());
        }
        looseRefs(u.resolve("refs"), "refs/", candidates);
        for (String ref : candidates) {
            if (ref.equals(accounted)) {
                continue;
            }
            String loose = text(Overlay.resolve(upper, lower, ".git/" + ref));
            String now = loose != null ? loose : packedNow.get(ref);
            String looseBefore = l == null ? null : text(l.resolve(ref));
            String before = looseBefore != null ? looseBefore : packedBefore.get(ref);
            if (now != null && !now.equals(before)) {
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
                return kind[1] + " '" + ref.substring(kind[0].length()) + "'";
            }
        }
        return "ref '" + ref + "'";
    }

    /** The loose refs below {@code dir}, deleted ones included (a packed value may show through). */
    private static void looseRefs(Path dir, String prefix, Set<String> into) throws IOException {
        if (Overlay.kind(dir) != Kind.DIR) {
            return;
        }
        for (String name : names(dir)) {
            Path p = dir.resolve(name);
            if (Overlay.kind(p) == Kind.DIR) {
                looseRefs(p, prefix + name + "/", into);
            } else {
                into.add(prefix + name);
            }
        }
    }

    /** {@code packed-refs} as ref name to object id; empty when there is none. */
    private static Map<String, String> packed(Path file) throws IOException {
        Map<String, String> refs = new HashMap<>();
        String all = text(file);
        if (all != null) {
            for (String line : all.split("\n")) {
                int space = line.indexOf(' ');
                if (!line.startsWith("#") && !line.startsWith("^") && space > 0) {
                    refs.put(line.substring(space + 1).strip(), line.substring(0, space));
                }
            }
        }
        return refs;
    }

    /**
     * Whether what {@code u} has beyond the snapshot's {@code l} (all of it, unless it only
     * grew) names an object the user's repository lacks, in the first {@code ids} fields of a
     * line; a line without them counts as naming one, since nobody can tell.
     */
    private boolean namesNewObject(Path u, Path l, int ids) throws IOException {
        byte[] now = Files.readAllBytes(u);
        byte[] before = l != null && Overlay.kind(l) == Kind.FILE ? Files.readAllBytes(l) : new byte[0];
        boolean grew = now.length >= before.length && Arrays.equals(now, 0, before.length, before, 0, before.length);
        int from = grew ? before.length : 0;
        for (String line : new String(now, from, now.length - from, StandardCharsets.UTF_8).split("\n")) {
            if (line.isBlank()) {
                continue;
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
        }
        return false;
    }

    /**
     * Whether the repository's own index {@code u} stages something that neither the
     * snapshot's index {@code l} nor the sandbox's working tree holds: an entry that is new or
     * changed and differs from the file at its path, a conflict, or a removed entry whose file
     * is still there. An index that only had its stat data refreshed, or that stages exactly
     * the working tree (what was committed, or added), holds nothing of its own.
     */
    private boolean stagesWork(Path u, Path l) throws IOException {
        Map<String, DirCacheEntry> before = new HashMap<>();
        DirCache old = read(l);
        for (int i = 0; i < old.getEntryCount(); i++) {
            before.put(key(old.getEntry(i)), old.getEntry(i));
        }
        DirCache now = read(u);
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
            if (b.getStage() == 0 && Overlay.resolve(upper, lower, b.getPathString()) != null) {
                return true;
            }
        }
        return false;
    }

    private static String key(DirCacheEntry e) {
        return e.getStage() + ":" + e.getPathString();
    }

    /** Whether the sandbox's working tree holds exactly what {@code e} stages: same content, same kind. */
    private boolean inWorkTree(DirCacheEntry e) throws IOException {
        Path f = Overlay.resolve(upper, lower, e.getPathString());
        if (f == null) {
            return false;
        }
        Kind kind = Overlay.kind(f);
        FileMode mode = e.getFileMode();
        ObjectInserter.Formatter hash = new ObjectInserter.Formatter();
        if (kind == Kind.FILE && (mode == FileMode.REGULAR_FILE || mode == FileMode.EXECUTABLE_FILE)) {
            if ((mode == FileMode.EXECUTABLE_FILE) != Overlay.executable(f)) {
                return false;
            }
            try (InputStream in = Files.newInputStream(f)) {
                return hash.idFor(Constants.OBJ_BLOB, Files.size(f), in).equals(e.getObjectId());
            }
        }
        if (kind == Kind.SYMLINK && mode == FileMode.SYMLINK) {
            byte[] target = Files.readSymbolicLink(f).toString().getBytes(StandardCharsets.UTF_8);
            return hash.idFor(Constants.OBJ_BLOB, target).equals(e.getObjectId());
        }
        return false;
    }

    /** An index, empty when {@code p} is none. */
    private static DirCache read(Path p) throws IOException {
        return p != null && Overlay.kind(p) == Kind.FILE ? DirCache.read(p.toFile(), FS.DETECTED)
                : DirCache.newInCore();
    }

    /**
     * Whether two indexes list the same entries: path, stage, mode, object and the flags a
     * user sets. Stat data and extensions, which {@code git status} rewrites, are not compared.
     */
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

    /** Whether the upper entry {@code u} is what the snapshot already had at {@code l}. */
    private static boolean same(Path u, Path l) throws IOException {
        if (l == null) {
            return false;
        }
        Kind ku = Overlay.kind(u);
        Kind kl = Overlay.kind(l);
        if (ku == Kind.FILE && kl == Kind.FILE) {
            return UpperWalk.unchangedCopyUp(u, l);
        }
        return ku == Kind.SYMLINK && kl == Kind.SYMLINK && Files.readSymbolicLink(u).equals(Files.readSymbolicLink(l));
    }

    /** A regular file's content without surrounding white space, or null when it is not one. */
    private static String text(Path p) throws IOException {
        if (p == null || Overlay.kind(p) != Kind.FILE) {
            return null;
        }
        return new String(Files.readAllBytes(p), StandardCharsets.UTF_8).strip();
    }

    private static TreeSet<String> names(Path dir) throws IOException {
        TreeSet<String> names = new TreeSet<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                names.add(p.getFileName().toString());
            }
        }
        return names;
    }
}
