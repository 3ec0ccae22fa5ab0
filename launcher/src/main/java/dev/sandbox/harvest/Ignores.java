package dev.sandbox.harvest;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jgit.ignore.IgnoreNode;

/**
 * git's ignore rules for one directory and its ancestors: each directory's .gitignore (the
 * deepest match wins), then {@code .git/info/exclude}, then {@code core.excludesFile}. The
 * rules come as bytes the caller read, so that it bounds what it reads.
 */
final class Ignores {
    /** The length of the directory's path ("a/b" is 3), which is all a rule's match needs of it. */
    private final int dirLength;
    private final IgnoreNode node;
    private final Ignores parent;
    private final List<IgnoreNode> repoWide;

    private Ignores(int dirLength, IgnoreNode node, Ignores parent, List<IgnoreNode> repoWide) {
        this.dirLength = dirLength;
        this.node = node;
        this.parent = parent;
        this.repoWide = repoWide;
    }

    /** The rules at the top of the tree: its .gitignore, info/exclude and the excludes file, each possibly null. */
    static Ignores root(byte[] rootGitignore, byte[] infoExclude, byte[] excludesFile) throws IOException {
        List<IgnoreNode> wide = new ArrayList<>();
        for (byte[] rules : new byte[][] {infoExclude, excludesFile}) {
            IgnoreNode n = parse(rules);
            if (n != null) {
                wide.add(n);
            }
        }
        return new Ignores(0, parse(rootGitignore), null, wide);
    }

    /**
     * The rules inside subdirectory {@code path} of this one, whose .gitignore holds
     * {@code gitignore} (null: none). Without rules of its own it is this one, so that a deep
     * tree costs nothing per level.
     */
    Ignores child(String path, byte[] gitignore) throws IOException {
        IgnoreNode n = parse(gitignore);
        return n == null ? this : new Ignores(path.length(), n, this, repoWide);
    }

    /** Whether {@code path} (relative to the repository root) is ignored, its directories aside. */
    boolean ignored(String path, boolean isDir) {
        for (Ignores s = this; s != null; s = s.parent) {
            if (s.node != null) {
                Boolean r = s.node.checkIgnored(s.dirLength == 0 ? path : path.substring(s.dirLength + 1), isDir);
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

    private static IgnoreNode parse(byte[] rules) throws IOException {
        if (rules == null || rules.length == 0) {
            return null;
        }
        IgnoreNode n = new IgnoreNode();
        n.parse(".gitignore", new ByteArrayInputStream(rules));
        return n.getRules().isEmpty() ? null : n;
    }
}
