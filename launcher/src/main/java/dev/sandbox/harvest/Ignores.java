package dev.sandbox.harvest;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jgit.ignore.IgnoreNode;

/**
 * git's ignore rules for one directory and its ancestors: each directory's .gitignore (the
 * deepest match wins), then {@code .git/info/exclude}, then {@code core.excludesFile}.
 */
final class Ignores {
    private final String dir;
    private final IgnoreNode node;
    private final Ignores parent;
    private final List<IgnoreNode> repoWide;

    private Ignores(String dir, IgnoreNode node, Ignores parent, List<IgnoreNode> repoWide) {
        this.dir = dir;
        this.node = node;
        this.parent = parent;
        this.repoWide = repoWide;
    }

    /** The rules at the top of the tree: info/exclude and the excludes file, each possibly null. */
    static Ignores root(Path rootGitignore, Path infoExclude, Path excludesFile) throws IOException {
        List<IgnoreNode> wide = new ArrayList<>();
        for (Path p : new Path[] {infoExclude, excludesFile}) {
            IgnoreNode n = parse(p);
            if (n != null) {
                wide.add(n);
            }
        }
        return new Ignores("", parse(rootGitignore), null, wide);
    }

    /** The rules inside subdirectory {@code path} of this one, whose .gitignore is {@code gitignore}. */
    Ignores child(String path, Path gitignore) throws IOException {
        IgnoreNode n = parse(gitignore);
        return n == null ? new Ignores(path, null, this, repoWide) : new Ignores(path, n, this, repoWide);
    }

    /** Whether {@code path} (relative to the repository root) is ignored, its directories aside. */
    boolean ignored(String path, boolean isDir) {
        for (Ignores s = this; s != null; s = s.parent) {
            if (s.node != null) {
                Boolean r = s.node.checkIgnored(s.dir.isEmpty() ? path : path.substring(s.dir.length() + 1), isDir);
                if (r != null) {
                    return r;
                }
            }
        }
        for (IgnoreNode n : repoWide) {
            Boolean r = n.checkIgnored(path, isDir);
            if (r != null) {
                return r;
            }
        }
        return false;
    }

    private static IgnoreNode parse(Path p) throws IOException {
        if (p == null || !Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        IgnoreNode n = new IgnoreNode();
        try (InputStream in = Files.newInputStream(p)) {
            n.parse(p.toString(), in);
        }
        return n.getRules().isEmpty() ? null : n;
    }
}
