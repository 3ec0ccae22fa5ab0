package dev.sandbox.snapshot;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveTask;

/**
 * A parallel walk of a working tree that never follows symlinks, skips excluded subtrees
 * (the state directory), and hands each entry's POSIX attributes to a visitor while it
 * fingerprints them, so a copy and a later "has anything changed?" check see exactly the
 * same entries.
 *
 * <p>Each directory is a task; its files are visited in batches that run in parallel with
 * its subdirectories, on a pool sized for I/O rather than for the cores (a copy mostly waits
 * on the disk). A directory is entered before any of its entries and left after all of them,
 * so a visitor can create it first and set its mode and times last. Entries that vanish while
 * the walk runs are left out, as if they had gone before it started: the caller compares the
 * walk's fingerprint with a second walk's to tell whether the tree held still.
 */
final class TreeWalk {
    /** Entries visited by one task; batches keep a 10,000-file directory from being one thread's work. */
    private static final int BATCH = 64;

    /** What to do with each entry; called from several threads at once. */
    interface Visitor {
        void enterDirectory(Path dir, String relative, PosixFileAttributes attrs) throws IOException;

        void file(Path file, String relative, PosixFileAttributes attrs) throws IOException;

        void leaveDirectory(Path dir, String relative, PosixFileAttributes attrs) throws IOException;
    }

    /** A visitor that only looks, for a fingerprint of the tree as it is now. */
    static final Visitor LOOK = new Visitor() {
        @Override
        public void enterDirectory(Path dir, String relative, PosixFileAttributes attrs) {
        }

        @Override
        public void file(Path file, String relative, PosixFileAttributes attrs) {
        }

        @Override
        public void leaveDirectory(Path dir, String relative, PosixFileAttributes attrs) {
        }
    };

    private TreeWalk() {
    }

    /** Threads of a walk: 4 per core, at least 4, at most 32 (system property {@code sandbox.walkThreads}). */
    static int threads() {
        int cores = Runtime.getRuntime().availableProcessors();
        return Integer.getInteger("sandbox.walkThreads", Math.max(4, Math.min(32, 4 * cores)));
    }

    /**
     * Walks {@code root} and returns the fingerprint of what was visited.
     *
     * @throws FileSystemException naming {@code root}, when its directories nest deeper than
     *     a thread's stack can follow (each level waits for the one below: about a thousand
     *     levels with a 1 MiB stack), rather than the {@link StackOverflowError} that ends
     *     the JVM
     * @throws IOException the first I/O error a task met
     */
    static String walk(Path root, Set<Path> exclude, Visitor visitor) throws IOException {
        PosixFileAttributes attrs = posix(root);
        ForkJoinPool pool = new ForkJoinPool(threads());
        try {
            return pool.invoke(new DirTask(exclude, visitor, root, "", attrs)).value();
        } catch (RuntimeException e) {
            throw unwrap(e);
        } catch (StackOverflowError e) {
            throw new FileSystemException(root.toString(), null, "its directories nest too deep to walk (about a thousand levels)");
        } finally {
            // After a failure, tasks already running go on writing for a moment: the caller
            // removes what was written only once they have all stopped.
            pool.shutdownNow();
            awaitQuietly(pool);
        }
    }

    private static void awaitQuietly(ForkJoinPool pool) {
        try {
            if (!pool.awaitTermination(60, java.util.concurrent.TimeUnit.SECONDS)) {
                throw new IllegalStateException("the tree walk's tasks did not stop within 60 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static PosixFileAttributes posix(Path p) throws IOException {
        return Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    }

    /** An I/O error inside a task, as the walk's caller gets it. */
    private static IOException unwrap(RuntimeException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof IOException io) {
                return io;
            }
        }
        throw e;
    }

    /** Visits one directory: itself, then its entries in batches, in parallel, then leaves it. */
    private static final class DirTask extends RecursiveTask<Fingerprint> {
        private final Set<Path> exclude;
        private final Visitor visitor;
        private final Path dir;
        /** The path relative to the walk's root, "" for the root: built by appending, as relativize costs. */
        private final String rel;
        private final PosixFileAttributes attrs;

        DirTask(Set<Path> exclude, Visitor visitor, Path dir, String rel, PosixFileAttributes attrs) {
            this.exclude = exclude;
            this.visitor = visitor;
            this.dir = dir;
            this.rel = rel;
            this.attrs = attrs;
        }

        private String child(Path entry) {
            String name = entry.getFileName().toString();
            return rel.isEmpty() ? name : rel + "/" + name;
        }

        @Override
        protected Fingerprint compute() {
            Fingerprint fingerprint = new Fingerprint();
            try {
                fingerprint.add(rel, attrs);
                visitor.enterDirectory(dir, rel, attrs);
                List<ForkJoinTask<Fingerprint>> batches = new ArrayList<>();
                List<Path> batch = new ArrayList<>();
                try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
                    for (Path entry : entries) {
                        if (exclude.contains(entry)) {
                            continue;
                        }
                        batch.add(entry);
                        if (batch.size() == BATCH) {
                            batches.add(new Batch(this, batch).fork());
                            batch = new ArrayList<>();
                        }
                    }
                } catch (NoSuchFileException gone) {
                    // removed while we looked: the second walk will not see it either
                }
                fingerprint.merge(visit(batch));
                for (ForkJoinTask<Fingerprint> b : batches) {
                    fingerprint.merge(b.join());
                }
                visitor.leaveDirectory(dir, rel, attrs);
                return fingerprint;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Visits files at once and forks subdirectories, waiting for them before returning. */
        Fingerprint visit(List<Path> entries) throws IOException {
            Fingerprint fingerprint = new Fingerprint();
            List<ForkJoinTask<Fingerprint>> subdirs = new ArrayList<>();
            for (Path entry : entries) {
                PosixFileAttributes a;
                try {
                    a = posix(entry);
                } catch (NoSuchFileException gone) {
                    continue;
                }
                String relative = child(entry);
                if (a.isDirectory()) {
                    subdirs.add(new DirTask(exclude, visitor, entry, relative, a).fork());
                    continue;
                }
                fingerprint.add(relative, a);
                visitor.file(entry, relative, a);
            }
            for (ForkJoinTask<Fingerprint> d : subdirs) {
                fingerprint.merge(d.join());
            }
            return fingerprint;
        }
    }

    /** Up to {@link #BATCH} entries of one directory. */
    private static final class Batch extends RecursiveTask<Fingerprint> {
        private final DirTask owner;
        private final List<Path> entries;

        Batch(DirTask owner, List<Path> entries) {
            this.owner = owner;
            this.entries = entries;
        }

        @Override
        protected Fingerprint compute() {
            try {
                return owner.visit(entries);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
