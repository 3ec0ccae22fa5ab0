package dev.sandbox.harvest;

import dev.sandbox.sys.SafeOpen;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;
import java.util.LinkedHashMap;

/**
 * The directories a walk is inside, each an upper directory with the lower one beside it
 * (or none), held open by descriptor so that their entries are read relative to them. A
 * tree may be deeper than there are descriptors to hold, so only the few most recently used
 * directories stay open; one needed again is reopened from its nearest open ancestor, name
 * by name, and used only if it is still the same directory (device and inode), as gnulib's
 * {@code fts} does when it climbs back up a deep tree.
 */
final class OpenDirs implements AutoCloseable {
    /** Directories kept open besides the root: two descriptors each. */
    static final int KEPT = 32;

    /** One directory of the walk. */
    static class Level {
        final Level parent;
        /** Its name in the parent; null for the root. */
        final String name;
        private final SafeOpen.Stat upperId;
        private final SafeOpen.Stat lowerId;
        private SafeOpen.Dir upper;
        private SafeOpen.Dir lower;
        /**
         * Its path while it is open, when the walk wants it: kept for few levels only, since a
         * deep chain's paths add up to its depth squared.
         */
        private String path;
        /** Subdirectories still to be walked, which need this one open to be reached. */
        int pending;

        /** A level whose directories were just opened; {@code path} is its path, or null when none is wanted. */
        Level(Level parent, String name, String path, SafeOpen.Dir upper, SafeOpen.Dir lower) throws IOException {
            this.parent = parent;
            this.name = name;
            this.upper = upper;
            this.lower = lower;
            this.upperId = upper.stat();
            this.lowerId = lower == null ? null : lower.stat();
            this.path = path;
        }

        /** The upper directory; open only after {@link OpenDirs#reach}. */
        SafeOpen.Dir upper() {
            return upper;
        }

        /** The lower directory, or null when there is none. */
        SafeOpen.Dir lower() {
            return lower;
        }

        /** Its path below the root, "a/b"; "" for the root. Costs its depth when it was closed. */
        String path() {
            if (path != null) {
                return path;
            }
            Deque<String> names = new ArrayDeque<>();
            for (Level l = this; l.parent != null; l = l.parent) {
                names.push(l.name);
            }
            return String.join("/", names);
        }

        private void closeHandles() {
            if (parent != null) {
                path = null;
            }
            if (upper != null) {
                upper.close();
                upper = null;
            }
            if (lower != null) {
                lower.close();
                lower = null;
            }
        }
    }

    private final Level root;
    /** The open levels but the root, least recently used first. */
    private final LinkedHashMap<Level, Level> open = new LinkedHashMap<>(KEPT * 2, 0.75f, true);

    OpenDirs(Level root) {
        this.root = root;
    }

    Level root() {
        return root;
    }

    /** Takes {@code level}, just made with its directories open, into the open set. */
    void opened(Level level) {
        open.put(level, level);
        if (open.size() > KEPT) {
            Iterator<Level> eldest = open.keySet().iterator();
            Level l = eldest.next();
            eldest.remove();
            l.closeHandles();
        }
    }

    /** Closes {@code level} for good: nothing below it is left to walk. */
    void done(Level level) {
        if (level != root) {
            open.remove(level);
            level.closeHandles();
        }
    }

    /**
     * Makes {@code level}'s directories open, reopening them and those of its ancestors up
     * to the nearest open one; false when one of them is gone or is another directory now
     * (the agent moved it meanwhile: it is still at work).
     */
    boolean reach(Level level) throws IOException {
        if (level.upper != null) {
            open.get(level); // marks it recently used
            return true;
        }
        Deque<Level> down = new ArrayDeque<>();
        for (Level l = level; l.upper == null; l = l.parent) {
            down.push(l);
        }
        while (!down.isEmpty()) {
            Level l = down.pop();
            SafeOpen.Dir u = reopen(l.parent.upper, l.name, l.upperId);
            if (u == null) {
                return false;
            }
            SafeOpen.Dir lo = null;
            if (l.lowerId != null) {
                lo = l.parent.lower == null ? null : reopen(l.parent.lower, l.name, l.lowerId);
                if (lo == null) {
                    u.close();
                    return false;
                }
            }
            l.upper = u;
            l.lower = lo;
            l.path = l.parent.path().isEmpty() ? l.name : l.parent.path() + "/" + l.name;
            opened(l);
        }
        return true;
    }

    private static SafeOpen.Dir reopen(SafeOpen.Dir parent, String name, SafeOpen.Stat id) throws IOException {
        SafeOpen.Dir d;
        try {
            d = parent.dir(name);
        } catch (SafeOpen.NotRegular e) {
            return null;
        }
        if (!d.stat().sameFile(id)) {
            d.close();
            return null;
        }
        return d;
    }

    @Override
    public void close() {
        open.keySet().forEach(Level::closeHandles);
        open.clear();
        root.closeHandles();
    }
}
