package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/** Real git repositories made with the git CLI, and exact records of their trees. */
final class Repos {
    private Repos() {
    }

    /** Runs git as the test itself (before the workspace is handed to USER). */
    static String git(Path repo, String... args) {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "git";
        System.arraycopy(args, 0, cmd, 1, args.length);
        return Proc.hostOk(repo, cmd).stdout().strip();
    }

    /** A repository with one commit of README.md and src/a.txt. */
    static Path committed(Path dir) {
        git(dir, "init", "-q", "-b", "main");
        write(dir, "README.md", "# demo\n");
        write(dir, "src/a.txt", "alpha\n");
        git(dir, "add", "README.md", "src/a.txt");
        git(dir, "commit", "-q", "-m", "initial");
        return dir;
    }

    /**
     * A repository in every state a user's tree can be in: tracked, ignored (.env with a
     * secret, node_modules/, build/), untracked, modified but unstaged, and staged.
     */
    static Path dirty(Path dir) {
        committed(dir);
        write(dir, ".gitignore", ".env\nnode_modules/\nbuild/\n");
        git(dir, "add", ".gitignore");
        git(dir, "commit", "-q", "-m", "ignore");
        write(dir, ".env", "SECRET_TOKEN=hunter2-from-dotenv\n");
        write(dir, "node_modules/x/index.js", "module.exports = 1;\n");
        write(dir, "build/out.bin", "\u0000\u0001binary\u00ff\n");
        write(dir, "untracked.txt", "not yet added\n");
        write(dir, "src/a.txt", "alpha\nedited, not staged\n");
        write(dir, "staged.txt", "staged only\n");
        git(dir, "add", "staged.txt");
        return dir;
    }

    static void write(Path repo, String path, String content) {
        try {
            Path p = repo.resolve(path);
            Files.createDirectories(p.getParent());
            Files.writeString(p, content, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] bytes(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The sandbox state inside a repository, which the tool owns and tree records leave out. */
    static Path stateDir(Path repo) {
        return repo.resolve(".git").resolve("sandbox");
    }

    /** The complete snapshots on disk (each a directory with snapshot.json and tree/). */
    static Set<String> snapshotIds(Path repo) throws IOException {
        Set<String> ids = new TreeSet<>();
        try (Stream<Path> all = Files.list(stateDir(repo).resolve("snapshots"))) {
            for (Path p : (Iterable<Path>) all::iterator) {
                if (Files.exists(p.resolve("snapshot.json")) && Files.isDirectory(p.resolve("tree"))) {
                    ids.add(p.getFileName().toString());
                }
            }
        }
        return ids;
    }

    static Path sandboxDir(Path repo, String name) {
        return stateDir(repo).resolve("sandboxes").resolve(name);
    }

    static Path upper(Path repo, String name) {
        return sandboxDir(repo, name).resolve("upper");
    }

    /**
     * Every path of the tree with its type, mode and content digest or link target, .git
     * included but not {@code .git/sandbox/**}, the tool's own state.
     */
    static SortedMap<String, String> treeState(Path root) {
        return entries(root, List.of(root.resolve(".git").resolve("sandbox")), false);
    }

    /**
     * What a directory holds, each path as {@code type[:mode][:content]}: files with their
     * text, char devices with major:minor (overlay whiteouts are 0:0), symlinks with their target.
     */
    static SortedMap<String, String> entries(Path root, List<Path> excluded, boolean contentAsText) {
        SortedMap<String, String> out = new TreeMap<>();
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                    if (excluded.contains(dir)) {
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    if (!dir.equals(root)) {
                        out.put(root.relativize(dir).toString(), describe(dir, contentAsText));
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    if (!excluded.contains(file)) {
                        out.put(root.relativize(file).toString(), describe(file, contentAsText));
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    static String describe(Path p, boolean contentAsText) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, "unix:mode,rdev", LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer) a.get("mode");
        String perms = Integer.toOctalString(mode & 07777);
        switch (mode & 0170000) {
            case 0100000:
                byte[] content = Files.readAllBytes(p);
                return "file:" + perms + ":"
                        + (contentAsText ? new String(content, StandardCharsets.UTF_8) : sha256(content));
            case 0040000:
                return "dir:" + perms;
            case 0120000:
                return "symlink:" + Files.readSymbolicLink(p);
            case 0020000:
                long rdev = (Long) a.get("rdev");
                // Linux's dev_t encoding (glibc gnu_dev_major/minor).
                long major = ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
                long minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
                return "chardev:" + major + ":" + minor;
            default:
                return "other:" + Integer.toOctalString(mode);
        }
    }

    /** The same entries without permission bits, which depend on the umask of whoever wrote them. */
    static SortedMap<String, String> withoutModes(SortedMap<String, String> entries) {
        SortedMap<String, String> out = new TreeMap<>();
        entries.forEach((k, v) -> out.put(k, v.replaceFirst("^(file|dir):[0-7]+", "$1")));
        return out;
    }

    /** Fails with the paths that differ, rather than two walls of entries. */
    static void assertSameTree(SortedMap<String, String> before, SortedMap<String, String> after, String what) {
        if (before.equals(after)) {
            return;
        }
        StringBuilder diff = new StringBuilder();
        for (String k : new TreeSet<>(union(before, after))) {
            String b = before.get(k);
            String a = after.get(k);
            if (b == null || !b.equals(a)) {
                diff.append("\n  ").append(k).append(": ").append(b).append(" -> ").append(a);
            }
        }
        fail(what + " changed:" + diff);
    }

    private static TreeSet<String> union(Map<String, String> a, Map<String, String> b) {
        TreeSet<String> all = new TreeSet<>(a.keySet());
        all.addAll(b.keySet());
        return all;
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
