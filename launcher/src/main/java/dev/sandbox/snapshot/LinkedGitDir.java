package dev.sandbox.snapshot;

import dev.sandbox.sys.Command;
import java.io.IOException;
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

/**
 * The git directory of a working tree whose {@code .git} is a {@code gitdir:} file (a worktree
 * made by {@code git worktree add}, {@code git init --separate-git-dir}, a submodule's
 * checkout), and how a snapshot holds it: as a real {@code .git} directory composed of the
 * common dir's shared part and the worktree's own part, so that inside the sandbox the
 * repository is an ordinary one at the worktree's path. Left as a file, it would point at a
 * directory the sandbox shows read-only, or not at all (a main repository under /tmp), and
 * git could neither commit nor even read. The composed config has no {@code core.worktree}
 * (a submodule's git dir names its checkout relative to itself) and no {@code core.bare} (a
 * bare repository with worktrees), which would both be wrong at the new place.
 *
 * <p>Which paths are shared and which each worktree has of its own follows git's
 * {@code common_list} (git's path.c, and gitrepository-layout(5)): a linked worktree's HEAD,
 * index, ORIG_HEAD, logs/HEAD, refs/bisect etc. come from its private git dir, never the
 * main worktree's; {@code worktrees/} is left out, since the other worktrees are no part
 * of this one. A repository with refs in a reftable ({@code extensions.refStorage}) keeps
 * each worktree's refs in a table of its own, which this does not merge: it is left as a
 * file, as before.
 *
 * @param gitDir    the worktree's own git directory (the {@code gitdir:} file's target), a real path
 * @param commonDir the git directory it shares with other worktrees, equal to {@code gitDir} when
 *                  it has no {@code commondir} file, a real path
 */
public record LinkedGitDir(Path gitDir, Path commonDir) {
    /** Top-level entries of a common dir that all worktrees share (git's path.c {@code common_list}). */
    static final Set<String> SHARED = Set.of("branches", "common", "config", "hooks", "info", "logs",
            "lost-found", "objects", "refs", "remotes", "rr-cache", "svn", "shallow", "packed-refs");
    /** Paths below shared entries that are each worktree's own (also from {@code common_list}). */
    static final List<String> OWN_BELOW_SHARED = List.of("info/sparse-checkout", "logs/HEAD", "logs/refs/bisect",
            "logs/refs/rewritten", "logs/refs/worktree", "refs/bisect", "refs/rewritten", "refs/worktree");
    /** Entries of a linked worktree's git dir that describe the link itself (gitrepository-layout(5)). */
    static final Set<String> LINK_FILES = Set.of("commondir", "gitdir", "locked");
    /** A {@code .git} file is one line; anything longer is not one git wrote. */
    private static final long MAX_GITFILE = 64 * 1024;

    /**
     * The git directory that {@code root/.git} links to, or empty when {@code .git} is a
     * directory, missing, not a {@code gitdir:} file, points at nothing, or uses a reftable.
     */
    public static Optional<LinkedGitDir> of(Path root) throws IOException {
        Path file = root.resolve(".git");
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) || Files.size(file) > MAX_GITFILE) {
            return Optional.empty();
        }
        String text = Files.readString(file, StandardCharsets.UTF_8);
        if (!text.startsWith("gitdir: ")) {
            return Optional.empty();
        }
        Path gitDir;
        Path commonDir;
        try {
            gitDir = root.resolve(text.substring("gitdir: ".length()).strip()).toRealPath();
            Path commondirFile = gitDir.resolve("commondir");
            commonDir = Files.isRegularFile(commondirFile)
                    ? gitDir.resolve(Files.readString(commondirFile, StandardCharsets.UTF_8).strip()).toRealPath()
                    : gitDir;
        } catch (NoSuchFileException | java.nio.file.InvalidPathException e) {
            return Optional.empty(); // git outside fails there too, and says why
        }
        if (!Files.isRegularFile(gitDir.resolve("HEAD")) || !Files.isDirectory(commonDir.resolve("objects"))
                || Files.isDirectory(commonDir.resolve("reftable"))) {
            return Optional.empty();
        }
        return Optional.of(new LinkedGitDir(gitDir, commonDir));
    }

    /** Whether {@code root}'s {@code .git} links elsewhere, as {@link #of} would compose it. */
    public static boolean linked(Path root) {
        try {
            return of(root).isPresent();
        } catch (IOException e) {
            return false;
        }
    }

    private boolean shared() {
        return gitDir.equals(commonDir);
    }

    /**
     * Walks the common dir's part and then the worktree's own with {@code visitor}, as if they
     * were one directory, and returns their fingerprint. {@code exclude} (the state directory,
     * which may lie in the common dir) is left out.
     */
    String walk(Set<Path> exclude, TreeWalk.Visitor visitor) throws IOException {
        Set<Path> real = realPaths(exclude);
        if (shared()) {
            Set<Path> skip = new HashSet<>(real);
            skip.add(commonDir.resolve("worktrees"));
            return TreeWalk.walk(commonDir, skip, visitor);
        }
        Set<Path> common = new HashSet<>(real);
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(commonDir)) {
            for (Path e : entries) {
                if (!SHARED.contains(e.getFileName().toString())) {
                    common.add(e);
                }
            }
        }
        for (String own : OWN_BELOW_SHARED) {
            common.add(commonDir.resolve(own));
        }
        Set<Path> own = new HashSet<>(real);
        for (String link : LINK_FILES) {
            own.add(gitDir.resolve(link));
        }
        return TreeWalk.walk(commonDir, common, visitor) + "+" + TreeWalk.walk(gitDir, own, visitor);
    }

    /** The fingerprint of this git directory's content as {@link #walk} sees it, without copying. */
    String fingerprint(Set<Path> exclude) throws IOException {
        return walk(exclude, TreeWalk.LOOK);
    }

    /**
     * Makes the copied git directory {@code git} an ordinary repository's {@code .git}:
     * removes {@code core.worktree} and {@code core.bare} from its config (and from
     * {@code config.worktree}), and makes relative alternates absolute, since they were
     * relative to the common dir's {@code objects}.
     *
     * @throws IOException when git cannot rewrite the config: the copy would not work inside
     */
    void settle(Path git) throws IOException {
        for (String name : List.of("config", "config.worktree")) {
            Path config = git.resolve(name);
            if (!Files.isRegularFile(config, LinkOption.NOFOLLOW_LINKS)) {
                continue;
            }
            for (String key : List.of("core.worktree", "core.bare")) {
                Command.Result r = Command.run(List.of("git", "config", "--file", config.toString(), "--unset-all", key));
                if (!r.ok() && r.exitCode() != 5) { // 5: the key was not there
                    throw new IOException("can't remove " + key + " from " + config + ": " + r.why());
                }
            }
        }
        Path alternates = git.resolve("objects/info/alternates");
        if (Files.isRegularFile(alternates, LinkOption.NOFOLLOW_LINKS)) {
            Path objects = commonDir.resolve("objects");
            List<String> lines = new ArrayList<>();
            for (String line : Files.readAllLines(alternates, StandardCharsets.UTF_8)) {
                boolean relative = !line.isBlank() && !line.startsWith("#") && !line.startsWith("/")
                        && !line.startsWith("\"");
                lines.add(relative ? objects.resolve(line).normalize().toString() : line);
            }
            Files.write(alternates, lines, StandardCharsets.UTF_8);
        }
    }

    private static Set<Path> realPaths(Set<Path> paths) {
        Set<Path> real = new HashSet<>(paths);
        for (Path p : paths) {
            try {
                real.add(p.toRealPath());
            } catch (IOException e) {
                // not there (yet): nothing of it to leave out
            }
        }
        return real;
    }
}
