package dev.sandbox.git;

import dev.sandbox.error.SandboxException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * A git working tree as the user sees it: its top-level directory and the git directory
 * shared by all its worktrees, where sandbox keeps its state by default.
 */
public record Repo(Path root, Path commonDir) {

    /** Finds the repository containing {@code dir}, or fails with a one-line message. */
    public static Repo discover(Path dir) {
        GitCli.Result r;
        try {
            r = GitCli.run(dir, "rev-parse", "--show-toplevel", "--git-common-dir");
        } catch (GitCli.GitNotFoundException e) {
            throw SandboxException.failure("can't run 'git': not installed or not on the PATH (install git)");
        }
        if (!r.ok()) {
            String why = r.firstErrorLine();
            if (why.contains("not a git repository")) {
                throw SandboxException.cantWithInput("find a git repository at", dir,
                        "not inside a git working tree (cd into a repository, or run 'git init')");
            }
            throw SandboxException.cantWithInput("find a git repository at", dir,
                    why.isEmpty() ? "git rev-parse failed" : why.replaceFirst("^fatal: ", ""));
        }
        String[] lines = r.out().split("\n");
        if (lines.length < 2 || lines[0].isBlank()) {
            throw SandboxException.cantWithInput("find a git working tree at", dir,
                    "it is a bare repository or a .git directory (cd into the working tree)");
        }
        Path root = Path.of(lines[0]).toAbsolutePath().normalize();
        // git prints the common dir relative to the directory it ran in (../../.git from
        // two levels down), which git resolved to its real path.
        Path common;
        try {
            common = dir.toRealPath().resolve(lines[1]).normalize();
        } catch (IOException e) {
            throw SandboxException.cant("find a git repository at", dir, e);
        }
        return new Repo(root, common);
    }

    /** The commit HEAD points to, or null in a repository without commits. */
    public String headCommit() {
        GitCli.Result r = GitCli.run(root, "rev-parse", "-q", "--verify", "HEAD^{commit}");
        return r.ok() ? r.out() : null;
    }

    /**
     * HEAD's commit (null without commits) and the paths that differ from it, read together.
     *
     * @param configKey {@link #configKey()} read just before, or null
     */
    public record Status(String head, List<String> dirtyPaths, String configKey) {
        public Status(String head, List<String> dirtyPaths) {
            this(head, dirtyPaths, null);
        }
    }

    /**
     * HEAD and the paths that differ from it: modified, staged, deleted and untracked (not
     * ignored), and both sides of a staged rename; one {@code git status} for both. The
     * {@link #configKey()} is read first, so that a setting changed meanwhile makes it stale,
     * never the status.
     */
    public Status status() {
        String key = configKey();
        Status status = statusAlone();
        return new Status(status.head(), status.dirtyPaths(), key);
    }

    private Status statusAlone() {
        GitCli.Result r = GitCli.run(root, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all",
                "--ignore-submodules=dirty");
        if (!r.ok()) {
            throw SandboxException.cant("read the status of", root, r.firstErrorLine());
        }
        return parseStatus(new String(r.stdout(), StandardCharsets.UTF_8));
    }

    /** Parses {@code git status --porcelain=v2 --branch -z}. */
    static Status parseStatus(String out) {
        String head = null;
        List<String> paths = new ArrayList<>();
        String[] fields = out.split("\0");
        for (int i = 0; i < fields.length; i++) {
            String f = fields[i];
            if (f.startsWith("# branch.oid ")) {
                String oid = f.substring("# branch.oid ".length());
                head = oid.equals("(initial)") ? null : oid;
            } else if (f.startsWith("1 ")) {
                paths.add(f.split(" ", 9)[8]);
            } else if (f.startsWith("2 ")) {
                paths.add(f.split(" ", 10)[9]);
                if (i + 1 < fields.length) {
                    paths.add(fields[++i]); // the rename's source follows as its own field
                }
            } else if (f.startsWith("u ")) {
                paths.add(f.split(" ", 11)[10]);
            } else if (f.startsWith("? ")) {
                paths.add(f.substring(2));
            }
        }
        return new Status(head, paths);
    }

    /**
     * Paths whose index entry differs from {@code commit}'s tree (staged, when it is HEAD:
     * added, deleted, modified, a mode changed), read from the index and the tree alone,
     * without a look at the working tree.
     *
     * @throws SandboxException (exit 125) when git fails
     */
    public List<String> stagedSince(String commit) {
        GitCli.Result r = GitCli.run(root, "diff-index", "--cached", "--name-only", "--no-renames", "-z", commit);
        if (!r.ok()) {
            throw SandboxException.cant("read the index of", root, r.firstErrorLine());
        }
        return nulSeparated(r.stdout());
    }

    /**
     * Which of {@code paths} (relative to the top, as git names them) git ignores: untracked
     * and matched by a {@code .gitignore}, {@code .git/info/exclude} or the user's excludes
     * file, directly or through a leading directory. A tracked path is never ignored. One
     * {@code git check-ignore --stdin}, the paths on its stdin.
     *
     * @throws SandboxException (exit 125) when git fails
     */
    public Set<String> ignored(Collection<String> paths) {
        if (paths.isEmpty()) {
            return Set.of();
        }
        GitCli.Result r = GitCli.run(root, nulTerminated(paths), "check-ignore", "--stdin", "-z");
        if (r.exitCode() != 0 && r.exitCode() != 1) { // 1: none ignored
            throw SandboxException.cant("read the ignore rules of", root, r.firstErrorLine());
        }
        return new HashSet<>(nulSeparated(r.stdout()));
    }

    /**
     * Whether git would store any of {@code paths} otherwise than as its bytes in the working
     * tree: {@code core.autocrlf} is on, or an attribute that converts content on its way
     * into git ({@code text}, {@code eol}, {@code crlf}, {@code filter}, {@code ident},
     * {@code working-tree-encoding}; gitattributes(5)) is set for one of them. Only then may a
     * path whose bytes equal HEAD's blob differ from it for git, or the reverse. One
     * {@code git config} and one {@code git check-attr --stdin}.
     *
     * @throws SandboxException (exit 125) when git fails
     */
    public boolean convertsContent(Collection<String> paths) {
        // the two at once (check-attr reads the whole index): a thread of the common pool
        CompletableFuture<GitCli.Result> autocrlfLater = CompletableFuture.supplyAsync(
                () -> GitCli.run(root, "config", "--get", "core.autocrlf"));
        GitCli.Result r = paths.isEmpty() ? null : GitCli.run(root, nulTerminated(paths), "check-attr", "--stdin",
                "-z", "text", "eol", "crlf", "filter", "ident", "working-tree-encoding");
        GitCli.Result autocrlf = autocrlfLater.join();
        if (autocrlf.ok() && Set.of("true", "yes", "on", "1", "input").contains(autocrlf.out().toLowerCase())) {
            return true;
        }
        if (r == null) {
            return false;
        }
        if (!r.ok()) {
            throw SandboxException.cant("read the attributes of", root, r.firstErrorLine());
        }
        // -z: path NUL attribute NUL value NUL, for each path and attribute asked
        String[] fields = new String(r.stdout(), StandardCharsets.UTF_8).split("\0");
        for (int i = 2; i < fields.length; i += 3) {
            if (!fields[i].equals("unspecified") && !fields[i].equals("unset")) {
                return true;
            }
        }
        return false;
    }

    private static byte[] nulTerminated(Collection<String> paths) {
        ByteArrayOutputStream in = new ByteArrayOutputStream();
        for (String p : paths) {
            in.writeBytes(p.getBytes(StandardCharsets.UTF_8));
            in.write(0);
        }
        return in.toByteArray();
    }

    /**
     * A digest of what git reads from outside the working tree to tell a path ignored or
     * modified: every setting {@code git config --list --show-origin} shows (system, global,
     * the repository's, those of {@code -c} and of includes), and the size, inode, mtime and
     * ctime of the excludes and attributes files ({@code core.excludesFile},
     * {@code core.attributesFile}, or their defaults under {@code $XDG_CONFIG_HOME/git},
     * gitignore(5), gitattributes(5)). Equal digests mean that git would judge an unchanged
     * path as before. Null when git can't say.
     */
    public String configKey() {
        GitCli.Result r = GitCli.run(root, "config", "--list", "--show-origin", "-z");
        if (r.exitCode() != 0) {
            return null;
        }
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
        sha.update(r.stdout());
        String excludes = null;
        String attributes = null;
        // -z: origin NUL key LF value NUL, in the order git reads them (a later one wins)
        List<String> fields = nulSeparated(r.stdout());
        for (int i = 1; i < fields.size(); i += 2) {
            String entry = fields.get(i);
            int lf = entry.indexOf('\n');
            String key = lf < 0 ? entry : entry.substring(0, lf);
            String value = lf < 0 ? "" : entry.substring(lf + 1);
            if (key.equals("core.excludesfile")) {
                excludes = value;
            } else if (key.equals("core.attributesfile")) {
                attributes = value;
            }
        }
        for (Path f : List.of(userFile(excludes, "ignore"), userFile(attributes, "attributes"))) {
            sha.update(f.toString().getBytes(StandardCharsets.UTF_8));
            try {
                Map<String, Object> a = Files.readAttributes(f, "unix:size,ino,lastModifiedTime,ctime");
                sha.update((a.get("size") + " " + a.get("ino") + " " + a.get("lastModifiedTime") + " "
                        + a.get("ctime")).getBytes(StandardCharsets.UTF_8));
            } catch (NoSuchFileException e) {
                sha.update((byte) 0);
            } catch (IOException | UnsupportedOperationException e) {
                return null;
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /** The excludes or attributes file git reads: {@code configured} (~ expanded), else {@code $XDG_CONFIG_HOME/git/NAME}. */
    private Path userFile(String configured, String name) {
        String home = System.getenv().getOrDefault("HOME", System.getProperty("user.home"));
        if (configured != null && !configured.isEmpty()) {
            if (configured.startsWith("~/")) {
                return Path.of(home, configured.substring(2));
            }
            return root.resolve(configured);
        }
        String xdg = System.getenv("XDG_CONFIG_HOME");
        return (xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(home, ".config")).resolve("git").resolve(name);
    }

    private static List<String> nulSeparated(byte[] out) {
        List<String> fields = new ArrayList<>();
        for (String f : new String(out, StandardCharsets.UTF_8).split("\0")) {
            if (!f.isEmpty()) {
                fields.add(f);
            }
        }
        return fields;
    }

    /**
     * Paths that differ from HEAD: modified, staged, deleted and untracked (not ignored),
     * as {@code git status --porcelain} names them, and both sides of a staged rename.
     */
    public List<String> dirtyPaths() {
        GitCli.Result r = GitCli.run(root, "status", "--porcelain=v1", "-z", "--untracked-files=all",
                "--ignore-submodules=dirty");
        if (!r.ok()) {
            throw SandboxException.cant("read the status of", root, r.firstErrorLine());
        }
        List<String> paths = new ArrayList<>();
        String[] fields = new String(r.stdout(), StandardCharsets.UTF_8).split("\0");
        for (int i = 0; i < fields.length; i++) {
            String f = fields[i];
            if (f.length() < 4) {
                continue;
            }
            paths.add(f.substring(3));
            if ((f.charAt(0) == 'R' || f.charAt(0) == 'C') && i + 1 < fields.length) {
                paths.add(fields[++i]); // the source path follows as its own field; a rename removed it
            }
        }
        return paths;
    }
}
