package dev.sandbox.git;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

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

    /** HEAD's commit (null without commits) and the paths that differ from it, read together. */
    public record Status(String head, List<String> dirtyPaths) {
    }

    /**
     * HEAD and the paths that differ from it: modified, staged, deleted and untracked (not
     * ignored), and both sides of a staged rename; one {@code git status} for both.
     */
    public Status status() {
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
